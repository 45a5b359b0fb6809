/*
 * The hash map (common/base/src/map.c), where its bugs would hide: deletion by
 * backward shift under collisions.  The test includes map.c to reach the
 * keyed hash, so it can choose keys that share one home slot (and keys
 * homed just after it, whose probe runs interleave and wrap around the end
 * of the table), delete from the middle of a run, reinsert, and look every
 * key up.  A random workload checked against a plain array covers growth.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "../../common/base/src/map.c"

#include "../check_main.h"

enum { KEY_LEN = 8 };

static uint64_t key_of(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull + 1;
}

/* Fills keys[] with n keys whose home slot in m (at its current size) is
 * `home`. */
static void keys_homed_at(const struct cr_map *m, size_t home, uint64_t *keys,
			  size_t n)
{
	size_t found = 0;

	for (uint64_t i = 0; found < n; i++) {
		uint64_t k = key_of(i);

		ck_assert_msg(i < 1000000, "no keys found for slot %zu", home);
		if ((map_hash(m, &k) & (m->n_slots - 1)) == home)
			keys[found++] = k;
	}
}

static int val_tag;

/* A distinct non-NULL value per key. */
static void *val_of(uint64_t k)
{
	return (char *)&val_tag + (k % 4096) + 1;
}

START_TEST(test_collisions)
{
	struct cr_map *m = cr_map_new(KEY_LEN);
	/* 16 slots, grown at 12 entries: stay at 11 so the table keeps its
	 * size and the chosen homes stay homes. */
	uint64_t last[6], first[5];
	const size_t n_slots = MAP_MIN_SLOTS;

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n_slots, n_slots);
	/* Six keys homed at the last slot: their run wraps to slots 0..4;
	 * five keys homed at slot 0 are displaced behind them. */
	keys_homed_at(m, n_slots - 1, last, 6);
	keys_homed_at(m, 0, first, 5);
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(cr_map_put(m, &last[i], val_of(last[i])), 0);
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(cr_map_put(m, &first[i], val_of(first[i])), 0);
	ck_assert_uint_eq(cr_map_count(m), 11);
	ck_assert_uint_eq(m->n_slots, n_slots);

	for (int round = 0; round < 11; round++) {
		/* Delete one key from the middle of the runs (a different
		 * one each round), check everything, reinsert it. */
		uint64_t *victim = round < 6 ? &last[(round + 2) % 6] :
					       &first[(round + 1) % 5];
		uint64_t absent = key_of(2000000 + (uint64_t)round);

		ck_assert_ptr_eq(cr_map_del(m, victim), val_of(*victim));
		ck_assert_uint_eq(cr_map_count(m), 10);
		ck_assert_ptr_null(cr_map_get(m, victim));
		ck_assert_ptr_null(cr_map_del(m, victim));
		for (size_t i = 0; i < 6; i++)
			if (&last[i] != victim)
				ck_assert_msg(cr_map_get(m, &last[i]) ==
						      val_of(last[i]),
					      "round %d: key %zu homed last "
					      "lost",
					      round, i);
		for (size_t i = 0; i < 5; i++)
			if (&first[i] != victim)
				ck_assert_msg(cr_map_get(m, &first[i]) ==
						      val_of(first[i]),
					      "round %d: key %zu homed first "
					      "lost",
					      round, i);
		ck_assert_ptr_null(cr_map_get(m, &absent));
		ck_assert_int_eq(cr_map_put(m, victim, val_of(*victim)), 0);
		ck_assert_uint_eq(cr_map_count(m), 11);
	}
	/* Every key is still there, and iteration sees each once. */
	{
		size_t pos = 0, seen = 0;
		const void *k;
		void *v;

		while (cr_map_next(m, &pos, &k, &v)) {
			uint64_t key;

			memcpy(&key, k, sizeof(key));
			ck_assert_ptr_eq(v, val_of(key));
			seen++;
		}
		ck_assert_uint_eq(seen, 11);
	}
	/* Empty it from the front of the runs: every deletion shifts the
	 * rest back across the wrap. */
	for (size_t i = 0; i < 6; i++) {
		ck_assert_ptr_eq(cr_map_del(m, &last[i]), val_of(last[i]));
		for (size_t j = 0; j < 5; j++)
			ck_assert_ptr_eq(cr_map_get(m, &first[j]),
					 val_of(first[j]));
	}
	for (size_t i = 0; i < 5; i++)
		ck_assert_ptr_eq(cr_map_del(m, &first[i]), val_of(first[i]));
	ck_assert_uint_eq(cr_map_count(m), 0);
	for (size_t i = 0; i < n_slots; i++)
		ck_assert_ptr_null(map_slot(m, i)->value);
	cr_map_free(m);
}
END_TEST

START_TEST(test_replace_and_bad_args)
{
	struct cr_map *m = cr_map_new(KEY_LEN);
	uint64_t k = 1;

	ck_assert_ptr_null(cr_map_new(0));
	ck_assert_ptr_null(cr_map_new(33));
	ck_assert_int_eq(cr_map_put(m, &k, NULL), -EINVAL);
	ck_assert_int_eq(cr_map_put(m, &k, val_of(1)), 0);
	ck_assert_int_eq(cr_map_put(m, &k, val_of(2)), 0);
	ck_assert_uint_eq(cr_map_count(m), 1);
	ck_assert_ptr_eq(cr_map_get(m, &k), val_of(2));
	ck_assert_ptr_null(cr_map_free(m));
}
END_TEST

/* Random puts and deletes over a small key space, checked against an
 * array after every step; the map grows through several sizes. */
START_TEST(test_random_model)
{
	enum { SPACE = 3000, STEPS = 60000 };
	static void *model[SPACE];
	struct cr_map *m = cr_map_new(KEY_LEN);
	size_t count = 0;
	uint32_t r = 12345;

	memset(model, 0, sizeof(model));
	for (int step = 0; step < STEPS; step++) {
		uint64_t k;
		size_t i;

		r = r * 1103515245u + 12345u;
		i = (r >> 8) % SPACE;
		k = key_of(i);
		/* Twice as many deletes as puts in the second half. */
		if (((r >> 4) & 3) < (step < STEPS / 2 ? 3u : 1u)) {
			void *v = val_of(k + (uint64_t)step);

			ck_assert_int_eq(cr_map_put(m, &k, v), 0);
			count += model[i] == NULL;
			model[i] = v;
		} else {
			ck_assert_ptr_eq(cr_map_del(m, &k), model[i]);
			count -= model[i] != NULL;
			model[i] = NULL;
		}
		ck_assert_uint_eq(cr_map_count(m), count);
		if (step % 1000 == 0)
			for (size_t j = 0; j < SPACE; j++) {
				uint64_t kj = key_of(j);

				ck_assert_ptr_eq(cr_map_get(m, &kj), model[j]);
			}
	}
	for (size_t j = 0; j < SPACE; j++) {
		uint64_t kj = key_of(j);

		ck_assert_ptr_eq(cr_map_get(m, &kj), model[j]);
	}
	cr_map_free(m);
}
END_TEST

static Suite *map_suite(void)
{
	Suite *s = suite_create("map");
	TCase *tc = tcase_create("map");

	tcase_add_test(tc, test_collisions);
	tcase_add_test(tc, test_replace_and_bad_args);
	tcase_add_test(tc, test_random_model);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(map_suite());
}
