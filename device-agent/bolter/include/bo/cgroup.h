/*
 * Control groups on every host layout: v1 (one hierarchy per controller),
 * v2 (unified) and hybrid (v1 controllers plus a v2 hierarchy at
 * /sys/fs/cgroup/unified).  A container gets one directory in every mounted
 * hierarchy; each resource is written to the hierarchy that holds its
 * controller.  An absolute cgroupsPath starts at each hierarchy's root, a
 * relative one at the runtime's own cgroup there (so a runtime confined in
 * a cgroup keeps its containers inside it).
 */
#ifndef BO_CGROUP_H
#define BO_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "bo/spec.h"
#include "cr/error.h"

enum bo_cgroup_mode {
	BO_CGROUP_NONE,
	BO_CGROUP_V1,
	BO_CGROUP_V2,
	BO_CGROUP_HYBRID,
};

/* Looks at /proc/self/mountinfo. */
enum bo_cgroup_mode bo_cgroup_detect(void);
const char *bo_cgroup_mode_name(enum bo_cgroup_mode m);

/*
 * Creates the container's directories for cgroups_path in every hierarchy,
 * applies the resources, and moves pid in.  On success *dirs is a
 * NULL-terminated vector of the absolute directories (the caller owns it and
 * its strings; bo_cgroup_dirs_free()).  On failure whatever was created is
 * removed again.
 */
int bo_cgroup_create(const char *cgroups_path, const struct bo_resources *r,
		     pid_t pid, char ***dirs, struct cr_error **err);

/* Writes the limits of r (memory, pids, cpu, cpuset; not device rules)
 * into a container's existing directories: `update`. */
int bo_cgroup_update(char *const *dirs, const struct bo_resources *r,
		     struct cr_error **err);

/* Moves pid into every directory of dirs (exec joins this way). */
int bo_cgroup_join(char *const *dirs, pid_t pid, struct cr_error **err);

/* The pids in the container's cgroup; *pids is the caller's to free. */
int bo_cgroup_pids(char *const *dirs, pid_t **pids, size_t *n,
		   struct cr_error **err);

/* What `events` reports of a container's cgroups (runc's stats names). */
struct bo_cgroup_stats {
	int has_cpu, has_memory, has_pids;
	uint64_t cpu_total_ns, cpu_user_ns, cpu_kernel_ns;
	uint64_t mem_usage, mem_max_usage, mem_limit, mem_failcnt;
	uint64_t pids_current, pids_limit; /* limit 0: none */
	uint64_t oom_kills;
};

/* Reads the statistics from whichever hierarchies hold them (v1 first,
 * then v2's core files); a missing file leaves its group unset. */
void bo_cgroup_stats(char *const *dirs, struct bo_cgroup_stats *s);

/* Removes the directories (the processes must be gone); waits briefly for
 * the kernel to release a cgroup whose last task just died. */
int bo_cgroup_destroy(char *const *dirs, struct cr_error **err);

void bo_cgroup_dirs_free(char **dirs);

/* Freezes (freeze = 1) or thaws the container's processes: the v1 freezer
 * where it is mounted, else v2's cgroup.freeze.  Waits until the kernel
 * reports the new state. */
int bo_cgroup_freeze(char *const *dirs, int freeze, struct cr_error **err);

/* 1 when the container's cgroup is frozen. */
int bo_cgroup_frozen(char *const *dirs);

/* The mount point of the hierarchy that holds dir, into out; -1 if none. */
int bo_cgroup_mountpoint(const char *dir, char *out, size_t size);

/* The same for each of the NULL-terminated dirs, into out + i * size ("" if
 * none), from one read of mountinfo rather than one per hierarchy. */
void bo_cgroup_mountpoints(char *const *dirs, char *out, size_t size);

/* Turns a systemd-style "slice:prefix:name" into a cgroupfs path
 * ("slice/prefix-name.scope"); other values are copied.  Caller frees. */
char *bo_cgroup_path_from_systemd(const char *path);

#endif
