/*
 * Fuzzes the ELF reader and rewriter of archon link (elfcal.h), which
 * read executables and libraries a publisher did not build: no crash, no
 * read outside the buffer, a message on failure, and a rewritten file that
 * parses again with the names it was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AR_HAVE_LINK
#include "elfcal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct ar_elf e, again;
	static char names[AR_ELF_MAX_NEEDED][32];
	char *to[AR_ELF_MAX_NEEDED];
	uint8_t *out = NULL;
	size_t outlen = 0, n;

	if (ar_elf_parse(data, size, &e, &err) < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0)
			abort();
		cr_error_free(err);
		return 0;
	}
	n = e.nneeded;
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "/cal/%zu", i);
		to[i] = names[i];
	}
	if (ar_elf_rewrite(data, size, e.interp ? "/cal/interp" : NULL, to, n,
			   "/cal/x.d", e.needed, to, n, &out, &outlen, &err) < 0) {
		if (err == NULL || strlen(cr_error_msg(err)) == 0)
			abort();
		cr_error_free(err);
		err = NULL;
	} else {
		/* What the loader reads back is what was written. */
		if (ar_elf_parse(out, outlen, &again, &err) < 0 || again.nneeded != n ||
		    (e.interp != NULL && (again.interp == NULL ||
					  strcmp(again.interp, "/cal/interp") != 0)))
			abort();
		for (size_t i = 0; i < n; i++)
			if (strcmp(again.needed[i], to[i]) != 0)
				abort();
		ar_elf_clear(&again);
		free(out);
	}
	ar_elf_clear(&e);
	return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
#endif
