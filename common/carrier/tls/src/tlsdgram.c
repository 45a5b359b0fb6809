/* Carrier datagrams over TLS: see cr/tlsdgram.h. */
#include "cr/tlsdgram.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/map.h"
#include "cr/tcpframe.h"
#include "cr/tlsclient.h"

/* The node's side (the server) is OpenSSL's, built where OpenSSL is
 * (CR_TLS_SERVER); the client side is cr/tlsclient.h's, whichever its
 * backend. */
#ifdef CR_TLS_SERVER
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#endif

_Static_assert((int)CR_TCPF_MAX >= (int)CP_DATAGRAM_MAX,
	       "every datagram fits a TCP frame");

enum {
	TLS_OUT_MAX = 4 * 1024 * 1024, /* queued bytes per connection */
	TLS_CLI_NODES = 64,
	TLS_HANDSHAKE_MS = 10 * 1000, /* default handshake deadline */
};

/* ---- Shared ------------------------------------------------------------ */

struct tls_conn {
	struct bufferevent *bev;
	struct cr_addr addr; /* server: pseudo address; client: the node */
	uint64_t id;
	void *owner;
	int server;
	/* Server only: the peer's IP (its per-address count) and the TLS
	 * handshake deadline, freed once the handshake is done. */
	uint8_t ip[16];
	struct event *hs_timer;
	struct evbuffer_cb_entry *out_cb;
};

#ifdef CR_TLS_SERVER
struct cr_tls_srv;
static int tls_srv_out_full(struct cr_tls_srv *s);
#endif

static void tls_conn_send(struct tls_conn *k, const uint8_t *buf, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(k->bev);

	/* A congested connection drops, as a full UDP socket would: the
	 * streams above retransmit and slow down.  So does the server once
	 * all its connections together hold out_max bytes. */
	if (evbuffer_get_length(out) > TLS_OUT_MAX)
		return;
#ifdef CR_TLS_SERVER
	if (k->server && tls_srv_out_full(k->owner))
		return;
#endif
	cr_tcpf_put(out, buf, len);
}

#ifdef CR_TLS_SERVER
static void tls_set_err(struct cr_error **err, const char *what)
{
	unsigned long e = ERR_get_error();
	char msg[256];

	ERR_error_string_n(e, msg, sizeof(msg));
	cr_error_set(err, EIO, "%s: %s", what, e != 0 ? msg : "failed");
}

#endif

struct cr_tls_cli {
	cr_tls_recv_fn fn;
	void *arg;
	struct event_base *base;
	struct cr_tlsc *tls;
	struct tls_conn *nodes[TLS_CLI_NODES];
};

/* ---- Server ------------------------------------------------------------ */

#ifdef CR_TLS_SERVER
struct tls_addr_count {
	uint8_t ip[16];
	uint32_t n;
};

struct cr_tls_srv {
	struct event_base *base;
	SSL_CTX *ctx;
	struct evconnlistener *lst;
	struct cr_map *conns; /* id -> struct tls_conn */
	struct cr_map *per_addr; /* ip[16] -> struct tls_addr_count */
	uint64_t next_id;
	cr_tls_recv_fn fn;
	void *arg;
	struct cr_tls_limits lim;
	struct cr_tls_srv_stats st;
};

static int tls_srv_out_full(struct cr_tls_srv *s)
{
	if (s->lim.out_max == 0 || s->st.out_queued < s->lim.out_max)
		return 0;
	s->st.out_dropped++;
	return 1;
}

/* Every byte added to or drained from a server connection's output. */
static void tls_srv_on_out(struct evbuffer *buf,
			   const struct evbuffer_cb_info *info, void *arg)
{
	struct cr_tls_srv *s = arg;

	s->st.out_queued += info->n_added;
	s->st.out_queued -= info->n_deleted < s->st.out_queued ?
				    info->n_deleted : s->st.out_queued;
}

/* The IP of sa as 16 bytes (IPv4 mapped into IPv6). */
static void tls_ip_of(const struct sockaddr *sa, uint8_t ip[16])
{
	memset(ip, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(ip, &((const struct sockaddr_in6 *)(const void *)sa)
				    ->sin6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &((const struct sockaddr_in *)(const void *)sa)
					 ->sin_addr, 4);
	}
}

static void tls_pseudo_addr(uint64_t id, struct cr_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->u.in6.sin6_family = AF_INET6;
	a->u.in6.sin6_addr.s6_addr[0] = 0x01; /* 100::/64 */
	for (int i = 0; i < 8; i++)
		a->u.in6.sin6_addr.s6_addr[8 + i] = (uint8_t)(id >> (56 - 8 * i));
	a->u.in6.sin6_port = htons(1);
}

int cr_tls_is_conn_addr(const struct cr_addr *a)
{
	static const uint8_t prefix[8] = { 0x01 };

	return a->u.sa.sa_family == AF_INET6 &&
	       memcmp(a->u.in6.sin6_addr.s6_addr, prefix, 8) == 0;
}

static uint64_t tls_conn_id(const struct cr_addr *a)
{
	uint64_t id = 0;

	for (int i = 0; i < 8; i++)
		id = id << 8 | a->u.in6.sin6_addr.s6_addr[8 + i];
	return id;
}

/* A server connection's share of the server's counts, given back. */
static void tls_srv_release(struct cr_tls_srv *s, struct tls_conn *k)
{
	struct tls_addr_count *c = cr_map_get(s->per_addr, k->ip);
	struct evbuffer *out = bufferevent_get_output(k->bev);
	size_t left = evbuffer_get_length(out);

	if (k->out_cb != NULL)
		evbuffer_remove_cb_entry(out, k->out_cb);
	s->st.out_queued -= left < s->st.out_queued ? left : s->st.out_queued;
	if (c != NULL && --c->n == 0) {
		cr_map_del(s->per_addr, k->ip);
		free(c);
	}
	if (k->hs_timer != NULL)
		event_free(k->hs_timer);
}

#endif

static void tls_conn_free(struct tls_conn *k)
{
#ifdef CR_TLS_SERVER
	if (k->server) {
		struct cr_tls_srv *s = k->owner;

		cr_map_del(s->conns, &k->id);
		tls_srv_release(s, k);
	}
#endif
	bufferevent_free(k->bev);
	free(k);
}

/* Reads every whole datagram; a stream that is not framed datagrams (a
 * port scanner, a browser) is closed. */
static void tls_on_read(struct bufferevent *bev, void *arg)
{
	struct tls_conn *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[CR_TCPF_MAX];
	cr_tls_recv_fn fn;
	void *farg;
	size_t len;
	int r;

#ifdef CR_TLS_SERVER
	if (k->server) {
		fn = ((struct cr_tls_srv *)k->owner)->fn;
		farg = ((struct cr_tls_srv *)k->owner)->arg;
	} else
#endif
	{
		fn = ((struct cr_tls_cli *)k->owner)->fn;
		farg = ((struct cr_tls_cli *)k->owner)->arg;
	}
	while ((r = cr_tcpf_pull(in, buf, &len)) == 1)
		fn(farg, &k->addr, buf, len);
	if (r < 0)
		tls_conn_free(k);
}

#ifdef CR_TLS_SERVER
static void tls_srv_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tls_conn *k = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		tls_conn_free(k);
		return;
	}
	/* The TLS handshake is done: no deadline any more. */
	if ((what & BEV_EVENT_CONNECTED) && k->hs_timer != NULL) {
		event_free(k->hs_timer);
		k->hs_timer = NULL;
	}
}

static void tls_srv_on_hs_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tls_conn *k = arg;

	((struct cr_tls_srv *)k->owner)->st.handshake_timeouts++;
	tls_conn_free(k);
}

static void tls_srv_on_accept(struct evconnlistener *l, evutil_socket_t fd,
			      struct sockaddr *sa, int socklen, void *arg)
{
	struct cr_tls_srv *s = arg;
	struct tls_addr_count *c;
	struct tls_conn *k;
	uint8_t ip[16];
	SSL *ssl;

	/* Counted before any TLS state exists: a refused connection costs
	 * an accept and a close. */
	tls_ip_of(sa, ip);
	c = cr_map_get(s->per_addr, ip);
	if (s->lim.max_conns != 0 &&
	    cr_map_count(s->conns) >= s->lim.max_conns) {
		s->st.refused_total++;
		evutil_closesocket(fd);
		return;
	}
	if (s->lim.per_addr != 0 && c != NULL && c->n >= s->lim.per_addr) {
		s->st.refused_addr++;
		evutil_closesocket(fd);
		return;
	}
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL || cr_map_put(s->per_addr, ip, c) < 0) {
			free(c);
			evutil_closesocket(fd);
			return;
		}
		memcpy(c->ip, ip, sizeof(ip));
	}
	c->n++;
	k = calloc(1, sizeof(*k));
	ssl = SSL_new(s->ctx);
	if (k == NULL || ssl == NULL) {
		free(k);
		SSL_free(ssl);
		evutil_closesocket(fd);
		goto uncount;
	}
	k->bev = bufferevent_openssl_socket_new(s->base, fd, ssl,
						BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (k->bev == NULL) {
		free(k);
		SSL_free(ssl);
		evutil_closesocket(fd);
		goto uncount;
	}
	k->server = 1;
	k->owner = s;
	k->id = ++s->next_id;
	memcpy(k->ip, ip, sizeof(ip));
	tls_pseudo_addr(k->id, &k->addr);
	k->hs_timer = evtimer_new(s->base, tls_srv_on_hs_timeout, k);
	k->out_cb = evbuffer_add_cb(bufferevent_get_output(k->bev),
				    tls_srv_on_out, s);
	if (k->hs_timer == NULL || k->out_cb == NULL ||
	    cr_map_put(s->conns, &k->id, k) < 0) {
		/* Counted once more below: give this one back first. */
		c->n++;
		tls_srv_release(s, k);
		bufferevent_free(k->bev);
		free(k);
		goto uncount;
	}
	bufferevent_setcb(k->bev, tls_on_read, NULL, tls_srv_on_event, k);
	/* A connection silent for 3 minutes is gone (clients ping every few
	 * seconds). */
	bufferevent_set_timeouts(k->bev, &(struct timeval){ 180, 0 }, NULL);
	{
		struct timeval tv = { s->lim.handshake_ms / 1000,
				      (s->lim.handshake_ms % 1000) * 1000 };

		/* Without its deadline a silent handshake would hold the
		 * slot for ever: refuse the connection instead. */
		if (evtimer_add(k->hs_timer, &tv) < 0) {
			cr_map_del(s->conns, &k->id);
			c->n++;
			tls_srv_release(s, k);
			bufferevent_free(k->bev);
			free(k);
			goto uncount;
		}
	}
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
	return;
uncount:
	if (--c->n == 0) {
		cr_map_del(s->per_addr, ip);
		free(c);
	}
}

void cr_tls_srv_set_limits(struct cr_tls_srv *s,
			   const struct cr_tls_limits *lim)
{
	s->lim = *lim;
	if (s->lim.handshake_ms == 0)
		s->lim.handshake_ms = TLS_HANDSHAKE_MS;
}

const struct cr_tls_srv_stats *cr_tls_srv_stats(const struct cr_tls_srv *s)
{
	return &s->st;
}

/* A fresh self-signed certificate (P-256) for the listener: nobody checks
 * it (see cr/tlsdgram.h), it only has to make the handshake look normal. */
static int tls_self_signed(SSL_CTX *ctx, struct cr_error **err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	uint32_t serial = randombytes_random() & 0x7fffffff;
	int ok = 0;

	if (key == NULL || x == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"carrier-node", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	ok = X509_sign(x, key, EVP_sha256()) > 0 &&
	     SSL_CTX_use_certificate(ctx, x) == 1 &&
	     SSL_CTX_use_PrivateKey(ctx, key) == 1;
out:
	if (!ok)
		tls_set_err(err, "cannot make the TLS certificate");
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

struct cr_tls_srv *cr_tls_srv_new(struct event_base *base,
				  const struct cr_addr *bind_addr,
				  cr_tls_recv_fn fn, void *arg,
				  struct cr_error **err)
{
	struct cr_tls_srv *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		cr_error_errno(err, ENOMEM, "allocating the TCP listener");
		return NULL;
	}
	s->base = base;
	s->fn = fn;
	s->arg = arg;
	s->lim.handshake_ms = TLS_HANDSHAKE_MS;
	s->conns = cr_map_new(sizeof(uint64_t));
	s->per_addr = cr_map_new(16);
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->conns == NULL || s->per_addr == NULL || s->ctx == NULL) {
		tls_set_err(err, "cannot set up TLS");
		return cr_tls_srv_free(s);
	}
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	if (tls_self_signed(s->ctx, err) < 0)
		return cr_tls_srv_free(s);
	s->lst = evconnlistener_new_bind(base, tls_srv_on_accept, s,
					 LEV_OPT_CLOSE_ON_FREE |
						 LEV_OPT_REUSEABLE,
					 512, &bind_addr->u.sa,
					 (int)cr_addr_len(bind_addr));
	if (s->lst == NULL) {
		char as[CR_ADDR_STRMAX];

		cr_error_errno(err, errno, "cannot listen on TCP %s",
			       cr_addr_format(bind_addr, as));
		return cr_tls_srv_free(s);
	}
	return s;
}

struct cr_tls_srv *cr_tls_srv_free(struct cr_tls_srv *s)
{
	size_t pos = 0;
	const void *key;
	void *val;

	if (s == NULL)
		return NULL;
	if (s->lst != NULL)
		evconnlistener_free(s->lst);
	if (s->conns != NULL) {
		while (cr_map_next(s->conns, &pos, &key, &val)) {
			struct tls_conn *k = val;

			if (k->hs_timer != NULL)
				event_free(k->hs_timer);
			if (k->out_cb != NULL)
				evbuffer_remove_cb_entry(
					bufferevent_get_output(k->bev),
					k->out_cb);
			bufferevent_free(k->bev);
			free(k);
		}
		cr_map_free(s->conns);
	}
	if (s->per_addr != NULL) {
		pos = 0;
		while (cr_map_next(s->per_addr, &pos, &key, &val))
			free(val);
		cr_map_free(s->per_addr);
	}
	SSL_CTX_free(s->ctx);
	free(s);
	return NULL;
}

void cr_tls_srv_send(struct cr_tls_srv *s, const struct cr_addr *to,
		     const uint8_t *buf, size_t len)
{
	uint64_t id = tls_conn_id(to);
	struct tls_conn *k = cr_map_get(s->conns, &id);

	if (k != NULL)
		tls_conn_send(k, buf, len);
}

size_t cr_tls_srv_conns(const struct cr_tls_srv *s)
{
	return cr_map_count(s->conns);
}
#endif

/* ---- Client ------------------------------------------------------------ */

static void tls_cli_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tls_conn *k = arg;
	struct cr_tls_cli *c = k->owner;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	/* Gone: the next datagram to this node connects again. */
	for (size_t i = 0; i < TLS_CLI_NODES; i++)
		if (c->nodes[i] == k)
			c->nodes[i] = NULL;
	tls_conn_free(k);
}

struct cr_tls_cli *cr_tls_cli_new(struct event_base *base, cr_tls_recv_fn fn,
				  void *arg, struct cr_error **err)
{
	struct cr_tls_cli *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		cr_error_errno(err, ENOMEM, "allocating the TCP fallback");
		return NULL;
	}
	c->fn = fn;
	c->arg = arg;
	c->base = base;
	/* Not verified: camouflage, see cr/tlsdgram.h. */
	c->tls = cr_tlsc_new(CR_TLSC_VERIFY_NONE, NULL, err);
	if (c->tls == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

struct cr_tls_cli *cr_tls_cli_free(struct cr_tls_cli *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < TLS_CLI_NODES; i++)
		if (c->nodes[i] != NULL)
			tls_conn_free(c->nodes[i]);
	cr_tlsc_free(c->tls);
	free(c);
	return NULL;
}

static struct tls_conn *tls_cli_conn(struct cr_tls_cli *c,
				     const struct cr_addr *to)
{
	struct tls_conn *k;
	struct cr_addr node = *to;
	size_t slot = TLS_CLI_NODES;

	node.route = 0;
	for (size_t i = 0; i < TLS_CLI_NODES; i++) {
		if (c->nodes[i] != NULL && cr_addr_equal(&c->nodes[i]->addr, &node))
			return c->nodes[i];
		if (c->nodes[i] == NULL && slot == TLS_CLI_NODES)
			slot = i;
	}
	if (slot == TLS_CLI_NODES)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->bev = cr_tlsc_bev_new(c->tls, c->base, "carrier", 0, NULL);
	if (k->bev == NULL) {
		free(k);
		return NULL;
	}
	k->owner = c;
	k->addr = node;
	bufferevent_setcb(k->bev, tls_on_read, NULL, tls_cli_on_event, k);
	bufferevent_enable(k->bev, EV_READ | EV_WRITE);
	if (cr_tlsc_connect(k->bev, &node.u.sa, (int)cr_addr_len(&node)) < 0) {
		bufferevent_free(k->bev);
		free(k);
		return NULL;
	}
	c->nodes[slot] = k;
	return k;
}

void cr_tls_cli_send(struct cr_tls_cli *c, const struct cr_addr *to,
		     const uint8_t *buf, size_t len)
{
	struct tls_conn *k = tls_cli_conn(c, to);
	uint8_t wrapped[CR_TCPF_MAX];

	if (k == NULL)
		return;
	if (to->route == 0) {
		tls_conn_send(k, buf, len);
		return;
	}
	if (len + CP_RELAY_HDR > CP_DATAGRAM_MAX || len + CP_RELAY_HDR > sizeof(wrapped))
		return;
	wrapped[0] = CP_MSG_RELAY;
	wrapped[1] = wrapped[2] = wrapped[3] = 0;
	cp_put_u64(wrapped + 4, to->route);
	memcpy(wrapped + CP_RELAY_HDR, buf, len);
	tls_conn_send(k, wrapped, len + CP_RELAY_HDR);
}
