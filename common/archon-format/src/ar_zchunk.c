/*
 * The compressed chunk: its one check, used by the puller (archon pull)
 * and by the ring node's shard cache (see ar/chunk.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <zstd.h>

#include "ar/chunk.h"

size_t ar_chunk_wire_bound(size_t plain_len)
{
	return ZSTD_compressBound(plain_len) + 64;
}

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
