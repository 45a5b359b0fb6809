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

/* ---- The small window --------------------------------------------------- */

void cr_replay_small_init(struct cr_replay_small *r)
{
	memset(r, 0, sizeof(*r));
}

int cr_replay_small_accept(struct cr_replay_small *r, uint64_t counter,
			   uint64_t limit)
{
	uint64_t pos, d;

	if (counter >= limit || counter == UINT64_MAX)
		return 0;
	pos = counter + 1;
	if (pos > r->top) {
		d = pos - r->top;
		r->bits = d >= WORD_BITS ? 0 : r->bits << d;
		r->bits |= 1;
		r->top = pos;
		return 1;
	}
	d = r->top - pos;
	if (d > CR_REPLAY_SMALL_WINDOW || (r->bits >> d) & 1)
		return 0;
	r->bits |= (uint64_t)1 << d;
	return 1;
}

static int ring_bit(const struct cr_replay *r, uint64_t pos)
{
	return (int)((r->bits[(pos >> WORD_SHIFT) & RING_MASK] >>
		      (pos & (WORD_BITS - 1))) & 1);
}

void cr_replay_widen(const struct cr_replay_small *r, struct cr_replay *out)
{
	uint64_t front;

	cr_replay_init(out);
	out->top = r->top;
	if (r->top == 0)
		return;
	/* Everything older than the small window: seen. */
	memset(out->bits, 0xff, sizeof(out->bits));
	/* Positions above top in the front word are still to come. */
	front = r->top >> WORD_SHIFT;
	if ((r->top & (WORD_BITS - 1)) != WORD_BITS - 1)
		out->bits[front & RING_MASK] &=
			((uint64_t)1 << ((r->top & (WORD_BITS - 1)) + 1)) - 1;
	for (uint64_t d = 0; d <= CR_REPLAY_SMALL_WINDOW && d < r->top; d++) {
		uint64_t pos = r->top - d;
		uint64_t bit = (uint64_t)1 << (pos & (WORD_BITS - 1));
		uint64_t *w = &out->bits[(pos >> WORD_SHIFT) & RING_MASK];

		if ((r->bits >> d) & 1)
			*w |= bit;
		else
			*w &= ~bit;
	}
}

void cr_replay_narrow(const struct cr_replay *r, struct cr_replay_small *out)
{
	cr_replay_small_init(out);
	out->top = r->top;
	for (uint64_t d = 0; d <= CR_REPLAY_SMALL_WINDOW && d < r->top; d++) {
		if (ring_bit(r, r->top - d))
			out->bits |= (uint64_t)1 << d;
	}
}
