/*
 * Every size and ceiling of Carrier's wire formats, in one place.
 */
#ifndef CP_LIMITS_H
#define CP_LIMITS_H

enum cp_limits {
	/*
	 * Every path carries datagrams of CP_DATAGRAM_BASE bytes (the QUIC
	 * floor): handshakes and hop messages stay within it, and streams
	 * start there.  Streams then probe the path (DPLPMTUD, RFC 8899) for
	 * larger datagrams, up to a 9000-byte jumbo frame less the IPv6 and
	 * UDP headers; no datagram on any path is larger than
	 * CP_DATAGRAM_MAX.
	 */
	CP_DATAGRAM_BASE = 1200,
	CP_DATAGRAM_MAX = 9000 - 48,
	CP_IP_UDP_HDR_MAX = 48,     /* IPv6 (40) + UDP (8) */
	CP_RELAY_HDR = 12,          /* type, 3 reserved, route id u64 */
	CP_DATA_HDR = 16,           /* type, 3 reserved, receiver u32, counter u64 */
	CP_AEAD_TAG = 16,
	/* Largest session payload on a direct path. */
	CP_SESS_PAYLOAD_MAX = CP_DATAGRAM_MAX - CP_DATA_HDR - CP_AEAD_TAG,
	/* ... and the one that fits in a base-size datagram. */
	CP_SESS_PAYLOAD_BASE = CP_DATAGRAM_BASE - CP_DATA_HDR - CP_AEAD_TAG,
	/* Largest e2e payload, and the base one, when the e2e datagram
	 * itself is relayed. */
	CP_E2E_PAYLOAD_MAX = CP_SESS_PAYLOAD_MAX - CP_RELAY_HDR,
	CP_E2E_PAYLOAD_BASE = CP_SESS_PAYLOAD_BASE - CP_RELAY_HDR,
	CP_HELLO_MAX = 256,

	/* Ceilings checked before protobuf-c unpacks anything. */
	CP_MSG_MAX = CP_SESS_PAYLOAD_BASE,    /* one hop message */
	CP_PRESENCE_MAX = 900,                /* a signed presence record */
	CP_RING_CONFIG_MAX = 256 * 1024,      /* a signed ring configuration file */
	CP_RING_NODES_MAX = 1024,
	CP_ADDRS_MAX = 8,                     /* addresses in a presence record */
	CP_ATTACHED_MAX = 8,                  /* nodes listed as attached */
	CP_ADDR_STR_MAX = 64,
	CP_TAGS_MAX = 4,                      /* tags (K=V) in a presence record */
	CP_TAG_STR_MAX = 64,                  /* one tag, with its NUL */

	/* Fleet trust records (cr/fleet.h): a trust root or a release. */
	CP_FLEET_RECORD_MAX = 64 * 1024,
	/* Signatures on one record: a rotated trust root carries its own
	 * root's and the previous root's, up to 16 each. */
	CP_FLEET_SIGS_MAX = 32,
	/* Entries of any one repeated field of a record body (keys of a
	 * role, architectures, origins, args, env, ports). */
	CP_FLEET_LIST_MAX = 64,
	/* A fleet credential travels in a handshake's hello (an E2eHello of
	 * at most CP_HELLO_MAX bytes): two signatures fit. */
	CP_FLEET_CRED_MAX = CP_HELLO_MAX - 5, /* version 2, tag 1, length 2 */
	CP_FLEET_CRED_SIGS_MAX = 2,

	/* Fleet rollouts (cr/deploy.h, rn/fleet.h): device ids and tags a
	 * deployment targets, its waves, a status report's size, and the
	 * piece of a record one FleetPut carries (records outgrow a hop
	 * message: a deployment embeds its trust root and release). */
	CP_DEPLOY_DEVICES_MAX = 1024,
	CP_DEPLOY_TAGS_MAX = 16,
	CP_DEPLOY_WAVES_MAX = 16,
	CP_REPORT_MAX = 1024,
	CP_REASON_MAX = 256,
	CP_FLEET_PIECE = 900,
};

#endif
