/*
 * carrier-node: the ring node daemon.  Parses flags and the config file,
 * then runs one libevent loop until SIGTERM or SIGINT; SIGHUP reloads.
 */
#include <event2/event.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cr/daemon.h"
#include "cr/log.h"
#include "rn/node.h"

static const char usage_text[] =
	"usage: carrier-node --key NODE_KEY --ring RING --listen HOST:PORT "
	"--data DIR\n"
	"                    [--metrics HOST:PORT] [--tcp HOST:PORT] "
	"[--config FILE] [--check]\n"
	"\n"
	"The Carrier ring node daemon: holds device and vendor sessions on one\n"
	"UDP socket, stores signed presence records in DIR (LMDB), answers\n"
	"lookups and relays end-to-end encrypted traffic it cannot read.\n"
	"\n"
	"  --key FILE            the node's secret key (carrier keygen --type "
	"node)\n"
	"  --ring FILE           the signed ring configuration (carrier ring "
	"init)\n"
	"  --listen HOST:PORT    UDP address to serve, as in the ring "
	"configuration\n"
	"  --data DIR            state directory (created, mode 0700)\n"
	"  --metrics HOST:PORT   serve Prometheus metrics at /metrics\n"
	"  --tcp HOST:PORT       TCP fallback listener (not yet available)\n"
	"  --operator OP_ID      pin this operator; default: trust the first "
	"one seen\n"
	"  --config FILE         settings as 'key = value' lines, keys named "
	"as the\n"
	"                        long flags; flags on the command line win\n"
	"  --log-level LEVEL     error, warn, info (default) or debug\n"
	"  --syslog              log to syslog instead of stderr\n"
	"  --capture FILE        debug: append every datagram to FILE\n"
	"  --max-sessions N      refuse new peers beyond N (0: no limit)\n"
	"  --handshake-load N    demand cookies above N handshakes/s "
	"(default 2000)\n"
	"  --route-idle DURATION drop relay routes idle this long (default "
	"120s)\n"
	"  --check               validate the configuration and exit\n"
	"  --help, --version\n"
	"\n"
	"Signals: SIGTERM and SIGINT stop cleanly; SIGHUP reloads the config "
	"file\nand the ring (a failed reload keeps the running "
	"configuration).\n";

static const struct option long_opts[] = {
	{ "key", required_argument, NULL, 0 },
	{ "ring", required_argument, NULL, 0 },
	{ "listen", required_argument, NULL, 0 },
	{ "data", required_argument, NULL, 0 },
	{ "metrics", required_argument, NULL, 0 },
	{ "tcp", required_argument, NULL, 0 },
	{ "operator", required_argument, NULL, 0 },
	{ "config", required_argument, NULL, 0 },
	{ "log-level", required_argument, NULL, 0 },
	{ "capture", required_argument, NULL, 0 },
	{ "max-sessions", required_argument, NULL, 0 },
	{ "handshake-load", required_argument, NULL, 0 },
	{ "route-idle", required_argument, NULL, 0 },
	{ "syslog", no_argument, NULL, 0 },
	{ "check", no_argument, NULL, 0 },
	{ "help", no_argument, NULL, 0 },
	{ "version", no_argument, NULL, 0 },
	{ NULL, 0, NULL, 0 },
};

struct main_state {
	int argc;
	char **argv;
	struct rn_node *node;
};

static int set_cb(void *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	return rn_config_set(cfg, key, value, err);
}

static int load_config(int argc, char **argv, struct rn_config *cfg,
		       struct cr_error **err)
{
	char config_path[4096] = "";

	rn_config_init(cfg);
	return cr_daemon_parse(argc, argv, long_opts, set_cb, cfg, config_path,
			       sizeof(config_path), usage_text,
			       "carrier-node 0.1.0", err);
}

static void reload(void *arg)
{
	struct main_state *st = arg;
	struct cr_error *err = NULL;
	struct rn_config cfg;

	if (load_config(st->argc, st->argv, &cfg, &err) < 0 ||
	    rn_node_reload(st->node, &cfg, &err) < 0)
		cr_log_warnx("reload failed, keeping the running "
			     "configuration: %s",
			     cr_error_msg(err));
	cr_error_free(err);
}

int main(int argc, char **argv)
{
	struct main_state st = { .argc = argc, .argv = argv };
	struct cr_daemon_signals sigs = { 0 };
	struct cr_error *err = NULL;
	struct event_base *base;
	struct rn_config cfg;
	int rc;

	rc = load_config(argc, argv, &cfg, &err);
	if (rc == CR_DAEMON_EXIT)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "carrier-node: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "carrier-node: libsodium failed to initialize\n");
		return 1;
	}
	if (rn_config_check(&cfg, &err) < 0) {
		fprintf(stderr, "carrier-node: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	if (rc == CR_DAEMON_CHECK) {
		puts("configuration OK");
		return 0;
	}
	/* Keys live in this process: never in a core file. */
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	cr_log_init("carrier-node", cfg.log_level, cfg.use_syslog);
	base = event_base_new();
	if (base == NULL)
		cr_fatalx("cannot create the event loop");
	st.node = rn_node_new(base, &cfg, &err);
	if (st.node == NULL) {
		fprintf(stderr, "carrier-node: %s\n", cr_error_msg(err));
		cr_error_free(err);
		event_base_free(base);
		return 1;
	}
	if (cr_daemon_signals(base, &sigs, reload, &st) < 0)
		cr_fatalx("cannot install signal handlers");
	event_base_dispatch(base);
	cr_daemon_signals_free(&sigs);
	rn_node_free(st.node);
	event_base_free(base);
	cr_log_info("stopped");
	return 0;
}
