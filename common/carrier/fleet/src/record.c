/*
 * The parts of the fleet records that trust roots and releases share:
 * signatures over a context string and the body, signature lists, and the
 * text file form.  Everything here reads bytes someone mailed around, so
 * every length is bounded before it is used.
 */
#include "record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cp/limits.h"
#include "cp/pbscan.h"
#include "cr/armor.h"
#include "cr/cleanup.h"
#include "cr/util.h"

enum {
	/* The text form is base64 (4/3 of the binary) plus comments. */
	FLEET_TEXT_MAX = 2 * CP_FLEET_RECORD_MAX + 64 * 1024,
	FLEET_B64_MAX = (CP_FLEET_RECORD_MAX + 2) / 3 * 4,
	FLEET_CTX_MAX = 32,
};

char *cr_fleet_key_id(const uint8_t pk[CR_PKLEN], char *out)
{
	struct cr_id id;

	cr_id_from_pk(CR_ID_VENDOR, pk, &id);
	return cr_id_format(&id, out);
}

/* "ctx\0" || body in a new buffer; the NUL ends the context, so no body
 * of one record type reads as another's. */
static uint8_t *sig_msg(const char *ctx, const uint8_t *body, size_t len,
			size_t *msg_len)
{
	size_t cl = strlen(ctx) + 1;
	uint8_t *m = malloc(cl + len + 1);

	if (m == NULL)
		return NULL;
	memcpy(m, ctx, cl);
	if (len > 0)
		memcpy(m + cl, body, len);
	*msg_len = cl + len;
	return m;
}

int cr_fleet_sign(const char *ctx, const uint8_t *body, size_t len,
		  const struct cr_keypair *kp, uint8_t sig[CR_SIGLEN],
		  struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *m = NULL;
	size_t ml;

	m = sig_msg(ctx, body, len, &ml);
	if (m == NULL)
		return cr_error_errno(err, ENOMEM, "signing");
	if (crypto_sign_detached(sig, NULL, m, ml, kp->sk) != 0)
		return cr_error_set(err, EINVAL, "signing failed");
	/* A key pair whose halves do not match would sign for nobody. */
	if (crypto_sign_verify_detached(sig, m, ml, kp->pk) != 0)
		return cr_error_set(err, EINVAL,
				    "the key's secret and public halves do not "
				    "match; the key file is corrupt");
	return 0;
}

static int have_key(uint8_t (*list)[CR_PKLEN], size_t n, const uint8_t *pk)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(list[i], pk, CR_PKLEN) == 0)
			return 1;
	return 0;
}

int cr_fleet_collect(const char *ctx, const uint8_t *body, size_t len,
		     Carrier__FleetSignature *const *sigs, size_t n_sigs,
		     cr_fleet_counts_fn counts, const void *arg,
		     uint8_t (*signer)[CR_PKLEN], size_t cap, size_t *n_signer,
		     const char *what, struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *m = NULL;
	char ida[CR_ID_STRMAX];
	size_t ml;

	*n_signer = 0;
	m = sig_msg(ctx, body, len, &ml);
	if (m == NULL)
		return cr_error_errno(err, ENOMEM, "verifying the %s", what);
	for (size_t i = 0; i < n_sigs; i++) {
		const Carrier__FleetSignature *s = sigs[i];

		if (s->pk.len != CR_PKLEN || s->sig.len != CR_SIGLEN)
			return cr_error_set(err, EBADMSG,
					    "%s: signature %zu has a %zu-byte "
					    "key and %zu bytes of signature, "
					    "want %d and %d; the file is "
					    "corrupt",
					    what, i + 1, s->pk.len, s->sig.len,
					    (int)CR_PKLEN, (int)CR_SIGLEN);
		/* A key listed twice counts once, whatever it signed. */
		if (have_key(signer, *n_signer, s->pk.data))
			continue;
		if (crypto_sign_verify_detached(s->sig.data, m, ml,
						s->pk.data) != 0) {
			if (counts == NULL || counts(arg, s->pk.data))
				return cr_error_set(
					err, EBADMSG,
					"%s: the signature of %s does not "
					"verify (the record was altered after "
					"it was signed, or the signature is "
					"corrupt)",
					what, cr_fleet_key_id(s->pk.data, ida));
			continue;
		}
		if (*n_signer < cap)
			memcpy(signer[(*n_signer)++], s->pk.data, CR_PKLEN);
	}
	return 0;
}

void cr_fleet_record_freep(Carrier__SignedFleetRecord **p)
{
	if (*p != NULL)
		carrier__signed_fleet_record__free_unpacked(*p, NULL);
}

int cr_fleet_record_unpack(const uint8_t *buf, size_t len, size_t max,
			   size_t max_sigs, const char *what,
			   Carrier__SignedFleetRecord **out,
			   struct cr_error **err)
{
	long n;

	if (buf == NULL || len == 0)
		return cr_error_set(err, EBADMSG, "%s is empty", what);
	if (len > max)
		return cr_error_set(err, EMSGSIZE,
				    "%s is %zu bytes, more than the limit of "
				    "%zu",
				    what, len, max);
	n = cp_pb_count(buf, len, 2);
	if (n < 0)
		return cr_error_set(err, EBADMSG,
				    "%s is malformed (truncated or corrupt)",
				    what);
	if ((size_t)n > max_sigs)
		return cr_error_set(err, EMSGSIZE,
				    "%s carries %ld signatures, more than the "
				    "limit of %zu",
				    what, n, max_sigs);
	*out = carrier__signed_fleet_record__unpack(NULL, len, buf);
	if (*out == NULL)
		return cr_error_set(err, EBADMSG,
				    "%s is malformed (truncated or corrupt)",
				    what);
	if ((*out)->body.len == 0)
		return cr_error_set(err, EBADMSG, "%s has an empty body", what);
	return 0;
}

static int rollout_counts(const void *arg, const uint8_t *pk)
{
	return cr_trust_has_key(arg, CR_ROLE_ROLLOUT, pk);
}

int cr_fleet_rollout_verify(const char *ctx, const uint8_t *body, size_t len,
			    Carrier__FleetSignature *const *sigs,
			    size_t n_sigs, const struct cr_trust *trust,
			    uint8_t (*signer)[CR_PKLEN], size_t cap,
			    size_t *n_signers, const char *what,
			    struct cr_error **err)
{
	size_t have;

	*n_signers = 0;
	if (n_sigs == 0)
		return cr_error_set(err, EKEYREJECTED, "%s: unsigned", what);
	if (cr_fleet_collect(ctx, body, len, sigs, n_sigs,
			     trust != NULL ? rollout_counts : NULL, trust,
			     signer, cap, n_signers, what, err) < 0)
		return -1;
	if (trust == NULL)
		return 0;
	have = cr_fleet_count_signers(&trust->rollout,
				      (const uint8_t(*)[CR_PKLEN])signer,
				      *n_signers);
	if (have < trust->rollout.threshold)
		return cr_error_set(err, EKEYREJECTED,
				    "%s: %zu of %" PRIu32
				    " rollout signatures of trust root v%" PRIu64,
				    what, have, trust->rollout.threshold,
				    trust->version);
	return 0;
}

int cr_fleet_sign_pack(enum cr_fleet_kind kind, const char *ctx,
		       const uint8_t *body, size_t len,
		       const struct cr_keypair *const *signers, size_t n,
		       size_t max_sigs, const char *what, uint8_t **out,
		       size_t *out_len, struct cr_error **err)
{
	uint8_t pk[CR_FLEET_KEYS_MAX][CR_PKLEN];
	uint8_t sig[CR_FLEET_KEYS_MAX][CR_SIGLEN];

	if (max_sigs > CR_FLEET_KEYS_MAX)
		max_sigs = CR_FLEET_KEYS_MAX;
	if (n == 0 || n > max_sigs)
		return cr_error_set(err, EINVAL, "%s carries 1..%zu signatures",
				    what, max_sigs);
	for (size_t i = 0; i < n; i++) {
		/* A key twice would count once on the device: refuse the
		 * record rather than publish one weaker than it looks. */
		for (size_t j = 0; j < i; j++)
			if (memcmp(signers[i]->pk, signers[j]->pk, CR_PKLEN) ==
			    0)
				return cr_error_set(err, EINVAL,
						    "a key is given twice");
		memcpy(pk[i], signers[i]->pk, CR_PKLEN);
		if (cr_fleet_sign(ctx, body, len, signers[i], sig[i], err) < 0)
			return -1;
	}
	return cr_fleet_pack(kind, body, len, (const uint8_t(*)[CR_PKLEN])pk,
			     (const uint8_t(*)[CR_SIGLEN])sig, n, out, out_len,
			     err);
}

int cr_fleet_app_ok(const char *s)
{
	size_t n = strnlen(s, CR_FLEET_APP_MAX);

	if (n == 0 || n >= CR_FLEET_APP_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

int cr_fleet_tag_ok(const char *s)
{
	size_t n = strnlen(s, CP_TAG_STR_MAX);

	if (n == 0 || n >= CP_TAG_STR_MAX || s[0] == '=' ||
	    memchr(s, '=', n) == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

int cr_fleet_pack(enum cr_fleet_kind kind, const uint8_t *body, size_t body_len,
		  const uint8_t (*pk)[CR_PKLEN],
		  const uint8_t (*sig)[CR_SIGLEN], size_t n, uint8_t **out,
		  size_t *out_len, struct cr_error **err)
{
	CR_CLEANUP_FREE Carrier__FleetSignature *fs = NULL;
	CR_CLEANUP_FREE Carrier__FleetSignature **fp = NULL;
	CR_CLEANUP_FREE uint8_t *copy = NULL;
	Carrier__SignedTrust st = CARRIER__SIGNED_TRUST__INIT;
	Carrier__SignedRelease sr = CARRIER__SIGNED_RELEASE__INIT;
	Carrier__SignedFleetCredential sc =
		CARRIER__SIGNED_FLEET_CREDENTIAL__INIT;
	ProtobufCBinaryData b;
	uint8_t *buf;
	size_t len, max = CP_FLEET_RECORD_MAX;

	if (n > CP_FLEET_SIGS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "a record carries at most %d signatures",
				    (int)CP_FLEET_SIGS_MAX);
	fs = calloc(n + 1, sizeof(*fs));
	fp = calloc(n + 1, sizeof(*fp));
	/* protobuf-c wants mutable pointers: one mutable copy of the keys,
	 * signatures and body instead of casting const away. */
	copy = malloc(n * (CR_PKLEN + CR_SIGLEN) + body_len + 1);
	if (fs == NULL || fp == NULL || copy == NULL)
		return cr_error_errno(err, ENOMEM, "packing a record");
	for (size_t i = 0; i < n; i++) {
		uint8_t *k = copy + i * (CR_PKLEN + CR_SIGLEN);

		memcpy(k, pk[i], CR_PKLEN);
		memcpy(k + CR_PKLEN, sig[i], CR_SIGLEN);
		carrier__fleet_signature__init(&fs[i]);
		fs[i].pk.data = k;
		fs[i].pk.len = CR_PKLEN;
		fs[i].sig.data = k + CR_PKLEN;
		fs[i].sig.len = CR_SIGLEN;
		fp[i] = &fs[i];
	}
	memcpy(copy + n * (CR_PKLEN + CR_SIGLEN), body, body_len);
	b.data = copy + n * (CR_PKLEN + CR_SIGLEN);
	b.len = body_len;
	switch (kind) {
	case CR_FLEET_RELEASE:
		sr.body = b;
		sr.signatures = fp;
		sr.n_signatures = n;
		len = carrier__signed_release__get_packed_size(&sr);
		break;
	case CR_FLEET_CRED:
		sc.body = b;
		sc.signatures = fp;
		sc.n_signatures = n;
		len = carrier__signed_fleet_credential__get_packed_size(&sc);
		max = CP_FLEET_CRED_MAX;
		break;
	default:
		st.body = b;
		st.signatures = fp;
		st.n_signatures = n;
		len = carrier__signed_trust__get_packed_size(&st);
		break;
	}
	if (len > max)
		return cr_error_set(err, EMSGSIZE,
				    "the record would be %zu bytes, more than "
				    "the limit of %zu",
				    len, max);
	buf = malloc(len);
	if (buf == NULL)
		return cr_error_errno(err, ENOMEM, "packing a record");
	if (kind == CR_FLEET_RELEASE)
		carrier__signed_release__pack(&sr, buf);
	else if (kind == CR_FLEET_CRED)
		carrier__signed_fleet_credential__pack(&sc, buf);
	else
		carrier__signed_trust__pack(&st, buf);
	*out = buf;
	*out_len = len;
	return 0;
}

int cr_fleet_text_parse(const char *text, size_t len, const char *magic,
			const char *what, uint8_t **bin, size_t *bin_len,
			struct cr_error **err)
{
	return cr_armor_parse(text, len, magic, what, FLEET_TEXT_MAX,
			      FLEET_B64_MAX, bin, bin_len, err);
}

int cr_fleet_text_load(const char *path, const char *magic, const char *what,
		       uint8_t **bin, size_t *bin_len, struct cr_error **err)
{
	CR_CLEANUP_FREE char *text = NULL;
	size_t len;

	if (cr_read_file(path, FLEET_TEXT_MAX, &text, &len, err) < 0)
		return cr_error_wrap(err, "loading the %s", what);
	if (cr_fleet_text_parse(text, len, magic, what, bin, bin_len, err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

int cr_fleet_text_save(const char *path, const char *comments,
		       const char *magic, const uint8_t *blob, size_t len,
		       struct cr_error **err)
{
	CR_CLEANUP_FREE char *text = NULL;
	size_t b64_cap =
		sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	size_t cl = strlen(comments), ml = strlen(magic), off = 0;

	text = malloc(cl + ml + 1 + b64_cap + 2);
	if (text == NULL)
		return cr_error_errno(err, ENOMEM, "saving %s", path);
	memcpy(text, comments, cl);
	off = cl;
	memcpy(text + off, magic, ml);
	off += ml;
	text[off++] = ' ';
	sodium_bin2base64(text + off, b64_cap, blob, len,
			  sodium_base64_VARIANT_ORIGINAL);
	off += strlen(text + off);
	text[off++] = '\n';
	return cr_write_file_atomic(path, text, off, 0644, err);
}
