/*
 * The ring configuration: the operator-signed list of ring nodes (epoch,
 * node keys, addresses, weights, home-set size), its file format, operator
 * pinning, and placement of devices on nodes.
 *
 * File format (text, so operators can diff and mail it):
 *     # comment lines
 *     korhal-ring-v1 BASE64(SignedRingConfig)
 * The signature is Ed25519 by the operator over "korhal ring v1\0" || body.
 *
 * Placement is rendezvous hashing (HRW): node i's score for a device is
 * derived from BLAKE2b(device id hash || node key) and weighted
 * (-weight / ln(u) form computed in fixed point, no floating point, so
 * devices without an FPU agree bit for bit with servers); the home set is the
 * R highest-scoring nodes.  Adding a node moves only the ids it now wins.
 */
#ifndef CR_RING_H
#define CR_RING_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/identity.h"

enum {
	CR_RING_ADDR_MAX = 64,
	CR_RING_DEFAULT_REPLICAS = 3,
};

struct cr_ring_node {
	uint8_t pk[CR_PKLEN];
	struct cr_id id;
	char addr[CR_RING_ADDR_MAX]; /* "HOST:PORT" */
	uint32_t weight;
};

struct cr_ring {
	uint64_t epoch;
	uint8_t operator_pk[CR_PKLEN];
	uint32_t replicas;
	uint64_t issued_unix;
	size_t n_nodes;
	struct cr_ring_node *nodes;
	uint8_t *signed_blob; /* serialized SignedRingConfig, for pushing on */
	size_t signed_len;
};

/*
 * Parses and verifies a serialized SignedRingConfig (bounded by
 * CP_RING_CONFIG_MAX).  When pinned_op is not NULL, the signer must be that
 * operator.  Rejects unsigned, tampered, malformed configurations, duplicate
 * nodes, bad addresses.  *out is owned by the caller.
 */
int cr_ring_decode(const uint8_t *buf, size_t len, const uint8_t *pinned_op,
		   struct cr_ring **out, struct cr_error **err);

/* Parses the text file form (as above), then cr_ring_decode(). */
int cr_ring_parse_text(const char *text, size_t len, const uint8_t *pinned_op,
		       struct cr_ring **out, struct cr_error **err);
int cr_ring_load(const char *path, const uint8_t *pinned_op,
		 struct cr_ring **out, struct cr_error **err);

/* Builds and signs a configuration from `nodes` (n of them); *out owned by
 * the caller; signed_blob is filled. */
int cr_ring_build(const struct cr_keypair *op, uint64_t epoch,
		  uint32_t replicas, const struct cr_ring_node *nodes,
		  size_t n, struct cr_ring **out, struct cr_error **err);
/* Writes the text form atomically (temp file + rename), mode 0644. */
int cr_ring_save(const struct cr_ring *r, const char *path,
		 struct cr_error **err);

struct cr_ring *cr_ring_free(struct cr_ring *r);

/* Index of the node with public key pk, or -1. */
int cr_ring_find(const struct cr_ring *r, const uint8_t pk[CR_PKLEN]);

/*
 * Ranks the nodes for a device identity hash: writes up to max node indices,
 * best first, into out; returns how many.  The home set is the first
 * r->replicas of them (fewer if the ring is smaller).  `alive`, when not
 * NULL, has n_nodes entries; dead nodes are skipped.
 */
size_t cr_ring_rank(const struct cr_ring *r, const uint8_t id_hash[32],
		    const uint8_t *alive, size_t *out, size_t max);

/*
 * Operator pinning, on the model of ssh's known_hosts.  pin_path holds the
 * operator key and the highest epoch seen.  When the file is absent it is
 * created (trust on first use) unless explicit_op is given, which must then
 * match; when present, the ring's operator must equal the pinned one and its
 * epoch must not be lower than the pinned epoch (rollback).  A higher epoch
 * updates the file.
 */
int cr_ring_pin_check(const char *pin_path, const struct cr_ring *r,
		      const struct cr_id *explicit_op, struct cr_error **err);

/*
 * Loads the ring at path and checks it against the pin file (above);
 * operator_id, when not NULL or empty, is the printed identity of the
 * operator to pin explicitly (a daemon's --operator).  The one way every
 * program loads its ring.
 */
int cr_ring_load_pinned(const char *path, const char *pin_path,
			const char *operator_id, struct cr_ring **out,
			struct cr_error **err);

#endif
