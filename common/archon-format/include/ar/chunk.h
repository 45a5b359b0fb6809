/*
 * Archon chunks: content-defined chunking and chunk ids.
 *
 * The chunker is FastCDC-style: a gear rolling hash (h = (h << 1) +
 * gear[byte], so h depends on the last 64 bytes only) is tested against a
 * mask with more one-bits before the average size and fewer after it
 * ("normalized chunking"), which narrows the spread of chunk sizes around
 * the average.  A cut happens where the hash's top bits are zero, so
 * boundaries follow content: an insertion moves only the chunks around it.
 * Hashing starts 64 bytes before the minimum size, so a boundary depends on
 * the 64 bytes before it and not on where the chunk began.
 *
 * The chunker is a plain struct filled by ar_chunker_init(); it allocates
 * nothing and is fed any number of buffers of any size.
 *
 * A chunk id (and every other Archon object name) is BLAKE2b-256 of the
 * plain bytes.
 */
#ifndef AR_CHUNK_H
#define AR_CHUNK_H

#include <stddef.h>
#include <stdint.h>

enum {
	AR_ID_LEN = 32,		     /* BLAKE2b-256 */
	AR_ID_HEX = 2 * AR_ID_LEN + 1, /* lowercase hex and NUL */
	AR_CHUNK_MIN_DEFAULT = 2 * 1024,
	AR_CHUNK_AVG_DEFAULT = 8 * 1024,
	AR_CHUNK_MAX_DEFAULT = 32 * 1024,
	AR_CHUNK_MAX_LIMIT = 16 * 1024 * 1024, /* largest max we accept */
};

struct ar_id {
	uint8_t b[AR_ID_LEN];
};

/* BLAKE2b-256 of data. */
void ar_id_of(const void *data, size_t len, struct ar_id *id);
/* Lowercase hex into out; returns out. */
char *ar_id_hex(const struct ar_id *id, char out[AR_ID_HEX]);
/* Parses exactly 64 lowercase hex digits followed by NUL; 0 or -EINVAL. */
int ar_id_parse(const char *hex, struct ar_id *id);
int ar_id_equal(const struct ar_id *a, const struct ar_id *b);
int ar_id_is_zero(const struct ar_id *id);

/* Returned by ar_chunker_scan() when the buffer holds no cut point. */
#define AR_CHUNKER_MORE ((size_t)-1)

struct ar_chunker {
	uint64_t h;	 /* gear hash */
	uint64_t len;	 /* bytes of the current chunk seen so far */
	uint64_t mask_s; /* tested below avg: harder to match */
	uint64_t mask_l; /* tested from avg on: easier to match */
	uint32_t min, avg, max;
};

/* Sets c up for a new stream.  avg must be a power of two, 64 <= min <=
 * avg <= max <= AR_CHUNK_MAX_LIMIT; returns 0 or -EINVAL. */
int ar_chunker_init(struct ar_chunker *c, uint32_t min, uint32_t avg,
		    uint32_t max);

/* Scans the next n bytes of the stream.  Returns k when the current chunk
 * ends after buf[k - 1] (1 <= k <= n; the chunker is then ready for the next
 * chunk, starting at buf[k], which the caller passes in again), or
 * AR_CHUNKER_MORE when all n bytes belong to the current chunk.  At the end
 * of the stream the bytes seen since the last cut are the last chunk; call
 * ar_chunker_reset() before reusing c for another stream. */
size_t ar_chunker_scan(struct ar_chunker *c, const void *buf, size_t n);

/* Forgets the current chunk (start of a new stream). */
void ar_chunker_reset(struct ar_chunker *c);

/*
 * A chunk's wire and stored form (common/src/ar_zchunk.c): one zstd frame of
 * its plain bytes.  Only the plain bytes name it, so a compressed chunk is
 * checked by decompressing it and comparing BLAKE2b of the result with its id.
 */

/* The most bytes worth reading for the compressed form of a chunk of
 * plain_len bytes (zstd's bound, plus room for a frame's headers). */
size_t ar_chunk_wire_bound(size_t plain_len);

/* Compresses len bytes of src into one zstd frame at dst (cap bytes, at
 * least ar_chunk_wire_bound(len)) at zstd level `level`.  Returns the
 * frame's length, or -ENOSPC when cap is too small.  Builds without zstd's
 * compressor (-DAR_WITH_COMPRESS=OFF: device builds, where it is half a
 * megabyte) write the frame with raw blocks instead: any zstd decoder
 * reads it, the bytes are just not smaller. */
long ar_chunk_pack(void *dst, size_t cap, const void *src, size_t len,
		   int level);

/* Decompresses wire into out (cap bytes at most) and checks that the plain
 * bytes are chunk id.  Returns their length, or -EBADMSG when wire is not
 * one zstd frame of at most cap bytes whose BLAKE2b is id. */
long ar_chunk_unpack(const struct ar_id *id, const void *wire, size_t len,
		     void *out, size_t cap);

/* The same for a chunk whose length is not known here: the frame must
 * state it (1 to AR_CHUNK_MAX_LIMIT bytes).  0 when wire is chunk id,
 * -EBADMSG when not, -ENOMEM. */
int ar_chunk_verify(const struct ar_id *id, const void *wire, size_t len);

#endif
