/* The control block: the first thing in the dwcp memzone.
 *
 * It carries the ABI magic and version and the DPDK mempool-ops order the
 * primary registered (a secondary whose order differs would call another
 * handler through the same index — DESIGN §3 invariant 2 — and refuses to
 * attach), the layout of the rest of the region as offsets, and one slot
 * per process.
 *
 * A slot has a public half split by writer (MINIX's rprocpub; the private
 * half — argv, backoff, pidfd — stays in the supervisor):
 *
 *   part      | writer                    | readers
 *   sup       | supervisor                | all
 *   svc       | the process in the slot   | supervisor, dwcpctl, svc-prof
 *   sleeping  | the slot's consumer loop  | producers (to decide to wake)
 *   wake_seq  | any producer (atomic add) | the consumer (futex word)
 *
 * Each part sits on its own cache line(s), asserted below, so no two
 * writers share a line.
 *
 * The state a user sees is derived (dwcp_slot_state): the supervisor says
 * whether a generation is STARTING, RUNNING or DEAD; the process says
 * READY, STANDBY or DRAINING for the generation it attached as.
 */
#ifndef DWCP_IPC_CTL_BLOCK_H
#define DWCP_IPC_CTL_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "ipc/abi.h"

#define DWCP_OPS_NAME_MAX  32
#define DWCP_OPS_MAX       16   /* RTE_MEMPOOL_MAX_OPS_IDX */
#define DWCP_REASON_MAX    64

enum dwcp_sup_state {
	DWCP_SUP_EMPTY = 0,     /* slot unused */
	DWCP_SUP_STARTING = 1,  /* generation spawned, not yet attached */
	DWCP_SUP_RUNNING = 2,   /* generation attached (HELLO answered) */
	DWCP_SUP_DEAD = 3,      /* died; restart pending */
	DWCP_SUP_STOPPED = 4,   /* exited on purpose; not restarted */
};

enum dwcp_svc_state {
	DWCP_SVC_NONE = 0,
	DWCP_SVC_READY = 1,
	DWCP_SVC_STANDBY = 2,   /* up, but its engine is absent (reason says which) */
	DWCP_SVC_DRAINING = 3,  /* finishing in-flight work before exiting */
};

/* What a user sees. */
enum dwcp_state {
	DWCP_STATE_EMPTY,
	DWCP_STATE_STARTING,
	DWCP_STATE_READY,
	DWCP_STATE_STANDBY,
	DWCP_STATE_DRAINING,
	DWCP_STATE_DEAD,
	DWCP_STATE_STOPPED,
};

struct dwcp_slot_sup {              /* writer: supervisor; readers: all */
	uint32_t state;             /* enum dwcp_sup_state */
	uint32_t generation;        /* bumped at every (re)start */
	int32_t  pid;
	uint32_t lcore;
	uint32_t restarts;
	uint32_t kind;              /* 0 service, 1 client */
	uint64_t spawned_ns;        /* CLOCK_MONOTONIC when this generation started */
	uint64_t died_ns;           /* when the previous generation died, 0 if never */
	uint64_t recovery_ns;       /* died -> READY of the last restart */
	char     name[32];
	uint32_t drain;             /* 1: `dwcpctl drain`: take no new input (any generation) */
	uint32_t service;           /* the service this slot works for (its first slot); 0: a client */
	uint32_t worker;            /* 0 for a service's first slot, 1.. for its further workers */
	uint8_t  pad[128 - 92];
};

struct dwcp_slot_svc {              /* writer: the process in the slot */
	uint32_t state;             /* enum dwcp_svc_state */
	uint32_t generation;        /* generation this process attached as */
	int32_t  pid;
	uint32_t pad0;
	uint64_t heartbeat_ns;      /* CLOCK_MONOTONIC of the last loop turn */
	uint64_t ready_ns;          /* when it reached READY/STANDBY (or DRAINING, started drained) */
	char     reason[DWCP_REASON_MAX]; /* STANDBY/DRAINING reason */
	uint8_t  pad[128 - 96];
};

struct dwcp_slot {
	struct dwcp_slot_sup sup;
	struct dwcp_slot_svc svc;
	uint32_t sleeping;          /* writer: consumer; 1 while it may sleep */
	uint8_t  pad1[60];
	uint32_t wake_seq;          /* writers: producers; futex word */
	uint8_t  pad2[60];
};

_Static_assert(sizeof(struct dwcp_slot_sup) == 128, "sup half is two lines");
_Static_assert(offsetof(struct dwcp_slot_sup, drain) == 80, "drain flag offset is ABI");
_Static_assert(offsetof(struct dwcp_slot_sup, service) == 84, "service offset is ABI");
_Static_assert(sizeof(struct dwcp_slot_svc) == 128, "svc half is two lines");
_Static_assert(offsetof(struct dwcp_slot, svc) % 64 == 0, "svc half on its own line");
_Static_assert(offsetof(struct dwcp_slot, sleeping) % 64 == 0, "sleeping on its own line");
_Static_assert(offsetof(struct dwcp_slot, wake_seq) % 64 == 0, "wake_seq on its own line");
_Static_assert(sizeof(struct dwcp_slot) == 384, "slot size is ABI");

struct dwcp_ctl_block {
	/* writer: supervisor, once, before any process attaches; readers: all */
	uint32_t magic;
	uint32_t abi_version;
	uint32_t n_bufs;
	uint32_t buf_size;
	uint32_t link_depth;
	uint32_t heartbeat_ms;
	uint32_t spin_us;
	uint32_t poll_mode;
	uint64_t total_size;        /* bytes of the whole region */
	uint64_t off_stats;         /* struct dwcp_stats[DWCP_MAX_SLOTS] */
	uint64_t off_links;         /* DWCP_MAX_LINKS rings, link_stride apart */
	uint64_t link_stride;
	uint64_t off_hdrs;          /* struct dwcp_buf_hdr[n_bufs] */
	uint64_t off_free_map;      /* uint64_t[(n_bufs+63)/64], advisory free bits */
	uint64_t off_data;          /* n_bufs * buf_size payload bytes */
	int32_t  sup_pid;
	uint32_t n_mempool_ops;
	uint64_t sup_start_ns;
	char     instance[32];
	char     mempool_ops[DWCP_OPS_MAX][DWCP_OPS_NAME_MAX];
	/* config snapshot for services (writer: supervisor, once) */
	char     key_file[256];     /* AES-256 key file; "" = no key */
	uint32_t zstd_level;
	uint32_t lz4_level;
	uint64_t off_dcache;        /* the HDE delta cache (ipc/dcache.h) */
	uint64_t dcache_size;       /* its bytes; 0 = none */
	uint64_t off_node;          /* struct dwcp_node_part (ipc/streams.h) */
	uint8_t  pad[1024 - 936];
	/* The route table (ipc/route.h): which slots work for each service,
	 * indexed by its first slot. writer: supervisor, once, before any
	 * process attaches; readers: every producer, per routed burst. */
	struct dwcp_route_ent {
		uint8_t n;                        /* workers, >= 1 for an enabled service */
		uint8_t slot[DWCP_MAX_WORKERS];   /* slot[0] is the service's own slot */
		uint8_t keyed;                    /* 1: a chunk's (stream, seq) picks the worker
		                                   * (dwcp_route_key), not the load; 0 in a
		                                   * region from before (then: by load) */
		uint8_t pad[64 - 2 - DWCP_MAX_WORKERS];
	} route[DWCP_SLOT_CLIENT0];
	/* The op table (ipc/route.h): for each op, the services that run it,
	 * by rank. Unlike the rest of this block it is written after attach:
	 * each service's processes set their service's bit (atomic OR/AND)
	 * before they report READY, and the bits outlive their processes. */
	struct dwcp_op_ent {
		uint16_t by_rank[3];              /* bit s: service slot s, rank DWCP_RANK_* */
		uint16_t pad;
	} op_table[DWCP_OP_TABLE];
	uint8_t  pad_route[2048 - 1024 - 64 * DWCP_SLOT_CLIENT0 - 8 * DWCP_OP_TABLE];
	struct dwcp_slot slots[DWCP_MAX_SLOTS];
};

_Static_assert(offsetof(struct dwcp_ctl_block, abi_version) == 4, "version at 4 forever");
_Static_assert(offsetof(struct dwcp_ctl_block, mempool_ops) == 136, "ops order offset");
_Static_assert(offsetof(struct dwcp_ctl_block, route) == 1024, "route table at 1 KiB");
_Static_assert(DWCP_MAX_WORKERS < 64, "a route entry is one line");
_Static_assert(offsetof(struct dwcp_ctl_block, op_table) == 1472, "op table offset is ABI");
_Static_assert(DWCP_SLOT_CLIENT0 <= 16, "a service is a bit of an op table entry");
_Static_assert(offsetof(struct dwcp_ctl_block, slots) == 2048, "slots start at 2 KiB");
_Static_assert(sizeof(struct dwcp_ctl_block) == 2048 + DWCP_MAX_SLOTS * 384, "ctl block size is ABI");

/** The state a user sees, derived from the two halves. */
static inline enum dwcp_state dwcp_slot_state(const struct dwcp_slot *s)
{
	uint32_t sup = __atomic_load_n(&s->sup.state, __ATOMIC_ACQUIRE);
	uint32_t gen = __atomic_load_n(&s->sup.generation, __ATOMIC_ACQUIRE);

	switch (sup) {
	case DWCP_SUP_EMPTY: return DWCP_STATE_EMPTY;
	case DWCP_SUP_DEAD: return DWCP_STATE_DEAD;
	case DWCP_SUP_STOPPED: return DWCP_STATE_STOPPED;
	default: break;
	}
	if (__atomic_load_n(&s->svc.generation, __ATOMIC_ACQUIRE) != gen)
		return DWCP_STATE_STARTING;
	switch (__atomic_load_n(&s->svc.state, __ATOMIC_ACQUIRE)) {
	case DWCP_SVC_READY: return DWCP_STATE_READY;
	case DWCP_SVC_STANDBY: return DWCP_STATE_STANDBY;
	case DWCP_SVC_DRAINING: return DWCP_STATE_DRAINING;
	default: return DWCP_STATE_STARTING;
	}
}

/** "READY", "STANDBY", ... */
const char *dwcp_state_name(enum dwcp_state st);

#endif
