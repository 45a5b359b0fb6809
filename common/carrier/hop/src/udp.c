/* The process's UDP socket: see cr/udp.h. */
#define _GNU_SOURCE
#include "cr/udp.h"

#include "cp/limits.h"
#include "cp/wire.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

static int udp_setup(int fd, int family)
{
	int size = 4 * 1024 * 1024, one = 1;
	int probe4 = IP_PMTUDISC_PROBE, probe6 = IPV6_PMTUDISC_PROBE;

	/* Bursts of relayed datagrams must not overflow the defaults. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* Best effort: older kernels simply deliver datagram by datagram. */
	setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	/*
	 * Don't fragment, and ignore the kernel's path MTU cache: streams
	 * find the path's MTU themselves with probes (RFC 8899), which only
	 * works when a datagram too large for the path is lost rather than
	 * fragmented.  Base-size datagrams fit every path either way.
	 */
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe6,
			   sizeof(probe6));
	else
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe4,
			   sizeof(probe4));
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int cr_udp_open(const struct cr_addr *bind_addr, struct cr_error **err)
{
	char s[CR_ADDR_STRMAX];
	int fd;

	fd = socket(bind_addr->u.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot create UDP socket");
	if (udp_setup(fd, bind_addr->u.sa.sa_family) < 0 ||
	    bind(fd, &bind_addr->u.sa, cr_addr_len(bind_addr)) < 0) {
		int e = errno;
		close(fd);
		return cr_error_errno(err, e, "cannot bind UDP %s",
				      cr_addr_format(bind_addr, s));
	}
	return fd;
}

int cr_udp_open_any(int family, struct cr_error **err)
{
	struct cr_addr a;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET6) {
		a.u.in6.sin6_family = AF_INET6;
		a.u.in6.sin6_addr = in6addr_any;
	} else {
		a.u.in4.sin_family = AF_INET;
	}
	return cr_udp_open(&a, err);
}

/* Reads up to CR_UDP_RAW_MSGS messages into the batch's raw buffers. */
static int udp_recv_raw(int fd, struct cr_udp_batch *b)
{
	struct mmsghdr msgs[CR_UDP_RAW_MSGS];
	struct iovec iov[CR_UDP_RAW_MSGS];
	struct sockaddr_storage ss[CR_UDP_RAW_MSGS];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[CR_UDP_RAW_MSGS];
	int n;

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < CR_UDP_RAW_MSGS; i++) {
		iov[i].iov_base = b->raw[i];
		iov[i].iov_len = CR_UDP_RAW_BUF;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &ss[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(ss[i]);
		msgs[i].msg_hdr.msg_control = ctl[i].buf;
		msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
	}
	n = recvmmsg(fd, msgs, CR_UDP_RAW_MSGS, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct cmsghdr *cm;
		size_t seg = msgs[i].msg_len;

		for (cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm != NULL;
		     cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
			int gso;

			if (cm->cmsg_level != SOL_UDP || cm->cmsg_type != UDP_GRO)
				continue;
			memcpy(&gso, CMSG_DATA(cm), sizeof(gso));
			if (gso > 0)
				seg = (size_t)gso;
		}
		cr_addr_from_sockaddr(&b->raw_from[i], (struct sockaddr *)&ss[i],
				      msgs[i].msg_hdr.msg_namelen);
		b->raw_len[i] = msgs[i].msg_len;
		b->raw_seg[i] = seg;
	}
	b->raw_n = (size_t)n;
	b->raw_i = 0;
	b->raw_off = 0;
	return n;
}

int cr_udp_recv(int fd, struct cr_udp_batch *b)
{
	b->n = 0;
	if (b->raw_i >= b->raw_n) {
		int r = udp_recv_raw(fd, b);

		if (r <= 0) {
			b->raw_n = b->raw_i = 0;
			return r;
		}
	}
	/* Split coalesced runs into their datagrams; what does not fit is
	 * handed up by the next call. */
	while (b->raw_i < b->raw_n && b->n < CR_UDP_SEGS) {
		size_t i = b->raw_i, rest = b->raw_len[i] - b->raw_off;
		size_t len = rest < b->raw_seg[i] ? rest : b->raw_seg[i];

		b->buf[b->n] = b->raw[i] + b->raw_off;
		b->len[b->n] = len;
		b->from[b->n] = b->raw_from[i];
		b->n++;
		b->raw_off += len;
		if (len == 0 || b->raw_off >= b->raw_len[i]) {
			b->raw_i++;
			b->raw_off = 0;
		}
	}
	return (int)b->n;
}

int cr_udp_drained(const struct cr_udp_batch *b)
{
	return b->raw_i >= b->raw_n && b->raw_n < CR_UDP_RAW_MSGS;
}

int cr_udp_send(int fd, const struct cr_addr *to, const uint8_t *buf,
		size_t len)
{
	ssize_t n;

	do {
		n = sendto(fd, buf, len, 0, &to->u.sa, cr_addr_len(to));
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int cr_udp_local(int fd, struct cr_addr *out)
{
	socklen_t len = sizeof(out->u);

	memset(out, 0, sizeof(*out));
	return getsockname(fd, &out->u.sa, &len) < 0 ? -errno : 0;
}

/* Queued datagrams lie back to back in one arena: a batch of base-size
 * datagrams and one of jumbo ones cost the same memory. */
struct cr_udp_out {
	int fd;
	struct event *ev;
	size_t n, used;
	int no_gso; /* the kernel refused UDP_SEGMENT once */
	uint64_t dropped;
	struct cr_addr to[CR_UDP_BATCH];
	size_t len[CR_UDP_BATCH];
	uint8_t *buf[CR_UDP_BATCH];
	uint8_t arena[CR_UDP_ARENA];
};

_Static_assert(CR_UDP_ARENA >= 2 * CP_DATAGRAM_MAX, "arena holds a run");

/* A slot of len bytes for the next datagram to `to`, flushing first when
 * the batch or the arena is full; NULL (counted as dropped) when len is
 * larger than any datagram. */
static uint8_t *udp_out_slot(struct cr_udp_out *o, const struct cr_addr *to,
			     size_t len)
{
	uint8_t *slot;

	if (len > CP_DATAGRAM_MAX) {
		o->dropped++;
		return NULL;
	}
	if (o->n == CR_UDP_BATCH || o->used + len > sizeof(o->arena))
		cr_udp_out_flush(o);
	if (o->n == 0)
		/* Runs once the callbacks of this loop turn are done. */
		event_active(o->ev, EV_TIMEOUT, 0);
	slot = o->arena + o->used;
	o->to[o->n] = *to;
	o->buf[o->n] = slot;
	o->len[o->n] = len;
	o->used += len;
	o->n++;
	return slot;
}

static void udp_out_on_flush(evutil_socket_t fd, short what, void *arg)
{
	cr_udp_out_flush(arg);
}

struct cr_udp_out *cr_udp_out_new(struct event_base *base, int fd)
{
	struct cr_udp_out *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->fd = fd;
	o->ev = event_new(base, -1, 0, udp_out_on_flush, o);
	if (o->ev == NULL) {
		free(o);
		return NULL;
	}
	return o;
}

struct cr_udp_out *cr_udp_out_free(struct cr_udp_out *o)
{
	if (o != NULL) {
		cr_udp_out_flush(o);
		event_free(o->ev);
		free(o);
	}
	return NULL;
}

void cr_udp_out_send(struct cr_udp_out *o, const struct cr_addr *to,
		     const uint8_t *buf, size_t len)
{
	uint8_t *slot = udp_out_slot(o, to, len);

	if (slot != NULL)
		memcpy(slot, buf, len);
}

void cr_udp_out_send_path(struct cr_udp_out *o, const struct cr_addr *to,
			  const uint8_t *buf, size_t len)
{
	uint8_t *slot;

	if (to->route == 0) {
		cr_udp_out_send(o, to, buf, len);
		return;
	}
	slot = udp_out_slot(o, to, len + CP_RELAY_HDR);
	if (slot == NULL)
		return;
	slot[0] = CP_MSG_RELAY;
	slot[1] = slot[2] = slot[3] = 0;
	cp_put_u64(slot + 4, to->route);
	memcpy(slot + CP_RELAY_HDR, buf, len);
}

uint8_t *cr_udp_out_reserve_path(struct cr_udp_out *o,
				 const struct cr_addr *to, size_t len)
{
	uint8_t *slot;

	if (to->route == 0)
		return udp_out_slot(o, to, len);
	slot = udp_out_slot(o, to, len + CP_RELAY_HDR);
	if (slot == NULL)
		return NULL;
	slot[0] = CP_MSG_RELAY;
	slot[1] = slot[2] = slot[3] = 0;
	cp_put_u64(slot + 4, to->route);
	return slot + CP_RELAY_HDR;
}

void cr_udp_out_unreserve(struct cr_udp_out *o, uint8_t *room)
{
	/* Only the last one: its slot ends the arena's used part. */
	if (o->n == 0 || room < o->buf[o->n - 1] ||
	    room >= o->buf[o->n - 1] + o->len[o->n - 1])
		return;
	o->n--;
	o->used -= o->len[o->n];
}

int cr_udp_unwrap(struct cr_addr *from, uint8_t **buf, size_t *len)
{
	if (*len == 0 || *len > CP_DATAGRAM_MAX)
		return -1;
	if ((*buf)[0] != CP_MSG_RELAY)
		return 0;
	if (*len <= CP_RELAY_HDR)
		return -1;
	from->route = cp_get_u64(*buf + 4);
	*buf += CP_RELAY_HDR;
	*len -= CP_RELAY_HDR;
	return 0;
}

enum { UDP_GSO_MAX_SEGS = 64, UDP_GSO_MAX_BYTES = 65000 };

/* Length of the run starting at i that can leave as one segmented send:
 * same destination, equal sizes (the last may be shorter). */
static size_t udp_out_run(const struct cr_udp_out *o, size_t i)
{
	size_t j = i + 1, total = o->len[i];

	if (o->no_gso)
		return 1;
	while (j < o->n && j - i < UDP_GSO_MAX_SEGS &&
	       total + o->len[j] <= UDP_GSO_MAX_BYTES &&
	       o->len[j] <= o->len[i] && o->len[j - 1] == o->len[i] &&
	       cr_addr_equal(&o->to[j], &o->to[i])) {
		total += o->len[j];
		j++;
	}
	return j - i;
}

void cr_udp_out_flush(struct cr_udp_out *o)
{
	struct mmsghdr msgs[CR_UDP_BATCH];
	struct iovec iov[CR_UDP_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[CR_UDP_BATCH];
	size_t n_msgs = 0, done = 0, i = 0;

	if (o->n == 0)
		return;
	memset(msgs, 0, sizeof(msgs));
	while (i < o->n) {
		size_t run = udp_out_run(o, i);
		struct msghdr *mh = &msgs[n_msgs].msg_hdr;

		for (size_t k = 0; k < run; k++) {
			iov[i + k].iov_base = o->buf[i + k];
			iov[i + k].iov_len = o->len[i + k];
		}
		mh->msg_iov = &iov[i];
		mh->msg_iovlen = run;
		mh->msg_name = &o->to[i].u.sa;
		mh->msg_namelen = cr_addr_len(&o->to[i]);
		if (run > 1) {
			struct cmsghdr *cm;
			uint16_t seg = (uint16_t)o->len[i];

			mh->msg_control = ctl[n_msgs].buf;
			mh->msg_controllen = sizeof(ctl[n_msgs].buf);
			cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		}
		n_msgs++;
		i += run;
	}
	while (done < n_msgs) {
		int r = sendmmsg(o->fd, msgs + done, (unsigned)(n_msgs - done), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			struct msghdr *mh = &msgs[done].msg_hdr;

			if (mh->msg_controllen != 0 &&
			    (o->no_gso || errno == EIO || errno == EINVAL ||
			     errno == ENOPROTOOPT)) {
				/*
				 * No segmentation offload here: send the rest
				 * one by one from now on.  A segment larger
				 * than the device's MTU gets EINVAL too; that
				 * says nothing about the kernel, only that
				 * this run (after a path change, say) does not
				 * fit, and the datagrams are sent one by one
				 * to be lost as on the wire.
				 */
				if (errno != EINVAL ||
				    mh->msg_iov[0].iov_len <= CP_DATAGRAM_BASE)
					o->no_gso = 1;
				for (size_t k = 0; k < (size_t)mh->msg_iovlen; k++)
					if (sendto(o->fd, mh->msg_iov[k].iov_base,
						   mh->msg_iov[k].iov_len, 0,
						   mh->msg_name,
						   mh->msg_namelen) < 0)
						o->dropped++;
			} else {
				/* A datagram the kernel refuses is lost, as on
				 * the wire; skip it and send the rest. */
				o->dropped += mh->msg_iovlen;
			}
			done++;
			continue;
		}
		done += (size_t)r;
	}
	o->n = 0;
	o->used = 0;
}

uint64_t cr_udp_out_dropped(const struct cr_udp_out *o)
{
	return o->dropped;
}
