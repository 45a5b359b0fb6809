/*
 * A bounded scan of serialized protobuf messages without unpacking them:
 * lets a decoder count a repeated field (and refuse too many) before
 * protobuf-c allocates an entry for each.
 */
#ifndef CP_PBSCAN_H
#define CP_PBSCAN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Counts the top-level occurrences of field number `field` in p[0..len).
 * Returns the count, or -1 when the wire format is malformed (protobuf-c
 * would refuse it too).
 */
long cp_pb_count(const uint8_t *p, size_t len, uint32_t field);

/*
 * Iterates the length-delimited occurrences of `field`: start with
 * *off = 0; each call returns 1 and sets *sub and *sub_len to the next
 * occurrence's bytes, 0 at the end, -1 on malformed input.
 */
int cp_pb_next(const uint8_t *p, size_t len, uint32_t field, size_t *off,
	       const uint8_t **sub, size_t *sub_len);

#endif
