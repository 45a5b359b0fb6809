/*
 * Hole punching (common/carrier/hop/src/punch.c) between two real session
 * hosts over an in-memory network with a relay: a probe answered makes the
 * direct path on both sides (one side learns the other's address from the
 * probe alone), a silent direct path falls back to the relay, a probe that
 * comes back to its sender (same private address on both sites) is never
 * taken, and a side with punching off never answers.
 */
#include <check.h>
#include <event2/event.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "cp/limits.h"
#include "cr/punch.h"
#include "cr/session.h"
#include "cr/util.h"

#include "../check_main.h"

enum { QMAX = 4096, ROUTE_A = 11, ROUTE_B = 22 };

struct lab;

struct peer {
	struct lab *lab;
	struct cr_sess_host *h;
	struct cr_keypair kp;
	struct cr_addr addr;
	struct cr_sess *s;
	struct cr_punch *p;
	int n_direct, n_relayed;
};

struct pkt {
	struct peer *to;
	struct cr_addr from;
	size_t len;
	uint8_t buf[CP_DATAGRAM_MAX];
};

struct lab {
	struct event_base *base;
	struct peer a, b;
	struct cr_addr relay;
	int block_direct;
	struct pkt q[QMAX];
	size_t n;
};

static void mkaddr(struct cr_addr *a, const char *s, uint64_t route)
{
	ck_assert_int_eq(cr_punch_parse(s, a), 0);
	a->route = route;
}

static void t_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		   const uint8_t *buf, size_t len)
{
	struct peer *me = ctx, *other;
	struct lab *l = me->lab;
	struct pkt *p;

	other = me == &l->a ? &l->b : &l->a;
	if (l->n == QMAX)
		return;
	p = &l->q[l->n];
	if (to->route != 0) {
		/* The relay rewrites the route id to the other side's. */
		p->to = other;
		p->from = l->relay;
		p->from.route = other == &l->a ? ROUTE_A : ROUTE_B;
	} else {
		if (l->block_direct)
			return;
		if (cr_addr_equal(to, &l->a.addr))
			p->to = &l->a;
		else if (cr_addr_equal(to, &l->b.addr))
			p->to = &l->b;
		else
			return;
		p->from = me->addr;
	}
	memcpy(p->buf, buf, len);
	p->len = len;
	l->n++;
}

static int t_accept(void *ctx, const struct cr_id *peer,
		    const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		    const uint8_t *hello, size_t hello_len, uint8_t *reply,
		    size_t *reply_len, void **user)
{
	*reply_len = 0;
	return 0;
}

static void t_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		 size_t reply_len, int rekey)
{
	((struct peer *)ctx)->s = s;
}

static void t_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		   size_t len)
{
	struct peer *me = ctx;

	if (me->p != NULL)
		cr_punch_input(me->p, cr_sess_host_rx_from(me->h), msg, len);
}

static void t_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
	((struct peer *)ctx)->s = NULL;
}

static const struct cr_sess_ops t_ops = {
	.send = t_send,
	.accept = t_accept,
	.up = t_up,
	.recv = t_recv,
	.down = t_down,
};

static void t_path(void *arg, const struct cr_addr *direct)
{
	struct peer *me = arg;

	if (direct != NULL)
		me->n_direct++;
	else
		me->n_relayed++;
}

static const struct cr_punch_ops t_punch_ops = { .path = t_path };

/* Delivers what is queued and runs the timers for ms milliseconds or
 * until done(l) holds. */
static int pump(struct lab *l, uint64_t ms, int (*done)(struct lab *))
{
	uint64_t end = cr_now_ms() + ms;

	for (;;) {
		while (l->n > 0) {
			struct pkt p = l->q[0];

			memmove(l->q, l->q + 1, (l->n - 1) * sizeof(l->q[0]));
			l->n--;
			cr_sess_host_input(p.to->h, &p.from, p.buf, p.len,
					   cr_now_ms());
		}
		event_base_loop(l->base, EVLOOP_NONBLOCK);
		cr_sess_host_tick(l->a.h, cr_now_ms());
		cr_sess_host_tick(l->b.h, cr_now_ms());
		if (done != NULL && done(l))
			return 1;
		if (cr_now_ms() >= end)
			return 0;
		usleep(1000);
	}
}

static int a_up(struct lab *l)
{
	return l->a.s != NULL;
}

static int both_up(struct lab *l)
{
	return l->a.s != NULL && l->b.s != NULL && cr_sess_is_up(l->a.s) &&
	       cr_sess_is_up(l->b.s);
}

static int both_direct(struct lab *l)
{
	return cr_punch_direct(l->a.p) != NULL && cr_punch_direct(l->b.p) != NULL;
}

static int both_relayed_again(struct lab *l)
{
	return l->a.n_relayed > 0 && l->b.n_relayed > 0;
}

/* Two peers with an end-to-end session over the relay; punching set up
 * with b_enabled on b's side.  a knows `cand` as b's candidate. */
static struct lab *lab_new(const char *cand, int b_enabled)
{
	struct lab *l = calloc(1, sizeof(*l));
	struct cr_sess_cfg cfg;
	struct cr_addr to;

	ck_assert_ptr_nonnull(l);
	l->base = event_base_new();
	mkaddr(&l->relay, "192.0.2.1:7000", 0);
	mkaddr(&l->a.addr, "198.51.100.1:1000", 0);
	mkaddr(&l->b.addr, "203.0.113.2:2000", 0);
	cr_sess_cfg_default(&cfg);
	l->a.lab = l->b.lab = l;
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &l->a.kp), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &l->b.kp), 0);
	l->a.h = cr_sess_host_new(&l->a.kp, &cfg, &t_ops, &l->a, NULL);
	l->b.h = cr_sess_host_new(&l->b.kp, &cfg, &t_ops, &l->b, NULL);
	ck_assert_ptr_nonnull(l->a.h);
	ck_assert_ptr_nonnull(l->b.h);
	to = l->relay;
	to.route = ROUTE_A;
	ck_assert_ptr_nonnull(cr_sess_connect(l->a.h, l->b.kp.pk, CR_ID_DEVICE,
					      &to, NULL, 0, cr_now_ms(), NULL));
	/* The responder is up with the initiator's first DATA. */
	ck_assert(pump(l, 1000, a_up));
	cr_sess_send(l->a.s, NULL, 0, cr_now_ms());
	ck_assert(pump(l, 1000, both_up));
	l->a.p = cr_punch_new(l->base, l->a.s, 1, &t_punch_ops, &l->a);
	l->b.p = cr_punch_new(l->base, l->b.s, b_enabled, &t_punch_ops, &l->b);
	ck_assert_ptr_nonnull(l->a.p);
	ck_assert_ptr_nonnull(l->b.p);
	ck_assert_int_eq(cr_punch_add_str(l->a.p, cand), 0);
	return l;
}

static void lab_free(struct lab *l)
{
	cr_punch_free(l->a.p);
	cr_punch_free(l->b.p);
	cr_sess_host_free(l->a.h);
	cr_sess_host_free(l->b.h);
	event_base_free(l->base);
	cr_keypair_wipe(&l->a.kp);
	cr_keypair_wipe(&l->b.kp);
	free(l);
}

START_TEST(test_direct_then_fallback)
{
	struct lab *l = lab_new("203.0.113.2:2000", 1);

	/* b knows nothing of a: it learns a's address from a's probe. */
	cr_punch_start(l->a.p);
	ck_assert(pump(l, 2000, both_direct));
	ck_assert(cr_addr_equal(cr_sess_peer_addr(l->a.s), &l->b.addr));
	ck_assert(cr_addr_equal(cr_sess_peer_addr(l->b.s), &l->a.addr));
	ck_assert_uint_eq(cr_sess_peer_addr(l->a.s)->route, 0);
	ck_assert_int_eq(l->a.n_direct, 1);
	ck_assert_int_eq(l->b.n_direct, 1);
	/* Keepalive probes hold it: still direct after 1.5 s. */
	pump(l, 1500, NULL);
	ck_assert_ptr_nonnull(cr_punch_direct(l->a.p));
	ck_assert_int_eq(l->a.n_relayed, 0);
	/* The direct path dies: both go back to the relay. */
	l->block_direct = 1;
	ck_assert(pump(l, 4000, both_relayed_again));
	ck_assert_uint_eq(cr_sess_peer_addr(l->a.s)->route, ROUTE_A);
	ck_assert_uint_eq(cr_sess_peer_addr(l->b.s)->route, ROUTE_B);
	/* The session still works over the relay. */
	ck_assert_int_eq(cr_sess_send(l->a.s, (const uint8_t *)"\x02", 1,
				      cr_now_ms()), 0);
	lab_free(l);
}
END_TEST

START_TEST(test_own_echo_never_taken)
{
	/* b's candidate is a's own address (both sites use the same private
	 * address): a's probes come back to a, and fail to authenticate. */
	struct lab *l = lab_new("198.51.100.1:1000", 1);

	cr_punch_start(l->a.p);
	pump(l, 600, NULL);
	ck_assert_ptr_null(cr_punch_direct(l->a.p));
	ck_assert_ptr_null(cr_punch_direct(l->b.p));
	ck_assert_int_eq(l->a.n_direct, 0);
	ck_assert_uint_eq(cr_sess_peer_addr(l->a.s)->route, ROUTE_A);
	lab_free(l);
}
END_TEST

START_TEST(test_disabled_side_never_answers)
{
	struct lab *l = lab_new("203.0.113.2:2000", 0);

	cr_punch_start(l->a.p);
	pump(l, 600, NULL);
	ck_assert_ptr_null(cr_punch_direct(l->a.p));
	ck_assert_ptr_null(cr_punch_direct(l->b.p));
	ck_assert_uint_eq(cr_sess_peer_addr(l->b.s)->route, ROUTE_B);
	lab_free(l);
}
END_TEST

static Suite *punch_suite(void)
{
	Suite *s = suite_create("punch");
	TCase *tc = tcase_create("paths");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_direct_then_fallback);
	tcase_add_test(tc, test_own_echo_never_taken);
	tcase_add_test(tc, test_disabled_side_never_answers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	return cr_check_main(punch_suite());
}
