/*
 * The UDP socket (common/carrier/hop/src/udp.c) on loopback sockets: single sends
 * arrive whole, in order, from the sender's address; a batch of equal-sized
 * datagrams queued with cr_udp_out (one segmented send where the kernel has
 * UDP_SEGMENT, coalesced again by UDP_GRO) comes out of cr_udp_recv() split
 * back into the same datagrams; an oversized datagram is handed up with its
 * real length; relay wrapping and unwrapping round-trip the route id, and
 * truncated relay headers are refused.
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/udp.h"
#include "cr/util.h"

#include "../check_main.h"

static int open_lo(struct cr_addr *local)
{
	struct cr_addr a;
	struct cr_error *err = NULL;
	int fd;

	ck_assert_int_eq(cr_addr_parse("127.0.0.1:0", &a, NULL), 0);
	fd = cr_udp_open(&a, &err);
	ck_assert_msg(fd >= 0, "%s", cr_error_msg(err));
	ck_assert_int_eq(cr_udp_local(fd, local), 0);
	ck_assert_uint_ne(ntohs(local->u.in4.sin_port), 0);
	return fd;
}

/* Receives until want datagrams have arrived (or 10 s pass), appending
 * them to bufs/lens; returns how many arrived. */
static size_t recv_n(int fd, struct cr_udp_batch *b, size_t want,
		     uint8_t (*bufs)[CP_DATAGRAM_MAX], size_t *lens,
		     struct cr_addr *froms)
{
	uint64_t deadline = cr_now_ms() + 10000;
	size_t got = 0;

	while (got < want && cr_now_ms() < deadline) {
		struct pollfd p = { fd, POLLIN, 0 };
		int n;

		n = cr_udp_recv(fd, b);
		ck_assert_int_ge(n, 0);
		if (n == 0) {
			poll(&p, 1, 100);
			continue;
		}
		for (size_t i = 0; i < (size_t)n && got < want; i++) {
			size_t len = b->len[i];

			lens[got] = len;
			froms[got] = b->from[i];
			memcpy(bufs[got], b->buf[i],
			       len < CP_DATAGRAM_MAX ? len : CP_DATAGRAM_MAX);
			got++;
		}
	}
	return got;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7);
}

struct rx {
	struct cr_udp_batch *b;
	uint8_t (*bufs)[CP_DATAGRAM_MAX];
	size_t lens[200];
	struct cr_addr froms[200];
};

static struct rx *rx_new(void)
{
	struct rx *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	r->b = calloc(1, sizeof(*r->b));
	r->bufs = calloc(200, CP_DATAGRAM_MAX);
	ck_assert_ptr_nonnull(r->b);
	ck_assert_ptr_nonnull(r->bufs);
	return r;
}

static void rx_free(struct rx *r)
{
	free(r->b);
	free(r->bufs);
	free(r);
}

START_TEST(test_send_recv)
{
	static const size_t sizes[] = { 1, 100, 1400, CP_DATAGRAM_MAX };
	struct cr_addr la, lb;
	int a = open_lo(&la), b = open_lo(&lb);
	struct rx *r = rx_new();
	uint8_t buf[CP_DATAGRAM_MAX];

	/* Nothing waiting: 0, not an error. */
	ck_assert_int_eq(cr_udp_recv(b, r->b), 0);
	for (unsigned i = 0; i < 4; i++) {
		fill(buf, sizes[i], i);
		ck_assert_int_eq(cr_udp_send(a, &lb, buf, sizes[i]), 0);
	}
	ck_assert_uint_eq(recv_n(b, r->b, 4, r->bufs, r->lens, r->froms), 4);
	for (unsigned i = 0; i < 4; i++) {
		fill(buf, sizes[i], i);
		ck_assert_uint_eq(r->lens[i], sizes[i]);
		ck_assert_mem_eq(r->bufs[i], buf, sizes[i]);
		ck_assert(cr_addr_equal(&r->froms[i], &la));
		ck_assert_uint_eq(r->froms[i].route, 0);
	}
	rx_free(r);
	close(a);
	close(b);
}
END_TEST

/*
 * qemu-user (7.2) hands SOL_UDP control messages (UDP_SEGMENT on send,
 * UDP_GRO on receive) between guest and kernel byte for byte ("Unsupported
 * ancillary data: 17/103" with -d unimp): right when both are of one byte
 * order, wrong for a big-endian guest on a little-endian host, where the
 * kernel reads the 1200-byte segment size as 45060 and sends one datagram
 * per run.  The batch test cannot pass there; it runs everywhere else
 * (mips hardware included).  docs/cross.md.
 */
static int udp_cmsg_garbled(void)
{
	const char *q = getenv("CR_UNDER_QEMU");

	return q != NULL && *q != '\0' &&
	       __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
}

static void batch_run(void)
{
	enum { N = 150, SIZE = 1200 };
	struct event_base *base = event_base_new();
	struct cr_addr la, lb;
	int a = open_lo(&la), b = open_lo(&lb);
	struct cr_udp_out *o = cr_udp_out_new(base, a);
	struct rx *r = rx_new();
	uint8_t buf[SIZE];

	ck_assert_ptr_nonnull(o);
	/* More than one batch (it flushes itself when full), equal sizes
	 * (one segmented run each), then a short one ending a run. */
	for (unsigned i = 0; i < N; i++) {
		uint32_t seq = i;

		fill(buf, SIZE, i);
		memcpy(buf, &seq, sizeof(seq));
		cr_udp_out_send(o, &lb, buf, i == N - 1 ? 333 : SIZE);
	}
	cr_udp_out_flush(o);
	ck_assert_uint_eq(cr_udp_out_dropped(o), 0);
	ck_assert_uint_eq(recv_n(b, r->b, N, r->bufs, r->lens, r->froms), N);
	for (unsigned i = 0; i < N; i++) {
		size_t len = i == N - 1 ? 333 : SIZE;
		uint32_t seq = i;

		fill(buf, SIZE, i);
		memcpy(buf, &seq, sizeof(seq));
		ck_assert_msg(r->lens[i] == len, "datagram %u: %zu bytes", i,
			      r->lens[i]);
		ck_assert_msg(memcmp(r->bufs[i], buf, len) == 0,
			      "datagram %u differs", i);
		ck_assert(cr_addr_equal(&r->froms[i], &la));
	}
	cr_udp_out_free(o);
	event_base_free(base);
	rx_free(r);
	close(a);
	close(b);
}

START_TEST(test_batch)
{
	if (udp_cmsg_garbled()) {
		printf("test_batch skipped: a big-endian guest under qemu-user "
		       "(SOL_UDP control messages are not converted)\n");
		return;
	}
	batch_run();
}
END_TEST

START_TEST(test_oversize)
{
	enum { BIG = CP_DATAGRAM_MAX + 500 };
	struct cr_addr la, lb;
	int a = open_lo(&la), b = open_lo(&lb);
	struct rx *r = rx_new();
	static uint8_t big[BIG];

	fill(big, BIG, 9);
	ck_assert_int_eq(sendto(a, big, BIG, 0, &lb.u.sa, cr_addr_len(&lb)),
			 BIG);
	ck_assert_int_eq(cr_udp_send(a, &lb, big, 10), 0);
	ck_assert_uint_eq(recv_n(b, r->b, 2, r->bufs, r->lens, r->froms), 2);
	/* Handed up with its real length, so the caller can drop it. */
	ck_assert_uint_eq(r->lens[0], BIG);
	ck_assert_uint_eq(r->lens[1], 10);
	ck_assert_mem_eq(r->bufs[1], big, 10);
	rx_free(r);
	close(a);
	close(b);
}
END_TEST

START_TEST(test_relay_wrap)
{
	struct event_base *base = event_base_new();
	struct cr_addr la, lb, via;
	int a = open_lo(&la), b = open_lo(&lb);
	struct cr_udp_out *o = cr_udp_out_new(base, a);
	struct rx *r = rx_new();
	uint8_t msg[500], *p;
	size_t len;

	fill(msg, sizeof(msg), 3);
	via = lb;
	via.route = 0x0102030405060708ull;
	cr_udp_out_send_path(o, &via, msg, sizeof(msg));
	via.route = 0;
	cr_udp_out_send_path(o, &via, msg, 40); /* direct: not wrapped */
	cr_udp_out_flush(o);
	ck_assert_uint_eq(recv_n(b, r->b, 2, r->bufs, r->lens, r->froms), 2);

	ck_assert_uint_eq(r->lens[0], sizeof(msg) + CP_RELAY_HDR);
	ck_assert_uint_eq(r->bufs[0][0], CP_MSG_RELAY);
	p = r->bufs[0];
	len = r->lens[0];
	ck_assert_int_eq(cr_udp_unwrap(&r->froms[0], &p, &len), 0);
	ck_assert_uint_eq(r->froms[0].route, 0x0102030405060708ull);
	ck_assert_uint_eq(len, sizeof(msg));
	ck_assert_mem_eq(p, msg, sizeof(msg));

	p = r->bufs[1];
	len = r->lens[1];
	ck_assert_int_eq(cr_udp_unwrap(&r->froms[1], &p, &len), 0);
	ck_assert_uint_eq(r->froms[1].route, 0);
	ck_assert_ptr_eq(p, r->bufs[1]);
	ck_assert_uint_eq(len, 40);

	/* Empty, oversized, and a relay header with nothing after it. */
	len = 0;
	ck_assert_int_eq(cr_udp_unwrap(&r->froms[0], &p, &len), -1);
	len = CP_DATAGRAM_MAX + 1;
	ck_assert_int_eq(cr_udp_unwrap(&r->froms[0], &p, &len), -1);
	p = r->bufs[0];
	len = CP_RELAY_HDR;
	ck_assert_int_eq(cr_udp_unwrap(&r->froms[0], &p, &len), -1);
	cr_udp_out_free(o);
	event_base_free(base);
	rx_free(r);
	close(a);
	close(b);
}
END_TEST

/* Room reserved in the queue and filled in place leaves as if sent (relay
 * header included); room given back is not sent; too big: no room. */
/* Room reserved in the send batch, filled in place, given back. */
static void reserve_run(void)
{
	struct event_base *base = event_base_new();
	struct cr_addr la, lb, via;
	int a = open_lo(&la), b = open_lo(&lb);
	struct cr_udp_out *o = cr_udp_out_new(base, a);
	struct rx *r = rx_new();
	uint8_t msg[300], *room, *p;
	size_t len;

	fill(msg, sizeof(msg), 5);
	via = lb;
	via.route = 0x1122334455667788ull;
	room = cr_udp_out_reserve_path(o, &via, sizeof(msg));
	ck_assert_ptr_nonnull(room);
	memcpy(room, msg, sizeof(msg));
	/* Given back: only the last one goes. */
	room = cr_udp_out_reserve_path(o, &lb, 77);
	ck_assert_ptr_nonnull(room);
	cr_udp_out_unreserve(o, room);
	via.route = 0;
	room = cr_udp_out_reserve_path(o, &via, 40);
	ck_assert_ptr_nonnull(room);
	memcpy(room, msg + 1, 40);
	ck_assert_ptr_null(cr_udp_out_reserve_path(o, &via,
						   CP_DATAGRAM_MAX + 1));
	cr_udp_out_flush(o);
	ck_assert_uint_eq(recv_n(b, r->b, 2, r->bufs, r->lens, r->froms), 2);
	p = r->bufs[0];
	len = r->lens[0];
	ck_assert_uint_eq(len, sizeof(msg) + CP_RELAY_HDR);
	ck_assert_int_eq(cr_udp_unwrap(&r->froms[0], &p, &len), 0);
	ck_assert_uint_eq(r->froms[0].route, 0x1122334455667788ull);
	ck_assert_mem_eq(p, msg, sizeof(msg));
	ck_assert_uint_eq(r->lens[1], 40);
	ck_assert_mem_eq(r->bufs[1], msg + 1, 40);
	cr_udp_out_free(o);
	event_base_free(base);
	rx_free(r);
	close(a);
	close(b);
}

START_TEST(test_reserve)
{
	/* The batch leaves as one GSO send, as in test_batch. */
	if (udp_cmsg_garbled()) {
		printf("test_reserve skipped: a big-endian guest under "
		       "qemu-user (SOL_UDP control messages are not "
		       "converted)\n");
		return;
	}
	reserve_run();
}
END_TEST

static Suite *udp_suite(void)
{
	Suite *s = suite_create("udp");
	TCase *tc = tcase_create("udp");

	tcase_add_test(tc, test_send_recv);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_relay_wrap);
	tcase_add_test(tc, test_reserve);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(udp_suite());
}
