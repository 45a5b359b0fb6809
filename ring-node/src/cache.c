/*
 * The shard cache (rn/cache.h): an evhttp server in front of an LMDB
 * file, with libcurl's multi interface on the node's event loop for
 * origin fetches, so a slow origin never stalls the node.
 */
#include <curl/curl.h>
#include <errno.h>
#include <sys/socket.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

#include "ar/cachereq.h"
#include "ar/chunk.h"
#include "ar/provider.h"
#include "cr/addr.h"
#include "cr/kv.h"
#include "cr/log.h"
#include "cr/map.h"
#include "cr/metrics.h"
#include "cr/util.h"
#include "rn/cache.h"
#include "rn/origin.h"

enum {
	CACHE_KEY = AR_ID_LEN,
	CACHE_HDR = 8,			/* u64 insertion sequence before the bytes */
	CACHE_OBJ_MAX = 64 << 20,	/* largest object kept */
	CACHE_WAITERS_MAX = 4096,	/* requests parked on one fetch */
	CACHE_FETCH_TIMEOUT_S = 120,
	PROV_PER_INDEX = 16,		/* provider records kept per index */
	PROV_INDEXES_MAX = 100000,	/* indexes with provider records */
};

static const char prov_prefix[] = "/archon/v1/providers/";
static const char prov_db[] = "providers";

static const char cache_db[] = "objects";

/* The one answer to a failed origin fetch, whatever went wrong. */
#define CACHE_FETCH_ERROR "origin fetch failed"

/* One cached object, in recency order (head: most recent). */
struct ent {
	uint8_t key[CACHE_KEY];
	uint64_t size; /* bytes of the object, header excluded */
	uint64_t seq;
	struct ent *prev, *next;
};

struct waiter {
	struct evhttp_request *req;
	struct waiter *next;
};

/* One origin fetch, and the requests waiting for it. */
struct fetch {
	struct rn_cache *c;
	struct ar_cachereq r;
	uint8_t key[CACHE_KEY];
	CURL *easy;
	uint8_t *buf;
	size_t len, max;
	struct waiter *waiters;
	size_t nwaiters;
	const struct rn_origin_rule *rule; /* the --cache-origins entry matched */
	int addr_refused; /* the origin resolved to an internal address */
	char url[AR_CACHEREQ_ORIGIN_MAX + AR_CACHEREQ_REL_MAX + 2];
};

struct rn_cache {
	struct event_base *base;
	struct cr_kv *kv;
	struct evhttp *http;
	struct evconnlistener *lev;
	CURLM *multi;
	struct event *timer;
	struct cr_map *ents;	/* key -> struct ent */
	struct ent *head, *tail;
	struct cr_map *fetches; /* key -> struct fetch */
	uint64_t bytes, max_bytes, next_seq;
	uint32_t max_fetches;
	struct rn_origins origins; /* --cache-origins; none: no fetching */
	struct cr_log_ratelimit rl;
	struct {
		uint64_t hits, misses, coalesced, refused, bad_requests, forbidden;
		uint64_t addr_refused;
		uint64_t fetches, fetch_failed, verify_failed, evictions;
		uint64_t bytes_served, bytes_fetched;
		uint64_t prov_stored, prov_rejected, prov_queries, prov_full;
	} st;
};

/* ---- Recency list ----------------------------------------------------- */

static void lru_unlink(struct rn_cache *c, struct ent *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct rn_cache *c, struct ent *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void cache_drop(struct rn_cache *c, struct ent *e)
{
	lru_unlink(c, e);
	cr_map_del(c->ents, e->key);
	c->bytes -= e->size;
	free(e);
}

/* Evicts least-recently-used objects until `need` more bytes fit. */
static void cache_evict(struct rn_cache *c, uint64_t need)
{
	while (c->tail != NULL && c->bytes + need > c->max_bytes) {
		struct ent *e = c->tail;

		cr_kv_del(c->kv, cache_db, e->key, CACHE_KEY, NULL);
		cache_drop(c, e);
		c->st.evictions++;
	}
}

static void cache_store(struct rn_cache *c, const uint8_t key[CACHE_KEY],
			const uint8_t *data, size_t len)
{
	struct ent *e;
	uint8_t *val;
	int rc;

	if (len > c->max_bytes || len > CACHE_OBJ_MAX ||
	    cr_map_get(c->ents, key) != NULL)
		return;
	e = calloc(1, sizeof(*e));
	val = malloc(len + CACHE_HDR);
	if (e == NULL || val == NULL)
		goto fail;
	memcpy(e->key, key, CACHE_KEY);
	e->size = len;
	e->seq = c->next_seq++;
	for (int i = 0; i < CACHE_HDR; i++)
		val[i] = (uint8_t)(e->seq >> (8 * i));
	memcpy(val + CACHE_HDR, data, len);
	cache_evict(c, len);
	rc = cr_kv_put(c->kv, cache_db, key, CACHE_KEY, val, len + CACHE_HDR, NULL);
	if (rc < 0) {
		/* The map is full of page overhead: make room and retry once. */
		cache_evict(c, len + c->max_bytes / 4);
		rc = cr_kv_put(c->kv, cache_db, key, CACHE_KEY, val,
			       len + CACHE_HDR, NULL);
	}
	if (rc < 0 || cr_map_put(c->ents, e->key, e) < 0) {
		if (rc == 0)
			cr_kv_del(c->kv, cache_db, key, CACHE_KEY, NULL);
		goto fail;
	}
	lru_push(c, e);
	c->bytes += len;
	free(val);
	return;
fail:
	if (cr_log_ratelimit_ok(&c->rl, cr_now_ms()))
		cr_log_warnx("shard cache: could not store an object of %zu bytes",
			     len);
	free(e);
	free(val);
}

/* ---- Serving ---------------------------------------------------------- */

static void reply_bytes(struct evhttp_request *req, const uint8_t *p,
			size_t len, const char *how)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL || evbuffer_add(b, p, len) < 0) {
		evbuffer_free(b);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/octet-stream");
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "X-Archon-Cache", how);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Serves a held object; 0, or -1 when it is not (or no longer) here. */
static int serve_hit(struct rn_cache *c, const uint8_t key[CACHE_KEY],
		     struct evhttp_request *req)
{
	struct ent *e = cr_map_get(c->ents, key);
	uint8_t *val;
	size_t len;

	if (e == NULL)
		return -1;
	val = malloc(e->size + CACHE_HDR);
	if (val == NULL)
		return -1;
	if (cr_kv_get(c->kv, cache_db, key, CACHE_KEY, val, e->size + CACHE_HDR,
		      &len, NULL) < 0 || len != e->size + CACHE_HDR) {
		/* Gone under us: forget it, fetch again. */
		free(val);
		cache_drop(c, e);
		return -1;
	}
	lru_unlink(c, e);
	lru_push(c, e);
	c->st.hits++;
	c->st.bytes_served += e->size;
	reply_bytes(req, val + CACHE_HDR, e->size, "hit");
	free(val);
	return 0;
}

/* Checks a fetched object against its id: 0 when it is what was asked. */
static int verify(const struct ar_cachereq *r, const uint8_t *p, size_t len)
{
	struct ar_id got;

	if (r->kind == AR_OBJ_INDEX) {
		ar_id_of(p, len, &got);
		return ar_id_equal(&got, &r->id) ? 0 : -1;
	}
	if (r->kind == AR_OBJ_CHUNK)
		return ar_chunk_verify(&r->id, p, len) == 0 ? 0 : -1;
	/* A delta: only its size can be checked here (see ar/cachereq.h). */
	return len == r->size ? 0 : -1;
}

static void fetch_free(struct fetch *f)
{
	if (f->easy != NULL) {
		curl_multi_remove_handle(f->c->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	free(f->buf);
	free(f);
}

/* Answers every waiter: the object, or status with reason. */
static void fetch_finish(struct fetch *f, int status, const char *reason)
{
	struct rn_cache *c = f->c;

	cr_map_del(c->fetches, f->key);
	while (f->waiters != NULL) {
		struct waiter *w = f->waiters;

		f->waiters = w->next;
		if (status == 200) {
			c->st.bytes_served += f->len;
			reply_bytes(w->req, f->buf, f->len, "miss");
		} else {
			evhttp_send_error(w->req, status, reason);
		}
		free(w);
	}
	fetch_free(f);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nmemb;
	uint8_t *np;

	if (n > f->max - f->len)
		return 0; /* aborts the transfer */
	np = realloc(f->buf, f->len + n + 1);
	if (np == NULL)
		return 0;
	f->buf = np;
	memcpy(f->buf + f->len, ptr, n);
	f->len += n;
	return n;
}

static void fetch_done(struct rn_cache *c, CURL *easy, CURLcode cc)
{
	struct fetch *f = NULL;
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&f);
	if (f == NULL)
		return;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	c->st.bytes_fetched += f->len;
	/* Every failure answers the same: a requester must learn nothing
	 * about what the origin sent (its status, or whether its body was
	 * longer or shorter than asked); the log tells the operator. */
	if (cc != CURLE_OK || status != 200) {
		c->st.fetch_failed++;
		if (f->addr_refused)
			c->st.addr_refused++;
		if (cr_log_ratelimit_ok(&c->rl, cr_now_ms()))
			cr_log_info("shard cache: %s: %s (HTTP %ld)%s", f->url,
				    curl_easy_strerror(cc), status,
				    f->addr_refused ?
					    "; refused an internal address" :
					    "");
		fetch_finish(f, 502, CACHE_FETCH_ERROR);
		return;
	}
	if (verify(&f->r, f->buf, f->len) < 0) {
		c->st.verify_failed++;
		if (cr_log_ratelimit_ok(&c->rl, cr_now_ms()))
			cr_log_warnx("shard cache: %s does not match its id; not kept",
				     f->url);
		fetch_finish(f, 502, CACHE_FETCH_ERROR);
		return;
	}
	cache_store(c, f->key, f->buf, f->len);
	fetch_finish(f, 200, NULL);
}

static void multi_check(struct rn_cache *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE)
			fetch_done(c, m->easy_handle, m->data.result);
}

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose,
				    struct curl_sockaddr *sa);

/* Starts fetching r (key) from its origin for req; 0 or -1. */
static int fetch_start(struct rn_cache *c, const struct ar_cachereq *r,
		       const struct rn_origin_rule *rule,
		       const uint8_t key[CACHE_KEY], struct evhttp_request *req)
{
	struct fetch *f = calloc(1, sizeof(*f));
	struct waiter *w = calloc(1, sizeof(*w));

	if (f == NULL || w == NULL)
		goto fail;
	f->c = c;
	f->r = *r;
	f->rule = rule;
	memcpy(f->key, key, CACHE_KEY);
	switch (r->kind) {
	case AR_OBJ_CHUNK:
		f->max = ar_chunk_wire_bound(AR_CHUNK_MAX_LIMIT);
		break;
	case AR_OBJ_INDEX:
		f->max = r->size != 0 ? (size_t)r->size : CACHE_OBJ_MAX;
		break;
	case AR_OBJ_DELTA:
		f->max = (size_t)r->size;
		break;
	}
	if (f->max > CACHE_OBJ_MAX)
		f->max = CACHE_OBJ_MAX;
	snprintf(f->url, sizeof(f->url), "%s/%s", r->origin, r->rel);
	f->easy = curl_easy_init();
	if (f->easy == NULL)
		goto fail;
	curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* No redirects: a redirect could lead anywhere, and an origin that
	 * moved is re-named by the operator.  No proxy from the environment:
	 * the address check below must see the origin's own address. */
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(f->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)CACHE_FETCH_TIMEOUT_S);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	if (cr_map_put(c->fetches, f->key, f) < 0)
		goto fail;
	if (curl_multi_add_handle(c->multi, f->easy) != CURLM_OK) {
		cr_map_del(c->fetches, f->key);
		goto fail;
	}
	w->req = req;
	f->waiters = w;
	f->nwaiters = 1;
	c->st.fetches++;
	return 0;
fail:
	if (f != NULL) {
		if (f->easy != NULL)
			curl_easy_cleanup(f->easy);
		free(f);
	}
	free(w);
	return -1;
}

/* ---- Provider records ---------------------------------------------- */

/* The records stored for index (lines), minus expired ones and dev's
 * (when dev is not NULL); returns how many are kept in *out (NUL-ended). */
static size_t prov_load(struct rn_cache *c, const struct ar_id *index,
			const uint8_t *dev, uint64_t now,
			char out[PROV_PER_INDEX * AR_PROVIDER_LINE_MAX + 1])
{
	char val[PROV_PER_INDEX * AR_PROVIDER_LINE_MAX];
	size_t len = 0, o = 0, kept = 0;
	const char *p, *end;

	out[0] = '\0';
	if (cr_kv_get(c->kv, prov_db, index->b, AR_ID_LEN, val, sizeof(val), &len,
		      NULL) < 0 || len > sizeof(val))
		return 0;
	for (p = val, end = val + len; p < end && kept < PROV_PER_INDEX;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		struct ar_provider rec;

		if (ar_provider_parse(p, n, now, &rec, NULL) == 0 &&
		    ar_id_equal(&rec.index, index) &&
		    (dev == NULL || memcmp(rec.pk, dev, CR_PKLEN) != 0)) {
			memcpy(out + o, p, n);
			o += n;
			if (out[o - 1] != '\n')
				out[o++] = '\n';
			kept++;
		}
		p += n;
	}
	out[o] = '\0';
	return kept;
}

static void on_providers(struct rn_cache *c, struct evhttp_request *req,
			 const char *uri)
{
	char hex[AR_ID_HEX];
	char list[PROV_PER_INDEX * AR_PROVIDER_LINE_MAX + 1];
	struct ar_id index;
	uint64_t now = cr_now_unix();
	size_t n = strlen(uri) - (sizeof(prov_prefix) - 1);

	if (n != AR_ID_HEX - 1) {
		c->st.bad_requests++;
		evhttp_send_error(req, 400, "want /archon/v1/providers/INDEX_ID");
		return;
	}
	memcpy(hex, uri + sizeof(prov_prefix) - 1, n + 1);
	if (ar_id_parse(hex, &index) < 0) {
		c->st.bad_requests++;
		evhttp_send_error(req, 400, "bad index id");
		return;
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		char line[AR_PROVIDER_LINE_MAX];
		size_t len = evbuffer_get_length(in), kept;
		struct ar_provider rec;
		struct cr_error *err = NULL;

		if (len == 0 || len >= sizeof(line)) {
			c->st.prov_rejected++;
			evhttp_send_error(req, 400, "one provider record line");
			return;
		}
		evbuffer_remove(in, line, len);
		if (ar_provider_parse(line, len, now, &rec, &err) < 0 ||
		    !ar_id_equal(&rec.index, &index)) {
			c->st.prov_rejected++;
			evhttp_send_error(req, 400, err != NULL ? cr_error_msg(err) :
						    "record for another index");
			cr_error_free(err);
			return;
		}
		kept = prov_load(c, &index, rec.pk, now, list);
		if (kept == 0 && cr_kv_count(c->kv, prov_db) >= PROV_INDEXES_MAX) {
			c->st.prov_rejected++;
			evhttp_send_error(req, 503, "provider table full");
			return;
		}
		/* A full list keeps its live records: anyone can make keys and
		 * sign records, so a newcomer must not push out the providers
		 * already known.  A device renews its own record (it is not
		 * among those kept); expired ones make room. */
		if (kept >= PROV_PER_INDEX) {
			c->st.prov_full++;
			evhttp_send_error(req, 503, "provider list of this index "
						    "is full; try later");
			return;
		}
		/* The newest record first. */
		{
			char val[sizeof(list) + AR_PROVIDER_LINE_MAX];
			size_t l = len, ln = strlen(list);

			memcpy(val, line, len);
			if (val[l - 1] != '\n')
				val[l++] = '\n';
			memcpy(val + l, list, ln);
			if (cr_kv_put(c->kv, prov_db, index.b, AR_ID_LEN, val, l + ln,
				      NULL) < 0) {
				evhttp_send_error(req, 500, "cannot store the record");
				return;
			}
		}
		c->st.prov_stored++;
		reply_bytes(req, (const uint8_t *)"stored\n", 7, "provider");
		return;
	}
	c->st.prov_queries++;
	prov_load(c, &index, NULL, now, list);
	reply_bytes(req, (const uint8_t *)list, strlen(list), "provider");
}

/* ---- Which addresses ------------------------------------------------ */

/*
 * libcurl's socket for every connection: the address it resolved is
 * checked here, after resolution and right before connecting, so neither
 * a name that resolves inside nor one that changes its answer (DNS
 * rebinding) reaches an internal address.  An internal address is allowed
 * only when the operator named that very address in --cache-origins.
 */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose,
				    struct curl_sockaddr *sa)
{
	struct fetch *f = arg;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !rn_origin_addr_ok(f->rule, &sa->addr)) {
		f->addr_refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct rn_cache *c = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct cr_error *err = NULL;
	const struct rn_origin_rule *rule;
	struct ar_cachereq r;
	uint8_t key[CACHE_KEY];
	struct fetch *f;

	if (strncmp(uri, prov_prefix, sizeof(prov_prefix) - 1) == 0) {
		on_providers(c, req, uri);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "GET only");
		return;
	}
	if (ar_cachereq_parse(uri, strlen(uri), &r, &err) < 0) {
		c->st.bad_requests++;
		evhttp_send_error(req, err != NULL && err->code == ENOENT ? 404 : 400,
				  cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	/* Deltas are keyed by origin: an origin not allowed is never held. */
	ar_cachereq_key(&r, key);
	if (r.kind != AR_OBJ_DELTA && serve_hit(c, key, req) == 0)
		return;
	rule = rn_origins_match(&c->origins, r.origin);
	if (rule == NULL) {
		c->st.forbidden++;
		evhttp_send_error(req, 403, "this node does not fetch from that origin");
		return;
	}
	if (r.kind == AR_OBJ_DELTA && serve_hit(c, key, req) == 0)
		return;
	c->st.misses++;
	f = cr_map_get(c->fetches, key);
	if (f != NULL) {
		/* Someone asked already: wait for the same copy. */
		struct waiter *w;

		if (f->nwaiters >= CACHE_WAITERS_MAX ||
		    (w = calloc(1, sizeof(*w))) == NULL) {
			c->st.refused++;
			evhttp_send_error(req, 503, "busy: ask the origin");
			return;
		}
		w->req = req;
		w->next = f->waiters;
		f->waiters = w;
		f->nwaiters++;
		c->st.coalesced++;
		return;
	}
	if (cr_map_count(c->fetches) >= c->max_fetches ||
	    fetch_start(c, &r, rule, key, req) < 0) {
		c->st.refused++;
		evhttp_send_error(req, 503, "busy: ask the origin");
		return;
	}
	/* libcurl runs the transfer from its timer callback. */
}

/* ---- libcurl on the event loop --------------------------------------- */

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct rn_cache *c = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	multi_check(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg,
			  void *sockp)
{
	struct rn_cache *c = arg;
	struct event *ev = sockp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(c->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev != NULL)
		event_free(ev);
	ev = event_new(c->base, s, kind, on_socket_event, c);
	if (ev == NULL || event_add(ev, NULL) < 0) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(c->multi, s, NULL);
		return -1;
	}
	curl_multi_assign(c->multi, s, ev);
	return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rn_cache *c = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check(c);
}

static int on_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct rn_cache *c = arg;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)multi;
	if (ms < 0)
		return evtimer_del(c->timer);
	return evtimer_add(c->timer, &tv);
}

/* ---- Life cycle ------------------------------------------------------- */

struct loaded {
	struct ent **v;
	size_t n, cap;
};

static int collect(void *arg, const void *key, size_t key_len,
		   const void *val, size_t val_len)
{
	struct loaded *l = arg;
	const uint8_t *p = val;
	struct ent *e;

	if (key_len != CACHE_KEY || val_len < CACHE_HDR)
		return 0; /* not ours: left alone */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct ent **nv = realloc(l->v, cap * sizeof(*nv));

		if (nv == NULL)
			return 1;
		l->v = nv;
		l->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return 1;
	memcpy(e->key, key, CACHE_KEY);
	e->size = val_len - CACHE_HDR;
	for (int i = 0; i < CACHE_HDR; i++)
		e->seq |= (uint64_t)p[i] << (8 * i);
	l->v[l->n++] = e;
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Rebuilds the recency list from the file: older insertions evict first. */
static int cache_load(struct rn_cache *c, struct cr_error **err)
{
	struct loaded l = { NULL, 0, 0 };
	long n = cr_kv_foreach(c->kv, cache_db, collect, &l, err);

	if (n < 0) {
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return -1;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), by_seq);
	for (size_t i = 0; i < l.n; i++) {
		struct ent *e = l.v[i];

		if (cr_map_put(c->ents, e->key, e) < 0) {
			free(e);
			continue;
		}
		lru_push(c, e);
		c->bytes += e->size;
		if (e->seq >= c->next_seq)
			c->next_seq = e->seq + 1;
	}
	free(l.v);
	cache_evict(c, 0); /* the bound may have shrunk since */
	return 0;
}

int rn_cache_new(struct event_base *base, const struct rn_cache_cfg *cfg,
		 struct rn_cache **out, struct cr_error **err)
{
	struct rn_cache *c = calloc(1, sizeof(*c));
	struct cr_addr a;
	size_t map;

	*out = NULL;
	if (c == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	c->base = base;
	c->max_bytes = cfg->max_bytes;
	c->max_fetches = cfg->max_fetches ? cfg->max_fetches : 64;
	if (rn_origins_parse(cfg->origins, &c->origins, err) < 0) {
		free(c);
		return -1;
	}
	cr_log_ratelimit_init(&c->rl, 10, 1);
	/* Page overhead: an 8 KiB chunk takes three 4 KiB pages. */
	map = (size_t)(cfg->max_bytes * 2 + (64u << 20));
	c->ents = cr_map_new(CACHE_KEY);
	c->fetches = cr_map_new(CACHE_KEY);
	c->timer = evtimer_new(base, on_timer, c);
	c->multi = curl_multi_init();
	c->http = evhttp_new(base);
	if (c->ents == NULL || c->fetches == NULL || c->timer == NULL ||
	    c->multi == NULL || c->http == NULL) {
		rn_cache_free(c);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	if (cr_kv_open(cfg->dir, "cache", map, &c->kv, err) < 0 ||
	    cache_load(c, err) < 0) {
		rn_cache_free(c);
		return cr_error_wrap(err, "shard cache");
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 32L);
	evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(c->http, 16384);
	evhttp_set_max_body_size(c->http, AR_PROVIDER_LINE_MAX);
	evhttp_set_timeout(c->http, CACHE_FETCH_TIMEOUT_S + 10);
	evhttp_set_gencb(c->http, on_request, c);
	if (cr_addr_parse(cfg->listen, &a, err) < 0) {
		rn_cache_free(c);
		return cr_error_wrap(err, "--cache-listen");
	}
	c->lev = evconnlistener_new_bind(base, NULL, NULL,
					 LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
					 128, &a.u.sa, cr_addr_len(&a));
	if (c->lev == NULL) {
		int e = errno;

		if (cfg->listen_optional) {
			cr_log_warn("shard cache: cannot listen on TCP %s; the "
				    "cache is off (give --cache-listen)",
				    cfg->listen);
			rn_cache_free(c);
			return 0;
		}
		rn_cache_free(c);
		return cr_error_errno(err, e, "shard cache: cannot listen on TCP %s",
				      cfg->listen);
	}
	if (evhttp_bind_listener(c->http, c->lev) == NULL) {
		rn_cache_free(c);
		return cr_error_set(err, ENOMEM, "shard cache: cannot serve HTTP");
	}
	c->lev = NULL; /* evhttp owns it now */
	cr_log_info("shard cache on TCP %s: %zu objects, %llu of %llu bytes",
		    cfg->listen, cr_map_count(c->ents),
		    (unsigned long long)c->bytes,
		    (unsigned long long)c->max_bytes);
	*out = c;
	return 0;
}

struct rn_cache *rn_cache_free(struct rn_cache *c)
{
	if (c == NULL)
		return NULL;
	if (c->fetches != NULL) {
		const void *k;
		void *v;
		size_t pos;

		/* fetch_finish() removes each from the map. */
		while (pos = 0, cr_map_next(c->fetches, &pos, &k, &v))
			fetch_finish(v, 503, "shutting down");
		cr_map_free(c->fetches);
	}
	if (c->http != NULL)
		evhttp_free(c->http);
	if (c->lev != NULL)
		evconnlistener_free(c->lev);
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->timer != NULL)
		event_free(c->timer);
	while (c->head != NULL)
		cache_drop(c, c->head);
	cr_map_free(c->ents);
	cr_kv_free(c->kv);
	rn_origins_free(&c->origins);
	free(c);
	return NULL;
}

/* The cache's metrics (c is not NULL). */
static void cache_metrics(const struct rn_cache *c, struct evbuffer *b)
{
	const struct cr_metric m[] = {
		{ CR_METRIC_GAUGE, "archon_cache_bytes",
		  "Bytes of objects in the shard cache.", c->bytes },
		{ CR_METRIC_GAUGE, "archon_cache_max_bytes",
		  "The shard cache's bound in bytes.", c->max_bytes },
		{ CR_METRIC_GAUGE, "archon_cache_objects",
		  "Objects in the shard cache.", cr_map_count(c->ents) },
		{ CR_METRIC_GAUGE, "archon_cache_fetches_running",
		  "Origin fetches in flight.", cr_map_count(c->fetches) },
		{ CR_METRIC_COUNTER, "archon_cache_hits_total",
		  "Requests served from the cache.", c->st.hits },
		{ CR_METRIC_COUNTER, "archon_cache_misses_total",
		  "Requests for objects not held (each waits for one origin "
		  "fetch).",
		  c->st.misses },
		{ CR_METRIC_COUNTER, "archon_cache_coalesced_total",
		  "Misses that joined a fetch already running for the same "
		  "object.",
		  c->st.coalesced },
		{ CR_METRIC_COUNTER, "archon_cache_origin_fetches_total",
		  "Fetches from origins.", c->st.fetches },
		{ CR_METRIC_COUNTER, "archon_cache_origin_failed_total",
		  "Origin fetches that failed (network, HTTP status, too big).",
		  c->st.fetch_failed },
		{ CR_METRIC_COUNTER, "archon_cache_verify_failed_total",
		  "Fetched objects that did not match their id (not kept).",
		  c->st.verify_failed },
		{ CR_METRIC_COUNTER, "archon_cache_origin_bytes_total",
		  "Bytes received from origins.", c->st.bytes_fetched },
		{ CR_METRIC_COUNTER, "archon_cache_served_bytes_total",
		  "Bytes served to pullers.", c->st.bytes_served },
		{ CR_METRIC_COUNTER, "archon_cache_evictions_total",
		  "Objects evicted (least recently used) to stay within the "
		  "bound.",
		  c->st.evictions },
		{ CR_METRIC_COUNTER, "archon_cache_refused_total",
		  "Requests turned away busy (the puller asks the origin).",
		  c->st.refused },
		{ CR_METRIC_COUNTER, "archon_cache_bad_requests_total",
		  "Malformed requests.", c->st.bad_requests },
		{ CR_METRIC_COUNTER, "archon_cache_forbidden_total",
		  "Misses refused: the origin is not among --cache-origins "
		  "(none named: every miss).",
		  c->st.forbidden },
		{ CR_METRIC_COUNTER,
		  "archon_cache_origin_address_refused_total",
		  "Origin fetches refused because the origin resolved to a "
		  "loopback, private, link-local or other internal address not "
		  "named by IP in --cache-origins.",
		  c->st.addr_refused },
		{ CR_METRIC_GAUGE, "archon_provider_indexes",
		  "Indexes with provider records stored here.",
		  cr_kv_count(c->kv, prov_db) },
		{ CR_METRIC_COUNTER, "archon_provider_records_stored_total",
		  "Signed provider records stored.", c->st.prov_stored },
		{ CR_METRIC_COUNTER, "archon_provider_records_rejected_total",
		  "Provider records refused (signature, expiry, malformed).",
		  c->st.prov_rejected },
		{ CR_METRIC_COUNTER,
		  "archon_provider_records_refused_full_total",
		  "Provider records from new devices refused: the index "
		  "already "
		  "has 16 live providers (they are kept).",
		  c->st.prov_full },
		{ CR_METRIC_COUNTER, "archon_provider_queries_total",
		  "Provider queries answered.", c->st.prov_queries },
	};

	cr_metrics_write(b, m, sizeof(m) / sizeof(m[0]));
}

void rn_cache_metrics(const struct rn_cache *c, struct evbuffer *b)
{
	if (c != NULL)
		cache_metrics(c, b);
}
