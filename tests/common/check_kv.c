/*
 * The LMDB store (common/base/src/kv.c): values survive a reopen, absence is
 * -ENOENT and nothing else, a group commit makes its writes visible inside
 * the group and durable at the commit, and a commit that fails (the map
 * filled up inside the group) is reported: as an error by
 * cr_kv_group_commit(), as a logged warning by cr_kv_free().
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cr/kv.h"

#include "../check_main.h"

/* Small enough that a few hundred KiB of values fill it. */
enum { SMALL_MAP = 256 * 1024, BIG_VAL = 3000 };

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/check_kv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/t.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.mdb-lock", dir);
	unlink(path);
	rmdir(dir);
}

static struct cr_kv *open_kv(size_t map_size)
{
	struct cr_kv *kv = NULL;
	struct cr_error *err = NULL;

	ck_assert_msg(cr_kv_open(dir, "t", map_size, &kv, &err) == 0, "%s",
		      cr_error_msg(err));
	return kv;
}

static int get_u32(struct cr_kv *kv, const char *key, uint32_t *v)
{
	struct cr_error *err = NULL;
	size_t len = 0;
	int rc;

	rc = cr_kv_get(kv, "db", key, strlen(key), v, sizeof(*v), &len, &err);
	if (rc == 0)
		ck_assert_uint_eq(len, sizeof(*v));
	cr_error_free(err);
	return rc;
}

static void put_u32(struct cr_kv *kv, const char *key, uint32_t v)
{
	struct cr_error *err = NULL;

	ck_assert_msg(cr_kv_put(kv, "db", key, strlen(key), &v, sizeof(v),
				&err) == 0,
		      "%s", cr_error_msg(err));
}

START_TEST(test_put_get_del)
{
	struct cr_kv *kv = open_kv(SMALL_MAP);
	struct cr_error *err = NULL;
	uint32_t v = 0;

	/* A database never written reads as absent, not as an error. */
	ck_assert_int_eq(get_u32(kv, "a", &v), -ENOENT);
	put_u32(kv, "a", 7);
	put_u32(kv, "b", 8);
	ck_assert_int_eq(get_u32(kv, "a", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(cr_kv_count(kv, "db"), 2);
	ck_assert_int_eq(cr_kv_del(kv, "db", "a", 1, &err), 0);
	ck_assert_int_eq(cr_kv_del(kv, "db", "a", 1, &err), -ENOENT);
	ck_assert_int_eq(get_u32(kv, "a", &v), -ENOENT);
	kv = cr_kv_free(kv);

	kv = open_kv(SMALL_MAP);
	ck_assert_int_eq(get_u32(kv, "b", &v), 0);
	ck_assert_uint_eq(v, 8);
	ck_assert_int_eq(get_u32(kv, "a", &v), -ENOENT);
	cr_kv_free(kv);
}
END_TEST

START_TEST(test_group_commit)
{
	struct cr_kv *kv = open_kv(SMALL_MAP);
	struct cr_error *err = NULL;
	uint32_t v = 0;

	/* Commit with none open does nothing. */
	ck_assert_int_eq(cr_kv_group_commit(kv, &err), 0);
	ck_assert_int_eq(cr_kv_group_begin(kv, &err), 0);
	/* A second begin joins the open group. */
	ck_assert_int_eq(cr_kv_group_begin(kv, &err), 0);
	for (uint32_t i = 0; i < 50; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%u", i);
		put_u32(kv, key, i);
	}
	/* Reads inside the group see its writes. */
	ck_assert_int_eq(get_u32(kv, "k42", &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(cr_kv_count(kv, "db"), 50);
	ck_assert_int_eq(cr_kv_del(kv, "db", "k0", 2, &err), 0);
	ck_assert_int_eq(cr_kv_group_commit(kv, &err), 0);
	/* The group is closed: the next write is its own transaction. */
	put_u32(kv, "after", 1);
	kv = cr_kv_free(kv);

	kv = open_kv(SMALL_MAP);
	ck_assert_int_eq(cr_kv_count(kv, "db"), 50);
	ck_assert_int_eq(get_u32(kv, "k49", &v), 0);
	ck_assert_uint_eq(v, 49);
	ck_assert_int_eq(get_u32(kv, "k0", &v), -ENOENT);
	ck_assert_int_eq(get_u32(kv, "after", &v), 0);
	cr_kv_free(kv);
}
END_TEST

/* Writes big values inside an open group until the map is full; returns
 * how many went in. */
static int fill_group(struct cr_kv *kv)
{
	static uint8_t big[BIG_VAL];
	struct cr_error *err = NULL;
	int i;

	ck_assert_int_eq(cr_kv_group_begin(kv, &err), 0);
	for (i = 0; i < 1000; i++) {
		char key[16];

		snprintf(key, sizeof(key), "big%d", i);
		if (cr_kv_put(kv, "db", key, strlen(key), big, sizeof(big),
			      &err) < 0)
			break;
	}
	ck_assert_msg(i < 1000, "the map never filled up");
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "LMDB write"));
	cr_error_free(err);
	return i;
}

START_TEST(test_group_commit_failure)
{
	struct cr_kv *kv = open_kv(SMALL_MAP);
	struct cr_error *err = NULL;
	uint32_t v = 0;

	put_u32(kv, "before", 5);
	ck_assert_int_gt(fill_group(kv), 0);
	/* Reads in the spoiled group fail, and not as absence: a caller
	 * must not answer "not found" for a record that is there. */
	{
		int rc = get_u32(kv, "before", &v);

		ck_assert_int_lt(rc, 0);
		ck_assert_int_ne(rc, -ENOENT);
	}
	/* The failed write spoiled the group: its commit is an error. */
	ck_assert_int_lt(cr_kv_group_commit(kv, &err), 0);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "LMDB commit"));
	cr_error_free(err);
	err = NULL;
	/* None of the group's writes landed; the store still works. */
	ck_assert_int_eq(get_u32(kv, "big0", &v), -ENOENT);
	ck_assert_int_eq(get_u32(kv, "before", &v), 0);
	ck_assert_uint_eq(v, 5);
	put_u32(kv, "later", 6);
	cr_kv_free(kv);
}
END_TEST

START_TEST(test_free_reports_failed_commit)
{
	struct cr_kv *kv = open_kv(SMALL_MAP);
	char path[128], log[4096];
	ssize_t n;
	int fd;

	fill_group(kv);
	/* cr_kv_free() commits the open group; its failure must reach the
	 * log (stderr here), not vanish. */
	snprintf(path, sizeof(path), "%s/stderr", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	cr_kv_free(kv);
	fflush(stderr);
	n = pread(fd, log, sizeof(log) - 1, 0);
	ck_assert_int_ge(n, 0);
	log[n] = '\0';
	close(fd);
	unlink(path);
	ck_assert_msg(strstr(log, "LMDB commit") != NULL &&
			      strstr(log, "at close") != NULL,
		      "cr_kv_free logged: '%s'", log);
}
END_TEST

static Suite *kv_suite(void)
{
	Suite *s = suite_create("kv");
	TCase *tc = tcase_create("kv");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get_del);
	tcase_add_test(tc, test_group_commit);
	tcase_add_test(tc, test_group_commit_failure);
	tcase_add_test(tc, test_free_reports_failed_commit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(kv_suite());
}
