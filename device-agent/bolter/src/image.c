/* Docker-like verbs on Archon: see bo/image.h. */
#include "bo/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bo/container.h"
#include "bo/state.h"
#include "cr/cleanup.h"
#include "cr/util.h"

struct ctx {
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

/* Runs archon with args; with out != NULL its stdout is captured there
 * (at most 1 MiB, caller frees).  Returns archon's exit status. */
static int archon(const struct ctx *c, const char *const *args, char **out)
{
	char *argv[16];
	int p[2] = { -1, -1 }, status, n = 0;
	pid_t pid;

	argv[n++] = strdup(c->archon);
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = strdup(args[i]);
	argv[n] = NULL;
	if (out != NULL && pipe2(p, O_CLOEXEC) < 0)
		return say("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return say("fork: %s", strerror(errno));
	if (pid == 0) {
		if (out != NULL)
			dup2(p[1], 1);
		execvp(argv[0], argv);
		fprintf(stderr, "bolter: cannot run %s: %s (set $ARCHON)\n",
			argv[0], strerror(errno));
		_exit(127);
	}
	if (out != NULL) {
		size_t len = 0, cap = 65536;
		char *buf = malloc(cap + 1);
		ssize_t r;

		close(p[1]);
		while (buf != NULL && (r = read(p[0], buf + len, cap - len)) > 0) {
			len += (size_t)r;
			if (len == cap) {
				char *nb = cap < (1 << 20) ? realloc(buf, cap * 2 + 1)
							   : NULL;

				if (nb == NULL)
					break;
				buf = nb;
				cap *= 2;
			}
		}
		close(p[0]);
		if (buf != NULL)
			buf[len] = '\0';
		*out = buf;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < n; i++)
		free(argv[i]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

/* The image's OCI config, from `archon show NAME`'s "config:" line. */
static json_object *image_config(const struct ctx *c, const char *image)
{
	const char *args[] = { "show", image, NULL };
	CR_CLEANUP_FREE char *out = NULL;
	char *line;

	if (archon(c, args, &out) != 0 || out == NULL)
		return NULL;
	line = strstr(out, "\nconfig:");
	if (line == NULL)
		return json_object_new_object();
	line += 8;
	line[strcspn(line, "\n")] = '\0';
	line += strspn(line, " ");
	if (*line == '\0')
		return json_object_new_object();
	return json_tokener_parse(line);
}

static json_object *strs(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; v[i] != NULL; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *mount_obj(const char *dst, const char *type,
			      const char *src, const char *const *opts)
{
	json_object *m = json_object_new_object();

	json_object_object_add(m, "destination", json_object_new_string(dst));
	json_object_object_add(m, "type", json_object_new_string(type));
	json_object_object_add(m, "source", json_object_new_string(src));
	json_object_object_add(m, "options", strs(opts));
	return m;
}

/* Writes config.json for a container of the image: process from the
 * image config (Entrypoint + Cmd, or ARGS), env, cwd, numeric user; the
 * host's network (a device's apps serve on it); the usual mounts. */
static int write_config(const char *path, json_object *img, const char *name,
			int terminal, int argc, char **argv)
{
	static const char *const caps[] = {
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
		"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
		"CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL,
	};
	static const char *const masked[] = {
		"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list",
		"/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL,
	};
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq",
					  "/proc/sys", "/proc/sysrq-trigger",
					  NULL };
	json_object *cfg = NULL, *o = json_object_new_object(), *p, *a, *u, *lin,
		    *ns, *v;
	const char *text;
	int rc;

	if (img != NULL)
		json_object_object_get_ex(img, "config", &cfg);
	json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
	p = json_object_new_object();
	a = json_object_new_array();
	if (argc > 0) {
		if (cfg != NULL && json_object_object_get_ex(cfg, "Entrypoint", &v) &&
		    json_object_is_type(v, json_type_array))
			for (size_t i = 0; i < json_object_array_length(v); i++)
				json_object_array_add(
					a, json_object_get(json_object_array_get_idx(v, i)));
		for (int i = 0; i < argc; i++)
			json_object_array_add(a, json_object_new_string(argv[i]));
	} else {
		static const char *const keys[] = { "Entrypoint", "Cmd" };

		for (int k = 0; k < 2; k++)
			if (cfg != NULL && json_object_object_get_ex(cfg, keys[k], &v) &&
			    json_object_is_type(v, json_type_array))
				for (size_t i = 0; i < json_object_array_length(v); i++)
					json_object_array_add(
						a,
						json_object_get(json_object_array_get_idx(v, i)));
	}
	if (json_object_array_length(a) == 0)
		json_object_array_add(a, json_object_new_string("sh"));
	json_object_object_add(p, "args", a);
	a = json_object_new_array();
	if (cfg != NULL && json_object_object_get_ex(cfg, "Env", &v) &&
	    json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_object_array_add(a, json_object_get(
							 json_object_array_get_idx(v, i)));
	else
		json_object_array_add(a, json_object_new_string(
						 "PATH=/usr/local/sbin:/usr/local/bin:"
						 "/usr/sbin:/usr/bin:/sbin:/bin"));
	json_object_object_add(p, "env", a);
	json_object_object_add(
		p, "cwd",
		json_object_new_string(
			cfg != NULL && json_object_object_get_ex(cfg, "WorkingDir", &v) &&
					json_object_is_type(v, json_type_string) &&
					json_object_get_string(v)[0] == '/'
				? json_object_get_string(v)
				: "/"));
	u = json_object_new_object();
	{
		unsigned long uid = 0, gid = 0;

		if (cfg != NULL && json_object_object_get_ex(cfg, "User", &v) &&
		    json_object_is_type(v, json_type_string)) {
			const char *s = json_object_get_string(v);
			char *end;

			if (s[0] != '\0') {
				uid = strtoul(s, &end, 10);
				if (end == s || (*end != '\0' && *end != ':')) {
					json_object_put(u);
					json_object_put(p);
					json_object_put(o);
					return say("image user '%s': only numeric "
						   "UID[:GID] is supported",
						   s);
				}
				gid = *end == ':' ? strtoul(end + 1, NULL, 10) : uid;
			}
		}
		json_object_object_add(u, "uid", json_object_new_int64((int64_t)uid));
		json_object_object_add(u, "gid", json_object_new_int64((int64_t)gid));
	}
	json_object_object_add(p, "user", u);
	a = json_object_new_object();
	json_object_object_add(a, "bounding", strs(caps));
	json_object_object_add(a, "effective", strs(caps));
	json_object_object_add(a, "permitted", strs(caps));
	json_object_object_add(p, "capabilities", a);
	json_object_object_add(p, "noNewPrivileges", json_object_new_boolean(1));
	json_object_object_add(p, "terminal", json_object_new_boolean(terminal));
	json_object_object_add(o, "process", p);
	a = json_object_new_object();
	json_object_object_add(a, "path", json_object_new_string("rootfs"));
	json_object_object_add(o, "root", a);
	json_object_object_add(o, "hostname", json_object_new_string(name));
	a = json_object_new_array();
	{
		static const char *const none[] = { NULL };
		static const char *const dev[] = { "nosuid", "strictatime",
						   "mode=755", "size=65536k", NULL };
		static const char *const pts[] = { "nosuid", "noexec", "newinstance",
						   "ptmxmode=0666", "mode=0620",
						   NULL };
		static const char *const shm[] = { "nosuid", "noexec", "nodev",
						   "mode=1777", "size=65536k", NULL };
		static const char *const sys[] = { "nosuid", "noexec", "nodev",
						   "ro", NULL };
		static const char *const resolv[] = { "rbind", "ro", NULL };

		json_object_array_add(a, mount_obj("/proc", "proc", "proc", none));
		json_object_array_add(a, mount_obj("/dev", "tmpfs", "tmpfs", dev));
		json_object_array_add(a, mount_obj("/dev/pts", "devpts", "devpts",
						   pts));
		json_object_array_add(a, mount_obj("/dev/shm", "tmpfs", "shm", shm));
		json_object_array_add(a, mount_obj("/sys", "bind", "/sys", sys));
		if (access("/etc/resolv.conf", R_OK) == 0)
			json_object_array_add(a, mount_obj("/etc/resolv.conf",
							   "bind",
							   "/etc/resolv.conf",
							   resolv));
	}
	json_object_object_add(o, "mounts", a);
	lin = json_object_new_object();
	ns = json_object_new_array();
	{
		static const char *const types[] = { "pid", "ipc", "uts", "mount",
						     NULL };

		for (size_t i = 0; types[i] != NULL; i++) {
			json_object *n = json_object_new_object();

			json_object_object_add(n, "type",
					       json_object_new_string(types[i]));
			json_object_array_add(ns, n);
		}
	}
	json_object_object_add(lin, "namespaces", ns);
	json_object_object_add(lin, "maskedPaths", strs(masked));
	json_object_object_add(lin, "readonlyPaths", strs(ro));
	{
		char cg[300];

		snprintf(cg, sizeof(cg), "bolter/%s", name);
		json_object_object_add(lin, "cgroupsPath", json_object_new_string(cg));
	}
	json_object_object_add(o, "linux", lin);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = cr_write_file_atomic(path, text, strlen(text), 0644, NULL);
	json_object_put(o);
	return rc < 0 ? say("writing %s", path) : 0;
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

static int verb_pull(struct ctx *c, int argc, char **argv)
{
	const char *src, *name;
	char derived[1100];

	if (argc < 2 || argc > 3)
		return say("usage: bolter pull SOURCE [NAME]   (SOURCE: oci:PATH[:TAG], "
			   "oci-archive:FILE, docker-archive:FILE, "
			   "docker://HOST/REPO:TAG, DIR, or an http(s) origin "
			   "URL with NAME)");
	src = argv[1];
	name = argc == 3 ? argv[2] : NULL;
	if (strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0) {
		const char *args[] = { "pull", src, name, NULL };

		if (name == NULL)
			return say("pull URL NAME: give the version's NAME");
		return archon(c, args, NULL);
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
		const char *args[] = { "import", src, name, NULL };

		return archon(c, args, NULL);
	}
}

static int verb_images(struct ctx *c)
{
	const char *args[] = { "ls", NULL };

	return archon(c, args, NULL);
}

static const char *status_of(const struct ctx *c, const char *name)
{
	struct bo_state *st = bo_state_load(c->root, name, NULL);
	static char buf[16];

	if (st == NULL)
		return "exited";
	snprintf(buf, sizeof(buf), "%s", bo_state_status(c->root, st));
	bo_state_free(st);
	return buf;
}

static int verb_ps(struct ctx *c)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%.4000s/containers", c->data);
	printf("%-24s %-32s %-10s\n", "NAME", "IMAGE", "STATUS");
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		CR_CLEANUP_FREE char *image = NULL;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		if (cdir(c, e->d_name, "image", path, sizeof(path)) < 0 ||
		    cr_read_file(path, 1024, &image, &len, NULL) < 0)
			continue;
		printf("%-24s %-32s %-10s\n", e->d_name, image,
		       status_of(c, e->d_name));
	}
	closedir(d);
	return 0;
}

static int verb_run(struct ctx *c, int argc, char **argv)
{
	const char *name = NULL, *image;
	char gen[64], dir[PATH_MAX], path[PATH_MAX];
	int detach = 0, tty = 0, i, rc, status = 0;
	json_object *img;
	struct bo_opts o;
	struct cr_error *err = NULL;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--detach") == 0)
			detach = 1;
		else if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--tty") == 0 ||
			 strcmp(argv[i], "-it") == 0 || strcmp(argv[i], "-ti") == 0)
			tty = 1;
		else if (strcmp(argv[i], "-i") == 0 ||
			 strcmp(argv[i], "--interactive") == 0)
			; /* stdin is always the container's in the foreground */
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strncmp(argv[i], "--name=", 7) == 0)
			name = argv[i] + 7;
		else
			return say("run: unknown option %s (usage: bolter run "
				   "[--name N] [-d] [-t] IMAGE [ARGS...])",
				   argv[i]);
	}
	if (i >= argc)
		return say("usage: bolter run [--name N] [-d] [-t] IMAGE [ARGS...]");
	if (tty && detach)
		return say("run: -t with -d needs a console to keep the terminal; "
			   "run it in the foreground, or detach without -t");
	image = argv[i++];
	if (name == NULL) {
		const char *b = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;

		snprintf(gen, sizeof(gen), "%.*s-%04x", (int)strcspn(b, ":"), b,
			 (unsigned)(cr_now_us() & 0xffff));
		name = gen;
	}
	if (!valid_name(name))
		return say("invalid container name '%s'", name);
	if (cdir(c, name, NULL, dir, sizeof(dir)) < 0)
		return say("name too long");
	img = image_config(c, image);
	if (img == NULL)
		return say("no image %s in the Archon store (bolter pull it "
			   "first; bolter images lists them)",
			   image);
	snprintf(path, sizeof(path), "%.4000s/containers", c->data);
	if (cr_mkdir_p(path, 0700, NULL) < 0 || mkdir(dir, 0700) < 0) {
		json_object_put(img);
		return say("container %s: %s", name,
			   errno == EEXIST ? "already exists" : strerror(errno));
	}
	snprintf(path, sizeof(path), "%.4000s/image", dir);
	cr_write_file_atomic(path, image, strlen(image), 0644, NULL);
	snprintf(path, sizeof(path), "%.4000s/lower", dir);
	{
		const char *args[] = { "checkout", image, path, NULL };

		if (archon(c, args, NULL) != 0) {
			json_object_put(img);
			return say("archon checkout %s failed", image);
		}
	}
	if (make_rootfs(dir) != 0) {
		json_object_put(img);
		return 1;
	}
	snprintf(path, sizeof(path), "%.4000s/config.json", dir);
	rc = write_config(path, img, name, tty, argc - i, argv + i);
	json_object_put(img);
	if (rc != 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.root = c->root;
	o.bundle = dir;
	o.detach = detach;
	o.keep = 1; /* `bolter rm` removes it, `ps` shows it exited */
	if (detach) {
		int fd;

		/* The name on stdout, as docker prints the id; then stdout
		 * and stderr become the log. */
		printf("%s\n", name);

		snprintf(path, sizeof(path), "%.4000s/log", dir);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			return say("%s: %s", path, strerror(errno));
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		fflush(stdout);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (bo_run(&o, name, &status, &err) < 0) {
		fprintf(stderr, "bolter: %s\n", cr_error_msg(err));
		cr_error_free(err);
		return 1;
	}
	return detach ? 0 : status;
}

static int stop_container(const struct ctx *c, const char *name, int secs)
{
	struct bo_opts o;
	struct cr_error *err = NULL;
	struct bo_state *st = bo_state_load(c->root, name, NULL);

	if (st == NULL)
		return 0;
	memset(&o, 0, sizeof(o));
	o.root = c->root;
	if (strcmp(bo_state_status(c->root, st), "stopped") != 0) {
		bo_kill(&o, name, SIGTERM, &err);
		cr_error_free(err);
		err = NULL;
		for (int i = 0; i < secs * 20 && bo_process_alive(st->pid, st->start_time);
		     i++) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
		if (bo_process_alive(st->pid, st->start_time)) {
			o.all = 1;
			bo_kill(&o, name, SIGKILL, &err);
			cr_error_free(err);
			err = NULL;
		}
	}
	bo_state_free(st);
	return 0;
}

static int verb_stop(struct ctx *c, int argc, char **argv)
{
	int secs = 10, i = 1;

	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		secs = atoi(argv[2]);
		i = 3;
	}
	if (i >= argc)
		return say("usage: bolter stop [-t SECONDS] NAME...");
	for (; i < argc; i++) {
		if (!valid_name(argv[i]))
			return say("invalid name '%s'", argv[i]);
		stop_container(c, argv[i], secs);
		printf("%s\n", argv[i]);
	}
	return 0;
}

static int verb_rm(struct ctx *c, int argc, char **argv)
{
	int force = 0, i = 1, rc = 0;

	if (argc > 1 && strcmp(argv[1], "-f") == 0) {
		force = 1;
		i = 2;
	}
	if (i >= argc)
		return say("usage: bolter rm [-f] NAME...");
	for (; i < argc; i++) {
		char dir[PATH_MAX], path[PATH_MAX];
		struct bo_opts o;
		struct cr_error *err = NULL;
		const char *name = argv[i];

		if (!valid_name(name) || cdir(c, name, NULL, dir, sizeof(dir)) < 0 ||
		    access(dir, F_OK) != 0) {
			rc = say("no container '%s'", name);
			continue;
		}
		if (strcmp(status_of(c, name), "running") == 0 && !force) {
			rc = say("container %s is running: stop it or rm -f", name);
			continue;
		}
		memset(&o, 0, sizeof(o));
		o.root = c->root;
		o.force = 1;
		if (bo_delete(&o, name, &err) < 0 && err != NULL &&
		    err->code != ENOENT)
			fprintf(stderr, "bolter: %s\n", cr_error_msg(err));
		cr_error_free(err);
		snprintf(path, sizeof(path), "%.4000s/rootfs", dir);
		umount2(path, MNT_DETACH);
		{
			pid_t pid = fork();

			if (pid == 0) {
				execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
		printf("%s\n", name);
	}
	return rc;
}

static int verb_logs(struct ctx *c, int argc, char **argv)
{
	char path[PATH_MAX], buf[65536];
	int fd;
	ssize_t n;

	if (argc != 2 || !valid_name(argv[1]))
		return say("usage: bolter logs NAME");
	if (cdir(c, argv[1], "log", path, sizeof(path)) < 0)
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		char dir[PATH_MAX];

		cdir(c, argv[1], NULL, dir, sizeof(dir));
		return access(dir, F_OK) == 0 ? 0 : say("no container '%s'", argv[1]);
	}
	fflush(stdout);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) != n)
			break;
	close(fd);
	return 0;
}

int bo_image_command(const char *root, const char *self, const char *cmd,
		     int argc, char **argv)
{
	struct ctx c;
	const char *data = getenv("BOLTER_DATA");

	if (strcmp(cmd, "run") == 0) {
		/* runc's form: --bundle/-b, or a bundle in the current
		 * folder with no --name. */
		int named = 0;

		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--bundle") == 0 ||
			    strncmp(argv[i], "--bundle=", 9) == 0 ||
			    strcmp(argv[i], "-b") == 0)
				return BO_IMAGE_NOT_MINE;
			if (strcmp(argv[i], "--name") == 0 ||
			    strncmp(argv[i], "--name=", 7) == 0)
				named = 1;
		}
		if (!named && access("config.json", F_OK) == 0)
			return BO_IMAGE_NOT_MINE;
	} else if (strcmp(cmd, "ps") == 0) {
		if (argc > 1)
			return BO_IMAGE_NOT_MINE;
	} else if (strcmp(cmd, "pull") != 0 && strcmp(cmd, "images") != 0 &&
		   strcmp(cmd, "stop") != 0 && strcmp(cmd, "rm") != 0 &&
		   strcmp(cmd, "logs") != 0) {
		return BO_IMAGE_NOT_MINE;
	}
	memset(&c, 0, sizeof(c));
	c.root = root;
	snprintf(c.data, sizeof(c.data), "%s",
		 data != NULL && data[0] != '\0' ? data : "/var/lib/bolter");
	find_archon(&c, self);
	if (strcmp(cmd, "pull") == 0)
		return verb_pull(&c, argc, argv);
	if (strcmp(cmd, "images") == 0)
		return verb_images(&c);
	if (strcmp(cmd, "ps") == 0)
		return verb_ps(&c);
	if (strcmp(cmd, "run") == 0)
		return verb_run(&c, argc, argv);
	if (strcmp(cmd, "stop") == 0)
		return verb_stop(&c, argc, argv);
	if (strcmp(cmd, "rm") == 0)
		return verb_rm(&c, argc, argv);
	return verb_logs(&c, argc, argv);
}
