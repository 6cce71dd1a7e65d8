/* svc-mem's HDE steps (DESIGN §5): DWCP_OP_DELTA on the sender turns a
 * chunk of raw data into "what differs from the previous version of each
 * page" (common/ops/hde.h), DWCP_OP_UNDELTA on the receiver turns it back. The
 * previous versions are this node's delta cache (ipc/dcache.h), keyed by
 * (chunk stream, offset / 4096 + page). Both sides remember every page
 * they pass — the sender the data it encodes, the receiver the data it
 * decodes or receives raw — so the two caches hold the same history and
 * a delta finds its base on the far side. When they do not (a cache
 * evicted, formatted, or a receiver that missed a version), the receiver
 * answers DWCP_BUF_EBASE and the sender resends the chunk raw, which
 * brings both back in step.
 *
 * Pages the sender's page index found unchanged (a chunk flagged KEPT,
 * ipc/chunk.h) are the exception: DELTA writes KEPT records for them
 * whatever the cache holds, UNDELTA leaves them zero for the sink to fill
 * from its previous copy of the stream, and neither side caches them, so
 * the two caches stay in step. So unchanged pages never travel, and the
 * cache only decides whether a changed page travels as an XOR or whole.
 *
 * Like svc-simd's transforms, a step that changes the body writes a new
 * buffer and leaves its input untouched; UNDELTA of a chunk that is no
 * delta only remembers it and passes it on in place.
 *
 * Crash safety. svc-mem may die at any instruction. Each step inserts
 * its pages into the cache before its output leaves (the runtime gives a
 * step no later moment, and the output must leave consistent with the
 * cache that the next chunk is encoded against). A death after some
 * inserts and before the output left re-delivers the intact input to
 * the next generation, which finds the cache already holding this very
 * data:
 *  - DELTA redone encodes against the new version (SAME records naming
 *    its hash). The receiver still holds the old version, so its hash
 *    check fails, it answers EBASE and the sender resends raw. If the
 *    first output did leave (a death between its enqueue and the freeing
 *    of the input), the receiver already holds the new version and
 *    decodes the duplicate too; the sink's dedup drops it.
 *  - UNDELTA redone finds the new version where the record names the
 *    old: EBASE, the sender resends raw (an unchanged page still
 *    decodes: its base is the same).
 *  - An insert cut short is the cache's business: it never hands out a
 *    page whose content does not match the hash it stored (dcache.h).
 * So a crash can cost a resend, never wrong data: every base the decoder
 * uses is checked against the record's hash (hde.h), and every cached
 * page against its own (dcache.h).
 */
#include <errno.h>
#include <string.h>

#include "common/cpu.h"
#include "common/log.h"
#include "ipc/chunk.h"
#include "engine/chunk_ops.h"
#include "ipc/route.h"
#include "ipc/shm.h"
#include "mem_internal.h"

/* Neither sealed nor compressed: those steps run after DELTA and are
 * undone before UNDELTA. */
static bool plain(const struct dwcp_chunk_hdr *c)
{
	return !(c->flags & DWCP_CHUNK_F_SEALED) && c->codec == DWCP_CHUNK_CODEC_NONE;
}

/* Data the cache can key by page: page-aligned in its stream, no more
 * pages than the codec takes. */
static bool pageable(const struct dwcp_chunk_hdr *c)
{
	return c->offset % DWCP_HDE_PAGE == 0 && c->orig_len <= DWCP_HDE_MAX_DATA;
}

/* The cached versions of the chunk's pages: all of them (@p recs NULL),
 * or those whose record needs a base. A page without one gets data NULL.
 * The pointers stay valid until the next insert. */
static void find_bases(struct mem_state *st, const struct dwcp_chunk_hdr *c,
		       const struct dwcp_hde_rec *recs, struct dwcp_hde_base *bases)
{
	const uint64_t first = c->offset / DWCP_HDE_PAGE;
	unsigned n = dwcp_hde_pages(c->orig_len);

	if (st->have_cache)
		dwcp_dcache_prefetch(&st->cache, c->stream, first, n);
	for (unsigned i = 0; i < n; i++) {
		struct dwcp_dcache_ref ref;
		bool need = !recs || recs[i].kind == DWCP_HDE_SAME || recs[i].kind == DWCP_HDE_XOR;

		bases[i] = (struct dwcp_hde_base){ 0 };
		if (st->have_cache && need &&
		    dwcp_dcache_lookup(&st->cache, c->stream, first + i, &ref) == 0)
			bases[i] = (struct dwcp_hde_base){ .data = ref.data, .len = ref.len,
							   .hash = ref.hash };
	}
}

/* Make @p data (the chunk's orig_len bytes) the cached version of its
 * pages, zero pages included: a later change to one is then a small XOR
 * (but not the pages in @p kept: see below).
 * A page the cache already holds in this version is left where it is:
 * re-storing it would move it to the young end of the FIFO and evict an
 * older base instead — one the receiver, which sees chunks out of order
 * by up to a window, may not have used yet. So a resend of a stream needs
 * a cache the size of its pages plus the changed ones, not more. */
static void remember(struct mem_state *st, const struct dwcp_chunk_hdr *c, const uint8_t *data,
		     uint64_t kept)
{
	const uint64_t first = c->offset / DWCP_HDE_PAGE;
	uint64_t hashes[DWCP_HDE_MAX_PAGES];
	unsigned n = dwcp_hde_pages(c->orig_len);

	/* In a kept chunk every page not kept is one the sender's index saw
	 * change since the last version: the cache spares those once. */
	const bool changed = c->flags & DWCP_CHUNK_F_KEPT;

	/* The sender admits a sample of a stream larger than its cache (ipc/dcache.h). */
	if (!st->have_cache || c->flags & DWCP_CHUNK_F_NOCACHE)
		return;
	dwcp_dcache_prefetch(&st->cache, c->stream, first, n);
	dwcp_hde_page_hashes(&st->codec, data, c->orig_len, hashes);
	for (unsigned i = 0; i < n; i++) {
		const uint32_t len = dwcp_hde_page_len(c->orig_len, i);
		int rc;

		/* A kept page is the receiver's file, not data either side
		 * decoded: the receiver's cache never sees it, so neither does
		 * this one (both stay in step). */
		if (kept >> i & 1 ||
		    dwcp_dcache_holds(&st->cache, c->stream, first + i, len, hashes[i]))
			continue;
		rc = dwcp_dcache_insert(&st->cache, c->stream, first + i,
					data + (size_t)i * DWCP_HDE_PAGE, len, hashes[i], c->seq,
					changed);

		/* Only a damaged index refuses; the page is then just not
		 * remembered, and its next version travels without a base. */
		if (rc)
			DWCP_DEBUG("svc-mem: stream %llu page %llu not cached: %s",
				   (unsigned long long)c->stream, (unsigned long long)(first + i),
				   strerror(-rc));
	}
}

/* The trailer after a kept chunk's raw data: exactly the bytes after it.
 * @return 0 or -EBADMSG. */
static int trailer_of(const struct dwcp_chunk_hdr *c, struct dwcp_hde_kept *k)
{
	size_t tlen;

	if (c->body_len < c->orig_len ||
	    dwcp_hde_kept_get((const uint8_t *)c + DWCP_CHUNK_HDR_LEN + c->orig_len, c->body_len - c->orig_len,
			      c->flags & DWCP_CHUNK_F_MOVED, dwcp_hde_pages(c->orig_len), k, &tlen) ||
	    tlen != c->body_len - c->orig_len)
		return -EBADMSG;
	return 0;
}

int mem_delta(struct dwcp_svc_ctx *ctx, struct mem_state *st, uint32_t idx,
	      struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx), *oc;
	struct dwcp_hde_base bases[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_summary sum;
	ssize_t n;

	struct dwcp_hde_kept kept;
	const bool is_kept = c->flags & DWCP_CHUNK_F_KEPT;

	kept.mask = kept.moved = 0;
	if (dwcp_chunk_checked(ctx, h, c) || !plain(c) || !pageable(c) || c->flags & DWCP_CHUNK_F_DELTA ||
	    (!is_kept && c->body_len != c->orig_len))
		return DWCP_BUF_EBADCHUNK;
	/* A kept chunk: the sender's page index found the masked pages
	 * unchanged (or moved); its trailer (after the data) says which, and
	 * of which version. */
	if (is_kept && trailer_of(c, &kept))
		return DWCP_BUF_EBADCHUNK;
	if (dwcp_chunk_begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	if (!(c->flags & DWCP_CHUNK_F_NOBASE))
		find_bases(st, c, NULL, bases);
	n = dwcp_hde_encode_kept(&st->codec, dwcp_chunk_body(c), c->orig_len,
				 c->flags & DWCP_CHUNK_F_NOBASE ? NULL : bases,
				 is_kept ? &kept : NULL, dwcp_chunk_body(oc), dwcp_chunk_max_body(ctx), &sum);
	if (n < 0) {
		/* No room for the record bytes (data within a few bytes of the
		 * buffer size): the chunk travels raw (a kept one with its
		 * trailer, which UNDELTA passes on), and the receiver
		 * remembers a raw chunk just as this side does. */
		dwcp_chunk_drop_output(ctx, idx, out);
		remember(st, c, dwcp_chunk_body(c), kept.mask | kept.moved);
		return DWCP_BUF_OK;
	}
	oc->flags |= DWCP_CHUNK_F_DELTA;
	oc->base_hash = sum.base_hash;
	oc->body_len = (uint32_t)n;
	oc->inner_len = (uint32_t)n;
	oc->crc = 0;
	remember(st, c, dwcp_chunk_body(c), kept.mask | kept.moved);
	dwcp_chunk_end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

/* UNDELTA of a DELTA chunk. */
static int undelta_body(struct dwcp_svc_ctx *ctx, struct mem_state *st, uint32_t idx,
			struct dwcp_chunk_hdr *c, uint32_t *out)
{
	struct dwcp_hde_rec recs[DWCP_HDE_MAX_PAGES];
	struct dwcp_hde_base bases[DWCP_HDE_MAX_PAGES];
	struct dwcp_chunk_hdr *oc;
	struct dwcp_hde_kept kept;
	int n = dwcp_hde_parse(dwcp_chunk_body(c), c->body_len, c->orig_len, recs), rc;

	/* A version 2 or 3 body exactly when the header says KEPT, 3 exactly
	 * when it says MOVED too. */
	kept.mask = kept.moved = 0;
	if (n < 0 || dwcp_hde_base_hash(&st->codec, recs, (unsigned)n) != c->base_hash ||
	    dwcp_hde_kept_of(dwcp_chunk_body(c), c->body_len, (unsigned)n, &kept) !=
	    !!(c->flags & DWCP_CHUNK_F_KEPT) || !kept.moved != !(c->flags & DWCP_CHUNK_F_MOVED)) {
		DWCP_WARN("svc-mem: stream %llu seq %llu: corrupt delta body (%u bytes for %u)",
			  (unsigned long long)c->stream, (unsigned long long)c->seq, c->body_len,
			  c->orig_len);
		return DWCP_BUF_EBADCHUNK;
	}
	if (dwcp_chunk_begin_output(ctx, c, out, &oc))
		return -EAGAIN;
	find_bases(st, c, recs, bases);
	rc = dwcp_hde_decode(&st->codec, dwcp_chunk_body(c), c->body_len, c->orig_len, c->base_hash,
			     bases, dwcp_chunk_body(oc));
	if (rc) {
		dwcp_chunk_drop_output(ctx, idx, out);
		if (rc == -ENODATA) {
			/* Expected after an eviction or a restart on either side. */
			DWCP_DEBUG("svc-mem: stream %llu seq %llu: delta base not cached; resend raw",
				   (unsigned long long)c->stream, (unsigned long long)c->seq);
			return DWCP_BUF_EBASE;
		}
		DWCP_WARN("svc-mem: stream %llu seq %llu: corrupt delta record",
			  (unsigned long long)c->stream, (unsigned long long)c->seq);
		return DWCP_BUF_EBADCHUNK;
	}
	oc->flags &= (uint8_t)~DWCP_CHUNK_F_DELTA;
	oc->base_hash = 0;
	oc->body_len = c->orig_len;
	if (kept.mask | kept.moved) {
		/* Kept and moved pages decoded as zeros; the sink fills them
		 * from its copy of the version the trailer names. */
		dwcp_hde_kept_put(dwcp_chunk_body(oc) + c->orig_len, &kept);
		oc->body_len += (uint32_t)dwcp_hde_kept_len(&kept);
	}
	oc->inner_len = oc->body_len;
	oc->crc = 0;
	remember(st, oc, dwcp_chunk_body(oc), kept.mask | kept.moved);
	dwcp_chunk_end_output(ctx, *out, oc);
	return DWCP_BUF_OK;
}

int mem_undelta(struct dwcp_svc_ctx *ctx, struct mem_state *st, uint32_t idx,
		struct dwcp_buf_hdr *h, uint32_t *out)
{
	struct dwcp_chunk_hdr *c = dwcp_chunk_at(ctx, idx);

	if (dwcp_chunk_checked(ctx, h, c) || !plain(c))
		return DWCP_BUF_EBADCHUNK;
	if (c->flags & DWCP_CHUNK_F_DELTA)
		return pageable(c) ? undelta_body(ctx, st, idx, c, out) : DWCP_BUF_EBADCHUNK;
	/* Sent raw (a first version, a resend after EBASE, or a sender that
	 * does no delta): the data is the body; remember it and pass the
	 * chunk on untouched. Data the cache cannot key (a misaligned or
	 * larger chunk, which the sender's DELTA would have refused too)
	 * just passes. */
	if (c->flags & DWCP_CHUNK_F_KEPT) {
		/* Raw with its trailer (DELTA found no room; chunk_check vouched
		 * for the shape). */
		struct dwcp_hde_kept kept;

		if (!pageable(c) || trailer_of(c, &kept))
			return DWCP_BUF_EBADCHUNK;
		remember(st, c, dwcp_chunk_body(c), kept.mask | kept.moved);
		return DWCP_BUF_OK;
	}
	if (c->body_len != c->orig_len)
		return DWCP_BUF_EBADCHUNK;
	if (pageable(c))
		remember(st, c, dwcp_chunk_body(c), 0);
	return DWCP_BUF_OK;
}

void mem_delta_init(struct dwcp_svc_ctx *ctx, struct mem_state *st)
{
	const struct dwcp_shm *shm = &ctx->at.shm;
	struct dwcp_cpu_features cpu;
	struct dwcp_dcache_stats fig;
	unsigned n, k;
	uint8_t *part;
	uint64_t part_size;

	dwcp_cpu_detect(&cpu);
	dwcp_hde_codec_init(&st->codec, &cpu);
	if (!shm->dcache || !shm->dcache_size) {
		DWCP_INFO("svc-mem: no delta cache ([mem] delta_cache_mb = 0, or auto found no room in "
			  "[supervisor] hugepage_mb): chunks travel without delta bases");
		return;
	}
	/* Each worker its own part: it is the part's one writer, and the
	 * chunks whose pages the part holds come to it (ipc/route.h). */
	n = dwcp_route_workers(shm, DWCP_SLOT_MEM);
	k = shm->ctl->slots[ctx->at.slot].sup.worker;
	dwcp_dcache_part(shm->dcache, shm->dcache_size, k < n ? k : 0, n, &part, &part_size);
	if (dwcp_dcache_attach(&st->cache, part, part_size)) {
		DWCP_WARN("svc-mem: the %llu-byte delta cache (part %u of %u) holds not one page; chunks "
			  "travel without delta bases (raise [mem] delta_cache_mb, or with auto [supervisor] hugepage_mb)",
			  (unsigned long long)part_size, k + 1, n);
		return;
	}
	st->have_cache = true;
	dwcp_dcache_stats(&st->cache, &fig);
	DWCP_INFO("svc-mem: delta cache: %llu pages, %s (%llu held); part %u of %u",
		  (unsigned long long)fig.capacity, st->cache.formatted ? "formatted" : "kept",
		  (unsigned long long)fig.live, k + 1, n);
}

void mem_delta_report(const struct mem_state *st)
{
	struct dwcp_dcache_stats fig;

	if (!st->have_cache)
		return;
	dwcp_dcache_stats(&st->cache, &fig);
	DWCP_INFO("svc-mem: delta cache: %llu hits, %llu misses, %llu corrupt, %llu inserts, "
		  "%llu evictions, %llu of %llu pages held",
		  (unsigned long long)fig.hits, (unsigned long long)fig.misses,
		  (unsigned long long)fig.corrupt, (unsigned long long)fig.inserts,
		  (unsigned long long)fig.evictions, (unsigned long long)fig.live,
		  (unsigned long long)fig.capacity);
}
