/*
 * Durable key-value state on LMDB: one environment per process data
 * directory, named databases inside it.  Every write is one transaction, so
 * a power cut leaves either the old or the new value, never a torn one.
 *
 * Values read are copied out: LMDB's pointers are valid only until the
 * transaction ends.
 */
#ifndef CR_KV_H
#define CR_KV_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

struct cr_kv;

/* Opens (creating) DIR/NAME.mdb as a single-file environment with up to
 * 8 named databases; map_size is the largest the file may grow. */
int cr_kv_open(const char *dir, const char *name, size_t map_size,
	       struct cr_kv **out, struct cr_error **err);
/* Commits an open group (logging a failed commit: call
 * cr_kv_group_commit() first to get it as an error), closes, frees;
 * returns NULL. */
struct cr_kv *cr_kv_free(struct cr_kv *kv);

/* Returns 0 and copies the value (up to cap bytes; *len is the full
 * length), -ENOENT when absent, or another negative value with *err. */
int cr_kv_get(struct cr_kv *kv, const char *db, const void *key,
	      size_t key_len, void *buf, size_t cap, size_t *len,
	      struct cr_error **err);
int cr_kv_put(struct cr_kv *kv, const char *db, const void *key,
	      size_t key_len, const void *val, size_t val_len,
	      struct cr_error **err);
int cr_kv_del(struct cr_kv *kv, const char *db, const void *key,
	      size_t key_len, struct cr_error **err);

/* Calls fn for every entry of db in key order, inside one read
 * transaction; fn's pointers are valid only during the call.  fn returns
 * non-zero to stop.  Returns the number of entries visited. */
long cr_kv_foreach(struct cr_kv *kv, const char *db,
		   int (*fn)(void *arg, const void *key, size_t key_len,
			     const void *val, size_t val_len),
		   void *arg, struct cr_error **err);

/* The same from the first key >= start (start_len bytes) on, in key
 * order: a range walk (fn stops it when the keys leave the range). */
long cr_kv_foreach_from(struct cr_kv *kv, const char *db, const void *start,
			size_t start_len,
			int (*fn)(void *arg, const void *key, size_t key_len,
				  const void *val, size_t val_len),
			void *arg, struct cr_error **err);

/*
 * Group commit: between cr_kv_group_begin() and cr_kv_group_commit(),
 * every call joins one write transaction (reads see its writes), which
 * commits, and so reaches the disk, once.  A server takes in a burst of
 * datagrams, commits, and only then sends the acknowledgements that
 * promise durability: one pair of fsyncs per burst instead of per record.
 * Both return 0 or -1 with *err; commit with none open does nothing.
 */
int cr_kv_group_begin(struct cr_kv *kv, struct cr_error **err);
int cr_kv_group_commit(struct cr_kv *kv, struct cr_error **err);

/* Entries in db, and the size of the data file in bytes. */
long cr_kv_count(struct cr_kv *kv, const char *db);
uint64_t cr_kv_file_size(struct cr_kv *kv);

#endif
