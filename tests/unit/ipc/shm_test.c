/* Region layout tests: dwcp_shm_format on plain aligned_alloc'd memory (no
 * EAL, no hugepages; rte_ring_init needs neither), then dwcp_shm_map on the
 * same bytes, the way a secondary attaches. A user of the region checks
 * that the second view equals the first, that a foreign or older region is
 * refused with a sentence naming the problem, that bad parameters are
 * refused before anything is written, that every buffer starts FREE, and
 * that the parts neither overlap nor break the 4 KiB alignment promised
 * for payload. Failures print the control block offsets they compared. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/link.h"
#include "ipc/shm.h"

struct region {
	void *base;
	size_t size;
	struct dwcp_shm shm;
};

static struct dwcp_shm_params params(uint32_t n_bufs, uint32_t buf_size, uint32_t depth)
{
	return (struct dwcp_shm_params){
		.n_bufs = n_bufs, .buf_size = buf_size, .link_depth = depth,
		.heartbeat_ms = 50, .spin_us = 20, .poll_mode = 0, .instance = "unit",
	};
}

/* Allocate @p extra bytes more than the layout needs, poisoned, so that
 * format must write everything it relies on. */
static void region_alloc(struct region *r, const struct dwcp_shm_params *p, size_t extra)
{
	size_t need = dwcp_shm_size(p);

	cr_assert_gt(need, 0, "dwcp_shm_size(%u bufs x %u B, depth %u) = 0", p->n_bufs,
		     p->buf_size, p->link_depth);
	r->size = need + extra;
	r->base = aligned_alloc(4096, (r->size + 4095) & ~(size_t)4095);
	cr_assert_not_null(r->base, "cannot allocate %zu bytes", r->size);
	memset(r->base, 0xA5, r->size);
}

static void region_format(struct region *r, const struct dwcp_shm_params *p)
{
	struct dwcp_err err = { 0 };
	int rc;

	region_alloc(r, p, 0);
	rc = dwcp_shm_format(r->base, r->size, p, &r->shm, &err);
	cr_assert_eq(rc, 0, "dwcp_shm_format(%u bufs x %u B, depth %u) = %d: %s", p->n_bufs,
		     p->buf_size, p->link_depth, rc, err.msg);
}

static const char *layout_str(const struct dwcp_ctl_block *c)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "ctl{magic=0x%08x abi=%u n_bufs=%u buf_size=%u depth=%u total=%lu stats@%lu links@%lu stride=%lu hdrs@%lu free_map@%lu data@%lu}",
		 c->magic, c->abi_version, c->n_bufs, c->buf_size, c->link_depth,
		 (unsigned long)c->total_size, (unsigned long)c->off_stats,
		 (unsigned long)c->off_links, (unsigned long)c->link_stride,
		 (unsigned long)c->off_hdrs, (unsigned long)c->off_free_map,
		 (unsigned long)c->off_data);
	return buf;
}

Test(shm, format_then_map_gives_the_same_view)
{
	struct dwcp_shm_params p = params(256, 4096, 64);
	struct region r;
	struct dwcp_shm v;
	struct dwcp_err err = { 0 };
	const struct dwcp_ctl_block *c;
	int rc;

	region_format(&r, &p);
	c = r.shm.ctl;
	memset(&v, 0, sizeof(v));
	rc = dwcp_shm_map(r.base, r.size, &v, &err);
	cr_assert_eq(rc, 0, "map of a freshly formatted region = %d: %s; %s", rc, err.msg,
		     layout_str(c));
	cr_assert_eq(c->magic, DWCP_ABI_MAGIC, "%s", layout_str(c));
	cr_assert_eq(c->abi_version, DWCP_ABI_VERSION, "%s", layout_str(c));
	cr_assert_eq(c->total_size, dwcp_shm_size(&p), "total %lu, dwcp_shm_size %zu; %s",
		     (unsigned long)c->total_size, dwcp_shm_size(&p), layout_str(c));
	cr_assert(c->n_bufs == 256 && c->buf_size == 4096 && c->link_depth == 64 &&
		  c->heartbeat_ms == 50 && c->spin_us == 20 && c->poll_mode == 0,
		  "parameters not recorded: %s hb=%u spin=%u poll=%u", layout_str(c),
		  c->heartbeat_ms, c->spin_us, c->poll_mode);
	cr_assert_str_eq(c->instance, "unit");
	cr_assert_eq((void *)v.ctl, r.base);
	cr_assert_eq(v.stats, r.shm.stats, "stats %p vs %p", (void *)v.stats, (void *)r.shm.stats);
	cr_assert_eq(v.links, r.shm.links, "links %p vs %p", (void *)v.links, (void *)r.shm.links);
	cr_assert_eq(v.link_stride, r.shm.link_stride);
	cr_assert_eq(v.hdrs, r.shm.hdrs, "hdrs %p vs %p", (void *)v.hdrs, (void *)r.shm.hdrs);
	cr_assert_eq(v.free_map, r.shm.free_map);
	cr_assert_eq(v.data, r.shm.data, "data %p vs %p", (void *)v.data, (void *)r.shm.data);
	cr_assert(v.n_bufs == 256 && v.buf_size == 4096 && v.link_depth == 64,
		  "view n_bufs=%u buf_size=%u depth=%u", v.n_bufs, v.buf_size, v.link_depth);
	free(r.base);
}

Test(shm, map_refuses_a_region_with_a_wrong_magic)
{
	struct dwcp_shm_params p = params(64, 4096, 64);
	struct region r;
	struct dwcp_shm v;
	struct dwcp_err err = { 0 };
	int rc;

	region_format(&r, &p);
	r.shm.ctl->magic ^= 0x00010000u;
	rc = dwcp_shm_map(r.base, r.size, &v, &err);
	cr_assert_eq(rc, -EPROTO, "map with magic 0x%08x = %d (%s)", r.shm.ctl->magic, rc, err.msg);
	cr_assert_eq(err.code, -EPROTO);
	cr_assert_not_null(strstr(err.msg, "not a dwcp region"), "message: '%s'", err.msg);

	/* Memory nobody formatted (all zero) is refused the same way. */
	memset(r.base, 0, r.size);
	rc = dwcp_shm_map(r.base, r.size, &v, &err);
	cr_assert_eq(rc, -EPROTO, "map of zeroed memory = %d (%s)", rc, err.msg);
	cr_assert_not_null(strstr(err.msg, "not a dwcp region"), "message: '%s'", err.msg);

	/* So is a region too small to hold a control block. */
	rc = dwcp_shm_map(r.base, sizeof(struct dwcp_ctl_block) - 1, &v, &err);
	cr_assert_eq(rc, -EPROTO, "map of a %zu-byte region = %d (%s)",
		     sizeof(struct dwcp_ctl_block) - 1, rc, err.msg);
	free(r.base);
}

Test(shm, map_refuses_another_abi_version_naming_both)
{
	struct dwcp_shm_params p = params(64, 4096, 64);
	const uint32_t theirs = DWCP_ABI_VERSION + 41;
	struct region r;
	struct dwcp_shm v;
	struct dwcp_err err = { 0 };
	char mine_s[32], theirs_s[32];
	int rc;

	region_format(&r, &p);
	r.shm.ctl->abi_version = theirs;
	rc = dwcp_shm_map(r.base, r.size, &v, &err);
	cr_assert_eq(rc, -EPROTO, "map of an ABI %u region = %d (%s); %s", theirs, rc, err.msg,
		     layout_str(r.shm.ctl));
	snprintf(mine_s, sizeof(mine_s), "ABI %u", DWCP_ABI_VERSION);
	snprintf(theirs_s, sizeof(theirs_s), "ABI %u", theirs);
	cr_assert_not_null(strstr(err.msg, mine_s), "no '%s' in '%s'", mine_s, err.msg);
	cr_assert_not_null(strstr(err.msg, theirs_s), "no '%s' in '%s'", theirs_s, err.msg);
	cr_assert_not_null(strstr(err.msg, "unit"), "instance name missing from '%s'", err.msg);
	free(r.base);
}

Test(shm, map_refuses_a_layout_that_does_not_fit)
{
	struct dwcp_shm_params p = params(64, 4096, 64);
	struct region r;
	struct dwcp_shm v;
	struct dwcp_err err = { 0 };
	uint64_t saved;
	int rc;

	region_format(&r, &p);
	rc = dwcp_shm_map(r.base, r.size - 1, &v, &err);
	cr_assert_eq(rc, -EINVAL, "map into %zu bytes of a %zu-byte region = %d (%s)",
		     r.size - 1, r.size, rc, err.msg);
	cr_assert_gt(strlen(err.msg), 0);

	saved = r.shm.ctl->off_data;
	r.shm.ctl->off_data += 4096;
	err.msg[0] = '\0';
	rc = dwcp_shm_map(r.base, r.size, &v, &err);
	cr_assert_eq(rc, -EINVAL, "map with a moved data offset = %d (%s); %s", rc, err.msg,
		     layout_str(r.shm.ctl));
	cr_assert_gt(strlen(err.msg), 0);
	r.shm.ctl->off_data = saved;

	r.shm.ctl->n_bufs = 65;  /* parameters no longer match the offsets */
	rc = dwcp_shm_map(r.base, r.size, &v, &err);
	cr_assert_eq(rc, -EINVAL, "map with a changed buffer count = %d (%s); %s", rc, err.msg,
		     layout_str(r.shm.ctl));
	free(r.base);
}

struct bad_params {
	const char *what;
	uint32_t n_bufs, buf_size, depth;
	long size_delta;   /* region size relative to dwcp_shm_size of the good params */
};

Test(shm, format_refuses_bad_parameters_without_writing)
{
	static const struct bad_params rows[] = {
		{ "buf_size not a multiple of 64", 64, 4096 + 32, 64, 0 },
		{ "buf_size 100", 64, 100, 64, 0 },
		{ "buf_size 0", 64, 0, 64, 0 },
		{ "depth not a power of two", 64, 4096, 96, 0 },
		{ "depth 0", 64, 4096, 0, 0 },
		{ "depth 1", 64, 4096, 1, 0 },
		{ "no buffers", 0, 4096, 64, 0 },
		{ "region one byte short", 64, 4096, 64, -1 },
	};
	struct dwcp_shm_params good = params(64, 4096, 64);
	struct region r;

	region_alloc(&r, &good, 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct bad_params *b = &rows[i];
		struct dwcp_shm_params p = params(b->n_bufs, b->buf_size, b->depth);
		struct dwcp_err err = { 0 };
		struct dwcp_shm v;
		int rc;

		if (b->size_delta == 0)
			cr_assert_eq(dwcp_shm_size(&p), 0, "%s: dwcp_shm_size = %zu, expected 0",
				     b->what, dwcp_shm_size(&p));
		memset(r.base, 0xA5, r.size);
		rc = dwcp_shm_format(r.base, r.size + b->size_delta, &p, &v, &err);
		cr_assert_eq(rc, -EINVAL, "%s (%u bufs x %u B, depth %u): format = %d (%s)", b->what,
			     p.n_bufs, p.buf_size, p.link_depth, rc, err.msg);
		cr_assert_gt(strlen(err.msg), 0, "%s: empty message", b->what);
		cr_assert_eq(*(uint32_t *)r.base, 0xA5A5A5A5u,
			     "%s: a refused format wrote the magic word (0x%08x)", b->what,
			     *(uint32_t *)r.base);
	}
	free(r.base);
}

/* The size contract says "0 if they overflow": a size that wrapped would
 * let dwcp_shm_format pass its size check and memset far past the region.
 * Whatever the fix, a nonzero answer must be at least what the headers,
 * the payload and one free bit per buffer need. */
Test(shm, size_is_zero_or_enough_when_the_layout_overflows)
{
	static const struct { uint32_t n_bufs, buf_size; } rows[] = {
		{ 0xFFFFFFFFu, 0xFFFFFFC0u },  /* payload + headers pass 2^64 */
		{ 0xFFFFFFC1u, 64 },           /* n_bufs + 63 wraps in 32 bits */
		{ 0xFFFFFFFFu, 64 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dwcp_shm_params p = params(rows[i].n_bufs, rows[i].buf_size, 64);
		unsigned __int128 need = (unsigned __int128)p.n_bufs *
					 (sizeof(struct dwcp_buf_hdr) + p.buf_size) + p.n_bufs / 8;
		size_t got = dwcp_shm_size(&p);

		if (need > SIZE_MAX)
			cr_expect_eq(got, 0, "%u bufs x %u B need %.3g bytes (> SIZE_MAX) but dwcp_shm_size = %zu",
				     p.n_bufs, p.buf_size, (double)need, got);
		else
			cr_expect(got == 0 || got >= need,
				  "%u bufs x %u B need at least %zu bytes (headers, payload, free bits), dwcp_shm_size = %zu: %zu short",
				  p.n_bufs, p.buf_size, (size_t)need, got, (size_t)need - got);
	}
}

Test(shm, format_leaves_every_buffer_free_and_every_map_bit_set)
{
	struct dwcp_shm_params p = params(256, 4096, 64);
	struct region r;

	region_format(&r, &p);
	for (uint32_t i = 0; i < 256; i++) {
		const struct dwcp_buf_hdr *h = dwcp_shm_hdr(&r.shm, i);
		static const uint8_t zero[sizeof(struct dwcp_buf_hdr)];

		cr_assert_eq(h->owner, DWCP_OWNER_FREE_WORD,
			     "buffer %u: owner 0x%016lx (kind %d id %u low %u) after format", i,
			     (unsigned long)h->owner, dwcp_owner_kind(h->owner),
			     dwcp_owner_id(h->owner), dwcp_owner_low(h->owner));
		cr_assert_eq(memcmp(h, zero, sizeof(*h)), 0,
			     "buffer %u: header not zeroed (stream %lu seq %lu len %u)", i,
			     (unsigned long)h->stream, (unsigned long)h->seq, h->len);
	}
	for (uint32_t w = 0; w < 4; w++)
		cr_assert_eq(r.shm.free_map[w], ~0ull, "free map word %u = 0x%016lx", w,
			     (unsigned long)r.shm.free_map[w]);
	free(r.base);
}

Test(shm, free_map_has_no_bits_past_the_last_buffer)
{
	struct dwcp_shm_params p = params(100, 4096, 64);
	struct region r;

	region_format(&r, &p);
	cr_assert_eq(r.shm.free_map[0], ~0ull, "word 0 = 0x%016lx", (unsigned long)r.shm.free_map[0]);
	cr_assert_eq(r.shm.free_map[1], (1ull << 36) - 1,
		     "word 1 = 0x%016lx, expected bits 64..99 only",
		     (unsigned long)r.shm.free_map[1]);
	free(r.base);
}

Test(shm, links_start_empty_single_producer_single_consumer)
{
	struct dwcp_shm_params p = params(64, 4096, 128);
	struct region r;

	region_format(&r, &p);
	for (unsigned s = 0; s < DWCP_MAX_SLOTS; s++) {
		for (unsigned d = 0; d < DWCP_MAX_SLOTS; d++) {
			const struct rte_ring *ring = dwcp_shm_link(&r.shm, s, d);

			cr_assert(ring->size == 128 && ring->mask == 127 && ring->capacity == 127,
				  "link %u->%u: size %u mask %u capacity %u", s, d, ring->size,
				  ring->mask, ring->capacity);
			cr_assert(ring->prod.head == 0 && ring->prod.tail == 0 &&
				  ring->cons.head == 0 && ring->cons.tail == 0,
				  "link %u->%u: prod %u/%u cons %u/%u", s, d, ring->prod.head,
				  ring->prod.tail, ring->cons.head, ring->cons.tail);
			cr_assert(ring->prod.sync_type == RTE_RING_SYNC_ST &&
				  ring->cons.sync_type == RTE_RING_SYNC_ST,
				  "link %u->%u: sync types %d/%d, expected single producer/consumer",
				  s, d, ring->prod.sync_type, ring->cons.sync_type);
			cr_assert_eq(dwcp_link_count(&r.shm, s, d), 0);
			/* Rings must not overlap: each ends before the next begins. */
			cr_assert_leq(sizeof(*ring) + 128 * sizeof(uint32_t), r.shm.link_stride,
				      "ring of %zu bytes in a stride of %lu",
				      sizeof(*ring) + 128 * sizeof(uint32_t),
				      (unsigned long)r.shm.link_stride);
		}
	}
	free(r.base);
}

struct part {
	const char *name;
	uint64_t off, len;
};

static void check_layout(uint32_t n_bufs, uint32_t buf_size, uint32_t depth)
{
	struct dwcp_shm_params p = params(n_bufs, buf_size, depth);
	struct region r;
	const struct dwcp_ctl_block *c;
	const uint8_t *base;

	region_format(&r, &p);
	c = r.shm.ctl;
	base = r.base;
	const struct part parts[] = {
		{ "ctl", 0, sizeof(struct dwcp_ctl_block) },
		{ "stats", c->off_stats, sizeof(struct dwcp_stats) * DWCP_MAX_SLOTS },
		{ "links", c->off_links, c->link_stride * DWCP_MAX_LINKS },
		{ "hdrs", c->off_hdrs, sizeof(struct dwcp_buf_hdr) * (uint64_t)n_bufs },
		{ "free_map", c->off_free_map, 8ull * ((n_bufs + 63) / 64) },
		{ "data", c->off_data, (uint64_t)n_bufs * buf_size },
	};
	const size_t np = sizeof(parts) / sizeof(parts[0]);

	for (size_t i = 0; i < np; i++) {
		cr_assert_eq(parts[i].off % 4096, 0, "%s at %lu is not 4 KiB aligned; %s",
			     parts[i].name, (unsigned long)parts[i].off, layout_str(c));
		if (i + 1 < np)
			cr_assert_leq(parts[i].off + parts[i].len, parts[i + 1].off,
				      "%s [%lu, %lu) overlaps %s at %lu; %s", parts[i].name,
				      (unsigned long)parts[i].off,
				      (unsigned long)(parts[i].off + parts[i].len),
				      parts[i + 1].name, (unsigned long)parts[i + 1].off,
				      layout_str(c));
	}
	cr_assert_eq(parts[np - 1].off + parts[np - 1].len, c->total_size, "%s", layout_str(c));
	cr_assert_leq(c->total_size, r.size, "%s in %zu bytes", layout_str(c), r.size);

	for (uint32_t i = 0; i < n_bufs; i++) {
		const uint8_t *d = dwcp_shm_data(&r.shm, i);
		const uint8_t *h0 = (const uint8_t *)dwcp_shm_hdr(&r.shm, 0);
		const uint8_t *hn = (const uint8_t *)dwcp_shm_hdr(&r.shm, n_bufs - 1) +
				    sizeof(struct dwcp_buf_hdr);

		cr_assert_eq((size_t)(d - base) % 4096, 0,
			     "buffer %u data at offset %zu is not 4 KiB aligned (buf_size %u); %s", i,
			     (size_t)(d - base), buf_size, layout_str(c));
		cr_assert(d + buf_size <= h0 || d >= hn,
			  "buffer %u data [%zu, %zu) overlaps the headers [%zu, %zu)", i,
			  (size_t)(d - base), (size_t)(d - base) + buf_size, (size_t)(h0 - base),
			  (size_t)(hn - base));
		cr_assert_leq((size_t)(d - base) + buf_size, c->total_size,
			      "buffer %u ends past the region; %s", i, layout_str(c));
	}
	free(r.base);
}

Test(shm, parts_are_page_aligned_and_disjoint)
{
	check_layout(256, 4096, 64);
	check_layout(100, 8192, 1024);
	check_layout(64, 69632, 256);   /* the default chunk class */
	check_layout(1, 4096, 2);
}
