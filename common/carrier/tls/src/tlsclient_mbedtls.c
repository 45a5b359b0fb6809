/*
 * The TLS client over mbedTLS 2.28 (cr/tlsclient.h), for device builds.
 *
 * libevent 2.1 has no mbedTLS bufferevent, so the connection is a filter
 * bufferevent over a socket bufferevent: the input filter feeds the
 * socket's bytes to mbedTLS (handshake, then records) and puts the
 * plaintext in the user's input; the output filter encrypts the user's
 * output.  mbedTLS's own I/O goes straight to the socket bufferevent's
 * buffers, so the handshake runs at whatever pace the socket gives.
 *
 * libevent's filter reports nothing when a filter fails, so failures (and
 * a close_notify) reach the user's event callback through an event of the
 * connection's own, run from the loop.
 *
 * Randomness comes from libsodium (linked into every program already),
 * not from mbedTLS's entropy and DRBG modules.  Addresses are checked
 * against the certificate's iPAddress names here: mbedTLS 2.28 checks
 * DNS names only.
 */
#include "cr/tlsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mbedTLS 3 made struct fields private and changed the version settings:
 * not supported yet (-DCR_TLS_BACKEND=openssl there). */
#if MBEDTLS_VERSION_MAJOR != 2
#error "the mbedTLS backend is written for mbedTLS 2.28 (Debian 12's)"
#endif

enum {
	TLSC_READ_CHUNK = 4096,
	/* iPAddress in GeneralName (RFC 5280), context-specific tag 7 */
	TLSC_SAN_IP = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7,
};

/* TLS 1.2 with forward secrecy and AEAD only: what the ring nodes offer
 * (OpenSSL's defaults, an ECDSA P-256 certificate) and what https servers
 * commonly offer with ECDSA or RSA certificates. */
static const int tlsc_suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0,
};

struct cr_tlsc {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	enum cr_tlsc_verify verify;
	/* The live connections, for cr_tlsc_error() (libevent 2.1 has no
	 * getter for a filter's context). */
	struct tlsc_conn *conns;
	/* The owner's reference and one per connection: libevent frees a
	 * bufferevent's context late (from the loop, or when the event base
	 * goes), possibly after cr_tlsc_free(). */
	unsigned refs;
};

/* One connection: the filter's context. */
struct tlsc_conn {
	mbedtls_ssl_context ssl;
	struct bufferevent *bev;   /* the filter (the user's) */
	struct bufferevent *under; /* the socket */
	struct event *notify;	   /* runs tlsc_on_notify */
	int hs_done;
	int ret;		   /* the mbedTLS error that ended it, or 0 */
	int closed;		   /* close_notify received */
	uint32_t vflags;	   /* verification failures */
	uint8_t ip[16];		   /* the host as an address */
	size_t iplen;		   /* 4 or 16; 0: a name */
	struct cr_tlsc *t;	   /* its settings: the list of connections */
	struct tlsc_conn *next, **prev;
};

const char *cr_tlsc_backend(void)
{
	return "mbedTLS " MBEDTLS_VERSION_STRING;
}

static int tlsc_rng(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	randombytes_buf(buf, len);
	return 0;
}

/* The system's CAs as OpenSSL finds them on Debian and OpenWrt.  None
 * found is not an error here: every certificate is then untrusted, which
 * the handshake reports. */
static void tlsc_system_cas(mbedtls_x509_crt *ca)
{
	const char *file = getenv("SSL_CERT_FILE");
	const char *dir = getenv("SSL_CERT_DIR");

	if (file != NULL && file[0] != '\0') {
		mbedtls_x509_crt_parse_file(ca, file);
		return;
	}
	if (dir != NULL && dir[0] != '\0') {
		mbedtls_x509_crt_parse_path(ca, dir);
		return;
	}
	if (mbedtls_x509_crt_parse_file(ca, "/etc/ssl/certs/ca-certificates.crt") < 0)
		mbedtls_x509_crt_parse_path(ca, "/etc/ssl/certs");
}

struct cr_tlsc *cr_tlsc_new(enum cr_tlsc_verify verify, const char *ca_file,
			    struct cr_error **err)
{
	struct cr_tlsc *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	t->verify = verify;
	t->refs = 1;
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->ca);
	if (mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
					MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		cr_error_set(err, EIO, "cannot set up TLS");
		return cr_tlsc_free(t);
	}
	mbedtls_ssl_conf_rng(&t->conf, tlsc_rng, NULL);
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->conf, tlsc_suites);
	if (verify == CR_TLSC_VERIFY_NONE) {
		mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
		return t;
	}
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	if (ca_file != NULL) {
		/* Like OpenSSL: an unreadable certificate among good ones is
		 * skipped; none at all is an error. */
		if (mbedtls_x509_crt_parse_file(&t->ca, ca_file) < 0 || t->ca.version == 0) {
			cr_error_set(err, EINVAL, "%s: no certificates could be read from it",
				     ca_file);
			return cr_tlsc_free(t);
		}
	} else {
		tlsc_system_cas(&t->ca);
	}
	mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
	return t;
}

struct cr_tlsc *cr_tlsc_free(struct cr_tlsc *t)
{
	if (t == NULL || --t->refs > 0)
		return NULL;
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->ca);
	free(t);
	return NULL;
}

/* mbedTLS's I/O: the socket bufferevent's buffers. */
static int tlsc_send(void *arg, const unsigned char *buf, size_t len)
{
	struct tlsc_conn *k = arg;

	if (evbuffer_add(bufferevent_get_output(k->under), buf, len) < 0)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

static int tlsc_recv(void *arg, unsigned char *buf, size_t len)
{
	struct tlsc_conn *k = arg;
	int n = evbuffer_remove(bufferevent_get_input(k->under), buf, len);

	return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

/* The host's address among the certificate's iPAddress names (depth 0,
 * the server's own certificate); the chain is checked by mbedTLS. */
static int tlsc_verify(void *arg, mbedtls_x509_crt *crt, int depth,
		       uint32_t *flags)
{
	struct tlsc_conn *k = arg;
	const mbedtls_x509_sequence *san;

	if (depth != 0 || k->iplen == 0)
		return 0;
	for (san = &crt->subject_alt_names; san != NULL; san = san->next)
		if (san->buf.tag == TLSC_SAN_IP && san->buf.len == k->iplen &&
		    memcmp(san->buf.p, k->ip, k->iplen) == 0)
			return 0;
	*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

/* Ends the connection with mbedTLS's error r: the user hears of it from
 * the loop (the filter would swallow it). */
static void tlsc_fail(struct tlsc_conn *k, int r)
{
	if (k->ret == 0)
		k->ret = r;
	if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		k->vflags = mbedtls_ssl_get_verify_result(&k->ssl);
	event_active(k->notify, EV_READ, 0);
}

/* Runs the handshake as far as the bytes allow: 1 done, 0 waiting, -1
 * failed. */
static int tlsc_handshake(struct tlsc_conn *k)
{
	int r;

	if (k->hs_done)
		return 1;
	if (k->ret != 0)
		return -1;
	r = mbedtls_ssl_handshake(&k->ssl);
	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 0;
	if (r != 0) {
		tlsc_fail(k, r);
		return -1;
	}
	k->hs_done = 1;
	/* What the user wrote meanwhile waits in the output: flush it from
	 * the loop. */
	event_active(k->notify, EV_WRITE, 0);
	return 1;
}

static enum bufferevent_filter_result
tlsc_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	enum bufferevent_flush_mode mode, void *arg)
{
	struct tlsc_conn *k = arg;
	unsigned char buf[TLSC_READ_CHUNK];
	int got = 0, r, hs;

	(void)src; /* read through tlsc_recv */
	(void)limit;
	(void)mode;
	hs = tlsc_handshake(k);
	if (hs < 0 || k->closed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	if (hs == 0)
		return BEV_NEED_MORE;
	for (;;) {
		r = mbedtls_ssl_read(&k->ssl, buf, sizeof(buf));
		if (r > 0) {
			if (evbuffer_add(dst, buf, (size_t)r) < 0) {
				tlsc_fail(k, MBEDTLS_ERR_SSL_ALLOC_FAILED);
				return BEV_ERROR;
			}
			got = 1;
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
		if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			/* The server is done: an end of file to the user
			 * once what came before is read. */
			k->closed = 1;
			event_active(k->notify, EV_READ, 0);
			evbuffer_drain(src, evbuffer_get_length(src));
			break;
		}
		tlsc_fail(k, r);
		return BEV_ERROR;
	}
	return got ? BEV_OK : BEV_NEED_MORE;
}

static enum bufferevent_filter_result
tlsc_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	 enum bufferevent_flush_mode mode, void *arg)
{
	struct tlsc_conn *k = arg;
	int hs = tlsc_handshake(k);

	(void)dst; /* written through tlsc_send */
	(void)limit;
	(void)mode;
	if (hs < 0)
		return BEV_ERROR;
	if (hs == 0)
		return BEV_NEED_MORE;
	while (evbuffer_get_length(src) > 0) {
		size_t n = evbuffer_get_contiguous_space(src);
		unsigned char *p = evbuffer_pullup(src, (ev_ssize_t)n);
		int r = mbedtls_ssl_write(&k->ssl, p, n);

		if (r > 0) {
			evbuffer_drain(src, (size_t)r);
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			return BEV_NEED_MORE;
		tlsc_fail(k, r);
		return BEV_ERROR;
	}
	return BEV_OK;
}

/* From the loop: a failure or an end to tell the user, or output to
 * flush after the handshake. */
static void tlsc_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct tlsc_conn *k = arg;
	bufferevent_event_cb eventcb;
	void *cbarg;

	(void)fd;
	if (k->ret == 0 && !k->closed) {
		if (what & EV_WRITE)
			bufferevent_flush(k->bev, EV_WRITE, BEV_NORMAL);
		return;
	}
	bufferevent_getcb(k->bev, NULL, NULL, &eventcb, &cbarg);
	bufferevent_disable(k->bev, EV_READ | EV_WRITE);
	if (eventcb != NULL) /* may free the bufferevent, and k with it */
		eventcb(k->bev, k->ret != 0 ? BEV_EVENT_ERROR | BEV_EVENT_READING :
					      BEV_EVENT_EOF | BEV_EVENT_READING,
			cbarg);
}

static void tlsc_conn_free(void *arg)
{
	struct tlsc_conn *k = arg;

	if (k == NULL)
		return;
	if (k->prev != NULL) {
		*k->prev = k->next;
		if (k->next != NULL)
			k->next->prev = k->prev;
	}
	if (k->notify != NULL)
		event_free(k->notify);
	mbedtls_ssl_free(&k->ssl);
	cr_tlsc_free(k->t);
	free(k);
}

struct bufferevent *cr_tlsc_bev_new(struct cr_tlsc *t, struct event_base *base,
				    const char *host, int opts,
				    struct cr_error **err)
{
	struct tlsc_conn *k = calloc(1, sizeof(*k));
	struct bufferevent *under;

	if (k == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	mbedtls_ssl_init(&k->ssl);
	if (inet_pton(AF_INET, host, k->ip) == 1)
		k->iplen = 4;
	else if (inet_pton(AF_INET6, host, k->ip) == 1)
		k->iplen = 16;
	k->notify = event_new(base, -1, 0, tlsc_on_notify, k);
	if (k->notify == NULL || mbedtls_ssl_setup(&k->ssl, &t->conf) != 0) {
		tlsc_conn_free(k);
		cr_error_set(err, ENOMEM, "cannot set up TLS");
		return NULL;
	}
	/* A name is sent (SNI) and checked by mbedTLS; an address is
	 * checked by tlsc_verify and never sent (RFC 6066). */
	if (k->iplen == 0 && mbedtls_ssl_set_hostname(&k->ssl, host) != 0) {
		tlsc_conn_free(k);
		cr_error_set(err, EINVAL, "%s: bad host name", host);
		return NULL;
	}
	if (t->verify == CR_TLSC_VERIFY_CA)
		mbedtls_ssl_set_verify(&k->ssl, tlsc_verify, k);
	mbedtls_ssl_set_bio(&k->ssl, k, tlsc_send, tlsc_recv, NULL);
	under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (under == NULL) {
		tlsc_conn_free(k);
		cr_error_set(err, ENOMEM, "cannot set up a TCP connection");
		return NULL;
	}
	k->under = under;
	k->bev = bufferevent_filter_new(under, tlsc_in, tlsc_out,
					opts | BEV_OPT_CLOSE_ON_FREE,
					tlsc_conn_free, k);
	if (k->bev == NULL) {
		bufferevent_free(under);
		tlsc_conn_free(k);
		cr_error_set(err, ENOMEM, "cannot set up TLS");
		return NULL;
	}
	k->t = t;
	t->refs++;
	k->next = t->conns;
	if (k->next != NULL)
		k->next->prev = &k->next;
	k->prev = &t->conns;
	t->conns = k;
	bufferevent_enable(under, EV_READ | EV_WRITE);
	/* The ClientHello, queued until the socket connects. */
	tlsc_handshake(k);
	return k->bev;
}

int cr_tlsc_connect(struct bufferevent *bev, const struct sockaddr *sa,
		    int salen)
{
	return bufferevent_socket_connect(bufferevent_get_underlying(bev), sa, salen);
}

static const char *tlsc_verify_reason(uint32_t f, int ip)
{
	if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return "unable to get local issuer certificate";
	if (f & MBEDTLS_X509_BADCERT_EXPIRED)
		return "certificate has expired";
	if (f & MBEDTLS_X509_BADCERT_FUTURE)
		return "certificate is not yet valid";
	if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return ip ? "IP address mismatch" : "hostname mismatch";
	if (f & MBEDTLS_X509_BADCERT_REVOKED)
		return "certificate revoked";
	if (f & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE))
		return "unsuitable certificate purpose";
	return "certificate verify failed";
}

int cr_tlsc_error(struct cr_tlsc *t, struct bufferevent *bev, char *buf,
		  size_t len)
{
	struct tlsc_conn *k;
	int r;

	for (k = t->conns; k != NULL && k->bev != bev; k = k->next)
		;
	if (k == NULL || k->ret == 0)
		return -1;
	r = k->ret;
	if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		snprintf(buf, len, "%s", tlsc_verify_reason(k->vflags, k->iplen != 0));
		return 1;
	}
	if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
		snprintf(buf, len, "the server sent a TLS alert (%d)",
			 k->ssl.in_msg != NULL ? k->ssl.in_msg[1] : 0);
	else if (r == MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE ||
		 r == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
		snprintf(buf, len, "no TLS version or cipher suite in common with the server");
	else
		snprintf(buf, len, "TLS error -0x%04x", (unsigned)-r);
	return 0;
}
