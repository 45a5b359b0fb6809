/*
 * A lying ring node for the cluster tests: see rn/byzantine.h.  Nothing
 * here runs unless carrier-node was built with CR_TEST_MODES and started
 * with --byzantine.
 */
#include "rn/byzantine.h"

#include <stdlib.h>
#include <string.h>

#include "cp/limits.h"

int rn_byz_bogus_ring(const struct cr_ring *real, unsigned variant,
		      uint8_t **out, size_t *len)
{
	Carrier__SignedRingConfig *sc = NULL;
	Carrier__RingConfigBody *body = NULL;
	struct cr_keypair op;
	struct cr_ring *r = NULL;
	uint8_t *nb = NULL, *blob = NULL;
	size_t nlen;
	int rc = -1;

	cr_keypair_generate(CR_ID_OPERATOR, &op);
	if (cr_ring_build(&op, real->epoch + 1000, real->replicas, real->nodes,
			  real->n_nodes, &r, NULL) < 0)
		goto out;
	if (variant % 2 == 0) {
		blob = malloc(r->signed_len);
		if (blob == NULL)
			goto out;
		memcpy(blob, r->signed_blob, r->signed_len);
		*out = blob;
		*len = r->signed_len;
		rc = 0;
		goto out;
	}
	/* The pinned operator's name on a body it never signed. */
	sc = carrier__signed_ring_config__unpack(NULL, r->signed_len,
						 r->signed_blob);
	if (sc == NULL)
		goto out;
	body = carrier__ring_config_body__unpack(NULL, sc->body.len,
						 sc->body.data);
	if (body == NULL || body->operator_pk.len != CR_PKLEN)
		goto out;
	memcpy(body->operator_pk.data, real->operator_pk, CR_PKLEN);
	nlen = carrier__ring_config_body__get_packed_size(body);
	nb = malloc(nlen);
	if (nb == NULL)
		goto out;
	carrier__ring_config_body__pack(body, nb);
	free(sc->body.data);
	sc->body.data = nb;
	sc->body.len = nlen;
	*len = carrier__signed_ring_config__get_packed_size(sc);
	blob = malloc(*len);
	if (blob == NULL)
		goto out;
	carrier__signed_ring_config__pack(sc, blob);
	*out = blob;
	rc = 0;
out:
	if (body != NULL)
		carrier__ring_config_body__free_unpacked(body, NULL);
	if (sc != NULL)
		carrier__signed_ring_config__free_unpacked(sc, NULL);
	cr_ring_free(r);
	cr_keypair_wipe(&op);
	return rc;
}

void rn_byz_remember(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		     const uint8_t *blob, size_t len)
{
	uint8_t old[CP_PRESENCE_MAX];
	size_t olen;

	if (cr_kv_get(kv, "byz_first", dev, CR_ID_HASHLEN, old, sizeof(old),
		      &olen, NULL) == 0)
		return;
	cr_kv_put(kv, "byz_first", dev, CR_ID_HASHLEN, blob, len, NULL);
}

Carrier__SignedPresence *rn_byz_lookup_lie(struct cr_kv *kv,
					   const uint8_t dev[CR_ID_HASHLEN],
					   const uint8_t *blob, size_t len,
					   unsigned variant)
{
	uint8_t old[CP_PRESENCE_MAX];
	Carrier__SignedPresence *sp;
	Carrier__PresenceBody *body;
	uint8_t *nb;
	size_t olen, nlen;

	/* Every third answer is the truth, so that vendors pick this node
	 * to relay (and it drops what they send). */
	if (variant % 3 == 2)
		return NULL;
	if (variant % 3 == 0 &&
	    cr_kv_get(kv, "byz_first", dev, CR_ID_HASHLEN, old, sizeof(old),
		      &olen, NULL) == 0 &&
	    olen <= sizeof(old) && (olen != len || memcmp(old, blob, len) != 0))
		return carrier__signed_presence__unpack(NULL, olen, old);
	/* Forged: a higher sequence under the old signature. */
	sp = carrier__signed_presence__unpack(NULL, len, blob);
	if (sp == NULL)
		return NULL;
	body = carrier__presence_body__unpack(NULL, sp->body.len, sp->body.data);
	if (body == NULL)
		return sp;
	body->seq += 1000;
	nlen = carrier__presence_body__get_packed_size(body);
	nb = malloc(nlen);
	if (nb != NULL) {
		carrier__presence_body__pack(body, nb);
		free(sp->body.data);
		sp->body.data = nb;
		sp->body.len = nlen;
	}
	carrier__presence_body__free_unpacked(body, NULL);
	return sp;
}
