/*
 * Daemon configuration files: one setting per line, `key = value` (or
 * `key value`), `#` comments, keys named exactly like the long command-line
 * flags without dashes.  A key may repeat when its flag may (e.g. allow).
 * The parser is bounded (64 KiB files, 1 KiB lines) and reports the file
 * and line of every error.  Flags win over the file: daemons parse the file
 * first, then apply flags on top.
 */
#ifndef CR_CONFIG_H
#define CR_CONFIG_H

#include <stddef.h>

#include "cr/error.h"

enum { CR_CONFIG_FILE_MAX = 64 * 1024, CR_CONFIG_LINE_MAX = 1024 };

/* Called for each setting; returns 0, or negative with *err set (the
 * parser adds "FILE:LINE: "). */
typedef int (*cr_config_fn)(void *arg, const char *key, const char *value,
			    struct cr_error **err);

int cr_config_parse(const char *text, const char *name, cr_config_fn fn,
		    void *arg, struct cr_error **err);
int cr_config_load(const char *path, cr_config_fn fn, void *arg,
		   struct cr_error **err);

/* Helpers for the daemons' set() functions: copy a string setting into a
 * fixed buffer, parse a log level, parse yes/no. */
int cr_config_str(char *dst, size_t cap, const char *key, const char *value,
		  struct cr_error **err);
int cr_config_log_level(const char *key, const char *value, int *level,
			struct cr_error **err);
int cr_config_bool(const char *key, const char *value, int *out,
		   struct cr_error **err);

#endif
