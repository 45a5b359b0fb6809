/*
 * The OCI runtime spec's config.json, parsed and validated into plain C
 * records (config.md, config-linux.md).  Parsing is a pure function of the
 * document: every field bolter acts on is type-checked here, so a bad
 * config.json fails before anything is created, with an error naming the
 * field ("config.json: process.args[1]: must be a string").  Unknown
 * properties are ignored as the spec requires; known properties whose value
 * bolter cannot honour are errors.
 */
#ifndef BO_SPEC_H
#define BO_SPEC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cr/error.h"

/* Upper bound on config.json, checked before parsing. */
enum { BO_SPEC_MAX_BYTES = 4 << 20 };

enum bo_hook_kind {
	BO_HOOK_PRESTART,
	BO_HOOK_CREATE_RUNTIME,
	BO_HOOK_CREATE_CONTAINER,
	BO_HOOK_START_CONTAINER,
	BO_HOOK_POSTSTART,
	BO_HOOK_POSTSTOP,
	BO_HOOK_KINDS,
};

struct bo_hook {
	char *path;
	char **args; /* NULL-terminated; may be NULL */
	char **env;  /* NULL-terminated; may be NULL */
	int timeout; /* seconds, 0 = none */
};

struct bo_idmap {
	uint32_t container_id, host_id, size;
};

struct bo_mount {
	char *destination;
	char *type;   /* may be NULL */
	char *source; /* may be NULL */
	unsigned long flags;       /* MS_* except propagation */
	unsigned long clear_flags; /* "rw", "suid"... asked explicitly */
	unsigned long propagation; /* MS_SHARED/MS_SLAVE/... | MS_REC */
	char *data;                /* options the kernel parses, or NULL */
	int bind;                  /* 1 bind, 2 rbind */
	/* The recursive options ("rro", "rnosuid"...): MOUNT_ATTR_* to set
	 * and clear on the whole tree with mount_setattr(AT_RECURSIVE). */
	uint64_t rec_set, rec_clr;
	/* An idmapped bind mount ("idmap" 1, "ridmap" 2: recursive), with
	 * the mount's own uidMappings/gidMappings, or none: the container's
	 * user namespace. */
	int idmap;
	int tmpcopyup; /* a tmpfs filled with what the image has there */
	struct bo_idmap *uid_map, *gid_map;
	size_t n_uid_map, n_gid_map;
};

struct bo_namespace {
	int type;   /* CLONE_NEW* */
	char *path; /* join this one, or NULL for a new one */
};

struct bo_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct bo_device {
	char *path;
	char type; /* 'c', 'b', 'u', 'p' */
	int64_t major, minor;
	uint32_t mode;
	int has_mode;
	uint32_t uid, gid;
	int has_uid, has_gid;
};

struct bo_devrule {
	int allow;
	char type; /* 'a', 'c', 'b' */
	int64_t major, minor; /* -1 = any */
	char access[4];
};

/* linux.resources.hugepageLimits[]: page_size as the kernel names it in
 * the hugetlb controller's files ("2MB", "1GB"). */
struct bo_hugepage {
	char page_size[16];
	uint64_t limit;
};

struct bo_kv {
	char *key, *value;
};

enum bo_cap_set {
	BO_CAP_BOUNDING,
	BO_CAP_EFFECTIVE,
	BO_CAP_PERMITTED,
	BO_CAP_INHERITABLE,
	BO_CAP_AMBIENT,
	BO_CAP_SETS,
};

/* process.scheduler, as sched_setattr(2) takes it. */
struct bo_sched {
	uint32_t policy; /* SCHED_* */
	int32_t nice;
	uint32_t priority;
	uint64_t flags; /* SCHED_FLAG_* */
	uint64_t runtime, deadline, period;
};

struct bo_process {
	int terminal;
	unsigned console_height, console_width;
	uint32_t uid, gid;
	uint32_t *gids;
	size_t n_gids;
	int has_umask;
	uint32_t umask;
	char **args; /* NULL-terminated, at least one */
	char **env;  /* NULL-terminated; may be empty */
	char *cwd;
	int has_caps;
	uint64_t caps[BO_CAP_SETS];
	int no_new_privileges;
	struct bo_rlimit *rlimits;
	size_t n_rlimits;
	int has_oom_score_adj;
	int oom_score_adj;
	/* process.ioPriority: ioprio_set(2)'s value (class << 13 | level),
	 * 0 when not given. */
	int ioprio;
	int has_sched;
	struct bo_sched sched;
	/* process.execCPUAffinity (exec only): CPU lists, NULL when not
	 * given; checked to parse (bo_cpulist_parse). */
	char *cpu_initial, *cpu_final;
};

/* One device's line of linux.resources.blockIO. */
struct bo_blkio_dev {
	int64_t major, minor;
	uint16_t weight, leaf_weight; /* 0 unset */
	uint64_t rate;                /* throttle lists */
};

enum bo_throttle {
	BO_THROTTLE_READ_BPS,
	BO_THROTTLE_WRITE_BPS,
	BO_THROTTLE_READ_IOPS,
	BO_THROTTLE_WRITE_IOPS,
	BO_THROTTLES,
};

/* linux.resources.rdma.DEVICE; -1 unset. */
struct bo_rdma {
	char *device;
	int64_t hca_handles, hca_objects;
};

struct bo_resources {
	int64_t memory_limit, memory_reservation, memory_swap; /* -1 unset */
	int64_t pids_limit;                                    /* 0 unset */
	uint64_t cpu_shares;                                   /* 0 unset */
	int64_t cpu_quota;                                     /* 0 unset */
	uint64_t cpu_period;                                   /* 0 unset */
	char *cpus, *mems;
	struct bo_devrule *devrules;
	size_t n_devrules;
	struct bo_hugepage *hugepages;
	size_t n_hugepages;
	struct bo_kv *unified; /* cgroup v2 file name -> value */
	size_t n_unified;
	int has_swappiness;
	uint64_t swappiness;    /* memory.swappiness, 0..100 */
	int disable_oom_killer; /* memory.disableOOMKiller true */
	int has_rt_runtime;
	int64_t rt_runtime;     /* cpu.realtimeRuntime, -1 unlimited */
	uint64_t rt_period;     /* 0 unset */
	uint16_t blkio_weight, blkio_leaf_weight; /* 0 unset */
	struct bo_blkio_dev *weight_devices;
	size_t n_weight_devices;
	struct bo_blkio_dev *throttle[BO_THROTTLES];
	size_t n_throttle[BO_THROTTLES];
	int has_classid;
	uint32_t net_classid;
	struct bo_kv *net_priorities; /* interface -> priority (digits) */
	size_t n_net_priorities;
	struct bo_rdma *rdma;
	size_t n_rdma;
	int has_cpu_burst, has_cpu_idle;
	uint64_t cpu_burst; /* cpu.burst, microseconds */
	int64_t cpu_idle;   /* cpu.idle, 0 or 1 */
	int has_use_hierarchy, use_hierarchy; /* memory.useHierarchy */
	int check_before_update;              /* memory.checkBeforeUpdate */
	int has_kernel_tcp;
	int64_t kernel_tcp; /* memory.kernelTCP, -1 unlimited */
};

/* The JSON names of blockIO's throttle lists, by enum bo_throttle. */
extern const char *const bo_throttle_names[BO_THROTTLES];

struct bo_spec {
	char *oci_version;
	char *root_path; /* as written; relative to the bundle when relative */
	int root_readonly;
	char *hostname, *domainname;
	struct bo_process process;
	int has_process;
	struct bo_mount *mounts;
	size_t n_mounts;
	struct bo_hook *hooks[BO_HOOK_KINDS];
	size_t n_hooks[BO_HOOK_KINDS];
	struct bo_namespace *namespaces;
	size_t n_namespaces;
	struct bo_idmap *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
	struct bo_kv *sysctl;
	size_t n_sysctl;
	struct bo_resources resources;
	char *cgroups_path;
	struct bo_device *devices;
	size_t n_devices;
	char **masked_paths, **readonly_paths; /* NULL-terminated */
	unsigned long rootfs_propagation;      /* 0 = default (rslave) */
	/* linux.timeOffsets, for a new time namespace: clock offsets
	 * written to timens_offsets. */
	int has_time_offsets;
	int64_t monotonic_secs, boottime_secs;
	uint32_t monotonic_nsecs, boottime_nsecs;
	/* linux.personality: the persona (PER_LINUX, PER_LINUX32), or -1. */
	long personality;
	json_object *seccomp;     /* linux.seccomp, borrowed from doc */
	json_object *annotations; /* borrowed from doc, or NULL */
	/* annotations["run.oci.keep_original_groups"] == "1" (crun's, which
	 * podman's keep-groups sets): the process keeps the supplementary
	 * groups of whoever started the runtime. */
	int keep_original_groups;
	json_object *doc;         /* the parsed document, owned */
};

/* Parses config.json text (len bytes).  Returns a spec the caller frees with
 * bo_spec_free(), or NULL with *err naming the field at fault. */
struct bo_spec *bo_spec_parse(const char *text, size_t len,
			      struct cr_error **err);

/* Reads and parses a config.json file. */
struct bo_spec *bo_spec_load(const char *path, struct cr_error **err);

/* Parses the "process" object alone (for exec --process). */
int bo_spec_parse_process(json_object *obj, struct bo_process *out,
			  struct cr_error **err);
void bo_process_clear(struct bo_process *p);

/* Parses a LinuxResources object (linux.resources, or `update
 * --resources`); NULL leaves everything unset.  Free with
 * bo_resources_clear(). */
int bo_spec_parse_resources(json_object *obj, struct bo_resources *r,
			    struct cr_error **err);
void bo_resources_clear(struct bo_resources *r);

/* Returns 1 when the spec asks for a namespace of this CLONE_NEW* type. */
const struct bo_namespace *bo_spec_namespace(const struct bo_spec *s,
					     int type);

struct bo_spec *bo_spec_free(struct bo_spec *s);

/* Capability names ("CAP_SYS_ADMIN") to numbers and back; -1 / NULL when
 * unknown.  bo_cap_last() is the highest number bolter knows. */
int bo_cap_from_name(const char *name);
const char *bo_cap_name(int cap);
int bo_cap_last(void);

/* Parses a CPU list ("0-3,7") into set (a cpu_set_t, size bytes);
 * -1 when it is not one or names a CPU beyond the set. */
int bo_cpulist_parse(const char *list, void *set, size_t size);

/* Name tables the features command prints. */
extern const char *const bo_mount_option_names[];
const char *bo_namespace_name(int type);

#endif
