/*
 * clock.h -- the one clock timeouts and rates are measured on (clock.c).
 */
#ifndef ECHOCHAT_CLOCK_H
#define ECHOCHAT_CLOCK_H

#include <stdint.h>

/* Milliseconds on a cheap monotonic clock (CLOCK_MONOTONIC_COARSE). */
uint64_t monotonic_ms(void);

#endif
