/*
 * The ring configuration: the operator-signed list of ring nodes (epoch,
 * node keys, addresses, weights, home-set size), its file format, operator
 * pinning, and placement of devices on nodes.
 *
 * Operators: a ring has one operator key, or an operator set of n keys of
 * which k must sign every epoch (a ring shared by several companies; no k-1
 * of them can change it).  A set is pinned by its hash, BLAKE2b-256 of
 * "korhal operators v1\0" || k (4 bytes, little-endian) || the sorted keys;
 * a single key with k = 1 is the one-operator ring of earlier versions,
 * encoded and pinned as before.  The set changes (a key rotated, a company
 * joining or leaving) only through a handover signed by k of the old set,
 * carried in every later configuration (the last CR_RING_HANDOVERS_MAX of
 * them), so that a device pinned to an older set follows the chain to the
 * current one without being reflashed.
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
	/* The home-set size of a configuration without one (rings made
	 * before `replicas_majority`, or built with replicas 0). */
	CR_RING_DEFAULT_REPLICAS = 3,
	/* The majority rule's bounds (cr_ring_majority_replicas): at least
	 * today's 3, at most the nodes a lookup asks (cli/src/client.c). */
	CR_RING_MAJORITY_MIN = 3,
	CR_RING_MAJORITY_MAX = 16,
	CR_RING_OPERATORS_MAX = 16,
	CR_RING_HANDOVERS_MAX = 8,
	CR_RING_SETHASH_LEN = 32,
	/* "opset_" + 64 hex digits + NUL: a set pin as printed. */
	CR_RING_SETID_STRMAX = 72,
};

/* k of n operator keys. */
struct cr_ring_opset {
	size_t n;
	uint32_t threshold;
	uint8_t pks[CR_RING_OPERATORS_MAX][CR_PKLEN];
};

/* One verified handover (see above), by the hashes of the two sets. */
struct cr_ring_handover {
	uint64_t epoch;
	uint8_t from[CR_RING_SETHASH_LEN];
	uint8_t to[CR_RING_SETHASH_LEN];
	/* from's first key when from is a single operator, for --operator
	 * ID pins of one-operator rings (from_n == 1). */
	size_t from_n;
	uint8_t from_pk0[CR_PKLEN];
};

struct cr_ring_node {
	uint8_t pk[CR_PKLEN];
	struct cr_id id;
	char addr[CR_RING_ADDR_MAX]; /* "HOST:PORT" */
	uint32_t weight;
};

struct cr_ring {
	uint64_t epoch;
	uint8_t operator_pk[CR_PKLEN]; /* ops.pks[0]: the one operator key */
	struct cr_ring_opset ops;
	uint8_t set_hash[CR_RING_SETHASH_LEN];
	/* Which keys of ops signed (valid signatures only), and how many. */
	uint8_t signed_by[CR_RING_OPERATORS_MAX];
	size_t n_signed;
	/* 0 only for a draft (cr_ring_load_draft): too few signatures on the
	 * configuration or on its newest handover. */
	int complete;
	size_t n_handovers;
	struct cr_ring_handover handovers[CR_RING_HANDOVERS_MAX];
	uint32_t replicas;
	int replicas_majority; /* replicas follows the node count */
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

/*
 * cr_ring_decode(), but the configuration must belong to the operator set
 * whose hash is `anchor` (when not NULL): its own set, or a set it was
 * handed over to after epoch min_epoch.
 */
int cr_ring_decode_anchored(const uint8_t *buf, size_t len,
			    const uint8_t anchor[CR_RING_SETHASH_LEN],
			    uint64_t min_epoch, struct cr_ring **out,
			    struct cr_error **err);

/* Parses the text file form (as above), then cr_ring_decode(). */
int cr_ring_parse_text(const char *text, size_t len, const uint8_t *pinned_op,
		       struct cr_ring **out, struct cr_error **err);
int cr_ring_load(const char *path, const uint8_t *pinned_op,
		 struct cr_ring **out, struct cr_error **err);
int cr_ring_load_anchored(const char *path,
			  const uint8_t anchor[CR_RING_SETHASH_LEN],
			  uint64_t min_epoch, struct cr_ring **out,
			  struct cr_error **err);
/*
 * Loads a configuration that may still lack signatures (a draft passing
 * from operator to operator): every signature present must be a valid one
 * by a key of the set (others are dropped); r->complete says whether it has
 * enough.  For `carrier ring sign` and the commands that write drafts only:
 * no program runs a draft.
 */
int cr_ring_load_draft(const char *path, struct cr_ring **out,
		       struct cr_error **err);

/* The hash of a set (k and the keys in any order); the set must be valid. */
void cr_ring_opset_hash(const struct cr_ring_opset *s,
			uint8_t out[CR_RING_SETHASH_LEN]);
/* "opset_HEX": the printed pin of a set, for --operator. */
char *cr_ring_setid_format(const uint8_t hash[CR_RING_SETHASH_LEN],
			   char out[CR_RING_SETID_STRMAX]);
/* 1 when pk is in the set, with *index filled; else 0. */
int cr_ring_opset_find(const struct cr_ring_opset *s,
		       const uint8_t pk[CR_PKLEN], size_t *index);

/* `replicas` for cr_ring_build*: a majority of the nodes, recorded as
 * such so that the next epoch applies the rule again. */
#define CR_RING_REPLICAS_MAJORITY UINT32_MAX

/*
 * The home-set size by the majority rule for a ring of n nodes:
 * floor(n/2) + 1, so that whichever half of the ring dies at once, every
 * device keeps a node holding its record (the nudges of
 * docs/design/ring-cluster.md need one); at least CR_RING_MAJORITY_MIN
 * (small rings keep what they had) and at most CR_RING_MAJORITY_MAX (past
 * 31 nodes the rule gives way to cost: the guarantee then covers fewer
 * than half of the nodes).
 */
uint32_t cr_ring_majority_replicas(size_t n);

/* Builds and signs a configuration from `nodes` (n of them); *out owned by
 * the caller; signed_blob is filled.  replicas 0 leaves the field absent
 * (read as CR_RING_DEFAULT_REPLICAS); CR_RING_REPLICAS_MAJORITY applies
 * cr_ring_majority_replicas(n). */
int cr_ring_build(const struct cr_keypair *op, uint64_t epoch,
		  uint32_t replicas, const struct cr_ring_node *nodes,
		  size_t n, struct cr_ring **out, struct cr_error **err);
/*
 * Builds a configuration of the operator set `set` (one key with k = 1 is
 * encoded as a one-operator ring), signed by `signer` when it is in the
 * set.  prev, when not NULL, is the configuration it follows: its
 * handovers are carried on, and when its set differs from `set` a handover
 * from prev's set to `set` at this epoch is added, signed by `signer` when
 * signer is in prev's set.  The result is a draft until enough operators
 * have signed (cr_ring_sign); r->complete says which.
 */
int cr_ring_build_set(const struct cr_keypair *signer,
		      const struct cr_ring_opset *set,
		      const struct cr_ring *prev, uint64_t epoch,
		      uint32_t replicas, const struct cr_ring_node *nodes,
		      size_t n, struct cr_ring **out, struct cr_error **err);
/*
 * Adds signer's signature to a (draft) configuration: on the configuration
 * when signer is in its set, and on its newest handover when that one is
 * for this epoch and signer is in its old set.  Refused when signer has
 * nothing left to sign.  *out is the new configuration.
 */
int cr_ring_sign(const struct cr_ring *r, const struct cr_keypair *signer,
		 struct cr_ring **out, struct cr_error **err);

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
 * operator key (or the operator set's hash) and the highest epoch seen.
 * When the file is absent it is created (trust on first use) unless
 * explicit_op is given, which must then match; when present, the ring's
 * operator set must be the pinned one, or one the pinned set handed over
 * to (the pin then moves to it), and its
 * epoch must not be lower than the pinned epoch (rollback).  A higher epoch
 * updates the file.
 */
int cr_ring_pin_check(const char *pin_path, const struct cr_ring *r,
		      const struct cr_id *explicit_op, struct cr_error **err);

/*
 * What a program was told to pin (--operator): an operator identity
 * ("op_...", a one-operator ring) or an operator set ("opset_HEX", as
 * `carrier ring init` and `status` print it).
 */
struct cr_ring_anchor {
	int kind; /* 0 none, 1 operator identity, 2 set hash */
	struct cr_id op;
	uint8_t set_hash[CR_RING_SETHASH_LEN];
};
int cr_ring_anchor_parse(const char *s, struct cr_ring_anchor *a,
			 struct cr_error **err);
/* cr_ring_pin_check() with an anchor (NULL or kind 0: none). */
int cr_ring_pin_check_anchor(const char *pin_path, const struct cr_ring *r,
			     const struct cr_ring_anchor *explicit_anchor,
			     struct cr_error **err);
/*
 * The first words of r's pin line ("korhal-operator BASE64KEY" or
 * "korhal-operators BASE64HASH"), for programs that scan pin files.
 */
int cr_ring_pin_prefix(const struct cr_ring *r, char *out, size_t cap);

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
