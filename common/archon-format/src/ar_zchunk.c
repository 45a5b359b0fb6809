/*
 * The compressed chunk: its one check, used by the puller (archon pull)
 * and by the ring node's shard cache (see ar/chunk.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "ar/chunk.h"

size_t ar_chunk_wire_bound(size_t plain_len)
{
	/* The macro, not ZSTD_compressBound(): the function would link all
	 * of zstd's compressor into builds that leave it out. */
	return ZSTD_COMPRESSBOUND(plain_len) + 64;
}

#ifdef AR_PACK_RAW
/* A zstd frame of raw blocks (RFC 8878, 3.1.1): the magic number, a
 * frame header with an 8-byte content size and a 128 KiB window (no
 * single-segment flag, so that a streaming decoder needs no more), then
 * blocks of at most 128 KiB, each a 3-byte header and the bytes as they
 * are; no checksum.  The chunk's BLAKE2b is what checks it. */
enum { RAW_BLOCK_MAX = 128 * 1024 };

long ar_chunk_pack(void *dst, size_t cap, const void *src, size_t len,
		   int level)
{
	uint8_t *o = dst;
	const uint8_t *in = src;
	size_t pos = 0, n = 0;

	(void)level;
	if (cap < 14 + 3 * (len / RAW_BLOCK_MAX + 1) + len)
		return -ENOSPC;
	memcpy(o, "\x28\xb5\x2f\xfd", 4);
	o[4] = 0xc0; /* Frame_Content_Size_flag 3: 8 bytes */
	o[5] = (17 - 10) << 3; /* Window_Descriptor: 2^17 bytes */
	for (int i = 0; i < 8; i++)
		o[6 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	n = 14;
	do {
		size_t b = len - pos < RAW_BLOCK_MAX ? len - pos : RAW_BLOCK_MAX;
		uint32_t hdr = (uint32_t)b << 3 | (pos + b == len ? 1u : 0u);

		o[n] = (uint8_t)hdr;
		o[n + 1] = (uint8_t)(hdr >> 8);
		o[n + 2] = (uint8_t)(hdr >> 16);
		if (b > 0)
			memcpy(o + n + 3, in + pos, b);
		n += 3 + b;
		pos += b;
	} while (pos < len);
	return (long)n;
}
#else
long ar_chunk_pack(void *dst, size_t cap, const void *src, size_t len,
		   int level)
{
	size_t n = ZSTD_compress(dst, cap, src, len, level);

	return ZSTD_isError(n) ? -ENOSPC : (long)n;
}
#endif

long ar_chunk_unpack(const struct ar_id *id, const void *wire, size_t len,
		     void *out, size_t cap)
{
	size_t got = ZSTD_decompress(out, cap, wire, len);
	struct ar_id plain;

	/* A frame larger than cap fails here (dstSize_tooSmall): the bound
	 * holds before any byte is hashed. */
	if (ZSTD_isError(got))
		return -EBADMSG;
	ar_id_of(out, got, &plain);
	return ar_id_equal(&plain, id) ? (long)got : -EBADMSG;
}

int ar_chunk_verify(const struct ar_id *id, const void *wire, size_t len)
{
	unsigned long long n = ZSTD_getFrameContentSize(wire, len);
	uint8_t *plain;
	long got;

	/* The frame states its size, so the buffer is no larger than the
	 * chunk claims to be, and never larger than a chunk may be. */
	if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ||
	    n == 0 || n > AR_CHUNK_MAX_LIMIT)
		return -EBADMSG;
	plain = malloc((size_t)n);
	if (plain == NULL)
		return -ENOMEM;
	got = ar_chunk_unpack(id, wire, len, plain, (size_t)n);
	free(plain);
	return got == (long)n ? 0 : -EBADMSG;
}
