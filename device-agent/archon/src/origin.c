/*
 * Origin access (origin.h): HTTP/1.1 GETs of our own over a libevent
 * bufferevent for http(s) origins, TLS from cr_tls's client
 * (cr/tlsclient.h: OpenSSL on hosts, mbedTLS on devices) for https://;
 * the file system for file:// and plain paths.  libevent's own HTTP client
 * takes only OpenSSL bufferevents (it connects its bufferevent itself), so
 * the requests are made here: one GET at a time, a status line, headers
 * (bounded), and a body bounded by what the caller expects, sized by
 * Content-Length, chunked, or ending with the connection.
 *
 * One connection is kept and reused (keep-alive).  A request that fails
 * on a reused connection (the server closed it while idle) is retried
 * once on a fresh one.  Redirects are followed, at most 5.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef AR_WITH_HTTP
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netdb.h>
#include <sys/socket.h>
#endif
/* https:// (cr_tls's client); without it (device builds with
 * -DCR_DEVICE_TLS=OFF) plain http:// origins still work: what is pulled
 * is checked against the signed manifest either way. */
#ifdef AR_WITH_HTTPS
#include "cr/tlsclient.h"
#endif

#include "cr/util.h"
#include "origin.h"

enum {
	ORIGIN_REDIRECTS = 5,
	ORIGIN_TIMEOUT_S = 60, /* a stalled connection fails after this */
	/* A request not complete after this fails, however steadily bytes
	 * trickle in (slow retrieval: the idle timeout above never fires on
	 * one byte a minute).  $ARCHON_FETCH_DEADLINE (seconds) changes it. */
	ORIGIN_DEADLINE_S = 120,
	ORIGIN_HOST_MAX = 256,
	ORIGIN_HEADERS_MAX = 64 * 1024,
};

#ifdef AR_WITH_HTTP
/* Where a request goes: scheme, host and port name a connection. */
struct target {
	int https;
	char host[ORIGIN_HOST_MAX]; /* without brackets for IPv6 */
	int port;
	char path[PATH_MAX + 64];   /* with the query, if any */
};

/* Why a request got no response. */
enum reply_fail {
	FAIL_NONE,
	FAIL_CLOSED,  /* connection refused, reset or closed */
	FAIL_TIMEOUT, /* nothing for ORIGIN_TIMEOUT_S */
	FAIL_LONG,    /* a body beyond the caller's bound */
	FAIL_PROTO,   /* not HTTP/1.x, or headers beyond ORIGIN_HEADERS_MAX */
};

enum reply_state { R_STATUS, R_HEADERS, R_BODY, R_CHUNK, R_CHUNK_DATA,
		   R_CHUNK_END, R_TRAILER };

/* One request's outcome, filled in by the callbacks. */
struct reply {
	int done;
	enum reply_fail fail;
	int status;		 /* 0: no response */
	enum reply_state state;
	size_t head_bytes;	 /* status line and headers so far */
	int64_t length;		 /* Content-Length, -1: none */
	int chunked;
	int keep;		 /* the connection may serve another request */
	uint64_t chunk_left;
	struct evbuffer *body;
	int nomem;
	char location[PATH_MAX + 64];
	struct event_base *evb;
	size_t max; /* the body's bound */
	int late; /* the request's deadline passed */
};
#endif
struct ar_origin {
	char *base; /* without a trailing '/' */
	int is_file; /* base is a local folder */
	uint64_t bytes, requests;
	int last_status; /* of the last request; 0: no answer */
	int deadline_s;	 /* per request, ORIGIN_DEADLINE_S */
#ifdef AR_WITH_HTTP
	struct event_base *evb;
#ifdef AR_WITH_HTTPS
	struct cr_tlsc *tls;	   /* made on the first https request */
#endif
	struct bufferevent *conn;  /* to conn_to, or NULL */
	struct target conn_to;
	int conn_used;	/* a request completed on it: it may go stale */
	int conn_closed; /* the server closed it, or it cannot serve again */
	struct reply *cur; /* the request under way, or NULL */
#endif
};

int ar_origin_open(const char *url, struct ar_origin **out,
		   struct cr_error **err)
{
	struct ar_origin *o = calloc(1, sizeof(*o));
	size_t n;

	if (o == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (strncmp(url, "file://", 7) == 0) {
		o->is_file = 1;
		url += 7;
	} else if (strncmp(url, "http://", 7) != 0 &&
		   strncmp(url, "https://", 8) != 0) {
		o->is_file = 1;
	}
	o->deadline_s = ORIGIN_DEADLINE_S;
	if (getenv("ARCHON_FETCH_DEADLINE") != NULL) {
		long d = strtol(getenv("ARCHON_FETCH_DEADLINE"), NULL, 10);

		if (d > 0 && d < 86400)
			o->deadline_s = (int)d;
	}
	o->base = strdup(url);
	if (o->base == NULL) {
		free(o);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	n = strlen(o->base);
	while (n > 1 && o->base[n - 1] == '/')
		o->base[--n] = '\0';
	if (!o->is_file) {
#ifdef AR_WITH_HTTP
		o->evb = event_base_new();
		if (o->evb == NULL) {
			ar_origin_free(o);
			return cr_error_set(err, ENOMEM, "cannot start the HTTP client");
		}
#else
		ar_origin_free(o);
		return cr_error_set(err, ENOTSUP,
				    "%s: this build has no HTTP client; use a file:// origin",
				    url);
#endif
	}
	*out = o;
	return 0;
}

#ifdef AR_WITH_HTTP
static void origin_drop_conn(struct ar_origin *o)
{
	if (o->conn != NULL)
		bufferevent_free(o->conn);
	o->conn = NULL;
	o->conn_used = o->conn_closed = 0;
}
#endif

struct ar_origin *ar_origin_free(struct ar_origin *o)
{
	if (o == NULL)
		return NULL;
#ifdef AR_WITH_HTTP
	origin_drop_conn(o);
#ifdef AR_WITH_HTTPS
	cr_tlsc_free(o->tls);
#endif
	if (o->evb != NULL)
		event_base_free(o->evb);
#endif
	free(o->base);
	free(o);
	return NULL;
}

long ar_origin_last_status(const struct ar_origin *o)
{
	return o->last_status;
}

uint64_t ar_origin_bytes(const struct ar_origin *o)
{
	return o->bytes;
}

uint64_t ar_origin_requests(const struct ar_origin *o)
{
	return o->requests;
}

#ifdef AR_WITH_HTTP
/* Parses an absolute http(s) URL into t. */
static int target_parse(const char *url, struct target *t, struct cr_error **err)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme, *host, *path, *query;
	int n;

	if (u == NULL)
		return cr_error_set(err, EINVAL, "%s: not a URL", url);
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	path = evhttp_uri_get_path(u);
	query = evhttp_uri_get_query(u);
	memset(t, 0, sizeof(*t));
	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		evhttp_uri_free(u);
		return cr_error_set(err, EINVAL, "%s: want an http:// or https:// URL", url);
	}
	t->https = strcmp(scheme, "https") == 0;
	if (host[0] == '[') /* [V6] */
		host++;
	n = snprintf(t->host, sizeof(t->host), "%s", host);
	if (n > 0 && t->host[n - 1] == ']')
		t->host[n - 1] = '\0';
	t->port = evhttp_uri_get_port(u);
	if (t->port < 0)
		t->port = t->https ? 443 : 80;
	n = snprintf(t->path, sizeof(t->path), "%s%s%s",
		     path != NULL && path[0] != '\0' ? path : "/",
		     query != NULL ? "?" : "", query != NULL ? query : "");
	evhttp_uri_free(u);
	if (n < 0 || (size_t)n >= sizeof(t->path))
		return cr_error_set(err, ENAMETOOLONG, "%s: URL too long", url);
	return 0;
}

static int target_same_conn(const struct target *a, const struct target *b)
{
	return a->https == b->https && a->port == b->port &&
	       strcmp(a->host, b->host) == 0;
}

#ifdef AR_WITH_HTTPS
/* The TLS settings every https connection shares: certificates checked
 * against $CURL_CA_BUNDLE when set (curl's convention: it replaces the
 * system's CAs), else the system's ($SSL_CERT_FILE, $SSL_CERT_DIR,
 * /etc/ssl/certs). */
static int origin_tls(struct ar_origin *o, struct cr_error **err)
{
	const char *bundle = getenv("CURL_CA_BUNDLE");
	struct cr_error *e = NULL;

	if (o->tls != NULL)
		return 0;
	o->tls = cr_tlsc_new(CR_TLSC_VERIFY_CA,
			     bundle != NULL && bundle[0] != '\0' ? bundle : NULL, &e);
	if (o->tls == NULL) {
		if (bundle != NULL && bundle[0] != '\0')
			cr_error_set(err, EINVAL, "CURL_CA_BUNDLE=%s", e->msg);
		else
			cr_error_set(err, e->code, "%s", e->msg);
		cr_error_free(e);
		return -1;
	}
	return 0;
}
#endif

/* The request's end: the loop stops. */
static void reply_end(struct ar_origin *o, struct reply *r, enum reply_fail f)
{
	r->done = 1;
	r->fail = f;
	if (f != FAIL_NONE || !r->keep)
		o->conn_closed = 1;
	o->cur = NULL;
	event_base_loopbreak(r->evb);
}

/* Reads body bytes up to want (or all there are when want is 0): 0, or -1
 * past the caller's bound. */
static int reply_take(struct reply *r, struct evbuffer *in, size_t want)
{
	size_t n = evbuffer_get_length(in);

	if (want != 0 && n > want)
		n = want;
	if (evbuffer_get_length(r->body) + n > r->max)
		return -1;
	if (n > 0 && evbuffer_remove_buffer(in, r->body, n) != (int)n)
		r->nomem = 1;
	return 0;
}

/* 1 when v holds word (any case). */
static int has_word(const char *v, const char *word)
{
	size_t n = strlen(word);

	for (; *v != '\0'; v++)
		if (strncasecmp(v, word, n) == 0)
			return 1;
	return 0;
}

/* One header line (without its CRLF). */
static void reply_header(struct reply *r, const char *line)
{
	const char *v = strchr(line, ':');
	size_t k;

	if (v == NULL)
		return;
	k = (size_t)(v - line);
	v++;
	while (*v == ' ' || *v == '\t')
		v++;
	if (k == 14 && strncasecmp(line, "Content-Length", k) == 0) {
		char *end;
		long long n = strtoll(v, &end, 10);

		r->length = (end != v && n >= 0) ? n : -2;
	} else if (k == 17 && strncasecmp(line, "Transfer-Encoding", k) == 0) {
		r->chunked = has_word(v, "chunked");
	} else if (k == 10 && strncasecmp(line, "Connection", k) == 0) {
		if (has_word(v, "close"))
			r->keep = 0;
	} else if (k == 8 && strncasecmp(line, "Location", k) == 0) {
		snprintf(r->location, sizeof(r->location), "%s", v);
	}
}

/* A line of the head; NULL when it has not all come yet (or is too long:
 * the request failed). */
static char *reply_line(struct ar_origin *o, struct reply *r, struct evbuffer *in)
{
	size_t n = 0;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);

	if (line == NULL) {
		if (r->head_bytes + evbuffer_get_length(in) > ORIGIN_HEADERS_MAX)
			reply_end(o, r, FAIL_PROTO);
		return NULL;
	}
	r->head_bytes += n + 2;
	if (r->head_bytes > ORIGIN_HEADERS_MAX) {
		free(line);
		reply_end(o, r, FAIL_PROTO);
		return NULL;
	}
	return line;
}

/* The end of the head: how the body comes, if it is wanted at all. */
static void reply_head_done(struct ar_origin *o, struct reply *r)
{
	/* A bad length, or both a length and chunks (a request smuggler's
	 * answer: which one ends the body?). */
	if (r->length == -2 || (r->chunked && r->length >= 0)) {
		reply_end(o, r, FAIL_PROTO);
		return;
	}
	/* Only a 200's body is wanted; any other answer ends here, and its
	 * connection with it. */
	if (r->status != 200) {
		r->keep = 0;
		reply_end(o, r, FAIL_NONE);
		return;
	}
	if (r->chunked) {
		r->state = R_CHUNK;
		r->head_bytes = 0; /* the bound is per chunk line from here */
	} else if (r->length >= 0) {
		if ((uint64_t)r->length > r->max) {
			reply_end(o, r, FAIL_LONG);
			return;
		}
		r->state = R_BODY;
		if (r->length == 0)
			reply_end(o, r, FAIL_NONE);
	} else {
		r->keep = 0; /* the body ends with the connection */
		r->state = R_BODY;
	}
}

/* Parses what has arrived of r's answer, as far as it goes (the
 * response parser: tests/fuzz/fuzz_ar_http.c). */
static void reply_parse(struct ar_origin *o, struct reply *r, struct evbuffer *in)
{
	char *line, *end;
	int minor, code, at;

	while (!r->done) {
		switch (r->state) {
		case R_STATUS:
			if ((line = reply_line(o, r, in)) == NULL)
				return;
			at = 0;
			if (sscanf(line, "HTTP/1.%d %3d%n", &minor, &code, &at) != 2 ||
			    code < 100 || code > 999 || (line[at] != ' ' && line[at] != '\0')) {
				free(line);
				reply_end(o, r, FAIL_PROTO);
				return;
			}
			free(line);
			/* 1xx: an interim answer, the real one follows. */
			if (code >= 200) {
				r->status = code;
				r->keep = minor >= 1;
			}
			r->state = R_HEADERS;
			break;
		case R_HEADERS:
			if ((line = reply_line(o, r, in)) == NULL)
				return;
			if (line[0] != '\0') {
				if (r->status != 0)
					reply_header(r, line);
				free(line);
				break;
			}
			free(line);
			if (r->status == 0) /* after a 1xx */
				r->state = R_STATUS;
			else
				reply_head_done(o, r);
			break;
		case R_BODY:
			if (r->length >= 0) {
				size_t left = (size_t)r->length - evbuffer_get_length(r->body);

				if (reply_take(r, in, left) < 0)
					reply_end(o, r, FAIL_LONG);
				else if (evbuffer_get_length(r->body) == (size_t)r->length)
					reply_end(o, r, FAIL_NONE);
			} else if (reply_take(r, in, 0) < 0) {
				reply_end(o, r, FAIL_LONG);
			}
			return;
		case R_CHUNK:
			if ((line = reply_line(o, r, in)) == NULL)
				return;
			r->chunk_left = strtoull(line, &end, 16);
			if (end == line) {
				free(line);
				reply_end(o, r, FAIL_PROTO);
				return;
			}
			free(line);
			if (r->chunk_left > r->max) {
				reply_end(o, r, FAIL_LONG);
				return;
			}
			r->state = r->chunk_left == 0 ? R_TRAILER : R_CHUNK_DATA;
			break;
		case R_CHUNK_DATA: {
			size_t had = evbuffer_get_length(r->body);

			if (reply_take(r, in, (size_t)r->chunk_left) < 0) {
				reply_end(o, r, FAIL_LONG);
				return;
			}
			r->chunk_left -= evbuffer_get_length(r->body) - had;
			if (r->chunk_left > 0)
				return;
			r->state = R_CHUNK_END;
			break;
		}
		case R_CHUNK_END:
		case R_TRAILER:
			if ((line = reply_line(o, r, in)) == NULL)
				return;
			if (r->state == R_CHUNK_END) {
				r->state = R_CHUNK;
				r->head_bytes = 0;
			} else if (line[0] == '\0')
				reply_end(o, r, FAIL_NONE);
			free(line);
			break;
		}
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ar_origin *o = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (o->cur == NULL) { /* bytes nobody asked for: not reusable */
		evbuffer_drain(in, evbuffer_get_length(in));
		o->conn_closed = 1;
		return;
	}
	reply_parse(o, o->cur, in);
	/* Bytes past the answer: not a connection to ask again. */
	if (o->cur == NULL && evbuffer_get_length(in) > 0)
		o->conn_closed = 1;
}

/* The connection's end (or failure): a body that ends with the
 * connection ends here. */
static void reply_eof(struct ar_origin *o, struct reply *r, short what)
{
	if ((what & BEV_EVENT_EOF) && r->state == R_BODY && r->length < 0) {
		reply_end(o, r, FAIL_NONE);
		return;
	}
	reply_end(o, r, (what & BEV_EVENT_TIMEOUT) ? FAIL_TIMEOUT : FAIL_CLOSED);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ar_origin *o = arg;
	struct reply *r = o->cur;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	o->conn_closed = 1;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (r != NULL)
		reply_eof(o, r, what);
}

/* A connection to t (the current one when it still fits). */
static int origin_conn(struct ar_origin *o, const struct target *t,
		       struct cr_error **err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct timeval tv = { ORIGIN_TIMEOUT_S, 0 };
	char port[16];
	int rc;

	if (o->conn != NULL && !o->conn_closed && target_same_conn(&o->conn_to, t))
		return 0;
	origin_drop_conn(o);
	snprintf(port, sizeof(port), "%d", t->port);
	rc = getaddrinfo(t->host, port, &hints, &ai);
	if (rc != 0)
		return cr_error_set(err, EHOSTUNREACH, "%s: %s", t->host, gai_strerror(rc));
	if (t->https) {
#ifdef AR_WITH_HTTPS
		if (origin_tls(o, err) < 0) {
			freeaddrinfo(ai);
			return -1;
		}
		o->conn = cr_tlsc_bev_new(o->tls, o->evb, t->host, 0, err);
		if (o->conn == NULL) {
			freeaddrinfo(ai);
			return -1;
		}
		rc = cr_tlsc_connect(o->conn, ai->ai_addr, (int)ai->ai_addrlen);
#else
		freeaddrinfo(ai);
		return cr_error_set(err, ENOTSUP,
				    "https://%s: this build has no TLS (built with "
				    "-DCR_DEVICE_TLS=OFF); use an http:// origin",
				    t->host);
#endif
	} else {
		o->conn = bufferevent_socket_new(o->evb, -1, BEV_OPT_CLOSE_ON_FREE);
		if (o->conn == NULL) {
			freeaddrinfo(ai);
			return cr_error_set(err, ENOMEM, "cannot set up an HTTP connection");
		}
		rc = bufferevent_socket_connect(o->conn, ai->ai_addr, (int)ai->ai_addrlen);
	}
	freeaddrinfo(ai);
	o->conn_to = *t;
	if (rc < 0) {
		origin_drop_conn(o);
		return cr_error_set(err, EIO, "%s: cannot connect", t->host);
	}
	bufferevent_setcb(o->conn, on_read, NULL, on_event, o);
	bufferevent_set_timeouts(o->conn, &tv, &tv);
	bufferevent_enable(o->conn, EV_READ | EV_WRITE);
	return 0;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct reply *r = arg;

	(void)fd;
	(void)what;
	r->late = 1;
	event_base_loopbreak(r->evb);
}

/* Why a request got no response, in words. */
static void origin_transport_error(struct ar_origin *o, const char *url,
				   const struct reply *r, struct cr_error **err)
{
#ifdef AR_WITH_HTTPS
	if (o->conn_to.https && o->conn != NULL && r->fail == FAIL_CLOSED) {
		char why[256];
		int v = cr_tlsc_error(o->tls, o->conn, why, sizeof(why));

		if (v == 1) {
			cr_error_set(err, EPROTO,
				     "%s: TLS: the server's certificate is not trusted: %s "
				     "(a private CA: point CURL_CA_BUNDLE at its certificate)",
				     url, why);
			return;
		}
		if (v == 0) {
			cr_error_set(err, EPROTO, "%s: TLS: %s", url, why);
			return;
		}
	}
#endif
	if (r->fail == FAIL_LONG) {
		cr_error_set(err, EFBIG,
			     "endless data: %s: more than the %zu bytes "
			     "expected; stopped there",
			     url, r->max);
		return;
	}
	if (r->fail == FAIL_TIMEOUT) {
		cr_error_set(err, ETIMEDOUT,
			     "slow retrieval: %s: nothing for %d s", url,
			     ORIGIN_TIMEOUT_S);
		return;
	}
	if (r->fail == FAIL_PROTO) {
		cr_error_set(err, EPROTO,
			     "%s: not an HTTP/1.x answer (or headers over %d bytes)",
			     url, ORIGIN_HEADERS_MAX);
		return;
	}
	cr_error_set(err, EIO, "%s: connection failed or closed before a response", url);
}

/* GET t->path with a body of at most max bytes.  Returns 0 with r filled
 * in (any HTTP status; r->body freed by reply_clear), or -1 when no
 * response came. */
static int origin_request(struct ar_origin *o, const struct target *t,
			  const char *url, size_t max, struct reply *r,
			  struct cr_error **err)
{
	char host[ORIGIN_HOST_MAX + 16];
	int v6 = strchr(t->host, ':') != NULL;
	int dflt = t->port == (t->https ? 443 : 80);
	struct timeval tv = { 0, 0 };
	struct event *dl;

	memset(r, 0, sizeof(*r));
	r->evb = o->evb;
	r->max = max;
	r->length = -1;
	r->body = evbuffer_new();
	if (r->body == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (origin_conn(o, t, err) < 0)
		return -1;
	if (dflt)
		snprintf(host, sizeof(host), v6 ? "[%s]" : "%s", t->host);
	else
		snprintf(host, sizeof(host), v6 ? "[%s]:%d" : "%s:%d", t->host, t->port);
	if (evbuffer_add_printf(bufferevent_get_output(o->conn),
				"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: archon\r\n"
				"Accept: */*\r\n\r\n",
				t->path, host) < 0) {
		origin_drop_conn(o);
		return cr_error_set(err, EIO, "%s: cannot send the request", url);
	}
	o->cur = r;
	tv.tv_sec = o->deadline_s;
	dl = evtimer_new(o->evb, on_deadline, r);
	if (dl == NULL || evtimer_add(dl, &tv) < 0) {
		if (dl != NULL)
			event_free(dl);
		o->cur = NULL;
		origin_drop_conn(o);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	while (!r->done && !r->late)
		if (event_base_dispatch(o->evb) != 0)
			break;
	event_free(dl);
	o->cur = NULL;
	if (!r->done) {
		origin_drop_conn(o);
		if (r->late)
			return cr_error_set(err, ETIMEDOUT,
					    "slow retrieval: %s: not complete after "
					    "%d s; stopped there",
					    url, o->deadline_s);
		return cr_error_set(err, EIO, "%s: the event loop failed", url);
	}
	if (r->nomem) {
		origin_drop_conn(o);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	if (r->fail != FAIL_NONE) {
		origin_transport_error(o, url, r, err);
		origin_drop_conn(o);
		return -1;
	}
	o->conn_used = 1;
	return 0;
}

static void reply_clear(struct reply *r)
{
	if (r->body != NULL)
		evbuffer_free(r->body);
	r->body = NULL;
}

static int origin_http_get(struct ar_origin *o, const char *url, size_t max,
			   uint8_t **out, size_t *len, struct cr_error **err)
{
	struct target t;
	struct reply r;
	char where[PATH_MAX + 64];

	if (target_parse(url, &t, err) < 0)
		return -EINVAL;
	snprintf(where, sizeof(where), "%s", url);
	for (int hop = 0; hop <= ORIGIN_REDIRECTS; hop++) {
		int reused = o->conn != NULL && o->conn_used && !o->conn_closed &&
			     target_same_conn(&o->conn_to, &t);

		if (origin_request(o, &t, where, max, &r, err) < 0) {
			reply_clear(&r);
			/* A kept-alive connection the server had dropped:
			 * once more on a fresh one. */
			if (!reused || (err != NULL && *err != NULL &&
					((*err)->code == EPROTO || (*err)->code == EFBIG ||
					 (*err)->code == ETIMEDOUT)))
				return -EIO;
			if (err != NULL) {
				cr_error_free(*err);
				*err = NULL;
			}
			if (origin_request(o, &t, where, max, &r, err) < 0) {
				reply_clear(&r);
				return -EIO;
			}
		}
		o->last_status = r.status;
		if (r.status == 200) {
			size_t n = evbuffer_get_length(r.body);

			*out = malloc(n ? n : 1);
			if (*out == NULL) {
				reply_clear(&r);
				return cr_error_set(err, ENOMEM, "out of memory");
			}
			evbuffer_remove(r.body, *out, n);
			*len = n;
			o->bytes += n;
			reply_clear(&r);
			return 0;
		}
		reply_clear(&r);
		if (r.status == 404) {
			cr_error_set(err, ENOENT, "%s: not found (404)", where);
			return -ENOENT;
		}
		if ((r.status == 301 || r.status == 302 || r.status == 303 ||
		     r.status == 307 || r.status == 308) && r.location[0] != '\0') {
			struct target next;

			if (r.location[0] == '/') { /* same server */
				next = t;
				snprintf(next.path, sizeof(next.path), "%s", r.location);
			} else if (target_parse(r.location, &next, err) < 0) {
				return -EIO;
			}
			/* Never from https down to http. */
			if (t.https && !next.https) {
				cr_error_set(err, EPERM, "%s: redirected to plain http (%s)",
					     where, r.location);
				return -EIO;
			}
			snprintf(where, sizeof(where), "%s", r.location);
			t = next;
			continue;
		}
		cr_error_set(err, EIO, "%s: HTTP %d", where, r.status);
		return -EIO;
	}
	cr_error_set(err, ELOOP, "%s: more than %d redirects", url, ORIGIN_REDIRECTS);
	return -EIO;
}
#endif

int ar_origin_get(struct ar_origin *o, const char *rel, size_t max,
		  uint8_t **out, size_t *len, struct cr_error **err)
{
	char url[PATH_MAX + 64];
	int n = snprintf(url, sizeof(url), "%s/%s", o->base, rel);

	if (n < 0 || (size_t)n >= sizeof(url))
		return cr_error_set(err, ENAMETOOLONG, "URL too long");
	o->requests++;
	o->last_status = 0;
	if (o->is_file) {
		char *buf;
		int rc = cr_read_file(url, max, &buf, len, err);

		if (rc < 0)
			return (err != NULL && *err != NULL && (*err)->code == ENOENT) ? -ENOENT : -EIO;
		*out = (uint8_t *)buf;
		o->bytes += *len;
		o->last_status = 200;
		return 0;
	}
#ifdef AR_WITH_HTTP
	return origin_http_get(o, url, max, out, len, err);
#else
	return cr_error_set(err, ENOTSUP, "no HTTP client in this build");
#endif
}
