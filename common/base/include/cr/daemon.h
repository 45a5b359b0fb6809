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

/*
 * A daemon's whole life in one call: flags and config file, --check, core
 * dumps off (keys live in the process), logging, the event loop with its
 * signals, and teardown.  The daemon supplies its configuration type and
 * what to start, reload and stop.
 */
struct cr_daemon_spec {
	const char *name;    /* "carrier-node": logs and messages */
	const char *version; /* printed by --version */
	const char *usage;   /* printed by --help */
	const struct option *opts;
	size_t cfg_size;
	void (*cfg_init)(void *cfg);
	cr_config_fn cfg_set;
	int (*cfg_check)(const void *cfg, struct cr_error **err);
	/* The log settings of a configuration. */
	void (*cfg_log)(const void *cfg, int *level, int *use_syslog);
	void *(*start)(struct event_base *base, const void *cfg,
		       struct cr_error **err);
	int (*reload)(void *daemon, const void *cfg, struct cr_error **err);
	void (*stop)(void *daemon);
};

/* Returns the process exit status: 0, 1 for a runtime failure, 2 for bad
 * arguments or configuration syntax. */
int cr_daemon_main(const struct cr_daemon_spec *spec, int argc, char **argv);

#endif
