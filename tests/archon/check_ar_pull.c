/*
 * The pull and store API the agent uses (ar/pull.h, ar/store.h): a pinned
 * index or config refused before anything is written, the free-space
 * reserve refused with the store untouched, the phase lines, a tampered
 * object caught before a version starts, and remove / gc / has /
 * version_bytes.  The origin is a folder (file://) published by the same
 * library; the publisher is private API (store-internal.h).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check_main.h"
#include "ar/pull.h"
#include "ar/store.h"
#include "store-internal.h"

static char tmp[64];
static char origin_url[256];

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* A store (tmp/pub) holding app:1 and app:2 (sharing common.txt),
 * published to tmp/origin. */
static void setup(void)
{
	char src[128], pub[128], to[128];
	struct ar_store *st;
	struct cr_error *err = NULL;
	char big[20000];

	cr_check_tmpdir(tmp, "check_ar_pull");
	snprintf(src, sizeof(src), "%s/src", tmp);
	snprintf(pub, sizeof(pub), "%s/pub", tmp);
	snprintf(to, sizeof(to), "%s/origin", tmp);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(src, "common.txt", big);
	put(src, "app.sh", "echo one\n");
	ck_assert_int_eq(ar_store_open(pub, &st, &err), 0);
	ck_assert_int_eq(ar_import(st, src, "app:1", 0, &err), 0);
	ck_assert_int_eq(ar_publish(st, "app:1", to, NULL, 0, 0, &err), 0);
	put(src, "app.sh", "echo two\n");
	ck_assert_int_eq(ar_import(st, src, "app:2", 0, &err), 0);
	ck_assert_int_eq(ar_publish(st, "app:2", to, NULL, 0, 0, &err), 0);
	ar_store_free(st);
	snprintf(origin_url, sizeof(origin_url), "file://%s", to);
}

static void teardown(void)
{
	cr_check_tmpdir_remove(tmp);
}

/* The index id the publisher's store recorded for name. */
static void index_of(const char *name, struct ar_id *id)
{
	char pub[128];
	struct ar_store *st;
	struct ar_manifest *m;

	snprintf(pub, sizeof(pub), "%s/pub", tmp);
	ck_assert_int_eq(ar_store_open_mode(pub, AR_STORE_READ, &st, NULL), 0);
	ck_assert_int_eq(ar_store_get_manifest(st, name, &m, NULL), 0);
	*id = m->index;
	ar_manifest_free(m);
	ar_store_free(st);
}

/* Every path below dir with its size, one a line, sorted (the lock file's
 * and the database's contents aside: opening the store touches them). */
static void listing(const char *dir, char *out, size_t cap)
{
	char cmd[512];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && find . -path ./archon.mdb -prune -o -path ./archon.mdb-lock "
		 "-prune -o -path ./lock -prune -o -printf '%%p %%s\\n' | sort",
		 dir);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	pclose(p);
}

static struct ar_store *device(const char *sub)
{
	char dir[128];
	struct ar_store *st;
	struct cr_error *err = NULL;

	snprintf(dir, sizeof(dir), "%s/%s", tmp, sub);
	ck_assert_int_eq(ar_store_open(dir, &st, &err), 0);
	return st;
}

START_TEST(test_pinned_index_and_phases)
{
	struct ar_store *st = device("dev");
	struct ar_pull_opts o = { 0 };
	struct cr_error *err = NULL;
	struct ar_id idx, cfg;
	char *text = NULL, hex[AR_ID_HEX], want[200];
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	index_of("app:1", &idx);
	ar_id_of("", 0, &cfg); /* a folder import has no config */
	/* No publisher key, not insecure: the pinned index is the trust. */
	o.expect_index = idx.b;
	o.expect_config_digest = cfg.b;
	o.phases = 1;
	ck_assert_int_eq(ar_pull(st, origin_url, "app:1", &o, out, &err), 0);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "receiving archon index .. complete\n"));
	{
		const char *l = strstr(text, "complete\n") + 9;
		size_t n = 0, m = 0;

		/* Nothing held yet: every shard is new. */
		ck_assert_int_eq(sscanf(l, "%zu shards with %*[^(](downloading %zu new shards",
					&n, &m), 2);
		ck_assert_uint_ge(n, 2);
		ck_assert_uint_eq(n, m);
	}
	ck_assert_ptr_nonnull(strstr(text, "receiving shards from the origin\n"));
	snprintf(want, sizeof(want), "\n %s\n ", ar_id_hex(&idx, hex));
	ck_assert_ptr_nonnull(strstr(text, want));
	/* The summary of archon pull is not there. */
	ck_assert_ptr_null(strstr(text, "sources:"));
	ck_assert_int_eq(ar_store_has(st, "app:1"), 1);
	ck_assert_int_eq(ar_store_has(st, "app:2"), 0);
	free(text);

	/* app:2 over app:1: one new shard, and the shared ones not fetched. */
	text = NULL;
	out = open_memstream(&text, &len);
	index_of("app:2", &idx);
	o.expect_index = idx.b;
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, out, &err), 0);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "(downloading 1 new shards with 9 B)"));
	free(text);
	ar_store_free(st);
}
END_TEST

START_TEST(test_pin_mismatch_refused)
{
	struct ar_store *st = device("dev");
	struct ar_pull_opts o = { 0 };
	struct cr_error *err = NULL;
	struct ar_id other, cfg;
	char dir[128], before[8192], after[8192], hex[AR_ID_HEX];

	snprintf(dir, sizeof(dir), "%s/dev", tmp);
	listing(dir, before, sizeof(before));
	/* The release pins app:1's index; the origin's app:2 has another. */
	index_of("app:1", &other);
	o.expect_index = other.b;
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), -1);
	ck_assert_int_eq(err->code, EPERM);
	ck_assert_ptr_nonnull(strstr(err->msg, "the release pins"));
	ck_assert_ptr_nonnull(strstr(err->msg, ar_id_hex(&other, hex)));
	err = cr_error_free(err);
	/* The right index but another config. */
	index_of("app:2", &other);
	ar_id_of("{}", 2, &cfg);
	o.expect_index = other.b;
	o.expect_config_digest = cfg.b;
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), -1);
	ck_assert_int_eq(err->code, EPERM);
	ck_assert_ptr_nonnull(strstr(err->msg, "has config"));
	err = cr_error_free(err);
	ck_assert_int_eq(ar_store_has(st, "app:2"), 0);
	listing(dir, after, sizeof(after));
	ck_assert_str_eq(before, after);
	/* Neither pin nor key nor insecure: refused. */
	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), -1);
	ck_assert_int_eq(err->code, EPERM);
	err = cr_error_free(err);
	ar_store_free(st);
}
END_TEST

START_TEST(test_reserve_refused_untouched)
{
	struct ar_store *st = device("dev");
	struct ar_pull_opts o = { .insecure = 1 };
	struct cr_error *err = NULL;
	char dir[128], before[8192], after[8192];

	snprintf(dir, sizeof(dir), "%s/dev", tmp);
	ck_assert_int_eq(ar_pull(st, origin_url, "app:1", &o, NULL, &err), 0);
	listing(dir, before, sizeof(before));
	/* More than any disk here has free. */
	o.reserve_bytes = UINT64_MAX / 2;
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), -1);
	ck_assert_int_eq(err->code, ENOSPC);
	ck_assert_ptr_nonnull(strstr(err->msg, "must stay free"));
	ck_assert_ptr_nonnull(strstr(err->msg, "nothing was written"));
	err = cr_error_free(err);
	listing(dir, after, sizeof(after));
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(ar_store_has(st, "app:2"), 0);
	ck_assert_int_eq(ar_store_has(st, "app:1"), 1);
	/* A reserve the disk has: the pull goes through. */
	o.reserve_bytes = 4096;
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), 0);
	ck_assert_int_eq(ar_store_has(st, "app:2"), 1);
	ar_store_free(st);
}
END_TEST

/* The object file holding app.sh of name (found by its content). */
static void tamper(struct ar_store *st, const char *name, const char *file)
{
	struct ar_manifest *m;
	struct ar_index *idx;
	int done = 0;

	ck_assert_int_eq(ar_store_get_manifest(st, name, &m, NULL), 0);
	ck_assert_int_eq(ar_store_get_index(st, &m->index, &idx, NULL), 0);
	for (size_t i = 0; i < idx->n; i++) {
		struct ar_objkey k;
		char rel[AR_OBJPATH_MAX], path[256];
		int fd;

		if (strcmp(idx->e[i].path, file) != 0)
			continue;
		ar_objkey_of(&idx->e[i], &k);
		ar_objkey_path(&k, rel);
		snprintf(path, sizeof(path), "%s/objects/%s", st->dir, rel);
		ck_assert_int_eq(chmod(path, 0644), 0);
		fd = open(path, O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pwrite(fd, "rm -rf", 6, 0), 6);
		close(fd);
		done = 1;
	}
	ck_assert(done);
	ar_index_free(idx);
	ar_manifest_free(m);
}

START_TEST(test_verify_version_tampered)
{
	struct ar_store *st = device("dev");
	struct ar_pull_opts o = { .insecure = 1 };
	struct cr_error *err = NULL;

	ck_assert_int_eq(ar_pull(st, origin_url, "app:1", &o, NULL, &err), 0);
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), 0);
	ck_assert_int_eq(ar_store_verify_version(st, "app:2", &err), 0);
	tamper(st, "app:2", "app.sh");
	ck_assert_int_eq(ar_store_verify_version(st, "app:2", &err), -1);
	ck_assert_int_eq(err->code, EBADMSG);
	ck_assert_ptr_nonnull(strstr(err->msg, "app.sh"));
	err = cr_error_free(err);
	/* app:1 shares common.txt only: still whole. */
	ck_assert_int_eq(ar_store_verify_version(st, "app:1", &err), 0);
	ck_assert_int_eq(ar_store_verify_version(st, "app:9", &err), -1);
	ck_assert_int_eq(err->code, ENOENT);
	err = cr_error_free(err);
	ar_store_free(st);
}
END_TEST

START_TEST(test_remove_gc_bytes)
{
	struct ar_store *st = device("dev");
	struct ar_pull_opts o = { .insecure = 1 };
	struct cr_error *err = NULL;
	uint64_t u1, t1, u2, t2, freed = 0;

	ck_assert_int_eq(ar_pull(st, origin_url, "app:1", &o, NULL, &err), 0);
	ck_assert_int_eq(ar_pull(st, origin_url, "app:2", &o, NULL, &err), 0);
	ck_assert_int_eq(ar_store_version_bytes(st, "app:1", &u1, &t1, &err), 0);
	ck_assert_int_eq(ar_store_version_bytes(st, "app:2", &u2, &t2, &err), 0);
	/* common.txt (20 KB) is shared: each version alone costs app.sh. */
	ck_assert_uint_ge(t1, 20000);
	ck_assert_uint_gt(u1, 0);
	ck_assert_uint_lt(u1, t1);
	ck_assert_uint_eq(t1, t2);
	ck_assert_uint_eq(u1, u2);
	/* gc with both names keeps everything. */
	ck_assert_int_eq(ar_store_gc(st, &freed, &err), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(ar_store_remove(st, "app:1", &err), 0);
	ck_assert_int_eq(ar_store_has(st, "app:1"), 0);
	ck_assert_int_eq(ar_store_remove(st, "app:1", &err), -1);
	ck_assert_int_eq(err->code, ENOENT);
	err = cr_error_free(err);
	/* Now app:2 alone holds common.txt. */
	ck_assert_int_eq(ar_store_version_bytes(st, "app:2", &u2, &t2, &err), 0);
	ck_assert_uint_eq(u2, t2);
	ck_assert_int_eq(ar_store_gc(st, &freed, &err), 0);
	ck_assert_uint_gt(freed, 0);
	ck_assert_uint_lt(freed, 100);
	ck_assert_int_eq(ar_store_verify_version(st, "app:2", &err), 0);
	ck_assert_int_eq(ar_store_has(st, "app:2"), 1);
	ar_store_free(st);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ar_pull");
	TCase *tc = tcase_create("pull");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pinned_index_and_phases);
	tcase_add_test(tc, test_pin_mismatch_refused);
	tcase_add_test(tc, test_reserve_refused_untouched);
	tcase_add_test(tc, test_verify_version_tampered);
	tcase_add_test(tc, test_remove_gc_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
