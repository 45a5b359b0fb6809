/* Durable key-value state on LMDB: see cr/kv.h. */
#include "cr/kv.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cr/log.h"

struct cr_kv {
	MDB_env *env;
	MDB_txn *group; /* the open group write transaction, or NULL */
	char path[4096];
};

int cr_kv_open(const char *dir, const char *name, size_t map_size,
	       struct cr_kv **out, struct cr_error **err)
{
	struct cr_kv *kv;
	int rc;

	kv = calloc(1, sizeof(*kv));
	if (kv == NULL)
		return cr_error_errno(err, ENOMEM, "allocating LMDB handle");
	if ((size_t)snprintf(kv->path, sizeof(kv->path), "%s/%s.mdb", dir,
			     name) >= sizeof(kv->path)) {
		free(kv);
		return cr_error_set(err, ENAMETOOLONG, "data path too long: %s",
				    dir);
	}
	rc = mdb_env_create(&kv->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(kv->env, 8);
	if (rc == 0)
		rc = mdb_env_set_mapsize(kv->env, map_size);
	if (rc == 0)
		rc = mdb_env_open(kv->env, kv->path, MDB_NOSUBDIR | MDB_NOTLS,
				  0600);
	if (rc != 0) {
		cr_error_set(err, rc, "opening LMDB store %s: %s", kv->path,
			     mdb_strerror(rc));
		cr_kv_free(kv);
		return -1;
	}
	/* A process killed while holding a read slot leaves it behind. */
	mdb_reader_check(kv->env, NULL);
	*out = kv;
	return 0;
}

struct cr_kv *cr_kv_free(struct cr_kv *kv)
{
	if (kv != NULL) {
		/* An open group is committed; freeing cannot return the
		 * failure, so it is logged: its writes are lost. */
		if (kv->group != NULL) {
			int rc = mdb_txn_commit(kv->group);

			if (rc != 0)
				cr_log_warnx("LMDB commit in %s at close: %s",
					     kv->path, mdb_strerror(rc));
		}
		if (kv->env != NULL)
			mdb_env_close(kv->env);
		free(kv);
	}
	return NULL;
}

/*
 * Starts the transaction of one call, or joins the open group transaction
 * (then reads see the group's writes, and kv_end() leaves it open).
 */
static int kv_begin(struct cr_kv *kv, const char *db, unsigned flags,
		    MDB_txn **txn, MDB_dbi *dbi, struct cr_error **err)
{
	int rc;

	if (kv->group != NULL) {
		*txn = kv->group;
		rc = mdb_dbi_open(*txn, db, MDB_CREATE, dbi);
		if (rc != 0)
			return cr_error_set(err, rc, "LMDB database %s in %s: %s",
					    db, kv->path, mdb_strerror(rc));
		return 0;
	}
	rc = mdb_txn_begin(kv->env, NULL, flags, txn);
	if (rc != 0)
		return cr_error_set(err, rc, "LMDB transaction on %s: %s",
				    kv->path, mdb_strerror(rc));
	rc = mdb_dbi_open(*txn, db, (flags & MDB_RDONLY) ? 0 : MDB_CREATE, dbi);
	if (rc != 0) {
		mdb_txn_abort(*txn);
		if (rc == MDB_NOTFOUND)
			return -ENOENT;
		return cr_error_set(err, rc, "LMDB database %s in %s: %s", db,
				    kv->path, mdb_strerror(rc));
	}
	return 0;
}

/* Ends a call's transaction: commits (commit != 0) or aborts its own,
 * leaves the group's open.  Returns an LMDB code. */
static int kv_end(struct cr_kv *kv, MDB_txn *txn, int commit)
{
	if (txn == kv->group)
		return 0;
	if (commit)
		return mdb_txn_commit(txn);
	mdb_txn_abort(txn);
	return 0;
}

int cr_kv_group_begin(struct cr_kv *kv, struct cr_error **err)
{
	int rc;

	if (kv->group != NULL)
		return 0;
	rc = mdb_txn_begin(kv->env, NULL, 0, &kv->group);
	if (rc != 0) {
		kv->group = NULL;
		return cr_error_set(err, rc, "LMDB transaction on %s: %s",
				    kv->path, mdb_strerror(rc));
	}
	return 0;
}

int cr_kv_group_commit(struct cr_kv *kv, struct cr_error **err)
{
	MDB_txn *txn = kv->group;
	int rc;

	if (txn == NULL)
		return 0;
	kv->group = NULL;
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return cr_error_set(err, rc, "LMDB commit in %s: %s", kv->path,
				    mdb_strerror(rc));
	return 0;
}

int cr_kv_get(struct cr_kv *kv, const char *db, const void *key,
	      size_t key_len, void *buf, size_t cap, size_t *len,
	      struct cr_error **err)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { key_len, (void *)(uintptr_t)key }, v;
	int rc;

	rc = kv_begin(kv, db, MDB_RDONLY, &txn, &dbi, err);
	if (rc < 0)
		return rc;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		kv_end(kv, txn, 0);
		return -ENOENT;
	}
	if (rc != 0) {
		kv_end(kv, txn, 0);
		return cr_error_set(err, rc, "LMDB read in %s: %s", kv->path,
				    mdb_strerror(rc));
	}
	memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
	*len = v.mv_size;
	kv_end(kv, txn, 0);
	return 0;
}

int cr_kv_put(struct cr_kv *kv, const char *db, const void *key,
	      size_t key_len, const void *val, size_t val_len,
	      struct cr_error **err)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { key_len, (void *)(uintptr_t)key };
	MDB_val v = { val_len, (void *)(uintptr_t)val };
	int rc;

	rc = kv_begin(kv, db, 0, &txn, &dbi, err);
	if (rc < 0)
		return rc;
	rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc == 0)
		rc = kv_end(kv, txn, 1);
	else if (txn != kv->group)
		mdb_txn_abort(txn);
	if (rc != 0)
		return cr_error_set(err, rc, "LMDB write in %s: %s", kv->path,
				    mdb_strerror(rc));
	return 0;
}

int cr_kv_del(struct cr_kv *kv, const char *db, const void *key,
	      size_t key_len, struct cr_error **err)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { key_len, (void *)(uintptr_t)key };
	int rc;

	rc = kv_begin(kv, db, 0, &txn, &dbi, err);
	if (rc < 0)
		return rc;
	rc = mdb_del(txn, dbi, &k, NULL);
	if (rc == 0) {
		rc = kv_end(kv, txn, 1);
	} else {
		kv_end(kv, txn, 0);
		if (rc == MDB_NOTFOUND)
			return -ENOENT;
	}
	if (rc != 0)
		return cr_error_set(err, rc, "LMDB delete in %s: %s", kv->path,
				    mdb_strerror(rc));
	return 0;
}

long cr_kv_foreach(struct cr_kv *kv, const char *db,
		   int (*fn)(void *arg, const void *key, size_t key_len,
			     const void *val, size_t val_len),
		   void *arg, struct cr_error **err)
{
	/* From the first key: an empty start. */
	return cr_kv_foreach_from(kv, db, NULL, 0, fn, arg, err);
}

long cr_kv_foreach_from(struct cr_kv *kv, const char *db, const void *start,
			size_t start_len,
		   int (*fn)(void *arg, const void *key, size_t key_len,
			     const void *val, size_t val_len),
		   void *arg, struct cr_error **err)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	long n = 0;
	int rc;

	rc = kv_begin(kv, db, MDB_RDONLY, &txn, &dbi, err);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		kv_end(kv, txn, 0);
		return cr_error_set(err, rc, "LMDB cursor: %s",
				    mdb_strerror(rc));
	}
	k.mv_data = (void *)(uintptr_t)start;
	k.mv_size = start_len;
	for (rc = mdb_cursor_get(cur, &k, &v,
				 start_len > 0 ? MDB_SET_RANGE : MDB_FIRST);
	     rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		n++;
		if (fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size) != 0)
			break;
	}
	mdb_cursor_close(cur);
	kv_end(kv, txn, 0);
	return n;
}

long cr_kv_count(struct cr_kv *kv, const char *db)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;
	long n = 0;

	if (kv_begin(kv, db, MDB_RDONLY, &txn, &dbi, NULL) < 0)
		return 0;
	if (mdb_stat(txn, dbi, &st) == 0)
		n = (long)st.ms_entries;
	kv_end(kv, txn, 0);
	return n;
}

uint64_t cr_kv_file_size(struct cr_kv *kv)
{
	struct stat st;

	if (stat(kv->path, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}
