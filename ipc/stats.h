/* Per-slot statistics block, in shared memory.
 *
 * One block per slot, written only by the process that holds the slot
 * (single writer, relaxed atomic stores — never RMW, never a lock) and read
 * at any time by the supervisor, dwcpctl (through the supervisor) and
 * svc-prof. Counters only grow; readers derive rates from two snapshots.
 * A restarted generation keeps adding to the same block, so a service's
 * history survives its crashes.
 */
#ifndef DWCP_IPC_STATS_H
#define DWCP_IPC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"

enum dwcp_stat_counter {
	DWCP_STAT_OPS,          /* steps done */
	DWCP_STAT_BYTES,        /* payload bytes processed by steps */
	DWCP_STAT_ERRORS,       /* steps that failed (status set on the buffer) */
	DWCP_STAT_DEQUEUED,     /* buffers taken from input links */
	DWCP_STAT_ENQUEUED,     /* buffers put on output links */
	DWCP_STAT_LINK_FULL,    /* enqueue attempts that found the link full */
	DWCP_STAT_SLEEPS,       /* times the loop went to sleep */
	DWCP_STAT_WAKEUPS,      /* futex wakes this slot's producers issued to consumers */
	DWCP_STAT_REDELIVERED,  /* buffers adopted from a dead predecessor */
	DWCP_STAT_TX_BYTES,     /* transports: bytes written to the wire (frames included) */
	DWCP_STAT_RX_BYTES,     /* transports: bytes read from the wire */
	DWCP_STAT_RESENT,       /* transports: chunks sent again (NACK, timeout, reconnect) */
	DWCP_STAT_REJECTED,     /* chunks refused by a receiver (counted where refused) */
	/* A gauge, not a counter (set with dwcp_stats_set): */
	DWCP_STAT_RX_HELD,      /* transports: chunks received and passed on to a `dwcp recv`
	                         * that has not answered them yet, each counted against its
	                         * stream's and its peer's receive quota (svc-net) */
	DWCP_STAT_N
};

struct dwcp_stats {
	uint64_t counter[DWCP_STAT_N]; /* writer: slot holder; readers: all */
	uint64_t pad[16 - DWCP_STAT_N];
	struct dwcp_hist step_ns;      /* writer: slot holder; latency of one step */
	uint64_t tail_pad[4];          /* keeps blocks cache-line multiples */
};

_Static_assert(DWCP_STAT_N <= 16, "counter array fits its cache lines");
_Static_assert(offsetof(struct dwcp_stats, step_ns) == 128, "histogram offset is ABI");
_Static_assert(sizeof(struct dwcp_stats) % 64 == 0, "stats blocks are cache-line multiples");

/** Add @p n to a counter. Concurrency: the slot holder only (no RMW). */
static inline void dwcp_stats_add(struct dwcp_stats *st, enum dwcp_stat_counter c, uint64_t n)
{
	uint64_t v = __atomic_load_n(&st->counter[c], __ATOMIC_RELAXED);

	__atomic_store_n(&st->counter[c], v + n, __ATOMIC_RELAXED);
}

/** Set gauge @p c to @p v. Concurrency: the slot holder only. */
static inline void dwcp_stats_set(struct dwcp_stats *st, enum dwcp_stat_counter c, uint64_t v)
{
	__atomic_store_n(&st->counter[c], v, __ATOMIC_RELAXED);
}

static inline uint64_t dwcp_stats_read(const struct dwcp_stats *st, enum dwcp_stat_counter c)
{
	return __atomic_load_n(&st->counter[c], __ATOMIC_RELAXED);
}

/** Counter name for display ("ops", "bytes", ...). */
const char *dwcp_stats_name(enum dwcp_stat_counter c);

#endif
