#!/usr/bin/env python3
"""A seccomp notify listener for test_bolter_seccomp_notify.sh:

    seccomp_listener.py SOCKET OUT ERRNO

Accepts one connection on the unix socket SOCKET, receives the container
process state (JSON) with the notify fd (SCM_RIGHTS), writes the state to
OUT as {"state": ..., "nfds": N, "notified": [syscall numbers]}, and
answers every notification with -ERRNO until the container is gone.
"""
import fcntl
import json
import os
import select
import socket
import struct
import sys

NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24

path, out, err = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(60)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
conn.close()
state = json.loads(msg)
notified = []
if len(fds) == 1:
    fd = fds[0]
    p = select.poll()
    p.register(fd, select.POLLIN)
    while True:
        ev = p.poll(60000)
        if not ev or ev[0][1] & (select.POLLHUP | select.POLLERR):
            break
        req = bytearray(80)
        try:
            fcntl.ioctl(fd, NOTIF_RECV, req, True)
        except OSError:
            break
        nid, _pid, _flags, nr = struct.unpack_from("=QIIi", req)
        notified.append(nr)
        try:
            fcntl.ioctl(fd, NOTIF_SEND,
                        bytearray(struct.pack("=QqiI", nid, 0, -err, 0)), True)
        except OSError:
            pass
for f in fds:
    os.close(f)
with open(out + ".tmp", "w") as f:
    json.dump({"state": state, "nfds": len(fds), "notified": notified}, f)
os.rename(out + ".tmp", out)
