/*
 * fuzz.h -- what every libFuzzer harness here shares: CHECK, an assertion
 * that stays on in every build and names the failed condition, so that a
 * crash libFuzzer saves says which promise the code under test broke.
 */
#ifndef ECHOCHAT_FUZZ_H
#define ECHOCHAT_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#endif
