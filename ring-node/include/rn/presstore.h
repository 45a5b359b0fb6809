/*
 * The node's presence store: one database ("presence") of the node's LMDB
 * file, keyed by a device's id hash, each value the record's sequence
 * number (u64, little-endian as everywhere in cp/wire.h) followed by the
 * signed record's bytes as the device published them.  The sequence is
 * kept in front so that replacing, expiring and collecting records read
 * 8 bytes and never decode the record.
 *
 * This module owns the database name and the value layout; the node
 * (node.c: lookups, metrics) and the cluster (peers.c: publish, replicas,
 * purge, sync, collection) go through it.  Records are verified before
 * they get here: the store keeps bytes, it does not judge them.
 */
#ifndef RN_PRESSTORE_H
#define RN_PRESSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/kv.h"

enum {
	RN_PRES_SEQ_LEN = 8,
	RN_PRES_VALUE_MAX = RN_PRES_SEQ_LEN + CP_PRESENCE_MAX,
};

/* A stored value, split: rec points into the value it was read from. */
struct rn_pres {
	uint64_t seq;
	const uint8_t *rec;
	size_t rec_len;
};

/* The value for seq and a record of rec_len bytes (at most
 * CP_PRESENCE_MAX) into out; returns its length. */
size_t rn_pres_encode(uint64_t seq, const uint8_t *rec, size_t rec_len,
		      uint8_t out[RN_PRES_VALUE_MAX]);
/* Splits a value: 0, or -EBADMSG when it holds no sequence and record
 * (RN_PRES_SEQ_LEN bytes or fewer) or is longer than any record. */
int rn_pres_decode(const void *val, size_t len, struct rn_pres *out);

/* The "newer sequence wins" rule: 1 when a record at seq replaces one
 * stored at stored_seq.  Equal sequences keep what is stored. */
static inline int rn_pres_newer(uint64_t seq, uint64_t stored_seq)
{
	return seq > stored_seq;
}

/* dev's record, copied into buf and split into *out: 0, -ENOENT when none
 * is stored (or what is stored is unreadable), or another negative value
 * with *err. */
int rn_pres_get(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		uint8_t buf[RN_PRES_VALUE_MAX], struct rn_pres *out,
		struct cr_error **err);
/* Only the stored sequence (the record is not read): 0, -ENOENT, or
 * another negative value with *err. */
int rn_pres_get_seq(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		    uint64_t *seq, struct cr_error **err);
/* Stores dev's record at seq, replacing what is there (the caller applied
 * rn_pres_newer).  0, or a negative value with *err (EINVAL: rec_len is 0
 * or over CP_PRESENCE_MAX). */
int rn_pres_put(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		uint64_t seq, const uint8_t *rec, size_t rec_len,
		struct cr_error **err);
/* 0, -ENOENT, or another negative value with *err. */
int rn_pres_del(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		struct cr_error **err);
/* Records stored. */
long rn_pres_count(struct cr_kv *kv);

/*
 * Calls fn for every entry in key order, inside one read transaction, with
 * the value split; v is NULL for an entry that is not a device's record
 * (a key of the wrong length, a value with no record), so that callers
 * walking the store in batches count every entry.  fn's pointers are valid
 * only during the call; fn returns non-zero to stop.  Returns the number
 * of entries visited, or -1 with *err.
 */
typedef int (*rn_pres_fn)(void *arg, const uint8_t *dev,
			  const struct rn_pres *v);
long rn_pres_foreach(struct cr_kv *kv, rn_pres_fn fn, void *arg,
		     struct cr_error **err);
/* The same from the first device whose id is >= start on. */
long rn_pres_foreach_from(struct cr_kv *kv, const uint8_t start[CR_ID_HASHLEN],
			  rn_pres_fn fn, void *arg, struct cr_error **err);

#endif
