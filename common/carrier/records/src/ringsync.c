/* Passing the ring configuration around: see cr/ringsync.h. */
#include "cr/ringsync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cr_ring_asm_reset(struct cr_ring_asm *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

int cr_ring_asm_add(struct cr_ring_asm *a, uint64_t epoch, uint32_t total,
		    uint32_t offset, const uint8_t *data, size_t len)
{
	uint32_t idx, want;

	if (total == 0 || total > CP_RING_CONFIG_MAX || epoch == 0 ||
	    offset % CR_RING_CHUNK != 0 || offset >= total)
		return -EINVAL;
	want = total - offset < CR_RING_CHUNK ? total - offset : CR_RING_CHUNK;
	if (len != want)
		return -EINVAL;
	if (a->buf == NULL || epoch != a->epoch || total != a->total) {
		if (a->buf != NULL && epoch < a->epoch)
			return 0;
		cr_ring_asm_reset(a);
		a->buf = malloc(total);
		if (a->buf == NULL)
			return -ENOMEM;
		a->epoch = epoch;
		a->total = total;
	}
	idx = offset / CR_RING_CHUNK;
	if (!(a->have[idx / 8] >> (idx % 8) & 1)) {
		memcpy(a->buf + offset, data, len);
		a->have[idx / 8] = (uint8_t)(a->have[idx / 8] | 1u << (idx % 8));
		a->n_have++;
	}
	return a->n_have == (a->total + CR_RING_CHUNK - 1) / CR_RING_CHUNK;
}

int cr_ring_accept(const uint8_t *blob, size_t len, const struct cr_ring *cur,
		   const char *pin_path, const char *save_path,
		   struct cr_ring **out, struct cr_error **err)
{
	struct cr_ring *r = NULL;

	/* Signed by k of cur's operator set, or of a set cur's handed the
	 * ring over to since (a rotated key, a company joining). */
	if (cr_ring_decode_anchored(blob, len, cur->set_hash, cur->epoch, &r,
				    err) < 0)
		return -1;
	if (r->epoch <= cur->epoch) {
		cr_error_set(err, ESTALE,
			     "ring configuration epoch %" PRIu64
			     " is not newer than epoch %" PRIu64,
			     r->epoch, cur->epoch);
		cr_ring_free(r);
		return -1;
	}
	if (cr_ring_pin_check(pin_path, r, NULL, err) < 0 ||
	    (save_path != NULL && cr_ring_save(r, save_path, err) < 0)) {
		cr_ring_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int cr_ring_load_newest(const char *path, const char *saved_path,
			const char *pin_path, const char *operator_id,
			struct cr_ring **out, struct cr_error **err)
{
	struct cr_ring *ring = NULL, *saved = NULL;
	struct cr_ring_anchor a;
	struct stat st;

	if (saved_path == NULL || stat(saved_path, &st) < 0)
		return cr_ring_load_pinned(path, pin_path, operator_id, out,
					   err);
	if (cr_ring_load(path, NULL, &ring, err) < 0)
		return -1;
	/* What we saved ourselves counts only when the same operator signed
	 * it and it is newer; anything else there is ignored. */
	if (cr_ring_load_anchored(saved_path, ring->set_hash, ring->epoch,
				  &saved, NULL) == 0 &&
	    saved->epoch > ring->epoch) {
		cr_ring_free(ring);
		ring = saved;
		saved = NULL;
	}
	cr_ring_free(saved);
	if (cr_ring_anchor_parse(operator_id, &a, err) < 0) {
		cr_ring_free(ring);
		return cr_error_wrap(err, "--operator");
	}
	if (cr_ring_pin_check_anchor(pin_path, ring, &a, err) < 0) {
		cr_ring_free(ring);
		return -1;
	}
	*out = ring;
	return 0;
}
