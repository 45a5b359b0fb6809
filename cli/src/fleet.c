/*
 * carrier trust init | sign | show and carrier release [sign | show]: the
 * vendor's side of cr/fleet.h.  A trust root names the root, release and
 * rollout keys; a release is signed offline by k of n release keys and
 * pins the Archon manifest it names (its index id and config digest, read
 * from the published origin), so the signatures cover every byte a
 * device will run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ar/chunk.h"
#include "ar/manifest.h"
#include "commands.h"
#include "cr/cleanup.h"
#include "cr/fleet.h"
#include "cr/identity.h"
#include "cr/util.h"

enum {
	/* cr_error code of a usage error: exit 2 (errno values such as
	 * ENOENT, which is 2 too, are runtime failures: exit 1). */
	FLEET_EUSAGE = 1000,
	FLEET_HTTP_TIMEOUT_S = 30,
};

/* Debian's architecture names a release may list. */
static const char *const fleet_arches[] = {
	"amd64",   "arm64",   "armel",    "armhf",   "i386",
	"mips",    "mipsel",  "mips64el", "ppc64el", "ppc64",
	"powerpc", "riscv64", "s390x",    "loong64", "x32",
};

static const char trust_usage[] =
	"usage: carrier trust init --root ROOT_KEY [--root ...] "
	"[--root-threshold K]\n"
	"           --release KEY.pub [--release ...] [--release-threshold K]\n"
	"           --rollout KEY.pub [--rollout ...] [--rollout-threshold K]\n"
	"           [--expires DURATION] [--version N] [--previous OLD_TRUST] "
	"[--force] -o TRUST\n"
	"       carrier trust sign TRUST --key ROOT_KEY [--previous OLD_TRUST]\n"
	"       carrier trust show TRUST [--previous OLD_TRUST] [--json]\n"
	"\n"
	"A trust root names three roles of vendor keys (carrier keygen --type "
	"vendor),\neach with a threshold (default 1): root keys sign trust "
	"roots, release keys\nsign releases (k of n), rollout keys sign "
	"deployments.  --root takes a secret\nkey file, which signs now, or a "
	"FILE.pub, listed to sign later with `trust\nsign`; at least one "
	"secret root key signs at init.  --expires (default 365d;\nunits s, m, "
	"h, d, w, y; 'never') bounds how long devices accept it.\n"
	"\n"
	"Rotation: `init ... --previous OLD_TRUST` writes version OLD+1 (or "
	"--version N\nabove it); devices holding OLD accept it only once a "
	"threshold of OLD's root\nkeys signed it too: `carrier trust sign TRUST "
	"--key OLD_ROOT_KEY --previous\nOLD_TRUST` for each.  init and sign "
	"say what is still missing; show says\nwhether the root is valid (with "
	"--previous: as a rotation from OLD_TRUST).\n";

static const char release_usage[] =
	"usage: carrier release APP:VERSION --image ORIGIN_URL NAME --counter N\n"
	"           --arch ARCH[,ARCH...] --key RELEASE_KEY -o RELEASE "
	"[--trust TRUST]\n"
	"           [--origin URL]... [--port P]... "
	"[--health http:PORT/PATH|tcp:PORT|exec:CMD]\n"
	"           [--env K=V]... [--reload-signal HUP|USR1|USR2] "
	"[-- ARGS...]\n"
	"       carrier release sign RELEASE --key RELEASE_KEY [--trust TRUST]\n"
	"       carrier release show RELEASE [--trust TRUST] [--json]\n"
	"\n"
	"A release says an app's VERSION may run: its counter (strictly "
	"growing per app;\ndevices refuse a lower one), the Debian "
	"architectures it runs on, the Archon\nimage NAME (REPO:TAG) and how "
	"to run it (ARGS replace the image's command, --env\nadds to its "
	"environment, --port and --health say what the device checks).\n"
	"--reload-signal: a config (`carrier config set`) that changes only "
	"files is\napplied by rewriting them and sending this signal to the "
	"app instead of\nrestarting it (a changed environment value still "
	"restarts it).\n"
	"The manifest of NAME is read from ORIGIN_URL (http://, or the folder "
	"`archon\npublish` wrote, as a path or file:// URL, for offline "
	"signing); the release\npins its index id and config digest.  Devices "
	"pull from ORIGIN_URL, or from the\n--origin URLs when given.  "
	"--trust checks that the key is a release key.\n"
	"\n"
	"sign adds one more release key's signature (devices want the trust "
	"root's\nrelease threshold of them) and rewrites RELEASE atomically.  "
	"show prints the\nfields and signers and, with --trust, whether the "
	"release is valid and why not.\n";

static int fleet_report(struct cr_error *err)
{
	int code = err != NULL && err->code == FLEET_EUSAGE ? 2 : 1;
	int rc = cl_fail(code, "%s", cr_error_msg(err));

	cr_error_free(err);
	return rc;
}

/* An option of the simple subcommands (sign, show): it sets a string when it
 * takes an argument, a flag when it does not. */
struct fleet_opt {
	const char *name;
	const char **str;
	int *flag;
};

enum { FLEET_OPTS_MAX = 8 };

/* Parses argv against o[0..n) plus --help/-h, which prints usage.  Returns
 * -1 when the command goes on, else the exit status (0 after help, 2 for an
 * unknown option). */
static int fleet_opts(int argc, char **argv, const struct fleet_opt *o,
		      size_t n, const char *usage)
{
	struct option lo[FLEET_OPTS_MAX + 2] = { { 0 } };
	int c;

	if (n > FLEET_OPTS_MAX)
		return cl_fail(1, "internal error: too many options");
	for (size_t i = 0; i < n; i++) {
		lo[i].name = o[i].name;
		lo[i].has_arg = o[i].str != NULL ? required_argument :
						   no_argument;
		lo[i].val = 256 + (int)i;
	}
	lo[n].name = "help";
	lo[n].val = 'h';
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c < 256 || c >= 256 + (int)n)
			return cl_bad_option(argv);
		if (o[c - 256].str != NULL)
			*o[c - 256].str = optarg;
		else
			*o[c - 256].flag = 1;
	}
	return -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The public key of a vendor key file (secret or .pub). */
static int load_vendor_pub(const char *path, uint8_t pk[CR_PKLEN],
			   struct cr_error **err)
{
	enum cr_id_type t;

	if (cr_pubkey_load(path, &t, pk, err) < 0)
		return -1;
	if (t != CR_ID_VENDOR)
		return cr_error_set(err, EINVAL,
				    "%s is a %s key, not a vendor key; fleet "
				    "roles are vendor keys (carrier keygen "
				    "--type vendor)",
				    path,
				    cr_id_type_name(t) ? cr_id_type_name(t) :
							 "unknown");
	return 0;
}

static char *key_id(const uint8_t pk[CR_PKLEN], char out[CR_ID_STRMAX])
{
	struct cr_id id;

	cr_id_from_pk(CR_ID_VENDOR, pk, &id);
	return cr_id_format(&id, out);
}

static void format_time(uint64_t unix_s, char *out, size_t cap)
{
	time_t e = (time_t)unix_s;
	struct tm tm;

	if (unix_s == 0) {
		snprintf(out, cap, "never");
		return;
	}
	if (gmtime_r(&e, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, cap, "%" PRIu64, unix_s);
}

/* "365d", "12h", "2w", "1y", plain seconds; "never" or "0" is 0. */
static int parse_expiry(const char *s, uint64_t *secs)
{
	static const struct {
		char unit;
		uint64_t mul;
	} units[] = { { 's', 1 },     { 'm', 60 },        { 'h', 3600 },
		      { 'd', 86400 }, { 'w', 7 * 86400 }, { 'y', 365 * 86400 } };
	char num[24];
	size_t n = strspn(s, "0123456789");
	uint64_t v, mul = 1;

	if (strcmp(s, "never") == 0) {
		*secs = 0;
		return 0;
	}
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (cr_parse_u64(num, 0, 1000000000ull, &v) < 0)
		return -1;
	if (s[n] != '\0') {
		size_t i;

		if (s[n + 1] != '\0')
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (units[i].unit == s[n])
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		mul = units[i].mul;
	}
	if (v > 200ull * 365 * 86400 / mul)
		return -1;
	*secs = v * mul;
	return 0;
}

/* A JSON string; the values here are ids, names and what a vendor typed. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ---- trust --------------------------------------------------------------- */

/* Adds a key to a role, refusing more than CR_FLEET_KEYS_MAX and twice
 * the same key. */
static int role_add(struct cr_fleet_keys *k, const char *name,
		    const uint8_t pk[CR_PKLEN], struct cr_error **err)
{
	char ida[CR_ID_STRMAX];

	for (size_t i = 0; i < k->n; i++)
		if (memcmp(k->pk[i], pk, CR_PKLEN) == 0)
			return cr_error_set(err, FLEET_EUSAGE,
					    "%s key %s is given twice", name,
					    key_id(pk, ida));
	if (k->n == CR_FLEET_KEYS_MAX)
		return cr_error_set(err, FLEET_EUSAGE, "at most %d %s keys",
				    (int)CR_FLEET_KEYS_MAX, name);
	memcpy(k->pk[k->n++], pk, CR_PKLEN);
	return 0;
}

/* What a trust root still needs, on standard output. */
static void trust_say_status(const struct cr_trust *t,
			     const struct cr_trust *prev, const char *path)
{
	struct cr_error *err = NULL;
	char when[40];

	format_time(t->expires_unix, when, sizeof(when));
	printf("trust root v%" PRIu64 " in %s: root %" PRIu32 " of %zu, "
	       "release %" PRIu32 " of %zu, rollout %" PRIu32
	       " of %zu; expires %s\n",
	       t->version, path, t->root.threshold, t->root.n,
	       t->release.threshold, t->release.n, t->rollout.threshold,
	       t->rollout.n, when);
	if (cr_trust_check(t, prev, cr_now_unix(), &err) == 0) {
		printf("valid%s\n", prev != NULL ? " as a rotation" : "");
		return;
	}
	printf("not yet valid: %s\n", cr_error_msg(err));
	cr_error_free(err);
	printf("add signatures with: carrier trust sign %s --key ROOT_KEY%s\n",
	       path, prev != NULL ? " [--previous OLD_TRUST]" : "");
}

static int trust_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'R' },
		{ "root-threshold", required_argument, NULL, 'r' },
		{ "release", required_argument, NULL, 'L' },
		{ "release-threshold", required_argument, NULL, 'l' },
		{ "rollout", required_argument, NULL, 'O' },
		{ "rollout-threshold", required_argument, NULL, 'u' },
		{ "expires", required_argument, NULL, 'e' },
		{ "version", required_argument, NULL, 'v' },
		{ "previous", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cr_fleet_keys root = { 0 }, rel = { 0 }, roll = { 0 };
	struct cr_keypair *kps = NULL;
	const struct cr_keypair *signers[CR_FLEET_KEYS_MAX];
	struct cr_trust *t = NULL, *prev = NULL;
	struct cr_error *err = NULL;
	const char *out = NULL, *prev_path = NULL;
	uint64_t thr[3] = { 1, 1, 1 }, expires = 365 * 86400, version = 0, v;
	size_t n_sk = 0;
	struct stat st;
	int c, rc = 1, force = 0;
	uint8_t pk[CR_PKLEN];

	kps = calloc(CR_FLEET_KEYS_MAX, sizeof(*kps));
	if (kps == NULL)
		return cl_fail(1, "out of memory");
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(trust_usage, stdout);
			rc = 0;
			goto out;
		case 'R':
			/* A .pub lists the key; a secret key file signs too. */
			if (ends_with(optarg, ".pub")) {
				if (load_vendor_pub(optarg, pk, &err) < 0)
					goto fail;
			} else {
				if (n_sk == CR_FLEET_KEYS_MAX) {
					rc = cl_fail(2, "too many root keys");
					goto out;
				}
				if (cr_keypair_load_as(optarg, CR_ID_VENDOR,
						       &kps[n_sk], &err) < 0)
					goto fail;
				memcpy(pk, kps[n_sk].pk, CR_PKLEN);
				signers[n_sk] = &kps[n_sk];
				n_sk++;
			}
			if (role_add(&root, "root", pk, &err) < 0)
				goto fail;
			break;
		case 'L':
		case 'O':
			if (load_vendor_pub(optarg, pk, &err) < 0 ||
			    role_add(c == 'L' ? &rel : &roll,
				     c == 'L' ? "release" : "rollout", pk,
				     &err) < 0)
				goto fail;
			break;
		case 'r':
		case 'l':
		case 'u':
			if (cr_parse_u64(optarg, 1, CR_FLEET_KEYS_MAX, &v) <
			    0) {
				rc = cl_fail(2, "%s: '%s' is not 1..%d",
					     argv[optind - 2], optarg,
					     (int)CR_FLEET_KEYS_MAX);
				goto out;
			}
			thr[c == 'r' ? 0 : c == 'l' ? 1 : 2] = v;
			break;
		case 'e':
			if (parse_expiry(optarg, &expires) < 0) {
				rc = cl_fail(2,
					     "--expires: '%s' is not a "
					     "duration such as 365d, 12h, "
					     "2w or 'never'",
					     optarg);
				goto out;
			}
			break;
		case 'v':
			if (cr_parse_u64(optarg, 1, UINT64_MAX - 1, &version) <
			    0) {
				rc = cl_fail(2,
					     "--version: '%s' is not a "
					     "positive number",
					     optarg);
				goto out;
			}
			break;
		case 'p':
			prev_path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'f':
			force = 1;
			break;
		default:
			rc = cl_bad_option(argv);
			goto out;
		}
	}
	if (out == NULL || root.n == 0 || rel.n == 0 || roll.n == 0 ||
	    optind != argc) {
		rc = cl_fail(2, "usage: carrier trust init --root ROOT_KEY "
				"--release KEY.pub --rollout KEY.pub -o TRUST "
				"(see carrier trust --help)");
		goto out;
	}
	if (n_sk == 0) {
		rc = cl_fail(2, "give at least one root secret key (--root "
				"FILE, not FILE.pub): a trust root is signed "
				"when it is written");
		goto out;
	}
	root.threshold = (uint32_t)thr[0];
	rel.threshold = (uint32_t)thr[1];
	roll.threshold = (uint32_t)thr[2];
	if (root.threshold > root.n || rel.threshold > rel.n ||
	    roll.threshold > roll.n) {
		rc = cl_fail(2,
			     "a threshold is above its number of keys (root "
			     "%" PRIu32 " of %zu, release %" PRIu32
			     " of %zu, rollout %" PRIu32 " of %zu)",
			     root.threshold, root.n, rel.threshold, rel.n,
			     roll.threshold, roll.n);
		goto out;
	}
	if (prev_path != NULL) {
		if (cr_trust_load(prev_path, NULL, 0, &prev, &err) < 0)
			goto fail;
		if (version == 0) {
			version = prev->version + 1;
		} else if (version <= prev->version) {
			rc = cl_fail(2,
				     "--version %" PRIu64 " is not above "
				     "the previous root's v%" PRIu64,
				     version, prev->version);
			goto out;
		}
	} else if (version == 0) {
		version = 1;
	}
	if (!force && lstat(out, &st) == 0) {
		rc = cl_fail(1,
			     "%s exists; refusing to overwrite it (a device "
			     "provisioned with it would refuse a lower "
			     "version); write elsewhere or give --force",
			     out);
		goto out;
	}
	if (expires != 0)
		expires += cr_now_unix();
	if (cr_trust_build_draft(version, expires, &root, &rel, &roll, signers,
				 n_sk, &t, &err) < 0 ||
	    cr_trust_save(t, out, &err) < 0)
		goto fail;
	trust_say_status(t, prev, out);
	rc = 0;
	goto out;
fail:
	rc = fleet_report(err);
out:
	for (size_t i = 0; i < n_sk; i++)
		cr_keypair_wipe(&kps[i]);
	free(kps);
	cr_trust_free(t);
	cr_trust_free(prev);
	return rc;
}

static int trust_sign(int argc, char **argv)
{
	const char *key_path = NULL, *prev_path = NULL, *path;
	const struct fleet_opt opts[] = {
		{ "key", &key_path, NULL },
		{ "previous", &prev_path, NULL },
	};
	struct cr_trust *t = NULL, *prev = NULL;
	struct cr_error *err = NULL;
	struct cr_keypair kp = { 0 };
	char ida[CR_ID_STRMAX];
	int rc = fleet_opts(argc, argv, opts, 2, trust_usage);

	if (rc >= 0)
		return rc;
	rc = 1;
	if (key_path == NULL || optind != argc - 1)
		return cl_fail(2, "usage: carrier trust sign TRUST --key "
				  "ROOT_KEY [--previous OLD_TRUST]");
	path = argv[optind];
	if (cr_trust_load_draft(path, &t, &err) < 0 ||
	    (prev_path != NULL &&
	     cr_trust_load(prev_path, NULL, 0, &prev, &err) < 0) ||
	    cr_keypair_load_as(key_path, CR_ID_VENDOR, &kp, &err) < 0)
		goto fail;
	if (!cr_trust_has_key(t, CR_ROLE_ROOT, kp.pk) &&
	    (prev == NULL || !cr_trust_has_key(prev, CR_ROLE_ROOT, kp.pk))) {
		if (prev != NULL)
			cr_error_set(&err, EKEYREJECTED,
				     "%s is not a root key of trust root "
				     "v%" PRIu64 " nor of the previous root "
				     "v%" PRIu64,
				     key_id(kp.pk, ida), t->version,
				     prev->version);
		else
			cr_error_set(&err, EKEYREJECTED,
				     "%s is not a root key of trust root "
				     "v%" PRIu64 " (a key of the previous "
				     "root signs with --previous OLD_TRUST)",
				     key_id(kp.pk, ida), t->version);
		goto fail;
	}
	if (cr_trust_sign(t, &kp, &err) < 0 || cr_trust_save(t, path, &err) < 0)
		goto fail;
	printf("signed by %s\n", key_id(kp.pk, ida));
	trust_say_status(t, prev, path);
	rc = 0;
	goto out;
fail:
	rc = fleet_report(err);
out:
	cr_keypair_wipe(&kp);
	cr_trust_free(t);
	cr_trust_free(prev);
	return rc;
}

static void trust_role_json(const char *name, const struct cr_fleet_keys *k)
{
	char ida[CR_ID_STRMAX];

	printf("\"%s\":{\"threshold\":%" PRIu32 ",\"keys\":[", name,
	       k->threshold);
	for (size_t i = 0; i < k->n; i++)
		printf("%s\"%s\"", i ? "," : "", key_id(k->pk[i], ida));
	printf("]},");
}

static void trust_role_text(const char *name, const struct cr_fleet_keys *k,
			    const struct cr_trust *t)
{
	char ida[CR_ID_STRMAX];

	printf("%s keys (%" PRIu32 " of %zu):\n", name, k->threshold, k->n);
	for (size_t i = 0; i < k->n; i++) {
		int signed_it = 0;

		for (size_t j = 0; j < t->n_signers; j++)
			signed_it |= memcmp(t->signer[j], k->pk[i], CR_PKLEN) ==
				     0;
		printf("  %s%s\n", key_id(k->pk[i], ida),
		       k == &t->root && signed_it ? "  signed" : "");
	}
}

static int trust_show(int argc, char **argv)
{
	struct cr_trust *t = NULL, *prev = NULL;
	struct cr_error *err = NULL, *why = NULL;
	const char *prev_path = NULL;
	char ida[CR_ID_STRMAX], when[40];
	int json = 0, valid;
	const struct fleet_opt opts[] = {
		{ "json", NULL, &json },
		{ "previous", &prev_path, NULL },
	};
	int rc = fleet_opts(argc, argv, opts, 2, trust_usage);

	if (rc >= 0)
		return rc;
	if (optind != argc - 1)
		return cl_fail(2, "usage: carrier trust show TRUST [--previous "
				  "OLD_TRUST] [--json]");
	if (cr_trust_load_draft(argv[optind], &t, &err) < 0 ||
	    (prev_path != NULL &&
	     cr_trust_load(prev_path, NULL, 0, &prev, &err) < 0)) {
		cr_trust_free(t);
		return fleet_report(err);
	}
	valid = cr_trust_check(t, prev, cr_now_unix(), &why) == 0;
	if (json) {
		printf("{\"version\":%" PRIu64 ",\"expires_unix\":%" PRIu64 ",",
		       t->version, t->expires_unix);
		trust_role_json("root", &t->root);
		trust_role_json("release", &t->release);
		trust_role_json("rollout", &t->rollout);
		printf("\"signers\":[");
		for (size_t i = 0; i < t->n_signers; i++)
			printf("%s\"%s\"", i ? "," : "",
			       key_id(t->signer[i], ida));
		printf("],\"valid\":%s,\"reason\":", valid ? "true" : "false");
		json_str(valid ? "" : cr_error_msg(why));
		printf("}\n");
	} else {
		format_time(t->expires_unix, when, sizeof(when));
		printf("trust root v%" PRIu64 "\nexpires: %s\n", t->version,
		       when);
		trust_role_text("root", &t->root, t);
		trust_role_text("release", &t->release, t);
		trust_role_text("rollout", &t->rollout, t);
		for (size_t i = 0; i < t->n_signers; i++)
			if (!cr_trust_has_key(t, CR_ROLE_ROOT, t->signer[i]))
				printf("also signed by %s%s\n",
				       key_id(t->signer[i], ida),
				       prev != NULL && cr_trust_has_key(
							       prev,
							       CR_ROLE_ROOT,
							       t->signer[i]) ?
					       " (previous root)" :
					       " (not a root key)");
		if (valid)
			printf("valid%s\n",
			       prev != NULL ? " as a rotation" : "");
		else
			printf("not valid: %s\n", cr_error_msg(why));
	}
	cr_error_free(why);
	cr_trust_free(t);
	cr_trust_free(prev);
	return 0;
}

int cl_cmd_trust(int argc, char **argv)
{
	if (argc < 2)
		return cl_fail(2, "usage: carrier trust init|sign|show ...");
	if (cl_is_help(argv[1])) {
		fputs(trust_usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return trust_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return trust_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return trust_show(argc - 1, argv + 1);
	return cl_fail(2, "unknown trust command '%s' (init, sign, show)",
		       argv[1]);
}

/* ---- the origin's manifest ----------------------------------------------- */

struct fetch {
	struct event_base *base;
	struct evbuffer *body;
	int status; /* HTTP status, -1: no answer */
};

static void fetch_done(struct evhttp_request *req, void *arg)
{
	struct fetch *f = arg;

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		f->status = -1;
	} else {
		f->status = evhttp_request_get_response_code(req);
		evbuffer_add_buffer(f->body,
				    evhttp_request_get_input_buffer(req));
	}
	event_base_loopexit(f->base, NULL);
}

/* GET url into a new buffer (at most max bytes). */
static int http_get(const char *url, size_t max, uint8_t **out, size_t *len,
		    struct cr_error **err)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	struct evhttp_connection *conn = NULL;
	struct evhttp_request *req;
	struct fetch f = { 0 };
	const char *host, *path;
	char hostbuf[256];
	int port, rc = -1;
	size_t n;

	if (u == NULL || (host = evhttp_uri_get_host(u)) == NULL ||
	    host[0] == '\0') {
		cr_error_set(err, FLEET_EUSAGE, "'%s' is not an http:// URL",
			     url);
		goto out;
	}
	snprintf(hostbuf, sizeof(hostbuf), "%s",
		 host[0] == '[' ? host + 1 : host);
	n = strlen(hostbuf);
	if (n > 0 && hostbuf[n - 1] == ']')
		hostbuf[n - 1] = '\0';
	port = evhttp_uri_get_port(u);
	path = evhttp_uri_get_path(u);
	f.base = event_base_new();
	f.body = evbuffer_new();
	if (f.base == NULL || f.body == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	conn = evhttp_connection_base_new(f.base, NULL, hostbuf,
					  (uint16_t)(port > 0 ? port : 80));
	req = conn != NULL ? evhttp_request_new(fetch_done, &f) : NULL;
	if (req == NULL) {
		cr_error_set(err, ENOMEM, "cannot reach %s", url);
		goto out;
	}
	evhttp_connection_set_timeout(conn, FLEET_HTTP_TIMEOUT_S);
	evhttp_connection_set_max_body_size(conn, (ev_ssize_t)max);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  hostbuf);
	if (evhttp_make_request(conn, req, EVHTTP_REQ_GET,
				path != NULL && path[0] != '\0' ? path : "/") !=
	    0) {
		cr_error_set(err, EIO, "cannot request %s", url);
		goto out;
	}
	event_base_dispatch(f.base);
	if (f.status < 0) {
		cr_error_set(err, EHOSTUNREACH,
			     "%s: no answer (the origin is down, or the "
			     "manifest is larger than %zu bytes)",
			     url, max);
		goto out;
	}
	if (f.status != 200) {
		cr_error_set(err, ENOENT, "%s: HTTP %d%s", url, f.status,
			     f.status == 404 ? " (not published there)" : "");
		goto out;
	}
	*len = evbuffer_get_length(f.body);
	*out = malloc(*len + 1);
	if (*out == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	evbuffer_remove(f.body, *out, *len);
	rc = 0;
out:
	if (conn != NULL)
		evhttp_connection_free(conn);
	if (f.body != NULL)
		evbuffer_free(f.body);
	if (f.base != NULL)
		event_base_free(f.base);
	if (u != NULL)
		evhttp_uri_free(u);
	return rc;
}

/*
 * Reads and decodes NAME's manifest from the origin (docs/archon.md,
 * "Origin layout": refs/REPO/TAG), over http:// or from the published
 * folder.
 */
static int fetch_manifest(const char *origin, const char *name,
			  struct ar_manifest **m, struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *buf = NULL;
	char rel[AR_NAME_MAX + 16], url[PATH_MAX + AR_NAME_MAX + 32];
	size_t len, ol = strlen(origin);
	const char *slash;

	snprintf(rel, sizeof(rel), "refs/%s", name);
	*strrchr(rel, ':') = '/';
	while (ol > 1 && origin[ol - 1] == '/')
		ol--;
	slash = "/";
	if (strncmp(origin, "https://", 8) == 0)
		return cr_error_set(err, FLEET_EUSAGE,
				    "%s: https origins are not read here; give "
				    "the published folder (a path) and "
				    "--origin %s for the devices",
				    origin, origin);
	if (strncmp(origin, "http://", 7) == 0) {
		snprintf(url, sizeof(url), "%.*s%s%s", (int)ol, origin, slash,
			 rel);
		if (http_get(url, AR_MANIFEST_MAX_BYTES, &buf, &len, err) < 0)
			return -1;
	} else {
		const char *p = origin;
		char *text = NULL;

		if (strncmp(p, "file://", 7) == 0) {
			p += 7;
			ol -= 7;
		}
		snprintf(url, sizeof(url), "%.*s%s%s", (int)ol, p, slash, rel);
		if (cr_read_file(url, AR_MANIFEST_MAX_BYTES, &text, &len, err) <
		    0)
			return cr_error_wrap(err, "the manifest of %s at %s",
					     name, origin);
		buf = (uint8_t *)text;
	}
	if (ar_manifest_decode(buf, len, m, err) < 0)
		return cr_error_wrap(err, "the manifest of %s at %s", name,
				     url);
	if (strcmp((*m)->name, name) != 0) {
		cr_error_set(err, EBADMSG, "%s names %s, not %s", url,
			     (*m)->name, name);
		*m = ar_manifest_free(*m);
		return -1;
	}
	return 0;
}

/* ---- release --------------------------------------------------------------- */

static int arch_known(const char *a)
{
	for (size_t i = 0; i < sizeof(fleet_arches) / sizeof(fleet_arches[0]);
	     i++)
		if (strcmp(a, fleet_arches[i]) == 0)
			return 1;
	return 0;
}

static int parse_arches(const char *s, struct cr_release *r,
			struct cr_error **err)
{
	char buf[CR_FLEET_ARCH_MAX * CR_FLEET_ARCH_LEN * 2];
	char *save = NULL, *a;

	if (strlen(s) >= sizeof(buf))
		return cr_error_set(err, FLEET_EUSAGE, "--arch: too long");
	snprintf(buf, sizeof(buf), "%s", s);
	for (a = strtok_r(buf, ",", &save); a != NULL;
	     a = strtok_r(NULL, ",", &save)) {
		if (!arch_known(a))
			return cr_error_set(err, FLEET_EUSAGE,
					    "--arch: unknown architecture "
					    "'%s'; use Debian's names (amd64, "
					    "arm64, armel, armhf, i386, mips, "
					    "mipsel, ...)",
					    a);
		for (size_t i = 0; i < r->n_arch; i++)
			if (strcmp(r->arch[i], a) == 0)
				return cr_error_set(err, FLEET_EUSAGE,
						    "--arch: %s is given twice",
						    a);
		if (r->n_arch == CR_FLEET_ARCH_MAX)
			return cr_error_set(err, FLEET_EUSAGE,
					    "--arch: at most %d architectures",
					    (int)CR_FLEET_ARCH_MAX);
		snprintf(r->arch[r->n_arch++], CR_FLEET_ARCH_LEN, "%s", a);
	}
	if (r->n_arch == 0)
		return cr_error_set(err, FLEET_EUSAGE,
				    "--arch: name at least one architecture");
	return 0;
}

/* The trust root a --trust names, which must be valid now. */
static int load_trust(const char *path, struct cr_trust **t,
		      struct cr_error **err)
{
	if (path == NULL)
		return 0;
	return cr_trust_load(path, NULL, cr_now_unix(), t, err);
}

static int check_release_key(const struct cr_trust *t, const uint8_t *pk,
			     struct cr_error **err)
{
	char ida[CR_ID_STRMAX];

	if (t == NULL || cr_trust_has_key(t, CR_ROLE_RELEASE, pk))
		return 0;
	return cr_error_set(err, EKEYREJECTED,
			    "release key %s is not a release key of trust "
			    "root v%" PRIu64,
			    key_id(pk, ida), t->version);
}

/* After writing a release: its signers and, with a trust root, what it
 * still needs. */
static void release_say_status(const struct cr_release *r,
			       const struct cr_trust *t, const char *path)
{
	struct cr_error *err = NULL;

	printf("release %s %s in %s: %zu signature%s\n", r->app, r->version,
	       path, r->n_signers, r->n_signers == 1 ? "" : "s");
	if (t == NULL)
		return;
	if (cr_release_check_trust(r, t, &err) == 0) {
		printf("valid against trust root v%" PRIu64 "\n", t->version);
		return;
	}
	printf("not yet valid: %s\nadd signatures with: carrier release sign "
	       "%s --key RELEASE_KEY\n",
	       cr_error_msg(err), path);
	cr_error_free(err);
}

static int release_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "counter", required_argument, NULL, 'c' },
		{ "arch", required_argument, NULL, 'a' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "trust", required_argument, NULL, 't' },
		{ "origin", required_argument, NULL, 'u' },
		{ "port", required_argument, NULL, 'p' },
		{ "health", required_argument, NULL, 'H' },
		{ "env", required_argument, NULL, 'e' },
		{ "reload-signal", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *origin = NULL, *name = NULL, *key_path = NULL, *out = NULL;
	const char *trust_path = NULL, *colon;
	struct cr_release *in = NULL, *r = NULL;
	struct cr_trust *t = NULL;
	struct ar_manifest *m = NULL;
	struct cr_error *err = NULL;
	struct cr_keypair kp = { 0 };
	struct ar_id cfg;
	char ida[CR_ID_STRMAX], hex[AR_ID_HEX];
	int c, rc = 1, have_counter = 0;
	uint64_t v;

	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return cl_fail(1, "out of memory");
	/* APP:VERSION comes first; options stop at "--" (then ARGS). */
	colon = strchr(argv[0], ':');
	if (colon == NULL || colon == argv[0] || colon[1] == '\0' ||
	    (size_t)(colon - argv[0]) >= sizeof(in->app) ||
	    strlen(colon + 1) >= sizeof(in->version)) {
		rc = cl_fail(2, "'%s' is not APP:VERSION", argv[0]);
		goto out;
	}
	memcpy(in->app, argv[0], (size_t)(colon - argv[0]));
	snprintf(in->version, sizeof(in->version), "%s", colon + 1);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(release_usage, stdout);
			rc = 0;
			goto out;
		case 'i':
			/* --image ORIGIN_URL NAME: two words. */
			if (optind >= argc || argv[optind][0] == '-') {
				rc = cl_fail(2, "--image takes ORIGIN_URL "
						"NAME");
				goto out;
			}
			origin = optarg;
			name = argv[optind++];
			break;
		case 'c':
			if (cr_parse_u64(optarg, 0, UINT64_MAX, &v) < 0) {
				rc = cl_fail(2,
					     "--counter: '%s' is not a "
					     "number",
					     optarg);
				goto out;
			}
			in->counter = v;
			have_counter = 1;
			break;
		case 'a':
			if (parse_arches(optarg, in, &err) < 0)
				goto fail;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 't':
			trust_path = optarg;
			break;
		case 'u':
			if (in->n_origins == CR_FLEET_ORIGINS_MAX ||
			    strlen(optarg) >= CR_FLEET_URL_MAX) {
				rc = cl_fail(2,
					     "--origin: at most %d URLs "
					     "under %d characters",
					     (int)CR_FLEET_ORIGINS_MAX,
					     (int)CR_FLEET_URL_MAX);
				goto out;
			}
			snprintf(in->origins[in->n_origins++], CR_FLEET_URL_MAX,
				 "%s", optarg);
			break;
		case 'p':
			if (in->n_ports == CR_FLEET_PORTS_MAX ||
			    cr_parse_u64(optarg, 1, 65535, &v) < 0) {
				rc = cl_fail(2,
					     "--port: '%s' is not 1..65535 "
					     "(at most %d ports)",
					     optarg, (int)CR_FLEET_PORTS_MAX);
				goto out;
			}
			in->ports[in->n_ports++] = (uint16_t)v;
			break;
		case 'H':
			if (cr_health_parse(optarg, &in->health, &err) < 0) {
				err->code = FLEET_EUSAGE;
				goto fail;
			}
			break;
		case 'R':
			if (cr_reload_signal_parse(optarg, &in->reload_signal,
						   &err) < 0) {
				err->code = FLEET_EUSAGE;
				goto fail;
			}
			break;
		case 'e':
			if (in->n_env == CR_FLEET_ENV_MAX ||
			    strchr(optarg, '=') == NULL || optarg[0] == '=') {
				rc = cl_fail(2,
					     "--env: '%s' is not K=V (at "
					     "most %d)",
					     optarg, (int)CR_FLEET_ENV_MAX);
				goto out;
			}
			in->env[in->n_env++] = optarg;
			break;
		default:
			rc = cl_bad_option(argv);
			goto out;
		}
	}
	/* What follows "--" is the command line. */
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		rc = cl_fail(2,
			     "unexpected '%s'; the command's arguments go "
			     "after --",
			     argv[optind]);
		goto out;
	}
	if (argc - optind > CR_FLEET_ARGS_MAX) {
		rc = cl_fail(2, "at most %d arguments", (int)CR_FLEET_ARGS_MAX);
		goto out;
	}
	for (int i = optind; i < argc; i++)
		in->args[in->n_args++] = argv[i];
	if (origin == NULL || !have_counter || in->n_arch == 0 ||
	    key_path == NULL || out == NULL) {
		rc = cl_fail(2, "usage: carrier release APP:VERSION --image "
				"ORIGIN_URL NAME --counter N --arch ARCH --key "
				"RELEASE_KEY -o RELEASE (see carrier release "
				"--help)");
		goto out;
	}
	if (!ar_name_valid(name) || strlen(name) >= sizeof(in->image)) {
		rc = cl_fail(2,
			     "--image: '%s' is not an Archon NAME "
			     "(REPO:TAG)",
			     name);
		goto out;
	}
	snprintf(in->image, sizeof(in->image), "%s", name);
	if (in->n_origins == 0) {
		char abs[PATH_MAX];
		const char *o = origin;

		/* A folder given as a relative path is stored absolute. */
		if (strstr(origin, "://") == NULL &&
		    realpath(origin, abs) != NULL)
			o = abs;
		if (strlen(o) >= CR_FLEET_URL_MAX) {
			rc = cl_fail(2,
				     "ORIGIN_URL is longer than %d "
				     "characters",
				     (int)CR_FLEET_URL_MAX - 1);
			goto out;
		}
		memcpy(in->origins[0], o, strlen(o) + 1);
		in->n_origins = 1;
	}
	if (load_trust(trust_path, &t, &err) < 0 ||
	    cr_keypair_load_as(key_path, CR_ID_VENDOR, &kp, &err) < 0 ||
	    check_release_key(t, kp.pk, &err) < 0 ||
	    fetch_manifest(origin, name, &m, &err) < 0)
		goto fail;
	memcpy(in->index_id, m->index.b, sizeof(in->index_id));
	ar_id_of(m->config, m->config_len, &cfg);
	memcpy(in->config_digest, cfg.b, sizeof(in->config_digest));
	if (cr_release_build(in, &kp, &r, &err) < 0 ||
	    cr_release_save(r, out, &err) < 0)
		goto fail;
	printf("release %s %s (counter %" PRIu64 ") pins %s index %s, signed "
	       "by %s\n",
	       r->app, r->version, r->counter, r->image,
	       ar_id_hex(&m->index, hex), key_id(kp.pk, ida));
	release_say_status(r, t, out);
	rc = 0;
	goto out;
fail:
	rc = fleet_report(err);
out:
	cr_keypair_wipe(&kp);
	ar_manifest_free(m);
	cr_release_free(r);
	cr_trust_free(t);
	free(in);
	return rc;
}

static int release_sign(int argc, char **argv)
{
	const char *key_path = NULL, *trust_path = NULL, *path;
	const struct fleet_opt opts[] = {
		{ "key", &key_path, NULL },
		{ "trust", &trust_path, NULL },
	};
	struct cr_release *r = NULL;
	struct cr_trust *t = NULL;
	struct cr_error *err = NULL;
	struct cr_keypair kp = { 0 };
	char ida[CR_ID_STRMAX];
	int rc = fleet_opts(argc, argv, opts, 2, release_usage);

	if (rc >= 0)
		return rc;
	if (key_path == NULL || optind != argc - 1)
		return cl_fail(2, "usage: carrier release sign RELEASE --key "
				  "RELEASE_KEY [--trust TRUST]");
	path = argv[optind];
	if (load_trust(trust_path, &t, &err) < 0 ||
	    cr_release_load(path, NULL, &r, &err) < 0 ||
	    cr_keypair_load_as(key_path, CR_ID_VENDOR, &kp, &err) < 0 ||
	    check_release_key(t, kp.pk, &err) < 0 ||
	    cr_release_sign(r, &kp, &err) < 0 ||
	    cr_release_save(r, path, &err) < 0) {
		rc = fleet_report(err);
		goto out;
	}
	printf("signed by %s\n", key_id(kp.pk, ida));
	release_say_status(r, t, path);
	rc = 0;
out:
	cr_keypair_wipe(&kp);
	cr_release_free(r);
	cr_trust_free(t);
	return rc;
}

static void release_show_json(const struct cr_release *r,
			      const struct cr_trust *t, int valid,
			      const struct cr_error *why)
{
	char hex[65], ida[CR_ID_STRMAX], h[300];

	printf("{\"app\":");
	json_str(r->app);
	printf(",\"version\":");
	json_str(r->version);
	printf(",\"counter\":%" PRIu64 ",\"arch\":[", r->counter);
	for (size_t i = 0; i < r->n_arch; i++)
		printf("%s\"%s\"", i ? "," : "", r->arch[i]);
	printf("],\"image\":");
	json_str(r->image);
	printf(",\"origins\":[");
	for (size_t i = 0; i < r->n_origins; i++) {
		printf(i ? "," : "");
		json_str(r->origins[i]);
	}
	cr_hex(r->index_id, 32, hex);
	printf("],\"index\":\"%s\",", hex);
	cr_hex(r->config_digest, 32, hex);
	printf("\"config_digest\":\"%s\",", hex);
	cr_hex(r->digest, 32, hex);
	printf("\"id\":\"%s\",\"args\":[", hex);
	for (size_t i = 0; i < r->n_args; i++) {
		printf(i ? "," : "");
		json_str(r->args[i]);
	}
	printf("],\"env\":[");
	for (size_t i = 0; i < r->n_env; i++) {
		printf(i ? "," : "");
		json_str(r->env[i]);
	}
	printf("],\"ports\":[");
	for (size_t i = 0; i < r->n_ports; i++)
		printf("%s%u", i ? "," : "", (unsigned)r->ports[i]);
	cr_health_format(&r->health, h, sizeof(h));
	printf("],\"health\":");
	json_str(h);
	printf(",\"reload_signal\":");
	json_str(cr_reload_signal_name(r->reload_signal));
	printf(",\"created_unix\":%" PRIu64 ",\"signers\":[", r->created_unix);
	for (size_t i = 0; i < r->n_signers; i++)
		printf("%s\"%s\"", i ? "," : "", key_id(r->signer[i], ida));
	printf("]");
	if (t != NULL) {
		printf(",\"trust_version\":%" PRIu64
		       ",\"valid\":%s,\"reason\":",
		       t->version, valid ? "true" : "false");
		json_str(valid ? "" : cr_error_msg(why));
	}
	printf("}\n");
}

static void release_show_text(const struct cr_release *r,
			      const struct cr_trust *t, int valid,
			      const struct cr_error *why)
{
	char hex[65], ida[CR_ID_STRMAX], h[300], when[40];

	printf("release %s %s\ncounter: %" PRIu64 "\narchitectures: ", r->app,
	       r->version, r->counter);
	for (size_t i = 0; i < r->n_arch; i++)
		printf("%s%s", i ? "," : "", r->arch[i]);
	printf("\nimage: %s\n", r->image);
	for (size_t i = 0; i < r->n_origins; i++)
		printf("origin: %s\n", r->origins[i]);
	cr_hex(r->index_id, 32, hex);
	printf("index: %s\n", hex);
	cr_hex(r->config_digest, 32, hex);
	printf("config digest: %s\n", hex);
	cr_hex(r->digest, 32, hex);
	printf("id: %s\n", hex);
	if (r->n_args > 0) {
		printf("args:");
		for (size_t i = 0; i < r->n_args; i++)
			printf(" %s", r->args[i]);
		printf("\n");
	}
	for (size_t i = 0; i < r->n_env; i++)
		printf("env: %s\n", r->env[i]);
	if (r->n_ports > 0) {
		printf("ports:");
		for (size_t i = 0; i < r->n_ports; i++)
			printf(" %u", (unsigned)r->ports[i]);
		printf("\n");
	}
	cr_health_format(&r->health, h, sizeof(h));
	printf("health: %s\n", h[0] != '\0' ? h : "none (the process lives)");
	printf("config applied by: %s%s\n",
	       r->reload_signal != 0 ? "SIG" : "restarting the app",
	       cr_reload_signal_name(r->reload_signal));
	format_time(r->created_unix, when, sizeof(when));
	printf("created: %s\nsigners:\n", when);
	for (size_t i = 0; i < r->n_signers; i++) {
		printf("  %s", key_id(r->signer[i], ida));
		if (t != NULL)
			printf("%s", cr_trust_has_key(t, CR_ROLE_RELEASE,
						      r->signer[i]) ?
					     "  release key" :
					     "  not a release key (ignored)");
		printf("\n");
	}
	if (t == NULL)
		return;
	if (valid)
		printf("valid: %zu of %" PRIu32
		       " release signatures of trust root v%" PRIu64 "\n",
		       cr_fleet_count_signers(&t->release,
					      (const uint8_t(*)[CR_PKLEN])
						      r->signer,
					      r->n_signers),
		       t->release.threshold, t->version);
	else
		printf("not valid: %s\n", cr_error_msg(why));
}

static int release_show(int argc, char **argv)
{
	const char *trust_path = NULL;
	struct cr_release *r = NULL;
	struct cr_trust *t = NULL;
	struct cr_error *err = NULL, *why = NULL;
	int json = 0, valid = 0;
	const struct fleet_opt opts[] = {
		{ "trust", &trust_path, NULL },
		{ "json", NULL, &json },
	};
	int rc = fleet_opts(argc, argv, opts, 2, release_usage);

	if (rc >= 0)
		return rc;
	if (optind != argc - 1)
		return cl_fail(2, "usage: carrier release show RELEASE "
				  "[--trust TRUST] [--json]");
	if (load_trust(trust_path, &t, &err) < 0 ||
	    cr_release_load(argv[optind], NULL, &r, &err) < 0) {
		cr_trust_free(t);
		return fleet_report(err);
	}
	if (t != NULL)
		valid = cr_release_check_trust(r, t, &why) == 0;
	if (json)
		release_show_json(r, t, valid, why);
	else
		release_show_text(r, t, valid, why);
	cr_error_free(why);
	cr_release_free(r);
	cr_trust_free(t);
	return 0;
}

int cl_cmd_release(int argc, char **argv)
{
	if (argc < 2)
		return cl_fail(2, "usage: carrier release APP:VERSION ... | "
				  "sign | show (see carrier release --help)");
	if (cl_is_help(argv[1])) {
		fputs(release_usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "sign") == 0)
		return release_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return release_show(argc - 1, argv + 1);
	return release_create(argc - 1, argv + 1);
}

/* ---- fleet credentials ----------------------------------------------------- */

static const char fleet_usage[] =
	"usage: carrier fleet credential DEVICE_ID --trust TRUST --key "
	"ROLLOUT_KEY [--key ...]\n"
	"           [--expires DURATION] -o CRED\n"
	"\n"
	"A fleet credential lets the device DEVICE_ID reach the archon serve "
	"ports of the\nfleet's other devices with its own key (`carrier "
	"connect --credential CRED`,\nwhich archon pull runs for its peers); "
	"each peer's agent, given the trust root\nand its serve ports, checks "
	"it.  It is signed by the trust root's rollout\nthreshold of rollout "
	"keys (at most 2: it travels in a handshake) and expires\n(--expires, "
	"default 30d).\n";

int cl_cmd_fleet(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trust", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "expires", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *trust_path = NULL, *out = NULL, *keys[2];
	struct cr_keypair kps[2];
	const struct cr_keypair *signers[2];
	struct cr_fleet_cred *cred = NULL, *check = NULL;
	struct cr_trust *t = NULL;
	struct cr_error *err = NULL;
	struct cr_id dev;
	uint64_t expires = 30 * 86400;
	size_t n_keys = 0, n_loaded = 0;
	char ids[CR_ID_STRMAX], when[40];
	int c, rc = 1;

	if (argc >= 2 && cl_is_help(argv[1])) {
		fputs(fleet_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "credential") != 0)
		return cl_fail(2, "usage: carrier fleet credential DEVICE_ID "
				  "--trust TRUST --key ROLLOUT_KEY -o CRED");
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(fleet_usage, stdout);
			return 0;
		case 't':
			trust_path = optarg;
			break;
		case 'k':
			if (n_keys == 2)
				return cl_fail(2, "at most 2 --key: a fleet "
						  "credential travels in a "
						  "handshake");
			keys[n_keys++] = optarg;
			break;
		case 'e':
			if (parse_expiry(optarg, &expires) < 0 || expires == 0)
				return cl_fail(2,
					       "--expires: '%s' is not a "
					       "duration such as 30d or 12h",
					       optarg);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return cl_bad_option(argv);
		}
	}
	if (optind != argc - 1 || trust_path == NULL || n_keys == 0 ||
	    out == NULL)
		return cl_fail(2, "usage: carrier fleet credential DEVICE_ID "
				  "--trust TRUST --key ROLLOUT_KEY -o CRED");
	if (cr_id_parse_as(argv[optind], CR_ID_DEVICE, &dev, &err) < 0) {
		err->code = FLEET_EUSAGE;
		return fleet_report(err);
	}
	if (load_trust(trust_path, &t, &err) < 0)
		goto fail;
	for (size_t i = 0; i < n_keys; i++) {
		if (cr_keypair_load_as(keys[i], CR_ID_VENDOR, &kps[i], &err) <
		    0)
			goto fail;
		n_loaded++;
		signers[i] = &kps[i];
		if (!cr_trust_has_key(t, CR_ROLE_ROLLOUT, kps[i].pk)) {
			cr_error_set(&err, EKEYREJECTED,
				     "%s is not a rollout key of trust root "
				     "v%" PRIu64,
				     key_id(kps[i].pk, ids), t->version);
			goto fail;
		}
	}
	/* What a peer will check, checked before writing. */
	if (cr_cred_build(&dev, cr_now_unix() + expires, signers, n_keys, &cred,
			  &err) < 0 ||
	    cr_cred_decode(cred->blob, cred->blob_len, t, cr_now_unix(), &check,
			   &err) < 0 ||
	    cr_cred_save(cred, out, &err) < 0)
		goto fail;
	format_time(cred->expires_unix, when, sizeof(when));
	printf("fleet credential of %s (trust root v%" PRIu64
	       "), expires %s, written to %s\n",
	       cr_id_format(&dev, ids), t->version, when, out);
	rc = 0;
	goto out;
fail:
	rc = fleet_report(err);
out:
	for (size_t i = 0; i < n_loaded; i++)
		cr_keypair_wipe(&kps[i]);
	cr_cred_free(cred);
	cr_cred_free(check);
	cr_trust_free(t);
	return rc;
}
