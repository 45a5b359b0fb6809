#!/usr/bin/env python3
"""A --console-socket receiver for bolter's tests:

    console.py SOCKET OUTFILE

Listens on SOCKET, takes one pty master over SCM_RIGHTS, and copies what
the container writes to its terminal into OUTFILE until the terminal
closes.
"""
import array
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(20)
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_LEN(4))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: 4])
master = fds[0]
with open(out, "wb") as f:
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        f.write(b)
        f.flush()
