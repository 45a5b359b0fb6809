/*
 * Deployments, advances and status reports (cr/deploy.h): the records a
 * rollout is made of.  They share the fleet records' signed shape
 * (SignedFleetRecord = body + FleetSignature list, record.h) and their
 * bounded decoding: the input is bounded, its signature list counted
 * before protobuf-c allocates, and every field checked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cp/pbscan.h"
#include "cr/cleanup.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/util.h"
#include "record.h"

static const char deploy_ctx[] = "korhal deployment v1";
static const char advance_ctx[] = "korhal advance v1";
static const char report_ctx[] = "korhal report v1";
static const char deploy_magic[] = "korhal-deployment-v1";

static void dbody_freep(Carrier__DeploymentBody **p)
{
	if (*p != NULL)
		carrier__deployment_body__free_unpacked(*p, NULL);
}

static void abody_freep(Carrier__AdvanceBody **p)
{
	if (*p != NULL)
		carrier__advance_body__free_unpacked(*p, NULL);
}

static void rbody_freep(Carrier__StatusReportBody **p)
{
	if (*p != NULL)
		carrier__status_report_body__free_unpacked(*p, NULL);
}

static void deploy_freep(struct cr_deploy **p)
{
	*p = cr_deploy_free(*p);
}

static void advance_freep(struct cr_advance **p)
{
	*p = cr_advance_free(*p);
}

static void trust_freep(struct cr_trust **p)
{
	*p = cr_trust_free(*p);
}

void cr_fleet_vendor_id(const struct cr_trust *t, uint8_t out[32])
{
	static const char ctx[] = "korhal fleet v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof(ctx));
	for (size_t i = 0; i < t->root.n; i++)
		crypto_generichash_update(&st, t->root.pk[i], CR_PKLEN);
	crypto_generichash_final(&st, out, 32);
}

static int text_ok(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n >= cap)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

/* ---- deployments ------------------------------------------------------ */

struct cr_deploy *cr_deploy_free(struct cr_deploy *d)
{
	if (d == NULL)
		return NULL;
	cr_trust_free(d->trust);
	cr_release_free(d->release);
	free(d->devices);
	free(d->blob);
	free(d);
	return NULL;
}

static int waves_ok(const uint32_t *w, size_t n)
{
	if (n == 0 || n > CP_DEPLOY_WAVES_MAX || w[n - 1] != 100)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (w[i] == 0 || w[i] > 100 || (i > 0 && w[i] <= w[i - 1]))
			return 0;
	return 1;
}

/* The carried trust root, checked against the pinned one. */
static int deploy_trust(const Carrier__DeploymentBody *b,
			const struct cr_trust *pinned, struct cr_trust **out,
			struct cr_error **err)
{
	__attribute__((cleanup(trust_freep))) struct cr_trust *t = NULL;
	uint8_t vid[32];

	if (cr_trust_decode(b->trust.data, b->trust.len, NULL, 0, &t, err) < 0)
		return cr_error_wrap(err, "deployment");
	if (pinned == NULL) {
		cr_fleet_vendor_id(t, vid);
		if (b->vendor_id.len != 32 || memcmp(vid, b->vendor_id.data,
						     32) != 0)
			return cr_error_set(err, EKEYREJECTED,
					    "deployment: its fleet id is not "
					    "the one of the trust root it "
					    "carries");
	} else if (t->version == pinned->version) {
		if (t->blob_len != pinned->blob_len ||
		    memcmp(t->blob, pinned->blob, t->blob_len) != 0)
			return cr_error_set(err, EKEYREJECTED,
					    "deployment: it carries a trust "
					    "root v%" PRIu64
					    " other than the one held",
					    t->version);
	} else if (t->version < pinned->version) {
		return cr_error_set(err, ESTALE,
				    "deployment: trust root v%" PRIu64
				    " is older than the held v%" PRIu64,
				    t->version, pinned->version);
	} else {
		t = cr_trust_free(t);
		if (cr_trust_decode(b->trust.data, b->trust.len, pinned, 0, &t,
				    err) < 0)
			return cr_error_wrap(err, "deployment");
	}
	if (t->version != b->trust_version)
		return cr_error_set(err, EBADMSG,
				    "deployment: names trust root v%" PRIu64
				    " but carries v%" PRIu64,
				    b->trust_version, t->version);
	*out = CR_TAKE(&t);
	return 0;
}

int cr_deploy_decode(const uint8_t *buf, size_t len,
		     const struct cr_trust *pinned, struct cr_deploy **out,
		     struct cr_error **err)
{
	__attribute__((cleanup(cr_fleet_record_freep))) Carrier__SignedFleetRecord *s =
		NULL;
	__attribute__((cleanup(dbody_freep))) Carrier__DeploymentBody *b = NULL;
	__attribute__((cleanup(deploy_freep))) struct cr_deploy *d = NULL;
	char what[CR_FLEET_APP_MAX + 48];

	if (cr_fleet_record_unpack(buf, len, CP_FLEET_RECORD_MAX, CR_FLEET_KEYS_MAX,
			  "deployment", &s, err) < 0)
		return -1;
	/* The body is within the bounded record; its lists are counted
	 * before unpacking allocates them. */
	if (cp_pb_count(s->body.data, s->body.len, 6) >
		    CP_DEPLOY_DEVICES_MAX ||
	    cp_pb_count(s->body.data, s->body.len, 7) > CP_DEPLOY_TAGS_MAX ||
	    cp_pb_count(s->body.data, s->body.len, 8) > CP_DEPLOY_WAVES_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "deployment lists more devices, tags or "
				    "waves than the limits (%d, %d, %d)",
				    (int)CP_DEPLOY_DEVICES_MAX,
				    (int)CP_DEPLOY_TAGS_MAX,
				    (int)CP_DEPLOY_WAVES_MAX);
	b = carrier__deployment_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL)
		return cr_error_set(err, EBADMSG,
				    "deployment body is malformed");
	if (b->vendor_id.len != 32 || !cr_fleet_app_ok(b->app))
		return cr_error_set(err, EBADMSG,
				    "deployment: no fleet id or a bad app "
				    "name");
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a deployment");
	snprintf(d->app, sizeof(d->app), "%s", b->app);
	snprintf(what, sizeof(what), "deployment of %s seq %" PRIu64, b->app,
		 b->seq);
	if (b->n_devices == 0 && b->n_tags == 0)
		return cr_error_set(err, EBADMSG, "%s targets nothing", what);
	if (b->n_waves > CP_DEPLOY_WAVES_MAX ||
	    !waves_ok(b->waves, b->n_waves))
		return cr_error_set(err, EBADMSG,
				    "%s: waves must grow from 1 to 100 %%",
				    what);
	if (b->max_failures_pct && b->max_failures > 10000)
		return cr_error_set(err, EBADMSG,
				    "%s: more than 100 %% failures allowed",
				    what);
	if (b->seq == 0 || b->expires_unix <= b->issued_unix)
		return cr_error_set(err, EBADMSG,
				    "%s: no sequence, or it expires before it "
				    "is issued",
				    what);
	d->devices = calloc(b->n_devices + 1, CR_ID_HASHLEN);
	if (d->devices == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a deployment");
	for (size_t i = 0; i < b->n_devices; i++) {
		if (b->devices[i].len != CR_ID_HASHLEN)
			return cr_error_set(err, EBADMSG,
					    "%s: device %zu is not a %d-byte "
					    "identity",
					    what, i, (int)CR_ID_HASHLEN);
		memcpy(d->devices[i], b->devices[i].data, CR_ID_HASHLEN);
	}
	d->n_devices = b->n_devices;
	for (size_t i = 0; i < b->n_tags; i++) {
		if (!cr_fleet_tag_ok(b->tags[i]))
			return cr_error_set(err, EBADMSG,
					    "%s: tag %zu is not K=V", what, i);
		snprintf(d->tags[i], CP_TAG_STR_MAX, "%s", b->tags[i]);
	}
	d->n_tags = b->n_tags;
	memcpy(d->waves, b->waves, b->n_waves * sizeof(uint32_t));
	d->n_waves = b->n_waves;
	memcpy(d->vendor_id, b->vendor_id.data, 32);
	d->trust_version = b->trust_version;
	d->max_failures = b->max_failures;
	d->max_failures_pct = b->max_failures_pct;
	d->health_window_ms = b->health_window_ms;
	d->seq = b->seq;
	d->issued_unix = b->issued_unix;
	d->expires_unix = b->expires_unix;
	d->rollback = b->rollback;
	if (deploy_trust(b, pinned, &d->trust, err) < 0)
		return -1;
	if (cr_fleet_rollout_verify(deploy_ctx, s->body.data, s->body.len,
				    s->signatures, s->n_signatures, d->trust,
				    d->signer, CR_FLEET_KEYS_MAX, &d->n_signers,
				    what, err) < 0)
		return -1;
	if (cr_release_decode(b->release.data, b->release.len, d->trust,
			      &d->release, err) < 0)
		return cr_error_wrap(err, "%s", what);
	if (strcmp(d->release->app, d->app) != 0)
		return cr_error_set(err, EBADMSG,
				    "%s: its release is of app %s", what,
				    d->release->app);
	crypto_generichash(d->digest, sizeof(d->digest), s->body.data,
			   s->body.len, NULL, 0);
	d->blob = malloc(len);
	if (d->blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a deployment");
	memcpy(d->blob, buf, len);
	d->blob_len = len;
	*out = CR_TAKE(&d);
	return 0;
}

int cr_deploy_build(const struct cr_deploy *d,
		    const struct cr_keypair *const *signers, size_t n_signers,
		    struct cr_deploy **out, struct cr_error **err)
{
	Carrier__DeploymentBody b = CARRIER__DEPLOYMENT_BODY__INIT;
	CR_CLEANUP_FREE ProtobufCBinaryData *devs = NULL;
	CR_CLEANUP_FREE uint8_t *bbuf = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	CR_CLEANUP_FREE uint8_t *copy = NULL;
	char *tags[CP_DEPLOY_TAGS_MAX];
	char app[CR_FLEET_APP_MAX];
	uint32_t waves[CP_DEPLOY_WAVES_MAX];
	uint8_t vid[32];
	size_t blen, blob_len;

	if (d->trust == NULL || d->release == NULL)
		return cr_error_set(err, EINVAL,
				    "a deployment needs a trust root and a "
				    "release");
	if (d->n_devices > CP_DEPLOY_DEVICES_MAX ||
	    d->n_tags > CP_DEPLOY_TAGS_MAX || d->n_waves > CP_DEPLOY_WAVES_MAX)
		return cr_error_set(err, EINVAL,
				    "a deployment lists at most %d devices, "
				    "%d tags and %d waves",
				    (int)CP_DEPLOY_DEVICES_MAX,
				    (int)CP_DEPLOY_TAGS_MAX,
				    (int)CP_DEPLOY_WAVES_MAX);
	devs = calloc(d->n_devices + 1, sizeof(*devs));
	copy = malloc(d->n_devices * CR_ID_HASHLEN + d->trust->blob_len +
		      d->release->blob_len + 1);
	if (devs == NULL || copy == NULL)
		return cr_error_errno(err, ENOMEM, "building a deployment");
	/* protobuf-c wants mutable pointers: copies, not casts. */
	if (d->n_devices > 0) /* devices is NULL for tag targets */
		memcpy(copy, d->devices, d->n_devices * CR_ID_HASHLEN);
	for (size_t i = 0; i < d->n_devices; i++) {
		devs[i].data = copy + i * CR_ID_HASHLEN;
		devs[i].len = CR_ID_HASHLEN;
	}
	b.trust.data = copy + d->n_devices * CR_ID_HASHLEN;
	b.trust.len = d->trust->blob_len;
	memcpy(b.trust.data, d->trust->blob, d->trust->blob_len);
	b.release.data = b.trust.data + b.trust.len;
	b.release.len = d->release->blob_len;
	memcpy(b.release.data, d->release->blob, d->release->blob_len);
	cr_fleet_vendor_id(d->trust, vid);
	b.vendor_id.data = vid;
	b.vendor_id.len = 32;
	b.trust_version = d->trust->version;
	snprintf(app, sizeof(app), "%s", d->release->app);
	b.app = app;
	b.devices = devs;
	b.n_devices = d->n_devices;
	for (size_t i = 0; i < d->n_tags; i++)
		tags[i] = (char *)(uintptr_t)d->tags[i];
	b.tags = tags;
	b.n_tags = d->n_tags;
	memcpy(waves, d->waves, d->n_waves * sizeof(uint32_t));
	b.waves = waves;
	b.n_waves = d->n_waves;
	b.max_failures = d->max_failures;
	b.max_failures_pct = d->max_failures_pct;
	b.health_window_ms = d->health_window_ms;
	b.seq = d->seq;
	b.issued_unix = d->issued_unix;
	b.expires_unix = d->expires_unix;
	b.rollback = d->rollback;
	blen = carrier__deployment_body__get_packed_size(&b);
	if (blen > CP_FLEET_RECORD_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "the deployment would be %zu bytes, more "
				    "than the limit of %d",
				    blen, (int)CP_FLEET_RECORD_MAX);
	bbuf = malloc(blen + 1);
	if (bbuf == NULL)
		return cr_error_errno(err, ENOMEM, "building a deployment");
	carrier__deployment_body__pack(&b, bbuf);
	if (cr_fleet_sign_pack(CR_FLEET_RECORD, deploy_ctx, bbuf, blen,
			       signers, n_signers, CR_FLEET_KEYS_MAX,
			       "a deployment", &blob, &blob_len, err) < 0)
		return -1;
	return cr_deploy_decode(blob, blob_len, d->trust, out, err);
}

int cr_fleet_rec_peek(enum cr_fleet_rec_kind kind, const uint8_t *buf,
		      size_t len, uint8_t vendor_id[32],
		      char app[CR_FLEET_APP_MAX], uint64_t *seq)
{
	__attribute__((cleanup(cr_fleet_record_freep))) Carrier__SignedFleetRecord *s =
		NULL;
	__attribute__((cleanup(dbody_freep))) Carrier__DeploymentBody *b = NULL;
	__attribute__((cleanup(abody_freep))) Carrier__AdvanceBody *a = NULL;

	if (cr_fleet_record_unpack(buf, len, CP_FLEET_RECORD_MAX, CR_FLEET_KEYS_MAX,
			  "record", &s, NULL) < 0)
		return -1;
	if (kind == CR_REC_DEPLOYMENT) {
		if (cp_pb_count(s->body.data, s->body.len, 6) >
			    CP_DEPLOY_DEVICES_MAX ||
		    cp_pb_count(s->body.data, s->body.len, 7) >
			    CP_DEPLOY_TAGS_MAX ||
		    cp_pb_count(s->body.data, s->body.len, 8) >
			    CP_DEPLOY_WAVES_MAX)
			return -1;
		b = carrier__deployment_body__unpack(NULL, s->body.len,
						     s->body.data);
		if (b == NULL || b->vendor_id.len != 32 || !cr_fleet_app_ok(b->app))
			return -1;
		memcpy(vendor_id, b->vendor_id.data, 32);
		snprintf(app, CR_FLEET_APP_MAX, "%s", b->app);
		*seq = b->seq;
		return 0;
	}
	if (kind != CR_REC_ADVANCE)
		return -1;
	a = carrier__advance_body__unpack(NULL, s->body.len, s->body.data);
	if (a == NULL || a->vendor_id.len != 32 || !cr_fleet_app_ok(a->app))
		return -1;
	memcpy(vendor_id, a->vendor_id.data, 32);
	snprintf(app, CR_FLEET_APP_MAX, "%s", a->app);
	*seq = a->wave;
	return 0;
}

int cr_deploy_load(const char *path, struct cr_deploy **out,
		   struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *bin = NULL;
	size_t len;

	if (cr_fleet_text_load(path, deploy_magic, "deployment", &bin, &len,
			       err) < 0)
		return -1;
	if (cr_deploy_decode(bin, len, NULL, out, err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

int cr_deploy_save(const struct cr_deploy *d, const char *path,
		   struct cr_error **err)
{
	char comments[256];

	snprintf(comments, sizeof(comments),
		 "# Korhal deployment of %s %s, seq %" PRIu64 "\n", d->app,
		 d->release->version, d->seq);
	return cr_fleet_text_save(path, comments, deploy_magic, d->blob,
				  d->blob_len, err);
}

int cr_deploy_expired(const struct cr_deploy *d, uint64_t now_unix)
{
	return now_unix >= d->expires_unix;
}

int cr_deploy_targets(const struct cr_deploy *d,
		      const uint8_t dev[CR_ID_HASHLEN],
		      const char (*tags)[CP_TAG_STR_MAX], size_t n_tags)
{
	for (size_t i = 0; i < d->n_devices; i++)
		if (memcmp(d->devices[i], dev, CR_ID_HASHLEN) == 0)
			return 1;
	for (size_t i = 0; i < d->n_tags; i++)
		for (size_t j = 0; j < n_tags; j++)
			if (strncmp(d->tags[i], tags[j], CP_TAG_STR_MAX) == 0)
				return 1;
	return 0;
}

uint32_t cr_wave_bucket(const uint8_t digest[CR_DEPLOY_DIGEST_LEN],
			const uint8_t dev[CR_ID_HASHLEN])
{
	uint8_t in[CR_DEPLOY_DIGEST_LEN + CR_ID_HASHLEN], h[8];
	uint64_t v = 0;

	memcpy(in, digest, CR_DEPLOY_DIGEST_LEN);
	memcpy(in + CR_DEPLOY_DIGEST_LEN, dev, CR_ID_HASHLEN);
	crypto_generichash(h, sizeof(h), in, sizeof(in), NULL, 0);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[i];
	return (uint32_t)(v % CR_WAVE_BUCKETS);
}

size_t cr_deploy_wave_of(const struct cr_deploy *d,
			 const uint8_t dev[CR_ID_HASHLEN])
{
	uint32_t b = cr_wave_bucket(d->digest, dev);

	for (size_t i = 0; i < d->n_waves; i++)
		if (b < d->waves[i] * (CR_WAVE_BUCKETS / 100))
			return i;
	return d->n_waves > 0 ? d->n_waves - 1 : 0;
}

uint32_t cr_deploy_failures_allowed(const struct cr_deploy *d,
				    uint32_t members)
{
	if (!d->max_failures_pct)
		return d->max_failures;
	return (uint32_t)((uint64_t)members * d->max_failures / 10000);
}

int cr_waves_parse(const char *s, uint32_t *waves, size_t *n,
		   struct cr_error **err)
{
	const char *p = s;

	*n = 0;
	while (*p != '\0') {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v == 0 || v > 100 || *n >= CP_DEPLOY_WAVES_MAX ||
		    (*n > 0 && v <= waves[*n - 1]))
			break;
		waves[(*n)++] = (uint32_t)v;
		p = end;
		if (*p == '%')
			p++;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			break;
		if (*p == '\0' && p[-1] == ',')
			break;
		if (*p == '\0')
			return waves[*n - 1] == 100 ? 0 :
				cr_error_set(err, EINVAL,
					     "waves \"%s\": the last must be "
					     "100",
					     s);
	}
	return cr_error_set(err, EINVAL,
			    "waves \"%s\": give growing percentages 1..100 "
			    "ending at 100, such as 1,10,50,100 (at most %d)",
			    s, (int)CP_DEPLOY_WAVES_MAX);
}

/* ---- advances ------------------------------------------------------------ */

struct cr_advance *cr_advance_free(struct cr_advance *a)
{
	if (a == NULL)
		return NULL;
	free(a->blob);
	free(a);
	return NULL;
}

int cr_advance_decode(const uint8_t *buf, size_t len,
		      const struct cr_trust *trust, struct cr_advance **out,
		      struct cr_error **err)
{
	__attribute__((cleanup(cr_fleet_record_freep))) Carrier__SignedFleetRecord *s =
		NULL;
	__attribute__((cleanup(abody_freep))) Carrier__AdvanceBody *b = NULL;
	__attribute__((cleanup(advance_freep))) struct cr_advance *a = NULL;
	char what[CR_FLEET_APP_MAX + 48];

	if (cr_fleet_record_unpack(buf, len, 4096, CR_FLEET_KEYS_MAX, "advance", &s,
			  err) < 0)
		return -1;
	b = carrier__advance_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL || b->vendor_id.len != 32 ||
	    b->deployment.len != CR_DEPLOY_DIGEST_LEN || !cr_fleet_app_ok(b->app) ||
	    b->wave == 0 || b->wave >= CP_DEPLOY_WAVES_MAX)
		return cr_error_set(err, EBADMSG,
				    "advance is malformed (it names a fleet, "
				    "an app, a deployment and a wave 1..%d)",
				    (int)CP_DEPLOY_WAVES_MAX - 1);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cr_error_errno(err, ENOMEM, "decoding an advance");
	snprintf(what, sizeof(what), "advance of %s to wave %" PRIu32, b->app,
		 b->wave);
	if (cr_fleet_rollout_verify(advance_ctx, s->body.data, s->body.len,
				    s->signatures, s->n_signatures, trust,
				    a->signer, CR_FLEET_KEYS_MAX, &a->n_signers,
				    what, err) < 0)
		return -1;
	memcpy(a->vendor_id, b->vendor_id.data, 32);
	snprintf(a->app, sizeof(a->app), "%s", b->app);
	memcpy(a->deployment, b->deployment.data, CR_DEPLOY_DIGEST_LEN);
	a->wave = b->wave;
	a->members = b->members;
	a->succeeded = b->succeeded;
	a->failed = b->failed;
	a->issued_unix = b->issued_unix;
	crypto_generichash(a->digest, sizeof(a->digest), s->body.data,
			   s->body.len, NULL, 0);
	a->blob = malloc(len);
	if (a->blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding an advance");
	memcpy(a->blob, buf, len);
	a->blob_len = len;
	*out = CR_TAKE(&a);
	return 0;
}

int cr_advance_build(const struct cr_advance *a,
		     const struct cr_keypair *const *signers, size_t n_signers,
		     struct cr_advance **out, struct cr_error **err)
{
	Carrier__AdvanceBody b = CARRIER__ADVANCE_BODY__INIT;
	uint8_t vid[32], dep[CR_DEPLOY_DIGEST_LEN], bbuf[512];
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	char app[CR_FLEET_APP_MAX];
	size_t blen, blob_len;

	memcpy(vid, a->vendor_id, 32);
	memcpy(dep, a->deployment, sizeof(dep));
	snprintf(app, sizeof(app), "%s", a->app);
	b.vendor_id.data = vid;
	b.vendor_id.len = 32;
	b.app = app;
	b.deployment.data = dep;
	b.deployment.len = sizeof(dep);
	b.wave = a->wave;
	b.members = a->members;
	b.succeeded = a->succeeded;
	b.failed = a->failed;
	b.issued_unix = a->issued_unix;
	blen = carrier__advance_body__get_packed_size(&b);
	if (blen > sizeof(bbuf))
		return cr_error_set(err, EMSGSIZE, "advance too large");
	carrier__advance_body__pack(&b, bbuf);
	if (cr_fleet_sign_pack(CR_FLEET_RECORD, advance_ctx, bbuf, blen,
			       signers, n_signers, CR_FLEET_KEYS_MAX,
			       "an advance", &blob, &blob_len, err) < 0)
		return -1;
	return cr_advance_decode(blob, blob_len, NULL, out, err);
}

/* ---- status reports ------------------------------------------------------- */

static const char *const state_names[CR_RS_MAX] = {
	"none",	     "pulling",	    "staged", "running", "succeeded",
	"failed",    "rolled_back", "stale",  "refused",
};

const char *cr_report_state_name(enum cr_report_state s)
{
	return (unsigned)s < CR_RS_MAX ? state_names[s] : "unknown";
}

int cr_report_state_final(enum cr_report_state s)
{
	return s == CR_RS_SUCCEEDED || s == CR_RS_FAILED ||
	       s == CR_RS_ROLLED_BACK || s == CR_RS_STALE || s == CR_RS_REFUSED;
}

int cr_report_decode(const uint8_t *buf, size_t len, struct cr_report *out,
		     struct cr_error **err)
{
	__attribute__((cleanup(cr_fleet_record_freep))) Carrier__SignedFleetRecord *s =
		NULL;
	__attribute__((cleanup(rbody_freep))) Carrier__StatusReportBody *b =
		NULL;
	uint8_t signer[1][CR_PKLEN];
	size_t n_signer = 0;

	if (cr_fleet_record_unpack(buf, len, CP_REPORT_MAX, 1, "status report", &s,
			  err) < 0)
		return -1;
	b = carrier__status_report_body__unpack(NULL, s->body.len,
						s->body.data);
	if (b == NULL || b->device_pk.len != CR_PKLEN ||
	    b->deployment.len != CR_DEPLOY_DIGEST_LEN || b->state == 0 ||
	    b->state >= CR_RS_MAX || !text_ok(b->app, CR_FLEET_APP_MAX) ||
	    !text_ok(b->version, CR_FLEET_VERSION_MAX) ||
	    !text_ok(b->reason, CP_REASON_MAX))
		return cr_error_set(err, EBADMSG,
				    "status report is malformed");
	if (crypto_core_ed25519_is_valid_point(b->device_pk.data) != 1)
		return cr_error_set(err, EBADMSG,
				    "status report: the device key is not a "
				    "valid Ed25519 key");
	if (s->n_signatures != 1 || s->signatures[0]->pk.len != CR_PKLEN ||
	    memcmp(s->signatures[0]->pk.data, b->device_pk.data, CR_PKLEN) != 0)
		return cr_error_set(err, EKEYREJECTED,
				    "status report: not signed by the device "
				    "it names");
	if (cr_fleet_collect(report_ctx, s->body.data, s->body.len,
			     s->signatures, s->n_signatures, NULL, NULL,
			     signer, 1, &n_signer, "status report", err) < 0)
		return -1;
	if (n_signer != 1)
		return cr_error_set(err, EKEYREJECTED,
				    "status report: the device's signature "
				    "does not verify");
	memset(out, 0, sizeof(*out));
	memcpy(out->device_pk, b->device_pk.data, CR_PKLEN);
	cr_id_from_pk(CR_ID_DEVICE, out->device_pk, &out->device);
	memcpy(out->deployment, b->deployment.data, CR_DEPLOY_DIGEST_LEN);
	out->deployment_seq = b->deployment_seq;
	out->state = (enum cr_report_state)b->state;
	snprintf(out->app, sizeof(out->app), "%s", b->app);
	snprintf(out->version, sizeof(out->version), "%s", b->version);
	snprintf(out->reason, sizeof(out->reason), "%s", b->reason);
	out->time_ms = b->time_ms;
	out->seq = b->seq;
	memcpy(out->blob, buf, len);
	out->blob_len = len;
	return 0;
}

int cr_report_sign(const struct cr_keypair *kp, struct cr_report *r,
		   struct cr_error **err)
{
	Carrier__StatusReportBody b = CARRIER__STATUS_REPORT_BODY__INIT;
	uint8_t pkc[CR_PKLEN], dep[CR_DEPLOY_DIGEST_LEN], bbuf[CP_REPORT_MAX];
	char app[CR_FLEET_APP_MAX], ver[CR_FLEET_VERSION_MAX];
	char reason[CP_REASON_MAX];
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	size_t blen, blob_len;

	if (kp->type != CR_ID_DEVICE)
		return cr_error_set(err, EINVAL,
				    "status reports are signed with a device "
				    "key");
	memcpy(pkc, kp->pk, CR_PKLEN);
	memcpy(dep, r->deployment, sizeof(dep));
	snprintf(app, sizeof(app), "%s", r->app);
	snprintf(ver, sizeof(ver), "%s", r->version);
	snprintf(reason, sizeof(reason), "%s", r->reason);
	b.device_pk.data = pkc;
	b.device_pk.len = CR_PKLEN;
	b.deployment.data = dep;
	b.deployment.len = sizeof(dep);
	b.deployment_seq = r->deployment_seq;
	b.state = (uint32_t)r->state;
	b.app = app;
	b.version = ver;
	b.reason = reason;
	b.time_ms = r->time_ms;
	b.seq = r->seq;
	blen = carrier__status_report_body__get_packed_size(&b);
	if (blen > sizeof(bbuf) - 128)
		return cr_error_set(err, EMSGSIZE, "status report too large");
	carrier__status_report_body__pack(&b, bbuf);
	if (cr_fleet_sign_pack(CR_FLEET_RECORD, report_ctx, bbuf, blen, &kp, 1,
			       1, "a status report", &blob, &blob_len,
			       err) < 0)
		return -1;
	return cr_report_decode(blob, blob_len, r, err);
}
