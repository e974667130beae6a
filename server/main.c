/*
 * main.c - pyrited entry point: flags, data directory, HTTP server, signals.
 *
 * What: parses the command line (config.c), creates and locks the data
 * directory, starts the HTTP front end (http.c), opens the storage
 * (store.h) and publishes it to the front end (from then on /ready says
 * ready), and runs until SIGTERM or SIGINT; then stops gracefully
 * (in-flight requests finish and every accepted upload is stored, see
 * pyr_srv_http_stop), closes the storage and exits 0.  The HTTP server
 * starts before the storage so that /ready can answer 503 while a large
 * database is being opened.
 *
 * Threads: SIGTERM, SIGINT and SIGHUP are blocked before any thread starts,
 * so every MHD worker inherits the mask and the main thread alone receives
 * them, synchronously, with sigwait(): no code runs in signal context.
 *
 * Exit codes: 0 clean stop (or --help/--version), 1 runtime failure (data
 * directory, bind), 2 bad command line.
 *
 * Invariants: one pyrited per data directory, enforced by an flock() on
 * DIR/pyrited.lock held for the life of the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "store.h"

#ifndef PYRITE_VERSION
#define PYRITE_VERSION "unknown"
#endif

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* mkdir -p: creates path and its missing parents (mode 0755). */
static int mkdir_p(const char *path, char *err, size_t errlen) {
  char buf[PYR_SRV_PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof(buf)) {
    snprintf(err, errlen, "data dir path too long");
    return -1;
  }
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "cannot create data dir '%.200s': %s", buf,
               strerror(errno));
      return -1;
    }
    buf[i] = c;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "data dir '%.200s' is not a directory", path);
    return -1;
  }
  if (access(path, W_OK | X_OK) != 0) {
    snprintf(err, errlen, "data dir '%.200s' is not writable: %s", path,
             strerror(errno));
    return -1;
  }
  return 0;
}

/* Takes the data directory's lock; returns the fd that holds it, or -1. */
static int lock_data_dir(const char *dir, char *err, size_t errlen) {
  char path[PYR_SRV_PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/pyrited.lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open '%.200s': %s", path, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      snprintf(err, errlen,
               "data dir '%.200s' is in use by another pyrited", dir);
    else
      snprintf(err, errlen, "cannot lock '%.200s': %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  struct pyr_srv_config cfg;
  struct pyr_srv_http *http = NULL;
  pyr_store *store = NULL;
  char err[PYR_SRV_ERR_MAX] = "";
  int lock_fd = -1;
  int status = EXIT_RUNTIME;
  sigset_t stop_sigs;

  switch (pyr_srv_config_parse(&cfg, argc, argv, err, sizeof(err))) {
  case PYR_SRV_CFG_OK:
    break;
  case PYR_SRV_CFG_HELP:
    fputs(pyr_srv_config_usage(), stdout);
    return 0;
  case PYR_SRV_CFG_VERSION:
    printf("pyrited %s\n", PYRITE_VERSION);
    return 0;
  case PYR_SRV_CFG_ERR:
  default:
    fprintf(stderr, "pyrited: %s\n", err);
    return EXIT_USAGE;
  }

  /* Before any thread exists: route stop signals to sigwait() below. */
  sigemptyset(&stop_sigs);
  sigaddset(&stop_sigs, SIGTERM);
  sigaddset(&stop_sigs, SIGINT);
  sigaddset(&stop_sigs, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL) != 0) {
    fprintf(stderr, "pyrited: cannot block signals\n");
    goto out;
  }
  signal(SIGPIPE, SIG_IGN);

  if (mkdir_p(cfg.data_dir, err, sizeof(err)) != 0)
    goto fail;
  lock_fd = lock_data_dir(cfg.data_dir, err, sizeof(err));
  if (lock_fd < 0)
    goto fail;

  if (pyr_srv_http_start(&cfg, &http, err, sizeof(err)) != 0)
    goto fail;

  pyr_store_opts sopts;
  pyr_store_opts_default(&sopts);
  sopts.retention_ns = cfg.retention_ns;
  sopts.max_bytes = cfg.max_disk_bytes;
  sopts.sync_full = cfg.sync_normal ? 0 : 1;
  sopts.startup_check = cfg.startup_check_quick ? 1 : 0;
  {
    /* Damage reports name the file and what to do: longer than err. */
    char serr[1024] = "";
    store = pyr_store_open(cfg.data_dir, &sopts, serr, sizeof(serr));
    if (store == NULL) {
      fprintf(stderr, "pyrited: cannot open the storage: %s\n", serr);
      goto out;
    }
  }
  pyr_srv_http_set_store(http, store);

  const char *lb = strchr(cfg.listen_host, ':') ? "[" : "";
  const char *rb = *lb ? "]" : "";
  fprintf(stderr,
          "pyrited %s: listening on http://%s%s%s:%u/ (data dir %s, %u "
          "HTTP threads, %u ingest workers)\n",
          PYRITE_VERSION, lb, cfg.listen_host, rb,
          (unsigned)pyr_srv_http_port(http), cfg.data_dir,
          pyr_srv_http_threads(http), pyr_srv_http_workers(http));

  for (;;) {
    int sig = 0;
    if (sigwait(&stop_sigs, &sig) != 0)
      continue;
    if (sig == SIGHUP) /* nothing to reload yet */
      continue;
    fprintf(stderr, "pyrited: %s received, stopping\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  pyr_srv_http_stop(http);
  http = NULL;
  pyr_store_close(store);
  store = NULL;
  fprintf(stderr, "pyrited: stopped\n");
  status = 0;
  goto out;

fail:
  fprintf(stderr, "pyrited: %s\n", err);
out:
  pyr_srv_http_stop(http);
  if (store != NULL)
    pyr_store_close(store);
  if (lock_fd >= 0)
    close(lock_fd);
  return status;
}
