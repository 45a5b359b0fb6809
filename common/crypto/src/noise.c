/*
 * The Noise Protocol Framework, revision 34: the CipherState, SymmetricState
 * and HandshakeState objects of spec section 5 for the patterns NN, NK, KK,
 * XX and IK, with 25519, ChaChaPoly and BLAKE2b or SHA256.  Everything is
 * built on libsodium primitives; HMAC and HKDF are written out here because
 * Noise defines them over HASH with its own BLOCKLEN (section 4.3).
 *
 * A handshake step works on a copy of the state and copies it back only when
 * the whole message has been processed, so a failed read or write leaves the
 * caller's state (and its step) as it was.  The copy is wiped on every exit.
 */
#include "cr/noise.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/uio.h>

#include <sodium.h>
#ifdef CR_HAVE_OPENSSL_AEAD
#include <openssl/evp.h>
#endif

enum {
	BLAKE2B_BLOCKLEN = 128,
	SHA256_BLOCKLEN = 64,
	BLOCKLEN_MAX = 128,
	NONCELEN = 12,
	MAX_TOKENS = 5, /* the longest message, IK's first, has 4 */
	MAX_MESSAGES = 3,
};

/* Message pattern tokens; TOK_END terminates a message's list. */
enum noise_token {
	TOK_END = 0,
	TOK_E,
	TOK_S,
	TOK_EE,
	TOK_ES,
	TOK_SE,
	TOK_SS,
};

/*
 * A handshake pattern (spec section 7).  pre_i and pre_r are the pre-messages
 * "-> s" and "<- s"; s_i and s_r say whether each side has a static key.
 * Messages alternate, the initiator sending the even-numbered ones.
 */
struct noise_pattern {
	const char *name;
	uint8_t pre_i, pre_r;
	uint8_t s_i, s_r;
	uint8_t nmsg;
	uint8_t msg[MAX_MESSAGES][MAX_TOKENS];
};

static const struct noise_pattern patterns[] = {
	[CR_NOISE_NN] = {
		.name = "NN", .nmsg = 2,
		.msg = { { TOK_E }, { TOK_E, TOK_EE } },
	},
	[CR_NOISE_NK] = {
		.name = "NK", .pre_r = 1, .s_r = 1, .nmsg = 2,
		.msg = { { TOK_E, TOK_ES }, { TOK_E, TOK_EE } },
	},
	[CR_NOISE_KK] = {
		.name = "KK", .pre_i = 1, .pre_r = 1, .s_i = 1, .s_r = 1,
		.nmsg = 2,
		.msg = { { TOK_E, TOK_ES, TOK_SS },
			 { TOK_E, TOK_EE, TOK_SE } },
	},
	[CR_NOISE_XX] = {
		.name = "XX", .s_i = 1, .s_r = 1, .nmsg = 3,
		.msg = { { TOK_E },
			 { TOK_E, TOK_EE, TOK_S, TOK_ES },
			 { TOK_S, TOK_SE } },
	},
	[CR_NOISE_IK] = {
		.name = "IK", .pre_r = 1, .s_i = 1, .s_r = 1, .nmsg = 2,
		.msg = { { TOK_E, TOK_ES, TOK_S, TOK_SS },
			 { TOK_E, TOK_EE, TOK_SE } },
	},
};

static const char *const hash_names[] = {
	[CR_NOISE_BLAKE2B] = "BLAKE2b",
	[CR_NOISE_SHA256] = "SHA256",
};

static int pattern_valid(enum cr_noise_pattern p)
{
	return (unsigned int)p < sizeof(patterns) / sizeof(patterns[0]);
}

static int hash_valid(enum cr_noise_hash h)
{
	return (unsigned int)h < sizeof(hash_names) / sizeof(hash_names[0]);
}

/* HASH() of spec section 4.3, fed incrementally. */
struct hash_ctx {
	union {
		crypto_generichash_state b2;
		crypto_hash_sha256_state sha;
	} u;
	enum cr_noise_hash alg;
};

static void hash_init(struct hash_ctx *c, enum cr_noise_hash alg)
{
	c->alg = alg;
	if (alg == CR_NOISE_BLAKE2B)
		crypto_generichash_init(&c->u.b2, NULL, 0,
					crypto_generichash_BYTES_MAX);
	else
		crypto_hash_sha256_init(&c->u.sha);
}

static void hash_update(struct hash_ctx *c, const uint8_t *d, size_t len)
{
	if (len == 0)
		return;
	if (c->alg == CR_NOISE_BLAKE2B)
		crypto_generichash_update(&c->u.b2, d, len);
	else
		crypto_hash_sha256_update(&c->u.sha, d, len);
}

/* Writes HASHLEN bytes and wipes the context. */
static void hash_final(struct hash_ctx *c, uint8_t *out)
{
	if (c->alg == CR_NOISE_BLAKE2B)
		crypto_generichash_final(&c->u.b2, out,
					 crypto_generichash_BYTES_MAX);
	else
		crypto_hash_sha256_final(&c->u.sha, out);
	sodium_memzero(c, sizeof(*c));
}

static size_t hash_len(enum cr_noise_hash alg)
{
	return alg == CR_NOISE_BLAKE2B ? crypto_generichash_BYTES_MAX :
					 crypto_hash_sha256_BYTES;
}

static size_t block_len(enum cr_noise_hash alg)
{
	return alg == CR_NOISE_BLAKE2B ? BLAKE2B_BLOCKLEN : SHA256_BLOCKLEN;
}

/*
 * HMAC-HASH(key, d1 || d2) per RFC 2104 with the BLOCKLEN of spec section
 * 4.3.  Noise keys HMAC only with ck or an HKDF temp_key, both HASHLEN bytes,
 * which is always less than BLOCKLEN, so the key is never hashed first.
 */
static void hmac(enum cr_noise_hash alg, const uint8_t *key, size_t key_len,
		 const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2,
		 uint8_t *out)
{
	uint8_t pad[BLOCKLEN_MAX];
	uint8_t inner[CR_NOISE_HASHLEN_MAX];
	size_t blen = block_len(alg);
	struct hash_ctx c;
	size_t i;

	memset(pad, 0x36, blen);
	for (i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	hash_init(&c, alg);
	hash_update(&c, pad, blen);
	hash_update(&c, d1, l1);
	hash_update(&c, d2, l2);
	hash_final(&c, inner);

	memset(pad, 0x5c, blen);
	for (i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	hash_init(&c, alg);
	hash_update(&c, pad, blen);
	hash_update(&c, inner, hash_len(alg));
	hash_final(&c, out);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* HKDF(chaining_key, input_key_material, 2) of spec section 4.3. */
static void hkdf2(enum cr_noise_hash alg, const uint8_t *ck,
		  const uint8_t *ikm, size_t ikm_len, uint8_t *out1,
		  uint8_t *out2)
{
	static const uint8_t one = 0x01, two = 0x02;
	uint8_t temp_key[CR_NOISE_HASHLEN_MAX];
	size_t hlen = hash_len(alg);

	hmac(alg, ck, hlen, ikm, ikm_len, NULL, 0, temp_key);
	hmac(alg, temp_key, hlen, &one, 1, NULL, 0, out1);
	hmac(alg, temp_key, hlen, out1, hlen, &two, 1, out2);
	sodium_memzero(temp_key, sizeof(temp_key));
}

/* The nonce of spec section 12.3: 32 zero bits, then n little-endian. */
static void make_nonce(uint8_t nonce[NONCELEN], uint64_t n)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

#ifdef CR_HAVE_OPENSSL_AEAD
/*
 * The same cipher (RFC 8439 ChaCha20-Poly1305) through OpenSSL, whose
 * AVX2/AVX-512 code moves a 9 KB datagram about 1.7 times as fast as
 * libsodium 1.0.18 here; its setup per call costs more than libsodium's
 * whole job on a small message, so only large ones take this way.  Device
 * builds (no OpenSSL) use libsodium for everything.
 */
enum { NOISE_EVP_MIN = 3072 };

struct cr_noise_aead {
	EVP_CIPHER_CTX *ctx; /* the cipher set up; the last key until freed */
};

/* Decryption reads in[0..len) (ciphertext and tag); encryption reads the
 * plaintext from iov[0..iovcnt), len bytes in all (one piece unless a
 * caller gathers). */
static int evp_aead(struct cr_noise_aead *a, int enc, const uint8_t k[32],
		    const uint8_t *nonce, const uint8_t *ad, size_t ad_len,
		    const struct iovec *iov, int iovcnt, size_t len,
		    uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = a != NULL ? a->ctx : EVP_CIPHER_CTX_new();
	const uint8_t *in = iov[0].iov_base;
	size_t plen = enc ? len : len - CR_NOISE_TAGLEN, done = 0;
	int n, ok;

	if (ctx == NULL)
		return -ENOMEM;
	/* A kept context has its cipher: only key, nonce and direction. */
	ok = EVP_CipherInit_ex2(ctx, a != NULL ? NULL : EVP_chacha20_poly1305(),
				k, nonce, enc, NULL) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
					 CR_NOISE_TAGLEN,
					 (void *)(in + plen)) == 1) &&
	     (ad_len == 0 ||
	      EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len) == 1);
	if (!enc) {
		ok = ok && EVP_CipherUpdate(ctx, out, &n, in, (int)plen) == 1;
		done = ok ? (size_t)n : 0;
	}
	/* The cipher is a stream cipher: every piece comes out whole. */
	for (int i = 0; enc && ok && i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		ok = EVP_CipherUpdate(ctx, out + done, &n, iov[i].iov_base,
				      (int)iov[i].iov_len) == 1;
		done += ok ? (size_t)n : 0;
	}
	ok = ok && done == plen &&
	     EVP_CipherFinal_ex(ctx, out + done, &n) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					  CR_NOISE_TAGLEN, out + plen) == 1);
	if (a == NULL)
		EVP_CIPHER_CTX_free(ctx);
	if (!ok && !enc)
		sodium_memzero(out, plen); /* no unauthenticated plaintext */
	return ok ? 0 : enc ? -EIO : -EBADMSG;
}

struct cr_noise_aead *cr_noise_aead_new(void)
{
	struct cr_noise_aead *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->ctx = EVP_CIPHER_CTX_new();
	if (a->ctx == NULL ||
	    EVP_CipherInit_ex2(a->ctx, EVP_chacha20_poly1305(), NULL, NULL, 1,
			       NULL) != 1) {
		EVP_CIPHER_CTX_free(a->ctx);
		free(a);
		return NULL;
	}
	return a;
}

void cr_noise_aead_free(struct cr_noise_aead *a)
{
	if (a == NULL)
		return;
	EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
	free(a);
}
#else
struct cr_noise_aead {
	int unused;
};

struct cr_noise_aead *cr_noise_aead_new(void)
{
	return calloc(1, sizeof(struct cr_noise_aead));
}

void cr_noise_aead_free(struct cr_noise_aead *a)
{
	free(a);
}
#endif

/*
 * The counter value 2^64-1 is reserved (spec section 5.1), so both explicit
 * forms refuse it as misuse.  Messages are capped at 65535 bytes (section 3).
 */
int cr_noise_aead_seal(struct cr_noise_aead *a, const uint8_t k[32],
		       uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out)
{
	struct iovec iov = { (void *)in, len };

	if (in == NULL && len > 0)
		return -EINVAL;
	return cr_noise_aead_sealv(a, k, n, ad, ad_len, &iov, 1, out);
}

int cr_noise_aead_sealv(struct cr_noise_aead *a, const uint8_t k[32],
			uint64_t n, const uint8_t *ad, size_t ad_len,
			const struct iovec *iov, int iovcnt, uint8_t *out)
{
	uint8_t nonce[NONCELEN];
	size_t len = 0;
	(void)a; /* without OpenSSL, libsodium needs no context */

	if (k == NULL || out == NULL || iov == NULL || iovcnt < 1 ||
	    (ad == NULL && ad_len > 0) || n == UINT64_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
			return -EINVAL;
		if (iov[i].iov_len > CR_NOISE_MAX_MSG)
			return -EMSGSIZE;
		len += iov[i].iov_len;
		if (len > CR_NOISE_MAX_MSG - CR_NOISE_TAGLEN)
			return -EMSGSIZE;
	}
	make_nonce(nonce, n);
#ifdef CR_HAVE_OPENSSL_AEAD
	if (len >= NOISE_EVP_MIN)
		return evp_aead(a, 1, k, nonce, ad, ad_len, iov, iovcnt, len,
				out);
#endif
	if (iovcnt > 1) {
		/* libsodium wants one piece: gather it into out and seal
		 * there (in place); small messages only, on hosts. */
		size_t at = 0;

		for (int i = 0; i < iovcnt; i++) {
			if (iov[i].iov_len > 0)
				memmove(out + at, iov[i].iov_base,
					iov[i].iov_len);
			at += iov[i].iov_len;
		}
		crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, out, len,
							  ad, ad_len, NULL,
							  nonce, k);
		return 0;
	}
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, iov[0].iov_base,
						  len, ad, ad_len, NULL, nonce,
						  k);
	return 0;
}

int cr_noise_seal(const uint8_t k[32], uint64_t n, const uint8_t *ad,
		  size_t ad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	return cr_noise_aead_seal(NULL, k, n, ad, ad_len, in, len, out);
}

int cr_noise_aead_open(struct cr_noise_aead *a, const uint8_t k[32],
		       uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[NONCELEN], none;
	(void)a; /* without OpenSSL, libsodium needs no context */

	if (k == NULL || in == NULL || (out == NULL && len > CR_NOISE_TAGLEN) ||
	    (ad == NULL && ad_len > 0) || n == UINT64_MAX)
		return -EINVAL;
	if (len < CR_NOISE_TAGLEN || len > CR_NOISE_MAX_MSG)
		return -EMSGSIZE;
	make_nonce(nonce, n);
#ifdef CR_HAVE_OPENSSL_AEAD
	if (len >= NOISE_EVP_MIN + CR_NOISE_TAGLEN) {
		struct iovec iov = { (void *)in, len };

		return evp_aead(a, 0, k, nonce, ad, ad_len, &iov, 1, len, out);
	}
#endif
	/*
	 * An empty plaintext may come with out == NULL; give libsodium a
	 * buffer anyway rather than rely on how it treats NULL.
	 */
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out != NULL ? out : &none,
						      NULL, NULL, in, len, ad,
						      ad_len, nonce, k) != 0)
		return -EBADMSG;
	return 0;
}

int cr_noise_open(const uint8_t k[32], uint64_t n, const uint8_t *ad,
		  size_t ad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	return cr_noise_aead_open(NULL, k, n, ad, ad_len, in, len, out);
}

/* Transport ciphers must have a key: passing plaintext is for handshakes. */
int cr_noise_encrypt(struct cr_noise_cipher *cs, const uint8_t *ad,
		     size_t ad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	int r;

	if (cs == NULL || !cs->has_key)
		return -EINVAL;
	r = cr_noise_seal(cs->k, cs->n, ad, ad_len, in, len, out);
	if (r == 0)
		cs->n++;
	return r;
}

/* A failed decryption leaves n alone, as spec section 5.1 asks. */
int cr_noise_decrypt(struct cr_noise_cipher *cs, const uint8_t *ad,
		     size_t ad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	int r;

	if (cs == NULL || !cs->has_key)
		return -EINVAL;
	r = cr_noise_open(cs->k, cs->n, ad, ad_len, in, len, out);
	if (r == 0)
		cs->n++;
	return r;
}

/* MixHash(data): h = HASH(h || data). */
static void mix_hash(struct cr_noise_hs *st, const uint8_t *d, size_t len)
{
	struct hash_ctx c;

	hash_init(&c, st->hash);
	hash_update(&c, st->h, st->hashlen);
	hash_update(&c, d, len);
	hash_final(&c, st->h);
}

/*
 * MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2), then InitializeKey(temp_k)
 * truncated to 32 bytes when HASHLEN is 64.
 */
static void mix_key(struct cr_noise_hs *st, const uint8_t *ikm, size_t len)
{
	uint8_t ck[CR_NOISE_HASHLEN_MAX], k[CR_NOISE_HASHLEN_MAX];

	hkdf2(st->hash, st->ck, ikm, len, ck, k);
	memcpy(st->ck, ck, st->hashlen);
	memcpy(st->cs.k, k, CR_NOISE_KEYLEN);
	st->cs.n = 0;
	st->cs.has_key = 1;
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(k, sizeof(k));
}

/*
 * EncryptAndHash(pt): with no key yet the plaintext passes through; either
 * way the ciphertext is mixed into h.  out receives len (+ TAGLEN) bytes.
 */
static int encrypt_and_hash(struct cr_noise_hs *st, const uint8_t *in,
			    size_t len, uint8_t *out)
{
	size_t clen = len;
	int r;

	if (st->cs.has_key) {
		r = cr_noise_encrypt(&st->cs, st->h, st->hashlen, in, len, out);
		if (r < 0)
			return r;
		clen += CR_NOISE_TAGLEN;
	} else if (len > 0) {
		memmove(out, in, len);
	}
	mix_hash(st, out, clen);
	return 0;
}

/*
 * DecryptAndHash(ct): h is advanced over the ciphertext before decrypting
 * (with the old h as associated data), so out may equal in.
 */
static int decrypt_and_hash(struct cr_noise_hs *st, const uint8_t *in,
			    size_t len, uint8_t *out)
{
	uint8_t ad[CR_NOISE_HASHLEN_MAX];
	int r = 0;

	memcpy(ad, st->h, st->hashlen);
	mix_hash(st, in, len);
	if (st->cs.has_key)
		r = cr_noise_decrypt(&st->cs, ad, st->hashlen, in, len, out);
	else if (len > 0)
		memmove(out, in, len);
	sodium_memzero(ad, sizeof(ad));
	return r;
}

/*
 * The DH tokens ee, es, se and ss: MixKey(DH(local, remote)).  The first
 * letter names the initiator's key, the second the responder's.  An all-zero
 * result means the peer sent a low-order point, which we refuse (spec
 * section 12.1 allows either that or carrying on).
 */
static int mix_dh(struct cr_noise_hs *st, enum noise_token tok)
{
	const uint8_t *priv, *pub;
	uint8_t shared[CR_NOISE_DHLEN];
	int local_e, remote_e, r;

	switch (tok) {
	case TOK_EE:
		local_e = remote_e = 1;
		break;
	case TOK_ES:
		local_e = st->initiator;
		remote_e = !st->initiator;
		break;
	case TOK_SE:
		local_e = !st->initiator;
		remote_e = st->initiator;
		break;
	case TOK_SS:
		local_e = remote_e = 0;
		break;
	default:
		return -EINVAL;
	}
	if ((local_e ? !st->has_e : !st->has_s) ||
	    (remote_e ? !st->has_re : !st->has_rs))
		return -EINVAL;
	priv = local_e ? st->e_priv : st->s_priv;
	pub = remote_e ? st->re : st->rs;

	if (crypto_scalarmult(shared, priv, pub) != 0) {
		r = -EBADMSG;
		goto out;
	}
	mix_key(st, shared, sizeof(shared));
	r = 0;
out:
	sodium_memzero(shared, sizeof(shared));
	return r;
}

/* A ciphertext is TAGLEN longer than its plaintext once a key exists. */
static size_t tag_len(int has_key)
{
	return has_key ? CR_NOISE_TAGLEN : 0;
}

/*
 * Bytes a message takes beyond its payload: 32 per e, 32 (+ TAGLEN once a
 * key exists) per s, and TAGLEN for the payload once a key exists.  Every
 * DH token calls MixKey, so it is what makes a key exist.
 */
static size_t msg_overhead(const struct cr_noise_hs *hs, const uint8_t *toks)
{
	int key = hs->cs.has_key;
	size_t n = 0;

	for (; *toks != TOK_END; toks++) {
		if (*toks == TOK_E)
			n += CR_NOISE_DHLEN;
		else if (*toks == TOK_S)
			n += CR_NOISE_DHLEN + tag_len(key);
		else
			key = 1;
	}
	return n + tag_len(key);
}

/* The caller's state is sane enough to index the pattern table with. */
static int hs_ok(const struct cr_noise_hs *hs)
{
	return hs != NULL && pattern_valid(hs->pattern) &&
	       hash_valid(hs->hash) && hs->step >= 0;
}

static const uint8_t *next_tokens(const struct cr_noise_hs *hs)
{
	return patterns[hs->pattern].msg[hs->step];
}

int cr_noise_hs_init(struct cr_noise_hs *hs, enum cr_noise_pattern pattern,
		     enum cr_noise_hash hash, int initiator,
		     const uint8_t *prologue, size_t prologue_len,
		     const uint8_t *s_priv, const uint8_t *rs)
{
	return cr_noise_hs_init_pub(hs, pattern, hash, initiator, prologue,
				    prologue_len, s_priv, NULL, rs);
}

int cr_noise_hs_init_pub(struct cr_noise_hs *hs, enum cr_noise_pattern pattern,
			 enum cr_noise_hash hash, int initiator,
			 const uint8_t *prologue, size_t prologue_len,
			 const uint8_t *s_priv, const uint8_t *s_pub,
			 const uint8_t *rs)
{
	const struct noise_pattern *p;
	char name[64];
	size_t name_len;
	int need_s, need_rs, n;

	if (hs == NULL || !pattern_valid(pattern) || !hash_valid(hash) ||
	    (prologue == NULL && prologue_len > 0))
		return -EINVAL;
	p = &patterns[pattern];
	initiator = initiator != 0;
	need_s = initiator ? p->s_i : p->s_r;
	need_rs = initiator ? p->pre_r : p->pre_i;
	/* A key the pattern has no use for is a configuration mistake. */
	if ((s_priv != NULL) != need_s || (rs != NULL) != need_rs)
		return -EINVAL;
	/* For randombytes and the fastest primitive implementations. */
	if (sodium_init() < 0)
		return -EIO;

	sodium_memzero(hs, sizeof(*hs));
	hs->pattern = pattern;
	hs->hash = hash;
	hs->initiator = initiator;
	hs->hashlen = hash_len(hash);
	if (s_priv != NULL) {
		memcpy(hs->s_priv, s_priv, CR_NOISE_DHLEN);
		if (s_pub != NULL)
			memcpy(hs->s_pub, s_pub, CR_NOISE_DHLEN);
		else
			cr_x25519_base(hs->s_pub, hs->s_priv);
		hs->has_s = 1;
	}
	if (rs != NULL) {
		memcpy(hs->rs, rs, CR_NOISE_DHLEN);
		hs->has_rs = 1;
	}

	/*
	 * InitializeSymmetric(protocol_name): a name of at most HASHLEN bytes
	 * is zero-padded into h, a longer one hashed.  ck = h.
	 */
	n = snprintf(name, sizeof(name), "Noise_%s_25519_ChaChaPoly_%s",
		     p->name, hash_names[hash]);
	if (n < 0 || (size_t)n >= sizeof(name)) {
		cr_noise_hs_wipe(hs);
		return -EINVAL;
	}
	name_len = (size_t)n;
	if (name_len <= hs->hashlen) {
		memcpy(hs->h, name, name_len);
	} else {
		struct hash_ctx c;

		hash_init(&c, hash);
		hash_update(&c, (const uint8_t *)name, name_len);
		hash_final(&c, hs->h);
	}
	memcpy(hs->ck, hs->h, hs->hashlen);
	mix_hash(hs, prologue, prologue_len);

	/* Pre-messages: the initiator's "-> s" first, then "<- s". */
	if (p->pre_i)
		mix_hash(hs, initiator ? hs->s_pub : hs->rs, CR_NOISE_DHLEN);
	if (p->pre_r)
		mix_hash(hs, initiator ? hs->rs : hs->s_pub, CR_NOISE_DHLEN);
	return 0;
}

void cr_noise_hs_set_ephemeral(struct cr_noise_hs *hs, const uint8_t e_priv[32])
{
	if (hs == NULL || e_priv == NULL)
		return;
	memcpy(hs->e_priv, e_priv, CR_NOISE_DHLEN);
	cr_x25519_base(hs->e_pub, hs->e_priv);
	hs->fixed_e = 1;
}

void cr_noise_hs_set_ephemeral_pair(struct cr_noise_hs *hs,
				    const uint8_t e_priv[32],
				    const uint8_t e_pub[32])
{
	if (hs == NULL || e_priv == NULL || e_pub == NULL)
		return;
	memcpy(hs->e_priv, e_priv, CR_NOISE_DHLEN);
	memcpy(hs->e_pub, e_pub, CR_NOISE_DHLEN);
	hs->fixed_e = 1;
}

int cr_noise_hs_done(const struct cr_noise_hs *hs)
{
	return hs_ok(hs) && hs->step >= patterns[hs->pattern].nmsg;
}

int cr_noise_hs_my_turn(const struct cr_noise_hs *hs)
{
	if (!hs_ok(hs) || cr_noise_hs_done(hs))
		return 0;
	return (hs->step % 2 == 0) == (hs->initiator != 0);
}

/* WriteMessage(payload, message_buffer) of spec section 5.3. */
int cr_noise_hs_write(struct cr_noise_hs *hs, const uint8_t *payload,
		      size_t payload_len, uint8_t *out, size_t out_cap,
		      size_t *out_len)
{
	struct cr_noise_hs st;
	const uint8_t *tok;
	size_t need, off = 0;
	int r;

	if (hs == NULL || out == NULL || out_len == NULL ||
	    (payload == NULL && payload_len > 0) || !cr_noise_hs_my_turn(hs))
		return -EINVAL;
	tok = next_tokens(hs);
	need = msg_overhead(hs, tok);
	if (payload_len > CR_NOISE_MAX_MSG - need ||
	    need + payload_len > out_cap)
		return -EMSGSIZE;

	st = *hs;
	for (; *tok != TOK_END; tok++) {
		switch (*tok) {
		case TOK_E:
			/* e: a fresh key pair unless a test fixed it. */
			if (!st.fixed_e) {
				randombytes_buf(st.e_priv, CR_NOISE_DHLEN);
				cr_x25519_base(st.e_pub, st.e_priv);
			}
			st.has_e = 1;
			memcpy(out + off, st.e_pub, CR_NOISE_DHLEN);
			mix_hash(&st, st.e_pub, CR_NOISE_DHLEN);
			off += CR_NOISE_DHLEN;
			break;
		case TOK_S:
			/* s: EncryptAndHash(s.public_key). */
			if (!st.has_s) {
				r = -EINVAL;
				goto out;
			}
			r = encrypt_and_hash(&st, st.s_pub, CR_NOISE_DHLEN,
					     out + off);
			if (r < 0)
				goto out;
			off += CR_NOISE_DHLEN + tag_len(st.cs.has_key);
			break;
		default:
			/* ee, es, se, ss */
			r = mix_dh(&st, (enum noise_token)*tok);
			if (r < 0)
				goto out;
			break;
		}
	}
	/* payload: EncryptAndHash(payload). */
	r = encrypt_and_hash(&st, payload, payload_len, out + off);
	if (r < 0)
		goto out;
	off += payload_len + tag_len(st.cs.has_key);

	st.step++;
	*hs = st;
	*out_len = off;
out:
	sodium_memzero(&st, sizeof(st));
	return r;
}

/* ReadMessage(message, payload_buffer) of spec section 5.3. */
int cr_noise_hs_read(struct cr_noise_hs *hs, const uint8_t *msg, size_t msg_len,
		     uint8_t *payload, size_t payload_cap, size_t *payload_len)
{
	struct cr_noise_hs st;
	const uint8_t *tok;
	size_t need, len, off = 0;
	int r;

	if (!hs_ok(hs) || (msg == NULL && msg_len > 0) ||
	    payload_len == NULL || cr_noise_hs_done(hs) ||
	    cr_noise_hs_my_turn(hs))
		return -EINVAL;
	tok = next_tokens(hs);
	need = msg_overhead(hs, tok);
	if (msg_len < need || msg_len > CR_NOISE_MAX_MSG ||
	    msg_len - need > payload_cap)
		return -EMSGSIZE;
	if (payload == NULL && msg_len > need)
		return -EINVAL;

	st = *hs;
	for (; *tok != TOK_END; tok++) {
		switch (*tok) {
		case TOK_E:
			/* e: re = the next DHLEN bytes; MixHash(re). */
			memcpy(st.re, msg + off, CR_NOISE_DHLEN);
			st.has_re = 1;
			mix_hash(&st, st.re, CR_NOISE_DHLEN);
			off += CR_NOISE_DHLEN;
			break;
		case TOK_S:
			/* s: rs = DecryptAndHash(next DHLEN (+16) bytes). */
			len = CR_NOISE_DHLEN + tag_len(st.cs.has_key);
			r = decrypt_and_hash(&st, msg + off, len, st.rs);
			if (r < 0)
				goto out;
			st.has_rs = 1;
			off += len;
			break;
		default:
			/* ee, es, se, ss */
			r = mix_dh(&st, (enum noise_token)*tok);
			if (r < 0)
				goto out;
			break;
		}
	}
	/* payload: DecryptAndHash(the rest). */
	len = msg_len - off;
	r = decrypt_and_hash(&st, msg + off, len, payload);
	if (r < 0)
		goto out;

	st.step++;
	*hs = st;
	*payload_len = len - tag_len(st.cs.has_key);
out:
	sodium_memzero(&st, sizeof(st));
	return r;
}

/* Split(): c1 encrypts initiator to responder, c2 the other way. */
int cr_noise_hs_split(const struct cr_noise_hs *hs,
		      struct cr_noise_cipher *send,
		      struct cr_noise_cipher *recv)
{
	uint8_t k1[CR_NOISE_HASHLEN_MAX], k2[CR_NOISE_HASHLEN_MAX];

	if (hs == NULL || send == NULL || recv == NULL || send == recv ||
	    !cr_noise_hs_done(hs))
		return -EINVAL;
	hkdf2(hs->hash, hs->ck, NULL, 0, k1, k2);
	memcpy(send->k, hs->initiator ? k1 : k2, CR_NOISE_KEYLEN);
	memcpy(recv->k, hs->initiator ? k2 : k1, CR_NOISE_KEYLEN);
	send->n = recv->n = 0;
	send->has_key = recv->has_key = 1;
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return 0;
}

const uint8_t *cr_noise_hs_hash(const struct cr_noise_hs *hs, size_t *len)
{
	if (len != NULL)
		*len = hs != NULL ? hs->hashlen : 0;
	return hs != NULL ? hs->h : NULL;
}

int cr_noise_hs_remote_static(const struct cr_noise_hs *hs, uint8_t out[32])
{
	if (hs == NULL || out == NULL)
		return -EINVAL;
	if (!hs->has_rs)
		return -ENOENT;
	memcpy(out, hs->rs, CR_NOISE_DHLEN);
	return 0;
}

void cr_noise_hs_wipe(struct cr_noise_hs *hs)
{
	if (hs != NULL)
		sodium_memzero(hs, sizeof(*hs));
}

static int field_is(const char *f, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(f, s, len) == 0;
}

/*
 * "Noise_" then exactly four non-empty fields separated by '_': pattern,
 * DH, cipher, hash.  Malformed names are -EINVAL, well-formed names we do not
 * implement (psk modifiers, 448, AESGCM, BLAKE2s, ...) -ENOTSUP.
 */
int cr_noise_parse_name(const char *name, enum cr_noise_pattern *pattern,
			enum cr_noise_hash *hash)
{
	static const char prefix[] = "Noise_";
	const char *f[4];
	size_t flen[4];
	const char *p, *sep;
	unsigned int i, pi, hi;

	if (name == NULL || strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return -EINVAL;
	p = name + sizeof(prefix) - 1;
	for (i = 0; i < 4; i++) {
		sep = strchr(p, '_');
		if ((sep == NULL) != (i == 3))
			return -EINVAL;
		f[i] = p;
		flen[i] = sep != NULL ? (size_t)(sep - p) : strlen(p);
		if (flen[i] == 0)
			return -EINVAL;
		if (sep != NULL)
			p = sep + 1;
	}

	for (pi = 0; pi < sizeof(patterns) / sizeof(patterns[0]); pi++)
		if (field_is(f[0], flen[0], patterns[pi].name))
			break;
	for (hi = 0; hi < sizeof(hash_names) / sizeof(hash_names[0]); hi++)
		if (field_is(f[3], flen[3], hash_names[hi]))
			break;
	if (pi == sizeof(patterns) / sizeof(patterns[0]) ||
	    !field_is(f[1], flen[1], "25519") ||
	    !field_is(f[2], flen[2], "ChaChaPoly") ||
	    hi == sizeof(hash_names) / sizeof(hash_names[0]))
		return -ENOTSUP;
	if (pattern != NULL)
		*pattern = (enum cr_noise_pattern)pi;
	if (hash != NULL)
		*hash = (enum cr_noise_hash)hi;
	return 0;
}
