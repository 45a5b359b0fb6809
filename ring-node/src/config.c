/* carrier-node configuration: flags and config file share one table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cr/addr.h"
#include "cr/config.h"
#include "cr/identity.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "rn/byzantine.h"
#include "rn/node.h"

void rn_config_init(struct rn_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = CR_LOG_INFO;
	cfg->route_idle_ms = 120000;
	/* Sized for 10^5 idle devices a node, with room for their
	 * migrations and for vendors. */
	cfg->max_sessions = 200000;
	cfg->sessions_per_identity = 256;
	cfg->routes_per_vendor = 1024;
	cfg->routes_per_device = 32;
	cfg->connect_rate = 5;
	cfg->tcp_max = 10000;
	cfg->tcp_per_addr = 64;
	cfg->tcp_handshake_ms = 10000;
	cfg->tcp_out_max = 256ull << 20;
	cfg->load_handshakes_per_sec = 2000;
	cfg->addr_handshakes_per_sec = 20;
	cfg->heartbeat_ms = 250;
	cfg->peer_timeout_ms = 1000;
	cfg->cache_size = 1ull << 30;
	cfg->presence_max_ttl_ms = 24ull * 3600 * 1000;
	cfg->presence_max_records = 500000;
	cfg->presence_new_per_addr = 2000;
	cfg->fleet_max_records = 1000000;
	cfg->fleet_apps_per_vendor = 64;
	cfg->health_ttl_ms = 86400000;
}


#define KEY(kind, ...) CR_CONFIG_KEY_##kind(struct rn_config, __VA_ARGS__)

static const struct cr_config_key rn_config_keys[] = {
	KEY(STR, "key", key_path),
	KEY(STR, "ring", ring_path),
	KEY(STR, "listen", listen),
	KEY(STR, "data", data_dir),
	KEY(STR, "metrics", metrics),
	KEY(STR, "tcp", tcp),
	KEY(STR, "cache-listen", cache_listen),
	KEY(STR, "cache-origins", cache_origins),
	KEY(BYTES, "cache-size", cache_size, 0, 1ull << 44,
	    "a size in bytes, or with K, M or G (0: no cache)"),
	KEY(STR, "operator", operator_id),
	KEY(STR, "capture", capture_path),
	KEY(LOG_LEVEL, "log-level", log_level),
	KEY(BOOL, "syslog", use_syslog),
	KEY(U64, "max-sessions", max_sessions, 0, 100000000,
	    "a number up to 100000000"),
	KEY(U64, "sessions-per-identity", sessions_per_identity, 0, 1000000,
	    "a number up to 1000000"),
	KEY(MS, "route-idle", route_idle_ms, 0, UINT64_MAX,
	    "a duration (e.g. 120s)"),
	KEY(U64, "routes-per-vendor", routes_per_vendor, 0, 100000000,
	    "a number up to 100000000"),
	/* Bounded: a full device's eviction walks its routes once per
	 * route. */
	KEY(U64, "routes-per-device", routes_per_device, 0, 1024,
	    "a number up to 1024"),
	KEY(U64, "connect-rate", connect_rate, 0, 1000000,
	    "a number up to 1000000"),
	KEY(U64, "tcp-max", tcp_max, 0, 10000000, "a number up to 10000000"),
	KEY(U64, "tcp-per-addr", tcp_per_addr, 0, 10000000,
	    "a number up to 10000000"),
	KEY(MS, "tcp-handshake-timeout", tcp_handshake_ms, 100, 600000,
	    "a duration from 100ms to 10m"),
	KEY(BYTES, "tcp-out-max", tcp_out_max, 0, 1ull << 40,
	    "a size in bytes, or with K, M or G (0: no limit)"),
	KEY(U64, "handshake-load", load_handshakes_per_sec, 0, 10000000,
	    "a number up to 10000000"),
	KEY(U64, "handshake-per-addr", addr_handshakes_per_sec, 0, 10000000,
	    "a number up to 10000000"),
	KEY(MS, "heartbeat", heartbeat_ms, 10, 60000,
	    "a duration from 10ms to 60s"),
	KEY(MS, "peer-timeout", peer_timeout_ms, 50, 600000,
	    "a duration from 50ms to 10m"),
	KEY(U64, "replicas", replicas, 0, 64, "0-64"),
	KEY(MS, "presence-max-ttl", presence_max_ttl_ms, 0, UINT64_MAX,
	    "a duration (e.g. 24h; 0: no bound)"),
	KEY(U64, "presence-max-records", presence_max_records, 0, 100000000,
	    "a number up to 100000000 (0: no bound)"),
	KEY(U64, "presence-new-per-addr", presence_new_per_addr, 0, 1000000,
	    "a number up to 1000000 (0: no bound)"),
	KEY(U64, "fleet-max-records", fleet_max_records, 0, 100000000,
	    "a number up to 100000000 (0: no bound)"),
	KEY(U64, "fleet-apps-per-vendor", fleet_apps_per_vendor, 0, 100000,
	    "a number up to 100000 (0: no bound)"),
	KEY(MS, "health-ttl", health_ttl_ms, 1000, UINT64_MAX,
	    "a duration of at least 1s (e.g. 24h)"),
};

int rn_config_set(struct rn_config *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
#ifndef CR_TEST_MODES
	if (strcmp(key, "byzantine") == 0)
		return cr_error_set(err, EINVAL,
				    "byzantine: a test-only mode; this "
				    "carrier-node was built without "
				    "CR_TEST_MODES");
#else
	/* Roles, not a boolean: see rn/byzantine.h. */
	if (strcmp(key, "byzantine") == 0)
		return rn_byz_parse(value, &cfg->byzantine, err);
#endif
	return cr_config_set_key(rn_config_keys, CR_CONFIG_NKEYS(rn_config_keys), cfg,
				 key, value, err);
}

int rn_config_check(const struct rn_config *cfg, struct cr_error **err)
{
	struct cr_keypair kp;
	struct cr_ring *ring = NULL;
	struct cr_addr a;
	struct cr_ring_anchor op;
	int rc = -1;

	if (cfg->key_path[0] == '\0')
		return cr_error_set(err, EINVAL, "no key: give --key FILE");
	if (cfg->ring_path[0] == '\0')
		return cr_error_set(err, EINVAL, "no ring: give --ring FILE");
	if (cfg->listen[0] == '\0')
		return cr_error_set(err, EINVAL,
				    "no listen address: give --listen "
				    "HOST:PORT");
	if (cfg->data_dir[0] == '\0')
		return cr_error_set(err, EINVAL, "no data directory: give "
						 "--data DIR");
	if (cr_addr_parse(cfg->listen, &a, err) < 0)
		return cr_error_wrap(err, "--listen");
	if (cfg->metrics[0] != '\0' && cr_addr_parse(cfg->metrics, &a, err) < 0)
		return cr_error_wrap(err, "--metrics");
	if (cfg->tcp[0] != '\0' && cr_addr_parse(cfg->tcp, &a, err) < 0)
		return cr_error_wrap(err, "--tcp");
	if (cfg->cache_listen[0] != '\0' &&
	    cr_addr_parse(cfg->cache_listen, &a, err) < 0)
		return cr_error_wrap(err, "--cache-listen");
	/* An operator identity, or an operator set (opset_HEX). */
	if (cr_ring_anchor_parse(cfg->operator_id, &op, err) < 0)
		return cr_error_wrap(err, "--operator");
	if (cr_keypair_load_as(cfg->key_path, CR_ID_NODE, &kp, err) < 0)
		return -1;
	if (cr_ring_load(cfg->ring_path, NULL, &ring, err) < 0)
		goto out;
	if (cr_ring_find(ring, kp.pk) < 0) {
		struct cr_id id;
		char s[CR_ID_STRMAX];

		cr_id_from_pk(CR_ID_NODE, kp.pk, &id);
		cr_error_set(err, EINVAL,
			     "node %s is not a member of ring %s (epoch "
			     "%llu): add it with 'carrier ring add-node'",
			     cr_id_format(&id, s), cfg->ring_path,
			     (unsigned long long)ring->epoch);
		goto out;
	}
	rc = 0;
out:
	cr_ring_free(ring);
	cr_keypair_wipe(&kp);
	return rc;
}
