/* The device side of `carrier connect`: see da/tunnel.h. */
#include "da/tunnel.h"

#include <unistd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/hop.h"
#include "cr/e2e.h"
#include "cr/fleet.h"
#include "cr/log.h"
#include "cr/punch.h"
#include "cr/util.h"
#include "da/shell.h"
#include "da/sysinfo.h"

/* One vendor's end-to-end session. */
struct da_vsess {
	struct da_vsess *prev, *next;
	struct da_tunnel *t;
	struct cr_sess *sess;
	struct cr_id vendor;
	struct cr_e2e *e2e;
	struct cr_punch *punch;
};

/* A connect offer, kept until the vendor's session comes up: its
 * candidates are where to punch. */
enum { TUNNEL_OFFERS = 8, TUNNEL_OFFER_MS = 30000 };
struct da_offer {
	uint8_t vendor_pk[CR_PKLEN];
	uint64_t ms; /* 0: free slot */
	char cands[CR_PUNCH_CANDS][64];
	size_t n_cands;
};

struct da_tunnel {
	struct event_base *base;
	struct cr_sess_host *host;
	const struct da_config *cfg;
	struct da_vsess *sessions;
	struct cr_log_ratelimit rl;
	struct da_offer offers[TUNNEL_OFFERS];
	char cands[CR_PUNCH_CANDS][64]; /* ours */
	size_t n_cands;
	struct cr_trust *trust; /* --trust: checks peers' fleet credentials */
	/* The agent's part of `carrier sysinfo` (its links, NAT). */
	void (*sysinfo)(void *arg, struct da_sysinfo_buf *b);
	void *sysinfo_arg;
};

void da_tunnel_set_sysinfo(struct da_tunnel *t,
			   void (*fn)(void *arg, struct da_sysinfo_buf *b),
			   void *arg)
{
	t->sysinfo = fn;
	t->sysinfo_arg = arg;
}

/* A vendor the allow list names at all (a port or the shell). */
static int tunnel_allowed_any(const struct da_config *cfg,
			      const struct cr_id *vendor)
{
	for (size_t i = 0; i < cfg->n_allow; i++)
		if (cr_id_equal(&cfg->allow[i].vendor, vendor))
			return 1;
	return 0;
}

/* A "sysinfo" stream: the view is written whole into a socket pair whose
 * other end the stream reads until its end. */
static int tunnel_sysinfo(struct da_vsess *vs, struct cr_e2e *e,
			  uint32_t sid)
{
	struct da_sysinfo_buf *b;
	struct bufferevent *bev;
	char ids[CR_ID_STRMAX];
	int sv[2];

	cr_id_format(&vs->vendor, ids);
	if (vs->vendor.type != CR_ID_VENDOR ||
	    !tunnel_allowed_any(vs->t->cfg, &vs->vendor)) {
		cr_log_info("sysinfo: refused vendor %s: not in the allow "
			    "list",
			    ids);
		return CR_STREAM_RESET_REFUSED;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return CR_STREAM_RESET_LIMIT;
	da_sysinfo_line(b, "agent_version", "%s", KORHAL_VERSION);
	da_sysinfo_host(b);
	if (vs->t->sysinfo != NULL)
		vs->t->sysinfo(vs->t->sysinfo_arg, b);
	/* DA_SYSINFO_MAX fits a socket's buffer: the write does not block. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(b);
		return CR_STREAM_RESET_LIMIT;
	}
	if (write(sv[1], b->text, b->len) != (ssize_t)b->len) {
		free(b);
		close(sv[0]);
		close(sv[1]);
		return CR_STREAM_RESET_LIMIT;
	}
	free(b);
	close(sv[1]);
	evutil_make_socket_nonblocking(sv[0]);
	bev = bufferevent_socket_new(vs->t->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(sv[0]);
		return CR_STREAM_RESET_LIMIT;
	}
	if (cr_e2e_attach(e, sid, bev, bev, 0) < 0) {
		bufferevent_free(bev);
		return CR_STREAM_RESET_LIMIT;
	}
	cr_log_info("sysinfo: sent to vendor %s", ids);
	return 0;
}

/* The trust root cfg names, or NULL without --trust. */
static int tunnel_load_trust(const struct da_config *cfg, struct cr_trust **t,
			     struct cr_error **err)
{
	*t = NULL;
	if (cfg->trust_path[0] == '\0')
		return 0;
	if (cr_trust_load(cfg->trust_path, NULL, cr_now_unix(), t, err) < 0)
		return cr_error_wrap(err, "--trust");
	return 0;
}

/* 1 when a device of the fleet may reach port. */
static int tunnel_serves(const struct da_config *cfg, uint16_t port)
{
	for (size_t i = 0; i < cfg->n_serve_ports; i++)
		if (cfg->serve_ports[i] == port)
			return 1;
	return 0;
}

struct da_tunnel *da_tunnel_new(struct event_base *base,
				struct cr_sess_host *host,
				const struct da_config *cfg,
				struct cr_error **err)
{
	struct da_tunnel *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		cr_error_errno(err, ENOMEM, "allocating tunnel");
		return NULL;
	}
	t->base = base;
	t->host = host;
	t->cfg = cfg;
	if (tunnel_load_trust(cfg, &t->trust, err) < 0) {
		free(t);
		return NULL;
	}
	cr_log_ratelimit_init(&t->rl, 10, 1);
	return t;
}

static void vsess_free(struct da_vsess *vs)
{
	struct da_tunnel *t = vs->t;

	if (vs->prev != NULL)
		vs->prev->next = vs->next;
	else
		t->sessions = vs->next;
	if (vs->next != NULL)
		vs->next->prev = vs->prev;
	cr_e2e_free(vs->e2e);
	cr_punch_free(vs->punch);
	free(vs);
}

struct da_tunnel *da_tunnel_free(struct da_tunnel *t)
{
	if (t == NULL)
		return NULL;
	while (t->sessions != NULL)
		vsess_free(t->sessions);
	cr_trust_free(t->trust);
	free(t);
	return NULL;
}

void da_tunnel_set_config(struct da_tunnel *t, const struct da_config *cfg)
{
	struct da_vsess *vs, *next;
	struct cr_error *err = NULL;
	struct cr_trust *trust;

	t->cfg = cfg;
	/* A trust root that no longer loads (expired, replaced by a bad
	 * file) lets no more fleet peers in: it is not kept. */
	if (tunnel_load_trust(cfg, &trust, &err) < 0) {
		cr_log_warnx("%s: fleet peers are refused until it is fixed",
			     cr_error_msg(err));
		cr_error_free(err);
	}
	cr_trust_free(t->trust);
	t->trust = trust;
	for (vs = t->sessions; vs != NULL; vs = next) {
		char ids[CR_ID_STRMAX];

		next = vs->next;
		if (da_config_knows(cfg, &vs->vendor))
			continue;
		if (vs->vendor.type == CR_ID_DEVICE && t->trust != NULL &&
		    cfg->n_serve_ports > 0)
			continue; /* a fleet peer, its credential checked */
		cr_log_info("vendor %s no longer authorized: closing its "
			    "session",
			    cr_id_format(&vs->vendor, ids));
		cr_sess_close(vs->sess); /* down frees vs */
	}
}

void da_tunnel_offer(struct da_tunnel *t, const Carrier__ConnectOffer *offer,
		     const struct cr_addr *node_addr)
{
	struct da_offer *o = &t->offers[0];
	struct cr_id vid;
	char ids[CR_ID_STRMAX];

	if (offer->vendor_pk.len != CR_PKLEN)
		return;
	cr_id_from_pk(CR_ID_VENDOR, offer->vendor_pk.data, &vid);
	/* The vendor's handshake arrives on the route and is authorized
	 * then; the offer's candidates wait for it in the oldest slot. */
	for (size_t i = 1; i < TUNNEL_OFFERS; i++)
		if (t->offers[i].ms < o->ms)
			o = &t->offers[i];
	memcpy(o->vendor_pk, offer->vendor_pk.data, CR_PKLEN);
	o->ms = cr_now_ms();
	o->n_cands = 0;
	for (size_t i = 0; i < offer->n_candidates && o->n_cands < CR_PUNCH_CANDS;
	     i++)
		if (strlen(offer->candidates[i]) < sizeof(o->cands[0]))
			snprintf(o->cands[o->n_cands++], sizeof(o->cands[0]),
				 "%s", offer->candidates[i]);
	cr_log_debug("connect offer from %s on route %016llx, %zu candidates",
		     cr_id_format(&vid, ids), (unsigned long long)offer->route_id,
		     o->n_cands);
}

void da_tunnel_set_candidates(struct da_tunnel *t, const char (*addrs)[64],
			      size_t n)
{
	t->n_cands = 0;
	for (size_t i = 0; i < n && i < CR_PUNCH_CANDS; i++)
		snprintf(t->cands[t->n_cands++], sizeof(t->cands[0]), "%s",
			 addrs[i]);
}

int da_tunnel_accept(struct da_tunnel *t, const struct cr_id *vendor,
		     const struct cr_addr *from, uint8_t *reply,
		     size_t *reply_len)
{
	Carrier__E2eControl m = CARRIER__E2E_CONTROL__INIT;
	Carrier__Error e = CARRIER__ERROR__INIT;
	char ids[CR_ID_STRMAX], text[160];
	long n;

	if (da_config_knows(t->cfg, vendor)) {
		*reply_len = 0;
		return 0;
	}
	cr_id_format(vendor, ids);
	if (cr_log_ratelimit_ok(&t->rl, cr_now_ms()))
		cr_log_info("refused vendor %s: not in the allow list", ids);
	snprintf(text, sizeof(text), "vendor %s is not authorized by the device",
		 ids);
	e.code = CARRIER__ERROR__CODE__UNAUTHORIZED;
	e.message = text;
	m.msg_case = CARRIER__E2E_CONTROL__MSG_ERROR;
	m.error = &e;
	n = cp_e2e_control_pack(&m, reply, *reply_len);
	*reply_len = n > 0 ? (size_t)n : 0;
	return 1;
}

int da_tunnel_accept_peer(struct da_tunnel *t, const struct cr_id *device,
			  const uint8_t *hello, size_t hello_len,
			  uint8_t *reply, size_t *reply_len)
{
	Carrier__E2eControl m = CARRIER__E2E_CONTROL__INIT;
	Carrier__Error e = CARRIER__ERROR__INIT;
	Carrier__E2eHello *h = NULL;
	struct cr_fleet_cred *cred = NULL;
	struct cr_error *err = NULL;
	char ids[CR_ID_STRMAX], text[200];
	long n;

	cr_id_format(device, ids);
	if (t->trust == NULL || t->cfg->n_serve_ports == 0) {
		snprintf(text, sizeof(text),
			 "device %s: this device serves no fleet peers", ids);
	} else if (hello_len == 0 ||
		   (h = carrier__e2e_hello__unpack(NULL, hello_len, hello)) ==
			   NULL ||
		   h->credential.len == 0) {
		snprintf(text, sizeof(text),
			 "device %s presented no fleet credential", ids);
	} else if (cr_cred_decode(h->credential.data, h->credential.len,
				  t->trust, cr_now_unix(), &cred, &err) < 0) {
		snprintf(text, sizeof(text), "%s", cr_error_msg(err));
	} else if (!cr_id_equal(&cred->device, device)) {
		char idc[CR_ID_STRMAX];

		snprintf(text, sizeof(text),
			 "the fleet credential names %s, not %s",
			 cr_id_format(&cred->device, idc), ids);
	} else {
		cr_cred_free(cred);
		carrier__e2e_hello__free_unpacked(h, NULL);
		*reply_len = 0;
		return 0;
	}
	cr_error_free(err);
	cr_cred_free(cred);
	if (h != NULL)
		carrier__e2e_hello__free_unpacked(h, NULL);
	if (cr_log_ratelimit_ok(&t->rl, cr_now_ms()))
		cr_log_info("refused fleet peer: %s", text);
	e.code = CARRIER__ERROR__CODE__UNAUTHORIZED;
	e.message = text;
	m.msg_case = CARRIER__E2E_CONTROL__MSG_ERROR;
	m.error = &e;
	n = cp_e2e_control_pack(&m, reply, *reply_len);
	*reply_len = n > 0 ? (size_t)n : 0;
	return 1;
}

/* A "shell" stream: the agent's own pty, for vendors allowed it. */
static int tunnel_shell(struct da_vsess *vs, struct cr_e2e *e, uint32_t sid)
{
	struct bufferevent *bev;
	struct cr_error *err = NULL;
	char ids[CR_ID_STRMAX];
	int fd;

	cr_id_format(&vs->vendor, ids);
	if (vs->vendor.type != CR_ID_VENDOR ||
	    !da_config_allows(vs->t->cfg, &vs->vendor, DA_SHELL_PORT)) {
		cr_log_info("shell: refused vendor %s: no shell permission "
			    "(--allow VENDOR_ID:shell)",
			    ids);
		return CR_STREAM_RESET_REFUSED;
	}
	fd = da_shell_spawn(&vs->vendor, &err);
	if (fd < 0) {
		cr_log_warnx("shell: vendor %s: %s", ids, cr_error_msg(err));
		cr_error_free(err);
		return CR_STREAM_RESET_LIMIT;
	}
	bev = bufferevent_socket_new(vs->t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return CR_STREAM_RESET_LIMIT;
	}
	if (cr_e2e_attach(e, sid, bev, bev, 0) < 0) {
		bufferevent_free(bev);
		return CR_STREAM_RESET_LIMIT;
	}
	return 0;
}

static int tunnel_stream_accept(void *arg, struct cr_e2e *e, uint32_t sid,
				const uint8_t *meta, size_t meta_len)
{
	struct da_vsess *vs = arg;
	struct sockaddr_in sin;
	struct bufferevent *bev;
	char ids[CR_ID_STRMAX];
	uint16_t port;
	int one = 1;

	if (meta_len == strlen(DA_SHELL_META) &&
	    memcmp(meta, DA_SHELL_META, meta_len) == 0)
		return tunnel_shell(vs, e, sid);
	if (meta_len == strlen(DA_SYSINFO_META) &&
	    memcmp(meta, DA_SYSINFO_META, meta_len) == 0)
		return tunnel_sysinfo(vs, e, sid);
	if (meta_len != 2)
		return CR_STREAM_RESET_REFUSED;
	port = (uint16_t)(meta[0] << 8 | meta[1]);
	if (port == DA_SHELL_PORT ||
	    (vs->vendor.type == CR_ID_DEVICE ?
		     !tunnel_serves(vs->t->cfg, port) :
		     !da_config_allows(vs->t->cfg, &vs->vendor, port))) {
		if (cr_log_ratelimit_ok(&vs->t->rl, cr_now_ms()))
			cr_log_info("refused vendor %s: port %u not allowed",
				    cr_id_format(&vs->vendor, ids), port);
		return CR_STREAM_RESET_REFUSED;
	}
	bev = bufferevent_socket_new(vs->t->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return CR_STREAM_RESET_LIMIT;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&sin,
				       sizeof(sin)) < 0) {
		bufferevent_free(bev);
		return CR_STREAM_RESET_UNREACHABLE;
	}
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		   sizeof(one));
	if (cr_e2e_attach(e, sid, bev, bev, 1) < 0) {
		bufferevent_free(bev);
		return CR_STREAM_RESET_LIMIT;
	}
	cr_log_debug("vendor %s: stream %u to port %u",
		     cr_id_format(&vs->vendor, ids), sid, port);
	return 0;
}

static void tunnel_control(void *arg, struct cr_e2e *e, const uint8_t *msg,
			   size_t len)
{
	Carrier__E2eControl *m = cp_e2e_control_unpack(msg, len);
	Carrier__E2eControl r = CARRIER__E2E_CONTROL__INIT;
	Carrier__Pong pong = CARRIER__PONG__INIT;
	uint8_t buf[64];
	long n;

	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__E2E_CONTROL__MSG_PING) {
		pong.nonce = m->ping->nonce;
		r.msg_case = CARRIER__E2E_CONTROL__MSG_PONG;
		r.pong = &pong;
		n = cp_e2e_control_pack(&r, buf, sizeof(buf));
		if (n > 0)
			cr_e2e_control(e, buf, (size_t)n);
	}
	cp_e2e_control_free(m);
}

static const struct cr_e2e_ops tunnel_e2e_ops = {
	.accept = tunnel_stream_accept,
	.stream_done = NULL,
	.control = tunnel_control,
};

static void tunnel_path(void *arg, const struct cr_addr *direct)
{
	struct da_vsess *vs = arg;
	char ids[CR_ID_STRMAX], as[CR_ADDR_STRMAX];

	if (direct != NULL)
		cr_log_info("vendor %s: direct path %s",
			    cr_id_format(&vs->vendor, ids),
			    cr_addr_format(direct, as));
	else
		cr_log_info("vendor %s: direct path lost, relayed again",
			    cr_id_format(&vs->vendor, ids));
}

static const struct cr_punch_ops tunnel_punch_ops = {
	.path = tunnel_path,
};

/* Starts punching toward the vendor: the candidates of its offer (the
 * newest from this vendor), and ours sent over the session. */
static void tunnel_punch(struct da_tunnel *t, struct da_vsess *vs)
{
	const uint8_t *pk = cr_sess_peer_pk(vs->sess);
	struct da_offer *o = NULL;
	uint64_t now = cr_now_ms();

	vs->punch = cr_punch_new(t->base, vs->sess, 1, &tunnel_punch_ops, vs);
	if (vs->punch == NULL)
		return;
	for (size_t i = 0; i < TUNNEL_OFFERS; i++)
		if (t->offers[i].ms != 0 && now - t->offers[i].ms < TUNNEL_OFFER_MS &&
		    memcmp(t->offers[i].vendor_pk, pk, CR_PKLEN) == 0 &&
		    (o == NULL || t->offers[i].ms > o->ms))
			o = &t->offers[i];
	if (o != NULL) {
		for (size_t i = 0; i < o->n_cands; i++)
			cr_punch_add_str(vs->punch, o->cands[i]);
		o->ms = 0;
	}
	/* Probing starts when the vendor's CANDIDATES (or first probe)
	 * arrives: by then its own probes have left its NAT, so ours do not
	 * reach its router before it sent anything our way (a Linux router
	 * without an input firewall would keep state for them that forces
	 * the vendor's mapping toward us onto a new port). */
	cr_punch_send_candidates(vs->punch, (const char(*)[64])t->cands,
				 t->n_cands);
}

void da_tunnel_up(struct da_tunnel *t, struct cr_sess *s)
{
	struct da_vsess *vs = calloc(1, sizeof(*vs));
	char ids[CR_ID_STRMAX];

	if (vs == NULL) {
		cr_sess_close(s);
		return;
	}
	vs->t = t;
	vs->sess = s;
	vs->vendor = *cr_sess_peer_id(s);
	vs->e2e = cr_e2e_new(t->base, s, 0, &tunnel_e2e_ops, vs);
	if (vs->e2e == NULL) {
		free(vs);
		cr_sess_close(s);
		return;
	}
	vs->next = t->sessions;
	if (t->sessions != NULL)
		t->sessions->prev = vs;
	t->sessions = vs;
	cr_sess_set_user(s, vs);
	cr_log_info("%s %s connected",
		    vs->vendor.type == CR_ID_DEVICE ? "fleet peer" : "vendor",
		    cr_id_format(&vs->vendor, ids));
	tunnel_punch(t, vs);
}

void da_tunnel_recv(struct da_tunnel *t, struct cr_sess *s, const uint8_t *msg,
		    size_t len)
{
	struct da_vsess *vs = cr_sess_user(s);

	if (vs == NULL)
		return;
	if (vs->punch != NULL &&
	    cr_punch_input(vs->punch, cr_sess_host_rx_from(t->host), msg, len))
		return;
	cr_e2e_input(vs->e2e, msg, len);
}

void da_tunnel_down(struct da_tunnel *t, struct cr_sess *s)
{
	struct da_vsess *vs = cr_sess_user(s);
	char ids[CR_ID_STRMAX];

	if (vs == NULL)
		return;
	{
		struct cr_stream_stats st;

		cr_stream_get_stats(cr_e2e_conn(vs->e2e), &st);
		cr_log_info("vendor %s disconnected (%llu packets sent, %llu "
			    "lost, packet size %llu, %llu MTU probes, %llu "
			    "fallbacks to the base size, srtt %llu us)",
			    cr_id_format(&vs->vendor, ids),
			    (unsigned long long)st.pkts_sent,
			    (unsigned long long)st.pkts_lost,
			    (unsigned long long)st.mtu,
			    (unsigned long long)st.mtu_probes,
			    (unsigned long long)st.mtu_fallbacks,
			    (unsigned long long)st.srtt_us);
	}
	vsess_free(vs);
}

void da_tunnel_flush(struct da_tunnel *t)
{
	for (struct da_vsess *vs = t->sessions; vs != NULL; vs = vs->next)
		cr_e2e_flush(vs->e2e);
}
