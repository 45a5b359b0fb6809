/*
 * carrier-node: the ring node daemon.  Parses flags and the config file,
 * then runs one libevent loop until SIGTERM or SIGINT; SIGHUP reloads.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>

#include "cr/daemon.h"
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
	"  --tcp HOST:PORT       TCP fallback listener: datagrams over TLS for "
	"peers whose\n"
	"                        UDP is blocked (use the port of --listen)\n"
	"  --cache-size SIZE     bound of the Archon shard cache (DIR/cache.mdb),\n"
	"                        bytes or with K, M, G (default 1G; 0: no cache)\n"
	"  --cache-listen HOST:PORT  TCP address serving the shard cache over "
	"HTTP\n"
	"                        (default: the --listen address, where archon "
	"pull\n"
	"                        --ring looks for it)\n"
	"  --cache-origins URL[,URL...]  fetch misses only from these "
	"origins (same\n"
	"                        scheme, host and port, path at or below);\n"
	"                        default: none (the cache serves only what it "
	"holds).\n"
	"                        No redirects; internal addresses (loopback, "
	"private,\n"
	"                        link-local) only when named here by IP "
	"address\n"
	"  --operator OP_ID      pin this operator (or opset_HEX: this "
	"operator set);\n"
	"                        default: trust the first one seen\n"
	"  --config FILE         settings as 'key = value' lines, keys named "
	"as the\n"
	"                        long flags; flags on the command line win\n"
	"  --log-level LEVEL     error, warn, info (default) or debug\n"
	"  --syslog              log to syslog instead of stderr\n"
	"  --capture FILE        debug: append every datagram to FILE\n"
	"  --max-sessions N      refuse new peers beyond N (default 200000; 0: "
	"no limit)\n"
	"  --sessions-per-identity N  established sessions one identity holds "
	"at once;\n"
	"                        one more replaces its least recently heard "
	"(default 256)\n"
	"  --handshake-load N    demand cookies above N handshakes/s "
	"(default 2000)\n"
	"  --handshake-per-addr N  under that load, at most N handshakes/s "
	"from one\n"
	"                        source address (default 20; 0: no limit)\n"
	"  --route-idle DURATION drop relay routes idle this long (default "
"120s)\n"
	"  --routes-per-vendor N relay routes one vendor identity holds "
	"(default 1024)\n"
	"  --routes-per-device N relay routes to one device (default 32); when "
	"full, the\n"
	"                        vendor holding the most gives up its least "
	"used one\n"
	"  --connect-rate N      connect offers a second per (vendor, device), "
	"5 s' worth\n"
	"                        saved up (default 5)\n"
	"  --tcp-max N           TCP fallback connections in all (default "
	"10000)\n"
	"  --tcp-per-addr N      ... from one IP address (default 64)\n"
	"  --tcp-handshake-timeout DURATION  close a TCP connection whose TLS "
	"handshake\n"
	"                        is not done by then (default 10s)\n"
	"  --tcp-out-max SIZE    bytes queued for all TCP connections (default "
	"256M)\n"
	"                        (0 in any of these limits: no limit, except "
	"the timeout)\n"
	"  --heartbeat DURATION  node-to-node heartbeat interval (default "
	"250ms)\n"
	"  --peer-timeout DURATION  a node unheard this long is dead "
	"(default 1s)\n"
	"  --replicas R          home-set size (default: the ring's; `carrier "
	"ring init`\n"
	"                        makes it a majority of the nodes, 3 to 16; "
	"a ring\n"
	"                        file without it: 3)\n"
	"  --presence-max-ttl DURATION  refuse presence records that expire "
	"further\n"
	"                        ahead (default 24h; 0: no bound)\n"
	"  --presence-max-records N  presence records held; a new device "
	"beyond it is\n"
	"                        refused once expired records are purged "
	"(default\n"
	"                        500000; 0: no bound)\n"
	"  --presence-new-per-addr N  new devices an hour whose publishes "
	"come from one\n"
	"                        source address (default 2000; 0: no "
	"bound)\n"
	"  --fleet-max-records N  rollout records held: deployments, "
	"advances, status\n"
	"                        reports (default 1000000; 0: no bound)\n"
	"  --fleet-apps-per-vendor N  deployments one fleet holds (default "
	"64; 0: no\n"
	"                        bound)\n"
	"  --health-ttl D        a device's health record is dropped D after "
	"it came\n"
	"                        (default 24h): a device gone for good leaves "
	"no record\n"
	"  --byzantine[=ROLES]   TEST ONLY (builds with CR_TEST_MODES): lie "
	"in the roles\n"
	"                        named, comma-separated: drop, delay, stale, "
	"forge,\n"
	"                        other, nostore, misroute, replay, liveness, "
	"epoch,\n"
	"                        flood, fleet-drop, fleet-forge, fleet-replay,\n"
	"                        fleet-lossy, or all;\n"
	"                        alone: drop,stale,forge,epoch\n"
	"  --check               validate the configuration and exit\n"
	"  --help, -h, --version, -V\n"
	"\n"
	"Signals: SIGTERM and SIGINT stop cleanly; SIGHUP reloads the config "
	"file\nand the ring (a failed reload keeps the running "
	"configuration).\n"
	"\n"
	"Exit status: 0 stopped cleanly (or --check passed), 1 runtime failure "
	"(bad key,\nring or data folder), 2 usage error (unknown option, "
	"malformed value).\n";

static const struct option long_opts[] = {
	{ "key", required_argument, NULL, 0 },
	{ "ring", required_argument, NULL, 0 },
	{ "listen", required_argument, NULL, 0 },
	{ "data", required_argument, NULL, 0 },
	{ "metrics", required_argument, NULL, 0 },
	{ "tcp", required_argument, NULL, 0 },
	{ "cache-size", required_argument, NULL, 0 },
	{ "cache-listen", required_argument, NULL, 0 },
	{ "cache-origins", required_argument, NULL, 0 },
	{ "operator", required_argument, NULL, 0 },
	{ "config", required_argument, NULL, 0 },
	{ "log-level", required_argument, NULL, 0 },
	{ "capture", required_argument, NULL, 0 },
	{ "max-sessions", required_argument, NULL, 0 },
	{ "handshake-load", required_argument, NULL, 0 },
	{ "handshake-per-addr", required_argument, NULL, 0 },
	{ "route-idle", required_argument, NULL, 0 },
	{ "sessions-per-identity", required_argument, NULL, 0 },
	{ "routes-per-vendor", required_argument, NULL, 0 },
	{ "routes-per-device", required_argument, NULL, 0 },
	{ "connect-rate", required_argument, NULL, 0 },
	{ "tcp-max", required_argument, NULL, 0 },
	{ "tcp-per-addr", required_argument, NULL, 0 },
	{ "tcp-handshake-timeout", required_argument, NULL, 0 },
	{ "tcp-out-max", required_argument, NULL, 0 },
	{ "heartbeat", required_argument, NULL, 0 },
	{ "peer-timeout", required_argument, NULL, 0 },
	{ "replicas", required_argument, NULL, 0 },
	{ "presence-max-ttl", required_argument, NULL, 0 },
	{ "presence-max-records", required_argument, NULL, 0 },
	{ "presence-new-per-addr", required_argument, NULL, 0 },
	{ "fleet-max-records", required_argument, NULL, 0 },
	{ "health-ttl", required_argument, NULL, 0 },
	{ "fleet-apps-per-vendor", required_argument, NULL, 0 },
	{ "byzantine", optional_argument, NULL, 0 },
	{ "syslog", no_argument, NULL, 0 },
	{ "check", no_argument, NULL, 0 },
	{ "help", no_argument, NULL, 0 },
	{ "version", no_argument, NULL, 0 },
	{ NULL, 0, NULL, 0 },
};

static int set_cb(void *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	return rn_config_set(cfg, key, value, err);
}

static void cfg_init(void *cfg)
{
	rn_config_init(cfg);
}

static int cfg_check(const void *cfg, struct cr_error **err)
{
	return rn_config_check(cfg, err);
}

static void cfg_log(const void *cfg, int *level, int *use_syslog)
{
	const struct rn_config *c = cfg;

	*level = (int)c->log_level;
	*use_syslog = c->use_syslog;
}

static void *start(struct event_base *base, const void *cfg,
		   struct cr_error **err)
{
	return rn_node_new(base, cfg, err);
}

static int reload(void *daemon, const void *cfg, struct cr_error **err)
{
	return rn_node_reload(daemon, cfg, err);
}

static void stop(void *daemon)
{
	rn_node_free(daemon);
}

int main(int argc, char **argv)
{
	static const struct cr_daemon_spec spec = {
		.name = "carrier-node",
		.version = "carrier-node " KORHAL_VERSION,
		.usage = usage_text,
		.opts = long_opts,
		.cfg_size = sizeof(struct rn_config),
		.cfg_init = cfg_init,
		.cfg_set = set_cb,
		.cfg_check = cfg_check,
		.cfg_log = cfg_log,
		.start = start,
		.reload = reload,
		.stop = stop,
	};

	int rc;

	/* Once, before any thread: the shard cache fetches with libcurl. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cr_daemon_main(&spec, argc, argv);
	curl_global_cleanup();
	return rc;
}
