/*
 * A lying ring node, for the cluster tests only (carrier-node
 * --byzantine[=ROLES], built with CR_TEST_MODES).  Each role is one way of
 * lying (docs/design/ring-cluster.md "Byzantine test mode"); a node plays
 * any set of them.  Honest code must shrug all of it off; the tests count
 * on that.
 */
#ifndef RN_BYZANTINE_H
#define RN_BYZANTINE_H

#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/identity.h"
#include "cr/kv.h"
#include "cr/error.h"
#include "cr/ring.h"

/* The roles (bits of rn_config.byzantine). */
enum rn_byz_role {
	RN_BYZ_DROP = 1u << 0,     /* relayed datagrams thrown away */
	RN_BYZ_DELAY = 1u << 1,    /* relayed datagrams held RN_BYZ_DELAY_MS */
	RN_BYZ_STALE = 1u << 2,    /* lookups: the first record seen */
	RN_BYZ_FORGE = 1u << 3,    /* lookups: sequence raised, old signature */
	RN_BYZ_OTHER = 1u << 4,    /* lookups: another device's record */
	RN_BYZ_NOSTORE = 1u << 5,  /* publishes and replicas acknowledged,
				    * never stored */
	RN_BYZ_MISROUTE = 1u << 6, /* relay routes lead to another device */
	RN_BYZ_REPLAY = 1u << 7,   /* relayed datagrams sent again later;
				    * first records re-replicated */
	RN_BYZ_LIVENESS = 1u << 8, /* every node alive to nodes, none but
				    * itself to devices */
	RN_BYZ_EPOCH = 1u << 9,    /* bogus configurations, epochs claimed
				    * 1000 ahead */
	RN_BYZ_FLOOD = 1u << 10,   /* forged replicas and heartbeats to peers */
	RN_BYZ_FLEET_DROP = 1u << 11,   /* fleet records acknowledged, never
					 * stored, forwarded or pushed */
	RN_BYZ_FLEET_FORGE = 1u << 12,  /* forged deployments pushed, forged
					 * success reports forwarded and
					 * answered */
	RN_BYZ_FLEET_REPLAY = 1u << 13, /* the first deployment of an app
					 * pushed instead of newer ones;
					 * reports of older deployments
					 * answered */
	RN_BYZ_FLEET_LOSSY = 1u << 14,  /* not a lie: the first copy of each
					 * fleet record passed on to a peer
					 * is not sent, as if lost */
	RN_BYZ_ROLES = 15,
	/* "--byzantine" alone: the presence liar the first tests used. */
	RN_BYZ_CLASSIC = RN_BYZ_DROP | RN_BYZ_STALE | RN_BYZ_FORGE | RN_BYZ_EPOCH,
	/* Roles that claim every device is attached here, so that vendors
	 * route through this node. */
	RN_BYZ_CLAIM = RN_BYZ_DROP | RN_BYZ_DELAY | RN_BYZ_MISROUTE |
		       RN_BYZ_REPLAY | RN_BYZ_STALE | RN_BYZ_FORGE | RN_BYZ_OTHER,
	RN_BYZ_LOOKUP = RN_BYZ_STALE | RN_BYZ_FORGE | RN_BYZ_OTHER,
	RN_BYZ_DELAY_MS = 300,
	RN_BYZ_REPLAY_MS = 700,
	RN_BYZ_FLOOD_N = 16,       /* forged replicas per peer per heartbeat */
};

/* The index of a role bit, for counters by role. */
#define RN_BYZ_IDX(role) ((unsigned)__builtin_ctz(role))

/*
 * Parses ROLES: "yes"/"true"/"on" (the classic set), "no"/"false"/"off"
 * (none), "all", or names separated by commas (drop, delay, stale, forge,
 * other, nostore, misroute, replay, liveness, epoch, flood, fleet-drop,
 * fleet-forge, fleet-replay).  Returns 0 or -1 with *err.
 */
int rn_byz_parse(const char *s, unsigned *roles, struct cr_error **err);
/* The name of role bit i (0..RN_BYZ_ROLES-1). */
const char *rn_byz_name(unsigned i);
/* The names of roles, comma-separated, into out (for the log). */
void rn_byz_format(unsigned roles, char *out, size_t cap);

/*
 * A configuration that must be refused: variant 0 is signed by a random
 * operator key, variant 1 names the real operator but carries a signature
 * that does not verify; both claim epoch real->epoch + 1000.  *out is
 * malloc'ed.  Returns 0 or -1.
 */
int rn_byz_bogus_ring(const struct cr_ring *real, unsigned variant,
		      uint8_t **out, size_t *len);

/* Remembers the first record seen for a device (for stale answers). */
void rn_byz_remember(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		     const uint8_t *blob, size_t len);

/*
 * A lie for a lookup of dev whose current record (blob, len) is stored:
 * the roles of RN_BYZ_LOOKUP in roles take turns by variant, with the
 * truth (NULL) as one more turn, so that vendors choose this node to relay
 * through.  stale: the first record ever seen (when older); forge: the
 * current record with its sequence raised and the signature left as it
 * was; other: (other, olen), another device's record.  *told is the
 * role bit of the lie returned.  Free with
 * carrier__signed_presence__free_unpacked().
 */
Carrier__SignedPresence *rn_byz_lookup_lie(struct cr_kv *kv,
					   const uint8_t dev[CR_ID_HASHLEN],
					   const uint8_t *blob, size_t len,
					   const uint8_t *other, size_t olen,
					   unsigned roles, unsigned variant,
					   unsigned *told);

/* The record (blob, len) with its sequence raised by 1000 and its
 * signature kept: a forgery, into out (cap bytes).  Returns its length or
 * 0. */
size_t rn_byz_forge_presence(const uint8_t *blob, size_t len, uint8_t *out,
			     size_t cap);

/*
 * Fleet forgeries (fleet-forge).  A deployment or advance blob with one
 * signature byte flipped; a "succeeded" report for the device and
 * deployment of the valid report blob, at a far higher sequence, signed
 * by a throwaway key but naming the device's.  Into out (cap bytes);
 * return the length or 0.
 */
size_t rn_byz_forge_record(const uint8_t *blob, size_t len, uint8_t *out,
			   size_t cap);
size_t rn_byz_forge_report(const uint8_t *blob, size_t len, uint8_t *out,
			   size_t cap);

#endif
