/* The HDE delta cache (svc-mem/dcache.h): a ring of page entries with an
 * open-addressing index, in bytes another process formatted or a dead
 * predecessor left half-written.
 *
 * The index is linear probing over u32 slots, at most half full, with
 * backward-shift deletion (no tombstones, so a FIFO that churns forever
 * keeps short probe sequences). Nothing read from the bytes is trusted:
 * entry numbers are range-checked, keys compared, page hashes recomputed,
 * and every probe stops after n_index slots. Attach rebuilds the index
 * from the entries, which is what makes a kill in the middle of an index
 * update harmless (see dcache.h).
 */
#include <errno.h>
#include <string.h>

#include "common/cpu.h"
#include "svc-mem/dcache.h"

#define ENT_ALIGN 64u

struct geometry {
	uint32_t n, n_index;
	uint64_t off_entries, off_index, off_pages, total;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static void layout(uint32_t n, struct geometry *g)
{
	g->n = n;
	g->n_index = pow2_at_least(2ull * n);
	g->off_entries = align_up(sizeof(struct dwcp_dcache_hdr), ENT_ALIGN);
	g->off_index = g->off_entries + (uint64_t)n * sizeof(struct dwcp_dcache_entry);
	g->off_pages = align_up(g->off_index + (uint64_t)g->n_index * sizeof(uint32_t),
				DWCP_DCACHE_PAGE);
	g->total = g->off_pages + (uint64_t)n * DWCP_DCACHE_PAGE;
}

/* The largest entry count whose layout fits @p size (0 if none). */
static uint32_t fit(uint64_t size, struct geometry *g)
{
	const uint64_t per = DWCP_DCACHE_PAGE + sizeof(struct dwcp_dcache_entry) + 2 * sizeof(uint32_t);
	uint64_t n = size / per + 1;

	if (n > (1u << 30))
		n = 1u << 30;
	for (; n > 0; n--) {
		layout((uint32_t)n, g);
		if (g->total <= size)
			return (uint32_t)n;
	}
	return 0;
}

uint32_t dwcp_dcache_capacity(uint64_t size)
{
	struct geometry g;

	return fit(size, &g);
}

static uint32_t home(const struct dwcp_dcache *c, uint64_t stream, uint64_t page)
{
	uint64_t h = stream * 0x9e3779b97f4a7c15ull ^ page;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (uint32_t)h & c->mask;
}

/* Entry number of index slot value @p v, or UINT32_MAX for empty/garbage. */
static uint32_t slot_entry(const struct dwcp_dcache *c, uint32_t v)
{
	return v && v <= c->n ? v - 1 : UINT32_MAX;
}

static bool key_is(const struct dwcp_dcache_entry *e, uint64_t stream, uint64_t page)
{
	return e->serial && e->stream == stream && e->page == page;
}

static void publish_slot(struct dwcp_dcache *c, uint32_t i, uint32_t v)
{
	__atomic_store_n(&c->index[i], v, __ATOMIC_RELEASE);
}

static void kill_entry(struct dwcp_dcache_entry *e)
{
	__atomic_store_n(&e->serial, 0, __ATOMIC_RELEASE);
}

/* ---- index ------------------------------------------------------------ */

/* Slot holding the key, else UINT32_MAX; *@p empty gets the first empty
 * slot on the way (UINT32_MAX when the probe found none). */
static uint32_t find_key(const struct dwcp_dcache *c, uint64_t stream, uint64_t page,
			 uint32_t *empty)
{
	uint32_t i = home(c, stream, page);

	*empty = UINT32_MAX;
	for (uint32_t step = 0; step <= c->mask; step++, i = (i + 1) & c->mask) {
		uint32_t e = slot_entry(c, c->index[i]);

		if (!c->index[i]) {
			*empty = i;
			return UINT32_MAX;
		}
		if (e != UINT32_MAX && key_is(&c->ent[e], stream, page))
			return i;
	}
	return UINT32_MAX;
}

/* Remove slot @p hole, shifting later members of its probe run back so no
 * lookup stops early (Knuth 6.4 algorithm R). A garbage slot stays put. */
static void index_delete(struct dwcp_dcache *c, uint32_t hole)
{
	uint32_t j = hole;

	for (uint32_t step = 0; step < c->mask; step++) {
		uint32_t e, h;

		j = (j + 1) & c->mask;
		if (!c->index[j])
			break;
		e = slot_entry(c, c->index[j]);
		if (e == UINT32_MAX)
			continue;
		h = home(c, c->ent[e].stream, c->ent[e].page);
		if (((j - h) & c->mask) >= ((j - hole) & c->mask)) {
			publish_slot(c, hole, c->index[j]);
			hole = j;
		}
	}
	publish_slot(c, hole, 0);
}

/* Unindex entry @p e if the index points at it for its key. */
static bool index_remove_entry(struct dwcp_dcache *c, uint32_t e)
{
	const struct dwcp_dcache_entry *x = &c->ent[e];
	uint32_t i = home(c, x->stream, x->page);

	for (uint32_t step = 0; step <= c->mask; step++, i = (i + 1) & c->mask) {
		if (!c->index[i])
			return false;
		if (c->index[i] == e + 1) {
			index_delete(c, i);
			return true;
		}
	}
	return false;
}

/* Point the key of entry @p e at it; the entry of an older version of
 * the key dies. @return 0 or -ENOSPC. */
static int index_publish(struct dwcp_dcache *c, uint32_t e)
{
	const struct dwcp_dcache_entry *x = &c->ent[e];
	uint32_t empty, i = find_key(c, x->stream, x->page, &empty);

	if (i != UINT32_MAX) {
		uint32_t old = c->index[i] - 1;

		publish_slot(c, i, e + 1);
		if (old != e)
			kill_entry(&c->ent[old]);
		return 0;
	}
	if (empty == UINT32_MAX)
		return -ENOSPC;
	publish_slot(c, empty, e + 1);
	c->hdr->live++;
	return 0;
}

/* ---- attach ----------------------------------------------------------- */

static void set_pointers(struct dwcp_dcache *c, uint8_t *base, const struct geometry *g)
{
	c->hdr = (struct dwcp_dcache_hdr *)base;
	c->ent = (struct dwcp_dcache_entry *)(base + g->off_entries);
	c->index = (uint32_t *)(base + g->off_index);
	c->pages = base + g->off_pages;
	c->n = g->n;
	c->mask = g->n_index - 1;
}

static bool header_matches(const struct dwcp_dcache_hdr *h, uint64_t size, const struct geometry *g)
{
	return h->magic == DWCP_DCACHE_MAGIC && h->version == DWCP_DCACHE_VERSION &&
	       h->page_size == DWCP_DCACHE_PAGE && h->size == size && h->n_entries == g->n &&
	       h->n_index == g->n_index && h->off_entries == g->off_entries &&
	       h->off_index == g->off_index && h->off_pages == g->off_pages;
}

/* Metadata zeroed (pages need not be: no entry points at them), geometry,
 * then the magic that says it is done. */
static void format(struct dwcp_dcache *c, uint64_t size, const struct geometry *g)
{
	struct dwcp_dcache_hdr *h = c->hdr;

	__atomic_store_n(&h->magic, 0, __ATOMIC_RELEASE);
	memset((uint8_t *)h + sizeof(h->magic), 0, g->off_pages - sizeof(h->magic));
	h->version = DWCP_DCACHE_VERSION;
	h->page_size = DWCP_DCACHE_PAGE;
	h->size = size;
	h->n_entries = g->n;
	h->n_index = g->n_index;
	h->off_entries = g->off_entries;
	h->off_index = g->off_index;
	h->off_pages = g->off_pages;
	h->next_serial = 1;
	__atomic_store_n(&h->magic, DWCP_DCACHE_MAGIC, __ATOMIC_RELEASE);
}

/* Index entry @p e during a rebuild: of two entries with one key the
 * higher serial wins. */
static void rebuild_one(struct dwcp_dcache *c, uint32_t e)
{
	struct dwcp_dcache_entry *x = &c->ent[e];
	uint32_t empty, i = find_key(c, x->stream, x->page, &empty);

	if (i == UINT32_MAX) {
		if (empty == UINT32_MAX) {
			kill_entry(x);
			return;
		}
		c->index[empty] = e + 1;
		c->hdr->live++;
		return;
	}
	if (c->ent[c->index[i] - 1].serial < x->serial) {
		kill_entry(&c->ent[c->index[i] - 1]);
		c->index[i] = e + 1;
	} else {
		kill_entry(x);
	}
}

static void rebuild(struct dwcp_dcache *c)
{
	uint64_t next = c->hdr->next_serial ? c->hdr->next_serial : 1;

	memset(c->index, 0, ((size_t)c->mask + 1) * sizeof(uint32_t));
	c->hdr->live = 0;
	for (uint32_t e = 0; e < c->n; e++) {
		struct dwcp_dcache_entry *x = &c->ent[e];

		if (!x->serial)
			continue;
		if (x->serial % c->n != e || !x->len || x->len > DWCP_DCACHE_PAGE) {
			kill_entry(x);
			continue;
		}
		if (x->serial >= next)
			next = x->serial + 1;
		rebuild_one(c, e);
	}
	c->hdr->next_serial = next;
}

int dwcp_dcache_attach(struct dwcp_dcache *c, void *mem, uint64_t size)
{
	struct dwcp_cpu_features cpu;
	struct geometry g;

	memset(c, 0, sizeof(*c));
	if (!mem || (uintptr_t)mem % 8 || !fit(size, &g))
		return -EINVAL;
	dwcp_cpu_detect(&cpu);
	dwcp_xxh3_select(&c->xxh3, &cpu);
	set_pointers(c, mem, &g);
	if (header_matches(c->hdr, size, &g)) {
		rebuild(c);
	} else {
		format(c, size, &g);
		c->formatted = true;
	}
	return 0;
}

/* ---- lookup and insert ----------------------------------------------- */

static uint8_t *page_at(const struct dwcp_dcache *c, uint32_t e)
{
	return c->pages + (size_t)e * DWCP_DCACHE_PAGE;
}

int dwcp_dcache_lookup(struct dwcp_dcache *c, uint64_t stream, uint64_t page,
		       struct dwcp_dcache_ref *ref)
{
	uint32_t empty, i = find_key(c, stream, page, &empty), e;
	const struct dwcp_dcache_entry *x;

	if (i == UINT32_MAX) {
		c->hdr->misses++;
		return -ENOENT;
	}
	e = c->index[i] - 1;
	x = &c->ent[e];
	if (!x->len || x->len > DWCP_DCACHE_PAGE ||
	    c->xxh3.h64(page_at(c, e), x->len, 0) != x->hash) {
		c->hdr->corrupt++;
		c->hdr->misses++;
		return -ENOENT;
	}
	c->hdr->hits++;
	ref->data = page_at(c, e);
	ref->len = x->len;
	ref->hash = x->hash;
	ref->tag = x->tag;
	return 0;
}

bool dwcp_dcache_holds(struct dwcp_dcache *c, uint64_t stream, uint64_t page, uint32_t len,
		       uint64_t hash)
{
	uint32_t empty, i = find_key(c, stream, page, &empty);
	const struct dwcp_dcache_entry *x;

	if (i == UINT32_MAX)
		return false;
	x = &c->ent[c->index[i] - 1];
	return x->len == len && x->hash == hash;
}

/* Step 1 of an insert: the ring entry to overwrite leaves the index and dies. */
static void evict(struct dwcp_dcache *c, uint32_t e)
{
	if (!c->ent[e].serial)
		return;
	if (index_remove_entry(c, e)) {
		c->hdr->live--;
		c->hdr->evictions++;
	}
	kill_entry(&c->ent[e]);
	/* A release store keeps earlier stores before it, not later ones
	 * after it: without this barrier the compiler may start overwriting
	 * the page while the entry still carries its old serial. (The
	 * lookup's hash check would still catch it; this keeps the documented
	 * order true.) */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The serial of the next insert: the cursor, moved past up to
 * DWCP_DCACHE_SPARE_MAX live entries marked changed, each losing its mark
 * (plain stores: a kill here only forgets marks, a hint). */
static uint64_t next_place(struct dwcp_dcache *c)
{
	uint64_t s = c->hdr->next_serial ? c->hdr->next_serial : 1;

	for (unsigned k = 0; k < DWCP_DCACHE_SPARE_MAX; k++, s++) {
		struct dwcp_dcache_entry *x = &c->ent[s % c->n];

		if (!x->serial || !(x->flags & DWCP_DCACHE_F_CHANGED))
			break;
		x->flags &= ~DWCP_DCACHE_F_CHANGED;
		c->hdr->spared++;
	}
	return s;
}

int dwcp_dcache_insert(struct dwcp_dcache *c, uint64_t stream, uint64_t page, const void *data,
		       uint32_t len, uint64_t hash, uint64_t tag, bool changed)
{
	uint64_t s;
	uint32_t e, empty, old;
	struct dwcp_dcache_entry *x;
	uint8_t *p;

	if (!len || len > DWCP_DCACHE_PAGE)
		return -EINVAL;
	/* A cached version of other content: the page changed while cached. */
	old = find_key(c, stream, page, &empty);
	if (old != UINT32_MAX && c->ent[c->index[old] - 1].hash != hash)
		changed = true;
	s = next_place(c);
	e = (uint32_t)(s % c->n);
	x = &c->ent[e];
	p = page_at(c, e);
	evict(c, e);
	memmove(p, data, len);   /* @p data may be a page of this cache */
	memset(p + len, 0, DWCP_DCACHE_PAGE - len);
	x->stream = stream;
	x->page = page;
	x->len = len;
	x->tag = tag;
	x->hash = hash;
	x->flags = changed ? DWCP_DCACHE_F_CHANGED : 0;
	__atomic_store_n(&x->serial, s, __ATOMIC_RELEASE);
	c->hdr->next_serial = s + 1;
	c->hdr->inserts++;
	if (index_publish(c, e)) {
		kill_entry(x);
		return -ENOSPC;
	}
	return 0;
}

void dwcp_dcache_prefetch(const struct dwcp_dcache *c, uint64_t stream, uint64_t first, unsigned n)
{
	/* Two passes, so the entries' addresses come from index slots the
	 * first pass has already brought in: the misses overlap instead of
	 * following each other. */
	for (unsigned i = 0; i < n; i++)
		__builtin_prefetch(&c->index[home(c, stream, first + i)]);
	for (unsigned i = 0; i < n; i++) {
		uint32_t e = slot_entry(c, __atomic_load_n(&c->index[home(c, stream, first + i)], __ATOMIC_RELAXED));

		if (e != UINT32_MAX)
			__builtin_prefetch(&c->ent[e]);
	}
	/* The next inserts evict the ring's next entries: their index slots
	 * are other random reads. */
	for (unsigned i = 0; i < n; i++) {
		const struct dwcp_dcache_entry *x = &c->ent[(c->hdr->next_serial + i) % c->n];

		if (x->serial)
			__builtin_prefetch(&c->index[home(c, x->stream, x->page)]);
	}
}

void dwcp_dcache_stats(const struct dwcp_dcache *c, struct dwcp_dcache_stats *st)
{
	const struct dwcp_dcache_hdr *h = c->hdr;

	*st = (struct dwcp_dcache_stats){
		.capacity = c->n, .live = h->live, .hits = h->hits, .misses = h->misses,
		.inserts = h->inserts, .evictions = h->evictions, .corrupt = h->corrupt,
		.spared = h->spared,
	};
}
