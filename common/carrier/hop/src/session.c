/*
 * Datagram sessions: see cr/session.h for the wire formats and the contract.
 *
 * Layout of the state, smallest first:
 *
 *  - struct cr_sess is what an idle session costs: the current key pair
 *    (both directions, a 63-counter replay window), timers, the peer's
 *    identity, key and address: 296 bytes on 64-bit machines, held in
 *    slabs of SLAB_SESS sessions (no malloc header per session).
 *    Everything else hangs off it only while it is needed.
 *  - struct cr_replay (the 448-counter window) replaces the small one while
 *    DATA arrives more often than BUSY_MS apart, and is folded back once
 *    the session has been quiet for IDLE_MS (cr/replay.h: both switches are
 *    safe), so an idle device costs 56 bytes less.
 *  - struct sess_prev holds the previous receive key after a rekey, so that
 *    datagrams in flight under the old keys still authenticate.  It is freed
 *    once the peer has been seen using the new keys for a while.
 *  - struct sess_ihs / struct sess_rhs hold a handshake in progress: the
 *    initiator's Noise state, hello and cookie, or the responder's derived
 *    but not yet confirmed keys.  A session's role fixes which of the two it
 *    can have, so one pointer serves both.
 *
 * The host finds sessions three ways: by receiver index (an open-addressing
 * table from every live local index to its session's slab handle, 8 bytes
 * a slot), by peer identity (an open-addressing table of 4-byte handles
 * keyed with SipHash, so peers cannot pick colliding keys), and by
 * handshake deadline (a binary heap, so retransmits cost nothing when no
 * handshake is due).  The keepalive, dead, rekey and expiry timers are
 * checked by one pass over the slabs at most once a second.
 *
 * Callbacks may re-enter the host (close sessions, connect, send).  A session
 * that goes down is unlinked from every table at once but freed only when the
 * outermost host call returns (Redis's freeClientAsync), so no frame above a
 * callback is left holding a dangling pointer; frames check s->dead instead.
 *
 * Handshake steps follow WireGuard's shape: compute into locals, check
 * everything, and only then touch the session.  The Noise tokens themselves
 * are in common/crypto/src/noise.c.
 */
#include "cr/session.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "cp/limits.h"
#include "cp/wire.h"
#include "cr/map.h"
#include "cr/noise.h"
#include "cr/ratelimit.h"
#include "cr/replay.h"

enum {
	MAC_LEN = 16,
	TS_LEN = 12, /* TAI64N */
	KEY_LEN = 32,
	INST_LEN = 8, /* the initiator host's instance id */
	RAND_POOL = 1024, /* host_random()'s refill */
	EPH_BATCH = 16,   /* ephemeral keys made at once for RESPs */
	/* msg 1 payload: Ed25519 pk | type | TAI64N | instance | hello */
	INST_OFF = CR_PKLEN + 1 + TS_LEN,
	HELLO_OFF = INST_OFF + INST_LEN,
	/* Noise IK msg 1 around its payload: e, s + tag, payload tag. */
	NOISE1_OVERHEAD = 32 + 32 + 16 + 16,
	INIT_HDR = 8,
	INIT_MIN = INIT_HDR + NOISE1_OVERHEAD + HELLO_OFF + 2 * MAC_LEN,
	INIT_MAX = INIT_MIN + CR_SESS_HELLO_MAX,
	/* Noise IK msg 2 around its payload: e, payload tag. */
	NOISE2_OVERHEAD = 32 + 16,
	RESP_HDR = 12,
	RESP_MIN = RESP_HDR + NOISE2_OVERHEAD + 2 * MAC_LEN,
	RESP_MAX = RESP_MIN + CR_SESS_REPLY_MAX,
	COOKIE_NONCE_LEN = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	COOKIE_LEN = 8 + COOKIE_NONCE_LEN + MAC_LEN + CP_AEAD_TAG,
	DATA_MIN = CP_DATA_HDR + CP_AEAD_TAG,

	/* The type byte of msg 1 carries this flag for a rekey: the
	 * initiator continues the session it already has with us. */
	TYPE_REKEY = 0x80,

	COOKIE_SECRET_MS = 120 * 1000, /* secret rotation */
	COOKIE_VALID_MS = 120 * 1000,  /* initiator keeps a cookie this long */
	/* Previous keys stay this long after the peer used the new ones:
	 * enough for any datagram reordered behind the switch. */
	PREV_GRACE_MS = 10 * 1000,
	SCAN_MAX_MS = 1000,
	INDEX_TRIES = 64,
	/* The replay window widens when DATA arrives closer than BUSY_MS
	 * apart, and narrows after IDLE_MS without any. */
	BUSY_MS = 1000,
	IDLE_MS = 5000,
	SLAB_SHIFT = 8,
	SLAB_SESS = 1 << SLAB_SHIFT, /* sessions per slab */
	/* DATA flags (byte 1 of the header, authenticated as AD): path
	 * validation, answered by the session layer, never delivered. */
	DATA_PATH_CHALLENGE = 1,
	DATA_PATH_RESPONSE = 2,
	PATH_TOKEN_LEN = 8,
	/* Until its path is validated, a session sends at most this many
	 * times the bytes it received from it (QUIC's anti-amplification
	 * limit, RFC 9000 8.1). */
	PATH_FACTOR = 3,
	PATH_RETRY_MS = 500, /* challenges at most this often */
};

_Static_assert((int)INIT_MAX <= (int)CP_DATAGRAM_BASE, "INIT fits");
_Static_assert((int)RESP_MAX <= (int)CP_DATAGRAM_BASE, "RESP fits");
_Static_assert(COOKIE_LEN == 64, "COOKIE layout");
_Static_assert((int)CR_SESS_HELLO_MAX == (int)CP_HELLO_MAX, "hello limit");

/* Keys are refused from this counter on, leaving room below 2^64-1, which
 * Noise reserves, and below the replay window's arithmetic limits. */
#define REJECT_MSGS_DEFAULT (UINT64_MAX - (1u << 13))

static const uint8_t prologue[] = "korhal carrier v1";
#define PROLOGUE_LEN (sizeof(prologue) - 1)

/* What every handshake state starts with (C allows the cast between a
 * struct and its first member). */
struct hs_common {
	uint64_t started_ms;
	uint64_t deadline_ms;
	uint32_t heap_pos;
	uint32_t local_index;
};

/* The initiator's side of a handshake, alive until RESP or give-up. */
struct sess_ihs {
	struct hs_common c;
	struct cr_noise_hs noise;
	uint8_t mac1[MAC_LEN]; /* of the last INIT sent: the COOKIE's AD */
	uint8_t cookie[MAC_LEN];
	uint64_t cookie_ms;
	uint8_t has_cookie;
	uint8_t rekey;
	uint16_t hello_len;
	/* The peer's X25519 key, converted once per handshake: the
	 * conversion checks the point's subgroup, which costs more than a
	 * DH. */
	uint8_t rs[KEY_LEN];
	uint8_t hello[]; /* resent with every retransmission */
};

/* The responder's side: keys derived, waiting for the first DATA. */
struct sess_rhs {
	struct hs_common c;
	uint8_t tx[KEY_LEN];
	uint8_t rx[KEY_LEN];
	uint32_t remote_index;
};

struct sess_keys {
	uint8_t rx[KEY_LEN];
	uint8_t tx[KEY_LEN];
	uint64_t tx_n;
	uint64_t birth_ms;
	/* The small window, or while the session is busy (is_wide) the
	 * wide one, which then needs no pointer of its own. */
	union {
		struct cr_replay_small small;
		struct cr_replay *wide;
	} rp;
	uint32_t local_index;
	uint32_t remote_index;
};

/* A session whose peer moved to an address not validated yet: kept in the
 * host's path table (by handle) only while the validation runs, so an idle
 * session pays nothing for it. */
struct sess_path {
	struct cr_addr valid; /* the last validated path, to fall back to */
	uint64_t rx, tx;      /* bytes from and to the new path */
	uint64_t challenge_ms;
	uint8_t challenged;
	uint8_t token[PATH_TOKEN_LEN];
};

struct sess_prev {
	uint8_t rx[KEY_LEN];
	uint64_t birth_ms;
	struct cr_replay replay;
	uint32_t local_index;
};

struct cr_sess {
	struct cr_sess_host *host; /* NULL: a free slab slot */
	void *user;
	/*
	 * A not yet established session with the same peer that replaces
	 * this one when it comes up (only on the session the peer table
	 * points at).  Once this session is dead, the link chains the
	 * graveyard instead.
	 */
	struct cr_sess *pend;
	struct hs_common *hs; /* sess_ihs if initiator, else sess_rhs */
	struct sess_prev *prev;
	struct sess_keys cur;
	uint64_t last_sent_ms;
	uint64_t last_recv_ms;
	struct cr_addr addr;
	struct cr_id peer;
	uint32_t handle; /* slab * SLAB_SESS + slot */
	/* The peer table key is (peer, inst): inst is the initiating host's
	 * instance id on a responder's session, zero on an initiator's.  One
	 * identity may so run several hosts at once (a vendor's CLI processes)
	 * without one replacing the other's session. */
	uint8_t inst[INST_LEN];
	uint8_t peer_pk[CR_PKLEN];
	uint8_t last_ts[TS_LEN]; /* newest INIT timestamp accepted */
	uint16_t tag;            /* the owner's (cr_sess_set_tag()) */
	unsigned initiator : 1;
	unsigned up : 1;
	unsigned dead : 1;
	unsigned has_keys : 1;
	unsigned peer_used_cur : 1; /* the peer has sent under cur */
	unsigned pending : 1;       /* counted in host->pending */
	unsigned fixed_path : 1;    /* no roaming: the owner picks the path */
	unsigned is_wide : 1;       /* cur.rp holds the wide window */
	unsigned path_new : 1;      /* addr not validated: host->paths */
};

struct sess_slab {
	uint32_t live;      /* sessions in use, dead ones included */
	uint32_t free_head; /* slot + 1 of the first free slot, 0 none */
	struct cr_sess s[SLAB_SESS];
};

struct idx_slot {
	uint32_t idx;    /* 0: empty (0 is never issued) */
	uint32_t handle; /* of the session */
};

/* Peer table slots hold handle + 1; 0 is empty. */
typedef uint32_t peer_slot;

struct heap_ent {
	uint64_t deadline_ms;
	struct cr_sess *s;
};

struct cr_sess_host {
	struct cr_keypair kp;
	uint8_t xsk[KEY_LEN];
	uint8_t xpk[KEY_LEN]; /* X25519(xsk, 9), computed once */
	struct cr_id id;
	uint8_t mac1_key[KEY_LEN];   /* checks mac1 of what we receive */
	uint8_t cookie_key[KEY_LEN]; /* encrypts the cookies we send */
	uint8_t cookie_secret[KEY_LEN];
	uint64_t cookie_secret_ms;
	int have_cookie_secret;
	uint64_t load_sec;
	uint32_t load_count;
	struct cr_ratelimit *addr_limit; /* made the first time under load */
	struct cr_noise_aead *aead; /* DATA's cipher, set up once */

	struct cr_sess_cfg cfg;
	uint64_t scan_ms, scan_max_ms;
	const struct cr_sess_ops *ops;
	void *ctx;
	struct cr_sess_stats stats;

	struct sess_slab **slabs; /* NULL entries: freed when empty */
	size_t n_slabs;
	size_t slab_hint; /* a slab that may have a free slot */
	struct idx_slot *idx;
	size_t idx_cap, idx_n;
	peer_slot *peers;
	size_t peer_cap, peer_n;
	uint8_t peer_key[crypto_shorthash_KEYBYTES];
	uint8_t instance[INST_LEN]; /* sent in our INITs */
	struct heap_ent *heap;
	size_t heap_n, heap_cap;
	struct cr_map *paths; /* handle -> struct sess_path, made on first use */

	struct cr_sess *grave; /* dead, freed when depth drops to 0 */
	size_t count;          /* live sessions */
	size_t pending;        /* accepted, not yet confirmed */
	const struct cr_addr *rx_from; /* source of the DATA being delivered */
	int depth;
	uint64_t next_scan_ms;

	uint64_t last_tai_ns;
	uint64_t (*wallclock)(void *ctx);
	void *wallclock_ctx;

	uint8_t *rand_pool; /* RAND_POOL bytes, made by the first INIT taken */
	size_t rand_off;    /* bytes of the pool handed out (and wiped) */
	struct sess_eph *eph; /* made with rand_pool */
};

/*
 * Ephemeral key pairs for the RESPs we write, made EPH_BATCH at a time:
 * cr_x25519_base_batch() shares one field inversion among them.  A pair is
 * wiped from here when a handshake takes it, so what waits here is keys of
 * handshakes to come, never of one done (their forward secrecy is intact).
 */
struct sess_eph {
	uint8_t priv[EPH_BATCH][KEY_LEN];
	uint8_t pub[EPH_BATCH][KEY_LEN];
	size_t next; /* EPH_BATCH: empty */
};

static const char *const drop_names[CR_SESS_DROP_MAX] = {
	[CR_SESS_DROP_NONE] = "none",
	[CR_SESS_DROP_SHORT] = "short",
	[CR_SESS_DROP_TYPE] = "type",
	[CR_SESS_DROP_LENGTH] = "length",
	[CR_SESS_DROP_MAC1] = "mac1",
	[CR_SESS_DROP_COOKIE] = "cookie",
	[CR_SESS_DROP_HANDSHAKE] = "handshake",
	[CR_SESS_DROP_HELLO] = "hello",
	[CR_SESS_DROP_TIMESTAMP] = "timestamp",
	[CR_SESS_DROP_REFUSED] = "refused",
	[CR_SESS_DROP_INDEX] = "index",
	[CR_SESS_DROP_REPLAY] = "replay",
	[CR_SESS_DROP_DECRYPT] = "decrypt",
	[CR_SESS_DROP_EXPIRED] = "expired",
	[CR_SESS_DROP_STATE] = "state",
	[CR_SESS_DROP_NOMEM] = "nomem",
	[CR_SESS_DROP_RATELIMIT] = "ratelimit",
	[CR_SESS_DROP_IDENTITY] = "identity",
};

const char *cr_sess_drop_name(enum cr_sess_drop reason)
{
	if ((unsigned)reason >= CR_SESS_DROP_MAX)
		return "unknown";
	return drop_names[reason];
}

void cr_sess_cfg_default(struct cr_sess_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keepalive_ms = 15 * 1000;
	cfg->dead_after_ms = 45 * 1000;
	cfg->rekey_after_ms = 120 * 1000;
	cfg->reject_after_ms = 180 * 1000;
	cfg->rekey_after_msgs = (uint64_t)1 << 60;
	cfg->reject_after_msgs = REJECT_MSGS_DEFAULT;
	cfg->handshake_retry_ms = 1000;
	cfg->handshake_timeout_ms = 10 * 1000;
	cfg->load_handshakes_per_sec = 2000;
	cfg->max_sessions = 0;
	cfg->max_pending = 4096;
	cfg->addr_handshakes_per_sec = 20;
}

/* ---- Small helpers ---------------------------------------------------- */

static struct sess_ihs *ihs_of(const struct cr_sess *s)
{
	return (struct sess_ihs *)(void *)s->hs;
}

static struct sess_rhs *rhs_of(const struct cr_sess *s)
{
	return (struct sess_rhs *)(void *)s->hs;
}

/* a - b for timestamps that should be ordered; 0 when the clock went back
 * (the owner's clock is monotonic, but a bad one must not wrap timers). */
static uint64_t elapsed(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* BLAKE2b-256(label || pk): the mac1 and cookie keys. */
static void derive_key(uint8_t out[KEY_LEN], const char label[8],
		       const uint8_t pk[CR_PKLEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, 8);
	crypto_generichash_update(&st, pk, CR_PKLEN);
	crypto_generichash_final(&st, out, KEY_LEN);
}

/* Keyed BLAKE2b-128. */
static void mac16(uint8_t out[MAC_LEN], const uint8_t *key, size_t key_len,
		  const uint8_t *msg, size_t len)
{
	crypto_generichash(out, MAC_LEN, msg, len, key, key_len);
}

static uint64_t msg_limit(const struct cr_sess_host *h)
{
	return h->cfg.reject_after_msgs != 0 ? h->cfg.reject_after_msgs
					     : REJECT_MSGS_DEFAULT;
}

static uint64_t realtime_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * TAI64N of the wall clock: 8 bytes big-endian 2^62 + seconds, 4 bytes
 * big-endian nanoseconds, so memcmp() orders them.  Strictly increasing per
 * host even when the clock stalls or steps back, so retransmissions and
 * reconnects from this host are never mistaken for replays.
 */
static void tai64n_now(struct cr_sess_host *h, uint8_t out[TS_LEN])
{
	uint64_t ns = h->wallclock(h->wallclock_ctx);
	uint64_t secs;
	uint32_t nsec;

	if (ns <= h->last_tai_ns)
		ns = h->last_tai_ns + 1;
	h->last_tai_ns = ns;
	secs = ((uint64_t)1 << 62) + ns / 1000000000u;
	nsec = (uint32_t)(ns % 1000000000u);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(secs >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

/*
 * Random bytes for the handshakes we answer.  libsodium asks the kernel
 * (getrandom) at every call: two system calls a handshake, for the
 * ephemeral key and the index.  A host that answers handshakes draws from
 * a pool refilled RAND_POOL bytes at a time instead; bytes handed out are
 * wiped from it at once, so the pool never holds a key in use.  (A pool
 * copied by fork() would repeat itself in both processes: no program forks
 * with a live host but to exec.)  Without a pool, straight from libsodium.
 */
static void host_random(struct cr_sess_host *h, void *out, size_t len)
{
	if (h->rand_pool == NULL || len > RAND_POOL) {
		randombytes_buf(out, len);
		return;
	}
	if (h->rand_off + len > RAND_POOL) {
		randombytes_buf(h->rand_pool, RAND_POOL);
		h->rand_off = 0;
	}
	memcpy(out, h->rand_pool + h->rand_off, len);
	sodium_memzero(h->rand_pool + h->rand_off, len);
	h->rand_off += len;
}

static void host_send(struct cr_sess_host *h, struct cr_sess *s,
		      const struct cr_addr *to, const uint8_t *buf, size_t len)
{
	h->stats.tx_datagrams++;
	h->stats.tx_bytes += len;
	h->ops->send(h->ctx, s, to, buf, len);
}

static enum cr_sess_drop drop(struct cr_sess_host *h, enum cr_sess_drop why)
{
	h->stats.drops[why]++;
	return why;
}

/* ---- Path validation -------------------------------------------------- */

/* The same path: address and relay route. */
static int same_path(const struct cr_addr *a, const struct cr_addr *b)
{
	return cr_addr_equal(a, b) && a->route == b->route;
}

static struct sess_path *path_of(const struct cr_sess_host *h,
				 const struct cr_sess *s)
{
	return s->path_new ? cr_map_get(h->paths, &s->handle) : NULL;
}

/* The session's path is validated (or chosen by the owner): no budget. */
static void path_drop(struct cr_sess_host *h, struct cr_sess *s)
{
	if (!s->path_new)
		return;
	free(cr_map_del(h->paths, &s->handle));
	s->path_new = 0;
}

/* 1 when len more bytes may go to the session's unvalidated path (and
 * counts them), 0 when they would exceed PATH_FACTOR times what came
 * from it. */
static int path_budget(struct cr_sess_host *h, struct cr_sess *s,
		       const struct cr_addr *to, size_t len)
{
	struct sess_path *p = path_of(h, s);

	if (p == NULL || !same_path(to, &s->addr))
		return 1;
	if (p->tx + len > PATH_FACTOR * p->rx) {
		h->stats.path_limited++;
		return 0;
	}
	p->tx += len;
	return 1;
}

/* ---- Replay windows ---------------------------------------------------- */

static struct cr_replay *wide_of(const struct cr_sess *s)
{
	return s->is_wide ? s->cur.rp.wide : NULL;
}

/* Back to the small window (keeping what the wide one knew when keep). */
static void wide_drop(struct cr_sess *s, int keep)
{
	struct cr_replay *w = wide_of(s);

	if (w == NULL)
		return;
	s->is_wide = 0;
	if (keep)
		cr_replay_narrow(w, &s->cur.rp.small);
	else
		cr_replay_small_init(&s->cur.rp.small);
	sodium_memzero(w, sizeof(*w));
	free(w);
}

/* ---- Session slabs ---------------------------------------------------- */

static struct cr_sess *sess_at(const struct cr_sess_host *h, uint32_t handle)
{
	return &h->slabs[handle >> SLAB_SHIFT]->s[handle & (SLAB_SESS - 1)];
}

/* A zeroed session in a free slab slot, its handle set; NULL without
 * memory. */
static struct cr_sess *slab_get(struct cr_sess_host *h)
{
	struct sess_slab *sl;
	struct cr_sess *s;
	size_t i, hole = SIZE_MAX;
	uint32_t slot;

	for (i = 0; i < h->n_slabs; i++) {
		size_t k = (h->slab_hint + i) % h->n_slabs;

		if (h->slabs[k] != NULL && h->slabs[k]->free_head != 0)
			break;
		if (h->slabs[k] == NULL && hole == SIZE_MAX)
			hole = k;
	}
	if (i < h->n_slabs) {
		i = (h->slab_hint + i) % h->n_slabs;
	} else {
		if (hole == SIZE_MAX) {
			struct sess_slab **a;

			if (h->n_slabs >= (UINT32_MAX >> SLAB_SHIFT))
				return NULL;
			a = realloc(h->slabs, (h->n_slabs + 1) * sizeof(*a));
			if (a == NULL)
				return NULL;
			h->slabs = a;
			h->slabs[h->n_slabs] = NULL;
			hole = h->n_slabs++;
		}
		sl = calloc(1, sizeof(*sl));
		if (sl == NULL)
			return NULL;
		/* Free slots chain through free_head and each slot's handle. */
		for (slot = 0; slot < SLAB_SESS; slot++)
			sl->s[slot].handle = slot + 2 < SLAB_SESS + 1 ? slot + 2 : 0;
		sl->free_head = 1;
		h->slabs[hole] = sl;
		i = hole;
	}
	h->slab_hint = i;
	sl = h->slabs[i];
	slot = sl->free_head - 1;
	s = &sl->s[slot];
	sl->free_head = s->handle;
	memset(s, 0, sizeof(*s));
	s->handle = (uint32_t)(i << SLAB_SHIFT) | slot;
	sl->live++;
	return s;
}

/* Wipes s and returns its slot; a slab left empty is freed. */
static void slab_put(struct cr_sess_host *h, struct cr_sess *s)
{
	uint32_t handle = s->handle;
	size_t i = handle >> SLAB_SHIFT;
	struct sess_slab *sl = h->slabs[i];

	wide_drop(s, 0);
	sodium_memzero(s, sizeof(*s));
	s->handle = sl->free_head;
	sl->free_head = (handle & (SLAB_SESS - 1)) + 1;
	if (--sl->live == 0) {
		free(sl);
		h->slabs[i] = NULL;
		while (h->n_slabs > 0 && h->slabs[h->n_slabs - 1] == NULL)
			h->n_slabs--;
	} else if (i < h->slab_hint) {
		h->slab_hint = i;
	}
	if (h->slab_hint >= h->n_slabs)
		h->slab_hint = 0;
}

/* ---- Receiver index table --------------------------------------------- */

static size_t idx_home(uint32_t idx, size_t cap)
{
	/* Indices are random, but mixing keeps a weak RNG from clustering. */
	return (size_t)(idx * 2654435761u) & (cap - 1);
}

static struct cr_sess *idx_find(const struct cr_sess_host *h, uint32_t idx)
{
	size_t mask = h->idx_cap - 1;

	if (h->idx_cap == 0 || idx == 0)
		return NULL;
	for (size_t j = idx_home(idx, h->idx_cap); h->idx[j].idx != 0;
	     j = (j + 1) & mask) {
		if (h->idx[j].idx == idx)
			return sess_at(h, h->idx[j].handle);
	}
	return NULL;
}

static void idx_place(struct idx_slot *tab, size_t cap, struct idx_slot e)
{
	size_t j = idx_home(e.idx, cap);

	while (tab[j].idx != 0)
		j = (j + 1) & (cap - 1);
	tab[j] = e;
}

/* Keeps the load at most 1/2 so probes stay short. */
static int idx_reserve(struct cr_sess_host *h, size_t more)
{
	struct idx_slot *tab;
	size_t cap = h->idx_cap != 0 ? h->idx_cap : 64;

	while ((h->idx_n + more) * 2 > cap)
		cap *= 2;
	if (cap == h->idx_cap)
		return 0;
	tab = calloc(cap, sizeof(*tab));
	if (tab == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->idx_cap; i++) {
		if (h->idx[i].idx != 0)
			idx_place(tab, cap, h->idx[i]);
	}
	free(h->idx);
	h->idx = tab;
	h->idx_cap = cap;
	return 0;
}

/* Picks a fresh random index for s and registers it; 0 on failure. */
static uint32_t idx_new(struct cr_sess_host *h, struct cr_sess *s)
{
	if (idx_reserve(h, 1) < 0)
		return 0;
	for (int i = 0; i < INDEX_TRIES; i++) {
		uint32_t v;

		host_random(h, &v, sizeof(v));
		if (v != 0 && idx_find(h, v) == NULL) {
			idx_place(h->idx, h->idx_cap,
				  (struct idx_slot){ .idx = v,
						     .handle = s->handle });
			h->idx_n++;
			return v;
		}
	}
	return 0;
}

/* Linear probing with backward-shift deletion: no tombstones to pile up. */
static void idx_remove(struct cr_sess_host *h, uint32_t idx)
{
	size_t mask = h->idx_cap - 1, i, k;

	if (h->idx_cap == 0 || idx == 0)
		return;
	for (i = idx_home(idx, h->idx_cap); h->idx[i].idx != idx;
	     i = (i + 1) & mask) {
		if (h->idx[i].idx == 0)
			return;
	}
	h->idx[i] = (struct idx_slot){ 0 };
	h->idx_n--;
	for (k = (i + 1) & mask; h->idx[k].idx != 0; k = (k + 1) & mask) {
		size_t home = idx_home(h->idx[k].idx, h->idx_cap);

		/* Move k into the hole unless its home lies in (i, k]. */
		if (((k - home) & mask) >= ((k - i) & mask)) {
			h->idx[i] = h->idx[k];
			h->idx[k] = (struct idx_slot){ 0 };
			i = k;
		}
	}
}

/* ---- Peer identity table ---------------------------------------------- */

static const uint8_t inst_zero[INST_LEN];

static struct cr_sess *peer_at(const struct cr_sess_host *h, size_t j)
{
	return h->peers[j] != 0 ? sess_at(h, h->peers[j] - 1) : NULL;
}

static peer_slot peer_slot_of(const struct cr_sess *s)
{
	return s->handle + 1;
}

/* Hashed by identity alone (the instance is compared, not hashed), so all
 * sessions of one identity lie in one probe run: cr_sess_host_find(). */
static size_t peer_home(const struct cr_sess_host *h, const struct cr_id *id,
			size_t cap)
{
	uint8_t in[1 + CR_ID_HASHLEN], out[crypto_shorthash_BYTES];
	uint64_t v;

	in[0] = (uint8_t)id->type;
	memcpy(in + 1, id->hash, CR_ID_HASHLEN);
	crypto_shorthash(out, in, sizeof(in), h->peer_key);
	memcpy(&v, out, sizeof(v));
	return (size_t)v & (cap - 1);
}

/* Slot of id's primary session, or SIZE_MAX. */
static size_t peer_find(const struct cr_sess_host *h, const struct cr_id *id,
			const uint8_t inst[INST_LEN])
{
	size_t mask = h->peer_cap - 1;

	if (h->peer_cap == 0)
		return SIZE_MAX;
	for (size_t j = peer_home(h, id, h->peer_cap); h->peers[j] != 0;
	     j = (j + 1) & mask) {
		const struct cr_sess *s = peer_at(h, j);

		if (cr_id_equal(&s->peer, id) &&
		    memcmp(s->inst, inst, INST_LEN) == 0)
			return j;
	}
	return SIZE_MAX;
}

struct cr_sess *cr_sess_host_find(const struct cr_sess_host *h,
				  const struct cr_id *id,
				  const struct cr_sess *except)
{
	struct cr_sess *best = NULL;
	size_t mask = h->peer_cap - 1;

	if (h->peer_cap == 0)
		return NULL;
	for (size_t j = peer_home(h, id, h->peer_cap); h->peers[j] != 0;
	     j = (j + 1) & mask) {
		struct cr_sess *s = peer_at(h, j);

		if (s == except || !s->up || s->dead ||
		    !cr_id_equal(&s->peer, id))
			continue;
		if (best == NULL || s->last_recv_ms > best->last_recv_ms)
			best = s;
	}
	return best;
}

/* Sessions of id in the peer table (primaries: their pending successors
 * are not counted), and of those that are up, the one heard from least
 * recently other than except. */
static size_t peer_count(const struct cr_sess_host *h, const struct cr_id *id,
			 size_t *n_up, const struct cr_sess *except,
			 struct cr_sess **oldest_up)
{
	size_t mask = h->peer_cap - 1, n = 0;

	*n_up = 0;
	*oldest_up = NULL;
	if (h->peer_cap == 0)
		return 0;
	for (size_t j = peer_home(h, id, h->peer_cap); h->peers[j] != 0;
	     j = (j + 1) & mask) {
		struct cr_sess *s = peer_at(h, j);

		if (s->dead || !cr_id_equal(&s->peer, id))
			continue;
		n++;
		if (!s->up)
			continue;
		(*n_up)++;
		if (s != except && (*oldest_up == NULL ||
				    s->last_recv_ms < (*oldest_up)->last_recv_ms))
			*oldest_up = s;
	}
	return n;
}

static struct cr_sess *peer_get(const struct cr_sess_host *h,
				const struct cr_id *id,
				const uint8_t inst[INST_LEN])
{
	size_t j = peer_find(h, id, inst);

	return j == SIZE_MAX ? NULL : peer_at(h, j);
}

static void peer_place(const struct cr_sess_host *h, peer_slot *tab,
		       size_t cap, const struct cr_sess *s)
{
	size_t j = peer_home(h, &s->peer, cap);

	while (tab[j] != 0)
		j = (j + 1) & (cap - 1);
	tab[j] = peer_slot_of(s);
}

static int peer_reserve(struct cr_sess_host *h)
{
	peer_slot *tab;
	size_t cap = h->peer_cap != 0 ? h->peer_cap : 64;

	while ((h->peer_n + 1) * 2 > cap)
		cap *= 2;
	if (cap == h->peer_cap)
		return 0;
	tab = calloc(cap, sizeof(*tab));
	if (tab == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < h->peer_cap; i++) {
		if (h->peers[i] != 0)
			peer_place(h, tab, cap, peer_at(h, i));
	}
	free(h->peers);
	h->peers = tab;
	h->peer_cap = cap;
	return 0;
}

/* Requires peer_reserve() first. */
static void peer_put(struct cr_sess_host *h, struct cr_sess *s)
{
	peer_place(h, h->peers, h->peer_cap, s);
	h->peer_n++;
}

static void peer_remove_at(struct cr_sess_host *h, size_t i)
{
	size_t mask = h->peer_cap - 1;

	h->peers[i] = 0;
	h->peer_n--;
	for (size_t k = (i + 1) & mask; h->peers[k] != 0;
	     k = (k + 1) & mask) {
		size_t home = peer_home(h, &peer_at(h, k)->peer, h->peer_cap);

		if (((k - home) & mask) >= ((k - i) & mask)) {
			h->peers[i] = h->peers[k];
			h->peers[k] = 0;
			i = k;
		}
	}
}

/* ---- Handshake deadline heap ------------------------------------------ */

static void heap_set(struct cr_sess_host *h, size_t pos, struct heap_ent e)
{
	h->heap[pos] = e;
	e.s->hs->heap_pos = (uint32_t)pos;
}

static void heap_sift_up(struct cr_sess_host *h, size_t pos)
{
	struct heap_ent e = h->heap[pos];

	while (pos > 0) {
		size_t parent = (pos - 1) / 2;

		if (h->heap[parent].deadline_ms <= e.deadline_ms)
			break;
		heap_set(h, pos, h->heap[parent]);
		pos = parent;
	}
	heap_set(h, pos, e);
}

static void heap_sift_down(struct cr_sess_host *h, size_t pos)
{
	struct heap_ent e = h->heap[pos];

	for (;;) {
		size_t c = 2 * pos + 1;

		if (c >= h->heap_n)
			break;
		if (c + 1 < h->heap_n &&
		    h->heap[c + 1].deadline_ms < h->heap[c].deadline_ms)
			c++;
		if (e.deadline_ms <= h->heap[c].deadline_ms)
			break;
		heap_set(h, pos, h->heap[c]);
		pos = c;
	}
	heap_set(h, pos, e);
}

static int heap_reserve(struct cr_sess_host *h)
{
	struct heap_ent *a;
	size_t cap;

	if (h->heap_n < h->heap_cap)
		return 0;
	cap = h->heap_cap != 0 ? h->heap_cap * 2 : 16;
	a = realloc(h->heap, cap * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	h->heap = a;
	h->heap_cap = cap;
	return 0;
}

/* Requires heap_reserve() first; the deadline is s->hs->deadline_ms. */
static void heap_push(struct cr_sess_host *h, struct cr_sess *s)
{
	h->heap[h->heap_n] = (struct heap_ent){ s->hs->deadline_ms, s };
	h->heap_n++;
	heap_sift_up(h, h->heap_n - 1);
}

/* After s->hs->deadline_ms changed. */
static void heap_update(struct cr_sess_host *h, struct cr_sess *s)
{
	size_t pos = s->hs->heap_pos;

	h->heap[pos].deadline_ms = s->hs->deadline_ms;
	heap_sift_up(h, pos);
	heap_sift_down(h, s->hs->heap_pos);
}

static void heap_remove(struct cr_sess_host *h, struct cr_sess *s)
{
	size_t pos = s->hs->heap_pos;

	h->heap_n--;
	if (pos == h->heap_n)
		return;
	heap_set(h, pos, h->heap[h->heap_n]);
	heap_sift_up(h, pos);
	heap_sift_down(h, h->heap[pos].s->hs->heap_pos);
}

/* ---- Session lifetime ------------------------------------------------- */

static struct cr_sess *sess_new(struct cr_sess_host *h,
				const uint8_t peer_pk[CR_PKLEN],
				const struct cr_id *peer, int initiator)
{
	struct cr_sess *s = slab_get(h);

	if (s == NULL)
		return NULL;
	s->host = h;
	s->peer = *peer;
	memcpy(s->peer_pk, peer_pk, CR_PKLEN);
	s->initiator = initiator != 0;
	h->count++;
	return s;
}

/* Frees the handshake state; keep_index when its index now names the
 * session's current keys. */
static void hs_free(struct cr_sess_host *h, struct cr_sess *s, int keep_index)
{
	size_t size;

	if (s->hs == NULL)
		return;
	heap_remove(h, s);
	if (!keep_index)
		idx_remove(h, s->hs->local_index);
	size = s->initiator ? sizeof(struct sess_ihs) + ihs_of(s)->hello_len
			    : sizeof(struct sess_rhs);
	sodium_memzero(s->hs, size);
	free(s->hs);
	s->hs = NULL;
}

static void prev_free(struct cr_sess_host *h, struct cr_sess *s)
{
	if (s->prev == NULL)
		return;
	idx_remove(h, s->prev->local_index);
	sodium_memzero(s->prev, sizeof(*s->prev));
	free(s->prev);
	s->prev = NULL;
}

/* Undoes sess_new() for a session the owner never saw and that is in no
 * peer table slot. */
static void sess_discard(struct cr_sess_host *h, struct cr_sess *s)
{
	hs_free(h, s, 0);
	prev_free(h, s);
	if (s->has_keys)
		idx_remove(h, s->cur.local_index);
	h->count--;
	slab_put(h, s);
}

/*
 * Takes s down: out of every table at once, ops->down, then onto the
 * graveyard to be freed when the outermost host call returns.  If s was the
 * peer's primary session, its pending successor (if any) takes its place.
 */
static void sess_kill(struct cr_sess_host *h, struct cr_sess *s,
		      enum cr_sess_down why)
{
	size_t slot;

	if (s->dead)
		return;
	s->dead = 1;
	h->count--;
	if (s->pending) {
		s->pending = 0;
		h->pending--;
	}
	hs_free(h, s, 0);
	prev_free(h, s);
	path_drop(h, s);
	if (s->has_keys)
		idx_remove(h, s->cur.local_index);
	wide_drop(s, 0);
	sodium_memzero(&s->cur, sizeof(s->cur));
	s->has_keys = 0;
	slot = peer_find(h, &s->peer, s->inst);
	if (slot != SIZE_MAX && peer_at(h, slot) == s) {
		if (s->pend != NULL)
			h->peers[slot] = peer_slot_of(s->pend);
		else
			peer_remove_at(h, slot);
	} else if (slot != SIZE_MAX && peer_at(h, slot)->pend == s) {
		peer_at(h, slot)->pend = NULL;
	}
	s->pend = h->grave;
	h->grave = s;
	if (h->ops->down != NULL)
		h->ops->down(h->ctx, s, why);
}

static void host_enter(struct cr_sess_host *h)
{
	h->depth++;
}

static void host_leave(struct cr_sess_host *h)
{
	if (--h->depth > 0)
		return;
	while (h->grave != NULL) {
		struct cr_sess *s = h->grave;

		h->grave = s->pend;
		slab_put(h, s);
	}
}

/*
 * Links a new session n into the peer table.  With no session for the peer,
 * n is the primary.  A primary that is not up yet is replaced at once; an
 * established one keeps working until n comes up (then sess_promote()), and
 * n supersedes any older pending session.  Requires peer_reserve().  May
 * call ops->down.
 */
static void sess_link(struct cr_sess_host *h, struct cr_sess *n)
{
	size_t slot = peer_find(h, &n->peer, n->inst);
	struct cr_sess *p, *old;

	if (slot == SIZE_MAX) {
		peer_put(h, n);
		return;
	}
	p = peer_at(h, slot);
	if (!p->up) {
		/* A primary that is not up has no pending successor. */
		h->peers[slot] = peer_slot_of(n);
		sess_kill(h, p, CR_SESS_DOWN_REPLACED);
		return;
	}
	old = p->pend;
	p->pend = n;
	if (old != NULL)
		sess_kill(h, old, CR_SESS_DOWN_REPLACED);
}

/* s just came up: if it was pending behind an established session, it
 * replaces it now. */
static void sess_promote(struct cr_sess_host *h, struct cr_sess *s)
{
	size_t slot = peer_find(h, &s->peer, s->inst);
	struct cr_sess *p;

	if (slot == SIZE_MAX || peer_at(h, slot) == s)
		return;
	p = peer_at(h, slot);
	if (p->pend != s)
		return;
	p->pend = NULL;
	h->peers[slot] = peer_slot_of(s);
	sess_kill(h, p, CR_SESS_DOWN_REPLACED);
}

/*
 * Installs fresh transport keys as current; the old current keys become the
 * previous ones (their index stays registered) so datagrams in flight still
 * open.  Without memory for that, the old keys are simply dropped.
 */
static void keys_install(struct cr_sess_host *h, struct cr_sess *s,
			 const uint8_t tx[KEY_LEN], const uint8_t rx[KEY_LEN],
			 uint32_t local_index, uint32_t remote_index,
			 uint64_t now)
{
	if (s->has_keys) {
		struct sess_prev *p = s->prev;

		if (p != NULL)
			idx_remove(h, p->local_index);
		else
			p = malloc(sizeof(*p));
		if (p != NULL) {
			memcpy(p->rx, s->cur.rx, KEY_LEN);
			p->birth_ms = s->cur.birth_ms;
			if (s->is_wide)
				p->replay = *wide_of(s);
			else
				cr_replay_widen(&s->cur.rp.small, &p->replay);
			p->local_index = s->cur.local_index;
		} else {
			idx_remove(h, s->cur.local_index);
		}
		s->prev = p;
	}
	memcpy(s->cur.tx, tx, KEY_LEN);
	memcpy(s->cur.rx, rx, KEY_LEN);
	s->cur.tx_n = 0;
	s->cur.birth_ms = now;
	if (s->is_wide)
		cr_replay_init(wide_of(s));
	else
		cr_replay_small_init(&s->cur.rp.small);
	s->cur.local_index = local_index;
	s->cur.remote_index = remote_index;
	s->has_keys = 1;
	s->peer_used_cur = 0;
}

/* Datagrams sent and received under the current keys. */
static uint64_t keys_msgs(const struct cr_sess *s)
{
	uint64_t rx = s->is_wide ? s->cur.rp.wide->top : s->cur.rp.small.top;

	return s->cur.tx_n + rx;
}

/* Whether the current keys are idle (cr_sess_cfg.rekey_idle_ms): they
 * carried few datagrams, so their age may run to rekey_idle_ms. */
static int keys_idle(const struct cr_sess_host *h, const struct cr_sess *s)
{
	uint64_t busy = h->cfg.rekey_busy_msgs;

	if (h->cfg.rekey_idle_ms == 0)
		return 0;
	/* The responder counts with slack: the initiator decides. */
	if (!s->initiator)
		busy *= 2;
	return keys_msgs(s) < busy;
}

/* The age at which keys are no longer used: idle keys live rekey_idle_ms
 * plus the same margin busy keys have between rekey and reject. */
static uint64_t reject_age(const struct cr_sess_host *h, int idle)
{
	uint64_t margin;

	if (!idle)
		return h->cfg.reject_after_ms;
	margin = h->cfg.reject_after_ms > h->cfg.rekey_after_ms ?
			 h->cfg.reject_after_ms - h->cfg.rekey_after_ms :
			 60 * 1000;
	return (uint64_t)h->cfg.rekey_idle_ms + margin;
}

static int keys_expired(const struct cr_sess_host *h, const struct cr_sess *s,
			uint64_t now)
{
	if (!s->has_keys)
		return 1;
	if (h->cfg.reject_after_ms != 0 &&
	    elapsed(now, s->cur.birth_ms) >= reject_age(h, keys_idle(h, s)))
		return 1;
	return s->cur.tx_n >= msg_limit(h);
}

static int need_rekey(const struct cr_sess_host *h, const struct cr_sess *s,
		      uint64_t now)
{
	if (!s->initiator || !s->up || s->hs != NULL || s->dead)
		return 0;
	if (h->cfg.rekey_after_ms != 0 &&
	    elapsed(now, s->cur.birth_ms) >=
		    (keys_idle(h, s) ? h->cfg.rekey_idle_ms :
				       h->cfg.rekey_after_ms))
		return 1;
	return h->cfg.rekey_after_msgs != 0 &&
	       s->cur.tx_n >= h->cfg.rekey_after_msgs;
}

/* ---- DATA ------------------------------------------------------------- */

/* Seals payload under the current keys and sends it: 0 or -EAGAIN when the
 * keys are missing or used up. */
static int data_send_v(struct cr_sess_host *h, struct cr_sess *s,
		       const struct cr_addr *to, uint8_t flags,
		       const struct iovec *iov, int iovcnt, size_t len,
		       uint64_t now)
{
	uint8_t own[CP_DATAGRAM_MAX], *buf = NULL;
	size_t dlen = CP_DATA_HDR + len + CP_AEAD_TAG;

	if (keys_expired(h, s, now))
		return -EAGAIN;
	/* Over an unvalidated path's budget the datagram is lost, as on a
	 * congested path: the peer validates the path in one round trip. */
	if (!path_budget(h, s, to, dlen))
		return 0;
	/* Sealed straight into the owner's send queue when it has room. */
	if (h->ops->reserve != NULL && dlen <= CP_DATAGRAM_MAX)
		buf = h->ops->reserve(h->ctx, s, to, dlen);
	if (buf == NULL)
		buf = own;
	buf[0] = CP_MSG_DATA;
	buf[1] = flags;
	buf[2] = buf[3] = 0;
	cp_put_u32(buf + 4, s->cur.remote_index);
	cp_put_u64(buf + 8, s->cur.tx_n);
	/* The header is the AD: the counter and index are authenticated.
	 * The cipher reads the payload where it lies (in pieces, for a
	 * stream packet whose data stays in the stream's buffer) and writes
	 * the sealed bytes after the header: no copy of the plaintext. */
	if (cr_noise_aead_sealv(h->aead, s->cur.tx, s->cur.tx_n, buf,
				CP_DATA_HDR, iov, iovcnt,
				buf + CP_DATA_HDR) < 0) {
		if (buf != own)
			h->ops->unreserve(h->ctx, buf);
		return -EAGAIN;
	}
	s->cur.tx_n++;
	s->last_sent_ms = now;
	if (buf != own) {
		h->stats.tx_datagrams++;
		h->stats.tx_bytes += dlen;
	} else {
		host_send(h, s, to, buf, dlen);
	}
	return 0;
}

static int data_send_flags(struct cr_sess_host *h, struct cr_sess *s,
			   const struct cr_addr *to, uint8_t flags,
			   const uint8_t *payload, size_t len, uint64_t now)
{
	struct iovec iov = { len > 0 ? (void *)payload : NULL, len };

	return data_send_v(h, s, to, flags, &iov, 1, len, now);
}

static int data_send_to(struct cr_sess_host *h, struct cr_sess *s,
			const struct cr_addr *to, const uint8_t *payload,
			size_t len, uint64_t now)
{
	return data_send_flags(h, s, to, 0, payload, len, now);
}

/*
 * An authentic datagram came from a path other than the session's.  The
 * session follows it at once (a peer behind a NAT that rebound has no
 * other way back), but until the peer answers a challenge sent there, it
 * sends at most PATH_FACTOR times what came from it, so that datagrams
 * replayed or forwarded from a spoofed source cannot turn the session
 * into an amplifier toward that address.  Back on the last validated path,
 * nothing needs validating.  Without memory for the state, the session
 * stays where it is.
 */
static void path_moved(struct cr_sess_host *h, struct cr_sess *s,
		       const struct cr_addr *from)
{
	struct sess_path *p = path_of(h, s);

	if (p != NULL && same_path(from, &p->valid)) {
		s->addr = p->valid;
		path_drop(h, s);
		return;
	}
	if (p == NULL) {
		if (h->paths == NULL)
			h->paths = cr_map_new(sizeof(s->handle));
		p = calloc(1, sizeof(*p));
		if (h->paths == NULL || p == NULL ||
		    cr_map_put(h->paths, &s->handle, p) < 0) {
			free(p);
			return;
		}
		p->valid = s->addr;
		s->path_new = 1;
	}
	s->addr = *from;
	p->rx = p->tx = 0;
	p->challenged = 0;
	randombytes_buf(p->token, sizeof(p->token));
}

static int data_send(struct cr_sess_host *h, struct cr_sess *s,
		     const uint8_t *payload, size_t len, uint64_t now)
{
	return data_send_to(h, s, &s->addr, payload, len, now);
}

/* ---- Handshake: initiator --------------------------------------------- */

/* The key to mac a message sent to pk, and the cookie key of pk. */
static void mac1_key_for(uint8_t out[KEY_LEN], const uint8_t pk[CR_PKLEN])
{
	derive_key(out, "mac1----", pk);
}

static void cookie_key_for(uint8_t out[KEY_LEN], const uint8_t pk[CR_PKLEN])
{
	derive_key(out, "cookie--", pk);
}

/*
 * Writes and sends an INIT with a fresh ephemeral key and timestamp.
 * INIT = type | 3 reserved | sender | Noise msg 1 | mac1 | mac2.
 */
static int init_send(struct cr_sess_host *h, struct cr_sess *s, uint64_t now)
{
	struct sess_ihs *hs = ihs_of(s);
	uint8_t payload[HELLO_OFF + CR_SESS_HELLO_MAX];
	uint8_t out[INIT_MAX];
	uint8_t key[KEY_LEN];
	size_t n, len;
	int r;

	r = cr_noise_hs_init_pub(&hs->noise, CR_NOISE_IK, CR_NOISE_BLAKE2B, 1,
				 prologue, PROLOGUE_LEN, h->xsk, h->xpk, hs->rs);
	if (r < 0)
		return r;
	memcpy(payload, h->kp.pk, CR_PKLEN);
	payload[CR_PKLEN] = (uint8_t)((uint8_t)h->kp.type |
				      (hs->rekey ? TYPE_REKEY : 0));
	tai64n_now(h, payload + CR_PKLEN + 1);
	memcpy(payload + INST_OFF, h->instance, INST_LEN);
	memcpy(payload + HELLO_OFF, hs->hello, hs->hello_len);

	out[0] = CP_MSG_INIT;
	out[1] = out[2] = out[3] = 0;
	cp_put_u32(out + 4, hs->c.local_index);
	/* -> e, es, s, ss, {payload} */
	r = cr_noise_hs_write(&hs->noise, payload, HELLO_OFF + hs->hello_len,
			      out + INIT_HDR,
			      sizeof(out) - INIT_HDR - 2 * MAC_LEN, &n);
	sodium_memzero(payload, sizeof(payload));
	h->stats.handshake_dh++;
	if (r < 0)
		return r;
	len = INIT_HDR + n;
	mac1_key_for(key, s->peer_pk);
	mac16(out + len, key, sizeof(key), out, len);
	memcpy(hs->mac1, out + len, MAC_LEN);
	len += MAC_LEN;
	if (hs->has_cookie && elapsed(now, hs->cookie_ms) < COOKIE_VALID_MS)
		mac16(out + len, hs->cookie, MAC_LEN, out, len);
	else
		memset(out + len, 0, MAC_LEN);
	len += MAC_LEN;
	host_send(h, s, &s->addr, out, len);
	return 0;
}

static uint64_t retry_deadline(const struct cr_sess_host *h,
			       const struct hs_common *c, uint64_t now)
{
	uint32_t retry = h->cfg.handshake_retry_ms;
	/* A little jitter keeps many sessions that started together (a
	 * node restart) from retransmitting in lockstep. */
	uint64_t t = now + retry + randombytes_uniform(retry / 8 + 1);
	uint64_t give_up = c->started_ms + h->cfg.handshake_timeout_ms;

	return t < give_up ? t : give_up;
}

/* Starts an initiator handshake on s (first connect or rekey).  xpk is
 * the peer's X25519 key when the caller has converted it, else NULL. */
static int hs_start(struct cr_sess_host *h, struct cr_sess *s,
		    const uint8_t *hello, size_t hello_len, int rekey,
		    const uint8_t *xpk, uint64_t now)
{
	struct sess_ihs *hs;

	if (heap_reserve(h) < 0)
		return -ENOMEM;
	hs = calloc(1, sizeof(*hs) + hello_len);
	if (hs == NULL)
		return -ENOMEM;
	if (xpk != NULL) {
		memcpy(hs->rs, xpk, KEY_LEN);
	} else if (cr_pk_x25519(s->peer_pk, hs->rs) < 0) {
		free(hs);
		return -EINVAL;
	}
	hs->c.local_index = idx_new(h, s);
	if (hs->c.local_index == 0) {
		free(hs);
		return -ENOMEM;
	}
	hs->c.started_ms = now;
	hs->rekey = (uint8_t)(rekey != 0);
	hs->hello_len = (uint16_t)hello_len;
	if (hello_len > 0)
		memcpy(hs->hello, hello, hello_len);
	s->hs = &hs->c;
	hs->c.deadline_ms = retry_deadline(h, &hs->c, now);
	heap_push(h, s);
	h->stats.handshakes_initiated++;
	if (init_send(h, s, now) < 0) {
		hs_free(h, s, 0);
		return -EINVAL;
	}
	return 0;
}

/* RESP = type | 3 reserved | sender | receiver | Noise msg 2 | mac1 | mac2 */
static enum cr_sess_drop on_resp(struct cr_sess_host *h,
				 const struct cr_addr *from,
				 const uint8_t *buf, size_t len, uint64_t now)
{
	uint8_t reply[CR_SESS_REPLY_MAX];
	uint8_t mac[MAC_LEN];
	struct cr_noise_cipher tx, rx;
	struct cr_sess *s;
	struct sess_ihs *hs;
	uint32_t sender, receiver;
	size_t rlen;
	int was_up, r;

	if (len < RESP_MIN || len > RESP_MAX)
		return drop(h, CR_SESS_DROP_LENGTH);
	mac16(mac, h->mac1_key, sizeof(h->mac1_key), buf, len - 2 * MAC_LEN);
	if (sodium_memcmp(mac, buf + len - 2 * MAC_LEN, MAC_LEN) != 0)
		return drop(h, CR_SESS_DROP_MAC1);
	sender = cp_get_u32(buf + 4);
	receiver = cp_get_u32(buf + 8);
	s = idx_find(h, receiver);
	if (s == NULL)
		return drop(h, CR_SESS_DROP_INDEX);
	if (!s->initiator || s->hs == NULL || s->hs->local_index != receiver)
		return drop(h, CR_SESS_DROP_STATE);
	hs = ihs_of(s);
	/* <- e, ee, se, {payload}.  A failed read leaves hs as it was, so a
	 * forged RESP cannot spoil the real one still to come. */
	r = cr_noise_hs_read(&hs->noise, buf + RESP_HDR,
			     len - RESP_HDR - 2 * MAC_LEN, reply, sizeof(reply),
			     &rlen);
	h->stats.handshake_dh++;
	if (r < 0)
		return drop(h, CR_SESS_DROP_HANDSHAKE);
	if (cr_noise_hs_split(&hs->noise, &tx, &rx) < 0)
		return drop(h, CR_SESS_DROP_HANDSHAKE);

	/* Success: commit. */
	keys_install(h, s, tx.k, rx.k, hs->c.local_index, sender, now);
	sodium_memzero(&tx, sizeof(tx));
	sodium_memzero(&rx, sizeof(rx));
	hs_free(h, s, 1);
	s->addr = *from;
	s->last_recv_ms = now;
	h->stats.handshakes_completed++;
	was_up = s->up;
	s->up = 1;
	/* Confirms the keys to the responder at once, even when the owner
	 * has nothing to send. */
	data_send(h, s, NULL, 0, now);
	if (!was_up)
		sess_promote(h, s);
	if (!s->dead && h->ops->up != NULL)
		h->ops->up(h->ctx, s, reply, rlen, was_up);
	sodium_memzero(reply, sizeof(reply));
	return CR_SESS_DROP_NONE;
}

/* COOKIE = type | 3 reserved | receiver | nonce[24] | cookie + tag */
static enum cr_sess_drop on_cookie(struct cr_sess_host *h, const uint8_t *buf,
				   size_t len, uint64_t now)
{
	uint8_t key[KEY_LEN], cookie[MAC_LEN];
	struct cr_sess *s;
	struct sess_ihs *hs;
	uint32_t receiver;

	if (len != COOKIE_LEN)
		return drop(h, CR_SESS_DROP_LENGTH);
	receiver = cp_get_u32(buf + 4);
	s = idx_find(h, receiver);
	if (s == NULL)
		return drop(h, CR_SESS_DROP_INDEX);
	if (!s->initiator || s->hs == NULL || s->hs->local_index != receiver)
		return drop(h, CR_SESS_DROP_STATE);
	hs = ihs_of(s);
	cookie_key_for(key, s->peer_pk);
	/* The AD binds the cookie to our last INIT: a COOKIE cannot be made
	 * without seeing it. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    cookie, NULL, NULL, buf + 8 + COOKIE_NONCE_LEN,
		    MAC_LEN + CP_AEAD_TAG, hs->mac1, MAC_LEN, buf + 8,
		    key) != 0)
		return drop(h, CR_SESS_DROP_DECRYPT);
	memcpy(hs->cookie, cookie, MAC_LEN);
	hs->cookie_ms = now;
	hs->has_cookie = 1;
	/* The next retransmission carries mac2; sending one now would let a
	 * forged stream of cookies drive our INIT rate. */
	return CR_SESS_DROP_NONE;
}

/* ---- Handshake: responder --------------------------------------------- */

/* The cookie for `from` under the current secret, rotated as it ages. */
static void cookie_for(struct cr_sess_host *h, const struct cr_addr *from,
		       uint64_t now, uint8_t out[MAC_LEN])
{
	uint8_t ak[19];
	size_t aklen;

	if (!h->have_cookie_secret ||
	    elapsed(now, h->cookie_secret_ms) >= COOKIE_SECRET_MS ||
	    now < h->cookie_secret_ms) {
		randombytes_buf(h->cookie_secret, sizeof(h->cookie_secret));
		h->cookie_secret_ms = now;
		h->have_cookie_secret = 1;
	}
	aklen = cr_addr_key(from, ak);
	mac16(out, h->cookie_secret, sizeof(h->cookie_secret), ak, aklen);
}

static void cookie_send(struct cr_sess_host *h, const struct cr_addr *from,
			uint32_t receiver, const uint8_t mac1[MAC_LEN],
			uint64_t now)
{
	uint8_t out[COOKIE_LEN], cookie[MAC_LEN];

	cookie_for(h, from, now, cookie);
	out[0] = CP_MSG_COOKIE;
	out[1] = out[2] = out[3] = 0;
	cp_put_u32(out + 4, receiver);
	randombytes_buf(out + 8, COOKIE_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + 8 + COOKIE_NONCE_LEN, NULL, cookie, MAC_LEN, mac1,
		MAC_LEN, NULL, out + 8, h->cookie_key);
	h->stats.cookies_sent++;
	host_send(h, NULL, from, out, sizeof(out));
}

/*
 * Writes msg 2 (<- e, ee, se, {reply}) into a RESP addressed to the
 * initiator whose Ed25519 key is peer_pk, and splits the keys.
 */
static int resp_write(struct cr_sess_host *h, struct cr_noise_hs *noise,
		      const uint8_t peer_pk[CR_PKLEN],
		      uint32_t sender, uint32_t receiver, const uint8_t *reply,
		      size_t reply_len, uint8_t out[RESP_MAX], size_t *out_len,
		      struct cr_noise_cipher *tx, struct cr_noise_cipher *rx)
{
	uint8_t key[KEY_LEN], e[KEY_LEN];
	size_t n, len;
	int r;

	/* The ephemeral key, from the host's pools rather than Noise's own
	 * randombytes call and scalar multiplication. */
	if (h->eph != NULL) {
		struct sess_eph *p = h->eph;

		if (p->next == EPH_BATCH) {
			randombytes_buf(p->priv, sizeof(p->priv));
			cr_x25519_base_batch(p->pub,
					     (const uint8_t(*)[KEY_LEN])p->priv,
					     EPH_BATCH);
			p->next = 0;
		}
		cr_noise_hs_set_ephemeral_pair(noise, p->priv[p->next],
					       p->pub[p->next]);
		sodium_memzero(p->priv[p->next], KEY_LEN);
		p->next++;
	} else {
		host_random(h, e, sizeof(e));
		cr_noise_hs_set_ephemeral(noise, e);
		sodium_memzero(e, sizeof(e));
	}
	out[0] = CP_MSG_RESP;
	out[1] = out[2] = out[3] = 0;
	cp_put_u32(out + 4, sender);
	cp_put_u32(out + 8, receiver);
	r = cr_noise_hs_write(noise, reply, reply_len, out + RESP_HDR,
			      RESP_MAX - RESP_HDR - 2 * MAC_LEN, &n);
	if (r < 0)
		return r;
	r = cr_noise_hs_split(noise, tx, rx);
	if (r < 0)
		return r;
	len = RESP_HDR + n;
	mac1_key_for(key, peer_pk);
	mac16(out + len, key, sizeof(key), out, len);
	len += MAC_LEN;
	/* We never ask the initiator for a cookie: a RESP is only taken for
	 * a handshake it started, which is cheap to check. */
	memset(out + len, 0, MAC_LEN);
	*out_len = len + MAC_LEN;
	return 0;
}

/* Allocates a responder handshake state for s holding the keys; the index
 * is registered.  NULL without memory. */
static struct sess_rhs *rhs_new(struct cr_sess_host *h, struct cr_sess *s,
				uint64_t now)
{
	struct sess_rhs *hs;

	if (heap_reserve(h) < 0)
		return NULL;
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL)
		return NULL;
	hs->c.local_index = idx_new(h, s);
	if (hs->c.local_index == 0) {
		free(hs);
		return NULL;
	}
	hs->c.started_ms = now;
	hs->c.deadline_ms = now + h->cfg.handshake_timeout_ms;
	return hs;
}

static void rhs_attach(struct cr_sess_host *h, struct cr_sess *s,
		       struct sess_rhs *hs, const struct cr_noise_cipher *tx,
		       const struct cr_noise_cipher *rx, uint32_t remote_index)
{
	memcpy(hs->tx, tx->k, KEY_LEN);
	memcpy(hs->rx, rx->k, KEY_LEN);
	hs->remote_index = remote_index;
	s->hs = &hs->c;
	heap_push(h, s);
}

/* A rekey INIT for the established session p, in which we respond.
 * Returns the drop reason without counting it. */
static enum cr_sess_drop init_rekey(struct cr_sess_host *h, struct cr_sess *p,
				    struct cr_noise_hs *noise,
				    const struct cr_addr *from, uint32_t sender,
				    const uint8_t ts[TS_LEN], uint64_t now)
{
	struct cr_noise_cipher tx, rx;
	struct sess_rhs *hs;
	uint8_t out[RESP_MAX];
	size_t len;
	int r;

	/* An unconfirmed earlier rekey is superseded by this one. */
	hs_free(h, p, 0);
	hs = rhs_new(h, p, now);
	if (hs == NULL)
		return CR_SESS_DROP_NOMEM;
	r = resp_write(h, noise, p->peer_pk, hs->c.local_index, sender, NULL, 0,
		       out, &len, &tx, &rx);
	h->stats.handshake_dh++;
	if (r < 0) {
		idx_remove(h, hs->c.local_index);
		free(hs);
		return CR_SESS_DROP_HANDSHAKE;
	}
	rhs_attach(h, p, hs, &tx, &rx, sender);
	sodium_memzero(&tx, sizeof(tx));
	sodium_memzero(&rx, sizeof(rx));
	memcpy(p->last_ts, ts, TS_LEN);
	host_send(h, p, from, out, len);
	return CR_SESS_DROP_NONE;
}

/* INIT = type | 3 reserved | sender | Noise msg 1 | mac1 | mac2 */
static enum cr_sess_drop on_init(struct cr_sess_host *h,
				 const struct cr_addr *from,
				 const uint8_t *buf, size_t len, uint64_t now)
{
	struct cr_noise_hs noise;
	struct cr_noise_cipher tx, rx;
	uint8_t payload[HELLO_OFF + CR_SESS_HELLO_MAX];
	uint8_t reply[CR_SESS_REPLY_MAX];
	uint8_t out[RESP_MAX];
	uint8_t mac[MAC_LEN], cookie[MAC_LEN];
	uint8_t rs[KEY_LEN];
	const uint8_t *edpk, *ts;
	enum cr_sess_drop why = CR_SESS_DROP_NONE;
	struct cr_sess *p, *q, *o, *n = NULL;
	struct sess_rhs *hs = NULL;
	struct cr_id peer;
	enum cr_id_type type;
	uint32_t sender;
	size_t plen, reply_len, olen;
	void *user = NULL;
	int rekey, ar, r;

	if (len < INIT_MIN || len > INIT_MAX)
		return drop(h, CR_SESS_DROP_LENGTH);
	/* mac1 first: it proves the sender knows our public key, and costs
	 * one hash. */
	mac16(mac, h->mac1_key, sizeof(h->mac1_key), buf, len - 2 * MAC_LEN);
	if (sodium_memcmp(mac, buf + len - 2 * MAC_LEN, MAC_LEN) != 0)
		return drop(h, CR_SESS_DROP_MAC1);
	sender = cp_get_u32(buf + 4);
	/* The pools of a host that answers handshakes; without memory,
	 * straight from libsodium. */
	if (h->rand_pool == NULL) {
		h->rand_pool = malloc(RAND_POOL);
		h->rand_off = RAND_POOL; /* empty: filled at first use */
	}
	if (h->eph == NULL && (h->eph = malloc(sizeof(*h->eph))) != NULL)
		h->eph->next = EPH_BATCH;

	/* Under load, demand a cookie before any DH or allocation. */
	if (now / 1000 != h->load_sec) {
		h->load_sec = now / 1000;
		h->load_count = 0;
	}
	if (h->load_count < UINT32_MAX)
		h->load_count++;
	if (h->cfg.load_handshakes_per_sec == 0 ||
	    h->load_count > h->cfg.load_handshakes_per_sec) {
		cookie_for(h, from, now, cookie);
		mac16(mac, cookie, sizeof(cookie), buf, len - MAC_LEN);
		if (sodium_memcmp(mac, buf + len - MAC_LEN, MAC_LEN) != 0) {
			cookie_send(h, from, sender, buf + len - 2 * MAC_LEN,
				    now);
			return drop(h, CR_SESS_DROP_COOKIE);
		}
		/* The address is real: it gets its share, no more.  Without
		 * memory for the table, no per-address limit. */
		if (h->cfg.addr_handshakes_per_sec != 0) {
			if (h->addr_limit == NULL)
				h->addr_limit = cr_ratelimit_new(
					h->cfg.addr_handshakes_per_sec,
					h->cfg.addr_handshakes_per_sec, NULL);
			if (h->addr_limit != NULL &&
			    !cr_ratelimit_allow(h->addr_limit, from, now))
				return drop(h, CR_SESS_DROP_RATELIMIT);
		}
	}

	/* <- e, es, s, ss, {payload} */
	r = cr_noise_hs_init_pub(&noise, CR_NOISE_IK, CR_NOISE_BLAKE2B, 0,
				 prologue, PROLOGUE_LEN, h->xsk, h->xpk, NULL);
	if (r == 0) {
		r = cr_noise_hs_read(&noise, buf + INIT_HDR,
				     len - INIT_HDR - 2 * MAC_LEN, payload,
				     sizeof(payload), &plen);
		h->stats.handshake_dh++;
	}
	if (r < 0) {
		why = CR_SESS_DROP_HANDSHAKE;
		goto out;
	}

	/* The payload names the initiator; its Ed25519 key must be the one
	 * behind the Noise static key that just authenticated. */
	if (plen < HELLO_OFF) {
		why = CR_SESS_DROP_HELLO;
		goto out;
	}
	edpk = payload;
	type = (enum cr_id_type)(payload[CR_PKLEN] & ~TYPE_REKEY);
	rekey = (payload[CR_PKLEN] & TYPE_REKEY) != 0;
	ts = payload + CR_PKLEN + 1;
	/* rs just authenticated (es, ss): checking that it is edpk's X25519
	 * form costs a multiplication, where converting edpk would cost a
	 * scalar multiplication, a seventh of the handshake. */
	if (cr_id_type_name(type) == NULL ||
	    sodium_is_zero(payload + INST_OFF, INST_LEN) ||
	    cr_noise_hs_remote_static(&noise, rs) < 0 ||
	    !cr_pk_x25519_matches(edpk, rs)) {
		why = CR_SESS_DROP_HELLO;
		goto out;
	}
	cr_id_from_pk(type, edpk, &peer);

	/* Replay: the timestamp must beat every one accepted from this
	 * peer by the sessions we hold with it. */
	p = peer_get(h, &peer, payload + INST_OFF);
	if (p != NULL) {
		const uint8_t *last = p->last_ts;

		if (p->pend != NULL &&
		    memcmp(p->pend->last_ts, last, TS_LEN) > 0)
			last = p->pend->last_ts;
		if (memcmp(ts, last, TS_LEN) <= 0) {
			why = CR_SESS_DROP_TIMESTAMP;
			goto out;
		}
	}

	if (rekey) {
		/* Only the initiator of an established session rekeys it. */
		if (p == NULL || !p->up || p->initiator) {
			why = CR_SESS_DROP_STATE;
			goto out;
		}
		why = init_rekey(h, p, &noise, from, sender, ts, now);
		goto out;
	}

	/*
	 * Both sides connecting at once: the side with the smaller public
	 * key keeps its own initiation and ignores the peer's, which in turn
	 * answers ours.  Without a tie-break each would replace the session
	 * the other keeps.
	 */
	q = NULL;
	o = peer_get(h, &peer, inst_zero); /* sessions we initiated */
	if (o != NULL && !o->up && o->initiator)
		q = o;
	else if (o != NULL && o->pend != NULL && o->pend->initiator)
		q = o->pend;
	if (q != NULL && memcmp(h->kp.pk, edpk, CR_PKLEN) < 0) {
		why = CR_SESS_DROP_STATE;
		goto out;
	}
	if ((h->cfg.max_sessions != 0 && h->count >= h->cfg.max_sessions) ||
	    (h->cfg.max_pending != 0 && h->pending >= h->cfg.max_pending)) {
		why = CR_SESS_DROP_NOMEM;
		goto out;
	}
	/* A new instance of an identity that holds twice its share: room
	 * for its handshakes under way, not for a table run without end. */
	if (h->cfg.max_per_identity != 0 && p == NULL) {
		struct cr_sess *oldest;
		size_t n_up;

		if (peer_count(h, &peer, &n_up, NULL, &oldest) >=
		    2 * (size_t)h->cfg.max_per_identity) {
			why = CR_SESS_DROP_IDENTITY;
			goto out;
		}
	}

	/* Allocate before asking the owner, so that an accepted peer never
	 * has to be dropped for want of memory after the owner set *user. */
	if (peer_reserve(h) < 0) {
		why = CR_SESS_DROP_NOMEM;
		goto out;
	}
	n = sess_new(h, edpk, &peer, 0);
	if (n != NULL) {
		memcpy(n->inst, payload + INST_OFF, INST_LEN);
		hs = rhs_new(h, n, now);
	}
	if (hs == NULL) {
		why = CR_SESS_DROP_NOMEM;
		goto out;
	}

	reply_len = sizeof(reply);
	ar = h->ops->accept(h->ctx, &peer, edpk, from, payload + HELLO_OFF,
			    plen - HELLO_OFF, reply, &reply_len, &user);
	if (reply_len > sizeof(reply))
		ar = -1;
	if (ar != 0) {
		/* Refused: answer (ar == 1) and keep nothing. */
		if (ar == 1 &&
		    resp_write(h, &noise, edpk, randombytes_random(), sender,
			       reply, reply_len, out, &olen, &tx, &rx) == 0) {
			h->stats.handshake_dh++;
			host_send(h, NULL, from, out, olen);
		}
		why = CR_SESS_DROP_REFUSED;
		goto out;
	}
	n->user = user;
	/* accept() may have re-entered the host and used the heap slot and
	 * peer table room reserved above. */
	r = heap_reserve(h) < 0 || peer_reserve(h) < 0 ? -ENOMEM : 0;
	if (r == 0) {
		r = resp_write(h, &noise, edpk, hs->c.local_index, sender, reply,
			       reply_len, out, &olen, &tx, &rx);
		h->stats.handshake_dh++;
	}
	if (r < 0) {
		/* The owner attached user: tell it, as for any accepted
		 * session that never completes. */
		sess_kill(h, n, CR_SESS_DOWN_TIMEOUT);
		n = NULL;
		why = r == -ENOMEM ? CR_SESS_DROP_NOMEM
				   : CR_SESS_DROP_HANDSHAKE;
		goto out;
	}

	/* Success: commit.  n stays unconfirmed until the first DATA. */
	rhs_attach(h, n, hs, &tx, &rx, sender);
	hs = NULL;
	n->pending = 1;
	h->pending++;
	n->addr = *from;
	n->last_recv_ms = n->last_sent_ms = now;
	memcpy(n->last_ts, ts, TS_LEN);
	host_send(h, n, from, out, olen);
	sess_link(h, n);
	n = NULL;
	/* Both sides connected at once and our key lost the tie-break: our
	 * own initiation gives way to the peer's. */
	o = peer_get(h, &peer, inst_zero);
	if (o != NULL && !o->up && o->initiator)
		sess_kill(h, o, CR_SESS_DOWN_REPLACED);
out:
	if (hs != NULL) {
		idx_remove(h, hs->c.local_index);
		free(hs);
	}
	if (n != NULL)
		sess_discard(h, n);
	cr_noise_hs_wipe(&noise);
	sodium_memzero(&tx, sizeof(tx));
	sodium_memzero(&rx, sizeof(rx));
	sodium_memzero(payload, sizeof(payload));
	sodium_memzero(reply, sizeof(reply));
	return why == CR_SESS_DROP_NONE ? why : drop(h, why);
}

/* DATA = type | 3 reserved | receiver | counter | ciphertext + tag */
static enum cr_sess_drop on_data(struct cr_sess_host *h,
				 const struct cr_addr *from,
				 const uint8_t *buf, size_t len, uint64_t now)
{
	uint8_t plain[CP_DATAGRAM_MAX];
	const uint8_t *key;
	struct cr_replay *replay = NULL; /* NULL: cur's window */
	struct cr_sess *s;
	uint64_t counter, birth, max_age = h->cfg.reject_after_ms;
	uint32_t receiver;
	size_t plen;
	int pending = 0, was_up, ok;
	uint8_t flags;

	if (len < CP_DATA_HDR)
		return drop(h, CR_SESS_DROP_SHORT);
	flags = buf[1];
	if (len < DATA_MIN || len > CP_DATAGRAM_MAX)
		return drop(h, CR_SESS_DROP_LENGTH);
	receiver = cp_get_u32(buf + 4);
	counter = cp_get_u64(buf + 8);
	s = idx_find(h, receiver);
	if (s == NULL)
		return drop(h, CR_SESS_DROP_INDEX);
	if (s->has_keys && receiver == s->cur.local_index) {
		key = s->cur.rx;
		birth = s->cur.birth_ms;
		max_age = reject_age(h, keys_idle(h, s));
	} else if (s->prev != NULL && receiver == s->prev->local_index) {
		key = s->prev->rx;
		birth = s->prev->birth_ms;
		replay = &s->prev->replay;
		/* Keys replaced by a rekey may have been idle ones. */
		max_age = reject_age(h, h->cfg.rekey_idle_ms != 0);
	} else if (!s->initiator && s->hs != NULL &&
		   receiver == s->hs->local_index) {
		key = rhs_of(s)->rx;
		birth = s->hs->started_ms;
		pending = 1;
	} else {
		return drop(h, CR_SESS_DROP_STATE);
	}
	if ((h->cfg.reject_after_ms != 0 && elapsed(now, birth) >= max_age) ||
	    counter >= msg_limit(h))
		return drop(h, CR_SESS_DROP_EXPIRED);
	plen = len - DATA_MIN;
	if (cr_noise_aead_open(h->aead, key, counter, buf, CP_DATA_HDR,
			       buf + CP_DATA_HDR, len - CP_DATA_HDR, plain) < 0)
		return drop(h, CR_SESS_DROP_DECRYPT);

	if (pending) {
		/* The initiator has the keys: confirm the handshake. */
		struct sess_rhs *hs = rhs_of(s);

		keys_install(h, s, hs->tx, hs->rx, hs->c.local_index,
			     hs->remote_index, now);
		hs_free(h, s, 1);
	} else if (replay == NULL && !s->is_wide &&
		   elapsed(now, s->last_recv_ms) < BUSY_MS) {
		/* Traffic flows: the wide window, until it stops.  Without
		 * memory the small one carries on. */
		struct cr_replay *w = malloc(sizeof(*w));

		if (w != NULL) {
			cr_replay_widen(&s->cur.rp.small, w);
			s->cur.rp.wide = w;
			s->is_wide = 1;
		}
	}
	/* Only now, authenticated, may the counter move the window. */
	if (replay != NULL)
		ok = cr_replay_accept(replay, counter, msg_limit(h));
	else if (s->is_wide)
		ok = cr_replay_accept(wide_of(s), counter, msg_limit(h));
	else
		ok = cr_replay_small_accept(&s->cur.rp.small, counter,
					    msg_limit(h));
	if (!ok)
		return drop(h, CR_SESS_DROP_REPLAY);
	if (replay == NULL)
		s->peer_used_cur = 1;
	/* Roaming: the peer is wherever its last authentic datagram came
	 * from (address and relay route), unless the owner picks paths; a
	 * new path is validated first (path_moved()). */
	if (!s->fixed_path && !same_path(&s->addr, from))
		path_moved(h, s, from);
	s->last_recv_ms = now;
	if (s->path_new && same_path(&s->addr, from)) {
		struct sess_path *p = path_of(h, s);

		p->rx += len;
		if (flags == DATA_PATH_RESPONSE && plen == PATH_TOKEN_LEN &&
		    sodium_memcmp(plain, p->token, PATH_TOKEN_LEN) == 0) {
			h->stats.paths_validated++;
			path_drop(h, s);
		} else if (!p->challenged ||
			   elapsed(now, p->challenge_ms) >= PATH_RETRY_MS) {
			uint8_t token[PATH_TOKEN_LEN];

			p->challenged = 1;
			p->challenge_ms = now;
			memcpy(token, p->token, sizeof(token));
			h->stats.path_challenges++;
			data_send_flags(h, s, &s->addr, DATA_PATH_CHALLENGE,
					token, sizeof(token), now);
		}
	}
	/* The peer checks the path we moved to: the token goes back where
	 * the challenge came from. */
	if (flags == DATA_PATH_CHALLENGE && plen == PATH_TOKEN_LEN && s->up)
		data_send_flags(h, s, from, DATA_PATH_RESPONSE, plain, plen,
				now);
	h->rx_from = from;
	if (pending) {
		h->stats.handshakes_completed++;
		was_up = s->up;
		s->up = 1;
		if (s->pending) {
			s->pending = 0;
			h->pending--;
		}
		if (!was_up)
			sess_promote(h, s);
		if (!was_up && !s->dead && h->cfg.max_per_identity != 0) {
			struct cr_sess *oldest;
			size_t n_up;

			/* One more of this identity is up: beyond its share,
			 * its least recently heard session gives way. */
			peer_count(h, &s->peer, &n_up, s, &oldest);
			if (n_up > h->cfg.max_per_identity && oldest != NULL)
				sess_kill(h, oldest, CR_SESS_DOWN_REPLACED);
		}
		if (!s->dead && h->ops->up != NULL)
			h->ops->up(h->ctx, s, NULL, 0, was_up);
	}
	if (flags == 0 && plen > 0 && !s->dead && h->ops->recv != NULL)
		h->ops->recv(h->ctx, s, plain, plen);
	h->rx_from = NULL;
	return CR_SESS_DROP_NONE;
}

enum cr_sess_drop cr_sess_host_input(struct cr_sess_host *h,
				     const struct cr_addr *from,
				     const uint8_t *buf, size_t len,
				     uint64_t now_ms)
{
	static const struct cr_addr none;
	enum cr_sess_drop why;

	h->stats.rx_datagrams++;
	h->stats.rx_bytes += len;
	if (buf == NULL || len < 4)
		return drop(h, CR_SESS_DROP_SHORT);
	if (from == NULL)
		from = &none;
	/* The reserved bytes must be zero: a later version may use them.
	 * DATA's first one carries its flags. */
	if ((buf[1] != 0 &&
	     (buf[0] != CP_MSG_DATA || buf[1] > DATA_PATH_RESPONSE)) ||
	    buf[2] != 0 || buf[3] != 0)
		return drop(h, CR_SESS_DROP_TYPE);
	host_enter(h);
	switch (buf[0]) {
	case CP_MSG_INIT:
		why = on_init(h, from, buf, len, now_ms);
		break;
	case CP_MSG_RESP:
		why = on_resp(h, from, buf, len, now_ms);
		break;
	case CP_MSG_COOKIE:
		why = on_cookie(h, buf, len, now_ms);
		break;
	case CP_MSG_DATA:
		why = on_data(h, from, buf, len, now_ms);
		break;
	default:
		why = drop(h, CR_SESS_DROP_TYPE);
		break;
	}
	host_leave(h);
	return why;
}

/* ---- Timers ----------------------------------------------------------- */

/* A handshake reached its deadline: retransmit, or give up. */
static void hs_due(struct cr_sess_host *h, struct cr_sess *s, uint64_t now)
{
	if (elapsed(now, s->hs->started_ms) >= h->cfg.handshake_timeout_ms) {
		/* An established session keeps its working keys; the next
		 * timer pass tries the rekey again. */
		hs_free(h, s, 0);
		if (!s->up)
			sess_kill(h, s, CR_SESS_DOWN_TIMEOUT);
		return;
	}
	if (!s->initiator) {
		/* Responder deadlines are the timeout; not reached. */
		s->hs->deadline_ms = s->hs->started_ms +
				     h->cfg.handshake_timeout_ms;
		heap_update(h, s);
		return;
	}
	/* A new ephemeral key and timestamp each try. */
	if (init_send(h, s, now) < 0) {
		hs_free(h, s, 0);
		if (!s->up)
			sess_kill(h, s, CR_SESS_DOWN_TIMEOUT);
		return;
	}
	s->hs->deadline_ms = retry_deadline(h, s->hs, now);
	heap_update(h, s);
}

static void sess_timers(struct cr_sess_host *h, struct cr_sess *s,
			uint64_t now)
{
	if (s->dead || !s->up)
		return;
	if (h->cfg.dead_after_ms != 0 &&
	    elapsed(now, s->last_recv_ms) >= h->cfg.dead_after_ms) {
		sess_kill(h, s, CR_SESS_DOWN_DEAD);
		return;
	}
	if (keys_expired(h, s, now) && s->hs == NULL) {
		sess_kill(h, s, CR_SESS_DOWN_EXPIRED);
		return;
	}
	if (need_rekey(h, s, now))
		hs_start(h, s, NULL, 0, 1, NULL, now);
	if (h->cfg.keepalive_ms != 0 &&
	    elapsed(now, s->last_sent_ms) >= h->cfg.keepalive_ms)
		data_send(h, s, NULL, 0, now);
	if (s->is_wide && elapsed(now, s->last_recv_ms) >= IDLE_MS)
		wide_drop(s, 1);
	if (s->prev != NULL &&
	    ((h->cfg.reject_after_ms != 0 &&
	      elapsed(now, s->prev->birth_ms) >=
		      reject_age(h, h->cfg.rekey_idle_ms != 0)) ||
	     (s->peer_used_cur &&
	      elapsed(now, s->cur.birth_ms) >= PREV_GRACE_MS)))
		prev_free(h, s);
}

uint64_t cr_sess_host_tick(struct cr_sess_host *h, uint64_t now_ms)
{
	uint64_t next;

	host_enter(h);
	while (h->heap_n > 0 && h->heap[0].deadline_ms <= now_ms)
		hs_due(h, h->heap[0].s, now_ms);
	if (now_ms >= h->next_scan_ms) {
		/* Sessions created by callbacks during the pass may or may
		 * not be visited; they have no timer due yet.  Slabs freed
		 * during it hold only dead sessions, which host_enter()
		 * keeps until the pass ends. */
		for (size_t i = 0; i < h->n_slabs; i++) {
			for (size_t j = 0; j < SLAB_SESS; j++) {
				struct sess_slab *sl = h->slabs[i];

				if (sl == NULL)
					break;
				if (sl->s[j].host != NULL)
					sess_timers(h, &sl->s[j], now_ms);
			}
		}
		h->next_scan_ms = now_ms + h->scan_ms;
	}
	next = h->next_scan_ms;
	if (h->heap_n > 0 && h->heap[0].deadline_ms < next)
		next = h->heap[0].deadline_ms;
	host_leave(h);
	if (next <= now_ms)
		return 1;
	return next - now_ms < h->scan_max_ms ? next - now_ms : h->scan_max_ms;
}

/* ---- Host ------------------------------------------------------------- */

/* Zero means "the default" where a zero would make no sense; the timer
 * pass runs often enough for the shortest timer. */
static void cfg_apply(struct cr_sess_host *h, const struct cr_sess_cfg *cfg)
{
	struct cr_sess_cfg def;
	uint32_t timers[4];

	cr_sess_cfg_default(&def);
	h->cfg = *cfg;
	if (h->cfg.handshake_retry_ms == 0)
		h->cfg.handshake_retry_ms = def.handshake_retry_ms;
	if (h->cfg.handshake_timeout_ms == 0)
		h->cfg.handshake_timeout_ms = def.handshake_timeout_ms;
	timers[0] = h->cfg.keepalive_ms;
	timers[1] = h->cfg.dead_after_ms;
	timers[2] = h->cfg.rekey_after_ms;
	timers[3] = h->cfg.reject_after_ms;
	if (h->addr_limit != NULL && h->cfg.addr_handshakes_per_sec != 0)
		cr_ratelimit_set(h->addr_limit, h->cfg.addr_handshakes_per_sec,
				 h->cfg.addr_handshakes_per_sec);
	h->scan_max_ms = h->cfg.scan_max_ms != 0 ? h->cfg.scan_max_ms : SCAN_MAX_MS;
	h->scan_ms = h->scan_max_ms;
	for (int i = 0; i < 4; i++) {
		uint64_t q = timers[i] / 4;

		if (timers[i] != 0 && q < h->scan_ms)
			h->scan_ms = q > 0 ? q : 1;
	}
	h->next_scan_ms = 0;
}

struct cr_sess_host *cr_sess_host_new(const struct cr_keypair *kp,
				      const struct cr_sess_cfg *cfg,
				      const struct cr_sess_ops *ops, void *ctx,
				      struct cr_error **err)
{
	struct cr_sess_host *h;
	struct cr_sess_cfg def;
	uint8_t xpk[KEY_LEN];

	if (ops == NULL || ops->send == NULL || ops->accept == NULL) {
		cr_error_set(err, EINVAL, "session host needs send and accept "
					  "callbacks");
		return NULL;
	}
	if (cr_id_type_name(kp->type) == NULL) {
		cr_error_set(err, EINVAL, "invalid key type %d", (int)kp->type);
		return NULL;
	}
	if (sodium_init() < 0) {
		cr_error_set(err, EIO, "cannot initialise libsodium");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	h->kp = *kp;
	h->aead = cr_noise_aead_new();
	if (h->aead == NULL) {
		cr_sess_host_free(h);
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (cr_keypair_x25519(kp, h->xsk, xpk) < 0) {
		cr_sess_host_free(h);
		cr_error_set(err, EINVAL, "key pair has no X25519 form");
		return NULL;
	}
	crypto_scalarmult_base(h->xpk, h->xsk);
	cr_id_from_pk(kp->type, kp->pk, &h->id);
	mac1_key_for(h->mac1_key, kp->pk);
	cookie_key_for(h->cookie_key, kp->pk);
	randombytes_buf(h->peer_key, sizeof(h->peer_key));
	do {
		randombytes_buf(h->instance, sizeof(h->instance));
	} while (sodium_is_zero(h->instance, sizeof(h->instance)));
	if (cfg == NULL) {
		cr_sess_cfg_default(&def);
		cfg = &def;
	}
	cfg_apply(h, cfg);
	h->ops = ops;
	h->ctx = ctx;
	h->wallclock = realtime_ns;
	return h;
}

struct cr_sess_host *cr_sess_host_free(struct cr_sess_host *h)
{
	if (h == NULL)
		return NULL;
	cr_noise_aead_free(h->aead);
	if (h->rand_pool != NULL) {
		sodium_memzero(h->rand_pool, RAND_POOL);
		free(h->rand_pool);
	}
	if (h->eph != NULL) {
		sodium_memzero(h->eph, sizeof(*h->eph));
		free(h->eph);
	}
	for (size_t i = 0; i < h->n_slabs; i++) {
		struct sess_slab *sl = h->slabs[i];

		for (size_t j = 0; sl != NULL && j < SLAB_SESS; j++) {
			struct cr_sess *s = &sl->s[j];
			size_t size;

			if (s->host == NULL)
				continue;
			if (s->hs != NULL) {
				size = s->initiator
					       ? sizeof(struct sess_ihs) +
							 ihs_of(s)->hello_len
					       : sizeof(struct sess_rhs);
				sodium_memzero(s->hs, size);
				free(s->hs);
			}
			if (s->prev != NULL) {
				sodium_memzero(s->prev, sizeof(*s->prev));
				free(s->prev);
			}
			wide_drop(s, 0);
		}
		if (sl != NULL) {
			sodium_memzero(sl, sizeof(*sl));
			free(sl);
		}
	}
	free(h->slabs);
	cr_ratelimit_free(h->addr_limit);
	if (h->paths != NULL) {
		size_t pos = 0;
		const void *key;
		void *val;

		while (cr_map_next(h->paths, &pos, &key, &val))
			free(val);
		cr_map_free(h->paths);
	}
	free(h->idx);
	free(h->peers);
	free(h->heap);
	sodium_memzero(h, sizeof(*h));
	free(h);
	return NULL;
}

void cr_sess_host_set_cfg(struct cr_sess_host *h, const struct cr_sess_cfg *cfg)
{
	cfg_apply(h, cfg);
}

void cr_sess_host_set_wallclock(struct cr_sess_host *h,
				uint64_t (*fn)(void *ctx), void *ctx)
{
	h->wallclock = fn != NULL ? fn : realtime_ns;
	h->wallclock_ctx = fn != NULL ? ctx : NULL;
}

/* ---- Sessions: the owner's side --------------------------------------- */

struct cr_sess *cr_sess_connect(struct cr_sess_host *h,
				const uint8_t peer_pk[CR_PKLEN],
				enum cr_id_type peer_type,
				const struct cr_addr *to, const uint8_t *hello,
				size_t hello_len, uint64_t now_ms,
				struct cr_error **err)
{
	struct cr_sess *s;
	struct cr_id id;
	uint8_t xpk[KEY_LEN];

	if (hello_len > CR_SESS_HELLO_MAX) {
		cr_error_set(err, EMSGSIZE, "hello of %zu bytes is larger "
					    "than %d",
			     hello_len, CR_SESS_HELLO_MAX);
		return NULL;
	}
	if (hello == NULL && hello_len > 0) {
		cr_error_set(err, EINVAL, "hello is NULL");
		return NULL;
	}
	if (cr_id_type_name(peer_type) == NULL) {
		cr_error_set(err, EINVAL, "invalid peer type %d",
			     (int)peer_type);
		return NULL;
	}
	if (cr_pk_x25519(peer_pk, xpk) < 0) {
		cr_error_set(err, EINVAL, "peer key is not a valid Ed25519 "
					  "public key");
		return NULL;
	}
	cr_id_from_pk(peer_type, peer_pk, &id);
	if (cr_id_equal(&id, &h->id)) {
		cr_error_set(err, EINVAL, "cannot connect to our own identity");
		return NULL;
	}
	if (h->cfg.max_sessions != 0 && h->count >= h->cfg.max_sessions) {
		cr_error_set(err, EAGAIN, "session limit (%u) reached",
			     h->cfg.max_sessions);
		return NULL;
	}
	if (peer_reserve(h) < 0) {
		cr_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	host_enter(h);
	s = sess_new(h, peer_pk, &id, 1);
	if (s == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	s->addr = *to;
	s->last_sent_ms = s->last_recv_ms = now_ms;
	if (hs_start(h, s, hello, hello_len, 0, xpk, now_ms) < 0) {
		sess_discard(h, s);
		s = NULL;
		cr_error_set(err, ENOMEM, "cannot start a handshake");
		goto out;
	}
	sess_link(h, s);
	if (s->dead) {
		/* A down callback of the session it replaced closed it. */
		s = NULL;
		cr_error_set(err, ECANCELED, "session closed while connecting");
	}
out:
	host_leave(h);
	return s;
}

size_t cr_sess_max_payload(void)
{
	return CP_SESS_PAYLOAD_MAX;
}

int cr_sess_send_to(struct cr_sess *s, const struct cr_addr *to,
		    const uint8_t *payload, size_t len, uint64_t now_ms)
{
	struct cr_sess_host *h = s->host;
	int r;

	if (len > CP_SESS_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (payload == NULL && len > 0)
		return -EINVAL;
	if (s->dead || !s->up)
		return -EAGAIN;
	host_enter(h);
	r = data_send_to(h, s, to, payload, len, now_ms);
	/* Count-based rekeys cannot wait for the timer pass. */
	if (need_rekey(h, s, now_ms))
		hs_start(h, s, NULL, 0, 1, NULL, now_ms);
	host_leave(h);
	return r;
}

int cr_sess_sendv(struct cr_sess *s, const struct iovec *iov, int iovcnt,
		  uint64_t now_ms)
{
	struct cr_sess_host *h = s->host;
	size_t len = 0;
	int r;

	if (iov == NULL || iovcnt < 1)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
			return -EINVAL;
		if (iov[i].iov_len > CP_SESS_PAYLOAD_MAX - len)
			return -EMSGSIZE;
		len += iov[i].iov_len;
	}
	if (s->dead || !s->up)
		return -EAGAIN;
	host_enter(h);
	r = data_send_v(h, s, &s->addr, 0, iov, iovcnt, len, now_ms);
	if (need_rekey(h, s, now_ms))
		hs_start(h, s, NULL, 0, 1, NULL, now_ms);
	host_leave(h);
	return r;
}

void cr_sess_set_roaming(struct cr_sess *s, int on)
{
	s->fixed_path = !on;
}

const struct cr_addr *cr_sess_host_rx_from(const struct cr_sess_host *h)
{
	return h->rx_from;
}

int cr_sess_send(struct cr_sess *s, const uint8_t *payload, size_t len,
		 uint64_t now_ms)
{
	return cr_sess_send_to(s, &s->addr, payload, len, now_ms);
}

void cr_sess_close(struct cr_sess *s)
{
	struct cr_sess_host *h = s->host;

	host_enter(h);
	sess_kill(h, s, CR_SESS_DOWN_CLOSED);
	host_leave(h);
}

int cr_sess_is_up(const struct cr_sess *s)
{
	return s->up && !s->dead;
}

int cr_sess_is_initiator(const struct cr_sess *s)
{
	return s->initiator;
}

const struct cr_id *cr_sess_peer_id(const struct cr_sess *s)
{
	return &s->peer;
}

const uint8_t *cr_sess_peer_pk(const struct cr_sess *s)
{
	return s->peer_pk;
}

const struct cr_addr *cr_sess_peer_addr(const struct cr_sess *s)
{
	return &s->addr;
}

void cr_sess_set_peer_addr(struct cr_sess *s, const struct cr_addr *to)
{
	/* The owner chose the path (after its own probes): no budget. */
	path_drop(s->host, s);
	s->addr = *to;
}

uint64_t cr_sess_last_recv_ms(const struct cr_sess *s)
{
	return s->last_recv_ms;
}

void cr_sess_set_user(struct cr_sess *s, void *user)
{
	s->user = user;
}

void *cr_sess_user(const struct cr_sess *s)
{
	return s->user;
}

void cr_sess_set_tag(struct cr_sess *s, uint16_t tag)
{
	s->tag = tag;
}

uint16_t cr_sess_tag(const struct cr_sess *s)
{
	return s->tag;
}

struct cr_sess_host *cr_sess_get_host(const struct cr_sess *s)
{
	return s->host;
}

size_t cr_sess_host_count(const struct cr_sess_host *h)
{
	return h->count;
}

const struct cr_sess_stats *cr_sess_host_stats(const struct cr_sess_host *h)
{
	return &h->stats;
}

const struct cr_keypair *cr_sess_host_keypair(const struct cr_sess_host *h)
{
	return &h->kp;
}

size_t cr_sess_size(void)
{
	return sizeof(struct cr_sess);
}
