/*
 * Checkpoint and restore through CRIU's command line (`criu dump` and
 * `criu restore`), with runc's options.  The CLI rather than libcriu or
 * its RPC: nothing more to link or vendor (bo_runtime stays on cr_base,
 * json-c and libseccomp), criu stays optional on a device and is looked up
 * only when asked for, and its exact command line is in the log to rerun.
 */
#ifndef BO_CHECKPOINT_H
#define BO_CHECKPOINT_H

#include <stddef.h>

#include "bo/container.h"
#include "bo/spec.h"
#include "cr/error.h"

struct bo_criu_opts {
	const char *image_path;  /* --image-path (required) */
	const char *work_path;   /* --work-path, default image_path */
	const char *parent_path; /* --parent-path (checkpoint) */
	const char *cgroups_mode; /* --manage-cgroups-mode, default "soft" */
	int leave_running;       /* --leave-running (checkpoint) */
	int tcp_established;     /* --tcp-established */
	int ext_unix_sk;         /* --ext-unix-sk */
	int shell_job;           /* --shell-job */
	int file_locks;          /* --file-locks */
};

/* 1 when `criu check` passes on this kernel; else 0 and why gets the
 * reason (criu missing, or its first error line). */
int bo_criu_usable(char *why, size_t size);

/* Dumps container id's process tree into image_path; unless
 * leave_running, the container is stopped and deleted, as runc does. */
int bo_checkpoint(const struct bo_opts *o, const char *id,
		  const struct bo_criu_opts *c, struct cr_error **err);

/* Creates container id from the bundle (o->bundle) with the processes of
 * the images in image_path; waits for it unless o->detach, as `run`. */
int bo_restore(const struct bo_opts *o, const char *id,
	       const struct bo_criu_opts *c, int *status,
	       struct cr_error **err);

/* Internal (checkpoint.c, used by container.c's restore): runs criu with
 * the options common to dump and restore for spec s, plus extra; verb is
 * "dump" or "restore". */
int bo_criu_run(const char *verb, const struct bo_criu_opts *c,
		const struct bo_spec *s, const char *root,
		const char *const *extra, struct cr_error **err);

#endif
