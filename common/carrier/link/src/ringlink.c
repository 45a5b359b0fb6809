/* Ring links shared by the ring's clients: see cr/ringlink.h. */
#include "cr/ringlink.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp/hop.h"
#include "cr/udp.h"
#include "cr/util.h"

/* ---- Fallback policy ------------------------------------------------------ */

void cr_rl_fallback_init(struct cr_rl_fallback *f, enum cr_rl_role role,
			 int force_tcp)
{
	memset(f, 0, sizeof(*f));
	f->giveup_ms = role == CR_RL_DEVICE ? CR_RL_DEVICE_UDP_GIVEUP_MS :
					      CR_RL_VENDOR_UDP_GIVEUP_MS;
	f->keep_ms = role == CR_RL_DEVICE ? CR_RL_DEVICE_MODE_KEEP_MS :
					    CR_RL_VENDOR_MODE_KEEP_MS;
	f->use_tcp = f->forced = force_tcp != 0;
}

void cr_rl_fallback_sent(struct cr_rl_fallback *f, uint64_t now)
{
	if (f->mode_ms == 0)
		f->mode_ms = now != 0 ? now : 1;
}

int cr_rl_fallback_tick(struct cr_rl_fallback *f, int any_up, uint64_t now)
{
	if (f->forced || f->mode_ms == 0)
		return 0;
	if (any_up) {
		f->mode_ms = now;
		f->worked = 1;
		return 0;
	}
	if (now - f->mode_ms <= (f->worked ? f->keep_ms : f->giveup_ms))
		return 0;
	/* No node answers this way: UDP blocked, probably (or no node
	 * listens on TCP: back to UDP).  The handshakes' next
	 * retransmissions go the other way. */
	f->use_tcp = !f->use_tcp;
	f->mode_ms = now;
	f->worked = 0;
	return 1;
}

/* ---- Ring configuration adoption ---------------------------------------- */

int cr_rl_adopt_chunk(struct cr_rl_adopt *ad, struct cr_ring_asm *asm_,
		      const struct cr_ring *cur, uint64_t epoch, uint32_t total,
		      uint32_t offset, const uint8_t *data, size_t len,
		      struct cr_ring **out, struct cr_error **err)
{
	struct cr_ring *r = NULL;
	int rc;

	if (epoch <= cur->epoch || epoch <= ad->accepted)
		return 0;
	rc = cr_ring_asm_add(asm_, epoch, total, offset, data, len);
	if (rc <= 0) {
		if (rc < 0)
			cr_ring_asm_reset(asm_);
		return 0;
	}
	/* Only the operator's key makes an epoch: whatever a node claims,
	 * the client keeps its ring. */
	rc = cr_ring_accept(asm_->buf, asm_->total, cur, ad->pin_path,
			    ad->save_path, &r, err);
	cr_ring_asm_reset(asm_);
	if (rc < 0) {
		ad->refused++;
		return -1;
	}
	ad->accepted = r->epoch;
	*out = r;
	return 1;
}

/* ---- Links ----------------------------------------------------------------- */

struct cr_ringlink {
	struct event_base *base;
	const struct cr_rl_ops *ops;
	void *arg;
	const struct cr_ring *ring;
	struct cr_sess_host *host;
	int fd;
	struct event *ev_read;
	struct cr_udp_batch *batch;
	struct cr_udp_out *out;
	void (*tcp_send)(void *, const struct cr_addr *, const uint8_t *,
			 size_t);
	void *tcp_arg;
	struct cr_rl_fallback fb;
	struct cr_rl_adopt adopt;
	uint32_t keepalive_ms;
	uint64_t next_req;
};

/* Whether `to` is a ring node (any route through it): over TCP only ring
 * nodes are reachable, probes of direct paths still go out over UDP. */
static int rl_is_node_addr(const struct cr_ringlink *rl,
			   const struct cr_addr *to)
{
	for (size_t i = 0; i < rl->ring->n_nodes; i++) {
		struct cr_addr na;

		if (cr_addr_parse(rl->ring->nodes[i].addr, &na, NULL) == 0 &&
		    cr_addr_equal(&na, to))
			return 1;
	}
	return 0;
}

static void rl_sess_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
			 const uint8_t *buf, size_t len)
{
	struct cr_ringlink *rl = ctx;

	cr_rl_fallback_sent(&rl->fb, cr_now_ms());
	if (rl->fb.use_tcp && rl->tcp_send != NULL &&
	    ((s != NULL && rl->ops->link_of(rl->arg, s) != NULL) ||
	     rl_is_node_addr(rl, to)))
		rl->tcp_send(rl->tcp_arg, to, buf, len);
	else
		cr_udp_out_send_path(rl->out, to, buf, len);
}

/* The same decision as rl_sess_send: over TCP (fallback) no room, the
 * host then seals into its own buffer and calls send(). */
static uint8_t *rl_sess_reserve(void *ctx, struct cr_sess *s,
				const struct cr_addr *to, size_t len)
{
	struct cr_ringlink *rl = ctx;

	if (rl->fb.use_tcp && rl->tcp_send != NULL)
		return NULL;
	cr_rl_fallback_sent(&rl->fb, cr_now_ms());
	return cr_udp_out_reserve_path(rl->out, to, len);
}

static void rl_sess_unreserve(void *ctx, uint8_t *room)
{
	struct cr_ringlink *rl = ctx;

	cr_udp_out_unreserve(rl->out, room);
}

static int rl_sess_accept(void *ctx, const struct cr_id *peer,
			  const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
			  const uint8_t *hello, size_t hello_len,
			  uint8_t *reply, size_t *reply_len, void **user)
{
	struct cr_ringlink *rl = ctx;

	if (rl->ops->peer_accept == NULL)
		return -1; /* vendors initiate; they accept nothing */
	return rl->ops->peer_accept(rl->arg, peer, pk, from, hello, hello_len,
				    reply, reply_len, user);
}

static void rl_sess_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		       size_t reply_len, int rekey)
{
	struct cr_ringlink *rl = ctx;
	struct cr_rl_link *l = rl->ops->link_of(rl->arg, s);

	if (l == NULL) {
		if (rl->ops->peer_up != NULL)
			rl->ops->peer_up(rl->arg, s, reply, reply_len, rekey);
		return;
	}
	if (rekey)
		return;
	l->up = 1;
	/* Our epoch at once: a node with a newer one sends it.  And our
	 * keepalive interval: a device that vanishes before its first
	 * interval is up is then offline after a few intervals, not after
	 * the session's dead time. */
	cr_rl_ping(rl, l, cr_now_ms());
	rl->ops->link_up(rl->arg, l);
}

static void rl_on_chunk(struct cr_ringlink *rl, struct cr_rl_link *l,
			const Carrier__RingChunk *ch)
{
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc;

	rc = cr_rl_adopt_chunk(&rl->adopt, &l->asm_, rl->ring, ch->epoch,
			       ch->total, ch->offset, ch->data.data,
			       ch->data.len, &r, &err);
	if (rc < 0) {
		if (rl->ops->ring_refused != NULL)
			rl->ops->ring_refused(rl->arg, l, ch->epoch,
					      rl->adopt.refused, err);
		cr_error_free(err);
	} else if (rc > 0) {
		if (rl->ops->ring_adopted != NULL)
			rl->ops->ring_adopted(rl->arg, l, r);
		else
			cr_ring_free(r);
	}
}

static void rl_sess_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
			 size_t len)
{
	struct cr_ringlink *rl = ctx;
	struct cr_rl_link *l = rl->ops->link_of(rl->arg, s);
	Carrier__Hop *m;

	if (l == NULL) {
		if (rl->ops->peer_recv != NULL)
			rl->ops->peer_recv(rl->arg, s, msg, len);
		return;
	}
	m = cp_hop_unpack(msg, len);
	if (m == NULL)
		return;
	if (m->msg_case == CARRIER__HOP__MSG_RING_CHUNK) {
		rl_on_chunk(rl, l, m->ring_chunk);
		cp_hop_free(m);
		return;
	}
	rl->ops->link_msg(rl->arg, l, m);
}

static void rl_sess_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct cr_ringlink *rl = ctx;
	struct cr_rl_link *l = rl->ops->link_of(rl->arg, s);
	int was_up;

	if (l == NULL) {
		if (rl->ops->peer_down != NULL)
			rl->ops->peer_down(rl->arg, s);
		return;
	}
	was_up = l->up;
	l->sess = NULL;
	l->up = 0;
	rl->ops->link_down(rl->arg, l, was_up);
}

static const struct cr_sess_ops rl_sess_ops = {
	.send = rl_sess_send,
	.reserve = rl_sess_reserve,
	.unreserve = rl_sess_unreserve,
	.accept = rl_sess_accept,
	.up = rl_sess_up,
	.recv = rl_sess_recv,
	.down = rl_sess_down,
};

static void rl_datagram(struct cr_ringlink *rl, const struct cr_addr *src,
			uint8_t *buf, size_t len, uint64_t now)
{
	struct cr_addr from = *src;

	if (rl->ops->datagram != NULL &&
	    rl->ops->datagram(rl->arg, src, buf, len))
		return;
	if (cr_udp_unwrap(&from, &buf, &len) == 0)
		cr_sess_host_input(rl->host, &from, buf, len, now);
}

static void rl_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct cr_ringlink *rl = arg;

	for (int round = 0; round < 64; round++) {
		int got = cr_udp_recv(rl->fd, rl->batch);
		uint64_t now = cr_now_ms();

		if (got <= 0)
			break;
		for (size_t i = 0; i < rl->batch->n; i++)
			rl_datagram(rl, &rl->batch->from[i], rl->batch->buf[i],
				    rl->batch->len[i], now);
	}
	if (rl->ops->flush != NULL)
		rl->ops->flush(rl->arg);
}

void cr_rl_tls_input(void *arg, const struct cr_addr *from, uint8_t *buf,
		     size_t len)
{
	struct cr_ringlink *rl = arg;

	rl_datagram(rl, from, buf, len, cr_now_ms());
	if (rl->ops->flush != NULL)
		rl->ops->flush(rl->arg);
}

struct cr_ringlink *cr_rl_new(struct event_base *base,
			      const struct cr_rl_cfg *cfg,
			      const struct cr_rl_ops *ops, void *arg,
			      struct cr_error **err)
{
	struct cr_ringlink *rl = calloc(1, sizeof(*rl));

	if (rl == NULL) {
		if (cfg->fd >= 0)
			close(cfg->fd);
		cr_error_errno(err, ENOMEM, "allocating ring links");
		return NULL;
	}
	rl->base = base;
	rl->ops = ops;
	rl->arg = arg;
	rl->ring = cfg->ring;
	rl->fd = cfg->fd;
	rl->keepalive_ms = cfg->keepalive_ms;
	cr_rl_fallback_init(&rl->fb, cfg->role, cfg->force_tcp);
	if ((size_t)snprintf(rl->adopt.pin_path, sizeof(rl->adopt.pin_path),
			     "%s", cfg->pin_path) >= sizeof(rl->adopt.pin_path) ||
	    (size_t)snprintf(rl->adopt.save_path, sizeof(rl->adopt.save_path),
			     "%s", cfg->save_path) >=
		    sizeof(rl->adopt.save_path)) {
		cr_error_set(err, ENAMETOOLONG, "ring path too long: %s",
			     cfg->save_path);
		goto fail;
	}
	randombytes_buf(&rl->next_req, sizeof(rl->next_req));
	rl->next_req >>= 1;
	rl->host = cr_sess_host_new(cfg->kp, cfg->sess, &rl_sess_ops, rl, err);
	if (rl->host == NULL)
		goto fail;
	rl->batch = calloc(1, sizeof(*rl->batch));
	rl->out = cr_udp_out_new(base, rl->fd);
	rl->ev_read = event_new(base, rl->fd, EV_READ | EV_PERSIST, rl_on_read,
				rl);
	if (rl->batch == NULL || rl->out == NULL || rl->ev_read == NULL) {
		cr_error_errno(err, ENOMEM, "allocating ring links");
		goto fail;
	}
	if (event_add(rl->ev_read, NULL) < 0) {
		cr_error_set(err, EIO, "cannot watch the UDP socket");
		goto fail;
	}
	return rl;
fail:
	cr_rl_free(rl);
	return NULL;
}

struct cr_ringlink *cr_rl_free(struct cr_ringlink *rl)
{
	if (rl == NULL)
		return NULL;
	if (rl->ev_read != NULL)
		event_free(rl->ev_read);
	cr_sess_host_free(rl->host);
	cr_udp_out_free(rl->out);
	if (rl->fd >= 0)
		close(rl->fd);
	free(rl->batch);
	free(rl);
	return NULL;
}

void cr_rl_set_tcp(struct cr_ringlink *rl,
		   void (*send)(void *arg, const struct cr_addr *to,
				const uint8_t *buf, size_t len),
		   void *arg)
{
	rl->tcp_send = send;
	rl->tcp_arg = arg;
}

int cr_rl_dial(struct cr_ringlink *rl, struct cr_rl_link *l,
	       const uint8_t pk[CR_PKLEN], const struct cr_addr *addr,
	       uint64_t now, struct cr_error **err)
{
	l->up = 0;
	l->dial_ms = now;
	l->sess = cr_sess_connect(rl->host, pk, CR_ID_NODE, addr, NULL, 0, now,
				  err);
	return l->sess != NULL ? 0 : -1;
}

void cr_rl_ping(struct cr_ringlink *rl, struct cr_rl_link *l, uint64_t now)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Ping ping = CARRIER__PING__INIT;
	uint8_t buf[64];
	long n;

	/* No nonce: any pong says the node is there (nothing matches one
	 * to its ping), and its 7 bytes each way were a tenth of an idle
	 * device's keepalive traffic. */
	ping.ring_epoch = rl->ring->epoch;
	/* The node takes a device for gone after a few silent intervals. */
	ping.keepalive_ms = rl->keepalive_ms;
	m.req_id = cr_rl_next_req(rl);
	m.msg_case = CARRIER__HOP__MSG_PING;
	m.ping = &ping;
	n = cp_hop_pack(&m, buf, sizeof(buf));
	l->ping_ms = now;
	if (n > 0 && l->sess != NULL)
		cr_sess_send(l->sess, buf, (size_t)n, now);
}

void cr_rl_link_reset(struct cr_rl_link *l)
{
	cr_ring_asm_reset(&l->asm_);
}

int cr_rl_tick(struct cr_ringlink *rl, int any_up, uint64_t now)
{
	int switched = 0;

	if (rl->tcp_send != NULL)
		switched = cr_rl_fallback_tick(&rl->fb, any_up, now);
	cr_sess_host_tick(rl->host, now);
	return switched;
}

void cr_rl_note_up(struct cr_ringlink *rl, uint64_t now)
{
	if (rl->tcp_send != NULL)
		cr_rl_fallback_tick(&rl->fb, 1, now);
}

uint64_t cr_rl_next_req(struct cr_ringlink *rl)
{
	return ++rl->next_req;
}

void cr_rl_set_ring(struct cr_ringlink *rl, const struct cr_ring *ring)
{
	rl->ring = ring;
}

void cr_rl_set_keepalive(struct cr_ringlink *rl, uint32_t keepalive_ms)
{
	rl->keepalive_ms = keepalive_ms;
}

int cr_rl_uses_tcp(const struct cr_ringlink *rl)
{
	return rl->fb.use_tcp;
}

void cr_rl_set_force_tcp(struct cr_ringlink *rl, int on)
{
	rl->fb.forced = on != 0;
	if (on)
		rl->fb.use_tcp = 1;
}

struct cr_sess_host *cr_rl_host(const struct cr_ringlink *rl)
{
	return rl->host;
}

struct cr_udp_out *cr_rl_out(const struct cr_ringlink *rl)
{
	return rl->out;
}

int cr_rl_fd(const struct cr_ringlink *rl)
{
	return rl->fd;
}
