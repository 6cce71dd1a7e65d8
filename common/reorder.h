/* Receiver-side reordering of one stream's chunks.
 *
 * AMST stripes a stream's chunks over N connections, so they arrive in
 * any order between connections (and in order within one). The receiver
 * (the `dwcp recv` sink, which must write chunks strictly in sequence)
 * hands each received chunk to the stream's reorder window and takes them
 * out strictly by sequence number: a chunk whose predecessors are missing
 * waits (the gap), a sequence number already released or already held is
 * a duplicate (a chunk resent after a connection drop although the first
 * copy arrived) and is refused and counted, and a sequence number too far
 * ahead is refused so that the memory held stays bounded: the sender gets
 * a NACK and resends later. Pure logic: no I/O, no clock, no allocation
 * after create. It lives in common/ because both the service and the
 * client-side sink reorder.
 *
 * The window is a ring of `window` slots, the slot of `next` at a moving
 * head, so put and pop are O(1) and take no division. Sequence numbers
 * compare as serial numbers (RFC 1982): seq is behind `next` when
 * seq - next, taken modulo 2^64, is 2^63 or more, so a stream whose
 * first_seq sits near UINT64_MAX crosses the wrap like any other number.
 * Items are opaque pointers (a buffer cookie); the window never frees them
 * except in dwcp_reorder_destroy.
 *
 * Concurrency: none; one window belongs to one thread.
 */
#ifndef DWCP_COMMON_REORDER_H
#define DWCP_COMMON_REORDER_H

#include <stdint.h>

#define DWCP_REORDER_WINDOW_MAX (1u << 20)

struct dwcp_reorder;

struct dwcp_reorder_stats {
	uint64_t next;        /* the sequence number pop returns next */
	uint32_t held;        /* items waiting in the window */
	uint64_t released;    /* items popped */
	uint64_t duplicates;  /* puts refused as duplicates */
	uint64_t too_far;     /* puts refused as beyond the window */
};

/**
 * A window of @p window slots (1 .. DWCP_REORDER_WINDOW_MAX) whose first
 * sequence number is @p first_seq (any value; the numbers may wrap).
 * @return the window, or NULL with errno EINVAL (window out of range) or
 *   ENOMEM.
 */
struct dwcp_reorder *dwcp_reorder_create(uint32_t window, uint64_t first_seq);

/**
 * Free the window; @p free_item (may be NULL: the caller keeps track of
 * its items) is called once for each item still held, with @p ctx.
 * @p r may be NULL.
 */
void dwcp_reorder_destroy(struct dwcp_reorder *r, void (*free_item)(void *ctx, void *item),
			  void *ctx);

/**
 * Offer chunk @p seq (@p item must not be NULL).
 * @return 0 (held; pop may now release it and maybe more), -EALREADY (a
 *   duplicate: seq is behind next, i.e. released already, or is held
 *   already; not taken, the caller frees it), -ENOBUFS (seq is at or
 *   beyond next + window: not taken, the caller NACKs it) or -EINVAL
 *   (item NULL).
 */
int dwcp_reorder_put(struct dwcp_reorder *r, uint64_t seq, void *item);

/**
 * Take the next chunk in sequence order.
 * @return its item (the caller owns it again; *seq set when @p seq is not
 *   NULL), or NULL while the next sequence number has not arrived.
 */
void *dwcp_reorder_pop(struct dwcp_reorder *r, uint64_t *seq);

/** Copy the counters (any time). */
void dwcp_reorder_stats(const struct dwcp_reorder *r, struct dwcp_reorder_stats *out);

#endif
