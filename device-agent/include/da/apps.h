/*
 * The agent's apps (docs/agent-apps.md): signed releases in, containers
 * out.  A release is verified against the device's trust root (k of n
 * release keys, architecture, counter floor), pulled into the Archon store
 * (pinned index and config), checked out as hard links, and started with
 * Bolter; a health window decides between commit and rollback.  Every step
 * is journaled (da/journal.h) before it acts.
 *
 * Everything runs in the agent's event loop; what blocks (pulls,
 * checkouts, hashing, starting and stopping containers) runs in a worker
 * process the loop forks, one at a time, which calls the Archon and Bolter
 * libraries and reports over a pipe.
 */
#ifndef DA_APPS_H
#define DA_APPS_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/kv.h"
#include "da/journal.h"

struct da_apps;

struct da_apps_cfg {
	const char *data_dir;      /* DATA: apps/, bolter/ live under it */
	const char *store_dir;     /* the Archon store */
	const char *trust_path;    /* the vendor's trust root */
	const char *ring_path;     /* NULL: pulls from the origins only */
	const char *ring_saved;    /* the newer epoch, when the agent has one */
	const char *cgroup_parent; /* NULL: "korhal-apps" */
	uint64_t reserve_bytes;    /* free space a pull must leave */
	uint64_t window_ms;        /* default health window */
	struct cr_kv *kv;          /* the journal's home, the caller's */
	/* The number of home nodes that hold the device's presence: the
	 * ring is reachable when it is above 0. */
	int (*attached)(void *arg);
	void *attached_arg;
	/* Pulls through the fleet's peers (with a ring): this device's key,
	 * its fleet credential, the carrier program that reaches them.  NULL
	 * credential: no peers. */
	const char *key_path;
	const char *credential_path;
	const char *carrier;
	/* A config must leave the ring reachable this long after it is
	 * applied (at least the health window); 0: the health window. */
	uint64_t config_ring_ms;
	/* Tests only: while a config being tried has an entry of this key,
	 * da_apps_ring_cut() says 1 (the agent then drops what the ring
	 * sends, as a config that cut the device off would). */
	const char *test_cut_ring_key;
};

/* Loads the trust root and the journal, and finishes or undoes what a
 * previous run left (see da_app_recover()). */
struct da_apps *da_apps_new(struct event_base *base,
			    const struct da_apps_cfg *cfg,
			    struct cr_error **err);
/* Stops watching; the apps keep running (the next start takes over). */
struct da_apps *da_apps_free(struct da_apps *m);

/* Called once a switch ends: ok (committed) or not, with one line. */
typedef void (*da_apps_done_fn)(void *arg, int ok, const char *line);

/*
 * Starts a switch to the release in blob (a release file's bytes).
 * window_ms 0: the default.  A release that is refused (signatures,
 * architecture, counter, a switch of the app in progress) returns -1 with
 * *err naming the reason and changes nothing.  Otherwise done(arg) is
 * called when the switch ends, unless da_apps_forget(arg) came first;
 * *line gets "APP VERSION" for the caller's acknowledgement.
 */
int da_apps_install(struct da_apps *m, const void *blob, size_t len,
		    uint64_t window_ms, da_apps_done_fn done, void *arg,
		    char *line, size_t line_cap, struct cr_error **err);
void da_apps_forget(struct da_apps *m, void *arg);
/* fn(arg) is called after each pass of the app manager's loop (a step of
 * a switch or a config, an app that exited or restarted, a release or a
 * config handed in), from the loop, until da_apps_forget(arg): so that the
 * caller reads the apps' state when it may have changed, not on a timer.
 * Two listeners at most. */
void da_apps_listen(struct da_apps *m, void (*fn)(void *arg), void *arg);
/*
 * The same for a rollback deployment (docs/fleet.md "Rollouts"), which
 * the caller verified: a release below the counter floor is accepted when
 * its version is one the app still keeps (committed before, checked out,
 * nothing to download); the floor does not go down.  Everything else is
 * checked as da_apps_install() does.
 */
int da_apps_install_rollback(struct da_apps *m, const void *blob, size_t len,
			     uint64_t window_ms, da_apps_done_fn done,
			     void *arg, char *line, size_t line_cap,
			     struct cr_error **err);
/* A copy of app's journal record: 0, or -1 when the agent has no such
 * app. */
int da_apps_get(struct da_apps *m, const char *app, struct da_app_rec *out);
/* fn gives the deployment sequence app follows (0: none), shown by
 * da_apps_status() as "deployment_seq". */
void da_apps_set_deploy_seq(struct da_apps *m,
			    uint64_t (*fn)(void *arg, const char *app),
			    void *arg);

/*
 * A config record (cr/appconfig.h) pushed by the ring or handed over
 * locally: verified against the trust root, for an app that runs here, a
 * target of this device (da_apps_set_device), not expired, its version
 * above every one the app ran or tried.  Refused: -1 with *err, nothing
 * changes.  Accepted: applied once the app rests (docs/fleet.md
 * "Configuration"); *line gets "APP config VERSION".
 */
int da_apps_config(struct da_apps *m, const uint8_t *blob, size_t len,
		   char *line, size_t line_cap, struct cr_error **err);
/* The device's id and tags, which configs target. */
void da_apps_set_device(struct da_apps *m, const uint8_t dev[CR_ID_HASHLEN],
			const char (*tags)[CP_TAG_STR_MAX], size_t n_tags);
/* 1 while a config with the test-only cut key is tried (see
 * da_apps_cfg.test_cut_ring_key). */
int da_apps_ring_cut(const struct da_apps *m);

/* One JSON object per app a line ({"app","version","state","previous",
 * "last_switch_unix","last_error", ...}); caller frees. */
char *da_apps_status(struct da_apps *m);

#endif
