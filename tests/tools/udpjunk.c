/*
 * udpjunk: sends hostile datagrams at a ring node, for the robustness
 * integration test.  A share are pure random bytes; the rest are real
 * handshake initiations made for the node's key (so they pass mac1 and
 * reach the Noise code) with bytes flipped, truncated, extended or
 * retyped, and relay datagrams with random route ids.
 *
 *   udpjunk NODE.pub HOST:PORT COUNT [SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/session.h"
#include "cr/udp.h"
#include "cr/util.h"

struct junk_capture {
	uint8_t buf[CP_DATAGRAM_MAX];
	size_t len;
};

static void junk_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		      const uint8_t *buf, size_t len)
{
	struct junk_capture *cap = ctx;

	if (len <= sizeof(cap->buf)) {
		memcpy(cap->buf, buf, len);
		cap->len = len;
	}
}

static int junk_accept(void *ctx, const struct cr_id *peer,
		       const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		       const uint8_t *hello, size_t hello_len, uint8_t *reply,
		       size_t *reply_len, void **user)
{
	return -1;
}

static void junk_up(void *ctx, struct cr_sess *s, const uint8_t *r, size_t l,
		    int rekey)
{
}

static void junk_recv(void *ctx, struct cr_sess *s, const uint8_t *m, size_t l)
{
}

static void junk_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
}

static const struct cr_sess_ops junk_ops = {
	.send = junk_send,
	.accept = junk_accept,
	.up = junk_up,
	.recv = junk_recv,
	.down = junk_down,
};

static uint32_t junk_rand(uint64_t *st)
{
	/* xorshift64*: reproducible from the seed. */
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (uint32_t)((*st * 0x2545F4914F6CDD1DULL) >> 32);
}

int main(int argc, char **argv)
{
	struct cr_error *err = NULL;
	struct junk_capture cap = { .len = 0 };
	struct cr_sess_cfg cfg;
	struct cr_sess_host *host;
	struct cr_keypair kp;
	struct cr_addr to;
	uint8_t node_pk[CR_PKLEN], buf[CP_DATAGRAM_MAX + 64];
	enum cr_id_type t;
	uint64_t count, seed = 1, st;
	int fd;

	if (argc < 4 || cr_parse_u64(argv[3], 1, 10000000, &count) < 0) {
		fprintf(stderr, "usage: udpjunk NODE.pub HOST:PORT COUNT [SEED]\n");
		return 2;
	}
	if (argc > 4 && cr_parse_u64(argv[4], 0, UINT64_MAX, &seed) < 0)
		return 2;
	if (sodium_init() < 0 || cr_pubkey_load(argv[1], &t, node_pk, &err) < 0 ||
	    cr_addr_parse(argv[2], &to, &err) < 0) {
		fprintf(stderr, "udpjunk: %s\n", cr_error_msg(err));
		return 1;
	}
	fd = cr_udp_open_any(to.u.sa.sa_family, &err);
	if (fd < 0)
		return 1;
	cr_keypair_generate(CR_ID_VENDOR, &kp);
	cr_sess_cfg_default(&cfg);
	host = cr_sess_host_new(&kp, &cfg, &junk_ops, &cap, &err);
	if (host == NULL) {
		fprintf(stderr, "udpjunk: %s\n", cr_error_msg(err));
		return 1;
	}
	st = seed * 2654435761u + 1;
	for (uint64_t i = 0; i < count; i++) {
		size_t len;
		uint32_t kind = junk_rand(&st) % 8;

		if (kind == 0) {
			len = junk_rand(&st) % (CP_DATAGRAM_MAX + 40);
			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)junk_rand(&st);
		} else if (kind == 1) {
			/* A relay datagram on a route that does not exist. */
			len = CP_RELAY_HDR + junk_rand(&st) % 200;
			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)junk_rand(&st);
			buf[0] = CP_MSG_RELAY;
		} else {
			/* A fresh, valid initiation, then mutated. */
			struct cr_sess *s = cr_sess_connect(host, node_pk,
							    CR_ID_NODE, &to,
							    NULL, 0,
							    cr_now_ms(), &err);
			if (s == NULL)
				return 1;
			cr_sess_close(s);
			memcpy(buf, cap.buf, cap.len);
			len = cap.len;
			switch (kind) {
			case 2: /* flip bits */
				for (int k = 0; k < 1 + (int)(junk_rand(&st) % 4); k++)
					buf[junk_rand(&st) % len] ^=
						(uint8_t)(1u << (junk_rand(&st) % 8));
				break;
			case 3: /* truncate */
				len = junk_rand(&st) % len;
				break;
			case 4: /* extend */
				while (len < CP_DATAGRAM_MAX &&
				       junk_rand(&st) % 8 != 0)
					buf[len++] = (uint8_t)junk_rand(&st);
				break;
			case 5: /* retype */
				buf[0] = (uint8_t)(junk_rand(&st) % 7);
				break;
			case 6: /* as DATA with the same bytes */
				buf[0] = CP_MSG_DATA;
				break;
			default: /* unmodified: a replayed initiation */
				break;
			}
		}
		cr_udp_send(fd, &to, buf, len);
		if (i % 64 == 63) {
			/* Stay within the node's socket buffer. */
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
		}
	}
	cr_sess_host_free(host);
	printf("sent %llu datagrams\n", (unsigned long long)count);
	return 0;
}
