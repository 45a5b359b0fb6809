/*
 * Archon provider records: a device saying "I hold index X, and serve my
 * store on local port P" (archon serve), signed with its Carrier device
 * key so that ring nodes, which store them on the index's shard nodes,
 * can neither forge nor alter one.  One text line:
 *
 *     korhal-provider-v1 INDEX_HEX DEVICE_PK_HEX PORT EXPIRES_UNIX SIG_HEX
 *
 * SIG is Ed25519 by the device key over everything before " SIG_HEX".
 * A puller reaches the device with `carrier connect DEVICE_ID PORT` (end to
 * end through Carrier, direct when punched) and checks every object it
 * gets against its id, so a record at worst costs a failed attempt.
 */
#ifndef AR_PROVIDER_H
#define AR_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "ar/chunk.h"
#include "cr/error.h"
#include "cr/identity.h"

enum {
	AR_PROVIDER_LINE_MAX = 320, /* bytes of one record, newline included */
	AR_PROVIDER_TTL_MAX = 24 * 3600, /* records expire within a day */
};

struct ar_provider {
	struct ar_id index;
	uint8_t pk[CR_PKLEN]; /* the device's Ed25519 key */
	uint16_t port;
	uint64_t expires; /* Unix seconds */
};

/* Writes the signed record line (with its newline) into out; returns its
 * length or -1.  kp must be a device key. */
int ar_provider_sign(const struct ar_provider *p, const struct cr_keypair *kp,
		     char out[AR_PROVIDER_LINE_MAX]);

/* Parses and verifies one record line (len bytes, a trailing newline is
 * allowed); refuses an expired one (now: Unix seconds) and one that
 * expires more than AR_PROVIDER_TTL_MAX ahead.  0 or -1 with *err. */
int ar_provider_parse(const char *line, size_t len, uint64_t now,
		      struct ar_provider *p, struct cr_error **err);

#endif
