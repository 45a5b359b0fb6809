/* The container side between fork and execve: see bo/linux.h. */
#include "bo/linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "bo/cgroup.h"
#include "bo/hooks.h"
#include "bo/path.h"
#include "bo/mountapi.h"
#include "cr/cleanup.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int bo_linux_has_namespace(int type)
{
	char path[64];
	const char *name = bo_namespace_name(type);

	if (name == NULL)
		return 0;
	if (type == CLONE_NEWNET)
		name = "net";
	else if (type == CLONE_NEWNS)
		name = "mnt";
	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	return access(path, F_OK) == 0;
}

/* Opens path inside the tree at rootfd as if rootfd were "/", so a hostile
 * image cannot point a mount outside its root (see bo/path.h). */
static int open_in_root(int rootfd, const char *path, int flags)
{
	return bo_path_open(rootfd, path, flags, BO_PATH_NOCREATE);
}

/* Creates path (directories, and a file as the last component when
 * is_file) inside rootfd; returns an O_PATH fd to it.  A dangling symlink
 * on the way is created at its target, inside the root. */
static int make_in_root(int rootfd, const char *path, int is_file,
			struct cr_error **err)
{
	int fd = bo_path_open(rootfd, path, O_PATH,
			      is_file ? BO_PATH_MKFILE : BO_PATH_MKDIR);

	if (fd < 0)
		return cr_error_errno(err, errno, "creating %s in the container",
				      path);
	return fd;
}

static void fd_path(int fd, char *out, size_t size)
{
	snprintf(out, size, "/proc/self/fd/%d", fd);
}

enum {
	BIND_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
		     MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME |
		     MS_NOSYMFOLLOW,
};

/* The flags a bind mount in a user namespace must keep from its source. */
static unsigned long locked_flags(const char *source)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(source, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_RDONLY)
		f |= MS_RDONLY;
	return f;
}

/* mkdir -p, best effort: the chdir that follows says what failed. */
static void mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *q = buf + 1; *q != '\0'; q++)
		if (*q == '/') {
			*q = '\0';
			mkdir(buf, 0755);
			*q = '/';
		}
	mkdir(buf, 0755);
}

/*
 * The cgroup mount of a container with its own cgroup namespace, or of
 * any container on a v1 or hybrid host: what runc and crun do on v1.
 * Each hierarchy shows the container's own directory: on a v2 host that
 * directory is bound at the target; otherwise a tmpfs holds one folder per
 * hierarchy (named as on the host: memory, pids, unified...) with the
 * container's directory bound in it.
 */
static int cgroup2_host(void)
{
	struct statfs sf;

	return statfs("/sys/fs/cgroup", &sf) == 0 &&
	       sf.f_type == CGROUP2_SUPER_MAGIC;
}

static int mount_own_cgroups(struct bo_init *in, int rootfd, const char *dest,
			     const char *target, int ro, struct cr_error **err)
{
	char sub[PATH_MAX];
	CR_CLEANUP_CLOSE int tfd = -1;
	CR_CLEANUP_FREE char *mps = NULL;
	unsigned long rof = ro ? MS_RDONLY : 0;
	size_t ndirs = 0;
	enum { MP = 512 };

	if (cgroup2_host()) {
		if (mount(in->cgroup_dirs[0], target, NULL, MS_BIND, NULL) < 0)
			return cr_error_errno(err, errno, "binding %s",
					      in->cgroup_dirs[0]);
		if (ro)
			mount(NULL, target, NULL,
			      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
				      MS_NODEV | MS_NOEXEC,
			      NULL);
		return 0;
	}
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=755") < 0)
		return cr_error_errno(err, errno, "tmpfs for the cgroups");
	/* The new tmpfs, not the folder under it. */
	tfd = open_in_root(rootfd, dest, O_PATH | O_DIRECTORY);
	if (tfd < 0)
		return cr_error_errno(err, errno, "opening %s", dest);
	while (in->cgroup_dirs[ndirs] != NULL)
		ndirs++;
	mps = calloc(ndirs + 1, MP);
	if (mps == NULL)
		return cr_error_errno(err, ENOMEM, "cgroup mounts");
	bo_cgroup_mountpoints(in->cgroup_dirs, mps, MP);
	for (size_t i = 0; in->cgroup_dirs[i] != NULL; i++) {
		const char *name, *mp = mps + i * MP;

		if (mp[0] == '\0')
			continue;
		name = strrchr(mp, '/') ? strrchr(mp, '/') + 1 : mp;
		if (snprintf(sub, sizeof(sub), "/proc/self/fd/%d/%s", tfd, name) >=
		    (int)sizeof(sub))
			continue;
		if (mkdirat(tfd, name, 0755) < 0 && errno != EEXIST)
			return cr_error_errno(err, errno, "mkdir %s", sub);
		if (mount(in->cgroup_dirs[i], sub, NULL, MS_BIND, NULL) < 0)
			return cr_error_errno(err, errno, "binding %s",
					      in->cgroup_dirs[i]);
		mount(NULL, sub, NULL,
		      MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | rof,
		      NULL);
	}
	if (ro) {
		char t[64];

		fd_path(tfd, t, sizeof(t));
		mount(NULL, t, NULL,
		      MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      "mode=755");
	}
	(void)target;
	return 0;
}

/* Copies the tree at src (a directory fd) into dst, keeping types,
 * modes, owners and times: tmpcopyup.  Hard links become copies. */
static int copy_tree(int src, int dst, const char *where, int depth,
		     struct cr_error **err)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > 64)
		return cr_error_set(err, ELOOP, "tmpcopyup: %s: too deep", where);
	d = fdopendir(dup(src));
	if (d == NULL)
		return cr_error_errno(err, errno, "tmpcopyup: reading %s", where);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		struct stat sb;
		struct timespec ts[2];

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (fstatat(src, n, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = cr_error_errno(err, errno, "tmpcopyup: %s/%s",
					    where, n);
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			int s2, d2;

			if (mkdirat(dst, n, 0700) < 0) {
				rc = cr_error_errno(err, errno,
						    "tmpcopyup: mkdir %s/%s",
						    where, n);
				break;
			}
			s2 = openat(src, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						    O_CLOEXEC);
			d2 = openat(dst, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						    O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				rc = cr_error_errno(err, errno, "tmpcopyup: %s/%s",
						    where, n);
			else
				rc = copy_tree(s2, d2, where, depth + 1, err);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISREG(sb.st_mode)) {
			int s2 = openat(src, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int d2 = openat(dst, n,
					O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
					0600);
			char buf[65536];
			ssize_t r = 0;

			while (s2 >= 0 && d2 >= 0 &&
			       (r = read(s2, buf, sizeof(buf))) > 0)
				if (write(d2, buf, (size_t)r) != r) {
					r = -1;
					break;
				}
			if (s2 < 0 || d2 < 0 || r < 0)
				rc = cr_error_errno(err, errno,
						    "tmpcopyup: copying %s/%s",
						    where, n);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISLNK(sb.st_mode)) {
			char target[PATH_MAX];
			ssize_t len = readlinkat(src, n, target,
						 sizeof(target) - 1);

			if (len >= 0)
				target[len] = '\0';
			if (len < 0 || symlinkat(target, dst, n) < 0)
				rc = cr_error_errno(err, errno,
						    "tmpcopyup: symlink %s/%s",
						    where, n);
		} else if (mknodat(dst, n, sb.st_mode, sb.st_rdev) < 0) {
			rc = cr_error_errno(err, errno, "tmpcopyup: mknod %s/%s",
					    where, n);
		}
		if (rc < 0)
			break;
		if (fchownat(dst, n, sb.st_uid, sb.st_gid, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    (!S_ISLNK(sb.st_mode) &&
		     fchmodat(dst, n, sb.st_mode & 07777, 0) < 0)) {
			rc = cr_error_errno(err, errno,
					    "tmpcopyup: owner and mode of %s/%s",
					    where, n);
			break;
		}
		ts[0] = sb.st_atim;
		ts[1] = sb.st_mtim;
		utimensat(dst, n, ts, AT_SYMLINK_NOFOLLOW);
	}
	closedir(d);
	return rc;
}

static int do_mount(struct bo_init *in, int rootfd, const struct bo_mount *m,
		    size_t idx, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = -1;
	char target[64];
	int is_file = 0;
	const char *type = m->type;

	if (m->bind) {
		struct stat sb;

		if (stat(m->source, &sb) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: source %s", idx,
					      m->source);
		is_file = !S_ISDIR(sb.st_mode);
	}
	fd = make_in_root(rootfd, m->destination, is_file, err);
	if (fd < 0)
		return cr_error_wrap(err, "mounts[%zu]", idx);
	fd_path(fd, target, sizeof(target));
	if (m->idmap) {
		/* The runtime's idmapped tree of the source (container.c,
		 * send_idmap_mounts), attached here. */
		int tree = in->mount_fds != NULL ? in->mount_fds[idx] : -1;

		if (tree < 0)
			return cr_error_set(err, EINVAL,
					    "mounts[%zu]: no idmapped tree for %s",
					    idx, m->destination);
		if (move_mount(tree, "", fd, "",
			       MOVE_MOUNT_F_EMPTY_PATH |
				       MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: attaching the "
					      "idmapped %s on %s",
					      idx, m->source, m->destination);
		close(tree);
		in->mount_fds[idx] = -1;
	}
	if (m->bind) {
		if (!m->idmap &&
		    mount(m->source, target, NULL,
			  MS_BIND | (m->bind == 2 ? MS_REC : 0), NULL) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: bind %s on %s", idx,
					      m->source, m->destination);
		if (m->flags & BIND_FLAGS) {
			unsigned long f = m->flags & BIND_FLAGS;

			if (in->in_userns)
				f |= locked_flags(m->source);
			close(fd);
			fd = open_in_root(rootfd, m->destination, O_PATH);
			fd_path(fd, target, sizeof(target));
			if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | f,
				  NULL) < 0)
				return cr_error_errno(err, errno,
						      "mounts[%zu]: remount %s",
						      idx, m->destination);
		}
	} else if (type != NULL &&
		   (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0) &&
		   (bo_spec_namespace(in->spec, CLONE_NEWCGROUP) != NULL ||
		    !cgroup2_host()) &&
		   in->cgroup_dirs != NULL && in->cgroup_dirs[0] != NULL) {
		/* On v1 and hybrid hosts, runc and crun show each hierarchy
		 * as the container's own directory with or without a cgroup
		 * namespace: /sys/fs/cgroup/pids/pids.max is the
		 * container's limit. */
		if (mount_own_cgroups(in, rootfd, m->destination, target,
				      m->flags & MS_RDONLY, err) < 0)
			return cr_error_wrap(err, "mounts[%zu]", idx);
	} else if (type != NULL &&
		   (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0)) {
		/* A v2 host without a cgroup namespace: the container's
		 * /proc/self/cgroup names host paths, so it gets the host's
		 * tree (read-only when asked), as a fresh cgroup2 mount
		 * would show it. */
		if (mount("/sys/fs/cgroup", target, NULL, MS_BIND | MS_REC,
			  NULL) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: cgroup on %s", idx,
					      m->destination);
		if (m->flags & MS_RDONLY) {
			close(fd);
			fd = open_in_root(rootfd, m->destination, O_PATH);
			fd_path(fd, target, sizeof(target));
			mount(NULL, target, NULL,
			      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
				      MS_NODEV | MS_NOEXEC,
			      NULL);
		}
	} else {
		const char *src = m->source != NULL ? m->source : type;
		CR_CLEANUP_CLOSE int under = -1;

		/* tmpcopyup: what the image has at the destination, before
		 * the tmpfs hides it. */
		if (m->tmpcopyup) {
			under = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (under < 0)
				return cr_error_errno(err, errno,
						      "mounts[%zu]: tmpcopyup %s",
						      idx, m->destination);
		}
		/* (written first, then made read-only when asked) */
		if (mount(src, target, type,
			  m->flags & ~MS_REMOUNT &
				  ~(m->tmpcopyup ? (unsigned long)MS_RDONLY : 0UL),
			  m->data) < 0) {
			int e = errno;

			/* Without a network (sysfs) or ipc (mqueue) namespace
			 * of its own, a user namespace may not mount these:
			 * bind the host's instead, as runc does. */
			if ((e == EPERM || e == EBUSY) && type != NULL &&
			    (strcmp(type, "sysfs") == 0 ||
			     strcmp(type, "mqueue") == 0)) {
				const char *host = strcmp(type, "sysfs") == 0
							   ? "/sys"
							   : "/dev/mqueue";

				if (mount(host, target, NULL, MS_BIND | MS_REC,
					  NULL) == 0)
					goto propagation;
			}
			return cr_error_errno(err, e, "mounts[%zu]: mount %s (%s) "
						      "on %s",
					      idx, src, type ? type : "?",
					      m->destination);
		}
		if (under >= 0) {
			CR_CLEANUP_CLOSE int top =
				open_in_root(rootfd, m->destination,
					     O_RDONLY | O_DIRECTORY);

			if (top < 0)
				return cr_error_errno(err, errno,
						      "mounts[%zu]: tmpcopyup %s",
						      idx, m->destination);
			if (copy_tree(under, top, m->destination, 0, err) < 0)
				return cr_error_wrap(err, "mounts[%zu]", idx);
			fd_path(top, target, sizeof(target));
			if ((m->flags & MS_RDONLY) &&
			    mount(NULL, target, NULL,
				  MS_REMOUNT | (m->flags & ~MS_REMOUNT), m->data) < 0)
				return cr_error_errno(err, errno,
						      "mounts[%zu]: read-only %s",
						      idx, m->destination);
		}
	}
propagation:
	/* "rro", "rnosuid"...: the whole tree, submounts of an rbind
	 * included (Linux 5.12). */
	if (m->rec_set != 0 || m->rec_clr != 0) {
		struct mount_attr a = { .attr_set = m->rec_set,
					.attr_clr = m->rec_clr };

		close(fd);
		fd = open_in_root(rootfd, m->destination, O_PATH);
		if (fd < 0 ||
		    mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a,
				  sizeof(a)) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: recursive options "
					      "on %s",
					      idx, m->destination);
	}
	if (m->propagation) {
		close(fd);
		fd = open_in_root(rootfd, m->destination, O_PATH);
		fd_path(fd, target, sizeof(target));
		if (mount(NULL, target, NULL, m->propagation, NULL) < 0)
			return cr_error_errno(err, errno,
					      "mounts[%zu]: propagation of %s",
					      idx, m->destination);
	}
	return 0;
}

/* A device node at path in the root; in a user namespace a bind of the
 * node at host (NULL: the host's node at the same path). */
static int make_device(struct bo_init *in, int rootfd, const char *path,
		       const char *host, char type, int64_t major,
		       int64_t minor, mode_t mode, int has_owner, uid_t uid,
		       gid_t gid, struct cr_error **err)
{
	char parent[PATH_MAX], *slash;
	const char *name;
	CR_CLEANUP_CLOSE int pfd = -1;
	mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	*slash = '\0';
	name = slash + 1;
	pfd = make_in_root(rootfd, parent[0] ? parent : "/", 0, err);
	if (pfd < 0)
		return -1;
	{
		/* mknodat needs a real directory fd, not O_PATH on old
		 * kernels. */
		char p[64];
		int dfd;

		fd_path(pfd, p, sizeof(p));
		dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return cr_error_errno(err, errno, "opening %s", parent);
		close(pfd);
		pfd = dfd;
	}
	unlinkat(pfd, name, 0);
	if (!in->in_userns &&
	    mknodat(pfd, name, fmt | (mode & 07777),
		    makedev((unsigned)major, (unsigned)minor)) == 0) {
		if (has_owner && fchownat(pfd, name, uid, gid, 0) < 0)
			return cr_error_errno(err, errno, "chown %s", path);
		return 0;
	}
	if (!in->in_userns && errno != EPERM)
		return cr_error_errno(err, errno, "mknod %s", path);
	/* In a user namespace mknod is refused: bind the host's node. */
	{
		int f = openat(pfd, name,
			       O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		char p[64];
		CR_CLEANUP_CLOSE int tfd = -1;

		if (f < 0)
			return cr_error_errno(err, errno, "creating %s", path);
		close(f);
		tfd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		fd_path(tfd, p, sizeof(p));
		if (mount(host != NULL ? host : path, p, NULL, MS_BIND, NULL) <
		    0)
			return cr_error_errno(err, errno, "binding %s", path);
	}
	return 0;
}

static int setup_dev(struct bo_init *in, int rootfd, int default_devices,
		     struct cr_error **err)
{
	static const struct {
		const char *path;
		int major, minor;
	} defaults[] = {
		{ "/dev/null", 1, 3 },	  { "/dev/zero", 1, 5 },
		{ "/dev/full", 1, 7 },	  { "/dev/random", 1, 8 },
		{ "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
	};
	static const struct {
		const char *target, *name;
	} links[] = {
		{ "/proc/self/fd", "fd" },     { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "/proc/kcore", "core" },     { "pts/ptmx", "ptmx" },
	};
	const struct bo_spec *s = in->spec;

	if (default_devices) {
		CR_CLEANUP_CLOSE int dfd = -1;
		char p[64];
		CR_CLEANUP_CLOSE int dev = -1;

		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]);
		     i++) {
			int skip = 0;

			for (size_t k = 0; k < s->n_devices; k++)
				if (strcmp(s->devices[k].path, defaults[i].path) ==
				    0)
					skip = 1;
			if (!skip &&
			    make_device(in, rootfd, defaults[i].path, NULL, 'c',
					defaults[i].major, defaults[i].minor, 0666,
					0, 0, 0, err) < 0)
				return -1;
		}
		dfd = make_in_root(rootfd, "/dev", 0, err);
		if (dfd < 0)
			return -1;
		fd_path(dfd, p, sizeof(p));
		dev = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (size_t i = 0; dev >= 0 && i < sizeof(links) / sizeof(links[0]);
		     i++)
			if (symlinkat(links[i].target, dev, links[i].name) < 0 &&
			    errno != EEXIST)
				return cr_error_errno(err, errno, "/dev/%s",
						      links[i].name);
	}
	for (size_t k = 0; k < s->n_devices; k++) {
		const struct bo_device *d = &s->devices[k];
		char host[PATH_MAX];

		int made = 0;

		/* The runtime's node when it made one, else the host's. */
		if (in->devdir != NULL) {
			snprintf(host, sizeof(host), "%s/%zu", in->devdir, k);
			made = access(host, F_OK) == 0;
		}
		if (make_device(in, rootfd, d->path, made ? host : NULL, d->type,
				d->major, d->minor,
				d->has_mode ? d->mode : 0666,
				d->has_uid || d->has_gid, d->uid, d->gid,
				err) < 0)
			return cr_error_wrap(err, "linux.devices[%zu]", k);
	}
	return 0;
}

int bo_linux_console_connect(const char *sock_path, struct cr_error **err)
{
	struct sockaddr_un sa;
	int s;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return cr_error_set(err, ENAMETOOLONG,
				    "--console-socket: path too long");
	memcpy(sa.sun_path, sock_path, strlen(sock_path));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cr_error_errno(err, errno, "--console-socket %s", sock_path);
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

ssize_t bo_linux_send_fd(int sock, int fd, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t w;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		w = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w;
}

static int send_fd(int s, int fd, struct cr_error **err)
{
	static const char data[] = "/dev/ptmx";

	if (bo_linux_send_fd(s, fd, data, sizeof(data) - 1) < 0)
		return cr_error_errno(err, errno,
				      "sending the terminal to the console "
				      "socket");
	return 0;
}

int bo_linux_terminal(struct bo_init *in, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int rootfd = -1;
	CR_CLEANUP_CLOSE int master = -1;
	CR_CLEANUP_CLOSE int slave = -1;
	int unlock = 0;
	const struct bo_process *p = in->proc;

	rootfd = open(in->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cr_error_errno(err, errno, "opening %s", in->rootfs);
	master = open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
	if (master < 0)
		master = open_in_root(rootfd, "/dev/ptmx", O_RDWR | O_NOCTTY);
	if (master < 0)
		return cr_error_errno(err, errno,
				      "process.terminal: no /dev/pts/ptmx in "
				      "the container");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return cr_error_errno(err, errno, "unlocking the pty");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		unsigned n;
		char path[64];

		if (ioctl(master, TIOCGPTN, &n) < 0)
			return cr_error_errno(err, errno, "pty number");
		snprintf(path, sizeof(path), "/dev/pts/%u", n);
		slave = open_in_root(rootfd, path, O_RDWR | O_NOCTTY);
		if (slave < 0)
			return cr_error_errno(err, errno, "opening %s", path);
	}
	if (p->console_height || p->console_width) {
		struct winsize ws = { 0 };

		ws.ws_row = (unsigned short)p->console_height;
		ws.ws_col = (unsigned short)p->console_width;
		ioctl(slave, TIOCSWINSZ, &ws);
	}
	if (in->spec != NULL && in->spec->has_process &&
	    p == &in->spec->process) {
		/* /dev/console is the container's terminal. */
		CR_CLEANUP_CLOSE int cfd = -1;
		char src[64], dst[64];

		cfd = make_in_root(rootfd, "/dev/console", 1, err);
		if (cfd < 0)
			return -1;
		fd_path(slave, src, sizeof(src));
		fd_path(cfd, dst, sizeof(dst));
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return cr_error_errno(err, errno,
					      "binding /dev/console");
	}
	if (in->console_fd < 0 && in->console_socket == NULL)
		return cr_error_set(err, EINVAL,
				    "process.terminal is true: give "
				    "--console-socket");
	{
		int s = in->console_fd >= 0
				? in->console_fd
				: bo_linux_console_connect(in->console_socket,
							   err);
		int rc;

		if (s < 0)
			return -1;
		rc = send_fd(s, master, err);
		close(s);
		in->console_fd = -1;
		if (rc < 0)
			return -1;
	}
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return cr_error_errno(err, errno, "setting the controlling tty");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return cr_error_errno(err, errno, "dup2");
	return 0;
}

static int do_pivot(const char *rootfs, int no_pivot, struct cr_error **err)
{
	if (chdir(rootfs) < 0)
		return cr_error_errno(err, errno, "chdir %s", rootfs);
	if (no_pivot) {
		if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
			return cr_error_errno(err, errno, "moving the root");
		if (chroot(".") < 0)
			return cr_error_errno(err, errno, "chroot");
		return chdir("/") < 0 ? cr_error_errno(err, errno, "chdir /") : 0;
	}
	/* pivot_root(".", ".") stacks the old root on the new one; detaching
	 * it then leaves only the new root (runc's trick: no temporary
	 * directory in the image). */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return cr_error_errno(err, errno, "pivot_root %s", rootfs);
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return cr_error_errno(err, errno, "old root: make slave");
	if (umount2(".", MNT_DETACH) < 0)
		return cr_error_errno(err, errno, "old root: umount");
	return chdir("/") < 0 ? cr_error_errno(err, errno, "chdir /") : 0;
}

static int mask_paths(const struct bo_spec *s, struct cr_error **err)
{
	for (size_t i = 0; s->masked_paths != NULL && s->masked_paths[i] != NULL;
	     i++) {
		const char *p = s->masked_paths[i];
		struct stat sb;

		if (stat(p, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k") < 0)
				return cr_error_errno(err, errno,
						      "linux.maskedPaths: %s", p);
		} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
			return cr_error_errno(err, errno, "linux.maskedPaths: %s",
					      p);
		}
	}
	for (size_t i = 0;
	     s->readonly_paths != NULL && s->readonly_paths[i] != NULL; i++) {
		const char *p = s->readonly_paths[i];

		if (access(p, F_OK) < 0)
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, p, NULL,
			  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
				  MS_NODEV | MS_NOEXEC,
			  NULL) < 0) {
			/* Keep what a locked mount (user namespace) allows. */
			if (mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY,
				  NULL) < 0)
				return cr_error_errno(err, errno,
						      "linux.readonlyPaths: %s",
						      p);
		}
	}
	return 0;
}

static int write_proc(const char *path, const char *value,
		      struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(value);

	if (fd < 0 || write(fd, value, len) != (ssize_t)len)
		return cr_error_errno(err, errno, "writing %s", path);
	return 0;
}

int bo_linux_prepare(struct bo_init *in, struct cr_error **err)
{
	const struct bo_spec *s = in->spec;
	CR_CLEANUP_CLOSE int rootfd = -1;
	int dev_bound = 0;
	/* Setup runs with the tree slave (or private when asked): a shared
	 * root would make pivot_root fail and our mounts reach the host.
	 * The propagation asked for is applied to the new root after
	 * pivot_root, as crun does. */
	unsigned long prop = (s->rootfs_propagation & MS_PRIVATE)
				     ? s->rootfs_propagation
				     : MS_SLAVE | MS_REC;

	/* Device nodes and mount points get exactly the modes asked; the
	 * process's own umask is set just before it runs. */
	umask(0);
	/* Nothing mounted below may propagate back to the host. */
	if (mount(NULL, "/", NULL, prop, NULL) < 0)
		return cr_error_errno(err, errno, "linux.rootfsPropagation");
	if (mount(in->rootfs, in->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return cr_error_errno(err, errno, "root.path: bind %s",
				      in->rootfs);
	rootfd = open(in->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cr_error_errno(err, errno, "root.path: %s", in->rootfs);
	for (size_t i = 0; i < s->n_mounts; i++) {
		if (do_mount(in, rootfd, &s->mounts[i], i, err) < 0)
			return -1;
		if (strcmp(s->mounts[i].destination, "/dev") == 0 &&
		    s->mounts[i].bind)
			dev_bound = 1;
	}
	/* The default devices, unless /dev is the host's (runc's rule). */
	if (setup_dev(in, rootfd, !dev_bound, err) < 0)
		return -1;
	if (in->proc->terminal && bo_linux_terminal(in, err) < 0)
		return -1;
	for (size_t i = 0; i < s->n_sysctl; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "/proc/sys/%s", s->sysctl[i].key);
		for (char *p = path + 10; *p != '\0'; p++)
			if (*p == '.')
				*p = '/';
		if (write_proc(path, s->sysctl[i].value, err) < 0)
			return cr_error_wrap(err, "linux.sysctl.%s",
					     s->sysctl[i].key);
	}
	if (in->proc->has_oom_score_adj) {
		char v[16];

		snprintf(v, sizeof(v), "%d", in->proc->oom_score_adj);
		if (write_proc("/proc/self/oom_score_adj", v, err) < 0)
			return cr_error_wrap(err, "process.oomScoreAdj");
	}
	/* createContainer hooks: in the container's namespaces, before
	 * pivot_root (config.md). */
	if (bo_hooks_run(s, BO_HOOK_CREATE_CONTAINER, in->state_json, err) < 0)
		return -1;
	if (do_pivot(in->rootfs, in->no_pivot, err) < 0)
		return -1;
	if (s->rootfs_propagation &&
	    mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
		return cr_error_errno(err, errno, "linux.rootfsPropagation");
	if (mask_paths(s, err) < 0)
		return -1;
	/* A missing working directory is created (as runc and crun do)
	 * while the root can still be written. */
	if (s->root_readonly && in->proc->cwd != NULL)
		mkdir_p(in->proc->cwd);
	if (s->root_readonly &&
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0 &&
	    mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags("/"),
		  NULL) < 0)
		return cr_error_errno(err, errno, "root.readonly");
	if (s->hostname != NULL && s->hostname[0] != '\0' &&
	    sethostname(s->hostname, strlen(s->hostname)) < 0)
		return cr_error_errno(err, errno, "hostname");
	if (s->domainname != NULL && s->domainname[0] != '\0' &&
	    setdomainname(s->domainname, strlen(s->domainname)) < 0)
		return cr_error_errno(err, errno, "domainname");
	return 0;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

static int executable(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	       (sb.st_mode & 0111) != 0;
}

/* The home folder of uid in the container's /etc/passwd, or NULL. */
static char *passwd_home(uint32_t uid)
{
	CR_CLEANUP_FCLOSE FILE *f = fopen("/etc/passwd", "re");
	char line[1024];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *field[7], *t = line;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		/* strsep, not strtok: empty fields count. */
		while (n < 7 && (field[n] = strsep(&t, ":")) != NULL)
			n++;
		if (n == 7 && strtoul(field[2], NULL, 10) == uid &&
		    field[2][0] != '\0')
			return strdup(field[5]);
	}
	return NULL;
}

/* in->env: the process's environment plus what the runtime adds.  HOME,
 * when the config has none, is the user's home in the container's
 * /etc/passwd, else "/" (runc's and crun's rule); LISTEN_FDS and
 * LISTEN_PID for socket activation. */
static int build_env(struct bo_init *in, struct cr_error **err)
{
	char *const *env = in->proc->env;
	size_t n = 0, k;
	int need_home = env_get(env, "HOME") == NULL;

	if (!need_home && in->listen_fds <= 0)
		return 0;
	while (env != NULL && env[n] != NULL)
		n++;
	in->env = calloc(n + 4, sizeof(char *));
	if (in->env == NULL)
		return cr_error_errno(err, ENOMEM, "process.env");
	for (k = 0; k < n; k++)
		in->env[k] = env[k];
	if (need_home) {
		char *home = passwd_home(in->proc->uid);

		if (asprintf(&in->env[k++], "HOME=%s",
			     home != NULL && home[0] != '\0' ? home : "/") < 0)
			in->env[--k] = NULL;
		free(home);
	}
	if (in->listen_fds > 0) {
		if (asprintf(&in->env[k], "LISTEN_FDS=%d", in->listen_fds) >= 0)
			k++;
		in->env[k] = strdup("LISTEN_PID=1");
	}
	return 0;
}

int bo_linux_resolve(struct bo_init *in, struct cr_error **err)
{
	const struct bo_process *p = in->proc;
	const char *prog = p->args[0], *path;

	if (chdir(p->cwd) < 0) {
		/* runc creates a missing working directory. */
		mkdir_p(p->cwd);
		if (chdir(p->cwd) < 0)
			return cr_error_errno(err, errno, "process.cwd %s",
					      p->cwd);
	}
	if (strchr(prog, '/') != NULL) {
		if (!executable(prog))
			return cr_error_errno(err, errno ? errno : EACCES,
					      "exec: \"%s\"", prog);
		snprintf(in->exe, sizeof(in->exe), "%s", prog);
	} else {
		path = env_get(p->env, "PATH");
		if (path == NULL)
			path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
			       "/usr/bin:/sbin:/bin";
		in->exe[0] = '\0';
		while (*path != '\0') {
			size_t len = strcspn(path, ":");
			char cand[PATH_MAX];

			snprintf(cand, sizeof(cand), "%.*s/%s", (int)len,
				 len ? path : ".", prog);
			if (executable(cand)) {
				snprintf(in->exe, sizeof(in->exe), "%s", cand);
				break;
			}
			path += len + (path[len] == ':');
		}
		if (in->exe[0] == '\0')
			return cr_error_set(err, ENOENT,
					    "exec: \"%s\": executable file not "
					    "found in $PATH",
					    prog);
	}
	if (build_env(in, err) < 0)
		return -1;
	if (in->spec != NULL && in->spec->seccomp != NULL) {
		in->seccomp = bo_seccomp_compile(in->spec->seccomp, err);
		if (in->seccomp == NULL)
			return -1;
	}
	return 0;
}

static int cap_last(void)
{
	CR_CLEANUP_FCLOSE FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = bo_cap_last();

	if (f != NULL && fscanf(f, "%d", &last) != 1)
		last = bo_cap_last();
	return last > 63 ? 63 : last;
}

/* last: cap_last(), read once by the caller. */
static int apply_caps(const struct bo_process *p, int last,
		      struct cr_error **err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(p->caps[BO_CAP_EFFECTIVE] >> (32 * i));
		data[i].permitted = (uint32_t)(p->caps[BO_CAP_PERMITTED] >> (32 * i));
		data[i].inheritable =
			(uint32_t)(p->caps[BO_CAP_INHERITABLE] >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return cr_error_errno(err, errno, "process.capabilities");
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int c = 0; c <= last; c++)
		if ((p->caps[BO_CAP_AMBIENT] >> c) & 1 &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return cr_error_errno(err, errno,
					      "process.capabilities.ambient: %s",
					      bo_cap_name(c));
	return 0;
}

/* struct sched_attr of sched_setattr(2) (SCHED_ATTR_SIZE_VER1); glibc
 * 2.36 has neither the struct nor a wrapper. */
struct bo_sched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

int bo_linux_sched(const struct bo_process *p, struct cr_error **err)
{
	/* ioprio_set(IOPRIO_WHO_PROCESS, self): the container's later
	 * processes inherit it at fork, so it covers them all. */
	if (p->ioprio != 0 && syscall(SYS_ioprio_set, 1, 0, p->ioprio) < 0)
		return cr_error_errno(err, errno,
				      "process.ioPriority: ioprio_set");
	if (p->has_sched) {
		struct bo_sched_attr a;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.policy = p->sched.policy;
		a.flags = p->sched.flags;
		a.nice = p->sched.nice;
		a.priority = p->sched.priority;
		a.runtime = p->sched.runtime;
		a.deadline = p->sched.deadline;
		a.period = p->sched.period;
		if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
			return cr_error_errno(err, errno,
					      "process.scheduler: sched_setattr");
	}
	return 0;
}

int bo_linux_affinity(pid_t pid, const char *list, const char *field,
		      struct cr_error **err)
{
	cpu_set_t set;

	if (list == NULL)
		return 0;
	if (bo_cpulist_parse(list, &set, sizeof(set)) < 0)
		return cr_error_set(err, EINVAL,
				    "process.execCPUAffinity.%s: '%s' is not a "
				    "CPU list",
				    field, list);
	if (sched_setaffinity(pid, sizeof(set), &set) < 0)
		return cr_error_errno(err, errno,
				      "process.execCPUAffinity.%s: CPUs %s",
				      field, list);
	return 0;
}

/* linux/close_range.h's CLOSE_RANGE_CLOEXEC, which glibc 2.36 lacks */
enum { CLOSE_RANGE_CLOEXEC_FLAG = 1U << 2 };

/* Marks every fd from `from` on close-on-exec: one close_range (Linux
 * 5.11) where the kernel has it, else a walk of /proc/self/fd. */
static void cloexec_from(int from)
{
	DIR *d;
	struct dirent *e;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)from, ~0U,
		    CLOSE_RANGE_CLOEXEC_FLAG) == 0)
		return;
#endif
	d = opendir("/proc/self/fd");

	if (d == NULL) {
		for (int fd = from; fd < 1024; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd >= from &&
		    fd != dirfd(d))
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
}

int bo_linux_exec(struct bo_init *in, struct cr_error **err)
{
	const struct bo_process *p = in->proc;
	int last = cap_last();

	cloexec_from(3 + in->preserve_fds);
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { (rlim_t)p->rlimits[i].soft,
				     (rlim_t)p->rlimits[i].hard };

		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return cr_error_errno(err, errno, "process.rlimits[%zu]",
					      i);
	}
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return cr_error_errno(err, errno, "process.noNewPrivileges");
	/* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which
	 * the process may be about to lose. */
	if (in->seccomp != NULL && !p->no_new_privileges &&
	    bo_seccomp_load(in->seccomp, err) < 0)
		return -1;
	if (p->has_caps) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return cr_error_errno(err, errno, "PR_SET_KEEPCAPS");
		for (int c = 0; c <= last; c++)
			if (!((p->caps[BO_CAP_BOUNDING] >> c) & 1) &&
			    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
			    errno != EINVAL)
				return cr_error_errno(err, errno,
						      "process.capabilities."
						      "bounding");
	}
	if (!(in->spec != NULL && in->spec->keep_original_groups) &&
	    setgroups(p->n_gids, p->gids) < 0 &&
	    !(in->in_userns && errno == EPERM))
		return cr_error_errno(err, errno, "process.user.additionalGids");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return cr_error_errno(err, errno, "process.user.gid %u", p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return cr_error_errno(err, errno, "process.user.uid %u", p->uid);
	if (p->has_caps && apply_caps(p, last, err) < 0)
		return -1;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	umask(p->has_umask ? p->umask : 022);
	if (in->seccomp != NULL && p->no_new_privileges &&
	    bo_seccomp_load(in->seccomp, err) < 0)
		return -1;
	/* linux.personality last: it changes what uname(2) says to the
	 * program, not to the setup above. */
	if (in->spec != NULL && in->spec->personality >= 0 &&
	    personality((unsigned long)in->spec->personality) < 0)
		return cr_error_errno(err, errno, "linux.personality");
	execve(in->exe, p->args, in->env != NULL ? in->env : p->env);
	return cr_error_errno(err, errno, "exec: \"%s\"", in->exe);
}
