/*
 * Paths inside a container's root filesystem, resolved as if the root were
 * "/": an image's symlinks ("/", "../../..", absolute host paths, loops)
 * never lead a mount or a created file outside it.
 *
 * bo_path_open() asks the kernel (openat2 with RESOLVE_IN_ROOT, Linux
 * 5.6+); where openat2 is missing (ENOSYS) or filtered (EPERM, a seccomp
 * policy), and to create what is missing, it walks the path itself with
 * bo_path_walk(): one component at a time with O_PATH|O_NOFOLLOW, reading
 * each symlink and resolving its target inside the root (an absolute
 * target from the root, ".." never above it), at most BO_PATH_MAX_LINKS
 * links (ELOOP past them).  Setting BOLTER_PATH_WALK=1 in the environment
 * makes bo_path_open() always walk, so the fallback can be exercised on a
 * kernel that has openat2.
 */
#ifndef BO_PATH_H
#define BO_PATH_H

#include <sys/types.h>

enum {
	BO_PATH_MAX_LINKS = 40, /* as the kernel's own limit */
	/* What bo_path_walk creates when a component is missing: */
	BO_PATH_NOCREATE = 0,
	BO_PATH_MKDIR = 1,  /* every missing directory, the last one too */
	BO_PATH_MKFILE = 2, /* missing directories, the last as an empty file */
};

/* Opens path (absolute or relative, both from the root) below rootfd with
 * flags (O_PATH, O_RDONLY, O_RDWR|O_NOCTTY...; O_CREAT is not supported:
 * use create), creating what is missing as create says.  Returns the fd
 * (close-on-exec) or -1 with errno set. */
int bo_path_open(int rootfd, const char *path, int flags, int create);

/* The same, always by walking the components itself (see above). */
int bo_path_walk(int rootfd, const char *path, int flags, int create);

#endif
