/*
 * Binary deltas between two versions of a file, bsdiff-style: a suffix
 * array of the old file (libdivsufsort) finds, for each stretch of the new
 * file, the longest matching stretch of the old one; around each match the
 * delta extends approximately-equal regions, whose bytewise differences
 * (mostly zeros where a rebuilt binary only shifted its addresses) form the
 * "diff" stream, and what matches nothing forms the "extra" stream.  A
 * control stream of (add, copy, seek) triples says how to interleave
 * them.  The three streams are compressed with zstd.
 *
 * Format (little-endian), see docs/archon.md:
 *   "ARDELTA\0" u32 version u64 old_size u64 new_size
 *   u64 ctrl_zlen u64 diff_zlen u64 extra_zlen, then the three zstd frames.
 *   ctrl: triples of u64 add, u64 copy, i64 seek.
 */
#ifdef AR_WITH_DELTA_MAKE
#include <divsufsort.h>
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "ar/chunk.h"
#include "ar/wire.h"
#include "store-internal.h"

static const uint8_t delta_magic[8] = { 'A', 'R', 'D', 'E', 'L', 'T', 'A', 0 };

enum {
	DELTA_VERSION = 1,
	DELTA_HEADER = 8 + 4 + 5 * 8,
	DELTA_LEVEL = 19,
	DELTA_MAX_FILE = 1 << 30, /* larger files travel as chunks */
};

#ifdef AR_WITH_DELTA_MAKE
static size_t matchlen(const uint8_t *a, size_t alen, const uint8_t *b,
		       size_t blen)
{
	size_t i, n = alen < blen ? alen : blen;

	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return i;
}

/* Longest match of nw[0..nlen) among the suffixes sa[st..en] of old. */
static size_t search(const saidx_t *sa, const uint8_t *old, size_t olen,
		     const uint8_t *nw, size_t nlen, size_t st, size_t en,
		     size_t *pos)
{
	while (en - st >= 2) {
		size_t x = st + (en - st) / 2;
		size_t sx = (size_t)sa[x];
		size_t n = olen - sx < nlen ? olen - sx : nlen;

		if (memcmp(old + sx, nw, n) < 0)
			st = x;
		else
			en = x;
	}
	{
		size_t a = matchlen(old + sa[st], olen - (size_t)sa[st], nw, nlen);
		size_t b = matchlen(old + sa[en], olen - (size_t)sa[en], nw, nlen);

		if (a > b) {
			*pos = (size_t)sa[st];
			return a;
		}
		*pos = (size_t)sa[en];
		return b;
	}
}

struct streams {
	struct ar_wbuf ctrl, diff, extra;
};

static void emit(struct streams *s, const uint8_t *old, const uint8_t *nw,
		 size_t lastscan, size_t lastpos, size_t lenf, size_t extra_len,
		 int64_t seek)
{
	for (size_t i = 0; i < lenf; i++)
		ar_w_u8(&s->diff, (uint8_t)(nw[lastscan + i] - old[lastpos + i]));
	ar_w_bytes(&s->extra, nw + lastscan + lenf, extra_len);
	ar_w_u64(&s->ctrl, lenf);
	ar_w_u64(&s->ctrl, extra_len);
	ar_w_u64(&s->ctrl, (uint64_t)seek);
}

static void diff_streams(const uint8_t *old, size_t olen, const uint8_t *nw,
			 size_t nlen, const saidx_t *sa, struct streams *s)
{
	size_t scan = 0, len = 0, pos = 0, lastscan = 0, lastpos = 0;
	int64_t lastoffset = 0;

	while (scan < nlen) {
		size_t oldscore = 0, scsc;

		for (scsc = scan += len; scan < nlen; scan++) {
			len = search(sa, old, olen, nw + scan, nlen - scan, 0,
				     olen - 1, &pos);
			for (; scsc < scan + len; scsc++)
				if ((int64_t)scsc + lastoffset < (int64_t)olen &&
				    old[(int64_t)scsc + lastoffset] == nw[scsc])
					oldscore++;
			if ((len == oldscore && len != 0) || len > oldscore + 8)
				break;
			if ((int64_t)scan + lastoffset < (int64_t)olen &&
			    old[(int64_t)scan + lastoffset] == nw[scan])
				oldscore--;
		}
		if (len != oldscore || scan == nlen) {
			size_t lenf = 0, lenb = 0, i;
			int64_t sc = 0, best = 0;

			/* Extend the previous match forward... */
			for (i = 0; lastscan + i < scan && lastpos + i < olen;) {
				if (old[lastpos + i] == nw[lastscan + i])
					sc++;
				i++;
				if (sc * 2 - (int64_t)i > best * 2 - (int64_t)lenf) {
					best = sc;
					lenf = i;
				}
			}
			/* ...and this one backward. */
			if (scan < nlen) {
				sc = 0;
				best = 0;
				for (i = 1; scan >= lastscan + i && pos >= i; i++) {
					if (old[pos - i] == nw[scan - i])
						sc++;
					if (sc * 2 - (int64_t)i >
					    best * 2 - (int64_t)lenb) {
						best = sc;
						lenb = i;
					}
				}
			}
			/* Where they overlap, split at the best point. */
			if (lastscan + lenf > scan - lenb) {
				size_t overlap = (lastscan + lenf) - (scan - lenb);
				size_t lens = 0;

				sc = 0;
				best = 0;
				for (i = 0; i < overlap; i++) {
					if (nw[lastscan + lenf - overlap + i] ==
					    old[lastpos + lenf - overlap + i])
						sc++;
					if (nw[scan - lenb + i] == old[pos - lenb + i])
						sc--;
					if (sc > best) {
						best = sc;
						lens = i + 1;
					}
				}
				lenf += lens - overlap;
				lenb -= lens;
			}
			emit(s, old, nw, lastscan, lastpos, lenf,
			     (scan - lenb) - (lastscan + lenf),
			     (int64_t)(pos - lenb) - (int64_t)(lastpos + lenf));
			lastscan = scan - lenb;
			lastpos = pos - lenb;
			lastoffset = (int64_t)pos - (int64_t)scan;
		}
	}
}

static int compress_into(struct ar_wbuf *out, const struct ar_wbuf *in,
			 uint64_t *zlen)
{
	size_t bound = ar_chunk_wire_bound(in->len);
	long n;
	size_t start = out->len;

	ar_w_bytes(out, NULL, 0);
	if (out->failed)
		return -1;
	/* Make room, then compress in place at the end. */
	for (size_t i = 0; i < bound && !out->failed; i += 65536) {
		size_t step = bound - i < 65536 ? bound - i : 65536;
		static const uint8_t zero[65536];

		ar_w_bytes(out, zero, step);
	}
	if (out->failed)
		return -1;
	n = ar_chunk_pack(out->p + start, bound, in->p ? in->p : (const void *)"",
			  in->len, DELTA_LEVEL);
	if (n < 0)
		return -1;
	out->len = start + (size_t)n;
	*zlen = (uint64_t)n;
	return 0;
}

int ar_delta_make(const uint8_t *old, size_t oldlen, const uint8_t *nw,
		  size_t newlen, uint8_t **out, size_t *outlen,
		  struct cr_error **err)
{
	struct streams s = { { 0 }, { 0 }, { 0 } };
	struct ar_wbuf d = { 0 };
	saidx_t *sa = NULL;
	uint64_t z[3] = { 0, 0, 0 };
	size_t zpos;
	int ret = -1;

	if (oldlen > DELTA_MAX_FILE || newlen > DELTA_MAX_FILE)
		return cr_error_set(err, EFBIG, "delta: file too large");
	if (oldlen > 0) {
		sa = malloc(oldlen * sizeof(*sa));
		if (sa == NULL)
			return cr_error_set(err, ENOMEM, "delta: out of memory");
		if (divsufsort(old, sa, (saidx_t)oldlen) != 0) {
			free(sa);
			return cr_error_set(err, EIO, "delta: suffix sort failed");
		}
		diff_streams(old, oldlen, nw, newlen, sa, &s);
		free(sa);
	} else {
		emit(&s, old, nw, 0, 0, 0, newlen, 0);
	}
	ar_w_bytes(&d, delta_magic, sizeof(delta_magic));
	ar_w_u32(&d, DELTA_VERSION);
	ar_w_u64(&d, oldlen);
	ar_w_u64(&d, newlen);
	zpos = d.len;
	ar_w_u64(&d, 0);
	ar_w_u64(&d, 0);
	ar_w_u64(&d, 0);
	if (s.ctrl.failed || s.diff.failed || s.extra.failed || d.failed ||
	    compress_into(&d, &s.ctrl, &z[0]) < 0 ||
	    compress_into(&d, &s.diff, &z[1]) < 0 ||
	    compress_into(&d, &s.extra, &z[2]) < 0) {
		cr_error_set(err, ENOMEM, "delta: out of memory or compression failed");
		free(d.p);
		goto out;
	}
	for (int i = 0; i < 3; i++)
		for (int b = 0; b < 8; b++)
			d.p[zpos + 8 * (size_t)i + (size_t)b] = (uint8_t)(z[i] >> (8 * b));
	*out = d.p;
	*outlen = d.len;
	ret = 0;
out:
	free(s.ctrl.p);
	free(s.diff.p);
	free(s.extra.p);
	return ret;
}

#endif /* AR_WITH_DELTA_MAKE */

/*
 * Decompresses one frame of exactly zlen bytes holding at most max bytes.
 * The frame's declared size is only a claim: the buffer grows with what
 * really comes out (a 100-byte frame may claim 4 GB), never past max.
 */
static int unzstd(const uint8_t *z, size_t zlen, size_t max, uint8_t **out,
		  size_t *len)
{
	unsigned long long n = ZSTD_getFrameContentSize(z, zlen);
	ZSTD_DCtx *dc;
	ZSTD_inBuffer in = { z, zlen, 0 };
	size_t cap = 0, used = 0, r = 1;
	uint8_t *buf = NULL;

	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ||
	    n > max)
		return -1;
	dc = ZSTD_createDCtx();
	if (dc == NULL)
		return -1;
	while (r != 0) {
		ZSTD_outBuffer o;

		if (used == cap) {
			size_t nc = cap ? cap * 2 : 64 * 1024;
			uint8_t *nb;

			if (nc > n)
				nc = (size_t)n > used ? (size_t)n : used + 1;
			nb = realloc(buf, nc ? nc : 1);
			if (nb == NULL)
				break;
			buf = nb;
			cap = nc;
		}
		o = (ZSTD_outBuffer){ buf, cap, used };
		r = ZSTD_decompressStream(dc, &o, &in);
		used = o.pos;
		if (ZSTD_isError(r) || used > n ||
		    (r != 0 && in.pos == in.size && used < cap))
			break;
	}
	ZSTD_freeDCtx(dc);
	if (r != 0 || used != n || in.pos != in.size) {
		free(buf);
		return -1;
	}
	*out = buf != NULL ? buf : malloc(1);
	*len = used;
	return *out != NULL ? 0 : -1;
}

int ar_delta_apply(const uint8_t *old, size_t oldlen, const uint8_t *delta,
		   size_t dlen, uint8_t **out, size_t *outlen,
		   struct cr_error **err)
{
	struct ar_rbuf r = { .p = delta, .len = dlen };
	const uint8_t *p;
	uint64_t osz, nsz, z[3];
	uint8_t *ctrl = NULL, *diff = NULL, *extra = NULL, *nw = NULL;
	size_t clen, flen, elen, ci = 0, di = 0, ei = 0;
	uint64_t oldpos = 0, newpos = 0;
	int ret = -1;

	p = ar_r_bytes(&r, sizeof(delta_magic));
	if (p == NULL || memcmp(p, delta_magic, sizeof(delta_magic)) ||
	    ar_r_u32(&r) != DELTA_VERSION)
		return cr_error_set(err, EBADMSG, "delta: bad magic or version");
	osz = ar_r_u64(&r);
	nsz = ar_r_u64(&r);
	for (int i = 0; i < 3; i++)
		z[i] = ar_r_u64(&r);
	if (r.short_read || osz != oldlen || nsz > DELTA_MAX_FILE)
		return cr_error_set(err, EBADMSG, "delta: header does not fit the base");
	if (z[0] > dlen || z[1] > dlen || z[2] > dlen ||
	    z[0] + z[1] + z[2] != dlen - r.pos)
		return cr_error_set(err, EBADMSG, "delta: stream lengths do not add up");
	if (unzstd(delta + r.pos, z[0], 24 * (nsz + 1), &ctrl, &clen) < 0 ||
	    unzstd(delta + r.pos + z[0], z[1], nsz, &diff, &flen) < 0 ||
	    unzstd(delta + r.pos + z[0] + z[1], z[2], nsz, &extra, &elen) < 0 ||
	    clen % 24 != 0) {
		cr_error_set(err, EBADMSG, "delta: a stream does not decompress");
		goto out;
	}
	nw = malloc(nsz ? nsz : 1);
	if (nw == NULL) {
		cr_error_set(err, ENOMEM, "delta: out of memory");
		goto out;
	}
	while (ci < clen) {
		struct ar_rbuf c = { .p = ctrl + ci, .len = 24 };
		uint64_t add = ar_r_u64(&c), copy = ar_r_u64(&c);
		int64_t seek = (int64_t)ar_r_u64(&c);

		ci += 24;
		if (add > nsz - newpos || add > flen - di || add > oldlen - oldpos) {
			cr_error_set(err, EBADMSG, "delta: diff run out of bounds");
			goto out;
		}
		for (uint64_t i = 0; i < add; i++)
			nw[newpos + i] = (uint8_t)(diff[di + i] + old[oldpos + i]);
		newpos += add;
		oldpos += add;
		di += add;
		if (copy > nsz - newpos || copy > elen - ei) {
			cr_error_set(err, EBADMSG, "delta: extra run out of bounds");
			goto out;
		}
		memcpy(nw + newpos, extra + ei, copy);
		newpos += copy;
		ei += copy;
		if (seek == INT64_MIN || (seek < 0 && (uint64_t)(-seek) > oldpos) ||
		    (seek > 0 && (uint64_t)seek > oldlen - oldpos)) {
			cr_error_set(err, EBADMSG, "delta: seek out of bounds");
			goto out;
		}
		oldpos = (uint64_t)((int64_t)oldpos + seek);
	}
	if (newpos != nsz) {
		cr_error_set(err, EBADMSG, "delta: result is short");
		goto out;
	}
	*out = nw;
	nw = NULL;
	*outlen = nsz;
	ret = 0;
out:
	free(ctrl);
	free(diff);
	free(extra);
	free(nw);
	return ret;
}
