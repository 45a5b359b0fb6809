/* A bounded protobuf wire scan (cp/pbscan.h). */
#include "cp/pbscan.h"

/* Reads one base-128 varint at *off; -1 when truncated or over 10 bytes. */
static int pb_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (*off >= len)
			return -1;
		b = p[(*off)++];
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Skips one field at *off; sets *key, and *start and *slen for a
 * length-delimited one.  -1 when malformed. */
static int pb_field(const uint8_t *p, size_t len, size_t *off, uint64_t *key,
		    size_t *start, size_t *slen)
{
	uint64_t v;

	if (pb_varint(p, len, off, key) < 0 || (*key >> 3) == 0)
		return -1;
	*slen = 0;
	switch (*key & 7) {
	case 0: /* varint */
		return pb_varint(p, len, off, &v);
	case 1: /* 64-bit */
		if (len - *off < 8)
			return -1;
		*off += 8;
		return 0;
	case 2: /* length-delimited */
		if (pb_varint(p, len, off, &v) < 0 || v > len - *off)
			return -1;
		*start = *off;
		*slen = (size_t)v;
		*off += (size_t)v;
		return 0;
	case 5: /* 32-bit */
		if (len - *off < 4)
			return -1;
		*off += 4;
		return 0;
	default: /* groups (3, 4) are not proto3; 6 and 7 do not exist */
		return -1;
	}
}

long cp_pb_count(const uint8_t *p, size_t len, uint32_t field)
{
	size_t off = 0, start = 0, slen;
	uint64_t key;
	long n = 0;

	while (off < len) {
		if (pb_field(p, len, &off, &key, &start, &slen) < 0)
			return -1;
		if ((key >> 3) == field)
			n++;
	}
	return n;
}

int cp_pb_next(const uint8_t *p, size_t len, uint32_t field, size_t *off,
	       const uint8_t **sub, size_t *sub_len)
{
	size_t start = 0, slen;
	uint64_t key;

	while (*off < len) {
		if (pb_field(p, len, off, &key, &start, &slen) < 0)
			return -1;
		if ((key >> 3) == field && (key & 7) == 2) {
			*sub = p + start;
			*sub_len = slen;
			return 1;
		}
	}
	return 0;
}
