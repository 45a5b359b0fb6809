/*
 * Packing and bounded unpacking of the protobuf messages that travel inside
 * session payloads (carrier.proto: Hop between peers and ring nodes,
 * E2eControl end to end).  Every unpack checks the size ceiling first:
 * protobuf-c would otherwise unpack whatever length it is handed.
 */
#ifndef CP_HOP_H
#define CP_HOP_H

#include <stddef.h>
#include <stdint.h>

#include "carrier.pb-c.h"

/* E2e payload channels (first byte of every end-to-end payload). */
enum cp_e2e_channel {
	CP_E2E_STREAM = 1,  /* a cr_stream packet follows */
	CP_E2E_CONTROL = 2, /* a Carrier__E2eControl follows */
	CP_E2E_PROBE = 3,   /* a path probe, ack or candidates (cr/punch.h) */
};

/* Packs msg into out; returns its length or -EMSGSIZE if it exceeds cap. */
long cp_hop_pack(const Carrier__Hop *msg, uint8_t *out, size_t cap);
/* Unpacks a Hop of at most CP_MSG_MAX bytes; NULL when too big or
 * malformed, or when no oneof member is set.  Free with cp_hop_free(). */
Carrier__Hop *cp_hop_unpack(const uint8_t *buf, size_t len);
void cp_hop_free(Carrier__Hop *msg);

long cp_e2e_control_pack(const Carrier__E2eControl *msg, uint8_t *out,
			 size_t cap);
Carrier__E2eControl *cp_e2e_control_unpack(const uint8_t *buf, size_t len);
void cp_e2e_control_free(Carrier__E2eControl *msg);

#endif
