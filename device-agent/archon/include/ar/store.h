/*
 * Archon device store: the public API other programs (Bolter, the agent)
 * use.  A store is a folder holding file objects (each regular file's
 * content once, hard-linked into checked-out trees), the indexes of the
 * versions it holds, and an LMDB database mapping chunk ids to where their
 * bytes live, content ids to file objects, and names (REPO:TAG) to
 * manifests.  See docs/archon.md.
 *
 * A store has one writer at a time, or any number of readers (a flock on
 * DIR/lock: exclusive for writers, shared for readers; the open fails at
 * once, naming the holder, when it cannot have it).  Every change is a write of new files followed by one LMDB
 * transaction, so a kill at any moment leaves the old or the new state.
 */
#ifndef AR_STORE_H
#define AR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ar/index.h"
#include "ar/manifest.h"
#include "cr/error.h"

struct ar_store;

/* The default store folder: $ARCHON_STORE, else /var/lib/archon for root,
 * else $HOME/.local/share/archon.  Writes into buf; -ENAMETOOLONG or
 * -ENOENT (no HOME) on failure. */
int ar_store_default_dir(char *buf, size_t cap);

/* Opens (creating) the store in dir for writing; removes temporary files a
 * killed run left behind.  Returns 0 with *out owned by the caller, or -1
 * with *err (EBUSY when another process has the store). */
int ar_store_open(const char *dir, struct ar_store **out,
		  struct cr_error **err);

enum ar_store_mode { AR_STORE_READ, AR_STORE_WRITE };
/* ar_store_open, or for reading only (shared with other readers and with
 * archon serve; every write fails). */
int ar_store_open_mode(const char *dir, enum ar_store_mode mode,
		       struct ar_store **out, struct cr_error **err);
struct ar_store *ar_store_free(struct ar_store *st);

/* The manifest recorded for name (REPO:TAG); caller frees.  -ENOENT (with
 * *err) when the store has no such version. */
int ar_store_get_manifest(struct ar_store *st, const char *name,
			  struct ar_manifest **out, struct cr_error **err);

/* The OCI image config of a version (JSON text; "" when the source had
 * none); caller frees. */
int ar_store_get_config(struct ar_store *st, const char *name, char **json,
			struct cr_error **err);

/* Loads and verifies the index with the given id; caller frees. */
int ar_store_get_index(struct ar_store *st, const struct ar_id *id,
		       struct ar_index **out, struct cr_error **err);

/* Creates dir (it must not exist, or be an empty folder) and builds the
 * version's tree in it: regular files are hard links to the store's file
 * objects (copies when dir is on another filesystem), so they must be
 * treated as read-only.  Device nodes are skipped unless running as root. */
int ar_store_checkout(struct ar_store *st, const char *name, const char *dir,
		      struct cr_error **err);

/* Imports SOURCE as version NAME: a folder, oci:PATH[:TAG],
 * oci-archive:FILE, docker-archive:FILE or docker://HOST/REPO:TAG.  An
 * existing NAME is refused (EEXIST) unless force, which replaces it. */
int ar_import(struct ar_store *st, const char *source, const char *name,
	      int force, struct cr_error **err);

/* 1 when the store holds version name, else 0 (also on a database error). */
int ar_store_has(struct ar_store *st, const char *name);

/* Forgets version name (as `archon rm`, without its gc): its files stay
 * until ar_store_gc, and checkouts keep theirs (hard links).  -1 with
 * *err (ENOENT when there is no such version). */
int ar_store_remove(struct ar_store *st, const char *name,
		    struct cr_error **err);

/* Removes the file objects, chunk records and indexes no version (name)
 * of the store uses; never drops a name, so what a kept name needs stays.
 * *freed_bytes (may be NULL): the bytes of the object files removed.
 * Chunks an interrupted pull kept in partial/ stay (the next pull of that
 * version resumes from them); `archon gc` removes those too. */
int ar_store_gc(struct ar_store *st, uint64_t *freed_bytes,
		struct cr_error **err);

/* Re-hashes every file object version name uses against its index (the
 * index itself is checked against its id): the check before starting a
 * staged version, since a checkout's files are the store's objects and
 * anyone who can write one changes what runs (CVE-2020-25860's class).
 * -1 with *err naming the first file whose object is missing or does not
 * hash to its content id (EBADMSG), or ENOENT for no such version. */
int ar_store_verify_version(struct ar_store *st, const char *name,
			    struct cr_error **err);

/* What version name costs on disk (allocated blocks of its file objects,
 * each counted once): *unique only the objects no other version uses
 * (what removing it and a gc would free), *total all it uses.  Either
 * pointer may be NULL. */
int ar_store_version_bytes(struct ar_store *st, const char *name,
			   uint64_t *unique, uint64_t *total,
			   struct cr_error **err);

/* The origin recorded for the store (`archon remote set URL`), which `archon
 * pull NAME` and `bolter run` of a missing image use when given none:
 * copied into buf (cap bytes); 1 when there is one, 0 when none, -1 with
 * *err (a file that cannot be read, or a URL longer than cap). */
int ar_store_get_remote(struct ar_store *st, char *buf, size_t cap,
			struct cr_error **err);

/* Records url (http://, https:// or file://) as the store's origin, or
 * forgets it (url NULL).  Kept in DIR/remote, replaced atomically; needs
 * the store open for writing. */
int ar_store_set_remote(struct ar_store *st, const char *url,
			struct cr_error **err);

#endif
