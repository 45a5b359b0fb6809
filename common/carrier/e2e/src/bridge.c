/* Stream <-> bufferevent bridge: see cr/bridge.h. */
#include "cr/bridge.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cr/util.h"

enum {
	BRIDGE_OUT_HIGH = 512 * 1024, /* stop reading the stream above */
	BRIDGE_CHUNK = 64 * 1024,
	BRIDGE_DIRECT_READS = 8, /* socket reads per callback, for fairness */
	BRIDGE_DIRECT_MAX = 256 * 1024, /* bytes per direct socket write */
};

struct cr_bridge {
	struct cr_stream_conn *conn;
	uint32_t sid;
	struct bufferevent *in, *out;
	const struct cr_bridge_ops *ops;
	void *arg;
	int connecting;
	int in_eof;       /* the pipe gave EOF; FIN sent on the stream */
	int stream_eof;   /* the stream gave EOF */
	int out_shut;     /* the pipe's write side was shut */
	int stream_gone;  /* closed callback seen */
	int no_direct;    /* `in` is not a socket: libevent reads it */
	int no_direct_out; /* `out` is not a socket: libevent writes it */
};

static void bridge_finish(struct cr_bridge *b, int code)
{
	const struct cr_bridge_ops *ops = b->ops;
	void *arg = b->arg;

	ops->done(arg, b, code);
	cr_bridge_free(b);
}

static void bridge_shut_out(struct cr_bridge *b)
{
	evutil_socket_t fd = bufferevent_getfd(b->out);

	if (b->out_shut)
		return;
	b->out_shut = 1;
	if (b->out == b->in) {
		shutdown(fd, SHUT_WR);
	} else {
		/* A pipe (stdout) has no half-close: its reader sees EOF
		 * only when the write end goes.  /dev/null takes the fd's
		 * place, so the number stays valid for its owner. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		bufferevent_disable(b->out, EV_WRITE);
		if (fd >= 0 && null >= 0)
			dup2(null, fd);
		if (null >= 0)
			close(null);
	}
}

/* The pipe ended: FIN on the stream once everything before it is in. */
static void bridge_in_eof(struct cr_bridge *b)
{
	b->in_eof = 1;
	bufferevent_disable(b->in, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(b->in)) == 0) {
		cr_stream_shutdown(b->conn, b->sid, cr_now_us());
		b->ops->kick(b->arg);
	}
}

/*
 * libevent 2.1 reads at most 4 KiB per read callback (EVBUFFER_MAX_READ),
 * whatever the single-read limit says: a bulk transfer would cost a loop
 * turn, an ioctl and a read per 4 KiB.  Once libevent's buffer is empty we
 * read the socket ourselves, straight into the stream, for as long as the
 * socket has data and the stream has room.  Returns 1 when something was
 * sent, 0 when not, -1 when the stream was reset.
 */
static int bridge_read_direct(struct cr_bridge *b)
{
	evutil_socket_t fd = bufferevent_getfd(b->in);
	int sent = 0;

	for (int i = 0; i < BRIDGE_DIRECT_READS; i++) {
		size_t room = cr_stream_writable(b->conn, b->sid);
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t n;
		int k;

		if (room == 0)
			break;
		if (room > BRIDGE_CHUNK)
			room = BRIDGE_CHUNK;
		/* The socket's bytes go straight into the stream's send
		 * buffer: no copy through one of ours (the profile had that
		 * copy at 8 % of the device agent's time). */
		k = cr_stream_write_space(b->conn, b->sid, room, iov,
					  cr_now_us());
		if (k <= 0) {
			if (k < 0) {
				cr_stream_reset(b->conn, b->sid,
						CR_STREAM_RESET_ABORT,
						cr_now_us());
				return -1;
			}
			break;
		}
		mh.msg_iovlen = (size_t)k;
		n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOTSOCK) {
			b->no_direct = 1;
			break;
		}
		if (n < 0 && errno == EAGAIN)
			break;
		if (n == 0) {
			bridge_in_eof(b);
			break;
		}
		if (n < 0) {
			cr_stream_reset(b->conn, b->sid, CR_STREAM_RESET_ABORT,
					cr_now_us());
			return -1;
		}
		cr_stream_write_commit(b->conn, b->sid, (size_t)n);
		sent = 1;
		if ((size_t)n < room)
			break; /* drained */
	}
	return sent;
}

/* Moves what the pipe has into the stream, as much as the stream takes. */
static void bridge_pump_in(struct cr_bridge *b)
{
	struct evbuffer *src = bufferevent_get_input(b->in);
	int sent = 0;

	while (evbuffer_get_length(src) > 0) {
		size_t want = evbuffer_get_length(src);
		unsigned char *p;
		ssize_t n;

		if (want > BRIDGE_CHUNK)
			want = BRIDGE_CHUNK;
		p = evbuffer_pullup(src, (ev_ssize_t)want);
		n = cr_stream_write(b->conn, b->sid, p, want, cr_now_us());
		if (n < 0) {
			cr_stream_reset(b->conn, b->sid, CR_STREAM_RESET_ABORT,
					cr_now_us());
			return;
		}
		if (n == 0)
			break;
		evbuffer_drain(src, (size_t)n);
		sent = 1;
	}
	if (evbuffer_get_length(src) == 0 && !b->in_eof && !b->connecting &&
	    !b->no_direct) {
		int r = bridge_read_direct(b);

		if (r < 0)
			return;
		sent |= r;
	}
	/* Backpressure: leave the rest in the socket until writable. */
	if (evbuffer_get_length(src) > 0)
		bufferevent_disable(b->in, EV_READ);
	else if (!b->in_eof)
		bufferevent_enable(b->in, EV_READ);
	if (sent)
		b->ops->kick(b->arg);
}

/*
 * While libevent has nothing queued for the pipe, what the stream delivers
 * goes straight to the socket: no copy into an evbuffer, and no write
 * event to arm and disarm per chunk.  What the socket does not take (or an
 * error, which libevent then reports) is queued for libevent.  EOF and
 * resets are left to the caller's reads.
 */
static void bridge_write_direct(struct cr_bridge *b, struct evbuffer *dst)
{
	evutil_socket_t fd = bufferevent_getfd(b->out);

	while (evbuffer_get_length(dst) == 0) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		int k;
		ssize_t n = cr_stream_read_peek(b->conn, b->sid, iov, &k,
						cr_now_us()), w;

		if (n <= 0)
			return;
		/* From the stream's receive buffer to the socket, as much as
		 * is in order, in one call; at most BRIDGE_DIRECT_MAX, which
		 * bounds what a full socket leaves to queue below. */
		if ((size_t)n > BRIDGE_DIRECT_MAX) {
			n = BRIDGE_DIRECT_MAX;
			if (iov[0].iov_len >= (size_t)n) {
				iov[0].iov_len = (size_t)n;
				k = 1;
			} else {
				iov[1].iov_len = (size_t)n - iov[0].iov_len;
			}
		}
		mh.msg_iovlen = (size_t)k;
		do {
			w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		} while (w < 0 && errno == EINTR);
		if (w < 0) {
			if (errno == ENOTSOCK)
				b->no_direct_out = 1;
			w = 0;
		}
		if (w < n) {
			/* Queue the rest for libevent, which reports errors. */
			size_t skip = (size_t)w;

			for (int i = 0; i < k; i++) {
				size_t l = iov[i].iov_len;

				if (skip >= l) {
					skip -= l;
					continue;
				}
				evbuffer_add(dst, (uint8_t *)iov[i].iov_base + skip,
					     l - skip);
				skip = 0;
			}
		}
		cr_stream_read_consume(b->conn, b->sid, (size_t)n);
	}
}

/* Moves what the stream has into the pipe, up to the high watermark. */
static void bridge_pump_out(struct cr_bridge *b)
{
	struct evbuffer *dst = bufferevent_get_output(b->out);
	uint8_t buf[16384];

	if (b->connecting || b->out_shut)
		return;
	if (!b->no_direct_out)
		bridge_write_direct(b, dst);
	while (evbuffer_get_length(dst) < BRIDGE_OUT_HIGH) {
		ssize_t n = cr_stream_read(b->conn, b->sid, buf, sizeof(buf),
					   cr_now_us());

		if (n > 0) {
			evbuffer_add(dst, buf, (size_t)n);
			continue;
		}
		if (n == 0) {
			b->stream_eof = 1;
			if (evbuffer_get_length(dst) == 0)
				bridge_shut_out(b);
		}
		break;
	}
	/* Reading frees receive window: let the stream send credit. */
	b->ops->kick(b->arg);
}

static void bridge_on_read(struct bufferevent *bev, void *arg)
{
	struct cr_bridge *b = arg;

	if (b->stream_gone) {
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	bridge_pump_in(b);
}

static void bridge_on_write(struct bufferevent *bev, void *arg)
{
	struct cr_bridge *b = arg;

	/* The output drained below the low watermark (0): refill it. */
	if (b->stream_eof) {
		if (evbuffer_get_length(bufferevent_get_output(b->out)) == 0) {
			bridge_shut_out(b);
			if (b->stream_gone)
				bridge_finish(b, 0);
		}
		return;
	}
	bridge_pump_out(b);
}

static void bridge_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct cr_bridge *b = arg;

	if (b->stream_gone) {
		/* Draining after the stream closed: any event ends it. */
		if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
			bridge_finish(b, 0);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		b->connecting = 0;
		bufferevent_enable(b->in, EV_READ);
		bufferevent_enable(b->out, EV_WRITE);
		bridge_pump_out(b);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int code = b->connecting ? CR_STREAM_RESET_UNREACHABLE :
					   CR_STREAM_RESET_ABORT;
		/* The reset's closed callback frees the bridge. */
		cr_stream_reset(b->conn, b->sid, code, cr_now_us());
		b->ops->kick(b->arg);
		return;
	}
	if ((what & BEV_EVENT_EOF) && bev == b->in && !b->in_eof) {
		/* Send what is left, then FIN. */
		bridge_pump_in(b);
		if (!b->in_eof)
			bridge_in_eof(b);
	}
}

struct cr_bridge *cr_bridge_new(struct cr_stream_conn *conn, uint32_t sid,
				struct bufferevent *in, struct bufferevent *out,
				int connecting, const struct cr_bridge_ops *ops,
				void *arg)
{
	struct cr_bridge *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->conn = conn;
	b->sid = sid;
	b->in = in;
	b->out = out;
	b->ops = ops;
	b->arg = arg;
	b->connecting = connecting;
	bufferevent_setcb(in, bridge_on_read, in == out ? bridge_on_write : NULL,
			  bridge_on_event, b);
	if (out != in)
		bufferevent_setcb(out, NULL, bridge_on_write, bridge_on_event, b);
	bufferevent_setwatermark(out, EV_WRITE, 0, 0);
	/* libevent reads and writes 16 KiB per call by default: bulk
	 * transfers want fewer, larger system calls. */
	bufferevent_set_max_single_read(in, BRIDGE_CHUNK * 4);
	bufferevent_set_max_single_write(out, BRIDGE_CHUNK * 4);
	if (!connecting) {
		bufferevent_enable(in, EV_READ);
		bufferevent_enable(out, EV_WRITE);
	}
	return b;
}

void cr_bridge_readable(struct cr_bridge *b)
{
	bridge_pump_out(b);
}

void cr_bridge_writable(struct cr_bridge *b)
{
	if (b->in_eof)
		return;
	bridge_pump_in(b);
}

void cr_bridge_closed(struct cr_bridge *b, int code)
{
	b->stream_gone = 1;
	if (code == 0 && !b->out_shut && !b->connecting &&
	    evbuffer_get_length(bufferevent_get_output(b->out)) > 0) {
		/* Let the pipe drain what the stream delivered first. */
		b->stream_eof = 1;
		bufferevent_disable(b->in, EV_READ);
		return;
	}
	bridge_finish(b, code);
}

struct cr_bridge *cr_bridge_free(struct cr_bridge *b)
{
	if (b == NULL)
		return NULL;
	if (b->out != b->in)
		bufferevent_free(b->out);
	bufferevent_free(b->in);
	free(b);
	return NULL;
}

uint32_t cr_bridge_sid(const struct cr_bridge *b)
{
	return b->sid;
}
