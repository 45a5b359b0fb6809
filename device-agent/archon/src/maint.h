/*
 * The inspection and maintenance commands of the archon CLI (maint.c).
 * Each prints to out and returns 0, or -1 with *err.
 */
#ifndef AR_MAINT_H
#define AR_MAINT_H

#include <stdio.h>

#include "store-internal.h"

int ar_cmd_ls(struct ar_store *st, FILE *out, struct cr_error **err);
/* Describes a version: text for people, or with json one JSON object
 * (the OCI config under "config", null when the version has none). */
int ar_cmd_show(struct ar_store *st, const char *name, int json, FILE *out,
		struct cr_error **err);
/* Prints the version's OCI image config verbatim; 1 (nothing printed)
 * when it has none, -1 with *err when there is no such version. */
int ar_cmd_config(struct ar_store *st, const char *name, FILE *out,
		  struct cr_error **err);
int ar_cmd_du(struct ar_store *st, FILE *out, struct cr_error **err);
/* Drops all but the newest keep versions of each repository (keep 0: keeps
 * all), then removes file objects, chunk records and indexes no version
 * needs. */
int ar_cmd_gc(struct ar_store *st, unsigned keep, FILE *out,
	      struct cr_error **err);
/* Re-hashes every object and chunk; -1 when anything is wrong. */
int ar_cmd_verify(struct ar_store *st, FILE *out, struct cr_error **err);
/* What a device holding a downloads to get b. */
int ar_cmd_diff(struct ar_store *st, const char *a, const char *b, FILE *out,
		struct cr_error **err);

#endif
