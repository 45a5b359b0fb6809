/* Errors as values: see cr/error.h. */
#include "cr/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_vset(struct cr_error **err, int code, int add_errno,
		      const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static int error_vset(struct cr_error **err, int code, int add_errno,
		      const char *fmt, va_list ap)
{
	char buf[512];
	struct cr_error *e;
	int n;

	if (err == NULL || *err != NULL)
		return -1;
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		buf[0] = '\0';
	if (add_errno && code != 0) {
		size_t len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, ": %s", strerror(code));
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -1;
	e->code = code;
	e->msg = strdup(buf);
	if (e->msg == NULL) {
		free(e);
		return -1;
	}
	*err = e;
	return -1;
}

int cr_error_set(struct cr_error **err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int cr_error_errno(struct cr_error **err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return -1;
}

int cr_error_wrap(struct cr_error **err, const char *fmt, ...)
{
	char prefix[256];
	char *msg;
	size_t len;
	va_list ap;
	int n;

	if (err == NULL || *err == NULL)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	len = strlen(prefix) + 2 + strlen((*err)->msg) + 1;
	msg = malloc(len);
	if (msg == NULL)
		return -1;
	snprintf(msg, len, "%s: %s", prefix, (*err)->msg);
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

const char *cr_error_msg(const struct cr_error *e)
{
	return e != NULL && e->msg != NULL ? e->msg : "unknown error";
}

struct cr_error *cr_error_free(struct cr_error *e)
{
	if (e != NULL) {
		free(e->msg);
		free(e);
	}
	return NULL;
}
