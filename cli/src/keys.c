/* carrier keygen, carrier id. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "cr/identity.h"
#include "cr/util.h"

/* The folder FILE goes in, created with its missing parents (0700: it
 * holds secret keys; existing folders keep their mode), as the README's
 * `-o ~/.config/carrier/key` expects on a fresh account. */
static int keys_make_parent(const char *path, struct cr_error **err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL || slash == path)
		return 0;
	len = (size_t)(slash - path);
	if (len >= sizeof(dir))
		return cr_error_set(err, ENAMETOOLONG, "path too long: %s",
				    path);
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (cr_mkdir_p(dir, 0700, err) < 0)
		return cr_error_wrap(err, "folder for %s", path);
	return 0;
}

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
			     "An existing FILE is never overwritten.  Missing\n"
			     "parent folders of FILE are created (mode 0700).");
			return 0;
		default:
			return cl_bad_option(argv);
		}
	}
	if (type == NULL || out == NULL || optind != argc)
		return cl_fail(2, "usage: carrier keygen --type "
				  "device|vendor|node|operator -o FILE");
	if (cr_id_type_parse(type, &t) < 0)
		return cl_fail(2, "unknown key type '%s' (device, vendor, node "
				  "or operator)",
			       type);
	if (keys_make_parent(out, &err) < 0) {
		c = cl_fail(1, "%s", cr_error_msg(err));
		cr_error_free(err);
		return c;
	}
	if (cr_keypair_generate(t, &kp) < 0)
		return cl_fail(1, "cannot generate a key (libsodium)");
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

	if (argc == 2 && cl_is_help(argv[1])) {
		puts("usage: carrier id FILE|FILE.pub\n"
		     "Prints the identity of a key (a secret key file or its "
		     ".pub).");
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cl_fail(2, "usage: carrier id FILE|FILE.pub");
	if (cr_pubkey_load(argv[1], &t, pk, &err) < 0) {
		rc = cl_fail(1, "%s", cr_error_msg(err));
		cr_error_free(err);
		return rc;
	}
	cr_id_from_pk(t, pk, &id);
	puts(cr_id_format(&id, ids));
	return 0;
}
