/*
 * Fleet rollouts on the node (see rn/fleet.h): reassembly of FleetPut
 * pieces, verification only to refuse garbage, storage, forwarding to the
 * other nodes, pushes to attached devices, and the CLI's queries.
 */
#include "rn/fleet.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/appconfig.h"
#include "cr/cleanup.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/health.h"
#include "cr/log.h"
#include "cr/map.h"
#include "cr/util.h"
#include "rn/byzantine.h"
#include "rn/presstore.h"

static const char fleet_db[] = "fleet";
/* The request ids of records passed on to peers (they answer with it). */
static const uint64_t FLEET_FWD_REQ = UINT64_C(1) << 62;

enum {
	FLEET_ASM_MAX = 32,      /* records being reassembled at once */
	FLEET_ASM_PER_PEER = 4,  /* ... from one peer */
	FLEET_ASM_TIMEOUT_MS = 10000,
	FLEET_PIECES_MAX = CP_FLEET_RECORD_MAX / CP_FLEET_PIECE + 1,
	/* A push is sent again until the device acknowledges it or leaves:
	 * 1.5 s, 3 s, 4.5 s ... apart, at most 15 s. */
	FLEET_PUSH_RETRY_MS = 1500,
	FLEET_PUSH_RETRY_MAX_MS = 15000,
	/* A record passed on to a peer is sent again 1, 2, 4 ... 32 s
	 * later until the peer acknowledges or refuses it; past that the
	 * peer is taken for gone (its revival brings it up to date). */
	FLEET_FWD_RETRY_MS = 1000,
	FLEET_FWD_TRIES = 7,
	FLEET_FWD_MAX = 65536, /* records awaiting a peer's answer */
	FLEET_SWEEP_MS = 5000,
	FLEET_KEY_MAX = 1 + 32 + CR_FLEET_APP_MAX,
	FLEET_SEQ_LEN = 8,
	FLEET_PAGE_BYTES = 900,  /* answer payload per query message */
	FLEET_PAGE_DEVICES = 16,
	HEALTH_PAGE_BYTES = CP_MSG_MAX - 200, /* health records per answer */
};

/* One deployment held, decoded, with its newest advance. */
struct fleet_dep {
	struct cr_deploy *d;
	uint8_t rec_digest[32]; /* BLAKE2b-256 of d->blob */
	struct cr_advance *adv; /* or NULL: only wave 0 is open */
	uint8_t adv_digest[32];
};

/* A record arriving in pieces. */
struct fleet_asm {
	int used;
	uint8_t peer[CR_ID_HASHLEN];
	uint8_t digest[32];
	uint32_t kind, total, n_pieces, n_got;
	uint64_t req_id, last_ms;
	uint8_t got[(FLEET_PIECES_MAX + 7) / 8];
	uint8_t *buf;
};

/* A record pushed to a device and not yet acknowledged. */
struct fleet_push {
	uint8_t dev[CR_ID_HASHLEN];
	uint8_t digest[32]; /* the record's (a deployment or advance) */
	uint32_t kind;
	uint32_t tries;
	uint64_t next_ms;
};

/* A record passed on to a peer node and not yet acknowledged.  Without
 * it one lost datagram lost a report for good: its device had this
 * node's acknowledgement and does not send it again, so the deployment's
 * home set never heard of it and a rollout waited on it. */
struct fleet_fwd {
	uint8_t peer[CR_ID_HASHLEN];
	uint8_t digest[32];
	uint32_t kind, tries;
	uint64_t req_id, next_ms;
	size_t len;
	uint8_t blob[];
};

struct rn_fleet {
	struct cr_kv *kv;
	struct rn_peers *peers;
	struct rn_fleet_cfg cfg;
	struct rn_fleet_ops ops;
	void *ctx;
	struct fleet_dep *deps;
	size_t n_deps, cap_deps;
	struct fleet_asm asm_[FLEET_ASM_MAX];
	struct cr_map *pending; /* H(dev || digest) -> struct fleet_push */
	struct cr_map *fwd;     /* H(peer || digest) -> struct fleet_fwd */
	uint64_t fwd_seq;
	uint64_t last_retry_ms, last_sweep_ms;
	/* When each health record came, in node seconds ('H' key's device
	 * hash -> the time + 1): records held before a restart count from
	 * the first sweep after it. */
	struct cr_map *health_at;
	struct cr_log_ratelimit rl;
	struct rn_fleet_stats st;
};

/* ---- helpers ------------------------------------------------------------- */

static void fleet_send(struct cr_sess *s, Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long len = cp_hop_pack(m, buf, sizeof(buf));

	if (len > 0)
		cr_sess_send(s, buf, (size_t)len, cr_now_ms());
}

static void fleet_error(struct cr_sess *s, uint64_t req_id,
			Carrier__Error__Code code, const char *msg)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Error e = CARRIER__ERROR__INIT;
	char text[256];

	snprintf(text, sizeof(text), "%s", msg);
	e.code = code;
	e.message = text;
	m.req_id = req_id;
	m.msg_case = CARRIER__HOP__MSG_ERROR;
	m.error = &e;
	fleet_send(s, &m);
}

/* Sends a record in FleetPut pieces. */
static void fleet_send_record(struct rn_fleet *f, struct cr_sess *s,
			      uint32_t kind, const uint8_t *blob, size_t len,
			      const uint8_t digest[32], uint64_t req_id)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__FleetPut p = CARRIER__FLEET_PUT__INIT;

	m.req_id = req_id;
	m.msg_case = CARRIER__HOP__MSG_FLEET_PUT;
	m.fleet_put = &p;
	p.kind = kind;
	p.digest.data = (uint8_t *)(uintptr_t)digest;
	p.digest.len = 32;
	p.total = (uint32_t)len;
	for (size_t off = 0; off < len; off += CP_FLEET_PIECE) {
		p.offset = (uint32_t)off;
		p.data.data = (uint8_t *)(uintptr_t)(blob + off);
		p.data.len = len - off < CP_FLEET_PIECE ? len - off :
							  CP_FLEET_PIECE;
		fleet_send(s, &m);
		f->st.pieces_out++;
	}
}

static size_t key_app(uint8_t *key, char tag, const uint8_t vendor[32],
		      const char *app)
{
	size_t n = strnlen(app, CR_FLEET_APP_MAX - 1);

	key[0] = (uint8_t)tag;
	memcpy(key + 1, vendor, 32);
	memcpy(key + 33, app, n);
	return 33 + n;
}

static int fleet_put_kv(struct rn_fleet *f, const uint8_t *key, size_t klen,
			uint64_t seq, const uint8_t *blob, size_t len,
			struct cr_error **err)
{
	uint8_t *v = malloc(FLEET_SEQ_LEN + len);
	int rc;

	if (v == NULL)
		return cr_error_errno(err, ENOMEM, "storing a fleet record");
	cp_put_u64(v, seq);
	memcpy(v + FLEET_SEQ_LEN, blob, len);
	rc = cr_kv_put(f->kv, fleet_db, key, klen, v, FLEET_SEQ_LEN + len, err);
	free(v);
	return rc;
}

/* The stored value of key, malloc'ed (seq split off): 0, -ENOENT, or
 * another negative value. */
static int fleet_get_kv(struct rn_fleet *f, const uint8_t *key, size_t klen,
			uint64_t *seq, uint8_t **blob, size_t *len)
{
	size_t cap = FLEET_SEQ_LEN + CP_FLEET_RECORD_MAX, n = 0;
	uint8_t *v = malloc(cap);
	int rc;

	if (v == NULL)
		return -ENOMEM;
	rc = cr_kv_get(f->kv, fleet_db, key, klen, v, cap, &n, NULL);
	if (rc < 0 || n <= FLEET_SEQ_LEN || n > cap) {
		free(v);
		return rc < 0 ? rc : -ENOENT;
	}
	*seq = cp_get_u64(v);
	memmove(v, v + FLEET_SEQ_LEN, n - FLEET_SEQ_LEN);
	*blob = v;
	*len = n - FLEET_SEQ_LEN;
	return 0;
}

static struct fleet_dep *dep_find(struct rn_fleet *f, const uint8_t vendor[32],
				  const char *app)
{
	for (size_t i = 0; i < f->n_deps; i++)
		if (memcmp(f->deps[i].d->vendor_id, vendor, 32) == 0 &&
		    strcmp(f->deps[i].d->app, app) == 0)
			return &f->deps[i];
	return NULL;
}

static struct fleet_dep *dep_by_digest(struct rn_fleet *f,
				       const uint8_t digest[32])
{
	for (size_t i = 0; i < f->n_deps; i++)
		if (memcmp(f->deps[i].d->digest, digest, 32) == 0)
			return &f->deps[i];
	return NULL;
}

static size_t vendor_apps(struct rn_fleet *f, const uint8_t vendor[32])
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_deps; i++)
		n += memcmp(f->deps[i].d->vendor_id, vendor, 32) == 0;
	return n;
}

static void dep_clear(struct fleet_dep *dp)
{
	dp->d = cr_deploy_free(dp->d);
	dp->adv = cr_advance_free(dp->adv);
}

static void dep_remove(struct rn_fleet *f, struct fleet_dep *dp)
{
	size_t i = (size_t)(dp - f->deps);

	dep_clear(dp);
	f->deps[i] = f->deps[--f->n_deps];
}

/* The tags of a stored presence record (verified when it was stored). */
static size_t pres_tags(const uint8_t *rec, size_t len,
			char (*tags)[CP_TAG_STR_MAX])
{
	Carrier__SignedPresence *sp;
	Carrier__PresenceBody *b;
	size_t n = 0;

	sp = carrier__signed_presence__unpack(NULL, len, rec);
	if (sp == NULL)
		return 0;
	b = carrier__presence_body__unpack(NULL, sp->body.len, sp->body.data);
	if (b != NULL) {
		for (size_t i = 0; i < b->n_tags && n < CP_TAGS_MAX; i++)
			snprintf(tags[n++], CP_TAG_STR_MAX, "%s", b->tags[i]);
		carrier__presence_body__free_unpacked(b, NULL);
	}
	carrier__signed_presence__free_unpacked(sp, NULL);
	return n;
}

/* ---- pushes to devices ---------------------------------------------------- */

static void push_key(const uint8_t dev[32], const uint8_t digest[32],
		     uint8_t out[32])
{
	uint8_t in[64];

	memcpy(in, dev, 32);
	memcpy(in + 32, digest, 32);
	crypto_generichash(out, 32, in, sizeof(in), NULL, 0);
}

/* ---- test mode (rn/byzantine.h): the hooks of the fleet roles ----------- */

static void fleet_byz_told(struct rn_fleet *f, unsigned role)
{
	f->st.byz[RN_BYZ_IDX(role)]++;
}

/* Key of the first record of its kind seen (a deployment per (fleet,
 * app), a report per (deployment, device)) in the "byz_first" table. */
static size_t fleet_byz_key(uint8_t key[66], uint32_t kind,
			    const uint8_t *blob, size_t len)
{
	static struct cr_report r; /* large; the loop is single-threaded */
	uint8_t vendor[32];
	char app[CR_FLEET_APP_MAX];
	uint64_t seq;

	if (kind == CR_REC_REPORT) {
		if (cr_report_decode(blob, len, &r, NULL) < 0)
			return 0;
		key[0] = 'R';
		memcpy(key + 1, r.deployment, 32);
		memcpy(key + 33, r.device.hash, 32);
		return 65;
	}
	if (kind != CR_REC_DEPLOYMENT ||
	    cr_fleet_rec_peek(kind, blob, len, vendor, app, &seq) < 0)
		return 0;
	key[0] = 'D';
	memcpy(key + 1, vendor, 32);
	crypto_generichash(key + 33, 32, (const uint8_t *)app, strlen(app),
			   NULL, 0);
	return 65;
}

/* Remembers the first deployment of each app and the first report of
 * each device (fleet-replay hands them out later). */
static void fleet_byz_remember(struct rn_fleet *f, uint32_t kind,
			       const uint8_t *blob, size_t len)
{
	uint8_t key[66], old[CP_FLEET_RECORD_MAX];
	size_t klen = fleet_byz_key(key, kind, blob, len), olen;

	if (klen == 0 || cr_kv_get(f->kv, "byz_first", key, klen, old,
				   sizeof(old), &olen, NULL) == 0)
		return;
	cr_kv_put(f->kv, "byz_first", key, klen, blob, len, NULL);
}

/* The first record like (blob, len) when it differs from it, into old
 * (cap bytes): its length, or 0. */
static size_t fleet_byz_first(struct rn_fleet *f, uint32_t kind,
			      const uint8_t *blob, size_t len, uint8_t *old,
			      size_t cap)
{
	uint8_t key[66];
	size_t klen = fleet_byz_key(key, kind, blob, len), olen;

	if (klen == 0 || cr_kv_get(f->kv, "byz_first", key, klen, old, cap,
				   &olen, NULL) < 0 ||
	    olen > cap || (olen == len && memcmp(old, blob, len) == 0))
		return 0;
	return olen;
}

/* What a lying node sends instead of the record it should push: a forged
 * (fleet-forge) or the first (fleet-replay) deployment or advance, into
 * out; 0 when it tells the truth this time. */
static size_t fleet_byz_push(struct rn_fleet *f, uint32_t kind,
			     const uint8_t *blob, size_t len, uint8_t *out,
			     size_t cap)
{
	size_t n = 0;

	if ((f->cfg.byzantine & RN_BYZ_FLEET_REPLAY) &&
	    kind == CR_REC_DEPLOYMENT &&
	    (n = fleet_byz_first(f, kind, blob, len, out, cap)) > 0) {
		fleet_byz_told(f, RN_BYZ_FLEET_REPLAY);
		return n;
	}
	if ((f->cfg.byzantine & RN_BYZ_FLEET_FORGE) &&
	    (n = rn_byz_forge_record(blob, len, out, cap)) > 0)
		fleet_byz_told(f, RN_BYZ_FLEET_FORGE);
	return n;
}

/* A report just stored, passed on with lies: a forged success
 * (fleet-forge) and the device's first report (fleet-replay) to the
 * deployment's home set. */
static void fleet_byz_report(struct rn_fleet *f, const uint8_t *blob,
			     size_t len, const uint8_t home_key[32]);

static void push_record(struct rn_fleet *f, struct cr_sess *s,
			const uint8_t dev[32], uint32_t kind,
			const uint8_t *blob, size_t len,
			const uint8_t digest[32])
{
	uint8_t key[32];
	struct fleet_push *p;
	static uint8_t lie[CP_FLEET_RECORD_MAX]; /* single-threaded loop */
	size_t lie_len = f->cfg.byzantine ?
				 fleet_byz_push(f, kind, blob, len, lie,
						sizeof(lie)) :
				 0;

	if (lie_len > 0) {
		uint8_t ld[32];

		crypto_generichash(ld, 32, lie, lie_len, NULL, 0);
		fleet_send_record(f, s, kind, lie, lie_len, ld, 0);
	} else {
		fleet_send_record(f, s, kind, blob, len, digest, 0);
	}
	f->st.pushed++;
	push_key(dev, digest, key);
	p = cr_map_get(f->pending, key);
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return;
		if (cr_map_put(f->pending, key, p) < 0) {
			free(p);
			return;
		}
	}
	memcpy(p->dev, dev, 32);
	memcpy(p->digest, digest, 32);
	p->kind = kind;
	p->tries = 1;
	p->next_ms = cr_now_ms() + FLEET_PUSH_RETRY_MS;
}

/* Pushes dp's deployment (when deploy) and its advance to s's device. */
static void push_dep(struct rn_fleet *f, struct cr_sess *s,
		     const uint8_t dev[32], struct fleet_dep *dp, int deploy)
{
	if (deploy)
		push_record(f, s, dev, CR_REC_DEPLOYMENT, dp->d->blob,
			    dp->d->blob_len, dp->rec_digest);
	if (dp->adv != NULL)
		push_record(f, s, dev, CR_REC_ADVANCE, dp->adv->blob,
			    dp->adv->blob_len, dp->adv_digest);
}

struct push_walk {
	struct rn_fleet *f;
	struct fleet_dep *dp;
	int deploy;
};

static int push_walk_one(void *arg, const uint8_t *dev, const struct rn_pres *v)
{
	struct push_walk *w = arg;
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
	struct cr_sess *s;
	size_t n;

	if (dev == NULL)
		return 0;
	s = w->f->ops.device(w->f->ctx, dev);
	if (s == NULL)
		return 0;
	n = pres_tags(v->rec, v->rec_len, tags);
	if (cr_deploy_targets(w->dp->d, dev, (const char(*)[CP_TAG_STR_MAX])tags,
			      n))
		push_dep(w->f, s, dev, w->dp, w->deploy);
	return 0;
}

/* A new deployment (deploy) or advance: to every attached device it
 * targets. */
static void push_all(struct rn_fleet *f, struct fleet_dep *dp, int deploy)
{
	struct push_walk w = { f, dp, deploy };

	rn_pres_foreach(f->kv, push_walk_one, &w, NULL);
}

/* ---- configs to devices ------------------------------------------------------ */

/* A config (stored, so verified) goes to a device it targets, unexpired
 * (cr_appcfg_accept at version 0: every check but the version, which the
 * device makes against its own). */
static void push_config(struct rn_fleet *f, struct cr_sess *s,
			const uint8_t dev[CR_ID_HASHLEN],
			const char (*tags)[CP_TAG_STR_MAX], size_t n_tags,
			const struct cr_appcfg *c)
{
	uint8_t digest[32];

	if (cr_appcfg_accept(c, c->app, dev, tags, n_tags, 0, cr_now_unix(),
			     NULL) < 0)
		return;
	crypto_generichash(digest, 32, c->blob, c->blob_len, NULL, 0);
	fleet_send_record(f, s, CR_REC_CONFIG, c->blob, c->blob_len, digest,
			  0);
	f->st.pushed++;
}

struct cfg_walk {
	struct rn_fleet *f;
	struct cr_sess *s;
	const uint8_t *dev;
	const char (*tags)[CP_TAG_STR_MAX];
	size_t n_tags;
};

/* Every stored config ('C' keys) that targets w->dev. */
static int cfg_walk_one(void *arg, const void *key, size_t klen,
			const void *val, size_t vlen)
{
	struct cfg_walk *w = arg;
	struct cr_appcfg *c = NULL;

	if (klen < 1 || ((const uint8_t *)key)[0] != 'C')
		return 1;
	if (vlen <= FLEET_SEQ_LEN ||
	    cr_appcfg_decode((const uint8_t *)val + FLEET_SEQ_LEN,
			     vlen - FLEET_SEQ_LEN, NULL, &c, NULL) < 0)
		return 0;
	push_config(w->f, w->s, w->dev, w->tags, w->n_tags, c);
	cr_appcfg_free(c);
	return 0;
}

struct cfg_all {
	struct rn_fleet *f;
	const struct cr_appcfg *c;
};

static int cfg_all_one(void *arg, const uint8_t *dev, const struct rn_pres *v)
{
	struct cfg_all *w = arg;
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
	struct cr_sess *s;
	size_t n;

	if (dev == NULL || (s = w->f->ops.device(w->f->ctx, dev)) == NULL)
		return 0;
	n = pres_tags(v->rec, v->rec_len, tags);
	push_config(w->f, s, dev, (const char(*)[CP_TAG_STR_MAX])tags, n, w->c);
	return 0;
}

/* A new config: to every attached device it targets. */
static void push_config_all(struct rn_fleet *f, const uint8_t *blob,
			    size_t len)
{
	struct cfg_all w = { f, NULL };
	struct cr_appcfg *c = NULL;

	if (cr_appcfg_decode(blob, len, NULL, &c, NULL) < 0)
		return;
	w.c = c;
	rn_pres_foreach(f->kv, cfg_all_one, &w, NULL);
	cr_appcfg_free(c);
}

void rn_fleet_on_attach(struct rn_fleet *f, struct cr_sess *s,
			const uint8_t dev[CR_ID_HASHLEN])
{
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
	uint8_t pv[RN_PRES_VALUE_MAX];
	struct rn_pres pres;
	uint64_t now = cr_now_unix();
	size_t n = 0;

	if (f->n_deps == 0)
		return;
	if (rn_pres_get(f->kv, dev, pv, &pres, NULL) == 0)
		n = pres_tags(pres.rec, pres.rec_len, tags);
	for (size_t i = 0; i < f->n_deps; i++) {
		struct fleet_dep *dp = &f->deps[i];

		if (cr_deploy_expired(dp->d, now))
			continue;
		if (cr_deploy_targets(dp->d, dev,
				      (const char(*)[CP_TAG_STR_MAX])tags, n))
			push_dep(f, s, dev, dp, 1);
	}
	/* Its configs after the deployments: a config is for an app that
	 * runs. */
	{
		struct cfg_walk w = {
			f, s, dev, (const char(*)[CP_TAG_STR_MAX])tags, n
		};
		uint8_t start[1] = { 'C' };

		cr_kv_foreach_from(f->kv, fleet_db, start, 1, cfg_walk_one, &w,
				   NULL);
	}
}

static void push_retry(struct rn_fleet *f, uint64_t now)
{
	size_t pos = 0;
	const void *key;
	void *val;
	uint8_t dead[64][32];
	size_t n_dead = 0;

	while (cr_map_next(f->pending, &pos, &key, &val)) {
		struct fleet_push *p = val;
		struct fleet_dep *dp = NULL;
		struct cr_sess *s;
		uint64_t gap;
		int found = 0;

		if (p->next_ms > now)
			continue;
		s = f->ops.device(f->ctx, p->dev);
		for (size_t i = 0; i < f->n_deps && !found; i++) {
			dp = &f->deps[i];
			found = (p->kind == CR_REC_DEPLOYMENT &&
				 memcmp(dp->rec_digest, p->digest, 32) == 0) ||
				(p->kind == CR_REC_ADVANCE && dp->adv != NULL &&
				 memcmp(dp->adv_digest, p->digest, 32) == 0);
		}
		/* Never given up while the device stays: a push lost five
		 * times in a row (a loaded node, a device on a bad uplink)
		 * would otherwise wait for the device's next attach. */
		if (s == NULL || !found) {
			if (n_dead < 64)
				memcpy(dead[n_dead++], key, 32);
			continue;
		}
		if (p->kind == CR_REC_DEPLOYMENT)
			fleet_send_record(f, s, p->kind, dp->d->blob,
					  dp->d->blob_len, p->digest, 0);
		else
			fleet_send_record(f, s, p->kind, dp->adv->blob,
					  dp->adv->blob_len, p->digest, 0);
		if (p->tries < UINT32_MAX)
			p->tries++;
		gap = (uint64_t)FLEET_PUSH_RETRY_MS * p->tries;
		p->next_ms = now + (gap < FLEET_PUSH_RETRY_MAX_MS ?
					    gap :
					    FLEET_PUSH_RETRY_MAX_MS);
		f->st.push_retries++;
	}
	for (size_t i = 0; i < n_dead; i++)
		free(cr_map_del(f->pending, dead[i]));
}

/* ---- storing --------------------------------------------------------------- */

/* Remembers a record passed on to peer s until s answers; the request id
 * to send it with (0: not tracked, past FLEET_FWD_MAX). */
static uint64_t fwd_track(struct rn_fleet *f, struct cr_sess *s,
			  uint32_t kind, const uint8_t *blob, size_t len,
			  const uint8_t digest[32])
{
	uint8_t key[32];
	struct fleet_fwd *w;

	push_key(cr_sess_peer_id(s)->hash, digest, key);
	w = cr_map_get(f->fwd, key);
	if (w == NULL) {
		if (cr_map_count(f->fwd) >= FLEET_FWD_MAX ||
		    (w = malloc(sizeof(*w) + len)) == NULL)
			return 0;
		if (cr_map_put(f->fwd, key, w) < 0) {
			free(w);
			return 0;
		}
		memcpy(w->peer, cr_sess_peer_id(s)->hash, CR_ID_HASHLEN);
		memcpy(w->digest, digest, 32);
		w->kind = kind;
		w->len = len;
		memcpy(w->blob, blob, len);
		w->req_id = FLEET_FWD_REQ | ++f->fwd_seq;
	}
	w->tries = 1;
	w->next_ms = cr_now_ms() + FLEET_FWD_RETRY_MS;
	return w->req_id;
}

/* The established session to the peer whose identity hash is id. */
static struct cr_sess *fwd_peer(struct rn_fleet *f, const uint8_t *id)
{
	size_t n = rn_peers_n_nodes(f->peers);

	for (size_t i = 0; i < n; i++) {
		struct cr_sess *s = rn_peers_sess(f->peers, i);

		if (s != NULL &&
		    memcmp(cr_sess_peer_id(s)->hash, id, CR_ID_HASHLEN) == 0)
			return s;
	}
	return NULL;
}

static void fwd_retry(struct rn_fleet *f, uint64_t now)
{
	size_t pos = 0;
	const void *key;
	void *val;
	uint8_t dead[64][32];
	size_t n_dead = 0;

	while (cr_map_next(f->fwd, &pos, &key, &val)) {
		struct fleet_fwd *w = val;
		struct cr_sess *s;

		if (w->next_ms > now)
			continue;
		s = fwd_peer(f, w->peer);
		if (s == NULL || w->tries >= FLEET_FWD_TRIES) {
			if (n_dead < 64)
				memcpy(dead[n_dead++], key, 32);
			continue;
		}
		fleet_send_record(f, s, w->kind, w->blob, w->len, w->digest,
				  w->req_id);
		w->next_ms = now + ((uint64_t)FLEET_FWD_RETRY_MS << w->tries);
		w->tries++;
		f->st.fwd_retries++;
	}
	for (size_t i = 0; i < n_dead; i++)
		free(cr_map_del(f->fwd, dead[i]));
}

/* A peer refused a record we passed on: final, as an acknowledgement. */
static void fwd_refused(struct rn_fleet *f, struct cr_sess *s, uint64_t req_id)
{
	size_t pos = 0;
	const void *key;
	void *val;

	if ((req_id & FLEET_FWD_REQ) == 0)
		return;
	while (cr_map_next(f->fwd, &pos, &key, &val)) {
		struct fleet_fwd *w = val;

		if (w->req_id == req_id &&
		    memcmp(w->peer, cr_sess_peer_id(s)->hash, CR_ID_HASHLEN) ==
			    0) {
			free(cr_map_del(f->fwd, key));
			return;
		}
	}
}

/* Passes a record just stored on to other nodes: every node for
 * deployments and advances, the home set of the deployment for reports. */
static void fleet_forward(struct rn_fleet *f, struct cr_sess *from,
			  uint32_t kind, const uint8_t *blob, size_t len,
			  const uint8_t digest[32], const uint8_t *home_key)
{
	size_t idx[64], n;

	if (kind == CR_REC_REPORT) {
		n = rn_peers_home_of(f->peers, home_key, idx, 64);
	} else {
		n = rn_peers_n_nodes(f->peers);
		if (n > 64)
			n = 64;
		for (size_t i = 0; i < n; i++)
			idx[i] = i;
	}
	for (size_t i = 0; i < n; i++) {
		struct cr_sess *s = rn_peers_sess(f->peers, idx[i]);

		uint64_t req;

		if (s == NULL || s == from)
			continue;
		req = fwd_track(f, s, kind, blob, len, digest);
		if (req != 0 && (f->cfg.byzantine & RN_BYZ_FLEET_LOSSY)) {
			fleet_byz_told(f, RN_BYZ_FLEET_LOSSY);
			continue; /* test mode: this copy is lost */
		}
		fleet_send_record(f, s, kind, blob, len, digest, req);
	}
}

static void fleet_byz_report(struct rn_fleet *f, const uint8_t *blob,
			     size_t len, const uint8_t home_key[32])
{
	uint8_t lie[CP_FLEET_RECORD_MAX], digest[32];
	size_t n;

	if ((f->cfg.byzantine & RN_BYZ_FLEET_FORGE) &&
	    (n = rn_byz_forge_report(blob, len, lie, CP_REPORT_MAX)) > 0) {
		crypto_generichash(digest, 32, lie, n, NULL, 0);
		fleet_forward(f, NULL, CR_REC_REPORT, lie, n, digest,
			      home_key);
		fleet_byz_told(f, RN_BYZ_FLEET_FORGE);
	}
	if ((f->cfg.byzantine & RN_BYZ_FLEET_REPLAY) &&
	    (n = fleet_byz_first(f, CR_REC_REPORT, blob, len, lie,
				 CP_REPORT_MAX)) > 0) {
		crypto_generichash(digest, 32, lie, n, NULL, 0);
		fleet_forward(f, NULL, CR_REC_REPORT, lie, n, digest,
			      home_key);
		fleet_byz_told(f, RN_BYZ_FLEET_REPLAY);
	}
}

static int fleet_room(struct rn_fleet *f, struct cr_error **err)
{
	if (f->cfg.max_records != 0 &&
	    (uint64_t)cr_kv_count(f->kv, fleet_db) >= f->cfg.max_records)
		return cr_error_set(err, ENOSPC,
				    "this node holds its limit of %llu fleet "
				    "records",
				    (unsigned long long)f->cfg.max_records);
	return 0;
}

/* The trust root a fleet's deployments pinned on this node, or NULL. */
static struct cr_trust *fleet_pin(struct rn_fleet *f, const uint8_t vendor[32],
				  uint8_t tkey[33])
{
	struct cr_trust *pin = NULL;
	uint8_t *tblob = NULL;
	uint64_t tseq;
	size_t tlen;

	tkey[0] = 'T';
	memcpy(tkey + 1, vendor, 32);
	if (fleet_get_kv(f, tkey, 33, &tseq, &tblob, &tlen) == 0) {
		if (cr_trust_decode(tblob, tlen, NULL, 0, &pin, NULL) < 0)
			pin = NULL;
		free(tblob);
	}
	return pin;
}

/* Stores blob at key when seq is above the stored one (room permitting
 * for a new key): 1 stored, 0 held at *seq already (same set when the
 * stored record is this one), -1 with *err. */
static int store_newer(struct rn_fleet *f, const uint8_t *key, size_t klen,
		       uint64_t seq, const uint8_t *blob, size_t len,
		       uint64_t *stored_seq, int *same, struct cr_error **err)
{
	uint8_t *old = NULL;
	uint64_t stored;
	size_t olen;

	if (fleet_get_kv(f, key, klen, &stored, &old, &olen) == 0) {
		if (same != NULL)
			*same = olen == len && memcmp(old, blob, len) == 0;
		free(old);
		if (stored >= seq) {
			*stored_seq = stored;
			return 0;
		}
	} else if (fleet_room(f, err) < 0) {
		return -1;
	}
	if (fleet_put_kv(f, key, klen, seq, blob, len, err) < 0)
		return -1;
	*stored_seq = seq;
	return 1;
}

/* 1 stored, 0 held at *seq already, -1 with *err. */
static int store_deploy(struct rn_fleet *f, const uint8_t *blob, size_t len,
			uint64_t *seq, struct fleet_dep **out,
			struct cr_error **err)
{
	uint8_t vendor[32], key[FLEET_KEY_MAX], tkey[33];
	char app[CR_FLEET_APP_MAX];
	uint64_t pseq;
	size_t klen;
	struct cr_trust *pin;
	struct cr_deploy *d = NULL;
	struct fleet_dep *dp;
	int rc;

	if (cr_fleet_rec_peek(CR_REC_DEPLOYMENT, blob, len, vendor, app,
			      &pseq) < 0)
		return cr_error_set(err, EBADMSG, "deployment is malformed");
	pin = fleet_pin(f, vendor, tkey);
	rc = cr_deploy_decode(blob, len, pin, &d, err);
	if (rc == 0 && cr_deploy_expired(d, cr_now_unix()))
		rc = cr_error_set(err, ESTALE, "deployment of %s seq %llu has "
				  "expired", d->app,
				  (unsigned long long)d->seq);
	if (rc < 0) {
		cr_trust_free(pin);
		cr_deploy_free(d);
		return -1;
	}
	dp = dep_find(f, vendor, app);
	if (dp != NULL && dp->d->seq >= d->seq) {
		*seq = dp->d->seq;
		*out = dp;
		cr_trust_free(pin);
		cr_deploy_free(d);
		return 0;
	}
	if (dp == NULL && f->cfg.apps_per_vendor != 0 &&
	    vendor_apps(f, vendor) >= f->cfg.apps_per_vendor)
		rc = cr_error_set(err, ENOSPC,
				  "this fleet holds its limit of %llu "
				  "deployments on this node",
				  (unsigned long long)f->cfg.apps_per_vendor);
	if (rc == 0 && dp == NULL)
		rc = fleet_room(f, err);
	klen = key_app(key, 'D', vendor, app);
	if (rc == 0)
		rc = fleet_put_kv(f, key, klen, d->seq, blob, len, err);
	if (rc == 0 && (pin == NULL || d->trust->version > pin->version))
		rc = fleet_put_kv(f, tkey, sizeof(tkey), d->trust->version,
				  d->trust->blob, d->trust->blob_len, err);
	cr_trust_free(pin);
	if (rc < 0) {
		cr_deploy_free(d);
		return -1;
	}
	key[0] = 'A';
	cr_kv_del(f->kv, fleet_db, key, klen, NULL);
	if (dp == NULL) {
		if (f->n_deps == f->cap_deps) {
			size_t cap = f->cap_deps ? 2 * f->cap_deps : 8;
			struct fleet_dep *n = realloc(f->deps,
						      cap * sizeof(*n));

			if (n == NULL) {
				cr_deploy_free(d);
				return cr_error_errno(err, ENOMEM,
						      "holding a deployment");
			}
			f->deps = n;
			f->cap_deps = cap;
		}
		dp = &f->deps[f->n_deps++];
		memset(dp, 0, sizeof(*dp));
	} else {
		dep_clear(dp);
	}
	dp->d = d;
	crypto_generichash(dp->rec_digest, 32, blob, len, NULL, 0);
	*seq = d->seq;
	*out = dp;
	return 1;
}

static int store_advance(struct rn_fleet *f, const uint8_t *blob, size_t len,
			 uint64_t *seq, struct fleet_dep **out,
			 struct cr_error **err)
{
	uint8_t vendor[32], key[FLEET_KEY_MAX];
	char app[CR_FLEET_APP_MAX];
	struct cr_advance *a = NULL;
	struct fleet_dep *dp;
	uint64_t wave;
	size_t klen;

	if (cr_fleet_rec_peek(CR_REC_ADVANCE, blob, len, vendor, app, &wave) <
	    0)
		return cr_error_set(err, EBADMSG, "advance is malformed");
	dp = dep_find(f, vendor, app);
	if (dp == NULL)
		return cr_error_set(err, ENOENT,
				    "advance of %s: no deployment of it here",
				    app);
	if (cr_advance_decode(blob, len, dp->d->trust, &a, err) < 0)
		return -1;
	if (memcmp(a->deployment, dp->d->digest, 32) != 0) {
		cr_advance_free(a);
		return cr_error_set(err, ESTALE,
				    "advance of %s is for another deployment "
				    "than the newest held",
				    app);
	}
	if (a->wave >= dp->d->n_waves) {
		cr_advance_free(a);
		return cr_error_set(err, EBADMSG,
				    "advance of %s opens wave %u of %zu", app,
				    (unsigned)a->wave, dp->d->n_waves);
	}
	if (dp->adv != NULL && dp->adv->wave >= a->wave) {
		*seq = dp->adv->wave;
		*out = dp;
		cr_advance_free(a);
		return 0;
	}
	klen = key_app(key, 'A', vendor, app);
	if ((dp->adv == NULL && fleet_room(f, err) < 0) ||
	    fleet_put_kv(f, key, klen, a->wave, blob, len, err) < 0) {
		cr_advance_free(a);
		return -1;
	}
	cr_advance_free(dp->adv);
	dp->adv = a;
	crypto_generichash(dp->adv_digest, 32, blob, len, NULL, 0);
	*seq = a->wave;
	*out = dp;
	return 1;
}

static int store_report(struct rn_fleet *f, const uint8_t *blob, size_t len,
			uint64_t *seq, uint8_t home_key[32],
			struct cr_error **err)
{
	static struct cr_report r; /* large; the loop is single-threaded */
	uint8_t key[65], pv[RN_PRES_VALUE_MAX];
	struct fleet_dep *dp;
	struct rn_pres pres;

	if (cr_report_decode(blob, len, &r, err) < 0)
		return -1;
	dp = dep_by_digest(f, r.deployment);
	if (dp == NULL)
		return cr_error_set(err, ENOENT,
				    "status report for a deployment this node "
				    "does not hold");
	/* Only devices the deployment targets report on it (by id, or by
	 * the tags of the presence held here). */
	if (!cr_deploy_targets(dp->d, r.device.hash, NULL, 0) &&
	    rn_pres_get(f->kv, r.device.hash, pv, &pres, NULL) == 0) {
		char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
		size_t n = pres_tags(pres.rec, pres.rec_len, tags);

		if (!cr_deploy_targets(dp->d, r.device.hash,
				       (const char(*)[CP_TAG_STR_MAX])tags, n))
			return cr_error_set(err, EACCES,
					    "status report of a device the "
					    "deployment does not target");
	}
	key[0] = 'R';
	memcpy(key + 1, r.deployment, 32);
	memcpy(key + 33, r.device.hash, 32);
	memcpy(home_key, r.deployment, 32);
	return store_newer(f, key, sizeof(key), r.seq, blob, len, seq, NULL,
			   err);
}

/* A config (cr/appconfig.h, kind 4): checked against the trust root its
 * fleet's deployments pinned here, the newest version kept per (fleet,
 * app, targets).  Not pushed to devices yet (docs/fleet.md). */
static int store_config(struct rn_fleet *f, const uint8_t *blob, size_t len,
			uint64_t *seq, struct cr_error **err)
{
	uint8_t tkey[33], key[33];
	crypto_generichash_state h;
	struct cr_trust *pin;
	struct cr_appcfg *c = NULL;
	int rc, same = 0;

	if (cr_appcfg_decode(blob, len, NULL, &c, err) < 0)
		return -1;
	pin = fleet_pin(f, c->vendor_id, tkey);
	c = cr_appcfg_free(c);
	if (pin == NULL)
		return cr_error_set(err, ENOENT,
				    "config of a fleet without a deployment "
				    "on this node (deploy the app first)");
	rc = cr_appcfg_decode(blob, len, pin, &c, err);
	cr_trust_free(pin);
	if (rc < 0)
		return -1;
	key[0] = 'C';
	crypto_generichash_init(&h, NULL, 0, 32);
	crypto_generichash_update(&h, c->vendor_id, 32);
	crypto_generichash_update(&h, (const uint8_t *)c->app,
				  strlen(c->app) + 1);
	if (c->n_devices > 0)
		crypto_generichash_update(&h, (const uint8_t *)c->devices,
					  c->n_devices * CR_ID_HASHLEN);
	for (size_t i = 0; i < c->n_tags; i++)
		crypto_generichash_update(&h, (const uint8_t *)c->tags[i],
					  strlen(c->tags[i]) + 1);
	crypto_generichash_final(&h, key + 1, 32);
	rc = store_newer(f, key, sizeof(key), c->version, blob, len, seq,
			 &same, err);
	/* Held already (a copy forwarded by another node), or not newer: a
	 * config only goes up. */
	if (rc == 0 && !same)
		rc = cr_error_set(err, ESTALE,
				  "config version %" PRIu64 " is not above "
				  "the stored %" PRIu64,
				  c->version, *seq);
	cr_appcfg_free(c);
	return rc;
}

static void health_seen(struct rn_fleet *f, const uint8_t dev[32],
			uint64_t now_s)
{
	if (f->health_at != NULL)
		cr_map_put(f->health_at, dev, (void *)(uintptr_t)(now_s + 1));
}

struct health_ttl_walk {
	struct rn_fleet *f;
	uint64_t now_s;
	uint8_t keys[256][33];
	size_t n;
};

/* Health records older than the TTL, a batch at a time. */
static int health_stale_one(void *arg, const void *key, size_t klen,
			    const void *val, size_t vlen)
{
	struct health_ttl_walk *w = arg;
	const uint8_t *k = key;
	uintptr_t at;

	(void)val;
	(void)vlen;
	if (klen < 1 || k[0] != 'H')
		return 1;
	if (klen != 33)
		return 0;
	at = (uintptr_t)cr_map_get(w->f->health_at, k + 1);
	if (at == 0) {
		health_seen(w->f, k + 1, w->now_s);
		return 0;
	}
	if (w->now_s - (at - 1) < w->f->cfg.health_ttl_ms / 1000)
		return 0;
	memcpy(w->keys[w->n++], k, 33);
	return w->n == 256;
}

static void health_sweep(struct rn_fleet *f, uint64_t now_ms)
{
	struct health_ttl_walk *w;
	uint8_t start[1] = { 'H' };

	if (f->cfg.health_ttl_ms == 0 || f->health_at == NULL ||
	    (w = calloc(1, sizeof(*w))) == NULL)
		return;
	w->f = f;
	w->now_s = now_ms / 1000;
	cr_kv_foreach_from(f->kv, fleet_db, start, 1, health_stale_one, w,
			   NULL);
	for (size_t i = 0; i < w->n; i++) {
		cr_kv_del(f->kv, fleet_db, w->keys[i], 33, NULL);
		cr_map_del(f->health_at, w->keys[i] + 1);
		f->st.health_expired++;
	}
	free(w);
}

/* A device's health record (cr/health.h): only from the device itself,
 * the newest (highest seq) kept per device under 'H' || device. */
static int store_health(struct rn_fleet *f, struct cr_sess *s,
			const uint8_t *blob, size_t len, uint64_t *seq,
			struct cr_error **err)
{
	/* Several KiB: on the heap, not on the stack. */
	CR_CLEANUP_FREE struct cr_devhealth *h = calloc(1, sizeof(*h));
	uint8_t key[33];
	int rc;

	if (h == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (cr_devhealth_decode(blob, len, h, err) < 0)
		return -1;
	if (memcmp(h->device.hash, cr_sess_peer_id(s)->hash,
		   CR_ID_HASHLEN) != 0)
		return cr_error_set(err, EACCES,
				    "health record of another device than "
				    "the sender");
	key[0] = 'H';
	memcpy(key + 1, h->device.hash, 32);
	rc = store_newer(f, key, sizeof(key), h->seq, blob, len, seq, NULL,
			 err);
	if (rc == 1)
		health_seen(f, h->device.hash, cr_now_ms() / 1000);
	/* Stored, and not forwarded: the CLI asks every node. */
	return rc == 1 ? 2 : rc;
}

static void fleet_record(struct rn_fleet *f, struct cr_sess *s, uint32_t kind,
			 const uint8_t *blob, size_t len,
			 const uint8_t digest[32], uint64_t req_id)
{
	struct cr_error *err = NULL;
	struct fleet_dep *dp = NULL;
	uint8_t home[32] = { 0 };
	uint64_t seq = 0;
	int rc;

	if (f->cfg.byzantine & RN_BYZ_FLEET_DROP) {
		/* Test mode: acknowledged, never stored, passed on or
		 * pushed. */
		static struct cr_report r; /* large; single-threaded loop */

		fleet_byz_told(f, RN_BYZ_FLEET_DROP);
		/* A dropped report may still come back forged. */
		if (kind == CR_REC_REPORT &&
		    (f->cfg.byzantine & RN_BYZ_FLEET_FORGE) &&
		    cr_report_decode(blob, len, &r, NULL) == 0)
			fleet_byz_report(f, blob, len, r.deployment);
		rc = 2;
		goto ack;
	}
	switch (kind) {
	case CR_REC_DEPLOYMENT:
		rc = store_deploy(f, blob, len, &seq, &dp, &err);
		break;
	case CR_REC_ADVANCE:
		rc = store_advance(f, blob, len, &seq, &dp, &err);
		break;
	case CR_REC_REPORT:
		rc = store_report(f, blob, len, &seq, home, &err);
		break;
	case CR_REC_CONFIG:
		rc = store_config(f, blob, len, &seq, &err);
		break;
	case CR_REC_HEALTH:
		rc = store_health(f, s, blob, len, &seq, &err);
		break;
	default:
		rc = cr_error_set(&err, EBADMSG, "unknown fleet record kind");
		break;
	}
	if (rc < 0) {
		Carrier__Error__Code code =
			err->code == ENOSPC ? CARRIER__ERROR__CODE__LIMIT :
			err->code == ESTALE ? CARRIER__ERROR__CODE__STALE :
			err->code == ENOENT ? CARRIER__ERROR__CODE__NOT_FOUND :
					      CARRIER__ERROR__CODE__REJECTED;

		if (kind <= CR_REC_REPORT)
			f->st.refused[kind & 3]++;
		if (cr_log_ratelimit_ok(&f->rl, cr_now_ms())) {
			char ids[CR_ID_STRMAX];

			cr_log_info("refused a fleet record from %s: %s",
				    cr_id_format(cr_sess_peer_id(s), ids),
				    cr_error_msg(err));
		}
		if (req_id != 0)
			fleet_error(s, req_id, code, cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	if (rc == 1) {
		f->st.stored[kind & 3]++;
		if (f->cfg.byzantine)
			fleet_byz_remember(f, kind, blob, len);
		fleet_forward(f, s, kind, blob, len, digest, home);
		if (f->cfg.byzantine && kind == CR_REC_REPORT)
			fleet_byz_report(f, blob, len, home);
		if (dp != NULL)
			push_all(f, dp, kind == CR_REC_DEPLOYMENT);
		if (kind == CR_REC_CONFIG)
			push_config_all(f, blob, len);
	}
ack:
	if (req_id != 0) {
		Carrier__Hop m = CARRIER__HOP__INIT;
		Carrier__FleetAck a = CARRIER__FLEET_ACK__INIT;

		a.kind = kind;
		a.digest.data = (uint8_t *)(uintptr_t)digest;
		a.digest.len = 32;
		a.seq = seq;
		m.req_id = req_id;
		m.msg_case = CARRIER__HOP__MSG_FLEET_ACK;
		m.fleet_ack = &a;
		fleet_send(s, &m);
	}
}

/* ---- pieces ----------------------------------------------------------------- */

static void asm_free(struct fleet_asm *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

static struct fleet_asm *asm_slot(struct rn_fleet *f, const uint8_t peer[32],
				  const Carrier__FleetPut *p, uint64_t now)
{
	struct fleet_asm *free_slot = NULL, *oldest = NULL;
	size_t mine = 0;

	for (size_t i = 0; i < FLEET_ASM_MAX; i++) {
		struct fleet_asm *a = &f->asm_[i];

		if (a->used && now - a->last_ms > FLEET_ASM_TIMEOUT_MS)
			asm_free(a);
		if (!a->used) {
			if (free_slot == NULL)
				free_slot = a;
			continue;
		}
		if (memcmp(a->peer, peer, 32) == 0) {
			if (memcmp(a->digest, p->digest.data, 32) == 0 &&
			    a->total == p->total && a->kind == p->kind)
				return a;
			mine++;
			if (oldest == NULL || a->last_ms < oldest->last_ms)
				oldest = a;
		}
	}
	/* A peer holds a few slots at most: its newest records win. */
	if (mine >= FLEET_ASM_PER_PEER && oldest != NULL) {
		asm_free(oldest);
		free_slot = oldest;
	}
	if (free_slot == NULL)
		return NULL;
	free_slot->buf = malloc(p->total);
	if (free_slot->buf == NULL)
		return NULL;
	free_slot->used = 1;
	memcpy(free_slot->peer, peer, 32);
	memcpy(free_slot->digest, p->digest.data, 32);
	free_slot->kind = p->kind;
	free_slot->total = p->total;
	free_slot->n_pieces = (p->total + CP_FLEET_PIECE - 1) / CP_FLEET_PIECE;
	return free_slot;
}

static void on_put(struct rn_fleet *f, struct cr_sess *s, const Carrier__Hop *m)
{
	const Carrier__FleetPut *p = m->fleet_put;
	uint8_t h[32];
	struct fleet_asm *a;
	uint32_t idx;
	uint64_t now = cr_now_ms();

	f->st.pieces_in++;
	if (p->digest.len != 32 || p->kind < CR_REC_DEPLOYMENT ||
	    (p->kind > CR_REC_REPORT && p->kind != CR_REC_CONFIG &&
	     p->kind != CR_REC_HEALTH) ||
	    (p->kind == CR_REC_HEALTH && p->total > CR_HEALTH_MAX) ||
	    p->total == 0 ||
	    p->total > CP_FLEET_RECORD_MAX ||
	    (p->kind == CR_REC_REPORT && p->total > CP_REPORT_MAX) ||
	    p->offset % CP_FLEET_PIECE != 0 || p->offset >= p->total ||
	    p->data.len != (p->total - p->offset < CP_FLEET_PIECE ?
				    p->total - p->offset :
				    CP_FLEET_PIECE)) {
		if (m->req_id != 0)
			fleet_error(s, m->req_id,
				    CARRIER__ERROR__CODE__BAD_REQUEST,
				    "fleet record piece out of bounds");
		return;
	}
	/* A record in one piece needs no slot. */
	if (p->total <= CP_FLEET_PIECE) {
		crypto_generichash(h, 32, p->data.data, p->data.len, NULL, 0);
		if (memcmp(h, p->digest.data, 32) == 0)
			fleet_record(f, s, p->kind, p->data.data, p->data.len,
				     h, m->req_id);
		return;
	}
	a = asm_slot(f, cr_sess_peer_id(s)->hash, p, now);
	if (a == NULL) {
		if (m->req_id != 0)
			fleet_error(s, m->req_id, CARRIER__ERROR__CODE__LIMIT,
				    "node busy reassembling records; retry");
		return;
	}
	a->last_ms = now;
	if (m->req_id != 0)
		a->req_id = m->req_id;
	idx = p->offset / CP_FLEET_PIECE;
	if (!(a->got[idx / 8] & (1u << (idx % 8)))) {
		a->got[idx / 8] |= (uint8_t)(1u << (idx % 8));
		memcpy(a->buf + p->offset, p->data.data, p->data.len);
		a->n_got++;
	}
	if (a->n_got < a->n_pieces)
		return;
	crypto_generichash(h, 32, a->buf, a->total, NULL, 0);
	if (memcmp(h, a->digest, 32) == 0)
		fleet_record(f, s, a->kind, a->buf, a->total, h, a->req_id);
	else if (a->req_id != 0)
		fleet_error(s, a->req_id, CARRIER__ERROR__CODE__REJECTED,
			    "fleet record does not match its digest");
	asm_free(a);
}

static void on_ack(struct rn_fleet *f, struct cr_sess *s,
		   const Carrier__FleetAck *a)
{
	uint8_t key[32];

	if (a->digest.len != 32)
		return;
	push_key(cr_sess_peer_id(s)->hash, a->digest.data, key);
	if (cr_sess_peer_id(s)->type == CR_ID_DEVICE)
		free(cr_map_del(f->pending, key));
	else if (cr_sess_peer_id(s)->type == CR_ID_NODE)
		free(cr_map_del(f->fwd, key));
}

/* ---- queries ------------------------------------------------------------------ */

static void on_get(struct rn_fleet *f, struct cr_sess *s, const Carrier__Hop *m)
{
	const Carrier__FleetGet *g = m->fleet_get;
	struct fleet_dep *dp;
	const uint8_t *blob;
	const uint8_t *digest;
	size_t len;
	char app[CR_FLEET_APP_MAX];
	Carrier__Hop r = CARRIER__HOP__INIT;
	Carrier__FleetPut p = CARRIER__FLEET_PUT__INIT;

	if (g->vendor_id.len != 32 || g->app == NULL ||
	    strlen(g->app) >= sizeof(app)) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			    "fleet get: a fleet id and an app");
		return;
	}
	dp = dep_find(f, g->vendor_id.data, g->app);
	if (dp != NULL && cr_deploy_expired(dp->d, cr_now_unix()))
		dp = NULL;
	if (dp == NULL || (g->kind == CR_REC_ADVANCE && dp->adv == NULL)) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__NOT_FOUND,
			    g->kind == CR_REC_ADVANCE ?
				    "no advance held for this app" :
				    "no deployment held for this app");
		return;
	}
	if (g->kind == CR_REC_ADVANCE) {
		blob = dp->adv->blob;
		len = dp->adv->blob_len;
		digest = dp->adv_digest;
	} else {
		blob = dp->d->blob;
		len = dp->d->blob_len;
		digest = dp->rec_digest;
	}
	if (g->offset % CP_FLEET_PIECE != 0 || g->offset >= len) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			    "fleet get: offset out of the record");
		return;
	}
	p.kind = g->kind == CR_REC_ADVANCE ? CR_REC_ADVANCE : CR_REC_DEPLOYMENT;
	p.digest.data = (uint8_t *)(uintptr_t)digest;
	p.digest.len = 32;
	p.total = (uint32_t)len;
	p.offset = g->offset;
	p.data.data = (uint8_t *)(uintptr_t)(blob + g->offset);
	p.data.len = len - g->offset < CP_FLEET_PIECE ? len - g->offset :
							 CP_FLEET_PIECE;
	r.req_id = m->req_id;
	r.msg_case = CARRIER__HOP__MSG_FLEET_PUT;
	r.fleet_put = &p;
	fleet_send(s, &r);
}

static void on_apps(struct rn_fleet *f, struct cr_sess *s, const Carrier__Hop *m)
{
	const Carrier__FleetAppsRequest *q = m->fleet_apps_req;
	Carrier__Hop r = CARRIER__HOP__INIT;
	Carrier__FleetApps a = CARRIER__FLEET_APPS__INIT;
	char *apps[8];
	size_t n = 0;
	const char *after = q->after != NULL ? q->after : "";
	const char *best;

	if (q->vendor_id.len != 32) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			    "fleet apps: a fleet id");
		return;
	}
	/* The apps after `after` in name order, a page at a time. */
	for (;;) {
		best = NULL;
		for (size_t i = 0; i < f->n_deps; i++) {
			const char *app = f->deps[i].d->app;

			if (memcmp(f->deps[i].d->vendor_id, q->vendor_id.data,
				   32) != 0 ||
			    strcmp(app, after) <= 0)
				continue;
			if (best == NULL || strcmp(app, best) < 0)
				best = app;
		}
		if (best == NULL)
			break;
		if (n == 8) {
			a.more = 1;
			break;
		}
		apps[n++] = (char *)(uintptr_t)best;
		after = best;
	}
	a.apps = apps;
	a.n_apps = n;
	r.req_id = m->req_id;
	r.msg_case = CARRIER__HOP__MSG_FLEET_APPS;
	r.fleet_apps = &a;
	fleet_send(s, &r);
}

/*
 * One page of an answer (reports of a deployment, health records): the
 * stored values under a key prefix, copied back to back without their
 * sequence, at most page_bytes of them; next is the 32-byte id after the
 * prefix where the following page starts.
 */
struct page_walk {
	const uint8_t *prefix; /* keys start with it ... */
	size_t prefix_len;
	size_t klen;          /* ... and are this long: prefix + a 32-byte id */
	const uint8_t *after; /* a key to skip (where the last page ended) */
	size_t max;           /* the longest record taken */
	size_t page_bytes;
	uint8_t *store;
	ProtobufCBinaryData *items;
	size_t n, used;
	uint8_t next[32];
	int more;
};

static int page_one(void *arg, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct page_walk *w = arg;

	if (klen != w->klen || memcmp(key, w->prefix, w->prefix_len) != 0)
		return 1;
	if (w->after != NULL && memcmp(key, w->after, klen) == 0)
		return 0;
	if (vlen <= FLEET_SEQ_LEN || vlen - FLEET_SEQ_LEN > w->max)
		return 0;
	if (w->used + vlen - FLEET_SEQ_LEN + 8 > w->page_bytes) {
		w->more = 1;
		return 1;
	}
	memcpy(w->store + w->used, (const uint8_t *)val + FLEET_SEQ_LEN,
	       vlen - FLEET_SEQ_LEN);
	w->items[w->n].data = w->store + w->used;
	w->items[w->n].len = vlen - FLEET_SEQ_LEN;
	w->used += vlen - FLEET_SEQ_LEN;
	w->n++;
	memcpy(w->next, (const uint8_t *)key + w->prefix_len, 32);
	return 0;
}

/* Test mode: the reports of an answer replaced by forged successes
 * (fleet-forge) or the devices' first reports (fleet-replay), as long as
 * the page still fits. */
static void fleet_byz_answer(struct rn_fleet *f, struct page_walk *w)
{
	static uint8_t lies[FLEET_PAGE_BYTES]; /* single-threaded loop */
	uint8_t one[CP_REPORT_MAX];
	size_t used = 0;

	for (size_t i = 0; i < w->n; i++) {
		size_t n = 0;
		unsigned role = 0;

		/* Both roles: every other report replayed, the rest forged. */
		if ((f->cfg.byzantine & RN_BYZ_FLEET_REPLAY) &&
		    (i % 2 == 0 || !(f->cfg.byzantine & RN_BYZ_FLEET_FORGE))) {
			n = fleet_byz_first(f, CR_REC_REPORT, w->items[i].data,
					    w->items[i].len, one, sizeof(one));
			role = RN_BYZ_FLEET_REPLAY;
		}
		if (n == 0 && (f->cfg.byzantine & RN_BYZ_FLEET_FORGE)) {
			n = rn_byz_forge_report(w->items[i].data,
						w->items[i].len, one,
						sizeof(one));
			role = RN_BYZ_FLEET_FORGE;
		}
		if (n == 0 || used + n > sizeof(lies))
			continue;
		memcpy(lies + used, one, n);
		w->items[i].data = lies + used;
		w->items[i].len = n;
		used += n;
		fleet_byz_told(f, role);
	}
}

static void on_reports(struct rn_fleet *f, struct cr_sess *s,
		       const Carrier__Hop *m)
{
	const Carrier__FleetReportsRequest *q = m->fleet_reports_req;
	Carrier__Hop r = CARRIER__HOP__INIT;
	Carrier__FleetReports a = CARRIER__FLEET_REPORTS__INIT;
	uint8_t start[65], store[FLEET_PAGE_BYTES];
	ProtobufCBinaryData items[FLEET_PAGE_BYTES / 64];
	struct page_walk w;

	if (q->deployment.len != 32 ||
	    (q->after.len != 0 && q->after.len != 32)) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			    "fleet reports: a deployment digest");
		return;
	}
	memset(&w, 0, sizeof(w));
	start[0] = 'R';
	memcpy(start + 1, q->deployment.data, 32);
	memset(start + 33, 0, 32);
	w.prefix = start;
	w.prefix_len = 33;
	w.klen = sizeof(start);
	w.max = CP_REPORT_MAX;
	w.page_bytes = FLEET_PAGE_BYTES;
	if (q->after.len == 32) {
		memcpy(start + 33, q->after.data, 32);
		w.after = start;
	}
	w.store = store;
	w.items = items;
	cr_kv_foreach_from(f->kv, fleet_db, start, sizeof(start), page_one,
			   &w, NULL);
	if (f->cfg.byzantine & (RN_BYZ_FLEET_FORGE | RN_BYZ_FLEET_REPLAY))
		fleet_byz_answer(f, &w);
	a.reports = items;
	a.n_reports = w.n;
	if (w.more) {
		a.next.data = w.next;
		a.next.len = 32;
	}
	r.req_id = m->req_id;
	r.msg_case = CARRIER__HOP__MSG_FLEET_REPORTS;
	r.fleet_reports = &a;
	fleet_send(s, &r);
}

struct devices_walk {
	struct rn_fleet *f;
	struct fleet_dep *dp;
	const uint8_t *after;
	Carrier__FleetDevice *devs;
	uint8_t (*ids)[CR_ID_HASHLEN];
	size_t n;
	int more;
	size_t visited;
};

static int devices_one(void *arg, const uint8_t *dev, const struct rn_pres *v)
{
	struct devices_walk *w = arg;
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
	Carrier__FleetDevice *d;
	int online = 0;
	uint64_t ago = 0;
	size_t n;

	if (dev == NULL ||
	    (w->after != NULL && memcmp(dev, w->after, CR_ID_HASHLEN) == 0))
		return 0;
	n = pres_tags(v->rec, v->rec_len, tags);
	if (!cr_deploy_targets(w->dp->d, dev,
			       (const char(*)[CP_TAG_STR_MAX])tags, n))
		return 0;
	if (w->n == FLEET_PAGE_DEVICES) {
		w->more = 1;
		return 1;
	}
	d = &w->devs[w->n];
	carrier__fleet_device__init(d);
	memcpy(w->ids[w->n], dev, CR_ID_HASHLEN);
	d->id.data = w->ids[w->n];
	d->id.len = CR_ID_HASHLEN;
	d->held = w->f->ops.device_state(w->f->ctx, dev, &online, &ago) != 0;
	d->online = online;
	d->last_seen_ms_ago = ago;
	w->n++;
	return 0;
}

static void on_devices(struct rn_fleet *f, struct cr_sess *s,
		       const Carrier__Hop *m)
{
	const Carrier__FleetDevicesRequest *q = m->fleet_devices_req;
	Carrier__Hop r = CARRIER__HOP__INIT;
	Carrier__FleetDevices a = CARRIER__FLEET_DEVICES__INIT;
	Carrier__FleetDevice devs[FLEET_PAGE_DEVICES];
	Carrier__FleetDevice *ptrs[FLEET_PAGE_DEVICES];
	uint8_t ids[FLEET_PAGE_DEVICES][CR_ID_HASHLEN];
	uint8_t start[CR_ID_HASHLEN] = { 0 };
	struct devices_walk w;

	if (q->vendor_id.len != 32 || q->app == NULL ||
	    (q->after.len != 0 && q->after.len != CR_ID_HASHLEN)) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			    "fleet devices: a fleet id and an app");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.f = f;
	w.dp = dep_find(f, q->vendor_id.data, q->app);
	if (w.dp == NULL) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__NOT_FOUND,
			    "no deployment held for this app");
		return;
	}
	if (q->after.len == CR_ID_HASHLEN) {
		memcpy(start, q->after.data, CR_ID_HASHLEN);
		w.after = start;
	}
	w.devs = devs;
	w.ids = ids;
	rn_pres_foreach_from(f->kv, start, devices_one, &w, NULL);
	for (size_t i = 0; i < w.n; i++)
		ptrs[i] = &devs[i];
	a.devices = ptrs;
	a.n_devices = w.n;
	if (w.more) {
		a.next.data = ids[w.n - 1];
		a.next.len = CR_ID_HASHLEN;
	}
	r.req_id = m->req_id;
	r.msg_case = CARRIER__HOP__MSG_FLEET_DEVICES;
	r.fleet_devices = &a;
	fleet_send(s, &r);
}

/* The health records held here, a page in device order after q->after.
 * They are device-signed: the asker checks them, so any session may ask. */
static void on_health_query(struct rn_fleet *f, struct cr_sess *s,
			    const Carrier__Hop *m)
{
	const Carrier__HealthQuery *q = m->health_query;
	Carrier__Hop r = CARRIER__HOP__INIT;
	Carrier__HealthRecords a = CARRIER__HEALTH_RECORDS__INIT;
	uint8_t start[33] = { 'H' }, store[HEALTH_PAGE_BYTES];
	ProtobufCBinaryData items[HEALTH_PAGE_BYTES / 64];
	struct page_walk w;

	if (q->after.len != 0 && q->after.len != 32) {
		fleet_error(s, m->req_id, CARRIER__ERROR__CODE__BAD_REQUEST,
			    "health query: after is a device id");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.prefix = start;
	w.prefix_len = 1;
	w.klen = sizeof(start);
	w.max = CR_HEALTH_MAX;
	w.page_bytes = HEALTH_PAGE_BYTES;
	if (q->after.len == 32) {
		memcpy(start + 1, q->after.data, 32);
		w.after = start;
	}
	w.store = store;
	w.items = items;
	cr_kv_foreach_from(f->kv, fleet_db, start, sizeof(start), page_one,
			   &w, NULL);
	a.records = items;
	a.n_records = w.n;
	if (w.more) {
		a.next.data = w.next;
		a.next.len = 32;
	}
	r.req_id = m->req_id;
	r.msg_case = CARRIER__HOP__MSG_HEALTH_RECORDS;
	r.health_records = &a;
	fleet_send(s, &r);
}

int rn_fleet_on_hop(struct rn_fleet *f, struct cr_sess *s,
		    const Carrier__Hop *m)
{
	switch (m->msg_case) {
	case CARRIER__HOP__MSG_FLEET_PUT:
		on_put(f, s, m);
		return 1;
	case CARRIER__HOP__MSG_FLEET_ACK:
		on_ack(f, s, m->fleet_ack);
		return 1;
	case CARRIER__HOP__MSG_ERROR:
		if (cr_sess_peer_id(s)->type != CR_ID_NODE ||
		    (m->req_id & FLEET_FWD_REQ) == 0)
			return 0;
		fwd_refused(f, s, m->req_id);
		return 1;
	case CARRIER__HOP__MSG_FLEET_GET:
		on_get(f, s, m);
		return 1;
	case CARRIER__HOP__MSG_FLEET_APPS_REQ:
		on_apps(f, s, m);
		return 1;
	case CARRIER__HOP__MSG_FLEET_REPORTS_REQ:
		on_reports(f, s, m);
		return 1;
	case CARRIER__HOP__MSG_HEALTH_QUERY:
		on_health_query(f, s, m);
		return 1;
	case CARRIER__HOP__MSG_FLEET_DEVICES_REQ:
		on_devices(f, s, m);
		return 1;
	default:
		return 0;
	}
}

/* ---- upkeep ---------------------------------------------------------------- */

struct stale_walk {
	struct rn_fleet *f;
	uint8_t keys[256][65];
	size_t n;
};

static int stale_one(void *arg, const void *key, size_t klen, const void *val,
		     size_t vlen)
{
	struct stale_walk *w = arg;

	if (klen < 1 || ((const uint8_t *)key)[0] != 'R')
		return 1;
	if (klen == 65 && dep_by_digest(w->f, (const uint8_t *)key + 1) != NULL)
		return 0;
	if (klen <= 65 && w->n < 256)
		memcpy(w->keys[w->n++], key, klen);
	return w->n == 256;
}

/* Drops expired deployments (and their advances), and the reports of
 * deployments no longer held, a batch at a time. */
static void fleet_sweep(struct rn_fleet *f, uint64_t now_unix)
{
	static struct stale_walk w;
	uint8_t key[FLEET_KEY_MAX], start[1] = { 'R' };
	size_t klen;

	for (size_t i = 0; i < f->n_deps;) {
		struct fleet_dep *dp = &f->deps[i];

		if (!cr_deploy_expired(dp->d, now_unix)) {
			i++;
			continue;
		}
		klen = key_app(key, 'D', dp->d->vendor_id, dp->d->app);
		cr_kv_del(f->kv, fleet_db, key, klen, NULL);
		key[0] = 'A';
		cr_kv_del(f->kv, fleet_db, key, klen, NULL);
		f->st.expired++;
		dep_remove(f, dp);
	}
	memset(&w, 0, sizeof(w));
	w.f = f;
	cr_kv_foreach_from(f->kv, fleet_db, start, 1, stale_one, &w, NULL);
	for (size_t i = 0; i < w.n; i++)
		cr_kv_del(f->kv, fleet_db, w.keys[i], 65, NULL);
}

void rn_fleet_tick(struct rn_fleet *f, uint64_t now_ms)
{
	for (size_t i = 0; i < FLEET_ASM_MAX; i++)
		if (f->asm_[i].used &&
		    now_ms - f->asm_[i].last_ms > FLEET_ASM_TIMEOUT_MS)
			asm_free(&f->asm_[i]);
	if (now_ms - f->last_retry_ms >= 500) {
		f->last_retry_ms = now_ms;
		push_retry(f, now_ms);
		fwd_retry(f, now_ms);
	}
	if (now_ms - f->last_sweep_ms >= FLEET_SWEEP_MS) {
		f->last_sweep_ms = now_ms;
		fleet_sweep(f, cr_now_unix());
		health_sweep(f, now_ms);
	}
}

/* ---- life ------------------------------------------------------------------- */

/* The records held at start, copied out of the read transaction so that
 * storing them again (re-verified against the pins) writes nothing while
 * it is open. */
struct load_walk {
	char tag;
	uint8_t **blobs;
	size_t *lens;
	size_t n, cap;
};

static int load_one(void *arg, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct load_walk *w = arg;
	const uint8_t *k = key;

	if (klen < 1 || k[0] != (uint8_t)w->tag)
		return 1;
	if (vlen <= FLEET_SEQ_LEN)
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		uint8_t **b = realloc(w->blobs, cap * sizeof(*b));
		size_t *l;

		if (b == NULL)
			return 1;
		w->blobs = b;
		l = realloc(w->lens, cap * sizeof(*l));
		if (l == NULL)
			return 1;
		w->lens = l;
		w->cap = cap;
	}
	w->blobs[w->n] = malloc(vlen - FLEET_SEQ_LEN);
	if (w->blobs[w->n] == NULL)
		return 1;
	memcpy(w->blobs[w->n], (const uint8_t *)val + FLEET_SEQ_LEN,
	       vlen - FLEET_SEQ_LEN);
	w->lens[w->n++] = vlen - FLEET_SEQ_LEN;
	return 0;
}

static void fleet_load(struct rn_fleet *f, char tag)
{
	struct load_walk w = { .tag = tag };
	uint8_t start[1] = { (uint8_t)tag };

	cr_kv_foreach_from(f->kv, fleet_db, start, 1, load_one, &w, NULL);
	for (size_t i = 0; i < w.n; i++) {
		struct fleet_dep *dp = NULL;
		struct cr_error *err = NULL;
		uint64_t seq;

		if (tag == 'D')
			store_deploy(f, w.blobs[i], w.lens[i], &seq, &dp, &err);
		else
			store_advance(f, w.blobs[i], w.lens[i], &seq, &dp,
				      &err);
		cr_error_free(err);
		free(w.blobs[i]);
	}
	free(w.blobs);
	free(w.lens);
}

struct rn_fleet *rn_fleet_new(struct cr_kv *kv, struct rn_peers *peers,
			      const struct rn_fleet_cfg *cfg,
			      const struct rn_fleet_ops *ops, void *ctx,
			      struct cr_error **err)
{
	struct rn_fleet *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->pending = cr_map_new(32)) == NULL ||
	    (f->fwd = cr_map_new(32)) == NULL ||
	    (f->health_at = cr_map_new(32)) == NULL) {
		if (f != NULL) {
			cr_map_free(f->pending);
			cr_map_free(f->fwd);
		}
		free(f);
		cr_error_errno(err, ENOMEM, "starting the fleet store");
		return NULL;
	}
	f->kv = kv;
	f->peers = peers;
	f->cfg = *cfg;
	f->ops = *ops;
	f->ctx = ctx;
	cr_log_ratelimit_init(&f->rl, 10, 1);
	/* What this node held: the deployments (re-verified against the
	 * pins), then their advances.  Expired ones go at the first sweep. */
	fleet_load(f, 'D');
	fleet_load(f, 'A');
	return f;
}

struct rn_fleet *rn_fleet_free(struct rn_fleet *f)
{
	size_t pos = 0;
	const void *key;
	void *val;

	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < f->n_deps; i++)
		dep_clear(&f->deps[i]);
	free(f->deps);
	for (size_t i = 0; i < FLEET_ASM_MAX; i++)
		asm_free(&f->asm_[i]);
	while (cr_map_next(f->pending, &pos, &key, &val))
		free(val);
	cr_map_free(f->pending);
	pos = 0;
	while (cr_map_next(f->fwd, &pos, &key, &val))
		free(val);
	cr_map_free(f->fwd);
	cr_map_free(f->health_at);
	free(f);
	return NULL;
}

void rn_fleet_set_cfg(struct rn_fleet *f, const struct rn_fleet_cfg *cfg)
{
	f->cfg = *cfg;
}

const struct rn_fleet_stats *rn_fleet_stats(const struct rn_fleet *f)
{
	return &f->st;
}

size_t rn_fleet_deployments(const struct rn_fleet *f)
{
	return f->n_deps;
}

long rn_fleet_records(struct rn_fleet *f)
{
	return cr_kv_count(f->kv, fleet_db);
}
