/*
 * What the trust root and the release share (private to cr_fleet): the
 * domain-separated signatures, the signature lists, and the text file
 * form ("MAGIC BASE64" after '#' comments).
 */
#ifndef CR_FLEET_RECORD_H
#define CR_FLEET_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "cr/identity.h"

/* Signs "ctx\0" || body with kp. */
int cr_fleet_sign(const char *ctx, const uint8_t *body, size_t len,
		  const struct cr_keypair *kp, uint8_t sig[CR_SIGLEN],
		  struct cr_error **err);

/* Whether a signature by pk counts for the record being decoded. */
typedef int (*cr_fleet_counts_fn)(const void *arg, const uint8_t *pk);

/*
 * Checks a record's signatures over "ctx\0" || body: each must have a
 * 32-byte key and a 64-byte signature; a key listed twice counts once; a
 * signature by a key that counts (counts == NULL: every key) must verify,
 * one by a key that does not is ignored when it does not.  The distinct
 * keys whose signatures verify go to signer (at most cap).  what names
 * the record in errors ("trust root v3", "release").
 */
int cr_fleet_collect(const char *ctx, const uint8_t *body, size_t len,
		     Carrier__FleetSignature *const *sigs, size_t n_sigs,
		     cr_fleet_counts_fn counts, const void *arg,
		     uint8_t (*signer)[CR_PKLEN], size_t cap, size_t *n_signer,
		     const char *what, struct cr_error **err);

/* The signed record kinds (their Signed* messages share one shape;
 * CR_FLEET_RECORD, a SignedFleetRecord of cr/deploy.h, packs as the
 * trust root's does: the same fields). */
enum cr_fleet_kind {
	CR_FLEET_TRUST,
	CR_FLEET_RELEASE,
	CR_FLEET_CRED,
	CR_FLEET_RECORD,
};

/* Packs a Signed* record (body, signatures) into a new buffer. */
int cr_fleet_pack(enum cr_fleet_kind kind, const uint8_t *body,
		  size_t body_len,
		  const uint8_t (*pk)[CR_PKLEN],
		  const uint8_t (*sig)[CR_SIGLEN], size_t n, uint8_t **out,
		  size_t *out_len, struct cr_error **err);

/* The binary record held in a text file of the given magic. */
int cr_fleet_text_parse(const char *text, size_t len, const char *magic,
			const char *what, uint8_t **bin, size_t *bin_len,
			struct cr_error **err);
int cr_fleet_text_load(const char *path, const char *magic, const char *what,
		       uint8_t **bin, size_t *bin_len, struct cr_error **err);
/* Writes comments (lines starting "# ", may be "") then "MAGIC BASE64",
 * atomically, mode 0644. */
int cr_fleet_text_save(const char *path, const char *comments,
		       const char *magic, const uint8_t *blob, size_t len,
		       struct cr_error **err);

/*
 * The sign and verify scaffolding of the rollout-signed records
 * (deployments, advances, reports, configs, credentials), in one place so
 * that every codec bounds, signs and counts the same way.
 */

/* Frees a SignedFleetRecord (for __attribute__((cleanup))). */
void cr_fleet_record_freep(Carrier__SignedFleetRecord **p);

/* Bounds a SignedFleetRecord (at most max bytes) and counts its
 * signatures (at most max_sigs) before protobuf-c allocates, then unpacks
 * it; the body must not be empty.  what names it in errors. */
int cr_fleet_record_unpack(const uint8_t *buf, size_t len, size_t max,
			   size_t max_sigs, const char *what,
			   Carrier__SignedFleetRecord **out,
			   struct cr_error **err);

/*
 * Checks that a threshold of trust's rollout keys signed body under ctx,
 * each listed signature as cr_fleet_collect() does.  trust == NULL checks
 * only that every signature verifies (a builder reading back its own
 * record).  The distinct signers go to signer (cap slots).
 */
int cr_fleet_rollout_verify(const char *ctx, const uint8_t *body, size_t len,
			    Carrier__FleetSignature *const *sigs,
			    size_t n_sigs, const struct cr_trust *trust,
			    uint8_t (*signer)[CR_PKLEN], size_t cap,
			    size_t *n_signers, const char *what,
			    struct cr_error **err);

/*
 * Signs body under ctx with each of signers (1..max_sigs, no key twice,
 * max_sigs at most CR_FLEET_KEYS_MAX) and packs the record as kind into a
 * new buffer.  what names the record in errors ("a deployment").
 */
int cr_fleet_sign_pack(enum cr_fleet_kind kind, const char *ctx,
		       const uint8_t *body, size_t len,
		       const struct cr_keypair *const *signers, size_t n,
		       size_t max_sigs, const char *what, uint8_t **out,
		       size_t *out_len, struct cr_error **err);

/* [a-z0-9][a-z0-9._-]*, as releases name apps. */
int cr_fleet_app_ok(const char *s);
/* K=V, printable, no spaces, as presence records carry tags. */
int cr_fleet_tag_ok(const char *s);

/* The printed vendor identity of a key (out: CR_ID_STRMAX bytes). */
char *cr_fleet_key_id(const uint8_t pk[CR_PKLEN], char *out);

#endif
