/*
 * End-to-end links and bridges (common/carrier/e2e/src/e2e.c, bridge.c) in one
 * process: a vendor and a device, each a session host on its own loopback
 * UDP socket, hold one Noise session with an e2e link on each side.  The
 * vendor opens a stream bridged to one end of a socket pair; the device
 * accepts it (checking the stream's meta) and bridges it to another
 * socket pair, or (second run) to two pipes, as the CLI bridges stdin and
 * stdout.  The test pushes 2 MiB through (more than the device's stream
 * window, 1 MiB, and the bridge's high watermark, 512 KiB, so backpressure
 * works; 1.25 MiB under qemu-user, CR_UNDER_QEMU, still more), checks
 * the bytes, half-closes one way (the device's reader must see EOF, on a
 * pipe too) and answers the other way, and waits for both streams to
 * finish cleanly.  A refused stream reaches the vendor as a reset with the
 * device's code and closes its socket; a control message arrives as sent.
 */
#include <check.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cp/limits.h"
#include "cr/e2e.h"
#include "cr/identity.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"

#include "../check_main.h"

enum {
	TOTAL_HOST = 2 * 1024 * 1024,
	TOTAL_QEMU = 1280 * 1024,
	CHUNK = 16384,
};

/* The bytes to push: fewer under an emulator, still past every window. */
static size_t total_bytes(void)
{
	const char *q = getenv("CR_UNDER_QEMU");

	return q != NULL && *q != '\0' ? TOTAL_QEMU : TOTAL_HOST;
}

static const uint8_t meta[] = "port 22";

struct side {
	struct event_base *base;
	struct cr_keypair kp;
	struct cr_sess_host *h;
	struct cr_sess *sess;
	struct cr_e2e *e;
	struct cr_udp_batch *batch;
	struct event *ev;
	int fd;
	struct cr_addr addr;
	int is_client;
	/* what happened */
	int accepted, done, done_code, refuse;
	int pipes; /* bridge to two pipes (stdin/stdout), not a socket */
	int app_wfd; /* where the test writes to the device's bridge */
	uint32_t done_sid;
	int app_fd; /* the test's end of the bridged socket pair */
	uint8_t control[64];
	size_t control_len;
};

static void s_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		   const uint8_t *buf, size_t len)
{
	struct side *sd = ctx;

	(void)s;
	cr_udp_send(sd->fd, to, buf, len);
}

static int s_accept(void *ctx, const struct cr_id *peer,
		    const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		    const uint8_t *hello, size_t hello_len, uint8_t *reply,
		    size_t *reply_len, void **user)
{
	(void)ctx, (void)peer, (void)pk, (void)from, (void)hello;
	(void)hello_len, (void)reply, (void)user;
	*reply_len = 0;
	return 0;
}

static int e_accept(void *arg, struct cr_e2e *e, uint32_t sid,
		    const uint8_t *m, size_t m_len)
{
	struct side *sd = arg;
	struct bufferevent *bev;
	int sp[2];

	sd->accepted++;
	if (m_len != sizeof(meta) || memcmp(m, meta, m_len) != 0)
		return CR_STREAM_RESET_ABORT;
	if (sd->refuse)
		return CR_STREAM_RESET_REFUSED;
	if (sd->pipes) {
		/* in and out apart, as the CLI bridges stdin and stdout */
		int pin[2], pout[2];
		struct bufferevent *out;

		ck_assert_int_eq(pipe(pin), 0);
		ck_assert_int_eq(pipe(pout), 0);
		evutil_make_socket_nonblocking(pin[0]);
		evutil_make_socket_nonblocking(pout[1]);
		evutil_make_socket_nonblocking(pout[0]);
		bev = bufferevent_socket_new(sd->base, pin[0],
					     BEV_OPT_CLOSE_ON_FREE);
		out = bufferevent_socket_new(sd->base, pout[1],
					     BEV_OPT_CLOSE_ON_FREE);
		ck_assert_ptr_nonnull(bev);
		ck_assert_ptr_nonnull(out);
		ck_assert_int_eq(cr_e2e_attach(e, sid, bev, out, 0), 0);
		sd->app_fd = pout[0];
		sd->app_wfd = pin[1];
		return 0;
	}
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	evutil_make_socket_nonblocking(sp[0]);
	evutil_make_socket_nonblocking(sp[1]);
	bev = bufferevent_socket_new(sd->base, sp[1], BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	ck_assert_int_eq(cr_e2e_attach(e, sid, bev, bev, 0), 0);
	sd->app_fd = sp[0];
	sd->app_wfd = sp[0];
	return 0;
}

static void e_done(void *arg, struct cr_e2e *e, uint32_t sid, int code)
{
	struct side *sd = arg;

	(void)e;
	sd->done++;
	sd->done_sid = sid;
	sd->done_code = code;
}

static void e_control(void *arg, struct cr_e2e *e, const uint8_t *msg,
		      size_t len)
{
	struct side *sd = arg;

	(void)e;
	ck_assert_uint_le(len, sizeof(sd->control));
	memcpy(sd->control, msg, len);
	sd->control_len = len;
}

static const struct cr_e2e_ops e2e_ops = {
	.accept = e_accept,
	.stream_done = e_done,
	.control = e_control,
};

static void s_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		 size_t reply_len, int rekey)
{
	struct side *sd = ctx;

	(void)reply, (void)reply_len;
	if (rekey || sd->e != NULL)
		return;
	sd->sess = s;
	sd->e = cr_e2e_new(sd->base, s, sd->is_client, &e2e_ops, sd);
	ck_assert_ptr_nonnull(sd->e);
}

static void s_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		   size_t len)
{
	struct side *sd = ctx;

	(void)s;
	if (sd->e != NULL)
		cr_e2e_input(sd->e, msg, len);
}

static void s_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct side *sd = ctx;

	(void)s, (void)why;
	sd->sess = NULL;
}

static const struct cr_sess_ops sess_ops = {
	.send = s_send,
	.accept = s_accept,
	.up = s_up,
	.recv = s_recv,
	.down = s_down,
};

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct side *sd = arg;
	int n;

	(void)fd, (void)what;
	while ((n = cr_udp_recv(sd->fd, sd->batch)) > 0)
		for (int i = 0; i < n; i++)
			cr_sess_host_input(sd->h, &sd->batch->from[i],
					   sd->batch->buf[i],
					   sd->batch->len[i], cr_now_ms());
	if (sd->e != NULL)
		cr_e2e_flush(sd->e);
}

static void side_init(struct side *sd, struct event_base *base, int client)
{
	struct cr_sess_cfg cfg;
	struct cr_error *err = NULL;
	struct cr_addr any;

	memset(sd, 0, sizeof(*sd));
	sd->base = base;
	sd->is_client = client;
	sd->app_fd = -1;
	sd->app_wfd = -1;
	ck_assert_int_eq(cr_keypair_generate(client ? CR_ID_VENDOR :
						      CR_ID_DEVICE,
					     &sd->kp),
			 0);
	cr_sess_cfg_default(&cfg);
	sd->h = cr_sess_host_new(&sd->kp, &cfg, &sess_ops, sd, &err);
	ck_assert_msg(sd->h != NULL, "%s", cr_error_msg(err));
	ck_assert_int_eq(cr_addr_parse("127.0.0.1:0", &any, NULL), 0);
	sd->fd = cr_udp_open(&any, &err);
	ck_assert_msg(sd->fd >= 0, "%s", cr_error_msg(err));
	ck_assert_int_eq(cr_udp_local(sd->fd, &sd->addr), 0);
	sd->batch = calloc(1, sizeof(*sd->batch));
	ck_assert_ptr_nonnull(sd->batch);
	sd->ev = event_new(base, sd->fd, EV_READ | EV_PERSIST, on_read, sd);
	ck_assert_ptr_nonnull(sd->ev);
	ck_assert_int_eq(event_add(sd->ev, NULL), 0);
}

static void side_free(struct side *sd)
{
	cr_e2e_free(sd->e);
	cr_sess_host_free(sd->h);
	event_free(sd->ev);
	close(sd->fd);
	if (sd->app_wfd >= 0 && sd->app_wfd != sd->app_fd)
		close(sd->app_wfd);
	if (sd->app_fd >= 0)
		close(sd->app_fd);
	free(sd->batch);
}

/* The test's state for one run of the event loop. */
struct run {
	struct side vendor, device;
	struct event_base *base;
	struct event *tick;
	int app_fd; /* the vendor's application end */
	size_t sent, rcvd, back;
	int sent_eof, dev_eof, dev_answered, vendor_eof;
	uint8_t answer[16];
	int (*finished)(struct run *r);
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

/* Moves the test's own bytes: vendor app writes, device app reads. */
static void pump(struct run *r)
{
	uint8_t buf[CHUNK];
	size_t total = total_bytes();
	ssize_t n;

	while (!r->sent_eof && r->sent < total) {
		size_t len = total - r->sent < CHUNK ? total - r->sent : CHUNK;

		for (size_t i = 0; i < len; i++)
			buf[i] = pattern(r->sent + i);
		n = write(r->app_fd, buf, len);
		if (n <= 0)
			break;
		r->sent += (size_t)n;
	}
	if (r->sent == total && !r->sent_eof) {
		ck_assert_int_eq(shutdown(r->app_fd, SHUT_WR), 0);
		r->sent_eof = 1;
	}
	while (r->device.app_fd >= 0 && !r->dev_eof &&
	       (n = read(r->device.app_fd, buf, sizeof(buf))) >= 0) {
		if (n == 0) {
			r->dev_eof = 1;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			ck_assert_msg(buf[i] == pattern(r->rcvd + (size_t)i),
				      "byte %zu differs", r->rcvd + (size_t)i);
		r->rcvd += (size_t)n;
	}
	if (r->dev_eof && !r->dev_answered) {
		ck_assert_int_eq(write(r->device.app_wfd, "bye", 3), 3);
		if (r->device.pipes) {
			close(r->device.app_wfd);
			r->device.app_wfd = -1;
		} else {
			ck_assert_int_eq(shutdown(r->device.app_wfd, SHUT_WR),
					 0);
		}
		r->dev_answered = 1;
	}
	while (!r->vendor_eof &&
	       (n = read(r->app_fd, r->answer + r->back,
			 sizeof(r->answer) - r->back)) >= 0) {
		if (n == 0) {
			r->vendor_eof = 1;
			break;
		}
		r->back += (size_t)n;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd, (void)what;
	cr_sess_host_tick(r->vendor.h, cr_now_ms());
	cr_sess_host_tick(r->device.h, cr_now_ms());
	if (r->app_fd >= 0)
		pump(r);
	if (r->finished(r))
		event_base_loopbreak(r->base);
}

/* Runs the loop until r->finished() or 60 s. */
static void run_until(struct run *r, int (*finished)(struct run *r))
{
	uint64_t deadline = cr_now_ms() + 60000;

	r->finished = finished;
	while (!finished(r) && cr_now_ms() < deadline)
		event_base_loop(r->base, EVLOOP_ONCE);
	ck_assert_msg(finished(r), "timed out: sent %zu rcvd %zu back %zu",
		      r->sent, r->rcvd, r->back);
}

static int session_up_vendor(struct run *r)
{
	return r->vendor.e != NULL;
}

static void run_init(struct run *r)
{
	struct cr_error *err = NULL;

	memset(r, 0, sizeof(*r));
	r->app_fd = -1;
	r->base = event_base_new();
	ck_assert_ptr_nonnull(r->base);
	side_init(&r->vendor, r->base, 1);
	side_init(&r->device, r->base, 0);
	r->tick = event_new(r->base, -1, EV_PERSIST, on_tick, r);
	ck_assert_int_eq(event_add(r->tick, &(struct timeval){ 0, 2000 }), 0);
	ck_assert_ptr_nonnull(cr_sess_connect(r->vendor.h, r->device.kp.pk,
					      CR_ID_DEVICE, &r->device.addr,
					      NULL, 0, cr_now_ms(), &err));
	/* The device's side comes up later, on the first DATA (the test's
	 * first stream packet or control message). */
	run_until(r, session_up_vendor);
}

static void run_free(struct run *r)
{
	if (r->app_fd >= 0)
		close(r->app_fd);
	side_free(&r->vendor);
	side_free(&r->device);
	event_free(r->tick);
	event_base_free(r->base);
}

/* Opens a stream from the vendor bridged to a new socket pair. */
static uint32_t open_stream(struct run *r)
{
	struct bufferevent *bev;
	uint32_t sid = 0;
	int sp[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	evutil_make_socket_nonblocking(sp[0]);
	evutil_make_socket_nonblocking(sp[1]);
	bev = bufferevent_socket_new(r->base, sp[1], BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	ck_assert_int_eq(cr_e2e_open(r->vendor.e, meta, sizeof(meta), bev, bev,
				     &sid),
			 0);
	ck_assert_uint_eq(sid & 1, 1); /* the client opens odd ids */
	ck_assert_uint_eq(cr_e2e_streams(r->vendor.e), 1);
	r->app_fd = sp[0];
	return sid;
}

static int transfer_done(struct run *r)
{
	return r->vendor_eof && r->vendor.done && r->device.done;
}

START_TEST(test_stream_both_ways)
{
	struct run r;
	uint32_t sid;

	run_init(&r);
	r.device.pipes = _i;
	sid = open_stream(&r);
	run_until(&r, transfer_done);
	ck_assert_int_eq(r.device.accepted, 1);
	ck_assert_uint_eq(r.sent, total_bytes());
	ck_assert_uint_eq(r.rcvd, total_bytes());
	ck_assert_uint_eq(r.back, 3);
	ck_assert_mem_eq(r.answer, "bye", 3);
	/* Both ends finished the same stream without a reset. */
	ck_assert_uint_eq(r.vendor.done_sid, sid);
	ck_assert_uint_eq(r.device.done_sid, sid);
	ck_assert_int_eq(r.vendor.done_code, 0);
	ck_assert_int_eq(r.device.done_code, 0);
	ck_assert_uint_eq(cr_e2e_streams(r.vendor.e), 0);
	ck_assert_uint_eq(cr_e2e_streams(r.device.e), 0);
	run_free(&r);
}
END_TEST

static int refused(struct run *r)
{
	return r->vendor.done && r->vendor_eof;
}

START_TEST(test_stream_refused)
{
	struct run r;

	run_init(&r);
	r.device.refuse = 1;
	open_stream(&r);
	r.sent_eof = 1; /* write nothing: wait for the reset */
	run_until(&r, refused);
	ck_assert_int_eq(r.device.accepted, 1);
	ck_assert_int_eq(r.vendor.done_code, CR_STREAM_RESET_REFUSED);
	ck_assert_uint_eq(r.back, 0);
	ck_assert_uint_eq(cr_e2e_streams(r.vendor.e), 0);
	run_free(&r);
}
END_TEST

static int control_seen(struct run *r)
{
	return r->device.control_len != 0;
}

START_TEST(test_control)
{
	static const uint8_t msg[] = "ping 42";
	uint8_t big[CP_E2E_PAYLOAD_MAX + 1];
	struct run r;

	run_init(&r);
	memset(big, 0, sizeof(big));
	ck_assert_int_eq(cr_e2e_control(r.vendor.e, big, sizeof(big)),
			 -EMSGSIZE);
	ck_assert_int_eq(cr_e2e_control(r.vendor.e, msg, sizeof(msg)), 0);
	run_until(&r, control_seen);
	ck_assert_uint_eq(r.device.control_len, sizeof(msg));
	ck_assert_mem_eq(r.device.control, msg, sizeof(msg));
	run_free(&r);
}
END_TEST

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc = tcase_create("e2e");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_stream_both_ways, 0, 2);
	tcase_add_test(tc, test_stream_refused);
	tcase_add_test(tc, test_control);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(e2e_suite());
}
