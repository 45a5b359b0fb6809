/*
 * The sliding replay window of transport counters (RFC 6479 style, as in
 * WireGuard): accepts each counter at most once, and none older than the
 * window behind the highest seen.  Call cr_replay_accept() only after the
 * datagram authenticated, so forged counters cannot move the window.
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

#endif
