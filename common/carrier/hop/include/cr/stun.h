/*
 * STUN Binding (RFC 8489, and the classic RFC 3489 form that Debian's
 * `stun` client still speaks): what a ring node needs to tell any STUN
 * client its reflexive address on the node's UDP port, and what the CLI
 * and agent need to ask a node for theirs.  No authentication, no TURN:
 * a Binding request, its success response, XOR-MAPPED-ADDRESS (RFC 8489)
 * or MAPPED-ADDRESS (RFC 3489), FINGERPRINT when present.
 *
 * Telling STUN from Carrier datagrams on one port (cp/wire.h): a request
 * starts with byte 0 (no Carrier type is 0); a success response starts with
 * 0x01, as a Carrier INIT does, so responses are only taken when they carry
 * the magic cookie, the right length and the transaction id we sent.
 */
#ifndef CR_STUN_H
#define CR_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "cr/addr.h"

enum {
	CR_STUN_HDR = 20,
	CR_STUN_TXID = 16,   /* cookie + 12 bytes in RFC 8489; 16 in 3489 */
	CR_STUN_MAX = 548,   /* largest message we parse or build */
	CR_STUN_COOKIE = 0x2112A442,
};

/* A parsed Binding request. */
struct cr_stun_req {
	uint8_t txid[CR_STUN_TXID]; /* the 16 bytes after type and length */
	int rfc3489;                /* no magic cookie: a classic client */
	uint32_t change;            /* CHANGE-REQUEST flags (RFC 3489/5780) */
};

/* 1 when buf could be a STUN Binding request (first byte 0, type 0x0001,
 * length consistent); cheap, for dispatching. */
int cr_stun_is_request(const uint8_t *buf, size_t len);

/* Parses a Binding request: bounded walk over the attributes, FINGERPRINT
 * checked when present.  0, or -1 with a reason in *why (static string). */
int cr_stun_parse_request(const uint8_t *buf, size_t len,
			  struct cr_stun_req *req, const char **why);

/* Writes the success response telling the client `mapped` (the source
 * address the request came from): XOR-MAPPED-ADDRESS and FINGERPRINT for
 * RFC 8489 clients, MAPPED-ADDRESS for RFC 3489 ones.  Returns the length,
 * 0 when cap is too small or the family unknown. */
size_t cr_stun_binding_response(const struct cr_stun_req *req,
				const struct cr_addr *mapped, uint8_t *out,
				size_t cap);

/* Writes an RFC 8489 Binding request with a fresh random transaction id
 * (kept in txid) and a FINGERPRINT.  Returns the length (28 + 8). */
size_t cr_stun_binding_request(uint8_t txid[CR_STUN_TXID], uint8_t *out,
			       size_t cap);

/* Parses a Binding success response to the request with txid: the mapped
 * address into *mapped.  0, or -1 with *why (not ours, malformed...). */
int cr_stun_parse_response(const uint8_t *buf, size_t len,
			   const uint8_t txid[CR_STUN_TXID],
			   struct cr_addr *mapped, const char **why);

#endif
