/*
 * Node-to-node sessions, heartbeats, epoch propagation and replication of
 * presence records among home sets: see rn/peers.h.
 */
#include "rn/peers.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/addr.h"
#include "cr/log.h"
#include "cr/map.h"
#include "cr/presence.h"
#include "cr/ratelimit.h"
#include "cr/ringsync.h"
#include "cr/util.h"
#include "rn/byzantine.h"
#include "rn/presstore.h"

enum {
	PEERS_PUBLISH_TIMEOUT_MS = 3000,
	PEERS_TICK_LATE_MS = 500, /* see rn_peers_tick() */
	PEERS_PUSH_EVERY_MS = 1000,
	PEERS_SYNC_DELAY_MS = 100,
	PEERS_SYNC_BATCH = 2000, /* records offered per tick */
	/* ... while the node sheds devices' handshakes (rn_peers_shedding) */
	PEERS_SYNC_BATCH_SHEDDING = 200,
	PEERS_NUDGE_BATCH = 5000, /* records looked at per tick for nudges */
	/* A sync pass the revival of a peer dead for less than
	 * PEERS_FLAP_MS asks for waits this long (see rn_peers_tick()). */
	PEERS_SYNC_REVIVAL_DELAY_MS = 5000,
	PEERS_FLAP_MS = 10000,
	PEERS_HOME_MAX = 64,
	/* A record offered for garbage collection that its home set has not
	 * acknowledged by then is kept, and a later pass tries again. */
	PEERS_GC_TIMEOUT_MS = 10000,
	PEERS_GC_RETRY_MS = 5000,
	/* Expired records are swept PEERS_PURGE_BATCH at a time every
	 * PEERS_PURGE_EVERY_MS, and at once (at most once a
	 * PEERS_PURGE_FULL_MS) when the store is full. */
	PEERS_PURGE_EVERY_MS = 1000,
	PEERS_PURGE_BATCH = 5000,
	PEERS_PURGE_FULL_MS = 1000,
	PEERS_PURGE_DEL_MAX = 1024, /* deletions per pass */
};

static const char *const refusal_names[RN_REFUSED_MAX] = {
	"too_far_ahead", "not_home", "source_budget", "store_full",
};

const char *rn_presence_refusal_name(enum rn_presence_refusal r)
{
	return r < RN_REFUSED_MAX ? refusal_names[r] : "unknown";
}

/* One other node of the ring configuration. */
struct rn_link {
	uint8_t pk[CR_PKLEN];
	struct cr_id id;
	struct cr_addr addr;
	int addr_ok;
	struct cr_sess *sess;    /* the newest session that came up */
	struct cr_sess *dialing; /* our initiation under way */
	uint64_t last_rx_ms;
	uint64_t next_dial_ms;
	uint64_t epoch;          /* the epoch it last announced */
	uint64_t last_push_ms;
	uint64_t died_ms;        /* when it was last seen dying */
	int alive;
	struct cr_ring_asm asm_;
};

/* An acknowledgement held back until what it acknowledges is on disk. */
struct rn_ack {
	uint8_t dev[CR_ID_HASHLEN];
	uint64_t seq, req_id;
	uint16_t stored, home;
	int32_t node;  /* ReplicateAck to this ring index; -1: PresenceAck */
};

/* A record this node no longer homes, offered to its home set: deleted
 * here once a majority of that set acknowledged it at seq or newer. */
struct rn_gc {
	uint8_t dev[CR_ID_HASHLEN];
	uint64_t seq, deadline_ms;
	uint16_t need, got;
	uint8_t acked[CR_ALIVE_BYTES_MAX]; /* by ring index */
};

/* A device's record waiting for a majority of its home set. */
struct rn_pend {
	uint8_t dev[CR_ID_HASHLEN];
	uint64_t seq, req_id, deadline_ms;
	uint16_t need, got, home;
	uint8_t acked[CR_ALIVE_BYTES_MAX]; /* by ring index */
};

struct rn_peers {
	struct cr_sess_host *host;
	struct cr_kv *kv;
	const struct cr_keypair *kp;
	const struct cr_ring *ring;
	struct rn_peers_cfg cfg;
	const struct rn_peers_ops *ops;
	void *ctx;
	int self;                /* our ring index, -1 if not a member */
	size_t n;
	struct rn_link *links;   /* n of them; links[self] unused */
	uint8_t *alive;          /* n of them */
	size_t n_alive;
	struct cr_map *pend;     /* device hash -> struct rn_pend */
	struct cr_ring_asm stray_asm; /* chunks from nodes not in our ring */
	uint64_t last_hb_ms, last_bogus_ms, last_stray_push_ms;
	unsigned bogus_variant;
	/* Test mode: the last record stored (flood and replay use it). */
	uint8_t byz_last[CP_PRESENCE_MAX];
	size_t byz_last_len;
	int sync_pending;
	uint64_t sync_at_ms;
	/* Where the pass goes on: after this device (a key, not a position:
	 * resuming costs nothing however far the pass got, and records
	 * added or deleted meanwhile move nothing). */
	uint8_t sync_key[CR_ID_HASHLEN];
	int sync_resume;
	/* Every sync pass also offers for collection the records this node
	 * no longer homes (after an epoch change). */
	struct cr_map *gc;       /* device hash -> struct rn_gc */
	struct cr_log_ratelimit rl;
	struct rn_peers_stats st;
	struct rn_ack *acks;     /* held until rn_peers_flush() */
	size_t n_acks, cap_acks;
	/* New devices by source address of their publish; its clock runs in
	 * hours (see peers_budget_ok()).  NULL: no budget. */
	struct cr_ratelimit *budget;
	uint64_t last_purge_ms, last_full_purge_ms;
	uint64_t last_tick_ms;
	/* The nudge pass under way (peers_nudge()): from after nudge_key. */
	int nudge_pending, nudge_resume;
	uint8_t nudge_key[CR_ID_HASHLEN];
	/* A revival during a sync pass: another pass when this one ends. */
	int sync_again;
	uint64_t shed_ms; /* rn_peers_shedding()'s last call */
	long purge_cursor;
};

static void peers_ack_later(struct rn_peers *p, const uint8_t *dev,
			    uint64_t seq, uint64_t req_id, unsigned stored,
			    unsigned home, int node)
{
	struct rn_ack *a;

	if (p->n_acks == p->cap_acks) {
		size_t cap = p->cap_acks ? p->cap_acks * 2 : 64;
		struct rn_ack *na = realloc(p->acks, cap * sizeof(*na));

		if (na == NULL)
			return; /* the sender retries */
		p->acks = na;
		p->cap_acks = cap;
	}
	a = &p->acks[p->n_acks++];
	memcpy(a->dev, dev, CR_ID_HASHLEN);
	a->seq = seq;
	a->req_id = req_id;
	a->stored = (uint16_t)stored;
	a->home = (uint16_t)home;
	a->node = node;
}

/* ---- Helpers --------------------------------------------------------------- */

static void peers_send(struct cr_sess *s, Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long len = cp_hop_pack(m, buf, sizeof(buf));

	if (len > 0)
		cr_sess_send(s, buf, (size_t)len, cr_now_ms());
}

static struct rn_link *peers_link_of(struct rn_peers *p, struct cr_sess *s,
				     int *idx)
{
	int i = cr_ring_find(p->ring, cr_sess_peer_pk(s));

	if (idx != NULL)
		*idx = i;
	if (i < 0 || i == p->self)
		return NULL;
	return &p->links[i];
}

uint32_t rn_peers_replicas(const struct rn_peers *p)
{
	uint32_t r = p->cfg.replicas != 0 ? p->cfg.replicas : p->ring->replicas;

	if (r == 0)
		r = CR_RING_DEFAULT_REPLICAS;
	return r > PEERS_HOME_MAX ? PEERS_HOME_MAX : r;
}

/* The device's home set: the R live nodes ranked first. */
static size_t peers_home(struct rn_peers *p, const uint8_t dev[CR_ID_HASHLEN],
			 size_t *out)
{
	return cr_ring_rank(p->ring, dev, p->alive, out, rn_peers_replicas(p));
}

static void peers_push_blob(struct cr_sess *s, uint64_t epoch,
			    const uint8_t *blob, size_t len,
			    struct rn_peers_stats *st)
{
	Carrier__RingChunk rc = CARRIER__RING_CHUNK__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;

	m.msg_case = CARRIER__HOP__MSG_RING_CHUNK;
	m.ring_chunk = &rc;
	for (size_t off = 0; off < len; off += CR_RING_CHUNK) {
		rc.epoch = epoch;
		rc.total = (uint32_t)len;
		rc.offset = (uint32_t)off;
		rc.data.data = (uint8_t *)(uintptr_t)(blob + off);
		rc.data.len = len - off < CR_RING_CHUNK ? len - off :
							  CR_RING_CHUNK;
		peers_send(s, &m);
		st->ring_chunks_sent++;
	}
}

void rn_peers_push_ring(struct rn_peers *p, struct cr_sess *s)
{
	if (p->cfg.byzantine & RN_BYZ_EPOCH) {
		uint8_t *blob;
		size_t len;

		if (rn_byz_bogus_ring(p->ring, p->bogus_variant++, &blob,
				      &len) == 0) {
			peers_push_blob(s, p->ring->epoch + 1000, blob, len,
					&p->st);
			p->st.byz[RN_BYZ_IDX(RN_BYZ_EPOCH)]++;
			free(blob);
		}
		return;
	}
	peers_push_blob(s, p->ring->epoch, p->ring->signed_blob,
			p->ring->signed_len, &p->st);
}

/* ---- Presence store bounds ----------------------------------------------- */

/* Sets up (or retunes) the per-address budget of new devices. */
static int peers_budget_cfg(struct rn_peers *p, struct cr_error **err)
{
	uint64_t n = p->cfg.presence_new_per_addr;
	uint32_t per = n > 1000000 ? 1000000 : (uint32_t)n;

	if (n == 0) {
		p->budget = cr_ratelimit_free(p->budget);
		return 0;
	}
	if (p->budget != NULL) {
		cr_ratelimit_set(p->budget, per, per);
		return 0;
	}
	p->budget = cr_ratelimit_new(per, per, err);
	return p->budget != NULL ? 0 : -1;
}

/* 1 when from may bring one more new device.  The buckets refill "per
 * second" of the clock given; a clock in units of 3.6 s makes that per
 * hour, so N new devices an hour, N at once. */
static int peers_budget_ok(struct rn_peers *p, const struct cr_addr *from,
			   uint64_t now_ms)
{
	static const uint8_t tcp_prefix[8] = { 0x01 };
	struct cr_addr key = *from;

	if (p->budget == NULL)
		return 1;
	/* A TCP fallback connection stands for a pseudo address in 100::/64
	 * holding its number (cr/tlsdgram.h): a new connection would be a
	 * fresh budget, so every connection shares one. */
	if (key.u.sa.sa_family == AF_INET6 &&
	    memcmp(key.u.in6.sin6_addr.s6_addr, tcp_prefix, 8) == 0)
		memset(key.u.in6.sin6_addr.s6_addr + 8, 0, 8);
	return cr_ratelimit_allow(p->budget, &key, now_ms / 3600 + 1);
}

struct purge_ctx {
	uint64_t now;
	long index, from, to, stop;
	size_t n;
	uint8_t keys[PEERS_PURGE_DEL_MAX][CR_ID_HASHLEN];
};

static int peers_purge_one(void *arg, const uint8_t *dev,
			   const struct rn_pres *v)
{
	struct purge_ctx *pc = arg;
	long i = pc->index++;
	uint64_t expires;

	if (i < pc->from)
		return 0;
	if (i >= pc->to || pc->n == PEERS_PURGE_DEL_MAX) {
		pc->stop = i;
		return 1;
	}
	if (v == NULL)
		return 0;
	/* An unreadable record never expires here: it is left alone. */
	if (cr_presence_expires(v->rec, v->rec_len, &expires) == 0 &&
	    expires <= pc->now)
		memcpy(pc->keys[pc->n++], dev, CR_ID_HASHLEN);
	return 0;
}

/* Deletes the expired records among entries [from, to) of the store (at
 * most PEERS_PURGE_DEL_MAX); returns the index reached (-1: the end). */
static long peers_purge(struct rn_peers *p, long from, long to)
{
	struct purge_ctx *pc = calloc(1, sizeof(*pc));
	long reached;

	if (pc == NULL)
		return -1;
	pc->now = cr_now_unix();
	pc->from = from;
	pc->to = to;
	pc->stop = -1;
	if (rn_pres_foreach(p->kv, peers_purge_one, pc, NULL) < 0) {
		free(pc);
		return -1;
	}
	for (size_t i = 0; i < pc->n; i++)
		if (rn_pres_del(p->kv, pc->keys[i], NULL) == 0)
			p->st.presence_purged++;
	/* Deleted entries shift the later ones down. */
	reached = pc->stop < 0 ? -1 : pc->stop - (long)pc->n;
	free(pc);
	return reached;
}

/* ---- Nudges ------------------------------------------------------------ */

struct nudge_ctx {
	struct rn_peers *p;
	uint8_t pkt[CP_NUDGE_HDR + CR_ALIVE_BYTES_MAX];
	size_t pkt_len;
	struct cr_presence r; /* only the route fields */
	long n;      /* records looked at in this batch */
	int skip;    /* the walk starts at nudge_key, looked at last time */
	int stopped; /* the batch is full: the pass goes on next tick */
};

static int peers_nudge_one(void *arg, const uint8_t *dev,
			   const struct rn_pres *v)
{
	struct nudge_ctx *nc = arg;
	struct rn_peers *p = nc->p;
	struct cr_addr to;

	if (dev == NULL)
		return 0;
	if (nc->skip) {
		nc->skip = 0;
		if (memcmp(dev, p->nudge_key, CR_ID_HASHLEN) == 0)
			return 0;
	}
	if (nc->n >= PEERS_NUDGE_BATCH) {
		nc->stopped = 1;
		return 1;
	}
	nc->n++;
	memcpy(p->nudge_key, dev, CR_ID_HASHLEN);
	if (v == NULL || cr_presence_route(v->rec, v->rec_len, &nc->r) < 0 ||
	    nc->r.n_attached == 0)
		return 0;
	/* Only a device none of whose nodes is alive: one with a live node
	 * is reachable through it, and finds out about the other at its
	 * next ping. */
	for (size_t i = 0; i < nc->r.n_attached; i++) {
		int idx = cr_ring_find(p->ring, nc->r.attached[i]);

		if (idx >= 0 && (idx == p->self || p->alive[idx]))
			return 0;
	}
	for (size_t i = 0; i < nc->r.n_addrs; i++)
		if (cr_addr_parse(nc->r.addrs[i], &to, NULL) == 0) {
			p->ops->send_raw(p->ctx, &to, nc->pkt, nc->pkt_len);
			p->st.nudges_sent++;
		}
	return 0;
}

/* One batch of the nudge pass under way (PEERS_NUDGE_BATCH records from
 * where the last one stopped), with the liveness seen now. */
static void peers_nudge_batch(struct rn_peers *p)
{
	struct nudge_ctx *nc;
	long visited;

	nc = calloc(1, sizeof(*nc));
	if (nc == NULL)
		return;
	nc->p = p;
	nc->skip = p->nudge_resume;
	nc->pkt[0] = CP_MSG_NUDGE;
	cp_put_u64(nc->pkt + 4, p->ring->epoch);
	nc->pkt_len = CP_NUDGE_HDR +
		      rn_peers_alive_bits(p, nc->pkt + CP_NUDGE_HDR,
					  CR_ALIVE_BYTES_MAX);
	if (p->nudge_resume)
		visited = rn_pres_foreach_from(p->kv, p->nudge_key,
					       peers_nudge_one, nc, NULL);
	else
		visited = rn_pres_foreach(p->kv, peers_nudge_one, nc, NULL);
	p->nudge_resume = visited >= 0 && nc->stopped;
	p->nudge_pending = p->nudge_resume;
	free(nc);
}

/*
 * A peer died: every device in our store whose attached nodes are now all
 * dead is told so (CP_MSG_NUDGE to the addresses of its record), so it
 * checks its links and moves within about a second instead of at its next
 * keepalive (15 s).  Costs nothing while nothing dies: no per-device
 * traffic, one pass over the store per death, PEERS_NUDGE_BATCH records a
 * tick (the first batch at once): a pass over 100,000 records in one go
 * held the loop for seconds on a starved machine, its peers took it for
 * dead, and their own passes followed (bench/ring-failover-scale.sh).  It
 * also spreads the reconnects it causes over a few seconds.
 */
static void peers_nudge(struct rn_peers *p)
{
	if (p->ops->send_raw == NULL || p->self < 0)
		return;
	p->st.nudge_passes++;
	p->nudge_pending = 1;
	p->nudge_resume = 0;
	peers_nudge_batch(p);
}

/* 1 when this node is in the device's home set (over the live nodes, or
 * over every node of the configuration) or the record names it as
 * attached. */
static int peers_homes(struct rn_peers *p, const struct cr_presence *rec)
{
	size_t home[PEERS_HOME_MAX], n;

	for (size_t i = 0; i < rec->n_attached; i++)
		if (memcmp(rec->attached[i], p->kp->pk, CR_PKLEN) == 0)
			return 1;
	if (p->self < 0)
		return 0;
	n = cr_ring_rank(p->ring, rec->id.hash, p->alive, home,
			 rn_peers_replicas(p));
	for (size_t i = 0; i < n; i++)
		if ((int)home[i] == p->self)
			return 1;
	n = cr_ring_rank(p->ring, rec->id.hash, NULL, home,
			 rn_peers_replicas(p));
	for (size_t i = 0; i < n; i++)
		if ((int)home[i] == p->self)
			return 1;
	return 0;
}

/* 1 when the store has room for one more device: under
 * presence_max_records, or back under it once expired records are gone. */
static int peers_room(struct rn_peers *p, uint64_t now_ms)
{
	uint64_t max = p->cfg.presence_max_records;

	if (max == 0 || (uint64_t)rn_pres_count(p->kv) < max)
		return 1;
	/* A full sweep, but not on every refused publish of a flood. */
	if (now_ms - p->last_full_purge_ms < PEERS_PURGE_FULL_MS)
		return 0;
	p->last_full_purge_ms = now_ms;
	peers_purge(p, 0, LONG_MAX);
	return (uint64_t)rn_pres_count(p->kv) < max;
}

static int peers_refuse(struct rn_peers *p, enum rn_presence_refusal why,
			int code, struct cr_error **err, const char *msg)
{
	p->st.presence_refused[why]++;
	return cr_error_set(err, code, "%s", msg);
}

/* ---- Life cycle -------------------------------------------------------- */

static int peers_build_links(struct rn_peers *p, const struct cr_ring *ring)
{
	struct rn_link *links = calloc(ring->n_nodes + 1, sizeof(*links));
	uint8_t *alive = calloc(ring->n_nodes + 1, 1);
	int self = cr_ring_find(ring, p->kp->pk);

	if (links == NULL || alive == NULL) {
		free(links);
		free(alive);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ring->n_nodes; i++) {
		struct rn_link *l = &links[i];
		int old = p->ring != NULL ? cr_ring_find(p->ring,
							 ring->nodes[i].pk) :
					    -1;

		if (old >= 0 && old != p->self) {
			/* Keep the sessions and state of nodes that stay. */
			*l = p->links[old];
			memset(&p->links[old].asm_, 0, sizeof(l->asm_));
		}
		memcpy(l->pk, ring->nodes[i].pk, CR_PKLEN);
		l->id = ring->nodes[i].id;
		l->addr_ok = cr_addr_parse(ring->nodes[i].addr, &l->addr,
					   NULL) == 0;
		alive[i] = (int)i == self || l->alive;
	}
	if (p->links != NULL) {
		for (size_t i = 0; i < p->n; i++)
			cr_ring_asm_reset(&p->links[i].asm_);
	}
	free(p->links);
	free(p->alive);
	p->links = links;
	p->alive = alive;
	p->n = ring->n_nodes;
	p->self = self;
	p->ring = ring;
	p->n_alive = 0;
	for (size_t i = 0; i < p->n; i++)
		p->n_alive += alive[i];
	return 0;
}

struct rn_peers *rn_peers_new(struct cr_sess_host *host, struct cr_kv *kv,
			      const struct cr_keypair *kp,
			      const struct cr_ring *ring,
			      const struct rn_peers_cfg *cfg,
			      const struct rn_peers_ops *ops, void *ctx,
			      struct cr_error **err)
{
	struct rn_peers *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		cr_error_errno(err, ENOMEM, "allocating the peer table");
		return NULL;
	}
	p->host = host;
	p->kv = kv;
	p->kp = kp;
	p->cfg = *cfg;
	p->ops = ops;
	p->ctx = ctx;
	p->self = -1;
	cr_log_ratelimit_init(&p->rl, 20, 2);
	p->pend = cr_map_new(CR_ID_HASHLEN);
	p->gc = cr_map_new(CR_ID_HASHLEN);
	if (p->pend == NULL || p->gc == NULL ||
	    peers_build_links(p, ring) < 0) {
		cr_error_errno(err, ENOMEM, "allocating the peer table");
		return rn_peers_free(p);
	}
	if (peers_budget_cfg(p, err) < 0)
		return rn_peers_free(p);
	return p;
}

/* Forgets every record offered for collection (kept, not deleted). */
static void peers_gc_clear(struct rn_peers *p)
{
	size_t pos = 0;
	const void *key;
	void *val;

	if (p->gc == NULL)
		return;
	while (cr_map_next(p->gc, &pos, &key, &val))
		free(val);
	cr_map_free(p->gc);
	p->gc = cr_map_new(CR_ID_HASHLEN);
}

struct rn_peers *rn_peers_free(struct rn_peers *p)
{
	if (p == NULL)
		return NULL;
	peers_gc_clear(p);
	p->gc = cr_map_free(p->gc);
	if (p->pend != NULL) {
		size_t pos = 0;
		const void *key;
		void *val;

		while (cr_map_next(p->pend, &pos, &key, &val))
			free(val);
		cr_map_free(p->pend);
	}
	for (size_t i = 0; i < p->n; i++)
		cr_ring_asm_reset(&p->links[i].asm_);
	cr_ring_asm_reset(&p->stray_asm);
	cr_ratelimit_free(p->budget);
	free(p->acks);
	free(p->links);
	free(p->alive);
	free(p);
	return NULL;
}

void rn_peers_set_ring(struct rn_peers *p, const struct cr_ring *ring)
{
	if (peers_build_links(p, ring) < 0) {
		cr_log_warnx("out of memory: keeping the old peer table");
		return;
	}
	/* Home sets moved: offer every record to its new home set, and
	 * collect those this node no longer homes. */
	peers_gc_clear(p);
	p->sync_pending = 1;
	p->sync_resume = 0;
	p->sync_again = 0;
	p->sync_at_ms = cr_now_ms() + PEERS_SYNC_DELAY_MS;
}

void rn_peers_set_cfg(struct rn_peers *p, const struct rn_peers_cfg *cfg)
{
	struct cr_error *err = NULL;

	p->cfg = *cfg;
	if (peers_budget_cfg(p, &err) < 0) {
		cr_log_warnx("%s", cr_error_msg(err));
		cr_error_free(err);
	}
}

/* ---- Sessions -------------------------------------------------------------- */

void rn_peers_sess_up(struct rn_peers *p, struct cr_sess *s)
{
	struct rn_link *l = peers_link_of(p, s, NULL);

	if (l == NULL)
		return; /* not in our ring (yet): only its chunks count */
	l->sess = s;
	if (l->dialing == s)
		l->dialing = NULL;
	l->last_rx_ms = cr_now_ms();
}

void rn_peers_sess_down(struct rn_peers *p, struct cr_sess *s)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->links[i].sess == s)
			p->links[i].sess = NULL;
		if (p->links[i].dialing == s)
			p->links[i].dialing = NULL;
	}
}

/* ---- Records ------------------------------------------------------------- */

/*
 * A replica byte for byte the record stored here for its device, not
 * expired: it passed every check when it was stored, so the Ed25519
 * verification (most of a replica's cost) is not done again.  Every sync
 * pass (one per peer death or revival) offers a node's whole store to its
 * peers, and every publish a device resends for want of an
 * acknowledgement is replicated again: in a reconnect storm, or a ring
 * starved enough to take live peers for dead, they were checked over and
 * over (190,961 replicas for 10,000 devices in bench/ring-failover-scale).
 * Fills the id, key, sequence and times of *rec; 1 when it applies.
 */
static int peers_same_as_stored(struct rn_peers *p, const uint8_t *blob,
				size_t len, const struct cr_id *want,
				uint64_t now, struct cr_presence *rec,
				uint64_t *stored_seq)
{
	uint8_t val[RN_PRES_VALUE_MAX];
	Carrier__SignedPresence *s;
	Carrier__PresenceBody *b = NULL;
	struct rn_pres v;
	struct cr_id id;
	int same = 0;

	s = carrier__signed_presence__unpack(NULL, len, blob);
	if (s != NULL)
		b = carrier__presence_body__unpack(NULL, s->body.len,
						   s->body.data);
	if (b == NULL || b->device_pk.len != CR_PKLEN || b->expires_unix <= now)
		goto out;
	cr_id_from_pk(CR_ID_DEVICE, b->device_pk.data, &id);
	if ((want != NULL && !cr_id_equal(want, &id)) ||
	    rn_pres_get(p->kv, id.hash, val, &v, NULL) < 0 ||
	    v.rec_len != len || memcmp(v.rec, blob, len) != 0)
		goto out;
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->device_pk, b->device_pk.data, CR_PKLEN);
	rec->id = id;
	rec->seq = b->seq;
	rec->issued_unix = b->issued_unix;
	rec->expires_unix = b->expires_unix;
	for (size_t i = 0; i < b->n_attached && rec->n_attached < CP_ATTACHED_MAX;
	     i++)
		if (b->attached[i].len == CR_PKLEN)
			memcpy(rec->attached[rec->n_attached++],
			       b->attached[i].data, CR_PKLEN);
	*stored_seq = v.seq;
	same = 1;
out:
	carrier__presence_body__free_unpacked(b, NULL);
	carrier__signed_presence__free_unpacked(s, NULL);
	return same;
}

int rn_peers_store(struct rn_peers *p, const uint8_t *blob, size_t len,
		   const struct cr_id *want, const struct cr_addr *from,
		   struct cr_presence *rec, uint64_t *stored_seq,
		   struct cr_error **err)
{
	struct cr_error *e = NULL;
	uint64_t now = cr_now_unix(), now_ms = cr_now_ms();
	uint64_t known_seq = 0;
	int known;

	/* A replica, or a device's resend of the record it published (every
	 * second until a majority of its home set acknowledged it: in a
	 * reconnect storm most of what devices send), byte for byte the
	 * record stored: checked when it was stored.  A device's publish
	 * must still be one this node homes or is named in (a record stored
	 * as a replica was not held to that). */
	if (len <= CP_PRESENCE_MAX &&
	    peers_same_as_stored(p, blob, len, want, now, rec, stored_seq) &&
	    (from == NULL || peers_homes(p, rec))) {
		if (from == NULL)
			p->st.replicas_unchanged++;
		else
			p->st.publishes_unchanged++;
		return 0;
	}
	if (cr_presence_verify(blob, len, now, want, rec, &e) < 0) {
		int expired = strstr(cr_error_msg(e), "expired") != NULL;

		cr_error_set(err, expired ? ESTALE : EBADMSG, "%s",
			     cr_error_msg(e));
		cr_error_free(e);
		return -1;
	}
	if (p->cfg.presence_max_ttl_s != 0 &&
	    rec->expires_unix - now > p->cfg.presence_max_ttl_s) {
		char msg[128];

		snprintf(msg, sizeof(msg),
			 "presence record expires in %" PRIu64 " s, more than "
			 "this node's limit of %" PRIu64 " s",
			 rec->expires_unix - now, p->cfg.presence_max_ttl_s);
		return peers_refuse(p, RN_REFUSED_TOO_FAR_AHEAD, ERANGE, err,
				    msg);
	}
	if (from != NULL && !peers_homes(p, rec))
		return peers_refuse(p, RN_REFUSED_NOT_HOME, EACCES, err,
				    "this node is not one of the device's home "
				    "nodes and the record does not name it as "
				    "attached");
	known = rn_pres_get_seq(p->kv, rec->id.hash, &known_seq, NULL) == 0;
	if (known && !rn_pres_newer(rec->seq, known_seq)) {
		*stored_seq = known_seq;
		return 0;
	}
	if (!known) {
		/* A device new to this node: the source's budget, then room
		 * in the store (expired records go first). */
		if (from != NULL && !peers_budget_ok(p, from, now_ms))
			return peers_refuse(p, RN_REFUSED_SOURCE_BUDGET, EAGAIN,
					    err,
					    "too many new devices from this "
					    "address; try later");
		if (!peers_room(p, now_ms))
			return peers_refuse(p, RN_REFUSED_STORE_FULL, ENOSPC,
					    err,
					    "this node's presence store is "
					    "full; try another home node");
	}
	if (rn_pres_put(p->kv, rec->id.hash, rec->seq, blob, len, err) < 0)
		return -1;
	if (p->cfg.byzantine) {
		rn_byz_remember(p->kv, rec->id.hash, blob, len);
		memcpy(p->byz_last, blob, len);
		p->byz_last_len = len;
	}
	*stored_seq = rec->seq;
	return 1;
}

static void peers_send_replica(struct rn_peers *p, struct cr_sess *s,
			       Carrier__SignedPresence *sp, uint64_t req_id)
{
	Carrier__Replicate r = CARRIER__REPLICATE__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;

	r.record = sp;
	m.req_id = req_id;
	m.msg_case = CARRIER__HOP__MSG_REPLICATE;
	m.replicate = &r;
	peers_send(s, &m);
	p->st.replicas_sent++;
}

static void peers_pend_done(struct rn_peers *p, struct rn_pend *pd)
{
	p->st.publishes_majority++;
	peers_ack_later(p, pd->dev, pd->seq, pd->req_id, pd->got, pd->home, -1);
	cr_map_del(p->pend, pd->dev);
	free(pd);
}

void rn_peers_replicate(struct rn_peers *p, const uint8_t *blob, size_t len,
			const struct cr_presence *rec, uint64_t req_id)
{
	size_t home[PEERS_HOME_MAX], n;
	Carrier__SignedPresence *sp;
	struct rn_pend *pd;

	n = peers_home(p, rec->id.hash, home);
	pd = cr_map_get(p->pend, rec->id.hash);
	if (pd == NULL) {
		pd = calloc(1, sizeof(*pd));
		if (pd == NULL)
			return;
		memcpy(pd->dev, rec->id.hash, CR_ID_HASHLEN);
		if (cr_map_put(p->pend, pd->dev, pd) < 0) {
			free(pd);
			return;
		}
	}
	/* A newer record restarts the count; a resent one keeps it, and
	 * goes only to the home nodes that have not acknowledged it (the
	 * others hold it). */
	if (pd->seq != rec->seq) {
		memset(pd->acked, 0, sizeof(pd->acked));
		pd->got = 0;
	}
	pd->seq = rec->seq;
	pd->req_id = req_id;
	pd->home = (uint16_t)n;
	pd->need = (uint16_t)(n / 2 + 1);
	pd->deadline_ms = cr_now_ms() + PEERS_PUBLISH_TIMEOUT_MS;
	sp = carrier__signed_presence__unpack(NULL, len, blob);
	for (size_t i = 0; i < n; i++) {
		size_t idx = home[i];

		if ((int)idx == p->self) {
			if (!cr_alive_get(pd->acked, sizeof(pd->acked), idx)) {
				cr_alive_set(pd->acked, idx);
				pd->got++;
			}
			continue;
		}
		if (sp != NULL && p->links[idx].sess != NULL &&
		    !cr_alive_get(pd->acked, sizeof(pd->acked), idx))
			peers_send_replica(p, p->links[idx].sess, sp, 1);
	}
	if (sp != NULL)
		carrier__signed_presence__free_unpacked(sp, NULL);
	if (pd->got >= pd->need)
		peers_pend_done(p, pd);
}

static void peers_on_replicate(struct rn_peers *p, struct cr_sess *s,
			       const Carrier__Hop *m)
{
	uint8_t blob[CP_PRESENCE_MAX];
	struct cr_error *err = NULL;
	struct cr_presence rec;
	uint64_t seq = 0;
	char ids[CR_ID_STRMAX];
	size_t len;
	int rc, idx;

	p->st.replicas_received++;
	if (m->replicate->record == NULL ||
	    carrier__signed_presence__get_packed_size(m->replicate->record) >
		    sizeof(blob))
		return;
	len = carrier__signed_presence__pack(m->replicate->record, blob);
	if ((p->cfg.byzantine & RN_BYZ_NOSTORE) &&
	    cr_presence_verify(blob, len, cr_now_unix(), NULL, &rec, NULL) ==
		    0) {
		/* Test mode: acknowledged, not stored. */
		p->st.byz[RN_BYZ_IDX(RN_BYZ_NOSTORE)]++;
		memcpy(p->byz_last, blob, len);
		p->byz_last_len = len;
		if (m->req_id != 0 && peers_link_of(p, s, &idx) != NULL)
			peers_ack_later(p, rec.id.hash, rec.seq, m->req_id, 0,
					0, idx);
		return;
	}
	rc = rn_peers_store(p, blob, len, NULL, NULL, &rec, &seq, &err);
	if (rc < 0) {
		if (err != NULL && err->code == EBADMSG) {
			p->st.replicas_rejected++;
			if (cr_log_ratelimit_ok(&p->rl, cr_now_ms()))
				cr_log_warnx("refused a replica from node %s: %s",
					     cr_id_format(cr_sess_peer_id(s),
							  ids),
					     cr_error_msg(err));
		}
		cr_error_free(err);
		return;
	}
	p->st.replicas_stored += rc == 1;
	if (m->req_id != 0 && peers_link_of(p, s, &idx) != NULL)
		peers_ack_later(p, rec.id.hash, seq, m->req_id, 0, 0, idx);
}

void rn_peers_flush(struct rn_peers *p)
{
	Carrier__ReplicateAck ack = CARRIER__REPLICATE_ACK__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;

	for (size_t i = 0; i < p->n_acks; i++) {
		struct rn_ack *a = &p->acks[i];

		if (a->node < 0) {
			if (p->ops->published != NULL)
				p->ops->published(p->ctx, a->dev, a->seq,
						  a->req_id, a->stored, a->home);
			continue;
		}
		if ((size_t)a->node >= p->n || p->links[a->node].sess == NULL)
			continue;
		ack.device_id.data = a->dev;
		ack.device_id.len = CR_ID_HASHLEN;
		ack.seq = a->seq;
		m.req_id = a->req_id;
		m.msg_case = CARRIER__HOP__MSG_REPLICATE_ACK;
		m.replicate_ack = &ack;
		peers_send(p->links[a->node].sess, &m);
	}
	p->n_acks = 0;
}

void rn_peers_flush_drop(struct rn_peers *p)
{
	p->n_acks = 0;
}

static void peers_gc_ack(struct rn_peers *p, const uint8_t *dev, uint64_t seq,
			 int idx);

static void peers_on_replicate_ack(struct rn_peers *p, struct cr_sess *s,
				   const Carrier__Hop *m)
{
	const Carrier__ReplicateAck *ack = m->replicate_ack;
	struct rn_pend *pd;
	int idx;

	p->st.replica_acks++;
	if (ack->device_id.len != CR_ID_HASHLEN ||
	    peers_link_of(p, s, &idx) == NULL)
		return;
	peers_gc_ack(p, ack->device_id.data, ack->seq, idx);
	pd = cr_map_get(p->pend, ack->device_id.data);
	if (pd == NULL || ack->seq < pd->seq ||
	    cr_alive_get(pd->acked, sizeof(pd->acked), (size_t)idx))
		return;
	cr_alive_set(pd->acked, (size_t)idx);
	pd->got++;
	if (pd->got >= pd->need)
		peers_pend_done(p, pd);
}

/* ---- Ring configurations ----------------------------------------------- */

static void peers_on_chunk(struct rn_peers *p, struct cr_sess *s,
			   struct rn_link *l, const Carrier__RingChunk *c)
{
	struct cr_ring_asm *a = l != NULL ? &l->asm_ : &p->stray_asm;
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	char ids[CR_ID_STRMAX];
	int rc;

	if (c->epoch <= p->ring->epoch)
		return;
	rc = cr_ring_asm_add(a, c->epoch, c->total, c->offset, c->data.data,
			     c->data.len);
	if (rc < 0) {
		p->st.rings_refused++;
		cr_ring_asm_reset(a);
		return;
	}
	if (rc == 0)
		return;
	cr_id_format(cr_sess_peer_id(s), ids);
	if (cr_ring_accept(a->buf, a->total, p->ring, p->cfg.pin_path,
			   p->cfg.save_path, &r, &err) < 0) {
		p->st.rings_refused++;
		if (cr_log_ratelimit_ok(&p->rl, cr_now_ms()))
			cr_log_warnx("refused ring configuration epoch %" PRIu64
				     " from node %s: %s",
				     a->epoch, ids, cr_error_msg(err));
		cr_error_free(err);
		cr_ring_asm_reset(a);
		return;
	}
	cr_ring_asm_reset(a);
	p->st.rings_accepted++;
	cr_log_info("accepted ring configuration epoch %" PRIu64
		    " (%zu nodes) from node %s",
		    r->epoch, r->n_nodes, ids);
	/* The owner swaps it in and calls rn_peers_set_ring(). */
	p->ops->ring(p->ctx, r);
}

static void peers_on_heartbeat(struct rn_peers *p, struct cr_sess *s,
			       struct rn_link *l, const Carrier__Heartbeat *hb)
{
	uint64_t now = cr_now_ms();

	p->st.heartbeats_received++;
	if (l != NULL)
		l->epoch = hb->ring_epoch;
	if (hb->ring_epoch < p->ring->epoch) {
		uint64_t *last = l != NULL ? &l->last_push_ms :
					     &p->last_stray_push_ms;

		if (now - *last >= PEERS_PUSH_EVERY_MS) {
			*last = now;
			rn_peers_push_ring(p, s);
		}
	} else if (l == NULL && hb->ring_epoch > p->ring->epoch &&
		   now - p->last_stray_push_ms >= PEERS_PUSH_EVERY_MS) {
		/* A node of a newer ring we do not know yet: tell it our
		 * epoch so that it sends us its configuration. */
		Carrier__Heartbeat mine = CARRIER__HEARTBEAT__INIT;
		Carrier__Hop m = CARRIER__HOP__INIT;

		p->last_stray_push_ms = now;
		mine.ring_epoch = p->ring->epoch;
		m.msg_case = CARRIER__HOP__MSG_HEARTBEAT;
		m.heartbeat = &mine;
		peers_send(s, &m);
	}
}

int rn_peers_on_hop(struct rn_peers *p, struct cr_sess *s,
		    const Carrier__Hop *m)
{
	struct rn_link *l = peers_link_of(p, s, NULL);

	if (l != NULL) {
		l->last_rx_ms = cr_now_ms();
		if (l->sess == NULL && cr_sess_is_up(s))
			l->sess = s;
	}
	switch (m->msg_case) {
	case CARRIER__HOP__MSG_HEARTBEAT:
		peers_on_heartbeat(p, s, l, m->heartbeat);
		return 1;
	case CARRIER__HOP__MSG_RING_CHUNK:
		peers_on_chunk(p, s, l, m->ring_chunk);
		return 1;
	case CARRIER__HOP__MSG_REPLICATE:
		if (l != NULL)
			peers_on_replicate(p, s, m);
		return 1;
	case CARRIER__HOP__MSG_REPLICATE_ACK:
		peers_on_replicate_ack(p, s, m);
		return 1;
	default:
		return 0;
	}
}

/* ---- Timers ------------------------------------------------------------- */

size_t rn_peers_alive_bits(const struct rn_peers *p, uint8_t *out, size_t cap)
{
	size_t len = (p->n + 7) / 8;

	if (len > cap)
		len = cap;
	memset(out, 0, len);
	for (size_t i = 0; i < p->n && i / 8 < len; i++)
		if (p->alive[i])
			cr_alive_set(out, i);
	return len;
}

const uint8_t *rn_peers_alive(const struct rn_peers *p)
{
	return p->alive;
}

size_t rn_peers_alive_count(const struct rn_peers *p)
{
	return p->n_alive;
}

/* Test mode, once a second to each peer: a bogus configuration (epoch),
 * and the first record of the last device stored, when a newer one came
 * since (replay; honest nodes keep the newer). */
static void peers_byz_second(struct rn_peers *p, struct cr_sess *s)
{
	uint8_t old[CP_PRESENCE_MAX];
	struct cr_presence rec;
	Carrier__SignedPresence *sp;
	size_t olen;

	if (p->cfg.byzantine & RN_BYZ_EPOCH)
		rn_peers_push_ring(p, s);
	if (!(p->cfg.byzantine & RN_BYZ_REPLAY) || p->byz_last_len == 0 ||
	    cr_presence_verify(p->byz_last, p->byz_last_len, cr_now_unix(),
			       NULL, &rec, NULL) < 0 ||
	    cr_kv_get(p->kv, "byz_first", rec.id.hash, CR_ID_HASHLEN, old,
		      sizeof(old), &olen, NULL) < 0 ||
	    olen > sizeof(old) ||
	    (olen == p->byz_last_len && memcmp(old, p->byz_last, olen) == 0))
		return;
	sp = carrier__signed_presence__unpack(NULL, olen, old);
	if (sp == NULL)
		return;
	peers_send_replica(p, s, sp, 0);
	p->st.byz[RN_BYZ_IDX(RN_BYZ_REPLAY)]++;
	carrier__signed_presence__free_unpacked(sp, NULL);
}

/* Test mode, every heartbeat: RN_BYZ_FLOOD_N forged replicas and as many
 * extra heartbeats (hb) to peer s. */
static void peers_byz_flood(struct rn_peers *p, struct cr_sess *s,
			    Carrier__Hop *hb)
{
	uint8_t forged[CP_PRESENCE_MAX];
	Carrier__SignedPresence *sp = NULL;
	size_t flen;

	if (p->byz_last_len > 0) {
		flen = rn_byz_forge_presence(p->byz_last, p->byz_last_len,
					     forged, sizeof(forged));
		if (flen > 0)
			sp = carrier__signed_presence__unpack(NULL, flen,
							      forged);
	}
	for (unsigned i = 0; i < RN_BYZ_FLOOD_N; i++) {
		if (sp != NULL)
			peers_send_replica(p, s, sp, 0);
		peers_send(s, hb);
		p->st.byz[RN_BYZ_IDX(RN_BYZ_FLOOD)]++;
	}
	if (sp != NULL)
		carrier__signed_presence__free_unpacked(sp, NULL);
}

static void peers_heartbeat(struct rn_peers *p, uint64_t now)
{
	uint8_t bits[CR_ALIVE_BYTES_MAX];
	Carrier__Heartbeat hb = CARRIER__HEARTBEAT__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;

	hb.ring_epoch = p->ring->epoch;
	hb.alive.data = bits;
	hb.alive.len = rn_peers_alive_bits(p, bits, sizeof(bits));
	if (p->cfg.byzantine & RN_BYZ_LIVENESS) {
		/* Test mode: every node alive, the dead ones too. */
		memset(bits, 0xff, hb.alive.len);
		p->st.byz[RN_BYZ_IDX(RN_BYZ_LIVENESS)]++;
	}
	if (p->cfg.byzantine & RN_BYZ_EPOCH)
		hb.ring_epoch += 1000;
	m.msg_case = CARRIER__HOP__MSG_HEARTBEAT;
	m.heartbeat = &hb;
	for (size_t i = 0; i < p->n; i++) {
		struct rn_link *l = &p->links[i];

		if ((int)i == p->self || l->sess == NULL || !cr_sess_is_up(l->sess))
			continue;
		peers_send(l->sess, &m);
		p->st.heartbeats_sent++;
		if (p->cfg.byzantine && now - p->last_bogus_ms >= 1000)
			peers_byz_second(p, l->sess);
		if (p->cfg.byzantine & RN_BYZ_FLOOD)
			peers_byz_flood(p, l->sess, &m);
	}
	if (p->cfg.byzantine && now - p->last_bogus_ms >= 1000)
		p->last_bogus_ms = now;
}

static void peers_dial(struct rn_peers *p, struct rn_link *l, uint64_t now)
{
	struct cr_error *err = NULL;
	uint64_t wait = p->cfg.peer_timeout_ms > 500 ? p->cfg.peer_timeout_ms :
						       500;

	l->next_dial_ms = now + wait + randombytes_uniform((uint32_t)wait / 2 + 1);
	if (!l->addr_ok)
		return;
	l->dialing = cr_sess_connect(p->host, l->pk, CR_ID_NODE, &l->addr, NULL,
				     0, now, &err);
	if (l->dialing == NULL) {
		if (cr_log_ratelimit_ok(&p->rl, now))
			cr_log_warnx("cannot start a session with node: %s",
				     cr_error_msg(err));
		cr_error_free(err);
	}
}

struct sync_ctx {
	struct rn_peers *p;
	long n;        /* records offered in this batch */
	long max;      /* this batch's size */
	int skip;      /* the walk starts at sync_key, offered last time */
	int stopped;   /* the batch is full: the pass goes on next tick */
};

/*
 * When this node is in neither the device's home set of live nodes (home,
 * n) nor the one over every node of the configuration (so nothing is
 * collected because a home node is only down for now), the record at seq
 * is offered for collection and returned; else NULL.  That happens after
 * an epoch change moved the device's home set away from this node.
 */
static struct rn_gc *peers_gc_offer(struct rn_peers *p,
				    const uint8_t dev[CR_ID_HASHLEN],
				    uint64_t seq, const size_t *home, size_t n)
{
	size_t all[PEERS_HOME_MAX], n_all;
	struct rn_gc *gc;

	if (p->self < 0 || n == 0)
		return NULL;
	n_all = cr_ring_rank(p->ring, dev, NULL, all, rn_peers_replicas(p));
	for (size_t k = 0; k < n; k++)
		if ((int)home[k] == p->self)
			return NULL;
	for (size_t k = 0; k < n_all; k++)
		if ((int)all[k] == p->self)
			return NULL;
	gc = cr_map_get(p->gc, dev);
	if (gc == NULL) {
		gc = calloc(1, sizeof(*gc));
		if (gc == NULL)
			return NULL;
		memcpy(gc->dev, dev, CR_ID_HASHLEN);
		if (cr_map_put(p->gc, gc->dev, gc) < 0) {
			free(gc);
			return NULL;
		}
	}
	memset(gc->acked, 0, sizeof(gc->acked));
	gc->got = 0;
	gc->seq = seq;
	gc->need = (uint16_t)(n / 2 + 1);
	gc->deadline_ms = cr_now_ms() + PEERS_GC_TIMEOUT_MS;
	return gc;
}

/* A home node acknowledged dev at seq: once a majority did, the record
 * leaves this node's store (unless a newer one arrived meanwhile). */
static void peers_gc_ack(struct rn_peers *p, const uint8_t *dev, uint64_t seq,
			 int idx)
{
	struct rn_gc *gc = cr_map_get(p->gc, dev);
	struct cr_error *err = NULL;
	uint64_t seq_here;
	char ids[CR_ID_STRMAX];
	struct cr_id id = { .type = CR_ID_DEVICE };

	if (gc == NULL || seq < gc->seq ||
	    cr_alive_get(gc->acked, sizeof(gc->acked), (size_t)idx))
		return;
	cr_alive_set(gc->acked, (size_t)idx);
	if (++gc->got < gc->need)
		return;
	/* Only the stored sequence is needed: kept when a newer record
	 * arrived since the offer. */
	if (rn_pres_get_seq(p->kv, dev, &seq_here, NULL) == 0 &&
	    !rn_pres_newer(seq_here, gc->seq)) {
		if (rn_pres_del(p->kv, dev, &err) == 0) {
			p->st.gc_records++;
		} else {
			memcpy(id.hash, dev, CR_ID_HASHLEN);
			if (cr_log_ratelimit_ok(&p->rl, cr_now_ms()))
				cr_log_warnx("keeping device %s's record: %s",
					     cr_id_format(&id, ids),
					     cr_error_msg(err));
			cr_error_free(err);
		}
	}
	cr_map_del(p->gc, dev);
	free(gc);
}

static int peers_sync_one(void *arg, const uint8_t *dev,
			  const struct rn_pres *v)
{
	struct sync_ctx *sc = arg;
	struct rn_peers *p = sc->p;
	size_t home[PEERS_HOME_MAX], n;
	Carrier__SignedPresence *sp = NULL;
	struct rn_gc *gc = NULL;

	if (dev == NULL || v == NULL)
		return 0;
	if (sc->skip) {
		sc->skip = 0;
		if (memcmp(dev, p->sync_key, CR_ID_HASHLEN) == 0)
			return 0;
	}
	if (sc->n >= sc->max) {
		sc->stopped = 1;
		return 1;
	}
	sc->n++;
	memcpy(p->sync_key, dev, CR_ID_HASHLEN);
	n = peers_home(p, dev, home);
	gc = peers_gc_offer(p, dev, v->seq, home, n);
	for (size_t k = 0; k < n; k++) {
		struct rn_link *l = &p->links[home[k]];

		if ((int)home[k] == p->self || l->sess == NULL || !l->alive)
			continue;
		if (sp == NULL) {
			sp = carrier__signed_presence__unpack(NULL, v->rec_len,
							      v->rec);
			if (sp == NULL)
				return 0;
		}
		/* A request id asks for an acknowledgement. */
		peers_send_replica(p, l->sess, sp, gc != NULL ? 1 : 0);
	}
	if (sp != NULL) {
		p->st.sync_records++;
		carrier__signed_presence__free_unpacked(sp, NULL);
	}
	return 0;
}

/* Offers a batch of the records held here to their home sets. */
static void peers_sync(struct rn_peers *p, uint64_t now)
{
	struct sync_ctx sc = { p, 0, PEERS_SYNC_BATCH, p->sync_resume, 0 };
	long visited;

	/* Devices getting back in go first: a node with a backlog (INITs
	 * waiting, or a socket not drained) offers a tenth as many records
	 * a tick (a sync pass of 100,000 records made the survivors' peers
	 * receive 6,000 replicas a second, all the CPU a starved node had:
	 * no handshake got through for a minute, and devices whose Pong
	 * came after 3 s gave up live links).  The records are on the
	 * survivors already; the pass only restores their full home sets. */
	if (p->shed_ms != 0 && now - p->shed_ms < 1000)
		sc.max = PEERS_SYNC_BATCH_SHEDDING;

	/* From the device offered last (skipped), or from the start: each
	 * batch costs its own records only, so a pass over a store of n
	 * records is O(n), not O(n^2 / batch). */
	if (p->sync_resume)
		visited = rn_pres_foreach_from(p->kv, p->sync_key,
					       peers_sync_one, &sc, NULL);
	else
		visited = rn_pres_foreach(p->kv, peers_sync_one, &sc, NULL);
	if (visited < 0 || !sc.stopped) {
		p->sync_pending = p->sync_again;
		p->sync_resume = 0;
		p->sync_at_ms = now + PEERS_SYNC_REVIVAL_DELAY_MS;
		p->sync_again = 0;
		p->st.sync_passes++;
		return;
	}
	p->sync_resume = 1;
	p->sync_at_ms = now;
}

void rn_peers_tick(struct rn_peers *p, uint64_t now)
{
	uint64_t dead_after = p->cfg.peer_timeout_ms * 3 > 1500 ?
				      p->cfg.peer_timeout_ms * 3 :
				      1500;
	int changed = 0, died = 0, flapped = 0;

	/*
	 * A tick that comes late: this node's loop did not run (starved of
	 * CPU by its neighbours, or busy with a burst) and read nothing of
	 * what its peers sent meanwhile, which waits in the socket.  A node
	 * that was not running cannot judge its peers: the time it lost is
	 * not held against them.  (A 1 s peer timeout with a node stalled
	 * for 1.5 s took every live peer for dead, and each revival cost a
	 * pass over the whole store: bench/ring-failover-scale at 100,000
	 * devices.)  Ticks come every 250 ms; later than PEERS_TICK_LATE_MS
	 * counts.
	 */
	if (p->last_tick_ms != 0 && now - p->last_tick_ms > PEERS_TICK_LATE_MS) {
		uint64_t lost = now - p->last_tick_ms - PEERS_TICK_LATE_MS / 2;

		for (size_t i = 0; i < p->n; i++) {
			struct rn_link *l = &p->links[i];

			if (l->last_rx_ms != 0)
				l->last_rx_ms = l->last_rx_ms + lost < now ?
							l->last_rx_ms + lost :
							now;
		}
		p->st.tick_stalls++;
		if (now - p->last_tick_ms > p->st.tick_stall_max_ms)
			p->st.tick_stall_max_ms = now - p->last_tick_ms;
	}
	p->last_tick_ms = now;
	for (size_t i = 0; i < p->n; i++) {
		struct rn_link *l = &p->links[i];
		int alive;
		char ids[CR_ID_STRMAX];

		if ((int)i == p->self)
			continue;
		if (l->sess != NULL && now - l->last_rx_ms > dead_after) {
			/* Its keys are gone (a restart) or it is gone: a
			 * fresh handshake finds out. */
			cr_sess_close(l->sess);
			l->sess = NULL;
		}
		if (l->sess == NULL && l->dialing == NULL &&
		    now >= l->next_dial_ms && p->self >= 0)
			peers_dial(p, l, now);
		alive = l->sess != NULL && cr_sess_is_up(l->sess) &&
			now - l->last_rx_ms < p->cfg.peer_timeout_ms;
		if (alive != l->alive) {
			l->alive = alive;
			p->alive[i] = (uint8_t)alive;
			changed = 1;
			if (alive) {
				p->st.peer_revivals++;
				flapped |= l->died_ms != 0 &&
					   now - l->died_ms < PEERS_FLAP_MS;
			} else {
				p->st.peer_deaths++;
				l->died_ms = now;
				died = 1;
			}
			cr_log_info("node %s (%s) is %s", cr_id_format(&l->id, ids),
				    p->ring->nodes[i].addr,
				    alive ? "alive" : "dead");
		}
	}
	/*
	 * A death starts a sync pass over the store at once (its records'
	 * home sets lost a holder), and so does a revival (its peer gets what
	 * it missed).  But a peer back within PEERS_FLAP_MS was most likely
	 * starved rather than dead (a node's loop held up for a second or
	 * two): its pass waits PEERS_SYNC_REVIVAL_DELAY_MS (another change
	 * restarts the wait), and one under way is not restarted but
	 * followed by another.
	 */
	if (changed) {
		p->n_alive = 0;
		for (size_t i = 0; i < p->n; i++)
			p->n_alive += p->alive[i];
		if (died) {
			p->sync_pending = 1;
			p->sync_resume = 0;
			p->sync_at_ms = now + PEERS_SYNC_DELAY_MS;
			p->sync_again = 0;
		} else if (p->sync_pending && p->sync_resume) {
			p->sync_again = 1;
		} else {
			p->sync_pending = 1;
			p->sync_resume = 0;
			p->sync_at_ms = now + (flapped ?
						       PEERS_SYNC_REVIVAL_DELAY_MS :
						       PEERS_SYNC_DELAY_MS);
		}
	}
	if (died)
		peers_nudge(p);
	else if (p->nudge_pending)
		peers_nudge_batch(p);
	if (now - p->last_hb_ms >= p->cfg.heartbeat_ms) {
		p->last_hb_ms = now;
		peers_heartbeat(p, now);
	}
	if (p->sync_pending && now >= p->sync_at_ms)
		peers_sync(p, now);
	/* Expired records leave the store, a batch at a time. */
	if (now - p->last_purge_ms >= PEERS_PURGE_EVERY_MS) {
		p->last_purge_ms = now;
		p->purge_cursor = peers_purge(p, p->purge_cursor,
					      p->purge_cursor +
						      PEERS_PURGE_BATCH);
		if (p->purge_cursor < 0)
			p->purge_cursor = 0;
	}
	/* Records offered for collection that found no majority in time stay
	 * here; a later pass offers them again. */
	{
		struct rn_gc *dead[64];
		size_t n_dead = 0, pos = 0;
		const void *key;
		void *val;

		while (n_dead < 64 && cr_map_next(p->gc, &pos, &key, &val)) {
			struct rn_gc *gc = val;

			if (now >= gc->deadline_ms)
				dead[n_dead++] = gc;
		}
		for (size_t i = 0; i < n_dead; i++) {
			cr_map_del(p->gc, dead[i]->dev);
			free(dead[i]);
		}
		if (n_dead > 0 && !p->sync_pending) {
			p->sync_pending = 1;
			p->sync_resume = 0;
			p->sync_at_ms = now + PEERS_GC_RETRY_MS;
		}
	}
	/* Publishes that found no majority in time: the device retries. */
	{
		struct rn_pend *dead[64];
		size_t n_dead = 0, pos = 0;
		const void *key;
		void *val;

		while (n_dead < 64 && cr_map_next(p->pend, &pos, &key, &val)) {
			struct rn_pend *pd = val;

			if (now > pd->deadline_ms)
				dead[n_dead++] = pd;
		}
		for (size_t i = 0; i < n_dead; i++) {
			p->st.publishes_timed_out++;
			cr_map_del(p->pend, dead[i]->dev);
			free(dead[i]);
		}
	}
}

void rn_peers_shedding(struct rn_peers *p, uint64_t now_ms)
{
	p->shed_ms = now_ms;
}

int rn_peers_is_node_addr(const struct rn_peers *p, const struct cr_addr *from)
{
	for (size_t i = 0; i < p->n; i++)
		if ((int)i != p->self && p->links[i].addr_ok &&
		    cr_addr_equal(&p->links[i].addr, from))
			return 1;
	return 0;
}

const struct rn_peers_stats *rn_peers_stats(const struct rn_peers *p)
{
	return &p->st;
}

size_t rn_peers_home_of(struct rn_peers *p, const uint8_t key[CR_ID_HASHLEN],
			size_t *out, size_t cap)
{
	size_t home[PEERS_HOME_MAX], n = peers_home(p, key, home);

	if (n > cap)
		n = cap;
	memcpy(out, home, n * sizeof(*out));
	return n;
}

int rn_peers_self(const struct rn_peers *p)
{
	return p->self;
}

struct cr_sess *rn_peers_sess(const struct rn_peers *p, size_t idx)
{
	if ((int)idx == p->self || idx >= p->ring->n_nodes)
		return NULL;
	return p->links[idx].sess;
}

size_t rn_peers_n_nodes(const struct rn_peers *p)
{
	return p->ring->n_nodes;
}
