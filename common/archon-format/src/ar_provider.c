/*
 * Provider records (ar/provider.h): signing, and bounded parsing with
 * verification.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ar/provider.h"
#include "cr/util.h"

static const char magic[] = "korhal-provider-v1";

enum { SIG_HEX = 2 * crypto_sign_BYTES };

/* The signed part: "magic INDEX PK PORT EXPIRES". */
static int body(const struct ar_provider *p, char *out, size_t cap)
{
	char ih[AR_ID_HEX], ph[2 * CR_PKLEN + 1];

	ar_id_hex(&p->index, ih);
	cr_hex(p->pk, CR_PKLEN, ph);
	return snprintf(out, cap, "%s %s %s %u %" PRIu64, magic, ih, ph,
			(unsigned)p->port, p->expires);
}

int ar_provider_sign(const struct ar_provider *p, const struct cr_keypair *kp,
		     char out[AR_PROVIDER_LINE_MAX])
{
	uint8_t sig[crypto_sign_BYTES];
	int n;

	if (kp->type != CR_ID_DEVICE || memcmp(kp->pk, p->pk, CR_PKLEN) != 0)
		return -1;
	n = body(p, out, AR_PROVIDER_LINE_MAX);
	if (n < 0 || n + 2 + SIG_HEX >= AR_PROVIDER_LINE_MAX)
		return -1;
	crypto_sign_detached(sig, NULL, (const uint8_t *)out, (size_t)n, kp->sk);
	out[n++] = ' ';
	cr_hex(sig, sizeof(sig), out + n);
	n += SIG_HEX;
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

int ar_provider_parse(const char *line, size_t len, uint64_t now,
		      struct ar_provider *p, struct cr_error **err)
{
	char buf[AR_PROVIDER_LINE_MAX], again[AR_PROVIDER_LINE_MAX];
	char *f[6], *save = NULL;
	uint8_t sig[crypto_sign_BYTES];
	uint64_t port;
	size_t nf = 0, blen;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len == 0 || len >= sizeof(buf) || memchr(line, '\0', len) != NULL)
		return cr_error_set(err, EINVAL, "provider record: bad length");
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (char *t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		if (nf == 6)
			return cr_error_set(err, EINVAL, "provider record: too many fields");
		f[nf++] = t;
	}
	if (nf != 6 || strcmp(f[0], magic) != 0)
		return cr_error_set(err, EINVAL, "provider record: not %s with 6 fields",
				    magic);
	memset(p, 0, sizeof(*p));
	if (ar_id_parse(f[1], &p->index) < 0 || strlen(f[2]) != 2 * CR_PKLEN ||
	    cr_unhex(f[2], CR_PKLEN, p->pk) < 0 ||
	    cr_parse_u64(f[3], 1, 65535, &port) < 0 ||
	    cr_parse_u64(f[4], 0, UINT64_MAX, &p->expires) < 0 ||
	    strlen(f[5]) != SIG_HEX || cr_unhex(f[5], crypto_sign_BYTES, sig) < 0)
		return cr_error_set(err, EINVAL, "provider record: malformed field");
	p->port = (uint16_t)port;
	/* Canonical: the signed text must be what we would write. */
	blen = (size_t)body(p, again, sizeof(again));
	if (blen + 1 + SIG_HEX != len || memcmp(again, line, blen) != 0)
		return cr_error_set(err, EINVAL, "provider record: not canonical");
	if (crypto_sign_verify_detached(sig, (const uint8_t *)again, blen, p->pk) != 0)
		return cr_error_set(err, EPERM, "provider record: bad signature");
	if (p->expires <= now)
		return cr_error_set(err, ESTALE, "provider record: expired");
	if (p->expires > now + AR_PROVIDER_TTL_MAX)
		return cr_error_set(err, EINVAL, "provider record: expires too far ahead");
	return 0;
}
