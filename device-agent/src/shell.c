/* The device side of `carrier shell`: see da/shell.h. */
#include "da/shell.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cr/log.h"
#include "cr/util.h"

enum { SHELL_FD = 3, SHELL_POLL_MS = 200, SHELL_LINGER_MS = 2000 };

int da_shell_frame_parse(const uint8_t *buf, size_t len, uint8_t *type,
			 const uint8_t **payload, size_t *plen, size_t *used)
{
	uint32_t n;

	if (len < 5)
		return 0;
	n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
	    (uint32_t)buf[3] << 8 | buf[4];
	if (n > DA_SHELL_FRAME_MAX)
		return -1;
	if (len - 5 < n)
		return 0;
	*type = buf[0];
	*payload = buf + 5;
	*plen = n;
	*used = 5 + (size_t)n;
	return 1;
}

static int shell_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int shell_send(uint8_t type, const void *p, size_t n)
{
	uint8_t h[5] = { type, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			 (uint8_t)(n >> 8), (uint8_t)n };

	if (shell_write_all(SHELL_FD, h, sizeof(h)) < 0)
		return -1;
	return n > 0 ? shell_write_all(SHELL_FD, p, n) : 0;
}

/* Reads exactly n bytes from the vendor's socket. */
static int shell_read_full(uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(SHELL_FD, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int shell_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* Forwards what the shell printed: 1 when it did, 2 when nothing is
 * there now, 0 at EOF/EIO (every writer gone), -1 when the vendor's
 * socket is. */
static int shell_pump_out(int m)
{
	uint8_t buf[16384];
	ssize_t r = read(m, buf, sizeof(buf));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 2;
	if (r <= 0)
		return 0;
	if (shell_send('D', buf, (size_t)r) < 0)
		return -1;
	return 1;
}

/* The pty's child: the shell or COMMAND. */
static void shell_exec(int slave, int master, const char *term,
		       const char *cmd)
{
	const char *home = getenv("HOME");

	setsid();
	ioctl(slave, TIOCSCTTY, 0);
	dup2(slave, 0);
	dup2(slave, 1);
	dup2(slave, 2);
	if (slave > 2)
		close(slave);
	close(master);
	close(SHELL_FD);
	if (term[0] != '\0')
		setenv("TERM", term, 1);
	if ((home == NULL || chdir(home) < 0) && chdir("/") < 0)
		home = NULL; /* stays where the agent runs */
	if (cmd[0] != '\0')
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	else
		execl("/bin/sh", "-sh", "-l", (char *)NULL);
	fprintf(stderr, "carrier-agent: cannot run /bin/sh: %s\n",
		strerror(errno));
	_exit(127);
}

/* Reads what the vendor sent into in (of DA_SHELL_FRAME_MAX + 5 bytes, *in_len
 * of them held) and hands each whole frame to on_frame.  Returns 0 while the
 * vendor's side is open, -1 when it is gone, -2 after a malformed frame. */
static int shell_vendor_read(uint8_t *in, size_t *in_len,
			     void (*on_frame)(void *ctx, uint8_t type,
					      const uint8_t *pl, size_t plen),
			     void *ctx)
{
	ssize_t r = read(SHELL_FD, in + *in_len,
			 DA_SHELL_FRAME_MAX + 5 - *in_len);
	const uint8_t *pl;
	size_t plen, used;
	uint8_t type;
	int k;

	if (r <= 0)
		return -1;
	*in_len += (size_t)r;
	while ((k = da_shell_frame_parse(in, *in_len, &type, &pl, &plen,
					 &used)) == 1) {
		on_frame(ctx, type, pl, plen);
		memmove(in, in + used, *in_len - used);
		*in_len -= used;
	}
	return k < 0 ? -2 : 0;
}

/* Tells the vendor, if still there, how the command ended; then waits (up
 * to SHELL_LINGER_MS) for the vendor's side to close, reading what it
 * still sends.  A socket closed with unread bytes makes its peer's next
 * read fail with ECONNRESET, and the agent would abort the stream, exit
 * status and all, instead of ending it (what ssh's drain avoids too). */
static int shell_end(const char *ids, int status, int vendor_open)
{
	status = shell_status(status);
	if (vendor_open) {
		uint8_t buf[4096];
		struct pollfd pf = { SHELL_FD, POLLIN, 0 };
		uint64_t end, now;

		shell_send('X', (uint8_t[4]){ (uint8_t)(status >> 24),
					      (uint8_t)(status >> 16),
					      (uint8_t)(status >> 8),
					      (uint8_t)status },
			   4);
		shutdown(SHELL_FD, SHUT_WR);
		end = cr_now_ms() + SHELL_LINGER_MS;
		while ((now = cr_now_ms()) < end &&
		       poll(&pf, 1, (int)(end - now)) > 0 &&
		       read(SHELL_FD, buf, sizeof(buf)) > 0)
			;
	}
	cr_log_info("shell: vendor %s ended, exit %d", ids, status);
	return status;
}

/* A frame for the pipes of mode 2: data goes to the command's stdin, 'E'
 * closes it. */
static void pipes_frame(void *ctx, uint8_t type, const uint8_t *pl,
			size_t plen)
{
	int *fd = ctx;

	if (*fd < 0)
		return;
	if ((type == 'D' && shell_write_all(*fd, pl, plen) < 0) ||
	    type == 'E') {
		close(*fd);
		*fd = -1;
	}
}

/* Mode 2 (carrier cp): no pty, stdin/stdout/stderr are pipes, so bytes
 * pass untouched; stderr comes back as 'R' frames.  Returns the exit
 * status, or -1 when the vendor went away first. */
static int shell_pipes(const char *ids, const char *term, const char *cmd)
{
	int pin[2], pout[2], perr[2], status = 0, vendor_open = 1, n_open = 2;
	uint8_t *in = malloc(DA_SHELL_FRAME_MAX + 5), buf[16384];
	size_t in_len = 0;
	pid_t child;

	if (in == NULL || pipe2(pin, O_CLOEXEC) < 0)
		return free(in), -1;
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
		return free(in), -1; /* the helper exits: fds go with it */
	child = fork();
	if (child == 0) {
		setsid();
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		close(SHELL_FD);
		if (term[0] != '\0')
			setenv("TERM", term, 1);
		execl("/bin/sh", "sh", "-c", cmd[0] ? cmd : "exec sh -l",
		      (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (child < 0)
		return free(in), -1;
	cr_log_info("shell: vendor %s started: %s (pid %d, no pty)", ids, cmd,
		    (int)child);
	while (n_open > 0) {
		struct pollfd pf[3] = { { pout[0], POLLIN, 0 },
					{ perr[0], POLLIN, 0 },
					{ SHELL_FD, POLLIN, 0 } };
		int n = poll(pf, vendor_open ? 3 : 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t r;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pf[i].fd, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(pf[i].fd);
				if (i == 0)
					pout[0] = -1;
				else
					perr[0] = -1;
				n_open--;
			} else if (vendor_open &&
				   shell_send(i == 0 ? 'D' : 'R', buf, (size_t)r) < 0) {
				vendor_open = 0;
			}
		}
		if (vendor_open && (pf[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			int k = shell_vendor_read(in, &in_len, pipes_frame,
						  &pin[1]);

			if (k < 0) {
				vendor_open = 0;
				kill(-child, SIGHUP);
				if (k == -1)
					kill(child, SIGHUP);
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	free(in);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return shell_end(ids, status, vendor_open);
}

/* A frame for the pty: data is typed, 'W' resizes, 'E' types the terminal's
 * end-of-file character. */
static void pty_frame(void *ctx, uint8_t type, const uint8_t *pl, size_t plen)
{
	int m = *(int *)ctx;
	struct termios tio;

	if (type == 'D') {
		shell_write_all(m, pl, plen);
	} else if (type == 'W' && plen == 4) {
		struct winsize ws = { .ws_row = (unsigned short)(pl[0] << 8 | pl[1]),
				      .ws_col = (unsigned short)(pl[2] << 8 | pl[3]) };

		ioctl(m, TIOCSWINSZ, &ws);
	} else if (type == 'E') {
		uint8_t eof = 4; /* VEOF */

		if (tcgetattr(m, &tio) == 0)
			eof = tio.c_cc[VEOF];
		shell_write_all(m, &eof, 1);
	}
}

/* Runs one session; returns the exit status or -1 when the vendor went
 * away first. */
static int shell_run(const char *ids)
{
	uint8_t hdr[5], *start = NULL, *in = NULL;
	size_t in_len = 0, len;
	struct winsize ws = { 0 };
	struct termios tio;
	const char *term, *cmd;
	int m, s, status = 0, exited = 0, vendor_open = 1;
	pid_t child;

	if (shell_read_full(hdr, 5) < 0)
		return -1;
	len = (size_t)hdr[1] << 24 | (size_t)hdr[2] << 16 |
	      (size_t)hdr[3] << 8 | hdr[4];
	if (hdr[0] != 'S' || len < 6 || len > 8192 ||
	    (start = calloc(1, len + 2)) == NULL ||
	    shell_read_full(start, len) < 0) {
		cr_log_warnx("shell: vendor %s sent no valid start", ids);
		free(start);
		return -1;
	}
	ws.ws_row = (unsigned short)(start[1] << 8 | start[2]);
	ws.ws_col = (unsigned short)(start[3] << 8 | start[4]);
	term = (const char *)start + 5;
	cmd = term + strlen(term) + 1;
	if ((size_t)(cmd - (const char *)start) > len)
		cmd = term + strlen(term); /* no NUL: no command */
	if (start[0] == 2) {
		status = shell_pipes(ids, term, cmd);
		free(start);
		return status;
	}
	if (openpty(&m, &s, NULL, NULL, ws.ws_row ? &ws : NULL) < 0) {
		cr_log_warn("shell: vendor %s: openpty", ids);
		free(start);
		return -1;
	}
	if (!start[0] && tcgetattr(s, &tio) == 0) {
		/* No terminal on the vendor's side: bytes pass as they are,
		 * as over ssh without -t. */
		tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		tio.c_oflag &= ~(tcflag_t)OPOST;
		tcsetattr(s, TCSANOW, &tio);
	}
	child = fork();
	if (child == 0)
		shell_exec(s, m, term, cmd);
	close(s);
	if (child < 0) {
		free(start);
		close(m);
		return -1;
	}
	cr_log_info("shell: vendor %s started%s%s (pid %d)", ids,
		    cmd[0] ? ": " : " a login shell", cmd, (int)child);
	free(start);
	in = malloc(DA_SHELL_FRAME_MAX + 5);
	while (in != NULL) {
		struct pollfd pf[2] = { { m, POLLIN, 0 },
					{ SHELL_FD, POLLIN, 0 } };
		int n = poll(pf, vendor_open ? 2 : 1, SHELL_POLL_MS);

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    shell_pump_out(m) <= 0)
			break; /* every writer of the pty is gone */
		if (n > 0 && vendor_open &&
		    (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			int k = shell_vendor_read(in, &in_len, pty_frame, &m);

			if (k == -1) {
				/* The vendor is gone: so is its shell. */
				vendor_open = 0;
				kill(-child, SIGHUP);
				kill(child, SIGHUP);
				continue;
			}
			if (k < 0) {
				cr_log_warnx("shell: vendor %s sent a malformed "
					     "frame", ids);
				kill(-child, SIGHUP);
				vendor_open = 0;
			}
		}
		if (!exited && waitpid(child, &status, WNOHANG) == child) {
			/* Output still in the pty is read before the end. */
			exited = 1;
			fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
			while (shell_pump_out(m) == 1)
				;
			break;
		}
	}
	free(in);
	close(m);
	if (!exited)
		waitpid(child, &status, 0);
	return shell_end(ids, status, vendor_open);
}

int da_shell_spawn(const struct cr_id *vendor, struct cr_error **err)
{
	char ids[CR_ID_STRMAX];
	int sv[2], st;
	pid_t pid;

	cr_id_format(vendor, ids);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cr_error_errno(err, errno, "shell: socketpair");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return cr_error_errno(err, errno, "shell: fork");
	}
	if (pid == 0) {
		sigset_t none;
		static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD,
					    SIGQUIT, SIGUSR1, SIGUSR2 };

		if (fork() != 0)
			_exit(0);
		/* The helper: none of the agent's handlers, fds or mask. */
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(sv[1], SHELL_FD) < 0)
			_exit(1);
		/* The syscall: musl declares no close_range(). */
		syscall(SYS_close_range, SHELL_FD + 1, ~0U, 0);
		shell_run(ids);
		_exit(0);
	}
	close(sv[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	/* The agent's end lives in its event loop: never blocking. */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	return sv[0];
}
