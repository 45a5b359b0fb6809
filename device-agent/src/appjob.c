/*
 * The blocking half of the app manager: what its worker process does
 * (da_job_run), through the Archon and Bolter libraries.  Nothing here
 * touches the journal: the loop wrote it before it forked the worker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apps-internal.h"
#include "ar/pull.h"
#include "ar/store.h"
#include "bo/container.h"
#include "bo/imagespec.h"
#include "bo/state.h"
#include "cr/cleanup.h"
#include "cr/log.h"
#include "cr/util.h"

void da_container_id(const char *app, const char *version, char *out,
		     size_t cap)
{
	snprintf(out, cap, "%s+%s", app, version);
}

void da_app_path(const struct da_paths *p, const char *app, const char *sub,
		 char *out, size_t cap)
{
	snprintf(out, cap, "%.3000s/apps/%s/%s", p->data, app, sub);
}

void da_app_dir(const struct da_paths *p, const char *app,
		const char *version, char *out, size_t cap)
{
	if (version != NULL)
		snprintf(out, cap, "%.3000s/apps/%s/versions/%s", p->data, app,
			 version);
	else
		snprintf(out, cap, "%.3000s/apps/%s", p->data, app);
}

int da_container_pid(const struct da_paths *p, const char *app,
		     const char *version, pid_t *pid, uint64_t *start)
{
	char id[2 * DA_NAME_MAX + 2];
	struct bo_state *st;
	int alive;

	da_container_id(app, version, id, sizeof(id));
	st = bo_state_load(p->bolter, id, NULL);
	if (st == NULL)
		return 0;
	alive = bo_process_alive(st->pid, st->start_time);
	*pid = st->pid;
	*start = st->start_time;
	bo_state_free(st);
	return alive;
}

char **da_app_containers(const struct da_paths *p, const char *app)
{
	char **ids = bo_state_list(p->bolter, NULL), **out;
	size_t n = 0, plen = strlen(app);

	if (ids == NULL)
		return calloc(1, sizeof(char *));
	out = ids;
	for (size_t i = 0; ids[i] != NULL; i++) {
		if (strncmp(ids[i], app, plen) == 0 && ids[i][plen] == '+') {
			/* The version: what follows APP+. */
			memmove(ids[i], ids[i] + plen + 1,
				strlen(ids[i] + plen + 1) + 1);
			out[n++] = ids[i];
		} else {
			free(ids[i]);
		}
	}
	out[n] = NULL;
	return out;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static struct bo_opts job_bo_opts(const struct da_paths *p)
{
	struct bo_opts o;

	memset(&o, 0, sizeof(o));
	o.root = p->bolter;
	return o;
}

/* ---- Stopping -------------------------------------------------------- */

/* 1 when pid catches SIGTERM (/proc/PID/status SigCgt).  A container's
 * init is pid 1 of its namespace, which the kernel spares every signal it
 * has no handler for: SIGTERM to one without a handler would only cost
 * the grace time. */
static int catches_term(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "SigCgt: %llx", &mask) == 1) {
			found = 1;
			break;
		}
	fclose(f);
	return !found || (mask & (1ULL << (SIGTERM - 1))) != 0;
}

/* Stops and deletes container id (SIGTERM when it has a use, SIGKILL
 * after the grace time), and unmounts its version's rootfs. */
static void stop_container(const struct da_paths *p, const char *app,
			   const char *version)
{
	char id[2 * DA_NAME_MAX + 2], dir[PATH_MAX], rootfs[PATH_MAX + 8];
	struct bo_opts o = job_bo_opts(p);
	struct bo_state *st;

	da_container_id(app, version, id, sizeof(id));
	st = bo_state_load(p->bolter, id, NULL);
	if (st != NULL) {
		if (bo_process_alive(st->pid, st->start_time) &&
		    (!st->has_pidns || catches_term(st->pid))) {
			bo_kill(&o, id, SIGTERM, NULL);
			for (long t = 0; t < DA_STOP_GRACE_MS &&
					 bo_process_alive(st->pid, st->start_time);
			     t += 20)
				sleep_ms(20);
		}
		if (bo_process_alive(st->pid, st->start_time)) {
			o.all = 1;
			bo_kill(&o, id, SIGKILL, NULL);
			o.all = 0;
			for (long t = 0; t < 5000 && bo_process_alive(st->pid,
								      st->start_time);
			     t += 20)
				sleep_ms(20);
		}
		bo_state_free(st);
	}
	/* Without a state too: a cut in the middle of a create leaves a
	 * folder that a forced delete takes away. */
	o.force = 1;
	bo_delete(&o, id, NULL);
	da_app_dir(p, app, version, dir, sizeof(dir));
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
	umount2(rootfs, MNT_DETACH);
}

static void stop_all(const struct da_paths *p, const char *app)
{
	char **v = da_app_containers(p, app);

	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		stop_container(p, app, v[i]);
		free(v[i]);
	}
	free(v);
}

/* ---- Files ------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf, staying on dir's file system (a rootfs left mounted is
 * skipped, not emptied). */
static int rm_tree(const char *dir, struct cr_error **err)
{
	if (access(dir, F_OK) < 0)
		return 0;
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return cr_error_errno(err, errno, "removing %s", dir);
	return 0;
}

static int is_mountpoint(const char *path)
{
	char parent[PATH_MAX + 4];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return 0;
	return a.st_dev != b.st_dev;
}

static int copy_tree(const char *from, const char *to)
{
	char src[PATH_MAX + 4];
	pid_t pid;
	int status;

	snprintf(src, sizeof(src), "%s/.", from);
	pid = fork();
	if (pid == 0) {
		execlp("cp", "cp", "-a", "--", src, to, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

/* The version's rootfs: an overlay of the checkout (lower/, hard links
 * into the store, never written) and its own upper/; a copy of lower/
 * where overlayfs is missing (as bolter run makes it). */
static int make_rootfs(const char *dir, struct cr_error **err)
{
	char lower[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], rootfs[PATH_MAX];
	char copied[PATH_MAX], opts[3 * PATH_MAX + 64];

	snprintf(lower, sizeof(lower), "%.4000s/lower", dir);
	snprintf(upper, sizeof(upper), "%.4000s/upper", dir);
	snprintf(work, sizeof(work), "%.4000s/work", dir);
	snprintf(rootfs, sizeof(rootfs), "%.4000s/rootfs", dir);
	snprintf(copied, sizeof(copied), "%.4000s/rootfs.copied", dir);
	if (is_mountpoint(rootfs))
		umount2(rootfs, MNT_DETACH);
	if ((mkdir(upper, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(work, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(rootfs, 0755) < 0 && errno != EEXIST))
		return cr_error_errno(err, errno, "creating the layers in %s",
				      dir);
	if (access(copied, F_OK) == 0)
		return 0;
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s",
		 lower, upper, work);
	if (mount("overlay", rootfs, "overlay", 0, opts) == 0)
		return 0;
	/* The checkout's files are the store's: a container never writes
	 * them, so without overlayfs it gets a copy. */
	if (rm_tree(rootfs, err) < 0 || mkdir(rootfs, 0755) < 0 ||
	    copy_tree(lower, rootfs) < 0)
		return cr_error_set(err, EIO,
				    "no overlayfs and copying %s failed", lower);
	return cr_write_file_atomic(copied, "", 0, 0644, err);
}

/* ---- Jobs ------------------------------------------------------------- */

static int check_pins(struct ar_store *st, const struct cr_release *r,
		      struct cr_error **err)
{
	struct ar_manifest *m = NULL;
	uint8_t digest[32];
	int rc = 0;

	if (ar_store_get_manifest(st, r->image, &m, err) < 0)
		return -1;
	crypto_generichash(digest, sizeof(digest), (const uint8_t *)m->config,
			   m->config_len, NULL, 0);
	if (sodium_memcmp(m->index.b, r->index_id, 32) != 0)
		rc = cr_error_set(err, EBADMSG,
				  "mix-and-match: image %s has another index "
				  "than the release pins",
				  r->image);
	else if (sodium_memcmp(digest, r->config_digest, 32) != 0)
		rc = cr_error_set(err, EBADMSG,
				  "mix-and-match: image %s has another config "
				  "than the release pins",
				  r->image);
	ar_manifest_free(m);
	return rc;
}

/* The fleet's peers that announced the version, before the ring's caches
 * and the origin: `carrier connect` with this device's own key and fleet
 * credential (no vendor key on the device).  An expired or unreadable
 * credential costs the pull its peers, not the pull. */
static void fetch_peers(const struct da_paths *p, struct ar_pull_opts *o)
{
	struct cr_fleet_cred *c = NULL;
	struct cr_error *e = NULL;
	char dir[PATH_MAX];

	if (cr_cred_load(p->credential, NULL, cr_now_unix(), &c, &e) < 0) {
		cr_log_warnx("pulling without the fleet's peers: %s",
			     cr_error_msg(e));
		cr_error_free(e);
		return;
	}
	cr_cred_free(c);
	/* carrier's configuration folder is the agent's data folder: there
	 * it finds the agent's operator pin (operator.pin) and pins this
	 * ring by it, rather than trusting the operator it sees first in the
	 * home of whoever started the agent (this worker ends with the job). */
	snprintf(dir, sizeof(dir), "%.4000s", p->data);
	setenv("CARRIER_CONFIG_DIR", dir, 1);
	o->peers = 1;
	o->key = p->key;
	o->credential = p->credential;
	o->carrier = p->carrier;
}

static int job_fetch(const struct da_paths *p, const struct da_job *j,
		     struct cr_error **err)
{
	const struct cr_release *r = j->rel;
	struct ar_store *st = NULL;
	struct ar_pull_opts o;
	struct cr_error *last = NULL;
	int rc = -1;

	if (ar_store_open(p->store, &st, err) < 0)
		return -1;
	/* Held already, with the pinned ids: nothing to download (a
	 * reinstall, a resumed switch). */
	if (check_pins(st, r, NULL) == 0) {
		ar_store_free(st);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	/* The release's signatures pin the index and the config, so the
	 * manifest's own publisher signature adds nothing. */
	o.insecure = 1;
	o.allow_downgrade = 1;
	o.expect_index = r->index_id;
	o.expect_config_digest = r->config_digest;
	o.reserve_bytes = p->reserve_bytes;
	/* The ring's shard caches before the origin (every chunk is checked
	 * against its id whoever serves it). */
	o.ring_path = p->ring_saved[0] != '\0' && access(p->ring_saved, R_OK) == 0
			      ? p->ring_saved
		      : p->ring[0] != '\0' ? p->ring
					    : NULL;
	if (o.ring_path != NULL && p->credential[0] != '\0')
		fetch_peers(p, &o);
	for (size_t i = 0; i < r->n_origins && rc < 0; i++) {
		cr_error_free(last);
		last = NULL;
		rc = ar_pull(st, r->origins[i], r->image, &o, stderr, &last);
		if (rc < 0 && last != NULL && last->code == ENOSPC)
			break; /* another origin has no more room */
	}
	if (rc < 0) {
		if (last == NULL)
			cr_error_set(&last, EINVAL, "the release names no origin");
		*err = last;
		ar_store_free(st);
		return -1;
	}
	cr_error_free(last);
	rc = check_pins(st, r, err);
	ar_store_free(st);
	return rc;
}

static int job_stage(const struct da_paths *p, const struct da_job *j,
		     struct cr_error **err)
{
	const struct cr_release *r = j->rel;
	char dir[PATH_MAX], path[PATH_MAX + 16], id[2 * DA_NAME_MAX + 2];
	struct ar_store *st = NULL;
	struct bo_imagespec spec;
	char *config = NULL, *json = NULL, *staged = NULL;
	char **env = NULL;
	size_t slen, n_env = 0, owned[CR_APPCFG_ENTRIES_MAX], n_owned = 0;
	int rc = -1;

	da_app_dir(p, j->app, j->version, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/staged", dir);
	if (ar_store_open_mode(p->store, AR_STORE_READ, &st, err) < 0)
		return -1;
	/* A checkout of the same image is kept (a version released again:
	 * its config.json is written anew below, the release's arguments
	 * may differ); a half-made one (a kill) is made again. */
	if (cr_read_file(path, DA_IMAGE_MAX, &staged, &slen, NULL) < 0 ||
	    strcmp(staged, r->image) != 0) {
		unlink(path);
		snprintf(path, sizeof(path), "%s/rootfs", dir);
		umount2(path, MNT_DETACH);
		if (rm_tree(dir, err) < 0 || cr_mkdir_p(dir, 0700, err) < 0)
			goto out;
		snprintf(path, sizeof(path), "%s/lower", dir);
		if (ar_store_checkout(st, r->image, path, err) < 0)
			goto out;
	}
	if (ar_store_get_config(st, r->image, &config, err) < 0)
		goto out;
	da_container_id(j->app, j->version, id, sizeof(id));
	memset(&spec, 0, sizeof(spec));
	spec.name = id;
	spec.cgroup_parent = p->cgroup_parent;
	spec.rootfs = "rootfs";
	spec.args = r->args;
	spec.n_args = r->n_args;
	spec.replace_entrypoint = 1;
	env = calloc(r->n_env + (j->cfg != NULL ? j->cfg->n_entries : 0) + 1,
		     sizeof(*env));
	if (env == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n_env; i++)
		env[n_env++] = r->env[i];
	/* The config's values come after the release's: the same key is
	 * the config's (bo_imagespec_build keeps the last). */
	for (size_t i = 0; j->cfg != NULL && i < j->cfg->n_entries; i++) {
		const struct cr_appcfg_entry *e = &j->cfg->entries[i];

		if (e->file)
			continue;
		if (asprintf(&env[n_env], "%s=%s", e->key,
			     (const char *)e->value) < 0) {
			cr_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		owned[n_owned++] = n_env++;
	}
	spec.env = env;
	spec.n_env = n_env;
	if (bo_imagespec_build(config, &spec, &json, err) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/config.json", dir);
	if (cr_write_file_atomic(path, json, strlen(json), 0644, err) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/staged", dir);
	rc = cr_write_file_atomic(path, r->image, strlen(r->image), 0644, err);
out:
	for (size_t i = 0; i < n_owned; i++)
		free(env[owned[i]]);
	free(env);
	free(staged);
	free(config);
	free(json);
	ar_store_free(st);
	return rc < 0 ? cr_error_wrap(err, "staging %s %s", j->app, j->version)
		      : 0;
}

/* stdout and stderr of the container: DATA/apps/APP/log (appended; the
 * loop rotates it). */
static int open_log(const struct da_paths *p, const char *app,
		    struct cr_error **err)
{
	char path[PATH_MAX + 8];
	int fd, nul;

	da_app_path(p, app, "log", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return cr_error_errno(err, errno, "%s", path);
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	return 0;
}

/* The image's own /run may be a link out of its root: the path is the
 * host's here, so every step to DA_CONFIG_DIR must be a real folder. */
static int check_config_steps(const char *dir, struct cr_error **err)
{
	static const char *const steps[] = { "run", "run/korhal",
					     DA_CONFIG_DIR };
	char path[PATH_MAX + 128];
	struct stat sb;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(path, sizeof(path), "%.4000s/rootfs/%s", dir,
			 steps[i]);
		if (lstat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
			return cr_error_set(err, ENOTDIR,
					    "/%s in the image is not a "
					    "folder: no place for the config's "
					    "files", steps[i]);
	}
	return 0;
}

/* The config's files, in DA_CONFIG_DIR of the container's root: the
 * folder is made anew, so a key the config dropped is gone. */
static int write_config_files(const char *dir, const struct cr_appcfg *cfg,
			      struct cr_error **err)
{
	char path[PATH_MAX + 128];

	if (check_config_steps(dir, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%.4000s/rootfs/" DA_CONFIG_DIR, dir);
	if (rm_tree(path, err) < 0)
		return -1;
	if (cfg == NULL)
		return 0;
	if (cr_mkdir_p(path, 0755, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_entries; i++) {
		const struct cr_appcfg_entry *e = &cfg->entries[i];

		if (!e->file)
			continue;
		/* Keys are variable names (cr_appcfg_key_ok): no '/'. */
		snprintf(path, sizeof(path), "%.4000s/rootfs/" DA_CONFIG_DIR
			 "/%s", dir, e->key);
		if (cr_write_file_atomic(path, e->value, e->len, 0644, err) < 0)
			return -1;
	}
	return 0;
}

/* A reload: the config's files rewritten in the running container's root
 * (each replaced by a rename, so the app reads the old file or the new one,
 * never half; a key the config dropped is removed), then the release's
 * signal to the app.  The root must be the one the container runs on: the
 * overlay still mounted (or the copy made without overlayfs). */
static int sync_config_files(const char *dir, const struct cr_appcfg *cfg,
			     struct cr_error **err)
{
	char path[PATH_MAX + 128], copied[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(path, sizeof(path), "%.4000s/rootfs", dir);
	snprintf(copied, sizeof(copied), "%.4000s/rootfs.copied", dir);
	if (!is_mountpoint(path) && access(copied, F_OK) < 0)
		return cr_error_set(err, ENOENT,
				    "%s is not mounted: not the root the app "
				    "runs on",
				    path);
	if (check_config_steps(dir, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "%.4000s/rootfs/" DA_CONFIG_DIR, dir);
	if (cr_mkdir_p(path, 0755, err) < 0)
		return -1;
	for (size_t i = 0; cfg != NULL && i < cfg->n_entries; i++) {
		const struct cr_appcfg_entry *e = &cfg->entries[i];

		if (!e->file)
			continue;
		snprintf(path, sizeof(path), "%.4000s/rootfs/" DA_CONFIG_DIR
			 "/%s", dir, e->key);
		if (cr_write_file_atomic(path, e->value, e->len, 0644, err) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%.4000s/rootfs/" DA_CONFIG_DIR, dir);
	d = opendir(path);
	if (d == NULL)
		return cr_error_errno(err, errno, "%s", path);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char one[PATH_MAX + 512];
		int keep = 0;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		for (size_t i = 0; cfg != NULL && i < cfg->n_entries; i++)
			if (cfg->entries[i].file &&
			    strcmp(cfg->entries[i].key, de->d_name) == 0)
				keep = 1;
		if (keep)
			continue;
		snprintf(one, sizeof(one), "%s/%s", path, de->d_name);
		rc = rm_tree(one, err);
	}
	closedir(d);
	return rc;
}

static int job_reload(const struct da_paths *p, const struct da_job *j,
		      struct cr_error **err)
{
	char dir[PATH_MAX];
	uint64_t start;
	pid_t pid;

	if (!da_container_pid(p, j->app, j->version, &pid, &start))
		return cr_error_set(err, ESRCH, "%s %s does not run", j->app,
				    j->version);
	da_app_dir(p, j->app, j->version, dir, sizeof(dir));
	if (sync_config_files(dir, j->cfg, err) < 0)
		return cr_error_wrap(err, "reloading %s %s", j->app, j->version);
	/* The container's first process: one in its own pid namespace gets
	 * only the signals it catches, so an app that does not reload is
	 * left as it was (its health window says so). */
	if (kill(pid, j->signal) < 0)
		return cr_error_errno(err, errno, "signalling %s %s (pid %d)",
				      j->app, j->version, (int)pid);
	return 0;
}

static int job_run(const struct da_paths *p, const struct da_job *j,
		   struct cr_error **err)
{
	char dir[PATH_MAX], id[2 * DA_NAME_MAX + 2];
	struct bo_opts o = job_bo_opts(p);
	struct ar_store *st = NULL;
	int status = 0, rc;

	/* Never two versions: whatever of the app runs goes first.  Then
	 * this version's own container, which stop_all() does not see when
	 * a cut left its folder without a state (in the middle of a create
	 * or a delete): bolter would refuse the id as taken, for ever. */
	stop_all(p, j->app);
	stop_container(p, j->app, j->version);
	/* The bytes about to run are hashed again now: a file object
	 * changed since the pull (CVE-2020-25860's class) stops here. */
	if (ar_store_open_mode(p->store, AR_STORE_READ, &st, err) < 0)
		return -1;
	rc = ar_store_verify_version(st, j->image, err);
	ar_store_free(st);
	if (rc < 0)
		return cr_error_wrap(err, "%s %s does not verify", j->app,
				     j->version);
	da_app_dir(p, j->app, j->version, dir, sizeof(dir));
	if (make_rootfs(dir, err) < 0 || write_config_files(dir, j->cfg, err) < 0)
		return -1;
	if (cr_mkdir_p(p->bolter, 0700, err) < 0)
		return -1;
	if (open_log(p, j->app, err) < 0)
		return -1;
	da_container_id(j->app, j->version, id, sizeof(id));
	o.bundle = dir;
	o.detach = 1;
	if (bo_run(&o, id, &status, err) < 0)
		return cr_error_wrap(err, "starting %s %s", j->app, j->version);
	return 0;
}

static int job_evict(const struct da_paths *p, const struct da_job *j,
		     struct cr_error **err)
{
	struct ar_store *st = NULL;
	uint64_t freed = 0;
	int rc = 0;

	/* The images go first, the folders last: a kill in between leaves a
	 * folder whose "staged" marker names its image, which the next
	 * start's sweep finds and drops again (a folder gone first would
	 * leave an image nobody remembers). */
	if (j->n_drop > 0) {
		if (ar_store_open(p->store, &st, err) < 0)
			return -1;
		for (size_t i = 0; i < j->n_drop && rc == 0; i++) {
			struct cr_error *e = NULL;

			if (ar_store_remove(st, j->drop[i], &e) < 0 &&
			    e != NULL && e->code != ENOENT) {
				*err = e;
				rc = -1;
			} else {
				cr_error_free(e);
			}
		}
		if (rc == 0)
			rc = ar_store_gc(st, &freed, err);
		ar_store_free(st);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; i < j->n_evict; i++) {
		char dir[PATH_MAX], rootfs[PATH_MAX + 8];

		stop_container(p, j->app, j->evict[i]);
		da_app_dir(p, j->app, j->evict[i], dir, sizeof(dir));
		snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
		umount2(rootfs, MNT_DETACH);
		if (rm_tree(dir, err) < 0)
			return -1;
	}
	return 0;
}

int da_job_run(const struct da_paths *p, const struct da_job *j,
	       struct cr_error **err)
{
	switch (j->kind) {
	case DA_JOB_FETCH:
		return job_fetch(p, j, err);
	case DA_JOB_STAGE:
		return job_stage(p, j, err);
	case DA_JOB_RUN:
		return job_run(p, j, err);
	case DA_JOB_RELOAD:
		return job_reload(p, j, err);
	case DA_JOB_STOP:
		stop_all(p, j->app);
		return 0;
	case DA_JOB_EVICT:
		return job_evict(p, j, err);
	}
	return cr_error_set(err, EINVAL, "unknown job");
}
