/* Paths inside a container's root: see bo/path.h. */
#include "bo/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

/* The directories walked so far: [0] is the root (not ours to close), the
 * last is where the next component is looked up.  ".." pops, so it can
 * never climb above [0]. */
struct walk {
	int *fds;
	char (*names)[NAME_MAX + 1]; /* each fd's name in the one before */
	size_t n, cap;
};

static void walk_pop_to(struct walk *w, size_t n)
{
	while (w->n > n)
		close(w->fds[--w->n]);
}

static int walk_push(struct walk *w, int fd, const char *name)
{
	if (w->n == w->cap) {
		size_t cap = w->cap * 2;
		int *fds = realloc(w->fds, cap * sizeof(*fds));
		char(*names)[NAME_MAX + 1];

		if (fds != NULL)
			w->fds = fds;
		names = fds == NULL ? NULL
				    : realloc(w->names, cap * sizeof(*names));
		if (names == NULL) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
		w->names = names;
		w->cap = cap;
	}
	strcpy(w->names[w->n], name);
	w->fds[w->n++] = fd;
	return 0;
}

/* Creates name in dir as the walk asks: a directory, or an empty file when
 * it is the last component of a MKFILE walk.  Never follows a symlink
 * (mkdirat does not; the file gets O_EXCL|O_NOFOLLOW), so a link that
 * appears meanwhile is found by the lookup that follows, not written
 * through. */
static int create_missing(int dir, const char *name, int last, int create)
{
	int fd;

	if (last && create == BO_PATH_MKFILE) {
		fd = openat(dir, name,
			    O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
			    0644);
		if (fd < 0)
			return errno == EEXIST ? 0 : -1;
		close(fd);
		return 0;
	}
	if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int bo_path_walk(int rootfd, const char *path, int flags, int create)
{
	/* rest holds what is left to resolve; a symlink's target is put in
	 * front of it. */
	char rest[PATH_MAX], name[NAME_MAX + 1], target[PATH_MAX];
	struct walk w = { NULL, NULL, 0, 16 };
	size_t pos = 0;
	int links = 0, fd, saved, result = -1;

	if (strlen(path) >= sizeof(rest)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (flags & O_CREAT) {
		errno = EINVAL;
		return -1;
	}
	strcpy(rest, path);
	w.fds = malloc(w.cap * sizeof(*w.fds));
	w.names = malloc(w.cap * sizeof(*w.names));
	if (w.fds == NULL || w.names == NULL) {
		errno = ENOMEM;
		goto out;
	}
	w.names[0][0] = '\0';
	w.fds[w.n++] = rootfd;
	for (;;) {
		size_t len, after;
		int last;
		struct stat sb;

		pos += strspn(rest + pos, "/");
		if (rest[pos] == '\0')
			break;
		len = strcspn(rest + pos, "/");
		if (len > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto out;
		}
		memcpy(name, rest + pos, len);
		name[len] = '\0';
		pos += len;
		after = pos + strspn(rest + pos, "/");
		last = rest[after] == '\0';
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if (w.n > 1)
				walk_pop_to(&w, w.n - 1);
			continue;
		}
		fd = openat(w.fds[w.n - 1], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create != BO_PATH_NOCREATE) {
			if (create_missing(w.fds[w.n - 1], name, last, create) < 0)
				goto out;
			fd = openat(w.fds[w.n - 1], name,
				    O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			goto out;
		if (fstat(fd, &sb) < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			goto out;
		}
		if (S_ISLNK(sb.st_mode)) {
			ssize_t n;
			size_t tail = strlen(rest + pos);

			if (++links > BO_PATH_MAX_LINKS) {
				close(fd);
				errno = ELOOP;
				goto out;
			}
			n = readlinkat(fd, "", target, sizeof(target));
			saved = errno;
			close(fd);
			if (n < 0) {
				errno = saved;
				goto out;
			}
			if (n == 0) {
				errno = ENOENT;
				goto out;
			}
			/* target + what followed the link must fit. */
			if ((size_t)n + tail >= sizeof(rest)) {
				errno = ENAMETOOLONG;
				goto out;
			}
			memmove(rest + n, rest + pos, tail + 1);
			memcpy(rest, target, (size_t)n);
			pos = 0;
			/* An absolute target starts again from the root; a
			 * relative one from the link's own directory. */
			if (target[0] == '/')
				walk_pop_to(&w, 1);
			continue;
		}
		if (!last && !S_ISDIR(sb.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			goto out;
		}
		if (walk_push(&w, fd, name) < 0)
			goto out;
	}
	if (w.n == 1) {
		/* The root itself. */
		result = openat(rootfd, ".", flags | O_CLOEXEC);
		goto out;
	}
	if (flags & O_PATH) {
		struct stat sb;

		if ((flags & O_DIRECTORY) &&
		    (fstat(w.fds[w.n - 1], &sb) < 0 || !S_ISDIR(sb.st_mode))) {
			errno = ENOTDIR;
			goto out;
		}
		result = w.fds[--w.n];
		goto out;
	}
	/* Opened for real from its resolved parent, refusing a symlink put
	 * there since the walk saw a plain entry. */
	result = openat(w.fds[w.n - 2], w.names[w.n - 1],
			flags | O_NOFOLLOW | O_CLOEXEC);
out:
	saved = errno;
	if (w.fds != NULL)
		walk_pop_to(&w, 1);
	free(w.fds);
	free(w.names);
	errno = saved;
	return result;
}

int bo_path_open(int rootfd, const char *path, int flags, int create)
{
	const char *force = getenv("BOLTER_PATH_WALK");

	if (force != NULL && strcmp(force, "1") == 0)
		return bo_path_walk(rootfd, path, flags, create);
#ifdef SYS_openat2
	{
		const char *rel = path + strspn(path, "/");
		struct open_how how;
		int fd;

		memset(&how, 0, sizeof(how));
		how.flags = (uint64_t)(flags | O_CLOEXEC);
		how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how,
				  sizeof(how));
		if (fd >= 0)
			return fd;
		/* Missing: the walk creates it.  Unsupported or filtered,
		 * or a rename raced the lookup (EAGAIN): the walk instead.
		 * Anything else is the answer. */
		if (!(errno == ENOENT && create != BO_PATH_NOCREATE) &&
		    errno != ENOSYS && errno != EPERM && errno != EAGAIN)
			return -1;
	}
#endif
	return bo_path_walk(rootfd, path, flags, create);
}
