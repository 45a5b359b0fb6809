/*
 * Tests for cr/noise.h: the published cacophony vectors for every pattern and
 * hash we implement, round trips with random keys, and the error contract
 * (tampering, turns, buffer sizes, protocol names).
 */
#include "cr/noise.h"
#include "cr/util.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <json-c/json.h>
#include <sodium.h>

#include "../check_main.h"

#define VECTORS CR_TEST_DATA "/noise-25519-chachapoly.json"

enum {
	BUF = 1024,
};

/*
 * The vectors we must run: one per pattern and hash.  Every other vector in
 * the file (psk modifiers, other patterns, BLAKE2s, SHA512) is counted and
 * skipped.
 */
static const char *const wanted[] = {
	"Noise_NN_25519_ChaChaPoly_BLAKE2b",
	"Noise_NK_25519_ChaChaPoly_BLAKE2b",
	"Noise_KK_25519_ChaChaPoly_BLAKE2b",
	"Noise_XX_25519_ChaChaPoly_BLAKE2b",
	"Noise_IK_25519_ChaChaPoly_BLAKE2b",
	"Noise_NN_25519_ChaChaPoly_SHA256",
	"Noise_NK_25519_ChaChaPoly_SHA256",
	"Noise_KK_25519_ChaChaPoly_SHA256",
	"Noise_XX_25519_ChaChaPoly_SHA256",
	"Noise_IK_25519_ChaChaPoly_SHA256",
};

enum {
	NWANTED = sizeof(wanted) / sizeof(wanted[0]),
	NBLAKE2B = 5, /* the first five of wanted[] */
};

/* Decodes hex into out; fails the test on bad input or overflow. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t len = strlen(s);

	ck_assert_msg(len % 2 == 0, "odd hex length");
	ck_assert_msg(len / 2 <= cap, "hex too long: %zu", len / 2);
	ck_assert_msg(cr_unhex(s, len / 2, out) == 0, "bad hex");
	return len / 2;
}

/* The hex field `key` of v into out (cap bytes); 0 if absent. */
static int get_hex(json_object *v, const char *key, uint8_t *out, size_t cap,
		   size_t *len)
{
	json_object *f;
	size_t n;

	if (!json_object_object_get_ex(v, key, &f))
		return 0;
	n = unhex(json_object_get_string(f), out, cap);
	if (len != NULL)
		*len = n;
	return 1;
}

static void get_key(json_object *v, const char *key, uint8_t out[32],
		    int *present)
{
	size_t n = 0;

	*present = get_hex(v, key, out, 32, &n);
	if (*present)
		ck_assert_msg(n == 32, "%s is %zu bytes", key, n);
}

/*
 * Runs one vector: both sides with the given keys, every message in order.
 * Messages alternate by their index in the file, the initiator sending the
 * even ones, through the handshake and on into transport (cacophony's
 * convention; for XX the responder sends the first transport message).
 */
static void run_vector(json_object *v, const char *name)
{
	enum cr_noise_pattern pattern;
	enum cr_noise_hash hash;
	struct cr_noise_hs ini, resp;
	struct cr_noise_cipher ci_send, ci_recv, cr_send, cr_recv;
	uint8_t iprol[BUF], rprol[BUF];
	uint8_t is[32], rs_[32], ie[32], re[32], irs[32], rrs[32];
	int has_is, has_rs, has_ie, has_re, has_irs, has_rrs;
	uint8_t want_h[CR_NOISE_HASHLEN_MAX];
	const uint8_t *h;
	uint8_t payload[BUF], ct[BUF], out[BUF], got[BUF];
	size_t iprol_len = 0, rprol_len = 0, want_h_len = 0;
	size_t payload_len, ct_len, out_len, got_len, hlen;
	json_object *msgs;
	size_t i, n;
	int r;

	ck_assert_int_eq(cr_noise_parse_name(name, &pattern, &hash), 0);
	ck_assert(get_hex(v, "init_prologue", iprol, sizeof(iprol),
			  &iprol_len));
	ck_assert(get_hex(v, "resp_prologue", rprol, sizeof(rprol),
			  &rprol_len));
	get_key(v, "init_static", is, &has_is);
	get_key(v, "resp_static", rs_, &has_rs);
	get_key(v, "init_ephemeral", ie, &has_ie);
	get_key(v, "resp_ephemeral", re, &has_re);
	get_key(v, "init_remote_static", irs, &has_irs);
	get_key(v, "resp_remote_static", rrs, &has_rrs);
	ck_assert(has_ie && has_re);
	ck_assert(get_hex(v, "handshake_hash", want_h, sizeof(want_h),
			  &want_h_len));

	r = cr_noise_hs_init(&ini, pattern, hash, 1, iprol, iprol_len,
			     has_is ? is : NULL, has_irs ? irs : NULL);
	ck_assert_msg(r == 0, "%s: initiator init: %d", name, r);
	r = cr_noise_hs_init(&resp, pattern, hash, 0, rprol, rprol_len,
			     has_rs ? rs_ : NULL, has_rrs ? rrs : NULL);
	ck_assert_msg(r == 0, "%s: responder init: %d", name, r);
	cr_noise_hs_set_ephemeral(&ini, ie);
	cr_noise_hs_set_ephemeral(&resp, re);

	ck_assert(json_object_object_get_ex(v, "messages", &msgs));
	n = json_object_array_length(msgs);
	ck_assert_msg(n > 0, "%s: no messages", name);
	for (i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(msgs, i);
		int from_init = i % 2 == 0;
		struct cr_noise_hs *tx = from_init ? &ini : &resp;
		struct cr_noise_hs *rx = from_init ? &resp : &ini;

		ck_assert(get_hex(m, "payload", payload, sizeof(payload),
				  &payload_len));
		ck_assert(get_hex(m, "ciphertext", ct, sizeof(ct), &ct_len));

		if (!cr_noise_hs_done(tx)) {
			ck_assert_msg(cr_noise_hs_my_turn(tx) &&
					      !cr_noise_hs_my_turn(rx),
				      "%s: message %zu: turn", name, i);
			r = cr_noise_hs_write(tx, payload, payload_len, out,
					      sizeof(out), &out_len);
			ck_assert_msg(r == 0, "%s: write %zu: %d", name, i, r);
			r = cr_noise_hs_read(rx, out, out_len, got,
					     sizeof(got), &got_len);
			ck_assert_msg(r == 0, "%s: read %zu: %d", name, i, r);
			if (cr_noise_hs_done(tx)) {
				ck_assert(cr_noise_hs_done(rx));
				ck_assert_int_eq(cr_noise_hs_split(&ini,
						 &ci_send, &ci_recv), 0);
				ck_assert_int_eq(cr_noise_hs_split(&resp,
						 &cr_send, &cr_recv), 0);
			}
		} else {
			struct cr_noise_cipher *send =
				from_init ? &ci_send : &cr_send;
			struct cr_noise_cipher *recv =
				from_init ? &cr_recv : &ci_recv;

			ck_assert(payload_len + CR_NOISE_TAGLEN <= sizeof(out));
			r = cr_noise_encrypt(send, NULL, 0, payload,
					     payload_len, out);
			ck_assert_msg(r == 0, "%s: encrypt %zu: %d", name, i,
				      r);
			out_len = payload_len + CR_NOISE_TAGLEN;
			r = cr_noise_decrypt(recv, NULL, 0, out, out_len, got);
			ck_assert_msg(r == 0, "%s: decrypt %zu: %d", name, i,
				      r);
			got_len = out_len - CR_NOISE_TAGLEN;
		}
		ck_assert_msg(out_len == ct_len &&
				      memcmp(out, ct, ct_len) == 0,
			      "%s: message %zu: ciphertext differs", name, i);
		ck_assert_msg(got_len == payload_len &&
				      memcmp(got, payload, payload_len) == 0,
			      "%s: message %zu: payload differs", name, i);
	}
	ck_assert_msg(cr_noise_hs_done(&ini) && cr_noise_hs_done(&resp),
		      "%s: handshake incomplete", name);

	h = cr_noise_hs_hash(&ini, &hlen);
	ck_assert_msg(hlen == want_h_len && memcmp(h, want_h, hlen) == 0,
		      "%s: initiator handshake hash", name);
	h = cr_noise_hs_hash(&resp, &hlen);
	ck_assert_msg(hlen == want_h_len && memcmp(h, want_h, hlen) == 0,
		      "%s: responder handshake hash", name);

	/* Each side ends up knowing the other's static key, if there is one. */
	if (has_rs) {
		ck_assert_int_eq(cr_noise_hs_remote_static(&ini, out), 0);
		crypto_scalarmult_base(got, rs_);
		ck_assert(memcmp(out, got, 32) == 0);
	}
	if (has_is) {
		ck_assert_int_eq(cr_noise_hs_remote_static(&resp, out), 0);
		crypto_scalarmult_base(got, is);
		ck_assert(memcmp(out, got, 32) == 0);
	}
	cr_noise_hs_wipe(&ini);
	cr_noise_hs_wipe(&resp);
}

START_TEST(test_vectors)
{
	json_object *root, *vectors;
	size_t i, n, ran = 0, ran_b2 = 0, skipped = 0;
	size_t seen[NWANTED] = { 0 };

	root = json_object_from_file(VECTORS);
	ck_assert_msg(root != NULL, "cannot parse %s", VECTORS);
	ck_assert(json_object_object_get_ex(root, "vectors", &vectors));
	n = json_object_array_length(vectors);
	for (i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(vectors, i), *f;
		const char *name;
		size_t w;

		ck_assert(json_object_object_get_ex(v, "protocol_name", &f));
		name = json_object_get_string(f);
		for (w = 0; w < NWANTED; w++)
			if (strcmp(name, wanted[w]) == 0)
				break;
		if (w == NWANTED) {
			/* Not ours: the parser must say so too. */
			ck_assert_msg(cr_noise_parse_name(name, NULL, NULL) < 0,
				      "%s accepted", name);
			skipped++;
			continue;
		}
		run_vector(v, name);
		seen[w]++;
		ran++;
		if (w < NBLAKE2B)
			ran_b2++;
	}
	json_object_put(root);

	printf("noise vectors: %zu run (%zu BLAKE2b), %zu skipped, %zu total\n",
	       ran, ran_b2, skipped, n);
	fflush(stdout);
	ck_assert_uint_gt(ran, 0);
	/* Carrier runs IK with BLAKE2b: every BLAKE2b pattern must be run. */
	for (i = 0; i < NBLAKE2B; i++)
		ck_assert_msg(seen[i] > 0, "no vector for %s", wanted[i]);
	ck_assert_uint_eq(ran + skipped, n);
}
END_TEST

/* Keys for one pattern, the shape a caller would pass them in. */
struct pair {
	struct cr_noise_hs ini, resp;
	uint8_t is[32], is_pub[32], rs[32], rs_pub[32];
};

static void pair_init(struct pair *p, enum cr_noise_pattern pattern,
		      enum cr_noise_hash hash)
{
	static const uint8_t prologue[] = "korhal";
	int i_s = pattern == CR_NOISE_KK || pattern == CR_NOISE_XX ||
		  pattern == CR_NOISE_IK;
	int r_s = pattern != CR_NOISE_NN;
	int i_rs = pattern == CR_NOISE_NK || pattern == CR_NOISE_KK ||
		   pattern == CR_NOISE_IK;
	int r_rs = pattern == CR_NOISE_KK;

	randombytes_buf(p->is, sizeof(p->is));
	randombytes_buf(p->rs, sizeof(p->rs));
	crypto_scalarmult_base(p->is_pub, p->is);
	crypto_scalarmult_base(p->rs_pub, p->rs);
	ck_assert_int_eq(cr_noise_hs_init(&p->ini, pattern, hash, 1, prologue,
					  sizeof(prologue), i_s ? p->is : NULL,
					  i_rs ? p->rs_pub : NULL), 0);
	ck_assert_int_eq(cr_noise_hs_init(&p->resp, pattern, hash, 0, prologue,
					  sizeof(prologue), r_s ? p->rs : NULL,
					  r_rs ? p->is_pub : NULL), 0);
}

/* Passes handshake message number `turn` with a small payload. */
static void pair_step(struct pair *p, int turn)
{
	struct cr_noise_hs *tx = turn % 2 == 0 ? &p->ini : &p->resp;
	struct cr_noise_hs *rx = turn % 2 == 0 ? &p->resp : &p->ini;
	uint8_t msg[BUF], pl[BUF];
	size_t msg_len, pl_len;

	ck_assert_int_eq(cr_noise_hs_write(tx, (const uint8_t *)"hi", 2, msg,
					   sizeof(msg), &msg_len), 0);
	ck_assert_int_eq(cr_noise_hs_read(rx, msg, msg_len, pl, sizeof(pl),
					  &pl_len), 0);
	ck_assert(pl_len == 2 && memcmp(pl, "hi", 2) == 0);
}

/* Runs the handshake to its end. */
static void pair_run(struct pair *p)
{
	int turn;

	for (turn = 0; !cr_noise_hs_done(&p->ini); turn++)
		pair_step(p, turn);
	ck_assert(cr_noise_hs_done(&p->resp));
}

START_TEST(test_roundtrip)
{
	static const enum cr_noise_pattern pats[] = {
		CR_NOISE_NN, CR_NOISE_NK, CR_NOISE_KK, CR_NOISE_XX, CR_NOISE_IK,
	};
	enum cr_noise_hash hash = _i % 2 ? CR_NOISE_SHA256 : CR_NOISE_BLAKE2B;
	enum cr_noise_pattern pattern = pats[_i / 2];
	struct cr_noise_cipher is, ir, rs, rr;
	struct pair p;
	const uint8_t *ha, *hb;
	uint8_t a[64], b[64], key[32];
	size_t alen, blen;

	pair_init(&p, pattern, hash);
	pair_run(&p);
	ha = cr_noise_hs_hash(&p.ini, &alen);
	hb = cr_noise_hs_hash(&p.resp, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert(memcmp(ha, hb, alen) == 0);
	ck_assert_uint_eq(alen, hash == CR_NOISE_BLAKE2B ? 64 : 32);

	if (pattern == CR_NOISE_NN) {
		ck_assert_int_eq(cr_noise_hs_remote_static(&p.ini, key),
				 -ENOENT);
	} else {
		ck_assert_int_eq(cr_noise_hs_remote_static(&p.ini, key), 0);
		ck_assert(memcmp(key, p.rs_pub, 32) == 0);
	}

	ck_assert_int_eq(cr_noise_hs_split(&p.ini, &is, &ir), 0);
	ck_assert_int_eq(cr_noise_hs_split(&p.resp, &rs, &rr), 0);
	ck_assert(memcmp(is.k, rr.k, 32) == 0 && memcmp(ir.k, rs.k, 32) == 0);
	ck_assert(memcmp(is.k, ir.k, 32) != 0);

	/* Transport both ways, in place, with associated data. */
	memcpy(a, "ping", 4);
	ck_assert_int_eq(cr_noise_encrypt(&is, a, 3, a, 4, a), 0);
	ck_assert_int_eq(cr_noise_decrypt(&rr, a, 0, a, 20, b), -EBADMSG);
	ck_assert_uint_eq(rr.n, 0);
	memcpy(b, a, 20);
	ck_assert_int_eq(cr_noise_decrypt(&rr, (const uint8_t *)"pin", 3, b,
					  20, b), 0);
	ck_assert(memcmp(b, "ping", 4) == 0);
	ck_assert_uint_eq(is.n, 1);
	ck_assert_uint_eq(rr.n, 1);
	ck_assert_int_eq(cr_noise_encrypt(&rs, NULL, 0, NULL, 0, a), 0);
	ck_assert_int_eq(cr_noise_decrypt(&ir, NULL, 0, a, 16, NULL), 0);
	cr_noise_hs_wipe(&p.ini);
	cr_noise_hs_wipe(&p.resp);
}
END_TEST

/* Without a fixed ephemeral every handshake draws a new one. */
START_TEST(test_random_ephemeral)
{
	static const uint8_t zero[32];
	struct cr_noise_hs a, b;
	uint8_t ma[BUF], mb[BUF];
	size_t la, lb;

	ck_assert_int_eq(cr_noise_hs_init(&a, CR_NOISE_NN, CR_NOISE_BLAKE2B, 1,
					  NULL, 0, NULL, NULL), 0);
	ck_assert_int_eq(cr_noise_hs_init(&b, CR_NOISE_NN, CR_NOISE_BLAKE2B, 1,
					  NULL, 0, NULL, NULL), 0);
	ck_assert_int_eq(cr_noise_hs_write(&a, NULL, 0, ma, sizeof(ma), &la),
			 0);
	ck_assert_int_eq(cr_noise_hs_write(&b, NULL, 0, mb, sizeof(mb), &lb),
			 0);
	ck_assert_uint_eq(la, 32);
	ck_assert_uint_eq(lb, 32);
	ck_assert(memcmp(ma, mb, 32) != 0);
	ck_assert(memcmp(ma, zero, 32) != 0);
}
END_TEST

/*
 * Flipping any bit of any IK message (e, encrypted s, payload tag) must fail
 * authentication, and must not advance the reader.
 */
START_TEST(test_tamper)
{
	static const int bits[] = { 0, 7 };
	struct pair p;
	uint8_t msg[BUF], pl[BUF];
	size_t msg_len, pl_len, i, b;
	int turn;

	for (turn = 0; turn < 2; turn++) {
		for (i = 0;; i++) {
			for (b = 0; b < 2; b++) {
				struct cr_noise_hs *tx, *rx;
				int r;

				pair_init(&p, CR_NOISE_IK, CR_NOISE_BLAKE2B);
				if (turn == 1)
					pair_step(&p, 0);
				tx = turn == 0 ? &p.ini : &p.resp;
				rx = turn == 0 ? &p.resp : &p.ini;
				ck_assert_int_eq(cr_noise_hs_write(tx,
						 (const uint8_t *)"x", 1, msg,
						 sizeof(msg), &msg_len), 0);
				if (i >= msg_len)
					goto next_turn;
				msg[i] ^= (uint8_t)(1u << bits[b]);
				r = cr_noise_hs_read(rx, msg, msg_len, pl,
						     sizeof(pl), &pl_len);
				ck_assert_msg(r == -EBADMSG,
					      "turn %d byte %zu bit %d: %d",
					      turn, i, bits[b], r);
				ck_assert(!cr_noise_hs_my_turn(rx));
				ck_assert(!cr_noise_hs_done(rx));
			}
		}
next_turn:
		ck_assert_uint_eq(msg_len, turn == 0 ? 32 + 48 + 17 : 32 + 17);
	}
}
END_TEST

/*
 * A kept AEAD context seals and opens exactly as the one-shot forms, for
 * small messages (libsodium) and datagram-sized ones (OpenSSL where built
 * in), with a different key each time (a context keeps no key across
 * calls' results), and still refuses a forgery.
 */
START_TEST(test_aead_context)
{
	static const size_t sizes[] = { 0, 100, 3071, 3072, 9000, 65000 };
	static uint8_t in[65000], a_out[65016], b_out[65016], back[65000];
	struct cr_noise_aead *a = cr_noise_aead_new();
	uint8_t k[32], ad[16];

	ck_assert_ptr_nonnull(a);
	randombytes_buf(in, sizeof(in));
	randombytes_buf(ad, sizeof(ad));
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t len = sizes[i];

			randombytes_buf(k, sizeof(k));
			ck_assert_int_eq(cr_noise_seal(k, 7 + i, ad, sizeof(ad),
						       in, len, b_out), 0);
			ck_assert_int_eq(cr_noise_aead_seal(a, k, 7 + i, ad,
							    sizeof(ad), in, len,
							    a_out), 0);
			ck_assert(memcmp(a_out, b_out, len + 16) == 0);
			ck_assert_int_eq(cr_noise_aead_open(a, k, 7 + i, ad,
							    sizeof(ad), a_out,
							    len + 16, back), 0);
			ck_assert(memcmp(back, in, len) == 0);
			a_out[len / 2] ^= 1;
			ck_assert_int_eq(cr_noise_aead_open(a, k, 7 + i, ad,
							    sizeof(ad), a_out,
							    len + 16, back),
					 -EBADMSG);
			/* The wrong counter: refused as well. */
			a_out[len / 2] ^= 1;
			ck_assert_int_eq(cr_noise_aead_open(a, k, 8 + i, ad,
							    sizeof(ad), a_out,
							    len + 16, back),
					 -EBADMSG);
		}
	}
	cr_noise_aead_free(a);
	cr_noise_aead_free(NULL);
}
END_TEST

/*
 * Sealing a plaintext given in pieces (a stream packet's header and its
 * data left in the send buffer) gives exactly the one-piece result, for
 * every size class and for cuts anywhere (inside a 64-byte block, empty
 * pieces, many pieces), with and without a kept context.
 */
START_TEST(test_aead_sealv)
{
	static const size_t sizes[] = { 0, 1, 100, 3071, 3072, 8939, 65000 };
	static uint8_t in[65000], a_out[65016], b_out[65016], back[65000];
	struct cr_noise_aead *a = cr_noise_aead_new();
	uint8_t k[32], ad[16];

	ck_assert_ptr_nonnull(a);
	randombytes_buf(in, sizeof(in));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(k, sizeof(k));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];

		ck_assert_int_eq(cr_noise_seal(k, 3 + i, ad, sizeof(ad), in,
					       len, b_out), 0);
		for (int round = 0; round < 40; round++) {
			struct iovec iov[31];
			int n = 1 + (int)randombytes_uniform(31);
			size_t at = 0;

			/* n pieces with random cuts (some empty). */
			for (int p = 0; p < n; p++) {
				size_t left = len - at;
				size_t m = p == n - 1 ? left :
					   left ? randombytes_uniform(
							  (uint32_t)left + 1) :
						  0;

				if (round % 4 == 0 && p < n - 1)
					m = m > 17 ? 17 : m; /* small ones */
				iov[p].iov_base = in + at;
				iov[p].iov_len = m;
				at += m;
			}
			memset(a_out, 0, len + 16);
			ck_assert_int_eq(cr_noise_aead_sealv(round % 2 ? a : NULL,
							     k, 3 + i, ad,
							     sizeof(ad), iov, n,
							     a_out), 0);
			ck_assert_msg(memcmp(a_out, b_out, len + 16) == 0,
				      "size %zu in %d pieces", len, n);
		}
		ck_assert_int_eq(cr_noise_aead_open(a, k, 3 + i, ad, sizeof(ad),
						    a_out, len + 16, back), 0);
		ck_assert(memcmp(back, in, len) == 0);
	}
	/* Too much in all, or a piece without its bytes: refused. */
	{
		struct iovec big[2] = { { in, 40000 }, { in, 40000 } };
		struct iovec bad = { NULL, 5 };

		ck_assert_int_eq(cr_noise_aead_sealv(a, k, 1, ad, sizeof(ad),
						     big, 2, a_out), -EMSGSIZE);
		ck_assert_int_eq(cr_noise_aead_sealv(a, k, 1, ad, sizeof(ad),
						     &bad, 1, a_out), -EINVAL);
		ck_assert_int_eq(cr_noise_aead_sealv(a, k, 1, ad, sizeof(ad),
						     big, 0, a_out), -EINVAL);
	}
	cr_noise_aead_free(a);
}
END_TEST

/* An all-zero (low-order) ephemeral makes es all zeros: refused. */
START_TEST(test_low_order)
{
	struct pair p;
	uint8_t msg[BUF], pl[BUF];
	size_t len, pl_len;

	pair_init(&p, CR_NOISE_IK, CR_NOISE_BLAKE2B);
	ck_assert_int_eq(cr_noise_hs_write(&p.ini, NULL, 0, msg, sizeof(msg),
					   &len), 0);
	memset(msg, 0, CR_NOISE_DHLEN);
	ck_assert_int_eq(cr_noise_hs_read(&p.resp, msg, len, pl, sizeof(pl),
					  &pl_len), -EBADMSG);
}
END_TEST

/* Each side writes only on its turn, and nobody writes after the end. */
START_TEST(test_turns)
{
	struct cr_noise_cipher c1, c2;
	struct pair p;
	uint8_t msg[BUF], pl[BUF];
	size_t len, pl_len;

	pair_init(&p, CR_NOISE_XX, CR_NOISE_SHA256);
	ck_assert(cr_noise_hs_my_turn(&p.ini));
	ck_assert(!cr_noise_hs_my_turn(&p.resp));
	ck_assert_int_eq(cr_noise_hs_write(&p.resp, NULL, 0, msg, sizeof(msg),
					   &len), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_read(&p.ini, msg, 32, pl, sizeof(pl),
					  &pl_len), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_split(&p.ini, &c1, &c2), -EINVAL);

	pair_step(&p, 0);
	ck_assert_int_eq(cr_noise_hs_write(&p.ini, NULL, 0, msg, sizeof(msg),
					   &len), -EINVAL);
	pair_step(&p, 1);
	ck_assert_int_eq(cr_noise_hs_write(&p.resp, NULL, 0, msg, sizeof(msg),
					   &len), -EINVAL);
	pair_step(&p, 2);

	ck_assert(cr_noise_hs_done(&p.ini) && cr_noise_hs_done(&p.resp));
	ck_assert(!cr_noise_hs_my_turn(&p.ini));
	ck_assert(!cr_noise_hs_my_turn(&p.resp));
	ck_assert_int_eq(cr_noise_hs_write(&p.ini, NULL, 0, msg, sizeof(msg),
					   &len), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_write(&p.resp, NULL, 0, msg, sizeof(msg),
					   &len), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_read(&p.resp, msg, 64, pl, sizeof(pl),
					  &pl_len), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_split(&p.ini, &c1, &c2), 0);
	ck_assert_int_eq(cr_noise_hs_remote_static(&p.resp, msg), 0);
	ck_assert(memcmp(msg, p.is_pub, 32) == 0);
}
END_TEST

/* A key the pattern does not use, or a missing one, is misuse. */
START_TEST(test_init_keys)
{
	struct cr_noise_hs hs;
	uint8_t k[32] = { 1 };

	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_IK, CR_NOISE_BLAKE2B, 1,
					  NULL, 0, k, NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_IK, CR_NOISE_BLAKE2B, 1,
					  NULL, 0, NULL, k), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_IK, CR_NOISE_BLAKE2B, 0,
					  NULL, 0, k, k), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_NN, CR_NOISE_BLAKE2B, 1,
					  NULL, 0, k, NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_KK, CR_NOISE_SHA256, 0,
					  NULL, 0, k, NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_NN, CR_NOISE_SHA256, 1,
					  NULL, 3, NULL, NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, (enum cr_noise_pattern)99,
					  CR_NOISE_SHA256, 1, NULL, 0, NULL,
					  NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_NN,
					  (enum cr_noise_hash)7, 1, NULL, 0,
					  NULL, NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(NULL, CR_NOISE_NN, CR_NOISE_SHA256, 1,
					  NULL, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(cr_noise_hs_init(&hs, CR_NOISE_IK, CR_NOISE_BLAKE2B, 0,
					  NULL, 0, k, NULL), 0);
	cr_noise_hs_wipe(&hs);
}
END_TEST

/* Giving the static public key changes nothing but who computes it. */
START_TEST(test_init_pub)
{
	struct cr_noise_hs a, b;
	uint8_t sk[32], pk[32], rs[32], e[32];

	randombytes_buf(sk, sizeof(sk));
	randombytes_buf(rs, sizeof(rs));
	randombytes_buf(e, sizeof(e));
	crypto_scalarmult_base(pk, sk);
	ck_assert_int_eq(cr_noise_hs_init(&a, CR_NOISE_IK, CR_NOISE_BLAKE2B, 1,
					  (const uint8_t *)"p", 1, sk, rs), 0);
	ck_assert_int_eq(cr_noise_hs_init_pub(&b, CR_NOISE_IK,
					      CR_NOISE_BLAKE2B, 1,
					      (const uint8_t *)"p", 1, sk, pk,
					      rs), 0);
	cr_noise_hs_set_ephemeral(&a, e);
	cr_noise_hs_set_ephemeral(&b, e);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	/* A NULL s_pub is computed, as by cr_noise_hs_init(). */
	ck_assert_int_eq(cr_noise_hs_init_pub(&b, CR_NOISE_IK,
					      CR_NOISE_BLAKE2B, 1,
					      (const uint8_t *)"p", 1, sk, NULL,
					      rs), 0);
	cr_noise_hs_set_ephemeral(&b, e);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	cr_noise_hs_wipe(&a);
	cr_noise_hs_wipe(&b);
}
END_TEST

/* Short output buffers, short messages and small payload buffers. */
START_TEST(test_sizes)
{
	static uint8_t big[CR_NOISE_MAX_MSG + 1];
	struct cr_noise_cipher c1, c2;
	struct pair p;
	uint8_t msg[BUF], pl[BUF];
	size_t len, pl_len;

	pair_init(&p, CR_NOISE_IK, CR_NOISE_BLAKE2B);
	/* IK's first message with a 5-byte payload: 32 + 48 + 5 + 16. */
	ck_assert_int_eq(cr_noise_hs_write(&p.ini, (const uint8_t *)"hello", 5,
					   msg, 100, &len), -EMSGSIZE);
	ck_assert_int_eq(cr_noise_hs_write(&p.ini, big,
					   CR_NOISE_MAX_MSG - 96 + 1, big,
					   sizeof(big), &len), -EMSGSIZE);
	ck_assert(cr_noise_hs_my_turn(&p.ini));
	ck_assert_int_eq(cr_noise_hs_write(&p.ini, (const uint8_t *)"hello", 5,
					   msg, 101, &len), 0);
	ck_assert_uint_eq(len, 101);

	ck_assert_int_eq(cr_noise_hs_read(&p.resp, msg, 95, pl, sizeof(pl),
					  &pl_len), -EMSGSIZE);
	ck_assert_int_eq(cr_noise_hs_read(&p.resp, msg, len, pl, 4, &pl_len),
			 -EMSGSIZE);
	ck_assert(!cr_noise_hs_my_turn(&p.resp));
	ck_assert_int_eq(cr_noise_hs_read(&p.resp, msg, len, pl, 5, &pl_len),
			 0);
	ck_assert(pl_len == 5 && memcmp(pl, "hello", 5) == 0);

	/* An empty payload still carries its tag once a key exists. */
	ck_assert_int_eq(cr_noise_hs_write(&p.resp, NULL, 0, msg, 47, &len),
			 -EMSGSIZE);
	ck_assert_int_eq(cr_noise_hs_write(&p.resp, NULL, 0, msg, 48, &len), 0);
	ck_assert_uint_eq(len, 48);
	ck_assert_int_eq(cr_noise_hs_read(&p.ini, msg, len, NULL, 0, &pl_len),
			 0);
	ck_assert_uint_eq(pl_len, 0);

	ck_assert_int_eq(cr_noise_hs_split(&p.ini, &c1, &c2), 0);
	ck_assert_int_eq(cr_noise_decrypt(&c2, NULL, 0, msg, 15, pl),
			 -EMSGSIZE);
	ck_assert_int_eq(cr_noise_encrypt(&c1, NULL, 0, big,
					  CR_NOISE_MAX_MSG - 15, big),
			 -EMSGSIZE);
	ck_assert_uint_eq(c1.n, 0);
	ck_assert_int_eq(cr_noise_seal(c1.k, UINT64_MAX, NULL, 0, msg, 1, pl),
			 -EINVAL);
}
END_TEST

/* The explicit-nonce forms put the counter in the nonce's last 8 bytes. */
START_TEST(test_seal_nonce)
{
	static const uint8_t k[32] = { 7 };
	uint8_t a[32], b[32], pt[16];

	ck_assert_int_eq(cr_noise_seal(k, 1, NULL, 0, (const uint8_t *)"x", 1,
				       a), 0);
	ck_assert_int_eq(cr_noise_seal(k, 2, NULL, 0, (const uint8_t *)"x", 1,
				       b), 0);
	ck_assert(memcmp(a, b, 17) != 0);
	ck_assert_int_eq(cr_noise_open(k, 2, NULL, 0, a, 17, pt), -EBADMSG);
	ck_assert_int_eq(cr_noise_open(k, 1, NULL, 0, a, 17, pt), 0);
	ck_assert(pt[0] == 'x');
}
END_TEST

static const struct {
	const char *name;
	int ret;
	enum cr_noise_pattern pattern;
	enum cr_noise_hash hash;
} names[] = {
	/*  0 */ { "Noise_NN_25519_ChaChaPoly_BLAKE2b", 0, CR_NOISE_NN,
		   CR_NOISE_BLAKE2B },
	/*  1 */ { "Noise_NK_25519_ChaChaPoly_SHA256", 0, CR_NOISE_NK,
		   CR_NOISE_SHA256 },
	/*  2 */ { "Noise_KK_25519_ChaChaPoly_BLAKE2b", 0, CR_NOISE_KK,
		   CR_NOISE_BLAKE2B },
	/*  3 */ { "Noise_XX_25519_ChaChaPoly_SHA256", 0, CR_NOISE_XX,
		   CR_NOISE_SHA256 },
	/*  4 */ { "Noise_IK_25519_ChaChaPoly_BLAKE2b", 0, CR_NOISE_IK,
		   CR_NOISE_BLAKE2B },
	/*  5 */ { "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b", -ENOTSUP, 0, 0 },
	/*  6 */ { "Noise_IX_25519_ChaChaPoly_BLAKE2b", -ENOTSUP, 0, 0 },
	/*  7 */ { "Noise_IK_448_ChaChaPoly_BLAKE2b", -ENOTSUP, 0, 0 },
	/*  8 */ { "Noise_IK_25519_AESGCM_BLAKE2b", -ENOTSUP, 0, 0 },
	/*  9 */ { "Noise_IK_25519_ChaChaPoly_BLAKE2s", -ENOTSUP, 0, 0 },
	/* 10 */ { "Noise_IK_25519_ChaChaPoly_SHA512", -ENOTSUP, 0, 0 },
	/* 11 */ { "Noise_IK_25519_ChaChaPoly_SHA2567", -ENOTSUP, 0, 0 },
	/* 12 */ { "Noise_ik_25519_ChaChaPoly_BLAKE2b", -ENOTSUP, 0, 0 },
	/* 13 */ { "Noise_I_25519_ChaChaPoly_BLAKE2b", -ENOTSUP, 0, 0 },
	/* 14 */ { "noise_IK_25519_ChaChaPoly_BLAKE2b", -EINVAL, 0, 0 },
	/* 15 */ { "Noise_IK_25519_ChaChaPoly_BLAKE2b_", -EINVAL, 0, 0 },
	/* 16 */ { "Noise_IK_25519_ChaChaPoly", -EINVAL, 0, 0 },
	/* 17 */ { "Noise__25519_ChaChaPoly_BLAKE2b", -EINVAL, 0, 0 },
	/* 18 */ { "Noise_IK_25519_ChaChaPoly_", -EINVAL, 0, 0 },
	/* 19 */ { "Noise_", -EINVAL, 0, 0 },
	/* 20 */ { "", -EINVAL, 0, 0 },
	/* 21 */ { NULL, -EINVAL, 0, 0 },
};

/*
 * Every message size gives the bytes of the reference (libsodium's IETF
 * ChaCha20-Poly1305 with the Noise nonce), whichever implementation the
 * build picked for that size, and a flipped bit anywhere fails to open
 * and leaves no plaintext behind.
 */
START_TEST(test_seal_sizes)
{
	static const size_t sizes[] = { 0, 1, 1199, 3071, 3072, 3073, 8907,
					16000 };
	uint8_t k[32], ad[16], nonce[12] = { 0 };
	static uint8_t in[16000], out[16016], ref[16016], back[16000];

	randombytes_buf(k, sizeof(k));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(in, sizeof(in));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];
		uint64_t n = 0x0102030405060708ull + i;

		for (int b = 0; b < 8; b++)
			nonce[4 + b] = (uint8_t)(n >> (8 * b));
		crypto_aead_chacha20poly1305_ietf_encrypt(ref, NULL, in, len, ad,
							  sizeof(ad), NULL,
							  nonce, k);
		ck_assert_int_eq(cr_noise_seal(k, n, ad, sizeof(ad), in, len,
					       out), 0);
		ck_assert_mem_eq(out, ref, len + CR_NOISE_TAGLEN);
		ck_assert_int_eq(cr_noise_open(k, n, ad, sizeof(ad), out,
					       len + CR_NOISE_TAGLEN, back), 0);
		ck_assert(len == 0 || memcmp(back, in, len) == 0);
		out[(len + CR_NOISE_TAGLEN) / 2] ^= 0x20;
		memset(back, 0xaa, sizeof(back));
		ck_assert_int_eq(cr_noise_open(k, n, ad, sizeof(ad), out,
					       len + CR_NOISE_TAGLEN, back),
				 -EBADMSG);
		for (size_t j = 0; j < len; j++)
			ck_assert(back[j] == 0xaa || back[j] == 0);
		ck_assert_int_eq(cr_noise_open(k, n + 1, ad, sizeof(ad), ref,
					       len + CR_NOISE_TAGLEN, back),
				 -EBADMSG);
	}
}
END_TEST

START_TEST(test_names)
{
	enum cr_noise_pattern pattern = (enum cr_noise_pattern)-1;
	enum cr_noise_hash hash = (enum cr_noise_hash)-1;
	int r;

	r = cr_noise_parse_name(names[_i].name, &pattern, &hash);
	ck_assert_msg(r == names[_i].ret, "case %d (%s): %d", _i,
		      names[_i].name ? names[_i].name : "NULL", r);
	if (r == 0) {
		ck_assert_int_eq(pattern, names[_i].pattern);
		ck_assert_int_eq(hash, names[_i].hash);
	} else {
		/* Outputs are written only on success. */
		ck_assert_int_eq(pattern, (enum cr_noise_pattern)-1);
		ck_assert_int_eq(hash, (enum cr_noise_hash)-1);
	}
}
END_TEST

/* cr_x25519_base() against libsodium's ladder: RFC 7748's key pair, edge
 * keys (all zero: Ed25519 refuses it, the ladder takes over) and random
 * ones. */
START_TEST(test_x25519_base)
{
	static const char alice_sk[] =
		"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
	static const char alice_pk[] =
		"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
	uint8_t sk[32], pk[32], ref[32];
	int rounds = getenv("CR_UNDER_QEMU") ? 200 : 2000;

	ck_assert_int_eq(sodium_hex2bin(sk, sizeof(sk), alice_sk,
					sizeof(alice_sk) - 1, NULL, NULL, NULL),
			 0);
	ck_assert_int_eq(sodium_hex2bin(ref, sizeof(ref), alice_pk,
					sizeof(alice_pk) - 1, NULL, NULL, NULL),
			 0);
	cr_x25519_base(pk, sk);
	ck_assert_mem_eq(pk, ref, sizeof(pk));
	for (int i = 0; i < rounds + 4; i++) {
		if (i == 0)
			memset(sk, 0, sizeof(sk));
		else if (i == 1)
			memset(sk, 0xff, sizeof(sk));
		else if (i == 2)
			memset(sk, 0x01, sizeof(sk));
		else if (i == 3)
			memset(sk, 0x80, sizeof(sk));
		else
			randombytes_buf(sk, sizeof(sk));
		crypto_scalarmult_base(ref, sk);
		cr_x25519_base(pk, sk);
		ck_assert_msg(memcmp(pk, ref, sizeof(pk)) == 0, "key %d", i);
	}
}
END_TEST

/* cr_x25519_base_batch(): every key as libsodium's ladder has it, with
 * keys Ed25519 refuses (all zero) first, in the middle and last, alone,
 * and more than a batch holds. */
START_TEST(test_x25519_base_batch)
{
	static uint8_t sk[CR_X25519_BATCH_MAX + 3][32];
	static uint8_t pk[CR_X25519_BATCH_MAX + 3][32];
	static const size_t sizes[] = { 1, 2, 16, CR_X25519_BATCH_MAX,
					CR_X25519_BATCH_MAX + 3 };
	uint8_t ref[32];

	for (size_t z = 0; z < 4; z++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t n = sizes[k];

			randombytes_buf(sk, sizeof(sk));
			if (z == 1)
				memset(sk[0], 0, 32);
			else if (z == 2)
				memset(sk[n / 2], 0, 32);
			else if (z == 3)
				memset(sk[n - 1], 0, 32);
			memset(pk, 0xaa, sizeof(pk));
			cr_x25519_base_batch(pk, (const uint8_t(*)[32])sk, n);
			for (size_t i = 0; i < n; i++) {
				crypto_scalarmult_base(ref, sk[i]);
				ck_assert_msg(memcmp(pk[i], ref, 32) == 0,
					      "zero at %zu, n %zu, key %zu", z,
					      n, i);
			}
		}
	}
}
END_TEST

static Suite *noise_suite(void)
{
	Suite *s = suite_create("noise");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_roundtrip, 0, 10);
	tcase_add_test(tc, test_random_ephemeral);
	tcase_add_test(tc, test_x25519_base);
	tcase_add_test(tc, test_x25519_base_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_low_order);
	tcase_add_test(tc, test_aead_context);
	tcase_add_test(tc, test_aead_sealv);
	suite_add_tcase(s, tc);

	tc = tcase_create("turns");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_turns);
	tcase_add_test(tc, test_init_keys);
	tcase_add_test(tc, test_init_pub);
	suite_add_tcase(s, tc);

	tc = tcase_create("sizes");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_seal_nonce);
	tcase_add_test(tc, test_seal_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_names, 0,
			    (int)(sizeof(names) / sizeof(names[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(noise_suite());
}
