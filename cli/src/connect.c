/*
 * carrier connect DEVICE_ID PORT [-L [ADDR:]LPORT] [-v] and
 * carrier ping DEVICE_ID [-c N]: an end-to-end session to the device, then
 * streams bridged to stdio or to local TCP connections, or control pings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "cp/hop.h"
#include "cr/addr.h"
#include "cr/e2e.h"
#include "cr/punch.h"
#include "cr/util.h"

enum {
	CONN_PING_EVERY_MS = 1000,  /* keeps paths open, notices failures */
	CONN_REROUTE_AFTER_MS = 2500, /* silence before trying another node */
	CONN_LOST_AFTER_MS = 10000, /* nothing heard: the device is gone */
	CONN_SETUP_MS = 8000,
};

struct conn_state {
	struct cl_client *c;
	struct event_base *base;
	struct cr_sess *sess;
	struct cr_e2e *e2e;
	struct cr_punch *punch;
	int relay_only; /* --relay: never punch a direct path */
	int is_ping;
	struct cr_id dev;
	size_t node_idx;
	uint16_t port;
	const char *service; /* a named service (shell), not a port */
	int stdio;
	int verbose;
	int exit_code;
	uint64_t streams_done;   /* -L: local connections finished */
	uint64_t streams_ok;     /* of them, those the device took */
	struct evconnlistener *lst;
	struct event *ev_timer;
	struct event *ev_sigint;
	uint64_t last_ping_ms;
	uint64_t last_reroute_ms;
	/* ping command */
	uint64_t ping_sent_us;
	uint64_t ping_nonce;
	int ping_got;
	double rtt_ms;
};

static void conn_finish(struct conn_state *st, int code)
{
	st->exit_code = code;
	event_base_loopexit(st->base, NULL);
}

static void conn_e2e_recv(void *arg, struct cr_sess *s, const uint8_t *msg,
			  size_t len)
{
	struct conn_state *st = arg;

	if (s != st->sess || st->e2e == NULL)
		return;
	if (st->punch != NULL &&
	    cr_punch_input(st->punch, cr_sess_host_rx_from(cl_host(st->c)), msg,
			   len))
		return;
	cr_e2e_input(st->e2e, msg, len);
}

static void conn_e2e_down(void *arg, struct cr_sess *s)
{
	struct conn_state *st = arg;
	char ids[CR_ID_STRMAX];

	if (s != st->sess)
		return;
	st->sess = NULL;
	cl_fail(CL_EXIT_LOST, "connection to %s lost",
		cr_id_format(&st->dev, ids));
	conn_finish(st, CL_EXIT_LOST);
}

static void conn_e2e_flush(void *arg)
{
	struct conn_state *st = arg;

	if (st->e2e != NULL)
		cr_e2e_flush(st->e2e);
}

static void conn_send_ping(struct conn_state *st)
{
	Carrier__E2eControl m = CARRIER__E2E_CONTROL__INIT;
	Carrier__Ping ping = CARRIER__PING__INIT;
	uint8_t buf[64];
	long n;

	st->ping_sent_us = cr_now_us();
	ping.nonce = ++st->ping_nonce;
	m.msg_case = CARRIER__E2E_CONTROL__MSG_PING;
	m.ping = &ping;
	n = cp_e2e_control_pack(&m, buf, sizeof(buf));
	if (n > 0)
		cr_e2e_control(st->e2e, buf, (size_t)n);
	st->last_ping_ms = cr_now_ms();
}

static void conn_control(void *arg, struct cr_e2e *e, const uint8_t *msg,
			 size_t len)
{
	struct conn_state *st = arg;
	Carrier__E2eControl *m = cp_e2e_control_unpack(msg, len);

	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__E2E_CONTROL__MSG_PONG &&
	    m->pong->nonce == st->ping_nonce && !st->ping_got) {
		st->rtt_ms = (double)(cr_now_us() - st->ping_sent_us) / 1000.0;
		st->ping_got = 1;
	}
	cp_e2e_control_free(m);
}

static int conn_accept(void *arg, struct cr_e2e *e, uint32_t sid,
		       const uint8_t *meta, size_t meta_len)
{
	return CR_STREAM_RESET_REFUSED; /* the device opens nothing to us */
}

static void conn_stream_done(void *arg, struct cr_e2e *e, uint32_t sid,
			     int code)
{
	struct conn_state *st = arg;
	char ids[CR_ID_STRMAX];
	int exit_code = CL_EXIT_OK;

	cr_id_format(&st->dev, ids);
	st->streams_done++;
	switch (code) {
	case CR_STREAM_RESET_NONE:
		st->streams_ok++;
		/* A service's caller reads its end and stops the loop. */
		if (st->service != NULL)
			return;
		break;
	case CR_STREAM_RESET_REFUSED:
		if (st->service != NULL) {
			exit_code = cl_fail(CL_EXIT_REFUSED,
					    "device %s refused: the %s is not "
					    "allowed for this vendor (the "
					    "device needs --allow "
					    "VENDOR_ID:%s)",
					    ids, st->service, st->service);
			break;
		}
		exit_code = cl_fail(CL_EXIT_REFUSED,
				    "device %s refused: port %u is not "
				    "allowed for this vendor%s",
				    ids, st->port,
				    st->stdio ? "" : "; local connection closed");
		break;
	case CR_STREAM_RESET_UNREACHABLE:
		exit_code = cl_fail(CL_EXIT_ERROR,
				    "device %s refused: nothing accepts "
				    "connections on port %u%s",
				    ids, st->port,
				    st->stdio ? "" : "; local connection closed");
		break;
	case CR_STREAM_RESET_GONE:
		exit_code = cl_fail(CL_EXIT_LOST, "connection to %s lost", ids);
		break;
	default:
		exit_code = cl_fail(CL_EXIT_LOST,
				    "the device reset the connection (code %d)",
				    code);
		break;
	}
	/* With -L each local connection is its own stream and the listener
	 * stays for the next one, whatever the verbosity: a device whose app
	 * is still starting refuses the first connection and takes the
	 * next. */
	if (st->stdio)
		conn_finish(st, exit_code);
}

static const struct cr_e2e_ops conn_e2e_ops = {
	.accept = conn_accept,
	.stream_done = conn_stream_done,
	.control = conn_control,
};

static void conn_on_reroute(void *arg, size_t node_idx)
{
	struct conn_state *st = arg;
	char path[160];

	st->node_idx = node_idx;
	if (st->punch != NULL)
		cr_punch_set_relay(st->punch, cr_sess_peer_addr(st->sess));
	if (st->verbose && (st->punch == NULL || cr_punch_direct(st->punch) == NULL)) {
		const struct cr_ring_node *n = &cl_ring(st->c)->nodes[node_idx];
		char ids[CR_ID_STRMAX];

		snprintf(path, sizeof(path), "relayed via %s (%s)",
			 cr_id_format(&n->id, ids), n->addr);
		fprintf(stderr, "carrier: path changed: %s\n", path);
	}
	/* Our next datagram moves the device to the new route too. */
	conn_send_ping(st);
	cr_e2e_flush(st->e2e);
}

/* When the path in use last delivered something: the session's last
 * receive would also count the device's probes of other paths. */
static uint64_t conn_path_rx_ms(struct conn_state *st)
{
	return st->punch != NULL ? cr_punch_path_rx_ms(st->punch) :
				   cr_sess_last_recv_ms(st->sess);
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn_state *st = arg;
	uint64_t now = cr_now_ms();
	char ids[CR_ID_STRMAX];

	if (st->sess == NULL)
		return;
	if (now - cr_sess_last_recv_ms(st->sess) > CONN_LOST_AFTER_MS) {
		cl_fail(CL_EXIT_LOST,
			"connection to %s lost: nothing heard for %d s",
			cr_id_format(&st->dev, ids), CONN_LOST_AFTER_MS / 1000);
		conn_finish(st, CL_EXIT_LOST);
		return;
	}
	if (now - conn_path_rx_ms(st) > CONN_REROUTE_AFTER_MS &&
	    now - st->last_reroute_ms > CONN_REROUTE_AFTER_MS) {
		/* The relaying node may be gone: try another of the
		 * device's nodes; the streams carry on over the new path. */
		st->last_reroute_ms = now;
		cl_e2e_reroute(st->c, st->sess, conn_on_reroute);
	}
	if (now - st->last_ping_ms >= CONN_PING_EVERY_MS) {
		st->ping_got = 0;
		conn_send_ping(st);
	}
}

static void conn_on_sigint(evutil_socket_t fd, short what, void *arg)
{
	conn_finish(arg, CL_EXIT_OK);
}

static void conn_on_accept(struct evconnlistener *l, evutil_socket_t fd,
			   struct sockaddr *sa, int socklen, void *arg)
{
	struct conn_state *st = arg;
	struct bufferevent *bev;
	uint8_t meta[2] = { (uint8_t)(st->port >> 8), (uint8_t)st->port };
	uint32_t sid;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_socket_new(st->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	if (cr_e2e_open(st->e2e, meta, sizeof(meta), bev, bev, &sid) < 0) {
		cl_fail(1, "cannot open a stream (too many at once?)");
		bufferevent_free(bev);
	}
}

static const char *conn_path(struct conn_state *st, char *out, size_t cap)
{
	const struct cr_ring_node *n = &cl_ring(st->c)->nodes[st->node_idx];
	char ids[CR_ID_STRMAX], as[CR_ADDR_STRMAX];

	if (st->punch != NULL && cr_punch_direct(st->punch) != NULL) {
		snprintf(out, cap, "direct %s",
			 cr_addr_format(cr_punch_direct(st->punch), as));
		return out;
	}
	snprintf(out, cap, "relayed via %s (%s)%s", cr_id_format(&n->id, ids),
		 n->addr, cl_uses_tcp(st->c) ? " over TCP" : "");
	return out;
}

static void conn_path_changed(void *arg, const struct cr_addr *direct)
{
	struct conn_state *st = arg;
	char path[160];
	uint64_t ms = cr_now_ms() - cl_connect_ms(st->c);

	conn_path(st, path, sizeof(path));
	if (st->is_ping) {
		printf("path changed: %s (%llu ms after the connect request)\n",
		       path, (unsigned long long)ms);
		fflush(stdout);
	} else if (st->verbose) {
		fprintf(stderr,
			"carrier: path changed: %s (%llu ms after the connect "
			"request)\n",
			path, (unsigned long long)ms);
	}
	/* Our next datagrams take the new path at once. */
	if (direct != NULL)
		cr_e2e_flush(st->e2e);
}

static const struct cr_punch_ops conn_punch_ops = {
	.path = conn_path_changed,
};

/* Punching a direct path: the device's candidates from its signed
 * presence record (it sends fresher ones over the session too), ours sent
 * to it over the session (which also brings its side of the session up
 * at once), then probes to all. */
static int conn_punch(struct conn_state *st)
{
	const struct cr_presence *p = cl_dev_presence(st->c);
	const char(*mine)[64];
	size_t n = cl_candidates_get(st->c, &mine);

	st->punch = cr_punch_new(st->base, st->sess, !st->relay_only,
				 &conn_punch_ops, st);
	if (st->punch == NULL)
		return -1;
	if (st->relay_only)
		return 0;
	for (size_t i = 0; i < p->n_addrs; i++)
		cr_punch_add_str(st->punch, p->addrs[i]);
	cr_punch_send_candidates(st->punch, mine, n);
	cr_punch_start(st->punch);
	return 0;
}

/* Sets up the client and the end-to-end session; 0 or an exit code. */
static int conn_setup(struct conn_state *st, const struct cl_vendor_opts *vo,
		      int poll_backend)
{
	struct cr_error *err = NULL;
	int rc;

	if (poll_backend) {
		/* stdin may be a regular file, which epoll refuses. */
		struct event_config *ec = event_config_new();

		event_config_require_features(ec, EV_FEATURE_FDS);
		st->base = event_base_new_with_config(ec);
		event_config_free(ec);
	} else {
		st->base = event_base_new();
	}
	if (st->base == NULL)
		return cl_fail(1, "cannot create the event loop");
	st->c = cl_client_open(st->base, vo, &err);
	if (st->c == NULL) {
		rc = cl_fail(1, "%s", cr_error_msg(err));
		cr_error_free(err);
		return rc;
	}
	cl_set_e2e_handler(st->c, conn_e2e_recv, conn_e2e_down, conn_e2e_flush,
			   st);
	cl_set_relay_only(st->c, st->relay_only);
	st->sess = cl_e2e_connect(st->c, &st->dev, CONN_SETUP_MS,
				  &st->node_idx, &err);
	if (st->sess == NULL) {
		int code = err != NULL && err->code >= CL_EXIT_OFFLINE &&
					   err->code <= CL_EXIT_LOST ?
				   err->code :
				   CL_EXIT_ERROR;
		rc = cl_fail(code, "%s", cr_error_msg(err));
		cr_error_free(err);
		return rc;
	}
	st->e2e = cr_e2e_new(st->base, st->sess, 1, &conn_e2e_ops, st);
	if (st->e2e == NULL)
		return cl_fail(1, "out of memory");
	if (cl_uses_tcp(st->c))
		st->relay_only = 1; /* no UDP: no direct path either */
	if (conn_punch(st) < 0)
		return cl_fail(1, "out of memory");
	st->ev_timer = event_new(st->base, -1, EV_PERSIST, conn_on_timer, st);
	st->ev_sigint = evsignal_new(st->base, SIGINT, conn_on_sigint, st);
	if (st->ev_timer == NULL || st->ev_sigint == NULL ||
	    event_add(st->ev_timer, &(struct timeval){ 0, 250000 }) < 0 ||
	    event_add(st->ev_sigint, NULL) < 0)
		return cl_fail(1, "cannot set up the connection's events");
	return 0;
}

static void conn_teardown(struct conn_state *st)
{
	if (st->lst != NULL)
		evconnlistener_free(st->lst);
	if (st->ev_timer != NULL)
		event_free(st->ev_timer);
	if (st->ev_sigint != NULL)
		event_free(st->ev_sigint);
	cr_e2e_free(st->e2e);
	cr_punch_free(st->punch);
	if (st->sess != NULL) {
		/* Our own close is no lost connection. */
		struct cr_sess *s = st->sess;

		st->sess = NULL;
		cr_sess_close(s);
	}
	cl_client_free(st->c);
	if (st->base != NULL)
		event_base_free(st->base);
}

static int conn_parse_dev(const char *s, struct cr_id *dev)
{
	struct cr_error *err = NULL;
	int rc = 0;

	if (cl_dev_parse(s, dev, &err) < 0) {
		rc = cl_fail(err->code == 2 || err->code == EINVAL ? 2 : 1,
			     "%s", cr_error_msg(err));
		cr_error_free(err);
	}
	return rc;
}

int cl_cmd_connect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "relay", no_argument, NULL, 'R' },
		{ "credential", required_argument, NULL, 'C' },
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct conn_state st;
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	const char *listen = NULL;
	char laddr[CR_ADDR_STRMAX + 16], path[160];
	uint64_t port;
	int ch, rc;

	memset(&st, 0, sizeof(st));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "L:vh", opts, NULL)) != -1) {
		if (cl_vendor_opt(ch, optarg, &vo))
			continue;
		switch (ch) {
		case 'L':
			listen = optarg;
			break;
		case 'v':
			st.verbose = 1;
			break;
		case 'R':
			st.relay_only = 1;
			break;
		case 'C':
			vo.credential = optarg;
			break;
		case 'h':
			puts("usage: carrier connect DEVICE_ID PORT [-L "
			     "[ADDR:]LPORT] [-v] [--credential CRED]\n"
			     "Reaches 127.0.0.1:PORT on the device through "
			     "the ring, end-to-end encrypted.\n"
			     "Without -L: one connection on stdin/stdout "
			     "(usable as ssh ProxyCommand).\n"
			     "With -L: listen on ADDR:LPORT (default "
			     "127.0.0.1); each accepted\nconnection is its own "
			     "stream.  -v prints the path (\"relayed via NODE\" "
			     "or \"direct ADDR\"),\nthe round-trip time and "
			     "every change of path.  The session starts relayed\n"
			     "and moves to a direct path when a NAT hole punch "
			     "succeeds; --relay stays\nrelayed.  --tcp reaches the ring over TCP "
			     "(TLS), as happens by itself\nwhen no node answers "
			     "over UDP.\n"
			     "The device is asked for PORT when a stream opens "
			     "(at once on stdio, for each\nlocal connection "
			     "with -L); a refusal is reported then: \"port PORT is "
			     "not\nallowed for this vendor\" or \"nothing accepts "
			     "connections on port PORT\".  With\n"
			     "-L the listener stays for the next connection.\n"
			     "--credential CRED: a device reaching a peer of its "
			     "fleet (archon serve) with\nits own key: --key is "
			     "the device key and CRED its fleet credential\n"
			     "(carrier fleet credential); the peer checks it "
			     "against its trust root.\n"
			     "Exit status: 1 nothing listens on PORT, 3 "
			     "offline, 4 not authorized, 5 port not\nallowed, "
			     "6 lost.");
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind + 2 != argc)
		return cl_fail(2, "usage: carrier connect DEVICE_ID PORT [-L "
				  "[ADDR:]LPORT] [-v]");
	rc = conn_parse_dev(argv[optind], &st.dev);
	if (rc != 0)
		return rc;
	if (cr_parse_u64(argv[optind + 1], 1, 65535, &port) < 0)
		return cl_fail(2, "'%s' is not a port (1-65535)",
			       argv[optind + 1]);
	st.port = (uint16_t)port;
	if (listen != NULL) {
		if (strchr(listen, ':') == NULL)
			snprintf(laddr, sizeof(laddr), "127.0.0.1:%s", listen);
		else
			snprintf(laddr, sizeof(laddr), "%s", listen);
	}
	st.stdio = listen == NULL;
	rc = conn_setup(&st, &vo, st.stdio);
	if (rc != 0)
		goto out;
	if (listen != NULL) {
		struct cr_addr a;
		struct cr_error *err = NULL;

		if (cr_addr_parse(laddr, &a, &err) < 0) {
			rc = cl_fail(2, "-L: %s", cr_error_msg(err));
			cr_error_free(err);
			goto out;
		}
		st.lst = evconnlistener_new_bind(
			st.base, conn_on_accept, &st,
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
			&a.u.sa, (int)cr_addr_len(&a));
		if (st.lst == NULL) {
			rc = cl_fail(1, "cannot listen on %s: %s", laddr,
				     strerror(errno));
			goto out;
		}
	} else {
		struct bufferevent *in, *outb;
		uint8_t meta[2] = { (uint8_t)(st.port >> 8), (uint8_t)st.port };
		uint32_t sid;

		in = bufferevent_socket_new(st.base, STDIN_FILENO, 0);
		outb = bufferevent_socket_new(st.base, STDOUT_FILENO, 0);
		if (in == NULL || outb == NULL ||
		    cr_e2e_open(st.e2e, meta, sizeof(meta), in, outb, &sid) < 0) {
			rc = cl_fail(1, "cannot open a stream");
			goto out;
		}
	}
	if (st.verbose) {
		conn_send_ping(&st);
		cl_wait(st.c, &st.ping_got, cr_now_ms() + 3000);
		/* The session is up; the port is asked for only when a
		 * stream opens (at once on stdio, per local connection with
		 * -L), and a refusal is reported then. */
		fprintf(stderr, "carrier: connected to %s, %s, rtt %.2f ms; %s "
				"port %u\n",
			argv[optind], conn_path(&st, path, sizeof(path)),
			st.rtt_ms,
			listen != NULL ? "each local connection opens" :
					 "opening",
			st.port);
		if (!st.relay_only)
			fprintf(stderr, "carrier: %s\n",
				cl_nat_report(st.c, path, sizeof(path)));
		if (listen != NULL)
			fprintf(stderr, "carrier: listening on %s\n", laddr);
	}
	st.last_ping_ms = cr_now_ms();
	event_base_dispatch(st.base);
	rc = st.exit_code;
out:
	conn_teardown(&st);
	return rc;
}

int cl_cmd_ping(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "relay", no_argument, NULL, 'R' },
		{ "batch", required_argument, NULL, 'b' },
		{ "within", required_argument, NULL, 'w' },
		{ "since", required_argument, NULL, 's' },
		CL_VENDOR_LONG_OPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct conn_state st;
	struct cl_vendor_opts vo = { NULL, NULL, NULL, 0, NULL };
	char path[160], ids[CR_ID_STRMAX];
	uint64_t count = 4, sent = 0, got = 0, within = 30000, since = 0;
	const char *batch = NULL;
	double min = 1e9, max = 0, sum = 0, sum2 = 0;
	int ch, rc;

	memset(&st, 0, sizeof(st));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (cl_vendor_opt(ch, optarg, &vo))
			continue;
		switch (ch) {
		case 'c':
			if (cr_parse_u64(optarg, 1, 1000000, &count) < 0)
				return cl_fail(2, "-c: '%s' is not a count",
					       optarg);
			break;
		case 'R':
			st.relay_only = 1;
			break;
		case 'b':
			batch = optarg;
			break;
		case 'w':
			if (cr_parse_duration_ms(optarg, &within) < 0)
				return cl_fail(2, "--within: '%s' is not a "
						  "duration", optarg);
			break;
		case 's':
			if (cr_parse_u64(optarg, 1, UINT64_MAX / 2, &since) < 0)
				return cl_fail(2, "--since: '%s' is not "
						  "milliseconds since 1970",
					       optarg);
			break;
		case 'h':
			puts("usage: carrier ping DEVICE_ID [-c N]\n"
			     "       carrier ping --batch FILE [--within "
			     "DURATION] [--since UNIX_MS]\n"
			     "Sends N (default 4) end-to-end pings to the "
			     "device, one a second, and\nprints each "
			     "round-trip time and path (\"relayed via NODE\" or "
			     "\"direct ADDR\"),\nthen a summary; a change of "
			     "path is printed when it happens.  --relay never\n"
			     "punches a direct path; --tcp reaches the ring over "
			     "TCP (TLS).  Exit status 0 when at "
			     "least one reply came, 3 when\nthe device is "
			     "offline.\n\n"
			     "--batch reaches every device listed in FILE (one "
			     "id a line) the same way,\nover and over until "
			     "each has answered once or DURATION (default 30s) "
			     "is up,\nand prints when each answered (ms since "
			     "UNIX_MS, default the start) and\nthe p50, p99 "
			     "and largest times.  Exit status 0 when all "
			     "answered, else 3.");
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (batch != NULL) {
		if (optind != argc)
			return cl_fail(2, "usage: carrier ping --batch FILE "
					  "[--within DURATION] [--since "
					  "UNIX_MS]");
		return cl_ping_batch(&vo, batch, within, since);
	}
	if (optind + 1 != argc)
		return cl_fail(2, "usage: carrier ping DEVICE_ID [-c N]");
	rc = conn_parse_dev(argv[optind], &st.dev);
	if (rc != 0)
		return rc;
	st.is_ping = 1;
	rc = conn_setup(&st, &vo, 0);
	if (rc != 0)
		goto out;
	cr_id_format(&st.dev, ids);
	printf("PING %s: %s\n", ids, conn_path(&st, path, sizeof(path)));
	fflush(stdout);
	for (sent = 0; sent < count && st.sess != NULL; sent++) {
		uint64_t next = cr_now_ms() + 1000;

		st.ping_got = 0;
		conn_send_ping(&st);
		cl_wait(st.c, &st.ping_got, next);
		if (st.ping_got) {
			got++;
			sum += st.rtt_ms;
			sum2 += st.rtt_ms * st.rtt_ms;
			min = st.rtt_ms < min ? st.rtt_ms : min;
			max = st.rtt_ms > max ? st.rtt_ms : max;
			printf("reply from %s: seq=%llu time=%.3f ms %s\n", ids,
			       (unsigned long long)(sent + 1), st.rtt_ms,
			       conn_path(&st, path, sizeof(path)));
		} else {
			printf("no reply: seq=%llu\n",
			       (unsigned long long)(sent + 1));
		}
		fflush(stdout);
		if (sent + 1 < count) {
			int never = 0;
			cl_wait(st.c, &never, next);
		}
	}
	printf("--- %s ping statistics ---\n", ids);
	printf("%llu sent, %llu received, %.0f%% loss\n",
	       (unsigned long long)sent, (unsigned long long)got,
	       sent ? 100.0 * (double)(sent - got) / (double)sent : 0.0);
	if (got > 0) {
		double avg = sum / (double)got;
		double var = sum2 / (double)got - avg * avg;
		printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", min,
		       avg, max, var > 0 ? sqrt(var) : 0.0);
	}
	rc = got > 0 ? 0 : CL_EXIT_OFFLINE;
out:
	conn_teardown(&st);
	return rc;
}

int cl_conn_service(const char *dev_arg, const struct cl_vendor_opts *vo,
		    int relay_only, const char *service, int fd,
		    int (*start)(struct event_base *base, void *arg), void *arg)
{
	struct conn_state st;
	struct bufferevent *bev;
	uint32_t sid;
	int rc;

	memset(&st, 0, sizeof(st));
	st.relay_only = relay_only;
	st.service = service;
	st.stdio = 1;
	rc = conn_parse_dev(dev_arg, &st.dev);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	rc = conn_setup(&st, vo, 1);
	if (rc != 0) {
		close(fd);
		goto out;
	}
	bev = bufferevent_socket_new(st.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL || cr_e2e_open(st.e2e, (const uint8_t *)service,
				       strlen(service), bev, bev, &sid) < 0) {
		if (bev != NULL)
			bufferevent_free(bev);
		else
			close(fd);
		rc = cl_fail(1, "cannot open a stream");
		goto out;
	}
	/* SIGINT is the caller's (a byte on a remote terminal). */
	event_del(st.ev_sigint);
	rc = start(st.base, arg);
	if (rc == 0) {
		st.last_ping_ms = cr_now_ms();
		event_base_dispatch(st.base);
		rc = st.exit_code;
	}
	start(NULL, arg); /* the caller's events go before the loop */
out:
	conn_teardown(&st);
	return rc;
}
