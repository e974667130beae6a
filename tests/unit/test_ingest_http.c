/*
 * test_ingest_http.c - the HTTP front end (server/http.c) in-process, over
 * real loopback sockets: /ready is 503 until the storage is published and
 * uploads are refused meanwhile, then uploads are stored; chunked bodies;
 * oversized bodies answered 413 both with Expect: 100-continue (at once)
 * and without (after draining); wrong methods and paths; the query-string
 * unescaping (+ and %XX) that `name` relies on; and a graceful stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "http.h"
#include "store.h"

/* Sends raw request bytes on a new connection, returns the response text
 * (malloc'd) and its status code. */
static char *roundtrip(uint16_t port, const char *req, size_t len, int *status) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  size_t off = 0;
  while (off < len) {
    ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0)
      break; /* the server may answer and close early */
    off += (size_t)w;
  }
  shutdown(fd, SHUT_WR);
  size_t cap = 65536, n = 0;
  char *out = malloc(cap);
  assert_non_null(out);
  for (;;) {
    ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
    if (r <= 0)
      break;
    n += (size_t)r;
    if (n + 1 >= cap)
      break;
  }
  out[n] = '\0';
  close(fd);
  *status = n > 12 ? atoi(out + 9) : 0;
  return out;
}

static int simple(uint16_t port, const char *method, const char *path,
                  const char *extra_headers, const char *body, char **text) {
  char req[4096];
  int status;
  int n = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s"
                   "Content-Length: %zu\r\n\r\n%s",
                   method, path, extra_headers ? extra_headers : "",
                   body ? strlen(body) : 0, body ? body : "");
  char *resp = roundtrip(port, req, (size_t)n, &status);
  if (text)
    *text = resp;
  else
    free(resp);
  return status;
}

static void test_lifecycle(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[256], dir[] = "/tmp/pyrite-http-test-XXXXXX";
  char *const argv[] = {"pyrited", "--listen", "127.0.0.1:0",
                        "--max-body-bytes", "64k", "--threads", "2",
                        "--ingest-workers", "2", NULL};
  assert_int_equal(pyr_srv_config_parse(&cfg, 9, argv, err, sizeof(err)),
                   PYR_SRV_CFG_OK);
  assert_non_null(mkdtemp(dir));
  struct pyr_srv_http *h = NULL;
  assert_int_equal(pyr_srv_http_start(&cfg, &h, err, sizeof(err)), 0);
  uint16_t port = pyr_srv_http_port(h);
  assert_true(port != 0);
  assert_int_equal(pyr_srv_http_workers(h), 2);

  char *text = NULL;
  /* Before the storage is open. */
  assert_int_equal(simple(port, "GET", "/ready", NULL, NULL, &text), 503);
  assert_non_null(strstr(text, "storage is not open yet"));
  free(text);
  assert_int_equal(simple(port, "POST", "/ingest?name=a", NULL, "a 1\n", &text),
                   503);
  assert_non_null(strstr(text, "\"code\":\"unavailable\""));
  free(text);

  pyr_store *st = pyr_store_open(dir, NULL, err, sizeof(err));
  assert_non_null(st);
  pyr_srv_http_set_store(h, st);
  assert_int_equal(simple(port, "GET", "/ready", NULL, NULL, &text), 200);
  assert_non_null(strstr(text, "\r\n\r\nready"));
  free(text);
  assert_int_equal(simple(port, "HEAD", "/ready", NULL, NULL, NULL), 200);

  /* `+` and %XX in the query: "my app" is an invalid name -> 400 names it. */
  assert_int_equal(simple(port, "POST", "/ingest?name=my+app%7Bk%3Dv%7D", NULL,
                          "a 1\n", &text), 400);
  assert_non_null(strstr(text, "'my app'"));
  free(text);
  assert_int_equal(simple(port, "POST", "/ingest?name=ok%7Bk%3Dv+w%7D", NULL,
                          "a;b 1\n", NULL), 200);

  /* Chunked body. */
  const char *chunked = "POST /ingest?name=chunky HTTP/1.1\r\nHost: localhost\r\n"
                        "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "4\r\na;b \r\n3\r\n12\n\r\n0\r\n\r\n";
  int status;
  text = roundtrip(port, chunked, strlen(chunked), &status);
  assert_int_equal(status, 200);
  free(text);

  /* Oversized: announced with Expect -> answered before the body. */
  assert_int_equal(simple(port, "POST", "/ingest?name=big",
                          "Expect: 100-continue\r\nContent-Length: 999999\r\n",
                          NULL, &text), 413);
  free(text);
  /* Oversized without Expect: drained, then 413. */
  size_t big = 100000;
  char *req = malloc(big + 256);
  int n = snprintf(req, 256, "POST /ingest?name=big HTTP/1.1\r\nHost: localhost\r\n"
                             "Connection: close\r\nContent-Length: %zu\r\n\r\n", big);
  memset(req + n, 'x', big);
  text = roundtrip(port, req, (size_t)n + big, &status);
  assert_int_equal(status, 413);
  assert_non_null(strstr(text, "--max-body-bytes"));
  free(text);
  /* Oversized chunked. */
  n = snprintf(req, 256, "POST /ingest?name=big HTTP/1.1\r\nHost: localhost\r\n"
                         "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "%zx\r\n", big);
  memset(req + n, 'y', big);
  memcpy(req + n + big, "\r\n0\r\n\r\n", 7);
  text = roundtrip(port, req, (size_t)n + big + 7, &status);
  assert_int_equal(status, 413);
  free(text);
  free(req);

  /* Methods and paths. */
  assert_int_equal(simple(port, "GET", "/ingest", NULL, NULL, &text), 405);
  assert_non_null(strstr(text, "Allow: POST"));
  free(text);
  assert_int_equal(simple(port, "POST", "/ready", NULL, "x", NULL), 405);
  assert_int_equal(simple(port, "GET", "/nope", NULL, NULL, &text), 404);
  assert_non_null(strstr(text, "\"code\":\"not_found\""));
  free(text);
  assert_int_equal(simple(port, "POST", "/push.v1.PusherService/Push",
                          "Content-Type: text/plain\r\n", "x", NULL), 415);

  assert_int_equal(simple(port, "GET", "/metrics", NULL, NULL, &text), 200);
  assert_non_null(strstr(text, "pyrited_requests_total{path=\"/ingest\",code=\"200\"} 2"));
  assert_non_null(strstr(text, "pyrited_requests_total{path=\"/ingest\",code=\"413\"} 3"));
  assert_non_null(strstr(text, "pyrited_ingest_uploads_total{format=\"folded\"} 2"));
  assert_non_null(strstr(text, "pyrited_store_profiles 2"));
  free(text);

  pyr_srv_http_stop(h);
  pyr_store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_unescape(void **state) {
  (void)state;
  char s[] = "a+b%20c%7Bk%3dv%7d%zz%4";
  assert_int_equal(pyr_srv_unescape(s), strlen("a b c{k=v}%zz%4"));
  assert_string_equal(s, "a b c{k=v}%zz%4");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifecycle),
      cmocka_unit_test(test_unescape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
