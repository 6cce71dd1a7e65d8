/* `dwcp send`: read a file as a stream of chunks and push each through this
 * node's sender program
 *
 *   svc-mem DELTA -> svc-simd ZSTD|LZ4 -> svc-simd SEAL -> svc-simd CHECKSUM
 *   -> svc-net TRANSMIT -> DELIVER back here
 *
 * A chunk comes back only once the receiver has acknowledged it as
 * written (svc-net keeps it until then), so "every chunk came back OK" is
 * the end-to-end success condition. A chunk refused because the receiver
 * lacks its delta base is read again and sent raw; any other refusal ends
 * the transfer with the receiver's reason.
 *
 * At most `window` chunks are in flight; each holds one buffer of the
 * node's pool until acknowledged.
 *
 * The file must stay as it was: its identity and times are taken when it
 * is opened and compared after every read (size, mtime, ctime, inode,
 * device), so a file rewritten during the send fails the send before the
 * last chunk is handed over — and the receiver commits its output only
 * once the last chunk arrived, so it never holds a mix of two versions.
 * Only regular files are sent: a FIFO or a device is refused at once
 * (opened non-blocking, so a FIFO without a writer cannot hang us).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "common/paths.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/dcache.h"
#include "ipc/route.h"
#include "ipc/streams.h"
#include "cli_internal.h"
#include "codec_auto.h"
#include "common/digest.h"
#include "common/ops/hde.h"
#include "send_pvt.h"
#include "xfer.h"

/* Chunks the reader may have read ahead of the send's thread: 8 MiB of
 * 256 KiB chunks, enough that neither thread waits for the other at the
 * rates one stream reaches; they are taken from the window (in flight). */
#define READ_AHEAD 32u

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dwcp send --stream NAME --file PATH --to PEER [options]\n"
		"  Send PATH to PEER's node as stream NAME (a `dwcp recv --stream NAME` there writes it).\n"
		"  PATH is a file or a block device (an LVM volume, a disk: send a snapshot of one in use).\n"
		"  PEER is a name from this node's [peers] or HOST:PORT.\n"
		"options:\n"
		"  --instance NAME  this node (default dwcp)\n"
		"  --run-dir DIR    runtime directory root (default /run/dwcp)\n"
		"  --codec C        auto | zstd | lz4 | none (default: the node's [stream] codec;\n"
		"                   auto picks per stream from measured compressor and link rates)\n"
		"  --no-delta       send every page whole (no HDE against the previous version)\n"
		"  --window N       chunks in flight (default: the node's [stream] window)\n"
		"  --threads N      1: one thread reads, hashes and sends; 2: a second one reads the\n"
		"                   file and hashes its pages (default: 2 from %u usable CPUs, else 1)\n"
		"  --timeout SEC    give up after SEC seconds without progress (default 60)\n"
		"  --json           print the summary as one JSON object\n"
		"  --no-progress    no progress bar\n"
		"A send that stops part way (Ctrl-C, SIGTERM, timeout, even SIGKILL) resumes when run\n"
		"again: of what the receiver has (its `dwcp recv` still waiting, or the partial copy\n"
		"one that stopped kept), the pages that did not change do not travel again.\n",
		XFER_THREADS_MIN_CPUS);
}

static int parse(int argc, char **argv, struct send_opts *o)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
		{ "stream", required_argument, NULL, 's' }, { "file", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
		{ "codec", required_argument, NULL, 'c' }, { "no-delta", no_argument, NULL, 'D' },
		{ "window", required_argument, NULL, 'w' }, { "timeout", required_argument, NULL, 'T' },
		{ "no-progress", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ "threads", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct send_opts){ .instance = DWCP_DEFAULT_INSTANCE, .codec = -1, .timeout_s = 60,
				 .threads = xfer_threads_auto() };
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'i': o->instance = optarg; break;
		case 'r': o->run_dir = optarg; break;
		case 's': o->stream = optarg; break;
		case 'f': o->file = optarg; break;
		case 't': o->to = optarg; break;
		case 'j': o->json = true; break;
		case 'D': o->no_delta = true; break;
		case 'P': o->no_progress = true; break;
		case 'c':
			o->codec = strcmp(optarg, "auto") == 0 ? DWCP_CFG_CODEC_AUTO :
				   strcmp(optarg, "zstd") == 0 ? DWCP_CFG_CODEC_ZSTD :
				   strcmp(optarg, "lz4") == 0 ? DWCP_CFG_CODEC_LZ4 :
				   strcmp(optarg, "none") == 0 ? DWCP_CFG_CODEC_NONE : -2;
			if (o->codec == -2) {
				fprintf(stderr, PROG ": --codec '%s': expected auto, zstd, lz4 or none\n", optarg);
				return -EINVAL;
			}
			break;
		case 'w':
			if (xfer_parse_count(PROG, "--window", optarg, 65536, "chunks", &o->window))
				return -EINVAL;
			break;
		case 'T':
			if (xfer_parse_count(PROG, "--timeout", optarg, 86400, "seconds", &o->timeout_s))
				return -EINVAL;
			break;
		case 'n':
			if (xfer_parse_count(PROG, "--threads", optarg, 2, "threads", &o->threads))
				return -EINVAL;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc || !o->stream || !o->file || !o->to) {
		fprintf(stderr, PROG ": %s\n", optind < argc ? "unexpected argument" :
			"--stream, --file and --to are required");
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

__attribute__((format(printf, 2, 3)))
static int fail(struct sender *s, const char *fmt, ...)
{
	va_list ap;

	xfer_progress_end();
	fprintf(stderr, PROG ": stream %s: ", s->o.stream);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static bool bit(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static void flush_unsent(struct sender *s)
{
	unsigned k;

	/* The first step's service: every program starts at svc-mem or svc-simd. */
	while (s->n_unsent) {
		unsigned dst = dwcp_prog_slot(dwcp_client_hdr(&s->c, s->unsent[0])->prog[0]), same = 1;

		while (same < s->n_unsent &&
		       dwcp_prog_slot(dwcp_client_hdr(&s->c, s->unsent[same])->prog[0]) == dst)
			same++;
		k = dwcp_client_submit(&s->c, s->unsent, same);
		memmove(s->unsent, s->unsent + k, (s->n_unsent - k) * sizeof(s->unsent[0]));
		s->n_unsent -= k;
		if (k < same)
			return;
	}
}

/* Tell the receiver that this transfer is given up (a chunk flagged
 * ABORT, no data), so that its `dwcp recv` ends now, keeping its old
 * output, instead of waiting for chunks that never come. Best effort:
 * waits for the answer at most ABORT_WAIT_MS, then we exit anyway (the
 * receiver never commits an incomplete transfer). */
#define ABORT_WAIT_MS 5000ull
static void send_abort(struct sender *s)
{
	const uint64_t t_end = dwcp_now_ns() + ABORT_WAIT_MS * 1000000ull;
	const struct dwcp_shm *shm = &s->c.at.shm;
	uint16_t prog[DWCP_PROG_MAX];
	struct dwcp_chunk_hdr *ch;
	struct dwcp_buf_hdr *h;
	unsigned n = 0;
	uint32_t idx;

	while (dwcp_client_alloc(&s->c, &idx, 1) != 1) {
		if (dwcp_now_ns() > t_end)
			return;
		dwcp_client_wait(&s->c, 1000000ull);
	}
	ch = dwcp_client_data(&s->c, idx);
	dwcp_chunk_init(ch, s->id, s->n_chunks, 0, 0);
	ch->xfer = s->xfer;
	ch->flags |= DWCP_CHUNK_F_ABORT;
	/* No data: neither delta nor codec, only what a keyed receiver needs. */
	if (s->seal)
		prog[n++] = send_step(shm, DWCP_OP_SEAL);
	prog[n++] = send_step(shm, DWCP_OP_CHECKSUM);
	prog[n++] = send_step(shm, DWCP_OP_TRANSMIT);
	h = dwcp_client_hdr(&s->c, idx);
	dwcp_client_set_prog(&s->c, idx, prog, n);
	dwcp_route_step(shm, h);
	h->stream = s->id;
	h->seq = s->n_chunks;
	h->len = DWCP_CHUNK_HDR_LEN;
	h->result = 0;
	h->wire_len = 0;
	h->t_submit_ns = dwcp_now_ns();
	while (dwcp_client_submit(&s->c, &idx, 1) != 1) {
		if (dwcp_now_ns() > t_end)
			return;   /* still ours: freed when this client exits */
		dwcp_client_wait(&s->c, 1000000ull);
	}
	while (dwcp_now_ns() < t_end) {
		uint32_t got[BATCH];
		unsigned k = dwcp_client_poll(&s->c, got, BATCH);
		bool answered = false;

		/* By sequence: an out-of-place step may have moved it to
		 * another buffer. */
		for (unsigned i = 0; i < k; i++) {
			answered |= dwcp_client_hdr(&s->c, got[i])->seq == s->n_chunks;
			dwcp_client_free(&s->c, got[i]);
		}
		if (answered)
			return;
		if (!k)
			dwcp_client_wait(&s->c, 20000000ull);
	}
}

/* Make a chunk read (by the reader, or here) ready for the first link;
 * a failed read ends the send. @return 0, or fail()'s status. */
static int take(struct sender *s, const struct read_job *j)
{
	int rc = j->rc ? j->rc : send_make_chunk(s, j);

	if (rc)
		dwcp_client_free(&s->c, j->idx);
	if (rc == -ESTALE) {
		send_abort(s);
		return fail(s, "%s changed during the send (size, times or inode differ from when it was opened); nothing is delivered from this run: send it again once it is stable (e.g. from a snapshot or copy)",
			    s->o.file);
	}
	if (rc)
		return fail(s, "reading %s: %s", s->o.file, strerror(-rc));
	s->made += j->first;
	s->unsent[s->n_unsent++] = j->idx;
	return 0;
}

/* The chunk @p seq in a fresh buffer, described in @p j; false: no buffer. */
static bool new_job(struct sender *s, struct read_job *j, uint64_t seq, bool redo)
{
	const uint64_t off = seq * s->chunk_size;
	uint32_t idx;

	if (dwcp_client_alloc(&s->c, &idx, 1) != 1)
		return false;
	j->seq = seq;
	j->idx = idx;
	j->len = off >= s->size ? 0 :
		 (uint32_t)(s->size - off < s->chunk_size ? s->size - off : s->chunk_size);
	j->raw = redo && bit(s->raw_map, seq) && !bit(s->unkept_map, seq);
	j->nobase = redo && bit(s->nobase_map, seq) && !bit(s->unkept_map, seq);
	j->first = !redo;
	j->keys = !redo && send_index_writing(&s->index);
	j->rc = 0;
	s->inflight++;
	return true;
}

/* Chunks to send again (the receiver refused them for a missing base),
 * read here, at once: queued behind new chunks that the codec holds back
 * until nothing is in flight, a redo that is in flight itself would never
 * be sent. They are few, and read through the page cache. */
static int redo_now(struct sender *s)
{
	while (s->n_redo && s->n_unsent < BATCH && s->inflight < s->window) {
		const uint64_t seq = s->redo_seq[s->n_redo - 1];
		struct read_job j;
		int rc;

		if (!new_job(s, &j, seq, true))
			break;
		s->n_redo--;
		s->unkept_map[seq / 64] &= ~(1ull << (seq % 64));
		send_read_chunk_with(s, &s->redo_rd, &j);
		rc = take(s, &j);
		if (rc)
			return rc;
	}
	return 0;
}

/* Give the reader the next new chunks, in order, while the window has
 * room. Each takes a buffer now: chunks being read count as in flight. */
static void read_more(struct sender *s)
{
	struct read_job *j;

	while (s->next_seq < s->n_chunks && s->inflight < s->window &&
	       (j = job_queue_next(&s->reads)) != NULL) {
		if (!new_job(s, j, s->next_seq, false))
			break;
		s->next_seq++;
		job_queue_push(&s->reads);
	}
}

/* Chunks the reader finished, in order, made ready and queued for the
 * first link, while the codec lets new chunks go (a probe: nothing else
 * in flight). */
static int take_reads(struct sender *s)
{
	struct read_job *j;

	s->read_wait = false;
	while (s->n_unsent < BATCH) {
		int rc;

		j = job_queue_done(&s->reads);
		if (!j) {
			s->read_wait = job_queue_queued(&s->reads) > 0;
			return 0;
		}
		if (send_auto_hold(s->codec, s->made - s->acked))
			return 0;
		rc = take(s, j);
		job_queue_pop(&s->reads);
		if (rc)
			return rc;
	}
	return 0;
}

/* Queue what was read, read more, and hand the first link what it takes. */
static int feed(struct sender *s)
{
	int rc = redo_now(s);

	if (!rc)
		rc = take_reads(s);
	if (!rc) {
		read_more(s);
		rc = take_reads(s);   /* without a reader thread, what read_more just read */
	}
	if (rc)
		return rc;
	flush_unsent(s);
	return 0;
}

/* The wait's re-check: a chunk the reader finished is input too, when
 * take_reads stopped for want of one. */
static int read_done(void *arg)
{
	const struct sender *s = arg;

	return s->read_wait && job_queue_done(&s->reads) != NULL;
}

/* Stop the reader; the chunks it still held go back to the pool. */
static void stop_reader(struct sender *s)
{
	struct read_job *j;

	job_queue_stop(&s->reads);
	while ((j = job_queue_drop(&s->reads)) != NULL)
		dwcp_client_free(&s->c, j->idx);
}

/* The reader finished a chunk: wake the send's thread if it sleeps. */
static void read_notify(void *arg)
{
	const struct sender *s = arg;

	dwcp_client_notify(&s->c);
}

static const char *net_note(struct sender *s, char *buf, size_t len)
{
	const struct dwcp_stream_ent *e = &s->c.at.shm.node->streams[s->ent];
	int err = __atomic_load_n(&e->net_error, __ATOMIC_ACQUIRE);

	if (!err)
		return NULL;
	if (err == ENOENT)
		snprintf(buf, len, "waiting for `dwcp recv --stream %s` at %s", s->o.stream, e->peer);
	else if (err == EKEYREJECTED || err == ENOKEY)
		snprintf(buf, len, "peer %s: authentication failed: %s: both nodes need the same key file ([crypto] key_file, made by `dwcp keygen`)",
			 e->peer, err == ENOKEY ? "one node has a key, the other none" : "the peer does not hold this node's key");
	else
		snprintf(buf, len, "peer %s unreachable: %s (retrying)", e->peer, strerror(err));
	return buf;
}

/* Whether the receiver went away mid-transfer: svc-net hears "no
 * receiver" (ENORECV) for a transfer whose chunks were already written
 * there. A `dwcp recv` that finished leaves a record that answers late
 * resends, so this means one that died or was stopped: what it wrote
 * went with it, and this run cannot complete. Only when no chunk was
 * acknowledged for RECV_GONE_NS as well: svc-net records the error per
 * stream entry, and the chunks of an earlier (killed) `dwcp send` that
 * used this entry can set it while our own ACKs still flow. */
#define RECV_GONE_NS 2000000000ull
static bool receiver_gone(const struct sender *s)
{
	const struct dwcp_stream_ent *e = &s->c.at.shm.node->streams[s->ent];

	return s->acked && __atomic_load_n(&e->net_error, __ATOMIC_ACQUIRE) == ENOENT &&
	       dwcp_now_ns() - s->last_progress_ns > RECV_GONE_NS;
}

static void advance_prefix(struct sender *s)
{
	while (s->prefix < s->n_chunks && bit(s->acked_map, s->prefix))
		s->prefix++;
}

/* Move the acknowledged prefix on; every cp_step chunks of it, bring the
 * resume index up to it (send_index.h), short of the end (the commit
 * follows). */
static void checkpoint(struct sender *s)
{
	advance_prefix(s);
	if (s->prefix - s->cp_prefix < s->cp_step || s->prefix == s->n_chunks)
		return;
	s->cp_prefix = s->prefix;
	send_index_checkpoint(&s->index, s->prefix * s->chunk_size / DWCP_DIGEST_PAGE,
			      dwcp_digest_resume_token(s->id, s->xfer), s->o.json);
}

/* One delivered chunk. @return 0 or the exit status of a failure. */
static int on_done(struct sender *s, uint32_t idx)
{
	struct dwcp_buf_hdr *h = dwcp_client_hdr(&s->c, idx);
	const struct dwcp_chunk_hdr *ch = dwcp_client_data(&s->c, idx);
	unsigned st = h->status, why = (unsigned)h->result;
	uint64_t seq = h->seq;
	char note[160];

	/* A second copy's answer makes this one low by one for a while: one
	 * chunk more in flight, never an underflow. */
	if (s->inflight)
		s->inflight--;
	s->sum.bytes_wire += h->wire_len;   /* every transmission of it, resends included */
	if (seq >= s->n_chunks || (s->acked_map[seq / 64] >> (seq % 64) & 1)) {
		dwcp_client_free(&s->c, idx);   /* a second copy's answer */
		return 0;
	}
	if (st == DWCP_BUF_OK) {
		s->acked_map[seq / 64] |= 1ull << (seq % 64);
		s->acked++;
		s->acked_bytes += ch->orig_len;
		/* The stream's progress for dwcpctl top and /metrics. */
		dwcp_stats_add(s->c.stats, DWCP_STAT_OPS, 1);
		dwcp_stats_add(s->c.stats, DWCP_STAT_BYTES, ch->orig_len);
		/* One transmission's bytes: a resend still waiting in a socket
		 * buffer when the ACK came was not carried by the link. */
		send_auto_acked(s->codec, seq, ch->orig_len, DWCP_CHUNK_HDR_LEN + ch->body_len);
		s->sum.resent += h->result;
		dwcp_hist_record(&s->sum.lat, dwcp_now_ns() - h->t_submit_ns);
		s->last_progress_ns = dwcp_now_ns();
		dwcp_client_free(&s->c, idx);
		checkpoint(s);
		return 0;
	}
	dwcp_client_free(&s->c, idx);
	if (st == DWCP_BUF_ENACK && (why == DWCP_BUF_EBASE || why == DWCP_BUF_EKEPT) &&
	    s->n_redo < 4096) {
		/* EKEPT: the receiver's copy is not the version the index
		 * describes (changed, or missing): nothing more is kept from
		 * that version (a resumed send keeps from two), and
		 * this chunk is redone against the delta cache (raw if refused
		 * again). EBASE: one delta base was missing from the
		 * receiver's cache (its order of insertions differs from ours,
		 * more so with several workers): this chunk alone goes again,
		 * with no cache base (its changed pages whole, its kept pages
		 * still kept), and raw if even that is refused so. */
		if (why == DWCP_BUF_EKEPT) {
			send_index_stop_keeping_at(&s->index, seq * s->chunk_size);
			s->unkept_map[seq / 64] |= 1ull << (seq % 64);
		} else {
			if (bit(s->nobase_map, seq))
				s->raw_map[seq / 64] |= 1ull << (seq % 64);
			s->nobase_map[seq / 64] |= 1ull << (seq % 64);
			s->sum.raw_resends++;
		}
		s->redo_seq[s->n_redo++] = seq;
		return 0;
	}
	s->sum.rejected++;
	if (st == DWCP_BUF_ENACK && why == DWCP_BUF_EDIGEST)
		return fail(s, "the receiver's whole-file digest differs from what was read here: it kept no new file at --out (with recv --inplace, the file there is neither version now). Did %s change during the send? Send it again", s->o.file);
	if (st == DWCP_BUF_ENACK && why == DWCP_BUF_ESTALE)
		return fail(s, "the receiver took this transfer for a stale one: its `dwcp recv` was started again during this send (it holds what the one before it kept, not all this send had delivered), or a newer send of the stream took over");
	if (st == DWCP_BUF_ENACK)
		return fail(s, "the receiver refused a chunk: %s%s", dwcp_buf_status_name(why),
			    why == DWCP_BUF_EAUTH ? "; check that both nodes' [crypto] key_file hold the same key" :
			    why == DWCP_BUF_ESINK ? " (its `dwcp recv` said why: a full disk, an I/O error, a block device smaller than this file); fix that first" :
			    "");
	if (st == DWCP_BUF_ENOPEER)
		return fail(s, "%s", net_note(s, note, sizeof(note)) ?: "peer unreachable");
	return fail(s, "a chunk failed on this node: %s (see the node's log)", dwcp_buf_status_name(st));
}

static int run(struct sender *s)
{
	const uint64_t t0 = dwcp_now_ns();
	uint64_t next_draw = 0;
	char note[160];

	s->last_progress_ns = t0;
	while (s->acked < s->n_chunks) {
		uint32_t got[BATCH];
		unsigned n;
		int rc;

		if (xfer_supervisor_died(&s->c, s->o.instance, note, sizeof(note)))
			return fail(s, "%s", note);
		if (xfer_stop_signal())
			return fail(s, "stopped by signal %d (%llu of %llu chunks acknowledged)",
				    xfer_stop_signal(), (unsigned long long)s->acked,
				    (unsigned long long)s->n_chunks);
		rc = feed(s);

		if (rc)
			return rc;
		n = dwcp_client_poll(&s->c, got, BATCH);
		for (unsigned i = 0; i < n; i++) {
			rc = on_done(s, got[i]);
			if (rc) {
				for (unsigned j = i + 1; j < n; j++)
					dwcp_client_free(&s->c, got[j]);
				return rc;
			}
		}
		/* A key mismatch does not heal by waiting: say so now. */
		{
			int ne = __atomic_load_n(&s->c.at.shm.node->streams[s->ent].net_error, __ATOMIC_ACQUIRE);

			if ((ne == EKEYREJECTED || ne == ENOKEY) && !s->acked)
				return fail(s, "%s", net_note(s, note, sizeof(note)));
		}
		if (receiver_gone(s))
			return fail(s, "the receiver went away mid-transfer (its `dwcp recv` ended): start `dwcp recv --stream %s` on %s again, then run this dwcp send again",
				    s->o.stream, s->c.at.shm.node->streams[s->ent].peer);
		if (dwcp_now_ns() - s->last_progress_ns > (uint64_t)s->o.timeout_s * 1000000000ull) {
			const char *why = net_note(s, note, sizeof(note));

			return fail(s, "no progress for %u s: %s (%llu of %llu chunks acknowledged, %llu in flight, %u not yet taken by this node's first service, %u to send again)",
				    s->o.timeout_s,
				    why ? why : s->acked ? "the receiver stopped acknowledging (is its node up? if its `dwcp recv` was started again during this send, run this send again)" :
				    "the receiver acknowledged nothing (is its node up?)",
				    (unsigned long long)s->acked, (unsigned long long)s->n_chunks,
				    (unsigned long long)s->inflight, s->n_unsent, s->n_redo);
		}
		if (!s->o.no_progress && !s->o.json && dwcp_now_ns() >= next_draw) {
			next_draw = dwcp_now_ns() + 200000000ull;
			xfer_progress(s->acked_bytes, s->size, xfer_since(t0), net_note(s, note, sizeof(note)));
		}
		if (!n)
			dwcp_client_wait_or(&s->c, 20000000ull, read_done, s);
	}
	s->sum.seconds = xfer_since(t0);
	if (!s->o.no_progress && !s->o.json)
		xfer_progress(s->acked_bytes, s->size, s->sum.seconds, "done");
	xfer_progress_end();
	return 0;
}

/* Chunks svc-rdma wrote to the peer at @p addr so far (ipc/peers.h). */
static uint64_t peer_rdma_chunks(const struct dwcp_shm *shm, const char *addr)
{
	for (int i = 0; i < DWCP_MAX_PEERS; i++) {
		struct dwcp_peer_ent e;

		if (dwcp_peers_read(shm, i, &e) == 0 && e.dir == DWCP_PEER_OUT && strcmp(e.addr, addr) == 0)
			return e.rdma_chunks;
	}
	return 0;
}

/* Every op this send's programs name must have a service that runs it.
 * None has said so only while the node is starting or when a service is
 * missing from it: say that now, not as a failed chunk. */
static int check_engines(const struct sender *s)
{
	const struct dwcp_shm *shm = &s->c.at.shm;
	unsigned need[] = { DWCP_OP_CHECKSUM, DWCP_OP_TRANSMIT, s->seal ? DWCP_OP_SEAL : DWCP_OP_CHECKSUM,
			    !s->o.no_delta && shm->node->conf.delta ? DWCP_OP_DELTA : DWCP_OP_CHECKSUM };

	for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (dwcp_route_engine(shm, need[i]) == DWCP_SLOT_NONE) {
			fprintf(stderr, PROG ": no service of node %s runs the %s step yet (is the node still starting? `dwcpctl status` shows its services)\n",
				s->o.instance, dwcp_op_name(need[i]));
			return -1;
		}
	return 0;
}

static int resolve_peer(struct sender *s, char addr[DWCP_ADDR_MAX])
{
	const struct dwcp_node_conf *nc = &s->c.at.shm.node->conf;
	struct sockaddr_storage ss;
	socklen_t len;
	struct dwcp_err err = { 0 };
	const char *a = NULL;

	for (unsigned i = 0; i < nc->n_peers && i < DWCP_CFG_MAX_PEERS; i++)
		if (strcmp(nc->peers[i].name, s->o.to) == 0)
			a = nc->peers[i].addr;
	if (!a && !strchr(s->o.to, ':')) {
		fprintf(stderr, PROG ": bad peer '%s': not a peer name in this node's [peers] and not HOST:PORT\n",
			s->o.to);
		return -EINVAL;
	}
	if (!a)
		a = s->o.to;
	if (dwcp_addr_resolve(a, &ss, &len, &err)) {
		fprintf(stderr, PROG ": bad peer '%s': %s\n", s->o.to, err.msg);
		return err.code;
	}
	snprintf(addr, DWCP_ADDR_MAX, "%s", a);
	return 0;
}

/* The transfer id: the wall clock in ms (32 bits, 0 skipped), so that a
 * receiver can tell a run of the stream that started later (a re-run
 * after a killed send: it starts over with it) from a resend of an
 * earlier run (refused), by serial-number order; that holds for runs less
 * than 24 days apart from one sending node whose clock does not step
 * back. */
static uint32_t new_xfer_id(void)
{
	struct timespec ts;
	uint32_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
	return x ? x : 1;
}

/* Open --file, refusing anything but a regular file or a block device
 * (an LVM volume, a disk: read as it is; send a snapshot of one in use)
 * at once. */
static int open_file(struct sender *s)
{
	const char *what;
	int e;

	/* O_NONBLOCK: a FIFO with no writer would block open() forever. */
	s->fd = open(s->o.file, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &s->st0)) {
		e = errno;
		fprintf(stderr, PROG ": %s: %s\n", s->o.file, strerror(e));
		return -e;
	}
	if (S_ISREG(s->st0.st_mode) || S_ISBLK(s->st0.st_mode)) {
		if (fcntl(s->fd, F_SETFL, 0))
			return -errno;
		e = -dwcp_file_bytes(s->fd, &s->st0, &s->size);
		if (e) {
			fprintf(stderr, PROG ": %s: cannot read the block device's size: %s\n", s->o.file,
				strerror(e));
			return -e;
		}
		s->rd = file_read_of(s->fd);
		s->redo_rd = file_read_of(s->fd);
		/* front to back: the next window is read while this one is sent */
		if (file_read_direct(&s->rd))
			file_read_ahead(&s->rd);
		return 0;
	}
	what = S_ISDIR(s->st0.st_mode) ? "a directory" : S_ISFIFO(s->st0.st_mode) ? "a FIFO" :
	       S_ISCHR(s->st0.st_mode) ? "a character device" : S_ISBLK(s->st0.st_mode) ? "a block device" :
	       S_ISSOCK(s->st0.st_mode) ? "a socket" : "a special file";
	fprintf(stderr, PROG ": %s is %s, not a regular file or a block device: dwcp send sends files and disks (copy the data to a file first)\n",
		s->o.file, what);
	return -EINVAL;
}

/* The send failed: keep the index of the prefix the receiver
 * acknowledged, so that running it again resumes there (send_index.h). */
static void save_resume(struct sender *s)
{
	uint64_t pages;

	advance_prefix(s);
	pages = s->prefix * s->chunk_size / DWCP_DIGEST_PAGE;
	/* Said even with --json: it is part of the failure's message. */
	if (!send_index_save_resume(&s->index, pages, dwcp_digest_resume_token(s->id, s->xfer),
				    s->o.json))
		return;
	fprintf(stderr, PROG ": stream %s: its first %.1f MiB are delivered: run this send again (with `dwcp recv --stream %s` waiting there), and of those only the pages that change meanwhile travel\n",
		s->o.stream, (double)pages * DWCP_DIGEST_PAGE / 1048576.0, s->o.stream);
}

/* A first send of a stream larger than this node's delta cache: the
 * caches remember only a sample of its chunks (ipc/dcache.h). A resend
 * (a previous version to keep pages of) remembers every chunk that
 * travels; a cache of unknown size (none, or svc-mem not up) changes
 * nothing. */
static double cache_share(const struct sender *s, bool resend)
{
	const struct dwcp_shm *shm = &s->c.at.shm;
	struct dwcp_dcache_stats st;

	if (resend ||
	    !dwcp_dcache_sum(shm->dcache, shm->dcache_size, dwcp_route_workers(shm, DWCP_SLOT_MEM), &st))
		return 1.0;
	return dwcp_dcache_share(st.capacity, (s->size + DWCP_DCACHE_PAGE - 1) / DWCP_DCACHE_PAGE);
}

int dwcp_cli_send(int argc, char **argv)
{
	struct sender *s = calloc(1, sizeof(*s));
	struct dwcp_err err = { 0 };
	char addr[DWCP_ADDR_MAX];
	int rc = 1;
	bool resend;

	if (!s)
		return 1;
	if (parse(argc, argv, &s->o)) {
		free(s);
		return 2;
	}
	s->fd = -1;
	s->rd = file_read_of(-1);
	s->redo_rd = file_read_of(-1);
	if (dwcp_stream_check_name(s->o.stream, &err)) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		free(s);
		return 2;
	}
	if (open_file(s))
		goto out;
	/* A send stopped by SIGINT or SIGTERM leaves what a rerun resumes from. */
	xfer_catch_stop_signals();
	if (xfer_client_open(&s->c, s->o.instance, s->o.run_dir, "dwcp send", PROG, &s->attach_cpu_s))
		goto out;
	if (resolve_peer(s, addr))
		goto out_client;
	if (s->c.at.shm.buf_size < 8192) {
		fprintf(stderr, PROG ": node %s has %u-byte buffers; chunks need at least 8192 (raise [pool] buf_size)\n",
			s->o.instance, s->c.at.shm.buf_size);
		goto out_client;
	}
	s->chunk_size = s->c.at.shm.node->conf.chunk_size;
	if (!s->chunk_size || s->chunk_size + 4096 > s->c.at.shm.buf_size)
		s->chunk_size = (s->c.at.shm.buf_size - 4096) & ~4095u;
	s->n_chunks = s->size ? (s->size + s->chunk_size - 1) / s->chunk_size : 1;
	/* A checkpoint of the resume index every 1/8 of the file, 64 MiB to
	 * 1 GiB: a 500 GiB image's costs 2.5 GiB of index written once, in
	 * 500 appends. */
	s->cp_step = s->size / 8 < (64ull << 20) ? (64ull << 20) :
		     s->size / 8 > (1ull << 30) ? (1ull << 30) : s->size / 8;
	s->cp_step = s->cp_step / s->chunk_size ? s->cp_step / s->chunk_size : 1;
	s->window = s->o.window ? s->o.window : s->c.at.shm.node->conf.window;
	/* Leave the pool room for the pipeline's out-of-place steps and other users. */
	if (s->window > s->c.at.shm.n_bufs / 4)
		s->window = s->c.at.shm.n_bufs / 4 ? s->c.at.shm.n_bufs / 4 : 1;
	s->seal = s->c.at.shm.ctl->key_file[0] != '\0';
	if (!s->seal && !s->o.json)
		fprintf(stderr, PROG ": no [crypto] key_file on this node: chunks travel unencrypted (checksummed only)\n");
	if (check_engines(s))
		goto out_client;
	s->id = dwcp_stream_id(s->o.stream);
	s->xfer = new_xfer_id();
	s->ent = dwcp_streams_register(&s->c.at.shm, DWCP_STREAM_SEND, s->o.stream, s->xfer, addr,
				       s->c.at.slot, s->c.at.gen, &err);
	if (s->ent < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		goto out_client;
	}
	if (dwcp_digest_init(&s->digest)) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out_client;
	}
	s->acked_map = calloc((s->n_chunks + 63) / 64, sizeof(uint64_t));
	s->unkept_map = calloc((s->n_chunks + 63) / 64, sizeof(uint64_t));
	s->nobase_map = calloc((s->n_chunks + 63) / 64, sizeof(uint64_t));
	s->raw_map = calloc((s->n_chunks + 63) / 64, sizeof(uint64_t));
	s->kept_n = calloc(s->n_chunks, 1);
	s->moved_n = calloc(s->n_chunks, 1);
	send_index_open(&s->index, &s->c.at.shm.node->conf, s->o.instance, s->o.stream, addr,
			!s->o.no_delta && s->c.at.shm.node->conf.delta, s->o.json);
	if (s->index.keep)
		s->moves = send_moves_create(&s->index.old, s->size);   /* NULL: only kept pages */
	resend = send_index_resend(&s->index);
	s->cache_share = cache_share(s, resend);
	s->codec = send_auto_create(&s->c.at.shm, s->o.codec >= 0 ? (unsigned)s->o.codec :
				    s->c.at.shm.node->conf.codec, s->n_chunks, resend);
	if (!s->acked_map || !s->unkept_map || !s->nobase_map || !s->raw_map || !s->kept_n ||
	    !s->moved_n || !s->codec) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out_client;
	}
	s->sum = (struct xfer_summary){ .role = "send", .stream = s->o.stream, .path = s->o.file,
					.resumed_bytes = s->index.resumed_bytes };
	if (s->index.resumed_bytes && !s->o.json)
		fprintf(stderr, PROG ": stream %s: resuming an interrupted send: of its first %.1f MiB, the pages that did not change do not travel again\n",
			s->o.stream, (double)s->index.resumed_bytes / 1048576.0);
	dwcp_hist_reset(&s->sum.lat);
	/* (another send to the same peer meanwhile counts too: one table entry per peer) */
	s->sum.rdma_chunks = peer_rdma_chunks(&s->c.at.shm, addr);
	if (job_queue_init(&s->reads, sizeof(struct read_job), READ_AHEAD, s->o.threads > 1, send_read_chunk,
			   read_notify, s)) {
		fprintf(stderr, PROG ": out of memory\n");
		rc = 1;
		goto out_stream;
	}
	rc = run(s);
	stop_reader(s);
	if (rc)
		save_resume(s);
	s->sum.rdma_chunks = peer_rdma_chunks(&s->c.at.shm, addr) - s->sum.rdma_chunks;
	s->sum.transport = s->sum.rdma_chunks ? "rdma" : "tcp";
	if (rc == 0) {
		/* Every chunk acknowledged: the receiver holds this version. */
		send_index_commit(&s->index, s->size, s->digest_final, s->o.json);
		/* What did not travel in the end: a chunk redone whole counts
		 * as sent. */
		for (uint64_t i = 0; i < s->n_chunks; i++) {
			s->sum.kept_pages += s->kept_n[i];
			s->sum.moved_pages += s->moved_n[i];
		}
		s->sum.bytes = s->size;
		s->sum.chunks = s->n_chunks;
		send_auto_summary(s->codec, &s->sum);
		s->sum.direct_bytes = s->rd.direct_bytes;
		s->sum.main_thread_cpu_s = xfer_thread_cpu_s() - s->attach_cpu_s;
		s->sum.attach_cpu_s = s->attach_cpu_s;
		s->sum.io_thread_cpu_s = file_read_ahead_cpu_s(&s->rd);
		s->sum.stage_thread_cpu_s = job_queue_cpu_s(&s->reads);
		xfer_print_summary(&s->sum, s->o.json);
	}
out_stream:
	dwcp_streams_unregister(&s->c.at.shm, s->ent, s->c.at.slot, s->c.at.gen);
out_client:
	/* Exiting detaches: the supervisor frees what this client still held. */
out:
	file_read_close(&s->rd);
	file_read_close(&s->redo_rd);
	if (s->fd >= 0)
		close(s->fd);
	free(s->acked_map);
	free(s->unkept_map);
	free(s->nobase_map);
	free(s->raw_map);
	free(s->kept_n);
	free(s->moved_n);
	send_moves_destroy(s->moves);
	send_index_close(&s->index);
	send_auto_destroy(s->codec);
	dwcp_digest_fini(&s->digest);
	job_queue_fini(&s->reads);
	free(s);
	return rc;
}
