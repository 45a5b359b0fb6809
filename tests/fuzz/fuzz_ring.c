/*
 * Fuzzes the ring configuration parsers of cr/ring.h with every input three
 * ways:
 *
 *   1. cr_ring_decode() on the bytes as a SignedRingConfig;
 *   2. cr_ring_parse_text() on the bytes as the text file form;
 *   3. the bytes as a RingConfigBody, signed here with a fixed operator key
 *      and wrapped, then cr_ring_decode() pinned to that key: mutations
 *      almost never keep a signature valid, so without this the checks
 *      behind the signature (node keys, addresses, duplicates, limits) would
 *      see only the seeds;
 *   4. the bytes as a RingConfigBody signed by two fixed operator keys as
 *      an operator set (its operators field, when the mutation left one,
 *      decides whether two signatures are enough), then cr_ring_decode()
 *      and cr_ring_decode_anchored() to the set of those two keys, and
 *      cr_ring_sign() by a third key on what decodes.
 *
 * Besides not crashing, a failure must set an error with a message, and a
 * success must yield a ring that keeps the documented invariants and can be
 * ranked.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/error.h"
#include "cr/ring.h"

static const char ring_ctx[] = "korhal ring v1"; /* signed with its NUL */
static struct cr_keypair op, op2, op3;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	if (sodium_init() < 0)
		abort();
	/* The operator of the seed corpus (tests/fuzz/corpus/ring/). */
	memset(seed, 0x4f, sizeof(seed));
	op.type = CR_ID_OPERATOR;
	if (crypto_sign_seed_keypair(op.pk, op.sk, seed) != 0)
		abort();
	memset(seed, 0x50, sizeof(seed));
	op2.type = CR_ID_OPERATOR;
	if (crypto_sign_seed_keypair(op2.pk, op2.sk, seed) != 0)
		abort();
	memset(seed, 0x51, sizeof(seed));
	op3.type = CR_ID_OPERATOR;
	if (crypto_sign_seed_keypair(op3.pk, op3.sk, seed) != 0)
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
}

/* The invariants cr_ring_decode() promises for what it accepts. */
static void check_ring(const struct cr_ring *r)
{
	uint8_t id[32];
	size_t *rank;
	uint8_t *seen;
	size_t n;

	uint8_t h[CR_RING_SETHASH_LEN];

	/* The operators: a valid set, signed by enough of it. */
	if (r->ops.n == 0 || r->ops.n > CR_RING_OPERATORS_MAX ||
	    r->ops.threshold == 0 || r->ops.threshold > r->ops.n ||
	    r->n_signed < r->ops.threshold || r->n_signed > r->ops.n ||
	    !r->complete || r->n_handovers > CR_RING_HANDOVERS_MAX ||
	    memcmp(r->operator_pk, r->ops.pks[0], CR_PKLEN) != 0)
		abort();
	cr_ring_opset_hash(&r->ops, h);
	if (memcmp(h, r->set_hash, sizeof(h)) != 0)
		abort();
	if (r->n_handovers > 0 &&
	    memcmp(r->handovers[r->n_handovers - 1].to, r->set_hash,
		   sizeof(h)) != 0)
		abort();
	if (r->epoch == 0 || r->replicas == 0 || r->n_nodes == 0 ||
	    r->n_nodes > CP_RING_NODES_MAX || r->signed_blob == NULL ||
	    r->signed_len == 0 || r->signed_len > CP_RING_CONFIG_MAX)
		abort();
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct cr_ring_node *nd = &r->nodes[i];

		if (memchr(nd->addr, '\0', sizeof(nd->addr)) == NULL ||
		    nd->addr[0] == '\0' || nd->weight == 0 ||
		    nd->weight > 65535 || cr_ring_find(r, nd->pk) != (int)i)
			abort();
	}
	/* A full ranking is a permutation of the nodes. */
	rank = malloc(r->n_nodes * sizeof(*rank));
	seen = calloc(r->n_nodes, 1);
	if (rank == NULL || seen == NULL)
		abort();
	memset(id, 0x5a, sizeof(id));
	n = cr_ring_rank(r, id, NULL, rank, r->n_nodes);
	if (n != r->n_nodes)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (rank[i] >= r->n_nodes || seen[rank[i]]++ != 0)
			abort();
	}
	free(rank);
	free(seen);
}

static void fuzz_decode(const uint8_t *data, size_t size,
			const uint8_t *pinned)
{
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc = cr_ring_decode(data, size, pinned, &r, &err);

	if (rc != 0) {
		check_failure(rc, err, "cr_ring_decode");
		if (r != NULL)
			abort();
		cr_error_free(err);
		return;
	}
	if (err != NULL || r == NULL || r->signed_len != size ||
	    memcmp(r->signed_blob, data, size) != 0)
		abort();
	check_ring(r);
	cr_ring_free(r);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc = cr_ring_parse_text((const char *)data, size, NULL, &r, &err);

	if (rc != 0) {
		check_failure(rc, err, "cr_ring_parse_text");
		if (r != NULL)
			abort();
		cr_error_free(err);
		return;
	}
	if (err != NULL || r == NULL)
		abort();
	check_ring(r);
	cr_ring_free(r);
}

static void fuzz_signed_body(const uint8_t *data, size_t size)
{
	Carrier__SignedRingConfig sr = CARRIER__SIGNED_RING_CONFIG__INIT;
	uint8_t sig[crypto_sign_BYTES];
	uint8_t *msg, *blob;
	size_t len;

	if (size > CP_RING_CONFIG_MAX - 128)
		return;
	msg = malloc(sizeof(ring_ctx) + size);
	if (msg == NULL)
		return;
	memcpy(msg, ring_ctx, sizeof(ring_ctx));
	if (size > 0)
		memcpy(msg + sizeof(ring_ctx), data, size);
	crypto_sign_detached(sig, NULL, msg, sizeof(ring_ctx) + size, op.sk);
	sr.body.data = msg + sizeof(ring_ctx);
	sr.body.len = size;
	sr.signature.data = sig;
	sr.signature.len = sizeof(sig);
	len = carrier__signed_ring_config__get_packed_size(&sr);
	blob = malloc(len);
	if (blob == NULL)
		abort();
	carrier__signed_ring_config__pack(&sr, blob);
	fuzz_decode(blob, len, op.pk);
	free(blob);
	free(msg);
}

/* Fills g with kp's signature over msg (sig: CR_SIGLEN bytes it points
 * into, pk likewise). */
static void op_sig(Carrier__OperatorSignature *g, const struct cr_keypair *kp,
		   const uint8_t *msg, size_t len, uint8_t *sig, uint8_t *pk)
{
	carrier__operator_signature__init(g);
	crypto_sign_detached(sig, NULL, msg, len, kp->sk);
	memcpy(pk, kp->pk, CR_PKLEN);
	g->pk.data = pk;
	g->pk.len = CR_PKLEN;
	g->signature.data = sig;
	g->signature.len = CR_SIGLEN;
}

static void fuzz_set_body(const uint8_t *data, size_t size)
{
	Carrier__SignedRingConfig sr = CARRIER__SIGNED_RING_CONFIG__INIT;
	Carrier__OperatorSignature g[2], *gp[2] = { &g[0], &g[1] };
	struct cr_ring_opset two = { .n = 2, .threshold = 2 };
	uint8_t sig[2][CR_SIGLEN], pk[2][CR_PKLEN];
	uint8_t anchor[CR_RING_SETHASH_LEN];
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL, *s = NULL;
	uint8_t *msg, *blob;
	size_t len;
	int rc;

	if (size > CP_RING_CONFIG_MAX - 512)
		return;
	msg = malloc(sizeof(ring_ctx) + size);
	if (msg == NULL)
		return;
	memcpy(msg, ring_ctx, sizeof(ring_ctx));
	if (size > 0)
		memcpy(msg + sizeof(ring_ctx), data, size);
	op_sig(&g[0], &op, msg, sizeof(ring_ctx) + size, sig[0], pk[0]);
	op_sig(&g[1], &op2, msg, sizeof(ring_ctx) + size, sig[1], pk[1]);
	sr.body.data = msg + sizeof(ring_ctx);
	sr.body.len = size;
	sr.signatures = gp;
	sr.n_signatures = 2;
	len = carrier__signed_ring_config__get_packed_size(&sr);
	blob = malloc(len);
	if (blob == NULL)
		abort();
	carrier__signed_ring_config__pack(&sr, blob);
	fuzz_decode(blob, len, NULL);

	memcpy(two.pks[0], op.pk, CR_PKLEN);
	memcpy(two.pks[1], op2.pk, CR_PKLEN);
	cr_ring_opset_hash(&two, anchor);
	rc = cr_ring_decode_anchored(blob, len, anchor, 0, &r, &err);
	if (rc != 0) {
		check_failure(rc, err, "cr_ring_decode_anchored");
		cr_error_free(err);
		err = NULL;
	} else {
		check_ring(r);
		/* A third key: in the set or not, signing must not break what
		 * decoded. */
		rc = cr_ring_sign(r, &op3, &s, &err);
		if (rc != 0) {
			check_failure(rc, err, "cr_ring_sign");
			cr_error_free(err);
		} else {
			check_ring(s);
			cr_ring_free(s);
		}
		cr_ring_free(r);
	}
	free(blob);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size, NULL);
	fuzz_text(data, size);
	fuzz_signed_body(data, size);
	fuzz_set_body(data, size);
	return 0;
}
