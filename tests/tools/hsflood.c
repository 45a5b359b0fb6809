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
#include <poll.h>
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

enum { MAC_LEN = 16 };

struct flood {
	int fd;
	uint8_t init[CP_DATAGRAM_MAX]; /* the last INIT with a mac2 */
	size_t init_len;
};

static void flood_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		       const uint8_t *buf, size_t len)
{
	static const uint8_t zero[MAC_LEN];
	struct flood *f = ctx;

	if (len > MAC_LEN && len <= sizeof(f->init) && buf[0] == CP_MSG_INIT &&
	    memcmp(buf + len - MAC_LEN, zero, MAC_LEN) != 0) {
		memcpy(f->init, buf, len);
		f->init_len = len;
	}
	cr_udp_send(f->fd, to, buf, len);
}

static int flood_accept(void *ctx, const struct cr_id *peer,
			const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
			const uint8_t *hello, size_t hello_len, uint8_t *reply,
			size_t *reply_len, void **user)
{
	return -1;
}

static const struct cr_sess_ops flood_ops = {
	.send = flood_send,
	.accept = flood_accept,
};

int main(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct flood f = { .fd = -1 };
	struct cr_udp_batch *batch;
	struct cr_sess_host *host;
	struct cr_keypair kp;
	struct cr_addr to, src;
	uint8_t node_pk[CR_PKLEN];
	enum cr_id_type t;
	uint64_t rate, seconds, sent = 0, start, end;
	char src_s[CR_ADDR_STRMAX + 8];

	if (argc != 6 || cr_parse_u64(argv[4], 1, 1000000, &rate) < 0 ||
	    cr_parse_u64(argv[5], 1, 3600, &seconds) < 0) {
		fprintf(stderr, "usage: hsflood NODE.pub HOST:PORT SRC_IP RATE "
				"SECONDS\n");
		return 2;
	}
	snprintf(src_s, sizeof(src_s), "%s:0", argv[3]);
	if (sodium_init() < 0 ||
	    cr_pubkey_load(argv[1], &t, node_pk, &err) < 0 ||
	    cr_addr_parse(argv[2], &to, &err) < 0 ||
	    cr_addr_parse(src_s, &src, &err) < 0 ||
	    (f.fd = cr_udp_open(&src, &err)) < 0) {
		fprintf(stderr, "hsflood: %s\n", cr_error_msg(err));
		return 1;
	}
	batch = calloc(1, sizeof(*batch));
	cr_keypair_generate(CR_ID_DEVICE, &kp);
	host = cr_sess_host_new(&kp, NULL, &flood_ops, &f, &err);
	if (batch == NULL || host == NULL ||
	    cr_sess_connect(host, node_pk, t, &to, NULL, 0, cr_now_ms(),
			    &err) == NULL) {
		fprintf(stderr, "hsflood: %s\n",
			err != NULL ? cr_error_msg(err) : "out of memory");
		return 1;
	}
	/* The real handshake: INIT, COOKIE, INIT with mac2 (retransmitted
	 * after a second). */
	end = cr_now_ms() + 10000;
	while (f.init_len == 0 && cr_now_ms() < end) {
		struct pollfd pfd = { .fd = f.fd, .events = POLLIN };
		int got;

		poll(&pfd, 1, 50);
		while ((got = cr_udp_recv(f.fd, batch)) > 0) {
			for (size_t i = 0; i < batch->n; i++)
				cr_sess_host_input(host, &batch->from[i],
						   batch->buf[i], batch->len[i],
						   cr_now_ms());
		}
		cr_sess_host_tick(host, cr_now_ms());
	}
	if (f.init_len == 0) {
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
			cr_udp_send(f.fd, &to, f.init, f.init_len);
			sent++;
		}
		nanosleep(&ts, NULL);
	}
	printf("hsflood: replayed %llu\n", (unsigned long long)sent);
	cr_sess_host_free(host);
	free(batch);
	return 0;
}
