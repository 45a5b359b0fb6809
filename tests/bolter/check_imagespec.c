/*
 * bo_imagespec_build: the config.json `bolter run IMAGE` and the agent's
 * apps run, from an image's OCI config.  Each test parses the JSON built
 * and looks at the fields it is about.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bo/imagespec.h"

#include "../check_main.h"

/* The args and env arrays below point at string literals, never written
 * (bo_imagespec takes char *const, as argv). */

static const char image[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"Entrypoint\":[\"/bin/app\",\"--serve\"],\"Cmd\":[\"--port\",\"80\"],"
	"\"Env\":[\"PATH=/bin\",\"MODE=prod\"],\"WorkingDir\":\"/srv\","
	"\"User\":\"1000:2000\"}}";

/* The spec built from img with o, parsed (the caller puts it). */
static json_object *build(const char *img, const struct bo_imagespec *o)
{
	struct cr_error *err = NULL;
	char *text = NULL;
	json_object *j;

	ck_assert_msg(bo_imagespec_build(img, o, &text, &err) == 0, "%s",
		      cr_error_msg(err));
	j = json_tokener_parse(text);
	free(text);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* The strings of the array at path a.b (NULL b: top-level a), joined by
 * spaces into buf. */
static const char *joined(json_object *j, const char *a, const char *b,
			  char *buf, size_t cap)
{
	json_object *v = NULL;
	size_t used = 0;

	ck_assert(json_object_object_get_ex(j, a, &v));
	if (b != NULL)
		ck_assert(json_object_object_get_ex(v, b, &v));
	buf[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(v); i++)
		used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? " " : "",
					 json_object_get_string(json_object_array_get_idx(v, i)));
	return buf;
}

static const char *field(json_object *j, const char *a, const char *b)
{
	json_object *v = NULL;

	ck_assert(json_object_object_get_ex(j, a, &v));
	if (b != NULL)
		ck_assert(json_object_object_get_ex(v, b, &v));
	return json_object_get_string(v);
}

START_TEST(test_entrypoint_and_cmd)
{
	struct bo_imagespec o = { .name = "web" };
	json_object *j = build(image, &o);
	char buf[512];

	ck_assert_str_eq(joined(j, "process", "args", buf, sizeof(buf)),
			 "/bin/app --serve --port 80");
	ck_assert_str_eq(field(j, "process", "cwd"), "/srv");
	ck_assert_str_eq(field(j, "hostname", NULL), "web");
	ck_assert_str_eq(field(j, "root", "path"), "rootfs");
	ck_assert_str_eq(field(j, "linux", "cgroupsPath"), "bolter/web");
	{
		json_object *p, *u, *v;

		json_object_object_get_ex(j, "process", &p);
		json_object_object_get_ex(p, "user", &u);
		json_object_object_get_ex(u, "uid", &v);
		ck_assert_int_eq(json_object_get_int(v), 1000);
		json_object_object_get_ex(u, "gid", &v);
		ck_assert_int_eq(json_object_get_int(v), 2000);
		json_object_object_get_ex(p, "terminal", &v);
		ck_assert(!json_object_get_boolean(v));
	}
	json_object_put(j);
}
END_TEST

START_TEST(test_args_replace_cmd)
{
	char *const args[] = { (char *)"--port", (char *)"8080" };
	struct bo_imagespec o = { .name = "web", .args = args, .n_args = 2 };
	json_object *j = build(image, &o);
	char buf[512];

	/* As docker run IMAGE ARGS: the entrypoint stays. */
	ck_assert_str_eq(joined(j, "process", "args", buf, sizeof(buf)),
			 "/bin/app --serve --port 8080");
	json_object_put(j);
}
END_TEST

START_TEST(test_replace_entrypoint)
{
	char *const args[] = { (char *)"/bin/sh", (char *)"-c", (char *)"echo hi" };
	struct bo_imagespec o = { .name = "web", .args = args, .n_args = 3,
				  .replace_entrypoint = 1 };
	json_object *j = build(image, &o);
	char buf[512];

	ck_assert_str_eq(joined(j, "process", "args", buf, sizeof(buf)),
			 "/bin/sh -c echo hi");
	json_object_put(j);
	/* With no args the image's command stays, entrypoint included. */
	o.n_args = 0;
	j = build(image, &o);
	ck_assert_str_eq(joined(j, "process", "args", buf, sizeof(buf)),
			 "/bin/app --serve --port 80");
	json_object_put(j);
}
END_TEST

START_TEST(test_env_override)
{
	char *const env[] = { (char *)"MODE=test", (char *)"EXTRA=1" };
	struct bo_imagespec o = { .name = "web", .env = env, .n_env = 2 };
	json_object *j = build(image, &o);
	char buf[512];
	struct cr_error *err = NULL;
	char *text = NULL;
	char *const bad[] = { (char *)"NOEQUALS" };

	ck_assert_str_eq(joined(j, "process", "env", buf, sizeof(buf)),
			 "PATH=/bin MODE=test EXTRA=1");
	json_object_put(j);
	/* An image without Env gets a PATH, then the additions. */
	o.n_env = 1;
	j = build("{\"config\":{\"Cmd\":[\"/bin/true\"]}}", &o);
	ck_assert_str_eq(joined(j, "process", "env", buf, sizeof(buf)),
			 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
			 "MODE=test");
	json_object_put(j);
	o.env = bad;
	ck_assert_int_eq(bo_imagespec_build(image, &o, &text, &err), -1);
	ck_assert_int_eq(err->code, EINVAL);
	ck_assert_ptr_nonnull(strstr(err->msg, "NOEQUALS"));
	ck_assert_ptr_null(text);
	cr_error_free(err);
}
END_TEST

START_TEST(test_no_command)
{
	struct bo_imagespec o = { .name = "x" };
	struct cr_error *err = NULL;
	char *text = NULL;

	/* A folder import: no config at all. */
	ck_assert_int_eq(bo_imagespec_build(NULL, &o, &text, &err), -1);
	ck_assert_int_eq(err->code, EINVAL);
	ck_assert_ptr_nonnull(strstr(err->msg, "names no command"));
	ck_assert_ptr_nonnull(strstr(err->msg, "no OCI config"));
	err = cr_error_free(err);
	ck_assert_int_eq(bo_imagespec_build("", &o, &text, &err), -1);
	err = cr_error_free(err);
	/* A config without Entrypoint or Cmd. */
	ck_assert_int_eq(bo_imagespec_build("{\"config\":{\"Env\":[]}}", &o, &text, &err), -1);
	ck_assert_ptr_nonnull(strstr(err->msg, "no Entrypoint or Cmd"));
	err = cr_error_free(err);
	/* Not JSON. */
	ck_assert_int_eq(bo_imagespec_build("[1,2", &o, &text, &err), -1);
	ck_assert_int_eq(err->code, EINVAL);
	err = cr_error_free(err);
	ck_assert_ptr_null(text);
}
END_TEST

START_TEST(test_user_not_numeric)
{
	struct bo_imagespec o = { .name = "x" };
	struct cr_error *err = NULL;
	char *text = NULL;

	ck_assert_int_eq(bo_imagespec_build("{\"config\":{\"Cmd\":[\"/bin/true\"],"
					    "\"User\":\"nobody\"}}",
					    &o, &text, &err),
			 -1);
	ck_assert_int_eq(err->code, ENOTSUP);
	ck_assert_ptr_nonnull(strstr(err->msg, "'nobody'"));
	ck_assert_ptr_null(text);
	err = cr_error_free(err);
	/* Ids the kernel (and bolter's parser) take: below 2^32 - 1. */
	static const char *const bad[] = { "4294967295", "1:4294967295", "1000:", "1000:x",
					   "10000000000000000000000" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char img[200];

		snprintf(img, sizeof(img), "{\"config\":{\"Cmd\":[\"/bin/true\"],\"User\":\"%s\"}}",
			 bad[i]);
		ck_assert_msg(bo_imagespec_build(img, &o, &text, &err) == -1, "%s", bad[i]);
		err = cr_error_free(err);
	}
	{
		json_object *j = build("{\"config\":{\"Cmd\":[\"/bin/true\"],"
				       "\"User\":\"4294967294\"}}",
				       &o), *p, *v;

		json_object_object_get_ex(j, "process", &p);
		json_object_object_get_ex(p, "user", &p);
		json_object_object_get_ex(p, "gid", &v);
		ck_assert_int_eq(json_object_get_int64(v), 4294967294LL);
		json_object_put(j);
	}
}
END_TEST

START_TEST(test_cgroup_parent_and_root)
{
	char *const args[] = { (char *)"/bin/true" };
	struct bo_imagespec o = { .name = "app-1", .cgroup_parent = "korhal/apps",
				  .rootfs = "/var/lib/x/rootfs", .readonly_root = 1,
				  .terminal = 1, .args = args, .n_args = 1 };
	json_object *j = build(NULL, &o), *v;

	ck_assert_str_eq(field(j, "linux", "cgroupsPath"), "korhal/apps/app-1");
	ck_assert_str_eq(field(j, "root", "path"), "/var/lib/x/rootfs");
	json_object_object_get_ex(j, "root", &v);
	json_object_object_get_ex(v, "readonly", &v);
	ck_assert(json_object_get_boolean(v));
	json_object_object_get_ex(j, "process", &v);
	json_object_object_get_ex(v, "terminal", &v);
	ck_assert(json_object_get_boolean(v));
	/* No config: cwd / and uid 0. */
	ck_assert_str_eq(field(j, "process", "cwd"), "/");
	json_object_put(j);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("imagespec");
	TCase *tc = tcase_create("build");

	tcase_add_test(tc, test_entrypoint_and_cmd);
	tcase_add_test(tc, test_args_replace_cmd);
	tcase_add_test(tc, test_replace_entrypoint);
	tcase_add_test(tc, test_env_override);
	tcase_add_test(tc, test_no_command);
	tcase_add_test(tc, test_user_not_numeric);
	tcase_add_test(tc, test_cgroup_parent_and_root);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
