/*
 * archon: the command line of the Archon store (see docs/archon.md).
 */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr/util.h"
#include "maint.h"
#include "store-internal.h"

static const char usage_text[] =
	"usage: archon [--store DIR] COMMAND ARGS\n"
	"\n"
	"  import SOURCE NAME       import SOURCE as version NAME (REPO:TAG); SOURCE is\n"
	"                           DIR, oci:PATH[:TAG], oci-archive:FILE,\n"
	"                           docker-archive:FILE or docker://HOST/REPO:TAG\n"
	"  publish NAME --to DIR [--key KEY] [--bases N]\n"
	"                           write NAME as static files (chunks, index, signed\n"
	"                           manifest, deltas from the N earlier tags, default 2)\n"
	"  pull URL NAME [--ring RING] [--peers [--key KEY] [--carrier PATH]]\n"
	"                           fetch NAME from a published origin, only what is\n"
	"                           missing; with a Carrier ring configuration (or\n"
	"                           $ARCHON_RING), chunks, indexes and deltas come\n"
	"                           through the ring's shard cache, which fetches each\n"
	"                           from the origin once; --no-ring ignores $ARCHON_RING.\n"
	"                           --peers first asks devices that announced the\n"
	"                           version (archon serve), through carrier connect\n"
	"                           with KEY (default: carrier's own) as the vendor key\n"
	"  serve --listen 127.0.0.1:PORT [--ring RING --key DEVICE_KEY]\n"
	"                           serve the store's chunks and indexes to peers (who\n"
	"                           reach PORT with carrier connect); with the ring and\n"
	"                           the device's Carrier key, announce each index held\n"
	"                           as a signed provider record on its shard nodes\n"
	"  checkout NAME DIR        build NAME's tree in DIR (hard links to the store)\n"
	"  diff A B                 what a device holding A downloads to get B\n"
	"  ls                       list the versions held\n"
	"  show NAME                describe one version\n"
	"  du                       disk used by the store\n"
	"  gc [--keep N]            keep the newest N versions of each repository (default\n"
	"                           all), remove what no kept version needs\n"
	"  verify                   re-hash every object and chunk\n"
	"  rm NAME                  forget version NAME, then gc (checkouts keep\n"
	"                           their hard links)\n"
	"\n"
	"The store is DIR, else $ARCHON_STORE, else /var/lib/archon (root) or\n"
	"~/.local/share/archon.  $ARCHON_CHUNK=MIN:AVG:MAX sets the chunk sizes of new\n"
	"content (default 2048:8192:32768).\n";

static int usage(FILE *f, int rc)
{
	fputs(usage_text, f);
	return rc;
}

struct cmd {
	const char *name;
	int nargs; /* positional arguments */
	int (*run)(struct ar_store *st, int argc, char **argv,
		   struct cr_error **err);
};

static int run_import(struct ar_store *st, int argc, char **argv,
		      struct cr_error **err)
{
	(void)argc;
	if (ar_import(st, argv[0], argv[1], err) < 0)
		return -1;
	printf("imported %s as %s\n", argv[0], argv[1]);
	return 0;
}

static int run_publish(struct ar_store *st, int argc, char **argv,
		       struct cr_error **err)
{
	const char *to = NULL, *key = NULL;
	uint64_t bases = 2;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--bases") == 0 && i + 1 < argc) {
			if (cr_parse_u64(argv[++i], 0, 16, &bases) < 0)
				return cr_error_set(err, EINVAL,
						    "--bases wants 0..16");
		} else
			return cr_error_set(err, EINVAL,
					    "publish: unknown argument '%s'", argv[i]);
	}
	if (to == NULL)
		return cr_error_set(err, EINVAL, "publish: --to DIR is required");
	return ar_publish(st, argv[0], to, key, (int)bases, err);
}

static int run_pull(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	const char *pos[2] = { NULL, NULL };
	struct ar_pull_opts o = { getenv("ARCHON_RING"), 0, getenv("ARCHON_CARRIER"),
				  NULL };
	int npos = 0;

	if (o.ring_path != NULL && o.ring_path[0] == '\0')
		o.ring_path = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc)
			o.ring_path = argv[++i];
		else if (strcmp(argv[i], "--no-ring") == 0)
			o.ring_path = NULL;
		else if (strcmp(argv[i], "--peers") == 0)
			o.peers = 1;
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			o.key = argv[++i];
		else if (strcmp(argv[i], "--carrier") == 0 && i + 1 < argc)
			o.carrier = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cr_error_set(err, EINVAL, "pull: unknown option '%s'",
					    argv[i]);
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			return cr_error_set(err, EINVAL, "pull: too many arguments");
	}
	if (npos != 2)
		return cr_error_set(err, EINVAL, "pull: give URL and NAME");
	return ar_pull(st, pos[0], pos[1], &o, stdout, err);
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
			return cr_error_set(err, EINVAL, "serve: unknown argument '%s'",
					    argv[i]);
	}
	if (listen == NULL)
		return cr_error_set(err, EINVAL, "serve: give --listen 127.0.0.1:PORT");
	return ar_serve(st, listen, ring, key, stdout, err);
}

static int run_checkout(struct ar_store *st, int argc, char **argv,
			struct cr_error **err)
{
	(void)argc;
	return ar_store_checkout(st, argv[0], argv[1], err);
}

static int run_diff(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	(void)argc;
	return ar_cmd_diff(st, argv[0], argv[1], stdout, err);
}

static int run_ls(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	(void)argc;
	(void)argv;
	return ar_cmd_ls(st, stdout, err);
}

static int run_show(struct ar_store *st, int argc, char **argv,
		    struct cr_error **err)
{
	(void)argc;
	return ar_cmd_show(st, argv[0], stdout, err);
}

static int run_du(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	(void)argc;
	(void)argv;
	return ar_cmd_du(st, stdout, err);
}

static int run_gc(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	uint64_t keep = 0;

	if (argc == 2 && strcmp(argv[0], "--keep") == 0) {
		if (cr_parse_u64(argv[1], 1, 1000, &keep) < 0)
			return cr_error_set(err, EINVAL, "--keep wants 1..1000");
	} else if (argc != 0) {
		return cr_error_set(err, EINVAL, "gc: unknown argument '%s'", argv[0]);
	}
	return ar_cmd_gc(st, (unsigned)keep, stdout, err);
}

static int run_verify(struct ar_store *st, int argc, char **argv,
		      struct cr_error **err)
{
	(void)argc;
	(void)argv;
	return ar_cmd_verify(st, stdout, err);
}

/* rm NAME: drops the version's name, then collects what no other version
 * needs (bolter rmi uses it). */
static int run_rm(struct ar_store *st, int argc, char **argv,
		  struct cr_error **err)
{
	MDB_val k = { strlen(argv[0]), argv[0] };
	int rc;

	(void)argc;
	if (ar_store_begin(st, err) < 0)
		return -1;
	rc = mdb_del(st->txn, st->db_refs, &k, NULL);
	if (rc != 0) {
		ar_store_abort(st);
		if (rc == MDB_NOTFOUND)
			return cr_error_set(err, ENOENT,
					    "no version %s in the store", argv[0]);
		return cr_error_set(err, EIO, "%s", mdb_strerror(rc));
	}
	if (ar_store_commit(st, err) < 0)
		return -1;
	printf("removed %s\n", argv[0]);
	return ar_cmd_gc(st, 0, stdout, err);
}

static const struct cmd cmds[] = {
	{ "import", 2, run_import },	 { "publish", 1, run_publish },
	{ "pull", 2, run_pull },	 { "checkout", 2, run_checkout },
	{ "diff", 2, run_diff },	 { "ls", 0, run_ls },
	{ "show", 1, run_show },	 { "du", 0, run_du },
	{ "gc", 0, run_gc },		 { "serve", 0, run_serve },		 { "verify", 0, run_verify },
	{ "rm", 1, run_rm },
};

int main(int argc, char **argv)
{
	const char *store = NULL;
	char dflt[PATH_MAX];
	struct ar_store *st = NULL;
	struct cr_error *err = NULL;
	const struct cmd *cmd = NULL;
	int i = 1, rc;

	if (sodium_init() < 0) {
		fprintf(stderr, "archon: libsodium failed to initialise\n");
		return 1;
	}
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout, 0);
		if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store = argv[i + 1];
			i += 2;
			continue;
		}
		fprintf(stderr, "archon: unknown option '%s'\n", argv[i]);
		return usage(stderr, 2);
	}
	if (i >= argc)
		return usage(stderr, 2);
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++)
		if (strcmp(argv[i], cmds[c].name) == 0)
			cmd = &cmds[c];
	if (cmd == NULL) {
		fprintf(stderr, "archon: unknown command '%s'\n", argv[i]);
		return usage(stderr, 2);
	}
	if (i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 ||
			     strcmp(argv[i + 1], "-h") == 0))
		return usage(stdout, 0);
	if (argc - i - 1 < cmd->nargs ||
	    (cmd->run != run_publish && cmd->run != run_gc &&
	     cmd->run != run_pull && cmd->run != run_serve &&
	     argc - i - 1 != cmd->nargs)) {
		fprintf(stderr, "archon %s: wrong number of arguments\n", cmd->name);
		return usage(stderr, 2);
	}
	if (store == NULL) {
		if (ar_store_default_dir(dflt, sizeof(dflt)) < 0) {
			fprintf(stderr, "archon: no store folder (set --store or ARCHON_STORE)\n");
			return 2;
		}
		store = dflt;
	}
	if (ar_store_open(store, &st, &err) < 0) {
		fprintf(stderr, "archon: %s\n", cr_error_msg(err));
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
	return 0;
}
