/*
 * Per-source-address token buckets: how a session host keeps one address
 * from taking every handshake it can compute (cr/session.h, under load).
 * Keyed by the IP address alone (not the port: one host, many sockets),
 * IPv6 by the whole address.  A fixed table of CR_RATELIMIT_SLOTS entries
 * in sets of four, keyed with SipHash under a random key (so senders cannot
 * aim at one set); a new address takes the least recently used entry of
 * its set, so memory stays bounded whatever the number of senders.  Every
 * address starts with a full bucket.  No clock but the caller's.
 */
#ifndef CR_RATELIMIT_H
#define CR_RATELIMIT_H

#include <stdint.h>

#include "cr/addr.h"
#include "cr/error.h"

enum { CR_RATELIMIT_SLOTS = 4096 };

struct cr_ratelimit;

/* per_sec tokens a second, at most burst saved up (both >= 1). */
struct cr_ratelimit *cr_ratelimit_new(uint32_t per_sec, uint32_t burst,
				      struct cr_error **err);
struct cr_ratelimit *cr_ratelimit_free(struct cr_ratelimit *rl);
/* Changes the rate and burst for every address from now on. */
void cr_ratelimit_set(struct cr_ratelimit *rl, uint32_t per_sec,
		      uint32_t burst);
/* 1 and takes a token when from's address has one at now_ms; 0 if not. */
int cr_ratelimit_allow(struct cr_ratelimit *rl, const struct cr_addr *from,
		       uint64_t now_ms);

#endif
