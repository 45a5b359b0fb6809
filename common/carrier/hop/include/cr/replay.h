/*
 * The sliding replay window of transport counters (RFC 6479 style, as in
 * WireGuard): accepts each counter at most once, and none older than the
 * window behind the highest seen.  Call cr_replay_accept() only after the
 * datagram authenticated, so forged counters cannot move the window.
 *
 * Two sizes: struct cr_replay (448 counters, 72 bytes) for sessions that
 * carry traffic, and struct cr_replay_small (63 counters, 16 bytes) for the
 * many that only exchange a keepalive now and then (a ring node's idle
 * devices).  The session layer switches a session between the two as its
 * traffic comes and goes.  Both conversions are safe: whatever either form
 * cannot represent counts as already seen, so a switch may refuse a
 * datagram reordered far behind the newest, never accept a replay.
 */
#ifndef CR_REPLAY_H
#define CR_REPLAY_H

#include <stdint.h>

enum {
	CR_REPLAY_WORDS = 8,                            /* 512 bits */
	CR_REPLAY_WINDOW = (CR_REPLAY_WORDS - 1) * 64, /* 448 counters */
};

struct cr_replay {
	uint64_t top; /* highest accepted counter + 1; 0 when none yet */
	uint64_t bits[CR_REPLAY_WORDS];
};

void cr_replay_init(struct cr_replay *r);
/* Returns 1 and records counter when it is new and inside the window; 0
 * otherwise.  limit: counters >= limit are always refused. */
int cr_replay_accept(struct cr_replay *r, uint64_t counter, uint64_t limit);

enum { CR_REPLAY_SMALL_WINDOW = 63 };

struct cr_replay_small {
	uint64_t top;  /* as in struct cr_replay */
	uint64_t bits; /* bit d: position top - d seen */
};

void cr_replay_small_init(struct cr_replay_small *r);
/* As cr_replay_accept(), with a window of CR_REPLAY_SMALL_WINDOW. */
int cr_replay_small_accept(struct cr_replay_small *r, uint64_t counter,
			   uint64_t limit);
/* The wide form of r: counters r knows seen stay seen, those within r's
 * window it has not seen stay new, every older one counts as seen. */
void cr_replay_widen(const struct cr_replay_small *r, struct cr_replay *out);
/* The small form of r: the newest CR_REPLAY_SMALL_WINDOW + 1 positions
 * as r has them; older ones fall outside the window. */
void cr_replay_narrow(const struct cr_replay *r, struct cr_replay_small *out);

#endif
