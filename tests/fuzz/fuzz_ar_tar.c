/*
 * Fuzzes Archon's tar reader (device-agent/archon/src/tar.c): the input is
 * the whole byte stream of a layer (plain tar, gzip or zstd, told apart by
 * the reader), handed over in pieces whose size comes from the input's
 * length, so that every boundary is crossed.  Every entry must carry
 * bounded, NUL-free strings and never more data than its size; every
 * failure must come with a message.
 */
#include <stdlib.h>
#include <string.h>

#include "tar.h"

struct src {
	const uint8_t *p;
	size_t n, pos, step;
};

static ssize_t src_read(void *ctx, void *out, size_t cap, struct cr_error **err)
{
	struct src *s = ctx;
	size_t k = s->n - s->pos;

	(void)err;
	if (k > cap)
		k = cap;
	if (k > s->step)
		k = s->step;
	memcpy(out, s->p + s->pos, k);
	s->pos += k;
	return (ssize_t)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = { data, size, 0, 1 + size % 4096 };
	struct cr_error *err = NULL;
	struct ar_tar *t;
	struct ar_tar_entry e;
	uint8_t buf[1500];
	int r;

	if (ar_tar_open(&t, src_read, &s, &err) < 0) {
		if (err == NULL)
			abort();
		cr_error_free(err);
		return 0;
	}
	while ((r = ar_tar_next(t, &e, &err)) > 0) {
		uint64_t got = 0;
		ssize_t n;

		if (strlen(e.path) > AR_TAR_PATH_MAX || strlen(e.link) > AR_TAR_PATH_MAX ||
		    (e.mode & ~07777u) != 0 || e.index == 0)
			abort();
		if (e.type != AR_TAR_REG && e.type != AR_TAR_OTHER && e.size != 0)
			abort();
		while ((n = ar_tar_read(t, buf, sizeof(buf), &err)) > 0)
			got += (uint64_t)n;
		if (got > e.size || (n == 0 && got != e.size))
			abort();
		if (n < 0)
			break;
	}
	if ((r < 0 || err != NULL) && (err == NULL || err->msg == NULL))
		abort();
	cr_error_free(err);
	ar_tar_free(t);
	return 0;
}
