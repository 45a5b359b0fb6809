/*
 * carrier-agent: the device daemon.  Parses flags and the config file,
 * then runs one libevent loop until SIGTERM or SIGINT; SIGHUP reloads (the
 * allow list among the rest) without dropping other sessions.
 */
#include <event2/event.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cr/daemon.h"
#include "cr/log.h"
#include "da/agent.h"

static const char usage_text[] =
	"usage: carrier-agent --key DEVICE_KEY --ring RING --data DIR\n"
	"                     [--allow VENDOR_ID:PORT[,PORT...]]... "
	"[--config FILE] [--check]\n"
	"\n"
	"The Carrier device agent: attaches the device to its home nodes in "
	"the\nring, publishes its signed presence, keeps the path open "
	"through NATs,\nand lets authorized vendors reach local TCP ports "
	"with `carrier connect`.\n"
	"\n"
	"  --key FILE            the device's secret key (carrier keygen "
	"--type device)\n"
	"  --ring FILE           the signed ring configuration\n"
	"  --data DIR            state directory (created, mode 0700)\n"
	"  --allow VENDOR_ID:PORT[,PORT...]\n"
	"                        let that vendor reach 127.0.0.1:PORT; "
	"repeatable.\n"
	"                        Default: nobody.  SIGHUP re-reads it.\n"
	"  --operator OP_ID      pin this operator; default: trust the first "
	"one seen\n"
	"  --listen HOST:PORT    local UDP address (default: any, random "
	"port)\n"
	"  --keepalive DURATION  ping interval to the nodes (default 15s, "
	"inside NAT\n"
	"                        timeouts)\n"
	"  --attach N            home nodes to hold sessions with (default "
	"2)\n"
	"  --presence-ttl DUR    lifetime of a presence record (default "
	"600s)\n"
	"  --config FILE         settings as 'key = value' lines, keys named "
	"as the\n"
	"                        long flags; flags on the command line win\n"
	"  --log-level LEVEL     error, warn, info (default) or debug\n"
	"  --syslog              log to syslog instead of stderr\n"
	"  --check               validate the configuration and exit\n"
	"  --help, --version\n";

static const struct option long_opts[] = {
	{ "key", required_argument, NULL, 0 },
	{ "ring", required_argument, NULL, 0 },
	{ "data", required_argument, NULL, 0 },
	{ "allow", required_argument, NULL, 0 },
	{ "operator", required_argument, NULL, 0 },
	{ "listen", required_argument, NULL, 0 },
	{ "keepalive", required_argument, NULL, 0 },
	{ "attach", required_argument, NULL, 0 },
	{ "presence-ttl", required_argument, NULL, 0 },
	{ "config", required_argument, NULL, 0 },
	{ "log-level", required_argument, NULL, 0 },
	{ "syslog", no_argument, NULL, 0 },
	{ "check", no_argument, NULL, 0 },
	{ "help", no_argument, NULL, 0 },
	{ "version", no_argument, NULL, 0 },
	{ NULL, 0, NULL, 0 },
};

struct main_state {
	int argc;
	char **argv;
	struct da_agent *agent;
};

static int set_cb(void *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	return da_config_set(cfg, key, value, err);
}

static int load_config(int argc, char **argv, struct da_config *cfg,
		       struct cr_error **err)
{
	char config_path[4096] = "";

	da_config_init(cfg);
	return cr_daemon_parse(argc, argv, long_opts, set_cb, cfg, config_path,
			       sizeof(config_path), usage_text,
			       "carrier-agent 0.1.0", err);
}

static void reload(void *arg)
{
	struct main_state *st = arg;
	struct cr_error *err = NULL;
	struct da_config cfg;

	if (load_config(st->argc, st->argv, &cfg, &err) < 0 ||
	    da_config_check(&cfg, &err) < 0 ||
	    da_agent_reload(st->agent, &cfg, &err) < 0)
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
	struct da_config cfg;
	int rc;

	rc = load_config(argc, argv, &cfg, &err);
	if (rc == CR_DAEMON_EXIT)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "carrier-agent: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "carrier-agent: libsodium failed to initialize\n");
		return 1;
	}
	if (da_config_check(&cfg, &err) < 0) {
		fprintf(stderr, "carrier-agent: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	if (rc == CR_DAEMON_CHECK) {
		puts("configuration OK");
		return 0;
	}
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	cr_log_init("carrier-agent", cfg.log_level, cfg.use_syslog);
	base = event_base_new();
	if (base == NULL)
		cr_fatalx("cannot create the event loop");
	st.agent = da_agent_new(base, &cfg, &err);
	if (st.agent == NULL) {
		fprintf(stderr, "carrier-agent: %s\n", cr_error_msg(err));
		cr_error_free(err);
		event_base_free(base);
		return 1;
	}
	if (cr_daemon_signals(base, &sigs, reload, &st) < 0)
		cr_fatalx("cannot install signal handlers");
	event_base_dispatch(base);
	cr_daemon_signals_free(&sigs);
	da_agent_free(st.agent);
	event_base_free(base);
	cr_log_info("stopped");
	return 0;
}
