/*
 * korhal-device: the device programs in one static executable, so that
 * libevent, libsodium, OpenSSL, LMDB and the rest are linked once rather
 * than three times (issue 16).  It runs as the program its name says
 * (installed as links carrier-agent, archon, bolter and bolter-oci), or as
 * `korhal-device agent|archon|bolter ARGS...`.  Each program keeps its own
 * --help, --version and exit statuses.
 */
#include <stdio.h>
#include <string.h>

int da_agent_main(int argc, char **argv);
int ar_archon_main(int argc, char **argv);
int bo_bolter_main(int argc, char **argv);

static const char usage_text[] =
	"usage: korhal-device agent|archon|bolter [ARGS...]\n"
	"       carrier-agent|archon|bolter|bolter-oci [ARGS...]   (links to "
	"korhal-device)\n"
	"\n"
	"Korhal's device programs in one executable: the Carrier agent, the "
	"Archon\nstore and the Bolter runtime.  It runs as the program its "
	"name says, or as\nthe one its first argument names.  See "
	"carrier-agent(8), archon(1) and\nbolter(8).\n"
	"\n"
	"  agent                 carrier-agent (the device daemon)\n"
	"  archon                archon (the content-addressed store)\n"
	"  bolter                bolter (the OCI runtime)\n"
	"  -h, --help            this help\n"
	"  -V, --version         print the version\n";

struct entry {
	const char *name;    /* the program's name, as argv[0] */
	const char *command; /* as `korhal-device COMMAND` */
	int (*main)(int argc, char **argv);
};

static const struct entry entries[] = {
	{ "carrier-agent", "agent", da_agent_main },
	{ "archon", "archon", ar_archon_main },
	{ "bolter", "bolter", bo_bolter_main },
	/* Bolter answers to bolter-oci as runc's CLI only. */
	{ "bolter-oci", NULL, bo_bolter_main },
};

static const struct entry *entry_by(const char *word, int by_command)
{
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		const char *key = by_command ? entries[i].command : entries[i].name;

		if (key != NULL && strcmp(word, key) == 0)
			return &entries[i];
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	const struct entry *e;

	if (argc < 1)
		return 2;
	base = base != NULL ? base + 1 : argv[0];
	e = entry_by(base, 0);
	if (e != NULL)
		return e->main(argc, argv);
	if (argc < 2) {
		fputs("korhal-device: give a program: agent, archon or bolter\n"
		      "Try 'korhal-device --help'.\n",
		      stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("korhal-device %s\n", KORHAL_VERSION);
		return 0;
	}
	e = entry_by(argv[1], 1);
	if (e == NULL) {
		fprintf(stderr,
			"korhal-device: unknown program '%s' (agent, archon or "
			"bolter)\nTry 'korhal-device --help'.\n",
			argv[1]);
		return 2;
	}
	/* The program sees its own name as argv[0], as when run by a link. */
	argv[1] = (char *)e->name;
	return e->main(argc - 1, argv + 1);
}
