/*
 * ringfail: N simulated devices attached to a whole ring, for
 * bench/ring-failover-scale.sh: the reconnect storm after half the ring dies.
 *
 * Every device is its own Ed25519 identity with its own cr_sess host doing
 * real Noise IK handshakes, and follows carrier-agent's home-link rules
 * (device-agent/src/agent.c) with its default settings: it attaches to the
 * first --attach nodes of its ranking (cr_ring_rank), pings each every
 * keepalive (15 s at 2 links, 30 s at 4) telling the node that interval,
 * publishes a signed presence record listing the nodes it is attached to
 * (again every second until acknowledged; a new one at half its lifetime
 * of 10 min at 2 links, 20 at 4),
 * gives up a link whose pings go unanswered for 3 s (or for half a
 * keepalive when the live nodes see that node dead), acts
 * on a nudge (CP_MSG_NUDGE from a ring node's address, at most one per 2 s:
 * ping every 250 ms, give up links silent for 1 s), and moves a lost link
 * to the next node of its ranking that the nodes it reaches (or the
 * nudge) see alive, with the agent's backoff and jitter.  Sessions use the
 * agent's timers (handshake timeout 2.5 s, dead after 46 s, rekey by need).
 *
 * What a node sees is what N agents would show it: N identities from
 * distinct source endpoints (device i speaks from 127.B.0.0 + 1 + i / S,
 * port of socket i % S, with IP_PKTINFO), while this process holds S
 * sockets only.  Several processes (--addr-base) make larger populations
 * and use more cores.
 *
 *   ringfail --ring RING -n N [--attach K] [--sockets S] [--addr-base B]
 *            [--window W] [--mark FILE] [--times FILE] [--sample-ids FILE]
 *            [--keepalive MS]
 *
 * --sample-ids writes the identity of every 1,000th device (for lookups
 * by the real CLI).  Not simulated: the agent's health record (a FleetPut
 * every 5 minutes), its deployment queries, vendor sessions.
 *
 * Prints `ringfail: phase=attached ...` once every device has all K links
 * acknowledged (the first attach is paced by W handshakes in flight, 64).
 * SIGUSR1: read FILE of --mark, "UNIX_MS HOST:PORT ..." (when the nodes
 * were killed, and their addresses as the ring names them): from then on a device counts as
 * reachable again when it holds a session with a live node that
 * acknowledged its record (one listing that node), and as re-homed when
 * all K of its links are on live nodes and acknowledged its newest record
 * (or as many links as there are live nodes, when K is more).
 * --keepalive: the agent's keepalive setting in ms (by default the
 * agent's for K links: 15 s for 2, 30 s for 4; records live 10 and 20 min).
 * A device that kept an acknowledged link to a live node is reachable at
 * once (0 ms).  Progress once a second: `ringfail: t_ms=.. reachable=..
 * rehomed=..`.  SIGUSR2 or SIGTERM writes --times FILE: one line per
 * device, "REACHABLE_MS REHOMED_MS" after the mark (-1: not yet); SIGTERM
 * then exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/addr.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/log.h"
#include "cr/presence.h"
#include "cr/ring.h"
#include "cr/ringsync.h"
#include "cr/session.h"
#include "cr/util.h"
#include "simdev.h"

enum {
	RF_SOCKETS_MAX = 64,
	RF_TICK_MS = 50,
	RF_TICK_SLICES = 20, /* an idle device is looked at once a second */
	RF_DEVICES_MAX = 1000000,
	RF_LINKS_MAX = 4,
	RF_NODES_MAX = 64, /* liveness views are 64-bit masks */
	/* carrier-agent's figures (agent.c), at its default keepalive. */
	RF_KEEPALIVE_MS = 15000,
	RF_PONG_TIMEOUT_MS = 3000,
	RF_REPUBLISH_MS = 1000,
	RF_PROBE_MS = 1000,
	RF_PROBE_EVERY_MS = 250,
	RF_NUDGE_GAP_MS = 2000,
	RF_HINT_MS = 10000,
	RF_BACKOFF_MIN_MS = 500,
	RF_BACKOFF_MAX_MS = 10000,
	/* The agent's record lives 10 minutes (da_config presence_ttl) and
	 * is made again at half of that. */
	RF_PRESENCE_TTL_S = 600,
};

struct rf;

struct rf_link {
	struct cr_sess *sess;
	uint64_t acked_seq;
	uint64_t ping_ms, unanswered_ms, probe_ms, sent_ms, last_pong_ms;
	uint64_t next_attempt_ms;
	uint64_t view; /* the node's last pong: ring nodes it sees alive */
	uint32_t backoff_ms;
	int8_t node;   /* ring index */
	uint8_t up, fails, silent, silent_last, has_view, counted;
};

struct rf_dev {
	struct rf *rf;
	struct cr_sess_host *host;
	uint64_t seq;
	uint64_t published_ms; /* when the current record was made */
	uint64_t nudge_ms;
	uint64_t hint; /* a nudge's liveness view */
	uint32_t index;
	int32_t reach_ms, rehome_ms; /* after the mark; -1: not yet */
	uint8_t dirty, busy, started, has_hint;
	uint8_t rank[RF_NODES_MAX];
	struct rf_link links[RF_LINKS_MAX];
};

struct rf {
	struct event_base *base;
	struct cr_ring *ring;
	struct cr_addr node_addr[RF_NODES_MAX];
	uint32_t addr_base;
	int fds[RF_SOCKETS_MAX];
	uint16_t ports[RF_SOCKETS_MAX];
	struct event *ev_read[RF_SOCKETS_MAX];
	size_t n_socks, n, k, window, inflight, started, slice;
	uint32_t keepalive_ms; /* --keepalive, or the agent's for K links */
	uint32_t presence_ttl_s; /* the agent's for K links */
	size_t live;           /* nodes alive after the mark */
	struct rf_dev *devs;
	uint32_t *busy;
	size_t n_busy;
	int attached_said;
	uint64_t start_ms, mark_unix_ms, dead, last_report_ms;
	size_t reach, rehomed;
	const char *mark_path, *times_path, *sample_path;
	uint64_t send_errors, nudges, handshakes_started;
	int trace; /* RINGFAIL_TRACE set: the links of devices 0-19 on stderr */
};

static uint64_t rf_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t rf_dev_addr(const struct rf *rf, size_t i)
{
	return simdev_addr(rf->addr_base, rf->n_socks, i);
}

static void rf_busy(struct rf_dev *d)
{
	if (d->busy)
		return;
	d->busy = 1;
	d->rf->busy[d->rf->n_busy++] = d->index;
}

static void rf_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		    const uint8_t *buf, size_t len)
{
	struct rf_dev *d = ctx;
	struct rf *rf = d->rf;
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh = {
		.msg_name = (void *)(uintptr_t)&to->u.sa,
		.msg_namelen = cr_addr_len(to),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cm.buf,
		.msg_controllen = sizeof(cm.buf),
	};

	memset(&cm, 0, sizeof(cm));
	simdev_set_src(&mh, rf_dev_addr(rf, d->index));
	if (sendmsg(rf->fds[d->index % rf->n_socks], &mh, MSG_DONTWAIT) < 0)
		rf->send_errors++;
}

static int rf_accept(void *ctx, const struct cr_id *peer,
		     const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		     const uint8_t *hello, size_t hello_len, uint8_t *reply,
		     size_t *reply_len, void **user)
{
	return -1; /* devices only initiate */
}

static int rf_dead(const struct rf *rf, int node)
{
	return rf->mark_unix_ms != 0 && (rf->dead >> node) & 1;
}

/* ---- Reachability -------------------------------------------------------- */

static void rf_check_at(struct rf_dev *d, int at_mark);

static void rf_check(struct rf_dev *d)
{
	rf_check_at(d, 0);
}

/* at_mark: the check at the mark itself, 0 ms by definition (the
 * signal comes a few ms after the kill). */
static void rf_check_at(struct rf_dev *d, int at_mark)
{
	struct rf *rf = d->rf;
	int reach = 0;
	size_t full = 0;
	int32_t t;

	if (rf->mark_unix_ms == 0 || (d->reach_ms >= 0 && d->rehome_ms >= 0))
		return;
	for (size_t i = 0; i < rf->k; i++) {
		const struct rf_link *l = &d->links[i];
		int ok = l->sess != NULL && l->up && !rf_dead(rf, l->node);

		reach |= ok && l->acked_seq != 0;
		full += ok && d->seq != 0 && l->acked_seq == d->seq;
	}
	t = (int32_t)(rf_unix_ms() - rf->mark_unix_ms);
	if (t < 0 || at_mark)
		t = 0;
	if (reach && d->reach_ms < 0) {
		d->reach_ms = t;
		rf->reach++;
	}
	/* Re-homed: K links live and acknowledged, or as many as there are
	 * live nodes (K = 4 of 6 with 3 killed: 3). */
	if (full >= (rf->k < rf->live ? rf->k : rf->live) && d->rehome_ms < 0) {
		d->rehome_ms = t;
		rf->rehomed++;
	}
}

/* ---- Messages -------------------------------------------------------------- */

static void rf_hop_send(struct rf_link *l, Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long n = cp_hop_pack(m, buf, sizeof(buf));

	if (n > 0)
		cr_sess_send(l->sess, buf, (size_t)n, cr_now_ms());
}

static void rf_ping(struct rf_dev *d, struct rf_link *l, uint64_t now)
{
	Carrier__Ping p = CARRIER__PING__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;

	p.nonce = now;
	p.ring_epoch = d->rf->ring->epoch;
	p.keepalive_ms = d->rf->keepalive_ms;
	m.msg_case = CARRIER__HOP__MSG_PING;
	m.ping = &p;
	rf_hop_send(l, &m);
	l->ping_ms = now;
	if (l->unanswered_ms == 0)
		l->unanswered_ms = now;
}

/* The current record (d->seq), signed again (Ed25519 is deterministic:
 * the same record), to one link. */
static void rf_send_record(struct rf_dev *d, struct rf_link *l, uint64_t now)
{
	struct rf *rf = d->rf;
	uint8_t blob[CP_PRESENCE_MAX];
	Carrier__SignedPresence *rec;
	Carrier__PresencePublish pub = CARRIER__PRESENCE_PUBLISH__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	struct cr_error *err = NULL;
	struct cr_presence p;
	struct in_addr a;
	size_t len;

	memset(&p, 0, sizeof(p));
	memcpy(p.device_pk, cr_sess_host_keypair(d->host)->pk, CR_PKLEN);
	p.seq = d->seq;
	/* The seconds of the sequence (unix ms): the same record each time. */
	p.issued_unix = d->seq / 1000;
	p.expires_unix = p.issued_unix + rf->presence_ttl_s;
	a.s_addr = htonl(rf_dev_addr(rf, d->index));
	snprintf(p.addrs[0], CP_ADDR_STR_MAX, "%s:%u", inet_ntoa(a),
		 (unsigned)rf->ports[d->index % rf->n_socks]);
	p.n_addrs = 1;
	for (size_t i = 0; i < rf->k; i++) {
		const struct rf_link *o = &d->links[i];

		/* The nodes that were up when the record was made: those
		 * whose acknowledgement of it is pending or done. */
		if (o->sess != NULL && o->up && o->sent_ms != 0 &&
		    p.n_attached < CP_ATTACHED_MAX)
			memcpy(p.attached[p.n_attached++],
			       rf->ring->nodes[o->node].pk, CR_PKLEN);
	}
	if (cr_presence_sign(cr_sess_host_keypair(d->host), &p, blob,
			     sizeof(blob), &len, &err) < 0) {
		fprintf(stderr, "ringfail: %s\n", cr_error_msg(err));
		exit(1);
	}
	rec = carrier__signed_presence__unpack(NULL, len, blob);
	if (rec == NULL)
		exit(1);
	pub.record = rec;
	m.req_id = d->seq;
	m.msg_case = CARRIER__HOP__MSG_PUBLISH;
	m.publish = &pub;
	rf_hop_send(l, &m);
	carrier__signed_presence__free_unpacked(rec, NULL);
	l->sent_ms = now;
}

/* A new record listing the links that are up, to each of them. */
static void rf_publish(struct rf_dev *d, uint64_t now)
{
	uint64_t s = rf_unix_ms();

	d->seq = s > d->seq ? s : d->seq + 1;
	d->dirty = 0;
	d->published_ms = now;
	for (size_t i = 0; i < d->rf->k; i++) {
		struct rf_link *l = &d->links[i];

		/* sent_ms marks the links the record lists. */
		l->sent_ms = l->sess != NULL && l->up ? 1 : 0;
	}
	for (size_t i = 0; i < d->rf->k; i++)
		if (d->links[i].sent_ms != 0)
			rf_send_record(d, &d->links[i], now);
}

/* ---- Links (agent.c's rules) --------------------------------------------- */

static int rf_node_alive(const struct rf_dev *d, int idx, uint64_t now)
{
	int any = 0;

	for (size_t i = 0; i < d->rf->k; i++) {
		const struct rf_link *l = &d->links[i];

		if (l->sess == NULL || !l->up || !l->has_view ||
		    now - l->last_pong_ms > d->rf->keepalive_ms + 500)
			continue;
		any = 1;
		if ((l->view >> idx) & 1)
			return 1;
	}
	if (!any && d->has_hint && now - d->nudge_ms < RF_HINT_MS)
		return (int)((d->hint >> idx) & 1);
	return !any;
}

static void rf_failover(struct rf_dev *d, struct rf_link *l, uint64_t now)
{
	size_t n = d->rf->ring->n_nodes, start = 0;

	for (size_t i = 0; i < n; i++)
		if (d->rank[i] == l->node)
			start = i + 1;
	for (size_t k = 0; k < 2 * n; k++) {
		int idx = d->rank[(start + k) % n], used = 0;

		for (size_t j = 0; j < d->rf->k; j++)
			used |= d->links[j].node == idx;
		if (used || (k < n && !rf_node_alive(d, idx, now)))
			continue;
		l->node = (int8_t)idx;
		l->fails = 0;
		return;
	}
}

static void rf_connect(struct rf_dev *d, struct rf_link *l, uint64_t now)
{
	struct rf *rf = d->rf;
	struct cr_error *err = NULL;

	if (l->fails >= 1)
		rf_failover(d, l, now);
	l->sess = cr_sess_connect(d->host, rf->ring->nodes[l->node].pk,
				  CR_ID_NODE, &rf->node_addr[l->node], NULL, 0,
				  now, &err);
	if (l->sess == NULL) {
		fprintf(stderr, "ringfail: %s\n", cr_error_msg(err));
		cr_error_free(err);
		l->next_attempt_ms = now + RF_BACKOFF_MAX_MS;
		return;
	}
	cr_sess_set_user(l->sess, l);
	if (rf->trace && d->index < 20)
		fprintf(stderr, "trace: link %d connect node %d fails %d dead %d\n",
			(int)(l - d->links), l->node, l->fails, rf_dead(rf, l->node));
	l->up = 0;
	l->counted = 1;
	rf->inflight++;
	rf->handshakes_started++;
}

static struct rf_link *rf_link_of(struct rf_dev *d, struct cr_sess *s)
{
	struct rf_link *l = cr_sess_user(s);

	return l >= d->links && l < d->links + d->rf->k ? l : NULL;
}

static void rf_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		  size_t reply_len, int rekey)
{
	struct rf_dev *d = ctx;
	struct rf_link *l = rf_link_of(d, s);
	uint64_t now = cr_now_ms();

	if (l == NULL || rekey || l->up)
		return;
	if (l->counted) {
		l->counted = 0;
		d->rf->inflight--;
	}
	l->up = 1;
	/* As the ring links do: a ping at once tells the node our keepalive
	 * (and confirms the session to the responder). */
	l->unanswered_ms = 0;
	rf_ping(d, l, now);
	l->last_pong_ms = now;
	d->dirty = 1;
	rf_busy(d);
}

static void rf_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		    size_t len)
{
	struct rf_dev *d = ctx;
	struct rf_link *l = rf_link_of(d, s);
	Carrier__Hop *m;

	if (l == NULL)
		return;
	m = cp_hop_unpack(msg, len);
	if (m == NULL)
		return;
	switch (m->msg_case) {
	case CARRIER__HOP__MSG_ACK:
		l->acked_seq = m->ack->seq;
		l->backoff_ms = 0;
		l->fails = 0;
		rf_check(d);
		rf_busy(d);
		break;
	case CARRIER__HOP__MSG_PONG:
		l->last_pong_ms = cr_now_ms();
		l->unanswered_ms = 0;
		l->probe_ms = 0;
		l->has_view = 0;
		if (m->pong->ring_epoch == d->rf->ring->epoch &&
		    m->pong->alive.len > 0) {
			l->view = 0;
			for (size_t i = 0; i < d->rf->ring->n_nodes &&
					   i / 8 < m->pong->alive.len;
			     i++)
				if (m->pong->alive.data[i / 8] & (1u << (i % 8)))
					l->view |= 1ull << i;
			l->has_view = 1;
		}
		break;
	case CARRIER__HOP__MSG_ERROR:
		if (m->error->code == CARRIER__ERROR__CODE__STALE)
			d->dirty = 1;
		rf_busy(d);
		break;
	default:
		break;
	}
	cp_hop_free(m);
}

static void rf_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct rf_dev *d = ctx;
	struct rf_link *l = rf_link_of(d, s);
	uint64_t now = cr_now_ms();
	int was_up;

	if (l == NULL || l->sess != s)
		return;
	was_up = l->up;
	if (d->rf->trace && d->index < 20)
		fprintf(stderr, "trace: link %d down node %d why %d up %d silent %d\n",
			(int)(l - d->links), l->node, (int)why, was_up, l->silent);
	if (l->counted) {
		l->counted = 0;
		d->rf->inflight--;
	}
	l->sess = NULL;
	l->up = 0;
	l->has_view = 0;
	l->probe_ms = l->unanswered_ms = 0;
	if (was_up)
		d->dirty = 1;
	l->fails = l->silent ? 1 : was_up ? 0 : (uint8_t)(l->fails + 1);
	l->silent_last = l->silent;
	l->silent = 0;
	l->acked_seq = 0;
	l->sent_ms = 0;
	l->backoff_ms = l->backoff_ms == 0 ? RF_BACKOFF_MIN_MS :
					     l->backoff_ms * 2;
	if (l->backoff_ms > RF_BACKOFF_MAX_MS)
		l->backoff_ms = RF_BACKOFF_MAX_MS;
	l->next_attempt_ms = now + l->backoff_ms / 2 +
			     randombytes_uniform(l->backoff_ms / 2 + 1);
	if (l->fails == 1 && l->silent_last)
		l->next_attempt_ms = now + randombytes_uniform(251);
	if (l->silent_last == 0 && l->fails >= 2 &&
	    l->fails <= d->rf->ring->n_nodes) {
		l->backoff_ms = RF_BACKOFF_MIN_MS;
		l->next_attempt_ms = now + randombytes_uniform(101);
	}
	rf_busy(d);
}

static const struct cr_sess_ops rf_ops = {
	.send = rf_send,
	.accept = rf_accept,
	.up = rf_up,
	.recv = rf_recv,
	.down = rf_down,
};

/* A nudge from a ring node's address: probe the links (agent_datagram). */
static void rf_nudge(struct rf_dev *d, const struct cr_addr *from,
		     const uint8_t *buf, size_t len, uint64_t now)
{
	struct rf *rf = d->rf;
	const uint8_t *bits;
	size_t bits_len;
	uint64_t epoch;
	int known = 0;

	if (cp_nudge_parse(buf, len, CR_ALIVE_BYTES_MAX, &epoch, &bits,
			   &bits_len) < 0 ||
	    (d->nudge_ms != 0 && now - d->nudge_ms < RF_NUDGE_GAP_MS))
		return;
	for (size_t i = 0; i < rf->ring->n_nodes && !known; i++)
		known = cr_addr_equal(&rf->node_addr[i], from);
	if (!known)
		return;
	rf->nudges++;
	d->nudge_ms = now;
	d->has_hint = 0;
	if (epoch == rf->ring->epoch) {
		d->hint = 0;
		for (size_t i = 0; i < rf->ring->n_nodes && i / 8 < bits_len; i++)
			if (bits[i / 8] & (1u << (i % 8)))
				d->hint |= 1ull << i;
		d->has_hint = 1;
	}
	for (size_t i = 0; i < rf->k; i++) {
		struct rf_link *l = &d->links[i];

		if (l->sess == NULL || !l->up || l->probe_ms != 0)
			continue;
		l->probe_ms = now;
		rf_ping(d, l, now);
	}
	rf_busy(d);
}

/* agent_on_tick for one device; returns whether it is busy (something
 * under way: looked at every RF_TICK_MS, else once a second). */
static int rf_dev_tick(struct rf_dev *d, uint64_t now)
{
	struct rf *rf = d->rf;
	int busy = 0, any = 0;

	cr_sess_host_tick(d->host, now);
	for (size_t i = 0; i < rf->k; i++) {
		struct rf_link *l = &d->links[i];

		if (l->sess == NULL) {
			busy = 1;
			/* The first attach is paced by the window. */
			if (!d->started)
				continue;
			if (now >= l->next_attempt_ms)
				rf_connect(d, l, now);
			continue;
		}
		if (!l->up) {
			busy = 1;
			continue;
		}
		if (l->unanswered_ms != 0 &&
		    (now - l->unanswered_ms > RF_PONG_TIMEOUT_MS ||
		     (now - l->unanswered_ms > rf->keepalive_ms / 2 + 100 &&
		      !rf_node_alive(d, l->node, now)))) {
			l->silent = 1;
			cr_sess_close(l->sess); /* rf_down() */
			busy = 1;
			continue;
		}
		if (l->probe_ms != 0) {
			if (now - l->probe_ms > RF_PROBE_MS) {
				l->probe_ms = 0;
				l->silent = 1;
				cr_sess_close(l->sess);
				busy = 1;
				continue;
			}
			if (now - l->ping_ms >= RF_PROBE_EVERY_MS)
				rf_ping(d, l, now);
		}
		if (now - l->ping_ms >= rf->keepalive_ms)
			rf_ping(d, l, now);
		if (l->sent_ms != 0 && l->acked_seq != d->seq &&
		    now - l->sent_ms >= RF_REPUBLISH_MS)
			rf_send_record(d, l, now);
		busy |= l->unanswered_ms != 0 || l->probe_ms != 0 ||
			(l->sent_ms != 0 && l->acked_seq != d->seq);
		any = 1;
	}
	if (any && (d->dirty || (d->published_ms != 0 &&
				 now - d->published_ms >
					 rf->presence_ttl_s * 1000 / 2)))
		rf_publish(d, now);
	rf_check(d);
	return busy || d->dirty;
}

/* ---- The loop ------------------------------------------------------------ */

static void rf_report(struct rf *rf, uint64_t now)
{
	if (rf->mark_unix_ms == 0 || now - rf->last_report_ms < 1000)
		return;
	rf->last_report_ms = now;
	printf("ringfail: t_ms=%lld reachable=%zu rehomed=%zu devices=%zu "
	       "nudges=%llu handshakes_started=%llu\n",
	       (long long)(rf_unix_ms() - rf->mark_unix_ms), rf->reach,
	       rf->rehomed, rf->n, (unsigned long long)rf->nudges,
	       (unsigned long long)rf->handshakes_started);
	fflush(stdout);
}

static void rf_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rf *rf = arg;
	uint64_t now = cr_now_ms();
	size_t per = (rf->n + RF_TICK_SLICES - 1) / RF_TICK_SLICES;
	size_t from = rf->slice * per, nb;

	/* The first attach: at most `window` handshakes in flight. */
	while (rf->started < rf->n && rf->inflight + rf->k <= rf->window) {
		struct rf_dev *d = &rf->devs[rf->started++];

		d->started = 1;
		rf_dev_tick(d, now);
		rf_busy(d);
	}
	/* Busy devices: every tick; those still busy stay on the list. */
	nb = rf->n_busy;
	rf->n_busy = 0;
	for (size_t i = 0; i < nb; i++) {
		struct rf_dev *d = &rf->devs[rf->busy[i]];

		d->busy = 0;
		if (rf_dev_tick(d, now))
			rf_busy(d);
	}
	for (size_t i = from; i < from + per && i < rf->n; i++) {
		struct rf_dev *d = &rf->devs[i];

		if (!d->busy && d->started && rf_dev_tick(d, now))
			rf_busy(d);
	}
	rf->slice = (rf->slice + 1) % RF_TICK_SLICES;
	if (!rf->attached_said && rf->started == rf->n) {
		size_t full = 0;

		for (size_t i = 0; i < rf->n; i++) {
			const struct rf_dev *d = &rf->devs[i];
			size_t ok = 0;

			for (size_t j = 0; j < rf->k; j++)
				ok += d->links[j].up && d->seq != 0 &&
				      d->links[j].acked_seq == d->seq;
			full += ok == rf->k;
		}
		if (full == rf->n) {
			rf->attached_said = 1;
			printf("ringfail: phase=attached devices=%zu links=%zu "
			       "wall_ms=%llu handshakes_started=%llu "
			       "send_errors=%llu\n",
			       rf->n, rf->n * rf->k,
			       (unsigned long long)(now - rf->start_ms),
			       (unsigned long long)rf->handshakes_started,
			       (unsigned long long)rf->send_errors);
			fflush(stdout);
		}
	}
	rf_report(rf, now);
}

static void rf_deliver(void *ctx, size_t dev, const struct cr_addr *src,
		       const uint8_t *buf, size_t len)
{
	struct rf *rf = ctx;

	if (len > 0 && buf[0] == CP_MSG_NUDGE) {
		rf_nudge(&rf->devs[dev], src, buf, len, cr_now_ms());
		return;
	}
	cr_sess_host_input(rf->devs[dev].host, src, buf, len, cr_now_ms());
}

static void rf_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct rf *rf = arg;

	simdev_read(fd, rf->fds, rf->n_socks, rf->addr_base, rf->n, rf_deliver,
		    rf);
}

/* SIGUSR1: the nodes named in the mark file died at its time. */
static void rf_on_mark(evutil_socket_t sig, short what, void *arg)
{
	struct rf *rf = arg;
	unsigned long long t;
	FILE *f = fopen(rf->mark_path, "re");
	char addr[CR_RING_ADDR_MAX + 1];

	if (f == NULL || fscanf(f, "%llu", &t) != 1) {
		fprintf(stderr, "ringfail: cannot read the mark file %s\n",
			rf->mark_path);
		if (f != NULL)
			fclose(f);
		return;
	}
	rf->dead = 0;
	while (fscanf(f, "%64s", addr) == 1)
		for (size_t i = 0; i < rf->ring->n_nodes; i++)
			if (strcmp(rf->ring->nodes[i].addr, addr) == 0)
				rf->dead |= 1ull << i;
	fclose(f);
	rf->live = rf->ring->n_nodes - (size_t)__builtin_popcountll(rf->dead);
	rf->mark_unix_ms = t;
	rf->reach = rf->rehomed = 0;
	for (size_t i = 0; i < rf->n; i++) {
		rf->devs[i].reach_ms = rf->devs[i].rehome_ms = -1;
		rf_check_at(&rf->devs[i], 1);
	}
	rf->last_report_ms = 0;
	rf_report(rf, cr_now_ms());
}

static void rf_write_times(struct rf *rf)
{
	char tmp[4200];
	FILE *f;

	if (rf->times_path == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", rf->times_path);
	f = fopen(tmp, "we");
	if (f == NULL)
		return;
	for (size_t i = 0; i < rf->n; i++)
		fprintf(f, "%d %d\n", rf->devs[i].reach_ms,
			rf->devs[i].rehome_ms);
	if (fclose(f) == 0)
		rename(tmp, rf->times_path);
}

static void rf_on_usr2(evutil_socket_t sig, short what, void *arg)
{
	rf_write_times(arg);
}

static void rf_on_term(evutil_socket_t sig, short what, void *arg)
{
	struct rf *rf = arg;

	rf_write_times(rf);
	event_base_loopexit(rf->base, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringfail --ring RING -n N [--attach K] [--sockets S]\n"
		"                [--addr-base B] [--window W] [--mark FILE]\n"
		"                [--times FILE] [--sample-ids FILE]\n"
		"                [--keepalive MS]\n"
		"N simulated devices following carrier-agent's home-link rules\n"
		"attach to K nodes each of the ring (sources 127.B.0.1 and up,\n"
		"B 16 by default); SIGUSR1 reads the kill mark, SIGUSR2 writes\n"
		"the recovery times, SIGTERM writes them and exits.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "attach", required_argument, NULL, 'k' },
		{ "sockets", required_argument, NULL, 's' },
		{ "addr-base", required_argument, NULL, 'b' },
		{ "window", required_argument, NULL, 'w' },
		{ "mark", required_argument, NULL, 'm' },
		{ "times", required_argument, NULL, 't' },
		{ "sample-ids", required_argument, NULL, 'i' },
		{ "keepalive", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rf rf = { .n_socks = 16, .window = 64, .k = 2 };
	const char *ring = NULL;
	struct cr_error *err = NULL;
	struct cr_sess_cfg cfg;
	struct event *ev_tick, *ev_term, *ev_int, *ev_usr1, *ev_usr2;
	uint64_t base = 16;
	FILE *sample = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': ring = optarg; break;
		case 'm': rf.mark_path = optarg; break;
		case 't': rf.times_path = optarg; break;
		case 'i': rf.sample_path = optarg; break;
		case 'n':
			if (simdev_parse_size(optarg, 1, RF_DEVICES_MAX, &rf.n) < 0)
				goto bad;
			break;
		case 'k':
			if (simdev_parse_size(optarg, 1, RF_LINKS_MAX, &rf.k) < 0)
				goto bad;
			break;
		case 's':
			if (simdev_parse_size(optarg, 1, RF_SOCKETS_MAX, &rf.n_socks) < 0)
				goto bad;
			break;
		case 'b':
			if (cr_parse_u64(optarg, 1, 254, &base) < 0)
				goto bad;
			break;
		case 'w':
			if (simdev_parse_size(optarg, 1, 65536, &rf.window) < 0)
				goto bad;
			break;
		case 'K': {
			uint64_t ms;

			if (cr_parse_u64(optarg, 1000, 3600000, &ms) < 0)
				goto bad;
			rf.keepalive_ms = (uint32_t)ms;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (ring == NULL || rf.n == 0 || optind != argc)
		goto bad;
	/* carrier-agent's defaults for K links (da_config_resolve): a ping
	 * every 7.5 s per link within [15 s, 30 s], a record living 5 min a
	 * link within [10, 20 min]. */
	if (rf.keepalive_ms == 0)
		rf.keepalive_ms = rf.k * 7500 < RF_KEEPALIVE_MS ? RF_KEEPALIVE_MS :
				  rf.k * 7500 > 30000 ? 30000 :
							(uint32_t)rf.k * 7500;
	rf.presence_ttl_s = rf.k * 300 < RF_PRESENCE_TTL_S ? RF_PRESENCE_TTL_S :
			    rf.k * 300 > 1200 ? 1200 : (uint32_t)rf.k * 300;
	if (rf.n / rf.n_socks + 2 >= (1u << 16)) {
		fprintf(stderr, "ringfail: more than 65,000 addresses: use more "
				"--sockets\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	cr_log_init("ringfail", CR_LOG_ERROR, 0);
	rf.addr_base = (127u << 24) | ((uint32_t)base << 16);
	if (cr_ring_load(ring, NULL, &rf.ring, &err) < 0) {
		fprintf(stderr, "ringfail: %s\n", cr_error_msg(err));
		return 1;
	}
	if (rf.ring->n_nodes > RF_NODES_MAX || rf.ring->n_nodes < rf.k) {
		fprintf(stderr, "ringfail: the ring needs %zu to %d nodes\n",
			rf.k, RF_NODES_MAX);
		return 1;
	}
	for (size_t i = 0; i < rf.ring->n_nodes; i++)
		if (cr_addr_parse(rf.ring->nodes[i].addr, &rf.node_addr[i],
				  &err) < 0) {
			fprintf(stderr, "ringfail: %s\n", cr_error_msg(err));
			return 1;
		}
	if (rf.sample_path != NULL && (sample = fopen(rf.sample_path, "we")) == NULL) {
		perror("ringfail: --sample-ids");
		return 1;
	}
	rf.base = event_base_new();
	rf.devs = calloc(rf.n, sizeof(*rf.devs));
	rf.busy = calloc(rf.n, sizeof(*rf.busy));
	if (rf.base == NULL || rf.devs == NULL || rf.busy == NULL ||
	    simdev_open_sockets("ringfail", rf.base, rf.n_socks, rf.fds, rf.ports,
				rf.ev_read, rf_on_read, &rf) < 0)
		return 1;
	/* carrier-agent's session settings (agent_sess_cfg) at its default
	 * keepalive of 15 s. */
	cr_sess_cfg_default(&cfg);
	cfg.keepalive_ms = 0;
	cfg.dead_after_ms = rf.keepalive_ms * 3 + 1000;
	cfg.rekey_idle_ms = CR_SESS_REKEY_IDLE_MS;
	cfg.rekey_busy_msgs = CR_SESS_REKEY_BUSY_MSGS;
	cfg.handshake_timeout_ms = 2500;
	cfg.handshake_retry_ms = 2500 / 4;
	cfg.scan_max_ms = rf.keepalive_ms;
	for (size_t i = 0; i < rf.n; i++) {
		struct rf_dev *d = &rf.devs[i];
		size_t rank[RF_NODES_MAX], nr;
		struct cr_keypair kp;
		struct cr_id id;

		cr_keypair_generate(CR_ID_DEVICE, &kp);
		cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
		nr = cr_ring_rank(rf.ring, id.hash, NULL, rank, RF_NODES_MAX);
		for (size_t j = 0; j < nr; j++)
			d->rank[j] = (uint8_t)rank[j];
		d->rf = &rf;
		d->index = (uint32_t)i;
		d->reach_ms = d->rehome_ms = -1;
		for (size_t j = 0; j < rf.k; j++)
			d->links[j].node = (int8_t)rank[j];
		d->host = cr_sess_host_new(&kp, &cfg, &rf_ops, d, &err);
		cr_keypair_wipe(&kp);
		if (d->host == NULL) {
			fprintf(stderr, "ringfail: %s\n", cr_error_msg(err));
			return 1;
		}
		/* Every 1000th device's identity, for lookups. */
		if (sample != NULL && i % 1000 == 0) {
			char ids[CR_ID_STRMAX];

			fprintf(sample, "%s %u %u\n", cr_id_format(&id, ids),
				(unsigned)d->rank[0], (unsigned)d->rank[1]);
		}
	}
	if (sample != NULL)
		fclose(sample);
	printf("ringfail: keys=%zu sockets=%zu addresses=%zu attach=%zu "
	       "ring_nodes=%zu\n",
	       rf.n, rf.n_socks, (rf.n + rf.n_socks - 1) / rf.n_socks, rf.k,
	       rf.ring->n_nodes);
	fflush(stdout);
	ev_tick = event_new(rf.base, -1, EV_PERSIST, rf_on_tick, &rf);
	ev_term = evsignal_new(rf.base, SIGTERM, rf_on_term, &rf);
	ev_int = evsignal_new(rf.base, SIGINT, rf_on_term, &rf);
	ev_usr1 = evsignal_new(rf.base, SIGUSR1, rf_on_mark, &rf);
	ev_usr2 = evsignal_new(rf.base, SIGUSR2, rf_on_usr2, &rf);
	if (ev_tick == NULL || ev_term == NULL || ev_int == NULL ||
	    ev_usr1 == NULL || ev_usr2 == NULL)
		return 1;
	if (rf.mark_path == NULL)
		event_del(ev_usr1);
	event_add(ev_tick, &(struct timeval){ 0, RF_TICK_MS * 1000 });
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	if (rf.mark_path != NULL)
		event_add(ev_usr1, NULL);
	event_add(ev_usr2, NULL);
	rf.start_ms = cr_now_ms();
	rf.trace = getenv("RINGFAIL_TRACE") != NULL;
	event_base_dispatch(rf.base);

	for (size_t i = 0; i < rf.n; i++)
		cr_sess_host_free(rf.devs[i].host);
	for (size_t i = 0; i < rf.n_socks; i++) {
		event_free(rf.ev_read[i]);
		close(rf.fds[i]);
	}
	event_free(ev_tick);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_usr1);
	event_free(ev_usr2);
	event_base_free(rf.base);
	cr_ring_free(rf.ring);
	free(rf.devs);
	free(rf.busy);
	return 0;
bad:
	usage(stderr);
	return 2;
}
