/* `dwcp recv`: the sink of a stream on the receiving node.
 *
 * It registers the stream in the node's stream table, so svc-net gives
 * each arriving chunk the program verify -> open -> decompress -> undelta
 * -> DELIVER here. Chunks arrive in any order (striped over connections,
 * resent after losses); the sink keeps a reorder window and writes
 * strictly in sequence, so every byte is written exactly once and in
 * order. Each chunk is acknowledged once written; one that arrives again
 * (the acknowledgement was lost) is only acknowledged again. A chunk that
 * failed a step is refused with the reason, and the sender resends it or
 * gives up.
 *
 * The output is checked and its temporary created before the stream is
 * registered (recv_out.h: no symlink, directory or device is ever written
 * through or replaced), so a refused --out never lets a sender believe
 * anything was delivered. Nothing appears at the output path until the
 * whole stream is written and synced; the last chunk is acknowledged only
 * after the output got its name and the directory was synced, so "sent"
 * at the sender means "on the receiver's disk".
 *
 * With --inplace the new version is written into the previous copy
 * itself (recv_inplace.h): only the pages that travelled are written, at
 * the cost of atomicity (a receive that dies half way leaves a file that
 * is no complete version, and no record vouching for it), as rsync's
 * --inplace. Without a previous copy the record vouches for, it falls
 * back to the atomic path and says so.
 *
 * A transfer is one `dwcp send` run (the chunks' xfer, the sender's
 * clock in ms). The sink locks onto the first it sees; a chunk of a later
 * transfer means the sender ran again (the first run was stopped): the
 * sink starts over with the new one, and from then on refuses the old
 * run's resends as stale (as it refuses those of any earlier run, and
 * acknowledges those of a run this node finished). What the old run
 * wrote stays as the base of the new one, which writes in place over it
 * (resume): pages the sender kept by the old run's resume token
 * (cli/send_index.h) are left as they are, every other page is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/reorder.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/streams.h"
#include "cli_internal.h"
#include "common/digest.h"
#include "common/ops/hde.h"
#include "recv_base.h"
#include "recv_inplace.h"
#include "recv_out.h"
#include "recv_partial.h"
#include "xfer.h"

#define PROG "dwcp recv"
#define BATCH 32u
#define AUTH_FAIL_MAX 3    /* consecutive authentication failures before giving up */
#define OLD_XFERS 16       /* transfers left behind whose resends are refused */

struct recv_opts {
	const char *instance, *run_dir, *stream, *out;
	bool json, no_progress;
	bool inplace;              /* --inplace: write into --out itself when it is the base */
	bool no_partial;           /* --no-partial: a failed receive keeps nothing */
	unsigned timeout_s;        /* 0 = wait for the stream as long as it takes */
};

struct receiver {
	struct recv_opts o;
	struct dwcp_client c;
	char path[PATH_MAX];
	struct recv_out out;
	struct recv_base base;     /* the previous copy kept pages come from (cli/recv_base.h) */
	bool told_base;            /* the "no base" note was printed */
	struct recv_inplace ip;    /* when r->out.inplace or r->resuming */
	struct recv_base resume;   /* an interrupted transfer's data, resumed in place */
	bool resuming;             /* the output is being written in place over resume's data */
	uint64_t resumed_bytes;    /* what the interrupted transfer had written */
	struct recv_partial part;  /* where a failed receive keeps what it wrote */
	bool bad_data;             /* what was written is known wrong: keep nothing */
	int ent;
	uint32_t xfer;             /* the transfer this sink locked onto (0 = none yet) */
	uint32_t old[OLD_XFERS];   /* transfers it left for a newer one (ring) */
	unsigned n_old;
	uint32_t last_idx;         /* the last chunk, acknowledged once the output is committed */
	struct dwcp_reorder *win;
	uint64_t next_seq;         /* the next chunk to write */
	uint64_t written;
	bool done;
	unsigned auth_fails;       /* consecutive */
	uint64_t first_ns, last_progress_ns;
	struct dwcp_digest digest; /* of the data written, in order (common/digest.h) */
	struct xfer_summary sum;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dwcp recv --stream NAME [--out PATH] [options]\n"
		"  Wait for stream NAME on this node and write it to PATH (default: the node's\n"
		"  [recv] dir/NAME). PATH appears atomically, only once the whole stream is\n"
		"  written and synced; an existing PATH must be a regular file (it is replaced).\n"
		"  Without --out, NAME must not be \".\" or \"..\".\n"
		"options:\n"
		"  --inplace        write the new version into PATH itself, only the pages that\n"
		"                   changed (as rsync --inplace): faster on file systems without\n"
		"                   reflinks, but NOT atomic: if the receive fails or is killed,\n"
		"                   PATH is left half-written (send again to repair it). Needs\n"
		"                   PATH to be the copy the last receive wrote; otherwise the\n"
		"                   receive says so and replaces PATH atomically as usual\n"
		"  --no-partial     a receive that fails keeps nothing (by default it keeps what it\n"
		"                   wrote, private, as .NAME.dwcp-partial beside PATH, until the\n"
		"                   stream's next receive resumes from it or removes it)\n"
		"  --instance NAME  this node (default dwcp)\n"
		"  --run-dir DIR    runtime directory root (default /run/dwcp)\n"
		"  --timeout SEC    give up after SEC seconds without a chunk (default: wait)\n"
		"  --json           print the summary as one JSON object\n"
		"  --no-progress    no progress line\n");
}

static int parse(int argc, char **argv, struct recv_opts *o)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
		{ "stream", required_argument, NULL, 's' }, { "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' }, { "timeout", required_argument, NULL, 'T' },
		{ "no-progress", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ "inplace", no_argument, NULL, 'I' }, { "no-partial", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct recv_opts){ .instance = DWCP_DEFAULT_INSTANCE };
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'i': o->instance = optarg; break;
		case 'r': o->run_dir = optarg; break;
		case 's': o->stream = optarg; break;
		case 'o': o->out = optarg; break;
		case 'j': o->json = true; break;
		case 'P': o->no_progress = true; break;
		case 'I': o->inplace = true; break;
		case 'N': o->no_partial = true; break;
		case 'T':
			if (xfer_parse_count(PROG, "--timeout", optarg, 86400, "seconds", &o->timeout_s))
				return -EINVAL;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc || !o->stream) {
		fprintf(stderr, PROG ": %s\n", optind < argc ? "unexpected argument" : "--stream is required");
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* A receive that fails keeps what it wrote (recv_partial.h): of this
 * transfer when it wrote any, else the partial copy it resumed, as it
 * was. */
static void keep_partial(struct receiver *r)
{
	const bool own = r->written > 0;
	const uint64_t valid = own ? r->written : r->resuming ? r->resumed_bytes : 0;
	int rc;

	if (r->o.no_partial || r->out.inplace || r->bad_data || r->out.w.fd < 0 || !valid)
		return;
	rc = recv_partial_keep(&r->part, &r->out, valid,
			       own ? dwcp_digest_resume_token(dwcp_stream_id(r->o.stream), r->xfer) :
				     r->resume.digest);
	if (rc)
		fprintf(stderr, PROG ": stream %s: could not keep the %llu bytes received for a resume: %s\n",
			r->o.stream, (unsigned long long)valid, strerror(-rc));
	else
		fprintf(stderr, PROG ": stream %s: kept the %llu bytes received (as %s beside %s): run `dwcp recv --stream %s` again, then the send, and they do not travel again\n",
			r->o.stream, (unsigned long long)valid, r->part.name, r->path, r->o.stream);
}

__attribute__((format(printf, 2, 3)))
static int fail(struct receiver *r, const char *fmt, ...)
{
	va_list ap;

	xfer_progress_end();
	fprintf(stderr, PROG ": stream %s: ", r->o.stream);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (r->out.inplace && r->ip.rewriting)
		fprintf(stderr, PROG ": stream %s: --inplace: %s was being rewritten in place and is now no complete version; the index no longer vouches for it: run the send again (it sends every page)\n",
			r->o.stream, r->path);
	keep_partial(r);
	recv_out_abort(&r->out);
	return 1;
}

/* Send a buffer back to svc-net with one step: ACK, or NACK with @p why. */
static void answer(struct receiver *r, uint32_t idx, unsigned why)
{
	struct dwcp_buf_hdr *h = dwcp_client_hdr(&r->c, idx);
	unsigned net = dwcp_buf_origin_slot(h), op = why ? DWCP_OP_NACK : DWCP_OP_ACK;

	/* To the svc-net worker that holds the connection it came on (an
	 * svc-net that names none has no workers). */
	h->prog[0] = net ? dwcp_prog_step_pinned(net, op) : dwcp_prog_step(DWCP_SLOT_NET, op);
	h->prog_len = 1;
	h->pc = 0;
	h->status = DWCP_BUF_OK;
	h->result = why;
	h->parent_plus1 = 0;
	/* The link to svc-net is as deep as the pool share we hold: it has room. */
	while (dwcp_client_submit(&r->c, &idx, 1) != 1)
		dwcp_client_wait(&r->c, 1000000ull);
}

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

	/* The pages it reads from the output (or, in place, from the file
	 * being rewritten) must be there, not in the bounce buffer. */
	if (!rc)
		rc = recv_fd_flush(&r->out.w);
	if (!rc)
		rc = recv_base_fill_moved(base_of(r, k.digest), dwcp_chunk_body(ch), ch->orig_len,
					  k.moved, k.src, r->out.w.fd, r->written);
	if (!rc)
		rc = recv_base_fill(base_of(r, k.digest), dwcp_chunk_body(ch), ch->offset, ch->orig_len,
				    k.mask);
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
		answer(r, idx, DWCP_BUF_EBADCHUNK);
		return true;
	}
	if (recv_base_usable(base_of(r, k.digest), k.digest))
		return false;
	if (!r->told_base && !r->o.json)
		fprintf(stderr, "\n" PROG ": stream %s: the sender keeps unchanged pages, but %s: they are sent again\n",
			r->o.stream, base_of(r, k.digest)->why);
	r->told_base = true;
	r->sum.rejected++;
	answer(r, idx, DWCP_BUF_EKEPT);
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
		bool last = ch->flags & DWCP_CHUNK_F_LAST;
		int rc;

		if (ch->flags & DWCP_CHUNK_F_KEPT) {
			rc = fill_kept(r, idx);
			if (rc) {
				answer(r, idx, DWCP_BUF_ESINK);
				return fail(r, "reading the kept pages of chunk %llu from the previous %s: %s; nothing was put at %s. Send it again",
					    (unsigned long long)seq, r->path, strerror(-rc), r->path);
			}
		}

		if (r->out.inplace || r->resuming)
			rc = recv_inplace_write(&r->ip, r->resuming ? &r->resume : &r->base, &r->out.w, p,
						ch->offset, ch->orig_len, kept_in_place(r, ch));
		else
			rc = recv_base_write(&r->base, &r->out.w, p, ch->offset, ch->orig_len,
					     ch->flags & DWCP_CHUNK_F_KEPT ? kept_mask(ch) : 0,
					     &r->sum.cloned_pages);
		if (rc) {
			answer(r, idx, DWCP_BUF_ESINK);
			return fail(r, "writing %s: %s", r->path, strerror(-rc));
		}
		dwcp_digest_update(&r->digest, (const uint8_t *)ch + DWCP_CHUNK_HDR_LEN, ch->orig_len);
		if (last && ch->digest && ch->digest != dwcp_digest_final(&r->digest)) {
			/* Every chunk passed its own checks, yet the whole is not
			 * what the sender read: no file at --out. */
			answer(r, idx, DWCP_BUF_EDIGEST);
			r->bad_data = true;
			/* Kept pages came from a base that is evidently not what its
			 * record says (changed behind our back, mtime kept): the
			 * record must not vouch for it again, or every resend would
			 * keep the same wrong pages. */
			if (r->sum.kept_pages && recv_base_forget(&r->base) && !r->o.json)
				fprintf(stderr, PROG ": stream %s: could not remove the record of %s: remove %s by hand\n",
					r->o.stream, r->path, r->base.record);
			if (r->out.inplace)
				return fail(r, "the whole-file digest of what was written in place (%016llx) differs from the sender's (%016llx): %s is not the sender's file (did something change it behind dwcp's back, keeping its mtime?); the index no longer vouches for it: run the send again (it sends every page)",
					    (unsigned long long)dwcp_digest_final(&r->digest),
					    (unsigned long long)ch->digest, r->path);
			return fail(r, "the whole-file digest of what was written (%016llx) differs from the sender's (%016llx): nothing was put at %s. Send it again",
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
		r->next_seq = seq + 1;
		__atomic_store_n(&r->c.at.shm.node->streams[r->ent].next_seq, r->next_seq, __ATOMIC_RELEASE);
		answer(r, idx, 0);
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
	answer(ctx, (uint32_t)((uintptr_t)item - 1), DWCP_BUF_ESTALE);
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
	struct stat st;
	int rc;

	if (!r->written)
		return r->resuming ? 0 : -ENODATA;
	rc = recv_out_keep(&r->out);
	if (!rc && fstat(r->out.w.fd, &st))
		rc = -errno;
	recv_base_close(&r->resume);
	if (!rc)
		rc = recv_base_adopt(&r->resume, r->out.w.fd,
				     dwcp_digest_resume_token(dwcp_stream_id(r->o.stream), r->xfer));
	if (rc) {
		r->resuming = false;
		return rc;
	}
	recv_inplace_begin(&r->ip, (uint64_t)st.st_size);
	r->resuming = true;
	r->resumed_bytes = r->written;
	return 0;
}

/* Transfer @p xfer replaces the current one: the sender ran again. Its
 * chunks start from sequence 0 with their own deltas. What the old one
 * wrote stays as the base of a resumed transfer (keep_for_resume), is
 * never mixed in otherwise: every page the new one does not keep is
 * written over it. In place (--inplace) it is dropped. */
static int start_over(struct receiver *r, uint32_t xfer)
{
	const uint64_t old_written = r->written;
	bool kept;
	int rc;

	r->old[r->n_old++ % OLD_XFERS] = r->xfer;
	dwcp_reorder_destroy(r->win, refuse_held, r);
	r->win = dwcp_reorder_create(r->c.at.shm.n_bufs, 0);
	if (!r->win)
		return fail(r, "out of memory");
	kept = !r->out.inplace && keep_for_resume(r) == 0;
	r->xfer = xfer;
	if (!r->o.json)
		fprintf(stderr, kept ? "\n" PROG ": stream %s: a new transfer started (the sender ran again); keeping the %llu bytes received so far: pages the sender finds unchanged there are not sent again\n" :
			"\n" PROG ": stream %s: a new transfer started (the sender ran again); dropping the %llu bytes of the old one and starting over\n",
			r->o.stream, (unsigned long long)(kept ? r->resumed_bytes : old_written));
	/* In place, the old transfer may have rewritten pages the new one
	 * would keep: nothing more is kept from the file, every page is
	 * written again. */
	if (r->out.inplace && r->ip.rewriting) {
		recv_base_close(&r->base);
		snprintf(r->base.why, sizeof(r->base.why), "an earlier transfer already rewrote part of the output in place");
	}
	if (!kept) {
		recv_base_close(&r->resume);
		r->resuming = false;
		r->resumed_bytes = 0;
		rc = recv_out_rewind(&r->out);
		if (rc)
			return fail(r, "truncating the output for %s: %s", r->path, strerror(-rc));
	}
	r->next_seq = 0;
	__atomic_store_n(&r->c.at.shm.node->streams[r->ent].next_seq, 0, __ATOMIC_RELEASE);
	r->written = 0;
	r->sum.chunks = 0;
	r->sum.kept_pages = r->sum.moved_pages = 0;
	/* The digest covers what the new transfer writes, from its start. */
	dwcp_digest_fini(&r->digest);
	if (dwcp_digest_init(&r->digest))
		return fail(r, "out of memory");
	return 0;
}

/* The sender gave up transfer @p xfer. The one being written: end here,
 * keeping the old output. Any other (one left behind, or one of an
 * earlier run whose chunks never reached this receiver): only
 * acknowledged, so a fresh receiver is not ended by a stale abort. */
static int on_abort(struct receiver *r, uint32_t idx, uint32_t xfer)
{
	answer(r, idx, 0);
	if (!r->xfer || xfer != r->xfer)
		return 0;
	return fail(r, "the sender gave up the transfer (its file changed during the send; see its message); nothing written to %s",
		    r->path);
}

/* One chunk delivered by the pipeline. */
static int on_chunk(struct receiver *r, uint32_t idx)
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
		answer(r, idx, 0);
		return 0;
	}
	if (st != DWCP_BUF_OK) {
		r->sum.rejected++;
		/* A missing delta base or kept copy is routine: the sender
		 * sends the chunk again without it (counted in the summary). */
		if (!r->o.json && st != DWCP_BUF_EBASE && st != DWCP_BUF_EKEPT)
			fprintf(stderr, "\n" PROG ": chunk %llu refused: %s\n", (unsigned long long)h->seq,
				dwcp_buf_status_name(st));
		answer(r, idx, st);
		if (st == DWCP_BUF_EAUTH && ++r->auth_fails >= AUTH_FAIL_MAX)
			return fail(r, "authentication failed %u times in a row: the sender's key differs from this node's [crypto] key_file (or the data is being tampered with); nothing was written",
				    r->auth_fails);
		return 0;
	}
	r->auth_fails = 0;
	if (ch->flags & DWCP_CHUNK_F_ABORT)
		return on_abort(r, idx, ch->xfer);
	/* A resend of a run this node finished (its ACK was lost): done. */
	if (ch->xfer != r->xfer &&
	    dwcp_streams_is_done(&r->c.at.shm, ch->stream, ch->xfer, h->seq)) {
		r->sum.duplicates++;
		answer(r, idx, 0);
		return 0;
	}
	if (!r->xfer)
		r->xfer = ch->xfer;
	if (ch->xfer != r->xfer) {
		/* Transfer ids are the sender's clock in ms (cli/send.c): only a
		 * later run replaces the current one. */
		if (left_behind(r, ch->xfer) || (int32_t)(ch->xfer - r->xfer) < 0) {
			answer(r, idx, DWCP_BUF_ESTALE);
			return 0;
		}
		rc = start_over(r, ch->xfer);
		if (rc) {
			answer(r, idx, DWCP_BUF_ESINK);
			return rc;
		}
	}
	if (h->seq < r->next_seq) {
		r->sum.duplicates++;
		answer(r, idx, 0);   /* written already; its acknowledgement was lost */
		return 0;
	}
	if (refuse_kept(r, idx))
		return 0;
	rc = dwcp_reorder_put(r->win, h->seq, (void *)(uintptr_t)(idx + 1));
	if (rc == -EALREADY) {
		r->sum.duplicates++;
		dwcp_client_free(&r->c, idx);   /* the held copy gets acknowledged when written */
		return 0;
	}
	if (rc) {
		answer(r, idx, DWCP_BUF_EBADCHUNK);   /* beyond the window: resent later */
		return 0;
	}
	return drain_in_order(r);
}

static int finish(struct receiver *r, uint64_t t_start);

static int run(struct receiver *r)
{
	uint64_t next_draw = 0;
	const uint64_t t_start = dwcp_now_ns();
	const uint64_t auth_failures0 = __atomic_load_n(&r->c.at.shm.node->auth_failures, __ATOMIC_RELAXED);

	r->last_progress_ns = t_start;
	while (!r->done) {
		uint32_t got[BATCH];
		char why[256];
		unsigned n;

		if (xfer_stop_signal())
			return fail(r, "stopped by signal %d; nothing written to %s", xfer_stop_signal(), r->path);
		if (xfer_supervisor_died(&r->c, r->o.instance, why, sizeof(why)))
			return fail(r, "%s", why);
		n = dwcp_client_poll(&r->c, got, BATCH);

		for (unsigned i = 0; i < n; i++) {
			int rc;

			if (r->done) {   /* copies behind the last chunk: answered from the done record */
				dwcp_client_free(&r->c, got[i]);
				continue;
			}
			rc = on_chunk(r, got[i]);
			if (rc) {
				for (unsigned j = i + 1; j < n; j++)
					dwcp_client_free(&r->c, got[j]);
				return rc;
			}
		}
		if (r->o.timeout_s &&
		    dwcp_now_ns() - r->last_progress_ns > (uint64_t)r->o.timeout_s * 1000000000ull) {
			uint64_t af = __atomic_load_n(&r->c.at.shm.node->auth_failures, __ATOMIC_RELAXED) -
				      auth_failures0;

			if (!r->first_ns && af)
				return fail(r, "no chunk for %u s: %llu connection(s) to this node failed authentication meanwhile (a sender with another key file? both nodes need the same [crypto] key_file)",
					    r->o.timeout_s, (unsigned long long)af);
			return fail(r, "no chunk for %u s%s", r->o.timeout_s,
				    r->first_ns ? " (the sender stopped)" : " (nobody sent this stream)");
		}
		if (!r->o.no_progress && !r->o.json && r->first_ns && dwcp_now_ns() >= next_draw) {
			next_draw = dwcp_now_ns() + 200000000ull;
			xfer_progress(r->written, 0, xfer_since(r->first_ns), "receiving");
		}
		if (!n)
			dwcp_client_wait(&r->c, 50000000ull);
	}
	return finish(r, t_start);
}

/* The whole stream is written: commit the output, and only then tell the
 * sender (the last chunk's acknowledgement) — or tell it why not. */
static int finish(struct receiver *r, uint64_t t_start)
{
	char why[PATH_MAX + 128];
	struct stat st;
	bool have_st;
	int rc;

	/* The last runs may still wait in the bounce buffer: on disk before
	 * the file's size and mtime are taken for the record below. */
	rc = recv_fd_flush(&r->out.w);
	if (rc) {
		answer(r, r->last_idx, DWCP_BUF_ESINK);
		return fail(r, "writing %s: %s; nothing delivered", r->path, strerror(-rc));
	}
	/* all its writes done; the commit ends the thread */
	r->sum.io_thread_cpu_s = recv_fd_writer_cpu_s(&r->out.w);
	if (r->out.inplace || r->resuming) {
		rc = recv_inplace_end(&r->ip, r->resuming ? &r->resume : &r->base, &r->out.w, r->written);
		if (rc) {
			answer(r, r->last_idx, DWCP_BUF_ESINK);
			return fail(r, "truncating %s to %llu bytes: %s", r->path,
				    (unsigned long long)r->written, strerror(-rc));
		}
	}
	have_st = fstat(r->out.w.fd, &st) == 0;   /* a rename keeps dev, inode and mtime */
	/* Whole now: no partial copy is of use (the resumed one becomes the output). */
	recv_partial_drop(&r->part, r->out.dirfd,
			  r->out.named_tmp && strcmp(r->out.tmp, r->part.name) == 0);
	if (recv_out_commit(&r->out, why, sizeof(why))) {
		answer(r, r->last_idx, DWCP_BUF_ESINK);
		return fail(r, "%s; nothing delivered", why);
	}
	/* The next receive of the stream may fill kept pages from this file. */
	if (!have_st || recv_base_record(&r->base, &st, dwcp_digest_final(&r->digest)))
		if (!r->o.json)
			fprintf(stderr, PROG ": stream %s: could not record %s as the stream's previous copy: the next send moves every page\n",
				r->o.stream, r->path);
	answer(r, r->last_idx, 0);
	r->next_seq++;
	/* So that resends whose ACKs were lost are still answered after we go. */
	dwcp_streams_record_done(&r->c.at.shm, dwcp_stream_id(r->o.stream), r->xfer, r->next_seq);
	r->sum.seconds = xfer_since(r->first_ns ? r->first_ns : t_start);
	xfer_progress_end();
	return 0;
}

static int make_paths(struct receiver *r)
{
	const char *dir = r->c.at.shm.node->conf.recv_dir;

	if (r->o.out)
		snprintf(r->path, sizeof(r->path), "%s", r->o.out);
	else {
		char p[PATH_MAX];

		/* The stream name is the file name: the name check leaves only
		 * [A-Za-z0-9._-], so "." and ".." are the names that are not
		 * files. A leading '.' is fine (a hidden file). */
		if (strcmp(r->o.stream, ".") == 0 || strcmp(r->o.stream, "..") == 0) {
			fprintf(stderr, PROG ": stream name '%s' cannot be a file name in the [recv] dir %s: give --out PATH (or another name)\n",
				r->o.stream, dir);
			return -EINVAL;
		}

		snprintf(p, sizeof(p), "%s", dir);
		for (char *q = p + 1; ; q++) {   /* mkdir -p */
			bool end = *q == '\0';

			if (*q != '/' && !end)
				continue;
			*q = '\0';
			if (mkdir(p, 0755) && errno != EEXIST) {
				fprintf(stderr, PROG ": cannot create [recv] dir %s: %s (give --out PATH)\n",
					p, strerror(errno));
				return -errno;
			}
			if (end)
				break;
			*q = '/';
		}
		snprintf(r->path, sizeof(r->path), "%s/%s", dir, r->o.stream);
	}
	return 0;
}

/* --inplace: write into the output itself when it is the base the record
 * vouches for; else say why, once, and stay on the atomic path. */
static void open_inplace(struct receiver *r)
{
	char why[PATH_MAX + 160];
	int rc = -ENOENT;

	if (r->base.fd >= 0) {
		rc = recv_out_inplace(&r->out, &r->base.st, why, sizeof(why));
		if (!rc)
			recv_inplace_begin(&r->ip, (uint64_t)r->base.st.st_size);
	} else {
		snprintf(why, sizeof(why), "%s", r->base.why);
	}
	if (rc)
		fprintf(stderr, PROG ": stream %s: --inplace: %s; writing a new file and replacing %s atomically instead\n",
			r->o.stream, why, r->path);
}

/* Check the output and create its temporary, before the stream is
 * registered: a refused output never lets a sender start. */
static int open_output(struct receiver *r)
{
	char why[PATH_MAX + 160];
	int rc = recv_out_open(&r->out, r->path, why, sizeof(why));

	if (rc) {
		fprintf(stderr, PROG ": stream %s: %s; nothing was received\n", r->o.stream, why);
		return rc;
	}
	recv_base_open(&r->base, r->out.dirfd, r->out.name,
		       r->c.at.shm.node->conf.index_dir[0] ? r->c.at.shm.node->conf.index_dir :
		       DWCP_CFG_INDEX_DIR, r->o.instance, r->o.stream);
	if (r->o.inplace)
		open_inplace(r);
	recv_partial_init(&r->part, r->out.name,
			  r->c.at.shm.node->conf.index_dir[0] ? r->c.at.shm.node->conf.index_dir :
			  DWCP_CFG_INDEX_DIR, r->o.instance, r->o.stream);
	return 0;
}

/* Resume from the partial copy an earlier receive kept, if it is still
 * what its record says (after the stream is registered: no other receive
 * of it runs). */
static void open_partial(struct receiver *r)
{
	char why[160];

	if (r->out.inplace || !recv_partial_open(&r->part, &r->resume, r->out.dirfd))
		return;
	if (recv_out_resume(&r->out, r->part.name, &r->resume.st, why, sizeof(why))) {
		fprintf(stderr, PROG ": stream %s: not resuming: %s\n", r->o.stream, why);
		recv_base_close(&r->resume);
		return;
	}
	recv_inplace_begin(&r->ip, (uint64_t)r->resume.st.st_size);
	r->resuming = true;
	r->resumed_bytes = (uint64_t)r->resume.st.st_size;
	if (!r->o.json)
		fprintf(stderr, PROG ": stream %s: an earlier receive kept %llu bytes: a resumed send need not move them again\n",
			r->o.stream, (unsigned long long)r->resumed_bytes);
}

int dwcp_cli_recv(int argc, char **argv)
{
	struct receiver *r = calloc(1, sizeof(*r));
	struct dwcp_err err = { 0 };
	int rc = 1;

	if (!r)
		return 1;
	r->out = (struct recv_out){ .dirfd = -1, .old_fd = -1, .w = { .fd = -1, .direct = -1 } };
	r->base.fd = -1;
	r->resume = (struct recv_base){ .fd = -1, .rd = file_read_of(-1) };
	if (parse(argc, argv, &r->o) || dwcp_stream_check_name(r->o.stream, &err)) {
		if (err.msg[0])
			fprintf(stderr, PROG ": %s\n", err.msg);
		free(r);
		return 2;
	}
	/* SIGINT/SIGTERM end the wait loop, which removes the temporary
	 * output on its way out. */
	xfer_catch_stop_signals();
	if (xfer_client_open(&r->c, r->o.instance, r->o.run_dir, "dwcp recv", PROG) || make_paths(r) ||
	    open_output(r))
		goto out;
	r->win = dwcp_reorder_create(r->c.at.shm.n_bufs, 0);
	if (!r->win || dwcp_digest_init(&r->digest))
		goto out;
	r->ent = dwcp_streams_register(&r->c.at.shm, DWCP_STREAM_RECV, r->o.stream, 0, NULL,
				       r->c.at.slot, r->c.at.gen, &err);
	if (r->ent < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		goto out;
	}
	open_partial(r);
	if (!r->o.json)
		fprintf(stderr, PROG ": waiting for stream %s on node %s\n", r->o.stream, r->o.instance);
	r->sum = (struct xfer_summary){ .role = "recv", .stream = r->o.stream, .path = r->path,
					.inplace = r->out.inplace };
	dwcp_hist_reset(&r->sum.lat);
	rc = run(r);
	dwcp_streams_unregister(&r->c.at.shm, r->ent, r->c.at.slot, r->c.at.gen);
	if (rc == 0) {
		r->sum.bytes = r->written;
		r->sum.inplace_written = r->ip.written_pages;
		r->sum.resumed_bytes = r->resumed_bytes;
		r->sum.direct_bytes = r->out.w.direct_bytes;
		r->sum.main_thread_cpu_s = xfer_thread_cpu_s();
		xfer_print_summary(&r->sum, r->o.json);
	}
out:
	recv_out_abort(&r->out);
	recv_base_close(&r->base);
	recv_base_close(&r->resume);
	/* Buffers still held (reorder window) go back when this client exits. */
	if (r->win)
		dwcp_reorder_destroy(r->win, NULL, NULL);
	dwcp_digest_fini(&r->digest);
	free(r);
	return rc;
}
