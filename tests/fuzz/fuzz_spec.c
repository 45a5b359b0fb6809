/*
 * Fuzzes bolter's config.json parser (bo/spec.h): any input either parses
 * into a spec whose invariants hold (process.args non-empty, absolute
 * mount destinations, known namespace types) or fails with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bo/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct bo_spec *s = bo_spec_parse((const char *)data, size, &err);

	if (s == NULL) {
		if (err == NULL || err->msg == NULL || err->msg[0] == '\0')
			abort();
		cr_error_free(err);
		return 0;
	}
	if (s->has_process &&
	    (s->process.args == NULL || s->process.args[0] == NULL))
		abort();
	for (size_t i = 0; i < s->n_mounts; i++)
		if (s->mounts[i].destination[0] != '/')
			abort();
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (bo_namespace_name(s->namespaces[i].type) == NULL)
			abort();
	bo_spec_free(s);
	return 0;
}
