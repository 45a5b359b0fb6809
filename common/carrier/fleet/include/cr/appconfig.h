/*
 * Fleet configuration (docs/fleet.md "Configuration"): a rollout-signed
 * record giving an app on its targets (device ids, tags K=V) environment
 * variables and files, versioned strictly upward per (fleet, app,
 * target).  The ring stores and forwards it as FleetPut kind 4
 * (CR_REC_CONFIG); the device checks everything here before applying it:
 * the signatures against its pinned trust root, that it is targeted, that
 * the version is above the one it runs, and the size limits.
 */
#ifndef CR_APPCONFIG_H
#define CR_APPCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "cr/identity.h"

enum {
	CR_REC_CONFIG = 4,               /* FleetPut.kind of a config */
	CR_APPCFG_KEY_MAX = 64,          /* [A-Z_][A-Z0-9_]*, with its NUL */
	CR_APPCFG_ENTRIES_MAX = 64,
	CR_APPCFG_VALUE_MAX = 4096,      /* an environment value */
	/* A config travels as one fleet record, which the ring bounds at
	 * CP_FLEET_RECORD_MAX (64 KiB): values and files get half of it, the
	 * targets, keys and signatures the rest. */
	CR_APPCFG_FILE_MAX = 16 * 1024,  /* one file */
	CR_APPCFG_TOTAL_MAX = 32 * 1024, /* every value and file together */
	CR_APPCFG_DEVICES_MAX = 512,
	CR_APPCFG_TAGS_MAX = CP_DEPLOY_TAGS_MAX,
	CR_APPCFG_RECORD_MAX = CP_FLEET_RECORD_MAX,
};

struct cr_appcfg_entry {
	char key[CR_APPCFG_KEY_MAX];
	uint8_t *value; /* owned; NUL-terminated beyond len for env values */
	size_t len;
	int file;
};

struct cr_appcfg {
	uint8_t vendor_id[32];
	uint64_t trust_version;
	char app[CR_FLEET_APP_MAX];
	uint8_t (*devices)[CR_ID_HASHLEN]; /* owned, n_devices entries */
	size_t n_devices;
	char tags[CR_APPCFG_TAGS_MAX][CP_TAG_STR_MAX];
	size_t n_tags;
	uint64_t version;
	struct cr_appcfg_entry *entries; /* owned, n_entries */
	size_t n_entries;
	uint64_t issued_unix;
	uint64_t expires_unix;
	uint8_t digest[32]; /* BLAKE2b-256 of the body */
	uint8_t signer[CR_FLEET_KEYS_MAX][CR_PKLEN];
	size_t n_signers;
	uint8_t *blob; /* the serialized SignedFleetRecord */
	size_t blob_len;
};

/* 1 when key is [A-Z_][A-Z0-9_]* and shorter than CR_APPCFG_KEY_MAX. */
int cr_appcfg_key_ok(const char *key);
/*
 * Checks one entry and the running total against the limits: a key that
 * is not a variable name, an env value with a control byte or over
 * CR_APPCFG_VALUE_MAX, a file over CR_APPCFG_FILE_MAX, a total over
 * CR_APPCFG_TOTAL_MAX are each refused with a message naming the key.
 */
int cr_appcfg_entry_check(const struct cr_appcfg_entry *e, size_t *total,
			  struct cr_error **err);
/*
 * Signs a config from c's fields with the rollout keys in signers
 * (vendor_id and trust_version from trust).  *out owned by the caller.
 */
int cr_appcfg_build(const struct cr_appcfg *c, const struct cr_trust *trust,
		    const struct cr_keypair *const *signers, size_t n_signers,
		    struct cr_appcfg **out, struct cr_error **err);
/*
 * Parses and verifies a config: bounded, every field and entry within its
 * limits, and (trust != NULL) of trust's fleet and signed by a rollout
 * threshold of it.  Targets, version and expiry: cr_appcfg_accept.
 */
int cr_appcfg_decode(const uint8_t *buf, size_t len,
		     const struct cr_trust *trust, struct cr_appcfg **out,
		     struct cr_error **err);
/*
 * What a device checks before applying a decoded config: it targets the
 * device (id or one of its tags), it is for app, it has not expired at
 * now_unix, and its version is above running ("config version N is not
 * above the running M").
 */
int cr_appcfg_accept(const struct cr_appcfg *c, const char *app,
		     const uint8_t dev[CR_ID_HASHLEN],
		     const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
		     uint64_t running, uint64_t now_unix,
		     struct cr_error **err);
struct cr_appcfg *cr_appcfg_free(struct cr_appcfg *c);

#endif
