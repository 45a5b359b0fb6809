/*
 * Fuzzes the rollout record parsers of cr/deploy.h with every input:
 *
 *   1. cr_deploy_decode(), cr_advance_decode() and cr_report_decode() on
 *      the bytes as a SignedFleetRecord;
 *   2. the bytes as a StatusReportBody and an AdvanceBody, signed here
 *      with fixed keys and wrapped, then decoded, so that the checks
 *      behind the signatures see more than the seeds.
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
#include "cr/deploy.h"
#include "cr/error.h"
#include "cr/fleet.h"

static struct cr_keypair key, dev;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_deploy *d = NULL;
	struct cr_advance *a = NULL;
	static struct cr_report r;
	static uint8_t buf[CP_FLEET_RECORD_MAX + 4096];
	size_t n;
	int rc;

	rc = cr_deploy_decode(data, size, NULL, &d, &err);
	if (rc == 0) {
		if (d->n_devices > CP_DEPLOY_DEVICES_MAX || d->n_waves == 0 ||
		    d->waves[d->n_waves - 1] != 100 || d->release == NULL)
			abort();
		d = cr_deploy_free(d);
	} else {
		check_failure(rc, err, "cr_deploy_decode");
	}
	err = NULL;
	rc = cr_deploy_decode(data, size, trust, &d, &err);
	if (rc == 0)
		d = cr_deploy_free(d);
	else
		check_failure(rc, err, "cr_deploy_decode pinned");
	err = NULL;
	rc = cr_advance_decode(data, size, trust, &a, &err);
	if (rc == 0) {
		if (a->wave == 0 || a->wave >= CP_DEPLOY_WAVES_MAX)
			abort();
		a = cr_advance_free(a);
	} else {
		check_failure(rc, err, "cr_advance_decode");
	}
	err = NULL;
	rc = cr_report_decode(data, size, &r, &err);
	if (rc == 0) {
		if (r.state == CR_RS_NONE || r.state >= CR_RS_MAX ||
		    r.blob_len != size)
			abort();
	} else {
		check_failure(rc, err, "cr_report_decode");
	}
	if (size > CP_FLEET_RECORD_MAX)
		return 0;
	n = wrap("korhal report v1", data, size, &dev, buf, sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_report_decode(buf, n, &r, &err);
		if (rc == 0) {
			if (memcmp(r.device_pk, dev.pk, CR_PKLEN) != 0 ||
			    strlen(r.reason) >= CP_REASON_MAX)
				abort();
		} else {
			check_failure(rc, err, "cr_report_decode signed");
		}
	}
	n = wrap("korhal advance v1", data, size, &key, buf, sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_advance_decode(buf, n, trust, &a, &err);
		if (rc == 0)
			a = cr_advance_free(a);
		else
			check_failure(rc, err, "cr_advance_decode signed");
	}
	n = wrap("korhal deployment v1", data, size, &key, buf, sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_deploy_decode(buf, n, NULL, &d, &err);
		if (rc == 0)
			d = cr_deploy_free(d);
		else
			check_failure(rc, err, "cr_deploy_decode signed");
	}
	return 0;
}
