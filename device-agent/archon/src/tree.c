/*
 * The in-memory tree of an import (tree.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "tree.h"

static void path_key(const char *path, struct ar_id *k)
{
	ar_id_of(path, strlen(path), k);
}

int ar_tree_init(struct ar_tree *t, struct cr_error **err)
{
	memset(t, 0, sizeof(*t));
	t->bypath = cr_map_new(AR_ID_LEN);
	if (t->bypath == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	return 0;
}

static void entry_drop(struct ar_entry *e)
{
	free(e->path);
	free(e->target);
	free(e->chunks);
	memset(e, 0, sizeof(*e));
}

void ar_tree_clear(struct ar_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		entry_drop(&t->e[i]);
	free(t->e);
	free(t->layer);
	cr_map_free(t->bypath);
	memset(t, 0, sizeof(*t));
}

int ar_tree_norm(const char *in, char *out, size_t cap, struct cr_error **err)
{
	size_t o = 0;
	const char *p = in;

	if (in[0] == '/')
		return cr_error_set(err, EPERM, "absolute path '%s' in the source",
				    in);
	while (*p) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return cr_error_set(err, EPERM,
					    "path '%s' climbs out with '..'", in);
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > cap)
				return cr_error_set(err, ENAMETOOLONG,
						    "path too long: %.64s...", in);
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	out[o] = '\0';
	return 0;
}

struct ar_entry *ar_tree_get(struct ar_tree *t, const char *path)
{
	struct ar_id k;
	uintptr_t v;

	path_key(path, &k);
	v = (uintptr_t)cr_map_get(t->bypath, k.b);
	return v == 0 ? NULL : &t->e[v - 1];
}

static int under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void drop_at(struct ar_tree *t, size_t i)
{
	struct ar_id k;

	path_key(t->e[i].path, &k);
	cr_map_del(t->bypath, k.b);
	entry_drop(&t->e[i]);
}

void ar_tree_remove(struct ar_tree *t, const char *path)
{
	struct ar_entry *e = ar_tree_get(t, path);
	int was_dir;

	if (e == NULL)
		return;
	was_dir = e->type == AR_DIR;
	drop_at(t, (size_t)(e - t->e));
	if (!was_dir)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].path != NULL && under(t->e[i].path, path))
			drop_at(t, i);
}

void ar_tree_opaque(struct ar_tree *t, const char *dir)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].path != NULL && t->layer[i] < t->cur_layer &&
		    under(t->e[i].path, dir))
			drop_at(t, i);
}

static int append(struct ar_tree *t, struct ar_entry *e, struct cr_error **err)
{
	struct ar_id k;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct ar_entry *ne;
		unsigned *nl;

		if (cap > AR_INDEX_MAX_ENTRIES)
			return cr_error_set(err, E2BIG, "more than %d entries",
					    AR_INDEX_MAX_ENTRIES);
		ne = realloc(t->e, cap * sizeof(*ne));
		if (ne == NULL)
			return cr_error_set(err, ENOMEM, "out of memory");
		t->e = ne;
		nl = realloc(t->layer, cap * sizeof(*nl));
		if (nl == NULL)
			return cr_error_set(err, ENOMEM, "out of memory");
		t->layer = nl;
		t->cap = cap;
	}
	path_key(e->path, &k);
	t->e[t->n] = *e;
	t->layer[t->n] = t->cur_layer;
	if (cr_map_put(t->bypath, k.b, (void *)(uintptr_t)(t->n + 1)) < 0)
		return cr_error_set(err, ENOMEM, "out of memory");
	t->n++;
	memset(e, 0, sizeof(*e));
	return 0;
}

/* Checks (making when missing) every parent folder of path. */
static int parents(struct ar_tree *t, const char *path, struct cr_error **err)
{
	char buf[AR_PATH_MAX + 1];
	size_t n = strlen(path);

	if (n > AR_PATH_MAX)
		return cr_error_set(err, ENAMETOOLONG, "path too long");
	memcpy(buf, path, n + 1);
	for (size_t i = 0; i < n; i++) {
		struct ar_entry *p;

		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		p = ar_tree_get(t, buf);
		if (p == NULL) {
			struct ar_entry d = { .type = AR_DIR, .mode = 0755 };

			d.path = strdup(buf);
			if (d.path == NULL || append(t, &d, err) < 0) {
				free(d.path);
				return cr_error_set(err, ENOMEM, "out of memory");
			}
		} else if (p->type != AR_DIR) {
			return cr_error_set(err, EPERM,
					    "'%s' would be placed through '%s', which is %s",
					    path, buf,
					    p->type == AR_SYMLINK ? "a symlink"
								  : "not a folder");
		}
		buf[i] = '/';
	}
	return 0;
}

int ar_tree_put(struct ar_tree *t, struct ar_entry *e, struct cr_error **err)
{
	struct ar_entry *old;

	if (!ar_path_valid(e->path, strlen(e->path)))
		return cr_error_set(err, EPERM, "invalid path '%s'", e->path);
	if (parents(t, e->path, err) < 0)
		return -1;
	old = ar_tree_get(t, e->path);
	if (old != NULL) {
		if (old->type == AR_DIR && e->type == AR_DIR) {
			old->mode = e->mode;
			old->uid = e->uid;
			old->gid = e->gid;
			old->mtime = e->mtime;
			entry_drop(e);
			return 0;
		}
		ar_tree_remove(t, e->path);
	}
	return append(t, e, err);
}

int ar_tree_to_index(struct ar_tree *t, struct ar_index *idx,
		     struct cr_error **err)
{
	size_t live = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].path != NULL)
			t->e[live++] = t->e[i];
	idx->e = t->e;
	idx->n = live;
	idx->cap = t->cap;
	t->e = NULL;
	t->n = t->cap = 0;
	return ar_index_sort(idx, err);
}
