/*
 * utf8.h - encoding one Unicode code point as UTF-8.
 *
 * Shared by the JFR parser (char-array strings, encoding 4) and the label
 * selector parser (\u escapes).  Pure; callers guarantee 4 bytes of room
 * and a code point below 0x110000.
 */
#ifndef PYRITE_SERVER_UTF8_H
#define PYRITE_SERVER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Writes the UTF-8 bytes of cp to o; returns how many (1..4). */
static inline size_t pyr_utf8_put(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

#endif
