/*
 * Fleet rollouts (docs/fleet.md "Rollouts"): the three records the ring
 * stores and forwards for `carrier deploy`, beside the trust root and the
 * releases of cr/fleet.h.
 *
 * A deployment (rollout-signed: a rollout threshold of the trust root it
 * carries) says what should run where: a release (embedded, so a device
 * needs nothing else to check it), its targets (device ids and tags
 * K=V), waves of cumulative percentages, a failure threshold, a health
 * window, a sequence strictly growing per (vendor, app) and an expiry.
 * An advance (rollout-signed) opens the next wave, issued by the vendor's
 * CLI on counted, verified reports.  A status report (device-signed) says
 * where one device is with one deployment.
 *
 * Wave membership is a hash of the deployment and the device
 * (cr_wave_bucket), so no node chooses who goes first.  Every decoder is a
 * bounded parser for untrusted bytes; the ring verifies signatures only to
 * refuse garbage, devices and the CLI verify everything themselves.
 */
#ifndef CR_DEPLOY_H
#define CR_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "cr/identity.h"

enum {
	CR_DEPLOY_DIGEST_LEN = 32,
	CR_WAVE_BUCKETS = 10000, /* a wave of P % holds buckets < P * 100 */
};

/* A record's kind on the ring (FleetPut.kind). */
enum cr_fleet_rec_kind {
	CR_REC_DEPLOYMENT = 1,
	CR_REC_ADVANCE = 2,
	CR_REC_REPORT = 3,
};

/* The fleet a trust root belongs to: BLAKE2b-256 of "korhal fleet v1\0"
 * and its root keys.  A rotation to new root keys keeps the fleet the
 * nodes pinned (they check the rotation). */
void cr_fleet_vendor_id(const struct cr_trust *t, uint8_t out[32]);

struct cr_deploy {
	uint8_t vendor_id[32];
	uint64_t trust_version;
	struct cr_trust *trust;     /* the carried trust root (owned) */
	char app[CR_FLEET_APP_MAX];
	struct cr_release *release; /* owned; valid for trust */
	uint8_t (*devices)[CR_ID_HASHLEN]; /* owned, n_devices entries */
	size_t n_devices;
	char tags[CP_DEPLOY_TAGS_MAX][CP_TAG_STR_MAX];
	size_t n_tags;
	uint32_t waves[CP_DEPLOY_WAVES_MAX]; /* cumulative %, last 100 */
	size_t n_waves;
	uint32_t max_failures; /* a count, or basis points when _pct */
	int max_failures_pct;
	uint64_t health_window_ms;
	uint64_t seq;
	uint64_t issued_unix;
	uint64_t expires_unix;
	int rollback;
	uint8_t digest[CR_DEPLOY_DIGEST_LEN]; /* BLAKE2b-256 of the body */
	uint8_t signer[CR_FLEET_KEYS_MAX][CR_PKLEN];
	size_t n_signers;
	uint8_t *blob; /* the serialized SignedFleetRecord */
	size_t blob_len;
};

/*
 * Signs a deployment from d's fields (trust and release borrowed from d;
 * vendor_id is computed from trust) with the rollout keys in signers.
 * *out owned by the caller.
 */
int cr_deploy_build(const struct cr_deploy *d,
		    const struct cr_keypair *const *signers, size_t n_signers,
		    struct cr_deploy **out, struct cr_error **err);
/*
 * Parses and verifies a deployment: its carried trust root is valid (its
 * own root threshold; with pinned != NULL also the same root as pinned or
 * a valid rotation of it, else vendor_id must be the carried root's
 * cr_fleet_vendor_id), a rollout threshold of that root signed it, its
 * release is valid for that root and names its app, and every field is
 * in bounds.  Expiry is not checked here (cr_deploy_expired): a device
 * reports an expired deployment as stale rather than ignoring it.
 */
int cr_deploy_decode(const uint8_t *buf, size_t len,
		     const struct cr_trust *pinned, struct cr_deploy **out,
		     struct cr_error **err);
/* A deployment's (kind CR_REC_DEPLOYMENT) or an advance's fleet, app and
 * sequence (an advance's: its wave), read without verifying anything, so
 * that a node finds the trust root to verify it with: 0, or -1. */
int cr_fleet_rec_peek(enum cr_fleet_rec_kind kind, const uint8_t *buf,
		      size_t len, uint8_t vendor_id[32],
		      char app[CR_FLEET_APP_MAX], uint64_t *seq);
int cr_deploy_load(const char *path, struct cr_deploy **out,
		   struct cr_error **err);
int cr_deploy_save(const struct cr_deploy *d, const char *path,
		   struct cr_error **err);
struct cr_deploy *cr_deploy_free(struct cr_deploy *d);

int cr_deploy_expired(const struct cr_deploy *d, uint64_t now_unix);
/* 1 when the deployment targets the device (by id, or by any of its tags
 * equal to one of the deployment's). */
int cr_deploy_targets(const struct cr_deploy *d, const uint8_t dev[CR_ID_HASHLEN],
		      const char (*tags)[CP_TAG_STR_MAX], size_t n_tags);
/* H(digest || device) mod 10000: the device's place in the waves. */
uint32_t cr_wave_bucket(const uint8_t digest[CR_DEPLOY_DIGEST_LEN],
			const uint8_t dev[CR_ID_HASHLEN]);
/* The first wave whose percentage covers the device's bucket. */
size_t cr_deploy_wave_of(const struct cr_deploy *d,
			 const uint8_t dev[CR_ID_HASHLEN]);
/* Failures tolerated among `members` devices. */
uint32_t cr_deploy_failures_allowed(const struct cr_deploy *d,
				    uint32_t members);
/* Parses "1,10,50,100" (growing, 1..100, last 100). */
int cr_waves_parse(const char *s, uint32_t *waves, size_t *n,
		   struct cr_error **err);

struct cr_advance {
	uint8_t vendor_id[32];
	char app[CR_FLEET_APP_MAX];
	uint8_t deployment[CR_DEPLOY_DIGEST_LEN];
	uint32_t wave; /* the wave index now open */
	uint32_t members, succeeded, failed;
	uint64_t issued_unix;
	uint8_t digest[CR_DEPLOY_DIGEST_LEN];
	uint8_t signer[CR_FLEET_KEYS_MAX][CR_PKLEN];
	size_t n_signers;
	uint8_t *blob;
	size_t blob_len;
};

int cr_advance_build(const struct cr_advance *a,
		     const struct cr_keypair *const *signers, size_t n_signers,
		     struct cr_advance **out, struct cr_error **err);
/* With trust != NULL a rollout threshold of it must have signed. */
int cr_advance_decode(const uint8_t *buf, size_t len,
		      const struct cr_trust *trust, struct cr_advance **out,
		      struct cr_error **err);
struct cr_advance *cr_advance_free(struct cr_advance *a);

enum cr_report_state {
	CR_RS_NONE = 0,
	CR_RS_PULLING,
	CR_RS_STAGED,
	CR_RS_RUNNING,
	CR_RS_SUCCEEDED,
	CR_RS_FAILED,
	CR_RS_ROLLED_BACK,
	CR_RS_STALE,
	CR_RS_REFUSED,
	CR_RS_MAX
};

const char *cr_report_state_name(enum cr_report_state s);
/* A terminal state: the device is done with the deployment. */
int cr_report_state_final(enum cr_report_state s);

struct cr_report {
	uint8_t device_pk[CR_PKLEN];
	struct cr_id device; /* from device_pk */
	uint8_t deployment[CR_DEPLOY_DIGEST_LEN];
	uint64_t deployment_seq;
	enum cr_report_state state;
	char app[CR_FLEET_APP_MAX];
	char version[CR_FLEET_VERSION_MAX];
	char reason[CP_REASON_MAX];
	uint64_t time_ms;
	uint64_t seq;
	uint8_t blob[CP_REPORT_MAX]; /* the serialized SignedFleetRecord */
	size_t blob_len;
};

/* Signs r's fields with the device key kp (device_pk and device are
 * filled in, and blob). */
int cr_report_sign(const struct cr_keypair *kp, struct cr_report *r,
		   struct cr_error **err);
/* Parses and verifies a report: the device's signature over the body, by
 * the key it names, and every field in bounds. */
int cr_report_decode(const uint8_t *buf, size_t len, struct cr_report *out,
		     struct cr_error **err);

/* ---- The device's side (the agent, tests/tools/fleetsim.c) ------------- */

/* A record arriving in FleetPut pieces from one peer (one at a time). */
struct cr_fleet_asm {
	uint8_t *buf; /* owned; the whole record once complete */
	uint32_t total, got, kind;
	uint8_t digest[32];
};

/* Adds a piece: 1 when the record is complete and its digest matches (buf
 * and total hold it until the next call or cr_fleet_asm_reset), 0 while
 * pieces are missing, -1 for a piece out of bounds or a digest mismatch
 * (the partial record is dropped). */
int cr_fleet_asm_add(struct cr_fleet_asm *s, uint32_t kind,
		     const uint8_t *digest, size_t digest_len, uint32_t total,
		     uint32_t offset, const uint8_t *data, size_t len);
void cr_fleet_asm_reset(struct cr_fleet_asm *s);

/* A hop message carrying a whole record of kind as one FleetPut piece
 * (reports fit one), req_id echoed by the node's FleetAck or Error: its
 * length in out, or -1. */
long cr_fleet_put_pack(uint32_t kind, const uint8_t *blob, size_t len,
		       uint64_t req_id, uint8_t *out, size_t cap);
/* A FleetAck of a received record (a device's ack of a push). */
long cr_fleet_ack_pack(uint32_t kind, const uint8_t digest[32], uint8_t *out,
		       size_t cap);

/*
 * What a device does with a deployment pushed to it: verifies it against
 * its trust root (cr_deploy_decode) and that it targets the device (by id
 * or one of its tags).  0 with *out, or -1 with the refusal in why, naming
 * the attack: "arbitrary software: ..." (it does not verify) or "replay:
 * deployment of APP seq N does not target this device".  The caller then
 * keeps only a sequence above the one it applied, and checks the expiry
 * when it starts (cr_deploy_expired: report stale).
 */
/* The second half of it, for a deployment already verified: 0 when it
 * targets the device, else -1 with the "replay: ..." refusal in why. */
int cr_deploy_for_device(const struct cr_deploy *d,
			 const uint8_t dev[CR_ID_HASHLEN],
			 const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
			 char *why, size_t why_cap);
int cr_deploy_accept(const uint8_t *blob, size_t len,
		     const struct cr_trust *trust,
		     const uint8_t dev[CR_ID_HASHLEN],
		     const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
		     struct cr_deploy **out, char *why, size_t why_cap);
/*
 * A deployment verified against *held carrying a newer trust root (a
 * rotation a threshold of *held's root keys signed, e.g. to replace a lost
 * or stolen rollout key): the device takes that root as its own, so the
 * keys it dropped sign nothing for it any more, without a reflash.  1 when
 * *held was replaced (the old one freed), 0 when the root is not newer,
 * -1 with *err.
 */
int cr_deploy_adopt_trust(struct cr_trust **held, const struct cr_deploy *d,
			  struct cr_error **err);

/* Wall-clock ms: report and deployment sequences that grow across
 * restarts. */
uint64_t cr_fleet_wall_ms(void);

/* Fills and signs a report of device kp about deployment d (NULL: none)
 * for app: state, version running, reason, report sequence seq. */
int cr_report_make(const struct cr_keypair *kp, const struct cr_deploy *d,
		   const char *app, enum cr_report_state state,
		   const char *version, const char *reason, uint64_t seq,
		   struct cr_report *r, struct cr_error **err);

#endif
