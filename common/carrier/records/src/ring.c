/*
 * The ring configuration: decoding and verifying the operator-signed node
 * list, its text file form, operator pinning (known_hosts style) and
 * rendezvous placement of devices on nodes.  See cr/ring.h for the formats.
 *
 * A ring has one operator key or an operator set (k of n keys sign each
 * epoch); a change of the set travels as a chain of handovers, each signed
 * by k of the set before it (see cr/ring.h).
 *
 * Everything a configuration contains comes from the network or from a file
 * someone mailed around, so decoding is bounded before protobuf-c sees a
 * byte, and the result is only handed out once the operator's signature and
 * every field have been checked.
 */
#include "cr/ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cp/pbscan.h"
#include "cr/addr.h"
#include "cr/armor.h"
#include "cr/cleanup.h"
#include "cr/util.h"

/* Signature context: "korhal ring v1" and its NUL, prepended to the body. */
static const char ring_sig_ctx[] = "korhal ring v1";
#define RING_SIG_CTX_LEN sizeof(ring_sig_ctx)

static const char ring_text_magic[] = "korhal-ring-v1";
static const char pin_magic[] = "korhal-operator";

enum {
	/*
	 * Placement weights are small integers (relative capacities); the cap
	 * keeps the fixed-point score exact enough (see hrw_key) and stops a
	 * typo from sending the whole fleet to one node.
	 */
	RING_WEIGHT_MAX = 65535,
	/* The text form is base64 (4/3 of the binary) plus comments. */
	RING_TEXT_MAX = 2 * CP_RING_CONFIG_MAX,
	RING_B64_MAX = (CP_RING_CONFIG_MAX + 2) / 3 * 4,
	/* "korhal-operator " + 44 base64 characters + " " + 20 digits + "\n" */
	PIN_FILE_MAX = 256,
	PK_B64_LEN = 44,
	/* Longest DNS name (RFC 1035) and label. */
	HOST_NAME_MAX_LEN = 253,
	HOST_LABEL_MAX = 63,
};

/* ---- protobuf-c cleanup helpers ---------------------------------------- */

static void signed_ring_freep(Carrier__SignedRingConfig **p)
{
	if (*p != NULL)
		carrier__signed_ring_config__free_unpacked(*p, NULL);
}

static void ring_body_freep(Carrier__RingConfigBody **p)
{
	if (*p != NULL)
		carrier__ring_config_body__free_unpacked(*p, NULL);
}

static void ring_freep(struct cr_ring **p)
{
	*p = cr_ring_free(*p);
}

#define CLEANUP_SIGNED_RING __attribute__((cleanup(signed_ring_freep)))
#define CLEANUP_RING_BODY __attribute__((cleanup(ring_body_freep)))
#define CLEANUP_RING __attribute__((cleanup(ring_freep)))

/* ---- field checks ------------------------------------------------------- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A DNS host name (RFC 1123 labels), checked without resolving it. */
static int host_name_valid(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > HOST_NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (h[i] == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alnum(h[i]) && h[i] != '-')
			return 0;
		if (label == 0 && h[i] == '-')
			return 0;
		if (++label > HOST_LABEL_MAX)
			return 0;
	}
	return h[len - 1] != '-';
}

/*
 * Checks a node address: "HOST:PORT" or "[V6]:PORT" with a port in 1..65535.
 * A numeric host must be a dotted-quad IPv4 or an IPv6 address and goes
 * through cr_addr_parse(), so nodes, agents and the CLI agree on what it
 * means.  A host name is checked for syntax only: decoding a configuration
 * must never wait on DNS (nor leak which ring we use to a resolver); nodes
 * resolve names when they connect.
 */
static int ring_addr_check(const char *s, struct cr_error **err)
{
	char host[CR_RING_ADDR_MAX];
	struct cr_addr a;
	const char *colon, *port;
	size_t len = strnlen(s, CR_RING_ADDR_MAX), hlen;
	uint32_t v = 0;
	int numeric = 0;

	if (len == 0)
		return cr_error_set(err, EINVAL,
				    "the address is empty; write HOST:PORT");
	if (len >= CR_RING_ADDR_MAX)
		return cr_error_set(err, EINVAL,
				    "the address is longer than %d characters",
				    CR_RING_ADDR_MAX - 1);
	for (size_t i = 0; i < len; i++) {
		/* Printable ASCII only, so the address is safe to echo. */
		if (s[i] <= ' ' || s[i] > '~')
			return cr_error_set(err, EINVAL,
					    "the address contains a space or "
					    "a non-printable character");
	}
	colon = strrchr(s, ':');
	if (colon == NULL)
		return cr_error_set(err, EINVAL,
				    "address '%s' has no port; write HOST:PORT",
				    s);
	port = colon + 1;
	if (*port == '\0' || strlen(port) > 5)
		return cr_error_set(err, EINVAL,
				    "address '%s' has no valid port; write "
				    "HOST:PORT with a port in 1..65535",
				    s);
	for (const char *c = port; *c != '\0'; c++) {
		if (!is_digit(*c))
			return cr_error_set(err, EINVAL,
					    "address '%s' has no valid port; "
					    "write HOST:PORT with a port in "
					    "1..65535",
					    s);
		v = v * 10 + (uint32_t)(*c - '0');
	}
	if (v == 0 || v > 65535)
		return cr_error_set(err, EINVAL,
				    "port %" PRIu32 " in '%s' is out of range; "
				    "use 1..65535",
				    v, s);

	hlen = (size_t)(colon - s);
	if (hlen == 0)
		return cr_error_set(err, EINVAL,
				    "address '%s' has no host; write HOST:PORT",
				    s);
	if (s[0] == '[') {
		struct in6_addr in6;

		if (hlen < 3 || s[hlen - 1] != ']')
			return cr_error_set(err, EINVAL,
					    "address '%s' is not [V6]:PORT", s);
		memcpy(host, s + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, host, &in6) != 1)
			return cr_error_set(err, EINVAL,
					    "'%s' in '%s' is not an IPv6 "
					    "address",
					    host, s);
		numeric = 1;
	} else {
		struct in_addr in4;

		if (memchr(s, ':', hlen) != NULL)
			return cr_error_set(err, EINVAL,
					    "address '%s' has an IPv6 host "
					    "without brackets; write "
					    "[V6]:PORT",
					    s);
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (strspn(host, "0123456789.") == hlen) {
			/* inet_pton, unlike getaddrinfo, refuses the
			 * inet_aton shorthands such as "10.1". */
			if (inet_pton(AF_INET, host, &in4) != 1)
				return cr_error_set(err, EINVAL,
						    "'%s' in '%s' is not a "
						    "dotted-quad IPv4 address",
						    host, s);
			numeric = 1;
		} else if (!host_name_valid(host, hlen)) {
			return cr_error_set(err, EINVAL,
					    "'%s' in '%s' is neither an IP "
					    "address nor a valid host name",
					    host, s);
		}
	}
	if (numeric && cr_addr_parse(s, &a, err) < 0)
		return -1;
	return 0;
}

/* Fills r from a verified body; the caller has checked the node count. */
static int ring_fill(struct cr_ring *r, const Carrier__RingConfigBody *b,
		     struct cr_error **err)
{
	char ida[CR_ID_STRMAX];

	if (b->epoch == 0)
		return cr_error_set(err, EBADMSG,
				    "ring configuration has epoch 0; epochs "
				    "start at 1");
	if (b->replicas > CP_RING_NODES_MAX)
		return cr_error_set(err, EBADMSG,
				    "ring configuration asks for %" PRIu32
				    " replicas, more than the limit of %d",
				    b->replicas, (int)CP_RING_NODES_MAX);
	if (b->n_nodes == 0)
		return cr_error_set(err, EBADMSG,
				    "ring configuration lists no nodes; add at "
				    "least one");
	r->epoch = b->epoch;
	r->replicas = b->replicas != 0 ? b->replicas
				       : CR_RING_DEFAULT_REPLICAS;
	r->replicas_majority = b->replicas_majority;
	r->issued_unix = b->issued_unix;
	r->nodes = calloc(b->n_nodes, sizeof(*r->nodes));
	if (r->nodes == NULL)
		return cr_error_errno(err, ENOMEM, "decoding the ring");

	for (size_t i = 0; i < b->n_nodes; i++) {
		const Carrier__NodeEntry *e = b->nodes[i];
		struct cr_ring_node *n = &r->nodes[i];

		if (e->pk.len != CR_PKLEN)
			return cr_error_set(err, EBADMSG,
					    "ring node %zu: public key is %zu "
					    "bytes, want %d",
					    i, e->pk.len, (int)CR_PKLEN);
		if (crypto_core_ed25519_is_valid_point(e->pk.data) != 1)
			return cr_error_set(err, EBADMSG,
					    "ring node %zu: public key is not a "
					    "valid Ed25519 key",
					    i);
		memcpy(n->pk, e->pk.data, CR_PKLEN);
		cr_id_from_pk(CR_ID_NODE, n->pk, &n->id);
		if (ring_addr_check(e->addr, err) < 0)
			return cr_error_wrap(err, "ring node %zu (%s)", i,
					     cr_id_format(&n->id, ida));
		/* ring_addr_check() bounded the length. */
		memcpy(n->addr, e->addr, strlen(e->addr) + 1);
		if (e->weight > RING_WEIGHT_MAX)
			return cr_error_set(err, EBADMSG,
					    "ring node %zu (%s): weight %" PRIu32
					    " is over the limit of %d",
					    i, cr_id_format(&n->id, ida),
					    e->weight, (int)RING_WEIGHT_MAX);
		/* proto3 cannot tell 0 from unset; the documented default is
		 * 1. */
		n->weight = e->weight != 0 ? e->weight : 1;
		for (size_t j = 0; j < i; j++) {
			if (memcmp(r->nodes[j].pk, n->pk, CR_PKLEN) == 0)
				return cr_error_set(err, EBADMSG,
						    "ring node %s is listed "
						    "twice (entries %zu and "
						    "%zu); remove one",
						    cr_id_format(&n->id, ida),
						    j, i);
		}
		r->n_nodes = i + 1;
	}
	return 0;
}

/* ---- operator sets -------------------------------------------------------- */

static const char opset_hash_ctx[] = "korhal operators v1";
static const char handover_sig_ctx[] = "korhal ring handover v1";

static int pk_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CR_PKLEN);
}

void cr_ring_opset_hash(const struct cr_ring_opset *s,
			uint8_t out[CR_RING_SETHASH_LEN])
{
	uint8_t sorted[CR_RING_OPERATORS_MAX][CR_PKLEN], k[4];
	crypto_generichash_state st;
	size_t n = s->n <= CR_RING_OPERATORS_MAX ? s->n : CR_RING_OPERATORS_MAX;

	memcpy(sorted, s->pks, n * CR_PKLEN);
	/* The order the keys were listed in must not change the pin. */
	qsort(sorted, n, CR_PKLEN, pk_cmp);
	for (int i = 0; i < 4; i++)
		k[i] = (uint8_t)(s->threshold >> (8 * i));
	crypto_generichash_init(&st, NULL, 0, CR_RING_SETHASH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)opset_hash_ctx,
				  sizeof(opset_hash_ctx));
	crypto_generichash_update(&st, k, sizeof(k));
	crypto_generichash_update(&st, &sorted[0][0], n * CR_PKLEN);
	crypto_generichash_final(&st, out, CR_RING_SETHASH_LEN);
}

char *cr_ring_setid_format(const uint8_t hash[CR_RING_SETHASH_LEN],
			   char out[CR_RING_SETID_STRMAX])
{
	memcpy(out, "opset_", 6);
	sodium_bin2hex(out + 6, CR_RING_SETID_STRMAX - 6, hash,
		       CR_RING_SETHASH_LEN);
	return out;
}

int cr_ring_opset_find(const struct cr_ring_opset *s,
		       const uint8_t pk[CR_PKLEN], size_t *index)
{
	for (size_t i = 0; i < s->n; i++) {
		if (memcmp(s->pks[i], pk, CR_PKLEN) == 0) {
			if (index != NULL)
				*index = i;
			return 1;
		}
	}
	return 0;
}

/* Checks and copies an OperatorSet from the wire. */
static int opset_from_pb(const Carrier__OperatorSet *m,
			 struct cr_ring_opset *set, const char *what,
			 struct cr_error **err)
{
	memset(set, 0, sizeof(*set));
	if (m == NULL || m->n_pks == 0)
		return cr_error_set(err, EBADMSG, "%s names no operator key",
				    what);
	if (m->n_pks > CR_RING_OPERATORS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "%s names %zu operator keys, more than "
				    "the limit of %d",
				    what, m->n_pks, (int)CR_RING_OPERATORS_MAX);
	if (m->threshold == 0 || m->threshold > m->n_pks)
		return cr_error_set(err, EBADMSG,
				    "%s asks for %" PRIu32 " of %zu operator "
				    "signatures; k must be 1..n",
				    what, m->threshold, m->n_pks);
	for (size_t i = 0; i < m->n_pks; i++) {
		if (m->pks[i].len != CR_PKLEN ||
		    crypto_core_ed25519_is_valid_point(m->pks[i].data) != 1)
			return cr_error_set(err, EBADMSG,
					    "%s: operator key %zu is not a "
					    "valid Ed25519 key",
					    what, i);
		if (cr_ring_opset_find(set, m->pks[i].data, NULL))
			return cr_error_set(err, EBADMSG,
					    "%s lists operator key %zu twice",
					    what, i);
		memcpy(set->pks[i], m->pks[i].data, CR_PKLEN);
		set->n = i + 1;
	}
	set->threshold = m->threshold;
	return 0;
}

/*
 * Counts the distinct keys of `set` with a valid signature over ctx || body
 * among sigs; marks them in signed_by (CR_RING_OPERATORS_MAX entries).  A
 * signature by a key outside the set, a second one by the same key, or an
 * invalid one counts for nothing.
 */
static size_t opset_count(const struct cr_ring_opset *set,
			  Carrier__OperatorSignature *const *sigs,
			  size_t n_sigs, const uint8_t *msg, size_t msg_len,
			  uint8_t *signed_by)
{
	size_t count = 0, idx;

	memset(signed_by, 0, CR_RING_OPERATORS_MAX);
	for (size_t i = 0; i < n_sigs; i++) {
		const Carrier__OperatorSignature *g = sigs[i];

		if (g->pk.len != CR_PKLEN || g->signature.len != CR_SIGLEN ||
		    !cr_ring_opset_find(set, g->pk.data, &idx) ||
		    signed_by[idx])
			continue;
		if (crypto_sign_verify_detached(g->signature.data, msg, msg_len,
						g->pk.data) != 0)
			continue;
		signed_by[idx] = 1;
		count++;
	}
	return count;
}

/* ctx and its NUL, then body, in a new buffer. */
static uint8_t *ctx_msg(const char *ctx, size_t ctx_len, const uint8_t *body,
			size_t body_len)
{
	uint8_t *m = malloc(ctx_len + body_len + 1);

	if (m == NULL)
		return NULL;
	memcpy(m, ctx, ctx_len);
	if (body_len > 0)
		memcpy(m + ctx_len, body, body_len);
	return m;
}

static void handover_body_freep(Carrier__HandoverBody **p)
{
	if (*p != NULL)
		carrier__handover_body__free_unpacked(*p, NULL);
}

/*
 * Verifies handover i: signed by k of its old set (all of them but a
 * draft's newest, which may lack signatures), and fills h.  *complete is
 * cleared when it lacks signatures.
 */
static int handover_check(const Carrier__SignedHandover *sh, size_t i,
			  int draft, int last, struct cr_ring_handover *h,
			  int *complete, struct cr_error **err)
{
	__attribute__((cleanup(handover_body_freep)))
	Carrier__HandoverBody *hb = NULL;
	CR_CLEANUP_FREE uint8_t *msg = NULL;
	struct cr_ring_opset from, to;
	uint8_t signed_by[CR_RING_OPERATORS_MAX];
	char what[48];
	size_t got;

	snprintf(what, sizeof(what), "operator handover %zu", i + 1);
	if (sh->n_signatures > 2 * CR_RING_OPERATORS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "%s carries %zu signatures, more than the "
				    "limit of %d",
				    what, sh->n_signatures,
				    2 * (int)CR_RING_OPERATORS_MAX);
	hb = carrier__handover_body__unpack(NULL, sh->body.len, sh->body.data);
	if (hb == NULL)
		return cr_error_set(err, EBADMSG, "%s is malformed", what);
	if (opset_from_pb(hb->from, &from, what, err) < 0 ||
	    opset_from_pb(hb->to, &to, what, err) < 0)
		return -1;
	if (hb->epoch == 0)
		return cr_error_set(err, EBADMSG, "%s has epoch 0", what);
	msg = ctx_msg(handover_sig_ctx, sizeof(handover_sig_ctx),
		      sh->body.data, sh->body.len);
	if (msg == NULL)
		return cr_error_errno(err, ENOMEM, "verifying the ring");
	got = opset_count(&from, sh->signatures, sh->n_signatures, msg,
			  sizeof(handover_sig_ctx) + sh->body.len, signed_by);
	if (got < from.threshold) {
		if (!(draft && last))
			return cr_error_set(err, EKEYREJECTED,
					    "%s (at epoch %" PRIu64 ") is "
					    "signed by %zu of the %zu old "
					    "operators, it needs %" PRIu32,
					    what, hb->epoch, got, from.n,
					    from.threshold);
		*complete = 0;
	}
	h->epoch = hb->epoch;
	cr_ring_opset_hash(&from, h->from);
	cr_ring_opset_hash(&to, h->to);
	h->from_n = from.n;
	memcpy(h->from_pk0, from.pks[0], CR_PKLEN);
	if (memcmp(h->from, h->to, CR_RING_SETHASH_LEN) == 0)
		return cr_error_set(err, EBADMSG,
				    "%s hands the ring over to the same "
				    "operator set",
				    what);
	return 0;
}

/*
 * Is the set with hash `anchor` r's own, or one that handed the ring over
 * (through the chain, which cr_ring_decode checked is contiguous and ends
 * at r's set) after min_epoch?
 */
static int ring_reaches(const struct cr_ring *r,
			const uint8_t anchor[CR_RING_SETHASH_LEN],
			uint64_t min_epoch)
{
	if (memcmp(r->set_hash, anchor, CR_RING_SETHASH_LEN) == 0)
		return 1;
	for (size_t i = 0; i < r->n_handovers; i++) {
		if (r->handovers[i].epoch > min_epoch &&
		    memcmp(r->handovers[i].from, anchor,
			   CR_RING_SETHASH_LEN) == 0)
			return 1;
	}
	return 0;
}

/* ---- decoding ------------------------------------------------------------ */

static int ring_decode(const uint8_t *buf, size_t len,
		       const uint8_t *anchor, const uint8_t *anchor_pk,
		       uint64_t min_epoch, int draft, struct cr_ring **out,
		       struct cr_error **err)
{
	CLEANUP_SIGNED_RING Carrier__SignedRingConfig *s = NULL;
	CLEANUP_RING_BODY Carrier__RingConfigBody *b = NULL;
	CLEANUP_RING struct cr_ring *r = NULL;
	CR_CLEANUP_FREE uint8_t *msg = NULL;
	char ida[CR_ID_STRMAX];
	struct cr_id id;
	size_t msg_len;
	long count;
	int legacy;

	if (buf == NULL || len == 0)
		return cr_error_set(err, EBADMSG,
				    "ring configuration is empty");
	/* Bound the input before protobuf-c allocates anything for it. */
	if (len > CP_RING_CONFIG_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "ring configuration is %zu bytes, more "
				    "than the limit of %d; it is not a "
				    "Korhal ring configuration",
				    len, (int)CP_RING_CONFIG_MAX);
	s = carrier__signed_ring_config__unpack(NULL, len, buf);
	if (s == NULL)
		return cr_error_set(err, EBADMSG,
				    "ring configuration is not a valid "
				    "SignedRingConfig (truncated or corrupt); "
				    "fetch it again");
	if (s->signature.len == 0 && s->n_signatures == 0 && !draft)
		return cr_error_set(err, EBADMSG,
				    "ring configuration is unsigned; only "
				    "configurations signed by the operator "
				    "key are accepted");
	if (s->signature.len != 0 && s->signature.len != CR_SIGLEN)
		return cr_error_set(err, EBADMSG,
				    "ring configuration signature is %zu "
				    "bytes, want %d; the file is corrupt",
				    s->signature.len, (int)CR_SIGLEN);
	if (s->n_signatures > 2 * CR_RING_OPERATORS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "ring configuration carries %zu "
				    "signatures, more than the limit of %d",
				    s->n_signatures,
				    2 * (int)CR_RING_OPERATORS_MAX);
	if (s->n_handovers > CR_RING_HANDOVERS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "ring configuration carries %zu operator "
				    "handovers, more than the limit of %d",
				    s->n_handovers,
				    (int)CR_RING_HANDOVERS_MAX);
	if (s->body.len == 0)
		return cr_error_set(err, EBADMSG,
				    "ring configuration has an empty body");

	/* The node count is bounded before protobuf-c allocates an entry
	 * for each. */
	count = cp_pb_count(s->body.data, s->body.len, 3);
	if (count < 0)
		return cr_error_set(err, EBADMSG,
				    "ring configuration body is malformed "
				    "(truncated or corrupt); fetch it again");
	if (count > CP_RING_NODES_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "ring configuration lists %ld nodes, more "
				    "than the limit of %d",
				    count, (int)CP_RING_NODES_MAX);
	b = carrier__ring_config_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL)
		return cr_error_set(err, EBADMSG,
				    "ring configuration body is malformed "
				    "(truncated or corrupt); fetch it again");

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return cr_error_errno(err, ENOMEM, "decoding the ring");
	/* One operator: the format of earlier versions, byte for byte. */
	legacy = b->operators == NULL;
	if (legacy) {
		if (b->operator_pk.len != CR_PKLEN)
			return cr_error_set(err, EBADMSG,
					    "ring configuration operator key "
					    "is %zu bytes, want %d",
					    b->operator_pk.len, (int)CR_PKLEN);
		if (s->n_signatures != 0)
			return cr_error_set(err, EBADMSG,
					    "ring configuration of one "
					    "operator carries operator-set "
					    "signatures");
		r->ops.n = 1;
		r->ops.threshold = 1;
		memcpy(r->ops.pks[0], b->operator_pk.data, CR_PKLEN);
	} else {
		if (b->operator_pk.len != 0 || s->signature.len != 0)
			return cr_error_set(err, EBADMSG,
					    "ring configuration names both one "
					    "operator and an operator set");
		if (opset_from_pb(b->operators, &r->ops,
				  "ring configuration", err) < 0)
			return -1;
	}
	memcpy(r->operator_pk, r->ops.pks[0], CR_PKLEN);
	cr_ring_opset_hash(&r->ops, r->set_hash);
	cr_id_from_pk(CR_ID_OPERATOR, r->operator_pk, &id);

	msg = ctx_msg(ring_sig_ctx, RING_SIG_CTX_LEN, s->body.data,
		      s->body.len);
	if (msg == NULL)
		return cr_error_errno(err, ENOMEM, "verifying the ring");
	msg_len = RING_SIG_CTX_LEN + s->body.len;
	if (legacy) {
		if (s->signature.len == CR_SIGLEN &&
		    crypto_sign_verify_detached(s->signature.data, msg,
						msg_len,
						b->operator_pk.data) == 0) {
			r->signed_by[0] = 1;
			r->n_signed = 1;
		} else if (s->signature.len != 0 || !draft) {
			return cr_error_set(err, EBADMSG,
					    "ring configuration signature is "
					    "invalid (not signed by %s, or "
					    "altered since); fetch it again "
					    "from the operator",
					    cr_id_format(&id, ida));
		}
	} else {
		r->n_signed = opset_count(&r->ops, s->signatures,
					  s->n_signatures, msg, msg_len,
					  r->signed_by);
	}
	r->complete = r->n_signed >= r->ops.threshold;
	if (!r->complete && !draft)
		return cr_error_set(err, EKEYREJECTED,
				    "ring configuration is signed by %zu of "
				    "its %zu operators, it needs %" PRIu32
				    "; have more of them sign it (carrier "
				    "ring sign)",
				    r->n_signed, r->ops.n, r->ops.threshold);

	if (ring_fill(r, b, err) < 0)
		return -1;
	for (size_t i = 0; i < s->n_handovers; i++) {
		struct cr_ring_handover *h = &r->handovers[i];

		if (handover_check(s->handovers[i], i, draft,
				   i + 1 == s->n_handovers, h, &r->complete,
				   err) < 0)
			return -1;
		r->n_handovers = i + 1;
		/* A chain: each set hands over to the next, in epoch order,
		 * and the last one to this configuration's set. */
		if (h->epoch > r->epoch ||
		    (i > 0 && (h->epoch <= h[-1].epoch ||
			       memcmp(h[-1].to, h->from,
				      CR_RING_SETHASH_LEN) != 0)))
			return cr_error_set(err, EBADMSG,
					    "operator handover %zu (epoch "
					    "%" PRIu64 ") does not follow on "
					    "from the one before it",
					    i + 1, h->epoch);
	}
	if (r->n_handovers > 0 &&
	    memcmp(r->handovers[r->n_handovers - 1].to, r->set_hash,
		   CR_RING_SETHASH_LEN) != 0)
		return cr_error_set(err, EBADMSG,
				    "the last operator handover is not to "
				    "this configuration's operators");
	if (anchor != NULL && !ring_reaches(r, anchor, min_epoch)) {
		char ids[CR_RING_SETID_STRMAX], idb[CR_ID_STRMAX];
		struct cr_id pid;

		if (anchor_pk != NULL)
			cr_id_from_pk(CR_ID_OPERATOR, anchor_pk, &pid);
		return cr_error_set(err, EKEYREJECTED,
				    "ring configuration is signed by %s, not "
				    "by the pinned operator %s nor a set it "
				    "handed the ring over to; it belongs to "
				    "another ring",
				    r->ops.n == 1 ? cr_id_format(&id, ida)
						  : cr_ring_setid_format(
							    r->set_hash, ids),
				    anchor_pk != NULL
					    ? cr_id_format(&pid, idb)
					    : cr_ring_setid_format(anchor,
								   idb));
	}
	r->signed_blob = malloc(len);
	if (r->signed_blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding the ring");
	memcpy(r->signed_blob, buf, len);
	r->signed_len = len;
	*out = CR_TAKE(&r);
	return 0;
}

/* The anchor of a single pinned operator key. */
static void single_anchor(const uint8_t pk[CR_PKLEN],
			  uint8_t out[CR_RING_SETHASH_LEN])
{
	struct cr_ring_opset one = { .n = 1, .threshold = 1 };

	memcpy(one.pks[0], pk, CR_PKLEN);
	cr_ring_opset_hash(&one, out);
}

int cr_ring_decode(const uint8_t *buf, size_t len, const uint8_t *pinned_op,
		   struct cr_ring **out, struct cr_error **err)
{
	uint8_t anchor[CR_RING_SETHASH_LEN];

	if (pinned_op != NULL)
		single_anchor(pinned_op, anchor);
	return ring_decode(buf, len, pinned_op != NULL ? anchor : NULL,
			   pinned_op, 0, 0, out, err);
}

int cr_ring_decode_anchored(const uint8_t *buf, size_t len,
			    const uint8_t anchor[CR_RING_SETHASH_LEN],
			    uint64_t min_epoch, struct cr_ring **out,
			    struct cr_error **err)
{
	return ring_decode(buf, len, anchor, NULL, min_epoch, 0, out, err);
}

/* ---- text form ----------------------------------------------------------- */

/* The text form to the binary SignedRingConfig (*bin owned by the caller). */
static int ring_text_bin(const char *text, size_t len, uint8_t **binp,
			 size_t *bin_lenp, struct cr_error **err)
{
	return cr_armor_parse(text, len, ring_text_magic, "ring configuration",
			      RING_TEXT_MAX, RING_B64_MAX, binp, bin_lenp, err);
}

/* Text to a decoded ring: anchor as in ring_decode(). */
static int ring_parse(const char *text, size_t len, const uint8_t *anchor,
		      const uint8_t *anchor_pk, uint64_t min_epoch, int draft,
		      struct cr_ring **out, struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *bin = NULL;
	size_t bin_len = 0;

	if (ring_text_bin(text, len, &bin, &bin_len, err) < 0)
		return -1;
	return ring_decode(bin, bin_len, anchor, anchor_pk, min_epoch, draft,
			   out, err);
}

int cr_ring_parse_text(const char *text, size_t len, const uint8_t *pinned_op,
		       struct cr_ring **out, struct cr_error **err)
{
	uint8_t anchor[CR_RING_SETHASH_LEN];

	if (pinned_op != NULL)
		single_anchor(pinned_op, anchor);
	return ring_parse(text, len, pinned_op != NULL ? anchor : NULL,
			  pinned_op, 0, 0, out, err);
}

static int ring_load_file(const char *path, const uint8_t *anchor,
			  const uint8_t *anchor_pk, uint64_t min_epoch,
			  int draft, struct cr_ring **out,
			  struct cr_error **err)
{
	CR_CLEANUP_FREE char *text = NULL;
	size_t len;

	if (cr_read_file(path, RING_TEXT_MAX, &text, &len, err) < 0)
		return cr_error_wrap(err, "loading the ring configuration");
	if (ring_parse(text, len, anchor, anchor_pk, min_epoch, draft, out,
		       err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

int cr_ring_load(const char *path, const uint8_t *pinned_op,
		 struct cr_ring **out, struct cr_error **err)
{
	uint8_t anchor[CR_RING_SETHASH_LEN];

	if (pinned_op != NULL)
		single_anchor(pinned_op, anchor);
	return ring_load_file(path, pinned_op != NULL ? anchor : NULL,
			      pinned_op, 0, 0, out, err);
}

int cr_ring_load_anchored(const char *path,
			  const uint8_t anchor[CR_RING_SETHASH_LEN],
			  uint64_t min_epoch, struct cr_ring **out,
			  struct cr_error **err)
{
	return ring_load_file(path, anchor, NULL, min_epoch, 0, out, err);
}

int cr_ring_load_draft(const char *path, struct cr_ring **out,
		       struct cr_error **err)
{
	return ring_load_file(path, NULL, NULL, 0, 1, out, err);
}

/* ---- building and saving -------------------------------------------------- */

/* An OperatorSet message pointing into set (which must outlive it). */
struct pb_opset {
	Carrier__OperatorSet m;
	ProtobufCBinaryData pks[CR_RING_OPERATORS_MAX];
};

static void pb_opset_init(struct pb_opset *p, struct cr_ring_opset *set)
{
	carrier__operator_set__init(&p->m);
	for (size_t i = 0; i < set->n; i++) {
		p->pks[i].data = set->pks[i];
		p->pks[i].len = CR_PKLEN;
	}
	p->m.pks = p->pks;
	p->m.n_pks = set->n;
	p->m.threshold = set->threshold;
}

/* Packs m into a new buffer (*out, *out_len), with `pre` spare bytes in
 * front for a signature context. */
static int pack_msg(const ProtobufCMessage *m, size_t pre, uint8_t **out,
		    size_t *out_len, struct cr_error **err)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	if (len > CP_RING_CONFIG_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "ring configuration would be %zu bytes, "
				    "more than the limit of %d",
				    len, (int)CP_RING_CONFIG_MAX);
	*out = malloc(pre + len + 1);
	if (*out == NULL)
		return cr_error_errno(err, ENOMEM, "building the ring");
	protobuf_c_message_pack(m, *out + pre);
	*out_len = len;
	return 0;
}

/*
 * Signs msg (a context and a body) with kp into g; the key and signature
 * bytes live in `store` (CR_PKLEN + CR_SIGLEN bytes the caller keeps as
 * long as g).
 */
static int add_sig(const struct cr_keypair *kp, const uint8_t *msg,
		   size_t msg_len, uint8_t *store,
		   Carrier__OperatorSignature *g, struct cr_error **err)
{
	carrier__operator_signature__init(g);
	memcpy(store, kp->pk, CR_PKLEN);
	if (crypto_sign_detached(store + CR_PKLEN, NULL, msg, msg_len,
				 kp->sk) != 0)
		return cr_error_set(err, EINVAL,
				    "signing the ring configuration failed");
	g->pk.data = store;
	g->pk.len = CR_PKLEN;
	g->signature.data = store + CR_PKLEN;
	g->signature.len = CR_SIGLEN;
	return 0;
}

uint32_t cr_ring_majority_replicas(size_t n)
{
	size_t r = n / 2 + 1;

	if (r < CR_RING_MAJORITY_MIN)
		r = CR_RING_MAJORITY_MIN;
	return r > CR_RING_MAJORITY_MAX ? CR_RING_MAJORITY_MAX : (uint32_t)r;
}

int cr_ring_build_set(const struct cr_keypair *signer,
		      const struct cr_ring_opset *set_in,
		      const struct cr_ring *prev, uint64_t epoch,
		      uint32_t replicas, const struct cr_ring_node *nodes,
		      size_t n, struct cr_ring **out, struct cr_error **err)
{
	Carrier__RingConfigBody body = CARRIER__RING_CONFIG_BODY__INIT;
	Carrier__SignedRingConfig sr = CARRIER__SIGNED_RING_CONFIG__INIT;
	Carrier__HandoverBody hb = CARRIER__HANDOVER_BODY__INIT;
	Carrier__SignedHandover nh = CARRIER__SIGNED_HANDOVER__INIT;
	Carrier__SignedHandover *hptrs[CR_RING_HANDOVERS_MAX];
	Carrier__OperatorSignature hsig, bsig, *hsigp = &hsig, *bsigp = &bsig;
	CLEANUP_SIGNED_RING Carrier__SignedRingConfig *prev_sr = NULL;
	CR_CLEANUP_FREE Carrier__NodeEntry *entries = NULL;
	CR_CLEANUP_FREE Carrier__NodeEntry **ptrs = NULL;
	CR_CLEANUP_FREE uint8_t *pks = NULL;
	CR_CLEANUP_FREE char *addrs = NULL;
	CR_CLEANUP_FREE uint8_t *msg = NULL;
	CR_CLEANUP_FREE uint8_t *hmsg = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	struct pb_opset pset, pfrom, pto;
	struct cr_ring_opset set, from;
	uint8_t bstore[CR_PKLEN + CR_SIGLEN], hstore[CR_PKLEN + CR_SIGLEN];
	uint8_t set_hash[CR_RING_SETHASH_LEN];
	size_t body_len, blob_len, hlen, n_ho = 0, first = 0;
	int in_set, in_prev = 0, handover, single;

	if (signer == NULL || set_in == NULL)
		return cr_error_set(err, EINVAL,
				    "no operator key to sign the ring with");
	if (signer->type != CR_ID_OPERATOR)
		return cr_error_set(err, EINVAL,
				    "ring configurations are signed with the "
				    "operator key, not a %s key",
				    cr_id_type_name(signer->type) != NULL
					    ? cr_id_type_name(signer->type)
					    : "unknown");
	if (set_in->n == 0 || set_in->n > CR_RING_OPERATORS_MAX ||
	    set_in->threshold == 0 || set_in->threshold > set_in->n)
		return cr_error_set(err, EINVAL,
				    "an operator set needs 1 to %d keys and a "
				    "threshold of 1 to their number",
				    (int)CR_RING_OPERATORS_MAX);
	set = *set_in;
	for (size_t i = 0; i < set.n; i++)
		for (size_t j = 0; j < i; j++)
			if (memcmp(set.pks[i], set.pks[j], CR_PKLEN) == 0)
				return cr_error_set(err, EINVAL,
						    "operator key %zu is "
						    "listed twice",
						    i + 1);
	if (epoch == 0)
		return cr_error_set(err, EINVAL,
				    "ring epoch must be at least 1");
	if (n == 0 || nodes == NULL)
		return cr_error_set(err, EINVAL,
				    "a ring needs at least one node");
	if (n > CP_RING_NODES_MAX)
		return cr_error_set(err, EINVAL,
				    "a ring has at most %d nodes, not %zu",
				    (int)CP_RING_NODES_MAX, n);
	cr_ring_opset_hash(&set, set_hash);
	in_set = cr_ring_opset_find(&set, signer->pk, NULL);
	handover = prev != NULL &&
		   memcmp(prev->set_hash, set_hash, CR_RING_SETHASH_LEN) != 0;
	if (prev != NULL) {
		from = prev->ops;
		in_prev = cr_ring_opset_find(&from, signer->pk, NULL);
	}
	if (!in_set && !(handover && in_prev))
		return cr_error_set(err, EKEYREJECTED,
				    "the operator key is not one of the "
				    "ring's operators");

	entries = calloc(n, sizeof(*entries));
	ptrs = calloc(n, sizeof(*ptrs));
	pks = malloc(n * CR_PKLEN);
	addrs = malloc(n * CR_RING_ADDR_MAX);
	if (entries == NULL || ptrs == NULL || pks == NULL || addrs == NULL)
		return cr_error_errno(err, ENOMEM, "building the ring");
	/* protobuf-c wants mutable pointers: copy instead of casting away
	 * const. */
	for (size_t i = 0; i < n; i++) {
		if (memchr(nodes[i].addr, '\0', CR_RING_ADDR_MAX) == NULL)
			return cr_error_set(err, EINVAL,
					    "ring node %zu: address is not "
					    "terminated",
					    i);
		memcpy(pks + i * CR_PKLEN, nodes[i].pk, CR_PKLEN);
		memcpy(addrs + i * CR_RING_ADDR_MAX, nodes[i].addr,
		       CR_RING_ADDR_MAX);
		carrier__node_entry__init(&entries[i]);
		entries[i].pk.data = pks + i * CR_PKLEN;
		entries[i].pk.len = CR_PKLEN;
		entries[i].addr = addrs + i * CR_RING_ADDR_MAX;
		entries[i].weight = nodes[i].weight;
		ptrs[i] = &entries[i];
	}
	/* One operator keeps the format of earlier versions, so nodes and
	 * devices not yet upgraded go on accepting its epochs. */
	single = set.n == 1 && set.threshold == 1;
	if (single) {
		body.operator_pk.data = set.pks[0];
		body.operator_pk.len = CR_PKLEN;
	} else {
		pb_opset_init(&pset, &set);
		body.operators = &pset.m;
	}
	body.epoch = epoch;
	body.n_nodes = n;
	body.nodes = ptrs;
	if (replicas == CR_RING_REPLICAS_MAJORITY) {
		body.replicas = cr_ring_majority_replicas(n);
		body.replicas_majority = 1;
	} else {
		body.replicas = replicas;
	}
	body.issued_unix = cr_now_unix();
	if (pack_msg(&body.base, RING_SIG_CTX_LEN, &msg, &body_len, err) < 0)
		return -1;
	memcpy(msg, ring_sig_ctx, RING_SIG_CTX_LEN);
	sr.body.data = msg + RING_SIG_CTX_LEN;
	sr.body.len = body_len;
	if (in_set) {
		if (add_sig(signer, msg, RING_SIG_CTX_LEN + body_len, bstore,
			    &bsig, err) < 0)
			return -1;
		if (single) {
			sr.signature = bsig.signature;
		} else {
			sr.signatures = &bsigp;
			sr.n_signatures = 1;
		}
	}

	/* The chain of handovers goes on with every epoch. */
	if (prev != NULL && prev->signed_blob != NULL) {
		prev_sr = carrier__signed_ring_config__unpack(
			NULL, prev->signed_len, prev->signed_blob);
		if (prev_sr == NULL)
			return cr_error_set(err, EBADMSG,
					    "the previous configuration does "
					    "not unpack");
		n_ho = prev_sr->n_handovers;
		if (handover && n_ho == CR_RING_HANDOVERS_MAX)
			first = 1; /* the oldest falls off */
		for (size_t i = first; i < n_ho; i++)
			hptrs[i - first] = prev_sr->handovers[i];
		n_ho -= first;
	}
	if (handover) {
		hb.epoch = epoch;
		pb_opset_init(&pfrom, &from);
		pb_opset_init(&pto, &set);
		hb.from = &pfrom.m;
		hb.to = &pto.m;
		if (pack_msg(&hb.base, sizeof(handover_sig_ctx), &hmsg, &hlen,
			     err) < 0)
			return -1;
		memcpy(hmsg, handover_sig_ctx, sizeof(handover_sig_ctx));
		nh.body.data = hmsg + sizeof(handover_sig_ctx);
		nh.body.len = hlen;
		if (in_prev) {
			if (add_sig(signer, hmsg,
				    sizeof(handover_sig_ctx) + hlen, hstore,
				    &hsig, err) < 0)
				return -1;
			nh.signatures = &hsigp;
			nh.n_signatures = 1;
		}
		hptrs[n_ho++] = &nh;
	}
	sr.handovers = hptrs;
	sr.n_handovers = n_ho;
	if (pack_msg(&sr.base, 0, &blob, &blob_len, err) < 0)
		return -1;
	/* Decoding what we built applies every check in one place, and
	 * catches an operator key pair whose halves do not match. */
	if (ring_decode(blob, blob_len, NULL, NULL, 0, 1, out, err) < 0)
		return cr_error_wrap(err, "the ring configuration just built "
					  "does not verify");
	if ((in_set && !(*out)->signed_by[0] && single) ||
	    (in_set && (*out)->n_signed == 0)) {
		*out = cr_ring_free(*out);
		return cr_error_set(err, EINVAL,
				    "the ring configuration just built does "
				    "not verify: the operator key pair is "
				    "damaged");
	}
	return 0;
}

int cr_ring_build(const struct cr_keypair *op, uint64_t epoch,
		  uint32_t replicas, const struct cr_ring_node *nodes,
		  size_t n, struct cr_ring **out, struct cr_error **err)
{
	struct cr_ring_opset one = { .n = 1, .threshold = 1 };

	if (op == NULL)
		return cr_error_set(err, EINVAL,
				    "no operator key to sign the ring with");
	memcpy(one.pks[0], op->pk, CR_PKLEN);
	return cr_ring_build_set(op, &one, NULL, epoch, replicas, nodes, n,
				 out, err);
}

int cr_ring_sign(const struct cr_ring *r, const struct cr_keypair *signer,
		 struct cr_ring **out, struct cr_error **err)
{
	CLEANUP_SIGNED_RING Carrier__SignedRingConfig *s = NULL;
	__attribute__((cleanup(handover_body_freep)))
	Carrier__HandoverBody *hb = NULL;
	Carrier__OperatorSignature *bs[2 * CR_RING_OPERATORS_MAX + 1];
	Carrier__OperatorSignature *hs[2 * CR_RING_OPERATORS_MAX + 1];
	Carrier__OperatorSignature bsig, hsig;
	Carrier__SignedHandover *last = NULL;
	CR_CLEANUP_FREE uint8_t *msg = NULL;
	CR_CLEANUP_FREE uint8_t *hmsg = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	struct cr_ring_opset from;
	uint8_t bstore[CR_PKLEN + CR_SIGLEN], hstore[CR_PKLEN + CR_SIGLEN];
	uint8_t hsigned[CR_RING_OPERATORS_MAX];
	Carrier__OperatorSignature **o_sigs, **o_hsigs = NULL;
	ProtobufCBinaryData o_sig;
	size_t idx, blob_len, did = 0, o_nsigs, o_nhsigs = 0;
	int single = r->ops.n == 1 && r->ops.threshold == 1, rc;
	int add_b = 0, add_h = 0;

	if (signer->type != CR_ID_OPERATOR)
		return cr_error_set(err, EINVAL,
				    "ring configurations are signed with the "
				    "operator key, not a %s key",
				    cr_id_type_name(signer->type) != NULL
					    ? cr_id_type_name(signer->type)
					    : "unknown");
	s = carrier__signed_ring_config__unpack(NULL, r->signed_len,
						r->signed_blob);
	if (s == NULL || s->n_signatures > 2 * CR_RING_OPERATORS_MAX)
		return cr_error_set(err, EBADMSG,
				    "the ring configuration does not unpack");
	o_sig = s->signature;
	o_sigs = s->signatures;
	o_nsigs = s->n_signatures;
	/* The configuration itself. */
	if (cr_ring_opset_find(&r->ops, signer->pk, &idx) &&
	    !r->signed_by[idx]) {
		msg = ctx_msg(ring_sig_ctx, RING_SIG_CTX_LEN, s->body.data,
			      s->body.len);
		if (msg == NULL)
			return cr_error_errno(err, ENOMEM, "signing the ring");
		if (add_sig(signer, msg, RING_SIG_CTX_LEN + s->body.len,
			    bstore, &bsig, err) < 0)
			return -1;
		add_b = 1;
		did++;
	}
	/* The newest handover, when it is this epoch's. */
	if (s->n_handovers > 0 &&
	    r->handovers[r->n_handovers - 1].epoch == r->epoch) {
		last = s->handovers[s->n_handovers - 1];
		hb = carrier__handover_body__unpack(NULL, last->body.len,
						    last->body.data);
		if (hb == NULL)
			return cr_error_set(err, EBADMSG,
					    "the newest handover does not "
					    "unpack");
		if (opset_from_pb(hb->from, &from, "the newest handover",
				  err) < 0)
			return -1;
		o_hsigs = last->signatures;
		o_nhsigs = last->n_signatures;
		hmsg = ctx_msg(handover_sig_ctx, sizeof(handover_sig_ctx),
			       last->body.data, last->body.len);
		if (hmsg == NULL)
			return cr_error_errno(err, ENOMEM, "signing the ring");
		if (last->n_signatures > 2 * CR_RING_OPERATORS_MAX)
			return cr_error_set(err, EBADMSG,
					    "the newest handover carries too "
					    "many signatures");
		opset_count(&from, last->signatures, last->n_signatures, hmsg,
			    sizeof(handover_sig_ctx) + last->body.len,
			    hsigned);
		if (cr_ring_opset_find(&from, signer->pk, &idx) &&
		    !hsigned[idx]) {
			if (add_sig(signer, hmsg,
				    sizeof(handover_sig_ctx) + last->body.len,
				    hstore, &hsig, err) < 0)
				return -1;
			add_h = 1;
			did++;
		}
	}
	if (did == 0) {
		char ida[CR_ID_STRMAX];
		struct cr_id id;

		cr_id_from_pk(CR_ID_OPERATOR, signer->pk, &id);
		return cr_error_set(err, EALREADY,
				    "%s has nothing to sign in epoch %" PRIu64
				    ": it is not one of the ring's operators, "
				    "or has signed already",
				    cr_id_format(&id, ida), r->epoch);
	}
	/* Borrowed arrays and bytes, from here to the restore below: no
	 * return in between. */
	if (add_b && single) {
		s->signature.data = bstore + CR_PKLEN;
		s->signature.len = CR_SIGLEN;
	} else if (add_b) {
		for (size_t i = 0; i < s->n_signatures; i++)
			bs[i] = s->signatures[i];
		bs[s->n_signatures++] = &bsig;
		s->signatures = bs;
	}
	if (add_h) {
		for (size_t i = 0; i < last->n_signatures; i++)
			hs[i] = last->signatures[i];
		hs[last->n_signatures++] = &hsig;
		last->signatures = hs;
	}
	rc = pack_msg(&s->base, 0, &blob, &blob_len, err);
	/* The unpacked message points at our arrays and bytes now: give
	 * protobuf-c back its own before it frees them. */
	s->signature = o_sig;
	s->signatures = o_sigs;
	s->n_signatures = o_nsigs;
	if (last != NULL) {
		last->signatures = o_hsigs;
		last->n_signatures = o_nhsigs;
	}
	if (rc < 0)
		return -1;
	return ring_decode(blob, blob_len, NULL, NULL, 0, 1, out, err);
}

int cr_ring_save(const struct cr_ring *r, const char *path,
		 struct cr_error **err)
{
	CR_CLEANUP_FREE char *text = NULL;
	char ida[CR_ID_STRMAX], setid[CR_RING_SETID_STRMAX];
	struct cr_id op;
	size_t cap, off = 0, b64_cap;
	int n;

	if (r == NULL || r->signed_blob == NULL || r->signed_len == 0)
		return cr_error_set(err, EINVAL,
				    "the ring has no signed configuration to "
				    "save");
	b64_cap = sodium_base64_ENCODED_LEN(r->signed_len,
					    sodium_base64_VARIANT_ORIGINAL);
	/* Header comments, one comment per node, the configuration line. */
	cap = 512 + r->n_nodes * (CR_ID_STRMAX + CR_RING_ADDR_MAX + 48) +
	      r->ops.n * (CR_ID_STRMAX + 24) +
	      sizeof(ring_text_magic) + b64_cap + 2;
	text = malloc(cap);
	if (text == NULL)
		return cr_error_errno(err, ENOMEM, "saving the ring");

	/* Comments are ignored when loading; they make the file readable and
	 * diffable for operators. */
	cr_id_from_pk(CR_ID_OPERATOR, r->operator_pk, &op);
	if (r->ops.n == 1 && r->ops.threshold == 1)
		n = snprintf(text, cap,
			     "# Korhal ring configuration, signed by the "
			     "operator.\n"
			     "# Do not edit: any change breaks the "
			     "signature.\n"
			     "# operator %s\n",
			     cr_id_format(&op, ida));
	else
		n = snprintf(text, cap,
			     "# Korhal ring configuration, signed by %" PRIu32
			     " of %zu operators%s.\n"
			     "# Do not edit: any change breaks the "
			     "signatures.\n"
			     "# operators %s, signed by %zu\n",
			     r->ops.threshold, r->ops.n,
			     r->complete ? "" : " (a DRAFT: not enough "
						"signatures yet)",
			     cr_ring_setid_format(r->set_hash, setid),
			     r->n_signed);
	if (n < 0 || (size_t)n >= cap)
		return cr_error_set(err, EOVERFLOW, "formatting the ring");
	off = (size_t)n;
	for (size_t i = 0; i < r->ops.n && r->ops.n > 1; i++) {
		cr_id_from_pk(CR_ID_OPERATOR, r->ops.pks[i], &op);
		n = snprintf(text + off, cap - off, "# operator %s%s\n",
			     cr_id_format(&op, ida),
			     r->signed_by[i] ? " (signed)" : "");
		if (n < 0 || (size_t)n >= cap - off)
			return cr_error_set(err, EOVERFLOW,
					    "formatting the ring");
		off += (size_t)n;
	}
	n = snprintf(text + off, cap - off,
		     "# epoch %" PRIu64 ", issued %" PRIu64
		     " (Unix time), %zu nodes, %" PRIu32 " replicas%s\n",
		     r->epoch, r->issued_unix, r->n_nodes, r->replicas,
		     r->replicas_majority ? " (a majority of the nodes)" : "");
	if (n < 0 || (size_t)n >= cap - off)
		return cr_error_set(err, EOVERFLOW, "formatting the ring");
	off += (size_t)n;
	for (size_t i = 0; i < r->n_nodes; i++) {
		n = snprintf(text + off, cap - off,
			     "# node %s %s weight %" PRIu32 "\n",
			     cr_id_format(&r->nodes[i].id, ida),
			     r->nodes[i].addr, r->nodes[i].weight);
		if (n < 0 || (size_t)n >= cap - off)
			return cr_error_set(err, EOVERFLOW,
					    "formatting the ring");
		off += (size_t)n;
	}
	n = snprintf(text + off, cap - off, "%s ", ring_text_magic);
	if (n < 0 || (size_t)n >= cap - off)
		return cr_error_set(err, EOVERFLOW, "formatting the ring");
	off += (size_t)n;
	if (cap - off < b64_cap + 1)
		return cr_error_set(err, EOVERFLOW, "formatting the ring");
	sodium_bin2base64(text + off, b64_cap, r->signed_blob, r->signed_len,
			  sodium_base64_VARIANT_ORIGINAL);
	off += strlen(text + off);
	text[off++] = '\n';

	if (cr_write_file_atomic(path, text, off, 0644, err) < 0)
		return cr_error_wrap(err, "saving the ring configuration");
	return 0;
}

struct cr_ring *cr_ring_free(struct cr_ring *r)
{
	if (r == NULL)
		return NULL;
	free(r->nodes);
	free(r->signed_blob);
	free(r);
	return NULL;
}

int cr_ring_find(const struct cr_ring *r, const uint8_t pk[CR_PKLEN])
{
	for (size_t i = 0; i < r->n_nodes && i <= INT32_MAX; i++) {
		if (memcmp(r->nodes[i].pk, pk, CR_PKLEN) == 0)
			return (int)i;
	}
	return -1;
}

/* ---- placement ------------------------------------------------------------ */

/*
 * Weighted rendezvous hashing without floating point.
 *
 * The classic weighted HRW score of node i for a key is -w_i / ln(u_i), with
 * u_i uniform in (0, 1) derived from a hash of (key, node); the highest
 * score wins.  Equivalently, each node draws E_i = -ln(u_i) / w_i, an
 * exponential variable with rate w_i, and the smallest E_i wins, which
 * happens with probability w_i / sum(w).  Ranking by -log2(u) instead of
 * -ln(u) multiplies every E_i by the same constant, so the ranking is the
 * same.  We compute, with integers only:
 *
 *   h   = the first 8 bytes, little-endian, of BLAKE2b-128(id hash || pk);
 *   m   = h | 1, and u = m / 2^64, so that 0 < u < 1;
 *   L   = -log2(u), in fixed point with HRW_FRAC (57) fractional bits;
 *   E   = L / w (integer division); rank by E ascending, ties (about one
 *         in 2^40 per pair) by public key, so the order of the nodes in the
 *         configuration never matters.
 *
 * -log2(m / 2^64) = 64 - log2(m).  With e = floor(log2(m)) and X = m / 2^e
 * in [1, 2), log2(m) = e + log2(X).  log2(X) comes from the shift-and-add
 * method: multiply X by (1 + 2^-k) for k = 1..HRW_STEPS whenever the product
 * stays below 2 (one shift and one add each), summing log2(1 + 2^-k) from a
 * table.  Afterwards X' = X * prod < 2 and 1 - X'/2 = d < 2^-HRW_STEPS, so
 * log2(X) = 1 - sum - (-log2(1 - d)), and -log2(1 - d) = d / ln 2 to within
 * d^2 < 2^-68, well below the 2^-57 resolution.  Hence
 *
 *   L = (63 - e) + sum + d / ln 2,
 *
 * a sum of non-negative terms, so L keeps its relative precision even when
 * u is close to 1, which is where the winners are.  Rounding of the table
 * and of the shifts adds up to about 2^-52 in all, far below anything that
 * could bias placement; what matters is that every platform computes the
 * same bits, which integer arithmetic guarantees.
 */
enum {
	HRW_FRAC = 57,	 /* L <= 64, so L * 2^57 <= 2^63 fits */
	HRW_STEPS = 34,
	HRW_HASHLEN = 16, /* libsodium's shortest BLAKE2b output */
};

/* round(2^30 / ln 2): d / ln 2 in fixed point is (d_64 * this) >> 37. */
#define HRW_INV_LN2_Q30 UINT64_C(1549082005)

/*
 * round(log2(1 + 2^-k) * 2^57) for k = 1..34, computed with 80-digit
 * decimal arithmetic (Python: (1 + Decimal(2) ** -k).ln() / Decimal(2).ln()).
 */
static const uint64_t hrw_log2_tab[HRW_STEPS] = {
	UINT64_C(0x012b803473f7ad0f), UINT64_C(0x00a4d3c25e68dc58),
	UINT64_C(0x00570068e7ef5a1e), UINT64_C(0x002cc7edf592262d),
	UINT64_C(0x0016bad3758efd87), UINT64_C(0x000b73cb42e16915),
	UINT64_C(0x0005bf942dbbc214), UINT64_C(0x0002e1388daf558f),
	UINT64_C(0x000170f83ff0a756), UINT64_C(0x0000b89329ba1fa3),
	UINT64_C(0x00005c4f58bde55f), UINT64_C(0x00002e291d854380),
	UINT64_C(0x00001714eb11fa53), UINT64_C(0x00000b8a8c9d8bea),
	UINT64_C(0x000005c54c1400b9), UINT64_C(0x000002e2a77b51f0),
	UINT64_C(0x000001715419fdb9), UINT64_C(0x000000b8aa241419),
	UINT64_C(0x0000005c5517cf5d), UINT64_C(0x0000002e2a8d5903),
	UINT64_C(0x00000017154708d6), UINT64_C(0x0000000b8aa39b80),
	UINT64_C(0x00000005c551d386), UINT64_C(0x00000002e2a8eb34),
	UINT64_C(0x00000001715475f6), UINT64_C(0x00000000b8aa3b12),
	UINT64_C(0x000000005c551d8f), UINT64_C(0x000000002e2a8ec9),
	UINT64_C(0x0000000017154765), UINT64_C(0x000000000b8aa3b2),
	UINT64_C(0x0000000005c551d9), UINT64_C(0x0000000002e2a8ed),
	UINT64_C(0x0000000001715476), UINT64_C(0x0000000000b8aa3b),
};

/* -log2(m / 2^64) for m in [1, 2^64), scaled by 2^HRW_FRAC; at least 1. */
static uint64_t hrw_neglog2(uint64_t m)
{
	int e = 63 - __builtin_clzll(m);
	uint64_t x = m << (63 - e); /* X = x / 2^63, in [1, 2) */
	uint64_t acc = (uint64_t)(63 - e) << HRW_FRAC;
	uint64_t d;

	for (int k = 1; k <= HRW_STEPS; k++) {
		uint64_t t = x + (x >> k);

		/* t wrapped around iff X * (1 + 2^-k) >= 2. */
		if (t >= x) {
			x = t;
			acc += hrw_log2_tab[k - 1];
		}
	}
	/* d * 2^64 = 2^64 - x, below 2^30 plus rounding slack. */
	d = (uint64_t)0 - x;
	acc += (d * HRW_INV_LN2_Q30) >> (64 - HRW_FRAC + 30);
	return acc != 0 ? acc : 1;
}

/*
 * E = -log2(u) / w for one node; smaller ranks first.  When the node cannot
 * beat `worst` (the last of the nodes kept so far), returns UINT64_MAX
 * without computing the logarithm: -log2(u) >= 1 - u, and hrw_neglog2()
 * keeps that inequality exactly (each accepted step adds a table entry no
 * smaller than the shifted amount it adds to x, and the final correction is
 * at least (2^64 - x) / 2^7), so a node whose (1 - u) / w already exceeds
 * worst would lose anyway.  Ranking a device over a large ring then costs
 * little more than the hashes.
 */
static uint64_t hrw_key(const uint8_t in[64], const struct cr_ring_node *n,
			uint64_t worst)
{
	uint8_t hash[HRW_HASHLEN];
	uint64_t h = 0, m;
	uint32_t w = n->weight != 0 ? n->weight : 1;

	crypto_generichash(hash, sizeof(hash), in, 64, NULL, 0);
	for (int i = 7; i >= 0; i--)
		h = (h << 8) | hash[i];
	m = h | 1;
	if ((((uint64_t)0 - m) >> (64 - HRW_FRAC)) / w > worst)
		return UINT64_MAX;
	return hrw_neglog2(m) / w;
}

/* Does node a (key ka) rank before node b (key kb)? */
static int hrw_before(const struct cr_ring *r, uint64_t ka, size_t a,
		      uint64_t kb, size_t b)
{
	int c;

	if (ka != kb)
		return ka < kb;
	c = memcmp(r->nodes[a].pk, r->nodes[b].pk, CR_PKLEN);
	return c != 0 ? c < 0 : a < b;
}

size_t cr_ring_rank(const struct cr_ring *r, const uint8_t id_hash[32],
		    const uint8_t *alive, size_t *out, size_t max)
{
	/* Keys of the kept nodes, best first; bounded so no allocation is
	 * needed (a decoded ring has at most CP_RING_NODES_MAX nodes). */
	uint64_t keys[CP_RING_NODES_MAX];
	uint8_t in[64];
	size_t kept = 0;

	if (r == NULL || out == NULL || max == 0)
		return 0;
	if (max > CP_RING_NODES_MAX)
		max = CP_RING_NODES_MAX;
	memcpy(in, id_hash, 32);
	for (size_t i = 0; i < r->n_nodes; i++) {
		uint64_t key;
		size_t pos;

		if (alive != NULL && alive[i] == 0)
			continue;
		memcpy(in + 32, r->nodes[i].pk, CR_PKLEN);
		key = hrw_key(in, &r->nodes[i],
			      kept == max ? keys[kept - 1] : UINT64_MAX);
		if (kept == max &&
		    !hrw_before(r, key, i, keys[kept - 1], out[kept - 1]))
			continue;
		/* Insertion into the sorted prefix; the worst falls off. */
		pos = kept < max ? kept++ : max - 1;
		while (pos > 0 &&
		       hrw_before(r, key, i, keys[pos - 1], out[pos - 1])) {
			keys[pos] = keys[pos - 1];
			out[pos] = out[pos - 1];
			pos--;
		}
		keys[pos] = key;
		out[pos] = i;
	}
	return kept;
}

/* ---- operator pinning ----------------------------------------------------- */

static const char pin_set_magic[] = "korhal-operators";

/*
 * Reads the pin file.  Returns 1 with *hash (the pinned set's) and *epoch
 * filled, 0 when the file does not exist, -1 with *err set when it cannot
 * be read or is malformed.  *single_pk is the key of a one-operator pin
 * (the format of earlier versions), *is_single says which.
 */
static int pin_read(const char *path, uint8_t hash[CR_RING_SETHASH_LEN],
		    uint8_t single_pk[CR_PKLEN], int *is_single,
		    uint64_t *epoch, struct cr_error **err)
{
	CR_CLEANUP_FREE char *text = NULL;
	struct cr_error *e = NULL;
	uint8_t bin[CR_RING_SETHASH_LEN];
	char num[24];
	const char *p, *end;
	size_t len, bin_len, nlen;

	if (cr_read_file(path, PIN_FILE_MAX, &text, &len, &e) < 0) {
		if (e != NULL && e->code == ENOENT) {
			cr_error_free(e);
			return 0;
		}
		if (err != NULL && *err == NULL)
			*err = e;
		else
			cr_error_free(e);
		return cr_error_wrap(err, "reading the operator pin");
	}
	/* "korhal-operator BASE64PK EPOCH\n" or
	 * "korhal-operators BASE64HASH EPOCH\n" */
	p = text;
	if (len != strlen(text))
		goto bad;
	if (strncmp(p, pin_set_magic, sizeof(pin_set_magic) - 1) == 0 &&
	    p[sizeof(pin_set_magic) - 1] == ' ') {
		*is_single = 0;
		p += sizeof(pin_set_magic);
	} else if (strncmp(p, pin_magic, sizeof(pin_magic) - 1) == 0 &&
		   p[sizeof(pin_magic) - 1] == ' ') {
		*is_single = 1;
		p += sizeof(pin_magic);
	} else {
		goto bad;
	}
	/* Keys and hashes are both 32 bytes: 44 base64 characters. */
	if (strlen(p) < PK_B64_LEN + 2 || p[PK_B64_LEN] != ' ')
		goto bad;
	if (sodium_base642bin(bin, sizeof(bin), p, PK_B64_LEN, NULL, &bin_len,
			      &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != p + PK_B64_LEN || bin_len != sizeof(bin))
		goto bad;
	p += PK_B64_LEN + 1;
	nlen = strcspn(p, "\n");
	if (nlen == 0 || nlen >= sizeof(num) ||
	    (p[nlen] == '\n' && p[nlen + 1] != '\0'))
		goto bad;
	memcpy(num, p, nlen);
	num[nlen] = '\0';
	if (cr_parse_u64(num, 0, UINT64_MAX, epoch) < 0)
		goto bad;
	if (*is_single) {
		memcpy(single_pk, bin, CR_PKLEN);
		single_anchor(bin, hash);
	} else {
		memcpy(hash, bin, CR_RING_SETHASH_LEN);
	}
	return 1;
bad:
	return cr_error_set(err, EBADMSG,
			    "%s is not a valid operator pin (want '%s BASE64 "
			    "EPOCH'); fix it or remove it to pin again",
			    path, pin_magic);
}

int cr_ring_pin_prefix(const struct cr_ring *r, char *out, size_t cap)
{
	char b64[PK_B64_LEN + 1];
	int single = r->ops.n == 1 && r->ops.threshold == 1, n;

	/* One operator: its key, as earlier versions wrote it. */
	sodium_bin2base64(b64, sizeof(b64),
			  single ? r->operator_pk : r->set_hash, CR_PKLEN,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, cap, "%s %s", single ? pin_magic : pin_set_magic,
		     b64);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int pin_write(const char *path, const struct cr_ring *r,
		     struct cr_error **err)
{
	char pre[PIN_FILE_MAX], line[PIN_FILE_MAX];
	int n;

	if (cr_ring_pin_prefix(r, pre, sizeof(pre)) < 0)
		return cr_error_set(err, EOVERFLOW, "formatting the pin");
	n = snprintf(line, sizeof(line), "%s %" PRIu64 "\n", pre, r->epoch);
	if (n < 0 || (size_t)n >= sizeof(line))
		return cr_error_set(err, EOVERFLOW, "formatting the pin");
	if (cr_write_file_atomic(path, line, (size_t)n, 0644, err) < 0)
		return cr_error_wrap(err, "writing the operator pin");
	return 0;
}

/* Who signed r, as printed in messages: an operator identity, or a set. */
static const char *ring_signer_str(const struct cr_ring *r, char *buf)
{
	struct cr_id id;

	if (r->ops.n == 1 && r->ops.threshold == 1) {
		cr_id_from_pk(CR_ID_OPERATOR, r->operator_pk, &id);
		return cr_id_format(&id, buf);
	}
	return cr_ring_setid_format(r->set_hash, buf);
}

int cr_ring_anchor_parse(const char *s, struct cr_ring_anchor *a,
			 struct cr_error **err)
{
	size_t bin_len;
	const char *end;

	memset(a, 0, sizeof(*a));
	if (s == NULL || s[0] == '\0')
		return 0;
	if (strncmp(s, "opset_", 6) == 0) {
		if (strlen(s + 6) != 2 * CR_RING_SETHASH_LEN ||
		    sodium_hex2bin(a->set_hash, CR_RING_SETHASH_LEN, s + 6,
				   2 * CR_RING_SETHASH_LEN, NULL, &bin_len,
				   &end) != 0 ||
		    bin_len != CR_RING_SETHASH_LEN)
			return cr_error_set(err, EINVAL,
					    "'%s' is not an operator set "
					    "(opset_ and 64 hex digits, as "
					    "'carrier ring status' prints it)",
					    s);
		a->kind = 2;
		return 0;
	}
	if (cr_id_parse_as(s, CR_ID_OPERATOR, &a->op, err) < 0)
		return -1;
	a->kind = 1;
	return 0;
}

/* Does r belong to the explicitly named operator or set? */
static int anchor_matches(const struct cr_ring *r,
			  const struct cr_ring_anchor *a)
{
	struct cr_id id;
	uint8_t h[CR_RING_SETHASH_LEN];

	if (a->kind == 2)
		return ring_reaches(r, a->set_hash, 0);
	/* An operator identity: a one-operator ring of that key, or a ring
	 * such a ring was handed over to. */
	if (r->ops.n == 1 && r->ops.threshold == 1) {
		cr_id_from_pk(CR_ID_OPERATOR, r->operator_pk, &id);
		if (cr_id_equal(&id, &a->op))
			return 1;
	}
	for (size_t i = 0; i < r->n_handovers; i++) {
		if (r->handovers[i].from_n != 1)
			continue;
		cr_id_from_pk(CR_ID_OPERATOR, r->handovers[i].from_pk0, &id);
		single_anchor(r->handovers[i].from_pk0, h);
		if (cr_id_equal(&id, &a->op) &&
		    memcmp(h, r->handovers[i].from, sizeof(h)) == 0)
			return 1;
	}
	return 0;
}

int cr_ring_pin_check_anchor(const char *pin_path, const struct cr_ring *r,
			     const struct cr_ring_anchor *xa,
			     struct cr_error **err)
{
	char ida[CR_RING_SETID_STRMAX], idb[CR_RING_SETID_STRMAX];
	uint8_t pinned[CR_RING_SETHASH_LEN], pinned_pk[CR_PKLEN];
	uint64_t pinned_epoch = 0;
	struct cr_id pid;
	int have, single = 0;

	if (r == NULL)
		return cr_error_set(err, EINVAL, "no ring to check");
	/* An operator named on the command line or in the config always wins
	 * over trust on first use. */
	if (xa != NULL && xa->kind != 0 && !anchor_matches(r, xa))
		return cr_error_set(err, EKEYREJECTED,
				    "ring configuration is signed by %s, not "
				    "by the configured operator %s; check "
				    "which ring you are talking to",
				    ring_signer_str(r, ida),
				    xa->kind == 1
					    ? cr_id_format(&xa->op, idb)
					    : cr_ring_setid_format(
						      xa->set_hash, idb));
	have = pin_read(pin_path, pinned, pinned_pk, &single, &pinned_epoch,
			err);
	if (have < 0)
		return -1;
	if (have == 0)
		return pin_write(pin_path, r, err);

	/* The pinned set, or one it handed the ring over to since the
	 * pinned epoch: the pin then follows the chain. */
	if (!ring_reaches(r, pinned, pinned_epoch)) {
		if (single) {
			cr_id_from_pk(CR_ID_OPERATOR, pinned_pk, &pid);
			cr_id_format(&pid, idb);
		} else {
			cr_ring_setid_format(pinned, idb);
		}
		return cr_error_set(err, EKEYREJECTED,
				    "ring configuration is signed by %s, but "
				    "%s pins operator %s; if the operator "
				    "really changed its key, check the new "
				    "one out of band and remove %s",
				    ring_signer_str(r, ida), pin_path, idb,
				    pin_path);
	}
	if (r->epoch < pinned_epoch)
		return cr_error_set(err, ESTALE,
				    "ring configuration epoch %" PRIu64
				    " is older than epoch %" PRIu64
				    " already seen (%s); refusing a rollback, "
				    "fetch the current configuration",
				    r->epoch, pinned_epoch, pin_path);
	if (r->epoch > pinned_epoch)
		return pin_write(pin_path, r, err);
	return 0;
}

int cr_ring_pin_check(const char *pin_path, const struct cr_ring *r,
		      const struct cr_id *explicit_op, struct cr_error **err)
{
	struct cr_ring_anchor a = { 0 };

	if (explicit_op != NULL) {
		a.kind = 1;
		a.op = *explicit_op;
	}
	return cr_ring_pin_check_anchor(pin_path, r, &a, err);
}

int cr_ring_load_pinned(const char *path, const char *pin_path,
			const char *operator_id, struct cr_ring **out,
			struct cr_error **err)
{
	struct cr_ring *ring = NULL;
	struct cr_ring_anchor a;

	if (cr_ring_anchor_parse(operator_id, &a, err) < 0)
		return cr_error_wrap(err, "--operator");
	if (cr_ring_load(path, NULL, &ring, err) < 0)
		return -1;
	if (cr_ring_pin_check_anchor(pin_path, ring, &a, err) < 0) {
		cr_ring_free(ring);
		return -1;
	}
	*out = ring;
	return 0;
}
