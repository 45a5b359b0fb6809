/*
 * Fleet credentials (cr/fleet.h): a rollout-signed statement that a
 * device belongs to the fleet, which its peers check before they serve it
 * their Archon store.  Small on purpose: it rides in a handshake's hello.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cp/pbscan.h"
#include "cr/cleanup.h"
#include "cr/fleet.h"
#include "record.h"

static const char cred_sig_ctx[] = "korhal credential v1";
static const char cred_magic[] = "korhal-credential-v1";

static void signed_cred_freep(Carrier__SignedFleetCredential **p)
{
	if (*p != NULL)
		carrier__signed_fleet_credential__free_unpacked(*p, NULL);
}

static void cred_body_freep(Carrier__FleetCredentialBody **p)
{
	if (*p != NULL)
		carrier__fleet_credential_body__free_unpacked(*p, NULL);
}

static void cred_freep(struct cr_fleet_cred **p)
{
	*p = cr_cred_free(*p);
}

struct cr_fleet_cred *cr_cred_free(struct cr_fleet_cred *c)
{
	if (c == NULL)
		return NULL;
	free(c->blob);
	free(c);
	return NULL;
}

int cr_cred_decode(const uint8_t *buf, size_t len, const struct cr_trust *trust,
		   uint64_t now_unix, struct cr_fleet_cred **out,
		   struct cr_error **err)
{
	__attribute__((cleanup(signed_cred_freep)))
	Carrier__SignedFleetCredential *s = NULL;
	__attribute__((cleanup(cred_body_freep)))
	Carrier__FleetCredentialBody *b = NULL;
	__attribute__((cleanup(cred_freep))) struct cr_fleet_cred *c = NULL;
	char ids[CR_ID_STRMAX], what[CR_ID_STRMAX + 32];
	long n;

	if (buf == NULL || len == 0)
		return cr_error_set(err, EBADMSG, "fleet credential is empty");
	if (len > CP_FLEET_CRED_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "fleet credential is %zu bytes, more than "
				    "the limit of %d",
				    len, (int)CP_FLEET_CRED_MAX);
	n = cp_pb_count(buf, len, 2);
	if (n < 0)
		return cr_error_set(err, EBADMSG,
				    "fleet credential is malformed (truncated "
				    "or corrupt)");
	if (n > CP_FLEET_CRED_SIGS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "fleet credential carries %ld signatures, "
				    "more than the limit of %d",
				    n, (int)CP_FLEET_CRED_SIGS_MAX);
	s = carrier__signed_fleet_credential__unpack(NULL, len, buf);
	if (s == NULL)
		return cr_error_set(err, EBADMSG,
				    "fleet credential is malformed (truncated "
				    "or corrupt)");
	b = carrier__fleet_credential_body__unpack(NULL, s->body.len,
						   s->body.data);
	if (b == NULL || b->device_id.len != CR_ID_HASHLEN)
		return cr_error_set(err, EBADMSG,
				    "fleet credential body is malformed; it "
				    "must name a device identity");
	if (b->expires_unix == 0)
		return cr_error_set(err, EBADMSG,
				    "fleet credential has no expiry");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a credential");
	c->device.type = CR_ID_DEVICE;
	memcpy(c->device.hash, b->device_id.data, CR_ID_HASHLEN);
	c->expires_unix = b->expires_unix;
	snprintf(what, sizeof(what), "fleet credential of %s",
		 cr_id_format(&c->device, ids));
	if (cr_fleet_rollout_verify(cred_sig_ctx, s->body.data, s->body.len,
				    s->signatures, s->n_signatures, trust,
				    c->signer, 2, &c->n_signers, what,
				    err) < 0)
		return -1;
	if (now_unix != 0 && now_unix >= c->expires_unix) {
		char when[32] = "?";
		time_t e = (time_t)c->expires_unix;
		struct tm tm;

		if (gmtime_r(&e, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		return cr_error_set(err, EKEYEXPIRED, "%s: expired at %s UTC",
				    what, when);
	}
	c->blob = malloc(len);
	if (c->blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a credential");
	memcpy(c->blob, buf, len);
	c->blob_len = len;
	*out = CR_TAKE(&c);
	return 0;
}

int cr_cred_build(const struct cr_id *device, uint64_t expires_unix,
		  const struct cr_keypair *const *signers, size_t n_signers,
		  struct cr_fleet_cred **out, struct cr_error **err)
{
	Carrier__FleetCredentialBody body = CARRIER__FLEET_CREDENTIAL_BODY__INIT;
	uint8_t id[CR_ID_HASHLEN], bbuf[64];
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	size_t blen, blob_len;

	if (device->type != CR_ID_DEVICE)
		return cr_error_set(err, EINVAL,
				    "a fleet credential names a device");
	if (expires_unix == 0)
		return cr_error_set(err, EINVAL,
				    "a fleet credential must expire");
	memcpy(id, device->hash, CR_ID_HASHLEN);
	body.device_id.data = id;
	body.device_id.len = CR_ID_HASHLEN;
	body.expires_unix = expires_unix;
	blen = carrier__fleet_credential_body__get_packed_size(&body);
	if (blen > sizeof(bbuf))
		return cr_error_set(err, EMSGSIZE, "credential too large");
	carrier__fleet_credential_body__pack(&body, bbuf);
	/* At most CP_FLEET_CRED_SIGS_MAX: it travels in a handshake. */
	if (cr_fleet_sign_pack(CR_FLEET_CRED, cred_sig_ctx, bbuf, blen,
			       signers, n_signers, CP_FLEET_CRED_SIGS_MAX,
			       "a fleet credential", &blob, &blob_len,
			       err) < 0)
		return -1;
	return cr_cred_decode(blob, blob_len, NULL, 0, out, err);
}

int cr_cred_load(const char *path, const struct cr_trust *trust,
		 uint64_t now_unix, struct cr_fleet_cred **out,
		 struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *bin = NULL;
	size_t len;

	if (cr_fleet_text_load(path, cred_magic, "fleet credential", &bin, &len,
			       err) < 0)
		return -1;
	if (cr_cred_decode(bin, len, trust, now_unix, out, err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

int cr_cred_save(const struct cr_fleet_cred *c, const char *path,
		 struct cr_error **err)
{
	char comments[256], ids[CR_ID_STRMAX], when[32] = "?";
	time_t e = (time_t)c->expires_unix;
	struct tm tm;

	if (gmtime_r(&e, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(comments, sizeof(comments),
		 "# Korhal fleet credential of %s, expires %s\n",
		 cr_id_format(&c->device, ids), when);
	if (cr_fleet_text_save(path, comments, cred_magic, c->blob, c->blob_len,
			       err) < 0)
		return cr_error_wrap(err, "saving the fleet credential");
	return 0;
}
