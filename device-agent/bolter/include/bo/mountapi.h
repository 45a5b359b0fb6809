/* The new mount API (Linux 5.2 and 5.12: open_tree, move_mount,
 * mount_setattr, struct mount_attr, MOUNT_ATTR_*) where the C library's
 * headers lack it.  glibc declares it in <sys/mount.h> since 2.36; musl
 * (1.2.3, Debian 12's) does not, so a musl build (docs/packaging.md) gets
 * the constants and the structure from the kernel's ABI and the calls as
 * raw syscalls.  Each definition is guarded, so a C library that has it
 * wins.  Include after <sys/mount.h>.  <linux/mount.h> is not included:
 * it redefines the MS_* flags of musl's <sys/mount.h> with other
 * spellings. */
#ifndef BO_MOUNTAPI_H
#define BO_MOUNTAPI_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MOUNT_ATTR_IDMAP
/* No mount API in <sys/mount.h> (musl, glibc before 2.36). */
#define BO_MOUNTAPI_OWN 1

#ifndef SYS_open_tree
#include <asm/unistd.h>
#define SYS_open_tree __NR_open_tree
#define SYS_move_mount __NR_move_mount
#define SYS_mount_setattr __NR_mount_setattr
#endif

#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR__ATIME 0x00000070
#define MOUNT_ATTR_RELATIME 0x00000000
#define MOUNT_ATTR_NOATIME 0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME 0x00000080
#define MOUNT_ATTR_IDMAP 0x00100000
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* The kernel's layout (include/uapi/linux/mount.h, MOUNT_ATTR_SIZE_VER0). */
struct mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

static inline int open_tree(int dfd, const char *path, unsigned int flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static inline int move_mount(int from_dfd, const char *from_path, int to_dfd,
			     const char *to_path, unsigned int flags)
{
	return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd,
			    to_path, flags);
}

static inline int mount_setattr(int dfd, const char *path, unsigned int flags,
				struct mount_attr *attr, size_t size)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}
#endif /* !MOUNT_ATTR_IDMAP */

#endif
