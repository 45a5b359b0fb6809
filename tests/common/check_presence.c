/*
 * Presence records (common/carrier/records/src/presence.c): signing and
 * verifying, and every way a ring node could hand us a bad one: altered, for
 * another device, expired, from the future, oversized, over the field limits,
 * unsigned, truncated.
 */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/identity.h"
#include "cr/presence.h"

#include "../check_err.h"
#include "../check_main.h"

static const char presence_ctx[] = "korhal presence v1"; /* with its NUL */

enum { NOW = 1700000000, LIFETIME = 600 };

/* ---- helpers ------------------------------------------------------------- */

static void test_keypair(enum cr_id_type type, uint8_t n, struct cr_keypair *kp)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, n, sizeof(seed));
	kp->type = type;
	ck_assert_int_eq(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
}

/* A typical record: two addresses, two attached nodes. */
static void sample(const struct cr_keypair *dev, struct cr_presence *p)
{
	struct cr_keypair node;

	memset(p, 0, sizeof(*p));
	memcpy(p->device_pk, dev->pk, CR_PKLEN);
	p->seq = 17;
	p->issued_unix = NOW;
	p->expires_unix = NOW + LIFETIME;
	p->n_addrs = 2;
	snprintf(p->addrs[0], sizeof(p->addrs[0]), "198.51.100.7:41000");
	snprintf(p->addrs[1], sizeof(p->addrs[1]), "[fe80::1]:41000");
	p->n_attached = 2;
	test_keypair(CR_ID_NODE, 50, &node);
	memcpy(p->attached[0], node.pk, CR_PKLEN);
	test_keypair(CR_ID_NODE, 51, &node);
	memcpy(p->attached[1], node.pk, CR_PKLEN);
}

static void verify_expect_err(const uint8_t *buf, size_t len, uint64_t now,
			      const struct cr_id *want_id, const char *want)
{
	struct cr_error *err = NULL;
	struct cr_presence out;

	cr_check_expect_err(cr_presence_verify(buf, len, now, want_id, &out,
					       &err),
			    &err, want);
}

/*
 * Signs an arbitrary body as dev, bypassing cr_presence_sign's checks, so
 * the verifier's own checks can be exercised; writes the SignedPresence into
 * out (cap bytes) and returns its length.
 */
static size_t sign_raw(const struct cr_keypair *dev,
		       const Carrier__PresenceBody *body, uint8_t *out,
		       size_t cap)
{
	Carrier__SignedPresence sp = CARRIER__SIGNED_PRESENCE__INIT;
	size_t blen = carrier__presence_body__get_packed_size(body), len;
	uint8_t *msg = malloc(sizeof(presence_ctx) + blen);
	uint8_t sig[CR_SIGLEN];

	ck_assert_ptr_nonnull(msg);
	memcpy(msg, presence_ctx, sizeof(presence_ctx));
	carrier__presence_body__pack(body, msg + sizeof(presence_ctx));
	crypto_sign_detached(sig, NULL, msg, sizeof(presence_ctx) + blen,
			     dev->sk);
	sp.body.data = msg + sizeof(presence_ctx);
	sp.body.len = blen;
	sp.signature.data = sig;
	sp.signature.len = sizeof(sig);
	len = carrier__signed_presence__get_packed_size(&sp);
	ck_assert_uint_le(len, cap);
	carrier__signed_presence__pack(&sp, out);
	free(msg);
	return len;
}

/* A raw body for dev with n_addrs copies of addr and n_att attached keys. */
struct raw_body {
	Carrier__PresenceBody body;
	uint8_t pk[CR_PKLEN];
	char *addrs[32];
	ProtobufCBinaryData att[32];
	uint8_t att_keys[32][CR_PKLEN];
	char addr[128];
};

static void raw_init(struct raw_body *rb, const struct cr_keypair *dev,
		     size_t n_addrs, const char *addr, size_t n_att)
{
	Carrier__PresenceBody init = CARRIER__PRESENCE_BODY__INIT;

	memset(rb, 0, sizeof(*rb));
	rb->body = init;
	memcpy(rb->pk, dev->pk, CR_PKLEN);
	snprintf(rb->addr, sizeof(rb->addr), "%s", addr);
	for (size_t i = 0; i < n_addrs; i++)
		rb->addrs[i] = rb->addr;
	for (size_t i = 0; i < n_att; i++) {
		memset(rb->att_keys[i], (int)i + 1, CR_PKLEN);
		rb->att[i].data = rb->att_keys[i];
		rb->att[i].len = CR_PKLEN;
	}
	rb->body.device_pk.data = rb->pk;
	rb->body.device_pk.len = CR_PKLEN;
	rb->body.seq = 1;
	rb->body.issued_unix = NOW;
	rb->body.expires_unix = NOW + LIFETIME;
	rb->body.n_addrs = n_addrs;
	rb->body.addrs = rb->addrs;
	rb->body.n_attached = n_att;
	rb->body.attached = rb->att;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	struct cr_id id;
	uint8_t buf[CP_PRESENCE_MAX];
	size_t len = 0;

	test_keypair(CR_ID_DEVICE, 1, &dev);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, CP_PRESENCE_MAX);
	cr_id_from_pk(CR_ID_DEVICE, dev.pk, &id);
	memset(&out, 0xee, sizeof(out));
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW + 10, &id, &out,
					    &err),
			 0);
	ck_assert_ptr_null(err);
	ck_assert_mem_eq(out.device_pk, dev.pk, CR_PKLEN);
	ck_assert(cr_id_equal(&out.id, &id));
	ck_assert_uint_eq(out.seq, 17);
	ck_assert_uint_eq(out.issued_unix, NOW);
	ck_assert_uint_eq(out.expires_unix, NOW + LIFETIME);
	ck_assert_uint_eq(out.n_addrs, 2);
	ck_assert_str_eq(out.addrs[0], "198.51.100.7:41000");
	ck_assert_str_eq(out.addrs[1], "[fe80::1]:41000");
	ck_assert_uint_eq(out.n_attached, 2);
	ck_assert_mem_eq(out.attached[0], p.attached[0], CR_PKLEN);
	ck_assert_mem_eq(out.attached[1], p.attached[1], CR_PKLEN);
	/* Unused slots are zeroed, not left over. */
	ck_assert_int_eq(out.addrs[2][0], 0);

	/* Without an expected identity, and with nothing listed. */
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW, NULL, &out, &err),
			 0);
	p.n_addrs = 0;
	p.n_attached = 0;
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW, &id, &out, &err),
			 0);
	ck_assert_uint_eq(out.n_addrs, 0);
	ck_assert_uint_eq(out.n_attached, 0);
}
END_TEST

/* The device's tags ride in the signed record (deployments target them):
 * they round-trip, and a tag that is not K=V, or one too many, is refused
 * when signing. */
START_TEST(test_tags)
{
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	uint8_t buf[CP_PRESENCE_MAX];
	size_t len = 0;

	test_keypair(CR_ID_DEVICE, 1, &dev);
	sample(&dev, &p);
	snprintf(p.tags[0], CP_TAG_STR_MAX, "site=lab");
	snprintf(p.tags[1], CP_TAG_STR_MAX, "hw=rev2");
	p.n_tags = 2;
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW, NULL, &out, &err),
			 0);
	ck_assert_uint_eq(out.n_tags, 2);
	ck_assert_str_eq(out.tags[0], "site=lab");
	ck_assert_str_eq(out.tags[1], "hw=rev2");
	snprintf(p.tags[1], CP_TAG_STR_MAX, "no-equals");
	ck_assert_int_lt(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	cr_error_free(err);
	err = NULL;
	snprintf(p.tags[1], CP_TAG_STR_MAX, "a=b c");
	ck_assert_int_lt(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	cr_error_free(err);
	err = NULL;
	p.n_tags = CP_TAGS_MAX + 1;
	ck_assert_int_lt(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	cr_error_free(err);
}
END_TEST

START_TEST(test_tamper)
{
	Carrier__SignedPresence *sp;
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	uint8_t buf[CP_PRESENCE_MAX], copy[CP_PRESENCE_MAX];
	size_t len, body_off, sig_off;

	test_keypair(CR_ID_DEVICE, 2, &dev);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	sp = carrier__signed_presence__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(sp);
	/* Locate the regions: body bytes, then signature bytes. */
	body_off = (size_t)((uint8_t *)memmem(buf, len, sp->body.data,
					      sp->body.len) -
			    buf);
	sig_off = (size_t)((uint8_t *)memmem(buf, len, sp->signature.data,
					     CR_SIGLEN) -
			   buf);
	ck_assert_uint_lt(body_off, sig_off);

	/* Every bit and every byte, in the framing, the key, the sequence,
	 * the times, the addresses, the attached nodes and the signature. */
	for (size_t i = 0; i < len; i++) {
		static const uint8_t flips[] = { 0x01, 0x02, 0x04, 0x08,
						 0x10, 0x20, 0x40, 0x80,
						 0xff };

		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(copy, buf, len);
			copy[i] ^= flips[f];
			ck_assert_msg(cr_presence_verify(copy, len, NOW, NULL,
							 &out, &err) < 0,
				      "flip 0x%02x at byte %zu (body at %zu, "
				      "signature at %zu) accepted",
				      flips[f], i, body_off, sig_off);
			err = cr_error_free(err);
		}
	}
	/* A change inside the body that keeps it well-formed is caught by
	 * the signature: the sequence number (a replay with a higher seq). */
	memcpy(copy, buf, len);
	{
		Carrier__PresenceBody *b =
			carrier__presence_body__unpack(NULL, sp->body.len,
						       sp->body.data);
		uint8_t nb[CP_PRESENCE_MAX];
		size_t nlen;

		ck_assert_ptr_nonnull(b);
		b->seq = 18; /* same encoded length as 17 */
		nlen = carrier__presence_body__pack(b, nb);
		ck_assert_uint_eq(nlen, sp->body.len);
		memcpy(copy + body_off, nb, nlen);
		verify_expect_err(copy, len, NOW, NULL,
				  "presence record signature invalid");
		carrier__presence_body__free_unpacked(b, NULL);
	}
	/* The signature itself. */
	memcpy(copy, buf, len);
	copy[sig_off + 5] ^= 0x10;
	verify_expect_err(copy, len, NOW, NULL,
			  "presence record signature invalid");
	/* Signed by another device's key. */
	{
		struct raw_body rb;
		struct cr_keypair other;

		test_keypair(CR_ID_DEVICE, 3, &other);
		raw_init(&rb, &dev, 1, "192.0.2.1:1", 0);
		len = sign_raw(&other, &rb.body, copy, sizeof(copy));
		verify_expect_err(copy, len, NOW, NULL,
				  "presence record signature invalid");
	}
	carrier__signed_presence__free_unpacked(sp, NULL);
}
END_TEST

START_TEST(test_wrong_id)
{
	struct cr_keypair dev, other;
	struct cr_presence p;
	struct cr_error *err = NULL;
	struct cr_id id, oid, as_vendor;
	char want[200], a[CR_ID_STRMAX], b[CR_ID_STRMAX];
	uint8_t buf[CP_PRESENCE_MAX];
	size_t len;

	test_keypair(CR_ID_DEVICE, 4, &dev);
	test_keypair(CR_ID_DEVICE, 5, &other);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	cr_id_from_pk(CR_ID_DEVICE, dev.pk, &id);
	cr_id_from_pk(CR_ID_DEVICE, other.pk, &oid);
	snprintf(want, sizeof(want), "presence record is for %s, not %s",
		 cr_id_format(&id, a), cr_id_format(&oid, b));
	verify_expect_err(buf, len, NOW, &oid, want);
	/* The same key under another type is another identity. */
	cr_id_from_pk(CR_ID_VENDOR, dev.pk, &as_vendor);
	verify_expect_err(buf, len, NOW, &as_vendor, "presence record is for");

	/* Signing refuses a record that names another key, or a non-device
	 * key. */
	memcpy(p.device_pk, other.pk, CR_PKLEN);
	cr_check_expect_err(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					     &err),
			    &err, "not the signing key");
	test_keypair(CR_ID_VENDOR, 6, &other);
	memcpy(p.device_pk, other.pk, CR_PKLEN);
	cr_check_expect_err(cr_presence_sign(&other, &p, buf, sizeof(buf), &len,
					     &err),
			    &err, "not a vendor key");
}
END_TEST

START_TEST(test_times)
{
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	uint8_t buf[CP_PRESENCE_MAX];
	size_t len;

	test_keypair(CR_ID_DEVICE, 7, &dev);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	/* Expired at exactly expires_unix and after. */
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW + LIFETIME - 1, NULL,
					    &out, &err),
			 0);
	verify_expect_err(buf, len, NOW + LIFETIME, NULL,
			  "presence record expired at 2023-11-14T22:23:20Z");
	verify_expect_err(buf, len, NOW + 100000, NULL, "expired");

	/* Issued in the future: 5 minutes of skew are tolerated. */
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW - 300, NULL, &out,
					    &err),
			 0);
	verify_expect_err(buf, len, NOW - 301, NULL, "in the future");
	verify_expect_err(buf, len, 0, NULL, "in the future");

	/* Expiring before being issued. */
	p.expires_unix = p.issued_unix;
	cr_check_expect_err(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					     &err),
			    &err, "before it is issued");
	{
		struct raw_body rb;

		raw_init(&rb, &dev, 0, "", 0);
		rb.body.expires_unix = NOW - 1;
		len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
		verify_expect_err(buf, len, NOW - 100, NULL,
				  "before it is issued");
		/* Times near the end of uint64 do not overflow the checks. */
		rb.body.issued_unix = UINT64_MAX - 1;
		rb.body.expires_unix = UINT64_MAX;
		len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
		verify_expect_err(buf, len, NOW, NULL, "in the future");
		ck_assert_int_eq(cr_presence_verify(buf, len, UINT64_MAX - 2,
						    NULL, &out, &err),
				 0);
		verify_expect_err(buf, len, UINT64_MAX, NULL, "expired");
	}
}
END_TEST

START_TEST(test_oversize)
{
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	uint8_t buf[CP_PRESENCE_MAX + 64], small[10];
	size_t len, pad;

	test_keypair(CR_ID_DEVICE, 8, &dev);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	/*
	 * Pad the valid record with an unknown length-delimited field
	 * (field 15) so that it is one byte over the limit: protobuf-c would
	 * unpack it happily, so only the size check can refuse it.
	 */
	pad = CP_PRESENCE_MAX + 1 - len;
	ck_assert_uint_gt(pad, 3);
	buf[len] = 0x7a; /* field 15, length-delimited */
	buf[len + 1] = (uint8_t)(0x80 | ((pad - 3) & 0x7f));
	buf[len + 2] = (uint8_t)((pad - 3) >> 7);
	memset(buf + len + 3, 'x', pad - 3);
	{
		Carrier__SignedPresence *sp =
			carrier__signed_presence__unpack(NULL,
							 CP_PRESENCE_MAX + 1,
							 buf);

		ck_assert_ptr_nonnull(sp); /* well-formed, only too big */
		carrier__signed_presence__free_unpacked(sp, NULL);
	}
	verify_expect_err(buf, CP_PRESENCE_MAX + 1, NOW, NULL,
			  "presence record is 901 bytes, more than the limit "
			  "of 900");
	/* At exactly the limit the padding is fine. */
	pad--;
	buf[len + 1] = (uint8_t)(0x80 | ((pad - 3) & 0x7f));
	buf[len + 2] = (uint8_t)((pad - 3) >> 7);
	ck_assert_int_eq(cr_presence_verify(buf, CP_PRESENCE_MAX, NOW, NULL,
					    &out, &err),
			 0);

	/* Signing into a buffer too small, or a record too big. */
	cr_check_expect_err(cr_presence_sign(&dev, &p, small, sizeof(small),
					     &len, &err),
			    &err, "the buffer holds 10");
	/* A large record (every list full, every address as long as an IPv6
	 * endpoint without a zone can be) fits under the limit. */
	p.n_addrs = CP_ADDRS_MAX;
	p.n_attached = CP_ATTACHED_MAX;
	for (size_t i = 0; i < CP_ADDRS_MAX; i++)
		snprintf(p.addrs[i], sizeof(p.addrs[i]),
			 "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.%zu]:65535",
			 200 + i);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	ck_assert_uint_le(len, CP_PRESENCE_MAX);
	printf("largest presence record: %zu bytes (limit %d)\n", len,
	       (int)CP_PRESENCE_MAX);
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW, NULL, &out, &err),
			 0);
	ck_assert_str_eq(out.addrs[7],
			 "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.207]:65535");
	/* With zones every address can reach 63 characters, and the record
	 * no longer fits: signing says so. */
	for (size_t i = 0; i < CP_ADDRS_MAX; i++)
		snprintf(p.addrs[i], sizeof(p.addrs[i]),
			 "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.%zu%%"
			 "abcdefghi]:65535",
			 200 + i);
	ck_assert_uint_eq(strlen(p.addrs[0]), CP_ADDR_STR_MAX - 1);
	cr_check_expect_err(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					     &err),
			    &err, "list fewer addresses");
}
END_TEST

START_TEST(test_limits)
{
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	struct raw_body rb;
	uint8_t buf[CP_PRESENCE_MAX];
	size_t len;
	char longest[CP_ADDR_STR_MAX + 8];
	static const struct {
		const char *addr;
		int ok;
	} addrs[] = {
		{ "192.0.2.1:1", 1 },
		{ "[::1]:65535", 1 },
		{ "[2001:db8::1]:4500", 1 },
		{ "[fe80::1%2]:4500", 1 },
		{ "[fe80::1%eth0]:4500", 1 },
		{ "[fe80::1%]:4500", 0 },
		{ "[fe80::1%a/b]:4500", 0 },
		{ "[fe80::1%0123456789abcdef]:4500", 0 },
		{ "[fe80::1%2%3]:4500", 0 },
		{ "192.0.2.1", 0 },
		{ "192.0.2.1:", 0 },
		{ "192.0.2.1:0", 0 },
		{ "192.0.2.1:65536", 0 },
		{ "192.0.2.1:+1", 0 },
		{ "192.0.2:4500", 0 },
		{ "host.example:4500", 0 },
		{ "::1:4500", 0 },
		{ "[::1]4500", 0 },
		{ "[::g]:4500", 0 },
		{ "[]:4500", 0 },
		{ ":4500", 0 },
		{ "", 0 },
		{ "192.0.2.1 :4500", 0 },
		{ "192.0.2.1:4500\n", 0 },
	};

	test_keypair(CR_ID_DEVICE, 9, &dev);

	/* Address syntax, through both signing and verifying. */
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		sample(&dev, &p);
		p.n_addrs = 1;
		snprintf(p.addrs[0], sizeof(p.addrs[0]), "%s", addrs[i].addr);
		ck_assert_msg((cr_presence_sign(&dev, &p, buf, sizeof(buf),
						&len, &err) == 0) ==
				      addrs[i].ok,
			      "sign '%s': %s", addrs[i].addr,
			      cr_error_msg(err));
		err = cr_error_free(err);
		raw_init(&rb, &dev, 1, addrs[i].addr, 0);
		len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
		if (addrs[i].ok) {
			ck_assert_int_eq(cr_presence_verify(buf, len, NOW,
							    NULL, &out, &err),
					 0);
			ck_assert_str_eq(out.addrs[0], addrs[i].addr);
		} else {
			verify_expect_err(buf, len, NOW, NULL,
					  "address 0 is not a numeric");
		}
	}

	/* Address length: CP_ADDR_STR_MAX - 1 characters is the most. */
	memset(longest, 0, sizeof(longest));
	snprintf(longest, sizeof(longest),
		 "[0000:0000:0000:0000:0000:0000:0000:0001]:4500");
	raw_init(&rb, &dev, 1, longest, 0);
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW, NULL, &out, &err),
			 0);
	memset(longest, '1', CP_ADDR_STR_MAX);
	longest[CP_ADDR_STR_MAX] = '\0';
	raw_init(&rb, &dev, 1, longest, 0);
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL, "longer than 63 characters");
	/* A full buffer without a NUL on the signing side. */
	sample(&dev, &p);
	memset(p.addrs[1], '1', CP_ADDR_STR_MAX);
	cr_check_expect_err(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					     &err),
			    &err, "longer than 63 characters");

	/* Counts: up to the limits, and one over. */
	raw_init(&rb, &dev, CP_ADDRS_MAX, "10.0.0.1:1", CP_ATTACHED_MAX);
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	ck_assert_int_eq(cr_presence_verify(buf, len, NOW, NULL, &out, &err),
			 0);
	ck_assert_uint_eq(out.n_addrs, CP_ADDRS_MAX);
	ck_assert_uint_eq(out.n_attached, CP_ATTACHED_MAX);
	raw_init(&rb, &dev, CP_ADDRS_MAX + 1, "10.0.0.1:1", 0);
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL,
			  "lists 9 addresses, more than the limit of 8");
	raw_init(&rb, &dev, 0, "", CP_ATTACHED_MAX + 1);
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL,
			  "lists 9 attached nodes, more than the limit of 8");
	/* Many empty addresses: still under the size limit, over the count. */
	raw_init(&rb, &dev, 32, "", 0);
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL, "lists 32 addresses");
	sample(&dev, &p);
	p.n_addrs = CP_ADDRS_MAX + 1;
	cr_check_expect_err(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					     &err),
			    &err, "the limits are 8");

	/* An attached key of the wrong length. */
	raw_init(&rb, &dev, 0, "", 2);
	rb.att[1].len = 31;
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL,
			  "attached node 1 key is 31 bytes");
}
END_TEST

START_TEST(test_garbage)
{
	Carrier__SignedPresence sp = CARRIER__SIGNED_PRESENCE__INIT;
	Carrier__SignedPresence *in;
	struct cr_keypair dev;
	struct cr_presence p, out;
	struct cr_error *err = NULL;
	struct raw_body rb;
	uint8_t buf[CP_PRESENCE_MAX], copy[CP_PRESENCE_MAX];
	size_t len, clen;

	test_keypair(CR_ID_DEVICE, 10, &dev);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);

	verify_expect_err(buf, 0, NOW, NULL, "empty");
	verify_expect_err(NULL, 5, NOW, NULL, "empty");
	verify_expect_err((const uint8_t *)"\xff\xff\xff", 3, NOW, NULL,
			  "not a valid SignedPresence");
	/* Truncated anywhere. */
	for (size_t cut = 1; cut < len; cut++) {
		ck_assert_msg(cr_presence_verify(buf, cut, NOW, NULL, &out,
						 &err) < 0,
			      "truncated at %zu accepted", cut);
		err = cr_error_free(err);
	}
	verify_expect_err(buf, len - 1, NOW, NULL, "truncated or corrupt");

	in = carrier__signed_presence__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(in);
	/* Unsigned, a short signature, no body. */
	sp.body = in->body;
	clen = carrier__signed_presence__pack(&sp, copy);
	verify_expect_err(copy, clen, NOW, NULL, "unsigned");
	sp.signature.data = in->signature.data;
	sp.signature.len = 32;
	clen = carrier__signed_presence__pack(&sp, copy);
	verify_expect_err(copy, clen, NOW, NULL, "signature is 32 bytes");
	sp.signature.len = 64;
	sp.body.len = 0;
	clen = carrier__signed_presence__pack(&sp, copy);
	verify_expect_err(copy, clen, NOW, NULL, "empty body");
	carrier__signed_presence__free_unpacked(in, NULL);

	/* A body that is not a PresenceBody; device keys that are not keys. */
	{
		uint8_t zero_sig[CR_SIGLEN] = { 0 };
		uint8_t junk[] = { 0x0a, 0x20, 0x01 };

		sp.body.data = junk;
		sp.body.len = sizeof(junk);
		sp.signature.data = zero_sig;
		clen = carrier__signed_presence__pack(&sp, copy);
		verify_expect_err(copy, clen, NOW, NULL, "body is malformed");
	}
	raw_init(&rb, &dev, 0, "", 0);
	rb.body.device_pk.len = 31;
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL, "device key is 31 bytes");
	raw_init(&rb, &dev, 0, "", 0);
	memset(rb.pk, 0, CR_PKLEN); /* small order */
	len = sign_raw(&dev, &rb.body, buf, sizeof(buf));
	verify_expect_err(buf, len, NOW, NULL, "not a valid Ed25519 key");
}
END_TEST

/* The expiry read back without verifying, as the node's sweep does; a
 * truncated or empty record gives none. */
START_TEST(test_expires)
{
	struct cr_keypair dev;
	struct cr_presence p;
	struct cr_error *err = NULL;
	uint8_t buf[CP_PRESENCE_MAX];
	uint64_t exp = 0;
	size_t len = 0;

	test_keypair(CR_ID_DEVICE, 1, &dev);
	sample(&dev, &p);
	ck_assert_int_eq(cr_presence_sign(&dev, &p, buf, sizeof(buf), &len,
					  &err),
			 0);
	ck_assert_int_eq(cr_presence_expires(buf, len, &exp), 0);
	ck_assert_uint_eq(exp, NOW + LIFETIME);
	ck_assert_int_eq(cr_presence_expires(buf, len / 2, &exp), -1);
	ck_assert_int_eq(cr_presence_expires(buf, 0, &exp), -1);
	ck_assert_int_eq(cr_presence_expires(buf, CP_PRESENCE_MAX + 1, &exp), -1);
}
END_TEST

static Suite *presence_suite(void)
{
	Suite *s = suite_create("presence");
	TCase *tc;

	tc = tcase_create("sign");
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_tags);
	tcase_add_test(tc, test_wrong_id);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_expires);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(presence_suite());
}
