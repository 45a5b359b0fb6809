/* carrier keygen, carrier id. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "cr/identity.h"

int cl_cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = NULL, *out = NULL;
	struct cr_error *err = NULL;
	struct cr_keypair kp;
	enum cr_id_type t;
	struct cr_id id;
	char ids[CR_ID_STRMAX];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "t:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			type = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			puts("usage: carrier keygen --type "
			     "device|vendor|node|operator -o FILE\n"
			     "Writes the secret key to FILE (mode 0600) and the "
			     "public key to FILE.pub,\nthen prints the identity. "
			     "An existing FILE is never overwritten.");
			return 0;
		default:
			return cl_fail(2, "usage: carrier keygen --type TYPE -o "
					  "FILE");
		}
	}
	if (type == NULL || out == NULL || optind != argc)
		return cl_fail(2, "usage: carrier keygen --type "
				  "device|vendor|node|operator -o FILE");
	if (cr_id_type_parse(type, &t) < 0)
		return cl_fail(2, "unknown key type '%s' (device, vendor, node "
				  "or operator)",
			       type);
	cr_keypair_generate(t, &kp);
	if (cr_keypair_save(&kp, out, &err) < 0) {
		cr_keypair_wipe(&kp);
		c = cl_fail(1, "%s", cr_error_msg(err));
		cr_error_free(err);
		return c;
	}
	cr_id_from_pk(t, kp.pk, &id);
	cr_keypair_wipe(&kp);
	puts(cr_id_format(&id, ids));
	return 0;
}

int cl_cmd_id(int argc, char **argv)
{
	struct cr_error *err = NULL;
	uint8_t pk[CR_PKLEN];
	enum cr_id_type t;
	struct cr_id id;
	char ids[CR_ID_STRMAX];
	int rc;

	if (argc != 2 || strcmp(argv[1], "--help") == 0) {
		fputs("usage: carrier id FILE|FILE.pub\n", argc == 2 ? stdout :
								      stderr);
		return argc == 2 ? 0 : 2;
	}
	if (cr_pubkey_load(argv[1], &t, pk, &err) < 0) {
		rc = cl_fail(1, "%s", cr_error_msg(err));
		cr_error_free(err);
		return rc;
	}
	cr_id_from_pk(t, pk, &id);
	puts(cr_id_format(&id, ids));
	return 0;
}
