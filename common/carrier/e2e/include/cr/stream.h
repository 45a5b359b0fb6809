/*
 * Reliable, ordered, multiplexed byte streams over an unreliable datagram
 * channel (an end-to-end session, relayed or direct), in the manner of QUIC:
 * packets carry a packet number and frames; acknowledgements carry ranges
 * (selective acks); lost frames are sent again in new packets, so loss on one
 * stream never blocks another.  RTO per RFC 6298, NewReno congestion control,
 * connection- and stream-level flow control windows, half-close (FIN) and
 * reset.  The path underneath may change at any time: nothing here depends
 * on addresses.
 *
 * The module does no I/O and reads no clock (times are microseconds from
 * the owner's monotonic clock).  The owner hands received packets to
 * cr_stream_input(), sends what the `output` callback produces, and calls
 * cr_stream_tick() when cr_stream_next_timeout() says.
 *
 * Stream ids: the side created with is_client=1 opens odd ids, the other even
 * ones.  Opening a stream carries up to CR_STREAM_META_MAX bytes of metadata
 * (Carrier puts the target port there).
 */
#ifndef CR_STREAM_H
#define CR_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct cr_stream_conn;

enum {
	CR_STREAM_META_MAX = 64,
};

/* Reset codes carried by a RESET frame (0-255 are ours). */
enum cr_stream_reset {
	CR_STREAM_RESET_NONE = 0,
	CR_STREAM_RESET_ABORT = 1,      /* the application aborted */
	CR_STREAM_RESET_REFUSED = 2,    /* port not allowed */
	CR_STREAM_RESET_UNREACHABLE = 3, /* connecting to the target failed */
	CR_STREAM_RESET_LIMIT = 4,      /* too many streams */
	CR_STREAM_RESET_GONE = 5,       /* the connection was torn down */
};

struct cr_stream_ops {
	/* Sends one packet (at most cfg.mtu bytes, or a probed size).  Returns 0, or -1 when it
	 * could not be sent now (treated as lost). */
	int (*output)(void *ctx, const uint8_t *pkt, size_t len);
	/* The peer opened stream sid with meta.  Return 0 to accept or a
	 * reset code to refuse it. */
	int (*accept)(void *ctx, uint32_t sid, const uint8_t *meta,
		      size_t meta_len);
	/* New data or EOF can be read from sid. */
	void (*readable)(void *ctx, uint32_t sid);
	/* sid's send buffer has room again after a short write. */
	void (*writable)(void *ctx, uint32_t sid);
	/* sid is finished: both directions closed and acknowledged
	 * (code 0), or reset by either side (code from the reset). After this
	 * returns, sid no longer exists. */
	void (*closed)(void *ctx, uint32_t sid, int code);
	/* Optional, used instead of output when set: the packet in pieces
	 * (len bytes in all).  STREAM data is then not copied into the
	 * packet but given where it lies in the stream's send buffer;
	 * iov[0] starts at the packet's first byte, with cfg.out_headroom
	 * bytes before it as for output.  The pieces are valid during the
	 * call only; there are at most CR_STREAM_IOV_MAX of them.  Same
	 * result as output. */
	int (*outputv)(void *ctx, const struct iovec *iov, int iovcnt,
		       size_t len);
};

enum {
	CR_STREAM_PROBES = 4,
	CR_STREAM_IOV_MAX = 31, /* most pieces ops->outputv is given */
};

struct cr_stream_cfg {
	size_t mtu;            /* packet size every path carries; default
				  CP_E2E_PAYLOAD_BASE - 1 */
	/* Larger packet sizes to probe the path for (DPLPMTUD, RFC 8899),
	 * largest first; 0 ends the list.  All zero: no probing. */
	size_t probe_mtu[CR_STREAM_PROBES];
	size_t stream_sndbuf;  /* bytes buffered per stream for sending */
	size_t stream_window;  /* per-stream receive window */
	size_t conn_window;    /* connection receive window */
	uint32_t max_streams;  /* concurrent streams the peer may open */
	uint32_t ack_delay_us; /* delayed-ack timer */
	uint32_t min_rto_us;
	uint32_t max_rto_us;
	uint32_t idle_timeout_us; /* nothing heard: the connection is dead */
	/* cr_stream_input() only takes packets in; the owner calls
	 * cr_stream_tick() after a batch of input, so that one ACK covers
	 * the batch, and the application's events (readable, writable,
	 * closed) come from that tick, once per batch.  0 (default): every
	 * input sends what is due and reports its events. */
	int input_defers_send;
	/* Bytes before each packet that ops->output may write (a header of
	 * the owner's, so that it sends the packet without copying it). */
	size_t out_headroom;
};

void cr_stream_cfg_default(struct cr_stream_cfg *cfg);

struct cr_stream_stats {
	uint64_t srtt_us, rttvar_us, min_rtt_us, rto_us;
	uint64_t cwnd, bytes_in_flight, ssthresh;
	uint64_t pkts_sent, pkts_received, pkts_lost, pkts_retransmitted;
	uint64_t bytes_sent, bytes_received; /* stream payload bytes */
	uint64_t mtu;        /* packet size in use (cfg.mtu or a probed one) */
	uint64_t mtu_probes; /* path MTU probes sent */
	/* Falls back to the base size after timeouts in a row (a black
	 * hole suspected; a peer that stopped for a while looks the same) */
	uint64_t mtu_fallbacks;
	/* Most sent packets ever tracked at once (rounded up to a power of
	 * two): a window that stops advancing shows here, as memory and as
	 * work per acknowledgement, whatever the clock says. */
	uint64_t sent_track_max;
	uint32_t streams_open;
};

struct cr_stream_conn *cr_stream_conn_new(const struct cr_stream_cfg *cfg,
					  const struct cr_stream_ops *ops,
					  void *ctx, int is_client,
					  uint64_t now_us);
/* Frees everything without callbacks; returns NULL. */
struct cr_stream_conn *cr_stream_conn_free(struct cr_stream_conn *c);

/* Feeds one received packet.  0, or -EBADMSG for a malformed packet
 * (dropped whole, nothing applied). */
int cr_stream_input(struct cr_stream_conn *c, const uint8_t *pkt, size_t len,
		    uint64_t now_us);

/* Runs timers and sends what congestion and flow control allow. */
void cr_stream_tick(struct cr_stream_conn *c, uint64_t now_us);
/* Absolute time of the next needed cr_stream_tick(), or UINT64_MAX. */
uint64_t cr_stream_next_timeout(const struct cr_stream_conn *c);

/* Opens a stream; 0 and *sid, or -EAGAIN when the peer's stream limit is
 * reached, -EMSGSIZE for meta too long. */
int cr_stream_open(struct cr_stream_conn *c, const uint8_t *meta,
		   size_t meta_len, uint64_t now_us, uint32_t *sid);

/* Queues up to len bytes; returns how many were taken (0 when the buffer
 * is full: wait for ops->writable), or -EPIPE after shutdown/reset,
 * -ENOENT for an unknown stream. */
ssize_t cr_stream_write(struct cr_stream_conn *c, uint32_t sid,
			const uint8_t *buf, size_t len, uint64_t now_us);
/* Reads in-order data; returns bytes, 0 at EOF, -EAGAIN when nothing is
 * ready, -ECONNRESET after a reset, -ENOENT for an unknown stream. */
ssize_t cr_stream_read(struct cr_stream_conn *c, uint32_t sid, uint8_t *buf,
		       size_t cap, uint64_t now_us);
/*
 * Without a copy through a buffer of the caller's: cr_stream_write_space()
 * gives up to max bytes of the stream's send buffer as at most two pieces
 * (the ring wraps) for the caller to fill, e.g. by readv(2); returns how
 * many pieces (0 when the buffer is full: wait for ops->writable) or
 * cr_stream_write's errors.  cr_stream_write_commit() then queues the
 * first n bytes of them (n at most what was given).
 */
int cr_stream_write_space(struct cr_stream_conn *c, uint32_t sid, size_t max,
			  struct iovec iov[2], uint64_t now_us);
void cr_stream_write_commit(struct cr_stream_conn *c, uint32_t sid, size_t n);
/*
 * The in-order data ready to read, as at most two pieces of the stream's
 * receive buffer, for writev(2): returns the bytes (and the pieces in
 * *niov), else what cr_stream_read returns.  cr_stream_read_consume()
 * then frees the first n of them (n at most what was given), as a read.
 */
ssize_t cr_stream_read_peek(struct cr_stream_conn *c, uint32_t sid,
			    struct iovec iov[2], int *niov, uint64_t now_us);
void cr_stream_read_consume(struct cr_stream_conn *c, uint32_t sid, size_t n);
/* Half-close: sends FIN after the queued data. */
int cr_stream_shutdown(struct cr_stream_conn *c, uint32_t sid, uint64_t now_us);
/* Abandons both directions with code; ops->closed follows. */
int cr_stream_reset(struct cr_stream_conn *c, uint32_t sid, int code,
		    uint64_t now_us);
/* Bytes the stream can take now. */
size_t cr_stream_writable(const struct cr_stream_conn *c, uint32_t sid);

/* Tears down every stream (closed callbacks with CR_STREAM_RESET_GONE). */
void cr_stream_abort_all(struct cr_stream_conn *c);

/* 1 when nothing was heard for cfg.idle_timeout_us. */
int cr_stream_is_dead(const struct cr_stream_conn *c, uint64_t now_us);
/* The datagrams now take another path: back to cfg.mtu, and probe the new
 * path for larger packets. */
void cr_stream_path_changed(struct cr_stream_conn *c, uint64_t now_us);

void cr_stream_get_stats(const struct cr_stream_conn *c,
			 struct cr_stream_stats *st);

#endif
