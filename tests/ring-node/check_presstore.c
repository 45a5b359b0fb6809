/*
 * The presence store's value layout and database (ring-node/src/
 * presstore.c): what node.c and peers.c read and write for every device.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"
#include "rn/presstore.h"

struct store {
	char dir[64];
	struct cr_kv *kv;
};

static void store_open(struct store *s)
{
	struct cr_error *err = NULL;

	snprintf(s->dir, sizeof(s->dir), "/tmp/check_presstore.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	ck_assert_int_eq(cr_kv_open(s->dir, "node", 1 << 22, &s->kv, &err), 0);
}

static void store_close(struct store *s)
{
	DIR *d;
	struct dirent *e;

	cr_kv_free(s->kv);
	d = opendir(s->dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	ck_assert_int_eq(rmdir(s->dir), 0);
}

static void dev_of(uint8_t dev[CR_ID_HASHLEN], uint8_t n)
{
	memset(dev, n, CR_ID_HASHLEN);
}

START_TEST(test_layout)
{
	/* The stored bytes: u64 sequence, little-endian, then the record.
	 * Nodes read what older nodes wrote, so this is pinned. */
	static const uint8_t want[] = { 8, 7, 6, 5, 4, 3, 2, 1, 'a', 'b' };
	uint8_t val[RN_PRES_VALUE_MAX];
	struct rn_pres v;

	ck_assert_uint_eq(rn_pres_encode(0x0102030405060708ULL,
					 (const uint8_t *)"ab", 2, val),
			  sizeof(want));
	ck_assert_mem_eq(val, want, sizeof(want));
	ck_assert_int_eq(rn_pres_decode(val, sizeof(want), &v), 0);
	ck_assert_uint_eq(v.seq, 0x0102030405060708ULL);
	ck_assert_uint_eq(v.rec_len, 2);
	ck_assert_ptr_eq(v.rec, val + 8);
	/* No record, or longer than any record: not a stored value. */
	ck_assert_int_eq(rn_pres_decode(val, 0, &v), -EBADMSG);
	ck_assert_int_eq(rn_pres_decode(val, 8, &v), -EBADMSG);
	ck_assert_int_eq(rn_pres_decode(val, 9, &v), 0);
	ck_assert_int_eq(rn_pres_decode(val, RN_PRES_VALUE_MAX, &v), 0);
	ck_assert_int_eq(rn_pres_decode(val, RN_PRES_VALUE_MAX + 1, &v),
			 -EBADMSG);
}
END_TEST

START_TEST(test_newer)
{
	ck_assert_int_eq(rn_pres_newer(2, 1), 1);
	ck_assert_int_eq(rn_pres_newer(1, 1), 0);
	ck_assert_int_eq(rn_pres_newer(0, 1), 0);
	ck_assert_int_eq(rn_pres_newer(UINT64_MAX, 0), 1);
}
END_TEST

START_TEST(test_get_put_del)
{
	struct store s;
	struct cr_error *err = NULL;
	uint8_t dev[CR_ID_HASHLEN], buf[RN_PRES_VALUE_MAX], raw[16];
	uint8_t big[CP_PRESENCE_MAX + 1];
	struct rn_pres v;
	uint64_t seq = 0;
	size_t len = 0;

	store_open(&s);
	dev_of(dev, 1);
	ck_assert_int_eq(rn_pres_get(s.kv, dev, buf, &v, &err), -ENOENT);
	ck_assert_int_eq(rn_pres_get_seq(s.kv, dev, &seq, &err), -ENOENT);
	ck_assert_int_eq(rn_pres_count(s.kv), 0);

	ck_assert_int_eq(rn_pres_put(s.kv, dev, 5, (const uint8_t *)"rec5", 4,
				     &err),
			 0);
	ck_assert_int_eq(rn_pres_get(s.kv, dev, buf, &v, &err), 0);
	ck_assert_uint_eq(v.seq, 5);
	ck_assert_uint_eq(v.rec_len, 4);
	ck_assert_mem_eq(v.rec, "rec5", 4);
	ck_assert_int_eq(rn_pres_get_seq(s.kv, dev, &seq, &err), 0);
	ck_assert_uint_eq(seq, 5);
	ck_assert_int_eq(rn_pres_count(s.kv), 1);
	/* The database is "presence": what a node's file already holds. */
	ck_assert_int_eq(cr_kv_get(s.kv, "presence", dev, CR_ID_HASHLEN, raw,
				   sizeof(raw), &len, &err),
			 0);
	ck_assert_uint_eq(len, 12);
	ck_assert_mem_eq(raw + 8, "rec5", 4);

	/* Replaced whole (the caller applies the sequence rule). */
	ck_assert_int_eq(rn_pres_put(s.kv, dev, 3, (const uint8_t *)"r3", 2,
				     &err),
			 0);
	ck_assert_int_eq(rn_pres_get(s.kv, dev, buf, &v, &err), 0);
	ck_assert_uint_eq(v.seq, 3);
	ck_assert_uint_eq(v.rec_len, 2);
	ck_assert_int_eq(rn_pres_count(s.kv), 1);

	/* Nothing decode would refuse is written. */
	memset(big, 'x', sizeof(big));
	ck_assert_int_lt(rn_pres_put(s.kv, dev, 9, big, 0, &err), 0);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->code, EINVAL);
	cr_error_free(err);
	err = NULL;
	ck_assert_int_lt(rn_pres_put(s.kv, dev, 9, big, sizeof(big), &err), 0);
	cr_error_free(err);
	err = NULL;
	ck_assert_int_eq(rn_pres_put(s.kv, dev, 9, big, CP_PRESENCE_MAX, &err),
			 0);
	ck_assert_int_eq(rn_pres_get(s.kv, dev, buf, &v, &err), 0);
	ck_assert_uint_eq(v.rec_len, CP_PRESENCE_MAX);

	ck_assert_int_eq(rn_pres_del(s.kv, dev, &err), 0);
	ck_assert_int_eq(rn_pres_del(s.kv, dev, &err), -ENOENT);
	ck_assert_int_eq(rn_pres_get(s.kv, dev, buf, &v, &err), -ENOENT);
	ck_assert_int_eq(rn_pres_count(s.kv), 0);
	ck_assert_ptr_null(err);
	store_close(&s);
}
END_TEST

START_TEST(test_unreadable)
{
	struct store s;
	struct cr_error *err = NULL;
	uint8_t dev[CR_ID_HASHLEN], buf[RN_PRES_VALUE_MAX];
	static const uint8_t only_seq[8] = { 7 };
	struct rn_pres v;
	uint64_t seq = 0;

	store_open(&s);
	dev_of(dev, 2);
	/* A sequence with no record: its sequence reads, the record not. */
	ck_assert_int_eq(cr_kv_put(s.kv, "presence", dev, CR_ID_HASHLEN,
				   only_seq, sizeof(only_seq), &err),
			 0);
	ck_assert_int_eq(rn_pres_get(s.kv, dev, buf, &v, &err), -ENOENT);
	ck_assert_int_eq(rn_pres_get_seq(s.kv, dev, &seq, &err), 0);
	ck_assert_uint_eq(seq, 7);
	ck_assert_int_eq(cr_kv_put(s.kv, "presence", dev, CR_ID_HASHLEN,
				   only_seq, 3, &err),
			 0);
	ck_assert_int_eq(rn_pres_get_seq(s.kv, dev, &seq, &err), -ENOENT);
	store_close(&s);
}
END_TEST

struct walk {
	int calls, records, stop_after;
	uint64_t seq_sum;
};

static int walk_one(void *arg, const uint8_t *dev, const struct rn_pres *v)
{
	struct walk *w = arg;

	w->calls++;
	if (v != NULL) {
		ck_assert_ptr_nonnull(dev);
		ck_assert_uint_eq(v->seq, dev[0]);
		w->records++;
		w->seq_sum += v->seq;
	} else {
		ck_assert_ptr_null(dev);
	}
	return w->stop_after != 0 && w->calls == w->stop_after;
}

START_TEST(test_foreach)
{
	struct store s;
	struct cr_error *err = NULL;
	uint8_t dev[CR_ID_HASHLEN];
	struct walk w = { 0 };

	store_open(&s);
	ck_assert_int_eq(rn_pres_foreach(s.kv, walk_one, &w, &err), 0);
	for (uint8_t i = 1; i <= 3; i++) {
		dev_of(dev, i);
		ck_assert_int_eq(rn_pres_put(s.kv, dev, i,
					     (const uint8_t *)"r", 1, &err),
				 0);
	}
	/* Two entries that are no device's record: still visited, so a
	 * batched walk counts them. */
	ck_assert_int_eq(cr_kv_put(s.kv, "presence", "short", 5, "123456789",
				   9, &err),
			 0);
	dev_of(dev, 9);
	ck_assert_int_eq(cr_kv_put(s.kv, "presence", dev, CR_ID_HASHLEN,
				   "12345678", 8, &err),
			 0);
	ck_assert_int_eq(rn_pres_foreach(s.kv, walk_one, &w, &err), 5);
	ck_assert_int_eq(w.calls, 5);
	ck_assert_int_eq(w.records, 3);
	ck_assert_uint_eq(w.seq_sum, 6);
	memset(&w, 0, sizeof(w));
	w.stop_after = 2;
	ck_assert_int_eq(rn_pres_foreach(s.kv, walk_one, &w, &err), 2);
	ck_assert_ptr_null(err);
	store_close(&s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("presstore");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_newer);
	tcase_add_test(tc, test_get_put_del);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_foreach);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
