/* bolter's path resolution inside a container root: a hostile tree of
 * symlinks (to "/", to "../../..", to absolute host paths, loops) never
 * leads a lookup or a created file outside the root.  bo_path_walk is the
 * fallback for kernels without openat2 (or with it filtered); it is called
 * directly here, so it is tested on a kernel that has openat2, and
 * compared with openat2's own answer where the kernel has it. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "bo/path.h"

#include "../check_main.h"

/* outer/ holds root/ and files the container must never reach. */
struct tree {
	char outer[256];
	char root[512];
	int rootfd;
};

static void put(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX * 2];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void link_(const struct tree *t, const char *target, const char *name)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", t->root, name);
	ck_assert_msg(symlink(target, p) == 0, "symlink %s: %s", p,
		      strerror(errno));
}

static void mkdir_(const struct tree *t, const char *name)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", t->root, name);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void make_tree(struct tree *t)
{
	char link[PATH_MAX * 2];

	snprintf(t->outer, sizeof(t->outer), "/tmp/check_path.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->outer));
	snprintf(t->root, sizeof(t->root), "%s/root", t->outer);
	ck_assert_int_eq(mkdir(t->root, 0755), 0);
	put(t->outer, "secret", "host\n");
	mkdir_(t, "etc");
	mkdir_(t, "d");
	mkdir_(t, "d/e");
	put(t->root, "etc/inside", "inside\n");
	put(t->root, "secret", "root\n");
	link_(t, "/", "to-slash");
	link_(t, "../../..", "up");
	link_(t, "d/e/../../../../..", "up-through-dirs");
	link_(t, "/../../secret", "abs-up");
	snprintf(link, sizeof(link), "%s/secret", t->outer);
	link_(t, link, "host-secret");       /* the host's absolute path */
	link_(t, link, "etc/host-secret");
	snprintf(link, sizeof(link), "%s/victim", t->outer);
	link_(t, link, "dangling-file");     /* creation through it */
	snprintf(link, sizeof(link), "%s/victim-dir/x", t->outer);
	link_(t, link, "dangling-dir");
	link_(t, "loop-b", "loop-a");
	link_(t, "loop-a", "loop-b");
	link_(t, "self/x", "self");
	link_(t, "/proc/self/root", "magic");  /* a magic link if followed */
	link_(t, "../etc", "d/etc-rel");
	link_(t, "etc/inside", "file-link");
	t->rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(t->rootfd, 0);
}

static void drop_tree(struct tree *t)
{
	char cmd[PATH_MAX + 32];

	close(t->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->outer);
	ck_assert_int_eq(system(cmd), 0);
}

/* The fd's path on the host, to check it lies inside the root. */
static void where(int fd, char *out, size_t size)
{
	char p[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, out, size - 1);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
}

static void assert_inside(const struct tree *t, int fd, const char *want)
{
	char got[PATH_MAX], exp[PATH_MAX * 2];

	where(fd, got, sizeof(got));
	snprintf(exp, sizeof(exp), "%s%s", t->root, want);
	ck_assert_str_eq(got, exp);
}

static void read_all(int fd, char *out, size_t size)
{
	ssize_t n = read(fd, out, size - 1);

	ck_assert_int_ge(n, 0);
	out[n] = '\0';
}

/* Each lookup, with where it must land inside the root (NULL: refused,
 * with that errno). */
static const struct {
	const char *path;
	const char *lands; /* relative to the root, "" for the root */
	int err;
} lookups[] = {
	{ "/etc/inside", "/etc/inside", 0 },
	{ "to-slash", "", 0 },
	{ "to-slash/etc/inside", "/etc/inside", 0 },
	{ "up", "", 0 },
	{ "up/secret", "/secret", 0 },
	{ "up/up/up/etc", "/etc", 0 },
	{ "up-through-dirs/secret", "/secret", 0 },
	{ "abs-up", "/secret", 0 },
	{ "../../../secret", "/secret", 0 },
	{ "d/../../../etc/../../secret", "/secret", 0 },
	{ "d/etc-rel/inside", "/etc/inside", 0 },
	{ "file-link", "/etc/inside", 0 },
	{ "host-secret", NULL, ENOENT },
	{ "etc/host-secret", NULL, ENOENT },
	{ "to-slash/tmp", NULL, ENOENT },
	{ "loop-a", NULL, ELOOP },
	{ "loop-b/x", NULL, ELOOP },
	{ "self", NULL, ELOOP },
	{ "magic", NULL, ENOENT },
	{ "file-link/x", NULL, ENOTDIR },
};

START_TEST(test_walk_stays_inside)
{
	struct tree t;
	const char *path = lookups[_i].path;
	int fd;

	make_tree(&t);
	errno = 0;
	fd = bo_path_walk(t.rootfd, path, O_PATH, BO_PATH_NOCREATE);
	if (lookups[_i].lands == NULL) {
		ck_assert_msg(fd < 0, "%s: opened, want errno %d", path,
			      lookups[_i].err);
		ck_assert_msg(errno == lookups[_i].err, "%s: errno %d, want %d",
			      path, errno, lookups[_i].err);
	} else {
		ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
		assert_inside(&t, fd, lookups[_i].lands);
		close(fd);
	}
	drop_tree(&t);
}
END_TEST

/* The kernel's RESOLVE_IN_ROOT gives the same answers as the walk. */
START_TEST(test_walk_agrees_with_openat2)
{
#ifdef SYS_openat2
	struct tree t;
	const char *path = lookups[_i].path;
	struct open_how how;
	const char *rel = path + strspn(path, "/");
	int fd;

	make_tree(&t);
	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, t.rootfd, rel, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		drop_tree(&t);
		return; /* no openat2 here: nothing to compare with */
	}
	if (lookups[_i].lands == NULL) {
		ck_assert_msg(fd < 0, "openat2 %s: opened", path);
	} else {
		ck_assert_msg(fd >= 0, "openat2 %s: %s", path, strerror(errno));
		assert_inside(&t, fd, lookups[_i].lands);
		close(fd);
	}
	drop_tree(&t);
#endif
}
END_TEST

/* Creating through hostile links creates inside the root, never on the
 * host. */
START_TEST(test_walk_creates_inside)
{
	struct tree t;
	char host[PATH_MAX * 2], p[PATH_MAX * 2], text[64];
	struct stat sb;
	int fd;

	make_tree(&t);
	fd = bo_path_walk(t.rootfd, "dangling-file", O_PATH, BO_PATH_MKFILE);
	ck_assert_msg(fd >= 0, "%s", strerror(errno));
	close(fd);
	snprintf(host, sizeof(host), "%s/victim", t.outer);
	ck_assert_msg(stat(host, &sb) < 0, "%s was created on the host", host);
	snprintf(p, sizeof(p), "%s%s/victim", t.root, t.outer);
	ck_assert_msg(stat(p, &sb) == 0 && S_ISREG(sb.st_mode),
		      "%s not created in the root", p);

	fd = bo_path_walk(t.rootfd, "dangling-dir/y/z", O_PATH, BO_PATH_MKDIR);
	ck_assert_msg(fd >= 0, "%s", strerror(errno));
	close(fd);
	snprintf(host, sizeof(host), "%s/victim-dir", t.outer);
	ck_assert_msg(stat(host, &sb) < 0, "%s was created on the host", host);
	snprintf(p, sizeof(p), "%s%s/victim-dir/x/y/z", t.root, t.outer);
	ck_assert_msg(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode),
		      "%s not created in the root", p);

	fd = bo_path_walk(t.rootfd, "up/to-slash/new/dir", O_PATH,
			  BO_PATH_MKDIR);
	ck_assert_msg(fd >= 0, "%s", strerror(errno));
	assert_inside(&t, fd, "/new/dir");
	close(fd);
	snprintf(host, sizeof(host), "%s/new", t.outer);
	ck_assert_msg(stat(host, &sb) < 0, "%s was created outside", host);

	/* The host's secret is untouched and out of reach for reading. */
	fd = bo_path_walk(t.rootfd, "host-secret", O_RDONLY, BO_PATH_NOCREATE);
	ck_assert_int_lt(fd, 0);
	fd = bo_path_walk(t.rootfd, "up/up/secret", O_RDONLY, BO_PATH_NOCREATE);
	ck_assert_int_ge(fd, 0);
	read_all(fd, text, sizeof(text));
	close(fd);
	ck_assert_str_eq(text, "root\n");

	/* A loop is refused, not created through. */
	errno = 0;
	ck_assert_int_lt(bo_path_walk(t.rootfd, "loop-a/x", O_PATH,
				      BO_PATH_MKDIR), 0);
	ck_assert_int_eq(errno, ELOOP);
	drop_tree(&t);
}
END_TEST

/* The front door: with openat2 (this kernel) and forced to walk by
 * BOLTER_PATH_WALK=1, creation through a dangling absolute link lands in
 * the root. */
START_TEST(test_open_creates_inside)
{
	struct tree t;
	char host[PATH_MAX * 2], text[64];
	struct stat sb;
	int fd;

	make_tree(&t);
	if (_i == 1)
		setenv("BOLTER_PATH_WALK", "1", 1);
	fd = bo_path_open(t.rootfd, "/dangling-file", O_PATH, BO_PATH_MKFILE);
	ck_assert_msg(fd >= 0, "%s", strerror(errno));
	close(fd);
	snprintf(host, sizeof(host), "%s/victim", t.outer);
	ck_assert_msg(stat(host, &sb) < 0, "%s was created on the host", host);
	fd = bo_path_open(t.rootfd, "/to-slash/d/etc-rel/inside", O_RDONLY,
			  BO_PATH_NOCREATE);
	ck_assert_int_ge(fd, 0);
	read_all(fd, text, sizeof(text));
	close(fd);
	ck_assert_str_eq(text, "inside\n");
	ck_assert_int_lt(bo_path_open(t.rootfd, "/host-secret", O_RDONLY,
				      BO_PATH_NOCREATE), 0);
	unsetenv("BOLTER_PATH_WALK");
	drop_tree(&t);
}
END_TEST

/* A chain longer than the link limit is refused with ELOOP. */
START_TEST(test_walk_link_limit)
{
	struct tree t;
	char name[32], target[32];
	int fd;

	make_tree(&t);
	for (int i = 0; i < BO_PATH_MAX_LINKS + 1; i++) {
		snprintf(name, sizeof(name), "chain%d", i);
		snprintf(target, sizeof(target), "chain%d", i + 1);
		link_(&t, target, name);
	}
	snprintf(name, sizeof(name), "chain%d", BO_PATH_MAX_LINKS + 1);
	mkdir_(&t, name);
	/* 40 links: resolved; 41: refused. */
	fd = bo_path_walk(t.rootfd, "chain1", O_PATH, BO_PATH_NOCREATE);
	ck_assert_msg(fd >= 0, "%s", strerror(errno));
	close(fd);
	errno = 0;
	ck_assert_int_lt(bo_path_walk(t.rootfd, "chain0", O_PATH,
				      BO_PATH_NOCREATE), 0);
	ck_assert_int_eq(errno, ELOOP);
	drop_tree(&t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bo_path");
	TCase *tc = tcase_create("core");
	int n = (int)(sizeof(lookups) / sizeof(lookups[0]));

	tcase_add_loop_test(tc, test_walk_stays_inside, 0, n);
	tcase_add_loop_test(tc, test_walk_agrees_with_openat2, 0, n);
	tcase_add_test(tc, test_walk_creates_inside);
	tcase_add_loop_test(tc, test_open_creates_inside, 0, 2);
	tcase_add_test(tc, test_walk_link_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(suite());
}
