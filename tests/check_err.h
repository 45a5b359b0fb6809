/*
 * Asserting that a call failed with a message that says the right thing:
 * the tests of the record codecs check the words of every refusal, since
 * the message is what the vendor or operator reads.
 */
#ifndef CR_CHECK_ERR_H
#define CR_CHECK_ERR_H

#include <check.h>
#include <string.h>

#include "cr/error.h"

/* rc must be negative and *err's message must contain want; *err is freed
 * and set to NULL.  Takes &err, not err: the call that sets err is often an
 * argument of the same call, and C leaves the order in which arguments are
 * evaluated unspecified. */
static inline void cr_check_expect_err(int rc, struct cr_error **err,
				       const char *want)
{
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_nonnull(*err);
	ck_assert_msg(strstr(cr_error_msg(*err), want) != NULL,
		      "error '%s' does not say '%s'", cr_error_msg(*err), want);
	*err = cr_error_free(*err);
}

/* expr uses &err, the caller's struct cr_error *err. */
#define EXPECT_ERR(expr, want)                        \
	do {                                          \
		int rc_;                              \
		err = NULL;                           \
		rc_ = (expr);                         \
		cr_check_expect_err(rc_, &err, want); \
	} while (0)

#endif
