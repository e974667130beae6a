/*
 * threads.h - OS thread id -> thread name / Java thread id.
 *
 * Java threads are registered from JVMTI ThreadStart (name and
 * Thread.getId()); threads JVMTI never reports (GC, JIT, VM thread) are
 * named lazily from /proc/self/task/<tid>/comm.  Entries of ended threads
 * stay until the window that may still reference them is written, then
 * pyr_threads_purge_ended() drops them (and the /proc-named entries, which
 * no event retires).
 *
 * Threads: register/ended from JVMTI callbacks on any Java thread; lookup
 * and purge from the aggregator.  A mutex protects the table; the signal
 * handler never touches it.  Bound: PYR_THREADS_MAX entries; when full,
 * unknown threads get the name "[tid N]" without being cached.
 */
#ifndef PYRITE_THREADS_H
#define PYRITE_THREADS_H

#include <stddef.h>
#include <stdint.h>

#define PYR_THREADS_MAX 16384
#define PYR_THREAD_NAME_MAX 64

void pyr_threads_register(uint32_t tid, const char *name, int64_t java_tid);
void pyr_threads_ended(uint32_t tid);
/* Copies the name into `name`; sets *java_tid (-1 for non-Java threads).
 * Returns 1 for a registered Java thread, 0 otherwise. */
int pyr_threads_lookup(uint32_t tid, char *name, size_t len, int64_t *java_tid);
void pyr_threads_purge_ended(void);
size_t pyr_threads_count(void);

#endif
