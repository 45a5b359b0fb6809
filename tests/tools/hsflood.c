/*
 * hsflood: a handshake flood from one source address, for the flood
 * integration test.  It makes one real initiation to the node from
 * SRC_IP, answering the node's cookie as any initiator does, so that it
 * holds an INIT whose mac2 is valid for its address; then it replays that
 * INIT at RATE a second for SECONDS.  A node without a per-address limit
 * computes two DH for every replay before its timestamp refuses it.
 *
 *   hsflood NODE.pub HOST:PORT SRC_IP RATE SECONDS
 *
 * Prints "hsflood: replayed N" at the end; exit 1 when no cookie-bearing
 * INIT could be made within 10 s.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"
#include "toolsess.h"

enum { MAC_LEN = 16 };

/* The last INIT the host sent with a mac2 (that is, after a cookie). */
struct capture {
	uint8_t init[CP_DATAGRAM_MAX];
	size_t len;
};

static void capture_init(struct ts_peer *p, const uint8_t *buf, size_t len)
{
	static const uint8_t zero[MAC_LEN];
	struct capture *c = p->user;

	if (len > MAC_LEN && len <= sizeof(c->init) && buf[0] == CP_MSG_INIT &&
	    memcmp(buf + len - MAC_LEN, zero, MAC_LEN) != 0) {
		memcpy(c->init, buf, len);
		c->len = len;
	}
}

int main(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct capture cap = { .len = 0 };
	struct cr_udp_batch *batch;
	struct ts_peer p;
	struct cr_keypair kp;
	struct cr_addr to;
	uint8_t node_pk[CR_PKLEN];
	enum cr_id_type t;
	uint64_t rate, seconds, sent = 0, start, end;

	if (argc != 6 || cr_parse_u64(argv[4], 1, 1000000, &rate) < 0 ||
	    cr_parse_u64(argv[5], 1, 3600, &seconds) < 0) {
		fprintf(stderr, "usage: hsflood NODE.pub HOST:PORT SRC_IP RATE "
				"SECONDS\n");
		return 2;
	}
	batch = calloc(1, sizeof(*batch));
	if (batch == NULL)
		return 1;
	if (sodium_init() < 0 ||
	    cr_pubkey_load(argv[1], &t, node_pk, &err) < 0 ||
	    cr_addr_parse(argv[2], &to, &err) < 0 ||
	    ts_peer_open(&p, argv[3], batch, &err) < 0) {
		fprintf(stderr, "hsflood: %s\n", cr_error_msg(err));
		return 1;
	}
	p.on_sent = capture_init;
	p.user = &cap;
	cr_keypair_generate(CR_ID_DEVICE, &kp);
	if (ts_peer_connect(&p, &kp, node_pk, t, &to, &err) < 0) {
		fprintf(stderr, "hsflood: %s\n", cr_error_msg(err));
		return 1;
	}
	/* The real handshake: INIT, COOKIE, INIT with mac2 (retransmitted
	 * after a second). */
	end = cr_now_ms() + 10000;
	while (cap.len == 0 && cr_now_ms() < end)
		ts_pump(&p, 1, 50);
	if (cap.len == 0) {
		fprintf(stderr, "hsflood: the node sent no cookie in 10 s (is it "
				"under load?)\n");
		return 1;
	}
	/* The flood, paced in slices of 10 ms. */
	start = cr_now_ms();
	end = start + seconds * 1000;
	while (cr_now_ms() < end) {
		uint64_t due = (cr_now_ms() - start) * rate / 1000;
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		while (sent < due) {
			cr_udp_send(p.fd, &to, cap.init, cap.len);
			sent++;
		}
		nanosleep(&ts, NULL);
	}
	printf("hsflood: replayed %llu\n", (unsigned long long)sent);
	ts_peer_free(&p);
	free(batch);
	return 0;
}
