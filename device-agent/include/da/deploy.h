/*
 * The agent's side of fleet rollouts (docs/fleet.md "Rollouts", "The
 * device's side"): deployments the ring pushes are verified against the
 * device's trust root and its id and tags (cr_deploy_accept), only the
 * newest per app is kept, the device waits for an advance opening its
 * wave, then hands the embedded release to the app manager (da/apps.h)
 * with the deployment's health window, and signs a status report at each
 * state change, resent until a node acknowledges it.  The deployment, the
 * wave open and the last report of each app live in the agent's LMDB
 * (database "deploy"), so a restart goes on where it was.
 */
#ifndef DA_DEPLOY_H
#define DA_DEPLOY_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/kv.h"
#include "da/apps.h"

struct da_deploy;

/* Sends a packed hop message to home link `link` (its index), or to any
 * attached one when link < 0: 0, or -1 when none is up. */
typedef int (*da_deploy_send_fn)(void *arg, int link, const uint8_t *msg,
				 size_t len);

struct da_deploy_cfg {
	struct cr_kv *kv;             /* the agent's */
	struct da_apps *apps;         /* the agent's */
	const struct cr_keypair *kp;  /* the device key: signs reports */
	const char *trust_path;
	const char (*tags)[CP_TAG_STR_MAX];
	size_t n_tags;
	da_deploy_send_fn send;
	void *send_arg;
	/* Tests only (KORHAL_TEST_DROP_PUSHES=all|SECONDS): pushed
	 * deployments and advances are thrown away, as when those pushes
	 * were lost: for ever (UINT_MAX), or for SECONDS from the first one
	 * thrown away; what the agent asks for at attach still arrives. */
	unsigned test_drop_pushes;
};

struct da_deploy *da_deploy_new(struct event_base *base,
				const struct da_deploy_cfg *cfg,
				struct cr_error **err);
struct da_deploy *da_deploy_free(struct da_deploy *d);
/* A hop message from home link `link`: 1 when it was the rollout's (a
 * pushed record's piece, an acknowledgement or refusal of a report), 0
 * otherwise.  Does not free m. */
int da_deploy_on_hop(struct da_deploy *d, int link, const Carrier__Hop *m);
/* A link's node acknowledged our presence (an attach or re-attach): ask
 * it for the newest deployment and advance of each app of our vendor,
 * taken as pushed ones.  A node pushes them too, but gives up after a
 * few tries; this makes a device that attached while the ring was
 * forming catch up at its next attach. */
void da_deploy_attached(struct da_deploy *d, int link);
/* The sequence of the deployment app follows; 0 for none. */
uint64_t da_deploy_seq(void *d, const char *app);

#endif
