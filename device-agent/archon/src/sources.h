/*
 * Where a pull gets each object, in order: peers (devices that announced
 * the version's index on its shard nodes, reached through `carrier
 * connect`, end to end and direct when punched), the ring's shard cache (the
 * node that rendezvous hashing picks for the object, then the next one
 * when that node cannot be reached), then the origin.  Every copy is
 * checked by the caller's function before it is used; a copy that fails
 * sends the fetch on to the next source.  Bytes are counted per source.
 */
#ifndef AR_SOURCES_H
#define AR_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "ar/cachereq.h"
#include "cr/error.h"

enum ar_src {
	AR_SRC_PEER = 0,
	AR_SRC_RING = 1,
	AR_SRC_ORIGIN = 2,
	AR_SRC_N = 3,
};

struct ar_sources;

/* url: the origin; ring_path: a ring configuration file, or NULL for
 * the origin alone (the ring is used only for http(s) origins, which the
 * nodes can fetch from). */
int ar_sources_open(const char *url, const char *ring_path,
		    struct ar_sources **out, struct cr_error **err);
struct ar_sources *ar_sources_free(struct ar_sources *s);

/*
 * Looks up the devices that hold index (provider records on its shard
 * nodes, signatures checked) and opens a tunnel to up to `max` of them with
 * `carrier connect DEVICE PORT -L 127.0.0.1:LPORT` (carrier: the program,
 * key: its --key or NULL for its default), waiting at most timeout_ms for
 * them to answer.  Returns how many peers are usable (0 without a ring).
 */
int ar_sources_find_peers(struct ar_sources *s, const struct ar_id *index,
			  const char *carrier, const char *key, size_t max,
			  uint64_t timeout_ms, size_t *announced);
/* The peers' tunnels present this fleet credential (carrier connect
 * --credential; key is then the device's key): devices of one fleet serve
 * each other without a vendor key.  path is borrowed. */
void ar_sources_set_credential(struct ar_sources *s, const char *path);

/* Returns 0 when the copy (p, len) is the object asked for. */
typedef int (*ar_check_fn)(void *arg, const uint8_t *p, size_t len);

/*
 * Fetches r (r->origin and r->rel are filled in here), at most max bytes,
 * trying the sources from `first` on; check (may be NULL: the caller
 * checks later) vets each copy.  *out is malloc'ed; *from says which
 * source served it.  -ENOENT when the origin has no such object.
 */
int ar_sources_get(struct ar_sources *s, struct ar_cachereq *r, size_t max,
		   enum ar_src first, ar_check_fn check, void *arg,
		   uint8_t **out, size_t *len, enum ar_src *from,
		   struct cr_error **err);

/* Fetches rel from the origin only (manifests: they name versions and
 * change, so no cache serves them). */
int ar_sources_origin_get(struct ar_sources *s, const char *rel, size_t max,
			  uint8_t **out, size_t *len, struct cr_error **err);

/* The caller found a copy from src bad after all (a delta that does not
 * apply): counted with the rejected copies. */
void ar_sources_reject(struct ar_sources *s, enum ar_src src);

uint64_t ar_sources_bytes(const struct ar_sources *s, enum ar_src src);
uint64_t ar_sources_requests(const struct ar_sources *s);
/* Copies that failed their check (a bad cache node or peer). */
uint64_t ar_sources_rejected(const struct ar_sources *s);

#endif
