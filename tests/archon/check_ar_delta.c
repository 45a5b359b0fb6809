/*
 * Binary deltas (device-agent/archon/src/delta.c): round trips on
 * rebuilt-binary-like changes, sizes far below the new file, and refusal
 * of damaged deltas.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../check_main.h"
#include "store-internal.h"

#ifdef AR_HAVE_DELTA_MAKE
static uint8_t *rnd(size_t n, uint64_t x)
{
	uint8_t *p = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Low-entropy bytes, like code: patterns diff well. */
		p[i] = (uint8_t)(x % 16);
	}
	return p;
}

static void roundtrip(const uint8_t *old, size_t olen, const uint8_t *nw,
		      size_t nlen, size_t *dsize)
{
	uint8_t *d, *back;
	size_t dlen, blen;
	struct cr_error *err = NULL;

	ck_assert_int_eq(ar_delta_make(old, olen, nw, nlen, &d, &dlen, &err), 0);
	ck_assert_int_eq(ar_delta_apply(old, olen, d, dlen, &back, &blen, &err), 0);
	ck_assert_uint_eq(blen, nlen);
	if (nlen > 0)
		ck_assert_mem_eq(back, nw, nlen);
	*dsize = dlen;
	free(d);
	free(back);
}

START_TEST(test_shifted_binary)
{
	size_t n = 1 << 20, dlen;
	uint8_t *old = rnd(n, 7), *nw = malloc(n + 1000);

	/* An insertion shifts everything after it; sparse byte changes
	 * stand for relocated addresses. */
	memcpy(nw, old, n / 3);
	memset(nw + n / 3, 0xAA, 1000);
	memcpy(nw + n / 3 + 1000, old + n / 3, n - n / 3);
	for (size_t i = 0; i < n; i += 4096)
		nw[i] ^= 0x40;
	roundtrip(old, n, nw, n + 1000, &dlen);
	ck_assert_uint_lt(dlen, (n + 1000) / 50);
	free(old);
	free(nw);
}
END_TEST

START_TEST(test_edges)
{
	uint8_t *a = rnd(5000, 1), *b = rnd(3000, 2);
	size_t dlen;

	roundtrip(NULL, 0, b, 3000, &dlen); /* no base at all */
	roundtrip(a, 5000, NULL, 0, &dlen); /* to an empty file */
	roundtrip(a, 5000, a, 5000, &dlen); /* unchanged */
	roundtrip(a, 1, b, 3000, &dlen);
	roundtrip(a, 5000, b, 3000, &dlen); /* unrelated */
	free(a);
	free(b);
}
END_TEST

START_TEST(test_damaged)
{
	uint8_t *old = rnd(20000, 3), *nw = rnd(20000, 4), *d, *back;
	size_t dlen, blen;
	struct cr_error *err = NULL;

	memcpy(nw, old, 10000);
	ck_assert_int_eq(ar_delta_make(old, 20000, nw, 20000, &d, &dlen, NULL), 0);
	/* Another base than the one it was made from. */
	ck_assert_int_lt(ar_delta_apply(old, 19999, d, dlen, &back, &blen, &err), 0);
	err = cr_error_free(err);
	for (size_t cut = 0; cut < dlen; cut += 7) {
		ck_assert_int_lt(ar_delta_apply(old, 20000, d, cut, &back, &blen, &err), 0);
		ck_assert_ptr_nonnull(err);
		err = cr_error_free(err);
	}
	free(d);
	free(old);
	free(nw);
}
END_TEST

#endif

#ifndef AR_HAVE_DELTA_MAKE
/* Builds without libdivsufsort (the static armel one) make no deltas. */
int main(void)
{
	return 77;
}
#else
static Suite *suite(void)
{
	Suite *s = suite_create("ar_delta");
	TCase *tc = tcase_create("delta");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_shifted_binary);
	tcase_add_test(tc, test_edges);
	tcase_add_test(tc, test_damaged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
#endif
