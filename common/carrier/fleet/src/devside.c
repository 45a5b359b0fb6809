/*
 * The device's side of rollouts (cr/deploy.h): reassembling pushed
 * records, acknowledging them, checking that a deployment is meant for
 * this device, and signing reports.  Shared by carrier-agent
 * (device-agent/src/deploy.c) and the simulated devices of
 * tests/tools/fleetsim.c, so both speak the protocol the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/deploy.h"

uint64_t cr_fleet_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void cr_fleet_asm_reset(struct cr_fleet_asm *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

int cr_fleet_asm_add(struct cr_fleet_asm *s, uint32_t kind,
		     const uint8_t *digest, size_t digest_len, uint32_t total,
		     uint32_t offset, const uint8_t *data, size_t len)
{
	uint8_t h[32];

	if (digest_len != 32 || total == 0 || total > CP_FLEET_RECORD_MAX ||
	    offset >= total || len > total - offset)
		return -1;
	/* A piece of another record starts over: one in flight per peer. */
	if (s->buf == NULL || s->total != total || s->kind != kind ||
	    memcmp(s->digest, digest, 32) != 0) {
		cr_fleet_asm_reset(s);
		s->buf = calloc(1, total);
		if (s->buf == NULL)
			return -1;
		s->total = total;
		s->kind = kind;
		memcpy(s->digest, digest, 32);
	}
	memcpy(s->buf + offset, data, len);
	s->got += (uint32_t)len;
	if (s->got < s->total)
		return 0;
	crypto_generichash(h, 32, s->buf, s->total, NULL, 0);
	if (memcmp(h, s->digest, 32) != 0) {
		cr_fleet_asm_reset(s);
		return -1;
	}
	/* Complete: the next piece of anything starts a new record. */
	s->got = 0;
	return 1;
}

long cr_fleet_put_pack(uint32_t kind, const uint8_t *blob, size_t len,
		       uint64_t req_id, uint8_t *out, size_t cap)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__FleetPut p = CARRIER__FLEET_PUT__INIT;
	uint8_t digest[32];

	if (len == 0 || len > CP_FLEET_PIECE)
		return -1;
	crypto_generichash(digest, 32, blob, len, NULL, 0);
	m.req_id = req_id;
	m.msg_case = CARRIER__HOP__MSG_FLEET_PUT;
	m.fleet_put = &p;
	p.kind = kind;
	p.digest.data = digest;
	p.digest.len = 32;
	p.total = (uint32_t)len;
	p.offset = 0;
	p.data.data = (uint8_t *)(uintptr_t)blob;
	p.data.len = len;
	return cp_hop_pack(&m, out, cap);
}

long cr_fleet_ack_pack(uint32_t kind, const uint8_t digest[32], uint8_t *out,
		       size_t cap)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__FleetAck a = CARRIER__FLEET_ACK__INIT;

	a.kind = kind;
	a.digest.data = (uint8_t *)(uintptr_t)digest;
	a.digest.len = 32;
	m.msg_case = CARRIER__HOP__MSG_FLEET_ACK;
	m.fleet_ack = &a;
	return cp_hop_pack(&m, out, cap);
}

int cr_deploy_for_device(const struct cr_deploy *d,
			 const uint8_t dev[CR_ID_HASHLEN],
			 const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
			 char *why, size_t why_cap)
{
	if (cr_deploy_targets(d, dev, tags, n_tags))
		return 0;
	snprintf(why, why_cap,
		 "replay: deployment of %s seq %" PRIu64
		 " does not target this device",
		 d->app, d->seq);
	return -1;
}

int cr_deploy_accept(const uint8_t *blob, size_t len,
		     const struct cr_trust *trust,
		     const uint8_t dev[CR_ID_HASHLEN],
		     const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
		     struct cr_deploy **out, char *why, size_t why_cap)
{
	struct cr_deploy *d = NULL;
	struct cr_error *err = NULL;

	*out = NULL;
	if (cr_deploy_decode(blob, len, trust, &d, &err) < 0) {
		snprintf(why, why_cap, "arbitrary software: %s",
			 cr_error_msg(err));
		cr_error_free(err);
		return -1;
	}
	if (cr_deploy_for_device(d, dev, tags, n_tags, why, why_cap) < 0) {
		cr_deploy_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

int cr_deploy_adopt_trust(struct cr_trust **held, const struct cr_deploy *d,
			  struct cr_error **err)
{
	struct cr_trust *t = NULL;

	if (d->trust == NULL || d->trust->version <= (*held)->version)
		return 0;
	/* Checked again as a rotation from the held root (no expiry: that
	 * is the deployment's to say). */
	if (cr_trust_decode(d->trust->blob, d->trust->blob_len, *held, 0, &t,
			    err) < 0)
		return -1;
	cr_trust_free(*held);
	*held = t;
	return 1;
}

int cr_report_make(const struct cr_keypair *kp, const struct cr_deploy *d,
		   const char *app, enum cr_report_state state,
		   const char *version, const char *reason, uint64_t seq,
		   struct cr_report *r, struct cr_error **err)
{
	memset(r, 0, sizeof(*r));
	if (d != NULL) {
		memcpy(r->deployment, d->digest, 32);
		r->deployment_seq = d->seq;
	}
	r->state = state;
	snprintf(r->app, sizeof(r->app), "%s", app);
	snprintf(r->version, sizeof(r->version), "%s", version);
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->time_ms = cr_fleet_wall_ms();
	r->seq = seq;
	return cr_report_sign(kp, r, err);
}
