/*
 * Fuzzes the reassembly of ring configurations from RingChunk pieces
 * (cr/ringsync.h): the input is a sequence of chunks, each
 *     epoch u8 | total u32le | offset u32le | len u16le | data[len]
 * fed to cr_ring_asm_add(); every completed configuration goes through
 * cr_ring_accept() against a ring of epoch 1 signed by the seed corpus's
 * operator.  Nothing may crash, a refusal must say why, and what is
 * accepted must be newer and signed by that operator.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cr/ring.h"
#include "cr/ringsync.h"

static struct cr_ring *cur;
static char pin_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/fuzz-ringsync.XXXXXX";
	uint8_t seed[crypto_sign_SEEDBYTES];
	struct cr_keypair op;
	struct cr_ring_node node;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		abort();
	snprintf(pin_path, sizeof(pin_path), "%s/pin", dir);
	/* The operator of the ring seeds (tests/fuzz/corpus/ring/). */
	memset(seed, 0x4f, sizeof(seed));
	op.type = CR_ID_OPERATOR;
	if (crypto_sign_seed_keypair(op.pk, op.sk, seed) != 0)
		abort();
	memset(&node, 0, sizeof(node));
	{
		struct cr_keypair nk;

		cr_keypair_generate(CR_ID_NODE, &nk);
		memcpy(node.pk, nk.pk, CR_PKLEN);
		cr_keypair_wipe(&nk);
	}
	snprintf(node.addr, sizeof(node.addr), "127.0.0.1:1");
	node.weight = 1;
	if (cr_ring_build(&op, 1, 3, &node, 1, &cur, NULL) < 0)
		abort();
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_ring_asm a;

	memset(&a, 0, sizeof(a));
	while (size >= 11) {
		uint64_t epoch = data[0];
		uint32_t total = get32(data + 1), offset = get32(data + 5);
		size_t len = (size_t)data[9] | (size_t)data[10] << 8;
		int rc;

		data += 11;
		size -= 11;
		if (len > size)
			len = size;
		rc = cr_ring_asm_add(&a, epoch, total, offset, data, len);
		data += len;
		size -= len;
		if (rc == 1) {
			struct cr_error *err = NULL;
			struct cr_ring *r = NULL;

			if (cr_ring_accept(a.buf, a.total, cur, pin_path, NULL,
					   &r, &err) < 0) {
				if (err == NULL || strlen(cr_error_msg(err)) == 0)
					abort();
				cr_error_free(err);
			} else if (r->epoch <= cur->epoch ||
				   memcmp(r->operator_pk, cur->operator_pk,
					  CR_PKLEN) != 0) {
				abort();
			} else {
				unlink(pin_path);
				cr_ring_free(r);
			}
			cr_ring_asm_reset(&a);
		} else if (rc < 0) {
			cr_ring_asm_reset(&a);
		}
	}
	cr_ring_asm_reset(&a);
	return 0;
}
