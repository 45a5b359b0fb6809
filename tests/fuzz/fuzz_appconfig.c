/*
 * Fuzzes the config record parser of cr/appconfig.h with every input:
 *
 *   1. cr_appcfg_decode() on the bytes as a SignedFleetRecord, without and
 *      with a trust root;
 *   2. the bytes as a ConfigBody, signed here with the fixed rollout key
 *      and wrapped, then decoded with its trust root, so that the checks
 *      behind the signatures (entries, sizes, targets) see more than the
 *      seeds; a decoded config then goes through cr_appcfg_accept().
 *
 * Besides not crashing, a failure must set an error with a message, and a
 * success must yield a config within its documented limits.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/appconfig.h"
#include "cr/deploy.h"
#include "cr/error.h"
#include "cr/fleet.h"

static struct cr_keypair key, dev;
static uint8_t vid[32];
static struct cr_trust *trust;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cr_fleet_keys k;
	const struct cr_keypair *s[1] = { &key };
	uint8_t seed[crypto_sign_SEEDBYTES];

	if (sodium_init() < 0)
		abort();
	memset(seed, 0x46, sizeof(seed));
	key.type = CR_ID_VENDOR;
	if (crypto_sign_seed_keypair(key.pk, key.sk, seed) != 0)
		abort();
	memset(seed, 0x44, sizeof(seed));
	dev.type = CR_ID_DEVICE;
	if (crypto_sign_seed_keypair(dev.pk, dev.sk, seed) != 0)
		abort();
	memset(&k, 0, sizeof(k));
	memcpy(k.pk[0], key.pk, CR_PKLEN);
	k.n = 1;
	k.threshold = 1;
	if (cr_trust_build(1, 0, &k, &k, &k, s, 1, &trust, NULL) != 0)
		abort();
	cr_fleet_vendor_id(trust, vid);
	return 0;
}

static void check_failure(int rc, struct cr_error *err, const char *what)
{
	if (rc >= 0 || err == NULL || cr_error_msg(err) == NULL ||
	    strlen(cr_error_msg(err)) == 0) {
		fprintf(stderr, "%s failed without a proper error\n", what);
		abort();
	}
	cr_error_free(err);
}

/* Wraps body in a SignedFleetRecord signed by kp over ctx. */
static size_t wrap(const char *ctx, const uint8_t *body, size_t len,
		   const struct cr_keypair *kp, uint8_t *out, size_t cap)
{
	Carrier__SignedFleetRecord s = CARRIER__SIGNED_FLEET_RECORD__INIT;
	Carrier__FleetSignature fs = CARRIER__FLEET_SIGNATURE__INIT;
	Carrier__FleetSignature *fp[1] = { &fs };
	uint8_t pk[CR_PKLEN], sig[CR_SIGLEN], *m;
	size_t cl = strlen(ctx) + 1, n;

	m = malloc(cl + len + 1);
	if (m == NULL)
		return 0;
	memcpy(m, ctx, cl);
	memcpy(m + cl, body, len);
	crypto_sign_detached(sig, NULL, m, cl + len, kp->sk);
	free(m);
	memcpy(pk, kp->pk, CR_PKLEN);
	fs.pk.data = pk;
	fs.pk.len = CR_PKLEN;
	fs.sig.data = sig;
	fs.sig.len = CR_SIGLEN;
	s.body.data = (uint8_t *)(uintptr_t)body;
	s.body.len = len;
	s.signatures = fp;
	s.n_signatures = 1;
	n = carrier__signed_fleet_record__get_packed_size(&s);
	if (n > cap)
		return 0;
	return carrier__signed_fleet_record__pack(&s, out);
}

/* A decoded config must be within the limits cr/appconfig.h promises. */
static void check_config(struct cr_appcfg *c)
{
	size_t total = 0;
	struct cr_error *err = NULL;
	uint8_t devid[CR_ID_HASHLEN] = { 0 };

	if (c->n_entries > CR_APPCFG_ENTRIES_MAX ||
	    c->n_devices > CR_APPCFG_DEVICES_MAX ||
	    c->n_tags > CR_APPCFG_TAGS_MAX || c->version == 0 ||
	    c->blob_len > CR_APPCFG_RECORD_MAX)
		abort();
	for (size_t i = 0; i < c->n_entries; i++) {
		if (!cr_appcfg_key_ok(c->entries[i].key))
			abort();
		total += c->entries[i].len;
	}
	if (total > CR_APPCFG_TOTAL_MAX)
		abort();
	if (cr_appcfg_accept(c, "web", devid, NULL, 0, 1, 1, &err) < 0)
		check_failure(-1, err, "cr_appcfg_accept");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_appcfg *c = NULL;
	static uint8_t buf[CP_FLEET_RECORD_MAX + 4096];
	size_t n;
	int rc;

	rc = cr_appcfg_decode(data, size, NULL, &c, &err);
	if (rc == 0) {
		check_config(c);
		c = cr_appcfg_free(c);
	} else {
		check_failure(rc, err, "cr_appcfg_decode");
	}
	err = NULL;
	rc = cr_appcfg_decode(data, size, trust, &c, &err);
	if (rc == 0) {
		check_config(c);
		c = cr_appcfg_free(c);
	} else {
		check_failure(rc, err, "cr_appcfg_decode pinned");
	}
	if (size > CP_FLEET_RECORD_MAX)
		return 0;
	n = wrap("korhal config v1", data, size, &key, buf, sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_appcfg_decode(buf, n, trust, &c, &err);
		if (rc == 0) {
			if (memcmp(c->vendor_id, vid, 32) != 0)
				abort();
			check_config(c);
			c = cr_appcfg_free(c);
		} else {
			check_failure(rc, err, "cr_appcfg_decode signed");
		}
	}
	return 0;
}
