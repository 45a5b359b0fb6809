/*
 * The tar reader of tar.h: three layers, each pulling from the one below.
 *
 *   source   the caller's read function into a 64 KiB buffer
 *   decoder  plain, gzip (inflate below, RFC 1951/1952) or zstd (libzstd)
 *   tar      512-byte headers, pax and GNU extensions, entry data
 *
 * The inflate is our own so that devices link neither zlib nor libarchive
 * (and mips, whose sysroot has no zlib, reads gzip layers too).  It keeps
 * a 32 KiB window and can stop at any output byte (a match is resumed on
 * the next call), so the tar layer reads as little as it needs.  Huffman
 * codes of up to 9 bits are decoded with one table look-up, longer ones
 * bit by bit in canonical order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "tar.h"

enum {
	TAR_BLOCK = 512,
	TAR_IN_CAP = 64 << 10,
	WIN_SIZE = 32768,
	WIN_MASK = WIN_SIZE - 1,
	FAST_BITS = 9,
	MAX_BITS = 15,
	NLIT = 288,
	NDIST = 30,
};

enum dec_kind { DEC_PLAIN, DEC_GZIP, DEC_ZSTD };
enum gz_state { GZ_MEMBER, GZ_BODY, GZ_END };
enum blk_state { BLK_HEADER, BLK_STORED, BLK_HUFF, BLK_LAST_DONE };

struct huff {
	uint16_t count[MAX_BITS + 1];
	uint16_t symbol[NLIT];
	uint16_t fast[1 << FAST_BITS]; /* symbol | length << 9; 0: slow path */
};

struct ar_tar {
	ar_tar_read_fn read;
	void *ctx;
	int fd; /* ar_tar_open_fd's source */

	uint8_t *in;
	size_t in_pos, in_len;
	int in_eof;

	enum dec_kind dec;
	/* gzip */
	enum gz_state gz;
	enum blk_state blk;
	int last;
	uint64_t bitbuf;
	unsigned bitcnt;
	unsigned over; /* zero bytes made up past the end of the input */
	int bad;       /* the inflate failed: *err is set */
	uint32_t stored_left;
	unsigned copy_len, copy_dist;
	struct huff lit, dist;
	uint8_t *win;
	uint32_t wpos, whave;
	uint32_t crc, isize;
	uint32_t crc_table[256];
	unsigned members; /* gzip members read */
	/* zstd */
	ZSTD_DStream *zs;
	int zs_mid; /* inside a frame: the input must not end here */

	/* tar */
	uint64_t out_total; /* bytes the decoder produced */
	unsigned index;
	uint64_t data_left;
	uint32_t pad_left;
	int ended;
	char path[AR_TAR_PATH_MAX + 1], link[AR_TAR_PATH_MAX + 1];
};

/* ---- source ---- */

/* 1 when input bytes are buffered, 0 at the end of the input, -1. */
static int src_fill(struct ar_tar *t, struct cr_error **err)
{
	ssize_t n;

	if (t->in_pos < t->in_len)
		return 1;
	if (t->in_eof)
		return 0;
	n = t->read(t->ctx, t->in, TAR_IN_CAP, err);
	if (n < 0)
		return -1;
	if (n == 0) {
		t->in_eof = 1;
		return 0;
	}
	t->in_pos = 0;
	t->in_len = (size_t)n;
	return 1;
}

static ssize_t fd_read(void *ctx, void *buf, size_t cap, struct cr_error **err)
{
	struct ar_tar *t = ctx;

	for (;;) {
		ssize_t n = read(t->fd, buf, cap);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return cr_error_errno(err, errno, "read");
	}
}

/* ---- inflate ---- */

static void inf_fail(struct ar_tar *t, struct cr_error **err, const char *what)
{
	if (!t->bad)
		cr_error_set(err, EBADMSG, "gzip: %s", what);
	t->bad = 1;
}

/* At least n (<= 57) bits in bitbuf; past the end of the input zero bytes
 * are made up and counted, so that consuming one of them is caught. */
static void inf_need(struct ar_tar *t, unsigned n, struct cr_error **err)
{
	while (t->bitcnt < n) {
		uint64_t b = 0;
		int r = src_fill(t, err);

		if (r > 0)
			b = t->in[t->in_pos++];
		else if (r == 0)
			t->over++;
		else
			t->bad = 1;
		t->bitbuf |= b << t->bitcnt;
		t->bitcnt += 8;
	}
}

static void inf_drop(struct ar_tar *t, unsigned n, struct cr_error **err)
{
	t->bitbuf >>= n;
	t->bitcnt -= n;
	if (t->bitcnt < t->over * 8)
		inf_fail(t, err, "truncated stream");
}

static unsigned inf_bits(struct ar_tar *t, unsigned n, struct cr_error **err)
{
	unsigned v;

	inf_need(t, n, err);
	v = (unsigned)(t->bitbuf & ((1u << n) - 1));
	inf_drop(t, n, err);
	return v;
}

/* The next whole byte (after inf_align), -1 at the end of the input, -2
 * with *err. */
static int inf_byte(struct ar_tar *t, struct cr_error **err)
{
	int r;

	if (t->bitcnt >= 8) {
		if (t->bitcnt / 8 <= t->over)
			return -1; /* only made-up bytes left */
		r = (int)(t->bitbuf & 0xff);
		t->bitbuf >>= 8;
		t->bitcnt -= 8;
		return r;
	}
	r = src_fill(t, err);
	if (r < 0)
		return -2;
	if (r == 0)
		return -1;
	return t->in[t->in_pos++];
}

static void inf_align(struct ar_tar *t)
{
	t->bitbuf >>= t->bitcnt & 7;
	t->bitcnt -= t->bitcnt & 7;
}

static unsigned rev_bits(unsigned c, unsigned n)
{
	unsigned r = 0;

	while (n--) {
		r = (r << 1) | (c & 1);
		c >>= 1;
	}
	return r;
}

/* Builds the canonical code of n symbols with lengths len[]; -1 when the
 * lengths oversubscribe the code space.  An incomplete code is accepted:
 * its unused bit patterns fail to decode. */
static int huff_build(struct huff *h, const uint8_t *len, unsigned n)
{
	uint16_t offs[MAX_BITS + 1];
	unsigned next[MAX_BITS + 1], code = 0;
	int left = 1;

	memset(h->count, 0, sizeof(h->count));
	memset(h->fast, 0, sizeof(h->fast));
	for (unsigned s = 0; s < n; s++)
		h->count[len[s]]++;
	for (unsigned l = 1; l <= MAX_BITS; l++) {
		left <<= 1;
		left -= h->count[l];
		if (left < 0)
			return -1;
	}
	offs[1] = 0;
	for (unsigned l = 1; l < MAX_BITS; l++)
		offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
	next[1] = 0;
	for (unsigned l = 2; l <= MAX_BITS; l++) {
		code = (code + h->count[l - 1]) << 1;
		next[l] = code;
	}
	for (unsigned s = 0; s < n; s++) {
		unsigned l = len[s], c;

		if (l == 0)
			continue;
		h->symbol[offs[l]++] = (uint16_t)s;
		c = next[l]++;
		if (l <= FAST_BITS)
			for (unsigned k = rev_bits(c, l); k < (1u << FAST_BITS);
			     k += 1u << l)
				h->fast[k] = (uint16_t)(s | l << 9);
	}
	return 0;
}

/* The next symbol of h, or -1 (a bit pattern outside the code). */
static int huff_decode(struct ar_tar *t, const struct huff *h,
		       struct cr_error **err)
{
	unsigned e, index = 0;
	int code = 0, first = 0;

	inf_need(t, MAX_BITS, err);
	e = h->fast[t->bitbuf & ((1u << FAST_BITS) - 1)];
	if (e != 0) {
		inf_drop(t, e >> 9, err);
		return (int)(e & 0x1ff);
	}
	for (unsigned l = 1; l <= MAX_BITS; l++) {
		int count = h->count[l];

		code |= (int)((t->bitbuf >> (l - 1)) & 1);
		if (code - count < first) {
			inf_drop(t, l, err);
			return h->symbol[index + (unsigned)(code - first)];
		}
		index += (unsigned)count;
		first += count;
		first <<= 1;
		code <<= 1;
	}
	inf_fail(t, err, "invalid Huffman code");
	return -1;
}

static const uint16_t len_base[29] = { 3,  4,  5,  6,	7,   8,	  9,   10,  11, 13,
				       15, 17, 19, 23,	27,  31,  35,  43,  51, 59,
				       67, 83, 99, 115, 131, 163, 195, 227, 258 };
static const uint8_t len_extra[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
				       2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
static const uint16_t dist_base[30] = { 1,    2,    3,	  4,	 5,	7,     9,    13,
					17,   25,   33,	  49,	 65,	97,    129,  193,
					257,  385,  513,  769,	 1025,	1537,  2049, 3073,
					4097, 6145, 8193, 12289, 16385, 24577 };
static const uint8_t dist_extra[30] = { 0, 0, 0, 0, 1, 1, 2,	2,  3,	3,  4,	4,  5,	5,  6,
					6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };

static void inf_fixed(struct ar_tar *t)
{
	uint8_t len[NLIT];
	unsigned s = 0;

	for (; s < 144; s++)
		len[s] = 8;
	for (; s < 256; s++)
		len[s] = 9;
	for (; s < 280; s++)
		len[s] = 7;
	for (; s < NLIT; s++)
		len[s] = 8;
	huff_build(&t->lit, len, NLIT);
	memset(len, 5, NDIST);
	huff_build(&t->dist, len, NDIST);
}

static int inf_dynamic(struct ar_tar *t, struct cr_error **err)
{
	static const uint8_t order[19] = { 16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
					   11, 4,  12, 3, 13, 2, 14, 1, 15 };
	uint8_t len[NLIT + NDIST];
	unsigned nlen, ndist, ncode, n = 0;

	nlen = inf_bits(t, 5, err) + 257;
	ndist = inf_bits(t, 5, err) + 1;
	ncode = inf_bits(t, 4, err) + 4;
	if (nlen > 286 || ndist > NDIST) {
		inf_fail(t, err, "bad code counts");
		return -1;
	}
	memset(len, 0, sizeof(len));
	for (unsigned i = 0; i < ncode; i++)
		len[order[i]] = (uint8_t)inf_bits(t, 3, err);
	if (t->bad || huff_build(&t->lit, len, 19) < 0) {
		inf_fail(t, err, "bad code lengths code");
		return -1;
	}
	while (n < nlen + ndist && !t->bad) {
		int sym = huff_decode(t, &t->lit, err);
		unsigned rep;
		uint8_t v = 0;

		if (sym < 0)
			return -1;
		if (sym < 16) {
			len[n++] = (uint8_t)sym;
			continue;
		}
		if (sym == 16) {
			if (n == 0) {
				inf_fail(t, err, "repeat with no first length");
				return -1;
			}
			v = len[n - 1];
			rep = 3 + inf_bits(t, 2, err);
		} else if (sym == 17) {
			rep = 3 + inf_bits(t, 3, err);
		} else {
			rep = 11 + inf_bits(t, 7, err);
		}
		if (n + rep > nlen + ndist) {
			inf_fail(t, err, "too many code lengths");
			return -1;
		}
		while (rep--)
			len[n++] = v;
	}
	if (t->bad)
		return -1;
	if (len[256] == 0) {
		inf_fail(t, err, "no end-of-block code");
		return -1;
	}
	if (huff_build(&t->lit, len, nlen) < 0 ||
	    huff_build(&t->dist, len + nlen, ndist) < 0) {
		inf_fail(t, err, "oversubscribed code");
		return -1;
	}
	return 0;
}

static void crc_init(struct ar_tar *t)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		t->crc_table[i] = c;
	}
}

/* Reads n little-endian bytes (n <= 4) into *v; -1 at the end. */
static int inf_le(struct ar_tar *t, unsigned n, uint32_t *v,
		  struct cr_error **err)
{
	*v = 0;
	for (unsigned i = 0; i < n; i++) {
		int b = inf_byte(t, err);

		if (b < 0) {
			if (b == -1)
				inf_fail(t, err, "truncated stream");
			t->bad = 1;
			return -1;
		}
		*v |= (uint32_t)b << (8 * i);
	}
	return 0;
}

/* Skips a zero-terminated header field. */
static int gz_skip_string(struct ar_tar *t, struct cr_error **err)
{
	for (;;) {
		int b = inf_byte(t, err);

		if (b == 0)
			return 0;
		if (b < 0) {
			if (b == -1)
				inf_fail(t, err, "truncated header");
			t->bad = 1;
			return -1;
		}
	}
}

/* The header of the next member: 1, 0 when the input ends (or carries
 * something other than a gzip member: ignored, as gzip(1) does) after at
 * least one member, -1. */
static int gz_member(struct ar_tar *t, int first, struct cr_error **err)
{
	int id1 = inf_byte(t, err), id2;
	uint32_t v;
	unsigned flg;

	if (id1 == -2)
		return -1;
	id2 = id1 < 0 ? -1 : inf_byte(t, err);
	if (id2 == -2)
		return -1;
	if (id1 != 0x1f || id2 != 0x8b) {
		if (!first)
			return 0;
		inf_fail(t, err, "not a gzip stream");
		return -1;
	}
	if (inf_le(t, 2, &v, err) < 0)
		return -1;
	if ((v & 0xff) != 8) {
		inf_fail(t, err, "unknown compression method");
		return -1;
	}
	flg = v >> 8;
	if (flg & 0xe0) {
		inf_fail(t, err, "reserved header flags set");
		return -1;
	}
	if (inf_le(t, 4, &v, err) < 0 || inf_le(t, 2, &v, err) < 0)
		return -1; /* mtime, xfl, os */
	if (flg & 4) { /* FEXTRA */
		uint32_t xlen, x;

		if (inf_le(t, 2, &xlen, err) < 0)
			return -1;
		while (xlen--)
			if (inf_le(t, 1, &x, err) < 0)
				return -1;
	}
	if ((flg & 8) && gz_skip_string(t, err) < 0)
		return -1;
	if ((flg & 16) && gz_skip_string(t, err) < 0)
		return -1;
	if ((flg & 2) && inf_le(t, 2, &v, err) < 0)
		return -1; /* FHCRC */
	t->blk = BLK_HEADER;
	t->last = 0;
	t->whave = 0;
	t->copy_len = 0;
	t->crc = 0;
	t->isize = 0;
	return 1;
}

static void win_put(struct ar_tar *t, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t at = t->wpos & WIN_MASK, k = WIN_SIZE - at;

		if (k > n)
			k = n;
		memcpy(t->win + at, p, k);
		t->wpos += (uint32_t)k;
		p += k;
		n -= k;
	}
}

/* Inflates into out (up to cap bytes) until the member's last block ends;
 * returns the bytes made, -1 with *err. */
static ssize_t inf_run(struct ar_tar *t, uint8_t *out, size_t cap,
		       struct cr_error **err)
{
	size_t n = 0;

	while (n < cap && !t->bad) {
		if (t->copy_len > 0) {
			uint32_t from = t->wpos - t->copy_dist;

			while (t->copy_len > 0 && n < cap) {
				uint8_t b = t->win[from++ & WIN_MASK];

				out[n++] = b;
				t->win[t->wpos++ & WIN_MASK] = b;
				t->copy_len--;
			}
			continue;
		}
		if (t->blk == BLK_LAST_DONE)
			break;
		if (t->blk == BLK_HEADER) {
			unsigned type;

			t->last = (int)inf_bits(t, 1, err);
			type = inf_bits(t, 2, err);
			if (t->bad)
				break;
			if (type == 0) {
				uint32_t len, nlen;

				inf_align(t);
				if (inf_le(t, 2, &len, err) < 0 ||
				    inf_le(t, 2, &nlen, err) < 0)
					break;
				if ((len ^ 0xffff) != nlen) {
					inf_fail(t, err, "stored block length mismatch");
					break;
				}
				t->stored_left = len;
				t->blk = BLK_STORED;
			} else if (type == 1) {
				inf_fixed(t);
				t->blk = BLK_HUFF;
			} else if (type == 2) {
				if (inf_dynamic(t, err) < 0)
					break;
				t->blk = BLK_HUFF;
			} else {
				inf_fail(t, err, "invalid block type");
				break;
			}
			continue;
		}
		if (t->blk == BLK_STORED) {
			while (t->stored_left > 0 && n < cap) {
				size_t k;
				int r;

				if (t->bitcnt >= 8) { /* bytes already in bitbuf */
					int b = inf_byte(t, err);

					if (b < 0) {
						inf_fail(t, err, "truncated stream");
						break;
					}
					out[n] = (uint8_t)b;
					win_put(t, out + n, 1);
					n++;
					t->stored_left--;
					continue;
				}
				r = src_fill(t, err);
				if (r <= 0) {
					if (r == 0)
						inf_fail(t, err, "truncated stream");
					t->bad = 1;
					break;
				}
				k = t->in_len - t->in_pos;
				if (k > t->stored_left)
					k = t->stored_left;
				if (k > cap - n)
					k = cap - n;
				memcpy(out + n, t->in + t->in_pos, k);
				win_put(t, out + n, k);
				t->in_pos += k;
				n += k;
				t->stored_left -= (uint32_t)k;
			}
			if (t->stored_left == 0 && !t->bad)
				t->blk = t->last ? BLK_LAST_DONE : BLK_HEADER;
			continue;
		}
		/* BLK_HUFF */
		while (n < cap && !t->bad) {
			int sym = huff_decode(t, &t->lit, err), dsym;
			unsigned len, dist;

			if (sym < 0)
				break;
			if (sym < 256) {
				out[n++] = (uint8_t)sym;
				t->win[t->wpos++ & WIN_MASK] = (uint8_t)sym;
				continue;
			}
			if (sym == 256) {
				t->blk = t->last ? BLK_LAST_DONE : BLK_HEADER;
				break;
			}
			if (sym > 285) {
				inf_fail(t, err, "invalid length code");
				break;
			}
			len = len_base[sym - 257] + inf_bits(t, len_extra[sym - 257], err);
			dsym = huff_decode(t, &t->dist, err);
			if (dsym < 0)
				break;
			if (dsym >= NDIST) {
				inf_fail(t, err, "invalid distance code");
				break;
			}
			dist = dist_base[dsym] + inf_bits(t, dist_extra[dsym], err);
			/* whave + n: the bytes of this member so far (whave
			 * stops at the window size, dist never exceeds it) */
			if (dist > t->whave + n) {
				inf_fail(t, err, "distance too far back");
				break;
			}
			t->copy_len = len;
			t->copy_dist = dist;
			break; /* the copy runs at the top of the loop */
		}
	}
	if (t->bad)
		return -1;
	t->whave = t->whave + (uint32_t)n >= WIN_SIZE ? WIN_SIZE
						      : t->whave + (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		t->crc = t->crc_table[(t->crc ^ out[i]) & 0xff] ^ (t->crc >> 8);
	t->isize += (uint32_t)n;
	return (ssize_t)n;
}

/* gzip: members one after another; 0 at the end of the last. */
static ssize_t gz_read(struct ar_tar *t, uint8_t *out, size_t cap,
		       struct cr_error **err)
{
	for (;;) {
		ssize_t n;

		if (t->gz == GZ_END)
			return 0;
		if (t->gz == GZ_MEMBER) {
			int r = gz_member(t, t->members == 0, err);

			if (r < 0)
				return -1;
			if (r == 0) {
				t->gz = GZ_END;
				return 0;
			}
			t->gz = GZ_BODY;
		}
		t->crc = ~t->crc;
		n = inf_run(t, out, cap, err);
		t->crc = ~t->crc;
		if (n < 0)
			return -1;
		if (t->blk == BLK_LAST_DONE && t->copy_len == 0) {
			uint32_t crc, isize;

			inf_align(t);
			if (inf_le(t, 4, &crc, err) < 0 || inf_le(t, 4, &isize, err) < 0)
				return -1;
			if (crc != t->crc || isize != t->isize) {
				inf_fail(t, err, crc != t->crc ? "CRC mismatch"
							       : "length mismatch");
				return -1;
			}
			t->gz = GZ_MEMBER;
			t->members++;
		}
		if (n > 0)
			return n;
	}
}

/* ---- zstd ---- */

static ssize_t zs_read(struct ar_tar *t, uint8_t *buf, size_t cap,
		       struct cr_error **err)
{
	ZSTD_outBuffer out = { buf, cap, 0 };

	for (;;) {
		ZSTD_inBuffer in;
		size_t r, before = t->in_pos;

		if (src_fill(t, err) < 0)
			return -1;
		in.src = t->in;
		in.size = t->in_len;
		in.pos = t->in_pos;
		r = ZSTD_decompressStream(t->zs, &out, &in);
		t->in_pos = in.pos;
		if (ZSTD_isError(r))
			return cr_error_set(err, EBADMSG, "zstd: %s",
					    ZSTD_getErrorName(r));
		/* r is 0 when a frame has just ended; a call without input
		 * after that only announces the next frame's header */
		if (in.pos != before || out.pos > 0)
			t->zs_mid = r != 0;
		if (out.pos > 0)
			return (ssize_t)out.pos;
		if (t->in_pos == t->in_len && t->in_eof) {
			if (t->zs_mid)
				return cr_error_set(err, EBADMSG,
						    "zstd: truncated stream");
			return 0;
		}
	}
}

/* ---- decoder ---- */

/* Up to cap bytes of the decompressed stream; 0 at its end. */
static ssize_t dec_read(struct ar_tar *t, void *buf, size_t cap,
			struct cr_error **err)
{
	size_t k;
	int r;

	switch (t->dec) {
	case DEC_GZIP:
		return gz_read(t, buf, cap, err);
	case DEC_ZSTD:
		return zs_read(t, buf, cap, err);
	case DEC_PLAIN:
		break;
	}
	r = src_fill(t, err);
	if (r <= 0)
		return r;
	k = t->in_len - t->in_pos;
	if (k > cap)
		k = cap;
	memcpy(buf, t->in + t->in_pos, k);
	t->in_pos += k;
	return (ssize_t)k;
}

/* Reads exactly n bytes unless the stream ends: how many were read. */
static ssize_t dec_full(struct ar_tar *t, void *buf, size_t n,
			struct cr_error **err)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = dec_read(t, (uint8_t *)buf + got, n - got, err);

		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
		t->out_total += (uint64_t)r;
	}
	return (ssize_t)got;
}

static int dec_skip(struct ar_tar *t, uint64_t n, struct cr_error **err)
{
	uint8_t buf[8192];

	while (n > 0) {
		ssize_t r = dec_read(t, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf),
				     err);

		if (r < 0)
			return -1;
		if (r == 0)
			return cr_error_set(err, EBADMSG, "truncated archive");
		n -= (uint64_t)r;
	}
	return 0;
}

/* ---- open and free ---- */

/* Reads the first bytes of t's input to tell its compression; frees t
 * on failure. */
static int tar_start(struct ar_tar **out, struct ar_tar *t, struct cr_error **err)
{
	int r;

	*out = NULL;
	if ((t->in = malloc(TAR_IN_CAP)) == NULL) {
		free(t);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	/* The magic numbers: gzip 1f 8b, zstd 28 b5 2f fd (a zstd stream
	 * starting with a skippable frame, 5? 2a 4d 18, is zstd too). */
	while ((r = src_fill(t, err)) > 0 && t->in_len < 4 && !t->in_eof) {
		ssize_t n = t->read(t->ctx, t->in + t->in_len, TAR_IN_CAP - t->in_len, err);

		if (n < 0) {
			r = -1;
			break;
		}
		if (n == 0)
			t->in_eof = 1;
		t->in_len += (size_t)n;
	}
	if (r < 0) {
		ar_tar_free(t);
		return -1;
	}
	/* Compressions this reader does not take: said so, rather than a
	 * checksum error on the first header. */
	if ((t->in_len >= 6 && memcmp(t->in, "\xfd" "7zXZ\0", 6) == 0) ||
	    (t->in_len >= 3 && memcmp(t->in, "BZh", 3) == 0) ||
	    (t->in_len >= 4 && memcmp(t->in, "\x04\x22\x4d\x18", 4) == 0)) {
		const char *what = t->in[0] == 0xfd ? "xz" : t->in[0] == 'B' ? "bzip2" : "lz4";

		ar_tar_free(t);
		return cr_error_set(err, ENOTSUP,
				    "%s-compressed input: only plain tar, gzip and zstd are read",
				    what);
	}
	if (t->in_len >= 2 && t->in[0] == 0x1f && t->in[1] == 0x8b) {
		t->dec = DEC_GZIP;
		t->win = malloc(WIN_SIZE);
		if (t->win == NULL) {
			ar_tar_free(t);
			return cr_error_set(err, ENOMEM, "out of memory");
		}
		crc_init(t);
	} else if (t->in_len >= 4 && ((t->in[0] == 0x28 && t->in[1] == 0xb5 &&
				       t->in[2] == 0x2f && t->in[3] == 0xfd) ||
				      ((t->in[0] & 0xf0) == 0x50 && t->in[1] == 0x2a &&
				       t->in[2] == 0x4d && t->in[3] == 0x18))) {
		t->dec = DEC_ZSTD;
		t->zs = ZSTD_createDStream();
		if (t->zs == NULL) {
			ar_tar_free(t);
			return cr_error_set(err, ENOMEM, "out of memory");
		}
	}
	*out = t;
	return 0;
}

int ar_tar_open(struct ar_tar **out, ar_tar_read_fn read, void *ctx,
		struct cr_error **err)
{
	struct ar_tar *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	t->read = read;
	t->ctx = ctx;
	t->fd = -1;
	return tar_start(out, t, err);
}

int ar_tar_open_fd(struct ar_tar **out, int fd, struct cr_error **err)
{
	struct ar_tar *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	t->read = fd_read;
	t->ctx = t;
	t->fd = fd;
	return tar_start(out, t, err);
}

void ar_tar_free(struct ar_tar *t)
{
	if (t == NULL)
		return;
	ZSTD_freeDStream(t->zs);
	free(t->win);
	free(t->in);
	free(t);
}

/* ---- tar ---- */

/* A numeric header field: octal (spaces or NULs around it) or GNU
 * base-256 (first byte 0x80, or 0xff for a negative number); -1 when it
 * is neither or does not fit an int64_t. */
static int tar_num(const uint8_t *f, size_t n, int64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] == 0x80 || f[0] == 0xff) {
		int neg = f[0] == 0xff;

		v = neg ? UINT64_MAX : 0;
		for (i = 1; i < n; i++) {
			if (neg ? v >> 56 != 0xff : v >> 56 != 0)
				return -1; /* does not fit 64 bits */
			v = v << 8 | f[i];
		}
		if (neg ? (int64_t)v >= 0 : v > INT64_MAX)
			return -1;
		*out = (int64_t)v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = (int64_t)v;
	return 0;
}

/* The header checksum: the sum of its bytes with the checksum field read
 * as spaces; old writers summed signed chars, which is accepted too. */
static int tar_checksum_ok(const uint8_t *h)
{
	int64_t want;
	uint64_t usum = 0;
	int64_t ssum = 0;

	if (tar_num(h + 148, 8, &want) < 0)
		return 0;
	for (int i = 0; i < TAR_BLOCK; i++) {
		uint8_t b = i >= 148 && i < 156 ? ' ' : h[i];

		usum += b;
		ssum += (signed char)b;
	}
	return (int64_t)usum == want || ssum == want;
}

/* Copies a header string field (NUL-terminated unless it fills n). */
static size_t field_cpy(char *dst, const uint8_t *f, size_t n)
{
	size_t k = strnlen((const char *)f, n);

	memcpy(dst, f, k);
	dst[k] = '\0';
	return k;
}

struct tar_meta {
	int have_path, have_link, have_size, have_uid, have_gid, have_mtime;
	int gnu_path, gnu_link;
	uint64_t size;
	uint32_t uid, gid;
	int64_t mtime;
};

/* A decimal unsigned number, all of s[0..n). */
static int dec_num(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* One pax string value into dst (path, linkpath); an empty value unsets. */
static int pax_str(struct ar_tar *t, char *dst, int *have, const char *v,
		   size_t n, const char *key, struct cr_error **err)
{
	if (n == 0) {
		*have = 0;
		return 0;
	}
	if (n > AR_TAR_PATH_MAX)
		return cr_error_set(err, ENAMETOOLONG,
				    "entry %u: pax %s longer than %d bytes", t->index,
				    key, AR_TAR_PATH_MAX);
	if (memchr(v, '\0', n) != NULL)
		return cr_error_set(err, EBADMSG, "entry %u: pax %s holds a NUL byte",
				    t->index, key);
	memcpy(dst, v, n);
	dst[n] = '\0';
	*have = 1;
	return 0;
}

/* The records of a pax extended header ("LEN key=value\n" each). */
static int pax_parse(struct ar_tar *t, const char *p, size_t size,
		     struct tar_meta *m, struct cr_error **err)
{
	const char *end = p + size;

	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p) < 21 ? (size_t)(end - p) : 21);
		const char *key, *eq, *val;
		uint64_t len, v;
		size_t klen, vlen;

		if (sp == NULL || dec_num(p, (size_t)(sp - p), UINT64_MAX, &len) < 0)
			return cr_error_set(err, EBADMSG, "entry %u: bad pax record length",
					    t->index);
		if (len > AR_TAR_PAX_RECORD_MAX)
			return cr_error_set(err, EMSGSIZE,
					    "entry %u: pax record longer than 64 KiB", t->index);
		if (len > (uint64_t)(end - p) || len < (uint64_t)(sp - p) + 3 ||
		    p[len - 1] != '\n')
			return cr_error_set(err, EBADMSG, "entry %u: malformed pax record",
					    t->index);
		key = sp + 1;
		eq = memchr(key, '=', (size_t)(p + len - 1 - key));
		if (eq == NULL || eq == key)
			return cr_error_set(err, EBADMSG, "entry %u: pax record without a key",
					    t->index);
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = (size_t)(p + len - 1 - val);
		p += len;
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
		if (KEY("path")) {
			if (pax_str(t, t->path, &m->have_path, val, vlen, "path", err) < 0)
				return -1;
		} else if (KEY("linkpath")) {
			if (pax_str(t, t->link, &m->have_link, val, vlen, "linkpath",
				    err) < 0)
				return -1;
		} else if (KEY("size")) {
			if (dec_num(val, vlen, (uint64_t)1 << 62, &m->size) < 0)
				return cr_error_set(err, EBADMSG, "entry %u: bad pax size",
						    t->index);
			m->have_size = 1;
		} else if (KEY("uid") || KEY("gid")) {
			if (dec_num(val, vlen, UINT32_MAX, &v) < 0)
				return cr_error_set(err, EBADMSG, "entry %u: bad pax %.*s",
						    t->index, (int)klen, key);
			if (key[0] == 'u') {
				m->uid = (uint32_t)v;
				m->have_uid = 1;
			} else {
				m->gid = (uint32_t)v;
				m->have_gid = 1;
			}
		} else if (KEY("mtime")) {
			/* seconds, maybe negative, maybe with a fraction */
			const char *dot = memchr(val, '.', vlen);
			size_t ilen = dot ? (size_t)(dot - val) : vlen;
			int neg = ilen > 0 && val[0] == '-';

			if (dec_num(val + neg, ilen - (size_t)neg, INT64_MAX, &v) < 0)
				return cr_error_set(err, EBADMSG, "entry %u: bad pax mtime",
						    t->index);
			m->mtime = neg ? -(int64_t)v : (int64_t)v;
			m->have_mtime = 1;
		} else if (klen > 11 && memcmp(key, "GNU.sparse.", 11) == 0) {
			return cr_error_set(err, ENOTSUP,
					    "entry %u: GNU sparse files are not supported",
					    t->index);
		}
#undef KEY
	}
	return 0;
}

/* Reads the data of a metadata header (pax, GNU long name) of size bytes
 * and its padding into a new buffer of size + 1 bytes, NUL-terminated. */
static char *meta_data(struct ar_tar *t, uint64_t size, struct cr_error **err)
{
	char *buf = malloc((size_t)size + 1);
	ssize_t n;

	if (buf == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	n = dec_full(t, buf, (size_t)size, err);
	if (n >= 0 && (uint64_t)n < size)
		cr_error_set(err, EBADMSG, "truncated extended header");
	if (n < 0 || (uint64_t)n < size ||
	    dec_skip(t, (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK, err) < 0) {
		cr_error_wrap(err, "entry %u", t->index);
		free(buf);
		return NULL;
	}
	buf[size] = '\0';
	return buf;
}

/* After the end marker: reads the rest of a compressed stream, so that its
 * checksums are verified; a plain tar's trailing bytes are not read. */
static int tar_drain(struct ar_tar *t, struct cr_error **err)
{
	uint8_t buf[8192];
	ssize_t n;

	if (t->dec == DEC_PLAIN)
		return 0;
	while ((n = dec_read(t, buf, sizeof(buf), err)) > 0)
		;
	return n < 0 ? cr_error_wrap(err, "after the end of the archive") : 0;
}

int ar_tar_next(struct ar_tar *t, struct ar_tar_entry *e, struct cr_error **err)
{
	uint8_t h[TAR_BLOCK];
	struct tar_meta m = { 0 };
	int64_t v;
	uint64_t size;
	char type;
	int ustar;

	memset(e, 0, sizeof(*e));
	if (t->ended)
		return 0;
	if (t->data_left + t->pad_left > 0 &&
	    dec_skip(t, t->data_left + t->pad_left, err) < 0)
		return cr_error_wrap(err, "entry %u", t->index);
	t->data_left = t->pad_left = 0;
	t->index++;
	for (;;) {
		ssize_t n = dec_full(t, h, TAR_BLOCK, err);
		int zero = 1;

		if (n < 0)
			return cr_error_wrap(err, "entry %u", t->index);
		if (n == 0 && t->out_total == 0) {
			/* an empty input (or an empty compressed stream): an
			 * empty archive */
			t->ended = 1;
			t->index = 0;
			return 0;
		}
		if (n == 0)
			return cr_error_set(err, EBADMSG,
					    "entry %u: the archive ends without its end marker "
					    "(truncated)", t->index);
		if (n < TAR_BLOCK)
			return cr_error_set(err, EBADMSG, "entry %u: truncated header",
					    t->index);
		for (int i = 0; i < TAR_BLOCK && zero; i++)
			zero = h[i] == 0;
		if (zero) {
			/* The end marker is two zero blocks; one, then the end
			 * of the input, is accepted as well. */
			if (m.have_path || m.have_link || m.gnu_path || m.gnu_link ||
			    m.have_size)
				return cr_error_set(err, EBADMSG,
						    "entry %u: extended header without an entry",
						    t->index);
			t->ended = 1;
			t->index--;
			return tar_drain(t, err);
		}
		if (!tar_checksum_ok(h))
			return cr_error_set(err, EBADMSG, "entry %u: header checksum mismatch",
					    t->index);
		if (tar_num(h + 124, 12, &v) < 0 || v < 0 || v > (int64_t)1 << 62)
			return cr_error_set(err, EBADMSG, "entry %u: bad size field", t->index);
		size = (uint64_t)v;
		type = (char)h[156];
		if (type == 'x' || type == 'g') {
			char *pax;
			int ret = 0;

			if (size > AR_TAR_PAX_MAX)
				return cr_error_set(err, EMSGSIZE,
						    "entry %u: pax header of %llu bytes, more than 1 MiB",
						    t->index, (unsigned long long)size);
			if (type == 'g') { /* global: ignored */
				if (dec_skip(t, size + (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK,
					     err) < 0)
					return cr_error_wrap(err, "entry %u", t->index);
				continue;
			}
			pax = meta_data(t, size, err);
			if (pax == NULL)
				return -1;
			ret = pax_parse(t, pax, (size_t)size, &m, err);
			free(pax);
			if (ret < 0)
				return -1;
			continue;
		}
		if (type == 'L' || type == 'K') {
			char *name;
			size_t k;

			if (size > AR_TAR_PATH_MAX + 1)
				return cr_error_set(err, ENAMETOOLONG,
						    "entry %u: GNU long %s longer than %d bytes",
						    t->index, type == 'L' ? "name" : "link",
						    AR_TAR_PATH_MAX);
			name = meta_data(t, size, err);
			if (name == NULL)
				return -1;
			/* GNU tar counts the name's NUL in its size; the
			 * name ends at the first NUL */
			k = strlen(name);
			if (k > AR_TAR_PATH_MAX) {
				free(name);
				return cr_error_set(err, ENAMETOOLONG,
						    "entry %u: GNU long %s longer than %d bytes",
						    t->index, type == 'L' ? "name" : "link",
						    AR_TAR_PATH_MAX);
			}
			memcpy(type == 'L' ? t->path : t->link, name, k + 1);
			if (type == 'L')
				m.gnu_path = 1;
			else
				m.gnu_link = 1;
			free(name);
			continue;
		}
		break;
	}

	ustar = memcmp(h + 257, "ustar\0" "00", 8) == 0;
	if (!m.have_path && !m.gnu_path) {
		size_t k = 0;

		if (ustar && h[345] != '\0') {
			k = field_cpy(t->path, h + 345, 155);
			t->path[k++] = '/';
		}
		field_cpy(t->path + k, h, 100);
	}
	if (!m.have_link && !m.gnu_link)
		field_cpy(t->link, h + 157, 100);
	e->index = t->index;
	e->path = t->path;
	e->link = t->link;
	if (tar_num(h + 100, 8, &v) < 0)
		return cr_error_set(err, EBADMSG, "entry %u: bad mode field", t->index);
	e->mode = (uint32_t)v & 07777;
	if (m.have_uid)
		e->uid = m.uid;
	else if (tar_num(h + 108, 8, &v) < 0 || v < 0 || v > UINT32_MAX)
		return cr_error_set(err, EBADMSG, "entry %u: bad uid field", t->index);
	else
		e->uid = (uint32_t)v;
	if (m.have_gid)
		e->gid = m.gid;
	else if (tar_num(h + 116, 8, &v) < 0 || v < 0 || v > UINT32_MAX)
		return cr_error_set(err, EBADMSG, "entry %u: bad gid field", t->index);
	else
		e->gid = (uint32_t)v;
	if (m.have_mtime)
		e->mtime = m.mtime;
	else if (tar_num(h + 136, 12, &v) < 0)
		return cr_error_set(err, EBADMSG, "entry %u: bad mtime field", t->index);
	else
		e->mtime = v;
	if (m.have_size)
		size = m.size;
	switch (type) {
	case '0':
	case '\0':
	case '7':
		/* old tars mark folders with a trailing slash */
		e->type = t->path[0] && t->path[strlen(t->path) - 1] == '/' ? AR_TAR_DIR
									      : AR_TAR_REG;
		break;
	case '1':
		e->type = AR_TAR_HARDLINK;
		break;
	case '2':
		e->type = AR_TAR_SYMLINK;
		break;
	case '3':
	case '4':
		e->type = type == '3' ? AR_TAR_CHR : AR_TAR_BLK;
		if (tar_num(h + 329, 8, &v) < 0 || v < 0 || v > UINT32_MAX)
			return cr_error_set(err, EBADMSG, "entry %u: bad device field",
					    t->index);
		e->devmajor = (uint32_t)v;
		if (tar_num(h + 337, 8, &v) < 0 || v < 0 || v > UINT32_MAX)
			return cr_error_set(err, EBADMSG, "entry %u: bad device field",
					    t->index);
		e->devminor = (uint32_t)v;
		break;
	case '5':
		e->type = AR_TAR_DIR;
		break;
	case '6':
		e->type = AR_TAR_FIFO;
		break;
	case 'S':
		return cr_error_set(err, ENOTSUP,
				    "entry %u: GNU sparse files are not supported", t->index);
	default:
		e->type = AR_TAR_OTHER;
		break;
	}
	/* As Go's and Python's readers do: links, folders, devices and fifos
	 * have no data whatever their size field says. */
	if (e->type == AR_TAR_REG || e->type == AR_TAR_OTHER) {
		e->size = size;
		t->data_left = size;
		t->pad_left = (uint32_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
	}
	return 1;
}

ssize_t ar_tar_read(struct ar_tar *t, void *buf, size_t cap, struct cr_error **err)
{
	ssize_t n;

	if (t->data_left == 0 || cap == 0)
		return 0;
	if (cap > t->data_left)
		cap = (size_t)t->data_left;
	n = dec_read(t, buf, cap, err);
	if (n < 0)
		return cr_error_wrap(err, "entry %u", t->index);
	if (n == 0)
		return cr_error_set(err, EBADMSG,
				    "entry %u: truncated data (%llu bytes missing)", t->index,
				    (unsigned long long)t->data_left);
	t->data_left -= (uint64_t)n;
	return n;
}
