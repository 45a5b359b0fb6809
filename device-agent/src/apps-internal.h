/*
 * What the parts of the app manager share (apps.c: the loop and the
 * journal steps; appjob.c: the blocking jobs its worker process runs;
 * probe.c: health probes).
 */
#ifndef DA_APPS_INTERNAL_H
#define DA_APPS_INTERNAL_H

#include <event2/event.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "cr/appconfig.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "da/journal.h"

enum {
	DA_LOG_MAX = 256 * 1024, /* an app's log is rotated past this */
	DA_STOP_GRACE_MS = 2000, /* SIGTERM, then SIGKILL */
};

/* Where a config's files are, inside the app's container. */
#define DA_CONFIG_DIR "run/korhal/config"

/* Where an app's things are. */
struct da_paths {
	char data[PATH_MAX];   /* DATA */
	char store[PATH_MAX];  /* the Archon store */
	char bolter[PATH_MAX]; /* bolter's --root: DATA/bolter */
	char ring[PATH_MAX];   /* the ring: pulls use its shard caches */
	char ring_saved[PATH_MAX]; /* a newer epoch the agent saved, if any */
	const char *cgroup_parent;
	uint64_t reserve_bytes;
	/* Peers: the device key, its fleet credential ("" : no peers), the
	 * carrier program (ar_pull_opts' key, credential, carrier). */
	char key[PATH_MAX];
	char credential[PATH_MAX];
	char carrier[PATH_MAX];
};

enum da_job_kind {
	DA_JOB_FETCH, /* pull the release's image, check the pinned ids */
	DA_JOB_STAGE, /* check out, write config.json */
	DA_JOB_RUN,   /* stop every container of the app, verify, start */
	DA_JOB_STOP,  /* stop every container of the app */
	DA_JOB_RELOAD, /* rewrite the config's files in the running
			* container, send it the release's reload signal */
	DA_JOB_EVICT, /* remove versions no longer kept, gc the store */
};

struct da_job {
	enum da_job_kind kind;
	char app[DA_NAME_MAX];
	char version[DA_NAME_MAX];
	char image[DA_IMAGE_MAX];
	const struct cr_release *rel; /* FETCH, STAGE */
	/* STAGE, RUN: the config in effect (NULL: none): its values join
	 * the release's environment, its files are written to
	 * DA_CONFIG_DIR in the container. */
	const struct cr_appcfg *cfg;
	int signal; /* RELOAD: the release's reload signal */
	/* EVICT: version folders to remove, and images to drop from the
	 * store (those no kept version of any app names). */
	char evict[DA_KEEP_MAX + 2][DA_NAME_MAX];
	size_t n_evict;
	char drop[DA_KEEP_MAX + 2][DA_IMAGE_MAX];
	size_t n_drop;
};

/* Runs in the worker process; 0 or -1 with *err. */
int da_job_run(const struct da_paths *p, const struct da_job *j,
	       struct cr_error **err);

/* The container id of a version: APP+VERSION (an app name has no '+',
 * so the first '+' splits it). */
void da_container_id(const char *app, const char *version, char *out,
		     size_t cap);
/* DATA/apps/APP[/versions/VERSION] */
void da_app_dir(const struct da_paths *p, const char *app,
		const char *version, char *out, size_t cap);
/* DATA/apps/APP/SUB */
void da_app_path(const struct da_paths *p, const char *app, const char *sub,
		 char *out, size_t cap);
/* The pid and start time of the version's container process, when it
 * runs; 0 otherwise. */
int da_container_pid(const struct da_paths *p, const char *app,
		     const char *version, pid_t *pid, uint64_t *start);
/* The versions of app that have a container (any state) in bolter's
 * state; *out NULL-terminated, caller frees each and the array. */
char **da_app_containers(const struct da_paths *p, const char *app);

/* A health probe in the loop (probe.c). */
struct da_probe;
typedef void (*da_probe_fn)(void *arg, int ok, const char *why);
/* Starts one probe; fn is called once, from the loop, within timeout_ms
 * (plus a tick).  exec probes run `sh -c CMD` in the container id. */
struct da_probe *da_probe_start(struct event_base *base,
				const struct cr_health *h,
				const struct da_paths *p, const char *id,
				uint64_t timeout_ms, da_probe_fn fn, void *arg);
/* Cancels (fn is not called). */
void da_probe_cancel(struct da_probe *pr);

#endif
