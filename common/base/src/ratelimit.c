/*
 * Per-source-address token buckets: see cr/ratelimit.h.
 *
 * Tokens are counted in thousandths, so a bucket refills per_sec thousandths
 * a millisecond in integer arithmetic (no floating point on devices).
 */
#include "cr/ratelimit.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum {
	WAYS = 4,
	SETS = CR_RATELIMIT_SLOTS / WAYS,
	KEY_LEN = 17, /* family byte and up to 16 address bytes */
	MILLI = 1000,
};

_Static_assert((SETS & (SETS - 1)) == 0, "SETS must be a power of two");

struct rl_entry {
	uint64_t last_ms; /* 0: empty */
	uint32_t tokens;  /* thousandths */
	uint8_t key[KEY_LEN];
};

struct cr_ratelimit {
	uint32_t per_sec, burst;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	struct rl_entry e[CR_RATELIMIT_SLOTS];
};

static size_t addr_key(const struct cr_addr *a, uint8_t out[KEY_LEN])
{
	memset(out, 0, KEY_LEN);
	switch (a->u.sa.sa_family) {
	case AF_INET:
		out[0] = 4;
		memcpy(out + 1, &a->u.in4.sin_addr, 4);
		break;
	case AF_INET6:
		out[0] = 6;
		memcpy(out + 1, &a->u.in6.sin6_addr, 16);
		break;
	default:
		break;
	}
	return KEY_LEN;
}

static uint32_t clamp1(uint32_t v)
{
	return v != 0 ? v : 1;
}

void cr_ratelimit_set(struct cr_ratelimit *rl, uint32_t per_sec,
		      uint32_t burst)
{
	rl->per_sec = clamp1(per_sec);
	burst = clamp1(burst);
	/* Thousandths of the burst must fit the counter. */
	rl->burst = burst < UINT32_MAX / MILLI ? burst : UINT32_MAX / MILLI;
}

struct cr_ratelimit *cr_ratelimit_new(uint32_t per_sec, uint32_t burst,
				      struct cr_error **err)
{
	struct cr_ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL) {
		cr_error_set(err, ENOMEM, "out of memory for the rate limiter");
		return NULL;
	}
	randombytes_buf(rl->hash_key, sizeof(rl->hash_key));
	cr_ratelimit_set(rl, per_sec, burst);
	return rl;
}

struct cr_ratelimit *cr_ratelimit_free(struct cr_ratelimit *rl)
{
	free(rl);
	return NULL;
}

int cr_ratelimit_allow(struct cr_ratelimit *rl, const struct cr_addr *from,
		       uint64_t now_ms)
{
	uint8_t key[KEY_LEN], h[crypto_shorthash_BYTES];
	struct rl_entry *set, *e = NULL, *oldest;
	uint64_t v, refill;
	uint32_t cap = rl->burst * MILLI;

	addr_key(from, key);
	crypto_shorthash(h, key, sizeof(key), rl->hash_key);
	memcpy(&v, h, sizeof(v));
	set = &rl->e[(v & (SETS - 1)) * WAYS];
	oldest = &set[0];
	for (int i = 0; i < WAYS; i++) {
		if (set[i].last_ms != 0 &&
		    memcmp(set[i].key, key, KEY_LEN) == 0) {
			e = &set[i];
			break;
		}
		if (set[i].last_ms < oldest->last_ms)
			oldest = &set[i];
	}
	/* now_ms 0 would read as empty. */
	if (now_ms == 0)
		now_ms = 1;
	if (e == NULL) {
		e = oldest;
		memcpy(e->key, key, KEY_LEN);
		e->tokens = cap;
	} else if (now_ms > e->last_ms) {
		/* A bucket that waited `cap` ms is full whatever the rate
		 * (per_sec >= 1): no overflow after a long silence. */
		refill = now_ms - e->last_ms;
		if (refill > cap)
			refill = cap;
		refill *= rl->per_sec;
		e->tokens = refill >= cap - e->tokens ? cap
						       : e->tokens + (uint32_t)refill;
	}
	if (e->tokens > cap)
		e->tokens = cap;
	e->last_ms = now_ms > e->last_ms ? now_ms : e->last_ms;
	if (e->tokens < MILLI)
		return 0;
	e->tokens -= MILLI;
	return 1;
}
