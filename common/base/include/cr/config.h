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
#include <stdint.h>

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

/*
 * A daemon describes its settings once, as a table: each key names the kind
 * of value, the field of the daemon's config struct it fills, and its
 * bounds.  cr_config_set_key() then parses and checks any key of the table,
 * with errors that name the key, the value and what was expected.
 */
enum cr_config_kind {
	CR_CONFIG_STR,       /* char[size]; "value too long" past it */
	CR_CONFIG_BOOL,      /* int: yes/no, true/false, 1/0 */
	CR_CONFIG_U64,       /* uint64_t within [min, max] */
	CR_CONFIG_MS,        /* uint64_t ms from a duration within [min, max] */
	CR_CONFIG_LOG_LEVEL, /* enum cr_log_level: error, warn, info, debug */
	CR_CONFIG_BYTES,     /* uint64_t bytes within [min, max]: digits with an
				optional K, M or G (binary) suffix */
};

struct cr_config_key {
	const char *key;
	enum cr_config_kind kind;
	size_t offset, size;
	uint64_t min, max;
	const char *what; /* U64, MS: "a duration from 10ms to 60s" */
};

#define CR_CONFIG_FIELD(type, field) \
	offsetof(type, field), sizeof(((type *)0)->field)
#define CR_CONFIG_KEY_STR(type, key, field) \
	{ key, CR_CONFIG_STR, CR_CONFIG_FIELD(type, field), 0, 0, NULL }
#define CR_CONFIG_KEY_BOOL(type, key, field) \
	{ key, CR_CONFIG_BOOL, CR_CONFIG_FIELD(type, field), 0, 1, NULL }
#define CR_CONFIG_KEY_U64(type, key, field, min, max, what) \
	{ key, CR_CONFIG_U64, CR_CONFIG_FIELD(type, field), min, max, what }
#define CR_CONFIG_KEY_MS(type, key, field, min, max, what) \
	{ key, CR_CONFIG_MS, CR_CONFIG_FIELD(type, field), min, max, what }
#define CR_CONFIG_KEY_BYTES(type, key, field, min, max, what) \
	{ key, CR_CONFIG_BYTES, CR_CONFIG_FIELD(type, field), min, max, what }
#define CR_CONFIG_KEY_LOG_LEVEL(type, key, field) \
	{ key, CR_CONFIG_LOG_LEVEL, CR_CONFIG_FIELD(type, field), 0, 0, NULL }

#define CR_CONFIG_NKEYS(keys) (sizeof(keys) / sizeof((keys)[0]))

/* Sets key in cfg from the table of n keys; an unknown key is an error
 * ("unknown setting"). */
int cr_config_set_key(const struct cr_config_key *keys, size_t n, void *cfg,
		      const char *key, const char *value,
		      struct cr_error **err);

#endif
