/* The TLS client over OpenSSL (cr/tlsclient.h): libevent_openssl's
 * bufferevent, with OpenSSL's checks of the chain and the host. */
#include "cr/tlsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

struct cr_tlsc {
	SSL_CTX *ctx;
	enum cr_tlsc_verify verify;
};

const char *cr_tlsc_backend(void)
{
	return OPENSSL_VERSION_TEXT;
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
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL) {
		free(t);
		cr_error_set(err, EIO, "cannot set up TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	if (verify == CR_TLSC_VERIFY_NONE) {
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
		return t;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1) {
			cr_error_set(err, EINVAL, "%s: no certificates could be read from it",
				     ca_file);
			return cr_tlsc_free(t);
		}
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		cr_error_set(err, EIO, "cannot load the system's CA certificates");
		return cr_tlsc_free(t);
	}
	return t;
}

struct cr_tlsc *cr_tlsc_free(struct cr_tlsc *t)
{
	if (t == NULL)
		return NULL;
	SSL_CTX_free(t->ctx);
	free(t);
	return NULL;
}

struct bufferevent *cr_tlsc_bev_new(struct cr_tlsc *t, struct event_base *base,
				    const char *host, int opts,
				    struct cr_error **err)
{
	SSL *ssl = SSL_new(t->ctx);
	struct bufferevent *bev;
	struct in6_addr ip6;
	struct in_addr ip4;
	int is_ip = inet_pton(AF_INET, host, &ip4) == 1 ||
		    inet_pton(AF_INET6, host, &ip6) == 1;

	if (ssl == NULL) {
		cr_error_set(err, ENOMEM, "cannot set up TLS");
		return NULL;
	}
	/* SNI for names only (RFC 6066: never an address); the certificate
	 * must name the host or carry the address. */
	if ((!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) ||
	    (t->verify == CR_TLSC_VERIFY_CA &&
	     (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1 :
		      X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), host, 0) != 1))) {
		SSL_free(ssl);
		cr_error_set(err, EINVAL, "%s: bad host name", host);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     opts | BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		cr_error_set(err, ENOMEM, "cannot set up TLS");
		return NULL;
	}
	/* Servers often close without a TLS close_notify; what runs over
	 * the connection knows where its data ends (HTTP framing, datagram
	 * frames). */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int cr_tlsc_connect(struct bufferevent *bev, const struct sockaddr *sa,
		    int salen)
{
	return bufferevent_socket_connect(bev, sa, salen);
}

int cr_tlsc_error(struct cr_tlsc *t, struct bufferevent *bev, char *buf,
		  size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e = bufferevent_get_openssl_error(bev);

	(void)t;
	if (ssl != NULL && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
		long v = SSL_get_verify_result(ssl);

		if (v != X509_V_OK) {
			snprintf(buf, len, "%s", X509_verify_cert_error_string(v));
			ERR_clear_error();
			return 1;
		}
	}
	if (e == 0)
		e = ERR_peek_last_error();
	ERR_clear_error();
	if (e == 0)
		return -1;
	ERR_error_string_n(e, buf, len);
	return 0;
}
