/* The HDE delta cache's logic: svc-mem's, the one process that writes the
 * cache (its layout, shared memory, is ipc/dcache.h).
 *
 * Eviction is a ring with a second chance for what changes (CLOCK, where
 * the reference bit means "this page changed"): insert number s writes
 * entry s % n_entries, evicting what was there — the oldest insertion
 * still held — unless that entry is marked DWCP_DCACHE_F_CHANGED: then the
 * mark is cleared and the cursor moves on (at most DWCP_DCACHE_SPARE_MAX
 * entries per insert), so a page that changed stays one more round. A
 * page is marked when its insert replaced an older version of its key, or
 * when it came as a changed page of a kept chunk (the sender's fingerprint
 * index found it changed, whether or not this cache held its old
 * version): the pages of a VM image that changed since the last transfer
 * are those likely to change before the next one, and the ones whose
 * bases make the next delta small. Both nodes see the same chunks, so
 * their caches mark the same pages. A new version of a key is a new
 * insertion (it goes to the young end, and the entry of its old version
 * dies); dead entries cost their ring place until the cursor comes round.
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
#ifndef DWCP_SVC_MEM_DCACHE_H
#define DWCP_SVC_MEM_DCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ops/xxh3.h"
#include "ipc/dcache.h"

/* Marked entries one insert may pass over: bounds an insert's work when
 * most of the cache changed. */
#define DWCP_DCACHE_SPARE_MAX 16u

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
 * insertion not spared when the ring is full.
 * @param hash  XXH3-64 (seed 0) of the bytes, which the caller has anyway;
 *              a wrong one makes the entry miss, never return wrong data
 * @param tag   the caller's, returned by lookups
 * @param changed  the caller knows the page changed since its last
 *              version (a replaced key is marked as well)
 * @return 0; -EINVAL for a bad length; -ENOSPC when the index had no free
 *         slot (only after it was damaged; the entry is then not kept).
 */
int dwcp_dcache_insert(struct dwcp_dcache *c, uint64_t stream, uint64_t page, const void *data,
		       uint32_t len, uint64_t hash, uint64_t tag, bool changed);

/**
 * Whether (@p stream, @p page) is held with this length and content hash,
 * judged by the stored hash alone (no page read, no figures counted): for
 * skipping the insert of a version the cache already has. A page damaged
 * in place still fails its next lookup.
 */
bool dwcp_dcache_holds(struct dwcp_dcache *c, uint64_t stream, uint64_t page, uint32_t len,
		       uint64_t hash);

/**
 * Ask the CPU to bring in the index slots and entries of pages @p first ..
 * @p first + @p n - 1 of @p stream, and the index slots of the next @p n
 * entries inserts would evict, before a chunk's lookups and inserts walk
 * them: each is a cache miss otherwise, one after the other. A hint only:
 * reads nothing it relies on, changes nothing.
 */
void dwcp_dcache_prefetch(const struct dwcp_dcache *c, uint64_t stream, uint64_t first, unsigned n);

/** A snapshot of the figures. */
void dwcp_dcache_stats(const struct dwcp_dcache *c, struct dwcp_dcache_stats *st);

#endif
