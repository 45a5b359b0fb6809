/*
 * A lying ring node, for the cluster tests only (carrier-node --byzantine,
 * built with CR_TEST_MODES): it drops relayed traffic, answers lookups with
 * stale or forged presence records, claims every device is attached to it,
 * and offers bogus ring configurations.  Honest code must shrug all of it
 * off; the tests count on that.
 */
#ifndef RN_BYZANTINE_H
#define RN_BYZANTINE_H

#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/identity.h"
#include "cr/kv.h"
#include "cr/ring.h"

/*
 * A configuration that must be refused: variant 0 is signed by a random
 * operator key, variant 1 names the real operator but carries a signature
 * that does not verify; both claim epoch real->epoch + 1000.  *out is
 * malloc'ed.  Returns 0 or -1.
 */
int rn_byz_bogus_ring(const struct cr_ring *real, unsigned variant,
		      uint8_t **out, size_t *len);

/* Remembers the first record seen for a device (for stale answers). */
void rn_byz_remember(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		     const uint8_t *blob, size_t len);

/*
 * A lie for a lookup of dev whose current record (blob, len) is stored,
 * by variant % 3: 0 the first record ever seen when it is older (stale),
 * else, like 1, a copy of the current record with its sequence raised and
 * the signature left as it was (forged); 2 NULL: the truth, so that
 * vendors choose this node to relay through.  Free with
 * carrier__signed_presence__free_unpacked().
 */
Carrier__SignedPresence *rn_byz_lookup_lie(struct cr_kv *kv,
					   const uint8_t dev[CR_ID_HASHLEN],
					   const uint8_t *blob, size_t len,
					   unsigned variant);

#endif
