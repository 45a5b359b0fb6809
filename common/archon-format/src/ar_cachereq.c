/*
 * Shard cache requests (ar/cachereq.h): building and bounded parsing of
 * the request target.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ar/cachereq.h"
#include "cr/util.h"

static const char prefix[] = "/archon/v1/";

/* Parses exactly 64 lowercase hex digits at s (n bytes available). */
static int id_at(const char *s, size_t n, struct ar_id *id)
{
	char hex[AR_ID_HEX];

	if (n < AR_ID_HEX - 1)
		return -1;
	memcpy(hex, s, AR_ID_HEX - 1);
	hex[AR_ID_HEX - 1] = '\0';
	return ar_id_parse(hex, id) < 0 ? -1 : 0;
}

/* An origin we will fetch from: http(s), printable, no query or fragment. */
static int origin_ok(const char *o, size_t n)
{
	size_t host = strncmp(o, "https://", 8) == 0 ? 8 : 7;

	if (!((n > 7 && strncmp(o, "http://", 7) == 0) ||
	      (n > 8 && strncmp(o, "https://", 8) == 0)) ||
	    o[host] == '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (o[i] <= 0x20 || o[i] >= 0x7f || o[i] == '?' || o[i] == '#')
			return 0;
	return 1;
}

static int parse_path(const char *p, size_t n, struct ar_cachereq *r)
{
	if (n > 7 && memcmp(p, "chunks/", 7) == 0) {
		p += 7;
		n -= 7;
		if (n != 2 + 1 + AR_ID_HEX - 1 || p[2] != '/' ||
		    id_at(p + 3, n - 3, &r->id) < 0 || p[0] != p[3] ||
		    p[1] != p[4])
			return -1;
		r->kind = AR_OBJ_CHUNK;
		return 0;
	}
	if (n > 8 && memcmp(p, "indexes/", 8) == 0) {
		if (n - 8 != AR_ID_HEX - 1 || id_at(p + 8, n - 8, &r->id) < 0)
			return -1;
		r->kind = AR_OBJ_INDEX;
		return 0;
	}
	if (n > 7 && memcmp(p, "deltas/", 7) == 0) {
		p += 7;
		n -= 7;
		if (n != 2 * (AR_ID_HEX - 1) + 1 || p[AR_ID_HEX - 1] != '-' ||
		    id_at(p, n, &r->id) < 0 ||
		    id_at(p + AR_ID_HEX, n - AR_ID_HEX, &r->to) < 0)
			return -1;
		r->kind = AR_OBJ_DELTA;
		return 0;
	}
	return -1;
}

/* Percent-decodes n bytes of s into out (cap bytes with the NUL). */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return -1;
			hi = cr_hex_digit(s[i + 1]);
			lo = cr_hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			return -1; /* we never encode a space */
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int ar_cachereq_parse(const char *target, size_t len, struct ar_cachereq *r,
		      struct cr_error **err)
{
	const char *q, *end = target + len;
	int have_origin = 0, have_size = 0;

	memset(r, 0, sizeof(*r));
	if (len > AR_CACHEREQ_TARGET_MAX)
		return cr_error_set(err, EINVAL, "request target longer than %d bytes",
				    AR_CACHEREQ_TARGET_MAX);
	if (len < sizeof(prefix) - 1 ||
	    memcmp(target, prefix, sizeof(prefix) - 1) != 0)
		return cr_error_set(err, ENOENT, "not an archon cache path (want %s...)",
				    prefix);
	q = memchr(target, '?', len);
	if (q == NULL)
		return cr_error_set(err, EINVAL, "no ?origin= in the request");
	if (parse_path(target + sizeof(prefix) - 1,
		       (size_t)(q - target) - (sizeof(prefix) - 1), r) < 0)
		return cr_error_set(err, EINVAL,
				    "object path is not chunks/XX/ID, indexes/ID or deltas/FROM-TO");
	q++;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp != NULL ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(pe - q));

		if (eq == NULL)
			return cr_error_set(err, EINVAL, "query parameter without a value");
		if (eq - q == 6 && memcmp(q, "origin", 6) == 0 && !have_origin) {
			int n = decode(eq + 1, (size_t)(pe - eq - 1), r->origin,
				       sizeof(r->origin));

			/* Checked after the trailing slashes go: "https:////"
			 * is no origin. */
			while (n > 0 && r->origin[n - 1] == '/')
				r->origin[--n] = '\0';
			if (n < 0 || !origin_ok(r->origin, (size_t)n))
				return cr_error_set(err, EINVAL,
						    "origin is not an http(s) URL of at most %d bytes",
						    AR_CACHEREQ_ORIGIN_MAX);
			have_origin = 1;
		} else if (eq - q == 4 && memcmp(q, "size", 4) == 0 && !have_size) {
			char num[24];
			size_t n = (size_t)(pe - eq - 1);

			if (n == 0 || n >= sizeof(num))
				return cr_error_set(err, EINVAL, "bad size");
			memcpy(num, eq + 1, n);
			num[n] = '\0';
			if (cr_parse_u64(num, 1, UINT64_MAX, &r->size) < 0)
				return cr_error_set(err, EINVAL, "bad size");
			have_size = 1;
		} else {
			return cr_error_set(err, EINVAL,
					    "unknown or repeated query parameter");
		}
		q = pe + (amp != NULL);
		if (amp != NULL && q == end)
			return cr_error_set(err, EINVAL, "empty query parameter");
	}
	if (!have_origin)
		return cr_error_set(err, EINVAL, "no origin in the request");
	if (r->kind == AR_OBJ_DELTA && !have_size)
		return cr_error_set(err, EINVAL, "a delta request needs its size");
	ar_cachereq_set_rel(r);
	return 0;
}

void ar_cachereq_set_rel(struct ar_cachereq *r)
{
	char h1[AR_ID_HEX], h2[AR_ID_HEX];

	ar_id_hex(&r->id, h1);
	switch (r->kind) {
	case AR_OBJ_CHUNK:
		snprintf(r->rel, sizeof(r->rel), "chunks/%.2s/%s", h1, h1);
		break;
	case AR_OBJ_INDEX:
		snprintf(r->rel, sizeof(r->rel), "indexes/%s", h1);
		break;
	case AR_OBJ_DELTA:
		snprintf(r->rel, sizeof(r->rel), "deltas/%s-%s", h1,
			 ar_id_hex(&r->to, h2));
		break;
	}
}

int ar_cachereq_format(const struct ar_cachereq *r, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(r->origin), o;
	int w;

	if (!origin_ok(r->origin, n))
		return -1;
	w = snprintf(buf, cap, "%s%s?origin=", prefix, r->rel);
	if (w < 0 || (size_t)w >= cap)
		return -1;
	o = (size_t)w;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r->origin[i];
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_' || c == '~';

		if (o + 4 > cap)
			return -1;
		if (plain) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	if (r->size > 0) {
		w = snprintf(buf + o, cap - o, "&size=%llu",
			     (unsigned long long)r->size);
		if (w < 0 || (size_t)w >= cap - o)
			return -1;
		o += (size_t)w;
	}
	return o > AR_CACHEREQ_TARGET_MAX ? -1 : (int)o;
}

void ar_cachereq_place(const struct ar_cachereq *r, uint8_t out[AR_ID_LEN])
{
	crypto_generichash_state st;

	if (r->kind != AR_OBJ_DELTA) {
		memcpy(out, r->id.b, AR_ID_LEN);
		return;
	}
	crypto_generichash_init(&st, NULL, 0, AR_ID_LEN);
	crypto_generichash_update(&st, r->id.b, AR_ID_LEN);
	crypto_generichash_update(&st, r->to.b, AR_ID_LEN);
	crypto_generichash_final(&st, out, AR_ID_LEN);
}

void ar_cachereq_key(const struct ar_cachereq *r, uint8_t out[AR_ID_LEN])
{
	static const char tag[] = "archon delta v1";
	crypto_generichash_state st;

	if (r->kind != AR_OBJ_DELTA) {
		memcpy(out, r->id.b, AR_ID_LEN);
		return;
	}
	crypto_generichash_init(&st, NULL, 0, AR_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)tag, sizeof(tag));
	crypto_generichash_update(&st, (const uint8_t *)r->origin,
				  strlen(r->origin) + 1);
	crypto_generichash_update(&st, r->id.b, AR_ID_LEN);
	crypto_generichash_update(&st, r->to.b, AR_ID_LEN);
	crypto_generichash_final(&st, out, AR_ID_LEN);
}
