/*
 * The vendor's trust root (cr/fleet.h): three roles of Ed25519 keys with
 * thresholds, a version and an expiry, signed by a threshold of its own
 * root keys and, when it replaces an older root, by a threshold of that
 * root's keys too (TUF's rotation: a stolen new root alone cannot take a
 * fleet over, and the old root alone cannot forge a new one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cp/pbscan.h"
#include "cr/cleanup.h"
#include "cr/fleet.h"
#include "record.h"

static const char trust_sig_ctx[] = "korhal trust v1";
static const char trust_magic[] = "korhal-trust-v1";

static const char *const role_names[] = { "root", "release", "rollout" };

static void signed_trust_freep(Carrier__SignedTrust **p)
{
	if (*p != NULL)
		carrier__signed_trust__free_unpacked(*p, NULL);
}

static void trust_body_freep(Carrier__TrustBody **p)
{
	if (*p != NULL)
		carrier__trust_body__free_unpacked(*p, NULL);
}

static void trust_freep(struct cr_trust **p)
{
	*p = cr_trust_free(*p);
}

#define CLEANUP_SIGNED_TRUST __attribute__((cleanup(signed_trust_freep)))
#define CLEANUP_TRUST_BODY __attribute__((cleanup(trust_body_freep)))
#define CLEANUP_TRUST __attribute__((cleanup(trust_freep)))

struct cr_trust *cr_trust_free(struct cr_trust *t)
{
	if (t == NULL)
		return NULL;
	free(t->blob);
	free(t);
	return NULL;
}

static int key_in(const struct cr_fleet_keys *k, const uint8_t *pk)
{
	for (size_t i = 0; i < k->n && i < CR_FLEET_KEYS_MAX; i++)
		if (memcmp(k->pk[i], pk, CR_PKLEN) == 0)
			return 1;
	return 0;
}

int cr_trust_has_key(const struct cr_trust *t, enum cr_fleet_role role,
		     const uint8_t pk[CR_PKLEN])
{
	switch (role) {
	case CR_ROLE_ROOT:
		return key_in(&t->root, pk);
	case CR_ROLE_RELEASE:
		return key_in(&t->release, pk);
	case CR_ROLE_ROLLOUT:
		return key_in(&t->rollout, pk);
	}
	return 0;
}

size_t cr_fleet_count_signers(const struct cr_fleet_keys *role,
			      const uint8_t (*signers)[CR_PKLEN], size_t n)
{
	size_t count = 0;

	/* Signer lists hold distinct keys, so each match is one key. */
	for (size_t i = 0; i < n; i++)
		count += (size_t)key_in(role, signers[i]);
	return count;
}

/* A role's keys: 1..CR_FLEET_KEYS_MAX distinct valid Ed25519 keys and a
 * threshold in 1..n. */
static int role_check(const struct cr_fleet_keys *k, const char *name,
		      struct cr_error **err)
{
	char ida[CR_ID_STRMAX];

	if (k->n == 0)
		return cr_error_set(err, EBADMSG,
				    "trust root has no %s keys; each role needs "
				    "at least one",
				    name);
	if (k->n > CR_FLEET_KEYS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "trust root has %zu %s keys, more than the "
				    "limit of %d",
				    k->n, name, (int)CR_FLEET_KEYS_MAX);
	if (k->threshold == 0 || k->threshold > k->n)
		return cr_error_set(err, EBADMSG,
				    "trust root's %s threshold is %" PRIu32
				    " with %zu %s keys; it must be 1..%zu",
				    name, k->threshold, k->n, name, k->n);
	for (size_t i = 0; i < k->n; i++) {
		if (crypto_core_ed25519_is_valid_point(k->pk[i]) != 1)
			return cr_error_set(err, EBADMSG,
					    "trust root's %s key %zu is not a "
					    "valid Ed25519 key",
					    name, i + 1);
		for (size_t j = 0; j < i; j++)
			if (memcmp(k->pk[i], k->pk[j], CR_PKLEN) == 0)
				return cr_error_set(
					err, EBADMSG,
					"trust root lists %s key %s twice",
					name, cr_fleet_key_id(k->pk[i], ida));
	}
	return 0;
}

static int role_fill(const Carrier__FleetRoleKeys *m, const char *name,
		     struct cr_fleet_keys *k, struct cr_error **err)
{
	memset(k, 0, sizeof(*k));
	if (m == NULL || m->n_keys == 0)
		return cr_error_set(err, EBADMSG,
				    "trust root has no %s keys; each role needs "
				    "at least one",
				    name);
	if (m->n_keys > CR_FLEET_KEYS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "trust root has %zu %s keys, more than the "
				    "limit of %d",
				    m->n_keys, name, (int)CR_FLEET_KEYS_MAX);
	for (size_t i = 0; i < m->n_keys; i++) {
		if (m->keys[i].len != CR_PKLEN)
			return cr_error_set(err, EBADMSG,
					    "trust root's %s key %zu is %zu "
					    "bytes, want %d",
					    name, i + 1, m->keys[i].len,
					    (int)CR_PKLEN);
		memcpy(k->pk[i], m->keys[i].data, CR_PKLEN);
	}
	k->n = m->n_keys;
	k->threshold = m->threshold;
	return role_check(k, name, err);
}

/* Refuses a body whose roles list more keys than allowed before
 * protobuf-c allocates them (fields 3, 4, 5, each a FleetRoleKeys whose
 * field 1 is a key; occurrences of a message field merge). */
static int body_prescan(const uint8_t *p, size_t len, struct cr_error **err)
{
	for (uint32_t f = 3; f <= 5; f++) {
		const uint8_t *sub;
		size_t off = 0, sl;
		long total = 0, c;
		int r;

		while ((r = cp_pb_next(p, len, f, &off, &sub, &sl)) == 1) {
			c = cp_pb_count(sub, sl, 1);
			if (c < 0)
				return cr_error_set(err, EBADMSG,
						    "trust root body is "
						    "malformed (truncated or "
						    "corrupt)");
			total += c;
			if (total > CR_FLEET_KEYS_MAX)
				return cr_error_set(
					err, EMSGSIZE,
					"trust root lists more than %d %s keys",
					(int)CR_FLEET_KEYS_MAX,
					role_names[f - 3]);
		}
		if (r < 0)
			return cr_error_set(err, EBADMSG,
					    "trust root body is malformed "
					    "(truncated or corrupt)");
	}
	return 0;
}

struct counts_arg {
	const struct cr_trust *t, *prev;
	int all;
};

/* Root keys of the record itself and of the previous root count. */
static int trust_counts(const void *arg, const uint8_t *pk)
{
	const struct counts_arg *a = arg;

	return a->all || key_in(&a->t->root, pk) ||
	       (a->prev != NULL && key_in(&a->prev->root, pk));
}

static int trust_parse(const uint8_t *buf, size_t len,
		       const struct cr_trust *prev, int draft,
		       struct cr_trust **out, struct cr_error **err)
{
	CLEANUP_SIGNED_TRUST Carrier__SignedTrust *s = NULL;
	CLEANUP_TRUST_BODY Carrier__TrustBody *b = NULL;
	CLEANUP_TRUST struct cr_trust *t = NULL;
	struct counts_arg ca;
	char what[64];
	long n;

	if (buf == NULL || len == 0)
		return cr_error_set(err, EBADMSG, "trust root is empty");
	if (len > CP_FLEET_RECORD_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "trust root is %zu bytes, more than the "
				    "limit of %d",
				    len, (int)CP_FLEET_RECORD_MAX);
	n = cp_pb_count(buf, len, 2);
	if (n < 0)
		return cr_error_set(err, EBADMSG,
				    "trust root is not a valid SignedTrust "
				    "(truncated or corrupt)");
	if (n > CP_FLEET_SIGS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "trust root carries %ld signatures, more "
				    "than the limit of %d",
				    n, (int)CP_FLEET_SIGS_MAX);
	s = carrier__signed_trust__unpack(NULL, len, buf);
	if (s == NULL)
		return cr_error_set(err, EBADMSG,
				    "trust root is not a valid SignedTrust "
				    "(truncated or corrupt)");
	if (s->body.len == 0)
		return cr_error_set(err, EBADMSG,
				    "trust root has an empty body");
	if (body_prescan(s->body.data, s->body.len, err) < 0)
		return -1;
	b = carrier__trust_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL)
		return cr_error_set(err, EBADMSG,
				    "trust root body is malformed (truncated or "
				    "corrupt)");
	if (b->version == 0)
		return cr_error_set(err, EBADMSG,
				    "trust root has version 0; versions start "
				    "at 1");
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return cr_error_errno(err, ENOMEM, "decoding the trust root");
	t->version = b->version;
	t->expires_unix = b->expires_unix;
	if (role_fill(b->root, "root", &t->root, err) < 0 ||
	    role_fill(b->release, "release", &t->release, err) < 0 ||
	    role_fill(b->rollout, "rollout", &t->rollout, err) < 0)
		return -1;
	if (s->n_signatures == 0)
		return cr_error_set(err, EBADMSG,
				    "trust root v%" PRIu64 " is unsigned",
				    t->version);
	ca.t = t;
	ca.prev = prev;
	ca.all = draft;
	snprintf(what, sizeof(what), "trust root v%" PRIu64, t->version);
	if (cr_fleet_collect(trust_sig_ctx, s->body.data, s->body.len,
			     s->signatures, s->n_signatures, trust_counts, &ca,
			     t->signer, 2 * CR_FLEET_KEYS_MAX, &t->n_signers,
			     what, err) < 0)
		return -1;
	t->blob = malloc(len);
	if (t->blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding the trust root");
	memcpy(t->blob, buf, len);
	t->blob_len = len;
	*out = CR_TAKE(&t);
	return 0;
}

int cr_trust_check(const struct cr_trust *t, const struct cr_trust *prev,
		   uint64_t now_unix, struct cr_error **err)
{
	size_t have;

	have = cr_fleet_count_signers(&t->root,
				      (const uint8_t(*)[CR_PKLEN])t->signer,
				      t->n_signers);
	if (have < t->root.threshold)
		return cr_error_set(err, EKEYREJECTED,
				    "trust root v%" PRIu64 ": %zu of %" PRIu32
				    " root signatures",
				    t->version, have, t->root.threshold);
	if (prev != NULL) {
		if (t->version <= prev->version)
			return cr_error_set(err, EKEYREJECTED,
					    "trust root v%" PRIu64
					    " is not newer than the current "
					    "v%" PRIu64
					    " (a rotation must raise the "
					    "version; an older root is a "
					    "rollback)",
					    t->version, prev->version);
		have = cr_fleet_count_signers(
			&prev->root, (const uint8_t(*)[CR_PKLEN])t->signer,
			t->n_signers);
		if (have < prev->root.threshold)
			return cr_error_set(err, EKEYREJECTED,
					    "trust root v%" PRIu64 ": %zu of "
					    "%" PRIu32
					    " signatures of the previous root "
					    "v%" PRIu64
					    " (a rotation must be signed by a "
					    "threshold of the previous root's "
					    "keys)",
					    t->version, have,
					    prev->root.threshold,
					    prev->version);
	}
	if (now_unix != 0 && t->expires_unix != 0 &&
	    now_unix >= t->expires_unix) {
		char when[32] = "?";
		time_t e = (time_t)t->expires_unix;
		struct tm tm;

		if (gmtime_r(&e, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		return cr_error_set(err, EKEYEXPIRED,
				    "trust root v%" PRIu64
				    ": expired at %s UTC; the vendor must "
				    "issue a new one",
				    t->version, when);
	}
	return 0;
}

int cr_trust_decode(const uint8_t *buf, size_t len, const struct cr_trust *prev,
		    uint64_t now_unix, struct cr_trust **out,
		    struct cr_error **err)
{
	CLEANUP_TRUST struct cr_trust *t = NULL;

	if (trust_parse(buf, len, prev, 0, &t, err) < 0 ||
	    cr_trust_check(t, prev, now_unix, err) < 0)
		return -1;
	*out = CR_TAKE(&t);
	return 0;
}

int cr_trust_decode_draft(const uint8_t *buf, size_t len, struct cr_trust **out,
			  struct cr_error **err)
{
	return trust_parse(buf, len, NULL, 1, out, err);
}

int cr_trust_load(const char *path, const struct cr_trust *prev,
		  uint64_t now_unix, struct cr_trust **out,
		  struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *bin = NULL;
	size_t len;

	if (cr_fleet_text_load(path, trust_magic, "trust root", &bin, &len,
			       err) < 0)
		return -1;
	if (cr_trust_decode(bin, len, prev, now_unix, out, err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

int cr_trust_load_draft(const char *path, struct cr_trust **out,
			struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *bin = NULL;
	size_t len;

	if (cr_fleet_text_load(path, trust_magic, "trust root", &bin, &len,
			       err) < 0)
		return -1;
	if (cr_trust_decode_draft(bin, len, out, err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

/* ---- building ------------------------------------------------------------ */

static void role_msg(const struct cr_fleet_keys *k, uint8_t (*copy)[CR_PKLEN],
		     ProtobufCBinaryData *keys, Carrier__FleetRoleKeys *m)
{
	carrier__fleet_role_keys__init(m);
	for (size_t i = 0; i < k->n; i++) {
		memcpy(copy[i], k->pk[i], CR_PKLEN);
		keys[i].data = copy[i];
		keys[i].len = CR_PKLEN;
	}
	m->keys = keys;
	m->n_keys = k->n;
	m->threshold = k->threshold;
}

int cr_trust_build_draft(uint64_t version, uint64_t expires_unix,
			 const struct cr_fleet_keys *root,
			 const struct cr_fleet_keys *release,
			 const struct cr_fleet_keys *rollout,
			 const struct cr_keypair *const *signers,
			 size_t n_signers, struct cr_trust **out,
			 struct cr_error **err)
{
	const struct cr_fleet_keys *roles[3] = { root, release, rollout };
	uint8_t copy[3][CR_FLEET_KEYS_MAX][CR_PKLEN];
	ProtobufCBinaryData keys[3][CR_FLEET_KEYS_MAX];
	Carrier__FleetRoleKeys rm[3];
	Carrier__TrustBody body = CARRIER__TRUST_BODY__INIT;
	uint8_t pk[CR_FLEET_KEYS_MAX][CR_PKLEN],
		sig[CR_FLEET_KEYS_MAX][CR_SIGLEN];
	CR_CLEANUP_FREE uint8_t *bbuf = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	char ida[CR_ID_STRMAX];
	size_t blen, blob_len;

	if (version == 0)
		return cr_error_set(err, EINVAL,
				    "trust root versions start at 1");
	for (int r = 0; r < 3; r++) {
		if (roles[r] == NULL)
			return cr_error_set(err, EINVAL,
					    "trust root has no %s keys",
					    role_names[r]);
		if (role_check(roles[r], role_names[r], err) < 0)
			return -1;
		role_msg(roles[r], copy[r], keys[r], &rm[r]);
	}
	if (n_signers > CR_FLEET_KEYS_MAX)
		return cr_error_set(err, EINVAL, "too many signers");
	for (size_t i = 0; i < n_signers; i++) {
		if (!key_in(root, signers[i]->pk))
			return cr_error_set(err, EINVAL,
					    "%s is not one of the trust root's "
					    "root keys; only root keys sign "
					    "it",
					    cr_fleet_key_id(signers[i]->pk,
							    ida));
		for (size_t j = 0; j < i; j++)
			if (memcmp(signers[i]->pk, signers[j]->pk, CR_PKLEN) ==
			    0)
				return cr_error_set(
					err, EINVAL,
					"root key %s is given "
					"twice",
					cr_fleet_key_id(signers[i]->pk, ida));
	}
	body.version = version;
	body.expires_unix = expires_unix;
	body.root = &rm[0];
	body.release = &rm[1];
	body.rollout = &rm[2];
	blen = carrier__trust_body__get_packed_size(&body);
	if (blen > CP_FLEET_RECORD_MAX / 2)
		return cr_error_set(err, EMSGSIZE, "trust root too large");
	bbuf = malloc(blen + 1);
	if (bbuf == NULL)
		return cr_error_errno(err, ENOMEM, "building the trust root");
	carrier__trust_body__pack(&body, bbuf);
	for (size_t i = 0; i < n_signers; i++) {
		memcpy(pk[i], signers[i]->pk, CR_PKLEN);
		if (cr_fleet_sign(trust_sig_ctx, bbuf, blen, signers[i], sig[i],
				  err) < 0)
			return cr_error_wrap(err, "signing with %s",
					     cr_fleet_key_id(pk[i], ida));
	}
	if (n_signers == 0)
		return cr_error_set(err, EINVAL,
				    "a trust root needs at least one root "
				    "signature when it is built; give a root "
				    "secret key");
	if (cr_fleet_pack(CR_FLEET_TRUST, bbuf, blen,
			  (const uint8_t(*)[CR_PKLEN])pk,
			  (const uint8_t(*)[CR_SIGLEN])sig, n_signers, &blob,
			  &blob_len, err) < 0)
		return -1;
	if (cr_trust_decode_draft(blob, blob_len, out, err) < 0)
		return cr_error_wrap(err, "the trust root just built does not "
					  "decode");
	return 0;
}

int cr_trust_build(uint64_t version, uint64_t expires_unix,
		   const struct cr_fleet_keys *root,
		   const struct cr_fleet_keys *release,
		   const struct cr_fleet_keys *rollout,
		   const struct cr_keypair *const *signers, size_t n_signers,
		   struct cr_trust **out, struct cr_error **err)
{
	CLEANUP_TRUST struct cr_trust *t = NULL;

	if (cr_trust_build_draft(version, expires_unix, root, release, rollout,
				 signers, n_signers, &t, err) < 0 ||
	    cr_trust_check(t, NULL, 0, err) < 0)
		return -1;
	*out = CR_TAKE(&t);
	return 0;
}

int cr_trust_sign(struct cr_trust *t, const struct cr_keypair *kp,
		  struct cr_error **err)
{
	CLEANUP_SIGNED_TRUST Carrier__SignedTrust *s = NULL;
	CLEANUP_TRUST struct cr_trust *nt = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	uint8_t pk[CP_FLEET_SIGS_MAX][CR_PKLEN],
		sig[CP_FLEET_SIGS_MAX][CR_SIGLEN];
	char ida[CR_ID_STRMAX];
	size_t n = 0, blob_len;

	if (t == NULL || t->blob == NULL)
		return cr_error_set(err, EINVAL, "no trust root to sign");
	s = carrier__signed_trust__unpack(NULL, t->blob_len, t->blob);
	if (s == NULL || s->n_signatures >= CP_FLEET_SIGS_MAX)
		return cr_error_set(err, EBADMSG,
				    "the trust root cannot take another "
				    "signature");
	for (size_t i = 0; i < s->n_signatures; i++) {
		const Carrier__FleetSignature *fs = s->signatures[i];

		if (fs->pk.len != CR_PKLEN || fs->sig.len != CR_SIGLEN)
			return cr_error_set(err, EBADMSG,
					    "trust root signature %zu is "
					    "malformed",
					    i + 1);
		if (memcmp(fs->pk.data, kp->pk, CR_PKLEN) == 0)
			return cr_error_set(err, EEXIST,
					    "trust root v%" PRIu64
					    " is already signed by %s",
					    t->version,
					    cr_fleet_key_id(kp->pk, ida));
		memcpy(pk[n], fs->pk.data, CR_PKLEN);
		memcpy(sig[n], fs->sig.data, CR_SIGLEN);
		n++;
	}
	memcpy(pk[n], kp->pk, CR_PKLEN);
	if (cr_fleet_sign(trust_sig_ctx, s->body.data, s->body.len, kp, sig[n],
			  err) < 0)
		return -1;
	n++;
	if (cr_fleet_pack(CR_FLEET_TRUST, s->body.data, s->body.len,
			  (const uint8_t(*)[CR_PKLEN])pk,
			  (const uint8_t(*)[CR_SIGLEN])sig, n, &blob, &blob_len,
			  err) < 0 ||
	    cr_trust_decode_draft(blob, blob_len, &nt, err) < 0)
		return -1;
	free(t->blob);
	*t = *nt;
	nt->blob = NULL;
	return 0;
}

int cr_trust_save(const struct cr_trust *t, const char *path,
		  struct cr_error **err)
{
	const struct cr_fleet_keys *roles[3] = { &t->root, &t->release,
						 &t->rollout };
	char comments[4096], ida[CR_ID_STRMAX], when[32] = "never";
	size_t off = 0;
	int n;

	if (t->blob == NULL)
		return cr_error_set(err, EINVAL, "no trust root to save");
	if (t->expires_unix != 0) {
		time_t e = (time_t)t->expires_unix;
		struct tm tm;

		if (gmtime_r(&e, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
				 &tm);
	}
	/* Comments are ignored when loading; they let vendors read and diff
	 * the file. */
	n = snprintf(comments, sizeof(comments),
		     "# Korhal trust root v%" PRIu64 ", expires %s\n"
		     "# Do not edit: any change breaks the signatures.\n",
		     t->version, when);
	off = (size_t)n;
	for (int r = 0; r < 3; r++) {
		n = snprintf(comments + off, sizeof(comments) - off,
			     "# %s: %" PRIu32 " of %zu\n", role_names[r],
			     roles[r]->threshold, roles[r]->n);
		if (n < 0 || (size_t)n >= sizeof(comments) - off)
			return cr_error_set(err, EOVERFLOW,
					    "formatting the trust root");
		off += (size_t)n;
		for (size_t i = 0; i < roles[r]->n; i++) {
			n = snprintf(comments + off, sizeof(comments) - off,
				     "#   %s\n",
				     cr_fleet_key_id(roles[r]->pk[i], ida));
			if (n < 0 || (size_t)n >= sizeof(comments) - off)
				return cr_error_set(err, EOVERFLOW,
						    "formatting the trust root");
			off += (size_t)n;
		}
	}
	if (cr_fleet_text_save(path, comments, trust_magic, t->blob,
			       t->blob_len, err) < 0)
		return cr_error_wrap(err, "saving the trust root");
	return 0;
}
