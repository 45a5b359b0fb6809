/*
 * What the parts of Archon (store, import, publish, pull, delta, CLI)
 * share beyond the public ar/store.h.
 */
#ifndef AR_STORE_INTERNAL_H
#define AR_STORE_INTERNAL_H

#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>

#include "ar/chunk.h"
#include "ar/index.h"
#include "ar/manifest.h"
#include "ar/pull.h"
#include "ar/serve.h"
#include "ar/store.h"

struct ar_store {
	char *dir;
	int dirfd;	/* the store folder */
	int objfd;	/* objects/ */
	int tmpfd;	/* tmp/ */
	int lockfd;
	int is_root;
	int readonly;	/* opened AR_STORE_READ: a shared lock, no writes */
	MDB_env *env;
	MDB_txn *txn;	/* the open write transaction, if any */
	MDB_dbi db_chunks, db_content, db_refs;
	uint32_t cmin, cavg, cmax; /* chunk sizes for new content */
	unsigned tmp_seq;
};

/* An object's identity on disk: content plus the metadata every hard link
 * shares (mode and owner), as in OSTree's bare repositories. */
struct ar_objkey {
	struct ar_id content;
	uint32_t mode, uid, gid;
};

/* Value of db "content": one existing file object holding that content. */
struct ar_content_rec {
	uint64_t size;
	uint32_t mode, uid, gid;
};

/* Value of db "chunks": where a chunk's bytes are. */
struct ar_chunk_loc {
	struct ar_id content;
	uint64_t offset;
	uint32_t len;
};

/* objects/ab/<hex>.<mode>.<uid>.<gid>, relative to objfd's parent... */
enum { AR_OBJPATH_MAX = 3 + AR_ID_HEX + 40 };
void ar_objkey_path(const struct ar_objkey *k, char out[AR_OBJPATH_MAX]);
void ar_objkey_of(const struct ar_entry *e, struct ar_objkey *k);
/* One id per object (content, mode and owner): a map key. */
void ar_objkey_id(const struct ar_objkey *k, struct ar_id *out);

/* A reader that holds the store only while it works (archon serve, per
 * request): drops its shared lock (-EINVAL for a writer), and takes it
 * again without waiting (-EBUSY while a writer has the store). */
int ar_store_unlock(struct ar_store *st);
int ar_store_lock_shared(struct ar_store *st);

/* Write transactions: everything a command records goes into one. */
/* Removes every entry of a folder, one level (tmp/ and partial/ hold plain
 * files); best effort, as a cleanup. */
void ar_store_clear_dir(int dfd);
int ar_store_begin(struct ar_store *st, struct cr_error **err);
/* Flushes the new files (syncfs), then commits. */
int ar_store_commit(struct ar_store *st, struct cr_error **err);
void ar_store_abort(struct ar_store *st);

int ar_store_content_get(struct ar_store *st, const struct ar_id *content,
			 struct ar_content_rec *rec);
int ar_store_chunk_get(struct ar_store *st, const struct ar_id *chunk,
		       struct ar_chunk_loc *loc);
/* Opens (read-only) a file object holding content; -ENOENT when none. */
int ar_store_open_content(struct ar_store *st, const struct ar_id *content,
			  uint64_t *size);
/* Reads a chunk we hold into buf (cap bytes), verifying its id; returns
 * its length, -ENOENT when unknown, -EBADMSG when the bytes do not match. */
long ar_store_read_chunk(struct ar_store *st, const struct ar_id *chunk,
			 uint8_t *buf, size_t cap);

/* Writes an index file (named by its id) into indexes/. */
int ar_store_put_index(struct ar_store *st, const uint8_t *buf, size_t len,
		       struct ar_id *id, struct cr_error **err);
/* Records name -> manifest bytes (inside the open transaction). */
int ar_store_put_ref(struct ar_store *st, const char *name,
		     const uint8_t *buf, size_t len, struct cr_error **err);

/* Calls fn for every version held, in name order.  fn's pointers are
 * valid during the call only. */
int ar_store_foreach_ref(struct ar_store *st,
			 int (*fn)(void *arg, const char *name,
				   const struct ar_manifest *m),
			 void *arg, struct cr_error **err);

/*
 * A file object being written: its bytes go to a temporary file while the
 * chunker cuts them and BLAKE2b hashes the chunks and the whole; finishing
 * names the object and records its chunks.
 */
struct ar_writer {
	struct ar_store *st;
	int fd;
	char tmpname[32];
	struct ar_chunker ck;
	crypto_generichash_state whole, chunk;
	uint64_t size, chunk_len;
	struct ar_chunk_ref *chunks;
	uint32_t nchunks, cap;
	uint8_t buf[64 * 1024];
	size_t buffered;
};

int ar_writer_start(struct ar_store *st, struct ar_writer *w,
		    struct cr_error **err);
int ar_writer_write(struct ar_writer *w, const void *data, size_t n,
		    struct cr_error **err);
/* Completes e (size, content, chunks: e->chunks is then owned by e) and
 * files the object under e's mode and owner.  Must be inside a transaction.
 * expect, when not NULL, is the content id the bytes must have. */
int ar_writer_finish(struct ar_writer *w, struct ar_entry *e,
		     const struct ar_id *expect, struct cr_error **err);
void ar_writer_discard(struct ar_writer *w);

/* 1 when the file object of e (its content under its mode and owner) is
 * there with e's size. */
int ar_store_object_exists(struct ar_store *st, const struct ar_entry *e);

/* Makes sure the object for e exists when its content is already held
 * (copying another variant if needed).  1 when done, 0 when the content is
 * not held, -1 with *err. */
int ar_store_ensure_object(struct ar_store *st, const struct ar_entry *e,
			   struct cr_error **err);

/* The versions of the repository of repo_of (REPO:anything), newest first;
 * *names is an array the caller frees. */
int ar_store_tags(struct ar_store *st, const char *repo_of,
		  char (**names)[AR_NAME_MAX + 1], size_t *n,
		  struct cr_error **err);

/* Chunk sizes: 2/8/32 KiB unless $ARCHON_CHUNK="MIN:AVG:MAX" (bytes). */
int ar_chunk_params(uint32_t *min, uint32_t *avg, uint32_t *max,
		    struct cr_error **err);

/* The one formatter of sizes people read: "924 B", "4.8 KiB", "95.9 MiB",
 * "1.2 GiB" (binary units, one decimal). */
void ar_human(uint64_t bytes, char *out, size_t cap);

/* The delta format (delta.c): from old to new; caller frees *out.  Only in
 * builds with libdivsufsort (AR_HAVE_DELTA_MAKE). */
int ar_delta_make(const uint8_t *old, size_t oldlen, const uint8_t *nw,
		  size_t newlen, uint8_t **out, size_t *outlen,
		  struct cr_error **err);
/* Applies a delta to old; the result must be exactly expect_len bytes. */
int ar_delta_apply(const uint8_t *old, size_t oldlen, const uint8_t *delta,
		   size_t dlen, uint8_t **out, size_t *outlen,
		   struct cr_error **err);

/* Commands (publish.c, pull.c, cmd.c) */
/* progress: a progress line on stderr (progress.h). */
int ar_publish(struct ar_store *st, const char *name, const char *to,
	       const char *keyfile, int bases, int progress, struct cr_error **err);
/* ar_serve: ar/serve.h */

#endif
