/*
 * shipper.c - the upload sender (see shipper.h).
 *
 * One pthread, one reused curl easy handle (keep-alive), one bounded queue.
 * The thread is a plain pthread, never attached to the JVM: it only does
 * network I/O, so a hung server can never hold a JVM resource.
 */
#include "shipper.h"

#include "log.h"
#include "upload_queue.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 10000L
#define BACKOFF_BASE_NS 1000000000ull
#define BACKOFF_CAP_NS 30000000000ull
#define ERRBODY_MAX 256

static struct {
  int started;
  pyr_upload_queue queue;
  pthread_t thread;
  pthread_mutex_t lock; /* guards everything below */
  pthread_cond_t cond;  /* stop requests and sender exit */
  int stopping, done;
  uint64_t deadline;
  char *url_base;       /* server + "/ingest?name=...&spyName=...&format=jfr" */
  size_t path_off;      /* offset of "/ingest" in url_base */
  char *cacert;         /* CURLOPT_CAINFO or NULL (system store) */
  int tls_hint_given;
  char *redacted;       /* server URL without credentials, for logs */
  struct curl_slist *headers;
  char *basic_user, *basic_password;
  uint64_t sample_rate;
  int server_down;
  uint64_t down_failures;
  pyr_shipper_stats stats;
  unsigned rng;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A failed TLS verification or a bad CA file fails the same way on every
 * attempt until someone changes the configuration: retrying it eight times
 * per upload only hammers the server with handshakes. */
static int transport_error_is_permanent(int curl_code) {
  switch (curl_code) {
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return 1;
  default:
    return 0;
  }
}

int pyr_shipper_tls_error(int curl_code) {
  return curl_code != CURLE_UNSUPPORTED_PROTOCOL && curl_code != CURLE_URL_MALFORMAT &&
         transport_error_is_permanent(curl_code);
}

enum pyr_ship_verdict pyr_shipper_classify(int transport_error, long http_status) {
  if (transport_error)
    return transport_error_is_permanent(transport_error) ? PYR_SHIP_DROP : PYR_SHIP_RETRY;
  if (http_status >= 200 && http_status < 300)
    return PYR_SHIP_OK;
  if (http_status == 429 || http_status >= 500)
    return PYR_SHIP_RETRY;
  return PYR_SHIP_DROP;
}

uint64_t pyr_shipper_backoff_ns(unsigned attempt, double r) {
  uint64_t ceiling = BACKOFF_CAP_NS;
  if (attempt < 16 && (BACKOFF_BASE_NS << attempt) < BACKOFF_CAP_NS)
    ceiling = BACKOFF_BASE_NS << attempt;
  if (r < 0)
    r = 0;
  if (r >= 1)
    r = 0.999999;
  return (uint64_t)(r * (double)ceiling);
}

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const pyr_label *)a)->key, ((const pyr_label *)b)->key);
}

int pyr_shipper_series_name(const pyr_options *opts, char *buf, size_t len) {
  pyr_label sorted[PYR_MAX_LABELS];
  size_t off = 0;
  int n;
  memcpy(sorted, opts->labels, opts->nlabels * sizeof(pyr_label));
  qsort(sorted, opts->nlabels, sizeof(pyr_label), cmp_label);
  n = snprintf(buf, len, "%s{", opts->app ? opts->app : "java");
  if (n < 0 || (size_t)n >= len)
    return -1;
  off = (size_t)n;
  for (size_t i = 0; i < opts->nlabels; i++) {
    n = snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "", sorted[i].key, sorted[i].value);
    if (n < 0 || (size_t)n >= len - off)
      return -1;
    off += (size_t)n;
  }
  if (off + 2 > len)
    return -1;
  buf[off++] = '}';
  buf[off] = '\0';
  return (int)off;
}

/* The server URL for logs: scheme://host[:port]/path without userinfo. */
static char *redact(const char *url) {
  const char *scheme_end = strstr(url, "://");
  const char *host = scheme_end ? scheme_end + 3 : url;
  const char *at = strchr(host, '@');
  const char *slash = strchr(host, '/');
  char *out;
  if (!at || (slash && at > slash))
    return strdup(url);
  out = malloc(strlen(url) + 1);
  if (!out)
    return NULL;
  snprintf(out, strlen(url) + 1, "%.*s%s", (int)(host - url), url, at + 1);
  return out;
}

char *pyr_shipper_build_url(const pyr_options *o, size_t *path_off) {
  char name[2048];
  size_t n = strlen(o->server);
  char *escaped, *url;
  if (pyr_shipper_series_name(o, name, sizeof(name)) < 0)
    return NULL;
  escaped = curl_easy_escape(NULL, name, 0);
  if (!escaped)
    return NULL;
  while (n > 0 && o->server[n - 1] == '/')
    n--; /* "http://h:4040/" and "http://h:4040" mean the same server */
  size_t len = n + strlen(escaped) + 128;
  url = malloc(len);
  if (url) {
    snprintf(url, len, "%.*s/ingest?name=%s&spyName=javaspy&units=samples&aggregationType=sum"
             "&format=jfr", (int)n, o->server, escaped);
    if (path_off)
      *path_off = n; /* where "/ingest" starts: the server part may have lost slashes */
  }
  curl_free(escaped);
  return url;
}

static struct curl_slist *build_headers(const pyr_options *o) {
  struct curl_slist *h = NULL, *t;
  char line[2048];
  /* No "Expect: 100-continue" round trip: our bodies are small. */
  h = curl_slist_append(h, "Expect:");
  for (size_t i = 0; h && i < o->nheaders; i++) {
    snprintf(line, sizeof(line), "%s: %s", o->headers[i].key, o->headers[i].value);
    if (!(t = curl_slist_append(h, line)))
      goto fail;
    h = t;
  }
  /* Auth and tenant come last so they override same-named user headers. */
  if (o->tenant) {
    snprintf(line, sizeof(line), "X-Scope-OrgID: %s", o->tenant);
    if (!(t = curl_slist_append(h, line)))
      goto fail;
    h = t;
  }
  if (o->auth_token && !o->basic_user) {
    snprintf(line, sizeof(line), "Authorization: Bearer %s", o->auth_token);
    if (!(t = curl_slist_append(h, line)))
      goto fail;
    h = t;
  }
  return h;
fail:
  curl_slist_free_all(h);
  return NULL;
}

struct errbody {
  char text[ERRBODY_MAX];
  size_t len;
};

static size_t collect_body(char *p, size_t size, size_t n, void *arg) {
  struct errbody *b = arg;
  size_t total = size * n, room = sizeof(b->text) - 1 - b->len;
  size_t take = total < room ? total : room;
  memcpy(b->text + b->len, p, take);
  b->len += take;
  b->text[b->len] = '\0';
  return total; /* keep reading, but store at most ERRBODY_MAX bytes */
}

/* One POST.  Returns the verdict; *status gets the HTTP status (0 when the
 * request did not complete) and `why` a short reason for logs. */
static enum pyr_ship_verdict send_once(CURL *curl, const pyr_upload *u, long timeout_ms,
                                       long *status, char *why, size_t whylen) {
  char url[4096];
  curl_mime *mime = NULL;
  curl_mimepart *part;
  struct errbody body = {.len = 0};
  CURLcode rc;
  enum pyr_ship_verdict v = PYR_SHIP_RETRY;

  *status = 0;
  snprintf(url, sizeof(url), "%s&from=%llu&until=%llu&sampleRate=%llu", S.url_base,
           (unsigned long long)u->from_s, (unsigned long long)u->until_s,
           (unsigned long long)S.sample_rate);
  mime = curl_mime_init(curl);
  part = mime ? curl_mime_addpart(mime) : NULL;
  if (!part) {
    snprintf(why, whylen, "out of memory");
    goto out;
  }
  /* Pyroscope looks the part up as a file part, so it needs a filename. */
  curl_mime_name(part, "jfr");
  curl_mime_filename(part, "jfr");
  curl_mime_data(part, (const char *)u->body, u->len);
  /* Dynamic labels: the gzipped LabelsSnapshot, also as a file part. */
  if (u->labels && u->labels_len) {
    part = curl_mime_addpart(mime);
    if (!part) {
      snprintf(why, whylen, "out of memory");
      goto out;
    }
    curl_mime_name(part, "labels");
    curl_mime_filename(part, "labels");
    curl_mime_data(part, (const char *)u->labels, u->labels_len);
  }
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, S.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    v = pyr_shipper_classify((int)rc, 0);
    if (rc == CURLE_SSL_CACERT_BADFILE && S.cacert)
      snprintf(why, whylen, "%s: cannot use the CA file %s given by cacert=/PYRITE_CA_FILE",
               curl_easy_strerror(rc), S.cacert);
    else if (pyr_shipper_tls_error((int)rc))
      snprintf(why, whylen, "%s: the server's TLS certificate is not trusted%s",
               curl_easy_strerror(rc),
               S.cacert ? " by the CA file given by cacert=/PYRITE_CA_FILE"
                        : "; for a private CA set cacert=<PEM file> or PYRITE_CA_FILE");
    else
      snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    goto out;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  v = pyr_shipper_classify(0, *status);
  if (v != PYR_SHIP_OK)
    snprintf(why, whylen, "HTTP %ld%s%.200s", *status, body.len ? ": " : "", body.text);
out:
  curl_mime_free(mime);
  return v;
}

static void note_result(enum pyr_ship_verdict v, long status, size_t bytes, const char *why) {
  pthread_mutex_lock(&S.lock);
  S.stats.last_status = (uint64_t)status;
  if (v == PYR_SHIP_OK) {
    S.stats.sent++;
    S.stats.bytes_sent += bytes;
    if (S.server_down)
      pyr_warn("uploads to %s succeed again (after %llu failed attempts)", S.redacted,
               (unsigned long long)S.down_failures);
    S.server_down = 0;
    S.down_failures = 0;
  } else {
    S.stats.failed_attempts++;
    S.down_failures++;
    if (!S.server_down && v == PYR_SHIP_DROP)
      pyr_warn("upload to %s failed: %s; retrying cannot help, so uploads failing this way "
               "are dropped and counted (no further messages until uploads succeed again)",
               S.redacted, why);
    else if (!S.server_down)
      pyr_warn("upload to %s failed: %s; retrying in the background (no further messages "
               "until uploads succeed again)", S.redacted, why);
    S.server_down = 1;
  }
  pthread_mutex_unlock(&S.lock);
}

/* Sleeps for ns unless a stop is requested; returns 1 if stopping. */
static int backoff_sleep(uint64_t ns) {
  uint64_t until = mono_ns() + ns;
  struct timespec ts = {.tv_sec = (time_t)(until / 1000000000ull),
                        .tv_nsec = (long)(until % 1000000000ull)};
  int stopping;
  pthread_mutex_lock(&S.lock);
  while (!S.stopping && pthread_cond_timedwait(&S.cond, &S.lock, &ts) == 0) {
  }
  stopping = S.stopping;
  pthread_mutex_unlock(&S.lock);
  return stopping;
}

static int stopping_deadline(uint64_t *deadline) {
  pthread_mutex_lock(&S.lock);
  int stopping = S.stopping;
  *deadline = S.deadline;
  pthread_mutex_unlock(&S.lock);
  return stopping;
}

static void send_with_retries(CURL *curl, const pyr_upload *u) {
  char why[512];
  for (unsigned attempt = 0;; attempt++) {
    uint64_t deadline;
    long timeout_ms = TOTAL_TIMEOUT_MS, status;
    int stopping = stopping_deadline(&deadline);
    if (stopping) {
      uint64_t now = mono_ns();
      if (now >= deadline)
        goto exhausted;
      if ((int64_t)((deadline - now) / 1000000) < timeout_ms)
        timeout_ms = (long)((deadline - now) / 1000000) + 1;
    }
    enum pyr_ship_verdict v = send_once(curl, u, timeout_ms, &status, why, sizeof(why));
    note_result(v, status, u->len, why);
    if (v == PYR_SHIP_OK)
      return;
    if (v == PYR_SHIP_DROP) {
      pthread_mutex_lock(&S.lock);
      S.stats.rejected++;
      pthread_mutex_unlock(&S.lock);
      return;
    }
    /* At shutdown there is no time for backoff: one attempt only. */
    if (stopping || attempt + 1 >= PYR_SHIPPER_MAX_TRIES)
      goto exhausted;
    double r = (double)rand_r(&S.rng) / ((double)RAND_MAX + 1.0);
    if (backoff_sleep(pyr_shipper_backoff_ns(attempt, r)))
      continue; /* stop requested: one last attempt within the deadline */
  }
exhausted:
  pthread_mutex_lock(&S.lock);
  S.stats.exhausted++;
  pthread_mutex_unlock(&S.lock);
}

static void *sender_main(void *arg) {
  CURL *curl = curl_easy_init();
  pyr_upload u;
  struct timespec cpu;
  (void)arg;
  /* Named like the agent's other threads, so ps/top, jcmd and the overhead
   * harness can attribute its CPU time to Pyrite. */
  pthread_setname_np(pthread_self(), "pyrite-send");
  if (curl) {
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* never SIGALRM inside a JVM */
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "pyrite/" PYRITE_VERSION);
    if (S.cacert)
      curl_easy_setopt(curl, CURLOPT_CAINFO, S.cacert);
    if (S.basic_user) {
      curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
      curl_easy_setopt(curl, CURLOPT_USERNAME, S.basic_user);
      curl_easy_setopt(curl, CURLOPT_PASSWORD, S.basic_password ? S.basic_password : "");
    }
  }
  for (;;) {
    uint64_t deadline;
    int stopping = stopping_deadline(&deadline);
    if (!pyr_upload_queue_pop(&S.queue, &u, stopping ? deadline : 0)) {
      if (stopping_deadline(&deadline))
        break; /* closed and drained, or out of time */
      continue;
    }
    if (curl)
      send_with_retries(curl, &u);
    free(u.body);
    free(u.labels);
  }
  if (curl)
    curl_easy_cleanup(curl);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  pthread_mutex_lock(&S.lock);
  S.stats.sender_cpu_ns = (uint64_t)cpu.tv_sec * 1000000000ull + (uint64_t)cpu.tv_nsec;
  S.done = 1;
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.lock);
  return NULL;
}

/* PYRITE_TEST_UPLOAD_QUEUE=N (1..PYR_SHIPPER_QUEUE) shrinks the queue: a
 * test hook, so an outage test sees drops within seconds instead of after
 * eight upload periods.  Not a user option. */
static size_t queue_capacity(void) {
  const char *v = getenv("PYRITE_TEST_UPLOAD_QUEUE");
  char *end;
  long n;
  if (!v || !*v)
    return PYR_SHIPPER_QUEUE;
  n = strtol(v, &end, 10);
  if (*end || n < 1 || n > PYR_SHIPPER_QUEUE) {
    pyr_warn("PYRITE_TEST_UPLOAD_QUEUE=%s ignored (test hook, 1..%d)", v, PYR_SHIPPER_QUEUE);
    return PYR_SHIPPER_QUEUE;
  }
  pyr_info("PYRITE_TEST_UPLOAD_QUEUE=%ld: upload queue shrunk (test hook)", n);
  return (size_t)n;
}

int pyr_shipper_start(const pyr_options *o) {
  pthread_condattr_t attr;
  pthread_attr_t tattr;
  if (S.started || !o->server)
    return 0;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    pyr_error("libcurl failed to initialise; uploads disabled");
    return -1;
  }
  S.url_base = pyr_shipper_build_url(o, &S.path_off);
  S.cacert = o->cacert ? strdup(o->cacert) : NULL;
  S.redacted = redact(o->server);
  S.headers = build_headers(o);
  S.basic_user = o->basic_user ? strdup(o->basic_user) : NULL;
  S.basic_password = o->basic_password ? strdup(o->basic_password) : NULL;
  S.sample_rate = o->interval_ns ? 1000000000ull / o->interval_ns : 100;
  S.rng = (unsigned)mono_ns();
  if (!S.url_base || !S.redacted || !S.headers ||
      pyr_upload_queue_init(&S.queue, queue_capacity()) != 0) {
    pyr_error("out of memory setting up uploads; uploads disabled");
    return -1;
  }
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&S.cond, &attr);
  pthread_condattr_destroy(&attr);
  pthread_attr_init(&tattr);
  pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&S.thread, &tattr, sender_main, NULL);
  pthread_attr_destroy(&tattr);
  if (rc != 0) {
    pyr_error("cannot start the upload thread; uploads disabled");
    return -1;
  }
  S.started = 1;
  pyr_info("uploading to %s every period as %s", S.redacted, S.url_base + S.path_off);
  return 0;
}

void pyr_shipper_submit(uint8_t *gz, size_t len, uint64_t from_s, uint64_t until_s) {
  pyr_shipper_submit_labels(gz, len, NULL, 0, from_s, until_s);
}

void pyr_shipper_submit_labels(uint8_t *gz, size_t len, uint8_t *labels_gz, size_t labels_len,
                               uint64_t from_s, uint64_t until_s) {
  pyr_upload u = {.body = gz, .len = len, .from_s = from_s, .until_s = until_s,
                  .labels = labels_gz, .labels_len = labels_len};
  if (!S.started) {
    free(gz);
    free(labels_gz);
    return;
  }
  pthread_mutex_lock(&S.lock);
  S.stats.submitted++;
  pthread_mutex_unlock(&S.lock);
  pyr_upload_queue_push(&S.queue, &u);
}

void pyr_shipper_shutdown(uint64_t deadline) {
  struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
                        .tv_nsec = (long)(deadline % 1000000000ull)};
  if (!S.started)
    return;
  pthread_mutex_lock(&S.lock);
  S.stopping = 1;
  S.deadline = deadline;
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.lock);
  pyr_upload_queue_close(&S.queue);
  pthread_mutex_lock(&S.lock);
  while (!S.done && pthread_cond_timedwait(&S.cond, &S.lock, &ts) == 0) {
  }
  if (!S.done)
    pyr_warn("exit: gave up waiting for the last upload to %s", S.redacted);
  pthread_mutex_unlock(&S.lock);
}

void pyr_shipper_get_stats(pyr_shipper_stats *out) {
  pthread_mutex_lock(&S.lock);
  *out = S.stats;
  pthread_mutex_unlock(&S.lock);
  out->queue_dropped = S.started ? pyr_upload_queue_dropped(&S.queue) : 0;
}
