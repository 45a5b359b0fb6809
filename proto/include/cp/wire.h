/*
 * The outer framing of every UDP datagram Carrier sends.  The first byte is
 * the message type; STUN messages (first byte 0 or 1 with the magic cookie)
 * share the port and are told apart by it.  Sizes are in cp/limits.h.
 */
#ifndef CP_WIRE_H
#define CP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cp/limits.h"

enum cp_msg_type {
	CP_MSG_INIT = 1,   /* Noise IK message 1 */
	CP_MSG_RESP = 2,   /* Noise IK message 2 */
	CP_MSG_COOKIE = 3, /* stateless cookie reply */
	CP_MSG_DATA = 4,   /* transport datagram of a session */
	CP_MSG_RELAY = 5,  /* route id + an end-to-end datagram, forwarded as is */
	/* Node to device, unauthenticated: "every node you are attached to is
	 * dead as far as I see" (docs/design/ring-cluster.md, Recovery).
	 * 4-byte header, u64 ring epoch, the sender's liveness bitmap.  A
	 * hint only: the device checks its links with pings of its own. */
	CP_MSG_NUDGE = 6,
};

enum {
	CP_NUDGE_HDR = 12, /* type, 3 zero bytes, u64 epoch */
};

/* Little-endian integer access for fixed headers. */
static inline void cp_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t cp_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void cp_put_u64(uint8_t *p, uint64_t v)
{
	cp_put_u32(p, (uint32_t)v);
	cp_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t cp_get_u64(const uint8_t *p)
{
	return (uint64_t)cp_get_u32(p) | (uint64_t)cp_get_u32(p + 4) << 32;
}

/* A CP_MSG_NUDGE datagram: 0 with its epoch and liveness bitmap (pointing
 * into buf, at most bits_max bytes), -1 when it is not a well-formed one. */
static inline int cp_nudge_parse(const uint8_t *buf, size_t len,
				 size_t bits_max, uint64_t *epoch,
				 const uint8_t **bits, size_t *bits_len)
{
	if (buf == NULL || len < CP_NUDGE_HDR || len - CP_NUDGE_HDR > bits_max ||
	    buf[0] != CP_MSG_NUDGE || buf[1] != 0 || buf[2] != 0 || buf[3] != 0)
		return -1;
	*epoch = cp_get_u64(buf + 4);
	*bits = buf + CP_NUDGE_HDR;
	*bits_len = len - CP_NUDGE_HDR;
	return 0;
}

#endif
