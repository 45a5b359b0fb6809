/*
 * Import steps shared by import.c and registry.c.
 */
#ifndef AR_IMPORT_INTERNAL_H
#define AR_IMPORT_INTERNAL_H

#include "oci.h"
#include "store-internal.h"
#include "tree.h"

struct ar_importer {
	struct ar_store *st;
	struct ar_tree tree;
	char *config; /* OCI image config JSON, or NULL */
	size_t config_len;
};

int ar_importer_init(struct ar_importer *imp, struct ar_store *st,
		     struct cr_error **err);
void ar_importer_clear(struct ar_importer *imp);
int ar_import_dir(struct ar_importer *imp, const char *dir,
		  struct cr_error **err);
struct ar_tar;
/* Applies the layer a reads (tar.h) onto the tree. */
int ar_apply_layer(struct ar_importer *imp, struct ar_tar *a,
		   struct cr_error **err);
int ar_apply_layer_file(struct ar_importer *imp, const char *path,
			struct cr_error **err);
/* Reads the config and applies the layers of an image manifest whose blobs
 * are in layout/blobs/sha256/ (each checked against its digest). */
int ar_import_manifest_blobs(struct ar_importer *imp,
			     const struct ar_oci_manifest *om,
			     const char *layout, struct cr_error **err);
/* Records the tree as version name (index, manifest, ref) and commits. */
int ar_importer_commit(struct ar_importer *imp, const char *name,
		       struct cr_error **err);
/* docker://HOST/REPO:TAG (registry.c). */
int ar_import_registry(struct ar_importer *imp, const char *ref,
		       struct cr_error **err);

#endif
