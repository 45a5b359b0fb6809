/*
 * Datagrams over TLS (common/carrier/tls/src/tlsdgram.c), client and server
 * in one process on loopback: datagrams of every size up to the largest go
 * both ways intact and in order, relayed ones carry the RELAY header for
 * their route, the server tells connections apart by their pseudo addresses,
 * a client that is not speaking TLS is dropped, and the client connects again
 * after the server went away.  The armel leg runs this under qemu, so it also
 * checks the static OpenSSL of the device build.
 */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/tlsdgram.h"

#include "../check_main.h"

enum { NDGRAMS = 40, SEEN_MAX = 64 };

struct lab {
	struct event_base *base;
	struct cr_tls_srv *srv;
	struct cr_tls_cli *cli;
	struct cr_addr srv_addr;
	/* what the server received */
	size_t n_srv;
	size_t srv_len[SEEN_MAX];
	uint8_t srv_first[SEEN_MAX][CP_RELAY_HDR + 1];
	struct cr_addr srv_from[SEEN_MAX];
	/* what the client received */
	size_t n_cli;
	size_t cli_len[SEEN_MAX];
	struct cr_addr cli_from;
	size_t want_srv, want_cli; /* stop the loop at these counts */
	int bad;
};

/* Datagram i: length and content follow from i alone. */
static size_t dgram_len(size_t i)
{
	return i == 0 ? 1 : i == 1 ? CP_DATAGRAM_MAX : 1 + (i * 997) % CP_DATAGRAM_MAX;
}

static void dgram_fill(size_t i, uint8_t *buf)
{
	for (size_t k = 0; k < dgram_len(i); k++)
		buf[k] = (uint8_t)(i * 31 + k);
}

static int dgram_check(size_t i, const uint8_t *buf, size_t len)
{
	if (len != dgram_len(i))
		return 0;
	for (size_t k = 0; k < len; k++)
		if (buf[k] != (uint8_t)(i * 31 + k))
			return 0;
	return 1;
}

static void on_srv(void *arg, const struct cr_addr *from, uint8_t *buf,
		   size_t len)
{
	struct lab *l = arg;

	if (l->n_srv >= SEEN_MAX) {
		l->bad = 1;
		return;
	}
	l->srv_len[l->n_srv] = len;
	memcpy(l->srv_first[l->n_srv], buf,
	       len < sizeof(l->srv_first[0]) ? len : sizeof(l->srv_first[0]));
	l->srv_from[l->n_srv] = *from;
	if (!dgram_check(l->n_srv, buf, len))
		l->bad = 1;
	l->n_srv++;
	if (l->n_srv == l->want_srv)
		event_base_loopbreak(l->base);
}

static void on_cli(void *arg, const struct cr_addr *from, uint8_t *buf,
		   size_t len)
{
	struct lab *l = arg;

	if (l->n_cli >= SEEN_MAX || !dgram_check(l->n_cli, buf, len))
		l->bad = 1;
	else
		l->cli_len[l->n_cli] = len;
	l->cli_from = *from;
	l->n_cli++;
	if (l->n_cli == l->want_cli)
		event_base_loopbreak(l->base);
}

static void run_for(struct lab *l, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(l->base, &tv);
	event_base_dispatch(l->base);
}

/* A server on a free loopback port. */
static void lab_server(struct lab *l)
{
	struct cr_error *err = NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* Find a free port, then let the server bind it. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	memset(&l->srv_addr, 0, sizeof(l->srv_addr));
	memcpy(&l->srv_addr.u.in4, &sin, sizeof(sin));
	l->srv = cr_tls_srv_new(l->base, &l->srv_addr, on_srv, l, &err);
	ck_assert_msg(l->srv != NULL, "server: %s", err ? err->msg : "?");
}

static void lab_init(struct lab *l)
{
	struct cr_error *err = NULL;

	memset(l, 0, sizeof(*l));
	l->base = event_base_new();
	ck_assert_ptr_nonnull(l->base);
	lab_server(l);
	l->cli = cr_tls_cli_new(l->base, on_cli, l, &err);
	ck_assert_msg(l->cli != NULL, "client: %s", err ? err->msg : "?");
}

static void lab_free(struct lab *l)
{
	cr_tls_cli_free(l->cli);
	cr_tls_srv_free(l->srv);
	event_base_free(l->base);
}

START_TEST(both_ways)
{
	struct lab l;
	uint8_t buf[CP_DATAGRAM_MAX];

	lab_init(&l);
	l.want_srv = l.want_cli = NDGRAMS;
	for (size_t i = 0; i < NDGRAMS; i++) {
		dgram_fill(i, buf);
		cr_tls_cli_send(l.cli, &l.srv_addr, buf, dgram_len(i));
	}
	run_for(&l, 30000);
	ck_assert_int_eq(l.bad, 0);
	ck_assert_int_eq(l.n_srv, NDGRAMS);
	ck_assert_int_eq(cr_tls_srv_conns(l.srv), 1);
	for (size_t i = 0; i < NDGRAMS; i++) {
		ck_assert(cr_tls_is_conn_addr(&l.srv_from[i]));
		ck_assert(cr_addr_equal(&l.srv_from[i], &l.srv_from[0]));
	}
	ck_assert(!cr_tls_is_conn_addr(&l.srv_addr));

	/* Back to the client through the connection's pseudo address. */
	for (size_t i = 0; i < NDGRAMS; i++) {
		dgram_fill(i, buf);
		cr_tls_srv_send(l.srv, &l.srv_from[0], buf, dgram_len(i));
	}
	run_for(&l, 30000);
	ck_assert_int_eq(l.bad, 0);
	ck_assert_int_eq(l.n_cli, NDGRAMS);
	ck_assert(cr_addr_equal(&l.cli_from, &l.srv_addr));
	lab_free(&l);
}
END_TEST

START_TEST(relayed)
{
	struct lab l;
	struct cr_addr to;
	uint8_t buf[CP_DATAGRAM_MAX];

	lab_init(&l);
	l.want_srv = 2;
	to = l.srv_addr;
	to.route = 0x0102030405060708ull;
	memset(buf, 0xab, 100);
	cr_tls_cli_send(l.cli, &to, buf, 100);
	/* Too large once wrapped: dropped, as the UDP path drops it. */
	cr_tls_cli_send(l.cli, &to, buf, CP_DATAGRAM_MAX);
	/* Then a plain datagram: nothing else may come before it. */
	dgram_fill(1, buf);
	cr_tls_cli_send(l.cli, &l.srv_addr, buf, dgram_len(1));
	run_for(&l, 10000);
	ck_assert_int_eq(l.n_srv, 2);
	ck_assert_int_eq(l.bad, 1); /* datagram 0 was the relayed one */
	ck_assert_int_eq(l.srv_len[0], 100 + CP_RELAY_HDR);
	ck_assert_int_eq(l.srv_first[0][0], CP_MSG_RELAY);
	ck_assert_int_eq(cp_get_u64(l.srv_first[0] + 4), to.route);
	ck_assert_int_eq(l.srv_first[0][CP_RELAY_HDR], 0xab);
	ck_assert_int_eq(l.srv_len[1], CP_DATAGRAM_MAX);
	lab_free(&l);
}
END_TEST

/* A peer that is not speaking TLS is closed; the real client still gets
 * through afterwards. */
START_TEST(not_tls)
{
	struct lab l;
	uint8_t buf[16] = { 0 };
	char junk[] = "GET / HTTP/1.0\r\n\r\n";
	int fd;

	lab_init(&l);
	l.want_srv = 1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, &l.srv_addr.u.sa, sizeof(struct sockaddr_in)), 0);
	ck_assert_int_eq(write(fd, junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
	run_for(&l, 1000);
	ck_assert_int_eq(cr_tls_srv_conns(l.srv), 0);
	close(fd);
	dgram_fill(0, buf);
	cr_tls_cli_send(l.cli, &l.srv_addr, buf, 1);
	run_for(&l, 10000);
	ck_assert_int_eq(l.n_srv, 1);
	ck_assert_int_eq(l.bad, 0);
	lab_free(&l);
}
END_TEST

/* The server restarts: the client's broken connection is replaced by a new
 * one on the next datagram. */
START_TEST(reconnect)
{
	struct lab l;
	struct cr_error *err = NULL;
	uint8_t buf[8];

	lab_init(&l);
	l.want_srv = 1;
	dgram_fill(0, buf);
	cr_tls_cli_send(l.cli, &l.srv_addr, buf, 1);
	run_for(&l, 10000);
	ck_assert_int_eq(l.n_srv, 1);
	cr_tls_srv_free(l.srv);
	run_for(&l, 500); /* the client sees the close */
	l.srv = cr_tls_srv_new(l.base, &l.srv_addr, on_srv, &l, &err);
	ck_assert_msg(l.srv != NULL, "server again: %s", err ? err->msg : "?");
	l.n_srv = 0;
	cr_tls_cli_send(l.cli, &l.srv_addr, buf, 1);
	run_for(&l, 10000);
	ck_assert_int_eq(l.n_srv, 1);
	ck_assert_int_eq(l.bad, 0);
	lab_free(&l);
}
END_TEST

/* The server's output budget: bytes queued across connections stay within
 * out_max (one frame over at most), the rest is dropped and counted, and
 * once drained the connection carries datagrams again. */
START_TEST(out_budget)
{
	struct lab l;
	struct cr_tls_limits lim = { .out_max = 64 * 1024 };
	const struct cr_tls_srv_stats *st;
	uint8_t buf[1000];

	lab_init(&l);
	cr_tls_srv_set_limits(l.srv, &lim);
	st = cr_tls_srv_stats(l.srv);
	l.want_srv = 1;
	dgram_fill(0, buf);
	cr_tls_cli_send(l.cli, &l.srv_addr, buf, 1);
	run_for(&l, 10000);
	ck_assert_int_eq(l.n_srv, 1);
	/* No loop turns: nothing drains, the budget fills. */
	memset(buf, 7, sizeof(buf));
	for (int i = 0; i < 1000; i++)
		cr_tls_srv_send(l.srv, &l.srv_from[0], buf, sizeof(buf));
	ck_assert_uint_le(st->out_queued, lim.out_max + sizeof(buf) + 8);
	ck_assert_uint_ge(st->out_queued, lim.out_max);
	ck_assert_uint_ge(st->out_dropped, 900);
	/* Drained to the client: room again. */
	l.want_cli = SEEN_MAX + 1;
	run_for(&l, 2000);
	ck_assert_uint_eq(st->out_queued, 0);
	lab_free(&l);
}
END_TEST

/* Per-address and total caps, and the handshake deadline: a connection
 * beyond a cap is closed at once, one that never starts TLS after the
 * deadline; a real client gets through once there is room. */
START_TEST(conn_limits)
{
	struct lab l;
	struct cr_tls_limits lim = { .max_conns = 3, .per_addr = 2,
				     .handshake_ms = 300 };
	const struct cr_tls_srv_stats *st;
	uint8_t buf[8];
	int fd[4];

	lab_init(&l);
	cr_tls_srv_set_limits(l.srv, &lim);
	st = cr_tls_srv_stats(l.srv);
	for (int i = 0; i < 4; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_eq(connect(fd[i], &l.srv_addr.u.sa,
					 sizeof(struct sockaddr_in)), 0);
	}
	run_for(&l, 100);
	ck_assert_int_eq(cr_tls_srv_conns(l.srv), 2);
	ck_assert_uint_eq(st->refused_addr, 2);
	run_for(&l, 500);
	ck_assert_int_eq(cr_tls_srv_conns(l.srv), 0);
	ck_assert_uint_eq(st->handshake_timeouts, 2);
	for (int i = 0; i < 4; i++)
		close(fd[i]);
	/* Under qemu a real handshake may take longer than 300 ms. */
	lim.handshake_ms = 30000;
	cr_tls_srv_set_limits(l.srv, &lim);
	l.want_srv = 1;
	dgram_fill(0, buf);
	cr_tls_cli_send(l.cli, &l.srv_addr, buf, 1);
	run_for(&l, 10000);
	ck_assert_int_eq(l.n_srv, 1);
	/* Done with TLS: it stays. */
	run_for(&l, 600);
	ck_assert_int_eq(cr_tls_srv_conns(l.srv), 1);
	ck_assert_uint_eq(st->handshake_timeouts, 2);
	lab_free(&l);
}
END_TEST

static Suite *tlsdgram_suite(void)
{
	Suite *s = suite_create("tlsdgram");
	TCase *tc = tcase_create("core");

	/* Under qemu a TLS handshake takes a good part of a second. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, both_ways);
	tcase_add_test(tc, relayed);
	tcase_add_test(tc, not_tls);
	tcase_add_test(tc, reconnect);
	tcase_add_test(tc, out_budget);
	tcase_add_test(tc, conn_limits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(tlsdgram_suite());
}
