/* Shared set-up of the fleet record harnesses: see fleet_fuzz.h. */
#include "fleet_fuzz.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"

static void seed_key(struct cr_keypair *kp, int type, uint8_t fill)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, fill, sizeof(seed));
	kp->type = type;
	if (crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0)
		abort();
}

void fleet_fuzz_init(struct fleet_fuzz *f)
{
	struct cr_fleet_keys k;
	const struct cr_keypair *s[1] = { &f->key };

	if (sodium_init() < 0)
		abort();
	/* The keys of the seed corpora (tests/fuzz/corpus/{fleet,deploy,
	 * appconfig}/). */
	seed_key(&f->key, CR_ID_VENDOR, 0x46);
	seed_key(&f->dev, CR_ID_DEVICE, 0x44);
	memset(&k, 0, sizeof(k));
	memcpy(k.pk[0], f->key.pk, CR_PKLEN);
	k.n = 1;
	k.threshold = 1;
	if (cr_trust_build(1, 0, &k, &k, &k, s, 1, &f->trust, NULL) != 0)
		abort();
}

void fleet_fuzz_check_failure(int rc, struct cr_error *err, const char *what)
{
	if (rc >= 0 || err == NULL || cr_error_msg(err) == NULL ||
	    strlen(cr_error_msg(err)) == 0) {
		fprintf(stderr, "%s failed without a proper error\n", what);
		abort();
	}
	cr_error_free(err);
}

size_t fleet_fuzz_wrap(const char *ctx, const uint8_t *body, size_t len,
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
