/*
 * What bolter remembers about a container between commands: one folder per
 * container under the --root directory, holding state.json (this record),
 * config.json (the bundle's config as it was at create, for exec and the
 * poststop hooks) and, while the container is "created", exec.fifo.  The
 * status is never stored: it is derived from the process (alive and the
 * same start time) and the fifo.
 */
#ifndef BO_STATE_H
#define BO_STATE_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "cr/error.h"

struct bo_state {
	char *id;
	pid_t pid;
	uint64_t start_time; /* /proc/PID/stat field 22, guards pid reuse */
	char *bundle;
	char *rootfs;
	char *created; /* RFC 3339 */
	char **cgroup_dirs; /* NULL-terminated, may be NULL */
	json_object *annotations; /* owned, may be NULL */
	uid_t owner;
	int has_pidns; /* the container has its own pid namespace */
	/* 1 << BO_HOOK_x for each kind of hook config.json has, so that
	 * start and delete parse the saved config.json only to run hooks it
	 * has; -1 when unknown (a state file written before the field). */
	int hooks;
};

/* Container ids: 1-1024 of [A-Za-z0-9_+.-], not starting with '.'. */
int bo_state_check_id(const char *id, struct cr_error **err);

/* Writes a runtime file atomically (temporary name, then rename) but
 * without fsync: the state lives in /run, which does not outlive a reboot,
 * and nothing in it is worth a disk flush on every container start. */
int bo_write_file(const char *path, const void *data, size_t len, unsigned mode,
		  struct cr_error **err);

/* dir gets ROOT/ID (sized PATH_MAX). */
void bo_state_dir(const char *root, const char *id, char *dir, size_t size);

int bo_state_save(const char *root, const struct bo_state *st,
		  struct cr_error **err);
struct bo_state *bo_state_load(const char *root, const char *id,
			       struct cr_error **err);
struct bo_state *bo_state_free(struct bo_state *st);

/* "created", "running", "paused" or "stopped". */
const char *bo_state_status(const char *root, const struct bo_state *st);

/* 1 when pid is alive (not a zombie) and started at start_time. */
int bo_process_alive(pid_t pid, uint64_t start_time);
/* Field 22 of /proc/PID/stat, or 0. */
uint64_t bo_process_start_time(pid_t pid);

/* The state as the OCI runtime spec defines it (runtime.md "State");
 * caller frees with json_object_put(). */
json_object *bo_state_oci(const struct bo_state *st, const char *status);

/* The ids under root, sorted; NULL-terminated, caller frees each. */
char **bo_state_list(const char *root, struct cr_error **err);

#endif
