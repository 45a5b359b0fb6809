/*
 * Store maintenance and inspection: ls, show, du, gc, verify, diff.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cr/cleanup.h"
#include "cr/map.h"
#include "cr/util.h"
#include "cal.h"
#include "maint.h"

/* --- ls ------------------------------------------------------------------ */

struct ls_ctx {
	struct ar_store *st;
	FILE *out;
};

static int ls_one(void *arg, const char *name, const struct ar_manifest *m)
{
	struct ls_ctx *c = arg;
	struct ar_index *idx = NULL;
	char hex[AR_ID_HEX];
	uint64_t bytes = 0;
	size_t files = 0;

	if (ar_store_get_index(c->st, &m->index, &idx, NULL) == 0) {
		for (size_t i = 0; i < idx->n; i++)
			if (idx->e[i].type == AR_REG) {
				files++;
				bytes += idx->e[i].size;
			}
	}
	fprintf(c->out, "%-32s %.12s %6zu files %12" PRIu64 " bytes%s\n", name,
		ar_id_hex(&m->index, hex), files, bytes,
		idx == NULL ? " (index missing)" : "");
	ar_index_free(idx);
	return 0;
}

int ar_cmd_ls(struct ar_store *st, FILE *out, struct cr_error **err)
{
	struct ls_ctx c = { st, out };

	return ar_store_foreach_ref(st, ls_one, &c, err);
}

/* --- show ---------------------------------------------------------------- */

/* show --json: one object, the config as JSON (null when none). */
static int show_json(const struct ar_manifest *m, const struct ar_index *idx,
		     const size_t n[8], uint64_t bytes, uint64_t chunks,
		     const uint64_t disk[2], FILE *out)
{
	json_object *o = json_object_new_object(), *c = NULL, *k;
	char hex[AR_ID_HEX];

	if (o == NULL)
		return -1;
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "index", json_object_new_string(ar_id_hex(&m->index, hex)));
	json_object_object_add(o, "index_bytes", json_object_new_int64((int64_t)m->index_size));
	json_object_object_add(o, "created", json_object_new_int64((int64_t)m->created));
	if (m->is_signed) {
		cr_hex(m->pk, CR_PKLEN, hex);
		json_object_object_add(o, "signed_by", json_object_new_string(hex));
	} else {
		json_object_object_add(o, "signed_by", NULL);
	}
	json_object_object_add(o, "entries", json_object_new_int64((int64_t)idx->n));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)n[AR_REG]));
	json_object_object_add(o, "folders", json_object_new_int64((int64_t)n[AR_DIR]));
	json_object_object_add(o, "symlinks", json_object_new_int64((int64_t)n[AR_SYMLINK]));
	json_object_object_add(o, "other", json_object_new_int64(
					      (int64_t)(n[AR_CHR] + n[AR_BLK] + n[AR_FIFO])));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)bytes));
	json_object_object_add(o, "chunks", json_object_new_int64((int64_t)chunks));
	k = json_object_new_object();
	json_object_object_add(k, "min", json_object_new_int64(idx->chunk_min));
	json_object_object_add(k, "avg", json_object_new_int64(idx->chunk_avg));
	json_object_object_add(k, "max", json_object_new_int64(idx->chunk_max));
	json_object_object_add(o, "chunking", k);
	json_object_object_add(o, "deltas", json_object_new_int64((int64_t)m->ndeltas));
	json_object_object_add(o, "disk_alone", json_object_new_int64((int64_t)disk[0]));
	json_object_object_add(o, "disk_total", json_object_new_int64((int64_t)disk[1]));
	if (m->config_len > 0)
		c = json_tokener_parse(m->config);
	json_object_object_add(o, "config", c);
	fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

int ar_cmd_config(struct ar_store *st, const char *name, FILE *out,
		  struct cr_error **err)
{
	struct ar_manifest *m;
	int ret;

	if (ar_store_get_manifest(st, name, &m, err) < 0)
		return -1;
	ret = m->config_len > 0 ? 0 : 1;
	if (ret == 0)
		fprintf(out, "%s\n", m->config);
	ar_manifest_free(m);
	return ret;
}

int ar_cmd_show(struct ar_store *st, const char *name, int json, FILE *out,
		struct cr_error **err)
{
	struct ar_manifest *m;
	struct ar_index *idx;
	char hex[AR_ID_HEX];
	uint64_t bytes = 0, chunks = 0, disk[2];
	size_t n[8] = { 0 };
	char h1[32], h2[32];

	if (ar_store_get_manifest(st, name, &m, err) < 0)
		return -1;
	if (ar_store_get_index(st, &m->index, &idx, err) < 0) {
		ar_manifest_free(m);
		return -1;
	}
	for (size_t i = 0; i < idx->n; i++) {
		n[idx->e[i].type & 7]++;
		if (idx->e[i].type == AR_REG) {
			bytes += idx->e[i].size;
			chunks += idx->e[i].nchunks;
		}
	}
	if (ar_store_version_bytes(st, name, &disk[0], &disk[1], err) < 0) {
		ar_index_free(idx);
		ar_manifest_free(m);
		return -1;
	}
	if (json) {
		int rc = show_json(m, idx, n, bytes, chunks, disk, out);

		ar_index_free(idx);
		ar_manifest_free(m);
		return rc < 0 ? cr_error_set(err, ENOMEM, "out of memory") : 0;
	}
	fprintf(out, "name:      %s\n", m->name);
	fprintf(out, "index:     %s (%" PRIu64 " bytes)\n",
		ar_id_hex(&m->index, hex), m->index_size);
	fprintf(out, "created:   %" PRIu64 "\n", m->created);
	if (m->is_signed) {
		cr_hex(m->pk, CR_PKLEN, hex);
		fprintf(out, "signed by: %s\n", hex);
	} else {
		fprintf(out, "signed by: (unsigned)\n");
	}
	fprintf(out, "entries:   %zu (%zu files, %zu folders, %zu symlinks, %zu other)\n",
		idx->n, n[AR_REG], n[AR_DIR], n[AR_SYMLINK],
		n[AR_CHR] + n[AR_BLK] + n[AR_FIFO]);
	fprintf(out, "size:      %" PRIu64 " bytes in %" PRIu64 " chunks\n",
		bytes, chunks);
	fprintf(out, "chunking:  %u/%u/%u\n", idx->chunk_min, idx->chunk_avg,
		idx->chunk_max);
	fprintf(out, "deltas:    %zu\n", m->ndeltas);
	ar_human(disk[0], h1, sizeof(h1));
	ar_human(disk[1], h2, sizeof(h2));
	fprintf(out, "disk:      %s its own, %s with what it shares with other versions\n",
		h1, h2);
	fprintf(out, "config:    %s\n", m->config_len ? m->config : "(none)");
	ar_index_free(idx);
	ar_manifest_free(m);
	return 0;
}

/* --- du ------------------------------------------------------------------ */

struct tally {
	uint64_t files, bytes, disk;
};

static void tally_dir(int dfd, struct tally *t, int depth)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	/* The dup shares its offset with dfd, which an earlier walk left
	 * at the end. */
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode) && depth > 0) {
			int sub = openat(dfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				tally_dir(sub, t, depth - 1);
				close(sub);
			}
		} else if (S_ISREG(sb.st_mode)) {
			t->files++;
			t->bytes += (uint64_t)sb.st_size;
			t->disk += (uint64_t)sb.st_blocks * 512;
		}
	}
	closedir(d);
}

struct du_ctx {
	struct ar_store *st;
	uint64_t logical;
	size_t versions;
};

static int du_one(void *arg, const char *name, const struct ar_manifest *m)
{
	struct du_ctx *c = arg;
	struct ar_index *idx;

	(void)name;
	c->versions++;
	if (ar_store_get_index(c->st, &m->index, &idx, NULL) < 0)
		return 0;
	for (size_t i = 0; i < idx->n; i++)
		if (idx->e[i].type == AR_REG)
			c->logical += idx->e[i].size;
	ar_index_free(idx);
	return 0;
}

int ar_cmd_du(struct ar_store *st, FILE *out, struct cr_error **err)
{
	struct tally obj = { 0 }, ix = { 0 };
	struct du_ctx c = { st, 0, 0 };
	struct stat sb;
	int fd;

	tally_dir(st->objfd, &obj, 1);
	fd = openat(st->dirfd, "indexes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		tally_dir(fd, &ix, 0);
		close(fd);
	}
	if (ar_store_foreach_ref(st, du_one, &c, err) < 0)
		return -1;
	fprintf(out, "objects:  %" PRIu64 " files, %" PRIu64 " bytes (%" PRIu64
		     " on disk)\n", obj.files, obj.bytes, obj.disk);
	fprintf(out, "indexes:  %" PRIu64 " files, %" PRIu64 " bytes\n",
		ix.files, ix.bytes);
	if (fstatat(st->dirfd, "archon.mdb", &sb, 0) == 0)
		fprintf(out, "database: %lld bytes\n", (long long)sb.st_blocks * 512);
	fprintf(out, "versions: %zu, %" PRIu64
		     " bytes of files if each were a separate copy\n",
		c.versions, c.logical);
	return 0;
}

/* --- gc ------------------------------------------------------------------ */

struct live {
	struct ar_store *st;
	struct cr_map *objs;	/* objkey id -> 1 */
	struct cr_map *content; /* content id -> malloc'd live objkey */
	struct cr_map *indexes; /* index id -> 1 */
	int failed;
	const char *skip; /* a version left out, or NULL */
};

static int live_one(void *arg, const char *name, const struct ar_manifest *m)
{
	struct live *l = arg;
	struct ar_index *idx;

	if (l->skip != NULL && strcmp(name, l->skip) == 0)
		return 0;
	cr_map_put(l->indexes, m->index.b, (void *)1);
	if (ar_store_get_index(l->st, &m->index, &idx, NULL) < 0)
		return 0; /* a broken version keeps nothing alive */
	for (size_t i = 0; i < idx->n; i++) {
		struct ar_objkey k;
		struct ar_id kid;

		if (idx->e[i].type != AR_REG)
			continue;
		ar_objkey_of(&idx->e[i], &k);
		ar_objkey_id(&k, &kid);
		if (cr_map_put(l->objs, kid.b, (void *)1) < 0)
			l->failed = 1;
		if (cr_map_get(l->content, k.content.b) == NULL) {
			struct ar_objkey *copy = malloc(sizeof(*copy));

			if (copy == NULL ||
			    cr_map_put(l->content, k.content.b, copy) < 0) {
				free(copy);
				l->failed = 1;
			} else {
				*copy = k;
			}
		}
	}
	ar_index_free(idx);
	return 0;
}

/* Parses an object file name "<hex>.<mode>.<uid>.<gid>". */
static int parse_objname(const char *s, struct ar_objkey *k)
{
	char hex[AR_ID_HEX];
	unsigned mode, uid, gid;
	char *end;

	if (strlen(s) < AR_ID_HEX || s[AR_ID_HEX - 1] != '.')
		return -1;
	memcpy(hex, s, AR_ID_HEX - 1);
	hex[AR_ID_HEX - 1] = '\0';
	if (ar_id_parse(hex, &k->content) < 0)
		return -1;
	s += AR_ID_HEX;
	mode = (unsigned)strtoul(s, &end, 8);
	if (*end != '.')
		return -1;
	uid = (unsigned)strtoul(end + 1, &end, 10);
	if (*end != '.')
		return -1;
	gid = (unsigned)strtoul(end + 1, &end, 10);
	if (*end != '\0')
		return -1;
	k->mode = mode;
	k->uid = uid;
	k->gid = gid;
	return 0;
}

struct victim {
	char path[AR_OBJPATH_MAX];
	uint64_t size;
};

static void free_values(struct cr_map *m)
{
	size_t pos = 0;
	const void *k;
	void *v;

	while (m != NULL && cr_map_next(m, &pos, &k, &v))
		free(v);
}

struct refrec {
	char name[AR_NAME_MAX + 1];
	uint64_t created;
};

struct refs {
	struct refrec *r;
	size_t n, cap;
};

static int collect_ref(void *arg, const char *name, const struct ar_manifest *m)
{
	struct refs *rs = arg;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct refrec *nr = realloc(rs->r, cap * sizeof(*nr));

		if (nr == NULL)
			return -1;
		rs->r = nr;
		rs->cap = cap;
	}
	snprintf(rs->r[rs->n].name, sizeof(rs->r[rs->n].name), "%s", name);
	rs->r[rs->n].created = m->created;
	rs->n++;
	return 0;
}

/* Same repository first, then newest first. */
static int refrec_cmp(const void *a, const void *b)
{
	const struct refrec *x = a, *y = b;
	size_t lx = (size_t)(strrchr(x->name, ':') - x->name);
	size_t ly = (size_t)(strrchr(y->name, ':') - y->name);
	int c = strncmp(x->name, y->name, lx < ly ? lx : ly);

	if (c != 0 || lx != ly)
		return c != 0 ? c : (lx < ly ? -1 : 1);
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return strcmp(y->name, x->name);
}

int ar_store_tags(struct ar_store *st, const char *repo_of,
		  char (**names)[AR_NAME_MAX + 1], size_t *n,
		  struct cr_error **err)
{
	struct refs rs = { 0 };
	size_t rl = (size_t)(strrchr(repo_of, ':') - repo_of), k = 0;

	if (ar_store_foreach_ref(st, collect_ref, &rs, err) < 0) {
		free(rs.r);
		return -1;
	}
	if (rs.n > 1)
		qsort(rs.r, rs.n, sizeof(*rs.r), refrec_cmp);
	*names = malloc((rs.n ? rs.n : 1) * sizeof(**names));
	if (*names == NULL) {
		free(rs.r);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < rs.n; i++)
		if (strncmp(rs.r[i].name, repo_of, rl + 1) == 0)
			memcpy((*names)[k++], rs.r[i].name, AR_NAME_MAX + 1);
	*n = k;
	free(rs.r);
	return 0;
}

/* Drops all but the newest `keep` versions of every repository. */
static int drop_old(struct ar_store *st, unsigned keep, FILE *out,
		    struct cr_error **err)
{
	struct refs rs = { 0 };
	size_t kept = 0;
	int rc = 0;

	if (ar_store_foreach_ref(st, collect_ref, &rs, err) < 0) {
		free(rs.r);
		return -1;
	}
	if (rs.n > 1)
		qsort(rs.r, rs.n, sizeof(*rs.r), refrec_cmp);
	if (ar_store_begin(st, err) < 0) {
		free(rs.r);
		return -1;
	}
	for (size_t i = 0; i < rs.n && rc == 0; i++) {
		MDB_val k = { strlen(rs.r[i].name), rs.r[i].name };

		size_t rl = (size_t)(strrchr(rs.r[i].name, ':') - rs.r[i].name);

		/* A new repository starts (names sort by repository). */
		if (i > 0 && strncmp(rs.r[i - 1].name, rs.r[i].name, rl + 1) != 0)
			kept = 0;
		if (kept++ < keep)
			continue;
		rc = mdb_del(st->txn, st->db_refs, &k, NULL);
		fprintf(out, "gc: dropping version %s\n", rs.r[i].name);
	}
	free(rs.r);
	if (rc != 0) {
		ar_store_abort(st);
		return cr_error_set(err, EIO, "gc: %s", mdb_strerror(rc));
	}
	return ar_store_commit(st, err);
}

/* What a collection removed. */
struct gc_result {
	size_t objects, indexes, partial;
	uint64_t freed; /* bytes of the object files */
};


/* A chunk's record names one file object holding it.  When that object
 * goes, another kept content may hold the same chunk (two versions of a
 * library share most of theirs): records it again from the kept indexes,
 * so the next pull does not fetch what the store has.  Inside the open
 * write transaction. */
static void relocate_chunks(struct ar_store *st, const struct cr_map *indexes)
{
	size_t pos = 0;
	const void *key;
	void *val;

	while (cr_map_next(indexes, &pos, &key, &val) == 1) {
		struct ar_index *idx;
		struct ar_id id;

		memcpy(id.b, key, AR_ID_LEN);
		if (ar_store_get_index(st, &id, &idx, NULL) < 0)
			continue;
		for (size_t i = 0; i < idx->n; i++) {
			const struct ar_entry *e = &idx->e[i];
			uint64_t off = 0;

			for (uint32_t c = 0; e->type == AR_REG && c < e->nchunks; c++) {
				struct ar_chunk_loc loc = { e->content, off, e->chunks[c].len };
				MDB_val k = { AR_ID_LEN, (void *)e->chunks[c].id.b }, v;

				off += e->chunks[c].len;
				if (mdb_get(st->txn, st->db_chunks, &k, &v) != MDB_NOTFOUND)
					continue;
				v.mv_size = sizeof(loc);
				v.mv_data = &loc;
				mdb_put(st->txn, st->db_chunks, &k, &v, 0);
			}
		}
		ar_index_free(idx);
	}
}

/* Removes what no version names needs; with clear_partial also the
 * chunks an unfinished pull kept. */
static int gc_core(struct ar_store *st, int clear_partial, struct gc_result *res,
		   struct cr_error **err)
{
	struct live l = { st, cr_map_new(AR_ID_LEN), cr_map_new(AR_ID_LEN),
			  cr_map_new(AR_ID_LEN), 0, NULL };
	struct victim *dead = NULL;
	size_t ndead = 0, capdead = 0, nidx = 0;
	uint64_t freed = 0;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	DIR *d = NULL;
	struct dirent *de;
	int ret = -1, rc, fd;

	if (l.objs == NULL || l.content == NULL || l.indexes == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	memset(res, 0, sizeof(*res));
	if (ar_store_foreach_ref(st, live_one, &l, err) < 0)
		goto out;
	if (l.failed) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* Which object files no version needs. */
	fd = dup(st->objfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	/* objfd is the store's for its life: an earlier gc of this handle
	 * left its (shared) offset at the end. */
	if (d != NULL)
		rewinddir(d);
	while (d != NULL && (de = readdir(d)) != NULL) {
		int sub;
		DIR *sd;
		struct dirent *se;

		if (de->d_name[0] == '.')
			continue;
		sub = openat(st->objfd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		sd = sub >= 0 ? fdopendir(sub) : NULL;
		while (sd != NULL && (se = readdir(sd)) != NULL) {
			struct ar_objkey key;
			struct ar_id kid;
			struct stat sb;

			if (se->d_name[0] == '.')
				continue;
			if (parse_objname(se->d_name, &key) == 0) {
				ar_objkey_id(&key, &kid);
				if (cr_map_get(l.objs, kid.b) != NULL)
					continue;
			}
			if (ndead == capdead) {
				size_t cap = capdead ? capdead * 2 : 64;
				struct victim *nv = realloc(dead, cap * sizeof(*nv));

				if (nv == NULL) {
					closedir(sd);
					cr_error_set(err, ENOMEM, "out of memory");
					goto out;
				}
				dead = nv;
				capdead = cap;
			}
			snprintf(dead[ndead].path, AR_OBJPATH_MAX, "%.2s/%.*s",
				 de->d_name, (int)(AR_OBJPATH_MAX - 4), se->d_name);
			dead[ndead].size = fstatat(sub, se->d_name, &sb,
						   AT_SYMLINK_NOFOLLOW) == 0
						   ? (uint64_t)sb.st_size
						   : 0;
			ndead++;
		}
		if (sd != NULL)
			closedir(sd);
		else if (sub >= 0)
			close(sub);
	}
	/* The database forgets them first, in one transaction; a kill after
	 * it leaves unreferenced files, which the next gc removes. */
	if (ar_store_begin(st, err) < 0)
		goto out;
	rc = mdb_cursor_open(st->txn, st->db_content, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct ar_objkey *lk;
		struct ar_content_rec rec;

		if (k.mv_size != AR_ID_LEN || v.mv_size != sizeof(rec)) {
			mdb_cursor_del(cur, 0);
			continue;
		}
		lk = cr_map_get(l.content, k.mv_data);
		if (lk == NULL) {
			mdb_cursor_del(cur, 0);
			continue;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (rec.mode != lk->mode || rec.uid != lk->uid ||
		    rec.gid != lk->gid) {
			MDB_val nv = { sizeof(rec), &rec };

			rec.mode = lk->mode;
			rec.uid = lk->uid;
			rec.gid = lk->gid;
			mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
		}
	}
	mdb_cursor_close(cur);
	rc = mdb_cursor_open(st->txn, st->db_chunks, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct ar_chunk_loc loc;

		if (v.mv_size != sizeof(loc)) {
			mdb_cursor_del(cur, 0);
			continue;
		}
		memcpy(&loc, v.mv_data, sizeof(loc));
		if (cr_map_get(l.content, loc.content.b) == NULL)
			mdb_cursor_del(cur, 0);
	}
	mdb_cursor_close(cur);
	relocate_chunks(st, l.indexes);
	if (ar_store_commit(st, err) < 0)
		goto out;
	for (size_t i = 0; i < ndead; i++) {
		if (unlinkat(st->objfd, dead[i].path, 0) == 0)
			freed += dead[i].size;
	}
	/* Indexes no version names. */
	if (d != NULL)
		closedir(d);
	fd = openat(st->dirfd, "indexes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct ar_id id;

		if (de->d_name[0] == '.')
			continue;
		if (ar_id_parse(de->d_name, &id) == 0 &&
		    cr_map_get(l.indexes, id.b) != NULL)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			nidx++;
	}
	res->objects = ndead;
	res->freed = freed;
	res->indexes = nidx;
	/* Chunks kept by a pull that never completed (pull.c): gc is the
	 * user saying what to keep, and a pull fetches them again if need be. */
	if (clear_partial) {
		int pfd = openat(st->dirfd, "partial", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *pd = pfd >= 0 ? fdopendir(pfd) : NULL;
		size_t npart = 0;

		if (pd == NULL && pfd >= 0)
			close(pfd);
		while (pd != NULL && (de = readdir(pd)) != NULL)
			if (de->d_name[0] != '.' && unlinkat(dirfd(pd), de->d_name, 0) == 0)
				npart++;
		if (pd != NULL)
			closedir(pd);
		res->partial = npart;
	}
	/* The cal/ links of removed objects (content-addressed linking):
	 * the objects' bytes are freed only once those go too. */
	ar_cal_sweep(st);
	ret = 0;
out:
	if (d != NULL)
		closedir(d);
	ar_store_abort(st);
	free(dead);
	free_values(l.content);
	cr_map_free(l.objs);
	cr_map_free(l.content);
	cr_map_free(l.indexes);
	return ret;
}

int ar_cmd_gc(struct ar_store *st, unsigned keep, FILE *out,
	      struct cr_error **err)
{
	struct gc_result r;

	if (keep > 0 && drop_old(st, keep, out, err) < 0)
		return -1;
	if (gc_core(st, 1, &r, err) < 0)
		return -1;
	fprintf(out, "gc: removed %zu objects (%" PRIu64 " bytes) and %zu indexes\n",
		r.objects, r.freed, r.indexes);
	if (r.partial > 0)
		fprintf(out, "gc: removed %zu chunks of an unfinished pull\n", r.partial);
	return 0;
}

int ar_store_gc(struct ar_store *st, uint64_t *freed_bytes, struct cr_error **err)
{
	struct gc_result r;

	if (gc_core(st, 0, &r, err) < 0)
		return -1;
	if (freed_bytes != NULL)
		*freed_bytes = r.freed;
	return 0;
}

int ar_store_remove(struct ar_store *st, const char *name, struct cr_error **err)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name };
	int rc;

	if (ar_store_begin(st, err) < 0)
		return -1;
	rc = mdb_del(st->txn, st->db_refs, &k, NULL);
	if (rc != 0) {
		ar_store_abort(st);
		if (rc == MDB_NOTFOUND)
			return cr_error_set(err, ENOENT, "no version %s in the store", name);
		return cr_error_set(err, EIO, "store database: forget %s: %s", name,
				    mdb_strerror(rc));
	}
	return ar_store_commit(st, err);
}

/* --- verify -------------------------------------------------------------- */

struct vctx {
	struct ar_store *st;
	FILE *out;
	struct cr_map *checked; /* objkey id -> 1 */
	size_t versions, objects, problems;
};

static void problem(struct vctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct vctx *c, const char *fmt, ...)
{
	va_list ap;

	c->problems++;
	fprintf(c->out, "verify: ");
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
}

/* Hashes a whole file object. */
static int hash_object(struct ar_store *st, const char *path, uint64_t size,
		       struct ar_id *out)
{
	crypto_generichash_state s;
	uint8_t buf[65536];
	uint64_t total = 0;
	CR_CLEANUP_CLOSE int fd = openat(st->objfd, path,
					 O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	crypto_generichash_init(&s, NULL, 0, AR_ID_LEN);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -EIO;
		if (n == 0)
			break;
		crypto_generichash_update(&s, buf, (size_t)n);
		total += (uint64_t)n;
	}
	crypto_generichash_final(&s, out->b, AR_ID_LEN);
	return total == size ? 0 : -EBADMSG;
}

/* 1 when the file object of e is there and hashes to e's content. */
static int object_ok(struct ar_store *st, const struct ar_entry *e)
{
	struct ar_objkey k;
	struct ar_id got;
	char path[AR_OBJPATH_MAX];

	ar_objkey_of(e, &k);
	ar_objkey_path(&k, path);
	return hash_object(st, path, e->size, &got) == 0 &&
	       ar_id_equal(&got, &k.content);
}

static int verify_one(void *arg, const char *name, const struct ar_manifest *m)
{
	struct vctx *c = arg;
	struct ar_index *idx;
	struct cr_error *e = NULL;

	c->versions++;
	if (ar_store_get_index(c->st, &m->index, &idx, &e) < 0) {
		problem(c, "%s: %s", name, cr_error_msg(e));
		cr_error_free(e);
		return 0;
	}
	for (size_t i = 0; i < idx->n; i++) {
		struct ar_objkey k;
		struct ar_id kid;

		if (idx->e[i].type != AR_REG)
			continue;
		ar_objkey_of(&idx->e[i], &k);
		ar_objkey_id(&k, &kid);
		if (cr_map_get(c->checked, kid.b) != NULL)
			continue;
		cr_map_put(c->checked, kid.b, (void *)1);
		c->objects++;
		if (!object_ok(c->st, &idx->e[i]))
			problem(c, "%s: %s: object missing or corrupt", name,
				idx->e[i].path);
	}
	ar_index_free(idx);
	return 0;
}

int ar_cmd_verify(struct ar_store *st, FILE *out, struct cr_error **err)
{
	struct vctx c = { st, out, cr_map_new(AR_ID_LEN), 0, 0, 0 };
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t nchunks = 0;
	uint8_t *buf = malloc(AR_CHUNK_MAX_LIMIT);
	int rc;

	if (c.checked == NULL || buf == NULL) {
		free(buf);
		cr_map_free(c.checked);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	if (ar_store_foreach_ref(st, verify_one, &c, err) < 0) {
		free(buf);
		cr_map_free(c.checked);
		return -1;
	}
	/* Every chunk the database knows is where it says, with its bytes. */
	rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0 && mdb_cursor_open(txn, st->db_chunks, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct ar_id id;
			char hex[AR_ID_HEX];
			long n;

			if (k.mv_size != AR_ID_LEN) {
				problem(&c, "%s%s", "malformed chunk record", "");
				continue;
			}
			memcpy(id.b, k.mv_data, AR_ID_LEN);
			nchunks++;
			n = ar_store_read_chunk(st, &id, buf, AR_CHUNK_MAX_LIMIT);
			if (n < 0)
				problem(&c, "chunk %s: %s", ar_id_hex(&id, hex),
					n == -ENOENT ? "its object is missing"
						     : "bytes do not match");
		}
		mdb_cursor_close(cur);
	}
	if (rc == 0 || rc == MDB_NOTFOUND)
		mdb_txn_abort(txn);
	free(buf);
	cr_map_free(c.checked);
	if (c.problems > 0)
		return cr_error_set(err, EBADMSG, "%zu problems found", c.problems);
	fprintf(out, "verify: ok: %zu versions, %zu file objects, %zu chunks\n",
		c.versions, c.objects, nchunks);
	return 0;
}

int ar_store_verify_version(struct ar_store *st, const char *name,
			    struct cr_error **err)
{
	struct ar_manifest *m;
	struct ar_index *idx;
	int ret = 0;

	if (ar_store_get_manifest(st, name, &m, err) < 0)
		return -1;
	if (ar_store_get_index(st, &m->index, &idx, err) < 0) {
		ar_manifest_free(m);
		return cr_error_wrap(err, "verify %s", name);
	}
	for (size_t i = 0; i < idx->n && ret == 0; i++) {
		char hex[AR_ID_HEX];

		if (idx->e[i].type != AR_REG || object_ok(st, &idx->e[i]))
			continue;
		ret = cr_error_set(err, EBADMSG,
				   "verify %s: %s: its file object is missing or does not "
				   "hash to its content %s (changed on disk?)",
				   name, idx->e[i].path, ar_id_hex(&idx->e[i].content, hex));
	}
	ar_index_free(idx);
	ar_manifest_free(m);
	return ret;
}

/* --- what a version costs ------------------------------------------------ */

int ar_store_version_bytes(struct ar_store *st, const char *name,
			   uint64_t *unique, uint64_t *total,
			   struct cr_error **err)
{
	struct live others = { st, cr_map_new(AR_ID_LEN), cr_map_new(AR_ID_LEN),
			       cr_map_new(AR_ID_LEN), 0, name };
	struct cr_map *mine = cr_map_new(AR_ID_LEN);
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	uint64_t u = 0, t = 0;
	int ret = -1;

	if (others.objs == NULL || others.content == NULL || others.indexes == NULL ||
	    mine == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (ar_store_get_manifest(st, name, &m, err) < 0 ||
	    ar_store_get_index(st, &m->index, &idx, err) < 0 ||
	    ar_store_foreach_ref(st, live_one, &others, err) < 0)
		goto out;
	if (others.failed) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < idx->n; i++) {
		struct ar_objkey k;
		struct ar_id kid;
		char path[AR_OBJPATH_MAX];
		struct stat sb;
		uint64_t disk;

		if (idx->e[i].type != AR_REG)
			continue;
		ar_objkey_of(&idx->e[i], &k);
		ar_objkey_id(&k, &kid);
		if (cr_map_get(mine, kid.b) != NULL)
			continue;
		cr_map_put(mine, kid.b, (void *)1);
		ar_objkey_path(&k, path);
		if (fstatat(st->objfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* missing: costs nothing (verify says so) */
		disk = (uint64_t)sb.st_blocks * 512;
		t += disk;
		if (cr_map_get(others.objs, kid.b) == NULL)
			u += disk;
	}
	if (unique != NULL)
		*unique = u;
	if (total != NULL)
		*total = t;
	ret = 0;
out:
	ar_index_free(idx);
	ar_manifest_free(m);
	cr_map_free(mine);
	free_values(others.content);
	cr_map_free(others.objs);
	cr_map_free(others.content);
	cr_map_free(others.indexes);
	return ret;
}

/* --- diff ---------------------------------------------------------------- */

int ar_cmd_diff(struct ar_store *st, const char *a, const char *b, FILE *out,
		struct cr_error **err)
{
	struct ar_manifest *ma = NULL, *mb = NULL;
	struct ar_index *ia = NULL, *ib = NULL;
	struct cr_map *chunks = cr_map_new(AR_ID_LEN), *have = cr_map_new(AR_ID_LEN);
	struct cr_map *seen = cr_map_new(AR_ID_LEN);
	uint64_t cbytes = 0, dbytes = 0, total = 0;
	size_t nchunks = 0, ndeltas = 0, nfiles = 0;
	int ret = -1;

	if (chunks == NULL || have == NULL || seen == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (ar_store_get_manifest(st, a, &ma, err) < 0 ||
	    ar_store_get_manifest(st, b, &mb, err) < 0 ||
	    ar_store_get_index(st, &ma->index, &ia, err) < 0 ||
	    ar_store_get_index(st, &mb->index, &ib, err) < 0)
		goto out;
	for (size_t i = 0; i < ia->n; i++) {
		if (ia->e[i].type != AR_REG)
			continue;
		cr_map_put(have, ia->e[i].content.b, (void *)1);
		for (uint32_t j = 0; j < ia->e[i].nchunks; j++)
			cr_map_put(chunks, ia->e[i].chunks[j].id.b, (void *)1);
	}
	for (size_t i = 0; i < ib->n; i++) {
		const struct ar_entry *e = &ib->e[i];
		const struct ar_delta_ref *d = NULL;

		if (e->type != AR_REG || cr_map_get(have, e->content.b) ||
		    cr_map_get(seen, e->content.b))
			continue;
		cr_map_put(seen, e->content.b, (void *)1);
		nfiles++;
		total += e->size;
		for (size_t j = 0; j < mb->ndeltas && d == NULL; j++)
			if (ar_id_equal(&mb->deltas[j].to, &e->content) &&
			    cr_map_get(have, mb->deltas[j].from.b))
				d = &mb->deltas[j];
		if (d != NULL) {
			ndeltas++;
			dbytes += d->size;
			continue;
		}
		for (uint32_t j = 0; j < e->nchunks; j++) {
			if (cr_map_get(chunks, e->chunks[j].id.b))
				continue;
			cr_map_put(chunks, e->chunks[j].id.b, (void *)1);
			nchunks++;
			cbytes += e->chunks[j].len;
		}
	}
	fprintf(out, "%s -> %s: %zu new file contents (%" PRIu64 " bytes)\n", a, b,
		nfiles, total);
	fprintf(out, "  deltas: %zu with %" PRIu64 " bytes\n", ndeltas, dbytes);
	fprintf(out, "  chunks: %zu with %" PRIu64 " bytes (before compression)\n",
		nchunks, cbytes);
	{
		uint64_t ibytes = mb->index_size;

		for (size_t j = 0; j < mb->ndeltas; j++)
			if (ar_id_equal(&mb->deltas[j].to, &mb->index) &&
			    ar_id_equal(&mb->deltas[j].from, &ma->index) &&
			    mb->deltas[j].size < ibytes)
				ibytes = mb->deltas[j].size;
		fprintf(out, "  index:  %" PRIu64 " bytes%s\n", ibytes,
			ibytes < mb->index_size ? " (by delta)" : "");
		fprintf(out, "  total:  %" PRIu64 " bytes to download at most\n",
			dbytes + cbytes + ibytes);
	}
	ret = 0;
out:
	ar_index_free(ia);
	ar_index_free(ib);
	ar_manifest_free(ma);
	ar_manifest_free(mb);
	cr_map_free(chunks);
	cr_map_free(have);
	cr_map_free(seen);
	return ret;
}
