/*
 * The device side of `carrier shell`: a stream whose meta is "shell"
 * (instead of a 2-byte port) reaches a pty the agent runs itself, for
 * vendors allowed it with --allow VENDOR_ID:shell.
 *
 * The stream carries frames both ways: a type byte, a 4-byte big-endian
 * length, the payload (at most DA_SHELL_FRAME_MAX bytes).
 *   'S' vendor -> device, first: u8 tty, u16 rows, u16 cols, TERM, NUL,
 *       COMMAND (empty: a login shell)
 *   'D' both ways: terminal bytes
 *   'W' vendor -> device: u16 rows, u16 cols (a window resize)
 *   'E' vendor -> device: end of the vendor's input
 *   'X' device -> vendor, last: i32 exit status (128+N for signal N)
 */
#ifndef DA_SHELL_H
#define DA_SHELL_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/identity.h"

/* The allow list's "port" for the shell: 0 is no TCP port. */
#define DA_SHELL_PORT 0
#define DA_SHELL_META "shell"
#define DA_SHELL_FRAME_MAX 65536

/* Forks a process (not a child of the agent: it is double-forked, so
 * nothing is left to reap) that reads the frames on the returned socket,
 * runs the shell on a pty, logs its start and end with the vendor id and
 * sends the exit status.  Returns the agent's end of the socket or -1. */
int da_shell_spawn(const struct cr_id *vendor, struct cr_error **err);

/* Parses one frame at the start of buf: 1 with *type, *payload, *plen
 * and *used set, 0 when more bytes are needed, -1 for a malformed frame
 * (a length over DA_SHELL_FRAME_MAX). */
int da_shell_frame_parse(const uint8_t *buf, size_t len, uint8_t *type,
			 const uint8_t **payload, size_t *plen, size_t *used);

#endif
