/*
 * Datagram sessions: Noise IK (25519, ChaChaPoly, BLAKE2b) handshakes and
 * authenticated transport datagrams between two identities, in the manner
 * of WireGuard.  Used for hop sessions (device or vendor <-> ring node, node
 * <-> node) and for end-to-end sessions (vendor <-> device).
 *
 * The module does no I/O and reads no clock but the wall clock for the INIT
 * timestamp (replaceable: cr_sess_host_set_wallclock()): the owner feeds
 * received datagrams to cr_sess_host_input(), calls cr_sess_host_tick() from
 * a timer, and sends what the `send` callback hands it.  One host serves
 * every peer of a process over one UDP socket; a session costs a few hundred
 * bytes, and the handshake state exists only while a handshake is under way.
 *
 * Wire formats (proto/include/cp/wire.h):
 *   INIT   type=1 | 3 reserved | sender index u32 | Noise msg 1 | mac1 | mac2
 *   RESP   type=2 | 3 reserved | sender u32 | receiver u32 | Noise msg 2 |
 *          mac1 | mac2
 *   COOKIE type=3 | 3 reserved | receiver u32 | nonce[24] | cookie[16]+tag
 *   DATA   type=4 | flags | 2 reserved | receiver u32 | counter u64 |
 *          ciphertext+tag  (flags: 0 payload, 1 path challenge, 2 path
 *          response; see cr_sess_set_roaming())
 * The IK msg 1 payload carries the initiator's Ed25519 public key and type
 * (identity = hash of it; its X25519 form must equal the Noise static key),
 * a TAI64N timestamp (replayed initiations are refused), the initiating
 * host's random instance id and the owner's hello:
 * pk[32] | type[1] | TAI64N[12] | instance[8] | hello.  Sessions are told
 * apart by (identity, instance), so one identity may run several hosts at
 * once (a vendor's CLI processes) without one replacing the other's session.  Bit 0x80 of the type byte
 * marks a rekey: the initiator continues the session it already has with
 * the responder (no accept() call; refused when the responder has no such
 * session), where a clear bit asks for a new session, which replaces any
 * session with the same identity and instance once it is up (down
 * REPLACED).  The msg 2
 * payload is the responder's reply.
 * mac1 = BLAKE2b-128(key = BLAKE2b-256("mac1----" || receiver's Ed25519 pk),
 * message up to mac1) on INIT and RESP; mac2 = BLAKE2b-128(key = cookie,
 * message up to mac2) on an INIT, zero otherwise.  The cookie is
 * BLAKE2b-128(key = secret rotated every 120 s, sender address) sent in a
 * COOKIE encrypted with XChaCha20-Poly1305 under BLAKE2b-256("cookie--" ||
 * responder's pk), AD = the INIT's mac1.  DATA's 16-byte header is the AEAD
 * AD and its counter the nonce.
 * The responder commits no state until the initiator's first DATA confirms
 * the keys: an accepted session exists, but it is not up and replaces
 * nothing before that.  Under a handshake flood (more INITs per second than
 * cfg.load_handshakes_per_sec) an INIT without a valid mac2 gets a stateless
 * COOKIE reply before anything is allocated or any DH is computed, and one
 * with a valid mac2 (its source address is real) is taken only while that
 * address has a token (cfg.addr_handshakes_per_sec, cr/ratelimit.h): one
 * address can no longer fill the host's CPU with handshakes, replayed or
 * fresh, and every other address keeps its share.
 * Empty DATA datagrams are keepalives.
 *
 * Timestamps: a responder refuses an INIT whose timestamp is not newer than
 * the last one it accepted from that identity while it holds a session with
 * it.  A device whose clock restarts in the past after a reboot can thus
 * reconnect only once its old session on the responder has died.
 *
 * Callbacks may call cr_sess_send(), cr_sess_close() and cr_sess_connect(),
 * except `send`, which must only transmit.  None may call
 * cr_sess_host_tick(), cr_sess_host_input() or cr_sess_host_free().
 */
#ifndef CR_SESSION_H
#define CR_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "cr/addr.h"
#include "cr/error.h"
#include "cr/identity.h"

struct cr_sess_host;
struct cr_sess;

/* Why a datagram was dropped; counted per host. */
enum cr_sess_drop {
	CR_SESS_DROP_NONE = 0,
	CR_SESS_DROP_SHORT,       /* under 4 bytes, or DATA under 16 */
	CR_SESS_DROP_TYPE,        /* unknown type or non-zero reserved bytes */
	CR_SESS_DROP_LENGTH,      /* wrong length for its type */
	CR_SESS_DROP_MAC1,        /* mac1 does not match our key */
	CR_SESS_DROP_COOKIE,      /* under load, no valid mac2: cookie sent */
	CR_SESS_DROP_HANDSHAKE,   /* Noise message failed to authenticate */
	CR_SESS_DROP_HELLO,       /* bad identity in the initiation payload */
	CR_SESS_DROP_TIMESTAMP,   /* replayed or older initiation */
	CR_SESS_DROP_REFUSED,     /* the owner refused the peer (accept != 0) */
	CR_SESS_DROP_INDEX,       /* no session with that receiver index */
	CR_SESS_DROP_REPLAY,      /* counter already seen or too old */
	CR_SESS_DROP_DECRYPT,     /* transport datagram failed to authenticate */
	CR_SESS_DROP_EXPIRED,     /* keys past their reject-after time */
	CR_SESS_DROP_STATE,       /* message not expected in this state (also
				   * a rekey with no session, and the peer's
				   * INIT when both connect at once and our
				   * public key is the smaller) */
	CR_SESS_DROP_NOMEM,       /* out of memory, max_sessions or max_pending */
	CR_SESS_DROP_RATELIMIT,   /* under load, the source address used up
				   * its handshakes for now */
	CR_SESS_DROP_IDENTITY,    /* the identity has twice max_per_identity
				   * sessions, confirmed or not */
	CR_SESS_DROP_MAX
};

/* Returns a short snake_case name for metrics and logs. */
const char *cr_sess_drop_name(enum cr_sess_drop reason);

/* Why a session went down. */
enum cr_sess_down {
	CR_SESS_DOWN_CLOSED = 1,  /* cr_sess_close() by the owner */
	CR_SESS_DOWN_TIMEOUT,     /* handshake never completed (also an
				   * accepted session never confirmed) */
	CR_SESS_DOWN_DEAD,        /* nothing received for dead_after_ms */
	CR_SESS_DOWN_EXPIRED,     /* keys too old and no rekey happened */
	CR_SESS_DOWN_REPLACED,    /* the same peer made a new session (or a
				   * session not yet up was superseded) */
};

/* For the timers and counts, 0 means "never", except where noted. */
struct cr_sess_cfg {
	uint32_t keepalive_ms;           /* empty DATA after this send-idle time; 0 off */
	uint32_t dead_after_ms;          /* down when nothing received this long */
	uint32_t rekey_after_ms;         /* initiator starts a new handshake */
	uint32_t reject_after_ms;        /* keys no longer used */
	uint64_t rekey_after_msgs;
	uint64_t reject_after_msgs;      /* 0: the default */
	uint32_t handshake_retry_ms;     /* INIT retransmission interval; 0: default */
	uint32_t handshake_timeout_ms;   /* give up; 0: default */
	uint32_t load_handshakes_per_sec; /* demand cookies above; 0 always */
	uint32_t max_sessions;           /* refuse new peers beyond; 0 unlimited */
	/* Accepted sessions still waiting for the initiator's first DATA:
	 * INITs beyond are dropped (NOMEM), so a flood of valid INITs from
	 * fresh identities costs bounded memory; 0 unlimited. */
	uint32_t max_pending;
	/* Under load, INITs a second one source address may have handled
	 * (after its cookie), with as many saved up; 0 no limit. */
	uint32_t addr_handshakes_per_sec;
	/* Established sessions one identity may hold at once (one per
	 * instance, see above); 0 no limit.  When one more comes up, the one
	 * of that identity heard from least recently goes down (REPLACED):
	 * only the key's holder can confirm a session, so it only ever
	 * displaces its own.  INITs from an identity that holds twice as
	 * many, confirmed or not, are dropped (IDENTITY). */
	uint32_t max_per_identity;
	/* The longest gap between two passes over the sessions' timers
	 * (keepalive, dead, rekey, reject); 0: 1 s.  A device that wants to
	 * sleep between its keepalives raises it: those timers then fire up
	 * to a quarter of the shortest one late (never later than this). */
	uint32_t scan_max_ms;
	/* Rekey by need (0: off, every rekey_after_ms as before).  Keys
	 * that carried fewer than rekey_busy_msgs datagrams (sent and
	 * received) are idle: they are renewed only at rekey_idle_ms of age,
	 * and are no longer used (reject) at rekey_idle_ms plus
	 * reject_after_ms - rekey_after_ms.  Keys that carried more are
	 * renewed at rekey_after_ms and rejected at reject_after_ms as
	 * before, so traffic resuming on an old idle key rekeys within
	 * rekey_busy_msgs datagrams.  A responder counts a key busy only at
	 * twice rekey_busy_msgs (both ends count a little differently when
	 * datagrams are lost).  Both ends of a session must use it. */
	uint32_t rekey_idle_ms;
	uint32_t rekey_busy_msgs;
};

/* What carrier-agent and carrier-node use (docs/design/ring-cluster.md,
 * "Rekeying idle sessions"). */
enum {
	CR_SESS_REKEY_IDLE_MS = 3600 * 1000,
	CR_SESS_REKEY_BUSY_MSGS = 1024,
};

/* Defaults: keepalive 15 s, dead 45 s, rekey 120 s / 2^60, reject 180 s /
 * 2^64 - 2^13, retry 1 s (plus up to 1/8 jitter), timeout 10 s, load 2000/s
 * (INITs with a valid mac1 per second of now_ms), no session limit, 4096
 * pending, 20 handshakes a second per address under load, no limit per
 * identity. */
void cr_sess_cfg_default(struct cr_sess_cfg *cfg);

struct cr_sess_ops {
	/* Sends one datagram to `to` (to->route set: through that relay
	 * route).  s is NULL for stateless replies (COOKIE, a refusing RESP). */
	void (*send)(void *ctx, struct cr_sess *s, const struct cr_addr *to,
		     const uint8_t *buf, size_t len);
	/*
	 * Responder: an authenticated initiation from `peer` (its identity;
	 * pk is its Ed25519 key) with the initiator's hello.  Return 0 to
	 * accept; 1 to refuse with `reply` (written to reply[0..*reply_len),
	 * capacity *reply_len on entry) sent back authenticated in the RESP
	 * while no session is kept; -1 to drop silently.  On accept, reply
	 * may carry a payload too, and *user is attached to the session.
	 * The reply capacity is CR_SESS_REPLY_MAX.  An accepted session is
	 * not up until the initiator's first DATA (then ops->up); if that
	 * never comes it goes down with TIMEOUT, or REPLACED when the
	 * initiator retried with a new INIT, so the owner can free *user.
	 */
	int (*accept)(void *ctx, const struct cr_id *peer,
		      const uint8_t pk[CR_PKLEN], const struct cr_addr *from,
		      const uint8_t *hello, size_t hello_len, uint8_t *reply,
		      size_t *reply_len, void **user);
	/*
	 * The session is usable.  Initiator: on receiving the RESP, with the
	 * responder's reply payload (possibly a refusal: the owner decides and
	 * may close).  Responder: on the first DATA that confirms the keys,
	 * with no payload.  Also called after every completed rekey with
	 * rekey=1 (owners usually ignore those).
	 */
	void (*up)(void *ctx, struct cr_sess *s, const uint8_t *reply,
		   size_t reply_len, int rekey);
	/* A decrypted, non-empty DATA payload. */
	void (*recv)(void *ctx, struct cr_sess *s, const uint8_t *msg,
		     size_t len);
	/* The session is gone; s is freed when this returns. */
	void (*down)(void *ctx, struct cr_sess *s, enum cr_sess_down why);
	/*
	 * Optional (both or neither): room for a DATA datagram of len bytes
	 * to `to`, which the host fills and which then leaves as if given to
	 * send(), so that the sealed bytes are written where they are sent
	 * from, not copied there.  NULL: the host uses send().  unreserve
	 * gives back the room last reserved when the host could not fill it.
	 */
	uint8_t *(*reserve)(void *ctx, struct cr_sess *s,
			    const struct cr_addr *to, size_t len);
	void (*unreserve)(void *ctx, uint8_t *room);
};

struct cr_sess_stats {
	uint64_t drops[CR_SESS_DROP_MAX];
	uint64_t handshakes_initiated;   /* connects and rekeys started */
	uint64_t handshakes_completed;   /* keys installed, either role */
	uint64_t handshake_dh;           /* Noise messages read or written:
					  * each costs 2-3 X25519 operations */
	uint64_t cookies_sent;
	uint64_t rx_datagrams, tx_datagrams;
	uint64_t rx_bytes, tx_bytes;
	/* Path validation (roaming): challenges sent to a new path, paths
	 * validated by the peer's answer, and DATA not sent because it would
	 * exceed three times the bytes received from an unvalidated path. */
	uint64_t path_challenges, paths_validated, path_limited;
};

/* kp is copied.  ops and ctx are borrowed for the host's life. */
struct cr_sess_host *cr_sess_host_new(const struct cr_keypair *kp,
				      const struct cr_sess_cfg *cfg,
				      const struct cr_sess_ops *ops, void *ctx,
				      struct cr_error **err);
/* Frees every session (no down callbacks) and the host; returns NULL. */
struct cr_sess_host *cr_sess_host_free(struct cr_sess_host *h);

/* Replaces the configuration (timers apply from the next tick). */
void cr_sess_host_set_cfg(struct cr_sess_host *h, const struct cr_sess_cfg *cfg);

/* Replaces the wall clock behind INIT timestamps (nanoseconds since 1970;
 * default CLOCK_REALTIME; fn NULL restores it).  Timestamps stay strictly
 * increasing per host whatever fn returns. */
void cr_sess_host_set_wallclock(struct cr_sess_host *h,
				uint64_t (*fn)(void *ctx), void *ctx);

/*
 * Feeds one received datagram (INIT, RESP, COOKIE or DATA; from->route set
 * when it came through a relay route).  Returns CR_SESS_DROP_NONE when it was
 * used, otherwise the reason it was dropped (already counted).
 */
enum cr_sess_drop cr_sess_host_input(struct cr_sess_host *h,
				     const struct cr_addr *from,
				     const uint8_t *buf, size_t len,
				     uint64_t now_ms);

/* Runs timers (retransmits, keepalives, rekeys, expiry).  Returns the
 * number of milliseconds until it next needs to run (1 to 1000, or to
 * scan_max_ms when set).  Handshake deadlines are kept in a heap; the other
 * timers are checked by one pass over all sessions at most once a second
 * (scan_max_ms; more often when a configured timer is under 4 times
 * that), so they fire up to that much late. */
uint64_t cr_sess_host_tick(struct cr_sess_host *h, uint64_t now_ms);

/*
 * Starts a session with the peer whose Ed25519 key is peer_pk at `to`.  The
 * hello (at most CR_SESS_HELLO_MAX bytes) travels encrypted in msg 1.  The
 * returned session belongs to the host; it is usable after ops->up.
 */
enum {
	CR_SESS_HELLO_MAX = 256,
	CR_SESS_REPLY_MAX = 256, /* the responder's reply in msg 2 */
};
struct cr_sess *cr_sess_connect(struct cr_sess_host *h,
				const uint8_t peer_pk[CR_PKLEN],
				enum cr_id_type peer_type,
				const struct cr_addr *to, const uint8_t *hello,
				size_t hello_len, uint64_t now_ms,
				struct cr_error **err);

/* Largest payload cr_sess_send() takes (CP_SESS_PAYLOAD_MAX: a datagram
 * of CP_DATAGRAM_MAX bytes when sent direct; a relayed path costs
 * CP_RELAY_HDR more, which the owner subtracts).  Only payloads of at
 * most CP_SESS_PAYLOAD_BASE fit every path; larger ones are for owners
 * that probed the path first. */
size_t cr_sess_max_payload(void);

/* Encrypts and sends one payload.  0, -EAGAIN before the session is up (or
 * while its keys are past reject-after, waiting for a rekey), -EMSGSIZE
 * when too big.  An empty payload sends a keepalive. */
int cr_sess_send(struct cr_sess *s, const uint8_t *payload, size_t len,
		 uint64_t now_ms);

/* cr_sess_send() of the concatenation of iov[0..iovcnt): the payload is
 * sealed from where its pieces lie. */
struct iovec;
int cr_sess_sendv(struct cr_sess *s, const struct iovec *iov, int iovcnt,
		  uint64_t now_ms);

/* cr_sess_send() to another address than the session's path: probes of
 * candidate paths (cr/punch.h), authenticated by the session's keys. */
int cr_sess_send_to(struct cr_sess *s, const struct cr_addr *to,
		    const uint8_t *payload, size_t len, uint64_t now_ms);

/* Roaming (on by default): the session's path follows the source of every
 * authenticated datagram.  A path other than the last validated one is
 * validated first, as QUIC does (RFC 9000 8.2): the host sends a PATH
 * CHALLENGE there (DATA flag 1, 8 random bytes), the peer's host answers
 * with a PATH RESPONSE (flag 2, the same bytes) to where the challenge
 * came from, and until then the session sends at most three times the
 * bytes it received from the new path (more is dropped, counted in
 * path_limited): an authentic datagram replayed or forwarded from a
 * spoofed source moves the session, but cannot make it an amplifier
 * toward that source.  A datagram from the last validated path moves it
 * back at once.  Off, the path changes only by cr_sess_set_peer_addr(),
 * for owners that choose between a relayed and a direct path themselves
 * (the chosen path needs no validation). */
void cr_sess_set_roaming(struct cr_sess *s, int on);

/* Inside the recv callback (and a responder's up): the address and relay
 * route of the DATA datagram being delivered; NULL elsewhere. */
const struct cr_addr *cr_sess_host_rx_from(const struct cr_sess_host *h);

/* Closes and frees the session; calls ops->down(CR_SESS_DOWN_CLOSED). */
void cr_sess_close(struct cr_sess *s);

int cr_sess_is_up(const struct cr_sess *s);
int cr_sess_is_initiator(const struct cr_sess *s);
const struct cr_id *cr_sess_peer_id(const struct cr_sess *s);
const uint8_t *cr_sess_peer_pk(const struct cr_sess *s);
/* The address the last authenticated datagram came from (roaming). */
const struct cr_addr *cr_sess_peer_addr(const struct cr_sess *s);
/* Moves the session to another path (a direct address or relay route). */
void cr_sess_set_peer_addr(struct cr_sess *s, const struct cr_addr *to);
uint64_t cr_sess_last_recv_ms(const struct cr_sess *s);
void cr_sess_set_user(struct cr_sess *s, void *user);
void *cr_sess_user(const struct cr_sess *s);
/* Sixteen bits the owner may keep in the session (zero at first): small
 * per-session state that would otherwise cost the owner an allocation for
 * every idle peer (a ring node's devices). */
void cr_sess_set_tag(struct cr_sess *s, uint16_t tag);
uint16_t cr_sess_tag(const struct cr_sess *s);
struct cr_sess_host *cr_sess_get_host(const struct cr_sess *s);

/*
 * An established session with the peer `id`, other than `except` (NULL:
 * any): of several (one identity may run several hosts), the one heard
 * from last; NULL when there is none.  One probe run of the peer table,
 * which is hashed by identity alone, so owners need no table of their own
 * to find a peer's session.
 */
struct cr_sess *cr_sess_host_find(const struct cr_sess_host *h,
				  const struct cr_id *id,
				  const struct cr_sess *except);

/* Live sessions, including accepted ones not yet confirmed. */
size_t cr_sess_host_count(const struct cr_sess_host *h);
const struct cr_sess_stats *cr_sess_host_stats(const struct cr_sess_host *h);
/* This host's own key pair (borrowed). */
const struct cr_keypair *cr_sess_host_keypair(const struct cr_sess_host *h);

/* sizeof(struct cr_sess): what an established idle session costs, without
 * the handshake state (allocated only during a handshake), the previous
 * keys (kept only for a few seconds after a rekey) and the wide replay
 * window (only while traffic flows). */
size_t cr_sess_size(void);

#endif
