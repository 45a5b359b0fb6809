/* Control groups v1, v2 and hybrid: see bo/cgroup.h. */
#include "bo/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bo/devfilter.h"
#include "cr/cleanup.h"
#include "cr/util.h"

enum { MAX_HIER = 24 };

struct hier {
	char mount[256];
	char options[256]; /* v1: the super options, "rw,memory" */
	int v2;
};

/* Reads the cgroup mounts from mountinfo into h; returns their number. */
static int read_hierarchies(struct hier *h, int max)
{
	CR_CLEANUP_FCLOSE FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		char *sep = strstr(line, " - "), *mnt, *save = NULL, *fstype,
		     *src, *opts;
		int field = 0;

		if (sep == NULL)
			continue;
		*sep = '\0';
		mnt = NULL;
		for (char *t = strtok_r(line, " ", &save); t != NULL;
		     t = strtok_r(NULL, " ", &save))
			if (++field == 5)
				mnt = t;
		save = NULL;
		fstype = strtok_r(sep + 3, " ", &save);
		src = strtok_r(NULL, " ", &save);
		opts = strtok_r(NULL, " \n", &save);
		if (mnt == NULL || fstype == NULL || src == NULL)
			continue;
		if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
			continue;
		h[n].v2 = strcmp(fstype, "cgroup2") == 0;
		snprintf(h[n].mount, sizeof(h[n].mount), "%s", mnt);
		snprintf(h[n].options, sizeof(h[n].options), ",%s,",
			 opts != NULL ? opts : "");
		n++;
	}
	return n;
}

enum bo_cgroup_mode bo_cgroup_detect(void)
{
	struct hier h[MAX_HIER];
	int n = read_hierarchies(h, MAX_HIER), v1 = 0, v2 = 0;

	for (int i = 0; i < n; i++) {
		if (h[i].v2)
			v2 = 1;
		else
			v1 = 1;
	}
	if (v1 && v2)
		return BO_CGROUP_HYBRID;
	if (v1)
		return BO_CGROUP_V1;
	return v2 ? BO_CGROUP_V2 : BO_CGROUP_NONE;
}

const char *bo_cgroup_mode_name(enum bo_cgroup_mode m)
{
	static const char *const names[] = { "none", "v1", "v2", "hybrid" };

	return names[m];
}

static int has_controller(const struct hier *h, const char *ctrl)
{
	char want[64];

	if (h->v2) {
		char path[300], buf[512];
		CR_CLEANUP_FCLOSE FILE *f = NULL;

		snprintf(path, sizeof(path), "%s/cgroup.controllers", h->mount);
		f = fopen(path, "re");
		if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
			return 0;
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(want, sizeof(want), " %s ", ctrl);
		{
			char spaced[520];

			snprintf(spaced, sizeof(spaced), " %s ", buf);
			return strstr(spaced, want) != NULL;
		}
	}
	snprintf(want, sizeof(want), ",%s,", ctrl);
	return strstr(h->options, want) != NULL;
}

/* /proc/self/cgroup into buf ("" when unreadable): read once per
 * creation, not once per hierarchy (ten reads on a v1 host). */
static void read_own_cgroups(char *buf, size_t size)
{
	CR_CLEANUP_CLOSE int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	while (fd >= 0 && len + 1 < size) {
		ssize_t r = read(fd, buf + len, size - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
}

/* The runtime's own cgroup in hierarchy h ("/" when unknown), from the
 * text of /proc/self/cgroup. */
static void own_cgroup(const struct hier *h, const char *text, char *out,
		       size_t size)
{
	char line[1024];

	snprintf(out, size, "/");
	while (*text != '\0') {
		size_t ll = strcspn(text, "\n");
		char *c1, *c2;
		int match;

		snprintf(line, sizeof(line), "%.*s", (int)ll, text);
		text += ll + (text[ll] == '\n');
		c1 = strchr(line, ':');
		if (c1 == NULL)
			continue;
		c2 = strchr(c1 + 1, ':');
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		line[strcspn(line, "\n")] = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (h->v2) {
			match = c1[1] == '\0';
		} else {
			char list[300], want[64];
			const char *m = h->options;
			/* the hierarchy's controllers are in its options */
			snprintf(list, sizeof(list), ",%s,", c1 + 1);
			match = 0;
			for (const char *p = m + 1; *p != '\0';) {
				size_t len = strcspn(p, ",");

				if (len > 0 && len < sizeof(want) - 2) {
					snprintf(want, sizeof(want), ",%.*s,",
						 (int)len, p);
					if (strcmp(want, ",rw,") != 0 &&
					    strstr(list, want) != NULL)
						match = 1;
				}
				p += len;
				if (*p == ',')
					p++;
			}
		}
		if (match) {
			snprintf(out, size, "%s", c2 + 1);
			return;
		}
	}
}

static int write_file(const char *dir, const char *file, const char *value,
		      struct cr_error **err)
{
	char path[1100];
	CR_CLEANUP_CLOSE int fd = -1;
	size_t len = strlen(value);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cr_error_errno(err, errno, "cgroup: opening %s", path);
	if (write(fd, value, len) != (ssize_t)len)
		return cr_error_errno(err, errno, "cgroup: writing '%s' to %s",
				      value, path);
	return 0;
}

static int write_u64(const char *dir, const char *file, int64_t v,
		     struct cr_error **err)
{
	char buf[32];

	if (v < 0)
		snprintf(buf, sizeof(buf), "-1");
	else
		snprintf(buf, sizeof(buf), "%" PRId64, v);
	return write_file(dir, file, buf, err);
}

/* Copies cpuset.cpus and cpuset.mems from parent to child when empty, as
 * v1 requires before a task may join. */
static int cpuset_inherit(const char *dir, struct cr_error **err)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char parent[1024], path[1100], buf[1024];

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	for (int i = 0; i < 2; i++) {
		CR_CLEANUP_FREE char *cur = NULL;
		CR_CLEANUP_FREE char *pv = NULL;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (cr_read_file(path, sizeof(buf), &cur, &len, NULL) < 0)
			continue;
		if (strspn(cur, " \n") != len)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, files[i]);
		if (cr_read_file(path, sizeof(buf), &pv, &len, err) < 0)
			return -1;
		pv[strcspn(pv, "\n")] = '\0';
		if (write_file(dir, files[i], pv, err) < 0)
			return -1;
	}
	return 0;
}

/* mkdir -p of dir below its first base_len bytes (which exist),
 * initializing v1 cpusets on the way; *created gets 1 when the leaf was
 * made here. */
static int make_dirs(const struct hier *h, const char *dir, size_t base_len,
		     int *created, struct cr_error **err)
{
	char path[1024];

	*created = 0;
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + base_len + 1;; p++) {
		char save = *p;

		if (save != '/' && save != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) == 0) {
			*created = 1;
			if (!h->v2 && has_controller(h, "cpuset") &&
			    cpuset_inherit(path, err) < 0)
				return -1;
		} else if (errno != EEXIST) {
			return cr_error_errno(err, errno, "cgroup: mkdir %s",
					      path);
		} else {
			*created = 0;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	return 0;
}

/* Enables ctrl in cgroup.subtree_control of every ancestor of dir inside
 * the v2 hierarchy.  Failures are left for the limit's own write to
 * report, which names the field. */
static void v2_enable(const struct hier *h, const char *dir, const char *ctrl)
{
	char path[1024], val[64];
	size_t base = strlen(h->mount);

	snprintf(path, sizeof(path), "%s", dir);
	snprintf(val, sizeof(val), "+%s", ctrl);
	for (char *p = path + base;; p++) {
		char save = *p;

		if (save != '/' && save != '\0')
			continue;
		if (save == '\0')
			break;
		*p = '\0';
		write_file(path, "cgroup.subtree_control", val, NULL);
		*p = save;
	}
}

static int apply_memory(const struct hier *h, const char *dir,
			const struct bo_resources *r, struct cr_error **err)
{
	if (h->v2) {
		char buf[32];

		if (r->memory_limit >= 0) {
			snprintf(buf, sizeof(buf), "%" PRId64, r->memory_limit);
			if (write_file(dir, "memory.max", buf, err) < 0)
				return -1;
		}
		if (r->memory_reservation >= 0 &&
		    write_u64(dir, "memory.low", r->memory_reservation, err) < 0)
			return -1;
		if (r->memory_swap >= 0 && r->memory_limit >= 0) {
			int64_t sw = r->memory_swap - r->memory_limit;

			if (sw < 0)
				return cr_error_set(err, EINVAL,
						    "linux.resources.memory.swap:"
						    " smaller than the limit");
			if (write_u64(dir, "memory.swap.max", sw, err) < 0)
				return -1;
		}
		/* v2 dropped these knobs: the kernel reclaims by its own
		 * measure, memory.oom.group is another thing; kernelTCP
		 * is left out (deprecated; v2 counts socket buffers in
		 * memory.max). */
		if (r->has_swappiness)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.memory.swappiness: "
					    "cgroup v2 has no swappiness");
		if (r->has_use_hierarchy && !r->use_hierarchy)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.memory.useHierarchy:"
					    " cgroup v2 is always hierarchical");
		if (r->disable_oom_killer)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.memory."
					    "disableOOMKiller: cgroup v2 cannot "
					    "disable the OOM killer");
		return 0;
	}
	if (r->memory_limit != -1 &&
	    write_u64(dir, "memory.limit_in_bytes", r->memory_limit, err) < 0)
		return -1;
	if (r->memory_reservation != -1 &&
	    write_u64(dir, "memory.soft_limit_in_bytes", r->memory_reservation,
		      err) < 0)
		return -1;
	if (r->memory_swap != -1) {
		char path[1100];

		snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes",
			 dir);
		if (access(path, F_OK) != 0)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.memory.swap: this "
					    "kernel has no swap accounting");
		if (write_u64(dir, "memory.memsw.limit_in_bytes", r->memory_swap,
			      err) < 0)
			return -1;
	}
	/* The kernel takes it only while the cgroup has no task or child,
	 * as here at create (and since 5.x only 1: 0 is its EINVAL, named). */
	if (r->has_use_hierarchy &&
	    write_file(dir, "memory.use_hierarchy", r->use_hierarchy ? "1" : "0",
		       err) < 0)
		return cr_error_wrap(err, "linux.resources.memory.useHierarchy");
	if (r->has_kernel_tcp &&
	    write_u64(dir, "memory.kmem.tcp.limit_in_bytes", r->kernel_tcp,
		      err) < 0)
		return cr_error_wrap(err, "linux.resources.memory.kernelTCP");
	if (r->has_swappiness &&
	    write_u64(dir, "memory.swappiness", (int64_t)r->swappiness, err) < 0)
		return cr_error_wrap(err, "linux.resources.memory.swappiness");
	if (r->disable_oom_killer &&
	    write_file(dir, "memory.oom_control", "1", err) < 0)
		return cr_error_wrap(err,
				     "linux.resources.memory.disableOOMKiller");
	return 0;
}

/* The real-time bandwidth: v1 with CONFIG_RT_GROUP_SCHED only (v2 has
 * none).  The period first, as the runtime must fit in it; a parent
 * whose own runtime is smaller refuses (the kernel's EINVAL, named). */
static int apply_rt(const struct hier *h, const char *dir,
		    const struct bo_resources *r, struct cr_error **err)
{
	char path[1100];

	if (!r->has_rt_runtime && r->rt_period == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/cpu.rt_runtime_us", dir);
	if (h->v2 || access(path, F_OK) != 0)
		return cr_error_set(err, ENOTSUP,
				    "linux.resources.cpu.%s: no real-time "
				    "group scheduling here (cpu.rt_runtime_us)",
				    r->has_rt_runtime ? "realtimeRuntime"
						      : "realtimePeriod");
	if (r->rt_period != 0 &&
	    write_u64(dir, "cpu.rt_period_us", (int64_t)r->rt_period, err) < 0)
		return cr_error_wrap(err, "linux.resources.cpu.realtimePeriod");
	if (r->has_rt_runtime &&
	    write_u64(dir, "cpu.rt_runtime_us", r->rt_runtime, err) < 0)
		return cr_error_wrap(err, "linux.resources.cpu.realtimeRuntime");
	return 0;
}

/* cpu.burst (v1 cpu.cfs_burst_us, v2 cpu.max.burst; Linux 5.14) and
 * cpu.idle (both; 5.15): a kernel without the file refuses, named. */
static int apply_cpu_extra(const struct hier *h, const char *dir,
			   const struct bo_resources *r, struct cr_error **err)
{
	static const struct {
		const char *field, *v1, *v2;
	} files[2] = {
		{ "linux.resources.cpu.burst", "cpu.cfs_burst_us",
		  "cpu.max.burst" },
		{ "linux.resources.cpu.idle", "cpu.idle", "cpu.idle" },
	};
	const int has[2] = { r->has_cpu_burst, r->has_cpu_idle };
	const int64_t val[2] = { (int64_t)r->cpu_burst, r->cpu_idle };

	for (int i = 0; i < 2; i++) {
		const char *f = h->v2 ? files[i].v2 : files[i].v1;
		char path[1100];

		if (!has[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		if (access(path, F_OK) != 0)
			return cr_error_set(err, ENOTSUP,
					    "%s: this kernel has no %s",
					    files[i].field, f);
		if (write_u64(dir, f, val[i], err) < 0)
			return cr_error_wrap(err, "%s", files[i].field);
	}
	return 0;
}

static int apply_cpu(const struct hier *h, const char *dir,
		     const struct bo_resources *r, struct cr_error **err)
{
	char buf[64];

	if (h->v2) {
		if (apply_rt(h, dir, r, err) < 0 ||
		    apply_cpu_extra(h, dir, r, err) < 0)
			return -1;
		if (r->cpu_shares != 0) {
			uint64_t s = r->cpu_shares < 2 ? 2 : r->cpu_shares;
			uint64_t w = 1 + ((s - 2) * 9999) / 262142;

			if (w > 10000)
				w = 10000;
			if (write_u64(dir, "cpu.weight", (int64_t)w, err) < 0)
				return -1;
		}
		if (r->cpu_quota != 0 || r->cpu_period != 0) {
			uint64_t period = r->cpu_period ? r->cpu_period : 100000;

			if (r->cpu_quota > 0)
				snprintf(buf, sizeof(buf), "%" PRId64 " %" PRIu64,
					 r->cpu_quota, period);
			else
				snprintf(buf, sizeof(buf), "max %" PRIu64, period);
			if (write_file(dir, "cpu.max", buf, err) < 0)
				return -1;
		}
		return 0;
	}
	if (r->cpu_shares != 0 &&
	    write_u64(dir, "cpu.shares", (int64_t)r->cpu_shares, err) < 0)
		return -1;
	if (r->cpu_period != 0 &&
	    write_u64(dir, "cpu.cfs_period_us", (int64_t)r->cpu_period, err) < 0)
		return -1;
	if (r->cpu_quota != 0 &&
	    write_u64(dir, "cpu.cfs_quota_us", r->cpu_quota, err) < 0)
		return -1;
	if (apply_cpu_extra(h, dir, r, err) < 0)
		return -1;
	return apply_rt(h, dir, r, err);
}

/* A v1 devices.allow/deny line for d. */
static void devrule_line(const struct bo_devrule *d, char *buf, size_t size)
{
	char maj[24], min[24];

	if (d->major < 0)
		snprintf(maj, sizeof(maj), "*");
	else
		snprintf(maj, sizeof(maj), "%" PRId64, d->major);
	if (d->minor < 0)
		snprintf(min, sizeof(min), "*");
	else
		snprintf(min, sizeof(min), "%" PRId64, d->minor);
	if (d->type == 'a')
		snprintf(buf, size, "a");
	else
		snprintf(buf, size, "%c %s:%s %s", d->type, maj, min, d->access);
}

static int apply_devices(const char *dir, const struct bo_resources *r,
			 struct cr_error **err)
{
	char buf[96];

	/* The rules in order, as runc applies them on v1, then the default
	 * devices. */
	for (size_t i = 0; i < r->n_devrules + bo_devfilter_n_defaults; i++) {
		const struct bo_devrule *d =
			i < r->n_devrules
				? &r->devrules[i]
				: &bo_devfilter_defaults[i - r->n_devrules];

		devrule_line(d, buf, sizeof(buf));
		if (write_file(dir, d->allow ? "devices.allow" : "devices.deny",
			       buf, err) < 0)
			return -1;
	}
	return 0;
}

/* v1 names the limit hugetlb.<size>.limit_in_bytes, v2 hugetlb.<size>.max;
 * a page size the kernel does not have is an error naming it. */
static int apply_hugepages(const struct hier *h, const char *dir,
			   const struct bo_resources *r, struct cr_error **err)
{
	for (size_t i = 0; i < r->n_hugepages; i++) {
		char name[64], path[1024];

		snprintf(name, sizeof(name), "hugetlb.%s.%s",
			 r->hugepages[i].page_size,
			 h->v2 ? "max" : "limit_in_bytes");
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (access(path, F_OK) < 0)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.hugepageLimits[%zu]: "
					    "this kernel has no %s pages",
					    i, r->hugepages[i].page_size);
		if (write_u64(dir, name, (int64_t)r->hugepages[i].limit, err) < 0)
			return -1;
		/* The spec asks for the reservation limit where the kernel
		 * has one (5.7): written too, as runc does. */
		snprintf(name, sizeof(name), "hugetlb.%s.rsvd.%s",
			 r->hugepages[i].page_size,
			 h->v2 ? "max" : "limit_in_bytes");
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (access(path, F_OK) == 0 &&
		    write_u64(dir, name, (int64_t)r->hugepages[i].limit, err) < 0)
			return -1;
	}
	return 0;
}

/* unified: each file written as given, its controller enabled first; a
 * file the kernel does not have is an error naming the key. */
/* The first of two files dir has (BFQ's weights are named apart), or
 * NULL. */
static const char *first_file(const char *dir, const char *a, const char *b)
{
	char path[1100];

	snprintf(path, sizeof(path), "%s/%s", dir, a);
	if (access(path, F_OK) == 0)
		return a;
	snprintf(path, sizeof(path), "%s/%s", dir, b);
	return b != NULL && access(path, F_OK) == 0 ? b : NULL;
}

/* runc's mapping of a blkio weight (10..1000) to io.weight (1..10000). */
static uint64_t io_weight(uint16_t w)
{
	return 1 + ((uint64_t)w - 10) * 9999 / 990;
}

static int blkio_weights(const struct hier *h, const char *dir,
			 const struct bo_resources *r, struct cr_error **err)
{
	const char *wf, *lf = NULL;
	char buf[96], file[64];

	/* BFQ's file takes the blkio range as it is, in v1 and v2 (runc
	 * prefers it); else v1's CFQ file, or v2's io.weight converted. */
	wf = h->v2 ? first_file(dir, "io.bfq.weight", "io.weight")
		   : first_file(dir, "blkio.bfq.weight", "blkio.weight");
	if (!h->v2)
		lf = first_file(dir, "blkio.leaf_weight", NULL);
	if (r->blkio_weight != 0) {
		if (wf == NULL)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.blockIO.weight: no "
					    "%s here (the disks' I/O scheduler "
					    "has no weights: BFQ does)",
					    h->v2 ? "io.weight" : "blkio.weight");
		if (strcmp(wf, "io.weight") == 0)
			snprintf(buf, sizeof(buf), "default %" PRIu64,
				 io_weight(r->blkio_weight));
		else
			snprintf(buf, sizeof(buf), "%u", r->blkio_weight);
		if (write_file(dir, wf, buf, err) < 0)
			return cr_error_wrap(err, "linux.resources.blockIO.weight");
	}
	if (r->blkio_leaf_weight != 0) {
		if (lf == NULL)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.blockIO.leafWeight: "
					    "no blkio.leaf_weight here (CFQ's, "
					    "gone since Linux 5.0; cgroup v2 has "
					    "none)");
		snprintf(buf, sizeof(buf), "%u", r->blkio_leaf_weight);
		if (write_file(dir, lf, buf, err) < 0)
			return cr_error_wrap(err,
					     "linux.resources.blockIO.leafWeight");
	}
	for (size_t i = 0; i < r->n_weight_devices; i++) {
		const struct bo_blkio_dev *d = &r->weight_devices[i];

		if (d->weight != 0) {
			if (wf == NULL)
				return cr_error_set(err, ENOTSUP,
						    "linux.resources.blockIO."
						    "weightDevice[%zu]: no per-"
						    "device weights here",
						    i);
			if (strcmp(wf, "io.weight") == 0)
				snprintf(buf, sizeof(buf),
					 "%" PRId64 ":%" PRId64 " %" PRIu64,
					 d->major, d->minor, io_weight(d->weight));
			else
				snprintf(buf, sizeof(buf),
					 "%" PRId64 ":%" PRId64 " %u", d->major,
					 d->minor, d->weight);
			/* v1 has a _device file beside each weight; v2's
			 * weight files take "MAJ:MIN W" lines themselves. */
			snprintf(file, sizeof(file), "%s%s", wf,
				 h->v2 ? "" : "_device");
			if (write_file(dir, file, buf, err) < 0)
				return cr_error_wrap(err,
						     "linux.resources.blockIO."
						     "weightDevice[%zu]",
						     i);
		}
		if (d->leaf_weight != 0) {
			if (lf == NULL)
				return cr_error_set(err, ENOTSUP,
						    "linux.resources.blockIO."
						    "weightDevice[%zu].leafWeight:"
						    " no blkio.leaf_weight_device "
						    "here",
						    i);
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %u",
				 d->major, d->minor, d->leaf_weight);
			if (write_file(dir, "blkio.leaf_weight_device", buf,
				       err) < 0)
				return cr_error_wrap(err,
						     "linux.resources.blockIO."
						     "weightDevice[%zu]",
						     i);
		}
	}
	return 0;
}

/* blockIO: v1's blkio files, or v2's io.weight and io.max.  A device
 * the kernel does not know is its ENODEV, named. */
static int apply_blkio(const struct hier *h, const char *dir,
		       const struct bo_resources *r, struct cr_error **err)
{
	static const char *const v1_files[BO_THROTTLES] = {
		"blkio.throttle.read_bps_device",
		"blkio.throttle.write_bps_device",
		"blkio.throttle.read_iops_device",
		"blkio.throttle.write_iops_device",
	};
	static const char *const v2_keys[BO_THROTTLES] = {
		"rbps", "wbps", "riops", "wiops",
	};
	char buf[96];

	if (blkio_weights(h, dir, r, err) < 0)
		return -1;
	for (int k = 0; k < BO_THROTTLES; k++) {
		for (size_t i = 0; i < r->n_throttle[k]; i++) {
			const struct bo_blkio_dev *d = &r->throttle[k][i];

			/* A rate of 0 lifts the limit, as in v1. */
			if (h->v2 && d->rate == 0)
				snprintf(buf, sizeof(buf),
					 "%" PRId64 ":%" PRId64 " %s=max",
					 d->major, d->minor, v2_keys[k]);
			else if (h->v2)
				snprintf(buf, sizeof(buf),
					 "%" PRId64 ":%" PRId64 " %s=%" PRIu64,
					 d->major, d->minor, v2_keys[k], d->rate);
			else
				snprintf(buf, sizeof(buf),
					 "%" PRId64 ":%" PRId64 " %" PRIu64,
					 d->major, d->minor, d->rate);
			if (write_file(dir, h->v2 ? "io.max" : v1_files[k], buf,
				       err) < 0)
				return cr_error_wrap(err,
						     "linux.resources.blockIO.%s"
						     "[%zu]",
						     bo_throttle_names[k], i);
		}
	}
	return 0;
}

static int apply_net_cls(const char *dir, const struct bo_resources *r,
			 struct cr_error **err)
{
	if (write_u64(dir, "net_cls.classid", r->net_classid, err) < 0)
		return cr_error_wrap(err, "linux.resources.network.classID");
	return 0;
}

static int apply_net_prio(const char *dir, const struct bo_resources *r,
			  struct cr_error **err)
{
	char buf[64];

	for (size_t i = 0; i < r->n_net_priorities; i++) {
		snprintf(buf, sizeof(buf), "%s %s", r->net_priorities[i].key,
			 r->net_priorities[i].value);
		if (write_file(dir, "net_prio.ifpriomap", buf, err) < 0)
			return cr_error_wrap(err,
					     "linux.resources.network."
					     "priorities[%zu]",
					     i);
	}
	return 0;
}

/* rdma.max: "DEVICE hca_handle=N hca_object=N", the keys given. */
static int apply_rdma(const char *dir, const struct bo_resources *r,
		      struct cr_error **err)
{
	for (size_t i = 0; i < r->n_rdma; i++) {
		const struct bo_rdma *d = &r->rdma[i];
		char buf[160];
		int n = snprintf(buf, sizeof(buf), "%s", d->device);

		if (d->hca_handles >= 0)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
				      " hca_handle=%" PRId64, d->hca_handles);
		if (d->hca_objects >= 0)
			snprintf(buf + n, sizeof(buf) - (size_t)n,
				 " hca_object=%" PRId64, d->hca_objects);
		if ((d->hca_handles >= 0 || d->hca_objects >= 0) &&
		    write_file(dir, "rdma.max", buf, err) < 0)
			return cr_error_wrap(err, "linux.resources.rdma.%s",
					     d->device);
	}
	return 0;
}

static int apply_unified(const struct hier *h, const char *dir,
			 const struct bo_resources *r, struct cr_error **err)
{
	for (size_t i = 0; i < r->n_unified; i++) {
		const char *key = r->unified[i].key;
		char ctrl[64], path[1024];
		size_t len = strcspn(key, ".");

		if (len < sizeof(ctrl) && strncmp(key, "cgroup.", 7) != 0) {
			memcpy(ctrl, key, len);
			ctrl[len] = '\0';
			v2_enable(h, dir, ctrl);
		}
		snprintf(path, sizeof(path), "%s/%s", dir, key);
		if (access(path, F_OK) < 0)
			return cr_error_set(err, ENOTSUP,
					    "linux.resources.unified.%s: no such "
					    "cgroup v2 file here",
					    key);
		if (write_file(dir, key, r->unified[i].value, err) < 0)
			return -1;
	}
	return 0;
}

static int asks_memory(const struct bo_resources *r)
{
	return r->memory_limit != -1 || r->memory_reservation != -1 ||
	       r->memory_swap != -1 || r->has_swappiness ||
	       r->disable_oom_killer || r->has_use_hierarchy ||
	       r->has_kernel_tcp;
}

static int asks_cpu(const struct bo_resources *r)
{
	return r->cpu_shares || r->cpu_quota || r->cpu_period ||
	       r->has_rt_runtime || r->rt_period || r->has_cpu_burst ||
	       r->has_cpu_idle;
}

static int asks_blkio(const struct bo_resources *r)
{
	int n = r->blkio_weight || r->blkio_leaf_weight || r->n_weight_devices;

	for (int k = 0; k < BO_THROTTLES; k++)
		n |= r->n_throttle[k] > 0;
	return n;
}

static int apply(const struct hier *h, const char *dir,
		 const struct bo_resources *r, int devices_bpf, int *done,
		 struct cr_error **err)
{
	int mem = asks_memory(r), cpu = asks_cpu(r), blkio = asks_blkio(r);
	int cpuset = r->cpus != NULL || r->mems != NULL;

	if (mem && has_controller(h, "memory")) {
		if (h->v2)
			v2_enable(h, dir, "memory");
		if (apply_memory(h, dir, r, err) < 0)
			return -1;
		done[0] = 1;
	}
	if (r->pids_limit != 0 && has_controller(h, "pids")) {
		if (h->v2)
			v2_enable(h, dir, "pids");
		if (r->pids_limit < 0) {
			if (write_file(dir, "pids.max", "max", err) < 0)
				return -1;
		} else if (write_u64(dir, "pids.max", r->pids_limit, err) < 0) {
			return -1;
		}
		done[1] = 1;
	}
	if (cpu && has_controller(h, "cpu")) {
		if (h->v2)
			v2_enable(h, dir, "cpu");
		if (apply_cpu(h, dir, r, err) < 0)
			return -1;
		done[2] = 1;
	}
	if (cpuset && has_controller(h, "cpuset")) {
		if (h->v2)
			v2_enable(h, dir, "cpuset");
		if (r->cpus != NULL && r->cpus[0] != '\0' &&
		    write_file(dir, "cpuset.cpus", r->cpus, err) < 0)
			return -1;
		if (r->mems != NULL && r->mems[0] != '\0' &&
		    write_file(dir, "cpuset.mems", r->mems, err) < 0)
			return -1;
		done[3] = 1;
	}
	if (r->n_hugepages > 0 && has_controller(h, "hugetlb")) {
		if (h->v2)
			v2_enable(h, dir, "hugetlb");
		if (apply_hugepages(h, dir, r, err) < 0)
			return -1;
		done[5] = 1;
	}
	if (blkio && has_controller(h, h->v2 ? "io" : "blkio")) {
		if (h->v2)
			v2_enable(h, dir, "io");
		if (apply_blkio(h, dir, r, err) < 0)
			return -1;
		done[7] = 1;
	}
	/* net_cls and net_prio are v1 only; they are often one hierarchy. */
	if (r->has_classid && !h->v2 && has_controller(h, "net_cls")) {
		if (apply_net_cls(dir, r, err) < 0)
			return -1;
		done[8] = 1;
	}
	if (r->n_net_priorities > 0 && !h->v2 && has_controller(h, "net_prio")) {
		if (apply_net_prio(dir, r, err) < 0)
			return -1;
		done[9] = 1;
	}
	if (r->n_rdma > 0 && has_controller(h, "rdma")) {
		if (h->v2)
			v2_enable(h, dir, "rdma");
		if (apply_rdma(dir, r, err) < 0)
			return -1;
		done[10] = 1;
	}
	if (h->v2 && r->n_unified > 0) {
		if (apply_unified(h, dir, r, err) < 0)
			return -1;
		done[6] = 1;
	}
	if (!h->v2 && r->n_devrules > 0 && has_controller(h, "devices")) {
		if (apply_devices(dir, r, err) < 0)
			return -1;
		done[4] = 1;
	}
	if (h->v2 && r->n_devrules > 0 && devices_bpf) {
		/* v2 has no devices controller, only a program per cgroup. */
		if (bo_devfilter_attach(dir, r->devrules, r->n_devrules, err) < 0)
			return -1;
		done[4] = 1;
	}
	return 0;
}

/* A resource asked for whose controller no hierarchy holds is an error
 * naming it. */
static int check_applied(const struct bo_resources *r, const int *done,
			 struct cr_error **err)
{
	static const struct {
		int done;
		const char *name, *ctrl;
	} checks[] = {
		{ 0, "linux.resources.memory", "memory" },
		{ 1, "linux.resources.pids", "pids" },
		{ 2, "linux.resources.cpu", "cpu" },
		{ 3, "linux.resources.cpu.cpus", "cpuset" },
		{ 7, "linux.resources.blockIO", "blkio (v1) or io (v2)" },
		{ 8, "linux.resources.network.classID", "net_cls (cgroup v1)" },
		{ 9, "linux.resources.network.priorities",
		  "net_prio (cgroup v1)" },
		{ 10, "linux.resources.rdma", "rdma" },
	};
	const int asked[] = {
		asks_memory(r),		   r->pids_limit != 0,
		asks_cpu(r),		   r->cpus != NULL || r->mems != NULL,
		asks_blkio(r),		   r->has_classid,
		r->n_net_priorities > 0, r->n_rdma > 0,
	};

	if (r->n_unified > 0 && !done[6])
		return cr_error_set(err, ENOTSUP,
				    "linux.resources.unified: no cgroup v2 "
				    "hierarchy on this host");
	if (r->n_hugepages > 0 && !done[5])
		return cr_error_set(err, ENOTSUP,
				    "linux.resources.hugepageLimits: no hugetlb "
				    "controller on this host");
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (asked[i] && !done[checks[i].done])
			return cr_error_set(err, ENOTSUP,
					    "%s: no %s controller on this host",
					    checks[i].name, checks[i].ctrl);
	return 0;
}

void bo_cgroup_dirs_free(char **dirs)
{
	if (dirs == NULL)
		return;
	for (char **p = dirs; *p != NULL; p++)
		free(*p);
	free(dirs);
}

/* Where pid was before bo_cgroup_create moved it: our own cgroup in h. */
static void cgroup_move_back(const struct hier *h, const char *pidbuf)
{
	char own[400], dir[700], text[4096];
	struct cr_error *ignored = NULL;

	read_own_cgroups(text, sizeof(text));
	own_cgroup(h, text, own, sizeof(own));
	snprintf(dir, sizeof(dir), "%s%s", h->mount,
		 strcmp(own, "/") == 0 ? "" : own);
	write_file(dir, "cgroup.procs", pidbuf, &ignored);
	cr_error_free(ignored);
}

int bo_cgroup_create(const char *cgroups_path, const struct bo_resources *r,
		     pid_t pid, char ***dirs_out, struct cr_error **err)
{
	struct hier h[MAX_HIER];
	int n = read_hierarchies(h, MAX_HIER), done[11] = { 0 }, devices_bpf = 1;
	char **dirs = calloc((size_t)n + 1, sizeof(char *)), pidbuf[32];
	char owntext[4096];
	int hi[MAX_HIER];
	size_t nd = 0, joined = 0;

	if (dirs == NULL)
		return cr_error_errno(err, ENOMEM, "cgroup");
	owntext[0] = '\0';
	if (cgroups_path[0] != '/')
		read_own_cgroups(owntext, sizeof(owntext));
	/* Device rules go to v1's devices controller where a hierarchy has
	 * it (hybrid hosts too), else to a program on the v2 cgroup. */
	for (int i = 0; i < n; i++)
		if (!h[i].v2 && has_controller(&h[i], "devices"))
			devices_bpf = 0;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	/* Every limit is in place before the process joins any of the
	 * folders, so that a limit the kernel refuses leaves empty folders
	 * that can be removed. */
	for (int i = 0; i < n; i++) {
		char base[700], dir[1024];
		int created;

		if (cgroups_path[0] == '/') {
			memcpy(base, h[i].mount, sizeof(h[i].mount));
		} else {
			char own[400];

			own_cgroup(&h[i], owntext, own, sizeof(own));
			if (snprintf(base, sizeof(base), "%s%s", h[i].mount,
				     strcmp(own, "/") == 0 ? "" : own) >=
			    (int)sizeof(base)) {
				cr_error_set(err, ENAMETOOLONG,
					     "cgroup path too long");
				goto fail;
			}
		}
		if (snprintf(dir, sizeof(dir), "%s/%s", base,
			     cgroups_path + (cgroups_path[0] == '/')) >=
		    (int)sizeof(dir) - 1) {
			cr_error_set(err, ENAMETOOLONG, "cgroup path too long");
			goto fail;
		}
		if (make_dirs(&h[i], dir, strlen(base), &created, err) < 0)
			goto fail;
		dirs[nd] = strdup(dir);
		if (dirs[nd] == NULL) {
			cr_error_errno(err, ENOMEM, "cgroup");
			goto fail;
		}
		hi[nd++] = i;
		if (apply(&h[i], dir, r, devices_bpf, done, err) < 0)
			goto fail;
	}
	if (check_applied(r, done, err) < 0)
		goto fail;
	for (joined = 0; joined < nd; joined++)
		if (write_file(dirs[joined], "cgroup.procs", pidbuf, err) < 0)
			goto fail;
	*dirs_out = dirs;
	return 0;
fail:
	for (size_t i = 0; i < nd; i++) {
		if (i < joined)
			cgroup_move_back(&h[hi[i]], pidbuf);
		rmdir(dirs[i]);
	}
	bo_cgroup_dirs_free(dirs);
	return -1;
}

static int read_u64(const char *dir, const char *file, uint64_t *out);

/* memory.checkBeforeUpdate: a new limit below what the container uses
 * now is refused instead of sending it into reclaim or the OOM killer. */
static int check_memory_usage(char *const *dirs, const struct bo_resources *r,
			      struct cr_error **err)
{
	if (!r->check_before_update || r->memory_limit <= 0)
		return 0;
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		uint64_t used;

		if (read_u64(dirs[i], "memory.usage_in_bytes", &used) < 0 &&
		    read_u64(dirs[i], "memory.current", &used) < 0)
			continue;
		if ((uint64_t)r->memory_limit < used)
			return cr_error_set(err, EBUSY,
					    "linux.resources.memory.limit: %" PRId64
					    " is below the %" PRIu64
					    " bytes in use (checkBeforeUpdate)",
					    r->memory_limit, used);
		return 0;
	}
	return 0;
}

int bo_cgroup_update(char *const *dirs, const struct bo_resources *r,
		     struct cr_error **err)
{
	struct hier h[MAX_HIER];
	struct bo_resources limits = *r;
	int n = read_hierarchies(h, MAX_HIER), done[11] = { 0 };

	/* Device rules are set once, at create (as in runc). */
	limits.devrules = NULL;
	limits.n_devrules = 0;
	if (check_memory_usage(dirs, r, err) < 0)
		return -1;
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		const struct hier *best = NULL;
		size_t best_len = 0;

		for (int k = 0; k < n; k++) {
			size_t len = strlen(h[k].mount);

			if (strncmp(dirs[i], h[k].mount, len) == 0 &&
			    dirs[i][len] == '/' && len > best_len) {
				best = &h[k];
				best_len = len;
			}
		}
		if (best != NULL && apply(best, dirs[i], &limits, 0, done, err) < 0)
			return -1;
	}
	return check_applied(&limits, done, err);
}

int bo_cgroup_join(char *const *dirs, pid_t pid, struct cr_error **err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++)
		if (write_file(dirs[i], "cgroup.procs", buf, err) < 0)
			return -1;
	return 0;
}

int bo_cgroup_pids(char *const *dirs, pid_t **pids, size_t *n,
		   struct cr_error **err)
{
	char path[1100];
	CR_CLEANUP_FCLOSE FILE *f = NULL;
	size_t cap = 0;
	long v;

	*pids = NULL;
	*n = 0;
	if (dirs == NULL || dirs[0] == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dirs[0]);
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0
				       : cr_error_errno(err, errno, "reading %s",
							path);
	while (fscanf(f, "%ld", &v) == 1) {
		if (*n == cap) {
			pid_t *p = realloc(*pids, (cap * 2 + 16) * sizeof(pid_t));

			if (p == NULL) {
				free(*pids);
				*pids = NULL;
				return cr_error_errno(err, ENOMEM, "cgroup");
			}
			*pids = p;
			cap = cap * 2 + 16;
		}
		(*pids)[(*n)++] = (pid_t)v;
	}
	return 0;
}

/* The number in dir/file ("max" reads as 0); -1 when there is no such
 * file. */
static int read_u64(const char *dir, const char *file, uint64_t *out)
{
	char path[1100], buf[64];
	CR_CLEANUP_FCLOSE FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
		return -1;
	if (strncmp(buf, "max", 3) == 0) {
		*out = 0;
		return 0;
	}
	return sscanf(buf, "%" SCNu64, out) == 1 ? 0 : -1;
}

/* The value of key in a "key value" file (cpu.stat, memory.events). */
static int read_keyed(const char *dir, const char *file, const char *key,
		      uint64_t *out)
{
	char path[1100], line[256];
	CR_CLEANUP_FCLOSE FILE *f = NULL;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return sscanf(line + klen + 1, "%" SCNu64, out) == 1 ? 0
									   : -1;
	return -1;
}

void bo_cgroup_stats(char *const *dirs, struct bo_cgroup_stats *s)
{
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t tick = hz > 0 ? 1000000000ULL / (uint64_t)hz : 10000000ULL;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		const char *d = dirs[i];
		uint64_t v;

		if (!s->has_cpu && read_u64(d, "cpuacct.usage", &v) == 0) {
			s->has_cpu = 1;
			s->cpu_total_ns = v;
			if (read_keyed(d, "cpuacct.stat", "user", &v) == 0)
				s->cpu_user_ns = v * tick;
			if (read_keyed(d, "cpuacct.stat", "system", &v) == 0)
				s->cpu_kernel_ns = v * tick;
		}
		if (!s->has_memory &&
		    read_u64(d, "memory.usage_in_bytes", &v) == 0) {
			s->has_memory = 1;
			s->mem_usage = v;
			read_u64(d, "memory.max_usage_in_bytes", &s->mem_max_usage);
			read_u64(d, "memory.limit_in_bytes", &s->mem_limit);
			read_u64(d, "memory.failcnt", &s->mem_failcnt);
			read_keyed(d, "memory.oom_control", "oom_kill",
				   &s->oom_kills);
		}
		if (!s->has_pids && read_u64(d, "pids.current", &v) == 0) {
			s->has_pids = 1;
			s->pids_current = v;
			read_u64(d, "pids.max", &s->pids_limit);
		}
	}
	/* v2: the same from the unified hierarchy's files */
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		const char *d = dirs[i];
		uint64_t v;

		if (!s->has_cpu && read_keyed(d, "cpu.stat", "usage_usec", &v) == 0) {
			s->has_cpu = 1;
			s->cpu_total_ns = v * 1000;
			if (read_keyed(d, "cpu.stat", "user_usec", &v) == 0)
				s->cpu_user_ns = v * 1000;
			if (read_keyed(d, "cpu.stat", "system_usec", &v) == 0)
				s->cpu_kernel_ns = v * 1000;
		}
		if (!s->has_memory && read_u64(d, "memory.current", &v) == 0) {
			s->has_memory = 1;
			s->mem_usage = v;
			read_u64(d, "memory.peak", &s->mem_max_usage);
			read_u64(d, "memory.max", &s->mem_limit);
			read_keyed(d, "memory.events", "max", &s->mem_failcnt);
			read_keyed(d, "memory.events", "oom_kill", &s->oom_kills);
		}
	}
}

int bo_cgroup_destroy(char *const *dirs, struct cr_error **err)
{
	int rc = 0;

	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		int tries = 0;

		while (rmdir(dirs[i]) < 0) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };

			if (errno == ENOENT)
				break;
			if (errno != EBUSY || ++tries > 200) {
				rc = cr_error_errno(err, errno, "cgroup: rmdir %s",
						    dirs[i]);
				break;
			}
			nanosleep(&ts, NULL);
		}
	}
	return rc;
}

/* The file that freezes dir's cgroup and the values it takes, or NULL. */
static const char *freeze_file(const char *dir, const char **on,
			       const char **off)
{
	char path[1100];

	snprintf(path, sizeof(path), "%s/freezer.state", dir);
	if (access(path, F_OK) == 0) {
		*on = "FROZEN";
		*off = "THAWED";
		return "freezer.state";
	}
	snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	if (access(path, F_OK) == 0) {
		*on = "1";
		*off = "0";
		return "cgroup.freeze";
	}
	return NULL;
}

static int read_word(const char *dir, const char *file, char *out, size_t size)
{
	char path[1100];
	CR_CLEANUP_FCLOSE FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (f == NULL || fgets(out, (int)size, f) == NULL)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

int bo_cgroup_freeze(char *const *dirs, int freeze, struct cr_error **err)
{
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		const char *on, *off, *file = freeze_file(dirs[i], &on, &off);
		const char *want = freeze ? on : off;
		char got[32];

		if (file == NULL)
			continue;
		if (write_file(dirs[i], file, want, err) < 0)
			return -1;
		/* v1 passes through FREEZING; v2 reports in cgroup.events. */
		for (int tries = 0; tries < 1000; tries++) {
			struct timespec ts = { 0, 1000 * 1000 };

			if (strcmp(file, "freezer.state") != 0) {
				char ev[256];
				char path[1100];
				CR_CLEANUP_FCLOSE FILE *f = NULL;
				int frozen = -1;

				snprintf(path, sizeof(path), "%s/cgroup.events",
					 dirs[i]);
				f = fopen(path, "re");
				while (f != NULL && fgets(ev, sizeof(ev), f) != NULL)
					if (strncmp(ev, "frozen ", 7) == 0)
						frozen = ev[7] == '1';
				if (frozen < 0 || frozen == freeze)
					break;
			} else if (read_word(dirs[i], file, got, sizeof(got)) == 0 &&
				   strcmp(got, want) == 0) {
				break;
			} else if (freeze) {
				write_file(dirs[i], file, want, NULL);
			}
			nanosleep(&ts, NULL);
		}
		return 0;
	}
	return cr_error_set(err, ENOTSUP,
			    "no freezer: neither a v1 freezer hierarchy nor "
			    "v2's cgroup.freeze");
}

int bo_cgroup_frozen(char *const *dirs)
{
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		const char *on, *off, *file = freeze_file(dirs[i], &on, &off);
		char got[32];

		if (file == NULL)
			continue;
		return read_word(dirs[i], file, got, sizeof(got)) == 0 &&
		       strcmp(got, on) == 0;
	}
	return 0;
}

static int mountpoint_in(const struct hier *h, int n, const char *dir,
			 char *out, size_t size)
{
	int best = -1;
	size_t best_len = 0;

	for (int i = 0; i < n; i++) {
		size_t len = strlen(h[i].mount);

		if (strncmp(dir, h[i].mount, len) == 0 &&
		    (dir[len] == '/' || dir[len] == '\0') && len > best_len) {
			best = i;
			best_len = len;
		}
	}
	if (best < 0)
		return -1;
	snprintf(out, size, "%s", h[best].mount);
	return 0;
}

int bo_cgroup_mountpoint(const char *dir, char *out, size_t size)
{
	struct hier h[MAX_HIER];
	int n = read_hierarchies(h, MAX_HIER);

	return mountpoint_in(h, n, dir, out, size);
}

void bo_cgroup_mountpoints(char *const *dirs, char *out, size_t size)
{
	struct hier h[MAX_HIER];
	int n = read_hierarchies(h, MAX_HIER);

	for (size_t i = 0; dirs[i] != NULL; i++)
		if (mountpoint_in(h, n, dirs[i], out + i * size, size) < 0)
			out[i * size] = '\0';
}

char *bo_cgroup_path_from_systemd(const char *path)
{
	const char *c1 = strchr(path, ':'), *c2;
	char buf[1024];

	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
		return strdup(path);
	snprintf(buf, sizeof(buf), "/%.*s/%.*s-%s.scope", (int)(c1 - path),
		 path, (int)(c2 - c1 - 1), c1 + 1, c2 + 1);
	return strdup(buf);
}
