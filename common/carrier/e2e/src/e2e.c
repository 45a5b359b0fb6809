/* End-to-end link: session + streams + bridges; see cr/e2e.h. */
#include "cr/e2e.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/log.h"
#include "cr/map.h"
#include "cr/util.h"

struct cr_e2e {
	struct event_base *base;
	struct cr_sess *sess;
	struct cr_stream_conn *conn;
	struct event *timer;
	struct cr_map *bridges; /* sid -> struct cr_bridge */
	const struct cr_e2e_ops *ops;
	void *arg;
	struct cr_addr path; /* the session's path when last flushed */
	int busy;  /* inside the stream engine: no re-entry */
	int again; /* a flush was asked for while busy */
};

/* The stream packet size that fills an IP packet of ip_mtu bytes. */
#define E2E_STREAM_MTU(ip_mtu)                                              \
	((size_t)(ip_mtu) - CP_IP_UDP_HDR_MAX - CP_DATA_HDR - CP_AEAD_TAG - \
	 CP_RELAY_HDR - 1)
_Static_assert(E2E_STREAM_MTU(9000) + 1 <= CP_E2E_PAYLOAD_MAX,
	       "a jumbo probe fits the largest datagram");

static int e2e_output(void *ctx, const uint8_t *pkt, size_t len)
{
	struct cr_e2e *e = ctx;
	/* The engine leaves a byte before the packet (cfg.out_headroom) for
	 * the type: the packet goes to the session where it lies. */
	uint8_t *msg = (uint8_t *)pkt - 1;

	if (len + 1 > CP_SESS_PAYLOAD_MAX)
		return -1;
	msg[0] = CP_E2E_STREAM;
	return cr_sess_send(e->sess, msg, len + 1, cr_now_ms()) < 0 ? -1 : 0;
}

/* The same for a packet in pieces: its STREAM data is sealed from the
 * stream's send buffer, where it lies. */
static int e2e_outputv(void *ctx, const struct iovec *iov, int iovcnt,
		       size_t len)
{
	struct cr_e2e *e = ctx;
	struct iovec v[CR_STREAM_IOV_MAX];

	if (len + 1 > CP_SESS_PAYLOAD_MAX || iovcnt < 1 ||
	    (size_t)iovcnt > sizeof(v) / sizeof(v[0]))
		return -1;
	memcpy(v, iov, (size_t)iovcnt * sizeof(v[0]));
	v[0].iov_base = (uint8_t *)v[0].iov_base - 1;
	v[0].iov_len++;
	((uint8_t *)v[0].iov_base)[0] = CP_E2E_STREAM;
	return cr_sess_sendv(e->sess, v, iovcnt, cr_now_ms()) < 0 ? -1 : 0;
}

static int e2e_accept(void *ctx, uint32_t sid, const uint8_t *meta,
		      size_t meta_len)
{
	struct cr_e2e *e = ctx;

	if (e->ops->accept == NULL)
		return CR_STREAM_RESET_REFUSED;
	return e->ops->accept(e->arg, e, sid, meta, meta_len);
}

static void e2e_readable(void *ctx, uint32_t sid)
{
	struct cr_e2e *e = ctx;
	struct cr_bridge *b = cr_map_get(e->bridges, &sid);

	if (b != NULL)
		cr_bridge_readable(b);
}

static void e2e_writable(void *ctx, uint32_t sid)
{
	struct cr_e2e *e = ctx;
	struct cr_bridge *b = cr_map_get(e->bridges, &sid);

	if (b != NULL)
		cr_bridge_writable(b);
}

static void e2e_closed(void *ctx, uint32_t sid, int code)
{
	struct cr_e2e *e = ctx;
	struct cr_bridge *b = cr_map_get(e->bridges, &sid);

	if (b != NULL)
		cr_bridge_closed(b, code);
	else if (e->ops->stream_done != NULL)
		e->ops->stream_done(e->arg, e, sid, code);
}

static const struct cr_stream_ops e2e_stream_ops = {
	.output = e2e_output,
	.outputv = e2e_outputv,
	.accept = e2e_accept,
	.readable = e2e_readable,
	.writable = e2e_writable,
	.closed = e2e_closed,
};

static void e2e_kick(void *arg)
{
	cr_e2e_flush(arg);
}

static void e2e_bridge_done(void *arg, struct cr_bridge *b, int code)
{
	struct cr_e2e *e = arg;
	uint32_t sid = cr_bridge_sid(b);

	cr_map_del(e->bridges, &sid);
	if (e->ops->stream_done != NULL)
		e->ops->stream_done(e->arg, e, sid, code);
}

static const struct cr_bridge_ops e2e_bridge_ops = {
	.kick = e2e_kick,
	.done = e2e_bridge_done,
};

static void e2e_on_timer(evutil_socket_t fd, short what, void *arg)
{
	cr_e2e_flush(arg);
}

struct cr_e2e *cr_e2e_new(struct event_base *base, struct cr_sess *sess,
			  int is_client, const struct cr_e2e_ops *ops,
			  void *arg)
{
	struct cr_stream_cfg cfg;
	struct cr_e2e *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->base = base;
	e->sess = sess;
	e->ops = ops;
	e->arg = arg;
	cr_stream_cfg_default(&cfg);
	/* Start at the size every path carries and probe for a jumbo frame,
	 * then for Ethernet's 1500 bytes, less every header on the way (IP,
	 * UDP, session, relay, our type byte). */
	cfg.mtu = CP_E2E_PAYLOAD_BASE - 1;
	cfg.probe_mtu[0] = E2E_STREAM_MTU(9000);
	cfg.probe_mtu[1] = E2E_STREAM_MTU(1500);
	/* Liveness is the session's business (control pings and the
	 * session's dead timer): an idle tunnel with no stream traffic must
	 * stay up. */
	cfg.idle_timeout_us = 0;
	/* The owner flushes after each batch of datagrams. */
	cfg.input_defers_send = 1;
	cfg.out_headroom = 1; /* the type byte, see e2e_output */
	/*
	 * Windows for a fast tunnel: at 600 MB/s a 1 MiB window is spent in
	 * under 2 ms, and on a loaded host the sender waits for credit more
	 * often than for the wire.  The sender keeps up to 2 MiB in flight
	 * per stream; the vendor's side (a workstation) lets the device send
	 * 4 MiB per stream and 16 MiB in all.  The device keeps the smaller
	 * default receive windows, which bound what a vendor can make it
	 * hold (4 MiB per connection).
	 */
	cfg.stream_sndbuf = 2 * 1024 * 1024;
	if (is_client) {
		cfg.stream_window = 4 * 1024 * 1024;
		cfg.conn_window = 16 * 1024 * 1024;
	}
	e->conn = cr_stream_conn_new(&cfg, &e2e_stream_ops, e, is_client,
				     cr_now_us());
	e->bridges = cr_map_new(sizeof(uint32_t));
	e->timer = evtimer_new(base, e2e_on_timer, e);
	if (e->conn == NULL || e->bridges == NULL || e->timer == NULL)
		return cr_e2e_free(e);
	return e;
}

struct cr_e2e *cr_e2e_free(struct cr_e2e *e)
{
	size_t pos = 0;
	const void *key;
	void *val;

	if (e == NULL)
		return NULL;
	if (e->bridges != NULL) {
		while (cr_map_next(e->bridges, &pos, &key, &val))
			cr_bridge_free(val);
		cr_map_free(e->bridges);
	}
	if (e->timer != NULL)
		event_free(e->timer);
	cr_stream_conn_free(e->conn);
	free(e);
	return NULL;
}

void cr_e2e_input(struct cr_e2e *e, const uint8_t *msg, size_t len)
{
	if (len < 1)
		return;
	if (msg[0] == CP_E2E_STREAM) {
		/* Callbacks from inside the engine only ask for a flush; the
		 * owner's flush after the batch of input runs it. */
		e->busy++;
		cr_stream_input(e->conn, msg + 1, len - 1, cr_now_us());
		e->busy--;
		e->again = 1;
	} else if (msg[0] == CP_E2E_CONTROL) {
		if (e->ops->control != NULL)
			e->ops->control(e->arg, e, msg + 1, len - 1);
	}
}

void cr_e2e_flush(struct cr_e2e *e)
{
	uint64_t now, next;

	/* The engine is not re-entrant: callbacks from inside it (a bridge
	 * that moved data) only ask for another round. */
	if (e->busy) {
		e->again = 1;
		return;
	}
	e->busy = 1;
	now = cr_now_us();
	/* A new path (relay route or direct address) may carry less than
	 * the old one: the streams start over at the base size. */
	if (!cr_addr_equal(cr_sess_peer_addr(e->sess), &e->path) ||
	    cr_sess_peer_addr(e->sess)->route != e->path.route) {
		if (e->path.u.sa.sa_family != 0)
			cr_stream_path_changed(e->conn, now);
		e->path = *cr_sess_peer_addr(e->sess);
	}
	do {
		e->again = 0;
		now = cr_now_us();
		cr_stream_tick(e->conn, now);
	} while (e->again);
	e->busy = 0;
	next = cr_stream_next_timeout(e->conn);
	if (next != UINT64_MAX) {
		uint64_t d = next > now ? next - now : 0;
		struct timeval tv = { (time_t)(d / 1000000),
				      (suseconds_t)(d % 1000000) };
		/* Only fails out of memory; the next packet flushes again. */
		if (evtimer_add(e->timer, &tv) < 0)
			cr_log_warnx("end-to-end link: cannot arm its timer");
	} else {
		evtimer_del(e->timer);
	}
}

int cr_e2e_open(struct cr_e2e *e, const uint8_t *meta, size_t meta_len,
		struct bufferevent *in, struct bufferevent *out, uint32_t *sid)
{
	int rc = cr_stream_open(e->conn, meta, meta_len, cr_now_us(), sid);

	if (rc < 0)
		return rc;
	rc = cr_e2e_attach(e, *sid, in, out, 0);
	if (rc < 0)
		cr_stream_reset(e->conn, *sid, CR_STREAM_RESET_ABORT,
				cr_now_us());
	cr_e2e_flush(e);
	return rc;
}

int cr_e2e_attach(struct cr_e2e *e, uint32_t sid, struct bufferevent *in,
		  struct bufferevent *out, int connecting)
{
	struct cr_bridge *b = cr_bridge_new(e->conn, sid, in, out, connecting,
					    &e2e_bridge_ops, e);

	if (b == NULL)
		return -ENOMEM;
	if (cr_map_put(e->bridges, &sid, b) < 0) {
		cr_bridge_free(b);
		return -ENOMEM;
	}
	return 0;
}

int cr_e2e_control(struct cr_e2e *e, const uint8_t *msg, size_t len)
{
	uint8_t buf[CP_SESS_PAYLOAD_MAX];

	if (len + 1 > CP_E2E_PAYLOAD_MAX)
		return -EMSGSIZE;
	buf[0] = CP_E2E_CONTROL;
	memcpy(buf + 1, msg, len);
	return cr_sess_send(e->sess, buf, len + 1, cr_now_ms());
}

struct cr_sess *cr_e2e_sess(const struct cr_e2e *e)
{
	return e->sess;
}

struct cr_stream_conn *cr_e2e_conn(const struct cr_e2e *e)
{
	return e->conn;
}

size_t cr_e2e_streams(const struct cr_e2e *e)
{
	return cr_map_count(e->bridges);
}
