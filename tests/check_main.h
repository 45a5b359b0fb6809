/*
 * The main() every Check test program shares: libsodium initialized, the
 * suite run with Check's default forking (a crash fails one test, not the
 * program), exit status from the failures.
 */
#ifndef CR_CHECK_MAIN_H
#define CR_CHECK_MAIN_H

#include <check.h>
#include <sodium.h>
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

#endif
