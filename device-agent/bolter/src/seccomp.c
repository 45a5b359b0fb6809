/* Seccomp via libseccomp: see bo/seccomp.h. */
#include "bo/seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bo_seccomp {
	scmp_filter_ctx ctx;
	int notify; /* a rule or the default is SCMP_ACT_NOTIFY */
};

static const struct {
	const char *name;
	uint32_t action; /* errno/trace value added later */
} actions[] = {
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0) },
	{ "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0) },
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG },
	{ "SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY },
};

static const struct {
	const char *name;
	enum scmp_compare op;
} operators[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE },	      { "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE },	      { "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE },	      { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const char *const archs[] = {
	"SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",  "SCMP_ARCH_X32",
	"SCMP_ARCH_ARM",     "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
	"SCMP_ARCH_MIPS64",  "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
	"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
	"SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
	"SCMP_ARCH_S390X",   "SCMP_ARCH_RISCV64",
};

static int bad(struct cr_error **err, const char *path, const char *what,
	       const char *value)
{
	return cr_error_set(err, EINVAL, "config.json: %s: %s%s%s%s", path,
			    what, value ? " '" : "", value ? value : "",
			    value ? "'" : "");
}

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Resolves an action name; errno_ret is the errnoRet field (or -1). */
static int parse_action(const char *name, int64_t errno_ret, const char *path,
			uint32_t *out, struct cr_error **err)
{
	if (name == NULL)
		return bad(err, path, "missing", NULL);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(name, actions[i].name) != 0)
			continue;
		*out = actions[i].action;
		if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
			*out = SCMP_ACT_ERRNO(
				(uint16_t)(errno_ret >= 0 ? errno_ret : EPERM));
		else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
			*out = SCMP_ACT_TRACE(
				(uint16_t)(errno_ret >= 0 ? errno_ret : EPERM));
		return 0;
	}
	return bad(err, path, "unknown action", name);
}

static int get_errno_ret(json_object *o, const char *path, int64_t *out,
			 struct cr_error **err)
{
	json_object *v;

	*out = -1;
	if (!json_object_object_get_ex(o, "errnoRet", &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > 4095)
		return bad(err, path, "errnoRet must be an integer in 0..4095",
			   NULL);
	*out = json_object_get_int64(v);
	return 0;
}

/* 0, or the libseccomp error of a rule not added.  A rule's conditions
 * are ANDed, and libseccomp refuses two on the same argument (EINVAL);
 * profiles written for runc (the runtime-tools generator's `personality`,
 * three values of argument 0) mean "any of these", so then every
 * condition becomes a rule of its own, as runc and crun do. */
static int add_conditions(scmp_filter_ctx ctx, uint32_t action, int nr,
			  const struct scmp_arg_cmp *cmps, unsigned n_cmps)
{
	unsigned per_arg[6] = { 0 };
	int split = 0, rc;

	for (unsigned i = 0; i < n_cmps; i++)
		if (++per_arg[cmps[i].arg] > 1)
			split = 1;
	if (!split) {
		rc = seccomp_rule_add_array(ctx, action, nr, n_cmps, cmps);
		/* Same as the default action, or a duplicate: nothing to do. */
		return rc == -EACCES || rc == -EEXIST ? 0 : rc;
	}
	for (unsigned i = 0; i < n_cmps; i++) {
		rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[i]);
		if (rc < 0 && rc != -EACCES && rc != -EEXIST)
			return rc;
	}
	return 0;
}

static int add_rule(struct bo_seccomp *sc, json_object *rule, size_t idx,
		    struct cr_error **err)
{
	char path[96];
	json_object *names, *args;
	uint32_t action;
	int64_t eret;
	struct scmp_arg_cmp cmps[6];
	unsigned n_cmps = 0;

	snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu]", idx);
	if (!json_object_is_type(rule, json_type_object))
		return bad(err, path, "must be an object", NULL);
	if (get_errno_ret(rule, path, &eret, err) < 0)
		return -1;
	snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu].action", idx);
	if (parse_action(str_field(rule, "action"), eret, path, &action, err) <
	    0)
		return -1;
	if (action == SCMP_ACT_NOTIFY)
		sc->notify = 1;
	if (json_object_object_get_ex(rule, "args", &args) && args != NULL) {
		if (!json_object_is_type(args, json_type_array) ||
		    json_object_array_length(args) > 6) {
			snprintf(path, sizeof(path),
				 "linux.seccomp.syscalls[%zu].args", idx);
			return bad(err, path, "must be an array of at most 6",
				   NULL);
		}
		for (size_t a = 0; a < json_object_array_length(args); a++) {
			json_object *arg = json_object_array_get_idx(args, a), *v;
			const char *op;
			int found = 0;

			snprintf(path, sizeof(path),
				 "linux.seccomp.syscalls[%zu].args[%zu]", idx, a);
			if (arg == NULL ||
			    !json_object_is_type(arg, json_type_object))
				return bad(err, path, "must be an object", NULL);
			memset(&cmps[n_cmps], 0, sizeof(cmps[0]));
			if (!json_object_object_get_ex(arg, "index", &v) ||
			    !json_object_is_type(v, json_type_int) ||
			    json_object_get_int64(v) < 0 ||
			    json_object_get_int64(v) > 5)
				return bad(err, path, "index must be 0..5", NULL);
			cmps[n_cmps].arg = (unsigned)json_object_get_int64(v);
			if (!json_object_object_get_ex(arg, "value", &v) ||
			    !json_object_is_type(v, json_type_int))
				return bad(err, path, "value must be an integer",
					   NULL);
			cmps[n_cmps].datum_a = json_object_get_uint64(v);
			if (json_object_object_get_ex(arg, "valueTwo", &v) &&
			    v != NULL) {
				if (!json_object_is_type(v, json_type_int))
					return bad(err, path,
						   "valueTwo must be an integer",
						   NULL);
				cmps[n_cmps].datum_b = json_object_get_uint64(v);
			}
			op = str_field(arg, "op");
			for (size_t k = 0;
			     op != NULL &&
			     k < sizeof(operators) / sizeof(operators[0]);
			     k++)
				if (strcmp(op, operators[k].name) == 0) {
					cmps[n_cmps].op = operators[k].op;
					found = 1;
				}
			if (!found)
				return bad(err, path, "unknown op", op);
			n_cmps++;
		}
	}
	if (!json_object_object_get_ex(rule, "names", &names) || names == NULL ||
	    !json_object_is_type(names, json_type_array)) {
		snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu].names",
			 idx);
		return bad(err, path, "must be an array of syscall names", NULL);
	}
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		json_object *nm = json_object_array_get_idx(names, i);
		int nr, rc;

		if (nm == NULL || !json_object_is_type(nm, json_type_string)) {
			snprintf(path, sizeof(path),
				 "linux.seccomp.syscalls[%zu].names[%zu]", idx, i);
			return bad(err, path, "must be a string", NULL);
		}
		/* Names this kernel or libseccomp does not know are skipped,
		 * as runc and crun do: profiles list syscalls of every arch. */
		nr = seccomp_syscall_resolve_name(json_object_get_string(nm));
		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = add_conditions(sc->ctx, action, nr, cmps, n_cmps);
		if (rc < 0) {
			snprintf(path, sizeof(path),
				 "linux.seccomp.syscalls[%zu]", idx);
			return cr_error_set(err, -rc,
					    "config.json: %s: cannot add rule "
					    "for '%s': %s",
					    path, json_object_get_string(nm),
					    strerror(-rc));
		}
	}
	return 0;
}

struct bo_seccomp *bo_seccomp_compile(json_object *obj, struct cr_error **err)
{
	struct bo_seccomp *sc;
	json_object *v;
	uint32_t def;
	int64_t eret;

	if (get_errno_ret(obj, "linux.seccomp.defaultErrnoRet", &eret, err) < 0)
		return NULL;
	if (json_object_object_get_ex(obj, "defaultErrnoRet", &v) && v != NULL &&
	    json_object_is_type(v, json_type_int))
		eret = json_object_get_int64(v);
	if (parse_action(str_field(obj, "defaultAction"), eret,
			 "linux.seccomp.defaultAction", &def, err) < 0)
		return NULL;
	if (def == SCMP_ACT_NOTIFY) {
		/* The kernel refuses it: the listener itself would block. */
		bad(err, "linux.seccomp.defaultAction", "cannot be",
		    "SCMP_ACT_NOTIFY");
		return NULL;
	}
	if (json_object_object_get_ex(obj, "listenerPath", &v) && v != NULL &&
	    (!json_object_is_type(v, json_type_string) ||
	     json_object_get_string(v)[0] == '\0')) {
		bad(err, "linux.seccomp.listenerPath", "must be a path", NULL);
		return NULL;
	}
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return NULL;
	sc->ctx = seccomp_init(def);
	if (sc->ctx == NULL) {
		cr_error_set(err, EINVAL, "seccomp_init failed");
		return bo_seccomp_free(sc);
	}
	if (json_object_object_get_ex(obj, "architectures", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			bad(err, "linux.seccomp.architectures", "must be an array",
			    NULL);
			return bo_seccomp_free(sc);
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *a = json_object_array_get_idx(v, i);
			const char *name = a != NULL ? json_object_get_string(a)
						     : NULL;
			char low[32];
			uint32_t arch;
			size_t k;
			int rc;

			if (name == NULL || !json_object_is_type(a, json_type_string) ||
			    strncmp(name, "SCMP_ARCH_", 10) != 0 ||
			    strlen(name + 10) >= sizeof(low)) {
				bad(err, "linux.seccomp.architectures",
				    "unknown architecture", name);
				return bo_seccomp_free(sc);
			}
			for (k = 0; name[10 + k] != '\0'; k++)
				low[k] = (char)tolower((unsigned char)name[10 + k]);
			low[k] = '\0';
			arch = seccomp_arch_resolve_name(low);
			if (arch == 0) {
				bad(err, "linux.seccomp.architectures",
				    "unknown architecture", name);
				return bo_seccomp_free(sc);
			}
			rc = seccomp_arch_add(sc->ctx, arch);
			if (rc < 0 && rc != -EEXIST) {
				bad(err, "linux.seccomp.architectures",
				    "cannot add architecture", name);
				return bo_seccomp_free(sc);
			}
		}
	}
	if (json_object_object_get_ex(obj, "flags", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			bad(err, "linux.seccomp.flags", "must be an array", NULL);
			return bo_seccomp_free(sc);
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *f = json_object_get_string(
				json_object_array_get_idx(v, i));

			if (f == NULL) {
				bad(err, "linux.seccomp.flags", "bad flag", NULL);
				return bo_seccomp_free(sc);
			}
			if (strcmp(f, "SECCOMP_FILTER_FLAG_LOG") == 0)
				seccomp_attr_set(sc->ctx, SCMP_FLTATR_CTL_LOG, 1);
			else if (strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
				seccomp_attr_set(sc->ctx, SCMP_FLTATR_CTL_SSB, 1);
			else if (strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
				seccomp_attr_set(sc->ctx, SCMP_FLTATR_CTL_TSYNC, 1);
			else {
				bad(err, "linux.seccomp.flags", "unknown flag", f);
				return bo_seccomp_free(sc);
			}
		}
	}
	/* The process sets no_new_privs itself when the spec asks. */
	seccomp_attr_set(sc->ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (json_object_object_get_ex(obj, "syscalls", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_array)) {
			bad(err, "linux.seccomp.syscalls", "must be an array", NULL);
			return bo_seccomp_free(sc);
		}
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (add_rule(sc, json_object_array_get_idx(v, i), i, err) <
			    0)
				return bo_seccomp_free(sc);
	}
	if (sc->notify && str_field(obj, "listenerPath") == NULL) {
		bad(err, "linux.seccomp.listenerPath",
		    "SCMP_ACT_NOTIFY needs a listener", NULL);
		return bo_seccomp_free(sc);
	}
	return sc;
}

int bo_seccomp_notifies(const struct bo_seccomp *sc)
{
	return sc != NULL && sc->notify;
}

int bo_seccomp_notify_fd(struct bo_seccomp *sc, struct cr_error **err)
{
	int fd = seccomp_notify_fd(sc->ctx);

	if (fd < 0)
		return cr_error_set(err, -fd, "seccomp notify fd: %s",
				    strerror(-fd));
	return fd;
}

int bo_seccomp_load(struct bo_seccomp *sc, struct cr_error **err)
{
	int rc = seccomp_load(sc->ctx);

	if (rc < 0)
		return cr_error_set(err, -rc, "loading the seccomp filter: %s",
				    strerror(-rc));
	return 0;
}

struct bo_seccomp *bo_seccomp_free(struct bo_seccomp *sc)
{
	if (sc == NULL)
		return NULL;
	if (sc->ctx != NULL)
		seccomp_release(sc->ctx);
	free(sc);
	return NULL;
}

void bo_seccomp_features(json_object *o)
{
	json_object *a;

	json_object_object_add(o, "enabled", json_object_new_boolean(1));
	a = json_object_new_array();
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		json_object_array_add(a, json_object_new_string(actions[i].name));
	json_object_object_add(o, "actions", a);
	a = json_object_new_array();
	for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++)
		json_object_array_add(a,
				      json_object_new_string(operators[i].name));
	json_object_object_add(o, "operators", a);
	a = json_object_new_array();
	for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++)
		json_object_array_add(a, json_object_new_string(archs[i]));
	json_object_object_add(o, "archs", a);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("SECCOMP_FILTER_FLAG_TSYNC"));
	json_object_array_add(a, json_object_new_string("SECCOMP_FILTER_FLAG_LOG"));
	json_object_array_add(a,
			      json_object_new_string("SECCOMP_FILTER_FLAG_SPEC_ALLOW"));
	json_object_object_add(o, "supportedFlags", a);
}
