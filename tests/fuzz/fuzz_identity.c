/*
 * Fuzzes the two text parsers of cr/identity.h: cr_id_parse() (printed
 * identities, "dev_<base32>") and cr_pubkey_parse() (the one-line public key
 * text, "korhal-pub TYPE BASE64").  The input, cut at its first NUL, is
 * handed to both.  Besides not crashing, each parser must keep its contract:
 * a failure sets an error with a message, and a success round-trips through
 * the matching format function to the same value.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr/error.h"
#include "cr/identity.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sodium_init() < 0)
		abort();
	return 0;
}

static void check_failure(int rc, struct cr_error *err, const char *what)
{
	if (rc >= 0 || err == NULL || cr_error_msg(err) == NULL ||
	    strlen(cr_error_msg(err)) == 0) {
		fprintf(stderr, "%s failed without a proper error\n", what);
		abort();
	}
}

static void fuzz_id(const char *s)
{
	struct cr_error *err = NULL;
	struct cr_id id, again;
	char text[CR_ID_STRMAX];
	int rc;

	rc = cr_id_parse(s, &id, &err);
	if (rc != 0) {
		check_failure(rc, err, "cr_id_parse");
		cr_error_free(err);
		return;
	}
	if (err != NULL || cr_id_type_name(id.type) == NULL)
		abort();
	cr_id_format(&id, text);
	if (strlen(text) >= CR_ID_STRMAX)
		abort();
	/* The printed form is canonical: what parses prints back the same. */
	if (strcmp(text, s) != 0)
		abort();
	if (cr_id_parse(text, &again, &err) != 0 || !cr_id_equal(&id, &again))
		abort();
}

static void fuzz_pubkey(const char *s)
{
	struct cr_error *err = NULL;
	enum cr_id_type type, type2;
	uint8_t pk[CR_PKLEN], pk2[CR_PKLEN];
	char text[256];
	int rc;

	rc = cr_pubkey_parse(s, &type, pk, &err);
	if (rc != 0) {
		check_failure(rc, err, "cr_pubkey_parse");
		cr_error_free(err);
		return;
	}
	if (err != NULL || cr_id_type_name(type) == NULL)
		abort();
	if (cr_pubkey_format(type, pk, text, sizeof(text)) < 0)
		abort();
	if (cr_pubkey_parse(text, &type2, pk2, &err) != 0 || type2 != type ||
	    memcmp(pk, pk2, CR_PKLEN) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	fuzz_id(s);
	fuzz_pubkey(s);
	free(s);
	return 0;
}
