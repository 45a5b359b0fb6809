/*
 * The transport replay window (common/carrier/hop/src/replay.c), as a
 * numbered table of steps in the manner of WireGuard's selftest/counter.c,
 * plus a comparison against an obviously correct model on random sequences.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr/replay.h"

#include "../check_main.h"

enum {
	W = CR_REPLAY_WINDOW,        /* 448 */
	RING = CR_REPLAY_WORDS * 64, /* 512 bits */
};

#define NOLIMIT UINT64_MAX

/* One step: feed counter (with limit) and expect accept; RESET starts a new
 * window before the step. */
struct step {
	int reset;
	uint64_t counter;
	uint64_t limit;
	int accept;
};

#define T(c, a) { 0, (c), NOLIMIT, (a) }
#define TL(c, l, a) { 0, (c), (l), (a) }
#define RESET(c, a) { 1, (c), NOLIMIT, (a) }

static const struct step steps[] = {
	/*  0 */ T(0, 1),            /* counter 0 is a valid first datagram */
	/*  1 */ T(0, 0),            /* duplicate */
	/*  2 */ T(1, 1),
	/*  3 */ T(1, 0),
	/*  4 */ T(5, 1),            /* a gap */
	/*  5 */ T(3, 1),            /* filled out of order */
	/*  6 */ T(4, 1),
	/*  7 */ T(2, 1),
	/*  8 */ T(3, 0),
	/*  9 */ T(5, 0),
	/* 10 */ T(W, 1),            /* highest = W: 0 is exactly at the edge */
	/* 11 */ T(0, 0),            /* at the edge but already seen */
	/* 12 */ T(6, 1),            /* inside, never seen */
	/* 13 */ T(W - 1, 1),
	/* 14 */ T(W, 0),            /* the highest itself again */
	/* 15 */ T(W + 1, 1),        /* the edge moves to 1 */
	/* 16 */ T(0, 0),            /* now one behind the window */
	/* 17 */ T(1, 0),            /* at the edge, seen */
	/* 18 */ T(7, 1),
	/* 19 */ T(W + 64, 1),       /* the front crosses a word boundary */
	/* 20 */ T(64, 1),           /* exactly the new edge */
	/* 21 */ T(63, 0),           /* one past it */
	/* 22 */ T(W + 63, 1),
	/* 23 */ T(W + 63, 0),
	/* 24 */ T(10 * W, 1),       /* a far jump clears the whole ring */
	/* 25 */ T(10 * W - W, 1),   /* the edge of the new window */
	/* 26 */ T(10 * W - W - 1, 0),
	/* 27 */ T(W + 64, 0),       /* long gone */
	/* 28 */ T(10 * W - 1, 1),
	/* 29 */ T(10 * W, 0),
	/* 30 */ T(10 * W + RING, 1),  /* one whole ring ahead: same bit slot */
	/* 31 */ T(10 * W, 0),       /* its old slot is outside the window */
	/* 32 */ T(10 * W + RING - W, 1), /* edge; the slot of an old value */
	/* 33 */ T(10 * W + RING - 1, 1),
	/* 34 */ T(10 * W + RING - 1, 0),
	/* 35 */ T(10 * W + RING + 1, 1), /* advance by one, same word */
	/* 36 */ T(10 * W + RING + 2, 1),
	/* 37 */ T(10 * W + RING + 1, 0),
	/* Every counter of a window in reverse order after a jump. */
	/* 38 */ RESET(1000, 1),
	/* 39 */ T(999, 1),
	/* 40 */ T(1000 - W, 1),
	/* 41 */ T(1000 - W - 1, 0),
	/* 42 */ T(1000 - W, 0),
	/* The limit: counters >= limit are refused, even the first one. */
	/* 43 */ RESET(0, 1),
	/* 44 */ TL(99, 100, 1),
	/* 45 */ TL(100, 100, 0),
	/* 46 */ TL(101, 100, 0),
	/* 47 */ TL(98, 100, 1),
	/* 48 */ TL(99, 100, 0),
	/* 49 */ RESET(UINT64_MAX, 0), /* UINT64_MAX can never be accepted */
	/* 50 */ T(UINT64_MAX - 1, 1), /* the largest usable counter */
	/* 51 */ T(UINT64_MAX - 1, 0),
	/* 52 */ T(UINT64_MAX - 1 - W, 1),
	/* 53 */ T(UINT64_MAX - 2 - W, 0),
	/* 54 */ T(0, 0),
	/* 55 */ RESET(5, 1),        /* a limit of 0 refuses everything */
	/* 56 */ TL(6, 0, 0),
	/* 57 */ TL(0, 0, 0),
	/* Jumps of every size around one ring leave no stale bits. */
	/* 58 */ RESET(0, 1),
	/* 59 */ T(RING - 1, 1),
	/* 60 */ T(2 * RING - 1, 1),
	/* 61 */ T(2 * RING - 2, 1),
	/* 62 */ T(RING - 1, 0),
	/* 63 */ T(3 * RING + 63, 1),
	/* 64 */ T(3 * RING + 64, 1),
	/* 65 */ T(3 * RING + 62, 1),
	/* 66 */ T(3 * RING + 64 - W, 1),
	/* 67 */ T(3 * RING + 63 - W, 0),
};

START_TEST(test_table)
{
	struct cr_replay r;

	cr_replay_init(&r);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *t = &steps[i];
		int got;

		if (t->reset)
			cr_replay_init(&r);
		got = cr_replay_accept(&r, t->counter, t->limit);
		ck_assert_msg(got == t->accept,
			      "step %zu: counter %llu limit %llu: got %d, "
			      "expected %d",
			      i, (unsigned long long)t->counter,
			      (unsigned long long)t->limit, got, t->accept);
	}
}
END_TEST

/* Each counter of a window accepted once, in the orders that strides
 * coprime with W (448 = 2^6 * 7) give. */
START_TEST(test_window_exhaustive)
{
	for (unsigned stride = 1; stride < 40; stride += 2) {
		struct cr_replay r;
		uint64_t base = 10000;

		if (stride % 7 == 0)
			continue;
		cr_replay_init(&r);
		ck_assert(cr_replay_accept(&r, base + W, NOLIMIT));
		for (unsigned k = 0; k < W; k++) {
			uint64_t c = base + (k * stride) % W;

			ck_assert(cr_replay_accept(&r, c, NOLIMIT));
			ck_assert(!cr_replay_accept(&r, c, NOLIMIT));
		}
		ck_assert(!cr_replay_accept(&r, base - 1, NOLIMIT));
	}
}
END_TEST

/*
 * The model: a counter is accepted iff it is below the limit, not older than
 * W behind the highest accepted, and not accepted before.  Random walks with
 * small and large steps, against a plain array of seen counters.
 */
enum { MODEL_MAX = 1 << 16 };

static void xorshift64(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
}

/* The reference for the model tests: a counter is new when it was never
 * accepted and lies within `window` of the highest accepted one. */
struct model {
	uint8_t *seen; /* MODEL_MAX flags */
	uint64_t highest, pos; /* highest accepted; highest offered */
	int any;
};

static void model_init(struct model *m, uint8_t *seen)
{
	memset(seen, 0, MODEL_MAX);
	m->seen = seen;
	m->highest = m->pos = 0;
	m->any = 0;
}

static int model_new(const struct model *m, uint64_t c, uint64_t window)
{
	return !m->seen[c] && (!m->any || c + window >= m->highest);
}

/* Records that c was offered, and accepted when got. */
static void model_offer(struct model *m, uint64_t c, int got)
{
	if (got) {
		m->seen[c] = 1;
		if (!m->any || c > m->highest)
			m->highest = c;
		m->any = 1;
	}
	if (c > m->pos)
		m->pos = c;
}

START_TEST(test_against_model)
{
	static uint8_t seen[MODEL_MAX];
	uint64_t state = 0x9e3779b97f4a7c15u + (uint64_t)_i;

	for (int round = 0; round < 20; round++) {
		struct cr_replay r;
		struct model m;

		model_init(&m, seen);
		cr_replay_init(&r);
		for (int i = 0; i < 20000; i++) {
			uint64_t c;
			int expect, got;

			xorshift64(&state);
			switch (state % 5) {
			case 0: /* behind, near the edge */
				c = m.pos > W + 8 ? m.pos - W - 8 + (state >> 8) % 16
						  : (state >> 8) % 16;
				break;
			case 1: /* a jump forward */
				c = m.pos + (state >> 8) % 700;
				break;
			default: /* inside the window */
				c = m.pos > W ? m.pos - W + (state >> 8) % (W + 2)
					      : (state >> 8) % (W + 2);
				break;
			}
			if (c >= MODEL_MAX - 1)
				break;
			expect = model_new(&m, c, W);
			got = cr_replay_accept(&r, c, MODEL_MAX - 1);
			ck_assert_msg(got == expect,
				      "round %d step %d counter %llu highest "
				      "%llu: got %d expected %d",
				      round, i, (unsigned long long)c,
				      (unsigned long long)m.highest, got, expect);
			model_offer(&m, c, got);
		}
	}
}
END_TEST

/*
 * The small window against the same model with a window of 63, and random
 * switches between the two forms: the model then only requires that no
 * counter is ever accepted twice, that a new counter at or above the
 * newest is always accepted, and that a new one within the small window
 * (the part both forms keep) is accepted.
 */
enum { SW = CR_REPLAY_SMALL_WINDOW };

START_TEST(test_small_against_model)
{
	static uint8_t seen[MODEL_MAX];
	uint64_t state = 0x243f6a8885a308d3u + (uint64_t)_i;

	for (int round = 0; round < 20; round++) {
		struct cr_replay_small r;
		struct model m;

		model_init(&m, seen);
		cr_replay_small_init(&r);
		for (int i = 0; i < 20000; i++) {
			uint64_t c;
			int expect, got;

			xorshift64(&state);
			switch (state % 4) {
			case 0:
				c = m.pos + (state >> 8) % 100;
				break;
			default:
				c = m.pos > SW + 4
					    ? m.pos - SW - 4 + (state >> 8) % (SW + 8)
					    : (state >> 8) % (SW + 8);
				break;
			}
			if (c >= MODEL_MAX - 1)
				break;
			expect = model_new(&m, c, SW);
			got = cr_replay_small_accept(&r, c, MODEL_MAX - 1);
			ck_assert_msg(got == expect,
				      "round %d step %d counter %llu: got %d "
				      "expected %d", round, i,
				      (unsigned long long)c, got, expect);
			model_offer(&m, c, got);
		}
	}
}
END_TEST

START_TEST(test_switching_forms)
{
	static uint8_t seen[MODEL_MAX];
	uint64_t state = 0x13198a2e03707344u + (uint64_t)_i;

	for (int round = 0; round < 20; round++) {
		struct cr_replay wide;
		struct cr_replay_small small;
		int is_small = round & 1;
		struct model m;

		model_init(&m, seen);
		cr_replay_init(&wide);
		cr_replay_small_init(&small);
		for (int i = 0; i < 20000; i++) {
			uint64_t c;
			int got;

			xorshift64(&state);
			if (state % 61 == 0) {
				if (is_small)
					cr_replay_widen(&small, &wide);
				else
					cr_replay_narrow(&wide, &small);
				is_small = !is_small;
				continue;
			}
			switch (state % 4) {
			case 0:
				c = m.pos + (state >> 8) % 600;
				break;
			default:
				c = m.pos > W ? m.pos - W + (state >> 8) % (W + 2)
					      : (state >> 8) % (W + 2);
				break;
			}
			if (c >= MODEL_MAX - 1)
				break;
			got = is_small ? cr_replay_small_accept(&small, c,
								MODEL_MAX - 1)
				       : cr_replay_accept(&wide, c,
							  MODEL_MAX - 1);
			ck_assert_msg(!(got && m.seen[c]),
				      "round %d step %d: counter %llu "
				      "accepted twice", round, i,
				      (unsigned long long)c);
			if (model_new(&m, c, SW))
				ck_assert_msg(got,
					      "round %d step %d: new counter "
					      "%llu (highest %llu) refused",
					      round, i, (unsigned long long)c,
					      (unsigned long long)m.highest);
			model_offer(&m, c, got);
		}
	}
}
END_TEST

/* A widened window keeps exactly what the small one knew. */
START_TEST(test_widen_exact)
{
	struct cr_replay_small s;
	struct cr_replay w;

	cr_replay_small_init(&s);
	ck_assert(cr_replay_small_accept(&s, 1000, NOLIMIT));
	ck_assert(cr_replay_small_accept(&s, 1000 - SW, NOLIMIT));
	cr_replay_widen(&s, &w);
	ck_assert(!cr_replay_accept(&w, 1000, NOLIMIT));
	ck_assert(!cr_replay_accept(&w, 1000 - SW, NOLIMIT));
	ck_assert(!cr_replay_accept(&w, 1000 - SW - 1, NOLIMIT)); /* older */
	ck_assert(cr_replay_accept(&w, 1000 - SW + 1, NOLIMIT));
	ck_assert(cr_replay_accept(&w, 1001, NOLIMIT));
	ck_assert(cr_replay_accept(&w, 1063, NOLIMIT)); /* same front word */
	ck_assert(cr_replay_accept(&w, 1064, NOLIMIT));
	ck_assert(cr_replay_accept(&w, 1002, NOLIMIT));
	cr_replay_narrow(&w, &s);
	ck_assert(!cr_replay_small_accept(&s, 1064, NOLIMIT));
	ck_assert(!cr_replay_small_accept(&s, 1002, NOLIMIT));
	ck_assert(cr_replay_small_accept(&s, 1003, NOLIMIT));
	ck_assert(!cr_replay_small_accept(&s, 1000, NOLIMIT)); /* too old */
	/* The empty window widens to an empty one. */
	cr_replay_small_init(&s);
	cr_replay_widen(&s, &w);
	ck_assert(cr_replay_accept(&w, 0, NOLIMIT));
}
END_TEST

static Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("window");
	tcase_add_test(tc, test_window_exhaustive);
	tcase_add_loop_test(tc, test_against_model, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("small");
	tcase_add_loop_test(tc, test_small_against_model, 0, 4);
	tcase_add_loop_test(tc, test_switching_forms, 0, 4);
	tcase_add_test(tc, test_widen_exact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(replay_suite());
}
