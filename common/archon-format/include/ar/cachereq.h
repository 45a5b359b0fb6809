/*
 * A request to a ring node's Archon shard cache (ring-node/cache.c), as
 * the HTTP request target a puller sends:
 *
 *     /archon/v1/chunks/ab/<id>?origin=<url>
 *     /archon/v1/indexes/<id>?origin=<url>
 *     /archon/v1/deltas/<from>-<to>?origin=<url>&size=<n>
 *
 * origin is the published store's base URL (http:// or https://,
 * percent-encoded), where the node fetches the object on a miss.  Shared by
 * the puller, which builds requests, and the node, which parses them from
 * the network: the parser is bounded and accepts only the canonical form.
 *
 * Chunks and indexes are named by their content, so the node verifies them
 * and keys them by id alone: any origin's copy serves every origin.  A
 * delta is named by the contents it links and can only be checked by a
 * device that holds the base, so it is keyed by its origin as well: a
 * requester naming a hostile origin poisons only its own key.
 */
#ifndef AR_CACHEREQ_H
#define AR_CACHEREQ_H

#include <stddef.h>
#include <stdint.h>

#include "ar/chunk.h"
#include "cr/error.h"

enum {
	AR_CACHEREQ_ORIGIN_MAX = 1024,	/* bytes of the decoded origin URL */
	AR_CACHEREQ_TARGET_MAX = 4096,	/* bytes of a request target */
	AR_CACHEREQ_REL_MAX = 2 * AR_ID_HEX + 16,
};

enum ar_obj {
	AR_OBJ_CHUNK = 1, /* zstd-compressed chunk; id of the plain bytes */
	AR_OBJ_INDEX = 2,
	AR_OBJ_DELTA = 3,
};

struct ar_cachereq {
	enum ar_obj kind;
	struct ar_id id;  /* chunk or index id; a delta's from content */
	struct ar_id to;  /* a delta's to content */
	uint64_t size;    /* deltas: the size the manifest gives (required) */
	char origin[AR_CACHEREQ_ORIGIN_MAX + 1]; /* no trailing '/' */
	char rel[AR_CACHEREQ_REL_MAX]; /* the object's path under origin */
};

/* Parses a request target (len bytes, need not be NUL-terminated).
 * Returns 0 or -1 with *err saying what is wrong. */
int ar_cachereq_parse(const char *target, size_t len, struct ar_cachereq *r,
		      struct cr_error **err);

/* Sets r->rel from kind and ids (callers that build a request). */
void ar_cachereq_set_rel(struct ar_cachereq *r);

/* Writes r's request target into buf; returns its length, or -1 when it
 * does not fit or origin is not an http(s) URL. */
int ar_cachereq_format(const struct ar_cachereq *r, char *buf, size_t cap);

/* The id that places r on a node (rendezvous over the ring's nodes): the
 * object id, a delta's BLAKE2b(from || to).  The same on every device. */
void ar_cachereq_place(const struct ar_cachereq *r, uint8_t out[AR_ID_LEN]);

/* The node's storage key for r (see above). */
void ar_cachereq_key(const struct ar_cachereq *r, uint8_t out[AR_ID_LEN]);

#endif
