/*
 * The shard cache's origin rules and address check (ring-node/src/origin.c):
 * which request origins a --cache-origins list allows (look-alike hosts,
 * other ports and schemes, user info, dot segments and escapes refused),
 * and which resolved addresses a fetch may connect to (every internal
 * range refused, in IPv4-mapped, NAT64 and 6to4 forms too, unless named
 * as the rule's IP literal).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "rn/origin.h"

#include "../check_main.h"

static int internal(const char *s)
{
	uint8_t ip[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1)
		memcpy(ip + 12, &a4, 4);
	else
		ck_assert_int_eq(inet_pton(AF_INET6, s, ip), 1);
	return rn_addr_internal(ip);
}

START_TEST(test_internal)
{
	static const char *const in[] = {
		"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1",
		"172.31.255.255", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "192.0.0.8", "198.18.0.1",
		"224.0.0.1", "255.255.255.255", "::", "::1", "::ffff:127.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::",
		"fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
		"::127.0.0.1",
	};
	static const char *const out[] = {
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255",
		"100.128.0.1", "169.253.1.1", "192.169.0.1", "198.20.0.1",
		"2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"2002:808:808::",
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		ck_assert_msg(internal(in[i]), "%s is internal", in[i]);
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		ck_assert_msg(!internal(out[i]), "%s is public", out[i]);
}
END_TEST

START_TEST(test_match)
{
	struct rn_origins o;
	struct cr_error *err = NULL;
	static const char *const yes[] = {
		"https://cdn.example.com", "https://CDN.example.com/",
		"https://cdn.example.com:443", "http://10.0.0.5:8080/store",
		"http://10.0.0.5:8080/store/v2", "http://[::1]:9000",
	};
	static const char *const no[] = {
		"https://cdn.example.com.evil", "https://cdn.example.comx",
		"http://cdn.example.com", "https://cdn.example.com:8443",
		"https://evil@cdn.example.com", "https://cdn.example.com@evil",
		"http://10.0.0.5:8080", "http://10.0.0.5:8080/storex",
		"http://10.0.0.5:8080/store/../admin",
		"http://10.0.0.5:8080/store/./x", "http://10.0.0.5:8080/store//x",
		"http://10.0.0.5:8080/store/%2e%2e", "http://10.0.0.5:8080/store\\x",
		"http://10.0.0.5:80/store", "http://[::1]:9001", "ftp://cdn.example.com",
		"http://127.0.0.1:1",
	};

	ck_assert_int_eq(rn_origins_parse(NULL, &o, &err), 0);
	ck_assert_ptr_null(rn_origins_match(&o, "https://cdn.example.com"));
	ck_assert_int_eq(rn_origins_parse("", &o, &err), 0);
	ck_assert_ptr_null(rn_origins_match(&o, "https://cdn.example.com"));

	ck_assert_int_eq(rn_origins_parse("https://cdn.example.com/,"
					  "http://10.0.0.5:8080/store,"
					  "http://[::1]:9000",
					  &o, &err),
			 0);
	ck_assert_uint_eq(o.n, 3);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(rn_origins_match(&o, yes[i]) != NULL, "%s allowed",
			      yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(rn_origins_match(&o, no[i]) == NULL, "%s refused",
			      no[i]);
	ck_assert(!o.v[0].literal);
	ck_assert(o.v[1].literal);
	rn_origins_free(&o);

	ck_assert_int_eq(rn_origins_parse("https://a.example,http://u@b.example",
					  &o, &err),
			 -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "u@b.example"));
	ck_assert_uint_eq(o.n, 0);
	cr_error_free(err);
}
END_TEST

START_TEST(test_addr_ok)
{
	struct rn_origins o;
	struct cr_error *err = NULL;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };

	ck_assert_int_eq(rn_origins_parse("http://10.0.0.5:8080,"
					  "https://cdn.example.com",
					  &o, &err),
			 0);
	/* The named literal, and only it. */
	inet_pton(AF_INET, "10.0.0.5", &a4.sin_addr);
	ck_assert(rn_origin_addr_ok(&o.v[0], (struct sockaddr *)&a4));
	inet_pton(AF_INET6, "::ffff:10.0.0.5", &a6.sin6_addr);
	ck_assert(rn_origin_addr_ok(&o.v[0], (struct sockaddr *)&a6));
	inet_pton(AF_INET, "10.0.0.6", &a4.sin_addr);
	ck_assert(!rn_origin_addr_ok(&o.v[0], (struct sockaddr *)&a4));
	/* A host name: public addresses only (rebinding to metadata fails). */
	inet_pton(AF_INET, "93.184.216.34", &a4.sin_addr);
	ck_assert(rn_origin_addr_ok(&o.v[1], (struct sockaddr *)&a4));
	inet_pton(AF_INET, "169.254.169.254", &a4.sin_addr);
	ck_assert(!rn_origin_addr_ok(&o.v[1], (struct sockaddr *)&a4));
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	ck_assert(!rn_origin_addr_ok(&o.v[1], (struct sockaddr *)&a6));
	rn_origins_free(&o);
}
END_TEST

static Suite *origin_suite(void)
{
	Suite *s = suite_create("origin");
	TCase *tc = tcase_create("origin");

	tcase_add_test(tc, test_internal);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_addr_ok);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(origin_suite());
}
