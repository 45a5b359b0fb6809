/*
 * Carrier datagrams over TLS over TCP: the fallback for networks that block
 * UDP.  A node listens with `--tcp HOST:PORT` (the port of its UDP address,
 * by the ring's convention); an agent or CLI whose UDP gets no answer (or
 * that runs with --tcp) carries every datagram it would send a ring node
 * over one TLS connection to that node instead, framed by cr/tcpframe.h.
 * To a middlebox it is HTTPS-like TLS on a server port.
 *
 * TLS here is camouflage, not security: the node's certificate is a fresh
 * self-signed one and clients do not check it.  Everything inside is
 * already a Noise session (hop sessions, end-to-end sessions in RELAY
 * datagrams), authenticated and encrypted as over UDP.
 *
 * On the node, each TCP connection stands for a peer address in the
 * session layer: a pseudo address in the IPv6 discard prefix 100::/64
 * (RFC 6666) holding the connection's number, so sessions, routes and
 * their address bindings work unchanged; sending to such an address writes
 * to the connection.
 *
 * The client connects with cr/tlsclient.h (OpenSSL or mbedTLS, by
 * CR_TLS_BACKEND); the server is OpenSSL's and exists where OpenSSL is
 * linked (CR_TLS_SERVER: not in device builds with mbedTLS).  cr_tls
 * library, CR_HAVE_TLS defined for its users.
 */
#ifndef CR_TLSDGRAM_H
#define CR_TLSDGRAM_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "cr/addr.h"
#include "cr/error.h"

/* A datagram received; from is the node (client) or the connection's
 * pseudo address (server).  buf may be modified (relay rewrites). */
typedef void (*cr_tls_recv_fn)(void *arg, const struct cr_addr *from,
			       uint8_t *buf, size_t len);

#ifdef CR_TLS_SERVER
struct cr_tls_srv;
struct cr_tls_srv *cr_tls_srv_new(struct event_base *base,
				  const struct cr_addr *bind_addr,
				  cr_tls_recv_fn fn, void *arg,
				  struct cr_error **err);
struct cr_tls_srv *cr_tls_srv_free(struct cr_tls_srv *s);
/* 1 when a is a connection's pseudo address. */
int cr_tls_is_conn_addr(const struct cr_addr *a);
/* Sends one datagram on the connection behind `to` (dropped when it is
 * gone or its output backs up, as UDP would). */
void cr_tls_srv_send(struct cr_tls_srv *s, const struct cr_addr *to,
		     const uint8_t *buf, size_t len);
size_t cr_tls_srv_conns(const struct cr_tls_srv *s);

/*
 * What one listener gives away.  Beyond max_conns connections in all, or
 * per_addr from one IP address (IPv6: the whole address), a new
 * connection is closed at once; one whose TLS handshake is not done
 * handshake_ms after it was accepted is closed (a deadline, not an idle
 * timer: trickling bytes does not extend it); beyond out_max bytes queued
 * across all connections, datagrams to send are dropped, as a full UDP
 * socket would.  0 means no limit (for handshake_ms: the default, 10 s).
 * The defaults of cr_tls_srv_new(): no count limits, 10 s, no budget
 * beyond each connection's own 4 MiB.
 */
struct cr_tls_limits {
	uint32_t max_conns;
	uint32_t per_addr;
	uint32_t handshake_ms;
	uint64_t out_max;
};
/* Applies to connections accepted from now on (the budget at once). */
void cr_tls_srv_set_limits(struct cr_tls_srv *s,
			   const struct cr_tls_limits *lim);

struct cr_tls_srv_stats {
	uint64_t refused_total;    /* over max_conns */
	uint64_t refused_addr;     /* over per_addr */
	uint64_t handshake_timeouts;
	uint64_t out_dropped;      /* datagrams dropped over out_max */
	uint64_t out_queued;       /* bytes queued now, all connections */
};
const struct cr_tls_srv_stats *cr_tls_srv_stats(const struct cr_tls_srv *s);
#endif

struct cr_tls_cli;
struct cr_tls_cli *cr_tls_cli_new(struct event_base *base, cr_tls_recv_fn fn,
				  void *arg, struct cr_error **err);
struct cr_tls_cli *cr_tls_cli_free(struct cr_tls_cli *c);
/* Sends one datagram to the node at `to` over TLS, connecting on first
 * use (and again after the connection broke); to->route set: wrapped in a
 * RELAY header for that route, as cr_udp_out_send_path() does. */
void cr_tls_cli_send(struct cr_tls_cli *c, const struct cr_addr *to,
		     const uint8_t *buf, size_t len);

#endif
