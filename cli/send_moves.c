/* `dwcp send`'s search for moved pages (send_moves.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu.h"
#include "common/digest.h"
#include "common/ops/weaksum.h"
#include "common/ops/hde.h"
#include "send_moves.h"

#define PAGE          DWCP_DIGEST_PAGE
#define MAX_SLOTS     (1u << 24)
#define BACKOFF_AFTER (64ull << 20)   /* bytes rolled before the hit rate is judged */
#define BACKOFF_SHARE 16u             /* below 1/16 found: roll 1 chunk in 16 */
#define MAX_MISSES    256u            /* weak hits the strong hash refuted, per chunk */
#define SEEN_MIN      (1u << 12)      /* slots of the table of this version's changed pages */
#define SEEN_MAX      (1u << 21)      /* ... at most: 48 MiB, 1 Mi pages entered */

struct slot {
	uint32_t key;
	uint32_t page1;                 /* the old page + 1; 0: empty */
};

struct send_moves {
	const struct dwcp_fpindex *old;
	uint64_t old_pages;             /* whole pages of the previous version: the sources */
	struct dwcp_weaksum_impl ws;
	struct dwcp_xxh3_impl xxh3;     /* page hashes, as the index has them */
	struct slot *tab;
	uint32_t tab_mask;
	/* One bit per key, 16 bits per old page: the rolling scan asks at
	 * every byte, and a miss (nearly every position) is then one load
	 * from a table an eighth of the size of tab, mostly in cache. */
	uint64_t *filter;
	uint32_t filter_mask;
	bool built, failed;
	uint64_t *kept;                 /* bit per page of the new version: found unchanged */
	uint64_t new_pages;
	uint64_t rolled, found, skips;
	uint8_t zero_hash[DWCP_DIGEST_PAGE_HASH];
	/* This version's changed pages so far, by hash: a page seen again
	 * later (a journal's copy of a metadata block) is a move from the
	 * receiver's own output. */
	struct seen {
		uint64_t h, h_hi;       /* the XXH3-128 */
		uint64_t page1;         /* page + 1; 0: empty */
	} *seen;
	uint32_t seen_mask, seen_n;
	uint8_t *scratch;               /* a chunk and the pages either side (66 pages) */
};

struct send_moves *send_moves_create(const struct dwcp_fpindex *old, uint64_t new_size)
{
	struct send_moves *m;
	struct dwcp_cpu_features cpu;
	static const uint8_t zero[PAGE];

	if (!old->map || !old->has_keys)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->old = old;
	m->old_pages = old->file_size / PAGE;   /* a short last page is no source */
	if (m->old_pages > UINT32_MAX - 1)
		m->old_pages = UINT32_MAX - 1;
	if (m->old_pages > old->n_pages)
		m->old_pages = old->n_pages;
	m->new_pages = (new_size + PAGE - 1) / PAGE;
	m->kept = calloc(m->new_pages / 64 + 1, sizeof(uint64_t));
	if (!m->kept) {
		free(m);
		return NULL;
	}
	dwcp_cpu_detect(&cpu);
	dwcp_weaksum_select(&m->ws, &cpu);
	dwcp_xxh3_select(&m->xxh3, &cpu);
	dwcp_digest_page_hashes(&m->xxh3, zero, PAGE, &m->zero_hash);
	return m;
}

void send_moves_destroy(struct send_moves *m)
{
	if (!m)
		return;
	free(m->tab);
	free(m->filter);
	free(m->seen);
	free(m->scratch);
	free(m->kept);
	free(m);
}

uint64_t send_moves_rolled(const struct send_moves *m)
{
	return m ? m->rolled : 0;
}

static uint64_t hash_lo(const uint8_t *h)
{
	uint64_t v;

	memcpy(&v, h, sizeof(v));
	return v;
}

static uint64_t hash_hi(const uint8_t *h)
{
	uint64_t v;

	memcpy(&v, h + 8, sizeof(v));
	return v;
}

static uint32_t seen_slot(const struct send_moves *m, uint64_t h)
{
	return (uint32_t)(h >> 17) & m->seen_mask;
}

/* Enter @p page under @p h, growing the table to SEEN_MAX slots; beyond
 * half of that, pages are no longer entered (only the saving is lost). */
static void seen_add(struct send_moves *m, uint64_t h, uint64_t h_hi, uint64_t page)
{
	uint32_t at;

	if (!m->seen || m->seen_n >= (m->seen_mask + 1) / 2) {
		uint32_t slots = m->seen ? (m->seen_mask + 1) * 2 : SEEN_MIN;
		struct seen *old = m->seen, *t;
		uint32_t old_slots = m->seen ? m->seen_mask + 1 : 0;

		if (slots > SEEN_MAX || !(t = calloc(slots, sizeof(*t))))
			return;
		m->seen = t;
		m->seen_mask = slots - 1;
		for (uint32_t i = 0; i < old_slots; i++) {
			if (!old[i].page1)
				continue;
			for (at = seen_slot(m, old[i].h); t[at].page1; at = (at + 1) & m->seen_mask)
				;
			t[at] = old[i];
		}
		free(old);
	}
	for (at = seen_slot(m, h); m->seen[at].page1; at = (at + 1) & m->seen_mask)
		if (m->seen[at].h == h && m->seen[at].h_hi == h_hi)
			return;   /* the first copy is the source */
	m->seen[at] = (struct seen){ .h = h, .h_hi = h_hi, .page1 = page + 1 };
	m->seen_n++;
}

/* The first page of this version with hash (@p h, @p h_hi), or -1. */
static int64_t seen_find(const struct send_moves *m, uint64_t h, uint64_t h_hi)
{
	if (!m->seen)
		return -1;
	for (uint32_t at = seen_slot(m, h); m->seen[at].page1; at = (at + 1) & m->seen_mask)
		if (m->seen[at].h == h && m->seen[at].h_hi == h_hi)
			return (int64_t)m->seen[at].page1 - 1;
	return -1;
}

void send_moves_note(struct send_moves *m, uint64_t first, unsigned n, uint64_t kept,
		     const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	if (!m)
		return;
	for (unsigned i = 0; i < n && i < 64; i++) {
		if (first + i >= m->new_pages)
			break;
		if (kept >> i & 1)
			m->kept[(first + i) / 64] |= 1ull << ((first + i) % 64);
		else if (memcmp(hashes[i], m->zero_hash, DWCP_DIGEST_PAGE_HASH))
			seen_add(m, hash_lo(hashes[i]), hash_hi(hashes[i]), first + i);
	}
}

static uint32_t slot_of(const struct send_moves *m, uint32_t key)
{
	return (key * 0x9E3779B1u) & m->tab_mask;
}

/* Another mix than slot_of's, so that the filter's misses and the table's
 * collisions do not go together. */
static uint32_t filter_bit(const struct send_moves *m, uint32_t key)
{
	return ((key ^ key >> 16) * 0x85EBCA6Bu) & m->filter_mask;
}

static bool maybe_old(const struct send_moves *m, uint32_t key)
{
	uint32_t b = filter_bit(m, key);

	return m->filter[b / 64] >> (b % 64) & 1;
}

/* The previous version's keys, zero pages left out (HDE sends those as
 * 1-byte records anyway), the first page of each key kept. */
static int build(struct send_moves *m)
{
	uint64_t slots = 1024, stride;

	while (slots < 2 * m->old_pages && slots < MAX_SLOTS)
		slots *= 2;
	stride = m->old_pages > slots / 2 ? (m->old_pages + slots / 2 - 1) / (slots / 2) : 1;
	m->tab = calloc(slots, sizeof(*m->tab));
	m->filter = calloc(slots * 8 / 64, sizeof(*m->filter));   /* slots * 8 bits */
	if (!m->tab || !m->filter)
		return -ENOMEM;
	m->tab_mask = (uint32_t)(slots - 1);
	m->filter_mask = (uint32_t)(slots * 8 - 1);
	for (uint64_t q = 0; q < m->old_pages; q += stride) {
		const uint8_t *h = dwcp_fpindex_page(m->old, q);
		uint32_t key, at;

		if (!h || !memcmp(h, m->zero_hash, sizeof(m->zero_hash)) ||
		    !dwcp_fpindex_key(m->old, q, &key))
			continue;
		for (at = slot_of(m, key); m->tab[at].page1 && m->tab[at].key != key;
		     at = (at + 1) & m->tab_mask)
			;
		if (!m->tab[at].page1) {
			uint32_t b = filter_bit(m, key);

			m->tab[at] = (struct slot){ .key = key, .page1 = (uint32_t)(q + 1) };
			m->filter[b / 64] |= 1ull << (b % 64);
		}
	}
	return 0;
}

/* The old page whose key is @p key, or -1. */
static int64_t lookup(const struct send_moves *m, uint32_t key)
{
	for (uint32_t at = slot_of(m, key); m->tab[at].page1; at = (at + 1) & m->tab_mask)
		if (m->tab[at].key == key)
			return (int64_t)m->tab[at].page1 - 1;
	return -1;
}

/* Whether the 4096 bytes at @p p are old page @p q. */
static bool is_old_page(const struct send_moves *m, const uint8_t *p, uint64_t q)
{
	uint8_t h[1][DWCP_DIGEST_PAGE_HASH];
	const uint8_t *want = q < m->old_pages ? dwcp_fpindex_page(m->old, q) : NULL;

	if (!want)
		return false;
	dwcp_digest_page_hashes(&m->xxh3, p, PAGE, h);
	return !memcmp(h[0], want, DWCP_DIGEST_PAGE_HASH);
}

/* Whether the receiver's copy still holds the previous version at page
 * @p q when the chunk starting at page @p first is written (send_moves.h). */
static bool source_intact(const struct send_moves *m, uint64_t q, uint64_t first)
{
	return q >= first || (q < m->new_pages && m->kept[q / 64] >> (q % 64) & 1);
}

struct scan {
	const uint8_t *data;            /* [page before] chunk [page after] */
	uint32_t c0;                    /* where the chunk starts in data: 0 or 4096 */
	uint32_t tot;                   /* bytes at data */
	unsigned n_pages;               /* whole pages of the chunk */
	uint64_t first;                 /* the chunk's first page */
	uint64_t candidates, moved;
	uint64_t *src;
	unsigned misses;
};

/* Old pages q, q + 1, ..., q + n - 1 are at offsets o, o + 4096, ... of
 * sc->data: every candidate page wholly inside moved, where its source is
 * intact. */
static void take_run(const struct send_moves *m, struct scan *sc, uint32_t o, uint64_t q,
		     uint32_t n)
{
	for (unsigned k = 0; k < sc->n_pages; k++) {
		const uint32_t at = sc->c0 + k * PAGE;
		uint64_t src = q * PAGE + (at - o);

		if (at < o || at + PAGE > o + n * PAGE)
			continue;
		if (!(sc->candidates >> k & 1) || !source_intact(m, src / PAGE, sc->first) ||
		    !source_intact(m, (src + PAGE - 1) / PAGE, sc->first))
			continue;
		sc->moved |= 1ull << k;
		sc->src[k] = src;
	}
}

/* Roll the weak checksum over window starts [lo, hi] (hi + 4096 <= tot). */
static void scan_range(struct send_moves *m, struct scan *sc, uint32_t lo, uint32_t hi)
{
	struct dwcp_weaksum s;
	bool fresh = true;
	uint32_t o = lo;

	while (o <= hi && sc->misses < MAX_MISSES) {
		int64_t q;

		if (fresh) {
			m->ws.page(sc->data + o, &s);
			fresh = false;
		}
		m->rolled++;
		q = maybe_old(m, dwcp_weaksum_key(&s)) ? lookup(m, dwcp_weaksum_key(&s)) : -1;
		if (q >= 0) {
			if (is_old_page(m, sc->data + o, (uint64_t)q)) {
				uint32_t n = 1;

				/* The run goes on while the next old page follows. */
				while (o + (n + 1) * PAGE <= sc->tot &&
				       is_old_page(m, sc->data + o + n * PAGE, (uint64_t)q + n))
					n++;
				take_run(m, sc, o, (uint64_t)q, n);
				o += n * PAGE;
				fresh = true;
				continue;
			}
			sc->misses++;
		}
		if (o == hi)
			break;
		dwcp_weaksum_roll(&s, sc->data[o], sc->data[o + PAGE]);
		o++;
	}
}

uint64_t send_moves_candidates(const struct send_moves *m, uint32_t len, uint64_t kept,
			       const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	uint64_t c = 0;

	for (unsigned i = 0; i < 64 && (uint64_t)i * PAGE < len; i++)
		if (!(kept >> i & 1) && memcmp(hashes[i], m->zero_hash, DWCP_DIGEST_PAGE_HASH))
			c |= 1ull << i;
	return c;
}

/* Candidate pages that are again a page an earlier chunk carried: moved
 * from the receiver's output. The XXH3-128 must match and the page must
 * lie before this chunk (written by the time this one is). */
static uint64_t find_seen(struct send_moves *m, struct scan *sc,
			  const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH], unsigned n_pages)
{
	uint64_t got = 0;

	for (unsigned i = 0; i < n_pages; i++) {
		int64_t p;

		if (!(sc->candidates >> i & 1))
			continue;
		p = seen_find(m, hash_lo(hashes[i]), hash_hi(hashes[i]));
		if (p < 0 || (uint64_t)p >= sc->first)
			continue;
		got |= 1ull << i;
		sc->src[i] = DWCP_HDE_SRC_NEW | (uint64_t)p * PAGE;
	}
	return got;
}

/* The chunk with the pages either side of it, where given, in one buffer:
 * a run of moved content crossing a chunk boundary then moves the pages at
 * the chunk's edges too. */
static void frame_chunk(struct send_moves *m, struct scan *sc, const uint8_t *data, uint32_t len,
			const uint8_t *before, const uint8_t *after)
{
	sc->data = data;
	sc->c0 = 0;
	sc->tot = len;
	if ((!before && !after) || (!m->scratch && !(m->scratch = malloc(66u * PAGE))))
		return;
	if (before)
		memcpy(m->scratch, before, PAGE);
	sc->c0 = before ? PAGE : 0;
	memcpy(m->scratch + sc->c0, data, len);
	sc->tot = sc->c0 + len;
	if (after) {
		memcpy(m->scratch + sc->tot, after, PAGE);
		sc->tot += PAGE;
	}
	sc->data = m->scratch;
}

uint64_t send_moves_find(struct send_moves *m, const uint8_t *data, uint32_t len, uint64_t offset,
			 const uint8_t *before, const uint8_t *after, uint64_t candidates,
			 const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH], uint64_t src[64])
{
	struct scan sc = { .first = offset / PAGE, .src = src };
	unsigned n_pages = len / PAGE > 64 ? 64 : len / PAGE;
	uint64_t again;

	if (n_pages < 64)
		candidates &= (1ull << n_pages) - 1;   /* whole pages only */
	if (!m || !candidates || m->failed || offset % PAGE)
		return 0;
	sc.candidates = candidates;
	again = find_seen(m, &sc, hashes, n_pages);
	candidates &= ~again;
	if (!candidates)
		return again;
	if (!m->built) {
		m->built = true;
		if (build(m))
			m->failed = true;
	}
	if (m->failed || (m->rolled > BACKOFF_AFTER && m->found * BACKOFF_SHARE < m->rolled &&
			  ++m->skips % BACKOFF_SHARE))
		return again;
	sc.candidates = candidates;
	sc.n_pages = n_pages;
	if (len % PAGE)
		after = NULL;   /* the file's last chunk: nothing after it */
	frame_chunk(m, &sc, data, n_pages * PAGE, before, after);
	for (unsigned i = 0; i < n_pages;) {
		unsigned j = i;
		uint32_t lo, hi;

		if (!(candidates >> i & 1)) {
			i++;
			continue;
		}
		while (j + 1 < n_pages && candidates >> (j + 1) & 1)
			j++;
		/* Page i can be inside a run whose first window starts in
		 * the page before it; page j inside one starting at most at
		 * page j. */
		lo = sc.c0 + i * PAGE >= PAGE ? sc.c0 + i * PAGE - PAGE + 1 : 0;
		hi = sc.c0 + j * PAGE;
		scan_range(m, &sc, lo, hi);
		i = j + 1;
	}
	m->found += (uint64_t)__builtin_popcountll(sc.moved) * PAGE;
	return sc.moved | again;
}
