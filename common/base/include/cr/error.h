/*
 * Errors as values.
 *
 * A function that can fail takes `struct cr_error **err` as its last
 * argument.  On success it returns 0 (or non-NULL) and leaves *err alone.
 * On failure it returns a negative value and, when err is not NULL, sets *err
 * to a newly allocated error the caller owns and frees with cr_error_free().
 * Callers add context with cr_error_wrap() instead of logging a second time.
 */
#ifndef CR_ERROR_H
#define CR_ERROR_H

struct cr_error {
	int code;  /* an errno value, or 0 when none applies */
	char *msg; /* one line, no trailing newline */
};

/* Sets *err (if err is not NULL and *err is NULL) and returns -1. */
int cr_error_set(struct cr_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like cr_error_set() but appends ": strerror(code)". */
int cr_error_errno(struct cr_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the message of *err with "fmt: "; returns -1. */
int cr_error_wrap(struct cr_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Returns the message, or "unknown error" for NULL. */
const char *cr_error_msg(const struct cr_error *e);

/* Frees e (NULL is fine); returns NULL. */
struct cr_error *cr_error_free(struct cr_error *e);

#endif
