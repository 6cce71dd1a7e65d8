/* The CRC32C load client of the integration tests (crash, upgrade): a
 * child process, attached as a dwcp client, that keeps WINDOW descriptors
 * of known payload in flight through one CRC32C step and checks every one
 * that comes back — right stream, sequence in range, status OK, the CRC
 * it computed itself, payload untouched, and each sequence number exactly
 * once (a bitmap). What it saw lives in a MAP_SHARED block the test reads.
 *
 * Concurrency: the child writes the counters, the test reads them
 * (relaxed atomics); the test writes allowance.
 */
#ifndef DWCP_TESTS_LIB_CRCLOAD_H
#define DWCP_TESTS_LIB_CRCLOAD_H

#include <stdint.h>

#include "ipc/buf_hdr.h"

#define DWCP_CRCLOAD_WINDOW 256u

enum dwcp_crcload_phase {
	DWCP_CRCLOAD_STARTING, DWCP_CRCLOAD_RUNNING, DWCP_CRCLOAD_DONE, DWCP_CRCLOAD_FAILED,
};

struct dwcp_crcload {
	int phase;                       /* enum dwcp_crcload_phase; written by the child */
	char err[512];                   /* why the child failed */
	uint64_t submitted, completed;   /* completed = distinct sequence numbers */
	uint64_t wrong_crc, wrong_payload, bad_status, bad_seq, bad_stream, duplicates;
	uint64_t redelivered;            /* delivered with h->redeliveries > 0 */
	uint64_t in_flight;
	uint64_t allowance;              /* written by the test: submit seq < allowance */
	uint64_t target;                 /* the client ends when this many completed */
	uint64_t stream;                 /* stream id it stamps and expects back */
	unsigned step_slot;              /* the service that computes the CRC */
	int have_bad;
	char bad_what[64];
	struct dwcp_buf_hdr bad_hdr;     /* copy of the first bad header */
	uint64_t n_max;                  /* sequence numbers 0 .. n_max - 1 */
	uint64_t done[];                 /* completion bitmap, (n_max + 63) / 64 words */
};

/** A zeroed shared block for up to @p n_max descriptors, or NULL (errno). */
struct dwcp_crcload *dwcp_crcload_map(uint64_t n_max);
void dwcp_crcload_unmap(struct dwcp_crcload *l);

/** The child's body: attach to @p instance as @p label and run; never returns. */
void dwcp_crcload_client_main(struct dwcp_crcload *l, const char *instance, const char *label)
	__attribute__((noreturn));

/** Sequence numbers in the bitmap. */
uint64_t dwcp_crcload_count_done(const struct dwcp_crcload *l);

/** Everything the block says, on stderr, after @p why. */
void dwcp_crcload_dump(const struct dwcp_crcload *l, const char *why);

#endif
