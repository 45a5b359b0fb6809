/* Datagram framing on byte streams: see cr/tcpframe.h. */
#include "cr/tcpframe.h"

#include <event2/buffer.h>

int cr_tcpf_put(struct evbuffer *out, const uint8_t *buf, size_t len)
{
	uint8_t hdr[CR_TCPF_HDR];

	if (len == 0 || len > CR_TCPF_MAX)
		return -1;
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	if (evbuffer_add(out, hdr, sizeof(hdr)) < 0 ||
	    evbuffer_add(out, buf, len) < 0)
		return -1;
	return 0;
}

int cr_tcpf_pull(struct evbuffer *in, uint8_t *buf, size_t *len)
{
	uint8_t hdr[CR_TCPF_HDR];
	size_t n;

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
		return 0;
	n = (size_t)hdr[0] << 8 | hdr[1];
	if (n == 0 || n > CR_TCPF_MAX)
		return -1;
	if (evbuffer_get_length(in) < CR_TCPF_HDR + n)
		return 0;
	evbuffer_drain(in, CR_TCPF_HDR);
	evbuffer_remove(in, buf, n);
	*len = n;
	return 1;
}
