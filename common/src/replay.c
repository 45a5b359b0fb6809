/*
 * The transport replay window: see cr/replay.h.
 *
 * RFC 6479: the window is a ring of CR_REPLAY_WORDS 64-bit words indexed by
 * (counter + 1).  Moving the window forward clears whole words instead of
 * shifting bits, so an advance costs at most CR_REPLAY_WORDS stores however
 * far it jumps.  One word of the ring is always the partly filled "front"
 * word, which is why the usable window is one word short of the ring.
 *
 * Counters are stored as counter + 1 so that top == 0 can mean "nothing
 * accepted yet" while counter 0 is still a valid first datagram.
 */
#include "cr/replay.h"

#include <string.h>

enum {
	WORD_BITS = 64,
	WORD_SHIFT = 6,
	RING_MASK = CR_REPLAY_WORDS - 1,
};

_Static_assert((CR_REPLAY_WORDS & RING_MASK) == 0,
	       "CR_REPLAY_WORDS must be a power of two");

void cr_replay_init(struct cr_replay *r)
{
	memset(r, 0, sizeof(*r));
}

int cr_replay_accept(struct cr_replay *r, uint64_t counter, uint64_t limit)
{
	uint64_t pos, word, bit;

	if (counter >= limit || counter == UINT64_MAX)
		return 0;
	pos = counter + 1;
	/* Older than the window behind the highest accepted counter. */
	if (r->top > CR_REPLAY_WINDOW && pos < r->top - CR_REPLAY_WINDOW)
		return 0;
	word = pos >> WORD_SHIFT;
	if (pos > r->top) {
		uint64_t cur = r->top >> WORD_SHIFT;
		uint64_t n = word - cur;

		/* Clear the words the window slides over; after a jump of a
		 * whole ring or more, that is every word. */
		if (n > CR_REPLAY_WORDS)
			n = CR_REPLAY_WORDS;
		for (uint64_t i = 1; i <= n; i++)
			r->bits[(cur + i) & RING_MASK] = 0;
		r->top = pos;
	}
	bit = (uint64_t)1 << (pos & (WORD_BITS - 1));
	if (r->bits[word & RING_MASK] & bit)
		return 0;
	r->bits[word & RING_MASK] |= bit;
	return 1;
}
