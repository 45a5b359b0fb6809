/*
 * carrier-node: a ring node.  It accepts hop sessions from devices, vendors
 * and other nodes on one UDP socket, stores verified presence records in
 * LMDB, answers lookups, sets up relay routes for connects and forwards
 * end-to-end datagrams along them without reading them.
 */
#ifndef RN_NODE_H
#define RN_NODE_H

#include <event2/event.h>
#include <limits.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/identity.h"
#include "cr/log.h"

struct rn_node;

struct rn_config {
	char key_path[PATH_MAX];
	char ring_path[PATH_MAX];
	char listen[128];
	char data_dir[PATH_MAX];
	char metrics[128];       /* HOST:PORT, empty when off */
	char tcp[128];           /* HOST:PORT of the TCP fallback, empty off */
	char cache_listen[128];  /* shard cache HTTP; empty: the listen address */
	uint64_t cache_size;     /* shard cache bound in bytes; 0: no cache */
	char cache_origins[1024]; /* comma-separated origins; empty: none */
	char operator_id[CR_ID_STRMAX]; /* pinned operator; empty: first use */
	char capture_path[PATH_MAX];    /* debug: every datagram to a file */
	enum cr_log_level log_level;
	int use_syslog;
	uint64_t max_sessions;       /* 0: no limit */
	uint64_t sessions_per_identity; /* established at once; 0: no limit */
	uint64_t route_idle_ms;
	uint64_t routes_per_vendor;  /* relay routes one vendor holds; 0: no limit */
	uint64_t routes_per_device;  /* relay routes to one device; 0: no limit */
	uint64_t connect_rate;       /* offers a second per (vendor, device); 0: no limit */
	uint64_t tcp_max;            /* TCP fallback connections; 0: no limit */
	uint64_t tcp_per_addr;       /* ... from one IP address; 0: no limit */
	uint64_t tcp_handshake_ms;   /* TLS handshake deadline */
	uint64_t tcp_out_max;        /* bytes queued across connections */
	uint64_t load_handshakes_per_sec;
	uint64_t addr_handshakes_per_sec; /* under load, per source address */
	uint64_t heartbeat_ms;    /* node-to-node heartbeat interval */
	uint64_t peer_timeout_ms; /* a node silent this long is dead */
	uint64_t replicas;        /* home-set size; 0: the ring's */
	uint64_t presence_max_ttl_ms;   /* records expire at most this far
					 * ahead (0: no bound) */
	uint64_t presence_max_records;  /* records held (0: no bound) */
	uint64_t presence_new_per_addr; /* new devices an hour from one
					 * source address (0: no bound) */
	uint64_t fleet_max_records;     /* rollout records held (0: no bound) */
	uint64_t fleet_apps_per_vendor; /* deployments per fleet (0: no bound) */
	uint64_t health_ttl_ms;         /* a device's health record is dropped
					 * this long after it came */
	unsigned byzantine;       /* test only (CR_TEST_MODES builds): the
				   * roles lied in, RN_BYZ_* of rn/byzantine.h */
};

void rn_config_init(struct rn_config *cfg);
/* Applies one setting by its flag name ("key", "listen", ...). */
int rn_config_set(struct rn_config *cfg, const char *key, const char *value,
		  struct cr_error **err);
/* Checks required settings and that the key and ring load and agree. */
int rn_config_check(const struct rn_config *cfg, struct cr_error **err);

/* Starts a node on base.  cfg is copied. */
struct rn_node *rn_node_new(struct event_base *base,
			    const struct rn_config *cfg,
			    struct cr_error **err);
/* Applies a new configuration (ring, log level, limits); the key, listen
 * address and data directory cannot change without a restart.  On error
 * the old configuration stays. */
int rn_node_reload(struct rn_node *node, const struct rn_config *cfg,
		   struct cr_error **err);
struct rn_node *rn_node_free(struct rn_node *node);

#endif
