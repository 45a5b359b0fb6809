/*
 * The ring configuration (common/carrier/records/src/ring.c): signing and
 * verifying, the text file form, operator pinning, and rendezvous placement,
 * including the balance and movement figures DESIGN.md promises ("with 10^6
 * ids the fullest node holds at most 1.1x the mean, and adding one node to n
 * moves about 1/(n+1) of the ids").
 *
 * KORHAL_PLACEMENT_IDS overrides the number of identities the placement
 * measurements use: by default 10^6, or 10^5 in 32-bit builds and in ASan
 * builds (where 10^6 take three minutes), or 2 x 10^4 under qemu-user
 * (CR_UNDER_QEMU, set by the cross builds' ctest: the cross legs, where
 * 10^6 ids over 101 nodes take about seven minutes and 10^5 one).  The
 * default leg measures 10^6.  The tolerances widen for small counts so
 * that a quick run still means something.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/identity.h"
#include "cr/ring.h"
#include "cr/ringsync.h"

#include "../check_err.h"
#include "../check_main.h"

static const char ring_ctx[] = "korhal ring v1"; /* signed with its NUL */

static char tmpdir[64];

/* ---- helpers ------------------------------------------------------------- */

/* Without libm: the test links only what the libraries need. */
static double dabs(double x)
{
	return x < 0 ? -x : x;
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

static double dsqrt(double x)
{
	double y = x > 1 ? x : 1;

	for (int i = 0; i < 100; i++)
		y = 0.5 * (y + x / y);
	return y;
}

/* v as 4 little-endian bytes: the test vectors below (the known answer
 * of test_rank_deterministic) must not depend on the host's byte order,
 * which a memcpy of the integer did (the mips leg caught it). */
static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A deterministic key pair: seed = BLAKE2b(le32(tag) || le32(n)). */
static void test_keypair(enum cr_id_type type, uint32_t tag, uint32_t n,
			 struct cr_keypair *kp)
{
	uint8_t in[8], seed[crypto_sign_SEEDBYTES];

	put_le32(in, tag);
	put_le32(in + 4, n);
	crypto_generichash(seed, sizeof(seed), in, sizeof(in), NULL, 0);
	kp->type = type;
	ck_assert_int_eq(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
}

/* n nodes with distinct keys (tag selects the set) and addresses. */
static struct cr_ring_node *make_nodes(size_t n, uint32_t tag)
{
	struct cr_ring_node *nodes = calloc(n, sizeof(*nodes));

	ck_assert_ptr_nonnull(nodes);
	for (size_t i = 0; i < n; i++) {
		struct cr_keypair kp;

		test_keypair(CR_ID_NODE, tag, (uint32_t)i, &kp);
		memcpy(nodes[i].pk, kp.pk, CR_PKLEN);
		snprintf(nodes[i].addr, sizeof(nodes[i].addr),
			 "10.%u.%u.%u:4500", (unsigned)(i >> 16) & 255,
			 (unsigned)(i >> 8) & 255, (unsigned)i & 255);
		nodes[i].weight = 1;
	}
	return nodes;
}

static struct cr_ring *build(const struct cr_keypair *op, uint64_t epoch,
			     size_t n, uint32_t tag)
{
	struct cr_ring_node *nodes = make_nodes(n, tag);
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc = cr_ring_build(op, epoch, 0, nodes, n, &r, &err);

	ck_assert_msg(rc == 0, "cr_ring_build: %s", cr_error_msg(err));
	ck_assert_ptr_nonnull(r);
	free(nodes);
	return r;
}

/* Asserts that rc is a failure whose message contains want; frees it. */
static void decode_expect_err(const uint8_t *buf, size_t len,
			      const uint8_t *pinned, const char *want)
{
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc = cr_ring_decode(buf, len, pinned, &r, &err);

	ck_assert_ptr_null(r);
	cr_check_expect_err(rc, &err, want);
}

/* Signs body bytes the way an operator does and wraps them; returns the
 * SignedRingConfig (malloc'ed) and its length. */
static uint8_t *sign_body(const struct cr_keypair *op, const uint8_t *body,
			  size_t body_len, size_t *out_len)
{
	Carrier__SignedRingConfig sr = CARRIER__SIGNED_RING_CONFIG__INIT;
	uint8_t *msg = malloc(sizeof(ring_ctx) + body_len);
	uint8_t sig[CR_SIGLEN];
	uint8_t *blob;

	ck_assert_ptr_nonnull(msg);
	memcpy(msg, ring_ctx, sizeof(ring_ctx));
	memcpy(msg + sizeof(ring_ctx), body, body_len);
	crypto_sign_detached(sig, NULL, msg, sizeof(ring_ctx) + body_len,
			     op->sk);
	sr.body.data = msg + sizeof(ring_ctx);
	sr.body.len = body_len;
	sr.signature.data = sig;
	sr.signature.len = sizeof(sig);
	*out_len = carrier__signed_ring_config__get_packed_size(&sr);
	blob = malloc(*out_len);
	ck_assert_ptr_nonnull(blob);
	carrier__signed_ring_config__pack(&sr, blob);
	free(msg);
	return blob;
}

/*
 * Packs a body with n entries from nodes, bypassing cr_ring_build's checks;
 * addr0, when not NULL, replaces the first node's address (it may be longer
 * than struct cr_ring_node holds).
 */
static uint8_t *pack_body(const struct cr_keypair *op, uint64_t epoch,
			  const struct cr_ring_node *nodes, size_t n,
			  const char *addr0, size_t *out_len)
{
	Carrier__RingConfigBody body = CARRIER__RING_CONFIG_BODY__INIT;
	Carrier__NodeEntry *entries = calloc(n, sizeof(*entries));
	Carrier__NodeEntry **ptrs = calloc(n, sizeof(*ptrs));
	struct cr_ring_node *copy = calloc(n, sizeof(*copy));
	uint8_t op_pk[CR_PKLEN];
	char *a0 = NULL;
	uint8_t *out;

	ck_assert(entries != NULL && ptrs != NULL && copy != NULL);
	memcpy(copy, nodes, n * sizeof(*copy));
	memcpy(op_pk, op->pk, CR_PKLEN);
	for (size_t i = 0; i < n; i++) {
		carrier__node_entry__init(&entries[i]);
		entries[i].pk.data = copy[i].pk;
		entries[i].pk.len = CR_PKLEN;
		entries[i].addr = copy[i].addr;
		entries[i].weight = copy[i].weight;
		ptrs[i] = &entries[i];
	}
	if (n > 0 && addr0 != NULL) {
		a0 = strdup(addr0);
		ck_assert_ptr_nonnull(a0);
		entries[0].addr = a0;
	}
	body.epoch = epoch;
	body.operator_pk.data = op_pk;
	body.operator_pk.len = CR_PKLEN;
	body.n_nodes = n;
	body.nodes = ptrs;
	*out_len = carrier__ring_config_body__get_packed_size(&body);
	out = malloc(*out_len);
	ck_assert_ptr_nonnull(out);
	carrier__ring_config_body__pack(&body, out);
	free(entries);
	free(ptrs);
	free(copy);
	free(a0);
	return out;
}

static void tmp_setup(void)
{
	cr_check_tmpdir(tmpdir, "check_ring");
}

static void tmp_teardown(void)
{
	cr_check_tmpdir_remove(tmpdir);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- signing, decoding, files -------------------------------------------- */

START_TEST(test_build_decode)
{
	struct cr_ring_node *nodes = make_nodes(5, 1);
	struct cr_keypair op;
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL, *again = NULL;
	struct cr_id id;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	nodes[2].weight = 0; /* means 1 */
	nodes[3].weight = 7;
	snprintf(nodes[4].addr, sizeof(nodes[4].addr), "[2001:db8::4]:4500");
	snprintf(nodes[1].addr, sizeof(nodes[1].addr),
		 "ring-1.example.com:4500");
	ck_assert_int_eq(cr_ring_build(&op, 42, 0, nodes, 5, &r, &err), 0);
	ck_assert_uint_eq(r->epoch, 42);
	ck_assert_uint_eq(r->replicas, CR_RING_DEFAULT_REPLICAS);
	ck_assert_uint_eq(r->n_nodes, 5);
	ck_assert_mem_eq(r->operator_pk, op.pk, CR_PKLEN);
	ck_assert_uint_ge(r->issued_unix, (uint64_t)time(NULL) - 5);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_mem_eq(r->nodes[i].pk, nodes[i].pk, CR_PKLEN);
		ck_assert_str_eq(r->nodes[i].addr, nodes[i].addr);
		cr_id_from_pk(CR_ID_NODE, nodes[i].pk, &id);
		ck_assert(cr_id_equal(&id, &r->nodes[i].id));
		ck_assert_int_eq(cr_ring_find(r, nodes[i].pk), (int)i);
	}
	ck_assert_uint_eq(r->nodes[2].weight, 1);
	ck_assert_uint_eq(r->nodes[3].weight, 7);
	ck_assert_int_eq(cr_ring_find(r, op.pk), -1);

	/* The signed blob decodes to the same ring, pinned or not. */
	ck_assert_int_eq(cr_ring_decode(r->signed_blob, r->signed_len, NULL,
					&again, &err),
			 0);
	ck_assert_uint_eq(again->epoch, 42);
	ck_assert_uint_eq(again->signed_len, r->signed_len);
	ck_assert_mem_eq(again->signed_blob, r->signed_blob, r->signed_len);
	again = cr_ring_free(again);
	ck_assert_int_eq(cr_ring_decode(r->signed_blob, r->signed_len, op.pk,
					&again, &err),
			 0);
	ck_assert_ptr_null(err);
	again = cr_ring_free(again);
	r = cr_ring_free(r);
	ck_assert_ptr_null(cr_ring_free(NULL));

	/* An explicit replica count survives. */
	ck_assert_int_eq(cr_ring_build(&op, 1, 5, nodes, 5, &r, &err), 0);
	ck_assert_uint_eq(r->replicas, 5);
	r = cr_ring_free(r);
	free(nodes);
}
END_TEST

/* The default home-set size: a majority of the nodes (3 to 16), kept in
 * the signed body as the rule; rings without it read as 3. */
START_TEST(test_majority_replicas)
{
	static const struct {
		size_t n;
		uint32_t r;
	} want[] = { { 1, 3 },	 { 2, 3 },   { 4, 3 },	 { 5, 3 },
		     { 6, 4 },	 { 7, 4 },   { 8, 5 },	 { 9, 5 },
		     { 20, 11 }, { 30, 16 }, { 31, 16 }, { 32, 16 },
		     { 200, 16 } };
	struct cr_ring_node *nodes = make_nodes(6, 3);
	struct cr_keypair op;
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL, *again = NULL;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t got = cr_ring_majority_replicas(want[i].n);

		ck_assert_msg(got == want[i].r, "%zu nodes: R %u, want %u",
			      want[i].n, got, want[i].r);
		/* Up to the cap, more than half: any half of the ring
		 * leaves a holder of every record. */
		if (want[i].n >= 6 && want[i].n <= 31)
			ck_assert_uint_gt(2 * got, want[i].n);
	}
	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	ck_assert_int_eq(cr_ring_build(&op, 1, CR_RING_REPLICAS_MAJORITY,
				       nodes, 6, &r, &err),
			 0);
	ck_assert_uint_eq(r->replicas, 4);
	ck_assert_int_eq(r->replicas_majority, 1);
	ck_assert_int_eq(cr_ring_decode(r->signed_blob, r->signed_len, op.pk,
					&again, &err),
			 0);
	ck_assert_uint_eq(again->replicas, 4);
	ck_assert_int_eq(again->replicas_majority, 1);
	again = cr_ring_free(again);
	r = cr_ring_free(r);
	/* A ring as earlier versions wrote it: R 3, not the rule. */
	ck_assert_int_eq(cr_ring_build(&op, 1, 3, nodes, 6, &r, &err), 0);
	ck_assert_uint_eq(r->replicas, 3);
	ck_assert_int_eq(r->replicas_majority, 0);
	r = cr_ring_free(r);
	ck_assert_int_eq(cr_ring_build(&op, 1, 0, nodes, 6, &r, &err), 0);
	ck_assert_uint_eq(r->replicas, CR_RING_DEFAULT_REPLICAS);
	ck_assert_int_eq(r->replicas_majority, 0);
	r = cr_ring_free(r);
	free(nodes);
}
END_TEST

START_TEST(test_save_load)
{
	struct cr_keypair op;
	struct cr_error *err = NULL;
	struct cr_ring *r, *back = NULL;
	char path[128];
	struct stat st;
	char *text, *crlf;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	r = build(&op, 7, 12, 2);
	snprintf(path, sizeof(path), "%s/ring.conf", tmpdir);
	ck_assert_int_eq(cr_ring_save(r, path, &err), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);

	ck_assert_int_eq(cr_ring_load(path, op.pk, &back, &err), 0);
	ck_assert_uint_eq(back->epoch, 7);
	ck_assert_uint_eq(back->n_nodes, 12);
	ck_assert_uint_eq(back->signed_len, r->signed_len);
	ck_assert_mem_eq(back->signed_blob, r->signed_blob, r->signed_len);
	back = cr_ring_free(back);

	/* The file is text with comments and exactly one configuration line;
	 * no temp file is left behind. */
	text = read_text(path);
	ck_assert_ptr_nonnull(strstr(text, "\nkorhal-ring-v1 "));
	ck_assert_int_eq(text[0], '#');
	ck_assert_ptr_nonnull(strstr(text, "# epoch 7"));
	ck_assert_int_eq(access(path, F_OK), 0);

	/* Saving again over it (a new epoch) replaces it atomically. */
	r = cr_ring_free(r);
	r = build(&op, 8, 3, 2);
	ck_assert_int_eq(cr_ring_save(r, path, &err), 0);
	ck_assert_int_eq(cr_ring_load(path, NULL, &back, &err), 0);
	ck_assert_uint_eq(back->epoch, 8);
	back = cr_ring_free(back);

	/* Edited by hand: CRLF line ends, blank lines, indented comments. */
	{
		size_t len = strlen(text), j = 0;

		crlf = malloc(2 * len + 64);
		ck_assert_ptr_nonnull(crlf);
		j += (size_t)snprintf(crlf, 2 * len + 64,
				      "\r\n   # added by hand\r\n\t\r\n");
		for (size_t i = 0; i < len; i++) {
			if (text[i] == '\n')
				crlf[j++] = '\r';
			crlf[j++] = text[i];
		}
		crlf[j] = '\0';
		ck_assert_int_eq(cr_ring_parse_text(crlf, j, op.pk, &back,
						    &err),
				 0);
		ck_assert_uint_eq(back->epoch, 7);
		back = cr_ring_free(back);
		free(crlf);
	}

	/* Missing file: the error names it. */
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	cr_check_expect_err(cr_ring_load(path, NULL, &back, &err), &err,
			    "missing.conf");
	free(text);
	cr_ring_free(r);
}
END_TEST

START_TEST(test_tampered)
{
	Carrier__SignedRingConfig *sr;
	Carrier__RingConfigBody *body;
	struct cr_keypair op, other;
	struct cr_ring *r;
	uint8_t *blob, *copy;
	size_t len, blen;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	test_keypair(CR_ID_OPERATOR, 100, 1, &other);
	r = build(&op, 3, 4, 3);

	/* A byte of the body changed after signing: the body still parses,
	 * the signature no longer matches. */
	sr = carrier__signed_ring_config__unpack(NULL, r->signed_len,
						 r->signed_blob);
	ck_assert_ptr_nonnull(sr);
	body = carrier__ring_config_body__unpack(NULL, sr->body.len,
						 sr->body.data);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(sr->body.data[0], 0x08); /* field 1, varint */
	ck_assert_uint_eq(sr->body.data[1], 3);	   /* epoch 3 */
	sr->body.data[1] = 4;			   /* epoch 4 */
	len = carrier__signed_ring_config__get_packed_size(sr);
	blob = malloc(len);
	ck_assert_ptr_nonnull(blob);
	carrier__signed_ring_config__pack(sr, blob);
	decode_expect_err(blob, len, NULL, "signature is invalid");
	free(blob);
	sr->body.data[1] = 3;

	/* A signature byte changed. */
	sr->signature.data[10] ^= 1;
	blob = malloc(len);
	ck_assert_ptr_nonnull(blob);
	carrier__signed_ring_config__pack(sr, blob);
	decode_expect_err(blob, len, NULL, "signature is invalid");
	free(blob);
	sr->signature.data[10] ^= 1;

	/* The body re-signed by another operator key, which then claims the
	 * ring: verifies on its own (its own operator), but fails the pin. */
	{
		uint8_t *b2;

		memcpy(body->operator_pk.data, other.pk, CR_PKLEN);
		blen = carrier__ring_config_body__get_packed_size(body);
		b2 = malloc(blen);
		carrier__ring_config_body__pack(body, b2);
		blob = sign_body(&other, b2, blen, &len);
		decode_expect_err(blob, len, op.pk, "not by the pinned operator");
		{
			struct cr_error *err = NULL;
			struct cr_ring *o = NULL;

			ck_assert_int_eq(cr_ring_decode(blob, len, other.pk,
							&o, &err),
					 0);
			o = cr_ring_free(o);
		}
		free(blob);
		/* Signed by one key but naming another as operator. */
		memcpy(body->operator_pk.data, op.pk, CR_PKLEN);
		carrier__ring_config_body__pack(body, b2);
		blob = sign_body(&other, b2, blen, &len);
		decode_expect_err(blob, len, NULL, "signature is invalid");
		decode_expect_err(blob, len, op.pk, "signature is invalid");
		free(blob);
		free(b2);
	}

	/* Every single-bit and whole-byte change anywhere is refused. */
	copy = malloc(r->signed_len);
	ck_assert_ptr_nonnull(copy);
	for (size_t i = 0; i < r->signed_len; i++) {
		static const uint8_t flips[] = { 0x01, 0x80, 0xff };

		for (size_t f = 0; f < sizeof(flips); f++) {
			struct cr_error *err = NULL;
			struct cr_ring *bad = NULL;

			memcpy(copy, r->signed_blob, r->signed_len);
			copy[i] ^= flips[f];
			ck_assert_msg(cr_ring_decode(copy, r->signed_len, NULL,
						     &bad, &err) < 0,
				      "flip 0x%02x at byte %zu accepted",
				      flips[f], i);
			ck_assert_ptr_null(bad);
			cr_error_free(err);
		}
	}
	free(copy);
	carrier__ring_config_body__free_unpacked(body, NULL);
	carrier__signed_ring_config__free_unpacked(sr, NULL);
	cr_ring_free(r);
}
END_TEST

START_TEST(test_wrong_operator)
{
	struct cr_keypair op, other, dev;
	struct cr_ring_node *nodes = make_nodes(2, 4);
	struct cr_error *err = NULL;
	struct cr_ring *r, *x = NULL;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	test_keypair(CR_ID_OPERATOR, 100, 1, &other);
	r = build(&op, 1, 3, 4);
	decode_expect_err(r->signed_blob, r->signed_len, other.pk,
			  "not by the pinned operator op_");
	/* The message names both operators. */
	ck_assert_int_lt(cr_ring_decode(r->signed_blob, r->signed_len,
					other.pk, &x, &err),
			 0);
	{
		struct cr_id a, b;
		char sa[CR_ID_STRMAX], sb[CR_ID_STRMAX];

		cr_id_from_pk(CR_ID_OPERATOR, op.pk, &a);
		cr_id_from_pk(CR_ID_OPERATOR, other.pk, &b);
		ck_assert_ptr_nonnull(strstr(cr_error_msg(err),
					     cr_id_format(&a, sa)));
		ck_assert_ptr_nonnull(strstr(cr_error_msg(err),
					     cr_id_format(&b, sb)));
		err = cr_error_free(err);
	}

	/* Only operator keys sign rings; a key pair whose halves do not
	 * match produces a configuration that does not verify. */
	test_keypair(CR_ID_DEVICE, 100, 2, &dev);
	cr_check_expect_err(cr_ring_build(&dev, 1, 0, nodes, 2, &x, &err), &err,
			    "operator key");
	memcpy(other.pk, op.pk, CR_PKLEN);
	cr_check_expect_err(cr_ring_build(&other, 1, 0, nodes, 2, &x, &err),
			    &err, "does not verify");
	ck_assert_ptr_null(x);
	free(nodes);
	cr_ring_free(r);
}
END_TEST

START_TEST(test_garbage)
{
	Carrier__SignedRingConfig sr = CARRIER__SIGNED_RING_CONFIG__INIT;
	struct cr_keypair op;
	struct cr_ring *r;
	uint8_t *big, *buf;
	size_t len;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	r = build(&op, 1, 3, 5);

	decode_expect_err(r->signed_blob, 0, NULL, "empty");
	decode_expect_err(NULL, 10, NULL, "empty");
	decode_expect_err((const uint8_t *)"\xff\xff\xff\xff\xff", 5, NULL,
			  "not a valid SignedRingConfig");
	/* Truncated anywhere. */
	for (size_t cut = 1; cut < r->signed_len; cut++) {
		struct cr_error *err = NULL;
		struct cr_ring *x = NULL;

		ck_assert_msg(cr_ring_decode(r->signed_blob, cut, NULL, &x,
					     &err) < 0,
			      "truncated at %zu accepted", cut);
		ck_assert_ptr_nonnull(err);
		cr_error_free(err);
	}
	decode_expect_err(r->signed_blob, r->signed_len - 1, NULL,
			  "truncated or corrupt");

	/* Oversized: refused on its length alone. */
	big = calloc(1, CP_RING_CONFIG_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memcpy(big, r->signed_blob, r->signed_len);
	decode_expect_err(big, CP_RING_CONFIG_MAX + 1, NULL,
			  "more than the limit of 262144");
	free(big);

	/* Unsigned: a body and no signature. */
	{
		Carrier__SignedRingConfig *in =
			carrier__signed_ring_config__unpack(NULL,
							    r->signed_len,
							    r->signed_blob);

		ck_assert_ptr_nonnull(in);
		sr.body = in->body;
		len = carrier__signed_ring_config__get_packed_size(&sr);
		buf = malloc(len);
		carrier__signed_ring_config__pack(&sr, buf);
		decode_expect_err(buf, len, NULL, "unsigned");
		free(buf);
		/* A short signature. */
		sr.signature.data = in->signature.data;
		sr.signature.len = 63;
		len = carrier__signed_ring_config__get_packed_size(&sr);
		buf = malloc(len);
		carrier__signed_ring_config__pack(&sr, buf);
		decode_expect_err(buf, len, NULL, "signature is 63 bytes");
		free(buf);
		/* No body. */
		sr.body.len = 0;
		sr.signature.len = 64;
		len = carrier__signed_ring_config__get_packed_size(&sr);
		buf = malloc(len);
		carrier__signed_ring_config__pack(&sr, buf);
		decode_expect_err(buf, len, NULL, "empty body");
		free(buf);
		carrier__signed_ring_config__free_unpacked(in, NULL);
	}
	/* A signed body that is not a RingConfigBody. */
	buf = sign_body(&op, (const uint8_t *)"\x0a\x05zz", 4, &len);
	decode_expect_err(buf, len, NULL, "body is malformed");
	free(buf);
	cr_ring_free(r);
}
END_TEST

START_TEST(test_text_errors)
{
	struct cr_keypair op;
	struct cr_error *err = NULL;
	struct cr_ring *r, *x = NULL;
	char *text, *p;
	size_t cap;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	r = build(&op, 1, 3, 6);
	cap = 2 * r->signed_len + 256;
	text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	snprintf(text, cap, "korhal-ring-v1 ");
	sodium_bin2base64(text + strlen(text), cap - strlen(text),
			  r->signed_blob, r->signed_len,
			  sodium_base64_VARIANT_ORIGINAL);
	ck_assert_int_eq(cr_ring_parse_text(text, strlen(text), NULL, &x,
					    &err),
			 0);
	x = cr_ring_free(x);

	cr_check_expect_err(cr_ring_parse_text("", 0, NULL, &x, &err), &err,
			    "empty");
	cr_check_expect_err(cr_ring_parse_text("# only a comment\n\n", 18, NULL,
					       &x, &err),
			    &err, "no 'korhal-ring-v1' line");
	cr_check_expect_err(cr_ring_parse_text("hello\n", 6, NULL, &x, &err),
			    &err, "line 1: expected 'korhal-ring-v1 BASE64'");
	cr_check_expect_err(cr_ring_parse_text("#\nkorhal-ring-v2 AAAA\n", 22,
					       NULL, &x, &err),
			    &err, "line 2");
	cr_check_expect_err(cr_ring_parse_text("korhal-ring-v1\n", 15, NULL, &x,
					       &err),
			    &err, "line 1");
	cr_check_expect_err(cr_ring_parse_text("korhal-ring-v1 AA!A\n", 20,
					       NULL, &x, &err),
			    &err, "not valid base64");
	cr_check_expect_err(cr_ring_parse_text("korhal-ring-v1 AAAA BBBB\n", 25,
					       NULL, &x, &err),
			    &err, "not valid base64");
	cr_check_expect_err(cr_ring_parse_text("korhal-ring-v1 AAAA\0\n", 21,
					       NULL, &x, &err),
			    &err, "NUL");

	/* Two configuration lines. */
	{
		size_t len = strlen(text);
		char *two = malloc(2 * len + 4);

		snprintf(two, 2 * len + 4, "%s\n%s\n", text, text);
		cr_check_expect_err(cr_ring_parse_text(two, strlen(two), NULL,
						       &x, &err),
				    &err, "lines 1 and 2");
		free(two);
	}
	/* Truncated base64 (a line cut short by a mail client). */
	p = text + strlen(text) / 2;
	*p = '\0';
	ck_assert_int_lt(cr_ring_parse_text(text, strlen(text), NULL, &x,
					    &err),
			 0);
	err = cr_error_free(err);
	/* Oversized files are refused before decoding. */
	{
		size_t n = 2 * CP_RING_CONFIG_MAX + 1;
		char *huge = malloc(n);

		memset(huge, '#', n);
		cr_check_expect_err(cr_ring_parse_text(huge, n, NULL, &x, &err),
				    &err, "more than the limit");
		memcpy(huge, "korhal-ring-v1 ", 15);
		memset(huge + 15, 'A', n - 15);
		cr_check_expect_err(cr_ring_parse_text(huge, n - 100, NULL, &x,
						       &err),
				    &err, "longer than the limit");
		free(huge);
	}
	ck_assert_ptr_null(x);
	free(text);
	cr_ring_free(r);
}
END_TEST

START_TEST(test_invalid_content)
{
	struct cr_ring_node *nodes = make_nodes(4, 7);
	struct cr_keypair op;
	struct cr_error *err = NULL;
	struct cr_ring *x = NULL;
	uint8_t *body, *blob;
	size_t blen, len;
	static const struct {
		const char *addr;
		const char *want;
	} bad_addrs[] = {
		{ "", "empty" },
		{ "10.0.0.1", "no port" },
		{ "10.0.0.1:", "no valid port" },
		{ "10.0.0.1:0", "out of range" },
		{ "10.0.0.1:65536", "out of range" },
		{ "10.0.0.1:45x", "no valid port" },
		{ "10.0.0.1:-1", "no valid port" },
		{ ":4500", "no host" },
		{ "10.0.1:4500", "dotted-quad" },
		{ "300.0.0.1:4500", "dotted-quad" },
		{ "2001:db8::1:4500", "without brackets" },
		{ "[2001:db8::zz]:4500", "not an IPv6" },
		{ "[]:4500", "not [V6]:PORT" },
		{ "bad_host:4500", "valid host name" },
		{ "-bad.example:4500", "valid host name" },
		{ "a..b:4500", "valid host name" },
		{ "has space:4500", "non-printable" },
		{ "tab\there:4500", "non-printable" },
	};

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);

	/* Duplicate node keys: cr_ring_build refuses through decode, and a
	 * hand-made signed body is refused too. */
	memcpy(nodes[3].pk, nodes[1].pk, CR_PKLEN);
	cr_check_expect_err(cr_ring_build(&op, 1, 0, nodes, 4, &x, &err), &err,
			    "listed twice (entries 1 and 3)");
	body = pack_body(&op, 1, nodes, 4, NULL, &blen);
	blob = sign_body(&op, body, blen, &len);
	decode_expect_err(blob, len, op.pk, "listed twice");
	free(blob);
	free(body);
	free(nodes);
	nodes = make_nodes(4, 7);

	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		body = pack_body(&op, 1, nodes, 4, bad_addrs[i].addr, &blen);
		blob = sign_body(&op, body, blen, &len);
		ck_assert_int_lt(cr_ring_decode(blob, len, NULL, &x, &err), 0);
		ck_assert_msg(strstr(cr_error_msg(err), bad_addrs[i].want) !=
					      NULL &&
				      strstr(cr_error_msg(err),
					     "ring node 0") != NULL,
			      "'%s': error '%s'", bad_addrs[i].addr,
			      cr_error_msg(err));
		err = cr_error_free(err);
		free(blob);
		free(body);
	}
	/* Good ones, including a host name, which is not resolved. */
	{
		static const char *good[] = { "192.0.2.1:1", "[::1]:65535",
					      "node-7.ring.example:4500",
					      "localhost:4500" };

		for (size_t i = 0; i < 4; i++) {
			snprintf(nodes[0].addr, sizeof(nodes[0].addr), "%s",
				 good[i]);
			ck_assert_msg(cr_ring_build(&op, 1, 0, nodes, 4, &x,
						    &err) == 0,
				      "%s: %s", good[i], cr_error_msg(err));
			x = cr_ring_free(x);
		}
	}
	/* An address as long as the field allows is fine; one character more
	 * (only possible in a hand-made body) is not. */
	{
		char addr[CR_RING_ADDR_MAX + 1];

		memset(addr, 'a', 30);
		addr[30] = '.';
		memset(addr + 31, 'b', 27);
		memcpy(addr + 58, ":4500", 6);
		ck_assert_uint_eq(strlen(addr), CR_RING_ADDR_MAX - 1);
		memcpy(nodes[1].addr, addr, CR_RING_ADDR_MAX);
		ck_assert_msg(cr_ring_build(&op, 1, 0, nodes, 4, &x, &err) ==
				      0,
			      "%s", cr_error_msg(err));
		x = cr_ring_free(x);
		snprintf(nodes[1].addr, sizeof(nodes[1].addr), "10.9.9.9:1");
		memcpy(addr + 58, ":45000", 7);
		body = pack_body(&op, 1, nodes, 4, addr, &blen);
		blob = sign_body(&op, body, blen, &len);
		decode_expect_err(blob, len, NULL, "longer than 63 characters");
		free(blob);
		free(body);
	}

	/* Epoch 0, no nodes, weights over the limit, bad key lengths. */
	cr_check_expect_err(cr_ring_build(&op, 0, 0, nodes, 4, &x, &err), &err,
			    "epoch");
	body = pack_body(&op, 0, nodes, 4, NULL, &blen);
	blob = sign_body(&op, body, blen, &len);
	decode_expect_err(blob, len, NULL, "epoch 0");
	free(blob);
	free(body);
	cr_check_expect_err(cr_ring_build(&op, 1, 0, nodes, 0, &x, &err), &err,
			    "at least one node");
	body = pack_body(&op, 1, nodes, 0, NULL, &blen);
	blob = sign_body(&op, body, blen, &len);
	decode_expect_err(blob, len, NULL, "no nodes");
	free(blob);
	free(body);
	nodes[0].weight = 65536;
	cr_check_expect_err(cr_ring_build(&op, 1, 0, nodes, 4, &x, &err), &err,
			    "weight 65536");
	nodes[0].weight = 65535;
	ck_assert_int_eq(cr_ring_build(&op, 1, 0, nodes, 4, &x, &err), 0);
	x = cr_ring_free(x);
	nodes[0].weight = 1;
	/* A node key that is not a curve point (all zeros: small order). */
	memset(nodes[0].pk, 0, CR_PKLEN);
	cr_check_expect_err(cr_ring_build(&op, 1, 0, nodes, 4, &x, &err), &err,
			    "not a valid Ed25519 key");
	free(nodes);
	ck_assert_ptr_null(x);
}
END_TEST

START_TEST(test_node_count_limit)
{
	struct cr_keypair op;
	struct cr_ring_node *nodes = make_nodes(CP_RING_NODES_MAX + 1, 8);
	struct cr_error *err = NULL;
	struct cr_ring *x = NULL;
	uint8_t *body, *blob;
	size_t blen, len;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	ck_assert_int_eq(cr_ring_build(&op, 1, 0, nodes, CP_RING_NODES_MAX, &x,
				       &err),
			 0);
	ck_assert_uint_eq(x->n_nodes, CP_RING_NODES_MAX);
	x = cr_ring_free(x);
	cr_check_expect_err(cr_ring_build(&op, 1, 0, nodes,
					  CP_RING_NODES_MAX + 1, &x, &err),
			    &err, "at most 1024 nodes");
	/* Counted in the wire format before the body is unpacked. */
	body = pack_body(&op, 1, nodes, CP_RING_NODES_MAX + 1, NULL,
			 &blen);
	blob = sign_body(&op, body, blen, &len);
	decode_expect_err(blob, len, NULL, "lists 1025 nodes");
	free(blob);
	free(body);
	free(nodes);
}
END_TEST

/* ---- pinning ---------------------------------------------------------- */

START_TEST(test_pin)
{
	struct cr_keypair op, other;
	struct cr_error *err = NULL;
	struct cr_ring *r1, *r5, *r9, *o5;
	struct cr_id opid, otherid;
	char pin[128], want[160], b64[64];
	struct stat st;
	char *text;

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	test_keypair(CR_ID_OPERATOR, 100, 1, &other);
	cr_id_from_pk(CR_ID_OPERATOR, op.pk, &opid);
	cr_id_from_pk(CR_ID_OPERATOR, other.pk, &otherid);
	r1 = build(&op, 1, 3, 9);
	r5 = build(&op, 5, 3, 9);
	r9 = build(&op, 9, 3, 9);
	o5 = build(&other, 5, 3, 9);
	snprintf(pin, sizeof(pin), "%s/operator.pin", tmpdir);
	sodium_bin2base64(b64, sizeof(b64), op.pk, CR_PKLEN,
			  sodium_base64_VARIANT_ORIGINAL);

	/* Trust on first use creates the file. */
	ck_assert_int_eq(cr_ring_pin_check(pin, r5, NULL, &err), 0);
	ck_assert_int_eq(stat(pin, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	snprintf(want, sizeof(want), "korhal-operator %s 5\n", b64);
	text = read_text(pin);
	ck_assert_str_eq(text, want);
	free(text);

	/* Same epoch: fine.  Higher: fine, and remembered. */
	ck_assert_int_eq(cr_ring_pin_check(pin, r5, NULL, &err), 0);
	ck_assert_int_eq(cr_ring_pin_check(pin, r9, &opid, &err), 0);
	snprintf(want, sizeof(want), "korhal-operator %s 9\n", b64);
	text = read_text(pin);
	ck_assert_str_eq(text, want);
	free(text);

	/* Lower: a rollback.  Another operator: refused. */
	cr_check_expect_err(cr_ring_pin_check(pin, r5, NULL, &err), &err,
			    "epoch 5 is older than epoch 9");
	cr_check_expect_err(cr_ring_pin_check(pin, r1, NULL, &err), &err,
			    "rollback");
	cr_check_expect_err(cr_ring_pin_check(pin, o5, NULL, &err), &err,
			    "pins operator");
	/* The explicit operator must match the ring even when pinned. */
	cr_check_expect_err(cr_ring_pin_check(pin, r9, &otherid, &err), &err,
			    "configured operator");
	text = read_text(pin);
	ck_assert_str_eq(text, want);
	free(text);

	/* With an explicit operator, the first use must match it. */
	ck_assert_int_eq(unlink(pin), 0);
	cr_check_expect_err(cr_ring_pin_check(pin, o5, &opid, &err), &err,
			    "configured operator");
	ck_assert_int_eq(access(pin, F_OK), -1);
	ck_assert_int_eq(cr_ring_pin_check(pin, r1, &opid, &err), 0);
	ck_assert_int_eq(access(pin, F_OK), 0);

	/* A damaged pin file is an error, not a fresh start. */
	write_text(pin, "korhal-operator nonsense 3\n");
	cr_check_expect_err(cr_ring_pin_check(pin, r5, NULL, &err), &err,
			    "not a valid operator pin");
	snprintf(want, sizeof(want), "korhal-operator %s -1\n", b64);
	write_text(pin, want);
	cr_check_expect_err(cr_ring_pin_check(pin, r5, NULL, &err), &err,
			    "not a valid operator pin");
	snprintf(want, sizeof(want), "korhal-operator %s 3\nextra\n", b64);
	write_text(pin, want);
	cr_check_expect_err(cr_ring_pin_check(pin, r5, NULL, &err), &err,
			    "not a valid operator pin");
	write_text(pin, "");
	cr_check_expect_err(cr_ring_pin_check(pin, r5, NULL, &err), &err,
			    "not a valid operator pin");
	/* Without the final newline it is still accepted. */
	snprintf(want, sizeof(want), "korhal-operator %s 3", b64);
	write_text(pin, want);
	ck_assert_int_eq(cr_ring_pin_check(pin, r5, NULL, &err), 0);

	cr_ring_free(r1);
	cr_ring_free(r5);
	cr_ring_free(r9);
	cr_ring_free(o5);
}
END_TEST

/* ---- placement -------------------------------------------------------- */

/* A pseudo-random identity hash: BLAKE2b-256("id" || le32(seed) || le32(i)). */
static void test_id(uint32_t seed, uint32_t i, uint8_t id[32])
{
	uint8_t in[10] = { 'i', 'd' };

	put_le32(in + 2, seed);
	put_le32(in + 6, i);
	crypto_generichash(id, 32, in, sizeof(in), NULL, 0);
}

START_TEST(test_rank_deterministic)
{
	struct cr_keypair op;
	struct cr_ring_node *nodes = make_nodes(20, 10), *rev;
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL, *r2 = NULL;
	size_t a[20], b[20], c[25], n;
	uint8_t id[32];

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	ck_assert_int_eq(cr_ring_build(&op, 1, 0, nodes, 20, &r, &err), 0);
	/* The same nodes listed in reverse order. */
	rev = calloc(20, sizeof(*rev));
	for (size_t i = 0; i < 20; i++)
		rev[i] = nodes[19 - i];
	ck_assert_int_eq(cr_ring_build(&op, 2, 0, rev, 20, &r2, &err), 0);

	for (uint32_t k = 0; k < 2000; k++) {
		test_id(1, k, id);
		n = cr_ring_rank(r, id, NULL, a, 20);
		ck_assert_uint_eq(n, 20);
		ck_assert_uint_eq(cr_ring_rank(r, id, NULL, b, 20), 20);
		ck_assert_mem_eq(a, b, sizeof(a));
		/* A full ranking is a permutation. */
		{
			int seen[20] = { 0 };

			for (size_t i = 0; i < 20; i++)
				seen[a[i]]++;
			for (size_t i = 0; i < 20; i++)
				ck_assert_int_eq(seen[i], 1);
		}
		/* A shorter ranking is its prefix. */
		ck_assert_uint_eq(cr_ring_rank(r, id, NULL, b, 3), 3);
		ck_assert_mem_eq(a, b, 3 * sizeof(size_t));
		/* The order of nodes in the configuration does not matter. */
		ck_assert_uint_eq(cr_ring_rank(r2, id, NULL, b, 20), 20);
		for (size_t i = 0; i < 20; i++)
			ck_assert_uint_eq(b[i], 19 - a[i]);
	}
	/* max larger than the ring, and zero. */
	ck_assert_uint_eq(cr_ring_rank(r, id, NULL, c, 25), 20);
	ck_assert_uint_eq(cr_ring_rank(r, id, NULL, c, 0), 0);

	/*
	 * Known answer: devices and servers of every architecture must agree
	 * bit for bit, so any change to the hash or the fixed-point
	 * arithmetic shows up here.  The order was checked against an exact
	 * computation (BLAKE2b from Python's hashlib, -log2(u) with its
	 * decimal module).
	 */
	{
		static const size_t want[20] = { 19, 16, 9,  6, 10, 11, 12,
						 4,  18, 1,  13, 7, 15, 14,
						 8,  0,	 17, 3,	 5, 2 };

		memset(id, 0xa5, sizeof(id));
		ck_assert_uint_eq(cr_ring_rank(r, id, NULL, a, 20), 20);
		for (size_t i = 0; i < 20; i++)
			ck_assert_msg(a[i] == want[i],
				      "rank %zu: node %zu, want %zu", i, a[i],
				      want[i]);
	}
	free(rev);
	free(nodes);
	cr_ring_free(r);
	cr_ring_free(r2);
}
END_TEST

START_TEST(test_rank_alive)
{
	struct cr_keypair op;
	struct cr_ring *r;
	size_t full[10], got[10], n;
	uint8_t alive[10], id[32];

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	r = build(&op, 1, 10, 11);
	for (uint32_t k = 0; k < 500; k++) {
		test_id(2, k, id);
		ck_assert_uint_eq(cr_ring_rank(r, id, NULL, full, 10), 10);
		/* The home set's first node dies: the next ranked takes over
		 * and the rest keep their order. */
		memset(alive, 1, sizeof(alive));
		alive[full[0]] = 0;
		n = cr_ring_rank(r, id, alive, got, 3);
		ck_assert_uint_eq(n, 3);
		ck_assert_mem_eq(got, full + 1, 3 * sizeof(size_t));
		/* Kill half the ring, the five best: the home set is the
		 * sixth, seventh and eighth. */
		for (size_t i = 0; i < 5; i++)
			alive[full[i]] = 0;
		ck_assert_uint_eq(cr_ring_rank(r, id, alive, got, 3), 3);
		ck_assert_mem_eq(got, full + 5, 3 * sizeof(size_t));
		/* Fewer live nodes than asked for. */
		memset(alive, 0, sizeof(alive));
		alive[full[9]] = 1;
		alive[full[4]] = 1;
		ck_assert_uint_eq(cr_ring_rank(r, id, alive, got, 3), 2);
		ck_assert_uint_eq(got[0], full[4]);
		ck_assert_uint_eq(got[1], full[9]);
		memset(alive, 0, sizeof(alive));
		ck_assert_uint_eq(cr_ring_rank(r, id, alive, got, 3), 0);
	}
	cr_ring_free(r);
}
END_TEST

START_TEST(test_rank_weights)
{
	struct cr_keypair op;
	struct cr_ring_node *nodes = make_nodes(4, 12);
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	const uint32_t weights[4] = { 1, 1, 2, 4 };
	const uint32_t total = 200000;
	uint32_t count[4] = { 0 };
	size_t best;
	uint8_t id[32];

	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	for (size_t i = 0; i < 4; i++)
		nodes[i].weight = weights[i];
	ck_assert_int_eq(cr_ring_build(&op, 1, 0, nodes, 4, &r, &err), 0);
	for (uint32_t k = 0; k < total; k++) {
		test_id(3, k, id);
		ck_assert_uint_eq(cr_ring_rank(r, id, NULL, &best, 1), 1);
		count[best]++;
	}
	/* Shares 1/8, 1/8, 2/8, 4/8 within 3% of each (> 10 sigma). */
	for (size_t i = 0; i < 4; i++) {
		double want = (double)total * weights[i] / 8.0;

		printf("weight %u: %u ids (expected %.0f, %.4f)\n",
		       weights[i], count[i], want, count[i] / want);
		ck_assert_msg(dabs(count[i] / want - 1.0) < 0.03,
			      "node %zu (weight %u) holds %u ids, want %.0f",
			      i, weights[i], count[i], want);
	}
	free(nodes);
	cr_ring_free(r);
}
END_TEST

static uint32_t placement_ids(void)
{
	const char *s = getenv("KORHAL_PLACEMENT_IDS");
	unsigned long v;
	char *end;

	if (s == NULL || *s == '\0') {
		const char *q = getenv("CR_UNDER_QEMU");

		if (q != NULL && *q != '\0')
			return 20000;
#ifdef __SANITIZE_ADDRESS__
		return 100000; /* the default leg measures 10^6 */
#else
		return UINTPTR_MAX > UINT32_MAX ? 1000000 : 100000;
#endif
	}
	v = strtoul(s, &end, 10);
	ck_assert_msg(*end == '\0' && v >= 1000 && v <= 100000000,
		      "KORHAL_PLACEMENT_IDS=%s: want 1000..100000000", s);
	return (uint32_t)v;
}

/*
 * Balance over n nodes and movement when node n+1 joins, from one pass over
 * a ring of n+1 nodes: HRW ranks each id the same whether or not a node is
 * present, so the n-node placement is the (n+1)-node ranking with the new
 * node left out.  Every 64th id checks that claim against a real ranking
 * with the new node marked dead.
 */
#define HOME CR_RING_DEFAULT_REPLICAS

static void placement(size_t n)
{
	const size_t R = HOME;
	const uint32_t ids = placement_ids();
	struct cr_keypair op;
	struct cr_ring *r;
	uint32_t *primary = calloc(n, sizeof(uint32_t));
	uint32_t *home = calloc(n, sizeof(uint32_t));
	uint8_t *alive = malloc(n + 1);
	uint64_t moved = 0, home_changed = 0;
	uint32_t pmax = 0, pmin = UINT32_MAX, hmax = 0;
	double pmean, hmean, ptol, htol, mexp, mtol, hexp, hchtol;
	struct timespec t0, t1;

	ck_assert(primary != NULL && home != NULL && alive != NULL);
	test_keypair(CR_ID_OPERATOR, 100, 0, &op);
	r = build(&op, 1, n + 1, 13);
	memset(alive, 1, n + 1);
	alive[n] = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t k = 0; k < ids; k++) {
		size_t out[HOME + 1], old[HOME], m = 0;
		uint8_t id[32];
		int changed = 0;

		test_id(4, k, id);
		ck_assert_uint_eq(cr_ring_rank(r, id, NULL, out, R + 1), R + 1);
		for (size_t i = 0; i < R + 1 && m < R; i++) {
			if (out[i] != n)
				old[m++] = out[i];
			else if (i < R)
				changed = 1;
		}
		primary[old[0]]++;
		for (size_t i = 0; i < R; i++)
			home[old[i]]++;
		moved += out[0] == n;
		home_changed += changed;
		if (k % 64 == 0) {
			size_t real[HOME];

			ck_assert_uint_eq(cr_ring_rank(r, id, alive, real, R),
					  R);
			ck_assert_mem_eq(real, old, sizeof(real));
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = 0; i < n; i++) {
		pmax = primary[i] > pmax ? primary[i] : pmax;
		pmin = primary[i] < pmin ? primary[i] : pmin;
		hmax = home[i] > hmax ? home[i] : hmax;
	}
	pmean = (double)ids / (double)n;
	hmean = (double)ids * (double)R / (double)n;
	/* DESIGN.md's bound; wider when a small run makes it meaningless
	 * (4.5 standard deviations). */
	ptol = dmax(0.10, 4.5 / dsqrt(pmean));
	htol = dmax(0.10, 4.5 / dsqrt(hmean));
	mexp = (double)ids / (double)(n + 1);
	mtol = dmax(0.20, 5.0 / dsqrt(mexp));
	hexp = (double)ids * (double)R / (double)(n + 1);
	hchtol = dmax(0.20, 5.0 / dsqrt(hexp));
	printf("placement: %u ids over %zu nodes (weights 1), %.1f s\n", ids,
	       n,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("  first choice: mean %.1f, fullest %u (%.4fx), emptiest %u "
	       "(%.4fx)\n",
	       pmean, pmax, pmax / pmean, pmin, pmin / pmean);
	printf("  home set of %zu: mean %.1f, fullest %u (%.4fx)\n", R, hmean,
	       hmax, hmax / hmean);
	printf("  adding node %zu: %" PRIu64 " ids move (%.4f%%, expected "
	       "1/%zu = %.4f%%, ratio %.4f)\n",
	       n + 1, moved, 100.0 * (double)moved / ids, n + 1,
	       100.0 / (double)(n + 1), (double)moved / mexp);
	printf("  home sets changed: %" PRIu64 " (%.4f%%, expected %zu/%zu = "
	       "%.4f%%, ratio %.4f)\n",
	       home_changed, 100.0 * (double)home_changed / ids, R, n + 1,
	       100.0 * (double)R / (double)(n + 1),
	       (double)home_changed / hexp);
	fflush(stdout);
	ck_assert_msg(pmax <= pmean * (1.0 + ptol),
		      "fullest node holds %u ids, %.4fx the mean", pmax,
		      pmax / pmean);
	ck_assert_msg(hmax <= hmean * (1.0 + htol),
		      "fullest home set count %u, %.4fx the mean", hmax,
		      hmax / hmean);
	ck_assert_msg(dabs((double)moved / mexp - 1.0) <= mtol,
		      "adding a node moved %" PRIu64 " ids, expected %.0f",
		      moved, mexp);
	ck_assert_msg(dabs((double)home_changed / hexp - 1.0) <= hchtol,
		      "adding a node changed %" PRIu64
		      " home sets, expected %.0f",
		      home_changed, hexp);
	free(primary);
	free(home);
	free(alive);
	cr_ring_free(r);
}

START_TEST(test_balance_10)
{
	placement(10);
}
END_TEST

START_TEST(test_balance_100)
{
	placement(100);
}
END_TEST

/* ---- operator sets (k of n) ------------------------------------------------ */

static struct cr_ring_opset opset3(const struct cr_keypair *a,
				   const struct cr_keypair *b,
				   const struct cr_keypair *c, uint32_t k)
{
	struct cr_ring_opset set = { .n = 3, .threshold = k };

	memcpy(set.pks[0], a->pk, CR_PKLEN);
	memcpy(set.pks[1], b->pk, CR_PKLEN);
	memcpy(set.pks[2], c->pk, CR_PKLEN);
	return set;
}

static struct cr_ring *build_ops(const struct cr_keypair *signer,
				 const struct cr_ring_opset *set,
				 const struct cr_ring *prev, uint64_t epoch,
				 size_t n_nodes)
{
	struct cr_ring_node *nodes = make_nodes(n_nodes, 77);
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc = cr_ring_build_set(signer, set, prev, epoch, 0, nodes, n_nodes,
				   &r, &err);

	ck_assert_msg(rc == 0, "cr_ring_build_set: %s", cr_error_msg(err));
	free(nodes);
	return r;
}

/* r signed by one more key; r is freed. */
static struct cr_ring *sign_more(struct cr_ring *r, const struct cr_keypair *kp)
{
	struct cr_error *err = NULL;
	struct cr_ring *next = NULL;

	ck_assert_msg(cr_ring_sign(r, kp, &next, &err) == 0, "sign: %s",
		      cr_error_msg(err));
	cr_ring_free(r);
	return next;
}

/*
 * r's SignedRingConfig with one more OperatorSignature by kp, whether kp
 * belongs to the set or signed already (what cr_ring_sign refuses to do).
 */
static uint8_t *raw_sign(const struct cr_ring *r, const struct cr_keypair *kp,
			 size_t *len)
{
	Carrier__SignedRingConfig *s = carrier__signed_ring_config__unpack(
		NULL, r->signed_len, r->signed_blob);
	Carrier__OperatorSignature g = CARRIER__OPERATOR_SIGNATURE__INIT;
	Carrier__OperatorSignature *sigs[40], **orig;
	uint8_t *msg, pk[CR_PKLEN], sig[CR_SIGLEN], *out;
	size_t n;

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_lt(s->n_signatures, 39);
	msg = malloc(sizeof(ring_ctx) + s->body.len);
	memcpy(msg, ring_ctx, sizeof(ring_ctx));
	memcpy(msg + sizeof(ring_ctx), s->body.data, s->body.len);
	crypto_sign_detached(sig, NULL, msg, sizeof(ring_ctx) + s->body.len,
			     kp->sk);
	free(msg);
	memcpy(pk, kp->pk, CR_PKLEN);
	g.pk.data = pk;
	g.pk.len = CR_PKLEN;
	g.signature.data = sig;
	g.signature.len = CR_SIGLEN;
	n = s->n_signatures;
	for (size_t i = 0; i < n; i++)
		sigs[i] = s->signatures[i];
	sigs[n] = &g;
	orig = s->signatures;
	s->signatures = sigs;
	s->n_signatures = n + 1;
	*len = carrier__signed_ring_config__get_packed_size(s);
	out = malloc(*len);
	carrier__signed_ring_config__pack(s, out);
	s->signatures = orig;
	s->n_signatures = n;
	carrier__signed_ring_config__free_unpacked(s, NULL);
	return out;
}

/* Decodes buf; returns the number of valid signatures, or -1. */
static int decode_count(const uint8_t *buf, size_t len, const char *want_err)
{
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;
	int rc = cr_ring_decode(buf, len, NULL, &r, &err);

	if (want_err != NULL) {
		cr_check_expect_err(rc, &err, want_err);
		return -1;
	}
	ck_assert_msg(rc == 0, "decode: %s", cr_error_msg(err));
	rc = (int)r->n_signed;
	cr_ring_free(r);
	return rc;
}

START_TEST(test_threshold)
{
	struct cr_keypair a, b, c, d;
	struct cr_ring_opset set;
	struct cr_error *err = NULL;
	struct cr_ring *r1, *r2, *x = NULL;
	char path[128];
	uint8_t *blob;
	size_t len;

	test_keypair(CR_ID_OPERATOR, 200, 0, &a);
	test_keypair(CR_ID_OPERATOR, 200, 1, &b);
	test_keypair(CR_ID_OPERATOR, 200, 2, &c);
	test_keypair(CR_ID_OPERATOR, 200, 3, &d); /* outside the set */
	set = opset3(&a, &b, &c, 2);

	/* 1 of 3: a draft, refused by every decoder. */
	r1 = build_ops(&a, &set, NULL, 1, 3);
	ck_assert_int_eq(r1->complete, 0);
	ck_assert_uint_eq(r1->n_signed, 1);
	decode_count(r1->signed_blob, r1->signed_len,
		     "signed by 1 of its 3 operators, it needs 2");
	snprintf(path, sizeof(path), "%s/draft", tmpdir);
	ck_assert_int_eq(cr_ring_save(r1, path, &err), 0);
	cr_check_expect_err(cr_ring_load(path, NULL, &x, &err), &err,
			    "1 of its 3");
	ck_assert_int_eq(cr_ring_load_draft(path, &x, &err), 0);
	ck_assert_int_eq(x->complete, 0);
	x = cr_ring_free(x);

	/* The same key twice counts once. */
	blob = raw_sign(r1, &a, &len);
	decode_count(blob, len, "signed by 1 of its 3 operators");
	free(blob);
	/* A key outside the set counts for nothing, and cannot sign. */
	blob = raw_sign(r1, &d, &len);
	decode_count(blob, len, "signed by 1 of its 3 operators");
	free(blob);
	cr_check_expect_err(cr_ring_sign(r1, &d, &x, &err), &err,
			    "nothing to sign");
	cr_check_expect_err(cr_ring_sign(r1, &a, &x, &err), &err,
			    "nothing to sign");

	/* 2 of 3: accepted; an outsider's extra signature is ignored. */
	r2 = sign_more(r1, &b);
	ck_assert_int_eq(r2->complete, 1);
	ck_assert_int_eq(decode_count(r2->signed_blob, r2->signed_len, NULL),
			 2);
	blob = raw_sign(r2, &d, &len);
	ck_assert_int_eq(decode_count(blob, len, NULL), 2);
	free(blob);
	r2 = sign_more(r2, &c);
	ck_assert_int_eq(decode_count(r2->signed_blob, r2->signed_len, NULL),
			 3);
	/* Text form round trip keeps the set and the signatures. */
	ck_assert_int_eq(cr_ring_save(r2, path, &err), 0);
	ck_assert_int_eq(cr_ring_load(path, NULL, &x, &err), 0);
	ck_assert_mem_eq(x->set_hash, r2->set_hash, CR_RING_SETHASH_LEN);
	ck_assert_uint_eq(x->ops.threshold, 2);
	x = cr_ring_free(x);
	cr_ring_free(r2);

	/* 3 of 3 with two signatures: refused. */
	set.threshold = 3;
	r1 = sign_more(build_ops(&a, &set, NULL, 1, 3), &c);
	decode_count(r1->signed_blob, r1->signed_len,
		     "signed by 2 of its 3 operators, it needs 3");
	cr_ring_free(r1);

	/* The set's hash does not depend on the order of the keys. */
	{
		struct cr_ring_opset p = opset3(&a, &b, &c, 2);
		struct cr_ring_opset q = opset3(&c, &a, &b, 2);
		uint8_t hp[32], hq[32];

		cr_ring_opset_hash(&p, hp);
		cr_ring_opset_hash(&q, hq);
		ck_assert_mem_eq(hp, hq, 32);
		q.threshold = 3;
		cr_ring_opset_hash(&q, hq);
		ck_assert_int_ne(memcmp(hp, hq, 32), 0);
	}
}
END_TEST

START_TEST(test_rotation)
{
	struct cr_keypair a, b, c, a2;
	struct cr_ring_opset s1, s2;
	struct cr_error *err = NULL;
	struct cr_ring *e1, *e2, *e3, *f3, *x = NULL;
	struct cr_ring_anchor anc;
	char pin[128], want[160], b64[64], sid[CR_RING_SETID_STRMAX];
	char *text;

	test_keypair(CR_ID_OPERATOR, 201, 0, &a);
	test_keypair(CR_ID_OPERATOR, 201, 1, &b);
	test_keypair(CR_ID_OPERATOR, 201, 2, &c);
	test_keypair(CR_ID_OPERATOR, 201, 3, &a2); /* a's new key */
	s1 = opset3(&a, &b, &c, 2);
	s2 = opset3(&a2, &b, &c, 2);
	snprintf(pin, sizeof(pin), "%s/ring.pin", tmpdir);

	e1 = sign_more(build_ops(&a, &s1, NULL, 1, 3), &b);
	ck_assert_int_eq(cr_ring_pin_check(pin, e1, NULL, &err), 0);
	sodium_bin2base64(b64, sizeof(b64), e1->set_hash, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(want, sizeof(want), "korhal-operators %s 1\n", b64);
	text = read_text(pin);
	ck_assert_str_eq(text, want);
	free(text);

	/* Epoch 2 rotates a to a2: a signs the handover only (it leaves the
	 * set), b both, a2 the configuration. */
	e2 = build_ops(&a, &s2, e1, 2, 3);
	ck_assert_uint_eq(e2->n_signed, 0);
	ck_assert_uint_eq(e2->n_handovers, 1);
	e2 = sign_more(e2, &b);
	ck_assert_uint_eq(e2->n_signed, 1);
	decode_count(e2->signed_blob, e2->signed_len, "signed by 1 of its 3");
	e2 = sign_more(e2, &a2);
	ck_assert_int_eq(e2->complete, 1);
	ck_assert_int_eq(cr_ring_decode_anchored(e2->signed_blob,
						 e2->signed_len, e1->set_hash,
						 1, &x, &err),
			 0);
	x = cr_ring_free(x);
	/* A handover at or before the epoch the pin holds does not count. */
	cr_check_expect_err(cr_ring_decode_anchored(e2->signed_blob,
						    e2->signed_len,
						    e1->set_hash, 2, &x, &err),
			    &err, "not by the pinned operator");

	/* Epoch 3 under the new set carries the handover on: a device still
	 * pinned to the first set at epoch 1 follows it. */
	e3 = sign_more(build_ops(&b, &s2, e2, 3, 4), &a2);
	ck_assert_uint_eq(e3->n_handovers, 1);
	ck_assert_int_eq(cr_ring_pin_check(pin, e3, NULL, &err), 0);
	sodium_bin2base64(b64, sizeof(b64), e3->set_hash, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(want, sizeof(want), "korhal-operators %s 3\n", b64);
	text = read_text(pin);
	ck_assert_str_eq(text, want);
	free(text);
	/* The old set cannot come back after the handover. */
	cr_check_expect_err(cr_ring_pin_check(pin, e1, NULL, &err), &err,
			    "pins operator");

	/* The new set alone, without the old set's handover: refused by a
	 * device pinned to the old set. */
	f3 = sign_more(build_ops(&a2, &s2, NULL, 3, 4), &b);
	ck_assert_int_eq(cr_ring_pin_check(pin, f3, NULL, &err), 0);
	unlink(pin);
	ck_assert_int_eq(cr_ring_pin_check(pin, e1, NULL, &err), 0);
	cr_check_expect_err(cr_ring_pin_check(pin, f3, NULL, &err), &err,
			    "pins operator");
	cr_ring_free(f3);

	/* A handover signed by one of the old set: refused. */
	f3 = sign_more(build_ops(&a2, &s2, e1, 2, 3), &c);
	ck_assert_int_eq(f3->complete, 0);
	decode_count(f3->signed_blob, f3->signed_len,
		     "signed by 1 of the 3 old operators, it needs 2");
	cr_ring_free(f3);

	/* An explicit pin by set id (--operator opset_...). */
	cr_ring_setid_format(e1->set_hash, sid);
	ck_assert_int_eq(cr_ring_anchor_parse(sid, &anc, &err), 0);
	ck_assert_int_eq(anc.kind, 2);
	unlink(pin);
	ck_assert_int_eq(cr_ring_pin_check_anchor(pin, e3, &anc, &err), 0);
	unlink(pin);
	cr_ring_setid_format(e3->set_hash, sid);
	ck_assert_int_eq(cr_ring_anchor_parse(sid, &anc, &err), 0);
	cr_check_expect_err(cr_ring_pin_check_anchor(pin, e1, &anc, &err), &err,
			    "configured operator");
	sid[10] = 'x';
	cr_check_expect_err(cr_ring_anchor_parse(sid, &anc, &err), &err,
			    "not an operator set");
	cr_ring_free(e1);
	cr_ring_free(e2);
	cr_ring_free(e3);
}
END_TEST

/*
 * What every receiver of a pushed configuration runs (nodes from their
 * peers, agents and the CLI from their nodes): cr_ring_accept() against
 * the configuration it holds.
 */
START_TEST(test_accept)
{
	struct cr_keypair a, b, c, a2;
	struct cr_ring_opset s1, s2;
	struct cr_error *err = NULL;
	struct cr_ring *e1, *d2, *e2, *e3, *e4, *got = NULL, *x = NULL;
	char pin[128], saved[128];
	uint8_t *blob;
	size_t len;

	test_keypair(CR_ID_OPERATOR, 203, 0, &a);
	test_keypair(CR_ID_OPERATOR, 203, 1, &b);
	test_keypair(CR_ID_OPERATOR, 203, 2, &c);
	test_keypair(CR_ID_OPERATOR, 203, 3, &a2);
	s1 = opset3(&a, &b, &c, 2);
	s2 = opset3(&a2, &b, &c, 2);
	snprintf(pin, sizeof(pin), "%s/node.pin", tmpdir);
	snprintf(saved, sizeof(saved), "%s/ring", tmpdir);
	e1 = sign_more(build_ops(&a, &s1, NULL, 1, 3), &c);
	ck_assert_int_eq(cr_ring_pin_check(pin, e1, NULL, &err), 0);

	/* Epoch 2 signed by 1 of 3: refused, nothing saved, the pin stays. */
	d2 = build_ops(&b, &s1, e1, 2, 4);
	cr_check_expect_err(cr_ring_accept(d2->signed_blob, d2->signed_len, e1,
					   pin, saved, &got, &err),
			    &err, "signed by 1 of its 3 operators");
	ck_assert_int_ne(access(saved, F_OK), 0);
	/* By 2 of 3: accepted, saved, the pin moves to epoch 2. */
	e2 = sign_more(d2, &a);
	ck_assert_int_eq(cr_ring_accept(e2->signed_blob, e2->signed_len, e1,
					pin, saved, &got, &err),
			 0);
	ck_assert_uint_eq(got->epoch, 2);
	got = cr_ring_free(got);
	ck_assert_int_eq(cr_ring_load(saved, NULL, &x, &err), 0);
	ck_assert_uint_eq(x->epoch, 2);
	x = cr_ring_free(x);
	cr_check_expect_err(cr_ring_pin_check(pin, e1, NULL, &err), &err,
			    "rollback");

	/* Rotation at epoch 3, then epoch 4 by the new set: a receiver still
	 * at epoch 2 that missed epoch 3 takes epoch 4 through the chain. */
	e3 = sign_more(sign_more(build_ops(&a, &s2, e2, 3, 4), &b), &a2);
	e4 = sign_more(build_ops(&a2, &s2, e3, 4, 3), &c);
	ck_assert_int_eq(cr_ring_accept(e4->signed_blob, e4->signed_len, e2,
					pin, NULL, &got, &err),
			 0);
	ck_assert_mem_eq(got->set_hash, e4->set_hash, CR_RING_SETHASH_LEN);
	got = cr_ring_free(got);
	/* The old key, now outside the set, with one of the new: refused. */
	x = build_ops(&a2, &s2, e4, 5, 4);
	cr_check_expect_err(cr_ring_sign(x, &a, &got, &err), &err,
			    "nothing to sign");
	blob = raw_sign(x, &a, &len);
	cr_check_expect_err(cr_ring_accept(blob, len, e4, pin, NULL, &got,
					   &err),
			    &err, "signed by 1 of its 3 operators");
	free(blob);
	cr_ring_free(x);
	cr_ring_free(e1);
	cr_ring_free(e2);
	cr_ring_free(e3);
	cr_ring_free(e4);
}
END_TEST

/* A one-operator ring (and its pin file of earlier versions) becomes a
 * ring of three operators. */
START_TEST(test_single_to_set)
{
	struct cr_keypair op, b, c;
	struct cr_ring_opset set;
	struct cr_error *err = NULL;
	struct cr_ring *r1, *m2;
	struct cr_id opid;
	char pin[128], pin2[128];
	char *text;

	test_keypair(CR_ID_OPERATOR, 202, 0, &op);
	test_keypair(CR_ID_OPERATOR, 202, 1, &b);
	test_keypair(CR_ID_OPERATOR, 202, 2, &c);
	cr_id_from_pk(CR_ID_OPERATOR, op.pk, &opid);
	snprintf(pin, sizeof(pin), "%s/op.pin", tmpdir);
	snprintf(pin2, sizeof(pin2), "%s/op2.pin", tmpdir);
	r1 = build(&op, 1, 3, 9);
	ck_assert_uint_eq(r1->ops.n, 1);
	ck_assert_int_eq(cr_ring_pin_check(pin, r1, NULL, &err), 0);
	text = read_text(pin);
	ck_assert_ptr_nonnull(strstr(text, "korhal-operator "));
	free(text);

	set = opset3(&op, &b, &c, 2);
	m2 = build_ops(&op, &set, r1, 2, 3);
	ck_assert_int_eq(m2->complete, 0);
	m2 = sign_more(m2, &b);
	ck_assert_int_eq(m2->complete, 1);
	ck_assert_int_eq(cr_ring_pin_check(pin, m2, NULL, &err), 0);
	text = read_text(pin);
	ck_assert_ptr_nonnull(strstr(text, "korhal-operators "));
	free(text);
	/* A daemon given --operator OP_ID of the first ring follows too. */
	ck_assert_int_eq(cr_ring_pin_check(pin2, m2, &opid, &err), 0);
	/* And the one key can no longer change the ring alone. */
	cr_check_expect_err(cr_ring_pin_check(pin, r1, NULL, &err), &err,
			    "pins operator");
	cr_ring_free(r1);
	cr_ring_free(m2);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc;

	tc = tcase_create("config");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_build_decode);
	tcase_add_test(tc, test_tampered);
	tcase_add_test(tc, test_wrong_operator);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_text_errors);
	tcase_add_test(tc, test_invalid_content);
	tcase_add_test(tc, test_node_count_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_majority_replicas);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_pin);
	suite_add_tcase(s, tc);

	tc = tcase_create("operators");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_threshold);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_single_to_set);
	tcase_add_test(tc, test_accept);
	suite_add_tcase(s, tc);

	tc = tcase_create("rank");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rank_deterministic);
	tcase_add_test(tc, test_rank_alive);
	tcase_add_test(tc, test_rank_weights);
	suite_add_tcase(s, tc);

	tc = tcase_create("placement");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_balance_10);
	tcase_add_test(tc, test_balance_100);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(ring_suite());
}
