/* The floor for bench:proxy: a plain C relay between Wayland clients and a compositor,
 * one poll loop, recvmsg + sendmsg with the fds that came along, no parsing at all.
 * Whatever the bridge costs beyond this is the price of Node and of understanding the
 * protocol. Built with cc at bench time; usage: c-relay LISTEN_PATH UPSTREAM_PATH */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FDS 512
static struct pollfd pfd[MAX_FDS];
static int peer[MAX_FDS], n = 1;

static int addr(const char *path, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  strncpy(sa->sun_path, path, sizeof sa->sun_path - 1);
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* Moves what `from` has to `to`, with its fds; -1 once `from` is finished. */
static int relay(int from, int to) {
  static char buf[65536], ctl[CMSG_SPACE(sizeof(int) * 253)];
  struct iovec iov = {buf, sizeof buf};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
  ssize_t got = recvmsg(from, &m, MSG_CMSG_CLOEXEC), off = 0;
  if (got <= 0) return -1;
  struct cmsghdr *c = m.msg_controllen ? CMSG_FIRSTHDR(&m) : NULL;
  if (!c) m.msg_control = NULL;
  while (off < got) {
    iov.iov_base = buf + off, iov.iov_len = got - off;
    ssize_t sent = sendmsg(to, &m, MSG_NOSIGNAL);
    if (sent <= 0) return -1;
    off += sent, m.msg_control = NULL, m.msg_controllen = 0;
  }
  if (c) /* the peer has its own copies now */
    for (int *fd = (int *)CMSG_DATA(c); (char *)fd < (char *)c + c->cmsg_len; fd++) close(*fd);
  return 0;
}

int main(int argc, char **argv) {
  struct sockaddr_un sl, su;
  if (argc != 3) return 2;
  int l = addr(argv[1], &sl);
  unlink(argv[1]);
  if (bind(l, (void *)&sl, sizeof sl) || listen(l, 128)) return perror("listen"), 1;
  pfd[0] = (struct pollfd){l, POLLIN, 0};
  for (;;) {
    if (poll(pfd, n, -1) < 0) continue;
    if (pfd[0].revents & POLLIN && n + 2 <= MAX_FDS) {
      int c = accept4(l, NULL, NULL, SOCK_CLOEXEC), u = addr(argv[2], &su);
      if (c >= 0 && connect(u, (void *)&su, sizeof su) == 0) {
        pfd[n] = (struct pollfd){c, POLLIN, 0}, peer[n++] = u;
        pfd[n] = (struct pollfd){u, POLLIN, 0}, peer[n++] = c;
      } else close(c), close(u);
    }
    for (int i = 1; i < n; i++) {
      if (!pfd[i].revents) continue;
      if (relay(pfd[i].fd, peer[i]) < 0) {
        close(pfd[i].fd);  /* drop this pair: the last pair moves into its slots */
        int j = (i & 1) ? i + 1 : i - 1, lo = i < j ? i : j;
        close(pfd[j].fd);
        pfd[lo] = pfd[n - 2], peer[lo] = peer[n - 2], pfd[lo + 1] = pfd[n - 1], peer[lo + 1] = peer[n - 1];
        n -= 2, i = lo - 1;
      }
    }
  }
}
