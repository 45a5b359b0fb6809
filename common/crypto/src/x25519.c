/*
 * X25519 public keys from private ones at about half the cost of
 * crypto_scalarmult_base() on 64-bit hosts.
 *
 * libsodium picks its AVX implementation of X25519 on x86-64, whose
 * fixed-base multiplication is a Montgomery ladder as slow as a DH (28 us
 * against 30 us on an AMD EPYC).  Its Ed25519 fixed-base multiplication uses
 * precomputed tables (15 us).  Both curves are one: the X25519 public key of
 * a private key k is the Montgomery u of clamp(k)B, and the Edwards point
 * clamp(k)B with affine y has u = (1 + y) / (1 - y).  So:
 * crypto_scalarmult_ed25519_base() (it clamps as X25519 does, constant time
 * in the secret scalar) gives y, and one field inversion here (about 3 us)
 * gives u.  Everything computed here is the public key: nothing secret goes
 * through this file's arithmetic.
 *
 * The field arithmetic is radix 2^51 with 128-bit products, so it is built
 * only where the compiler has them (64-bit hosts) and libsodium has the
 * Ed25519 scalar multiplication (not in its minimal builds); elsewhere, and
 * if Ed25519 refuses the scalar, crypto_scalarmult_base() does the job.
 * tests/common/check_noise.c compares the two on random and edge keys.
 */
#include "cr/noise.h"

#include <string.h>

#include <sodium.h>

#if defined(__SIZEOF_INT128__) && !defined(SODIUM_LIBRARY_MINIMAL)
#define X25519_FAST 1

typedef unsigned __int128 u128;
typedef uint64_t fe51[5];

static const uint64_t MASK51 = ((uint64_t)1 << 51) - 1;

static uint64_t load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void store64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The low 255 bits of s, limbs below 2^51. */
static void fe51_frombytes(fe51 h, const uint8_t s[32])
{
	uint64_t w0 = load64(s), w1 = load64(s + 8), w2 = load64(s + 16),
		 w3 = load64(s + 24);

	h[0] = w0 & MASK51;
	h[1] = (w0 >> 51 | w1 << 13) & MASK51;
	h[2] = (w1 >> 38 | w2 << 26) & MASK51;
	h[3] = (w2 >> 25 | w3 << 39) & MASK51;
	h[4] = (w3 >> 12) & MASK51;
}

/*
 * The 5 column sums of a product, each below 2^111, back to limbs below
 * 2^52 (below 2^51 but for limb 1, which may exceed it by a little);
 * 2^255 = 19 folds the top carry into limb 0.
 */
static void fe51_carry(fe51 h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
	uint64_t c;

	r1 += (uint64_t)(r0 >> 51);
	h[0] = (uint64_t)r0 & MASK51;
	r2 += (uint64_t)(r1 >> 51);
	h[1] = (uint64_t)r1 & MASK51;
	r3 += (uint64_t)(r2 >> 51);
	h[2] = (uint64_t)r2 & MASK51;
	r4 += (uint64_t)(r3 >> 51);
	h[3] = (uint64_t)r3 & MASK51;
	/* r4's products carry no factor 19: r4 < 2^108, and 19 times its
	 * carry stays below 2^62. */
	c = (uint64_t)(r4 >> 51);
	h[4] = (uint64_t)r4 & MASK51;
	h[0] += 19 * c;
	h[1] += h[0] >> 51;
	h[0] &= MASK51;
}

/* h = f * g, inputs with limbs below 2^52.  Each of the 5 sums is below
 * 5 * 19 * 2^104 < 2^111. */
static void fe51_mul(fe51 h, const fe51 f, const fe51 g)
{
	uint64_t g1 = 19 * g[1], g2 = 19 * g[2], g3 = 19 * g[3],
		 g4 = 19 * g[4];
	u128 r0, r1, r2, r3, r4;

	r0 = (u128)f[0] * g[0] + (u128)f[1] * g4 + (u128)f[2] * g3 +
	     (u128)f[3] * g2 + (u128)f[4] * g1;
	r1 = (u128)f[0] * g[1] + (u128)f[1] * g[0] + (u128)f[2] * g4 +
	     (u128)f[3] * g3 + (u128)f[4] * g2;
	r2 = (u128)f[0] * g[2] + (u128)f[1] * g[1] + (u128)f[2] * g[0] +
	     (u128)f[3] * g4 + (u128)f[4] * g3;
	r3 = (u128)f[0] * g[3] + (u128)f[1] * g[2] + (u128)f[2] * g[1] +
	     (u128)f[3] * g[0] + (u128)f[4] * g4;
	r4 = (u128)f[0] * g[4] + (u128)f[1] * g[3] + (u128)f[2] * g[2] +
	     (u128)f[3] * g[1] + (u128)f[4] * g[0];
	fe51_carry(h, r0, r1, r2, r3, r4);
}

/* h = f^2: fe51_mul(h, f, f) with the symmetric products once, doubled. */
static void fe51_sq(fe51 h, const fe51 f)
{
	uint64_t f0_2 = 2 * f[0], f1_2 = 2 * f[1], f1_38 = 38 * f[1],
		 f2_38 = 38 * f[2], f3_38 = 38 * f[3], f3_19 = 19 * f[3],
		 f4_19 = 19 * f[4];
	u128 r0, r1, r2, r3, r4;

	r0 = (u128)f[0] * f[0] + (u128)f1_38 * f[4] + (u128)f2_38 * f[3];
	r1 = (u128)f0_2 * f[1] + (u128)f2_38 * f[4] + (u128)f3_19 * f[3];
	r2 = (u128)f0_2 * f[2] + (u128)f[1] * f[1] + (u128)f3_38 * f[4];
	r3 = (u128)f0_2 * f[3] + (u128)f1_2 * f[2] + (u128)f4_19 * f[4];
	r4 = (u128)f0_2 * f[4] + (u128)f1_2 * f[3] + (u128)f[2] * f[2];
	fe51_carry(h, r0, r1, r2, r3, r4);
}

/* h = f^(2^n) */
static void fe51_sqn(fe51 h, const fe51 f, int n)
{
	memcpy(h, f, sizeof(fe51));
	while (n-- > 0)
		fe51_sq(h, h);
}

/* h = z^(p - 2) = 1 / z (0 for 0): the addition chain of ref10. */
static void fe51_invert(fe51 out, const fe51 z)
{
	fe51 z2, z9, z11, z2_5_0, z2_10_0, z2_20_0, z2_50_0, z2_100_0, t;

	fe51_sq(z2, z);
	fe51_sqn(t, z2, 2);
	fe51_mul(z9, t, z);
	fe51_mul(z11, z9, z2);
	fe51_sq(t, z11);
	fe51_mul(z2_5_0, t, z9);
	fe51_sqn(t, z2_5_0, 5);
	fe51_mul(z2_10_0, t, z2_5_0);
	fe51_sqn(t, z2_10_0, 10);
	fe51_mul(z2_20_0, t, z2_10_0);
	fe51_sqn(t, z2_20_0, 20);
	fe51_mul(t, t, z2_20_0);
	fe51_sqn(t, t, 10);
	fe51_mul(z2_50_0, t, z2_10_0);
	fe51_sqn(t, z2_50_0, 50);
	fe51_mul(z2_100_0, t, z2_50_0);
	fe51_sqn(t, z2_100_0, 100);
	fe51_mul(t, t, z2_100_0);
	fe51_sqn(t, t, 50);
	fe51_mul(t, t, z2_50_0);
	fe51_sqn(t, t, 5);
	fe51_mul(out, t, z11);
}

/* The canonical encoding (below p) of f, whose limbs are below 2^52. */
static void fe51_tobytes(uint8_t s[32], const fe51 f)
{
	const uint64_t top = (uint64_t)1 << 51;
	uint64_t t[5];

	memcpy(t, f, sizeof(t));
	/* Twice around: every limb below 2^51, the value below 2^255. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 4; i++) {
			t[i + 1] += t[i] >> 51;
			t[i] &= MASK51;
		}
		t[0] += 19 * (t[4] >> 51);
		t[4] &= MASK51;
	}
	/* Subtract p if the value is at least p: add 19, and the carry out
	 * of bit 255 says so; then take 19 back off unless it was. */
	t[0] += 19;
	for (int i = 0; i < 4; i++) {
		t[i + 1] += t[i] >> 51;
		t[i] &= MASK51;
	}
	t[0] += 19 * (t[4] >> 51);
	t[4] &= MASK51;
	t[0] += top - 19;
	t[1] += top - 1;
	t[2] += top - 1;
	t[3] += top - 1;
	t[4] += top - 1;
	for (int i = 0; i < 4; i++) {
		t[i + 1] += t[i] >> 51;
		t[i] &= MASK51;
	}
	t[4] &= MASK51;
	store64(s, t[0] | t[1] << 51);
	store64(s + 8, t[1] >> 13 | t[2] << 38);
	store64(s + 16, t[2] >> 26 | t[3] << 25);
	store64(s + 24, t[3] >> 39 | t[4] << 12);
}

/* 1 + y and 1 - y for the Edwards y encoded in ed (sign bit ignored: the
 * Montgomery u = (1 + y) / (1 - y) does not depend on x). */
static void edwards_y_frac(fe51 num, fe51 den, const uint8_t ed[32])
{
	/* 2p + 1, limb by limb, so that subtracting y (limbs below 2^51)
	 * never goes negative. */
	static const uint64_t two_p_plus_1[5] = {
		0xfffffffffffdbULL, 0xffffffffffffeULL, 0xffffffffffffeULL,
		0xffffffffffffeULL, 0xffffffffffffeULL,
	};
	fe51 y;

	fe51_frombytes(y, ed);
	memcpy(num, y, sizeof(fe51));
	num[0] += 1;
	for (int i = 0; i < 5; i++)
		den[i] = two_p_plus_1[i] - y[i];
}

static void edwards_y_to_u(uint8_t u[32], const uint8_t ed[32])
{
	fe51 num, den, inv;

	edwards_y_frac(num, den, ed);
	fe51_invert(inv, den);
	fe51_mul(num, num, inv);
	fe51_tobytes(u, num);
}
#endif

void cr_x25519_base(uint8_t pub[32], const uint8_t priv[32])
{
#ifdef X25519_FAST
	uint8_t ed[32];

	/* Refused only for a scalar that is 0 mod the group order, which a
	 * clamped one never is; the ladder then has the last word. */
	if (crypto_scalarmult_ed25519_base(ed, priv) == 0) {
		edwards_y_to_u(pub, ed);
		return;
	}
#endif
	crypto_scalarmult_base(pub, priv);
}

void cr_x25519_base_batch(uint8_t (*pub)[32], const uint8_t (*priv)[32],
			  size_t n)
{
#ifdef X25519_FAST
	/* num/den of every key's u; acc[k] = den[0] * ... * den[k] over the
	 * keys Ed25519 took (ok).  1 - y is never 0: y = 1 is the neutral
	 * point, which Ed25519 refuses. */
	fe51 num[CR_X25519_BATCH_MAX], den[CR_X25519_BATCH_MAX];
	fe51 acc[CR_X25519_BATCH_MAX], inv, t;
	uint8_t ok[CR_X25519_BATCH_MAX], ed[32];
	size_t last = 0, m = 0;

	if (n > CR_X25519_BATCH_MAX) {
		for (size_t i = 0; i < n; i++)
			cr_x25519_base(pub[i], priv[i]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ok[i] = crypto_scalarmult_ed25519_base(ed, priv[i]) == 0;
		if (!ok[i]) {
			crypto_scalarmult_base(pub[i], priv[i]);
			continue;
		}
		edwards_y_frac(num[i], den[i], ed);
		if (m == 0)
			memcpy(acc[i], den[i], sizeof(fe51));
		else
			fe51_mul(acc[i], acc[last], den[i]);
		last = i;
		m++;
	}
	if (m == 0)
		return;
	/* inv = 1 / acc[last]; walking back, inv * acc[previous] is the
	 * inverse of den[i], and inv * den[i] that of acc[previous]. */
	fe51_invert(inv, acc[last]);
	for (size_t i = last + 1; i-- > 0;) {
		size_t prev = i;

		if (!ok[i])
			continue;
		while (prev-- > 0 && !ok[prev])
			;
		if (prev == (size_t)-1) {
			fe51_mul(t, num[i], inv);
		} else {
			fe51_mul(t, inv, acc[prev]);
			fe51_mul(inv, inv, den[i]);
			fe51_mul(t, num[i], t);
		}
		fe51_tobytes(pub[i], t);
	}
#else
	for (size_t i = 0; i < n; i++)
		cr_x25519_base(pub[i], priv[i]);
#endif
}
