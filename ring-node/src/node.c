/*
 * The ring node's core: one UDP socket, one session host, the presence
 * store and the relay routes, all driven by one libevent loop.
 */
#include "rn/node.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/addr.h"
#include "cr/kv.h"
#include "cr/log.h"
#include "cr/map.h"
#include "cr/metrics.h"
#include "cr/presence.h"
#include "cr/punch.h"
#include "cr/ring.h"
#include "cr/ringsync.h"
#include "cr/session.h"
#include "cr/stun.h"
#include "cr/tlsdgram.h"
#include "cr/udp.h"
#include "cr/util.h"
#include "rn/byzantine.h"
#include "rn/cache.h"
#include "rn/fleet.h"
#include "rn/peers.h"
#include "rn/presstore.h"

enum {
	NODE_TICK_MS = 250,
	/* Handshake admission (see node_on_read()): a read wake-up ends
	 * after 4 of these, devices' INITs past the first go to a queue, and
	 * a run of the queue takes one. */
	NODE_READ_BUDGET_MS = 50,
	NODE_INITQ = 1024,          /* INITs waiting */
	NODE_INIT_SLOT = 640,       /* bytes of one (larger: handled at once) */
	NODE_INIT_MAX_AGE_MS = 600, /* older: the device sent another by now */
	NODE_ROUTE_QUIET_MS = 3000, /* see node_route_counts() */
	NODE_LMDB_MAP = 1024 * 1024 * 1024,
};

/* Drops the node counts itself, beside the session layer's. */
enum node_drop {
	NODE_DROP_TYPE,          /* unknown first byte */
	NODE_DROP_OVERSIZE,      /* larger than CP_DATAGRAM_MAX */
	NODE_DROP_RELAY_SHORT,
	NODE_DROP_RELAY_ROUTE,   /* unknown route id */
	NODE_DROP_RELAY_SOURCE,  /* route used from another address */
	NODE_DROP_HOP_MALFORMED, /* payload is not a Hop */
	NODE_DROP_HOP_UNEXPECTED,
	NODE_DROP_BYZANTINE,     /* test mode: relayed traffic thrown away */
	NODE_DROP_SHED,          /* a device's INIT too old or the queue full */
	NODE_DROP_MAX
};

static const char *const node_drop_names[NODE_DROP_MAX] = {
	"bad_type",     "oversize",      "relay_short", "relay_unknown_route",
	"relay_bad_source", "hop_malformed", "hop_unexpected",
	"byzantine", "shed",
};

/*
 * What the node keeps per peer lives in the session's 16-bit tag, so an
 * idle device costs the node nothing beyond its session: whether the up
 * callback ran (the session is counted), whether the device's record was
 * acknowledged (logged once), and the second (modulo 2^14) the ring was
 * last pushed to it (at most once a second, when it announced an older
 * epoch).
 */
enum {
	TAG_UP = 1u << 15,
	TAG_PUBLISHED = 1u << 14,
	TAG_PUSH_MASK = (1u << 14) - 1,
};

struct rn_route_set;
struct node_later;

struct rn_route {
	uint64_t id[2]; /* [0] vendor side, [1] device side */
	struct cr_addr addr[2];
	uint8_t device[CR_ID_HASHLEN];
	uint8_t vendor[CR_ID_HASHLEN];
	uint64_t last_ms;
	uint64_t bytes;
	/* The device's routes, for its cap and the fair-share eviction. */
	struct rn_route *dev_prev, *dev_next;
	struct rn_route_set *dev_set;
	struct rn_route_set *vendor_set;
};

/* The routes of one device (with its list) or one vendor (a count only):
 * an entry exists only while it has routes. */
struct rn_route_set {
	uint8_t id[CR_ID_HASHLEN];
	size_t n;
	struct rn_route *head; /* devices only */
};

/* A token bucket of connect offers for one (vendor, device) pair. */
struct rn_offer_bucket {
	uint64_t last_ms;
	uint32_t tokens_milli; /* thousandths of a token */
};

/* Why a connect request was refused; counted for the metrics. */
enum node_refuse {
	NODE_REFUSE_VENDOR_ROUTES, /* the vendor holds routes-per-vendor */
	NODE_REFUSE_DEVICE_ROUTES, /* the device is full of this vendor's */
	NODE_REFUSE_OFFER_RATE,    /* (vendor, device) over connect-rate */
	NODE_REFUSE_MAX
};

static const char *const node_refuse_names[NODE_REFUSE_MAX] = {
	"vendor_routes", "device_routes", "offer_rate",
};

/* Candidates a connect offer carries to the device at most (the rest, and
 * every one that is not HOST:PORT, are dropped): the offer stays one
 * small datagram on the device's link. */
enum { NODE_OFFER_CANDS = 8 };

/* Devices' INITs waiting for the node's CPU, oldest first. */
struct node_initq {
	size_t head, n;
	struct node_init {
		uint64_t at;
		struct cr_addr from;
		size_t len;
		uint8_t buf[NODE_INIT_SLOT];
	} e[NODE_INITQ];
};

struct rn_node {
	struct event_base *base;
	struct rn_config cfg;
	struct cr_keypair kp;
	struct cr_id id;
	struct cr_ring *ring;
	char pin_path[PATH_MAX + 16];
	char ring_save_path[PATH_MAX + 16]; /* newest accepted ring */
	struct rn_peers *cluster; /* the other nodes */
	struct rn_fleet *fleet;   /* rollout records (rn/fleet.h) */
	int fd;
	struct event *ev_read;
	struct event *ev_tick;
	struct evhttp *http;
	struct cr_sess_host *host;
	struct cr_kv *kv;
	/* Devices with a live session; the sessions themselves are found
	 * through the session host's peer table (node_device()), so an idle
	 * device costs no entry in a table of our own. */
	size_t n_devices;
	struct cr_map *routes;  /* route id -> struct rn_route (twice) */
	struct cr_map *dev_routes;    /* device hash -> struct rn_route_set */
	struct cr_map *vendor_routes; /* vendor hash -> struct rn_route_set */
	struct cr_map *offer_buckets; /* H(vendor, device) -> rn_offer_bucket */
	struct cr_udp_batch *batch;
	struct node_initq *initq; /* made at the first backlog */
	struct event *ev_initq;   /* runs the queue while it is not empty */
	struct cr_udp_out *out;
	struct cr_tls_srv *tls; /* --tcp: datagrams over TLS, or NULL */
	struct rn_cache *cache; /* Archon shard cache, or NULL */
	FILE *capture;
	uint64_t last_sweep_ms;
	struct cr_log_ratelimit rl;
	struct {
		uint64_t drops[NODE_DROP_MAX];
		uint64_t relayed_bytes, relayed_datagrams;
		uint64_t publishes, publish_rejected, lookups, connects;
		uint64_t routes_created;
		uint64_t connects_refused[NODE_REFUSE_MAX];
		uint64_t routes_evicted, routes_expired;
		uint64_t candidates_dropped;
		uint64_t stun_answered, stun_dropped;
		uint64_t byz_lies;
		uint64_t byz[RN_BYZ_ROLES]; /* lies told, by role bit */
	} st;
	/* Test mode: another device's record (role "other") and the last
	 * device that published here (role "misroute"). */
	uint8_t byz_other[CP_PRESENCE_MAX];
	size_t byz_other_len;
	uint8_t byz_last_dev[CR_ID_HASHLEN];
	int byz_have_dev;
	struct node_later *byz_later; /* datagrams held (delay, replay) */
};

static const struct cr_id *peer_id(const struct cr_sess *p)
{
	return cr_sess_peer_id(p);
}

/* Test mode: one more lie of role bit `role`. */
static void node_byz_told(struct rn_node *n, unsigned role)
{
	for (unsigned i = 0; i < RN_BYZ_ROLES; i++)
		if (role & (1u << i))
			n->st.byz[i]++;
}

/* The peer of the device's established session (the one heard from last),
 * or NULL. */
static struct cr_sess *node_device(const struct rn_node *n,
				   const uint8_t hash[CR_ID_HASHLEN])
{
	struct cr_id id = { .type = CR_ID_DEVICE };
	struct cr_sess *s;

	memcpy(id.hash, hash, CR_ID_HASHLEN);
	s = cr_sess_host_find(n->host, &id, NULL);
	return s != NULL && (cr_sess_tag(s) & TAG_UP) ? s : NULL;
}

/*
 * A device session's user pointer holds no pointer: it holds the device's
 * keepalive interval in ms, as its pings say (0 until one does), or
 * NODE_DEV_GONE once it said goodbye (Detach), so that an idle device
 * still costs nothing beyond its session.  A device silent for
 * NODE_DEV_MISSED keepalives (and a quarter of one, 500 ms to 1 s) is
 * gone too: both are offline to lookups at once, while the session stays
 * until it dies and tells when the device was last heard.  The slack is
 * small because missing three pings already allows a live device's next
 * ping two keepalives of delay; keeping it a fraction of the keepalive
 * lets a vanished device show offline within 4 keepalives (the offline
 * bound, docs/fleet.md) with a watcher polling at a quarter keepalive.
 */
enum {
	NODE_DEV_GONE = 1,
	NODE_DEV_MISSED = 3,
	NODE_DEV_SLACK_MIN_MS = 500, /* sub-second keepalives (tests, loaded) */
	NODE_DEV_SLACK_MAX_MS = 1000,
};

static uint64_t node_device_gone_after_ms(uint64_t ka)
{
	uint64_t slack = ka / 4;

	if (slack < NODE_DEV_SLACK_MIN_MS)
		slack = NODE_DEV_SLACK_MIN_MS;
	if (slack > NODE_DEV_SLACK_MAX_MS)
		slack = NODE_DEV_SLACK_MAX_MS;
	return NODE_DEV_MISSED * ka + slack;
}

static int node_device_gone(const struct cr_sess *s, uint64_t now)
{
	uintptr_t ka = (uintptr_t)cr_sess_user(s);

	return ka == NODE_DEV_GONE ||
	       (ka > NODE_DEV_GONE &&
		now - cr_sess_last_recv_ms(s) > node_device_gone_after_ms(ka));
}

/* 1 when the device has another established session the node knows of
 * (one whose up callback has run: promoting a replacement kills the old
 * session before announcing the new one). */
static int node_device_elsewhere(const struct rn_node *n,
				 const struct cr_sess *s)
{
	struct cr_sess *o = cr_sess_host_find(n->host, cr_sess_peer_id(s), s);

	return o != NULL && (cr_sess_tag(o) & TAG_UP);
}

static void node_capture(struct rn_node *n, char dir, const uint8_t *buf,
			 size_t len)
{
	uint8_t hdr[3] = { (uint8_t)dir, (uint8_t)(len >> 8), (uint8_t)len };

	if (n->capture == NULL)
		return;
	fwrite(hdr, 1, sizeof(hdr), n->capture);
	fwrite(buf, 1, len, n->capture);
}

static void node_send_raw(struct rn_node *n, const struct cr_addr *to,
			  const uint8_t *buf, size_t len)
{
	node_capture(n, '>', buf, len);
	if (n->tls != NULL && cr_tls_is_conn_addr(to))
		cr_tls_srv_send(n->tls, to, buf, len);
	else
		cr_udp_out_send(n->out, to, buf, len);
}

/* ---- Hop messages ------------------------------------------------------ */

static void node_reply(struct rn_node *n, struct cr_sess *s, Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long len = cp_hop_pack(m, buf, sizeof(buf));

	if (len < 0) {
		cr_log_warnx("reply too large to send (%s)", strerror(-(int)len));
		return;
	}
	cr_sess_send(s, buf, (size_t)len, cr_now_ms());
}

static void node_error(struct rn_node *n, struct cr_sess *s, uint64_t req_id,
		       Carrier__Error__Code code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void node_error(struct rn_node *n, struct cr_sess *s, uint64_t req_id,
		       Carrier__Error__Code code, const char *fmt, ...)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Error e = CARRIER__ERROR__INIT;
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	e.code = code;
	e.message = text;
	m.req_id = req_id;
	m.msg_case = CARRIER__HOP__MSG_ERROR;
	m.error = &e;
	node_reply(n, s, &m);
}

static void node_on_published(void *ctx, const uint8_t dev[CR_ID_HASHLEN],
			      uint64_t seq, uint64_t req_id, unsigned stored,
			      unsigned home);

static void node_on_publish(struct rn_node *n, struct cr_sess *p,
			    const Carrier__Hop *req)
{
	uint8_t blob[CP_PRESENCE_MAX];
	struct cr_error *err = NULL;
	struct cr_presence rec;
	char ids[CR_ID_STRMAX];
	uint64_t stored = 0;
	size_t len;
	int rc;

	if (peer_id(p)->type != CR_ID_DEVICE) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			   "only devices publish presence");
		return;
	}
	if (req->publish->record == NULL ||
	    carrier__signed_presence__get_packed_size(req->publish->record) >
		    sizeof(blob)) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			   "presence record missing or too large");
		return;
	}
	len = carrier__signed_presence__pack(req->publish->record, blob);
	if (n->cfg.byzantine & (RN_BYZ_MISROUTE | RN_BYZ_NOSTORE)) {
		memcpy(n->byz_last_dev, peer_id(p)->hash, CR_ID_HASHLEN);
		n->byz_have_dev = 1;
	}
	if ((n->cfg.byzantine & RN_BYZ_NOSTORE) &&
	    cr_presence_verify(blob, len, cr_now_unix(), peer_id(p), &rec,
			       NULL) == 0) {
		/* Test mode: "held by all its home nodes", stored nowhere. */
		unsigned home = rn_peers_replicas(n->cluster);

		node_byz_told(n, RN_BYZ_NOSTORE);
		rn_byz_remember(n->kv, peer_id(p)->hash, blob, len);
		cr_kv_put(n->kv, "byz_nostore", peer_id(p)->hash,
			  CR_ID_HASHLEN, blob, len, NULL);
		node_on_published(n, peer_id(p)->hash, rec.seq, req->req_id,
				  home, home);
		return;
	}
	rc = rn_peers_store(n->cluster, blob, len, peer_id(p),
			    cr_sess_peer_addr(p), &rec, &stored, &err);
	if (rc < 0 && err != NULL &&
	    (err->code == EBADMSG || err->code == ESTALE)) {
		n->st.publish_rejected++;
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__REJECTED,
			   "%s", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	/* The presence store's bounds (counted by reason in rn_peers). */
	if (rc < 0 && err != NULL &&
	    (err->code == ERANGE || err->code == EACCES ||
	     err->code == EAGAIN || err->code == ENOSPC)) {
		node_error(n, p, req->req_id,
			   err->code == ERANGE || err->code == EACCES ?
				   CARRIER__ERROR__CODE__REJECTED :
				   CARRIER__ERROR__CODE__LIMIT,
			   "%s", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	if (rc < 0) {
		cr_log_warnx("storing presence of %s: %s",
			     cr_id_format(peer_id(p), ids), cr_error_msg(err));
		cr_error_free(err);
		node_error(n, p, req->req_id,
			   CARRIER__ERROR__CODE__UNAVAILABLE,
			   "node cannot store the record now");
		return;
	}
	if (rc == 0 && rn_pres_newer(stored, rec.seq)) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__STALE,
			   "presence sequence %llu is not newer than the "
			   "stored %llu",
			   (unsigned long long)rec.seq,
			   (unsigned long long)stored);
		return;
	}
	/* Stored here (or a resend of what is stored): the device hears back
	 * once a majority of its home set holds it (node_on_published). */
	if (rc == 1)
		n->st.publishes++;
	rn_peers_replicate(n->cluster, blob, len, &rec, req->req_id);
}

/* rn_peers: a majority of the device's home set holds seq. */
static void node_on_published(void *ctx, const uint8_t dev[CR_ID_HASHLEN],
			      uint64_t seq, uint64_t req_id, unsigned stored,
			      unsigned home)
{
	struct rn_node *n = ctx;
	struct cr_sess *p = node_device(n, dev);
	Carrier__PresenceAck ack = CARRIER__PRESENCE_ACK__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	char addr[CR_ADDR_STRMAX], ids[CR_ID_STRMAX];

	if (p == NULL || !cr_sess_is_up(p))
		return;
	if (!(cr_sess_tag(p) & TAG_PUBLISHED))
		cr_log_info("device %s attached from %s (seq %llu, on %u of %u "
			    "home nodes)",
			    cr_id_format(peer_id(p), ids),
			    cr_addr_format(cr_sess_peer_addr(p), addr),
			    (unsigned long long)seq, stored, home);
	/* Attached: the newest deployments that target it, once a session
	 * (a republished presence brings nothing). */
	if (!(cr_sess_tag(p) & TAG_PUBLISHED))
		rn_fleet_on_attach(n->fleet, p, dev);
	cr_sess_set_tag(p, cr_sess_tag(p) | TAG_PUBLISHED);
	ack.seq = seq;
	ack.observed_addr = cr_addr_format(cr_sess_peer_addr(p), addr);
	ack.stored = stored;
	ack.home = home;
	m.req_id = req_id;
	m.msg_case = CARRIER__HOP__MSG_ACK;
	m.ack = &ack;
	node_reply(n, p, &m);
}

static void node_on_lookup(struct rn_node *n, struct cr_sess *p,
			   const Carrier__Hop *req)
{
	uint8_t stored[RN_PRES_VALUE_MAX];
	struct rn_pres v;
	Carrier__LookupReply lr = CARRIER__LOOKUP_REPLY__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__SignedPresence *rec;
	struct cr_error *err = NULL;
	struct cr_sess *dev;
	struct cr_id id;
	char ids[CR_ID_STRMAX];
	uint8_t byz_rec[CP_PRESENCE_MAX];
	int rc;

	n->st.lookups++;
	if (req->lookup->device_id.len != CR_ID_HASHLEN) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			   "device id must be %d bytes", CR_ID_HASHLEN);
		return;
	}
	id.type = CR_ID_DEVICE;
	memcpy(id.hash, req->lookup->device_id.data, CR_ID_HASHLEN);
	rc = rn_pres_get(n->kv, id.hash, stored, &v, &err);
	if (rc == -ENOENT && (n->cfg.byzantine & RN_BYZ_NOSTORE) &&
	    cr_kv_get(n->kv, "byz_nostore", id.hash, CR_ID_HASHLEN, byz_rec,
		      sizeof(byz_rec), &v.rec_len, NULL) == 0 &&
	    v.rec_len <= sizeof(byz_rec)) {
		/* Test mode: what it never stored (nor replicated), kept
		 * aside, so that vendors still come to relay. */
		v.rec = byz_rec;
		rc = 0;
	}
	if (rc == -ENOENT) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__NOT_FOUND,
			   "no presence record for %s on node %s",
			   cr_id_format(&id, ids), "here");
		return;
	}
	if (rc < 0) {
		/* A store failure is this node's fault, not the device's
		 * absence: the requester should try another node. */
		if (cr_log_ratelimit_ok(&n->rl, cr_now_ms()))
			cr_log_warnx("lookup of %s: %s", cr_id_format(&id, ids),
				     cr_error_msg(err));
		cr_error_free(err);
		node_error(n, p, req->req_id,
			   CARRIER__ERROR__CODE__UNAVAILABLE,
			   "internal error reading the presence store");
		return;
	}
	rec = carrier__signed_presence__unpack(NULL, v.rec_len, v.rec);
	if (rec == NULL) {
		node_error(n, p, req->req_id,
			   CARRIER__ERROR__CODE__UNAVAILABLE,
			   "stored record unreadable");
		return;
	}
	dev = node_device(n, id.hash);
	lr.record = rec;
	lr.gone = dev != NULL && node_device_gone(dev, cr_now_ms());
	lr.attached_here = dev != NULL && !lr.gone;
	if (n->cfg.byzantine & RN_BYZ_LOOKUP) {
		/* Test mode: a stale, forged or other device's record. */
		unsigned told = 0;
		Carrier__SignedPresence *lie = rn_byz_lookup_lie(
			n->kv, id.hash, v.rec, v.rec_len, n->byz_other,
			n->byz_other_len, n->cfg.byzantine,
			(unsigned)n->st.lookups, &told);

		if (lie != NULL) {
			carrier__signed_presence__free_unpacked(rec, NULL);
			rec = lie;
			lr.record = rec;
			n->st.byz_lies++;
			node_byz_told(n, told);
		}
		if (v.rec_len <= sizeof(n->byz_other)) {
			memcpy(n->byz_other, v.rec, v.rec_len);
			n->byz_other_len = v.rec_len;
		}
	}
	if (n->cfg.byzantine & RN_BYZ_CLAIM) {
		/* A claim to hold the device's session, so that vendors try
		 * to relay through us. */
		lr.attached_here = 1;
		lr.gone = 0;
	}
	if (dev != NULL)
		lr.last_seen_ms_ago =
			cr_now_ms() - cr_sess_last_recv_ms(dev);
	m.req_id = req->req_id;
	m.msg_case = CARRIER__HOP__MSG_LOOKUP_REPLY;
	m.lookup_reply = &lr;
	node_reply(n, p, &m);
	carrier__signed_presence__free_unpacked(rec, NULL);
}

/* The route set of id in map (created when create), or NULL. */
static struct rn_route_set *node_route_set(struct cr_map *map,
					   const uint8_t id[CR_ID_HASHLEN],
					   int create)
{
	struct rn_route_set *set = cr_map_get(map, id);

	if (set != NULL || !create)
		return set;
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		return NULL;
	memcpy(set->id, id, CR_ID_HASHLEN);
	if (cr_map_put(map, set->id, set) < 0) {
		free(set);
		return NULL;
	}
	return set;
}

static void node_route_set_put(struct cr_map *map, struct rn_route_set *set)
{
	if (set != NULL && --set->n == 0) {
		cr_map_del(map, set->id);
		free(set);
	}
}

static void node_route_free(struct rn_node *n, struct rn_route *r)
{
	struct rn_route_set *ds = r->dev_set;

	cr_map_del(n->routes, &r->id[0]);
	cr_map_del(n->routes, &r->id[1]);
	if (ds != NULL) {
		if (r->dev_prev != NULL)
			r->dev_prev->dev_next = r->dev_next;
		else
			ds->head = r->dev_next;
		if (r->dev_next != NULL)
			r->dev_next->dev_prev = r->dev_prev;
		node_route_set_put(n->dev_routes, ds);
	}
	node_route_set_put(n->vendor_routes, r->vendor_set);
	free(r);
}

static uint64_t node_route_id(struct rn_node *n)
{
	uint64_t id;

	do {
		randombytes_buf(&id, sizeof(id));
	} while (id == 0 || cr_map_get(n->routes, &id) != NULL);
	return id;
}

/*
 * Room for one more route from `vendor` to the device of ds (NULL: it has
 * none): 1 when there is room (or was made), 0 when the request is
 * refused.  A full device makes room by fair share: the vendor holding the
 * most of its routes loses its least recently used one, unless that is
 * the requester itself (a vendor cannot crowd out another by asking
 * often: one that asks without end only recycles its own routes).
 */
static int node_device_room(struct rn_node *n, struct rn_route_set *ds,
			    const uint8_t vendor[CR_ID_HASHLEN])
{
	struct rn_route *victim = NULL;
	size_t mine = 0, top = 0;

	if (n->cfg.routes_per_device == 0 || ds == NULL ||
	    ds->n < n->cfg.routes_per_device)
		return 1;
	/* Bounded by routes_per_device: at most that many squared steps. */
	for (struct rn_route *r = ds->head; r != NULL; r = r->dev_next) {
		size_t cnt = 0;
		struct rn_route *lru = r;

		for (struct rn_route *q = ds->head; q != NULL; q = q->dev_next)
			if (memcmp(q->vendor, r->vendor, CR_ID_HASHLEN) == 0) {
				cnt++;
				if (q->last_ms < lru->last_ms)
					lru = q;
			}
		if (memcmp(r->vendor, vendor, CR_ID_HASHLEN) == 0)
			mine = cnt;
		if (cnt > top) {
			top = cnt;
			victim = lru;
		}
	}
	if (victim == NULL || mine >= top)
		return 0;
	n->st.routes_evicted++;
	node_route_free(n, victim);
	return 1;
}

/* 1 when the (vendor, device) pair may have one more connect offer now:
 * connect_rate a second, five seconds' worth saved up. */
static int node_offer_allowed(struct rn_node *n,
			      const uint8_t vendor[CR_ID_HASHLEN],
			      const uint8_t device[CR_ID_HASHLEN], uint64_t now)
{
	uint8_t key[32];
	crypto_generichash_state st;
	struct rn_offer_bucket *b;
	uint64_t rate = n->cfg.connect_rate, cap = rate * 5 * 1000, t;

	if (rate == 0)
		return 1;
	crypto_generichash_init(&st, NULL, 0, sizeof(key));
	crypto_generichash_update(&st, vendor, CR_ID_HASHLEN);
	crypto_generichash_update(&st, device, CR_ID_HASHLEN);
	crypto_generichash_final(&st, key, sizeof(key));
	b = cr_map_get(n->offer_buckets, key);
	if (b == NULL) {
		/* Without memory for the bucket, no limit: the route caps
		 * still hold. */
		b = calloc(1, sizeof(*b) + sizeof(key));
		if (b == NULL)
			return 1;
		memcpy(b + 1, key, sizeof(key));
		if (cr_map_put(n->offer_buckets, b + 1, b) < 0) {
			free(b);
			return 1;
		}
		b->tokens_milli = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
		b->last_ms = now;
	}
	t = b->tokens_milli + (now - b->last_ms) * rate;
	b->tokens_milli = (uint32_t)(t > cap ? cap : t > UINT32_MAX ? UINT32_MAX : t);
	b->last_ms = now;
	if (b->tokens_milli < 1000)
		return 0;
	b->tokens_milli -= 1000;
	return 1;
}

static void node_on_connect(struct rn_node *n, struct cr_sess *p,
			    const Carrier__Hop *req)
{
	Carrier__ConnectOffer offer = CARRIER__CONNECT_OFFER__INIT;
	Carrier__ConnectReply cr = CARRIER__CONNECT_REPLY__INIT;
	Carrier__Hop m = CARRIER__HOP__INIT;
	char *cands[NODE_OFFER_CANDS];
	struct rn_route_set *ds, *vs;
	struct cr_sess *dev;
	struct rn_route *r;
	struct cr_id id;
	const uint8_t *vendor = peer_id(p)->hash;
	char ids[CR_ID_STRMAX];
	uint64_t now = cr_now_ms();
	size_t n_cands = 0;

	n->st.connects++;
	/* Vendors, and devices reaching a peer of their fleet (the target
	 * device checks the requester's fleet credential end to end; a node
	 * relays, it does not decide). */
	if (peer_id(p)->type != CR_ID_VENDOR &&
	    peer_id(p)->type != CR_ID_DEVICE) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			   "only vendors and devices connect to devices");
		return;
	}
	if (req->connect->device_id.len != CR_ID_HASHLEN) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			   "device id must be %d bytes", CR_ID_HASHLEN);
		return;
	}
	id.type = CR_ID_DEVICE;
	memcpy(id.hash, req->connect->device_id.data, CR_ID_HASHLEN);
	dev = node_device(n, id.hash);
	if ((n->cfg.byzantine & RN_BYZ_MISROUTE) && n->byz_have_dev &&
	    memcmp(n->byz_last_dev, id.hash, CR_ID_HASHLEN) != 0 &&
	    node_device(n, n->byz_last_dev) != NULL) {
		/* Test mode: the route leads to another device. */
		dev = node_device(n, n->byz_last_dev);
		node_byz_told(n, RN_BYZ_MISROUTE);
	}
	if (dev == NULL || !cr_sess_is_up(dev)) {
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__NOT_FOUND,
			   "device %s is not attached to this node",
			   cr_id_format(&id, ids));
		return;
	}
	vs = node_route_set(n->vendor_routes, vendor, 0);
	if (n->cfg.routes_per_vendor != 0 && vs != NULL &&
	    vs->n >= n->cfg.routes_per_vendor) {
		n->st.connects_refused[NODE_REFUSE_VENDOR_ROUTES]++;
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__LIMIT,
			   "this vendor holds %zu relay routes on this node, "
			   "the limit: close some (or wait %llu s for idle "
			   "ones to expire)",
			   vs->n, (unsigned long long)(n->cfg.route_idle_ms / 1000));
		return;
	}
	if (!node_offer_allowed(n, vendor, id.hash, now)) {
		n->st.connects_refused[NODE_REFUSE_OFFER_RATE]++;
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__LIMIT,
			   "too many connects to device %s: at most %llu a "
			   "second, retry later",
			   cr_id_format(&id, ids),
			   (unsigned long long)n->cfg.connect_rate);
		return;
	}
	if (!node_device_room(n, node_route_set(n->dev_routes, id.hash, 0),
			      vendor)) {
		n->st.connects_refused[NODE_REFUSE_DEVICE_ROUTES]++;
		node_error(n, p, req->req_id, CARRIER__ERROR__CODE__LIMIT,
			   "device %s has %llu relay routes, most of them "
			   "this vendor's: close some first",
			   cr_id_format(&id, ids),
			   (unsigned long long)n->cfg.routes_per_device);
		return;
	}
	/* Only well-formed candidates, and a few, go to the device: numeric
	 * HOST:PORT as the device parses them (never a name to resolve). */
	for (size_t i = 0; i < req->connect->n_candidates; i++) {
		struct cr_addr a;
		const char *c = req->connect->candidates[i];

		if (n_cands < NODE_OFFER_CANDS && c != NULL &&
		    strnlen(c, CP_ADDR_STR_MAX) < CP_ADDR_STR_MAX &&
		    cr_punch_parse(c, &a) == 0)
			cands[n_cands++] = req->connect->candidates[i];
		else
			n->st.candidates_dropped++;
	}
	r = calloc(1, sizeof(*r));
	vs = node_route_set(n->vendor_routes, vendor, 1);
	ds = node_route_set(n->dev_routes, id.hash, 1);
	if (r == NULL || vs == NULL || ds == NULL)
		goto nomem;
	r->id[0] = node_route_id(n);
	if (cr_map_put(n->routes, &r->id[0], r) < 0)
		goto nomem;
	r->id[1] = node_route_id(n);
	if (cr_map_put(n->routes, &r->id[1], r) < 0) {
		cr_map_del(n->routes, &r->id[0]);
		goto nomem;
	}
	r->vendor_set = vs;
	vs->n++;
	r->dev_set = ds;
	ds->n++;
	r->dev_next = ds->head;
	if (ds->head != NULL)
		ds->head->dev_prev = r;
	ds->head = r;
	r->addr[0] = *cr_sess_peer_addr(p);
	r->addr[1] = *cr_sess_peer_addr(dev);
	r->addr[0].route = r->addr[1].route = 0;
	memcpy(r->device, id.hash, CR_ID_HASHLEN);
	memcpy(r->vendor, vendor, CR_ID_HASHLEN);
	r->last_ms = now;
	n->st.routes_created++;

	offer.route_id = r->id[1];
	offer.vendor_pk.data = (uint8_t *)(uintptr_t)cr_sess_peer_pk(p);
	offer.vendor_pk.len = CR_PKLEN;
	offer.n_candidates = n_cands;
	offer.candidates = cands;
	m.req_id = 0;
	m.msg_case = CARRIER__HOP__MSG_OFFER;
	m.offer = &offer;
	node_reply(n, dev, &m);

	memset(&m, 0, sizeof(m));
	carrier__hop__init(&m);
	cr.route_id = r->id[0];
	m.req_id = req->req_id;
	m.msg_case = CARRIER__HOP__MSG_CONNECT_REPLY;
	m.connect_reply = &cr;
	node_reply(n, p, &m);
	cr_log_debug("route %016llx/%016llx to %s",
		     (unsigned long long)r->id[0], (unsigned long long)r->id[1],
		     cr_id_format(&id, ids));
	return;
nomem:
	free(r);
	/* Sets the failed route never joined: drop them if empty. */
	if (vs != NULL && vs->n == 0) {
		vs->n = 1;
		node_route_set_put(n->vendor_routes, vs);
	}
	if (ds != NULL && ds->n == 0) {
		ds->n = 1;
		node_route_set_put(n->dev_routes, ds);
	}
	node_error(n, p, req->req_id, CARRIER__ERROR__CODE__LIMIT,
		   "out of memory");
}

static void node_on_route_close(struct rn_node *n, struct cr_sess *p,
				const Carrier__Hop *req)
{
	uint64_t rid = req->route_close->route_id;
	struct rn_route *r = cr_map_get(n->routes, &rid);
	int side;

	if (r == NULL)
		return;
	side = r->id[0] == rid ? 0 : 1;
	/* Only the peer the route was set up for may close its side. */
	if (!cr_addr_equal(&r->addr[side], cr_sess_peer_addr(p)))
		return;
	node_route_free(n, r);
}

static void node_on_hop(struct rn_node *n, struct cr_sess *p,
			const uint8_t *buf, size_t len)
{
	Carrier__Hop *req = cp_hop_unpack(buf, len);
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Pong pong = CARRIER__PONG__INIT;

	if (req == NULL) {
		n->st.drops[NODE_DROP_HOP_MALFORMED]++;
		return;
	}
	if (peer_id(p)->type == CR_ID_NODE &&
	    rn_peers_on_hop(n->cluster, p, req)) {
		cp_hop_free(req);
		return;
	}
	if (rn_fleet_on_hop(n->fleet, p, req)) {
		cp_hop_free(req);
		return;
	}
	switch (req->msg_case) {
	case CARRIER__HOP__MSG_PUBLISH:
		node_on_publish(n, p, req);
		break;
	case CARRIER__HOP__MSG_LOOKUP:
		node_on_lookup(n, p, req);
		break;
	case CARRIER__HOP__MSG_CONNECT:
		node_on_connect(n, p, req);
		break;
	case CARRIER__HOP__MSG_ROUTE_CLOSE:
		node_on_route_close(n, p, req);
		break;
	case CARRIER__HOP__MSG_DETACH:
		if (peer_id(p)->type == CR_ID_DEVICE &&
		    (uintptr_t)cr_sess_user(p) != NODE_DEV_GONE) {
			char ids[CR_ID_STRMAX];

			cr_sess_set_user(p, (void *)(uintptr_t)NODE_DEV_GONE);
			cr_log_info("device %s said goodbye: offline",
				    cr_id_format(peer_id(p), ids));
		}
		break;
	case CARRIER__HOP__MSG_PING: {
		uint8_t bits[CR_ALIVE_BYTES_MAX];
		uint64_t now = cr_now_ms();

		if (peer_id(p)->type == CR_ID_DEVICE &&
		    req->ping->keepalive_ms > NODE_DEV_GONE &&
		    (uintptr_t)cr_sess_user(p) != NODE_DEV_GONE)
			cr_sess_set_user(p, (void *)(uintptr_t)
						    req->ping->keepalive_ms);

		pong.nonce = req->ping->nonce;
		pong.ring_epoch = n->ring->epoch;
		pong.alive.data = bits;
		pong.alive.len = rn_peers_alive_bits(n->cluster, bits,
						     sizeof(bits));
		/* Not to devices: nothing of theirs reads it, and an idle
		 * device's pongs are most of what it receives. */
		if (peer_id(p)->type != CR_ID_DEVICE)
			pong.heartbeats =
				rn_peers_stats(n->cluster)->heartbeats_received;
		if ((n->cfg.byzantine & RN_BYZ_LIVENESS) &&
		    rn_peers_self(n->cluster) >= 0) {
			/* Test mode: no node alive but this one. */
			memset(bits, 0, pong.alive.len);
			cr_alive_set(bits, (size_t)rn_peers_self(n->cluster));
			node_byz_told(n, RN_BYZ_LIVENESS);
		}
		if (n->cfg.byzantine & RN_BYZ_EPOCH) {
			pong.ring_epoch += 1000;
			node_byz_told(n, RN_BYZ_EPOCH);
		}
		m.req_id = req->req_id;
		m.msg_case = CARRIER__HOP__MSG_PONG;
		m.pong = &pong;
		node_reply(n, p, &m);
		/* A peer that runs an older epoch gets ours. */
		if (((req->ping->ring_epoch != 0 &&
		      req->ping->ring_epoch < n->ring->epoch) ||
		     (n->cfg.byzantine & RN_BYZ_EPOCH)) &&
		    (cr_sess_tag(p) & TAG_PUSH_MASK) !=
			    ((now / 1000) & TAG_PUSH_MASK)) {
			cr_sess_set_tag(p, (uint16_t)((cr_sess_tag(p) &
						       ~TAG_PUSH_MASK) |
						      ((now / 1000) &
						       TAG_PUSH_MASK)));
			rn_peers_push_ring(n->cluster, p);
		}
		break;
	}
	default:
		n->st.drops[NODE_DROP_HOP_UNEXPECTED]++;
		break;
	}
	cp_hop_free(req);
}

/* ---- Session callbacks ------------------------------------------------- */

static void node_sess_send(void *ctx, struct cr_sess *s,
			   const struct cr_addr *to, const uint8_t *buf,
			   size_t len)
{
	node_send_raw(ctx, to, buf, len);
}

static int node_sess_accept(void *ctx, const struct cr_id *peer,
			    const uint8_t pk[CR_PKLEN],
			    const struct cr_addr *from, const uint8_t *hello,
			    size_t hello_len, uint8_t *reply,
			    size_t *reply_len, void **user)
{
	*reply_len = 0;
	switch (peer->type) {
	case CR_ID_DEVICE:
	case CR_ID_VENDOR:
	case CR_ID_NODE:
		return 0;
	default:
		return -1;
	}
}

static void node_sess_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
			 size_t reply_len, int rekey)
{
	struct rn_node *n = ctx;

	if (cr_sess_tag(s) & TAG_UP)
		return;
	cr_sess_set_tag(s, TAG_UP);
	if (peer_id(s)->type == CR_ID_NODE)
		rn_peers_sess_up(n->cluster, s);
	if (peer_id(s)->type == CR_ID_DEVICE && !node_device_elsewhere(n, s))
		n->n_devices++;
}

static void node_sess_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
			   size_t len)
{
	if (cr_sess_tag(s) & TAG_UP)
		node_on_hop(ctx, s, msg, len);
}

static void node_sess_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct rn_node *n = ctx;
	char ids[CR_ID_STRMAX];

	if (cr_sess_peer_id(s)->type == CR_ID_NODE)
		rn_peers_sess_down(n->cluster, s);
	if (!(cr_sess_tag(s) & TAG_UP))
		return;
	if (peer_id(s)->type == CR_ID_DEVICE && !node_device_elsewhere(n, s)) {
		n->n_devices--;
		if (cr_sess_tag(s) & TAG_PUBLISHED)
			cr_log_info("device %s detached (%s)",
				    cr_id_format(peer_id(s), ids),
				    why == CR_SESS_DOWN_DEAD ? "silent" :
				    why == CR_SESS_DOWN_REPLACED ? "new session" :
								   "closed");
	}
}

static const struct cr_sess_ops node_sess_ops = {
	.send = node_sess_send,
	.accept = node_sess_accept,
	.up = node_sess_up,
	.recv = node_sess_recv,
	.down = node_sess_down,
};

/* ---- Datagrams ---------------------------------------------------------- */

/* Test mode: a datagram sent after ms (delayed, or replayed). */
struct node_later {
	struct rn_node *n;
	struct node_later *prev, *next; /* in n->byz_later */
	struct cr_addr to;
	size_t len;
	uint8_t buf[];
};

static void node_later_fire(evutil_socket_t fd, short what, void *arg)
{
	struct node_later *l = arg;

	node_send_raw(l->n, &l->to, l->buf, l->len);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		l->n->byz_later = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	free(l);
}

static void node_byz_later(struct rn_node *n, const struct cr_addr *to,
			   const uint8_t *buf, size_t len, uint64_t ms)
{
	struct node_later *l = malloc(sizeof(*l) + len);
	struct timeval tv = { (time_t)(ms / 1000),
			      (suseconds_t)(ms % 1000) * 1000 };

	if (l == NULL)
		return;
	l->n = n;
	l->to = *to;
	l->len = len;
	memcpy(l->buf, buf, len);
	if (event_base_once(n->base, -1, EV_TIMEOUT, node_later_fire, l,
			    &tv) < 0) {
		free(l);
		return;
	}
	l->prev = NULL;
	l->next = n->byz_later;
	if (l->next != NULL)
		l->next->prev = l;
	n->byz_later = l;
}

static void node_relay(struct rn_node *n, const struct cr_addr *from,
		       uint8_t *buf, size_t len)
{
	struct rn_route *r;
	uint64_t rid;
	int side;

	if (len <= CP_RELAY_HDR) {
		n->st.drops[NODE_DROP_RELAY_SHORT]++;
		return;
	}
	rid = cp_get_u64(buf + 4);
	r = cr_map_get(n->routes, &rid);
	if (r == NULL) {
		n->st.drops[NODE_DROP_RELAY_ROUTE]++;
		return;
	}
	side = r->id[0] == rid ? 0 : 1;
	if (!cr_addr_equal(from, &r->addr[side])) {
		n->st.drops[NODE_DROP_RELAY_SOURCE]++;
		return;
	}
	/* Test mode: every other datagram thrown away (so that the routes
	 * look alive), the rest held or sent twice. */
	if ((n->cfg.byzantine & RN_BYZ_DROP) &&
	    (!(n->cfg.byzantine & (RN_BYZ_DELAY | RN_BYZ_REPLAY)) ||
	     n->st.drops[NODE_DROP_BYZANTINE] <= n->st.relayed_datagrams)) {
		n->st.drops[NODE_DROP_BYZANTINE]++;
		node_byz_told(n, RN_BYZ_DROP);
		return;
	}
	/* The end-to-end datagram is already encrypted and authenticated by
	 * its endpoints: only the route id is rewritten. */
	cp_put_u64(buf + 4, r->id[1 - side]);
	r->last_ms = cr_now_ms();
	r->bytes += len;
	n->st.relayed_bytes += len;
	n->st.relayed_datagrams++;
	if (n->cfg.byzantine & (RN_BYZ_DELAY | RN_BYZ_REPLAY)) {
		if (n->cfg.byzantine & RN_BYZ_DELAY) {
			node_byz_later(n, &r->addr[1 - side], buf, len,
				       RN_BYZ_DELAY_MS);
			node_byz_told(n, RN_BYZ_DELAY);
		} else {
			node_send_raw(n, &r->addr[1 - side], buf, len);
		}
		if (n->cfg.byzantine & RN_BYZ_REPLAY) {
			node_byz_later(n, &r->addr[1 - side], buf, len,
				       RN_BYZ_REPLAY_MS);
			node_byz_told(n, RN_BYZ_REPLAY);
		}
		return;
	}
	node_send_raw(n, &r->addr[1 - side], buf, len);
}

/* A STUN Binding request (cr/stun.h): answered with the source address, so
 * any STUN client learns its reflexive address from a node.  Requests to
 * answer from another address or port (RFC 3489 CHANGE-REQUEST) are
 * dropped: a node has one address, and a missing answer is what such a
 * client expects from a server that cannot change it. */
static void node_stun(struct rn_node *n, const struct cr_addr *from,
		      const uint8_t *buf, size_t len)
{
	struct cr_stun_req req;
	uint8_t out[CR_STUN_MAX];
	const char *why;
	size_t olen;

	if (cr_stun_parse_request(buf, len, &req, &why) < 0 || req.change != 0) {
		n->st.stun_dropped++;
		return;
	}
	olen = cr_stun_binding_response(&req, from, out, sizeof(out));
	if (olen == 0) {
		n->st.stun_dropped++;
		return;
	}
	n->st.stun_answered++;
	node_send_raw(n, from, out, olen);
}

static void node_datagram(struct rn_node *n, const struct cr_addr *from,
			  uint8_t *buf, size_t len, uint64_t now)
{
	node_capture(n, '<', buf, len > CP_DATAGRAM_MAX ? 0 : len);
	if (len > CP_DATAGRAM_MAX) {
		n->st.drops[NODE_DROP_OVERSIZE]++;
		return;
	}
	if (len == 0) {
		n->st.drops[NODE_DROP_TYPE]++;
		return;
	}
	switch (buf[0]) {
	case CP_MSG_INIT:
	case CP_MSG_RESP:
	case CP_MSG_COOKIE:
	case CP_MSG_DATA:
		cr_sess_host_input(n->host, from, buf, len, now);
		break;
	case CP_MSG_RELAY:
		node_relay(n, from, buf, len);
		break;
	case 0: /* no Carrier type is 0: a STUN request */
		node_stun(n, from, buf, len);
		break;
	default:
		n->st.drops[NODE_DROP_TYPE]++;
		break;
	}
}

/* A datagram from a TCP fallback connection: handled as if it came by UDP
 * from the connection's pseudo address (cr/tlsdgram.h). */
static void node_on_tls(void *arg, const struct cr_addr *from, uint8_t *buf,
			size_t len)
{
	node_datagram(arg, from, buf, len, cr_now_ms());
}

/*
 * The INIT queue: first come, first served, one NODE_READ_BUDGET_MS at a
 * time between the reads; an INIT older than NODE_INIT_MAX_AGE_MS is
 * dropped (its device retried by then: what a device does after a lost
 * INIT is what it does after a cookie), and a full queue drops its
 * oldest.  Both count as carrier_node_drops_total{reason="shed"}.  While
 * INITs wait, rn_peers slows its sync passes.  0 when queued.
 */
static int node_initq_put(struct rn_node *n, const struct cr_addr *from,
			  const uint8_t *buf, size_t len, uint64_t now)
{
	struct node_initq *q = n->initq;
	struct node_init *e;

	if (q == NULL && (q = n->initq = calloc(1, sizeof(*q))) == NULL)
		return -1;
	if (q->n == NODE_INITQ) {
		q->head = (q->head + 1) % NODE_INITQ;
		q->n--;
		n->st.drops[NODE_DROP_SHED]++;
	}
	e = &q->e[(q->head + q->n) % NODE_INITQ];
	e->at = now;
	e->from = *from;
	e->len = len;
	memcpy(e->buf, buf, len);
	if (q->n++ == 0 && n->ev_initq != NULL)
		event_active(n->ev_initq, EV_TIMEOUT, 0);
	rn_peers_shedding(n->cluster, now);
	return 0;
}

static void node_initq_run(struct rn_node *n)
{
	struct node_initq *q = n->initq;
	uint64_t start = cr_now_ms(), now = start;

	while (q != NULL && q->n > 0 && now - start < NODE_READ_BUDGET_MS) {
		struct node_init *e = &q->e[q->head];

		q->head = (q->head + 1) % NODE_INITQ;
		q->n--;
		if (now - e->at > NODE_INIT_MAX_AGE_MS) {
			n->st.drops[NODE_DROP_SHED]++;
			continue;
		}
		node_datagram(n, &e->from, e->buf, e->len, now);
		now = cr_now_ms();
	}
	if (q != NULL && q->n > 0 && n->ev_initq != NULL)
		event_active(n->ev_initq, EV_TIMEOUT, 0);
}

static void node_on_initq(evutil_socket_t fd, short what, void *arg)
{
	struct rn_node *n = arg;

	node_initq_run(n);
}

static void node_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct rn_node *n = arg;
	struct cr_error *err = NULL;
	uint64_t start = cr_now_ms();

	/* Every record stored while taking in this burst is committed at
	 * once, before any acknowledgement of it leaves. */
	if (cr_kv_group_begin(n->kv, &err) < 0) {
		if (cr_log_ratelimit_ok(&n->rl, cr_now_ms()))
			cr_log_warnx("%s", cr_error_msg(err));
		err = cr_error_free(err);
	}

	/*
	 * Bounded per wakeup so timers and other sockets get their turn.
	 * Handshake admission: a reconnect storm brings more INITs than the
	 * node can answer (each costs DH and a signature check), and its
	 * peers' heartbeats wait behind them in the one socket, or are lost
	 * when it overflows, until live peers are taken for dead.  So past
	 * NODE_READ_BUDGET_MS of a wake-up (or while INITs wait already)
	 * devices' INITs go to a queue of their own (node_initq_put()) and
	 * the rest, sessions' traffic and everything from a ring node, is
	 * taken in at once.  A wake-up ends after 4 budgets whatever it is
	 * doing, so that the tick (and with it the heartbeats) runs.
	 */
	for (int round = 0;; round++) {
		int got, shed;
		uint64_t now = cr_now_ms();

		/* Not drained by the end of the wake-up: a backlog, whose
		 * datagrams (devices' pings too) wait; background work
		 * slows down until it is gone. */
		if (round == 64 || now - start >= 4 * NODE_READ_BUDGET_MS) {
			rn_peers_shedding(n->cluster, now);
			break;
		}
		got = cr_udp_recv(n->fd, n->batch);
		now = cr_now_ms();
		shed = now - start >= NODE_READ_BUDGET_MS;
		if (got <= 0)
			break;
		for (size_t i = 0; i < n->batch->n; i++) {
			if ((shed || (n->initq != NULL && n->initq->n > 0)) &&
			    n->batch->len[i] > 0 &&
			    n->batch->len[i] <= NODE_INIT_SLOT &&
			    n->batch->buf[i][0] == CP_MSG_INIT &&
			    !rn_peers_is_node_addr(n->cluster,
						   &n->batch->from[i]) &&
			    node_initq_put(n, &n->batch->from[i],
					   n->batch->buf[i], n->batch->len[i],
					   now) == 0)
				continue;
			node_datagram(n, &n->batch->from[i], n->batch->buf[i],
				      n->batch->len[i], now);
		}
		if (cr_udp_drained(n->batch))
			break;
	}
	if (cr_kv_group_commit(n->kv, &err) < 0) {
		if (cr_log_ratelimit_ok(&n->rl, cr_now_ms()))
			cr_log_warnx("%s", cr_error_msg(err));
		cr_error_free(err);
		rn_peers_flush_drop(n->cluster);
		return;
	}
	rn_peers_flush(n->cluster);
}

/* Frees every route idle longer than route-idle, and the offer buckets
 * that refilled (a full bucket is what a new one would be). */
static void node_sweep_routes(struct rn_node *n, uint64_t now)
{
	size_t cnt = cr_map_count(n->routes) / 2 + 1, n_dead = 0, pos = 0;
	struct rn_route **dead = calloc(cnt, sizeof(*dead));
	const void *key;
	void *val;

	while (dead != NULL && n_dead < cnt &&
	       cr_map_next(n->routes, &pos, &key, &val)) {
		struct rn_route *r = val;

		/* Each route is in the map twice: collect it once. */
		if (memcmp(key, &r->id[0], sizeof(r->id[0])) == 0 &&
		    now - r->last_ms > n->cfg.route_idle_ms)
			dead[n_dead++] = r;
	}
	for (size_t i = 0; i < n_dead; i++)
		node_route_free(n, dead[i]);
	n->st.routes_expired += n_dead;
	free(dead);

	cnt = cr_map_count(n->offer_buckets) + 1;
	dead = calloc(cnt, sizeof(*dead));
	n_dead = pos = 0;
	while (dead != NULL && n_dead < cnt &&
	       cr_map_next(n->offer_buckets, &pos, &key, &val)) {
		struct rn_offer_bucket *b = val;

		if (now - b->last_ms > 10000)
			dead[n_dead++] = val;
	}
	for (size_t i = 0; i < n_dead; i++) {
		struct rn_offer_bucket *b = (struct rn_offer_bucket *)dead[i];

		cr_map_del(n->offer_buckets, b + 1);
		free(b);
	}
	free(dead);
}

static void node_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rn_node *n = arg;
	uint64_t now = cr_now_ms();

	cr_sess_host_tick(n->host, now);
	rn_peers_tick(n->cluster, now);
	node_initq_run(n);
	rn_fleet_tick(n->fleet, now);
	if (now - n->last_sweep_ms > 5000) {
		node_sweep_routes(n, now);
		n->last_sweep_ms = now;
		if (n->capture != NULL)
			fflush(n->capture);
	}
}

/* ---- Metrics ------------------------------------------------------------ */

/*
 * Relayed and direct end-to-end sessions, as the node can tell them
 * without asking the ends: a route with relay traffic in the last
 * NODE_ROUTE_QUIET_MS is relaying; one that carried traffic and then went
 * quiet belongs to a session that moved to a direct path (the ends keep a
 * relayed path busy with pings every second, and a direct one's keepalives
 * no longer cross the node), or to one that just ended and awaits the
 * sweep.
 */
static void node_route_counts(struct rn_node *n, uint64_t *relaying,
			      uint64_t *quiet)
{
	uint64_t now = cr_now_ms();
	size_t pos = 0;
	const void *key;
	void *val;

	*relaying = *quiet = 0;
	while (cr_map_next(n->routes, &pos, &key, &val)) {
		struct rn_route *r = val;

		if (memcmp(key, &r->id[0], sizeof(r->id[0])) != 0 ||
		    r->bytes == 0)
			continue;
		if (now - r->last_ms <= NODE_ROUTE_QUIET_MS)
			(*relaying)++;
		else
			(*quiet)++;
	}
}

static void node_on_metrics(struct evhttp_request *req, void *arg)
{
	struct rn_node *n = arg;
	const struct cr_sess_stats *ss = cr_sess_host_stats(n->host);
	struct evbuffer *b = evbuffer_new();
	uint64_t relaying, quiet;

	if (b == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	cr_metrics_gauge(b, "carrier_node_sessions", "Hop sessions held.",
			 cr_sess_host_count(n->host));
	cr_metrics_gauge(b, "carrier_node_devices_attached",
			 "Devices with a live session.", n->n_devices);
	cr_metrics_gauge(b, "carrier_node_presence_records",
			 "Presence records stored.",
			 rn_pres_count(n->kv));
	cr_metrics_gauge(b, "carrier_node_tcp_connections",
			 "TCP fallback connections (UDP-blocked peers).",
			 n->tls != NULL ? cr_tls_srv_conns(n->tls) : 0);
	if (n->tls != NULL) {
		const struct cr_tls_srv_stats *ts = cr_tls_srv_stats(n->tls);

		cr_metrics_counter(
			b, "carrier_node_tcp_refused_total",
			"TCP fallback connections closed at once: over tcp-max.",
			ts->refused_total);
		cr_metrics_counter(
			b, "carrier_node_tcp_refused_addr_total",
			"TCP fallback connections closed at once: over "
			"tcp-per-addr from their IP address.",
			ts->refused_addr);
		cr_metrics_counter(
			b, "carrier_node_tcp_handshake_timeouts_total",
			"TCP fallback connections closed with their TLS "
			"handshake unfinished after tcp-handshake-timeout.",
			ts->handshake_timeouts);
		cr_metrics_counter(
			b, "carrier_node_tcp_out_dropped_total",
			"Datagrams for TCP fallback connections dropped: "
			"tcp-out-max bytes already queued.",
			ts->out_dropped);
		cr_metrics_gauge(
			b, "carrier_node_tcp_out_queued_bytes",
			"Bytes queued for all TCP fallback connections.",
			ts->out_queued);
	}
	cr_metrics_gauge(b, "carrier_node_routes", "Relay routes.",
			 cr_map_count(n->routes) / 2);
	node_route_counts(n, &relaying, &quiet);
	cr_metrics_gauge(
		b, "carrier_node_sessions_relayed",
		"End-to-end sessions relaying now (traffic in the last 3 s).",
		relaying);
	cr_metrics_gauge(
		b, "carrier_node_sessions_direct",
		"End-to-end sessions whose route carried traffic and then went "
		"quiet: the ends moved to a direct path (carrier connect and "
		"ping keep a relayed path busy every second).",
		quiet);
	cr_metrics_gauge(b, "carrier_node_ring_epoch",
			 "Epoch of the ring configuration.", n->ring->epoch);
	cr_metrics_gauge(b, "carrier_node_lmdb_bytes", "Size of the LMDB file.",
			 cr_kv_file_size(n->kv));
	cr_metrics_counter(b, "carrier_node_relayed_bytes_total",
			   "Bytes relayed.", n->st.relayed_bytes);
	cr_metrics_counter(b, "carrier_node_relayed_datagrams_total",
			   "Datagrams relayed.", n->st.relayed_datagrams);
	cr_metrics_counter(b, "carrier_node_handshakes_total",
			   "Handshakes completed.", ss->handshakes_completed);
	cr_metrics_counter(b, "carrier_node_cookies_sent_total",
			   "Cookie replies sent.", ss->cookies_sent);
	cr_metrics_counter(
		b, "carrier_node_path_challenges_total",
		"Path challenges sent to a peer's new address (roaming).",
		ss->path_challenges);
	cr_metrics_counter(b, "carrier_node_paths_validated_total",
			   "New peer addresses validated by the peer's answer.",
			   ss->paths_validated);
	cr_metrics_counter(
		b, "carrier_node_path_limited_total",
		"Datagrams not sent to an unvalidated address: they would "
		"exceed 3 times the bytes received from it.",
		ss->path_limited);
	cr_metrics_counter(b, "carrier_node_publishes_total",
			   "Presence records accepted.", n->st.publishes);
	cr_metrics_counter(b, "carrier_node_lookups_total", "Lookups answered.",
			   n->st.lookups);
	cr_metrics_counter(b, "carrier_node_connects_total",
			   "Connect requests.", n->st.connects);
	cr_metrics_family(
		b, CR_METRIC_COUNTER, "carrier_node_connects_refused_total",
		"Connect requests refused by a limit: "
		"routes-per-vendor, routes-per-device, connect-rate.");
	for (int i = 0; i < NODE_REFUSE_MAX; i++)
		cr_metrics_labelled(b, "carrier_node_connects_refused_total",
				    "reason", node_refuse_names[i],
				    n->st.connects_refused[i]);
	cr_metrics_counter(
		b, "carrier_node_routes_evicted_total",
		"Routes taken from the vendor holding most of a full "
		"device's routes, for another vendor.",
		n->st.routes_evicted);
	cr_metrics_counter(b, "carrier_node_routes_expired_total",
			   "Routes freed after route-idle without traffic.",
			   n->st.routes_expired);
	cr_metrics_counter(
		b, "carrier_node_offer_candidates_dropped_total",
		"Vendor candidates not passed on to a device (malformed, or "
		"beyond 8 per offer).",
		n->st.candidates_dropped);
	cr_metrics_counter(b, "carrier_node_stun_answered_total",
			   "STUN Binding requests answered.",
			   n->st.stun_answered);
	cr_metrics_counter(
		b, "carrier_node_stun_dropped_total",
		"STUN requests dropped (malformed, or asking for another "
		"source address).",
		n->st.stun_dropped);
	cr_metrics_family(b, CR_METRIC_COUNTER, "carrier_node_drops_total",
			  "Datagrams and messages dropped, by reason.");
	for (int i = 1; i < CR_SESS_DROP_MAX; i++)
		cr_metrics_labelled(b, "carrier_node_drops_total", "reason",
				    cr_sess_drop_name((enum cr_sess_drop)i),
				    ss->drops[i]);
	for (int i = 0; i < NODE_DROP_MAX; i++)
		cr_metrics_labelled(b, "carrier_node_drops_total", "reason",
				    node_drop_names[i], n->st.drops[i]);
	cr_metrics_counter(b, "carrier_node_presence_rejected_total",
			   "Presence records that failed verification.",
			   n->st.publish_rejected);
	{
		const struct rn_peers_stats *ps = rn_peers_stats(n->cluster);

		cr_metrics_gauge(
			b, "carrier_node_peers_alive",
			"Ring nodes this node sees alive, itself included.",
			rn_peers_alive_count(n->cluster));
		cr_metrics_gauge(b, "carrier_node_ring_nodes",
				 "Nodes in the ring "
				 "configuration.",
				 n->ring->n_nodes);
		cr_metrics_gauge(b, "carrier_node_replicas", "Home-set size R.",
				 rn_peers_replicas(n->cluster));
		cr_metrics_counter(b, "carrier_node_heartbeats_sent_total",
				   "Heartbeats sent to other nodes.",
				   ps->heartbeats_sent);
		cr_metrics_counter(b, "carrier_node_heartbeats_received_total",
				   "Heartbeats received from other nodes.",
				   ps->heartbeats_received);
		cr_metrics_counter(b, "carrier_node_peer_deaths_total",
				   "Nodes seen going from alive to dead.",
				   ps->peer_deaths);
		cr_metrics_counter(b, "carrier_node_tick_stalls_total",
				   "Ticks more than 500 ms late (the node's "
				   "loop did not run); the time is not held "
				   "against the peers' silence.",
				   ps->tick_stalls);
		cr_metrics_gauge(b, "carrier_node_tick_stall_max_ms",
				 "Longest gap between two ticks.",
				 ps->tick_stall_max_ms);
		cr_metrics_counter(b, "carrier_node_publishes_unchanged_total",
				   "Device publishes byte for byte the record "
				   "stored (resends): no second signature "
				   "check.",
				   ps->publishes_unchanged);
		cr_metrics_counter(b, "carrier_node_replicas_unchanged_total",
				   "Replicas byte for byte the record stored: "
				   "no second signature check.",
				   ps->replicas_unchanged);
		cr_metrics_counter(b, "carrier_node_nudges_sent_total",
				   "Nudges sent to devices whose attached "
				   "nodes all died.",
				   ps->nudges_sent);
		cr_metrics_counter(b, "carrier_node_replicas_sent_total",
				   "Presence records sent to other home nodes.",
				   ps->replicas_sent);
		cr_metrics_counter(
			b, "carrier_node_replicas_received_total",
			"Presence records received from other nodes.",
			ps->replicas_received);
		cr_metrics_counter(
			b, "carrier_node_replicas_stored_total",
			"Received records newer than the stored one.",
			ps->replicas_stored);
		cr_metrics_counter(
			b, "carrier_node_replicas_rejected_total",
			"Received records that failed the device's signature.",
			ps->replicas_rejected);
		cr_metrics_counter(b, "carrier_node_replica_acks_total",
				   "Replication acknowledgements received.",
				   ps->replica_acks);
		cr_metrics_counter(
			b, "carrier_node_publishes_majority_total",
			"Publishes acknowledged once a majority of the home "
			"set stored them.",
			ps->publishes_majority);
		cr_metrics_counter(b, "carrier_node_publishes_timed_out_total",
				   "Publishes that found no majority in time.",
				   ps->publishes_timed_out);
		cr_metrics_counter(
			b, "carrier_node_sync_records_total",
			"Records offered to home sets after a membership or "
			"liveness change.",
			ps->sync_records);
		cr_metrics_counter(
			b, "carrier_node_gc_records_total",
			"Records deleted after an epoch change: no longer "
			"homed here, and held by a majority of their home "
			"set.",
			ps->gc_records);
		cr_metrics_counter(
			b, "carrier_node_rings_accepted_total",
			"Newer ring configurations accepted from nodes.",
			ps->rings_accepted);
		cr_metrics_counter(
			b, "carrier_node_rings_refused_total",
			"Ring configurations refused (bad signature, other "
			"operator, malformed).",
			ps->rings_refused);
		cr_metrics_counter(b, "carrier_node_byzantine_lies_total",
				   "Test mode: lookups answered with a lie.",
				   n->st.byz_lies);
		if (n->cfg.byzantine) {
			const struct rn_fleet_stats *fs =
				rn_fleet_stats(n->fleet);

			cr_metrics_family(b, CR_METRIC_COUNTER,
					  "carrier_node_byzantine_told_total",
					  "Test mode: lies told, by role.");
			for (unsigned i = 0; i < RN_BYZ_ROLES; i++)
				cr_metrics_labelled(
					b, "carrier_node_byzantine_told_total",
					"role", rn_byz_name(i),
					n->st.byz[i] + ps->byz[i] +
						fs->byz[i]);
		}
		cr_metrics_gauge(b, "carrier_node_presence_max_records",
				 "Bound on presence records stored (0: none).",
				 n->cfg.presence_max_records);
		cr_metrics_counter(b, "carrier_node_presence_purged_total",
				   "Expired presence records deleted.",
				   ps->presence_purged);
		cr_metrics_family(b, CR_METRIC_COUNTER,
				  "carrier_node_presence_refused_total",
				  "Presence records refused by the store's "
				  "bounds, by reason.");
		for (int i = 0; i < RN_REFUSED_MAX; i++)
			cr_metrics_labelled(
				b, "carrier_node_presence_refused_total",
				"reason",
				rn_presence_refusal_name(
					(enum rn_presence_refusal)i),
				ps->presence_refused[i]);
	}
	rn_cache_metrics(n->cache, b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static int node_metrics_start(struct rn_node *n, struct cr_error **err)
{
	struct cr_addr a;
	char host[CR_ADDR_STRMAX];
	const char *colon;
	uint16_t port;

	if (n->cfg.metrics[0] == '\0')
		return 0;
	if (cr_addr_parse(n->cfg.metrics, &a, err) < 0)
		return cr_error_wrap(err, "--metrics");
	colon = strrchr(n->cfg.metrics, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - n->cfg.metrics),
		 n->cfg.metrics);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	port = ntohs(a.u.sa.sa_family == AF_INET6 ? a.u.in6.sin6_port :
						    a.u.in4.sin_port);
	n->http = evhttp_new(n->base);
	if (n->http == NULL)
		return cr_error_set(err, ENOMEM, "cannot create HTTP server");
	if (evhttp_bind_socket(n->http, host, port) < 0)
		return cr_error_errno(err, errno,
				      "cannot listen for metrics on %s",
				      n->cfg.metrics);
	evhttp_set_cb(n->http, "/metrics", node_on_metrics, n);
	return 0;
}

/* The shard cache, by default on TCP at the ring address (where pullers
 * look for it) unless the TCP fallback took that port. */
static int node_cache_start(struct rn_node *n, struct cr_error **err)
{
	struct rn_cache_cfg cc = {
		.dir = n->cfg.data_dir,
		.listen = n->cfg.cache_listen,
		.max_bytes = n->cfg.cache_size,
		.origins = n->cfg.cache_origins,
	};

	if (n->cfg.cache_size == 0)
		return 0;
	if (cc.listen[0] == '\0') {
		if (strcmp(n->cfg.tcp, n->cfg.listen) == 0) {
			cr_log_info("shard cache off: --tcp takes the listen "
				    "port (give --cache-listen)");
			return 0;
		}
		cc.listen = n->cfg.listen;
		cc.listen_optional = 1;
	}
	return rn_cache_new(n->base, &cc, &n->cache, err);
}

/* ---- Life cycle --------------------------------------------------------- */

static int node_load_ring(struct rn_node *n, const struct rn_config *cfg,
			  struct cr_ring **out, struct cr_error **err)
{
	struct cr_ring *ring = NULL;

	if (cr_ring_load_newest(cfg->ring_path, n->ring_save_path, n->pin_path,
				cfg->operator_id, &ring, err) < 0)
		return -1;
	if (cr_ring_find(ring, n->kp.pk) < 0) {
		char s[CR_ID_STRMAX];

		cr_ring_free(ring);
		return cr_error_set(err, EINVAL,
				    "node %s is not a member of ring %s",
				    cr_id_format(&n->id, s), cfg->ring_path);
	}
	*out = ring;
	return 0;
}

static void node_sess_cfg(const struct rn_config *cfg, struct cr_sess_cfg *sc)
{
	cr_sess_cfg_default(sc);
	/* Devices keep the path alive; the node only notices silence. */
	sc->keepalive_ms = 0;
	sc->dead_after_ms = 90000;
	sc->load_handshakes_per_sec = (uint32_t)cfg->load_handshakes_per_sec;
	sc->addr_handshakes_per_sec = (uint32_t)cfg->addr_handshakes_per_sec;
	sc->max_sessions = (uint32_t)cfg->max_sessions;
	sc->max_per_identity = (uint32_t)cfg->sessions_per_identity;
	/* The node initiates only to other nodes: find a restarted one
	 * quickly, give up on a dead one soon. */
	sc->handshake_retry_ms = 250;
	sc->handshake_timeout_ms = 2000;
	/* Devices rekey idle links by need (carrier-agent): accept their
	 * idle keys up to an hour old (docs/design/ring-cluster.md). */
	sc->rekey_idle_ms = CR_SESS_REKEY_IDLE_MS;
	sc->rekey_busy_msgs = CR_SESS_REKEY_BUSY_MSGS;
}

static void node_tls_limits(struct rn_node *n, const struct rn_config *cfg)
{
	struct cr_tls_limits lim = {
		.max_conns = (uint32_t)cfg->tcp_max,
		.per_addr = (uint32_t)cfg->tcp_per_addr,
		.handshake_ms = (uint32_t)cfg->tcp_handshake_ms,
		.out_max = cfg->tcp_out_max,
	};

	if (n->tls != NULL)
		cr_tls_srv_set_limits(n->tls, &lim);
}

static void node_peers_cfg(struct rn_node *n, const struct rn_config *cfg,
			   struct rn_peers_cfg *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->heartbeat_ms = cfg->heartbeat_ms;
	pc->peer_timeout_ms = cfg->peer_timeout_ms;
	pc->replicas = (uint32_t)cfg->replicas;
	pc->byzantine = cfg->byzantine;
	pc->pin_path = n->pin_path;
	pc->save_path = n->ring_save_path;
	pc->presence_max_ttl_s = cfg->presence_max_ttl_ms / 1000;
	pc->presence_max_records = cfg->presence_max_records;
	pc->presence_new_per_addr = cfg->presence_new_per_addr;
}

/* rn_peers: a newer configuration signed by our operator arrived. */
/* rn_fleet: the live session of an attached device. */
static struct cr_sess *node_fleet_device(void *ctx,
					 const uint8_t dev[CR_ID_HASHLEN])
{
	struct rn_node *n = ctx;
	struct cr_sess *s = node_device(n, dev);

	return s != NULL && !node_device_gone(s, cr_now_ms()) ? s : NULL;
}

static int node_fleet_device_state(void *ctx, const uint8_t dev[CR_ID_HASHLEN],
				   int *online, uint64_t *ago)
{
	struct rn_node *n = ctx;
	struct cr_sess *s = node_device(n, dev);
	uint64_t now = cr_now_ms();

	if (s == NULL)
		return 0;
	*online = !node_device_gone(s, now);
	*ago = now - cr_sess_last_recv_ms(s);
	return 1;
}

static const struct rn_fleet_ops node_fleet_ops = {
	.device = node_fleet_device,
	.device_state = node_fleet_device_state,
};

static void node_fleet_cfg(const struct rn_config *cfg,
			   struct rn_fleet_cfg *fc)
{
	fc->max_records = cfg->fleet_max_records;
	fc->apps_per_vendor = cfg->fleet_apps_per_vendor;
	fc->health_ttl_ms = cfg->health_ttl_ms;
	fc->byzantine = cfg->byzantine;
}

static void node_on_ring(void *ctx, struct cr_ring *ring)
{
	struct rn_node *n = ctx;
	struct cr_ring *old = n->ring;

	n->ring = ring;
	rn_peers_set_ring(n->cluster, ring);
	cr_ring_free(old);
	if (cr_ring_find(ring, n->kp.pk) < 0)
		cr_log_warnx("this node is not in ring epoch %llu any more: "
			     "it keeps serving until it is stopped",
			     (unsigned long long)ring->epoch);
}

static void node_peers_send_raw(void *ctx, const struct cr_addr *to,
				const uint8_t *buf, size_t len)
{
	node_send_raw(ctx, to, buf, len);
}

static const struct rn_peers_ops node_peers_ops = {
	.ring = node_on_ring,
	.published = node_on_published,
	.send_raw = node_peers_send_raw,
};

struct rn_node *rn_node_new(struct event_base *base,
			    const struct rn_config *cfg, struct cr_error **err)
{
	struct rn_node *n;
	struct cr_sess_cfg sc;
	struct cr_addr listen;
	char ids[CR_ID_STRMAX];

	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		cr_error_errno(err, ENOMEM, "allocating node");
		return NULL;
	}
	n->fd = -1;
	n->base = base;
	n->cfg = *cfg;
	cr_log_ratelimit_init(&n->rl, 20, 5);
	if (cr_keypair_load(cfg->key_path, &n->kp, err) < 0)
		goto fail;
	if (n->kp.type != CR_ID_NODE) {
		cr_error_set(err, EINVAL, "%s is a %s key, not a node key",
			     cfg->key_path, cr_id_type_name(n->kp.type));
		goto fail;
	}
	cr_id_from_pk(CR_ID_NODE, n->kp.pk, &n->id);
	if (cr_mkdir_p(cfg->data_dir, 0700, err) < 0)
		goto fail;
	snprintf(n->pin_path, sizeof(n->pin_path), "%s/operator.pin",
		 cfg->data_dir);
	snprintf(n->ring_save_path, sizeof(n->ring_save_path), "%s/ring",
		 cfg->data_dir);
	if (cfg->byzantine) {
		char roles[256];

		rn_byz_format(cfg->byzantine, roles, sizeof(roles));
		cr_log_warnx("BYZANTINE TEST MODE: this node lies (roles %s)",
			     roles);
	}
	if (node_load_ring(n, cfg, &n->ring, err) < 0)
		goto fail;
	if (cr_kv_open(cfg->data_dir, "node", NODE_LMDB_MAP, &n->kv, err) < 0)
		goto fail;
	n->routes = cr_map_new(sizeof(uint64_t));
	n->dev_routes = cr_map_new(CR_ID_HASHLEN);
	n->vendor_routes = cr_map_new(CR_ID_HASHLEN);
	n->offer_buckets = cr_map_new(32);
	n->batch = calloc(1, sizeof(*n->batch));
	if (n->routes == NULL || n->dev_routes == NULL ||
	    n->vendor_routes == NULL || n->offer_buckets == NULL ||
	    n->batch == NULL) {
		cr_error_errno(err, ENOMEM, "allocating node tables");
		goto fail;
	}
	if (cfg->capture_path[0] != '\0') {
		n->capture = fopen(cfg->capture_path, "we");
		if (n->capture == NULL) {
			cr_error_errno(err, errno, "cannot open capture file %s",
				       cfg->capture_path);
			goto fail;
		}
	}
	node_sess_cfg(cfg, &sc);
	n->host = cr_sess_host_new(&n->kp, &sc, &node_sess_ops, n, err);
	if (n->host == NULL)
		goto fail;
	{
		struct rn_peers_cfg pc;

		node_peers_cfg(n, cfg, &pc);
		n->cluster = rn_peers_new(n->host, n->kv, &n->kp, n->ring, &pc,
					  &node_peers_ops, n, err);
		if (n->cluster == NULL)
			goto fail;
	}
	{
		struct rn_fleet_cfg fc;

		node_fleet_cfg(cfg, &fc);
		n->fleet = rn_fleet_new(n->kv, n->cluster, &fc,
					&node_fleet_ops, n, err);
		if (n->fleet == NULL)
			goto fail;
	}
	if (cr_addr_parse(cfg->listen, &listen, err) < 0)
		goto fail;
	n->fd = cr_udp_open(&listen, err);
	if (n->fd < 0)
		goto fail;
	n->out = cr_udp_out_new(base, n->fd);
	if (n->out == NULL) {
		cr_error_errno(err, ENOMEM, "allocating node buffers");
		goto fail;
	}
	if (cfg->tcp[0] != '\0') {
		struct cr_addr ta;

		if (cr_addr_parse(cfg->tcp, &ta, err) < 0) {
			cr_error_wrap(err, "--tcp");
			goto fail;
		}
		n->tls = cr_tls_srv_new(base, &ta, node_on_tls, n, err);
		if (n->tls == NULL)
			goto fail;
		node_tls_limits(n, cfg);
	}
	n->ev_read = event_new(base, n->fd, EV_READ | EV_PERSIST, node_on_read,
			       n);
	n->ev_tick = event_new(base, -1, EV_PERSIST, node_on_tick, n);
	n->ev_initq = event_new(base, -1, 0, node_on_initq, n);
	if (n->ev_read == NULL || n->ev_tick == NULL || n->ev_initq == NULL) {
		cr_error_set(err, ENOMEM, "cannot create events");
		goto fail;
	}
	if (event_add(n->ev_read, NULL) < 0 ||
	    event_add(n->ev_tick,
		      &(struct timeval){ 0, NODE_TICK_MS * 1000 }) < 0) {
		cr_error_set(err, EIO, "cannot add the node's events");
		goto fail;
	}
	if (node_metrics_start(n, err) < 0 || node_cache_start(n, err) < 0)
		goto fail;
	cr_log_info("node %s listening on %s (ring epoch %llu, %zu nodes)",
		    cr_id_format(&n->id, ids), cfg->listen,
		    (unsigned long long)n->ring->epoch, n->ring->n_nodes);
	return n;
fail:
	rn_node_free(n);
	return NULL;
}

int rn_node_reload(struct rn_node *n, const struct rn_config *cfg,
		   struct cr_error **err)
{
	struct cr_ring *ring = NULL;
	struct cr_sess_cfg sc;

	if (strcmp(cfg->key_path, n->cfg.key_path) != 0 ||
	    strcmp(cfg->listen, n->cfg.listen) != 0 ||
	    strcmp(cfg->data_dir, n->cfg.data_dir) != 0)
		return cr_error_set(err, EINVAL,
				    "key, listen and data cannot change "
				    "without a restart");
	struct rn_peers_cfg pc;

	if (node_load_ring(n, cfg, &ring, err) < 0)
		return -1;
	rn_peers_set_ring(n->cluster, ring);
	cr_ring_free(n->ring);
	n->ring = ring;
	n->cfg = *cfg;
	node_sess_cfg(cfg, &sc);
	cr_sess_host_set_cfg(n->host, &sc);
	node_peers_cfg(n, cfg, &pc);
	rn_peers_set_cfg(n->cluster, &pc);
	{
		struct rn_fleet_cfg fc;

		node_fleet_cfg(cfg, &fc);
		rn_fleet_set_cfg(n->fleet, &fc);
	}
	node_tls_limits(n, cfg);
	cr_log_set_level(cfg->log_level);
	cr_log_info("configuration reloaded (ring epoch %llu)",
		    (unsigned long long)ring->epoch);
	return 0;
}

/* Frees a map whose values are single allocations, and the map. */
static void node_map_free_values(struct cr_map *m)
{
	size_t pos = 0;
	const void *key;
	void *val;

	if (m == NULL)
		return;
	/* No change to the map while walking it: the values only. */
	while (cr_map_next(m, &pos, &key, &val))
		free(val);
	cr_map_free(m);
}

struct rn_node *rn_node_free(struct rn_node *n)
{
	if (n == NULL)
		return NULL;
	if (n->http != NULL)
		evhttp_free(n->http);
	rn_cache_free(n->cache);
	if (n->ev_read != NULL)
		event_free(n->ev_read);
	if (n->ev_tick != NULL)
		event_free(n->ev_tick);
	if (n->ev_initq != NULL)
		event_free(n->ev_initq);
	free(n->initq);
	cr_udp_out_free(n->out);
	cr_tls_srv_free(n->tls);
	if (n->fd >= 0)
		close(n->fd);
	rn_fleet_free(n->fleet);
	rn_peers_free(n->cluster);
	cr_sess_host_free(n->host);
	/* Held datagrams (test mode): their one-shot events die with the
	 * base, which never fires them again. */
	while (n->byz_later != NULL) {
		struct node_later *l = n->byz_later;

		n->byz_later = l->next;
		free(l);
	}
	if (n->routes != NULL) {
		/* Each route is in the map twice: collect the routes first,
		 * then free them (freeing while walking would read a freed
		 * route at its second key). */
		size_t pos = 0, k = 0, cnt = cr_map_count(n->routes);
		struct rn_route **all = calloc(cnt + 1, sizeof(*all));
		const void *key;
		void *val;

		while (all != NULL && cr_map_next(n->routes, &pos, &key, &val)) {
			struct rn_route *r = val;

			if (memcmp(key, &r->id[0], sizeof(r->id[0])) == 0 &&
			    k < cnt)
				all[k++] = r;
		}
		for (size_t i = 0; i < k; i++)
			free(all[i]);
		free(all);
	}
	cr_map_free(n->routes);
	node_map_free_values(n->dev_routes);
	node_map_free_values(n->vendor_routes);
	node_map_free_values(n->offer_buckets);
	cr_kv_free(n->kv);
	cr_ring_free(n->ring);
	if (n->capture != NULL)
		fclose(n->capture);
	free(n->batch);
	cr_keypair_wipe(&n->kp);
	free(n);
	return NULL;
}
