/*
 * The compressed chunk's check (common/archon-format/src/ar_zchunk.c), shared by the
 * puller and the ring node's shard cache.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "../check_main.h"
#include "ar/chunk.h"

enum { PLAIN = 10000 };

struct sample {
	uint8_t plain[PLAIN];
	struct ar_id id;
	uint8_t *wire;
	size_t len;
};

static void sample_make(struct sample *s, int content_size)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(PLAIN);

	for (size_t i = 0; i < PLAIN; i++)
		s->plain[i] = (uint8_t)(i * 7 + i / 100);
	ar_id_of(s->plain, PLAIN, &s->id);
	s->wire = malloc(cap);
	ck_assert_ptr_nonnull(cc);
	ck_assert_ptr_nonnull(s->wire);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(
		cc, ZSTD_c_contentSizeFlag, content_size)));
	s->len = ZSTD_compress2(cc, s->wire, cap, s->plain, PLAIN);
	ck_assert(!ZSTD_isError(s->len));
	ZSTD_freeCCtx(cc);
}

START_TEST(test_unpack_good)
{
	struct sample s;
	uint8_t out[PLAIN];

	sample_make(&s, 1);
	ck_assert_int_eq(ar_chunk_unpack(&s.id, s.wire, s.len, out, PLAIN),
			 PLAIN);
	ck_assert_mem_eq(out, s.plain, PLAIN);
	ck_assert_int_eq(ar_chunk_verify(&s.id, s.wire, s.len), 0);
	free(s.wire);
}
END_TEST

START_TEST(test_wrong_id)
{
	struct sample s;
	uint8_t out[PLAIN];
	struct ar_id other;

	sample_make(&s, 1);
	other = s.id;
	other.b[0] ^= 1;
	ck_assert_int_eq(ar_chunk_unpack(&other, s.wire, s.len, out, PLAIN),
			 -EBADMSG);
	ck_assert_int_eq(ar_chunk_verify(&other, s.wire, s.len), -EBADMSG);
	free(s.wire);
}
END_TEST

START_TEST(test_damaged_wire)
{
	struct sample s;
	uint8_t out[PLAIN];

	sample_make(&s, 1);
	/* Cut short, then one byte flipped in the compressed body. */
	ck_assert_int_eq(ar_chunk_unpack(&s.id, s.wire, s.len - 1, out, PLAIN),
			 -EBADMSG);
	ck_assert_int_eq(ar_chunk_verify(&s.id, s.wire, s.len - 1), -EBADMSG);
	s.wire[s.len / 2] ^= 0x40;
	ck_assert_int_eq(ar_chunk_unpack(&s.id, s.wire, s.len, out, PLAIN),
			 -EBADMSG);
	ck_assert_int_eq(ar_chunk_verify(&s.id, s.wire, s.len), -EBADMSG);
	ck_assert_int_eq(ar_chunk_verify(&s.id, "", 0), -EBADMSG);
	free(s.wire);
}
END_TEST

START_TEST(test_bound)
{
	struct sample s;
	uint8_t out[PLAIN];

	sample_make(&s, 1);
	/* More plain bytes than the caller expects: refused, nothing past
	 * cap written. */
	memset(out, 0xa5, sizeof(out));
	ck_assert_int_eq(ar_chunk_unpack(&s.id, s.wire, s.len, out, PLAIN - 1),
			 -EBADMSG);
	ck_assert_uint_eq(out[PLAIN - 1], 0xa5);
	ck_assert_uint_ge(ar_chunk_wire_bound(PLAIN), ZSTD_compressBound(PLAIN));
	ck_assert_uint_ge(ar_chunk_wire_bound(PLAIN), s.len);
	free(s.wire);
}
END_TEST

START_TEST(test_unknown_size)
{
	struct sample s;
	uint8_t out[PLAIN];

	/* A frame that does not state its size: the puller, which knows
	 * the length from the index, takes it; the cache, which would have
	 * to guess a buffer, does not. */
	sample_make(&s, 0);
	ck_assert_uint_eq(ZSTD_getFrameContentSize(s.wire, s.len),
			  ZSTD_CONTENTSIZE_UNKNOWN);
	ck_assert_int_eq(ar_chunk_unpack(&s.id, s.wire, s.len, out, PLAIN),
			 PLAIN);
	ck_assert_int_eq(ar_chunk_verify(&s.id, s.wire, s.len), -EBADMSG);
	free(s.wire);
}
END_TEST

START_TEST(test_too_large)
{
	size_t n = (size_t)AR_CHUNK_MAX_LIMIT + 1;
	uint8_t *plain = calloc(1, n);
	size_t cap = ZSTD_compressBound(n), len;
	uint8_t *wire = malloc(cap);
	struct ar_id id;

	ck_assert_ptr_nonnull(plain);
	ck_assert_ptr_nonnull(wire);
	ar_id_of(plain, n, &id);
	len = ZSTD_compress(wire, cap, plain, n, 1);
	ck_assert(!ZSTD_isError(len));
	/* The right id, but larger than any chunk may be. */
	ck_assert_int_eq(ar_chunk_verify(&id, wire, len), -EBADMSG);
	free(plain);
	free(wire);
}
END_TEST

/* ar_chunk_pack: one zstd frame that ar_chunk_unpack and a streaming
 * decoder (as the delta reader uses) both read back, across the 128 KiB
 * block size; in device builds (AR_PACK_RAW) the frame of raw blocks. */
START_TEST(test_pack_roundtrip)
{
	static const size_t sizes[] = { 0, 1, 131071, 131072, 131073, 300000 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k], cap = ar_chunk_wire_bound(n);
		uint8_t *plain = malloc(n + 1), *wire = malloc(cap), *out = malloc(n + 1);
		ZSTD_DCtx *dc = ZSTD_createDCtx();
		ZSTD_inBuffer zin;
		ZSTD_outBuffer zout;
		struct ar_id id;
		long len;

		ck_assert(plain != NULL && wire != NULL && out != NULL && dc != NULL);
		for (size_t i = 0; i < n; i++)
			plain[i] = (uint8_t)(i * 131 + i / 4096);
		ar_id_of(plain, n, &id);
		len = ar_chunk_pack(wire, cap, plain, n, 3);
		ck_assert_msg(len > 0, "pack %zu bytes: %ld", n, len);
		ck_assert_uint_le((size_t)len, cap);
		ck_assert_uint_eq(ZSTD_getFrameContentSize(wire, (size_t)len), n);
		ck_assert_int_eq(ar_chunk_unpack(&id, wire, (size_t)len, out, n + 1), (long)n);
		ck_assert(n == 0 || memcmp(out, plain, n) == 0);
		zin = (ZSTD_inBuffer){ wire, (size_t)len, 0 };
		zout = (ZSTD_outBuffer){ out, n + 1, 0 };
		ck_assert_uint_eq(ZSTD_decompressStream(dc, &zout, &zin), 0);
		ck_assert_uint_eq(zout.pos, n);
		/* Too small a buffer is refused, never overrun. */
		ck_assert_int_eq(ar_chunk_pack(wire, 4, plain, n, 3), -ENOSPC);
		ZSTD_freeDCtx(dc);
		free(plain);
		free(wire);
		free(out);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ar_zchunk");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_unpack_good);
	tcase_add_test(tc, test_wrong_id);
	tcase_add_test(tc, test_damaged_wire);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_unknown_size);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_pack_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
