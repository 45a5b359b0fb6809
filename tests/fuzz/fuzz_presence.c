/*
 * Fuzzes cr_presence_verify() (cr/presence.h) with every input two ways:
 *
 *   1. the bytes as a SignedPresence, as a ring node would hand them over;
 *   2. the bytes as a PresenceBody, signed here with a fixed device key and
 *      wrapped, so that the checks behind the signature (field limits,
 *      addresses, clocks, identity) see mutated bodies too.
 *
 * Also cr_presence_route() (a node reading its own store) on the same
 * bytes: it must not crash and must keep its bounds; and cp_nudge_parse()
 * (cp/wire.h, the one unauthenticated datagram an agent takes).
 *
 * "Now" is fixed (the seeds are valid at that instant).  Besides not
 * crashing, a failure must set an error with a message, and an accepted
 * record must keep the documented bounds and re-sign (with the fixed key) to
 * a record that verifies to the same content.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/error.h"
#include "cr/presence.h"

enum { FUZZ_NOW = 1700000100 };

static const char presence_ctx[] = "korhal presence v1"; /* with its NUL */
static struct cr_keypair dev;
static struct cr_id dev_id;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	if (sodium_init() < 0)
		abort();
	/* The device of the seed corpus (tests/fuzz/corpus/presence/). */
	memset(seed, 0x44, sizeof(seed));
	dev.type = CR_ID_DEVICE;
	if (crypto_sign_seed_keypair(dev.pk, dev.sk, seed) != 0)
		abort();
	cr_id_from_pk(CR_ID_DEVICE, dev.pk, &dev_id);
	return 0;
}

static void check_failure(int rc, struct cr_error *err)
{
	if (rc >= 0 || err == NULL || cr_error_msg(err) == NULL ||
	    strlen(cr_error_msg(err)) == 0) {
		fprintf(stderr, "cr_presence_verify failed without a proper "
				"error\n");
		abort();
	}
}

static void check_record(const struct cr_presence *p)
{
	struct cr_id id;

	if (p->n_addrs > CP_ADDRS_MAX || p->n_attached > CP_ATTACHED_MAX ||
	    p->expires_unix <= FUZZ_NOW ||
	    p->issued_unix > (uint64_t)FUZZ_NOW + 300 ||
	    p->expires_unix <= p->issued_unix)
		abort();
	for (size_t i = 0; i < p->n_addrs; i++) {
		if (memchr(p->addrs[i], '\0', CP_ADDR_STR_MAX) == NULL ||
		    p->addrs[i][0] == '\0')
			abort();
	}
	cr_id_from_pk(CR_ID_DEVICE, p->device_pk, &id);
	if (!cr_id_equal(&id, &p->id))
		abort();
}

/* Verifies buf; returns 1 with *out filled when it is accepted. */
static int fuzz_verify(const uint8_t *buf, size_t len,
		       const struct cr_id *want, struct cr_presence *out)
{
	struct cr_error *err = NULL;
	int rc = cr_presence_verify(buf, len, FUZZ_NOW, want, out, &err);

	if (rc != 0) {
		check_failure(rc, err);
		cr_error_free(err);
		return 0;
	}
	if (err != NULL)
		abort();
	check_record(out);
	return 1;
}

static void fuzz_signed_body(const uint8_t *data, size_t size)
{
	Carrier__SignedPresence sp = CARRIER__SIGNED_PRESENCE__INIT;
	uint8_t msg[sizeof(presence_ctx) + CP_PRESENCE_MAX];
	uint8_t blob[CP_PRESENCE_MAX + 128], again[CP_PRESENCE_MAX];
	uint8_t sig[crypto_sign_BYTES];
	struct cr_error *err = NULL;
	struct cr_presence p, q;
	size_t len, alen;

	if (size > CP_PRESENCE_MAX)
		return;
	memcpy(msg, presence_ctx, sizeof(presence_ctx));
	if (size > 0)
		memcpy(msg + sizeof(presence_ctx), data, size);
	crypto_sign_detached(sig, NULL, msg, sizeof(presence_ctx) + size,
			     dev.sk);
	sp.body.data = msg + sizeof(presence_ctx);
	sp.body.len = size;
	sp.signature.data = sig;
	sp.signature.len = sizeof(sig);
	len = carrier__signed_presence__get_packed_size(&sp);
	if (len > sizeof(blob))
		return;
	carrier__signed_presence__pack(&sp, blob);
	if (!fuzz_verify(blob, len, NULL, &p))
		return;
	if (memcmp(p.device_pk, dev.pk, sizeof(dev.pk)) != 0)
		return; /* valid, but signed by us for another key: cannot be */
	/* What verifies re-signs to something that verifies the same. */
	if (cr_presence_sign(&dev, &p, again, sizeof(again), &alen, &err) !=
	    0) {
		fprintf(stderr, "re-signing an accepted record failed: %s\n",
			cr_error_msg(err));
		abort();
	}
	if (!fuzz_verify(again, alen, &dev_id, &q) || q.seq != p.seq ||
	    q.n_addrs != p.n_addrs || q.n_attached != p.n_attached ||
	    memcmp(q.addrs, p.addrs, sizeof(q.addrs)) != 0 ||
	    memcmp(q.attached, p.attached, sizeof(q.attached)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_presence p;

	const uint8_t *bits;
	uint64_t epoch;
	size_t bits_len;

	fuzz_verify(data, size, NULL, &p);
	fuzz_verify(data, size, &dev_id, &p);
	fuzz_signed_body(data, size);
	if (cr_presence_route(data, size, &p) == 0)
		for (size_t i = 0; i < p.n_addrs; i++)
			if (p.n_addrs > CP_ADDRS_MAX || p.n_attached > CP_ATTACHED_MAX ||
			    strnlen(p.addrs[i], CP_ADDR_STR_MAX) == CP_ADDR_STR_MAX)
				abort();
	if (cp_nudge_parse(data, size, 32, &epoch, &bits, &bits_len) == 0 &&
	    (bits_len > 32 || bits + bits_len != data + size))
		abort();
	return 0;
}
