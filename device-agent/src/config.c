/* carrier-agent configuration: flags and config file share one table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr/addr.h"
#include "cr/config.h"
#include "cr/util.h"
#include "da/agent.h"

void da_config_init(struct da_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = CR_LOG_INFO;
	cfg->keepalive_ms = 15000;
	cfg->attach = 2;
	cfg->migrate_window_ms = 30000;
	cfg->presence_ttl_s = 600;
}


/* VENDOR_ID:PORT[,PORT...] */
static int config_allow(struct da_config *cfg, const char *value,
			struct cr_error **err)
{
	char buf[512], *colon, *port, *save = NULL;
	struct da_allow *al;
	struct cr_id id;

	if (strlen(value) >= sizeof(buf))
		return cr_error_set(err, EINVAL, "allow: value too long");
	snprintf(buf, sizeof(buf), "%s", value);
	colon = strchr(buf, ':');
	if (colon == NULL)
		return cr_error_set(err, EINVAL,
				    "allow: '%s' should be VENDOR_ID:PORT[,PORT...]",
				    value);
	*colon = '\0';
	if (cr_id_parse(buf, &id, err) < 0)
		return cr_error_wrap(err, "allow");
	if (id.type != CR_ID_VENDOR)
		return cr_error_set(err, EINVAL,
				    "allow: %s is not a vendor identity", buf);
	al = NULL;
	for (size_t i = 0; i < cfg->n_allow; i++)
		if (cr_id_equal(&cfg->allow[i].vendor, &id))
			al = &cfg->allow[i];
	if (al == NULL) {
		if (cfg->n_allow == DA_ALLOW_MAX)
			return cr_error_set(err, EINVAL,
					    "allow: more than %d vendors",
					    DA_ALLOW_MAX);
		al = &cfg->allow[cfg->n_allow++];
		memset(al, 0, sizeof(*al));
		al->vendor = id;
	}
	for (port = strtok_r(colon + 1, ",", &save); port != NULL;
	     port = strtok_r(NULL, ",", &save)) {
		uint64_t p;

		if (cr_parse_u64(port, 1, 65535, &p) < 0)
			return cr_error_set(err, EINVAL,
					    "allow: '%s' is not a port "
					    "(1-65535)",
					    port);
		if (al->n_ports == DA_PORTS_MAX)
			return cr_error_set(err, EINVAL,
					    "allow: more than %d ports for "
					    "one vendor",
					    DA_PORTS_MAX);
		al->ports[al->n_ports++] = (uint16_t)p;
	}
	if (al->n_ports == 0)
		return cr_error_set(err, EINVAL, "allow: no port given");
	return 0;
}

#define STR(field) \
	cr_config_str(cfg->field, sizeof(cfg->field), key, value, err)

int da_config_set(struct da_config *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	if (strcmp(key, "key") == 0)
		return STR(key_path);
	if (strcmp(key, "ring") == 0)
		return STR(ring_path);
	if (strcmp(key, "data") == 0)
		return STR(data_dir);
	if (strcmp(key, "operator") == 0)
		return STR(operator_id);
	if (strcmp(key, "listen") == 0)
		return STR(listen);
	if (strcmp(key, "allow") == 0)
		return config_allow(cfg, value, err);
	if (strcmp(key, "log-level") == 0) {
		int level;

		if (cr_config_log_level(key, value, &level, err) < 0)
			return -1;
		cfg->log_level = (enum cr_log_level)level;
		return 0;
	}
	if (strcmp(key, "syslog") == 0)
		return cr_config_bool(key, value, &cfg->use_syslog, err);
	if (strcmp(key, "tcp") == 0)
		return cr_config_bool(key, value, &cfg->tcp, err);
	if (strcmp(key, "keepalive") == 0) {
		if (cr_parse_duration_ms(value, &cfg->keepalive_ms) < 0 ||
		    cfg->keepalive_ms < 100)
			return cr_error_set(err, EINVAL,
					    "keepalive: '%s' is not a duration "
					    "of at least 100ms (e.g. 15s)",
					    value);
		return 0;
	}
	if (strcmp(key, "migrate-window") == 0) {
		if (cr_parse_duration_ms(value, &cfg->migrate_window_ms) < 0 ||
		    cfg->migrate_window_ms > 86400000)
			return cr_error_set(err, EINVAL,
					    "migrate-window: '%s' is not a "
					    "duration up to 24h (e.g. 30s)",
					    value);
		return 0;
	}
	if (strcmp(key, "attach") == 0) {
		if (cr_parse_u64(value, 1, 8, &cfg->attach) < 0)
			return cr_error_set(err, EINVAL,
					    "attach: '%s' is not 1-8", value);
		return 0;
	}
	if (strcmp(key, "presence-ttl") == 0) {
		uint64_t ms;

		if (cr_parse_duration_ms(value, &ms) < 0 || ms < 10000)
			return cr_error_set(err, EINVAL,
					    "presence-ttl: '%s' is not a "
					    "duration of at least 10s",
					    value);
		cfg->presence_ttl_s = ms / 1000;
		return 0;
	}
	return cr_error_set(err, EINVAL, "unknown setting '%s'", key);
}

int da_config_check(const struct da_config *cfg, struct cr_error **err)
{
	struct cr_addr a;

	if (cfg->key_path[0] == '\0')
		return cr_error_set(err, EINVAL, "no key: give --key FILE");
	if (cfg->ring_path[0] == '\0')
		return cr_error_set(err, EINVAL, "no ring: give --ring FILE");
	if (cfg->data_dir[0] == '\0')
		return cr_error_set(err, EINVAL,
				    "no data directory: give --data DIR");
	if (cfg->listen[0] != '\0' && cr_addr_parse(cfg->listen, &a, err) < 0)
		return cr_error_wrap(err, "--listen");
	return 0;
}

int da_config_knows(const struct da_config *cfg, const struct cr_id *vendor)
{
	for (size_t i = 0; i < cfg->n_allow; i++)
		if (cr_id_equal(&cfg->allow[i].vendor, vendor))
			return 1;
	return 0;
}

int da_config_allows(const struct da_config *cfg, const struct cr_id *vendor,
		     uint16_t port)
{
	for (size_t i = 0; i < cfg->n_allow; i++) {
		if (!cr_id_equal(&cfg->allow[i].vendor, vendor))
			continue;
		for (size_t j = 0; j < cfg->allow[i].n_ports; j++)
			if (cfg->allow[i].ports[j] == port)
				return 1;
	}
	return 0;
}
