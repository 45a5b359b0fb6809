/*
 * Content-addressed linking (docs/linking.md): `archon link` stores an
 * application's executables and the exact libraries they were built with
 * as one Archon version, each file named by its content hash, and rewrites
 * the executables so the loader opens those files by path; `archon run`
 * checks them and executes one.
 *
 * A linked version's tree is:
 *   link.json     the link manifest (app, machine, prefix, interpreter,
 *                 executables, libraries, declared dlopen names)
 *   link.sig      the publisher's signature of link.json (with --key)
 *   o/<hex>       every executable and library, mode 0555, <hex> the
 *                 BLAKE2b-256 of its bytes (the store's content id)
 * The store exposes the objects as STORE/cal/<hex> (hard links to its
 * file objects: one inode per content), which is the prefix the
 * executables name unless linked with another.
 */
#ifndef AR_CAL_H
#define AR_CAL_H

#include <stdio.h>

#include "ar/store.h"

struct ar_link_opts {
	const char *name;    /* REPO:TAG of the version written */
	const char *sysroot; /* the target's root (NULL: /) */
	const char *prefix;  /* where the objects are on the target (NULL:
				STORE/cal) */
	char **libdirs;	     /* searched first, like LD_LIBRARY_PATH */
	size_t nlibdirs;
	char **dlopen;	     /* names the program dlopen()s */
	size_t ndlopen;
	const char *key;     /* signs link.json (NULL: unsigned) */
	int compat;	     /* store the executables unchanged */
	int force;	     /* replace an existing NAME */
};

/* Links bins[0..n) into version o->name of st (open for writing). */
int ar_link(struct ar_store *st, char **bins, size_t n,
	    const struct ar_link_opts *o, FILE *out, struct cr_error **err);

struct ar_run_opts {
	const char *publisher_key; /* link.sig must be by this key */
	const char *exe;	   /* which executable (NULL: the first) */
	int no_verify;		   /* trust the objects (no re-hash) */
};

/* What `archon run` executes: path and argv (caller frees with
 * ar_run_plan_free). */
struct ar_run_plan {
	char *path;
	char **argv;
	size_t argc;
};

/*
 * Makes version name runnable (the STORE/cal links), checks it and
 * builds the exec plan for args[0..nargs).  When the version is missing
 * and the store has an origin, pull is called first.  On a store open for
 * reading, a version that is missing or not made runnable yet fails with
 * EAGAIN: the caller opens the store for writing and calls again.
 */
int ar_run_prepare(struct ar_store *st, const char *name,
		   const struct ar_run_opts *o, char **args, size_t nargs,
		   struct ar_run_plan *plan, struct cr_error **err);
void ar_run_plan_free(struct ar_run_plan *p);

/* Creates STORE/cal/<hex> for every o/ object of version name (and its
 * library folders).  -1 with *err when an object is missing.  On a store
 * open for reading it only checks they are there (EAGAIN when not). */
int ar_cal_materialize(struct ar_store *st, const char *name,
		       struct cr_error **err);

/* Removes the STORE/cal entries whose object the store no longer holds
 * (after a gc). */
void ar_cal_sweep(struct ar_store *st);

#endif
