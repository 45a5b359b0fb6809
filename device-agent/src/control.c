/*
 * The local control socket (da/control.h): the server in the agent's loop
 * and the client subcommands of carrier-agent.
 */
#include "da/control.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cr/fleet.h"
#include "cr/log.h"
#include "cr/util.h"

int da_control_parse(const char *line, size_t len, struct da_control_req *req,
		     struct cr_error **err)
{
	char buf[DA_CONTROL_LINE_MAX + 1], *f[4], *save = NULL;
	size_t n = 0;
	uint64_t v;

	memset(req, 0, sizeof(*req));
	if (len > DA_CONTROL_LINE_MAX || memchr(line, '\0', len) != NULL)
		return cr_error_set(err, EINVAL, "request line too long");
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (char *t = strtok_r(buf, " ", &save); t != NULL && n < 4;
	     t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n == 1 && strcmp(f[0], "apps") == 0) {
		req->cmd = DA_CONTROL_APPS;
		return 0;
	}
	if (n == 1 && strcmp(f[0], "config") == 0) {
		req->cmd = DA_CONTROL_CONFIG;
		return 0;
	}
	if (n == 3 && strcmp(f[0], "install") == 0 &&
	    cr_parse_u64(f[1], 0, 86400000, &v) == 0 &&
	    (strcmp(f[2], "0") == 0 || strcmp(f[2], "1") == 0)) {
		req->cmd = DA_CONTROL_INSTALL;
		req->window_ms = v;
		req->wait = f[2][0] == '1';
		return 0;
	}
	return cr_error_set(err, EINVAL, "unknown request");
}

/* ---- Server -------------------------------------------------------------- */

struct conn {
	struct da_control *c;
	struct bufferevent *bev;
	struct da_control_req req;
	int have_req;
	int waiting;  /* for the switch's end */
	int finished; /* the last line is queued */
	struct conn *next;
};

struct da_control {
	struct evconnlistener *lis;
	struct da_apps *apps;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn *conns;
};

static void conn_free(struct conn *k)
{
	struct conn **p = &k->c->conns;

	while (*p != NULL && *p != k)
		p = &(*p)->next;
	if (*p != NULL)
		*p = k->next;
	if (k->waiting)
		da_apps_forget(k->c->apps, k);
	bufferevent_free(k->bev);
	free(k);
}

static void conn_drained(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

/* Sends the last line; the connection closes once it is written. */
static void conn_finish(struct conn *k, const char *line)
{
	k->finished = 1;
	bufferevent_disable(k->bev, EV_READ);
	evbuffer_add_printf(bufferevent_get_output(k->bev), "%s\n", line);
	bufferevent_setcb(k->bev, NULL, conn_drained, NULL, k);
}

static void conn_done(void *arg, int ok, const char *line)
{
	struct conn *k = arg;

	(void)ok;
	k->waiting = 0;
	conn_finish(k, line);
}

static void conn_request(struct conn *k, struct evbuffer *in)
{
	struct cr_error *err = NULL;
	char line[1024], ack[200];
	size_t len = evbuffer_get_length(in);
	char *body;

	if (k->req.cmd == DA_CONTROL_APPS) {
		char *s = da_apps_status(k->c->apps);

		evbuffer_add(bufferevent_get_output(k->bev), s ? s : "",
			     s ? strlen(s) : 0);
		free(s);
		bufferevent_disable(k->bev, EV_READ);
		bufferevent_setcb(k->bev, NULL, conn_drained, NULL, k);
		if (evbuffer_get_length(bufferevent_get_output(k->bev)) == 0)
			conn_free(k);
		return;
	}
	body = (char *)evbuffer_pullup(in, (ssize_t)len);
	if (k->req.cmd == DA_CONTROL_CONFIG) {
		/* Checked as a pushed one is; applied in the background. */
		if (da_apps_config(k->c->apps, (const uint8_t *)body, len, ack,
				   sizeof(ack), &err) < 0) {
			snprintf(line, sizeof(line), "refused %s",
				 cr_error_msg(err));
			cr_log_warnx("config refused: %s", cr_error_msg(err));
			cr_error_free(err);
		} else {
			snprintf(line, sizeof(line), "accepted %s", ack);
		}
		evbuffer_drain(in, len);
		conn_finish(k, line);
		return;
	}
	k->waiting = 1;
	if (da_apps_install(k->c->apps, body, len, k->req.window_ms,
			    conn_done, k, ack, sizeof(ack), &err) < 0) {
		k->waiting = 0;
		snprintf(line, sizeof(line), "refused %s", cr_error_msg(err));
		cr_log_warnx("install refused: %s", cr_error_msg(err));
		cr_error_free(err);
		conn_finish(k, line);
		return;
	}
	evbuffer_drain(in, len);
	/* Reading is over: the wait for the switch has no read timeout. */
	bufferevent_disable(k->bev, EV_READ);
	evbuffer_add_printf(bufferevent_get_output(k->bev), "accepted %s\n",
			    ack);
	if (!k->req.wait) {
		da_apps_forget(k->c->apps, k);
		k->waiting = 0;
		conn_finish(k, "");
	}
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (k->finished)
		return;
	if (!k->have_req) {
		struct cr_error *err = NULL;
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);

		if (line == NULL) {
			if (evbuffer_get_length(in) > DA_CONTROL_LINE_MAX)
				conn_finish(k, "refused request line too long");
			return;
		}
		if (da_control_parse(line, n, &k->req, &err) < 0) {
			free(line);
			cr_error_free(err);
			conn_finish(k, "refused unknown request");
			return;
		}
		free(line);
		k->have_req = 1;
		if (k->req.cmd == DA_CONTROL_APPS) {
			conn_request(k, in);
			return;
		}
	}
	if (evbuffer_get_length(in) > DA_CONTROL_BODY_MAX)
		conn_finish(k, "refused the record is too big");
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *k = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && k->have_req && !k->waiting &&
	    !k->finished && (k->req.cmd == DA_CONTROL_INSTALL ||
			     k->req.cmd == DA_CONTROL_CONFIG)) {
		/* The client's half ended: the record is complete. */
		conn_request(k, bufferevent_get_input(k->bev));
		return;
	}
	/* A client that ends, fails, or sends nothing for the read timeout
	 * (while its request comes in; a wait for a switch reads nothing). */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(k);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct da_control *c = arg;
	struct conn *k = calloc(1, sizeof(*k));

	(void)sa;
	(void)salen;
	if (k == NULL) {
		close(fd);
		return;
	}
	k->c = c;
	k->bev = bufferevent_socket_new(evconnlistener_get_base(lis), fd,
					BEV_OPT_CLOSE_ON_FREE);
	if (k->bev == NULL) {
		close(fd);
		free(k);
		return;
	}
	bufferevent_setcb(k->bev, conn_read, NULL, conn_event, k);
	bufferevent_setwatermark(k->bev, EV_READ, 0, DA_CONTROL_BODY_MAX + 1);
	bufferevent_set_timeouts(k->bev, &(struct timeval){ 30, 0 }, NULL);
	bufferevent_enable(k->bev, EV_READ);
	k->next = c->conns;
	c->conns = k;
}

struct da_control *da_control_new(struct event_base *base, const char *path,
				  struct da_apps *apps, struct cr_error **err)
{
	struct da_control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	if (c == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->apps = apps;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		cr_error_set(err, ENAMETOOLONG,
			     "control socket %s: path too long", path);
		free(c);
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		cr_error_errno(err, errno, "control socket");
		free(c);
		return NULL;
	}
	unlink(path);
	/* Mode 0600 from the start: no moment where others may connect. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		cr_error_errno(err, errno, "control socket %s", path);
		close(fd);
		free(c);
		return NULL;
	}
	umask(old);
	chmod(path, 0600);
	c->lis = evconnlistener_new(base, on_accept, c,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    16, fd);
	if (c->lis == NULL) {
		cr_error_errno(err, errno, "listening on %s", path);
		close(fd);
		unlink(path);
		free(c);
		return NULL;
	}
	return c;
}

struct da_control *da_control_free(struct da_control *c)
{
	if (c == NULL)
		return NULL;
	while (c->conns != NULL)
		conn_free(c->conns);
	evconnlistener_free(c->lis);
	unlink(c->path);
	free(c);
	return NULL;
}

/* ---- Client -------------------------------------------------------------- */

static const char install_usage[] =
	"usage: carrier-agent [--data DIR] install RELEASE [--health-window D] "
	"[--no-wait]\n"
	"\n"
	"Hands a release file (carrier release) to the running agent over its\n"
	"control socket DIR/control.sock and, by default, waits for the switch\n"
	"to end: prints \"APP VERSION committed\" (exit 0), or the reason the\n"
	"release was refused or rolled back (exit 1).\n"
	"\n"
	"  --data DIR          the agent's data folder (default "
	"/var/lib/carrier-agent)\n"
	"  --health-window D   how long the new version must stay healthy "
	"(e.g. 30s;\n"
	"                      default: the agent's --health-window)\n"
	"  --no-wait           return once the agent accepted the release\n";

static const char apps_usage[] =
	"usage: carrier-agent [--data DIR] apps [--json]\n"
	"\n"
	"The agent's apps: version running, state of the last switch, the\n"
	"previous versions kept, when it last switched and its last error.\n"
	"  --json   one object per app a line: {\"app\",\"version\",\"state\",\n"
	"           \"previous\":[...],\"last_switch_unix\",\"last_error\",...}\n";

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("carrier-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'carrier-agent --help'.\n", stderr);
	return 2;
}

static int connect_agent(const char *data, char *path, size_t cap)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	snprintf(path, cap, "%s/control.sock", data);
	n = strlen(path);
	if (n >= sizeof(sun.sun_path)) {
		fprintf(stderr, "carrier-agent: %s: path too long\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr,
			"carrier-agent: cannot reach the agent at %s: %s (is "
			"carrier-agent running with --trust and --data %s?)\n",
			path, strerror(errno), data);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads one line (without its newline) into buf; 0 at the end. */
static int read_line(FILE *f, char *buf, size_t cap)
{
	if (fgets(buf, (int)cap, f) == NULL)
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	return 1;
}

/* Sends one request (its line, then an optional body) to the agent's control
 * socket under data and closes the sending side; returns the stream to read
 * the answer lines from, or NULL after saying why on stderr.  what names the
 * command in messages. */
static FILE *agent_ask(const char *data, const char *what, const char *line,
		       const void *body, size_t len)
{
	char path[4200];
	int fd = connect_agent(data, path, sizeof(path));
	FILE *f;

	if (fd < 0)
		return NULL;
	if (send_all(fd, line, strlen(line)) < 0 ||
	    (len > 0 && send_all(fd, body, len) < 0) ||
	    shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "carrier-agent: %s: sending to %s: %s\n", what,
			path, strerror(errno));
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		fprintf(stderr, "carrier-agent: %s: %s\n", what,
			strerror(errno));
		close(fd);
	}
	return f;
}

static int client_install(const char *data, int argc, char **argv)
{
	const char *release = NULL;
	uint64_t window = 0;
	int wait = 1, rc = 1, final = 0;
	char req[64], line[4096];
	char *blob = NULL;
	size_t len;
	struct cr_error *err = NULL;
	struct cr_release *rel = NULL;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(install_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--no-wait") == 0) {
			wait = 0;
		} else if (strcmp(argv[i], "--health-window") == 0 ||
			   strncmp(argv[i], "--health-window=", 16) == 0) {
			const char *v = argv[i][15] == '=' ? argv[i] + 16
							   : i + 1 < argc ? argv[++i]
									  : NULL;

			if (v == NULL || cr_parse_duration_ms(v, &window) < 0 ||
			    window == 0 || window > 86400000)
				return usage_err("install: --health-window: "
						 "'%s' is not a duration "
						 "(e.g. 30s)",
						 v ? v : "");
		} else if (argv[i][0] == '-') {
			return usage_err("install: unknown option '%s'", argv[i]);
		} else if (release == NULL) {
			release = argv[i];
		} else {
			return usage_err("install: unexpected argument '%s'",
					 argv[i]);
		}
	}
	if (release == NULL)
		return usage_err("install: give RELEASE");
	/* The file's form is read here (text, base64); the agent gets the
	 * signed record and decides on its signatures. */
	if (cr_release_load(release, NULL, &rel, &err) < 0) {
		/* The message names the file.  A release without the
		 * signatures' form goes no further; the agent judges the
		 * signatures against its trust root. */
		fprintf(stderr, "carrier-agent: install: refused: %s\n",
			cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	blob = malloc(rel->blob_len);
	if (blob == NULL) {
		cr_release_free(rel);
		return 1;
	}
	memcpy(blob, rel->blob, rel->blob_len);
	len = rel->blob_len;
	cr_release_free(rel);
	snprintf(req, sizeof(req), "install %llu %d\n",
		 (unsigned long long)window, wait);
	f = agent_ask(data, "install", req, blob, len);
	free(blob);
	if (f == NULL)
		return 1;
	while (read_line(f, line, sizeof(line))) {
		if (strncmp(line, "accepted ", 9) == 0) {
			if (!wait) {
				printf("%s accepted\n", line + 9);
				rc = 0;
				final = 1;
				break;
			}
			fprintf(stderr, "%s: release accepted; waiting for the "
				"switch\n", line + 9);
		} else if (strncmp(line, "committed ", 10) == 0) {
			printf("%s committed\n", line + 10);
			rc = 0;
			final = 1;
			break;
		} else if (strncmp(line, "rolled_back ", 12) == 0) {
			fprintf(stderr, "carrier-agent: install: rolled back: %s\n",
				line + 12);
			rc = 1;
			final = 1;
			break;
		} else if (strncmp(line, "refused ", 8) == 0) {
			fprintf(stderr, "carrier-agent: install: refused: %s\n",
				line + 8);
			rc = 1;
			final = 1;
			break;
		}
	}
	if (!final)
		fprintf(stderr, "carrier-agent: install: the agent closed the "
				"connection without an answer\n");
	fclose(f);
	return rc;
}

static void print_row(const char *l)
{
	json_object *o = json_tokener_parse(l), *v;
	char prev[256] = "", when[32] = "-";
	const char *app = "", *ver = "", *state = "", *error = "";

	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "app", &v))
		app = json_object_get_string(v);
	if (json_object_object_get_ex(o, "version", &v))
		ver = json_object_get_string(v);
	if (json_object_object_get_ex(o, "state", &v))
		state = json_object_get_string(v);
	if (json_object_object_get_ex(o, "last_error", &v))
		error = json_object_get_string(v);
	if (json_object_object_get_ex(o, "previous", &v) &&
	    json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			size_t n = strlen(prev);

			snprintf(prev + n, sizeof(prev) - n, "%s%s", n ? "," : "",
				 json_object_get_string(
					 json_object_array_get_idx(v, i)));
		}
	if (json_object_object_get_ex(o, "last_switch_unix", &v) &&
	    json_object_get_int64(v) > 0) {
		time_t t = (time_t)json_object_get_int64(v);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("%-16s %-12s %-13s %-20s %-20s %s\n", app, ver[0] ? ver : "-",
	       state, prev[0] ? prev : "-", when, error[0] ? error : "-");
	json_object_put(o);
}

static int client_apps(const char *data, int argc, char **argv)
{
	char line[8192];
	int json = 0;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(apps_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			return usage_err("apps: unknown argument '%s'", argv[i]);
		}
	}
	f = agent_ask(data, "apps", "apps\n", NULL, 0);
	if (f == NULL)
		return 1;
	if (!json)
		printf("%-16s %-12s %-13s %-20s %-20s %s\n", "APP", "VERSION",
		       "STATE", "PREVIOUS", "LAST SWITCH", "LAST ERROR");
	while (read_line(f, line, sizeof(line))) {
		if (strncmp(line, "refused ", 8) == 0) {
			fprintf(stderr, "carrier-agent: apps: %s\n", line + 8);
			fclose(f);
			return 1;
		}
		if (json)
			printf("%s\n", line);
		else
			print_row(line);
	}
	fclose(f);
	return 0;
}

static const char config_usage[] =
	"usage: carrier-agent [--data DIR] config FILE\n"
	"\n"
	"Hands a signed config record (carrier config set --out FILE) to the "
	"running\n"
	"agent over its control socket, as the ring would push it: the agent "
	"checks it\n"
	"(signatures, this device a target, a version above every one the app "
	"ran or\n"
	"tried, not expired, the limits) and applies it in the background, "
	"reverting\n"
	"to the last config that passed when the app fails its health window "
	"or the\n"
	"ring is unreachable after it (see `apps`).  Prints \"accepted APP "
	"config N\"\n"
	"(exit 0) or the reason it was refused (exit 1).\n"
	"\n"
	"  --data DIR          the agent's data folder (default "
	"/var/lib/carrier-agent)\n";

static int client_config(const char *data, int argc, char **argv)
{
	const char *file = NULL;
	char line[4096];
	char *blob = NULL;
	size_t len;
	struct cr_error *err = NULL;
	int rc = 1;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(config_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			return usage_err("config: unknown option '%s'", argv[i]);
		} else if (file == NULL) {
			file = argv[i];
		} else {
			return usage_err("config: unexpected argument '%s'",
					 argv[i]);
		}
	}
	if (file == NULL)
		return usage_err("config: give FILE");
	if (cr_read_file(file, DA_CONTROL_BODY_MAX, &blob, &len, &err) < 0) {
		fprintf(stderr, "carrier-agent: config: %s\n",
			cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	f = agent_ask(data, "config", "config\n", blob, len);
	free(blob);
	if (f == NULL)
		return 1;
	if (read_line(f, line, sizeof(line))) {
		if (strncmp(line, "accepted ", 9) == 0) {
			printf("%s\n", line + 9);
			rc = 0;
		} else {
			fprintf(stderr, "carrier-agent: config: %s\n",
				strncmp(line, "refused ", 8) == 0 ? line + 8 :
								    line);
		}
	} else {
		fprintf(stderr, "carrier-agent: config: no answer from the "
				"agent\n");
	}
	fclose(f);
	return rc;
}

int da_control_main(int argc, char **argv)
{
	const char *data = "/var/lib/carrier-agent";
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			data = argv[++i];
		else if (strncmp(argv[i], "--data=", 7) == 0)
			data = argv[i] + 7;
		else
			break;
	}
	if (i >= argc)
		return -1;
	if (strcmp(argv[i], "install") == 0)
		return client_install(data, argc - i, argv + i);
	if (strcmp(argv[i], "apps") == 0)
		return client_apps(data, argc - i, argv + i);
	if (strcmp(argv[i], "config") == 0)
		return client_config(data, argc - i, argv + i);
	return -1;
}
