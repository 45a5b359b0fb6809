/* Daemon plumbing shared by carrier-node and carrier-agent: cr/daemon.h. */
#include "cr/daemon.h"

#include <errno.h>
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
	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		const char *name;

		if (c == '?')
			return cr_error_set(err, EINVAL,
					    "unknown or incomplete option '%s' "
					    "(see --help)",
					    argv[optind - 1]);
		name = opts[idx].name;
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
	event_add(s->term, NULL);
	event_add(s->intr, NULL);
	event_add(s->hup, NULL);
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
