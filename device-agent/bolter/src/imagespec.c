/*
 * The config.json of a container of an image (bo/imagespec.h): what
 * `bolter run IMAGE` and the agent's apps run, built in one place.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bo/imagespec.h"

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

/* Appends the strings of cfg's array field key (if any) to a; anything
 * else in it (the image's author wrote it) is left out, so the spec holds
 * strings only where the runtime wants them. */
static void append_field(json_object *a, json_object *cfg, const char *key)
{
	json_object *v;

	if (cfg == NULL || !json_object_object_get_ex(cfg, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);

		if (json_object_is_type(e, json_type_string))
			json_object_array_add(a, json_object_get(e));
	}
}

/* process.args: Entrypoint + Cmd; the args replace Cmd, or with
 * replace_entrypoint both. */
static json_object *config_args(json_object *cfg, const struct bo_imagespec *o)
{
	json_object *a = json_object_new_array();

	if (o->n_args == 0 || !o->replace_entrypoint)
		append_field(a, cfg, "Entrypoint");
	if (o->n_args > 0)
		for (size_t i = 0; i < o->n_args; i++)
			json_object_array_add(a, json_object_new_string(o->args[i]));
	else
		append_field(a, cfg, "Cmd");
	return a;
}

/* A user or group id: digits, at most 2^32 - 2 (-1 means "none" to the
 * kernel); the end of the digits in *end. */
static int parse_id(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX - 1)
			return -1;
	}
	*end = p;
	*out = v;
	return p == s ? -1 : 0;
}

/* process.user from the image's User, which must be numeric UID[:GID];
 * NULL with *bad the User otherwise. */
static json_object *config_user(json_object *cfg, const char **bad)
{
	uint64_t uid = 0, gid = 0;
	json_object *u, *v;

	if (cfg != NULL && json_object_object_get_ex(cfg, "User", &v) &&
	    json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v), *end;

		if (s[0] != '\0') {
			if (parse_id(s, &end, &uid) < 0 ||
			    (*end == ':' && (parse_id(end + 1, &end, &gid) < 0 || *end != '\0')) ||
			    (*end != '\0' && *end != ':')) {
				*bad = s;
				return NULL;
			}
			if (strchr(s, ':') == NULL)
				gid = uid;
		}
	}
	u = json_object_new_object();
	json_object_object_add(u, "uid", json_object_new_int64((int64_t)uid));
	json_object_object_add(u, "gid", json_object_new_int64((int64_t)gid));
	return u;
}

/* process.env: the image's Env (or a PATH), then each "K=V" given, which
 * replaces the image's K.  NULL with *bad an entry that is not K=V. */
static json_object *config_env(json_object *cfg, const struct bo_imagespec *o,
			       const char **bad)
{
	json_object *a = json_object_new_array(), *v;

	if (cfg != NULL && json_object_object_get_ex(cfg, "Env", &v) &&
	    json_object_is_type(v, json_type_array))
		append_field(a, cfg, "Env");
	else
		json_object_array_add(a, json_object_new_string(
						 "PATH=/usr/local/sbin:/usr/local/bin:"
						 "/usr/sbin:/usr/bin:/sbin:/bin"));
	for (size_t i = 0; i < o->n_env; i++) {
		const char *kv = o->env[i], *eq = strchr(kv, '=');
		size_t klen = eq != NULL ? (size_t)(eq - kv) : 0, j;

		if (klen == 0) {
			*bad = kv;
			json_object_put(a);
			return NULL;
		}
		for (j = 0; j < json_object_array_length(a); j++) {
			const char *old = json_object_get_string(json_object_array_get_idx(a, j));

			if (old != NULL && strncmp(old, kv, klen + 1) == 0)
				break;
		}
		if (j < json_object_array_length(a))
			json_object_array_put_idx(a, j, json_object_new_string(kv));
		else
			json_object_array_add(a, json_object_new_string(kv));
	}
	return a;
}

/* The process: args, env (checked by the caller), cwd, user, docker's
 * default capabilities, no_new_privs. */
static json_object *config_process(json_object *cfg, json_object *args,
				   json_object *env, json_object *user, int terminal)
{
	static const char *const caps[] = {
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
		"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
		"CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL,
	};
	json_object *p = json_object_new_object(), *a, *v;

	json_object_object_add(p, "args", args);
	json_object_object_add(p, "env", env);
	json_object_object_add(
		p, "cwd",
		json_object_new_string(
			cfg != NULL && json_object_object_get_ex(cfg, "WorkingDir", &v) &&
					json_object_is_type(v, json_type_string) &&
					json_object_get_string(v)[0] == '/'
				? json_object_get_string(v)
				: "/"));
	json_object_object_add(p, "user", user);
	a = json_object_new_object();
	json_object_object_add(a, "bounding", strs(caps));
	json_object_object_add(a, "effective", strs(caps));
	json_object_object_add(a, "permitted", strs(caps));
	json_object_object_add(p, "capabilities", a);
	json_object_object_add(p, "noNewPrivileges", json_object_new_boolean(1));
	json_object_object_add(p, "terminal", json_object_new_boolean(terminal));
	return p;
}

/* The usual mounts, the host's resolv.conf (the host's network), and
 * Archon's linked-application objects read-only at the path the
 * executables name them by (docs/linking.md). */
static json_object *config_mounts(const char *objects_dir)
{
	static const char *const none[] = { NULL };
	static const char *const dev[] = { "nosuid", "strictatime", "mode=755",
					   "size=65536k", NULL };
	static const char *const pts[] = { "nosuid", "noexec", "newinstance",
					   "ptmxmode=0666", "mode=0620", NULL };
	static const char *const shm[] = { "nosuid", "noexec", "nodev",
					   "mode=1777", "size=65536k", NULL };
	static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro",
					   NULL };
	static const char *const resolv[] = { "rbind", "ro", NULL };
	static const char *const objs[] = { "bind", "ro", "nosuid", "nodev", NULL };
	json_object *a = json_object_new_array();

	json_object_array_add(a, mount_obj("/proc", "proc", "proc", none));
	json_object_array_add(a, mount_obj("/dev", "tmpfs", "tmpfs", dev));
	json_object_array_add(a, mount_obj("/dev/pts", "devpts", "devpts", pts));
	json_object_array_add(a, mount_obj("/dev/shm", "tmpfs", "shm", shm));
	json_object_array_add(a, mount_obj("/sys", "bind", "/sys", sys));
	if (access("/etc/resolv.conf", R_OK) == 0)
		json_object_array_add(a, mount_obj("/etc/resolv.conf", "bind",
						   "/etc/resolv.conf", resolv));
	if (objects_dir != NULL && objects_dir[0] == '/')
		json_object_array_add(a, mount_obj(objects_dir, "bind", objects_dir,
						   objs));
	return a;
}

/* linux: new pid, ipc, uts and mount namespaces (not net: a device's apps
 * serve on the host's), masked and read-only paths, cgroup PARENT/NAME. */
static json_object *config_linux(const char *parent, const char *name)
{
	static const char *const masked[] = {
		"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list",
		"/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL,
	};
	static const char *const ro[] = { "/proc/bus", "/proc/fs", "/proc/irq",
					  "/proc/sys", "/proc/sysrq-trigger",
					  NULL };
	static const char *const types[] = { "pid", "ipc", "uts", "mount",
					     NULL };
	json_object *lin = json_object_new_object();
	json_object *ns = json_object_new_array();
	size_t len = strlen(parent) + strlen(name) + 2;
	char *cg = malloc(len);

	for (size_t i = 0; types[i] != NULL; i++) {
		json_object *n = json_object_new_object();

		json_object_object_add(n, "type", json_object_new_string(types[i]));
		json_object_array_add(ns, n);
	}
	json_object_object_add(lin, "namespaces", ns);
	json_object_object_add(lin, "maskedPaths", strs(masked));
	json_object_object_add(lin, "readonlyPaths", strs(ro));
	if (cg != NULL) {
		snprintf(cg, len, "%s/%s", parent, name);
		json_object_object_add(lin, "cgroupsPath", json_object_new_string(cg));
		free(cg);
	}
	return lin;
}

/* The image's "config" object (NULL when it has none); -1 when the text
 * is not a JSON object. */
static int parse_image(const char *text, json_object **img, json_object **cfg)
{
	*img = *cfg = NULL;
	if (text == NULL || text[strspn(text, " \t\r\n")] == '\0')
		return 0;
	*img = json_tokener_parse(text);
	if (*img == NULL || !json_object_is_type(*img, json_type_object)) {
		json_object_put(*img);
		*img = NULL;
		return -1;
	}
	if (json_object_object_get_ex(*img, "config", cfg) &&
	    !json_object_is_type(*cfg, json_type_object))
		*cfg = NULL;
	return 0;
}

int bo_imagespec_build(const char *img_config, const struct bo_imagespec *o,
		       char **json, struct cr_error **err)
{
	json_object *img, *cfg, *spec, *args, *env, *user, *root;
	const char *bad = NULL, *text;

	*json = NULL;
	if (o->name == NULL || o->name[0] == '\0')
		return cr_error_set(err, EINVAL, "the container has no name");
	if (parse_image(img_config, &img, &cfg) < 0)
		return cr_error_set(err, EINVAL, "the image config is not a JSON object");
	args = config_args(cfg, o);
	if (json_object_array_length(args) == 0) {
		/* Nothing to guess: a folder has no config, and running
		 * some shell instead would hide the mistake. */
		json_object_put(args);
		json_object_put(img);
		return cr_error_set(err, EINVAL, "the image names no command (%s)",
				    cfg == NULL ? "it has no OCI config, as an image "
						  "imported from a folder"
						: "its config has no Entrypoint or Cmd");
	}
	user = config_user(cfg, &bad);
	if (user == NULL) {
		cr_error_set(err, ENOTSUP,
			     "image user '%s': only numeric UID[:GID] is supported", bad);
		json_object_put(args);
		json_object_put(img);
		return -1;
	}
	env = config_env(cfg, o, &bad);
	if (env == NULL) {
		cr_error_set(err, EINVAL, "environment entry '%s' is not KEY=VALUE", bad);
		json_object_put(user);
		json_object_put(args);
		json_object_put(img);
		return -1;
	}
	spec = json_object_new_object();
	json_object_object_add(spec, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(spec, "process",
			       config_process(cfg, args, env, user, o->terminal));
	root = json_object_new_object();
	json_object_object_add(root, "path",
			       json_object_new_string(o->rootfs != NULL ? o->rootfs : "rootfs"));
	if (o->readonly_root)
		json_object_object_add(root, "readonly", json_object_new_boolean(1));
	json_object_object_add(spec, "root", root);
	json_object_object_add(spec, "hostname", json_object_new_string(o->name));
	json_object_object_add(spec, "mounts", config_mounts(o->objects_dir));
	json_object_object_add(spec, "linux",
			       config_linux(o->cgroup_parent != NULL ? o->cgroup_parent
								     : "bolter",
					    o->name));
	json_object_put(img);
	text = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	*json = text != NULL ? strdup(text) : NULL;
	json_object_put(spec);
	if (*json == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	return 0;
}
