/*
 * Archon device store: file objects, the LMDB maps, versions (refs) and
 * checkout.  See ar/store.h and docs/archon.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cr/cleanup.h"
#include "cr/util.h"
#include "store-internal.h"

/* The most the index may grow to (the chunks are files, not in it): address
 * space, not flash.  A device build reserves less of a 32-bit device's
 * address space (and 4096 << 20 would wrap to 0 in a 32-bit size_t). */
#ifdef CR_DEVICE_BUILD
enum { STORE_MAP_SIZE_MB = 256 };
#else
enum { STORE_MAP_SIZE_MB = 4096 };
#endif

int ar_store_default_dir(char *buf, size_t cap)
{
	const char *env = getenv("ARCHON_STORE"), *home;
	int n;

	if (env != NULL && env[0] != '\0')
		n = snprintf(buf, cap, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, cap, "/var/lib/archon");
	else {
		home = getenv("HOME");
		if (home == NULL || home[0] == '\0')
			return -ENOENT;
		n = snprintf(buf, cap, "%s/.local/share/archon", home);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int ar_chunk_params(uint32_t *min, uint32_t *avg, uint32_t *max,
		    struct cr_error **err)
{
	const char *env = getenv("ARCHON_CHUNK");
	struct ar_chunker probe;
	uint64_t v[3];
	char buf[64], *save = NULL, *tok;

	*min = AR_CHUNK_MIN_DEFAULT;
	*avg = AR_CHUNK_AVG_DEFAULT;
	*max = AR_CHUNK_MAX_DEFAULT;
	if (env == NULL || env[0] == '\0')
		return 0;
	if (strlen(env) >= sizeof(buf))
		return cr_error_set(err, EINVAL, "ARCHON_CHUNK: too long");
	memcpy(buf, env, strlen(env) + 1);
	tok = strtok_r(buf, ":", &save);
	for (int i = 0; i < 3; i++) {
		if (tok == NULL ||
		    cr_parse_u64(tok, 64, AR_CHUNK_MAX_LIMIT, &v[i]) < 0)
			return cr_error_set(err, EINVAL,
					    "ARCHON_CHUNK: want MIN:AVG:MAX in bytes");
		tok = strtok_r(NULL, ":", &save);
	}
	if (ar_chunker_init(&probe, (uint32_t)v[0], (uint32_t)v[1],
			    (uint32_t)v[2]) < 0)
		return cr_error_set(err, EINVAL,
				    "ARCHON_CHUNK: need 64 <= MIN <= AVG <= MAX, AVG a power of two");
	*min = (uint32_t)v[0];
	*avg = (uint32_t)v[1];
	*max = (uint32_t)v[2];
	return 0;
}

void ar_human(uint64_t bytes, char *out, size_t cap)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(out, cap, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, "%.1f %s", v, unit[u]);
}

void ar_objkey_of(const struct ar_entry *e, struct ar_objkey *k)
{
	k->content = e->content;
	k->mode = e->mode & 07777;
	k->uid = e->uid;
	k->gid = e->gid;
}

void ar_objkey_id(const struct ar_objkey *k, struct ar_id *out)
{
	uint8_t b[AR_ID_LEN + 12];

	memcpy(b, k->content.b, AR_ID_LEN);
	memcpy(b + AR_ID_LEN, &k->mode, 4);
	memcpy(b + AR_ID_LEN + 4, &k->uid, 4);
	memcpy(b + AR_ID_LEN + 8, &k->gid, 4);
	ar_id_of(b, sizeof(b), out);
}

void ar_objkey_path(const struct ar_objkey *k, char out[AR_OBJPATH_MAX])
{
	char hex[AR_ID_HEX];

	ar_id_hex(&k->content, hex);
	snprintf(out, AR_OBJPATH_MAX, "%.2s/%s.%04o.%u.%u", hex, hex,
		 (unsigned)k->mode, (unsigned)k->uid, (unsigned)k->gid);
}

static int mdb_fail(struct cr_error **err, int rc, const char *what)
{
	return cr_error_set(err, EIO, "store database: %s: %s", what,
			    mdb_strerror(rc));
}

void ar_store_clear_dir(int dfd)
{
	int fd = dup(dfd);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	rewinddir(d); /* the offset is dfd's too: start from the top */
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
}

static int open_subdir(int dfd, const char *name, struct cr_error **err)
{
	int fd;

	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return cr_error_errno(err, errno, "cannot create %s", name);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot open %s", name);
	return fd;
}

/* "archon serve" for a process: its program's base name and its first
 * argument that is not an option (nor the value of --store). */
static void holder_name(long pid, char *out, size_t cap)
{
	char path[64], buf[1024];
	const char *cmd = NULL;
	size_t got;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	got = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[got] = '\0';
	if (got == 0)
		return;
	for (size_t i = strlen(buf) + 1, prev = 0; i < got; prev = i, i += strlen(buf + i) + 1)
		if (buf[i] != '-' && strcmp(buf + prev, "--store") != 0) {
			cmd = buf + i;
			break;
		}
	snprintf(out, cap, "%.30s%s%.20s",
		 strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf, cmd ? " " : "",
		 cmd ? cmd : "");
	out[strcspn(out, "\n")] = '\0';
}

/* Who holds the flock on the store's lock file, from /proc/locks: "pid
 * N" or "pids N, M", or "" when it cannot tell. */
static void lock_holders(int fd, char *out, size_t cap)
{
	struct stat sb;
	FILE *f;
	char line[256];
	size_t used = 0;
	int n = 0;

	out[0] = '\0';
	if (fstat(fd, &sb) < 0 || (f = fopen("/proc/locks", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char kind[16], adv[16], rw[16];
		long pid;
		unsigned maj, min;
		unsigned long long ino;

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters
		 * are "1: -> FLOCK ..." and do not match. */
		if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%llu", kind, adv, rw,
			   &pid, &maj, &min, &ino) != 7 ||
		    strcmp(kind, "FLOCK") != 0 || ino != (unsigned long long)sb.st_ino ||
		    makedev(maj, min) != sb.st_dev || pid == (long)getpid())
			continue;
		char what[64] = "";

		holder_name(pid, what, sizeof(what));
		int w = snprintf(out + used, cap - used, "%s%ld%s%.60s%s", n ? ", " : "", pid,
				 what[0] ? " (" : "", what, what[0] ? ")" : "");

		if (w < 0 || (size_t)w >= cap - used)
			break;
		used += (size_t)w;
		n++;
	}
	fclose(f);
	if (n > 0) {
		const char *word = n > 1 ? "pids " : "pid ";
		size_t wl = strlen(word);

		if (used + wl < cap) {
			memmove(out + wl, out, used + 1);
			memcpy(out, word, wl);
		}
	}
}

/* Readers share the store, a writer has it alone: flock LOCK_SH or
 * LOCK_EX on the lock file.  A holder that goes away within LOCK_WAIT_MS
 * is waited for (archon serve holds the shared lock only while it answers
 * a request); one that stays makes the open fail, naming it. */
enum { LOCK_WAIT_MS = 2000, LOCK_POLL_MS = 20 };

static int take_lock(struct ar_store *st, struct cr_error **err)
{
	char who[256];
	int e;

	st->lockfd = openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (st->lockfd < 0)
		return cr_error_errno(err, errno, "cannot open the lock of store %s",
				      st->dir);
	for (int waited = 0;; waited += LOCK_POLL_MS) {
		struct timespec ts = { 0, LOCK_POLL_MS * 1000000L };

		if (flock(st->lockfd, (st->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
			return 0;
		e = errno;
		if (e != EWOULDBLOCK || waited >= LOCK_WAIT_MS)
			break;
		nanosleep(&ts, NULL);
	}
	if (e != EWOULDBLOCK)
		return cr_error_errno(err, e, "cannot lock store %s", st->dir);
	lock_holders(st->lockfd, who, sizeof(who));
	return cr_error_set(err, EBUSY,
			    "store %s is busy: %s by %s (try again when it ends)",
			    st->dir, st->readonly ? "being written" : "in use",
			    who[0] ? who : "another process");
}

int ar_store_unlock(struct ar_store *st)
{
	if (!st->readonly)
		return -EINVAL;
	return flock(st->lockfd, LOCK_UN) < 0 ? -errno : 0;
}

int ar_store_lock_shared(struct ar_store *st)
{
	if (flock(st->lockfd, LOCK_SH | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? -EBUSY : -errno;
}

int ar_store_open(const char *dir, struct ar_store **out,
		  struct cr_error **err)
{
	return ar_store_open_mode(dir, AR_STORE_WRITE, out, err);
}

int ar_store_open_mode(const char *dir, enum ar_store_mode mode,
		       struct ar_store **out, struct cr_error **err)
{
	struct ar_store *st;
	MDB_txn *txn;
	char path[PATH_MAX];
	int rc, fd;

	if (cr_mkdir_p(dir, 0755, err) < 0)
		return cr_error_wrap(err, "store %s", dir);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	st->dirfd = st->objfd = st->tmpfd = st->lockfd = -1;
	st->dir = strdup(dir);
	st->is_root = geteuid() == 0;
	st->readonly = mode == AR_STORE_READ;
	if (st->dir == NULL) {
		ar_store_free(st);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	if (ar_chunk_params(&st->cmin, &st->cavg, &st->cmax, err) < 0) {
		ar_store_free(st);
		return -1;
	}
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		cr_error_errno(err, errno, "cannot open store %s", dir);
		ar_store_free(st);
		return -1;
	}
	if (take_lock(st, err) < 0) {
		ar_store_free(st);
		return -1;
	}
	fd = open_subdir(st->dirfd, "objects", err);
	if (fd < 0) {
		ar_store_free(st);
		return -1;
	}
	st->objfd = fd;
	fd = open_subdir(st->dirfd, "tmp", err);
	if (fd < 0) {
		ar_store_free(st);
		return -1;
	}
	st->tmpfd = fd;
	fd = open_subdir(st->dirfd, "indexes", err);
	if (fd < 0) {
		ar_store_free(st);
		return -1;
	}
	close(fd);
	/* What a killed run was writing is garbage now (readers may share the
	 * store with each other, never with a writer: nobody writes now). */
	if (!st->readonly)
		ar_store_clear_dir(st->tmpfd);

	snprintf(path, sizeof(path), "%s/archon.mdb", dir);
	rc = mdb_env_create(&st->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(st->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(st->env,
					 (size_t)STORE_MAP_SIZE_MB << 20);
	if (rc == 0)
		rc = mdb_env_open(st->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0644);
	if (rc == 0)
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "chunks", MDB_CREATE, &st->db_chunks);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "content", MDB_CREATE,
					  &st->db_content);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "refs", MDB_CREATE, &st->db_refs);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc != 0) {
		mdb_fail(err, rc, path);
		ar_store_free(st);
		return -1;
	}
	*out = st;
	return 0;
}

struct ar_store *ar_store_free(struct ar_store *st)
{
	if (st == NULL)
		return NULL;
	if (st->txn != NULL)
		mdb_txn_abort(st->txn);
	if (st->env != NULL)
		mdb_env_close(st->env);
	if (st->objfd >= 0)
		close(st->objfd);
	if (st->tmpfd >= 0)
		close(st->tmpfd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->dir);
	free(st);
	return NULL;
}

int ar_store_begin(struct ar_store *st, struct cr_error **err)
{
	int rc;

	if (st->txn != NULL)
		return 0;
	if (st->readonly)
		return cr_error_set(err, EROFS, "store %s is open for reading only",
				    st->dir);
	rc = mdb_txn_begin(st->env, NULL, 0, &st->txn);
	if (rc != 0) {
		st->txn = NULL;
		return mdb_fail(err, rc, "begin");
	}
	return 0;
}

int ar_store_commit(struct ar_store *st, struct cr_error **err)
{
	int rc;

	if (st->txn == NULL)
		return 0;
	/* The files the transaction names must be on disk before it is. */
	if (syncfs(st->dirfd) < 0) {
		ar_store_abort(st);
		return cr_error_errno(err, errno, "syncfs %s", st->dir);
	}
	rc = mdb_txn_commit(st->txn);
	st->txn = NULL;
	if (rc != 0)
		return mdb_fail(err, rc, "commit");
	return 0;
}

void ar_store_abort(struct ar_store *st)
{
	if (st->txn != NULL)
		mdb_txn_abort(st->txn);
	st->txn = NULL;
}

/* A get inside the open write transaction, or a short read transaction. */
static int kv_get(struct ar_store *st, MDB_dbi dbi, const void *key,
		  size_t klen, void *val, size_t vlen)
{
	MDB_txn *txn = st->txn;
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int rc;

	if (txn == NULL && mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return -EIO;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && v.mv_size == vlen)
		memcpy(val, v.mv_data, vlen);
	if (txn != st->txn)
		mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc != 0 || v.mv_size != vlen)
		return -EIO;
	return 0;
}

int ar_store_content_get(struct ar_store *st, const struct ar_id *content,
			 struct ar_content_rec *rec)
{
	return kv_get(st, st->db_content, content->b, AR_ID_LEN, rec,
		      sizeof(*rec));
}

int ar_store_chunk_get(struct ar_store *st, const struct ar_id *chunk,
		       struct ar_chunk_loc *loc)
{
	return kv_get(st, st->db_chunks, chunk->b, AR_ID_LEN, loc,
		      sizeof(*loc));
}

int ar_store_open_content(struct ar_store *st, const struct ar_id *content,
			  uint64_t *size)
{
	struct ar_content_rec rec;
	struct ar_objkey k;
	char path[AR_OBJPATH_MAX];
	int rc, fd;

	rc = ar_store_content_get(st, content, &rec);
	if (rc < 0)
		return rc;
	k.content = *content;
	k.mode = rec.mode;
	k.uid = rec.uid;
	k.gid = rec.gid;
	ar_objkey_path(&k, path);
	fd = openat(st->objfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (size != NULL)
		*size = rec.size;
	return fd;
}

long ar_store_read_chunk(struct ar_store *st, const struct ar_id *chunk,
			 uint8_t *buf, size_t cap)
{
	struct ar_chunk_loc loc;
	struct ar_id got;
	CR_CLEANUP_CLOSE int fd = -1;
	ssize_t n;
	int rc;

	rc = ar_store_chunk_get(st, chunk, &loc);
	if (rc < 0)
		return rc;
	if (loc.len > cap)
		return -EFBIG;
	fd = ar_store_open_content(st, &loc.content, NULL);
	if (fd < 0)
		return fd;
	n = pread(fd, buf, loc.len, (off_t)loc.offset);
	if (n != (ssize_t)loc.len)
		return -EBADMSG;
	ar_id_of(buf, loc.len, &got);
	if (!ar_id_equal(&got, chunk))
		return -EBADMSG;
	return (long)loc.len;
}

int ar_store_put_index(struct ar_store *st, const uint8_t *buf, size_t len,
		       struct ar_id *id, struct cr_error **err)
{
	char hex[AR_ID_HEX], path[PATH_MAX];
	struct stat sb;

	ar_id_of(buf, len, id);
	ar_id_hex(id, hex);
	snprintf(path, sizeof(path), "%s/indexes/%s", st->dir, hex);
	if (stat(path, &sb) == 0 && (size_t)sb.st_size == len)
		return 0;
	return cr_write_file_atomic(path, buf, len, 0444, err);
}

int ar_store_get_index(struct ar_store *st, const struct ar_id *id,
		       struct ar_index **out, struct cr_error **err)
{
	char hex[AR_ID_HEX], path[PATH_MAX];
	CR_CLEANUP_FREE char *buf = NULL;
	struct ar_id got;
	size_t len;

	ar_id_hex(id, hex);
	snprintf(path, sizeof(path), "%s/indexes/%s", st->dir, hex);
	if (cr_read_file(path, AR_INDEX_MAX_BYTES, &buf, &len, err) < 0)
		return -1;
	ar_id_of(buf, len, &got);
	if (!ar_id_equal(&got, id))
		return cr_error_set(err, EBADMSG,
				    "index %s is corrupt (hash mismatch)", hex);
	return ar_index_decode((const uint8_t *)buf, len, out, err);
}

int ar_store_put_ref(struct ar_store *st, const char *name,
		     const uint8_t *buf, size_t len, struct cr_error **err)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name };
	MDB_val v = { len, (void *)(uintptr_t)buf };
	int rc;

	if (ar_store_begin(st, err) < 0)
		return -1;
	rc = mdb_put(st->txn, st->db_refs, &k, &v, 0);
	if (rc != 0)
		return mdb_fail(err, rc, "put ref");
	return 0;
}

int ar_store_get_manifest(struct ar_store *st, const char *name,
			  struct ar_manifest **out, struct cr_error **err)
{
	MDB_txn *txn = st->txn;
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	int rc;

	if (txn == NULL && mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return cr_error_set(err, EIO, "store database: read");
	rc = mdb_get(txn, st->db_refs, &k, &v);
	if (rc == 0)
		rc = ar_manifest_decode(v.mv_data, v.mv_size, out, err) < 0
			     ? -1
			     : 0;
	else if (rc == MDB_NOTFOUND) {
		cr_error_set(err, ENOENT, "no version %s in the store", name);
		rc = -ENOENT;
	} else
		rc = mdb_fail(err, rc, "get ref");
	if (txn != st->txn)
		mdb_txn_abort(txn);
	return rc;
}

int ar_store_has(struct ar_store *st, const char *name)
{
	MDB_txn *txn = st->txn;
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	int rc;

	if (txn == NULL && mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	rc = mdb_get(txn, st->db_refs, &k, &v);
	if (txn != st->txn)
		mdb_txn_abort(txn);
	return rc == 0;
}

enum { REMOTE_MAX = 2048 };

/* An origin URL a pull can use: a scheme it speaks, nothing that could
 * split a line or an argument. */
static int remote_valid(const char *url)
{
	size_t n = strlen(url);

	if (n == 0 || n >= REMOTE_MAX ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 &&
	     strncmp(url, "file://", 7) != 0))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return 0;
	return 1;
}

int ar_store_get_remote(struct ar_store *st, char *buf, size_t cap,
			struct cr_error **err)
{
	char path[PATH_MAX];
	CR_CLEANUP_FREE char *text = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/remote", st->dir);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (cr_read_file(path, REMOTE_MAX, &text, &len, err) < 0)
		return -1;
	text[strcspn(text, "\n")] = '\0';
	if (!remote_valid(text))
		return cr_error_set(err, EINVAL, "%s holds no valid origin URL", path);
	if (strlen(text) >= cap)
		return cr_error_set(err, ENAMETOOLONG, "the origin in %s is too long", path);
	memcpy(buf, text, strlen(text) + 1);
	return 1;
}

int ar_store_set_remote(struct ar_store *st, const char *url,
			struct cr_error **err)
{
	char path[PATH_MAX], line[REMOTE_MAX + 1];
	int n;

	if (st->readonly)
		return cr_error_set(err, EROFS, "store %s is open for reading only",
				    st->dir);
	snprintf(path, sizeof(path), "%s/remote", st->dir);
	if (url == NULL) {
		if (unlink(path) < 0 && errno != ENOENT)
			return cr_error_errno(err, errno, "cannot remove %s", path);
		return 0;
	}
	if (!remote_valid(url))
		return cr_error_set(err, EINVAL,
				    "'%s' is not an origin URL (http://, https:// or file://)",
				    url);
	n = snprintf(line, sizeof(line), "%s\n", url);
	return cr_write_file_atomic(path, line, (size_t)n, 0644, err);
}

int ar_store_get_config(struct ar_store *st, const char *name, char **json,
			struct cr_error **err)
{
	struct ar_manifest *m;

	if (ar_store_get_manifest(st, name, &m, err) < 0)
		return -1;
	*json = CR_TAKE(&m->config);
	ar_manifest_free(m);
	return 0;
}

int ar_store_foreach_ref(struct ar_store *st,
			 int (*fn)(void *arg, const char *name,
				   const struct ar_manifest *m),
			 void *arg, struct cr_error **err)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return mdb_fail(err, rc, "read");
	rc = mdb_cursor_open(txn, st->db_refs, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return mdb_fail(err, rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct ar_manifest *m;
		char name[AR_NAME_MAX + 1];

		if (k.mv_size > AR_NAME_MAX)
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if (ar_manifest_decode(v.mv_data, v.mv_size, &m, err) < 0) {
			ret = cr_error_wrap(err, "version %s", name);
			break;
		}
		ret = fn(arg, name, m);
		ar_manifest_free(m);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret < 0 ? -1 : 0;
}

/* --- writing file objects ---------------------------------------------- */

int ar_writer_start(struct ar_store *st, struct ar_writer *w,
		    struct cr_error **err)
{
	memset(w, 0, offsetof(struct ar_writer, buf));
	w->buffered = 0;
	w->st = st;
	snprintf(w->tmpname, sizeof(w->tmpname), "w.%ld.%u", (long)getpid(),
		 st->tmp_seq++);
	w->fd = openat(st->tmpfd, w->tmpname,
		       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return cr_error_errno(err, errno, "cannot create a temporary file in %s/tmp",
				      st->dir);
	ar_chunker_init(&w->ck, st->cmin, st->cavg, st->cmax);
	crypto_generichash_init(&w->whole, NULL, 0, AR_ID_LEN);
	crypto_generichash_init(&w->chunk, NULL, 0, AR_ID_LEN);
	return 0;
}

static int writer_flush(struct ar_writer *w, struct cr_error **err)
{
	size_t off = 0;

	while (off < w->buffered) {
		ssize_t n = write(w->fd, w->buf + off, w->buffered - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cr_error_errno(err, errno, "writing a file object");
		off += (size_t)n;
	}
	w->buffered = 0;
	return 0;
}

static int writer_end_chunk(struct ar_writer *w, struct cr_error **err)
{
	if (w->nchunks == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 16;
		struct ar_chunk_ref *nc = realloc(w->chunks, cap * sizeof(*nc));

		if (nc == NULL)
			return cr_error_set(err, ENOMEM, "out of memory");
		w->chunks = nc;
		w->cap = cap;
	}
	crypto_generichash_final(&w->chunk, w->chunks[w->nchunks].id.b,
				 AR_ID_LEN);
	w->chunks[w->nchunks].len = (uint32_t)w->chunk_len;
	w->nchunks++;
	w->chunk_len = 0;
	crypto_generichash_init(&w->chunk, NULL, 0, AR_ID_LEN);
	return 0;
}

int ar_writer_write(struct ar_writer *w, const void *data, size_t n,
		    struct cr_error **err)
{
	const uint8_t *p = data;
	size_t left = n;

	crypto_generichash_update(&w->whole, p, n);
	w->size += n;
	while (left > 0) {
		size_t k = ar_chunker_scan(&w->ck, p, left);
		size_t take = k == AR_CHUNKER_MORE ? left : k;

		crypto_generichash_update(&w->chunk, p, take);
		w->chunk_len += take;
		if (k != AR_CHUNKER_MORE && writer_end_chunk(w, err) < 0)
			return -1;
		p += take;
		left -= take;
	}
	p = data;
	left = n;
	while (left > 0) {
		size_t room = sizeof(w->buf) - w->buffered;
		size_t take = left < room ? left : room;

		memcpy(w->buf + w->buffered, p, take);
		w->buffered += take;
		p += take;
		left -= take;
		if (w->buffered == sizeof(w->buf) && writer_flush(w, err) < 0)
			return -1;
	}
	return 0;
}

void ar_writer_discard(struct ar_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		unlinkat(w->st->tmpfd, w->tmpname, 0);
	}
	w->fd = -1;
	free(w->chunks);
	w->chunks = NULL;
}

/* Records content and chunk locations in the open transaction; keeps the
 * entries already there (the first holder of a chunk stays its home). */
static int record_content(struct ar_store *st, const struct ar_entry *e,
			  struct cr_error **err)
{
	struct ar_content_rec rec = { e->size, e->mode & 07777, e->uid,
				      e->gid };
	MDB_val k = { AR_ID_LEN, (void *)(uintptr_t)e->content.b };
	MDB_val v = { sizeof(rec), &rec };
	uint64_t off = 0;
	int rc;

	rc = mdb_put(st->txn, st->db_content, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return 0;
	if (rc != 0)
		return mdb_fail(err, rc, "put content");
	for (uint32_t i = 0; i < e->nchunks; i++) {
		struct ar_chunk_loc loc = { e->content, off, e->chunks[i].len };
		MDB_val ck = { AR_ID_LEN, (void *)(uintptr_t)e->chunks[i].id.b };
		MDB_val cv = { sizeof(loc), &loc };

		rc = mdb_put(st->txn, st->db_chunks, &ck, &cv, MDB_NOOVERWRITE);
		if (rc != 0 && rc != MDB_KEYEXIST)
			return mdb_fail(err, rc, "put chunk");
		off += e->chunks[i].len;
	}
	return 0;
}

/* Makes the object file carry e's mode and owner. */
static int object_meta(struct ar_store *st, int fd, const struct ar_entry *e,
		       struct cr_error **err)
{
	if (st->is_root && fchown(fd, e->uid, e->gid) < 0)
		return cr_error_errno(err, errno, "chown of a file object");
	if (fchmod(fd, e->mode & 07777) < 0)
		return cr_error_errno(err, errno, "chmod of a file object");
	return 0;
}

/* Moves tmp/<tmpname> to the object path of e, making objects/ab/. */
static int file_object(struct ar_store *st, const char *tmpname,
		       const struct ar_entry *e, struct cr_error **err)
{
	struct ar_objkey key;
	char path[AR_OBJPATH_MAX], sub[3];

	ar_objkey_of(e, &key);
	ar_objkey_path(&key, path);
	memcpy(sub, path, 2);
	sub[2] = '\0';
	if (mkdirat(st->objfd, sub, 0755) < 0 && errno != EEXIST)
		return cr_error_errno(err, errno, "cannot create objects/%s",
				      sub);
	if (renameat(st->tmpfd, tmpname, st->objfd, path) < 0)
		return cr_error_errno(err, errno, "cannot file object %s",
				      path);
	return 0;
}

int ar_store_object_exists(struct ar_store *st, const struct ar_entry *e)
{
	struct ar_objkey key;
	char path[AR_OBJPATH_MAX];
	struct stat sb;

	ar_objkey_of(e, &key);
	ar_objkey_path(&key, path);
	return fstatat(st->objfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == e->size;
}

int ar_writer_finish(struct ar_writer *w, struct ar_entry *e,
		     const struct ar_id *expect, struct cr_error **err)
{
	struct ar_store *st = w->st;
	struct ar_content_rec rec;
	int held;

	if (writer_flush(w, err) < 0)
		goto fail;
	if (w->chunk_len > 0 || w->nchunks == 0) {
		if (w->chunk_len > 0 && writer_end_chunk(w, err) < 0)
			goto fail;
	}
	crypto_generichash_final(&w->whole, e->content.b, AR_ID_LEN);
	if (expect != NULL && !ar_id_equal(expect, &e->content)) {
		char a[AR_ID_HEX], b[AR_ID_HEX];

		cr_error_set(err, EBADMSG, "content %s arrived as %s",
			     ar_id_hex(expect, a), ar_id_hex(&e->content, b));
		goto fail;
	}
	e->size = w->size;
	e->nchunks = w->nchunks;
	e->chunks = CR_TAKE(&w->chunks);
	held = ar_store_content_get(st, &e->content, &rec) == 0;
	if (held && ar_store_object_exists(st, e)) {
		ar_writer_discard(w);
		return 0;
	}
	/* Not held (or held under other metadata): this file becomes the
	 * object.  An object file a killed run left behind without its
	 * database record is replaced, never trusted. */
	if (object_meta(st, w->fd, e, err) < 0 ||
	    file_object(st, w->tmpname, e, err) < 0)
		goto fail;
	close(w->fd);
	w->fd = -1;
	return record_content(st, e, err);
fail:
	ar_writer_discard(w);
	return -1;
}

int ar_store_ensure_object(struct ar_store *st, const struct ar_entry *e,
			   struct cr_error **err)
{
	struct ar_writer w;
	CR_CLEANUP_CLOSE int src = -1;
	struct ar_entry copy = *e;
	uint64_t size;
	uint8_t *buf;

	if (ar_store_object_exists(st, e)) {
		struct ar_content_rec rec;

		if (ar_store_content_get(st, &e->content, &rec) == 0)
			return 1;
	}
	src = ar_store_open_content(st, &e->content, &size);
	if (src < 0)
		return 0;
	/* Another variant (mode or owner) holds the bytes: copy them. */
	if (ar_writer_start(st, &w, err) < 0)
		return -1;
	buf = malloc(65536);
	if (buf == NULL) {
		ar_writer_discard(&w);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(src, buf, 65536);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			ar_writer_discard(&w);
			return cr_error_errno(err, errno, "reading a file object");
		}
		if (n == 0)
			break;
		if (ar_writer_write(&w, buf, (size_t)n, err) < 0) {
			free(buf);
			ar_writer_discard(&w);
			return -1;
		}
	}
	free(buf);
	copy.chunks = NULL;
	if (ar_writer_finish(&w, &copy, &e->content, err) < 0)
		return -1;
	free(copy.chunks);
	/* The content record names the first variant; the new one is found
	 * by its path. */
	return 1;
}
