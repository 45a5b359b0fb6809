/*
 * bolter: an OCI runtime with runc's command line.  Invoked as bolter-oci
 * it is exactly that CLI; invoked as bolter it also has docker-like verbs
 * (image.c) where they do not clash with runc's (runtime.c).  This file:
 * the global options, the help and the dispatch through the command
 * tables (cli.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "bo/cgroup.h"
#include "cli.h"

static const char usage_head[] =
	"usage: bolter [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
	"\n"
	"An OCI runtime (runc's command line; `bolter-oci` is the same "
	"program).\n"
	"\n"
	"Commands:\n";

static const char usage_images[] =
	"\n"
	"Image commands (bolter only, on the Archon store; `bolter VERB "
	"--help`):\n";

static const char usage_tail[] =
	"\n"
	"Global options:\n"
	"  --root DIR          state directory (default /run/bolter)\n"
	"  --log FILE          also write errors to FILE\n"
	"  --log-format FMT    text (default) or json\n"
	"  --debug             log debug messages\n"
	"  --systemd-cgroup    read cgroupsPath as slice:prefix:name\n"
	"  --cgroup-manager M  cgroupfs (default), systemd or disabled\n"
	"  -h, --help          this help (also COMMAND --help)\n"
	"  -V, --version       print the version\n"
	"\n"
	"Exit status: 0; 1 when the command fails; 2 for a usage error; run and\n"
	"exec: the container process's own status.\n";

static void print_helps(FILE *out, const struct bo_cli_command *t)
{
	for (; t->name != NULL; t++)
		if (t->help != NULL)
			fputs(t->help, out);
}

void bo_cli_usage(FILE *out)
{
	fputs(usage_head, out);
	print_helps(out, bo_cli_runtime_commands());
	fputs(usage_images, out);
	print_helps(out, bo_cli_image_commands());
	fputs(usage_tail, out);
}

void bo_cli_log_error(const struct bo_cli *g, const char *msg)
{
	fprintf(stderr, "bolter: %s\n", msg);
	if (g->log != NULL) {
		FILE *f = fopen(g->log, "ae");
		char ts[64];
		time_t now = time(NULL);
		struct tm tm;

		if (f == NULL)
			return;
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (g->log_json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "level",
					       json_object_new_string("error"));
			json_object_object_add(o, "msg", json_object_new_string(msg));
			json_object_object_add(o, "time", json_object_new_string(ts));
			fprintf(f, "%s\n",
				json_object_to_json_string_ext(o,
							       JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		} else {
			fprintf(f, "%s error: %s\n", ts, msg);
		}
		fclose(f);
	}
}

int bo_cli_fail(const struct bo_cli *g, struct cr_error *e)
{
	bo_cli_log_error(g, cr_error_msg(e));
	cr_error_free(e);
	return 1;
}

/* A usage error (docs/cli-conventions.md): what was wrong, where the help
 * is, exit status 2. */
int bo_cli_usage_error(const struct bo_cli *g, const char *msg)
{
	if (msg != NULL)
		bo_cli_log_error(g, msg);
	fprintf(stderr, "Try '%s --help'.\n",
		g->oci_only ? "bolter-oci" : "bolter");
	return 2;
}

void bo_cli_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "bolter: warning: %s\n", msg);
}

/* The entry of table for argv[0] that takes this command line, or NULL. */
static const struct bo_cli_command *
find_command(const struct bo_cli_command *t, int argc, char **argv)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, argv[0]) == 0 &&
		    (t->claims == NULL || t->claims(argc, argv)))
			return t;
	return NULL;
}

/* The version line(s): bolter-oci keeps runc's form (tools parse it);
 * bolter says what every Korhal program says. */
static void print_version(const struct bo_cli *g)
{
	if (g->oci_only)
		printf("bolter-oci version " KORHAL_VERSION
		       "\nspec: " BO_SPEC_VERSION "\ncgroups: %s\n",
		       bo_cgroup_mode_name(bo_cgroup_detect()));
	else
		printf("bolter " KORHAL_VERSION "\n");
}

/* The global options into g; returns -1 to go on to the command, or the
 * exit status (help, version, a usage error). */
static int parse_globals(int argc, char **argv, struct bo_cli *g)
{
	static const struct option gopts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "debug", no_argument, NULL, 'D' },
		{ "systemd-cgroup", no_argument, NULL, 's' },
		{ "cgroup-manager", required_argument, NULL, 'm' },
		{ "rootless", required_argument, NULL, 'R' },
		{ "criu", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0; /* said below, in our words */
	while ((ch = getopt_long(argc, argv, "+hvV", gopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			g->root = optarg;
			break;
		case 'l':
			g->log = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "json") == 0)
				g->log_json = 1;
			else if (strcmp(optarg, "text") != 0)
				return bo_cli_usage_error(g, "--log-format: text or json");
			break;
		case 'D':
			g->debug = 1;
			break;
		case 's':
			g->systemd_cgroup = 1;
			break;
		case 'm':
			if (strcmp(optarg, "systemd") == 0)
				g->systemd_cgroup = 1;
			else if (strcmp(optarg, "cgroupfs") != 0 &&
				 strcmp(optarg, "disabled") != 0)
				return bo_cli_usage_error(g, "--cgroup-manager: "
						       "cgroupfs, systemd or "
						       "disabled");
			break;
		case 'R':
		case 'C':
			break;
		case 'h':
			bo_cli_usage(stdout);
			return 0;
		case 'v':
		case 'V':
			print_version(g);
			return 0;
		default: {
			char msg[256];

			snprintf(msg, sizeof(msg),
				 "unknown option, or one missing its value: "
				 "'%.100s'",
				 argv[optind - 1 < argc ? optind - 1 : 0]);
			return bo_cli_usage_error(g, msg);
		}
		}
	}
	return -1;
}

/* The program's entry, by name: korhal-device (device-agent/device) calls
 * it when run as bolter, bolter-oci or `korhal-device bolter`. */
int bo_bolter_main(int argc, char **argv);
int bo_bolter_main(int argc, char **argv)
{
	struct bo_cli g;
	const struct bo_cli_command *c = NULL;
	const char *cmd;
	char *base = strrchr(argv[0], '/');
	int rc;

	memset(&g, 0, sizeof(g));
	g.root = getenv("BOLTER_ROOT");
	if (g.root == NULL)
		g.root = "/run/bolter";
	base = base != NULL ? base + 1 : argv[0];
	g.self = base;
	g.oci_only = strcmp(base, "bolter-oci") == 0;
	signal(SIGPIPE, SIG_IGN);
	rc = parse_globals(argc, argv, &g);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		bo_cli_usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (!g.oci_only)
		c = find_command(bo_cli_image_commands(), argc, argv);
	if (c == NULL)
		c = find_command(bo_cli_runtime_commands(), argc, argv);
	if (c != NULL)
		return c->handler(&g, argc, argv);
	{
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown command '%s'", cmd);
		return bo_cli_usage_error(&g, msg);
	}
}

#ifndef KORHAL_MULTICALL
int main(int argc, char **argv)
{
	return bo_bolter_main(argc, argv);
}
#endif
