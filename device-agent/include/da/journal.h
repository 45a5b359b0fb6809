/*
 * The app journal: one record per app in the agent's LMDB (DATA/agent.mdb,
 * database "apps"), written before every step of a switch, so that an agent
 * killed at any instant finds, when it starts again, what it was doing and
 * finishes or undoes it (docs/agent-apps.md).
 *
 *   idle -> pulling -> verified -> staged -> starting -> health -> committed
 *                                   any of these -> rolling_back -> rolled_back
 *
 * committed and rolled_back (and idle) are terminal: the app's committed
 * version runs (or nothing, for an app that never committed one).  The
 * release files of the retained versions are kept next to the records
 * (database "releases", key "APP/VERSION"), so a rollback or a resumed
 * switch needs nothing from the network.
 */
#ifndef DA_JOURNAL_H
#define DA_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/kv.h"

enum da_app_state {
	DA_APP_IDLE,
	DA_APP_PULLING,
	DA_APP_VERIFIED,
	DA_APP_STAGED,
	DA_APP_STARTING,
	DA_APP_HEALTH,
	DA_APP_COMMITTED,
	DA_APP_ROLLING_BACK,
	DA_APP_ROLLED_BACK,
	DA_APP_NSTATES,
};

enum {
	DA_KEEP_MAX = 3, /* versions kept per app: current, previous, one more */
	DA_NAME_MAX = 64,
	DA_IMAGE_MAX = 256,
	DA_REASON_MAX = 512,
};

struct da_app_rec {
	char app[DA_NAME_MAX];
	enum da_app_state state;
	char current[DA_NAME_MAX]; /* the committed version; "" for none */
	char target[DA_NAME_MAX];  /* the version a switch goes to */
	uint64_t target_counter;
	uint64_t floor; /* the highest release counter committed */
	/* Retained versions, the committed one first, then the previous. */
	char kept[DA_KEEP_MAX][DA_NAME_MAX];
	char kept_image[DA_KEEP_MAX][DA_IMAGE_MAX];
	size_t n_kept;
	char target_image[DA_IMAGE_MAX];
	uint64_t last_switch_unix;
	uint64_t window_ms;
	int need_ring; /* the ring was reachable when the switch began */
	char last_error[DA_REASON_MAX];
};

/* What a starting agent does with a record found in a state. */
enum da_recover {
	DA_RECOVER_ENSURE,   /* terminal: make the committed version run */
	DA_RECOVER_RESUME,   /* nothing new started yet: the switch goes on */
	DA_RECOVER_ROLLBACK, /* the new version may run: undo */
};

const char *da_app_state_name(enum da_app_state s);
/* The state named s, or -1. */
int da_app_state_parse(const char *s);
int da_app_state_terminal(enum da_app_state s);
/* 1 when a switch may go from one state to the other. */
int da_app_step_ok(enum da_app_state from, enum da_app_state to);
enum da_recover da_app_recover(enum da_app_state s);

/* 1 when s can name an app ([a-z0-9][a-z0-9._-]*, < DA_NAME_MAX) or a
 * version ([A-Za-z0-9][A-Za-z0-9._+-]*): they become folder names and
 * container ids. */
int da_app_name_ok(const char *s);
int da_version_ok(const char *s);

/*
 * Retention after a switch ends.  committed: version (image) becomes the
 * current one and the old current the previous; otherwise the failed
 * version is kept only when there is room.  The versions pushed out (never
 * the current or the previous) are copied to evicted (DA_KEEP_MAX + 1
 * entries) with their images; returns how many.
 */
size_t da_app_retain(struct da_app_rec *r, const char *version,
		     const char *image, int committed,
		     char evicted[][DA_NAME_MAX],
		     char evicted_image[][DA_IMAGE_MAX]);
/* 1 when version is among the retained ones. */
int da_app_keeps(const struct da_app_rec *r, const char *version);

/* The record as one JSON object (the journal's form); caller frees. */
char *da_app_rec_encode(const struct da_app_rec *r);
int da_app_rec_decode(const char *json, size_t len, struct da_app_rec *r,
		      struct cr_error **err);

/* The journal on an open kv: durable when they return 0. */
int da_journal_put(struct cr_kv *kv, const struct da_app_rec *r,
		   struct cr_error **err);
/* -ENOENT when the app has no record. */
int da_journal_get(struct cr_kv *kv, const char *app, struct da_app_rec *r,
		   struct cr_error **err);
/* Every record, in app order; *out is an array the caller frees. */
int da_journal_all(struct cr_kv *kv, struct da_app_rec **out, size_t *n,
		   struct cr_error **err);
/* A release file's bytes, kept for APP VERSION. */
int da_journal_put_release(struct cr_kv *kv, const char *app,
			   const char *version, const void *blob, size_t len,
			   struct cr_error **err);
/* *blob is the caller's; -ENOENT when none. */
int da_journal_get_release(struct cr_kv *kv, const char *app,
			   const char *version, char **blob, size_t *len,
			   struct cr_error **err);
int da_journal_del_release(struct cr_kv *kv, const char *app,
			   const char *version, struct cr_error **err);

#endif
