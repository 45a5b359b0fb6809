/* Container state on disk: see bo/state.h. */
#include "bo/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bo/cgroup.h"
#include "cr/cleanup.h"
#include "cr/util.h"

enum { STATE_MAX_BYTES = 1 << 20 };

int bo_state_check_id(const char *id, struct cr_error **err)
{
	size_t len = strlen(id);

	if (len == 0 || len > 1024 || id[0] == '.' ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "0123456789_+.-") != len)
		return cr_error_set(err, EINVAL,
				    "invalid container id '%s': use letters, "
				    "digits and _+.- (not starting with '.')",
				    id);
	return 0;
}

int bo_write_file(const char *path, const void *data, size_t len, unsigned mode,
		  struct cr_error **err)
{
	char tmp[PATH_MAX];
	int fd, n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	const char *p = data;

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return cr_error_set(err, ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return cr_error_errno(err, errno, "creating %s", tmp);
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;

			close(fd);
			unlink(tmp);
			return cr_error_errno(err, e, "writing %s", tmp);
		}
		p += w;
		len -= (size_t)w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return cr_error_errno(err, e, "writing %s", path);
	}
	return 0;
}

void bo_state_dir(const char *root, const char *id, char *dir, size_t size)
{
	snprintf(dir, size, "%s/%s", root, id);
}

/* Field 22 (starttime) of a /proc/PID/stat line, 0 when unreadable. */
static uint64_t stat_start_time(const char *buf)
{
	const char *p = strrchr(buf, ')');

	if (p == NULL)
		return 0;
	/* After "comm)": state is field 3, starttime field 22. */
	p += 2;
	for (int field = 3; field < 22 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return 0;
	return strtoull(p, NULL, 10);
}

/* /proc/PID/stat into buf; -1 when the process is gone. */
static int read_stat(pid_t pid, char *buf, size_t size)
{
	char path[64];
	CR_CLEANUP_CLOSE int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

uint64_t bo_process_start_time(pid_t pid)
{
	char buf[1024];

	if (read_stat(pid, buf, sizeof(buf)) < 0)
		return 0;
	return stat_start_time(buf);
}

int bo_process_alive(pid_t pid, uint64_t start_time)
{
	char buf[1024], *p;

	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return 0;
	/* one read answers both: is it a zombie, and is it the same process */
	if (read_stat(pid, buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');
	if (p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	return start_time == 0 || stat_start_time(buf) == start_time;
}

const char *bo_state_status(const char *root, const struct bo_state *st)
{
	char path[PATH_MAX];

	if (!bo_process_alive(st->pid, st->start_time))
		return "stopped";
	snprintf(path, sizeof(path), "%s/%s/exec.fifo", root, st->id);
	if (access(path, F_OK) == 0)
		return "created";
	return bo_cgroup_frozen(st->cgroup_dirs) ? "paused" : "running";
}

json_object *bo_state_oci(const struct bo_state *st, const char *status)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ociVersion",
			       json_object_new_string("1.0.2"));
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "status", json_object_new_string(status));
	if (strcmp(status, "stopped") != 0)
		json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	json_object_object_add(o, "annotations",
			       st->annotations != NULL
				       ? json_object_get(st->annotations)
				       : json_object_new_object());
	return o;
}

int bo_state_save(const char *root, const struct bo_state *st,
		  struct cr_error **err)
{
	json_object *o = json_object_new_object(), *cg;
	char path[PATH_MAX];
	const char *text;
	int rc;

	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "start_time",
			       json_object_new_uint64(st->start_time));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
	json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
	json_object_object_add(o, "created",
			       json_object_new_string(st->created));
	json_object_object_add(o, "owner", json_object_new_int64(st->owner));
	json_object_object_add(o, "pidns", json_object_new_boolean(st->has_pidns));
	if (st->hooks >= 0)
		json_object_object_add(o, "hooks", json_object_new_int(st->hooks));
	cg = json_object_new_array();
	for (size_t i = 0; st->cgroup_dirs != NULL && st->cgroup_dirs[i] != NULL;
	     i++)
		json_object_array_add(cg,
				      json_object_new_string(st->cgroup_dirs[i]));
	json_object_object_add(o, "cgroups", cg);
	if (st->annotations != NULL)
		json_object_object_add(o, "annotations",
				       json_object_get(st->annotations));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	snprintf(path, sizeof(path), "%s/%s/state.json", root, st->id);
	rc = bo_write_file(path, text, strlen(text), 0600, err);
	json_object_put(o);
	return rc;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

struct bo_state *bo_state_load(const char *root, const char *id,
			       struct cr_error **err)
{
	char path[PATH_MAX];
	CR_CLEANUP_FREE char *text = NULL;
	size_t len;
	json_object *o, *v;
	struct bo_state *st;
	const char *s;

	if (bo_state_check_id(id, err) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s/state.json", root, id);
	/* (no access() first: the read's ENOENT says the same) */
	{
		struct cr_error *e = NULL;

		if (cr_read_file(path, STATE_MAX_BYTES, &text, &len, &e) < 0) {
			if (e->code == ENOENT) {
				cr_error_free(e);
				cr_error_set(err, ENOENT,
					     "container %s does not exist", id);
				return NULL;
			}
			if (err != NULL && *err == NULL)
				*err = e;
			else
				cr_error_free(e);
			return NULL;
		}
	}
	o = json_tokener_parse(text);
	st = calloc(1, sizeof(*st));
	if (o == NULL || st == NULL || !json_object_is_type(o, json_type_object)) {
		if (o != NULL)
			json_object_put(o);
		free(st);
		cr_error_set(err, EINVAL, "%s: corrupt state file", path);
		return NULL;
	}
	st->id = strdup(id);
	if (json_object_object_get_ex(o, "pid", &v))
		st->pid = (pid_t)json_object_get_int(v);
	if (json_object_object_get_ex(o, "start_time", &v))
		st->start_time = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "owner", &v))
		st->owner = (uid_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "pidns", &v))
		st->has_pidns = json_object_get_boolean(v);
	st->hooks = -1;
	if (json_object_object_get_ex(o, "hooks", &v) &&
	    json_object_is_type(v, json_type_int))
		st->hooks = json_object_get_int(v);
	s = str_of(o, "bundle");
	st->bundle = strdup(s != NULL ? s : "");
	s = str_of(o, "rootfs");
	st->rootfs = strdup(s != NULL ? s : "");
	s = str_of(o, "created");
	st->created = strdup(s != NULL ? s : "");
	if (json_object_object_get_ex(o, "cgroups", &v) &&
	    json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);

		st->cgroup_dirs = calloc(n + 1, sizeof(char *));
		for (size_t i = 0; st->cgroup_dirs != NULL && i < n; i++)
			st->cgroup_dirs[i] = strdup(
				json_object_get_string(json_object_array_get_idx(v, i)));
	}
	if (json_object_object_get_ex(o, "annotations", &v))
		st->annotations = json_object_get(v);
	json_object_put(o);
	return st;
}

struct bo_state *bo_state_free(struct bo_state *st)
{
	if (st == NULL)
		return NULL;
	free(st->id);
	free(st->bundle);
	free(st->rootfs);
	free(st->created);
	bo_cgroup_dirs_free(st->cgroup_dirs);
	if (st->annotations != NULL)
		json_object_put(st->annotations);
	free(st);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **bo_state_list(const char *root, struct cr_error **err)
{
	DIR *d = opendir(root);
	struct dirent *e;
	char **ids = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL) {
		if (errno == ENOENT)
			return calloc(1, sizeof(char *));
		cr_error_errno(err, errno, "opening %s", root);
		return NULL;
	}
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/state.json", root, e->d_name);
		if (access(path, F_OK) != 0)
			continue;
		if (n + 1 >= cap) {
			char **p = realloc(ids, (cap * 2 + 8) * sizeof(char *));

			if (p == NULL)
				break;
			ids = p;
			cap = cap * 2 + 8;
		}
		ids[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (ids == NULL)
		return calloc(1, sizeof(char *));
	ids[n] = NULL;
	qsort(ids, n, sizeof(char *), cmp_str);
	return ids;
}
