/*
 * pb_budget.c - protobuf-c allocator with a byte budget (see pb_budget.h).
 *
 * Each block carries its size in a 16-byte header (keeping the payload
 * 16-byte aligned), so free can return it to the budget.
 */
#include "pb_budget.h"

#include <stdint.h>
#include <stdlib.h>

void pyr_pb_budget_init(pyr_pb_budget *b, size_t len, size_t ratio, size_t slack,
                        size_t cap) {
  b->used = 0;
  b->refused = 0;
  if (ratio != 0 && len > (cap - (slack < cap ? slack : cap)) / ratio)
    b->max = cap;
  else
    b->max = len * ratio + slack < cap ? len * ratio + slack : cap;
}

void *pyr_pb_budget_alloc(void *data, size_t size) {
  pyr_pb_budget *b = data;
  if (size > b->max - b->used || size > SIZE_MAX - 16) {
    b->refused = 1;
    return NULL;
  }
  size_t *p = malloc(size + 16);
  if (p == NULL)
    return NULL;
  p[0] = size;
  b->used += size;
  return (char *)p + 16;
}

void pyr_pb_budget_free(void *data, void *ptr) {
  pyr_pb_budget *b = data;
  if (ptr == NULL)
    return;
  size_t *p = (size_t *)(void *)((char *)ptr - 16);
  b->used -= p[0];
  free(p);
}
