/*
 * The tar reader (tar.h) on crafted archives: ustar, pax and GNU long
 * names, every entry type OCI layers carry, gzip (a dynamic-Huffman
 * member from gzip -9, a stored member made here) and zstd; and the
 * refusals with their messages: a bad checksum, truncated inputs,
 * oversized pax records and headers, bad gzip streams (zlib's checks:
 * CRC, length, block type, member header; a cut stream).  Through the
 * import (import-internal.h): a path climbing out with ".." and an
 * absolute one are refused, a hard link shares its target's content.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "../check_main.h"
#include "import-internal.h"
#include "tar.h"

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void pad(struct buf *b)
{
	static const uint8_t zero[512];

	if (b->n % 512)
		put(b, zero, 512 - b->n % 512);
}

/* A ustar header; the checksum is computed unless bad. */
static void hdr_full(struct buf *b, const char *name, char type, uint64_t size,
		     const char *link, unsigned major, unsigned minor, int bad)
{
	uint8_t h[512] = { 0 };
	unsigned sum = 0;

	memcpy(h, name, strnlen(name, 100));
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 1000);
	snprintf((char *)h + 116, 8, "%07o", 1001);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	h[156] = (uint8_t)type;
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	memcpy(h + 257, "ustar\0" "00", 8);
	snprintf((char *)h + 329, 8, "%07o", major);
	snprintf((char *)h + 337, 8, "%07o", minor);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum + (bad ? 1 : 0));
	put(b, h, 512);
}

static void hdr(struct buf *b, const char *name, char type, uint64_t size,
		const char *link)
{
	hdr_full(b, name, type, size, link, 0, 0, 0);
}

static void file(struct buf *b, const char *name, const char *text)
{
	hdr(b, name, '0', strlen(text), NULL);
	put(b, text, strlen(text));
	pad(b);
}

/* A header of type 'x', 'g', 'L' or 'K' with data d (n bytes). */
static void meta(struct buf *b, char type, const void *d, size_t n)
{
	hdr(b, type == 'L' || type == 'K' ? "././@LongLink" : "pax", type, n, NULL);
	put(b, d, n);
	pad(b);
}

/* Appends one "LEN key=value\n" record to r. */
static void record(struct buf *r, const char *key, const char *val)
{
	size_t body = strlen(key) + strlen(val) + 3, len = body + 1;
	char head[24];

	while ((size_t)snprintf(head, sizeof(head), "%zu", len) + body != len)
		len = (size_t)snprintf(head, sizeof(head), "%zu", len) + body;
	put(r, head, strlen(head));
	put(r, " ", 1);
	put(r, key, strlen(key));
	put(r, "=", 1);
	put(r, val, strlen(val));
	put(r, "\n", 1);
}

static void end(struct buf *b)
{
	static const uint8_t zero[1024];

	put(b, zero, sizeof(zero));
}

/* The reader's source: a byte array handed out a few bytes at a time, so
 * that every boundary inside headers and blocks is crossed. */
struct mem {
	const uint8_t *p;
	size_t n, pos, step;
};

static ssize_t mem_read(void *ctx, void *out, size_t cap, struct cr_error **err)
{
	struct mem *m = ctx;
	size_t k = m->n - m->pos;

	(void)err;
	if (k > cap)
		k = cap;
	if (k > m->step)
		k = m->step;
	memcpy(out, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

/* Reads the whole archive into a listing, one line per entry
 * ("TYPE PATH -> LINK size=N uid=U gid=G mtime=T dev=MA,MI data"), data
 * cut to 40 bytes; returns the error message or "" at a clean end. */
static char listing[1 << 16];
static char errmsg[512];

static void list(const uint8_t *p, size_t n, size_t step)
{
	struct mem m = { p, n, 0, step };
	struct ar_tar *t;
	struct ar_tar_entry e;
	struct cr_error *err = NULL;
	int r;

	listing[0] = errmsg[0] = '\0';
	ck_assert_int_eq(ar_tar_open(&t, mem_read, &m, &err), 0);
	while ((r = ar_tar_next(t, &e, &err)) > 0) {
		char data[4096] = "";
		size_t got = 0;
		ssize_t k;

		while ((k = ar_tar_read(t, data + got, sizeof(data) - 1 - got, &err)) > 0)
			got += (size_t)k;
		if (k < 0)
			break;
		data[got > 40 ? 40 : got] = '\0';
		snprintf(listing + strlen(listing), sizeof(listing) - strlen(listing),
			 "%u %d %s -> %s size=%llu uid=%u gid=%u mtime=%lld dev=%u,%u %s\n",
			 e.index, (int)e.type, e.path, e.link, (unsigned long long)e.size,
			 e.uid, e.gid, (long long)e.mtime, e.devmajor, e.devminor, data);
	}
	if (err != NULL)
		snprintf(errmsg, sizeof(errmsg), "%s", err->msg);
	cr_error_free(err);
	ar_tar_free(t);
}

START_TEST(test_ustar_types)
{
	struct buf b = { 0 };

	hdr(&b, "etc/", '5', 0, NULL);
	file(&b, "etc/motd", "hello\n");
	hdr(&b, "etc/link", '2', 0, "motd");
	hdr(&b, "etc/hard", '1', 0, "etc/motd");
	hdr_full(&b, "dev/null", '3', 0, NULL, 1, 3, 0);
	hdr_full(&b, "dev/sda", '4', 0, NULL, 8, 0, 0);
	hdr(&b, "run/fifo", '6', 0, NULL);
	hdr(&b, "sock", 'Z', 3, NULL); /* unknown type: its data is skipped */
	put(&b, "abc", 3);
	pad(&b);
	file(&b, "last", "x");
	end(&b);
	for (size_t step = 1; step <= 4096; step *= 8) {
		list(b.p, b.n, step);
		ck_assert_str_eq(errmsg, "");
		ck_assert_str_eq(listing,
				 "1 1 etc/ ->  size=0 uid=1000 gid=1001 mtime=1700000000 dev=0,0 \n"
				 "2 0 etc/motd ->  size=6 uid=1000 gid=1001 mtime=1700000000 dev=0,0 hello\n\n"
				 "3 2 etc/link -> motd size=0 uid=1000 gid=1001 mtime=1700000000 dev=0,0 \n"
				 "4 3 etc/hard -> etc/motd size=0 uid=1000 gid=1001 mtime=1700000000 dev=0,0 \n"
				 "5 4 dev/null ->  size=0 uid=1000 gid=1001 mtime=1700000000 dev=1,3 \n"
				 "6 5 dev/sda ->  size=0 uid=1000 gid=1001 mtime=1700000000 dev=8,0 \n"
				 "7 6 run/fifo ->  size=0 uid=1000 gid=1001 mtime=1700000000 dev=0,0 \n"
				 "8 7 sock ->  size=3 uid=1000 gid=1001 mtime=1700000000 dev=0,0 abc\n"
				 "9 0 last ->  size=1 uid=1000 gid=1001 mtime=1700000000 dev=0,0 x\n");
	}
	/* The end marker may be a single zero block; an empty input is an
	 * empty archive. */
	list(b.p, b.n - 512, 512);
	ck_assert_str_eq(errmsg, "");
	list(b.p, 0, 512);
	ck_assert_str_eq(errmsg, "");
	ck_assert_str_eq(listing, "");
	free(b.p);
}
END_TEST

START_TEST(test_pax)
{
	struct buf b = { 0 }, r = { 0 }, g = { 0 };
	char longp[400], longl[300];

	memset(longp, 'p', sizeof(longp));
	memcpy(longp + 200, "/name", 6);
	memset(longl, 'l', sizeof(longl) - 1);
	longl[sizeof(longl) - 1] = '\0';
	record(&g, "comment", "a global header, ignored");
	record(&g, "path", "global/ignored");
	meta(&b, 'g', g.p, g.n);
	record(&r, "path", longp);
	record(&r, "linkpath", longl);
	record(&r, "uid", "70000");
	record(&r, "gid", "4000000000");
	record(&r, "mtime", "1700000123.25");
	record(&r, "SCHILY.xattr.user.x", "ignored");
	meta(&b, 'x', r.p, r.n);
	hdr(&b, "short", '2', 0, "short-target");
	/* pax size overrides the header's */
	r.n = 0;
	record(&r, "size", "5");
	meta(&b, 'x', r.p, r.n);
	hdr(&b, "sized", '0', 0, NULL);
	put(&b, "12345", 5);
	pad(&b);
	/* the overrides apply to one entry only */
	file(&b, "plain", "p");
	end(&b);
	list(b.p, b.n, 100);
	ck_assert_str_eq(errmsg, "");
	{
		char want[2048];

		snprintf(want, sizeof(want),
			 "1 2 %s -> %s size=0 uid=70000 gid=4000000000 mtime=1700000123 dev=0,0 \n"
			 "2 0 sized ->  size=5 uid=1000 gid=1001 mtime=1700000000 dev=0,0 12345\n"
			 "3 0 plain ->  size=1 uid=1000 gid=1001 mtime=1700000000 dev=0,0 p\n",
			 longp, longl);
		ck_assert_str_eq(listing, want);
	}
	free(b.p);
	free(r.p);
	free(g.p);
}
END_TEST

START_TEST(test_gnu_long)
{
	struct buf b = { 0 };
	char name[1001], link[701];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memcpy(name + 500, "/dir/", 5);
	memset(link, 'k', sizeof(link) - 1);
	link[sizeof(link) - 1] = '\0';
	meta(&b, 'L', name, sizeof(name)); /* with its NUL, as GNU tar writes */
	meta(&b, 'K', link, sizeof(link) - 1);
	hdr(&b, "truncated-name", '1', 0, "truncated-link");
	file(&b, "next", "n");
	end(&b);
	list(b.p, b.n, 512);
	ck_assert_str_eq(errmsg, "");
	{
		char want[4096];

		snprintf(want, sizeof(want),
			 "1 3 %s -> %s size=0 uid=1000 gid=1001 mtime=1700000000 dev=0,0 \n"
			 "2 0 next ->  size=1 uid=1000 gid=1001 mtime=1700000000 dev=0,0 n\n",
			 name, link);
		ck_assert_str_eq(listing, want);
	}
	free(b.p);
}
END_TEST

START_TEST(test_refusals)
{
	struct buf b = { 0 }, r = { 0 };
	char *big;

	/* a header checksum off by one */
	file(&b, "a", "a");
	hdr_full(&b, "b", '0', 0, NULL, 0, 0, 1);
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 2: header checksum mismatch");
	ck_assert_str_eq(listing, "1 0 a ->  size=1 uid=1000 gid=1001 mtime=1700000000 dev=0,0 a\n");

	/* truncated: in the data, in a header, at a header without the end
	 * marker */
	b.n = 0;
	file(&b, "a", "0123456789");
	file(&b, "b", "b");
	list(b.p, 512 + 4, 4096);
	ck_assert_str_eq(errmsg, "entry 1: truncated data (6 bytes missing)");
	list(b.p, 1024 + 100, 4096);
	ck_assert_str_eq(errmsg, "entry 2: truncated header");
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg,
			 "entry 3: the archive ends without its end marker (truncated)");
	list(b.p, 1000, 4096); /* in the padding after a's data */
	ck_assert_str_eq(errmsg, "entry 1: truncated archive");

	/* a pax record of more than 64 KiB, a pax header of more than 1 MiB */
	big = malloc(2 << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 'v', 70000);
	big[70000] = '\0';
	b.n = 0;
	file(&b, "one", "1");
	record(&r, "comment", big);
	meta(&b, 'x', r.p, r.n);
	file(&b, "two", "2");
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 2: pax record longer than 64 KiB");
	b.n = 0;
	hdr(&b, "pax", 'x', (2 << 20) - 1, NULL);
	memset(big, 'v', (2 << 20) - 1);
	put(&b, big, (2 << 20) - 1);
	pad(&b);
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 1: pax header of 2097151 bytes, more than 1 MiB");
	/* a malformed record, a path longer than paths may be */
	b.n = 0;
	meta(&b, 'x', "9 path=x\n", 8);
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 1: malformed pax record");
	b.n = 0;
	r.n = 0;
	memset(big, 'p', 5000);
	big[5000] = '\0';
	record(&r, "path", big);
	meta(&b, 'x', r.p, r.n);
	file(&b, "x", "x");
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 1: pax path longer than 4095 bytes");
	b.n = 0;
	meta(&b, 'L', big, 5000);
	file(&b, "x", "x");
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 1: GNU long name longer than 4095 bytes");
	/* 4096 bytes without a NUL: one more than a path may hold */
	b.n = 0;
	meta(&b, 'K', big, 4096);
	hdr(&b, "x", '2', 0, "t");
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 1: GNU long link longer than 4095 bytes");
	/* an extended header with no entry after it */
	b.n = 0;
	r.n = 0;
	record(&r, "path", "p");
	meta(&b, 'x', r.p, r.n);
	end(&b);
	list(b.p, b.n, 4096);
	ck_assert_str_eq(errmsg, "entry 1: extended header without an entry");
	free(big);
	free(b.p);
	free(r.p);
}
END_TEST

/* gzip -9 of a GNU tar holding lines.txt ("line 1\n" .. "line 300\n"):
 * one member, one dynamic-Huffman block. */
static const uint8_t lines_tgz[] = {
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xed, 0xd6,
	0x31, 0x6e, 0xdc, 0x30, 0x14, 0x45, 0xd1, 0xa9, 0xbd, 0x8a, 0x59, 0x41,
	0xc0, 0xf7, 0x44, 0x8a, 0xd2, 0x72, 0x52, 0xb8, 0x08, 0x60, 0xa4, 0x88,
	0x1d, 0x20, 0xcb, 0xcf, 0xc4, 0x7a, 0xf7, 0x1b, 0x48, 0x9f, 0x00, 0x41,
	0xf8, 0x1b, 0x1a, 0x2e, 0x2e, 0xec, 0x19, 0x1e, 0x7d, 0xbd, 0x7c, 0xf9,
	0xfa, 0xfc, 0xfa, 0xe9, 0xed, 0xc7, 0xdb, 0xed, 0xcf, 0x4d, 0x7b, 0xcc,
	0xde, 0xfb, 0xfb, 0xf9, 0x98, 0xdf, 0xcf, 0xd1, 0x7a, 0xbb, 0xa9, 0x0f,
	0xf7, 0x39, 0x1f, 0x3f, 0xfe, 0xfa, 0xfd, 0xdc, 0xad, 0xdb, 0xbd, 0xdd,
	0xfe, 0xc2, 0x7c, 0x7f, 0x7d, 0xfb, 0xfc, 0xed, 0x7e, 0xbf, 0xfd, 0xa7,
	0xf3, 0xf2, 0xf8, 0xfe, 0xef, 0x7a, 0x7a, 0x3f, 0x7c, 0x1d, 0xdb, 0x75,
	0xf4, 0xeb, 0x18, 0xd7, 0xb1, 0x5f, 0xc7, 0xbc, 0x8e, 0xe3, 0x3a, 0xce,
	0xeb, 0x50, 0xcb, 0x99, 0x8e, 0x12, 0x52, 0x4a, 0x4a, 0x4a, 0x69, 0x29,
	0x31, 0xa5, 0xa6, 0xe4, 0x94, 0x9e, 0xd3, 0x33, 0x7f, 0x57, 0x7a, 0x4e,
	0xcf, 0xe9, 0x39, 0x3d, 0xa7, 0xe7, 0xf4, 0x9c, 0x9e, 0xd3, 0xdb, 0xd2,
	0xdb, 0xd2, 0xdb, 0xf8, 0x47, 0xd3, 0xdb, 0xd2, 0xdb, 0xd2, 0xdb, 0xd2,
	0xdb, 0xd2, 0xdb, 0xd2, 0xdb, 0xd2, 0xeb, 0xe9, 0xf5, 0xf4, 0x7a, 0x7a,
	0x9d, 0x4f, 0x2e, 0xbd, 0x9e, 0x5e, 0x4f, 0xaf, 0xa7, 0xd7, 0xd3, 0xeb,
	0xe9, 0x8d, 0xf4, 0x46, 0x7a, 0x23, 0xbd, 0x91, 0xde, 0xe0, 0xab, 0x48,
	0x6f, 0xa4, 0x37, 0xd2, 0x1b, 0xe9, 0x8d, 0xf4, 0xf6, 0xf4, 0xf6, 0xf4,
	0xf6, 0xf4, 0xf6, 0xf4, 0xf6, 0xf4, 0x76, 0xbe, 0xdb, 0xf4, 0xf6, 0xf4,
	0xf6, 0xf4, 0xf6, 0xf4, 0x66, 0x7a, 0x33, 0xbd, 0x99, 0xde, 0x4c, 0x6f,
	0xa6, 0x37, 0xd3, 0x9b, 0x5c, 0x96, 0xf4, 0x66, 0x7a, 0x33, 0xbd, 0x23,
	0xbd, 0x23, 0xbd, 0x23, 0xbd, 0x23, 0xbd, 0x23, 0xbd, 0x23, 0xbd, 0x23,
	0xbd, 0x83, 0xdb, 0x97, 0xde, 0x91, 0xde, 0x99, 0xde, 0x99, 0xde, 0x99,
	0xde, 0x99, 0xde, 0x99, 0xde, 0x99, 0xde, 0x99, 0xde, 0x99, 0xde, 0xc9,
	0x75, 0xae, 0xfb, 0xcc, 0x85, 0x6e, 0xdc, 0xe8, 0xc6, 0x95, 0x6e, 0xdc,
	0xe9, 0xc6, 0xa5, 0x6e, 0xdc, 0xea, 0xc6, 0xb5, 0x6e, 0xdc, 0xeb, 0xc6,
	0xc5, 0x6e, 0x94, 0x3f, 0xa8, 0x50, 0x2e, 0x2c, 0xa5, 0xa5, 0xb8, 0x94,
	0x97, 0x02, 0x53, 0x62, 0x8a, 0x0c, 0x66, 0x04, 0x1a, 0xb9, 0x14, 0x52,
	0xc6, 0x8d, 0x80, 0x23, 0xe4, 0x08, 0x3a, 0xc2, 0x8e, 0xc0, 0x23, 0xf4,
	0x08, 0x3e, 0xc2, 0x8f, 0xb6, 0x02, 0x4e, 0x19, 0x42, 0xc2, 0x90, 0x40,
	0x24, 0x14, 0x09, 0x46, 0xc2, 0x91, 0x80, 0x24, 0x24, 0x09, 0x4a, 0xea,
	0xf5, 0xec, 0xa0, 0x8c, 0x26, 0xc1, 0x49, 0x78, 0x12, 0xa0, 0x84, 0x28,
	0x41, 0x4a, 0x98, 0x12, 0xa8, 0x84, 0x2a, 0x8d, 0x7a, 0x2c, 0x51, 0x06,
	0x96, 0x90, 0x25, 0x68, 0x09, 0x5b, 0x02, 0x97, 0xd0, 0x25, 0x78, 0x09,
	0x5f, 0x02, 0x98, 0xf6, 0x7a, 0xe2, 0x51, 0xc6, 0x98, 0x40, 0x26, 0x94,
	0x09, 0x66, 0xc2, 0x99, 0x80, 0x26, 0xa4, 0x09, 0x6a, 0xc2, 0x9a, 0x66,
	0x3d, 0x4c, 0x29, 0xc3, 0x4d, 0x78, 0x13, 0xe0, 0x84, 0x38, 0x41, 0x4e,
	0x98, 0x13, 0xe8, 0x84, 0x3a, 0xc1, 0x4e, 0x47, 0x3d, 0xa7, 0x29, 0x23,
	0x4f, 0xd0, 0x13, 0xf6, 0x04, 0x3e, 0xa1, 0x4f, 0xf0, 0x13, 0xfe, 0x04,
	0x40, 0x21, 0x50, 0x67, 0xad, 0x80, 0xda, 0x01, 0x2c, 0x01, 0x0c, 0x1a,
	0x83, 0xc6, 0xa0, 0x31, 0x68, 0x0c, 0x1a, 0x83, 0xc6, 0xa0, 0x31, 0x68,
	0x0c, 0x5a, 0xb5, 0x5e, 0x28, 0x63, 0xd0, 0x18, 0x34, 0x06, 0x8d, 0x41,
	0x63, 0xd0, 0x18, 0x34, 0x06, 0x5d, 0x7b, 0xab, 0x16, 0xd7, 0xc7, 0xe6,
	0xa2, 0x5c, 0xbb, 0xab, 0x96, 0x57, 0x6d, 0xaf, 0x5a, 0x5f, 0xb5, 0xbf,
	0x6a, 0x81, 0x61, 0xd0, 0x18, 0x34, 0x06, 0xbd, 0xd5, 0x52, 0xa4, 0x8c,
	0x41, 0x63, 0xd0, 0x18, 0x34, 0x06, 0x8d, 0x41, 0x63, 0xd0, 0x18, 0x34,
	0x06, 0x8d, 0x41, 0xf7, 0xda, 0xb7, 0x94, 0x31, 0x68, 0x0c, 0x1a, 0x83,
	0xc6, 0xa0, 0x31, 0x68, 0x0c, 0x1a, 0x83, 0xc6, 0xa0, 0x31, 0xe8, 0x51,
	0xab, 0x9c, 0x32, 0x06, 0x8d, 0x41, 0x63, 0xd0, 0x18, 0x34, 0x06, 0x8d,
	0x41, 0x63, 0xd0, 0x18, 0x34, 0x06, 0xbd, 0xd7, 0x5b, 0x02, 0x65, 0x0c,
	0x1a, 0x83, 0xc6, 0xa0, 0x31, 0x68, 0x0c, 0x1a, 0x83, 0xc6, 0xa0, 0x31,
	0x68, 0x0c, 0x7a, 0xd6, 0x0b, 0x08, 0x65, 0x0c, 0x1a, 0x83, 0xc6, 0xa0,
	0x31, 0x68, 0x0c, 0x1a, 0x83, 0xc6, 0xa0, 0x31, 0x68, 0x0c, 0xfa, 0xa8,
	0x77, 0x1b, 0xca, 0x18, 0x34, 0x06, 0x8d, 0x41, 0x63, 0xd0, 0x18, 0x34,
	0x06, 0x8d, 0x41, 0x63, 0xd0, 0x18, 0xf4, 0x59, 0xaf, 0x4d, 0xf5, 0xde,
	0xd4, 0x9e, 0x6e, 0x6b, 0xd6, 0xac, 0x59, 0xb3, 0x66, 0xcd, 0x9a, 0x35,
	0x6b, 0xd6, 0xac, 0x59, 0xb3, 0x66, 0xcd, 0x9a, 0x35, 0x6b, 0xd6, 0xac,
	0x59, 0xb3, 0x66, 0xcd, 0x9a, 0x35, 0x6b, 0xd6, 0xac, 0xf9, 0x67, 0xe6,
	0x27, 0x52, 0x6f, 0x61, 0x09, 0x00, 0x28, 0x00, 0x00,
};

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

/* A gzip member of stored blocks (at most 1000 bytes each). */
static void gzip_stored(struct buf *out, const uint8_t *p, size_t n)
{
	static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	uint32_t crc = crc32_of(p, n), len = (uint32_t)n;
	size_t off = 0;

	put(out, head, sizeof(head));
	do {
		size_t k = n - off > 1000 ? 1000 : n - off;
		uint8_t bh[5] = { off + k == n, (uint8_t)k, (uint8_t)(k >> 8),
				  (uint8_t)~k, (uint8_t)(~k >> 8) };

		put(out, bh, sizeof(bh));
		put(out, p + off, k);
		off += k;
	} while (off < n);
	for (int i = 0; i < 4; i++)
		put(out, (uint8_t[]){ (uint8_t)(crc >> (8 * i)) }, 1);
	for (int i = 0; i < 4; i++)
		put(out, (uint8_t[]){ (uint8_t)(len >> (8 * i)) }, 1);
}

START_TEST(test_compressed)
{
	struct buf b = { 0 }, z = { 0 };
	char want[4096], text[3000] = "";
	size_t zn;

	for (int i = 1; i <= 300 && strlen(text) < 40; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "line %d\n", i);
	text[40] = '\0';
	snprintf(want, sizeof(want),
		 "1 0 lines.txt ->  size=2592 uid=0 gid=0 mtime=1700000000 dev=0,0 %s\n",
		 text);
	for (size_t step = 1; step <= 1024; step *= 4) {
		list(lines_tgz, sizeof(lines_tgz), step);
		ck_assert_str_eq(errmsg, "");
		ck_assert_str_eq(listing, want);
	}
	/* the listing's data is cut at 40 bytes: check the whole file too */
	{
		struct mem m = { lines_tgz, sizeof(lines_tgz), 0, 64 };
		struct ar_tar *t;
		struct ar_tar_entry e;
		char data[4000], expect[4000] = "";
		size_t got = 0;
		ssize_t k;

		for (int i = 1; i <= 300; i++)
			snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect),
				 "line %d\n", i);
		ck_assert_int_eq(ar_tar_open(&t, mem_read, &m, NULL), 0);
		ck_assert_int_eq(ar_tar_next(t, &e, NULL), 1);
		while ((k = ar_tar_read(t, data + got, 7, NULL)) > 0)
			got += (size_t)k;
		ck_assert_int_eq(k, 0);
		ck_assert_uint_eq(got, strlen(expect));
		ck_assert(memcmp(data, expect, got) == 0);
		ck_assert_int_eq(ar_tar_next(t, &e, NULL), 0);
		ar_tar_free(t);
	}

	/* stored blocks, two members (gzip -c a b) */
	file(&b, "one", "first member");
	gzip_stored(&z, b.p, b.n);
	b.n = 0;
	file(&b, "two", "second member");
	end(&b);
	gzip_stored(&z, b.p, b.n);
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "");
	ck_assert_str_eq(listing,
			 "1 0 one ->  size=12 uid=1000 gid=1001 mtime=1700000000 dev=0,0 first member\n"
			 "2 0 two ->  size=13 uid=1000 gid=1001 mtime=1700000000 dev=0,0 second member\n");
	/* zero padding after the last member is ignored, as by gzip(1) */
	put(&z, (const uint8_t[512]){ 0 }, 512);
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "");
	ck_assert_str_eq(listing,
			 "1 0 one ->  size=12 uid=1000 gid=1001 mtime=1700000000 dev=0,0 first member\n"
			 "2 0 two ->  size=13 uid=1000 gid=1001 mtime=1700000000 dev=0,0 second member\n");
	z.n -= 512;
	/* zlib's checks, its messages: a wrong CRC, a wrong length, a
	 * corrupt block header, a third member with a bad header */
	z.p[z.n - 8] ^= 1;
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "after the end of the archive: gzip: incorrect data check");
	z.p[z.n - 8] ^= 1;
	z.p[z.n - 1] ^= 1;
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "after the end of the archive: gzip: incorrect length check");
	z.p[z.n - 1] ^= 1;
	z.p[10] |= 6; /* the first member's first block: type 3 */
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "entry 1: gzip: invalid block type");
	z.p[10] &= (uint8_t)~6;
	put(&z, (const uint8_t[]){ 0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3 }, 10);
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "after the end of the archive: gzip: unknown compression method");
	z.n -= 10;
	/* a cut trailer, a cut body: our own message (zlib only waits for
	 * more input) */
	list(z.p, z.n - 3, 333);
	ck_assert_str_eq(errmsg, "after the end of the archive: gzip: truncated stream");
	list(lines_tgz, sizeof(lines_tgz) - 100, 333);
	ck_assert_str_eq(errmsg, "entry 1: gzip: truncated stream");

	/* an empty stream compressed is an empty archive, as an empty input */
	z.n = 0;
	gzip_stored(&z, (const uint8_t *)"", 0);
	list(z.p, z.n, 333);
	ck_assert_str_eq(errmsg, "");
	ck_assert_str_eq(listing, "");

	/* compressions not read are named */
	{
		static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0, 0, 0 };
		struct mem m = { xz, sizeof(xz), 0, sizeof(xz) };
		struct ar_tar *t;
		struct cr_error *e = NULL;

		ck_assert_int_eq(ar_tar_open(&t, mem_read, &m, &e), -1);
		ck_assert_str_eq(e->msg, "xz-compressed input: only plain tar, gzip and zstd are read");
		cr_error_free(e);
	}

	/* zstd */
	zn = ZSTD_compressBound(b.n);
	z.n = 0;
	z.p = realloc(z.p, zn);
	zn = ZSTD_compress(z.p, zn, b.p, b.n, 3);
	ck_assert(!ZSTD_isError(zn));
	list(z.p, zn, 50);
	ck_assert_str_eq(errmsg, "");
	ck_assert_str_eq(listing,
			 "1 0 two ->  size=13 uid=1000 gid=1001 mtime=1700000000 dev=0,0 second member\n");
	list(z.p, zn - 2, 50);
	ck_assert_str_eq(errmsg, "entry 1: zstd: truncated stream");
	free(b.p);
	free(z.p);
}
END_TEST

/* Applies a layer (b) through the importer; the error message or "". */
static char tmp[64];

static const char *apply(struct buf *b, struct ar_importer *imp)
{
	char path[128];
	FILE *f;
	struct cr_error *err = NULL;

	snprintf(path, sizeof(path), "%s/layer.tar", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b->p, 1, b->n, f), b->n);
	fclose(f);
	errmsg[0] = '\0';
	if (ar_apply_layer_file(imp, path, &err) < 0) {
		/* without the temporary folder's name */
		snprintf(errmsg, sizeof(errmsg), "%s", strstr(err->msg, "layer.tar"));
		cr_error_free(err);
	}
	return errmsg;
}

START_TEST(test_import)
{
	struct ar_store *st;
	struct ar_importer imp;
	struct buf b = { 0 };
	char dir[128];
	const struct ar_entry *f, *h;

	cr_check_tmpdir(tmp, "check_ar_tar");
	snprintf(dir, sizeof(dir), "%s/store", tmp);
	ck_assert_int_eq(ar_store_open(dir, &st, NULL), 0);
	ck_assert_int_eq(ar_importer_init(&imp, st, NULL), 0);

	file(&b, "./bin/sh", "#!shell");
	hdr(&b, "bin/hl", '1', 0, "./bin/sh");
	end(&b);
	ck_assert_str_eq(apply(&b, &imp), "");
	f = ar_tree_get(&imp.tree, "bin/sh");
	h = ar_tree_get(&imp.tree, "bin/hl");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->type, AR_REG);
	ck_assert_uint_eq(h->size, 7);
	ck_assert(memcmp(&h->content, &f->content, sizeof(f->content)) == 0);

	b.n = 0;
	file(&b, "ok", "fine");
	file(&b, "a/../../etc/passwd", "root::0:0");
	end(&b);
	ck_assert_str_eq(apply(&b, &imp),
			 "layer.tar: path 'a/../../etc/passwd' climbs out with '..'");
	b.n = 0;
	file(&b, "/etc/shadow", "x");
	end(&b);
	ck_assert_str_eq(apply(&b, &imp),
			 "layer.tar: absolute path '/etc/shadow' in the source");
	b.n = 0;
	hdr(&b, "bin/hl2", '1', 0, "../outside");
	end(&b);
	ck_assert_str_eq(apply(&b, &imp),
			 "layer.tar: hard link bin/hl2: path '../outside' climbs out with '..'");
	b.n = 0;
	file(&b, "x", "x");
	hdr_full(&b, "y", '0', 0, NULL, 0, 0, 1);
	ck_assert_str_eq(apply(&b, &imp), "layer.tar: entry 2: header checksum mismatch");

	ar_importer_clear(&imp);
	ar_store_free(st);
	cr_check_tmpdir_remove(tmp);
	free(b.p);
}
END_TEST

static Suite *tar_suite(void)
{
	Suite *s = suite_create("ar_tar");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_ustar_types);
	tcase_add_test(tc, test_pax);
	tcase_add_test(tc, test_gnu_long);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_compressed);
	tcase_add_test(tc, test_import);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(tar_suite());
}
