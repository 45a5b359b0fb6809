/*
 * Fuzzes ar_cachereq_parse(), the parser of shard cache requests that a
 * ring node reads from the network.  Besides not crashing: a failure sets
 * an error with a message, and a request that parses formats back into a
 * target that parses to the same request.
 */
#include <stdlib.h>
#include <string.h>

#include "ar/cachereq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ar_cachereq r, again;
	struct cr_error *err = NULL;
	char buf[AR_CACHEREQ_TARGET_MAX * 3 + 1];
	int n;

	if (ar_cachereq_parse((const char *)data, size, &r, &err) < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0)
			abort();
		cr_error_free(err);
		return 0;
	}
	n = ar_cachereq_format(&r, buf, sizeof(buf));
	if (n < 0)
		abort();
	if (ar_cachereq_parse(buf, (size_t)n, &again, NULL) < 0 ||
	    again.kind != r.kind || !ar_id_equal(&again.id, &r.id) ||
	    !ar_id_equal(&again.to, &r.to) || again.size != r.size ||
	    strcmp(again.origin, r.origin) != 0 || strcmp(again.rel, r.rel) != 0)
		abort();
	return 0;
}
