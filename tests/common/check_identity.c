/*
 * Identities and key files (common/crypto/src/identity.c): the printed form
 * and its checksum, key files and their permissions, and the X25519
 * derivation.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr/identity.h"

#include "../check_main.h"

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const enum cr_id_type all_types[] = { CR_ID_DEVICE, CR_ID_VENDOR,
					     CR_ID_NODE, CR_ID_OPERATOR };

/* A deterministic key pair, so every run exercises the same identities. */
static void test_keypair(enum cr_id_type type, uint8_t n, struct cr_keypair *kp)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, n, sizeof(seed));
	kp->type = type;
	ck_assert_int_eq(crypto_sign_seed_keypair(kp->pk, kp->sk, seed), 0);
}

/* Parses s and returns the error message (a static copy), or NULL. */
static const char *parse_msg(const char *s, struct cr_id *id)
{
	static char msg[256];
	struct cr_error *err = NULL;
	int r = cr_id_parse(s, id, &err);

	if (r == 0) {
		ck_assert_ptr_null(err);
		return NULL;
	}
	ck_assert_int_lt(r, 0);
	ck_assert_ptr_nonnull(err);
	snprintf(msg, sizeof(msg), "%s", cr_error_msg(err));
	cr_error_free(err);
	return msg;
}

START_TEST(test_type_names)
{
	enum cr_id_type t;

	ck_assert_str_eq(cr_id_type_name(CR_ID_DEVICE), "device");
	ck_assert_str_eq(cr_id_type_name(CR_ID_VENDOR), "vendor");
	ck_assert_str_eq(cr_id_type_name(CR_ID_NODE), "node");
	ck_assert_str_eq(cr_id_type_name(CR_ID_OPERATOR), "operator");
	ck_assert_ptr_null(cr_id_type_name((enum cr_id_type)0));
	ck_assert_ptr_null(cr_id_type_name((enum cr_id_type)5));
	ck_assert_int_eq(cr_id_type_parse("operator", &t), 0);
	ck_assert_int_eq(t, CR_ID_OPERATOR);
	ck_assert_int_eq(cr_id_type_parse("dev", &t), -EINVAL);
	ck_assert_int_eq(cr_id_type_parse("", &t), -EINVAL);
}
END_TEST

START_TEST(test_roundtrip)
{
	static const char *prefixes[] = { "dev_", "ven_", "node_", "op_" };

	for (size_t i = 0; i < 4; i++) {
		for (uint8_t n = 0; n < 20; n++) {
			struct cr_keypair kp;
			struct cr_id id, back;
			char s[CR_ID_STRMAX];

			test_keypair(all_types[i], n, &kp);
			cr_id_from_pk(kp.type, kp.pk, &id);
			cr_id_format(&id, s);
			ck_assert_msg(strncmp(s, prefixes[i],
					      strlen(prefixes[i])) == 0,
				      "%s", s);
			/* 36 bytes are 58 base32 characters, no padding. */
			ck_assert_uint_eq(strlen(s), strlen(prefixes[i]) + 58);
			ck_assert_uint_lt(strlen(s), CR_ID_STRMAX);
			ck_assert_ptr_null(parse_msg(s, &back));
			ck_assert(cr_id_equal(&id, &back));
		}
	}
}
END_TEST

/* The hash is BLAKE2b-256 of the public key, nothing else. */
START_TEST(test_hash_definition)
{
	struct cr_keypair kp;
	struct cr_id id;
	uint8_t h[32];

	test_keypair(CR_ID_DEVICE, 7, &kp);
	cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
	crypto_generichash(h, sizeof(h), kp.pk, sizeof(kp.pk), NULL, 0);
	ck_assert_mem_eq(id.hash, h, 32);
}
END_TEST

/* A known identity, so that a change of encoding cannot pass unnoticed:
 * hash = 32 zero bytes, type device. */
START_TEST(test_known_answer)
{
	struct cr_id id = { .type = CR_ID_DEVICE };
	uint8_t raw[36], full[32];
	crypto_generichash_state st;
	char s[CR_ID_STRMAX], expect[CR_ID_STRMAX];
	size_t o = 4;
	uint32_t acc = 0;
	unsigned bits = 0;

	/* Independent computation of the check and the base32. */
	memset(raw, 0, sizeof(raw));
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)"dev", 3);
	crypto_generichash_update(&st, raw, 32);
	crypto_generichash_final(&st, full, 32);
	memcpy(raw + 32, full, 4);
	memcpy(expect, "dev_", 4);
	for (size_t i = 0; i < 36; i++) {
		acc = acc << 8 | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			expect[o++] = b32[(acc >> bits) & 31];
		}
	}
	expect[o++] = b32[(acc << (5 - bits)) & 31];
	expect[o] = '\0';
	memset(id.hash, 0, sizeof(id.hash));
	cr_id_format(&id, s);
	ck_assert_str_eq(s, expect);
	/* 32 zero bytes encode to 51 'a' then the check. */
	ck_assert(strncmp(s, "dev_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			  4 + 51) == 0);
}
END_TEST

/* Every single-character substitution at every position, in the prefix or
 * in the body, must be refused: by the alphabet or by the checksum. */
START_TEST(test_every_typo_rejected)
{
	static const char extra[] = "ABZ019_-=. ";
	size_t tried = 0;

	for (size_t i = 0; i < 4; i++) {
		struct cr_keypair kp;
		struct cr_id id, out;
		char s[CR_ID_STRMAX], t[CR_ID_STRMAX];

		test_keypair(all_types[i], (uint8_t)(40 + i), &kp);
		cr_id_from_pk(kp.type, kp.pk, &id);
		cr_id_format(&id, s);
		for (size_t pos = 0; s[pos] != '\0'; pos++) {
			char cands[64];

			snprintf(cands, sizeof(cands), "%s%s", b32, extra);
			for (size_t c = 0; cands[c] != '\0'; c++) {
				if (cands[c] == s[pos])
					continue;
				memcpy(t, s, sizeof(t));
				t[pos] = cands[c];
				ck_assert_msg(parse_msg(t, &out) != NULL,
					      "typo accepted: %s", t);
				tried++;
			}
		}
	}
	ck_assert_uint_gt(tried, 4 * 58 * 31);
}
END_TEST

/* Swapping two adjacent different characters is the other common typo. */
START_TEST(test_transpositions_rejected)
{
	for (size_t i = 0; i < 4; i++) {
		struct cr_keypair kp;
		struct cr_id id, out;
		char s[CR_ID_STRMAX], t[CR_ID_STRMAX];

		test_keypair(all_types[i], (uint8_t)(60 + i), &kp);
		cr_id_from_pk(kp.type, kp.pk, &id);
		cr_id_format(&id, s);
		for (size_t pos = 0; s[pos + 1] != '\0'; pos++) {
			if (s[pos] == s[pos + 1])
				continue;
			memcpy(t, s, sizeof(t));
			t[pos] = s[pos + 1];
			t[pos + 1] = s[pos];
			ck_assert_msg(parse_msg(t, &out) != NULL,
				      "transposition accepted: %s", t);
		}
	}
}
END_TEST

START_TEST(test_parse_messages)
{
	struct cr_keypair kp;
	struct cr_id id, out;
	char s[CR_ID_STRMAX], t[CR_ID_STRMAX + 8];
	const char *m;

	test_keypair(CR_ID_DEVICE, 3, &kp);
	cr_id_from_pk(kp.type, kp.pk, &id);
	cr_id_format(&id, s);

	m = parse_msg("x_abc", &out);
	ck_assert_str_eq(m, "unknown identity prefix 'x' (expected dev_, "
			    "ven_, node_ or op_)");
	m = parse_msg("device_abc", &out);
	ck_assert_ptr_nonnull(strstr(m, "unknown identity prefix 'device'"));
	m = parse_msg("nounderscore", &out);
	ck_assert_ptr_nonnull(strstr(m, "unknown identity prefix"));
	m = parse_msg("", &out);
	ck_assert_ptr_nonnull(strstr(m, "unknown identity prefix"));
	m = parse_msg("DEV_abc", &out);
	ck_assert_ptr_nonnull(strstr(m, "unknown identity prefix 'DEV'"));

	/* Too short, too long, empty body. */
	memcpy(t, s, sizeof(s));
	t[strlen(t) - 1] = '\0';
	m = parse_msg(t, &out);
	ck_assert_ptr_nonnull(strstr(m, "identity has wrong length"));
	snprintf(t, sizeof(t), "%sa", s);
	m = parse_msg(t, &out);
	ck_assert_ptr_nonnull(strstr(m, "identity has wrong length"));
	m = parse_msg("dev_", &out);
	ck_assert_ptr_nonnull(strstr(m, "identity has wrong length"));

	/* Uppercase is not the printed form; positions count from 1. */
	memcpy(t, s, sizeof(s));
	t[9] = 'X';
	m = parse_msg(t, &out);
	ck_assert_str_eq(m, "invalid character 'X' at position 10");
	memcpy(t, s, sizeof(s));
	t[4] = '1';
	m = parse_msg(t, &out);
	ck_assert_str_eq(m, "invalid character '1' at position 5");
	memcpy(t, s, sizeof(s));
	t[20] = '\x01';
	m = parse_msg(t, &out);
	ck_assert_str_eq(m, "invalid character 0x01 at position 21");

	/* One changed valid letter. */
	memcpy(t, s, sizeof(s));
	t[30] = t[30] == 'a' ? 'b' : 'a';
	m = parse_msg(t, &out);
	ck_assert_str_eq(m, "identity checksum mismatch: mistyped?");

	/* The same body under another prefix fails the check: the prefix is
	 * bound into it. */
	snprintf(t, sizeof(t), "ven_%s", s + 4);
	m = parse_msg(t, &out);
	ck_assert_str_eq(m, "identity checksum mismatch: mistyped?");

	/* A failed parse leaves id untouched. */
	memset(&out, 0x5a, sizeof(out));
	ck_assert_ptr_nonnull(parse_msg(t, &out));
	ck_assert_uint_eq(out.hash[0], 0x5a);
}
END_TEST

/* The last character carries two padding bits; a spelling with them set
 * would decode to the same bytes and must not be accepted. */
START_TEST(test_padding_bits)
{
	struct cr_keypair kp;
	struct cr_id id, out;
	char s[CR_ID_STRMAX];
	size_t last;
	int v;

	test_keypair(CR_ID_NODE, 9, &kp);
	cr_id_from_pk(kp.type, kp.pk, &id);
	cr_id_format(&id, s);
	last = strlen(s) - 1;
	v = (int)(strchr(b32, s[last]) - b32);
	ck_assert_int_eq(v & 3, 0);
	for (int pad = 1; pad < 4; pad++) {
		s[last] = b32[v | pad];
		ck_assert_str_eq(parse_msg(s, &out),
				 "identity checksum mismatch: mistyped?");
	}
}
END_TEST

START_TEST(test_equal)
{
	struct cr_keypair a, b;
	struct cr_id ia, ib, ia2;

	test_keypair(CR_ID_DEVICE, 1, &a);
	test_keypair(CR_ID_DEVICE, 2, &b);
	cr_id_from_pk(CR_ID_DEVICE, a.pk, &ia);
	cr_id_from_pk(CR_ID_DEVICE, b.pk, &ib);
	cr_id_from_pk(CR_ID_VENDOR, a.pk, &ia2);
	ck_assert(cr_id_equal(&ia, &ia));
	ck_assert(!cr_id_equal(&ia, &ib));
	ck_assert(!cr_id_equal(&ia, &ia2));
}
END_TEST

/* Key files live in a fresh temporary directory per test. */
static char tmpdir[64];

static void tmp_setup(void)
{
	cr_check_tmpdir(tmpdir, "check_identity");
}

static void tmp_teardown(void)
{
	cr_check_tmpdir_remove(tmpdir);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(test_save_load)
{
	struct cr_keypair kp, back;
	struct cr_error *err = NULL;
	char path[128], pub[160];
	struct stat st;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_VENDOR, &kp), 0);
	tmp_path(path, sizeof(path), "vendor.key");
	snprintf(pub, sizeof(pub), "%s.pub", path);
	/* A permissive umask must not loosen the secret file, nor a strict
	 * one tighten the public file. */
	umask(077);
	ck_assert_int_eq(cr_keypair_save(&kp, path, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(pub, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);

	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(cr_keypair_load(path, &back, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(back.type, CR_ID_VENDOR);
	ck_assert_mem_eq(back.pk, kp.pk, CR_PKLEN);
	ck_assert_mem_eq(back.sk, kp.sk, CR_SKLEN);
	cr_keypair_wipe(&back);
	for (size_t i = 0; i < sizeof(back); i++)
		ck_assert_uint_eq(((uint8_t *)&back)[i], 0);
}
END_TEST

/* cr_keypair_load_as: the one wrong-key message of every program. */
START_TEST(test_load_as)
{
	static const struct {
		enum cr_id_type have, want;
		const char *words; /* NULL: accepted */
	} cases[] = {
		{ CR_ID_VENDOR, CR_ID_VENDOR, NULL },
		{ CR_ID_NODE, CR_ID_VENDOR, "is a node key, not a vendor key" },
		{ CR_ID_OPERATOR, CR_ID_VENDOR,
		  "is an operator key, not a vendor key" },
		{ CR_ID_DEVICE, CR_ID_OPERATOR,
		  "is a device key, not an operator key" },
		{ CR_ID_VENDOR, CR_ID_NODE, "is a vendor key, not a node key" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cr_keypair kp, back;
		struct cr_error *err = NULL;
		char path[128], name[32], want[256];

		snprintf(name, sizeof(name), "as%zu.key", i);
		tmp_path(path, sizeof(path), name);
		ck_assert_int_eq(cr_keypair_generate(cases[i].have, &kp), 0);
		ck_assert_int_eq(cr_keypair_save(&kp, path, &err), 0);
		memset(&back, 0xaa, sizeof(back));
		if (cases[i].words == NULL) {
			ck_assert_int_eq(cr_keypair_load_as(path, cases[i].want,
							    &back, &err), 0);
			ck_assert_mem_eq(back.pk, kp.pk, CR_PKLEN);
			continue;
		}
		ck_assert_int_lt(cr_keypair_load_as(path, cases[i].want, &back,
						    &err), 0);
		snprintf(want, sizeof(want), "%s %s", path, cases[i].words);
		ck_assert_str_eq(cr_error_msg(err), want);
		cr_error_free(err);
		/* The refused key's secret is not left behind. */
		for (size_t j = 0; j < sizeof(back.sk); j++)
			ck_assert_uint_eq(back.sk[j], 0);
	}
}
END_TEST

/* cr_id_parse_as: an id of another type is refused by name. */
START_TEST(test_id_parse_as)
{
	struct cr_keypair kp;
	struct cr_id id, got;
	struct cr_error *err = NULL;
	char s[CR_ID_STRMAX], want[256];

	test_keypair(CR_ID_DEVICE, 7, &kp);
	cr_id_from_pk(CR_ID_DEVICE, kp.pk, &id);
	cr_id_format(&id, s);
	ck_assert_int_eq(cr_id_parse_as(s, CR_ID_DEVICE, &got, &err), 0);
	ck_assert_mem_eq(got.hash, id.hash, sizeof(id.hash));
	ck_assert_int_lt(cr_id_parse_as(s, CR_ID_OPERATOR, &got, &err), 0);
	snprintf(want, sizeof(want), "%s is not an operator identity", s);
	ck_assert_str_eq(cr_error_msg(err), want);
	cr_error_free(err);
	err = NULL;
	ck_assert_int_lt(cr_id_parse_as(s, CR_ID_VENDOR, &got, &err), 0);
	snprintf(want, sizeof(want), "%s is not a vendor identity", s);
	ck_assert_str_eq(cr_error_msg(err), want);
	cr_error_free(err);
}
END_TEST

START_TEST(test_file_format)
{
	struct cr_keypair kp;
	struct cr_error *err = NULL;
	char path[128], pub[160], buf[256], b64[64];
	FILE *f;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &kp), 0);
	tmp_path(path, sizeof(path), "dev.key");
	snprintf(pub, sizeof(pub), "%s.pub", path);
	ck_assert_int_eq(cr_keypair_save(&kp, path, &err), 0);

	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	sodium_bin2base64(b64, sizeof(b64), kp.sk, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	ck_assert_int_eq(strncmp(buf, "korhal-secret device ", 21), 0);
	ck_assert_int_eq(strncmp(buf + 21, b64, strlen(b64)), 0);
	ck_assert_str_eq(buf + 21 + strlen(b64), "\n");

	f = fopen(pub, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	sodium_bin2base64(b64, sizeof(b64), kp.pk, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	ck_assert_int_eq(strncmp(buf, "korhal-pub device ", 18), 0);
	ck_assert_int_eq(strncmp(buf + 18, b64, strlen(b64)), 0);
	ck_assert_str_eq(buf + 18 + strlen(b64), "\n");
}
END_TEST

START_TEST(test_refuse_open_permissions)
{
	struct cr_keypair kp;
	struct cr_error *err = NULL;
	char path[128], expect[512];

	ck_assert_int_eq(cr_keypair_generate(CR_ID_NODE, &kp), 0);
	tmp_path(path, sizeof(path), "node.key");
	ck_assert_int_eq(cr_keypair_save(&kp, path, &err), 0);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	ck_assert_ptr_nonnull(err);
	snprintf(expect, sizeof(expect),
		 "permissions 0644 for '%s' are too open; run chmod 600 %s",
		 path, path);
	ck_assert_str_eq(cr_error_msg(err), expect);
	err = cr_error_free(err);

	/* Group-only access is refused too; 0400 is fine. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	err = cr_error_free(err);
	ck_assert_int_eq(chmod(path, 0400), 0);
	ck_assert_int_eq(cr_keypair_load(path, &kp, &err), 0);
}
END_TEST

START_TEST(test_refuse_overwrite)
{
	struct cr_keypair a, b, back;
	struct cr_error *err = NULL;
	char path[128], path2[128], pub2[160];

	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &a), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &b), 0);
	tmp_path(path, sizeof(path), "k");
	ck_assert_int_eq(cr_keypair_save(&a, path, &err), 0);
	ck_assert_int_lt(cr_keypair_save(&b, path, &err), 0);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->code, EEXIST);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "already exists"));
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "refusing to overwrite"));
	err = cr_error_free(err);
	ck_assert_int_eq(cr_keypair_load(path, &back, &err), 0);
	ck_assert_mem_eq(back.pk, a.pk, CR_PKLEN);

	/* A stray FILE.pub fails the save and leaves no secret behind. */
	tmp_path(path2, sizeof(path2), "k2");
	snprintf(pub2, sizeof(pub2), "%s.pub", path2);
	write_file(pub2, "something else\n", 0644);
	ck_assert_int_lt(cr_keypair_save(&b, path2, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "k2.pub"));
	err = cr_error_free(err);
	ck_assert_int_eq(access(path2, F_OK), -1);
}
END_TEST

START_TEST(test_pub_load)
{
	struct cr_keypair kp;
	struct cr_error *err = NULL;
	char path[128], pub[160], line[128];
	uint8_t pk[CR_PKLEN];
	enum cr_id_type type;

	ck_assert_int_eq(cr_keypair_generate(CR_ID_OPERATOR, &kp), 0);
	tmp_path(path, sizeof(path), "op");
	snprintf(pub, sizeof(pub), "%s.pub", path);
	ck_assert_int_eq(cr_keypair_save(&kp, path, &err), 0);

	memset(pk, 0, sizeof(pk));
	ck_assert_int_eq(cr_pubkey_load(pub, &type, pk, &err), 0);
	ck_assert_int_eq(type, CR_ID_OPERATOR);
	ck_assert_mem_eq(pk, kp.pk, CR_PKLEN);

	memset(pk, 0, sizeof(pk));
	ck_assert_int_eq(cr_pubkey_load(path, &type, pk, &err), 0);
	ck_assert_int_eq(type, CR_ID_OPERATOR);
	ck_assert_mem_eq(pk, kp.pk, CR_PKLEN);

	/* Format and parse agree. */
	ck_assert_int_eq(cr_pubkey_format(kp.type, kp.pk, line, sizeof(line)),
			 (int)strlen(line));
	ck_assert_int_eq(cr_pubkey_parse(line, &type, pk, &err), 0);
	ck_assert_int_eq(cr_pubkey_format(kp.type, kp.pk, line, 20), -ENOSPC);
	ck_assert_int_eq(cr_pubkey_format((enum cr_id_type)9, kp.pk, line,
					  sizeof(line)),
			 -EINVAL);
}
END_TEST

START_TEST(test_pub_parse_bad)
{
	static const char *bad[] = {
		"",
		"korhal-pub",
		"korhal-pub device",
		"korhal-pub device ",
		"korhal-pub gadget AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"korhal-secret device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		/* 31 bytes, 33 bytes, bad characters, trailing garbage. */
		"korhal-pub device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
		"korhal-pub device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"korhal-pub device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_=",
		"korhal-pub device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= x",
		"korhal-pub  device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	struct cr_keypair kp;
	char line[128];
	uint8_t pk[CR_PKLEN];
	enum cr_id_type type;
	int n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr_error *err = NULL;

		ck_assert_msg(cr_pubkey_parse(bad[i], &type, pk, &err) < 0,
			      "accepted: %s", bad[i]);
		ck_assert_ptr_nonnull(err);
		cr_error_free(err);
	}
	/* Trailing whitespace (a newline, CRLF) is fine. */
	test_keypair(CR_ID_NODE, 5, &kp);
	n = cr_pubkey_format(kp.type, kp.pk, line, sizeof(line) - 3);
	ck_assert_int_gt(n, 0);
	memcpy(line + n, "\r\n", 3);
	ck_assert_int_eq(cr_pubkey_parse(line, &type, pk, NULL), 0);
	ck_assert_mem_eq(pk, kp.pk, CR_PKLEN);
}
END_TEST

START_TEST(test_load_bad_files)
{
	struct cr_keypair kp;
	struct cr_error *err = NULL;
	char path[128], big[5000];
	uint8_t pk[CR_PKLEN];
	enum cr_id_type type;

	/* Missing file. */
	tmp_path(path, sizeof(path), "missing");
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "cannot open"));
	err = cr_error_free(err);

	/* A directory, and a FIFO that must not block the load. */
	ck_assert_int_lt(cr_keypair_load(tmpdir, &kp, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "not a regular file"));
	err = cr_error_free(err);
	tmp_path(path, sizeof(path), "fifo");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "not a regular file"));
	err = cr_error_free(err);
	ck_assert_int_lt(cr_pubkey_load(path, &type, pk, &err), 0);
	err = cr_error_free(err);

	/* Larger than 4 KiB. */
	tmp_path(path, sizeof(path), "big");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big, 0600);
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "larger than"));
	err = cr_error_free(err);

	/* A public key file is not a secret key file. */
	tmp_path(path, sizeof(path), "pubonly");
	write_file(path,
		   "korhal-pub device AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		   0600);
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), path));
	err = cr_error_free(err);

	/* Garbage, and a secret with a short seed. */
	tmp_path(path, sizeof(path), "garbage");
	write_file(path, "hello\n", 0600);
	ck_assert_int_lt(cr_pubkey_load(path, &type, pk, &err), 0);
	ck_assert_ptr_nonnull(strstr(cr_error_msg(err), "not a korhal key"));
	err = cr_error_free(err);
	tmp_path(path, sizeof(path), "short");
	write_file(path, "korhal-secret device AAAA\n", 0600);
	ck_assert_int_lt(cr_keypair_load(path, &kp, &err), 0);
	err = cr_error_free(err);
}
END_TEST

START_TEST(test_x25519)
{
	struct cr_keypair a, b;
	uint8_t axsk[32], axpk[32], bxsk[32], bxpk[32], xpk[32], base[32];
	uint8_t s1[32], s2[32], zero[32] = { 0 };

	ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &a), 0);
	ck_assert_int_eq(cr_keypair_generate(CR_ID_NODE, &b), 0);
	ck_assert_int_eq(cr_keypair_x25519(&a, axsk, axpk), 0);
	ck_assert_int_eq(cr_keypair_x25519(&b, bxsk, bxpk), 0);
	/* The public form from the public key alone matches. */
	ck_assert_int_eq(cr_pk_x25519(a.pk, xpk), 0);
	ck_assert_mem_eq(xpk, axpk, 32);
	/* The secret scalar's base point multiple is that public key. */
	ck_assert_int_eq(crypto_scalarmult_base(base, axsk), 0);
	ck_assert_mem_eq(base, axpk, 32);
	/* Both sides agree on a DH. */
	ck_assert_int_eq(crypto_scalarmult(s1, axsk, bxpk), 0);
	ck_assert_int_eq(crypto_scalarmult(s2, bxsk, axpk), 0);
	ck_assert_mem_eq(s1, s2, 32);
	ck_assert_mem_ne(s1, zero, 32);
	/* A point of small order has no usable X25519 form. */
	ck_assert_int_eq(cr_pk_x25519(zero, xpk), -1);
}
END_TEST

/* The equation check agrees with libsodium's conversion on random keys
 * and refuses every other key, one flipped bit, non-canonical encodings
 * and the neutral point. */
START_TEST(test_x25519_matches)
{
	uint8_t prev[32] = { 0 }, y[32], u[32];

	for (int i = 0; i < 500; i++) {
		struct cr_keypair kp;
		uint8_t xpk[32], bad[32], neg[CR_PKLEN];
		uint32_t bit = randombytes_uniform(255);

		ck_assert_int_eq(cr_keypair_generate(CR_ID_DEVICE, &kp), 0);
		ck_assert_int_eq(cr_pk_x25519(kp.pk, xpk), 0);
		ck_assert_int_eq(cr_pk_x25519_matches(kp.pk, xpk), 1);
		/* -A has the same u: the sign bit is not part of it. */
		memcpy(neg, kp.pk, CR_PKLEN);
		neg[31] ^= 0x80;
		ck_assert_int_eq(cr_pk_x25519_matches(neg, xpk), 1);
		if (i > 0)
			ck_assert_int_eq(cr_pk_x25519_matches(kp.pk, prev), 0);
		memcpy(bad, xpk, 32);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(cr_pk_x25519_matches(kp.pk, bad), 0);
		memcpy(bad, kp.pk, 32);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(cr_pk_x25519_matches(bad, xpk), 0);
		memcpy(bad, xpk, 32);
		bad[31] |= 0x80;
		ck_assert_int_eq(cr_pk_x25519_matches(kp.pk, bad), 0);
		memcpy(prev, xpk, 32);
	}
	/* Edges of the field: y = 0 gives u = 1, y = -1 gives u = 0. */
	memset(y, 0, sizeof(y));
	memset(u, 0, sizeof(u));
	u[0] = 1;
	ck_assert_int_eq(cr_pk_x25519_matches(y, u), 1);
	memset(y, 0xff, sizeof(y));
	y[0] = 0xec; /* p - 1 */
	y[31] = 0x7f;
	memset(u, 0, sizeof(u));
	ck_assert_int_eq(cr_pk_x25519_matches(y, u), 1);
	/* u = 1 written as p + 1: not canonical. */
	memset(y, 0, sizeof(y));
	memset(u, 0xff, sizeof(u));
	u[0] = 0xee;
	u[31] = 0x7f;
	ck_assert_int_eq(cr_pk_x25519_matches(y, u), 0);
	/* y = 1, the neutral point, has no u. */
	memset(y, 0, sizeof(y));
	y[0] = 1;
	memset(u, 0, sizeof(u));
	ck_assert_int_eq(cr_pk_x25519_matches(y, u), 0);
}
END_TEST

static Suite *identity_suite(void)
{
	Suite *s = suite_create("identity");
	TCase *tc;

	tc = tcase_create("printed");
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_hash_definition);
	tcase_add_test(tc, test_known_answer);
	tcase_add_test(tc, test_every_typo_rejected);
	tcase_add_test(tc, test_transpositions_rejected);
	tcase_add_test(tc, test_parse_messages);
	tcase_add_test(tc, test_padding_bits);
	tcase_add_test(tc, test_equal);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_load_as);
	tcase_add_test(tc, test_id_parse_as);
	tcase_add_test(tc, test_file_format);
	tcase_add_test(tc, test_refuse_open_permissions);
	tcase_add_test(tc, test_refuse_overwrite);
	tcase_add_test(tc, test_pub_load);
	tcase_add_test(tc, test_pub_parse_bad);
	tcase_add_test(tc, test_load_bad_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("x25519");
	tcase_add_test(tc, test_x25519);
	tcase_add_test(tc, test_x25519_matches);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cr_check_main(identity_suite());
}
