/*
 * Fleet rollouts from the vendor's side (docs/fleet.md "Rollouts"):
 *
 *   carrier deploy RELEASE --trust TRUST --key ROLLOUT_KEY --to TARGETS ...
 *   carrier rollback APP --trust TRUST --key ROLLOUT_KEY [--to VERSION] ...
 *   carrier status [APP] [--json] [--follow]
 *   carrier watch [--json]
 *
 * deploy signs a deployment, publishes it to the ring and follows it:
 * it counts the verified, device-signed reports of each wave and signs an
 * advance once every member of the open waves is done with the failures
 * within the threshold; past the threshold it halts.  Nothing else ever
 * opens a wave, so a vendor that goes away leaves the rollout paused.
 * The CLI verifies every record itself: nodes only store and forward.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>

#include "client.h"
#include "commands.h"
#include "cp/hop.h"
#include "cp/limits.h"
#include "cr/appconfig.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/health.h"
#include "cr/map.h"
#include "cr/util.h"

enum {
	DEP_REQ_MS = 2500,
	DEP_POLL_MS = 1000,
	/* watch polls faster: with the nodes calling a silent device gone
	 * 3.25 keepalives after it was last heard, a 250 ms poll keeps a
	 * SIGKILLed agent's offline line within 4 keepalives at 1 s. */
	WATCH_POLL_MS = 250,
	DEP_EUSAGE = 1000,
};

/* One device of a deployment as the CLI sees it. */
struct dev_row {
	uint8_t id[CR_ID_HASHLEN];
	int online, held, targeted;
	uint64_t last_seen_ms_ago;
	size_t wave;
	struct cr_report r; /* r.state == CR_RS_NONE: no report yet */
};

struct fleet_view {
	struct dev_row *rows;
	size_t n, cap;
	struct cr_map *idx; /* id -> row index + 1 */
	size_t forged;      /* reports that failed verification */
};

struct dep_ctx {
	struct event_base *base;
	struct cl_client *c;
	struct cr_trust *trust;
	struct cr_keypair kp;
	int have_key;
	uint8_t vendor[32];
	int json, tty;
	uint64_t timeout_ms; /* follow at most this long; 0: no bound */
};

static volatile sig_atomic_t dep_stop;

/* Wall-clock ms: deployment sequences grow across runs and machines. */
static uint64_t dep_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void dep_on_signal(int sig)
{
	(void)sig;
	dep_stop = 1;
}

static int dep_report(struct cr_error *err)
{
	int code = err != NULL && err->code == DEP_EUSAGE ? 2 : 1;

	cl_fail(code, "%s", err != NULL ? cr_error_msg(err) : "failed");
	cr_error_free(err);
	return code;
}

/* ---- view -------------------------------------------------------------------- */

static void view_free(struct fleet_view *v)
{
	free(v->rows);
	cr_map_free(v->idx);
	memset(v, 0, sizeof(*v));
}

static struct dev_row *view_row(struct fleet_view *v,
				const uint8_t id[CR_ID_HASHLEN])
{
	uintptr_t i;

	if (v->idx == NULL && (v->idx = cr_map_new(CR_ID_HASHLEN)) == NULL)
		return NULL;
	i = (uintptr_t)cr_map_get(v->idx, id);
	if (i != 0)
		return &v->rows[i - 1];
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 256;
		struct dev_row *r = realloc(v->rows, cap * sizeof(*r));

		if (r == NULL)
			return NULL;
		v->rows = r;
		v->cap = cap;
	}
	memset(&v->rows[v->n], 0, sizeof(v->rows[v->n]));
	memcpy(v->rows[v->n].id, id, CR_ID_HASHLEN);
	if (cr_map_put(v->idx, v->rows[v->n].id, (void *)(uintptr_t)(v->n + 1)) <
	    0)
		return NULL;
	return &v->rows[v->n++];
}

/* ---- ring I/O ------------------------------------------------------------------ */

/* Publishes a record in FleetPut pieces to every node that answers;
 * returns how many acknowledged it (the error of the last refusal in
 * *err when none did). */
static size_t dep_publish(struct dep_ctx *x, uint32_t kind, const uint8_t *blob,
			  size_t len, struct cr_error **err)
{
	const struct cr_ring *ring = cl_ring(x->c);
	uint8_t digest[32], buf[CP_MSG_MAX];
	size_t acks = 0;

	crypto_generichash(digest, 32, blob, len, NULL, 0);
	for (size_t i = 0; i < ring->n_nodes; i++) {
		for (int attempt = 0; attempt < 3; attempt++) {
			Carrier__Hop m = CARRIER__HOP__INIT, *rep;
			Carrier__FleetPut p = CARRIER__FLEET_PUT__INIT;
			struct cr_error *e = NULL;
			struct cr_sess *s = cl_node(x->c, i, DEP_REQ_MS, &e);
			size_t last;

			if (s == NULL) {
				cr_error_free(*err);
				*err = e;
				break;
			}
			m.msg_case = CARRIER__HOP__MSG_FLEET_PUT;
			m.fleet_put = &p;
			p.kind = kind;
			p.digest.data = digest;
			p.digest.len = 32;
			p.total = (uint32_t)len;
			last = (len - 1) / CP_FLEET_PIECE * CP_FLEET_PIECE;
			for (size_t off = 0; off < last; off += CP_FLEET_PIECE) {
				long n;

				p.offset = (uint32_t)off;
				p.data.data = (uint8_t *)(uintptr_t)(blob + off);
				p.data.len = CP_FLEET_PIECE;
				n = cp_hop_pack(&m, buf, sizeof(buf));
				if (n > 0)
					cr_sess_send(s, buf, (size_t)n,
						     cr_now_ms());
			}
			p.offset = (uint32_t)last;
			p.data.data = (uint8_t *)(uintptr_t)(blob + last);
			p.data.len = len - last;
			rep = cl_request(x->c, i, &m, DEP_REQ_MS, &e);
			if (rep == NULL) {
				cr_error_free(*err);
				*err = e;
				continue;
			}
			if (rep->msg_case == CARRIER__HOP__MSG_FLEET_ACK) {
				acks++;
				cp_hop_free(rep);
				break;
			}
			if (rep->msg_case == CARRIER__HOP__MSG_ERROR) {
				cr_error_free(*err);
				*err = NULL;
				cr_error_set(err, EKEYREJECTED,
					     "ring node %s refused it: %s",
					     ring->nodes[i].addr,
					     rep->error->message);
			}
			cp_hop_free(rep);
			break;
		}
	}
	return acks;
}

/* The record (kind 1 or 2) of (vendor, app) as node idx holds it. */
static int dep_get(struct dep_ctx *x, size_t idx, uint32_t kind, const char *app,
		   uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL;
	size_t total = 0, off = 0;

	do {
		Carrier__Hop m = CARRIER__HOP__INIT, *rep;
		Carrier__FleetGet g = CARRIER__FLEET_GET__INIT;
		struct cr_error *e = NULL;

		g.kind = kind;
		g.vendor_id.data = x->vendor;
		g.vendor_id.len = 32;
		g.app = (char *)(uintptr_t)app;
		g.offset = (uint32_t)off;
		m.msg_case = CARRIER__HOP__MSG_FLEET_GET;
		m.fleet_get = &g;
		rep = cl_request(x->c, idx, &m, DEP_REQ_MS, &e);
		cr_error_free(e);
		if (rep == NULL || rep->msg_case != CARRIER__HOP__MSG_FLEET_PUT ||
		    rep->fleet_put->offset != off || rep->fleet_put->total == 0 ||
		    rep->fleet_put->total > CP_FLEET_RECORD_MAX ||
		    (total != 0 && rep->fleet_put->total != total) ||
		    rep->fleet_put->data.len == 0 ||
		    off + rep->fleet_put->data.len > rep->fleet_put->total) {
			cp_hop_free(rep);
			free(buf);
			return -1;
		}
		if (buf == NULL) {
			total = rep->fleet_put->total;
			buf = malloc(total);
			if (buf == NULL) {
				cp_hop_free(rep);
				return -1;
			}
		}
		memcpy(buf + off, rep->fleet_put->data.data,
		       rep->fleet_put->data.len);
		off += rep->fleet_put->data.len;
		cp_hop_free(rep);
	} while (off < total);
	*out = buf;
	*out_len = total;
	return 0;
}

/* Hands take the record (kind, app) of every node that holds one. */
static void dep_each_record(struct dep_ctx *x, uint32_t kind, const char *app,
			    void (*take)(const uint8_t *blob, size_t len,
					 void *arg),
			    void *arg)
{
	const struct cr_ring *ring = cl_ring(x->c);

	for (size_t i = 0; i < ring->n_nodes; i++) {
		uint8_t *blob;
		size_t len;

		if (dep_get(x, i, kind, app, &blob, &len) < 0)
			continue;
		take(blob, len, arg);
		free(blob);
	}
}

struct fetch_best {
	struct dep_ctx *x;
	struct cr_deploy *best;
};

static void fetch_take(const uint8_t *blob, size_t len, void *arg)
{
	struct fetch_best *fb = arg;
	struct cr_deploy *d = NULL;
	struct cr_error *e = NULL;

	if (cr_deploy_decode(blob, len, fb->x->trust, &d, &e) == 0 &&
	    memcmp(d->vendor_id, fb->x->vendor, 32) == 0 &&
	    (fb->best == NULL || d->seq > fb->best->seq)) {
		cr_deploy_free(fb->best);
		fb->best = d;
	} else {
		cr_deploy_free(d);
	}
	cr_error_free(e);
}

/* The newest valid deployment of app any node holds (NULL: none). */
static struct cr_deploy *dep_fetch(struct dep_ctx *x, const char *app)
{
	struct fetch_best fb = { x, NULL };

	dep_each_record(x, CR_REC_DEPLOYMENT, app, fetch_take, &fb);
	return fb.best;
}

struct open_wave {
	const struct cr_deploy *d;
	uint32_t wave;
};

static void wave_take(const uint8_t *blob, size_t len, void *arg)
{
	struct open_wave *ow = arg;
	struct cr_advance *a = NULL;
	struct cr_error *e = NULL;

	if (cr_advance_decode(blob, len, ow->d->trust, &a, &e) == 0 &&
	    memcmp(a->deployment, ow->d->digest, 32) == 0 &&
	    a->wave < ow->d->n_waves && a->wave > ow->wave)
		ow->wave = a->wave;
	cr_advance_free(a);
	cr_error_free(e);
}

/* The wave open for d: the highest valid advance any node holds. */
static uint32_t dep_open_wave(struct dep_ctx *x, const struct cr_deploy *d)
{
	struct open_wave ow = { d, 0 };

	dep_each_record(x, CR_REC_ADVANCE, d->app, wave_take, &ow);
	return ow.wave;
}

/* ---- paged queries ------------------------------------------------------------- */

/* One paged query to every node (the apps of a fleet, the devices of a
 * deployment, its reports, health records): the request names what is
 * asked; take reads one answer, copies the next page's cursor into next
 * and returns its length, 0 on the last page. */
struct dep_query {
	Carrier__Hop__MsgCase ask, answer;
	const char *app;           /* FLEET_APPS_REQ: none; DEVICES_REQ */
	const uint8_t *deployment; /* FLEET_REPORTS_REQ */
	size_t (*take)(const Carrier__Hop *rep, uint8_t *next, void *arg);
	void *arg;
};

enum { DEP_CURSOR_MAX = CR_FLEET_APP_MAX > 32 ? CR_FLEET_APP_MAX : 32,
       DEP_PAGES_MAX = 4096 };

static void dep_pages(struct dep_ctx *x, const struct dep_query *dq)
{
	const struct cr_ring *ring = cl_ring(x->c);

	for (size_t i = 0; i < ring->n_nodes; i++) {
		uint8_t after[DEP_CURSOR_MAX + 1] = { 0 };
		size_t after_len = 0;

		/* Bounded: a node answers at least one item a page. */
		for (int page = 0; page < DEP_PAGES_MAX; page++) {
			Carrier__Hop m = CARRIER__HOP__INIT, *rep;
			Carrier__FleetAppsRequest qa =
				CARRIER__FLEET_APPS_REQUEST__INIT;
			Carrier__FleetDevicesRequest qd =
				CARRIER__FLEET_DEVICES_REQUEST__INIT;
			Carrier__FleetReportsRequest qr =
				CARRIER__FLEET_REPORTS_REQUEST__INIT;
			Carrier__HealthQuery qh = CARRIER__HEALTH_QUERY__INIT;
			ProtobufCBinaryData cur = { after_len, after };
			struct cr_error *e = NULL;

			m.msg_case = dq->ask;
			switch (dq->ask) {
			case CARRIER__HOP__MSG_FLEET_APPS_REQ:
				qa.vendor_id.data = x->vendor;
				qa.vendor_id.len = 32;
				qa.after = (char *)after;
				m.fleet_apps_req = &qa;
				break;
			case CARRIER__HOP__MSG_FLEET_DEVICES_REQ:
				qd.vendor_id.data = x->vendor;
				qd.vendor_id.len = 32;
				qd.app = (char *)(uintptr_t)dq->app;
				qd.after = cur;
				m.fleet_devices_req = &qd;
				break;
			case CARRIER__HOP__MSG_FLEET_REPORTS_REQ:
				qr.deployment.data =
					(uint8_t *)(uintptr_t)dq->deployment;
				qr.deployment.len = 32;
				qr.after = cur;
				m.fleet_reports_req = &qr;
				break;
			default:
				qh.after = cur;
				m.health_query = &qh;
				break;
			}
			rep = cl_request(x->c, i, &m, DEP_REQ_MS, &e);
			cr_error_free(e);
			if (rep == NULL || rep->msg_case != dq->answer) {
				cp_hop_free(rep);
				break;
			}
			after_len = dq->take(rep, after, dq->arg);
			after[after_len] = '\0';
			cp_hop_free(rep);
			if (after_len == 0)
				break;
		}
	}
}

static size_t collect_device(const Carrier__Hop *rep, uint8_t *next,
			     void *arg)
{
	const Carrier__FleetDevices *fds = rep->fleet_devices;
	struct fleet_view *v = arg;

	for (size_t k = 0; k < fds->n_devices; k++) {
		const Carrier__FleetDevice *fd = fds->devices[k];
		struct dev_row *r;

		if (fd->id.len != CR_ID_HASHLEN ||
		    (r = view_row(v, fd->id.data)) == NULL)
			continue;
		r->targeted = 1;
		if (fd->held && (!r->held || fd->online ||
				 fd->last_seen_ms_ago < r->last_seen_ms_ago)) {
			if (!r->online) {
				r->online = fd->online;
				r->last_seen_ms_ago = fd->last_seen_ms_ago;
			}
			r->held = 1;
		}
	}
	if (fds->next.len != CR_ID_HASHLEN)
		return 0;
	memcpy(next, fds->next.data, CR_ID_HASHLEN);
	return CR_ID_HASHLEN;
}

struct collect_reports {
	struct fleet_view *v;
	const struct cr_deploy *d;
};

static size_t collect_report(const Carrier__Hop *rep, uint8_t *next,
			     void *arg)
{
	const Carrier__FleetReports *fr = rep->fleet_reports;
	struct collect_reports *c = arg;

	for (size_t k = 0; k < fr->n_reports; k++) {
		static struct cr_report r;
		struct cr_error *re = NULL;
		struct dev_row *row;

		/* Only what the device signed counts; a node's forgery is
		 * counted and dropped. */
		if (cr_report_decode(fr->reports[k].data, fr->reports[k].len,
				     &r, &re) < 0 ||
		    memcmp(r.deployment, c->d->digest, 32) != 0) {
			cr_error_free(re);
			c->v->forged++;
			continue;
		}
		row = view_row(c->v, r.device.hash);
		if (row != NULL && r.seq > row->r.seq)
			row->r = r;
	}
	if (fr->next.len != 32)
		return 0;
	memcpy(next, fr->next.data, 32);
	return 32;
}

/* Devices the nodes hold presence for that d targets, and the reports. */
static void dep_collect(struct dep_ctx *x, const struct cr_deploy *d,
			struct fleet_view *v)
{
	struct collect_reports cr = { v, d };
	struct dep_query devs = {
		.ask = CARRIER__HOP__MSG_FLEET_DEVICES_REQ,
		.answer = CARRIER__HOP__MSG_FLEET_DEVICES,
		.app = d->app,
		.take = collect_device,
		.arg = v,
	};
	struct dep_query reps = {
		.ask = CARRIER__HOP__MSG_FLEET_REPORTS_REQ,
		.answer = CARRIER__HOP__MSG_FLEET_REPORTS,
		.deployment = d->digest,
		.take = collect_report,
		.arg = &cr,
	};

	view_free(v);
	for (size_t i = 0; i < d->n_devices; i++) {
		struct dev_row *r = view_row(v, d->devices[i]);

		if (r != NULL)
			r->targeted = 1;
	}
	dep_pages(x, &devs);
	dep_pages(x, &reps);
	for (size_t i = 0; i < v->n; i++)
		v->rows[i].wave = cr_deploy_wave_of(d, v->rows[i].id);
}

/* ---- the follow view ------------------------------------------------------------- */

struct wave_count {
	uint32_t members, succeeded, failed, running, waiting;
};

/* Counts of the devices targeted in each wave (not cumulative). */
static void dep_count(const struct cr_deploy *d, const struct fleet_view *v,
		      struct wave_count *w)
{
	memset(w, 0, d->n_waves * sizeof(*w));
	for (size_t i = 0; i < v->n; i++) {
		const struct dev_row *r = &v->rows[i];
		struct wave_count *c = &w[r->wave];

		if (!r->targeted)
			continue;
		c->members++;
		switch (r->r.state) {
		case CR_RS_SUCCEEDED:
			c->succeeded++;
			break;
		case CR_RS_FAILED:
		case CR_RS_ROLLED_BACK:
		case CR_RS_REFUSED:
		case CR_RS_STALE:
			c->failed++;
			break;
		case CR_RS_NONE:
			c->waiting++;
			break;
		default:
			c->running++;
			break;
		}
	}
}

static void dep_wave_line(const struct cr_deploy *d, size_t k, uint32_t open,
			  const struct wave_count *c, char *out, size_t cap)
{
	snprintf(out, cap,
		 "wave %zu/%zu (%" PRIu32 "%%): %" PRIu32 " devices, %" PRIu32
		 " succeeded, %" PRIu32 " failed, %" PRIu32
		 " in progress, %" PRIu32 " waiting%s",
		 k + 1, d->n_waves, d->waves[k], c->members, c->succeeded,
		 c->failed, c->running, c->waiting,
		 k > open ? " (not open)" : "");
}

/*
 * Follows d until it completes (0), halts past its failure threshold (1,
 * the reason printed), the user interrupts or the time runs out (1, the
 * rollout stays paused).  Advances are signed only with a rollout key.
 */
static int dep_follow(struct dep_ctx *x, struct cr_deploy *d)
{
	struct fleet_view v = { 0 };
	struct wave_count w[CP_DEPLOY_WAVES_MAX];
	char lines[CP_DEPLOY_WAVES_MAX][200], prev[CP_DEPLOY_WAVES_MAX][200];
	uint64_t start = cr_now_ms();
	uint32_t open = dep_open_wave(x, d);
	int drawn = 0, rc = 1;

	memset(prev, 0, sizeof(prev));
	signal(SIGINT, dep_on_signal);
	signal(SIGTERM, dep_on_signal);
	for (;;) {
		uint32_t members = 0, ok = 0, bad = 0, busy = 0, allowed;

		dep_collect(x, d, &v);
		dep_count(d, &v, w);
		for (size_t k = 0; k < d->n_waves; k++)
			dep_wave_line(d, k, open, &w[k], lines[k],
				      sizeof(lines[k]));
		if (x->tty) {
			if (drawn)
				printf("\033[%zuA", d->n_waves);
			for (size_t k = 0; k < d->n_waves; k++)
				printf("\033[2K%s\n", lines[k]);
			drawn = 1;
		} else {
			for (size_t k = 0; k < d->n_waves; k++)
				if (strcmp(lines[k], prev[k]) != 0)
					printf("%s\n", lines[k]);
		}
		fflush(stdout);
		memcpy(prev, lines, sizeof(prev));
		for (size_t k = 0; k <= open; k++) {
			members += w[k].members;
			ok += w[k].succeeded;
			bad += w[k].failed;
			busy += w[k].running + w[k].waiting;
		}
		allowed = cr_deploy_failures_allowed(d, members);
		if (bad > allowed) {
			size_t shown = 0;

			fprintf(stderr,
				"carrier: rollout of %s %s halted in wave "
				"%" PRIu32 "/%zu (%" PRIu32 "%%): %" PRIu32
				" of %" PRIu32 " devices failed, more than the "
				"%" PRIu32 " allowed\n",
				d->app, d->release->version, open + 1,
				d->n_waves, d->waves[open], bad, members,
				allowed);
			for (size_t i = 0; i < v.n && shown < 5; i++) {
				char ids[CR_ID_STRMAX];
				struct cr_id id = { .type = CR_ID_DEVICE };
				const struct dev_row *r = &v.rows[i];

				if (r->r.state != CR_RS_FAILED &&
				    r->r.state != CR_RS_ROLLED_BACK &&
				    r->r.state != CR_RS_REFUSED &&
				    r->r.state != CR_RS_STALE)
					continue;
				memcpy(id.hash, r->id, CR_ID_HASHLEN);
				fprintf(stderr, "  %s: %s: %s\n",
					cr_id_format(&id, ids),
					cr_report_state_name(r->r.state),
					r->r.reason);
				shown++;
			}
			rc = 1;
			break;
		}
		if (busy == 0 && open + 1 == d->n_waves) {
			printf("rollout of %s %s complete: %" PRIu32
			       " of %" PRIu32 " devices succeeded\n",
			       d->app, d->release->version, ok, members);
			rc = 0;
			break;
		}
		if (busy == 0 && x->have_key) {
			struct cr_advance in, *a = NULL;
			struct cr_error *err = NULL;
			const struct cr_keypair *s[1] = { &x->kp };

			memset(&in, 0, sizeof(in));
			memcpy(in.vendor_id, d->vendor_id, 32);
			snprintf(in.app, sizeof(in.app), "%s", d->app);
			memcpy(in.deployment, d->digest, 32);
			in.wave = open + 1;
			in.members = members;
			in.succeeded = ok;
			in.failed = bad;
			in.issued_unix = cr_now_unix();
			if (cr_advance_build(&in, s, 1, &a, &err) == 0 &&
			    dep_publish(x, CR_REC_ADVANCE, a->blob, a->blob_len,
					&err) > 0) {
				open++;
				if (!x->tty)
					printf("wave %" PRIu32 "/%zu (%" PRIu32
					       "%%) opened: %" PRIu32
					       " of %" PRIu32
					       " devices succeeded before it\n",
					       open + 1, d->n_waves,
					       d->waves[open], ok, members);
				memset(prev, 0, sizeof(prev));
			} else if (err != NULL) {
				fprintf(stderr, "carrier: opening wave %" PRIu32
					": %s (retrying)\n",
					open + 2, cr_error_msg(err));
			}
			cr_error_free(err);
			cr_advance_free(a);
			continue;
		}
		if (dep_stop || (x->timeout_ms != 0 &&
				 cr_now_ms() - start > x->timeout_ms)) {
			fprintf(stderr,
				"carrier: stopped following %s %s at wave "
				"%" PRIu32 "/%zu; the rollout stays paused "
				"there until 'carrier status %s --follow "
				"--key ROLLOUT_KEY' resumes it\n",
				d->app, d->release->version, open + 1,
				d->n_waves, d->app);
			rc = 1;
			break;
		}
		{
			int never = 0;

			cl_wait(x->c, &never, cr_now_ms() + DEP_POLL_MS);
		}
		if (!x->have_key && !dep_stop) {
			uint32_t o = dep_open_wave(x, d);

			if (o > open)
				open = o;
		}
	}
	view_free(&v);
	return rc;
}

/* ---- local history (what rollback goes back to) ---------------------------------- */

static void dep_hist_dir(const struct dep_ctx *x, const char *app, char *out,
			 size_t cap)
{
	char base[PATH_MAX - 128], hex[17];

	cl_default_path(NULL, "CARRIER_DEPLOYMENTS", "deployments", base,
			sizeof(base));
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", x->vendor[i]);
	if (snprintf(out, cap, "%s/%s/%.63s", base, hex, app) >= (int)cap)
		out[0] = '\0';
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0700);
			*p = '/';
		}
	return mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static void dep_hist_save(const struct dep_ctx *x, const struct cr_deploy *d)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct cr_error *err = NULL;

	dep_hist_dir(x, d->app, dir, sizeof(dir));
	if (mkdir_p(dir) < 0)
		return;
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".deployment", dir,
		 d->seq);
	if (cr_deploy_save(d, path, &err) < 0) {
		fprintf(stderr, "carrier: warning: %s\n", cr_error_msg(err));
		cr_error_free(err);
	}
}

/* The newest deployment in the history whose version is not `not` (or is
 * `want` when given). */
static struct cr_deploy *dep_hist_find(const struct dep_ctx *x, const char *app,
				       const char *not, const char *want)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct cr_deploy *best = NULL;
	struct dirent *e;
	DIR *dh;

	dep_hist_dir(x, app, dir, sizeof(dir));
	dh = opendir(dir);
	if (dh == NULL)
		return NULL;
	while ((e = readdir(dh)) != NULL) {
		struct cr_deploy *d = NULL;
		struct cr_error *err = NULL;

		if (strstr(e->d_name, ".deployment") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (cr_deploy_load(path, &d, &err) < 0) {
			cr_error_free(err);
			continue;
		}
		if ((want != NULL && strcmp(d->release->version, want) != 0) ||
		    (want == NULL && not != NULL &&
		     strcmp(d->release->version, not) == 0) ||
		    (best != NULL && best->seq >= d->seq)) {
			cr_deploy_free(d);
			continue;
		}
		cr_deploy_free(best);
		best = d;
	}
	closedir(dh);
	return best;
}

/* ---- shared option handling -------------------------------------------------------- */

static int dep_open(struct dep_ctx *x, const char *trust_path,
		    const char *key_path, const char *ring_path,
		    const char *operator, int need_key, struct cr_error **err)
{
	char tp[PATH_MAX], kp[PATH_MAX];
	struct cl_vendor_opts vo = { 0 };

	cl_default_path(trust_path, "CARRIER_TRUST", "trust", tp, sizeof(tp));
	if (cr_trust_load(tp, NULL, cr_now_unix(), &x->trust, err) < 0)
		return -1;
	cr_fleet_vendor_id(x->trust, x->vendor);
	cl_default_path(key_path, "CARRIER_KEY", "key", kp, sizeof(kp));
	if (cr_keypair_load_as(kp, CR_ID_VENDOR, &x->kp, err) < 0)
		return -1;
	x->have_key = cr_trust_has_key(x->trust, CR_ROLE_ROLLOUT, x->kp.pk);
	if (need_key && !x->have_key) {
		char ids[CR_ID_STRMAX];
		struct cr_id id;

		cr_id_from_pk(CR_ID_VENDOR, x->kp.pk, &id);
		return cr_error_set(err, EKEYREJECTED,
				    "%s is not a rollout key of trust root "
				    "v%" PRIu64,
				    cr_id_format(&id, ids), x->trust->version);
	}
	x->base = event_base_new();
	if (x->base == NULL)
		return cr_error_errno(err, ENOMEM, "event loop");
	vo.key = kp;
	vo.ring = ring_path;
	vo.operator = operator;
	x->c = cl_client_open(x->base, &vo, err);
	if (x->c == NULL)
		return -1;
	x->tty = isatty(STDOUT_FILENO);
	return 0;
}

static void dep_close(struct dep_ctx *x)
{
	cl_client_free(x->c);
	if (x->base != NULL)
		event_base_free(x->base);
	cr_trust_free(x->trust);
	cr_keypair_wipe(&x->kp);
}

/* "DEV,DEV,...|tag:K=V[,tag:K=V]" into d's targets. */
static int dep_targets(const char *to, struct cr_deploy *d,
		       struct cr_error **err)
{
	char buf[CP_DEPLOY_DEVICES_MAX * 70], *save = NULL, *tok;
	size_t cap = 16;

	if (strlen(to) >= sizeof(buf))
		return cr_error_set(err, DEP_EUSAGE, "--to: too long");
	snprintf(buf, sizeof(buf), "%s", to);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "tag:", 4) == 0) {
			if (d->n_tags == CP_DEPLOY_TAGS_MAX ||
			    strchr(tok + 4, '=') == NULL || tok[4] == '=' ||
			    strlen(tok + 4) >= CP_TAG_STR_MAX)
				return cr_error_set(err, DEP_EUSAGE,
						    "--to: '%s' is not tag:K=V "
						    "(at most %d tags)",
						    tok, (int)CP_DEPLOY_TAGS_MAX);
			snprintf(d->tags[d->n_tags++], CP_TAG_STR_MAX, "%s",
				 tok + 4);
		} else {
			struct cr_id id;

			if (cr_id_parse_as(tok, CR_ID_DEVICE, &id, err) < 0) {
				(*err)->code = DEP_EUSAGE;
				return -1;
			}
			if (d->n_devices == CP_DEPLOY_DEVICES_MAX)
				return cr_error_set(err, DEP_EUSAGE,
						    "--to: at most %d devices",
						    (int)CP_DEPLOY_DEVICES_MAX);
			if (d->devices == NULL || d->n_devices == cap) {
				void *n;

				cap *= 2;
				n = realloc(d->devices, cap * CR_ID_HASHLEN);
				if (n == NULL)
					return cr_error_errno(err, ENOMEM,
							      "--to");
				d->devices = n;
			}
			memcpy(d->devices[d->n_devices++], id.hash,
			       CR_ID_HASHLEN);
		}
	}
	if (d->n_devices == 0 && d->n_tags == 0)
		return cr_error_set(err, DEP_EUSAGE, "--to: no target");
	return 0;
}

static int parse_failures(const char *s, struct cr_deploy *d)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	if (*end == '%' && end[1] == '\0' && v <= 100) {
		d->max_failures_pct = 1;
		d->max_failures = (uint32_t)(v * 100 + 0.5);
		return 0;
	}
	if (*end != '\0' || v != (double)(uint32_t)v)
		return -1;
	d->max_failures_pct = 0;
	d->max_failures = (uint32_t)v;
	return 0;
}

/* Signs d (targets, waves, policy filled in) for release r, the next
 * sequence after what the ring holds, publishes it and saves it in the
 * history.  *out: the signed deployment. */
static int dep_sign_publish(struct dep_ctx *x, struct cr_deploy *in,
			    uint64_t expires_s, struct cr_deploy **out,
			    struct cr_error **err)
{
	const struct cr_keypair *s[1] = { &x->kp };
	struct cr_deploy *cur = dep_fetch(x, in->release->app);
	uint64_t now_ms = dep_wall_ms();

	in->trust = x->trust;
	in->seq = now_ms;
	if (cur != NULL && cur->seq >= in->seq)
		in->seq = cur->seq + 1;
	cr_deploy_free(cur);
	in->issued_unix = cr_now_unix();
	in->expires_unix = in->issued_unix + expires_s;
	if (cr_deploy_build(in, s, 1, out, err) < 0)
		return -1;
	if (dep_publish(x, CR_REC_DEPLOYMENT, (*out)->blob, (*out)->blob_len,
			err) == 0) {
		if (*err == NULL)
			cr_error_set(err, EIO, "no ring node took the deployment");
		return -1;
	}
	cr_error_free(*err);
	*err = NULL;
	dep_hist_save(x, *out);
	return 0;
}

/* ---- carrier deploy ----------------------------------------------------------------- */

static const char deploy_usage[] =
	"usage: carrier deploy RELEASE --trust TRUST --key ROLLOUT_KEY\n"
	"           --to DEVICE_ID[,DEVICE_ID...]|tag:K=V[,tag:K=V...]\n"
	"           [--waves 1,10,50,100] [--max-failures 5%|N] "
	"[--health-window 60s]\n"
	"           [--expires 7d] [--detach] [--timeout DURATION] [--ring RING]\n"
	"\n"
	"Signs a deployment of RELEASE with the rollout key, stores it on the "
	"ring\n"
	"(devices it targets learn of it within seconds) and follows it wave "
	"by wave:\n"
	"a wave opens only when every device of the open waves reported and "
	"the\n"
	"failures stay within --max-failures (a percentage of the devices of "
	"the open\n"
	"waves, or a count); past it the rollout halts and deploy exits 1 "
	"with the\n"
	"reason.  Waves are cumulative percentages; a device's wave is a "
	"hash of the\n"
	"deployment and its identity.  --detach returns once the deployment "
	"is stored;\n"
	"'carrier status APP --follow' resumes following.  Without the "
	"vendor following\n"
	"it, a rollout stays paused: nothing else opens a wave.\n"
	"\n"
	"  --to TARGETS         device ids and/or tag:K=V (a device with any of "
	"the tags)\n"
	"  --waves LIST         cumulative percentages ending at 100 (default "
	"1,10,50,100)\n"
	"  --max-failures F     failures tolerated: N% of the devices of the "
	"open waves,\n"
	"                       or a count (default 5%)\n"
	"  --health-window D    how long a new version must stay healthy "
	"(default 60s)\n"
	"  --expires D          the deployment expires (default 7d); devices "
	"then report\n"
	"                       stale\n"
	"  --detach             publish and return\n"
	"  --timeout D          stop following after D (the rollout stays "
	"paused)\n"
	"  --trust TRUST        the trust root ($CARRIER_TRUST, "
	"~/.config/carrier/trust)\n"
	"  --key ROLLOUT_KEY    a rollout key of TRUST; also the vendor key "
	"of the ring\n"
	"                       sessions\n"
	"  --ring RING          the ring ($CARRIER_RING, "
	"~/.config/carrier/ring)\n";

static const struct option deploy_opts[] = {
	{ "trust", required_argument, NULL, 't' },
	{ "to", required_argument, NULL, 'o' },
	{ "waves", required_argument, NULL, 'w' },
	{ "max-failures", required_argument, NULL, 'm' },
	{ "health-window", required_argument, NULL, 'H' },
	{ "expires", required_argument, NULL, 'e' },
	{ "detach", no_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 'O' },
	{ "help", no_argument, NULL, 'h' },
	CL_VENDOR_LONG_OPTS,
	{ NULL, 0, NULL, 0 },
};

int cl_cmd_deploy(int argc, char **argv)
{
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_deploy in, *d = NULL;
	struct cr_error *err = NULL;
	const char *trust_path = NULL, *to = NULL;
	uint64_t expires_ms = 7ull * 86400 * 1000, window = 60000;
	int detach = 0, c, rc = 1;
	char ids[CR_ID_STRMAX];

	memset(&in, 0, sizeof(in));
	in.waves[0] = 1;
	in.waves[1] = 10;
	in.waves[2] = 50;
	in.waves[3] = 100;
	in.n_waves = 4;
	in.max_failures = 500;
	in.max_failures_pct = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", deploy_opts, NULL)) != -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(deploy_usage, stdout);
			return 0;
		case 't':
			trust_path = optarg;
			break;
		case 'o':
			to = optarg;
			break;
		case 'w':
			if (cr_waves_parse(optarg, in.waves, &in.n_waves,
					   &err) < 0) {
				err->code = DEP_EUSAGE;
				return dep_report(err);
			}
			break;
		case 'm':
			if (parse_failures(optarg, &in) < 0)
				return cl_fail(2, "--max-failures: '%s' is not "
						  "a percentage (5%%) or a "
						  "count",
					       optarg);
			break;
		case 'H':
			if (cr_parse_duration_ms(optarg, &window) < 0)
				return cl_fail(2, "--health-window: '%s' is "
						  "not a duration",
					       optarg);
			break;
		case 'e':
			if (cr_parse_duration_ms(optarg, &expires_ms) < 0 ||
			    expires_ms < 1000)
				return cl_fail(2, "--expires: '%s' is not a "
						  "duration of 1s or more",
					       optarg);
			break;
		case 'O':
			if (cr_parse_duration_ms(optarg, &x.timeout_ms) < 0)
				return cl_fail(2, "--timeout: '%s' is not a "
						  "duration",
					       optarg);
			break;
		case 'd':
			detach = 1;
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind != argc - 1 || to == NULL)
		return cl_fail(2, "usage: carrier deploy RELEASE --trust TRUST "
				  "--key ROLLOUT_KEY --to TARGETS");
	in.health_window_ms = window;
	if (dep_targets(to, &in, &err) < 0 ||
	    dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 1, &err) <
		    0 ||
	    cr_release_load(argv[optind], x.trust, &in.release, &err) < 0)
		goto fail;
	if (dep_sign_publish(&x, &in, (expires_ms + 999) / 1000, &d, &err) < 0)
		goto fail;
	{
		struct cr_id id;

		cr_id_from_pk(CR_ID_VENDOR, x.kp.pk, &id);
		printf("deployment of %s %s (seq %" PRIu64
		       ", %zu devices and %zu tags targeted, waves",
		       d->app, d->release->version, d->seq, d->n_devices,
		       d->n_tags);
		for (size_t i = 0; i < d->n_waves; i++)
			printf("%s%" PRIu32 "%%", i ? "," : " ", d->waves[i]);
		printf(") signed by %s and stored on the ring\n",
		       cr_id_format(&id, ids));
		fflush(stdout);
	}
	rc = detach ? 0 : dep_follow(&x, d);
	goto out;
fail:
	rc = dep_report(err);
out:
	free(in.devices);
	cr_release_free(in.release);
	cr_deploy_free(d);
	dep_close(&x);
	return rc;
}

/* ---- carrier rollback ------------------------------------------------------------- */

static const char rollback_usage[] =
	"usage: carrier rollback APP --trust TRUST --key ROLLOUT_KEY [--to "
	"VERSION]\n"
	"           [--to-devices DEVICE_ID,...|tag:K=V] [--release RELEASE] "
	"[--detach]\n"
	"           [--waves 100] [--timeout D] [--ring RING]\n"
	"\n"
	"Sends APP's devices back to the previous version (or VERSION): a "
	"newer\n"
	"deployment, flagged as a rollback, of a release deployed before "
	"(from this\n"
	"machine's history of deployments, ~/.config/carrier/deployments, or "
	"--release).\n"
	"Devices that retain that version switch to it downloading nothing; "
	"reports come\n"
	"as for a deploy, which rollback follows in one wave unless --waves "
	"says more.\n"
	"By default the current deployment's targets; --to-devices narrows "
	"them.\n";

static const struct option rollback_opts[] = {
	{ "trust", required_argument, NULL, 't' },
	{ "to", required_argument, NULL, 'v' },
	{ "to-devices", required_argument, NULL, 'o' },
	{ "release", required_argument, NULL, 'R' },
	{ "waves", required_argument, NULL, 'w' },
	{ "detach", no_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 'O' },
	{ "help", no_argument, NULL, 'h' },
	CL_VENDOR_LONG_OPTS,
	{ NULL, 0, NULL, 0 },
};

int cl_cmd_rollback(int argc, char **argv)
{
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_deploy in, *cur = NULL, *old = NULL, *d = NULL;
	struct cr_release *rel = NULL;
	struct cr_error *err = NULL;
	const char *trust_path = NULL, *version = NULL, *to = NULL;
	const char *release_path = NULL;
	uint32_t waves[CP_DEPLOY_WAVES_MAX] = { 100 };
	size_t n_waves = 1;
	int detach = 0, c, rc = 1;

	memset(&in, 0, sizeof(in));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", rollback_opts, NULL)) != -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(rollback_usage, stdout);
			return 0;
		case 't':
			trust_path = optarg;
			break;
		case 'v':
			version = optarg;
			break;
		case 'o':
			to = optarg;
			break;
		case 'R':
			release_path = optarg;
			break;
		case 'w':
			if (cr_waves_parse(optarg, waves, &n_waves, &err) < 0) {
				err->code = DEP_EUSAGE;
				return dep_report(err);
			}
			break;
		case 'd':
			detach = 1;
			break;
		case 'O':
			if (cr_parse_duration_ms(optarg, &x.timeout_ms) < 0)
				return cl_fail(2, "--timeout: '%s' is not a "
						  "duration",
					       optarg);
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind != argc - 1)
		return cl_fail(2, "usage: carrier rollback APP --trust TRUST "
				  "--key ROLLOUT_KEY [--to VERSION]");
	if (dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 1, &err) <
	    0)
		goto fail;
	cur = dep_fetch(&x, argv[optind]);
	if (cur == NULL) {
		cr_error_set(&err, ENOENT,
			     "no deployment of %s on the ring to roll back "
			     "from",
			     argv[optind]);
		goto fail;
	}
	if (release_path != NULL) {
		if (cr_release_load(release_path, x.trust, &rel, &err) < 0)
			goto fail;
	} else {
		old = dep_hist_find(&x, argv[optind], cur->release->version,
				    version);
		if (old == NULL) {
			cr_error_set(&err, ENOENT,
				     "no earlier deployment of %s%s%s in this "
				     "machine's history; give --release "
				     "RELEASE",
				     argv[optind], version ? " " : "",
				     version ? version : "");
			goto fail;
		}
		if (cr_release_decode(old->release->blob, old->release->blob_len,
				      x.trust, &rel, &err) < 0)
			goto fail;
	}
	if (strcmp(rel->app, argv[optind]) != 0) {
		cr_error_set(&err, EINVAL, "the release is of app %s, not %s",
			     rel->app, argv[optind]);
		goto fail;
	}
	in.release = rel;
	if (to != NULL) {
		if (dep_targets(to, &in, &err) < 0)
			goto fail;
	} else {
		in.devices = calloc(cur->n_devices + 1, CR_ID_HASHLEN);
		if (in.devices == NULL) {
			cr_error_errno(&err, ENOMEM, "rollback");
			goto fail;
		}
		memcpy(in.devices, cur->devices, cur->n_devices * CR_ID_HASHLEN);
		in.n_devices = cur->n_devices;
		memcpy(in.tags, cur->tags, sizeof(in.tags));
		in.n_tags = cur->n_tags;
	}
	memcpy(in.waves, waves, sizeof(waves));
	in.n_waves = n_waves;
	in.max_failures = cur->max_failures;
	in.max_failures_pct = cur->max_failures_pct;
	in.health_window_ms = cur->health_window_ms;
	in.rollback = 1;
	if (dep_sign_publish(&x, &in, cur->expires_unix > cur->issued_unix ?
					      cur->expires_unix -
						      cur->issued_unix :
					      7 * 86400,
			     &d, &err) < 0)
		goto fail;
	printf("rollback of %s from %s to %s (seq %" PRIu64
	       ") stored on the ring\n",
	       d->app, cur->release->version, d->release->version, d->seq);
	fflush(stdout);
	rc = detach ? 0 : dep_follow(&x, d);
	goto out;
fail:
	rc = dep_report(err);
out:
	free(in.devices);
	cr_release_free(rel);
	cr_deploy_free(old);
	cr_deploy_free(cur);
	cr_deploy_free(d);
	dep_close(&x);
	return rc;
}

/* ---- carrier status / watch ------------------------------------------------------------ */

struct apps_acc {
	char (*apps)[CR_FLEET_APP_MAX];
	size_t n, cap;
};

static size_t apps_take(const Carrier__Hop *rep, uint8_t *next, void *arg)
{
	const Carrier__FleetApps *fa = rep->fleet_apps;
	struct apps_acc *acc = arg;
	size_t len = 0;

	for (size_t k = 0; k < fa->n_apps; k++) {
		const char *a = fa->apps[k];
		int seen = 0;

		if (strlen(a) >= CR_FLEET_APP_MAX)
			continue;
		for (size_t j = 0; j < acc->n; j++)
			seen |= strcmp(acc->apps[j], a) == 0;
		if (!seen && acc->n < acc->cap)
			snprintf(acc->apps[acc->n++], CR_FLEET_APP_MAX, "%s",
				 a);
		len = strlen(a);
		memcpy(next, a, len);
	}
	return fa->more ? len : 0;
}

/* The apps of the fleet with a deployment on the ring. */
static size_t dep_apps(struct dep_ctx *x, char (*apps)[CR_FLEET_APP_MAX],
		       size_t cap)
{
	struct apps_acc acc = { apps, 0, cap };
	struct dep_query q = {
		.ask = CARRIER__HOP__MSG_FLEET_APPS_REQ,
		.answer = CARRIER__HOP__MSG_FLEET_APPS,
		.take = apps_take,
		.arg = &acc,
	};

	dep_pages(x, &q);
	return acc.n;
}

/* The app a command names (one), or every app of the fleet. */
static size_t dep_apps_or(struct dep_ctx *x, const char *one,
			  char (*apps)[CR_FLEET_APP_MAX], size_t cap)
{
	if (one == NULL)
		return dep_apps(x, apps, cap);
	snprintf(apps[0], CR_FLEET_APP_MAX, "%s", one);
	return 1;
}

static const char *row_state(const struct dev_row *r)
{
	return r->r.state == CR_RS_NONE ? "pending" :
					  cr_report_state_name(r->r.state);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned)(unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* ---- device health ------------------------------------------------------------------- */

struct health_acc {
	struct cr_map *m;
	struct cr_devhealth *spare;
};

static size_t health_take(const Carrier__Hop *rep, uint8_t *next, void *arg)
{
	const Carrier__HealthRecords *hr = rep->health_records;
	struct health_acc *acc = arg;

	for (size_t k = 0; k < hr->n_records; k++) {
		struct cr_devhealth *old, *h;

		if (acc->spare == NULL &&
		    (acc->spare = malloc(sizeof(*acc->spare))) == NULL)
			return 0;
		h = acc->spare;
		if (cr_devhealth_decode(hr->records[k].data,
					hr->records[k].len, h, NULL) < 0)
			continue;
		old = cr_map_get(acc->m, h->device.hash);
		if (old != NULL && old->seq >= h->seq)
			continue;
		if (old != NULL)
			*old = *h;
		else if (cr_map_put(acc->m, h->device.hash, h) == 0)
			acc->spare = NULL;
	}
	if (hr->next.len != 32 || hr->n_records == 0)
		return 0;
	memcpy(next, hr->next.data, 32);
	return 32;
}

/* The newest verified health record of every device the nodes hold:
 * device hash -> a struct cr_devhealth the map owns (health_free).  A
 * record that does not verify is skipped: nodes only relay them. */
static struct cr_map *health_fetch(struct dep_ctx *x)
{
	struct health_acc acc = { cr_map_new(CR_ID_HASHLEN), NULL };
	struct dep_query q = {
		.ask = CARRIER__HOP__MSG_HEALTH_QUERY,
		.answer = CARRIER__HOP__MSG_HEALTH_RECORDS,
		.take = health_take,
		.arg = &acc,
	};

	if (acc.m == NULL)
		return NULL;
	dep_pages(x, &q);
	free(acc.spare);
	return acc.m;
}

static void health_free(struct cr_map *m)
{
	size_t pos = 0;
	const void *k;
	void *v;

	if (m == NULL)
		return;
	while (cr_map_next(m, &pos, &k, &v))
		free(v);
	cr_map_free(m);
}

/* "16.0G": a byte count for a person. */
static const char *health_bytes(uint64_t b, char buf[32])
{
	static const char unit[] = "BKMGTP";
	uint64_t tenths = b * 10;
	size_t u = 0;

	while (tenths >= 10240 && u < sizeof(unit) - 2) {
		tenths /= 1024;
		u++;
	}
	snprintf(buf, 32, "%" PRIu64 ".%" PRIu64 "%c", tenths / 10,
		 tenths % 10, unit[u]);
	return buf;
}

/* The health fields of a device's status line: ,"health":{...} or null. */
static void health_json(const struct cr_devhealth *h)
{
	printf(",\"health\":");
	if (h == NULL) {
		printf("null");
		return;
	}
	printf("{\"seq\":%" PRIu64 ",\"uptime_s\":%" PRIu64
	       ",\"load1\":%u.%03u,\"load5\":%u.%03u,\"load15\":%u.%03u,"
	       "\"mem_total\":%" PRIu64 ",\"mem_avail\":%" PRIu64
	       ",\"flash_free\":%" PRIu64 ",\"temp_c\":",
	       h->seq, h->uptime_s, h->load_milli[0] / 1000,
	       h->load_milli[0] % 1000, h->load_milli[1] / 1000,
	       h->load_milli[1] % 1000, h->load_milli[2] / 1000,
	       h->load_milli[2] % 1000, h->mem_total, h->mem_avail,
	       h->flash_free);
	if (h->has_temp)
		printf("%s%d.%03d", h->temp_milli_c < 0 ? "-" : "",
		       abs(h->temp_milli_c / 1000), abs(h->temp_milli_c % 1000));
	else
		printf("null");
	printf(",\"apps\":[");
	for (size_t i = 0; i < h->n_apps; i++) {
		printf("%s{\"app\":", i > 0 ? "," : "");
		json_str(h->apps[i].app);
		printf(",\"version\":");
		json_str(h->apps[i].version);
		printf(",\"state\":");
		json_str(h->apps[i].state);
		printf(",\"last_error\":");
		json_str(h->apps[i].last_error);
		printf(",\"restarts\":%u,\"config_version\":%" PRIu64
		       ",\"config_error\":",
		       h->apps[i].restarts, h->apps[i].config_version);
		json_str(h->apps[i].config_error);
		printf("}");
	}
	printf("]}");
}

/* The status line of a device: text columns or a JSON object.  d NULL:
 * a device of the inventory that no deployment targets. */
static void status_line(const struct cr_deploy *d, const struct dev_row *r,
			const char *ids, const char *name, int json,
			const struct cr_devhealth *h)
{
	if (json) {
		printf("{\"device\":\"%s\",\"name\":", ids);
		if (name != NULL)
			json_str(name);
		else
			printf("null");
		printf(",\"app\":");
		if (d != NULL)
			json_str(d->app);
		else
			printf("null");
		printf(",\"version\":");
		json_str(r->r.version);
		printf(",\"state\":\"%s\",\"online\":%s,"
		       "\"last_seen_ms\":",
		       d != NULL ? row_state(r) : "untargeted",
		       r->online ? "true" : "false");
		if (r->held)
			printf("%" PRIu64, r->last_seen_ms_ago);
		else
			printf("null");
		health_json(h);
		printf("}\n");
	} else {
		char seen[32] = "unknown", hs[160] = "-", b1[32], b2[32],
		     b3[32];

		if (r->held)
			snprintf(seen, sizeof(seen), "%.1fs ago",
				 (double)r->last_seen_ms_ago / 1000.0);
		if (h != NULL)
			snprintf(hs, sizeof(hs),
				 "up %" PRIu64 "h%02" PRIu64
				 "m load %u.%02u mem %s/%s flash %s",
				 h->uptime_s / 3600, h->uptime_s / 60 % 60,
				 h->load_milli[0] / 1000,
				 h->load_milli[0] % 1000 / 10,
				 health_bytes(h->mem_avail, b1),
				 health_bytes(h->mem_total, b2),
				 health_bytes(h->flash_free, b3));
		printf("%-16s %-70s %-12s %-10s %-12s %-7s %-12s %s\n",
		       name != NULL ? name : "-", ids,
		       d != NULL ? d->app : "-",
		       r->r.version[0] ? r->r.version : "-",
		       d != NULL ? row_state(r) : "untargeted",
		       r->online ? "yes" : "no", seen, hs);
	}
}

static void status_print(const struct cr_deploy *d, const struct fleet_view *v,
			 int json, struct cr_map *health, struct cr_map *names)
{
	char ids[CR_ID_STRMAX];

	if (!json) {
		/* The summary: devices per version and state. */
		struct {
			const char *version;
			int state;
			size_t n;
		} g[64];
		size_t n_g = 0;

		printf("%s (deployment seq %" PRIu64 " of %s%s):\n", d->app,
		       d->seq, d->release->version,
		       d->rollback ? ", a rollback" : "");
		for (size_t i = 0; i < v->n; i++) {
			const struct dev_row *r = &v->rows[i];
			size_t k;

			if (!r->targeted)
				continue;
			for (k = 0; k < n_g; k++)
				if (g[k].state == (int)r->r.state &&
				    strcmp(g[k].version, r->r.version) == 0)
					break;
			if (k == n_g && n_g < 64) {
				g[n_g].version = r->r.version;
				g[n_g].state = (int)r->r.state;
				g[n_g++].n = 0;
			}
			if (k < n_g)
				g[k].n++;
		}
		for (size_t k = 0; k < n_g; k++) {
			struct dev_row tmp;

			tmp.r.state = (enum cr_report_state)g[k].state;
			printf("  %-12s %-12s %zu\n",
			       g[k].version[0] ? g[k].version : "-",
			       row_state(&tmp), g[k].n);
		}
		printf("%-16s %-70s %-12s %-10s %-12s %-7s %-12s %s\n",
		       "NAME", "DEVICE", "APP", "VERSION", "STATE", "ONLINE",
		       "LAST SEEN", "HEALTH");
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct dev_row *r = &v->rows[i];
		struct cr_id id = { .type = CR_ID_DEVICE };

		if (!r->targeted)
			continue;
		memcpy(id.hash, r->id, CR_ID_HASHLEN);
		cr_id_format(&id, ids);
		status_line(d, r, ids,
			    names != NULL ? cr_map_get(names, r->id) : NULL,
			    json,
			    health != NULL ? cr_map_get(health, r->id) : NULL);
	}
}

static const char status_usage[] =
	"usage: carrier status [APP] [--json] [--follow] [--trust TRUST] "
	"[--key KEY]\n"
	"           [--timeout D] [--ring RING]\n"
	"\n"
	"Each device the fleet's deployments target: app, version it runs (as "
	"its\n"
	"signed reports say), state, online and last seen (as its nodes "
	"see it), with a\n"
	"summary per version and state on top.  Only reports that verify "
	"against the\n"
	"device's key count.  --json prints one object per device and app a "
	"line:\n"
	"{\"device\",\"app\",\"version\",\"state\",\"online\",\"last_seen_ms\"} "
	"(last_seen_ms: ms\n"
	"since a node last heard the device, null when unknown; state "
	"\"pending\" before\n"
	"its first report).  HEALTH (--json: \"health\", null when none): "
	"uptime, load,\n"
	"memory and flash free from the device's newest signed health "
	"record.\n"
	"NAME (--json: \"name\", null when none) is the device's name in the "
	"inventory\n"
	"(carrier name); without APP, the named devices no deployment targets "
	"follow\n"
	"(state \"untargeted\", --json \"app\": null), online as a lookup "
	"finds them.\n"
	"--follow APP resumes following a rollout as 'carrier deploy' does, "
	"opening\n"
	"waves when --key is a rollout key.\n";

static const struct option status_opts[] = {
	{ "trust", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, 'j' },
	{ "follow", no_argument, NULL, 'f' },
	{ "timeout", required_argument, NULL, 'O' },
	{ "help", no_argument, NULL, 'h' },
	CL_VENDOR_LONG_OPTS,
	{ NULL, 0, NULL, 0 },
};

/* Named devices (the inventory) that no deployment on the ring targets:
 * their presence from a lookup, their health record if any. */
static void status_untargeted(struct dep_ctx *x, struct cr_map *names,
			      struct cr_map *targeted, struct cr_map *health)
{
	struct cr_presence *p = calloc(1, sizeof(*p));
	size_t pos = 0, shown = 0;
	const void *k;
	void *val;

	if (p == NULL)
		return;
	while (cr_map_next(names, &pos, &k, &val)) {
		struct cr_id id = { .type = CR_ID_DEVICE };
		struct cl_lookup_info info;
		struct cr_error *err = NULL;
		struct dev_row r;
		char ids[CR_ID_STRMAX];

		if (cr_map_get(targeted, k) != NULL)
			continue;
		memset(&r, 0, sizeof(r));
		memset(&info, 0, sizeof(info));
		memcpy(id.hash, k, CR_ID_HASHLEN);
		cr_id_format(&id, ids);
		if (cl_lookup(x->c, &id, p, &info, &err) == 0 &&
		    info.n_attached_here > 0) {
			r.online = 1;
			r.held = 1;
			r.last_seen_ms_ago = info.last_seen_ms[0];
		} else if (info.n_gone > 0) {
			r.held = 1;
			r.last_seen_ms_ago = info.gone_last_seen_ms;
		}
		cr_error_free(err);
		if (!x->json && shown++ == 0)
			printf("not in any deployment:\n");
		status_line(NULL, &r, ids, val, x->json,
			    health != NULL ? cr_map_get(health, k) : NULL);
	}
	free(p);
}

int cl_cmd_status(int argc, char **argv)
{
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_error *err = NULL;
	const char *trust_path = NULL;
	char apps[64][CR_FLEET_APP_MAX];
	struct cr_map *health = NULL, *names = NULL, *targeted = NULL;
	size_t n_apps;
	int follow = 0, c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", status_opts, NULL)) != -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(status_usage, stdout);
			return 0;
		case 't':
			trust_path = optarg;
			break;
		case 'j':
			x.json = 1;
			break;
		case 'f':
			follow = 1;
			break;
		case 'O':
			if (cr_parse_duration_ms(optarg, &x.timeout_ms) < 0)
				return cl_fail(2, "--timeout: '%s' is not a "
						  "duration",
					       optarg);
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind < argc - 1 || (follow && optind != argc - 1))
		return cl_fail(2, "usage: carrier status [APP] [--json] "
				  "[--follow]");
	if (dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 0, &err) <
	    0) {
		rc = dep_report(err);
		goto out;
	}
	n_apps = dep_apps_or(&x, optind == argc - 1 ? argv[optind] : NULL,
			     apps, 64);
	if (!follow) {
		health = health_fetch(&x);
		names = cl_names_by_id();
		targeted = cr_map_new(CR_ID_HASHLEN);
	}
	for (size_t i = 0; i < n_apps; i++) {
		struct cr_deploy *d = dep_fetch(&x, apps[i]);
		struct fleet_view v = { 0 };

		if (d == NULL) {
			if (optind == argc - 1) {
				cl_fail(1, "no deployment of %s on the ring",
					apps[i]);
				rc = 1;
			}
			continue;
		}
		if (follow) {
			rc = dep_follow(&x, d);
		} else {
			dep_collect(&x, d, &v);
			status_print(d, &v, x.json, health, names);
			for (size_t k = 0; targeted != NULL && k < v.n; k++)
				if (v.rows[k].targeted)
					cr_map_put(targeted, v.rows[k].id,
						   (void *)(uintptr_t)1);
			if (v.forged > 0)
				fprintf(stderr,
					"carrier: %zu reports of %s did not "
					"verify and were ignored\n",
					v.forged, d->app);
			view_free(&v);
		}
		cr_deploy_free(d);
	}
	/* The inventory's devices no deployment targets (all apps only). */
	if (!follow && optind == argc && names != NULL && targeted != NULL)
		status_untargeted(&x, names, targeted, health);
out:
	health_free(health);
	cl_names_free(names);
	cr_map_free(targeted);
	dep_close(&x);
	return rc;
}

static const char watch_usage[] =
	"usage: carrier watch [APP] [--json] [--mem-below SIZE] [--flash-below "
	"SIZE]\n"
	"                     [--trust TRUST] [--ring RING]\n"
	"\n"
	"Streams changes of the fleet, a line each: a device going online or "
	"offline,\n"
	"a device's state or version for a deployment, a new deployment.  "
	"--json: one\n"
	"object a line, {\"event\",\"device\",\"app\",\"version\",\"state\","
	"\"online\"}; online\n"
	"and offline events carry \"last_seen_ms\" (ms since a node last heard "
	"the device).\n"
	"From the devices' health records: app_restarted, app_failed (a new "
	"last error),\n"
	"config_reverted, and with the thresholds memory_low/memory_ok and\n"
	"flash_low/flash_ok when the available memory or free flash crosses "
	"SIZE\n"
	"(--json: {\"event\",\"device\",\"app\",\"detail\"}).  Runs until "
	"interrupted.\n"
	"\n"
	"  --mem-below SIZE     memory_low when a device has less available "
	"(e.g. 64M)\n"
	"  --flash-below SIZE   flash_low when a device has less free (e.g. "
	"1G)\n";

struct watch_prev {
	uint8_t id[CR_ID_HASHLEN];
	char app[CR_FLEET_APP_MAX];
	char version[CR_FLEET_VERSION_MAX];
	int state, online;
};

/* A device went online or offline: with when a node last heard it (the
 * freshest figure of the nodes holding a session of it), so that an
 * operator sees how long a device has been silent, not only that it is. */
static void watch_presence(const struct dev_row *r, const char *ids, int json)
{
	const char *ev = r->online ? "online" : "offline";

	if (json) {
		printf("{\"event\":\"%s\",\"device\":\"%s\","
		       "\"last_seen_ms\":",
		       ev, ids);
		if (r->held)
			printf("%" PRIu64 "}\n", r->last_seen_ms_ago);
		else
			printf("null}\n");
	} else if (r->held) {
		printf("%s %s (last seen %.1fs ago)\n", ids, ev,
		       (double)r->last_seen_ms_ago / 1000.0);
	} else {
		printf("%s %s (last seen unknown)\n", ids, ev);
	}
}

/* "16M": a byte count with an optional K, M, G or T (powers of 1024). */
static int watch_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno != 0 || s[0] == '-')
		return -1;
	switch (*end) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end != '\0' || (shift > 0 && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* What watch last saw of a device's health record. */
struct watch_health {
	struct cr_devhealth h;
	int mem_low, flash_low;
};

static void watch_event(int json, const char *ids, const char *ev,
			const char *app, const char *detail)
{
	if (json) {
		printf("{\"event\":\"%s\",\"device\":\"%s\"", ev, ids);
		if (app != NULL) {
			printf(",\"app\":");
			json_str(app);
		}
		printf(",\"detail\":");
		json_str(detail);
		printf("}\n");
	} else {
		printf("%s %s%s%s: %s\n", ids, app != NULL ? app : "",
		       app != NULL ? " " : "", ev, detail);
	}
}

/* Health-threshold events of one device, from its newest record against
 * the one seen before: an app that failed (its last error changed to a
 * new one) or was restarted (its count grew), a config reverted, memory
 * or flash crossing below the vendor's thresholds (and back). */
static void watch_health(struct cr_map *seen, const struct cr_devhealth *h,
			 const char *ids, int json, uint64_t mem_below,
			 uint64_t flash_below)
{
	struct watch_health *p = cr_map_get(seen, h->device.hash);
	char detail[CR_HEALTH_ERR_MAX + 64];
	int first = p == NULL, low;

	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL || cr_map_put(seen, h->device.hash, p) < 0) {
			free(p);
			return;
		}
	} else if (p->h.seq >= h->seq) {
		return;
	}
	for (size_t i = 0; i < h->n_apps && !first; i++) {
		const struct cr_devhealth_app *a = &h->apps[i], *o = NULL;

		for (size_t j = 0; j < p->h.n_apps && o == NULL; j++)
			if (strcmp(p->h.apps[j].app, a->app) == 0)
				o = &p->h.apps[j];
		if (o != NULL && a->restarts > o->restarts) {
			snprintf(detail, sizeof(detail),
				 "restarted (%u restarts since the agent "
				 "started)",
				 a->restarts);
			watch_event(json, ids, "app_restarted", a->app, detail);
		}
		if (a->last_error[0] != '\0' &&
		    (o == NULL || strcmp(o->last_error, a->last_error) != 0)) {
			snprintf(detail, sizeof(detail), "%s %s: %s",
				 a->state, a->version, a->last_error);
			watch_event(json, ids, "app_failed", a->app, detail);
		}
		if (a->config_error[0] != '\0' &&
		    (o == NULL ||
		     strcmp(o->config_error, a->config_error) != 0))
			watch_event(json, ids, "config_reverted", a->app,
				    a->config_error);
	}
	low = mem_below != 0 && h->mem_total != 0 && h->mem_avail < mem_below;
	if (low != p->mem_low && (low || !first)) {
		snprintf(detail, sizeof(detail),
			 "%" PRIu64 " bytes of memory available", h->mem_avail);
		watch_event(json, ids, low ? "memory_low" : "memory_ok", NULL,
			    detail);
	}
	p->mem_low = low;
	low = flash_below != 0 && h->flash_free < flash_below;
	if (low != p->flash_low && (low || !first)) {
		snprintf(detail, sizeof(detail),
			 "%" PRIu64 " bytes of flash free", h->flash_free);
		watch_event(json, ids, low ? "flash_low" : "flash_ok", NULL,
			    detail);
	}
	p->flash_low = low;
	p->h = *h;
}

int cl_cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trust", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "mem-below", required_argument, NULL, 'm' },
		{ "flash-below", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		CL_VENDOR_LONG_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_error *err = NULL;
	const char *trust_path = NULL;
	uint64_t mem_below = 0, flash_below = 0;
	struct cr_map *seen = cr_map_new(32);
	struct cr_map *seen_health = cr_map_new(CR_ID_HASHLEN);
	uint64_t dep_seq[64] = { 0 };
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(watch_usage, stdout);
			goto out;
		case 't':
			trust_path = optarg;
			break;
		case 'j':
			x.json = 1;
			break;
		case 'm':
		case 'f':
			if (watch_bytes(optarg, c == 'm' ? &mem_below :
							   &flash_below) < 0) {
				rc = cl_fail(2, "--%s: '%s' is not a size "
						"(e.g. 64M)",
					     c == 'm' ? "mem-below" :
							"flash-below",
					     optarg);
				goto out;
			}
			break;
		default:
			rc = cl_bad_option(argv);
			goto out;
		}
	}
	if (optind < argc - 1 || seen == NULL || seen_health == NULL) {
		rc = cl_fail(2, "usage: carrier watch [APP] [--json] "
				"[--mem-below SIZE] [--flash-below SIZE]");
		goto out;
	}
	if (dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 0, &err) <
	    0) {
		rc = dep_report(err);
		goto out;
	}
	signal(SIGINT, dep_on_signal);
	signal(SIGTERM, dep_on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!dep_stop) {
		char apps[64][CR_FLEET_APP_MAX];
		size_t n_apps;
		int never = 0;

		n_apps = dep_apps_or(&x,
				     optind == argc - 1 ? argv[optind] : NULL,
				     apps, 64);
		struct cr_map *health = health_fetch(&x);

		for (size_t a = 0; a < n_apps; a++) {
			struct cr_deploy *d = dep_fetch(&x, apps[a]);
			struct fleet_view v = { 0 };
			char ids[CR_ID_STRMAX];

			if (d == NULL)
				continue;
			if (d->seq != dep_seq[a]) {
				dep_seq[a] = d->seq;
				if (x.json) {
					printf("{\"event\":\"deployment\","
					       "\"app\":");
					json_str(d->app);
					printf(",\"version\":");
					json_str(d->release->version);
					printf(",\"seq\":%" PRIu64 "}\n",
					       d->seq);
				} else {
					printf("deployment %s %s seq %" PRIu64
					       "%s\n",
					       d->app, d->release->version,
					       d->seq,
					       d->rollback ? " (rollback)" : "");
				}
			}
			dep_collect(&x, d, &v);
			for (size_t i = 0; i < v.n; i++) {
				const struct dev_row *r = &v.rows[i];
				struct cr_id id = { .type = CR_ID_DEVICE };
				uint8_t key[32];
				struct watch_prev *p;
				int changed_online, changed_state;

				if (!r->targeted)
					continue;
				memcpy(key, r->id, 32);
				key[0] ^= (uint8_t)a;
				p = cr_map_get(seen, key);
				if (p == NULL) {
					p = calloc(1, sizeof(*p));
					if (p == NULL ||
					    cr_map_put(seen, key, p) < 0) {
						free(p);
						continue;
					}
					p->online = -1;
					p->state = -1;
				}
				changed_online = p->online != r->online;
				changed_state =
					p->state != (int)r->r.state ||
					strcmp(p->version, r->r.version) != 0;
				memcpy(id.hash, r->id, CR_ID_HASHLEN);
				cr_id_format(&id, ids);
				if (changed_online)
					watch_presence(r, ids, x.json);
				if (health != NULL &&
				    cr_map_get(health, r->id) != NULL)
					watch_health(seen_health,
						     cr_map_get(health, r->id),
						     ids, x.json, mem_below,
						     flash_below);
				if (changed_state) {
					if (x.json) {
						printf("{\"event\":\"state\","
						       "\"device\":\"%s\","
						       "\"app\":",
						       ids);
						json_str(d->app);
						printf(",\"version\":");
						json_str(r->r.version);
						printf(",\"state\":\"%s\","
						       "\"online\":%s}\n",
						       row_state(r),
						       r->online ? "true" :
								   "false");
					} else {
						printf("%s %s %s %s\n", ids,
						       d->app,
						       r->r.version[0] ?
							       r->r.version :
							       "-",
						       row_state(r));
					}
				}
				p->online = r->online;
				p->state = (int)r->r.state;
				snprintf(p->version, sizeof(p->version), "%s",
					 r->r.version);
			}
			view_free(&v);
			cr_deploy_free(d);
		}
		health_free(health);
		cl_wait(x.c, &never, cr_now_ms() + WATCH_POLL_MS);
	}
out:
	{
		size_t pos = 0;
		const void *k;
		void *val;

		while (seen != NULL && cr_map_next(seen, &pos, &k, &val))
			free(val);
		cr_map_free(seen);
		health_free(seen_health);
	}
	dep_close(&x);
	return rc;
}

/* ---- carrier config ------------------------------------------------------------------ */

static const char config_usage[] =
	"usage: carrier config set DEVICE_ID[,...]|tag:K=V APP KEY=VALUE|"
	"KEY=@FILE...\n"
	"           --key ROLLOUT_KEY [--trust TRUST] [--version N] "
	"[--expires D]\n"
	"           [--out FILE] [--ring RING]\n"
	"       carrier config get DEVICE APP [--json] [--trust TRUST] [--ring "
	"RING]\n"
	"       carrier config history DEVICE APP [--json] [--trust TRUST] "
	"[--ring RING]\n"
	"\n"
	"set signs a config of APP for its targets with the rollout key and "
	"stores it on\n"
	"the ring, which pushes it to the devices it targets (docs/fleet.md\n"
	"\"Configuration\").  KEY=VALUE becomes an environment variable of "
	"the app;\n"
	"KEY=@FILE the file /run/korhal/config/KEY in its container.  Keys are "
	"variable\n"
	"names (A-Z, 0-9, _); a value is at most 4 KiB of text, a file 16 KiB, "
	"all\n"
	"together 32 KiB.  Versions only go up per (app, targets): by default "
	"the time\n"
	"in ms.  The ring holds configs of apps it holds a deployment of.  A "
	"device\n"
	"restarts the app with the config and keeps it when the app passes its "
	"health\n"
	"window and the ring is still reachable after it; otherwise it returns "
	"to the\n"
	"last config that passed and reports why.  Every config signed is kept "
	"in the\n"
	"history next to the deployments.\n"
	"get prints the config the device reports it runs (its health record), "
	"its last\n"
	"revert, and that version's entries from the history; history lists "
	"the\n"
	"versions signed for the device with what it says of each (running, "
	"reverted\n"
	"and why, replaced).\n"
	"\n"
	"  --version N          the config's version (default: now in ms)\n"
	"  --expires D          devices refuse it after D (default 30d)\n"
	"  --out FILE           sign into FILE, do not publish (for "
	"carrier-agent config\n"
	"                       FILE on the device)\n"
	"  --json               get: one object; history: an array\n"
	"  --trust TRUST        the trust root ($CARRIER_TRUST, "
	"~/.config/carrier/trust)\n"
	"  --key ROLLOUT_KEY    a rollout key of TRUST; also the vendor key "
	"of the ring\n"
	"                       sessions\n"
	"  --ring RING          the ring ($CARRIER_RING, "
	"~/.config/carrier/ring)\n";

static const struct option config_opts[] = {
	{ "trust", required_argument, NULL, 't' },
	{ "version", required_argument, NULL, 'V' },
	{ "expires", required_argument, NULL, 'e' },
	{ "out", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	CL_VENDOR_LONG_OPTS,
	{ NULL, 0, NULL, 0 },
};

/* KEY=VALUE or KEY=@FILE into e (value owned by e). */
static int config_entry(const char *arg, struct cr_appcfg_entry *e,
			struct cr_error **err)
{
	const char *eq = strchr(arg, '=');
	size_t klen = eq != NULL ? (size_t)(eq - arg) : 0;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	if (eq == NULL || klen == 0 || klen >= sizeof(e->key))
		return cr_error_set(err, DEP_EUSAGE,
				    "'%s' is not KEY=VALUE or KEY=@FILE (a "
				    "key of 1..%d characters)",
				    arg, (int)sizeof(e->key) - 1);
	memcpy(e->key, arg, klen);
	e->key[klen] = '\0';
	if (!cr_appcfg_key_ok(e->key))
		return cr_error_set(err, DEP_EUSAGE,
				    "config key \"%s\" is malformed (a "
				    "variable name: A-Z, 0-9 and _, not "
				    "starting with a digit)",
				    e->key);
	if (eq[1] == '@') {
		if (stat(eq + 2, &st) < 0)
			return cr_error_errno(err, errno, "%s", eq + 2);
		if (S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size > CR_APPCFG_FILE_MAX)
			return cr_error_set(err, DEP_EUSAGE,
					    "config file %s (%s) is %llu "
					    "bytes, more than the limit of %d",
					    e->key, eq + 2,
					    (unsigned long long)st.st_size,
					    (int)CR_APPCFG_FILE_MAX);
		if (cr_read_file(eq + 2, CR_APPCFG_FILE_MAX, &buf, &len,
				 err) < 0)
			return -1;
		e->file = 1;
	} else {
		buf = strdup(eq + 1);
		if (buf == NULL)
			return cr_error_errno(err, ENOMEM, "%s", e->key);
		len = strlen(buf);
	}
	e->value = (uint8_t *)buf;
	e->len = len;
	return 0;
}

static void config_hist_save(const struct dep_ctx *x,
			     const struct cr_appcfg *c);

static int config_set(int argc, char **argv)
{
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_deploy tg;
	struct cr_appcfg in, *cfg = NULL;
	struct cr_error *err = NULL;
	const struct cr_keypair *s[1];
	const char *trust_path = NULL, *out_path = NULL;
	uint64_t expires_ms = 30ull * 86400 * 1000, version = 0;
	size_t total = 0;
	int c, rc = 1;
	char ids[CR_ID_STRMAX];

	memset(&tg, 0, sizeof(tg));
	memset(&in, 0, sizeof(in));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", config_opts, NULL)) != -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(config_usage, stdout);
			return 0;
		case 't':
			trust_path = optarg;
			break;
		case 'V':
			if (cr_parse_u64(optarg, 1, UINT64_MAX, &version) < 0)
				return cl_fail(2, "--version: '%s' is not a "
						  "number above 0",
					       optarg);
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'e':
			if (cr_parse_duration_ms(optarg, &expires_ms) < 0 ||
			    expires_ms < 1000)
				return cl_fail(2, "--expires: '%s' is not a "
						  "duration of 1s or more",
					       optarg);
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (argc - optind < 3)
		return cl_fail(2, "usage: carrier config set TARGETS APP "
				  "KEY=VALUE... --key ROLLOUT_KEY");
	if ((size_t)(argc - optind - 2) > CR_APPCFG_ENTRIES_MAX)
		return cl_fail(2, "at most %d entries",
			       (int)CR_APPCFG_ENTRIES_MAX);
	if (strlen(argv[optind + 1]) >= sizeof(in.app))
		return cl_fail(2, "'%s' is not an app name", argv[optind + 1]);
	snprintf(in.app, sizeof(in.app), "%s", argv[optind + 1]);
	in.entries = calloc((size_t)(argc - optind - 2), sizeof(*in.entries));
	if (in.entries == NULL)
		return cl_fail(1, "out of memory");
	for (int i = optind + 2; i < argc; i++) {
		struct cr_appcfg_entry *e = &in.entries[in.n_entries++];

		if (config_entry(argv[i], e, &err) < 0)
			goto fail;
		if (cr_appcfg_entry_check(e, &total, &err) < 0) {
			err->code = DEP_EUSAGE; /* the command line's */
			goto fail;
		}
	}
	if (dep_targets(argv[optind], &tg, &err) < 0)
		goto fail;
	if (tg.n_devices > CR_APPCFG_DEVICES_MAX) {
		cr_error_set(&err, DEP_EUSAGE, "at most %d devices",
			     (int)CR_APPCFG_DEVICES_MAX);
		goto fail;
	}
	in.devices = tg.devices;
	in.n_devices = tg.n_devices;
	memcpy(in.tags, tg.tags, sizeof(in.tags));
	in.n_tags = tg.n_tags;
	in.version = version != 0 ? version : dep_wall_ms();
	in.issued_unix = cr_now_unix();
	in.expires_unix = in.issued_unix + (expires_ms + 999) / 1000;
	if (dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 1, &err) <
	    0)
		goto fail;
	s[0] = &x.kp;
	if (cr_appcfg_build(&in, x.trust, s, 1, &cfg, &err) < 0)
		goto fail;
	if (out_path != NULL) {
		/* Signed for a device's hands (carrier-agent config FILE),
		 * not published. */
		if (cr_write_file_atomic(out_path, cfg->blob, cfg->blob_len,
					 0644, &err) < 0)
			goto fail;
		config_hist_save(&x, cfg);
		printf("config version %" PRIu64 " of %s signed into %s\n",
		       cfg->version, cfg->app, out_path);
		rc = 0;
		goto out;
	}
	if (dep_publish(&x, CR_REC_CONFIG, cfg->blob, cfg->blob_len, &err) ==
	    0) {
		if (err == NULL)
			cr_error_set(&err, EIO, "no ring node took the config");
		goto fail;
	}
	cr_error_free(err);
	err = NULL;
	config_hist_save(&x, cfg);
	{
		struct cr_id id;

		cr_id_from_pk(CR_ID_VENDOR, x.kp.pk, &id);
		printf("config version %" PRIu64 " of %s (%zu entries, %zu "
		       "devices and %zu tags targeted) signed by %s and "
		       "stored on the ring\n",
		       cfg->version, cfg->app, cfg->n_entries, cfg->n_devices,
		       cfg->n_tags, cr_id_format(&id, ids));
	}
	rc = 0;
	goto out;
fail:
	rc = dep_report(err);
out:
	for (size_t i = 0; i < in.n_entries; i++)
		free(in.entries[i].value);
	free(in.entries);
	free(tg.devices);
	cr_appcfg_free(cfg);
	dep_close(&x);
	return rc;
}

/* ---- config history, get ------------------------------------------------------------- */

/* A config `config set` signed, kept in the vendor's history next to
 * the deployments (CARRIER_DEPLOYMENTS/FLEET/APP/VERSION.config). */
static void config_hist_save(const struct dep_ctx *x,
			     const struct cr_appcfg *c)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct cr_error *err = NULL;

	dep_hist_dir(x, c->app, dir, sizeof(dir));
	if (mkdir_p(dir) < 0)
		return;
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".config", dir,
		 c->version);
	if (cr_write_file_atomic(path, c->blob, c->blob_len, 0600, &err) < 0) {
		fprintf(stderr, "carrier: warning: %s\n", cr_error_msg(err));
		cr_error_free(err);
	}
}

static int config_cmp(const void *a, const void *b)
{
	const struct cr_appcfg *x = *(struct cr_appcfg *const *)a;
	const struct cr_appcfg *y = *(struct cr_appcfg *const *)b;

	return x->version < y->version ? 1 : x->version > y->version ? -1 : 0;
}

/* The configs of app in the history that verify against the trust root
 * and target dev by id or by a tag, newest first (caller frees). */
static size_t config_hist_load(const struct dep_ctx *x, const char *app,
			       const struct cr_id *dev, struct cr_appcfg **out,
			       size_t cap)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *e;
	size_t n = 0;
	DIR *dh;

	dep_hist_dir(x, app, dir, sizeof(dir));
	dh = opendir(dir);
	if (dh == NULL)
		return 0;
	while ((e = readdir(dh)) != NULL && n < cap) {
		struct cr_appcfg *c = NULL;
		char *blob = NULL;
		size_t len;
		int mine = 0;

		if (strstr(e->d_name, ".config") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (cr_read_file(path, CR_APPCFG_RECORD_MAX, &blob, &len,
				 NULL) < 0)
			continue;
		if (cr_appcfg_decode((const uint8_t *)blob, len, x->trust, &c,
				     NULL) == 0) {
			/* A tag may be the device's: the vendor's side
			 * does not know its tags, so those are listed. */
			mine = c->n_tags > 0;
			for (size_t i = 0; i < c->n_devices && !mine; i++)
				mine = memcmp(c->devices[i], dev->hash,
					      CR_ID_HASHLEN) == 0;
		}
		free(blob);
		if (mine)
			out[n++] = c;
		else
			cr_appcfg_free(c);
	}
	closedir(dh);
	qsort(out, n, sizeof(*out), config_cmp);
	return n;
}

/* A device reports the reason of its last revert only: the ones seen
 * are kept in the history (VERSION.outcome), so that an older revert
 * still shows after a newer one. */
static void config_outcome_path(const struct dep_ctx *x, const char *app,
				uint64_t version, char *out, size_t cap)
{
	char dir[PATH_MAX];

	dep_hist_dir(x, app, dir, sizeof(dir));
	snprintf(out, cap, "%.4000s/%020" PRIu64 ".outcome", dir, version);
}

static void config_outcome_seen(const struct dep_ctx *x,
				const struct cr_devhealth_app *ha)
{
	char path[PATH_MAX + 64], dir[PATH_MAX];
	const char *why;
	uint64_t v;

	if (sscanf(ha->config_error, "config %" SCNu64 " reverted: ", &v) !=
		    1 ||
	    (why = strstr(ha->config_error, " reverted: ")) == NULL)
		return;
	dep_hist_dir(x, ha->app, dir, sizeof(dir));
	if (mkdir_p(dir) < 0)
		return;
	config_outcome_path(x, ha->app, v, path, sizeof(path));
	cr_write_file_atomic(path, why + 1, strlen(why + 1), 0600, NULL);
}

/* What the device says of a version: running, reverted (why), or not. */
static const char *config_outcome(const struct dep_ctx *x,
				  const struct cr_devhealth_app *ha,
				  const char *app, uint64_t version, char *buf,
				  size_t cap)
{
	char path[PATH_MAX + 64], *seen = NULL;
	size_t len;

	if (ha != NULL && ha->config_version == version)
		return "running";
	config_outcome_path(x, app, version, path, sizeof(path));
	if (cr_read_file(path, cap - 1, &seen, &len, NULL) == 0) {
		snprintf(buf, cap, "%s", seen);
		free(seen);
		return buf;
	}
	if (ha == NULL)
		return "unknown (no health record)";
	return version < ha->config_version ? "replaced" :
					      "not running (replaced, or not "
					      "applied yet)";
}

static void config_targets_str(const struct cr_appcfg *c, char *buf,
			       size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	if (c->n_devices > 0)
		n += (size_t)snprintf(buf + n, cap - n, "%zu device%s",
				      c->n_devices,
				      c->n_devices > 1 ? "s" : "");
	for (size_t i = 0; i < c->n_tags && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%stag:%s",
				      n > 0 ? "," : "", c->tags[i]);
}

static const struct option config_read_opts[] = {
	{ "trust", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	CL_VENDOR_LONG_OPTS,
	{ NULL, 0, NULL, 0 },
};

/* config get|history DEVICE APP: what the device reports of the app's
 * config (its health record), with the entries and the other versions
 * from this machine's history of `config set`. */
static int config_read(int argc, char **argv, int history)
{
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_error *err = NULL;
	const char *trust_path = NULL;
	struct cr_appcfg *hist[256];
	const struct cr_devhealth_app *ha = NULL;
	const struct cr_devhealth *h;
	struct cr_map *health = NULL;
	char ids[CR_ID_STRMAX], why[CR_HEALTH_ERR_MAX + 16], tg[256];
	struct cr_id dev;
	size_t n_hist = 0;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", config_read_opts, NULL)) !=
	       -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(config_usage, stdout);
			return 0;
		case 't':
			trust_path = optarg;
			break;
		case 'j':
			x.json = 1;
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (argc - optind != 2)
		return cl_fail(2, "usage: carrier config %s DEVICE APP [--json]",
			       history ? "history" : "get");
	if (cl_dev_parse(argv[optind], &dev, &err) < 0) {
		err->code = DEP_EUSAGE;
		return dep_report(err);
	}
	cr_id_format(&dev, ids);
	if (dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 0, &err) <
	    0) {
		rc = dep_report(err);
		goto out;
	}
	health = health_fetch(&x);
	h = health != NULL ? cr_map_get(health, dev.hash) : NULL;
	for (size_t i = 0; h != NULL && i < h->n_apps; i++)
		if (strcmp(h->apps[i].app, argv[optind + 1]) == 0)
			ha = &h->apps[i];
	n_hist = config_hist_load(&x, argv[optind + 1], &dev, hist, 256);
	if (ha != NULL)
		config_outcome_seen(&x, ha);
	if (!history) {
		const struct cr_appcfg *run = NULL;

		if (ha == NULL) {
			rc = cl_fail(1, "%s reports no app %s (no health "
					"record on the ring%s)",
				     ids, argv[optind + 1],
				     h != NULL ? " names it" : " of it");
			goto out;
		}
		for (size_t i = 0; i < n_hist && run == NULL; i++)
			if (hist[i]->version == ha->config_version)
				run = hist[i];
		if (x.json) {
			printf("{\"device\":\"%s\",\"app\":", ids);
			json_str(ha->app);
			printf(",\"version\":");
			json_str(ha->version);
			printf(",\"config_version\":%" PRIu64
			       ",\"config_error\":",
			       ha->config_version);
			json_str(ha->config_error);
			printf(",\"entries\":");
			if (run == NULL)
				printf("null");
			for (size_t i = 0; run != NULL && i < run->n_entries;
			     i++) {
				const struct cr_appcfg_entry *e =
					&run->entries[i];

				printf("%s", i == 0 ? "{" : ",");
				json_str(e->key);
				if (e->file) {
					printf(":{\"file_bytes\":%zu}", e->len);
				} else {
					putchar(':');
					json_str((const char *)e->value);
				}
			}
			printf("%s}\n",
			       run != NULL ? (run->n_entries ? "}" : "{}") :
					     "");
			goto out;
		}
		if (ha->config_version == 0)
			printf("%s %s %s: no config applied\n", ids, ha->app,
			       ha->version);
		else
			printf("%s %s %s: config %" PRIu64 " running\n", ids,
			       ha->app, ha->version, ha->config_version);
		if (ha->config_error[0] != '\0')
			printf("last revert: %s\n", ha->config_error);
		for (size_t i = 0; run != NULL && i < run->n_entries; i++) {
			const struct cr_appcfg_entry *e = &run->entries[i];

			if (e->file)
				printf("  %s=@file (%zu bytes, /run/korhal/"
				       "config/%s)\n",
				       e->key, e->len, e->key);
			else
				printf("  %s=%s\n", e->key,
				       (const char *)e->value);
		}
		if (run == NULL && ha->config_version != 0)
			printf("  (its entries: not in this machine's "
			       "history)\n");
		goto out;
	}
	if (x.json) {
		printf("[");
		for (size_t i = 0; i < n_hist; i++) {
			printf("%s{\"config_version\":%" PRIu64
			       ",\"entries\":%zu,\"outcome\":",
			       i ? "," : "", hist[i]->version,
			       hist[i]->n_entries);
			json_str(config_outcome(&x, ha, argv[optind + 1],
					       hist[i]->version, why,
					       sizeof(why)));
			printf("}");
		}
		printf("]\n");
		goto out;
	}
	printf("%-16s %-24s %-7s %s\n", "CONFIG", "TARGETS", "ENTRIES",
	       "ON THE DEVICE");
	for (size_t i = 0; i < n_hist; i++) {
		config_targets_str(hist[i], tg, sizeof(tg));
		printf("%-16" PRIu64 " %-24s %-7zu %s\n", hist[i]->version, tg,
		       hist[i]->n_entries,
		       config_outcome(&x, ha, argv[optind + 1], hist[i]->version,
				      why, sizeof(why)));
	}
	if (ha != NULL && ha->config_error[0] != '\0')
		printf("last revert on the device: %s\n", ha->config_error);
out:
	for (size_t i = 0; i < n_hist; i++)
		cr_appcfg_free(hist[i]);
	health_free(health);
	dep_close(&x);
	return rc;
}

int cl_cmd_config(int argc, char **argv)
{
	if (argc < 2 || cl_is_help(argv[1])) {
		fputs(config_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "set") == 0)
		return config_set(argc - 1, argv + 1);
	if (strcmp(argv[1], "get") == 0 || strcmp(argv[1], "history") == 0)
		return config_read(argc - 1, argv + 1,
				   strcmp(argv[1], "history") == 0);
	return cl_fail(2, "config: unknown subcommand '%s' (set, get, "
			  "history)",
		       argv[1]);
}

/* ---- carrier exporter ------------------------------------------------------------------- */

static const char exporter_usage[] =
	"usage: carrier exporter --listen HOST:PORT [--trust TRUST] [--ring "
	"RING]\n"
	"\n"
	"Serves the fleet as Prometheus metrics on http://HOST:PORT/metrics: "
	"per device\n"
	"korhal_device_online and korhal_device_last_seen_seconds (the unix time "
	"a node\n"
	"last heard it), from its health record korhal_device_uptime_seconds,\n"
	"korhal_device_load1, korhal_device_memory_{total,available}_bytes,\n"
	"korhal_device_flash_free_bytes, korhal_device_temperature_celsius; per "
	"device and\n"
	"app korhal_app_info{device,app,version,state} 1, and from the health "
	"record\n"
	"korhal_app_restarts_total and korhal_app_config_version.\n"
	"The devices are those the deployments on the ring target; the figures "
	"are\n"
	"refreshed from the ring every 5 s (a scrape is answered from the last "
	"refresh,\n"
	"so scrapes cost the ring nothing).  Runs until interrupted.\n"
	"\n"
	"  --listen HOST:PORT   the address to serve on\n"
	"  --trust TRUST        the trust root ($CARRIER_TRUST)\n"
	"  --key VENDOR_KEY     the vendor key of the ring sessions\n"
	"  --ring RING          the ring ($CARRIER_RING)\n";

enum { EXP_REFRESH_MS = 5000 };

/* The text of the last refresh: what every scrape answers. */
struct exp_state {
	struct evbuffer *text;
};

static void exp_on_metrics(struct evhttp_request *req, void *arg)
{
	struct exp_state *st = arg;
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(out, evbuffer_pullup(st->text, -1),
		     evbuffer_get_length(st->text));
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* A label value: Prometheus escapes backslash, quote and newline. */
static void exp_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

/* A device's figures from its newest health record. */
static void exp_health(struct evbuffer *b, const char *ids,
		       const struct cr_devhealth *h)
{
	if (h == NULL)
		return;
	evbuffer_add_printf(b,
		"korhal_device_uptime_seconds{device=\"%s\"} %" PRIu64 "\n"
		"korhal_device_load1{device=\"%s\"} %u.%03u\n"
		"korhal_device_memory_total_bytes{device=\"%s\"} %" PRIu64 "\n"
		"korhal_device_memory_available_bytes{device=\"%s\"} %" PRIu64
		"\n"
		"korhal_device_flash_free_bytes{device=\"%s\"} %" PRIu64 "\n",
		ids, h->uptime_s, ids, h->load_milli[0] / 1000,
		h->load_milli[0] % 1000, ids, h->mem_total, ids, h->mem_avail,
		ids, h->flash_free);
	if (h->has_temp)
		evbuffer_add_printf(b,
			"korhal_device_temperature_celsius{device=\"%s\"} "
			"%s%d.%03d\n",
			ids, h->temp_milli_c < 0 ? "-" : "",
			abs(h->temp_milli_c / 1000),
			abs(h->temp_milli_c % 1000));
	/* Per app: restarts since the agent started (a counter that goes
	 * back to 0 with the agent, as Prometheus counters may), and the
	 * config version it runs. */
	for (size_t i = 0; i < h->n_apps; i++) {
		evbuffer_add_printf(b, "korhal_app_restarts_total{device=\"%s\","
				       "app=\"",
				    ids);
		exp_label(b, h->apps[i].app);
		evbuffer_add_printf(b, "\"} %u\n", h->apps[i].restarts);
		evbuffer_add_printf(b, "korhal_app_config_version{device=\"%s\","
				       "app=\"",
				    ids);
		exp_label(b, h->apps[i].app);
		evbuffer_add_printf(b, "\"} %" PRIu64 "\n",
				    h->apps[i].config_version);
	}
}

/* One refresh: every app's deployment, every device it targets. */
static struct evbuffer *exp_collect(struct dep_ctx *x)
{
	static const char mark;
	struct evbuffer *dev = evbuffer_new(), *app = evbuffer_new();
	struct cr_map *seen = cr_map_new(CR_ID_HASHLEN);
	char apps[64][CR_FLEET_APP_MAX];
	uint64_t now_s = (uint64_t)time(NULL);
	struct cr_map *health;
	size_t n_apps;

	if (dev == NULL || app == NULL || seen == NULL) {
		if (dev != NULL)
			evbuffer_free(dev);
		if (app != NULL)
			evbuffer_free(app);
		cr_map_free(seen);
		return NULL;
	}
	evbuffer_add_printf(dev,
		"# HELP korhal_device_online 1 when a ring node holds a live "
		"session of the device.\n"
		"# TYPE korhal_device_online gauge\n"
		"# HELP korhal_device_last_seen_seconds Unix time a ring node "
		"last heard the device.\n"
		"# TYPE korhal_device_last_seen_seconds gauge\n");
	evbuffer_add_printf(app,
		"# HELP korhal_app_info The version and state a device "
		"reported for an app's deployment.\n"
		"# TYPE korhal_app_info gauge\n");
	health = health_fetch(x);
	n_apps = dep_apps_or(x, NULL, apps, 64);
	for (size_t a = 0; a < n_apps; a++) {
		struct cr_deploy *d = dep_fetch(x, apps[a]);
		struct fleet_view v = { 0 };

		if (d == NULL)
			continue;
		dep_collect(x, d, &v);
		for (size_t i = 0; i < v.n; i++) {
			const struct dev_row *r = &v.rows[i];
			struct cr_id id = { .type = CR_ID_DEVICE };
			char ids[CR_ID_STRMAX];

			if (!r->targeted)
				continue;
			memcpy(id.hash, r->id, CR_ID_HASHLEN);
			cr_id_format(&id, ids);
			if (cr_map_get(seen, r->id) == NULL &&
			    cr_map_put(seen, r->id, (void *)(uintptr_t)&mark) ==
				    0) {
				evbuffer_add_printf(dev,
					"korhal_device_online{device=\"%s\"} "
					"%d\n",
					ids, r->online);
				if (r->held)
					evbuffer_add_printf(dev,
						"korhal_device_last_seen_"
						"seconds{device=\"%s\"} "
						"%" PRIu64 "\n",
						ids,
						now_s - r->last_seen_ms_ago /
								1000);
				exp_health(dev, ids,
					   health != NULL ?
						   cr_map_get(health, r->id) :
						   NULL);
			}
			evbuffer_add_printf(app,
					    "korhal_app_info{device=\"%s\","
					    "app=\"",
					    ids);
			exp_label(app, d->app);
			evbuffer_add_printf(app, "\",version=\"");
			exp_label(app, r->r.version);
			evbuffer_add_printf(app, "\",state=\"%s\"} 1\n",
					    row_state(r));
		}
		view_free(&v);
		cr_deploy_free(d);
	}
	cr_map_free(seen);
	health_free(health);
	evbuffer_add_buffer(dev, app);
	evbuffer_free(app);
	return dev;
}

int cl_cmd_exporter(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "trust", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		CL_VENDOR_LONG_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct dep_ctx x = { 0 };
	struct cl_vendor_opts vo = { 0 };
	struct cr_error *err = NULL;
	const char *trust_path = NULL, *listen = NULL;
	struct exp_state st = { 0 };
	struct evhttp *http = NULL;
	char host[256];
	const char *colon;
	long port;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cl_vendor_opt(c, optarg, &vo))
			continue;
		switch (c) {
		case 'h':
			fputs(exporter_usage, stdout);
			return 0;
		case 'l':
			listen = optarg;
			break;
		case 't':
			trust_path = optarg;
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind != argc || listen == NULL)
		return cl_fail(2, "usage: carrier exporter --listen HOST:PORT");
	colon = strrchr(listen, ':');
	port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
	if (colon == NULL || colon == listen ||
	    (size_t)(colon - listen) >= sizeof(host) || port <= 0 ||
	    port > 65535)
		return cl_fail(2, "exporter: --listen %s: not HOST:PORT",
			       listen);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (dep_open(&x, trust_path, vo.key, vo.ring, vo.operator, 0, &err) <
	    0)
		return dep_report(err);
	st.text = evbuffer_new();
	http = evhttp_new(x.base);
	if (st.text == NULL || http == NULL) {
		rc = cl_fail(1, "exporter: out of memory");
		goto out;
	}
	if (evhttp_bind_socket(http, host, (uint16_t)port) != 0) {
		rc = cl_fail(1, "exporter: cannot listen on %s",
			     listen);
		goto out;
	}
	evhttp_set_cb(http, "/metrics", exp_on_metrics, &st);
	signal(SIGINT, dep_on_signal);
	signal(SIGTERM, dep_on_signal);
	while (!dep_stop) {
		struct evbuffer *b = exp_collect(&x);
		int never = 0;

		if (b != NULL) {
			evbuffer_free(st.text);
			st.text = b;
		}
		cl_wait(x.c, &never, cr_now_ms() + EXP_REFRESH_MS);
	}
out:
	if (http != NULL)
		evhttp_free(http);
	if (st.text != NULL)
		evbuffer_free(st.text);
	dep_close(&x);
	return rc;
}
