/* httpblob: a small, fast HTTP/1.1 server for benchmarks (libevent evhttp,
 * keep-alive).
 *
 *   GET /                 a small HTML page (request-rate and latency runs)
 *   GET /blob?size=N      N bytes of pseudo-random data (bulk throughput);
 *                         N may carry a k/M/G suffix (powers of 1000) or
 *                         Ki/Mi/Gi (powers of 1024), up to --max
 *
 * The blob is one anonymous mapping of --max bytes, filled with xoshiro256**
 * output the first time a request reaches that far and never written again,
 * so every response is evbuffer_add_reference chunks of it: no copy, no
 * generation on the hot path.  Accepted sockets get TCP_NODELAY (inherited
 * from the listening socket) and a large single-write limit, so the server
 * is never what a benchmark measures.
 *
 * usage: httpblob [--listen HOST:PORT] [--max BYTES] [--quiet]
 * Prints "httpblob listening on HOST:PORT" once it accepts connections
 * (PORT 0 picks a free port).  SIGINT/SIGTERM stop it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#define CHUNK (1u << 20) /* one evbuffer reference per MiB */

static uint8_t *blob;          /* mapping of blob_max bytes */
static size_t blob_max;
static size_t blob_filled;     /* bytes [0, blob_filled) are generated */
static uint64_t rng[4] = {0x9e3779b97f4a7c15u, 0xbf58476d1ce4e5b9u,
			  0x94d049bb133111ebu, 0x2545f4914f6cdd1du};
static int quiet;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next64(void)
{
	uint64_t r = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
	rng[2] ^= rng[0];
	rng[3] ^= rng[1];
	rng[1] ^= rng[2];
	rng[0] ^= rng[3];
	rng[2] ^= t;
	rng[3] = rotl(rng[3], 45);
	return r;
}

/* Generates the blob up to at least `want` bytes (rounded up to 8). */
static void fill_to(size_t want)
{
	if (want <= blob_filled)
		return;
	size_t end = (want + 7) & ~(size_t)7;
	if (end > blob_max)
		end = blob_max & ~(size_t)7;
	for (size_t off = blob_filled; off + 8 <= end; off += 8) {
		uint64_t v = next64();
		memcpy(blob + off, &v, 8);
	}
	blob_filled = end;
	/* A tail shorter than 8 bytes at the very end of the mapping stays
	 * zero: harmless for a benchmark. */
	if (blob_max - blob_filled < 8)
		blob_filled = blob_max;
}

/* "1000", "512M", "1G", "64Mi", "1GiB": bytes, or -1. */
static long long parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	unsigned long long mul = 1;
	int binary = end[0] && (end[1] == 'i' || end[1] == 'I');
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = binary ? 1ull << 10 : 1000ull; break;
	case 'm': case 'M': mul = binary ? 1ull << 20 : 1000000ull; break;
	case 'g': case 'G': mul = binary ? 1ull << 30 : 1000000000ull; break;
	default: return -1;
	}
	if (*end) {
		end += binary ? 2 : 1;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (v > (unsigned long long)LLONG_MAX / mul)
		return -1;
	return (long long)(v * mul);
}

static void tune_connection(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
	if (bev)
		bufferevent_set_max_single_write(bev, 4u << 20);
}

static void on_root(struct evhttp_request *req, void *arg)
{
	static const char page[] =
		"<!doctype html>\n<html><head><title>httpblob</title></head>\n"
		"<body><p>httpblob: GET /blob?size=N for N bytes.</p></body></html>\n";
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evbuffer_add_reference(out, page, sizeof page - 1, NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/html");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_blob(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params = {0};
	long long size = -1;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (query && evhttp_parse_query_str(query, &params) == 0) {
		const char *v = evhttp_find_header(&params, "size");
		if (v)
			size = parse_size(v);
	}
	evhttp_clear_headers(&params);
	if (size < 0) {
		evhttp_send_error(req, 400, "size=N required");
		return;
	}
	if ((unsigned long long)size > blob_max) {
		evhttp_send_error(req, 413, "size above --max");
		return;
	}
	fill_to((size_t)size);
	tune_connection(req);

	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	for (size_t off = 0; off < (size_t)size; off += CHUNK) {
		size_t n = (size_t)size - off < CHUNK ? (size_t)size - off : CHUNK;
		if (evbuffer_add_reference(out, blob + off, n, NULL, NULL) != 0) {
			evhttp_send_error(req, 500, "out of memory");
			return;
		}
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/octet-stream");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "Not Found");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: httpblob [--listen HOST:PORT] [--max BYTES] [--quiet]\n");
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:8080";
	long long max = 1ll << 30;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen = argv[++i];
		} else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) {
			max = parse_size(argv[++i]);
			if (max <= 0) {
				fprintf(stderr, "httpblob: bad --max %s\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--quiet") == 0) {
			quiet = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}

	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof host) {
		fprintf(stderr, "httpblob: --listen wants HOST:PORT\n");
		return 2;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535) {
		fprintf(stderr, "httpblob: bad port in %s\n", listen);
		return 2;
	}

	blob_max = (size_t)max;
	blob = mmap(NULL, blob_max, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (blob == MAP_FAILED) {
		fprintf(stderr, "httpblob: mmap %zu bytes: %s\n", blob_max, strerror(errno));
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	struct event_base *base = event_base_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	if (!http) {
		fprintf(stderr, "httpblob: libevent initialisation failed\n");
		return 1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(http, 120);
	evhttp_set_cb(http, "/", on_root, NULL);
	evhttp_set_cb(http, "/blob", on_blob, NULL);
	evhttp_set_gencb(http, on_other, NULL);

	struct evhttp_bound_socket *bound =
		evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
	if (!bound) {
		fprintf(stderr, "httpblob: cannot listen on %s: %s\n", listen,
			strerror(errno));
		return 1;
	}
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
	int one = 1;
	/* Linux: accepted sockets inherit TCP_NODELAY from the listener. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned actual = (unsigned)port;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
			actual = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
			actual = ntohs(s6->sin6_port);
		}
	}

	struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) || evsignal_add(sigterm, NULL)) {
		fprintf(stderr, "httpblob: signal setup failed\n");
		return 1;
	}
	if (!quiet)
		printf("httpblob listening on %s:%u (max %zu bytes)\n", addr, actual,
		       blob_max);
	fflush(stdout);

	event_base_dispatch(base);

	event_free(sigint);
	event_free(sigterm);
	evhttp_free(http);
	event_base_free(base);
	munmap(blob, blob_max);
	return 0;
}
