/*
 * fuzz_replay.c - a main() for the libFuzzer entry points, for builds
 * without libFuzzer (gcc, the ASan/TSan unit builds): linked with one
 * fuzz_<target>.c, it feeds every file of the given directories (or the
 * given files) to that target's LLVMFuzzerTestOneInput, in name order.
 * This is how the checked-in seeds (tests/fuzz/seeds/<target>/) and every
 * input that ever crashed a target (tests/fuzz/regressions/<target>/) stay
 * tests in every build: a crash, an abort() from the target's own checks
 * or a sanitizer report fails the run.
 *
 * Usage: replay_<target> DIR|FILE...   (a missing DIR is skipped, so an
 * empty regressions directory need not exist).
 * Exit: 0 all inputs ran; 1 no input at all (the seeds are checked in, so
 * that is a broken tree) or a file could not be read.
 *
 * Threads: single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target (libFuzzer calls it once before the first input). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static long n_inputs;

/* Reads path whole into a malloc'd buffer (never NULL on success, even for
 * an empty file, so the target sees a valid pointer as under libFuzzer). */
static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0;
  int rc = -1;
  if (f == NULL)
    goto out;
  for (;;) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 65536;
      uint8_t *nb = realloc(buf, ncap);
      if (nb == NULL)
        goto out;
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  if (ferror(f))
    goto out;
  *out = buf;
  *len = n;
  buf = NULL;
  rc = 0;
out:
  if (f != NULL)
    fclose(f);
  free(buf);
  return rc;
}

static int run_file(const char *path) {
  uint8_t *buf;
  size_t len;
  if (read_file(path, &buf, &len) != 0) {
    fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  /* Named before running, so a crash report says which input did it. */
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  /* An exact-size copy, so ASan sees a read one past the input's end. */
  uint8_t *exact = malloc(len ? len : 1);
  if (exact == NULL) {
    free(buf);
    return -1;
  }
  if (len)
    memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  n_inputs++;
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir) {
  DIR *d = opendir(dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  if (d == NULL)
    return 0; /* no regressions yet for this target */
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue; /* ., .., and hidden files such as .gitkeep */
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **nn = realloc(names, cap * sizeof(*names));
      if (nn == NULL) {
        rc = -1;
        goto out;
      }
      names = nn;
    }
    size_t l = strlen(dir) + strlen(e->d_name) + 2;
    names[n] = malloc(l);
    if (names[n] == NULL) {
      rc = -1;
      goto out;
    }
    snprintf(names[n], l, "%s/%s", dir, e->d_name);
    n++;
  }
  qsort(names, n, sizeof(*names), cmp_names);
  for (size_t i = 0; i < n && rc == 0; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
      rc = run_file(names[i]);
  }
out:
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  closedir(d);
  return rc;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) {
    struct stat st;
    int rc = 0;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
      rc = run_dir(argv[i]);
    else if (stat(argv[i], &st) == 0)
      rc = run_file(argv[i]);
    if (rc != 0)
      return 1;
  }
  if (n_inputs == 0) {
    fprintf(stderr, "replay: no input files in the arguments\n");
    return 1;
  }
  printf("replay: %ld inputs ran cleanly\n", n_inputs);
  return 0;
}
