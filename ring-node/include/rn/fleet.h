/*
 * The node's side of fleet rollouts (docs/fleet.md "Rollouts"): it stores
 * deployments, advances and status reports (cr/deploy.h) in LMDB, passes
 * them on to the other nodes, pushes deployments and advances to the
 * attached devices they target, and answers the vendor CLI's queries.
 * It stores and forwards, never decides: signatures are checked only to
 * refuse garbage, and nothing here chooses who runs what.
 *
 * Storage: one database ("fleet") of the node's LMDB file, keys by a
 * leading byte: 'D' fleet(32) app -> a deployment, 'A' fleet(32) app ->
 * its newest advance, 'R' deployment(32) device(32) -> a device's newest
 * report, 'T' fleet(32) -> the trust root pinned for the fleet on first
 * use (a newer one replaces it only as a valid rotation).  Each value is
 * the sequence (u64 LE) then the record.  A deployment or advance is
 * stored on every node, since any node may hold a session of a device it
 * targets; a report on the home set of its deployment's digest.  Highest
 * sequence wins; expired deployments, their advances and reports are
 * dropped.  Bounds: records held, and deployments (apps) per fleet.
 *
 * Records travel in FleetPut pieces (a deployment embeds its trust root
 * and release, and outgrows a hop message); a piece's sender gets a
 * FleetAck (or an Error) when the record is complete.
 */
#ifndef RN_FLEET_H
#define RN_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/kv.h"
#include "cr/presence.h"
#include "cr/session.h"
#include "rn/peers.h"

struct rn_fleet;

struct rn_fleet_cfg {
	uint64_t max_records;     /* deployments, advances, reports; 0: no bound */
	uint64_t apps_per_vendor; /* deployments one fleet holds; 0: no bound */
	uint64_t health_ttl_ms;   /* health records expire this long after
				   * they came; 0: never */
	unsigned byzantine;       /* test only: RN_BYZ_FLEET_* roles */
};

struct rn_fleet_ops {
	/* The live session of an attached device, or NULL. */
	struct cr_sess *(*device)(void *ctx, const uint8_t dev[CR_ID_HASHLEN]);
	/* Whether the node holds a session of dev, whether it is online,
	 * and how long ago it was heard from (ms). */
	int (*device_state)(void *ctx, const uint8_t dev[CR_ID_HASHLEN],
			    int *online, uint64_t *last_seen_ms_ago);
};

struct rn_fleet_stats {
	uint64_t stored[4];   /* by kind (1 deployment, 2 advance, 3 report) */
	uint64_t refused[4];  /* failed verification or a bound */
	uint64_t pushed;      /* records pushed to devices */
	uint64_t push_retries;
	uint64_t fwd_retries; /* records passed on to a peer again */
	uint64_t pieces_in, pieces_out;
	uint64_t expired;     /* deployments dropped at expiry */
	uint64_t health_expired; /* health records dropped (--health-ttl) */
	uint64_t byz[RN_BYZ_ROLES];     /* test mode: lies told, by role bit
			       * (RN_BYZ_ROLES of rn/byzantine.h) */
};

struct rn_fleet *rn_fleet_new(struct cr_kv *kv, struct rn_peers *peers,
			      const struct rn_fleet_cfg *cfg,
			      const struct rn_fleet_ops *ops, void *ctx,
			      struct cr_error **err);
struct rn_fleet *rn_fleet_free(struct rn_fleet *f);
void rn_fleet_set_cfg(struct rn_fleet *f, const struct rn_fleet_cfg *cfg);

/* A hop message: 1 when it was a fleet message (handled), else 0. */
int rn_fleet_on_hop(struct rn_fleet *f, struct cr_sess *s,
		    const Carrier__Hop *m);
/* A device attached (its first presence of a session is held by a
 * majority of its home set): push it the newest deployments that target
 * it (by id, or by the tags of its presence record). */
void rn_fleet_on_attach(struct rn_fleet *f, struct cr_sess *s,
			const uint8_t dev[CR_ID_HASHLEN]);
void rn_fleet_tick(struct rn_fleet *f, uint64_t now_ms);

const struct rn_fleet_stats *rn_fleet_stats(const struct rn_fleet *f);
/* Deployments held, and records of every kind in the store. */
size_t rn_fleet_deployments(const struct rn_fleet *f);
long rn_fleet_records(struct rn_fleet *f);

#endif
