/*
 * A bounded, pull-style tar reader for OCI layers and outer image archives
 * (replaces libarchive).  The input is plain tar, gzip (zlib's streaming
 * inflate) or zstd (libzstd's streaming decoder), told apart by their magic
 * numbers.  It understands ustar and old v7 headers, POSIX pax extended
 * headers (path, linkpath, size, uid, gid, mtime; global headers are read
 * and ignored) and GNU long names and long links ('L', 'K'), which is what
 * docker, buildah, Go's and Python's tar writers emit.  Every header's
 * checksum is verified, every length is capped, and an input that ends
 * before the archive's end marker is an error.  Paths are returned as the
 * archive spells them: callers normalise them (ar_tree_norm).  Fuzzed by
 * tests/fuzz/fuzz_ar_tar.c.
 */
#ifndef AR_TAR_H
#define AR_TAR_H

#include <stdint.h>
#include <sys/types.h>

#include "cr/error.h"

enum {
	AR_TAR_PATH_MAX = 4095,		  /* bytes of a path or link target */
	AR_TAR_PAX_RECORD_MAX = 64 << 10, /* one "LEN key=value\n" record */
	AR_TAR_PAX_MAX = 1 << 20,	  /* a whole pax header */
};

enum ar_tar_type {
	AR_TAR_REG,
	AR_TAR_DIR,
	AR_TAR_SYMLINK,
	AR_TAR_HARDLINK,
	AR_TAR_CHR,
	AR_TAR_BLK,
	AR_TAR_FIFO,
	AR_TAR_OTHER, /* a type this reader does not interpret; data skipped */
};

/* One entry; the strings belong to the reader and last until the next
 * ar_tar_next() or ar_tar_free(). */
struct ar_tar_entry {
	unsigned index; /* 1 for the archive's first entry */
	enum ar_tar_type type;
	const char *path;
	const char *link; /* AR_TAR_SYMLINK, AR_TAR_HARDLINK: the target */
	uint64_t size;	  /* bytes of data (AR_TAR_REG, AR_TAR_OTHER), else 0 */
	uint32_t mode;	  /* permission bits, 07777 */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t devmajor, devminor; /* AR_TAR_CHR, AR_TAR_BLK */
};

/* The byte source: fills buf with up to cap bytes, returns how many, 0 at
 * the end of the input, or -1 with *err. */
typedef ssize_t (*ar_tar_read_fn)(void *ctx, void *buf, size_t cap,
				  struct cr_error **err);

struct ar_tar;

/* A reader over read(ctx, ...); *out is freed with ar_tar_free(). */
int ar_tar_open(struct ar_tar **out, ar_tar_read_fn read, void *ctx,
		struct cr_error **err);
/* A reader over an open file (not closed by the reader). */
int ar_tar_open_fd(struct ar_tar **out, int fd, struct cr_error **err);
void ar_tar_free(struct ar_tar *t);

/* The next entry: 1 with *e filled, 0 at the end of the archive, -1 with
 * *err ("entry 12: pax record longer than 64 KiB").  The data of the
 * previous entry that was not read is skipped. */
int ar_tar_next(struct ar_tar *t, struct ar_tar_entry *e,
		struct cr_error **err);

/* Reads up to cap bytes of the current entry's data: how many, 0 at its
 * end, or -1 with *err (a truncated or corrupt input). */
ssize_t ar_tar_read(struct ar_tar *t, void *buf, size_t cap,
		    struct cr_error **err);

#endif
