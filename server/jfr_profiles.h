/*
 * jfr_profiles.h - JFR recording (+ optional Pyroscope LabelsSnapshot) ->
 * profiles, exactly as Grafana Pyroscope's JFR ingestion builds them.
 *
 * One profile per produced type (process_cpu, wall, memory alloc_in_new_tlab
 * / alloc_outside_tlab / alloc_sample / live / malloc, mutex, block), in that
 * fixed order (sorted by "<metric>_<sample types>").  The mapping rules,
 * including Pyroscope's quirks, are described in docs/jfr-parser.md.
 *
 * Threads: a conversion is single-threaded with no global state.
 */
#ifndef PYRITE_SERVER_JFR_PROFILES_H
#define PYRITE_SERVER_JFR_PROFILES_H

#include <stddef.h>
#include <stdint.h>

#include "jfr_parse.h"
#include "profile.h"

typedef struct pyr_jfr_convert_opts {
  /* The /ingest sampleRate (Hz): CPU and wall samples are worth
   * 1e9 / sample_rate ns.  0 = absent: those values are 0, as in Pyroscope. */
  int64_t sample_rate;
  const pyr_prof_limits *prof_limits; /* NULL: pyr_prof_default_limits */
  const pyr_jfrp_limits *jfr_limits;  /* NULL: pyr_jfrp_default_limits */
  /* Stamped on every profile (pyr_prof_set_time); 0 = unknown. */
  int64_t time_nanos, duration_nanos;
  /* Most bytes decoding the LabelsSnapshot may allocate: 64x its size +
   * 64 KiB, at most this (0 = PYR_JFR_LABELS_ALLOC_MAX).  Over it: ELIMIT. */
  size_t max_labels_alloc;
} pyr_jfr_convert_opts;

#define PYR_JFR_LABELS_ALLOC_MAX ((size_t)128 << 20)

#define PYR_JFR_OK 0
#define PYR_JFR_EINVAL (-1) /* malformed JFR or labels */
#define PYR_JFR_ELIMIT (-2) /* a parser or profile limit was exceeded */
#define PYR_JFR_ENOMEM (-3)

/* Converts a JFR recording (raw or gzip; the labels likewise, may be NULL)
 * into profiles appended to out (the caller frees them with
 * pyr_prof_list_free, also after an error).  jfr_event receives the value
 * of the last jdk.ActiveSetting named "event" ("" if none; Pyroscope's
 * jfr_event series label).  Returns PYR_JFR_OK or a negative code with a
 * message in err; on error out holds nothing new. */
int pyr_jfr_to_profiles(const uint8_t *jfr, size_t len, const uint8_t *labels_pb,
                        size_t labels_len, const pyr_jfr_convert_opts *opts,
                        pyr_prof_list *out, char *jfr_event, size_t ev_len, char *err,
                        size_t errlen);

#endif
