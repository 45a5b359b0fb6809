/*
 * archon serve: the store's chunks and indexes over HTTP for peers, in
 * the origin's layout (chunks/ab/<id> zstd-compressed, indexes/<id>), on
 * a local address that peers reach through `carrier connect DEVICE PORT`.
 * With a ring and the device key, it announces every index it holds as a
 * signed provider record (ar/provider.h) to the index's shard nodes, again
 * as soon as the versions held change (the device agent pulls beside it),
 * and before the records expire.  Runs until SIGTERM or SIGINT.
 *
 * It holds the store's shared lock only while it answers a request, so a
 * writer (a pull, a gc) runs beside it; a request that comes while a writer
 * has the store is answered 503 and the peer asks its next source.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ar/chunk.h"
#include "ar/provider.h"
#include "cr/addr.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "store-internal.h"

enum {
	SERVE_TTL_S = 3600,	  /* provider records live this long */
	SERVE_REANNOUNCE_S = 1200, /* and are renewed this often */
	SERVE_ANNOUNCE_NODES = 2,  /* shard nodes told per index */
	/* The versions held are compared with those announced this often: a
	 * pull beside the server is announced within it. */
	SERVE_CHECK_S = 2,
};

struct serve {
	struct ar_store *st;
	struct event_base *base;
	struct cr_ring *ring;	/* NULL: no announcements */
	struct cr_keypair kp;
	uint16_t port;
	uint8_t *buf;		/* one plain chunk */
	uint64_t served, requests, announced;
	uint64_t busy; /* requests answered 503: a writer had the store */
	/* BLAKE2b-256 of the index ids last announced, in name order. */
	uint8_t held[crypto_generichash_BYTES];
	FILE *out;
};

static void reply(struct evhttp_request *req, const void *p, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL || evbuffer_add(b, p, len) < 0) {
		evbuffer_free(b);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* An index we hold, checked against its id (a peer checks it too). */
static int read_index(struct serve *s, const struct ar_id *id, uint8_t **out,
		      size_t *len)
{
	char hex[AR_ID_HEX], path[PATH_MAX];
	char *buf;
	struct ar_id got;

	snprintf(path, sizeof(path), "%s/indexes/%s", s->st->dir, ar_id_hex(id, hex));
	if (cr_read_file(path, AR_INDEX_MAX_BYTES, &buf, len, NULL) < 0)
		return -1;
	ar_id_of(buf, *len, &got);
	if (!ar_id_equal(&got, id)) {
		free(buf);
		return -1;
	}
	*out = (uint8_t *)buf;
	return 0;
}

/* A refusal that keeps the connection (evhttp_send_error closes it, and
 * the peer would have to connect again through its tunnel). */
static void not_here(struct evhttp_request *req, const char *why)
{
	struct evbuffer *b = evbuffer_new();

	if (b != NULL)
		evbuffer_add_printf(b, "%s\n", why);
	evhttp_send_reply(req, 404, "Not Found", b);
	if (b != NULL)
		evbuffer_free(b);
}

static void answer(struct serve *s, struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t n = strlen(uri);
	struct ar_id id;
	char hex[AR_ID_HEX];

	if (n == 8 + 3 + AR_ID_HEX - 1 && strncmp(uri, "/chunks/", 8) == 0 &&
	    uri[10] == '/') {
		size_t cap;
		long z;
		long len;
		uint8_t *zb;

		memcpy(hex, uri + 11, AR_ID_HEX);
		if (ar_id_parse(hex, &id) < 0 || memcmp(uri + 8, hex, 2) != 0)
			goto bad;
		len = ar_store_read_chunk(s->st, &id, s->buf, AR_CHUNK_MAX_LIMIT);
		if (len < 0) {
			not_here(req, "no such chunk here");
			return;
		}
		cap = ar_chunk_wire_bound((size_t)len);
		zb = malloc(cap);
		if (zb == NULL) {
			evhttp_send_error(req, 500, "out of memory");
			return;
		}
		z = ar_chunk_pack(zb, cap, s->buf, (size_t)len, 3);
		if (z < 0) {
			free(zb);
			evhttp_send_error(req, 500, "compression failed");
			return;
		}
		s->served += (size_t)z;
		reply(req, zb, (size_t)z);
		free(zb);
		return;
	}
	if (n == 9 + AR_ID_HEX - 1 && strncmp(uri, "/indexes/", 9) == 0) {
		uint8_t *ib;
		size_t ilen;

		memcpy(hex, uri + 9, AR_ID_HEX);
		if (ar_id_parse(hex, &id) < 0)
			goto bad;
		if (read_index(s, &id, &ib, &ilen) < 0) {
			not_here(req, "no such index here");
			return;
		}
		s->served += ilen;
		reply(req, ib, ilen);
		free(ib);
		return;
	}
bad:
	not_here(req, "serves chunks/ab/ID and indexes/ID");
}

/* Each request under the shared lock, taken without waiting: a writer
 * that has the store gets a 503 answered for it (keeping the connection,
 * as not_here does), never a wait on the event loop. */
static void on_get(struct evhttp_request *req, void *arg)
{
	struct serve *s = arg;

	s->requests++;
	if (ar_store_lock_shared(s->st) < 0) {
		struct evbuffer *b = evbuffer_new();

		s->busy++;
		if (b != NULL)
			evbuffer_add_printf(b, "the store is being written; ask elsewhere\n");
		evhttp_send_reply(req, 503, "Service Unavailable", b);
		if (b != NULL)
			evbuffer_free(b);
		return;
	}
	answer(s, req);
	ar_store_unlock(s->st);
}

/* ---- Announcements ---------------------------------------------------- */

static void on_posted(struct evhttp_request *req, void *arg)
{
	struct serve *s = arg;

	if (req != NULL && evhttp_request_get_response_code(req) == 200)
		s->announced++;
}

static void post_record(struct serve *s, const struct cr_ring_node *node,
			const char *path, const char *line, size_t len)
{
	struct cr_addr a;
	char host[CR_ADDR_STRMAX];
	const char *colon = strrchr(node->addr, ':');
	struct evhttp_connection *conn;
	struct evhttp_request *req;

	if (colon == NULL || cr_addr_parse(node->addr, &a, NULL) < 0)
		return;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - node->addr), node->addr);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	conn = evhttp_connection_base_new(s->base, NULL, host,
					  (unsigned short)atoi(colon + 1));
	if (conn == NULL)
		return;
	evhttp_connection_set_timeout(conn, 10);
	req = evhttp_request_new(on_posted, s);
	if (req == NULL) {
		evhttp_connection_free(conn);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", node->addr);
	evbuffer_add(evhttp_request_get_output_buffer(req), line, len);
	/* The connection goes when the base does (or the server closes). */
	evhttp_connection_free_on_completion(conn);
	evhttp_make_request(conn, req, EVHTTP_REQ_POST, path);
}

static int announce_one(void *arg, const char *name, const struct ar_manifest *m)
{
	struct serve *s = arg;
	struct ar_provider p = { .index = m->index, .port = s->port,
				 .expires = cr_now_unix() + SERVE_TTL_S };
	char line[AR_PROVIDER_LINE_MAX], path[64 + AR_ID_HEX], hex[AR_ID_HEX];
	size_t rank[SERVE_ANNOUNCE_NODES], n;
	int len;

	(void)name;
	memcpy(p.pk, s->kp.pk, CR_PKLEN);
	len = ar_provider_sign(&p, &s->kp, line);
	if (len < 0)
		return 0;
	snprintf(path, sizeof(path), "/archon/v1/providers/%s", ar_id_hex(&m->index, hex));
	n = cr_ring_rank(s->ring, m->index.b, NULL, rank, SERVE_ANNOUNCE_NODES);
	for (size_t i = 0; i < n; i++)
		post_record(s, &s->ring->nodes[rank[i]], path, line, (size_t)len);
	return 0;
}

static int hash_one(void *arg, const char *name, const struct ar_manifest *m)
{
	(void)name;
	crypto_generichash_update(arg, m->index.b, sizeof(m->index.b));
	return 0;
}

/* What the store holds now, as one digest; -1 when it cannot be read. */
static int held_digest(struct serve *s, uint8_t out[crypto_generichash_BYTES])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, NULL, 0, crypto_generichash_BYTES);
	if (ar_store_foreach_ref(s->st, hash_one, &h, NULL) < 0)
		return -1;
	crypto_generichash_final(&h, out, crypto_generichash_BYTES);
	return 0;
}

/* The names held come from one LMDB read transaction, a consistent view
 * even while a writer works: no lock needed. */
static void on_announce(evutil_socket_t fd, short what, void *arg)
{
	struct serve *s = arg;

	(void)fd;
	(void)what;
	held_digest(s, s->held);
	ar_store_foreach_ref(s->st, announce_one, s, NULL);
}

/* A version pulled (or removed) beside the server: announce at once
 * rather than at the next renewal. */
static void on_check(evutil_socket_t fd, short what, void *arg)
{
	struct serve *s = arg;
	uint8_t now[crypto_generichash_BYTES];

	if (held_digest(s, now) == 0 && sodium_memcmp(now, s->held, sizeof(now)) != 0)
		on_announce(fd, what, arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int ar_serve(struct ar_store *st, const char *listen, const char *ring_path,
	     const char *key_path, FILE *out, struct cr_error **err)
{
	struct serve s = { .st = st, .out = out };
	struct evhttp *http = NULL;
	struct evconnlistener *lev;
	struct event *ev_ann = NULL, *ev_chk = NULL, *ev_term = NULL, *ev_int = NULL;
	struct cr_addr a;
	char shown[CR_ADDR_STRMAX];
	int ret = -1;

	if (cr_addr_parse(listen, &a, err) < 0)
		return cr_error_wrap(err, "serve --listen");
	s.port = (uint16_t)ntohs(a.u.sa.sa_family == AF_INET6 ? a.u.in6.sin6_port :
								 a.u.in4.sin_port);
	if ((ring_path != NULL) != (key_path != NULL))
		return cr_error_set(err, EINVAL,
				    "serve: announcing needs both --ring and --key");
	if (ring_path != NULL) {
		if (cr_keypair_load(key_path, &s.kp, err) < 0)
			return -1;
		if (s.kp.type != CR_ID_DEVICE) {
			cr_keypair_wipe(&s.kp);
			return cr_error_set(err, EINVAL, "%s is not a device key", key_path);
		}
		if (cr_ring_load(ring_path, NULL, &s.ring, err) < 0)
			goto out;
	}
	s.buf = malloc(AR_CHUNK_MAX_LIMIT);
	s.base = event_base_new();
	if (s.buf == NULL || s.base == NULL || (http = evhttp_new(s.base)) == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET);
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_timeout(http, 60);
	evhttp_set_gencb(http, on_get, &s);
	lev = evconnlistener_new_bind(s.base, NULL, NULL,
				      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 64,
				      &a.u.sa, cr_addr_len(&a));
	if (lev == NULL) {
		cr_error_errno(err, errno, "serve: cannot listen on %s", listen);
		goto out;
	}
	if (evhttp_bind_listener(http, lev) == NULL) {
		evconnlistener_free(lev);
		cr_error_set(err, ENOMEM, "serve: cannot serve HTTP");
		goto out;
	}
	ev_term = evsignal_new(s.base, SIGTERM, on_signal, s.base);
	ev_int = evsignal_new(s.base, SIGINT, on_signal, s.base);
	if (ev_term == NULL || ev_int == NULL || event_add(ev_term, NULL) < 0 ||
	    event_add(ev_int, NULL) < 0) {
		cr_error_set(err, ENOMEM, "serve: cannot catch signals");
		goto out;
	}
	if (s.ring != NULL) {
		ev_ann = event_new(s.base, -1, EV_PERSIST, on_announce, &s);
		ev_chk = event_new(s.base, -1, EV_PERSIST, on_check, &s);
		if (ev_ann == NULL || ev_chk == NULL ||
		    event_add(ev_ann, &(struct timeval){ SERVE_REANNOUNCE_S, 0 }) < 0 ||
		    event_add(ev_chk, &(struct timeval){ SERVE_CHECK_S, 0 }) < 0) {
			cr_error_set(err, ENOMEM, "serve: cannot arm a timer");
			goto out;
		}
		on_announce(-1, 0, &s);
	}
	/* From now on the store is held per request only. */
	if (ar_store_unlock(st) < 0) {
		cr_error_set(err, EINVAL, "serve: the store must be open for reading");
		goto out;
	}
	fprintf(out, "serving %s on %s%s\n", st->dir, cr_addr_format(&a, shown),
		s.ring != NULL ? " (announced to the ring)" : "");
	fflush(out);
	event_base_dispatch(s.base);
	fprintf(out, "served %" PRIu64 " bytes in %" PRIu64 " requests (%" PRIu64
		     " while the store was being written); %" PRIu64
		     " provider records stored\n",
		s.served, s.requests, s.busy, s.announced);
	ret = 0;
out:
	if (ev_ann != NULL)
		event_free(ev_ann);
	if (ev_chk != NULL)
		event_free(ev_chk);
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	if (http != NULL)
		evhttp_free(http);
	if (s.base != NULL)
		event_base_free(s.base);
	free(s.buf);
	cr_ring_free(s.ring);
	cr_keypair_wipe(&s.kp);
	return ret;
}
