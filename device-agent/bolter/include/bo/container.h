/*
 * The runtime's operations, one function per runc command.  Each takes the
 * global and per-command options in struct bo_opts and returns 0 or -1 with
 * *err set; run and exec return the container process's exit status
 * through *status.  The library never prints: what it reports without
 * failing (poststart and poststop hook failures, which config.md says are
 * logged, not fatal) goes to the caller's warn callback.
 */
#ifndef BO_CONTAINER_H
#define BO_CONTAINER_H

#include "bo/cgroup.h"
#include "bo/spec.h"
#include "cr/error.h"

struct bo_opts {
	const char *root;           /* state directory (--root) */
	const char *bundle;         /* --bundle, default "." */
	const char *config;         /* --config, default BUNDLE/config.json */
	const char *pid_file;       /* --pid-file */
	const char *console_socket; /* --console-socket */
	int detach;                 /* --detach */
	int preserve_fds;           /* --preserve-fds */
	/* Socket activation (create, run): fds 3 to 3 + listen_fds - 1 are
	 * passed on as well (before the --preserve-fds ones), with
	 * LISTEN_FDS and LISTEN_PID=1 in the process's environment, as runc
	 * and crun do when they find LISTEN_FDS in theirs. */
	int listen_fds;
	int no_pivot;               /* --no-pivot */
	int systemd_cgroup;         /* --systemd-cgroup */
	int force;                  /* delete --force */
	int all;                    /* kill --all */
	int keep;                   /* run --keep */
	/* run: called by create, once config.json is read, only when the
	 * process wants a terminal and no console socket was given: makes
	 * one and sets *path to it.  A `run` of a process without a
	 * terminal so makes no socket at all. */
	int (*console_proxy)(void *arg, const char **path,
			     struct cr_error **err);
	void *console_proxy_arg;
	/* Called with each warning; NULL: warnings are dropped. */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

int bo_create(const struct bo_opts *o, const char *id, struct cr_error **err);
int bo_start(const struct bo_opts *o, const char *id, struct cr_error **err);
/* The OCI state JSON (pretty-printed) into *json, which the caller frees. */
int bo_state(const struct bo_opts *o, const char *id, char **json,
	     struct cr_error **err);
int bo_kill(const struct bo_opts *o, const char *id, int sig,
	    struct cr_error **err);
int bo_delete(const struct bo_opts *o, const char *id, struct cr_error **err);
/* create + start; without --detach waits, forwarding signals, then deletes
 * the container and sets *status to the shell-style exit status. */
int bo_run(const struct bo_opts *o, const char *id, int *status,
	   struct cr_error **err);
/* Runs proc in the container's namespaces and cgroup; waits unless
 * --detach. */
int bo_exec(const struct bo_opts *o, const char *id, struct bo_process *proc,
	    int *status, struct cr_error **err);
/* The config.json a container was created with (for exec's defaults). */
struct bo_spec *bo_container_spec(const struct bo_opts *o, const char *id,
				  struct cr_error **err);
/* Freezes (pause) or thaws (resume) a running container. */
int bo_pause(const struct bo_opts *o, const char *id, int pause,
	     struct cr_error **err);
/* Changes the limits of a created, running or paused container. */
int bo_update(const struct bo_opts *o, const char *id,
	      const struct bo_resources *r, struct cr_error **err);
/* The container's cgroup statistics, and whether it has stopped. */
int bo_stats(const struct bo_opts *o, const char *id,
	     struct bo_cgroup_stats *stats, int *stopped,
	     struct cr_error **err);
/* The pids of the container's processes. */
int bo_pids(const struct bo_opts *o, const char *id, int **pids, size_t *n,
	    struct cr_error **err);

/* Parses "KILL", "SIGKILL" or "9"; -1 if unknown. */
int bo_signal_parse(const char *s);

#endif
