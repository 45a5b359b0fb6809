/*
 * carrier-agent: the device daemon.  Parses flags and the config file,
 * then runs one libevent loop until SIGTERM or SIGINT; SIGHUP reloads (the
 * allow list among the rest) without dropping other sessions.
 */
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cr/daemon.h"
#include "da/agent.h"
#include "da/control.h"

static const char usage_text[] =
	"usage: carrier-agent --key DEVICE_KEY --ring RING --data DIR\n"
	"                     [--allow VENDOR_ID:PORT[,PORT...]]... "
	"[--trust TRUST [--tag K=V]...]\n"
	"                     [--config FILE] [--check]\n"
	"       carrier-agent [--data DIR] install RELEASE [--health-window D] "
	"[--no-wait]\n"
	"       carrier-agent [--data DIR] apps [--json]\n"
	"       carrier-agent [--data DIR] config FILE\n"
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
	"                        A PORT of 'shell' allows carrier shell and "
	"carrier cp.\n"
	"                        Default: nobody.  SIGHUP re-reads it.\n"
	"  --trust FILE          the vendor's trust root (carrier trust "
	"init): run the apps\n"
	"                        its signed releases name (see install, "
	"apps below),\n"
	"                        and follow the rollouts (carrier deploy) "
	"that target it\n"
	"  --tag K=V             a tag in the device's signed presence; "
	"deployments to\n"
	"                        tag:K=V reach it; up to 4, repeatable\n"
	"  --serve-port PORT[,PORT...]\n"
	"                        let devices of the fleet (a fleet credential "
	"the trust\n"
	"                        root validates) reach 127.0.0.1:PORT; "
	"repeatable;\n"
	"                        needs --trust.  The agent serves its apps' "
	"store on the\n"
	"                        first PORT and announces what it holds to the "
	"ring\n"
	"  --credential FILE     this device's fleet credential (`carrier "
	"fleet\n"
	"                        credential`):"
	" the apps' pulls ask the fleet's\n"
	"                        peers first, then the ring's caches, then the "
	"origin;\n"
	"                        needs --trust\n"
	"  --carrier PATH        the carrier program those pulls run (default: "
	"the one\n"
	"                        next to carrier-agent, else carrier in PATH)\n"
	"  --operator OP_ID      pin this operator (or opset_HEX: this "
	"operator set);\n"
	"                        default: trust the first one seen\n"
	"  --listen HOST:PORT    local UDP address (default: any, random "
	"port)\n"
	"  --keepalive DURATION  ping interval to each node (default 7.5s "
	"a link, from\n"
	"                        15s to 30s: 30s with 4 links, inside NAT "
	"timeouts); the\n"
	"                        nodes take the device for offline after "
	"three silent\n"
	"                        intervals\n"
	"  --health-interval D   how often a signed health record (uptime, "
	"load,\n"
	"                        memory, flash free, temperature) goes to the "
	"ring\n"
	"                        (default 5m)\n"
	"  --attach N            home nodes to hold sessions with, 1-8 "
	"(default: as many\n"
	"                        as hold the device's record, the ring's "
	"home-set size,\n"
	"                        4 of 6 nodes: any half of the ring may die "
	"or lie)\n"
	"  --presence-ttl DUR    lifetime of a presence record, refreshed at "
	"half of it\n"
	"                        (default 300s a link, from 600s to 1200s)\n"
	"  --migrate-window DUR  after a new ring epoch, move to the new home "
	"nodes at\n"
	"                        random moments within DUR (default 30s)\n"
	"  --config FILE         settings as 'key = value' lines, keys named "
	"as the\n"
	"                        long flags; flags on the command line win\n"
	"  --log-level LEVEL     error, warn, info (default) or debug\n"
	"  --syslog              log to syslog instead of stderr\n"
	"  --tcp                 reach the ring over TCP (TLS) on the nodes' "
	"ports; done\n"
	"                        by itself when no node answers over UDP in "
	"3 s\n"
	"  --apps-store DIR      the Archon store of the apps (default "
	"DATA/archon)\n"
	"  --apps-cgroup NAME    cgroup parent of the apps' containers "
	"(default korhal-apps)\n"
	"  --apps-reserve SIZE   free space a pull must leave on the store's "
	"file system\n"
	"                        (default 16M); a bigger pull is refused, "
	"touching nothing\n"
	"  --health-window DUR   how long a new version must stay healthy "
	"before it is\n"
	"                        committed (default 30s)\n"
	"  --config-ring-window DUR  a new config of an app must leave the "
	"ring\n"
	"                        reachable this long after it is applied, or "
	"it is\n"
	"                        reverted (default 60s, at least the health "
	"window)\n"
	"  --check               validate the configuration as the start does "
	"(flags,\n"
	"                        key type and mode, ring file) and exit; "
	"writes nothing\n"
	"  --help, -h, --version, -V\n"
	"\n"
	"Subcommands, to the running agent over DIR/control.sock (default "
	"DIR\n/var/lib/carrier-agent):\n"
	"  install RELEASE       switch an app to a release; waits for the "
	"outcome: exit 0\n"
	"                        committed, 1 refused or rolled back (the "
	"reason on stderr).\n"
	"                        --health-window D, --no-wait\n"
	"  apps [--json]         the apps: version, state, previous versions, "
	"last switch,\n"
	"                        last error, the deployment followed "
	"(deployment_seq),\n"
	"                        restarts, the config running and the last "
	"revert's reason\n"
	"  config FILE           hand a signed config record to the agent (as "
	"the ring\n"
	"                        pushes them): accepted, or refused with the "
	"reason\n"
	"\n"
	"SIGTERM and SIGINT stop cleanly and tell the home nodes the device "
	"goes offline;\nSIGHUP re-reads the configuration.  The apps keep running while the agent\nis stopped; the next start takes them over.\n"
	"\n"
	"Exit status: 0 stopped cleanly (or --check passed), 1 runtime failure "
	"(bad key,\nring or data folder), 2 usage error (unknown option, "
	"malformed value).\n";

static const struct option long_opts[] = {
	{ "key", required_argument, NULL, 0 },
	{ "ring", required_argument, NULL, 0 },
	{ "data", required_argument, NULL, 0 },
	{ "allow", required_argument, NULL, 0 },
	{ "trust", required_argument, NULL, 0 },
	{ "serve-port", required_argument, NULL, 0 },
	{ "credential", required_argument, NULL, 0 },
	{ "carrier", required_argument, NULL, 0 },
	{ "tag", required_argument, NULL, 0 },
	{ "operator", required_argument, NULL, 0 },
	{ "listen", required_argument, NULL, 0 },
	{ "keepalive", required_argument, NULL, 0 },
	{ "health-interval", required_argument, NULL, 0 },
	{ "attach", required_argument, NULL, 0 },
	{ "presence-ttl", required_argument, NULL, 0 },
	{ "migrate-window", required_argument, NULL, 0 },
	{ "config", required_argument, NULL, 0 },
	{ "log-level", required_argument, NULL, 0 },
	{ "syslog", no_argument, NULL, 0 },
	{ "tcp", no_argument, NULL, 0 },
	{ "check", no_argument, NULL, 0 },
	{ "apps-store", required_argument, NULL, 0 },
	{ "apps-cgroup", required_argument, NULL, 0 },
	{ "apps-reserve", required_argument, NULL, 0 },
	{ "health-window", required_argument, NULL, 0 },
	{ "config-ring-window", required_argument, NULL, 0 },
	{ "help", no_argument, NULL, 0 },
	{ "version", no_argument, NULL, 0 },
	{ NULL, 0, NULL, 0 },
};

static int set_cb(void *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	return da_config_set(cfg, key, value, err);
}

static void cfg_init(void *cfg)
{
	da_config_init(cfg);
}

static int cfg_check(const void *cfg, struct cr_error **err)
{
	return da_config_check(cfg, err);
}

static void cfg_log(const void *cfg, int *level, int *use_syslog)
{
	const struct da_config *c = cfg;

	*level = (int)c->log_level;
	*use_syslog = c->use_syslog;
}

static void *start(struct event_base *base, const void *cfg,
		   struct cr_error **err)
{
	return da_agent_new(base, cfg, err);
}

static int reload(void *daemon, const void *cfg, struct cr_error **err)
{
	return da_agent_reload(daemon, cfg, err);
}

static void stop(void *daemon)
{
	/* SIGTERM or SIGINT: the nodes mark the device offline now rather
	 * than after missing its keepalives. */
	da_agent_detach(daemon);
	da_agent_free(daemon);
}

/* The program's entry, by name: korhal-device (device-agent/device) calls
 * it when run as carrier-agent or `korhal-device agent`. */
int da_agent_main(int argc, char **argv);
int da_agent_main(int argc, char **argv)
{
	static const struct cr_daemon_spec spec = {
		.name = "carrier-agent",
		.version = "carrier-agent " KORHAL_VERSION,
		.usage = usage_text,
		.opts = long_opts,
		.cfg_size = sizeof(struct da_config),
		.cfg_init = cfg_init,
		.cfg_set = set_cb,
		.cfg_check = cfg_check,
		.cfg_log = cfg_log,
		.start = start,
		.reload = reload,
		.stop = stop,
	};
	/* `carrier-agent [--data DIR] install|apps ...` talk to the running
	 * agent; anything else starts one. */
	int rc = da_control_main(argc, argv);

#ifdef __GLIBC__
	/* A device's memory (issue 16, bench/device-idle.sh): one arena (the
	 * loop is one thread), and fixed thresholds instead of glibc's
	 * adaptive ones, which after a large buffer is freed serve the next
	 * ones from the heap, where they stay resident; the agent trims
	 * what its busy passes freed once it is idle (agent_on_tick). */
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024);
#endif

	if (rc >= 0)
		return rc;
	return cr_daemon_main(&spec, argc, argv);
}

#ifndef KORHAL_MULTICALL
int main(int argc, char **argv)
{
	return da_agent_main(argc, argv);
}
#endif
