/*
 * carrier shell DEVICE_ID [COMMAND...]: a pty on the device over the
 * end-to-end session (the device side and the frames: da/shell.h).  The
 * local terminal goes raw while the session lasts (as ssh -t), a window
 * change is sent as a resize, and the exit status is the remote one.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"

enum { SH_FRAME_MAX = 65536, SH_READ = 16384 };

struct sh_state {
	struct event_base *base;
	struct bufferevent *bev; /* our end of the stream's socket */
	struct event *ev_in, *ev_winch;
	int fd;  /* the socket bev takes */
	int in_fd, out_fd; /* stdin, stdout; in_fd -1: no input */
	void (*progress)(void *arg, uint64_t n);
	void *parg;
	int tty;
	int raw_ok, raw_set;
	struct termios saved;
	int in_eof;
	int got_exit;
	int status;
	int lost;
};

static void sh_frame(struct bufferevent *bev, uint8_t type, const void *p,
		     size_t n)
{
	uint8_t h[5] = { type, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			 (uint8_t)(n >> 8), (uint8_t)n };

	bufferevent_write(bev, h, sizeof(h));
	if (n > 0)
		bufferevent_write(bev, p, n);
}

static void sh_winsize(struct winsize *ws)
{
	memset(ws, 0, sizeof(*ws));
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, ws) < 0)
		ioctl(STDOUT_FILENO, TIOCGWINSZ, ws);
}

static void sh_write_out(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void sh_on_read(struct bufferevent *bev, void *arg)
{
	struct sh_state *sh = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		uint8_t h[5];
		uint32_t n;
		uint8_t *p;

		if (evbuffer_copyout(in, h, 5) < 5)
			return;
		n = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
		    (uint32_t)h[3] << 8 | h[4];
		if (n > SH_FRAME_MAX) {
			cl_fail(CL_EXIT_LOST, "the device sent a malformed "
					      "shell frame");
			sh->lost = 1;
			event_base_loopexit(sh->base, NULL);
			return;
		}
		if (evbuffer_get_length(in) < 5 + (size_t)n)
			return;
		evbuffer_drain(in, 5);
		p = evbuffer_pullup(in, n);
		if (h[0] == 'D') {
			sh_write_out(sh->out_fd, p, n);
			if (sh->progress != NULL)
				sh->progress(sh->parg, n);
		} else if (h[0] == 'R') {
			sh_write_out(STDERR_FILENO, p, n);
		} else if (h[0] == 'X' && n == 4) {
			sh->status = (int)((uint32_t)p[0] << 24 |
					   (uint32_t)p[1] << 16 |
					   (uint32_t)p[2] << 8 | p[3]);
			sh->got_exit = 1;
			event_base_loopexit(sh->base, NULL);
		}
		evbuffer_drain(in, n);
	}
}

static void sh_on_write(struct bufferevent *bev, void *arg)
{
	struct sh_state *sh = arg;

	if (sh->ev_in != NULL && !sh->in_eof &&
	    !event_pending(sh->ev_in, EV_READ, NULL))
		event_add(sh->ev_in, NULL);
}

static void sh_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sh_state *sh = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		sh_on_read(bev, arg);
		if (!sh->got_exit) {
			cl_fail(CL_EXIT_LOST, "the shell ended without an exit "
					      "status");
			sh->lost = 1;
		}
		event_base_loopexit(sh->base, NULL);
	}
}

static void sh_on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct sh_state *sh = arg;
	uint8_t buf[SH_READ];
	ssize_t r = read(fd, buf, sizeof(buf));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		sh_frame(sh->bev, 'E', NULL, 0);
		sh->in_eof = 1;
		event_del(sh->ev_in);
		return;
	}
	sh_frame(sh->bev, 'D', buf, (size_t)r);
	if (sh->progress != NULL)
		sh->progress(sh->parg, (uint64_t)r);
	/* Bulk input waits for the stream to take what is queued. */
	if (evbuffer_get_length(bufferevent_get_output(sh->bev)) > (1u << 20))
		event_del(sh->ev_in);
}

static void sh_on_winch(evutil_socket_t fd, short what, void *arg)
{
	struct sh_state *sh = arg;
	struct winsize ws;
	uint8_t p[4];

	sh_winsize(&ws);
	p[0] = (uint8_t)(ws.ws_row >> 8);
	p[1] = (uint8_t)ws.ws_row;
	p[2] = (uint8_t)(ws.ws_col >> 8);
	p[3] = (uint8_t)ws.ws_col;
	sh_frame(sh->bev, 'W', p, sizeof(p));
}

static int sh_start(struct event_base *base, void *arg)
{
	struct sh_state *sh = arg;

	if (base == NULL) {
		if (sh->raw_set)
			tcsetattr(STDIN_FILENO, TCSADRAIN, &sh->saved);
		sh->raw_set = 0;
		if (sh->ev_in != NULL)
			event_free(sh->ev_in);
		if (sh->ev_winch != NULL)
			event_free(sh->ev_winch);
		if (sh->bev != NULL)
			bufferevent_free(sh->bev);
		sh->ev_in = sh->ev_winch = NULL;
		sh->bev = NULL;
		sh->fd = -1; /* closed with bev */
		return 0;
	}
	sh->base = base;
	sh->bev = bufferevent_socket_new(base, sh->fd, BEV_OPT_CLOSE_ON_FREE);
	if (sh->bev == NULL)
		return cl_fail(1, "cannot set up the shell's events");
	bufferevent_setcb(sh->bev, sh_on_read, sh_on_write, sh_on_event, sh);
	if (bufferevent_enable(sh->bev, EV_READ | EV_WRITE) < 0)
		return cl_fail(1, "cannot set up the shell's events");
	if (sh->in_fd < 0) {
		sh_frame(sh->bev, 'E', NULL, 0);
		sh->in_eof = 1;
	} else {
		sh->ev_in = event_new(base, sh->in_fd, EV_READ | EV_PERSIST,
				      sh_on_stdin, sh);
		if (sh->ev_in == NULL || event_add(sh->ev_in, NULL) < 0)
			return cl_fail(1, "cannot set up the shell's events");
	}
	sh->ev_winch = evsignal_new(base, SIGWINCH, sh_on_winch, sh);
	if (sh->ev_winch == NULL || event_add(sh->ev_winch, NULL) < 0)
		return cl_fail(1, "cannot set up the shell's events");
	if (sh->raw_ok) {
		/* Raw as ssh -t: every key (Ctrl-C too) goes to the device. */
		struct termios raw = sh->saved;

		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0)
			sh->raw_set = 1;
	}
	return 0;
}

/* Appends s to out single-quoted for sh (' as '\''). */
static int sh_quote(char *out, size_t cap, size_t *len, const char *s)
{
	size_t need = 3;

	for (const char *c = s; *c; c++)
		need += *c == '\'' ? 4 : 1;
	if (*len + need + 1 > cap)
		return -1;
	out[(*len)++] = '\'';
	for (const char *c = s; *c; c++) {
		if (*c == '\'') {
			memcpy(out + *len, "'\\''", 4);
			*len += 4;
		} else {
			out[(*len)++] = *c;
		}
	}
	out[(*len)++] = '\'';
	out[(*len)++] = ' ';
	out[*len] = '\0';
	return 0;
}

/* One session: the start frame, then the loop until the exit frame. */
static int sh_run(struct sh_state *sh, const char *dev,
		  const struct cl_vendor_opts *vo, int relay,
		  const uint8_t *start, size_t n)
{
	int sv[2], rc;

	/* Both ends are in our event loop: neither may block it. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sv) < 0)
		return cl_fail(1, "socketpair: %s", strerror(errno));
	/* The start frame waits in the socket until the stream opens. */
	if (write(sv[1], (uint8_t[5]){ 'S', 0, 0, (uint8_t)(n >> 8),
				       (uint8_t)n },
		  5) != 5 ||
	    write(sv[1], start, n) != (ssize_t)n) {
		close(sv[0]);
		close(sv[1]);
		return cl_fail(1, "cannot write the shell's start");
	}
	sh->fd = sv[1];
	if (sh->tty && tcgetattr(STDIN_FILENO, &sh->saved) == 0)
		sh->raw_ok = 1;
	rc = cl_conn_service(dev, vo, relay, "shell", sv[0],
			     sh_start, sh);
	if (sh->fd >= 0)
		close(sh->fd); /* the session never came up */
	return rc;
}

int cl_cmd_shell(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "relay", no_argument, NULL, 'R' },
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	struct sh_state sh;
	struct winsize ws;
	const char *term = getenv("TERM");
	char cmd[8192];
	uint8_t start[8192 + 256];
	size_t cmd_len = 0, n;
	int ch, rc, relay = 0;

	memset(&sh, 0, sizeof(sh));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (cl_vendor_opt(ch, optarg, &vo))
			continue;
		switch (ch) {
		case 'R':
			relay = 1;
			break;
		case 'h':
			puts("usage: carrier shell DEVICE_ID [COMMAND...]\n"
			     "A shell on the device (/bin/sh -l), or COMMAND "
			     "run by /bin/sh -c, on a pty,\nend-to-end "
			     "encrypted through the ring.  One COMMAND word "
			     "is a shell line as\nit is ('ls | wc -l'); "
			     "several are quoted word by word, so they run "
			     "as given\n(sh -c 'exit 7').  When stdin is a "
			     "terminal it goes raw for the session\n(Ctrl-C "
			     "reaches the remote side), and window changes "
			     "follow; otherwise the\nbytes pass as they are "
			     "and the end of stdin is an end of file on the "
			     "device.\nThe device lists VENDOR_ID:shell in "
			     "its allow list.  Each session is logged on\n"
			     "the device with the vendor id.  --relay never "
			     "punches a direct path; --tcp\nreaches the ring "
			     "over TCP (TLS).  DEVICE_ID may be a name "
			     "(carrier name).\nExit status: the remote "
			     "command's; 3 offline, 4 not authorized, 5 "
			     "shell not\nallowed, 6 lost.");
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind >= argc)
		return cl_fail(2, "usage: carrier shell DEVICE_ID [COMMAND...]");
	cmd[0] = '\0';
	if (argc - optind == 2) {
		if (strlen(argv[optind + 1]) >= sizeof(cmd))
			return cl_fail(2, "the command is too long");
		snprintf(cmd, sizeof(cmd), "%s", argv[optind + 1]);
		cmd_len = strlen(cmd);
	} else {
		for (int i = optind + 1; i < argc; i++)
			if (sh_quote(cmd, sizeof(cmd), &cmd_len, argv[i]) < 0)
				return cl_fail(2, "the command is too long");
		if (cmd_len > 0)
			cmd[--cmd_len] = '\0'; /* the last word's space */
	}
	if (term == NULL || strlen(term) > 64)
		term = "";
	sh.tty = isatty(STDIN_FILENO);
	sh_winsize(&ws);
	start[0] = (uint8_t)sh.tty;
	start[1] = (uint8_t)(ws.ws_row >> 8);
	start[2] = (uint8_t)ws.ws_row;
	start[3] = (uint8_t)(ws.ws_col >> 8);
	start[4] = (uint8_t)ws.ws_col;
	n = 5;
	memcpy(start + n, term, strlen(term) + 1);
	n += strlen(term) + 1;
	memcpy(start + n, cmd, cmd_len);
	n += cmd_len;
	sh.in_fd = STDIN_FILENO;
	sh.out_fd = STDOUT_FILENO;
	rc = sh_run(&sh, argv[optind], &vo, relay, start, n);
	if (rc == 0 && sh.lost)
		rc = CL_EXIT_LOST;
	else if (rc == 0 && sh.got_exit)
		rc = sh.status & 0xff;
	return rc;
}

int cl_remote_run(const char *dev, const struct cl_vendor_opts *vo,
		  int relay, const char *cmd, int in_fd, int out_fd,
		  void (*progress)(void *arg, uint64_t n), void *parg,
		  int *status)
{
	struct sh_state sh;
	uint8_t start[8192 + 16];
	size_t n = strlen(cmd);
	int rc;

	*status = -1;
	if (n > 8192)
		return cl_fail(2, "the command is too long");
	memset(&sh, 0, sizeof(sh));
	sh.in_fd = in_fd;
	sh.out_fd = out_fd;
	sh.progress = progress;
	sh.parg = parg;
	memset(start, 0, 6);
	start[0] = 2; /* no pty: bytes pass untouched */
	memcpy(start + 6, cmd, n);
	rc = sh_run(&sh, dev, vo, relay, start, n + 6);
	if (rc == 0 && sh.lost)
		rc = CL_EXIT_LOST;
	if (rc == 0 && sh.got_exit)
		*status = sh.status;
	return rc;
}
