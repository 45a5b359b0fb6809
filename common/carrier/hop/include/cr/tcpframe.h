/*
 * Datagrams over a byte stream, for the TCP fallback (cr/tlsdgram.h): each
 * datagram is a 2-byte big-endian length (1 to CR_TCPF_MAX) followed by
 * its bytes.  The reader is bounded: a length outside that range means the
 * peer does not speak this framing, and the connection is closed.
 */
#ifndef CR_TCPFRAME_H
#define CR_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum {
	CR_TCPF_HDR = 2,
	CR_TCPF_MAX = 9216, /* the largest datagram (CP_DATAGRAM_MAX) fits */
};

/* Appends one framed datagram to out; -1 when len is 0 or too large. */
int cr_tcpf_put(struct evbuffer *out, const uint8_t *buf, size_t len);

/* Takes the next whole datagram out of in into buf (capacity at least
 * CR_TCPF_MAX): 1 with *len set, 0 when more bytes are needed, -1 when the
 * stream is not framed datagrams. */
int cr_tcpf_pull(struct evbuffer *in, uint8_t *buf, size_t *len);

#endif
