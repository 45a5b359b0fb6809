/* Daemon plumbing shared by carrier-node and carrier-agent: cr/daemon.h. */
#include "cr/daemon.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cr/log.h"

int cr_daemon_parse(int argc, char **argv, const struct option *opts,
		    cr_config_fn set, void *cfg, char *config_path,
		    size_t config_cap, const char *usage, const char *version,
		    struct cr_error **err)
{
	int check = 0, idx, c;

	/* Pass 1: find --config, --help, --version. */
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hV", opts, &idx)) != -1) {
		const char *name;

		if (c == '?')
			return cr_error_set(err, EINVAL,
					    "unknown or incomplete option '%s'",
					    argv[optind - 1]);
		/* -h and -V, as every Korhal program takes them
		 * (docs/cli-conventions.md). */
		name = c == 'h' ? "help" : c == 'V' ? "version" : opts[idx].name;
		if (strcmp(name, "help") == 0) {
			fputs(usage, stdout);
			return CR_DAEMON_EXIT;
		}
		if (strcmp(name, "version") == 0) {
			puts(version);
			return CR_DAEMON_EXIT;
		}
		if (strcmp(name, "config") == 0)
			snprintf(config_path, config_cap, "%s", optarg);
	}
	if (optind < argc)
		return cr_error_set(err, EINVAL, "unexpected argument '%s'",
				    argv[optind]);
	if (config_path[0] != '\0' &&
	    cr_config_load(config_path, set, cfg, err) < 0)
		return -1;
	/* Pass 2: flags win over the file. */
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		const char *name = opts[idx].name;

		if (strcmp(name, "config") == 0)
			continue;
		if (strcmp(name, "check") == 0) {
			check = 1;
			continue;
		}
		if (set(cfg, name, optarg != NULL ? optarg : "yes", err) < 0)
			return cr_error_wrap(err, "--%s", name);
	}
	return check ? CR_DAEMON_CHECK : CR_DAEMON_RUN;
}

static void daemon_on_stop(evutil_socket_t sig, short what, void *arg)
{
	cr_log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(arg, NULL);
}

static void daemon_on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct cr_daemon_signals *s = arg;

	cr_log_info("SIGHUP: reloading configuration");
	s->reload(s->arg);
}

int cr_daemon_signals(struct event_base *base, struct cr_daemon_signals *s,
		      void (*reload)(void *arg), void *arg)
{
	s->reload = reload;
	s->arg = arg;
	signal(SIGPIPE, SIG_IGN);
	s->term = evsignal_new(base, SIGTERM, daemon_on_stop, base);
	s->intr = evsignal_new(base, SIGINT, daemon_on_stop, base);
	s->hup = evsignal_new(base, SIGHUP, daemon_on_hup, s);
	if (s->term == NULL || s->intr == NULL || s->hup == NULL)
		return -1;
	if (event_add(s->term, NULL) < 0 || event_add(s->intr, NULL) < 0 ||
	    event_add(s->hup, NULL) < 0)
		return -1;
	return 0;
}

void cr_daemon_signals_free(struct cr_daemon_signals *s)
{
	if (s->hup != NULL)
		event_free(s->hup);
	if (s->intr != NULL)
		event_free(s->intr);
	if (s->term != NULL)
		event_free(s->term);
}

struct daemon_run {
	const struct cr_daemon_spec *spec;
	int argc;
	char **argv;
	void *daemon;
};

/* Builds a configuration from the file and flags into cfg. */
static int daemon_load(const struct cr_daemon_spec *spec, int argc,
		       char **argv, void *cfg, struct cr_error **err)
{
	char config_path[4096] = "";

	spec->cfg_init(cfg);
	return cr_daemon_parse(argc, argv, spec->opts, spec->cfg_set, cfg,
			       config_path, sizeof(config_path), spec->usage,
			       spec->version, err);
}

static void daemon_reload(void *arg)
{
	struct daemon_run *run = arg;
	const struct cr_daemon_spec *spec = run->spec;
	struct cr_error *err = NULL;
	void *cfg = calloc(1, spec->cfg_size);
	int level, use_syslog;

	if (cfg == NULL) {
		cr_log_warnx("reload failed: out of memory");
		return;
	}
	if (daemon_load(spec, run->argc, run->argv, cfg, &err) < 0 ||
	    spec->cfg_check(cfg, &err) < 0 ||
	    spec->reload(run->daemon, cfg, &err) < 0) {
		cr_log_warnx("reload failed, keeping the running "
			     "configuration: %s",
			     cr_error_msg(err));
	} else {
		spec->cfg_log(cfg, &level, &use_syslog);
		cr_log_set_level((enum cr_log_level)level);
	}
	cr_error_free(err);
	free(cfg);
}

int cr_daemon_main(const struct cr_daemon_spec *spec, int argc, char **argv)
{
	struct daemon_run run = { spec, argc, argv, NULL };
	struct cr_daemon_signals sigs = { 0 };
	struct cr_error *err = NULL;
	struct event_base *base;
	void *cfg;
	int rc, level, use_syslog;

	cfg = calloc(1, spec->cfg_size);
	if (cfg == NULL) {
		fprintf(stderr, "%s: out of memory\n", spec->name);
		return 1;
	}
	rc = daemon_load(spec, argc, argv, cfg, &err);
	if (rc == CR_DAEMON_EXIT) {
		free(cfg);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", spec->name,
			cr_error_msg(err), spec->name);
		rc = 2;
		goto out;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: libsodium failed to initialize\n",
			spec->name);
		rc = 1;
		goto out;
	}
	if (spec->cfg_check(cfg, &err) < 0) {
		fprintf(stderr, "%s: %s\n", spec->name, cr_error_msg(err));
		rc = 1;
		goto out;
	}
	if (rc == CR_DAEMON_CHECK) {
		puts("configuration OK");
		rc = 0;
		goto out;
	}
	/* Keys live in this process: never in a core file.  Lowering a
	 * limit cannot normally fail; if it does, refuse to hold keys. */
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0) {
		fprintf(stderr, "%s: cannot disable core dumps: %s\n",
			spec->name, strerror(errno));
		rc = 1;
		goto out;
	}
	spec->cfg_log(cfg, &level, &use_syslog);
	cr_log_init(spec->name, (enum cr_log_level)level, use_syslog);
	base = event_base_new();
	if (base == NULL)
		cr_fatalx("cannot create the event loop");
	run.daemon = spec->start(base, cfg, &err);
	if (run.daemon == NULL) {
		fprintf(stderr, "%s: %s\n", spec->name, cr_error_msg(err));
		event_base_free(base);
		rc = 1;
		goto out;
	}
	if (cr_daemon_signals(base, &sigs, daemon_reload, &run) < 0)
		cr_fatalx("cannot install signal handlers");
	event_base_dispatch(base);
	cr_daemon_signals_free(&sigs);
	spec->stop(run.daemon);
	event_base_free(base);
	cr_log_info("stopped");
	rc = 0;
out:
	cr_error_free(err);
	free(cfg);
	return rc;
}
