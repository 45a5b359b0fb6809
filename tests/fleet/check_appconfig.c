/*
 * Unit tests of cr/appconfig.h: a config round-trips through build and
 * decode; the device-side checks refuse, each with its own message, a
 * config for another device, an older or equal version, a malformed key,
 * a file over the limit, a total over the limit, another fleet's or an
 * unsigned-by-rollout config, and tampering.
 */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp/limits.h"
#include "cr/appconfig.h"
#include "cr/deploy.h"
#include "cr/fleet.h"

#include "../check_main.h"

static struct cr_keypair kp_root, kp_root2, kp_rel, kp_roll, kp_other;
static uint8_t dev1[CR_ID_HASHLEN], dev2[CR_ID_HASHLEN];

static void keys_setup(void)
{
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_root), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_root2), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_rel), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_roll), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp_other), 0);
	memset(dev1, 0x11, sizeof(dev1));
	memset(dev2, 0x22, sizeof(dev2));
}

static void role(struct cr_fleet_keys *k, const struct cr_keypair *kp)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->pk[0], kp->pk, CR_PKLEN);
	k->n = 1;
	k->threshold = 1;
}

static struct cr_trust *trust_make(const struct cr_keypair *root)
{
	const struct cr_keypair *s[] = { root };
	struct cr_fleet_keys r, rel, roll;
	struct cr_error *err = NULL;
	struct cr_trust *t = NULL;

	role(&r, root);
	role(&rel, &kp_rel);
	role(&roll, &kp_roll);
	if (cr_trust_build(1, 0, &r, &rel, &roll, s, 1, &t, &err) < 0)
		ck_abort_msg("trust: %s", cr_error_msg(err));
	return t;
}

static struct cr_appcfg_entry ents[3];
static uint8_t devs[1][CR_ID_HASHLEN];

/* A config of app "web" for dev1, version v: MODE=v, GREETING file. */
static void config_in(struct cr_appcfg *c, uint64_t v)
{
	static uint8_t mode[] = "good";
	static uint8_t file[] = "hello\n";

	memset(c, 0, sizeof(*c));
	snprintf(c->app, sizeof(c->app), "web");
	memcpy(devs[0], dev1, CR_ID_HASHLEN);
	c->devices = devs;
	c->n_devices = 1;
	c->version = v;
	memset(ents, 0, sizeof(ents));
	snprintf(ents[0].key, sizeof(ents[0].key), "MODE");
	ents[0].value = mode;
	ents[0].len = 4;
	snprintf(ents[1].key, sizeof(ents[1].key), "GREETING");
	ents[1].value = file;
	ents[1].len = 6;
	ents[1].file = 1;
	c->entries = ents;
	c->n_entries = 2;
}

static int build(const struct cr_appcfg *in, const struct cr_trust *t,
		 const struct cr_keypair *signer, struct cr_appcfg **out,
		 struct cr_error **err)
{
	const struct cr_keypair *s[] = { signer };

	return cr_appcfg_build(in, t, s, 1, out, err);
}

START_TEST(test_config_round_trip)
{
	struct cr_trust *t = trust_make(&kp_root);
	struct cr_appcfg in, *c = NULL, *d = NULL;
	struct cr_error *err = NULL;

	config_in(&in, 3);
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), 0);
	ck_assert_int_eq(cr_appcfg_decode(c->blob, c->blob_len, t, &d, &err),
			 0);
	ck_assert_str_eq(d->app, "web");
	ck_assert_uint_eq(d->version, 3);
	ck_assert_uint_eq(d->n_entries, 2);
	ck_assert_str_eq(d->entries[0].key, "MODE");
	ck_assert_str_eq((char *)d->entries[0].value, "good");
	ck_assert_int_eq(d->entries[1].file, 1);
	ck_assert_mem_eq(d->entries[1].value, "hello\n", 6);
	ck_assert_int_eq(cr_appcfg_accept(d, "web", dev1, NULL, 0, 2, 100,
					  &err),
			 0);
	cr_appcfg_free(c);
	cr_appcfg_free(d);
	cr_trust_free(t);
}
END_TEST

START_TEST(test_config_refused)
{
	struct cr_trust *t = trust_make(&kp_root), *t2 = trust_make(&kp_root2);
	struct cr_appcfg in, *c = NULL, *d = NULL;
	struct cr_error *err = NULL;
	const char tags[1][CP_TAG_STR_MAX] = { "site=x" };
	uint8_t *big;

	config_in(&in, 3);
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), 0);
	/* another device, also by tag */
	ck_assert_int_eq(cr_appcfg_accept(c, "web", dev2, tags, 1, 0, 100,
					  &err),
			 -1);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err),
				     "does not target this device"));
	cr_error_free(err);
	err = NULL;
	/* the same or an older version */
	ck_assert_int_eq(cr_appcfg_accept(c, "web", dev1, NULL, 0, 3, 100,
					  &err),
			 -1);
	ck_assert_str_eq(cr_error_msg(err),
			 "config version 3 is not above the running 3");
	cr_error_free(err);
	err = NULL;
	/* another app */
	ck_assert_int_eq(cr_appcfg_accept(c, "db", dev1, NULL, 0, 0, 100,
					  &err),
			 -1);
	cr_error_free(err);
	err = NULL;
	/* another fleet's trust root, and a non-rollout signer */
	ck_assert_int_eq(cr_appcfg_decode(c->blob, c->blob_len, t2, &d, &err),
			 -1);
	ck_assert_ptr_null(d);
	cr_error_free(err);
	err = NULL;
	cr_appcfg_free(c);
	c = NULL;
	ck_assert_int_eq(build(&in, t, &kp_other, &c, &err), -1);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "rollout signatures"));
	cr_error_free(err);
	err = NULL;
	/* a malformed key */
	snprintf(ents[0].key, sizeof(ents[0].key), "mode-x");
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), -1);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err),
				     "config key \"mode-x\" is malformed"));
	cr_error_free(err);
	err = NULL;
	/* a control character in an env value */
	config_in(&in, 3);
	ents[0].value = (uint8_t *)"a\nb";
	ents[0].len = 3;
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), -1);
	cr_error_free(err);
	err = NULL;
	/* a file over the limit, then a total over it */
	config_in(&in, 3);
	big = calloc(1, CR_APPCFG_FILE_MAX + 1);
	ents[1].value = big;
	ents[1].len = CR_APPCFG_FILE_MAX + 1;
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), -1);
	ck_assert_str_eq(cr_error_msg(err),
			 "config file GREETING is 16385 bytes, more than "
			 "the limit of 16384");
	cr_error_free(err);
	err = NULL;
	ents[1].len = CR_APPCFG_FILE_MAX;
	if (build(&in, t, &kp_roll, &c, &err) < 0)
		ck_abort_msg("a file at the limit: %s", cr_error_msg(err));
	cr_appcfg_free(c);
	c = NULL;
	/* a second file at the limit makes the total too large */
	in.n_entries = 3;
	ents[2] = ents[1];
	snprintf(ents[2].key, sizeof(ents[2].key), "B");
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), -1);
	ck_assert_str_eq(cr_error_msg(err),
			 "config is more than 32768 bytes of values and "
			 "files (at B)");
	cr_error_free(err);
	err = NULL;
	free(big);
	cr_trust_free(t);
	cr_trust_free(t2);
}
END_TEST

START_TEST(test_config_tamper)
{
	struct cr_trust *t = trust_make(&kp_root);
	struct cr_appcfg in, *c = NULL, *d = NULL;
	struct cr_error *err = NULL;
	uint8_t *b;

	config_in(&in, 5);
	ck_assert_int_eq(build(&in, t, &kp_roll, &c, &err), 0);
	b = malloc(c->blob_len);
	for (size_t i = 0; i < c->blob_len; i++) {
		memcpy(b, c->blob, c->blob_len);
		b[i] ^= 0x01;
		if (cr_appcfg_decode(b, c->blob_len, t, &d, &err) == 0) {
			/* only a bit flip outside what is signed (a
			 * protobuf-equivalent varint) may pass, and then
			 * the content is the same */
			ck_assert_uint_eq(d->version, 5);
			ck_assert_str_eq((char *)d->entries[0].value, "good");
			cr_appcfg_free(d);
			d = NULL;
		} else {
			ck_assert_ptr_nonnull(cr_error_msg(err));
			cr_error_free(err);
			err = NULL;
		}
	}
	free(b);
	cr_appcfg_free(c);
	cr_trust_free(t);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("records");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, test_config_round_trip);
	tcase_add_test(tc, test_config_refused);
	tcase_add_test(tc, test_config_tamper);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(config_suite());
}
