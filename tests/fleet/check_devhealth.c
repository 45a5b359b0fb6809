/*
 * Device health records (cr/health.h): a record round-trips with its
 * figures and apps; a record whose body was changed, one signed by another
 * key than the one it names, a truncated one and an oversized app entry
 * are refused with a message.
 */
#include <check.h>
#include <sodium.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cr/health.h"

#include "../check_main.h"

static void keypair(struct cr_keypair *kp, uint8_t fill)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, fill, sizeof(seed));
	kp->type = CR_ID_DEVICE;
	ck_assert_int_eq(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
}

static size_t sample(const struct cr_keypair *kp, uint8_t *out)
{
	struct cr_devhealth h;
	struct cr_error *err = NULL;
	size_t len = 0;

	memset(&h, 0, sizeof(h));
	h.seq = 42;
	h.uptime_s = 86400;
	h.load_milli[0] = 520;
	h.mem_total = 256u << 20;
	h.mem_avail = 100u << 20;
	h.flash_free = 1u << 30;
	h.has_temp = 1;
	h.temp_milli_c = -5250;
	h.n_apps = 1;
	snprintf(h.apps[0].app, sizeof(h.apps[0].app), "%s", "web");
	snprintf(h.apps[0].version, sizeof(h.apps[0].version), "%s", "1.0");
	snprintf(h.apps[0].state, sizeof(h.apps[0].state), "%s", "running");
	h.apps[0].restarts = 3;
	snprintf(h.apps[0].last_error, sizeof(h.apps[0].last_error), "%s", "exit 1");
	ck_assert_int_eq(cr_devhealth_make(kp, &h, out, CR_HEALTH_MAX, &len,
					   &err), 0);
	return len;
}

START_TEST(test_roundtrip)
{
	struct cr_keypair kp;
	uint8_t buf[CR_HEALTH_MAX];
	struct cr_devhealth h;
	struct cr_error *err = NULL;
	struct cr_id id;
	size_t len;

	keypair(&kp, 1);
	len = sample(&kp, buf);
	ck_assert_int_eq(cr_devhealth_decode(buf, len, &h, &err), 0);
	cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
	ck_assert_mem_eq(h.device.hash, id.hash, CR_ID_HASHLEN);
	ck_assert_uint_eq(h.seq, 42);
	ck_assert_uint_eq(h.uptime_s, 86400);
	ck_assert_uint_eq(h.load_milli[0], 520);
	ck_assert_uint_eq(h.mem_avail, 100u << 20);
	ck_assert_int_eq(h.temp_milli_c, -5250);
	ck_assert_uint_eq(h.n_apps, 1);
	ck_assert_str_eq(h.apps[0].state, "running");
	ck_assert_uint_eq(h.apps[0].restarts, 3);
	ck_assert_str_eq(h.apps[0].last_error, "exit 1");
}
END_TEST

static void refused(const uint8_t *buf, size_t len, const char *why)
{
	struct cr_devhealth h;
	struct cr_error *err = NULL;

	ck_assert_int_eq(cr_devhealth_decode(buf, len, &h, &err), -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(cr_error_msg(err), why) != NULL, "%s",
		      cr_error_msg(err));
	cr_error_free(err);
}

START_TEST(test_forged)
{
	struct cr_keypair kp, other;
	uint8_t buf[CR_HEALTH_MAX], out[CR_HEALTH_MAX + 64];
	Carrier__SignedHealth *s;
	Carrier__HealthBody *b;
	size_t len, n;

	keypair(&kp, 1);
	keypair(&other, 2);
	len = sample(&kp, buf);
	/* A figure changed after signing. */
	s = carrier__signed_health__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(s);
	b = carrier__health_body__unpack(NULL, s->body.len, s->body.data);
	ck_assert_ptr_nonnull(b);
	b->uptime_s = 1;
	{
		uint8_t body[CR_HEALTH_MAX];
		Carrier__SignedHealth t = *s;

		t.body.data = body;
		t.body.len = carrier__health_body__pack(b, body);
		n = carrier__signed_health__pack(&t, out);
		refused(out, n, "not signed by the device");
		/* Naming another device than the signer. */
		memcpy(b->device_pk.data, other.pk, CR_PKLEN);
		t.body.len = carrier__health_body__pack(b, body);
		n = carrier__signed_health__pack(&t, out);
		refused(out, n, "not signed by the device");
	}
	carrier__health_body__free_unpacked(b, NULL);
	carrier__signed_health__free_unpacked(s, NULL);
	/* Truncated; empty; too long. */
	refused(buf, len - 10, "malformed");
	refused(buf, 0, "malformed");
	refused(buf, CR_HEALTH_MAX + 1, "malformed");
}
END_TEST

START_TEST(test_too_large)
{
	struct cr_keypair kp;
	struct cr_devhealth h;
	uint8_t buf[CR_HEALTH_MAX];
	struct cr_error *err = NULL;
	size_t len;

	keypair(&kp, 1);
	memset(&h, 0, sizeof(h));
	h.n_apps = CR_HEALTH_APPS;
	for (size_t i = 0; i < CR_HEALTH_APPS; i++) {
		memset(h.apps[i].last_error, 'x', CR_HEALTH_ERR_MAX - 1);
		snprintf(h.apps[i].app, sizeof(h.apps[i].app), "%s", "app");
	}
	ck_assert_int_eq(cr_devhealth_make(&kp, &h, buf, sizeof(buf), &len,
					   &err), -1);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "too large"));
	cr_error_free(err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("devhealth");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_forged);
	tcase_add_test(tc, test_too_large);
	suite_add_tcase(s, tc);
	return cr_check_main(s);
}
