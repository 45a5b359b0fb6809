/*
 * Fuzzes ar_provider_parse(), the parser of signed provider records that
 * ring nodes take from devices and pullers take from nodes.  A failure
 * sets an error with a message; nothing unsigned is ever accepted (the
 * corpus holds no valid signature, so every input must fail).
 */
#include <stdlib.h>
#include <string.h>

#include "ar/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ar_provider p;
	struct cr_error *err = NULL;

	if (ar_provider_parse((const char *)data, size, 1000, &p, &err) == 0)
		abort(); /* a forged signature verified */
	if (err == NULL || strlen(cr_error_msg(err)) == 0)
		abort();
	cr_error_free(err);
	return 0;
}
