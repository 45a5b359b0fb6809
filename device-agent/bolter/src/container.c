/*
 * The runc commands: see bo/container.h.
 *
 * create forks twice.  The first child (C1) joins or creates the
 * namespaces (asking the runtime to write the id maps of a new user
 * namespace), then forks the container's init (C2) so that a new pid
 * namespace applies to it, reports C2's pid and exits.  C2 builds the root
 * filesystem, reports "ready" and blocks opening exec.fifo for writing; the
 * open returns when `start` opens the fifo for reading, and C2 then execs
 * the program.  Runtime and children talk over a SOCK_SEQPACKET pair: one
 * datagram per message, a type byte and a payload.
 */
#include "bo/container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bo/cgroup.h"
#include "bo/checkpoint.h"
#include "bo/hooks.h"
#include "bo/linux.h"
#include "bo/state.h"
#include "bo/mountapi.h"
#include "cr/cleanup.h"
#include "cr/util.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

enum { MSG_MAX = 256 * 1024 };

enum {
	MSG_GO = 'G',
	MSG_USERNS = 'U', /* C1: write my id maps */
	MSG_PID = 'P',    /* C1: C2's pid */
	MSG_STATE = 'S',  /* runtime: state JSON, go on */
	MSG_READY = 'R',  /* C2: set up, waiting on the fifo */
	MSG_ERROR = 'E',  /* a child: message */
	MSG_SECCOMP = 'N', /* C2: the seccomp notify fd (SCM_RIGHTS) */
	MSG_MOUNTFD = 'M', /* runtime: an idmapped tree for mounts[index] */
};

/* dir/name into out; truncation cannot happen with PATH_MAX buffers and
 * names bolter chose, and is an error if it does. */
__attribute__((noinline)) static int pjoin(char *out, size_t size,
					   const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int msg_send(int fd, char type, const void *data, size_t len)
{
	char *buf = malloc(len + 1);
	ssize_t w;

	if (buf == NULL)
		return -1;
	buf[0] = type;
	if (len > 0)
		memcpy(buf + 1, data, len);
	do
		w = send(fd, buf, len + 1, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	free(buf);
	return w == (ssize_t)(len + 1) ? 0 : -1;
}

/* A message of type alone, carrying the descriptor passed. */
static int msg_send_fd(int fd, char type, int passed)
{
	return bo_linux_send_fd(fd, passed, &type, 1) == 1 ? 0 : -1;
}

/* Like msg_recv, and *passed gets a descriptor that came with the
 * message (close-on-exec), or -1. */
static int msg_recv_fd(int fd, char *buf, size_t size, size_t *len,
		       int *passed)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, size - 1 };
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t r;

	*passed = -1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return (int)r;
	c = CMSG_FIRSTHDR(&msg);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(passed, CMSG_DATA(c), sizeof(int));
	buf[r] = '\0';
	if (len != NULL)
		*len = (size_t)r - 1;
	return (unsigned char)buf[0];
}

/* Receives one message into buf (NUL-terminated payload); returns the
 * type, 0 on EOF, -1 on error. */
static int msg_recv(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t r;

	do
		r = recv(fd, buf, size - 1, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return (int)r;
	buf[r] = '\0';
	if (len != NULL)
		*len = (size_t)r - 1;
	return (unsigned char)buf[0];
}

/*
 * The last word of a container process that fails after the runtime
 * stopped listening (after "ready", start waits only for the fifo and exec
 * only for the pid), or when the runtime is gone: like runc's and crun's,
 * it goes to the process's own stderr, the one place its user looks.  This
 * runs in the child only, never in the library's caller.
 */
static _Noreturn void child_die(const struct cr_error *e, int status)
{
	const char *m = cr_error_msg(e);
	struct iovec v[3] = {
		{ (void *)"bolter: ", 8 },
		{ (void *)m, strlen(m) },
		{ (void *)"\n", 1 },
	};

	if (writev(2, v, 3) < 0)
		_exit(status);
	_exit(status);
}

/* A child's way out: the error goes to the runtime, which reports it. */
static _Noreturn void child_fail(int fd, struct cr_error *e)
{
	const char *m = cr_error_msg(e);

	if (msg_send(fd, MSG_ERROR, m, strlen(m)) < 0)
		child_die(e, 1);
	_exit(1);
}

/* Hands a warning to the caller (bo_opts.warn). */
static void warn(const struct bo_opts *o, const struct cr_error *e)
{
	if (o->warn != NULL)
		o->warn(o->warn_arg, cr_error_msg(e));
}

static void rm_rf(const char *path)
{
	char cmd[PATH_MAX];
	DIR *d;

	/* The state folder holds only plain files. */
	d = opendir(path);
	if (d != NULL) {
		struct dirent *e;

		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(cmd, sizeof(cmd), "%s/%s", path, e->d_name);
			unlink(cmd);
		}
		closedir(d);
	}
	rmdir(path);
}

/*
 * The time now in RFC 3339, UTC.  Computed here rather than with
 * gmtime_r, whose first call in glibc loads the time zone (/etc/localtime:
 * seven system calls a create does not need).  Days to a civil date: the
 * proleptic Gregorian algorithm (H. Hinnant, "chrono-compatible low-level
 * date algorithms").
 */
static void now_rfc3339(char *buf, size_t size)
{
	struct timespec ts;
	int64_t secs, days, rem, era, doe, yoe, y, doy, mp, d, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	secs = (int64_t)ts.tv_sec;
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", (int)y,
		 (int)m, (int)d, (int)(rem / 3600), (int)(rem / 60 % 60),
		 (int)(rem % 60), ts.tv_nsec);
}

static const int ns_order[] = {
	CLONE_NEWUSER, CLONE_NEWIPC,	CLONE_NEWUTS,  CLONE_NEWNET,
	CLONE_NEWPID,  CLONE_NEWCGROUP, CLONE_NEWTIME, CLONE_NEWNS,
};

/* The container's program starts with no signal blocked or ignored,
 * whatever the runtime did for itself. */
static void reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

/*
 * Namespaces (C1): opens every namespace to join before joining any (the
 * paths are host paths), then joins them in ns_order, the user namespace
 * first so that the others are joined with its privileges.  *flags gets
 * the namespaces to create, but for a new user namespace (enter_userns).
 */
static int join_namespaces(const struct bo_spec *s, struct bo_init *in,
			   int *flags, struct cr_error **err)
{
	enum { N = sizeof(ns_order) / sizeof(ns_order[0]) };
	int fds[N], rc = -1;

	*flags = 0;
	for (size_t k = 0; k < N; k++)
		fds[k] = -1;
	for (size_t k = 0; k < N; k++) {
		const struct bo_namespace *ns = bo_spec_namespace(s, ns_order[k]);

		if (ns == NULL)
			continue;
		if (ns->path == NULL) {
			if (ns->type != CLONE_NEWUSER)
				*flags |= ns->type;
			continue;
		}
		fds[k] = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (fds[k] < 0) {
			cr_error_errno(err, errno, "linux.namespaces: %s %s",
				       bo_namespace_name(ns->type), ns->path);
			goto out;
		}
	}
	/* A mount namespace is joined only with a private fs_struct (see
	 * exec_child). */
	if (unshare(CLONE_FS) < 0) {
		cr_error_errno(err, errno, "unshare(CLONE_FS)");
		goto out;
	}
	for (size_t k = 0; k < N; k++) {
		if (fds[k] < 0)
			continue;
		if (setns(fds[k], ns_order[k]) < 0) {
			cr_error_errno(err, errno, "linux.namespaces: joining %s",
				       bo_namespace_name(ns_order[k]));
			goto out;
		}
		if (ns_order[k] == CLONE_NEWUSER)
			in->in_userns = 1;
	}
	rc = 0;
out:
	for (size_t k = 0; k < N; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	return rc;
}

/*
 * A new user namespace (C1): the runtime, still outside it, writes the id
 * maps (asked with MSG_USERNS, answered with MSG_GO); then, new or joined,
 * this process becomes the namespace's root, which the rest of create
 * needs.
 */
static int enter_userns(const struct bo_spec *s, struct bo_init *in,
			int sync, struct cr_error **err)
{
	const struct bo_namespace *u = bo_spec_namespace(s, CLONE_NEWUSER);
	char go[16];

	if (u != NULL && u->path == NULL) {
		if (unshare(CLONE_NEWUSER) < 0)
			return cr_error_errno(err, errno,
					      "linux.namespaces: new user "
					      "namespace");
		/* No answer: the runtime is gone, nobody to tell. */
		if (msg_send(sync, MSG_USERNS, NULL, 0) < 0 ||
		    msg_recv(sync, go, sizeof(go), NULL) != MSG_GO)
			_exit(1);
		in->in_userns = 1;
	}
	if (in->in_userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return cr_error_errno(err, errno,
				      "user namespace: no mapping for root");
	return 0;
}

/* MSG_STATE's payload (buf[0] is the type): the state JSON, then the
 * cgroup directories, each NUL-terminated.  in points into buf. */
static void take_state(struct bo_init *in, char *buf, size_t len)
{
	size_t n = 0, off = strlen(buf + 1) + 2;

	in->state_json = buf + 1;
	for (size_t o = off; o < len + 1; o += strlen(buf + o) + 1)
		n++;
	in->cgroup_dirs = calloc(n + 1, sizeof(char *));
	for (size_t k = 0, o = off; in->cgroup_dirs != NULL && k < n;
	     k++, o += strlen(buf + o) + 1)
		in->cgroup_dirs[k] = buf + o;
}

/*
 * C2, the container's init.  bo_linux_prepare builds the container (root
 * filesystem, mounts, devices, pivot_root, masked paths, createContainer
 * hooks) and bo_linux_resolve finds the program and compiles seccomp, so
 * that create reports their errors; then "ready", and the init waits for
 * start on the fifo, runs the startContainer hooks and execs the process
 * (bo_linux_exec: rlimits, user, capabilities, seccomp).  Never returns.
 */
static _Noreturn void container_init(const struct bo_spec *s,
				     struct bo_init *in, int sync,
				     const char *fifo, int fifo_fd)
{
	struct cr_error *err = NULL;
	char buf[MSG_MAX], name[16];
	size_t len = 0;
	int procfd = -1, w = -1;

	setsid();
	/* The idmapped trees first, each with its mounts[] index, then the
	 * state. */
	for (;;) {
		int tree, type = msg_recv_fd(sync, buf, sizeof(buf), &len, &tree);
		uint32_t idx;

		if (type == MSG_MOUNTFD && tree >= 0 && len == sizeof(idx)) {
			memcpy(&idx, buf + 1, sizeof(idx));
			if (in->mount_fds == NULL) {
				in->mount_fds = malloc(s->n_mounts * sizeof(int));
				for (size_t i = 0;
				     in->mount_fds != NULL && i < s->n_mounts; i++)
					in->mount_fds[i] = -1;
			}
			if (in->mount_fds == NULL || idx >= s->n_mounts)
				_exit(1);
			in->mount_fds[idx] = tree;
			continue;
		}
		if (tree >= 0)
			close(tree);
		if (type != MSG_STATE)
			_exit(1);
		break;
	}
	take_state(in, buf, len);
	/* The host's /proc, before pivot_root: the fifo (opened O_PATH by
	 * C1) is reopened for writing through it. */
	if (fifo != NULL) {
		procfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (procfd < 0) {
			cr_error_errno(&err, errno, "opening %s", fifo);
			child_fail(sync, err);
		}
	}
	/* The scheduler and I/O priority now, still privileged (a real-time
	 * policy or class, a negative nice need CAP_SYS_NICE), so that
	 * create reports what the kernel refuses. */
	if (bo_linux_prepare(in, &err) < 0 || bo_linux_resolve(in, &err) < 0 ||
	    bo_linux_sched(in->proc, &err) < 0)
		child_fail(sync, err);
	/* A notifying filter is loaded now, while create still listens: the
	 * runtime hands its fd to the listener before create returns, as
	 * runc and crun do.  Still root here, so no_new_privs is not
	 * needed to load it. */
	if (bo_seccomp_notifies(in->seccomp)) {
		int nfd;

		if (bo_seccomp_load(in->seccomp, &err) < 0)
			child_fail(sync, err);
		nfd = bo_seccomp_notify_fd(in->seccomp, &err);
		if (nfd < 0)
			child_fail(sync, err);
		if (msg_send_fd(sync, MSG_SECCOMP, nfd) < 0)
			_exit(1);
		close(nfd);
		in->seccomp = bo_seccomp_free(in->seccomp);
	}
	if (msg_send(sync, MSG_READY, NULL, 0) < 0)
		_exit(1);
	close(sync);
	/* Blocks until `start` opens the fifo; the byte is written after the
	 * startContainer hooks, so start's poststart hooks always follow
	 * them. */
	if (fifo != NULL) {
		snprintf(name, sizeof(name), "%d", fifo_fd);
		w = openat(procfd, name, O_WRONLY | O_CLOEXEC);
		if (w < 0)
			_exit(1);
		close(procfd);
	}
	if (bo_hooks_run(s, BO_HOOK_START_CONTAINER, in->state_json, &err) < 0)
		child_die(err, 127);
	if (w >= 0) {
		if (write(w, "0", 1) != 1)
			_exit(1);
		close(w);
	}
	bo_linux_exec(in, &err);
	child_die(err, 127);
}

/* linux.timeOffsets into /proc/self/timens_offsets (the namespace this
 * process's children will be in), one clock a line. */
static int write_time_offsets(const struct bo_spec *s, struct cr_error **err)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf),
			 "monotonic %" PRId64 " %u\nboottime %" PRId64 " %u\n",
			 s->monotonic_secs, s->monotonic_nsecs,
			 s->boottime_secs, s->boottime_nsecs);
	CR_CLEANUP_CLOSE int fd =
		open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return cr_error_errno(err, errno,
				      "linux.timeOffsets: writing "
				      "/proc/self/timens_offsets");
	return 0;
}

/*
 * C1 in create: joins and creates the namespaces, then forks C2, the
 * container's init, because a new pid namespace applies only to the
 * children of the process that made it; reports C2's pid and exits.
 */
static _Noreturn void first_child(const struct bo_spec *s, struct bo_init *in,
				  int sync, const char *fifo)
{
	struct cr_error *err = NULL;
	char go[16];
	int flags = 0, fifo_fd = -1;
	pid_t pid;

	reset_signals();
	if (msg_recv(sync, go, sizeof(go), NULL) != MSG_GO)
		_exit(1);
	/* Opened while still the host's root: the state folder may be out
	 * of reach of a user namespace's root. */
	if (fifo != NULL) {
		fifo_fd = open(fifo, O_PATH | O_CLOEXEC);
		if (fifo_fd < 0) {
			cr_error_errno(&err, errno, "opening %s", fifo);
			child_fail(sync, err);
		}
	}
	if (join_namespaces(s, in, &flags, &err) < 0 ||
	    enter_userns(s, in, sync, &err) < 0)
		child_fail(sync, err);
	if (flags != 0 && unshare(flags) < 0) {
		cr_error_errno(&err, errno, "linux.namespaces: unshare");
		child_fail(sync, err);
	}
	/* A new time namespace takes its offsets before any process is in
	 * it: the init, forked next, is the first. */
	if (s->has_time_offsets && write_time_offsets(s, &err) < 0)
		child_fail(sync, err);
	pid = fork();
	if (pid < 0) {
		cr_error_errno(&err, errno, "fork");
		child_fail(sync, err);
	}
	if (pid == 0)
		container_init(s, in, sync, fifo, fifo_fd);
	if (msg_send(sync, MSG_PID, &pid, sizeof(pid)) < 0)
		_exit(1);
	_exit(0);
}

static int write_idmap_as(pid_t pid, const char *file,
			  const struct bo_idmap *m, size_t n, const char *field,
			  struct cr_error **err);

static int write_idmap(pid_t pid, const char *file, const struct bo_idmap *m,
		       size_t n, struct cr_error **err)
{
	return write_idmap_as(pid, file, m, n,
			      strcmp(file, "uid_map") == 0 ? "linux.uidMappings"
							   : "linux.gidMappings",
			      err);
}

static int write_idmap_as(pid_t pid, const char *file,
			  const struct bo_idmap *m, size_t n, const char *field,
			  struct cr_error **err)
{
	char path[64], buf[340 * 40];
	size_t off = 0;
	CR_CLEANUP_CLOSE int fd = -1;

	for (size_t i = 0; i < n && off < sizeof(buf) - 40; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
					"%u %u %u\n", m[i].container_id,
					m[i].host_id, m[i].size);
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, buf, off) != (ssize_t)off)
		return cr_error_errno(err, errno, "%s: writing %s", field, path);
	return 0;
}

static char *state_text(const struct bo_state *st, const char *status)
{
	json_object *o = bo_state_oci(st, status);
	char *t = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return t;
}

static int write_pid_file(const char *path, pid_t pid, struct cr_error **err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	return bo_write_file(path, buf, strlen(buf), 0644, err);
}

static int check_spec(const struct bo_spec *s, struct cr_error **err)
{
	const struct bo_namespace *u = bo_spec_namespace(s, CLONE_NEWUSER);

	if (!s->has_process)
		return cr_error_set(err, EINVAL, "config.json: process: missing");
	if (bo_spec_namespace(s, CLONE_NEWNS) == NULL)
		return cr_error_set(err, EINVAL,
				    "config.json: linux.namespaces: bolter "
				    "needs a mount namespace");
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (!bo_linux_has_namespace(s->namespaces[i].type))
			return cr_error_set(err, ENOTSUP,
					    "config.json: linux.namespaces[%zu]: "
					    "this kernel has no %s namespace",
					    i,
					    bo_namespace_name(s->namespaces[i].type));
	if (u != NULL && u->path == NULL &&
	    (s->n_uid_mappings == 0 || s->n_gid_mappings == 0))
		return cr_error_set(err, EINVAL,
				    "config.json: linux.uidMappings: a new user "
				    "namespace needs uidMappings and "
				    "gidMappings");
	return 0;
}

/* What create builds up step by step, and undoes when a step fails. */
struct create {
	const struct bo_opts *o;
	const char *id;
	char bundle[PATH_MAX], rootfs[PATH_MAX];
	char dir[PATH_MAX], fifo[PATH_MAX], created[64];
	char devdir[PATH_MAX]; /* STATE/devices, or "" */
	char *text; /* config.json as read */
	size_t len;
	struct bo_spec *s;
	struct bo_init in;
	struct bo_state st;
	int made_dir; /* dir is ours to remove */
	int sync;     /* the runtime's end of the socket pair, or -1 */
	pid_t c1;     /* the first child, until it has reported */
	pid_t pid;    /* the container's init, once known */
	char *buf;    /* MSG_MAX bytes for messages */
};

/* The bundle: config.json parsed and checked, root.path resolved. */
static int create_load(struct create *c, struct cr_error **err)
{
	const struct bo_opts *o = c->o;
	char cfg[PATH_MAX], raw[PATH_MAX];

	if (bo_state_check_id(c->id, err) < 0)
		return -1;
	if (realpath(o->bundle ? o->bundle : ".", c->bundle) == NULL)
		return cr_error_errno(err, errno, "--bundle %s",
				      o->bundle ? o->bundle : ".");
	if (o->config != NULL)
		snprintf(cfg, sizeof(cfg), "%s", o->config);
	else
		pjoin(cfg, sizeof(cfg), c->bundle, "config.json");
	if (cr_read_file(cfg, BO_SPEC_MAX_BYTES, &c->text, &c->len, err) < 0)
		return cr_error_wrap(err, "reading %s", cfg);
	c->s = bo_spec_parse(c->text, c->len, err);
	if (c->s == NULL || check_spec(c->s, err) < 0)
		return -1;
	if (c->s->root_path[0] == '/')
		snprintf(raw, sizeof(raw), "%s", c->s->root_path);
	else
		pjoin(raw, sizeof(raw), c->bundle, c->s->root_path);
	if (realpath(raw, c->rootfs) == NULL)
		return cr_error_errno(err, errno, "config.json: root.path: %s",
				      raw);
	return 0;
}

/* A container id as the host sees it, through the spec's mappings; the
 * overflow id (65534) when unmapped, as the kernel shows it. */
static uint32_t host_id(const struct bo_idmap *m, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= m[i].container_id &&
		    id - m[i].container_id < m[i].size)
			return m[i].host_id + (id - m[i].container_id);
	return 65534;
}

/* linux.devices of a container with a new user namespace, where mknod is
 * refused and the host has no such node to bind: made here, as the host's
 * root, in STATE/devices/K with the owner the config asks for (mapped to
 * host ids), for the container to bind (bo_init.devdir).  crun does the
 * same with detached mounts. */
static int create_devices(struct create *c, struct cr_error **err)
{
	const struct bo_spec *s = c->s;
	const struct bo_namespace *ns = bo_spec_namespace(s, CLONE_NEWUSER);

	if (ns == NULL || ns->path != NULL || s->n_devices == 0)
		return 0;
	pjoin(c->devdir, sizeof(c->devdir), c->dir, "devices");
	if (mkdir(c->devdir, 0711) < 0)
		return cr_error_errno(err, errno, "creating %s", c->devdir);
	for (size_t k = 0; k < s->n_devices; k++) {
		const struct bo_device *d = &s->devices[k];
		mode_t fmt = d->type == 'b'   ? S_IFBLK
			     : d->type == 'p' ? S_IFIFO
					      : S_IFCHR;
		char p[PATH_MAX], name[32];
		struct stat sb;

		/* The host's node of that type and numbers is bound instead
		 * (bo_linux_prepare): it lives on devtmpfs, where it can be
		 * opened whatever the state folder's mount options. */
		if (stat(d->path, &sb) == 0 && (sb.st_mode & S_IFMT) == fmt &&
		    sb.st_rdev == makedev((unsigned)d->major, (unsigned)d->minor))
			continue;
		snprintf(name, sizeof(name), "%zu", k);
		pjoin(p, sizeof(p), c->devdir, name);
		if (mknod(p, fmt | ((d->has_mode ? d->mode : 0666) & 07777),
			  makedev((unsigned)d->major, (unsigned)d->minor)) < 0)
			return cr_error_errno(err, errno, "linux.devices[%zu]: "
					      "mknod %s", k, p);
		if ((d->has_uid || d->has_gid) &&
		    chown(p, host_id(s->uid_mappings, s->n_uid_mappings, d->uid),
			  host_id(s->gid_mappings, s->n_gid_mappings, d->gid)) < 0)
			return cr_error_errno(err, errno, "linux.devices[%zu]: "
					      "chown %s", k, p);
	}
	c->in.devdir = c->devdir;
	return 0;
}

/* The state folder: a copy of config.json (exec's defaults) and the fifo
 * that start opens. */
static int create_state_dir(struct create *c, struct cr_error **err)
{
	const struct bo_spec *s = c->s;
	const struct bo_namespace *u = bo_spec_namespace(s, CLONE_NEWUSER);
	char cfg[PATH_MAX];

	if (cr_mkdir_p(c->o->root, 0711, err) < 0)
		return -1;
	bo_state_dir(c->o->root, c->id, c->dir, sizeof(c->dir));
	if (mkdir(c->dir, 0711) < 0) {
		if (errno == EEXIST)
			return cr_error_set(err, EEXIST,
					    "container %s already exists", c->id);
		return cr_error_errno(err, errno, "creating %s", c->dir);
	}
	c->made_dir = 1;
	pjoin(c->fifo, sizeof(c->fifo), c->dir, "exec.fifo");
	pjoin(cfg, sizeof(cfg), c->dir, "config.json");
	if (bo_write_file(cfg, c->text, c->len, 0600, err) < 0)
		return -1;
	if (mkfifo(c->fifo, 0600) < 0)
		return cr_error_errno(err, errno, "mkfifo %s", c->fifo);
	/* The init opens the fifo as root of its user namespace.  A joined
	 * one (linux.namespaces[].path) comes without the mapping, so its
	 * root may be anybody: the fifo is then writable by all, as runc's
	 * always is (0622); the state folder (0711) does not list it. */
	if (u != NULL && u->path != NULL && s->n_uid_mappings == 0 &&
	    chmod(c->fifo, 0622) < 0)
		return cr_error_errno(err, errno, "chmod %s", c->fifo);
	for (size_t i = 0; i < s->n_uid_mappings; i++)
		if (s->uid_mappings[i].container_id == 0 &&
		    bo_spec_namespace(s, CLONE_NEWUSER) != NULL &&
		    chown(c->fifo, s->uid_mappings[i].host_id, (gid_t)-1) < 0)
			return cr_error_errno(err, errno, "chown %s", c->fifo);
	return create_devices(c, err);
}

/* Forks C1 (first_child), which waits for MSG_GO. */
static int create_spawn(struct create *c, struct cr_error **err)
{
	int sp[2];

	c->buf = malloc(MSG_MAX);
	if (c->buf == NULL)
		return cr_error_errno(err, ENOMEM, "create");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return cr_error_errno(err, errno, "socketpair");
	c->in.spec = c->s;
	c->in.proc = &c->s->process;
	c->in.rootfs = c->rootfs;
	c->in.console_socket = c->o->console_socket;
	if (c->s->process.terminal && c->o->console_socket == NULL &&
	    c->o->console_proxy != NULL &&
	    c->o->console_proxy(c->o->console_proxy_arg, &c->in.console_socket,
				err) < 0) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	c->in.console_fd = -1;
	c->in.no_pivot = c->o->no_pivot;
	c->in.preserve_fds = c->o->listen_fds + c->o->preserve_fds;
	c->in.listen_fds = c->o->listen_fds;
	c->c1 = fork();
	if (c->c1 < 0) {
		close(sp[0]);
		close(sp[1]);
		return cr_error_errno(err, errno, "fork");
	}
	if (c->c1 == 0) {
		close(sp[0]);
		first_child(c->s, &c->in, sp[1], c->fifo);
	}
	close(sp[1]);
	c->sync = sp[0];
	return 0;
}

/* The cgroup, made before C1 goes on so that everything the container
 * runs is counted and limited from its first instruction. */
static int create_cgroup(struct create *c, struct cr_error **err)
{
	CR_CLEANUP_FREE char *path = NULL;
	const struct bo_spec *s = c->s;

	if (s->cgroups_path != NULL && c->o->systemd_cgroup)
		path = bo_cgroup_path_from_systemd(s->cgroups_path);
	else if (s->cgroups_path != NULL)
		path = strdup(s->cgroups_path);
	else if (asprintf(&path, "bolter/%s", c->id) < 0)
		path = NULL;
	if (path == NULL)
		return cr_error_errno(err, ENOMEM, "cgroupsPath");
	return bo_cgroup_create(path, &s->resources, c->c1, &c->st.cgroup_dirs,
				err);
}

/* Lets C1 make the namespaces, writing the id maps of a new user
 * namespace when it asks (only a process outside may), until it reports
 * the init's pid. */
static int create_namespaces(struct create *c, struct cr_error **err)
{
	const struct bo_spec *s = c->s;
	size_t len;
	int type;

	msg_send(c->sync, MSG_GO, NULL, 0);
	for (;;) {
		type = msg_recv(c->sync, c->buf, MSG_MAX, &len);
		if (type == MSG_PID && len == sizeof(pid_t)) {
			memcpy(&c->pid, c->buf + 1, sizeof(c->pid));
			return 0;
		}
		if (type != MSG_USERNS) {
			if (type == MSG_ERROR)
				return cr_error_set(err, EINVAL, "%s", c->buf + 1);
			return cr_error_set(err, EIO,
					    "container setup died early");
		}
		if (write_idmap(c->c1, "uid_map", s->uid_mappings,
				s->n_uid_mappings, err) < 0 ||
		    write_idmap(c->c1, "gid_map", s->gid_mappings,
				s->n_gid_mappings, err) < 0) {
			kill(c->c1, SIGKILL);
			return -1;
		}
		msg_send(c->sync, MSG_GO, NULL, 0);
	}
}

/* Saves the state ("creating") and returns its JSON for the hooks. */
static char *create_record(struct create *c, struct cr_error **err)
{
	struct bo_state *st = &c->st;
	char *sjson;

	now_rfc3339(c->created, sizeof(c->created));
	st->id = (char *)c->id;
	st->pid = c->pid;
	st->start_time = bo_process_start_time(c->pid);
	st->bundle = c->bundle;
	st->rootfs = c->rootfs;
	st->created = c->created;
	st->annotations = c->s->annotations;
	st->owner = getuid();
	st->has_pidns = bo_spec_namespace(c->s, CLONE_NEWPID) != NULL;
	st->hooks = 0;
	for (int k = 0; k < BO_HOOK_KINDS; k++)
		if (c->s->n_hooks[k] > 0)
			st->hooks |= 1 << k;
	sjson = state_text(st, "creating");
	if (sjson == NULL) {
		cr_error_errno(err, ENOMEM, "state");
		return NULL;
	}
	if (bo_state_save(c->o->root, st, err) < 0) {
		free(sjson);
		return NULL;
	}
	return sjson;
}

/* config-linux.md "The container process state": ociVersion, fds, pid,
 * metadata and the state, with the notify fd, to linux.seccomp's
 * listenerPath. */
static int send_listener(struct create *c, const char *sjson, int nfd,
			 struct cr_error **err)
{
	json_object *sc = c->s->seccomp, *v, *o, *st, *fds;
	const char *path = NULL, *meta = "", *text;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CR_CLEANUP_CLOSE int s = -1;
	int rc = -1;

	if (json_object_object_get_ex(sc, "listenerPath", &v))
		path = json_object_get_string(v);
	if (json_object_object_get_ex(sc, "listenerMetadata", &v) &&
	    json_object_is_type(v, json_type_string))
		meta = json_object_get_string(v);
	if (path == NULL || strlen(path) >= sizeof(sa.sun_path))
		return cr_error_set(err, EINVAL,
				    "config.json: linux.seccomp.listenerPath: "
				    "missing or too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	st = json_tokener_parse(sjson);
	o = json_object_new_object();
	fds = json_object_new_array();
	if (st == NULL || o == NULL || fds == NULL) {
		json_object_put(st);
		json_object_put(o);
		json_object_put(fds);
		return cr_error_errno(err, ENOMEM, "listener state");
	}
	json_object_object_get_ex(st, "ociVersion", &v);
	json_object_object_add(o, "ociVersion",
			       json_object_new_string(v != NULL ?
					json_object_get_string(v) : "1.0.2"));
	json_object_array_add(fds, json_object_new_string("seccompFd"));
	json_object_object_add(o, "fds", fds);
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "metadata", json_object_new_string(meta));
	json_object_object_add(o, "state", st);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cr_error_errno(err, errno,
			       "linux.seccomp.listenerPath: connecting to %s",
			       path);
		goto out;
	}
	if (bo_linux_send_fd(s, nfd, text, strlen(text)) != (ssize_t)strlen(text)) {
		cr_error_errno(err, errno,
			       "linux.seccomp.listenerPath: sending to %s",
			       path);
		goto out;
	}
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* A user namespace holding mount i's own uidMappings/gidMappings, for
 * MOUNT_ATTR_IDMAP: a child unshares one, the runtime writes its maps and
 * keeps a descriptor of it; the child then exits.  Returns the fd. */
static int idmap_userns(const struct bo_mount *m, size_t i,
			struct cr_error **err)
{
	int ready[2], done[2], fd = -1;
	char field[64], path[64], b = 0;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return cr_error_errno(err, errno, "pipe");
	if (pipe2(done, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return cr_error_errno(err, errno, "pipe");
	}
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(done[1]);
		b = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
		if (write(ready[1], &b, 1) == 1)
			b = read(done[0], &b, 1) < 0 ? 1 : 0;
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	if (pid < 0) {
		cr_error_errno(err, errno, "fork");
	} else if (read(ready[0], &b, 1) != 1 || b != 'u') {
		cr_error_set(err, EPERM,
			     "mounts[%zu]: cannot make a user namespace for "
			     "its mappings",
			     i);
	} else {
		snprintf(field, sizeof(field), "mounts[%zu].uidMappings", i);
		if (write_idmap_as(pid, "uid_map", m->uid_map, m->n_uid_map,
				   field, err) == 0) {
			snprintf(field, sizeof(field), "mounts[%zu].gidMappings",
				 i);
			if (write_idmap_as(pid, "gid_map", m->gid_map,
					   m->n_gid_map, field, err) == 0) {
				snprintf(path, sizeof(path), "/proc/%d/ns/user",
					 (int)pid);
				fd = open(path, O_RDONLY | O_CLOEXEC);
				if (fd < 0)
					cr_error_errno(err, errno, "opening %s",
						       path);
			}
		}
	}
	close(ready[0]);
	close(done[1]); /* the child's read returns: it exits */
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return fd;
}

/*
 * The idmapped mounts, made here in the runtime (outside any user
 * namespace of the container: MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN where
 * the filesystem was mounted) as detached trees (open_tree), then sent to
 * the init, which attaches each at its destination (bo_linux_prepare).
 * A mount without mappings takes the container's user namespace.
 */
static int send_idmap_mounts(struct create *c, struct cr_error **err)
{
	const struct bo_spec *s = c->s;

	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct bo_mount *m = &s->mounts[i];
		CR_CLEANUP_CLOSE int ns = -1;
		CR_CLEANUP_CLOSE int tree = -1;
		struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP };
		char msg[1 + sizeof(uint32_t)], path[64];
		uint32_t idx = (uint32_t)i;

		if (!m->idmap)
			continue;
		if (m->n_uid_map > 0) {
			ns = idmap_userns(m, i, err);
		} else {
			snprintf(path, sizeof(path), "/proc/%d/ns/user",
				 (int)c->pid);
			ns = open(path, O_RDONLY | O_CLOEXEC);
			if (ns < 0)
				cr_error_errno(err, errno, "mounts[%zu]: %s", i,
					       path);
		}
		if (ns < 0)
			return -1;
		tree = open_tree(AT_FDCWD, m->source,
				 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
					 (m->bind == 2 ? AT_RECURSIVE : 0));
		if (tree < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: open_tree %s", i,
					      m->source);
		a.userns_fd = (uint64_t)ns;
		if (mount_setattr(tree, "",
				  AT_EMPTY_PATH |
					  (m->idmap == 2 ? AT_RECURSIVE : 0),
				  &a, sizeof(a)) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: idmapped mount of %s",
					      i, m->source);
		msg[0] = MSG_MOUNTFD;
		memcpy(msg + 1, &idx, sizeof(idx));
		if (bo_linux_send_fd(c->sync, tree, msg, sizeof(msg)) !=
		    (ssize_t)sizeof(msg))
			return cr_error_errno(err, errno, "container init died");
	}
	return 0;
}

/* Sends the init the state JSON and the cgroup directories (MSG_STATE,
 * see take_state) and waits for it to be ready. */
static int create_finish_init(struct create *c, const char *sjson,
			      struct cr_error **err)
{
	char **dirs = c->st.cgroup_dirs;
	size_t total = strlen(sjson) + 1, off;
	char *m;
	int type;

	for (size_t i = 0; dirs[i] != NULL; i++)
		total += strlen(dirs[i]) + 1;
	m = malloc(total);
	if (m == NULL || total > MSG_MAX - 1) {
		free(m);
		return cr_error_set(err, E2BIG, "state too large");
	}
	if (send_idmap_mounts(c, err) < 0) {
		free(m);
		return -1;
	}
	memcpy(m, sjson, strlen(sjson) + 1);
	off = strlen(sjson) + 1;
	for (size_t i = 0; dirs[i] != NULL; i++) {
		memcpy(m + off, dirs[i], strlen(dirs[i]) + 1);
		off += strlen(dirs[i]) + 1;
	}
	type = msg_send(c->sync, MSG_STATE, m, total);
	free(m);
	if (type < 0)
		return cr_error_errno(err, errno, "container init died");
	for (;;) {
		int nfd, rc;

		type = msg_recv_fd(c->sync, c->buf, MSG_MAX, NULL, &nfd);
		if (type != MSG_SECCOMP || nfd < 0) {
			if (nfd >= 0)
				close(nfd);
			break;
		}
		rc = send_listener(c, sjson, nfd, err);
		close(nfd);
		if (rc < 0)
			return -1;
	}
	if (type == MSG_READY)
		return 0;
	if (type == MSG_ERROR)
		return cr_error_set(err, EINVAL, "%s", c->buf + 1);
	return cr_error_set(err, EIO, "container init died during setup");
}

/* After a failed step: no init, no cgroup, no state left behind. */
static void create_undo(struct create *c)
{
	if (c->c1 > 0)
		waitpid(c->c1, NULL, 0);
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		for (int i = 0; i < 200 && bo_process_alive(c->pid, c->st.start_time);
		     i++) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };

			waitpid(c->pid, NULL, WNOHANG);
			nanosleep(&ts, NULL);
		}
	}
	if (c->st.cgroup_dirs != NULL)
		bo_cgroup_destroy(c->st.cgroup_dirs, NULL);
	if (c->made_dir)
		rm_rf(c->dir);
}

/*
 * create, in the OCI order: load and check the bundle, the state folder,
 * C1 (namespaces) and the cgroup, the init's pid, the state saved, the
 * prestart and createRuntime hooks (in the runtime's namespaces, after the
 * container's exist and before pivot_root), the init's setup up to
 * "ready", the pid file.
 */
int bo_create(const struct bo_opts *o, const char *id, struct cr_error **err)
{
	struct create c;
	CR_CLEANUP_FREE char *sjson = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.id = id;
	c.sync = -1;
	if (create_load(&c, err) < 0)
		goto out;
	if (create_state_dir(&c, err) < 0 || create_spawn(&c, err) < 0)
		goto fail;
	if (create_cgroup(&c, err) < 0) {
		kill(c.c1, SIGKILL);
		goto fail;
	}
	if (create_namespaces(&c, err) < 0)
		goto fail;
	sjson = create_record(&c, err);
	if (sjson == NULL ||
	    bo_hooks_run(c.s, BO_HOOK_PRESTART, sjson, err) < 0 ||
	    bo_hooks_run(c.s, BO_HOOK_CREATE_RUNTIME, sjson, err) < 0 ||
	    create_finish_init(&c, sjson, err) < 0 ||
	    (o->pid_file != NULL && write_pid_file(o->pid_file, c.pid, err) < 0))
		goto fail;
	/* C1 is reaped last: it exits as soon as it has sent the init's pid,
	 * and waiting for that at once would put create to sleep (one more
	 * trip through the scheduler on a busy machine) for nothing. */
	waitpid(c.c1, NULL, 0);
	c.c1 = 0;
	rc = 0;
	goto out;
fail:
	create_undo(&c);
out:
	if (c.sync >= 0)
		close(c.sync);
	bo_cgroup_dirs_free(c.st.cgroup_dirs);
	bo_spec_free(c.s);
	free(c.text);
	free(c.buf);
	return rc;
}

/* May config.json have hooks of this kind? (yes when the state does not
 * say) */
static int has_hook(const struct bo_state *st, int kind)
{
	return st->hooks < 0 || (st->hooks >> kind) & 1;
}

struct bo_spec *bo_container_spec(const struct bo_opts *o, const char *id,
				  struct cr_error **err)
{
	char path[PATH_MAX];

	if (bo_state_check_id(id, err) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s/config.json", o->root, id);
	return bo_spec_load(path, err);
}

int bo_start(const struct bo_opts *o, const char *id, struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	char fifo[PATH_MAX], c;
	CR_CLEANUP_CLOSE int fd = -1;
	const char *status;
	struct bo_spec *s;
	int rc = -1;

	if (st == NULL)
		return -1;
	status = bo_state_status(o->root, st);
	if (strcmp(status, "created") != 0) {
		cr_error_set(err, EINVAL, "cannot start a container that is %s",
			     status);
		goto out;
	}
	snprintf(fifo, sizeof(fifo), "%s/%s/exec.fifo", o->root, id);
	fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		cr_error_errno(err, errno, "opening %s", fifo);
		goto out;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, 100);

		if (r > 0 && read(fd, &c, 1) == 1)
			break;
		if (r < 0 && errno != EINTR) {
			cr_error_errno(err, errno, "poll");
			goto out;
		}
		if (!bo_process_alive(st->pid, st->start_time)) {
			cr_error_set(err, ESRCH,
				     "container %s: init exited before start",
				     id);
			goto out;
		}
	}
	unlink(fifo);
	rc = 0;
	/* poststart hooks: failures are warnings (config.md).  config.json
	 * is parsed again only when it has some. */
	s = has_hook(st, BO_HOOK_POSTSTART) ? bo_container_spec(o, id, NULL)
					    : NULL;
	if (s != NULL && s->n_hooks[BO_HOOK_POSTSTART] > 0) {
		char *sj = state_text(st, "running");
		struct cr_error *e = NULL;

		if (bo_hooks_run(s, BO_HOOK_POSTSTART, sj, &e) < 0)
			warn(o, e);
		cr_error_free(e);
		free(sj);
	}
	bo_spec_free(s);
out:
	bo_state_free(st);
	return rc;
}

int bo_state(const struct bo_opts *o, const char *id, char **json,
	     struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	json_object *j;

	if (st == NULL)
		return -1;
	j = bo_state_oci(st, bo_state_status(o->root, st));
	*json = strdup(json_object_to_json_string_ext(
		j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	bo_state_free(st);
	if (*json == NULL)
		return cr_error_errno(err, ENOMEM, "state %s", id);
	return 0;
}

int bo_pids(const struct bo_opts *o, const char *id, int **pids, size_t *n,
	    struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = bo_cgroup_pids(st->cgroup_dirs, pids, n, err);
	bo_state_free(st);
	return rc;
}

/* The container's state when its status is `want` (NULL: anything but
 * stopped); otherwise NULL with an error naming the status. */
static struct bo_state *load_live(const struct bo_opts *o, const char *id,
				  const char *want, struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	const char *status;

	if (st == NULL)
		return NULL;
	status = bo_state_status(o->root, st);
	if (want != NULL ? strcmp(status, want) == 0
			 : strcmp(status, "stopped") != 0)
		return st;
	if (want != NULL)
		cr_error_set(err, EINVAL, "container %s is %s, not %s", id,
			     status, want);
	else
		cr_error_set(err, EINVAL, "container %s is stopped", id);
	bo_state_free(st);
	return NULL;
}

int bo_pause(const struct bo_opts *o, const char *id, int pause,
	     struct cr_error **err)
{
	struct bo_state *st = load_live(o, id, pause ? "running" : "paused", err);
	int rc;

	if (st == NULL)
		return -1;
	rc = bo_cgroup_freeze(st->cgroup_dirs, pause, err);
	bo_state_free(st);
	return rc;
}

int bo_update(const struct bo_opts *o, const char *id,
	      const struct bo_resources *r, struct cr_error **err)
{
	struct bo_state *st = load_live(o, id, NULL, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = bo_cgroup_update(st->cgroup_dirs, r, err);
	bo_state_free(st);
	return rc;
}

int bo_stats(const struct bo_opts *o, const char *id,
	     struct bo_cgroup_stats *stats, int *stopped,
	     struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);

	if (st == NULL)
		return -1;
	*stopped = strcmp(bo_state_status(o->root, st), "stopped") == 0;
	bo_cgroup_stats(st->cgroup_dirs, stats);
	bo_state_free(st);
	return 0;
}

int bo_kill(const struct bo_opts *o, const char *id, int sig,
	    struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	int rc = 0;

	if (st == NULL)
		return -1;
	if (strcmp(bo_state_status(o->root, st), "stopped") == 0 && !o->all) {
		cr_error_set(err, ESRCH, "container %s is not running", id);
		bo_state_free(st);
		return -1;
	}
	if (o->all) {
		pid_t *pids = NULL;
		size_t n = 0;

		rc = bo_cgroup_pids(st->cgroup_dirs, &pids, &n, err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			kill(pids[i], sig);
		free(pids);
	} else if (kill(st->pid, sig) < 0) {
		rc = cr_error_errno(err, errno, "kill %d", (int)st->pid);
	}
	bo_state_free(st);
	return rc;
}

static void wait_gone(const struct bo_state *st, int ms)
{
	for (int i = 0; i < ms / 2 && bo_process_alive(st->pid, st->start_time);
	     i++) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };

		waitpid(st->pid, NULL, WNOHANG);
		nanosleep(&ts, NULL);
	}
}

int bo_delete(const struct bo_opts *o, const char *id, struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	const char *status;
	char dir[PATH_MAX];
	struct bo_spec *s;
	int rc = 0;

	if (st == NULL) {
		struct stat sb;

		/* A create cut short (a power cut, a SIGKILL) leaves its
		 * folder without state.json: no process or cgroup is known
		 * to it, and a new create of the same id would find it in
		 * the way.  A forced delete takes it away and says so. */
		bo_state_dir(o->root, id, dir, sizeof(dir));
		if (!o->force || bo_state_check_id(id, NULL) < 0 ||
		    lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
			return -1;
		if (err != NULL)
			*err = cr_error_free(*err);
		{
			struct cr_error *e = NULL;

			cr_error_set(&e, ENOENT,
				     "container %s has no state (a create cut "
				     "short): removing its folder",
				     id);
			warn(o, e);
			cr_error_free(e);
		}
		rm_rf(dir);
		return 0;
	}
	status = bo_state_status(o->root, st);
	if ((strcmp(status, "running") == 0 || strcmp(status, "paused") == 0) &&
	    !o->force) {
		cr_error_set(err, EBUSY,
			     "cannot delete container %s that is not stopped: "
			     "%s",
			     id, status);
		bo_state_free(st);
		return -1;
	}
	if (strcmp(status, "stopped") != 0) {
		kill(st->pid, SIGKILL);
		if (strcmp(status, "paused") == 0)
			bo_cgroup_freeze(st->cgroup_dirs, 0, NULL);
		wait_gone(st, 5000);
	}
	/* Without a pid namespace of its own, children of the init may
	 * outlive it. */
	{
		pid_t *pids = NULL;
		size_t n = 0;

		for (int round = 0; round < 100; round++) {
			free(pids);
			pids = NULL;
			if (bo_cgroup_pids(st->cgroup_dirs, &pids, &n, NULL) < 0 ||
			    n == 0)
				break;
			for (size_t i = 0; i < n; i++)
				kill(pids[i], SIGKILL);
			{
				struct timespec ts = { 0, 5 * 1000 * 1000 };

				nanosleep(&ts, NULL);
			}
		}
		free(pids);
	}
	s = has_hook(st, BO_HOOK_POSTSTOP) ? bo_container_spec(o, id, NULL)
					   : NULL;
	if (s != NULL && s->n_hooks[BO_HOOK_POSTSTOP] > 0) {
		char *sj = state_text(st, "stopped");
		struct cr_error *e = NULL;

		if (bo_hooks_run(s, BO_HOOK_POSTSTOP, sj, &e) < 0)
			warn(o, e);
		cr_error_free(e);
		free(sj);
	}
	bo_spec_free(s);
	if (o->force) {
		/* A process that cannot die (frozen by another freezer
		 * cgroup, stuck in the kernel) keeps its cgroups busy; a
		 * forced delete still forgets the container, and says so. */
		struct cr_error *e = NULL;

		if (bo_cgroup_destroy(st->cgroup_dirs, &e) < 0)
			warn(o, e);
		cr_error_free(e);
	} else if (bo_cgroup_destroy(st->cgroup_dirs, err) < 0) {
		rc = -1;
	}
	bo_state_dir(o->root, id, dir, sizeof(dir));
	rm_rf(dir);
	bo_state_free(st);
	return rc;
}

static const int forwarded[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};

/* Waits for pid (our child or, as subreaper, our grandchild), forwarding
 * signals to it; returns a shell-style status. */
static int wait_forwarding(pid_t pid)
{
	sigset_t set;
	int status = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	for (;;) {
		pid_t r;
		siginfo_t si;
		struct timespec ts = { 1, 0 };

		while ((r = waitpid(-1, &status, WNOHANG)) > 0)
			if (r == pid)
				goto done;
		if (r < 0 && errno == ECHILD)
			return 255;
		if (sigtimedwait(&set, &si, &ts) > 0 && si.si_signo != SIGCHLD)
			kill(pid, si.si_signo);
	}
done:
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void block_forwarded(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

/*
 * A foreground `run` whose process wants a terminal and was given no
 * console socket gets one of our own, as runc does: a listening socket in a
 * private directory takes the pty master from the container's init, and
 * the runtime copies between it and its own stdin and stdout.
 */
struct tty_proxy {
	char dir[64], path[96];
	int listen_fd, master;
};

static int tty_proxy_listen(struct tty_proxy *t, struct cr_error **err)
{
	struct sockaddr_un sa;

	t->listen_fd = t->master = -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/bolter-tty.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		t->dir[0] = '\0';
		return cr_error_errno(err, errno, "terminal: mkdtemp");
	}
	snprintf(t->path, sizeof(t->path), "%s/console.sock", t->dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->path);
	t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			      0);
	if (t->listen_fd < 0 ||
	    bind(t->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(t->listen_fd, 1) < 0)
		return cr_error_errno(err, errno, "terminal: console socket %s",
				      t->path);
	return 0;
}

/* The pty master the init sent, or -1 when it sent none (no terminal). */
static int tty_proxy_accept(struct tty_proxy *t)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char data[64];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr msg;
	struct cmsghdr *c;
	CR_CLEANUP_CLOSE int s = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (s < 0)
		return -1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	if (recvmsg(s, &msg, MSG_CMSG_CLOEXEC) <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c == NULL || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&t->master, CMSG_DATA(c), sizeof(int));
	return t->master;
}

/* bo_opts.console_proxy: the socket is made only for a terminal. */
static int tty_proxy_make(void *arg, const char **path, struct cr_error **err)
{
	struct tty_proxy *t = arg;

	if (tty_proxy_listen(t, err) < 0)
		return -1;
	*path = t->path;
	return 0;
}

static void tty_proxy_close(struct tty_proxy *t)
{
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	if (t->master >= 0)
		close(t->master);
	if (t->path[0] != '\0')
		unlink(t->path);
	if (t->dir[0] != '\0')
		rmdir(t->dir);
}

/* Copies up to one buffer from `from` to `to`; -1 at the end of `from`. */
static int tty_copy(int from, int to)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return 0; /* the other side went away: drop, as a tty would */
		off += w;
	}
	return 0;
}

/* Runs the terminal between our stdio and master until pid exits, with
 * stdin raw when it is a terminal; forwards signals and window sizes. */
static int tty_proxy_wait(pid_t pid, int master)
{
	struct termios saved, raw;
	struct winsize ws;
	int is_tty = isatty(0) && tcgetattr(0, &saved) == 0, status = 0;
	int in_open = 1, out_open = 1;
	sigset_t set;
	CR_CLEANUP_CLOSE int sfd = -1;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGWINCH);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (is_tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
		if (ioctl(0, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
	}
	for (;;) {
		struct pollfd p[3] = {
			{ in_open ? 0 : -1, POLLIN, 0 },
			{ out_open ? master : -1, POLLIN, 0 },
			{ sfd, POLLIN, 0 },
		};
		struct signalfd_siginfo si;
		pid_t r;

		while ((r = waitpid(-1, &status, WNOHANG)) > 0)
			if (r == pid)
				goto done;
		if (r < 0 && errno == ECHILD) {
			status = 255 << 8;
			goto done;
		}
		if (poll(p, 3, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR) &&
		    tty_copy(0, master) < 0) {
			/* end of a piped stdin: the terminal's end of file */
			in_open = 0;
			if (!is_tty)
				(void)!write(master, "\004", 1);
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) &&
		    tty_copy(master, 1) < 0)
			out_open = 0;
		while (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGWINCH) {
				if (is_tty && ioctl(0, TIOCGWINSZ, &ws) == 0)
					ioctl(master, TIOCSWINSZ, &ws);
			} else if (si.ssi_signo != SIGCHLD) {
				kill(pid, (int)si.ssi_signo);
			}
		}
	}
done:
	/* what the program wrote last */
	while (out_open && tty_copy(master, 1) == 0) {
		struct pollfd p = { master, POLLIN, 0 };

		if (poll(&p, 1, 0) <= 0)
			break;
	}
	if (is_tty)
		tcsetattr(0, TCSANOW, &saved);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * A foreground run, exec or restore waits for the container's process,
 * which its own parent leaves behind when it exits: only a subreaper gets
 * it.  qemu-user (7.2, Debian 12) answers this prctl itself with EINVAL
 * and never asks the kernel (docs/cross.md); without it the wait would
 * find no child, so say so before starting anything.
 */
static int become_subreaper(const char *what, struct cr_error **err)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
		return 0;
	return cr_error_errno(err, errno,
			      "%s needs prctl(PR_SET_CHILD_SUBREAPER) to wait "
			      "for the container's process (qemu-user does not "
			      "emulate it; --detach does not wait)",
			      what);
}

int bo_run(const struct bo_opts *o, const char *id, int *status,
	   struct cr_error **err)
{
	struct bo_state *st;
	struct bo_opts run = *o, del = *o;
	struct tty_proxy tty = { .listen_fd = -1, .master = -1 };
	sigset_t old;
	pid_t pid;
	int rc = 0;

	*status = 0;
	if (!o->detach && become_subreaper("run", err) < 0)
		return -1;
	if (!o->detach && o->console_socket == NULL) {
		run.console_proxy = tty_proxy_make;
		run.console_proxy_arg = &tty;
	}
	block_forwarded(&old);
	if (bo_create(&run, id, err) < 0)
		goto fail_mask;
	if (tty.listen_fd >= 0)
		tty_proxy_accept(&tty);
	if (bo_start(&run, id, err) < 0) {
		del.force = 1;
		bo_delete(&del, id, NULL);
		goto fail_mask;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (o->detach)
		return 0;
	block_forwarded(NULL);
	st = bo_state_load(o->root, id, err);
	if (st == NULL) {
		tty_proxy_close(&tty);
		return -1;
	}
	pid = st->pid;
	bo_state_free(st);
	*status = tty.master >= 0 ? tty_proxy_wait(pid, tty.master)
				  : wait_forwarding(pid);
	tty_proxy_close(&tty);
	if (!o->keep) {
		del.force = 1;
		rc = bo_delete(&del, id, err);
	}
	return rc;
fail_mask:
	sigprocmask(SIG_SETMASK, &old, NULL);
	tty_proxy_close(&tty);
	return -1;
}

/* Is /proc/PID/ns/NAME another namespace than ours? */
static int other_ns(pid_t pid, const char *name)
{
	char a[64], b[64];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, name);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", name);
	if (stat(a, &sa) < 0)
		return 0;
	if (stat(b, &sb) < 0)
		return 1;
	return sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev;
}

/* The namespaces exec joins, in the order it joins them (user first). */
static const struct {
	const char *name;
	int type;
} exec_nss[] = {
	{ "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS },   { "net", CLONE_NEWNET },
	{ "pid", CLONE_NEWPID },   { "cgroup", CLONE_NEWCGROUP },
	{ "time", CLONE_NEWTIME }, { "mnt", CLONE_NEWNS },
};

enum { EXEC_NSS = sizeof(exec_nss) / sizeof(exec_nss[0]) };

/* What exec needs of the running container, opened from the host:
 * the namespaces that differ from ours, and its root. */
struct exec_target {
	int fds[EXEC_NSS];
	int rootfd;
};

static int exec_target_open(struct exec_target *t, pid_t pid,
			    struct cr_error **err)
{
	char path[64];

	for (size_t i = 0; i < EXEC_NSS; i++) {
		if (!other_ns(pid, exec_nss[i].name))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid,
			 exec_nss[i].name);
		t->fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (t->fds[i] < 0)
			return cr_error_errno(err, errno, "opening %s", path);
	}
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	t->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->rootfd < 0)
		return cr_error_errno(err, errno, "opening %s", path);
	return 0;
}

static void exec_target_close(struct exec_target *t)
{
	for (size_t i = 0; i < EXEC_NSS; i++)
		if (t->fds[i] >= 0)
			close(t->fds[i]);
	if (t->rootfd >= 0)
		close(t->rootfd);
}

/* The exec'd process, in the container's namespaces: its root, then the
 * process applied as create's init does (bo_linux_exec).  Never returns. */
static _Noreturn void exec_process(struct bo_init *in, int rootfd, int sync)
{
	const struct bo_process *proc = in->proc;
	struct cr_error *e = NULL;

	setsid();
	if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		cr_error_errno(&e, errno, "entering the root");
		child_fail(sync, e);
	}
	if (proc->has_oom_score_adj) {
		char v[16];
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

		snprintf(v, sizeof(v), "%d", proc->oom_score_adj);
		/* Best effort, as the kernel may refuse. */
		if (fd >= 0) {
			if (write(fd, v, strlen(v)) < 0)
				errno = 0;
			close(fd);
		}
	}
	/* execCPUAffinity.final, now that the process is in the cgroup
	 * (whose cpuset may have changed the affinity it inherited). */
	if (bo_linux_affinity(0, proc->cpu_final, "final", &e) < 0 ||
	    (proc->terminal && bo_linux_terminal(in, &e) < 0) ||
	    bo_linux_resolve(in, &e) < 0 || bo_linux_sched(proc, &e) < 0)
		child_fail(sync, e);
	msg_send(sync, MSG_READY, NULL, 0);
	close(sync);
	bo_linux_exec(in, &e);
	child_die(e, 127);
}

/* exec's first child: joins the namespaces, then forks the process so
 * that a pid namespace applies to it; reports its pid and exits. */
static _Noreturn void exec_child(struct bo_init *in,
				 const struct exec_target *t, int sync)
{
	struct cr_error *e = NULL;
	char go[16];
	pid_t p;

	reset_signals();
	if (msg_recv(sync, go, sizeof(go), NULL) != MSG_GO)
		_exit(1);
	/* setns() into a mount namespace fails with EINVAL while another
	 * thread shares our fs_struct (root and cwd): a threaded caller, or
	 * qemu-user, whose helper thread does.  A private copy first. */
	if (unshare(CLONE_FS) < 0) {
		cr_error_errno(&e, errno, "unshare(CLONE_FS)");
		child_fail(sync, e);
	}
	for (size_t i = 0; i < EXEC_NSS; i++)
		if (t->fds[i] >= 0 && setns(t->fds[i], exec_nss[i].type) < 0) {
			cr_error_errno(&e, errno, "joining the %s namespace",
				       exec_nss[i].name);
			child_fail(sync, e);
		}
	p = fork();
	if (p == 0)
		exec_process(in, t->rootfd, sync);
	if (p < 0) {
		cr_error_errno(&e, errno, "fork");
		child_fail(sync, e);
	}
	msg_send(sync, MSG_PID, &p, sizeof(p));
	_exit(0);
}

/* Lets the first child (c1, in the container's cgroup) go on until the
 * process is ready; *pid gets its pid. */
static int exec_wait_ready(int sync, pid_t c1, pid_t *pid,
			   struct cr_error **err)
{
	char buf[4096];
	size_t len;
	int type;

	msg_send(sync, MSG_GO, NULL, 0);
	for (;;) {
		type = msg_recv(sync, buf, sizeof(buf), &len);
		if (type == MSG_PID && len == sizeof(pid_t)) {
			memcpy(pid, buf + 1, sizeof(*pid));
			continue;
		}
		if (type == MSG_READY)
			break;
		if (type == MSG_ERROR)
			cr_error_set(err, EINVAL, "%s", buf + 1);
		else
			cr_error_set(err, EIO, "exec: setup died early");
		waitpid(c1, NULL, 0);
		if (*pid > 0)
			waitpid(*pid, NULL, 0);
		return -1;
	}
	waitpid(c1, NULL, 0);
	return 0;
}

int bo_exec(const struct bo_opts *o, const char *id, struct bo_process *proc,
	    int *status, struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	struct bo_spec *s = NULL;
	struct exec_target t;
	struct bo_init in;
	int sp[2] = { -1, -1 }, rc = -1;
	pid_t c1, pid = 0;
	sigset_t old;

	*status = 0;
	memset(&in, 0, sizeof(in));
	in.console_fd = -1;
	for (size_t i = 0; i < EXEC_NSS; i++)
		t.fds[i] = -1;
	t.rootfd = -1;
	if (st == NULL)
		return -1;
	if (strcmp(bo_state_status(o->root, st), "stopped") == 0) {
		cr_error_set(err, EINVAL, "cannot exec in a stopped container");
		goto out;
	}
	s = bo_container_spec(o, id, err);
	if (s == NULL || exec_target_open(&t, st->pid, err) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		cr_error_errno(err, errno, "socketpair");
		goto out;
	}
	in.spec = s;
	in.proc = proc;
	in.rootfs = "/";
	in.console_socket = o->console_socket;
	in.preserve_fds = o->preserve_fds;
	in.in_userns = t.fds[0] >= 0;
	/* The socket's path is the host's: connect before entering the
	 * container's mount namespace. */
	if (proc->terminal && o->console_socket != NULL) {
		in.console_fd = bo_linux_console_connect(o->console_socket, err);
		if (in.console_fd < 0)
			goto out;
	}
	if (!o->detach && become_subreaper("exec", err) < 0)
		goto out;
	block_forwarded(&old);
	c1 = fork();
	if (c1 < 0) {
		cr_error_errno(err, errno, "fork");
		goto out_mask;
	}
	if (c1 == 0) {
		close(sp[0]);
		exec_child(&in, &t, sp[1]);
	}
	close(sp[1]);
	sp[1] = -1;
	/* execCPUAffinity.initial: the runtime's child runs there while it
	 * moves into the container's cgroup (it waits for MSG_GO). */
	if (bo_linux_affinity(c1, proc->cpu_initial, "initial", err) < 0 ||
	    bo_cgroup_join(st->cgroup_dirs, c1, err) < 0) {
		kill(c1, SIGKILL);
		waitpid(c1, NULL, 0);
		goto out_mask;
	}
	if (exec_wait_ready(sp[0], c1, &pid, err) < 0)
		goto out_mask;
	if (o->pid_file != NULL && write_pid_file(o->pid_file, pid, err) < 0)
		goto out_mask;
	rc = 0;
	if (!o->detach)
		*status = wait_forwarding(pid);
out_mask:
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	if (in.console_fd >= 0)
		close(in.console_fd);
	exec_target_close(&t);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	bo_spec_free(s);
	bo_state_free(st);
	return rc;
}

int bo_signal_parse(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "HUP", SIGHUP },     { "INT", SIGINT },     { "QUIT", SIGQUIT },
		{ "ILL", SIGILL },     { "TRAP", SIGTRAP },   { "ABRT", SIGABRT },
		{ "BUS", SIGBUS },     { "FPE", SIGFPE },     { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 },   { "SEGV", SIGSEGV },   { "USR2", SIGUSR2 },
		{ "PIPE", SIGPIPE },   { "ALRM", SIGALRM },   { "TERM", SIGTERM },
		{ "CHLD", SIGCHLD },   { "CONT", SIGCONT },   { "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP },   { "TTIN", SIGTTIN },   { "TTOU", SIGTTOU },
		{ "URG", SIGURG },     { "XCPU", SIGXCPU },   { "XFSZ", SIGXFSZ },
		{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
		{ "IO", SIGIO },       { "PWR", SIGPWR },     { "SYS", SIGSYS },
	};
	uint64_t n;

	if (cr_parse_u64(s, 1, 64, &n) == 0)
		return (int)n;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcasecmp(s, sigs[i].name) == 0)
			return sigs[i].sig;
	return -1;
}

/* restore's child: waits until the runtime has put it in the container's
 * cgroup (so criu and the processes it restores are in it from the
 * start), runs criu and reports a failure's message on report. */
static void restore_child(const struct create *c, const struct bo_criu_opts *cr,
			  const char *croot, const char *pidf, int go,
			  int report)
{
	char b, arg[PATH_MAX + 16];
	const char *extra[] = { "--restore-detached", arg, NULL };
	struct cr_error *e = NULL;

	if (read(go, &b, 1) != 1)
		_exit(1);
	snprintf(arg, sizeof(arg), "--pidfile=%s", pidf);
	if (bo_criu_run("restore", cr, c->s, croot, extra, &e) < 0) {
		const char *m = cr_error_msg(e);

		if (write(report, m, strlen(m)) < 0)
			_exit(1);
		_exit(1);
	}
	_exit(0);
}

/*
 * restore, as runc's: the bundle loaded and the state folder made as for
 * create (no exec fifo: the processes run as soon as criu is done), the
 * root filesystem bound on STATE/criu-root for criu to pivot into, the
 * cgroup made around criu, then criu restore; the restored init's pid
 * comes from criu's pid file.  No hooks run.
 */
int bo_restore(const struct bo_opts *o, const char *id,
	       const struct bo_criu_opts *cr, int *status,
	       struct cr_error **err)
{
	struct create c;
	char croot[PATH_MAX], pidf[PATH_MAX], msg[1024], *text = NULL;
	CR_CLEANUP_FREE char *sjson = NULL;
	int go[2] = { -1, -1 }, report[2] = { -1, -1 }, mounted = 0, rc = -1;
	size_t len;
	ssize_t got;

	*status = 0;
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.id = id;
	c.sync = -1;
	if (!o->detach && become_subreaper("restore", err) < 0)
		return -1;
	if (create_load(&c, err) < 0)
		goto out;
	if (create_state_dir(&c, err) < 0)
		goto fail;
	unlink(c.fifo);
	pjoin(croot, sizeof(croot), c.dir, "criu-root");
	pjoin(pidf, sizeof(pidf), c.dir, "restore.pid");
	if (mkdir(croot, 0700) < 0 ||
	    mount(c.rootfs, croot, NULL, MS_BIND | MS_REC, NULL) < 0) {
		cr_error_errno(err, errno, "restore: binding %s", c.rootfs);
		goto fail;
	}
	mounted = 1;
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
		cr_error_errno(err, errno, "restore");
		goto fail;
	}
	c.c1 = fork();
	if (c.c1 < 0) {
		cr_error_errno(err, errno, "restore: fork");
		goto fail;
	}
	if (c.c1 == 0)
		restore_child(&c, cr, croot, pidf, go[0], report[1]);
	close(report[1]);
	report[1] = -1;
	if (create_cgroup(&c, err) < 0) {
		kill(c.c1, SIGKILL);
		goto fail;
	}
	if (write(go[1], "g", 1) != 1) {
		cr_error_errno(err, errno, "restore: criu's runner died");
		goto fail;
	}
	got = read(report[0], msg, sizeof(msg) - 1);
	waitpid(c.c1, NULL, 0);
	c.c1 = 0;
	if (got > 0) {
		msg[got] = '\0';
		cr_error_set(err, EIO, "restore: %s", msg);
		goto fail;
	}
	if (cr_read_file(pidf, 32, &text, &len, err) < 0) {
		cr_error_wrap(err, "restore: criu's pid file");
		goto fail;
	}
	c.pid = (pid_t)strtol(text, NULL, 10);
	if (c.pid <= 0) {
		cr_error_set(err, EIO, "restore: criu's pid file: '%s'", text);
		goto fail;
	}
	umount2(croot, MNT_DETACH);
	rmdir(croot);
	mounted = 0;
	sjson = create_record(&c, err);
	if (sjson == NULL ||
	    (o->pid_file != NULL && write_pid_file(o->pid_file, c.pid, err) < 0))
		goto fail;
	/* C1 is reaped last: it exits as soon as it has sent the init's pid,
	 * and waiting for that at once would put create to sleep (one more
	 * trip through the scheduler on a busy machine) for nothing. */
	waitpid(c.c1, NULL, 0);
	c.c1 = 0;
	rc = 0;
	if (!o->detach) {
		struct bo_opts del = *o;

		block_forwarded(NULL);
		*status = wait_forwarding(c.pid);
		del.force = 1;
		rc = bo_delete(&del, id, err);
	}
	goto out;
fail:
	if (mounted)
		umount2(croot, MNT_DETACH);
	if (c.made_dir)
		rmdir(croot);
	create_undo(&c);
out:
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (report[i] >= 0)
			close(report[i]);
	}
	free(text);
	bo_cgroup_dirs_free(c.st.cgroup_dirs);
	bo_spec_free(c.s);
	free(c.text);
	return rc;
}
