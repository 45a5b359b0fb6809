/*
 * The app manager's loop half (da/apps.h): releases in, the journal, the
 * switch's steps, the health window, supervision with restarts, log
 * rotation, retention.  Each step is journaled before it acts; the
 * blocking part of a step runs in a worker process (appjob.c) forked
 * here, one at a time, reporting one line over a pipe.
 */
#include "da/apps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apps-internal.h"
#include "bo/state.h"
#include "cr/log.h"
#include "cr/util.h"

enum {
	/* The pass's period when an app's end can only be polled for (no
	 * pidfd: a kernel before 5.3) or its log cannot be watched. */
	APPS_POLL_MS = 200,
	REAP_MS = 100,	   /* a finished worker is waited for this often */
	LOG_GAP_MS = 500,  /* a log's writes are looked at at most this often */
	PROBE_EVERY_MS = 1000,
	/* The verdict at a window's end: a probe that fails is tried again
	 * PROBE_RETRY_MS later, and the version fails after PROBE_FINAL_TRIES
	 * failures in a row (Kubernetes' failureThreshold: one probe that
	 * lost a race with a busy machine does not roll a fleet back). */
	PROBE_RETRY_MS = 1000,
	PROBE_FINAL_TRIES = 3,
	PROBE_TIMEOUT_MS = 2000,
	RESTART_MIN_MS = 1000,
	RESTART_MAX_MS = 60000,
	REAP_MAX = 32,
};

struct app;
struct da_apps;
typedef void (*job_done_fn)(struct da_apps *m, struct app *a, int ok,
			    const char *msg);

struct queued {
	struct da_job job;
	struct app *app;
	job_done_fn done;
	struct queued *next;
};

struct waiter {
	void *arg;
	da_apps_done_fn fn;
	char app[DA_NAME_MAX];
	struct waiter *next;
};

struct app {
	struct da_apps *m;
	struct da_app_rec rec;
	struct cr_release *rel; /* the target's, during a switch */
	int jobs;		/* queued or running */
	/* The version being watched. */
	char running[DA_NAME_MAX];
	pid_t pid;
	uint64_t start_time;
	uint64_t up_since_ms;
	int crashed;
	uint64_t restart_at_ms;
	uint32_t backoff_ms;
	/* The health window. */
	uint64_t window_end_ms, next_probe_ms;
	struct da_probe *probe;
	int probe_final;
	int final_fails; /* failed verdict probes in a row */
	uint32_t restarts; /* since the agent started */
	/* The watched process's end (a pidfd: readable once it exited),
	 * and its log's writes (an inotify watch; -1: none). */
	int exit_fd;
	pid_t exit_pid;
	struct event *ev_exit;
	int log_wd;
	/* Configuration (docs/fleet.md "Configuration"). */
	struct cr_appcfg *cfg;      /* the one that passed; NULL: none */
	struct cr_appcfg *cfg_try;  /* being tried */
	struct cr_appcfg *cfg_next; /* accepted, applied once the app rests */
	struct cr_appcfg *cfg_old;  /* the last reverted (a job may read it) */
	enum { CFG_IDLE, CFG_BUSY, CFG_WINDOW } cfg_phase;
	int cfg_health_ok, cfg_need_ring;
	uint64_t cfg_applied_ms, cfg_window_end, cfg_ring_end;
	uint64_t cfg_tried; /* the highest version tried */
	char cfg_error[DA_REASON_MAX];
	struct app *next;
};

struct da_apps {
	struct event_base *base;
	struct da_apps_cfg cfg;
	struct da_paths paths;
	struct cr_trust *trust;
	struct cr_kv *kv;
	struct app *apps;
	struct queued *q_head, *q_tail, *cur;
	pid_t worker;
	int wfd;
	struct event *ev_worker;
	char wbuf[1024];
	size_t wlen;
	pid_t reap[REAP_MAX];
	size_t n_reap;
	struct event *ev_tick;
	/* The logs' writes (inotify), paused until log_resume_ms after a
	 * look so that a chatty app wakes the loop at most every
	 * LOG_GAP_MS. */
	int ino_fd;
	struct event *ev_ino;
	uint64_t log_resume_ms;
	struct waiter *waiters;
	/* Told after a pass of the loop (a step, an exit, a restart): the
	 * agent's health record, the rollouts' reports. */
	struct {
		void (*fn)(void *arg);
		void *arg;
	} listen[2];
	/* The device, for the config's targets. */
	uint8_t dev[CR_ID_HASHLEN];
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
	size_t n_tags;
	/* The deployment each app follows, for `apps` (da/deploy.h). */
	uint64_t (*deploy_seq)(void *arg, const char *app);
	void *deploy_arg;
};

static void app_rollback(struct app *a, const char *reason);
static void app_watch(struct app *a, const char *version);
static void apps_kick(struct da_apps *m);
static struct app *app_find(struct da_apps *m, const char *name);

/* ---- Worker ------------------------------------------------------------ */

static void worker_next(struct da_apps *m);

static void worker_finish(struct da_apps *m, int ok, const char *msg)
{
	struct queued *q = m->cur;

	if (m->ev_worker != NULL)
		event_free(m->ev_worker);
	m->ev_worker = NULL;
	close(m->wfd);
	m->wfd = -1;
	if (m->n_reap < REAP_MAX)
		m->reap[m->n_reap++] = m->worker;
	else
		waitpid(m->worker, NULL, 0);
	m->worker = 0;
	m->cur = NULL;
	if (q != NULL) {
		q->app->jobs--;
		if (q->done != NULL)
			q->done(m, q->app, ok, msg);
		free(q);
	}
	worker_next(m);
	/* The step that ended decides the next wake-up. */
	apps_kick(m);
}

static void worker_read(evutil_socket_t fd, short what, void *arg)
{
	struct da_apps *m = arg;
	ssize_t r;
	char *nl;

	(void)what;
	r = read(fd, m->wbuf + m->wlen, sizeof(m->wbuf) - 1 - m->wlen);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		m->wlen += (size_t)r;
		m->wbuf[m->wlen] = '\0';
		nl = strchr(m->wbuf, '\n');
		if (nl == NULL && m->wlen < sizeof(m->wbuf) - 1)
			return;
		if (nl != NULL)
			*nl = '\0';
		if (strcmp(m->wbuf, "ok") == 0)
			worker_finish(m, 1, "");
		else
			worker_finish(m, 0,
				      strncmp(m->wbuf, "err ", 4) == 0 ? m->wbuf + 4
								       : m->wbuf);
		return;
	}
	/* The end without a line: the worker died (killed, crashed). */
	worker_finish(m, 0, "the worker process died");
}

static _Noreturn void worker_child(struct da_apps *m, struct queued *q,
				   int wfd)
{
	struct cr_error *err = NULL;
	char line[1024];
	long maxfd = sysconf(_SC_OPEN_MAX);

	/* A killed agent takes its worker with it, as a power cut would. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	/* Nothing of the agent's (its LMDB, its sockets) reaches the
	 * containers this process makes. */
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	for (long fd = 3; fd < maxfd; fd++)
		if (fd != wfd)
			close((int)fd);
	if (da_job_run(&m->paths, &q->job, &err) == 0) {
		snprintf(line, sizeof(line), "ok\n");
	} else {
		char msg[1000];

		snprintf(msg, sizeof(msg), "%s", cr_error_msg(err));
		/* One line: newlines in a message become spaces. */
		for (char *c = msg; *c; c++)
			if (*c == '\n')
				*c = ' ';
		snprintf(line, sizeof(line), "err %s\n", msg);
	}
	if (write(wfd, line, strlen(line)) < 0)
		_exit(1);
	_exit(0);
}

static void worker_next(struct da_apps *m)
{
	struct queued *q;
	int fds[2];
	pid_t pid;

	if (m->worker != 0 || m->q_head == NULL)
		return;
	q = m->q_head;
	m->q_head = q->next;
	if (m->q_head == NULL)
		m->q_tail = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		q->app->jobs--;
		q->done(m, q->app, 0, "cannot make a pipe");
		free(q);
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		q->app->jobs--;
		q->done(m, q->app, 0, "cannot fork a worker");
		free(q);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		worker_child(m, q, fds[1]);
	}
	close(fds[1]);
	evutil_make_socket_nonblocking(fds[0]);
	m->worker = pid;
	m->wfd = fds[0];
	m->wlen = 0;
	m->cur = q;
	m->ev_worker = event_new(m->base, fds[0], EV_READ | EV_PERSIST,
				 worker_read, m);
	if (m->ev_worker == NULL || event_add(m->ev_worker, NULL) < 0) {
		kill(pid, SIGKILL);
		worker_finish(m, 0, "cannot watch the worker");
	}
}

static void app_job(struct app *a, enum da_job_kind kind, const char *version,
		    const char *image, job_done_fn done)
{
	struct da_apps *m = a->m;
	struct queued *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		done(m, a, 0, "out of memory");
		return;
	}
	q->job.kind = kind;
	snprintf(q->job.app, sizeof(q->job.app), "%s", a->rec.app);
	if (version != NULL)
		snprintf(q->job.version, sizeof(q->job.version), "%s", version);
	if (image != NULL)
		snprintf(q->job.image, sizeof(q->job.image), "%s", image);
	q->job.rel = a->rel;
	q->job.cfg = a->cfg_try != NULL ? a->cfg_try : a->cfg;
	q->job.signal = a->rel != NULL ? a->rel->reload_signal : 0;
	q->app = a;
	q->done = done;
	a->jobs++;
	if (m->q_tail != NULL)
		m->q_tail->next = q;
	else
		m->q_head = q;
	m->q_tail = q;
	worker_next(m);
}

/* ---- Journal and waiters ---------------------------------------------- */

static void app_journal(struct app *a, enum da_app_state s)
{
	struct cr_error *err = NULL;

	if (!da_app_step_ok(a->rec.state, s) && a->rec.state != s)
		cr_log_warnx("app %s: unexpected step %s -> %s", a->rec.app,
			     da_app_state_name(a->rec.state),
			     da_app_state_name(s));
	a->rec.state = s;
	if (da_journal_put(a->m->kv, &a->rec, &err) < 0) {
		cr_log_warnx("%s", cr_error_msg(err));
		cr_error_free(err);
	}
	cr_log_info("app %s: %s%s%s", a->rec.app, da_app_state_name(s),
		    a->rec.target[0] ? " " : "", a->rec.target);
}

static void app_notify(struct app *a, int ok, const char *line)
{
	struct waiter **w = &a->m->waiters;

	while (*w != NULL) {
		struct waiter *x = *w;

		if (strcmp(x->app, a->rec.app) != 0) {
			w = &x->next;
			continue;
		}
		*w = x->next;
		x->fn(x->arg, ok, line);
		free(x);
	}
}

static const char *kept_image(const struct app *a, const char *version)
{
	for (size_t i = 0; i < a->rec.n_kept; i++)
		if (strcmp(a->rec.kept[i], version) == 0)
			return a->rec.kept_image[i];
	if (strcmp(a->rec.target, version) == 0)
		return a->rec.target_image;
	return "";
}

static int image_in_use(const struct da_apps *m, const char *image)
{
	for (const struct app *a = m->apps; a != NULL; a = a->next) {
		for (size_t i = 0; i < a->rec.n_kept; i++)
			if (strcmp(a->rec.kept_image[i], image) == 0)
				return 1;
		if (!da_app_state_terminal(a->rec.state) &&
		    strcmp(a->rec.target_image, image) == 0)
			return 1;
	}
	return 0;
}

static void evicted(struct da_apps *m, struct app *a, int ok, const char *msg)
{
	(void)m;
	if (!ok)
		cr_log_warnx("app %s: removing old versions: %s", a->rec.app,
			     msg);
}

/* Removes versions no longer kept: their folders, their release files,
 * and their images when no kept version of any app names them. */
static void app_evict(struct app *a, char ver[][DA_NAME_MAX],
		      char img[][DA_IMAGE_MAX], size_t n)
{
	struct da_apps *m = a->m;
	struct queued *q;

	if (n == 0)
		return;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return;
	q->job.kind = DA_JOB_EVICT;
	snprintf(q->job.app, sizeof(q->job.app), "%s", a->rec.app);
	for (size_t i = 0; i < n && i < DA_KEEP_MAX + 2; i++) {
		int dup = 0;

		da_journal_del_release(m->kv, a->rec.app, ver[i], NULL);
		snprintf(q->job.evict[q->job.n_evict++], DA_NAME_MAX, "%s",
			 ver[i]);
		if (img[i][0] == '\0' || image_in_use(m, img[i]))
			continue;
		for (size_t k = 0; k < q->job.n_drop; k++)
			dup |= strcmp(q->job.drop[k], img[i]) == 0;
		if (!dup)
			snprintf(q->job.drop[q->job.n_drop++], DA_IMAGE_MAX,
				 "%s", img[i]);
		cr_log_info("app %s: version %s no longer kept", a->rec.app,
			    ver[i]);
	}
	q->app = a;
	q->done = evicted;
	a->jobs++;
	if (m->q_tail != NULL)
		m->q_tail->next = q;
	else
		m->q_head = q;
	m->q_tail = q;
	worker_next(m);
}

static void app_stop_health(struct app *a)
{
	da_probe_cancel(a->probe);
	a->probe = NULL;
	a->probe_final = 0;
}

/* ---- The switch ---------------------------------------------------------- */

/* A switch that started nothing ends (a refused or failed pull, a failed
 * checkout): the committed version never stopped. */
static void app_abandon(struct app *a, const char *reason)
{
	char line[DA_REASON_MAX + 160];
	char ev[1][DA_NAME_MAX], evi[1][DA_IMAGE_MAX];
	size_t n = 0;

	snprintf(a->rec.last_error, sizeof(a->rec.last_error), "%s", reason);
	a->rec.last_switch_unix = cr_now_unix();
	app_journal(a, DA_APP_ROLLED_BACK);
	snprintf(line, sizeof(line), "refused %s %s: %s", a->rec.app,
		 a->rec.target, reason);
	if (!da_app_keeps(&a->rec, a->rec.target)) {
		snprintf(ev[0], DA_NAME_MAX, "%s", a->rec.target);
		snprintf(evi[0], DA_IMAGE_MAX, "%s", a->rec.target_image);
		n = 1;
	}
	a->rel = cr_release_free(a->rel);
	app_notify(a, 0, line);
	app_evict(a, ev, evi, n);
}

static void rolled_back(struct da_apps *m, struct app *a, int ok,
			const char *msg)
{
	char ev[DA_KEEP_MAX + 1][DA_NAME_MAX], evi[DA_KEEP_MAX + 1][DA_IMAGE_MAX];
	char line[DA_REASON_MAX + 160];
	size_t n = 0;

	(void)m;
	if (!ok) {
		size_t l = strlen(a->rec.last_error);

		snprintf(a->rec.last_error + l, sizeof(a->rec.last_error) - l,
			 "; the previous version %s does not start: %s",
			 a->rec.current, msg);
	}
	/* The failed version stays only when there is room: never at the
	 * expense of the current or the previous one. */
	if (strcmp(a->rec.target, a->rec.current) != 0)
		n = da_app_retain(&a->rec, a->rec.target, a->rec.target_image,
				  0, ev, evi);
	a->rec.last_switch_unix = cr_now_unix();
	app_journal(a, DA_APP_ROLLED_BACK);
	if (a->rec.current[0] != '\0')
		app_watch(a, a->rec.current);
	else
		a->running[0] = '\0';
	snprintf(line, sizeof(line), "rolled_back %s %s: %s", a->rec.app,
		 a->rec.target, a->rec.last_error);
	a->rel = cr_release_free(a->rel);
	app_notify(a, 0, line);
	app_evict(a, ev, evi, n);
}

static void app_rollback(struct app *a, const char *reason)
{
	app_stop_health(a);
	snprintf(a->rec.last_error, sizeof(a->rec.last_error), "%s", reason);
	cr_log_warnx("app %s: %s %s failed: %s; rolling back to %s",
		     a->rec.app, a->rec.app, a->rec.target, reason,
		     a->rec.current[0] ? a->rec.current : "nothing");
	app_journal(a, DA_APP_ROLLING_BACK);
	a->running[0] = '\0';
	if (a->rec.current[0] != '\0')
		app_job(a, DA_JOB_RUN, a->rec.current,
			kept_image(a, a->rec.current), rolled_back);
	else
		app_job(a, DA_JOB_STOP, NULL, NULL, rolled_back);
}

static void app_commit(struct app *a)
{
	char ev[DA_KEEP_MAX + 1][DA_NAME_MAX], evi[DA_KEEP_MAX + 1][DA_IMAGE_MAX];
	char line[256];
	size_t n;

	app_stop_health(a);
	n = da_app_retain(&a->rec, a->rec.target, a->rec.target_image, 1, ev,
			  evi);
	snprintf(a->rec.current, sizeof(a->rec.current), "%s", a->rec.target);
	if (a->rec.target_counter > a->rec.floor)
		a->rec.floor = a->rec.target_counter;
	a->rec.last_switch_unix = cr_now_unix();
	a->rec.last_error[0] = '\0';
	/* One transaction: the new version, the floor, the kept list. */
	app_journal(a, DA_APP_COMMITTED);
	snprintf(line, sizeof(line), "committed %s %s", a->rec.app,
		 a->rec.current);
	a->rel = cr_release_free(a->rel);
	app_notify(a, 1, line);
	app_evict(a, ev, evi, n);
}

static void health_decide(struct app *a, int ok, const char *why)
{
	struct da_apps *m = a->m;
	char reason[DA_REASON_MAX];

	if (ok && a->rec.need_ring && m->cfg.attached != NULL &&
	    m->cfg.attached(m->cfg.attached_arg) <= 0) {
		ok = 0;
		why = "the ring was not reachable at the end of the health "
		      "window";
	}
	if (ok) {
		app_commit(a);
		return;
	}
	snprintf(reason, sizeof(reason), "health: %s", why);
	app_rollback(a, reason);
}

static void cfg_probed(struct app *a, int ok, const char *why);

static void probe_done(void *arg, int ok, const char *why)
{
	struct app *a = arg;

	a->probe = NULL;
	apps_kick(a->m);
	if (a->probe_final && a->cfg_phase == CFG_WINDOW)
		cfg_probed(a, ok, why);
	else if (a->probe_final && !ok &&
		 ++a->final_fails < PROBE_FINAL_TRIES) {
		cr_log_info("app %s: %s: health probe %d of %d failed (%s); "
			    "trying again",
			    a->rec.app, a->rec.target, a->final_fails,
			    (int)PROBE_FINAL_TRIES, why);
		a->probe_final = 0;
		a->next_probe_ms = cr_now_ms() + PROBE_RETRY_MS;
	} else if (a->probe_final)
		health_decide(a, ok, why);
	else if (!ok)
		cr_log_debug("app %s: probe: %s", a->rec.app, why);
}

static void health_probe(struct app *a)
{
	char id[2 * DA_NAME_MAX + 2];

	/* A config's window probes the version that runs. */
	da_container_id(a->rec.app,
			a->cfg_phase == CFG_WINDOW ? a->rec.current :
						     a->rec.target,
			id, sizeof(id));
	a->probe = da_probe_start(a->m->base, &a->rel->health, &a->m->paths,
				  id, PROBE_TIMEOUT_MS, probe_done, a);
	if (a->probe == NULL && a->probe_final)
		health_decide(a, 0, "cannot start the probe");
}

static void health_tick(struct app *a, uint64_t now)
{
	char reason[DA_REASON_MAX];

	if (!bo_process_alive(a->pid, a->start_time)) {
		snprintf(reason, sizeof(reason),
			 "%s exited during its health window", a->rec.target);
		app_rollback(a, reason);
		return;
	}
	if (a->probe != NULL)
		return;
	if (now >= a->window_end_ms) {
		if (a->rel == NULL || a->rel->health.kind == CR_HEALTH_NONE) {
			health_decide(a, 1, "");
			return;
		}
		if (a->final_fails > 0 && now < a->next_probe_ms)
			return;
		a->probe_final = 1;
		health_probe(a);
		return;
	}
	if (a->rel != NULL && a->rel->health.kind != CR_HEALTH_NONE &&
	    now >= a->next_probe_ms) {
		a->next_probe_ms = now + PROBE_EVERY_MS;
		health_probe(a);
	}
}

static void started(struct da_apps *m, struct app *a, int ok,
		    const char *msg)
{
	uint64_t now = cr_now_ms();

	(void)m;
	if (!ok) {
		app_rollback(a, msg);
		return;
	}
	app_watch(a, a->rec.target);
	if (a->crashed) {
		char reason[DA_REASON_MAX];

		snprintf(reason, sizeof(reason), "%s exited at once",
			 a->rec.target);
		app_rollback(a, reason);
		return;
	}
	app_journal(a, DA_APP_HEALTH);
	a->window_end_ms = now + a->rec.window_ms;
	a->next_probe_ms = now + PROBE_EVERY_MS;
	a->probe_final = 0;
	a->final_fails = 0;
}

static void staged(struct da_apps *m, struct app *a, int ok, const char *msg)
{
	(void)m;
	if (!ok) {
		app_abandon(a, msg);
		return;
	}
	app_journal(a, DA_APP_STAGED);
	app_journal(a, DA_APP_STARTING);
	app_job(a, DA_JOB_RUN, a->rec.target, a->rec.target_image, started);
}

static void fetched(struct da_apps *m, struct app *a, int ok,
		    const char *msg)
{
	(void)m;
	if (!ok) {
		app_abandon(a, msg);
		return;
	}
	app_journal(a, DA_APP_VERIFIED);
	app_job(a, DA_JOB_STAGE, a->rec.target, a->rec.target_image, staged);
}

/* ---- Supervision ---------------------------------------------------------- */

static void app_watch(struct app *a, const char *version)
{
	snprintf(a->running, sizeof(a->running), "%s", version);
	a->crashed = !da_container_pid(&a->m->paths, a->rec.app, version,
				       &a->pid, &a->start_time);
	a->up_since_ms = cr_now_ms();
	if (a->crashed) {
		a->backoff_ms = a->backoff_ms ? a->backoff_ms : RESTART_MIN_MS;
		a->restart_at_ms = cr_now_ms() + a->backoff_ms;
	}
}

static void restarted(struct da_apps *m, struct app *a, int ok,
		      const char *msg)
{
	struct cr_error *err = NULL;

	(void)m;
	if (ok) {
		app_watch(a, a->rec.current);
		return;
	}
	cr_log_warnx("app %s: restarting %s: %s", a->rec.app, a->rec.current,
		     msg);
	snprintf(a->rec.last_error, sizeof(a->rec.last_error), "%s", msg);
	if (da_journal_put(m->kv, &a->rec, &err) < 0) {
		cr_log_warnx("%s", cr_error_msg(err));
		cr_error_free(err);
	}
	a->crashed = 1;
	a->backoff_ms = a->backoff_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS
							   : a->backoff_ms * 2;
	a->restart_at_ms = cr_now_ms() + a->backoff_ms;
}

static void supervise(struct app *a, uint64_t now)
{
	if (a->running[0] == '\0' || strcmp(a->running, a->rec.current) != 0)
		return;
	if (!a->crashed) {
		if (bo_process_alive(a->pid, a->start_time))
			return;
		/* Exponential backoff, from the start again after a run
		 * of a minute. */
		if (now - a->up_since_ms >= RESTART_MAX_MS || a->backoff_ms == 0)
			a->backoff_ms = RESTART_MIN_MS;
		else
			a->backoff_ms = a->backoff_ms * 2 > RESTART_MAX_MS
						? RESTART_MAX_MS
						: a->backoff_ms * 2;
		a->crashed = 1;
		a->restarts++;
		a->restart_at_ms = now + a->backoff_ms;
		cr_log_warnx("app %s: %s exited; restarting in %u ms",
			     a->rec.app, a->running, a->backoff_ms);
		return;
	}
	if (now >= a->restart_at_ms) {
		a->restart_at_ms = UINT64_MAX;
		app_job(a, DA_JOB_RUN, a->rec.current,
			kept_image(a, a->rec.current), restarted);
	}
}

/* DATA/apps/APP/log past DA_LOG_MAX: copied to log.1, emptied (the
 * container appends, so it goes on at the start). */
static void rotate_log(struct app *a)
{
	char path[PATH_MAX], old[PATH_MAX + 4];
	char *buf = NULL;
	size_t len;
	struct stat sb;

	da_app_path(&a->m->paths, a->rec.app, "log", path, sizeof(path));
	if (stat(path, &sb) < 0 || sb.st_size < DA_LOG_MAX)
		return;
	snprintf(old, sizeof(old), "%s.1", path);
	if (cr_read_file(path, 4 * DA_LOG_MAX, &buf, &len, NULL) == 0) {
		/* The last DA_LOG_MAX bytes at most. */
		size_t off = len > DA_LOG_MAX ? len - DA_LOG_MAX : 0;

		cr_write_file_atomic(old, buf + off, len - off, 0600, NULL);
		free(buf);
	}
	if (truncate(path, 0) < 0)
		cr_log_warn("truncating %s", path);
}

/* ---- Configuration ------------------------------------------------------- */

/*
 * A config (cr/appconfig.h) is applied to the version that runs: its
 * config.json is staged again with the config's values in the
 * environment, the container starts again with the config's files, and
 * the health window runs; then the ring must still be reachable at the
 * end of the ring window (a config that cut the device off is undone even
 * when the app is well).  A config that fails either goes back to the
 * last one that passed.  The one that passed and the one being tried live
 * in the agent's LMDB ("appcfg": "g" or "t" + app), so a restart in the
 * middle undoes the try.
 */
#define CFG_DB "appcfg"

static void cfg_key(char kind, const char *app, char *key, size_t *klen)
{
	*klen = (size_t)snprintf(key, 2 + DA_NAME_MAX, "%c%s", kind, app);
}

static void cfg_put(struct app *a, char kind, const struct cr_appcfg *c)
{
	struct cr_error *err = NULL;
	char key[2 + DA_NAME_MAX];
	size_t klen;
	int rc;

	cfg_key(kind, a->rec.app, key, &klen);
	rc = c != NULL ? cr_kv_put(a->m->kv, CFG_DB, key, klen, c->blob,
				   c->blob_len, &err) :
			 cr_kv_del(a->m->kv, CFG_DB, key, klen, &err);
	if (rc < 0 && c != NULL) {
		cr_log_warnx("app %s: cannot store the config: %s", a->rec.app,
			     cr_error_msg(err));
	}
	cr_error_free(err);
}

/* The stored config of kind ("g" passed, "t" tried), its form checked
 * (its signatures were when it was accepted). */
static struct cr_appcfg *cfg_get(struct app *a, char kind)
{
	char key[2 + DA_NAME_MAX];
	struct cr_appcfg *c = NULL;
	uint8_t *buf = malloc(CR_APPCFG_RECORD_MAX);
	size_t klen, len = 0;

	if (buf == NULL)
		return NULL;
	cfg_key(kind, a->rec.app, key, &klen);
	if (cr_kv_get(a->m->kv, CFG_DB, key, klen, buf, CR_APPCFG_RECORD_MAX,
		      &len, NULL) < 0 ||
	    cr_appcfg_decode(buf, len, NULL, &c, NULL) < 0)
		c = NULL;
	free(buf);
	return c;
}

/* The release of the version that runs, for its staging and probe. */
static int cfg_release(struct app *a, struct cr_error **err)
{
	char *blob = NULL;
	size_t len;
	int rc;

	if (a->rel != NULL)
		return 0;
	if (da_journal_get_release(a->m->kv, a->rec.app, a->rec.current,
				   &blob, &len, err) < 0)
		return -1;
	rc = cr_release_decode((const uint8_t *)blob, len, NULL, &a->rel, err);
	free(blob);
	return rc;
}

static void cfg_end(struct app *a)
{
	app_stop_health(a);
	a->rel = cr_release_free(a->rel);
	a->cfg_phase = CFG_IDLE;
}

static void cfg_reverted_run(struct da_apps *m, struct app *a, int ok,
			     const char *msg)
{
	(void)m;
	if (ok) {
		app_watch(a, a->rec.current);
	} else {
		size_t l = strlen(a->cfg_error);

		snprintf(a->cfg_error + l, sizeof(a->cfg_error) - l,
			 "; starting it again: %s", msg);
		restarted(m, a, 0, msg);
		snprintf(a->running, sizeof(a->running), "%s", a->rec.current);
	}
	cfg_end(a);
}

static void cfg_reverted_stage(struct da_apps *m, struct app *a, int ok,
			       const char *msg)
{
	(void)m;
	if (!ok) {
		size_t l = strlen(a->cfg_error);

		snprintf(a->cfg_error + l, sizeof(a->cfg_error) - l,
			 "; staging it again: %s", msg);
	}
	app_job(a, DA_JOB_RUN, a->rec.current, kept_image(a, a->rec.current),
		cfg_reverted_run);
}

/* 1 when every environment value of x (NULL: none) is y's too. */
static int cfg_env_within(const struct cr_appcfg *x, const struct cr_appcfg *y)
{
	for (size_t i = 0; x != NULL && i < x->n_entries; i++) {
		const struct cr_appcfg_entry *e = &x->entries[i];
		int same = 0;

		if (e->file)
			continue;
		for (size_t k = 0; y != NULL && k < y->n_entries && !same; k++) {
			const struct cr_appcfg_entry *f = &y->entries[k];

			same = !f->file && strcmp(e->key, f->key) == 0 &&
			       e->len == f->len &&
			       memcmp(e->value, f->value, e->len) == 0;
		}
		if (!same)
			return 0;
	}
	return 1;
}

/*
 * Going from config `from` to `to` by a reload rather than a restart: the
 * release names a reload signal, the version runs, and no environment
 * value changes (a process's environment is fixed when it starts: a
 * changed value needs a restart, whatever the release says).
 */
static int cfg_can_reload(const struct app *a, const struct cr_appcfg *from,
			  const struct cr_appcfg *to)
{
	return a->rel != NULL && a->rel->reload_signal != 0 &&
	       a->running[0] != '\0' &&
	       strcmp(a->running, a->rec.current) == 0 && !a->crashed &&
	       bo_process_alive(a->pid, a->start_time) &&
	       cfg_env_within(from, to) && cfg_env_within(to, from);
}

static void cfg_reverted_reload(struct da_apps *m, struct app *a, int ok,
				const char *msg)
{
	(void)m;
	if (ok) {
		cfg_end(a);
		return;
	}
	/* The app no longer runs, or its root is gone: started again with
	 * the settings that passed. */
	cr_log_warnx("app %s: reloading the config that passed: %s; "
		     "restarting it",
		     a->rec.app, msg);
	a->running[0] = '\0';
	app_job(a, DA_JOB_STAGE, a->rec.current, kept_image(a, a->rec.current),
		cfg_reverted_stage);
}

/* Back to the config that passed (none: the release's own settings). */
static void cfg_revert(struct app *a, const char *reason)
{
	struct cr_error *err = NULL;

	app_stop_health(a);
	snprintf(a->cfg_error, sizeof(a->cfg_error),
		 "config %" PRIu64 " reverted: %s",
		 a->cfg_try != NULL ? a->cfg_try->version : a->cfg_tried,
		 reason);
	cr_log_warnx("app %s: %s; back to config %" PRIu64, a->rec.app,
		     a->cfg_error, a->cfg != NULL ? a->cfg->version : 0);
	cr_appcfg_free(a->cfg_old);
	a->cfg_old = a->cfg_try; /* a queued job may still point at it */
	a->cfg_try = NULL;
	cfg_put(a, 't', NULL);
	a->cfg_phase = CFG_BUSY;
	if (a->rec.current[0] != '\0' && cfg_can_reload(a, a->cfg_old, a->cfg)) {
		app_job(a, DA_JOB_RELOAD, a->rec.current,
			kept_image(a, a->rec.current), cfg_reverted_reload);
		return;
	}
	a->running[0] = '\0';
	if (a->rec.current[0] == '\0' || cfg_release(a, &err) < 0) {
		cr_log_warnx("app %s: reverting the config: %s", a->rec.app,
			     err != NULL ? cr_error_msg(err) : "no version");
		cr_error_free(err);
		if (a->rec.current[0] != '\0')
			app_job(a, DA_JOB_RUN, a->rec.current,
				kept_image(a, a->rec.current),
				cfg_reverted_run);
		else
			cfg_end(a);
		return;
	}
	app_job(a, DA_JOB_STAGE, a->rec.current, kept_image(a, a->rec.current),
		cfg_reverted_stage);
}

static void cfg_commit(struct app *a)
{
	cr_log_info("app %s: config %" PRIu64 " passed", a->rec.app,
		    a->cfg_try->version);
	cr_appcfg_free(a->cfg);
	a->cfg = a->cfg_try;
	a->cfg_try = NULL;
	a->cfg_error[0] = '\0';
	cfg_put(a, 'g', a->cfg);
	cfg_put(a, 't', NULL);
	cfg_end(a);
}

static void cfg_probed(struct app *a, int ok, const char *why)
{
	char reason[DA_REASON_MAX];

	a->probe_final = 0;
	if (ok) {
		a->cfg_health_ok = 1;
		return;
	}
	snprintf(reason, sizeof(reason), "health: %s", why);
	cfg_revert(a, reason);
}

static void cfg_tick(struct app *a, uint64_t now)
{
	struct da_apps *m = a->m;

	if (!bo_process_alive(a->pid, a->start_time)) {
		cfg_revert(a, a->cfg_health_ok ?
				      "the app exited during the ring window" :
				      "the app exited during its health "
				      "window");
		return;
	}
	if (a->probe != NULL)
		return;
	if (!a->cfg_health_ok) {
		int probed = a->rel != NULL &&
			     a->rel->health.kind != CR_HEALTH_NONE;

		if (now >= a->cfg_window_end) {
			if (!probed) {
				a->cfg_health_ok = 1;
			} else {
				a->probe_final = 1;
				health_probe(a);
			}
		} else if (probed && now >= a->next_probe_ms) {
			a->next_probe_ms = now + PROBE_EVERY_MS;
			health_probe(a);
		}
		return;
	}
	if (now < a->cfg_ring_end)
		return;
	if (a->cfg_need_ring && m->cfg.attached != NULL &&
	    m->cfg.attached(m->cfg.attached_arg) <= 0) {
		char reason[DA_REASON_MAX];

		snprintf(reason, sizeof(reason),
			 "the ring was not reachable %" PRIu64 " s after "
			 "applying it",
			 (a->cfg_ring_end - a->cfg_applied_ms) / 1000);
		cfg_revert(a, reason);
		return;
	}
	cfg_commit(a);
}

/* The config is on (restarted or reloaded): its health window starts. */
static void cfg_window(struct app *a)
{
	struct da_apps *m = a->m;
	uint64_t now = cr_now_ms(), window = a->rec.window_ms;

	if (window == 0)
		window = m->cfg.window_ms;
	a->cfg_phase = CFG_WINDOW;
	a->cfg_applied_ms = now;
	a->cfg_health_ok = 0;
	a->probe_final = 0;
	a->cfg_window_end = now + window;
	a->next_probe_ms = now + PROBE_EVERY_MS;
	a->cfg_ring_end = now + (m->cfg.config_ring_ms > window ?
					 m->cfg.config_ring_ms :
					 window);
}

static void cfg_started(struct da_apps *m, struct app *a, int ok,
			const char *msg)
{
	(void)m;
	if (!ok) {
		cfg_revert(a, msg);
		return;
	}
	app_watch(a, a->rec.current);
	if (a->crashed) {
		cfg_revert(a, "the app exited at once");
		return;
	}
	cfg_window(a);
}

static void cfg_staged(struct da_apps *m, struct app *a, int ok,
		       const char *msg);

static void cfg_reloaded(struct da_apps *m, struct app *a, int ok,
			 const char *msg)
{
	(void)m;
	if (ok) {
		cfg_window(a);
		return;
	}
	/* Not applied (the app stopped meanwhile, its root is gone): the
	 * restart the release would get without a reload signal. */
	cr_log_warnx("app %s: reloading config %" PRIu64 ": %s; restarting "
		     "it instead",
		     a->rec.app, a->cfg_try->version, msg);
	a->running[0] = '\0';
	app_job(a, DA_JOB_STAGE, a->rec.current, kept_image(a, a->rec.current),
		cfg_staged);
}

static void cfg_staged(struct da_apps *m, struct app *a, int ok,
		       const char *msg)
{
	(void)m;
	if (!ok) {
		cfg_revert(a, msg);
		return;
	}
	app_job(a, DA_JOB_RUN, a->rec.current, kept_image(a, a->rec.current),
		cfg_started);
}

/* The accepted config goes on, the app being at rest (apps_tick). */
static void cfg_start(struct app *a)
{
	struct da_apps *m = a->m;
	struct cr_error *err = NULL;

	if (a->rec.current[0] == '\0') {
		/* Nothing runs: it waits for a version. */
		return;
	}
	a->cfg_try = a->cfg_next;
	a->cfg_next = NULL;
	a->cfg_tried = a->cfg_try->version;
	a->cfg_error[0] = '\0';
	a->cfg_need_ring = m->cfg.attached != NULL &&
			   m->cfg.attached(m->cfg.attached_arg) > 0;
	if (cfg_release(a, &err) < 0) {
		char reason[DA_REASON_MAX];

		snprintf(reason, sizeof(reason), "the release of %s: %s",
			 a->rec.current, cr_error_msg(err));
		cr_error_free(err);
		cfg_revert(a, reason);
		return;
	}
	cfg_put(a, 't', a->cfg_try);
	a->cfg_phase = CFG_BUSY;
	if (cfg_can_reload(a, a->cfg, a->cfg_try)) {
		cr_log_info("app %s: applying config %" PRIu64 " to %s: its "
			    "files, then SIG%s",
			    a->rec.app, a->cfg_try->version, a->rec.current,
			    cr_reload_signal_name(a->rel->reload_signal));
		app_job(a, DA_JOB_RELOAD, a->rec.current,
			kept_image(a, a->rec.current), cfg_reloaded);
		return;
	}
	cr_log_info("app %s: applying config %" PRIu64 " to %s: restarting "
		    "it%s",
		    a->rec.app, a->cfg_try->version, a->rec.current,
		    a->rel->reload_signal != 0 ?
			    " (an environment value changed, or it was not "
			    "running)" :
			    "");
	a->running[0] = '\0';
	app_job(a, DA_JOB_STAGE, a->rec.current, kept_image(a, a->rec.current),
		cfg_staged);
}

/* What a start finds: the config that passed, and one cut short (undone
 * once the app runs again). */
static int cfg_recover(struct app *a)
{
	a->cfg = cfg_get(a, 'g');
	a->cfg_try = cfg_get(a, 't');
	if (a->cfg_try == NULL)
		return 0;
	a->cfg_tried = a->cfg_try->version;
	if (da_app_state_terminal(a->rec.state) && a->rec.current[0] != '\0') {
		/* Staged and started again: what app_recover's ensuring
		 * would do, with the settings that passed. */
		cfg_revert(a, "the agent restarted while trying it");
		return 1;
	}
	a->cfg_try = cr_appcfg_free(a->cfg_try);
	cfg_put(a, 't', NULL);
	return 0;
}

static uint64_t cfg_newest(const struct app *a)
{
	uint64_t v = a->cfg_tried;

	if (a->cfg != NULL && a->cfg->version > v)
		v = a->cfg->version;
	if (a->cfg_next != NULL && a->cfg_next->version > v)
		v = a->cfg_next->version;
	return v;
}

int da_apps_config(struct da_apps *m, const uint8_t *blob, size_t len,
		   char *line, size_t line_cap, struct cr_error **err)
{
	struct cr_appcfg *c = NULL;
	struct app *a;

	if (cr_appcfg_decode(blob, len, m->trust, &c, err) < 0)
		return -1;
	a = app_find(m, c->app);
	if (a == NULL || a->rec.current[0] == '\0') {
		cr_error_set(err, ENOENT,
			     "config version %" PRIu64 " of %s: the app does "
			     "not run here",
			     c->version, c->app);
		cr_appcfg_free(c);
		return -1;
	}
	if (cr_appcfg_accept(c, c->app, m->dev,
			     (const char(*)[CP_TAG_STR_MAX])m->tags, m->n_tags,
			     cfg_newest(a), cr_now_unix(), err) < 0) {
		cr_appcfg_free(c);
		return -1;
	}
	cr_appcfg_free(a->cfg_next);
	a->cfg_next = c;
	snprintf(line, line_cap, "%s config %" PRIu64, c->app, c->version);
	cr_log_info("app %s: config %" PRIu64 " accepted (%zu entries)",
		    c->app, c->version, c->n_entries);
	apps_kick(m);
	return 0;
}

void da_apps_set_device(struct da_apps *m, const uint8_t dev[CR_ID_HASHLEN],
			const char (*tags)[CP_TAG_STR_MAX], size_t n_tags)
{
	memcpy(m->dev, dev, CR_ID_HASHLEN);
	m->n_tags = n_tags < CP_TAGS_MAX ? n_tags : CP_TAGS_MAX;
	for (size_t i = 0; i < m->n_tags; i++)
		snprintf(m->tags[i], CP_TAG_STR_MAX, "%s", tags[i]);
}

int da_apps_ring_cut(const struct da_apps *m)
{
	const char *key = m->cfg.test_cut_ring_key;

	if (key == NULL || key[0] == '\0')
		return 0;
	for (const struct app *a = m->apps; a != NULL; a = a->next)
		for (size_t i = 0; a->cfg_try != NULL &&
				   i < a->cfg_try->n_entries; i++)
			if (strcmp(a->cfg_try->entries[i].key, key) == 0)
				return 1;
	return 0;
}

/* ---- The loop's pass --------------------------------------------------- */

/* Runs the pass at once (a step ended, a probe answered, a release or a
 * config came): it works out its next wake-up again (apps_next). */
static void apps_kick(struct da_apps *m)
{
	if (m->ev_tick != NULL)
		event_add(m->ev_tick, &(struct timeval){ 0, 0 });
}

static void app_unwatch_exit(struct app *a)
{
	if (a->ev_exit != NULL)
		event_free(a->ev_exit);
	a->ev_exit = NULL;
	if (a->exit_fd >= 0)
		close(a->exit_fd);
	a->exit_fd = -1;
	a->exit_pid = 0;
}

/* The watched process ended: the pass sees it (supervise, health_tick,
 * cfg_tick) and the watch goes (a pidfd stays readable). */
static void app_on_exit(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;

	(void)fd;
	(void)what;
	app_unwatch_exit(a);
	apps_kick(a->m);
}

/* 1 when the end of a->pid wakes the loop (a pidfd), 0 when it must be
 * polled for. */
static int app_watch_exit(struct app *a)
{
#ifdef SYS_pidfd_open
	int fd;

	if (a->ev_exit != NULL && a->exit_pid == a->pid)
		return 1;
	app_unwatch_exit(a);
	if (a->pid <= 0)
		return 0;
	fd = (int)syscall(SYS_pidfd_open, a->pid, 0);
	if (fd < 0)
		return 0;
	/* The pid may have been reused since the container started: the
	 * pidfd is the right process only when it still is. */
	if (!bo_process_alive(a->pid, a->start_time)) {
		close(fd);
		return 0;
	}
	a->ev_exit = event_new(a->m->base, fd, EV_READ, app_on_exit, a);
	if (a->ev_exit == NULL || event_add(a->ev_exit, NULL) < 0) {
		if (a->ev_exit != NULL)
			event_free(a->ev_exit);
		a->ev_exit = NULL;
		close(fd);
		return 0;
	}
	a->exit_fd = fd;
	a->exit_pid = a->pid;
	return 1;
#else
	(void)a;
	return 0;
#endif
}

/* 1 when writes to the app's log wake the loop, 0 when it must be
 * polled for. */
static int app_watch_log(struct app *a)
{
	char path[PATH_MAX];

	if (a->log_wd >= 0)
		return 1;
	if (a->m->ino_fd < 0)
		return 0;
	da_app_path(&a->m->paths, a->rec.app, "log", path, sizeof(path));
	a->log_wd = inotify_add_watch(a->m->ino_fd, path, IN_MODIFY);
	if (a->log_wd < 0)
		return 0;
	/* What was written before the watch. */
	rotate_log(a);
	return 1;
}

/* Writes to logs: each is looked at, then the watch rests LOG_GAP_MS
 * (the events wait in the inotify queue meanwhile). */
static void apps_on_log(evutil_socket_t fd, short what, void *arg)
{
	struct da_apps *m = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t r;

	(void)what;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + r;) {
			const struct inotify_event *ev =
				(const struct inotify_event *)p;

			for (struct app *a = m->apps; a != NULL; a = a->next) {
				if (a->log_wd != ev->wd)
					continue;
				if (ev->mask & IN_IGNORED)
					a->log_wd = -1; /* the file went */
				else
					rotate_log(a);
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	event_del(m->ev_ino);
	m->log_resume_ms = cr_now_ms() + LOG_GAP_MS;
	apps_kick(m);
}

static void apps_due(uint64_t *next, uint64_t at)
{
	if (at < *next)
		*next = at;
}

/* When the pass must run next (absolute ms; UINT64_MAX: when an event
 * says so).  Everything timed is a deadline here: a probe, the end of a
 * health or ring window, a restart's backoff, a worker to wait for; the
 * ends of the apps' processes and writes to their logs wake the loop by
 * themselves (app_watch_exit, app_watch_log), polled for only where the
 * kernel cannot say. */
static uint64_t apps_next(struct da_apps *m, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	int poll = 0;

	if (m->n_reap > 0)
		apps_due(&next, now + REAP_MS);
	if (m->log_resume_ms != 0)
		apps_due(&next, m->log_resume_ms);
	for (struct app *a = m->apps; a != NULL; a = a->next) {
		int probed = a->rel != NULL &&
			     a->rel->health.kind != CR_HEALTH_NONE;
		int watch = 0;

		if (a->running[0] != '\0' && !app_watch_log(a))
			poll = 1;
		if (a->jobs > 0)
			continue;
		if (a->cfg_phase == CFG_WINDOW) {
			watch = 1;
			if (a->probe != NULL)
				;
			else if (a->cfg_health_ok)
				apps_due(&next, a->cfg_ring_end);
			else {
				apps_due(&next, a->cfg_window_end);
				if (probed)
					apps_due(&next, a->next_probe_ms);
			}
		} else if (a->cfg_phase == CFG_IDLE && a->cfg_next != NULL &&
			   da_app_state_terminal(a->rec.state)) {
			if (a->rec.current[0] != '\0')
				apps_due(&next, now);
		} else if (a->rec.state == DA_APP_HEALTH) {
			watch = 1;
			if (a->probe == NULL) {
				/* After a failed verdict probe only its retry
				 * is due (the window's end has passed). */
				if (a->final_fails == 0)
					apps_due(&next, a->window_end_ms);
				if (probed)
					apps_due(&next, a->next_probe_ms);
			}
		} else if (da_app_state_terminal(a->rec.state) &&
			   a->running[0] != '\0' &&
			   strcmp(a->running, a->rec.current) == 0) {
			if (a->crashed)
				apps_due(&next, a->restart_at_ms);
			else
				watch = 1;
		}
		if (watch && !app_watch_exit(a))
			poll = 1;
		else if (!watch)
			app_unwatch_exit(a);
	}
	if (poll)
		apps_due(&next, now + APPS_POLL_MS);
	return next;
}

static void apps_tick(evutil_socket_t fd, short what, void *arg)
{
	struct da_apps *m = arg;
	uint64_t now = cr_now_ms(), next;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < m->n_reap;) {
		if (waitpid(m->reap[i], NULL, WNOHANG) != 0) {
			m->reap[i] = m->reap[--m->n_reap];
			continue;
		}
		i++;
	}
	if (m->log_resume_ms != 0 && now >= m->log_resume_ms) {
		m->log_resume_ms = 0;
		event_add(m->ev_ino, NULL);
	}
	for (struct app *a = m->apps; a != NULL; a = a->next) {
		/* Polled for: no watch on its log. */
		if (a->log_wd < 0)
			rotate_log(a);
		if (a->jobs > 0)
			continue;
		if (a->cfg_phase == CFG_WINDOW)
			cfg_tick(a, now);
		else if (a->cfg_phase == CFG_IDLE && a->cfg_next != NULL &&
			 da_app_state_terminal(a->rec.state))
			cfg_start(a);
		else if (a->rec.state == DA_APP_HEALTH)
			health_tick(a, now);
		else if (da_app_state_terminal(a->rec.state))
			supervise(a, now);
	}
	for (size_t i = 0; i < 2; i++)
		if (m->listen[i].fn != NULL)
			m->listen[i].fn(m->listen[i].arg);
	now = cr_now_ms();
	next = apps_next(m, now);
	if (next == UINT64_MAX)
		return;
	next = next > now ? next - now : 0;
	event_add(m->ev_tick, &(struct timeval){ (time_t)(next / 1000),
						 (suseconds_t)(next % 1000) * 1000 });
}

/* ---- Releases in ------------------------------------------------------------ */

static struct app *app_find(struct da_apps *m, const char *name)
{
	for (struct app *a = m->apps; a != NULL; a = a->next)
		if (strcmp(a->rec.app, name) == 0)
			return a;
	return NULL;
}

static struct app *app_add(struct da_apps *m, const char *name)
{
	struct app *a = calloc(1, sizeof(*a)), **p = &m->apps;

	if (a == NULL)
		return NULL;
	a->m = m;
	a->exit_fd = -1;
	a->log_wd = -1;
	snprintf(a->rec.app, sizeof(a->rec.app), "%s", name);
	a->rec.state = DA_APP_IDLE;
	/* In name order, as `apps` lists them. */
	while (*p != NULL && strcmp((*p)->rec.app, name) < 0)
		p = &(*p)->next;
	a->next = *p;
	*p = a;
	return a;
}

static int apps_install(struct da_apps *m, const void *blob, size_t len,
			uint64_t window_ms, int rollback, da_apps_done_fn done,
			void *arg, char *line, size_t line_cap,
			struct cr_error **err)
{
	struct cr_release *r = NULL;
	struct waiter *w;
	struct app *a = NULL;

	if (cr_release_decode(blob, len, m->trust, &r, err) < 0)
		return -1;
	if (cr_release_check_arch(r, cr_fleet_arch(), err) < 0)
		goto refuse;
	if (!da_app_name_ok(r->app)) {
		cr_error_set(err, EINVAL, "release: app name '%s' is not "
			     "[a-z0-9][a-z0-9._-]* (under %d bytes)",
			     r->app, DA_NAME_MAX);
		goto refuse;
	}
	if (!da_version_ok(r->version)) {
		cr_error_set(err, EINVAL, "release: version '%s' is not "
			     "[A-Za-z0-9][A-Za-z0-9._+-]* (under %d bytes)",
			     r->version, DA_NAME_MAX);
		goto refuse;
	}
	if (strlen(r->image) >= DA_IMAGE_MAX || r->n_origins == 0) {
		cr_error_set(err, EINVAL, "release: no usable image or origin");
		goto refuse;
	}
	a = app_find(m, r->app);
	if (a != NULL && a->cfg_phase != CFG_IDLE) {
		cr_error_set(err, EBUSY, "app %s: a config change is in progress",
			     r->app);
		goto refuse;
	}
	if (a != NULL && !da_app_state_terminal(a->rec.state)) {
		cr_error_set(err, EBUSY, "app %s: a switch to %s is in progress",
			     r->app, a->rec.target);
		goto refuse;
	}
	/* A rollback deployment may go below the floor, to a version still
	 * kept: it was committed once, nothing is downloaded, and the floor
	 * stays (app_commit() only raises it). */
	if (a != NULL && r->counter < a->rec.floor &&
	    !(rollback && da_app_keeps(&a->rec, r->version))) {
		cr_error_set(err, EPERM,
			     "release counter %llu is below the committed %llu",
			     (unsigned long long)r->counter,
			     (unsigned long long)a->rec.floor);
		goto refuse;
	}
	w = calloc(1, sizeof(*w));
	if (a == NULL)
		a = app_add(m, r->app);
	if (a == NULL || w == NULL) {
		free(w);
		cr_error_set(err, ENOMEM, "out of memory");
		goto refuse;
	}
	if (da_journal_put_release(m->kv, r->app, r->version, blob, len, err) <
	    0) {
		free(w);
		goto refuse;
	}
	a->rel = r;
	snprintf(a->rec.target, sizeof(a->rec.target), "%s", r->version);
	snprintf(a->rec.target_image, sizeof(a->rec.target_image), "%s",
		 r->image);
	a->rec.target_counter = r->counter;
	a->rec.window_ms = window_ms ? window_ms : m->cfg.window_ms;
	a->rec.need_ring = m->cfg.attached != NULL &&
			   m->cfg.attached(m->cfg.attached_arg) > 0;
	a->rec.last_error[0] = '\0';
	w->arg = arg;
	w->fn = done;
	snprintf(w->app, sizeof(w->app), "%s", r->app);
	w->next = m->waiters;
	m->waiters = w;
	snprintf(line, line_cap, "%s %s", r->app, r->version);
	cr_log_info("app %s: release %s (counter %llu) accepted", r->app,
		    r->version, (unsigned long long)r->counter);
	app_journal(a, DA_APP_PULLING);
	app_job(a, DA_JOB_FETCH, r->version, r->image, fetched);
	return 0;
refuse:
	if (a != NULL && da_app_state_terminal(a->rec.state)) {
		/* `apps` shows what was refused last. */
		struct cr_error *e2 = NULL;

		snprintf(a->rec.last_error, sizeof(a->rec.last_error), "%s",
			 cr_error_msg(*err));
		if (da_journal_put(m->kv, &a->rec, &e2) < 0)
			cr_error_free(e2);
	}
	cr_release_free(r);
	return -1;
}

int da_apps_install(struct da_apps *m, const void *blob, size_t len,
		    uint64_t window_ms, da_apps_done_fn done, void *arg,
		    char *line, size_t line_cap, struct cr_error **err)
{
	int rc = apps_install(m, blob, len, window_ms, 0, done, arg, line,
			      line_cap, err);

	apps_kick(m);
	return rc;
}

int da_apps_install_rollback(struct da_apps *m, const void *blob, size_t len,
			     uint64_t window_ms, da_apps_done_fn done,
			     void *arg, char *line, size_t line_cap,
			     struct cr_error **err)
{
	int rc = apps_install(m, blob, len, window_ms, 1, done, arg, line,
			      line_cap, err);

	apps_kick(m);
	return rc;
}

int da_apps_get(struct da_apps *m, const char *app, struct da_app_rec *out)
{
	struct app *a = app_find(m, app);

	if (a == NULL)
		return -1;
	*out = a->rec;
	return 0;
}

void da_apps_set_deploy_seq(struct da_apps *m,
			    uint64_t (*fn)(void *arg, const char *app),
			    void *arg)
{
	m->deploy_seq = fn;
	m->deploy_arg = arg;
}

void da_apps_listen(struct da_apps *m, void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < 2; i++)
		if (m->listen[i].fn == NULL) {
			m->listen[i].fn = fn;
			m->listen[i].arg = arg;
			return;
		}
	cr_log_warnx("apps: a third listener is not told of steps");
}

void da_apps_forget(struct da_apps *m, void *arg)
{
	struct waiter **w = &m->waiters;

	for (size_t i = 0; i < 2; i++)
		if (m->listen[i].arg == arg)
			m->listen[i].fn = NULL;

	while (*w != NULL) {
		struct waiter *x = *w;

		if (x->arg == arg) {
			*w = x->next;
			free(x);
		} else {
			w = &x->next;
		}
	}
}

char *da_apps_status(struct da_apps *m)
{
	size_t cap = 256, len = 0;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	for (struct app *a = m->apps; a != NULL; a = a->next) {
		json_object *o = json_object_new_object(), *prev;
		const char *s;
		size_t sl;
		int run;

		json_object_object_add(o, "app",
				       json_object_new_string(a->rec.app));
		json_object_object_add(o, "version",
				       json_object_new_string(a->rec.current));
		json_object_object_add(
			o, "state",
			json_object_new_string(da_app_state_name(a->rec.state)));
		prev = json_object_new_array();
		for (size_t i = 0; i < a->rec.n_kept; i++)
			if (strcmp(a->rec.kept[i], a->rec.current) != 0)
				json_object_array_add(
					prev, json_object_new_string(a->rec.kept[i]));
		json_object_object_add(o, "previous", prev);
		json_object_object_add(o, "target",
				       json_object_new_string(a->rec.target));
		json_object_object_add(
			o, "last_switch_unix",
			json_object_new_int64((int64_t)a->rec.last_switch_unix));
		json_object_object_add(o, "last_error",
				       json_object_new_string(a->rec.last_error));
		json_object_object_add(
			o, "counter_floor",
			json_object_new_int64((int64_t)a->rec.floor));
		run = a->running[0] != '\0' &&
		      bo_process_alive(a->pid, a->start_time);
		json_object_object_add(o, "running",
				       json_object_new_string(run ? a->running
								  : ""));
		json_object_object_add(o, "restarts",
				       json_object_new_int64(a->restarts));
		json_object_object_add(
			o, "config_version",
			json_object_new_int64(
				a->cfg != NULL ? (int64_t)a->cfg->version : 0));
		json_object_object_add(
			o, "config_trying",
			json_object_new_int64(a->cfg_try != NULL ?
						      (int64_t)a->cfg_try->version :
						      0));
		json_object_object_add(o, "config_error",
				       json_object_new_string(a->cfg_error));
		if (m->deploy_seq != NULL)
			json_object_object_add(
				o, "deployment_seq",
				json_object_new_int64((int64_t)m->deploy_seq(
					m->deploy_arg, a->rec.app)));
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		sl = strlen(s);
		if (len + sl + 2 > cap) {
			char *n;

			while (len + sl + 2 > cap)
				cap *= 2;
			n = realloc(out, cap);
			if (n == NULL) {
				json_object_put(o);
				free(out);
				return NULL;
			}
			out = n;
		}
		memcpy(out + len, s, sl);
		len += sl;
		out[len++] = '\n';
		out[len] = '\0';
		json_object_put(o);
	}
	return out;
}

/* ---- Start and recovery -------------------------------------------------- */

static void ensured(struct da_apps *m, struct app *a, int ok,
		    const char *msg)
{
	(void)m;
	if (a->rec.current[0] == '\0')
		return;
	if (ok) {
		app_watch(a, a->rec.current);
		return;
	}
	restarted(m, a, 0, msg);
	snprintf(a->running, sizeof(a->running), "%s", a->rec.current);
}

/* The committed version runs, alone; or nothing, before the first
 * commit.  Leftover containers of the app (a kill in the middle of a
 * switch) are stopped first. */
static void app_ensure(struct app *a)
{
	char **v = da_app_containers(&a->m->paths, a->rec.app);
	size_t n = 0;
	int alone;
	pid_t pid;
	uint64_t start;

	while (v != NULL && v[n] != NULL)
		n++;
	if (a->rec.current[0] == '\0')
		alone = n == 0;
	else
		alone = n == 1 && strcmp(v[0], a->rec.current) == 0 &&
			da_container_pid(&a->m->paths, a->rec.app,
					 a->rec.current, &pid, &start);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	if (alone) {
		if (a->rec.current[0] != '\0')
			app_watch(a, a->rec.current);
		return;
	}
	if (a->rec.current[0] != '\0')
		app_job(a, DA_JOB_RUN, a->rec.current,
			kept_image(a, a->rec.current), ensured);
	else
		app_job(a, DA_JOB_STOP, NULL, NULL, ensured);
}

/* Version folders that no record keeps (a kill between a commit and its
 * clean-up) are removed. */
static void app_sweep(struct app *a)
{
	char dir[PATH_MAX + 16], ev[DA_KEEP_MAX + 2][DA_NAME_MAX];
	char evi[DA_KEEP_MAX + 2][DA_IMAGE_MAX], marker[PATH_MAX + 300];
	char *image = NULL;
	size_t n = 0, len;
	struct dirent *e;
	DIR *d;

	da_app_path(&a->m->paths, a->rec.app, "versions", dir, sizeof(dir));
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n < DA_KEEP_MAX + 2) {
		if (e->d_name[0] == '.' || !da_version_ok(e->d_name) ||
		    da_app_keeps(&a->rec, e->d_name) ||
		    (!da_app_state_terminal(a->rec.state) &&
		     strcmp(e->d_name, a->rec.target) == 0))
			continue;
		/* da_version_ok(): shorter than DA_NAME_MAX. */
		memcpy(ev[n], e->d_name, strlen(e->d_name) + 1);
		/* Its image, from the marker staging wrote: dropped from
		 * the store too when no kept version names it. */
		evi[n][0] = '\0';
		snprintf(marker, sizeof(marker), "%.4000s/%s/staged", dir,
			 e->d_name);
		if (cr_read_file(marker, DA_IMAGE_MAX - 1, &image, &len, NULL) ==
		    0) {
			snprintf(evi[n], DA_IMAGE_MAX, "%s", image);
			free(image);
			image = NULL;
		}
		n++;
	}
	closedir(d);
	app_evict(a, ev, evi, n);
}

static void app_recover(struct app *a)
{
	struct da_apps *m = a->m;
	char reason[DA_REASON_MAX];
	struct cr_error *err = NULL;
	char *blob = NULL;
	size_t len;

	switch (da_app_recover(a->rec.state)) {
	case DA_RECOVER_ENSURE:
		app_ensure(a);
		break;
	case DA_RECOVER_ROLLBACK:
		snprintf(reason, sizeof(reason),
			 "the agent restarted during %s",
			 da_app_state_name(a->rec.state));
		app_rollback(a, reason);
		break;
	case DA_RECOVER_RESUME:
		/* The release as accepted (its signatures were checked
		 * then; only its form is checked again). */
		if (da_journal_get_release(m->kv, a->rec.app, a->rec.target,
					   &blob, &len, &err) < 0 ||
		    cr_release_decode((const uint8_t *)blob, len, NULL, &a->rel,
				      &err) < 0) {
			snprintf(reason, sizeof(reason),
				 "the agent restarted and the release is "
				 "lost: %s",
				 cr_error_msg(err));
			cr_error_free(err);
			free(blob);
			app_ensure(a);
			app_abandon(a, reason);
			break;
		}
		free(blob);
		cr_log_info("app %s: resuming the switch to %s", a->rec.app,
			    a->rec.target);
		app_ensure(a);
		app_journal(a, DA_APP_PULLING);
		app_job(a, DA_JOB_FETCH, a->rec.target, a->rec.target_image,
			fetched);
		break;
	}
	app_sweep(a);
}

struct da_apps *da_apps_new(struct event_base *base,
			    const struct da_apps_cfg *cfg,
			    struct cr_error **err)
{
	struct da_apps *m = calloc(1, sizeof(*m));
	struct da_app_rec *recs = NULL;
	size_t n = 0;

	if (m == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	m->base = base;
	m->cfg = *cfg;
	m->kv = cfg->kv;
	m->wfd = -1;
	m->ino_fd = -1;
	snprintf(m->paths.data, sizeof(m->paths.data), "%s", cfg->data_dir);
	snprintf(m->paths.store, sizeof(m->paths.store), "%s", cfg->store_dir);
	snprintf(m->paths.bolter, sizeof(m->paths.bolter), "%.4000s/bolter",
		 cfg->data_dir);
	m->paths.cgroup_parent = cfg->cgroup_parent ? cfg->cgroup_parent
						    : "korhal-apps";
	m->paths.reserve_bytes = cfg->reserve_bytes;
	if (cfg->ring_path != NULL)
		snprintf(m->paths.ring, sizeof(m->paths.ring), "%s",
			 cfg->ring_path);
	if (cfg->ring_saved != NULL)
		snprintf(m->paths.ring_saved, sizeof(m->paths.ring_saved), "%s",
			 cfg->ring_saved);
	if (cfg->credential_path != NULL && cfg->key_path != NULL) {
		snprintf(m->paths.key, sizeof(m->paths.key), "%s", cfg->key_path);
		snprintf(m->paths.credential, sizeof(m->paths.credential), "%s",
			 cfg->credential_path);
		snprintf(m->paths.carrier, sizeof(m->paths.carrier), "%s",
			 cfg->carrier != NULL ? cfg->carrier : "carrier");
	}
	if (cr_trust_load(cfg->trust_path, NULL, cr_now_unix(), &m->trust,
			  err) < 0)
		goto fail;
	if (cr_mkdir_p(m->paths.bolter, 0700, err) < 0 ||
	    cr_mkdir_p(m->paths.store, 0700, err) < 0)
		goto fail;
	if (da_journal_all(m->kv, &recs, &n, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct app *a = app_add(m, recs[i].app);

		if (a != NULL)
			a->rec = recs[i];
	}
	free(recs);
	m->ev_tick = event_new(base, -1, 0, apps_tick, m);
	if (m->ev_tick == NULL || event_add(m->ev_tick, &(struct timeval){ 0, 0 }) < 0) {
		cr_error_set(err, ENOMEM, "cannot create events");
		goto fail;
	}
	/* Without inotify, logs are polled for (apps_next). */
	m->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ino_fd >= 0) {
		m->ev_ino = event_new(base, m->ino_fd, EV_READ | EV_PERSIST,
				      apps_on_log, m);
		if (m->ev_ino == NULL || event_add(m->ev_ino, NULL) < 0) {
			cr_error_set(err, ENOMEM, "cannot create events");
			goto fail;
		}
	}
	for (struct app *a = m->apps; a != NULL; a = a->next)
		if (!cfg_recover(a))
			app_recover(a);
	cr_log_info("apps: %zu in the journal, store %s", n, m->paths.store);
	return m;
fail:
	da_apps_free(m);
	return NULL;
}

struct da_apps *da_apps_free(struct da_apps *m)
{
	if (m == NULL)
		return NULL;
	if (m->worker > 0) {
		/* A job cut short is what the journal is for. */
		kill(m->worker, SIGKILL);
		waitpid(m->worker, NULL, 0);
	}
	if (m->ev_worker != NULL)
		event_free(m->ev_worker);
	if (m->wfd >= 0)
		close(m->wfd);
	free(m->cur);
	while (m->q_head != NULL) {
		struct queued *q = m->q_head;

		m->q_head = q->next;
		free(q);
	}
	for (size_t i = 0; i < m->n_reap; i++)
		waitpid(m->reap[i], NULL, WNOHANG);
	while (m->apps != NULL) {
		struct app *a = m->apps;

		m->apps = a->next;
		app_unwatch_exit(a);
		da_probe_cancel(a->probe);
		cr_release_free(a->rel);
		cr_appcfg_free(a->cfg);
		cr_appcfg_free(a->cfg_try);
		cr_appcfg_free(a->cfg_next);
		cr_appcfg_free(a->cfg_old);
		free(a);
	}
	while (m->waiters != NULL) {
		struct waiter *w = m->waiters;

		m->waiters = w->next;
		free(w);
	}
	if (m->ev_tick != NULL)
		event_free(m->ev_tick);
	if (m->ev_ino != NULL)
		event_free(m->ev_ino);
	if (m->ino_fd >= 0)
		close(m->ino_fd);
	cr_trust_free(m->trust);
	free(m);
	return NULL;
}
