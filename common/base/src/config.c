/* Daemon configuration files: see cr/config.h. */
#include "cr/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cr/log.h"
#include "cr/util.h"

static char *config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int cr_config_parse(const char *text, const char *name, cr_config_fn fn,
		    void *arg, struct cr_error **err)
{
	const char *p = text;
	unsigned lineno = 0;

	while (*p != '\0') {
		char line[CR_CONFIG_LINE_MAX + 1];
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char *key, *value, *sep;

		lineno++;
		if (len > CR_CONFIG_LINE_MAX)
			return cr_error_set(err, EINVAL,
					    "%s:%u: line longer than %d bytes",
					    name, lineno, CR_CONFIG_LINE_MAX);
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl != NULL ? nl + 1 : p + len;

		key = config_trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		sep = key + strcspn(key, "= \t");
		if (*sep == '\0')
			return cr_error_set(err, EINVAL,
					    "%s:%u: '%s' has no value (write "
					    "'key = value')",
					    name, lineno, key);
		value = sep + 1;
		*sep = '\0';
		value = config_trim(value);
		if (*value == '=')
			value = config_trim(value + 1);
		if (*value == '\0')
			return cr_error_set(err, EINVAL,
					    "%s:%u: '%s' has an empty value",
					    name, lineno, key);
		if (fn(arg, key, value, err) < 0)
			return cr_error_wrap(err, "%s:%u", name, lineno);
	}
	return 0;
}

int cr_config_load(const char *path, cr_config_fn fn, void *arg,
		   struct cr_error **err)
{
	char *text;
	size_t len;
	int rc;

	if (cr_read_file(path, CR_CONFIG_FILE_MAX, &text, &len, err) < 0)
		return -1;
	if (memchr(text, '\0', len) != NULL) {
		free(text);
		return cr_error_set(err, EINVAL, "%s: binary data in config",
				    path);
	}
	rc = cr_config_parse(text, path, fn, arg, err);
	free(text);
	return rc;
}

static int config_str(char *dst, size_t cap, const char *key,
		      const char *value, struct cr_error **err)
{
	size_t len = strlen(value);

	if (len >= cap)
		return cr_error_set(err, EINVAL, "%s: value too long (at most %zu "
						 "bytes)",
				    key, cap - 1);
	memcpy(dst, value, len + 1);
	return 0;
}

static int config_bool(const char *key, const char *value, int *out,
		       struct cr_error **err)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
	    strcmp(value, "1") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
	    strcmp(value, "0") == 0) {
		*out = 0;
		return 0;
	}
	return cr_error_set(err, EINVAL, "%s: '%s' is not yes or no", key,
			    value);
}

/* Digits with an optional K, M or G (binary) suffix; -1 on anything else. */
static int config_bytes(const char *s, uint64_t *out)
{
	char num[24];
	size_t n = strspn(s, "0123456789");
	uint64_t v, shift = 0;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (strcmp(s + n, "K") == 0)
		shift = 10;
	else if (strcmp(s + n, "M") == 0)
		shift = 20;
	else if (strcmp(s + n, "G") == 0)
		shift = 30;
	else if (s[n] != '\0')
		return -1;
	if (cr_parse_u64(num, 0, UINT64_MAX >> shift, &v) < 0)
		return -1;
	*out = v << shift;
	return 0;
}

int cr_config_set_key(const struct cr_config_key *keys, size_t n, void *cfg,
		      const char *key, const char *value,
		      struct cr_error **err)
{
	const struct cr_config_key *k = NULL;
	char *field;
	uint64_t v = 0;
	int r = 0;

	for (size_t i = 0; i < n && k == NULL; i++)
		if (strcmp(keys[i].key, key) == 0)
			k = &keys[i];
	if (k == NULL)
		return cr_error_set(err, EINVAL, "unknown setting '%s'", key);
	field = (char *)cfg + k->offset;
	/* A table whose field does not fit its kind is a bug in the daemon. */
	if ((k->kind == CR_CONFIG_BOOL && k->size != sizeof(int)) ||
	    (k->kind == CR_CONFIG_LOG_LEVEL &&
	     k->size != sizeof(enum cr_log_level)) ||
	    ((k->kind == CR_CONFIG_U64 || k->kind == CR_CONFIG_MS ||
	      k->kind == CR_CONFIG_BYTES) &&
	     k->size != sizeof(uint64_t)))
		return cr_error_set(err, EINVAL,
				    "%s: the setting's field has the wrong size",
				    key);
	switch (k->kind) {
	case CR_CONFIG_STR:
		return config_str(field, k->size, key, value, err);
	case CR_CONFIG_BOOL:
		if (config_bool(key, value, &r, err) < 0)
			return -1;
		memcpy(field, &r, sizeof(r));
		return 0;
	case CR_CONFIG_LOG_LEVEL: {
		enum cr_log_level l;

		if (cr_log_level_parse(value, &l) < 0)
			return cr_error_set(err, EINVAL,
					    "%s: '%s' is not one of error, "
					    "warn, info, debug",
					    key, value);
		memcpy(field, &l, sizeof(l));
		return 0;
	}
	case CR_CONFIG_U64:
		r = cr_parse_u64(value, k->min, k->max, &v);
		break;
	case CR_CONFIG_MS:
		r = cr_parse_duration_ms(value, &v);
		if (r == 0 && (v < k->min || v > k->max))
			r = -1;
		break;
	case CR_CONFIG_BYTES:
		r = config_bytes(value, &v);
		if (r == 0 && (v < k->min || v > k->max))
			r = -1;
		break;
	default:
		return cr_error_set(err, EINVAL, "%s: unknown kind of setting",
				    key);
	}
	if (r < 0)
		return cr_error_set(err, EINVAL, "%s: '%s' is not %s", key,
				    value, k->what);
	memcpy(field, &v, sizeof(v));
	return 0;
}
