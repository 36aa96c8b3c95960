/*
 * siphash.h -- SipHash-2-4, a keyed hash (siphash.c).
 */
#ifndef ECHOCHAT_SIPHASH_H
#define ECHOCHAT_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash(const uint8_t key[16], const void *, size_t);

#endif
