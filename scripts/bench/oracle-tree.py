"""A fake compositor process tree for `npm run bench:oracle`.

A supervisor maps MAPS files of its own and opens FDS more fds (about what a desktop
process carries besides its libraries), then forks PROCS - 1 helpers that inherit all of
it and sleep, and last the "compositor", which receives grant extents on fd 3 (a unix
socket, SCM_RIGHTS, as a compositor receives wl_shm pools) and maps each one, closing the
fd as libwayland-server does. Python, because fork() makes a hundred such processes cost
a few MiB; Node cannot fork.

stdin commands to the compositor (each answered with one line on stdout):
  receive N   take N extents from fd 3 and map them      -> "received N"
  unmap K     unmap the first K still mapped             -> "unmapped K"
The first line on stdout is "ready COMPOSITOR_PID HELPER_PID...". SIGTERM to the process
group ends everything.
"""

import mmap
import os
import signal
import socket
import sys

PROCS, MAPS, FDS = (int(a) for a in sys.argv[1:4])

keep = []
for i in range(MAPS):
    fd = os.memfd_create(f"bench-own-{i}")
    os.ftruncate(fd, 4096)
    keep.append(mmap.mmap(fd, 4096))
    os.close(fd)
held = [os.open("/dev/null", os.O_RDONLY) for _ in range(FDS)]

helpers = []
for _ in range(PROCS - 1):
    pid = os.fork()
    if pid == 0:
        while True:
            signal.pause()
    helpers.append(pid)

compositor = os.fork()
if compositor == 0:
    sock = socket.socket(fileno=3)
    sock.setblocking(True)  # the bench made it non-blocking
    mapped = []
    for line in sys.stdin:
        words = line.split()
        if words[0] == "receive":
            want = int(words[1])
            got = 0
            while got < want:
                _, fds, _, _ = socket.recv_fds(sock, 64, 28)
                for fd in fds:
                    mapped.append(mmap.mmap(fd, 4096))
                    os.close(fd)
                got += len(fds)
            print(f"received {got}", flush=True)
        elif words[0] == "unmap":
            count = int(words[1])
            for m in mapped[:count]:
                m.close()
            del mapped[:count]
            print(f"unmapped {count}", flush=True)
    os._exit(0)

print("ready", compositor, *helpers, flush=True)
os.waitpid(compositor, 0)
for pid in helpers:
    os.kill(pid, signal.SIGTERM)
