/* OCI hooks: see bo/hooks.h. */
#include "bo/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cr/util.h"

const char *bo_hook_kind_name(enum bo_hook_kind kind)
{
	static const char *const names[BO_HOOK_KINDS] = {
		"prestart",	   "createRuntime", "createContainer",
		"startContainer", "poststart",	    "poststop",
	};

	return names[kind];
}

static int run_one(const struct bo_hook *h, const char *what,
		   const char *state_json, struct cr_error **err)
{
	int fds[2], ep[2], status, exec_errno = 0;
	pid_t pid;
	size_t len = strlen(state_json), off = 0;
	uint64_t deadline = h->timeout > 0
				    ? cr_now_ms() + (uint64_t)h->timeout * 1000
				    : 0;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return cr_error_errno(err, errno, "%s: pipe", what);
	/* ep: the child's errno when execve fails (the pipe closes on a
	 * successful exec), so that the error says why. */
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(fds[0]);
		close(fds[1]);
		return cr_error_errno(err, errno, "%s: pipe", what);
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		close(ep[0]);
		close(ep[1]);
		return cr_error_errno(err, errno, "%s: fork", what);
	}
	if (pid == 0) {
		char *const argv0[] = { h->path, NULL };

		signal(SIGPIPE, SIG_DFL);
		if (dup2(fds[0], 0) < 0)
			_exit(126);
		/* A hook without "env" inherits the runtime's environment,
		 * as under runc (Go's exec with a nil Env) and crun. */
		execve(h->path, h->args != NULL && h->args[0] != NULL ? h->args
								       : argv0,
		       h->env != NULL ? h->env : environ);
		exec_errno = errno;
		if (write(ep[1], &exec_errno, sizeof(exec_errno)) < 0)
			_exit(127);
		_exit(127);
	}
	close(ep[1]);
	close(fds[0]);
	/* A hook that does not read its stdin gets EPIPE, which is fine. */
	while (off < len) {
		ssize_t w = write(fds[1], state_json + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	for (;;) {
		pid_t r = waitpid(pid, &status, deadline ? WNOHANG : 0);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			cr_error_errno(err, errno, "%s: waitpid", what);
			close(ep[0]);
			return -1;
		}
		if (deadline && cr_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(ep[0]);
			return cr_error_set(err, ETIMEDOUT,
					    "%s (%s): timed out after %d s",
					    what, h->path, h->timeout);
		}
		if (r == 0) {
			struct timespec ts = { 0, 2 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	/* The child is gone: the pipe holds its errno or is at EOF. */
	if (read(ep[0], &exec_errno, sizeof(exec_errno)) !=
	    (ssize_t)sizeof(exec_errno))
		exec_errno = 0;
	close(ep[0]);
	if (exec_errno != 0)
		return cr_error_set(err, exec_errno, "%s: exec %s: %s", what,
				    h->path, strerror(exec_errno));
	if (WIFSIGNALED(status))
		return cr_error_set(err, ECHILD, "%s (%s): killed by signal %d",
				    what, h->path, WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		return cr_error_set(err, ECHILD, "%s (%s): exited with status %d",
				    what, h->path, WEXITSTATUS(status));
	return 0;
}

int bo_hooks_run(const struct bo_spec *spec, enum bo_hook_kind kind,
		 const char *state_json, struct cr_error **err)
{
	char what[64];

	for (size_t i = 0; i < spec->n_hooks[kind]; i++) {
		snprintf(what, sizeof(what), "hooks.%s[%zu]",
			 bo_hook_kind_name(kind), i);
		if (run_one(&spec->hooks[kind][i], what, state_json, err) < 0)
			return -1;
	}
	return 0;
}
