/*
 * Fleet configuration records (cr/appconfig.h).  Same signed shape and
 * bounded decoding as the rollout records of deploy.c: the input is
 * bounded, its repeated fields counted before protobuf-c allocates, and
 * every entry checked against the size limits a device enforces.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/pbscan.h"
#include "cr/cleanup.h"
#include "cr/appconfig.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/util.h"
#include "record.h"

static const char config_ctx[] = "korhal config v1";

static void body_freep(Carrier__ConfigBody **p)
{
	if (*p != NULL)
		carrier__config_body__free_unpacked(*p, NULL);
}

static void appcfg_freep(struct cr_appcfg **p)
{
	*p = cr_appcfg_free(*p);
}

struct cr_appcfg *cr_appcfg_free(struct cr_appcfg *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_entries; i++)
		free(c->entries[i].value);
	free(c->entries);
	free(c->devices);
	free(c->blob);
	free(c);
	return NULL;
}

int cr_appcfg_key_ok(const char *key)
{
	size_t n = strnlen(key, CR_APPCFG_KEY_MAX);

	if (n == 0 || n >= CR_APPCFG_KEY_MAX || (key[0] >= '0' && key[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

int cr_appcfg_entry_check(const struct cr_appcfg_entry *e, size_t *total,
			  struct cr_error **err)
{
	if (!cr_appcfg_key_ok(e->key))
		return cr_error_set(err, EINVAL,
				    "config key \"%.*s\" is malformed (a "
				    "variable name: A-Z, 0-9 and _, not "
				    "starting with a digit, at most %d "
				    "characters)",
				    (int)CR_APPCFG_KEY_MAX, e->key,
				    (int)CR_APPCFG_KEY_MAX - 1);
	if (e->file && e->len > CR_APPCFG_FILE_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "config file %s is %zu bytes, more than "
				    "the limit of %d",
				    e->key, e->len, (int)CR_APPCFG_FILE_MAX);
	if (!e->file) {
		if (e->len > CR_APPCFG_VALUE_MAX)
			return cr_error_set(err, EMSGSIZE,
					    "config value %s is %zu bytes, "
					    "more than the limit of %d (use "
					    "a file: KEY=@FILE)",
					    e->key, e->len,
					    (int)CR_APPCFG_VALUE_MAX);
		for (size_t i = 0; i < e->len; i++)
			if (e->value[i] < ' ' || e->value[i] == 0x7f)
				return cr_error_set(err, EINVAL,
						    "config value %s holds a "
						    "control character (use "
						    "a file: KEY=@FILE)",
						    e->key);
	}
	if (e->len > CR_APPCFG_TOTAL_MAX - *total)
		return cr_error_set(err, EMSGSIZE,
				    "config is more than %d bytes of values "
				    "and files (at %s)",
				    (int)CR_APPCFG_TOTAL_MAX, e->key);
	*total += e->len;
	return 0;
}

/* Fills c from a checked body; entries are checked here. */
static int config_fill(struct cr_appcfg *c, const Carrier__ConfigBody *b,
		       struct cr_error **err)
{
	size_t total = 0;

	if (b->vendor_id.len != 32 || !cr_fleet_app_ok(b->app) || b->version == 0 ||
	    b->n_devices + b->n_tags == 0)
		return cr_error_set(err, EBADMSG,
				    "config is malformed (it names a fleet, "
				    "an app, a version above 0 and targets)");
	memcpy(c->vendor_id, b->vendor_id.data, 32);
	c->trust_version = b->trust_version;
	snprintf(c->app, sizeof(c->app), "%s", b->app);
	c->version = b->version;
	c->issued_unix = b->issued_unix;
	c->expires_unix = b->expires_unix;
	if (b->n_devices > 0) {
		c->devices = calloc(b->n_devices, sizeof(*c->devices));
		if (c->devices == NULL)
			return cr_error_errno(err, ENOMEM, "decoding a config");
	}
	for (size_t i = 0; i < b->n_devices; i++) {
		if (b->devices[i].len != CR_ID_HASHLEN)
			return cr_error_set(err, EBADMSG,
					    "config target %zu is not a "
					    "device id",
					    i);
		memcpy(c->devices[i], b->devices[i].data, CR_ID_HASHLEN);
	}
	c->n_devices = b->n_devices;
	for (size_t i = 0; i < b->n_tags; i++) {
		if (!cr_fleet_tag_ok(b->tags[i]))
			return cr_error_set(err, EBADMSG,
					    "config target tag %zu is not K=V",
					    i);
		snprintf(c->tags[i], sizeof(c->tags[i]), "%s", b->tags[i]);
	}
	c->n_tags = b->n_tags;
	if (b->n_entries > 0) {
		c->entries = calloc(b->n_entries, sizeof(*c->entries));
		if (c->entries == NULL)
			return cr_error_errno(err, ENOMEM, "decoding a config");
	}
	for (size_t i = 0; i < b->n_entries; i++) {
		struct cr_appcfg_entry *e = &c->entries[i];
		const Carrier__ConfigEntry *in = b->entries[i];

		c->n_entries = i + 1;
		if (strlen(in->key) >= sizeof(e->key))
			return cr_error_set(err, EINVAL,
					    "config key %zu is longer than "
					    "%d characters",
					    i, (int)CR_APPCFG_KEY_MAX - 1);
		snprintf(e->key, sizeof(e->key), "%s", in->key);
		e->file = in->file;
		e->len = in->value.len;
		e->value = malloc(e->len + 1);
		if (e->value == NULL)
			return cr_error_errno(err, ENOMEM, "decoding a config");
		if (e->len > 0)
			memcpy(e->value, in->value.data, e->len);
		e->value[e->len] = 0;
		if (cr_appcfg_entry_check(e, &total, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->entries[j].key, e->key) == 0)
				return cr_error_set(err, EINVAL,
						    "config key %s is given "
						    "twice",
						    e->key);
	}
	return 0;
}

int cr_appcfg_decode(const uint8_t *buf, size_t len,
		     const struct cr_trust *trust, struct cr_appcfg **out,
		     struct cr_error **err)
{
	__attribute__((cleanup(cr_fleet_record_freep))) Carrier__SignedFleetRecord *s =
		NULL;
	__attribute__((cleanup(body_freep))) Carrier__ConfigBody *b = NULL;
	__attribute__((cleanup(appcfg_freep))) struct cr_appcfg *c = NULL;
	long n_dev, n_tags, n_ent;
	char what[CR_FLEET_APP_MAX + 48];

	if (cr_fleet_record_unpack(buf, len, CR_APPCFG_RECORD_MAX,
				   CR_FLEET_KEYS_MAX, "config", &s, err) < 0)
		return -1;
	n_dev = cp_pb_count(s->body.data, s->body.len, 4);
	n_tags = cp_pb_count(s->body.data, s->body.len, 5);
	n_ent = cp_pb_count(s->body.data, s->body.len, 7);
	if (n_dev < 0 || n_tags < 0 || n_ent < 0)
		return cr_error_set(err, EBADMSG,
				    "config body is malformed");
	if (n_dev > CR_APPCFG_DEVICES_MAX || n_tags > CR_APPCFG_TAGS_MAX ||
	    n_ent > CR_APPCFG_ENTRIES_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "config has %ld devices, %ld tags and %ld "
				    "entries (limits %d, %d, %d)",
				    n_dev, n_tags, n_ent,
				    (int)CR_APPCFG_DEVICES_MAX,
				    (int)CR_APPCFG_TAGS_MAX,
				    (int)CR_APPCFG_ENTRIES_MAX);
	b = carrier__config_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL)
		return cr_error_set(err, EBADMSG, "config body is malformed");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a config");
	if (config_fill(c, b, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "config %" PRIu64 " of %s", c->version,
		 c->app);
	if (cr_fleet_rollout_verify(config_ctx, s->body.data, s->body.len,
				    s->signatures, s->n_signatures, trust,
				    c->signer, CR_FLEET_KEYS_MAX,
				    &c->n_signers, what, err) < 0)
		return -1;
	if (trust != NULL) {
		uint8_t vid[32];

		cr_fleet_vendor_id(trust, vid);
		if (memcmp(vid, c->vendor_id, 32) != 0)
			return cr_error_set(err, EKEYREJECTED,
					    "%s is for another fleet", what);
	}
	crypto_generichash(c->digest, sizeof(c->digest), s->body.data,
			   s->body.len, NULL, 0);
	c->blob = malloc(len);
	if (c->blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a config");
	memcpy(c->blob, buf, len);
	c->blob_len = len;
	*out = CR_TAKE(&c);
	return 0;
}

static void entries_freep(Carrier__ConfigEntry **p)
{
	free(*p);
}

static void ptrs_freep(void *p)
{
	free(*(void **)p);
}

int cr_appcfg_build(const struct cr_appcfg *c, const struct cr_trust *trust,
		    const struct cr_keypair *const *signers, size_t n_signers,
		    struct cr_appcfg **out, struct cr_error **err)
{
	Carrier__ConfigBody b = CARRIER__CONFIG_BODY__INIT;
	__attribute__((cleanup(entries_freep))) Carrier__ConfigEntry *ents =
		NULL;
	__attribute__((cleanup(ptrs_freep))) Carrier__ConfigEntry **eptr =
		NULL;
	__attribute__((cleanup(ptrs_freep))) ProtobufCBinaryData *devs = NULL;
	__attribute__((cleanup(ptrs_freep))) char **tags = NULL;
	uint8_t vid[32];
	CR_CLEANUP_FREE uint8_t *body = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	char app[CR_FLEET_APP_MAX];
	size_t blen, blob_len, total = 0;

	if (c->n_entries > CR_APPCFG_ENTRIES_MAX ||
	    c->n_devices > CR_APPCFG_DEVICES_MAX ||
	    c->n_tags > CR_APPCFG_TAGS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "a config has at most %d entries, %d "
				    "devices and %d tags",
				    (int)CR_APPCFG_ENTRIES_MAX,
				    (int)CR_APPCFG_DEVICES_MAX,
				    (int)CR_APPCFG_TAGS_MAX);
	for (size_t i = 0; i < c->n_entries; i++)
		if (cr_appcfg_entry_check(&c->entries[i], &total, err) < 0)
			return -1;
	cr_fleet_vendor_id(trust, vid);
	snprintf(app, sizeof(app), "%s", c->app);
	b.vendor_id.data = vid;
	b.vendor_id.len = 32;
	b.trust_version = trust->version;
	b.app = app;
	b.version = c->version;
	b.issued_unix = c->issued_unix;
	b.expires_unix = c->expires_unix;
	ents = calloc(c->n_entries + 1, sizeof(*ents));
	eptr = calloc(c->n_entries + 1, sizeof(*eptr));
	devs = calloc(c->n_devices + 1, sizeof(*devs));
	tags = calloc(c->n_tags + 1, sizeof(*tags));
	if (ents == NULL || eptr == NULL || devs == NULL || tags == NULL)
		return cr_error_errno(err, ENOMEM, "building a config");
	for (size_t i = 0; i < c->n_entries; i++) {
		carrier__config_entry__init(&ents[i]);
		ents[i].key = (char *)c->entries[i].key;
		ents[i].value.data = c->entries[i].value;
		ents[i].value.len = c->entries[i].len;
		ents[i].file = c->entries[i].file;
		eptr[i] = &ents[i];
	}
	b.entries = eptr;
	b.n_entries = c->n_entries;
	for (size_t i = 0; i < c->n_devices; i++) {
		devs[i].data = (uint8_t *)c->devices[i];
		devs[i].len = CR_ID_HASHLEN;
	}
	b.devices = devs;
	b.n_devices = c->n_devices;
	for (size_t i = 0; i < c->n_tags; i++)
		tags[i] = (char *)c->tags[i];
	b.tags = tags;
	b.n_tags = c->n_tags;
	blen = carrier__config_body__get_packed_size(&b);
	body = malloc(blen + 1);
	if (body == NULL)
		return cr_error_errno(err, ENOMEM, "building a config");
	carrier__config_body__pack(&b, body);
	if (cr_fleet_sign_pack(CR_FLEET_RECORD, config_ctx, body, blen,
			       signers, n_signers, CR_FLEET_KEYS_MAX,
			       "a config", &blob, &blob_len, err) < 0)
		return -1;
	return cr_appcfg_decode(blob, blob_len, trust, out, err);
}

int cr_appcfg_accept(const struct cr_appcfg *c, const char *app,
		     const uint8_t dev[CR_ID_HASHLEN],
		     const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
		     uint64_t running, uint64_t now_unix,
		     struct cr_error **err)
{
	int targeted = 0;

	if (strcmp(c->app, app) != 0)
		return cr_error_set(err, EINVAL,
				    "config is for app %s, not %s", c->app,
				    app);
	for (size_t i = 0; i < c->n_devices && !targeted; i++)
		targeted = memcmp(c->devices[i], dev, CR_ID_HASHLEN) == 0;
	for (size_t i = 0; i < c->n_tags && !targeted; i++)
		for (size_t j = 0; j < n_tags && !targeted; j++)
			targeted = strcmp(c->tags[i], tags[j]) == 0;
	if (!targeted)
		return cr_error_set(err, EPERM,
				    "config version %" PRIu64 " of %s does "
				    "not target this device",
				    c->version, c->app);
	if (c->expires_unix != 0 && now_unix >= c->expires_unix)
		return cr_error_set(err, ETIME,
				    "config version %" PRIu64 " of %s expired",
				    c->version, c->app);
	if (c->version <= running)
		return cr_error_set(err, ESTALE,
				    "config version %" PRIu64 " is not above "
				    "the running %" PRIu64,
				    c->version, running);
	return 0;
}
