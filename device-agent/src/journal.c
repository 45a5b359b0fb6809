/* The app journal: states, retention, and the records in LMDB (da/journal.h). */
#include "da/journal.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[DA_APP_NSTATES] = {
	[DA_APP_IDLE] = "idle",
	[DA_APP_PULLING] = "pulling",
	[DA_APP_VERIFIED] = "verified",
	[DA_APP_STAGED] = "staged",
	[DA_APP_STARTING] = "starting",
	[DA_APP_HEALTH] = "health",
	[DA_APP_COMMITTED] = "committed",
	[DA_APP_ROLLING_BACK] = "rolling_back",
	[DA_APP_ROLLED_BACK] = "rolled_back",
};

const char *da_app_state_name(enum da_app_state s)
{
	return (unsigned)s < DA_APP_NSTATES ? state_names[s] : "unknown";
}

int da_app_state_parse(const char *s)
{
	for (int i = 0; i < DA_APP_NSTATES; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

int da_app_state_terminal(enum da_app_state s)
{
	return s == DA_APP_IDLE || s == DA_APP_COMMITTED ||
	       s == DA_APP_ROLLED_BACK;
}

int da_app_step_ok(enum da_app_state from, enum da_app_state to)
{
	switch (to) {
	case DA_APP_PULLING:
		/* A new switch starts from rest; a restarted agent resumes
		 * one that had not started anything yet. */
		return da_app_state_terminal(from) || from == DA_APP_PULLING ||
		       from == DA_APP_VERIFIED || from == DA_APP_STAGED;
	case DA_APP_VERIFIED:
		return from == DA_APP_PULLING;
	case DA_APP_STAGED:
		return from == DA_APP_VERIFIED;
	case DA_APP_STARTING:
		return from == DA_APP_STAGED;
	case DA_APP_HEALTH:
		return from == DA_APP_STARTING;
	case DA_APP_COMMITTED:
		return from == DA_APP_HEALTH;
	case DA_APP_ROLLING_BACK:
		/* Any step may fail; a rollback may be redone. */
		return !da_app_state_terminal(from);
	case DA_APP_ROLLED_BACK:
		/* Directly when nothing had started (a refused pull). */
		return from == DA_APP_ROLLING_BACK || from == DA_APP_PULLING ||
		       from == DA_APP_VERIFIED || from == DA_APP_STAGED;
	default:
		return 0;
	}
}

enum da_recover da_app_recover(enum da_app_state s)
{
	switch (s) {
	case DA_APP_PULLING:
	case DA_APP_VERIFIED:
	case DA_APP_STAGED:
		/* The old version was not touched: the switch goes on. */
		return DA_RECOVER_RESUME;
	case DA_APP_STARTING:
	case DA_APP_HEALTH:
	case DA_APP_ROLLING_BACK:
		/* The new version may have started, and its health window
		 * was not seen to the end: only the old one is known good. */
		return DA_RECOVER_ROLLBACK;
	default:
		return DA_RECOVER_ENSURE;
	}
}

static int name_chars_ok(const char *s, const char *first, const char *rest)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DA_NAME_MAX || strchr(first, s[0]) == NULL)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (strchr(rest, s[i]) == NULL)
			return 0;
	return 1;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

int da_app_name_ok(const char *s)
{
	return name_chars_ok(s, LOWER, LOWER "._-");
}

int da_version_ok(const char *s)
{
	return name_chars_ok(s, ALNUM, ALNUM "._+-");
}

int da_app_keeps(const struct da_app_rec *r, const char *version)
{
	for (size_t i = 0; i < r->n_kept; i++)
		if (strcmp(r->kept[i], version) == 0)
			return 1;
	return 0;
}

size_t da_app_retain(struct da_app_rec *r, const char *version,
		     const char *image, int committed,
		     char evicted[][DA_NAME_MAX],
		     char evicted_image[][DA_IMAGE_MAX])
{
	char list[DA_KEEP_MAX + 1][DA_NAME_MAX];
	char imgs[DA_KEEP_MAX + 1][DA_IMAGE_MAX];
	size_t n = 0, ne = 0;

	if (committed) {
		snprintf(list[n], DA_NAME_MAX, "%s", version);
		snprintf(imgs[n++], DA_IMAGE_MAX, "%s", image);
	}
	for (size_t i = 0; i < r->n_kept; i++) {
		if (strcmp(r->kept[i], version) == 0)
			continue;
		memcpy(list[n], r->kept[i], DA_NAME_MAX);
		memcpy(imgs[n++], r->kept_image[i], DA_IMAGE_MAX);
	}
	if (!committed) {
		snprintf(list[n], DA_NAME_MAX, "%s", version);
		snprintf(imgs[n++], DA_IMAGE_MAX, "%s", image);
	}
	r->n_kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (r->n_kept < DA_KEEP_MAX) {
			memcpy(r->kept[r->n_kept], list[i], DA_NAME_MAX);
			memcpy(r->kept_image[r->n_kept++], imgs[i],
			       DA_IMAGE_MAX);
			continue;
		}
		memcpy(evicted[ne], list[i], DA_NAME_MAX);
		memcpy(evicted_image[ne++], imgs[i], DA_IMAGE_MAX);
	}
	return ne;
}

/* ---- Records ----------------------------------------------------------- */

static void put_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void put_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

char *da_app_rec_encode(const struct da_app_rec *r)
{
	json_object *o = json_object_new_object(), *kept, *imgs;
	char *s;

	put_str(o, "app", r->app);
	put_str(o, "state", da_app_state_name(r->state));
	put_str(o, "current", r->current);
	put_str(o, "target", r->target);
	put_str(o, "target_image", r->target_image);
	put_u64(o, "target_counter", r->target_counter);
	put_u64(o, "floor", r->floor);
	kept = json_object_new_array();
	imgs = json_object_new_array();
	for (size_t i = 0; i < r->n_kept; i++) {
		json_object_array_add(kept, json_object_new_string(r->kept[i]));
		json_object_array_add(imgs,
				      json_object_new_string(r->kept_image[i]));
	}
	json_object_object_add(o, "kept", kept);
	json_object_object_add(o, "kept_image", imgs);
	put_u64(o, "last_switch_unix", r->last_switch_unix);
	put_u64(o, "window_ms", r->window_ms);
	json_object_object_add(o, "need_ring",
			       json_object_new_boolean(r->need_ring));
	put_str(o, "last_error", r->last_error);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static int get_str(json_object *o, const char *k, char *out, size_t cap)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) >= cap)
		return -1;
	snprintf(out, cap, "%s", json_object_get_string(v));
	return 0;
}

static int get_u64(json_object *o, const char *k, uint64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	*out = (uint64_t)json_object_get_int64(v);
	return 0;
}

int da_app_rec_decode(const char *json, size_t len, struct da_app_rec *r,
		      struct cr_error **err)
{
	json_tokener *tok = json_tokener_new();
	json_object *o, *kept = NULL, *imgs = NULL, *v;
	char state[32];
	int s, bad = 0;

	memset(r, 0, sizeof(*r));
	if (tok == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return cr_error_set(err, EBADMSG, "app record: not a JSON object");
	}
	bad |= get_str(o, "app", r->app, sizeof(r->app));
	bad |= get_str(o, "state", state, sizeof(state));
	bad |= get_str(o, "current", r->current, sizeof(r->current));
	bad |= get_str(o, "target", r->target, sizeof(r->target));
	bad |= get_str(o, "target_image", r->target_image,
		       sizeof(r->target_image));
	bad |= get_u64(o, "target_counter", &r->target_counter);
	bad |= get_u64(o, "floor", &r->floor);
	bad |= get_u64(o, "last_switch_unix", &r->last_switch_unix);
	bad |= get_u64(o, "window_ms", &r->window_ms);
	bad |= get_str(o, "last_error", r->last_error, sizeof(r->last_error));
	if (json_object_object_get_ex(o, "need_ring", &v))
		r->need_ring = json_object_get_boolean(v);
	if (!json_object_object_get_ex(o, "kept", &kept) ||
	    !json_object_object_get_ex(o, "kept_image", &imgs) ||
	    !json_object_is_type(kept, json_type_array) ||
	    !json_object_is_type(imgs, json_type_array) ||
	    json_object_array_length(kept) > DA_KEEP_MAX ||
	    json_object_array_length(kept) != json_object_array_length(imgs))
		bad = -1;
	for (size_t i = 0; bad == 0 && i < json_object_array_length(kept);
	     i++) {
		json_object *a = json_object_array_get_idx(kept, i);
		json_object *b = json_object_array_get_idx(imgs, i);

		if (!json_object_is_type(a, json_type_string) ||
		    !json_object_is_type(b, json_type_string) ||
		    strlen(json_object_get_string(a)) >= DA_NAME_MAX ||
		    strlen(json_object_get_string(b)) >= DA_IMAGE_MAX) {
			bad = -1;
			break;
		}
		snprintf(r->kept[i], DA_NAME_MAX, "%s",
			 json_object_get_string(a));
		snprintf(r->kept_image[i], DA_IMAGE_MAX, "%s",
			 json_object_get_string(b));
		r->n_kept = i + 1;
	}
	json_object_put(o);
	s = bad ? -1 : da_app_state_parse(state);
	if (s < 0)
		return cr_error_set(err, EBADMSG, "app record: malformed");
	r->state = (enum da_app_state)s;
	return 0;
}

/* ---- LMDB -------------------------------------------------------------- */

int da_journal_put(struct cr_kv *kv, const struct da_app_rec *r,
		   struct cr_error **err)
{
	char *s = da_app_rec_encode(r);
	int rc;

	if (s == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	rc = cr_kv_put(kv, "apps", r->app, strlen(r->app), s, strlen(s), err);
	free(s);
	return rc < 0 ? cr_error_wrap(err, "journal of %s", r->app) : 0;
}

int da_journal_get(struct cr_kv *kv, const char *app, struct da_app_rec *r,
		   struct cr_error **err)
{
	char buf[8192];
	size_t len;
	int rc;

	rc = cr_kv_get(kv, "apps", app, strlen(app), buf, sizeof(buf) - 1,
		       &len, err);
	if (rc < 0)
		return rc;
	if (len >= sizeof(buf))
		return cr_error_set(err, EBADMSG, "journal of %s: too long",
				    app);
	buf[len] = '\0';
	return da_app_rec_decode(buf, len, r, err);
}

struct all_ctx {
	struct da_app_rec *v;
	size_t n, cap;
	int oom;
};

static int all_one(void *arg, const void *key, size_t key_len,
		   const void *val, size_t val_len)
{
	struct all_ctx *c = arg;

	(void)key;
	(void)key_len;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		struct da_app_rec *nv = realloc(c->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			c->oom = 1;
			return 1;
		}
		c->v = nv;
		c->cap = ncap;
	}
	/* A record that does not parse is skipped (and logged by nobody:
	 * the agent only writes records it encoded). */
	if (da_app_rec_decode(val, val_len, &c->v[c->n], NULL) == 0)
		c->n++;
	return 0;
}

int da_journal_all(struct cr_kv *kv, struct da_app_rec **out, size_t *n,
		   struct cr_error **err)
{
	struct all_ctx c = { 0 };

	if (cr_kv_foreach(kv, "apps", all_one, &c, err) < 0) {
		free(c.v);
		return -1;
	}
	if (c.oom) {
		free(c.v);
		return cr_error_set(err, ENOMEM, "out of memory");
	}
	*out = c.v;
	*n = c.n;
	return 0;
}

static size_t release_key(char *key, size_t cap, const char *app,
			  const char *version)
{
	int n = snprintf(key, cap, "%s/%s", app, version);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int da_journal_put_release(struct cr_kv *kv, const char *app,
			   const char *version, const void *blob, size_t len,
			   struct cr_error **err)
{
	char key[2 * DA_NAME_MAX + 2];
	size_t kl = release_key(key, sizeof(key), app, version);

	if (kl == 0)
		return cr_error_set(err, EINVAL, "release key too long");
	return cr_kv_put(kv, "releases", key, kl, blob, len, err);
}

int da_journal_get_release(struct cr_kv *kv, const char *app,
			   const char *version, char **blob, size_t *len,
			   struct cr_error **err)
{
	char key[2 * DA_NAME_MAX + 2];
	size_t kl = release_key(key, sizeof(key), app, version), full;
	char *buf, probe[1];
	int rc;

	if (kl == 0)
		return cr_error_set(err, EINVAL, "release key too long");
	rc = cr_kv_get(kv, "releases", key, kl, probe, 0, &full, err);
	if (rc < 0)
		return rc;
	buf = malloc(full + 1);
	if (buf == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	rc = cr_kv_get(kv, "releases", key, kl, buf, full, &full, err);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[full] = '\0';
	*blob = buf;
	*len = full;
	return 0;
}

int da_journal_del_release(struct cr_kv *kv, const char *app,
			   const char *version, struct cr_error **err)
{
	char key[2 * DA_NAME_MAX + 2];
	size_t kl = release_key(key, sizeof(key), app, version);
	int rc;

	if (kl == 0)
		return 0;
	rc = cr_kv_del(kv, "releases", key, kl, err);
	return rc == -ENOENT ? 0 : rc;
}
