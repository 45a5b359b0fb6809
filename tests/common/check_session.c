/*
 * Datagram sessions (common/carrier/hop/src/session.c): hosts wired together
 * by an in-memory network with a fake clock.  The send callback queues
 * datagrams; the test decides when (and whether) each is delivered, so loss,
 * replay, reordering and roaming are all just queue operations.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sodium.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/noise.h"
#include "cr/session.h"

#include "../check_main.h"

enum {
	NODES = 130,
	QMAX = 16384,
	LOGMAX = 4096,
	MAXUPS = NODES,
};

struct pkt {
	int to; /* node index, -1 when nobody listens there */
	struct cr_addr from;
	struct cr_addr dst;
	size_t len;
	uint8_t buf[CP_DATAGRAM_MAX];
};

struct node {
	struct cr_sess_host *h;
	struct cr_keypair kp;
	struct cr_addr addr; /* where it listens */
	struct cr_addr src;  /* where its datagrams come from (roaming) */

	/* accept() behaviour */
	int accept_ret;
	uint8_t reply[CR_SESS_REPLY_MAX];
	size_t reply_len;
	void *user_to_set;

	/* what the callbacks saw */
	int n_accept, n_up, n_up_rekey, n_recv, n_down, n_send;
	uint8_t hello[CR_SESS_HELLO_MAX];
	size_t hello_len;
	struct cr_id accept_peer;
	int up_reply_null;
	uint8_t up_reply[CR_SESS_REPLY_MAX];
	size_t up_reply_len;
	struct cr_sess *up_sess;
	struct cr_sess *ups[MAXUPS];
	int n_ups;
	uint8_t recv_buf[CP_DATAGRAM_MAX];
	size_t recv_len;
	struct cr_sess *recv_sess;
	uint64_t recv_seq_sum;
	enum cr_sess_down down_why;
	struct cr_sess *down_sess;
	int close_on_recv;
	struct cr_addr last_to;
};

static struct node *nodes;
static int nnodes;
static struct pkt *queue;
static size_t qhead, qtail;
static struct pkt *sent_log;
static size_t nlog;
static uint64_t now_ms;
/* Returns 1 to drop a datagram instead of delivering it. */
static int (*filter)(const struct pkt *p);

/* ---- The network ------------------------------------------------------ */

static int node_at(const struct cr_addr *a)
{
	for (int i = 0; i < nnodes; i++) {
		if (nodes[i].h == NULL)
			continue;
		if (cr_addr_equal(&nodes[i].addr, a) ||
		    cr_addr_equal(&nodes[i].src, a))
			return i;
	}
	return -1;
}

static void t_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		   const uint8_t *buf, size_t len)
{
	struct node *n = ctx;
	struct pkt *p;

	(void)s;
	ck_assert_uint_le(len, CP_DATAGRAM_MAX);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_lt(qtail, QMAX);
	n->n_send++;
	n->last_to = *to;
	p = &queue[qtail++];
	p->to = node_at(to);
	p->from = n->src;
	p->dst = *to;
	p->len = len;
	memcpy(p->buf, buf, len);
	if (nlog < LOGMAX)
		sent_log[nlog++] = *p;
}

static int t_accept(void *ctx, const struct cr_id *peer,
		    const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		    const uint8_t *hello, size_t hello_len, uint8_t *reply,
		    size_t *reply_len, void **user)
{
	struct node *n = ctx;
	struct cr_id check;

	n->n_accept++;
	cr_id_from_pk(peer->type, pk, &check);
	ck_assert(cr_id_equal(&check, peer));
	ck_assert_ptr_nonnull(from);
	ck_assert_uint_le(hello_len, CR_SESS_HELLO_MAX);
	ck_assert_uint_eq(*reply_len, CR_SESS_REPLY_MAX);
	memcpy(n->hello, hello, hello_len);
	n->hello_len = hello_len;
	n->accept_peer = *peer;
	memcpy(reply, n->reply, n->reply_len);
	*reply_len = n->reply_len;
	*user = n->user_to_set;
	return n->accept_ret;
}

static void t_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		 size_t reply_len, int rekey)
{
	struct node *n = ctx;

	ck_assert(cr_sess_is_up(s));
	if (rekey) {
		n->n_up_rekey++;
		return;
	}
	n->n_up++;
	n->up_sess = s;
	if (n->n_ups < MAXUPS)
		n->ups[n->n_ups++] = s;
	n->up_reply_null = reply == NULL;
	n->up_reply_len = reply_len;
	if (reply_len > 0)
		memcpy(n->up_reply, reply, reply_len);
}

static void t_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		   size_t len)
{
	struct node *n = ctx;
	unsigned long seq;
	char tmp[32];

	ck_assert_uint_gt(len, 0);
	n->n_recv++;
	n->recv_sess = s;
	n->recv_len = len;
	memcpy(n->recv_buf, msg, len);
	if (len < sizeof(tmp) && msg[0] == '#') {
		memcpy(tmp, msg + 1, len - 1);
		tmp[len - 1] = '\0';
		seq = strtoul(tmp, NULL, 10);
		n->recv_seq_sum += seq;
	}
	if (n->close_on_recv)
		cr_sess_close(s);
}

static void t_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	struct node *n = ctx;

	n->n_down++;
	n->down_why = why;
	n->down_sess = s;
	for (int i = 0; i < n->n_ups; i++) {
		if (n->ups[i] == s) {
			n->ups[i] = n->ups[--n->n_ups];
			break;
		}
	}
	if (n->up_sess == s)
		n->up_sess = NULL;
}

static const struct cr_sess_ops ops = {
	.send = t_send,
	.accept = t_accept,
	.up = t_up,
	.recv = t_recv,
	.down = t_down,
};

static struct cr_addr addr_of(int i, int variant)
{
	struct cr_addr a;

	memset(&a, 0, sizeof(a));
	a.u.in4.sin_family = AF_INET;
	a.u.in4.sin_port = htons((uint16_t)(1000 + i + 1000 * variant));
	a.u.in4.sin_addr.s_addr = htonl(0x0a000000u | (uint32_t)(variant << 8) |
					(uint32_t)(i + 1));
	return a;
}

static void node_start(int i, const struct cr_sess_cfg *cfg)
{
	struct cr_error *err = NULL;
	struct node *n = &nodes[i];

	n->h = cr_sess_host_new(&n->kp, cfg, &ops, n, &err);
	ck_assert_msg(n->h != NULL, "%s", cr_error_msg(err));
}

static void node_init(int i, enum cr_id_type type,
		      const struct cr_sess_cfg *cfg)
{
	struct node *n = &nodes[i];

	memset(n, 0, sizeof(*n));
	ck_assert_int_eq(cr_keypair_generate(type, &n->kp), 0);
	n->addr = n->src = addr_of(i, 0);
	memcpy(n->reply, "welcome", 7);
	n->reply_len = 7;
	node_start(i, cfg);
	if (i >= nnodes)
		nnodes = i + 1;
}

static void setup(void)
{
	nodes = calloc(NODES, sizeof(*nodes));
	queue = calloc(QMAX, sizeof(*queue));
	sent_log = calloc(LOGMAX, sizeof(*sent_log));
	ck_assert(nodes != NULL && queue != NULL && sent_log != NULL);
	nnodes = 0;
	qhead = qtail = nlog = 0;
	now_ms = 1000000;
	filter = NULL;
}

static void teardown(void)
{
	for (int i = 0; i < nnodes; i++)
		nodes[i].h = cr_sess_host_free(nodes[i].h);
	free(nodes);
	free(queue);
	free(sent_log);
}

/* Feeds one datagram to node `to`; returns the drop reason. */
static enum cr_sess_drop feed(int to, const struct cr_addr *from,
			      const uint8_t *buf, size_t len)
{
	return cr_sess_host_input(nodes[to].h, from, buf, len, now_ms);
}

/* Delivers everything queued, including what deliveries send. */
static void deliver_all(void)
{
	int guard = 0;

	while (qhead < qtail) {
		struct pkt p = queue[qhead++];

		ck_assert_int_lt(guard++, QMAX);
		if (qhead == qtail)
			qhead = qtail = 0;
		if (p.to < 0 || nodes[p.to].h == NULL)
			continue;
		if (filter != NULL && filter(&p))
			continue;
		feed(p.to, &p.from, p.buf, p.len);
	}
}

static void tick_all(void)
{
	for (int i = 0; i < nnodes; i++) {
		if (nodes[i].h != NULL) {
			uint64_t next = cr_sess_host_tick(nodes[i].h, now_ms);

			ck_assert_uint_ge(next, 1);
			ck_assert_uint_le(next, 1000);
		}
	}
}

/* Lets ms of fake time pass in steps, running timers and the network. */
static void run(uint64_t ms, uint64_t step)
{
	for (uint64_t t = 0; t < ms; t += step) {
		now_ms += step;
		tick_all();
		deliver_all();
	}
}

/* Forgets whatever is queued (replies to crafted datagrams). */
static void drop_pending_queue(void)
{
	qhead = qtail = 0;
}

static const struct cr_sess_stats *stats(int i)
{
	return cr_sess_host_stats(nodes[i].h);
}

static uint64_t drops(int i, enum cr_sess_drop why)
{
	return stats(i)->drops[why];
}

static uint64_t drops_total(int i)
{
	uint64_t t = 0;

	for (int w = 0; w < CR_SESS_DROP_MAX; w++)
		t += stats(i)->drops[w];
	return t;
}

static struct cr_sess *connect_to(int a, int b, const char *hello)
{
	struct cr_error *err = NULL;
	struct cr_sess *s;

	s = cr_sess_connect(nodes[a].h, nodes[b].kp.pk, nodes[b].kp.type,
			    &nodes[b].addr, (const uint8_t *)hello,
			    hello != NULL ? strlen(hello) : 0, now_ms, &err);
	ck_assert_msg(s != NULL, "%s", cr_error_msg(err));
	return s;
}

/* a connects to b and everything is delivered: both sides up. */
static struct cr_sess *pair(int a, int b)
{
	struct cr_sess *s = connect_to(a, b, "hello");

	deliver_all();
	ck_assert(cr_sess_is_up(s));
	ck_assert_ptr_nonnull(nodes[b].up_sess);
	ck_assert(cr_sess_is_up(nodes[b].up_sess));
	return s;
}

static void send_str(struct cr_sess *s, const char *msg)
{
	ck_assert_int_eq(cr_sess_send(s, (const uint8_t *)msg, strlen(msg),
				      now_ms),
			 0);
}

static void expect_recv(int i, const char *msg)
{
	ck_assert_uint_eq(nodes[i].recv_len, strlen(msg));
	ck_assert_mem_eq(nodes[i].recv_buf, msg, strlen(msg));
}

/* The last queued datagram, taken off the queue. */
static struct pkt take_last(void)
{
	ck_assert_uint_gt(qtail, qhead);
	return queue[--qtail];
}

static struct cr_sess_cfg test_cfg(void)
{
	struct cr_sess_cfg cfg;

	cr_sess_cfg_default(&cfg);
	return cfg;
}

/* ---- Basics ----------------------------------------------------------- */

START_TEST(test_sizeof)
{
	printf("sizeof(struct cr_sess) = %zu bytes\n", cr_sess_size());
	/* What an idle device costs a ring node (bench/ring-scale.sh). */
	if (sizeof(void *) == 8)
		ck_assert_uint_le(cr_sess_size(), 296);
	ck_assert_uint_eq(cr_sess_max_payload(), CP_SESS_PAYLOAD_MAX);
}
END_TEST

START_TEST(test_drop_names)
{
	ck_assert_str_eq(cr_sess_drop_name(CR_SESS_DROP_NONE), "none");
	ck_assert_str_eq(cr_sess_drop_name(CR_SESS_DROP_MAC1), "mac1");
	ck_assert_str_eq(cr_sess_drop_name(CR_SESS_DROP_NOMEM), "nomem");
	ck_assert_str_eq(cr_sess_drop_name(CR_SESS_DROP_MAX), "unknown");
	for (int i = 0; i < CR_SESS_DROP_MAX; i++)
		ck_assert_ptr_nonnull(cr_sess_drop_name((enum cr_sess_drop)i));
}
END_TEST

START_TEST(test_handshake_and_data)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;
	struct cr_id id_a, id_b;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	nodes[1].user_to_set = &nodes[1];

	a = connect_to(0, 1, "hi there");
	ck_assert(!cr_sess_is_up(a));
	ck_assert(cr_sess_is_initiator(a));
	ck_assert_int_eq(cr_sess_send(a, (const uint8_t *)"x", 1, now_ms),
			 -EAGAIN);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 1);
	ck_assert_uint_eq(stats(0)->handshakes_initiated, 1);

	/* INIT: the responder accepts, sees the hello and the identity, but
	 * nothing is up until the initiator confirms. */
	ck_assert_uint_eq(qtail - qhead, 1);
	ck_assert_int_eq(queue[qhead].buf[0], CP_MSG_INIT);
	ck_assert_uint_eq(queue[qhead].len, 189 + 8);
	qhead++;
	ck_assert_int_eq(feed(1, &nodes[0].src, queue[0].buf, queue[0].len),
			 CR_SESS_DROP_NONE);
	ck_assert_int_eq(nodes[1].n_accept, 1);
	ck_assert_uint_eq(nodes[1].hello_len, 8);
	ck_assert_mem_eq(nodes[1].hello, "hi there", 8);
	cr_id_from_pk(CR_ID_DEVICE, nodes[0].kp.pk, &id_a);
	ck_assert(cr_id_equal(&nodes[1].accept_peer, &id_a));
	ck_assert_int_eq(nodes[1].n_up, 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);

	/* RESP: the initiator is up with the reply, and confirms at once
	 * with an empty DATA. */
	ck_assert_uint_eq(qtail - qhead, 1);
	ck_assert_int_eq(queue[qhead].buf[0], CP_MSG_RESP);
	ck_assert_uint_eq(queue[qhead].len, 92 + 7);
	deliver_all();
	ck_assert(cr_sess_is_up(a));
	ck_assert_int_eq(nodes[0].n_up, 1);
	ck_assert_ptr_eq(nodes[0].up_sess, a);
	ck_assert_uint_eq(nodes[0].up_reply_len, 7);
	ck_assert_mem_eq(nodes[0].up_reply, "welcome", 7);

	/* The keepalive made the responder up, with no payload. */
	ck_assert_int_eq(nodes[1].n_up, 1);
	b = nodes[1].up_sess;
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(nodes[1].up_reply_len, 0);
	ck_assert(!cr_sess_is_initiator(b));
	ck_assert_ptr_eq(cr_sess_user(b), &nodes[1]);
	ck_assert_ptr_eq(cr_sess_get_host(b), nodes[1].h);
	ck_assert(cr_id_equal(cr_sess_peer_id(b), &id_a));
	ck_assert_mem_eq(cr_sess_peer_pk(b), nodes[0].kp.pk, CR_PKLEN);
	cr_id_from_pk(CR_ID_NODE, nodes[1].kp.pk, &id_b);
	ck_assert(cr_id_equal(cr_sess_peer_id(a), &id_b));
	ck_assert_int_eq(nodes[1].n_recv, 0);
	ck_assert_uint_eq(stats(0)->handshakes_completed, 1);
	ck_assert_uint_eq(stats(1)->handshakes_completed, 1);

	/* Data both ways. */
	send_str(a, "ping");
	deliver_all();
	ck_assert_int_eq(nodes[1].n_recv, 1);
	ck_assert_ptr_eq(nodes[1].recv_sess, b);
	expect_recv(1, "ping");
	send_str(b, "pong");
	deliver_all();
	ck_assert_int_eq(nodes[0].n_recv, 1);
	expect_recv(0, "pong");

	/* The largest payload makes a 1200-byte datagram; one more byte is
	 * refused. */
	{
		uint8_t big[CP_SESS_PAYLOAD_MAX + 1];

		memset(big, 'z', sizeof(big));
		ck_assert_int_eq(cr_sess_send(a, big, sizeof(big), now_ms),
				 -EMSGSIZE);
		ck_assert_int_eq(cr_sess_send(a, big, sizeof(big) - 1, now_ms),
				 0);
		ck_assert_uint_eq(queue[qtail - 1].len, CP_DATAGRAM_MAX);
		deliver_all();
		ck_assert_uint_eq(nodes[1].recv_len, CP_SESS_PAYLOAD_MAX);
	}
	ck_assert_uint_eq(drops_total(0), 0);
	ck_assert_uint_eq(drops_total(1), 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);

	/* Closing says so to the owner and frees the session. */
	cr_sess_close(a);
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_CLOSED);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);
}
END_TEST

START_TEST(test_connect_errors)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_error *err = NULL;
	uint8_t hello[CR_SESS_HELLO_MAX + 1] = { 0 };
	uint8_t zero[CR_PKLEN] = { 0 };

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	ck_assert_ptr_null(cr_sess_connect(nodes[0].h, nodes[1].kp.pk,
					   CR_ID_NODE, &nodes[1].addr, hello,
					   sizeof(hello), now_ms, &err));
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "hello"));
	err = cr_error_free(err);
	ck_assert_ptr_null(cr_sess_connect(nodes[0].h, zero, CR_ID_NODE,
					   &nodes[1].addr, NULL, 0, now_ms,
					   &err));
	err = cr_error_free(err);
	ck_assert_ptr_null(cr_sess_connect(nodes[0].h, nodes[0].kp.pk,
					   CR_ID_DEVICE, &nodes[1].addr, NULL,
					   0, now_ms, &err));
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "own identity"));
	err = cr_error_free(err);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);

	/* The largest hello travels. */
	ck_assert_ptr_nonnull(cr_sess_connect(nodes[0].h, nodes[1].kp.pk,
					      CR_ID_NODE, &nodes[1].addr,
					      hello, CR_SESS_HELLO_MAX, now_ms,
					      &err));
	deliver_all();
	ck_assert_uint_eq(nodes[1].hello_len, CR_SESS_HELLO_MAX);
	ck_assert_int_eq(nodes[0].n_up, 1);
}
END_TEST

/* A refusal carries the reply back, and the responder keeps nothing. */
START_TEST(test_refusal)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	nodes[1].accept_ret = 1;
	memcpy(nodes[1].reply, "not registered", 14);
	nodes[1].reply_len = 14;

	a = connect_to(0, 1, "let me in");
	deliver_all();
	ck_assert_int_eq(nodes[1].n_accept, 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 0);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_REFUSED), 1);
	/* The initiator learns why; the owner decides what to do. */
	ck_assert(cr_sess_is_up(a));
	ck_assert_int_eq(nodes[0].n_up, 1);
	ck_assert_uint_eq(nodes[0].up_reply_len, 14);
	ck_assert_mem_eq(nodes[0].up_reply, "not registered", 14);
	/* Its confirming keepalive finds no session. */
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_INDEX), 1);
	ck_assert_int_eq(nodes[1].n_up, 0);
	ck_assert_int_eq(nodes[1].n_down, 0);
	cr_sess_close(a);
}
END_TEST

/* accept() returning -1 drops silently: the initiator times out. */
START_TEST(test_silent_drop)
{
	struct cr_sess_cfg cfg = test_cfg();

	cfg.handshake_retry_ms = 1000;
	cfg.handshake_timeout_ms = 3000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	nodes[1].accept_ret = -1;
	connect_to(0, 1, NULL);
	run(4000, 100);
	ck_assert_int_ge(nodes[1].n_accept, 3);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_REFUSED),
			  (uint64_t)nodes[1].n_accept);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 0);
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_TIMEOUT);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);
}
END_TEST

/* ---- Bad input -------------------------------------------------------- */

/* An INIT built here from the specification, independently of the
 * implementation: msg 1 payload = pk | type | TAI64N | instance | hello;
 * mac1 keyed
 * with BLAKE2b-256("mac1----" || responder pk). */
static size_t craft_init(uint8_t *out, const struct cr_keypair *ini,
			 const uint8_t claim_pk[CR_PKLEN], uint8_t type_byte,
			 const uint8_t ts[12], const uint8_t resp_pk[CR_PKLEN],
			 uint32_t sender)
{
	static const uint8_t prologue[] = "korhal carrier v1";
	struct cr_noise_hs hs;
	crypto_generichash_state st;
	uint8_t xsk[32], xpk[32], rs[32], payload[53], key[32];
	size_t n, len;

	ck_assert_int_eq(cr_keypair_x25519(ini, xsk, xpk), 0);
	ck_assert_int_eq(cr_pk_x25519(resp_pk, rs), 0);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_IK, CR_NOISE_BLAKE2B, 1,
					  prologue, sizeof(prologue) - 1, xsk,
					  rs),
			 0);
	memcpy(payload, claim_pk, 32);
	payload[32] = type_byte;
	memcpy(payload + 33, ts, 12);
	memset(payload + 45, 0x5a, 8); /* instance */
	out[0] = CP_MSG_INIT;
	out[1] = out[2] = out[3] = 0;
	cp_put_u32(out + 4, sender);
	ck_assert_int_eq(cr_noise_hs_write(&hs, payload, sizeof(payload),
					   out + 8, 1000, &n),
			 0);
	len = 8 + n;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)"mac1----", 8);
	crypto_generichash_update(&st, resp_pk, 32);
	crypto_generichash_final(&st, key, 32);
	crypto_generichash(out + len, 16, out, len, key, 32);
	len += 16;
	memset(out + len, 0, 16);
	return len + 16;
}

/* Recomputes mac1 of an INIT after the test changed it. */
static void remac_init(uint8_t *buf, size_t len, const uint8_t resp_pk[32])
{
	crypto_generichash_state st;
	uint8_t key[32];

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)"mac1----", 8);
	crypto_generichash_update(&st, resp_pk, 32);
	crypto_generichash_final(&st, key, 32);
	crypto_generichash(buf + len - 32, 16, buf, len - 32, key, 32);
}

static void tai64n_from_secs(uint8_t ts[12], uint64_t secs)
{
	uint64_t label = ((uint64_t)1 << 62) + secs;

	for (int i = 0; i < 8; i++)
		ts[i] = (uint8_t)(label >> (56 - 8 * i));
	memset(ts + 8, 0, 4);
}

START_TEST(test_crafted_init)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_keypair other;
	uint8_t buf[600], ts[12];
	size_t len;

	node_init(0, CR_ID_VENDOR, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &other), 0);
	tai64n_from_secs(ts, 1800000000);

	/* The claimed Ed25519 key is not the Noise static key's. */
	len = craft_init(buf, &nodes[0].kp, other.pk, CR_ID_VENDOR, ts,
			 nodes[1].kp.pk, 77);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len), CR_SESS_DROP_HELLO);
	/* An unknown identity type. */
	len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk, 9, ts,
			 nodes[1].kp.pk, 77);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len), CR_SESS_DROP_HELLO);
	/* A rekey for a session that does not exist. */
	len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk,
			 CR_ID_VENDOR | 0x80, ts, nodes[1].kp.pk, 77);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len), CR_SESS_DROP_STATE);
	/* Encrypted to somebody else: mac1 is keyed by the responder. */
	len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk, CR_ID_VENDOR, ts,
			 other.pk, 77);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len), CR_SESS_DROP_MAC1);
	ck_assert_int_eq(nodes[1].n_accept, 0);

	/* Built to the specification, it is accepted and answered. */
	len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk, CR_ID_VENDOR, ts,
			 nodes[1].kp.pk, 77);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len), CR_SESS_DROP_NONE);
	ck_assert_int_eq(nodes[1].n_accept, 1);
	ck_assert_uint_eq(nodes[1].hello_len, 0);
	ck_assert_uint_eq(qtail - qhead, 1);
	ck_assert_int_eq(queue[qhead].buf[0], CP_MSG_RESP);
	ck_assert_uint_eq(cp_get_u32(queue[qhead].buf + 8), 77);

	/* The same INIT again, and an older one, are replays now that a
	 * session exists; a newer one is not. */
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len),
			 CR_SESS_DROP_TIMESTAMP);
	tai64n_from_secs(ts, 1700000000);
	len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk, CR_ID_VENDOR, ts,
			 nodes[1].kp.pk, 78);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len),
			 CR_SESS_DROP_TIMESTAMP);
	tai64n_from_secs(ts, 1800000001);
	len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk, CR_ID_VENDOR, ts,
			 nodes[1].kp.pk, 79);
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len), CR_SESS_DROP_NONE);
	ck_assert_int_eq(nodes[1].n_accept, 2);
	/* The unconfirmed first session was superseded by the second. */
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
	ck_assert_int_eq(nodes[1].n_down, 1);
	ck_assert_int_eq(nodes[1].down_why, CR_SESS_DOWN_REPLACED);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_TIMESTAMP), 2);
}
END_TEST

START_TEST(test_garbage_dropped)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;
	struct pkt init, data;
	uint8_t buf[CP_DATAGRAM_MAX + 8];
	const struct cr_addr *from;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = connect_to(0, 1, "x");
	init = queue[qhead];
	deliver_all();
	ck_assert(cr_sess_is_up(a));
	send_str(a, "payload");
	data = take_last();
	from = &nodes[0].src;

	/* Too short for any header. */
	ck_assert_int_eq(feed(1, from, buf, 0), CR_SESS_DROP_SHORT);
	ck_assert_int_eq(feed(1, from, NULL, 10), CR_SESS_DROP_SHORT);
	memcpy(buf, "\x04\x00\x00", 3);
	ck_assert_int_eq(feed(1, from, buf, 3), CR_SESS_DROP_SHORT);
	ck_assert_int_eq(feed(1, from, data.buf, 15), CR_SESS_DROP_SHORT);
	/* Unknown types, relay frames (the owner's business), reserved
	 * bytes set. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 9;
	ck_assert_int_eq(feed(1, from, buf, 100), CR_SESS_DROP_TYPE);
	buf[0] = 0;
	ck_assert_int_eq(feed(1, from, buf, 100), CR_SESS_DROP_TYPE);
	buf[0] = CP_MSG_RELAY;
	ck_assert_int_eq(feed(1, from, buf, 100), CR_SESS_DROP_TYPE);
	memcpy(buf, data.buf, data.len);
	buf[2] = 1;
	ck_assert_int_eq(feed(1, from, buf, data.len), CR_SESS_DROP_TYPE);
	/* Wrong lengths for the type. */
	ck_assert_int_eq(feed(1, from, data.buf, 31), CR_SESS_DROP_LENGTH);
	memcpy(buf, data.buf, data.len);
	ck_assert_int_eq(feed(1, from, buf, CP_DATAGRAM_MAX + 1),
			 CR_SESS_DROP_LENGTH);
	ck_assert_int_eq(feed(1, from, init.buf, init.len - 1 - 8 - 1),
			 CR_SESS_DROP_LENGTH);
	memset(buf, 0, sizeof(buf));
	buf[0] = CP_MSG_INIT;
	ck_assert_int_eq(feed(1, from, buf, 600), CR_SESS_DROP_LENGTH);
	buf[0] = CP_MSG_RESP;
	ck_assert_int_eq(feed(1, from, buf, 91), CR_SESS_DROP_LENGTH);
	ck_assert_int_eq(feed(1, from, buf, 92 + 257), CR_SESS_DROP_LENGTH);
	buf[0] = CP_MSG_COOKIE;
	ck_assert_int_eq(feed(1, from, buf, 63), CR_SESS_DROP_LENGTH);
	ck_assert_int_eq(feed(1, from, buf, 65), CR_SESS_DROP_LENGTH);
	/* Right length, wrong mac1. */
	buf[0] = CP_MSG_INIT;
	ck_assert_int_eq(feed(1, from, buf, 200), CR_SESS_DROP_MAC1);
	buf[0] = CP_MSG_RESP;
	ck_assert_int_eq(feed(0, from, buf, 100), CR_SESS_DROP_MAC1);
	memcpy(buf, init.buf, init.len);
	buf[40] ^= 1;
	ck_assert_int_eq(feed(1, from, buf, init.len), CR_SESS_DROP_MAC1);
	/* A tampered INIT with a recomputed mac1 fails Noise. */
	remac_init(buf, init.len, nodes[1].kp.pk);
	ck_assert_int_eq(feed(1, from, buf, init.len), CR_SESS_DROP_HANDSHAKE);
	/* A COOKIE for nobody, and one for an index that is not
	 * handshaking. */
	memset(buf, 0, sizeof(buf));
	buf[0] = CP_MSG_COOKIE;
	cp_put_u32(buf + 4, 12345);
	ck_assert_int_eq(feed(0, from, buf, 64), CR_SESS_DROP_INDEX);
	memcpy(buf + 4, data.buf + 4, 4); /* node 1's index of a */
	ck_assert_int_eq(feed(1, from, buf, 64), CR_SESS_DROP_STATE);

	/* DATA: unknown index, flipped bits anywhere, truncated tag. */
	memcpy(buf, data.buf, data.len);
	cp_put_u32(buf + 4, cp_get_u32(buf + 4) + 1);
	ck_assert_int_eq(feed(1, from, buf, data.len), CR_SESS_DROP_INDEX);
	for (size_t i = 8; i < data.len; i++) {
		memcpy(buf, data.buf, data.len);
		buf[i] ^= 0x20;
		ck_assert_int_eq(feed(1, from, buf, data.len),
				 CR_SESS_DROP_DECRYPT);
	}
	ck_assert_int_eq(feed(1, from, data.buf, data.len - 1),
			 CR_SESS_DROP_DECRYPT);
	ck_assert_int_eq(nodes[1].n_recv, 0);
	/* None of it hurt: the real datagram still opens. */
	ck_assert_int_eq(feed(1, from, data.buf, data.len), CR_SESS_DROP_NONE);
	expect_recv(1, "payload");
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_DECRYPT), data.len - 8 + 1);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_SHORT), 4);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_TYPE), 4);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_LENGTH), 8);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_MAC1), 2);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_HANDSHAKE), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
}
END_TEST

START_TEST(test_replayed_data)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;
	struct pkt p1, p2;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	send_str(a, "one");
	p1 = take_last();
	send_str(a, "two");
	p2 = take_last();
	/* Out of order is fine; twice is not. */
	ck_assert_int_eq(feed(1, &p2.from, p2.buf, p2.len), CR_SESS_DROP_NONE);
	ck_assert_int_eq(feed(1, &p1.from, p1.buf, p1.len), CR_SESS_DROP_NONE);
	ck_assert_int_eq(feed(1, &p1.from, p1.buf, p1.len), CR_SESS_DROP_REPLAY);
	ck_assert_int_eq(feed(1, &p2.from, p2.buf, p2.len), CR_SESS_DROP_REPLAY);
	ck_assert_int_eq(nodes[1].n_recv, 2);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_REPLAY), 2);
}
END_TEST

/*
 * The replay window widens while traffic flows (448 counters) and narrows
 * to 63 once the session is quiet: datagrams reordered far behind are
 * taken while busy; right after a quiet spell, only those within the small
 * window are, and nothing is ever taken twice.
 */
START_TEST(test_replay_window_sizes)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;
	struct pkt *p = calloc(300, sizeof(*p));
	int ok = 0, replays = 0;

	ck_assert_ptr_nonnull(p);
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	send_str(a, "warm");
	deliver_all();
	for (int i = 0; i < 300; i++) {
		send_str(a, "x");
		p[i] = take_last();
	}
	nodes[1].n_recv = 0;
	for (int i = 299; i >= 0; i--)
		ck_assert_int_eq(feed(1, &p[i].from, p[i].buf, p[i].len),
				 CR_SESS_DROP_NONE);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(feed(1, &p[i].from, p[i].buf, p[i].len),
				 CR_SESS_DROP_REPLAY);
	ck_assert_int_eq(nodes[1].n_recv, 300);

	/* Quiet (no keepalive due yet): the window narrows. */
	run(7000, 500);
	for (int i = 0; i < 100; i++) {
		send_str(a, "y");
		p[i] = take_last();
	}
	for (int i = 99; i >= 0; i--) {
		enum cr_sess_drop d = feed(1, &p[i].from, p[i].buf, p[i].len);

		ck_assert(d == CR_SESS_DROP_NONE || d == CR_SESS_DROP_REPLAY);
		ok += d == CR_SESS_DROP_NONE;
		replays += d == CR_SESS_DROP_REPLAY;
	}
	ck_assert_int_eq(ok, 64);
	ck_assert_int_eq(replays, 36);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(feed(1, &p[i].from, p[i].buf, p[i].len),
				 CR_SESS_DROP_REPLAY);
	/* New datagrams still pass. */
	send_str(a, "z");
	deliver_all();
	expect_recv(1, "z");
	free(p);
}
END_TEST

/*
 * Sessions live in slabs of 256: hold 600 (three slabs), let them all die,
 * and take new ones into the freed slabs.
 */
START_TEST(test_slabs)
{
	struct cr_sess_cfg cfg = test_cfg();

	cfg.load_handshakes_per_sec = 100000;
	node_init(0, CR_ID_NODE, &cfg);
	for (int round = 0; round < 2; round++) {
		int want = round == 0 ? 600 : 300;

		for (int k = 0; k < want; k++) {
			nodes[1].h = cr_sess_host_free(nodes[1].h);
			node_init(1, CR_ID_DEVICE, &cfg);
			pair(1, 0);
			send_str(nodes[0].up_sess, "hi");
			deliver_all();
			expect_recv(1, "hi");
		}
		ck_assert_uint_eq(cr_sess_host_count(nodes[0].h),
				  (size_t)want);
		/* The last device is alive and answers; the others are
		 * gone and die of silence. */
		nodes[1].h = cr_sess_host_free(nodes[1].h);
		run(cfg.dead_after_ms + 2000, 1000);
		ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);
	}
}
END_TEST

START_TEST(test_replayed_init)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct pkt init;
	uint64_t dh;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	connect_to(0, 1, "hello");
	init = queue[qhead];
	deliver_all();
	ck_assert_int_eq(nodes[1].n_up, 1);
	dh = stats(1)->handshake_dh;
	ck_assert_int_eq(feed(1, &init.from, init.buf, init.len),
			 CR_SESS_DROP_TIMESTAMP);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_TIMESTAMP), 1);
	ck_assert_int_eq(nodes[1].n_accept, 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
	ck_assert_uint_eq(qtail - qhead, 0);
	/* Refused after reading msg 1 (one DH message), before answering. */
	ck_assert_uint_eq(stats(1)->handshake_dh, dh + 1);
	ck_assert_int_eq(nodes[1].n_down, 0);
}
END_TEST

/* ---- Cookies ---------------------------------------------------------- */

START_TEST(test_cookie_under_load)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess_cfg loaded = test_cfg();
	struct cr_sess *a;
	struct pkt init1, cookie, init2 = { .len = 0 };
	struct cr_addr elsewhere = addr_of(0, 3);

	loaded.load_handshakes_per_sec = 0; /* always under load */
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &loaded);
	a = connect_to(0, 1, "hello");

	/* The first INIT gets a COOKIE: no session, no DH, no accept. */
	init1 = queue[qhead++];
	ck_assert_int_eq(feed(1, &init1.from, init1.buf, init1.len),
			 CR_SESS_DROP_COOKIE);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_COOKIE), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 0);
	ck_assert_uint_eq(stats(1)->handshake_dh, 0);
	ck_assert_uint_eq(stats(1)->cookies_sent, 1);
	ck_assert_int_eq(nodes[1].n_accept, 0);
	ck_assert_uint_eq(qtail - qhead, 1);
	cookie = queue[qhead];
	ck_assert_int_eq(cookie.buf[0], CP_MSG_COOKIE);
	ck_assert_uint_eq(cookie.len, 64);
	ck_assert_uint_eq(cp_get_u32(cookie.buf + 4), cp_get_u32(init1.buf + 4));
	/* Smaller than the INIT: no amplification. */
	ck_assert_uint_lt(cookie.len, init1.len);
	/* The reply is taken by the initiator without any retransmission. */
	deliver_all();
	ck_assert_uint_eq(drops_total(0), 0);
	ck_assert_uint_eq(qtail, 0);
	/* A forged COOKIE (not bound to our INIT's mac1) is refused. */
	cookie.buf[40] ^= 1;
	ck_assert_int_eq(feed(0, &cookie.from, cookie.buf, cookie.len),
			 CR_SESS_DROP_DECRYPT);

	/* The retransmission carries mac2 and gets through. */
	run(1200, 100);
	ck_assert(cr_sess_is_up(a));
	ck_assert_int_eq(nodes[1].n_up, 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
	ck_assert_uint_gt(stats(1)->handshake_dh, 0);
	ck_assert_uint_eq(stats(1)->cookies_sent, 1);
	for (size_t i = 0; i < nlog; i++) {
		if (sent_log[i].buf[0] == CP_MSG_INIT && i > 0) {
			init2 = sent_log[i];
			break;
		}
	}
	/* mac2 is not zero now, and it is bound to the source address: the
	 * same INIT from elsewhere gets a cookie again. */
	{
		static const uint8_t zero[16];

		ck_assert_mem_ne(init2.buf + init2.len - 16, zero, 16);
	}
	ck_assert_uint_gt(init2.len, 0);
	ck_assert_int_eq(feed(1, &elsewhere, init2.buf, init2.len),
			 CR_SESS_DROP_COOKIE);
	ck_assert_uint_eq(stats(1)->cookies_sent, 2);
	/* From the right address it is a replay, caught after mac2. */
	ck_assert_int_eq(feed(1, &init2.from, init2.buf, init2.len),
			 CR_SESS_DROP_TIMESTAMP);
}
END_TEST

/*
 * Under load, one source address that has its cookie (so mac2 is valid)
 * and floods INITs gets only its share of handshakes: most are dropped as
 * `ratelimit` before any DH, and a peer at another address still
 * completes its handshake.
 */
START_TEST(test_addr_ratelimit)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess_cfg loaded = test_cfg();
	struct cr_sess *a, *b;
	struct pkt init2 = { .len = 0 };
	uint64_t dh0;
	int limited = 0, passed = 0;

	loaded.load_handshakes_per_sec = 0; /* always under load */
	loaded.addr_handshakes_per_sec = 5;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &loaded);
	node_init(2, CR_ID_DEVICE, &cfg);
	/* Device 0 gets its cookie and connects: the INIT that got through
	 * carries a valid mac2 for its address. */
	a = connect_to(0, 1, "hello");
	deliver_all();
	run(1200, 100);
	ck_assert(cr_sess_is_up(a));
	for (size_t i = nlog; i-- > 0;) {
		if (sent_log[i].buf[0] == CP_MSG_INIT &&
		    node_at(&sent_log[i].dst) == 1) {
			init2 = sent_log[i];
			break;
		}
	}
	ck_assert_uint_gt(init2.len, 0);

	/* The flood: that INIT a thousand times, at one instant. */
	dh0 = stats(1)->handshake_dh;
	for (int i = 0; i < 1000; i++) {
		enum cr_sess_drop d = feed(1, &init2.from, init2.buf,
					   init2.len);

		limited += d == CR_SESS_DROP_RATELIMIT;
		passed += d != CR_SESS_DROP_RATELIMIT;
	}
	drop_pending_queue();
	/* One token was spent on the handshake itself. */
	ck_assert_int_le(passed, 5);
	ck_assert_int_ge(limited, 995);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_RATELIMIT), (uint64_t)limited);
	ck_assert_uint_le(stats(1)->handshake_dh - dh0, 5);
	ck_assert_str_eq(cr_sess_drop_name(CR_SESS_DROP_RATELIMIT),
			 "ratelimit");

	/* Another address is not affected: device 2 attaches. */
	b = connect_to(2, 1, "hello");
	deliver_all();
	run(1200, 100);
	ck_assert(cr_sess_is_up(b));
	ck_assert(cr_sess_is_up(a));
}
END_TEST

/* Below the load threshold no cookie is asked for; above it, it is. */
START_TEST(test_load_threshold)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess_cfg loaded = test_cfg();
	uint8_t buf[600], ts[12];
	size_t len;

	loaded.load_handshakes_per_sec = 3;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &loaded);
	nodes[1].accept_ret = 1;
	now_ms = 5000000; /* the start of a second */
	for (int i = 0; i < 5; i++) {
		tai64n_from_secs(ts, 1800000000u + (uint64_t)i);
		len = craft_init(buf, &nodes[0].kp, nodes[0].kp.pk,
				 CR_ID_DEVICE, ts, nodes[1].kp.pk, 5);
		ck_assert_int_eq(feed(1, &nodes[0].src, buf, len),
				 i < 3 ? CR_SESS_DROP_REFUSED
				       : CR_SESS_DROP_COOKIE);
	}
	/* A new second, a new count. */
	now_ms += 1000;
	ck_assert_int_eq(feed(1, &nodes[0].src, buf, len),
			 CR_SESS_DROP_REFUSED);
}
END_TEST

/* Accepted but unconfirmed sessions are bounded: a flood of valid INITs
 * from fresh identities cannot grow the host without limit. */
START_TEST(test_max_pending)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_keypair ids[4];
	uint8_t buf[600], ts[12];
	size_t len;

	cfg.max_pending = 3;
	node_init(0, CR_ID_NODE, &cfg);
	tai64n_from_secs(ts, 1800000000);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &ids[i]), 0);
		len = craft_init(buf, &ids[i], ids[i].pk, CR_ID_DEVICE, ts,
				 nodes[0].kp.pk, 100 + (uint32_t)i);
		ck_assert_int_eq(feed(0, &nodes[0].src, buf, len),
				 i < 3 ? CR_SESS_DROP_NONE : CR_SESS_DROP_NOMEM);
	}
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 3);
	/* They time out (down TIMEOUT, so owners can free their state) and
	 * make room again. */
	run(11000, 500);
	ck_assert_int_eq(nodes[0].n_down, 3);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_TIMEOUT);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);
	ck_assert_int_eq(feed(0, &nodes[0].src, buf, len), CR_SESS_DROP_NONE);

	/* A confirmed session no longer counts as pending. */
	node_init(1, CR_ID_DEVICE, &cfg);
	node_init(2, CR_ID_DEVICE, &cfg);
	node_init(3, CR_ID_DEVICE, &cfg);
	drop_pending_queue();
	pair(1, 0);
	pair(2, 0);
	pair(3, 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 4);
	drop_pending_queue();
	for (int i = 0; i < 3; i++) {
		len = craft_init(buf, &ids[i], ids[i].pk, CR_ID_DEVICE, ts,
				 nodes[0].kp.pk, 200 + (uint32_t)i);
		ck_assert_int_eq(feed(0, &nodes[0].src, buf, len),
				 i < 2 ? CR_SESS_DROP_NONE : CR_SESS_DROP_NOMEM);
	}
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 6);
}
END_TEST

/* ---- Timers ----------------------------------------------------------- */

START_TEST(test_keepalive)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;
	uint64_t tx0, tx1, recv_b, recv_a;

	cfg.keepalive_ms = 3000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	tx0 = stats(0)->tx_datagrams;
	tx1 = stats(1)->tx_datagrams;
	recv_a = cr_sess_last_recv_ms(a);
	recv_b = cr_sess_last_recv_ms(nodes[1].up_sess);
	/* Quiet for less than keepalive: nothing sent. */
	run(2500, 100);
	ck_assert_uint_eq(stats(0)->tx_datagrams, tx0);
	ck_assert_uint_eq(stats(1)->tx_datagrams, tx1);
	/* Then one keepalive each way, and no payload to the owner. */
	run(1800, 100);
	ck_assert_uint_eq(stats(0)->tx_datagrams, tx0 + 1);
	ck_assert_uint_eq(stats(1)->tx_datagrams, tx1 + 1);
	ck_assert_int_eq(nodes[0].n_recv, 0);
	ck_assert_int_eq(nodes[1].n_recv, 0);
	ck_assert_uint_gt(cr_sess_last_recv_ms(a), recv_a);
	ck_assert_uint_gt(cr_sess_last_recv_ms(nodes[1].up_sess), recv_b);
	/* Sending resets the idle time. */
	tx0 = stats(0)->tx_datagrams;
	for (int i = 0; i < 10; i++) {
		send_str(a, "busy");
		run(500, 100);
	}
	ck_assert_uint_eq(stats(0)->tx_datagrams, tx0 + 10);
	ck_assert_uint_eq(drops_total(0) + drops_total(1), 0);
}
END_TEST

static int drop_everything(const struct pkt *p)
{
	(void)p;
	return 1;
}

START_TEST(test_dead_after_silence)
{
	struct cr_sess_cfg cfg = test_cfg();

	cfg.keepalive_ms = 2000;
	cfg.dead_after_ms = 10000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	pair(0, 1);
	/* With keepalives the session stays alive however quiet. */
	run(30000, 250);
	ck_assert_int_eq(nodes[0].n_down + nodes[1].n_down, 0);
	/* Cut the wire. */
	filter = drop_everything;
	/* The last keepalive got through at most 2.5 s before the cut. */
	run(7000, 250);
	ck_assert_int_eq(nodes[0].n_down + nodes[1].n_down, 0);
	run(4000, 250);
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_DEAD);
	ck_assert_int_eq(nodes[1].n_down, 1);
	ck_assert_int_eq(nodes[1].down_why, CR_SESS_DOWN_DEAD);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 0);
}
END_TEST

START_TEST(test_handshake_timeout)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_addr nowhere = addr_of(50, 0);
	struct cr_error *err = NULL;
	struct cr_keypair peer;
	struct cr_sess *a;
	size_t inits = 0;

	cfg.handshake_retry_ms = 1000;
	cfg.handshake_timeout_ms = 5000;
	node_init(0, CR_ID_DEVICE, &cfg);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_NODE, &peer), 0);
	a = cr_sess_connect(nodes[0].h, peer.pk, CR_ID_NODE, &nowhere, NULL, 0,
			    now_ms, &err);
	ck_assert_ptr_nonnull(a);
	run(4900, 50);
	ck_assert_int_eq(nodes[0].n_down, 0);
	run(300, 50);
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_TIMEOUT);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 0);
	/* Retransmitted every second or a little more, each with a fresh
	 * ephemeral key. */
	for (size_t i = 0; i < nlog; i++) {
		ck_assert_int_eq(sent_log[i].buf[0], CP_MSG_INIT);
		for (size_t j = 0; j < i; j++)
			ck_assert_mem_ne(sent_log[i].buf + 8,
					 sent_log[j].buf + 8, 32);
		inits++;
	}
	ck_assert_uint_ge(inits, 4);
	ck_assert_uint_le(inits, 5);
	run(5000, 100);
	ck_assert_uint_eq(nlog, inits);
}
END_TEST

/* Messages numbered "#N" both ways every step across several rekeys:
 * none is lost. */
START_TEST(test_rekey_no_loss)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;
	uint64_t sum = 0;
	char msg[32];
	int n = 0;

	cfg.rekey_after_ms = 5000;
	cfg.reject_after_ms = 8000;
	cfg.keepalive_ms = 2000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	b = nodes[1].up_sess;
	for (uint64_t t = 0; t < 22000; t += 50) {
		n++;
		snprintf(msg, sizeof(msg), "#%d", n);
		send_str(a, msg);
		send_str(b, msg);
		sum += (uint64_t)n;
		now_ms += 50;
		tick_all();
		deliver_all();
	}
	ck_assert_int_eq(nodes[0].n_recv, n);
	ck_assert_int_eq(nodes[1].n_recv, n);
	ck_assert_uint_eq(nodes[0].recv_seq_sum, sum);
	ck_assert_uint_eq(nodes[1].recv_seq_sum, sum);
	/* 22 s at one rekey per 5 s; the session objects stayed the same. */
	ck_assert_int_eq(nodes[0].n_up_rekey, 4);
	ck_assert_int_eq(nodes[1].n_up_rekey, 4);
	ck_assert_uint_eq(stats(0)->handshakes_completed, 5);
	ck_assert_int_eq(nodes[0].n_up, 1);
	ck_assert_int_eq(nodes[0].n_down + nodes[1].n_down, 0);
	ck_assert_uint_eq(drops_total(0) + drops_total(1), 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
}
END_TEST

/* Datagrams sealed under the old keys and delivered after the rekey still
 * open with the previous keys. */
START_TEST(test_rekey_in_flight)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;
	struct pkt old_ab, old_ba;

	cfg.rekey_after_ms = 5000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	b = nodes[1].up_sess;
	run(4000, 500);
	send_str(a, "old a->b");
	old_ab = take_last();
	send_str(b, "old b->a");
	old_ba = take_last();
	run(1500, 500); /* the rekey handshake runs */
	ck_assert_int_eq(nodes[0].n_up_rekey, 1);
	ck_assert_int_eq(nodes[1].n_up_rekey, 1);
	send_str(a, "new a->b");
	send_str(b, "new b->a");
	deliver_all();
	expect_recv(1, "new a->b");
	expect_recv(0, "new b->a");
	ck_assert_int_eq(feed(1, &old_ab.from, old_ab.buf, old_ab.len),
			 CR_SESS_DROP_NONE);
	expect_recv(1, "old a->b");
	ck_assert_int_eq(feed(0, &old_ba.from, old_ba.buf, old_ba.len),
			 CR_SESS_DROP_NONE);
	expect_recv(0, "old b->a");
	/* Still only once. */
	ck_assert_int_eq(feed(0, &old_ba.from, old_ba.buf, old_ba.len),
			 CR_SESS_DROP_REPLAY);
	/* Once the peer has used the new keys for a while, the old ones go:
	 * the datagram's index no longer names anything. */
	run(12000, 1000);
	ck_assert_int_eq(feed(1, &old_ab.from, old_ab.buf, old_ab.len),
			 CR_SESS_DROP_INDEX);
}
END_TEST

/* Rekey by need: an idle session (keepalives only) keeps its keys past
 * rekey_after_ms and rekeys at rekey_idle_ms, and neither end drops them
 * in between; once traffic crosses rekey_busy_msgs the old keys are
 * renewed at once; a busy session rekeys on the clock as before. */
START_TEST(test_rekey_by_need)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;
	int n = 0;

	cfg.rekey_after_ms = 5000;
	cfg.reject_after_ms = 8000;
	cfg.keepalive_ms = 2000;
	cfg.rekey_idle_ms = 60000;
	cfg.rekey_busy_msgs = 100;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	b = nodes[1].up_sess;
	/* 40 s idle: keepalives only (about 20 each way), no rekey, no
	 * expiry, although the keys are five times rekey_after_ms old. */
	run(40000, 500);
	ck_assert_int_eq(nodes[0].n_up_rekey, 0);
	ck_assert_int_eq(nodes[0].n_down + nodes[1].n_down, 0);
	ck_assert_uint_eq(drops_total(0) + drops_total(1), 0);
	/* Traffic resumes: within rekey_busy_msgs datagrams the old keys go. */
	for (int i = 0; i < 80 && nodes[0].n_up_rekey == 0; i++) {
		send_str(a, "resumed");
		send_str(b, "resumed");
		n++;
		now_ms += 10;
		tick_all();
		deliver_all();
	}
	run(2000, 100);
	ck_assert_int_eq(nodes[0].n_up_rekey, 1);
	ck_assert_int_le(n, 80);
	/* Busy from now on: rekeys every 5 s as without rekey by need. */
	for (uint64_t t = 0; t < 12000; t += 50) {
		send_str(a, "busy");
		send_str(b, "busy");
		now_ms += 50;
		tick_all();
		deliver_all();
	}
	ck_assert_int_ge(nodes[0].n_up_rekey, 3);
	/* Idle again: the keys of the busy time are renewed once more, the
	 * idle ones after them stay until rekey_idle_ms, then rekey once
	 * more, still without losing the session. */
	run(8000, 500);
	int before = nodes[0].n_up_rekey;
	run(30000, 500);
	ck_assert_int_eq(nodes[0].n_up_rekey, before);
	run(40000, 500);
	ck_assert_int_eq(nodes[0].n_up_rekey, before + 1);
	ck_assert_int_eq(nodes[0].n_down + nodes[1].n_down, 0);
	ck_assert_int_eq(nodes[0].n_up, 1);
}
END_TEST

/* A responder whose initiator stops rekeying drops the keys at
 * reject_after_ms; datagrams under them are refused. */
START_TEST(test_keys_expire)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;
	struct pkt p;

	cfg.rekey_after_ms = 0;
	cfg.reject_after_ms = 5000;
	cfg.keepalive_ms = 1000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	run(4000, 500);
	send_str(a, "late");
	p = take_last();
	now_ms += 1500; /* past reject, before any timer runs */
	ck_assert_int_eq(cr_sess_send(a, (const uint8_t *)"x", 1, now_ms),
			 -EAGAIN);
	ck_assert_int_eq(feed(1, &p.from, p.buf, p.len), CR_SESS_DROP_EXPIRED);
	tick_all();
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_EXPIRED);
	ck_assert_int_eq(nodes[1].n_down, 1);
	ck_assert_int_eq(nodes[1].down_why, CR_SESS_DOWN_EXPIRED);
}
END_TEST

/* The initiator cannot reach the responder for its rekey: the old keys
 * work until reject-after, then the session expires. */
START_TEST(test_rekey_fails_then_expires)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;

	cfg.rekey_after_ms = 3000;
	cfg.reject_after_ms = 9000;
	cfg.keepalive_ms = 1000;
	cfg.dead_after_ms = 0;
	cfg.handshake_timeout_ms = 2000;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	/* Rekey INITs do not go through accept(): refusing new peers does
	 * not stop an established session from rekeying. */
	nodes[1].accept_ret = -1;
	run(8000, 250);
	ck_assert_int_eq(nodes[1].n_accept, 1);
	ck_assert_int_eq(nodes[0].n_up_rekey, 2);
	ck_assert(cr_sess_is_up(a));
	filter = drop_everything;
	run(15000, 250);
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_EXPIRED);
}
END_TEST

/* ---- Replacing, roaming, simultaneous open ---------------------------- */

START_TEST(test_reconnect_replaces)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a1, *a2, *b1;
	struct pkt init;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a1 = pair(0, 1);
	b1 = nodes[1].up_sess;

	/* The owner connects again: the old session works until the new
	 * one is up, then both sides drop it. */
	a2 = connect_to(0, 1, "again");
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 2);
	init = take_last(); /* hold back the INIT */
	ck_assert_int_eq(init.buf[0], CP_MSG_INIT);
	send_str(a1, "still here");
	deliver_all();
	expect_recv(1, "still here");
	ck_assert_int_eq(feed(1, &init.from, init.buf, init.len),
			 CR_SESS_DROP_NONE);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 2);
	ck_assert_int_eq(nodes[1].n_down, 0);
	deliver_all();
	ck_assert(cr_sess_is_up(a2));
	ck_assert_int_eq(nodes[0].n_down, 1);
	ck_assert_ptr_eq(nodes[0].down_sess, a1);
	ck_assert_int_eq(nodes[0].down_why, CR_SESS_DOWN_REPLACED);
	ck_assert_int_eq(nodes[1].n_down, 1);
	ck_assert_ptr_eq(nodes[1].down_sess, b1);
	ck_assert_int_eq(nodes[1].down_why, CR_SESS_DOWN_REPLACED);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
	send_str(a2, "new");
	deliver_all();
	expect_recv(1, "new");
	ck_assert_ptr_eq(nodes[1].recv_sess, nodes[1].up_sess);
}
END_TEST

/* The initiating host restarts with the same key: it is another instance,
 * so its new session stands beside the one the responder still holds
 * (which dies of silence) instead of replacing it: one identity may run
 * several hosts at once. */
START_TEST(test_restarted_peer_coexists)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *old;
	struct cr_id id0, other;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	cr_id_from_pk(CR_ID_DEVICE, nodes[0].kp.pk, &id0);
	cr_id_from_pk(CR_ID_DEVICE, nodes[1].kp.pk, &other);
	ck_assert_ptr_null(cr_sess_host_find(nodes[1].h, &id0, NULL));
	pair(0, 1);
	old = nodes[1].up_sess;
	/* The responder finds the session by identity alone. */
	ck_assert_ptr_eq(cr_sess_host_find(nodes[1].h, &id0, NULL), old);
	ck_assert_ptr_null(cr_sess_host_find(nodes[1].h, &id0, old));
	ck_assert_ptr_null(cr_sess_host_find(nodes[1].h, &other, NULL));
	nodes[0].h = cr_sess_host_free(nodes[0].h);
	node_start(0, &cfg);
	nodes[0].src = addr_of(0, 2); /* and it came back elsewhere */
	now_ms += 1000;
	a = connect_to(0, 1, "rebooted");
	deliver_all();
	ck_assert(cr_sess_is_up(a));
	ck_assert_int_eq(nodes[1].n_down, 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 2);
	/* Of the two, the one heard from last; the other when excluded. */
	ck_assert_ptr_ne(nodes[1].up_sess, old);
	ck_assert_ptr_eq(cr_sess_host_find(nodes[1].h, &id0, NULL),
			 nodes[1].up_sess);
	ck_assert_ptr_eq(cr_sess_host_find(nodes[1].h, &id0, nodes[1].up_sess),
			 old);
	send_str(nodes[1].up_sess, "welcome back");
	deliver_all();
	expect_recv(0, "welcome back");
}
END_TEST

/* Two processes with one identity (a vendor running two CLIs) hold
 * sessions with one responder at the same time. */
START_TEST(test_same_identity_two_hosts)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *c, *b_a;

	node_init(0, CR_ID_VENDOR, &cfg);
	node_init(1, CR_ID_DEVICE, &cfg);
	node_init(2, CR_ID_VENDOR, &cfg);
	nodes[2].h = cr_sess_host_free(nodes[2].h);
	nodes[2].kp = nodes[0].kp;
	node_start(2, &cfg);
	a = pair(0, 1);
	b_a = nodes[1].up_sess;
	c = pair(2, 1);
	ck_assert_ptr_ne(nodes[1].up_sess, b_a);
	ck_assert_int_eq(nodes[1].n_down, 0);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 2);
	send_str(a, "from a");
	deliver_all();
	expect_recv(1, "from a");
	ck_assert_ptr_eq(nodes[1].recv_sess, b_a);
	send_str(c, "from c");
	deliver_all();
	expect_recv(1, "from c");
	ck_assert_ptr_eq(nodes[1].recv_sess, nodes[1].up_sess);
}
END_TEST

/* An authentic datagram forwarded from a forged source moves the session,
 * but the responder sends that address at most 3x what it got from it
 * until a path challenge is answered there; the peer's next datagram from
 * its validated address moves it back; a real move is validated in one
 * round trip and then carries everything. */
START_TEST(test_path_validation)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;
	struct cr_addr moved = addr_of(0, 4), evil = addr_of(7, 5);
	uint8_t big[1000];
	uint64_t to_evil = 0, from_evil;
	struct pkt p;

	memset(big, 'x', sizeof(big));
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	b = nodes[1].up_sess;

	send_str(a, "a small request");
	p = take_last();
	from_evil = p.len;
	ck_assert_int_eq(feed(1, &evil, p.buf, p.len), CR_SESS_DROP_NONE);
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &evil));
	ck_assert_uint_eq(stats(1)->path_challenges, 1);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(cr_sess_send(b, big, sizeof(big), now_ms), 0);
	for (size_t i = 0; i < nlog; i++)
		if (cr_addr_equal(&sent_log[i].dst, &evil))
			to_evil += sent_log[i].len;
	ck_assert_uint_le(to_evil, 3 * from_evil);
	ck_assert_uint_gt(to_evil, 0); /* the challenge */
	ck_assert_uint_eq(stats(1)->path_limited, 10);
	drop_pending_queue();

	/* The device speaks again from where it is: back at once. */
	send_str(a, "still here");
	deliver_all();
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &nodes[0].addr));
	ck_assert_int_eq(cr_sess_send(b, big, sizeof(big), now_ms), 0);
	ck_assert_uint_eq(stats(1)->path_limited, 10);
	deliver_all();
	ck_assert_uint_eq(nodes[0].recv_len, sizeof(big));

	/* A real move: challenged, answered, validated. */
	nodes[0].src = moved;
	send_str(a, "moved");
	deliver_all();
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &moved));
	ck_assert_uint_eq(stats(1)->paths_validated, 1);
	nodes[0].recv_len = 0;
	ck_assert_int_eq(cr_sess_send(b, big, sizeof(big), now_ms), 0);
	deliver_all();
	ck_assert_uint_eq(nodes[0].recv_len, sizeof(big));
	ck_assert_uint_eq(stats(1)->path_limited, 10);
	/* Challenges and answers never reach the owner: what it got last
	 * is the payload. */
	ck_assert_mem_eq(nodes[0].recv_buf, big, sizeof(big));
}
END_TEST

/* One identity on many hosts: the responder keeps max_per_identity of its
 * sessions up, replacing the least recently heard. */
START_TEST(test_identity_cap)
{
	struct cr_sess_cfg cfg = test_cfg();

	cfg.max_per_identity = 2;
	node_init(1, CR_ID_NODE, &cfg);
	for (int i = 2; i < 7; i++) {
		node_init(i, CR_ID_VENDOR, &cfg);
		if (i > 2) {
			nodes[i].h = cr_sess_host_free(nodes[i].h);
			nodes[i].kp = nodes[2].kp;
			node_start(i, &cfg);
		}
		now_ms += 10;
		pair(i, 1);
		ck_assert_uint_le(cr_sess_host_count(nodes[1].h), 2);
	}
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 2);
	ck_assert_int_eq(nodes[1].n_down, 3);
	ck_assert_int_eq(nodes[1].down_why, CR_SESS_DOWN_REPLACED);
}
END_TEST

START_TEST(test_roaming)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;
	struct cr_addr moved = addr_of(0, 4), evil = addr_of(7, 5);
	struct pkt p;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	b = nodes[1].up_sess;
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &nodes[0].addr));

	/* The device's NAT mapping changes. */
	nodes[0].src = moved;
	send_str(a, "from the new address");
	p = take_last();
	/* A forgery from elsewhere moves nothing. */
	p.buf[20] ^= 1;
	ck_assert_int_eq(feed(1, &evil, p.buf, p.len), CR_SESS_DROP_DECRYPT);
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &nodes[0].addr));
	/* Nor does a replay of an authentic datagram from elsewhere. */
	p.buf[20] ^= 1;
	ck_assert_int_eq(feed(1, &moved, p.buf, p.len), CR_SESS_DROP_NONE);
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &moved));
	ck_assert_int_eq(feed(1, &evil, p.buf, p.len), CR_SESS_DROP_REPLAY);
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &moved));
	/* Replies follow the device. */
	send_str(b, "found you");
	ck_assert(cr_addr_equal(&nodes[1].last_to, &moved));
	deliver_all();
	expect_recv(0, "found you");

	/* A relayed path: the route id is kept as given. */
	nodes[0].src.route = 42;
	send_str(a, "via relay");
	deliver_all();
	ck_assert_uint_eq(cr_sess_peer_addr(b)->route, 42);
	send_str(b, "back via relay");
	ck_assert_uint_eq(nodes[1].last_to.route, 42);
	deliver_all();
	/* The owner can move a session itself. */
	cr_sess_set_peer_addr(b, &nodes[0].addr);
	ck_assert(cr_addr_equal(cr_sess_peer_addr(b), &nodes[0].addr));
	ck_assert_uint_eq(cr_sess_peer_addr(b)->route, 0);
}
END_TEST

/* Both ends connect to each other at the same moment: they settle on one
 * session each, paired with each other. */
START_TEST(test_simultaneous_open)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a, *b;

	node_init(0, CR_ID_NODE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	connect_to(0, 1, "from 0");
	connect_to(1, 0, "from 1");
	deliver_all();
	run(3000, 100);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
	ck_assert_int_eq(nodes[0].n_ups, 1);
	ck_assert_int_eq(nodes[1].n_ups, 1);
	a = nodes[0].ups[0];
	b = nodes[1].ups[0];
	ck_assert(cr_sess_is_initiator(a) != cr_sess_is_initiator(b));
	/* The loser's own initiation went down as replaced. */
	ck_assert_int_eq(nodes[0].n_down + nodes[1].n_down, 1);
	send_str(a, "hello b");
	send_str(b, "hello a");
	deliver_all();
	expect_recv(1, "hello b");
	expect_recv(0, "hello a");
}
END_TEST

/* ---- Callbacks re-entering the host ----------------------------------- */

START_TEST(test_close_from_callback)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *a;

	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	a = pair(0, 1);
	nodes[1].close_on_recv = 1;
	send_str(a, "bye");
	send_str(a, "after bye");
	deliver_all();
	ck_assert_int_eq(nodes[1].n_recv, 1);
	ck_assert_int_eq(nodes[1].n_down, 1);
	ck_assert_int_eq(nodes[1].down_why, CR_SESS_DOWN_CLOSED);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 0);
	ck_assert_uint_eq(drops(1, CR_SESS_DROP_INDEX), 1);
	tick_all();
}
END_TEST

/* ---- Many peers: the index and identity tables ------------------------ */

START_TEST(test_many_peers)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess *mine[NODES];
	int peers = NODES - 1;
	char msg[32];

	node_init(0, CR_ID_NODE, &cfg);
	for (int i = 1; i <= peers; i++) {
		node_init(i, CR_ID_DEVICE, &cfg);
		mine[i] = connect_to(i, 0, NULL);
	}
	deliver_all();
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), (size_t)peers);
	ck_assert_int_eq(nodes[0].n_ups, peers);
	/* Close every third on the responder; the rest keep working. */
	for (int i = nodes[0].n_ups - 1; i >= 0; i -= 3)
		cr_sess_close(nodes[0].ups[i]);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h),
			  (size_t)nodes[0].n_ups);
	nodes[0].n_recv = 0;
	for (int i = 1; i <= peers; i++) {
		snprintf(msg, sizeof(msg), "from %d", i);
		send_str(mine[i], msg);
	}
	deliver_all();
	ck_assert_int_eq(nodes[0].n_recv, nodes[0].n_ups);
	ck_assert_uint_eq(drops(0, CR_SESS_DROP_INDEX),
			  (uint64_t)(peers - nodes[0].n_ups));
	/* Reconnects find their peers by identity. */
	for (int i = 1; i <= peers; i++)
		mine[i] = connect_to(i, 0, NULL);
	deliver_all();
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), (size_t)peers);
	run(2000, 500);
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), (size_t)peers);
}
END_TEST

/* ---- Random and mutated datagrams ------------------------------------- */

static uint64_t rng_state = 0x853c49e6748fea9bu;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

START_TEST(test_fuzz_leaves_host_working)
{
	struct cr_sess_cfg cfg = test_cfg();
	struct cr_sess_cfg loaded = test_cfg();
	struct cr_sess *a, *c;
	struct pkt samples[64];
	size_t nsamples = 0;
	uint8_t buf[CP_DATAGRAM_MAX + 64];
	uint64_t before[3];

	loaded.load_handshakes_per_sec = 0;
	node_init(0, CR_ID_DEVICE, &cfg);
	node_init(1, CR_ID_NODE, &cfg);
	node_init(2, CR_ID_NODE, &loaded);
	a = pair(0, 1);
	c = connect_to(0, 2, "c");
	run(1500, 100);
	ck_assert(cr_sess_is_up(c));
	send_str(a, "sample");
	send_str(nodes[1].up_sess, "sample");
	deliver_all();
	/* Every kind of datagram seen so far seeds the mutations. */
	for (size_t i = 0; i < nlog && nsamples < 64; i++)
		samples[nsamples++] = sent_log[i];
	ck_assert_uint_ge(nsamples, 8);
	for (int i = 0; i < 3; i++)
		before[i] = drops_total(i);

	for (int n = 0; n < 10000; n++) {
		size_t len;
		int to = (int)(rng() % 3);
		struct cr_addr from = addr_of((int)(rng() % 4), (int)(rng() % 2));

		if (rng() % 4 == 0) {
			len = (size_t)(rng() % (CP_DATAGRAM_MAX + 40));
			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)rng();
			if (len > 4 && rng() % 2) {
				buf[0] = (uint8_t)(1 + rng() % 4);
				buf[1] = buf[2] = buf[3] = 0;
			}
		} else {
			const struct pkt *s = &samples[rng() % nsamples];
			int muts = 1 + (int)(rng() % 4);

			len = s->len;
			memcpy(buf, s->buf, len);
			for (int m = 0; m < muts; m++) {
				switch (rng() % 5) {
				case 0:
					buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
					break;
				case 1:
					buf[rng() % len] = (uint8_t)rng();
					break;
				case 2:
					len = 1 + (size_t)(rng() % len);
					break;
				case 3: {
					size_t extra = (size_t)(rng() % 40);

					for (size_t j = 0; j < extra; j++)
						buf[len + j] = (uint8_t)rng();
					len += extra;
					break;
				}
				default:
					/* Keep a valid header, change the
					 * body. */
					if (len > 20)
						buf[16 + rng() % (len - 16)] ^= 0x80;
					break;
				}
			}
		}
		/* Half the mutated INITs get a correct mac1, so that Noise
		 * and the payload checks see them too. */
		if (buf[0] == CP_MSG_INIT && len >= 64 && rng() % 2)
			remac_init(buf, len, nodes[to].kp.pk);
		ck_assert_int_ne(feed(to, &from, buf, len), CR_SESS_DROP_NONE);
		if (n % 1000 == 999) {
			now_ms += 100;
			tick_all();
			deliver_all();
		}
	}
	for (int i = 0; i < 3; i++)
		printf("fuzz: host %d drops: short %llu type %llu length %llu "
		       "mac1 %llu cookie %llu handshake %llu index %llu "
		       "replay %llu decrypt %llu state %llu timestamp %llu\n",
		       i, (unsigned long long)drops(i, CR_SESS_DROP_SHORT),
		       (unsigned long long)drops(i, CR_SESS_DROP_TYPE),
		       (unsigned long long)drops(i, CR_SESS_DROP_LENGTH),
		       (unsigned long long)drops(i, CR_SESS_DROP_MAC1),
		       (unsigned long long)drops(i, CR_SESS_DROP_COOKIE),
		       (unsigned long long)drops(i, CR_SESS_DROP_HANDSHAKE),
		       (unsigned long long)drops(i, CR_SESS_DROP_INDEX),
		       (unsigned long long)drops(i, CR_SESS_DROP_REPLAY),
		       (unsigned long long)drops(i, CR_SESS_DROP_DECRYPT),
		       (unsigned long long)drops(i, CR_SESS_DROP_STATE),
		       (unsigned long long)drops(i, CR_SESS_DROP_TIMESTAMP));
	/* At least every fed datagram; replies some of them provoked (a
	 * COOKIE for a mutated INIT) are dropped where they land. */
	ck_assert_uint_ge(drops_total(0) + drops_total(1) + drops_total(2) -
				  before[0] - before[1] - before[2],
			  10000);
	/* Still working. */
	ck_assert_uint_eq(cr_sess_host_count(nodes[0].h), 2);
	ck_assert_uint_eq(cr_sess_host_count(nodes[1].h), 1);
	ck_assert_uint_eq(cr_sess_host_count(nodes[2].h), 1);
	send_str(a, "still there?");
	send_str(nodes[1].up_sess, "yes");
	send_str(c, "and you?");
	deliver_all();
	expect_recv(1, "still there?");
	expect_recv(0, "yes");
	expect_recv(2, "and you?");
}
END_TEST

/* ---- Addresses (used by the sessions for roaming) --------------------- */

START_TEST(test_addr)
{
	struct cr_error *err = NULL;
	struct cr_addr a, b;
	char s[CR_ADDR_STRMAX];
	uint8_t k1[19], k2[19];

	ck_assert_int_eq(cr_addr_parse("192.0.2.7:4500", &a, &err), 0);
	ck_assert_str_eq(cr_addr_format(&a, s), "192.0.2.7:4500");
	ck_assert_uint_eq(cr_addr_len(&a), sizeof(struct sockaddr_in));
	ck_assert_uint_eq(a.route, 0);
	ck_assert_int_eq(cr_addr_parse("[2001:db8::1]:443", &b, &err), 0);
	ck_assert_str_eq(cr_addr_format(&b, s), "[2001:db8::1]:443");
	ck_assert_uint_eq(cr_addr_len(&b), sizeof(struct sockaddr_in6));
	ck_assert(!cr_addr_equal(&a, &b));
	ck_assert_uint_eq(cr_addr_key(&a, k1), 7);
	ck_assert_uint_eq(cr_addr_key(&b, k2), 19);
	b = a;
	b.route = 9;
	ck_assert(cr_addr_equal(&a, &b)); /* route is not compared */
	b.u.in4.sin_port = htons(4501);
	ck_assert(!cr_addr_equal(&a, &b));
	cr_addr_key(&b, k2);
	ck_assert_mem_ne(k1, k2, 7);
	cr_addr_from_sockaddr(&b, &a.u.sa, sizeof(struct sockaddr_in));
	ck_assert(cr_addr_equal(&a, &b));
	cr_addr_from_sockaddr(&b, &a.u.sa, 4);
	ck_assert_uint_eq(cr_addr_len(&b), 0);

	ck_assert_int_lt(cr_addr_parse("192.0.2.7", &a, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "missing port"));
	err = cr_error_free(err);
	ck_assert_int_lt(cr_addr_parse("2001:db8::1:443", &a, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "brackets"));
	err = cr_error_free(err);
	ck_assert_int_lt(cr_addr_parse("192.0.2.7:70000", &a, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "invalid port"));
	err = cr_error_free(err);
	ck_assert_int_lt(cr_addr_parse("192.0.2.7:http", &a, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(cr_addr_parse("[::1:80", &a, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(cr_addr_parse(":80", &a, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(cr_addr_parse("[192.0.2.1]:80", &a, &err), 0);
	err = cr_error_free(err);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc;

	tc = tcase_create("basics");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sizeof);
	tcase_add_test(tc, test_drop_names);
	tcase_add_test(tc, test_handshake_and_data);
	tcase_add_test(tc, test_connect_errors);
	tcase_add_test(tc, test_refusal);
	tcase_add_test(tc, test_silent_drop);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crafted_init);
	tcase_add_test(tc, test_garbage_dropped);
	tcase_add_test(tc, test_replayed_data);
	tcase_add_test(tc, test_replay_window_sizes);
	tcase_add_test(tc, test_slabs);
	tcase_add_test(tc, test_replayed_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("cookies");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cookie_under_load);
	tcase_add_test(tc, test_load_threshold);
	tcase_add_test(tc, test_addr_ratelimit);
	tcase_add_test(tc, test_max_pending);
	suite_add_tcase(s, tc);

	tc = tcase_create("timers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_dead_after_silence);
	tcase_add_test(tc, test_handshake_timeout);
	tcase_add_test(tc, test_rekey_no_loss);
	tcase_add_test(tc, test_rekey_in_flight);
	tcase_add_test(tc, test_rekey_by_need);
	tcase_add_test(tc, test_keys_expire);
	tcase_add_test(tc, test_rekey_fails_then_expires);
	suite_add_tcase(s, tc);

	tc = tcase_create("peers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reconnect_replaces);
	tcase_add_test(tc, test_restarted_peer_coexists);
	tcase_add_test(tc, test_roaming);
	tcase_add_test(tc, test_path_validation);
	tcase_add_test(tc, test_identity_cap);
	tcase_add_test(tc, test_simultaneous_open);
	tcase_add_test(tc, test_same_identity_two_hosts);
	tcase_add_test(tc, test_close_from_callback);
	tcase_add_test(tc, test_many_peers);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fuzz_leaves_host_working);
	suite_add_tcase(s, tc);

	tc = tcase_create("addr");
	tcase_add_test(tc, test_addr);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(session_suite());
}
