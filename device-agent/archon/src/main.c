/*
 * archon: the command line of the Archon store (see docs/archon.md).
 * Conventions (docs/cli-conventions.md): help on stdout and exit 0,
 * usage errors exit 2 with "Try 'archon --help'.", runtime failures exit 1.
 */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cal.h"
#include "cr/config.h"
#include "cr/util.h"
#include "maint.h"
#include "store-internal.h"

enum {
	EXIT_USAGE = 2,
	EXIT_NO_CONFIG = 3, /* archon config: the version has no OCI config */
	RUN_USAGE = -2,	    /* a run_* result: a usage error in *err */
};

static const char usage_text[] =
	"usage: archon [--store DIR] COMMAND ARGS\n"
	"       archon --help | --version\n"
	"       archon COMMAND --help\n"
	"\n"
	"  import SOURCE NAME [--force]\n"
	"                           import SOURCE as version NAME (REPO:TAG); SOURCE is\n"
	"                           DIR, oci:PATH[:TAG], oci-archive:FILE,\n"
	"                           docker-archive:FILE or docker://HOST/REPO:TAG; an\n"
	"                           existing NAME is refused unless --force\n"
	"  publish NAME --to DIR [--key KEY] [--bases N]\n"
	"                           write NAME as static files (chunks, index, signed\n"
	"                           manifest, deltas from the N earlier tags, default 2)\n"
	"  pull URL NAME (--publisher-key KEY.pub | --insecure) [--allow-downgrade]\n"
	"       [--ring RING | --no-ring] [--peers [--key KEY] [--carrier PATH]]\n"
	"       [--reserve SIZE] [--phases]\n"
	"                           fetch NAME from a published origin, only what is\n"
	"                           missing; the manifest must be signed by the\n"
	"                           publisher key (or $ARCHON_PUBLISHER_KEY) and not\n"
	"                           be older than the one held\n"
	"  pull NAME [OPTIONS]      the same from the store's origin (archon remote)\n"
	"  remote [set URL | unset] the store's origin: print, record or forget it\n"
	"                           (exit 3 when none is recorded)\n"
	"  serve --listen 127.0.0.1:PORT [--ring RING --key DEVICE_KEY]\n"
	"                           serve the store's chunks and indexes to peers\n"
	"  checkout NAME DIR        build NAME's tree in DIR (hard links to the store)\n"
	"  diff A B                 what a device holding A downloads to get B\n"
	"  ls                       list the versions held\n"
	"  show [--json] NAME       describe one version\n"
	"  config NAME              print NAME's OCI image config (JSON); exit 3 and\n"
	"                           print nothing when it has none\n"
	"  du                       disk used by the store\n"
	"  gc [--keep N]            keep the newest N versions of each repository (default\n"
	"                           all), remove what no kept version needs\n"
	"  verify                   re-hash every object and chunk\n"
	"  rm NAME                  forget version NAME, then gc (checkouts keep\n"
	"                           their hard links)\n"
	"  link --name NAME [--sysroot DIR] [-L DIR]... [--dlopen LIB]...\n"
	"       [--prefix DIR] [--key KEY] [--compat] [--force] EXE...\n"
	"                           store EXE and the exact libraries it loads as\n"
	"                           version NAME, each named by its content hash\n"
	"  run [--publisher-key KEY.pub] [--exe EXE] [--no-verify] NAME [ARGS...]\n"
	"                           check a linked NAME (pulling it when missing)\n"
	"                           and execute it\n"
	"\n"
	"pull and publish show progress on standard error when it is a terminal;\n"
	"--progress forces it, -q/--quiet silences it.\n"
	"\n"
	"The store is DIR, else $ARCHON_STORE, else /var/lib/archon (root) or\n"
	"~/.local/share/archon.  Readers (checkout, diff, ls, show, config, du,\n"
	"verify, run) share it; a writer (import, publish, pull, gc, rm, link) has\n"
	"it alone, and a command that cannot have it within 2 s fails, naming the\n"
	"holder; serve holds it only while it answers a request.\n"
	"$ARCHON_CHUNK=MIN:AVG:MAX sets the chunk sizes of new content (default\n"
	"2048:8192:32768).\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error, 3 (config) no config,\n"
	"(remote) no origin recorded.\n";

static const char help_import[] =
	"usage: archon import SOURCE NAME [--force]\n"
	"\n"
	"Imports SOURCE as version NAME (REPO:TAG).  SOURCE is a folder,\n"
	"oci:PATH[:TAG] (an OCI image layout), oci-archive:FILE,\n"
	"docker-archive:FILE or docker://HOST/REPO:TAG (a registry).\n"
	"\n"
	"  --force    replace NAME when the store already holds it (without it,\n"
	"             an existing NAME is refused)\n";

static const char help_publish[] =
	"usage: archon publish NAME --to DIR [--key KEY] [--bases N] [--progress|--quiet]\n"
	"\n"
	"Writes version NAME into DIR as static files any web server can serve:\n"
	"chunks/, indexes/, deltas/ and the manifest refs/REPO/TAG.\n"
	"\n"
	"  --to DIR      the origin's folder (required)\n"
	"  --key KEY     sign the manifest with this vendor key (devices refuse\n"
	"                unsigned manifests unless they pull with --insecure)\n"
	"  --bases N     deltas from the N earlier tags of the repository (0..16,\n"
	"                default 2)\n"
	"  --progress    progress on standard error even when it is not a terminal\n"
	"  -q, --quiet   no progress\n";

static const char help_pull[] =
	"usage: archon pull [URL] NAME (--publisher-key KEY.pub | --insecure)\n"
	"                  [--allow-downgrade] [--ring RING | --no-ring]\n"
	"                  [--peers [--key KEY] [--credential CRED] [--carrier PATH]]\n"
	"                  [--reserve SIZE] [--phases] [--progress|--quiet]\n"
	"\n"
	"Fetches version NAME from the origin URL (http://, https:// or file://;\n"
	"without URL the store's origin, see archon remote), only what the store\n"
	"lacks.  Chunks already fetched by a pull that was interrupted are kept\n"
	"and not fetched again.\n"
	"\n"
	"  --publisher-key KEY.pub  the manifest must be signed by this key\n"
	"                (default: $ARCHON_PUBLISHER_KEY); a pull without a key is\n"
	"                refused\n"
	"  --insecure    accept a manifest from anyone, signed or not (only when\n"
	"                you trust the origin and the path to it)\n"
	"  --allow-downgrade  accept a manifest older than the one held for NAME\n"
	"                (by default refused: an origin replaying an old version)\n"
	"  --ring RING   a Carrier ring configuration (default $ARCHON_RING):\n"
	"                chunks, indexes and deltas come through its shard cache\n"
	"  --no-ring     ignore $ARCHON_RING\n"
	"  --peers       first ask devices that announced the version (archon\n"
	"                serve), through carrier connect; --key KEY is its vendor\n"
	"                key (default: carrier's own), --carrier its program\n"
	"  --reserve SIZE  free space (bytes, or with K, M or G) that must remain\n"
	"                on the store's file system after the pull; checked once\n"
	"                the index is known, before anything is written (without\n"
	"                it the pull must merely fit); a refusal writes nothing\n"
	"  --phases      say the phases, one line each, as bolter run shows them:\n"
	"                the index, \"N shards with X (downloading M new shards\n"
	"                with Y)\", where shards come from, then the index id and\n"
	"                the version id (BLAKE2b-256 of the manifest), indented\n"
	"  --credential CRED  with --peers: reach the peers as a device of their\n"
	"                fleet (--key the device key, CRED its fleet credential,\n"
	"                carrier fleet credential) instead of with a vendor key\n"
	"  --progress    progress on standard error even when it is not a terminal\n"
	"  -q, --quiet   no progress\n";

static const char help_serve[] =
	"usage: archon serve --listen 127.0.0.1:PORT [--ring RING --key DEVICE_KEY]\n"
	"\n"
	"Serves the store's chunks and indexes to peers (who reach PORT with\n"
	"carrier connect) until SIGTERM.  With the ring and the device's Carrier\n"
	"key, announces each index held as a signed provider record on its\n"
	"shard nodes (at start, within 2 s of a pull or gc beside it, and\n"
	"every 20 minutes).  It holds the store only while it answers a request, so\n"
	"reads and writes (pull, gc) run beside it; a request that comes while a\n"
	"writer has the store is answered 503, and the peer asks elsewhere.\n";

static const char help_remote[] =
	"usage: archon remote\n"
	"       archon remote set URL\n"
	"       archon remote unset\n"
	"\n"
	"The store's origin: the URL (http://, https:// or file://) that `archon\n"
	"pull NAME` and `bolter run` of a missing image pull from when given none.\n"
	"Without arguments prints it; exit 3, printing nothing, when none is set.\n"
	"It is kept in the store's folder (DIR/remote).\n";

static const char help_checkout[] =
	"usage: archon checkout NAME DIR\n"
	"\n"
	"Builds NAME's tree in DIR (which must not exist, or be empty): regular\n"
	"files are hard links to the store's objects, so treat them as read-only.\n";

static const char help_diff[] =
	"usage: archon diff A B\n"
	"\n"
	"What a device holding version A downloads to get version B.\n";

static const char help_ls[] = "usage: archon ls\n\nLists the versions held.\n";

static const char help_show[] =
	"usage: archon show [--json] NAME\n"
	"\n"
	"Describes one version, and the disk its files take: its own (what\n"
	"removing it frees) and with what it shares with other versions.  With\n"
	"--json: one JSON object (name, index, created, signed_by, counts, bytes,\n"
	"chunks, disk_alone, disk_total, and the OCI image config under\n"
	"\"config\", null when the version has none).\n";

static const char help_config[] =
	"usage: archon config NAME\n"
	"\n"
	"Prints the OCI image config of version NAME (JSON, verbatim) on standard\n"
	"output.  A version without one (imported from a folder) prints nothing\n"
	"and exits 3; an unknown NAME exits 1.\n";

static const char help_du[] = "usage: archon du\n\nDisk used by the store.\n";

static const char help_gc[] =
	"usage: archon gc [--keep N]\n"
	"\n"
	"Keeps the newest N versions of each repository (1..1000; default: all)\n"
	"and removes what no kept version needs.\n";

static const char help_rm[] =
	"usage: archon rm NAME\n"
	"\n"
	"Forgets version NAME, then removes what no other version needs (gc).\n"
	"Checkouts keep their files: they are hard links.\n";

#ifdef AR_HAVE_LINK
static const char help_link[] =
	"usage: archon link --name NAME [--sysroot DIR] [-L DIR]... [--dlopen LIB]...\n"
	"                   [--prefix DIR] [--key KEY] [--compat] [--force] EXE...\n"
	"\n"
	"Content-addressed linking (docs/linking.md).  Resolves the libraries EXE\n"
	"loads the way the target's loader would, refuses an inconsistent set\n"
	"(two files for one soname, an interpreter and libc.so.6 from different\n"
	"glibc builds, mixed machines), and writes version NAME (REPO:TAG): every\n"
	"library unchanged and every executable as objects named by their\n"
	"BLAKE2b-256, plus a manifest, link.json.  Each executable is rewritten\n"
	"in one pass so that its interpreter and every library of its closure\n"
	"are named PREFIX/<hash>: the loader searches nothing.  Static\n"
	"executables are stored as they are.  Two links of the same files give\n"
	"the same bytes; publish and pull NAME as any version.\n"
	"\n"
	"  --name NAME      the version to write (required)\n"
	"  --sysroot DIR    the target's root: interpreter, default library folders\n"
	"                   and absolute DT_RPATH/DT_RUNPATH entries are under it\n"
	"  -L DIR, --library-path DIR\n"
	"                   searched first, as LD_LIBRARY_PATH would be\n"
	"  --dlopen LIB     a library the program dlopen()s (a soname or a path):\n"
	"                   stored with its dependencies and found in the store\n"
	"  --prefix DIR     where the objects are on the target (default: this\n"
	"                   store's cal/ folder, STORE/cal)\n"
	"  --key KEY        sign link.json with this vendor key (link.sig)\n"
	"  --compat         keep the executables unchanged; archon run starts\n"
	"                   them through the stored loader with --library-path\n"
	"  --force          replace an existing NAME\n";
#endif

static const char help_run[] =
	"usage: archon run [--publisher-key KEY.pub] [--exe EXE] [--no-verify] NAME [ARGS...]\n"
	"\n"
	"Executes a version written by archon link.  When the store lacks NAME it\n"
	"is pulled from the store's origin (archon remote), signed by the\n"
	"publisher key.  Before executing, every object of NAME is re-hashed and\n"
	"one that does not match is refused, naming it; LD_PRELOAD, LD_AUDIT and\n"
	"LD_LIBRARY_PATH are removed from the environment.  Arguments after NAME\n"
	"(or after --) go to the program.\n"
	"\n"
	"  --publisher-key KEY.pub  link.json (or the pulled version) must be\n"
	"                   signed by this key (default $ARCHON_PUBLISHER_KEY)\n"
	"  --exe EXE        which executable of NAME (default: the first linked)\n"
	"  --no-verify      do not re-hash the objects (they are read-only files\n"
	"                   checked when written)\n";

static const char help_verify[] =
	"usage: archon verify\n\nRe-hashes every object and chunk.\n";

struct cmd {
	const char *name;
	enum ar_store_mode mode;
	int (*run)(struct ar_store *st, int argc, char **argv,
		   struct cr_error **err);
	const char *help;
	/* When the mode depends on the arguments (NULL: mode). */
	enum ar_store_mode (*mode_of)(int argc, char **argv);
};

static int usage_err(struct cr_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_err(struct cr_error **err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cr_error_set(err, EINVAL, "%s", msg);
	return RUN_USAGE;
}

/* Positional arguments of a command taking exactly n and no option. */
static int exactly(const char *cmd, int argc, char **argv, int n,
		   struct cr_error **err)
{
	for (int i = 0; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_err(err, "%s: unknown option '%s'", cmd, argv[i]);
	if (argc != n)
		return usage_err(err, "%s: wants %d argument%s, got %d", cmd, n,
				 n == 1 ? "" : "s", argc);
	return 0;
}

/* --progress / --quiet: 1 when argv[i] is one of them (setting *p). */
static int progress_opt(const char *a, int *p)
{
	if (strcmp(a, "--progress") == 0)
		*p = 1;
	else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
		*p = 0;
	else
		return 0;
	return 1;
}

static int resolve_progress(int p)
{
	return p >= 0 ? p : isatty(STDERR_FILENO);
}

static int run_import(struct ar_store *st, int argc, char **argv,
		      struct cr_error **err)
{
	const char *pos[2] = { NULL, NULL };
	int npos = 0, force = 0, existed = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			force = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_err(err, "import: unknown option '%s'", argv[i]);
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			return usage_err(err, "import: too many arguments");
	}
	if (npos != 2)
		return usage_err(err, "import: give SOURCE and NAME");
	if (st == NULL)
		return 0;
	if (force) {
		struct ar_manifest *held = NULL;

		existed = ar_store_get_manifest(st, pos[1], &held, NULL) == 0;
		ar_manifest_free(held);
	}
	if (ar_import(st, pos[0], pos[1], force, err) < 0)
		return -1;
	printf("imported %s as %s%s\n", pos[0], pos[1],
	       existed ? " (replacing the version it named)" : "");
	return 0;
}

static int run_publish(struct ar_store *st, int argc, char **argv,
		       struct cr_error **err)
{
	const char *to = NULL, *key = NULL, *name = NULL;
	uint64_t bases = 2;
	int progress = -1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--bases") == 0 && i + 1 < argc) {
			if (cr_parse_u64(argv[++i], 0, 16, &bases) < 0)
				return usage_err(err, "publish: --bases wants 0..16");
		} else if (progress_opt(argv[i], &progress)) {
			continue;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_err(err, "publish: unknown option '%s' (or it lacks its value)",
					 argv[i]);
		else if (name == NULL)
			name = argv[i];
		else
			return usage_err(err, "publish: too many arguments");
	}
	if (name == NULL)
		return usage_err(err, "publish: give NAME");
	if (to == NULL)
		return usage_err(err, "publish: --to DIR is required");
	if (st == NULL)
		return 0;
	return ar_publish(st, name, to, key, (int)bases, resolve_progress(progress), err);
}

/* pull --reserve SIZE: bytes, or with a K, M or G suffix (binary). */
static const struct cr_config_key reserve_key[] = {
	CR_CONFIG_KEY_BYTES(struct ar_pull_opts, "reserve", reserve_bytes, 0,
			    UINT64_MAX, "a size (bytes, or with K, M or G)"),
};

static int run_pull(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	const char *pos[2] = { NULL, NULL };
	char remote[2048];
	struct ar_pull_opts o = { .ring_path = getenv("ARCHON_RING"),
				  .carrier = getenv("ARCHON_CARRIER"),
				  .publisher_key = getenv("ARCHON_PUBLISHER_KEY"),
				  .progress = -1 };
	int npos = 0;

	if (o.ring_path != NULL && o.ring_path[0] == '\0')
		o.ring_path = NULL;
	if (o.publisher_key != NULL && o.publisher_key[0] == '\0')
		o.publisher_key = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc)
			o.ring_path = argv[++i];
		else if (strcmp(argv[i], "--no-ring") == 0)
			o.ring_path = NULL;
		else if (strcmp(argv[i], "--peers") == 0)
			o.peers = 1;
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			o.key = argv[++i];
		else if (strcmp(argv[i], "--credential") == 0 && i + 1 < argc)
			o.credential = argv[++i];
		else if (strcmp(argv[i], "--carrier") == 0 && i + 1 < argc)
			o.carrier = argv[++i];
		else if (strcmp(argv[i], "--publisher-key") == 0 && i + 1 < argc)
			o.publisher_key = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			o.insecure = 1;
		else if (strcmp(argv[i], "--allow-downgrade") == 0)
			o.allow_downgrade = 1;
		else if (strcmp(argv[i], "--phases") == 0)
			o.phases = 1;
		else if (strcmp(argv[i], "--reserve") == 0 && i + 1 < argc) {
			if (cr_config_set_key(reserve_key, 1, &o, "reserve", argv[++i],
					      err) < 0) {
				cr_error_wrap(err, "pull: --reserve");
				return RUN_USAGE;
			}
		} else if (progress_opt(argv[i], &o.progress))
			continue;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_err(err, "pull: unknown option '%s' (or it lacks its value)",
					 argv[i]);
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			return usage_err(err, "pull: too many arguments");
	}
	if (npos == 0)
		return usage_err(err, "pull: give [URL] NAME");
	if (o.publisher_key == NULL && !o.insecure)
		return usage_err(err,
				 "pull: no trusted publisher key: give --publisher-key KEY.pub "
				 "(or set ARCHON_PUBLISHER_KEY) to check the manifest's "
				 "signature, or --insecure to accept any manifest");
	if (st == NULL)
		return 0;
	if (npos == 1) {
		int rc = ar_store_get_remote(st, remote, sizeof(remote), err);

		if (rc == 0)
			cr_error_set(err, ENOENT,
				     "no origin to pull %s from: give its URL, or record "
				     "one with archon remote set URL",
				     pos[0]);
		if (rc <= 0)
			return -1;
		pos[1] = pos[0];
		pos[0] = remote;
	}
	if (o.insecure && o.publisher_key == NULL)
		fprintf(stderr, "archon: warning: --insecure: the manifest of %s is "
				"not checked against a publisher key\n", pos[1]);
	o.progress = resolve_progress(o.progress);
	return ar_pull(st, pos[0], pos[1], &o, stdout, err);
}

/* remote: prints the store's origin; set URL / unset change it. */
static int run_remote(struct ar_store *st, int argc, char **argv,
		      struct cr_error **err)
{
	char url[2048];
	int rc;

	if (argc == 2 && strcmp(argv[0], "set") == 0) {
		if (argv[1][0] == '-')
			return usage_err(err, "remote set: give a URL, not '%s'", argv[1]);
		return st == NULL ? 0 : ar_store_set_remote(st, argv[1], err);
	}
	if (argc == 1 && strcmp(argv[0], "unset") == 0)
		return st == NULL ? 0 : ar_store_set_remote(st, NULL, err);
	if (argc != 0)
		return usage_err(err, "remote: give nothing, set URL or unset");
	if (st == NULL)
		return 0;
	rc = ar_store_get_remote(st, url, sizeof(url), err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return EXIT_NO_CONFIG;
	printf("%s\n", url);
	return 0;
}

/* remote set and unset write the store; printing it reads. */
static enum ar_store_mode remote_mode(int argc, char **argv)
{
	(void)argv;
	return argc > 0 ? AR_STORE_WRITE : AR_STORE_READ;
}

static int run_serve(struct ar_store *st, int argc, char **argv,
		     struct cr_error **err)
{
	const char *listen = NULL, *ring = NULL, *key = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen = argv[++i];
		else if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc)
			ring = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else
			return usage_err(err, "serve: unknown argument '%s'", argv[i]);
	}
	if (listen == NULL)
		return usage_err(err, "serve: give --listen 127.0.0.1:PORT");
	if (st == NULL)
		return 0;
	return ar_serve(st, listen, ring, key, stdout, err);
}

static int run_checkout(struct ar_store *st, int argc, char **argv,
			struct cr_error **err)
{
	int rc = exactly("checkout", argc, argv, 2, err);

	if (rc < 0 || st == NULL)
		return rc;
	return ar_store_checkout(st, argv[0], argv[1], err);
}

static int run_diff(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	int rc = exactly("diff", argc, argv, 2, err);

	if (rc < 0 || st == NULL)
		return rc;
	return ar_cmd_diff(st, argv[0], argv[1], stdout, err);
}

static int run_ls(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	int rc = exactly("ls", argc, argv, 0, err);

	if (rc < 0 || st == NULL)
		return rc;
	return ar_cmd_ls(st, stdout, err);
}

static int run_show(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	const char *name = NULL;
	int json = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_err(err, "show: unknown option '%s'", argv[i]);
		else if (name == NULL)
			name = argv[i];
		else
			return usage_err(err, "show: too many arguments");
	}
	if (name == NULL)
		return usage_err(err, "show: give NAME");
	if (st == NULL)
		return 0;
	return ar_cmd_show(st, name, json, stdout, err);
}

static int run_config(struct ar_store *st, int argc, char **argv,
		      struct cr_error **err)
{
	int rc = exactly("config", argc, argv, 1, err);

	if (rc < 0 || st == NULL)
		return rc;
	rc = ar_cmd_config(st, argv[0], stdout, err);
	return rc == 1 ? EXIT_NO_CONFIG : rc;
}

static int run_du(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	int rc = exactly("du", argc, argv, 0, err);

	if (rc < 0 || st == NULL)
		return rc;
	return ar_cmd_du(st, stdout, err);
}

static int run_gc(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	uint64_t keep = 0;

	if (argc == 2 && strcmp(argv[0], "--keep") == 0) {
		if (cr_parse_u64(argv[1], 1, 1000, &keep) < 0)
			return usage_err(err, "gc: --keep wants 1..1000");
	} else if (argc != 0) {
		return usage_err(err, "gc: unknown argument '%s'", argv[0]);
	}
	if (st == NULL)
		return 0;
	return ar_cmd_gc(st, (unsigned)keep, stdout, err);
}

static int run_verify(struct ar_store *st, int argc, char **argv,
		      struct cr_error **err)
{
	int rc = exactly("verify", argc, argv, 0, err);

	if (rc < 0 || st == NULL)
		return rc;
	return ar_cmd_verify(st, stdout, err);
}

/* rm NAME: drops the version's name, then collects what no other version
 * needs (bolter rmi uses it). */
static int run_rm(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	int rc = exactly("rm", argc, argv, 1, err);

	if (rc < 0 || st == NULL)
		return rc;
	if (ar_store_remove(st, argv[0], err) < 0)
		return -1;
	printf("removed %s\n", argv[0]);
	return ar_cmd_gc(st, 0, stdout, err);
}

#ifdef AR_HAVE_LINK
static int run_link(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	struct ar_link_opts o = { 0 };
	char **bins = calloc((size_t)argc + 1, sizeof(*bins));
	char **dirs = calloc((size_t)argc + 1, sizeof(*dirs));
	char **dl = calloc((size_t)argc + 1, sizeof(*dl));
	size_t nbins = 0;
	int rc = -1;

	if (bins == NULL || dirs == NULL || dl == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	o.libdirs = dirs;
	o.dlopen = dl;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--name") == 0 && i + 1 < argc)
			o.name = argv[++i];
		else if (strcmp(a, "--sysroot") == 0 && i + 1 < argc)
			o.sysroot = argv[++i];
		else if ((strcmp(a, "-L") == 0 || strcmp(a, "--library-path") == 0) &&
			 i + 1 < argc)
			dirs[o.nlibdirs++] = argv[++i];
		else if (strcmp(a, "--dlopen") == 0 && i + 1 < argc)
			dl[o.ndlopen++] = argv[++i];
		else if (strcmp(a, "--prefix") == 0 && i + 1 < argc)
			o.prefix = argv[++i];
		else if (strcmp(a, "--key") == 0 && i + 1 < argc)
			o.key = argv[++i];
		else if (strcmp(a, "--compat") == 0)
			o.compat = 1;
		else if (strcmp(a, "--force") == 0)
			o.force = 1;
		else if (a[0] == '-' && a[1] != '\0') {
			rc = usage_err(err, "link: unknown option '%s' (or it lacks its value)", a);
			goto out;
		} else
			bins[nbins++] = argv[i];
	}
	if (o.name == NULL || nbins == 0) {
		rc = usage_err(err, "link: give --name NAME and at least one EXE");
		goto out;
	}
	if (o.sysroot != NULL && strcmp(o.sysroot, "/") == 0)
		o.sysroot = NULL;
	rc = st == NULL ? 0 : ar_link(st, bins, nbins, &o, stdout, err);
out:
	free(bins);
	free(dirs);
	free(dl);
	return rc;
}
#endif

/* run's options and where NAME is; the program's arguments follow it. */
static int run_args(int argc, char **argv, struct ar_run_opts *o, int *name_at,
		    struct cr_error **err)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--publisher-key") == 0 && i + 1 < argc)
			o->publisher_key = argv[++i];
		else if (strcmp(argv[i], "--exe") == 0 && i + 1 < argc)
			o->exe = argv[++i];
		else if (strcmp(argv[i], "--no-verify") == 0)
			o->no_verify = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage_err(err, "run: unknown option '%s' (or it lacks its value)",
					 argv[i]);
		else
			break;
	}
	if (i >= argc)
		return usage_err(err, "run: give NAME");
	*name_at = i;
	return 0;
}

static int run_run(struct ar_store *st, int argc, char **argv,
		   struct cr_error **err)
{
	struct ar_run_opts o;
	struct ar_run_plan plan;
	int at = 0, nargs_at;

	if (run_args(argc, argv, &o, &at, err) < 0)
		return RUN_USAGE;
	if (st == NULL)
		return 0;
	nargs_at = at + 1;
	if (nargs_at < argc && strcmp(argv[nargs_at], "--") == 0)
		nargs_at++;
	if (ar_run_prepare(st, argv[at], &o, argv + nargs_at, (size_t)(argc - nargs_at),
			   &plan, err) < 0) {
		char dir[PATH_MAX];

		if (*err == NULL || (*err)->code != EAGAIN)
			return -1;
		/* Missing or not made runnable yet: once more as a writer (a
		 * pull, the cal/ links).  The reader's store is gone then, so
		 * failures are said here. */
		cr_error_free(*err);
		*err = NULL;
		snprintf(dir, sizeof(dir), "%s", st->dir);
		ar_store_free(st);
		st = NULL;
		if (ar_store_open_mode(dir, AR_STORE_WRITE, &st, err) < 0 ||
		    ar_run_prepare(st, argv[at], &o, argv + nargs_at,
				   (size_t)(argc - nargs_at), &plan, err) < 0) {
			fprintf(stderr, "archon run: %s\n", cr_error_msg(*err));
			ar_store_free(st);
			exit(1);
		}
	}
	/* The store is not held while the program runs. */
	ar_store_free(st);
	unsetenv("LD_PRELOAD");
	unsetenv("LD_AUDIT");
	unsetenv("LD_LIBRARY_PATH");
	fflush(stdout);
	execv(plan.path, plan.argv);
	fprintf(stderr, "archon run: cannot execute %s (%s): %s\n", argv[at], plan.path,
		strerror(errno));
	ar_run_plan_free(&plan);
	exit(1);
}

static const struct cmd cmds[] = {
#ifdef AR_HAVE_LINK
	{ "link", AR_STORE_WRITE, run_link, help_link, NULL },
#endif
	/* run reads; it writes (pull, cal/ links) only when it must. */
	{ "run", AR_STORE_READ, run_run, help_run, NULL },
	{ "import", AR_STORE_WRITE, run_import, help_import, NULL },
	{ "publish", AR_STORE_WRITE, run_publish, help_publish, NULL },
	{ "pull", AR_STORE_WRITE, run_pull, help_pull, NULL },
	{ "gc", AR_STORE_WRITE, run_gc, help_gc, NULL },
	{ "rm", AR_STORE_WRITE, run_rm, help_rm, NULL },
	{ "checkout", AR_STORE_READ, run_checkout, help_checkout, NULL },
	{ "diff", AR_STORE_READ, run_diff, help_diff, NULL },
	{ "ls", AR_STORE_READ, run_ls, help_ls, NULL },
	{ "show", AR_STORE_READ, run_show, help_show, NULL },
	{ "config", AR_STORE_READ, run_config, help_config, NULL },
	{ "du", AR_STORE_READ, run_du, help_du, NULL },
	{ "serve", AR_STORE_READ, run_serve, help_serve, NULL },
	{ "verify", AR_STORE_READ, run_verify, help_verify, NULL },
	{ "remote", AR_STORE_READ, run_remote, help_remote, remote_mode },
};

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("archon: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'archon --help'.\n", stderr);
	return EXIT_USAGE;
}

/* The program's entry, by name: korhal-device (device-agent/device) calls
 * it when run as archon or `korhal-device archon`. */
int ar_archon_main(int argc, char **argv);
int ar_archon_main(int argc, char **argv)
{
	const char *store = NULL;
	char dflt[PATH_MAX];
	struct ar_store *st = NULL;
	struct cr_error *err = NULL;
	const struct cmd *cmd = NULL;
	int i = 1, rc;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("archon %s\n", KORHAL_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store = argv[i + 1];
			i += 2;
			continue;
		}
		return bad_usage("unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return bad_usage("give a command");
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++)
		if (strcmp(argv[i], cmds[c].name) == 0)
			cmd = &cmds[c];
	if (cmd == NULL)
		return bad_usage("unknown command '%s'", argv[i]);
	for (int j = i + 1; j < argc; j++) {
		/* run: what follows NAME is the program's. */
		if (strcmp(cmd->name, "run") == 0 && argv[j][0] != '-' &&
		    strcmp(argv[j - 1], "--publisher-key") != 0 &&
		    strcmp(argv[j - 1], "--exe") != 0)
			break;
		if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
			fputs(cmd->help, stdout);
			return 0;
		}
	}
	/* The arguments are checked before the store is opened (st NULL):
	 * a usage error touches nothing. */
	rc = cmd->run(NULL, argc - i - 1, argv + i + 1, &err);
	if (rc == RUN_USAGE) {
		rc = bad_usage("%s", cr_error_msg(err));
		cr_error_free(err);
		return rc;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "archon: libsodium failed to initialise\n");
		return 1;
	}
	if (store == NULL) {
		if (ar_store_default_dir(dflt, sizeof(dflt)) < 0)
			return bad_usage("no store folder: give --store DIR or set ARCHON_STORE");
		store = dflt;
	}
	if (ar_store_open_mode(store,
			       cmd->mode_of != NULL
				       ? cmd->mode_of(argc - i - 1, argv + i + 1)
				       : cmd->mode,
			       &st, &err) < 0) {
		fprintf(stderr, "archon %s: %s\n", cmd->name, cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	rc = cmd->run(st, argc - i - 1, argv + i + 1, &err);
	ar_store_free(st);
	if (rc < 0) {
		fprintf(stderr, "archon %s: %s\n", cmd->name, cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	return rc;
}

#ifndef KORHAL_MULTICALL
int main(int argc, char **argv)
{
	return ar_archon_main(argc, argv);
}
#endif
