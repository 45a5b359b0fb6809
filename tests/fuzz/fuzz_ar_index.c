/*
 * Fuzzes ar_index_decode(), the parser of Archon indexes fetched from an
 * origin.  Besides not crashing: a failure sets an error with a message,
 * and an index that parses encodes back to exactly the same bytes (the
 * format is canonical, so an index's name is unique).
 */
#include <stdlib.h>
#include <string.h>

#include "ar/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ar_index *idx = NULL;
	struct cr_error *err = NULL;
	uint8_t *again;
	size_t len;

	if (ar_index_decode(data, size, &idx, &err) < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0)
			abort();
		cr_error_free(err);
		return 0;
	}
	if (ar_index_encode(idx, &again, &len, NULL) < 0 || len != size ||
	    memcmp(again, data, size) != 0)
		abort();
	free(again);
	ar_index_free(idx);
	return 0;
}
