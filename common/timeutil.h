/* Monotonic time in nanoseconds. CLOCK_MONOTONIC is the same clock in
 * every process on the host, so a timestamp one process writes into shared
 * memory (heartbeat, buffer timestamps) can be compared by another. */
#ifndef DWCP_COMMON_TIMEUTIL_H
#define DWCP_COMMON_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t dwcp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
