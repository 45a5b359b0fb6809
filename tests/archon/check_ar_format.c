/*
 * The index and manifest formats (common/ar_index.c, ar_manifest.c).
 */
#include <check.h>
#include <string.h>

#include "../check_main.h"
#include "ar/index.h"
#include "ar/manifest.h"

/* String literals into the char * fields of the structs under test. */
#define S(x) ((char *)(uintptr_t)(x))

static struct ar_index *sample(void)
{
	struct ar_index *idx = ar_index_new(2048, 8192, 32768);
	struct ar_chunk_ref ch[2];
	struct ar_entry e;

	ar_id_of("one", 3, &ch[0].id);
	ch[0].len = 3000;
	ar_id_of("two", 3, &ch[1].id);
	ch[1].len = 5;
	memset(&e, 0, sizeof(e));
	e.path = S("usr/bin/app");
	e.type = AR_REG;
	e.mode = 04755;
	e.uid = 0;
	e.gid = 50;
	e.mtime = 1700000000;
	e.size = 3005;
	ar_id_of("content", 7, &e.content);
	e.nchunks = 2;
	e.chunks = ch;
	ck_assert_int_eq(ar_index_add(idx, &e, NULL), 0);
	memset(&e, 0, sizeof(e));
	e.path = S("usr");
	e.type = AR_DIR;
	e.mode = 0755;
	ck_assert_int_eq(ar_index_add(idx, &e, NULL), 0);
	e.path = S("usr/lib/libx.so");
	e.type = AR_SYMLINK;
	e.target = S("libx.so.1");
	ck_assert_int_eq(ar_index_add(idx, &e, NULL), 0);
	memset(&e, 0, sizeof(e));
	e.path = S("dev/null");
	e.type = AR_CHR;
	e.mode = 0666;
	e.rdev = 0x103;
	ck_assert_int_eq(ar_index_add(idx, &e, NULL), 0);
	return idx;
}

START_TEST(test_index_roundtrip)
{
	struct ar_index *idx = sample(), *back = NULL;
	uint8_t *buf, *buf2;
	size_t len, len2;
	const struct ar_entry *e;
	struct cr_error *err = NULL;

	ck_assert_int_eq(ar_index_encode(idx, &buf, &len, NULL), 0);
	ck_assert_int_eq(ar_index_decode(buf, len, &back, &err), 0);
	ck_assert_uint_eq(back->n, 4);
	e = ar_index_find(back, "usr/bin/app");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->mode, 04755);
	ck_assert_uint_eq(e->gid, 50);
	ck_assert_uint_eq(e->nchunks, 2);
	ck_assert_uint_eq(e->chunks[1].len, 5);
	ck_assert_str_eq(ar_index_find(back, "usr/lib/libx.so")->target,
			 "libx.so.1");
	ck_assert_uint_eq(ar_index_find(back, "dev/null")->rdev, 0x103);
	ck_assert_ptr_null(ar_index_find(back, "nope"));
	/* Canonical: encoding again gives the same bytes (the same name). */
	ck_assert_int_eq(ar_index_encode(back, &buf2, &len2, NULL), 0);
	ck_assert_uint_eq(len, len2);
	ck_assert_mem_eq(buf, buf2, len);
	free(buf2);
	ar_index_free(back);

	/* Every truncation is refused with a message. */
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_lt(ar_index_decode(buf, cut, &back, &err), 0);
		ck_assert_ptr_nonnull(err);
		err = cr_error_free(err);
	}
	free(buf);
	ar_index_free(idx);
}
END_TEST

START_TEST(test_index_rejects)
{
	struct ar_index *idx = sample(), *back;
	struct cr_error *err = NULL;
	struct ar_entry e = { .path = S("a/../b"), .type = AR_DIR };
	uint8_t *buf;
	size_t len;

	ck_assert_int_lt(ar_index_add(idx, &e, &err), 0);
	err = cr_error_free(err);
	e.path = S("/etc");
	ck_assert_int_lt(ar_index_add(idx, &e, &err), 0);
	err = cr_error_free(err);
	e.path = S("usr"); /* twice */
	ck_assert_int_eq(ar_index_add(idx, &e, NULL), 0);
	ck_assert_int_lt(ar_index_encode(idx, &buf, &len, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "twice"));
	err = cr_error_free(err);
	ar_index_free(idx);

	idx = sample();
	ck_assert_int_eq(ar_index_encode(idx, &buf, &len, NULL), 0);
	/* A chunk length that no longer adds up to the file size. */
	for (size_t i = 0; i + 4 <= len; i++) {
		if (buf[i] == 0xb8 && buf[i + 1] == 0x0b && buf[i + 2] == 0 &&
		    buf[i + 3] == 0) { /* 3000 */
			buf[i] = 0xb9;
			break;
		}
	}
	ck_assert_int_lt(ar_index_decode(buf, len, &back, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "add up"));
	err = cr_error_free(err);
	buf[0] = 'X';
	ck_assert_int_lt(ar_index_decode(buf, len, &back, &err), 0);
	err = cr_error_free(err);
	free(buf);
	ar_index_free(idx);
}
END_TEST

START_TEST(test_path_valid)
{
	ck_assert(ar_path_valid("a", 1));
	ck_assert(ar_path_valid("a/b.c/..d", 9));
	ck_assert(!ar_path_valid("", 0));
	ck_assert(!ar_path_valid("/a", 2));
	ck_assert(!ar_path_valid("a/", 2));
	ck_assert(!ar_path_valid("a//b", 4));
	ck_assert(!ar_path_valid("a/./b", 5));
	ck_assert(!ar_path_valid("..", 2));
	ck_assert(!ar_path_valid("a/..", 4));
}
END_TEST

START_TEST(test_manifest_signed)
{
	struct cr_keypair kp;
	struct ar_manifest m = { 0 }, *back = NULL;
	struct ar_delta_ref d[1];
	struct cr_error *err = NULL;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp), 0);
	m.name = S("acme/app:1.2");
	ar_id_of("idx", 3, &m.index);
	m.index_size = 1234;
	m.created = 42;
	m.config = S("{\"config\":{}}");
	m.config_len = strlen(m.config);
	ar_id_of("a", 1, &d[0].from);
	ar_id_of("b", 1, &d[0].to);
	d[0].size = 999;
	m.deltas = d;
	m.ndeltas = 1;
	ck_assert_int_eq(ar_manifest_encode(&m, &kp, &buf, &len, NULL), 0);
	ck_assert_int_eq(ar_manifest_decode(buf, len, &back, &err), 0);
	ck_assert_str_eq(back->name, "acme/app:1.2");
	ck_assert(back->is_signed);
	ck_assert_mem_eq(back->pk, kp.pk, CR_PKLEN);
	ck_assert_str_eq(back->config, m.config);
	ck_assert_uint_eq(back->ndeltas, 1);
	ck_assert_uint_eq(back->deltas[0].size, 999);
	ar_manifest_free(back);
	/* Any flipped byte is refused (most by the signature). */
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 1;
		ck_assert_int_lt(ar_manifest_decode(buf, len, &back, &err), 0);
		err = cr_error_free(err);
		buf[i] ^= 1;
	}
	free(buf);
	/* Unsigned manifests parse too, and say so. */
	ck_assert_int_eq(ar_manifest_encode(&m, NULL, &buf, &len, NULL), 0);
	ck_assert_int_eq(ar_manifest_decode(buf, len, &back, &err), 0);
	ck_assert(!back->is_signed);
	ar_manifest_free(back);
	free(buf);
}
END_TEST

START_TEST(test_names)
{
	ck_assert(ar_name_valid("app:v1"));
	ck_assert(ar_name_valid("acme/app-x_y.z:1.0-rc1"));
	ck_assert(!ar_name_valid("app"));
	ck_assert(!ar_name_valid(":v1"));
	ck_assert(!ar_name_valid("app:"));
	ck_assert(!ar_name_valid("../app:v1"));
	ck_assert(!ar_name_valid("a//b:v1"));
	ck_assert(!ar_name_valid("app:.hidden"));
	ck_assert(!ar_name_valid("app:v/1"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ar_format");
	TCase *tc = tcase_create("index");

	tcase_add_test(tc, test_index_roundtrip);
	tcase_add_test(tc, test_index_rejects);
	tcase_add_test(tc, test_path_valid);
	suite_add_tcase(s, tc);
	tc = tcase_create("manifest");
	tcase_add_test(tc, test_manifest_signed);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
