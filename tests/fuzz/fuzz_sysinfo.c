/*
 * Fuzzes the parser of a device's `carrier sysinfo` answer
 * (cli/src/sysinfo.h), which the CLI reads from whatever the device
 * sends: a parse either refuses the input or gives at most
 * CL_SYSINFO_LINES lines whose keys are [a-z0-9_]+ and whose values hold
 * no control byte, each NUL-terminated within its field.
 */
#include <stdlib.h>
#include <string.h>

#include "sysinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cl_sysinfo si;
	struct cr_error *err = NULL;

	if (cl_sysinfo_parse((const char *)data, size, &si, &err) < 0) {
		if (err == NULL)
			abort();
		cr_error_free(err);
		return 0;
	}
	if (si.n > CL_SYSINFO_LINES)
		abort();
	for (size_t i = 0; i < si.n; i++) {
		size_t kl = strnlen(si.line[i].key, CL_SYSINFO_KEY_MAX);
		size_t vl = strnlen(si.line[i].value, CL_SYSINFO_VALUE_MAX);

		if (kl == 0 || kl == CL_SYSINFO_KEY_MAX ||
		    vl == CL_SYSINFO_VALUE_MAX ||
		    strspn(si.line[i].key, "abcdefghijklmnopqrstuvwxyz"
					   "0123456789_") != kl)
			abort();
		for (size_t j = 0; j < vl; j++)
			if ((unsigned char)si.line[i].value[j] < 0x20)
				abort();
	}
	return 0;
}
