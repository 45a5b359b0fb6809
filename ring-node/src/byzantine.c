/*
 * A lying ring node for the cluster tests: see rn/byzantine.h.  Nothing
 * here runs unless carrier-node was built with CR_TEST_MODES and started
 * with --byzantine.
 */
#include "rn/byzantine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/limits.h"
#include "cr/deploy.h"
#include "cr/util.h"

static const char *const byz_names[RN_BYZ_ROLES] = {
	"drop",   "delay",    "stale",  "forge",	  "other",
	"nostore", "misroute", "replay", "liveness",    "epoch",
	"flood",  "fleet-drop", "fleet-forge", "fleet-replay",
	"fleet-lossy",
};

int rn_byz_parse(const char *s, unsigned *roles, struct cr_error **err)
{
	char buf[512], *save = NULL, *tok;
	unsigned r = 0;

	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "on") == 0 || strcmp(s, "1") == 0) {
		*roles = RN_BYZ_CLASSIC;
		return 0;
	}
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "off") == 0 || strcmp(s, "0") == 0) {
		*roles = 0;
		return 0;
	}
	if (strcmp(s, "all") == 0) {
		*roles = (1u << RN_BYZ_ROLES) - 1;
		return 0;
	}
	if (strlen(s) >= sizeof(buf))
		return cr_error_set(err, EINVAL, "byzantine: roles too long");
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < RN_BYZ_ROLES; i++)
			if (strcmp(tok, byz_names[i]) == 0)
				break;
		if (i == RN_BYZ_ROLES)
			return cr_error_set(err, EINVAL,
					    "byzantine: unknown role '%s' "
					    "(drop, delay, stale, forge, "
					    "other, nostore, misroute, "
					    "replay, liveness, epoch, flood, "
					    "fleet-drop, fleet-forge, "
					    "fleet-replay, fleet-lossy, all)",
					    tok);
		r |= 1u << i;
	}
	if (r == 0)
		return cr_error_set(err, EINVAL, "byzantine: no role named");
	*roles = r;
	return 0;
}

const char *rn_byz_name(unsigned i)
{
	return i < RN_BYZ_ROLES ? byz_names[i] : "?";
}

void rn_byz_format(unsigned roles, char *out, size_t cap)
{
	size_t off = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < RN_BYZ_ROLES; i++) {
		int w;

		if (!(roles & (1u << i)))
			continue;
		w = snprintf(out + off, cap - off, "%s%s", off ? "," : "",
			     byz_names[i]);
		if (w < 0 || (size_t)w >= cap - off)
			return;
		off += (size_t)w;
	}
}

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

size_t rn_byz_forge_presence(const uint8_t *blob, size_t len, uint8_t *out,
			     size_t cap)
{
	Carrier__SignedPresence *sp;
	Carrier__PresenceBody *body;
	uint8_t *nb;
	size_t nlen, olen = 0;

	sp = carrier__signed_presence__unpack(NULL, len, blob);
	if (sp == NULL)
		return 0;
	body = carrier__presence_body__unpack(NULL, sp->body.len, sp->body.data);
	if (body == NULL)
		goto out;
	body->seq += 1000;
	nlen = carrier__presence_body__get_packed_size(body);
	nb = malloc(nlen);
	if (nb != NULL) {
		carrier__presence_body__pack(body, nb);
		free(sp->body.data);
		sp->body.data = nb;
		sp->body.len = nlen;
		if (carrier__signed_presence__get_packed_size(sp) <= cap)
			olen = carrier__signed_presence__pack(sp, out);
	}
	carrier__presence_body__free_unpacked(body, NULL);
out:
	carrier__signed_presence__free_unpacked(sp, NULL);
	return olen;
}

Carrier__SignedPresence *rn_byz_lookup_lie(struct cr_kv *kv,
					   const uint8_t dev[CR_ID_HASHLEN],
					   const uint8_t *blob, size_t len,
					   const uint8_t *other, size_t olen,
					   unsigned roles, unsigned variant,
					   unsigned *told)
{
	uint8_t old[CP_PRESENCE_MAX];
	unsigned kinds[4], n = 0, k;
	size_t flen;

	if (roles & RN_BYZ_STALE)
		kinds[n++] = RN_BYZ_STALE;
	if (roles & RN_BYZ_FORGE)
		kinds[n++] = RN_BYZ_FORGE;
	if (roles & RN_BYZ_OTHER)
		kinds[n++] = RN_BYZ_OTHER;
	/* One turn in n + 1 is the truth, so that vendors pick this node
	 * to relay (and it drops or misroutes what they send). */
	k = variant % (n + 1);
	if (k == n)
		return NULL;
	switch (kinds[k]) {
	case RN_BYZ_STALE:
		if (cr_kv_get(kv, "byz_first", dev, CR_ID_HASHLEN, old,
			      sizeof(old), &flen, NULL) == 0 &&
		    flen <= sizeof(old) &&
		    (flen != len || memcmp(old, blob, len) != 0)) {
			*told = RN_BYZ_STALE;
			return carrier__signed_presence__unpack(NULL, flen,
								old);
		}
		break;
	case RN_BYZ_OTHER:
		if (other != NULL && olen > 0 &&
		    (olen != len || memcmp(other, blob, len) != 0)) {
			*told = RN_BYZ_OTHER;
			return carrier__signed_presence__unpack(NULL, olen,
								other);
		}
		break;
	default:
		break;
	}
	/* Forged (also when the stale or other record is missing). */
	*told = RN_BYZ_FORGE;
	flen = rn_byz_forge_presence(blob, len, old, sizeof(old));
	return flen > 0 ? carrier__signed_presence__unpack(NULL, flen, old) :
			  NULL;
}

size_t rn_byz_forge_record(const uint8_t *blob, size_t len, uint8_t *out,
			   size_t cap)
{
	Carrier__SignedFleetRecord *s;
	size_t n = 0;

	s = carrier__signed_fleet_record__unpack(NULL, len, blob);
	if (s == NULL)
		return 0;
	if (s->n_signatures > 0 && s->signatures[0]->sig.len > 0 &&
	    carrier__signed_fleet_record__get_packed_size(s) <= cap) {
		s->signatures[0]->sig.data[0] ^= 0x5a;
		n = carrier__signed_fleet_record__pack(s, out);
	}
	carrier__signed_fleet_record__free_unpacked(s, NULL);
	return n;
}

size_t rn_byz_forge_report(const uint8_t *blob, size_t len, uint8_t *out,
			   size_t cap)
{
	static struct cr_report r; /* large; the loop is single-threaded */
	struct cr_keypair thief;
	Carrier__SignedFleetRecord *s = NULL;
	uint8_t victim[CR_PKLEN];
	size_t n = 0;

	if (cr_report_decode(blob, len, &r, NULL) < 0 ||
	    cr_keypair_generate(CR_ID_DEVICE, &thief) < 0)
		return 0;
	memcpy(victim, r.device_pk, CR_PKLEN);
	r.state = CR_RS_SUCCEEDED;
	r.reason[0] = '\0';
	r.seq += 1000000;
	if (cr_report_sign(&thief, &r, NULL) < 0)
		goto out;
	/* The victim's key named, the thief's signature kept. */
	s = carrier__signed_fleet_record__unpack(NULL, r.blob_len, r.blob);
	if (s == NULL || s->n_signatures != 1 ||
	    s->signatures[0]->pk.len != CR_PKLEN)
		goto out;
	memcpy(s->signatures[0]->pk.data, victim, CR_PKLEN);
	for (size_t i = 0; i + CR_PKLEN <= s->body.len; i++)
		if (memcmp(s->body.data + i, thief.pk, CR_PKLEN) == 0) {
			memcpy(s->body.data + i, victim, CR_PKLEN);
			break;
		}
	if (carrier__signed_fleet_record__get_packed_size(s) <= cap)
		n = carrier__signed_fleet_record__pack(s, out);
out:
	if (s != NULL)
		carrier__signed_fleet_record__free_unpacked(s, NULL);
	cr_keypair_wipe(&thief);
	return n;
}
