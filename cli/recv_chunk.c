/* `dwcp recv`, chunk by chunk (recv_pvt.h): the kept pages a chunk
 * names are filled from the base it names (the previous copy, or the data
 * an interrupted transfer left), chunks are written strictly in sequence,
 * and a chunk of a newer transfer (the sender ran again) starts over,
 * keeping what was written for the resume. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/streams.h"
#include "common/ops/hde.h"
#include "recv_pvt.h"

/* The trailer of a kept chunk as UNDELTA left it (after the data);
 * @return 0 or -EBADMSG for any other shape. */
static int kept_of(const struct dwcp_chunk_hdr *ch, struct dwcp_hde_kept *k)
{
	size_t tlen;

	if (ch->flags & DWCP_CHUNK_F_DELTA || ch->body_len < ch->orig_len ||
	    dwcp_hde_kept_get((const uint8_t *)ch + DWCP_CHUNK_HDR_LEN + ch->orig_len,
			      ch->body_len - ch->orig_len, ch->flags & DWCP_CHUNK_F_MOVED,
			      dwcp_hde_pages(ch->orig_len), k, &tlen) ||
	    tlen != ch->body_len - ch->orig_len)
		return -EBADMSG;
	return 0;
}

/* Whether a moved page of @p k is a page of this version that has not
 * reached the output yet (in the bounce buffer or being written). */
static bool new_pages_pending(const struct receiver *r, const struct dwcp_hde_kept *k)
{
	const uint64_t landed = recv_fd_landed(&r->out.w, r->written);

	for (unsigned i = 0; i < 64 && k->moved >> i; i++)
		if (k->moved >> i & 1 && k->src[i] & DWCP_HDE_SRC_NEW &&
		    (k->src[i] & ~DWCP_HDE_SRC_NEW) + DWCP_HDE_PAGE > landed)
			return true;
	return false;
}

/* The base a kept chunk names by its digest: the interrupted transfer's
 * data when it resumes that, else the previous copy. */
static struct recv_base *base_of(struct receiver *r, uint64_t digest)
{
	return r->resuming && digest == r->resume.digest ? &r->resume : &r->base;
}

/* Copy a kept chunk's kept and moved pages from the previous copy into
 * its buffer (they arrived as zeros), so they are written and digested
 * like the rest. Chunks are filled and written in order, so with --inplace
 * a moved page's source is still the previous version: the sender moves
 * pages only from pages no earlier chunk rewrote (cli/send_moves.h). */
static int fill_kept(struct receiver *r, uint32_t idx)
{
	struct dwcp_chunk_hdr *ch = dwcp_client_data(&r->c, idx);
	struct dwcp_hde_kept k;
	int rc = kept_of(ch, &k);

	/* The pages it reads from the output must be there, not in the
	 * bounce buffer: only moved pages of this version (DWCP_HDE_SRC_NEW)
	 * are read from it (in place, the others are pages no chunk before
	 * this one rewrote). A flush for every kept chunk wrote each one by
	 * a synchronous direct write in this thread: an atomic resend of a
	 * 1 GiB image spent most of its time waiting for them. */
	if (!rc && new_pages_pending(r, &k))
		rc = recv_fd_flush(&r->out.w);
	if (!rc)
		rc = recv_base_fill_moved(base_of(r, k.digest), dwcp_chunk_body(ch), ch->orig_len,
					  k.moved, k.src, r->out.w.fd, r->written);
	if (!rc)
		rc = recv_base_fill(base_of(r, k.digest), dwcp_chunk_body(ch), ch->offset, ch->orig_len,
				    k.mask);
	if (!rc && base_of(r, k.digest) == &r->base)
		r->filled_from_base = true;
	if (!rc) {
		r->sum.kept_pages += (unsigned)__builtin_popcountll(k.mask);
		r->sum.moved_pages += (unsigned)__builtin_popcountll(k.moved);
	}
	return rc;
}

/* The kept pages of a chunk that fill_kept() accepted. */
static uint64_t kept_mask(const struct dwcp_chunk_hdr *ch)
{
	struct dwcp_hde_kept k;

	return kept_of(ch, &k) ? 0 : k.mask;
}

/* The pages of a chunk to leave as they are in a file written in place:
 * its kept pages when they are the file's own (in place: the previous
 * copy; resuming: the interrupted transfer's data). A resumed transfer's
 * pages kept from the previous copy were filled from it and are written. */
static uint64_t kept_in_place(const struct receiver *r, const struct dwcp_chunk_hdr *ch)
{
	struct dwcp_hde_kept k;

	if (!(ch->flags & DWCP_CHUNK_F_KEPT) || kept_of(ch, &k))
		return 0;
	if (r->resuming && k.digest != r->resume.digest)
		return 0;
	return k.mask;
}

/* Every 1/8 of what was written (64 MiB to 1 GiB: the receiver does not
 * know the size) the data becomes the partial copy, its prefix recorded
 * once synced (recv_partial.h), so that a receive killed outright leaves
 * what a resumed send need not move again. */
static void checkpoint(struct receiver *r)
{
	const uint64_t lo = 64ull << 20, hi = 1ull << 30;
	const uint64_t step = r->written / 8 < lo ? lo : r->written / 8 > hi ? hi : r->written / 8;

	if (r->written < (r->cp_next ? r->cp_next : lo))
		return;
	r->cp_next = r->written + step;
	if (r->o.no_partial || r->bad_data)
		return;
	/* What fails costs only the checkpoint: a failure this process sees
	 * still keeps what it wrote. */
	(void)recv_partial_checkpoint(&r->part, &r->out, r->written,
				      dwcp_digest_resume_token(dwcp_stream_id(r->o.stream), r->xfer));
}

/* A kept chunk that this receiver cannot fill from its copy: refused
 * EKEPT before it is held, so the sender redoes it whole and keeps
 * nothing more. @return true
 * when refused. */
static bool refuse_kept(struct receiver *r, uint32_t idx)
{
	const struct dwcp_chunk_hdr *ch = dwcp_client_data(&r->c, idx);
	struct dwcp_hde_kept k;

	if (!(ch->flags & DWCP_CHUNK_F_KEPT))
		return false;
	if (kept_of(ch, &k)) {
		recv_answer(r, idx, DWCP_BUF_EBADCHUNK);
		return true;
	}
	if (recv_base_usable(base_of(r, k.digest), k.digest)) {
		if (recv_base_holds(base_of(r, k.digest), ch->offset, ch->orig_len, &k))
			return false;
		snprintf(base_of(r, k.digest)->why, sizeof(base_of(r, k.digest)->why),
			 "this receiver's copy holds only their first %llu bytes",
			 (unsigned long long)base_of(r, k.digest)->valid);
	}
	if (!r->told_base && !r->o.json)
		fprintf(stderr, "\n" PROG ": stream %s: the sender keeps unchanged pages, but %s: they are sent again\n",
			r->o.stream, base_of(r, k.digest)->why);
	r->told_base = true;
	r->sum.rejected++;
	recv_answer(r, idx, DWCP_BUF_EKEPT);
	return true;
}

/* Write every chunk that is next in sequence. */
static int drain_in_order(struct receiver *r)
{
	void *item;
	uint64_t seq;

	while ((item = dwcp_reorder_pop(r->win, &seq)) != NULL) {
		uint32_t idx = (uint32_t)((uintptr_t)item - 1);
		struct dwcp_buf_hdr *h = dwcp_client_hdr(&r->c, idx);
		const struct dwcp_chunk_hdr *ch = dwcp_client_data(&r->c, idx);
		const uint8_t *p = (const uint8_t *)ch + DWCP_CHUNK_HDR_LEN;
		const struct recv_pre *pre = idx < r->n_pre && r->pre[idx].ready ? &r->pre[idx] : NULL;
		bool last = ch->flags & DWCP_CHUNK_F_LAST, inplace;
		uint64_t keep, zeros;
		int rc;

		if (ch->flags & DWCP_CHUNK_F_KEPT) {
			rc = fill_kept(r, idx);
			if (rc) {
				recv_answer(r, idx, DWCP_BUF_ESINK);
				return recv_fail(r, "reading the kept pages of chunk %llu from the previous %s: %s; nothing was put at %s. Send it again",
					    (unsigned long long)seq, r->path, strerror(-rc), r->path);
			}
		}

		inplace = r->out.inplace || r->resuming;
		keep = inplace ? kept_in_place(r, ch) : ch->flags & DWCP_CHUNK_F_KEPT ? kept_mask(ch) : 0;
		zeros = pre ? pre->zeros : recv_zero_pages(r->dz.is_zero, p, ch->orig_len, keep);
		if (inplace)
			rc = recv_inplace_write(&r->ip, r->resuming ? &r->resume : &r->base, &r->out.w, p,
						ch->offset, ch->orig_len, keep, zeros);
		else
			rc = recv_base_write(&r->base, &r->out.w, p, ch->offset, ch->orig_len, keep, zeros,
					     &r->sum.cloned_pages);
		if (rc) {
			recv_answer(r, idx, DWCP_BUF_ESINK);
			if (rc == -EFBIG && r->out.device)
				return recv_fail(r, "the stream is larger than the block device %s (%llu bytes): give a device at least as large",
						 r->path, (unsigned long long)r->out.device_size);
			return recv_fail(r, "writing %s: %s", r->path, strerror(-rc));
		}
		if (pre)
			dwcp_digest_add_hashes(&r->digest, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])pre->ph,
					       (ch->orig_len + DWCP_DIGEST_PAGE - 1) / DWCP_DIGEST_PAGE);
		else
			dwcp_digest_update(&r->digest, p, ch->orig_len);
		if (last && ch->digest && ch->digest != dwcp_digest_final(&r->digest)) {
			/* Every chunk passed its own checks, yet the whole is not
			 * what the sender read: no file at --out. */
			recv_answer(r, idx, DWCP_BUF_EDIGEST);
			r->bad_data = true;
			/* Kept pages came from a base that is evidently not what its
			 * record says (changed behind our back, mtime kept): the
			 * record must not vouch for it again, or every resend would
			 * keep the same wrong pages. (Resumed data is dropped with
			 * the temporary: bad_data keeps no partial copy.) */
			if (r->filled_from_base && recv_base_forget(&r->base) && !r->o.json)
				fprintf(stderr, PROG ": stream %s: could not remove the record of %s: remove %s by hand\n",
					r->o.stream, r->path, r->base.record);
			if (r->out.inplace)
				return recv_fail(r, "the whole-file digest of what was written in place (%016llx) differs from the sender's (%016llx): %s is not the sender's file (did something change it behind dwcp's back, keeping its mtime?); the index no longer vouches for it: run the send again (it sends every page)",
					    (unsigned long long)dwcp_digest_final(&r->digest),
					    (unsigned long long)ch->digest, r->path);
			return recv_fail(r, "the whole-file digest of what was written (%016llx) differs from the sender's (%016llx): nothing was put at %s. Send it again",
				    (unsigned long long)dwcp_digest_final(&r->digest),
				    (unsigned long long)ch->digest, r->path);
		}
		r->written += ch->orig_len;
		recv_out_written(&r->out, r->written);
		/* The stream's progress for dwcpctl top and /metrics. */
		dwcp_stats_add(r->c.stats, DWCP_STAT_OPS, 1);
		dwcp_stats_add(r->c.stats, DWCP_STAT_BYTES, ch->orig_len);
		r->sum.chunks++;
		dwcp_hist_record(&r->sum.lat, dwcp_now_ns() - h->t_submit_ns);
		if (last) {
			/* Acknowledged by run() once the output is committed. */
			r->last_idx = idx;
			r->done = true;
			return 0;
		}
		checkpoint(r);
		r->next_seq = seq + 1;
		__atomic_store_n(&r->c.at.shm.node->streams[r->ent].next_seq, r->next_seq, __ATOMIC_RELEASE);
		recv_answer(r, idx, 0);
	}
	return 0;
}

static bool left_behind(const struct receiver *r, uint32_t xfer)
{
	for (unsigned i = 0; i < r->n_old && i < OLD_XFERS; i++)
		if (r->old[i] == xfer)
			return true;
	return false;
}

/* A chunk held in the reorder window of a transfer left behind: refused
 * as stale, so a sender of it that still runs learns why. */
static void refuse_held(void *ctx, void *item)
{
	recv_answer(ctx, (uint32_t)((uintptr_t)item - 1), DWCP_BUF_ESTALE);
}

/* Keep what the transfer being replaced wrote as the base of the new
 * one, which writes in place over it: a sender that resumes
 * (cli/send_index.h) keeps the pages it finds unchanged, naming them by
 * the old transfer's resume token; any other page is written over them.
 * Nothing written by the old one (it only wrote, if anything, in place
 * over an earlier one's data): the base stays that earlier one's.
 * @return 0 or -errno (then the caller starts over from nothing). */
static int keep_for_resume(struct receiver *r)
{
	int rc;

	if (!r->written)
		return r->resuming ? 0 : -ENODATA;
	rc = recv_out_keep(&r->out);
	recv_base_close(&r->resume);
	if (!rc)
		rc = recv_base_adopt(&r->resume, r->out.w.fd,
				     dwcp_digest_resume_token(dwcp_stream_id(r->o.stream), r->xfer));
	if (rc) {
		r->resuming = false;
		return rc;
	}
	/* adopt's fstat (a device: its size, fixed) */
	recv_inplace_begin(&r->ip, r->out.device ? r->out.device_size : (uint64_t)r->resume.st.st_size);
	r->ip.fixed = r->out.device;
	r->resuming = true;
	r->resumed_bytes = r->written;
	return 0;
}

/* The transfer this receive writes from now on, told in its stream entry
 * too: a receiver started after this one is killed reads it there
 * (dwcp_streams_gone_xfer). */
static void lock_onto(struct receiver *r, uint32_t xfer)
{
	r->xfer = xfer;
	__atomic_store_n(&r->c.at.shm.node->streams[r->ent].xfer, xfer, __ATOMIC_RELEASE);
}

/* Transfer @p xfer replaces the current one: the sender ran again. Its
 * chunks start from sequence 0 with their own deltas. What the old one
 * wrote stays as the base of a resumed transfer (keep_for_resume), is
 * never mixed in otherwise: every page the new one does not keep is
 * written over it (in place too: the output is its own copy). */
static int start_over(struct receiver *r, uint32_t xfer)
{
	const uint64_t old_written = r->written;
	const bool rewrote = r->out.inplace && r->ip.rewriting;   /* (keep_for_resume resets ip) */
	bool kept;
	int rc;

	r->old[r->n_old++ % OLD_XFERS] = r->xfer;
	/* What checkpoints recorded vouches for bytes the new transfer may
	 * change: withdrawn first. */
	recv_out_settle(&r->out);
	rc = recv_partial_withdraw(&r->part);
	if (rc)
		return recv_fail(r, "withdrawing the record of the partial copy %s: %s", r->part.record,
				 strerror(-rc));
	r->cp_next = 0;
	dwcp_reorder_destroy(r->win, refuse_held, r);
	r->win = dwcp_reorder_create(r->c.at.shm.n_bufs, 0);
	if (!r->win)
		return recv_fail(r, "out of memory");
	kept = keep_for_resume(r) == 0;
	r->xfer = xfer;
	if (!r->o.json)
		fprintf(stderr, kept ? "\n" PROG ": stream %s: a new transfer started (the sender ran again); keeping the %llu bytes received so far: pages the sender finds unchanged there are not sent again\n" :
			"\n" PROG ": stream %s: a new transfer started (the sender ran again); dropping the %llu bytes of the old one and starting over\n",
			r->o.stream, (unsigned long long)(kept ? r->resumed_bytes : old_written));
	/* In place, the old transfer may have rewritten pages the new one
	 * would keep: nothing more is kept from the file, every page is
	 * written again. */
	if (rewrote) {
		recv_base_close(&r->base);
		snprintf(r->base.why, sizeof(r->base.why), "an earlier transfer already rewrote part of the output in place");
	}
	if (!kept) {
		recv_base_close(&r->resume);
		r->resuming = false;
		r->resumed_bytes = 0;
		rc = recv_out_rewind(&r->out);
		if (rc)
			return recv_fail(r, "truncating the output for %s: %s", r->path, strerror(-rc));
	}
	r->next_seq = 0;
	__atomic_store_n(&r->c.at.shm.node->streams[r->ent].next_seq, 0, __ATOMIC_RELEASE);
	lock_onto(r, xfer);   /* after next_seq: the entry never shows it written */
	r->written = 0;
	r->sum.chunks = 0;
	r->sum.kept_pages = r->sum.moved_pages = 0;
	r->filled_from_base = false;
	/* The digest covers what the new transfer writes, from its start. */
	dwcp_digest_fini(&r->digest);
	if (dwcp_digest_init(&r->digest))
		return recv_fail(r, "out of memory");
	return 0;
}

/* The sender gave up transfer @p xfer. The one being written: end here,
 * keeping the old output. Any other (one left behind, or one of an
 * earlier run whose chunks never reached this receiver): only
 * acknowledged, so a fresh receiver is not ended by a stale abort. */
static int on_abort(struct receiver *r, uint32_t idx, uint32_t xfer)
{
	recv_answer(r, idx, 0);
	if (!r->xfer || xfer != r->xfer)
		return 0;
	return recv_fail(r, "the sender gave up the transfer (its file changed during the send; see its message)%s%s",
			 r->out.inplace ? "" : "; nothing written to ", r->out.inplace ? "" : r->path);
}

void recv_check_chunk(void *job, void *receiver)
{
	const uint32_t idx = *(const uint32_t *)job;
	struct receiver *r = receiver;
	const struct dwcp_chunk_hdr *ch = dwcp_client_data(&r->c, idx);
	const uint8_t *p = (const uint8_t *)ch + DWCP_CHUNK_HDR_LEN;
	struct recv_pre *pre = idx < r->n_pre ? &r->pre[idx] : NULL;

	if (!pre)
		return;   /* no checker thread, or a buffer past what pre[] holds */
	pre->ready = !(ch->flags & DWCP_CHUNK_F_KEPT) && ch->orig_len <= DWCP_HDE_MAX_DATA;
	if (!pre->ready)
		return;
	dwcp_digest_page_hashes(&r->xxh3, p, ch->orig_len, pre->ph);
	pre->zeros = recv_zero_pages(r->dz.is_zero, p, ch->orig_len, 0);
}

/* A checked chunk: held in the reorder window, and written with every
 * chunk next in sequence. What changed since it arrived is looked at
 * again: the chunk before it may have been the last, or a transfer that
 * started over may have left it behind, or a copy of it was written. */
static int hold(struct receiver *r, uint32_t idx)
{
	const struct dwcp_buf_hdr *h = dwcp_client_hdr(&r->c, idx);
	const struct dwcp_chunk_hdr *ch = dwcp_client_data(&r->c, idx);
	int rc;

	if (r->done) {
		dwcp_client_free(&r->c, idx);
		return 0;
	}
	if (ch->xfer != r->xfer) {
		recv_answer(r, idx, DWCP_BUF_ESTALE);
		return 0;
	}
	if (h->seq < r->next_seq) {
		r->sum.duplicates++;
		recv_answer(r, idx, 0);
		return 0;
	}
	rc = dwcp_reorder_put(r->win, h->seq, (void *)(uintptr_t)(idx + 1));
	if (rc == -EALREADY) {
		r->sum.duplicates++;
		recv_release(r, idx);   /* the held copy gets acknowledged when written */
		return 0;
	}
	if (rc) {
		/* Beyond the window (a sender's window larger than this node's
		 * pool, or a transfer this receive cannot have the start of):
		 * "busy" has it sent again a little later. EBADCHUNK, which
		 * means damage on the wire, was resent at once, again and again. */
		recv_answer(r, idx, DWCP_BUF_EBUSY);
		return 0;
	}
	return drain_in_order(r);
}

int recv_take_checked(struct receiver *r)
{
	const uint32_t *job;

	while ((job = job_queue_done(&r->checks)) != NULL) {
		const uint32_t idx = *job;
		int rc;

		job_queue_pop(&r->checks);
		rc = hold(r, idx);
		if (rc)
			return rc;
	}
	return 0;
}

int recv_checked_ready(void *receiver)
{
	const struct receiver *r = receiver;

	return job_queue_done(&r->checks) != NULL;
}

/* Hand the chunk to the checker (without a thread: checked now), and
 * take what it finished. A full queue waits for the checker. */
static int queue_check(struct receiver *r, uint32_t idx)
{
	uint32_t *job;
	int rc;

	while ((job = job_queue_next(&r->checks)) == NULL) {
		rc = recv_take_checked(r);
		if (rc)
			return rc;
		if (!job_queue_next(&r->checks))
			dwcp_client_wait_or(&r->c, 1000000ull, recv_checked_ready, r);
	}
	*job = idx;
	job_queue_push(&r->checks);
	return recv_take_checked(r);
}

/* Every chunk that arrived checked and taken (held, written). */
static int settle_checks(struct receiver *r)
{
	int rc;

	while (job_queue_queued(&r->checks)) {
		rc = recv_take_checked(r);
		if (rc)
			return rc;
		if (job_queue_queued(&r->checks))
			dwcp_client_wait_or(&r->c, 1000000ull, recv_checked_ready, r);
	}
	return 0;
}

/* One chunk delivered by the pipeline. */
int recv_on_chunk(struct receiver *r, uint32_t idx)
{
	struct dwcp_buf_hdr *h = dwcp_client_hdr(&r->c, idx);
	const struct dwcp_chunk_hdr *ch = dwcp_client_data(&r->c, idx);
	unsigned st = h->status;
	int rc;

	r->last_progress_ns = dwcp_now_ns();
	if (!r->first_ns)
		r->first_ns = r->last_progress_ns;
	r->sum.bytes_wire += h->wire_len;
	/* Written already (its acknowledgement was lost or late): whatever a
	 * step made of the copy — a delta whose base this node has already
	 * moved past fails UNDELTA — the answer is the acknowledgement. */
	if (r->xfer && ch->xfer == r->xfer && h->seq < r->next_seq) {
		r->sum.duplicates++;
		recv_answer(r, idx, 0);
		return 0;
	}
	if (st != DWCP_BUF_OK) {
		r->sum.rejected++;
		/* A missing delta base or kept copy is routine: the sender
		 * sends the chunk again without it (counted in the summary). */
		if (!r->o.json && st != DWCP_BUF_EBASE && st != DWCP_BUF_EKEPT)
			fprintf(stderr, "\n" PROG ": chunk %llu refused: %s\n", (unsigned long long)h->seq,
				dwcp_buf_status_name(st));
		recv_answer(r, idx, st);
		if (st == DWCP_BUF_EAUTH && ++r->auth_fails >= AUTH_FAIL_MAX)
			return recv_fail(r, "authentication failed %u times in a row: the sender's key differs from this node's [crypto] key_file (or the data is being tampered with); nothing was written",
				    r->auth_fails);
		return 0;
	}
	r->auth_fails = 0;
	/* What decides for the whole transfer (it ends, or another one starts
	 * over) comes after every chunk that arrived before it was written,
	 * as without a checker. */
	if ((ch->flags & DWCP_CHUNK_F_ABORT || (r->xfer && ch->xfer != r->xfer)) &&
	    (rc = settle_checks(r)) != 0)
		return rc;
	if (r->done) {   /* copies behind the last chunk: answered from the done record */
		dwcp_client_free(&r->c, idx);
		return 0;
	}
	if (ch->flags & DWCP_CHUNK_F_ABORT)
		return on_abort(r, idx, ch->xfer);
	/* A resend of a run this node finished (its ACK was lost): done. */
	if (ch->xfer != r->xfer &&
	    dwcp_streams_is_done(&r->c.at.shm, ch->stream, ch->xfer, h->seq)) {
		r->sum.duplicates++;
		recv_answer(r, idx, 0);
		return 0;
	}
	/* A chunk of the very transfer whose data an earlier `dwcp recv` kept
	 * (the partial copy this one resumes): its sender goes on from what
	 * it had delivered, past what was kept, and this receive cannot take
	 * it from there. Refused as stale, so that the sender stops now and
	 * says to run it again (which resumes), not after its timeout. */
	if (ch->xfer != r->xfer && r->resuming &&
	    dwcp_digest_resume_token(ch->stream, ch->xfer) == r->resume.digest) {
		recv_answer(r, idx, DWCP_BUF_ESTALE);
		return 0;
	}
	/* A chunk of the transfer an earlier `dwcp recv` of this stream was
	 * writing when it was killed or exited keeping nothing (had it kept
	 * something, this one would resume it, above): its sender goes on
	 * past what that one acknowledged, which this receive never had.
	 * Refused as stale too. */
	if (ch->xfer != r->xfer && ch->xfer == r->gone_xfer) {
		recv_answer(r, idx, DWCP_BUF_ESTALE);
		return 0;
	}
	if (!r->xfer)
		lock_onto(r, ch->xfer);
	if (ch->xfer != r->xfer) {
		/* Transfer ids are the sender's clock in ms (cli/send.c): only a
		 * later run replaces the current one. */
		if (left_behind(r, ch->xfer) || (int32_t)(ch->xfer - r->xfer) < 0) {
			recv_answer(r, idx, DWCP_BUF_ESTALE);
			return 0;
		}
		rc = start_over(r, ch->xfer);
		if (rc) {
			recv_answer(r, idx, DWCP_BUF_ESINK);
			return rc;
		}
	}
	if (h->seq < r->next_seq) {
		r->sum.duplicates++;
		recv_answer(r, idx, 0);   /* written already; its acknowledgement was lost */
		return 0;
	}
	if (refuse_kept(r, idx))
		return 0;
	return queue_check(r, idx);
}
