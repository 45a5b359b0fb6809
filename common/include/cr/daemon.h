/*
 * What both daemons do the same way: flags and config file merged into one
 * configuration (file first, flags on top, every flag also a config key),
 * and the libevent signal set-up (SIGTERM/SIGINT stop, SIGHUP reloads).
 */
#ifndef CR_DAEMON_H
#define CR_DAEMON_H

#include <event2/event.h>
#include <getopt.h>
#include <stddef.h>

#include "cr/config.h"
#include "cr/error.h"

enum cr_daemon_parse {
	CR_DAEMON_RUN = 0,
	CR_DAEMON_CHECK = 1, /* --check given */
	CR_DAEMON_EXIT = 2,  /* --help or --version printed */
};

/*
 * Parses argv with opts (long options only; the option name is the config
 * key; flags without an argument set the key to "yes").  The options
 * "config", "check", "help" and "version" are handled here.  set() applies
 * one key to cfg.  Returns a cr_daemon_parse value, or -1 with *err.
 */
int cr_daemon_parse(int argc, char **argv, const struct option *opts,
		    cr_config_fn set, void *cfg, char *config_path,
		    size_t config_cap, const char *usage, const char *version,
		    struct cr_error **err);

struct cr_daemon_signals {
	struct event *term, *intr, *hup;
	void (*reload)(void *arg);
	void *arg;
};

/* Registers the signals: stop ends the loop; reload is called on SIGHUP.
 * s must outlive the loop. */
int cr_daemon_signals(struct event_base *base, struct cr_daemon_signals *s,
		      void (*reload)(void *arg), void *arg);
void cr_daemon_signals_free(struct cr_daemon_signals *s);

#endif
