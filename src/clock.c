/*
 * clock.c -- milliseconds on a monotonic clock.  The coarse clock is a
 * read of the vDSO page, with no system call: cheap enough to take per
 * line, and its few milliseconds of resolution are plenty for timeouts
 * and rate limits.
 */
#include <time.h>

#include "clock.h"

uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
