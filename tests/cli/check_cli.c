/*
 * The carrier CLI's commands that need no network, run in process
 * (cli/src/usage.c, keys.c, ringcmd.c): usage errors exit 2 and say where
 * help is, runtime failures exit 1; keygen writes FILE (0600) and FILE.pub
 * in folders it creates (0700), prints the identity and never overwrites;
 * id prints the same identity from either file; ring init, add-node and
 * remove-node write signed rings whose epochs and members are right, and
 * a ring change signed by another operator is refused.
 */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "cr/identity.h"
#include "cr/ring.h"

#include "../check_main.h"

static char dir[64];
static char out[8192], errs[8192];

static void setup(void)
{
	cr_check_tmpdir(dir, "check_cli");
}

static void teardown(void)
{
	cr_check_tmpdir_remove(dir);
}

static void slurp(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
}

/* Runs fn(argc, argv) from a NULL-ended list of words, its stdout and
 * stderr captured in out and errs; returns its exit code. */
static int run(int (*fn)(int, char **), ...)
{
	char *argv[32];
	int argc = 0, rc, fo, fe, so, se;
	char po[128], pe[128];
	va_list ap;

	va_start(ap, fn);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	snprintf(po, sizeof(po), "%s/.stdout", dir);
	snprintf(pe, sizeof(pe), "%s/.stderr", dir);
	fo = open(po, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fe = open(pe, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert(fo >= 0 && fe >= 0);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = fn(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(fo, out, sizeof(out));
	slurp(fe, errs, sizeof(errs));
	unlink(po);
	unlink(pe);
	return rc;
}

static char *path(const char *name)
{
	static char bufs[8][256];
	static int i;
	char *p = bufs[i++ % 8];

	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

START_TEST(test_usage)
{
	ck_assert(cl_is_help("--help"));
	ck_assert(cl_is_help("-h"));
	ck_assert(!cl_is_help("help"));
	ck_assert(!cl_is_help("-H"));
	ck_assert(!cl_is_help(""));

	/* Usage errors: exit 2, the message, and where help is. */
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", NULL), 2);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_nonnull(strstr(errs, "carrier: usage: carrier keygen"));
	ck_assert_ptr_nonnull(strstr(errs, "Try 'carrier --help'.\n"));
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "toaster",
			     "-o", path("k"), NULL),
			 2);
	ck_assert_ptr_nonnull(strstr(errs, "unknown key type 'toaster'"));
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--bogus", NULL), 2);
	ck_assert_ptr_nonnull(strstr(errs, "'--bogus'"));
	ck_assert_int_eq(run(cl_cmd_id, "id", NULL), 2);
	ck_assert_int_eq(run(cl_cmd_ring, "ring", "frobnicate", NULL), 2);
	ck_assert_ptr_nonnull(strstr(errs, "unknown ring command"));
	/* Help goes to stdout, exit 0. */
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--help", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "usage: carrier keygen"));
	ck_assert_str_eq(errs, "");
	/* A runtime failure: exit 1, no help hint. */
	ck_assert_int_eq(cl_fail(1, "x"), 1);
	ck_assert_int_eq(run(cl_cmd_id, "id", path("missing"), NULL), 1);
	ck_assert_ptr_eq(strstr(errs, "Try"), NULL);
}
END_TEST

START_TEST(test_keygen_id)
{
	struct cr_id id;
	struct stat st;
	char printed[CR_ID_STRMAX + 1];

	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "device", "-o",
			     path("a/b/dev"), NULL),
			 0);
	ck_assert_str_eq(errs, "");
	/* One line: a device identity. */
	ck_assert_uint_lt(strlen(out), sizeof(printed));
	memcpy(printed, out, strlen(out) + 1);
	ck_assert_ptr_nonnull(strchr(printed, '\n'));
	*strchr(printed, '\n') = '\0';
	ck_assert_int_eq(cr_id_parse_as(printed, CR_ID_DEVICE, &id, NULL), 0);
	ck_assert_int_eq(stat(path("a/b/dev"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(path("a/b/dev.pub"), &st), 0);
	ck_assert_int_eq(stat(path("a/b"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(stat(path("a"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);

	/* id prints the same identity from the secret and the public file. */
	ck_assert_int_eq(run(cl_cmd_id, "id", path("a/b/dev"), NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, printed));
	ck_assert_int_eq(run(cl_cmd_id, "id", path("a/b/dev.pub"), NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, printed));

	/* Never overwritten. */
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "vendor", "-o",
			     path("a/b/dev"), NULL),
			 1);
	ck_assert_int_eq(run(cl_cmd_id, "id", path("a/b/dev"), NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, printed));
}
END_TEST

static struct cr_ring *load_ring(const char *p)
{
	struct cr_ring *r = NULL;
	struct cr_error *err = NULL;

	ck_assert_msg(cr_ring_load(p, NULL, &r, &err) == 0, "%s",
		      cr_error_msg(err));
	return r;
}

START_TEST(test_ring)
{
	char n1[300], n2[300];
	struct cr_ring *r;

	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "operator",
			     "-o", path("op"), NULL),
			 0);
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "operator",
			     "-o", path("op2"), NULL),
			 0);
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "node", "-o",
			     path("n1"), NULL),
			 0);
	ck_assert_int_eq(run(cl_cmd_keygen, "keygen", "--type", "node", "-o",
			     path("n2"), NULL),
			 0);
	snprintf(n1, sizeof(n1), "%s@127.0.0.1:7001", path("n1.pub"));
	snprintf(n2, sizeof(n2), "%s@127.0.0.1:7002", path("n2.pub"));

	ck_assert_int_eq(run(cl_cmd_ring, "ring", "init", "--operator",
			     path("op"), "--node", n1, "-o", path("ring"),
			     NULL),
			 0);
	r = load_ring(path("ring"));
	ck_assert_uint_eq(r->epoch, 1);
	ck_assert_uint_eq(r->n_nodes, 1);
	ck_assert_str_eq(r->nodes[0].addr, "127.0.0.1:7001");
	cr_ring_free(r);

	ck_assert_int_eq(run(cl_cmd_ring, "ring", "add-node", "--operator",
			     path("op"), "--ring", path("ring"), n2, NULL),
			 0);
	r = load_ring(path("ring"));
	ck_assert_uint_eq(r->epoch, 2);
	ck_assert_uint_eq(r->n_nodes, 2);
	cr_ring_free(r);

	/* Another operator cannot change this ring. */
	ck_assert_int_ne(run(cl_cmd_ring, "ring", "remove-node", "--operator",
			     path("op2"), "--ring", path("ring"), n1, NULL),
			 0);
	ck_assert_str_ne(errs, "");
	r = load_ring(path("ring"));
	ck_assert_uint_eq(r->epoch, 2);
	cr_ring_free(r);

	ck_assert_int_eq(run(cl_cmd_ring, "ring", "remove-node", "--operator",
			     path("op"), "--ring", path("ring"), n1, NULL),
			 0);
	r = load_ring(path("ring"));
	ck_assert_uint_eq(r->epoch, 3);
	ck_assert_uint_eq(r->n_nodes, 1);
	ck_assert_str_eq(r->nodes[0].addr, "127.0.0.1:7002");
	cr_ring_free(r);
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_keygen_id);
	tcase_add_test(tc, test_ring);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(cli_suite());
}
