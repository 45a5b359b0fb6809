/*
 * The presence store's database and value layout (see rn/presstore.h).
 */
#include "rn/presstore.h"

#include <errno.h>
#include <string.h>

#include "cp/wire.h"

static const char pres_db[] = "presence";

size_t rn_pres_encode(uint64_t seq, const uint8_t *rec, size_t rec_len,
		      uint8_t out[RN_PRES_VALUE_MAX])
{
	cp_put_u64(out, seq);
	memcpy(out + RN_PRES_SEQ_LEN, rec, rec_len);
	return RN_PRES_SEQ_LEN + rec_len;
}

int rn_pres_decode(const void *val, size_t len, struct rn_pres *out)
{
	if (len <= RN_PRES_SEQ_LEN || len > RN_PRES_VALUE_MAX)
		return -EBADMSG;
	out->seq = cp_get_u64(val);
	out->rec = (const uint8_t *)val + RN_PRES_SEQ_LEN;
	out->rec_len = len - RN_PRES_SEQ_LEN;
	return 0;
}

int rn_pres_get(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		uint8_t buf[RN_PRES_VALUE_MAX], struct rn_pres *out,
		struct cr_error **err)
{
	size_t len = 0;
	int rc = cr_kv_get(kv, pres_db, dev, CR_ID_HASHLEN, buf,
			   RN_PRES_VALUE_MAX, &len, err);

	if (rc < 0)
		return rc;
	/* Longer than buf: only part of it was copied, so it is not read. */
	return rn_pres_decode(buf, len, out) == 0 ? 0 : -ENOENT;
}

int rn_pres_get_seq(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		    uint64_t *seq, struct cr_error **err)
{
	uint8_t buf[RN_PRES_SEQ_LEN];
	size_t len = 0;
	int rc = cr_kv_get(kv, pres_db, dev, CR_ID_HASHLEN, buf, sizeof(buf),
			   &len, err);

	if (rc < 0)
		return rc;
	if (len < RN_PRES_SEQ_LEN)
		return -ENOENT;
	*seq = cp_get_u64(buf);
	return 0;
}

int rn_pres_put(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		uint64_t seq, const uint8_t *rec, size_t rec_len,
		struct cr_error **err)
{
	uint8_t val[RN_PRES_VALUE_MAX];
	size_t len;

	/* What rn_pres_decode() would not read back is not written. */
	if (rec_len == 0 || rec_len > CP_PRESENCE_MAX)
		return cr_error_set(err, EINVAL,
				    "presence record of %zu bytes (1 to %d)",
				    rec_len, (int)CP_PRESENCE_MAX);
	len = rn_pres_encode(seq, rec, rec_len, val);
	return cr_kv_put(kv, pres_db, dev, CR_ID_HASHLEN, val, len, err);
}

int rn_pres_del(struct cr_kv *kv, const uint8_t dev[CR_ID_HASHLEN],
		struct cr_error **err)
{
	return cr_kv_del(kv, pres_db, dev, CR_ID_HASHLEN, err);
}

long rn_pres_count(struct cr_kv *kv)
{
	return cr_kv_count(kv, pres_db);
}

struct pres_walk {
	rn_pres_fn fn;
	void *arg;
};

static int pres_walk_one(void *arg, const void *key, size_t key_len,
			 const void *val, size_t val_len)
{
	struct pres_walk *w = arg;
	struct rn_pres v;
	int ok = key_len == CR_ID_HASHLEN &&
		 rn_pres_decode(val, val_len, &v) == 0;

	return w->fn(w->arg, ok ? key : NULL, ok ? &v : NULL);
}

long rn_pres_foreach(struct cr_kv *kv, rn_pres_fn fn, void *arg,
		     struct cr_error **err)
{
	struct pres_walk w = { fn, arg };

	return cr_kv_foreach(kv, pres_db, pres_walk_one, &w, err);
}

long rn_pres_foreach_from(struct cr_kv *kv, const uint8_t start[CR_ID_HASHLEN],
			  rn_pres_fn fn, void *arg, struct cr_error **err)
{
	struct pres_walk w = { fn, arg };

	return cr_kv_foreach_from(kv, pres_db, start, CR_ID_HASHLEN,
				  pres_walk_one, &w, err);
}
