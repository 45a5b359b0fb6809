/*
 * A test tool for the agent's apps: trust roots and releases through
 * cr_fleet (carrier trust init / carrier release do the same for vendors),
 * plus what no vendor tool makes on purpose: an unsigned release, and a
 * deployment of a release no threshold of release keys signed (what a
 * stolen rollout key can sign, which carrier deploy refuses to make).
 *
 *   mkrelease trust -o FILE --root KEY [--root KEY]... [--root-threshold K]
 *             --release KEY.pub [--release ...] [--release-threshold K]
 *   mkrelease release -o FILE --app APP --version V --counter N
 *             --arch A[,B] --image REPO:TAG --origin URL --store DIR
 *             [--key KEY]... [--unsigned] [--health SPEC] [--env K=V]...
 *             [--reload-signal HUP|USR1|USR2] [-- ARGS...]
 *   mkrelease deployment -o FILE --trust TRUST --release FILE --key KEY
 *             --tag K=V --seq N
 *       signs a one-wave deployment of RELEASE (checked for nothing but
 *       its own signatures) to devices tagged K=V with KEY, as the rollout
 *       role signs one; the file is carrier's deployment text form.
 *
 * --store: the publisher's Archon store holding the image, which gives
 * the index id and config digest the release pins.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar/store.h"
#include "carrier.pb-c.h"
#include "cr/deploy.h"
#include "cr/fleet.h"
#include "cr/identity.h"
#include "cr/util.h"

static int die(const char *what, struct cr_error *err)
{
	fprintf(stderr, "mkrelease: %s: %s\n", what, cr_error_msg(err));
	cr_error_free(err);
	return 1;
}

static int add_pub(struct cr_fleet_keys *k, const char *path)
{
	enum cr_id_type type;
	struct cr_error *err = NULL;
	char p[4096];

	snprintf(p, sizeof(p), "%s%s", path,
		 strstr(path, ".pub") != NULL ? "" : ".pub");
	if (cr_pubkey_load(p, &type, k->pk[k->n], &err) < 0)
		return die(p, err);
	k->n++;
	return 0;
}

static int cmd_trust(int argc, char **argv)
{
	struct cr_fleet_keys root = { 0 }, rel = { 0 }, roll = { 0 };
	struct cr_keypair kps[CR_FLEET_KEYS_MAX];
	const struct cr_keypair *signers[CR_FLEET_KEYS_MAX];
	struct cr_trust *t = NULL;
	struct cr_error *err = NULL;
	const char *out = NULL;
	size_t ns = 0;

	root.threshold = rel.threshold = roll.threshold = 1;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-o") == 0) {
			out = argv[i + 1];
		} else if (strcmp(argv[i], "--root") == 0) {
			if (cr_keypair_load_as(argv[i + 1], CR_ID_VENDOR, &kps[ns],
					       &err) < 0)
				return die(argv[i + 1], err);
			memcpy(root.pk[root.n++], kps[ns].pk, CR_PKLEN);
			memcpy(roll.pk[roll.n++], kps[ns].pk, CR_PKLEN);
			signers[ns] = &kps[ns];
			ns++;
		} else if (strcmp(argv[i], "--release") == 0) {
			if (add_pub(&rel, argv[i + 1]))
				return 1;
		} else if (strcmp(argv[i], "--root-threshold") == 0) {
			root.threshold = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--release-threshold") == 0) {
			rel.threshold = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		} else {
			fprintf(stderr, "mkrelease: trust: %s?\n", argv[i]);
			return 2;
		}
	}
	if (out == NULL || ns == 0 || rel.n == 0)
		return fprintf(stderr, "mkrelease trust: -o, --root, --release\n"), 2;
	if (cr_trust_build(1, 0, &root, &rel, &roll, signers, ns, &t, &err) < 0 ||
	    cr_trust_save(t, out, &err) < 0)
		return die("trust", err);
	cr_trust_free(t);
	return 0;
}

/* The release with its signatures taken off. */
static int strip(struct cr_release *r, struct cr_error **err)
{
	Carrier__SignedRelease *s =
		carrier__signed_release__unpack(NULL, r->blob_len, r->blob);
	size_t n, had;

	if (s == NULL)
		return cr_error_set(err, EBADMSG, "unpack");
	had = s->n_signatures;
	s->n_signatures = 0;
	n = carrier__signed_release__get_packed_size(s);
	free(r->blob);
	r->blob = malloc(n);
	if (r->blob == NULL)
		return cr_error_set(err, ENOMEM, "oom");
	r->blob_len = carrier__signed_release__pack(s, r->blob);
	s->n_signatures = had; /* freed with the message */
	carrier__signed_release__free_unpacked(s, NULL);
	r->n_signers = 0;
	return 0;
}

static int cmd_release(int argc, char **argv)
{
	struct cr_release r, *out = NULL;
	struct cr_keypair kps[CR_FLEET_KEYS_MAX];
	size_t nk = 0;
	struct cr_error *err = NULL;
	const char *path = NULL, *store = NULL;
	struct ar_store *st = NULL;
	struct ar_manifest *m = NULL;
	int unsig = 0, i;

	memset(&r, 0, sizeof(r));
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--unsigned") == 0) {
			unsig = 1;
			continue;
		}
		i++;
		if (strcmp(a, "-o") == 0) {
			path = v;
		} else if (strcmp(a, "--app") == 0) {
			snprintf(r.app, sizeof(r.app), "%s", v);
		} else if (strcmp(a, "--version") == 0) {
			snprintf(r.version, sizeof(r.version), "%s", v);
		} else if (strcmp(a, "--counter") == 0) {
			r.counter = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--arch") == 0) {
			char buf[256], *s = NULL;

			snprintf(buf, sizeof(buf), "%s", v);
			r.n_arch = 0; /* the last --arch counts */
			for (char *t = strtok_r(buf, ",", &s); t != NULL;
			     t = strtok_r(NULL, ",", &s))
				snprintf(r.arch[r.n_arch++], CR_FLEET_ARCH_LEN, "%s",
					 t);
		} else if (strcmp(a, "--image") == 0) {
			snprintf(r.image, sizeof(r.image), "%s", v);
		} else if (strcmp(a, "--origin") == 0) {
			snprintf(r.origins[r.n_origins++], CR_FLEET_URL_MAX, "%s",
				 v);
		} else if (strcmp(a, "--store") == 0) {
			store = v;
		} else if (strcmp(a, "--key") == 0) {
			if (cr_keypair_load_as(v, CR_ID_VENDOR, &kps[nk++], &err) <
			    0)
				return die(v, err);
		} else if (strcmp(a, "--health") == 0) {
			if (cr_health_parse(v, &r.health, &err) < 0)
				return die("--health", err);
		} else if (strcmp(a, "--env") == 0) {
			r.env[r.n_env++] = (char *)(uintptr_t)v;
		} else if (strcmp(a, "--reload-signal") == 0) {
			if (cr_reload_signal_parse(v, &r.reload_signal, &err) < 0)
				return die("--reload-signal", err);
		} else {
			fprintf(stderr, "mkrelease: release: %s?\n", a);
			return 2;
		}
	}
	for (; i < argc && r.n_args < CR_FLEET_ARGS_MAX; i++)
		r.args[r.n_args++] = argv[i];
	if (path == NULL || store == NULL || nk == 0)
		return fprintf(stderr, "mkrelease release: -o, --store, --key\n"), 2;
	if (ar_store_open_mode(store, AR_STORE_READ, &st, &err) < 0 ||
	    ar_store_get_manifest(st, r.image, &m, &err) < 0)
		return die(r.image, err);
	memcpy(r.index_id, m->index.b, 32);
	crypto_generichash(r.config_digest, 32, (const uint8_t *)m->config,
			   m->config_len, NULL, 0);
	ar_manifest_free(m);
	ar_store_free(st);
	r.created_unix = cr_now_unix();
	if (cr_release_build(&r, &kps[0], &out, &err) < 0)
		return die("release", err);
	for (size_t k = 1; k < nk; k++)
		if (cr_release_sign(out, &kps[k], &err) < 0)
			return die("sign", err);
	if (unsig && strip(out, &err) < 0)
		return die("strip", err);
	if (cr_release_save(out, path, &err) < 0)
		return die(path, err);
	cr_release_free(out);
	return 0;
}

static int cmd_deployment(int argc, char **argv)
{
	static const char ctx[] = "korhal deployment v1";
	Carrier__DeploymentBody b = CARRIER__DEPLOYMENT_BODY__INIT;
	Carrier__SignedFleetRecord sr = CARRIER__SIGNED_FLEET_RECORD__INIT;
	Carrier__FleetSignature fs = CARRIER__FLEET_SIGNATURE__INIT;
	Carrier__FleetSignature *fsp = &fs;
	const char *out = NULL, *trust_path = NULL, *rel_path = NULL;
	const char *key_path = NULL;
	char *tag = NULL, app[CR_FLEET_APP_MAX];
	struct cr_trust *t = NULL;
	struct cr_release *r = NULL;
	struct cr_keypair kp;
	struct cr_error *err = NULL;
	uint32_t waves[1] = { 100 };
	uint8_t vid[32], sig[CR_SIGLEN], *body, *msg, *blob;
	size_t blen, len;
	char *b64;
	FILE *f;

	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-o") == 0)
			out = argv[i + 1];
		else if (strcmp(argv[i], "--trust") == 0)
			trust_path = argv[i + 1];
		else if (strcmp(argv[i], "--release") == 0)
			rel_path = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key_path = argv[i + 1];
		else if (strcmp(argv[i], "--tag") == 0)
			tag = argv[i + 1];
		else if (strcmp(argv[i], "--seq") == 0)
			b.seq = strtoull(argv[i + 1], NULL, 10);
		else {
			fprintf(stderr, "mkrelease: deployment: %s?\n", argv[i]);
			return 2;
		}
	}
	if (out == NULL || trust_path == NULL || rel_path == NULL ||
	    key_path == NULL || tag == NULL || b.seq == 0) {
		fprintf(stderr, "mkrelease: deployment: -o, --trust, --release, "
				"--key, --tag and --seq are needed\n");
		return 2;
	}
	if (cr_trust_load(trust_path, NULL, 0, &t, &err) < 0)
		return die(trust_path, err);
	/* No trust: only the release's own signatures are checked. */
	if (cr_release_load(rel_path, NULL, &r, &err) < 0)
		return die(rel_path, err);
	if (cr_keypair_load_as(key_path, CR_ID_VENDOR, &kp, &err) < 0)
		return die(key_path, err);
	cr_fleet_vendor_id(t, vid);
	snprintf(app, sizeof(app), "%s", r->app);
	b.vendor_id.data = vid;
	b.vendor_id.len = 32;
	b.trust_version = t->version;
	b.trust.data = t->blob;
	b.trust.len = t->blob_len;
	b.app = app;
	b.release.data = r->blob;
	b.release.len = r->blob_len;
	b.tags = &tag;
	b.n_tags = 1;
	b.waves = waves;
	b.n_waves = 1;
	b.health_window_ms = 1000;
	b.issued_unix = cr_now_unix();
	b.expires_unix = b.issued_unix + 3600;
	blen = carrier__deployment_body__get_packed_size(&b);
	body = malloc(blen);
	msg = malloc(sizeof(ctx) + blen);
	if (body == NULL || msg == NULL)
		return 1;
	carrier__deployment_body__pack(&b, body);
	memcpy(msg, ctx, sizeof(ctx)); /* with its NUL */
	memcpy(msg + sizeof(ctx), body, blen);
	crypto_sign_detached(sig, NULL, msg, sizeof(ctx) + blen, kp.sk);
	fs.pk.data = kp.pk;
	fs.pk.len = CR_PKLEN;
	fs.sig.data = sig;
	fs.sig.len = CR_SIGLEN;
	sr.body.data = body;
	sr.body.len = blen;
	sr.signatures = &fsp;
	sr.n_signatures = 1;
	len = carrier__signed_fleet_record__get_packed_size(&sr);
	blob = malloc(len);
	b64 = malloc(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
	if (blob == NULL || b64 == NULL)
		return 1;
	carrier__signed_fleet_record__pack(&sr, blob);
	sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL),
			  blob, len, sodium_base64_VARIANT_ORIGINAL);
	f = fopen(out, "w");
	if (f == NULL || fprintf(f, "korhal-deployment-v1 %s\n", b64) < 0 ||
	    fclose(f) != 0) {
		perror(out);
		return 1;
	}
	free(b64);
	free(blob);
	free(msg);
	free(body);
	cr_release_free(r);
	cr_trust_free(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "deployment") == 0)
		return cmd_deployment(argc, argv);
	if (argc > 1 && strcmp(argv[1], "trust") == 0)
		return cmd_trust(argc, argv);
	if (argc > 1 && strcmp(argv[1], "release") == 0)
		return cmd_release(argc, argv);
	fprintf(stderr, "usage: mkrelease trust|release|deployment ...\n");
	return 2;
}
