/*
 * Fuzzes the health record parser of cr/health.h (nodes decode what any
 * attached device sends): cr_devhealth_decode() on the bytes as a
 * SignedHealth, and on the bytes as a HealthBody signed here with a fixed
 * device key (so the checks behind the signature see more than the seeds).
 * A failure must set an error with a message; a success must yield a
 * record within its limits.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cr/error.h"
#include "cr/health.h"

static struct cr_keypair dev;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	if (sodium_init() < 0)
		abort();
	memset(seed, 0x48, sizeof(seed));
	dev.type = CR_ID_DEVICE;
	if (crypto_sign_seed_keypair(dev.pk, dev.sk, seed) != 0)
		abort();
	return 0;
}

static void check(int rc, struct cr_error *err, const struct cr_devhealth *h)
{
	if (rc < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0) {
			fprintf(stderr, "failed without a proper error\n");
			abort();
		}
		cr_error_free(err);
		return;
	}
	if (h->n_apps > CR_HEALTH_APPS)
		abort();
	for (size_t i = 0; i < h->n_apps; i++)
		if (strlen(h->apps[i].app) >= sizeof(h->apps[i].app) ||
		    strlen(h->apps[i].last_error) >= CR_HEALTH_ERR_MAX)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cr_devhealth h;
	struct cr_error *err = NULL;
	Carrier__SignedHealth s = CARRIER__SIGNED_HEALTH__INIT;
	uint8_t msg[CR_HEALTH_MAX + 32], sig[crypto_sign_BYTES],
		out[CR_HEALTH_MAX + 128];
	static const char ctx[] = "korhal health v1";
	size_t n;
	int rc;

	rc = cr_devhealth_decode(data, size, &h, &err);
	check(rc, err, &h);
	err = NULL;
	if (size > CR_HEALTH_MAX)
		return 0;
	memcpy(msg, ctx, sizeof(ctx));
	memcpy(msg + sizeof(ctx), data, size);
	crypto_sign_detached(sig, NULL, msg, sizeof(ctx) + size, dev.sk);
	s.body.data = (uint8_t *)(uintptr_t)data;
	s.body.len = size;
	s.signature.data = sig;
	s.signature.len = sizeof(sig);
	n = carrier__signed_health__get_packed_size(&s);
	if (n > sizeof(out))
		return 0;
	n = carrier__signed_health__pack(&s, out);
	rc = cr_devhealth_decode(out, n, &h, &err);
	check(rc, err, &h);
	return 0;
}
