/*
 * Unit tests of cr/deploy.h: deployments (rollout threshold, the trust
 * root they carry and its pin or rotation, the release checked, field
 * bounds, tampering), wave membership, failure thresholds, advances and
 * device-signed status reports (a report by another key is refused).
 */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/limits.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/util.h"

#include "../check_err.h"
#include "../check_main.h"

static struct cr_keypair kp_root, kp_root2, kp_rel, kp_roll, kp_other, kp_dev,
	kp_dev2;

static void keys_setup(void)
{
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_root), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_root2), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_rel), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_roll), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_other), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &kp_dev), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &kp_dev2), 0);
}

static void role(struct cr_fleet_keys *k, const struct cr_keypair *kp)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->pk[0], kp->pk, CR_PKLEN);
	k->n = 1;
	k->threshold = 1;
}

static struct cr_trust *trust_make(uint64_t v, const struct cr_keypair *root,
				   const struct cr_trust *prev,
				   const struct cr_keypair *prev_root)
{
	const struct cr_keypair *s[] = { root };
	struct cr_fleet_keys r, rel, roll;
	struct cr_error *err = NULL;
	struct cr_trust *t = NULL, *d = NULL;

	role(&r, root);
	role(&rel, &kp_rel);
	role(&roll, &kp_roll);
	if (cr_trust_build(v, 0, &r, &rel, &roll, s, 1, &t, &err) < 0)
		ck_abort_msg("trust: %s", cr_error_msg(err));
	if (prev != NULL) {
		ck_assert_int_eq(cr_trust_sign(t, prev_root, &err), 0);
		ck_assert_int_eq(cr_trust_decode(t->blob, t->blob_len, prev, 0,
						 &d, &err),
				 0);
		cr_trust_free(t);
		t = d;
	}
	return t;
}

static struct cr_release *release_make(const char *app, const char *ver)
{
	struct cr_release in, *r = NULL;
	struct cr_error *err = NULL;

	memset(&in, 0, sizeof(in));
	snprintf(in.app, sizeof(in.app), "%s", app);
	snprintf(in.version, sizeof(in.version), "%s", ver);
	in.counter = 3;
	snprintf(in.arch[0], sizeof(in.arch[0]), "amd64");
	in.n_arch = 1;
	snprintf(in.image, sizeof(in.image), "%s:%s", app, ver);
	snprintf(in.origins[0], sizeof(in.origins[0]), "http://127.0.0.1:9/o");
	in.n_origins = 1;
	if (cr_release_build(&in, &kp_rel, &r, &err) < 0)
		ck_abort_msg("release: %s", cr_error_msg(err));
	return r;
}

static void fields(struct cr_deploy *d, struct cr_trust *t,
		   struct cr_release *r)
{
	memset(d, 0, sizeof(*d));
	d->trust = t;
	d->release = r;
	snprintf(d->tags[0], CP_TAG_STR_MAX, "site=lab");
	d->n_tags = 1;
	d->waves[0] = 1;
	d->waves[1] = 10;
	d->waves[2] = 50;
	d->waves[3] = 100;
	d->n_waves = 4;
	d->max_failures = 500;
	d->max_failures_pct = 1;
	d->health_window_ms = 1000;
	d->seq = 5;
	d->issued_unix = cr_now_unix();
	d->expires_unix = d->issued_unix + 3600;
}

START_TEST(test_deploy_build_decode)
{
	struct cr_trust *t = trust_make(1, &kp_root, NULL, NULL);
	struct cr_release *r = release_make("web", "2.0");
	const struct cr_keypair *roll[] = { &kp_roll };
	const struct cr_keypair *other[] = { &kp_other };
	struct cr_deploy in, *d = NULL, *e = NULL;
	struct cr_error *err = NULL;
	uint8_t vid[32];
	char tags[2][CP_TAG_STR_MAX] = { "x=y", "site=lab" };
	uint8_t *blob;

	fields(&in, t, r);
	ck_assert_int_eq(cr_deploy_build(&in, roll, 1, &d, &err), 0);
	ck_assert_str_eq(d->app, "web");
	ck_assert_str_eq(d->release->version, "2.0");
	ck_assert_uint_eq(d->n_waves, 4);
	ck_assert_uint_eq(d->seq, 5);
	cr_fleet_vendor_id(t, vid);
	ck_assert_mem_eq(d->vendor_id, vid, 32);
	/* Without a pin, decoded against the trust root it carries. */
	ck_assert_int_eq(cr_deploy_decode(d->blob, d->blob_len, NULL, &e, &err),
			 0);
	ck_assert_mem_eq(e->digest, d->digest, 32);
	ck_assert_int_eq(cr_deploy_targets(e, kp_dev.pk, tags, 2), 1);
	ck_assert_int_eq(cr_deploy_targets(e, kp_dev.pk, tags, 1), 0);
	ck_assert_int_eq(cr_deploy_expired(e, e->expires_unix - 1), 0);
	ck_assert_int_eq(cr_deploy_expired(e, e->expires_unix), 1);
	e = cr_deploy_free(e);

	/* Tampered: a flipped byte anywhere fails. */
	blob = malloc(d->blob_len);
	memcpy(blob, d->blob, d->blob_len);
	blob[d->blob_len / 2] ^= 1;
	err = NULL;
	ck_assert_int_lt(cr_deploy_decode(blob, d->blob_len, NULL, &e, &err),
			 0);
	cr_error_free(err);
	free(blob);

	/* Signed by a key that is not a rollout key: refused. */
	EXPECT_ERR(cr_deploy_build(&in, other, 1, &e, &err),
		   "0 of 1 rollout signatures");
	cr_deploy_free(d);
	cr_release_free(r);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_deploy_fields)
{
	struct cr_trust *t = trust_make(1, &kp_root, NULL, NULL);
	struct cr_release *r = release_make("web", "2.0");
	const struct cr_keypair *roll[] = { &kp_roll };
	struct cr_deploy in, *d = NULL;
	struct cr_error *err = NULL;

	fields(&in, t, r);
	in.n_tags = 0;
	EXPECT_ERR(cr_deploy_build(&in, roll, 1, &d, &err), "targets nothing");
	fields(&in, t, r);
	in.waves[3] = 90;
	EXPECT_ERR(cr_deploy_build(&in, roll, 1, &d, &err), "waves");
	fields(&in, t, r);
	in.waves[1] = 1;
	EXPECT_ERR(cr_deploy_build(&in, roll, 1, &d, &err), "waves");
	fields(&in, t, r);
	in.expires_unix = in.issued_unix;
	EXPECT_ERR(cr_deploy_build(&in, roll, 1, &d, &err), "expires");
	fields(&in, t, r);
	snprintf(in.tags[0], CP_TAG_STR_MAX, "nokv");
	EXPECT_ERR(cr_deploy_build(&in, roll, 1, &d, &err), "not K=V");
	ck_assert_ptr_null(d);
	cr_release_free(r);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_deploy_pinned_trust)
{
	struct cr_trust *t1 = trust_make(1, &kp_root, NULL, NULL);
	struct cr_trust *t2 = trust_make(2, &kp_root2, t1, &kp_root);
	struct cr_trust *rogue = trust_make(3, &kp_other, NULL, NULL);
	struct cr_release *r = release_make("web", "2.0");
	const struct cr_keypair *roll[] = { &kp_roll };
	struct cr_deploy in, *d1 = NULL, *d2 = NULL, *dr = NULL, *e = NULL;
	struct cr_deploy *e2 = NULL;
	struct cr_error *err = NULL;

	fields(&in, t1, r);
	ck_assert_int_eq(cr_deploy_build(&in, roll, 1, &d1, &err), 0);
	fields(&in, t2, r);
	ck_assert_int_eq(cr_deploy_build(&in, roll, 1, &d2, &err), 0);
	fields(&in, rogue, r);
	ck_assert_int_eq(cr_deploy_build(&in, roll, 1, &dr, &err), 0);
	/* A rotation of the pinned root is accepted ... */
	ck_assert_int_eq(cr_deploy_decode(d2->blob, d2->blob_len, t1, &e,
					  &err),
			 0);
	ck_assert_uint_eq(e->trust->version, 2);
	/* ... and a device holding t1 takes it as its own, after which a
	 * deployment of the older root (its dropped keys) is refused. */
	{
		struct cr_trust *held = NULL;

		ck_assert_int_eq(cr_trust_decode(t1->blob, t1->blob_len, NULL,
						 0, &held, &err),
				 0);
		ck_assert_int_eq(cr_deploy_adopt_trust(&held, e, &err), 1);
		ck_assert_uint_eq(held->version, 2);
		ck_assert_int_eq(cr_deploy_adopt_trust(&held, e, &err), 0);
		EXPECT_ERR(cr_deploy_decode(d1->blob, d1->blob_len, held, &e2,
					    &err),
			   "older");
		cr_trust_free(held);
	}
	e = cr_deploy_free(e);
	/* ... an older root than the pinned one is not, nor a root of keys
	 * the pinned one never signed. */
	EXPECT_ERR(cr_deploy_decode(d1->blob, d1->blob_len, t2, &e, &err),
		   "older");
	EXPECT_ERR(cr_deploy_decode(dr->blob, dr->blob_len, t1, &e, &err),
		   "signatures of the previous root");
	/* The rogue root's fleet id is its own: it cannot claim ours. */
	ck_assert_mem_ne(dr->vendor_id, d1->vendor_id, 32);
	cr_deploy_free(d1);
	cr_deploy_free(d2);
	cr_deploy_free(dr);
	cr_release_free(r);
	cr_trust_free(rogue);
	cr_trust_free(t2);
	cr_trust_free(t1);
}
END_TEST

START_TEST(test_waves)
{
	struct cr_trust *t = trust_make(1, &kp_root, NULL, NULL);
	struct cr_release *r = release_make("web", "2.0");
	const struct cr_keypair *roll[] = { &kp_roll };
	struct cr_deploy in, *d = NULL;
	struct cr_error *err = NULL;
	size_t count[4] = { 0 };
	uint32_t w[CP_DEPLOY_WAVES_MAX];
	size_t n;

	fields(&in, t, r);
	ck_assert_int_eq(cr_deploy_build(&in, roll, 1, &d, &err), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		uint8_t dev[CR_ID_HASHLEN] = { 0 };
		size_t wv;

		memcpy(dev, &i, sizeof(i));
		wv = cr_deploy_wave_of(d, dev);
		ck_assert_uint_lt(wv, 4);
		/* Deterministic: the same answer twice. */
		ck_assert_uint_eq(wv, cr_deploy_wave_of(d, dev));
		ck_assert_uint_lt(cr_wave_bucket(d->digest, dev), 10000);
		count[wv]++;
	}
	/* 1 %, 9 %, 40 %, 50 % of 10,000, within a wide margin. */
	ck_assert_uint_gt(count[0], 50);
	ck_assert_uint_lt(count[0], 200);
	ck_assert_uint_gt(count[1], 700);
	ck_assert_uint_lt(count[1], 1100);
	ck_assert_uint_gt(count[3], 4500);
	ck_assert_uint_eq(cr_deploy_failures_allowed(d, 20), 1);
	ck_assert_uint_eq(cr_deploy_failures_allowed(d, 19), 0);
	d->max_failures_pct = 0;
	d->max_failures = 3;
	ck_assert_uint_eq(cr_deploy_failures_allowed(d, 19), 3);

	ck_assert_int_eq(cr_waves_parse("1,10,50,100", w, &n, NULL), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(w[2], 50);
	ck_assert_int_eq(cr_waves_parse("100", w, &n, NULL), 0);
	ck_assert_int_lt(cr_waves_parse("10,5,100", w, &n, NULL), 0);
	ck_assert_int_lt(cr_waves_parse("10,50", w, &n, NULL), 0);
	ck_assert_int_lt(cr_waves_parse("0,100", w, &n, NULL), 0);
	ck_assert_int_lt(cr_waves_parse("10,,100", w, &n, NULL), 0);
	ck_assert_int_lt(cr_waves_parse("", w, &n, NULL), 0);
	cr_deploy_free(d);
	cr_release_free(r);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_advance)
{
	struct cr_trust *t = trust_make(1, &kp_root, NULL, NULL);
	const struct cr_keypair *roll[] = { &kp_roll };
	const struct cr_keypair *other[] = { &kp_other };
	struct cr_advance in, *a = NULL, *b = NULL;
	struct cr_error *err = NULL;

	memset(&in, 0, sizeof(in));
	cr_fleet_vendor_id(t, in.vendor_id);
	snprintf(in.app, sizeof(in.app), "web");
	memset(in.deployment, 7, 32);
	in.wave = 2;
	in.members = 20;
	in.succeeded = 20;
	ck_assert_int_eq(cr_advance_build(&in, roll, 1, &a, &err), 0);
	ck_assert_int_eq(cr_advance_decode(a->blob, a->blob_len, t, &b, &err),
			 0);
	ck_assert_uint_eq(b->wave, 2);
	ck_assert_uint_eq(b->succeeded, 20);
	b = cr_advance_free(b);
	cr_advance_free(a);
	a = NULL;
	ck_assert_int_eq(cr_advance_build(&in, other, 1, &a, &err), 0);
	EXPECT_ERR(cr_advance_decode(a->blob, a->blob_len, t, &b, &err),
		   "0 of 1 rollout signatures");
	cr_advance_free(a);
	in.wave = 0;
	EXPECT_ERR(cr_advance_build(&in, roll, 1, &a, &err), "malformed");
	cr_trust_free(t);
}
END_TEST

START_TEST(test_report)
{
	struct cr_report r, d, f;
	struct cr_error *err = NULL;
	uint8_t blob[CP_REPORT_MAX];
	size_t len;

	memset(&r, 0, sizeof(r));
	memset(r.deployment, 9, 32);
	r.deployment_seq = 5;
	r.state = CR_RS_SUCCEEDED;
	snprintf(r.app, sizeof(r.app), "web");
	snprintf(r.version, sizeof(r.version), "2.0");
	snprintf(r.reason, sizeof(r.reason), "healthy for 1 s");
	r.time_ms = 1000;
	r.seq = 3;
	ck_assert_int_eq(cr_report_sign(&kp_dev, &r, &err), 0);
	ck_assert_int_eq(cr_report_decode(r.blob, r.blob_len, &d, &err), 0);
	ck_assert_int_eq(d.state, CR_RS_SUCCEEDED);
	ck_assert_str_eq(d.version, "2.0");
	ck_assert_mem_eq(d.device_pk, kp_dev.pk, CR_PKLEN);
	ck_assert_str_eq(cr_report_state_name(d.state), "succeeded");
	ck_assert_int_eq(cr_report_state_final(CR_RS_RUNNING), 0);

	/* A report naming dev but signed by dev2 (a forged success): the
	 * signature is not by the key it names. */
	f = r;
	ck_assert_int_eq(cr_report_sign(&kp_dev2, &f, &err), 0);
	len = f.blob_len;
	memcpy(blob, f.blob, len);
	/* Swap the named key for dev's: the body changes, so dev2's
	 * signature no longer matches the key it must be by. */
	for (size_t i = 0; i + CR_PKLEN <= len; i++)
		if (memcmp(blob + i, kp_dev2.pk, CR_PKLEN) == 0) {
			memcpy(blob + i, kp_dev.pk, CR_PKLEN);
			break;
		}
	err = NULL;
	ck_assert_int_lt(cr_report_decode(blob, len, &d, &err), 0);
	cr_error_free(err);
	/* Altered after signing. */
	memcpy(blob, r.blob, r.blob_len);
	blob[r.blob_len - 70] ^= 0x10;
	err = NULL;
	ck_assert_int_lt(cr_report_decode(blob, r.blob_len, &d, &err), 0);
	cr_error_free(err);
	/* A vendor key cannot sign reports. */
	EXPECT_ERR(cr_report_sign(&kp_other, &r, &err), "device key");
}
END_TEST

/* The device's side (cr_fleet_asm_add, cr_deploy_accept, cr_report_make):
 * what carrier-agent and fleetsim both run. */
START_TEST(test_device_side)
{
	struct cr_trust *t = trust_make(1, &kp_root, NULL, NULL);
	struct cr_trust *t2 = trust_make(1, &kp_root2, NULL, NULL);
	struct cr_release *r = release_make("web", "2.0");
	const struct cr_keypair *roll[] = { &kp_roll };
	struct cr_deploy in, *d = NULL, *e = NULL;
	struct cr_fleet_asm a = { 0 };
	struct cr_error *err = NULL;
	struct cr_report rep, back;
	struct cr_id dev;
	char lab[1][CP_TAG_STR_MAX] = { "site=lab" };
	char other[1][CP_TAG_STR_MAX] = { "site=other" };
	char why[400];
	uint8_t bad[32] = { 0 }, h[32];
	const size_t piece = 100;
	size_t off;
	int rc = 0;

	cr_id_from_pk(CR_ID_DEVICE, kp_dev.pk, &dev);
	fields(&in, t, r);
	ck_assert_int_eq(cr_deploy_build(&in, roll, 1, &d, &err), 0);
	/* In 100-byte pieces (nodes send 900), out of order: whole only
	 * at the last one.  A piece names the digest of the whole blob. */
	crypto_generichash(h, 32, d->blob, d->blob_len, NULL, 0);
	for (off = piece; off < d->blob_len; off += piece) {
		size_t n = d->blob_len - off < piece ?
				   d->blob_len - off : piece;

		ck_assert_int_eq(cr_fleet_asm_add(&a, CR_REC_DEPLOYMENT,
						  h, 32,
						  (uint32_t)d->blob_len,
						  (uint32_t)off, d->blob + off,
						  n),
				 0);
	}
	rc = cr_fleet_asm_add(&a, CR_REC_DEPLOYMENT, h, 32,
			      (uint32_t)d->blob_len, 0, d->blob,
			      piece);
	ck_assert_int_eq(rc, 1);
	ck_assert_mem_eq(a.buf, d->blob, d->blob_len);
	cr_fleet_asm_reset(&a);
	/* Pieces out of bounds, or a record whose digest is another's. */
	ck_assert_int_eq(cr_fleet_asm_add(&a, 1, h, 32, 10, 8,
					  d->blob, 3),
			 -1);
	ck_assert_int_eq(cr_fleet_asm_add(&a, 1, bad, 32, 4, 0, d->blob, 4),
			 -1);
	ck_assert_ptr_null(a.buf);

	/* Targeted by tag: accepted.  Another tag: a replay, named. */
	ck_assert_int_eq(cr_deploy_accept(d->blob, d->blob_len, t, dev.hash,
					  lab, 1, &e, why, sizeof(why)),
			 0);
	ck_assert_str_eq(e->release->version, "2.0");
	e = cr_deploy_free(e);
	ck_assert_int_eq(cr_deploy_accept(d->blob, d->blob_len, t, dev.hash,
					  other, 1, &e, why, sizeof(why)),
			 -1);
	ck_assert_ptr_null(e);
	ck_assert_msg(strstr(why, "replay: deployment of web seq 5 does not "
				  "target this device") != NULL, "%s", why);
	/* Another fleet's trust root pinned: arbitrary software. */
	ck_assert_int_eq(cr_deploy_accept(d->blob, d->blob_len, t2, dev.hash,
					  lab, 1, &e, why, sizeof(why)),
			 -1);
	ck_assert_msg(strncmp(why, "arbitrary software: ", 20) == 0, "%s",
		      why);

	/* A report about d, signed by the device. */
	ck_assert_int_eq(cr_report_make(&kp_dev, d, "web", CR_RS_ROLLED_BACK,
					"1.0", "health: exec:true exited with 1",
					42, &rep, &err),
			 0);
	ck_assert_int_eq(cr_report_decode(rep.blob, rep.blob_len, &back,
					  &err),
			 0);
	ck_assert_mem_eq(back.deployment, d->digest, 32);
	ck_assert_uint_eq(back.deployment_seq, 5);
	ck_assert_uint_eq(back.seq, 42);
	ck_assert_int_eq(back.state, CR_RS_ROLLED_BACK);
	ck_assert_str_eq(back.version, "1.0");
	ck_assert_str_eq(back.reason, "health: exec:true exited with 1");
	ck_assert_uint_gt(back.time_ms, 1700000000000ULL);
	cr_deploy_free(d);
	cr_release_free(r);
	cr_trust_free(t2);
	cr_trust_free(t);
}
END_TEST

static Suite *deploy_suite(void)
{
	Suite *s = suite_create("deploy");
	TCase *tc = tcase_create("records");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, test_deploy_build_decode);
	tcase_add_test(tc, test_deploy_fields);
	tcase_add_test(tc, test_deploy_pinned_trust);
	tcase_add_test(tc, test_waves);
	tcase_add_test(tc, test_advance);
	tcase_add_test(tc, test_report);
	tcase_add_test(tc, test_device_side);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(deploy_suite());
}
