/*
 * The STUN Binding codec (common/carrier/hop/src/stun.c): the RFC 5769 sample
 * request (FINGERPRINT checked), round trips of requests and responses for
 * IPv4 and IPv6, the classic RFC 3489 form, and malformed input.
 */
#include <arpa/inet.h>
#include <check.h>
#include <sodium.h>
#include <string.h>

#include "cr/stun.h"

#include "../check_main.h"

/* RFC 5769 2.1 sample request, with USERNAME, MESSAGE-INTEGRITY (ignored
 * here) and FINGERPRINT. */
static const uint8_t rfc5769_req[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
	0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
	0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
	0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
	0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
	0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
	0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
	0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
	0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 2.2: the IPv4 response's XOR-MAPPED-ADDRESS, 192.0.2.1:32853. */
static const uint8_t rfc5769_xma[] = {
	0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
};

START_TEST(test_rfc5769_request)
{
	struct cr_stun_req req;
	const char *why = NULL;
	uint8_t bad[sizeof(rfc5769_req)];

	ck_assert(cr_stun_is_request(rfc5769_req, sizeof(rfc5769_req)));
	ck_assert_int_eq(cr_stun_parse_request(rfc5769_req, sizeof(rfc5769_req),
					       &req, &why), 0);
	ck_assert_int_eq(req.rfc3489, 0);
	ck_assert_int_eq(req.change, 0);
	ck_assert_mem_eq(req.txid, rfc5769_req + 4, 16);
	/* One flipped bit in the body: the FINGERPRINT no longer matches. */
	memcpy(bad, rfc5769_req, sizeof(bad));
	bad[30] ^= 1;
	ck_assert_int_eq(cr_stun_parse_request(bad, sizeof(bad), &req, &why), -1);
	ck_assert_str_eq(why, "FINGERPRINT does not match");
}
END_TEST

START_TEST(test_rfc5769_xor_address)
{
	uint8_t msg[20 + sizeof(rfc5769_xma)], txid[16];
	struct cr_addr a;
	const char *why;
	char s[CR_ADDR_STRMAX];

	memcpy(txid, rfc5769_req + 4, 16);
	msg[0] = 0x01;
	msg[1] = 0x01;
	msg[2] = 0;
	msg[3] = sizeof(rfc5769_xma);
	memcpy(msg + 4, txid, 16);
	memcpy(msg + 20, rfc5769_xma, sizeof(rfc5769_xma));
	ck_assert_int_eq(cr_stun_parse_response(msg, sizeof(msg), txid, &a, &why),
			 0);
	ck_assert_str_eq(cr_addr_format(&a, s), "192.0.2.1:32853");
	txid[15] ^= 1;
	ck_assert_int_eq(cr_stun_parse_response(msg, sizeof(msg), txid, &a, &why),
			 -1);
}
END_TEST

static void round_trip(const char *addr)
{
	uint8_t req[64], resp[CR_STUN_MAX], txid[16];
	struct cr_stun_req r;
	struct cr_addr mapped, got;
	const char *why = NULL;
	char s[CR_ADDR_STRMAX];
	size_t n;

	ck_assert_int_eq(cr_addr_parse(addr, &mapped, NULL), 0);
	n = cr_stun_binding_request(txid, req, sizeof(req));
	ck_assert_uint_eq(n, 28);
	ck_assert(cr_stun_is_request(req, n));
	ck_assert_int_eq(cr_stun_parse_request(req, n, &r, &why), 0);
	ck_assert_int_eq(r.rfc3489, 0);
	n = cr_stun_binding_response(&r, &mapped, resp, sizeof(resp));
	ck_assert_uint_gt(n, 20);
	/* A response is never mistaken for a request. */
	ck_assert(!cr_stun_is_request(resp, n));
	ck_assert_int_eq(cr_stun_parse_response(resp, n, txid, &got, &why), 0);
	ck_assert_str_eq(cr_addr_format(&got, s), addr);
	/* A corrupted response fails its FINGERPRINT. */
	resp[n - 9] ^= 0x40;
	ck_assert_int_eq(cr_stun_parse_response(resp, n, txid, &got, &why), -1);
}

START_TEST(test_round_trip)
{
	round_trip("198.18.1.2:40000");
	round_trip("[2001:db8::7]:1");
}
END_TEST

START_TEST(test_rfc3489)
{
	/* What Debian's stun client 0.97 sends: no cookie, CHANGE-REQUEST. */
	uint8_t req[28] = { 0x00, 0x01, 0x00, 0x08, 0x01, 0x8b, 0x2e, 0x2f,
			    0x83, 0x87, 0x4f, 0x50, 0x97, 0x60, 0xd9, 0x05,
			    0x3c, 0x35, 0x8c, 0x71, 0x00, 0x03, 0x00, 0x04,
			    0x00, 0x00, 0x00, 0x06 };
	uint8_t resp[CR_STUN_MAX];
	struct cr_stun_req r;
	struct cr_addr mapped, got;
	const char *why;
	char s[CR_ADDR_STRMAX];
	size_t n;

	ck_assert_int_eq(cr_stun_parse_request(req, sizeof(req), &r, &why), 0);
	ck_assert_int_eq(r.rfc3489, 1);
	ck_assert_uint_eq(r.change, 6);
	ck_assert_int_eq(cr_addr_parse("10.1.2.3:4567", &mapped, NULL), 0);
	n = cr_stun_binding_response(&r, &mapped, resp, sizeof(resp));
	ck_assert_uint_eq(n, 32); /* header + MAPPED-ADDRESS, no FINGERPRINT */
	ck_assert_int_eq(resp[21], 0x01); /* MAPPED-ADDRESS */
	ck_assert_int_eq(cr_stun_parse_response(resp, n, r.txid, &got, &why), 0);
	ck_assert_str_eq(cr_addr_format(&got, s), "10.1.2.3:4567");
}
END_TEST

START_TEST(test_malformed)
{
	uint8_t m[64];
	struct cr_stun_req r;
	const char *why;

	memset(m, 0, sizeof(m));
	m[1] = 1;
	/* Length field past the datagram. */
	m[3] = 8;
	ck_assert(!cr_stun_is_request(m, 24));
	ck_assert_int_eq(cr_stun_parse_request(m, 24, &r, &why), -1);
	/* An attribute longer than the message. */
	m[3] = 4;
	m[20] = 0x00;
	m[21] = 0x03;
	m[22] = 0x00;
	m[23] = 0x08;
	ck_assert_int_eq(cr_stun_parse_request(m, 24, &r, &why), -1);
	ck_assert_str_eq(why, "attribute runs past the message");
	/* Too short for a header; a Carrier INIT byte. */
	ck_assert_int_eq(cr_stun_parse_request(m, 19, &r, &why), -1);
	m[0] = 1;
	ck_assert(!cr_stun_is_request(m, 24));
	/* Length not a multiple of 4. */
	m[0] = 0;
	m[3] = 2;
	ck_assert_int_eq(cr_stun_parse_request(m, 22, &r, &why), -1);
}
END_TEST

static Suite *stun_suite(void)
{
	Suite *s = suite_create("stun");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_rfc5769_request);
	tcase_add_test(tc, test_rfc5769_xor_address);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_rfc3489);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	return cr_check_main(stun_suite());
}
