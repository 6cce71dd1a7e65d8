/* The DWCP datagram protocol: sealed chunks (opaque messages of up to
 * ~260 KiB) carried over UDP on a DPDK port, given back whole, in any
 * order, exactly once. Pure logic: no DPDK, no sockets, no clock reads
 * (the caller passes now_ns) and no allocation after init, so a simulated
 * lossy link tests it exhaustively (tests/unit/net/dgram_test.c) and a
 * fuzzer feeds it any header (tests/fuzz/dgram_fuzz.c). docs/dgram.md has
 * the wire format and the state machines.
 *
 * Roles, per peer:
 *   sender:   dwcp_dgram_tx_*   — which fragment goes next, what a NACK or
 *                                 an ACK changes, when to send again;
 *             dwcp_dgram_rate_* — when it may go (pacing and congestion);
 *   receiver: dwcp_dgram_rx_*   — where a fragment lands, when a message is
 *                                 whole, which fragments to ask for again.
 * Every table is fixed at init: nothing a peer sends makes us allocate.
 */
#ifndef DWCP_SVC_NET_DGRAM_H
#define DWCP_SVC_NET_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DWCP_DGRAM_MAGIC      0x4744u      /* "DG" */
#define DWCP_DGRAM_VERSION    1u
#define DWCP_DGRAM_HDR_LEN    40u
#define DWCP_DGRAM_MAX_FRAGS  512u         /* of one message: 266240 B at 520 B a fragment */
#define DWCP_DGRAM_MIN_FRAG   520u         /* payload of a fragment: MTU 600 and up */
#define DWCP_DGRAM_MAX_RANGES 64u          /* missing ranges one NACK names */
#define DWCP_DGRAM_SLOTS      64u          /* messages in flight per peer, each way */
#define DWCP_DGRAM_DONE_WIN   4096u        /* completed messages remembered (duplicates) */

/* RESET: "I hold no connection of that id" (the receiver restarted): the
 * opener drops it and opens a new one. */
enum dwcp_dgram_type { DWCP_DGRAM_DATA = 1, DWCP_DGRAM_NACK = 2, DWCP_DGRAM_ACK = 3, DWCP_DGRAM_RESET = 4 };

/* Header flags. A pair of nodes may hold two connections, one opened by
 * each; OPENER says which one a datagram belongs to (set by the end that
 * opened it, on everything it sends there). CHUNK: a DATA message that is
 * a chunk (into a pool buffer), not a small frame. */
#define DWCP_DGRAM_F_OPENER 0x1u
#define DWCP_DGRAM_F_CHUNK  0x2u

/* Little-endian on the wire, in this order (40 bytes). */
struct dwcp_dgram_hdr {
	uint16_t magic;
	uint8_t  version;
	uint8_t  type;            /* enum dwcp_dgram_type */
	uint32_t conn;            /* the sender's connection id: a restarted sender picks another */
	uint64_t msg;             /* message number, from 1, per connection */
	uint32_t total;           /* DATA: the message's length */
	uint32_t offset;          /* DATA: of this fragment's bytes in the message */
	uint16_t frag, nfrags;    /* DATA: fragment index and count; NACK: ranges that follow */
	uint16_t len;             /* bytes after the header */
	uint16_t flags;           /* DWCP_DGRAM_F_* */
	uint64_t ts_ns;           /* DATA: sender's clock; NACK/ACK: the newest DATA ts echoed */
};

struct dwcp_dgram_range {
	uint16_t first, count;    /* missing fragments first .. first + count - 1 */
};

/** Write @p h (its len as given) into @p out[DWCP_DGRAM_HDR_LEN]. */
void dwcp_dgram_hdr_encode(uint8_t *out, const struct dwcp_dgram_hdr *h);

/**
 * Read and check the header of datagram @p p of @p n bytes; @p max_msg is
 * the largest message this end accepts (its pool buffer).
 * @return 0, or -EINVAL with @p err naming what is wrong.
 */
int dwcp_dgram_hdr_parse(const uint8_t *p, size_t n, uint32_t max_msg, struct dwcp_dgram_hdr *h,
			 struct dwcp_err *err);

/** NACK body: @p n ranges into @p out (4 bytes each). @return bytes written. */
size_t dwcp_dgram_ranges_encode(uint8_t *out, const struct dwcp_dgram_range *r, unsigned n);
/** Read the ranges of a NACK whose header was parsed. @return how many, or -EINVAL. */
int dwcp_dgram_ranges_parse(const uint8_t *body, const struct dwcp_dgram_hdr *h,
			    struct dwcp_dgram_range *out, struct dwcp_err *err);

/* ---- fragmentation ------------------------------------------------ */

/** Payload bytes per fragment on a link of @p mtu (IP MTU) for IPv4 (6: IPv6). */
uint32_t dwcp_dgram_frag_payload(uint32_t mtu, int ip_version);

struct dwcp_dgram_plan {
	uint32_t total, per;      /* message length, payload per fragment */
	uint16_t nfrags;
};

/** Split @p total bytes at @p per a fragment. @return 0, or -EMSGSIZE past MAX_FRAGS. */
int dwcp_dgram_plan(struct dwcp_dgram_plan *pl, uint32_t total, uint32_t per);

/** Fragment @p i of the plan: where its bytes are. */
static inline void dwcp_dgram_frag(const struct dwcp_dgram_plan *pl, uint16_t i, uint32_t *off,
				   uint32_t *len)
{
	*off = (uint32_t)i * pl->per;
	*len = pl->total - *off < pl->per ? pl->total - *off : pl->per;
}

/* ---- receiver ----------------------------------------------------- */

struct dwcp_dgram_rx_slot {
	bool     used;
	uint64_t msg;
	uint32_t total, per;
	uint16_t nfrags, got;
	uint16_t top;                 /* 1 + the highest fragment index received */
	uint8_t *dest;
	uint64_t last_ns;             /* its newest fragment */
	uint64_t nack_ns;             /* no NACK for it before this */
	uint64_t have[DWCP_DGRAM_MAX_FRAGS / 64];
};

struct dwcp_dgram_rx {
	uint32_t conn;                /* 0 until the first datagram */
	uint32_t max_msg;
	uint64_t done_low;            /* every message below it is complete */
	uint64_t done[DWCP_DGRAM_DONE_WIN / 64];   /* done_low + i complete */
	uint64_t newest_ts;           /* the ts of the newest DATA ... */
	uint64_t newest_at;           /* ... and when it arrived, by this end's clock */
	struct dwcp_dgram_rx_slot slot[DWCP_DGRAM_SLOTS];
};

enum dwcp_dgram_rx_result {
	DWCP_DGRAM_RX_STORED,         /* a new fragment, message not whole yet */
	DWCP_DGRAM_RX_DUP,            /* seen before: ignored */
	DWCP_DGRAM_RX_DONE_AGAIN,     /* of a message already whole: its ACK was lost, send it again */
	DWCP_DGRAM_RX_COMPLETE,       /* the message is whole: *slot says where; take it */
	DWCP_DGRAM_RX_NEED_DEST,      /* the first fragment of a message: give it a buffer */
	DWCP_DGRAM_RX_FULL,           /* no slot free: dropped, the sender will resend */
	DWCP_DGRAM_RX_NEW_CONN,       /* another connection id: the sender restarted */
};

void dwcp_dgram_rx_init(struct dwcp_dgram_rx *rx, uint32_t max_msg);

/**
 * A DATA datagram (header parsed, @p payload its h->len bytes). On
 * NEED_DEST, call dwcp_dgram_rx_set_dest for *slot and put it again (or,
 * with no buffer to give, dwcp_dgram_rx_release: the fragment is dropped
 * and the sender resends). On
 * COMPLETE the message is in that slot's dest; dwcp_dgram_rx_release
 * frees the slot. -EINVAL: the fragment disagrees with others of its
 * message (total, count, size): the message is dropped (its dest is
 * returned in @p dropped_dest, NULL if none) and the sender resends.
 */
int dwcp_dgram_rx_put(struct dwcp_dgram_rx *rx, const struct dwcp_dgram_hdr *h,
		      const uint8_t *payload, uint64_t now_ns, int *slot, uint8_t **dropped_dest,
		      struct dwcp_err *err);

void dwcp_dgram_rx_set_dest(struct dwcp_dgram_rx *rx, int slot, uint8_t *dest);

/**
 * The timestamp to echo in an answer sent at @p now_ns: the newest DATA's,
 * plus how long this end held it. The sender's RTT is then the path's
 * (and its own) delay, not this end's time to answer: Swift's split of
 * fabric from endpoint delay, without NIC timestamps.
 */
uint64_t dwcp_dgram_rx_echo(const struct dwcp_dgram_rx *rx, uint64_t now_ns);

/** Free slot @p slot after its COMPLETE (the message is the caller's). */
void dwcp_dgram_rx_release(struct dwcp_dgram_rx *rx, int slot);

/** Forget everything (a new connection): @p dests receives the buffers of unfinished messages. */
unsigned dwcp_dgram_rx_reset(struct dwcp_dgram_rx *rx, uint32_t conn, uint8_t **dests);

/**
 * The NACK due for one incomplete message at @p now_ns: its missing
 * fragments below the highest one received (a sender sends a message's
 * fragments in order, so a hole there was lost; the fragments above may
 * not have been sent yet: a lost tail is found by the sender's probe,
 * dwcp_dgram_tx_timers), once nothing new arrived for it for
 * @p reorder_ns, at most once per @p reorder_ns. @return how many ranges (0: none due), with
 * *msg the message they belong to.
 */
unsigned dwcp_dgram_rx_nack(struct dwcp_dgram_rx *rx, uint64_t now_ns, uint64_t reorder_ns,
			    uint64_t *msg, struct dwcp_dgram_range *out);

/* ---- sender ------------------------------------------------------- */

struct dwcp_dgram_tx_slot {
	bool     used;
	uint64_t msg;
	struct dwcp_dgram_plan plan;
	void    *cookie;              /* the caller's: the chunk buffer */
	uint64_t sent_ns;             /* last fragment sent */
	uint16_t pending;             /* fragments still to (re)send */
	uint16_t cursor;              /* where to look for the next pending one */
	uint64_t need[DWCP_DGRAM_MAX_FRAGS / 64];
};

struct dwcp_dgram_tx {
	uint32_t conn;
	uint32_t per;
	uint64_t next_msg;
	unsigned rr;                  /* round-robin over messages with pending fragments */
	struct dwcp_dgram_tx_slot slot[DWCP_DGRAM_SLOTS];
};

void dwcp_dgram_tx_init(struct dwcp_dgram_tx *tx, uint32_t conn, uint32_t per);

/**
 * Take message @p cookie of @p total bytes: all its fragments pending.
 * @return its message number, or -ENOBUFS (every slot in flight: wait for
 *         ACKs) / -EMSGSIZE.
 */
int64_t dwcp_dgram_tx_track(struct dwcp_dgram_tx *tx, uint32_t total, void *cookie);

/**
 * The next fragment to send: fills @p h (a DATA header, ts_ns = now) and
 * where its bytes are in the message. @return 1, or 0 when nothing is pending.
 */
int dwcp_dgram_tx_next(struct dwcp_dgram_tx *tx, uint64_t now_ns, struct dwcp_dgram_hdr *h,
		       void **cookie);

/** A NACK for @p msg: its ranges are pending again. @return fragments marked. */
unsigned dwcp_dgram_tx_on_nack(struct dwcp_dgram_tx *tx, uint64_t msg,
			       const struct dwcp_dgram_range *r, unsigned n);

/** Has any tracked message a fragment to send? */
bool dwcp_dgram_tx_pending(const struct dwcp_dgram_tx *tx);

/** Is message @p msg still tracked (not ACKed)? */
bool dwcp_dgram_tx_has(const struct dwcp_dgram_tx *tx, uint64_t msg);

/** The oldest message still tracked (next_msg when none): every one below it was ACKed. */
uint64_t dwcp_dgram_tx_low(const struct dwcp_dgram_tx *tx);

/** An ACK: the message is whole at the receiver. @return its cookie, NULL if unknown. */
void *dwcp_dgram_tx_on_ack(struct dwcp_dgram_tx *tx, uint64_t msg);

/**
 * Messages whose every fragment went out more than @p rto_ns ago without
 * an ACK or NACK (the tail, the NACK or the ACK was lost): their last
 * fragment is pending again, a probe the receiver answers with a NACK of
 * what it lacks, or the ACK again. @return how many messages.
 */
unsigned dwcp_dgram_tx_timers(struct dwcp_dgram_tx *tx, uint64_t now_ns, uint64_t rto_ns);

/* ---- rate controller (dgram_rate.c) -------------------------------- */

struct dwcp_dgram_rate {
	double   rate;                /* bytes per second now */
	double   min_rate, max_rate;
	double   tokens, burst;       /* bytes */
	uint64_t last_ns;             /* of the last refill */
	uint64_t base_rtt_ns;         /* the smallest RTT seen: the path without queues */
	uint64_t target_ns;           /* base + headroom: above it, the queue grows */
	uint64_t srtt_ns;
	uint64_t last_cut_ns;         /* one decrease per RTT */
	uint64_t last_inc_ns;
	double   ai;                  /* bytes/s added per RTT below target */
};

void dwcp_dgram_rate_init(struct dwcp_dgram_rate *r, double start, double min, double max,
			  uint64_t now_ns);
/** May @p bytes go now? (Takes them from the bucket if so.) */
bool dwcp_dgram_rate_take(struct dwcp_dgram_rate *r, uint64_t now_ns, uint32_t bytes);
/** When @p bytes may go, if not now. */
uint64_t dwcp_dgram_rate_next_ns(const struct dwcp_dgram_rate *r, uint64_t now_ns, uint32_t bytes);
/** An RTT sample (an ACK or NACK echoing a DATA timestamp). */
void dwcp_dgram_rate_on_rtt(struct dwcp_dgram_rate *r, uint64_t rtt_ns, uint64_t now_ns);
/** Fragments reported lost (a NACK, a timeout). */
void dwcp_dgram_rate_on_loss(struct dwcp_dgram_rate *r, uint64_t now_ns);

#endif
