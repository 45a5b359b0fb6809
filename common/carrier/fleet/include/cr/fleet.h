/*
 * Fleet trust records (Uptane's split, docs/fleet.md): the vendor's
 * trust root and the releases it lets devices install.
 *
 * A trust root names three roles, each a set of Ed25519 keys with a
 * threshold: root (signs trust roots), release (signs releases, offline,
 * k of n) and rollout (signs deployments and fleet credentials, online).
 * It has a version and an expiry.  A device is provisioned with one; a
 * newer one replaces it only when a threshold of the *current* root's keys
 * signed it (TUF rotation), and its own root threshold signed it too.
 *
 * A release is what may exist: app, version, a counter strictly growing
 * per app, the architectures it runs on, the Archon image (REPO:TAG, the
 * origin URLs, and the index id and config digest it pins, so a signature
 * covers every byte the device will run) and how to run it.  It carries up
 * to CR_FLEET_KEYS_MAX signatures; it is valid when a release-threshold of
 * distinct release keys of the trust root signed the same body.
 *
 * File form of both (text, so vendors can mail and diff them):
 *     # comment lines
 *     korhal-trust-v1 BASE64(SignedTrust)
 *     korhal-release-v1 BASE64(SignedRelease)
 * Every decoder here is a bounded parser for untrusted bytes.
 */
#ifndef CR_FLEET_H
#define CR_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/identity.h"

enum {
	CR_FLEET_KEYS_MAX = 16,  /* keys per role, signatures per record */
	CR_FLEET_ARCH_MAX = 8,
	CR_FLEET_ARCH_LEN = 16,  /* "mipsel" and NUL fit */
	CR_FLEET_APP_MAX = 64,   /* [a-z0-9][a-z0-9._-]*, as a REPO component */
	CR_FLEET_VERSION_MAX = 64,
	CR_FLEET_ORIGINS_MAX = 4,
	CR_FLEET_URL_MAX = 512,
	CR_FLEET_ARGS_MAX = 64,
	CR_FLEET_ENV_MAX = 64,
	CR_FLEET_PORTS_MAX = 16,
	CR_FLEET_RECORD_MAX = 64 * 1024, /* a serialized record, bytes */
};

enum cr_fleet_role { CR_ROLE_ROOT, CR_ROLE_RELEASE, CR_ROLE_ROLLOUT };

struct cr_fleet_keys {
	uint8_t pk[CR_FLEET_KEYS_MAX][CR_PKLEN];
	size_t n;
	uint32_t threshold; /* 1..n */
};

struct cr_trust {
	uint64_t version;      /* strictly growing across rotations */
	uint64_t expires_unix; /* 0: never */
	struct cr_fleet_keys root, release, rollout;
	uint8_t *blob; /* the serialized SignedTrust, for saving on */
	size_t blob_len;
	/* Public keys of the distinct signers whose signatures verify (keys
	 * that count for nothing are left out when decoding against a
	 * previous root). */
	uint8_t signer[2 * CR_FLEET_KEYS_MAX][CR_PKLEN];
	size_t n_signers;
};

/* Builds a trust root of the given version signed by the root secret keys
 * in signers (they must all be among root's keys, at least its
 * threshold of them).  *out owned by the caller. */
int cr_trust_build(uint64_t version, uint64_t expires_unix,
		   const struct cr_fleet_keys *root,
		   const struct cr_fleet_keys *release,
		   const struct cr_fleet_keys *rollout,
		   const struct cr_keypair *const *signers, size_t n_signers,
		   struct cr_trust **out, struct cr_error **err);
/* Adds one more root signature to t (a rotation signed by the previous
 * root's holders one at a time). */
int cr_trust_sign(struct cr_trust *t, const struct cr_keypair *kp,
		  struct cr_error **err);
/*
 * Parses and verifies a SignedTrust: its own root threshold must have
 * signed it; with prev != NULL it must also carry a threshold of prev's
 * root keys and a version above prev's (rotation).  now_unix != 0 refuses
 * an expired root.  Errors name the reason ("trust root: expired",
 * "trust root: 1 of 2 root signatures", ...).
 */
int cr_trust_decode(const uint8_t *buf, size_t len,
		    const struct cr_trust *prev, uint64_t now_unix,
		    struct cr_trust **out, struct cr_error **err);
int cr_trust_load(const char *path, const struct cr_trust *prev,
		  uint64_t now_unix, struct cr_trust **out,
		  struct cr_error **err);
/* The text file form, written atomically, mode 0644. */
int cr_trust_save(const struct cr_trust *t, const char *path,
		  struct cr_error **err);
struct cr_trust *cr_trust_free(struct cr_trust *t);
/*
 * A draft: a trust root that may still lack signatures (`carrier trust
 * init` with .pub root keys, signed later by `carrier trust sign`).
 * cr_trust_build_draft takes any number of signers (each a root key);
 * the draft decoders check the form and that every signature present
 * verifies, not the thresholds nor the expiry.  cr_trust_check then says
 * whether a decoded root meets them (as cr_trust_decode would).
 */
int cr_trust_build_draft(uint64_t version, uint64_t expires_unix,
			 const struct cr_fleet_keys *root,
			 const struct cr_fleet_keys *release,
			 const struct cr_fleet_keys *rollout,
			 const struct cr_keypair *const *signers,
			 size_t n_signers, struct cr_trust **out,
			 struct cr_error **err);
int cr_trust_decode_draft(const uint8_t *buf, size_t len,
			  struct cr_trust **out, struct cr_error **err);
int cr_trust_load_draft(const char *path, struct cr_trust **out,
			struct cr_error **err);
int cr_trust_check(const struct cr_trust *t, const struct cr_trust *prev,
		   uint64_t now_unix, struct cr_error **err);
/* How many distinct keys of role in t are among signers (n of them). */
size_t cr_fleet_count_signers(const struct cr_fleet_keys *role,
			      const uint8_t (*signers)[CR_PKLEN], size_t n);
/* 1 when pk is one of role's keys in t. */
int cr_trust_has_key(const struct cr_trust *t, enum cr_fleet_role role,
		     const uint8_t pk[CR_PKLEN]);

enum cr_health_kind {
	CR_HEALTH_NONE, /* the process staying alive is the only check */
	CR_HEALTH_HTTP, /* GET http://127.0.0.1:port/path answers 2xx/3xx */
	CR_HEALTH_TCP,  /* 127.0.0.1:port accepts a connection */
	CR_HEALTH_EXEC, /* cmd, run in the container, exits 0 */
};

struct cr_health {
	enum cr_health_kind kind;
	uint16_t port;
	char path[256]; /* http: starts with '/' */
	char cmd[256];  /* exec: run with /bin/sh -c in the container */
};

struct cr_release {
	char app[CR_FLEET_APP_MAX];
	char version[CR_FLEET_VERSION_MAX];
	uint64_t counter;
	char arch[CR_FLEET_ARCH_MAX][CR_FLEET_ARCH_LEN];
	size_t n_arch;
	char image[256]; /* Archon name, REPO:TAG */
	char origins[CR_FLEET_ORIGINS_MAX][CR_FLEET_URL_MAX];
	size_t n_origins;
	uint8_t index_id[32];      /* the Archon index the image must have */
	uint8_t config_digest[32]; /* BLAKE2b-256 of the manifest's config */
	/* How to run it: args replace the image's entrypoint+cmd when
	 * n_args > 0; env adds to (and overrides) the image's. */
	char *args[CR_FLEET_ARGS_MAX];
	size_t n_args;
	char *env[CR_FLEET_ENV_MAX]; /* "K=V" */
	size_t n_env;
	uint16_t ports[CR_FLEET_PORTS_MAX];
	size_t n_ports;
	struct cr_health health;
	/* A config is applied by rewriting its files and sending this
	 * signal to the app (SIGHUP, SIGUSR1 or SIGUSR2: those an app
	 * catches to re-read its files, never one that stops it); 0: by
	 * restarting the app. */
	int reload_signal;
	uint64_t created_unix;
	/* Signatures: public keys of the distinct valid signers. */
	uint8_t signer[CR_FLEET_KEYS_MAX][CR_PKLEN];
	size_t n_signers;
	uint8_t digest[32]; /* BLAKE2b-256 of the body: the release's id */
	uint8_t *blob;      /* the serialized SignedRelease */
	size_t blob_len;
};

/* Builds and signs (with kp) a release from r's fields (r's signer,
 * digest and blob are filled in *out). */
int cr_release_build(const struct cr_release *r, const struct cr_keypair *kp,
		     struct cr_release **out, struct cr_error **err);
/* Adds kp's signature over the same body; signing twice with one key is
 * refused. */
int cr_release_sign(struct cr_release *r, const struct cr_keypair *kp,
		    struct cr_error **err);
/*
 * Parses a SignedRelease.  With trust != NULL it must carry signatures of
 * at least trust's release threshold of distinct release keys (others are
 * ignored); without, only its form and that each signature verifies are
 * checked (for `carrier release sign`).  Errors name the reason:
 * "release: unsigned", "release: 1 of 2 release signatures", ...
 */
int cr_release_decode(const uint8_t *buf, size_t len,
		      const struct cr_trust *trust, struct cr_release **out,
		      struct cr_error **err);
int cr_release_load(const char *path, const struct cr_trust *trust,
		    struct cr_release **out, struct cr_error **err);
int cr_release_save(const struct cr_release *r, const char *path,
		    struct cr_error **err);
struct cr_release *cr_release_free(struct cr_release *r);
/* A release's reload signal by name: "HUP", "USR1" or "USR2" (a "SIG"
 * prefix and lower case are accepted; "none" or "" is 0, a restart).
 * Any other is refused, naming the ones allowed. */
int cr_reload_signal_parse(const char *s, int *sig, struct cr_error **err);
/* "HUP", "USR1", "USR2"; "" for 0 or any other. */
const char *cr_reload_signal_name(int sig);
/* 0 when a release threshold of distinct release keys of trust are among
 * r's signers, else -1 naming the reason ("release: 1 of 2 release
 * signatures"). */
int cr_release_check_trust(const struct cr_release *r,
			   const struct cr_trust *trust,
			   struct cr_error **err);

/*
 * A fleet credential: a device of the fleet may reach the archon serve
 * ports of its peers (devices serving each other with their own keys, no
 * vendor key on the device).  It names the device's identity and an
 * expiry and is signed by a rollout threshold of the trust root.  It
 * travels as the session handshake's hello, so at most
 * CP_FLEET_CRED_SIGS_MAX (2) signatures.  File form:
 *     korhal-credential-v1 BASE64(SignedFleetCredential)
 */
struct cr_fleet_cred {
	struct cr_id device; /* CR_ID_DEVICE */
	uint64_t expires_unix;
	uint8_t signer[2][CR_PKLEN]; /* distinct verified signers */
	size_t n_signers;
	uint8_t *blob; /* the serialized SignedFleetCredential */
	size_t blob_len;
};

/* Signs a credential for device with the rollout keys in signers. */
int cr_cred_build(const struct cr_id *device, uint64_t expires_unix,
		  const struct cr_keypair *const *signers, size_t n_signers,
		  struct cr_fleet_cred **out, struct cr_error **err);
/*
 * Parses a SignedFleetCredential.  With trust != NULL it must carry a
 * rollout threshold of distinct rollout keys of trust, and with now_unix
 * != 0 not be expired.  Errors name the reason ("fleet credential: 0 of
 * 1 rollout signatures", "fleet credential of dev_...: expired at ...").
 */
int cr_cred_decode(const uint8_t *buf, size_t len,
		   const struct cr_trust *trust, uint64_t now_unix,
		   struct cr_fleet_cred **out, struct cr_error **err);
int cr_cred_load(const char *path, const struct cr_trust *trust,
		 uint64_t now_unix, struct cr_fleet_cred **out,
		 struct cr_error **err);
int cr_cred_save(const struct cr_fleet_cred *c, const char *path,
		 struct cr_error **err);
struct cr_fleet_cred *cr_cred_free(struct cr_fleet_cred *c);

/* The Debian architecture name this build runs on ("amd64", "armel"...). */
const char *cr_fleet_arch(void);
/* 0 when r runs on arch, else -1 with "release APP VERSION is for ARCHS,
 * this device is ARCH". */
int cr_release_check_arch(const struct cr_release *r, const char *arch,
			  struct cr_error **err);
/* Parses "http:PORT/PATH", "tcp:PORT" or "exec:CMD". */
int cr_health_parse(const char *s, struct cr_health *h, struct cr_error **err);
/* Writes the same form back ("" for none). */
void cr_health_format(const struct cr_health *h, char *out, size_t cap);

#endif
