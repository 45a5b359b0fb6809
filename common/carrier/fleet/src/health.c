/*
 * Device health records (cr/health.h).  The signature covers a domain
 * string and the body, so that no other record a device signs can pass
 * for a health record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cr/health.h"

static const char health_ctx[] = "korhal health v1";

static int health_sig(const uint8_t *body, size_t len, uint8_t *msg,
		      size_t cap)
{
	if (sizeof(health_ctx) + len > cap)
		return -1;
	memcpy(msg, health_ctx, sizeof(health_ctx)); /* with its NUL */
	memcpy(msg + sizeof(health_ctx), body, len);
	return (int)(sizeof(health_ctx) + len);
}

int cr_devhealth_make(const struct cr_keypair *kp, struct cr_devhealth *h,
		   uint8_t *out, size_t cap, size_t *len,
		   struct cr_error **err)
{
	Carrier__HealthBody b = CARRIER__HEALTH_BODY__INIT;
	Carrier__SignedHealth s = CARRIER__SIGNED_HEALTH__INIT;
	Carrier__HealthApp apps[CR_HEALTH_APPS], *ptrs[CR_HEALTH_APPS];
	uint8_t body[CR_HEALTH_MAX], msg[CR_HEALTH_MAX + 32];
	uint8_t sig[crypto_sign_BYTES];
	size_t blen;
	int mlen;

	memcpy(h->device_pk, kp->pk, CR_PKLEN);
	b.device_pk.data = h->device_pk;
	b.device_pk.len = CR_PKLEN;
	b.seq = h->seq;
	b.uptime_s = h->uptime_s;
	b.load1_milli = h->load_milli[0];
	b.load5_milli = h->load_milli[1];
	b.load15_milli = h->load_milli[2];
	b.mem_total = h->mem_total;
	b.mem_avail = h->mem_avail;
	b.flash_free = h->flash_free;
	b.has_temp = h->has_temp != 0;
	b.temp_milli_c = h->temp_milli_c;
	for (size_t i = 0; i < h->n_apps && i < CR_HEALTH_APPS; i++) {
		carrier__health_app__init(&apps[i]);
		apps[i].app = h->apps[i].app;
		apps[i].version = h->apps[i].version;
		apps[i].state = h->apps[i].state;
		apps[i].restarts = h->apps[i].restarts;
		apps[i].last_error = h->apps[i].last_error;
		apps[i].config_version = h->apps[i].config_version;
		apps[i].config_error = h->apps[i].config_error;
		ptrs[i] = &apps[i];
		b.n_apps++;
	}
	b.apps = ptrs;
	blen = carrier__health_body__get_packed_size(&b);
	if (blen + 96 > CR_HEALTH_MAX)
		return cr_error_set(err, E2BIG, "health record too large");
	carrier__health_body__pack(&b, body);
	mlen = health_sig(body, blen, msg, sizeof(msg));
	if (mlen < 0)
		return cr_error_set(err, E2BIG, "health record too large");
	crypto_sign_detached(sig, NULL, msg, (unsigned long long)mlen, kp->sk);
	s.body.data = body;
	s.body.len = blen;
	s.signature.data = sig;
	s.signature.len = sizeof(sig);
	if (carrier__signed_health__get_packed_size(&s) > cap)
		return cr_error_set(err, E2BIG, "health record too large");
	*len = carrier__signed_health__pack(&s, out);
	cr_id_from_pk(CR_ID_DEVICE, kp->pk, &h->device);
	return 0;
}

static int health_text(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
			return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

int cr_devhealth_decode(const uint8_t *buf, size_t len, struct cr_devhealth *out,
		     struct cr_error **err)
{
	Carrier__SignedHealth *s = NULL;
	Carrier__HealthBody *b = NULL;
	uint8_t msg[CR_HEALTH_MAX + 32];
	int mlen, rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > CR_HEALTH_MAX ||
	    (s = carrier__signed_health__unpack(NULL, len, buf)) == NULL)
		return cr_error_set(err, EBADMSG, "health record is malformed");
	if (s->signature.len != crypto_sign_BYTES ||
	    (b = carrier__health_body__unpack(NULL, s->body.len,
					      s->body.data)) == NULL ||
	    b->device_pk.len != CR_PKLEN || b->n_apps > CR_HEALTH_APPS ||
	    crypto_core_ed25519_is_valid_point(b->device_pk.data) != 1) {
		cr_error_set(err, EBADMSG, "health record is malformed");
		goto out;
	}
	mlen = health_sig(s->body.data, s->body.len, msg, sizeof(msg));
	if (mlen < 0 ||
	    crypto_sign_verify_detached(s->signature.data, msg,
					(unsigned long long)mlen,
					b->device_pk.data) != 0) {
		cr_error_set(err, EKEYREJECTED,
			     "health record: not signed by the device it "
			     "names");
		goto out;
	}
	memcpy(out->device_pk, b->device_pk.data, CR_PKLEN);
	cr_id_from_pk(CR_ID_DEVICE, out->device_pk, &out->device);
	out->seq = b->seq;
	out->uptime_s = b->uptime_s;
	out->load_milli[0] = b->load1_milli;
	out->load_milli[1] = b->load5_milli;
	out->load_milli[2] = b->load15_milli;
	out->mem_total = b->mem_total;
	out->mem_avail = b->mem_avail;
	out->flash_free = b->flash_free;
	out->has_temp = b->has_temp;
	out->temp_milli_c = b->temp_milli_c;
	for (size_t i = 0; i < b->n_apps; i++) {
		const Carrier__HealthApp *a = b->apps[i];
		struct cr_devhealth_app *o = &out->apps[i];

		if (health_text(o->app, sizeof(o->app), a->app) < 0 ||
		    health_text(o->version, sizeof(o->version), a->version) <
			    0 ||
		    health_text(o->state, sizeof(o->state), a->state) < 0 ||
		    health_text(o->last_error, sizeof(o->last_error),
				a->last_error) < 0 ||
		    health_text(o->config_error, sizeof(o->config_error),
				a->config_error) < 0) {
			cr_error_set(err, EBADMSG,
				     "health record: a malformed app entry");
			goto out;
		}
		o->restarts = a->restarts;
		o->config_version = a->config_version;
		out->n_apps++;
	}
	rc = 0;
out:
	if (b != NULL)
		carrier__health_body__free_unpacked(b, NULL);
	carrier__signed_health__free_unpacked(s, NULL);
	return rc;
}
