/* simdev: see simdev.h. */
#define _GNU_SOURCE
#include "simdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cr/util.h"

enum { SIMDEV_RECV_BATCH = 64 };

int simdev_parse_size(const char *s, uint64_t min, uint64_t max, size_t *out)
{
	uint64_t v;

	if (cr_parse_u64(s, min, max, &v) < 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

void simdev_set_src(struct msghdr *mh, uint32_t src)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	struct in_pktinfo pi;

	memset(&pi, 0, sizeof(pi));
	pi.ipi_spec_dst.s_addr = htonl(src);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
}

int simdev_open_sockets(const char *prog, struct event_base *base, size_t n,
			int *fds, uint16_t *ports, struct event **ev_read,
			event_callback_fn cb, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);
		int one = 1, size = 8 << 20;
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
			fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
			return -1;
		}
		/* Best effort: a burst of RESPs must not overflow the queue. */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
		fds[i] = fd;
		ports[i] = ntohs(sa.sin_port);
		ev_read[i] = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg);
		if (ev_read[i] == NULL)
			return -1;
		event_add(ev_read[i], NULL);
	}
	return 0;
}

void simdev_read(int fd, const int *fds, size_t n_socks, uint32_t addr_base,
		 size_t n_devs, simdev_deliver_fn deliver, void *ctx)
{
	struct mmsghdr msgs[SIMDEV_RECV_BATCH];
	struct iovec iov[SIMDEV_RECV_BATCH];
	struct sockaddr_in from[SIMDEV_RECV_BATCH];
	static uint8_t bufs[SIMDEV_RECV_BATCH][2048];
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} cm[SIMDEV_RECV_BATCH];
	size_t sock = 0;
	int got;

	while (sock < n_socks && fds[sock] != fd)
		sock++;
	for (int round = 0; round < 16; round++) {
		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < SIMDEV_RECV_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = cm[i].buf;
			msgs[i].msg_hdr.msg_controllen = sizeof(cm[i].buf);
		}
		got = recvmmsg(fd, msgs, SIMDEV_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		for (int i = 0; i < got; i++) {
			struct msghdr *mh = &msgs[i].msg_hdr;
			struct cmsghdr *c;
			struct cr_addr src;
			uint32_t dst = 0;
			size_t dev;

			for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
				struct in_pktinfo pi;

				if (c->cmsg_level != IPPROTO_IP ||
				    c->cmsg_type != IP_PKTINFO)
					continue;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				dst = ntohl(pi.ipi_addr.s_addr);
			}
			if (dst <= addr_base)
				continue;
			dev = (size_t)(dst - addr_base - 1) * n_socks + sock;
			if (dev >= n_devs)
				continue;
			cr_addr_from_sockaddr(&src, (struct sockaddr *)&from[i],
					      mh->msg_namelen);
			deliver(ctx, dev, &src, bufs[i], msgs[i].msg_len);
		}
		if (got < SIMDEV_RECV_BATCH)
			return;
	}
}
