/*
 * The formats of Archon's sources: shard cache requests (ar/cachereq.h)
 * and signed provider records (ar/provider.h).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../check_main.h"
#include "ar/cachereq.h"
#include "ar/provider.h"

START_TEST(test_cachereq_roundtrip)
{
	struct ar_cachereq r = { .kind = AR_OBJ_DELTA, .size = 1208 }, back;
	char target[AR_CACHEREQ_TARGET_MAX + 1];
	uint8_t k1[AR_ID_LEN], k2[AR_ID_LEN], p1[AR_ID_LEN], p2[AR_ID_LEN];
	int n;

	ar_id_of("a", 1, &r.id);
	ar_id_of("b", 1, &r.to);
	snprintf(r.origin, sizeof(r.origin), "%s",
		 "https://cdn.example.com/store a");
	ar_cachereq_set_rel(&r);
	n = ar_cachereq_format(&r, target, sizeof(target));
	ck_assert_int_eq(n, -1); /* a space is no URL */
	snprintf(r.origin, sizeof(r.origin), "%s",
		 "https://cdn.example.com/store");
	n = ar_cachereq_format(&r, target, sizeof(target));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(ar_cachereq_parse(target, (size_t)n, &back, NULL), 0);
	ck_assert_str_eq(back.origin, r.origin);
	ck_assert_str_eq(back.rel, r.rel);
	ck_assert_uint_eq(back.size, 1208);
	/* Deltas are keyed by origin too; placement is the same everywhere. */
	ar_cachereq_key(&r, k1);
	ar_cachereq_place(&r, p1);
	snprintf(back.origin, sizeof(back.origin), "%s",
		 "http://evil.example");
	ar_cachereq_key(&back, k2);
	ar_cachereq_place(&back, p2);
	ck_assert(memcmp(k1, k2, AR_ID_LEN) != 0);
	ck_assert(memcmp(p1, p2, AR_ID_LEN) == 0);
}
END_TEST

START_TEST(test_cachereq_rejects)
{
	static const char *bad[] = {
		"/archon/v1/chunks/ab/00?origin=http://x",
		"/archon/v1/indexes/"
		"0000000000000000000000000000000000000000000000000000000000000000",
		"/archon/v1/indexes/"
		"0000000000000000000000000000000000000000000000000000000000000000"
		"?origin=file%3A%2F%2F%2Fetc",
		"/archon/v1/indexes/"
		"0000000000000000000000000000000000000000000000000000000000000000"
		"?origin=http%3A%2F%2Fx&origin=http%3A%2F%2Fy",
		"/archon/v1/deltas/"
		"0000000000000000000000000000000000000000000000000000000000000000-"
		"0000000000000000000000000000000000000000000000000000000000000000"
		"?origin=http%3A%2F%2Fx",
		"/etc/passwd?origin=http%3A%2F%2Fx",
	};
	struct ar_cachereq r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr_error *err = NULL;

		ck_assert_int_lt(ar_cachereq_parse(bad[i], strlen(bad[i]), &r, &err), 0);
		ck_assert_ptr_nonnull(err);
		cr_error_free(err);
	}
}
END_TEST

START_TEST(test_provider_records)
{
	struct cr_keypair dev, ven;
	struct ar_provider p = { .port = 8080, .expires = 100000 }, got;
	char line[AR_PROVIDER_LINE_MAX];
	int n;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &dev), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &ven), 0);
	ar_id_of("index", 5, &p.index);
	memcpy(p.pk, dev.pk, CR_PKLEN);
	n = ar_provider_sign(&p, &dev, line);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(ar_provider_parse(line, (size_t)n, 20000, &got, NULL), 0);
	ck_assert_uint_eq(got.port, 8080);
	ck_assert(ar_id_equal(&got.index, &p.index));
	/* Expired, or too far ahead. */
	ck_assert_int_lt(ar_provider_parse(line, (size_t)n, 100000, &got, NULL), 0);
	ck_assert_int_lt(ar_provider_parse(line, (size_t)n, 1000, &got, NULL), 0);
	/* Any changed byte breaks the signature or the form. */
	for (int i = 0; i < n - 1; i += 7) {
		char t[AR_PROVIDER_LINE_MAX];

		memcpy(t, line, (size_t)n);
		t[i] = t[i] == '1' ? '2' : '1';
		ck_assert_int_lt(ar_provider_parse(t, (size_t)n, 20000, &got, NULL), 0);
	}
	/* Only a device signs for itself. */
	memcpy(p.pk, ven.pk, CR_PKLEN);
	ck_assert_int_lt(ar_provider_sign(&p, &ven, line), 0);
	ck_assert_int_lt(ar_provider_sign(&p, &dev, line), 0);
	cr_keypair_wipe(&dev);
	cr_keypair_wipe(&ven);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ar_sources");
	TCase *tc = tcase_create("formats");

	tcase_add_test(tc, test_cachereq_roundtrip);
	tcase_add_test(tc, test_cachereq_rejects);
	tcase_add_test(tc, test_provider_records);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
