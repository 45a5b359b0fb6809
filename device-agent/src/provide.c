/*
 * The agent's serve worker (da/provide.h): Archon's serve over the apps
 * store in a process the agent forks, so the device serves its fleet
 * peers without a separate `archon serve`.  A process of its own because
 * ar_serve runs its own event loop and reads the store (LMDB, file
 * objects, zstd) while the agent's loop must keep its ring sessions
 * served; and a worker that dies (a bug, the OOM killer, an operator's
 * kill) costs the peers a few seconds, never the agent.
 *
 * The worker's stdout and stderr come back over a pipe and go to the
 * agent's log a line at a time; the end of the pipe says it died, and the
 * loop reaps it and starts it again after 1 s, then 2, 4, ... up to 60 s,
 * from 1 s again after a run of a minute.
 */
#include "da/provide.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ar/serve.h"
#include "ar/store.h"
#include "cr/log.h"
#include "cr/util.h"

enum {
	PROVIDE_BACKOFF_MIN_MS = 1000,
	PROVIDE_BACKOFF_MAX_MS = 60000,
	PROVIDE_STABLE_MS = 60000, /* a run this long resets the backoff */
	PROVIDE_REAP_MS = 100,	   /* a dead worker is looked for this often */
	PROVIDE_STOP_GRACE_MS = 2000, /* SIGTERM, then SIGKILL */
	PROVIDE_LINE_MAX = 512,
};

struct da_provide {
	struct event_base *base;
	char store[PATH_MAX];
	char ring[PATH_MAX];
	char ring_saved[PATH_MAX];
	char key[PATH_MAX];
	char listen[32];
	pid_t pid;		/* the worker; 0 when none runs */
	int fd;			/* its stdout and stderr; -1 when closed */
	struct event *ev_out;
	struct event *ev_timer; /* reaps the dead worker, then restarts it */
	char buf[PROVIDE_LINE_MAX];
	size_t len;
	uint64_t started_ms;
	uint32_t backoff_ms;
};

/* ---- The worker --------------------------------------------------------- */

/* The agent's event base, inherited through the fork and never run here,
 * had the process's signals: libevent warns that serve's own base takes
 * them over, which is what the worker wants.  Anything else it says goes
 * to the agent's log. */
static void provide_evlog(int severity, const char *msg)
{
	static const char taken[] = "Added a signal to event base";

	(void)severity;
	if (strncmp(msg, taken, sizeof(taken) - 1) != 0)
		fprintf(stderr, "libevent: %s\n", msg);
}

static _Noreturn void provide_child(const struct da_provide *p, int wfd,
				    pid_t agent)
{
	struct cr_error *err = NULL;
	struct ar_store *st = NULL;
	const char *ring = p->ring;
	long maxfd = sysconf(_SC_OPEN_MAX);
	int nul;

	/* A killed agent takes its worker with it (and one that died before
	 * this line was never the worker's parent). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != agent)
		_exit(1);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	dup2(wfd, 1);
	dup2(wfd, 2);
	/* Nothing of the agent's (its LMDB, its sockets, its control
	 * socket) stays open here. */
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (long fd = 3; fd < maxfd; fd++)
		close((int)fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
	event_set_log_callback(provide_evlog);
	if (p->ring_saved[0] != '\0' && access(p->ring_saved, R_OK) == 0)
		ring = p->ring_saved;
	if (ar_store_open_mode(p->store, AR_STORE_READ, &st, &err) < 0 ||
	    ar_serve(st, p->listen, ring[0] != '\0' ? ring : NULL,
		     ring[0] != '\0' ? p->key : NULL, stdout, &err) < 0) {
		fprintf(stderr, "%s\n", cr_error_msg(err));
		fflush(NULL);
		_exit(1);
	}
	ar_store_free(st);
	fflush(NULL);
	_exit(0);
}

/* ---- Supervision -------------------------------------------------------- */

static void provide_restart_in(struct da_provide *p, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (event_add(p->ev_timer, &tv) < 0)
		cr_log_warnx("serve: cannot arm a timer; the worker stays down");
}

/* Logs the worker's complete lines (and a line too long, cut). */
static void provide_log_lines(struct da_provide *p, int flush_all)
{
	char *nl;

	while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
		*nl = '\0';
		if (p->buf[0] != '\0')
			cr_log_info("serve: %s", p->buf);
		p->len -= (size_t)(nl + 1 - p->buf);
		memmove(p->buf, nl + 1, p->len);
	}
	if (p->len > 0 && (flush_all || p->len == sizeof(p->buf) - 1)) {
		p->buf[p->len] = '\0';
		cr_log_info("serve: %s", p->buf);
		p->len = 0;
	}
}

static void provide_close_out(struct da_provide *p)
{
	if (p->ev_out != NULL)
		event_free(p->ev_out);
	p->ev_out = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	provide_log_lines(p, 1);
}

/* Reads what the worker said; 1 at its end (EOF or an error). */
static int provide_drain(struct da_provide *p)
{
	for (;;) {
		ssize_t r = read(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);

		if (r > 0) {
			p->len += (size_t)r;
			provide_log_lines(p, 0);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return !(r < 0 && errno == EAGAIN);
	}
}

static void provide_on_out(evutil_socket_t fd, short what, void *arg)
{
	struct da_provide *p = arg;

	(void)fd;
	(void)what;
	if (!provide_drain(p))
		return;
	/* The worker is gone (or going): reap it. */
	provide_close_out(p);
	provide_restart_in(p, PROVIDE_REAP_MS);
}

static void provide_start(struct da_provide *p)
{
	int fds[2];
	pid_t pid, agent = getpid();

	if (pipe2(fds, O_CLOEXEC) < 0) {
		cr_log_warn("serve: cannot make a pipe; trying again in %u s",
			    p->backoff_ms / 1000);
		provide_restart_in(p, p->backoff_ms);
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		provide_child(p, fds[1], agent);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		cr_log_warn("serve: cannot fork the worker; trying again in %u s",
			    p->backoff_ms / 1000);
		provide_restart_in(p, p->backoff_ms);
		return;
	}
	evutil_make_socket_nonblocking(fds[0]);
	p->pid = pid;
	p->fd = fds[0];
	p->len = 0;
	p->started_ms = cr_now_ms();
	p->ev_out = event_new(p->base, p->fd, EV_READ | EV_PERSIST,
			      provide_on_out, p);
	if (p->ev_out == NULL || event_add(p->ev_out, NULL) < 0) {
		/* Unwatched, it would be restarted never: end it now. */
		kill(pid, SIGKILL);
		provide_close_out(p);
		provide_restart_in(p, PROVIDE_REAP_MS);
		return;
	}
	cr_log_info("serve: worker pid %d serves %s on %s to the fleet's peers",
		    (int)pid, p->store, p->listen);
}

static void provide_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct da_provide *p = arg;
	char how[64];
	uint64_t ran;
	uint32_t delay;
	int status = 0;
	pid_t r;

	(void)fd;
	(void)what;
	if (p->pid == 0) {
		provide_start(p);
		return;
	}
	r = waitpid(p->pid, &status, WNOHANG);
	if (r == 0) {
		provide_restart_in(p, PROVIDE_REAP_MS);
		return;
	}
	if (r < 0)
		snprintf(how, sizeof(how), "is gone");
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exited with status %d",
			 WEXITSTATUS(status));
	ran = cr_now_ms() - p->started_ms;
	if (ran >= PROVIDE_STABLE_MS)
		p->backoff_ms = PROVIDE_BACKOFF_MIN_MS;
	delay = p->backoff_ms;
	p->backoff_ms = delay >= PROVIDE_BACKOFF_MAX_MS / 2 ? PROVIDE_BACKOFF_MAX_MS
							   : delay * 2;
	cr_log_warnx("serve: worker pid %d %s after %llu ms; restarting in %u s",
		     (int)p->pid, how, (unsigned long long)ran, delay / 1000);
	p->pid = 0;
	provide_restart_in(p, delay);
}

static void copy_path(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

struct da_provide *da_provide_new(struct event_base *base,
				  const struct da_provide_cfg *cfg,
				  struct cr_error **err)
{
	struct da_provide *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	p->base = base;
	p->fd = -1;
	p->backoff_ms = PROVIDE_BACKOFF_MIN_MS;
	copy_path(p->store, sizeof(p->store), cfg->store_dir);
	copy_path(p->ring, sizeof(p->ring), cfg->ring_path);
	copy_path(p->ring_saved, sizeof(p->ring_saved), cfg->ring_saved);
	copy_path(p->key, sizeof(p->key), cfg->key_path);
	snprintf(p->listen, sizeof(p->listen), "127.0.0.1:%u", (unsigned)cfg->port);
	if (cfg->port == 0) {
		cr_error_set(err, EINVAL, "serve: no port");
		return da_provide_free(p);
	}
	p->ev_timer = event_new(base, -1, 0, provide_on_timer, p);
	if (p->ev_timer == NULL) {
		cr_error_set(err, ENOMEM, "cannot create events");
		return da_provide_free(p);
	}
	provide_start(p);
	return p;
}

int da_provide_pid(const struct da_provide *p)
{
	return p != NULL ? (int)p->pid : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct da_provide *da_provide_free(struct da_provide *p)
{
	if (p == NULL)
		return NULL;
	if (p->pid > 0) {
		int gone = 0;

		/* SIGTERM: serve's last line counts what it served. */
		kill(p->pid, SIGTERM);
		for (long t = 0; t < PROVIDE_STOP_GRACE_MS && !gone; t += 20) {
			gone = waitpid(p->pid, NULL, WNOHANG) != 0;
			if (!gone)
				sleep_ms(20);
		}
		if (!gone) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		if (p->fd >= 0)
			provide_drain(p);
	}
	provide_close_out(p);
	if (p->ev_timer != NULL)
		event_free(p->ev_timer);
	free(p);
	return NULL;
}

void da_provide_carrier(const char *given, char *out, size_t cap)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (given != NULL && given[0] != '\0') {
		snprintf(out, cap, "%s", given);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL &&
		    (size_t)(slash - self) + sizeof("/carrier") <= sizeof(self)) {
			memcpy(slash, "/carrier", sizeof("/carrier"));
			if (access(self, X_OK) == 0) {
				snprintf(out, cap, "%s", self);
				return;
			}
		}
	}
	snprintf(out, cap, "carrier");
}
