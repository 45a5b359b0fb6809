/* Checkpoint and restore through criu's command line: see bo/checkpoint.h.
 * restore itself is in container.c, next to create, whose steps it shares. */
#include "bo/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bo/state.h"
#include "cr/util.h"

#define ARGS_MAX 256

/* The last line of LOG that criu marked as an error, into out. */
static void criu_last_error(const char *log, char *out, size_t size)
{
	FILE *f = fopen(log, "re");
	char line[512];

	snprintf(out, size, "see %s", log);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "Error") != NULL) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, size, "%s (%s)", line, log);
		}
	fclose(f);
}

/* Runs argv (argv[0] looked up in PATH) with stdin, stdout and stderr on
 * /dev/null, or stdout and stderr into out_fd; returns its wait status, or
 * -1 with errno. */
static int spawn(char *const *argv, int out_fd)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, 0);
			dup2(out_fd >= 0 ? out_fd : null, 1);
			dup2(out_fd >= 0 ? out_fd : null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

int bo_criu_usable(char *why, size_t size)
{
	char criu[] = "criu", check[] = "check";
	char *const argv[] = { criu, check, NULL };
	char tmpl[] = "/tmp/bolter-criu.XXXXXX", line[512];
	int fd = mkstemp(tmpl), st;
	FILE *f;

	if (fd < 0) {
		snprintf(why, size, "cannot run criu check: %s", strerror(errno));
		return 0;
	}
	unlink(tmpl);
	st = spawn(argv, fd);
	if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		close(fd);
		return 1;
	}
	if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		close(fd);
		snprintf(why, size, "criu is not installed");
		return 0;
	}
	snprintf(why, size, "criu check fails on this kernel");
	lseek(fd, 0, SEEK_SET);
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "Error") != NULL) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(why, size, "criu check fails on this kernel: %s",
				 line);
			break;
		}
	fclose(f);
	return 0;
}

/* Is P (in the container, pid's root) a file that a masked path hides
 * with a bind mount of /dev/null?  Directories get a tmpfs instead. */
static int masked_file(pid_t pid, const char *p)
{
	char path[PATH_MAX];
	struct stat sb;

	if (pid <= 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, p);
	return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

static int add(char **argv, size_t *n, char *arg)
{
	if (arg == NULL || *n + 2 >= ARGS_MAX) {
		free(arg);
		return -1;
	}
	argv[(*n)++] = arg;
	argv[*n] = NULL;
	return 0;
}

/* Adds the argument a b c (concatenated). */
static int add3(char **argv, size_t *n, const char *a, const char *b,
		const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	if (s != NULL) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		memcpy(s + la + lb, c, lc + 1);
	}
	return add(argv, n, s);
}

/* *slot = old with suffix appended (old freed); -1 on ENOMEM, *slot kept. */
static int add_suffix(char *old, char **slot, const char *suffix)
{
	size_t lo = strlen(old), ls = strlen(suffix);
	char *s = realloc(old, lo + ls + 1);

	if (s == NULL)
		return -1;
	memcpy(s + lo, suffix, ls + 1);
	*slot = s;
	return 0;
}

int bo_criu_run(const char *verb, const struct bo_criu_opts *c,
		const struct bo_spec *s, const char *root,
		const char *const *extra, struct cr_error **err)
{
	const char *work = c->work_path ? c->work_path : c->image_path;
	int dump = strcmp(verb, "dump") == 0, st, rc = -1;
	pid_t pid = 0;
	char *argv[ARGS_MAX] = { NULL }, log[PATH_MAX], why[PATH_MAX + 1024];
	size_t n = 0;

	if (cr_mkdir_p(c->image_path, 0700, err) < 0 ||
	    cr_mkdir_p(work, 0700, err) < 0)
		return -1;
	for (size_t i = 0; dump && extra != NULL && extra[i] != NULL; i++)
		if (strcmp(extra[i], "--tree") == 0 && extra[i + 1] != NULL)
			pid = (pid_t)strtol(extra[i + 1], NULL, 10);
	if (add(argv, &n, strdup("criu")) < 0 || add(argv, &n, strdup(verb)) < 0 ||
	    add3(argv, &n, "--images-dir=", c->image_path, "") < 0 ||
	    add3(argv, &n, "--work-dir=", work, "") < 0 ||
	    add3(argv, &n, "--root=", root, "") < 0 ||
	    add3(argv, &n, "--log-file=", verb, ".log") < 0 ||
	    add(argv, &n, strdup("-v4")) < 0 ||
	    add3(argv, &n, "--manage-cgroups=",
		 c->cgroups_mode ? c->cgroups_mode : "soft", "") < 0 ||
	    (c->tcp_established &&
	     add(argv, &n, strdup("--tcp-established")) < 0) ||
	    (c->ext_unix_sk && add(argv, &n, strdup("--ext-unix-sk")) < 0) ||
	    (c->shell_job && add(argv, &n, strdup("--shell-job")) < 0) ||
	    (c->file_locks && add(argv, &n, strdup("--file-locks")) < 0) ||
	    (dump && c->leave_running &&
	     add(argv, &n, strdup("--leave-running")) < 0) ||
	    (dump && c->parent_path != NULL &&
	     add3(argv, &n, "--prev-images-dir=", c->parent_path, "") < 0))
		goto nomem;
	/* Bind mounts come from the host: criu keeps them as external ones,
	 * named by their destination, and restore maps them to the source
	 * again (as runc does); a masked file is /dev/null bound. */
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct bo_mount *m = &s->mounts[i];

		if (!m->bind)
			continue;
		if (add3(argv, &n, "--external=mnt[", m->destination, "]:") < 0 ||
		    add_suffix(argv[n - 1], &argv[n - 1],
			       dump ? m->destination : m->source) < 0)
			goto nomem;
	}
	for (size_t i = 0; s->masked_paths != NULL && s->masked_paths[i] != NULL;
	     i++) {
		if (!masked_file(pid, s->masked_paths[i]))
			continue;
		if (add3(argv, &n, "--external=mnt[", s->masked_paths[i],
			 "]:") < 0 ||
		    add_suffix(argv[n - 1], &argv[n - 1],
			       dump ? s->masked_paths[i] : "/dev/null") < 0)
			goto nomem;
	}
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		if (add(argv, &n, strdup(extra[i])) < 0)
			goto nomem;
	st = spawn(argv, -1);
	snprintf(log, sizeof(log), "%s/%s.log", work, verb);
	if (st < 0)
		cr_error_errno(err, errno, "running criu %s", verb);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		cr_error_set(err, ENOENT,
			     "criu %s: criu is not installed (it is in PATH "
			     "for checkpoint and restore)",
			     verb);
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		criu_last_error(log, why, sizeof(why));
		cr_error_set(err, EIO, "criu %s failed: %s", verb, why);
	} else
		rc = 0;
	goto out;
nomem:
	cr_error_set(err, ENOMEM, "criu %s: too many arguments", verb);
out:
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	return rc;
}

int bo_checkpoint(const struct bo_opts *o, const char *id,
		  const struct bo_criu_opts *c, struct cr_error **err)
{
	struct bo_state *st = bo_state_load(o->root, id, err);
	struct bo_spec *s = NULL;
	const char *status;
	char pid[16];
	int rc = -1;

	if (st == NULL)
		return -1;
	status = bo_state_status(o->root, st);
	if (strcmp(status, "running") != 0) {
		cr_error_set(err, EINVAL,
			     "cannot checkpoint container %s: it is %s, not "
			     "running",
			     id, status);
		goto out;
	}
	s = bo_container_spec(o, id, err);
	if (s == NULL)
		goto out;
	snprintf(pid, sizeof(pid), "%d", (int)st->pid);
	{
		const char *extra[] = { "--tree", pid, NULL };

		if (bo_criu_run("dump", c, s, st->rootfs, extra, err) < 0)
			goto out;
	}
	rc = 0;
	if (!c->leave_running) {
		struct bo_opts del = *o;

		/* criu killed the processes: what is left is a stopped
		 * container, deleted as runc does. */
		del.force = 1;
		rc = bo_delete(&del, id, err);
	}
out:
	bo_spec_free(s);
	bo_state_free(st);
	return rc;
}
