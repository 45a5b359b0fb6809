/*
 * The TLS client of every Korhal program: a libevent bufferevent that
 * speaks TLS to a server.  The agent's and CLI's TCP fallback to ring
 * nodes (cr/tlsdgram.h) and Archon's https:// origins both connect
 * through it, so there is one TLS integration on the client side.
 *
 * Two backends, chosen at build time with -DCR_TLS_BACKEND:
 *   openssl  OpenSSL through libevent_openssl (hosts: nodes and the CLI
 *            link OpenSSL anyway);
 *   mbedtls  mbedTLS 2.28 (Debian's libmbedtls-dev) over a libevent
 *            filter bufferevent (device builds: a static device binary
 *            without OpenSSL's 3 MB).
 * Both offer TLS 1.2 and later only, and check certificates the same way.
 *
 * The bufferevent behaves as a socket bufferevent to its user: write
 * plaintext to its output, read plaintext from its input, and get
 * BEV_EVENT_EOF, BEV_EVENT_ERROR or BEV_EVENT_TIMEOUT in the event
 * callback when the connection is over (BEV_EVENT_CONNECTED may come when
 * the TCP connection is up, before the handshake: what is written before
 * the handshake is done waits for it).  After an error,
 * cr_tlsc_error() says what TLS found wrong, e.g. a certificate that is
 * not trusted.
 */
#ifndef CR_TLSCLIENT_H
#define CR_TLSCLIENT_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cr/error.h"

/* How the server's certificate is checked. */
enum cr_tlsc_verify {
	/* Not at all: the TCP fallback, where TLS is camouflage and the
	 * Noise sessions inside authenticate (cr/tlsdgram.h). */
	CR_TLSC_VERIFY_NONE,
	/* Signed by a trusted CA and naming the host (its DNS name, or its
	 * address for an IP literal): https:// origins. */
	CR_TLSC_VERIFY_CA,
};

/* Settings shared by connections: the verification mode and, for
 * CR_TLSC_VERIFY_CA, the trusted CAs: those in the PEM file ca_file, or
 * when it is NULL the system's ($SSL_CERT_FILE, $SSL_CERT_DIR, else
 * /etc/ssl/certs). */
struct cr_tlsc;
struct cr_tlsc *cr_tlsc_new(enum cr_tlsc_verify verify, const char *ca_file,
			    struct cr_error **err);
struct cr_tlsc *cr_tlsc_free(struct cr_tlsc *t);

/* The backend's name and version, e.g. "mbedTLS 2.28.3". */
const char *cr_tlsc_backend(void);

/* A TLS bufferevent on a new socket, not connected yet: connect it with
 * cr_tlsc_connect().  host: the server name sent (SNI) and, with
 * CR_TLSC_VERIFY_CA, the name or address its certificate must carry.
 * opts: BEV_OPT_* (BEV_OPT_CLOSE_ON_FREE is implied).  Free it with
 * bufferevent_free(). */
struct bufferevent *cr_tlsc_bev_new(struct cr_tlsc *t, struct event_base *base,
				    const char *host, int opts,
				    struct cr_error **err);
/* Starts the TCP connection and the handshake; -1 when it cannot start. */
int cr_tlsc_connect(struct bufferevent *bev, const struct sockaddr *sa,
		    int salen);
/* After BEV_EVENT_ERROR (or EOF during the handshake): what TLS found
 * wrong, in words, into buf; 1 when the certificate was refused (not
 * trusted, expired, or not for this host), 0 for another TLS failure, -1
 * when TLS saw nothing wrong (a plain network failure). */
int cr_tlsc_error(struct cr_tlsc *t, struct bufferevent *bev, char *buf,
		  size_t len);

#endif
