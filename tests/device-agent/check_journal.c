/* The app journal (da/journal.h): the switch's state machine, what a
 * restarted agent does in each state, retention, the records in LMDB, and
 * the control socket's request lines.  No containers: it runs under qemu
 * in the armel leg too. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "da/control.h"
#include "da/journal.h"

#include "../check_main.h"

START_TEST(test_state_names)
{
	for (int s = 0; s < DA_APP_NSTATES; s++)
		ck_assert_int_eq(da_app_state_parse(da_app_state_name(s)), s);
	ck_assert_int_eq(da_app_state_parse("running"), -1);
	ck_assert_str_eq(da_app_state_name(DA_APP_ROLLING_BACK), "rolling_back");
}
END_TEST

/* The happy path and the failures the journal allows, and what it does
 * not. */
START_TEST(test_steps)
{
	static const enum da_app_state path[] = {
		DA_APP_IDLE,	DA_APP_PULLING, DA_APP_VERIFIED, DA_APP_STAGED,
		DA_APP_STARTING, DA_APP_HEALTH,	DA_APP_COMMITTED,
	};

	for (size_t i = 0; i + 1 < sizeof(path) / sizeof(path[0]); i++)
		ck_assert(da_app_step_ok(path[i], path[i + 1]));
	/* A committed or rolled back app starts the next switch. */
	ck_assert(da_app_step_ok(DA_APP_COMMITTED, DA_APP_PULLING));
	ck_assert(da_app_step_ok(DA_APP_ROLLED_BACK, DA_APP_PULLING));
	/* No skipping: verification and staging come before a start, the
	 * window before a commit. */
	ck_assert(!da_app_step_ok(DA_APP_PULLING, DA_APP_STARTING));
	ck_assert(!da_app_step_ok(DA_APP_VERIFIED, DA_APP_STARTING));
	ck_assert(!da_app_step_ok(DA_APP_STARTING, DA_APP_COMMITTED));
	ck_assert(!da_app_step_ok(DA_APP_PULLING, DA_APP_COMMITTED));
	/* Any step in flight may fail into a rollback; a rest state not. */
	for (int s = DA_APP_PULLING; s <= DA_APP_HEALTH; s++)
		ck_assert(da_app_step_ok(s, DA_APP_ROLLING_BACK));
	ck_assert(!da_app_step_ok(DA_APP_COMMITTED, DA_APP_ROLLING_BACK));
	ck_assert(da_app_step_ok(DA_APP_ROLLING_BACK, DA_APP_ROLLED_BACK));
	/* Nothing started yet: straight to rolled_back (a refused pull). */
	ck_assert(da_app_step_ok(DA_APP_PULLING, DA_APP_ROLLED_BACK));
	ck_assert(!da_app_step_ok(DA_APP_HEALTH, DA_APP_ROLLED_BACK));
	ck_assert(!da_app_step_ok(DA_APP_STARTING, DA_APP_ROLLED_BACK));
}
END_TEST

START_TEST(test_recover)
{
	for (int s = 0; s < DA_APP_NSTATES; s++) {
		enum da_recover r = da_app_recover(s);

		if (da_app_state_terminal(s))
			ck_assert_int_eq(r, DA_RECOVER_ENSURE);
		else if (s <= DA_APP_STAGED)
			ck_assert_int_eq(r, DA_RECOVER_RESUME);
		else
			/* The new version may run, unproven: undo. */
			ck_assert_int_eq(r, DA_RECOVER_ROLLBACK);
	}
	ck_assert(da_app_state_terminal(DA_APP_COMMITTED));
	ck_assert(da_app_state_terminal(DA_APP_ROLLED_BACK));
	ck_assert(!da_app_state_terminal(DA_APP_ROLLING_BACK));
}
END_TEST

START_TEST(test_names)
{
	ck_assert(da_app_name_ok("web"));
	ck_assert(da_app_name_ok("a.b-c9"));
	ck_assert(!da_app_name_ok("Web"));
	ck_assert(da_app_name_ok("we_b"));
	ck_assert(!da_app_name_ok("we+b")); /* '+' separates APP+VERSION */
	ck_assert(!da_app_name_ok(".web"));
	ck_assert(!da_app_name_ok("a/b"));
	ck_assert(!da_app_name_ok(""));
	ck_assert(da_version_ok("1.2.3+build_7"));
	ck_assert(!da_version_ok("../x"));
	ck_assert(!da_version_ok("-1"));
	ck_assert(!da_version_ok("1 2"));
	{
		char big[DA_NAME_MAX + 1];

		memset(big, 'a', DA_NAME_MAX);
		big[DA_NAME_MAX] = '\0';
		ck_assert(!da_app_name_ok(big));
	}
}
END_TEST

static size_t retain(struct da_app_rec *r, const char *v, int committed,
		     char ev[][DA_NAME_MAX])
{
	char evi[DA_KEEP_MAX + 1][DA_IMAGE_MAX], img[DA_IMAGE_MAX];

	snprintf(img, sizeof(img), "web:%s", v);
	return da_app_retain(r, v, img, committed, ev, evi);
}

START_TEST(test_retention)
{
	struct da_app_rec r;
	char ev[DA_KEEP_MAX + 1][DA_NAME_MAX];

	memset(&r, 0, sizeof(r));
	ck_assert_uint_eq(retain(&r, "1", 1, ev), 0);
	ck_assert_uint_eq(retain(&r, "2", 1, ev), 0);
	ck_assert_uint_eq(retain(&r, "3", 1, ev), 0);
	ck_assert_uint_eq(r.n_kept, 3);
	ck_assert_str_eq(r.kept[0], "3");
	ck_assert_str_eq(r.kept[1], "2");
	ck_assert_str_eq(r.kept_image[1], "web:2");
	/* A fourth commit pushes out the oldest, never the current or the
	 * previous. */
	ck_assert_uint_eq(retain(&r, "4", 1, ev), 1);
	ck_assert_str_eq(ev[0], "1");
	ck_assert_str_eq(r.kept[0], "4");
	ck_assert_str_eq(r.kept[1], "3");
	ck_assert_str_eq(r.kept[2], "2");
	/* A failed version with no room goes at once. */
	ck_assert_uint_eq(retain(&r, "5", 0, ev), 1);
	ck_assert_str_eq(ev[0], "5");
	ck_assert(!da_app_keeps(&r, "5"));
	ck_assert(da_app_keeps(&r, "4") && da_app_keeps(&r, "3"));
	/* With room it stays, after the good ones. */
	memset(&r, 0, sizeof(r));
	retain(&r, "1", 1, ev);
	ck_assert_uint_eq(retain(&r, "2", 0, ev), 0);
	ck_assert_str_eq(r.kept[0], "1");
	ck_assert_str_eq(r.kept[1], "2");
	/* Then a commit: the failed one is the first to go. */
	ck_assert_uint_eq(retain(&r, "3", 1, ev), 0);
	ck_assert_uint_eq(retain(&r, "4", 1, ev), 1);
	ck_assert_str_eq(ev[0], "2");
	/* Reinstalling a kept version moves it to the front, no copy. */
	ck_assert_uint_eq(retain(&r, "1", 1, ev), 0);
	ck_assert_uint_eq(r.n_kept, 3);
	ck_assert_str_eq(r.kept[0], "1");
	ck_assert_str_eq(r.kept[1], "4");
}
END_TEST

START_TEST(test_record_roundtrip)
{
	struct da_app_rec r, back;
	struct cr_error *err = NULL;
	char *s;

	memset(&r, 0, sizeof(r));
	snprintf(r.app, sizeof(r.app), "web");
	r.state = DA_APP_HEALTH;
	snprintf(r.current, sizeof(r.current), "1");
	snprintf(r.target, sizeof(r.target), "2");
	snprintf(r.target_image, sizeof(r.target_image), "web:2");
	r.target_counter = 7;
	r.floor = 5;
	r.n_kept = 2;
	snprintf(r.kept[0], DA_NAME_MAX, "1");
	snprintf(r.kept_image[0], DA_IMAGE_MAX, "web:1");
	snprintf(r.kept[1], DA_NAME_MAX, "0");
	snprintf(r.kept_image[1], DA_IMAGE_MAX, "web:0");
	r.last_switch_unix = 1700000000;
	r.window_ms = 30000;
	r.need_ring = 1;
	snprintf(r.last_error, sizeof(r.last_error), "health: \"quoted\"");
	s = da_app_rec_encode(&r);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(da_app_rec_decode(s, strlen(s), &back, &err), 0);
	ck_assert_int_eq(memcmp(&r, &back, sizeof(r)), 0);
	free(s);
	/* Damaged records are refused, not half-read. */
	ck_assert_int_lt(da_app_rec_decode("{\"app\":\"web\"}", 13, &back, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(da_app_rec_decode("[", 1, &back, &err), 0);
	err = cr_error_free(err);
	s = da_app_rec_encode(&r);
	strstr(s, "health")[0] = 'H';
	ck_assert_int_lt(da_app_rec_decode(s, strlen(s), &back, &err), 0);
	cr_error_free(err);
	free(s);
}
END_TEST

START_TEST(test_journal_kv)
{
	struct cr_kv *kv = NULL;
	struct cr_error *err = NULL;
	struct da_app_rec r, got, *all = NULL;
	char dir[64], *blob = NULL;
	size_t n = 0, len = 0;

	cr_check_tmpdir(dir, "check_journal");
	ck_assert_int_eq(cr_kv_open(dir, "agent", 1 << 20, &kv, &err), 0);
	ck_assert_int_eq(da_journal_get(kv, "web", &got, &err), -ENOENT);
	ck_assert_int_eq(da_journal_all(kv, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	free(all);
	memset(&r, 0, sizeof(r));
	snprintf(r.app, sizeof(r.app), "web");
	r.state = DA_APP_PULLING;
	snprintf(r.target, sizeof(r.target), "2");
	ck_assert_int_eq(da_journal_put(kv, &r, &err), 0);
	snprintf(r.app, sizeof(r.app), "db");
	r.state = DA_APP_COMMITTED;
	ck_assert_int_eq(da_journal_put(kv, &r, &err), 0);
	ck_assert_int_eq(da_journal_get(kv, "web", &got, &err), 0);
	ck_assert_int_eq(got.state, DA_APP_PULLING);
	ck_assert_str_eq(got.target, "2");
	ck_assert_int_eq(da_journal_all(kv, &all, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(all[0].app, "db");
	ck_assert_str_eq(all[1].app, "web");
	free(all);
	ck_assert_int_eq(da_journal_put_release(kv, "web", "2", "REL", 3, &err), 0);
	ck_assert_int_eq(da_journal_get_release(kv, "web", "2", &blob, &len, &err), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(blob, "REL", 3);
	free(blob);
	ck_assert_int_eq(da_journal_del_release(kv, "web", "2", &err), 0);
	ck_assert_int_eq(da_journal_del_release(kv, "web", "2", &err), 0);
	ck_assert_int_eq(da_journal_get_release(kv, "web", "2", &blob, &len, &err),
			 -ENOENT);
	/* What was put survives a close (a kill after the put returned). */
	cr_kv_free(kv);
	ck_assert_int_eq(cr_kv_open(dir, "agent", 1 << 20, &kv, &err), 0);
	ck_assert_int_eq(da_journal_get(kv, "db", &got, &err), 0);
	ck_assert_int_eq(got.state, DA_APP_COMMITTED);
	cr_kv_free(kv);
	cr_check_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_control_requests)
{
	struct da_control_req q;
	struct cr_error *err = NULL;
	char big[DA_CONTROL_LINE_MAX + 2];

	ck_assert_int_eq(da_control_parse("apps", 4, &q, &err), 0);
	ck_assert_int_eq(q.cmd, DA_CONTROL_APPS);
	ck_assert_int_eq(da_control_parse("install 3000 1", 14, &q, &err), 0);
	ck_assert_int_eq(q.cmd, DA_CONTROL_INSTALL);
	ck_assert_uint_eq(q.window_ms, 3000);
	ck_assert_int_eq(q.wait, 1);
	ck_assert_int_eq(da_control_parse("install 0 0", 11, &q, &err), 0);
	ck_assert_int_eq(q.wait, 0);
	ck_assert_int_lt(da_control_parse("install x 1", 11, &q, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(da_control_parse("install 1 2", 11, &q, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(da_control_parse("install 1 1 extra", 17, &q, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_lt(da_control_parse("apps\0x", 6, &q, &err), 0);
	err = cr_error_free(err);
	memset(big, 'a', sizeof(big));
	ck_assert_int_lt(da_control_parse(big, sizeof(big), &q, &err), 0);
	cr_error_free(err);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("agent_journal");
	TCase *tc = tcase_create("journal");

	tcase_add_test(tc, test_state_names);
	tcase_add_test(tc, test_steps);
	tcase_add_test(tc, test_recover);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_record_roundtrip);
	tcase_add_test(tc, test_journal_kv);
	tcase_add_test(tc, test_control_requests);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(journal_suite());
}
