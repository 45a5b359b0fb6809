/*
 * runc's verbs (create, start, run, state, kill, delete, list, exec, ps,
 * pause, resume, update, events, features): options parsed here, the work
 * done by the runtime library (bo/container.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bo/cgroup.h"
#include "bo/checkpoint.h"
#include "bo/container.h"
#include "bo/linux.h"
#include "bo/seccomp.h"
#include "bo/spec.h"
#include "bo/state.h"
#include "cli.h"
#include "cr/cleanup.h"
#include "cr/util.h"

/* Options of runc's verbs. */
enum {
	O_BUNDLE = 256,
	O_CONFIG,
	O_PIDFILE,
	O_CONSOLE,
	O_PRESERVE,
	O_NOPIVOT,
	O_DETACH,
	O_KEEP,
	O_IGNORED,
	O_IGNORED_ARG,
	O_FORCE,
	O_ALL,
	O_FORMAT,
	O_QUIET,
	O_PROCESS,
	O_TTY,
	O_ENV,
	O_CWD,
	O_USER,
	O_GIDS,
	O_CAP,
	O_NNP,
	O_HELP,
	O_NAME,
	O_REGEX,
	O_RESOURCES,
	O_UNSUPPORTED,
	O_STATS,
	O_INTERVAL,
	/* update's limits, in the order of upd_names[] */
	O_MEMORY,
	O_MEMORY_RESERVATION,
	O_MEMORY_SWAP,
	O_PIDS_LIMIT,
	O_CPU_SHARE,
	O_CPU_PERIOD,
	O_CPU_QUOTA,
	O_CPUSET_CPUS,
	O_CPUSET_MEMS,
	O_BLKIO_WEIGHT,
	O_KERNEL_MEMORY_TCP,
	O_CPU_RT_PERIOD,
	O_CPU_RT_RUNTIME,
	O_UPDATE_END,
};

static const struct option cmd_opts[] = {
	{ "bundle", required_argument, NULL, O_BUNDLE },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "pid-file", required_argument, NULL, O_PIDFILE },
	{ "console-socket", required_argument, NULL, O_CONSOLE },
	{ "preserve-fds", required_argument, NULL, O_PRESERVE },
	{ "no-pivot", no_argument, NULL, O_NOPIVOT },
	{ "detach", no_argument, NULL, O_DETACH },
	{ "keep", no_argument, NULL, O_KEEP },
	{ "no-new-keyring", no_argument, NULL, O_IGNORED },
	{ "no-subreaper", no_argument, NULL, O_IGNORED },
	{ "ignore-paused", no_argument, NULL, O_IGNORED },
	{ "process-label", required_argument, NULL, O_IGNORED_ARG },
	{ "apparmor", required_argument, NULL, O_IGNORED_ARG },
	{ "cgroup", required_argument, NULL, O_IGNORED_ARG },
	{ "force", no_argument, NULL, O_FORCE },
	{ "all", no_argument, NULL, O_ALL },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "process", required_argument, NULL, O_PROCESS },
	{ "tty", no_argument, NULL, O_TTY },
	{ "env", required_argument, NULL, O_ENV },
	{ "cwd", required_argument, NULL, O_CWD },
	{ "user", required_argument, NULL, O_USER },
	{ "additional-gids", required_argument, NULL, O_GIDS },
	{ "cap", required_argument, NULL, O_CAP },
	{ "no-new-privs", no_argument, NULL, O_NNP },
	{ "name", required_argument, NULL, O_NAME },
	{ "regex", required_argument, NULL, O_REGEX },
	{ "resources", required_argument, NULL, O_RESOURCES },
	{ "stats", no_argument, NULL, O_STATS },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "memory-reservation", required_argument, NULL, O_MEMORY_RESERVATION },
	{ "memory-swap", required_argument, NULL, O_MEMORY_SWAP },
	{ "pids-limit", required_argument, NULL, O_PIDS_LIMIT },
	{ "cpu-share", required_argument, NULL, O_CPU_SHARE },
	{ "cpu-period", required_argument, NULL, O_CPU_PERIOD },
	{ "cpu-quota", required_argument, NULL, O_CPU_QUOTA },
	{ "cpuset-cpus", required_argument, NULL, O_CPUSET_CPUS },
	{ "cpuset-mems", required_argument, NULL, O_CPUSET_MEMS },
	{ "blkio-weight", required_argument, NULL, O_BLKIO_WEIGHT },
	{ "kernel-memory", required_argument, NULL, O_UNSUPPORTED },
	{ "kernel-memory-tcp", required_argument, NULL, O_KERNEL_MEMORY_TCP },
	{ "cpu-rt-period", required_argument, NULL, O_CPU_RT_PERIOD },
	{ "cpu-rt-runtime", required_argument, NULL, O_CPU_RT_RUNTIME },
	{ "l3-cache-schema", required_argument, NULL, O_UNSUPPORTED },
	{ "mem-bw-schema", required_argument, NULL, O_UNSUPPORTED },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

struct cmdline {
	struct bo_opts o;
	const char *format;
	const char *process;
	const char *cwd;
	const char *user;
	const char *name;
	const char *regex; /* delete --regex */
	const char *resources;
	const char *interval;
	int stats;
	const char *limits[O_UPDATE_END - O_MEMORY];
	int quiet, tty, nnp, help;
	char *env[256];
	size_t n_env;
	uint32_t gids[64];
	size_t n_gids;
	const char *caps[64];
	size_t n_caps;
};

/* Parses a command's options (runc accepts them in any command; the ones
 * a command does not use are ignored).  Returns the index of the first
 * argument or -1. */
static int parse_cmd(const struct bo_cli *g, int argc, char **argv,
		     struct cmdline *c)
{
	int ch, li = 0;
	uint64_t v;

	optind = 0;
	opterr = 0; /* said below, in our words */
	while ((ch = getopt_long(argc, argv, "+b:p:dfaqte:u:g:c:r:h", cmd_opts,
				 &li)) != -1) {
		if (ch >= O_MEMORY && ch < O_UPDATE_END) {
			c->limits[ch - O_MEMORY] = optarg;
			continue;
		}
		switch (ch) {
		case 'b':
		case O_BUNDLE:
			c->o.bundle = optarg;
			break;
		case O_CONFIG:
			c->o.config = optarg;
			break;
		case O_PIDFILE:
			c->o.pid_file = optarg;
			break;
		case O_CONSOLE:
			c->o.console_socket = optarg;
			break;
		case O_PRESERVE:
			if (cr_parse_u64(optarg, 0, 1000, &v) < 0) {
				bo_cli_usage_error(g, "--preserve-fds: not a number");
				return -1;
			}
			c->o.preserve_fds = (int)v;
			break;
		case O_NOPIVOT:
			c->o.no_pivot = 1;
			break;
		case 'd':
		case O_DETACH:
			c->o.detach = 1;
			break;
		case O_KEEP:
			c->o.keep = 1;
			break;
		case 'f':
		case O_FORCE:
			c->o.force = 1;
			break;
		case 'a':
		case O_ALL:
			c->o.all = 1;
			break;
		case O_FORMAT:
			c->format = optarg;
			break;
		case 'q':
		case O_QUIET:
			c->quiet = 1;
			break;
		case 'p':
		case O_PROCESS:
			c->process = optarg;
			break;
		case 't':
		case O_TTY:
			c->tty = 1;
			break;
		case 'e':
		case O_ENV:
			if (c->n_env < 255)
				c->env[c->n_env++] = optarg;
			break;
		case O_CWD:
			c->cwd = optarg;
			break;
		case 'u':
		case O_USER:
			c->user = optarg;
			break;
		case 'g':
		case O_GIDS:
			if (cr_parse_u64(optarg, 0, UINT32_MAX, &v) < 0) {
				bo_cli_usage_error(g, "--additional-gids: not a number");
				return -1;
			}
			if (c->n_gids < 64)
				c->gids[c->n_gids++] = (uint32_t)v;
			break;
		case 'c':
		case O_CAP:
			if (c->n_caps < 64)
				c->caps[c->n_caps++] = optarg;
			break;
		case O_NNP:
			c->nnp = 1;
			break;
		case O_NAME:
			c->name = optarg;
			break;
		case O_REGEX:
			c->regex = optarg;
			break;
		case 'h':
		case O_HELP:
			c->help = 1;
			break;
		case 'r':
		case O_RESOURCES:
			c->resources = optarg;
			break;
		case O_STATS:
			c->stats = 1;
			break;
		case O_INTERVAL:
			c->interval = optarg;
			break;
		case O_UNSUPPORTED: {
			char msg[128];

			snprintf(msg, sizeof(msg), "--%s: not supported by bolter",
				 cmd_opts[li].name);
			bo_cli_usage_error(g, msg);
			return -1;
		}
		case O_IGNORED:
		case O_IGNORED_ARG:
			break;
		default: {
			char msg[256];

			snprintf(msg, sizeof(msg),
				 "%s: unknown option, or one missing its value: "
				 "'%.100s'",
				 argv[0], argv[optind - 1 < argc ? optind - 1 : 0]);
			bo_cli_usage_error(g, msg);
			return -1;
		}
		}
	}
	return optind;
}

static int need_id(const struct bo_cli *g, int argc, char **argv, int i,
		   const char *cmd)
{
	char msg[128];

	if (i < argc)
		return 0;
	snprintf(msg, sizeof(msg), "%s: a container id is required", cmd);
	return bo_cli_usage_error(g, msg);
}

static int cmd_list(const struct bo_cli *g, const struct cmdline *c)
{
	struct cr_error *err = NULL;
	char **ids = bo_state_list(g->root, &err);
	json_object *arr = json_object_new_array();
	int json = c->format != NULL && strcmp(c->format, "json") == 0;

	if (ids == NULL) {
		json_object_put(arr);
		return bo_cli_fail(g, err);
	}
	if (!json && !c->quiet)
		printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS",
		       "BUNDLE", "CREATED", "OWNER");
	for (size_t i = 0; ids[i] != NULL; i++) {
		struct bo_state *st = bo_state_load(g->root, ids[i], NULL);
		const char *status;

		if (st == NULL) {
			free(ids[i]);
			continue;
		}
		status = bo_state_status(g->root, st);
		if (c->quiet) {
			printf("%s\n", st->id);
		} else if (json) {
			json_object *o = bo_state_oci(st, status);

			json_object_object_add(o, "rootfs",
					       json_object_new_string(st->rootfs));
			json_object_object_add(o, "created",
					       json_object_new_string(st->created));
			json_object_object_add(o, "owner",
					       json_object_new_int64(st->owner));
			if (strcmp(status, "stopped") == 0)
				json_object_object_add(o, "pid",
						       json_object_new_int(0));
			json_object_array_add(arr, o);
		} else {
			printf("%-20s %-8d %-10s %-40s %-30s %d\n", st->id,
			       strcmp(status, "stopped") == 0 ? 0 : (int)st->pid,
			       status, st->bundle, st->created, (int)st->owner);
		}
		bo_state_free(st);
		free(ids[i]);
	}
	free(ids);
	if (json && !c->quiet)
		printf("%s\n", json_object_to_json_string_ext(
				       arr, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

static int cmd_features(void)
{
	static const int nss[] = { CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWNS,
				   CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWUSER,
				   0x02000000, 0x00000080 /* cgroup, time */ };
	json_object *o = json_object_new_object(), *a, *lin, *cg, *sc, *ann;

	json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
	json_object_object_add(o, "ociVersionMax",
			       json_object_new_string(BO_SPEC_VERSION));
	a = json_object_new_array();
	for (int k = 0; k < BO_HOOK_KINDS; k++)
		json_object_array_add(a, json_object_new_string(
						 k == 0 ? "prestart"
						 : k == 1 ? "createRuntime"
						 : k == 2 ? "createContainer"
						 : k == 3 ? "startContainer"
						 : k == 4 ? "poststart"
							  : "poststop"));
	json_object_object_add(o, "hooks", a);
	a = json_object_new_array();
	for (size_t i = 0; bo_mount_option_names[i] != NULL; i++)
		json_object_array_add(a,
				      json_object_new_string(bo_mount_option_names[i]));
	json_object_object_add(o, "mountOptions", a);
	lin = json_object_new_object();
	a = json_object_new_array();
	for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++)
		json_object_array_add(a,
				      json_object_new_string(bo_namespace_name(nss[i])));
	json_object_object_add(lin, "namespaces", a);
	a = json_object_new_array();
	for (int i = 0; i <= bo_cap_last(); i++)
		json_object_array_add(a, json_object_new_string(bo_cap_name(i)));
	json_object_object_add(lin, "capabilities", a);
	cg = json_object_new_object();
	json_object_object_add(cg, "v1", json_object_new_boolean(1));
	json_object_object_add(cg, "v2", json_object_new_boolean(1));
	json_object_object_add(cg, "systemd", json_object_new_boolean(0));
	json_object_object_add(cg, "systemdUser", json_object_new_boolean(0));
	json_object_object_add(cg, "rdma", json_object_new_boolean(1));
	json_object_object_add(lin, "cgroup", cg);
	sc = json_object_new_object();
	bo_seccomp_features(sc);
	json_object_object_add(lin, "seccomp", sc);
	a = json_object_new_object();
	json_object_object_add(a, "enabled", json_object_new_boolean(0));
	json_object_object_add(lin, "apparmor", a);
	a = json_object_new_object();
	json_object_object_add(a, "enabled", json_object_new_boolean(0));
	json_object_object_add(lin, "selinux", a);
	a = json_object_new_object();
	json_object_object_add(a, "enabled", json_object_new_boolean(0));
	json_object_object_add(lin, "intelRdt", a);
	/* runc's name for idmapped mounts support */
	a = json_object_new_object();
	json_object_object_add(a, "enabled", json_object_new_boolean(1));
	cg = json_object_new_object();
	json_object_object_add(cg, "idmap", a);
	json_object_object_add(lin, "mountExtensions", cg);
	json_object_object_add(o, "linux", lin);
	ann = json_object_new_object();
	json_object_object_add(ann, "org.opencontainers.runc.version",
			       json_object_new_string("bolter " KORHAL_VERSION));
	{
		char why[600];

		json_object_object_add(
			ann, "io.korhal.bolter.checkpoint",
			json_object_new_string(bo_criu_usable(why, sizeof(why))
						       ? "criu"
						       : why));
	}
	json_object_object_add(o, "annotations", ann);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
	return 0;
}

static int cmd_ps(const struct bo_cli *g, struct cmdline *c, int argc,
		  char **argv, int i)
{
	struct bo_opts o = c->o;
	struct cr_error *err = NULL;
	int *pids = NULL;
	size_t n = 0;

	o.root = g->root;
	if (bo_pids(&o, argv[i], &pids, &n, &err) < 0)
		return bo_cli_fail(g, err);
	if (c->format != NULL && strcmp(c->format, "json") == 0) {
		printf("[");
		for (size_t k = 0; k < n; k++)
			printf("%s%d", k ? "," : "", pids[k]);
		printf("]\n");
	} else {
		/* runc's table: ps's own output, rows of our pids only. */
		char cmd[1024] = "ps";
		FILE *p;
		char line[4096];
		int col = -1;

		if (i + 1 < argc) {
			for (int k = i + 1; k < argc; k++) {
				size_t l = strlen(cmd);

				if (strspn(argv[k], "abcdefghijklmnopqrstuvwxyzABCDEFG"
						    "HIJKLMNOPQRSTUVWXYZ0123456789-=,") !=
				    strlen(argv[k])) {
					free(pids);
					return bo_cli_usage_error(g, "ps: bad ps argument");
				}
				snprintf(cmd + l, sizeof(cmd) - l, " %s", argv[k]);
			}
		} else {
			snprintf(cmd, sizeof(cmd), "ps -ef");
		}
		p = popen(cmd, "re");
		if (p == NULL) {
			free(pids);
			bo_cli_log_error(g, "ps: cannot run ps");
			return 1;
		}
		while (fgets(line, sizeof(line), p) != NULL) {
			char copy[4096], *tok, *save = NULL;
			int k = 0;

			if (col < 0) {
				snprintf(copy, sizeof(copy), "%s", line);
				for (tok = strtok_r(copy, " \t\n", &save);
				     tok != NULL;
				     tok = strtok_r(NULL, " \t\n", &save), k++)
					if (strcmp(tok, "PID") == 0)
						col = k;
				fputs(line, stdout);
				if (col < 0)
					break;
				continue;
			}
			snprintf(copy, sizeof(copy), "%s", line);
			for (tok = strtok_r(copy, " \t\n", &save);
			     tok != NULL && k < col;
			     tok = strtok_r(NULL, " \t\n", &save))
				k++;
			for (size_t q = 0; tok != NULL && q < n; q++)
				if (strtol(tok, NULL, 10) == pids[q])
					fputs(line, stdout);
		}
		pclose(p);
	}
	free(pids);
	return 0;
}

/* exec --process FILE: the process JSON as config.json's "process".
 * Returns 0 or the exit status. */
static int exec_process_file(const struct bo_cli *g, const char *file,
			     struct bo_process *proc)
{
	CR_CLEANUP_FREE char *text = NULL;
	struct cr_error *err = NULL;
	size_t len;
	json_object *j;
	int rc;

	if (cr_read_file(file, BO_SPEC_MAX_BYTES, &text, &len, &err) < 0)
		return bo_cli_fail(g, err);
	j = json_tokener_parse(text);
	if (j == NULL) {
		cr_error_set(&err, EINVAL, "--process %s: not valid JSON", file);
		return bo_cli_fail(g, err);
	}
	rc = bo_spec_parse_process(j, proc, &err);
	json_object_put(j);
	return rc < 0 ? bo_cli_fail(g, err) : 0;
}

/* --user UID[:GID] into proc; -1 when it is not that. */
static int exec_user(const char *user, struct bo_process *proc)
{
	uint64_t uid, gid = 0;
	char ubuf[64], *colon;

	snprintf(ubuf, sizeof(ubuf), "%s", user);
	colon = strchr(ubuf, ':');
	if (colon != NULL)
		*colon = '\0';
	if (cr_parse_u64(ubuf, 0, UINT32_MAX, &uid) < 0 ||
	    (colon != NULL && cr_parse_u64(colon + 1, 0, UINT32_MAX, &gid) < 0))
		return -1;
	proc->uid = (uint32_t)uid;
	proc->gid = (uint32_t)gid;
	return 0;
}

/* Sets "K=V" in env (n entries, room for one more): replaces the entry
 * of the same name, which getenv() would otherwise find first, or
 * appends. */
static void env_set(char **env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < *n; i++)
		if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=') {
			free(env[i]);
			env[i] = strdup(kv);
			return;
		}
	env[(*n)++] = strdup(kv);
}

/* exec ID ARGS...: runc's defaults, the container's process with these
 * arguments and the options' overrides.  Returns 0 or the exit status. */
static int exec_process_args(const struct bo_cli *g, struct cmdline *c,
			     int argc, char **argv, int i,
			     struct bo_process *proc)
{
	struct cr_error *err = NULL;
	struct bo_spec *s;
	size_t n_env = 0, k;

	if (i + 1 >= argc)
		return bo_cli_usage_error(g, "exec: give ARGS or --process");
	s = bo_container_spec(&c->o, argv[i], &err);
	if (s == NULL)
		return bo_cli_fail(g, err);
	*proc = s->process;
	memset(&s->process, 0, sizeof(s->process));
	bo_spec_free(s);
	for (k = 0; proc->args[k] != NULL; k++)
		free(proc->args[k]);
	free(proc->args);
	proc->args = calloc((size_t)(argc - i), sizeof(char *));
	for (int a = i + 1; proc->args != NULL && a < argc; a++)
		proc->args[a - i - 1] = strdup(argv[a]);
	while (proc->env != NULL && proc->env[n_env] != NULL)
		n_env++;
	if (c->n_env > 0) {
		char **env = realloc(proc->env,
				     (n_env + c->n_env + 1) * sizeof(char *));

		if (env != NULL) {
			for (k = 0; k < c->n_env; k++)
				env_set(env, &n_env, c->env[k]);
			env[n_env] = NULL;
			proc->env = env;
		}
	}
	proc->terminal = c->tty;
	if (c->cwd != NULL) {
		free(proc->cwd);
		proc->cwd = strdup(c->cwd);
	}
	if (c->user != NULL && exec_user(c->user, proc) < 0)
		return bo_cli_usage_error(g, "--user: give UID[:GID]");
	if (c->n_gids > 0) {
		free(proc->gids);
		proc->gids = calloc(c->n_gids, sizeof(uint32_t));
		if (proc->gids != NULL) {
			memcpy(proc->gids, c->gids, c->n_gids * sizeof(uint32_t));
			proc->n_gids = c->n_gids;
		}
	}
	for (k = 0; k < c->n_caps; k++) {
		int cap = bo_cap_from_name(c->caps[k]);

		uint64_t bit;

		/* Unknown names are skipped, as in config.json. */
		if (cap < 0)
			continue;
		/* runc's rule: bounding, effective and permitted; ambient
		 * only where inheritable already has it (the kernel refuses
		 * an ambient capability that is not inheritable). */
		bit = 1ULL << cap;
		proc->caps[BO_CAP_BOUNDING] |= bit;
		proc->caps[BO_CAP_EFFECTIVE] |= bit;
		proc->caps[BO_CAP_PERMITTED] |= bit;
		if (proc->caps[BO_CAP_INHERITABLE] & bit)
			proc->caps[BO_CAP_AMBIENT] |= bit;
		proc->has_caps = 1;
	}
	if (c->nnp)
		proc->no_new_privileges = 1;
	return 0;
}

static int cmd_exec(const struct bo_cli *g, struct cmdline *c, int argc,
		    char **argv, int i)
{
	struct cr_error *err = NULL;
	struct bo_process proc;
	int status = 0, rc;

	memset(&proc, 0, sizeof(proc));
	if (c->process != NULL)
		rc = exec_process_file(g, c->process, &proc);
	else
		rc = exec_process_args(g, c, argc, argv, i, &proc);
	if (rc != 0) {
		bo_process_clear(&proc);
		return rc;
	}
	if (c->tty)
		proc.terminal = 1;
	rc = bo_exec(&c->o, argv[i], &proc, &status, &err);
	bo_process_clear(&proc);
	return rc < 0 ? bo_cli_fail(g, err) : status;
}

/* A byte count: digits with an optional k, m, g or t (powers of 1024);
 * -1 means no limit. */
static int parse_bytes(const char *s, int64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (strcmp(s, "-1") == 0) {
		*out = -1;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || v > ((unsigned long long)INT64_MAX >> shift))
		return -1;
	*out = (int64_t)(v << shift);
	return 0;
}

/* update [--resources FILE|-] [--memory N] ... ID: the limits from the
 * file (a LinuxResources object, "-" for stdin), then the flags on top. */
static int cmd_update(const struct bo_cli *g, const struct cmdline *c,
		      const char *id)
{
	static const char *const names[] = {
		"--memory", "--memory-reservation", "--memory-swap",
		"--pids-limit", "--cpu-share", "--cpu-period", "--cpu-quota",
		"--cpuset-cpus", "--cpuset-mems", "--blkio-weight",
		"--kernel-memory-tcp", "--cpu-rt-period", "--cpu-rt-runtime",
	};
	struct bo_resources r;
	struct cr_error *err = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	r.memory_limit = r.memory_reservation = r.memory_swap = -1;
	if (c->resources != NULL) {
		CR_CLEANUP_FREE char *text = NULL;
		size_t len = 0;
		json_object *obj;

		if (strcmp(c->resources, "-") == 0)
			rc = cr_read_fd(0, "stdin", 1 << 20, &text, &len,
					&err);
		else
			rc = cr_read_file(c->resources, 1 << 20, &text, &len,
					  &err);
		if (rc < 0) {
			cr_error_wrap(&err, "--resources");
			return bo_cli_fail(g, err);
		}
		obj = json_tokener_parse(text);
		if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
			json_object_put(obj);
			return bo_cli_usage_error(g, "--resources: not a JSON object");
		}
		rc = bo_spec_parse_resources(obj, &r, &err);
		json_object_put(obj);
		if (rc < 0) {
			bo_resources_clear(&r);
			cr_error_wrap(&err, "--resources");
			return bo_cli_fail(g, err);
		}
	}
	for (int i = 0; i < O_UPDATE_END - O_MEMORY; i++) {
		const char *v = c->limits[i];
		int64_t n = 0;
		uint64_t u = 0;
		int bad = 0;

		if (v == NULL)
			continue;
		switch (O_MEMORY + i) {
		case O_MEMORY:
			bad = parse_bytes(v, &r.memory_limit) < 0;
			break;
		case O_MEMORY_RESERVATION:
			bad = parse_bytes(v, &r.memory_reservation) < 0;
			break;
		case O_MEMORY_SWAP:
			bad = parse_bytes(v, &r.memory_swap) < 0;
			break;
		case O_PIDS_LIMIT:
			if (strcmp(v, "-1") == 0 || strcmp(v, "0") == 0)
				r.pids_limit = -1;
			else if (parse_bytes(v, &n) < 0 || n <= 0)
				bad = 1;
			else
				r.pids_limit = n;
			break;
		case O_CPU_SHARE:
			bad = cr_parse_u64(v, 2, 262144, &r.cpu_shares) < 0;
			break;
		case O_CPU_PERIOD:
			bad = cr_parse_u64(v, 1000, 1000000, &r.cpu_period) < 0;
			break;
		case O_CPU_QUOTA:
			if (strcmp(v, "-1") == 0)
				r.cpu_quota = -1;
			else if (cr_parse_u64(v, 1000, INT64_MAX, &u) < 0)
				bad = 1;
			else
				r.cpu_quota = (int64_t)u;
			break;
		case O_BLKIO_WEIGHT:
			bad = cr_parse_u64(v, 10, 1000, &u) < 0;
			r.blkio_weight = (uint16_t)u;
			break;
		case O_KERNEL_MEMORY_TCP:
			bad = parse_bytes(v, &r.kernel_tcp) < 0;
			r.has_kernel_tcp = 1;
			break;
		case O_CPU_RT_PERIOD:
			bad = cr_parse_u64(v, 1, INT64_MAX, &r.rt_period) < 0;
			break;
		case O_CPU_RT_RUNTIME:
			if (strcmp(v, "-1") == 0)
				r.rt_runtime = -1;
			else if (cr_parse_u64(v, 0, INT64_MAX, &u) < 0)
				bad = 1;
			else
				r.rt_runtime = (int64_t)u;
			r.has_rt_runtime = 1;
			break;
		case O_CPUSET_CPUS:
		case O_CPUSET_MEMS:
			if (strspn(v, "0123456789,-") != strlen(v) || v[0] == '\0') {
				bad = 1;
				break;
			}
			if (O_MEMORY + i == O_CPUSET_CPUS) {
				free(r.cpus);
				r.cpus = strdup(v);
			} else {
				free(r.mems);
				r.mems = strdup(v);
			}
			break;
		default:
			break;
		}
		if (bad) {
			char msg[160];

			bo_resources_clear(&r);
			snprintf(msg, sizeof(msg), "%s: '%s' is not a valid value",
				 names[i], v);
			return bo_cli_usage_error(g, msg);
		}
	}
	rc = bo_update(&c->o, id, &r, &err);
	bo_resources_clear(&r);
	return rc < 0 ? bo_cli_fail(g, err) : 0;
}

static json_object *json_u64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* One event line as runc writes it: {"type":..,"id":..,"data":..};
 * -1 when stdout is gone (the reader closed the pipe). */
static int print_event(const char *type, const char *id, json_object *data)
{
	int rc;

	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "type", json_object_new_string(type));
	json_object_object_add(ev, "id", json_object_new_string(id));
	if (data != NULL)
		json_object_object_add(ev, "data", data);
	rc = printf("%s\n",
		    json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	if (fflush(stdout) != 0)
		rc = -1;
	json_object_put(ev);
	return rc < 0 ? -1 : 0;
}

static json_object *stats_json(const struct bo_cgroup_stats *s)
{
	json_object *data = json_object_new_object(), *o, *u;

	if (s->has_cpu) {
		o = json_object_new_object();
		u = json_object_new_object();
		json_object_object_add(u, "total", json_u64(s->cpu_total_ns));
		json_object_object_add(u, "kernel", json_u64(s->cpu_kernel_ns));
		json_object_object_add(u, "user", json_u64(s->cpu_user_ns));
		json_object_object_add(o, "usage", u);
		json_object_object_add(data, "cpu", o);
	}
	if (s->has_memory) {
		o = json_object_new_object();
		u = json_object_new_object();
		json_object_object_add(u, "usage", json_u64(s->mem_usage));
		json_object_object_add(u, "max", json_u64(s->mem_max_usage));
		json_object_object_add(u, "limit", json_u64(s->mem_limit));
		json_object_object_add(u, "failcnt", json_u64(s->mem_failcnt));
		json_object_object_add(o, "usage", u);
		json_object_object_add(data, "memory", o);
	}
	if (s->has_pids) {
		o = json_object_new_object();
		json_object_object_add(o, "current", json_u64(s->pids_current));
		json_object_object_add(o, "limit", json_u64(s->pids_limit));
		json_object_object_add(data, "pids", o);
	}
	return data;
}

/* events [--stats] [--interval D] ID: runc's stats events, one JSON line
 * each; without --stats one every interval (5 s) and an "oom" event when
 * the kernel kills in the container, until the container stops. */
static int cmd_events(const struct bo_cli *g, const struct cmdline *c,
		      const char *id)
{
	struct bo_cgroup_stats s;
	struct cr_error *err = NULL;
	uint64_t interval = 5000, ooms = 0;
	int stopped = 0, first = 1;

	if (c->interval != NULL &&
	    (cr_parse_duration_ms(c->interval, &interval) < 0 || interval == 0))
		return bo_cli_usage_error(g, "--interval: not a duration (e.g. 5s)");
	for (;;) {
		if (bo_stats(&c->o, id, &s, &stopped, &err) < 0)
			return bo_cli_fail(g, err);
		if (!first && s.oom_kills > ooms &&
		    print_event("oom", id, NULL) < 0)
			return 0;
		ooms = s.oom_kills;
		first = 0;
		if (stopped && !c->stats)
			return 0;
		if (print_event("stats", id, stats_json(&s)) < 0 || c->stats)
			return 0;
		{
			struct timespec ts = {
				.tv_sec = (time_t)(interval / 1000),
				.tv_nsec = (long)(interval % 1000) * 1000000L,
			};

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
}

/* Parses the verb's options into c and checks for the container id (when
 * need_id); returns the index of the first argument, or -1 with *rc the
 * exit status (help printed, or a usage error). */
/* Socket activation (sd_listen_fds(3)): the number of fds from 3 on that
 * the caller passed for the container, when LISTEN_FDS is set and
 * LISTEN_PID, if set, names this process; else 0. */
static int listen_fds(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	uint64_t n, p;

	if (fds == NULL || cr_parse_u64(fds, 1, 1000, &n) < 0)
		return 0;
	if (pid != NULL &&
	    (cr_parse_u64(pid, 1, INT32_MAX, &p) < 0 || (pid_t)p != getpid()))
		return 0;
	return (int)n;
}

static int begin(const struct bo_cli *g, int argc, char **argv,
		 struct cmdline *c, int want_id, int *rc)
{
	int i;

	memset(c, 0, sizeof(*c));
	i = parse_cmd(g, argc, argv, c);
	if (i < 0) {
		*rc = 2;
		return -1;
	}
	if (c->help) {
		bo_cli_usage(stdout);
		*rc = 0;
		return -1;
	}
	c->o.root = g->root;
	c->o.systemd_cgroup = g->systemd_cgroup;
	c->o.warn = bo_cli_warn;
	c->o.warn_arg = (void *)g;
	c->o.listen_fds = listen_fds();
	if (want_id && need_id(g, argc, argv, i, argv[0]) != 0) {
		*rc = 2;
		return -1;
	}
	return i;
}

/* The exit status of a library call's result. */
static int done(const struct bo_cli *g, int rc, struct cr_error *err)
{
	return rc < 0 ? bo_cli_fail(g, err) : 0;
}

static int verb_create(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	struct cr_error *err = NULL;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	if (i < 0)
		return rc;
	return done(g, bo_create(&c.o, argv[i], &err), err);
}

static int verb_start(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	struct cr_error *err = NULL;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	if (i < 0)
		return rc;
	return done(g, bo_start(&c.o, argv[i], &err), err);
}

static int verb_state(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	struct cr_error *err = NULL;
	char *json = NULL;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	if (i < 0)
		return rc;
	if (bo_state(&c.o, argv[i], &json, &err) < 0)
		return bo_cli_fail(g, err);
	printf("%s\n", json);
	free(json);
	return 0;
}

static int verb_pause(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	struct cr_error *err = NULL;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	if (i < 0)
		return rc;
	return done(g, bo_pause(&c.o, argv[i], argv[0][0] == 'p', &err), err);
}

static int verb_update(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	return i < 0 ? rc : cmd_update(g, &c, argv[i]);
}

static int verb_events(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	return i < 0 ? rc : cmd_events(g, &c, argv[i]);
}

/* delete of one container: 0 or the exit status. */
static int delete_one(const struct bo_cli *g, const struct cmdline *c,
		      const char *id)
{
	struct cr_error *err = NULL;
	int rc = bo_delete(&c->o, id, &err);

	/* delete --force of a container that is gone succeeds. */
	if (rc < 0 && c->o.force && err != NULL && err->code == ENOENT) {
		err = cr_error_free(err);
		rc = 0;
	}
	return done(g, rc, err);
}

/* delete --regex RE (crun's extension, which podman's tests use): every
 * container whose id matches the POSIX extended expression; goes on past
 * a failure and returns the last failure's status. */
static int delete_matching(const struct bo_cli *g, const struct cmdline *c)
{
	struct cr_error *err = NULL;
	char **ids;
	regex_t re;
	int rc = 0;

	if (regcomp(&re, c->regex, REG_EXTENDED | REG_NOSUB) != 0)
		return bo_cli_usage_error(g, "--regex: not a valid regular "
					     "expression");
	ids = bo_state_list(g->root, &err);
	if (ids == NULL) {
		regfree(&re);
		return bo_cli_fail(g, err);
	}
	for (size_t i = 0; ids[i] != NULL; i++) {
		if (regexec(&re, ids[i], 0, NULL, 0) == 0) {
			int r = delete_one(g, c, ids[i]);

			if (r != 0)
				rc = r;
		}
		free(ids[i]);
	}
	free(ids);
	regfree(&re);
	return rc;
}

static int verb_delete(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 0, &rc);

	if (i < 0)
		return rc;
	if (c.regex != NULL)
		return delete_matching(g, &c);
	if (need_id(g, argc, argv, i, argv[0]) != 0)
		return 2;
	return delete_one(g, &c, argv[i]);
}

static int verb_kill(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	struct cr_error *err = NULL;
	int sig = SIGTERM, rc, i = begin(g, argc, argv, &c, 1, &rc);

	if (i < 0)
		return rc;
	if (i + 1 < argc) {
		sig = bo_signal_parse(argv[i + 1]);
		if (sig < 0)
			return bo_cli_usage_error(g, "kill: unknown signal");
	}
	return done(g, bo_kill(&c.o, argv[i], sig, &err), err);
}

static int verb_run(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	struct cr_error *err = NULL;
	int status = 0, rc, i = begin(g, argc, argv, &c, 1, &rc);

	if (i < 0)
		return rc;
	if (bo_run(&c.o, argv[i], &status, &err) < 0)
		return bo_cli_fail(g, err);
	return status;
}

static int verb_exec(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	return i < 0 ? rc : cmd_exec(g, &c, argc, argv, i);
}

static int verb_ps(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 1, &rc);

	return i < 0 ? rc : cmd_ps(g, &c, argc, argv, i);
}

static int verb_list(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 0, &rc);

	return i < 0 ? rc : cmd_list(g, &c);
}

static int verb_features(const struct bo_cli *g, int argc, char **argv)
{
	struct cmdline c;
	int rc, i = begin(g, argc, argv, &c, 0, &rc);

	return i < 0 ? rc : cmd_features();
}

static const struct bo_cli_command runtime_commands[] = {
	{ "create", verb_create, NULL,
	  "  create [--bundle DIR] [--config FILE] [--pid-file F] "
	  "[--console-socket S]\n"
	  "         [--preserve-fds N] [--no-pivot] ID\n" },
	{ "start", verb_start, NULL,
	  "  start ID            run the program of a created container\n" },
	{ "run", verb_run, NULL,
	  "  run [create's options] [--detach] [--keep] ID\n" },
	{ "state", verb_state, NULL,
	  "  state ID            print the OCI state JSON\n" },
	{ "kill", verb_kill, NULL, "  kill [--all] ID [SIGNAL]\n" },
	{ "delete", verb_delete, NULL,
	  "  delete [--force] ID | delete [--force] --regex RE\n" },
	{ "list", verb_list, NULL,
	  "  list [--format table|json] [--quiet]\n" },
	{ "exec", verb_exec, NULL,
	  "  exec [--process FILE | ARGS...] [--tty] [--env K=V] [--cwd DIR]\n"
	  "       [--user UID[:GID]] [--additional-gids G] [--cap CAP] "
	  "[--no-new-privs]\n"
	  "       [--detach] [--pid-file F] [--console-socket S] ID "
	  "[ARGS...]\n" },
	{ "ps", verb_ps, NULL, "  ps [--format table|json] ID [PS ARGS]\n" },
	{ "pause", verb_pause, NULL,
	  "  pause ID, resume ID  freeze and thaw the container's processes\n" },
	{ "resume", verb_pause, NULL, NULL },
	{ "update", verb_update, NULL,
	  "  update [--resources FILE|-] [--memory N] [--memory-reservation N]\n"
	  "         [--memory-swap N] [--pids-limit N] [--cpu-share N] "
	  "[--cpu-period US]\n"
	  "         [--cpu-quota US] [--cpuset-cpus LIST] [--cpuset-mems LIST]\n"
	  "         [--cpu-rt-period US] [--cpu-rt-runtime US] [--blkio-weight N]\n"
	  "         [--kernel-memory-tcp N] ID\n"
	  "                      change a container's limits (N: bytes, or with "
	  "k, m, g)\n" },
	{ "events", verb_events, NULL,
	  "  events [--stats] [--interval 5s] ID\n"
	  "                      cpu, memory and pids statistics as JSON lines, "
	  "and oom\n"
	  "                      events, until the container stops\n" },
	{ "checkpoint", bo_cli_checkpoint, NULL,
	  "  checkpoint [--image-path DIR] [--work-path DIR] [--parent-path DIR]\n"
	  "         [--leave-running] [--tcp-established] [--ext-unix-sk]\n"
	  "         [--shell-job] [--file-locks] [--manage-cgroups-mode M] ID\n"
	  "                      dump the container with criu (default DIR:\n"
	  "                      ./checkpoint); stops it unless --leave-running\n" },
	{ "restore", bo_cli_restore, NULL,
	  "  restore [--image-path DIR] [--work-path DIR] [--bundle DIR] "
	  "[--detach]\n"
	  "         [--pid-file F] [checkpoint's criu options] ID\n"
	  "                      a container from a checkpoint (criu restore)\n" },
	{ "features", verb_features, NULL,
	  "  features            print what this runtime supports (JSON)\n" },
	{ NULL, NULL, NULL, NULL },
};

const struct bo_cli_command *bo_cli_runtime_commands(void)
{
	return runtime_commands;
}
