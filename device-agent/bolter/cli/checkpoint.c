/* bolter's checkpoint and restore verbs (runc's options), on criu: the
 * work is in the runtime library (bo/checkpoint.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo/checkpoint.h"
#include "cli.h"

enum {
	O_IMAGE = 256, O_WORK, O_PARENT, O_LEAVE, O_TCP, O_UNIX, O_SHELL,
	O_LOCKS, O_CGMODE, O_BUNDLE, O_PIDFILE, O_DETACH, O_HELP, O_IGNORED,
	O_IGNORED_ARG,
};

static const struct option opts[] = {
	{ "image-path", required_argument, NULL, O_IMAGE },
	{ "work-path", required_argument, NULL, O_WORK },
	{ "parent-path", required_argument, NULL, O_PARENT },
	{ "leave-running", no_argument, NULL, O_LEAVE },
	{ "tcp-established", no_argument, NULL, O_TCP },
	{ "ext-unix-sk", no_argument, NULL, O_UNIX },
	{ "shell-job", no_argument, NULL, O_SHELL },
	{ "file-locks", no_argument, NULL, O_LOCKS },
	{ "manage-cgroups-mode", required_argument, NULL, O_CGMODE },
	{ "bundle", required_argument, NULL, O_BUNDLE },
	{ "pid-file", required_argument, NULL, O_PIDFILE },
	{ "detach", no_argument, NULL, O_DETACH },
	{ "help", no_argument, NULL, O_HELP },
	/* runc's options that change nothing here. */
	{ "no-subreaper", no_argument, NULL, O_IGNORED },
	{ "no-pivot", no_argument, NULL, O_IGNORED },
	{ "auto-dedup", no_argument, NULL, O_IGNORED },
	{ NULL, 0, NULL, 0 },
};

/* Parses the options; returns the container id's index, or -1 with *rc. */
static int parse(const struct bo_cli *g, int argc, char **argv, int restore,
		 struct bo_opts *o, struct bo_criu_opts *c, int *rc)
{
	char msg[160];
	int ch;

	memset(o, 0, sizeof(*o));
	memset(c, 0, sizeof(*c));
	o->root = g->root;
	o->systemd_cgroup = g->systemd_cgroup;
	o->warn = bo_cli_warn;
	o->warn_arg = (void *)g;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+hd", opts, NULL)) != -1) {
		switch (ch) {
		case O_IMAGE: c->image_path = optarg; break;
		case O_WORK: c->work_path = optarg; break;
		case O_PARENT: c->parent_path = optarg; break;
		case O_LEAVE: c->leave_running = 1; break;
		case O_TCP: c->tcp_established = 1; break;
		case O_UNIX: c->ext_unix_sk = 1; break;
		case O_SHELL: c->shell_job = 1; break;
		case O_LOCKS: c->file_locks = 1; break;
		case O_CGMODE:
			if (strcmp(optarg, "soft") != 0 &&
			    strcmp(optarg, "full") != 0 &&
			    strcmp(optarg, "strict") != 0 &&
			    strcmp(optarg, "ignore") != 0) {
				*rc = bo_cli_usage_error(
					g, "--manage-cgroups-mode: soft, full, "
					   "strict or ignore");
				return -1;
			}
			c->cgroups_mode = optarg;
			break;
		case O_BUNDLE: o->bundle = optarg; break;
		case O_PIDFILE: o->pid_file = optarg; break;
		case 'd':
		case O_DETACH: o->detach = 1; break;
		case 'h':
		case O_HELP:
			bo_cli_usage(stdout);
			*rc = 0;
			return -1;
		case O_IGNORED: break;
		default:
			snprintf(msg, sizeof(msg), "%s: unknown option '%s'",
				 argv[0], argv[optind - 1]);
			*rc = bo_cli_usage_error(g, msg);
			return -1;
		}
		/* Each verb takes only its own options. */
		if (!restore && (ch == O_BUNDLE || ch == O_PIDFILE ||
				 ch == O_DETACH || ch == 'd')) {
			snprintf(msg, sizeof(msg), "checkpoint: unknown option "
						   "'%s'", argv[optind - 1]);
			*rc = bo_cli_usage_error(g, msg);
			return -1;
		}
		if (restore && (ch == O_LEAVE || ch == O_PARENT)) {
			snprintf(msg, sizeof(msg), "restore: unknown option '%s'",
				 argv[optind - 1]);
			*rc = bo_cli_usage_error(g, msg);
			return -1;
		}
	}
	if (optind != argc - 1) {
		snprintf(msg, sizeof(msg), "%s: %s", argv[0],
			 optind >= argc ? "needs a container id"
					: "takes one container id");
		*rc = bo_cli_usage_error(g, msg);
		return -1;
	}
	/* runc's default: ./checkpoint in the current folder. */
	if (c->image_path == NULL)
		c->image_path = "checkpoint";
	return optind;
}

int bo_cli_checkpoint(const struct bo_cli *g, int argc, char **argv)
{
	struct bo_opts o;
	struct bo_criu_opts c;
	struct cr_error *err = NULL;
	int rc, i = parse(g, argc, argv, 0, &o, &c, &rc);

	if (i < 0)
		return rc;
	if (bo_checkpoint(&o, argv[i], &c, &err) < 0)
		return bo_cli_fail(g, err);
	return 0;
}

int bo_cli_restore(const struct bo_cli *g, int argc, char **argv)
{
	struct bo_opts o;
	struct bo_criu_opts c;
	struct cr_error *err = NULL;
	int status = 0, rc, i = parse(g, argc, argv, 1, &o, &c, &rc);

	if (i < 0)
		return rc;
	if (bo_restore(&o, argv[i], &c, &status, &err) < 0)
		return bo_cli_fail(g, err);
	return status;
}
