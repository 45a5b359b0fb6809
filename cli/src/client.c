/* Vendor-side ring client: see client.h. */
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/addr.h"
#include "cr/fleet.h"
#include "cr/ringlink.h"
#include "cr/punch.h"
#include "cr/stun.h"
#include "cr/tlsdgram.h"
#include "cr/udp.h"
#include "cr/log.h"
#include "cr/util.h"

enum {
	CL_TICK_MS = 20,
	CL_PEND_MAX = 32,      /* requests in flight at once */
	CL_LOOKUP_MAX = 16,    /* nodes a lookup asks */
	CL_LOOKUP_MS = 2500,
	CL_LOOKUP_GRACE_MS = 300,
	/* A node that has not completed a handshake by then is taken for
	 * dead for this lookup (handshakes take one round trip). */
	CL_LOOKUP_CONNECT_MS = 500,
	CL_E2E_TRY_MS = 1500,  /* per relay node tried */
	CL_STUN_NODES = 3,     /* nodes asked for our reflexive address */
	CL_STUN_WAIT_MS = 300, /* longest wait for their answers */
	/* Nodes send nothing unasked (no keepalives of their own): a ping
	 * this often keeps our session with a node hearing from it, so it
	 * does not die after the session's dead time while a relayed tunnel
	 * runs through that node. */
	CL_NODE_PING_MS = 10000,
};

/* A STUN Binding request to a ring node (cr/stun.h). */
struct cl_stun {
	uint8_t txid[CR_STUN_TXID];
	int sent, got;
	uint64_t sent_ms;
	struct cr_addr mapped;
};

struct cl_node_link {
	struct cr_rl_link rl;      /* first: cl_link_of() casts back */
	int failed;
	/* Routes through this node that brought no end-to-end answer since
	 * its last one that did: such a node is tried last (it drops,
	 * misroutes or delays too much). */
	unsigned relay_bad;
};

/* A request in flight among several (cl_lookup asks nodes in parallel). */
struct cl_pend {
	uint64_t req;           /* 0: free */
	Carrier__Hop *reply;
	int done;
};

struct cl_client {
	struct event_base *base;
	struct cr_keypair kp;
	/* The handshake hello of end-to-end sessions: an E2eHello with our
	 * fleet credential when we are a device reaching a peer. */
	uint8_t hello[CP_HELLO_MAX];
	size_t hello_len;
	struct cr_ring *ring;
	struct event *ev_tick;
	struct cr_ringlink *rl;     /* the socket, sessions, TCP fallback */
	struct cl_node_link *links; /* one per ring node */
	char ring_path[PATH_MAX];
	struct cl_pend pend[CL_PEND_MAX];
	int events;               /* bumped by replies and session changes */
	uint64_t lookup_ms;       /* how long a lookup waits at most */
	/* The request being waited for. */
	uint64_t want_req;
	Carrier__Hop *reply;
	int reply_done;
	/* End-to-end session being set up. */
	struct cr_sess *e2e_pending;
	/* Path repair of an established end-to-end session. */
	struct cr_id dev;
	size_t dev_nodes[8];    /* ring indices holding a session with dev */
	size_t n_dev_nodes;
	size_t route_idx;       /* the node relaying now */
	uint64_t reroute_req;   /* the ConnectRequest under way, or 0 */
	size_t reroute_idx;
	struct cr_sess *reroute_sess;
	void (*on_reroute)(void *arg, size_t node_idx);
	int e2e_up;
	uint8_t e2e_reply[256];
	size_t e2e_reply_len;
	void (*e2e_recv)(void *, struct cr_sess *, const uint8_t *, size_t);
	void (*e2e_down)(void *, struct cr_sess *);
	void (*e2e_flush)(void *);
	void *e2e_arg;
	struct cl_stun stun[CL_STUN_NODES];
	struct cr_presence dev_presence; /* of the connected device */
	char cands[CR_PUNCH_CANDS][64];  /* ours, sent in the connect */
	size_t n_cands;
	uint64_t connect_ms;             /* the connect request went out */
	int relay_only;                  /* no candidates: the device
					  * never punches */
	size_t n_stun_got, n_reflexive;  /* STUN answers, distinct ones */
	struct cr_tls_cli *tls;          /* the TCP fallback */
};

void cl_default_path(const char *flag, const char *env, const char *name,
		     char *out, size_t cap)
{
	const char *e = getenv(env);
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (flag != NULL)
		snprintf(out, cap, "%s", flag);
	else if (e != NULL && *e != '\0')
		snprintf(out, cap, "%s", e);
	else if (xdg != NULL && *xdg != '\0')
		snprintf(out, cap, "%s/carrier/%s", xdg, name);
	else
		snprintf(out, cap, "%s/.config/carrier/%s",
			 home != NULL ? home : ".", name);
}

int cl_vendor_opt(int ch, const char *arg, struct cl_vendor_opts *vo)
{
	switch (ch) {
	case 'k':
		vo->key = arg;
		return 1;
	case 'r':
		vo->ring = arg;
		return 1;
	case 'p':
		vo->operator = arg;
		return 1;
	case 'T':
		vo->tcp = 1;
		return 1;
	default:
		return 0;
	}
}

struct cl_client *cl_client_open(struct event_base *base,
				 const struct cl_vendor_opts *vo,
				 struct cr_error **err)
{
	char key_path[PATH_MAX], ring_path[PATH_MAX];

	cl_default_path(vo->key, "CARRIER_KEY", "key", key_path,
			sizeof(key_path));
	cl_default_path(vo->ring, "CARRIER_RING", "ring", ring_path,
			sizeof(ring_path));
	struct cl_client *c;

	if (vo->credential != NULL)
		c = cl_client_new_device(base, key_path, ring_path,
					 vo->operator, vo->credential, err);
	else
		c = cl_client_new(base, key_path, ring_path, vo->operator,
				  err);
	if (c != NULL && vo->tcp)
		cr_rl_set_force_tcp(c->rl, 1);
	return c;
}

static struct cl_node_link *cl_link_of(struct cl_client *c, struct cr_sess *s)
{
	if (c->ring == NULL)
		return NULL;
	for (size_t i = 0; i < c->ring->n_nodes; i++)
		if (c->links[i].rl.sess == s)
			return &c->links[i];
	return NULL;
}

static struct cr_rl_link *cl_rl_link_of(void *arg, struct cr_sess *s)
{
	struct cl_node_link *l = cl_link_of(arg, s);

	return l != NULL ? &l->rl : NULL;
}

static void cl_link_up(void *arg, struct cr_rl_link *l)
{
	struct cl_client *c = arg;

	c->events++;
}

void cl_relay_failed(struct cl_client *c, size_t idx)
{
	if (c->ring != NULL && idx < c->ring->n_nodes)
		c->links[idx].relay_bad++;
}

static void cl_peer_up(void *arg, struct cr_sess *s, const uint8_t *reply,
		       size_t reply_len, int rekey)
{
	struct cl_client *c = arg;

	if (!rekey && s == c->e2e_pending &&
	    memcmp(cr_sess_peer_pk(s), c->dev_presence.device_pk, CR_PKLEN) !=
		    0) {
		/* Noise IK makes this impossible (the handshake is to the
		 * named device's key); checked anyway, since a node that
		 * relays to the wrong place must never give the vendor a
		 * session with anyone else. */
		cr_log_warnx("refused an end-to-end session with a key that "
			     "is not the device's: a node relayed to the "
			     "wrong place");
		return;
	}
	if (!rekey && s == c->e2e_pending) {
		c->e2e_up = 1;
		c->e2e_reply_len = reply_len < sizeof(c->e2e_reply) ? reply_len : 0;
		memcpy(c->e2e_reply, reply, c->e2e_reply_len);
	}
}

/*
 * A node sent a newer ring configuration, signed by the operator we pin:
 * it replaced the ring file (so the next command uses it) and the pin
 * moved up.  This process goes on with the configuration it started with.
 */
static void cl_ring_adopted(void *arg, struct cr_rl_link *l, struct cr_ring *r)
{
	struct cl_client *c = arg;
	char ids[CR_ID_STRMAX];

	fprintf(stderr, "carrier: ring configuration epoch %llu from node %s "
			"saved to %s\n",
		(unsigned long long)r->epoch,
		cr_id_format(cr_sess_peer_id(l->sess), ids), c->ring_path);
	cr_ring_free(r);
}

static void cl_ring_refused(void *arg, struct cr_rl_link *l, uint64_t epoch,
			    uint64_t n_refused, const struct cr_error *err)
{
	char ids[CR_ID_STRMAX];

	if (n_refused == 1)
		fprintf(stderr, "carrier: refused ring configuration "
				"epoch %llu from node %s: %s\n",
			(unsigned long long)epoch,
			cr_id_format(cr_sess_peer_id(l->sess), ids),
			cr_error_msg(err));
}

static void cl_peer_recv(void *arg, struct cr_sess *s, const uint8_t *msg,
			 size_t len)
{
	struct cl_client *c = arg;

	if (c->e2e_recv != NULL)
		c->e2e_recv(c->e2e_arg, s, msg, len);
}

/* A node's answer: to the requests in flight, or a route for a repair. */
static void cl_link_msg(void *arg, struct cr_rl_link *rl, Carrier__Hop *m)
{
	struct cl_client *c = arg;

	for (size_t i = 0; i < CL_PEND_MAX && m->req_id != 0; i++) {
		if (c->pend[i].req == m->req_id && !c->pend[i].done) {
			c->pend[i].reply = m;
			c->pend[i].done = 1;
			c->events++;
			return;
		}
	}
	if (!c->reply_done && c->want_req != 0 && m->req_id == c->want_req) {
		c->reply = m;
		c->reply_done = 1;
		return;
	}
	if (c->reroute_req != 0 && m->req_id == c->reroute_req &&
	    m->msg_case == CARRIER__HOP__MSG_CONNECT_REPLY &&
	    c->reroute_sess != NULL) {
		struct cr_addr a;

		c->reroute_req = 0;
		if (cr_addr_parse(c->ring->nodes[c->reroute_idx].addr, &a,
				  NULL) == 0) {
			/* The end-to-end keys stay; only the path changes.
			 * The device follows when our next datagram arrives
			 * on the new route. */
			a.route = m->connect_reply->route_id;
			cr_sess_set_peer_addr(c->reroute_sess, &a);
			c->route_idx = c->reroute_idx;
			if (c->on_reroute != NULL)
				c->on_reroute(c->e2e_arg, c->route_idx);
		}
	}
	cp_hop_free(m);
}

static int cl_node_start(struct cl_client *c, size_t idx);

int cl_e2e_reroute(struct cl_client *c, struct cr_sess *e2e,
		   void (*on_reroute)(void *arg, size_t node_idx))
{
	Carrier__ConnectRequest cr = CARRIER__CONNECT_REQUEST__INIT;
	Carrier__Hop req = CARRIER__HOP__INIT;
	uint8_t buf[CP_MSG_MAX];
	long n;

	for (size_t k = 1; k <= c->n_dev_nodes; k++) {
		/* The next candidate after the current one, round robin. */
		size_t idx = c->dev_nodes[k % c->n_dev_nodes];
		struct cl_node_link *l;

		if (c->n_dev_nodes > 1 && idx == c->route_idx)
			continue;
		l = &c->links[idx];
		if (l->rl.sess == NULL) {
			/* Our session with this node died (a node restart,
			 * a rekey lost under load): dial it again, for the
			 * next attempt. */
			(void)cl_node_start(c, idx);
			continue;
		}
		if (!l->rl.up)
			continue;
		cr.device_id.data = c->dev.hash;
		cr.device_id.len = CR_ID_HASHLEN;
		req.msg_case = CARRIER__HOP__MSG_CONNECT;
		req.connect = &cr;
		req.req_id = cr_rl_next_req(c->rl);
		n = cp_hop_pack(&req, buf, sizeof(buf));
		if (n < 0 || cr_sess_send(l->rl.sess, buf, (size_t)n, cr_now_ms()) < 0)
			continue;
		c->reroute_req = req.req_id;
		c->reroute_idx = idx;
		c->reroute_sess = e2e;
		c->on_reroute = on_reroute;
		/* Rotate so the next attempt tries another node. */
		c->route_idx = idx;
		return 0;
	}
	return -1;
}

static void cl_link_down(void *arg, struct cr_rl_link *l, int was_up)
{
	struct cl_client *c = arg;

	((struct cl_node_link *)l)->failed = 1;
	c->events++;
}

static void cl_peer_down(void *arg, struct cr_sess *s)
{
	struct cl_client *c = arg;

	if (s == c->e2e_pending)
		c->e2e_pending = NULL;
	if (c->e2e_down != NULL)
		c->e2e_down(c->e2e_arg, s);
}

static void cl_stun_input(struct cl_client *c, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < CL_STUN_NODES; i++) {
		struct cl_stun *q = &c->stun[i];
		const char *why;

		if (q->sent && !q->got &&
		    cr_stun_parse_response(buf, len, q->txid, &q->mapped,
					   &why) == 0)
			q->got = 1;
	}
}

/* Asks the device's first home nodes for our reflexive address; the
 * answers come while the lookup runs. */
static void cl_stun_ask(struct cl_client *c, const struct cr_id *dev)
{
	size_t rank[CL_STUN_NODES], n;

	memset(c->stun, 0, sizeof(c->stun));
	n = cr_ring_rank(c->ring, dev->hash, NULL, rank, CL_STUN_NODES);
	for (size_t i = 0; i < n; i++) {
		struct cl_stun *q = &c->stun[i];
		uint8_t req[64];
		struct cr_addr a;
		size_t len;

		if (cr_addr_parse(c->ring->nodes[rank[i]].addr, &a, NULL) < 0)
			continue;
		len = cr_stun_binding_request(q->txid, req, sizeof(req));
		cr_udp_out_send(cr_rl_out(c->rl), &a, req, len);
		q->sent = 1;
		q->sent_ms = cr_now_ms();
	}
	cr_udp_out_flush(cr_rl_out(c->rl));
}

static int cl_stun_enough(const struct cl_client *c)
{
	int sent = 0, got = 0;

	for (size_t i = 0; i < CL_STUN_NODES; i++) {
		sent += c->stun[i].sent;
		got += c->stun[i].got;
	}
	return got >= 2 || got == sent;
}

/* Our candidates: the reflexive addresses the nodes told (distinct ones:
 * more than one means our NAT maps endpoint-dependently), then local. */
static void cl_candidates(struct cl_client *c)
{
	uint64_t deadline = cr_now_ms() + CL_STUN_WAIT_MS;
	char s[CR_ADDR_STRMAX];

	while (!cl_stun_enough(c) && cr_now_ms() < deadline) {
		int never = 0;

		cl_wait(c, &never, cr_now_ms() + 10);
	}
	c->n_cands = 0;
	c->n_stun_got = 0;
	for (size_t i = 0; i < CL_STUN_NODES; i++) {
		int dup = 0;

		if (!c->stun[i].got)
			continue;
		c->n_stun_got++;
		cr_addr_format(&c->stun[i].mapped, s);
		for (size_t j = 0; j < c->n_cands; j++)
			dup |= strcmp(c->cands[j], s) == 0;
		if (!dup)
			snprintf(c->cands[c->n_cands++], sizeof(c->cands[0]),
				 "%s", s);
	}
	c->n_reflexive = c->n_cands;
	cr_punch_local_candidates(cr_rl_fd(c->rl), c->cands, &c->n_cands,
				  CR_PUNCH_CANDS);
}

size_t cl_candidates_get(const struct cl_client *c, const char (**out)[64])
{
	*out = (const char(*)[64])c->cands;
	return c->n_cands;
}

const struct cr_presence *cl_dev_presence(const struct cl_client *c)
{
	return &c->dev_presence;
}

void cl_set_relay_only(struct cl_client *c, int on)
{
	c->relay_only = on;
}

const char *cl_nat_report(const struct cl_client *c, char *out, size_t cap)
{
	if (c->n_stun_got == 0)
		snprintf(out, cap, "no reflexive address (no STUN answer)");
	else if (c->n_stun_got == 1)
		snprintf(out, cap, "reflexive address %s (one node answered)",
			 c->cands[0]);
	else
		snprintf(out, cap, "reflexive address %s from %zu nodes: %s",
			 c->cands[0], c->n_stun_got,
			 c->n_reflexive == 1 ?
				 "NAT maps endpoint-independently" :
				 "NAT maps endpoint-dependently (symmetric)");
	return out;
}

int cl_uses_tcp(const struct cl_client *c)
{
	return cr_rl_uses_tcp(c->rl);
}

uint64_t cl_connect_ms(const struct cl_client *c)
{
	return c->connect_ms;
}

/* A STUN response (the cookie, read little-endian) is ours to read; the
 * rest goes to the sessions. */
static int cl_datagram(void *arg, const struct cr_addr *from,
		       const uint8_t *buf, size_t len)
{
	if (len >= CR_STUN_HDR && buf[0] == 0x01 && buf[1] == 0x01 &&
	    cp_get_u32(buf + 4) == 0x42A41221) {
		cl_stun_input(arg, buf, len);
		return 1;
	}
	return 0;
}

static void cl_flush(void *arg)
{
	struct cl_client *c = arg;

	if (c->e2e_flush != NULL)
		c->e2e_flush(c->e2e_arg);
}

static const struct cr_rl_ops cl_rl_ops = {
	.link_of = cl_rl_link_of,
	.link_up = cl_link_up,
	.link_msg = cl_link_msg,
	.link_down = cl_link_down,
	.ring_adopted = cl_ring_adopted,
	.ring_refused = cl_ring_refused,
	.peer_up = cl_peer_up,
	.peer_recv = cl_peer_recv,
	.peer_down = cl_peer_down,
	.datagram = cl_datagram,
	.flush = cl_flush,
};

static void cl_tls_send(void *tls, const struct cr_addr *to,
			const uint8_t *buf, size_t len)
{
	cr_tls_cli_send(tls, to, buf, len);
}

static void cl_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cl_client *c = arg;
	uint64_t now = cr_now_ms();
	int up = 0;

	for (size_t i = 0; i < c->ring->n_nodes; i++) {
		struct cr_rl_link *l = &c->links[i].rl;

		if (l->sess != NULL && l->up &&
		    now - l->ping_ms >= CL_NODE_PING_MS)
			cr_rl_ping(c->rl, l, now);
		up |= l->up;
	}
	if (cr_rl_tick(c->rl, up, now))
		fprintf(stderr, cl_uses_tcp(c) ?
				"carrier: no ring node answers over "
				"UDP; trying TCP\n" :
				"carrier: no ring node answers over "
				"TCP either; trying UDP again\n");
}

/* DIR/rings/NAME-HASH.pin: the pin of the ring file at ring_path, keyed by
 * its absolute path as known_hosts keys by host name.  The path is what
 * stays the same across epochs (the CLI saves newer epochs over it);
 * nothing in a ring configuration does (nodes come and go, and an epoch
 * does not carry the first one). */
static int cl_ring_pin_path(const char *dir, const char *ring_path, char *out,
		     size_t cap, struct cr_error **err)
{
	char abs[PATH_MAX], name[41], hex[2 * 8 + 1];
	uint8_t h[8];
	const char *base;
	size_t k = 0;

	if (realpath(ring_path, abs) == NULL)
		return cr_error_errno(err, errno, "ring %s", ring_path);
	crypto_generichash(h, sizeof(h), (const uint8_t *)abs, strlen(abs),
			   NULL, 0);
	cr_hex(h, sizeof(h), hex);
	/* The file name tells a person which ring it is for; the hash of
	 * the whole path keeps rings with the same file name apart. */
	base = strrchr(abs, '/') != NULL ? strrchr(abs, '/') + 1 : abs;
	for (const char *p = base; *p != '\0' && k + 1 < sizeof(name); p++)
		name[k++] = (char)((*p >= 'a' && *p <= 'z') ||
						   (*p >= 'A' && *p <= 'Z') ||
						   (*p >= '0' && *p <= '9') ||
						   *p == '.' || *p == '-' ||
						   *p == '_' ?
					   *p :
					   '_');
	name[k] = '\0';
	if ((size_t)snprintf(out, cap, "%s/rings/%s-%s.pin", dir, name, hex) >=
	    cap)
		return cr_error_set(err, ENAMETOOLONG, "pin path too long");
	return 0;
}

/*
 * A ring file at a new path is pinned on first use, but an older epoch of
 * a ring already pinned (a stale copy) is still a rollback: refused when
 * another ring's pin holds the same operator at a higher epoch.
 */
static int cl_pin_rollback(const char *pins, const char *ring_path,
			   const struct cr_ring *ring, struct cr_error **err)
{
	char pre[128], path[PATH_MAX + 300], line[256], ids[CR_ID_STRMAX];
	unsigned long long epoch;
	struct dirent *de;
	struct cr_id rid;
	DIR *d = opendir(pins);
	size_t plen;
	int rc = 0;

	if (d == NULL)
		return 0;
	/* "korhal-operator BASE64PK EPOCH" or "korhal-operators BASE64HASH
	 * EPOCH" (cr/ring.h's pin file) */
	if (cr_ring_pin_prefix(ring, pre, sizeof(pre)) < 0) {
		closedir(d);
		return 0;
	}
	plen = strlen(pre);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		FILE *f;
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 4, ".pin") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pins, de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL &&
		    strncmp(line, pre, plen) == 0 && line[plen] == ' ' &&
		    sscanf(line + plen, " %llu", &epoch) == 1 &&
		    epoch > ring->epoch) {
			if (ring->ops.n == 1) {
				cr_id_from_pk(CR_ID_OPERATOR,
					      ring->operator_pk, &rid);
				cr_id_format(&rid, ids);
			} else {
				char sid[CR_RING_SETID_STRMAX];

				cr_ring_setid_format(ring->set_hash, sid);
				snprintf(ids, sizeof(ids), "%s", sid);
			}
			rc = cr_error_set(err, ESTALE,
					  "ring configuration %s is epoch %llu "
					  "of operator %s, which is already "
					  "at epoch %llu in another ring file "
					  "(pinned in %s); refusing a "
					  "rollback: fetch the current "
					  "configuration, or give --operator "
					  "%s if this is another ring of that "
					  "operator",
					  ring_path,
					  (unsigned long long)ring->epoch,
					  ids, epoch, path, ids);
		}
		fclose(f);
	}
	closedir(d);
	return rc;
}

/*
 * The operator pin of one ring (see cl_ring_pin_path).  A ring not pinned
 * yet is pinned on first use, as ssh does with a host, and the user is told
 * so; before that, the single pin file of earlier versions (DIR/
 * operator.pin, for whatever ring was used then) still has its say: a ring
 * of another operator is refused until --operator names it, since nothing
 * tells a second ring from the first one re-signed by an attacker.
 */
static int cl_pin_check(const char *dir, const char *pin,
			const char *ring_path, const struct cr_ring *ring,
			const struct cr_ring_anchor *opp, struct cr_error **err)
{
	char old[PATH_MAX + 32], pins[PATH_MAX + 16], ids[CR_ID_STRMAX];
	char abs[PATH_MAX];
	struct cr_id rid;
	const char *from = "";

	if (access(pin, F_OK) == 0)
		return cr_ring_pin_check_anchor(pin, ring, opp, err);
	cr_id_from_pk(CR_ID_OPERATOR, ring->operator_pk, &rid);
	snprintf(old, sizeof(old), "%s/operator.pin", dir);
	if (opp->kind == 0 && access(old, F_OK) == 0) {
		struct cr_error *e = NULL;

		/* Only its operator counts: its epoch may be another
		 * ring's. */
		if (cr_ring_pin_check(old, ring, NULL, &e) < 0 &&
		    e->code == ESTALE) {
			*err = e;
			return -1;
		}
		if (e != NULL) {
			cr_error_free(e);
			return cr_error_set(err, EKEYREJECTED,
					    "ring %s is signed by operator %s, "
					    "which %s (the one pin of earlier "
					    "versions) does not pin: if this is "
					    "another operator's ring, check "
					    "that id out of band and give "
					    "--operator %s once to pin it for "
					    "this ring",
					    ring_path, cr_id_format(&rid, ids), old,
					    ids);
		}
		from = " (as the older single pin file did)";
	}
	snprintf(pins, sizeof(pins), "%s/rings", dir);
	if (opp->kind == 0 && cl_pin_rollback(pins, ring_path, ring, err) < 0)
		return -1;
	if (cr_mkdir_p(pins, 0700, err) < 0 ||
	    cr_ring_pin_check_anchor(pin, ring, opp, err) < 0)
		return -1;
	if (ring->ops.n > 1 || ring->ops.threshold > 1) {
		char sid[CR_RING_SETID_STRMAX];

		fprintf(stderr,
			"carrier: pinned operator set %s (%u of %zu) for ring "
			"%s in %s%s\n",
			cr_ring_setid_format(ring->set_hash, sid),
			ring->ops.threshold, ring->ops.n, ring_path,
			realpath(pin, abs) != NULL ? abs : pin, from);
		return 0;
	}
	fprintf(stderr, "carrier: pinned operator %s for ring %s in %s%s\n",
		cr_id_format(&rid, ids), ring_path,
		realpath(pin, abs) != NULL ? abs : pin, from);
	return 0;
}

static struct cl_client *client_new(struct event_base *base,
				    const char *key_path, enum cr_id_type type,
				    const char *ring_path,
				    const char *operator_id,
				    struct cr_error **err);

struct cl_client *cl_client_new(struct event_base *base, const char *key_path,
				const char *ring_path, const char *operator_id,
				struct cr_error **err)
{
	return client_new(base, key_path, CR_ID_VENDOR, ring_path, operator_id,
			  err);
}

struct cl_client *cl_client_new_device(struct event_base *base,
				       const char *key_path,
				       const char *ring_path,
				       const char *operator_id,
				       const char *credential,
				       struct cr_error **err)
{
	Carrier__E2eHello h = CARRIER__E2E_HELLO__INIT;
	struct cr_fleet_cred *cred = NULL;
	struct cl_client *c;
	struct cr_id me;
	char ida[CR_ID_STRMAX], idb[CR_ID_STRMAX];

	/* The device's peers check the credential against their trust root;
	 * here only that it is one and names this key. */
	if (cr_cred_load(credential, NULL, cr_now_unix(), &cred, err) < 0) {
		cr_error_wrap(err, "--credential");
		return NULL;
	}
	c = client_new(base, key_path, CR_ID_DEVICE, ring_path, operator_id,
		       err);
	if (c == NULL) {
		cr_cred_free(cred);
		return NULL;
	}
	cr_id_from_pk(CR_ID_DEVICE, c->kp.pk, &me);
	if (!cr_id_equal(&me, &cred->device)) {
		cr_error_set(err, EINVAL,
			     "%s is the fleet credential of %s, not of this "
			     "key's %s",
			     credential, cr_id_format(&cred->device, ida),
			     cr_id_format(&me, idb));
		cr_cred_free(cred);
		return cl_client_free(c);
	}
	h.version = 1;
	h.credential.data = cred->blob;
	h.credential.len = cred->blob_len;
	if (carrier__e2e_hello__get_packed_size(&h) > sizeof(c->hello)) {
		cr_error_set(err, EMSGSIZE, "%s: too large for a handshake",
			     credential);
		cr_cred_free(cred);
		return cl_client_free(c);
	}
	c->hello_len = carrier__e2e_hello__pack(&h, c->hello);
	cr_cred_free(cred);
	return c;
}

static struct cl_client *client_new(struct event_base *base,
				    const char *key_path, enum cr_id_type type,
				    const char *ring_path,
				    const char *operator_id,
				    struct cr_error **err)
{
	struct cl_client *c;
	struct cr_sess_cfg sc;
	struct cr_rl_cfg rc = { 0 };
	struct cr_ring_anchor op;
	char pin[PATH_MAX + 32], dir[PATH_MAX];
	int fd = -1;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		cr_error_errno(err, ENOMEM, "allocating client");
		return NULL;
	}
	c->base = base;
	/* Only a vendor key, before any datagram: nodes take another type
	 * for what it says it is (an operator's is refused, a node's looks
	 * like a peer's restart to the cluster, a device's replaces that
	 * device's session). */
	/* A device key only with a fleet credential (cl_client_new_device):
	 * a device reaching a peer of its fleet.  Its ring sessions are
	 * instances of their own beside the device's agent's. */
	if (cr_keypair_load_as(key_path, type, &c->kp, err) < 0) {
		cr_error_wrap(err, type == CR_ID_VENDOR
					   ? "vendor key (give --key FILE or set "
					     "CARRIER_KEY)"
					   : "device key (give --key FILE)");
		goto fail;
	}
	/* An operator identity, or an operator set (opset_HEX). */
	if (cr_ring_anchor_parse(operator_id, &op, err) < 0)
		goto fail;
	if (cr_ring_load(ring_path, NULL, &c->ring, err) < 0) {
		cr_error_wrap(err, "ring (give --ring FILE or set "
				   "CARRIER_RING)");
		goto fail;
	}
	cl_default_path(NULL, "CARRIER_CONFIG_DIR", "", dir, sizeof(dir));
	if (cr_mkdir_p(dir, 0700, err) < 0)
		goto fail;
	if (cl_ring_pin_path(dir, ring_path, pin, sizeof(pin), err) < 0 ||
	    cl_pin_check(dir, pin, ring_path, c->ring, &op, err) < 0)
		goto fail;
	snprintf(c->ring_path, sizeof(c->ring_path), "%s", ring_path);
	c->links = calloc(c->ring->n_nodes + 1, sizeof(*c->links));
	if (c->links == NULL) {
		cr_error_errno(err, ENOMEM, "allocating client");
		goto fail;
	}
	cr_sess_cfg_default(&sc);
	sc.keepalive_ms = 10000;
	sc.handshake_retry_ms = 500;
	sc.handshake_timeout_ms = 5000;
	if (c->ring->n_nodes > 0) {
		struct cr_addr a;

		if (cr_addr_parse(c->ring->nodes[0].addr, &a, err) < 0)
			goto fail;
		fd = cr_udp_open_any(a.u.sa.sa_family, err);
	} else {
		cr_error_set(err, EINVAL, "ring %s has no nodes", ring_path);
	}
	if (fd < 0)
		goto fail;
	rc.role = CR_RL_VENDOR;
	rc.kp = &c->kp;
	rc.sess = &sc;
	rc.fd = fd;
	rc.ring = c->ring;
	rc.pin_path = pin;
	rc.save_path = ring_path;
	c->rl = cr_rl_new(base, &rc, &cl_rl_ops, c, err);
	if (c->rl == NULL)
		goto fail;
	c->tls = cr_tls_cli_new(base, cr_rl_tls_input, c->rl, err);
	if (c->tls == NULL)
		goto fail;
	cr_rl_set_tcp(c->rl, cl_tls_send, c->tls);
	c->ev_tick = event_new(base, -1, EV_PERSIST, cl_on_tick, c);
	if (c->ev_tick == NULL ||
	    event_add(c->ev_tick, &(struct timeval){ 0, CL_TICK_MS * 1000 }) < 0) {
		cr_error_set(err, ENOMEM, "cannot create the client's timer");
		goto fail;
	}
	c->lookup_ms = CL_LOOKUP_MS;
	return c;
fail:
	cl_client_free(c);
	return NULL;
}

struct cl_client *cl_client_free(struct cl_client *c)
{
	if (c == NULL)
		return NULL;
	if (c->ev_tick != NULL)
		event_free(c->ev_tick);
	/* Sessions may say goodbye over TCP as the host goes. */
	c->rl = cr_rl_free(c->rl);
	cr_tls_cli_free(c->tls);
	cp_hop_free(c->reply);
	for (size_t i = 0; i < CL_PEND_MAX; i++)
		cp_hop_free(c->pend[i].reply);
	if (c->links != NULL && c->ring != NULL)
		for (size_t i = 0; i < c->ring->n_nodes; i++)
			cr_rl_link_reset(&c->links[i].rl);
	cr_ring_free(c->ring);
	free(c->links);
	cr_keypair_wipe(&c->kp);
	free(c);
	return NULL;
}

void cl_set_lookup_timeout(struct cl_client *c, uint64_t ms)
{
	c->lookup_ms = ms;
}

const struct cr_ring *cl_ring(const struct cl_client *c)
{
	return c->ring;
}

struct event_base *cl_base(const struct cl_client *c)
{
	return c->base;
}

struct cr_sess_host *cl_host(const struct cl_client *c)
{
	return cr_rl_host(c->rl);
}

static void cl_on_deadline(evutil_socket_t fd, short what, void *arg)
{
}

int cl_wait(struct cl_client *c, const int *flag, uint64_t deadline_ms)
{
	struct event *ev = evtimer_new(c->base, cl_on_deadline, NULL);

	/* Without the deadline's timer the loop could wait for ever. */
	if (ev == NULL)
		return *flag;
	while (!*flag) {
		uint64_t now = cr_now_ms();
		uint64_t d;

		if (now >= deadline_ms)
			break;
		struct timeval tv;

		d = deadline_ms - now;
		tv.tv_sec = (time_t)(d / 1000);
		tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
		if (evtimer_add(ev, &tv) < 0)
			break;
		event_base_loop(c->base, EVLOOP_ONCE);
	}
	event_free(ev);
	return *flag;
}

struct cr_sess *cl_node(struct cl_client *c, size_t idx, uint64_t timeout_ms,
			struct cr_error **err)
{
	struct cl_node_link *l = &c->links[idx];
	const struct cr_ring_node *rn = &c->ring->nodes[idx];
	struct cr_addr a;

	if (l->rl.sess == NULL) {
		if (cr_addr_parse(rn->addr, &a, err) < 0)
			return NULL;
		l->failed = 0;
		if (cr_rl_dial(c->rl, &l->rl, rn->pk, &a, cr_now_ms(), err) < 0)
			return NULL;
	}
	if (!l->rl.up) {
		int done = 0;
		uint64_t deadline = cr_now_ms() + timeout_ms;

		while (!l->rl.up && !l->failed && cr_now_ms() < deadline)
			cl_wait(c, &l->rl.up, cr_now_ms() + 50 > deadline ?
						   deadline :
						   cr_now_ms() + 50);
		(void)done;
		if (!l->rl.up) {
			char ids[CR_ID_STRMAX];

			if (l->rl.sess != NULL)
				cr_sess_close(l->rl.sess);
			l->rl.sess = NULL;
			cr_error_set(err, CL_EXIT_OFFLINE,
				     "ring node %s at %s does not answer",
				     cr_id_format(&rn->id, ids), rn->addr);
			return NULL;
		}
	}
	return l->rl.sess;
}

Carrier__Hop *cl_request(struct cl_client *c, size_t idx, Carrier__Hop *req,
			 uint64_t timeout_ms, struct cr_error **err)
{
	uint64_t deadline = cr_now_ms() + timeout_ms;
	uint8_t buf[CP_MSG_MAX];
	struct cr_sess *s;
	Carrier__Hop *reply;
	long n;

	s = cl_node(c, idx, timeout_ms, err);
	if (s == NULL)
		return NULL;
	req->req_id = cr_rl_next_req(c->rl);
	n = cp_hop_pack(req, buf, sizeof(buf));
	if (n < 0) {
		cr_error_set(err, EMSGSIZE, "request too large");
		return NULL;
	}
	/* A late answer to an earlier request that timed out may be held
	 * here (a slow or lying node): it is nobody's now. */
	cp_hop_free(c->reply);
	c->reply = NULL;
	c->want_req = req->req_id;
	c->reply_done = 0;
	/* Datagrams get lost: ask again a few times before giving up. */
	while (cr_now_ms() < deadline && !c->reply_done) {
		uint64_t step = cr_now_ms() + 700;

		if (cr_sess_send(s, buf, (size_t)n, cr_now_ms()) < 0)
			break;
		cl_wait(c, &c->reply_done, step < deadline ? step : deadline);
		if (c->links[idx].rl.sess != s)
			break;
	}
	if (!c->reply_done) {
		c->want_req = 0;
		cr_error_set(err, CL_EXIT_OFFLINE,
			     "ring node %s did not answer in time",
			     c->ring->nodes[idx].addr);
		return NULL;
	}
	reply = c->reply;
	c->reply = NULL;
	c->reply_done = 0;
	return reply;
}

/* Starts a hop session to node idx unless one exists or is under way. */
static int cl_node_start(struct cl_client *c, size_t idx)
{
	struct cl_node_link *l = &c->links[idx];
	struct cr_addr a;

	if (l->rl.sess != NULL)
		return 0;
	if (cr_addr_parse(c->ring->nodes[idx].addr, &a, NULL) < 0)
		return -1;
	l->failed = 0;
	return cr_rl_dial(c->rl, &l->rl, c->ring->nodes[idx].pk, &a,
			  cr_now_ms(), NULL);
}

static struct cl_pend *cl_pend_new(struct cl_client *c)
{
	for (size_t i = 0; i < CL_PEND_MAX; i++) {
		if (c->pend[i].req == 0) {
			c->pend[i].req = cr_rl_next_req(c->rl);
			c->pend[i].done = 0;
			c->pend[i].reply = NULL;
			return &c->pend[i];
		}
	}
	return NULL;
}

static void cl_pend_release(struct cl_pend *pd)
{
	if (pd == NULL)
		return;
	cp_hop_free(pd->reply);
	memset(pd, 0, sizeof(*pd));
}

/* One node asked by a lookup. */
struct cl_ask {
	size_t idx;
	struct cl_pend *pd;
	uint64_t sent_ms;
	int state; /* 0 connecting, 1 asked, 2 finished */
};

/* Checks one answer; returns 1 when it carried a valid record. */
static int cl_lookup_answer(struct cl_client *c, const struct cr_id *dev,
			    size_t idx, const Carrier__Hop *rep,
			    struct cr_presence *p, struct cl_lookup_info *info,
			    char *last, size_t last_cap, int *expired)
{
	uint8_t blob[CP_PRESENCE_MAX];
	struct cr_error *e = NULL;
	size_t len;

	info->n_answered++;
	if (rep->msg_case != CARRIER__HOP__MSG_LOOKUP_REPLY ||
	    rep->lookup_reply->record == NULL) {
		if (rep->msg_case == CARRIER__HOP__MSG_ERROR)
			snprintf(last, last_cap, "%s", rep->error->message);
		return 0;
	}
	len = carrier__signed_presence__get_packed_size(
		rep->lookup_reply->record);
	if (len > sizeof(blob)) {
		info->n_rejected++;
		return 0;
	}
	carrier__signed_presence__pack(rep->lookup_reply->record, blob);
	/* Never trust the node: verify the device's signature here. */
	if (cr_presence_verify(blob, len, cr_now_unix(), dev, p, &e) < 0) {
		if (strstr(cr_error_msg(e), "expired") != NULL)
			(*expired)++;
		else
			info->n_rejected++;
		snprintf(last, last_cap, "%s", cr_error_msg(e));
		cr_error_free(e);
		return 0;
	}
	if (rep->lookup_reply->gone && !rep->lookup_reply->attached_here) {
		if (info->n_gone == 0 ||
		    rep->lookup_reply->last_seen_ms_ago < info->gone_last_seen_ms)
			info->gone_last_seen_ms =
				rep->lookup_reply->last_seen_ms_ago;
		info->n_gone++;
	}
	if (rep->lookup_reply->attached_here && info->n_attached_here < 8) {
		info->attached_idx[info->n_attached_here] = idx;
		info->attached_seq[info->n_attached_here] = p->seq;
		info->last_seen_ms[info->n_attached_here++] =
			rep->lookup_reply->last_seen_ms_ago;
	}
	return 1;
}

/* Which nodes a lookup tried and why each gave nothing, for the message
 * of a lookup nobody answered ("127.0.0.1:7001 no handshake answer, ..."). */
static void cl_lookup_why(const struct cl_client *c, const struct cl_ask *ask,
			  size_t n, char *out, size_t cap)
{
	enum { SHOWN = 4 };
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && i < SHOWN && off < cap; i++) {
		const struct cl_node_link *l = &c->links[ask[i].idx];
		const char *why;
		int w;

		if (l->rl.up)
			why = "session up, no answer to the lookup";
		else if (l->failed || l->rl.sess == NULL)
			why = "handshake failed";
		else
			why = "no answer to the handshake";
		w = snprintf(out + off, cap - off, "%snode %s: %s",
			     i > 0 ? "; " : "", c->ring->nodes[ask[i].idx].addr,
			     why);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (n > SHOWN && off < cap)
		snprintf(out + off, cap - off, "; %zu more nodes did not answer",
			 n - SHOWN);
	if (n == 0)
		snprintf(out, cap, "the ring has no nodes to ask");
}

int cl_lookup(struct cl_client *c, const struct cr_id *dev,
	      struct cr_presence *out, struct cl_lookup_info *info,
	      struct cr_error **err)
{
	Carrier__LookupRequest lr = CARRIER__LOOKUP_REQUEST__INIT;
	Carrier__Hop req = CARRIER__HOP__INIT;
	struct cl_ask ask[CL_LOOKUP_MAX];
	uint64_t seqs[CL_LOOKUP_MAX];
	size_t rank[CL_LOOKUP_MAX], n, n_valid = 0, open;
	uint64_t start = cr_now_ms(), deadline = start + c->lookup_ms;
	uint64_t first_ms = 0;
	size_t waiting, young;
	char ids[CR_ID_STRMAX], last[256] = "";
	uint8_t buf[CP_MSG_MAX];
	long blen;
	int found = 0, expired = 0;

	memset(info, 0, sizeof(*info));
	/*
	 * The home set is the R live nodes ranked first, and the vendor does
	 * not know which nodes are alive: ask the first ranked nodes at once
	 * (beyond R, so that a home set pushed down the ranking by dead
	 * nodes is found), keep the highest valid sequence.
	 */
	n = cr_ring_rank(c->ring, dev->hash, NULL, rank, CL_LOOKUP_MAX);
	lr.device_id.data = (uint8_t *)(uintptr_t)dev->hash;
	lr.device_id.len = CR_ID_HASHLEN;
	req.msg_case = CARRIER__HOP__MSG_LOOKUP;
	req.lookup = &lr;
	for (size_t i = 0; i < n; i++) {
		ask[i].idx = rank[i];
		ask[i].pd = NULL;
		ask[i].state = cl_node_start(c, rank[i]) < 0 ? 2 : 0;
	}
	for (;;) {
		uint64_t now = cr_now_ms();
		int ev;

		open = waiting = young = 0;
		for (size_t i = 0; i < n; i++) {
			struct cl_ask *k = &ask[i];
			struct cl_node_link *l = &c->links[k->idx];
			struct cr_presence p;

			if (k->state == 2)
				continue;
			if (l->rl.sess == NULL || l->failed) {
				k->state = 2;
				snprintf(last, sizeof(last),
					 "ring node %s does not answer",
					 c->ring->nodes[k->idx].addr);
				continue;
			}
			if (k->state == 1 && k->pd->done) {
				k->state = 2;
				if (cl_lookup_answer(c, dev, k->idx,
						     k->pd->reply, &p, info,
						     last, sizeof(last),
						     &expired)) {
					seqs[n_valid++] = p.seq;
					if (!found || p.seq > out->seq)
						*out = p;
					if (!found)
						first_ms = now;
					found = 1;
				}
				cl_pend_release(k->pd);
				k->pd = NULL;
				continue;
			}
			if (l->rl.up && (k->state == 0 || now - k->sent_ms > 700)) {
				/* Datagrams get lost: ask again now and then. */
				if (k->pd == NULL)
					k->pd = cl_pend_new(c);
				if (k->pd == NULL) {
					open++;
					continue;
				}
				req.req_id = k->pd->req;
				blen = cp_hop_pack(&req, buf, sizeof(buf));
				if (blen > 0)
					cr_sess_send(l->rl.sess, buf, (size_t)blen,
						     now);
				k->sent_ms = now;
				k->state = 1;
			}
			waiting += k->state == 1;
			young += k->state == 0 &&
				 now - l->rl.dial_ms < CL_LOOKUP_CONNECT_MS;
			open++;
		}
		if (open == 0 || now >= deadline)
			break;
		/* Every node that answers handshakes has answered; the rest
		 * are down.  Stopping at the first R answers instead would let
		 * a quick liar crowd out the honest node that holds the
		 * device's session. */
		if (waiting == 0 && young == 0 && info->n_answered > 0)
			break;
		/* Or a node holding the device's session answered, and the
		 * slow ones had a moment more. */
		if (found && info->n_attached_here > 0 &&
		    now - first_ms >= CL_LOOKUP_GRACE_MS)
			break;
		ev = c->events;
		while (c->events == ev && cr_now_ms() < deadline) {
			int never = 0;

			cl_wait(c, &never, cr_now_ms() + CL_TICK_MS);
		}
	}
	for (size_t i = 0; i < n; i++)
		cl_pend_release(ask[i].pd);
	for (size_t i = 0; i < n_valid; i++) {
		info->n_stale += seqs[i] < out->seq;
		info->n_newest += seqs[i] == out->seq;
	}
	/* Nodes that hold the device's session with the newest record
	 * first: one that hands out an old record is no better a relay. */
	for (size_t i = 1; i < info->n_attached_here; i++) {
		for (size_t j = i; j > 0 && info->attached_seq[j] >
						    info->attached_seq[j - 1];
		     j--) {
			size_t ti = info->attached_idx[j];
			uint64_t ts = info->attached_seq[j];
			uint64_t tl = info->last_seen_ms[j];

			info->attached_idx[j] = info->attached_idx[j - 1];
			info->attached_seq[j] = info->attached_seq[j - 1];
			info->last_seen_ms[j] = info->last_seen_ms[j - 1];
			info->attached_idx[j - 1] = ti;
			info->attached_seq[j - 1] = ts;
			info->last_seen_ms[j - 1] = tl;
		}
	}
	/* Then the nodes the device itself names in its newest signed
	 * record first: a node outside that list may hold a session the
	 * device has left (it restarted elsewhere) or may lie. */
	if (found) {
		size_t k = 0;

		for (size_t pass = 0; pass < 2; pass++) {
			for (size_t i = k; i < info->n_attached_here; i++) {
				const uint8_t *pk =
					c->ring->nodes[info->attached_idx[i]].pk;
				int named = 0;

				for (size_t j = 0; j < out->n_attached; j++)
					named |= memcmp(out->attached[j], pk,
							CR_PKLEN) == 0;
				if (named != (pass == 0))
					continue;
				/* Move entry i to position k, keeping order. */
				for (size_t j = i; j > k; j--) {
					size_t ti = info->attached_idx[j];
					uint64_t ts = info->attached_seq[j];
					uint64_t tl = info->last_seen_ms[j];

					info->attached_idx[j] =
						info->attached_idx[j - 1];
					info->attached_seq[j] =
						info->attached_seq[j - 1];
					info->last_seen_ms[j] =
						info->last_seen_ms[j - 1];
					info->attached_idx[j - 1] = ti;
					info->attached_seq[j - 1] = ts;
					info->last_seen_ms[j - 1] = tl;
				}
				k++;
			}
		}
	}
	/* Last, the nodes whose relay failed this process before, in the
	 * same order: a lying relay costs one try, not one per device. */
	if (found) {
		size_t k = 0, m = info->n_attached_here;
		size_t idx2[8];
		uint64_t seq2[8], seen2[8];

		for (size_t pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < m; i++) {
				int bad = c->links[info->attached_idx[i]]
						  .relay_bad > 0;

				if (bad != (pass == 1))
					continue;
				idx2[k] = info->attached_idx[i];
				seq2[k] = info->attached_seq[i];
				seen2[k++] = info->last_seen_ms[i];
			}
		memcpy(info->attached_idx, idx2, m * sizeof(idx2[0]));
		memcpy(info->attached_seq, seq2, m * sizeof(seq2[0]));
		memcpy(info->last_seen_ms, seen2, m * sizeof(seen2[0]));
	}
	if (found)
		return 0;
	cr_id_format(dev, ids);
	if (expired > 0)
		return cr_error_set(err, CL_EXIT_OFFLINE,
				    "device %s is offline (%s)", ids, last);
	if (info->n_answered == 0) {
		char why[1024];

		cl_lookup_why(c, ask, n, why, sizeof(why));
		return cr_error_set(err, CL_EXIT_OFFLINE,
				    "no ring node answered the lookup of %s "
				    "within %llu ms: %s; is the ring up, and "
				    "is %s its current configuration?",
				    ids, (unsigned long long)c->lookup_ms, why,
				    c->ring_path);
	}
	return cr_error_set(err, CL_EXIT_OFFLINE,
			    "device %s is unknown to the ring: it never "
			    "attached, or its id is wrong",
			    ids);
}

void cl_set_e2e_handler(struct cl_client *c,
			void (*recv)(void *arg, struct cr_sess *s,
				     const uint8_t *msg, size_t len),
			void (*down)(void *arg, struct cr_sess *s),
			void (*flush)(void *arg), void *arg)
{
	c->e2e_recv = recv;
	c->e2e_down = down;
	c->e2e_flush = flush;
	c->e2e_arg = arg;
}

struct cr_sess *cl_e2e_connect(struct cl_client *c, const struct cr_id *dev,
			       uint64_t timeout_ms, size_t *node_idx,
			       struct cr_error **err)
{
	Carrier__ConnectRequest cr = CARRIER__CONNECT_REQUEST__INIT;
	Carrier__Hop req = CARRIER__HOP__INIT, *rep = NULL;
	uint64_t deadline = cr_now_ms() + timeout_ms;
	struct cl_lookup_info info;
	struct cr_presence p;
	struct cr_addr a;
	struct cr_sess *s;
	char ids[CR_ID_STRMAX];
	uint64_t route = 0;
	size_t idx = 0;
	char *cand_ptrs[CR_PUNCH_CANDS];

	if (!c->relay_only && !cl_uses_tcp(c))
		cl_stun_ask(c, dev);
	if (cl_lookup(c, dev, &p, &info, err) < 0)
		return NULL;
	cr_id_format(dev, ids);
	if (!c->relay_only && !cl_uses_tcp(c))
		cl_candidates(c);
	c->dev_presence = p;
	if (info.n_attached_here == 0) {
		/* No route to wait for: say so at once. */
		if (info.n_gone > 0)
			cr_error_set(err, CL_EXIT_OFFLINE,
				     "device %s is offline: last seen %.1f s "
				     "ago",
				     ids, (double)info.gone_last_seen_ms / 1000.0);
		else
			cr_error_set(err, CL_EXIT_OFFLINE,
				     "device %s is offline: no ring node holds "
				     "a session with it",
				     ids);
		return NULL;
	}
	cr.device_id.data = (uint8_t *)(uintptr_t)dev->hash;
	cr.device_id.len = CR_ID_HASHLEN;
	for (size_t i = 0; i < c->n_cands; i++)
		cand_ptrs[i] = c->cands[i];
	cr.candidates = cand_ptrs;
	cr.n_candidates = c->n_cands;
	req.msg_case = CARRIER__HOP__MSG_CONNECT;
	req.connect = &cr;
	c->connect_ms = cr_now_ms();
	/*
	 * Through each node that says it holds the device's session in turn:
	 * a node may lie, or drop what it should relay, so one whose route
	 * brings no handshake answer in CL_E2E_TRY_MS is passed over.
	 */
	s = NULL;
	for (size_t i = 0; i < info.n_attached_here && s == NULL &&
			   cr_now_ms() < deadline;
	     i++) {
		struct cr_error *e = NULL;
		uint64_t until;

		route = 0;
		idx = info.attached_idx[i];
		rep = cl_request(c, idx, &req, 2000, &e);
		if (rep == NULL) {
			cr_error_free(e);
			continue;
		}
		if (rep->msg_case == CARRIER__HOP__MSG_CONNECT_REPLY)
			route = rep->connect_reply->route_id;
		cp_hop_free(rep);
		if (route == 0 ||
		    cr_addr_parse(c->ring->nodes[idx].addr, &a, NULL) < 0)
			continue;
		a.route = route;
		c->e2e_up = 0;
		s = cr_sess_connect(cl_host(c), p.device_pk, CR_ID_DEVICE, &a,
				    c->hello_len > 0 ? c->hello : NULL,
				    c->hello_len, cr_now_ms(), err);
		if (s == NULL)
			return NULL;
		c->e2e_pending = s;
		until = cr_now_ms() + CL_E2E_TRY_MS;
		if (i + 1 == info.n_attached_here || until > deadline)
			until = deadline;
		cl_wait(c, &c->e2e_up, until);
		if (!c->e2e_up) {
			if (c->e2e_pending != NULL)
				cr_sess_close(s);
			c->e2e_pending = NULL;
			s = NULL;
			c->links[idx].relay_bad++;
		} else {
			c->links[idx].relay_bad = 0;
		}
	}
	if (s == NULL) {
		cr_error_set(err, CL_EXIT_OFFLINE,
			     route == 0 && info.n_attached_here > 0 ?
				     "device %s is unreachable: no node could "
				     "set up a route to it" :
				     "device %s did not answer the end-to-end "
				     "handshake",
			     ids);
		return NULL;
	}
	c->e2e_pending = NULL;
	if (c->e2e_reply_len > 0) {
		Carrier__E2eControl *m =
			cp_e2e_control_unpack(c->e2e_reply, c->e2e_reply_len);

		if (m != NULL && m->msg_case == CARRIER__E2E_CONTROL__MSG_ERROR) {
			cr_error_set(err,
				     m->error->code ==
						     CARRIER__ERROR__CODE__UNAUTHORIZED ?
					     CL_EXIT_UNAUTHORIZED :
					     CL_EXIT_ERROR,
				     "%s", m->error->message);
			cp_e2e_control_free(m);
			cr_sess_close(s);
			return NULL;
		}
		cp_e2e_control_free(m);
	}
	*node_idx = idx;
	c->dev = *dev;
	c->route_idx = idx;
	c->n_dev_nodes = info.n_attached_here;
	memcpy(c->dev_nodes, info.attached_idx, sizeof(c->dev_nodes));
	/* Hop sessions with the device's other nodes, ready for a repair. */
	for (size_t i = 0; i < c->n_dev_nodes; i++) {
		struct cr_error *e = NULL;

		if (c->dev_nodes[i] != idx &&
		    cl_node(c, c->dev_nodes[i], 1000, &e) == NULL)
			cr_error_free(e);
	}
	return s;
}
