/*
 * cluster_stub.c -- the cluster link as the config fuzzer sees it: built
 * in, so that [cluster] keys and their checks are fuzzed too, and never
 * started (the fuzzer only loads configurations).
 */
#include "cluster.h"

int
cluster_supported(void)
{
	return 1;
}
