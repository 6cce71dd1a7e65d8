/* The HDE delta cache: the previous version of each 4 KiB page of each
 * stream (DESIGN §5), kept in the shared-memory bytes the control block
 * reserves for it (struct dwcp_shm: dcache, dcache_size), so that it
 * survives every restart of svc-mem (not the supervisor's: the region goes
 * with it). Only svc-mem reads and writes it; another process may read the
 * header's figures as a snapshot.
 *
 * Layout, all by offsets from the start of the bytes (no pointer is ever
 * stored in them):
 *
 *   part    | at           | what
 *   header  | 0            | magic, version, geometry, insert cursor, stats
 *   entries | off_entries  | n_entries x 64 bytes: key, length, XXH3-64 of
 *           |              | the content, the caller's tag, insert serial
 *   index   | off_index    | n_index (a power of two >= 2 n_entries) u32:
 *           |              | 0 = empty, else 1 + an entry number; linear
 *           |              | probing on a hash of the key
 *   pages   | off_pages    | n_entries x 4096 bytes, entry i's page at i;
 *           |              | a short page is stored zero-padded
 *
 * n_entries is the largest count that fits: about
 * size / (4096 + 64 + 8) (header and alignment aside).
 *
 * This header is the layout, which is shared memory and so ABI, and what
 * any process may read of it (the figures). The cache's logic (attach,
 * lookup, insert, eviction and its crash safety) is svc-mem's, the one
 * process that writes it: svc-mem/dcache.h.
 */
#ifndef DWCP_IPC_DCACHE_H
#define DWCP_IPC_DCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DWCP_DCACHE_MAGIC    0x3148434443574444ull   /* "DDWCDCH1" */
#define DWCP_DCACHE_VERSION  1u
#define DWCP_DCACHE_PAGE     4096u

struct dwcp_dcache_hdr {
	uint64_t magic;            /* written last when formatting */
	uint32_t version;
	uint32_t page_size;        /* DWCP_DCACHE_PAGE */
	uint64_t size;             /* the bytes the geometry was computed for */
	uint32_t n_entries;
	uint32_t n_index;          /* power of two */
	uint64_t off_entries, off_index, off_pages;
	uint64_t next_serial;      /* serial of the next insert (from 1); writes entry
	                            * next_serial % n_entries */
	/* Figures: writer svc-mem, plain stores (one writer). */
	uint64_t live;             /* indexed entries */
	uint64_t hits, misses;
	uint64_t inserts, evictions;
	uint64_t corrupt;          /* lookups that found the key but a wrong hash or length */
	uint64_t spared;           /* entries of changed pages the cursor passed over once */
	uint8_t  pad[128 - 120];
};

struct dwcp_dcache_entry {
	uint64_t serial;           /* 0: empty, dead or being written; else the insert
	                            * that wrote it (serial % n_entries = this entry) */
	uint64_t stream;
	uint64_t page;
	uint64_t hash;             /* XXH3-64 (seed 0) of the page's len bytes */
	uint64_t tag;              /* the caller's, returned with the page */
	uint32_t len;              /* 1..DWCP_DCACHE_PAGE */
	uint32_t flags;            /* DWCP_DCACHE_F_*: a hint, never trusted for data */
	uint64_t pad[2];
};

_Static_assert(sizeof(struct dwcp_dcache_hdr) == 128, "dcache header is two cache lines");
_Static_assert(offsetof(struct dwcp_dcache_hdr, next_serial) == 56, "dcache cursor offset");
_Static_assert(offsetof(struct dwcp_dcache_hdr, live) == 64, "dcache figures offset");
_Static_assert(sizeof(struct dwcp_dcache_entry) == 64, "dcache entry is one cache line");

/* An entry's page changed while the cache held the key (or arrived as a
 * changed page of a kept chunk): likely to change again, so the cursor
 * passes over it once (svc-mem/dcache.h). */
#define DWCP_DCACHE_F_CHANGED 1u

struct dwcp_dcache_stats {
	uint64_t capacity, live, hits, misses, inserts, evictions, corrupt, spared;
};

/**
 * Part @p k of @p n of the cache region (@p mem, @p size bytes): svc-mem
 * worker k's own cache (ipc/route.h: dwcp_route_key sends each chunk to
 * the worker whose part holds its pages). The parts are equal, whole
 * 4 KiB pages each; one part is the whole region.
 */
static inline void dwcp_dcache_part(uint8_t *mem, uint64_t size, unsigned k, unsigned n,
				    uint8_t **part, uint64_t *part_size)
{
	uint64_t each = n > 1 ? size / n & ~(uint64_t)(DWCP_DCACHE_PAGE - 1) : size;

	*part = mem + (uint64_t)k * each;
	*part_size = each;
}

/**
 * The figures of the @p n parts of the region together, read from their
 * headers (status and metrics; a part not formatted yet counts nothing).
 * @return whether any part is formatted.
 */
bool dwcp_dcache_sum(uint8_t *mem, uint64_t size, unsigned n, struct dwcp_dcache_stats *st);

/*
 * Which chunks of a stream's first send the caches remember. A cache of C
 * pages that is sent a stream of S > C pages evicts what it took in
 * before any of it is used: a ring keeps the last C pages inserted, and
 * copying the other S - C (on both nodes) was work for nothing. So the
 * sender admits a sample: each chunk with probability share = ADMIT_FILL
 * x C / S, by a hash of (stream, seq) that picks the same chunks on every
 * send of the stream, and marks the others DWCP_CHUNK_F_NOCACHE (ipc/chunk.h)
 * for both svc-mems. The cache ends holding as many of the stream's pages
 * as before, spread over the stream instead of its tail: a later change
 * finds its base as often, and the copies are C/S of what they were.
 * A resend (the stream has a previous version) admits every chunk that
 * travels: those carry the pages that changed, the ones likely to change
 * again. Other streams sharing the cache are not counted: a sender that
 * meets a busy cache just fills it as before.
 */
#define DWCP_DCACHE_ADMIT_FILL 0.9   /* the rest of the cache: pages spared, other streams */

/** The share of a stream's chunks to admit: 1 = all (the stream fits, or
 *  the cache's size is unknown: @p capacity_pages 0). */
static inline double dwcp_dcache_share(uint64_t capacity_pages, uint64_t stream_pages)
{
	double share;

	if (!capacity_pages || !stream_pages)
		return 1.0;
	share = DWCP_DCACHE_ADMIT_FILL * (double)capacity_pages / (double)stream_pages;
	return share < 1.0 ? share : 1.0;
}

/** Whether chunk @p seq of stream @p stream is admitted at @p share. */
static inline bool dwcp_dcache_admits(uint64_t stream, uint64_t seq, double share)
{
	uint64_t z = stream ^ (seq * 0x9e3779b97f4a7c15ull);

	if (share >= 1.0)
		return true;
	/* splitmix64's finalizer: neighbouring seqs land far apart */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) < share * 9007199254740992.0;   /* 2^53 */
}

#endif
