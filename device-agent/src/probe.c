/*
 * Health probes of an app in the health window, run from the agent's
 * loop: tcp (127.0.0.1:PORT accepts), http (GET answers 2xx or 3xx), exec
 * (`sh -c CMD` in the container exits 0, through bo_exec in a child
 * process, so the loop never waits for it).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apps-internal.h"
#include "bo/container.h"
#include "cr/util.h"

enum { PROBE_TICK_MS = 50 };

struct da_probe {
	struct event_base *base;
	struct cr_health h;
	da_probe_fn fn;
	void *arg;
	int fd;
	int sent;
	pid_t child;
	uint64_t deadline_ms;
	struct event *ev_io, *ev_tick;
	char buf[512];
	size_t len;
	char failed[160]; /* a connect refused at once */
};

static void probe_free(struct da_probe *pr)
{
	if (pr->ev_io != NULL)
		event_free(pr->ev_io);
	if (pr->ev_tick != NULL)
		event_free(pr->ev_tick);
	if (pr->fd >= 0)
		close(pr->fd);
	if (pr->child > 0) {
		kill(pr->child, SIGKILL);
		waitpid(pr->child, NULL, 0);
	}
	free(pr);
}

static void probe_end(struct da_probe *pr, int ok, const char *why)
{
	da_probe_fn fn = pr->fn;
	void *arg = pr->arg;
	char msg[400];

	snprintf(msg, sizeof(msg), "%s", why);
	probe_free(pr);
	fn(arg, ok, msg);
}

/* An HTTP status line: "HTTP/1.x NNN ...". */
static int http_status(const char *b, size_t len)
{
	if (len < 12 || strncmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ')
		return -1;
	if (b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' ||
	    b[11] < '0' || b[11] > '9')
		return -1;
	return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

static void probe_io(evutil_socket_t fd, short what, void *arg)
{
	struct da_probe *pr = arg;
	char why[300];

	(void)what;
	if (!pr->sent) {
		int e = 0;
		socklen_t el = sizeof(e);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0) {
			snprintf(why, sizeof(why), "connecting to port %u: %s",
				 pr->h.port, strerror(e ? e : errno));
			probe_end(pr, 0, why);
			return;
		}
		if (pr->h.kind == CR_HEALTH_TCP) {
			probe_end(pr, 1, "");
			return;
		}
		snprintf(pr->buf, sizeof(pr->buf),
			 "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n"
			 "Connection: close\r\n\r\n",
			 pr->h.path[0] ? pr->h.path : "/", pr->h.port);
		if (send(fd, pr->buf, strlen(pr->buf), MSG_NOSIGNAL) < 0) {
			snprintf(why, sizeof(why), "http: %s", strerror(errno));
			probe_end(pr, 0, why);
			return;
		}
		pr->sent = 1;
		pr->len = 0;
		event_free(pr->ev_io);
		pr->ev_io = event_new(pr->base, pr->fd, EV_READ | EV_PERSIST,
				      probe_io, pr);
		if (pr->ev_io == NULL || event_add(pr->ev_io, NULL) < 0)
			probe_end(pr, 0, "out of memory");
		return;
	}
	{
		ssize_t r = recv(fd, pr->buf + pr->len,
				 sizeof(pr->buf) - 1 - pr->len, 0);
		int status;

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r > 0)
			pr->len += (size_t)r;
		if (r > 0 && pr->len < 12 && pr->len < sizeof(pr->buf) - 1)
			return;
		status = http_status(pr->buf, pr->len);
		if (status >= 200 && status < 400) {
			probe_end(pr, 1, "");
			return;
		}
		if (status < 0)
			snprintf(why, sizeof(why),
				 "http:%u%s: no HTTP answer", pr->h.port,
				 pr->h.path);
		else
			snprintf(why, sizeof(why), "http:%u%s answered %d",
				 pr->h.port, pr->h.path, status);
		probe_end(pr, 0, why);
	}
}

static void probe_tick(evutil_socket_t fd, short what, void *arg)
{
	struct da_probe *pr = arg;
	char why[300];
	int status;

	(void)fd;
	(void)what;
	if (pr->child > 0 && waitpid(pr->child, &status, WNOHANG) == pr->child) {
		pr->child = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			probe_end(pr, 1, "");
			return;
		}
		snprintf(why, sizeof(why), "exec:%s exited with %d", pr->h.cmd,
			 WIFEXITED(status) ? WEXITSTATUS(status)
					   : 128 + WTERMSIG(status));
		probe_end(pr, 0, why);
		return;
	}
	if (pr->failed[0] != '\0') {
		snprintf(why, sizeof(why), "%s", pr->failed);
		probe_end(pr, 0, why);
		return;
	}
	if (cr_now_ms() >= pr->deadline_ms) {
		if (pr->h.kind == CR_HEALTH_EXEC)
			snprintf(why, sizeof(why), "exec:%s timed out",
				 pr->h.cmd);
		else
			snprintf(why, sizeof(why), "%s:%u%s timed out",
				 pr->h.kind == CR_HEALTH_TCP ? "tcp" : "http",
				 pr->h.port, pr->h.path);
		probe_end(pr, 0, why);
	}
}

/* The exec probe's child: sh -c CMD in the container, its exit status
 * ours. */
static _Noreturn void probe_exec_child(const struct da_paths *p,
				       const char *id, const char *cmd)
{
	struct bo_opts o;
	struct bo_spec *s;
	static char sh[] = "/bin/sh", c[] = "-c";
	char *args[] = { sh, c, (char *)(uintptr_t)cmd, NULL };
	int status = 1, nul = open("/dev/null", O_RDWR);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
	}
	memset(&o, 0, sizeof(o));
	o.root = p->bolter;
	s = bo_container_spec(&o, id, NULL);
	if (s == NULL)
		_exit(126);
	s->process.args = args;
	s->process.terminal = 0;
	if (bo_exec(&o, id, &s->process, &status, NULL) < 0)
		_exit(126);
	/* The command's own status where it fits one (a signal's 128 + N
	 * too), so that the reason says what happened. */
	_exit(status > 0 && status < 256 ? status : status == 0 ? 0 : 1);
}

struct da_probe *da_probe_start(struct event_base *base,
				const struct cr_health *h,
				const struct da_paths *p, const char *id,
				uint64_t timeout_ms, da_probe_fn fn, void *arg)
{
	struct da_probe *pr = calloc(1, sizeof(*pr));

	if (pr == NULL)
		return NULL;
	pr->base = base;
	pr->h = *h;
	pr->fn = fn;
	pr->arg = arg;
	pr->fd = -1;
	pr->deadline_ms = cr_now_ms() + timeout_ms;
	pr->ev_tick = event_new(base, -1, EV_PERSIST, probe_tick, pr);
	if (pr->ev_tick == NULL ||
	    event_add(pr->ev_tick,
		      &(struct timeval){ 0, PROBE_TICK_MS * 1000 }) < 0)
		goto fail;
	if (h->kind == CR_HEALTH_EXEC) {
		pr->child = fork();
		if (pr->child < 0)
			goto fail;
		if (pr->child == 0)
			probe_exec_child(p, id, h->cmd);
		return pr;
	}
	{
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(h->port),
					   .sin_addr.s_addr =
						   htonl(INADDR_LOOPBACK) };

		pr->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0);
		if (pr->fd < 0)
			goto fail;
		if (connect(pr->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
		    errno != EINPROGRESS) {
			/* Refused at once: the tick reports it, never a
			 * callback from inside the start. */
			snprintf(pr->failed, sizeof(pr->failed),
				 "connecting to port %u: %s", h->port,
				 strerror(errno));
			return pr;
		}
		pr->ev_io = event_new(base, pr->fd, EV_WRITE, probe_io, pr);
		if (pr->ev_io == NULL || event_add(pr->ev_io, NULL) < 0)
			goto fail;
	}
	return pr;
fail:
	probe_free(pr);
	return NULL;
}

void da_probe_cancel(struct da_probe *pr)
{
	if (pr != NULL)
		probe_free(pr);
}
