/*
 * The content-defined chunker and chunk ids (common/ar_chunk.c).
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "../check_main.h"
#include "ar/chunk.h"

enum { DATA_LEN = 4 << 20, MAXCUTS = 4096 };

static uint8_t *random_data(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
	return p;
}

/* Cut offsets (chunk ends) of data fed in pieces of `step` bytes. */
static size_t cuts_of(const uint8_t *d, size_t n, size_t step, size_t *cuts)
{
	struct ar_chunker c;
	size_t ncuts = 0, pos = 0;

	ck_assert_int_eq(ar_chunker_init(&c, 2048, 8192, 32768), 0);
	while (pos < n) {
		size_t len = n - pos < step ? n - pos : step;
		size_t k = ar_chunker_scan(&c, d + pos, len);

		if (k == AR_CHUNKER_MORE) {
			pos += len;
			continue;
		}
		ck_assert_uint_ge(k, 1);
		ck_assert_uint_le(k, len);
		pos += k;
		ck_assert_uint_lt(ncuts, MAXCUTS);
		cuts[ncuts++] = pos;
	}
	if (ncuts == 0 || cuts[ncuts - 1] != n)
		cuts[ncuts++] = n;
	return ncuts;
}

START_TEST(test_sizes_within_bounds)
{
	uint8_t *d = random_data(DATA_LEN, 1);
	size_t *cuts = malloc(MAXCUTS * sizeof(*cuts)), n, prev = 0;
	uint64_t total = 0;

	n = cuts_of(d, DATA_LEN, DATA_LEN, cuts);
	for (size_t i = 0; i < n; i++) {
		size_t len = cuts[i] - prev;

		if (i + 1 < n)
			ck_assert_uint_ge(len, 2048);
		ck_assert_uint_le(len, 32768);
		total += len;
		prev = cuts[i];
	}
	ck_assert_uint_eq(total, DATA_LEN);
	/* The average lands near 8 KiB (normalized chunking), not at min
	 * or max. */
	ck_assert_uint_gt(DATA_LEN / n, 6 * 1024);
	ck_assert_uint_lt(DATA_LEN / n, 14 * 1024);
	free(cuts);
	free(d);
}
END_TEST

START_TEST(test_streaming_equals_one_shot)
{
	uint8_t *d = random_data(1 << 20, 2);
	size_t *a = malloc(MAXCUTS * sizeof(*a)), *b = malloc(MAXCUTS * sizeof(*b));
	size_t na = cuts_of(d, 1 << 20, 1 << 20, a);
	static const size_t steps[] = { 1, 7, 63, 64, 65, 4096, 10000 };

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		size_t nb = cuts_of(d, 1 << 20, steps[s], b);

		ck_assert_uint_eq(na, nb);
		ck_assert_mem_eq(a, b, na * sizeof(*a));
	}
	free(a);
	free(b);
	free(d);
}
END_TEST

/* Inserting bytes changes only the chunks around the insertion: every
 * cut well after it reappears, shifted by the insertion's length. */
START_TEST(test_insertion_is_local)
{
	size_t n = 2 << 20, at = n / 2, ins = 100;
	uint8_t *d = random_data(n, 3), *e = malloc(n + ins);
	size_t *a = malloc(MAXCUTS * sizeof(*a)), *b = malloc(MAXCUTS * sizeof(*b));
	size_t na, nb, same_before = 0, same_after = 0, after = 0;

	memcpy(e, d, at);
	memset(e + at, 'x', ins);
	memcpy(e + at + ins, d + at, n - at);
	na = cuts_of(d, n, n, a);
	nb = cuts_of(e, n + ins, n + ins, b);
	for (size_t i = 0; i < na; i++) {
		int found = 0;

		for (size_t j = 0; j < nb && !found; j++) {
			if (a[i] < at && b[j] == a[i])
				found = 1;
			if (a[i] >= at && b[j] == a[i] + ins)
				found = 1;
		}
		if (a[i] < at)
			same_before += found;
		else {
			after++;
			same_after += found;
		}
	}
	/* Every cut before the insertion survives; after it, all but the
	 * first couple re-synchronise. */
	ck_assert_uint_ge(same_before + 1, na - after);
	ck_assert_uint_ge(same_after + 3, after);
	free(a);
	free(b);
	free(d);
	free(e);
}
END_TEST

START_TEST(test_bad_params)
{
	struct ar_chunker c;

	ck_assert_int_eq(ar_chunker_init(&c, 32, 8192, 32768), -EINVAL);
	ck_assert_int_eq(ar_chunker_init(&c, 2048, 8000, 32768), -EINVAL);
	ck_assert_int_eq(ar_chunker_init(&c, 9000, 8192, 32768), -EINVAL);
	ck_assert_int_eq(ar_chunker_init(&c, 2048, 8192, 4096), -EINVAL);
	ck_assert_int_eq(ar_chunker_init(&c, 64, 64, 64), 0);
}
END_TEST

START_TEST(test_id_hex)
{
	struct ar_id id, back;
	char hex[AR_ID_HEX];

	ar_id_of("abc", 3, &id);
	ar_id_hex(&id, hex);
	/* BLAKE2b-256("abc") */
	ck_assert_str_eq(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
	ck_assert_int_eq(ar_id_parse(hex, &back), 0);
	ck_assert(ar_id_equal(&id, &back));
	hex[3] = 'D'; /* hex, but ids are lowercase */
	ck_assert_int_eq(ar_id_parse(hex, &back), -EINVAL);
	hex[3] = 'G';
	ck_assert_int_eq(ar_id_parse(hex, &back), -EINVAL);
	ck_assert_int_eq(ar_id_parse("abcd", &back), -EINVAL);
	hex[3] = 'd';
	hex[AR_ID_HEX - 1] = 'a'; /* 65 digits: no NUL where it belongs */
	{
		char longer[AR_ID_HEX + 1];

		memcpy(longer, hex, AR_ID_HEX);
		longer[AR_ID_HEX] = '\0';
		ck_assert_int_eq(ar_id_parse(longer, &back), -EINVAL);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ar_chunk");
	TCase *tc = tcase_create("chunker");

	tcase_add_test(tc, test_sizes_within_bounds);
	tcase_add_test(tc, test_streaming_equals_one_shot);
	tcase_add_test(tc, test_insertion_is_local);
	tcase_add_test(tc, test_bad_params);
	tcase_add_test(tc, test_id_hex);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
