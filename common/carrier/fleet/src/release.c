/*
 * Releases (cr/fleet.h): what may run on the fleet's devices, signed by k
 * of n release keys of the vendor's trust root.  The body pins the Archon
 * index and the image config by their digests, so the signatures cover
 * every byte a device will run.  Also the architecture of this build and
 * the health probe's text form.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cp/pbscan.h"
#include "cr/cleanup.h"
#include "cr/fleet.h"
#include "cr/util.h"
#include "record.h"

static const char release_sig_ctx[] = "korhal release v1";
static const char release_magic[] = "korhal-release-v1";

enum {
	/* One arg or env entry; the record's size bounds the total. */
	RELEASE_STR_MAX = 4096,
};

static void signed_release_freep(Carrier__SignedRelease **p)
{
	if (*p != NULL)
		carrier__signed_release__free_unpacked(*p, NULL);
}

static void release_body_freep(Carrier__ReleaseBody **p)
{
	if (*p != NULL)
		carrier__release_body__free_unpacked(*p, NULL);
}

static void release_freep(struct cr_release **p)
{
	*p = cr_release_free(*p);
}

#define CLEANUP_SIGNED_RELEASE __attribute__((cleanup(signed_release_freep)))
#define CLEANUP_RELEASE_BODY __attribute__((cleanup(release_body_freep)))
#define CLEANUP_RELEASE __attribute__((cleanup(release_freep)))

/* Frees what r owns, leaving the struct. */
static void release_clear(struct cr_release *r)
{
	for (size_t i = 0; i < r->n_args && i < CR_FLEET_ARGS_MAX; i++)
		free(r->args[i]);
	for (size_t i = 0; i < r->n_env && i < CR_FLEET_ENV_MAX; i++)
		free(r->env[i]);
	free(r->blob);
	r->n_args = r->n_env = 0;
	r->blob = NULL;
}

struct cr_release *cr_release_free(struct cr_release *r)
{
	if (r == NULL)
		return NULL;
	release_clear(r);
	free(r);
	return NULL;
}

/* ---- architecture -------------------------------------------------------- */

const char *cr_fleet_arch(void)
{
	/* Debian's names, from the compiler's own macros: the binary that
	 * asks is the one that will run the release. */
#if defined(__x86_64__) && defined(__ILP32__)
	return "x32";
#elif defined(__x86_64__)
	return "amd64";
#elif defined(__i386__)
	return "i386";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
	return "armhf"; /* hard-float calling convention */
#elif defined(__arm__)
	return "armel";
#elif defined(__mips__) && defined(__mips64) && defined(__MIPSEL__)
	return "mips64el";
#elif defined(__mips__) && defined(__MIPSEL__)
	return "mipsel";
#elif defined(__mips__)
	return "mips";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64el";
#elif defined(__powerpc64__)
	return "ppc64";
#elif defined(__powerpc__)
	return "powerpc";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__loongarch64)
	return "loong64";
#else
	return "unknown";
#endif
}

int cr_release_check_arch(const struct cr_release *r, const char *arch,
			  struct cr_error **err)
{
	char list[CR_FLEET_ARCH_MAX * CR_FLEET_ARCH_LEN + 8] = "";
	size_t off = 0;

	for (size_t i = 0; i < r->n_arch && i < CR_FLEET_ARCH_MAX; i++) {
		if (strcmp(r->arch[i], arch) == 0)
			return 0;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					i > 0 ? "," : "", r->arch[i]);
		if (off >= sizeof(list))
			break;
	}
	return cr_error_set(err, ENOEXEC,
			    "release %s %s is for %s, this device is %s",
			    r->app, r->version, list, arch);
}

/* ---- reload signal ------------------------------------------------------ */

/* The signals an app may name for re-reading its config: never TERM, INT,
 * KILL or another whose default is to stop the app, so a release cannot
 * turn a config change into a stop. */
static const struct {
	const char *name;
	int sig;
} reload_signals[] = {
	{ "HUP", SIGHUP },
	{ "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

const char *cr_reload_signal_name(int sig)
{
	for (size_t i = 0; i < sizeof(reload_signals) / sizeof(reload_signals[0]);
	     i++)
		if (reload_signals[i].sig == sig)
			return reload_signals[i].name;
	return "";
}

int cr_reload_signal_parse(const char *s, int *sig, struct cr_error **err)
{
	const char *n = s;

	*sig = 0;
	if (s == NULL || *s == '\0' || strcmp(s, "none") == 0)
		return 0;
	if (strncasecmp(n, "SIG", 3) == 0)
		n += 3;
	for (size_t i = 0; i < sizeof(reload_signals) / sizeof(reload_signals[0]);
	     i++)
		if (strcasecmp(n, reload_signals[i].name) == 0) {
			*sig = reload_signals[i].sig;
			return 0;
		}
	return cr_error_set(err, EINVAL,
			    "reload signal '%.32s': want HUP, USR1 or USR2 "
			    "(or none: restart the app)",
			    s);
}

/* ---- health probe -------------------------------------------------------- */

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	char buf[8];
	uint64_t v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (cr_parse_u64(buf, 1, 65535, &v) < 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Printable ASCII (space allowed when spaces is set). */
static int printable(const char *s, int spaces)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < (spaces ? ' ' : '!') ||
		    (unsigned char)*s > '~')
			return 0;
	return 1;
}

int cr_health_parse(const char *s, struct cr_health *h, struct cr_error **err)
{
	memset(h, 0, sizeof(*h));
	if (s == NULL || *s == '\0' || strcmp(s, "none") == 0)
		return 0;
	if (strncmp(s, "http:", 5) == 0) {
		const char *p = s + 5, *slash = strchr(p, '/');
		size_t pl = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (parse_port(p, pl, &h->port) < 0)
			return cr_error_set(err, EINVAL,
					    "health probe '%s': want "
					    "http:PORT/PATH with a port in "
					    "1..65535",
					    s);
		h->kind = CR_HEALTH_HTTP;
		if (slash == NULL)
			slash = "/";
		if (strlen(slash) >= sizeof(h->path) || !printable(slash, 0))
			return cr_error_set(err, EINVAL,
					    "health probe '%s': the path must "
					    "be printable, without spaces, "
					    "under %zu characters",
					    s, sizeof(h->path));
		memcpy(h->path, slash, strlen(slash) + 1);
		return 0;
	}
	if (strncmp(s, "tcp:", 4) == 0) {
		if (parse_port(s + 4, strlen(s + 4), &h->port) < 0)
			return cr_error_set(err, EINVAL,
					    "health probe '%s': want tcp:PORT "
					    "with a port in 1..65535",
					    s);
		h->kind = CR_HEALTH_TCP;
		return 0;
	}
	if (strncmp(s, "exec:", 5) == 0) {
		size_t l = strlen(s + 5);

		if (l == 0 || l >= sizeof(h->cmd) || !printable(s + 5, 1))
			return cr_error_set(err, EINVAL,
					    "health probe '%s': want exec:CMD, "
					    "a printable command under %zu "
					    "characters",
					    s, sizeof(h->cmd));
		h->kind = CR_HEALTH_EXEC;
		memcpy(h->cmd, s + 5, l + 1);
		return 0;
	}
	return cr_error_set(err, EINVAL,
			    "health probe '%s': want http:PORT/PATH, tcp:PORT "
			    "or exec:CMD",
			    s);
}

void cr_health_format(const struct cr_health *h, char *out, size_t cap)
{
	if (cap == 0)
		return;
	switch (h->kind) {
	case CR_HEALTH_HTTP:
		snprintf(out, cap, "http:%u%s", (unsigned)h->port, h->path);
		break;
	case CR_HEALTH_TCP:
		snprintf(out, cap, "tcp:%u", (unsigned)h->port);
		break;
	case CR_HEALTH_EXEC:
		snprintf(out, cap, "exec:%s", h->cmd);
		break;
	default:
		out[0] = '\0';
		break;
	}
}

/* ---- field checks -------------------------------------------------------- */

static int app_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CR_FLEET_APP_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int arch_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CR_FLEET_ARCH_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* Copies a string field of at most cap-1 bytes; -1 when longer. */
static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Fills r from an unpacked body, checking every field. */
static int release_fill(struct cr_release *r, const Carrier__ReleaseBody *b,
			struct cr_error **err)
{
	if (!app_valid(b->app))
		return cr_error_set(err, EBADMSG,
				    "release: app name '%.64s' is not "
				    "[a-z0-9][a-z0-9._-]* under %d characters",
				    b->app, (int)CR_FLEET_APP_MAX);
	memcpy(r->app, b->app, strlen(b->app) + 1);
	if (b->version[0] == '\0' || !printable(b->version, 0) ||
	    copy_str(r->version, sizeof(r->version), b->version) < 0)
		return cr_error_set(err, EBADMSG,
				    "release %s: version must be printable, "
				    "without spaces, 1..%d characters",
				    r->app, (int)CR_FLEET_VERSION_MAX - 1);
	r->counter = b->counter;
	if (b->n_arch == 0 || b->n_arch > CR_FLEET_ARCH_MAX)
		return cr_error_set(err, EBADMSG,
				    "release %s %s names %zu architectures; "
				    "it must name 1..%d",
				    r->app, r->version, b->n_arch,
				    (int)CR_FLEET_ARCH_MAX);
	for (size_t i = 0; i < b->n_arch; i++) {
		if (!arch_valid(b->arch[i]))
			return cr_error_set(err, EBADMSG,
					    "release %s %s: architecture "
					    "'%.32s' is not a Debian "
					    "architecture name",
					    r->app, r->version, b->arch[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(b->arch[i], b->arch[j]) == 0)
				return cr_error_set(err, EBADMSG,
						    "release %s %s names "
						    "architecture %s twice",
						    r->app, r->version,
						    b->arch[i]);
		memcpy(r->arch[i], b->arch[i], strlen(b->arch[i]) + 1);
	}
	r->n_arch = b->n_arch;
	if (strchr(b->image, ':') == NULL || !printable(b->image, 0) ||
	    copy_str(r->image, sizeof(r->image), b->image) < 0)
		return cr_error_set(err, EBADMSG,
				    "release %s %s: image '%.64s' is not "
				    "REPO:TAG",
				    r->app, r->version, b->image);
	if (b->n_origins > CR_FLEET_ORIGINS_MAX)
		return cr_error_set(err, EBADMSG,
				    "release %s %s lists %zu origins, more "
				    "than the limit of %d",
				    r->app, r->version, b->n_origins,
				    (int)CR_FLEET_ORIGINS_MAX);
	for (size_t i = 0; i < b->n_origins; i++)
		if (b->origins[i][0] == '\0' || !printable(b->origins[i], 0) ||
		    copy_str(r->origins[i], CR_FLEET_URL_MAX, b->origins[i]) <
			    0)
			return cr_error_set(err, EBADMSG,
					    "release %s %s: origin %zu is not "
					    "a URL under %d characters",
					    r->app, r->version, i + 1,
					    (int)CR_FLEET_URL_MAX);
	r->n_origins = b->n_origins;
	if (b->index_id.len != 32 || b->config_digest.len != 32)
		return cr_error_set(err, EBADMSG,
				    "release %s %s: the index id and config "
				    "digest must be 32 bytes each",
				    r->app, r->version);
	memcpy(r->index_id, b->index_id.data, 32);
	memcpy(r->config_digest, b->config_digest.data, 32);
	if (b->n_args > CR_FLEET_ARGS_MAX || b->n_env > CR_FLEET_ENV_MAX ||
	    b->n_ports > CR_FLEET_PORTS_MAX)
		return cr_error_set(err, EBADMSG,
				    "release %s %s has %zu args, %zu env and "
				    "%zu ports; the limits are %d, %d and %d",
				    r->app, r->version, b->n_args, b->n_env,
				    b->n_ports, (int)CR_FLEET_ARGS_MAX,
				    (int)CR_FLEET_ENV_MAX,
				    (int)CR_FLEET_PORTS_MAX);
	for (size_t i = 0; i < b->n_args; i++) {
		if (strlen(b->args[i]) >= RELEASE_STR_MAX)
			return cr_error_set(err, EBADMSG,
					    "release %s %s: argument %zu is "
					    "too long",
					    r->app, r->version, i + 1);
		r->args[i] = strdup(b->args[i]);
		if (r->args[i] == NULL)
			return cr_error_errno(err, ENOMEM,
					      "decoding a release");
		r->n_args = i + 1;
	}
	for (size_t i = 0; i < b->n_env; i++) {
		const char *eq = strchr(b->env[i], '=');

		if (eq == NULL || eq == b->env[i] ||
		    strlen(b->env[i]) >= RELEASE_STR_MAX)
			return cr_error_set(err, EBADMSG,
					    "release %s %s: environment entry "
					    "%zu is not K=V",
					    r->app, r->version, i + 1);
		r->env[i] = strdup(b->env[i]);
		if (r->env[i] == NULL)
			return cr_error_errno(err, ENOMEM,
					      "decoding a release");
		r->n_env = i + 1;
	}
	for (size_t i = 0; i < b->n_ports; i++) {
		if (b->ports[i] == 0 || b->ports[i] > 65535)
			return cr_error_set(err, EBADMSG,
					    "release %s %s: port %" PRIu32
					    " is out of range",
					    r->app, r->version, b->ports[i]);
		r->ports[i] = (uint16_t)b->ports[i];
	}
	r->n_ports = b->n_ports;
	memset(&r->health, 0, sizeof(r->health));
	if (b->health != NULL && b->health->kind != CR_HEALTH_NONE) {
		const Carrier__FleetHealth *h = b->health;
		int bad = 0;

		switch (h->kind) {
		case CR_HEALTH_HTTP:
			bad = h->port == 0 || h->port > 65535 ||
			      h->path[0] != '/' || !printable(h->path, 0) ||
			      copy_str(r->health.path, sizeof(r->health.path),
				       h->path) < 0;
			break;
		case CR_HEALTH_TCP:
			bad = h->port == 0 || h->port > 65535;
			break;
		case CR_HEALTH_EXEC:
			bad = h->cmd[0] == '\0' || !printable(h->cmd, 1) ||
			      copy_str(r->health.cmd, sizeof(r->health.cmd),
				       h->cmd) < 0;
			break;
		default:
			bad = 1;
			break;
		}
		if (bad)
			return cr_error_set(err, EBADMSG,
					    "release %s %s: the health probe "
					    "is malformed",
					    r->app, r->version);
		r->health.kind = (enum cr_health_kind)h->kind;
		r->health.port = (uint16_t)h->port;
	}
	r->reload_signal = 0;
	if (b->reload_signal != NULL && b->reload_signal[0] != '\0') {
		/* The wire form is the exact name: one spelling per signal. */
		if (strcmp(cr_reload_signal_name(SIGHUP), b->reload_signal) == 0)
			r->reload_signal = SIGHUP;
		else if (strcmp(cr_reload_signal_name(SIGUSR1),
				b->reload_signal) == 0)
			r->reload_signal = SIGUSR1;
		else if (strcmp(cr_reload_signal_name(SIGUSR2),
				b->reload_signal) == 0)
			r->reload_signal = SIGUSR2;
		else
			return cr_error_set(err, EBADMSG,
					    "release %s %s: reload signal "
					    "'%.16s' is not HUP, USR1 or USR2",
					    r->app, r->version,
					    printable(b->reload_signal, 0) ?
						    b->reload_signal :
						    "?");
	}
	r->created_unix = b->created_unix;
	return 0;
}

/* Refuses too many entries of a repeated field before protobuf-c
 * allocates them. */
static int body_prescan(const uint8_t *p, size_t len, struct cr_error **err)
{
	static const uint32_t fields[] = { 4, 6, 9, 10, 11 };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		long n = cp_pb_count(p, len, fields[i]);

		if (n < 0)
			return cr_error_set(err, EBADMSG,
					    "release body is malformed "
					    "(truncated or corrupt)");
		if (n > CP_FLEET_LIST_MAX)
			return cr_error_set(err, EMSGSIZE,
					    "release body has %ld entries of "
					    "field %" PRIu32
					    ", more than the limit of %d",
					    n, fields[i],
					    (int)CP_FLEET_LIST_MAX);
	}
	return 0;
}

static int release_key_counts(const void *arg, const uint8_t *pk)
{
	return cr_trust_has_key(arg, CR_ROLE_RELEASE, pk);
}

int cr_release_check_trust(const struct cr_release *r,
			   const struct cr_trust *trust, struct cr_error **err)
{
	size_t have;

	if (r->n_signers == 0)
		return cr_error_set(err, EKEYREJECTED, "release: unsigned");
	have = cr_fleet_count_signers(&trust->release,
				      (const uint8_t(*)[CR_PKLEN])r->signer,
				      r->n_signers);
	if (have < trust->release.threshold)
		return cr_error_set(err, EKEYREJECTED,
				    "release: %zu of %" PRIu32
				    " release signatures (release %s %s, "
				    "trust root v%" PRIu64 ")",
				    have, trust->release.threshold, r->app,
				    r->version, trust->version);
	return 0;
}

int cr_release_decode(const uint8_t *buf, size_t len,
		      const struct cr_trust *trust, struct cr_release **out,
		      struct cr_error **err)
{
	CLEANUP_SIGNED_RELEASE Carrier__SignedRelease *s = NULL;
	CLEANUP_RELEASE_BODY Carrier__ReleaseBody *b = NULL;
	CLEANUP_RELEASE struct cr_release *r = NULL;
	char what[CR_FLEET_APP_MAX + CR_FLEET_VERSION_MAX + 16];
	long n;

	if (buf == NULL || len == 0)
		return cr_error_set(err, EBADMSG, "release is empty");
	if (len > CP_FLEET_RECORD_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "release is %zu bytes, more than the limit "
				    "of %d",
				    len, (int)CP_FLEET_RECORD_MAX);
	n = cp_pb_count(buf, len, 2);
	if (n < 0)
		return cr_error_set(err, EBADMSG,
				    "release is not a valid SignedRelease "
				    "(truncated or corrupt)");
	if (n > CR_FLEET_KEYS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "release carries %ld signatures, more than "
				    "the limit of %d",
				    n, (int)CR_FLEET_KEYS_MAX);
	s = carrier__signed_release__unpack(NULL, len, buf);
	if (s == NULL)
		return cr_error_set(err, EBADMSG,
				    "release is not a valid SignedRelease "
				    "(truncated or corrupt)");
	if (s->body.len == 0)
		return cr_error_set(err, EBADMSG, "release has an empty body");
	if (body_prescan(s->body.data, s->body.len, err) < 0)
		return -1;
	b = carrier__release_body__unpack(NULL, s->body.len, s->body.data);
	if (b == NULL)
		return cr_error_set(err, EBADMSG,
				    "release body is malformed (truncated or "
				    "corrupt)");
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a release");
	if (release_fill(r, b, err) < 0)
		return -1;
	crypto_generichash(r->digest, sizeof(r->digest), s->body.data,
			   s->body.len, NULL, 0);
	if (s->n_signatures == 0)
		return cr_error_set(err, EKEYREJECTED, "release: unsigned");
	snprintf(what, sizeof(what), "release %s %s", r->app, r->version);
	if (cr_fleet_collect(release_sig_ctx, s->body.data, s->body.len,
			     s->signatures, s->n_signatures,
			     trust != NULL ? release_key_counts : NULL, trust,
			     r->signer, CR_FLEET_KEYS_MAX, &r->n_signers, what,
			     err) < 0)
		return -1;
	if (trust != NULL && cr_release_check_trust(r, trust, err) < 0)
		return -1;
	r->blob = malloc(len);
	if (r->blob == NULL)
		return cr_error_errno(err, ENOMEM, "decoding a release");
	memcpy(r->blob, buf, len);
	r->blob_len = len;
	*out = CR_TAKE(&r);
	return 0;
}

int cr_release_load(const char *path, const struct cr_trust *trust,
		    struct cr_release **out, struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *bin = NULL;
	size_t len;

	if (cr_fleet_text_load(path, release_magic, "release", &bin, &len,
			       err) < 0)
		return -1;
	if (cr_release_decode(bin, len, trust, out, err) < 0)
		return cr_error_wrap(err, "%s", path);
	return 0;
}

/* ---- building -------------------------------------------------------------- */

int cr_release_build(const struct cr_release *r, const struct cr_keypair *kp,
		     struct cr_release **out, struct cr_error **err)
{
	Carrier__ReleaseBody body = CARRIER__RELEASE_BODY__INIT;
	Carrier__FleetHealth health = CARRIER__FLEET_HEALTH__INIT;
	CR_CLEANUP_FREE struct cr_release *m = NULL;
	CR_CLEANUP_FREE uint8_t *bbuf = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	char *arch[CR_FLEET_ARCH_MAX], *origins[CR_FLEET_ORIGINS_MAX];
	uint32_t ports[CR_FLEET_PORTS_MAX];
	uint8_t sig[1][CR_SIGLEN];
	size_t blen, blob_len;

	if (r->n_arch > CR_FLEET_ARCH_MAX ||
	    r->n_origins > CR_FLEET_ORIGINS_MAX ||
	    r->n_args > CR_FLEET_ARGS_MAX || r->n_env > CR_FLEET_ENV_MAX ||
	    r->n_ports > CR_FLEET_PORTS_MAX)
		return cr_error_set(err, EINVAL,
				    "release: too many architectures, "
				    "origins, args, env entries or ports");
	/* A mutable copy: protobuf-c's fields are not const. */
	m = malloc(sizeof(*m));
	if (m == NULL)
		return cr_error_errno(err, ENOMEM, "building a release");
	memcpy(m, r, sizeof(*m));
#define TERMINATE(a) (a)[sizeof(a) - 1] = '\0'
	TERMINATE(m->app);
	TERMINATE(m->version);
	TERMINATE(m->image);
	TERMINATE(m->health.path);
	TERMINATE(m->health.cmd);
	for (size_t i = 0; i < m->n_arch; i++) {
		TERMINATE(m->arch[i]);
		arch[i] = m->arch[i];
	}
	for (size_t i = 0; i < m->n_origins; i++) {
		TERMINATE(m->origins[i]);
		origins[i] = m->origins[i];
	}
#undef TERMINATE
	for (size_t i = 0; i < m->n_ports; i++)
		ports[i] = m->ports[i];
	body.app = m->app;
	body.version = m->version;
	body.counter = m->counter;
	body.arch = arch;
	body.n_arch = m->n_arch;
	body.image = m->image;
	body.origins = origins;
	body.n_origins = m->n_origins;
	body.index_id.data = m->index_id;
	body.index_id.len = sizeof(m->index_id);
	body.config_digest.data = m->config_digest;
	body.config_digest.len = sizeof(m->config_digest);
	body.args = m->args;
	body.n_args = m->n_args;
	body.env = m->env;
	body.n_env = m->n_env;
	body.ports = ports;
	body.n_ports = m->n_ports;
	if (m->health.kind != CR_HEALTH_NONE) {
		health.kind = (uint32_t)m->health.kind;
		health.port = m->health.port;
		health.path = m->health.path;
		health.cmd = m->health.cmd;
		body.health = &health;
	}
	if (m->reload_signal != 0) {
		if (cr_reload_signal_name(m->reload_signal)[0] == '\0')
			return cr_error_set(err, EINVAL,
					    "release: signal %d cannot be a "
					    "reload signal (HUP, USR1 or USR2)",
					    m->reload_signal);
		body.reload_signal = (char *)cr_reload_signal_name(
			m->reload_signal);
	}
	body.created_unix = m->created_unix != 0 ? m->created_unix :
						   cr_now_unix();
	blen = carrier__release_body__get_packed_size(&body);
	if (blen > CP_FLEET_RECORD_MAX - CR_FLEET_KEYS_MAX * 110)
		return cr_error_set(err, EMSGSIZE,
				    "release would be %zu bytes, more than the "
				    "limit",
				    blen);
	bbuf = malloc(blen + 1);
	if (bbuf == NULL)
		return cr_error_errno(err, ENOMEM, "building a release");
	carrier__release_body__pack(&body, bbuf);
	if (cr_fleet_sign(release_sig_ctx, bbuf, blen, kp, sig[0], err) < 0 ||
	    cr_fleet_pack(CR_FLEET_RELEASE, bbuf, blen,
			  (const uint8_t(*)[CR_PKLEN]) & kp->pk,
			  (const uint8_t(*)[CR_SIGLEN])sig, 1, &blob, &blob_len,
			  err) < 0)
		return -1;
	/* Decoding what was built applies every field check in one place. */
	return cr_release_decode(blob, blob_len, NULL, out, err);
}

int cr_release_sign(struct cr_release *r, const struct cr_keypair *kp,
		    struct cr_error **err)
{
	CLEANUP_SIGNED_RELEASE Carrier__SignedRelease *s = NULL;
	CLEANUP_RELEASE struct cr_release *nr = NULL;
	CR_CLEANUP_FREE uint8_t *blob = NULL;
	uint8_t pk[CR_FLEET_KEYS_MAX][CR_PKLEN],
		sig[CR_FLEET_KEYS_MAX][CR_SIGLEN];
	char ida[CR_ID_STRMAX];
	size_t n = 0, blob_len;

	if (r == NULL || r->blob == NULL)
		return cr_error_set(err, EINVAL, "no release to sign");
	s = carrier__signed_release__unpack(NULL, r->blob_len, r->blob);
	if (s == NULL)
		return cr_error_set(err, EBADMSG, "the release is corrupt");
	if (s->n_signatures >= CR_FLEET_KEYS_MAX)
		return cr_error_set(err, EMSGSIZE,
				    "release %s %s already carries %d "
				    "signatures, the limit",
				    r->app, r->version, (int)CR_FLEET_KEYS_MAX);
	for (size_t i = 0; i < s->n_signatures; i++) {
		const Carrier__FleetSignature *fs = s->signatures[i];

		if (fs->pk.len != CR_PKLEN || fs->sig.len != CR_SIGLEN)
			return cr_error_set(err, EBADMSG,
					    "release signature %zu is "
					    "malformed",
					    i + 1);
		if (memcmp(fs->pk.data, kp->pk, CR_PKLEN) == 0)
			return cr_error_set(err, EEXIST,
					    "release %s %s is already signed "
					    "by %s",
					    r->app, r->version,
					    cr_fleet_key_id(kp->pk, ida));
		memcpy(pk[n], fs->pk.data, CR_PKLEN);
		memcpy(sig[n], fs->sig.data, CR_SIGLEN);
		n++;
	}
	memcpy(pk[n], kp->pk, CR_PKLEN);
	if (cr_fleet_sign(release_sig_ctx, s->body.data, s->body.len, kp,
			  sig[n], err) < 0)
		return -1;
	n++;
	if (cr_fleet_pack(CR_FLEET_RELEASE, s->body.data, s->body.len,
			  (const uint8_t(*)[CR_PKLEN])pk,
			  (const uint8_t(*)[CR_SIGLEN])sig, n, &blob, &blob_len,
			  err) < 0 ||
	    cr_release_decode(blob, blob_len, NULL, &nr, err) < 0)
		return -1;
	release_clear(r);
	*r = *nr;
	/* r owns nr's allocations now. */
	nr->n_args = nr->n_env = 0;
	nr->blob = NULL;
	return 0;
}

int cr_release_save(const struct cr_release *r, const char *path,
		    struct cr_error **err)
{
	char comments[2048], hex[65],
		arch[CR_FLEET_ARCH_MAX * CR_FLEET_ARCH_LEN];
	size_t off = 0;
	int n;

	if (r->blob == NULL)
		return cr_error_set(err, EINVAL, "no release to save");
	arch[0] = '\0';
	for (size_t i = 0; i < r->n_arch; i++)
		off += (size_t)snprintf(arch + off, sizeof(arch) - off, "%s%s",
					i > 0 ? "," : "", r->arch[i]);
	cr_hex(r->index_id, sizeof(r->index_id), hex);
	/* Comments are ignored when loading; they let vendors read the
	 * file. */
	n = snprintf(comments, sizeof(comments),
		     "# Korhal release %s %s, counter %" PRIu64 "\n"
		     "# Do not edit: any change breaks the signatures.\n"
		     "# image %s, index %s\n"
		     "# architectures %s; %zu signature%s\n",
		     r->app, r->version, r->counter, r->image, hex, arch,
		     r->n_signers, r->n_signers == 1 ? "" : "s");
	if (n < 0 || (size_t)n >= sizeof(comments))
		return cr_error_set(err, EOVERFLOW, "formatting the release");
	if (cr_fleet_text_save(path, comments, release_magic, r->blob,
			       r->blob_len, err) < 0)
		return cr_error_wrap(err, "saving the release");
	return 0;
}
