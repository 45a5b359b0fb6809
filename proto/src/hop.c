/* Bounded packing and unpacking of session payload messages: cp/hop.h. */
#include "cp/hop.h"

#include <errno.h>

#include "cp/limits.h"

long cp_hop_pack(const Carrier__Hop *msg, uint8_t *out, size_t cap)
{
	size_t n = carrier__hop__get_packed_size(msg);

	if (n > cap)
		return -EMSGSIZE;
	return (long)carrier__hop__pack(msg, out);
}

Carrier__Hop *cp_hop_unpack(const uint8_t *buf, size_t len)
{
	Carrier__Hop *msg;

	if (len > CP_MSG_MAX)
		return NULL;
	msg = carrier__hop__unpack(NULL, len, buf);
	if (msg != NULL && msg->msg_case == CARRIER__HOP__MSG__NOT_SET) {
		carrier__hop__free_unpacked(msg, NULL);
		return NULL;
	}
	return msg;
}

void cp_hop_free(Carrier__Hop *msg)
{
	if (msg != NULL)
		carrier__hop__free_unpacked(msg, NULL);
}

long cp_e2e_control_pack(const Carrier__E2eControl *msg, uint8_t *out,
			 size_t cap)
{
	size_t n = carrier__e2e_control__get_packed_size(msg);

	if (n > cap)
		return -EMSGSIZE;
	return (long)carrier__e2e_control__pack(msg, out);
}

Carrier__E2eControl *cp_e2e_control_unpack(const uint8_t *buf, size_t len)
{
	Carrier__E2eControl *msg;

	if (len > CP_MSG_MAX)
		return NULL;
	msg = carrier__e2e_control__unpack(NULL, len, buf);
	if (msg != NULL &&
	    msg->msg_case == CARRIER__E2E_CONTROL__MSG__NOT_SET) {
		carrier__e2e_control__free_unpacked(msg, NULL);
		return NULL;
	}
	return msg;
}

void cp_e2e_control_free(Carrier__E2eControl *msg)
{
	if (msg != NULL)
		carrier__e2e_control__free_unpacked(msg, NULL);
}
