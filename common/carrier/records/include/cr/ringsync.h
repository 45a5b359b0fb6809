/*
 * Passing the ring configuration around: nodes hand the newest epoch to each
 * other, to agents and to the CLI in RingChunk pieces (a configuration
 * outgrows one datagram), and every receiver accepts it only when it is
 * signed by the operator it already pins and its epoch is higher than its
 * own.  An accepted configuration is saved beside the program's state
 * (DIR/ring) and the pin file moves up, so a restart starts from it.
 *
 * Also: the liveness bitmap nodes put in heartbeats and pongs (bit i = node
 * i of the sender's configuration).
 */
#ifndef CR_RINGSYNC_H
#define CR_RINGSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/ring.h"

enum {
	CR_RING_CHUNK = 800,  /* bytes of configuration per RingChunk */
	CR_RING_CHUNKS_MAX = (CP_RING_CONFIG_MAX + CR_RING_CHUNK - 1) /
			     CR_RING_CHUNK,
	CR_ALIVE_BYTES_MAX = CP_RING_NODES_MAX / 8,
};

/* Reassembly of one configuration from chunks.  Zero-initialize; free the
 * buffer with cr_ring_asm_reset(). */
struct cr_ring_asm {
	uint64_t epoch;
	uint32_t total;
	uint32_t n_have;
	uint8_t *buf;
	uint8_t have[(CR_RING_CHUNKS_MAX + 7) / 8];
};

/*
 * Adds one chunk.  A chunk of another (epoch, total) than the assembly
 * under way restarts it when its epoch is higher, and is ignored when
 * lower.  Chunks must start on a CR_RING_CHUNK boundary and be full except
 * the last.  Returns 1 when the configuration is complete (a->buf holds
 * a->total bytes), 0 when more is needed or the chunk was ignored, -EINVAL
 * for a malformed chunk, -ENOMEM.
 */
int cr_ring_asm_add(struct cr_ring_asm *a, uint64_t epoch, uint32_t total,
		    uint32_t offset, const uint8_t *data, size_t len);
void cr_ring_asm_reset(struct cr_ring_asm *a);

/*
 * Decides on a configuration received from the network: it must decode
 * and be signed by cur's operator, and its epoch must be higher than
 * cur's.  Then the pin file (pin_path) moves up and, when save_path is not
 * NULL, the configuration is written there.  *out is the new ring (owned by
 * the caller).  Returns 0, or -1 with *err saying why it was refused.
 */
int cr_ring_accept(const uint8_t *blob, size_t len, const struct cr_ring *cur,
		   const char *pin_path, const char *save_path,
		   struct cr_ring **out, struct cr_error **err);

/*
 * cr_ring_load_pinned() for a program that may hold a newer configuration
 * than its --ring file: loads `path` and, when it exists, `saved_path`
 * (what cr_ring_accept() saved), keeps the higher epoch signed by the same
 * operator, and checks it against the pin.
 */
int cr_ring_load_newest(const char *path, const char *saved_path,
			const char *pin_path, const char *operator_id,
			struct cr_ring **out, struct cr_error **err);

/* Liveness bitmaps. */
static inline int cr_alive_get(const uint8_t *bits, size_t len, size_t i)
{
	return i / 8 < len && (bits[i / 8] >> (i % 8) & 1);
}

static inline void cr_alive_set(uint8_t *bits, size_t i)
{
	bits[i / 8] = (uint8_t)(bits[i / 8] | 1u << (i % 8));
}

#endif
