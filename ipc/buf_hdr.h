/* The buffer header: the home of a descriptor, and its owner.
 *
 * Payload buffers never move between processes; what moves through a link
 * is a 32-bit buffer index. The header at that index says what the payload
 * is (stream, sequence, length, the op program and how far along it is)
 * and, in one 64-bit word, who owns it. DESIGN §3 invariant 3 — every
 * buffer is at every instant owned by exactly one of the free pool, one
 * link, or one service generation — is this word:
 *
 *   kind  | fields            | meaning
 *   FREE  | -                 | in the pool
 *   HELD  | slot, generation  | allocated by that process, being filled;
 *         |                   | freed if it dies (the data is re-sent end to end)
 *   WORK  | slot, generation  | received through a link, a step to do;
 *         |                   | re-delivered to the next generation if it dies
 *   LINK  | link id, position | written into that link's ring at that
 *         |                   | free-running position by its producer
 *
 * Each handoff is a single store or CAS of this word, so a process killed
 * at any instruction leaves every buffer with exactly one owner, and the
 * LINK position (compared with the ring's published tails) tells the
 * reclaimer whether a buffer was published, consumed, or neither
 * (ipc/reclaim.c; the protocol is model-checked in tests/model/).
 *
 * Synchronization:
 *   owner      | written by the current owner (store) or by the consumer
 *              | claiming / allocator / reclaimer (CAS); read by anyone
 *   descriptor | written only by the process that owns the buffer (HELD
 *   fields     | or WORK); read by the next owner after the link's
 *              | release/acquire pair orders them
 */
#ifndef DWCP_IPC_BUF_HDR_H
#define DWCP_IPC_BUF_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dwcp_owner_kind {
	DWCP_OWNER_FREE = 0,
	DWCP_OWNER_HELD = 1,
	DWCP_OWNER_WORK = 2,
	DWCP_OWNER_LINK = 3,
};

#define DWCP_OWNER_FREE_WORD 0ull

static inline uint64_t dwcp_owner_make(enum dwcp_owner_kind kind, unsigned id, uint32_t low)
{
	return ((uint64_t)kind << 60) | ((uint64_t)(id & 0xffffu) << 40) | low;
}
static inline uint64_t dwcp_owner_held(unsigned slot, uint32_t gen)
{
	return dwcp_owner_make(DWCP_OWNER_HELD, slot, gen);
}
static inline uint64_t dwcp_owner_work(unsigned slot, uint32_t gen)
{
	return dwcp_owner_make(DWCP_OWNER_WORK, slot, gen);
}
static inline uint64_t dwcp_owner_link(unsigned link, uint32_t pos)
{
	return dwcp_owner_make(DWCP_OWNER_LINK, link, pos);
}
static inline enum dwcp_owner_kind dwcp_owner_kind(uint64_t w)
{
	return (enum dwcp_owner_kind)(w >> 60);
}
/** Slot (HELD/WORK) or link id (LINK). */
static inline unsigned dwcp_owner_id(uint64_t w)
{
	return (unsigned)((w >> 40) & 0xffffu);
}
/** Generation (HELD/WORK) or ring position (LINK). */
static inline uint32_t dwcp_owner_low(uint64_t w)
{
	return (uint32_t)w;
}

/* Op program: up to 8 steps, each (slot << 8 | opcode). A service does the
 * step at pc when the step's slot is its own, advances pc, and forwards the
 * buffer to the slot of the next step. A step naming a service's first
 * slot goes to any worker of that service (ipc/route.h); a pinned step
 * (DWCP_PROG_PINNED in the slot byte) goes to that very slot, as a step
 * naming a further worker's slot always does: an answer must reach the
 * svc-net worker that holds its connection. */
#define DWCP_PROG_MAX 8
/* A constant expression, for static programs. */
#define DWCP_PROG_STEP(slot, op) ((uint16_t)(((slot) << 8) | ((op) & 0xffu)))
static inline uint16_t dwcp_prog_step(unsigned slot, unsigned op)
{
	return DWCP_PROG_STEP(slot, op);
}
#define DWCP_PROG_PINNED 0x80u   /* in a step's slot byte; slots are < 128 */
static inline uint16_t dwcp_prog_step_pinned(unsigned slot, unsigned op)
{
	return DWCP_PROG_STEP(slot | DWCP_PROG_PINNED, op);
}
static inline unsigned dwcp_prog_slot(uint16_t step) { return (step >> 8) & 0x7fu; }
static inline bool dwcp_prog_pinned(uint16_t step) { return step & (DWCP_PROG_PINNED << 8); }
static inline unsigned dwcp_prog_op(uint16_t step) { return step & 0xffu; }

/* Opcodes. */
enum dwcp_op {
	DWCP_OP_NONE = 0,
	DWCP_OP_DELIVER = 1,   /* the client at that slot takes the result */
	DWCP_OP_CRC32C = 2,    /* svc-simd: result = CRC32C(data[0..len)) */
	DWCP_OP_BENCH_RAW_ECHO = 3, /* svc-simd: the raw rte_ring reference of `dwcp bench handoff` */
	/* Chunk transforms (payload = ipc/chunk.h); svc-simd, later svc-gpu. */
	DWCP_OP_LZ4 = 4,        /* compress the body with LZ4 (kept raw when that is smaller) */
	DWCP_OP_ZSTD = 5,       /* compress the body with zstd */
	DWCP_OP_SEAL = 6,       /* AES-256-GCM encrypt the body */
	DWCP_OP_CHECKSUM = 7,   /* set the chunk's CRC32C */
	DWCP_OP_VERIFY = 8,     /* check the chunk's header and CRC32C */
	DWCP_OP_OPEN = 9,       /* AES-256-GCM decrypt and authenticate the body */
	DWCP_OP_DECOMPRESS = 10,/* undo LZ4/zstd */
	/* HDE (common/ops/hde.h), svc-mem, against its delta cache (ipc/dcache.h). */
	DWCP_OP_DELTA = 11,     /* sender: data body -> HDE body, then remember the new pages */
	DWCP_OP_UNDELTA = 12,   /* receiver: HDE body -> data body, then remember the new pages */
	/* Transport (svc-net). */
	DWCP_OP_TRANSMIT = 13,  /* sender: send the chunk to its stream's peer and keep it
	                         * until the receiver acknowledges it as written */
	DWCP_OP_ACK = 14,       /* receiver: acknowledge (stream, seq) to where it came from */
	DWCP_OP_NACK = 15,      /* receiver: refuse it; result = the DWCP_BUF_* reason */
	/* RDMA (svc-rdma, docs/rdma.md): svc-net stays the control plane and
	 * the sender's in-flight table; a chunk detours through svc-rdma. */
	DWCP_OP_RDMA_WRITE = 16,  /* svc-rdma: write the chunk into a grant of the peer whose
	                           * peer-table entry is `result`; result becomes 0 (placed) or
	                           * the errno why not (the status stays OK, so the next step
	                           * runs either way) */
	DWCP_OP_RDMA_RETURN = 17, /* svc-net: the detour is over; restore the saved program */
	DWCP_OP_RDMA_RX = 18,     /* svc-net: a chunk svc-rdma received (origin = the peer-table
	                           * entry, result = the session's first 8 bytes) */
	DWCP_OP_UNLZ4 = 19,       /* DECOMPRESS of an LZ4 chunk (any other codec: EBADCHUNK): a
	                           * receiver names it for LZ4 chunks where a service publishes
	                           * it, so an engine with LZ4 but no zstd (svc-gpu) can take them */
	DWCP_OP_RELEASE = 20,     /* receiver: a copy of a chunk it holds already (its held copy is
	                           * answered when written): svc-net gives back the receive quota
	                           * the copy took and answers the peer nothing. An svc-net from
	                           * before it fails the step (EBADOP) and frees the copy, as a
	                           * receiver from before did itself */
	DWCP_OP_MAX
};

/* An op as a bit of a mask: what a service publishes it runs (ipc/route.h). */
#define DWCP_OP_BIT(op) (1u << (op))

/* status */
#define DWCP_BUF_OK       0
#define DWCP_BUF_EBADOP   1   /* a step named an op its service does not have */
#define DWCP_BUF_EBADLEN  2   /* len > buffer capacity */
#define DWCP_BUF_EBADCRC  3   /* chunk checksum mismatch */
#define DWCP_BUF_EAUTH    4   /* chunk failed authentication (wrong key or tampered) */
#define DWCP_BUF_EBADCHUNK 5  /* malformed chunk header, or a step in the wrong order */
#define DWCP_BUF_ENOKEY   6   /* encryption asked for, no key configured */
#define DWCP_BUF_ENOMEM   7   /* a library failed to get memory */
#define DWCP_BUF_EBASE    8   /* HDE: a delta base the receiver's cache does not hold;
                               * resend this chunk raw */
#define DWCP_BUF_ENORECV  9   /* no `dwcp recv` registered for the stream at the receiver */
#define DWCP_BUF_ESINK    10  /* the receiver could not write the data (disk full, I/O error) */
#define DWCP_BUF_ESTALE   11  /* a chunk of an older transfer of the stream */
#define DWCP_BUF_ENACK    12  /* sender side: the receiver refused the chunk; result = its
                               * reason (one of the codes above) */
#define DWCP_BUF_ENOPEER  13  /* sender side: the stream's peer is unreachable */
#define DWCP_BUF_EBUSY    14  /* the receiver holds its quota of the stream's or peer's
                               * chunks already: send it again a little later */
#define DWCP_BUF_EDIGEST  15  /* the receiver's whole-stream digest differs from the sender's:
                               * it did not put the file at --out */
#define DWCP_BUF_EKEPT    16  /* a chunk with kept pages, but the receiver's copy is not the
                               * version the sender's page index describes: keep nothing more
                               * (unlike EBASE, one delta base missing from one cache) */

/** What a DWCP_BUF_* status means, for messages (ipc/names.c). */
const char *dwcp_buf_status_name(unsigned status);

/** "checksum", "transmit", ...: an op's name in messages. */
const char *dwcp_op_name(unsigned op);

struct dwcp_buf_hdr {
	uint64_t owner;            /* see the table above */
	uint64_t stream;           /* writer: owner; stream id */
	uint64_t seq;              /* writer: owner; sequence in the stream */
	uint32_t len;              /* writer: owner; payload bytes at data offset */
	uint16_t status;           /* writer: owner; DWCP_BUF_* */
	uint8_t  prog_len;         /* writer: owner; steps in prog */
	uint8_t  pc;               /* writer: owner; index of the next step */
	uint16_t prog[DWCP_PROG_MAX]; /* writer: owner */
	uint64_t result;           /* writer: owner; e.g. the CRC32C of the payload */
	uint64_t t_submit_ns;      /* writer: owner; CLOCK_MONOTONIC at submission */
	uint64_t t_step_ns;        /* writer: owner; reserved for per-hop timestamps (svc-prof) */
	uint32_t redeliveries;     /* writer: reclaimer; times re-delivered after a death */
	uint32_t parent_plus1;     /* writer: owner; 1 + index of the input this buffer was made
	                            * from, freed once this one has left (0 = none); see
	                            * dwcp_svc step() */
	uint32_t deliver_gen;      /* writer: owner; generation of the client its DELIVER step is
	                            * for: a later client in the same slot drops it */
	uint32_t wire_len;         /* writer: owner; bytes this chunk took on the wire (frame
	                            * included), set by the transport that sent or received it */
	uint64_t origin;           /* writer: svc-net; receiver: where ACK/NACK for the chunk
	                            * go: (svc-net generation << 32 | stream entry << 16 |
	                            * flags | svc-net slot << 8 | peer id); see
	                            * dwcp_buf_origin_slot */
	/* A transport's detour (DWCP_OP_RDMA_WRITE) runs a program of its own;
	 * the chunk's program waits here, in the buffer, so that whichever
	 * generation of svc-net gets the buffer back can go on with it. */
	uint16_t saved_prog[DWCP_PROG_MAX]; /* writer: owner */
	uint8_t  saved_len, saved_pc;       /* writer: owner; saved_len 0 = nothing saved */
	uint8_t  pad0[6];
	uint64_t reserved[1];
};

_Static_assert(sizeof(struct dwcp_buf_hdr) == 128, "buffer header is two cache lines");

#define DWCP_BUF_ORIGIN_SLOT_SHIFT 8
#define DWCP_BUF_ORIGIN_SLOT_MASK  0x3f00u   /* slots < 64 (ipc/abi.h: DWCP_MAX_SLOTS) */

/**
 * The svc-net worker a received chunk came through, where its ACK or NACK
 * must go (that worker holds the connection and the peer it names). 0:
 * none recorded (an svc-net from before workers): svc-net's first slot.
 */
static inline unsigned dwcp_buf_origin_slot(const struct dwcp_buf_hdr *h)
{
	return (unsigned)(h->origin & DWCP_BUF_ORIGIN_SLOT_MASK) >> DWCP_BUF_ORIGIN_SLOT_SHIFT;
}
_Static_assert(offsetof(struct dwcp_buf_hdr, owner) == 0, "owner word first");
_Static_assert(offsetof(struct dwcp_buf_hdr, seq) == 16, "seq offset is ABI");
_Static_assert(offsetof(struct dwcp_buf_hdr, prog) == 32, "prog offset is ABI");
_Static_assert(offsetof(struct dwcp_buf_hdr, result) == 48, "result offset is ABI");

#endif
