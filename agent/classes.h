/*
 * classes.h - interned class names for allocation and lock samples.
 *
 * JVMTI callbacks see a class as a local reference that dies with the
 * callback, so they intern its name here and put the small id into the
 * sample record; the aggregator turns the id back into the name when it
 * writes the chunk.  Ids are stable for the life of the process.
 *
 * Threads: intern from any JVMTI callback thread, name from the aggregator;
 * one mutex.  Bound: PYR_CLASSES_MAX names and PYR_CLASSES_BYTES of text;
 * beyond that intern returns 0, which names the class "[unknown class]".
 */
#ifndef PYRITE_CLASSES_H
#define PYRITE_CLASSES_H

#include <stdint.h>

#define PYR_CLASSES_MAX 65536
#define PYR_CLASSES_BYTES (4u << 20)

uint32_t pyr_classes_intern(const char *name);
/* The name for an id (never NULL); valid for the life of the process. */
const char *pyr_classes_name(uint32_t id);
uint32_t pyr_classes_count(void);

#endif
