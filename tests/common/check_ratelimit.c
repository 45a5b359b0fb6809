/*
 * Per-source-address token buckets (common/base/src/ratelimit.c): the rate and
 * burst, the address (not the port) as the key, addresses independent of
 * one another, bounded memory under many addresses, long silences.
 */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>

#include "cr/ratelimit.h"

#include "../check_main.h"

static struct cr_addr v4(uint32_t ip, uint16_t port)
{
	struct cr_addr a;

	memset(&a, 0, sizeof(a));
	a.u.in4.sin_family = AF_INET;
	a.u.in4.sin_addr.s_addr = htonl(ip);
	a.u.in4.sin_port = htons(port);
	return a;
}

static int count_allowed(struct cr_ratelimit *rl, const struct cr_addr *a,
			 int tries, uint64_t now)
{
	int n = 0;

	for (int i = 0; i < tries; i++)
		n += cr_ratelimit_allow(rl, a, now);
	return n;
}

START_TEST(test_burst_and_rate)
{
	struct cr_ratelimit *rl = cr_ratelimit_new(20, 5, NULL);
	struct cr_addr a = v4(0x7f000002, 1000);
	uint64_t now = 1000000;

	ck_assert_ptr_nonnull(rl);
	/* A full bucket: the burst, then nothing. */
	ck_assert_int_eq(count_allowed(rl, &a, 100, now), 5);
	/* 20 a second: one every 50 ms. */
	ck_assert_int_eq(count_allowed(rl, &a, 10, now + 49), 0);
	ck_assert_int_eq(count_allowed(rl, &a, 10, now + 50), 1);
	ck_assert_int_eq(count_allowed(rl, &a, 10, now + 100), 1);
	/* Over ten seconds of flooding: 20 a second, no more. */
	{
		int n = 0;

		for (uint64_t t = now + 101; t < now + 10101; t += 10)
			n += count_allowed(rl, &a, 10, t);
		ck_assert_int_ge(n, 199);
		ck_assert_int_le(n, 201);
	}
	/* A long silence refills to the burst, not beyond. */
	ck_assert_int_eq(count_allowed(rl, &a, 100, now + 86400000ull * 365),
			 5);
	cr_ratelimit_free(rl);
}
END_TEST

START_TEST(test_addresses_independent)
{
	struct cr_ratelimit *rl = cr_ratelimit_new(10, 10, NULL);
	struct cr_addr flood = v4(0x7f000005, 4000);
	struct cr_addr other_port = v4(0x7f000005, 4001);
	struct cr_addr honest = v4(0x7f000001, 4000);
	struct cr_addr six;
	uint64_t now = 5000;

	ck_assert_ptr_nonnull(rl);
	ck_assert_int_eq(count_allowed(rl, &flood, 1000, now), 10);
	/* Another port of the same address shares its bucket. */
	ck_assert_int_eq(count_allowed(rl, &other_port, 10, now), 0);
	/* Another address does not. */
	ck_assert_int_eq(count_allowed(rl, &honest, 3, now), 3);
	memset(&six, 0, sizeof(six));
	six.u.in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &six.u.in6.sin6_addr);
	ck_assert_int_eq(count_allowed(rl, &six, 3, now), 3);
	six.u.in6.sin6_addr.s6_addr[15] = 2;
	ck_assert_int_eq(count_allowed(rl, &six, 3, now), 3);
	/* The rate can change at run time. */
	cr_ratelimit_set(rl, 1000, 1000);
	ck_assert_int_eq(count_allowed(rl, &flood, 2000, now + 1000), 1000);
	cr_ratelimit_free(rl);
}
END_TEST

/* Many more addresses than slots: memory stays fixed, a busy address keeps
 * its entry (least recently used goes first), and an evicted one comes
 * back with a full bucket, never a negative one. */
START_TEST(test_many_addresses)
{
	struct cr_ratelimit *rl = cr_ratelimit_new(1, 2, NULL);
	struct cr_addr busy = v4(0x7f000009, 1);
	uint64_t now = 1;
	int refused = 0;

	ck_assert_ptr_nonnull(rl);
	ck_assert_int_eq(count_allowed(rl, &busy, 2, now), 2);
	for (uint32_t i = 0; i < 20 * CR_RATELIMIT_SLOTS; i++) {
		struct cr_addr a = v4(0x0a000000u + i, 9);

		now++;
		ck_assert_int_eq(cr_ratelimit_allow(rl, &a, now), 1);
		/* The busy address keeps asking and stays limited. */
		if (i % 64 == 0)
			refused += !cr_ratelimit_allow(rl, &busy, now);
	}
	/* 20 * 4096 ms is about 82 s: at 1 a second it got about 82 of
	 * the 1280 it asked for. */
	ck_assert_int_gt(refused, 1100);
	cr_ratelimit_free(rl);
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("buckets");

	tcase_add_test(tc, test_burst_and_rate);
	tcase_add_test(tc, test_addresses_independent);
	tcase_add_test(tc, test_many_addresses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(ratelimit_suite());
}
