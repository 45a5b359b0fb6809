/*
 * The agent's side of rollouts (da/deploy.h).  The protocol pieces
 * (reassembly, acknowledgements, the targeting check, signed reports) are
 * cr_fleet's, shared with the simulated devices of tests/tools/fleetsim.c;
 * what is the agent's own is the hand-over to the app manager and the
 * state kept across restarts.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/hop.h"
#include "cr/appconfig.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/log.h"
#include "cr/util.h"
#include "da/deploy.h"
#include "da/journal.h"

enum {
	/* Longest sleep while a deployment waits for its expiry (a wall
	 * clock time: a clock step, NTP at boot, is caught up with this
	 * late at most). */
	DEP_WALL_MAX_MS = 60000,
	DEP_RESEND_MS = 2000,      /* an unacknowledged report goes again */
	DEP_REFUSED_MAX_MS = 60000, /* backoff cap after a node's refusal */
	DEP_LINKS = CP_ATTACHED_MAX,
	DEP_PULL_APPS = 8, /* a FleetApps page */
};

/* Request ids of pulls: apart from reports' (their sequence). */
#define DEP_PULL_REQ (UINT64_C(1) << 62)

#define DEP_DB "deploy"
#define DEP_META_DB "meta" /* the agent's: DEP_TRUST_KEY there */
#define DEP_TRUST_KEY "trust"
#define DEP_MAGIC "KDP1"

/* The deployment one app follows. */
struct dep_app {
	struct da_deploy *owner;
	char app[CR_FLEET_APP_MAX];
	struct cr_deploy *d;  /* the newest accepted (owned) */
	size_t wave;          /* the device's wave in it */
	uint32_t open_wave;   /* the highest wave an advance opened */
	int started;          /* handed to the app manager, or ended */
	struct cr_report last; /* the last report (blob_len 0: none) */
	int acked;
	uint64_t sent_ms, retry_ms;
	int link;             /* where the last report went */
	struct dep_app *next;
};

/* What one link asks its node at attach (da_deploy_attached): the apps
 * with a deployment of our vendor, then for each its newest deployment
 * and advance, one request at a time, in pieces. */
struct dep_pull {
	uint64_t req;          /* the one outstanding; 0: none */
	struct cr_fleet_asm asm_;
	char apps[DEP_PULL_APPS][CR_FLEET_APP_MAX];
	size_t n_apps, next;   /* the page, and the app asked now */
	uint32_t kind;         /* what is asked of apps[next] */
	int more;              /* a page after this one */
};

struct da_deploy {
	struct da_deploy_cfg cfg;
	struct dep_pull pull[DEP_LINKS];
	uint64_t pull_seq;
	struct cr_trust *trust;
	struct cr_id id;
	struct event *ev_tick;
	struct cr_fleet_asm asm_[DEP_LINKS];
	struct dep_app *apps;
	uint64_t report_seq;
	uint64_t test_drop_until; /* ms; see da_deploy_cfg */
};

/* ---- State in LMDB ------------------------------------------------------ */

/* DEP_MAGIC, open_wave (u32), started, acked (u8 each), the report's and
 * the deployment's lengths (u32 each), then both blobs.  Host byte order:
 * the file never leaves the device. */
static void dep_save(struct dep_app *a)
{
	struct da_deploy *m = a->owner;
	struct cr_error *err = NULL;
	uint32_t rl = (uint32_t)a->last.blob_len;
	uint32_t dl = a->d != NULL ? (uint32_t)a->d->blob_len : 0;
	size_t n = 4 + 4 + 2 + 8 + rl + dl;
	uint8_t *buf = malloc(n), *p = buf;

	if (buf == NULL)
		return;
	memcpy(p, DEP_MAGIC, 4);
	p += 4;
	memcpy(p, &a->open_wave, 4);
	p += 4;
	*p++ = (uint8_t)a->started;
	*p++ = (uint8_t)a->acked;
	memcpy(p, &rl, 4);
	p += 4;
	memcpy(p, &dl, 4);
	p += 4;
	memcpy(p, a->last.blob, rl);
	p += rl;
	if (dl > 0)
		memcpy(p, a->d->blob, dl);
	if (cr_kv_put(m->cfg.kv, DEP_DB, a->app, strlen(a->app), buf, n,
		      &err) < 0) {
		cr_log_warnx("app %s: cannot store the deployment state: %s",
			     a->app, cr_error_msg(err));
		cr_error_free(err);
	}
	free(buf);
}

static struct dep_app *dep_add(struct da_deploy *m, const char *app)
{
	struct dep_app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->owner = m;
	a->acked = 1;
	a->link = -1;
	snprintf(a->app, sizeof(a->app), "%s", app);
	a->next = m->apps;
	m->apps = a;
	return a;
}

static struct dep_app *dep_find(struct da_deploy *m, const char *app)
{
	for (struct dep_app *a = m->apps; a != NULL; a = a->next)
		if (strcmp(a->app, app) == 0)
			return a;
	return NULL;
}

/* One stored app: what fails to parse or verify again is dropped (the
 * ring pushes the newest deployment on attach anyway). */
static int dep_load_one(void *arg, const void *key, size_t klen,
			const void *val, size_t vlen)
{
	struct da_deploy *m = arg;
	const uint8_t *p = val;
	char app[CR_FLEET_APP_MAX];
	struct cr_error *err = NULL;
	struct dep_app *a;
	uint32_t ow, rl, dl;

	if (klen == 0 || klen >= sizeof(app) || vlen < 18 ||
	    memcmp(p, DEP_MAGIC, 4) != 0)
		return 0;
	memcpy(app, key, klen);
	app[klen] = '\0';
	memcpy(&ow, p + 4, 4);
	memcpy(&rl, p + 10, 4);
	memcpy(&dl, p + 14, 4);
	if ((size_t)rl + dl + 18 != vlen || rl > CP_REPORT_MAX)
		return 0;
	a = dep_add(m, app);
	if (a == NULL)
		return 1;
	a->open_wave = ow;
	a->started = p[8];
	a->acked = p[9];
	if (rl > 0 && cr_report_decode(p + 18, rl, &a->last, &err) < 0) {
		cr_error_free(err);
		err = NULL;
		memset(&a->last, 0, sizeof(a->last));
		a->acked = 1;
	}
	if (a->last.seq > m->report_seq)
		m->report_seq = a->last.seq;
	if (dl > 0 && cr_deploy_decode(p + 18 + rl, dl, m->trust, &a->d,
				       &err) < 0) {
		cr_log_warnx("app %s: the stored deployment no longer "
			     "verifies: %s", app, cr_error_msg(err));
		cr_error_free(err);
		a->d = NULL;
	}
	if (a->d != NULL) {
		a->wave = cr_deploy_wave_of(a->d, m->id.hash);
		cr_log_info("app %s: following deployment seq %" PRIu64
			    " (wave %zu, open %u%s)",
			    app, a->d->seq, a->wave + 1, a->open_wave + 1,
			    a->started ? ", started" : "");
	}
	return 0;
}

/* ---- Reports ------------------------------------------------------------- */

static void dep_send_report(struct dep_app *a, uint64_t now)
{
	struct da_deploy *m = a->owner;
	uint8_t buf[CP_MSG_MAX];
	long n;

	n = cr_fleet_put_pack(CR_REC_REPORT, a->last.blob, a->last.blob_len,
			      a->last.seq, buf, sizeof(buf));
	a->sent_ms = now;
	if (n > 0)
		m->cfg.send(m->cfg.send_arg, -1, buf, (size_t)n);
}

/* A signed report of where the device is with a's deployment. */
static void dep_report(struct dep_app *a, enum cr_report_state st,
		       const char *version, const char *reason)
{
	struct da_deploy *m = a->owner;
	struct cr_error *err = NULL;
	uint64_t seq = cr_fleet_wall_ms();

	/* Strictly growing per device, across restarts and clock steps. */
	if (seq <= m->report_seq)
		seq = m->report_seq + 1;
	m->report_seq = seq;
	if (cr_report_make(m->cfg.kp, a->d, a->app, st, version, reason, seq,
			   &a->last, &err) < 0) {
		cr_log_warnx("app %s: cannot sign a report: %s", a->app,
			     cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	a->acked = 0;
	a->retry_ms = DEP_RESEND_MS;
	cr_log_info("app %s: deployment seq %" PRIu64 ": %s %s%s%s", a->app,
		    a->d != NULL ? a->d->seq : 0, cr_report_state_name(st),
		    version, reason[0] ? ": " : "", reason);
	dep_save(a);
	dep_send_report(a, cr_now_ms());
}

/* ---- Applying ------------------------------------------------------------ */

static void dep_poll(struct dep_app *a);
static void dep_kick(struct da_deploy *m);

static void dep_switch_done(void *arg, int ok, const char *line)
{
	struct da_deploy *m = arg;

	(void)ok;
	(void)line;
	/* The outcome is in the journal: report it now, not at the tick. */
	for (struct dep_app *a = m->apps; a != NULL; a = a->next)
		dep_poll(a);
	dep_kick(m);
}

/* The switch's journal state, as a report: the app manager runs it, this
 * only says where it is. */
static void dep_poll(struct dep_app *a)
{
	struct da_app_rec rec;
	const char *want;
	enum cr_report_state st;
	const char *ver, *why = "";

	if (a->d == NULL || !a->started || a->last.blob_len == 0 ||
	    cr_report_state_final(a->last.state))
		return;
	want = a->d->release->version;
	if (da_apps_get(a->owner->cfg.apps, a->app, &rec) < 0 ||
	    strcmp(rec.target, want) != 0)
		return;
	ver = rec.current;
	switch (rec.state) {
	case DA_APP_PULLING:
	case DA_APP_VERIFIED:
		st = CR_RS_PULLING;
		break;
	case DA_APP_STAGED:
	case DA_APP_STARTING:
		st = CR_RS_STAGED;
		break;
	case DA_APP_HEALTH:
	case DA_APP_ROLLING_BACK:
		st = CR_RS_RUNNING;
		ver = want;
		break;
	case DA_APP_COMMITTED:
		if (strcmp(rec.current, want) != 0)
			return;
		st = CR_RS_SUCCEEDED;
		break;
	case DA_APP_ROLLED_BACK:
		st = CR_RS_ROLLED_BACK;
		why = rec.last_error;
		break;
	default:
		return;
	}
	if (st == a->last.state && strcmp(ver, a->last.version) == 0)
		return;
	dep_report(a, st, ver, why);
}

/* The attack of research/fleet.md 3(b) an app manager's refusal of a
 * rollout-signed deployment resists, named in the log and the report: a
 * deployment is signed by the online rollout key, so a refusal here is
 * what a stolen rollout key runs into. */
static const char *dep_attack(const struct cr_error *err)
{
	switch (err != NULL ? err->code : 0) {
	case EPERM: /* below the counter floor, not a kept version */
		return "rollback: ";
	case ENOEXEC: /* another architecture */
		return "wrong software: ";
	case EKEYREJECTED: /* not a threshold of release keys */
	case EBADMSG:
		return "arbitrary software: ";
	case EKEYEXPIRED:
		return "freeze: ";
	default:
		return "";
	}
}

/* The device's wave is open: run the release, or say why not. */
static void dep_start(struct dep_app *a)
{
	struct da_deploy *m = a->owner;
	struct cr_deploy *d = a->d;
	struct da_app_rec rec;
	struct cr_error *err = NULL;
	char line[256];
	int have, kept, rc;

	have = da_apps_get(m->cfg.apps, a->app, &rec) == 0;
	if (cr_deploy_expired(d, cr_now_unix())) {
		a->started = 1;
		cr_log_warnx("app %s: deployment seq %" PRIu64 " expired "
			     "before it ran (freeze)", a->app, d->seq);
		dep_report(a, CR_RS_STALE, have ? rec.current : "",
			   "freeze: the deployment expired before it ran");
		return;
	}
	if (have && !da_app_state_terminal(rec.state))
		return; /* a switch is in progress: its end comes first */
	/* The version already runs (committed, or back on it after a
	 * rollback): nothing to switch. */
	if (have && strcmp(rec.current, d->release->version) == 0 &&
	    (rec.state == DA_APP_COMMITTED ||
	     rec.state == DA_APP_ROLLED_BACK)) {
		a->started = 1;
		dep_report(a, CR_RS_SUCCEEDED, rec.current,
			   "already running this version");
		return;
	}
	kept = have && da_app_keeps(&rec, d->release->version);
	if (d->rollback)
		rc = da_apps_install_rollback(m->cfg.apps, d->release->blob,
					      d->release->blob_len,
					      d->health_window_ms,
					      dep_switch_done, m, line,
					      sizeof(line), &err);
	else
		rc = da_apps_install(m->cfg.apps, d->release->blob,
				     d->release->blob_len, d->health_window_ms,
				     dep_switch_done, m, line, sizeof(line),
				     &err);
	a->started = 1;
	if (rc < 0) {
		if (err != NULL && err->code == EBUSY) {
			/* Raced with a local install: try again later. */
			a->started = 0;
			cr_error_free(err);
			return;
		}
		char why[CP_REASON_MAX];

		snprintf(why, sizeof(why), "%s%s", dep_attack(err),
			 cr_error_msg(err));
		cr_log_warnx("app %s: deployment seq %" PRIu64 " refused: %s",
			     a->app, d->seq, why);
		dep_report(a, CR_RS_REFUSED, have ? rec.current : "", why);
		cr_error_free(err);
		return;
	}
	dep_report(a, kept ? CR_RS_STAGED : CR_RS_PULLING,
		   have ? rec.current : "",
		   kept ? "retained version, nothing to download" : "");
}

/* Its wave open, or expired (a freeze, or a rollout abandoned before the
 * wave came): dep_start() runs it or reports stale. */
static void dep_maybe_start(struct dep_app *a)
{
	if (a->d != NULL && !a->started &&
	    (a->wave <= a->open_wave ||
	     cr_deploy_expired(a->d, cr_now_unix())))
		dep_start(a);
}

/* ---- Records pushed by the ring ---------------------------------------- */

/* A verified deployment carrying a rotation of the trust root: the
 * device's root from now on, kept in the agent's LMDB (meta/trust) so it
 * outlives a restart with the --trust file it was provisioned with. */
static void dep_adopt_trust(struct da_deploy *m, const struct cr_deploy *d)
{
	struct cr_error *err = NULL;
	uint64_t was = m->trust->version;
	int rc = cr_deploy_adopt_trust(&m->trust, d, &err);

	if (rc == 0)
		return;
	if (rc < 0 || cr_kv_put(m->cfg.kv, DEP_META_DB, DEP_TRUST_KEY,
				strlen(DEP_TRUST_KEY), m->trust->blob,
				m->trust->blob_len, &err) < 0) {
		cr_log_warnx("trust root rotation: %s", cr_error_msg(err));
		cr_error_free(err);
		return;
	}
	cr_log_info("trust root v%" PRIu64 " adopted (a rotation from v%" PRIu64
		    " its root keys signed): keys it dropped sign nothing here "
		    "any more",
		    m->trust->version, was);
}

/* The rotated root kept by dep_adopt_trust(), when it is a valid
 * rotation of the provisioned one and newer. */
static void dep_load_trust(struct da_deploy *m)
{
	struct cr_error *err = NULL;
	struct cr_trust *t = NULL;
	uint8_t *buf = malloc(CP_FLEET_RECORD_MAX);
	size_t len = 0;
	int rc;

	if (buf == NULL)
		return;
	rc = cr_kv_get(m->cfg.kv, DEP_META_DB, DEP_TRUST_KEY,
		       strlen(DEP_TRUST_KEY), buf, CP_FLEET_RECORD_MAX, &len,
		       &err);
	if (rc == 0 && len <= CP_FLEET_RECORD_MAX &&
	    cr_trust_decode(buf, len, m->trust, 0, &t, &err) == 0 &&
	    t->version > m->trust->version) {
		cr_log_info("trust root v%" PRIu64 " (adopted from a rotation) "
			    "instead of the provisioned v%" PRIu64,
			    t->version, m->trust->version);
		cr_trust_free(m->trust);
		m->trust = t;
		t = NULL;
	} else if (rc != -ENOENT && err != NULL) {
		cr_log_warnx("the adopted trust root is ignored: %s",
			     cr_error_msg(err));
	}
	cr_error_free(err);
	cr_trust_free(t);
	free(buf);
}

/* pulled: asked for at attach (every deployment of the fleet comes,
 * those for other devices too: not a replay then). */
static void dep_on_deployment(struct da_deploy *m, const uint8_t *blob,
			      size_t len, int pulled)
{
	struct cr_deploy *d = NULL;
	struct dep_app *a;
	char why[400];

	if (cr_deploy_accept(blob, len, m->trust, m->id.hash, m->cfg.tags,
			     m->cfg.n_tags, &d, why, sizeof(why)) < 0) {
		/* Not for us (or not genuine): nothing to report to a
		 * deployment that is not ours to follow. */
		if (pulled && strncmp(why, "replay:", 7) == 0)
			cr_log_debug("deployment not for us: %s", why);
		else
			cr_log_warnx("deployment refused: %s", why);
		return;
	}
	dep_adopt_trust(m, d);
	a = dep_find(m, d->app);
	if (a != NULL && a->d != NULL && d->seq <= a->d->seq) {
		cr_deploy_free(d); /* seen, or older: the newest holds */
		return;
	}
	if (a == NULL && (a = dep_add(m, d->app)) == NULL) {
		cr_deploy_free(d);
		return;
	}
	cr_deploy_free(a->d);
	a->d = d;
	a->open_wave = 0;
	a->started = 0;
	a->wave = cr_deploy_wave_of(d, m->id.hash);
	cr_log_info("app %s: deployment seq %" PRIu64 " of %s%s, wave %zu "
		    "of %zu", d->app, d->seq, d->release->version,
		    d->rollback ? " (rollback)" : "", a->wave + 1, d->n_waves);
	dep_save(a);
	dep_maybe_start(a);
}

static void dep_on_advance(struct da_deploy *m, const uint8_t *blob,
			   size_t len)
{
	struct cr_advance *adv = NULL;
	struct cr_error *err = NULL;

	for (struct dep_app *a = m->apps; a != NULL; a = a->next) {
		if (a->d == NULL)
			continue;
		if (cr_advance_decode(blob, len, a->d->trust, &adv, &err) < 0) {
			cr_log_warnx("advance refused: %s", cr_error_msg(err));
			cr_error_free(err);
			return;
		}
		if (memcmp(adv->deployment, a->d->digest, 32) == 0) {
			if (adv->wave > a->open_wave &&
			    adv->wave < a->d->n_waves) {
				a->open_wave = adv->wave;
				dep_save(a);
			}
			cr_advance_free(adv);
			dep_maybe_start(a);
			return;
		}
		adv = cr_advance_free(adv);
	}
}

/* A config the ring pushed (on attach, or a new one): the app manager
 * checks and applies it.  The one running or tried comes again at every
 * attach: only other refusals are worth a warning. */
static void dep_on_config(struct da_deploy *m, const uint8_t *blob,
			  size_t len)
{
	struct cr_error *err = NULL;
	char line[200];

	if (da_apps_config(m->cfg.apps, blob, len, line, sizeof(line), &err) <
	    0) {
		if (err != NULL && err->code == ESTALE)
			cr_log_debug("config refused: %s", cr_error_msg(err));
		else
			cr_log_warnx("config refused: %s", cr_error_msg(err));
		cr_error_free(err);
	}
}

static void dep_on_piece(struct da_deploy *m, int link,
			 const Carrier__FleetPut *p)
{
	struct cr_fleet_asm *s = &m->asm_[link];
	uint8_t buf[128];
	long n;

	if (cr_fleet_asm_add(s, p->kind, p->digest.data, p->digest.len,
			     p->total, p->offset, p->data.data,
			     p->data.len) != 1)
		return;
	n = cr_fleet_ack_pack(s->kind, s->digest, buf, sizeof(buf));
	if (n > 0)
		m->cfg.send(m->cfg.send_arg, link, buf, (size_t)n);
	if (s->kind == CR_REC_DEPLOYMENT)
		dep_on_deployment(m, s->buf, s->total, 0);
	else if (s->kind == CR_REC_ADVANCE)
		dep_on_advance(m, s->buf, s->total);
	else if (s->kind == CR_REC_CONFIG)
		dep_on_config(m, s->buf, s->total);
	cr_fleet_asm_reset(s);
}

/* ---- Records pulled at attach ------------------------------------------ */

static void dep_pull_send(struct da_deploy *m, int link, Carrier__Hop *h)
{
	struct dep_pull *q = &m->pull[link];
	uint8_t buf[512];
	long n;

	h->req_id = q->req = DEP_PULL_REQ | ++m->pull_seq;
	n = cp_hop_pack(h, buf, sizeof(buf));
	if (n < 0 || m->cfg.send(m->cfg.send_arg, link, buf, (size_t)n) < 0)
		q->req = 0; /* the link went: its next attach asks again */
}

/* The next page of apps, after the last one of this page. */
static void dep_pull_apps(struct da_deploy *m, int link, const char *after)
{
	Carrier__Hop h = CARRIER__HOP__INIT;
	Carrier__FleetAppsRequest r = CARRIER__FLEET_APPS_REQUEST__INIT;
	uint8_t vendor[32];

	cr_fleet_vendor_id(m->trust, vendor);
	r.vendor_id.data = vendor;
	r.vendor_id.len = 32;
	r.after = (char *)(uintptr_t)after;
	h.msg_case = CARRIER__HOP__MSG_FLEET_APPS_REQ;
	h.fleet_apps_req = &r;
	dep_pull_send(m, link, &h);
}

static void dep_pull_get(struct da_deploy *m, int link, uint32_t offset)
{
	struct dep_pull *q = &m->pull[link];
	Carrier__Hop h = CARRIER__HOP__INIT;
	Carrier__FleetGet g = CARRIER__FLEET_GET__INIT;
	uint8_t vendor[32];

	cr_fleet_vendor_id(m->trust, vendor);
	g.kind = q->kind;
	g.vendor_id.data = vendor;
	g.vendor_id.len = 32;
	g.app = q->apps[q->next];
	g.offset = offset;
	h.msg_case = CARRIER__HOP__MSG_FLEET_GET;
	h.fleet_get = &g;
	dep_pull_send(m, link, &h);
}

/* Done with what was asked (a record, or the node has none): the advance
 * after the deployment, then the next app, then the next page. */
static void dep_pull_next(struct da_deploy *m, int link)
{
	struct dep_pull *q = &m->pull[link];

	cr_fleet_asm_reset(&q->asm_);
	q->req = 0;
	if (q->kind == CR_REC_DEPLOYMENT) {
		q->kind = CR_REC_ADVANCE;
	} else {
		q->kind = CR_REC_DEPLOYMENT;
		q->next++;
	}
	if (q->next < q->n_apps)
		dep_pull_get(m, link, 0);
	else if (q->more && q->n_apps > 0)
		dep_pull_apps(m, link, q->apps[q->n_apps - 1]);
}

/* The loop's pass (dep_tick) runs at once: something changed (a message,
 * an app's step); it works out its next wake-up again. */
static void dep_kick(struct da_deploy *m)
{
	if (m->ev_tick != NULL)
		event_add(m->ev_tick, &(struct timeval){ 0, 0 });
}

void da_deploy_attached(struct da_deploy *m, int link)
{
	if (m == NULL || link < 0 || link >= DEP_LINKS)
		return;
	cr_fleet_asm_reset(&m->pull[link].asm_);
	memset(&m->pull[link], 0, sizeof(m->pull[link]));
	dep_pull_apps(m, link, "");
	dep_kick(m);
}

/* An answer to a pull on link: 1 when it was one. */
static int dep_pull_on_hop(struct da_deploy *m, int link,
			   const Carrier__Hop *msg)
{
	struct dep_pull *q;

	if (link < 0 || link >= DEP_LINKS || msg->req_id == 0 ||
	    msg->req_id != m->pull[link].req)
		return 0;
	q = &m->pull[link];
	switch (msg->msg_case) {
	case CARRIER__HOP__MSG_FLEET_APPS: {
		const Carrier__FleetApps *r = msg->fleet_apps;

		q->n_apps = 0;
		for (size_t i = 0; i < r->n_apps && q->n_apps < DEP_PULL_APPS;
		     i++)
			if (r->apps[i] != NULL &&
			    strlen(r->apps[i]) < CR_FLEET_APP_MAX)
				snprintf(q->apps[q->n_apps++],
					 CR_FLEET_APP_MAX, "%s", r->apps[i]);
		q->more = r->more && q->n_apps == r->n_apps;
		q->next = 0;
		q->kind = CR_REC_DEPLOYMENT;
		q->req = 0;
		if (q->n_apps > 0)
			dep_pull_get(m, link, 0);
		return 1;
	}
	case CARRIER__HOP__MSG_FLEET_PUT: {
		const Carrier__FleetPut *p = msg->fleet_put;
		int rc;

		if (p->kind != q->kind) {
			dep_pull_next(m, link);
			return 1;
		}
		rc = cr_fleet_asm_add(&q->asm_, p->kind, p->digest.data,
				      p->digest.len, p->total, p->offset,
				      p->data.data, p->data.len);
		if (rc == 0) {
			dep_pull_get(m, link, q->asm_.got);
			return 1;
		}
		/* Checked as a pushed one: an older or already-applied
		 * deployment changes nothing. */
		if (rc == 1 && q->kind == CR_REC_DEPLOYMENT)
			dep_on_deployment(m, q->asm_.buf, q->asm_.total, 1);
		else if (rc == 1)
			dep_on_advance(m, q->asm_.buf, q->asm_.total);
		dep_pull_next(m, link);
		return 1;
	}
	case CARRIER__HOP__MSG_ERROR:
		/* None held (NOT_FOUND), or refused: the next. */
		dep_pull_next(m, link);
		return 1;
	default:
		return 0;
	}
}

static int dep_on_hop(struct da_deploy *m, int link, const Carrier__Hop *msg)
{
	if (dep_pull_on_hop(m, link, msg))
		return 1;
	if (msg->msg_case == CARRIER__HOP__MSG_FLEET_PUT) {
		const Carrier__FleetPut *p = msg->fleet_put;

		if (m->cfg.test_drop_pushes > 0 && p->kind != CR_REC_CONFIG) {
			uint64_t now = cr_now_ms();

			if (m->test_drop_until == 0)
				m->test_drop_until =
					m->cfg.test_drop_pushes == UINT_MAX ?
						UINT64_MAX :
						now + m->cfg.test_drop_pushes *
							      1000ull;
			if (now < m->test_drop_until)
				return 1;
		}
		if (link >= 0 && link < DEP_LINKS)
			dep_on_piece(m, link, msg->fleet_put);
		return 1;
	}
	if (msg->req_id == 0 || (msg->msg_case != CARRIER__HOP__MSG_FLEET_ACK &&
				 msg->msg_case != CARRIER__HOP__MSG_ERROR))
		return 0;
	for (struct dep_app *a = m->apps; a != NULL; a = a->next) {
		if (a->acked || a->last.seq != msg->req_id)
			continue;
		if (msg->msg_case == CARRIER__HOP__MSG_FLEET_ACK) {
			a->acked = 1;
			dep_save(a);
		} else {
			/* Refused (a node without the device's presence
			 * yet, a deployment it dropped): again later. */
			cr_log_warnx("app %s: report refused by a node: %s",
				     a->app, msg->error->message);
			a->retry_ms = a->retry_ms * 2 > DEP_REFUSED_MAX_MS ?
					      DEP_REFUSED_MAX_MS :
					      a->retry_ms * 2;
		}
		return 1;
	}
	return msg->msg_case == CARRIER__HOP__MSG_FLEET_ACK;
}

int da_deploy_on_hop(struct da_deploy *m, int link, const Carrier__Hop *msg)
{
	int rc = dep_on_hop(m, link, msg);

	if (rc)
		dep_kick(m);
	return rc;
}

/* ---- Loop ------------------------------------------------------------ */

/* A pass: deployments whose wave opened (or that expired) start, reports
 * follow the apps' journal, unacknowledged ones go again.  Then it sleeps
 * until the next resend or expiry is due: an idle device (every report
 * acknowledged) does not wake for rollouts; what changes that arrives as
 * a message (da_deploy_on_hop) or an app's step (dep_apps_changed), which
 * run the pass at once (dep_kick). */
static void dep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct da_deploy *m = arg;
	uint64_t now = cr_now_ms(), next = UINT64_MAX;
	uint64_t wall = cr_now_unix();

	(void)fd;
	(void)what;
	for (struct dep_app *a = m->apps; a != NULL; a = a->next) {
		dep_maybe_start(a);
		dep_poll(a);
		if (!a->acked && a->last.blob_len > 0 &&
		    now - a->sent_ms >= a->retry_ms)
			dep_send_report(a, now);
		if (!a->acked && a->last.blob_len > 0 &&
		    a->sent_ms + a->retry_ms < next)
			next = a->sent_ms + a->retry_ms;
		if (a->d != NULL && !a->started) {
			uint64_t in = a->d->expires_unix > wall ?
					      (a->d->expires_unix - wall) * 1000 :
					      0;

			if (in > DEP_WALL_MAX_MS)
				in = DEP_WALL_MAX_MS;
			if (now + in < next)
				next = now + in;
		}
	}
	if (next == UINT64_MAX)
		return;
	next = next > now ? next - now : 1;
	event_add(m->ev_tick, &(struct timeval){ (time_t)(next / 1000),
						 (suseconds_t)(next % 1000) * 1000 });
}

/* An app's step (da_apps_listen): its report follows at once. */
static void dep_apps_changed(void *arg)
{
	dep_kick(arg);
}

uint64_t da_deploy_seq(void *arg, const char *app)
{
	struct dep_app *a = arg != NULL ? dep_find(arg, app) : NULL;

	return a != NULL && a->d != NULL ? a->d->seq : 0;
}

struct da_deploy *da_deploy_new(struct event_base *base,
				const struct da_deploy_cfg *cfg,
				struct cr_error **err)
{
	struct da_deploy *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	cr_id_from_pk(CR_ID_DEVICE, cfg->kp->pk, &m->id);
	if (cr_trust_load(cfg->trust_path, NULL, cr_now_unix(), &m->trust,
			  err) < 0)
		goto fail;
	dep_load_trust(m);
	if (cr_kv_foreach(cfg->kv, DEP_DB, dep_load_one, m, err) < 0)
		goto fail;
	m->ev_tick = event_new(base, -1, 0, dep_tick, m);
	if (m->ev_tick == NULL || event_add(m->ev_tick, &(struct timeval){ 0, 0 }) < 0) {
		cr_error_set(err, ENOMEM, "cannot create events");
		goto fail;
	}
	da_apps_set_deploy_seq(cfg->apps, da_deploy_seq, m);
	da_apps_listen(cfg->apps, dep_apps_changed, m);
	return m;
fail:
	da_deploy_free(m);
	return NULL;
}

struct da_deploy *da_deploy_free(struct da_deploy *m)
{
	if (m == NULL)
		return NULL;
	if (m->ev_tick != NULL)
		event_free(m->ev_tick);
	da_apps_forget(m->cfg.apps, m);
	da_apps_set_deploy_seq(m->cfg.apps, NULL, NULL);
	while (m->apps != NULL) {
		struct dep_app *a = m->apps;

		m->apps = a->next;
		cr_deploy_free(a->d);
		free(a);
	}
	for (size_t i = 0; i < DEP_LINKS; i++) {
		cr_fleet_asm_reset(&m->asm_[i]);
		cr_fleet_asm_reset(&m->pull[i].asm_);
	}
	cr_trust_free(m->trust);
	free(m);
	return NULL;
}
