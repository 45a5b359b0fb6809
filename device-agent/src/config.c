/* carrier-agent configuration: flags and config file share one table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr/addr.h"
#include "cr/config.h"
#include "cr/fleet.h"
#include "cr/ring.h"
#include "cr/util.h"
#include "da/agent.h"
#include "da/shell.h"

void da_config_init(struct da_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = CR_LOG_INFO;
	/* keepalive, attach and presence-ttl: 0 until given, then
	 * da_config_resolve() derives them from the ring. */
	cfg->health_interval_ms = 300000;
	cfg->migrate_window_ms = 30000;
	cfg->health_window_ms = 30000;
	cfg->config_ring_ms = 60000;
	cfg->apps_reserve = 16 * 1024 * 1024;
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
				    "allow: '%s' should be VENDOR_ID:PORT[,PORT...] "
				    "(a PORT may be 'shell')",
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

		if (strcmp(port, "shell") == 0)
			p = DA_SHELL_PORT; /* not a TCP port: the agent's pty */
		else if (cr_parse_u64(port, 1, 65535, &p) < 0)
			return cr_error_set(err, EINVAL,
					    "allow: '%s' is not a port "
					    "(1-65535) nor 'shell'",
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

/* K=V, repeatable: printable, no spaces, a key before '='. */
static int config_tag(struct da_config *cfg, const char *value,
		      struct cr_error **err)
{
	const char *eq = strchr(value, '=');

	if (eq == NULL || eq == value || strlen(value) >= CP_TAG_STR_MAX)
		return cr_error_set(err, EINVAL,
				    "tag: '%s' is not K=V (under %d bytes)",
				    value, CP_TAG_STR_MAX);
	for (const char *c = value; *c != '\0'; c++)
		if (*c <= ' ' || *c > '~')
			return cr_error_set(err, EINVAL,
					    "tag: '%s' has a space or an "
					    "unprintable byte",
					    value);
	if (cfg->n_tags == CP_TAGS_MAX)
		return cr_error_set(err, EINVAL, "tag: more than %d tags",
				    CP_TAGS_MAX);
	snprintf(cfg->tags[cfg->n_tags++], CP_TAG_STR_MAX, "%s", value);
	return 0;
}

/* PORT[,PORT...]; repeatable. */
static int config_serve_port(struct da_config *cfg, const char *value,
			     struct cr_error **err)
{
	char buf[256], *port, *save = NULL;

	if (strlen(value) >= sizeof(buf))
		return cr_error_set(err, EINVAL, "serve-port: value too long");
	snprintf(buf, sizeof(buf), "%s", value);
	for (port = strtok_r(buf, ",", &save); port != NULL;
	     port = strtok_r(NULL, ",", &save)) {
		uint64_t p;

		if (cr_parse_u64(port, 1, 65535, &p) < 0)
			return cr_error_set(err, EINVAL,
					    "serve-port: '%s' is not a port "
					    "(1-65535)",
					    port);
		if (cfg->n_serve_ports == DA_PORTS_MAX)
			return cr_error_set(err, EINVAL,
					    "serve-port: more than %d ports",
					    DA_PORTS_MAX);
		cfg->serve_ports[cfg->n_serve_ports++] = (uint16_t)p;
	}
	return 0;
}

/* The credential names this device and carries a rollout threshold of the
 * trust root's rollout keys.  Its expiry is not checked here: an expired
 * one costs the pulls their peers (appjob.c says so), not the start. */
static int config_check_credential(const struct da_config *cfg,
				   const struct cr_trust *t,
				   struct cr_error **err)
{
	struct cr_fleet_cred *c = NULL;
	struct cr_keypair kp;
	struct cr_id me;
	char ida[CR_ID_STRMAX], idb[CR_ID_STRMAX];
	int rc = 0;

	if (cr_cred_load(cfg->credential_path, t, 0, &c, err) < 0)
		return cr_error_wrap(err, "--credential");
	if (cr_keypair_load_as(cfg->key_path, CR_ID_DEVICE, &kp, err) < 0) {
		cr_cred_free(c);
		return -1;
	}
	cr_id_from_pk(CR_ID_DEVICE, kp.pk, &me);
	cr_keypair_wipe(&kp);
	if (!cr_id_equal(&me, &c->device))
		rc = cr_error_set(err, EINVAL,
				  "--credential: %s is the fleet credential of "
				  "%s, not of this device %s",
				  cfg->credential_path,
				  cr_id_format(&c->device, ida),
				  cr_id_format(&me, idb));
	cr_cred_free(c);
	return rc;
}

#define KEY(kind, ...) CR_CONFIG_KEY_##kind(struct da_config, __VA_ARGS__)

static const struct cr_config_key da_config_keys[] = {
	KEY(STR, "key", key_path),
	KEY(STR, "ring", ring_path),
	KEY(STR, "data", data_dir),
	KEY(STR, "operator", operator_id),
	KEY(STR, "listen", listen),
	KEY(STR, "trust", trust_path),
	KEY(LOG_LEVEL, "log-level", log_level),
	KEY(BOOL, "syslog", use_syslog),
	KEY(BOOL, "tcp", tcp),
	KEY(MS, "keepalive", keepalive_ms, 100, UINT64_MAX,
	    "a duration of at least 100ms (e.g. 15s)"),
	KEY(MS, "health-interval", health_interval_ms, 1000, UINT64_MAX,
	    "a duration of at least 1s (e.g. 5m)"),
	KEY(MS, "migrate-window", migrate_window_ms, 0, 86400000,
	    "a duration up to 24h (e.g. 30s)"),
	KEY(U64, "attach", attach, 1, DA_ATTACH_MAX, "1-8"),
	KEY(MS, "presence-ttl", presence_ttl_ms, 10000, UINT64_MAX,
	    "a duration of at least 10s"),
	KEY(STR, "apps-store", apps_store),
	KEY(STR, "apps-cgroup", apps_cgroup),
	KEY(BYTES, "apps-reserve", apps_reserve, 0, UINT64_MAX,
	    "a size (e.g. 16M)"),
	KEY(MS, "health-window", health_window_ms, 1000, 86400000,
	    "a duration from 1s to 24h (e.g. 30s)"),
	KEY(MS, "config-ring-window", config_ring_ms, 1000, 86400000,
	    "a duration from 1s to 24h (e.g. 60s)"),
	KEY(STR, "credential", credential_path),
	KEY(STR, "carrier", carrier_path),
};

int da_config_set(struct da_config *cfg, const char *key, const char *value,
		  struct cr_error **err)
{
	if (strcmp(key, "allow") == 0)
		return config_allow(cfg, value, err);
	if (strcmp(key, "serve-port") == 0)
		return config_serve_port(cfg, value, err);
	if (strcmp(key, "tag") == 0)
		return config_tag(cfg, value, err);
	return cr_config_set_key(da_config_keys, CR_CONFIG_NKEYS(da_config_keys),
				 cfg, key, value, err);
}

int da_config_check(const struct da_config *cfg, struct cr_error **err)
{
	struct cr_ring *ring = NULL;
	struct cr_keypair kp;
	struct cr_addr a;
	struct cr_ring_anchor op;
	size_t n_nodes;

	if (cfg->key_path[0] == '\0')
		return cr_error_set(err, EINVAL, "no key: give --key FILE");
	if (cfg->ring_path[0] == '\0')
		return cr_error_set(err, EINVAL, "no ring: give --ring FILE");
	if (cfg->data_dir[0] == '\0')
		return cr_error_set(err, EINVAL,
				    "no data directory: give --data DIR");
	if (cfg->listen[0] != '\0' && cr_addr_parse(cfg->listen, &a, err) < 0)
		return cr_error_wrap(err, "--listen");
	/* An operator identity, or an operator set (opset_HEX). */
	if (cr_ring_anchor_parse(cfg->operator_id, &op, err) < 0)
		return cr_error_wrap(err, "--operator");
	if (cr_keypair_load_as(cfg->key_path, CR_ID_DEVICE, &kp, err) < 0)
		return -1;
	cr_keypair_wipe(&kp);
	if (cfg->n_serve_ports > 0 && cfg->trust_path[0] == '\0')
		return cr_error_set(err, EINVAL,
				    "--serve-port needs --trust: the fleet "
				    "credentials of the peers it serves are "
				    "checked against the trust root");
	if (cfg->credential_path[0] != '\0' && cfg->trust_path[0] == '\0')
		return cr_error_set(err, EINVAL,
				    "--credential needs --trust: it is for the "
				    "pulls of the apps");
	if (cfg->trust_path[0] != '\0') {
		struct cr_trust *t = NULL;
		int rc = 0;

		if (cr_trust_load(cfg->trust_path, NULL, cr_now_unix(), &t,
				  err) < 0)
			return cr_error_wrap(err, "--trust");
		if (cfg->credential_path[0] != '\0')
			rc = config_check_credential(cfg, t, err);
		cr_trust_free(t);
		if (rc < 0)
			return -1;
	}
	if (cr_ring_load(cfg->ring_path, NULL, &ring, err) < 0)
		return -1;
	n_nodes = ring->n_nodes;
	cr_ring_free(ring);
	if (n_nodes == 0)
		return cr_error_set(err, EINVAL, "ring %s has no nodes",
				    cfg->ring_path);
	return 0;
}

/*
 * The defaults that follow the ring (docs/design/ring-cluster.md, "Home
 * links at default settings"): a device attaches to as many nodes as hold
 * its record (the ring's home-set size R, a majority on rings made by
 * `carrier ring init`), so that whichever half of the ring dies or lies,
 * one of its links is to a live honest node.  More links must not cost
 * more idle traffic than the 2 links of before: the pings (7.5 s a link,
 * so 15 s with 2 links, 30 s with 4) and the record refreshes (half a
 * presence lifetime of 300 s a link: 600 s with 2 links, 1200 s with 4)
 * spread out as the links grow, so a device sends as many datagrams an
 * idle minute as it did with 2 links.  Clamped: pings at most 30 s apart
 * (NAT mappings of UDP flows live 2 min and more, RFC 4787 REQ-5; a
 * stricter NAT wants --keepalive), records at most 20 min long.
 */
void da_config_resolve(struct da_config *cfg, const struct cr_ring *ring)
{
	uint64_t n = ring->replicas != 0 ? ring->replicas :
					   CR_RING_DEFAULT_REPLICAS;

	if (cfg->attach == 0) {
		if (n > ring->n_nodes)
			n = ring->n_nodes;
		cfg->attach = n < 1 ? 1 : n > DA_ATTACH_MAX ? DA_ATTACH_MAX : n;
	}
	n = cfg->attach < ring->n_nodes ? cfg->attach : ring->n_nodes;
	if (cfg->keepalive_ms == 0)
		cfg->keepalive_ms = n * DA_KEEPALIVE_PER_LINK_MS < 15000 ? 15000 :
				    n * DA_KEEPALIVE_PER_LINK_MS > 30000 ?
								   30000 :
								   n * DA_KEEPALIVE_PER_LINK_MS;
	if (cfg->presence_ttl_ms == 0)
		cfg->presence_ttl_ms = n * DA_TTL_PER_LINK_MS < 600000 ? 600000 :
				       n * DA_TTL_PER_LINK_MS > 1200000 ?
								     1200000 :
								     n * DA_TTL_PER_LINK_MS;
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
