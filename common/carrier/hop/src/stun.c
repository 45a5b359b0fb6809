/* STUN Binding codec: see cr/stun.h. */
#include "cr/stun.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <string.h>

enum {
	STUN_BINDING_REQUEST = 0x0001,
	STUN_BINDING_SUCCESS = 0x0101,
	ATTR_MAPPED_ADDRESS = 0x0001,
	ATTR_CHANGE_REQUEST = 0x0003,
	ATTR_XOR_MAPPED_ADDRESS = 0x0020,
	ATTR_FINGERPRINT = 0x8028,
	FINGERPRINT_XOR = 0x5354554e,
	FAMILY_V4 = 0x01,
	FAMILY_V6 = 0x02,
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* CRC-32 (ISO 3309, reflected, polynomial 0xEDB88320), as FINGERPRINT
 * uses; bit by bit, messages are small. */
static uint32_t stun_crc32(const uint8_t *p, size_t len)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
	}
	return ~c;
}

/* Header checks shared by requests and responses. */
static int stun_header(const uint8_t *buf, size_t len, uint16_t type,
		       const char **why)
{
	if (len < CR_STUN_HDR || len > CR_STUN_MAX) {
		*why = "bad size";
		return -1;
	}
	if (get16(buf) != type) {
		*why = "not a Binding message of the expected class";
		return -1;
	}
	if ((size_t)get16(buf + 2) != len - CR_STUN_HDR ||
	    (get16(buf + 2) & 3) != 0) {
		*why = "length field does not match the datagram";
		return -1;
	}
	return 0;
}

/*
 * Walks the attributes; calls fn for each (value bounded by the message).
 * FINGERPRINT, when present, must be last and must match.  Returns 0 or -1.
 */
static int stun_walk(const uint8_t *buf, size_t len,
		     int (*fn)(void *arg, uint16_t type, const uint8_t *v,
			       size_t vlen),
		     void *arg, const char **why)
{
	size_t off = CR_STUN_HDR;

	while (off < len) {
		uint16_t type, alen;
		size_t padded;

		if (len - off < 4) {
			*why = "truncated attribute header";
			return -1;
		}
		type = get16(buf + off);
		alen = get16(buf + off + 2);
		padded = ((size_t)alen + 3) & ~(size_t)3;
		if (padded > len - off - 4) {
			*why = "attribute runs past the message";
			return -1;
		}
		if (type == ATTR_FINGERPRINT) {
			if (alen != 4 || off + 8 != len) {
				*why = "FINGERPRINT is not the last attribute";
				return -1;
			}
			if (get32(buf + off + 4) !=
			    (stun_crc32(buf, off) ^ FINGERPRINT_XOR)) {
				*why = "FINGERPRINT does not match";
				return -1;
			}
			return 0;
		}
		if (fn != NULL && fn(arg, type, buf + off + 4, alen) < 0) {
			*why = "malformed attribute";
			return -1;
		}
		off += 4 + padded;
	}
	return 0;
}

int cr_stun_is_request(const uint8_t *buf, size_t len)
{
	return len >= CR_STUN_HDR && len <= CR_STUN_MAX && buf[0] == 0 &&
	       get16(buf) == STUN_BINDING_REQUEST &&
	       (size_t)get16(buf + 2) == len - CR_STUN_HDR;
}

static int req_attr(void *arg, uint16_t type, const uint8_t *v, size_t vlen)
{
	struct cr_stun_req *req = arg;

	if (type == ATTR_CHANGE_REQUEST) {
		if (vlen != 4)
			return -1;
		req->change = get32(v);
	}
	return 0;
}

int cr_stun_parse_request(const uint8_t *buf, size_t len,
			  struct cr_stun_req *req, const char **why)
{
	memset(req, 0, sizeof(*req));
	if (stun_header(buf, len, STUN_BINDING_REQUEST, why) < 0)
		return -1;
	memcpy(req->txid, buf + 4, CR_STUN_TXID);
	req->rfc3489 = get32(buf + 4) != CR_STUN_COOKIE;
	return stun_walk(buf, len, req_attr, req, why);
}

/* Writes an address attribute value; xor with the cookie and txid when
 * xored.  Returns the value length or 0. */
static size_t put_addr(uint8_t *v, const struct cr_addr *a, int xored,
		       const uint8_t *txid)
{
	uint16_t port;

	v[0] = 0;
	if (a->u.sa.sa_family == AF_INET) {
		uint8_t ip[4];

		port = ntohs(a->u.in4.sin_port);
		memcpy(ip, &a->u.in4.sin_addr, 4);
		v[1] = FAMILY_V4;
		if (xored) {
			port ^= CR_STUN_COOKIE >> 16;
			for (int i = 0; i < 4; i++)
				ip[i] ^= txid[i];
		}
		put16(v + 2, port);
		memcpy(v + 4, ip, 4);
		return 8;
	}
	if (a->u.sa.sa_family == AF_INET6) {
		uint8_t ip[16];

		port = ntohs(a->u.in6.sin6_port);
		memcpy(ip, &a->u.in6.sin6_addr, 16);
		v[1] = FAMILY_V6;
		if (xored) {
			port ^= CR_STUN_COOKIE >> 16;
			for (int i = 0; i < 16; i++)
				ip[i] ^= txid[i];
		}
		put16(v + 2, port);
		memcpy(v + 4, ip, 16);
		return 20;
	}
	return 0;
}

static int get_addr(const uint8_t *v, size_t vlen, int xored,
		    const uint8_t *txid, struct cr_addr *a)
{
	uint16_t port;

	if (vlen < 4)
		return -1;
	port = get16(v + 2);
	if (xored)
		port ^= CR_STUN_COOKIE >> 16;
	memset(a, 0, sizeof(*a));
	if (v[1] == FAMILY_V4 && vlen == 8) {
		uint8_t ip[4];

		for (int i = 0; i < 4; i++)
			ip[i] = v[4 + i] ^ (xored ? txid[i] : 0);
		a->u.in4.sin_family = AF_INET;
		a->u.in4.sin_port = htons(port);
		memcpy(&a->u.in4.sin_addr, ip, 4);
		return 0;
	}
	if (v[1] == FAMILY_V6 && vlen == 20) {
		uint8_t ip[16];

		for (int i = 0; i < 16; i++)
			ip[i] = v[4 + i] ^ (xored ? txid[i] : 0);
		a->u.in6.sin6_family = AF_INET6;
		a->u.in6.sin6_port = htons(port);
		memcpy(&a->u.in6.sin6_addr, ip, 16);
		return 0;
	}
	return -1;
}

size_t cr_stun_binding_response(const struct cr_stun_req *req,
				const struct cr_addr *mapped, uint8_t *out,
				size_t cap)
{
	size_t off = CR_STUN_HDR, vlen;

	if (cap < CR_STUN_HDR + 24 + 8)
		return 0;
	put16(out, STUN_BINDING_SUCCESS);
	memcpy(out + 4, req->txid, CR_STUN_TXID);
	vlen = put_addr(out + off + 4, mapped, !req->rfc3489, req->txid);
	if (vlen == 0)
		return 0;
	put16(out + off, req->rfc3489 ? ATTR_MAPPED_ADDRESS :
					ATTR_XOR_MAPPED_ADDRESS);
	put16(out + off + 2, (uint16_t)vlen);
	off += 4 + vlen;
	if (!req->rfc3489) {
		/* The length covers FINGERPRINT when its CRC is computed. */
		put16(out + 2, (uint16_t)(off + 8 - CR_STUN_HDR));
		put16(out + off, ATTR_FINGERPRINT);
		put16(out + off + 2, 4);
		put32(out + off + 4, stun_crc32(out, off) ^ FINGERPRINT_XOR);
		off += 8;
	}
	put16(out + 2, (uint16_t)(off - CR_STUN_HDR));
	return off;
}

size_t cr_stun_binding_request(uint8_t txid[CR_STUN_TXID], uint8_t *out,
			       size_t cap)
{
	if (cap < CR_STUN_HDR + 8)
		return 0;
	put32(txid, CR_STUN_COOKIE);
	randombytes_buf(txid + 4, CR_STUN_TXID - 4);
	put16(out, STUN_BINDING_REQUEST);
	put16(out + 2, 8);
	memcpy(out + 4, txid, CR_STUN_TXID);
	put16(out + 20, ATTR_FINGERPRINT);
	put16(out + 22, 4);
	put32(out + 24, stun_crc32(out, 20) ^ FINGERPRINT_XOR);
	return 28;
}

struct resp_ctx {
	const uint8_t *txid;
	struct cr_addr *mapped;
	int have_xor, have_plain, bad;
	struct cr_addr plain;
};

static int resp_attr(void *arg, uint16_t type, const uint8_t *v, size_t vlen)
{
	struct resp_ctx *rc = arg;

	if (type == ATTR_XOR_MAPPED_ADDRESS) {
		if (get_addr(v, vlen, 1, rc->txid, rc->mapped) < 0)
			return -1;
		rc->have_xor = 1;
	} else if (type == ATTR_MAPPED_ADDRESS) {
		if (get_addr(v, vlen, 0, rc->txid, &rc->plain) < 0)
			return -1;
		rc->have_plain = 1;
	}
	return 0;
}

int cr_stun_parse_response(const uint8_t *buf, size_t len,
			   const uint8_t txid[CR_STUN_TXID],
			   struct cr_addr *mapped, const char **why)
{
	struct resp_ctx rc = { .txid = txid, .mapped = mapped };

	if (stun_header(buf, len, STUN_BINDING_SUCCESS, why) < 0)
		return -1;
	if (memcmp(buf + 4, txid, CR_STUN_TXID) != 0) {
		*why = "transaction id is not ours";
		return -1;
	}
	if (stun_walk(buf, len, resp_attr, &rc, why) < 0)
		return -1;
	if (rc.have_xor)
		return 0;
	if (rc.have_plain) {
		*mapped = rc.plain;
		return 0;
	}
	*why = "no mapped address in the response";
	return -1;
}
