/*
 * Fuzzes the fleet record parsers of cr/fleet.h with every input:
 *
 *   1. cr_trust_decode_draft(), cr_release_decode() and cr_cred_decode()
 *      on the bytes as a SignedTrust, a SignedRelease and a
 *      SignedFleetCredential;
 *   2. the bytes as a TrustBody and as a ReleaseBody, signed here with a
 *      fixed key and wrapped, then decoded (a trust root counting that key
 *      as root, a release checked against a trust root whose release key
 *      it is): mutations almost never keep a signature valid, so without
 *      this the checks behind the signatures would see only the seeds.
 *
 * Besides not crashing, a failure must set an error with a message, and a
 * success must yield a record within its documented limits.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "fleet_fuzz.h"

static const char trust_ctx[] = "korhal trust v1";     /* with its NUL */
static const char release_ctx[] = "korhal release v1"; /* with its NUL */
static struct fleet_fuzz F;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fleet_fuzz_init(&F);
	return 0;
}

static void check_role(const struct cr_fleet_keys *k)
{
	if (k->n == 0 || k->n > CR_FLEET_KEYS_MAX || k->threshold == 0 ||
	    k->threshold > k->n)
		abort();
}

static void fuzz_trust(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_trust *t = NULL;
	int rc = cr_trust_decode_draft(data, size, &t, &err);

	if (rc != 0) {
		fleet_fuzz_check_failure(rc, err, "cr_trust_decode_draft");
		if (t != NULL)
			abort();
		return;
	}
	if (t->version == 0 || t->blob_len != size ||
	    t->n_signers > 2 * CR_FLEET_KEYS_MAX)
		abort();
	check_role(&t->root);
	check_role(&t->release);
	check_role(&t->rollout);
	/* Whatever it says, the strict check answers without crashing. */
	if (cr_trust_check(t, F.trust, 1, &err) < 0)
		fleet_fuzz_check_failure(-1, err, "cr_trust_check");
	cr_trust_free(t);
}

static void fuzz_release(const uint8_t *data, size_t size,
			 const struct cr_trust *tr)
{
	struct cr_error *err = NULL;
	struct cr_release *r = NULL;
	char h[300];
	int rc = cr_release_decode(data, size, tr, &r, &err);

	if (rc != 0) {
		fleet_fuzz_check_failure(rc, err, "cr_release_decode");
		if (r != NULL)
			abort();
		return;
	}
	if (r->app[0] == '\0' || r->n_arch == 0 ||
	    r->n_arch > CR_FLEET_ARCH_MAX ||
	    r->n_origins > CR_FLEET_ORIGINS_MAX ||
	    r->n_args > CR_FLEET_ARGS_MAX || r->n_env > CR_FLEET_ENV_MAX ||
	    r->n_ports > CR_FLEET_PORTS_MAX || r->n_signers == 0 ||
	    r->n_signers > CR_FLEET_KEYS_MAX || r->blob_len != size)
		abort();
	for (size_t i = 0; i < r->n_env; i++)
		if (strchr(r->env[i], '=') == NULL)
			abort();
	/* None, or one of the listed signals (never one that stops). */
	if (r->reload_signal != 0 &&
	    cr_reload_signal_name(r->reload_signal)[0] == '\0')
		abort();
	cr_health_format(&r->health, h, sizeof(h));
	if (cr_release_check_arch(r, cr_fleet_arch(), &err) < 0)
		fleet_fuzz_check_failure(-1, err, "cr_release_check_arch");
	cr_release_free(r);
}

/* The bytes as a body, signed by the fuzzer's key and wrapped. */
static void fuzz_signed_body(const uint8_t *data, size_t size, int release)
{
	const char *ctx = release ? release_ctx : trust_ctx;
	size_t cl = strlen(ctx) + 1, len;
	Carrier__FleetSignature fs = CARRIER__FLEET_SIGNATURE__INIT;
	Carrier__FleetSignature *fp[1] = { &fs };
	uint8_t sig[crypto_sign_BYTES], *msg, *blob;

	if (size > CP_FLEET_RECORD_MAX - 256)
		return;
	msg = malloc(cl + size + 1);
	if (msg == NULL)
		abort();
	memcpy(msg, ctx, cl);
	if (size > 0)
		memcpy(msg + cl, data, size);
	crypto_sign_detached(sig, NULL, msg, cl + size, F.key.sk);
	fs.pk.data = F.key.pk;
	fs.pk.len = CR_PKLEN;
	fs.sig.data = sig;
	fs.sig.len = sizeof(sig);
	if (release) {
		Carrier__SignedRelease s = CARRIER__SIGNED_RELEASE__INIT;

		s.body.data = msg + cl;
		s.body.len = size;
		s.signatures = fp;
		s.n_signatures = 1;
		len = carrier__signed_release__get_packed_size(&s);
		blob = malloc(len);
		if (blob == NULL)
			abort();
		carrier__signed_release__pack(&s, blob);
		fuzz_release(blob, len, F.trust);
	} else {
		Carrier__SignedTrust s = CARRIER__SIGNED_TRUST__INIT;

		s.body.data = msg + cl;
		s.body.len = size;
		s.signatures = fp;
		s.n_signatures = 1;
		len = carrier__signed_trust__get_packed_size(&s);
		blob = malloc(len);
		if (blob == NULL)
			abort();
		carrier__signed_trust__pack(&s, blob);
		fuzz_trust(blob, len);
	}
	free(blob);
	free(msg);
}

static void fuzz_cred(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_fleet_cred *c = NULL;
	int rc = cr_cred_decode(data, size, F.trust, 1, &c, &err);

	if (rc != 0) {
		fleet_fuzz_check_failure(rc, err, "cr_cred_decode");
		if (c != NULL)
			abort();
		return;
	}
	if (c->device.type != CR_ID_DEVICE || c->expires_unix == 0 ||
	    c->n_signers == 0 || c->n_signers > 2 || c->blob_len != size)
		abort();
	cr_cred_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_cred(data, size);
	fuzz_trust(data, size);
	fuzz_release(data, size, NULL);
	fuzz_release(data, size, F.trust);
	fuzz_signed_body(data, size, 0);
	fuzz_signed_body(data, size, 1);
	return 0;
}
