/*
 * Fuzzes everything a ring node, agent or CLI decodes from the network.
 * The first input byte picks the decoder, the rest is the datagram or
 * payload:
 *
 *   0  cr_sess_host_input() of a responder host (INIT, RESP, COOKIE, DATA);
 *      the seeds include real initiations for its key, so mutations reach
 *      the Noise and hello checks behind mac1
 *   1  cp_hop_unpack(): a hop message from inside a session
 *   2  cp_e2e_control_unpack(): an end-to-end control message
 *   3  cr_stream_input(): a stream packet from inside an e2e session
 *
 * The hosts and the stream connection live across inputs, as they do in a
 * daemon; the clock advances one millisecond per input.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cp/hop.h"
#include "cr/session.h"
#include "cr/stream.h"

struct fuzz_state {
	struct cr_sess_host *host;
	struct cr_stream_conn *conn;
	uint64_t now_ms;
};

static struct fuzz_state fz;

static void fz_send(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		    const uint8_t *buf, size_t len)
{
}

static int fz_accept(void *ctx, const struct cr_id *peer,
		     const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		     const uint8_t *hello, size_t hello_len, uint8_t *reply,
		     size_t *reply_len, void **user)
{
	*reply_len = 0;
	return peer->type == CR_ID_VENDOR ? 1 : 0;
}

static void fz_up(void *ctx, struct cr_sess *s, const uint8_t *reply,
		  size_t len, int rekey)
{
}

static void fz_recv(void *ctx, struct cr_sess *s, const uint8_t *msg,
		    size_t len)
{
	cp_hop_free(cp_hop_unpack(msg, len));
}

static void fz_down(void *ctx, struct cr_sess *s, enum cr_sess_down why)
{
}

static const struct cr_sess_ops fz_ops = {
	.send = fz_send,
	.accept = fz_accept,
	.up = fz_up,
	.recv = fz_recv,
	.down = fz_down,
};

static int fz_output(void *ctx, const uint8_t *pkt, size_t len)
{
	return 0;
}

static int fz_stream_accept(void *ctx, uint32_t sid, const uint8_t *meta,
			    size_t len)
{
	return 0;
}

static void fz_readable(void *ctx, uint32_t sid)
{
	uint8_t buf[4096];

	while (cr_stream_read(fz.conn, sid, buf, sizeof(buf), fz.now_ms * 1000) > 0)
		;
}

static void fz_nop(void *ctx, uint32_t sid)
{
}

static void fz_closed(void *ctx, uint32_t sid, int code)
{
}

static const struct cr_stream_ops fz_stream_ops = {
	.output = fz_output,
	.accept = fz_stream_accept,
	.readable = fz_readable,
	.writable = fz_nop,
	.closed = fz_closed,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	struct cr_stream_cfg scfg;
	struct cr_sess_cfg cfg;
	struct cr_keypair kp;

	if (sodium_init() < 0)
		abort();
	/* The node of the seed corpus (tests/fuzz/corpus/datagram/). */
	memset(seed, 0x4e, sizeof(seed));
	kp.type = CR_ID_NODE;
	crypto_sign_seed_keypair(kp.pk, kp.sk, seed);
	cr_sess_cfg_default(&cfg);
	cfg.max_pending = 64;
	fz.host = cr_sess_host_new(&kp, &cfg, &fz_ops, NULL, NULL);
	cr_stream_cfg_default(&scfg);
	fz.conn = cr_stream_conn_new(&scfg, &fz_stream_ops, NULL, 0, 0);
	if (fz.host == NULL || fz.conn == NULL)
		abort();
	fz.now_ms = 1000;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_addr from;

	if (size < 1)
		return 0;
	fz.now_ms++;
	switch (data[0] & 3) {
	case 0:
		memset(&from, 0, sizeof(from));
		from.u.in4.sin_family = AF_INET;
		from.u.in4.sin_port = htons(4000);
		from.u.in4.sin_addr.s_addr = htonl(0x7f000001);
		cr_sess_host_input(fz.host, &from, data + 1, size - 1, fz.now_ms);
		if (fz.now_ms % 256 == 0)
			cr_sess_host_tick(fz.host, fz.now_ms);
		break;
	case 1:
		cp_hop_free(cp_hop_unpack(data + 1, size - 1));
		break;
	case 2:
		cp_e2e_control_free(cp_e2e_control_unpack(data + 1, size - 1));
		break;
	default:
		cr_stream_input(fz.conn, data + 1, size - 1, fz.now_ms * 1000);
		cr_stream_tick(fz.conn, fz.now_ms * 1000);
		break;
	}
	return 0;
}
