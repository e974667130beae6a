/*
 * enospc_shim.c - LD_PRELOAD library that makes a process's writes to
 * regular files fail with ENOSPC ("disk full") while a control file exists.
 *
 * What: used by tests/integration/test_server_faults.py to fill pyrited's
 * disk without root (a small tmpfs needs mount rights).  It wraps the libc
 * calls SQLite's unix VFS uses to put bytes on disk or grow a file: write,
 * pwrite, pwrite64, writev, pwritev, fallocate, fallocate64,
 * posix_fallocate, posix_fallocate64, ftruncate, ftruncate64 (growing
 * only).  A call fails when
 *   - $PYRITE_FAULT_ENOSPC_FILE is set and that file exists (checked on
 *     every call, so the test switches the fault on and off at run time),
 *   - the descriptor is a regular file, and
 *   - its path starts with $PYRITE_FAULT_DIR (when set), so logs on stderr,
 *     sockets and pipes keep working.
 * This is harsher than a real full disk (which still lets a file's
 * existing blocks be overwritten): every write to the data files fails.
 * Reads, fsync and unlink are untouched.
 *
 * Threads: called from any thread of the host process.  The real functions
 * are looked up with dlsym(RTLD_NEXT) once per symbol; the lookups race
 * benignly (every thread stores the same pointer, through an atomic).
 *
 * Invariants: never fails a call on a descriptor that is not a regular file
 * under PYRITE_FAULT_DIR; passes every other call through unchanged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Looks up the next definition of `name` (libc's) once. */
static void *real_fn(_Atomic(void *) *slot, const char *name) {
  void *f = atomic_load_explicit(slot, memory_order_acquire);
  if (f == NULL) {
    f = dlsym(RTLD_NEXT, name);
    atomic_store_explicit(slot, f, memory_order_release);
  }
  return f;
}

/* real_NAME: libc's NAME, with NAME's own prototype. */
#define REAL(name)                                                            \
  static _Atomic(void *) slot_##name;                                         \
  __typeof__(&name) real_##name = (__typeof__(&name))real_fn(&slot_##name, #name)

/* True when a write-like call on fd must fail with ENOSPC now. */
static bool full_for(int fd) {
  const char *ctl = getenv("PYRITE_FAULT_ENOSPC_FILE");
  if (ctl == NULL || *ctl == '\0' || access(ctl, F_OK) != 0)
    return false;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
    return false;
  const char *dir = getenv("PYRITE_FAULT_DIR");
  if (dir == NULL || *dir == '\0')
    return true;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0)
    return false;
  path[n] = '\0';
  return strncmp(path, dir, strlen(dir)) == 0;
}

/* ftruncate fails only when it would grow the file (shrinking frees). */
static bool grows(int fd, off_t len) {
  struct stat sb;
  return fstat(fd, &sb) == 0 && len > sb.st_size;
}

ssize_t write(int fd, const void *buf, size_t n) {
  REAL(write);
  if (n > 0 && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite);
  if (n > 0 && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  REAL(pwrite64);
  if (n > 0 && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  REAL(writev);
  if (cnt > 0 && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  REAL(pwritev);
  if (cnt > 0 && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwritev(fd, iov, cnt, off);
}

int fallocate(int fd, int mode, off_t off, off_t len) {
  REAL(fallocate);
  if (full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len) {
  REAL(fallocate64);
  if (full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_fallocate64(fd, mode, off, len);
}

/* posix_fallocate returns the error number instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len) {
  REAL(posix_fallocate);
  if (full_for(fd))
    return ENOSPC;
  return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off64_t off, off64_t len) {
  REAL(posix_fallocate64);
  if (full_for(fd))
    return ENOSPC;
  return real_posix_fallocate64(fd, off, len);
}

int ftruncate(int fd, off_t len) {
  REAL(ftruncate);
  if (grows(fd, len) && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len) {
  REAL(ftruncate64);
  if (grows(fd, (off_t)len) && full_for(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_ftruncate64(fd, len);
}
