// A hostile FUSE filesystem for tests (issue 14 item 3): one file, /pool, that a client
// opens and sends to the bridge as a wl_shm pool fd. Once the file has been opened, the
// server answers requests about it slowly (--delay-ms N: each read, getattr, statfs and
// flush sleeps N ms) or never (--hang). A bridge that reads, fstats, fstatfs's or
// closes such an fd on its event loop freezes with it. Killing the server aborts every
// request still waiting (the kernel answers them ENOTCONN), which is how tests end it.
//
//   cc -D_FILE_OFFSET_BITS=64 slow-fuse.c $(pkg-config --cflags --libs fuse3) -o slow-fuse
//   slow-fuse MOUNTPOINT --size BYTES (--delay-ms N | --hang)
//
// Runs in the foreground, multithreaded (a stalled request does not stall the others),
// and prints "ready" on stdout once mounted.

#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long delay_ms;
static int hang;
static off_t file_size;
/* Set once /pool has been opened: from then on its requests stall. */
static atomic_int opened;

static void stall(void) {
  if (!atomic_load(&opened)) return;
  if (hang) {
    for (;;) pause();
  }
  usleep((useconds_t)delay_ms * 1000);
}

static void *gw_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  // Every request reaches the server: no attribute, entry or page cache.
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->direct_io = 1;
  return NULL;
}

static int gw_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, "/pool") != 0) return -ENOENT;
  stall();
  st->st_mode = S_IFREG | 0666;
  st->st_nlink = 1;
  st->st_size = file_size;
  return 0;
}

static int gw_open(const char *path, struct fuse_file_info *fi) {
  if (strcmp(path, "/pool") != 0) return -ENOENT;
  fi->direct_io = 1;
  atomic_store(&opened, 1);
  return 0;
}

static int gw_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi) {
  (void)path;
  (void)fi;
  stall();
  if (off >= file_size) return 0;
  if ((off_t)size > file_size - off) size = (size_t)(file_size - off);
  memset(buf, 0x5a, size);
  return (int)size;
}

static int gw_flush(const char *path, struct fuse_file_info *fi) {
  (void)path;
  (void)fi;
  stall();
  return 0;
}

static int gw_statfs(const char *path, struct statvfs *st) {
  (void)path;
  stall();
  memset(st, 0, sizeof *st);
  st->f_bsize = 4096;
  return 0;
}

static int gw_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, "pool", NULL, 0, 0);
  return 0;
}

static const struct fuse_operations ops = {
    .init = gw_init,
    .getattr = gw_getattr,
    .open = gw_open,
    .read = gw_read,
    .flush = gw_flush,
    .statfs = gw_statfs,
    .readdir = gw_readdir,
};

int main(int argc, char **argv) {
  const char *mountpoint = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--hang") == 0) {
      hang = 1;
    } else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
      delay_ms = atol(argv[++i]);
    } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
      file_size = atoll(argv[++i]);
    } else if (mountpoint == NULL) {
      mountpoint = argv[i];
    } else {
      fprintf(stderr, "usage: slow-fuse MOUNTPOINT --size BYTES (--delay-ms N | --hang)\n");
      return 2;
    }
  }
  if (mountpoint == NULL) {
    fprintf(stderr, "usage: slow-fuse MOUNTPOINT --size BYTES (--delay-ms N | --hang)\n");
    return 2;
  }
  // Mounted and run in the foreground by this process; the loop is multithreaded.
  char *fargv[] = {argv[0], "-o", "fsname=gw-slow,subtype=gw-slow", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  struct fuse *fuse = fuse_new(&args, &ops, sizeof ops, NULL);
  if (fuse == NULL) return 1;
  if (fuse_mount(fuse, mountpoint) != 0) return 1;
  struct fuse_session *se = fuse_get_session(fuse);
  if (fuse_set_signal_handlers(se) != 0) return 1;
  printf("ready\n");
  fflush(stdout);
  int ret = fuse_loop_mt(fuse, 0); // 0: no cloned /dev/fuse fd per thread
  fuse_remove_signal_handlers(se);
  fuse_unmount(fuse);
  fuse_destroy(fuse);
  return ret == 0 ? 0 : 1;
}
