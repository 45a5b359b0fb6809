/*
 * The stream engine behind cr/stream.h: reliable, ordered, multiplexed byte
 * streams over an unreliable datagram channel, in the manner of QUIC
 * (RFC 9000 for streams and flow control, RFC 9002 for loss detection and
 * congestion control) with RFC 6298's retransmission timer and our own
 * compact encoding.  docs/design/streams.md explains the design; this
 * comment is the wire format.
 *
 * Integers are QUIC varints (RFC 9000 section 16): the two high bits of the
 * first byte give the length (1, 2, 4 or 8 bytes), the rest is a big-endian
 * value of up to 62 bits.  Only the shortest encoding is accepted.
 *
 * A packet is a packet number followed by one or more frames:
 *
 *	packet   = pn:varint frame+
 *
 * Packet numbers start at 0 and grow by one per packet sent, including
 * packets that only carry an ACK; a number is never reused, so a lost
 * frame is sent again in a new packet.  Each frame starts with a type byte:
 *
 *	0x00 PADDING         (no fields; the rest of the packet is zero
 *	                     bytes: makes a path MTU probe as large as
 *	                     the size it tries)
 *	0x01 PING            (no fields; makes the packet ack-eliciting)
 *	0x02 ACK             largest, ack_delay_us, range_count, first_range,
 *	                     range_count x (gap, range_len)
 *	     As RFC 9000 19.3: first_range packets below `largest` are
 *	     received; each further range starts gap + 2 below the smallest
 *	     number of the previous one and covers range_len + 1 numbers.
 *	0x03 RESET           sid, code (0-255), final_size
 *	     Abandons both directions of sid.  final_size is the sender's
 *	     highest sent offset, which the receiver counts against the
 *	     connection window.  The receiver of a RESET answers with its own
 *	     RESET (the same code) so that both sides learn both final sizes.
 *	0x04 MAX_DATA        max
 *	     The peer may send until the sum over all streams of the highest
 *	     offset sent (or final size) reaches max.
 *	0x05 MAX_STREAM_DATA sid, max
 *	0x06 MAX_STREAMS     count (cumulative: the peer may open stream
 *	                     indices below count)
 *	0x07 SETTINGS        stream_window, conn_window, max_streams,
 *	                     max_ack_delay_us
 *	     Sent once by each side at the start (until acknowledged).  Before
 *	     it arrives a sender assumes CR_SP_INIT_* below; a receiver never
 *	     announces less than those.
 *	0x10-0x17 STREAM     sid, [offset], length, [meta_len:u8, meta], data
 *	     Low type bits: 0x01 FIN (offset + length is the final size),
 *	     0x02 OPEN (meta follows; only on offset 0 of a stream the sender
 *	     opened, repeated on every frame at offset 0 until acknowledged),
 *	     0x04 OFF (offset present; absent means 0).
 *
 * Stream ids: the client opens 1, 3, 5... and the server 2, 4, 6...; the
 * k-th stream (k from 0) of a side is index k.  Opening index k opens every
 * lower index of that side (RFC 9000 3.2), so an id below the next index
 * that is not in the table is closed and its frames are ignored.
 *
 * A packet is validated completely (syntax, stream ids, limits, flow
 * control, final sizes) before any frame is applied; a packet that fails
 * is dropped whole with -EBADMSG.
 */
#include "cr/stream.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cp/limits.h"

#define CR_SP_NONE UINT64_MAX
#define CR_SP_VARINT_MAX ((UINT64_C(1) << 62) - 1)

enum {
	/* What a sender may assume before the peer's SETTINGS arrive; the
	 * configuration is raised to at least these. */
	CR_SP_INIT_STREAM_WINDOW = 64 * 1024,
	CR_SP_INIT_CONN_WINDOW = 256 * 1024,
	CR_SP_INIT_MAX_STREAMS = 16,
	CR_SP_MAX_ACK_DELAY_US = 1000000,

	CR_SP_MTU_MIN = 256,
	CR_SP_MTU_MAX = 65527,
	CR_SP_PKT_FRAMES = 10,    /* frames remembered per sent packet */
	CR_SP_RX_FRAMES = 64,     /* frames accepted in one received packet */
	CR_SP_ACK_RANGES = 32,    /* received-number ranges kept and reported */
	CR_SP_ACK_RANGES_RX = 64, /* ranges accepted in one ACK frame */
	CR_SP_ACK_BUDGET = 256,   /* bytes an ACK frame may take */
	CR_SP_ACK_HIST = 8,       /* recent ACK frames, for pruning ranges */
	CR_SP_PKT_THRESH = 3,     /* RFC 9002 kPacketThreshold */
	CR_SP_PKT_THRESH_MAX = 256,
	CR_SP_REO8_MAX = 32,      /* time threshold up to 5 RTT */
	CR_SP_LOST_RING = 64,     /* recent losses, to spot spurious ones */
	CR_SP_GRANULARITY_US = 1000,
	CR_SP_INIT_RTO_US = 1000000, /* RFC 6298 2.1 */
	CR_SP_MAX_BACKOFF = 16,
	CR_SP_OUT_RETRY_US = 1000,
	CR_SP_RING_MIN = 4096,
	CR_SP_INIT_CWND_PKTS = 10,
	CR_SP_MIN_CWND_PKTS = 2,
	/* DPLPMTUD (RFC 8899 5.1.2): probes per size, the time before the
	 * sizes that failed are tried again, and the RTOs in a row at a
	 * probed size that make us suspect a black hole. */
	CR_SP_MAX_PROBES = 3,
	CR_SP_PROBE_RAISE_US = 600000000,
	CR_SP_BLACKHOLE_RTOS = 2,
};

#define CR_SP_CWND_MAX ((uint64_t)1 << 30)

enum cr_sp_frame {
	CR_SF_PADDING = 0x00,
	CR_SF_PING = 0x01,
	CR_SF_ACK = 0x02,
	CR_SF_RESET = 0x03,
	CR_SF_MAX_DATA = 0x04,
	CR_SF_MAX_STREAM_DATA = 0x05,
	CR_SF_MAX_STREAMS = 0x06,
	CR_SF_SETTINGS = 0x07,
	CR_SF_STREAM = 0x10,
	CR_SF_STREAM_FIN = 0x01,
	CR_SF_STREAM_OPEN = 0x02,
	CR_SF_STREAM_OFF = 0x04,
};

enum cr_sp_state {
	CR_SP_INFLIGHT = 1, /* ack-eliciting, counted in bytes_in_flight */
	CR_SP_NOACK,        /* only an ACK: not counted, never declared lost */
	CR_SP_ACKED,
	CR_SP_LOST,
	CR_SP_PROBE,        /* an MTU probe: not counted, its loss no signal */
};

/* Intrusive circular list; a node not on a list has next == NULL. */
struct cr_node {
	struct cr_node *prev, *next;
};

#define CR_NODE_STREAM(n, field) \
	((struct cr_stream *)(void *)((char *)(n) - offsetof(struct cr_stream, field)))

/* Half-open range [lo, hi). */
struct cr_rng {
	uint64_t lo, hi;
};

/* Sorted, disjoint, non-adjacent ranges. */
struct cr_rset {
	struct cr_rng *r;
	uint32_t n, cap;
};

struct cr_stream {
	struct cr_node rr_node;  /* on c->rr: has data or FIN/OPEN to send */
	struct cr_node ctl_node; /* on c->ctl: RESET or MAX_STREAM_DATA due */
	struct cr_node ev_node;  /* on c->ev: callbacks or freeing due */
	uint32_t sid;
	int code; /* reset code, once rst */

	unsigned local : 1;        /* we opened it */
	unsigned peer_opened : 1;  /* OPEN seen (peer's streams) */
	unsigned accepted : 1;     /* the owner knows the stream */
	unsigned app_gone : 1;     /* closed delivered, or never visible */
	unsigned rst : 1;          /* reset by either side */
	unsigned rst_pending : 1;  /* our RESET must be (re)sent */
	unsigned rst_acked : 1;
	unsigned open_pending : 1; /* an OPEN must be (re)sent */
	unsigned open_acked : 1;
	unsigned fin_req : 1;      /* shutdown called: fin_off is final */
	unsigned fin_pending : 1;  /* a FIN must be (re)sent */
	unsigned fin_acked : 1;
	unsigned eof_read : 1;     /* read returned 0 */
	unsigned msd_pending : 1;
	unsigned want_writable : 1;
	unsigned ev_readable : 1;
	unsigned ev_writable : 1;
	unsigned ev_closed : 1;
	unsigned ev_reap : 1;

	/* Send side.  The ring holds [snd_base, snd_end); everything below
	 * snd_base is acknowledged.  `acked` holds acknowledged ranges above
	 * snd_base, `lost` the ranges to send again. */
	uint8_t *sbuf;
	size_t scap;
	uint64_t snd_base, snd_next, snd_end, snd_max, fin_off;
	struct cr_rset acked, lost;

	/* Receive side.  The ring holds [rcv_read, rcv_highest): contiguous
	 * data up to rcv_contig, then the ranges in `ooo`. */
	uint8_t *rbuf;
	size_t rcap;
	/* Offset o lies at rbuf[(o - rbase) % rcap].  Moved to rcv_read
	 * whenever the ring is empty, so that a stream read as fast as it
	 * arrives reuses the start of its ring, warm in the cache, instead
	 * of sweeping the whole window (4 MiB on the vendor's side). */
	uint64_t rbase;
	uint64_t rcv_read, rcv_contig, rcv_highest, rcv_final;
	uint64_t rcv_max, rcv_max_acked;
	struct cr_rset ooo;

	uint8_t meta_len;
	uint8_t meta[CR_STREAM_META_MAX];
};

/* What a sent packet carried, to act on its acknowledgement or loss. */
struct cr_sent_frame {
	uint64_t val; /* offset, or the value of a MAX_* frame */
	uint32_t sid;
	uint16_t len;
	uint8_t type;
	uint8_t flags;
};

struct cr_sent_pkt {
	uint64_t time;
	uint32_t size;
	uint8_t state;
	uint8_t n;
	uint8_t rtx;
	struct cr_sent_frame f[CR_SP_PKT_FRAMES];
};

struct cr_stream_conn {
	struct cr_stream_cfg cfg;
	struct cr_stream_ops ops;
	void *ctx;
	int is_client;
	int broken; /* negative errno: an allocation failed mid-update */
	int gone;   /* cr_stream_abort_all was called */
	uint64_t now;
	uint64_t last_recv;

	/* Streams by id: open addressing, linear probing. */
	struct cr_stream **tab;
	uint32_t tab_cap, tab_n, tab_shift;
	struct cr_node rr, ctl, ev;
	uint32_t rr_n;
	uint64_t local_next;       /* index of our next stream */
	uint64_t peer_max_streams; /* indices below this we may open */
	uint64_t peer_next;        /* index of the peer's next new stream */
	uint64_t streams_adv;      /* indices below this the peer may open */
	uint64_t streams_acked;

	/* Connection flow control. */
	uint64_t rx_sum;   /* sum of the highest offsets received */
	uint64_t consumed; /* bytes read or discarded */
	uint64_t conn_rcv_max, conn_rcv_max_acked;
	size_t rbuf_total;
	uint64_t tx_sum; /* sum of the highest offsets sent */
	uint64_t conn_snd_max;
	uint64_t peer_stream_window, peer_ack_delay;

	unsigned settings_pending : 1;
	unsigned settings_acked : 1;
	unsigned max_data_pending : 1;
	unsigned max_streams_pending : 1;
	unsigned want_send : 1;
	unsigned has_recovery : 1;
	unsigned have_rtt : 1;
	unsigned rx_any : 1;
	unsigned rx_changed : 1;
	unsigned ack_now : 1;

	/* Sent packets [sp_base, next_pn), a ring indexed by pn. */
	struct cr_sent_pkt *sp;
	uint64_t sp_base, sp_cap, next_pn;
	uint64_t largest_acked, loss_time, last_ae_sent, out_retry;
	uint64_t ae_inflight;

	/* NewReno, in bytes. */
	uint64_t bytes_in_flight, cwnd, ssthresh, ca_acc, recovery_start;
	uint64_t prior_cwnd, prior_ssthresh;
	uint32_t episode, ep_lost, ep_spurious;

	/* Reordering tolerance, raised when a packet declared lost is
	 * acknowledged after all: the packet threshold and the time
	 * threshold (1 + reo8/8 RTT; RFC 9002 6.1 allows adapting both). */
	uint32_t pkt_thresh, reo8;
	struct {
		uint64_t pn;
		uint32_t episode, reo;
		uint32_t size; /* an MTU fallback undone when this arrives */
	} lost_ring[CR_SP_LOST_RING];
	uint32_t lost_i, lost_valid;

	/* RTT (RFC 6298 with RFC 9002's ack-delay adjustment). */
	uint64_t srtt, rttvar, min_rtt, latest_rtt, rto;
	uint32_t backoff;

	/* Received packet numbers, ascending; numbers below rx_floor are
	 * treated as already received. */
	struct cr_rng rx[CR_SP_ACK_RANGES + 1];
	uint32_t rx_n;
	uint64_t rx_floor, rx_largest, rx_largest_time;
	uint32_t ae_unacked;
	uint64_t ack_deadline;
	struct {
		uint64_t pn, lo;
	} ackhist[CR_SP_ACK_HIST];
	uint32_t ackhist_i;

	/* Path MTU (RFC 8899): packets are at most `mtu` bytes; probe_i is
	 * the entry of cfg.probe_mtu being tried, probe_pn the probe in
	 * flight (CR_SP_NONE: none). */
	size_t mtu;
	uint32_t probe_i, probe_tries, rto_streak;
	uint64_t probe_pn, probe_deadline, probe_next;
	/* Fell back to the base size (a black hole suspected): the sizes
	 * are probed again once the path delivers anything. */
	unsigned probe_on_ack : 1;

	uint8_t *pkt;
	/* With ops.outputv: the STREAM data of the packet being built, left
	 * in the send buffers.  A hole covers pkt[at, at + n1 + n2), whose
	 * bytes are p1[0, n1) then p2[0, n2) (a ring that wraps). */
	struct {
		size_t at, n1, n2;
		const uint8_t *p1, *p2;
	} hole[CR_SP_PKT_FRAMES];
	uint32_t nholes;
	struct cr_stream_stats st;
};

/* ---- Helpers: varints, cursors, lists, range sets, rings, table ---- */

static size_t vlen(uint64_t v)
{
	if (v < 64)
		return 1;
	if (v < 16384)
		return 2;
	if (v < 1073741824)
		return 4;
	return 8;
}

/* Writes v (at most CR_SP_VARINT_MAX); the caller checked the room. */
static uint8_t *vput(uint8_t *p, uint64_t v)
{
	size_t n = vlen(v);
	static const uint8_t tag[9] = { 0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0 };

	for (size_t i = n; i-- > 0;) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	p[0] |= tag[n];
	return p + n;
}

struct cr_cur {
	const uint8_t *p, *end;
};

static int cur_varint(struct cr_cur *cu, uint64_t *v)
{
	size_t n;
	uint64_t x;

	if (cu->p >= cu->end)
		return -1;
	n = (size_t)1 << (cu->p[0] >> 6);
	if ((size_t)(cu->end - cu->p) < n)
		return -1;
	x = cu->p[0] & 0x3f;
	for (size_t i = 1; i < n; i++)
		x = (x << 8) | cu->p[i];
	/* One encoding per value keeps the parser's behaviour obvious. */
	if (vlen(x) != n)
		return -1;
	cu->p += n;
	*v = x;
	return 0;
}

static int cur_bytes(struct cr_cur *cu, uint64_t n, const uint8_t **out)
{
	if ((uint64_t)(cu->end - cu->p) < n)
		return -1;
	*out = cu->p;
	cu->p += n;
	return 0;
}

static void node_init(struct cr_node *h)
{
	h->prev = h;
	h->next = h;
}

static int node_empty(const struct cr_node *h)
{
	return h->next == h;
}

static void node_append(struct cr_node *h, struct cr_node *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void node_del(struct cr_node *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = NULL;
	n->prev = NULL;
}

static void rset_free(struct cr_rset *s)
{
	free(s->r);
	s->r = NULL;
	s->n = 0;
	s->cap = 0;
}

static int rset_reserve(struct cr_rset *s, uint32_t need)
{
	uint32_t cap;
	struct cr_rng *r;

	if (need <= s->cap)
		return 0;
	cap = s->cap ? s->cap : 4;
	while (cap < need)
		cap *= 2;
	r = realloc(s->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	s->r = r;
	s->cap = cap;
	return 0;
}

/* Index of the first range with hi >= x. */
static uint32_t rset_lower(const struct cr_rset *s, uint64_t x)
{
	uint32_t a = 0, b = s->n;

	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (s->r[m].hi < x)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

static void rset_cut(struct cr_rset *s, uint32_t i, uint32_t k)
{
	memmove(s->r + i, s->r + i + k, (s->n - i - k) * sizeof(*s->r));
	s->n -= k;
}

/* Adds [lo, hi), merging; 0 or -ENOMEM. */
static int rset_add(struct cr_rset *s, uint64_t lo, uint64_t hi)
{
	uint32_t i, j;

	if (lo >= hi)
		return 0;
	if (s->n == 0 || lo > s->r[s->n - 1].hi) {
		if (rset_reserve(s, s->n + 1))
			return -ENOMEM;
		s->r[s->n].lo = lo;
		s->r[s->n].hi = hi;
		s->n++;
		return 0;
	}
	i = rset_lower(s, lo);
	j = i;
	while (j < s->n && s->r[j].lo <= hi)
		j++;
	if (i == j) {
		if (rset_reserve(s, s->n + 1))
			return -ENOMEM;
		memmove(s->r + i + 1, s->r + i, (s->n - i) * sizeof(*s->r));
		s->r[i].lo = lo;
		s->r[i].hi = hi;
		s->n++;
		return 0;
	}
	if (s->r[i].lo < lo)
		lo = s->r[i].lo;
	if (s->r[j - 1].hi > hi)
		hi = s->r[j - 1].hi;
	s->r[i].lo = lo;
	s->r[i].hi = hi;
	rset_cut(s, i + 1, j - i - 1);
	return 0;
}

/* Removes [lo, hi); 0 or -ENOMEM (a split needs a slot). */
static int rset_sub(struct cr_rset *s, uint64_t lo, uint64_t hi)
{
	uint32_t i;

	if (lo >= hi || s->n == 0)
		return 0;
	i = rset_lower(s, lo + 1);
	while (i < s->n && s->r[i].lo < hi) {
		struct cr_rng *r = &s->r[i];

		if (r->lo < lo && r->hi > hi) {
			if (rset_reserve(s, s->n + 1))
				return -ENOMEM;
			r = &s->r[i];
			memmove(s->r + i + 1, s->r + i,
				(s->n - i) * sizeof(*s->r));
			s->n++;
			r->hi = lo;
			s->r[i + 1].lo = hi;
			return 0;
		}
		if (r->lo < lo) {
			r->hi = lo;
			i++;
		} else if (r->hi > hi) {
			r->lo = hi;
			return 0;
		} else {
			rset_cut(s, i, 1);
		}
	}
	return 0;
}

static void ring_get(const uint8_t *buf, size_t cap, uint64_t off,
		     uint8_t *dst, size_t len)
{
	size_t i = (size_t)(off & (cap - 1)), first = cap - i;

	if (len == 0)
		return;
	if (first >= len) {
		memcpy(dst, buf + i, len);
		return;
	}
	memcpy(dst, buf + i, first);
	memcpy(dst + first, buf, len - first);
}

static void ring_put(uint8_t *buf, size_t cap, uint64_t off,
		     const uint8_t *src, size_t len)
{
	size_t i = (size_t)(off & (cap - 1)), first = cap - i;

	if (len == 0)
		return;
	if (first >= len) {
		memcpy(buf + i, src, len);
		return;
	}
	memcpy(buf + i, src, first);
	memcpy(buf, src + first, len - first);
}

/*
 * Grows a ring to hold at least need bytes, keeping the bytes of [lo, hi).
 * Returns the bytes added (0 when it was big enough) or -ENOMEM.
 */
static long ring_fit(uint8_t **buf, size_t *cap, uint64_t lo, uint64_t hi,
		     size_t need)
{
	size_t nc, old = *cap;
	uint8_t *nb;

	if (need <= old)
		return 0;
	nc = old ? old * 2 : CR_SP_RING_MIN;
	while (nc < need)
		nc *= 2;
	nb = malloc(nc);
	if (!nb)
		return -ENOMEM;
	/* The old ring holds at most `old` bytes from lo: a FIN or a RESET
	 * can announce a final size (and raise hi) before the data before it
	 * arrives, and nothing past lo + old was ever stored. */
	if (hi > lo && hi - lo > old)
		hi = lo + old;
	if (*buf && hi > lo) {
		size_t len = (size_t)(hi - lo), i = (size_t)(lo & (old - 1));
		size_t first = old - i < len ? old - i : len;

		ring_put(nb, nc, lo, *buf + i, first);
		ring_put(nb, nc, lo + first, *buf, len - first);
	}
	free(*buf);
	*buf = nb;
	*cap = nc;
	return (long)(nc - old);
}

static uint32_t tab_hash(const struct cr_stream_conn *c, uint32_t sid)
{
	/* Fibonacci hashing: ids are mostly consecutive odd or even numbers,
	 * which a multiplicative hash spreads well. */
	return (uint32_t)(sid * 2654435769u) >> c->tab_shift;
}

static struct cr_stream *tab_get(const struct cr_stream_conn *c, uint32_t sid)
{
	uint32_t mask = c->tab_cap - 1;

	for (uint32_t i = tab_hash(c, sid);; i = (i + 1) & mask) {
		struct cr_stream *s = c->tab[i];

		if (!s || s->sid == sid)
			return s;
	}
}

static void tab_insert(struct cr_stream_conn *c, struct cr_stream *s)
{
	uint32_t mask = c->tab_cap - 1, i = tab_hash(c, s->sid);

	while (c->tab[i])
		i = (i + 1) & mask;
	c->tab[i] = s;
}

static int tab_put(struct cr_stream_conn *c, struct cr_stream *s)
{
	if ((c->tab_n + 1) * 2 > c->tab_cap) {
		struct cr_stream **old = c->tab;
		uint32_t oc = c->tab_cap;
		struct cr_stream **nt = calloc((size_t)oc * 2, sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		c->tab = nt;
		c->tab_cap = oc * 2;
		c->tab_shift--;
		for (uint32_t i = 0; i < oc; i++)
			if (old[i])
				tab_insert(c, old[i]);
		free(old);
	}
	tab_insert(c, s);
	c->tab_n++;
	return 0;
}

static void tab_del(struct cr_stream_conn *c, const struct cr_stream *s)
{
	uint32_t mask = c->tab_cap - 1, i = tab_hash(c, s->sid), j;

	while (c->tab[i] != s) {
		if (!c->tab[i])
			return;
		i = (i + 1) & mask;
	}
	c->tab[i] = NULL;
	c->tab_n--;
	/* Backward-shift deletion keeps probe chains intact without
	 * tombstones. */
	for (j = (i + 1) & mask; c->tab[j]; j = (j + 1) & mask) {
		uint32_t k = tab_hash(c, c->tab[j]->sid);
		int move = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);

		if (move) {
			c->tab[i] = c->tab[j];
			c->tab[j] = NULL;
			i = j;
		}
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ---- Stream ids ---- */

static int sid_is_local(const struct cr_stream_conn *c, uint32_t sid)
{
	return (int)(sid & 1) == c->is_client;
}

/* Index of sid within its side's sequence, or CR_SP_NONE for id 0. */
static uint64_t sid_index(uint32_t sid)
{
	if (sid == 0)
		return CR_SP_NONE;
	return (sid & 1) ? (sid - 1) / 2 : (sid - 2) / 2;
}

static uint32_t sid_make(int client, uint64_t k)
{
	return (uint32_t)(2 * k + (client ? 1 : 2));
}

/* ---- Configuration and connection lifetime ---- */

void cr_stream_cfg_default(struct cr_stream_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* One byte of the e2e payload stays free for the owner's message
	 * type, so a stream packet still fits a relayed datagram. */
	cfg->mtu = CP_E2E_PAYLOAD_BASE - 1;
	memset(cfg->probe_mtu, 0, sizeof(cfg->probe_mtu));
	/*
	 * Windows: 300 MB/s over a 100 us loopback RTT is a 30 KB
	 * bandwidth-delay product.  The owner's event loop adds latency
	 * (batching, scheduling) and credit is returned every half window,
	 * so a stream keeps ~1/2 window in flight: 1 MiB of receive window
	 * and 512 KiB of send buffer sustain 300 MB/s up to ~1.5 ms of
	 * effective RTT.  Buffers grow only as data arrives, so idle streams
	 * cost a few hundred bytes; the connection window caps what all
	 * streams together may make us hold.
	 */
	cfg->stream_sndbuf = 512 * 1024;
	cfg->stream_window = 1024 * 1024;
	cfg->conn_window = 4 * 1024 * 1024;
	cfg->max_streams = 256;
	cfg->ack_delay_us = 2000;
	/*
	 * RFC 6298 asks for a 1 s floor on the RTO, sized for 1990s WAN
	 * timers.  Our paths are loopback, LAN or relays with an RTT of
	 * 0.1-50 ms and microsecond timers: the floor only has to absorb
	 * the peer's delayed ack (2 ms) and scheduling jitter of a busy
	 * host, while a tail loss on a 100 us path would otherwise stall a
	 * stream 10000 RTTs.  On long paths SRTT + 4 RTTVAR exceeds 20 ms
	 * and the floor does not matter.
	 */
	cfg->min_rto_us = 20000;
	cfg->max_rto_us = 10000000;
	cfg->idle_timeout_us = 30000000;
	cfg->input_defers_send = 0;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

struct cr_stream_conn *cr_stream_conn_new(const struct cr_stream_cfg *cfg,
					  const struct cr_stream_ops *ops,
					  void *ctx, int is_client,
					  uint64_t now_us)
{
	struct cr_stream_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (cfg)
		c->cfg = *cfg;
	else
		cr_stream_cfg_default(&c->cfg);
	c->cfg.mtu = (size_t)clamp_u64(c->cfg.mtu, CR_SP_MTU_MIN, CR_SP_MTU_MAX);
	c->mtu = c->cfg.mtu;
	/* Keep only a descending list of sizes above the base. */
	for (size_t i = 0, last = CR_SP_MTU_MAX + 1; i < CR_STREAM_PROBES; i++) {
		size_t m = c->cfg.probe_mtu[i];

		if (m == 0 || m <= c->cfg.mtu || m >= last || m > CR_SP_MTU_MAX) {
			memset(c->cfg.probe_mtu + i, 0,
			       (CR_STREAM_PROBES - i) * sizeof(size_t));
			break;
		}
		last = m;
	}
	c->cfg.stream_sndbuf = (size_t)clamp_u64(c->cfg.stream_sndbuf,
						 CR_SP_RING_MIN, 1u << 30);
	c->cfg.stream_window = (size_t)clamp_u64(c->cfg.stream_window,
						 CR_SP_INIT_STREAM_WINDOW,
						 1u << 30);
	c->cfg.conn_window = (size_t)clamp_u64(c->cfg.conn_window,
					       CR_SP_INIT_CONN_WINDOW,
					       (uint64_t)1 << 40);
	c->cfg.max_streams = (uint32_t)clamp_u64(c->cfg.max_streams,
						 CR_SP_INIT_MAX_STREAMS,
						 1u << 20);
	c->cfg.ack_delay_us = (uint32_t)clamp_u64(c->cfg.ack_delay_us, 0,
						  CR_SP_MAX_ACK_DELAY_US);
	c->cfg.min_rto_us = (uint32_t)clamp_u64(c->cfg.min_rto_us, 1000,
						600000000);
	if (c->cfg.max_rto_us < c->cfg.min_rto_us)
		c->cfg.max_rto_us = c->cfg.min_rto_us;
	if (ops)
		c->ops = *ops;
	c->ctx = ctx;
	c->is_client = is_client ? 1 : 0;
	c->now = now_us;
	c->last_recv = now_us;

	c->tab_cap = 16;
	c->tab_shift = 28;
	c->tab = calloc(c->tab_cap, sizeof(*c->tab));
	c->sp_cap = 64;
	c->sp = calloc(c->sp_cap, sizeof(*c->sp));
	c->cfg.out_headroom = (size_t)min_u64(c->cfg.out_headroom, 256);
	c->pkt = malloc(c->cfg.out_headroom +
			max_u64(c->cfg.mtu, c->cfg.probe_mtu[0]));
	if (c->pkt)
		c->pkt += c->cfg.out_headroom;
	if (!c->tab || !c->sp || !c->pkt)
		return cr_stream_conn_free(c);
	node_init(&c->rr);
	node_init(&c->ctl);
	node_init(&c->ev);

	c->peer_max_streams = CR_SP_INIT_MAX_STREAMS;
	c->streams_adv = c->cfg.max_streams;
	c->streams_acked = c->cfg.max_streams;
	c->conn_rcv_max = c->cfg.conn_window;
	c->conn_rcv_max_acked = c->cfg.conn_window;
	c->conn_snd_max = CR_SP_INIT_CONN_WINDOW;
	c->peer_stream_window = CR_SP_INIT_STREAM_WINDOW;
	c->peer_ack_delay = c->cfg.ack_delay_us;
	c->settings_pending = 1;
	c->want_send = 1;

	c->largest_acked = CR_SP_NONE;
	c->loss_time = CR_SP_NONE;
	c->ack_deadline = CR_SP_NONE;
	/* RFC 9002 7.2: ten datagrams, at most max(14720, 2 datagrams). */
	c->cwnd = min_u64(CR_SP_INIT_CWND_PKTS * c->cfg.mtu,
			  max_u64(14720, 2 * c->cfg.mtu));
	c->ssthresh = UINT64_MAX;
	c->pkt_thresh = CR_SP_PKT_THRESH;
	c->reo8 = 1;
	for (size_t i = 0; i < CR_SP_LOST_RING; i++)
		c->lost_ring[i].pn = CR_SP_NONE;
	c->rto = clamp_u64(CR_SP_INIT_RTO_US, c->cfg.min_rto_us,
			   c->cfg.max_rto_us);
	for (size_t i = 0; i < CR_SP_ACK_HIST; i++)
		c->ackhist[i].pn = CR_SP_NONE;
	c->probe_pn = CR_SP_NONE;
	c->probe_next = c->cfg.probe_mtu[0] ? now_us : CR_SP_NONE;
	return c;
}

static void stream_release(struct cr_stream *s)
{
	free(s->sbuf);
	free(s->rbuf);
	rset_free(&s->acked);
	rset_free(&s->lost);
	rset_free(&s->ooo);
	free(s);
}

struct cr_stream_conn *cr_stream_conn_free(struct cr_stream_conn *c)
{
	if (!c)
		return NULL;
	if (c->tab)
		for (uint32_t i = 0; i < c->tab_cap; i++)
			if (c->tab[i])
				stream_release(c->tab[i]);
	free(c->tab);
	free(c->sp);
	if (c->pkt)
		free(c->pkt - c->cfg.out_headroom);
	free(c);
	return NULL;
}

/* ---- Streams: creation, events, freeing ---- */

static void fail(struct cr_stream_conn *c, int err)
{
	if (!c->broken)
		c->broken = err;
}

static struct cr_stream *stream_new(struct cr_stream_conn *c, uint32_t sid,
				    int local)
{
	struct cr_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->sid = sid;
	s->local = local ? 1 : 0;
	s->rcv_final = CR_SP_NONE;
	s->rcv_max = c->cfg.stream_window;
	s->rcv_max_acked = s->rcv_max;
	s->snd_max = c->peer_stream_window;
	if (tab_put(c, s)) {
		free(s);
		return NULL;
	}
	return s;
}

static void ev_add(struct cr_stream_conn *c, struct cr_stream *s)
{
	if (!s->ev_node.next)
		node_append(&c->ev, &s->ev_node);
}

static void rr_add(struct cr_stream_conn *c, struct cr_stream *s)
{
	if (!s->rr_node.next && !s->rst) {
		node_append(&c->rr, &s->rr_node);
		c->rr_n++;
	}
	c->want_send = 1;
}

static void rr_del(struct cr_stream_conn *c, struct cr_stream *s)
{
	if (s->rr_node.next) {
		node_del(&s->rr_node);
		c->rr_n--;
	}
}

static void ctl_add(struct cr_stream_conn *c, struct cr_stream *s)
{
	if (!s->ctl_node.next)
		node_append(&c->ctl, &s->ctl_node);
	c->want_send = 1;
}

static void stream_free(struct cr_stream_conn *c, struct cr_stream *s)
{
	rr_del(c, s);
	node_del(&s->ctl_node);
	node_del(&s->ev_node);
	tab_del(c, s);
	c->rbuf_total -= s->rcap;
	if (!s->local) {
		/* RFC 9000 4.6: a finished peer stream makes room for one
		 * more. */
		c->streams_adv++;
		c->max_streams_pending = 1;
		c->want_send = 1;
	}
	stream_release(s);
}

/* Connection-level credit after the owner consumed bytes (RFC 9000 4.2:
 * update once half the window is used). */
static void conn_credit(struct cr_stream_conn *c)
{
	if (c->conn_rcv_max - c->consumed < c->cfg.conn_window / 2) {
		c->conn_rcv_max = c->consumed + c->cfg.conn_window;
		c->max_data_pending = 1;
		c->want_send = 1;
	}
}

/* Throws away everything received and not read, crediting the connection
 * window, after a reset. */
static void rx_discard(struct cr_stream_conn *c, struct cr_stream *s)
{
	c->consumed += s->rcv_highest - s->rcv_read;
	s->rcv_read = s->rcv_highest;
	s->rcv_contig = s->rcv_highest;
	c->rbuf_total -= s->rcap;
	free(s->rbuf);
	s->rbuf = NULL;
	s->rcap = 0;
	rset_free(&s->ooo);
	conn_credit(c);
}

/* A reset stream is freed once our RESET is acknowledged and the peer's
 * final size is known (its RESET or FIN), so neither side's connection
 * window leaks. */
static void zombie_check(struct cr_stream_conn *c, struct cr_stream *s)
{
	if (s->rst && s->rst_acked && s->rcv_final != CR_SP_NONE &&
	    !s->ev_reap) {
		s->ev_reap = 1;
		ev_add(c, s);
	}
}

/* Normal end: both FINs through, all our data acknowledged, EOF read. */
static void stream_check_done(struct cr_stream_conn *c, struct cr_stream *s)
{
	if (s->rst || s->ev_reap || !s->fin_acked || s->snd_base < s->fin_off)
		return;
	/* Nothing is left to send again: the send buffer can go now even if
	 * the receive side stays open for a long time. */
	if (s->sbuf) {
		free(s->sbuf);
		s->sbuf = NULL;
		s->scap = 0;
	}
	if (!s->eof_read)
		return;
	s->code = 0;
	s->ev_closed = 1;
	s->ev_reap = 1;
	ev_add(c, s);
}

/*
 * Resets s from our side: sends RESET with code, drops both directions'
 * data.  notify queues the closed callback (when the owner knows s).
 */
static void stream_reset(struct cr_stream_conn *c, struct cr_stream *s,
			 int code, int notify)
{
	s->rst = 1;
	s->code = code;
	s->rst_pending = 1;
	s->open_pending = 0;
	s->fin_pending = 0;
	s->msd_pending = 0;
	rr_del(c, s);
	ctl_add(c, s);
	free(s->sbuf);
	s->sbuf = NULL;
	s->scap = 0;
	rset_free(&s->acked);
	rset_free(&s->lost);
	rx_discard(c, s);
	if (notify && s->accepted && !s->app_gone) {
		s->ev_closed = 1;
		ev_add(c, s);
	} else if (!s->accepted) {
		s->app_gone = 1;
	}
	zombie_check(c, s);
}

static void dispatch(struct cr_stream_conn *c)
{
	while (!node_empty(&c->ev)) {
		struct cr_stream *s = CR_NODE_STREAM(c->ev.next, ev_node);
		int rd = s->ev_readable, wr = s->ev_writable;
		int cl = s->ev_closed;

		node_del(&s->ev_node);
		s->ev_readable = 0;
		s->ev_writable = 0;
		s->ev_closed = 0;
		if (cl && !s->app_gone) {
			s->app_gone = 1;
			if (c->ops.closed)
				c->ops.closed(c->ctx, s->sid, s->code);
		} else if (!s->app_gone && !s->rst) {
			if (rd && c->ops.readable)
				c->ops.readable(c->ctx, s->sid);
			if (wr && !s->rst && !s->app_gone && c->ops.writable)
				c->ops.writable(c->ctx, s->sid);
		}
		/* A callback may have queued s again; then it is freed on
		 * that later pass. */
		if (s->ev_reap && s->app_gone && !s->ev_node.next)
			stream_free(c, s);
	}
}

/* ---- Send side: acknowledgements and losses of stream data ---- */

static void snd_acked(struct cr_stream_conn *c, struct cr_stream *s,
		      uint64_t lo, uint64_t hi)
{
	uint64_t before = s->snd_base;

	if (hi <= s->snd_base)
		return;
	if (s->lost.n && rset_sub(&s->lost, lo, hi))
		fail(c, -ENOMEM);
	if (lo <= s->snd_base) {
		s->snd_base = hi;
		while (s->acked.n && s->acked.r[0].lo <= s->snd_base) {
			if (s->acked.r[0].hi > s->snd_base)
				s->snd_base = s->acked.r[0].hi;
			rset_cut(&s->acked, 0, 1);
		}
	} else if (rset_add(&s->acked, lo, hi)) {
		fail(c, -ENOMEM);
	}
	if (s->snd_base > before && s->want_writable &&
	    c->cfg.stream_sndbuf - (s->snd_end - s->snd_base) >=
		    c->cfg.stream_sndbuf / 4) {
		s->want_writable = 0;
		s->ev_writable = 1;
		ev_add(c, s);
	}
}

/* Queues [lo, hi) minus what is acknowledged for sending again. */
static void snd_lost(struct cr_stream_conn *c, struct cr_stream *s,
		     uint64_t lo, uint64_t hi)
{
	uint32_t i;
	uint64_t cur;

	lo = max_u64(lo, s->snd_base);
	if (lo >= hi)
		return;
	cur = lo;
	for (i = rset_lower(&s->acked, lo + 1);
	     i < s->acked.n && s->acked.r[i].lo < hi; i++) {
		if (s->acked.r[i].lo > cur && rset_add(&s->lost, cur,
						       s->acked.r[i].lo))
			fail(c, -ENOMEM);
		cur = max_u64(cur, s->acked.r[i].hi);
	}
	if (cur < hi && rset_add(&s->lost, cur, hi))
		fail(c, -ENOMEM);
}

static void frame_acked(struct cr_stream_conn *c, const struct cr_sent_frame *f)
{
	struct cr_stream *s;

	switch (f->type) {
	case CR_SF_STREAM:
		s = tab_get(c, f->sid);
		if (!s || s->rst)
			return;
		if (f->flags & CR_SF_STREAM_OPEN) {
			s->open_acked = 1;
			s->open_pending = 0;
		}
		if (f->len)
			snd_acked(c, s, f->val, f->val + f->len);
		if (f->flags & CR_SF_STREAM_FIN) {
			s->fin_acked = 1;
			s->fin_pending = 0;
		}
		stream_check_done(c, s);
		break;
	case CR_SF_RESET:
		s = tab_get(c, f->sid);
		if (!s)
			return;
		s->rst_acked = 1;
		s->rst_pending = 0;
		zombie_check(c, s);
		break;
	case CR_SF_MAX_STREAM_DATA:
		s = tab_get(c, f->sid);
		if (s && f->val > s->rcv_max_acked)
			s->rcv_max_acked = f->val;
		break;
	case CR_SF_MAX_DATA:
		c->conn_rcv_max_acked = max_u64(c->conn_rcv_max_acked, f->val);
		break;
	case CR_SF_MAX_STREAMS:
		c->streams_acked = max_u64(c->streams_acked, f->val);
		break;
	case CR_SF_SETTINGS:
		c->settings_acked = 1;
		c->settings_pending = 0;
		break;
	default:
		break;
	}
}

/* RFC 9000 13.3: what a lost frame carried is sent again in a new packet,
 * with current values, unless it became unnecessary. */
static void frame_lost(struct cr_stream_conn *c, const struct cr_sent_frame *f)
{
	struct cr_stream *s;

	switch (f->type) {
	case CR_SF_STREAM:
		s = tab_get(c, f->sid);
		if (!s || s->rst)
			return;
		if (f->len)
			snd_lost(c, s, f->val, f->val + f->len);
		if ((f->flags & CR_SF_STREAM_FIN) && !s->fin_acked)
			s->fin_pending = 1;
		if ((f->flags & CR_SF_STREAM_OPEN) && !s->open_acked)
			s->open_pending = 1;
		rr_add(c, s);
		break;
	case CR_SF_RESET:
		s = tab_get(c, f->sid);
		if (s && !s->rst_acked) {
			s->rst_pending = 1;
			ctl_add(c, s);
		}
		break;
	case CR_SF_MAX_STREAM_DATA:
		s = tab_get(c, f->sid);
		if (s && !s->rst && s->rcv_final == CR_SP_NONE &&
		    s->rcv_max_acked < s->rcv_max) {
			s->msd_pending = 1;
			ctl_add(c, s);
		}
		break;
	case CR_SF_MAX_DATA:
		if (c->conn_rcv_max_acked < c->conn_rcv_max) {
			c->max_data_pending = 1;
			c->want_send = 1;
		}
		break;
	case CR_SF_MAX_STREAMS:
		if (c->streams_acked < c->streams_adv) {
			c->max_streams_pending = 1;
			c->want_send = 1;
		}
		break;
	case CR_SF_SETTINGS:
		if (!c->settings_acked) {
			c->settings_pending = 1;
			c->want_send = 1;
		}
		break;
	default:
		break;
	}
}

/* ---- Loss detection, RTT and congestion control ---- */

static struct cr_sent_pkt *sp_slot(const struct cr_stream_conn *c, uint64_t pn)
{
	return &c->sp[pn & (c->sp_cap - 1)];
}

static int sp_reserve(struct cr_stream_conn *c)
{
	uint64_t cap = c->sp_cap * 2;
	struct cr_sent_pkt *n;

	if (c->next_pn - c->sp_base < c->sp_cap)
		return 0;
	n = calloc((size_t)cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (uint64_t pn = c->sp_base; pn < c->next_pn; pn++)
		n[pn & (cap - 1)] = *sp_slot(c, pn);
	free(c->sp);
	c->sp = n;
	c->sp_cap = cap;
	return 0;
}

/* Forgets sent packets from the oldest on that need nothing more; a probe
 * waits for its acknowledgement or its timeout. */
static void sp_pop(struct cr_stream_conn *c)
{
	while (c->sp_base < c->next_pn &&
	       sp_slot(c, c->sp_base)->state != CR_SP_INFLIGHT &&
	       sp_slot(c, c->sp_base)->state != CR_SP_PROBE)
		c->sp_base++;
}

static void rtt_update(struct cr_stream_conn *c, uint64_t latest,
		       uint64_t ack_delay)
{
	uint64_t adj = latest, d, rto;

	c->latest_rtt = latest;
	if (!c->have_rtt) {
		/* RFC 6298 2.2 */
		c->have_rtt = 1;
		c->min_rtt = latest;
		c->srtt = latest;
		c->rttvar = latest / 2;
	} else {
		if (latest < c->min_rtt)
			c->min_rtt = latest;
		/* RFC 9002 5.3: the peer's ack delay is not path delay. */
		ack_delay = min_u64(ack_delay, c->peer_ack_delay);
		if (adj >= c->min_rtt + ack_delay)
			adj -= ack_delay;
		/* RFC 6298 2.3, alpha = 1/8, beta = 1/4 */
		d = c->srtt > adj ? c->srtt - adj : adj - c->srtt;
		c->rttvar = (3 * c->rttvar + d) / 4;
		c->srtt = (7 * c->srtt + adj) / 8;
	}
	/* RFC 6298 2.3 plus the peer's delayed-ack allowance, which the
	 * timer has to wait out for a lone packet (RFC 9002 6.2.1). */
	rto = c->srtt + max_u64(CR_SP_GRANULARITY_US, 4 * c->rttvar) +
	      c->peer_ack_delay;
	c->rto = clamp_u64(rto, c->cfg.min_rto_us, c->cfg.max_rto_us);
}

static uint64_t rto_cur(const struct cr_stream_conn *c)
{
	uint64_t r = c->rto << (c->backoff < CR_SP_MAX_BACKOFF ? c->backoff :
								  CR_SP_MAX_BACKOFF);

	return min_u64(r, c->cfg.max_rto_us);
}

static uint64_t min_cwnd(const struct cr_stream_conn *c)
{
	return CR_SP_MIN_CWND_PKTS * c->mtu;
}

static void episode_start(struct cr_stream_conn *c)
{
	/* Losses that were real make us trust reordering less again. */
	if (c->ep_lost && !c->ep_spurious) {
		c->reo8 = c->reo8 > 1 ? c->reo8 / 2 : 1;
		c->pkt_thresh = c->pkt_thresh / 2 > CR_SP_PKT_THRESH ?
					c->pkt_thresh / 2 :
					CR_SP_PKT_THRESH;
	}
	c->episode++;
	c->ep_lost = 0;
	c->ep_spurious = 0;
	c->prior_cwnd = c->cwnd;
	c->prior_ssthresh = c->ssthresh;
	c->has_recovery = 1;
	c->recovery_start = c->now;
	c->ca_acc = 0;
}

/* RFC 9002 7.3.2: one reduction per loss episode, which starts now and
 * covers every packet sent before. */
static void on_congestion(struct cr_stream_conn *c, uint64_t sent_time)
{
	if (c->has_recovery && sent_time <= c->recovery_start)
		return;
	episode_start(c);
	c->ssthresh = max_u64(c->cwnd / 2, min_cwnd(c));
	c->cwnd = c->ssthresh;
}

/*
 * A packet declared lost was acknowledged after all: it was reordered (or
 * delayed), not lost.  Tolerate more reordering from now on, and when every
 * loss of the current episode was such a false alarm, take back the
 * episode's reduction (as Linux's undo and RFC 4015 do).
 */
static void on_spurious(struct cr_stream_conn *c, uint32_t episode,
			uint32_t reo)
{
	if (reo + 1 > c->pkt_thresh)
		c->pkt_thresh = reo + 1 < CR_SP_PKT_THRESH_MAX ?
					reo + 1 :
					CR_SP_PKT_THRESH_MAX;
	c->reo8 = c->reo8 * 2 < CR_SP_REO8_MAX ? c->reo8 * 2 : CR_SP_REO8_MAX;
	if (episode != c->episode)
		return;
	if (++c->ep_spurious == c->ep_lost) {
		c->cwnd = max_u64(c->cwnd, c->prior_cwnd);
		c->ssthresh = max_u64(c->ssthresh, c->prior_ssthresh);
		c->has_recovery = 0;
	}
}

static void cc_on_ack(struct cr_stream_conn *c, const struct cr_sent_pkt *p,
		      uint64_t infl0)
{
	if (c->has_recovery && p->time <= c->recovery_start)
		return;
	/* RFC 9002 7.8: an application-limited sender does not grow cwnd. */
	if (infl0 * 2 < c->cwnd)
		return;
	if (c->cwnd < c->ssthresh) {
		c->cwnd += p->size;
	} else {
		/* Congestion avoidance: one datagram per cwnd acknowledged. */
		c->ca_acc += p->size;
		if (c->ca_acc >= c->cwnd) {
			c->ca_acc -= c->cwnd;
			c->cwnd += c->mtu;
		}
	}
	if (c->cwnd > CR_SP_CWND_MAX)
		c->cwnd = CR_SP_CWND_MAX;
}

static void pkt_lost(struct cr_stream_conn *c, struct cr_sent_pkt *p,
		     uint64_t pn)
{
	uint32_t i = c->lost_i++ % CR_SP_LOST_RING;
	uint64_t reo = c->largest_acked != CR_SP_NONE &&
				       c->largest_acked > pn ?
			       c->largest_acked - pn :
			       0;

	if (c->lost_ring[i].pn != CR_SP_NONE)
		c->lost_valid--;
	c->lost_ring[i].pn = pn;
	c->lost_ring[i].episode = c->episode;
	c->lost_ring[i].reo = (uint32_t)min_u64(reo, UINT32_MAX);
	c->lost_ring[i].size = p->size;
	c->lost_valid++;
	c->ep_lost++;
	p->state = CR_SP_LOST;
	c->bytes_in_flight -= p->size;
	c->ae_inflight--;
	c->st.pkts_lost++;
	for (unsigned k = 0; k < p->n; k++)
		frame_lost(c, &p->f[k]);
}

/* RFC 9002 6.1: packet and time thresholds. */
static void detect_lost(struct cr_stream_conn *c)
{
	uint64_t ld, end;

	c->loss_time = CR_SP_NONE;
	if (c->largest_acked == CR_SP_NONE)
		return;
	ld = c->have_rtt ? max_u64(c->latest_rtt, c->srtt) : c->rto;
	ld = max_u64(ld * (8 + c->reo8) / 8, CR_SP_GRANULARITY_US);
	end = min_u64(c->largest_acked, c->next_pn);
	for (uint64_t pn = c->sp_base; pn < end; pn++) {
		struct cr_sent_pkt *p = sp_slot(c, pn);

		if (p->state != CR_SP_INFLIGHT)
			continue;
		if (p->time + ld <= c->now ||
		    c->largest_acked >= pn + c->pkt_thresh) {
			/* In pn order, i.e. send order: the first loss sent
			 * after the episode began starts a new one. */
			on_congestion(c, p->time);
			pkt_lost(c, p, pn);
		} else if (p->time + ld < c->loss_time) {
			c->loss_time = p->time + ld;
		}
	}
	sp_pop(c);
}

/* RFC 6298 5.4-5.6: the timer expired with nothing acknowledged.  What
 * is in flight is taken as lost, cwnd restarts from the minimum (RFC
 * 5681 3.1) and the timer backs off. */
static void on_rto(struct cr_stream_conn *c)
{
	/*
	 * RFC 8899 4.3: full-size packets that stop getting through after a
	 * probe succeeded mean the path shrank (a black hole).  Fall back to
	 * the base size, which every path carries, and probe again later.
	 */
	if (c->mtu > c->cfg.mtu && ++c->rto_streak >= CR_SP_BLACKHOLE_RTOS) {
		c->mtu = c->cfg.mtu;
		c->rto_streak = 0;
		c->probe_i = 0;
		c->probe_tries = 0;
		/*
		 * Two timeouts in a row are also what a peer that stopped
		 * for a moment looks like (a loaded host: 60 ms without
		 * being scheduled), and nothing then says the large size
		 * is gone.  So probe again as soon as anything is
		 * acknowledged, not after a fixed wait: a probe sent into
		 * the silence would be lost and count against the size.
		 * A late acknowledgement of a large packet restores the
		 * size at once (apply_ack); on a path that really shrank
		 * the probes fail and the next size is tried.
		 */
		c->probe_next = CR_SP_NONE;
		c->probe_on_ack = 1;
		c->st.mtu_fallbacks++;
	}
	episode_start(c);
	c->ssthresh = max_u64(c->cwnd / 2, min_cwnd(c));
	c->cwnd = min_cwnd(c);
	for (uint64_t pn = c->sp_base; pn < c->next_pn; pn++) {
		struct cr_sent_pkt *p = sp_slot(c, pn);

		if (p->state == CR_SP_INFLIGHT)
			pkt_lost(c, p, pn);
	}
	if (c->backoff < CR_SP_MAX_BACKOFF)
		c->backoff++;
	c->loss_time = CR_SP_NONE;
	sp_pop(c);
}

static uint64_t recovery_deadline(const struct cr_stream_conn *c)
{
	if (c->loss_time != CR_SP_NONE)
		return c->loss_time;
	if (c->ae_inflight)
		return c->last_ae_sent + rto_cur(c);
	return CR_SP_NONE;
}

_Static_assert(3 * CR_SP_PKT_FRAMES + 1 <= CR_STREAM_IOV_MAX,
	       "a header piece before each hole of two, and the tail");

/* Hands the packet built in pkt[0, len) (and its holes) to the owner. */
static int pkt_out(struct cr_stream_conn *c, size_t len)
{
	struct iovec iov[CR_STREAM_IOV_MAX];
	size_t at = 0;
	int k = 0;

	if (c->ops.outputv == NULL)
		return c->ops.output ? c->ops.output(c->ctx, c->pkt, len) : 0;
	for (uint32_t i = 0; i < c->nholes; i++) {
		if (c->hole[i].at > at) {
			iov[k].iov_base = c->pkt + at;
			iov[k++].iov_len = c->hole[i].at - at;
		}
		iov[k].iov_base = (void *)c->hole[i].p1;
		iov[k++].iov_len = c->hole[i].n1;
		if (c->hole[i].n2 > 0) {
			iov[k].iov_base = (void *)c->hole[i].p2;
			iov[k++].iov_len = c->hole[i].n2;
		}
		at = c->hole[i].at + c->hole[i].n1 + c->hole[i].n2;
	}
	if (len > at || k == 0) {
		iov[k].iov_base = c->pkt + at;
		iov[k++].iov_len = len - at;
	}
	c->nholes = 0;
	return c->ops.outputv(c->ctx, iov, k, len);
}

/* ---- Path MTU probes (RFC 8899) ---- */

/* The index in cfg.probe_mtu of the next size to try (the first from
 * probe_i that is above the current size), or -1 when none is left. */
static int probe_next_index(const struct cr_stream_conn *c)
{
	for (uint32_t i = c->probe_i; i < CR_STREAM_PROBES; i++)
		if (c->cfg.probe_mtu[i] > c->mtu)
			return (int)i;
	return -1;
}

/* Sizes are tried largest first, so after a success, or after the last
 * size failed, nothing is left to try until the raise timer. */
static void probe_rest(struct cr_stream_conn *c)
{
	c->probe_i = 0;
	c->probe_tries = 0;
	c->probe_next = c->now + CR_SP_PROBE_RAISE_US;
}

static void probe_acked(struct cr_stream_conn *c, struct cr_sent_pkt *p,
			uint64_t pn)
{
	p->state = CR_SP_ACKED;
	if (pn != c->probe_pn)
		return; /* abandoned by a path change */
	c->probe_pn = CR_SP_NONE;
	if (p->size > c->mtu)
		c->mtu = p->size;
	probe_rest(c);
}

/* The probe in flight got no acknowledgement in time. */
static void probe_timeout(struct cr_stream_conn *c)
{
	struct cr_sent_pkt *p;
	int i;

	if (c->probe_pn >= c->sp_base && c->probe_pn < c->next_pn) {
		p = sp_slot(c, c->probe_pn);
		if (p->state == CR_SP_PROBE)
			p->state = CR_SP_NOACK;
	}
	c->probe_pn = CR_SP_NONE;
	c->probe_next = c->now;
	if (++c->probe_tries < CR_SP_MAX_PROBES)
		return;
	/* This size does not get through: on to the next smaller one. */
	c->probe_tries = 0;
	i = probe_next_index(c);
	c->probe_i = i < 0 ? CR_STREAM_PROBES : (uint32_t)i + 1;
	if (probe_next_index(c) < 0)
		probe_rest(c);
}

/*
 * Sends a probe when one is due: a PING padded to the size tried.  It
 * needs an RTT sample for its timeout.  It is sent outside congestion
 * control (one packet per RTT at most) and its loss is not a congestion
 * signal, since a probe too large for the path is lost by design.
 */
static void probe_send(struct cr_stream_conn *c)
{
	int i = probe_next_index(c);
	struct cr_sent_pkt *rec;
	size_t size, hdr;
	uint8_t *p;

	if (i < 0 || c->probe_pn != CR_SP_NONE || !c->have_rtt ||
	    c->now < c->probe_next || c->now < c->out_retry)
		return;
	size = c->cfg.probe_mtu[i];
	if (sp_reserve(c)) {
		fail(c, -ENOMEM);
		return;
	}
	p = vput(c->pkt, c->next_pn);
	*p++ = CR_SF_PING;
	hdr = (size_t)(p - c->pkt);
	memset(p, CR_SF_PADDING, size - hdr);
	rec = sp_slot(c, c->next_pn);
	memset(rec, 0, sizeof(*rec));
	rec->time = c->now;
	rec->size = (uint32_t)size;
	rec->state = CR_SP_PROBE;
	c->probe_pn = c->next_pn++;
	c->probe_deadline = c->now + rto_cur(c);
	c->st.pkts_sent++;
	c->st.mtu_probes++;
	c->nholes = 0;
	(void)pkt_out(c, size);
}

void cr_stream_path_changed(struct cr_stream_conn *c, uint64_t now_us)
{
	if (now_us > c->now)
		c->now = now_us;
	c->mtu = c->cfg.mtu;
	c->rto_streak = 0;
	c->probe_i = 0;
	c->probe_tries = 0;
	c->probe_on_ack = 0;
	/* What the old path carried says nothing about the new one. */
	for (size_t i = 0; i < CR_SP_LOST_RING; i++)
		c->lost_ring[i].size = 0;
	/* A probe in flight is forgotten: its slot must not wait for an
	 * acknowledgement any more, or it would hold the sent-packet window
	 * (sp_pop) for good when the probe was lost (a jumbo probe on a
	 * 1500-byte path always is), and the connection would crawl. */
	if (c->probe_pn != CR_SP_NONE && c->probe_pn >= c->sp_base &&
	    c->probe_pn < c->next_pn &&
	    sp_slot(c, c->probe_pn)->state == CR_SP_PROBE)
		sp_slot(c, c->probe_pn)->state = CR_SP_NOACK;
	c->probe_pn = CR_SP_NONE; /* an ack for the old one is ignored */
	sp_pop(c);
	c->probe_next = c->cfg.probe_mtu[0] ? c->now : CR_SP_NONE;
}

/* ---- Building packets ---- */

static int ack_is_due(const struct cr_stream_conn *c)
{
	return c->ae_unacked &&
	       (c->ae_unacked >= 2 || c->ack_now || c->now >= c->ack_deadline);
}

/* Writes an ACK frame of the newest ranges that fit; *lo gets the start of
 * the newest range (for pruning once the peer has seen this frame). */
static uint8_t *put_ack(struct cr_stream_conn *c, uint8_t *p,
			const uint8_t *end, uint64_t *lo)
{
	const struct cr_rng *top = &c->rx[c->rx_n - 1];
	uint64_t largest = top->hi - 1, first = largest - top->lo;
	uint64_t delay = c->now > c->rx_largest_time ?
				 c->now - c->rx_largest_time : 0;
	size_t budget = min_u64((size_t)(end - p), CR_SP_ACK_BUDGET);
	size_t size;
	uint64_t prev = top->lo;
	uint32_t count = 0;

	delay = min_u64(delay, CR_SP_VARINT_MAX);
	size = 1 + vlen(largest) + vlen(delay) + 1 + vlen(first);
	if (size > budget)
		return p;
	for (uint32_t i = c->rx_n - 1; i-- > 0;) {
		uint64_t gap = prev - c->rx[i].hi - 1;
		uint64_t len = c->rx[i].hi - 1 - c->rx[i].lo;
		size_t sz = vlen(gap) + vlen(len);

		if (size + sz > budget)
			break;
		size += sz;
		count++;
		prev = c->rx[i].lo;
	}
	*p++ = CR_SF_ACK;
	p = vput(p, largest);
	p = vput(p, delay);
	p = vput(p, count);
	p = vput(p, first);
	prev = top->lo;
	for (uint32_t i = c->rx_n - 1; count > 0; count--) {
		i--;
		p = vput(p, prev - c->rx[i].hi - 1);
		p = vput(p, c->rx[i].hi - 1 - c->rx[i].lo);
		prev = c->rx[i].lo;
	}
	*lo = top->lo;
	return p;
}

static void rec_add(struct cr_sent_pkt *p, uint8_t type, uint32_t sid,
		    uint64_t val, size_t len, uint8_t flags)
{
	struct cr_sent_frame *f = &p->f[p->n++];

	f->type = type;
	f->sid = sid;
	f->val = val;
	f->len = (uint16_t)len;
	f->flags = flags;
}

static uint8_t *put_control(struct cr_stream_conn *c, uint8_t *p,
			    const uint8_t *end, struct cr_sent_pkt *rec,
			    int *ae)
{
	size_t room;

	if (c->settings_pending && rec->n < CR_SP_PKT_FRAMES &&
	    (size_t)(end - p) >= 1 + 4 * 8) {
		*p++ = CR_SF_SETTINGS;
		p = vput(p, c->cfg.stream_window);
		p = vput(p, c->cfg.conn_window);
		p = vput(p, c->cfg.max_streams);
		p = vput(p, c->cfg.ack_delay_us);
		rec_add(rec, CR_SF_SETTINGS, 0, 0, 0, 0);
		c->settings_pending = 0;
		*ae = 1;
	}
	if (c->max_data_pending && rec->n < CR_SP_PKT_FRAMES &&
	    (size_t)(end - p) >= 1 + vlen(c->conn_rcv_max)) {
		*p++ = CR_SF_MAX_DATA;
		p = vput(p, c->conn_rcv_max);
		rec_add(rec, CR_SF_MAX_DATA, 0, c->conn_rcv_max, 0, 0);
		c->max_data_pending = 0;
		*ae = 1;
	}
	if (c->max_streams_pending && rec->n < CR_SP_PKT_FRAMES &&
	    (size_t)(end - p) >= 1 + vlen(c->streams_adv)) {
		*p++ = CR_SF_MAX_STREAMS;
		p = vput(p, c->streams_adv);
		rec_add(rec, CR_SF_MAX_STREAMS, 0, c->streams_adv, 0, 0);
		c->max_streams_pending = 0;
		*ae = 1;
	}
	while (!node_empty(&c->ctl) && rec->n < CR_SP_PKT_FRAMES) {
		struct cr_stream *s = CR_NODE_STREAM(c->ctl.next, ctl_node);

		if (s->rst_pending) {
			room = 1 + vlen(s->sid) + vlen((uint64_t)s->code) +
			       vlen(s->snd_next);
			if ((size_t)(end - p) < room)
				break;
			*p++ = CR_SF_RESET;
			p = vput(p, s->sid);
			p = vput(p, (uint64_t)s->code);
			p = vput(p, s->snd_next);
			rec_add(rec, CR_SF_RESET, s->sid, 0, 0, 0);
			s->rst_pending = 0;
			*ae = 1;
			continue;
		}
		if (s->msd_pending && !s->rst &&
		    s->rcv_final == CR_SP_NONE) {
			room = 1 + vlen(s->sid) + vlen(s->rcv_max);
			if ((size_t)(end - p) < room)
				break;
			*p++ = CR_SF_MAX_STREAM_DATA;
			p = vput(p, s->sid);
			p = vput(p, s->rcv_max);
			rec_add(rec, CR_SF_MAX_STREAM_DATA, s->sid, s->rcv_max,
				0, 0);
			*ae = 1;
		}
		s->msd_pending = 0;
		node_del(&s->ctl_node);
	}
	return p;
}

/*
 * Writes one STREAM frame of s for [off, off + len), shortened to fit.
 * Returns the data bytes written, or -1 when not even the header fits.
 */
static long put_stream_frame(struct cr_stream_conn *c, struct cr_stream *s,
			     uint8_t **pp, const uint8_t *end,
			     struct cr_sent_pkt *rec, uint64_t off,
			     uint64_t len)
{
	uint8_t *p = *pp;
	size_t room = (size_t)(end - p), hdr, avail, n;
	int open = s->local && off == 0 && !s->open_acked;
	int fin;
	uint8_t type = CR_SF_STREAM;

	hdr = 1 + vlen(s->sid) + (off ? vlen(off) : 0) +
	      (open ? 1u + s->meta_len : 0);
	if (hdr + 1 > room)
		return -1;
	avail = room - hdr;
	avail -= vlen(avail);
	n = (size_t)min_u64(len, avail);
	if (len > 0 && n == 0)
		return -1;
	fin = s->fin_req && off + n == s->fin_off && !s->fin_acked;
	if (fin)
		type |= CR_SF_STREAM_FIN;
	if (open)
		type |= CR_SF_STREAM_OPEN;
	if (off)
		type |= CR_SF_STREAM_OFF;
	*p++ = type;
	p = vput(p, s->sid);
	if (off)
		p = vput(p, off);
	p = vput(p, n);
	if (open) {
		*p++ = s->meta_len;
		memcpy(p, s->meta, s->meta_len);
		p += s->meta_len;
	}
	if (c->ops.outputv != NULL && n > 0 && c->nholes < CR_SP_PKT_FRAMES) {
		size_t i = (size_t)(off & (s->scap - 1)), first = s->scap - i;

		c->hole[c->nholes].at = (size_t)(p - c->pkt);
		c->hole[c->nholes].p1 = s->sbuf + i;
		c->hole[c->nholes].n1 = first < n ? first : n;
		c->hole[c->nholes].p2 = s->sbuf;
		c->hole[c->nholes].n2 = first < n ? n - first : 0;
		c->nholes++;
	} else {
		ring_get(s->sbuf, s->scap, off, p, n);
	}
	p += n;
	rec_add(rec, CR_SF_STREAM, s->sid, off, n, type & 0x03);
	if (open)
		s->open_pending = 0;
	if (fin)
		s->fin_pending = 0;
	c->st.bytes_sent += n;
	*pp = p;
	return (long)n;
}

/*
 * One frame of s: lost data first, then new data, then a lone FIN or
 * OPEN.  Returns 1 when a frame was written, 0 when s has nothing to send
 * (take it off the round robin), -1 when it has but cannot now (no room,
 * no connection credit).
 */
static int stream_emit(struct cr_stream_conn *c, struct cr_stream *s,
		       uint8_t **pp, const uint8_t *end,
		       struct cr_sent_pkt *rec)
{
	long n;
	int blocked = 0;

	if (s->rst)
		return 0;
	if (s->lost.n) {
		struct cr_rng *r = &s->lost.r[0];

		n = put_stream_frame(c, s, pp, end, rec, r->lo, r->hi - r->lo);
		if (n < 0)
			return -1;
		r->lo += (uint64_t)n;
		if (r->lo >= r->hi)
			rset_cut(&s->lost, 0, 1);
		rec->rtx = 1;
		return 1;
	}
	if (s->snd_next < s->snd_end && s->snd_next < s->snd_max) {
		uint64_t credit = c->conn_snd_max > c->tx_sum ?
					  c->conn_snd_max - c->tx_sum : 0;

		if (credit) {
			uint64_t len = min_u64(s->snd_end, s->snd_max) -
				       s->snd_next;

			n = put_stream_frame(c, s, pp, end, rec, s->snd_next,
					     min_u64(len, credit));
			if (n < 0)
				return -1;
			s->snd_next += (uint64_t)n;
			c->tx_sum += (uint64_t)n;
			return 1;
		}
		blocked = 1;
	}
	/* A lone FIN once every byte went out at least once. */
	if (s->fin_pending && s->snd_next == s->fin_off) {
		n = put_stream_frame(c, s, pp, end, rec, s->fin_off, 0);
		return n < 0 ? -1 : 1;
	}
	/* A lone OPEN when no data can carry it (none written yet, or no
	 * credit), so the peer learns of the stream anyway. */
	if (s->open_pending) {
		if (s->snd_next > 0) {
			/* Data at offset 0 went out with the OPEN; if it is
			 * lost it is sent again, with the OPEN. */
			s->open_pending = 0;
		} else {
			n = put_stream_frame(c, s, pp, end, rec, 0, 0);
			return n < 0 ? -1 : 1;
		}
	}
	return blocked ? -1 : 0;
}

static uint8_t *put_streams(struct cr_stream_conn *c, uint8_t *p,
			    const uint8_t *end, struct cr_sent_pkt *rec,
			    int *ae)
{
	uint32_t budget = c->rr_n;

	while (budget-- > 0 && !node_empty(&c->rr) &&
	       rec->n < CR_SP_PKT_FRAMES && end - p > 4) {
		struct cr_stream *s = CR_NODE_STREAM(c->rr.next, rr_node);
		int r = stream_emit(c, s, &p, end, rec);

		if (r == 0) {
			rr_del(c, s);
			continue;
		}
		/* Round robin: whoever sent goes to the back. */
		node_del(&s->rr_node);
		node_append(&c->rr, &s->rr_node);
		if (r > 0)
			*ae = 1;
	}
	return p;
}

/*
 * Builds and sends one packet.  Returns 1 when one was sent, 0 when there
 * is nothing to send, -1 when congestion control holds data back, -2
 * when the owner's output failed.
 */
static int send_one(struct cr_stream_conn *c)
{
	int cc_ok = c->bytes_in_flight < c->cwnd;
	int ack_due = ack_is_due(c), ae = 0, rc;
	uint64_t ack_lo = CR_SP_NONE;
	struct cr_sent_pkt *rec;
	uint8_t *p = c->pkt;
	const uint8_t *end = c->pkt + c->mtu;
	size_t len;

	if (!cc_ok && !ack_due)
		return -1;
	if (sp_reserve(c)) {
		fail(c, -ENOMEM);
		return 0;
	}
	rec = sp_slot(c, c->next_pn);
	rec->n = 0;
	rec->rtx = 0;
	c->nholes = 0;
	p = vput(p, c->next_pn);
	if (c->rx_changed && c->rx_n)
		p = put_ack(c, p, end, &ack_lo);
	if (cc_ok) {
		p = put_control(c, p, end, rec, &ae);
		p = put_streams(c, p, end, rec, &ae);
	}
	if (!ae && (!ack_due || ack_lo == CR_SP_NONE))
		return cc_ok ? 0 : -1;

	len = (size_t)(p - c->pkt);
	rec->time = c->now;
	rec->size = (uint32_t)len;
	if (ack_lo != CR_SP_NONE) {
		c->rx_changed = 0;
		c->ae_unacked = 0;
		c->ack_now = 0;
		c->ack_deadline = CR_SP_NONE;
		c->ackhist[c->ackhist_i].pn = c->next_pn;
		c->ackhist[c->ackhist_i].lo = ack_lo;
		c->ackhist_i = (c->ackhist_i + 1) % CR_SP_ACK_HIST;
	}
	if (ae) {
		rec->state = CR_SP_INFLIGHT;
		c->bytes_in_flight += len;
		c->ae_inflight++;
		c->last_ae_sent = c->now;
	} else {
		rec->state = CR_SP_NOACK;
	}
	if (rec->rtx)
		c->st.pkts_retransmitted++;
	c->next_pn++;
	c->st.pkts_sent++;
	/* A packet the owner could not send is in flight all the same: loss
	 * detection finds it, and meanwhile we back off for a moment. */
	rc = pkt_out(c, len);
	if (rc != 0) {
		c->out_retry = c->now + CR_SP_OUT_RETRY_US;
		return -2;
	}
	return 1;
}

static void flush(struct cr_stream_conn *c)
{
	if (c->broken || c->gone || c->now < c->out_retry)
		return;
	probe_send(c);
	for (;;) {
		int r = send_one(c);

		if (r > 0)
			continue;
		if (r == 0)
			c->want_send = 0;
		break;
	}
}

/* ---- Receiving ---- */

/* A parsed, validated frame, applied after the whole packet passed. */
struct rx_frame {
	uint8_t type;
	uint8_t flags;
	uint8_t meta_len;
	uint32_t sid;
	uint64_t a, b, d, e;
	const uint8_t *data; /* STREAM data; ACK ranges */
	const uint8_t *dend; /* end of the ACK ranges */
	const uint8_t *meta;
	uint64_t len; /* STREAM data length; ACK range count */
};

/* Per-stream state as the packet's frames would leave it, so frames of one
 * packet are checked against each other too. */
struct rx_tent {
	uint32_t sid;
	uint64_t highest, final, max, contig;
	uint32_t ooo;
};

enum rx_class {
	RX_BAD = -1,
	RX_CLOSED = 0,
	RX_LIVE = 1,
	RX_NEW = 2,
};

static enum rx_class rx_classify(const struct cr_stream_conn *c, uint64_t sid,
				 struct cr_stream **sp)
{
	uint64_t k;

	*sp = NULL;
	if (sid > UINT32_MAX)
		return RX_BAD;
	k = sid_index((uint32_t)sid);
	if (k == CR_SP_NONE)
		return RX_BAD;
	if (sid_is_local(c, (uint32_t)sid)) {
		if (k >= c->local_next)
			return RX_BAD;
		*sp = tab_get(c, (uint32_t)sid);
		return *sp ? RX_LIVE : RX_CLOSED;
	}
	if (k < c->peer_next) {
		*sp = tab_get(c, (uint32_t)sid);
		return *sp ? RX_LIVE : RX_CLOSED;
	}
	if (k >= c->streams_adv)
		return RX_BAD;
	return RX_NEW;
}

static uint32_t ooo_cap(const struct cr_stream_conn *c)
{
	/* An honest sender leaves at most one gap per lost packet, ~1 KB
	 * each; a hostile one sending 1-byte frames must not make us keep a
	 * range per byte. */
	return (uint32_t)max_u64(64, c->cfg.stream_window / 512);
}

static struct rx_tent *rx_tent_get(const struct cr_stream_conn *c,
				   struct rx_tent *t, size_t *nt, uint32_t sid,
				   const struct cr_stream *s)
{
	for (size_t i = 0; i < *nt; i++)
		if (t[i].sid == sid)
			return &t[i];
	t += (*nt)++;
	t->sid = sid;
	t->ooo = 0;
	if (s) {
		t->highest = s->rcv_highest;
		t->final = s->rcv_final;
		t->max = s->rcv_max;
		t->contig = s->rcv_contig;
	} else {
		t->highest = 0;
		t->final = CR_SP_NONE;
		t->max = c->cfg.stream_window;
		t->contig = 0;
	}
	return t;
}

/* Moves the tentative highest offset to end, checking the connection
 * window (RFC 9000 4.5: final and highest offsets count). */
static int rx_tent_extend(const struct cr_stream_conn *c, struct rx_tent *t,
			  uint64_t end, uint64_t *sum)
{
	if (end > t->highest) {
		*sum += end - t->highest;
		t->highest = end;
		if (*sum > c->conn_rcv_max)
			return -1;
	}
	return 0;
}

/*
 * Parses and validates a whole packet without changing anything.  Returns
 * 0 (frames in fr), 1 to drop the packet quietly (a buffer limit, without
 * acknowledging it), or -EBADMSG.
 */
static int rx_parse(const struct cr_stream_conn *c, const uint8_t *pkt,
		    size_t len, uint64_t *pn, struct rx_frame *fr, size_t *nfr)
{
	struct cr_cur cu = { pkt, pkt + len };
	struct rx_tent tent[CR_SP_RX_FRAMES];
	size_t n = 0, nt = 0;
	uint64_t sum = c->rx_sum;
	int drop = 0;

	if (cur_varint(&cu, pn) < 0)
		return -EBADMSG;
	while (cu.p < cu.end) {
		struct rx_frame *f;
		struct cr_stream *s;
		struct rx_tent *t;
		enum rx_class cls;
		uint8_t type;
		uint64_t v, end;

		if (n == CR_SP_RX_FRAMES)
			return -EBADMSG;
		f = &fr[n++];
		memset(f, 0, sizeof(*f));
		type = *cu.p++;
		f->type = type;
		if ((type & 0xf8) == CR_SF_STREAM) {
			f->type = CR_SF_STREAM;
			f->flags = type & 0x07;
			if (cur_varint(&cu, &v) < 0)
				return -EBADMSG;
			f->a = 0;
			if ((type & CR_SF_STREAM_OFF) &&
			    cur_varint(&cu, &f->a) < 0)
				return -EBADMSG;
			if (cur_varint(&cu, &f->len) < 0)
				return -EBADMSG;
			if (type & CR_SF_STREAM_OPEN) {
				if (cu.p >= cu.end)
					return -EBADMSG;
				f->meta_len = *cu.p++;
				if (f->meta_len > CR_STREAM_META_MAX ||
				    cur_bytes(&cu, f->meta_len, &f->meta) < 0)
					return -EBADMSG;
			}
			if (cur_bytes(&cu, f->len, &f->data) < 0)
				return -EBADMSG;
			end = f->a + f->len;
			if (end > CR_SP_VARINT_MAX)
				return -EBADMSG;
			cls = rx_classify(c, v, &s);
			if (cls == RX_BAD)
				return -EBADMSG;
			f->sid = (uint32_t)v;
			if ((type & CR_SF_STREAM_OPEN) &&
			    (sid_is_local(c, f->sid) || f->a != 0))
				return -EBADMSG;
			if (cls == RX_CLOSED)
				continue;
			t = rx_tent_get(c, tent, &nt, f->sid, s);
			/* RFC 9000 4.5 and 4.1: final size and limits. */
			if (end > t->max)
				return -EBADMSG;
			if (t->final != CR_SP_NONE &&
			    (end > t->final ||
			     ((type & CR_SF_STREAM_FIN) && end != t->final)))
				return -EBADMSG;
			if (type & CR_SF_STREAM_FIN) {
				if (t->highest > end)
					return -EBADMSG;
				t->final = end;
			}
			if (rx_tent_extend(c, t, end, &sum) < 0)
				return -EBADMSG;
			if (s && !s->rst && f->len && f->a > t->contig) {
				t->ooo++;
				if (s->ooo.n + t->ooo > ooo_cap(c))
					drop = 1;
			}
			continue;
		}
		switch (type) {
		case CR_SF_PING:
			break;
		case CR_SF_PADDING:
			/* Zero bytes to the end; not a frame to apply. */
			while (cu.p < cu.end)
				if (*cu.p++ != CR_SF_PADDING)
					return -EBADMSG;
			n--;
			break;
		case CR_SF_ACK: {
			uint64_t smallest, gap, rl;

			if (cur_varint(&cu, &f->a) < 0 ||
			    cur_varint(&cu, &f->b) < 0 ||
			    cur_varint(&cu, &f->len) < 0 ||
			    cur_varint(&cu, &f->d) < 0)
				return -EBADMSG;
			/* RFC 9000 13.1: acknowledging a packet never sent
			 * is a protocol violation. */
			if (f->a >= c->next_pn || f->d > f->a ||
			    f->len > CR_SP_ACK_RANGES_RX)
				return -EBADMSG;
			f->data = cu.p;
			smallest = f->a - f->d;
			for (uint64_t i = 0; i < f->len; i++) {
				if (cur_varint(&cu, &gap) < 0 ||
				    cur_varint(&cu, &rl) < 0)
					return -EBADMSG;
				if (smallest < gap + 2)
					return -EBADMSG;
				v = smallest - gap - 2;
				if (rl > v)
					return -EBADMSG;
				smallest = v - rl;
			}
			f->dend = cu.p;
			break;
		}
		case CR_SF_RESET:
			if (cur_varint(&cu, &v) < 0 ||
			    cur_varint(&cu, &f->a) < 0 ||
			    cur_varint(&cu, &f->b) < 0)
				return -EBADMSG;
			if (f->a > 255)
				return -EBADMSG;
			cls = rx_classify(c, v, &s);
			if (cls == RX_BAD)
				return -EBADMSG;
			f->sid = (uint32_t)v;
			if (cls == RX_CLOSED)
				break;
			t = rx_tent_get(c, tent, &nt, f->sid, s);
			if (f->b > t->max || f->b < t->highest ||
			    (t->final != CR_SP_NONE && f->b != t->final))
				return -EBADMSG;
			t->final = f->b;
			if (rx_tent_extend(c, t, f->b, &sum) < 0)
				return -EBADMSG;
			break;
		case CR_SF_MAX_DATA:
		case CR_SF_MAX_STREAMS:
			if (cur_varint(&cu, &f->a) < 0)
				return -EBADMSG;
			break;
		case CR_SF_MAX_STREAM_DATA:
			if (cur_varint(&cu, &v) < 0 ||
			    cur_varint(&cu, &f->a) < 0)
				return -EBADMSG;
			if (rx_classify(c, v, &s) == RX_BAD)
				return -EBADMSG;
			f->sid = (uint32_t)v;
			break;
		case CR_SF_SETTINGS:
			if (cur_varint(&cu, &f->a) < 0 ||
			    cur_varint(&cu, &f->b) < 0 ||
			    cur_varint(&cu, &f->d) < 0 ||
			    cur_varint(&cu, &f->e) < 0)
				return -EBADMSG;
			if (f->a < CR_SP_INIT_STREAM_WINDOW ||
			    f->b < CR_SP_INIT_CONN_WINDOW ||
			    f->d < CR_SP_INIT_MAX_STREAMS ||
			    f->e > CR_SP_MAX_ACK_DELAY_US)
				return -EBADMSG;
			break;
		default:
			return -EBADMSG;
		}
	}
	if (n == 0)
		return -EBADMSG;
	*nfr = n;
	return drop;
}

/* Returns the stream for a frame, opening the peer's streams up to sid
 * (RFC 9000 3.2), or NULL for a closed stream. */
static struct cr_stream *rx_stream(struct cr_stream_conn *c, uint32_t sid)
{
	struct cr_stream *s = tab_get(c, sid);
	uint64_t k;

	if (s || sid_is_local(c, sid))
		return s;
	k = sid_index(sid);
	if (k < c->peer_next || k >= c->streams_adv)
		return NULL;
	while (c->peer_next <= k) {
		s = stream_new(c, sid_make(!c->is_client, c->peer_next), 0);
		if (!s) {
			fail(c, -ENOMEM);
			return NULL;
		}
		c->peer_next++;
	}
	return s;
}

static int rx_readable(const struct cr_stream *s)
{
	return s->rcv_contig > s->rcv_read || s->rcv_final == s->rcv_contig;
}

static void rx_open(struct cr_stream_conn *c, struct cr_stream *s,
		    const struct rx_frame *f)
{
	int rc;

	s->peer_opened = 1;
	if (s->rst)
		return;
	s->accepted = 1;
	rc = c->ops.accept ? c->ops.accept(c->ctx, s->sid, f->meta,
					   f->meta_len) :
			     0;
	if (rc != 0) {
		/* Refused: the owner never sees it, so no closed callback. */
		s->accepted = 0;
		s->app_gone = 1;
		if (!s->rst)
			stream_reset(c, s, rc > 0 && rc < 256 ?
						   rc : CR_STREAM_RESET_REFUSED,
				     0);
		return;
	}
	if (!s->rst && rx_readable(s)) {
		s->ev_readable = 1;
		ev_add(c, s);
	}
}

static void rx_highest(struct cr_stream_conn *c, struct cr_stream *s,
		       uint64_t end)
{
	if (end > s->rcv_highest) {
		c->rx_sum += end - s->rcv_highest;
		s->rcv_highest = end;
	}
}

static void apply_stream(struct cr_stream_conn *c, const struct rx_frame *f)
{
	struct cr_stream *s = rx_stream(c, f->sid);
	uint64_t off = f->a, end = f->a + f->len, lo, old_contig, old_high;
	int fin_new = 0;
	long grown;

	if (!s)
		return;
	if ((f->flags & CR_SF_STREAM_OPEN) && !s->peer_opened)
		rx_open(c, s, f);
	old_contig = s->rcv_contig;
	old_high = s->rcv_highest;
	rx_highest(c, s, end);
	if ((f->flags & CR_SF_STREAM_FIN) && s->rcv_final == CR_SP_NONE) {
		s->rcv_final = end;
		fin_new = 1;
	}
	if (s->rst) {
		rx_discard(c, s);
		zombie_check(c, s);
		return;
	}
	lo = max_u64(off, s->rcv_contig);
	if (end > lo) {
		grown = ring_fit(&s->rbuf, &s->rcap, s->rcv_read - s->rbase,
				 old_high - s->rbase,
				 (size_t)(s->rcv_highest - s->rcv_read));
		if (grown < 0) {
			fail(c, -ENOMEM);
			return;
		}
		c->rbuf_total += (size_t)grown;
		ring_put(s->rbuf, s->rcap, lo - s->rbase, f->data + (lo - off),
			 (size_t)(end - lo));
		c->st.bytes_received += end - lo;
		if (lo == s->rcv_contig) {
			s->rcv_contig = end;
			while (s->ooo.n && s->ooo.r[0].lo <= s->rcv_contig) {
				if (s->ooo.r[0].hi > s->rcv_contig)
					s->rcv_contig = s->ooo.r[0].hi;
				rset_cut(&s->ooo, 0, 1);
			}
		} else if (rset_add(&s->ooo, lo, end)) {
			fail(c, -ENOMEM);
			return;
		}
	}
	if (s->accepted && (s->rcv_contig > old_contig ||
			    (fin_new && s->rcv_contig == s->rcv_final))) {
		s->ev_readable = 1;
		ev_add(c, s);
	}
}

static void apply_reset(struct cr_stream_conn *c, const struct rx_frame *f)
{
	struct cr_stream *s = rx_stream(c, f->sid);

	if (!s)
		return;
	rx_highest(c, s, f->b);
	s->rcv_final = f->b;
	if (!s->rst) {
		/* Answer with our RESET (and final size), same code. */
		stream_reset(c, s, (int)f->a, 1);
	} else {
		rx_discard(c, s);
		zombie_check(c, s);
	}
}

static void apply_settings(struct cr_stream_conn *c, const struct rx_frame *f)
{
	uint64_t w = min_u64(f->a, CR_SP_VARINT_MAX);

	if (w > c->peer_stream_window) {
		c->peer_stream_window = w;
		/* Streams opened before SETTINGS used the initial value. */
		for (uint32_t i = 0; i < c->tab_cap; i++) {
			struct cr_stream *s = c->tab[i];

			if (s && s->snd_max < w) {
				s->snd_max = w;
				if (s->snd_next < s->snd_end)
					rr_add(c, s);
			}
		}
	}
	c->conn_snd_max = max_u64(c->conn_snd_max, f->b);
	c->peer_max_streams = max_u64(c->peer_max_streams,
				      min_u64(f->d, UINT32_MAX / 2));
	c->peer_ack_delay = f->e;
}

static void ack_range(struct cr_stream_conn *c, uint64_t lo, uint64_t hi,
		      uint64_t infl0, int *newly)
{
	lo = max_u64(lo, c->sp_base);
	hi = min_u64(hi, c->next_pn - 1);
	for (uint64_t pn = lo; pn <= hi && pn >= lo; pn++) {
		struct cr_sent_pkt *p = sp_slot(c, pn);

		if (p->state == CR_SP_INFLIGHT) {
			c->bytes_in_flight -= p->size;
			c->ae_inflight--;
			cc_on_ack(c, p, infl0);
			*newly = 1;
		} else if (p->state == CR_SP_PROBE) {
			probe_acked(c, p, pn);
			continue;
		} else if (p->state != CR_SP_LOST) {
			if (p->state == CR_SP_NOACK)
				p->state = CR_SP_ACKED;
			continue;
		}
		/* A packet declared lost that arrives after all still
		 * saves resending what it carried. */
		p->state = CR_SP_ACKED;
		for (unsigned i = 0; i < p->n; i++)
			frame_acked(c, &p->f[i]);
	}
}

/* Drops received ranges the peer knows we reported (RFC 9000 13.2.4). */
static void rx_prune(struct cr_stream_conn *c, uint64_t lo)
{
	uint32_t k = 0;

	while (k < c->rx_n && c->rx[k].hi <= lo)
		k++;
	if (k == 0 || k == c->rx_n)
		return;
	memmove(c->rx, c->rx + k, (c->rx_n - k) * sizeof(c->rx[0]));
	c->rx_n -= k;
	c->rx_floor = max_u64(c->rx_floor, lo);
}

static void apply_ack(struct cr_stream_conn *c, const struct rx_frame *f)
{
	struct cr_cur cu = { f->data, f->dend };
	uint64_t largest = f->a, lo = f->a - f->d, hi = f->a, gap = 0, rl = 0;
	uint64_t infl0 = c->bytes_in_flight, sent_time = 0;
	struct cr_rng rg[CR_SP_ACK_RANGES_RX + 1];
	uint32_t nrg = 0;
	int newly = 0, sample = 0;

	if (largest >= c->sp_base && largest < c->next_pn &&
	    sp_slot(c, largest)->state == CR_SP_INFLIGHT) {
		sample = 1;
		sent_time = sp_slot(c, largest)->time;
	}
	for (uint64_t i = 0;; i++) {
		ack_range(c, lo, hi, infl0, &newly);
		rg[nrg].lo = lo;
		rg[nrg++].hi = hi;
		if (i == f->len)
			break;
		/* Validated by rx_parse. */
		(void)cur_varint(&cu, &gap);
		(void)cur_varint(&cu, &rl);
		hi = lo - gap - 2;
		lo = hi - rl;
	}
	for (size_t i = 0; i < CR_SP_ACK_HIST; i++) {
		if (c->ackhist[i].pn != CR_SP_NONE &&
		    c->ackhist[i].pn >= f->a - f->d && c->ackhist[i].pn <= f->a) {
			rx_prune(c, c->ackhist[i].lo);
			c->ackhist[i].pn = CR_SP_NONE;
		}
	}
	for (uint32_t i = 0; c->lost_valid && i < CR_SP_LOST_RING; i++) {
		uint64_t pn = c->lost_ring[i].pn;

		if (pn == CR_SP_NONE || pn > largest || pn < rg[nrg - 1].lo)
			continue;
		for (uint32_t k = 0; k < nrg; k++) {
			if (pn >= rg[k].lo && pn <= rg[k].hi) {
				c->lost_ring[i].pn = CR_SP_NONE;
				c->lost_valid--;
				on_spurious(c, c->lost_ring[i].episode,
					    c->lost_ring[i].reo);
				/* It was only late: the path carries its
				 * size (undoes a black-hole fallback). */
				if (c->lost_ring[i].size > c->mtu)
					c->mtu = c->lost_ring[i].size;
				break;
			}
		}
	}
	if (c->largest_acked == CR_SP_NONE || largest > c->largest_acked)
		c->largest_acked = largest;
	if (sample && c->now >= sent_time)
		rtt_update(c, c->now - sent_time, f->b);
	if (newly) {
		c->backoff = 0; /* RFC 6298 5.7 */
		c->rto_streak = 0;
		if (c->probe_on_ack) {
			c->probe_on_ack = 0;
			c->probe_next = c->now;
		}
	}
	detect_lost(c);
}

static void apply(struct cr_stream_conn *c, const struct rx_frame *f)
{
	struct cr_stream *s;

	switch (f->type) {
	case CR_SF_STREAM:
		apply_stream(c, f);
		break;
	case CR_SF_ACK:
		apply_ack(c, f);
		break;
	case CR_SF_RESET:
		apply_reset(c, f);
		break;
	case CR_SF_MAX_DATA:
		if (f->a > c->conn_snd_max) {
			c->conn_snd_max = f->a;
			c->want_send = 1;
		}
		break;
	case CR_SF_MAX_STREAM_DATA:
		s = tab_get(c, f->sid);
		if (s && !s->rst && f->a > s->snd_max) {
			s->snd_max = f->a;
			if (s->snd_next < s->snd_end)
				rr_add(c, s);
		}
		break;
	case CR_SF_MAX_STREAMS:
		c->peer_max_streams = max_u64(c->peer_max_streams,
					      min_u64(f->a, UINT32_MAX / 2));
		break;
	case CR_SF_SETTINGS:
		apply_settings(c, f);
		break;
	default:
		break;
	}
}

/* 1 when pn was seen before (or is too old to tell). */
static int rx_seen(const struct cr_stream_conn *c, uint64_t pn)
{
	uint32_t a = 0, b = c->rx_n;

	if (pn < c->rx_floor)
		return 1;
	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (c->rx[m].hi <= pn)
			a = m + 1;
		else
			b = m;
	}
	return a < c->rx_n && c->rx[a].lo <= pn;
}

static void rx_record(struct cr_stream_conn *c, uint64_t pn, int ae)
{
	uint32_t n = c->rx_n, i;
	int in_order = n && pn == c->rx[n - 1].hi;

	if (in_order) {
		c->rx[n - 1].hi++;
	} else {
		/* Insert, merging with neighbours. */
		for (i = n; i > 0 && c->rx[i - 1].lo > pn; i--)
			;
		if (i > 0 && c->rx[i - 1].hi == pn) {
			c->rx[i - 1].hi++;
			if (i < n && c->rx[i].lo == pn + 1) {
				c->rx[i - 1].hi = c->rx[i].hi;
				memmove(c->rx + i, c->rx + i + 1,
					(n - i - 1) * sizeof(c->rx[0]));
				c->rx_n--;
			}
		} else if (i < n && c->rx[i].lo == pn + 1) {
			c->rx[i].lo = pn;
		} else {
			memmove(c->rx + i + 1, c->rx + i,
				(n - i) * sizeof(c->rx[0]));
			c->rx[i].lo = pn;
			c->rx[i].hi = pn + 1;
			c->rx_n++;
			if (c->rx_n > CR_SP_ACK_RANGES) {
				c->rx_floor = c->rx[0].hi;
				memmove(c->rx, c->rx + 1,
					(c->rx_n - 1) * sizeof(c->rx[0]));
				c->rx_n--;
			}
		}
	}
	if (!c->rx_any || pn > c->rx_largest) {
		c->rx_largest = pn;
		c->rx_largest_time = c->now;
	}
	c->rx_any = 1;
	c->rx_changed = 1;
	if (ae) {
		/* RFC 9000 13.2.1: a packet out of order (or the first) is
		 * acknowledged at once, others every second packet or after
		 * the ack delay. */
		if (!in_order)
			c->ack_now = 1;
		if (c->ae_unacked++ == 0)
			c->ack_deadline = c->now + c->cfg.ack_delay_us;
	}
}

int cr_stream_input(struct cr_stream_conn *c, const uint8_t *pkt, size_t len,
		    uint64_t now_us)
{
	struct rx_frame fr[CR_SP_RX_FRAMES];
	size_t n = 0;
	uint64_t pn;
	int rc, ae = 0;

	if (now_us > c->now)
		c->now = now_us;
	if (c->broken)
		return c->broken;
	if (c->gone)
		return 0;
	rc = rx_parse(c, pkt, len, &pn, fr, &n);
	if (rc < 0)
		return rc;
	if (rc > 0 || rx_seen(c, pn))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (fr[i].type != CR_SF_ACK)
			ae = 1;
	c->last_recv = c->now;
	c->out_retry = 0;
	c->st.pkts_received++;
	rx_record(c, pn, ae);
	for (size_t i = 0; i < n; i++)
		apply(c, &fr[i]);
	/* An owner that flushes after each batch of datagrams also gets the
	 * events then (cr_stream_tick dispatches): a stream that became
	 * readable on every packet of a batch is read once, so the bridge
	 * writes the batch to its socket in one call instead of one per
	 * packet (the profile showed a send(2) per 9 KB packet). */
	if (!c->cfg.input_defers_send) {
		dispatch(c);
		flush(c);
	}
	return c->broken;
}

/* ---- Timers ---- */

void cr_stream_tick(struct cr_stream_conn *c, uint64_t now_us)
{
	uint64_t t;

	if (now_us > c->now)
		c->now = now_us;
	if (c->broken || c->gone)
		return;
	if (c->now >= c->out_retry)
		c->out_retry = 0;
	if (c->probe_pn != CR_SP_NONE && c->now >= c->probe_deadline)
		probe_timeout(c);
	t = recovery_deadline(c);
	if (t != CR_SP_NONE && c->now >= t) {
		if (c->loss_time != CR_SP_NONE)
			detect_lost(c);
		else
			on_rto(c);
	}
	dispatch(c);
	flush(c);
}

uint64_t cr_stream_next_timeout(const struct cr_stream_conn *c)
{
	uint64_t t = CR_SP_NONE, r;

	if (c->broken || c->gone)
		return CR_SP_NONE;
	if (!node_empty(&c->ev))
		return c->now;
	if (c->want_send && c->bytes_in_flight < c->cwnd)
		return max_u64(c->now, c->out_retry);
	if (c->ae_unacked) {
		r = ack_is_due(c) ? c->now : c->ack_deadline;
		t = min_u64(t, max_u64(r, c->out_retry));
	}
	t = min_u64(t, recovery_deadline(c));
	if (c->probe_pn != CR_SP_NONE)
		t = min_u64(t, c->probe_deadline);
	else if (c->have_rtt && probe_next_index(c) >= 0)
		t = min_u64(t, max_u64(c->probe_next, c->now));
	if (c->cfg.idle_timeout_us) {
		r = c->last_recv + c->cfg.idle_timeout_us;
		if (r > c->now)
			t = min_u64(t, r);
	}
	return t;
}

/* ---- Owner API ---- */

static struct cr_stream *app_stream(const struct cr_stream_conn *c,
				    uint32_t sid)
{
	struct cr_stream *s = tab_get(c, sid);

	if (!s || !s->accepted || s->app_gone)
		return NULL;
	return s;
}

int cr_stream_open(struct cr_stream_conn *c, const uint8_t *meta,
		   size_t meta_len, uint64_t now_us, uint32_t *sid)
{
	struct cr_stream *s;

	if (now_us > c->now)
		c->now = now_us;
	if (meta_len > CR_STREAM_META_MAX)
		return -EMSGSIZE;
	if (c->gone || c->broken)
		return -ENOTCONN;
	if (c->local_next >= c->peer_max_streams ||
	    c->local_next >= UINT32_MAX / 2 - 1)
		return -EAGAIN;
	s = stream_new(c, sid_make(c->is_client, c->local_next), 1);
	if (!s)
		return -ENOMEM;
	c->local_next++;
	s->accepted = 1;
	s->open_pending = 1;
	s->meta_len = (uint8_t)meta_len;
	if (meta_len)
		memcpy(s->meta, meta, meta_len);
	rr_add(c, s);
	*sid = s->sid;
	return 0;
}

/* The pieces of a ring holding len bytes from off. */
static int ring_iov(uint8_t *buf, size_t cap, uint64_t off, size_t len,
		    struct iovec iov[2])
{
	size_t i = (size_t)(off & (cap - 1)), first = cap - i;

	if (len == 0)
		return 0;
	iov[0].iov_base = buf + i;
	if (first >= len) {
		iov[0].iov_len = len;
		return 1;
	}
	iov[0].iov_len = first;
	iov[1].iov_base = buf;
	iov[1].iov_len = len - first;
	return 2;
}

int cr_stream_write_space(struct cr_stream_conn *c, uint32_t sid, size_t max,
			  struct iovec iov[2], uint64_t now_us)
{
	struct cr_stream *s = app_stream(c, sid);
	size_t space, n;
	long grown;

	if (now_us > c->now)
		c->now = now_us;
	if (!s)
		return -ENOENT;
	if (s->rst || s->fin_req)
		return -EPIPE;
	space = c->cfg.stream_sndbuf - (size_t)(s->snd_end - s->snd_base);
	n = max < space ? max : space;
	if (n < max)
		s->want_writable = 1;
	if (n == 0)
		return 0;
	grown = ring_fit(&s->sbuf, &s->scap, s->snd_base, s->snd_end,
			 (size_t)(s->snd_end + n - s->snd_base));
	if (grown < 0)
		return -ENOMEM;
	return ring_iov(s->sbuf, s->scap, s->snd_end, n, iov);
}

void cr_stream_write_commit(struct cr_stream_conn *c, uint32_t sid, size_t n)
{
	struct cr_stream *s = app_stream(c, sid);

	if (!s || n == 0)
		return;
	s->snd_end += n;
	if (s->snd_next < s->snd_max)
		rr_add(c, s);
}

ssize_t cr_stream_write(struct cr_stream_conn *c, uint32_t sid,
			const uint8_t *buf, size_t len, uint64_t now_us)
{
	struct iovec iov[2];
	int k = cr_stream_write_space(c, sid, len, iov, now_us);
	size_t n = 0;

	if (k < 0)
		return k;
	for (int i = 0; i < k; i++) {
		memcpy(iov[i].iov_base, buf + n, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	cr_stream_write_commit(c, sid, n);
	return (ssize_t)n;
}

ssize_t cr_stream_read_peek(struct cr_stream_conn *c, uint32_t sid,
			    struct iovec iov[2], int *niov, uint64_t now_us)
{
	struct cr_stream *s = app_stream(c, sid);
	size_t n;

	*niov = 0;
	if (now_us > c->now)
		c->now = now_us;
	if (!s)
		return -ENOENT;
	if (s->rst)
		return -ECONNRESET;
	n = (size_t)(s->rcv_contig - s->rcv_read);
	if (n == 0) {
		if (s->rcv_read != s->rcv_final)
			return -EAGAIN;
		if (!s->eof_read) {
			s->eof_read = 1;
			stream_check_done(c, s);
		}
		return 0;
	}
	*niov = ring_iov(s->rbuf, s->rcap, s->rcv_read - s->rbase, n, iov);
	return (ssize_t)n;
}

void cr_stream_read_consume(struct cr_stream_conn *c, uint32_t sid, size_t n)
{
	struct cr_stream *s = app_stream(c, sid);

	if (!s || n == 0)
		return;
	s->rcv_read += n;
	c->consumed += n;
	/* RFC 9000 4.2: return credit once half the window is used. */
	if (s->rcv_final == CR_SP_NONE &&
	    s->rcv_max - s->rcv_read < c->cfg.stream_window / 2) {
		s->rcv_max = s->rcv_read + c->cfg.stream_window;
		s->msd_pending = 1;
		ctl_add(c, s);
	}
	conn_credit(c);
	if (s->rcv_read == s->rcv_highest)
		s->rbase = s->rcv_read; /* empty: start over at rbuf[0] */
	/* Rings are kept for reuse, unless together they hold more than
	 * the connection window allows in flight: then empty ones go. */
	if (s->rcv_read == s->rcv_highest &&
	    c->rbuf_total > 2 * c->cfg.conn_window) {
		c->rbuf_total -= s->rcap;
		free(s->rbuf);
		s->rbuf = NULL;
		s->rcap = 0;
	}
}

ssize_t cr_stream_read(struct cr_stream_conn *c, uint32_t sid, uint8_t *buf,
		       size_t cap, uint64_t now_us)
{
	struct iovec iov[2];
	int k;
	ssize_t r = cr_stream_read_peek(c, sid, iov, &k, now_us);
	size_t n = 0;

	if (r <= 0)
		return r;
	for (int i = 0; i < k && n < cap; i++) {
		size_t m = min_u64(iov[i].iov_len, cap - n);

		memcpy(buf + n, iov[i].iov_base, m);
		n += m;
	}
	cr_stream_read_consume(c, sid, n);
	return (ssize_t)n;
}

int cr_stream_shutdown(struct cr_stream_conn *c, uint32_t sid, uint64_t now_us)
{
	struct cr_stream *s = app_stream(c, sid);

	if (now_us > c->now)
		c->now = now_us;
	if (!s)
		return -ENOENT;
	if (s->rst)
		return -EPIPE;
	if (s->fin_req)
		return 0;
	s->fin_req = 1;
	s->fin_off = s->snd_end;
	s->fin_pending = 1;
	rr_add(c, s);
	return 0;
}

int cr_stream_reset(struct cr_stream_conn *c, uint32_t sid, int code,
		    uint64_t now_us)
{
	struct cr_stream *s = app_stream(c, sid);

	if (now_us > c->now)
		c->now = now_us;
	if (!s)
		return -ENOENT;
	if (code < 0 || code > 255)
		return -EINVAL;
	if (!s->rst)
		stream_reset(c, s, code, 1);
	return 0;
}

size_t cr_stream_writable(const struct cr_stream_conn *c, uint32_t sid)
{
	const struct cr_stream *s = app_stream(c, sid);

	if (!s || s->rst || s->fin_req)
		return 0;
	return c->cfg.stream_sndbuf - (size_t)(s->snd_end - s->snd_base);
}

void cr_stream_abort_all(struct cr_stream_conn *c)
{
	c->gone = 1;
	for (uint32_t i = 0; i < c->tab_cap; i++) {
		struct cr_stream *s = c->tab[i];

		if (!s)
			continue;
		if (s->accepted && !s->app_gone) {
			s->app_gone = 1;
			if (c->ops.closed)
				c->ops.closed(c->ctx, s->sid,
					      CR_STREAM_RESET_GONE);
		}
	}
	/* Callbacks may not free streams (c->gone stops everything), so
	 * the table is stable for the second pass. */
	for (uint32_t i = 0; i < c->tab_cap; i++) {
		struct cr_stream *s = c->tab[i];

		if (!s)
			continue;
		c->tab[i] = NULL;
		stream_release(s);
	}
	c->tab_n = 0;
	node_init(&c->rr);
	node_init(&c->ctl);
	node_init(&c->ev);
	c->rr_n = 0;
	c->rbuf_total = 0;
}

int cr_stream_is_dead(const struct cr_stream_conn *c, uint64_t now_us)
{
	if (c->broken)
		return 1;
	if (!c->cfg.idle_timeout_us)
		return 0;
	return now_us >= c->last_recv &&
	       now_us - c->last_recv >= c->cfg.idle_timeout_us;
}

void cr_stream_get_stats(const struct cr_stream_conn *c,
			 struct cr_stream_stats *st)
{
	*st = c->st;
	st->srtt_us = c->srtt;
	st->rttvar_us = c->rttvar;
	st->min_rtt_us = c->min_rtt;
	st->rto_us = c->rto;
	st->cwnd = c->cwnd;
	st->bytes_in_flight = c->bytes_in_flight;
	st->ssthresh = c->ssthresh;
	st->streams_open = c->tab_n;
	st->mtu = c->mtu;
	st->sent_track_max = c->sp_cap;
}
