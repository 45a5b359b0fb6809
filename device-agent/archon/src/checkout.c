/*
 * Checkout: builds a version's tree from its index, regular files as hard
 * links to the store's file objects.  Every path is resolved component by
 * component with openat(O_NOFOLLOW | O_DIRECTORY) from the target folder,
 * so no entry (a symlink planted by an earlier entry included) can make us
 * write outside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cr/cleanup.h"
#include "store-internal.h"

/* Opens the folder holding path's last component, relative to rootfd;
 * *base points into path at that component.  -1 with *err on failure. */
static int open_parent(int rootfd, const char *path, const char **base,
		       struct cr_error **err)
{
	char comp[NAME_MAX + 1];
	const char *p = path, *slash;
	int fd = dup(rootfd);

	if (fd < 0)
		return cr_error_errno(err, errno, "dup");
	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		int next;

		if (n > NAME_MAX) {
			close(fd);
			return cr_error_set(err, ENAMETOOLONG, "%s: name too long",
					    path);
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			/* The index lacked the folder: make it. */
			if (mkdirat(fd, comp, 0755) == 0)
				next = openat(fd, comp,
					      O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(fd);
			return cr_error_errno(err, e,
					      "%s: cannot open folder '%s' (not a folder inside the tree?)",
					      path, comp);
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
}

static int copy_object(struct ar_store *st, const char *obj, int pfd,
		       const char *base, const struct ar_entry *e,
		       struct cr_error **err)
{
	CR_CLEANUP_CLOSE int in = -1, out = -1;
	char buf[65536];

	in = openat(st->objfd, obj, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return cr_error_errno(err, errno, "object %s", obj);
	out = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				   O_CLOEXEC, e->mode & 07777);
	if (out < 0)
		return cr_error_errno(err, errno, "%s", e->path);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cr_error_errno(err, errno, "reading %s", obj);
		if (n == 0)
			break;
		w = write(out, buf, (size_t)n);
		if (w != n)
			return cr_error_errno(err, errno, "writing %s", e->path);
	}
	if (st->is_root && fchown(out, e->uid, e->gid) < 0)
		return cr_error_errno(err, errno, "chown %s", e->path);
	if (fchmod(out, e->mode & 07777) < 0)
		return cr_error_errno(err, errno, "chmod %s", e->path);
	return 0;
}

static int checkout_entry(struct ar_store *st, int rootfd,
			  const struct ar_entry *e, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int pfd = -1;
	const char *base;
	struct ar_objkey key;
	char obj[AR_OBJPATH_MAX];

	pfd = open_parent(rootfd, e->path, &base, err);
	if (pfd < 0)
		return -1;
	switch (e->type) {
	case AR_DIR:
		if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
			return cr_error_errno(err, errno, "mkdir %s", e->path);
		return 0; /* mode and owner at the end, children first */
	case AR_REG:
		ar_objkey_of(e, &key);
		ar_objkey_path(&key, obj);
		if (linkat(st->objfd, obj, pfd, base, 0) == 0)
			return 0;
		if (errno == EXDEV || errno == EMLINK || errno == EPERM)
			return copy_object(st, obj, pfd, base, e, err);
		return cr_error_errno(err, errno, "%s: link to object %s",
				      e->path, obj);
	case AR_SYMLINK:
		if (symlinkat(e->target, pfd, base) < 0)
			return cr_error_errno(err, errno, "symlink %s", e->path);
		if (st->is_root &&
		    fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
			return cr_error_errno(err, errno, "chown %s", e->path);
		return 0;
	case AR_CHR:
	case AR_BLK:
	case AR_FIFO: {
		mode_t type = e->type == AR_CHR	  ? S_IFCHR
			      : e->type == AR_BLK ? S_IFBLK
						  : S_IFIFO;

		if (e->type != AR_FIFO && !st->is_root)
			return 0; /* only root may make device nodes */
		if (mknodat(pfd, base, type | (e->mode & 0777),
			    (dev_t)e->rdev) < 0)
			return cr_error_errno(err, errno, "mknod %s", e->path);
		if (st->is_root &&
		    fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
			return cr_error_errno(err, errno, "chown %s", e->path);
		return 0;
	}
	}
	return cr_error_set(err, EINVAL, "%s: unknown entry type", e->path);
}

/* Folders get their mode, owner and mtime last, deepest first, so a
 * read-only folder does not stop its children being made. */
static int finish_dir(struct ar_store *st, int rootfd,
		      const struct ar_entry *e, struct cr_error **err)
{
	CR_CLEANUP_CLOSE int pfd = -1;
	const char *base;
	struct timespec ts[2];

	pfd = open_parent(rootfd, e->path, &base, err);
	if (pfd < 0)
		return -1;
	if (st->is_root &&
	    fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return cr_error_errno(err, errno, "chown %s", e->path);
	if (fchmodat(pfd, base, e->mode & 07777, 0) < 0)
		return cr_error_errno(err, errno, "chmod %s", e->path);
	ts[0].tv_sec = ts[1].tv_sec = (time_t)e->mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

int ar_store_checkout(struct ar_store *st, const char *name, const char *dir,
		      struct cr_error **err)
{
	struct ar_manifest *m = NULL;
	struct ar_index *idx = NULL;
	CR_CLEANUP_CLOSE int rootfd = -1;
	int ret = -1;

	if (ar_store_get_manifest(st, name, &m, err) < 0)
		return -1;
	if (ar_store_get_index(st, &m->index, &idx, err) < 0)
		goto out;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		cr_error_errno(err, errno, "cannot create %s", dir);
		goto out;
	}
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0) {
		cr_error_errno(err, errno, "cannot open %s", dir);
		goto out;
	}
	{
		int probe = dup(rootfd);
		DIR *d = probe >= 0 ? fdopendir(probe) : NULL;
		struct dirent *de;
		int empty = 1;

		while (d != NULL && (de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = 0;
		if (d != NULL)
			closedir(d);
		if (!empty) {
			cr_error_set(err, EEXIST,
				     "%s is not empty: checkout needs a new folder",
				     dir);
			goto out;
		}
	}
	for (size_t i = 0; i < idx->n; i++)
		if (checkout_entry(st, rootfd, &idx->e[i], err) < 0)
			goto out;
	for (size_t i = idx->n; i-- > 0;)
		if (idx->e[i].type == AR_DIR &&
		    finish_dir(st, rootfd, &idx->e[i], err) < 0)
			goto out;
	ret = 0;
out:
	ar_index_free(idx);
	ar_manifest_free(m);
	return ret < 0 ? cr_error_wrap(err, "checkout %s", name) : 0;
}
