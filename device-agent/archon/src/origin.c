/*
 * Origin access (origin.h): libevent's HTTP client, over OpenSSL for
 * https://, for http(s) origins; the file system for file:// and plain
 * paths.  libevent and OpenSSL link statically into the device build, so
 * devices pull over HTTPS where libcurl cannot follow (its static archive
 * needs Kerberos and p11-kit, which Debian ships without .a files).
 *
 * One connection is kept and reused (keep-alive).  A request that fails
 * on a reused connection (the server closed it while idle) is retried
 * once on a fresh one.  Redirects are followed, at most 5.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AR_WITH_HTTP
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#endif
/* https:// (OpenSSL); without it (device builds with -DCR_DEVICE_TLS=OFF)
 * plain http:// origins still work: what is pulled is checked against
 * the signed manifest either way. */
#ifdef AR_WITH_HTTPS
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#include "cr/util.h"
#include "origin.h"

enum {
	ORIGIN_REDIRECTS = 5,
	ORIGIN_TIMEOUT_S = 60, /* a stalled connection fails after this */
	/* A request not complete after this fails, however steadily bytes
	 * trickle in (slow retrieval: the idle timeout above never fires on
	 * one byte a minute).  $ARCHON_FETCH_DEADLINE (seconds) changes it. */
	ORIGIN_DEADLINE_S = 120,
	ORIGIN_HOST_MAX = 256,
	ORIGIN_HEADERS_MAX = 64 * 1024,
};

#ifdef AR_WITH_HTTP
/* Where a request goes: scheme, host and port name a connection. */
struct target {
	int https;
	char host[ORIGIN_HOST_MAX]; /* without brackets for IPv6 */
	int port;
	char path[PATH_MAX + 64];   /* with the query, if any */
};
#endif

struct ar_origin {
	char *base; /* without a trailing '/' */
	int is_file; /* base is a local folder */
	uint64_t bytes, requests;
	int last_status; /* of the last request; 0: no answer */
	int deadline_s;	 /* per request, ORIGIN_DEADLINE_S */
#ifdef AR_WITH_HTTP
	struct event_base *evb;
#ifdef AR_WITH_HTTPS
	SSL_CTX *tls;			  /* made on the first https request */
#endif
	struct evhttp_connection *conn; /* to conn_to, or NULL */
	struct target conn_to;
	int conn_used;	/* a request completed on it: it may go stale */
	int conn_closed; /* the server closed it */
#ifdef AR_WITH_HTTPS
	SSL *conn_ssl;	/* https: the connection's TLS, for error messages */
#endif
#endif
};

int ar_origin_open(const char *url, struct ar_origin **out,
		   struct cr_error **err)
{
	struct ar_origin *o = calloc(1, sizeof(*o));
	size_t n;

	if (o == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (strncmp(url, "file://", 7) == 0) {
		o->is_file = 1;
		url += 7;
	} else if (strncmp(url, "http://", 7) != 0 &&
		   strncmp(url, "https://", 8) != 0) {
		o->is_file = 1;
	}
	o->deadline_s = ORIGIN_DEADLINE_S;
	if (getenv("ARCHON_FETCH_DEADLINE") != NULL) {
		long d = strtol(getenv("ARCHON_FETCH_DEADLINE"), NULL, 10);

		if (d > 0 && d < 86400)
			o->deadline_s = (int)d;
	}
	o->base = strdup(url);
	if (o->base == NULL) {
		free(o);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	n = strlen(o->base);
	while (n > 1 && o->base[n - 1] == '/')
		o->base[--n] = '\0';
	if (!o->is_file) {
#ifdef AR_WITH_HTTP
		o->evb = event_base_new();
		if (o->evb == NULL) {
			ar_origin_free(o);
			return cr_error_set(err, ENOMEM, "cannot start the HTTP client");
		}
#else
		ar_origin_free(o);
		return cr_error_set(err, ENOTSUP,
				    "%s: this build has no HTTP client; use a file:// origin",
				    url);
#endif
	}
	*out = o;
	return 0;
}

#ifdef AR_WITH_HTTP
static void origin_drop_conn(struct ar_origin *o)
{
	if (o->conn != NULL)
		evhttp_connection_free(o->conn); /* frees the SSL too */
	o->conn = NULL;
#ifdef AR_WITH_HTTPS
	o->conn_ssl = NULL;
#endif
	o->conn_used = o->conn_closed = 0;
}
#endif

struct ar_origin *ar_origin_free(struct ar_origin *o)
{
	if (o == NULL)
		return NULL;
#ifdef AR_WITH_HTTP
	origin_drop_conn(o);
#ifdef AR_WITH_HTTPS
	SSL_CTX_free(o->tls);
#endif
	if (o->evb != NULL)
		event_base_free(o->evb);
#endif
	free(o->base);
	free(o);
	return NULL;
}

long ar_origin_last_status(const struct ar_origin *o)
{
	return o->last_status;
}

uint64_t ar_origin_bytes(const struct ar_origin *o)
{
	return o->bytes;
}

uint64_t ar_origin_requests(const struct ar_origin *o)
{
	return o->requests;
}

#ifdef AR_WITH_HTTP
/* Parses an absolute http(s) URL into t. */
static int target_parse(const char *url, struct target *t, struct cr_error **err)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	const char *scheme, *host, *path, *query;
	int n;

	if (u == NULL)
		return cr_error_set(err, EINVAL, "%s: not a URL", url);
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	path = evhttp_uri_get_path(u);
	query = evhttp_uri_get_query(u);
	memset(t, 0, sizeof(*t));
	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		evhttp_uri_free(u);
		return cr_error_set(err, EINVAL, "%s: want an http:// or https:// URL", url);
	}
	t->https = strcmp(scheme, "https") == 0;
	if (host[0] == '[') /* [V6] */
		host++;
	n = snprintf(t->host, sizeof(t->host), "%s", host);
	if (n > 0 && t->host[n - 1] == ']')
		t->host[n - 1] = '\0';
	t->port = evhttp_uri_get_port(u);
	if (t->port < 0)
		t->port = t->https ? 443 : 80;
	n = snprintf(t->path, sizeof(t->path), "%s%s%s",
		     path != NULL && path[0] != '\0' ? path : "/",
		     query != NULL ? "?" : "", query != NULL ? query : "");
	evhttp_uri_free(u);
	if (n < 0 || (size_t)n >= sizeof(t->path))
		return cr_error_set(err, ENAMETOOLONG, "%s: URL too long", url);
	return 0;
}

static int target_same_conn(const struct target *a, const struct target *b)
{
	return a->https == b->https && a->port == b->port &&
	       strcmp(a->host, b->host) == 0;
}

#ifdef AR_WITH_HTTPS
/* The TLS settings every https connection shares: certificates checked
 * against $CURL_CA_BUNDLE when set (curl's convention: it replaces the
 * system's CAs), else OpenSSL's default paths (/etc/ssl/certs, or
 * $SSL_CERT_FILE and $SSL_CERT_DIR). */
static int origin_tls(struct ar_origin *o, struct cr_error **err)
{
	const char *bundle = getenv("CURL_CA_BUNDLE");

	if (o->tls != NULL)
		return 0;
	o->tls = SSL_CTX_new(TLS_client_method());
	if (o->tls == NULL)
		return cr_error_set(err, EIO, "cannot set up TLS");
	SSL_CTX_set_min_proto_version(o->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(o->tls, SSL_VERIFY_PEER, NULL);
	if (bundle != NULL && bundle[0] != '\0') {
		if (SSL_CTX_load_verify_locations(o->tls, bundle, NULL) != 1) {
			SSL_CTX_free(o->tls);
			o->tls = NULL;
			return cr_error_set(err, EINVAL,
					    "CURL_CA_BUNDLE=%s: no certificates could be read from it",
					    bundle);
		}
	} else if (SSL_CTX_set_default_verify_paths(o->tls) != 1) {
		SSL_CTX_free(o->tls);
		o->tls = NULL;
		return cr_error_set(err, EIO, "cannot load the system's CA certificates");
	}
	return 0;
}
#endif

static void origin_on_close(struct evhttp_connection *c, void *arg)
{
	struct ar_origin *o = arg;

	(void)c;
	o->conn_closed = 1;
}

/* A connection to t (the current one when it still fits). */
static int origin_conn(struct ar_origin *o, const struct target *t,
		       struct cr_error **err)
{
	struct bufferevent *bev = NULL;
	struct in6_addr ip6;
	struct in_addr ip4;

	if (o->conn != NULL && !o->conn_closed && target_same_conn(&o->conn_to, t))
		return 0;
	origin_drop_conn(o);
	if (t->https) {
#ifdef AR_WITH_HTTPS
		SSL *ssl;
		X509_VERIFY_PARAM *vp;
		int is_ip = inet_pton(AF_INET, t->host, &ip4) == 1 ||
			    inet_pton(AF_INET6, t->host, &ip6) == 1;

		if (origin_tls(o, err) < 0)
			return -1;
		ssl = SSL_new(o->tls);
		if (ssl == NULL)
			return cr_error_set(err, EIO, "cannot set up TLS");
		/* The certificate must name the host (or the address). */
		vp = SSL_get0_param(ssl);
		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->host) != 1 :
			    X509_VERIFY_PARAM_set1_host(vp, t->host, 0) != 1 ||
				    SSL_set_tlsext_host_name(ssl, t->host) != 1) {
			SSL_free(ssl);
			return cr_error_set(err, EINVAL, "%s: bad host name", t->host);
		}
		bev = bufferevent_openssl_socket_new(o->evb, -1, ssl,
						     BUFFEREVENT_SSL_CONNECTING,
						     BEV_OPT_CLOSE_ON_FREE |
							     BEV_OPT_DEFER_CALLBACKS);
		if (bev == NULL) {
			SSL_free(ssl);
			return cr_error_set(err, ENOMEM, "cannot set up TLS");
		}
		/* Servers often close without a TLS close_notify; the HTTP
		 * framing says where a body ends anyway. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		o->conn_ssl = ssl;
#else
		(void)ip4;
		(void)ip6;
		return cr_error_set(err, ENOTSUP,
				    "https://%s: this build has no TLS (built with "
				    "-DCR_DEVICE_TLS=OFF); use an http:// origin",
				    t->host);
#endif
	}
	o->conn = evhttp_connection_base_bufferevent_new(o->evb, NULL, bev,
							 t->host,
							 (unsigned short)t->port);
	if (o->conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
#ifdef AR_WITH_HTTPS
		o->conn_ssl = NULL;
#endif
		return cr_error_set(err, ENOMEM, "cannot set up an HTTP connection");
	}
	evhttp_connection_set_timeout(o->conn, ORIGIN_TIMEOUT_S);
	/* Bodies are bounded per request; headers here (libevent's default
	 * is no bound). */
	evhttp_connection_set_max_headers_size(o->conn, ORIGIN_HEADERS_MAX);
	evhttp_connection_set_closecb(o->conn, origin_on_close, o);
	o->conn_to = *t;
	return 0;
}

/* One request's outcome, filled in by the callbacks. */
struct reply {
	int done;
	int status;		 /* 0: no response */
	enum evhttp_request_error why; /* when status is 0 */
	int have_why;
	uint8_t *body;
	size_t len;
	int nomem;
	char location[PATH_MAX + 64];
	struct event_base *evb;
	size_t max; /* the body's bound */
	int late; /* the request's deadline passed */
};

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct reply *r = arg;

	(void)fd;
	(void)what;
	r->late = 1;
	event_base_loopbreak(r->evb);
}

static void on_reply(struct evhttp_request *req, void *arg)
{
	struct reply *r = arg;

	r->done = 1;
	event_base_loopbreak(r->evb);
	if (req == NULL)
		return;
	r->status = evhttp_request_get_response_code(req);
	if (r->status == 200) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);

		r->len = evbuffer_get_length(in);
		r->body = malloc(r->len ? r->len : 1);
		if (r->body == NULL)
			r->nomem = 1;
		else
			evbuffer_remove(in, r->body, r->len);
	} else if (r->status >= 300 && r->status < 400) {
		const char *loc = evhttp_find_header(
			evhttp_request_get_input_headers(req), "Location");

		if (loc != NULL)
			snprintf(r->location, sizeof(r->location), "%s", loc);
	}
}

static void on_error(enum evhttp_request_error why, void *arg)
{
	struct reply *r = arg;

	r->why = why;
	r->have_why = 1;
}

/* Why a request got no response, in words. */
static void origin_transport_error(struct ar_origin *o, const char *url,
				   const struct reply *r, struct cr_error **err)
{
#ifdef AR_WITH_HTTPS
	if (o->conn_ssl != NULL) {
		long v = SSL_get_verify_result(o->conn_ssl);
		unsigned long e = ERR_peek_last_error();

		if (v != X509_V_OK) {
			cr_error_set(err, EPROTO,
				     "%s: TLS: the server's certificate is not trusted: %s "
				     "(a private CA: point CURL_CA_BUNDLE at its certificate)",
				     url, X509_verify_cert_error_string(v));
			ERR_clear_error();
			return;
		}
		if (e != 0) {
			char msg[256];

			ERR_error_string_n(e, msg, sizeof(msg));
			cr_error_set(err, EPROTO, "%s: TLS: %s", url, msg);
			ERR_clear_error();
			return;
		}
	}
#endif
	if (r->have_why && r->why == EVREQ_HTTP_DATA_TOO_LONG) {
		cr_error_set(err, EFBIG,
			     "endless data: %s: more than the %zu bytes "
			     "expected; stopped there",
			     url, r->max);
		return;
	}
	if (r->have_why && r->why == EVREQ_HTTP_TIMEOUT) {
		cr_error_set(err, ETIMEDOUT,
			     "slow retrieval: %s: nothing for %d s", url,
			     ORIGIN_TIMEOUT_S);
		return;
	}
	cr_error_set(err, EIO, "%s: connection failed or closed before a response", url);
}

/* GET t->path with a body of at most max bytes.  Returns 0 with r filled
 * in (any HTTP status), or -1 when no response came. */
static int origin_request(struct ar_origin *o, const struct target *t,
			  const char *url, size_t max, struct reply *r,
			  struct cr_error **err)
{
	struct evhttp_request *req;
	struct evkeyvalq *h;
	char host[ORIGIN_HOST_MAX + 16];
	int v6 = strchr(t->host, ':') != NULL;
	int dflt = t->port == (t->https ? 443 : 80);
	struct timeval tv = { 0, 0 };
	struct event *dl;

	memset(r, 0, sizeof(*r));
	r->evb = o->evb;
	r->max = max;
	if (origin_conn(o, t, err) < 0)
		return -1;
	req = evhttp_request_new(on_reply, r);
	if (req == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	evhttp_request_set_error_cb(req, on_error);
	if (dflt)
		snprintf(host, sizeof(host), v6 ? "[%s]" : "%s", t->host);
	else
		snprintf(host, sizeof(host), v6 ? "[%s]:%d" : "%s:%d", t->host, t->port);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "User-Agent", "archon");
	evhttp_add_header(h, "Accept", "*/*");
	evhttp_connection_set_max_body_size(o->conn,
					    max > (size_t)INT64_MAX ? INT64_MAX : (ev_ssize_t)max);
	/* On failure evhttp_make_request frees req. */
	if (evhttp_make_request(o->conn, req, EVHTTP_REQ_GET, t->path) != 0) {
		origin_drop_conn(o);
		return cr_error_set(err, EIO, "%s: cannot send the request", url);
	}
	tv.tv_sec = o->deadline_s;
	dl = evtimer_new(o->evb, on_deadline, r);
	if (dl == NULL || evtimer_add(dl, &tv) < 0) {
		if (dl != NULL)
			event_free(dl);
		evhttp_cancel_request(req);
		origin_drop_conn(o);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	while (!r->done && !r->late)
		if (event_base_dispatch(o->evb) != 0)
			break;
	event_free(dl);
	if (!r->done && r->late) {
		/* Cancelling resets the connection; the callbacks never run. */
		evhttp_cancel_request(req);
		origin_drop_conn(o);
		return cr_error_set(err, ETIMEDOUT,
				    "slow retrieval: %s: not complete after "
				    "%d s; stopped there",
				    url, o->deadline_s);
	}
	if (r->nomem)
		return cr_error_set(err, ENOMEM, "out of memory");
	if (!r->done || r->status == 0) {
		origin_transport_error(o, url, r, err);
		origin_drop_conn(o);
		return -1;
	}
	o->conn_used = 1;
	return 0;
}

static int origin_http_get(struct ar_origin *o, const char *url, size_t max,
			   uint8_t **out, size_t *len, struct cr_error **err)
{
	struct target t;
	struct reply r;
	char where[PATH_MAX + 64];

	if (target_parse(url, &t, err) < 0)
		return -EINVAL;
	snprintf(where, sizeof(where), "%s", url);
	for (int hop = 0; hop <= ORIGIN_REDIRECTS; hop++) {
		int reused = o->conn != NULL && o->conn_used &&
			     target_same_conn(&o->conn_to, &t);

		if (origin_request(o, &t, where, max, &r, err) < 0) {
			/* A kept-alive connection the server had dropped:
			 * once more on a fresh one. */
			if (!reused || (err != NULL && *err != NULL &&
					((*err)->code == EPROTO || (*err)->code == EFBIG ||
					 (*err)->code == ETIMEDOUT)))
				return -EIO;
			if (err != NULL) {
				cr_error_free(*err);
				*err = NULL;
			}
			if (origin_request(o, &t, where, max, &r, err) < 0)
				return -EIO;
		}
		o->bytes += r.len;
		o->last_status = r.status;
		if (r.status == 200) {
			*out = r.body;
			*len = r.len;
			return 0;
		}
		free(r.body);
		if (r.status == 404) {
			cr_error_set(err, ENOENT, "%s: not found (404)", where);
			return -ENOENT;
		}
		if ((r.status == 301 || r.status == 302 || r.status == 303 ||
		     r.status == 307 || r.status == 308) && r.location[0] != '\0') {
			struct target next;

			if (r.location[0] == '/') { /* same server */
				next = t;
				snprintf(next.path, sizeof(next.path), "%s", r.location);
			} else if (target_parse(r.location, &next, err) < 0) {
				return -EIO;
			}
			/* Never from https down to http. */
			if (t.https && !next.https) {
				cr_error_set(err, EPERM, "%s: redirected to plain http (%s)",
					     where, r.location);
				return -EIO;
			}
			snprintf(where, sizeof(where), "%s", r.location);
			t = next;
			continue;
		}
		cr_error_set(err, EIO, "%s: HTTP %d", where, r.status);
		return -EIO;
	}
	cr_error_set(err, ELOOP, "%s: more than %d redirects", url, ORIGIN_REDIRECTS);
	return -EIO;
}
#endif

int ar_origin_get(struct ar_origin *o, const char *rel, size_t max,
		  uint8_t **out, size_t *len, struct cr_error **err)
{
	char url[PATH_MAX + 64];
	int n = snprintf(url, sizeof(url), "%s/%s", o->base, rel);

	if (n < 0 || (size_t)n >= sizeof(url))
		return cr_error_set(err, ENAMETOOLONG, "URL too long");
	o->requests++;
	o->last_status = 0;
	if (o->is_file) {
		char *buf;
		int rc = cr_read_file(url, max, &buf, len, err);

		if (rc < 0)
			return (err != NULL && *err != NULL && (*err)->code == ENOENT) ? -ENOENT : -EIO;
		*out = (uint8_t *)buf;
		o->bytes += *len;
		o->last_status = 200;
		return 0;
	}
#ifdef AR_WITH_HTTP
	return origin_http_get(o, url, max, out, len, err);
#else
	return cr_error_set(err, ENOTSUP, "no HTTP client in this build");
#endif
}
