/*
 * The container side: what runs inside the new namespaces between fork and
 * execve.  bo_linux_prepare() builds the root filesystem (mounts, devices,
 * pivot_root, masked and read-only paths, hostname, sysctls) and runs the
 * createContainer hooks; bo_linux_exec() applies the process (rlimits,
 * user and groups, capabilities, no_new_privs, seccomp, umask, cwd, env)
 * and executes it.  Both run in a child process only, never in the
 * runtime itself.
 */
#ifndef BO_LINUX_H
#define BO_LINUX_H

#include <sys/types.h>

#include "bo/seccomp.h"
#include "bo/spec.h"
#include "cr/error.h"

struct bo_init {
	const struct bo_spec *spec;
	const struct bo_process *proc;
	const char *rootfs;         /* absolute path on the host */
	const char *console_socket; /* NULL unless --console-socket */
	int console_fd; /* connected console socket, or -1: connect by path */
	const char *state_json;     /* for the createContainer hooks */
	int no_pivot;
	int preserve_fds;
	int listen_fds; /* socket activation: LISTEN_FDS for the process */
	/* In a new user namespace: the runtime's nodes for linux.devices the
	 * host lacks (DEVDIR/K for devices[K], when present), bound in place
	 * of the host's; or NULL. */
	const char *devdir;
	int in_userns; /* created or joined a user namespace */
	char **cgroup_dirs; /* the container's cgroups (NULL-terminated) */
	/* Idmapped mounts: the runtime's detached tree for mounts[i], or
	 * -1; NULL when there are none. */
	int *mount_fds;
	/* Filled by bo_linux_prepare / bo_linux_resolve: */
	struct bo_seccomp *seccomp;
	char exe[4096]; /* the program's path inside the container */
	/* The process's environment when it differs from proc->env (HOME
	 * added, LISTEN_FDS): allocated in the child, which execs. */
	char **env;
};

/* Sets up the root filesystem and everything host-facing; called in the
 * container's mount namespace, before the runtime reports "created". */
int bo_linux_prepare(struct bo_init *in, struct cr_error **err);

/* Sets up a terminal: a new pty whose master goes to the console socket
 * and whose slave becomes stdin/stdout/stderr and the controlling tty. */
int bo_linux_terminal(struct bo_init *in, struct cr_error **err);

/* Finds the program in the container's PATH (after pivot_root) and
 * compiles the seccomp filter, so that create reports both. */
int bo_linux_resolve(struct bo_init *in, struct cr_error **err);

/* Applies the process and execs it; returns only on failure. */
int bo_linux_exec(struct bo_init *in, struct cr_error **err);

/* Applies process.ioPriority and process.scheduler to the calling
 * process: the init and exec's process call it before they report ready
 * (still privileged), so that create and exec fail with the field named
 * when the kernel refuses. */
int bo_linux_sched(const struct bo_process *p, struct cr_error **err);

/* Sets pid's CPU affinity to the CPU list (NULL: nothing to do), for
 * process.execCPUAffinity; field ("initial", "final") names it in
 * errors. */
int bo_linux_affinity(pid_t pid, const char *list, const char *field,
		      struct cr_error **err);

/* Connects to a --console-socket; returns the socket or -1. */
int bo_linux_console_connect(const char *sock_path, struct cr_error **err);

/* 1 when /proc/self/ns/NAME exists for this CLONE_NEW* type. */
int bo_linux_has_namespace(int type);
/* Sends len bytes of data (at least one) with the descriptor fd attached
 * (SCM_RIGHTS) on the unix socket sock: the console socket, the seccomp
 * listener and the init's sync channel all pass descriptors so.  Returns
 * the bytes sent, or -1 with errno. */
ssize_t bo_linux_send_fd(int sock, int fd, const void *data, size_t len);

#endif
