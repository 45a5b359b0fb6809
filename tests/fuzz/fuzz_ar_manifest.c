/*
 * Fuzzes ar_manifest_decode(), the parser of Archon manifests fetched from
 * an origin: no crash, a message on failure, and a parsed unsigned
 * manifest encodes back to the same bytes.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ar/manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sodium_init() < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ar_manifest *m = NULL;
	struct cr_error *err = NULL;
	uint8_t *again;
	size_t len;

	if (ar_manifest_decode(data, size, &m, &err) < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0)
			abort();
		cr_error_free(err);
		return 0;
	}
	if (!ar_name_valid(m->name) || strlen(m->config) != m->config_len)
		abort();
	if (!m->is_signed) {
		if (ar_manifest_encode(m, NULL, &again, &len, NULL) < 0 ||
		    len != size || memcmp(again, data, size) != 0)
			abort();
		free(again);
	}
	ar_manifest_free(m);
	return 0;
}
