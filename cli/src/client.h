/*
 * The vendor side's plumbing for the `carrier` commands that talk to the
 * ring: one UDP socket and session host, hop sessions to ring nodes with
 * request/response, verified lookups, and end-to-end sessions to devices
 * over relay routes.  The commands are blocking from the user's point of
 * view, so the helpers here run the event loop until their answer comes or
 * their deadline passes.
 */
#ifndef CL_CLIENT_H
#define CL_CLIENT_H

#include <event2/event.h>
#include <stdint.h>

#include "carrier.pb-c.h"
#include "cr/error.h"
#include "cr/identity.h"
#include "cr/presence.h"
#include "cr/ring.h"
#include "cr/session.h"

struct cl_client;

/* Exit codes of the commands, documented in `carrier --help`. */
enum cl_exit {
	CL_EXIT_OK = 0,
	CL_EXIT_ERROR = 1,        /* anything not below */
	CL_EXIT_USAGE = 2,
	CL_EXIT_OFFLINE = 3,      /* unknown, offline or unreachable device */
	CL_EXIT_UNAUTHORIZED = 4, /* the device refused this vendor */
	CL_EXIT_REFUSED = 5,      /* the device refused the port */
	CL_EXIT_LOST = 6,         /* the connection broke */
};

/* Where the vendor's files are: --key, $CARRIER_KEY, CONFIG_DIR/key (and
 * the same for ring); CONFIG_DIR is $XDG_CONFIG_HOME/carrier or
 * ~/.config/carrier.  Writes into the buffers (PATH_MAX each). */
void cl_default_path(const char *flag, const char *env, const char *name,
		     char *out, size_t cap);

/* The options every command that talks to the ring takes. */
struct cl_vendor_opts {
	const char *key;      /* --key FILE */
	const char *ring;     /* --ring FILE */
	const char *operator; /* --operator OP_ID */
	int tcp;              /* --tcp: reach the ring over TCP (TLS) */
	/* --credential FILE (connect): a device reaching a fleet peer; --key
	 * is then the device's key. */
	const char *credential;
};

#define CL_VENDOR_LONG_OPTS                                \
	{ "key", required_argument, NULL, 'k' },           \
	{ "ring", required_argument, NULL, 'r' },          \
	{ "operator", required_argument, NULL, 'p' },      \
	{ "tcp", no_argument, NULL, 'T' }

/* Takes -k/-r/-p/--tcp from getopt_long; returns 1 when ch was one of
 * them.  Without --tcp the client falls back to TCP by itself when no ring
 * node answers over UDP within CR_RL_VENDOR_UDP_GIVEUP_MS (cr/ringlink.h). */
int cl_vendor_opt(int ch, const char *arg, struct cl_vendor_opts *vo);
/* cl_client_new() with the options, the environment and the defaults. */
struct cl_client *cl_client_open(struct event_base *base,
				 const struct cl_vendor_opts *vo,
				 struct cr_error **err);

struct cl_client *cl_client_new(struct event_base *base, const char *key_path,
				const char *ring_path, const char *operator_id,
				struct cr_error **err);
/* A device reaching a peer of its fleet: key_path is the device key and
 * the fleet credential (cr/fleet.h) goes in every end-to-end handshake. */
struct cl_client *cl_client_new_device(struct event_base *base,
				       const char *key_path,
				       const char *ring_path,
				       const char *operator_id,
				       const char *credential,
				       struct cr_error **err);
struct cl_client *cl_client_free(struct cl_client *c);

const struct cr_ring *cl_ring(const struct cl_client *c);
/* How long cl_lookup() waits for answers at most (default 2.5 s). */
void cl_set_lookup_timeout(struct cl_client *c, uint64_t ms);
struct event_base *cl_base(const struct cl_client *c);
struct cr_sess_host *cl_host(const struct cl_client *c);

/* A hop session to ring node idx, established or waited for. */
struct cr_sess *cl_node(struct cl_client *c, size_t idx, uint64_t timeout_ms,
			struct cr_error **err);
/* Sends req to node idx and waits for the answer with the same req_id.
 * The caller frees the reply with cp_hop_free(). */
Carrier__Hop *cl_request(struct cl_client *c, size_t idx, Carrier__Hop *req,
			 uint64_t timeout_ms, struct cr_error **err);

/* What a lookup found besides the record. */
struct cl_lookup_info {
	size_t n_answered;             /* nodes that answered */
	size_t attached_idx[8];        /* ring indices with a live session,
					* those with the newest record first */
	uint64_t last_seen_ms[8];
	uint64_t attached_seq[8];      /* the sequence each of them had */
	size_t n_attached_here;
	size_t n_rejected;             /* answers that failed verification */
	size_t n_stale;                /* valid answers older than the kept */
	size_t n_newest;               /* nodes that had the kept record */
	/* Nodes that hold a session the device left (it said goodbye or
	 * missed its keepalives), and the most recent time one of them
	 * heard from it (ms ago; valid when n_gone > 0). */
	size_t n_gone;
	uint64_t gone_last_seen_ms;
};

/* Asks the device's home nodes (the first ranked nodes, in parallel: the
 * home set of live nodes may sit beyond the first R when nodes are dead),
 * verifies every answer, keeps the highest sequence.  Returns 0, or -1 with *err (CL_EXIT_OFFLINE in err->code for
 * unknown, expired or unreachable). */
int cl_lookup(struct cl_client *c, const struct cr_id *dev,
	      struct cr_presence *out, struct cl_lookup_info *info,
	      struct cr_error **err);

/* The end-to-end session through node idx came up but brought no answer
 * in time (a node delaying or dropping after the handshake): the node is
 * tried last from now on, as one whose handshake failed. */
void cl_relay_failed(struct cl_client *c, size_t idx);

/*
 * Sets up an end-to-end session to the device: lookup, a relay route
 * through a node that holds the device's session, the Noise handshake with
 * the key from the verified record.  *node_idx tells which node relays.
 * err->code is a cl_exit value on failure.
 */
struct cr_sess *cl_e2e_connect(struct cl_client *c, const struct cr_id *dev,
			       uint64_t timeout_ms, size_t *node_idx,
			       struct cr_error **err);

/*
 * Repairs the path of an established end-to-end session: asks another node
 * that holds the device's session (round robin over those the lookup
 * found) for a relay route, asynchronously.  When the route comes, the
 * session moves to it (keys and streams stay) and on_reroute runs with the
 * new node's ring index.  Returns -1 when no node is available.
 */
int cl_e2e_reroute(struct cl_client *c, struct cr_sess *e2e,
		   void (*on_reroute)(void *arg, size_t node_idx));

/* After cl_e2e_connect(): the verified presence record of the device (its
 * candidates), our own candidates as sent in the connect request, and when
 * that request went out (ms, cr_now_ms clock). */
const struct cr_presence *cl_dev_presence(const struct cl_client *c);
size_t cl_candidates_get(const struct cl_client *c, const char (**out)[64]);
uint64_t cl_connect_ms(const struct cl_client *c);
/* What the STUN answers of the device's nodes told about our NAT (after
 * cl_e2e_connect()): our reflexive address, and whether it is the same
 * toward every node (endpoint-independent mapping). */
const char *cl_nat_report(const struct cl_client *c, char *out, size_t cap);
/* 1 when the ring is reached over TCP (forced or fallen back to). */
int cl_uses_tcp(const struct cl_client *c);
/* Connect without candidates (no STUN): the device then never probes. */
void cl_set_relay_only(struct cl_client *c, int on);

/* Receives the payloads of end-to-end sessions, and their end. */
void cl_set_e2e_handler(struct cl_client *c,
			void (*recv)(void *arg, struct cr_sess *s,
				     const uint8_t *msg, size_t len),
			void (*down)(void *arg, struct cr_sess *s),
			void (*flush)(void *arg), void *arg);

/* Runs the loop until *flag is non-zero or the deadline (ms) passes;
 * returns *flag. */
int cl_wait(struct cl_client *c, const int *flag, uint64_t deadline_ms);

#endif
