/*
 * Identities and key files: see cr/identity.h.
 *
 * An identity is printed as "<prefix>_<base32(hash || check)>" where the
 * 36 bytes encode to exactly CR_ID_B32LEN base32 characters.  Key files are
 * one line of text so that they survive copy and paste and can be inspected
 * with cat; the secret file holds only the 32-byte seed, from which libsodium
 * rebuilds the full key pair.
 */
#include "cr/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cr/cleanup.h"

enum {
	ID_CHECKLEN = 4,
	ID_RAWLEN = CR_ID_HASHLEN + ID_CHECKLEN,   /* 36 bytes */
	ID_B32LEN = (ID_RAWLEN * 8 + 4) / 5,       /* 58 characters */
	KEYFILE_MAX = 4096,                        /* bounded read */
	SEEDLEN = crypto_sign_SEEDBYTES,
	B64_MAX = 64, /* base64 of 32 bytes is 44 characters plus NUL */
};

static const char secret_magic[] = "korhal-secret";
static const char pub_magic[] = "korhal-pub";
static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

struct id_type_desc {
	const char *name;
	const char *prefix;
};

static const struct id_type_desc id_types[] = {
	[CR_ID_DEVICE] = { "device", "dev" },
	[CR_ID_VENDOR] = { "vendor", "ven" },
	[CR_ID_NODE] = { "node", "node" },
	[CR_ID_OPERATOR] = { "operator", "op" },
};

static int id_type_valid(enum cr_id_type type)
{
	return type >= CR_ID_DEVICE && type <= CR_ID_OPERATOR;
}

const char *cr_id_type_name(enum cr_id_type type)
{
	return id_type_valid(type) ? id_types[type].name : NULL;
}

int cr_id_type_parse(const char *name, enum cr_id_type *type)
{
	for (int t = CR_ID_DEVICE; t <= CR_ID_OPERATOR; t++) {
		if (strcmp(name, id_types[t].name) == 0) {
			*type = (enum cr_id_type)t;
			return 0;
		}
	}
	return -EINVAL;
}

void cr_id_from_pk(enum cr_id_type type, const uint8_t pk[CR_PKLEN],
		   struct cr_id *id)
{
	id->type = type;
	crypto_generichash(id->hash, sizeof(id->hash), pk, CR_PKLEN, NULL, 0);
}

/* check = first 4 bytes of BLAKE2b-256(prefix || hash).  Binding the prefix
 * in means a device id relabelled as a vendor id fails the check too. */
static void id_check(enum cr_id_type type, const uint8_t hash[CR_ID_HASHLEN],
		     uint8_t check[ID_CHECKLEN])
{
	crypto_generichash_state st;
	uint8_t full[32];
	const char *prefix = id_types[type].prefix;

	crypto_generichash_init(&st, NULL, 0, sizeof(full));
	crypto_generichash_update(&st, (const uint8_t *)prefix, strlen(prefix));
	crypto_generichash_update(&st, hash, CR_ID_HASHLEN);
	crypto_generichash_final(&st, full, sizeof(full));
	memcpy(check, full, ID_CHECKLEN);
}

/* RFC 4648 base32, lowercase, no padding.  out gets ceil(len*8/5) chars and
 * a NUL. */
static void b32_encode(const uint8_t *in, size_t len, char *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

char *cr_id_format(const struct cr_id *id, char out[CR_ID_STRMAX])
{
	uint8_t raw[ID_RAWLEN];
	const char *prefix;
	size_t plen;

	if (!id_type_valid(id->type)) {
		snprintf(out, CR_ID_STRMAX, "invalid_identity");
		return out;
	}
	prefix = id_types[id->type].prefix;
	plen = strlen(prefix);
	memcpy(raw, id->hash, CR_ID_HASHLEN);
	id_check(id->type, id->hash, raw + CR_ID_HASHLEN);
	memcpy(out, prefix, plen);
	out[plen] = '_';
	b32_encode(raw, sizeof(raw), out + plen + 1);
	return out;
}

int cr_id_parse(const char *s, struct cr_id *id, struct cr_error **err)
{
	uint8_t raw[ID_RAWLEN];
	uint8_t check[ID_CHECKLEN];
	const char *us = strchr(s, '_');
	const char *body;
	enum cr_id_type type = 0;
	size_t plen, blen, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	plen = us != NULL ? (size_t)(us - s) : strlen(s);
	for (int t = CR_ID_DEVICE; us != NULL && t <= CR_ID_OPERATOR; t++) {
		if (strlen(id_types[t].prefix) == plen &&
		    memcmp(s, id_types[t].prefix, plen) == 0)
			type = (enum cr_id_type)t;
	}
	if (type == 0)
		return cr_error_set(err, EINVAL,
				    "unknown identity prefix '%.*s' (expected "
				    "dev_, ven_, node_ or op_)",
				    (int)(plen > 16 ? 16 : plen), s);
	body = us + 1;
	blen = strlen(body);
	if (blen != ID_B32LEN)
		return cr_error_set(err, EINVAL,
				    "identity has wrong length (%zu characters "
				    "after '%.*s_', expected %d)",
				    blen, (int)plen, s, ID_B32LEN);
	for (size_t i = 0; i < blen; i++) {
		int v = b32_value(body[i]);

		if (v < 0) {
			unsigned char c = (unsigned char)body[i];

			/* Positions count from 1 over the whole string, as a
			 * person reading it would count. */
			if (c >= 0x21 && c < 0x7f)
				return cr_error_set(err, EINVAL,
						    "invalid character '%c' at "
						    "position %zu",
						    c, plen + 2 + i);
			return cr_error_set(err, EINVAL,
					    "invalid character 0x%02x at "
					    "position %zu",
					    c, plen + 2 + i);
		}
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The last character carries 2 bits of padding.  Non-zero padding
	 * would let two spellings decode to the same identity, so a typo in
	 * the last character could slip past the checksum. */
	id_check(type, raw, check);
	if ((acc & ((1u << bits) - 1)) != 0 ||
	    memcmp(check, raw + CR_ID_HASHLEN, ID_CHECKLEN) != 0)
		return cr_error_set(err, EINVAL,
				    "identity checksum mismatch: mistyped?");
	id->type = type;
	memcpy(id->hash, raw, CR_ID_HASHLEN);
	return 0;
}

int cr_id_parse_as(const char *s, enum cr_id_type type, struct cr_id *id,
		   struct cr_error **err)
{
	const char *name = cr_id_type_name(type);

	if (cr_id_parse(s, id, err) < 0)
		return -1;
	if (id->type != type)
		return cr_error_set(err, EINVAL, "%s is not %s %s identity", s,
				    name[0] == 'o' ? "an" : "a", name);
	return 0;
}

int cr_id_equal(const struct cr_id *a, const struct cr_id *b)
{
	return a->type == b->type &&
	       memcmp(a->hash, b->hash, CR_ID_HASHLEN) == 0;
}

int cr_keypair_generate(enum cr_id_type type, struct cr_keypair *kp)
{
	if (!id_type_valid(type))
		return -EINVAL;
	/* Idempotent; makes randombytes safe to use from here on. */
	if (sodium_init() < 0)
		return -EIO;
	kp->type = type;
	if (crypto_sign_keypair(kp->pk, kp->sk) != 0)
		return -EIO;
	return 0;
}

/* Writes all of buf to fd, retrying short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Creates path (never replacing an existing file) with exactly `mode` and
 * writes text into it.  On failure the half-written file is removed.
 */
static int write_new_file(const char *path, mode_t mode, const char *text,
			  struct cr_error **err)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return cr_error_set(err, EEXIST,
					    "'%s' already exists; refusing to "
					    "overwrite a key file",
					    path);
		return cr_error_errno(err, errno, "cannot create '%s'", path);
	}
	/* The umask may have removed bits we want (0644 for .pub); it can
	 * never add any, so set the mode explicitly. */
	r = fchmod(fd, mode) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(path);
		return cr_error_errno(err, -r, "cannot write '%s'", path);
	}
	return 0;
}

int cr_pubkey_format(enum cr_id_type type, const uint8_t pk[CR_PKLEN],
		     char *out, size_t out_cap)
{
	char b64[B64_MAX];
	int n;

	if (!id_type_valid(type))
		return -EINVAL;
	sodium_bin2base64(b64, sizeof(b64), pk, CR_PKLEN,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, out_cap, "%s %s %s", pub_magic,
		     cr_id_type_name(type), b64);
	if (n < 0 || (size_t)n >= out_cap)
		return -ENOSPC;
	return n;
}

int cr_keypair_save(const struct cr_keypair *kp, const char *path,
		    struct cr_error **err)
{
	char b64[B64_MAX];
	char text[128];
	char pub[128];
	char pubpath[4096];
	int r, n;

	if (!id_type_valid(kp->type))
		return cr_error_set(err, EINVAL, "invalid key type %d",
				    (int)kp->type);
	if ((size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", path) >=
	    sizeof(pubpath))
		return cr_error_set(err, ENAMETOOLONG, "path too long: '%s'",
				    path);
	n = cr_pubkey_format(kp->type, kp->pk, pub, sizeof(pub) - 1);
	if (n < 0)
		return cr_error_set(err, EINVAL, "cannot format public key");
	pub[n] = '\n';
	pub[n + 1] = '\0';
	/* The seed is the first half of libsodium's secret key. */
	sodium_bin2base64(b64, sizeof(b64), kp->sk, SEEDLEN,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "%s %s %s\n", secret_magic,
		 cr_id_type_name(kp->type), b64);
	r = write_new_file(path, 0600, text, err);
	if (r == 0) {
		r = write_new_file(pubpath, 0644, pub, err);
		/* Leave no secret behind without its public half: the pair
		 * is written entirely or not at all. */
		if (r < 0)
			unlink(path);
	}
	sodium_memzero(b64, sizeof(b64));
	sodium_memzero(text, sizeof(text));
	return r < 0 ? -1 : 0;
}

/*
 * Reads a whole key file (at most KEYFILE_MAX bytes) into buf, NUL
 * terminated.  Refuses anything but a regular file, so a FIFO or device
 * cannot block or feed us unbounded data.  When check_mode is set, also
 * refuses a file that group or others may access, as ssh does.
 */
static int read_key_file(const char *path, int check_mode,
			 char buf[KEYFILE_MAX + 1], struct cr_error **err)
{
	CR_CLEANUP_CLOSE int fd = -1;
	struct stat st;
	size_t len = 0;

	/* O_NONBLOCK: opening a FIFO must not hang before fstat can
	 * reject it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0)
		return cr_error_errno(err, errno, "cannot stat '%s'", path);
	if (!S_ISREG(st.st_mode))
		return cr_error_set(err, EINVAL, "'%s' is not a regular file",
				    path);
	if (check_mode && (st.st_mode & 077) != 0)
		return cr_error_set(err, EPERM,
				    "permissions %04o for '%s' are too open; "
				    "run chmod 600 %s",
				    (unsigned)(st.st_mode & 07777), path, path);
	for (;;) {
		ssize_t n = read(fd, buf + len, KEYFILE_MAX + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			sodium_memzero(buf, KEYFILE_MAX + 1);
			return cr_error_errno(err, errno, "cannot read '%s'",
					      path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEYFILE_MAX) {
			sodium_memzero(buf, KEYFILE_MAX + 1);
			return cr_error_set(err, EFBIG,
					    "'%s' is larger than %d bytes; not "
					    "a key file",
					    path, KEYFILE_MAX);
		}
	}
	buf[len] = '\0';
	return 0;
}

/*
 * Parses "MAGIC TYPE BASE64" followed by optional whitespace (a trailing
 * newline) and nothing else.  Decodes exactly `outlen` bytes into out.
 * Returns 0, or -EINVAL with a message naming what is wrong.
 */
static int parse_key_line(const char *line, const char *magic,
			  enum cr_id_type *type, uint8_t *out, size_t outlen,
			  struct cr_error **err)
{
	size_t mlen = strlen(magic);
	const char *p, *tname, *b64, *end;
	char name[16];
	size_t tlen, blen, binlen = 0;
	const char *b64end = NULL;

	if (strncmp(line, magic, mlen) != 0 || line[mlen] != ' ')
		return cr_error_set(err, EINVAL,
				    "not a '%s' key (expected \"%s TYPE "
				    "KEY\")",
				    magic, magic);
	tname = line + mlen + 1;
	tlen = strcspn(tname, " \t\r\n");
	if (tlen == 0 || tlen >= sizeof(name) || tname[tlen] != ' ')
		return cr_error_set(err, EINVAL,
				    "malformed %s line (expected \"%s TYPE "
				    "KEY\")",
				    magic, magic);
	memcpy(name, tname, tlen);
	name[tlen] = '\0';
	if (cr_id_type_parse(name, type) < 0)
		return cr_error_set(err, EINVAL,
				    "unknown key type '%s' (expected device, "
				    "vendor, node or operator)",
				    name);
	b64 = tname + tlen + 1;
	blen = strcspn(b64, " \t\r\n");
	for (p = b64 + blen; *p != '\0'; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return cr_error_set(err, EINVAL,
					    "trailing data after the %s key",
					    magic);
	}
	end = b64 + blen;
	if (blen == 0 ||
	    sodium_base642bin(out, outlen, b64, blen, NULL, &binlen, &b64end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != outlen || b64end != end)
		return cr_error_set(err, EINVAL,
				    "%s key is not %zu bytes of base64",
				    magic, outlen);
	return 0;
}

/* Rebuilds a key pair from the text of a secret key file. */
static int keypair_from_text(const char *text, struct cr_keypair *kp,
			     struct cr_error **err)
{
	uint8_t seed[SEEDLEN];
	int r;

	r = parse_key_line(text, secret_magic, &kp->type, seed, sizeof(seed),
			   err);
	if (r == 0 && crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0)
		r = cr_error_set(err, EINVAL, "invalid secret key");
	sodium_memzero(seed, sizeof(seed));
	return r;
}

int cr_keypair_load(const char *path, struct cr_keypair *kp,
		    struct cr_error **err)
{
	char buf[KEYFILE_MAX + 1];
	int r;

	r = read_key_file(path, 1, buf, err);
	if (r == 0) {
		r = keypair_from_text(buf, kp, err);
		if (r < 0)
			cr_error_wrap(err, "'%s'", path);
	}
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int cr_keypair_load_as(const char *path, enum cr_id_type want,
		       struct cr_keypair *kp, struct cr_error **err)
{
	const char *got, *name = cr_id_type_name(want);

	if (cr_keypair_load(path, kp, err) < 0)
		return -1;
	if (kp->type == want)
		return 0;
	got = cr_id_type_name(kp->type);
	cr_keypair_wipe(kp);
	/* The wording carrier-node has always used for a wrong key. */
	return cr_error_set(err, EINVAL, "%s is %s %s key, not %s %s key",
			    path, got[0] == 'o' ? "an" : "a", got,
			    name[0] == 'o' ? "an" : "a", name);
}

int cr_pubkey_parse(const char *line, enum cr_id_type *type,
		    uint8_t pk[CR_PKLEN], struct cr_error **err)
{
	uint8_t tmp[CR_PKLEN];
	uint8_t x[32];
	enum cr_id_type t;

	if (parse_key_line(line, pub_magic, &t, tmp, sizeof(tmp), err) < 0)
		return -1;
	/* A key that has no X25519 form cannot take part in a handshake;
	 * refuse it here rather than later. */
	if (crypto_sign_ed25519_pk_to_curve25519(x, tmp) != 0)
		return cr_error_set(err, EINVAL,
				    "not a valid Ed25519 public key");
	*type = t;
	memcpy(pk, tmp, CR_PKLEN);
	return 0;
}

int cr_pubkey_load(const char *path, enum cr_id_type *type,
		   uint8_t pk[CR_PKLEN], struct cr_error **err)
{
	char buf[KEYFILE_MAX + 1];
	struct cr_keypair kp;
	int r;

	/* A public key is not secret: loading one from a secret file does
	 * not enforce the secret file's permissions. */
	r = read_key_file(path, 0, buf, err);
	if (r < 0)
		return r;
	if (strncmp(buf, secret_magic, strlen(secret_magic)) == 0) {
		r = keypair_from_text(buf, &kp, err);
		if (r == 0) {
			*type = kp.type;
			memcpy(pk, kp.pk, CR_PKLEN);
		}
		cr_keypair_wipe(&kp);
	} else if (strncmp(buf, pub_magic, strlen(pub_magic)) == 0) {
		r = cr_pubkey_parse(buf, type, pk, err);
	} else {
		r = cr_error_set(err, EINVAL,
				 "not a korhal key file (expected a line "
				 "starting with \"%s\" or \"%s\")",
				 pub_magic, secret_magic);
	}
	if (r < 0)
		cr_error_wrap(err, "'%s'", path);
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int cr_keypair_x25519(const struct cr_keypair *kp, uint8_t xsk[32],
		      uint8_t xpk[32])
{
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, kp->pk) != 0)
		return -1;
	if (crypto_sign_ed25519_sk_to_curve25519(xsk, kp->sk) != 0)
		return -1;
	return 0;
}

int cr_pk_x25519(const uint8_t pk[CR_PKLEN], uint8_t xpk[32])
{
	return crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0 ? -1 : 0;
}

/*
 * Arithmetic modulo p = 2^255 - 19 on public values, for
 * cr_pk_x25519_matches(): 16 limbs of 16 bits in 64-bit words, so it runs
 * on 32-bit devices too (no 128-bit products).  Limbs stay non-negative:
 * fe_sub adds 4p first.
 */
enum { FE_LIMBS = 16 };
typedef uint64_t fe[FE_LIMBS];

static void fe_load(fe out, const uint8_t in[32])
{
	for (int i = 0; i < FE_LIMBS; i++)
		out[i] = (uint64_t)in[2 * i] | (uint64_t)in[2 * i + 1] << 8;
}

/* Limbs back under 2^16; the value kept modulo p (2^256 = 38 mod p).
 * The third round absorbs what the second folds back into limb 0. */
static void fe_carry(fe a)
{
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < FE_LIMBS; i++) {
			uint64_t c = a[i] >> 16;

			a[i] &= 0xffff;
			if (i + 1 < FE_LIMBS)
				a[i + 1] += c;
			else
				a[0] += 38 * c;
		}
	}
}

static void fe_mul(fe out, const fe a, const fe b)
{
	uint64_t t[2 * FE_LIMBS - 1] = { 0 };

	for (int i = 0; i < FE_LIMBS; i++)
		for (int j = 0; j < FE_LIMBS; j++)
			t[i + j] += a[i] * b[j];
	for (int i = 0; i < FE_LIMBS - 1; i++)
		t[i] += 38 * t[i + FE_LIMBS];
	memcpy(out, t, sizeof(fe));
	fe_carry(out);
}

/* out = a - b for carried a, b (limbs under 2^16). */
static void fe_sub(fe out, const fe a, const fe b)
{
	/* 4p in the same limbs: 4 * (2^255 - 19) = 2^257 - 76. */
	for (int i = 0; i < FE_LIMBS; i++) {
		uint64_t four_p = i == 0 ? 0x3ffb4 : i == 15 ? 0x1fffc : 0x3fffc;

		out[i] = a[i] + four_p - b[i];
	}
	fe_carry(out);
}

/* The canonical 32-byte encoding (value below p) of a carried element. */
static void fe_store(uint8_t out[32], const fe a)
{
	fe v;

	memcpy(v, a, sizeof(fe));
	fe_carry(v);
	/* v < 2^256 = 2p + 38: subtracting p twice where it fits is enough. */
	for (int round = 0; round < 2; round++) {
		fe m;
		int64_t borrow = 0;

		for (int i = 0; i < FE_LIMBS; i++) {
			int64_t pl = i == 0 ? 0xffed : i == 15 ? 0x7fff : 0xffff;
			int64_t d = (int64_t)v[i] - pl - borrow;

			borrow = d < 0;
			m[i] = (uint64_t)(d + (borrow << 16));
		}
		if (!borrow)
			memcpy(v, m, sizeof(fe));
	}
	for (int i = 0; i < FE_LIMBS; i++) {
		out[2 * i] = (uint8_t)v[i];
		out[2 * i + 1] = (uint8_t)(v[i] >> 8);
	}
}

/* 1 when the 32 bytes encode a value below p (top bit clear). */
static int fe_canonical(const uint8_t in[32])
{
	uint8_t y[32];
	fe v;

	if (in[31] & 0x80)
		return 0;
	fe_load(v, in);
	fe_store(y, v);
	return memcmp(y, in, 32) == 0;
}

int cr_pk_x25519_matches(const uint8_t pk[CR_PKLEN], const uint8_t xpk[32])
{
	static const fe one = { 1 };
	uint8_t ybuf[32], lhs[32], rhs[32];
	fe y, u, num, den, t;

	/* pk is y with the sign of x in its top bit; the sign does not
	 * change the Montgomery u. */
	memcpy(ybuf, pk, 32);
	ybuf[31] &= 0x7f;
	if (!fe_canonical(ybuf) || !fe_canonical(xpk))
		return 0;
	fe_load(y, ybuf);
	fe_load(u, xpk);
	fe_sub(den, one, y);
	fe_store(lhs, den);
	if (sodium_is_zero(lhs, sizeof(lhs)))
		return 0; /* y = 1: the neutral point has no u */
	/* u = (1 + y) / (1 - y)  <=>  u * (1 - y) = 1 + y */
	memcpy(num, y, sizeof(fe));
	num[0] += 1;
	fe_carry(num);
	fe_mul(t, u, den);
	fe_store(lhs, t);
	fe_store(rhs, num);
	return memcmp(lhs, rhs, sizeof(lhs)) == 0;
}

void cr_keypair_wipe(struct cr_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}
