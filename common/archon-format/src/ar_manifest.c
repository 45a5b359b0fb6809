/*
 * Archon manifest: encoding, signing and the bounded parser
 * (ar/manifest.h).
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ar/index.h"
#include "ar/manifest.h"
#include "ar/wire.h"

static const uint8_t manifest_magic[8] = { 'A', 'R', 'C', 'H', 'M', 'F', 'T', 0 };

enum { DELTA_REF_BYTES = 2 * AR_ID_LEN + 8, TAG_MAX = 128 };

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int ar_name_valid(const char *name)
{
	const char *colon = strrchr(name, ':');
	size_t n = strlen(name), start = 0, rlen;

	if (colon == NULL || n > AR_NAME_MAX)
		return 0;
	rlen = (size_t)(colon - name);
	if (rlen == 0 || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) > TAG_MAX || colon[1] == '.')
		return 0;
	for (const char *t = colon + 1; *t; t++)
		if (!name_char(*t))
			return 0;
	for (size_t i = 0; i <= rlen; i++) {
		if (i < rlen && name[i] != '/') {
			if (!name_char(name[i]))
				return 0;
			continue;
		}
		size_t clen = i - start;

		if (clen == 0 || (clen == 1 && name[start] == '.') ||
		    (clen == 2 && name[start] == '.' && name[start + 1] == '.'))
			return 0;
		start = i + 1;
	}
	return 1;
}

struct ar_manifest *ar_manifest_free(struct ar_manifest *m)
{
	if (m == NULL)
		return NULL;
	free(m->name);
	free(m->config);
	free(m->deltas);
	free(m);
	return NULL;
}

int ar_manifest_encode(const struct ar_manifest *m,
		       const struct cr_keypair *kp, uint8_t **out,
		       size_t *len, struct cr_error **err)
{
	struct ar_wbuf w = { 0 };
	size_t nlen = strlen(m->name);

	if (!ar_name_valid(m->name))
		return cr_error_set(err, EINVAL,
				    "manifest: invalid name '%s' (want REPO:TAG)",
				    m->name);
	if (m->config_len > AR_CONFIG_MAX)
		return cr_error_set(err, EFBIG, "manifest: config too large");
	ar_w_bytes(&w, manifest_magic, sizeof(manifest_magic));
	ar_w_u32(&w, AR_MANIFEST_VERSION);
	ar_w_u16(&w, (uint16_t)nlen);
	ar_w_bytes(&w, m->name, nlen);
	ar_w_bytes(&w, m->index.b, AR_ID_LEN);
	ar_w_u64(&w, m->index_size);
	ar_w_u64(&w, m->created);
	ar_w_u32(&w, (uint32_t)m->config_len);
	ar_w_bytes(&w, m->config, m->config_len);
	ar_w_u32(&w, (uint32_t)m->ndeltas);
	for (size_t i = 0; i < m->ndeltas; i++) {
		ar_w_bytes(&w, m->deltas[i].from.b, AR_ID_LEN);
		ar_w_bytes(&w, m->deltas[i].to.b, AR_ID_LEN);
		ar_w_u64(&w, m->deltas[i].size);
	}
	ar_w_u8(&w, kp != NULL);
	if (kp != NULL) {
		uint8_t sig[AR_SIG_LEN];

		ar_w_bytes(&w, kp->pk, CR_PKLEN);
		if (!w.failed) {
			crypto_sign_detached(sig, NULL, w.p, w.len, kp->sk);
			ar_w_bytes(&w, sig, sizeof(sig));
		}
	}
	if (w.failed) {
		free(w.p);
		return cr_error_set(err, ENOMEM, "manifest: out of memory");
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

static int bad(struct ar_manifest *m, struct cr_error **err, const char *what)
{
	ar_manifest_free(m);
	return cr_error_set(err, EBADMSG, "manifest: %s", what);
}

int ar_manifest_decode(const uint8_t *buf, size_t len,
		       struct ar_manifest **out, struct cr_error **err)
{
	struct ar_rbuf r = { .p = buf, .len = len };
	struct ar_manifest *m;
	const uint8_t *p;
	uint16_t nlen;
	uint32_t clen, nd;
	uint8_t flag;

	if (len > AR_MANIFEST_MAX_BYTES)
		return cr_error_set(err, EFBIG, "manifest: too large");
	p = ar_r_bytes(&r, sizeof(manifest_magic));
	if (p == NULL || memcmp(p, manifest_magic, sizeof(manifest_magic)))
		return cr_error_set(err, EBADMSG, "manifest: bad magic");
	if (ar_r_u32(&r) != AR_MANIFEST_VERSION)
		return cr_error_set(err, EBADMSG,
				    "manifest: unknown version (this build reads %d)",
				    AR_MANIFEST_VERSION);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return cr_error_set(err, ENOMEM, "manifest: out of memory");
	nlen = ar_r_u16(&r);
	p = ar_r_bytes(&r, nlen);
	if (p == NULL)
		return bad(m, err, "truncated name");
	m->name = malloc((size_t)nlen + 1);
	if (m->name == NULL)
		return bad(m, err, "out of memory");
	memcpy(m->name, p, nlen);
	m->name[nlen] = '\0';
	if (strlen(m->name) != nlen || !ar_name_valid(m->name))
		return bad(m, err, "invalid name");
	p = ar_r_bytes(&r, AR_ID_LEN);
	if (p != NULL)
		memcpy(m->index.b, p, AR_ID_LEN);
	m->index_size = ar_r_u64(&r);
	m->created = ar_r_u64(&r);
	clen = ar_r_u32(&r);
	if (r.short_read)
		return bad(m, err, "truncated header");
	if (clen > AR_CONFIG_MAX || m->index_size > AR_INDEX_MAX_BYTES)
		return bad(m, err, "config or index too large");
	p = ar_r_bytes(&r, clen);
	if (p == NULL)
		return bad(m, err, "truncated config");
	m->config = malloc((size_t)clen + 1);
	if (m->config == NULL)
		return bad(m, err, "out of memory");
	memcpy(m->config, p, clen);
	m->config[clen] = '\0';
	m->config_len = clen;
	if (strlen(m->config) != clen)
		return bad(m, err, "NUL in config");
	nd = ar_r_u32(&r);
	if (r.short_read || nd > (len - r.pos) / DELTA_REF_BYTES)
		return bad(m, err, "delta count past the end");
	if (nd > 0) {
		m->deltas = calloc(nd, sizeof(*m->deltas));
		if (m->deltas == NULL)
			return bad(m, err, "out of memory");
	}
	m->ndeltas = nd;
	for (uint32_t i = 0; i < nd; i++) {
		p = ar_r_bytes(&r, 2 * AR_ID_LEN);
		if (p == NULL)
			return bad(m, err, "truncated delta list");
		memcpy(m->deltas[i].from.b, p, AR_ID_LEN);
		memcpy(m->deltas[i].to.b, p + AR_ID_LEN, AR_ID_LEN);
		m->deltas[i].size = ar_r_u64(&r);
	}
	flag = ar_r_u8(&r);
	if (r.short_read || flag > 1)
		return bad(m, err, "bad signature flag");
	if (flag == 1) {
		size_t signed_len;

		p = ar_r_bytes(&r, CR_PKLEN);
		if (p == NULL)
			return bad(m, err, "truncated publisher key");
		memcpy(m->pk, p, CR_PKLEN);
		signed_len = r.pos;
		p = ar_r_bytes(&r, AR_SIG_LEN);
		if (p == NULL)
			return bad(m, err, "truncated signature");
		if (crypto_sign_verify_detached(p, buf, signed_len, m->pk) != 0)
			return bad(m, err, "signature does not verify");
		m->is_signed = 1;
	}
	if (r.pos != len)
		return bad(m, err, "trailing data");
	*out = m;
	return 0;
}
