/*
 * The device agent's core: links to home nodes, presence publishing,
 * keepalives and re-attachment.  End-to-end sessions from vendors are
 * handed to the tunnel (tunnel.c).
 */
#include "da/agent.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/addr.h"
#include "cr/cleanup.h"
#include "cr/deploy.h"
#include "cr/health.h"
#include "cr/kv.h"
#include "cr/presence.h"
#include "cr/punch.h"
#include "cr/ring.h"
#include "cr/ringlink.h"
#include "cr/ringsync.h"
#include "cr/session.h"
#ifdef CR_HAVE_TLS
#include "cr/tlsdgram.h"
#endif
#include "cr/udp.h"
#include "da/sysinfo.h"
#include "cr/util.h"
#include "da/apps.h"
#include "da/control.h"
#include "da/provide.h"
#include "da/deploy.h"
#include "da/health.h"
#include "da/memtrim.h"
#include "da/tunnel.h"

enum {
	/* The loop's pace while something is under way (attaching, a ping
	 * unanswered, a record unacknowledged, a move): agent_next_ms(). */
	AGENT_TICK_MS = 100,
	/* Idle, it wakes only when something is due, but at least this
	 * often. */
	AGENT_IDLE_MAX_MS = 60000,
	/* The state LMDB's largest size (sequence, journal, releases: a few
	 * KiB each); a device build reserves less address space. */
#ifdef CR_DEVICE_BUILD
	AGENT_LMDB_MAP = 4 * 1024 * 1024,
#else
	AGENT_LMDB_MAP = 16 * 1024 * 1024,
#endif
	AGENT_BACKOFF_MIN_MS = 500,
	AGENT_BACKOFF_MAX_MS = 10000,
	/* An unacknowledged publish is sent again after this long: the node
	 * acknowledges only once a majority of the home set stored it. */
	AGENT_REPUBLISH_MS = 1000,
	/* agent_next_seq(): how far ahead of the sequence the mark in
	 * LMDB runs (an hour of records per flash write). */
	AGENT_SEQ_LEASE_MS = 3600 * 1000,
	/* A nudge (CP_MSG_NUDGE) makes the agent ping its nodes at once and
	 * every AGENT_PROBE_EVERY_MS; a link whose node answers none of them
	 * within AGENT_PROBE_MS is given up.  Nudges are unauthenticated: at
	 * most one is acted on per AGENT_NUDGE_GAP_MS, and a node that answers
	 * keeps its link. */
	AGENT_PROBE_MS = 1000,
	AGENT_PROBE_EVERY_MS = 250,
	AGENT_NUDGE_GAP_MS = 2000,
	/* How long a nudge's liveness view guides the choice of nodes. */
	AGENT_HINT_MS = 10000,
	/* A lost link is replaced within this long (uniformly) while another
	 * link's node answers: the device stays reachable through that one,
	 * and the devices of a dead half of the ring do not all shake hands
	 * with the other half in the same second. */
	AGENT_REPLACE_SPREAD_MS = 5000,
	/* A link that comes up while others still shake hands waits this
	 * long at most for them before the record goes out: one record to
	 * every link at attach, not one more each time a link comes up (each
	 * one a record per link, and R - 1 replicas per record between the
	 * nodes). */
	AGENT_GATHER_MS = 500,
};

/* A hop session with one home node. */
struct da_link {
	struct cr_rl_link rl;    /* first: agent_link_of() casts back */
	int node_idx;            /* index in the ring, -1 when unused */
	uint8_t node_pk[CR_PKLEN];
	struct cr_addr addr;
	uint64_t acked_seq;
	uint64_t next_attempt_ms;
	uint32_t backoff_ms;
	uint32_t fails;          /* connects in a row that came to nothing */
	int silent;              /* closed because the node stopped answering */
	int silent_last;         /* the last loss was such a close */
	uint64_t last_pong_ms;
	uint64_t unanswered_ms;  /* oldest ping without a pong, 0 if none */
	char observed[CP_ADDR_STR_MAX];
	uint64_t sent_ms;        /* the current record last sent here */
	uint64_t migrate_at_ms;  /* move to a new home node then; 0: stay */
	uint64_t probe_ms;       /* a nudge's probe started then; 0: none */
	/* The node's view of which ring nodes are alive (its last pong), for
	 * choosing where to go when a node dies; valid for view_epoch. */
	uint8_t view[CR_ALIVE_BYTES_MAX];
	size_t view_len;
	uint64_t view_epoch;
};

struct da_agent {
	struct event_base *base;
	struct da_config cfg;
	struct cr_keypair kp;
	struct cr_id id;
	struct cr_ring *ring;
	char pin_path[PATH_MAX + 16];
	char ring_save_path[PATH_MAX + 16];
	struct event *ev_tick;
	struct cr_ringlink *rl;   /* the socket, sessions, TCP fallback */
	struct cr_kv *kv;
	struct da_tunnel *tunnel;
	struct da_link links[CP_ATTACHED_MAX];
	size_t n_links;
	uint64_t seq;             /* last presence sequence used */
	uint64_t published_ms;    /* when the current record was made */
	int dirty;                /* the record must be re-made */
	uint64_t gather_ms;       /* a link came up then; 0: none waiting */
	int nat_eim;              /* mapping: 1 endpoint-independent, 0
				   * dependent, -1 not known yet */
#ifdef CR_HAVE_TLS
	struct cr_tls_cli *tls;
#endif
	uint8_t rec[CP_PRESENCE_MAX]; /* the current signed record */
	size_t rec_len;
	uint64_t acked_max;       /* highest sequence ever acknowledged */
	struct da_apps *apps;     /* with --trust */
	struct da_control *control;
	struct da_provide *provide; /* the serve worker (--serve-port) */
	char carrier[PATH_MAX];     /* the carrier program pulls run */
	struct da_deploy *deploy; /* with --trust: rollouts (da/deploy.h) */
	uint64_t health_ms;       /* when the last health record went out */
	uint64_t health_seq;      /* its sequence: strictly growing */
	/* What the last record carried of the apps. */
	struct cr_devhealth_app health_apps[CR_HEALTH_APPS];
	size_t health_n_apps;
	uint64_t health_check_ms; /* when the apps' status was last read */
	int apps_dirty;           /* the app manager ran a pass since */
	int busy;                 /* a pass since the last agent_idle_trim() */
	int kicked;               /* agent_kick() since the pass began */
	/* agent_next_seq(): the last sequence used, the mark kept in LMDB. */
	uint64_t seq_last, seq_mark;
	int seq_loaded;
	/* The last nudge acted on, and its sender's view of the live nodes:
	 * a hint for where to go while no link's node answers. */
	uint64_t nudge_ms;
	uint8_t hint[CR_ALIVE_BYTES_MAX];
	size_t hint_len;
};

/* Runs the loop's timer work at once (something changed: a link came up
 * or went down, a message came): the next wake-up is worked out again
 * there (agent_next_ms). */
static void agent_kick(struct da_agent *a)
{
	a->kicked = 1;
	if (a->ev_tick != NULL)
		event_add(a->ev_tick, &(struct timeval){ 0, 0 });
}

/* ---- Presence ------------------------------------------------------------ */

/* The presence sequence: strictly increasing across restarts (the mark
 * kept in LMDB) and across a lost data directory (the clock part),
 * whichever is larger.  The mark is a lease, AGENT_SEQ_LEASE_MS ahead of
 * the sequence last used: the periodic republish of an idle device
 * writes to flash once per lease, not once per record.  After a restart
 * the sequence starts above the mark (at most a lease ahead of the
 * clock). */
static int agent_next_seq(struct da_agent *a, uint64_t *seq,
			  struct cr_error **err)
{
	uint8_t buf[8];
	uint64_t s, now = (uint64_t)cr_now_unix() * 1000;
	size_t len;

	if (!a->seq_loaded) {
		if (cr_kv_get(a->kv, "meta", "seq", 3, buf, sizeof(buf), &len,
			      NULL) == 0 &&
		    len == 8)
			a->seq_mark = cp_get_u64(buf);
		a->seq_last = a->seq_mark;
		a->seq_loaded = 1;
	}
	s = a->seq_last + 1 > now ? a->seq_last + 1 : now;
	if (s > a->seq_mark) {
		cp_put_u64(buf, s + AGENT_SEQ_LEASE_MS);
		if (cr_kv_put(a->kv, "meta", "seq", 3, buf, 8, err) < 0)
			return -1;
		a->seq_mark = s + AGENT_SEQ_LEASE_MS;
	}
	a->seq_last = s;
	*seq = s;
	return 0;
}

static void agent_local_addrs(struct da_agent *a, struct cr_presence *p)
{
	cr_punch_local_candidates(cr_rl_fd(a->rl), p->addrs, &p->n_addrs,
				  CP_ADDRS_MAX);
}

/* Sends the current record to one home node (again, until it is
 * acknowledged). */
static void agent_send_record(struct da_agent *a, struct da_link *l)
{
	uint8_t buf[CP_MSG_MAX];
	Carrier__SignedPresence *rec;
	Carrier__PresencePublish pub = CARRIER__PRESENCE_PUBLISH__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	long n;

	rec = carrier__signed_presence__unpack(NULL, a->rec_len, a->rec);
	if (rec == NULL)
		return;
	pub.record = rec;
	m.msg_case = CARRIER__HOP__MSG_PUBLISH;
	m.publish = &pub;
	m.req_id = cr_rl_next_req(a->rl);
	n = cp_hop_pack(&m, buf, sizeof(buf));
	if (n > 0)
		cr_sess_send(l->rl.sess, buf, (size_t)n, cr_now_ms());
	l->sent_ms = cr_now_ms();
	carrier__signed_presence__free_unpacked(rec, NULL);
}

static void agent_publish(struct da_agent *a)
{
	uint8_t blob[CP_PRESENCE_MAX];
	struct cr_error *err = NULL;
	struct cr_presence p;
	uint64_t now = cr_now_unix();
	size_t len;

	memset(&p, 0, sizeof(p));
	memcpy(p.device_pk, a->kp.pk, CR_PKLEN);
	if (agent_next_seq(a, &p.seq, &err) < 0) {
		cr_log_warnx("cannot store presence sequence: %s",
			     cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	p.issued_unix = now;
	p.expires_unix = now + a->cfg.presence_ttl_ms / 1000;
	for (size_t i = 0; i < a->n_links; i++) {
		struct da_link *l = &a->links[i];
		int dup = 0;

		if (!l->rl.up)
			continue;
		if (p.n_attached < CP_ATTACHED_MAX)
			memcpy(p.attached[p.n_attached++], l->node_pk, CR_PKLEN);
		/* Over TCP a node sees a connection, not an address of
		 * ours that a peer could reach. */
		if (l->observed[0] == '\0' || p.n_addrs == CP_ADDRS_MAX ||
		    cr_rl_uses_tcp(a->rl))
			continue;
		for (size_t j = 0; j < p.n_addrs; j++)
			dup |= strcmp(p.addrs[j], l->observed) == 0;
		if (!dup)
			snprintf(p.addrs[p.n_addrs++], CP_ADDR_STR_MAX, "%s",
				 l->observed);
	}
	agent_local_addrs(a, &p);
	memcpy(p.tags, a->cfg.tags, sizeof(p.tags));
	p.n_tags = a->cfg.n_tags;
	da_tunnel_set_candidates(a->tunnel, p.addrs, p.n_addrs);
	if (cr_presence_sign(&a->kp, &p, blob, sizeof(blob), &len, &err) < 0) {
		cr_log_warnx("cannot sign presence: %s", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	a->seq = p.seq;
	a->published_ms = cr_now_ms();
	a->dirty = 0;
	a->gather_ms = 0;
	memcpy(a->rec, blob, len);
	a->rec_len = len;
	for (size_t i = 0; i < a->n_links; i++)
		if (a->links[i].rl.up)
			agent_send_record(a, &a->links[i]);
}

/* ---- Links ------------------------------------------------------------- */

/*
 * Whether ring node idx is alive as far as the home nodes we hold sessions
 * with know (their last pongs, at our epoch).  One honest node saying
 * "alive" is enough, so a lying node cannot hide live ones; with no view at
 * all every node counts as alive.
 */
static int agent_node_alive(const struct da_agent *a, size_t idx)
{
	int any = 0;

	for (size_t i = 0; i < a->n_links; i++) {
		const struct da_link *l = &a->links[i];

		/* Only a node that answered lately knows what is alive now:
		 * one that died with others left a view from before. */
		if (!l->rl.up || l->view_len == 0 ||
		    l->view_epoch != a->ring->epoch ||
		    cr_now_ms() - l->last_pong_ms > a->cfg.keepalive_ms + 500)
			continue;
		any = 1;
		if (cr_alive_get(l->view, l->view_len, idx))
			return 1;
	}
	/* No node we reach has a view: a recent nudge's view orders the
	 * first pass of the ranking (a lying nudge costs a failed
	 * handshake; the second pass tries every node anyway). */
	if (!any && a->hint_len != 0 && cr_now_ms() - a->nudge_ms < AGENT_HINT_MS)
		return cr_alive_get(a->hint, a->hint_len, idx);
	return !any;
}

/*
 * A home node that stays unreachable is replaced by the next node in the
 * device's ranking that no link uses and that the live home nodes see
 * alive (any node when none is), so a device keeps its sessions when nodes
 * die.  Returns 1 when the link moved.
 */
static int agent_link_failover(struct da_agent *a, struct da_link *l)
{
	enum { RANK_MAX = 64 };
	size_t rank[RANK_MAX], n;
	struct cr_addr addr;
	char ids[CR_ID_STRMAX];

	n = cr_ring_rank(a->ring, a->id.hash, NULL, rank, RANK_MAX);
	/* Start after the link's current node, wrapping around, so repeated
	 * failures walk the whole ranking. */
	size_t start = 0;
	for (size_t i = 0; i < n; i++)
		if ((int)rank[i] == l->node_idx)
			start = i + 1;
	for (size_t k = 0; k < 2 * n; k++) {
		size_t idx = rank[(start + k) % n];
		int used = 0;

		for (size_t j = 0; j < a->n_links; j++)
			used |= a->links[j].node_idx == (int)idx;
		/* First pass: live nodes only; second: any. */
		if (used || (k < n && !agent_node_alive(a, idx)) ||
		    cr_addr_parse(a->ring->nodes[idx].addr, &addr, NULL) < 0)
			continue;
		l->node_idx = (int)idx;
		memcpy(l->node_pk, a->ring->nodes[idx].pk, CR_PKLEN);
		l->addr = addr;
		l->observed[0] = '\0';
		l->fails = 0;
		cr_log_info("home node unreachable: trying node %s (%s)",
			    cr_id_format(&a->ring->nodes[idx].id, ids),
			    a->ring->nodes[idx].addr);
		return 1;
	}
	return 0;
}

static void agent_link_connect(struct da_agent *a, struct da_link *l,
			       uint64_t now)
{
	struct cr_error *err = NULL;

	if (l->fails >= 1)
		agent_link_failover(a, l);

	if (cr_rl_dial(a->rl, &l->rl, l->node_pk, &l->addr, now, &err) < 0) {
		cr_log_warnx("cannot start a session: %s", cr_error_msg(err));
		cr_error_free(err);
		l->next_attempt_ms = now + AGENT_BACKOFF_MAX_MS;
		return;
	}
	cr_sess_set_user(l->rl.sess, l);
}

/* Whether a link other than l is up, acknowledged and answering: the
 * device is reachable through it while l is replaced. */
static int agent_other_live(const struct da_agent *a, const struct da_link *l,
			    uint64_t now)
{
	for (size_t i = 0; i < a->n_links; i++) {
		const struct da_link *o = &a->links[i];

		if (o != l && o->rl.up && o->acked_seq != 0 &&
		    o->probe_ms == 0 &&
		    now - o->last_pong_ms < a->cfg.keepalive_ms + 3000)
			return 1;
	}
	return 0;
}

/* A link's session ended (cr_rl_ops.link_down). */
static void agent_link_lost(void *arg, struct cr_rl_link *rl, int was_up)
{
	struct da_agent *a = arg;
	struct da_link *l = (struct da_link *)rl;
	uint64_t now = cr_now_ms();
	char ids[CR_ID_STRMAX];
	struct cr_id nid;

	if (was_up) {
		cr_id_from_pk(CR_ID_NODE, l->node_pk, &nid);
		cr_log_info("lost node %s; re-attaching",
			    cr_id_format(&nid, ids));
		a->dirty = 1;
		/* It was up until now: the fallback policy, which an idle
		 * agent has not run for a while, counts from here. */
		cr_rl_note_up(a->rl, now);
	}
	agent_kick(a);
	/* A node that stopped answering pings counts as failed at once, so
	 * the next attempt already goes to the next node in the ranking. */
	l->fails = l->silent ? 1 : was_up ? 0 : l->fails + 1;
	l->silent_last = l->silent;
	l->silent = 0;
	l->acked_seq = 0;
	l->backoff_ms = l->backoff_ms == 0 ? AGENT_BACKOFF_MIN_MS :
					     l->backoff_ms * 2;
	if (l->backoff_ms > AGENT_BACKOFF_MAX_MS)
		l->backoff_ms = AGENT_BACKOFF_MAX_MS;
	/* Jitter spreads a ring's worth of devices re-attaching at once.
	 * A dead node's devices go elsewhere (failover) within 250 ms. */
	l->next_attempt_ms = now + l->backoff_ms / 2 +
			     randombytes_uniform(l->backoff_ms / 2 + 1);
	if (l->fails == 1 && l->silent_last)
		l->next_attempt_ms = now + randombytes_uniform(251);
	/* Walking the ranking after a dead node (each attempt goes to
	 * another node, so none is hammered): the next one at once, the
	 * backoff only once every node was tried. */
	if (l->silent_last == 0 && l->fails >= 2 &&
	    l->fails <= a->ring->n_nodes) {
		l->backoff_ms = AGENT_BACKOFF_MIN_MS;
		l->next_attempt_ms = now + randombytes_uniform(101);
	}
	/* The first attempt after losing a link that was up, while another
	 * still answers: no hurry (AGENT_REPLACE_SPREAD_MS). */
	if ((was_up || (l->fails == 1 && l->silent_last)) &&
	    agent_other_live(a, l, now))
		l->next_attempt_ms = now + randombytes_uniform(
						   AGENT_REPLACE_SPREAD_MS + 1);
}

static int agent_setup_links(struct da_agent *a, struct cr_error **err)
{
	size_t rank[CP_ATTACHED_MAX];
	size_t want = a->cfg.attach < CP_ATTACHED_MAX ? a->cfg.attach :
							  CP_ATTACHED_MAX;
	size_t n = cr_ring_rank(a->ring, a->id.hash, NULL, rank, want);

	for (size_t i = 0; i < n; i++) {
		struct da_link *l = &a->links[i];

		memset(l, 0, sizeof(*l));
		l->node_idx = (int)rank[i];
		memcpy(l->node_pk, a->ring->nodes[rank[i]].pk, CR_PKLEN);
		if (cr_addr_parse(a->ring->nodes[rank[i]].addr, &l->addr,
				  err) < 0)
			return cr_error_wrap(err, "ring node address");
	}
	a->n_links = n;
	return 0;
}

/*
 * What two or more nodes see of us tells how our NAT maps (RFC 4787): the
 * same address and port from every node means endpoint-independent
 * mapping, so a peer can reach us at that address once we sent to it;
 * different ports mean endpoint-dependent (symmetric) mapping, where only
 * the peer-reflexive address a peer learns from our probes works.
 */
static void agent_nat_check(struct da_agent *a)
{
	const char *first = NULL;
	int n = 0, same = 1;

	for (size_t i = 0; i < a->n_links; i++) {
		if (!a->links[i].rl.up || a->links[i].observed[0] == '\0')
			continue;
		if (first == NULL)
			first = a->links[i].observed;
		else
			same &= strcmp(first, a->links[i].observed) == 0;
		n++;
	}
	if (n < 2 || same == a->nat_eim || cr_rl_uses_tcp(a->rl))
		return;
	a->nat_eim = same;
	cr_log_info("reflexive address %s seen by %d nodes: %s", first, n,
		    same ? "NAT maps endpoint-independently" :
			   "NAT maps endpoint-dependently (symmetric)");
}

/* ---- Ring epochs ------------------------------------------------------- */

/* Moves link l to the first node of the device's new ranking that no link
 * uses (called at its jittered moment after an epoch change). */
static void agent_link_migrate(struct da_agent *a, struct da_link *l,
			       uint64_t now)
{
	size_t rank[CP_ATTACHED_MAX], n;
	char ids[CR_ID_STRMAX];

	n = cr_ring_rank(a->ring, a->id.hash, NULL, rank, a->n_links);
	for (size_t i = 0; i < n; i++) {
		struct cr_addr addr;
		int used = 0;

		for (size_t j = 0; j < a->n_links; j++)
			used |= a->links[j].node_idx == (int)rank[i];
		if (used || cr_addr_parse(a->ring->nodes[rank[i]].addr, &addr,
					  NULL) < 0)
			continue;
		if (l->rl.sess != NULL)
			cr_sess_close(l->rl.sess); /* agent_link_lost() */
		l->node_idx = (int)rank[i];
		memcpy(l->node_pk, a->ring->nodes[rank[i]].pk, CR_PKLEN);
		l->addr = addr;
		l->observed[0] = '\0';
		l->fails = 0;
		l->backoff_ms = 0;
		l->next_attempt_ms = now;
		cr_log_info("ring epoch %llu: moving a session to home node %s "
			    "(%s)",
			    (unsigned long long)a->ring->epoch,
			    cr_id_format(&a->ring->nodes[rank[i]].id, ids),
			    a->ring->nodes[rank[i]].addr);
		return;
	}
}

/* A newer configuration was accepted: links to nodes that are no longer
 * among the device's home nodes move, each at a random moment within the
 * migration window, so that the devices of a ring do not all move at once. */
static void agent_ring_changed(struct da_agent *a, struct cr_ring *r)
{
	size_t rank[CP_ATTACHED_MAX], n, moving = 0;
	struct cr_ring *old = a->ring;
	uint64_t now = cr_now_ms();

	a->ring = r;
	cr_rl_set_ring(a->rl, r);
	n = cr_ring_rank(r, a->id.hash, NULL, rank, a->n_links);
	for (size_t i = 0; i < a->n_links; i++) {
		struct da_link *l = &a->links[i];
		int keep = 0;

		l->node_idx = cr_ring_find(r, l->node_pk);
		l->view_len = 0; /* its indices were for the old epoch */
		for (size_t j = 0; j < n; j++)
			keep |= l->node_idx == (int)rank[j];
		if (keep) {
			l->migrate_at_ms = 0;
			continue;
		}
		l->migrate_at_ms = now + 1 +
				   randombytes_uniform(
					   (uint32_t)a->cfg.migrate_window_ms + 1);
		moving++;
	}
	cr_log_info("accepted ring configuration epoch %llu (%zu nodes); "
		    "%zu of %zu home-node sessions move within %llu ms",
		    (unsigned long long)r->epoch, r->n_nodes, moving,
		    a->n_links, (unsigned long long)a->cfg.migrate_window_ms);
	cr_ring_free(old);
}

/* A node sent a newer ring configuration, signed by the operator. */
static void agent_ring_adopted(void *arg, struct cr_rl_link *l,
			       struct cr_ring *r)
{
	agent_ring_changed(arg, r);
	agent_kick(arg);
}

static void agent_ring_refused(void *arg, struct cr_rl_link *rl,
			       uint64_t epoch, uint64_t n_refused,
			       const struct cr_error *err)
{
	struct da_link *l = (struct da_link *)rl;
	char ids[CR_ID_STRMAX];
	struct cr_id nid;

	/* Only the operator's key makes an epoch: whatever a node claims,
	 * the device keeps its ring.  Logged sparingly, a lying node may
	 * keep trying. */
	if ((n_refused - 1) % 64 != 0)
		return;
	cr_id_from_pk(CR_ID_NODE, l->node_pk, &nid);
	cr_log_warnx("refused ring configuration epoch %llu from node %s "
		     "(%llu refused): %s",
		     (unsigned long long)epoch, cr_id_format(&nid, ids),
		     (unsigned long long)n_refused, cr_error_msg(err));
}

/* A node's message to a link (cr_rl_ops.link_msg). */
static void agent_on_hop(void *arg, struct cr_rl_link *rl, Carrier__Hop *m)
{
	struct da_agent *a = arg;
	struct da_link *l = (struct da_link *)rl;
	char ids[CR_ID_STRMAX];
	struct cr_id nid;

	/* What it says may be due at once (an acknowledgement, a pong, a
	 * move): the loop's timer work runs after it. */
	agent_kick(a);
	cr_id_from_pk(CR_ID_NODE, l->node_pk, &nid);
	if (a->deploy != NULL &&
	    da_deploy_on_hop(a->deploy, (int)(l - a->links), m)) {
		cp_hop_free(m);
		return;
	}
	switch (m->msg_case) {
	case CARRIER__HOP__MSG_ACK:
		if (l->acked_seq == 0) {
			cr_log_info("attached to node %s as %s",
				    cr_id_format(&nid, ids),
				    m->ack->observed_addr);
			da_deploy_attached(a->deploy,
					   (int)(l - a->links));
		}
		l->acked_seq = m->ack->seq;
		if (m->ack->seq > a->acked_max)
			a->acked_max = m->ack->seq;
		l->backoff_ms = 0;
		l->fails = 0;
		if (m->ack->observed_addr != NULL &&
		    strcmp(l->observed, m->ack->observed_addr) != 0 &&
		    strlen(m->ack->observed_addr) < sizeof(l->observed)) {
			/* Our address as the ring sees it changed (NAT
			 * rebinding): publish it. */
			snprintf(l->observed, sizeof(l->observed), "%s",
				 m->ack->observed_addr);
			a->dirty = 1;
			agent_nat_check(a);
		}
		break;
	case CARRIER__HOP__MSG_PONG:
		l->last_pong_ms = cr_now_ms();
		l->unanswered_ms = 0;
		l->probe_ms = 0;
		if (m->pong->alive.len <= sizeof(l->view)) {
			memcpy(l->view, m->pong->alive.data, m->pong->alive.len);
			l->view_len = m->pong->alive.len;
			l->view_epoch = m->pong->ring_epoch;
		}
		break;
	case CARRIER__HOP__MSG_ERROR:
		cr_log_warnx("node %s: %s", cr_id_format(&nid, ids),
			     m->error->message);
		if (m->error->code == CARRIER__ERROR__CODE__STALE)
			a->dirty = 1;
		break;
	case CARRIER__HOP__MSG_OFFER:
		da_tunnel_offer(a->tunnel, m->offer, &l->addr);
		break;
	default:
		break;
	}
	cp_hop_free(m);
}

static void agent_ping(struct da_agent *a, struct da_link *l, uint64_t now)
{
	cr_rl_ping(a->rl, &l->rl, now);
	if (l->unanswered_ms == 0)
		l->unanswered_ms = now;
}

/* ---- Session callbacks ------------------------------------------------- */

static int agent_peer_accept(void *ctx, const struct cr_id *peer,
			     const uint8_t pk[CR_PKLEN],
			     const struct cr_addr *from, const uint8_t *hello,
			     size_t hello_len, uint8_t *reply,
			     size_t *reply_len, void **user)
{
	struct da_agent *a = ctx;

	/* A device of the fleet reaching our archon serve port presents its
	 * fleet credential in the hello. */
	if (peer->type == CR_ID_DEVICE)
		return da_tunnel_accept_peer(a->tunnel, peer, hello, hello_len,
					     reply, reply_len);
	if (peer->type != CR_ID_VENDOR)
		return -1;
	return da_tunnel_accept(a->tunnel, peer, from, reply, reply_len);
}

static struct cr_rl_link *agent_link_of(void *arg, struct cr_sess *s)
{
	struct da_agent *a = arg;
	struct da_link *l = cr_sess_user(s);

	return l >= a->links && l < a->links + CP_ATTACHED_MAX ? &l->rl : NULL;
}

/* A link came up, and the ring links pinged the node at once: that tells
 * it our keepalive interval (and epoch), so a device that vanishes before
 * its first interval is up is offline after a few intervals, not after the
 * session's dead time. */
static void agent_link_up(void *arg, struct cr_rl_link *rl)
{
	struct da_agent *a = arg;
	struct da_link *l = (struct da_link *)rl;

	l->last_pong_ms = l->unanswered_ms = rl->ping_ms;
	if (a->gather_ms == 0)
		a->gather_ms = cr_now_ms();
	a->dirty = 1;
	agent_kick(a);
}

static void agent_peer_up(void *arg, struct cr_sess *s, const uint8_t *reply,
			  size_t reply_len, int rekey)
{
	struct da_agent *a = arg;

	if (!rekey)
		da_tunnel_up(a->tunnel, s);
	agent_kick(a);
}

static void agent_peer_recv(void *arg, struct cr_sess *s, const uint8_t *msg,
			    size_t len)
{
	struct da_agent *a = arg;

	da_tunnel_recv(a->tunnel, s, msg, len);
}

static void agent_peer_down(void *arg, struct cr_sess *s)
{
	struct da_agent *a = arg;

	da_tunnel_down(a->tunnel, s);
	agent_kick(a);
}

static void agent_flush(void *arg)
{
	struct da_agent *a = arg;

	da_tunnel_flush(a->tunnel);
}

/* Tests only: while a config flagged to cut the device off is tried,
 * what ring nodes send is dropped (the links time out, as when a config
 * broke the device's network). */
static int agent_ring_cut(struct da_agent *a, const struct cr_addr *from)
{
	if (a->apps == NULL || !da_apps_ring_cut(a->apps))
		return 0;
	for (size_t i = 0; i < a->ring->n_nodes; i++) {
		struct cr_addr na;

		if (cr_addr_parse(a->ring->nodes[i].addr, &na, NULL) == 0 &&
		    cr_addr_equal(&na, from))
			return 1;
	}
	return 0;
}

/*
 * A nudge: a ring node saw every node we are attached to die.  It proves
 * nothing (anyone can send one), so it only makes us ask our nodes
 * ourselves, now instead of at the next keepalive: a node that answers
 * within AGENT_PROBE_MS keeps its link.  Taken only from a ring node's
 * address and at most once per AGENT_NUDGE_GAP_MS, so a flood of forged
 * nudges costs a device a few pings a second at most.
 */
static int agent_datagram(void *arg, const struct cr_addr *from,
			  const uint8_t *buf, size_t len)
{
	struct da_agent *a = arg;
	uint64_t now = cr_now_ms(), epoch;
	const uint8_t *bits;
	size_t bits_len;
	int known = 0;

	if (len == 0 || buf[0] != CP_MSG_NUDGE)
		return agent_ring_cut(a, from);
	if (cp_nudge_parse(buf, len, sizeof(a->hint), &epoch, &bits,
			   &bits_len) < 0 ||
	    (a->nudge_ms != 0 && now - a->nudge_ms < AGENT_NUDGE_GAP_MS))
		return 1;
	for (size_t i = 0; i < a->ring->n_nodes && !known; i++) {
		struct cr_addr na;

		known = cr_addr_parse(a->ring->nodes[i].addr, &na, NULL) == 0 &&
			cr_addr_equal(&na, from);
	}
	if (!known)
		return 1;
	a->nudge_ms = now;
	a->hint_len = 0;
	if (epoch == a->ring->epoch) {
		a->hint_len = bits_len;
		memcpy(a->hint, bits, bits_len);
	}
	cr_log_info("a ring node reports our nodes dead: checking them");
	for (size_t i = 0; i < a->n_links; i++) {
		struct da_link *l = &a->links[i];

		if (l->rl.sess == NULL || !l->rl.up || l->probe_ms != 0)
			continue;
		l->probe_ms = now;
		agent_ping(a, l, now);
	}
	/* The probes are timed by the loop's pass: run it now, and at
	 * AGENT_TICK_MS while they last (agent_next_ms). */
	agent_kick(a);
	return 1;
}

/* The agent's part of `carrier sysinfo`: the NAT type its observed
 * addresses show, the transport, and each home link (the path to the
 * ring). */
static void agent_sysinfo(void *arg, struct da_sysinfo_buf *b)
{
	struct da_agent *a = arg;
	uint64_t now = cr_now_ms();

	da_sysinfo_line(b, "nat", "%s",
			a->nat_eim == 1 ? "endpoint-independent" :
			a->nat_eim == 0 ? "endpoint-dependent" :
					  "unknown");
	da_sysinfo_line(b, "transport", "%s",
			cr_rl_uses_tcp(a->rl) ? "tcp" : "udp");
	for (size_t i = 0; i < a->n_links; i++) {
		const struct da_link *l = &a->links[i];
		char ids[CR_ID_STRMAX], addr[CR_ADDR_STRMAX];
		struct cr_id nid;

		if (l->node_idx < 0)
			continue;
		cr_id_from_pk(CR_ID_NODE, l->node_pk, &nid);
		cr_addr_format(&l->addr, addr);
		da_sysinfo_line(b, "ring", "%s %s %s observed %s last_pong_ms %llu",
				cr_id_format(&nid, ids), addr,
				l->rl.up && l->acked_seq == a->seq ? "up" :
								     "down",
				l->observed[0] ? l->observed : "-",
				l->last_pong_ms != 0 ?
					(unsigned long long)(now -
							     l->last_pong_ms) :
					0ULL);
	}
}

static const struct cr_rl_ops agent_rl_ops = {
	.datagram = agent_datagram,
	.link_of = agent_link_of,
	.link_up = agent_link_up,
	.link_msg = agent_on_hop,
	.link_down = agent_link_lost,
	.ring_adopted = agent_ring_adopted,
	.ring_refused = agent_ring_refused,
	.peer_accept = agent_peer_accept,
	.peer_up = agent_peer_up,
	.peer_recv = agent_peer_recv,
	.peer_down = agent_peer_down,
	.flush = agent_flush,
};

#ifdef CR_HAVE_TLS
static void agent_tls_send(void *tls, const struct cr_addr *to,
			   const uint8_t *buf, size_t len)
{
	cr_tls_cli_send(tls, to, buf, len);
}
#endif

/* ---- Loop ---------------------------------------------------------------- */

/* A health record (da/health.h) to one attached node every
 * --health-interval: the node keeps the newest, the vendor reads it. */
static void agent_health(struct da_agent *a, uint64_t now)
{
	/* Several KiB: on the heap, not on a device's small stack. */
	CR_CLEANUP_FREE struct cr_devhealth *apps = NULL;
	uint8_t buf[CP_MSG_MAX];
	struct cr_error *err = NULL;
	struct da_link *pick = NULL;
	uint64_t seq = cr_fleet_wall_ms();
	char *status;
	int changed;
	long n;

	/* The apps' status is looked at when the app manager ran a pass
	 * (agent_apps_changed), at most once a second, and for the record
	 * every --health-interval. */
	if (a->health_ms != 0 && now - a->health_check_ms < 1000)
		return;
	if (a->health_ms != 0 && !a->apps_dirty &&
	    now - a->health_ms < a->cfg.health_interval_ms)
		return;
	a->health_check_ms = now;
	apps = calloc(1, sizeof(*apps));
	if (apps == NULL)
		return;
	status = a->apps != NULL ? da_apps_status(a->apps) : NULL;
	/* Changed: what the record carries of the apps (name, version,
	 * state, last error), not the status' other fields. */
	da_health_apps(status, apps);
	changed = apps->n_apps != a->health_n_apps ||
		  memcmp(apps->apps, a->health_apps,
			 apps->n_apps * sizeof(apps->apps[0])) != 0;
	/* At once when an app's state changed (at most once a second),
	 * else every --health-interval. */
	if (a->health_ms != 0 && !changed &&
	    now - a->health_ms < a->cfg.health_interval_ms) {
		a->apps_dirty = 0;
		free(status);
		return;
	}
	for (size_t i = 0; i < a->n_links && pick == NULL; i++)
		if (a->links[i].rl.up && a->links[i].rl.sess != NULL &&
		    a->links[i].acked_seq == a->seq)
			pick = &a->links[i];
	if (pick == NULL) {
		free(status);
		return;
	}
	a->health_ms = now;
	a->apps_dirty = 0;
	memcpy(a->health_apps, apps->apps, sizeof(a->health_apps));
	a->health_n_apps = apps->n_apps;
	if (seq <= a->health_seq)
		seq = a->health_seq + 1;
	a->health_seq = seq;
	n = da_health_record(&a->kp, a->cfg.data_dir, status, seq, buf,
			     sizeof(buf), &err);
	free(status);
	if (n < 0) {
		cr_log_warnx("health record: %s", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	cr_sess_send(pick->rl.sess, buf, (size_t)n, now);
}

/* Earliest of *next and at (both absolute ms). */
static void agent_due(uint64_t *next, uint64_t at)
{
	if (at < *next)
		*next = at;
}

/* How long the loop may sleep after a pass of agent_on_tick: while
 * something is under way, AGENT_TICK_MS as it always was; idle (every link
 * up and answering, the record acknowledged everywhere, no move pending),
 * until the next ping, record refresh, health record or session timer is
 * due, so that an idle device wakes for its keepalives and little else
 * (bench/device-idle.sh).  Whatever changes that picture arrives as a
 * message or a session event, which runs the pass again (agent_kick). */
static uint64_t agent_next_ms(struct da_agent *a, uint64_t now)
{
	uint64_t ka = a->cfg.keepalive_ms;
	uint64_t next = now + AGENT_IDLE_MAX_MS;
	uint64_t sess;

	if (a->dirty || a->n_links == 0)
		return AGENT_TICK_MS;
	for (size_t i = 0; i < a->n_links; i++) {
		const struct da_link *l = &a->links[i];

		if (l->rl.sess == NULL || !l->rl.up || l->unanswered_ms != 0 ||
		    l->migrate_at_ms != 0 || l->probe_ms != 0 ||
		    (l->acked_seq != a->seq && a->rec_len != 0))
			return AGENT_TICK_MS;
		agent_due(&next, l->rl.ping_ms + ka);
	}
	if (a->published_ms != 0)
		agent_due(&next, a->published_ms + a->cfg.presence_ttl_ms / 2 + 1);
	if (a->health_ms == 0)
		return AGENT_TICK_MS;
	agent_due(&next, a->health_ms + a->cfg.health_interval_ms);
	/* The apps' state, when the app manager ran a pass since it was
	 * read (agent_health). */
	if (a->apps_dirty)
		agent_due(&next, a->health_check_ms + 1000);
	/* The sessions' own timers (handshakes, dead, rekey): at most
	 * scan_max_ms apart (agent_sess_cfg). */
	sess = cr_sess_host_tick(cr_rl_host(a->rl), now);
	agent_due(&next, now + sess);
	return next > now ? next - now : 1;
}

/* Busy passes over, the loop sleeps until its next keepalive: what they
 * used and no longer needs stops counting against the device's memory
 * (da_mem_trim: the heap's free pages; issue 16, bench/device-idle.sh). */
static void agent_idle_trim(struct da_agent *a)
{
	a->busy = 0;
	da_mem_trim();
}

static void agent_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct da_agent *a = arg;
	uint64_t now = cr_now_ms();
	uint64_t ka = a->cfg.keepalive_ms;
	uint64_t pong_timeout = ka < 3000 ? ka * 2 + 500 : 3000;
	uint64_t next;
	int any = 0, due;

	a->kicked = 0;
	for (size_t i = 0; i < a->n_links; i++)
		any |= a->links[i].rl.up;
	if (cr_rl_tick(a->rl, any, now)) {
		/* Try the other way now, not after a link's backoff. */
		for (size_t i = 0; i < a->n_links; i++)
			if (a->links[i].rl.sess == NULL)
				a->links[i].next_attempt_ms = now;
		if (cr_rl_uses_tcp(a->rl))
			cr_log_info("no ring node answers over UDP: "
				    "reaching the ring over TCP");
		else
			cr_log_info("no ring node answers over TCP "
				    "either: trying UDP again");
	}
	/* A link whose ping is due takes along those due within a quarter
	 * interval: the links' pings fall in one wake-up from then on, not one
	 * each (an idle device's wake-ups, bench/device-idle.sh). */
	due = 0;
	for (size_t i = 0; i < a->n_links; i++)
		due |= a->links[i].rl.sess != NULL && a->links[i].rl.up &&
		       now - a->links[i].rl.ping_ms >= ka;
	for (size_t i = 0; i < a->n_links; i++) {
		struct da_link *l = &a->links[i];

		if (l->rl.sess == NULL) {
			if (now >= l->next_attempt_ms)
				agent_link_connect(a, l, now);
			continue;
		}
		if (!l->rl.up)
			continue;
		/* A node whose pings go unanswered, and that a node we
		 * reach sees dead, is given up at once; a node cannot make
		 * us drop a link that still answers. */
		if (l->unanswered_ms != 0 &&
		    (now - l->unanswered_ms > pong_timeout ||
		     (now - l->unanswered_ms > ka / 2 + 100 && l->node_idx >= 0 &&
		      !agent_node_alive(a, (size_t)l->node_idx)))) {
			/* The node forgot us (restart) or the path died:
			 * a fresh handshake finds out which. */
			l->silent = 1;
			cr_sess_close(l->rl.sess);
			continue;
		}
		if (l->probe_ms != 0) {
			/* A nudge's probe: the node answered none of our
			 * pings since it started. */
			if (now - l->probe_ms > AGENT_PROBE_MS) {
				l->probe_ms = 0;
				l->silent = 1;
				cr_sess_close(l->rl.sess);
				continue;
			}
			if (now - l->rl.ping_ms >= AGENT_PROBE_EVERY_MS)
				agent_ping(a, l, now);
		}
		if (now - l->rl.ping_ms >= (due ? ka - ka / 4 : ka))
			agent_ping(a, l, now);
		if (l->acked_seq != a->seq && a->rec_len != 0 &&
		    now - l->sent_ms >= AGENT_REPUBLISH_MS)
			agent_send_record(a, l);
	}
	for (size_t i = 0; i < a->n_links; i++) {
		struct da_link *l = &a->links[i];

		if (l->migrate_at_ms != 0 && now >= l->migrate_at_ms) {
			l->migrate_at_ms = 0;
			agent_link_migrate(a, l, now);
		}
	}
	if (a->dirty ||
	    (a->published_ms != 0 &&
	     now - a->published_ms > a->cfg.presence_ttl_ms / 2)) {
		int shaking = 0;

		any = 0;
		for (size_t i = 0; i < a->n_links; i++) {
			any |= a->links[i].rl.up;
			shaking |= a->links[i].rl.sess != NULL &&
				   !a->links[i].rl.up;
		}
		/* Links still shaking hands: the record waits for them a
		 * little (AGENT_GATHER_MS). */
		if (any && !(shaking && a->gather_ms != 0 &&
			     now - a->gather_ms < AGENT_GATHER_MS))
			agent_publish(a);
	}
	agent_health(a, now);
	next = agent_next_ms(a, cr_now_ms());
	/* Something changed during the pass (a callback): again at once. */
	if (a->kicked)
		next = 0;
	if (next < 1000)
		a->busy = 1;
	else if (a->busy)
		agent_idle_trim(a);
	event_add(a->ev_tick, &(struct timeval){ (time_t)(next / 1000),
						 (suseconds_t)(next % 1000) * 1000 });
}

/* ---- Life cycle ---------------------------------------------------------- */

/* The keepalive interval our pings tell the nodes. */
static uint32_t agent_ping_keepalive(const struct da_config *cfg)
{
	return cfg->keepalive_ms > UINT32_MAX ? UINT32_MAX :
						(uint32_t)cfg->keepalive_ms;
}

static void agent_sess_cfg(const struct da_config *cfg, struct cr_sess_cfg *sc)
{
	cr_sess_cfg_default(sc);
	/* Our pings keep NAT mappings open; session keepalives would only
	 * add traffic. */
	sc->keepalive_ms = 0;
	sc->dead_after_ms = (uint32_t)(cfg->keepalive_ms * 3 + 1000);
	/* Rekey by need: an idle device's links (pings, a record now and
	 * then) keep their keys up to an hour, busy ones rekey every 2 min
	 * (docs/design/ring-cluster.md, "Rekeying idle sessions"). */
	sc->rekey_idle_ms = CR_SESS_REKEY_IDLE_MS;
	sc->rekey_busy_msgs = CR_SESS_REKEY_BUSY_MSGS;
	/* A node that does not answer in 2.5 s (or the ping interval, when
	 * shorter, but at least 1 s) is given up, and the next attempt goes
	 * to the next node in the ranking: the ping interval sets how fast a
	 * device notices a dead node, and so how fast it moves. */
	sc->handshake_timeout_ms =
		cfg->keepalive_ms >= 2500 ? 2500 :
		cfg->keepalive_ms <= 1000 ? 1000 :
					    (uint32_t)cfg->keepalive_ms;
	sc->handshake_retry_ms = sc->handshake_timeout_ms / 4;
	/* An idle device sleeps between its keepalives: the sessions' timer
	 * pass (dead, rekey) need not run more often than that. */
	sc->scan_max_ms = cfg->keepalive_ms < 1000   ? 1000 :
			  cfg->keepalive_ms > 600000 ? 600000 :
						       (uint32_t)cfg->keepalive_ms;
}

static int agent_attached_cb(void *arg)
{
	return da_agent_attached(arg);
}

/* The device serves its apps' store to the fleet on the first
 * --serve-port (da/provide.h). */
static int agent_provide_start(struct da_agent *a, const char *store,
			       struct cr_error **err)
{
	struct da_provide_cfg pc = { 0 };

	if (a->cfg.n_serve_ports == 0)
		return 0;
	pc.store_dir = store;
	pc.ring_path = a->cfg.ring_path;
	pc.ring_saved = a->ring_save_path;
	pc.key_path = a->cfg.key_path;
	pc.port = a->cfg.serve_ports[0];
	a->provide = da_provide_new(a->base, &pc, err);
	return a->provide == NULL ? cr_error_wrap(err, "serve") : 0;
}

/* KORHAL_TEST_DROP_PUSHES (tests only): "all", or for how many seconds
 * to throw pushed deployments away. */
static unsigned agent_test_drop_pushes(void)
{
	const char *v = getenv("KORHAL_TEST_DROP_PUSHES");
	unsigned long n;
	char *end;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (strcmp(v, "all") == 0 || errno != 0 || *end != '\0' ||
	    n >= UINT_MAX)
		return UINT_MAX;
	return (unsigned)n;
}

/* The rollout's messages to the ring: to home link idx, or to the first
 * link whose node holds our presence (reports). */
static int agent_deploy_send(void *arg, int idx, const uint8_t *msg,
			     size_t len)
{
	struct da_agent *a = arg;
	struct da_link *pick = NULL;

	if (idx >= 0 && (size_t)idx < a->n_links) {
		pick = &a->links[idx];
	} else {
		for (size_t i = 0; i < a->n_links && pick == NULL; i++)
			if (a->links[i].rl.up &&
			    a->links[i].acked_seq == a->seq)
				pick = &a->links[i];
	}
	if (pick == NULL || pick->rl.sess == NULL || !pick->rl.up)
		return -1;
	cr_sess_send(pick->rl.sess, msg, len, cr_now_ms());
	return 0;
}

/* The app manager ran a pass (da_apps_listen): what the health record
 * carries of the apps may have changed. */
static void agent_apps_changed(void *arg)
{
	struct da_agent *a = arg;

	a->apps_dirty = 1;
	agent_kick(a);
}

/* The app manager and the local control socket (--trust). */
static int agent_apps_start(struct da_agent *a, struct cr_error **err)
{
	struct da_apps_cfg ac = { 0 };
	struct da_deploy_cfg dc = { 0 };
	char store[PATH_MAX + 16], sock[PATH_MAX + 16];

	if (a->cfg.apps_store[0] != '\0')
		snprintf(store, sizeof(store), "%s", a->cfg.apps_store);
	else
		snprintf(store, sizeof(store), "%s/archon", a->cfg.data_dir);
	ac.data_dir = a->cfg.data_dir;
	ac.store_dir = store;
	ac.trust_path = a->cfg.trust_path;
	/* The ring the agent was given, or the newer epoch it saved. */
	ac.ring_path = a->cfg.ring_path;
	ac.ring_saved = a->ring_save_path;
	ac.cgroup_parent = a->cfg.apps_cgroup[0] ? a->cfg.apps_cgroup : NULL;
	ac.reserve_bytes = a->cfg.apps_reserve;
	ac.window_ms = a->cfg.health_window_ms;
	ac.config_ring_ms = a->cfg.config_ring_ms;
	/* Tests only (docs/fleet.md "Configuration"): a config with this key
	 * cuts the device off the ring while it is tried. */
	ac.test_cut_ring_key = getenv("KORHAL_TEST_CUT_RING_KEY");
	ac.kv = a->kv;
	ac.attached = agent_attached_cb;
	ac.attached_arg = a;
	da_provide_carrier(a->cfg.carrier_path, a->carrier, sizeof(a->carrier));
	ac.key_path = a->cfg.key_path;
	ac.credential_path = a->cfg.credential_path[0] ? a->cfg.credential_path : NULL;
	ac.carrier = a->carrier;
	a->apps = da_apps_new(a->base, &ac, err);
	if (a->apps == NULL)
		return cr_error_wrap(err, "apps");
	da_apps_listen(a->apps, agent_apps_changed, a);
	da_apps_set_device(a->apps, a->id.hash,
			   (const char(*)[CP_TAG_STR_MAX])a->cfg.tags,
			   a->cfg.n_tags);
	if (agent_provide_start(a, store, err) < 0)
		return -1;
	snprintf(sock, sizeof(sock), "%s/control.sock", a->cfg.data_dir);
	a->control = da_control_new(a->base, sock, a->apps, err);
	if (a->control == NULL)
		return -1;
	dc.kv = a->kv;
	dc.apps = a->apps;
	dc.kp = &a->kp;
	dc.trust_path = a->cfg.trust_path;
	dc.tags = (const char(*)[CP_TAG_STR_MAX])a->cfg.tags;
	dc.n_tags = a->cfg.n_tags;
	dc.send = agent_deploy_send;
	dc.test_drop_pushes = agent_test_drop_pushes();
	dc.send_arg = a;
	a->deploy = da_deploy_new(a->base, &dc, err);
	return a->deploy == NULL ? cr_error_wrap(err, "rollouts") : 0;
}

struct da_agent *da_agent_new(struct event_base *base,
			      const struct da_config *cfg,
			      struct cr_error **err)
{
	struct da_agent *a;
	struct cr_sess_cfg sc;
	struct cr_rl_cfg rc = { 0 };
	char ids[CR_ID_STRMAX];
	int fd = -1;

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		cr_error_errno(err, ENOMEM, "allocating agent");
		return NULL;
	}
	a->nat_eim = -1;
	a->base = base;
	a->cfg = *cfg;
	if (cr_keypair_load_as(cfg->key_path, CR_ID_DEVICE, &a->kp, err) < 0)
		goto fail;
	cr_id_from_pk(CR_ID_DEVICE, a->kp.pk, &a->id);
	if (cr_mkdir_p(cfg->data_dir, 0700, err) < 0)
		goto fail;
	snprintf(a->pin_path, sizeof(a->pin_path), "%s/operator.pin",
		 cfg->data_dir);
	snprintf(a->ring_save_path, sizeof(a->ring_save_path), "%s/ring",
		 cfg->data_dir);
	if (cr_ring_load_newest(cfg->ring_path, a->ring_save_path, a->pin_path,
				cfg->operator_id, &a->ring, err) < 0)
		goto fail;
	if (a->ring->n_nodes == 0) {
		cr_error_set(err, EINVAL, "ring %s has no nodes",
			     cfg->ring_path);
		goto fail;
	}
	/* The defaults that follow the ring: as many links as the ring has
	 * home nodes a device, pings and records spread over them. */
	da_config_resolve(&a->cfg, a->ring);
	cfg = &a->cfg;
	if (cr_kv_open(cfg->data_dir, "agent", AGENT_LMDB_MAP, &a->kv, err) < 0)
		goto fail;
	if (agent_setup_links(a, err) < 0)
		goto fail;
	agent_sess_cfg(cfg, &sc);
	if (cfg->listen[0] != '\0') {
		struct cr_addr la;

		if (cr_addr_parse(cfg->listen, &la, err) < 0)
			goto fail;
		fd = cr_udp_open(&la, err);
	} else {
		fd = cr_udp_open_any(a->links[0].addr.u.sa.sa_family, err);
	}
	if (fd < 0)
		goto fail;
#ifndef CR_HAVE_TLS
	if (cfg->tcp) {
		close(fd);
		cr_error_set(err, ENOTSUP,
			     "--tcp: this build has no TLS support (built with -DCR_DEVICE_TLS=OFF)");
		goto fail;
	}
#endif
	rc.role = CR_RL_DEVICE;
	rc.kp = &a->kp;
	rc.sess = &sc;
	rc.fd = fd;
	rc.force_tcp = cfg->tcp;
	rc.keepalive_ms = agent_ping_keepalive(cfg);
	rc.ring = a->ring;
	rc.pin_path = a->pin_path;
	rc.save_path = a->ring_save_path;
	a->rl = cr_rl_new(base, &rc, &agent_rl_ops, a, err);
	if (a->rl == NULL)
		goto fail;
	a->tunnel = da_tunnel_new(base, cr_rl_host(a->rl), &a->cfg, err);
	if (a->tunnel == NULL)
		goto fail;
	da_tunnel_set_sysinfo(a->tunnel, agent_sysinfo, a);
#ifdef CR_HAVE_TLS
	a->tls = cr_tls_cli_new(base, cr_rl_tls_input, a->rl, err);
	if (a->tls == NULL)
		goto fail;
	cr_rl_set_tcp(a->rl, agent_tls_send, a->tls);
#endif
	/* One-shot: each pass arms the next for when something is due. */
	a->ev_tick = event_new(base, -1, 0, agent_on_tick, a);
	if (a->ev_tick == NULL ||
	    event_add(a->ev_tick, &(struct timeval){ 0, AGENT_TICK_MS * 1000 }) <
		    0) {
		cr_error_set(err, ENOMEM, "cannot create events");
		goto fail;
	}
	if (cfg->trust_path[0] != '\0' && agent_apps_start(a, err) < 0)
		goto fail;
	for (size_t i = 0; i < a->n_links; i++)
		agent_link_connect(a, &a->links[i], cr_now_ms());
	cr_log_info("device %s starting (ring epoch %llu, %zu home nodes)",
		    cr_id_format(&a->id, ids),
		    (unsigned long long)a->ring->epoch, a->n_links);
	return a;
fail:
	da_agent_free(a);
	return NULL;
}

int da_agent_reload(struct da_agent *a, const struct da_config *cfg,
		    struct cr_error **err)
{
	struct cr_ring *ring = NULL;
	struct cr_sess_cfg sc;

	if (strcmp(cfg->key_path, a->cfg.key_path) != 0 ||
	    strcmp(cfg->data_dir, a->cfg.data_dir) != 0)
		return cr_error_set(err, EINVAL,
				    "key and data cannot change without a "
				    "restart");
	if (strcmp(cfg->trust_path, a->cfg.trust_path) != 0 ||
	    strcmp(cfg->apps_store, a->cfg.apps_store) != 0 ||
	    strcmp(cfg->apps_cgroup, a->cfg.apps_cgroup) != 0 ||
	    strcmp(cfg->credential_path, a->cfg.credential_path) != 0 ||
	    strcmp(cfg->carrier_path, a->cfg.carrier_path) != 0 ||
	    (cfg->n_serve_ports > 0) != (a->cfg.n_serve_ports > 0) ||
	    (cfg->n_serve_ports > 0 &&
	     cfg->serve_ports[0] != a->cfg.serve_ports[0]))
		return cr_error_set(err, EINVAL,
				    "trust, the apps' store, cgroup, "
				    "credential and carrier, and the port the "
				    "agent serves on (the first --serve-port) "
				    "cannot change without a restart");
	if (cfg->n_tags != a->cfg.n_tags ||
	    memcmp(cfg->tags, a->cfg.tags, sizeof(cfg->tags)) != 0) {
		if (a->deploy != NULL)
			return cr_error_set(err, EINVAL,
					    "tags cannot change without a "
					    "restart while rollouts are "
					    "followed (--trust)");
		/* republished with the new tags */
		a->dirty = 1;
	}
	if (cr_ring_load_newest(cfg->ring_path, a->ring_save_path, a->pin_path,
				cfg->operator_id, &ring, err) < 0)
		return -1;
	if (ring->epoch > a->ring->epoch) {
		a->cfg.migrate_window_ms = cfg->migrate_window_ms;
		agent_ring_changed(a, ring);
	} else {
		cr_ring_free(ring);
	}
	if (cfg->tcp != a->cfg.tcp)
		cr_rl_set_force_tcp(a->rl, cfg->tcp);
	a->cfg = *cfg;
	/* The links stay as they are (--attach takes a restart): the
	 * defaults follow them. */
	if (a->cfg.attach == 0)
		a->cfg.attach = a->n_links;
	da_config_resolve(&a->cfg, a->ring);
	cfg = &a->cfg;
	agent_sess_cfg(cfg, &sc);
	cr_sess_host_set_cfg(cr_rl_host(a->rl), &sc);
	cr_rl_set_keepalive(a->rl, agent_ping_keepalive(cfg));
	cr_log_set_level(cfg->log_level);
	da_tunnel_set_config(a->tunnel, &a->cfg);
	cr_log_info("configuration reloaded (%zu vendors allowed)",
		    cfg->n_allow);
	agent_kick(a);
	return 0;
}

void da_agent_detach(struct da_agent *a)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Detach d = CARRIER__DETACH__INIT;
	uint8_t buf[32];
	size_t told = 0;
	long n;

	m.msg_case = CARRIER__HOP__MSG_DETACH;
	m.detach = &d;
	n = cp_hop_pack(&m, buf, sizeof(buf));
	if (n <= 0)
		return;
	for (size_t i = 0; i < a->n_links; i++) {
		struct da_link *l = &a->links[i];

		if (l->rl.sess == NULL || !l->rl.up)
			continue;
		/* Twice: a lost datagram would leave the device "online"
		 * until the node misses its keepalives. */
		cr_sess_send(l->rl.sess, buf, (size_t)n, cr_now_ms());
		cr_sess_send(l->rl.sess, buf, (size_t)n, cr_now_ms());
		told++;
	}
	cr_udp_out_flush(cr_rl_out(a->rl));
#ifdef CR_HAVE_TLS
	/* Over TCP the goodbye sits in a buffer until the loop writes it. */
	if (cr_rl_uses_tcp(a->rl))
		for (int i = 0; i < 10; i++)
			event_base_loop(a->base, EVLOOP_NONBLOCK);
#endif
	if (told > 0)
		cr_log_info("told %zu home node%s the device goes offline", told,
			    told == 1 ? "" : "s");
}

struct da_agent *da_agent_free(struct da_agent *a)
{
	if (a == NULL)
		return NULL;
	if (a->ev_tick != NULL)
		event_free(a->ev_tick);
	a->control = da_control_free(a->control);
	a->provide = da_provide_free(a->provide);
	a->deploy = da_deploy_free(a->deploy);
	a->apps = da_apps_free(a->apps);
	da_tunnel_free(a->tunnel);
	/* Sessions may say goodbye over TCP as the host goes. */
	a->rl = cr_rl_free(a->rl);
#ifdef CR_HAVE_TLS
	cr_tls_cli_free(a->tls);
#endif
	cr_kv_free(a->kv);
	cr_ring_free(a->ring);
	for (size_t i = 0; i < CP_ATTACHED_MAX; i++)
		cr_rl_link_reset(&a->links[i].rl);
	cr_keypair_wipe(&a->kp);
	free(a);
	return NULL;
}

int da_agent_attached(const struct da_agent *a)
{
	int n = 0;

	for (size_t i = 0; i < a->n_links; i++)
		n += a->links[i].rl.up && a->links[i].acked_seq == a->seq &&
		     a->seq != 0;
	return n;
}

uint64_t da_agent_acked_seq(const struct da_agent *a)
{
	return a->acked_max;
}

void da_agent_traffic(const struct da_agent *a, struct da_agent_traffic *t)
{
	const struct cr_sess_stats *st = cr_sess_host_stats(cr_rl_host(a->rl));

	t->tx_datagrams = st->tx_datagrams;
	t->tx_bytes = st->tx_bytes;
	t->rx_datagrams = st->rx_datagrams;
	t->rx_bytes = st->rx_bytes;
}

const struct cr_id *da_agent_id(const struct da_agent *a)
{
	return &a->id;
}
