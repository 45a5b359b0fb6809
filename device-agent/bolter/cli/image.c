/*
 * The docker-like verbs on the Archon store (the CLI layer; the runtime
 * library knows nothing of images): bolter pull, run IMAGE, ps [-a],
 * images, rmi, stop, rm, logs [-f].  Only the `bolter` name has them; `bolter-oci`
 * is runc's CLI alone.
 *
 * Images live in Archon's store and are reached through the `archon` CLI
 * ($ARCHON, else `archon` next to bolter, else in PATH), so bolter links
 * none of Archon's libraries.  A container is a folder under the data
 * directory ($BOLTER_DATA, default /var/lib/bolter): lower/ (an Archon
 * checkout, hard links into the store, never written), upper/ and work/
 * (the writable layer), rootfs/ (overlayfs of the two; a copy of lower/
 * where overlayfs is missing), config.json built from the image's OCI
 * config, log (stdout and stderr of a detached container) and image (its
 * name).  The runtime state is the runtime's, under --root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bo/container.h"
#include "bo/imagespec.h"
#include "bo/state.h"
#include "cli.h"
#include "cr/cleanup.h"
#include "cr/util.h"

struct ctx {
	const struct bo_cli *g;
	const char *root; /* runtime state (--root) */
	char data[PATH_MAX];
	char archon[PATH_MAX];
};

static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int say(const char *fmt, ...)
{
	va_list ap;

	fputs("bolter: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* A usage error (cli-conventions.md): what was wrong, a pointer to the
 * help, exit status 2. */
static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("bolter: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'bolter --help'.\n", stderr);
	return 2;
}

static int is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Appends what came from fd to *buf (at most max bytes kept); 0 at the
 * end, 1 for more, -1 on a read error. */
static int drain(int fd, char **buf, size_t *len, size_t *cap, size_t max)
{
	char tmp[4096];
	ssize_t r = read(fd, tmp, sizeof(tmp));

	if (r < 0)
		return errno == EINTR ? 1 : -1;
	if (r == 0)
		return 0;
	if (*len + (size_t)r + 1 > *cap && *len < max) {
		size_t ncap = *cap ? *cap * 2 : 8192;
		char *nb;

		while (ncap < *len + (size_t)r + 1)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (nb == NULL)
			return 1; /* keep what fits; the rest is dropped */
		*buf = nb;
		*cap = ncap;
	}
	if (*len + (size_t)r + 1 <= *cap) {
		memcpy(*buf + *len, tmp, (size_t)r);
		*len += (size_t)r;
		(*buf)[*len] = '\0';
	}
	return 1;
}

/*
 * Runs archon with args.  With out != NULL its stdout is captured there
 * (at most 1 MiB, caller frees); with why != NULL its stderr is kept there
 * (one line, the lines joined by "; ") instead of reaching the terminal, so
 * that the caller can say what archon said in its own message.  Returns
 * archon's exit status.
 */
static int archon_run(const struct ctx *c, const char *const *args,
		      char **out, char *why, size_t why_size)
{
	char *argv[16];
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, status = 0, n = 0;
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
	pid_t pid;

	if (why != NULL && why_size > 0)
		why[0] = '\0';
	argv[n++] = (char *)c->archon;
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	if ((out != NULL && pipe2(po, O_CLOEXEC) < 0) ||
	    (why != NULL && pipe2(pe, O_CLOEXEC) < 0))
		return say("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return say("fork: %s", strerror(errno));
	if (pid == 0) {
		if (out != NULL)
			dup2(po[1], 1);
		if (why != NULL)
			dup2(pe[1], 2);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s (set $ARCHON)\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	if (po[1] >= 0)
		close(po[1]);
	if (pe[1] >= 0)
		close(pe[1]);
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (po[0] >= 0 && p[0].revents != 0 &&
		    drain(po[0], &obuf, &olen, &ocap, 1 << 20) <= 0) {
			close(po[0]);
			po[0] = -1;
		}
		if (pe[0] >= 0 && p[1].revents != 0 &&
		    drain(pe[0], &ebuf, &elen, &ecap, 4096) <= 0) {
			close(pe[0]);
			pe[0] = -1;
		}
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out != NULL)
		*out = obuf != NULL ? obuf : strdup("");
	if (why != NULL && why_size > 0 && ebuf != NULL) {
		size_t w = 0;

		/* One line: newlines become "; ", the last one dropped. */
		for (size_t i = 0; i < elen && w + 3 < why_size; i++) {
			if (ebuf[i] != '\n') {
				why[w++] = ebuf[i];
			} else if (i + 1 < elen) {
				why[w++] = ';';
				why[w++] = ' ';
			}
		}
		why[w] = '\0';
	}
	free(ebuf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int archon(const struct ctx *c, const char *const *args)
{
	return archon_run(c, args, NULL, NULL, 0);
}

static void find_archon(struct ctx *c, const char *self)
{
	const char *env = getenv("ARCHON");
	char exe[PATH_MAX];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(c->archon, sizeof(c->archon), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			/* Installed side by side, or the build tree's layout. */
			*slash = '\0';
			snprintf(c->archon, sizeof(c->archon), "%.4000s/archon", exe);
			if (access(c->archon, X_OK) == 0)
				return;
			snprintf(c->archon, sizeof(c->archon),
				 "%.4000s/../archon/archon", exe);
			if (access(c->archon, X_OK) == 0)
				return;
		}
	}
	(void)self;
	snprintf(c->archon, sizeof(c->archon), "archon");
}

static int cdir(const struct ctx *c, const char *name, const char *sub,
		char *out, size_t size)
{
	int n = snprintf(out, size, "%.3800s/containers/%.250s%s%s", c->data, name,
			 sub ? "/" : "", sub ? sub : "");

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * The image's OCI config, from `archon config NAME` (the JSON as stored;
 * exit 3 when the image has none): 0 with *text the JSON (caller frees)
 * or NULL when the image has none (an image imported from a folder); 1
 * when archon failed, said in archon's own words (a missing image, a store
 * being written...), except a missing image when missing is given: then
 * *missing is set and nothing is said.
 */
static int image_config(const struct ctx *c, const char *verb,
			const char *image, char **text, int *missing)
{
	const char *args[] = { "config", image, NULL };
	char *out = NULL;
	char why[1024];
	int rc;

	*text = NULL;
	why[0] = '\0';
	rc = archon_run(c, args, &out, why, sizeof(why));
	if (rc == 3) {
		free(out);
		return 0;
	}
	if (rc != 0) {
		free(out);
		/* The caller pulls it. */
		if (missing != NULL && strstr(why, "no version") != NULL) {
			*missing = 1;
			return 1;
		}
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "archon config %s failed (exit status %d)",
				 image, rc);
		return say("%s %s: %s%s", verb, image, why,
			   strstr(why, "no version") != NULL
				   ? " (bolter pull it first; bolter images "
				     "lists them)"
				   : "");
	}
	*text = out;
	return 0;
}

static int copy_tree(const char *from, const char *to)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execlp("cp", "cp", "-a", "--", from, to, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

/* rootfs/ = overlayfs(lower/, upper/), or a copy of lower/. */
static int make_rootfs(const char *dir)
{
	char lower[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], rootfs[PATH_MAX];
	char opts[3 * PATH_MAX + 64];

	snprintf(lower, sizeof(lower), "%.4000s/lower", dir);
	snprintf(upper, sizeof(upper), "%.4000s/upper", dir);
	snprintf(work, sizeof(work), "%.4000s/work", dir);
	snprintf(rootfs, sizeof(rootfs), "%.4000s/rootfs", dir);
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 ||
	    mkdir(rootfs, 0755) < 0)
		return say("creating the layers in %s: %s", dir, strerror(errno));
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower,
		 upper, work);
	if (mount("overlay", rootfs, "overlay", 0, opts) == 0)
		return 0;
	/* The checkout's files are hard links into the store: a container
	 * must never write them, so without overlayfs it gets a copy. */
	rmdir(rootfs);
	if (copy_tree(lower, rootfs) < 0)
		return say("no overlayfs (%s) and copying %s failed",
			   strerror(errno), lower);
	return 0;
}

static int valid_name(const char *n)
{
	return bo_state_check_id(n, NULL) == 0 && strlen(n) < 200;
}

/* Each verb's --help (on stdout, exit 0). */
static const char help_pull[] =
	"usage: bolter pull [--force] [--publisher-key FILE.pub | --insecure]\n"
	"                   SOURCE [NAME]\n"
	"\n"
	"Imports an image into the Archon store as NAME (REPO:TAG; by default\n"
	"the source's last path element and tag, or latest).  SOURCE: DIR (a\n"
	"root file system, no OCI config), oci:PATH[:TAG], oci-archive:FILE,\n"
	"docker-archive:FILE, docker://HOST/REPO:TAG, or an http(s) Archon\n"
	"origin URL (NAME required).\n"
	"\n"
	"  --force               replace an existing NAME (import)\n"
	"  --publisher-key FILE  an origin's manifests must be signed by this\n"
	"                        key (default $ARCHON_PUBLISHER_KEY); archon\n"
	"                        refuses a pull with neither\n"
	"  --insecure            accept unsigned manifests from an origin\n";
static const char help_images[] =
	"usage: bolter images\n"
	"\n"
	"Lists the images (versions) in the Archon store.\n";
static const char help_rmi[] =
	"usage: bolter rmi [-f] IMAGE...\n"
	"\n"
	"Removes images from the Archon store (archon rm: the name is forgotten,\n"
	"files no other image needs are deleted).  An image a container was made\n"
	"from (any state; see bolter ps -a) is kept unless -f: the containers\n"
	"keep working, they hold their own links to the files.\n";
static const char help_run[] =
	"usage: bolter run [--name NAME] [-d] [-t] [-i] [--rm] [--origin URL]\n"
	"                  [--publisher-key FILE.pub | --insecure] IMAGE [COMMAND [ARGS...]]\n"
	"       bolter run [runc's options] [--bundle DIR] ID   (the OCI runtime;\n"
	"                  also when ./config.json exists and --name is not given)\n"
	"\n"
	"Runs a container of IMAGE from the Archon store: COMMAND replaces the\n"
	"image's Cmd (after its Entrypoint).  An image without an OCI config\n"
	"(imported from a folder) needs COMMAND.  An IMAGE (REPO:TAG) the store\n"
	"lacks is pulled first (archon pull --phases): the phases one line each,\n"
	"the progress on a terminal; then it runs.\n"
	"  --name NAME   the container's name (default IMAGE-XXXX)\n"
	"  -d, --detach  print the name and run in the background; output goes\n"
	"                to the log (bolter logs NAME)\n"
	"  -t, --tty     a terminal (with -i: -it); not with -d\n"
	"  --rm          remove the container when it exits\n"	"  --origin URL  where to pull a missing IMAGE from (default\n"
	"                $BOLTER_ORIGIN, else the store's: archon remote set URL)\n"
	"  --publisher-key FILE.pub  the pulled manifest must be signed by this\n"
	"                key (default $ARCHON_PUBLISHER_KEY)\n"
	"  --insecure    pull without checking who signed the manifest\n"
	"Exit status: the container's in the foreground; 1 when bolter fails,\n"
	"2 for a usage error.\n";
static const char help_ps[] =
	"usage: bolter ps [-a]\n"
	"       bolter ps [--format table|json] ID [PS ARGS]   (runc's: the\n"
	"                  processes of container ID)\n"
	"\n"
	"Lists the containers made from images: running (and created or paused)\n"
	"ones; -a, --all: stopped ones too.\n";
static const char help_stop[] =
	"usage: bolter stop [-t SECONDS] NAME...\n"
	"\n"
	"Sends SIGTERM, then SIGKILL to all its processes after SECONDS (default\n"
	"10), and returns once the container's process is gone.  A name that is\n"
	"no container fails (exit 1) after the others are stopped.\n";
static const char help_rm[] =
	"usage: bolter rm [-f] NAME...\n"
	"\n"
	"Removes stopped containers (their layer, log and state); -f kills a\n"
	"running one first.\n";
static const char help_logs[] =
	"usage: bolter logs [-f] NAME\n"
	"\n"
	"Prints what a detached container wrote (stdout and stderr); -f, --follow:\n"
	"then keeps printing until the container stops.\n";

/* The status of a container made from an image: its process's state, read
 * from /proc at each call, so it is right the moment the process is gone. */
static const char *status_of(const struct ctx *c, const char *name, char *buf,
			     size_t size)
{
	struct bo_state *st = bo_state_load(c->root, name, NULL);

	if (st == NULL)
		return "stopped";
	snprintf(buf, size, "%s", bo_state_status(c->root, st));
	bo_state_free(st);
	return buf;
}

static int container_exists(const struct ctx *c, const char *name)
{
	char dir[PATH_MAX];

	return valid_name(name) && cdir(c, name, NULL, dir, sizeof(dir)) == 0 &&
	       access(dir, F_OK) == 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits up to ms for the process to be gone (a zombie counts as gone);
 * 1 when it is. */
static int wait_gone(pid_t pid, uint64_t start, long ms)
{
	for (long t = 0; bo_process_alive(pid, start); t += 20) {
		if (t >= ms)
			return 0;
		sleep_ms(20);
	}
	return 1;
}

static int pf_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the containers made from images, sorted (NULL-terminated;
 * NULL when there is no folder yet). */
static char **container_names(const struct ctx *c)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%.4000s/containers", c->data);
	d = opendir(dir);
	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		char **nv;

		if (e->d_name[0] == '.' || !valid_name(e->d_name))
			continue;
		nv = realloc(v, (n + 2) * sizeof(*v));
		if (nv == NULL)
			break;
		v = nv;
		v[n] = strdup(e->d_name);
		if (v[n] != NULL)
			n++;
		v[n] = NULL;
	}
	closedir(d);
	if (v != NULL)
		qsort(v, n, sizeof(*v), pf_cmp);
	return v;
}

static void free_names(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* The image a container was made from (caller frees), or NULL. */
static char *image_of(const struct ctx *c, const char *name)
{
	char path[PATH_MAX];
	char *image = NULL;
	size_t len;

	if (cdir(c, name, "image", path, sizeof(path)) < 0 ||
	    cr_read_file(path, 1024, &image, &len, NULL) < 0)
		return NULL;
	return image;
}

static int verb_pull(struct ctx *c, int argc, char **argv)
{
	const char *src, *name, *key = NULL;
	int force = 0, insecure = 0;
	char derived[1100];

	if (argc > 1 && is_help(argv[1])) {
		fputs(help_pull, stdout);
		return 0;
	}
	/* Options first, as the usage line gives them. */
	while (argc > 1 && argv[1][0] == '-') {
		if (strcmp(argv[1], "--force") == 0) {
			force = 1;
		} else if (strcmp(argv[1], "--insecure") == 0) {
			insecure = 1;
		} else if (strcmp(argv[1], "--publisher-key") == 0 && argc > 2) {
			key = argv[2];
			argc--;
			argv++;
		} else {
			return usage("pull: unknown option '%s' (see bolter pull --help)",
				     argv[1]);
		}
		argc--;
		argv++;
	}
	if (argc < 2 || argc > 3)
		return usage("pull: give SOURCE [NAME] (see bolter pull --help)");
	src = argv[1];
	name = argc == 3 ? argv[2] : NULL;
	if (strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0) {
		const char *args[6];
		size_t n = 0;

		if (name == NULL)
			return usage("pull URL NAME: give the version's NAME");
		args[n++] = "pull";
		if (insecure)
			args[n++] = "--insecure";
		args[n++] = src;
		args[n++] = name;
		if (key != NULL) {
			/* archon takes options after the operands too. */
			args[n++] = "--publisher-key";
			args[n++] = key;
		}
		args[n] = NULL;
		return archon(c, args) == 0 ? 0 : 1;
	}
	if (name == NULL) {
		/* REPO:TAG from the source: the last path element, with the
		 * source's tag or "latest". */
		const char *s = strstr(src, "://"), *base, *tag;
		char tmp[512];

		s = s != NULL ? s + 3 : strchr(src, ':') ? strchr(src, ':') + 1 : src;
		snprintf(tmp, sizeof(tmp), "%s", s);
		base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
		tag = strchr(base, ':');
		if (tag != NULL) {
			*(char *)tag = '\0';
			tag++;
		}
		snprintf(derived, sizeof(derived), "%s:%s",
			 base[0] ? base : "image", tag && *tag ? tag : "latest");
		name = derived;
	}
	{
		const char *args[] = { "import", src, name,
				       force ? "--force" : NULL, NULL };

		return archon(c, args) == 0 ? 0 : 1;
	}
}

static int verb_images(struct ctx *c, int argc, char **argv)
{
	const char *args[] = { "ls", NULL };

	if (argc > 1 && is_help(argv[1])) {
		fputs(help_images, stdout);
		return 0;
	}
	if (argc > 1)
		return usage("images: unexpected argument '%s'", argv[1]);
	return archon(c, args) == 0 ? 0 : 1;
}

static int verb_ps(struct ctx *c, int argc, char **argv)
{
	char **names;
	int all = 0;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(help_ps, stdout);
			return 0;
		}
		if (strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--all") == 0)
			all = 1;
		else
			return usage("ps: unknown option '%s'", argv[i]);
	}
	names = container_names(c);
	printf("%-24s %-32s %-10s\n", "NAME", "IMAGE", "STATUS");
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		char buf[16];
		const char *status = status_of(c, names[i], buf, sizeof(buf));
		char *image;

		if (!all && strcmp(status, "stopped") == 0)
			continue;
		image = image_of(c, names[i]);
		if (image == NULL)
			continue; /* being made or removed */
		printf("%-24s %-32s %-10s\n", names[i], image, status);
		free(image);
	}
	free_names(names);
	return 0;
}

/* Removes a container: its runtime state, the overlay mount, its folder.
 * force: a running one is killed first; else it is refused. */
static int remove_container(const struct ctx *c, const char *name, int force)
{
	char dir[PATH_MAX], path[PATH_MAX], buf[16];
	struct bo_opts o;
	struct cr_error *err = NULL;

	if (!container_exists(c, name) ||
	    cdir(c, name, NULL, dir, sizeof(dir)) < 0)
		return say("rm %s: no such container", name);
	if (strcmp(status_of(c, name, buf, sizeof(buf)), "stopped") != 0 &&
	    !force)
		return say("rm %s: the container is %s: stop it first, or rm -f",
			   name, buf);
	memset(&o, 0, sizeof(o));
	o.root = c->root;
	o.warn = bo_cli_warn;
	o.warn_arg = (void *)c->g;
	o.force = 1;
	if (bo_delete(&o, name, &err) < 0 && err != NULL && err->code != ENOENT)
		fprintf(stderr, "bolter: %s\n", cr_error_msg(err));
	cr_error_free(err);
	snprintf(path, sizeof(path), "%.4000s/rootfs", dir);
	umount2(path, MNT_DETACH);
	{
		pid_t pid = fork();
		int status = 1;

		if (pid == 0) {
			execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, &status, 0);
		if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    access(dir, F_OK) == 0)
			return say("rm %s: could not remove %s", name, dir);
	}
	return 0;
}

/* For run -d --rm: a process of its own, in the background, that removes
 * the container once its process is gone. */
static void remove_when_gone(const struct ctx *c, const char *name)
{
	struct bo_state *st = bo_state_load(c->root, name, NULL);
	pid_t pid;

	if (st == NULL)
		return;
	pid = fork();
	if (pid != 0) {
		bo_state_free(st);
		return;
	}
	setsid();
	{
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Nothing of the caller's stays open (a $(bolter run -d)
		 * would wait for it); errors go to the container's log. */
		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
	while (bo_process_alive(st->pid, st->start_time))
		sleep_ms(200);
	bo_state_free(st);
	_exit(remove_container(c, name, 1));
}

/* run's options. */
struct run_opts {
	const char *name, *image;
	const char *origin, *publisher_key; /* to pull a missing image */
	int insecure;
	char gen[64]; /* a generated name */
	int detach, tty, rm;
	int first_arg; /* argv index of COMMAND, or argc */
};

/* Parses run's command line; returns -1, or the exit status when it is
 * done (help printed, or a usage error). */
static int run_parse(int argc, char **argv, struct run_opts *r)
{
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (is_help(argv[i])) {
			fputs(help_run, stdout);
			return 0;
		} else if (strcmp(argv[i], "-d") == 0 ||
			   strcmp(argv[i], "--detach") == 0)
			r->detach = 1;
		else if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--tty") == 0 ||
			 strcmp(argv[i], "-it") == 0 || strcmp(argv[i], "-ti") == 0)
			r->tty = 1;
		else if (strcmp(argv[i], "-i") == 0 ||
			 strcmp(argv[i], "--interactive") == 0)
			; /* stdin is always the container's in the foreground */
		else if (strcmp(argv[i], "--rm") == 0)
			r->rm = 1;
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			r->name = argv[++i];
		else if (strncmp(argv[i], "--name=", 7) == 0)
			r->name = argv[i] + 7;
		else if (strcmp(argv[i], "--origin") == 0 && i + 1 < argc)
			r->origin = argv[++i];
		else if (strncmp(argv[i], "--origin=", 9) == 0)
			r->origin = argv[i] + 9;
		else if (strcmp(argv[i], "--publisher-key") == 0 && i + 1 < argc)
			r->publisher_key = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			r->insecure = 1;
		else
			return usage("run: unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return usage("run: give IMAGE [COMMAND [ARGS...]]");
	if (r->tty && r->detach)
		return usage("run: -t with -d needs a console to keep the "
			     "terminal; run it in the foreground, or detach "
			     "without -t");
	r->image = argv[i++];
	r->first_arg = i;
	if (r->name == NULL) {
		const char *b = strrchr(r->image, '/') ? strrchr(r->image, '/') + 1
						       : r->image;

		snprintf(r->gen, sizeof(r->gen), "%.*s-%04x",
			 (int)strcspn(b, ":"), b, (unsigned)(cr_now_us() & 0xffff));
		r->name = r->gen;
	}
	if (!valid_name(r->name))
		return usage("run: invalid container name '%s'", r->name);
	return -1;
}

/* The container's folder (dir, made here): its image's name, lower/ (an
 * Archon checkout), rootfs/ and config.json (spec, the text).  Returns 0
 * or the exit status, having removed what it made. */
static int run_make_bundle(struct ctx *c, const struct run_opts *r,
			   const char *dir, const char *spec)
{
	const char *args[] = { "checkout", r->image, NULL, NULL };
	struct cr_error *err = NULL;
	char path[PATH_MAX], why[1024];

	snprintf(path, sizeof(path), "%.4000s/containers", c->data);
	if (cr_mkdir_p(path, 0700, NULL) < 0 || mkdir(dir, 0700) < 0)
		return say("run: container %s: %s", r->name,
			   errno == EEXIST ? "already exists" : strerror(errno));
	snprintf(path, sizeof(path), "%.4000s/image", dir);
	cr_write_file_atomic(path, r->image, strlen(r->image), 0644, NULL);
	snprintf(path, sizeof(path), "%.4000s/lower", dir);
	args[2] = path;
	if (archon_run(c, args, NULL, why, sizeof(why)) != 0) {
		remove_container(c, r->name, 1);
		return say("run %s: %s", r->image,
			   why[0] ? why : "archon checkout failed");
	}
	if (make_rootfs(dir) != 0) {
		remove_container(c, r->name, 1);
		return 1;
	}
	snprintf(path, sizeof(path), "%.4000s/config.json", dir);
	if (cr_write_file_atomic(path, spec, strlen(spec), 0644, &err) < 0) {
		say("run: %s", cr_error_msg(err));
		cr_error_free(err);
		remove_container(c, r->name, 1);
		return 1;
	}
	return 0;
}

/*
 * run of an image the store lacks: `archon pull --phases ORIGIN IMAGE`,
 * ORIGIN from --origin, else $BOLTER_ORIGIN, else the store's (archon
 * remote).  archon prints the phases on stdout (and its progress line on
 * a terminal) and its errors.  Returns 0 or the exit status.
 */
static int run_pull_missing(const struct ctx *c, const struct run_opts *r)
{
	const char *origin = r->origin, *env = getenv("BOLTER_ORIGIN");
	const char *args[8];
	char remote[2048];
	size_t n = 0;

	if (origin == NULL && env != NULL && env[0] != '\0')
		origin = env;
	if (origin == NULL) {
		const char *ask[] = { "remote", NULL };
		char *out = NULL;
		char why[256];

		if (archon_run(c, ask, &out, why, sizeof(why)) == 0 && out != NULL &&
		    out[0] != '\0') {
			out[strcspn(out, "\n")] = '\0';
			snprintf(remote, sizeof(remote), "%s", out);
			origin = remote;
		}
		free(out);
	}
	if (origin == NULL)
		return say("run %s: no version %s in the store, and no origin to pull it "
			   "from: give --origin URL, set $BOLTER_ORIGIN, or record one "
			   "with archon remote set URL",
			   r->image, r->image);
	args[n++] = "pull";
	args[n++] = "--phases";
	if (r->publisher_key != NULL) {
		args[n++] = "--publisher-key";
		args[n++] = r->publisher_key;
	}
	if (r->insecure)
		args[n++] = "--insecure";
	args[n++] = origin;
	args[n++] = r->image;
	args[n] = NULL;
	return archon(c, args) == 0 ? 0 : 1;
}

/* The store's cal/ folder, where `archon link` puts the objects linked
 * executables name (archon's own default store rule: $ARCHON_STORE, else
 * /var/lib/archon for root, else ~/.local/share/archon); into buf, or ""
 * when the store has none. */
static void linked_objects_dir(char *buf, size_t cap)
{
	const char *env = getenv("ARCHON_STORE"), *home = getenv("HOME");
	char dir[PATH_MAX];
	struct stat sb;

	buf[0] = '\0';
	if (env != NULL && env[0] != '\0')
		snprintf(dir, sizeof(dir), "%.4000s/cal", env);
	else if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/var/lib/archon/cal");
	else if (home != NULL && home[0] != '\0')
		snprintf(dir, sizeof(dir), "%.4000s/.local/share/archon/cal", home);
	else
		return;
	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && realpath(dir, buf) == NULL)
		buf[0] = '\0';
	(void)cap;
}

/* The config.json of the container (bo_imagespec_build): 0 with *spec,
 * or the exit status, said (no command: a usage error). */
static int run_spec(const struct run_opts *r, const char *img, int argc,
		    char **argv, char **spec)
{
	char objs[PATH_MAX];
	struct bo_imagespec is = {
		.name = r->name,
		.terminal = r->tty,
		.args = argv + r->first_arg,
		.n_args = (size_t)(argc - r->first_arg),
	};
	struct cr_error *err = NULL;
	int rc;

	linked_objects_dir(objs, sizeof(objs));
	if (objs[0] != '\0')
		is.objects_dir = objs;
	if (bo_imagespec_build(img, &is, spec, &err) == 0)
		return 0;
	if (err != NULL && err->code == EINVAL && strstr(err->msg, "no command") != NULL)
		rc = usage("run %s: %s: give one, bolter run %s COMMAND [ARGS...]",
			   r->image, err->msg, r->image);
	else
		rc = say("run %s: %s", r->image, cr_error_msg(err));
	cr_error_free(err);
	return rc;
}

/* run -d: the name on stdout, as docker prints the id; then stdout and
 * stderr become the container's log, stdin /dev/null.  Returns 0 or the
 * exit status. */
static int run_detach_to_log(const char *name, const char *dir)
{
	char path[PATH_MAX];
	int fd, nul;

	printf("%s\n", name);
	snprintf(path, sizeof(path), "%.4000s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return say("%s: %s", path, strerror(errno));
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	fflush(stdout);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	return 0;
}

static int verb_run(struct ctx *c, int argc, char **argv)
{
	struct run_opts r;
	char dir[PATH_MAX];
	int rc = 0, status = 0;
	char *img = NULL, *spec = NULL;
	int missing = 0;
	struct bo_opts o;
	struct cr_error *err = NULL;

	rc = run_parse(argc, argv, &r);
	if (rc >= 0)
		return rc;
	if (cdir(c, r.name, NULL, dir, sizeof(dir)) < 0)
		return usage("run: name too long");
	rc = image_config(c, "run", r.image, &img, &missing);
	if (rc != 0 && missing) {
		rc = run_pull_missing(c, &r);
		if (rc == 0)
			rc = image_config(c, "run", r.image, &img, NULL);
	}
	if (rc != 0)
		return 1;
	/* The config first: a missing command leaves nothing behind. */
	rc = run_spec(&r, img, argc, argv, &spec);
	free(img);
	if (rc != 0)
		return rc;
	rc = run_make_bundle(c, &r, dir, spec);
	free(spec);
	if (rc != 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.root = c->root;
	o.warn = bo_cli_warn;
	o.warn_arg = (void *)c->g;
	o.bundle = dir;
	o.detach = r.detach;
	o.keep = 1; /* `bolter rm` removes it, `ps -a` shows it stopped */
	if (r.detach && (rc = run_detach_to_log(r.name, dir)) != 0)
		return rc;
	if (bo_run(&o, r.name, &status, &err) < 0) {
		fprintf(stderr, "bolter: %s\n", cr_error_msg(err));
		cr_error_free(err);
		if (r.rm)
			remove_container(c, r.name, 1);
		return 1;
	}
	if (r.rm && r.detach)
		remove_when_gone(c, r.name);
	else if (r.rm)
		remove_container(c, r.name, 1);
	return r.detach ? 0 : status;
}

/*
 * Stops a container: SIGTERM; SIGKILL to all its processes after secs;
 * then waits until its process is gone, so that ps says "stopped" the
 * moment stop returns.  A paused container is thawed first (frozen
 * processes do not die).
 */
static int stop_container(const struct ctx *c, const char *name, int secs)
{
	struct bo_opts o;
	struct cr_error *err = NULL;
	struct bo_state *st = bo_state_load(c->root, name, NULL);
	int gone;

	if (st == NULL)
		return 0; /* never started, or its state is gone: stopped */
	memset(&o, 0, sizeof(o));
	o.root = c->root;
	o.warn = bo_cli_warn;
	o.warn_arg = (void *)c->g;
	if (strcmp(bo_state_status(c->root, st), "paused") == 0) {
		bo_pause(&o, name, 0, &err);
		err = cr_error_free(err);
	}
	if (bo_process_alive(st->pid, st->start_time)) {
		bo_kill(&o, name, SIGTERM, &err);
		err = cr_error_free(err);
		if (!wait_gone(st->pid, st->start_time, (long)secs * 1000)) {
			o.all = 1;
			bo_kill(&o, name, SIGKILL, &err);
			err = cr_error_free(err);
		}
	}
	gone = wait_gone(st->pid, st->start_time, 10000);
	if (!gone)
		say("stop %s: process %d still there 10 s after SIGKILL", name,
		    (int)st->pid);
	bo_state_free(st);
	return gone ? 0 : 1;
}

static int verb_stop(struct ctx *c, int argc, char **argv)
{
	int secs = 10, i, rc = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		uint64_t v;

		if (is_help(argv[i])) {
			fputs(help_stop, stdout);
			return 0;
		}
		if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--time") == 0) &&
		    i + 1 < argc) {
			if (cr_parse_u64(argv[++i], 0, 3600, &v) < 0)
				return usage("stop: -t wants seconds (0..3600), "
					     "not '%s'",
					     argv[i]);
			secs = (int)v;
		} else {
			return usage("stop: unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return usage("stop: give the NAME of a container");
	for (; i < argc; i++) {
		if (!container_exists(c, argv[i])) {
			rc = say("stop %s: no such container", argv[i]);
			continue;
		}
		if (stop_container(c, argv[i], secs) != 0) {
			rc = 1;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

static int verb_rm(struct ctx *c, int argc, char **argv)
{
	int force = 0, i, rc = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (is_help(argv[i])) {
			fputs(help_rm, stdout);
			return 0;
		}
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--force") == 0)
			force = 1;
		else
			return usage("rm: unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return usage("rm: give the NAME of a container");
	for (; i < argc; i++) {
		if (remove_container(c, argv[i], force) != 0) {
			rc = 1;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

/* Copies what fd has from its offset to stdout; -1 when stdout is gone. */
static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) != n)
			return -1;
	return 0;
}

static int verb_logs(struct ctx *c, int argc, char **argv)
{
	char path[PATH_MAX], buf[16];
	const char *name = NULL;
	int fd, follow = 0;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(help_logs, stdout);
			return 0;
		}
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0)
			follow = 1;
		else if (argv[i][0] == '-')
			return usage("logs: unknown option '%s'", argv[i]);
		else if (name != NULL)
			return usage("logs: one NAME only");
		else
			name = argv[i];
	}
	if (name == NULL)
		return usage("logs: give the NAME of a container");
	if (!container_exists(c, name))
		return say("logs %s: no such container", name);
	if (cdir(c, name, "log", path, sizeof(path)) < 0)
		return 1;
	fflush(stdout);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return say("logs %s: %s: %s", name, path, strerror(errno));
	if (fd >= 0 && copy_out(fd) < 0) {
		close(fd);
		return 0;
	}
	/* Follow: what is appended, until the container stops; then what
	 * it wrote last. */
	while (follow) {
		int running = strcmp(status_of(c, name, buf, sizeof(buf)),
				     "stopped") != 0;

		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && copy_out(fd) < 0)
			break;
		if (!running || !container_exists(c, name))
			break;
		sleep_ms(100);
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

static int verb_rmi(struct ctx *c, int argc, char **argv)
{
	int force = 0, i, rc = 0;
	char **names;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (is_help(argv[i])) {
			fputs(help_rmi, stdout);
			return 0;
		}
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--force") == 0)
			force = 1;
		else
			return usage("rmi: unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return usage("rmi: give the IMAGE to remove");
	names = container_names(c);
	for (; i < argc; i++) {
		const char *image = argv[i];
		const char *user = NULL;
		const char *args[] = { "rm", image, NULL };
		char why[1024];
		CR_CLEANUP_FREE char *out = NULL;

		for (size_t k = 0; names != NULL && names[k] != NULL && !force &&
				   user == NULL;
		     k++) {
			char *im = image_of(c, names[k]);

			if (im != NULL && strcmp(im, image) == 0)
				user = names[k];
			free(im);
		}
		if (user != NULL) {
			rc = say("rmi %s: container %s was made from it: rm the "
				 "container, or rmi -f",
				 image, user);
			continue;
		}
		if (archon_run(c, args, &out, why, sizeof(why)) != 0) {
			rc = say("rmi %s: %s", image,
				 why[0] ? why : "archon rm failed");
			continue;
		}
		printf("%s\n", image);
	}
	free_names(names);
	return rc;
}

/* run IMAGE unless runc's form: --bundle/-b, or a bundle in the current
 * folder with no --name. */
static int claims_run(int argc, char **argv)
{
	int named = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--bundle") == 0 ||
		    strncmp(argv[i], "--bundle=", 9) == 0 ||
		    strcmp(argv[i], "-b") == 0)
			return 0;
		if (strcmp(argv[i], "--name") == 0 ||
		    strncmp(argv[i], "--name=", 7) == 0)
			named = 1;
	}
	return named || access("config.json", F_OK) != 0;
}

/* ps ID (runc's) has an argument; ps -a and ps --help are ours. */
static int claims_ps(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-a") != 0 && strcmp(argv[i], "--all") != 0 &&
		    !is_help(argv[i]))
			return 0;
	return 1;
}

static void ctx_init(struct ctx *c, const struct bo_cli *g)
{
	const char *data = getenv("BOLTER_DATA");

	memset(c, 0, sizeof(*c));
	c->root = g->root;
	c->g = g;
	snprintf(c->data, sizeof(c->data), "%s",
		 data != NULL && data[0] != '\0' ? data : "/var/lib/bolter");
	find_archon(c, g->self);
}

#define IMAGE_VERB(name)                                                    \
	static int cli_##name(const struct bo_cli *g, int argc, char **argv) \
	{                                                                   \
		struct ctx c;                                               \
	\
		ctx_init(&c, g);                                            \
		return verb_##name(&c, argc, argv);                         \
	}
IMAGE_VERB(pull)
IMAGE_VERB(images)
IMAGE_VERB(rmi)
IMAGE_VERB(run)
IMAGE_VERB(ps)
IMAGE_VERB(stop)
IMAGE_VERB(rm)
IMAGE_VERB(logs)

static const struct bo_cli_command image_commands[] = {
	{ "pull", cli_pull, NULL,
	  "  pull SOURCE [NAME]  import an image (oci:PATH[:TAG], "
	  "oci-archive:F,\n"
	  "                      docker-archive:F, docker://HOST/REPO:TAG, DIR, "
	  "URL)\n" },
	{ "images", cli_images, NULL, "  images              list the images\n" },
	{ "rmi", cli_rmi, NULL,
	  "  rmi [-f] IMAGE...   remove images (-f: even if a container uses "
	  "one)\n" },
	{ "run", cli_run, claims_run,
	  "  run [--name N] [-d] [-t] [-i] [--rm] IMAGE [COMMAND [ARGS...]]\n"
	  "                      run a container (an image from a folder has "
	  "no\n"
	  "                      command of its own: give COMMAND); a missing\n"
	  "                      image is pulled first (see run --help)\n" },
	{ "ps", cli_ps, claims_ps,
	  "  ps [-a]             running containers; -a: stopped ones too\n" },
	{ "stop", cli_stop, NULL,
	  "  stop [-t SECS] NAME...  SIGTERM, SIGKILL after SECS (10), wait for "
	  "it\n" },
	{ "rm", cli_rm, NULL,
	  "  rm [-f] NAME...     remove stopped containers (-f: running ones "
	  "too)\n" },
	{ "logs", cli_logs, NULL,
	  "  logs [-f] NAME      a detached container's output (-f: follow)\n" },
	{ NULL, NULL, NULL, NULL },
};

const struct bo_cli_command *bo_cli_image_commands(void)
{
	return image_commands;
}
