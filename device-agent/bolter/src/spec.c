/* config.json parsing and validation: see bo/spec.h. */
#include "bo/spec.h"
#include "bo/mountapi.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "cr/cleanup.h"
#include "cr/util.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

int bo_cap_last(void)
{
	return (int)(sizeof(cap_names) / sizeof(cap_names[0])) - 1;
}

int bo_cap_from_name(const char *name)
{
	for (int i = 0; i <= bo_cap_last(); i++)
		if (strcasecmp(name, cap_names[i]) == 0)
			return i;
	return -1;
}

const char *bo_cap_name(int cap)
{
	return cap >= 0 && cap <= bo_cap_last() ? cap_names[cap] : NULL;
}

static const struct {
	const char *name;
	int type;
} ns_names[] = {
	{ "pid", CLONE_NEWPID },	{ "network", CLONE_NEWNET },
	{ "mount", CLONE_NEWNS },	{ "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS },	{ "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP },	{ "time", CLONE_NEWTIME },
};

const char *bo_namespace_name(int type)
{
	for (size_t i = 0; i < sizeof(ns_names) / sizeof(ns_names[0]); i++)
		if (ns_names[i].type == type)
			return ns_names[i].name;
	return NULL;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_CORE", RLIMIT_CORE },
	{ "RLIMIT_CPU", RLIMIT_CPU },
	{ "RLIMIT_DATA", RLIMIT_DATA },
	{ "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },
	{ "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
	{ "RLIMIT_RTTIME", RLIMIT_RTTIME },
	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_STACK", RLIMIT_STACK },
};

/* Mount options: flags to set, flags to clear, propagation, binds, and
 * the recursive ones (mount_setattr's MOUNT_ATTR_* to set, to clear, or
 * an atime mode). */
enum {
	OPT_SET,
	OPT_CLEAR,
	OPT_PROP,
	OPT_BIND,
	OPT_RBIND,
	OPT_IGNORE,
	OPT_REC_SET,
	OPT_REC_CLEAR,
	OPT_REC_ATIME,
};
static const struct {
	const char *name;
	int kind;
	unsigned long flag;
} mount_opts[] = {
	{ "defaults", OPT_IGNORE, 0 },
	{ "ro", OPT_SET, MS_RDONLY },
	{ "rw", OPT_CLEAR, MS_RDONLY },
	{ "nosuid", OPT_SET, MS_NOSUID },
	{ "suid", OPT_CLEAR, MS_NOSUID },
	{ "nodev", OPT_SET, MS_NODEV },
	{ "dev", OPT_CLEAR, MS_NODEV },
	{ "noexec", OPT_SET, MS_NOEXEC },
	{ "exec", OPT_CLEAR, MS_NOEXEC },
	{ "sync", OPT_SET, MS_SYNCHRONOUS },
	{ "async", OPT_CLEAR, MS_SYNCHRONOUS },
	{ "dirsync", OPT_SET, MS_DIRSYNC },
	{ "remount", OPT_SET, MS_REMOUNT },
	{ "mand", OPT_SET, MS_MANDLOCK },
	{ "nomand", OPT_CLEAR, MS_MANDLOCK },
	{ "atime", OPT_CLEAR, MS_NOATIME },
	{ "noatime", OPT_SET, MS_NOATIME },
	{ "diratime", OPT_CLEAR, MS_NODIRATIME },
	{ "nodiratime", OPT_SET, MS_NODIRATIME },
	{ "relatime", OPT_SET, MS_RELATIME },
	{ "norelatime", OPT_CLEAR, MS_RELATIME },
	{ "strictatime", OPT_SET, MS_STRICTATIME },
	{ "nostrictatime", OPT_CLEAR, MS_STRICTATIME },
	{ "lazytime", OPT_SET, MS_LAZYTIME },
	{ "nolazytime", OPT_CLEAR, MS_LAZYTIME },
	{ "silent", OPT_SET, MS_SILENT },
	{ "loud", OPT_CLEAR, MS_SILENT },
	{ "bind", OPT_BIND, MS_BIND },
	{ "rbind", OPT_RBIND, MS_BIND | MS_REC },
	{ "private", OPT_PROP, MS_PRIVATE },
	{ "rprivate", OPT_PROP, MS_PRIVATE | MS_REC },
	{ "shared", OPT_PROP, MS_SHARED },
	{ "rshared", OPT_PROP, MS_SHARED | MS_REC },
	{ "slave", OPT_PROP, MS_SLAVE },
	{ "rslave", OPT_PROP, MS_SLAVE | MS_REC },
	{ "unbindable", OPT_PROP, MS_UNBINDABLE },
	{ "runbindable", OPT_PROP, MS_UNBINDABLE | MS_REC },
	{ "nosymfollow", OPT_SET, MS_NOSYMFOLLOW },
	{ "symfollow", OPT_CLEAR, MS_NOSYMFOLLOW },
	{ "rro", OPT_REC_SET, MOUNT_ATTR_RDONLY },
	{ "rrw", OPT_REC_CLEAR, MOUNT_ATTR_RDONLY },
	{ "rnosuid", OPT_REC_SET, MOUNT_ATTR_NOSUID },
	{ "rsuid", OPT_REC_CLEAR, MOUNT_ATTR_NOSUID },
	{ "rnodev", OPT_REC_SET, MOUNT_ATTR_NODEV },
	{ "rdev", OPT_REC_CLEAR, MOUNT_ATTR_NODEV },
	{ "rnoexec", OPT_REC_SET, MOUNT_ATTR_NOEXEC },
	{ "rexec", OPT_REC_CLEAR, MOUNT_ATTR_NOEXEC },
	{ "rnodiratime", OPT_REC_SET, MOUNT_ATTR_NODIRATIME },
	{ "rdiratime", OPT_REC_CLEAR, MOUNT_ATTR_NODIRATIME },
	{ "rnosymfollow", OPT_REC_SET, MOUNT_ATTR_NOSYMFOLLOW },
	{ "rsymfollow", OPT_REC_CLEAR, MOUNT_ATTR_NOSYMFOLLOW },
	/* atime is one mode of three: "ratime" and "rnostrictatime" are
	 * the kernel's default, relatime; "rnorelatime" is strictatime. */
	{ "rnoatime", OPT_REC_ATIME, MOUNT_ATTR_NOATIME },
	{ "rrelatime", OPT_REC_ATIME, MOUNT_ATTR_RELATIME },
	{ "rstrictatime", OPT_REC_ATIME, MOUNT_ATTR_STRICTATIME },
	{ "ratime", OPT_REC_ATIME, MOUNT_ATTR_RELATIME },
	{ "rnostrictatime", OPT_REC_ATIME, MOUNT_ATTR_RELATIME },
	{ "rnorelatime", OPT_REC_ATIME, MOUNT_ATTR_STRICTATIME },
};

const char *const bo_mount_option_names[] = {
	"defaults", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec",
	"exec", "sync", "async", "dirsync", "remount", "mand", "nomand",
	"atime", "noatime", "diratime", "nodiratime", "relatime",
	"norelatime", "strictatime", "nostrictatime", "lazytime",
	"nolazytime", "silent", "loud", "bind", "rbind", "private",
	"rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
	"runbindable", "nosymfollow", "symfollow", "rro", "rrw", "rnosuid",
	"rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime",
	"rdiratime", "rnosymfollow", "rsymfollow", "rnoatime", "rrelatime",
	"rstrictatime", "ratime", "rnostrictatime", "rnorelatime", "idmap",
	"ridmap", "tmpcopyup", NULL,
};

/* --- typed getters; `path` names the field in errors ------------------- */

static int bad(struct cr_error **err, const char *path, const char *what)
{
	return cr_error_set(err, EINVAL, "config.json: %s: %s", path, what);
}

static json_object *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v; /* JSON null counts as absent */
}

static int get_obj(json_object *o, const char *key, const char *path,
		   json_object **out, struct cr_error **err)
{
	json_object *v = field(o, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return bad(err, path, "must be an object");
	*out = v;
	return 0;
}

static int get_arr(json_object *o, const char *key, const char *path,
		   json_object **out, struct cr_error **err)
{
	json_object *v = field(o, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return bad(err, path, "must be an array");
	*out = v;
	return 0;
}

static int get_str(json_object *o, const char *key, const char *path,
		   char **out, struct cr_error **err)
{
	json_object *v = field(o, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return bad(err, path, "must be a string");
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return bad(err, path, "contains a NUL byte");
	*out = strdup(json_object_get_string(v));
	if (*out == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	return 0;
}

static int get_bool(json_object *o, const char *key, const char *path,
		    int *out, struct cr_error **err)
{
	json_object *v = field(o, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return bad(err, path, "must be true or false");
	*out = json_object_get_boolean(v) ? 1 : 0;
	return 0;
}

/* Integers in [min, max]; doubles are refused (no floats on devices). */
static int int_value(json_object *v, const char *path, int64_t min,
		     int64_t max, int64_t *out, struct cr_error **err)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int))
		return bad(err, path, "must be an integer");
	errno = 0;
	x = json_object_get_int64(v);
	if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return bad(err, path, "out of range");
	if (x < min || x > max)
		return bad(err, path, "out of range");
	*out = x;
	return 0;
}

static int get_int(json_object *o, const char *key, const char *path,
		   int64_t min, int64_t max, int64_t *out, int *present,
		   struct cr_error **err)
{
	json_object *v = field(o, key);

	if (present != NULL)
		*present = v != NULL;
	if (v == NULL)
		return 0;
	return int_value(v, path, min, max, out, err);
}

/* Unsigned 64-bit values (rlimits use UINT64_MAX for "unlimited"). */
static int get_u64(json_object *o, const char *key, const char *path,
		   uint64_t *out, int *present, struct cr_error **err)
{
	json_object *v = field(o, key);

	if (present != NULL)
		*present = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return bad(err, path, "must be an integer");
	if (json_object_get_int64(v) < 0)
		return bad(err, path, "must not be negative");
	*out = json_object_get_uint64(v);
	return 0;
}

static int get_u32(json_object *o, const char *key, const char *path,
		   uint32_t *out, int *present, struct cr_error **err)
{
	int64_t x = 0;

	if (get_int(o, key, path, 0, UINT32_MAX, &x, present, err) < 0)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* An array of strings as a NULL-terminated vector (empty if absent). */
static int get_strv(json_object *o, const char *key, const char *path,
		    char ***out, struct cr_error **err)
{
	json_object *a;
	size_t n;
	char **v;
	char sub[256];

	*out = NULL;
	if (get_arr(o, key, path, &a, err) < 0)
		return -1;
	n = a != NULL ? json_object_array_length(a) : 0;
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (e == NULL || !json_object_is_type(e, json_type_string) ||
		    strlen(json_object_get_string(e)) !=
			    (size_t)json_object_get_string_len(e)) {
			strv_free(v);
			return bad(err, sub, "must be a string");
		}
		v[i] = strdup(json_object_get_string(e));
		if (v[i] == NULL) {
			strv_free(v);
			return cr_error_errno(err, ENOMEM, "config.json");
		}
	}
	*out = v;
	return 0;
}

/* --- process ------------------------------------------------------------ */

static int parse_caps(json_object *caps, struct bo_process *p,
		      struct cr_error **err)
{
	static const char *const sets[BO_CAP_SETS] = {
		"bounding", "effective", "permitted", "inheritable", "ambient",
	};
	char path[96];

	p->has_caps = caps != NULL;
	for (int s = 0; s < BO_CAP_SETS; s++) {
		json_object *a;

		snprintf(path, sizeof(path), "process.capabilities.%s", sets[s]);
		if (get_arr(caps, sets[s], path, &a, err) < 0)
			return -1;
		for (size_t i = 0; a != NULL && i < json_object_array_length(a);
		     i++) {
			json_object *e = json_object_array_get_idx(a, i);
			int c;

			snprintf(path, sizeof(path),
				 "process.capabilities.%s[%zu]", sets[s], i);
			if (e == NULL || !json_object_is_type(e, json_type_string))
				return bad(err, path, "must be a string");
			c = bo_cap_from_name(json_object_get_string(e));
			/* A name this build does not know (a newer kernel's,
			 * or a typo) is skipped, as runc and crun do: a
			 * config written for another kernel still runs. */
			if (c >= 0)
				p->caps[s] |= 1ULL << c;
		}
	}
	return 0;
}

static int parse_rlimits(json_object *a, struct bo_process *p,
			 struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[96];

	if (n == 0)
		return 0;
	p->rlimits = calloc(n, sizeof(*p->rlimits));
	if (p->rlimits == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_rlimit *r = &p->rlimits[i];
		CR_CLEANUP_FREE char *type = NULL;
		int found = 0, has_soft, has_hard;

		snprintf(path, sizeof(path), "process.rlimits[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		snprintf(path, sizeof(path), "process.rlimits[%zu].type", i);
		if (get_str(e, "type", path, &type, err) < 0)
			return -1;
		if (type == NULL)
			return bad(err, path, "missing");
		for (size_t k = 0;
		     k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
			if (strcmp(type, rlimit_names[k].name) == 0) {
				r->resource = rlimit_names[k].resource;
				found = 1;
			}
		if (!found)
			return cr_error_set(err, EINVAL,
					    "config.json: %s: unknown rlimit "
					    "'%s'",
					    path, type);
		for (size_t k = 0; k < i; k++)
			if (p->rlimits[k].resource == r->resource)
				return cr_error_set(err, EINVAL,
						    "config.json: %s: '%s' "
						    "given twice",
						    path, type);
		snprintf(path, sizeof(path), "process.rlimits[%zu].soft", i);
		if (get_u64(e, "soft", path, &r->soft, &has_soft, err) < 0)
			return -1;
		snprintf(path, sizeof(path), "process.rlimits[%zu].hard", i);
		if (get_u64(e, "hard", path, &r->hard, &has_hard, err) < 0)
			return -1;
		if (!has_soft || !has_hard)
			return bad(err, path, "soft and hard are required");
		p->n_rlimits++;
	}
	return 0;
}

/* ioPriority: class and level, as ioprio_set(2) packs them. */
static int parse_ioprio(json_object *o, struct bo_process *p,
			struct cr_error **err)
{
	static const char *const classes[] = {
		"IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE",
	};
	CR_CLEANUP_FREE char *cls = NULL;
	int64_t level = 0;
	int has, c = 0;

	if (o == NULL)
		return 0;
	if (get_str(o, "class", "process.ioPriority.class", &cls, err) < 0)
		return -1;
	for (int i = 0; cls != NULL && i < 3; i++)
		if (strcmp(cls, classes[i]) == 0)
			c = i + 1; /* IOPRIO_CLASS_RT is 1 */
	if (c == 0)
		return bad(err, "process.ioPriority.class",
			   "must be IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or "
			   "IOPRIO_CLASS_IDLE");
	if (get_int(o, "priority", "process.ioPriority.priority", 0, 7, &level,
		    &has, err) < 0)
		return -1;
	if (!has)
		return bad(err, "process.ioPriority.priority", "missing");
	p->ioprio = c << 13 | (int)level;
	return 0;
}

/* scheduler: the policy and flags by name; the kernel checks the rest
 * (a real-time priority's range, a deadline's runtime <= deadline <=
 * period) when the process applies it. */
static int parse_sched(json_object *o, struct bo_process *p,
		       struct cr_error **err)
{
	static const char *const policies[] = {
		"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR",      "SCHED_BATCH",
		"SCHED_ISO",   "SCHED_IDLE", "SCHED_DEADLINE",
	};
	static const char *const flags[] = {
		"SCHED_FLAG_RESET_ON_FORK",  "SCHED_FLAG_RECLAIM",
		"SCHED_FLAG_DL_OVERRUN",     "SCHED_FLAG_KEEP_POLICY",
		"SCHED_FLAG_KEEP_PARAMS",    "SCHED_FLAG_UTIL_CLAMP_MIN",
		"SCHED_FLAG_UTIL_CLAMP_MAX",
	};
	CR_CLEANUP_FREE char *policy = NULL;
	json_object *a;
	int64_t x = 0;
	int found = 0;
	char path[64];

	if (o == NULL)
		return 0;
	if (get_str(o, "policy", "process.scheduler.policy", &policy, err) < 0)
		return -1;
	if (policy == NULL)
		return bad(err, "process.scheduler.policy", "missing");
	for (uint32_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (strcmp(policy, policies[i]) == 0) {
			p->sched.policy = i; /* the kernel's numbers */
			found = 1;
		}
	if (!found)
		return cr_error_set(err, EINVAL,
				    "config.json: process.scheduler.policy: "
				    "unknown policy '%s'",
				    policy);
	if (get_int(o, "nice", "process.scheduler.nice", -20, 19, &x, NULL,
		    err) < 0)
		return -1;
	p->sched.nice = (int32_t)x;
	if (get_u32(o, "priority", "process.scheduler.priority",
		    &p->sched.priority, NULL, err) < 0 ||
	    get_u64(o, "runtime", "process.scheduler.runtime",
		    &p->sched.runtime, NULL, err) < 0 ||
	    get_u64(o, "deadline", "process.scheduler.deadline",
		    &p->sched.deadline, NULL, err) < 0 ||
	    get_u64(o, "period", "process.scheduler.period", &p->sched.period,
		    NULL, err) < 0)
		return -1;
	if (get_arr(o, "flags", "process.scheduler.flags", &a, err) < 0)
		return -1;
	for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		const char *name;

		snprintf(path, sizeof(path), "process.scheduler.flags[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_string))
			return bad(err, path, "must be a string");
		name = json_object_get_string(e);
		found = 0;
		for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
			if (strcmp(name, flags[k]) == 0) {
				p->sched.flags |= 1ULL << k;
				found = 1;
			}
		if (!found)
			return cr_error_set(err, EINVAL,
					    "config.json: %s: unknown flag '%s'",
					    path, name);
	}
	p->has_sched = 1;
	return 0;
}

int bo_cpulist_parse(const char *list, void *set, size_t size)
{
	const char *s = list;
	unsigned char *bits = set;

	memset(set, 0, size);
	while (*s != '\0') {
		char *end;
		unsigned long lo, hi;

		if (*s < '0' || *s > '9')
			return -1;
		lo = hi = strtoul(s, &end, 10);
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				return -1;
			hi = strtoul(end + 1, &end, 10);
		}
		if (lo > hi || hi >= size * 8)
			return -1;
		for (unsigned long c = lo; c <= hi; c++)
			bits[c / 8] |= (unsigned char)(1u << (c % 8));
		if (*end == ',' && end[1] != '\0')
			end++;
		else if (*end != '\0')
			return -1;
		s = end;
	}
	return 0;
}

/* execCPUAffinity: two CPU lists, kept as text for the exec path. */
static int parse_affinity(json_object *o, struct bo_process *p,
			  struct cr_error **err)
{
	cpu_set_t set;

	if (o == NULL)
		return 0;
	if (get_str(o, "initial", "process.execCPUAffinity.initial",
		    &p->cpu_initial, err) < 0 ||
	    get_str(o, "final", "process.execCPUAffinity.final", &p->cpu_final,
		    err) < 0)
		return -1;
	/* Empty means not given (config.md: "If omitted or empty"). */
	if (p->cpu_initial != NULL && p->cpu_initial[0] == '\0') {
		free(p->cpu_initial);
		p->cpu_initial = NULL;
	}
	if (p->cpu_final != NULL && p->cpu_final[0] == '\0') {
		free(p->cpu_final);
		p->cpu_final = NULL;
	}
	if (p->cpu_initial != NULL &&
	    bo_cpulist_parse(p->cpu_initial, &set, sizeof(set)) < 0)
		return bad(err, "process.execCPUAffinity.initial",
			   "not a CPU list");
	if (p->cpu_final != NULL &&
	    bo_cpulist_parse(p->cpu_final, &set, sizeof(set)) < 0)
		return bad(err, "process.execCPUAffinity.final",
			   "not a CPU list");
	return 0;
}

void bo_process_clear(struct bo_process *p)
{
	free(p->gids);
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->rlimits);
	free(p->cpu_initial);
	free(p->cpu_final);
	memset(p, 0, sizeof(*p));
}

int bo_spec_parse_process(json_object *obj, struct bo_process *p,
			  struct cr_error **err)
{
	json_object *user, *cons, *a;
	int64_t x;
	int has;
	CR_CLEANUP_FREE char *s = NULL;

	memset(p, 0, sizeof(*p));
	if (!json_object_is_type(obj, json_type_object))
		return bad(err, "process", "must be an object");
	if (get_bool(obj, "terminal", "process.terminal", &p->terminal, err) < 0)
		return -1;
	if (get_obj(obj, "consoleSize", "process.consoleSize", &cons, err) < 0)
		return -1;
	if (cons != NULL) {
		uint32_t h = 0, w = 0;

		if (get_u32(cons, "height", "process.consoleSize.height", &h,
			    NULL, err) < 0 ||
		    get_u32(cons, "width", "process.consoleSize.width", &w,
			    NULL, err) < 0)
			return -1;
		p->console_height = h > 65535 ? 65535 : h;
		p->console_width = w > 65535 ? 65535 : w;
	}
	if (get_obj(obj, "user", "process.user", &user, err) < 0)
		return -1;
	if (get_u32(user, "uid", "process.user.uid", &p->uid, NULL, err) < 0 ||
	    get_u32(user, "gid", "process.user.gid", &p->gid, NULL, err) < 0 ||
	    get_u32(user, "umask", "process.user.umask", &p->umask,
		    &p->has_umask, err) < 0)
		return -1;
	if (p->has_umask && p->umask > 0777)
		return bad(err, "process.user.umask", "out of range");
	if (get_str(user, "username", "process.user.username", &s, err) < 0)
		return -1;
	if (get_arr(user, "additionalGids", "process.user.additionalGids", &a,
		    err) < 0)
		return -1;
	if (a != NULL && json_object_array_length(a) > 0) {
		size_t n = json_object_array_length(a);

		if (n > 65536)
			return bad(err, "process.user.additionalGids",
				   "too many groups");
		p->gids = calloc(n, sizeof(*p->gids));
		if (p->gids == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
		for (size_t i = 0; i < n; i++) {
			char path[64];

			snprintf(path, sizeof(path),
				 "process.user.additionalGids[%zu]", i);
			if (int_value(json_object_array_get_idx(a, i), path, 0,
				      UINT32_MAX, &x, err) < 0)
				return -1;
			p->gids[p->n_gids++] = (uint32_t)x;
		}
	}
	if (get_strv(obj, "args", "process.args", &p->args, err) < 0)
		return -1;
	if (p->args[0] == NULL)
		return bad(err, "process.args", "must name at least the program");
	if (get_strv(obj, "env", "process.env", &p->env, err) < 0)
		return -1;
	if (get_str(obj, "cwd", "process.cwd", &p->cwd, err) < 0)
		return -1;
	if (p->cwd == NULL)
		return bad(err, "process.cwd", "missing");
	if (p->cwd[0] != '/')
		return bad(err, "process.cwd", "must be an absolute path");
	if (field(obj, "commandLine") != NULL)
		return bad(err, "process.commandLine",
			   "is for Windows, not supported");
	if (get_obj(obj, "capabilities", "process.capabilities", &a, err) < 0 ||
	    parse_caps(a, p, err) < 0)
		return -1;
	if (get_bool(obj, "noNewPrivileges", "process.noNewPrivileges",
		     &p->no_new_privileges, err) < 0)
		return -1;
	if (get_arr(obj, "rlimits", "process.rlimits", &a, err) < 0 ||
	    parse_rlimits(a, p, err) < 0)
		return -1;
	if (get_int(obj, "oomScoreAdj", "process.oomScoreAdj", -1000, 1000, &x,
		    &has, err) < 0)
		return -1;
	p->has_oom_score_adj = has;
	p->oom_score_adj = (int)x;
	free(s);
	s = NULL;
	if (get_str(obj, "selinuxLabel", "process.selinuxLabel", &s, err) < 0)
		return -1;
	if (s != NULL && s[0] != '\0')
		return bad(err, "process.selinuxLabel",
			   "SELinux is not supported by bolter");
	/* An AppArmor profile is only meaningful where AppArmor runs; bolter
	 * cannot apply one, so it refuses rather than run unconfined. */
	free(s);
	s = NULL;
	if (get_str(obj, "apparmorProfile", "process.apparmorProfile", &s,
		    err) < 0)
		return -1;
	if (s != NULL && s[0] != '\0' && access("/sys/kernel/security/apparmor",
					      F_OK) == 0)
		return bad(err, "process.apparmorProfile",
			   "AppArmor profiles are not supported by bolter");
	if (get_obj(obj, "ioPriority", "process.ioPriority", &a, err) < 0 ||
	    parse_ioprio(a, p, err) < 0)
		return -1;
	if (get_obj(obj, "scheduler", "process.scheduler", &a, err) < 0 ||
	    parse_sched(a, p, err) < 0)
		return -1;
	if (get_obj(obj, "execCPUAffinity", "process.execCPUAffinity", &a,
		    err) < 0 ||
	    parse_affinity(a, p, err) < 0)
		return -1;
	return 0;
}

/* --- linux -------------------------------------------------------------- */

static int parse_namespaces(json_object *a, struct bo_spec *s,
			    struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[64];

	if (n == 0)
		return 0;
	s->namespaces = calloc(n, sizeof(*s->namespaces));
	if (s->namespaces == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_namespace *ns = &s->namespaces[s->n_namespaces];
		CR_CLEANUP_FREE char *type = NULL;
		int found = 0;

		snprintf(path, sizeof(path), "linux.namespaces[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		snprintf(path, sizeof(path), "linux.namespaces[%zu].type", i);
		if (get_str(e, "type", path, &type, err) < 0)
			return -1;
		if (type == NULL)
			return bad(err, path, "missing");
		for (size_t k = 0; k < sizeof(ns_names) / sizeof(ns_names[0]);
		     k++)
			if (strcmp(type, ns_names[k].name) == 0) {
				ns->type = ns_names[k].type;
				found = 1;
			}
		if (!found)
			return cr_error_set(err, EINVAL,
					    "config.json: %s: namespace type "
					    "'%s' is not supported",
					    path, type);
		for (size_t k = 0; k < s->n_namespaces; k++)
			if (s->namespaces[k].type == ns->type)
				return cr_error_set(err, EINVAL,
						    "config.json: %s: '%s' "
						    "given twice",
						    path, type);
		snprintf(path, sizeof(path), "linux.namespaces[%zu].path", i);
		if (get_str(e, "path", path, &ns->path, err) < 0)
			return -1;
		s->n_namespaces++;
		if (ns->path != NULL && ns->path[0] != '/')
			return bad(err, path, "must be an absolute path");
	}
	return 0;
}

static int parse_idmaps_at(json_object *lin, const char *key,
			   const char *prefix, struct bo_idmap **out,
			   size_t *n_out, struct cr_error **err)
{
	json_object *a;
	size_t n;
	char path[64];

	snprintf(path, sizeof(path), "%s%s", prefix, key);
	if (get_arr(lin, key, path, &a, err) < 0)
		return -1;
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n == 0)
		return 0;
	if (n > 340) /* the kernel's limit per map */
		return bad(err, path, "too many entries");
	*out = calloc(n, sizeof(**out));
	if (*out == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_idmap *m = &(*out)[i];
		char sub[96];
		int h1, h2, h3;

		snprintf(sub, sizeof(sub), "%s%s[%zu]", prefix, key, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, sub, "must be an object");
		if (get_u32(e, "containerID", sub, &m->container_id, &h1,
			    err) < 0 ||
		    get_u32(e, "hostID", sub, &m->host_id, &h2, err) < 0 ||
		    get_u32(e, "size", sub, &m->size, &h3, err) < 0)
			return -1;
		if (!h1 || !h2 || !h3)
			return bad(err, sub,
				   "containerID, hostID and size are required");
		(*n_out)++;
	}
	return 0;
}

static int parse_idmaps(json_object *lin, const char *key,
			struct bo_idmap **out, size_t *n_out,
			struct cr_error **err)
{
	return parse_idmaps_at(lin, key, "linux.", out, n_out, err);
}

static int parse_mounts(json_object *a, struct bo_spec *s,
			struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[96];

	if (n == 0)
		return 0;
	s->mounts = calloc(n, sizeof(*s->mounts));
	if (s->mounts == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i), *opts;
		struct bo_mount *m = &s->mounts[s->n_mounts];
		size_t dlen = 0;

		snprintf(path, sizeof(path), "mounts[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		s->n_mounts++;
		snprintf(path, sizeof(path), "mounts[%zu].destination", i);
		if (get_str(e, "destination", path, &m->destination, err) < 0)
			return -1;
		if (m->destination == NULL || m->destination[0] != '/')
			return bad(err, path, "must be an absolute path");
		snprintf(path, sizeof(path), "mounts[%zu].type", i);
		if (get_str(e, "type", path, &m->type, err) < 0)
			return -1;
		snprintf(path, sizeof(path), "mounts[%zu].source", i);
		if (get_str(e, "source", path, &m->source, err) < 0)
			return -1;
		snprintf(path, sizeof(path), "mounts[%zu].", i);
		if (parse_idmaps_at(e, "uidMappings", path, &m->uid_map,
				    &m->n_uid_map, err) < 0 ||
		    parse_idmaps_at(e, "gidMappings", path, &m->gid_map,
				    &m->n_gid_map, err) < 0)
			return -1;
		if ((m->n_uid_map == 0) != (m->n_gid_map == 0)) {
			snprintf(path, sizeof(path), "mounts[%zu].uidMappings",
				 i);
			return bad(err, path,
				   "uidMappings and gidMappings go together");
		}
		/* Mappings without the option still map (the option tells
		 * older runtimes not to ignore them), not recursively. */
		if (m->n_uid_map > 0)
			m->idmap = 1;
		snprintf(path, sizeof(path), "mounts[%zu].options", i);
		if (get_arr(e, "options", path, &opts, err) < 0)
			return -1;
		for (size_t k = 0;
		     opts != NULL && k < json_object_array_length(opts); k++) {
			json_object *o = json_object_array_get_idx(opts, k);
			const char *name;
			int found = 0;

			snprintf(path, sizeof(path), "mounts[%zu].options[%zu]",
				 i, k);
			if (o == NULL || !json_object_is_type(o, json_type_string))
				return bad(err, path, "must be a string");
			name = json_object_get_string(o);
			for (size_t t = 0;
			     t < sizeof(mount_opts) / sizeof(mount_opts[0]);
			     t++) {
				if (strcmp(name, mount_opts[t].name) != 0)
					continue;
				found = 1;
				switch (mount_opts[t].kind) {
				case OPT_SET:
					m->flags |= mount_opts[t].flag;
					m->clear_flags &= ~mount_opts[t].flag;
					break;
				case OPT_CLEAR:
					m->flags &= ~mount_opts[t].flag;
					m->clear_flags |= mount_opts[t].flag;
					break;
				case OPT_PROP:
					m->propagation = mount_opts[t].flag;
					break;
				case OPT_BIND:
					if (m->bind == 0)
						m->bind = 1;
					break;
				case OPT_RBIND:
					m->bind = 2;
					break;
				case OPT_REC_SET:
					m->rec_set |= mount_opts[t].flag;
					m->rec_clr &= ~mount_opts[t].flag;
					break;
				case OPT_REC_CLEAR:
					m->rec_clr |= mount_opts[t].flag;
					m->rec_set &= ~mount_opts[t].flag;
					break;
				case OPT_REC_ATIME:
					m->rec_clr |= MOUNT_ATTR__ATIME;
					m->rec_set = (m->rec_set &
						      ~(uint64_t)MOUNT_ATTR__ATIME) |
						     mount_opts[t].flag;
					break;
				default:
					break;
				}
			}
			if (found)
				continue;
			if (strcmp(name, "idmap") == 0 ||
			    strcmp(name, "ridmap") == 0) {
				if (m->idmap != 2)
					m->idmap = name[0] == 'r' ? 2 : 1;
				continue;
			}
			if (strcmp(name, "tmpcopyup") == 0) {
				m->tmpcopyup = 1;
				continue;
			}
			/* crun's "idmap=uids=...;gids=..." spelling is its
			 * own: the spec's mappings are the fields. */
			if (strncmp(name, "idmap", 5) == 0 ||
			    strncmp(name, "ridmap", 6) == 0)
				return cr_error_set(err, EINVAL,
						    "config.json: %s: mount "
						    "option '%s' is not "
						    "supported",
						    path, name);
			/* Anything else is for the filesystem to parse. */
			{
				size_t nl = strlen(name);
				char *d = realloc(m->data, dlen + nl + 2);

				if (d == NULL)
					return cr_error_errno(err, ENOMEM,
							      "config.json");
				if (dlen > 0)
					d[dlen++] = ',';
				memcpy(d + dlen, name, nl + 1);
				dlen += nl;
				m->data = d;
			}
		}
		if (m->type != NULL && strcmp(m->type, "bind") == 0 &&
		    m->bind == 0)
			m->bind = 1;
		if (m->bind == 0 && m->type == NULL) {
			snprintf(path, sizeof(path), "mounts[%zu].type", i);
			return bad(err, path, "missing (and not a bind mount)");
		}
		if (m->bind && m->source == NULL) {
			snprintf(path, sizeof(path), "mounts[%zu].source", i);
			return bad(err, path, "a bind mount needs a source");
		}
		if (m->tmpcopyup &&
		    (m->bind || m->type == NULL || strcmp(m->type, "tmpfs") != 0)) {
			snprintf(path, sizeof(path), "mounts[%zu].options", i);
			return bad(err, path, "tmpcopyup needs a tmpfs mount");
		}
		if (m->idmap && !m->bind) {
			snprintf(path, sizeof(path), "mounts[%zu].options", i);
			return bad(err, path,
				   "idmap and ridmap need a bind mount");
		}
	}
	return 0;
}

static int parse_hooks(json_object *hooks, struct bo_spec *s,
		       struct cr_error **err)
{
	static const char *const names[BO_HOOK_KINDS] = {
		"prestart",	   "createRuntime", "createContainer",
		"startContainer", "poststart",	    "poststop",
	};
	char path[96];

	for (int k = 0; k < BO_HOOK_KINDS; k++) {
		json_object *a;
		size_t n;

		snprintf(path, sizeof(path), "hooks.%s", names[k]);
		if (get_arr(hooks, names[k], path, &a, err) < 0)
			return -1;
		n = a != NULL ? json_object_array_length(a) : 0;
		if (n == 0)
			continue;
		s->hooks[k] = calloc(n, sizeof(struct bo_hook));
		if (s->hooks[k] == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(a, i);
			struct bo_hook *h = &s->hooks[k][i];
			int64_t t = 0;

			s->n_hooks[k]++;
			snprintf(path, sizeof(path), "hooks.%s[%zu]", names[k],
				 i);
			if (e == NULL || !json_object_is_type(e, json_type_object))
				return bad(err, path, "must be an object");
			snprintf(path, sizeof(path), "hooks.%s[%zu].path",
				 names[k], i);
			if (get_str(e, "path", path, &h->path, err) < 0)
				return -1;
			if (h->path == NULL || h->path[0] != '/')
				return bad(err, path, "must be an absolute path");
			snprintf(path, sizeof(path), "hooks.%s[%zu].args",
				 names[k], i);
			if (get_strv(e, "args", path, &h->args, err) < 0)
				return -1;
			snprintf(path, sizeof(path), "hooks.%s[%zu].env",
				 names[k], i);
			if (get_strv(e, "env", path, &h->env, err) < 0)
				return -1;
			/* No "env" (not an empty one): the hook inherits the
			 * runtime's environment (hooks.c). */
			if (field(e, "env") == NULL) {
				strv_free(h->env);
				h->env = NULL;
			}
			snprintf(path, sizeof(path), "hooks.%s[%zu].timeout",
				 names[k], i);
			if (get_int(e, "timeout", path, 1, INT_MAX, &t, NULL,
				    err) < 0)
				return -1;
			h->timeout = (int)t;
		}
	}
	return 0;
}

/* unified: cgroup v2 file names (controller.file, no '/', which would
 * leave the container's folder) and the values written to them. */
static int parse_unified(json_object *o, struct bo_resources *r,
			 struct cr_error **err)
{
	size_t n = o != NULL ? (size_t)json_object_object_length(o) : 0;

	if (n == 0)
		return 0;
	r->unified = calloc(n, sizeof(*r->unified));
	if (r->unified == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	json_object_object_foreach(o, key, val)
	{
		struct bo_kv *kv = &r->unified[r->n_unified];

		if (val == NULL || !json_object_is_type(val, json_type_string))
			return cr_error_set(err, EINVAL,
					    "config.json: linux.resources.unified."
					    "%s: must be a string",
					    key);
		if (key[0] == '.' || strchr(key, '.') == NULL ||
		    strchr(key, '/') != NULL)
			return cr_error_set(err, EINVAL,
					    "config.json: linux.resources.unified: "
					    "'%s' is not a cgroup file name",
					    key);
		kv->key = strdup(key);
		kv->value = strdup(json_object_get_string(val));
		r->n_unified++;
		if (kv->key == NULL || kv->value == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
	}
	return 0;
}

/* hugepageLimits: the page size is checked here (digits, then KB, MB or
 * GB) because it becomes part of a cgroup file name. */
static int parse_hugepages(json_object *a, struct bo_resources *r,
			   struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[64];

	if (n == 0)
		return 0;
	r->hugepages = calloc(n, sizeof(*r->hugepages));
	if (r->hugepages == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_hugepage *h = &r->hugepages[i];
		CR_CLEANUP_FREE char *size = NULL;
		size_t digits;
		int has;

		snprintf(path, sizeof(path), "linux.resources.hugepageLimits[%zu]",
			 i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		snprintf(path, sizeof(path),
			 "linux.resources.hugepageLimits[%zu].pageSize", i);
		if (get_str(e, "pageSize", path, &size, err) < 0)
			return -1;
		digits = size != NULL ? strspn(size, "0123456789") : 0;
		if (size == NULL || digits == 0 || digits > 8 ||
		    strlen(size) != digits + 2 ||
		    strchr("KMG", size[digits]) == NULL || size[digits + 1] != 'B')
			return bad(err, path,
				   "must be a size such as 2MB or 1GB");
		memcpy(h->page_size, size, strlen(size) + 1);
		snprintf(path, sizeof(path),
			 "linux.resources.hugepageLimits[%zu].limit", i);
		if (get_u64(e, "limit", path, &h->limit, &has, err) < 0)
			return -1;
		if (!has)
			return bad(err, path, "missing");
		r->n_hugepages++;
	}
	return 0;
}

const char *const bo_throttle_names[BO_THROTTLES] = {
	"throttleReadBpsDevice",
	"throttleWriteBpsDevice",
	"throttleReadIOPSDevice",
	"throttleWriteIOPSDevice",
};

/* A blkio weight: 10 to 1000 (v1's range, which runc converts for
 * v2), or 0, which the spec's Go types leave as "unset". */
static int get_weight(json_object *o, const char *key, const char *path,
		      uint16_t *out, struct cr_error **err)
{
	int64_t w = 0;

	if (get_int(o, key, path, 0, 1000, &w, NULL, err) < 0)
		return -1;
	if (w != 0 && w < 10)
		return bad(err, path, "must be 10 to 1000");
	*out = (uint16_t)w;
	return 0;
}

/* A list of blockIO devices: major and minor always, then weight and
 * leafWeight (weightDevice) or rate (the throttle lists). */
static int parse_blkio_devs(json_object *a, const char *name, int weights,
			    struct bo_blkio_dev **out, size_t *n_out,
			    struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[96], sub[128];

	if (n == 0)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (*out == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_blkio_dev *d = &(*out)[i];
		int h1, h2, h3;

		snprintf(path, sizeof(path), "linux.resources.blockIO.%s[%zu]",
			 name, i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		(*n_out)++;
		if (get_int(e, "major", path, 0, UINT32_MAX, &d->major, &h1,
			    err) < 0 ||
		    get_int(e, "minor", path, 0, UINT32_MAX, &d->minor, &h2,
			    err) < 0)
			return -1;
		if (!h1 || !h2)
			return bad(err, path, "major and minor are required");
		if (weights) {
			snprintf(sub, sizeof(sub), "%s.weight", path);
			if (get_weight(e, "weight", sub, &d->weight, err) < 0)
				return -1;
			snprintf(sub, sizeof(sub), "%s.leafWeight", path);
			if (get_weight(e, "leafWeight", sub, &d->leaf_weight,
				       err) < 0)
				return -1;
			continue;
		}
		snprintf(sub, sizeof(sub), "%s.rate", path);
		if (get_u64(e, "rate", sub, &d->rate, &h3, err) < 0)
			return -1;
		if (!h3)
			return bad(err, sub, "missing");
	}
	return 0;
}

static int parse_blkio(json_object *o, struct bo_resources *r,
		       struct cr_error **err)
{
	json_object *a;

	if (o == NULL)
		return 0;
	if (get_weight(o, "weight", "linux.resources.blockIO.weight",
		       &r->blkio_weight, err) < 0 ||
	    get_weight(o, "leafWeight", "linux.resources.blockIO.leafWeight",
		       &r->blkio_leaf_weight, err) < 0)
		return -1;
	if (get_arr(o, "weightDevice", "linux.resources.blockIO.weightDevice",
		    &a, err) < 0 ||
	    parse_blkio_devs(a, "weightDevice", 1, &r->weight_devices,
			     &r->n_weight_devices, err) < 0)
		return -1;
	for (int k = 0; k < BO_THROTTLES; k++) {
		char path[96];

		snprintf(path, sizeof(path), "linux.resources.blockIO.%s",
			 bo_throttle_names[k]);
		if (get_arr(o, bo_throttle_names[k], path, &a, err) < 0 ||
		    parse_blkio_devs(a, bo_throttle_names[k], 0, &r->throttle[k],
				     &r->n_throttle[k], err) < 0)
			return -1;
	}
	return 0;
}

/* network: net_cls's class id and net_prio's map; an interface name
 * becomes part of a line the kernel parses, so it is checked here. */
static int parse_network(json_object *o, struct bo_resources *r,
			 struct cr_error **err)
{
	json_object *a;
	size_t n;
	char path[96];

	if (o == NULL)
		return 0;
	if (get_u32(o, "classID", "linux.resources.network.classID",
		    &r->net_classid, &r->has_classid, err) < 0)
		return -1;
	if (get_arr(o, "priorities", "linux.resources.network.priorities", &a,
		    err) < 0)
		return -1;
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n == 0)
		return 0;
	r->net_priorities = calloc(n, sizeof(*r->net_priorities));
	if (r->net_priorities == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_kv *kv = &r->net_priorities[i];
		uint32_t prio = 0;
		int has;
		char num[16];

		snprintf(path, sizeof(path),
			 "linux.resources.network.priorities[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		r->n_net_priorities++;
		if (get_str(e, "name", path, &kv->key, err) < 0 ||
		    get_u32(e, "priority", path, &prio, &has, err) < 0)
			return -1;
		if (kv->key == NULL || kv->key[0] == '\0' ||
		    strlen(kv->key) >= 16 || strpbrk(kv->key, " \t\n/") != NULL)
			return bad(err, path, "name must be an interface name");
		if (!has)
			return bad(err, path, "priority is required");
		snprintf(num, sizeof(num), "%u", prio);
		kv->value = strdup(num);
		if (kv->value == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
	}
	return 0;
}

/* rdma: device name -> hcaHandles, hcaObjects (both optional). */
static int parse_rdma(json_object *o, struct bo_resources *r,
		      struct cr_error **err)
{
	size_t n = o != NULL ? (size_t)json_object_object_length(o) : 0;

	if (n == 0)
		return 0;
	r->rdma = calloc(n, sizeof(*r->rdma));
	if (r->rdma == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	json_object_object_foreach(o, key, val)
	{
		struct bo_rdma *d = &r->rdma[r->n_rdma];
		char path[128];
		int has;

		snprintf(path, sizeof(path), "linux.resources.rdma.%.64s", key);
		if (val == NULL || !json_object_is_type(val, json_type_object))
			return bad(err, path, "must be an object");
		r->n_rdma++;
		d->hca_handles = d->hca_objects = -1;
		if (key[0] == '\0' || strlen(key) > 64 ||
		    strpbrk(key, " \t\n/=") != NULL)
			return bad(err, path, "not a device name");
		d->device = strdup(key);
		if (d->device == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
		if (get_int(val, "hcaHandles", path, 0, UINT32_MAX,
			    &d->hca_handles, &has, err) < 0)
			return -1;
		if (!has)
			d->hca_handles = -1;
		if (get_int(val, "hcaObjects", path, 0, UINT32_MAX,
			    &d->hca_objects, &has, err) < 0)
			return -1;
		if (!has)
			d->hca_objects = -1;
	}
	return 0;
}

static int parse_devrules(json_object *a, struct bo_resources *r,
			  struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[96];

	if (n == 0)
		return 0;
	r->devrules = calloc(n, sizeof(*r->devrules));
	if (r->devrules == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_devrule *d = &r->devrules[i];
		CR_CLEANUP_FREE char *type = NULL;
		CR_CLEANUP_FREE char *access = NULL;
		int has;

		snprintf(path, sizeof(path), "linux.resources.devices[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		r->n_devrules++;
		if (get_bool(e, "allow", path, &d->allow, err) < 0 ||
		    get_str(e, "type", path, &type, err) < 0 ||
		    get_str(e, "access", path, &access, err) < 0)
			return -1;
		d->type = 'a';
		if (type != NULL) {
			if (strlen(type) != 1 || strchr("acb", type[0]) == NULL)
				return bad(err, path, "type must be a, c or b");
			d->type = type[0];
		}
		if (access == NULL) {
			strcpy(d->access, "rwm");
		} else {
			if (strlen(access) > 3 ||
			    strspn(access, "rwm") != strlen(access))
				return bad(err, path, "access must be of r, w, m");
			memcpy(d->access, access, strlen(access) + 1);
		}
		d->major = d->minor = -1;
		if (get_int(e, "major", path, -1, INT32_MAX, &d->major, &has,
			    err) < 0 ||
		    get_int(e, "minor", path, -1, INT32_MAX, &d->minor, &has,
			    err) < 0)
			return -1;
	}
	return 0;
}

/* memory.swappiness: 0 to 100; -1 (or its uint64 spelling, which Docker
 * has written) means unset, as runc reads it. */
static int get_swappiness(json_object *o, struct bo_resources *r,
			  struct cr_error **err)
{
	json_object *v = field(o, "swappiness");

	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int) &&
	    (json_object_get_int64(v) == -1 ||
	     json_object_get_uint64(v) == UINT64_MAX))
		return 0;
	if (get_u64(o, "swappiness", "linux.resources.memory.swappiness",
		    &r->swappiness, &r->has_swappiness, err) < 0)
		return -1;
	if (r->swappiness > 100)
		return bad(err, "linux.resources.memory.swappiness",
			   "must be 0 to 100");
	return 0;
}

int bo_spec_parse_resources(json_object *res, struct bo_resources *r,
			    struct cr_error **err)
{
	json_object *o, *a;
	int has;

	r->memory_limit = r->memory_reservation = r->memory_swap = -1;
	if (res == NULL)
		return 0;
	if (get_obj(res, "memory", "linux.resources.memory", &o, err) < 0)
		return -1;
	if (get_int(o, "limit", "linux.resources.memory.limit", -1, INT64_MAX,
		    &r->memory_limit, NULL, err) < 0 ||
	    get_int(o, "reservation", "linux.resources.memory.reservation", -1,
		    INT64_MAX, &r->memory_reservation, NULL, err) < 0 ||
	    get_int(o, "swap", "linux.resources.memory.swap", -1, INT64_MAX,
		    &r->memory_swap, NULL, err) < 0 ||
	    get_int(o, "kernelTCP", "linux.resources.memory.kernelTCP", -1,
		    INT64_MAX, &r->kernel_tcp, &r->has_kernel_tcp, err) < 0 ||
	    get_swappiness(o, r, err) < 0 ||
	    get_bool(o, "useHierarchy", "linux.resources.memory.useHierarchy",
		     &r->use_hierarchy, err) < 0 ||
	    get_bool(o, "checkBeforeUpdate",
		     "linux.resources.memory.checkBeforeUpdate",
		     &r->check_before_update, err) < 0 ||
	    get_bool(o, "disableOOMKiller",
		     "linux.resources.memory.disableOOMKiller",
		     &r->disable_oom_killer, err) < 0)
		return -1;
	r->has_use_hierarchy = field(o, "useHierarchy") != NULL;
	if (get_obj(res, "pids", "linux.resources.pids", &o, err) < 0 ||
	    get_int(o, "limit", "linux.resources.pids.limit", INT64_MIN,
		    INT64_MAX, &r->pids_limit, &has, err) < 0)
		return -1;
	if (o != NULL && !has)
		return bad(err, "linux.resources.pids.limit", "missing");
	if (has && r->pids_limit <= 0)
		r->pids_limit = -1; /* "max" */
	if (get_obj(res, "cpu", "linux.resources.cpu", &o, err) < 0 ||
	    get_u64(o, "shares", "linux.resources.cpu.shares", &r->cpu_shares,
		    NULL, err) < 0 ||
	    get_int(o, "quota", "linux.resources.cpu.quota", -1, INT64_MAX,
		    &r->cpu_quota, NULL, err) < 0 ||
	    get_u64(o, "period", "linux.resources.cpu.period", &r->cpu_period,
		    NULL, err) < 0 ||
	    get_str(o, "cpus", "linux.resources.cpu.cpus", &r->cpus, err) < 0 ||
	    get_str(o, "mems", "linux.resources.cpu.mems", &r->mems, err) < 0)
		return -1;
	if (r->cpus != NULL && strspn(r->cpus, "0123456789,-") != strlen(r->cpus))
		return bad(err, "linux.resources.cpu.cpus", "not a CPU list");
	if (r->mems != NULL && strspn(r->mems, "0123456789,-") != strlen(r->mems))
		return bad(err, "linux.resources.cpu.mems", "not a node list");
	if (get_u64(o, "burst", "linux.resources.cpu.burst", &r->cpu_burst,
		    &r->has_cpu_burst, err) < 0 ||
	    get_int(o, "idle", "linux.resources.cpu.idle", 0, 1, &r->cpu_idle,
		    &r->has_cpu_idle, err) < 0)
		return -1;
	if (get_int(o, "realtimeRuntime", "linux.resources.cpu.realtimeRuntime",
		    -1, INT64_MAX, &r->rt_runtime, &r->has_rt_runtime, err) < 0 ||
	    get_u64(o, "realtimePeriod", "linux.resources.cpu.realtimePeriod",
		    &r->rt_period, NULL, err) < 0)
		return -1;
	if (get_arr(res, "devices", "linux.resources.devices", &a, err) < 0 ||
	    parse_devrules(a, r, err) < 0)
		return -1;
	if (get_obj(res, "unified", "linux.resources.unified", &o, err) < 0 ||
	    parse_unified(o, r, err) < 0)
		return -1;
	if (get_arr(res, "hugepageLimits", "linux.resources.hugepageLimits",
		    &a, err) < 0 ||
	    parse_hugepages(a, r, err) < 0)
		return -1;
	if (get_obj(res, "blockIO", "linux.resources.blockIO", &o, err) < 0 ||
	    parse_blkio(o, r, err) < 0)
		return -1;
	if (get_obj(res, "network", "linux.resources.network", &o, err) < 0 ||
	    parse_network(o, r, err) < 0)
		return -1;
	if (get_obj(res, "rdma", "linux.resources.rdma", &o, err) < 0 ||
	    parse_rdma(o, r, err) < 0)
		return -1;
	return 0;
}

void bo_resources_clear(struct bo_resources *r)
{
	free(r->weight_devices);
	for (int k = 0; k < BO_THROTTLES; k++)
		free(r->throttle[k]);
	for (size_t i = 0; i < r->n_net_priorities; i++) {
		free(r->net_priorities[i].key);
		free(r->net_priorities[i].value);
	}
	free(r->net_priorities);
	for (size_t i = 0; i < r->n_rdma; i++)
		free(r->rdma[i].device);
	free(r->rdma);
	free(r->cpus);
	free(r->mems);
	free(r->devrules);
	free(r->hugepages);
	for (size_t i = 0; i < r->n_unified; i++) {
		free(r->unified[i].key);
		free(r->unified[i].value);
	}
	free(r->unified);
	memset(r, 0, sizeof(*r));
	r->memory_limit = r->memory_reservation = r->memory_swap = -1;
}

static int parse_devices(json_object *a, struct bo_spec *s,
			 struct cr_error **err)
{
	size_t n = a != NULL ? json_object_array_length(a) : 0;
	char path[64];

	if (n == 0)
		return 0;
	s->devices = calloc(n, sizeof(*s->devices));
	if (s->devices == NULL)
		return cr_error_errno(err, ENOMEM, "config.json");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct bo_device *d = &s->devices[i];
		CR_CLEANUP_FREE char *type = NULL;
		int h1, h2;

		snprintf(path, sizeof(path), "linux.devices[%zu]", i);
		if (e == NULL || !json_object_is_type(e, json_type_object))
			return bad(err, path, "must be an object");
		s->n_devices++;
		if (get_str(e, "path", path, &d->path, err) < 0 ||
		    get_str(e, "type", path, &type, err) < 0)
			return -1;
		if (d->path == NULL || d->path[0] != '/')
			return bad(err, path, "path must be absolute");
		if (type == NULL || strlen(type) != 1 ||
		    strchr("cbup", type[0]) == NULL)
			return bad(err, path, "type must be c, b, u or p");
		d->type = type[0];
		if (get_int(e, "major", path, 0, INT32_MAX, &d->major, &h1,
			    err) < 0 ||
		    get_int(e, "minor", path, 0, INT32_MAX, &d->minor, &h2,
			    err) < 0)
			return -1;
		if (d->type != 'p' && (!h1 || !h2))
			return bad(err, path, "major and minor are required");
		if (get_u32(e, "fileMode", path, &d->mode, &d->has_mode, err) <
			    0 ||
		    get_u32(e, "uid", path, &d->uid, &d->has_uid, err) < 0 ||
		    get_u32(e, "gid", path, &d->gid, &d->has_gid, err) < 0)
			return -1;
	}
	return 0;
}

/* personality: the domain; the spec defines no flags yet, so any flag
 * is refused rather than dropped. */
static int parse_personality(json_object *o, struct bo_spec *s,
			     struct cr_error **err)
{
	CR_CLEANUP_FREE char *domain = NULL;
	json_object *a;

	s->personality = -1;
	if (o == NULL)
		return 0;
	if (get_str(o, "domain", "linux.personality.domain", &domain, err) < 0)
		return -1;
	if (domain != NULL && strcmp(domain, "LINUX") == 0)
		s->personality = 0x0000; /* PER_LINUX */
	else if (domain != NULL && strcmp(domain, "LINUX32") == 0)
		s->personality = 0x0008; /* PER_LINUX32 */
	else
		return bad(err, "linux.personality.domain",
			   "must be LINUX or LINUX32");
	if (get_arr(o, "flags", "linux.personality.flags", &a, err) < 0)
		return -1;
	if (a != NULL && json_object_array_length(a) > 0)
		return bad(err, "linux.personality.flags",
			   "the spec defines no flags");
	return 0;
}

/* timeOffsets: {"monotonic"|"boottime": {"secs", "nanosecs"}}, the
 * two clocks a time namespace offsets. */
static int parse_time_offsets(json_object *o, struct bo_spec *s,
			      struct cr_error **err)
{
	if (o == NULL)
		return 0;
	json_object_object_foreach(o, key, val)
	{
		char path[96];
		int64_t *secs;
		uint32_t *nsecs;

		snprintf(path, sizeof(path), "linux.timeOffsets.%.32s", key);
		if (strcmp(key, "monotonic") == 0) {
			secs = &s->monotonic_secs;
			nsecs = &s->monotonic_nsecs;
		} else if (strcmp(key, "boottime") == 0) {
			secs = &s->boottime_secs;
			nsecs = &s->boottime_nsecs;
		} else {
			return bad(err, path,
				   "a time namespace offsets monotonic and "
				   "boottime only");
		}
		if (val == NULL || !json_object_is_type(val, json_type_object))
			return bad(err, path, "must be an object");
		snprintf(path, sizeof(path), "linux.timeOffsets.%s.secs", key);
		if (get_int(val, "secs", path, INT64_MIN, INT64_MAX, secs, NULL,
			    err) < 0)
			return -1;
		snprintf(path, sizeof(path), "linux.timeOffsets.%s.nanosecs",
			 key);
		if (get_u32(val, "nanosecs", path, nsecs, NULL, err) < 0)
			return -1;
		if (*nsecs >= 1000000000)
			return bad(err, path, "must be below 1000000000");
		s->has_time_offsets = 1;
	}
	return 0;
}

static int parse_linux(json_object *lin, struct bo_spec *s,
		       struct cr_error **err)
{
	json_object *a, *o;
	CR_CLEANUP_FREE char *prop = NULL;

	if (get_arr(lin, "namespaces", "linux.namespaces", &a, err) < 0 ||
	    parse_namespaces(a, s, err) < 0)
		return -1;
	if (parse_idmaps(lin, "uidMappings", &s->uid_mappings,
			 &s->n_uid_mappings, err) < 0 ||
	    parse_idmaps(lin, "gidMappings", &s->gid_mappings,
			 &s->n_gid_mappings, err) < 0)
		return -1;
	if ((s->n_uid_mappings || s->n_gid_mappings) &&
	    bo_spec_namespace(s, CLONE_NEWUSER) == NULL)
		return bad(err, "linux.uidMappings",
			   "given without a user namespace");
	if (get_obj(lin, "sysctl", "linux.sysctl", &o, err) < 0)
		return -1;
	if (o != NULL && json_object_object_length(o) > 0) {
		s->sysctl = calloc((size_t)json_object_object_length(o),
				   sizeof(*s->sysctl));
		if (s->sysctl == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
		json_object_object_foreach(o, key, val)
		{
			struct bo_kv *kv = &s->sysctl[s->n_sysctl];

			if (val == NULL ||
			    !json_object_is_type(val, json_type_string))
				return cr_error_set(err, EINVAL,
						    "config.json: linux.sysctl."
						    "%s: must be a string",
						    key);
			if (key[0] == '\0' || strstr(key, "..") != NULL ||
			    strchr(key, '/') != NULL)
				return cr_error_set(err, EINVAL,
						    "config.json: linux.sysctl: "
						    "bad name '%s'",
						    key);
			kv->key = strdup(key);
			kv->value = strdup(json_object_get_string(val));
			s->n_sysctl++;
			if (kv->key == NULL || kv->value == NULL)
				return cr_error_errno(err, ENOMEM,
						      "config.json");
		}
	}
	if (get_obj(lin, "resources", "linux.resources", &o, err) < 0 ||
	    bo_spec_parse_resources(o, &s->resources, err) < 0)
		return -1;
	if (get_str(lin, "cgroupsPath", "linux.cgroupsPath", &s->cgroups_path,
		    err) < 0)
		return -1;
	if (s->cgroups_path != NULL && strstr(s->cgroups_path, "..") != NULL)
		return bad(err, "linux.cgroupsPath", "must not contain '..'");
	if (get_arr(lin, "devices", "linux.devices", &a, err) < 0 ||
	    parse_devices(a, s, err) < 0)
		return -1;
	/* The devices the container is given stay usable under a
	 * device cgroup policy, as runc allows them. */
	if (s->resources.n_devrules > 0 && s->n_devices > 0) {
		struct bo_devrule *r = realloc(s->resources.devrules,
					       (s->resources.n_devrules +
						s->n_devices) *
						       sizeof(*r));

		if (r == NULL)
			return cr_error_errno(err, ENOMEM, "config.json");
		s->resources.devrules = r;
		for (size_t i = 0; i < s->n_devices; i++) {
			struct bo_devrule *d = &r[s->resources.n_devrules];

			if (s->devices[i].type != 'c' && s->devices[i].type != 'b' &&
			    s->devices[i].type != 'u')
				continue;
			memset(d, 0, sizeof(*d));
			d->allow = 1;
			d->type = s->devices[i].type == 'b' ? 'b' : 'c';
			d->major = s->devices[i].major;
			d->minor = s->devices[i].minor;
			memcpy(d->access, "rwm", 4);
			s->resources.n_devrules++;
		}
	}
	if (get_strv(lin, "maskedPaths", "linux.maskedPaths", &s->masked_paths,
		     err) < 0 ||
	    get_strv(lin, "readonlyPaths", "linux.readonlyPaths",
		     &s->readonly_paths, err) < 0)
		return -1;
	if (get_str(lin, "rootfsPropagation", "linux.rootfsPropagation", &prop,
		    err) < 0)
		return -1;
	if (prop != NULL) {
		static const struct {
			const char *n;
			unsigned long f;
		} props[] = {
			{ "private", MS_PRIVATE },
			{ "rprivate", MS_PRIVATE | MS_REC },
			{ "shared", MS_SHARED },
			{ "rshared", MS_SHARED | MS_REC },
			{ "slave", MS_SLAVE },
			{ "rslave", MS_SLAVE | MS_REC },
			{ "unbindable", MS_UNBINDABLE },
			{ "runbindable", MS_UNBINDABLE | MS_REC },
		};
		for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
			if (strcmp(prop, props[i].n) == 0)
				s->rootfs_propagation = props[i].f;
		if (s->rootfs_propagation == 0)
			return bad(err, "linux.rootfsPropagation",
				   "unknown propagation");
	}
	o = field(lin, "seccomp");
	if (o != NULL && !json_object_is_type(o, json_type_object))
		return bad(err, "linux.seccomp", "must be an object");
	s->seccomp = o;
	if (field(lin, "intelRdt") != NULL)
		return bad(err, "linux.intelRdt", "not supported by bolter");
	if (get_obj(lin, "personality", "linux.personality", &o, err) < 0 ||
	    parse_personality(o, s, err) < 0)
		return -1;
	if (get_obj(lin, "timeOffsets", "linux.timeOffsets", &o, err) < 0 ||
	    parse_time_offsets(o, s, err) < 0)
		return -1;
	{
		CR_CLEANUP_FREE char *label = NULL;

		if (get_str(lin, "mountLabel", "linux.mountLabel", &label,
			    err) < 0)
			return -1;
		if (label != NULL && label[0] != '\0')
			return bad(err, "linux.mountLabel",
				   "SELinux is not supported by bolter");
	}
	return 0;
}

const struct bo_namespace *bo_spec_namespace(const struct bo_spec *s,
					     int type)
{
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (s->namespaces[i].type == type)
			return &s->namespaces[i];
	return NULL;
}

/*
 * linux.sysctl may only change what the container's own namespaces hold,
 * never the host (runc's and crun's rule): the IPC keys need an IPC
 * namespace, net.* a network namespace, kernel.domainname a UTS namespace;
 * kernel.hostname is the "hostname" field's, and any other key is not
 * namespaced at all.
 */
static int check_sysctl(const struct bo_spec *s, struct cr_error **err)
{
	static const char *const ipc[] = {
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
		"kernel.sem",    "kernel.shmall", "kernel.shmmax",
		"kernel.shmmni", "kernel.shm_rmid_forced",
	};

	for (size_t i = 0; i < s->n_sysctl; i++) {
		const char *k = s->sysctl[i].key, *why = NULL;
		int ns = 0;

		for (size_t j = 0; j < sizeof(ipc) / sizeof(ipc[0]); j++)
			if (strcmp(k, ipc[j]) == 0)
				ns = CLONE_NEWIPC;
		if (strncmp(k, "fs.mqueue.", 10) == 0)
			ns = CLONE_NEWIPC;
		else if (strncmp(k, "net.", 4) == 0)
			ns = CLONE_NEWNET;
		else if (strcmp(k, "kernel.domainname") == 0)
			ns = CLONE_NEWUTS;
		if (strcmp(k, "kernel.hostname") == 0)
			why = "not allowed: set the \"hostname\" field instead";
		else if (ns == 0)
			why = "not in a namespace of the container: it would "
			      "change the host";
		else if (bo_spec_namespace(s, ns) == NULL)
			why = ns == CLONE_NEWIPC   ? "needs an ipc namespace"
			      : ns == CLONE_NEWNET ? "needs a network namespace"
						   : "needs a uts namespace";
		if (why != NULL)
			return cr_error_set(err, EINVAL,
					    "config.json: linux.sysctl.%s: %s",
					    k, why);
	}
	return 0;
}

struct bo_spec *bo_spec_parse(const char *text, size_t len,
			      struct cr_error **err)
{
	struct bo_spec *s;
	json_tokener *tok;
	json_object *o;
	enum json_tokener_error jerr;

	if (len > BO_SPEC_MAX_BYTES) {
		cr_error_set(err, EFBIG, "config.json: larger than %d bytes",
			     BO_SPEC_MAX_BYTES);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	tok = json_tokener_new_ex(64);
	if (s == NULL || tok == NULL) {
		free(s);
		if (tok != NULL)
			json_tokener_free(tok);
		cr_error_errno(err, ENOMEM, "config.json");
		return NULL;
	}
	s->personality = -1;
	s->doc = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < len) {
		size_t end = json_tokener_get_parse_end(tok);

		if (strspn(text + end, " \t\r\n") != len - end)
			jerr = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (s->doc == NULL || jerr != json_tokener_success) {
		cr_error_set(err, EINVAL, "config.json: not valid JSON: %s",
			     jerr == json_tokener_success ||
					     jerr == json_tokener_continue
				     ? "truncated"
				     : json_tokener_error_desc(jerr));
		return bo_spec_free(s);
	}
	if (!json_object_is_type(s->doc, json_type_object)) {
		bad(err, "(top level)", "must be an object");
		return bo_spec_free(s);
	}
	if (get_str(s->doc, "ociVersion", "ociVersion", &s->oci_version, err) <
	    0)
		return bo_spec_free(s);
	if (s->oci_version == NULL || strncmp(s->oci_version, "1.", 2) != 0) {
		bad(err, "ociVersion", "must be a 1.x version");
		return bo_spec_free(s);
	}
	if (get_obj(s->doc, "root", "root", &o, err) < 0 ||
	    get_str(o, "path", "root.path", &s->root_path, err) < 0 ||
	    get_bool(o, "readonly", "root.readonly", &s->root_readonly, err) <
		    0)
		return bo_spec_free(s);
	if (s->root_path == NULL || s->root_path[0] == '\0') {
		bad(err, "root.path", "missing");
		return bo_spec_free(s);
	}
	o = field(s->doc, "process");
	if (o != NULL) {
		if (bo_spec_parse_process(o, &s->process, err) < 0)
			return bo_spec_free(s);
		s->has_process = 1;
	}
	if (get_str(s->doc, "hostname", "hostname", &s->hostname, err) < 0 ||
	    get_str(s->doc, "domainname", "domainname", &s->domainname, err) <
		    0)
		return bo_spec_free(s);
	if (get_arr(s->doc, "mounts", "mounts", &o, err) < 0 ||
	    parse_mounts(o, s, err) < 0)
		return bo_spec_free(s);
	if (get_obj(s->doc, "hooks", "hooks", &o, err) < 0 ||
	    parse_hooks(o, s, err) < 0)
		return bo_spec_free(s);
	if (get_obj(s->doc, "linux", "linux", &o, err) < 0 ||
	    parse_linux(o, s, err) < 0)
		return bo_spec_free(s);
	if (get_obj(s->doc, "annotations", "annotations", &s->annotations,
		    err) < 0)
		return bo_spec_free(s);
	if (s->hostname != NULL && s->hostname[0] != '\0' &&
	    bo_spec_namespace(s, CLONE_NEWUTS) == NULL) {
		bad(err, "hostname", "needs a uts namespace");
		return bo_spec_free(s);
	}
	if (check_sysctl(s, err) < 0)
		return bo_spec_free(s);
	for (size_t i = 0; i < s->n_mounts; i++)
		if (s->mounts[i].idmap && s->mounts[i].n_uid_map == 0 &&
		    bo_spec_namespace(s, CLONE_NEWUSER) == NULL) {
			char path[64];

			snprintf(path, sizeof(path), "mounts[%zu].options", i);
			bad(err, path,
			    "idmap without uidMappings takes the container's "
			    "user namespace, and there is none");
			return bo_spec_free(s);
		}
	if (s->has_time_offsets) {
		const struct bo_namespace *t = bo_spec_namespace(s, CLONE_NEWTIME);

		if (t == NULL || t->path != NULL) {
			bad(err, "linux.timeOffsets",
			    t == NULL ? "needs a new time namespace"
				      : "cannot be set on a joined time "
					"namespace");
			return bo_spec_free(s);
		}
	}
	if (s->annotations != NULL) {
		json_object_object_foreach(s->annotations, key, val)
		{
			if (val == NULL ||
			    !json_object_is_type(val, json_type_string)) {
				cr_error_set(err, EINVAL,
					     "config.json: annotations.%s: must "
					     "be a string",
					     key);
				return bo_spec_free(s);
			}
			if (strcmp(key, "run.oci.keep_original_groups") == 0)
				s->keep_original_groups =
					strcmp(json_object_get_string(val), "1") == 0;
		}
	}
	if (field(s->doc, "solaris") != NULL || field(s->doc, "windows") != NULL ||
	    field(s->doc, "vm") != NULL || field(s->doc, "zos") != NULL) {
		bad(err, "(top level)",
		    "solaris, windows, vm and zos sections are not supported");
		return bo_spec_free(s);
	}
	return s;
}

struct bo_spec *bo_spec_load(const char *path, struct cr_error **err)
{
	CR_CLEANUP_FREE char *text = NULL;
	size_t len = 0;

	if (cr_read_file(path, BO_SPEC_MAX_BYTES, &text, &len, err) < 0) {
		cr_error_wrap(err, "reading %s", path);
		return NULL;
	}
	return bo_spec_parse(text, len, err);
}

struct bo_spec *bo_spec_free(struct bo_spec *s)
{
	if (s == NULL)
		return NULL;
	free(s->oci_version);
	free(s->root_path);
	free(s->hostname);
	free(s->domainname);
	bo_process_clear(&s->process);
	for (size_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].destination);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		free(s->mounts[i].data);
		free(s->mounts[i].uid_map);
		free(s->mounts[i].gid_map);
	}
	free(s->mounts);
	for (int k = 0; k < BO_HOOK_KINDS; k++) {
		for (size_t i = 0; i < s->n_hooks[k]; i++) {
			free(s->hooks[k][i].path);
			strv_free(s->hooks[k][i].args);
			strv_free(s->hooks[k][i].env);
		}
		free(s->hooks[k]);
	}
	for (size_t i = 0; i < s->n_namespaces; i++)
		free(s->namespaces[i].path);
	free(s->namespaces);
	free(s->uid_mappings);
	free(s->gid_mappings);
	for (size_t i = 0; i < s->n_sysctl; i++) {
		free(s->sysctl[i].key);
		free(s->sysctl[i].value);
	}
	free(s->sysctl);
	bo_resources_clear(&s->resources);
	free(s->cgroups_path);
	for (size_t i = 0; i < s->n_devices; i++)
		free(s->devices[i].path);
	free(s->devices);
	strv_free(s->masked_paths);
	strv_free(s->readonly_paths);
	if (s->doc != NULL)
		json_object_put(s->doc);
	free(s);
	return NULL;
}
