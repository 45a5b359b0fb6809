/*
 * The tree an import builds in memory before it becomes an index: entries
 * by path, with the rules of OCI layer application (whiteouts, opaque
 * folders, hard links to earlier entries) and the import safety rules: a
 * path is relative without "." or ".." components, and an entry's parent
 * must be a folder of the tree, never a symlink, so nothing is placed
 * "through" a link.  File contents go to the store as they stream in;
 * nothing is ever written at a path taken from the source.
 */
#ifndef AR_TREE_H
#define AR_TREE_H

#include "ar/index.h"
#include "cr/error.h"
#include "cr/map.h"

struct ar_tree {
	struct ar_entry *e;
	unsigned *layer; /* the layer each entry came from */
	size_t n, cap;
	struct cr_map *bypath; /* BLAKE2b(path) -> entry number + 1 */
	unsigned cur_layer;
};

int ar_tree_init(struct ar_tree *t, struct cr_error **err);
void ar_tree_clear(struct ar_tree *t);

/* Normalizes a path from a source ("./a/b/", "a//b") into out (cap bytes);
 * rejects absolute paths and ".." components.  "" means the root.  */
int ar_tree_norm(const char *in, char *out, size_t cap, struct cr_error **err);

/* Adds e (taking its path, target and chunks) at e->path, replacing what
 * was there (a folder merges with a folder).  Missing parent folders are
 * made (0755, root); a parent that is not a folder is an error. */
int ar_tree_put(struct ar_tree *t, struct ar_entry *e, struct cr_error **err);

/* The entry at path, or NULL. */
struct ar_entry *ar_tree_get(struct ar_tree *t, const char *path);

/* Removes path and everything under it. */
void ar_tree_remove(struct ar_tree *t, const char *path);
/* Removes everything under dir ("" = root) from earlier layers. */
void ar_tree_opaque(struct ar_tree *t, const char *dir);

/* Moves the live entries into a new sorted index; t is emptied. */
int ar_tree_to_index(struct ar_tree *t, struct ar_index *idx,
		     struct cr_error **err);

#endif
