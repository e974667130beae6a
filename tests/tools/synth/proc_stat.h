/*
 * proc_stat.h - what the load tools read about the server process from
 * /proc: its CPU time and its resident memory.
 *
 * Threads: no state; any thread.
 */
#ifndef PYRITE_TOOLS_PROC_STAT_H
#define PYRITE_TOOLS_PROC_STAT_H

/* utime + stime of process pid, in seconds; -1 if unreadable. */
double pyr_proc_cpu_s(int pid);

/* VmRSS of process pid, in KiB; -1 if unreadable. */
long pyr_proc_rss_kb(int pid);

#endif
