/*
 * The main() every Check test program shares: libsodium initialized, the
 * suite run with Check's default forking (a crash fails one test, not the
 * program), exit status from the failures.
 */
#ifndef CR_CHECK_MAIN_H
#define CR_CHECK_MAIN_H

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

static inline int cr_check_main(Suite *suite)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A test's own folder under /tmp: dir (64 bytes) gets its path, named
 * after the test program; cr_check_tmpdir_remove() takes it and everything
 * in it away (only what the test made there). */
static inline void cr_check_tmpdir(char dir[64], const char *name)
{
	snprintf(dir, 64, "/tmp/%s.XXXXXX", name);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void cr_check_tmpdir_remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

#endif
