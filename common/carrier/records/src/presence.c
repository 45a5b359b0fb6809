/*
 * Presence records: signing and verifying a device's statement of where it
 * can be reached.  See cr/presence.h.
 *
 * Records arrive from ring nodes, which may lie, so verification bounds the
 * input before protobuf-c sees it, checks every count and string, and fills
 * the caller's struct only when the device's signature and the clock checks
 * have passed.
 */
#include "cr/presence.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "carrier.pb-c.h"

/* Signature context: "korhal presence v1" and its NUL, then the body. */
static const char presence_sig_ctx[] = "korhal presence v1";
#define PRESENCE_SIG_CTX_LEN sizeof(presence_sig_ctx)

enum {
	/* A record may be issued this far ahead of our clock (skew). */
	PRESENCE_SKEW_MAX = 5 * 60,
	TIME_STR_MAX = 32,
	ZONE_MAX = 15, /* IFNAMSIZ - 1 */
};

static const char zone_chars[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

static void signed_presence_freep(Carrier__SignedPresence **p)
{
	if (*p != NULL)
		carrier__signed_presence__free_unpacked(*p, NULL);
}

static void presence_body_freep(Carrier__PresenceBody **p)
{
	if (*p != NULL)
		carrier__presence_body__free_unpacked(*p, NULL);
}

#define CLEANUP_SIGNED_PRESENCE __attribute__((cleanup(signed_presence_freep)))
#define CLEANUP_PRESENCE_BODY __attribute__((cleanup(presence_body_freep)))

/* Formats Unix time as UTC ISO 8601 for error messages. */
static const char *time_str(uint64_t t, char out[TIME_STR_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;

	/* Past year 9999, or past 2038 with a 32-bit time_t: print the
	 * number. */
	if (t > UINT64_C(253402300799) ||
	    (sizeof(time_t) < 8 && t > INT32_MAX) ||
	    gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, TIME_STR_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, TIME_STR_MAX, "%" PRIu64 " (Unix time)", t);
	return out;
}

/*
 * Checks a candidate address: numeric "A.B.C.D:PORT" or "[V6]:PORT", the
 * latter optionally with a zone ("[fe80::1%eth0]:PORT"), as cr_addr_format()
 * prints them; port 1..65535, shorter than CP_ADDR_STR_MAX.
 * Peers send datagrams to these addresses, so names (which would need DNS)
 * and anything unprintable are refused.  Returns 0 or -1.
 */
static int presence_addr_valid(const char *s, size_t len)
{
	char host[CP_ADDR_STR_MAX];
	uint8_t a[16];
	const char *colon;
	size_t hlen, plen;
	uint32_t port = 0;

	if (len == 0 || len >= CP_ADDR_STR_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= ' ' || s[i] > '~')
			return -1;
	}
	colon = NULL;
	for (size_t i = len; i > 0; i--) {
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
	}
	if (colon == NULL)
		return -1;
	hlen = (size_t)(colon - s);
	plen = len - hlen - 1;
	if (plen == 0 || plen > 5)
		return -1;
	for (size_t i = 0; i < plen; i++) {
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return -1;
		port = port * 10 + (uint32_t)(colon[1 + i] - '0');
	}
	if (port == 0 || port > 65535)
		return -1;
	if (hlen >= 3 && s[0] == '[' && s[hlen - 1] == ']') {
		char *zone;

		memcpy(host, s + 1, hlen - 2);
		host[hlen - 2] = '\0';
		/* cr_addr_format() prints link-local addresses with their zone
		 * ("[fe80::1%2]:5"); the zone must be an interface name or
		 * index, and only the address goes to inet_pton(). */
		zone = strchr(host, '%');
		if (zone != NULL) {
			size_t zlen = strlen(zone + 1);

			if (zlen == 0 || zlen > ZONE_MAX ||
			    strspn(zone + 1, zone_chars) != zlen)
				return -1;
			*zone = '\0';
		}
		return inet_pton(AF_INET6, host, a) == 1 ? 0 : -1;
	}
	if (hlen == 0)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	return inet_pton(AF_INET, host, a) == 1 ? 0 : -1;
}

/* Checks the fields both signing and verifying care about. */
static int presence_check_fields(size_t n_addrs, char *const *addrs,
				 size_t n_attached, size_t n_tags,
				 char *const *tags, uint64_t issued,
				 uint64_t expires, struct cr_error **err)
{
	if (n_addrs > CP_ADDRS_MAX)
		return cr_error_set(err, EBADMSG,
				    "presence record lists %zu addresses, more "
				    "than the limit of %d",
				    n_addrs, (int)CP_ADDRS_MAX);
	if (n_attached > CP_ATTACHED_MAX)
		return cr_error_set(err, EBADMSG,
				    "presence record lists %zu attached nodes, "
				    "more than the limit of %d",
				    n_attached, (int)CP_ATTACHED_MAX);
	for (size_t i = 0; i < n_addrs; i++) {
		size_t len = strnlen(addrs[i], CP_ADDR_STR_MAX);

		if (len >= CP_ADDR_STR_MAX)
			return cr_error_set(err, EBADMSG,
					    "presence record address %zu is "
					    "longer than %d characters",
					    i, (int)CP_ADDR_STR_MAX - 1);
		if (presence_addr_valid(addrs[i], len) < 0)
			return cr_error_set(err, EBADMSG,
					    "presence record address %zu is "
					    "not a numeric IP:PORT or "
					    "[IPV6]:PORT",
					    i);
	}
	if (n_tags > CP_TAGS_MAX)
		return cr_error_set(err, EBADMSG,
				    "presence record lists %zu tags, more than "
				    "the limit of %d",
				    n_tags, (int)CP_TAGS_MAX);
	for (size_t i = 0; i < n_tags; i++) {
		size_t len = strnlen(tags[i], CP_TAG_STR_MAX);
		const char *eq = memchr(tags[i], '=', len);

		if (len >= CP_TAG_STR_MAX || eq == NULL || eq == tags[i])
			return cr_error_set(err, EBADMSG,
					    "presence record tag %zu is not "
					    "K=V of at most %d characters",
					    i, (int)CP_TAG_STR_MAX - 1);
		for (size_t j = 0; j < len; j++)
			if (tags[i][j] <= ' ' || tags[i][j] > '~')
				return cr_error_set(err, EBADMSG,
						    "presence record tag %zu "
						    "holds a space or a "
						    "control character",
						    i);
	}
	if (expires <= issued)
		return cr_error_set(err, EBADMSG,
				    "presence record expires (%" PRIu64
				    ") before it is issued (%" PRIu64 ")",
				    expires, issued);
	return 0;
}

int cr_presence_sign(const struct cr_keypair *dev, const struct cr_presence *p,
		     uint8_t *out, size_t cap, size_t *len,
		     struct cr_error **err)
{
	Carrier__PresenceBody body = CARRIER__PRESENCE_BODY__INIT;
	Carrier__SignedPresence sp = CARRIER__SIGNED_PRESENCE__INIT;
	/* protobuf-c wants mutable pointers: sign a copy rather than cast
	 * away const. */
	struct cr_presence c;
	char *addrs[CP_ADDRS_MAX];
	char *tags[CP_TAGS_MAX];
	ProtobufCBinaryData attached[CP_ATTACHED_MAX];
	uint8_t msg[PRESENCE_SIG_CTX_LEN + CP_PRESENCE_MAX];
	uint8_t sig[CR_SIGLEN];
	size_t body_len, total;

	if (dev == NULL || p == NULL || out == NULL || len == NULL)
		return cr_error_set(err, EINVAL,
				    "cr_presence_sign: missing argument");
	if (dev->type != CR_ID_DEVICE)
		return cr_error_set(err, EINVAL,
				    "presence records are signed with a device "
				    "key, not a %s key",
				    cr_id_type_name(dev->type) != NULL
					    ? cr_id_type_name(dev->type)
					    : "unknown");
	if (memcmp(dev->pk, p->device_pk, CR_PKLEN) != 0)
		return cr_error_set(err, EINVAL,
				    "presence record's device key is not the "
				    "signing key");
	if (p->n_addrs > CP_ADDRS_MAX || p->n_attached > CP_ATTACHED_MAX)
		return cr_error_set(err, EINVAL,
				    "presence record lists %zu addresses and "
				    "%zu attached nodes; the limits are %d "
				    "and %d",
				    p->n_addrs, p->n_attached,
				    (int)CP_ADDRS_MAX, (int)CP_ATTACHED_MAX);
	c = *p;
	for (size_t i = 0; i < c.n_addrs; i++) {
		/* A full buffer without a NUL is caught as too long below. */
		addrs[i] = c.addrs[i];
	}
	if (c.n_tags > CP_TAGS_MAX)
		return cr_error_set(err, EINVAL,
				    "presence record lists %zu tags; the "
				    "limit is %d",
				    c.n_tags, (int)CP_TAGS_MAX);
	for (size_t i = 0; i < c.n_tags; i++)
		tags[i] = c.tags[i];
	if (presence_check_fields(c.n_addrs, addrs, c.n_attached, c.n_tags,
				  tags, c.issued_unix, c.expires_unix,
				  err) < 0)
		return -1;
	for (size_t i = 0; i < c.n_attached; i++) {
		attached[i].data = c.attached[i];
		attached[i].len = CR_PKLEN;
	}
	body.device_pk.data = c.device_pk;
	body.device_pk.len = CR_PKLEN;
	body.seq = c.seq;
	body.issued_unix = c.issued_unix;
	body.expires_unix = c.expires_unix;
	body.n_addrs = c.n_addrs;
	body.addrs = addrs;
	body.n_attached = c.n_attached;
	body.attached = attached;
	body.n_tags = c.n_tags;
	body.tags = tags;

	body_len = carrier__presence_body__get_packed_size(&body);
	/* The signature and its framing come on top; checked below. */
	if (body_len > CP_PRESENCE_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "presence record would be over the limit "
				    "of %d bytes; list fewer addresses",
				    (int)CP_PRESENCE_MAX);
	memcpy(msg, presence_sig_ctx, PRESENCE_SIG_CTX_LEN);
	carrier__presence_body__pack(&body, msg + PRESENCE_SIG_CTX_LEN);
	if (crypto_sign_detached(sig, NULL, msg,
				 PRESENCE_SIG_CTX_LEN + body_len,
				 dev->sk) != 0)
		return cr_error_set(err, EINVAL,
				    "signing the presence record failed");
	sp.body.data = msg + PRESENCE_SIG_CTX_LEN;
	sp.body.len = body_len;
	sp.signature.data = sig;
	sp.signature.len = CR_SIGLEN;
	total = carrier__signed_presence__get_packed_size(&sp);
	if (total > CP_PRESENCE_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "presence record would be %zu bytes, over "
				    "the limit of %d; list fewer addresses",
				    total, (int)CP_PRESENCE_MAX);
	if (total > cap)
		return cr_error_set(err, EMSGSIZE,
				    "presence record is %zu bytes, but the "
				    "buffer holds %zu (at most %d needed)",
				    total, cap, (int)CP_PRESENCE_MAX);
	carrier__signed_presence__pack(&sp, out);
	*len = total;
	return 0;
}

int cr_presence_verify(const uint8_t *buf, size_t len, uint64_t now_unix,
		       const struct cr_id *want_id, struct cr_presence *out,
		       struct cr_error **err)
{
	CLEANUP_SIGNED_PRESENCE Carrier__SignedPresence *s = NULL;
	CLEANUP_PRESENCE_BODY Carrier__PresenceBody *b = NULL;
	uint8_t msg[PRESENCE_SIG_CTX_LEN + CP_PRESENCE_MAX];
	char ida[CR_ID_STRMAX], idb[CR_ID_STRMAX];
	char ta[TIME_STR_MAX], tb[TIME_STR_MAX];
	struct cr_presence p;

	if (buf == NULL || len == 0)
		return cr_error_set(err, EBADMSG, "presence record is empty");
	/* Bound the input before protobuf-c allocates anything for it. */
	if (len > CP_PRESENCE_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "presence record is %zu bytes, more than "
				    "the limit of %d",
				    len, (int)CP_PRESENCE_MAX);
	s = carrier__signed_presence__unpack(NULL, len, buf);
	if (s == NULL)
		return cr_error_set(err, EBADMSG,
				    "presence record is not a valid "
				    "SignedPresence (truncated or corrupt)");
	if (s->signature.len == 0)
		return cr_error_set(err, EBADMSG,
				    "presence record is unsigned");
	if (s->signature.len != CR_SIGLEN)
		return cr_error_set(err, EBADMSG,
				    "presence record signature is %zu bytes, "
				    "want %d",
				    s->signature.len, (int)CR_SIGLEN);
	if (s->body.len == 0)
		return cr_error_set(err, EBADMSG,
				    "presence record has an empty body");
	b = carrier__presence_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL)
		return cr_error_set(err, EBADMSG,
				    "presence record body is malformed");
	if (b->device_pk.len != CR_PKLEN)
		return cr_error_set(err, EBADMSG,
				    "presence record device key is %zu bytes, "
				    "want %d",
				    b->device_pk.len, (int)CR_PKLEN);
	/* Rejects small-order and non-canonical points, which could make
	 * one signature valid for several messages or keys. */
	if (crypto_core_ed25519_is_valid_point(b->device_pk.data) != 1)
		return cr_error_set(err, EBADMSG,
				    "presence record device key is not a "
				    "valid Ed25519 key");
	if (presence_check_fields(b->n_addrs, b->addrs, b->n_attached,
				  b->n_tags, b->tags, b->issued_unix,
				  b->expires_unix, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n_attached; i++) {
		if (b->attached[i].len != CR_PKLEN)
			return cr_error_set(err, EBADMSG,
					    "presence record attached node %zu "
					    "key is %zu bytes, want %d",
					    i, b->attached[i].len,
					    (int)CR_PKLEN);
	}

	memcpy(msg, presence_sig_ctx, PRESENCE_SIG_CTX_LEN);
	memcpy(msg + PRESENCE_SIG_CTX_LEN, s->body.data, s->body.len);
	if (crypto_sign_verify_detached(s->signature.data, msg,
					PRESENCE_SIG_CTX_LEN + s->body.len,
					b->device_pk.data) != 0)
		return cr_error_set(err, EBADMSG,
				    "presence record signature invalid (forged "
				    "or altered in transit); ask another home "
				    "node");

	memset(&p, 0, sizeof(p));
	memcpy(p.device_pk, b->device_pk.data, CR_PKLEN);
	cr_id_from_pk(CR_ID_DEVICE, p.device_pk, &p.id);
	if (want_id != NULL && !cr_id_equal(want_id, &p.id))
		return cr_error_set(err, EKEYREJECTED,
				    "presence record is for %s, not %s",
				    cr_id_format(&p.id, ida),
				    cr_id_format(want_id, idb));
	if (b->issued_unix > now_unix &&
	    b->issued_unix - now_unix > PRESENCE_SKEW_MAX)
		return cr_error_set(err, EBADMSG,
				    "presence record issued at %s, more than "
				    "%d s in the future (now %s); check the "
				    "device's and this host's clocks",
				    time_str(b->issued_unix, ta),
				    (int)PRESENCE_SKEW_MAX,
				    time_str(now_unix, tb));
	if (b->expires_unix <= now_unix)
		return cr_error_set(err, ETIMEDOUT,
				    "presence record expired at %s (now %s); "
				    "the device has not refreshed it",
				    time_str(b->expires_unix, ta),
				    time_str(now_unix, tb));

	p.seq = b->seq;
	p.issued_unix = b->issued_unix;
	p.expires_unix = b->expires_unix;
	p.n_addrs = b->n_addrs;
	for (size_t i = 0; i < b->n_addrs; i++) {
		/* presence_check_fields() bounded the length. */
		memcpy(p.addrs[i], b->addrs[i], strlen(b->addrs[i]) + 1);
	}
	p.n_attached = b->n_attached;
	for (size_t i = 0; i < b->n_attached; i++)
		memcpy(p.attached[i], b->attached[i].data, CR_PKLEN);
	p.n_tags = b->n_tags;
	for (size_t i = 0; i < b->n_tags; i++)
		memcpy(p.tags[i], b->tags[i], strlen(b->tags[i]) + 1);
	*out = p;
	return 0;
}

/* The body of a stored record, unverified (a node checked it when it took
 * it): *s and *b are the caller's, freed by its cleanup attributes. */
static int presence_stored_body(const uint8_t *buf, size_t len,
				Carrier__SignedPresence **s,
				Carrier__PresenceBody **b)
{
	if (buf == NULL || len == 0 || len > CP_PRESENCE_MAX)
		return -1;
	*s = carrier__signed_presence__unpack(NULL, len, buf);
	if (*s == NULL || (*s)->body.len == 0)
		return -1;
	*b = carrier__presence_body__unpack(NULL, (*s)->body.len,
					    (*s)->body.data);
	return *b == NULL ? -1 : 0;
}

int cr_presence_expires(const uint8_t *buf, size_t len, uint64_t *expires)
{
	CLEANUP_SIGNED_PRESENCE Carrier__SignedPresence *s = NULL;
	CLEANUP_PRESENCE_BODY Carrier__PresenceBody *b = NULL;

	if (presence_stored_body(buf, len, &s, &b) < 0)
		return -1;
	*expires = b->expires_unix;
	return 0;
}

int cr_presence_route(const uint8_t *buf, size_t len, struct cr_presence *out)
{
	CLEANUP_SIGNED_PRESENCE Carrier__SignedPresence *s = NULL;
	CLEANUP_PRESENCE_BODY Carrier__PresenceBody *b = NULL;

	if (presence_stored_body(buf, len, &s, &b) < 0)
		return -1;
	out->n_addrs = 0;
	for (size_t i = 0; i < b->n_addrs && out->n_addrs < CP_ADDRS_MAX; i++) {
		size_t l = strlen(b->addrs[i]);

		if (l < CP_ADDR_STR_MAX)
			memcpy(out->addrs[out->n_addrs++], b->addrs[i], l + 1);
	}
	out->n_attached = 0;
	for (size_t i = 0;
	     i < b->n_attached && out->n_attached < CP_ATTACHED_MAX; i++)
		if (b->attached[i].len == CR_PKLEN)
			memcpy(out->attached[out->n_attached++],
			       b->attached[i].data, CR_PKLEN);
	return 0;
}
