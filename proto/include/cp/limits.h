/*
 * Every size and ceiling of Carrier's wire formats, in one place.
 */
#ifndef CP_LIMITS_H
#define CP_LIMITS_H

enum cp_limits {
	CP_DATAGRAM_MAX = 1200,     /* no datagram on any path is larger */
	CP_RELAY_HDR = 12,          /* type, 3 reserved, route id u64 */
	CP_DATA_HDR = 16,           /* type, 3 reserved, receiver u32, counter u64 */
	CP_AEAD_TAG = 16,
	/* Largest hop or e2e session payload on a direct path. */
	CP_SESS_PAYLOAD_MAX = CP_DATAGRAM_MAX - CP_DATA_HDR - CP_AEAD_TAG,
	/* Largest e2e payload when the e2e datagram itself is relayed. */
	CP_E2E_PAYLOAD_MAX = CP_SESS_PAYLOAD_MAX - CP_RELAY_HDR,
	CP_HELLO_MAX = 256,

	/* Ceilings checked before protobuf-c unpacks anything. */
	CP_MSG_MAX = CP_SESS_PAYLOAD_MAX,     /* one hop message */
	CP_PRESENCE_MAX = 900,                /* a signed presence record */
	CP_RING_CONFIG_MAX = 256 * 1024,      /* a signed ring configuration file */
	CP_RING_NODES_MAX = 1024,
	CP_ADDRS_MAX = 8,                     /* addresses in a presence record */
	CP_ATTACHED_MAX = 8,                  /* nodes listed as attached */
	CP_ADDR_STR_MAX = 64,
};

#endif
