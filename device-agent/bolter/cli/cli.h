/*
 * bolter's command line (the `bolter` executable only; the runtime library
 * bo_runtime never prints).  main.c parses the global options and looks the
 * verb up in the command tables, like crun's src/crun.c: runtime.c has
 * runc's verbs, image.c the docker-like ones on the Archon store.  Each
 * handler gets argv with argv[0] the verb and returns the exit status
 * (docs/cli-conventions.md: 0, 1 for a failure, 2 for a usage error; run
 * and exec: the container process's own status).
 */
#ifndef BO_CLI_H
#define BO_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "cr/error.h"

#define BO_SPEC_VERSION "1.0.2"

/* The global options. */
struct bo_cli {
	const char *root; /* --root, $BOLTER_ROOT, /run/bolter */
	const char *log;  /* --log FILE: errors are also written there */
	const char *self; /* the name bolter was invoked by */
	int log_json;     /* --log-format json */
	int debug;
	int systemd_cgroup;
	int oci_only; /* invoked as bolter-oci: runc's verbs only */
};

struct bo_cli_command {
	const char *name;
	int (*handler)(const struct bo_cli *g, int argc, char **argv);
	/* NULL, or whether this entry takes the command line: `run` and
	 * `ps` are both runc's and docker's, told apart by their arguments. */
	int (*claims)(int argc, char **argv);
	const char *help; /* its lines in `bolter --help` */
};

/* The tables, each ended by an entry with a NULL name. */
const struct bo_cli_command *bo_cli_runtime_commands(void);
const struct bo_cli_command *bo_cli_image_commands(void);

/* checkpoint and restore (checkpoint.c), runc's options, on criu. */
int bo_cli_checkpoint(const struct bo_cli *g, int argc, char **argv);
int bo_cli_restore(const struct bo_cli *g, int argc, char **argv);

/* Writes `bolter --help` (from the tables) to out. */
void bo_cli_usage(FILE *out);
/* Reports msg on stderr (and in --log); returns nothing. */
void bo_cli_log_error(const struct bo_cli *g, const char *msg);
/* Reports e, frees it and returns 1 (a runtime failure). */
int bo_cli_fail(const struct bo_cli *g, struct cr_error *e);
/* Reports msg (if any) and where the help is; returns 2. */
int bo_cli_usage_error(const struct bo_cli *g, const char *msg);
/* The runtime library's warning callback (struct bo_opts.warn): prints
 * "bolter: warning: MSG" on stderr.  arg is the struct bo_cli. */
void bo_cli_warn(void *arg, const char *msg);

#endif
