/*
 * Archon index: the catalog of one image's tree.  Every entry has a path,
 * type, mode, owner and mtime; a regular file also its size, the id of its
 * whole content (the name of its file object in a store) and its list of
 * chunks; a symlink its target; a device node its rdev.  Metadata lives
 * here only, never in the content chunks, so a changed timestamp costs a
 * few bytes of index and no chunk.
 *
 * The encoded index is named by its ar_id.  ar_index_decode() is a bounded
 * parser for untrusted bytes; the format is in docs/archon.md.
 */
#ifndef AR_INDEX_H
#define AR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "ar/chunk.h"
#include "cr/error.h"

enum ar_entry_type {
	AR_DIR = 1,
	AR_REG = 2,
	AR_SYMLINK = 3,
	AR_CHR = 4,
	AR_BLK = 5,
	AR_FIFO = 6,
};

enum {
	AR_INDEX_VERSION = 1,
	AR_PATH_MAX = 4095,		   /* bytes of a path or symlink target */
	AR_INDEX_MAX_BYTES = 512 << 20,	   /* largest index we parse */
	AR_INDEX_MAX_ENTRIES = 4 << 20,
};

struct ar_chunk_ref {
	struct ar_id id;
	uint32_t len;
};

struct ar_entry {
	char *path; /* relative, "a/b/c": no leading '/', no "." or ".." */
	enum ar_entry_type type;
	uint32_t mode; /* permission bits, 07777 */
	uint32_t uid, gid;
	int64_t mtime;
	uint64_t size;	    /* AR_REG */
	struct ar_id content; /* AR_REG: id of the whole content */
	uint32_t nchunks;     /* AR_REG */
	struct ar_chunk_ref *chunks;
	char *target;  /* AR_SYMLINK */
	uint64_t rdev; /* AR_CHR, AR_BLK */
};

struct ar_index {
	uint32_t chunk_min, chunk_avg, chunk_max;
	size_t n, cap;
	struct ar_entry *e; /* sorted by path once encoded or decoded */
};

struct ar_index *ar_index_new(uint32_t chunk_min, uint32_t chunk_avg,
			      uint32_t chunk_max);
struct ar_index *ar_index_free(struct ar_index *idx);

/* Appends a copy of *e (its path, target and chunk list are copied).
 * Returns 0, or -1 with *err for an invalid path or no memory. */
int ar_index_add(struct ar_index *idx, const struct ar_entry *e,
		 struct cr_error **err);

/* Sorts by path and rejects duplicate paths; 0 or -1 with *err. */
int ar_index_sort(struct ar_index *idx, struct cr_error **err);

/* Binary search in a sorted index; NULL when absent. */
const struct ar_entry *ar_index_find(const struct ar_index *idx,
				     const char *path);

/* Sorts idx, then encodes it into a buffer the caller frees; the index's
 * name is ar_id_of(*out, *len). */
int ar_index_encode(struct ar_index *idx, uint8_t **out, size_t *len,
		    struct cr_error **err);

/* Parses untrusted bytes into a new index the caller frees. */
int ar_index_decode(const uint8_t *buf, size_t len, struct ar_index **out,
		    struct cr_error **err);

/* 1 when s (n bytes) is a valid relative path: 1..AR_PATH_MAX bytes, no
 * NUL, no leading or trailing '/', no empty, "." or ".." component. */
int ar_path_valid(const char *s, size_t n);

#endif
