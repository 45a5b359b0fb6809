/*
 * fleetsim: many simulated devices of a fleet in one process, for the
 * rollout tests and bench (docs/fleet.md "Rollouts").  Each device has its
 * own key and UDP socket, real hop sessions (Noise) to --attach ring nodes, and
 * a signed presence record carrying its tags.  It receives the
 * deployments and advances the ring pushes, checks them as an agent does
 * (rollout threshold of its trust root, its release, targeted by id or
 * tag, a sequence above what it applied, not expired: else it reports
 * stale), computes its wave, and "runs" the release: signed reports
 * pulling -> running -> succeeded after the health window, or failed for
 * a chosen share of one wave.  It never installs anything.
 *
 *   fleetsim --ring RING --trust TRUST --dir DIR -n N [--tag K=V]...
 *            [--version V] [--fail-pct P] [--fail-wave W] [--fail-version V]
 *            [--silent-wave W] [--forge] [--inject FILE] [--seed S]
 *            [--attach K]
 *
 * --fail-pct P --fail-wave W: ceil(P % of the sim's devices in wave W
 * (1-based; 0: of all)) fail, chosen by identity order (exact, not
 * sampled).  --fail-version: only that release version fails.
 * --silent-wave W: devices of wave W never report (dropped reports).
 * --forge: for every silent device, a "succeeded" report naming it but
 * signed by another key is sent every 2 s (a forged success).
 * --attach K (1-4): sessions with K ring nodes (device i with nodes i..i+K-1
 * mod n), each sent every presence, ping and report, as an agent attached
 * to several; pushes are taken from any.
 * --inject FILE: every device also receives the deployment in FILE as if a
 * node had pushed it (a replay to devices it may not target, or a forgery:
 * FILE is read unchecked, the devices check it).
 *
 * Files in DIR: ids.txt (identities, then "tag" lines), and on SIGUSR1,
 * every second and at exit state.json: one object a line per device and
 * app, {"device","app","version","state"} as `carrier status --json`
 * prints them; ran.txt: "DEVICE VERSION WAVE UNIX_MS" each time a device
 * starts running a version (wave 1-based); notified.txt: "DEVICE UNIX_MS" when a
 * device first learned of a deployment; refused.txt: "DEVICE REASON";
 * traffic.txt: reports sent and their bytes on the wire (UDP payload).
 * Runs until SIGTERM.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "carrier.pb-c.h"
#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/addr.h"
#include "cr/deploy.h"
#include "cr/health.h"
#include "cr/fleet.h"
#include "cr/log.h"
#include "cr/presence.h"
#include "cr/ring.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"

enum {
	SIM_TICK_MS = 200,
	SIM_KEEPALIVE_MS = 10000,
	SIM_HEALTH_MS = 300000, /* the agent's default --health-interval */
	SIM_REPORT_RETRY_MS = 2000,
	SIM_TAGS = 4,
	SIM_ATTACH_MAX = 4,
};

/* A session with one ring node (a device holds --attach of them). */
struct sim_link {
	struct cr_sess *sess;
	size_t node;
	int up;
	uint64_t connect_ms;
	struct cr_fleet_asm asm_; /* the record arriving in pieces */
};

struct sim;

struct sim_dev {
	struct sim *sim;
	size_t i;
	struct cr_keypair kp;
	struct cr_id id;
	int fd;
	struct event *ev;
	struct cr_sess_host *host;
	struct sim_link link[SIM_ATTACH_MAX];
	size_t n_links;
	int up, published; /* up: one link is */
	uint64_t next_ping_ms;
	/* The deployment applied (app "" before any). */
	struct cr_deploy *d;
	uint32_t open_wave;
	size_t wave;
	int started, fails, silent;
	int first_report; /* started: its first report is due at step_ms */
	char app[CR_FLEET_APP_MAX];
	char version[CR_FLEET_VERSION_MAX];
	enum cr_report_state state;
	uint64_t step_ms; /* when the next state comes; 0: none */
	uint64_t report_seq;
	/* The last report, resent until the node acknowledges it. */
	struct cr_report last;
	int last_acked;
	uint64_t last_sent_ms, forge_ms;
	uint64_t notified_ms;
	uint64_t health_ms, health_seq; /* the last health record sent */
};

struct sim {
	struct event_base *base;
	struct cr_ring *ring;
	struct cr_trust *trust;
	struct sim_dev *devs;
	size_t n;
	const char *dir;
	char tags[SIM_TAGS][CP_TAG_STR_MAX];
	size_t n_tags;
	const char *version0;
	double fail_pct;
	unsigned fail_wave, silent_wave;
	const char *fail_version;
	int forge;
	struct cr_udp_batch *rx;
	uint8_t *inject; /* a deployment's bytes, unchecked */
	size_t inject_len;
	FILE *ran, *refused;
	uint64_t last_dump_ms;
	uint64_t start_ms; /* the simulated uptimes count from here */
	uint8_t chosen[32]; /* the deployment failures were chosen for */
	/* Report traffic on the wire: UDP payload bytes of the datagrams
	 * carrying reports (hop header, AEAD tag and all), and reports. */
	uint64_t report_bytes, reports;
	uint64_t health_bytes, healths; /* health records sent (bench) */
	/* Deployment and advance pieces received, UDP payload bytes. */
	uint64_t push_bytes;
	/* Deployments verified, by the digest of their bytes: every device
	 * checks the same bytes the same way, so one process verifies each
	 * once (the devices borrow them) and the figures measure the ring,
	 * not this simulator.  Refused ones are verified each time. */
	struct cr_deploy **known;
	uint8_t (*known_digest)[32];
	size_t n_known;
};

/* The deployment of these bytes, verified against the sim's trust root
 * (borrowed; the sim owns it). */
static int sim_verify(struct sim *sim, const uint8_t *blob, size_t len,
		      struct cr_deploy **out, struct cr_error **err)
{
	uint8_t h[32];
	struct cr_deploy *d = NULL;
	void *a, *b;

	crypto_generichash(h, 32, blob, len, NULL, 0);
	for (size_t i = 0; i < sim->n_known; i++)
		if (memcmp(sim->known_digest[i], h, 32) == 0) {
			*out = sim->known[i];
			return 0;
		}
	if (cr_deploy_decode(blob, len, sim->trust, &d, err) < 0)
		return -1;
	/* A rotation: the sim's devices take the newer root, as agents do
	 * (one root for them all: they all get the same pushes). */
	if (cr_deploy_adopt_trust(&sim->trust, d, NULL) > 0)
		fprintf(stderr, "fleetsim: trust root v%" PRIu64 " adopted\n",
			sim->trust->version);
	a = realloc(sim->known, (sim->n_known + 1) * sizeof(*sim->known));
	if (a != NULL)
		sim->known = a;
	b = realloc(sim->known_digest,
		    (sim->n_known + 1) * sizeof(*sim->known_digest));
	if (b != NULL)
		sim->known_digest = b;
	if (a == NULL || b == NULL) {
		cr_deploy_free(d);
		return cr_error_errno(err, ENOMEM, "fleetsim");
	}
	sim->known[sim->n_known] = d;
	memcpy(sim->known_digest[sim->n_known++], h, 32);
	*out = d;
	return 0;
}

/* ---- sending ----------------------------------------------------------- */

/* To every node the device holds a session with, as an agent attached to
 * several does: a node that drops what it is sent (a liar) stalls
 * nothing. */
static void dev_send_all(struct sim_dev *v, const uint8_t *buf, size_t len)
{
	for (size_t k = 0; k < v->n_links; k++)
		if (v->link[k].sess != NULL && v->link[k].up)
			cr_sess_send(v->link[k].sess, buf, len, cr_now_ms());
}

static void dev_send(struct sim_dev *v, Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long len;

	if (!v->up)
		return;
	len = cp_hop_pack(m, buf, sizeof(buf));
	if (len > 0)
		dev_send_all(v, buf, (size_t)len);
}

static void dev_put(struct sim_dev *v, uint32_t kind, const uint8_t *blob,
		    size_t len, uint64_t req_id)
{
	uint8_t buf[CP_MSG_MAX];
	long n;

	if (!v->up)
		return;
	n = cr_fleet_put_pack(kind, blob, len, req_id, buf, sizeof(buf));
	if (n <= 0)
		return;
	if (kind == CR_REC_REPORT) {
		v->sim->report_bytes += (uint64_t)n + CP_DATA_HDR + CP_AEAD_TAG;
		v->sim->reports++;
	}
	if (kind == CR_REC_HEALTH) {
		v->sim->health_bytes += (uint64_t)n + CP_DATA_HDR + CP_AEAD_TAG;
		v->sim->healths++;
	}
	dev_send_all(v, buf, (size_t)n);
}

/* A health record (cr/health.h) at once, then every SIM_HEALTH_MS, with
 * figures of a small device that tell the devices apart: device i has
 * 256 MiB, 128 MiB - 4 KiB * i available, a load of i % 4000 thousandths. */
static void dev_health(struct sim_dev *v, uint64_t now)
{
	struct cr_devhealth h;
	uint8_t blob[CR_HEALTH_MAX];
	size_t len;

	if (!v->up || v->silent ||
	    (v->health_ms != 0 && now - v->health_ms < SIM_HEALTH_MS))
		return;
	v->health_ms = now;
	memset(&h, 0, sizeof(h));
	h.seq = ++v->health_seq;
	h.uptime_s = (now - v->sim->start_ms) / 1000 + v->i;
	h.load_milli[0] = (uint32_t)(v->i % 4000);
	h.mem_total = 256u << 20;
	h.mem_avail = (128u << 20) - 4096 * (uint64_t)(v->i % 16384);
	h.flash_free = 1u << 30;
	if (cr_devhealth_make(&v->kp, &h, blob, sizeof(blob), &len, NULL) == 0)
		dev_put(v, CR_REC_HEALTH, blob, len, 0);
}

static void dev_publish(struct sim_dev *v)
{
	struct cr_presence p;
	uint8_t buf[CP_PRESENCE_MAX];
	struct cr_error *err = NULL;
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__PresencePublish pub = CARRIER__PRESENCE_PUBLISH__INIT;
	Carrier__SignedPresence *sp;
	size_t len;

	memset(&p, 0, sizeof(p));
	memcpy(p.device_pk, v->kp.pk, CR_PKLEN);
	p.seq = cr_fleet_wall_ms();
	p.issued_unix = cr_now_unix();
	p.expires_unix = p.issued_unix + 3600;
	for (size_t k = 0; k < v->n_links; k++)
		memcpy(p.attached[k], v->sim->ring->nodes[v->link[k].node].pk,
		       CR_PKLEN);
	p.n_attached = v->n_links;
	memcpy(p.tags, v->sim->tags, sizeof(v->sim->tags));
	p.n_tags = v->sim->n_tags;
	if (cr_presence_sign(&v->kp, &p, buf, sizeof(buf), &len, &err) < 0) {
		fprintf(stderr, "fleetsim: presence: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	sp = carrier__signed_presence__unpack(NULL, len, buf);
	if (sp == NULL)
		return;
	pub.record = sp;
	m.req_id = 1;
	m.msg_case = CARRIER__HOP__MSG_PUBLISH;
	m.publish = &pub;
	dev_send(v, &m);
	carrier__signed_presence__free_unpacked(sp, NULL);
}

/* A signed report of the device's state; resent until acknowledged. */
static void dev_report(struct sim_dev *v, enum cr_report_state st,
		       const char *version, const char *reason)
{
	struct cr_error *err = NULL;
	struct cr_report *r = &v->last;
	char ver[CR_FLEET_VERSION_MAX];

	/* version may be v->version itself. */
	snprintf(ver, sizeof(ver), "%s", version);
	version = ver;
	v->state = st;
	snprintf(v->version, sizeof(v->version), "%s", version);
	if (v->silent)
		return;
	if (cr_report_make(&v->kp, v->d, v->app, st, version, reason,
			   ++v->report_seq, r, &err) < 0) {
		fprintf(stderr, "fleetsim: report: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	v->last_acked = 0;
	v->last_sent_ms = cr_now_ms();
	dev_put(v, CR_REC_REPORT, r->blob, r->blob_len, r->seq);
}

/* A "succeeded" report naming v but signed by a key that is not v's. */
static void dev_forge(struct sim_dev *v)
{
	struct cr_keypair thief;
	struct cr_report r;
	struct cr_error *err = NULL;
	Carrier__SignedFleetRecord *s;
	uint8_t out[CP_REPORT_MAX];
	size_t n;

	if (v->d == NULL || cr_keypair_generate(CR_ID_DEVICE, &thief) < 0)
		return;
	memset(&r, 0, sizeof(r));
	memcpy(r.deployment, v->d->digest, 32);
	r.deployment_seq = v->d->seq;
	r.state = CR_RS_SUCCEEDED;
	snprintf(r.app, sizeof(r.app), "%s", v->d->app);
	snprintf(r.version, sizeof(r.version), "%s", v->d->release->version);
	r.time_ms = cr_fleet_wall_ms();
	r.seq = cr_fleet_wall_ms() + 1000000;
	if (cr_report_sign(&thief, &r, &err) < 0) {
		cr_error_free(err);
		return;
	}
	/* Claim the victim's key: the signature stays the thief's. */
	s = carrier__signed_fleet_record__unpack(NULL, r.blob_len, r.blob);
	if (s == NULL || s->n_signatures != 1)
		goto out;
	memcpy(s->signatures[0]->pk.data, v->kp.pk, CR_PKLEN);
	for (size_t i = 0; i + CR_PKLEN <= s->body.len; i++)
		if (memcmp(s->body.data + i, thief.pk, CR_PKLEN) == 0) {
			memcpy(s->body.data + i, v->kp.pk, CR_PKLEN);
			break;
		}
	n = carrier__signed_fleet_record__get_packed_size(s);
	if (n <= sizeof(out)) {
		carrier__signed_fleet_record__pack(s, out);
		dev_put(v, CR_REC_REPORT, out, n, 0);
	}
out:
	if (s != NULL)
		carrier__signed_fleet_record__free_unpacked(s, NULL);
	cr_keypair_wipe(&thief);
}

/* ---- the device's logic ---------------------------------------------- */

static void dev_refuse(struct sim_dev *v, const char *why)
{
	char ids[CR_ID_STRMAX];

	fprintf(v->sim->refused, "%s %s\n", cr_id_format(&v->id, ids), why);
	fflush(v->sim->refused);
}

static void dev_maybe_start(struct sim_dev *v)
{
	char ids[CR_ID_STRMAX];

	if (v->d == NULL || v->started || v->wave > v->open_wave)
		return;
	if (cr_deploy_expired(v->d, cr_now_unix())) {
		v->started = 1;
		dev_report(v, CR_RS_STALE, v->version,
			   "freeze: the deployment expired before it ran");
		return;
	}
	v->started = 1;
	fprintf(v->sim->ran, "%s %s %zu %" PRIu64 "\n",
		cr_id_format(&v->id, ids), v->d->release->version, v->wave + 1,
		cr_fleet_wall_ms());
	/* The first report goes out from the tick, a little later: a
	 * deployment reaching thousands of devices at once is taken in by
	 * all of them first (what the notification time measures), as
	 * devices with CPUs of their own would. */
	v->first_report = 1;
	v->step_ms = cr_now_ms() + 20 + randombytes_uniform(300);
}

/* pulling -> running -> succeeded (after the health window) or failed. */
static void dev_step(struct sim_dev *v, uint64_t now)
{
	if (v->step_ms == 0 || now < v->step_ms || v->d == NULL)
		return;
	v->step_ms = 0;
	if (v->first_report) {
		v->first_report = 0;
		dev_report(v, v->d->rollback ? CR_RS_STAGED : CR_RS_PULLING,
			   v->version,
			   v->d->rollback ? "retained version, nothing to "
					    "download" :
					    "");
		v->step_ms = now + 50 + randombytes_uniform(200);
		return;
	}
	switch (v->state) {
	case CR_RS_PULLING:
	case CR_RS_STAGED:
		dev_report(v, CR_RS_RUNNING, v->d->release->version, "");
		v->step_ms = now + v->d->health_window_ms;
		break;
	case CR_RS_RUNNING:
		if (v->fails &&
		    (v->sim->fail_version == NULL ||
		     strcmp(v->sim->fail_version, v->d->release->version) ==
			     0)) {
			char old[CR_FLEET_VERSION_MAX];

			snprintf(old, sizeof(old), "%s", v->sim->version0);
			dev_report(v, CR_RS_FAILED, old,
				   "health probe failed in the health window "
				   "(simulated); back on the previous version");
		} else {
			dev_report(v, CR_RS_SUCCEEDED, v->d->release->version,
				   "");
		}
		break;
	default:
		break;
	}
}

/* Which of the sim's devices fail a new deployment: ceil(P %) of those in
 * the fail wave, by identity order. */
static void sim_choose_failures(struct sim *sim, const struct cr_deploy *d)
{
	size_t members = 0, want, chosen = 0;

	for (size_t i = 0; i < sim->n; i++) {
		struct sim_dev *v = &sim->devs[i];

		v->fails = 0;
		v->silent = sim->silent_wave != 0 &&
			    cr_deploy_wave_of(d, v->id.hash) + 1 ==
				    sim->silent_wave;
		if (sim->fail_wave == 0 ||
		    cr_deploy_wave_of(d, v->id.hash) + 1 == sim->fail_wave)
			members++;
	}
	want = (size_t)((double)members * sim->fail_pct / 100.0 + 0.999999);
	/* Identity order: the devices' hashes, smallest first. */
	while (chosen < want) {
		struct sim_dev *best = NULL;

		for (size_t i = 0; i < sim->n; i++) {
			struct sim_dev *v = &sim->devs[i];

			if (v->fails || (sim->fail_wave != 0 &&
					 cr_deploy_wave_of(d, v->id.hash) + 1 !=
						 sim->fail_wave))
				continue;
			if (best == NULL ||
			    memcmp(v->id.hash, best->id.hash, 32) < 0)
				best = v;
		}
		if (best == NULL)
			break;
		best->fails = 1;
		chosen++;
	}
}

static void dev_on_deploy(struct sim_dev *v, const uint8_t *blob, size_t len)
{
	struct cr_deploy *d = NULL;
	struct cr_error *err = NULL;
	char why[400];
	const char (*tags)[CP_TAG_STR_MAX] =
		(const char(*)[CP_TAG_STR_MAX])v->sim->tags;

	if (sim_verify(v->sim, blob, len, &d, &err) < 0) {
		snprintf(why, sizeof(why), "arbitrary software: %s",
			 cr_error_msg(err));
		dev_refuse(v, why);
		cr_error_free(err);
		return;
	}
	if (v->notified_ms == 0)
		v->notified_ms = cr_fleet_wall_ms();
	if (cr_deploy_for_device(d, v->id.hash, tags, v->sim->n_tags, why,
				 sizeof(why)) < 0) {
		dev_refuse(v, why);
		return;
	}
	if (v->d != NULL && strcmp(v->d->app, d->app) == 0 &&
	    d->seq <= v->d->seq)
		return; /* seen, or older: nothing new */
	if (memcmp(v->sim->chosen, d->digest, 32) != 0) {
		memcpy(v->sim->chosen, d->digest, 32);
		sim_choose_failures(v->sim, d);
	}
	v->d = d; /* borrowed from the sim */
	snprintf(v->app, sizeof(v->app), "%s", d->app);
	v->open_wave = 0;
	v->started = 0;
	v->first_report = 0;
	v->step_ms = 0;
	v->wave = cr_deploy_wave_of(d, v->id.hash);
	dev_maybe_start(v);
}

static void dev_on_advance(struct sim_dev *v, const uint8_t *blob, size_t len)
{
	struct cr_advance *a = NULL;
	struct cr_error *err = NULL;

	if (v->d == NULL)
		return;
	if (cr_advance_decode(blob, len, v->d->trust, &a, &err) < 0) {
		dev_refuse(v, cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	if (memcmp(a->deployment, v->d->digest, 32) == 0 &&
	    a->wave > v->open_wave && a->wave < v->d->n_waves)
		v->open_wave = a->wave;
	cr_advance_free(a);
	dev_maybe_start(v);
}

static void dev_on_piece(struct sim_dev *v, struct sim_link *l,
			 const Carrier__Hop *m)
{
	const Carrier__FleetPut *p = m->fleet_put;
	struct cr_fleet_asm *a = &l->asm_;
	uint8_t buf[128];
	long n;

	v->sim->push_bytes += carrier__hop__get_packed_size(m) + CP_DATA_HDR +
			      CP_AEAD_TAG;
	if (cr_fleet_asm_add(a, p->kind, p->digest.data, p->digest.len,
			     p->total, p->offset, p->data.data,
			     p->data.len) != 1)
		return;
	n = cr_fleet_ack_pack(a->kind, a->digest, buf, sizeof(buf));
	if (n > 0 && l->sess != NULL && l->up)
		cr_sess_send(l->sess, buf, (size_t)n, cr_now_ms());
	if (a->kind == CR_REC_DEPLOYMENT)
		dev_on_deploy(v, a->buf, a->total);
	else if (a->kind == CR_REC_ADVANCE)
		dev_on_advance(v, a->buf, a->total);
	cr_fleet_asm_reset(a);
}

/* ---- sessions ----------------------------------------------------------- */

static void dev_on_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
			const uint8_t *buf, size_t len)
{
	struct sim_dev *v = ctx;

	cr_udp_send(v->fd, to, buf, len);
}

static int dev_on_accept(void *ctx, const struct cr_id *peer,
			 const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
			 const uint8_t *hello, size_t hello_len, uint8_t *reply,
			 size_t *reply_len, void **user)
{
	return -1;
}

/* The link of session s: by the node's key, since the session host may
 * replace a link's session by a newer one with the same node. */
static struct sim_link *dev_link_of(struct sim_dev *v, struct cr_sess *s)
{
	for (size_t k = 0; k < v->n_links; k++)
		if (v->link[k].sess == s)
			return &v->link[k];
	for (size_t k = 0; k < v->n_links; k++)
		if (memcmp(v->sim->ring->nodes[v->link[k].node].pk,
			   cr_sess_peer_pk(s), CR_PKLEN) == 0)
			return &v->link[k];
	return NULL;
}

static void dev_on_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		      size_t reply_len, int rekey)
{
	struct sim_dev *v = ctx;
	struct sim_link *l = dev_link_of(v, s);

	if (l == NULL || (l->up && rekey && l->sess == s))
		return;
	l->sess = s;
	l->up = 1;
	v->up = 1;
	/* Each node holds the device attached once it has its presence:
	 * published again on every new session. */
	v->published = 1;
	dev_publish(v);
}

static void dev_on_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
			size_t len)
{
	struct sim_dev *v = ctx;
	Carrier__Hop *m = cp_hop_unpack(msg, len);

	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__HOP__MSG_FLEET_PUT &&
	    dev_link_of(v, s) != NULL)
		dev_on_piece(v, dev_link_of(v, s), m);
	else if (m->msg_case == CARRIER__HOP__MSG_FLEET_ACK &&
		 m->req_id == v->last.seq)
		v->last_acked = 1;
	else if (m->msg_case == CARRIER__HOP__MSG_ERROR &&
		 m->req_id == v->last.seq && m->req_id != 0) {
		/* Refused for good (not targeted, unknown deployment). */
		v->last_acked = 1;
	}
	cp_hop_free(m);
}

static void dev_on_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct sim_dev *v = ctx;
	struct sim_link *l = dev_link_of(v, s);

	/* A replaced session going down leaves its link to the new one. */
	if (l == NULL || (l->sess != s && l->sess != NULL))
		return;
	l->up = 0;
	l->sess = NULL;
	v->up = 0;
	for (size_t k = 0; k < v->n_links; k++)
		v->up |= v->link[k].up;
	v->published = v->up;
}

static const struct cr_sess_ops dev_ops = {
	.send = dev_on_send,
	.accept = dev_on_accept,
	.up = dev_on_up,
	.recv = dev_on_recv,
	.down = dev_on_down,
};

static void dev_connect(struct sim_dev *v, struct sim_link *l)
{
	struct cr_addr to;
	struct cr_error *err = NULL;
	const struct cr_ring_node *node = &v->sim->ring->nodes[l->node];

	l->connect_ms = cr_now_ms();
	if (cr_addr_parse(node->addr, &to, &err) < 0) {
		cr_error_free(err);
		return;
	}
	l->sess = cr_sess_connect(v->host, node->pk, CR_ID_NODE, &to, NULL, 0,
				  cr_now_ms(), &err);
	if (l->sess == NULL) {
		cr_error_free(err);
		return;
	}
}

static void dev_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sim_dev *v = arg;
	struct cr_udp_batch *b = v->sim->rx;

	while (cr_udp_recv(v->fd, b) > 0)
		for (size_t j = 0; j < b->n; j++)
			cr_sess_host_input(v->host, &b->from[j], b->buf[j],
					   b->len[j], cr_now_ms());
}

/* ---- the loop -------------------------------------------------------- */

static void sim_dump(struct sim *sim)
{
	char path[4096], tmp[4200], npath[4096], ids[CR_ID_STRMAX];
	FILE *f, *nf;

	fflush(sim->ran);
	snprintf(path, sizeof(path), "%s/state.json", sim->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(npath, sizeof(npath), "%s/notified.txt", sim->dir);
	f = fopen(tmp, "w");
	nf = fopen(npath, "w");
	if (f == NULL || nf == NULL) {
		if (f != NULL)
			fclose(f);
		if (nf != NULL)
			fclose(nf);
		return;
	}
	for (size_t i = 0; i < sim->n; i++) {
		struct sim_dev *v = &sim->devs[i];

		cr_id_format(&v->id, ids);
		if (v->notified_ms != 0)
			fprintf(nf, "%s %" PRIu64 "\n", ids, v->notified_ms);
		if (v->app[0] == '\0')
			continue;
		fprintf(f,
			"{\"device\":\"%s\",\"app\":\"%s\",\"version\":\"%s\","
			"\"state\":\"%s\"}\n",
			ids, v->app, v->version,
			v->state == CR_RS_NONE ? "pending" :
						 cr_report_state_name(v->state));
	}
	fclose(nf);
	fclose(f);
	rename(tmp, path);
	snprintf(npath, sizeof(npath), "%s/traffic.txt", sim->dir);
	nf = fopen(npath, "w");
	if (nf != NULL) {
		fprintf(nf,
			"devices %zu reports %" PRIu64 " report_bytes %" PRIu64
			" push_bytes %" PRIu64 "\n",
			sim->n, sim->reports, sim->report_bytes,
			sim->push_bytes);
		fclose(nf);
	}
	snprintf(npath, sizeof(npath), "%s/health.txt", sim->dir);
	nf = fopen(npath, "w");
	if (nf != NULL) {
		fprintf(nf, "healths %" PRIu64 " health_bytes %" PRIu64 "\n",
			sim->healths, sim->health_bytes);
		fclose(nf);
	}
}

static void sim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sim *sim = arg;
	uint64_t now = cr_now_ms();

	for (size_t i = 0; i < sim->n; i++) {
		struct sim_dev *v = &sim->devs[i];

		cr_sess_host_tick(v->host, now);
		for (size_t k = 0; k < v->n_links; k++)
			if (v->link[k].sess == NULL &&
			    now - v->link[k].connect_ms > 3000)
				dev_connect(v, &v->link[k]);
		if (v->up && now >= v->next_ping_ms) {
			Carrier__Hop m = CARRIER__HOP__INIT;
			Carrier__Ping p = CARRIER__PING__INIT;

			p.nonce = now;
			p.ring_epoch = sim->ring->epoch;
			p.keepalive_ms = SIM_KEEPALIVE_MS;
			m.msg_case = CARRIER__HOP__MSG_PING;
			m.ping = &p;
			dev_send(v, &m);
			v->next_ping_ms = now + SIM_KEEPALIVE_MS;
		}
		dev_step(v, now);
		dev_health(v, now);
		if (!v->last_acked && v->last.blob_len > 0 && !v->silent &&
		    now - v->last_sent_ms > SIM_REPORT_RETRY_MS) {
			v->last_sent_ms = now;
			dev_put(v, CR_REC_REPORT, v->last.blob,
				v->last.blob_len, v->last.seq);
		}
		if (sim->forge && v->silent && v->d != NULL &&
		    now - v->forge_ms > 2000) {
			v->forge_ms = now;
			dev_forge(v);
		}
	}
	if (now - sim->last_dump_ms >= 1000) {
		sim->last_dump_ms = now;
		sim_dump(sim);
	}
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
	sim_dump(arg);
}

/* Device i's key: from a seed, so identities are stable across runs. */
static void dev_key(const char *seed, size_t i, struct cr_keypair *kp)
{
	uint8_t s[crypto_sign_SEEDBYTES];
	char in[256];

	snprintf(in, sizeof(in), "fleetsim %s %zu", seed, i);
	crypto_generichash(s, sizeof(s), (const uint8_t *)in, strlen(in), NULL,
			   0);
	kp->type = CR_ID_DEVICE;
	crypto_sign_seed_keypair(kp->pk, kp->sk, s);
}

/* The bytes of a deployment file ("korhal-deployment-v1 BASE64", after
 * '#' comments), unchecked: a forged one must reach the devices. */
static int inject_load(const char *path, uint8_t **out, size_t *len,
		       struct cr_error **err)
{
	static const char magic[] = "korhal-deployment-v1 ";
	char *text = NULL, *p;
	size_t tl, cap;

	if (cr_read_file(path, 1 << 20, &text, &tl, err) < 0)
		return -1;
	p = strstr(text, magic);
	cap = tl;
	*out = p != NULL ? malloc(cap) : NULL;
	if (*out == NULL ||
	    sodium_base642bin(*out, cap, p + sizeof(magic) - 1,
			      strcspn(p + sizeof(magic) - 1, "\n"), NULL, len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(text);
		free(*out);
		*out = NULL;
		return cr_error_set(err, EBADMSG, "%s: not a deployment file",
				    path);
	}
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ring", required_argument, NULL, 'r' },
		{ "trust", required_argument, NULL, 't' },
		{ "dir", required_argument, NULL, 'd' },
		{ "tag", required_argument, NULL, 'g' },
		{ "version", required_argument, NULL, 'V' },
		{ "fail-pct", required_argument, NULL, 'p' },
		{ "fail-wave", required_argument, NULL, 'w' },
		{ "fail-version", required_argument, NULL, 'F' },
		{ "silent-wave", required_argument, NULL, 's' },
		{ "forge", no_argument, NULL, 'f' },
		{ "inject", required_argument, NULL, 'i' },
		{ "seed", required_argument, NULL, 'S' },
		{ "attach", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim sim = { 0 };
	const char *ring_path = NULL, *trust_path = NULL, *seed = "0";
	const char *inject = NULL;
	struct cr_error *err = NULL;
	struct event *ev_tick, *ev_term, *ev_int, *ev_usr1;
	struct timeval tv = { 0, SIM_TICK_MS * 1000 };
	struct rlimit rl;
	uint64_t n = 0;
	size_t attach = 1;
	char path[4200], ids[CR_ID_STRMAX];
	FILE *f;
	int c;

	/* A SIGUSR1 before the loop's handler is up must not kill us. */
	signal(SIGUSR1, SIG_IGN);
	sim.version0 = "0";
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'r': ring_path = optarg; break;
		case 't': trust_path = optarg; break;
		case 'd': sim.dir = optarg; break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'g':
			if (sim.n_tags == SIM_TAGS)
				return 2;
			snprintf(sim.tags[sim.n_tags++], CP_TAG_STR_MAX, "%s",
				 optarg);
			break;
		case 'V': sim.version0 = optarg; break;
		case 'p': sim.fail_pct = strtod(optarg, NULL); break;
		case 'w': sim.fail_wave = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'F': sim.fail_version = optarg; break;
		case 's': sim.silent_wave = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': sim.forge = 1; break;
		case 'i': inject = optarg; break;
		case 'S': seed = optarg; break;
		case 'A':
			attach = strtoul(optarg, NULL, 10);
			if (attach < 1 || attach > SIM_ATTACH_MAX)
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (ring_path == NULL || trust_path == NULL || sim.dir == NULL ||
	    n == 0) {
		fprintf(stderr, "usage: fleetsim --ring RING --trust TRUST "
				"--dir DIR -n N [--tag K=V]...\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	cr_log_init("fleetsim", CR_LOG_WARN, 0);
	/* A socket per device. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (cr_ring_load(ring_path, NULL, &sim.ring, &err) < 0 ||
	    cr_trust_load(trust_path, NULL, 0, &sim.trust, &err) < 0 ||
	    (inject != NULL &&
	     inject_load(inject, &sim.inject, &sim.inject_len, &err) < 0)) {
		fprintf(stderr, "fleetsim: %s\n", cr_error_msg(err));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ran.txt", sim.dir);
	sim.ran = fopen(path, "a");
	snprintf(path, sizeof(path), "%s/refused.txt", sim.dir);
	sim.refused = fopen(path, "a");
	sim.base = event_base_new();
	sim.rx = calloc(1, sizeof(*sim.rx));
	sim.devs = calloc(n, sizeof(*sim.devs));
	if (sim.ran == NULL || sim.refused == NULL || sim.base == NULL ||
	    sim.rx == NULL || sim.devs == NULL)
		return 1;
	sim.n = n;
	snprintf(path, sizeof(path), "%s/ids.txt", sim.dir);
	f = fopen(path, "w");
	if (f == NULL)
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct sim_dev *v = &sim.devs[i];
		struct cr_addr any;

		v->sim = &sim;
		v->i = i;
		dev_key(seed, i, &v->kp);
		cr_id_from_pk(CR_ID_DEVICE, v->kp.pk, &v->id);
		snprintf(v->version, sizeof(v->version), "%s", sim.version0);
		v->last_acked = 1;
		v->report_seq = cr_fleet_wall_ms();
		v->n_links = attach < sim.ring->n_nodes ? attach :
							  sim.ring->n_nodes;
		for (size_t k = 0; k < v->n_links; k++)
			v->link[k].node = (i + k) % sim.ring->n_nodes;
		fprintf(f, "%s\n", cr_id_format(&v->id, ids));
		if (cr_addr_parse("127.0.0.1:0", &any, &err) < 0 ||
		    (v->fd = cr_udp_open(&any, &err)) < 0 ||
		    (v->host = cr_sess_host_new(&v->kp, NULL, &dev_ops, v,
						&err)) == NULL) {
			fprintf(stderr, "fleetsim: device %zu: %s\n", i,
				cr_error_msg(err));
			return 1;
		}
		v->ev = event_new(sim.base, v->fd, EV_READ | EV_PERSIST,
				  dev_on_read, v);
		event_add(v->ev, NULL);
		/* Spread the handshakes over the first seconds. */
		for (size_t k = 0; k < v->n_links; k++)
			v->link[k].connect_ms =
				cr_now_ms() - 3000 + (i * 2000) / n;
	}
	fclose(f);
	ev_tick = event_new(sim.base, -1, EV_PERSIST, sim_tick, &sim);
	event_add(ev_tick, &tv);
	ev_term = evsignal_new(sim.base, SIGTERM, on_term, sim.base);
	ev_int = evsignal_new(sim.base, SIGINT, on_term, sim.base);
	ev_usr1 = evsignal_new(sim.base, SIGUSR1, on_usr1, &sim);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_usr1, NULL);
	if (sim.inject != NULL) {
		/* The replay arrives at every device, as from a lying node. */
		for (size_t i = 0; i < n; i++)
			dev_on_deploy(&sim.devs[i], sim.inject,
				      sim.inject_len);
	}
	sim.start_ms = cr_now_ms();
	event_base_dispatch(sim.base);
	sim_dump(&sim);
	for (size_t i = 0; i < n; i++) {
		struct sim_dev *v = &sim.devs[i];

		if (v->up) {
			Carrier__Hop m = CARRIER__HOP__INIT;
			Carrier__Detach dt = CARRIER__DETACH__INIT;

			m.msg_case = CARRIER__HOP__MSG_DETACH;
			m.detach = &dt;
			dev_send(v, &m);
		}
		event_free(v->ev);
		cr_sess_host_free(v->host);
		close(v->fd);
		for (size_t k = 0; k < v->n_links; k++)
			cr_fleet_asm_reset(&v->link[k].asm_);
		cr_keypair_wipe(&v->kp);
	}
	event_free(ev_tick);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_usr1);
	free(sim.devs);
	free(sim.rx);
	for (size_t i = 0; i < sim.n_known; i++)
		cr_deploy_free(sim.known[i]);
	free(sim.known);
	free(sim.known_digest);
	free(sim.inject);
	cr_trust_free(sim.trust);
	cr_ring_free(sim.ring);
	fclose(sim.ran);
	fclose(sim.refused);
	event_base_free(sim.base);
	return 0;
}
