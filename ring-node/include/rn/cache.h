/*
 * The ring node's Archon shard cache: chunks, indexes and deltas of
 * published stores, kept in an LMDB file of their own (DATA/cache.mdb),
 * bounded in bytes and evicted least-recently-used, served over HTTP to
 * pullers (request format: ar/cachereq.h).  On a miss the node fetches
 * the object from the origin the request names, if the operator named
 * that origin (--cache-origins; no redirects, and no internal address
 * unless named by IP), once however many
 * pullers ask for it at the same time, checks it against its id (chunks
 * and indexes; deltas are checked by the device that applies them) and
 * only then stores and serves it.  So a mass update costs the origin about
 * one copy per object.
 *
 * Recency lives in memory (one small entry per object); across a restart
 * the order of insertion stands in for it.
 */
#ifndef RN_CACHE_H
#define RN_CACHE_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdint.h>

#include "cr/error.h"

struct rn_cache;

struct rn_cache_cfg {
	const char *dir;	/* where cache.mdb lives */
	const char *listen;	/* HOST:PORT of the HTTP listener */
	uint64_t max_bytes;	/* bound on the objects' bytes */
	uint32_t max_fetches;	/* concurrent origin fetches (0: 64) */
	int listen_optional;	/* a failure to listen only logs */
	const char *origins;	/* comma-separated origins the node fetches
				   from (scheme, host, port equal; path at
				   or below); NULL or empty: none */
};

int rn_cache_new(struct event_base *base, const struct rn_cache_cfg *cfg,
		 struct rn_cache **out, struct cr_error **err);
/* Answers pending requests with 503 and frees everything.  NULL. */
struct rn_cache *rn_cache_free(struct rn_cache *c);

/* Appends the cache's Prometheus metrics to b. */
void rn_cache_metrics(const struct rn_cache *c, struct evbuffer *b);

#endif
