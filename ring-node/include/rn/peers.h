/*
 * The ring as a cluster, seen from one node: Noise IK sessions with every
 * other node of the ring configuration, heartbeats and the failure detector
 * (which nodes are alive), epoch propagation (a newer configuration signed
 * by the pinned operator is passed on, in RingChunk pieces, to any peer that
 * announces a lower epoch), and replication of presence records among a
 * device's home set: the R live nodes ranked first for it.
 *
 * Sessions: both ends of a pair may initiate; a link uses the newest session
 * that came up, and any authenticated message from the peer counts as a
 * heartbeat.  A peer unheard for peer_timeout_ms is dead; its session is
 * dropped after three times that and re-established when it answers again.
 *
 * Replication: a record a device publishes is stored here, then sent to the
 * other members of its home set, each of which verifies the device's
 * signature itself, keeps it only when its sequence is higher than the one
 * stored, and acknowledges.  Once a majority of the home set holds it, the
 * owner is told (ops->published) and acknowledges the device.  Whenever
 * liveness or the configuration changes, every record held here is offered
 * again to its (new) home set, so a restarted node gets its records back.
 */
#ifndef RN_PEERS_H
#define RN_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/addr.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/kv.h"
#include "cr/presence.h"
#include "cr/ring.h"
#include "cr/session.h"
#include "rn/byzantine.h"

struct rn_peers;

struct rn_peers_cfg {
	uint64_t heartbeat_ms;
	uint64_t peer_timeout_ms;
	uint32_t replicas;        /* 0: the ring's */
	unsigned byzantine;       /* test only: RN_BYZ_* roles */
	const char *pin_path;     /* the operator pin (borrowed) */
	const char *save_path;    /* where an accepted ring is saved */
	/* Bounds on the presence store (see rn_peers_store()). */
	uint64_t presence_max_ttl_s;   /* expiry at most this far ahead */
	uint64_t presence_max_records; /* records held; 0: no bound */
	uint64_t presence_new_per_addr; /* new devices an hour per source
					 * address of a publish; 0: no bound */
};

/* Why a presence record was refused (beyond failing verification). */
enum rn_presence_refusal {
	RN_REFUSED_TOO_FAR_AHEAD, /* expires beyond presence_max_ttl_s */
	RN_REFUSED_NOT_HOME,      /* published to a node that is neither in
				   * the device's home set nor attached */
	RN_REFUSED_SOURCE_BUDGET, /* too many new devices from one address */
	RN_REFUSED_STORE_FULL,    /* presence_max_records, none expired */
	RN_REFUSED_MAX
};

const char *rn_presence_refusal_name(enum rn_presence_refusal r);

struct rn_peers_ops {
	/* A newer configuration was accepted; the callee owns it and must
	 * call rn_peers_set_ring() with it. */
	void (*ring)(void *ctx, struct cr_ring *ring);
	/* A majority of the home set of dev holds seq: acknowledge req_id. */
	void (*published)(void *ctx, const uint8_t dev[CR_ID_HASHLEN],
			  uint64_t seq, uint64_t req_id, unsigned stored,
			  unsigned home);
	/* Sends one datagram outside any session (a nudge, CP_MSG_NUDGE);
	 * NULL: no nudges. */
	void (*send_raw)(void *ctx, const struct cr_addr *to,
			 const uint8_t *buf, size_t len);
};

struct rn_peers_stats {
	uint64_t heartbeats_sent, heartbeats_received;
	uint64_t peer_deaths, peer_revivals;
	uint64_t replicas_sent, replicas_received, replicas_stored;
	uint64_t replicas_rejected;       /* failed the device's signature */
	/* Replicas byte for byte the record stored here: acknowledged
	 * without checking the signature again (rn_peers_store). */
	uint64_t replicas_unchanged;
	/* Device publishes byte for byte the record stored here (a resend
	 * for want of an acknowledgement): no second signature check. */
	uint64_t publishes_unchanged;
	/* Ticks that came late (this node's loop did not run): the time
	 * not run is not counted against the peers' silence. */
	uint64_t tick_stalls, tick_stall_max_ms;
	uint64_t byz[RN_BYZ_ROLES];     /* test mode: lies told, by role bit
			       * (RN_BYZ_ROLES of rn/byzantine.h) */
	uint64_t replica_acks;
	uint64_t publishes_majority, publishes_timed_out;
	uint64_t sync_passes, sync_records;
	uint64_t gc_records; /* deleted: no longer homed here, and held by a
			      * majority of the home set */
	uint64_t rings_accepted, rings_refused, ring_chunks_sent;
	uint64_t presence_refused[RN_REFUSED_MAX];
	uint64_t presence_purged; /* expired records deleted */
	/* Nudges sent to devices whose attached nodes all died, and the
	 * passes over the store that found them. */
	uint64_t nudges_sent, nudge_passes;
};

/* Everything passed is borrowed for the peers' life (ring until the next
 * rn_peers_set_ring()). */
struct rn_peers *rn_peers_new(struct cr_sess_host *host, struct cr_kv *kv,
			      const struct cr_keypair *kp,
			      const struct cr_ring *ring,
			      const struct rn_peers_cfg *cfg,
			      const struct rn_peers_ops *ops, void *ctx,
			      struct cr_error **err);
struct rn_peers *rn_peers_free(struct rn_peers *p);

void rn_peers_set_ring(struct rn_peers *p, const struct cr_ring *ring);
void rn_peers_set_cfg(struct rn_peers *p, const struct rn_peers_cfg *cfg);

/* Session events of node peers (any session whose peer is a node). */
void rn_peers_sess_up(struct rn_peers *p, struct cr_sess *s);
void rn_peers_sess_down(struct rn_peers *p, struct cr_sess *s);
/* A hop message from a node.  Returns 1 when it was a cluster message
 * (handled), 0 when the owner should handle it. */
int rn_peers_on_hop(struct rn_peers *p, struct cr_sess *s,
		    const Carrier__Hop *m);
void rn_peers_tick(struct rn_peers *p, uint64_t now_ms);
/* Whether from is the address of a node of the ring (its peers' traffic
 * goes before devices' handshakes when the node sheds load). */
int rn_peers_is_node_addr(const struct rn_peers *p, const struct cr_addr *from);
/* The node has a backlog now (devices' handshakes waiting, or a read
 * wake-up that did not drain its socket): background work (sync passes)
 * slows down for a second. */
void rn_peers_shedding(struct rn_peers *p, uint64_t now_ms);

/* Sends our configuration to s in RingChunk pieces (a peer, agent or
 * vendor that announced a lower epoch); at most once a second per peer
 * identity when rate_limit is set. */
void rn_peers_push_ring(struct rn_peers *p, struct cr_sess *s);

/* Liveness: alive[i] for each ring index (this node included); valid
 * until the next tick or ring change. */
const uint8_t *rn_peers_alive(const struct rn_peers *p);
size_t rn_peers_alive_count(const struct rn_peers *p);
/* The liveness bitmap for Heartbeat and Pong; returns its length. */
size_t rn_peers_alive_bits(const struct rn_peers *p, uint8_t *out,
			   size_t cap);
uint32_t rn_peers_replicas(const struct rn_peers *p);

/*
 * Stores a signed record (verified here; want, when not NULL, is the
 * device it must belong to) if its sequence is higher than the stored one.
 * from is the source address of a device's own publish (NULL for a
 * replica from a node): such a record must name this node as attached
 * unless this node is in the device's home set, and a device new to this
 * node takes one of from's hourly budget.  Every record must expire within
 * presence_max_ttl_s, and a new device needs room under
 * presence_max_records (expired records are purged to make it).
 * Returns 1 stored, 0 already held at that or a higher sequence (*stored_seq
 * says which), -1 with *err when it fails verification or cannot be
 * stored: err->code EBADMSG for a bad record, ESTALE expired, ERANGE
 * expiring too far ahead, EACCES not home, EAGAIN source budget spent,
 * ENOSPC store full.
 */
int rn_peers_store(struct rn_peers *p, const uint8_t *blob, size_t len,
		   const struct cr_id *want, const struct cr_addr *from,
		   struct cr_presence *rec, uint64_t *stored_seq,
		   struct cr_error **err);

/* Replicates a record just stored from its device to the rest of its home
 * set; ops->published fires once a majority holds it (maybe at once). */
void rn_peers_replicate(struct rn_peers *p, const uint8_t *blob, size_t len,
			const struct cr_presence *rec, uint64_t req_id);

/*
 * Acknowledgements (ReplicateAck to nodes, ops->published for devices) are
 * held back until the owner has committed what they acknowledge to disk
 * (cr_kv_group_commit()); then it calls rn_peers_flush() to send them, or
 * rn_peers_flush_drop() when the commit failed (the senders retry).
 */
void rn_peers_flush(struct rn_peers *p);
void rn_peers_flush_drop(struct rn_peers *p);

const struct rn_peers_stats *rn_peers_stats(const struct rn_peers *p);

/* For the fleet records (rn/fleet.h): the home set of a 32-byte key (ring
 * indices of the R live nodes ranked first; returns how many), this
 * node's index, and the established session to node idx (NULL when none
 * or idx is this node). */
size_t rn_peers_home_of(struct rn_peers *p, const uint8_t key[CR_ID_HASHLEN],
			size_t *out, size_t cap);
int rn_peers_self(const struct rn_peers *p);
size_t rn_peers_n_nodes(const struct rn_peers *p);
struct cr_sess *rn_peers_sess(const struct rn_peers *p, size_t idx);

#endif
