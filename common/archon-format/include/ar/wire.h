/*
 * Little-endian encoding helpers for Archon's binary formats: the index
 * and manifest codecs here and the delta format in archon's ar_store.
 * Public (ar_format's include/) because the delta codec is a second user;
 * the formats' byte layouts themselves stay in their own modules.  A
 * writer remembers an allocation failure and a reader remembers running
 * off the end, so the codecs check once at the end instead of after every
 * field.
 */
#ifndef AR_WIRE_H
#define AR_WIRE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ar_wbuf {
	uint8_t *p;
	size_t len, cap;
	int failed;
};

struct ar_rbuf {
	const uint8_t *p;
	size_t len, pos;
	int short_read;
};

static inline void ar_w_bytes(struct ar_wbuf *w, const void *d, size_t n)
{
	if (w->failed)
		return;
	if (n > SIZE_MAX / 2 - w->len) {
		w->failed = 1;
		return;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *np;

		while (cap < w->len + n)
			cap *= 2;
		np = realloc(w->p, cap);
		if (np == NULL) {
			w->failed = 1;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	if (n > 0)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

static inline void ar_w_u8(struct ar_wbuf *w, uint8_t v)
{
	ar_w_bytes(w, &v, 1);
}

static inline void ar_w_u16(struct ar_wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	ar_w_bytes(w, b, 2);
}

static inline void ar_w_u32(struct ar_wbuf *w, uint32_t v)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ar_w_bytes(w, b, 4);
}

static inline void ar_w_u64(struct ar_wbuf *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ar_w_bytes(w, b, 8);
}

static inline const uint8_t *ar_r_bytes(struct ar_rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->short_read || n > r->len - r->pos) {
		r->short_read = 1;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

static inline uint64_t ar_r_uint(struct ar_rbuf *r, size_t n)
{
	const uint8_t *p = ar_r_bytes(r, n);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline uint8_t ar_r_u8(struct ar_rbuf *r)
{
	return (uint8_t)ar_r_uint(r, 1);
}

static inline uint16_t ar_r_u16(struct ar_rbuf *r)
{
	return (uint16_t)ar_r_uint(r, 2);
}

static inline uint32_t ar_r_u32(struct ar_rbuf *r)
{
	return (uint32_t)ar_r_uint(r, 4);
}

static inline uint64_t ar_r_u64(struct ar_rbuf *r)
{
	return ar_r_uint(r, 8);
}

#endif
