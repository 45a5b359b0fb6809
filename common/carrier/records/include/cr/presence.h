/*
 * Presence records: a device's signed statement of where it can be reached
 * (its addresses, the nodes it is attached to, a sequence number and an
 * expiry).  Nodes store and replicate them but cannot forge or replay them:
 * the identity is the hash of the key inside, the signature covers
 * everything, and readers keep the highest sequence.
 */
#ifndef CR_PRESENCE_H
#define CR_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/identity.h"

struct cr_presence {
	uint8_t device_pk[CR_PKLEN];
	struct cr_id id;          /* derived from device_pk on decode */
	uint64_t seq;
	uint64_t issued_unix;
	uint64_t expires_unix;
	size_t n_addrs;
	char addrs[CP_ADDRS_MAX][CP_ADDR_STR_MAX];
	size_t n_attached;
	uint8_t attached[CP_ATTACHED_MAX][CR_PKLEN];
	/* The device's tags, "K=V" (printable, no spaces): deployments
	 * target them (cr/deploy.h). */
	size_t n_tags;
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
};

/*
 * Signs p (device_pk must be dev's key) into a serialized SignedPresence in
 * out (capacity cap, at most CP_PRESENCE_MAX needed); sets *len.
 */
int cr_presence_sign(const struct cr_keypair *dev, const struct cr_presence *p,
		     uint8_t *out, size_t cap, size_t *len,
		     struct cr_error **err);

/*
 * Verifies a serialized SignedPresence: size bound before unpacking, field
 * bounds, Ed25519 signature, device key is a device's (valid point),
 * issued not far in the future (5 min skew), not expired at now_unix.
 * Fills *out.  When want_id is not NULL, the record must be that device's.
 */
int cr_presence_verify(const uint8_t *buf, size_t len, uint64_t now_unix,
		       const struct cr_id *want_id, struct cr_presence *out,
		       struct cr_error **err);

/*
 * The expiry of a serialized SignedPresence, without checking its
 * signature (for sweeping a store of records verified when they came in).
 * 0, or -1 when it cannot be read.
 */
int cr_presence_expires(const uint8_t *buf, size_t len, uint64_t *expires);

/*
 * Where a device of a stored record can be reached, without checking its
 * signature (records in a node's store were verified when they came in):
 * its addresses and the nodes it is attached to.  Fills only n_addrs,
 * addrs, n_attached and attached of *out (addresses longer than a slot and
 * attached keys of the wrong size are skipped).  0, or -1 when unreadable.
 */
int cr_presence_route(const uint8_t *buf, size_t len, struct cr_presence *out);

#endif
