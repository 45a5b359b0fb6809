/*
 * Archon's content-defined chunker and chunk ids (see ar/chunk.h).
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "ar/chunk.h"
#include "cr/util.h"

/* 256 random 64-bit words (splitmix64 from the seed "archon"); changing
 * them changes every chunk boundary, so they are part of the format. */
static const uint64_t gear[256] = {
	0xe8578a2810403bafULL, 0x5378483b75dba1e2ULL, 0x869ced80bedb6103ULL,
	0x6442b93166899a36ULL, 0xa006bb0fd5578d9eULL, 0x97920c82137ca9e9ULL,
	0x958ddc7360724672ULL, 0x2d68cdae93ca4f3dULL, 0xe2cabc0722aadd15ULL,
	0x31c311506fba76b4ULL, 0x928f01309a0e8206ULL, 0x38ad461a667f9979ULL,
	0x7acc7c30c5516ea7ULL, 0x622cf16ed35f6dcdULL, 0x91e5a60310388880ULL,
	0x6295245004698c8fULL, 0x567e23aad0c7af8eULL, 0xf1a9ae57690adaecULL,
	0x7ac41eaa8c7c16d8ULL, 0x6a71d5eccccefa98ULL, 0x6bee54f0afed146fULL,
	0xfe58d0e9cbefe30fULL, 0x918ab8575364896cULL, 0x89f1662ec4dd7beeULL,
	0xaad635080ede8b02ULL, 0x5a2f459371bd1253ULL, 0xc49e8160607c1825ULL,
	0x8a17e31352c48895ULL, 0x0a00e388850aa305ULL, 0xf56ed5ede731559aULL,
	0xb77d98efaf8602c4ULL, 0xe502d94c163f3e83ULL, 0x63ac4e5935ad5097ULL,
	0x31972ac47ff71622ULL, 0x401e6d47cab74e36ULL, 0x6fb84ecfcdfe5ca0ULL,
	0x82f8cfd553ba5162ULL, 0xcae09cbcafbe858cULL, 0x568c915c5c6a6c10ULL,
	0xf148dec9d42f6c61ULL, 0xca80a706848c35a2ULL, 0xfc55516676fb1548ULL,
	0x6494850a5329a7b6ULL, 0x776d92c2d511271dULL, 0x952a8efc561a4f5eULL,
	0x7daa7b01bb49e8baULL, 0x19daa07195288843ULL, 0x059b09bff5a413ecULL,
	0x8e8f29a71741258dULL, 0x5f007040a4cd019cULL, 0x379b4bc357fe205dULL,
	0x461b4acc48fb9498ULL, 0x3d4261af3f6c0f57ULL, 0x3cbe601dfc2c9606ULL,
	0xb04b3f40e64b5415ULL, 0xa1ea2ec021540220ULL, 0xbed2510a5cdde3ebULL,
	0x18dc5fae0c73880dULL, 0x89e12690ca7b8fcfULL, 0x84bf7533012eb271ULL,
	0xdabb57018d7bb4e3ULL, 0xa0b9b9693189565dULL, 0xe2e1ff09832ea7c9ULL,
	0x25d02e470a6b7286ULL, 0x95ee269e9f590dc2ULL, 0x2de7d2c6f0196509ULL,
	0x3f7dc817f5f25007ULL, 0xf790991e843e4631ULL, 0xfa1460d18d62b4cfULL,
	0x2ffbf79d07f0370dULL, 0xb423b0e2c3c35157ULL, 0x419a3d01b68412ffULL,
	0x321c713ffaed1194ULL, 0xb8e3967e4729ce72ULL, 0xea1a60446b049a19ULL,
	0x4a77145a4dd42fcdULL, 0x374e2944b4c1cc2bULL, 0x17f7d6790e30c930ULL,
	0xc4895468c0999597ULL, 0x64eff263cdb4d859ULL, 0xd1ed56418f788b3cULL,
	0x7dbfef685c65fa69ULL, 0x98493ff6922adb82ULL, 0x9e2bfc7f80da3ce8ULL,
	0xa1666d84dd70ca86ULL, 0x368f22a4812d3eeeULL, 0x3a8f278cf58fb0c9ULL,
	0xcdd466ff24f200e5ULL, 0xd0f437947215d489ULL, 0xee8ad3aed1b1d916ULL,
	0xcb92cd90c094f3a2ULL, 0x32f58ed93616dbe8ULL, 0x111dc92cbe0391acULL,
	0xec7bf8a8a67b2391ULL, 0x15f3a5d65cf64ed3ULL, 0xdb57644e166e4454ULL,
	0xe5ec2f8ad0ede257ULL, 0x5ccad5d770f788cbULL, 0xa369840f36980818ULL,
	0xeb4841536efc1473ULL, 0x6b98370ab5dc46f2ULL, 0x2764923133f500eeULL,
	0x238cdcb71b5dd79dULL, 0xb1d1a324f0d7b957ULL, 0x3f9c4bba81973f10ULL,
	0x44a0f41d8a86b275ULL, 0x11fab920056c7ea3ULL, 0x1bcd2c4a7922c389ULL,
	0x7aa554aa94d970a2ULL, 0x2dc68e4d06fd4f0fULL, 0x5e421bfcc7fe4c9aULL,
	0x8134f026f4b51784ULL, 0xb6451de4a6bda834ULL, 0x8ee3787905dacd13ULL,
	0x78457e9d0baef28bULL, 0x817b8acf9343e45bULL, 0xe568a4232cdcb9cbULL,
	0x8158536e9b846670ULL, 0xd338a4f21e27a384ULL, 0x8ed2258d16749ac4ULL,
	0x1aae979fb24d353bULL, 0xb768f2e2f65b9940ULL, 0xb71cc72f8cd2fceaULL,
	0x00cbe3a93e1d61faULL, 0x3850f772252023e0ULL, 0x0f7867eb05a1b90aULL,
	0xb3c06782733e1228ULL, 0xc729612a4c7a1cd2ULL, 0xcce8e8c535ea48d6ULL,
	0x5e3141c5672822f2ULL, 0xeb9e6ca098af4ab9ULL, 0x68ff3050ee564329ULL,
	0x574d02ff4f4d818cULL, 0x98847801e9850361ULL, 0x9746c5c794238ac1ULL,
	0x8fa8e8f1894e6643ULL, 0xf0097bf16b56e0ddULL, 0x227f6809724f03c9ULL,
	0x7c4dba0f6d2f5b6cULL, 0xf7629c058f6ba506ULL, 0xbf99227227d5ac80ULL,
	0x3bbd1c078ce08426ULL, 0x145a040b7a4841d0ULL, 0x2fcf8802213a5d91ULL,
	0x0ea8ef1fc6f050f0ULL, 0x09b9898b234f7e5eULL, 0xe911dcac5624a47dULL,
	0x03406c97558a317cULL, 0x018b812a4ef3f183ULL, 0x8a46cb9be1974826ULL,
	0x413c3581aaafa44dULL, 0x0d2a7e71bbf061e4ULL, 0xc8bd585f1b470d8cULL,
	0x5db25f0d8abe35eeULL, 0x969e27f2f03e2835ULL, 0x86cb93f5ba85516dULL,
	0xbc8818a6596b2969ULL, 0x9362d8da03d2a359ULL, 0xb6ad351301059539ULL,
	0xf942b9c661e74ff1ULL, 0xa8304fe8a5c19b86ULL, 0x6a7354ae3712d0b3ULL,
	0xf4b788fb00a72598ULL, 0x10c18b92b8ebe7dcULL, 0x4adc17cf3ebbaa10ULL,
	0x5f98738f0b75b9eaULL, 0x0d2e8bb5e109528bULL, 0x758afe3da78519f8ULL,
	0x5d941927b8d9ac69ULL, 0x5f4414bcce5cb224ULL, 0x4742c13bd3afd12bULL,
	0xa0f6d3af790d691fULL, 0x7b0964b842a24cc8ULL, 0xd211a663758f66b3ULL,
	0xc380c8f8b166d62eULL, 0x0f597c1cc30dcc4eULL, 0x193f3d217428d058ULL,
	0x1cbc0946fb05c00cULL, 0x0d9009ed881c009aULL, 0x14a7c9070ebc876fULL,
	0x705fdbe5f3022abdULL, 0xc4692cb7420a838dULL, 0x21563592bd0f4d5cULL,
	0xb69a5efdaf89f04bULL, 0x5921715d1d49a49bULL, 0x39c74a0f83c79d85ULL,
	0x428dabd64346425dULL, 0xf32c2a370464673eULL, 0xe7e702eb679a91a4ULL,
	0x50d13d3518134325ULL, 0x5d3e88989568aadfULL, 0x3aff50b807838f50ULL,
	0xb1ed56fb5819007fULL, 0x94cc86e91f077a89ULL, 0x556093308614fae1ULL,
	0xd866ba07b6332339ULL, 0x61158a657727e267ULL, 0x01b9f2c58c037bb9ULL,
	0x3c7f455740b10072ULL, 0xbee0e55b8bdfd948ULL, 0x2cfd901e98dbdb12ULL,
	0x08b3551e65b4c13fULL, 0xdcbfa650229749eeULL, 0x2b5d6fb18f6d9f1dULL,
	0xff1d1c006d7ee806ULL, 0x5e2240c7b3e8edc0ULL, 0x467906c42b042926ULL,
	0x5d01de3e37889a6aULL, 0x065c0ffa7eb84e90ULL, 0x73ff6a33b0c84e20ULL,
	0x1b022ef3fc8087adULL, 0xd0c7e68ebbf23e72ULL, 0x2fcb31f8e385d6c4ULL,
	0x814a6b7b143c05faULL, 0x86a826036073b017ULL, 0x51b81e422972b2d6ULL,
	0x4b9b6fd68067bda9ULL, 0x59bb65f0c70cc1ddULL, 0x1d0bca256aea39d0ULL,
	0xd25ad52dcbd9babfULL, 0xfa020228aba91b2dULL, 0xf6a661661ddf91e0ULL,
	0x7cf2eda07937be19ULL, 0x24af6dd4497b3d55ULL, 0x8b408088a8a5bba9ULL,
	0x4db36ae105a5fc14ULL, 0x214787cf84eedb15ULL, 0x60b8050eee78c9b4ULL,
	0xddbeb0b4c2e27e03ULL, 0x71b19c5c6783df2dULL, 0x94888c48a679fde8ULL,
	0xfa83c8b8c65070deULL, 0x0bf5d4cff574090fULL, 0x21fbc5bc896028f5ULL,
	0xa069aaeffcd46290ULL, 0xd14ebfe40906f472ULL, 0x2985898def8f2334ULL,
	0x7794e7265618e14cULL, 0xb8d428405dcf64f8ULL, 0xb7006c6a8aa4224fULL,
	0x46cc540058123905ULL, 0x08dbe2d1463fce6dULL, 0x48f3c45abedc3c5fULL,
	0x91f79b40d8117154ULL, 0x8c8e3c00fbcd3618ULL, 0x1b87401c729e8bf3ULL,
	0xcc74144bf2c46267ULL, 0x4bf2543259530b4eULL, 0xcdaaf265ba282d55ULL,
	0x2f3532df026cd2beULL, 0xaae1e0ce9b90076cULL, 0xf0c52f94682664daULL,
	0x841f7ee216f1d78bULL, 0x9caa3cf3e7231e71ULL, 0x4f60a2d4a153136fULL,
	0x62bc95d7c4ae5dc0ULL,
};

void ar_id_of(const void *data, size_t len, struct ar_id *id)
{
	crypto_generichash(id->b, AR_ID_LEN, data, len, NULL, 0);
}

char *ar_id_hex(const struct ar_id *id, char out[AR_ID_HEX])
{
	cr_hex(id->b, AR_ID_LEN, out);
	return out;
}

int ar_id_parse(const char *hex, struct ar_id *id)
{
	/* Lowercase only: an id names files and URLs, one spelling each. */
	if (strspn(hex, "0123456789abcdef") != 2 * AR_ID_LEN ||
	    hex[2 * AR_ID_LEN] != '\0' || cr_unhex(hex, AR_ID_LEN, id->b) < 0)
		return -EINVAL;
	return 0;
}

int ar_id_equal(const struct ar_id *a, const struct ar_id *b)
{
	return memcmp(a->b, b->b, AR_ID_LEN) == 0;
}

int ar_id_is_zero(const struct ar_id *id)
{
	static const struct ar_id zero;

	return ar_id_equal(id, &zero);
}

/* A mask of `bits` one-bits at the top of the word: the top bits of the
 * gear hash depend on the most bytes. */
static uint64_t top_mask(unsigned bits)
{
	return bits == 0 ? 0 : ~0ULL << (64 - bits);
}

int ar_chunker_init(struct ar_chunker *c, uint32_t min, uint32_t avg,
		    uint32_t max)
{
	unsigned bits = 0;

	if (min < 64 || min > avg || avg > max || max > AR_CHUNK_MAX_LIMIT ||
	    (avg & (avg - 1)) != 0)
		return -EINVAL;
	while ((1U << bits) < avg)
		bits++;
	memset(c, 0, sizeof(*c));
	c->min = min;
	c->avg = avg;
	c->max = max;
	/* FastCDC's normalization level 2: two bits more below the average,
	 * two fewer above it. */
	c->mask_s = top_mask(bits + 2);
	c->mask_l = top_mask(bits > 2 ? bits - 2 : 1);
	return 0;
}

void ar_chunker_reset(struct ar_chunker *c)
{
	c->h = 0;
	c->len = 0;
}

/* The first index of a buffer whose byte makes the chunk L bytes long,
 * given base bytes before the buffer (base < L), capped at n. */
static size_t bound(uint64_t base, uint64_t L, size_t n)
{
	uint64_t b = L - 1 - base;

	return b < n ? (size_t)b : n;
}

static size_t cut(struct ar_chunker *c, size_t k)
{
	c->h = 0;
	c->len = 0;
	return k;
}

size_t ar_chunker_scan(struct ar_chunker *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	const uint64_t warm = c->min - 64;
	uint64_t h = c->h, base = c->len;
	size_t i = 0, stop;

	/* Bytes before min - 64 cannot influence a cut: not even hashed. */
	if (base < warm) {
		if (warm - base >= n) {
			c->len = base + n;
			return AR_CHUNKER_MORE;
		}
		i = (size_t)(warm - base);
	}
	/* Below min: hash only. */
	if (base + i + 1 < c->min) {
		stop = bound(base, c->min, n);
		for (; i < stop; i++)
			h = (h << 1) + gear[p[i]];
		if (i == n)
			goto more;
	}
	/* From min to avg: the harder mask. */
	if (base + i + 1 < c->avg) {
		stop = bound(base, c->avg, n);
		for (; i < stop; i++) {
			h = (h << 1) + gear[p[i]];
			if ((h & c->mask_s) == 0)
				return cut(c, i + 1);
		}
		if (i == n)
			goto more;
	}
	/* From avg to max: the easier mask, and a forced cut at max. */
	stop = bound(base, c->max, n);
	for (; i < stop; i++) {
		h = (h << 1) + gear[p[i]];
		if ((h & c->mask_l) == 0)
			return cut(c, i + 1);
	}
	if (i < n)
		return cut(c, i + 1);
more:
	c->h = h;
	c->len = base + n;
	return AR_CHUNKER_MORE;
}
