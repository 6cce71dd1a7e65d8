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
 * Eviction is FIFO by insertion (a ring): insert number s writes entry
 * s % n_entries, evicting what was there — the oldest insertion still held.
 * A new version of a key is a new insertion (it goes to the young end, and
 * the entry of its old version dies); dead entries cost their ring place
 * until the cursor comes round.
 *
 * Crash safety. svc-mem may be killed at any instruction; the next
 * process must find a usable cache and must never be handed a wrong page.
 *  - An insert (1) unindexes and kills (serial = 0) the ring entry it will
 *    overwrite, (2) writes the page, (3) the key, length, content hash and
 *    tag, (4) publishes the entry with a release store of its serial,
 *    (5) advances the cursor, (6) publishes the key in the index (one
 *    aligned u32 release store) and kills the entry of the key's previous
 *    version. Release stores (and a compiler barrier after step 1, whose
 *    later stores a release store alone would not hold back) keep the
 *    steps in this order in the machine code; a killed process loses no
 *    executed store, so program order is all that matters.
 *  - A lookup trusts nothing it reads: the index slot's entry number is
 *    range-checked, the entry's key and length are compared, and the XXH3
 *    of the page is recomputed and compared with the stored one. Any
 *    mismatch is a miss. Every probe loop is bounded by n_index.
 *  - Attach treats the index as derived data: it rebuilds it from the
 *    entries (serial != 0 and in its ring place; of two entries with one
 *    key, the higher serial wins and the other dies) and repairs the
 *    cursor. So whatever a killed process left half done in the index,
 *    the next one starts from a consistent one; an entry published before
 *    the kill is kept, one not yet published is forgotten.
 *  - A header whose magic, version or geometry does not match the size it
 *    is attached with is formatted: metadata zeroed, geometry written,
 *    magic last (a kill during formatting means formatting again).
 *
 * Synchronization:
 *   field            | writer  | readers
 *   header geometry  | svc-mem (attach) | svc-mem; anyone (snapshot)
 *   cursor, stats    | svc-mem | svc-mem; anyone (snapshot, may be stale)
 *   entries, index,  | svc-mem | svc-mem only
 *   pages            |         |
 *
 *   function             | who may call it
 *   dwcp_dcache_attach   | the one process that owns the cache (svc-mem),
 *                        | before any other call; never two processes at
 *                        | once (a planned upgrade hands the cache over
 *                        | only after the old process has stopped using it)
 *   everything else      | that process, one thread
 */
#ifndef DWCP_IPC_DCACHE_H
#define DWCP_IPC_DCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ops/xxh3.h"

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
	uint8_t  pad[128 - 112];
};

struct dwcp_dcache_entry {
	uint64_t serial;           /* 0: empty, dead or being written; else the insert
	                            * that wrote it (serial % n_entries = this entry) */
	uint64_t stream;
	uint64_t page;
	uint64_t hash;             /* XXH3-64 (seed 0) of the page's len bytes */
	uint64_t tag;              /* the caller's, returned with the page */
	uint32_t len;              /* 1..DWCP_DCACHE_PAGE */
	uint32_t reserved;
	uint64_t pad[2];
};

_Static_assert(sizeof(struct dwcp_dcache_hdr) == 128, "dcache header is two cache lines");
_Static_assert(offsetof(struct dwcp_dcache_hdr, next_serial) == 56, "dcache cursor offset");
_Static_assert(offsetof(struct dwcp_dcache_hdr, live) == 64, "dcache figures offset");
_Static_assert(sizeof(struct dwcp_dcache_entry) == 64, "dcache entry is one cache line");

/** A process's handle on a cache: pointers into the bytes, and the hash. */
struct dwcp_dcache {
	struct dwcp_dcache_hdr *hdr;
	struct dwcp_dcache_entry *ent;
	uint32_t *index;
	uint8_t *pages;
	uint32_t n;                /* entries */
	uint32_t mask;             /* n_index - 1 */
	bool formatted;            /* this attach formatted the bytes */
	struct dwcp_xxh3_impl xxh3;
};

/** What a lookup found. @p data stays valid until the next insert. */
struct dwcp_dcache_ref {
	const uint8_t *data;       /* len bytes (then zeros to DWCP_DCACHE_PAGE) */
	uint32_t len;
	uint64_t hash;             /* XXH3-64 of the len bytes, checked */
	uint64_t tag;
};

struct dwcp_dcache_stats {
	uint64_t capacity, live, hits, misses, inserts, evictions, corrupt;
};

/**
 * Entries a cache of @p size bytes holds (0 when it is too small for one).
 */
uint32_t dwcp_dcache_capacity(uint64_t size);

/**
 * Take the cache in @p mem (@p size bytes, 8-byte aligned): keep it when
 * its header is this version with this geometry, and then rebuild the
 * index from the entries; format it otherwise (c->formatted says which).
 * @return 0; -EINVAL when @p size holds no entry or @p mem is misaligned.
 * Concurrency: see the table above; no other process may use the cache
 * during or after this call.
 */
int dwcp_dcache_attach(struct dwcp_dcache *c, void *mem, uint64_t size);

/**
 * The cached version of (@p stream, @p page), checked: key, length and
 * content hash must all agree, or it is a miss.
 * @return 0 and *@p ref filled; -ENOENT on a miss (*@p ref untouched).
 */
int dwcp_dcache_lookup(struct dwcp_dcache *c, uint64_t stream, uint64_t page,
		       struct dwcp_dcache_ref *ref);

/**
 * Store @p len bytes (1..DWCP_DCACHE_PAGE) of @p data as the version of
 * (@p stream, @p page), replacing any older one, evicting the oldest
 * insertion when the ring is full.
 * @param hash  XXH3-64 (seed 0) of the bytes, which the caller has anyway;
 *              a wrong one makes the entry miss, never return wrong data
 * @param tag   the caller's, returned by lookups
 * @return 0; -EINVAL for a bad length; -ENOSPC when the index had no free
 *         slot (only after it was damaged; the entry is then not kept).
 */
int dwcp_dcache_insert(struct dwcp_dcache *c, uint64_t stream, uint64_t page, const void *data,
		       uint32_t len, uint64_t hash, uint64_t tag);

/**
 * Whether (@p stream, @p page) is held with this length and content hash,
 * judged by the stored hash alone (no page read, no figures counted): for
 * skipping the insert of a version the cache already has. A page damaged
 * in place still fails its next lookup.
 */
bool dwcp_dcache_holds(struct dwcp_dcache *c, uint64_t stream, uint64_t page, uint32_t len,
		       uint64_t hash);

/** A snapshot of the figures. */
void dwcp_dcache_stats(const struct dwcp_dcache *c, struct dwcp_dcache_stats *st);

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

#endif
