/*
 * carrier-agent's core: attaches a device to its home nodes in the ring,
 * publishes its signed presence, keeps the paths alive through NATs,
 * re-attaches by itself, and accepts end-to-end sessions from the vendors
 * it authorizes (see da/tunnel.h).  Several agents may share one event
 * loop (the test harness simulates many devices that way).
 */
#ifndef DA_AGENT_H
#define DA_AGENT_H

#include <event2/event.h>
#include <limits.h>
#include <stdint.h>

#include "cp/limits.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/log.h"

struct da_agent;
struct cr_ring;

enum {
	DA_ALLOW_MAX = 64,
	DA_PORTS_MAX = 16,
	/* --attach at most: the nodes a presence record lists. */
	DA_ATTACH_MAX = CP_ATTACHED_MAX,
	/* The defaults that follow the links (da_config_resolve). */
	DA_KEEPALIVE_PER_LINK_MS = 7500,
	DA_TTL_PER_LINK_MS = 300000,
};

/* One --allow VENDOR_ID:PORT[,PORT...] entry. */
struct da_allow {
	struct cr_id vendor;
	uint16_t ports[DA_PORTS_MAX];
	size_t n_ports;
};

struct da_config {
	char key_path[PATH_MAX];
	char ring_path[PATH_MAX];
	char data_dir[PATH_MAX];
	char operator_id[CR_ID_STRMAX];
	char listen[128];       /* local UDP address; default any, port 0 */
	enum cr_log_level log_level;
	int use_syslog;
	int tcp;                /* reach the ring over TCP from the start */
	/* keepalive_ms, attach, presence_ttl_ms: 0 until given; then
	 * da_config_resolve() sets what the ring calls for. */
	uint64_t keepalive_ms;  /* ping interval to the nodes */
	uint64_t health_interval_ms; /* health records to the ring */
	uint64_t attach;        /* home nodes to hold sessions with */
	uint64_t presence_ttl_ms;
	/* After a new ring epoch, sessions move to the new home nodes one by
	 * one at random moments within this window, so a ring's worth of
	 * devices does not re-attach at once. */
	uint64_t migrate_window_ms;
	struct da_allow allow[DA_ALLOW_MAX];
	size_t n_allow;
	/* --trust: the vendor's trust root (docs/fleet.md).  With it the
	 * agent runs the apps its releases name (da/apps.h), and devices of
	 * the fleet presenting a fleet credential it validates may reach the
	 * --serve-port ports (archon serve), and nothing else. */
	char trust_path[PATH_MAX];
	uint16_t serve_ports[DA_PORTS_MAX];
	size_t n_serve_ports;
	char apps_store[PATH_MAX];  /* default DATA/archon */
	char apps_cgroup[128];      /* default korhal-apps */
	uint64_t apps_reserve;      /* bytes a pull leaves free */
	uint64_t health_window_ms;  /* default health window */
	uint64_t config_ring_ms;    /* the ring must be reachable this long
				     * after a config is applied */
	/* --credential: this device's fleet credential; with it the apps'
	 * pulls ask the fleet's peers first (docs/agent-apps.md). */
	char credential_path[PATH_MAX];
	char carrier_path[PATH_MAX]; /* --carrier; default da_provide_carrier() */
	/* --tag K=V: in the signed presence; deployments target them
	 * (da/deploy.h). */
	char tags[CP_TAGS_MAX][CP_TAG_STR_MAX];
	size_t n_tags;
};

void da_config_init(struct da_config *cfg);
/* Fills the settings left at 0 by the ring's: attach = its home-set size
 * (at most its nodes and DA_ATTACH_MAX), keepalive = DA_KEEPALIVE_PER_LINK_MS
 * a link within [15 s, 30 s], presence-ttl = DA_TTL_PER_LINK_MS a link
 * within [600 s, 1200 s].  Given values stay. */
void da_config_resolve(struct da_config *cfg, const struct cr_ring *ring);
int da_config_set(struct da_config *cfg, const char *key, const char *value,
		  struct cr_error **err);
/*
 * Everything the agent's start checks before it touches the network or
 * the data folder: the flags, the key (a device key, mode 0600: the same
 * cr_keypair_load_as() the start uses), the ring file (signed, with nodes)
 * and --operator.  carrier-agent runs it for --check, before the start and
 * before a SIGHUP reload, so --check passes exactly when the start gets
 * past its configuration.  It writes nothing (the operator pin is written
 * by the start).
 */
int da_config_check(const struct da_config *cfg, struct cr_error **err);
/* 1 when vendor may reach port. */
int da_config_allows(const struct da_config *cfg, const struct cr_id *vendor,
		     uint16_t port);
/* 1 when vendor is listed at all. */
int da_config_knows(const struct da_config *cfg, const struct cr_id *vendor);

struct da_agent *da_agent_new(struct event_base *base,
			      const struct da_config *cfg,
			      struct cr_error **err);
/* New allow list, log level, keepalive; sessions stay up.  Sessions of
 * vendors no longer allowed are closed. */
int da_agent_reload(struct da_agent *a, const struct da_config *cfg,
		    struct cr_error **err);
/* Tells every home node the device goes offline (a Detach message), for
 * a clean stop; da_agent_free() after it. */
void da_agent_detach(struct da_agent *a);
struct da_agent *da_agent_free(struct da_agent *a);

/* Number of home nodes that acknowledged the current presence record. */
int da_agent_attached(const struct da_agent *a);
const struct cr_id *da_agent_id(const struct da_agent *a);
/* The highest presence sequence a home node acknowledged (acknowledged
 * means a majority of the device's home set stored it); 0 if none. */
uint64_t da_agent_acked_seq(const struct da_agent *a);

/* What the device sent and received to and from the ring over its hop
 * sessions since it started (handshakes included): datagrams, and bytes of
 * UDP payload (the wire adds 28 a datagram over IPv4).  For devsim and
 * bench/ring-failover.sh, which measure a device's idle traffic. */
struct da_agent_traffic {
	uint64_t tx_datagrams, tx_bytes, rx_datagrams, rx_bytes;
};
void da_agent_traffic(const struct da_agent *a, struct da_agent_traffic *t);

#endif
