/* The process's UDP socket: see cr/udp.h. */
#define _GNU_SOURCE
#include "cr/udp.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int udp_setup(int fd)
{
	int size = 4 * 1024 * 1024;

	/* Bursts of relayed datagrams must not overflow the defaults. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int cr_udp_open(const struct cr_addr *bind_addr, struct cr_error **err)
{
	char s[CR_ADDR_STRMAX];
	int fd;

	fd = socket(bind_addr->u.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cr_error_errno(err, errno, "cannot create UDP socket");
	if (udp_setup(fd) < 0 ||
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

int cr_udp_recv(int fd, struct cr_udp_batch *b)
{
	struct mmsghdr msgs[CR_UDP_BATCH];
	struct iovec iov[CR_UDP_BATCH];
	struct sockaddr_storage ss[CR_UDP_BATCH];
	int n;

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < CR_UDP_BATCH; i++) {
		iov[i].iov_base = b->buf[i];
		iov[i].iov_len = CR_UDP_BUF;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &ss[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(ss[i]);
	}
	n = recvmmsg(fd, msgs, CR_UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		b->n = 0;
		return errno == EAGAIN ? 0 : -errno;
	}
	for (int i = 0; i < n; i++) {
		cr_addr_from_sockaddr(&b->from[i],
				      (struct sockaddr *)&ss[i],
				      msgs[i].msg_hdr.msg_namelen);
		b->len[i] = msgs[i].msg_len;
		if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			b->len[i] = CR_UDP_BUF + 1;
	}
	b->n = (size_t)n;
	return n;
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
