/*
 * The Noise Protocol Framework (revision 34), the handshake patterns NN, NK,
 * KK, XX and IK over 25519, ChaChaPoly and BLAKE2b (or SHA256), built on
 * libsodium primitives.  Carrier's sessions use IK with BLAKE2b; the other
 * patterns exist for the published test vectors and later uses.
 *
 * Nothing here allocates: a handshake state is a plain struct the caller
 * embeds.  Every function returns 0 on success and a negative errno value on
 * failure (-EINVAL misuse, -EMSGSIZE buffer too small or message too short,
 * -EBADMSG authentication failed).  After a failure the handshake state must
 * be discarded: its step is not advanced, but partial mixes may have happened.
 * cr_noise_hs_wipe() clears secrets.
 */
#ifndef CR_NOISE_H
#define CR_NOISE_H

#include <stddef.h>
#include <stdint.h>

enum {
	CR_NOISE_DHLEN = 32,
	CR_NOISE_KEYLEN = 32,
	CR_NOISE_TAGLEN = 16,
	CR_NOISE_HASHLEN_MAX = 64,
	CR_NOISE_MAX_MSG = 65535,
};

enum cr_noise_pattern {
	CR_NOISE_NN,
	CR_NOISE_NK,
	CR_NOISE_KK,
	CR_NOISE_XX,
	CR_NOISE_IK,
};

enum cr_noise_hash {
	CR_NOISE_BLAKE2B, /* HASHLEN 64 */
	CR_NOISE_SHA256,  /* HASHLEN 32 */
};

/* A CipherState: key and the next nonce. */
struct cr_noise_cipher {
	uint8_t k[CR_NOISE_KEYLEN];
	uint64_t n;
	int has_key;
};

/* A HandshakeState (with its SymmetricState).  Treat the fields as private. */
struct cr_noise_hs {
	enum cr_noise_pattern pattern;
	enum cr_noise_hash hash;
	int initiator;
	int step;     /* index of the next message pattern */
	size_t hashlen;
	uint8_t ck[CR_NOISE_HASHLEN_MAX];
	uint8_t h[CR_NOISE_HASHLEN_MAX];
	struct cr_noise_cipher cs;
	uint8_t s_priv[CR_NOISE_DHLEN], s_pub[CR_NOISE_DHLEN];
	uint8_t e_priv[CR_NOISE_DHLEN], e_pub[CR_NOISE_DHLEN];
	uint8_t rs[CR_NOISE_DHLEN], re[CR_NOISE_DHLEN];
	int has_s, has_e, has_rs, has_re;
	int fixed_e; /* e was set by cr_noise_hs_set_ephemeral() */
};

/*
 * pub = X25519(priv, 9), the public key of an X25519 private key: as
 * crypto_scalarmult_base(), at about half its cost on 64-bit hosts (through
 * Ed25519's precomputed fixed-base tables; src/x25519.c).
 */
void cr_x25519_base(uint8_t pub[32], const uint8_t priv[32]);

enum { CR_X25519_BATCH_MAX = 64 };
/* cr_x25519_base() for n keys (at most CR_X25519_BATCH_MAX) with one
 * field inversion for them all (Montgomery's trick): about 3 us less a
 * key than one at a time. */
void cr_x25519_base_batch(uint8_t (*pub)[32], const uint8_t (*priv)[32],
			  size_t n);

/*
 * Initializes hs for `pattern`.  s_priv is the local static X25519 private
 * key (NULL when the pattern has none for this side); rs is the remote static
 * public key the pattern pre-knows (NULL otherwise).  The prologue is mixed
 * into h.
 */
int cr_noise_hs_init(struct cr_noise_hs *hs, enum cr_noise_pattern pattern,
		     enum cr_noise_hash hash, int initiator,
		     const uint8_t *prologue, size_t prologue_len,
		     const uint8_t *s_priv, const uint8_t *rs);

/*
 * cr_noise_hs_init() with the static key's public half given: s_pub must
 * be X25519(s_priv, 9) (NULL: computed here).  A responder that runs every
 * handshake with one static key so saves one scalar multiplication, about
 * an eighth of a handshake's cost.
 */
int cr_noise_hs_init_pub(struct cr_noise_hs *hs, enum cr_noise_pattern pattern,
			 enum cr_noise_hash hash, int initiator,
			 const uint8_t *prologue, size_t prologue_len,
			 const uint8_t *s_priv, const uint8_t *s_pub,
			 const uint8_t *rs);

/* Fixes the ephemeral key instead of generating one (test vectors, and a
 * caller that draws its own random key). */
void cr_noise_hs_set_ephemeral(struct cr_noise_hs *hs, const uint8_t e_priv[32]);
/* The same with the public half given: e_pub must be X25519(e_priv, 9)
 * (cr_x25519_base_batch() makes such pairs for less). */
void cr_noise_hs_set_ephemeral_pair(struct cr_noise_hs *hs,
				    const uint8_t e_priv[32],
				    const uint8_t e_pub[32]);

/*
 * Writes the next handshake message with `payload` into out (capacity
 * out_cap); sets *out_len.  Returns -EINVAL if it is not this side's turn.
 */
int cr_noise_hs_write(struct cr_noise_hs *hs, const uint8_t *payload,
		      size_t payload_len, uint8_t *out, size_t out_cap,
		      size_t *out_len);

/* Reads the next handshake message; writes the decrypted payload. */
int cr_noise_hs_read(struct cr_noise_hs *hs, const uint8_t *msg, size_t msg_len,
		     uint8_t *payload, size_t payload_cap, size_t *payload_len);

/* 1 when every message pattern has been processed. */
int cr_noise_hs_done(const struct cr_noise_hs *hs);

/* 1 when the next message is ours to write. */
int cr_noise_hs_my_turn(const struct cr_noise_hs *hs);

/*
 * Split(): the initiator's sending cipher is c1.  `send` and `recv` are
 * assigned from this side's point of view.  Requires cr_noise_hs_done().
 */
int cr_noise_hs_split(const struct cr_noise_hs *hs, struct cr_noise_cipher *send,
		      struct cr_noise_cipher *recv);

/* The handshake hash h; *len is set to HASHLEN. */
const uint8_t *cr_noise_hs_hash(const struct cr_noise_hs *hs, size_t *len);

/* The remote static public key, once known; -ENOENT otherwise. */
int cr_noise_hs_remote_static(const struct cr_noise_hs *hs, uint8_t out[32]);

void cr_noise_hs_wipe(struct cr_noise_hs *hs);

/*
 * Transport: ChaCha20-Poly1305 (IETF) with the Noise nonce encoding (32 zero
 * bits then the 64-bit little-endian counter).  The explicit-nonce forms serve
 * datagrams, whose counter travels in the clear; out may equal in.
 * Encrypt writes len + 16 bytes; decrypt reads len >= 16 and writes len - 16.
 */
int cr_noise_seal(const uint8_t k[32], uint64_t n, const uint8_t *ad,
		  size_t ad_len, const uint8_t *in, size_t len, uint8_t *out);
int cr_noise_open(const uint8_t k[32], uint64_t n, const uint8_t *ad,
		  size_t ad_len, const uint8_t *in, size_t len, uint8_t *out);

/*
 * The same with a context kept by the caller between calls (one per thread
 * of use, e.g. per session host): the OpenSSL path then sets up its cipher
 * once instead of per datagram (about a fifth of the cost of sealing a 9 KB
 * datagram on AMD EPYC).  cr_noise_aead_new() returns NULL out of memory;
 * a NULL context works, as cr_noise_seal/open.  The context keeps the last
 * key it used until the next call or cr_noise_aead_free(), which wipes it;
 * it is not for two threads at once.
 */
struct cr_noise_aead;
struct cr_noise_aead *cr_noise_aead_new(void);
void cr_noise_aead_free(struct cr_noise_aead *a);
int cr_noise_aead_seal(struct cr_noise_aead *a, const uint8_t k[32],
		       uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out);
int cr_noise_aead_open(struct cr_noise_aead *a, const uint8_t k[32],
		       uint64_t n, const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t len, uint8_t *out);
/* Seals the concatenation of iov[0..iovcnt) (len bytes in all) into out
 * (len + 16 bytes): a plaintext in pieces is read where it lies, not
 * copied together first.  out may not overlap the pieces, except that
 * with one piece out may equal it. */
struct iovec;
int cr_noise_aead_sealv(struct cr_noise_aead *a, const uint8_t k[32],
			uint64_t n, const uint8_t *ad, size_t ad_len,
			const struct iovec *iov, int iovcnt, uint8_t *out);

/* CipherState forms: use and increment cs->n. */
int cr_noise_encrypt(struct cr_noise_cipher *cs, const uint8_t *ad,
		     size_t ad_len, const uint8_t *in, size_t len, uint8_t *out);
int cr_noise_decrypt(struct cr_noise_cipher *cs, const uint8_t *ad,
		     size_t ad_len, const uint8_t *in, size_t len, uint8_t *out);

/* Parses "Noise_IK_25519_ChaChaPoly_BLAKE2b" and the like; -ENOTSUP if the
 * pattern, DH, cipher or hash is not one of ours. */
int cr_noise_parse_name(const char *name, enum cr_noise_pattern *pattern,
			enum cr_noise_hash *hash);

#endif
