/* carrier-agent configuration: --allow parsing and the access decisions. */
#include <check.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cr/config.h"
#include "cr/ring.h"
#include "da/agent.h"
#include "da/shell.h"

#include "../check_main.h"

static char vendor_a[CR_ID_STRMAX], vendor_b[CR_ID_STRMAX];
static struct cr_id id_a, id_b;

static void setup(void)
{
	struct cr_keypair kp;

	ck_assert_int_ge(sodium_init(), 0);
	cr_keypair_generate(CR_ID_VENDOR, &kp);
	cr_id_from_pk(CR_ID_VENDOR, kp.pk, &id_a);
	cr_id_format(&id_a, vendor_a);
	cr_keypair_generate(CR_ID_VENDOR, &kp);
	cr_id_from_pk(CR_ID_VENDOR, kp.pk, &id_b);
	cr_id_format(&id_b, vendor_b);
}

static int set(struct da_config *cfg, const char *k, const char *v,
	       char *msg, size_t cap)
{
	struct cr_error *err = NULL;
	int rc = da_config_set(cfg, k, v, &err);

	if (msg != NULL)
		snprintf(msg, cap, "%s", err != NULL ? cr_error_msg(err) : "");
	cr_error_free(err);
	return rc;
}

START_TEST(test_default_denies)
{
	struct da_config cfg;

	da_config_init(&cfg);
	ck_assert_int_eq(da_config_knows(&cfg, &id_a), 0);
	ck_assert_int_eq(da_config_allows(&cfg, &id_a, 80), 0);
}
END_TEST

START_TEST(test_allow_ports)
{
	struct da_config cfg;
	char v[200];

	da_config_init(&cfg);
	snprintf(v, sizeof(v), "%s:8080,22", vendor_a);
	ck_assert_int_eq(set(&cfg, "allow", v, NULL, 0), 0);
	snprintf(v, sizeof(v), "%s:443", vendor_a);
	ck_assert_int_eq(set(&cfg, "allow", v, NULL, 0), 0);
	ck_assert_int_eq(cfg.n_allow, 1);
	ck_assert(da_config_allows(&cfg, &id_a, 8080));
	ck_assert(da_config_allows(&cfg, &id_a, 22));
	ck_assert(da_config_allows(&cfg, &id_a, 443));
	ck_assert(!da_config_allows(&cfg, &id_a, 80));
	ck_assert(!da_config_allows(&cfg, &id_b, 8080));
	ck_assert(da_config_knows(&cfg, &id_a));
	ck_assert(!da_config_knows(&cfg, &id_b));
}
END_TEST

/* "shell" among the ports gives the shell (and only it); a vendor with
 * ports only has no shell. */
START_TEST(test_allow_shell)
{
	struct da_config cfg;
	char v[200];

	da_config_init(&cfg);
	snprintf(v, sizeof(v), "%s:22,shell", vendor_a);
	ck_assert_int_eq(set(&cfg, "allow", v, NULL, 0), 0);
	snprintf(v, sizeof(v), "%s:22", vendor_b);
	ck_assert_int_eq(set(&cfg, "allow", v, NULL, 0), 0);
	ck_assert(da_config_allows(&cfg, &id_a, DA_SHELL_PORT));
	ck_assert(da_config_allows(&cfg, &id_a, 22));
	ck_assert(!da_config_allows(&cfg, &id_b, DA_SHELL_PORT));
	snprintf(v, sizeof(v), "%s:0", vendor_b);
	ck_assert_int_eq(set(&cfg, "allow", v, NULL, 0), -1);
	ck_assert(!da_config_allows(&cfg, &id_b, DA_SHELL_PORT));
}
END_TEST

START_TEST(test_allow_errors)
{
	static const struct {
		const char *suffix; /* appended to vendor_a unless absent */
		const char *want;
	} cases[] = {
		/* 1 */ { "", "should be VENDOR_ID:PORT" },
		/* 2 */ { ":", "no port given" },
		/* 3 */ { ":0", "not a port" },
		/* 4 */ { ":65536", "not a port" },
		/* 5 */ { ":80,x", "not a port" },
		/* 6 */ { ":-1", "not a port" },
	};
	struct da_config cfg;
	char v[200], msg[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		da_config_init(&cfg);
		snprintf(v, sizeof(v), "%s%s", vendor_a, cases[i].suffix);
		ck_assert_msg(set(&cfg, "allow", v, msg, sizeof(msg)) < 0,
			      "case %zu accepted", i + 1);
		ck_assert_msg(strstr(msg, cases[i].want) != NULL,
			      "case %zu: '%s'", i + 1, msg);
	}
	/* A device id is not a vendor. */
	da_config_init(&cfg);
	{
		struct cr_keypair kp;
		struct cr_id d;
		char ds[CR_ID_STRMAX];

		cr_keypair_generate(CR_ID_DEVICE, &kp);
		cr_id_from_pk(CR_ID_DEVICE, kp.pk, &d);
		snprintf(v, sizeof(v), "%s:80", cr_id_format(&d, ds));
		ck_assert_int_lt(set(&cfg, "allow", v, msg, sizeof(msg)), 0);
		ck_assert_ptr_nonnull(strstr(msg, "not a vendor identity"));
	}
	/* A typo in the vendor id. */
	snprintf(v, sizeof(v), "%s:80", vendor_a);
	v[8] = v[8] == 'a' ? 'b' : 'a';
	ck_assert_int_lt(set(&cfg, "allow", v, msg, sizeof(msg)), 0);
}
END_TEST

START_TEST(test_other_settings)
{
	struct da_config cfg;
	char msg[300];

	da_config_init(&cfg);
	ck_assert_int_eq(set(&cfg, "keepalive", "250ms", NULL, 0), 0);
	ck_assert_uint_eq(cfg.keepalive_ms, 250);
	ck_assert_int_lt(set(&cfg, "keepalive", "5ms", msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "keepalive: '5ms' is not a duration of at least "
			      "100ms (e.g. 15s)");
	ck_assert_uint_eq(cfg.keepalive_ms, 250); /* a bad value changes nothing */
	ck_assert_int_lt(set(&cfg, "attach", "9", msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "attach: '9' is not 1-8");
	ck_assert_int_eq(set(&cfg, "attach", "3", NULL, 0), 0);
	ck_assert_uint_eq(cfg.attach, 3);
	ck_assert_int_eq(set(&cfg, "presence-ttl", "2m", NULL, 0), 0);
	ck_assert_uint_eq(cfg.presence_ttl_ms, 120000);
	ck_assert_int_lt(set(&cfg, "presence-ttl", "9s", msg, sizeof(msg)), 0);
	ck_assert_int_eq(set(&cfg, "tcp", "yes", NULL, 0), 0);
	ck_assert_int_eq(cfg.tcp, 1);
	ck_assert_int_lt(set(&cfg, "tcp", "maybe", msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "tcp: 'maybe' is not yes or no");
	ck_assert_int_eq(set(&cfg, "log-level", "debug", NULL, 0), 0);
	ck_assert_int_eq(cfg.log_level, CR_LOG_DEBUG);
	ck_assert_int_lt(set(&cfg, "log-level", "loud", msg, sizeof(msg)), 0);
	ck_assert_int_eq(cfg.log_level, CR_LOG_DEBUG);
	ck_assert_int_eq(set(&cfg, "listen", "0.0.0.0:7001", NULL, 0), 0);
	ck_assert_str_eq(cfg.listen, "0.0.0.0:7001");
	{
		char big[200];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_assert_int_lt(set(&cfg, "listen", big, msg, sizeof(msg)), 0);
		ck_assert_ptr_nonnull(strstr(msg, "value too long"));
	}
	ck_assert_int_lt(set(&cfg, "nonsense", "1", msg, sizeof(msg)), 0);
	ck_assert_ptr_nonnull(strstr(msg, "unknown setting 'nonsense'"));
	ck_assert_int_lt(da_config_check(&cfg, NULL), 0); /* no key */
}
END_TEST

/* The defaults that follow the ring (da_config_resolve): as many links as
 * the ring's home sets, pings and record refreshes spread over them. */
START_TEST(test_ring_defaults)
{
	static const struct {
		uint32_t replicas;
		size_t nodes;
		const char *attach, *keepalive, *ttl; /* given, or NULL */
		uint64_t want_attach, want_ka, want_ttl;
	} cases[] = {
		{ 4, 6, NULL, NULL, NULL, 4, 30000, 1200000 },  /* ring init */
		{ 3, 6, NULL, NULL, NULL, 3, 22500, 900000 },   /* older rings */
		{ 3, 1, NULL, NULL, NULL, 1, 15000, 600000 },   /* one node */
		{ 3, 2, NULL, NULL, NULL, 2, 15000, 600000 },
		{ 16, 31, NULL, NULL, NULL, 8, 30000, 1200000 }, /* capped */
		{ 4, 6, "2", NULL, NULL, 2, 15000, 600000 },    /* today's */
		{ 4, 6, "2", "1s", "2m", 2, 1000, 120000 },     /* all given */
		{ 4, 6, NULL, "5s", NULL, 4, 5000, 1200000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cr_ring r;
		struct da_config cfg;

		memset(&r, 0, sizeof(r));
		r.replicas = cases[i].replicas;
		r.n_nodes = cases[i].nodes;
		da_config_init(&cfg);
		ck_assert_uint_eq(cfg.attach, 0);
		ck_assert_uint_eq(cfg.keepalive_ms, 0);
		ck_assert_uint_eq(cfg.presence_ttl_ms, 0);
		if (cases[i].attach != NULL)
			ck_assert_int_eq(set(&cfg, "attach", cases[i].attach,
					     NULL, 0), 0);
		if (cases[i].keepalive != NULL)
			ck_assert_int_eq(set(&cfg, "keepalive",
					     cases[i].keepalive, NULL, 0), 0);
		if (cases[i].ttl != NULL)
			ck_assert_int_eq(set(&cfg, "presence-ttl",
					     cases[i].ttl, NULL, 0), 0);
		da_config_resolve(&cfg, &r);
		ck_assert_uint_eq(cfg.attach, cases[i].want_attach);
		ck_assert_uint_eq(cfg.keepalive_ms, cases[i].want_ka);
		ck_assert_uint_eq(cfg.presence_ttl_ms, cases[i].want_ttl);
		/* Resolved once, it stays (a reload resolves again). */
		da_config_resolve(&cfg, &r);
		ck_assert_uint_eq(cfg.keepalive_ms, cases[i].want_ka);
	}
}
END_TEST

static int cfg_cb(void *arg, const char *k, const char *v, struct cr_error **err)
{
	return da_config_set(arg, k, v, err);
}

START_TEST(test_config_file)
{
	struct cr_error *err = NULL;
	struct da_config cfg;
	char text[512];

	da_config_init(&cfg);
	snprintf(text, sizeof(text),
		 "# device\nkey = /k\n  ring /r\ndata=/d\nallow = %s:80\n\n",
		 vendor_b);
	ck_assert_int_eq(cr_config_parse(text, "agent.conf", cfg_cb, &cfg, &err), 0);
	ck_assert_str_eq(cfg.key_path, "/k");
	ck_assert_str_eq(cfg.ring_path, "/r");
	ck_assert_str_eq(cfg.data_dir, "/d");
	ck_assert(da_config_allows(&cfg, &id_b, 80));
	/* The settings are complete; the check goes on to the files (as
	 * the start does), and /k is no key file. */
	ck_assert_int_lt(da_config_check(&cfg, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "/k"));
	err = cr_error_free(err);
	ck_assert_int_lt(cr_config_parse("key\n", "agent.conf", cfg_cb, &cfg, &err), 0);
	ck_assert_str_eq(cr_error_msg(err),
			 "agent.conf:1: 'key' has no value (write 'key = value')");
	err = cr_error_free(err);
	ck_assert_int_lt(cr_config_parse("a=1\nattach = 99\n", "x", cfg_cb, &cfg, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "x:1: unknown setting 'a'"));
	cr_error_free(err);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("agent_config");
	TCase *tc = tcase_create("allow");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_default_denies);
	tcase_add_test(tc, test_allow_ports);
	tcase_add_test(tc, test_allow_shell);
	tcase_add_test(tc, test_allow_errors);
	tcase_add_test(tc, test_other_settings);
	tcase_add_test(tc, test_ring_defaults);
	tcase_add_test(tc, test_config_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(config_suite());
}
