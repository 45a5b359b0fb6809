/*
 * The ring links' pure logic (common/src/ringlink.c): the UDP -> TCP
 * fallback policy both ring clients follow, and the adoption of ring
 * configurations that nodes send in chunks.  No sockets.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr/ringlink.h"

#include "../check_main.h"

static char tmpdir[64];

/* ---- fallback policy ---------------------------------------------------- */

/* The policy with a role's timings, the numbers written out here so that
 * a change of them is seen. */
static void check_role(enum cr_rl_role role, uint64_t giveup, uint64_t keep)
{
	struct cr_rl_fallback f;
	uint64_t t;

	cr_rl_fallback_init(&f, role, 0);
	ck_assert_int_eq(f.use_tcp, 0);
	/* Nothing sent yet: no verdict on UDP, however long. */
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, 100000), 0);
	cr_rl_fallback_sent(&f, 1000);
	cr_rl_fallback_sent(&f, 1400); /* the clock started at the first */
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, 1000 + giveup), 0);
	ck_assert_int_eq(f.use_tcp, 0);
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, 1000 + giveup + 1), 1);
	ck_assert_int_eq(f.use_tcp, 1);
	/* TCP works, then every node goes away: an outage, not a blocked
	 * network, so TCP gets the longer time to come back. */
	t = 1000 + giveup + 500;
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 1, t), 0);
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, t + giveup + 1), 0);
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, t + keep), 0);
	ck_assert_int_eq(f.use_tcp, 1);
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, t + keep + 1), 1);
	ck_assert_int_eq(f.use_tcp, 0);
	/* Back on UDP, not worked yet: the short time again. */
	t += keep + 1;
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, t + giveup + 1), 1);
	ck_assert_int_eq(f.use_tcp, 1);
}

START_TEST(test_fallback_vendor)
{
	check_role(CR_RL_VENDOR, 1500, 12000);
}
END_TEST

START_TEST(test_fallback_device)
{
	check_role(CR_RL_DEVICE, 3000, 15000);
}
END_TEST

START_TEST(test_fallback_forced)
{
	struct cr_rl_fallback f;

	/* --tcp: TCP from the start, and never back to UDP. */
	cr_rl_fallback_init(&f, CR_RL_VENDOR, 1);
	ck_assert_int_eq(f.use_tcp, 1);
	cr_rl_fallback_sent(&f, 1);
	ck_assert_int_eq(cr_rl_fallback_tick(&f, 0, 1000000), 0);
	ck_assert_int_eq(f.use_tcp, 1);
}
END_TEST

/* ---- ring configuration adoption ---------------------------------------- */

static struct cr_ring *build(const struct cr_keypair *op, uint64_t epoch)
{
	enum { N = 24 }; /* enough for more than one chunk */
	struct cr_ring_node nodes[N];
	struct cr_error *err = NULL;
	struct cr_ring *r = NULL;

	memset(nodes, 0, sizeof(nodes));
	for (size_t i = 0; i < N; i++) {
		struct cr_keypair kp;

		ck_assert_int_eq(cr_keypair_generate(CR_ID_NODE, &kp), 0);
		memcpy(nodes[i].pk, kp.pk, CR_PKLEN);
		snprintf(nodes[i].addr, sizeof(nodes[i].addr),
			 "127.0.0.1:%u", 7001 + (unsigned)i);
		nodes[i].weight = 1;
	}
	ck_assert_msg(cr_ring_build(op, epoch, 0, nodes, N, &r, &err) == 0,
		      "cr_ring_build: %s", cr_error_msg(err));
	ck_assert_uint_gt(r->signed_len, CR_RING_CHUNK);
	return r;
}

/* Feeds r's signed form in chunks, the last first. */
static int feed(struct cr_rl_adopt *ad, struct cr_ring_asm *asm_,
		const struct cr_ring *cur, const struct cr_ring *r,
		struct cr_ring **out, struct cr_error **err)
{
	uint32_t half = CR_RING_CHUNK;
	int rc;

	ck_assert_uint_le(r->signed_len, 2 * CR_RING_CHUNK);

	rc = cr_rl_adopt_chunk(ad, asm_, cur, r->epoch,
			       (uint32_t)r->signed_len, half,
			       r->signed_blob + half, r->signed_len - half,
			       out, err);
	if (rc != 0)
		return rc;
	return cr_rl_adopt_chunk(ad, asm_, cur, r->epoch,
				 (uint32_t)r->signed_len, 0, r->signed_blob,
				 half, out, err);
}

START_TEST(test_adopt)
{
	struct cr_keypair op, other;
	struct cr_rl_adopt ad;
	struct cr_ring_asm asm_;
	struct cr_ring *r1, *r2, *r3, *forged, *got = NULL, *saved = NULL;
	struct cr_error *err = NULL;
	uint32_t half;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_OPERATOR, &op), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_OPERATOR, &other), 0);
	r1 = build(&op, 1);
	r2 = build(&op, 2);
	r3 = build(&op, 3);
	forged = build(&other, 9);
	memset(&ad, 0, sizeof(ad));
	memset(&asm_, 0, sizeof(asm_));
	snprintf(ad.pin_path, sizeof(ad.pin_path), "%s/operator.pin", tmpdir);
	snprintf(ad.save_path, sizeof(ad.save_path), "%s/ring", tmpdir);
	ck_assert_int_eq(cr_ring_pin_check(ad.pin_path, r1, NULL, &err), 0);

	/* The first chunk alone adopts nothing; the second completes it. */
	ck_assert_uint_le(r2->signed_len, 2 * CR_RING_CHUNK);
	half = CR_RING_CHUNK;
	ck_assert_int_eq(cr_rl_adopt_chunk(&ad, &asm_, r1, 2,
					   (uint32_t)r2->signed_len, 0,
					   r2->signed_blob, half, &got, &err),
			 0);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(cr_rl_adopt_chunk(&ad, &asm_, r1, 2,
					   (uint32_t)r2->signed_len, half,
					   r2->signed_blob + half,
					   r2->signed_len - half, &got, &err),
			 1);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got->epoch, 2);
	ck_assert_uint_eq(ad.accepted, 2);
	/* Saved where the next run finds it, the pin moved up. */
	ck_assert_int_eq(cr_ring_load(ad.save_path, op.pk, &saved, &err), 0);
	ck_assert_uint_eq(saved->epoch, 2);
	cr_ring_free(saved);
	cr_ring_free(got);
	got = NULL;

	/* A client that keeps its old ring (the CLI) does not take the same
	 * epoch twice, nor an older one. */
	ck_assert_int_eq(feed(&ad, &asm_, r1, r2, &got, &err), 0);
	ck_assert_int_eq(feed(&ad, &asm_, r2, r1, &got, &err), 0);
	ck_assert_ptr_null(got);
	ck_assert_uint_eq(ad.refused, 0);

	/* Another operator's ring, whatever its epoch: refused, counted,
	 * and the saved ring stays. */
	ck_assert_int_eq(feed(&ad, &asm_, r2, forged, &got, &err), -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_null(got);
	ck_assert_uint_eq(ad.refused, 1);
	cr_error_free(err);
	err = NULL;
	ck_assert_int_eq(cr_ring_load(ad.save_path, op.pk, &saved, &err), 0);
	ck_assert_uint_eq(saved->epoch, 2);
	cr_ring_free(saved);

	/* A malformed chunk (short) throws away what arrived so far; the
	 * configuration still arrives whole afterwards. */
	ck_assert_int_eq(cr_rl_adopt_chunk(&ad, &asm_, r2, 3,
					   (uint32_t)r3->signed_len, 0,
					   r3->signed_blob, CR_RING_CHUNK, &got,
					   &err),
			 0);
	ck_assert_ptr_nonnull(asm_.buf);
	ck_assert_int_eq(cr_rl_adopt_chunk(&ad, &asm_, r2, 3,
					   (uint32_t)r3->signed_len,
					   CR_RING_CHUNK, r3->signed_blob, 8,
					   &got, &err),
			 0);
	ck_assert_ptr_null(asm_.buf);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(feed(&ad, &asm_, r2, r3, &got, &err), 1);
	ck_assert_uint_eq(got->epoch, 3);
	ck_assert_uint_eq(ad.accepted, 3);
	cr_ring_free(got);
	cr_ring_asm_reset(&asm_);

	cr_ring_free(r1);
	cr_ring_free(r2);
	cr_ring_free(r3);
	cr_ring_free(forged);
}
END_TEST

static void setup(void)
{
	cr_check_tmpdir(tmpdir, "check_ringlink");
}

static void teardown(void)
{
	cr_check_tmpdir_remove(tmpdir);
}

static Suite *ringlink_suite(void)
{
	Suite *s = suite_create("ringlink");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fallback_vendor);
	tcase_add_test(tc, test_fallback_device);
	tcase_add_test(tc, test_fallback_forced);
	tcase_add_test(tc, test_adopt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(ringlink_suite());
}
