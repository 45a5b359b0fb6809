/*
 * The tar reader of tar.h: three layers, each pulling from the one below.
 *
 *   source   the caller's read function into a 64 KiB buffer
 *   decoder  plain, gzip (zlib's streaming inflate) or zstd (libzstd's)
 *   tar      512-byte headers, pax and GNU extensions, entry data
 *
 * Both decompressors are asked for no more output than the tar layer
 * needs, so an entry's data streams through without a copy of the layer.
 * The inflate is zlib's rather than our own: a decompressor of untrusted
 * input is the kind of code a well-kept, widely fuzzed library does
 * better (every sysroot has zlib, mips's built from Debian's source).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "tar.h"

enum {
	TAR_BLOCK = 512,
	TAR_IN_CAP = 64 << 10,
};

enum dec_kind { DEC_PLAIN, DEC_GZIP, DEC_ZSTD };

struct ar_tar {
	ar_tar_read_fn read;
	void *ctx;
	int fd; /* ar_tar_open_fd's source */

	uint8_t *in;
	size_t in_pos, in_len;
	int in_eof;

	enum dec_kind dec;
	/* gzip */
	z_stream z;
	int z_init; /* inflateInit2 done: inflateEnd owed */
	int gz_mid; /* inside a member: the input must not end here */
	int gz_done;
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

/* ---- gzip ---- */

/* gzip through zlib's inflate: members one after another (gzip -c a b),
 * each with its CRC and length checked by zlib; 0 at the end of the last.
 * Bytes after a member that cannot start another (not 0x1f: the zero
 * padding some writers add) end the stream and are ignored, as gzip(1)
 * does. */
static ssize_t gz_read(struct ar_tar *t, uint8_t *out, size_t cap,
		       struct cr_error **err)
{
	z_stream *z = &t->z;

	z->next_out = out;
	z->avail_out = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
	for (;;) {
		size_t made;
		int r, zr;

		if (t->gz_done)
			return 0;
		r = src_fill(t, err);
		if (r < 0)
			return -1;
		if (!t->gz_mid) { /* before a member */
			if (r == 0 || t->in[t->in_pos] != 0x1f) {
				t->gz_done = 1;
				return 0;
			}
			if (inflateReset(z) != Z_OK)
				return cr_error_set(err, EINVAL, "gzip: inflateReset failed");
			t->gz_mid = 1;
		}
		z->next_in = t->in + t->in_pos;
		z->avail_in = (uInt)(t->in_len - t->in_pos);
		zr = inflate(z, Z_NO_FLUSH);
		t->in_pos = t->in_len - z->avail_in;
		made = (size_t)(z->next_out - out);
		if (zr == Z_STREAM_END)
			t->gz_mid = 0;
		else if (zr == Z_MEM_ERROR)
			return cr_error_set(err, ENOMEM, "gzip: out of memory");
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			/* Z_DATA_ERROR: a corrupt stream, CRC or length
			 * mismatch ("incorrect data check"), in z->msg */
			return cr_error_set(err, EBADMSG, "gzip: %s",
					    z->msg != NULL ? z->msg : zError(zr));
		if (made > 0)
			return (ssize_t)made;
		/* nothing made: more input is needed, unless there is none */
		if (t->gz_mid && r == 0)
			return cr_error_set(err, EBADMSG, "gzip: truncated stream");
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
		/* 16 + MAX_WBITS: a gzip wrapper (not zlib's), any window */
		if (inflateInit2(&t->z, 16 + MAX_WBITS) != Z_OK) {
			ar_tar_free(t);
			return cr_error_set(err, ENOMEM, "gzip: inflateInit2 failed");
		}
		t->z_init = 1;
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
	if (t->z_init)
		inflateEnd(&t->z);
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
