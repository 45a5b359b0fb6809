/*
 * Unit tests of cr/fleet.h: trust roots (build, decode, thresholds,
 * rotation, expiry, tampering) and releases (k of n release signatures,
 * keys of other roles, unknown and duplicate signers, tampering,
 * architectures), the health probe's text form and the file forms.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/fleet.h"
#include "cr/util.h"

#include "../check_err.h"
#include "../check_main.h"

static struct cr_keypair kp_root[4], kp_rel[3], kp_roll[2], kp_other;

static void keys_setup(void)
{
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_root[i]),
				 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_rel[i]),
				 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_roll[i]),
				 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_other), 0);
}

static void role(struct cr_fleet_keys *k, const struct cr_keypair *kps,
		 size_t n, uint32_t threshold)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < n; i++)
		memcpy(k->pk[i], kps[i].pk, CR_PKLEN);
	k->n = n;
	k->threshold = threshold;
}

/* A trust root of version v: root keys kp_root[first..first+n), release 2
 * of 3, rollout 1 of 2; signed by the given signers (draft: any count). */
static struct cr_trust *trust_make(uint64_t v, uint64_t expires, size_t first,
				   size_t n, uint32_t thr,
				   const struct cr_keypair *const *signers,
				   size_t n_signers)
{
	struct cr_fleet_keys root, rel, roll;
	struct cr_error *err = NULL;
	struct cr_trust *t = NULL;

	role(&root, &kp_root[first], n, thr);
	role(&rel, kp_rel, 3, 2);
	role(&roll, kp_roll, 2, 1);
	if (cr_trust_build_draft(v, expires, &root, &rel, &roll, signers,
				 n_signers, &t, &err) < 0)
		ck_abort_msg("build: %s", cr_error_msg(err));
	return t;
}

START_TEST(test_trust_build_decode)
{
	const struct cr_keypair *s[] = { &kp_root[0], &kp_root[1] };
	struct cr_fleet_keys root, rel, roll;
	struct cr_error *err = NULL;
	struct cr_trust *t = NULL, *d = NULL;

	role(&root, kp_root, 3, 2);
	role(&rel, kp_rel, 3, 2);
	role(&roll, kp_roll, 2, 1);
	ck_assert_int_eq(cr_trust_build(1, 0, &root, &rel, &roll, s, 2, &t,
					&err),
			 0);
	ck_assert_int_eq(cr_trust_decode(t->blob, t->blob_len, NULL,
					 cr_now_unix(), &d, &err),
			 0);
	ck_assert_uint_eq(d->version, 1);
	ck_assert_uint_eq(d->root.n, 3);
	ck_assert_uint_eq(d->root.threshold, 2);
	ck_assert_uint_eq(d->release.threshold, 2);
	ck_assert_uint_eq(d->rollout.n, 2);
	ck_assert_uint_eq(d->n_signers, 2);
	ck_assert_int_eq(cr_trust_has_key(d, CR_ROLE_RELEASE, kp_rel[2].pk), 1);
	ck_assert_int_eq(cr_trust_has_key(d, CR_ROLE_ROOT, kp_rel[2].pk), 0);
	ck_assert_int_eq(cr_trust_has_key(d, CR_ROLE_ROLLOUT, kp_roll[1].pk),
			 1);
	cr_trust_free(d);

	/* One signer of a 2-of-3 root: cr_trust_build refuses, a draft
	 * decodes only as a draft until a second root key signs. */
	d = NULL;
	EXPECT_ERR(cr_trust_build(1, 0, &root, &rel, &roll, s, 1, &d, &err),
		   "1 of 2 root signatures");
	ck_assert_ptr_null(d);
	cr_trust_free(t);
	t = trust_make(1, 0, 0, 3, 2, s, 1);
	EXPECT_ERR(cr_trust_decode(t->blob, t->blob_len, NULL, 0, &d, &err),
		   "trust root v1: 1 of 2 root signatures");
	/* A signature by a key of another role does not count. */
	ck_assert_int_eq(cr_trust_sign(t, &kp_rel[0], &err), 0);
	EXPECT_ERR(cr_trust_decode(t->blob, t->blob_len, NULL, 0, &d, &err),
		   "1 of 2 root signatures");
	ck_assert_int_eq(cr_trust_sign(t, &kp_root[2], &err), 0);
	ck_assert_int_eq(cr_trust_decode(t->blob, t->blob_len, NULL, 0, &d,
					 &err),
			 0);
	cr_trust_free(d);
	/* The same key twice is refused. */
	EXPECT_ERR(cr_trust_sign(t, &kp_root[2], &err), "already signed");
	/* A signer that is not a root key is refused at build time. */
	{
		const struct cr_keypair *bad[] = { &kp_rel[0] };

		err = NULL;
		d = NULL;
		EXPECT_ERR(cr_trust_build_draft(1, 0, &root, &rel, &roll, bad,
						1, &d, &err),
			   "not one of the trust root's root keys");
	}
	/* Thresholds out of range. */
	root.threshold = 4;
	EXPECT_ERR(cr_trust_build(1, 0, &root, &rel, &roll, s, 2, &d, &err),
		   "root threshold is 4");
	root.threshold = 0;
	EXPECT_ERR(cr_trust_build(1, 0, &root, &rel, &roll, s, 2, &d, &err),
		   "root threshold is 0");
	cr_trust_free(t);
}
END_TEST

/* Replaces the 32 bytes pk in the body with repl (or flips one of them
 * when repl is NULL): still a valid protobuf, no longer what was signed. */
static void tamper_body(uint8_t *blob, size_t len, const uint8_t *pk,
			const uint8_t *repl)
{
	for (size_t i = 0; i + CR_PKLEN <= len; i++) {
		if (memcmp(blob + i, pk, CR_PKLEN) == 0) {
			if (repl != NULL)
				memcpy(blob + i, repl, CR_PKLEN);
			else
				blob[i + 5] ^= 0x01;
			return;
		}
	}
	ck_abort_msg("key not found in the record");
}

START_TEST(test_trust_tamper)
{
	const struct cr_keypair *s[] = { &kp_root[0], &kp_root[1] };
	struct cr_trust *t = trust_make(1, 0, 0, 2, 2, s, 2), *d = NULL;
	struct cr_error *err = NULL;
	uint8_t *copy = malloc(t->blob_len);

	ck_assert_int_eq(cr_trust_decode(t->blob, t->blob_len, NULL, 0, &d,
					 &err),
			 0);
	cr_trust_free(d);
	d = NULL;
	memcpy(copy, t->blob, t->blob_len);
	/* A release key, replaced by the attacker's. */
	tamper_body(copy, t->blob_len, kp_rel[1].pk, kp_other.pk);
	EXPECT_ERR(cr_trust_decode(copy, t->blob_len, NULL, 0, &d, &err),
		   "does not verify");
	ck_assert_ptr_null(d);
	/* Truncated, empty, oversized. */
	EXPECT_ERR(cr_trust_decode(t->blob, t->blob_len - 3, NULL, 0, &d, &err),
		   "trust root");
	EXPECT_ERR(cr_trust_decode(t->blob, 0, NULL, 0, &d, &err), "empty");
	EXPECT_ERR(cr_trust_decode(t->blob, CP_FLEET_RECORD_MAX + 1, NULL, 0,
				   &d, &err),
		   "limit");
	free(copy);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_trust_rotation)
{
	const struct cr_keypair *s1[] = { &kp_root[0], &kp_root[1] };
	const struct cr_keypair *s2[] = { &kp_root[2], &kp_root[3] };
	struct cr_trust *v1 = trust_make(1, 0, 0, 2, 2, s1, 2);
	struct cr_trust *v2 = trust_make(2, 0, 2, 2, 2, s2, 2);
	struct cr_trust *d = NULL, *v1b;
	struct cr_error *err = NULL;

	/* v2 signed by its own root alone: valid as a fresh root, refused as
	 * a rotation from v1. */
	ck_assert_int_eq(cr_trust_decode(v2->blob, v2->blob_len, NULL, 0, &d,
					 &err),
			 0);
	cr_trust_free(d);
	d = NULL;
	EXPECT_ERR(cr_trust_decode(v2->blob, v2->blob_len, v1, 0, &d, &err),
		   "0 of 2 signatures of the previous root v1");
	/* One of v1's two root keys: still refused. */
	ck_assert_int_eq(cr_trust_sign(v2, &kp_root[0], &err), 0);
	EXPECT_ERR(cr_trust_decode(v2->blob, v2->blob_len, v1, 0, &d, &err),
		   "1 of 2 signatures of the previous root v1");
	/* Both: accepted. */
	ck_assert_int_eq(cr_trust_sign(v2, &kp_root[1], &err), 0);
	ck_assert_int_eq(cr_trust_decode(v2->blob, v2->blob_len, v1, 0, &d,
					 &err),
			 0);
	ck_assert_uint_eq(d->version, 2);
	cr_trust_free(d);
	d = NULL;

	/* The old root alone cannot make a new one: a v3 with new keys signed
	 * by v2's root but not by its own. */
	{
		const struct cr_keypair *sx[] = { &kp_root[0] };
		struct cr_trust *v3 = trust_make(3, 0, 0, 2, 2, sx, 1);

		ck_assert_int_eq(cr_trust_sign(v3, &kp_root[2], &err), 0);
		ck_assert_int_eq(cr_trust_sign(v3, &kp_root[3], &err), 0);
		EXPECT_ERR(cr_trust_decode(v3->blob, v3->blob_len, v2, 0, &d,
					   &err),
			   "1 of 2 root signatures");
		cr_trust_free(v3);
	}

	/* Same version, or older: a rollback. */
	v1b = trust_make(1, 0, 0, 2, 2, s1, 2);
	EXPECT_ERR(cr_trust_decode(v1b->blob, v1b->blob_len, v1, 0, &d, &err),
		   "not newer than the current v1");
	EXPECT_ERR(cr_trust_decode(v1->blob, v1->blob_len, v2, 0, &d, &err),
		   "not newer than the current v2");
	cr_trust_free(v1b);
	cr_trust_free(v1);
	cr_trust_free(v2);
}
END_TEST

START_TEST(test_trust_expired)
{
	const struct cr_keypair *s[] = { &kp_root[0] };
	struct cr_trust *t = trust_make(4, 1000000, 0, 1, 1, s, 1), *d = NULL;
	struct cr_error *err = NULL;

	ck_assert_int_eq(cr_trust_decode(t->blob, t->blob_len, NULL, 999999, &d,
					 &err),
			 0);
	cr_trust_free(d);
	d = NULL;
	EXPECT_ERR(cr_trust_decode(t->blob, t->blob_len, NULL, 1000000, &d,
				   &err),
		   "trust root v4: expired at 1970-01-12");
	ck_assert_ptr_null(d);
	/* now 0: expiry not checked (the CLI showing an old root). */
	ck_assert_int_eq(cr_trust_decode(t->blob, t->blob_len, NULL, 0, &d,
					 &err),
			 0);
	cr_trust_free(d);
	cr_trust_free(t);
}
END_TEST

static void release_fields(struct cr_release *r)
{
	static char a0[] = "--port", a1[] = "8080", e0[] = "MODE=prod";

	memset(r, 0, sizeof(*r));
	snprintf(r->app, sizeof(r->app), "web");
	snprintf(r->version, sizeof(r->version), "1.2.0");
	r->counter = 7;
	snprintf(r->arch[0], sizeof(r->arch[0]), "amd64");
	snprintf(r->arch[1], sizeof(r->arch[1]), "arm64");
	r->n_arch = 2;
	snprintf(r->image, sizeof(r->image), "web:1.2.0");
	snprintf(r->origins[0], sizeof(r->origins[0]), "http://127.0.0.1:9/o");
	r->n_origins = 1;
	memset(r->index_id, 0xab, 32);
	memset(r->config_digest, 0xcd, 32);
	r->args[0] = a0;
	r->args[1] = a1;
	r->n_args = 2;
	r->env[0] = e0;
	r->n_env = 1;
	r->ports[0] = 8080;
	r->n_ports = 1;
	ck_assert_int_eq(cr_health_parse("http:8080/healthz", &r->health, NULL),
			 0);
}

static struct cr_trust *trust_v1(void)
{
	const struct cr_keypair *s[] = { &kp_root[0] };

	return trust_make(1, 0, 0, 1, 1, s, 1);
}

START_TEST(test_release_build_decode)
{
	struct cr_trust *t = trust_v1();
	struct cr_release in, *r = NULL, *d = NULL;
	struct cr_error *err = NULL;
	char h[300];

	release_fields(&in);
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	ck_assert_str_eq(r->app, "web");
	ck_assert_str_eq(r->version, "1.2.0");
	ck_assert_uint_eq(r->counter, 7);
	ck_assert_uint_eq(r->n_arch, 2);
	ck_assert_str_eq(r->arch[1], "arm64");
	ck_assert_str_eq(r->image, "web:1.2.0");
	ck_assert_str_eq(r->origins[0], "http://127.0.0.1:9/o");
	ck_assert_int_eq(r->index_id[31], 0xab);
	ck_assert_int_eq(r->config_digest[0], 0xcd);
	ck_assert_uint_eq(r->n_args, 2);
	ck_assert_str_eq(r->args[1], "8080");
	ck_assert_str_eq(r->env[0], "MODE=prod");
	ck_assert_uint_eq(r->ports[0], 8080);
	cr_health_format(&r->health, h, sizeof(h));
	ck_assert_str_eq(h, "http:8080/healthz");
	ck_assert_uint_ne(r->created_unix, 0);
	ck_assert_uint_eq(r->n_signers, 1);
	ck_assert_mem_eq(r->signer[0], kp_rel[0].pk, CR_PKLEN);

	/* 1 of 2: refused against the trust root, with the reason. */
	EXPECT_ERR(cr_release_decode(r->blob, r->blob_len, t, &d, &err),
		   "release: 1 of 2 release signatures");
	ck_assert_ptr_null(d);
	/* A second release key: valid; its id (the body digest) unchanged. */
	{
		uint8_t digest[32];

		memcpy(digest, r->digest, 32);
		err = NULL;
		ck_assert_int_eq(cr_release_sign(r, &kp_rel[2], &err), 0);
		ck_assert_mem_eq(digest, r->digest, 32);
	}
	ck_assert_uint_eq(r->n_signers, 2);
	ck_assert_int_eq(cr_release_decode(r->blob, r->blob_len, t, &d, &err),
			 0);
	ck_assert_str_eq(d->args[0], "--port");
	cr_release_free(d);
	d = NULL;
	/* The same key twice is refused. */
	EXPECT_ERR(cr_release_sign(r, &kp_rel[2], &err), "already signed");
	cr_release_free(r);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_release_wrong_keys)
{
	struct cr_trust *t = trust_v1();
	struct cr_release in, *r = NULL, *d = NULL;
	struct cr_error *err = NULL;

	release_fields(&in);
	/* Signed by a root key and a rollout key: neither is a release key. */
	ck_assert_int_eq(cr_release_build(&in, &kp_root[0], &r, &err), 0);
	ck_assert_int_eq(cr_release_sign(r, &kp_roll[0], &err), 0);
	EXPECT_ERR(cr_release_decode(r->blob, r->blob_len, t, &d, &err),
		   "release: 0 of 2 release signatures");
	/* An unknown key alongside one release key still makes 1 of 2. */
	ck_assert_int_eq(cr_release_sign(r, &kp_other, &err), 0);
	ck_assert_int_eq(cr_release_sign(r, &kp_rel[1], &err), 0);
	EXPECT_ERR(cr_release_decode(r->blob, r->blob_len, t, &d, &err),
		   "release: 1 of 2 release signatures");
	cr_release_free(r);
	r = NULL;

	/* A duplicated signature counts once: the record carries kp_rel[0]'s
	 * signature twice. */
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	{
		Carrier__SignedRelease *s = carrier__signed_release__unpack(
			NULL, r->blob_len, r->blob);
		Carrier__FleetSignature *two[2];
		uint8_t *buf;
		size_t len;

		ck_assert_ptr_nonnull(s);
		two[0] = s->signatures[0];
		two[1] = s->signatures[0];
		{
			Carrier__FleetSignature **keep = s->signatures;
			size_t kn = s->n_signatures;

			s->signatures = two;
			s->n_signatures = 2;
			len = carrier__signed_release__get_packed_size(s);
			buf = malloc(len);
			carrier__signed_release__pack(s, buf);
			s->signatures = keep;
			s->n_signatures = kn;
		}
		EXPECT_ERR(cr_release_decode(buf, len, t, &d, &err),
			   "release: 1 of 2 release signatures");
		/* And with no signature at all: unsigned. */
		s->n_signatures = 0;
		len = carrier__signed_release__get_packed_size(s);
		carrier__signed_release__pack(s, buf);
		s->n_signatures = 1;
		EXPECT_ERR(cr_release_decode(buf, len, t, &d, &err),
			   "release: unsigned");
		EXPECT_ERR(cr_release_decode(buf, len, NULL, &d, &err),
			   "release: unsigned");
		free(buf);
		carrier__signed_release__free_unpacked(s, NULL);
	}
	cr_release_free(r);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_release_tamper)
{
	struct cr_release in, *r = NULL, *d = NULL;
	struct cr_error *err = NULL;
	uint8_t id[32];
	uint8_t *copy;

	release_fields(&in);
	memset(in.index_id, 0x11, 32);
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	copy = malloc(r->blob_len);
	memcpy(copy, r->blob, r->blob_len);
	/* Another index id: the signature no longer covers the body. */
	memset(id, 0x11, 32);
	tamper_body(copy, r->blob_len, id, NULL);
	EXPECT_ERR(cr_release_decode(copy, r->blob_len, NULL, &d, &err),
		   "does not verify");
	ck_assert_ptr_null(d);
	/* Garbage. */
	memset(copy, 0xff, r->blob_len);
	EXPECT_ERR(cr_release_decode(copy, r->blob_len, NULL, &d, &err),
		   "release");
	free(copy);

	/* Field checks at build time. */
	snprintf(in.app, sizeof(in.app), "Web App");
	EXPECT_ERR(cr_release_build(&in, &kp_rel[0], &d, &err), "app name");
	release_fields(&in);
	snprintf(in.arch[0], sizeof(in.arch[0]), "x86-64");
	EXPECT_ERR(cr_release_build(&in, &kp_rel[0], &d, &err),
		   "not a Debian architecture name");
	release_fields(&in);
	in.n_arch = 0;
	EXPECT_ERR(cr_release_build(&in, &kp_rel[0], &d, &err),
		   "architectures");
	release_fields(&in);
	snprintf(in.image, sizeof(in.image), "noversion");
	EXPECT_ERR(cr_release_build(&in, &kp_rel[0], &d, &err), "REPO:TAG");
	cr_release_free(r);
}
END_TEST

START_TEST(test_release_arch)
{
	struct cr_release in, *r = NULL;
	struct cr_error *err = NULL;

	release_fields(&in);
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	ck_assert_int_eq(cr_release_check_arch(r, "arm64", &err), 0);
	ck_assert_int_eq(cr_release_check_arch(r, "amd64", &err), 0);
	EXPECT_ERR(cr_release_check_arch(r, "armel", &err),
		   "release web 1.2.0 is for amd64,arm64, this device is "
		   "armel");
	cr_release_free(r);
#if defined(__x86_64__) && !defined(__ILP32__)
	ck_assert_str_eq(cr_fleet_arch(), "amd64");
#elif defined(__arm__) && !defined(__ARM_PCS_VFP)
	ck_assert_str_eq(cr_fleet_arch(), "armel");
#elif defined(__aarch64__)
	ck_assert_str_eq(cr_fleet_arch(), "arm64");
#endif
	ck_assert_str_ne(cr_fleet_arch(), "unknown");
}
END_TEST

START_TEST(test_health_parse)
{
	static const struct {
		const char *in, *out;
		enum cr_health_kind kind;
		unsigned port;
	} good[] = {
		{ "http:8080/healthz", "http:8080/healthz", CR_HEALTH_HTTP,
		  8080 },
		{ "http:80", "http:80/", CR_HEALTH_HTTP, 80 },
		{ "tcp:22", "tcp:22", CR_HEALTH_TCP, 22 },
		{ "exec:test -f /run/ok", "exec:test -f /run/ok",
		  CR_HEALTH_EXEC, 0 },
		{ "", "", CR_HEALTH_NONE, 0 },
		{ "none", "", CR_HEALTH_NONE, 0 },
	};
	static const char *const bad[] = {
		"http:0/",     "http:65536/", "http:abc/", "http:/x",
		"tcp:",        "tcp:22x",     "exec:",     "udp:53",
		"http:80/a b", "HTTP:80/",
	};
	struct cr_health h;
	char out[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cr_error *err = NULL;

		if (cr_health_parse(good[i].in, &h, &err) < 0)
			ck_abort_msg("'%s': %s", good[i].in, cr_error_msg(err));
		ck_assert_int_eq(h.kind, good[i].kind);
		ck_assert_uint_eq(h.port, good[i].port);
		cr_health_format(&h, out, sizeof(out));
		ck_assert_str_eq(out, good[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr_error *err = NULL;

		if (cr_health_parse(bad[i], &h, &err) == 0)
			ck_abort_msg("'%s' accepted", bad[i]);
		cr_check_expect_err(-1, &err, "health probe");
	}
}
END_TEST

static uint8_t *find_bytes(uint8_t *hay, size_t n, const uint8_t *needle,
			   size_t k)
{
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return hay + i;
	return NULL;
}

/* The reload signal: a bounded list by name, carried in the signed body,
 * checked again by the decoder (a body naming TERM is refused before its
 * signatures are counted). */
START_TEST(test_reload_signal)
{
	static const struct {
		const char *in;
		int sig;
		const char *name;
	} good[] = {
		{ "HUP", SIGHUP, "HUP" },   { "SIGHUP", SIGHUP, "HUP" },
		{ "usr1", SIGUSR1, "USR1" }, { "USR2", SIGUSR2, "USR2" },
		{ "none", 0, "" },          { "", 0, "" },
	};
	static const char *const bad[] = { "TERM", "SIGTERM", "KILL", "INT",
					   "STOP", "1", "HUPX", "SIG" };
	static const uint8_t hup[] = { 0x72, 3, 'H', 'U', 'P' };
	struct cr_release in, *r = NULL, *d = NULL;
	struct cr_error *err = NULL;
	uint8_t *p;
	int sig;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (cr_reload_signal_parse(good[i].in, &sig, &err) < 0)
			ck_abort_msg("'%s': %s", good[i].in, cr_error_msg(err));
		ck_assert_int_eq(sig, good[i].sig);
		ck_assert_str_eq(cr_reload_signal_name(sig), good[i].name);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		if (cr_reload_signal_parse(bad[i], &sig, &err) == 0)
			ck_abort_msg("'%s' accepted", bad[i]);
		cr_check_expect_err(-1, &err, "want HUP, USR1 or USR2");
	}
	ck_assert_str_eq(cr_reload_signal_name(SIGTERM), "");

	/* Built and decoded: the field survives; none is a restart. */
	err = NULL;
	release_fields(&in);
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	ck_assert_int_eq(r->reload_signal, 0);
	ck_assert_ptr_null(find_bytes(r->blob, r->blob_len, hup, sizeof(hup)));
	cr_release_free(r);
	in.reload_signal = SIGHUP;
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	ck_assert_int_eq(r->reload_signal, SIGHUP);
	ck_assert_int_eq(cr_release_decode(r->blob, r->blob_len, NULL, &d,
					   &err),
			 0);
	ck_assert_int_eq(d->reload_signal, SIGHUP);
	d = cr_release_free(d);
	/* The decoder refuses a signal off the list (the same length on the
	 * wire: only the name changes). */
	p = find_bytes(r->blob, r->blob_len, hup, sizeof(hup));
	ck_assert_ptr_nonnull(p);
	memcpy(p + 2, "INT", 3);
	EXPECT_ERR(cr_release_decode(r->blob, r->blob_len, NULL, &d, &err),
		   "reload signal 'INT' is not HUP, USR1 or USR2");
	ck_assert_ptr_null(d);
	cr_release_free(r);
	/* The builder refuses one too. */
	in.reload_signal = SIGTERM;
	EXPECT_ERR(cr_release_build(&in, &kp_rel[0], &r, &err),
		   "cannot be a reload signal");
}
END_TEST

START_TEST(test_credential)
{
	const struct cr_keypair *s1[] = { &kp_root[0] };
	const struct cr_keypair *roll[] = { &kp_roll[0] };
	const struct cr_keypair *both[] = { &kp_roll[0], &kp_roll[1] };
	const struct cr_keypair *rel[] = { &kp_rel[0] };
	struct cr_trust *t = trust_make(1, 0, 0, 1, 1, s1, 1);
	struct cr_fleet_cred *c = NULL, *d = NULL;
	struct cr_error *err = NULL;
	struct cr_keypair dev;
	struct cr_id id;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &dev), 0);
	cr_id_from_pk(CR_ID_DEVICE, dev.pk, &id);
	ck_assert_int_eq(cr_cred_build(&id, 2000000, roll, 1, &c, &err), 0);
	ck_assert_int_eq(cr_cred_decode(c->blob, c->blob_len, t, 1999999, &d,
					&err),
			 0);
	ck_assert_int_eq(cr_id_equal(&d->device, &id), 1);
	ck_assert_uint_eq(d->expires_unix, 2000000);
	cr_cred_free(d);
	d = NULL;
	EXPECT_ERR(cr_cred_decode(c->blob, c->blob_len, t, 2000000, &d, &err),
		   "expired at");
	ck_assert_ptr_null(d);
	cr_cred_free(c);
	c = NULL;
	/* A release key is not a rollout key. */
	ck_assert_int_eq(cr_cred_build(&id, 2000000, rel, 1, &c, &err), 0);
	EXPECT_ERR(cr_cred_decode(c->blob, c->blob_len, t, 1, &d, &err),
		   "0 of 1 rollout signatures of trust root v1");
	cr_cred_free(c);
	c = NULL;
	/* Two signatures fit in a handshake's hello (with its E2eHello). */
	ck_assert_int_eq(cr_cred_build(&id, UINT64_MAX, both, 2, &c, &err), 0);
	ck_assert_uint_le(c->blob_len + 5, CP_HELLO_MAX);
	{
		uint8_t *copy = malloc(c->blob_len);

		memcpy(copy, c->blob, c->blob_len);
		tamper_body(copy, c->blob_len, id.hash, NULL);
		EXPECT_ERR(cr_cred_decode(copy, c->blob_len, t, 1, &d, &err),
			   "does not verify");
		free(copy);
	}
	cr_cred_free(c);
	cr_trust_free(t);
}
END_TEST

static char tmp[64];

static void tmp_setup(void)
{
	keys_setup();
	cr_check_tmpdir(tmp, "check_fleet");
}

static void tmp_teardown(void)
{
	cr_check_tmpdir_remove(tmp);
}

START_TEST(test_files)
{
	const struct cr_keypair *s[] = { &kp_root[0], &kp_root[1] };
	struct cr_trust *t = trust_make(3, 0, 0, 3, 2, s, 2), *lt = NULL;
	struct cr_release in, *r = NULL, *lr = NULL;
	struct cr_error *err = NULL;
	char tp[128], rp[128], *text = NULL;
	size_t len;

	snprintf(tp, sizeof(tp), "%s/trust", tmp);
	snprintf(rp, sizeof(rp), "%s/release", tmp);
	ck_assert_int_eq(cr_trust_save(t, tp, &err), 0);
	ck_assert_int_eq(cr_trust_load(tp, NULL, cr_now_unix(), &lt, &err), 0);
	ck_assert_uint_eq(lt->version, 3);
	ck_assert_uint_eq(lt->blob_len, t->blob_len);
	ck_assert_mem_eq(lt->blob, t->blob, t->blob_len);
	ck_assert_int_eq(cr_read_file(tp, 1 << 20, &text, &len, &err), 0);
	ck_assert_ptr_nonnull(strstr(text, "\nkorhal-trust-v1 "));
	ck_assert_ptr_nonnull(strstr(text, "# root: 2 of 3\n"));
	free(text);

	release_fields(&in);
	ck_assert_int_eq(cr_release_build(&in, &kp_rel[0], &r, &err), 0);
	ck_assert_int_eq(cr_release_sign(r, &kp_rel[1], &err), 0);
	ck_assert_int_eq(cr_release_save(r, rp, &err), 0);
	ck_assert_int_eq(cr_release_load(rp, lt, &lr, &err), 0);
	ck_assert_mem_eq(lr->digest, r->digest, 32);
	cr_release_free(lr);
	lr = NULL;
	/* A trust file is not a release file. */
	EXPECT_ERR(cr_release_load(tp, lt, &lr, &err),
		   "expected 'korhal-release-v1 BASE64'");
	EXPECT_ERR(cr_trust_load(rp, NULL, 0, &lt, &err),
		   "expected 'korhal-trust-v1 BASE64'");
	cr_release_free(r);
	cr_trust_free(lt);
	cr_trust_free(t);
}
END_TEST

static Suite *fleet_suite(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc = tcase_create("records");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, test_trust_build_decode);
	tcase_add_test(tc, test_trust_tamper);
	tcase_add_test(tc, test_trust_rotation);
	tcase_add_test(tc, test_trust_expired);
	tcase_add_test(tc, test_release_build_decode);
	tcase_add_test(tc, test_release_wrong_keys);
	tcase_add_test(tc, test_release_tamper);
	tcase_add_test(tc, test_release_arch);
	tcase_add_test(tc, test_health_parse);
	tcase_add_test(tc, test_reload_signal);
	tcase_add_test(tc, test_credential);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(fleet_suite());
}
