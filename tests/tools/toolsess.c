/*
 * toolsess: the client side of a hop session for the test tools (see
 * toolsess.h).
 */
#include "toolsess.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cp/limits.h"
#include "cr/util.h"

static void ts_on_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		       const uint8_t *buf, size_t len)
{
	struct ts_peer *p = ctx;

	if (p->on_sent != NULL)
		p->on_sent(p, buf, len);
	cr_udp_send(p->out_fd >= 0 ? p->out_fd : p->fd, to, buf, len);
}

static int ts_on_accept(void *ctx, const struct cr_id *peer,
			const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
			const uint8_t *hello, size_t hello_len, uint8_t *reply,
			size_t *reply_len, void **user)
{
	return -1;
}

static void ts_on_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		     size_t reply_len, int rekey)
{
	((struct ts_peer *)ctx)->up = 1;
}

static void ts_on_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		       size_t len)
{
	struct ts_peer *p = ctx;
	Carrier__Hop *m;

	if (p->on_msg == NULL || (m = cp_hop_unpack(msg, len)) == NULL)
		return;
	p->on_msg(p, m);
	cp_hop_free(m);
}

static void ts_on_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct ts_peer *p = ctx;

	p->up = 0;
	p->sess = NULL;
}

static const struct cr_sess_ops ts_ops = {
	.send = ts_on_send,
	.accept = ts_on_accept,
	.up = ts_on_up,
	.recv = ts_on_recv,
	.down = ts_on_down,
};

int ts_peer_open(struct ts_peer *p, const char *ip, struct cr_udp_batch *rx,
		 struct cr_error **err)
{
	struct cr_addr src;
	char src_s[CR_ADDR_STRMAX + 8];

	memset(p, 0, sizeof(*p));
	p->out_fd = -1;
	p->rx = rx;
	snprintf(src_s, sizeof(src_s), "%s:0", ip);
	if (cr_addr_parse(src_s, &src, err) < 0 ||
	    (p->fd = cr_udp_open(&src, err)) < 0) {
		p->fd = -1;
		return -1;
	}
	return 0;
}

int ts_peer_connect(struct ts_peer *p, const struct cr_keypair *kp,
		    const uint8_t pk[CR_PKLEN], enum cr_id_type type,
		    const struct cr_addr *to, struct cr_error **err)
{
	p->up = 0;
	p->host = cr_sess_host_new(kp, NULL, &ts_ops, p, err);
	if (p->host == NULL)
		return -1;
	p->sess = cr_sess_connect(p->host, pk, type, to, NULL, 0, cr_now_ms(),
				  err);
	if (p->sess == NULL) {
		p->host = cr_sess_host_free(p->host);
		return -1;
	}
	return 0;
}

void ts_peer_end(struct ts_peer *p)
{
	if (p->sess != NULL)
		cr_sess_close(p->sess);
	if (p->host != NULL)
		p->host = cr_sess_host_free(p->host);
	p->sess = NULL;
	p->up = 0;
}

void ts_peer_free(struct ts_peer *p)
{
	ts_peer_end(p);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void ts_pump(struct ts_peer *peers, size_t n, int ms)
{
	struct pollfd pfd[256];
	size_t k = n < 256 ? n : 256;

	for (size_t i = 0; i < k; i++)
		pfd[i] = (struct pollfd){ .fd = peers[i].fd, .events = POLLIN };
	poll(pfd, k, ms);
	for (size_t i = 0; i < n; i++) {
		struct ts_peer *p = &peers[i];
		struct cr_udp_batch *b = p->rx;

		if (p->host == NULL)
			continue;
		while (cr_udp_recv(p->fd, b) > 0)
			for (size_t j = 0; j < b->n; j++)
				cr_sess_host_input(p->host, &b->from[j],
						   b->buf[j], b->len[j],
						   cr_now_ms());
		cr_sess_host_tick(p->host, cr_now_ms());
	}
}

void ts_pump_until(struct ts_peer *p, const int *cond, uint64_t ms)
{
	uint64_t end = cr_now_ms() + ms;

	while (!*cond && cr_now_ms() < end)
		ts_pump(p, 1, 20);
}

int ts_wait_up(struct ts_peer *peers, size_t n, uint64_t ms)
{
	uint64_t end = cr_now_ms() + ms;
	size_t up = 0;

	while (cr_now_ms() < end) {
		up = 0;
		for (size_t i = 0; i < n; i++)
			up += peers[i].up;
		if (up == n)
			break;
		ts_pump(peers, n, 20);
	}
	return (int)up;
}

int ts_send(struct ts_peer *p, const Carrier__Hop *m)
{
	uint8_t buf[CP_MSG_MAX];
	long len = cp_hop_pack(m, buf, sizeof(buf));

	if (len < 0)
		return (int)len;
	if (p->sess == NULL)
		return -ENOTCONN;
	return cr_sess_send(p->sess, buf, (size_t)len, cr_now_ms());
}

int ts_ping(struct ts_peer *p, uint64_t nonce)
{
	Carrier__Hop m = CARRIER__HOP__INIT;
	Carrier__Ping pi = CARRIER__PING__INIT;

	pi.nonce = nonce;
	m.req_id = nonce;
	m.msg_case = CARRIER__HOP__MSG_PING;
	m.ping = &pi;
	return ts_send(p, &m);
}
