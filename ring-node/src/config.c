/* carrier-node configuration: flags and config file share one table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cr/addr.h"
#include "cr/config.h"
#include "cr/identity.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "rn/node.h"

void rn_config_init(struct rn_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = CR_LOG_INFO;
	cfg->route_idle_ms = 120000;
	cfg->load_handshakes_per_sec = 2000;
	cfg->heartbeat_ms = 250;
	cfg->peer_timeout_ms = 1000;
}


#define STR(field) \
	cr_config_str(cfg->field, sizeof(cfg->field), key, value, err)

int rn_config_set(struct rn_config *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	if (strcmp(key, "key") == 0)
		return STR(key_path);
	if (strcmp(key, "ring") == 0)
		return STR(ring_path);
	if (strcmp(key, "listen") == 0)
		return STR(listen);
	if (strcmp(key, "data") == 0)
		return STR(data_dir);
	if (strcmp(key, "metrics") == 0)
		return STR(metrics);
	if (strcmp(key, "tcp") == 0)
		return STR(tcp);
	if (strcmp(key, "operator") == 0)
		return STR(operator_id);
	if (strcmp(key, "capture") == 0)
		return STR(capture_path);
	if (strcmp(key, "log-level") == 0) {
		int level;

		if (cr_config_log_level(key, value, &level, err) < 0)
			return -1;
		cfg->log_level = (enum cr_log_level)level;
		return 0;
	}
	if (strcmp(key, "syslog") == 0)
		return cr_config_bool(key, value, &cfg->use_syslog, err);
	if (strcmp(key, "max-sessions") == 0) {
		if (cr_parse_u64(value, 0, 100000000, &cfg->max_sessions) < 0)
			return cr_error_set(err, EINVAL,
					    "max-sessions: '%s' is not a "
					    "number",
					    value);
		return 0;
	}
	if (strcmp(key, "route-idle") == 0) {
		if (cr_parse_duration_ms(value, &cfg->route_idle_ms) < 0)
			return cr_error_set(err, EINVAL,
					    "route-idle: '%s' is not a "
					    "duration (e.g. 120s)",
					    value);
		return 0;
	}
	if (strcmp(key, "handshake-load") == 0) {
		if (cr_parse_u64(value, 0, 10000000,
				 &cfg->load_handshakes_per_sec) < 0)
			return cr_error_set(err, EINVAL,
					    "handshake-load: '%s' is not a "
					    "number",
					    value);
		return 0;
	}
	if (strcmp(key, "heartbeat") == 0) {
		if (cr_parse_duration_ms(value, &cfg->heartbeat_ms) < 0 ||
		    cfg->heartbeat_ms < 10 || cfg->heartbeat_ms > 60000)
			return cr_error_set(err, EINVAL,
					    "heartbeat: '%s' is not a "
					    "duration from 10ms to 60s",
					    value);
		return 0;
	}
	if (strcmp(key, "peer-timeout") == 0) {
		if (cr_parse_duration_ms(value, &cfg->peer_timeout_ms) < 0 ||
		    cfg->peer_timeout_ms < 50 || cfg->peer_timeout_ms > 600000)
			return cr_error_set(err, EINVAL,
					    "peer-timeout: '%s' is not a "
					    "duration from 50ms to 10m",
					    value);
		return 0;
	}
	if (strcmp(key, "replicas") == 0) {
		if (cr_parse_u64(value, 0, 64, &cfg->replicas) < 0)
			return cr_error_set(err, EINVAL,
					    "replicas: '%s' is not 0-64",
					    value);
		return 0;
	}
	if (strcmp(key, "byzantine") == 0) {
#ifdef CR_TEST_MODES
		return cr_config_bool(key, value, &cfg->byzantine, err);
#else
		return cr_error_set(err, EINVAL,
				    "byzantine: a test-only mode; this "
				    "carrier-node was built without "
				    "CR_TEST_MODES");
#endif
	}
	return cr_error_set(err, EINVAL, "unknown setting '%s'", key);
}

int rn_config_check(const struct rn_config *cfg, struct cr_error **err)
{
	struct cr_keypair kp;
	struct cr_ring *ring = NULL;
	struct cr_addr a;
	struct cr_id op;
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
	if (cfg->operator_id[0] != '\0') {
		if (cr_id_parse(cfg->operator_id, &op, err) < 0)
			return cr_error_wrap(err, "--operator");
		if (op.type != CR_ID_OPERATOR)
			return cr_error_set(err, EINVAL,
					    "--operator: %s is not an operator "
					    "identity",
					    cfg->operator_id);
	}
	if (cr_keypair_load(cfg->key_path, &kp, err) < 0)
		return -1;
	if (kp.type != CR_ID_NODE) {
		cr_error_set(err, EINVAL, "%s is a %s key, not a node key",
			     cfg->key_path, cr_id_type_name(kp.type));
		goto out;
	}
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
