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
 * registered (recv_out.h: no symlink, directory or special file is ever
 * written through or replaced; a block device is written in place), so a
 * refused --out never lets a sender believe
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
 *
 * This file: options, the wait loop, the commit and what a failure keeps
 * (cli/recv_partial.h); each chunk's handling is cli/recv_chunk.c.
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

#include "common/cpu.h"
#include "common/paths.h"
#include "common/timeutil.h"
#include "ipc/abi.h"
#include "ipc/chunk.h"
#include "ipc/streams.h"
#include "cli_internal.h"
#include "recv_pvt.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dwcp recv --stream NAME [--out PATH] [options]\n"
		"  Wait for stream NAME on this node and write it to PATH (default: the node's\n"
		"  [recv] dir/NAME). PATH appears atomically, only once the whole stream is\n"
		"  written and synced; an existing PATH must be a regular file (it is replaced)\n"
		"  or a block device (an LVM volume, a disk: written in place, held exclusively;\n"
		"  links under /dev such as /dev/VG/LV are followed to it).\n"
		"  Without --out, NAME must not be \".\" or \"..\".\n"
		"options:\n"
		"  --inplace        write the new version into PATH itself, only the pages that\n"
		"                   changed (as rsync --inplace): faster on file systems without\n"
		"                   reflinks, but NOT atomic: if the receive fails or is killed,\n"
		"                   PATH is left half-written (run both again, this one with\n"
		"                   --inplace: what was written is kept and resumed). Needs\n"
		"                   PATH to be the copy the last receive wrote; otherwise the\n"
		"                   receive says so and replaces PATH atomically as usual\n"
		"  --no-partial     a receive that fails keeps nothing (by default it keeps what it\n"
		"                   wrote, private, as .NAME.dwcp-partial beside PATH, until the\n"
		"                   stream's next receive resumes from it or removes it)\n"
		"  --instance NAME  this node (default dwcp)\n"
		"  --run-dir DIR    runtime directory root (default /run/dwcp)\n"
		"  --timeout SEC    give up after SEC seconds without a chunk (default: wait)\n"
		"  --threads N      1: one thread checks, writes and digests; 2: a second one hashes\n"
		"                   each chunk's pages and finds its zero pages as it arrives\n"
		"                   (default: 2 from %u usable CPUs, else 1)\n"
		"  --json           print the summary as one JSON object\n"
		"  --no-progress    no progress line\n", XFER_THREADS_MIN_CPUS);
}

static int parse(int argc, char **argv, struct recv_opts *o)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, 'i' }, { "run-dir", required_argument, NULL, 'r' },
		{ "stream", required_argument, NULL, 's' }, { "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' }, { "timeout", required_argument, NULL, 'T' },
		{ "no-progress", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ "inplace", no_argument, NULL, 'I' }, { "no-partial", no_argument, NULL, 'N' },
		{ "threads", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct recv_opts){ .instance = DWCP_DEFAULT_INSTANCE, .threads = xfer_threads_auto() };
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
		case 'n':
			if (xfer_parse_count(PROG, "--threads", optarg, 2, "threads", &o->threads))
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

/* The checker finished a chunk: wake the receive's thread if it sleeps. */
static void checked_notify(void *arg)
{
	const struct receiver *r = arg;

	dwcp_client_notify(&r->c);
}

/* What the checker needs, and its thread where --threads says so.
 * Chunks it may hold: 8 MiB of 256 KiB chunks, ahead of the writing.
 * What it finds is kept per buffer index (1 KiB each) for the first
 * PRE_MAX buffers of the pool (a 1 GiB pool of 256 KiB chunks): chunks
 * in buffers past them, on a larger pool, are hashed when written, as
 * without a checker, so that this process's memory does not grow with
 * the node's. */
#define CHECK_AHEAD 32u
#define PRE_MAX 4096u
static int start_checker(struct receiver *r)
{
	struct dwcp_cpu_features cpu;

	if (r->o.threads > 1) {
		r->n_pre = r->c.at.shm.n_bufs < PRE_MAX ? r->c.at.shm.n_bufs : PRE_MAX;
		r->pre = calloc(r->n_pre, sizeof(*r->pre));
		if (!r->pre) {
			fprintf(stderr, PROG ": out of memory\n");
			return -ENOMEM;
		}
	}
	dwcp_cpu_detect(&cpu);
	dwcp_delta_select(&r->dz, &cpu);
	dwcp_xxh3_select(&r->xxh3, &cpu);
	if (job_queue_init(&r->checks, sizeof(uint32_t), CHECK_AHEAD, r->o.threads > 1, recv_check_chunk,
			   checked_notify, r)) {
		fprintf(stderr, PROG ": out of memory\n");
		return -ENOMEM;
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

	/* No checkpoint may record anything after what is decided here. */
	recv_out_settle(&r->out);
	if (r->o.no_partial || r->bad_data || r->out.w.fd < 0 || !valid) {
		/* (A checkpoint's copy goes with the temporary.) */
		if (recv_partial_withdraw(&r->part))
			fprintf(stderr, PROG ": stream %s: could not remove %s: remove it by hand\n",
				r->o.stream, r->part.record);
		return;
	}
	rc = recv_partial_keep(&r->part, &r->out, valid,
			       own ? dwcp_digest_resume_token(dwcp_stream_id(r->o.stream), r->xfer) :
				     r->resume.digest);
	if (rc) {
		fprintf(stderr, PROG ": stream %s: could not keep the %llu bytes received for a resume: %s\n",
			r->o.stream, (unsigned long long)valid, strerror(-rc));
		/* (e.g. a write error the sync reported: what a checkpoint
		 * recorded may not be on disk either) */
		(void)recv_partial_withdraw(&r->part);
	}
	else if (r->out.inplace)
		fprintf(stderr, PROG ": stream %s: kept the %llu bytes received in %s: run `dwcp recv%s --stream %s` again, then the send, and they do not travel again\n",
			r->o.stream, (unsigned long long)valid, r->path, r->out.device ? "" : " --inplace",
			r->o.stream);
	else
		fprintf(stderr, PROG ": stream %s: kept the %llu bytes received (as %s beside %s): run `dwcp recv --stream %s` again, then the send, and they do not travel again\n",
			r->o.stream, (unsigned long long)valid, r->part.name, r->path, r->o.stream);
}

int recv_fail(struct receiver *r, const char *fmt, ...)
{
	va_list ap;

	xfer_progress_end();
	fprintf(stderr, PROG ": stream %s: ", r->o.stream);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (r->out.inplace && r->ip.rewriting)
		fprintf(stderr, PROG ": stream %s: %s%s was being rewritten in place and is now no complete version%s\n",
			r->o.stream, r->out.device ? "" : "--inplace: ", r->path,
			r->o.no_partial ? "; with --no-partial, the next send moves every page" : "");
	keep_partial(r);
	recv_out_abort(&r->out);
	return 1;
}

/* Send a buffer back to svc-net with one step, @p op, with @p why. */
static void to_net(struct receiver *r, uint32_t idx, unsigned op, unsigned why)
{
	struct dwcp_buf_hdr *h = dwcp_client_hdr(&r->c, idx);
	unsigned net = dwcp_buf_origin_slot(h);

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

void recv_answer(struct receiver *r, uint32_t idx, unsigned why)
{
	to_net(r, idx, why ? DWCP_OP_NACK : DWCP_OP_ACK, why);
}

void recv_release(struct receiver *r, uint32_t idx)
{
	to_net(r, idx, DWCP_OP_RELEASE, 0);
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
			return recv_fail(r, "stopped by signal %d%s%s", xfer_stop_signal(),
					 r->out.inplace ? "" : "; nothing written to ", r->out.inplace ? "" : r->path);
		if (xfer_supervisor_died(&r->c, r->o.instance, why, sizeof(why)))
			return recv_fail(r, "%s", why);
		n = dwcp_client_poll(&r->c, got, BATCH);

		for (unsigned i = 0; i < n; i++) {
			int rc;

			if (r->done) {   /* copies behind the last chunk: answered from the done record */
				dwcp_client_free(&r->c, got[i]);
				continue;
			}
			rc = recv_on_chunk(r, got[i]);
			if (rc) {
				for (unsigned j = i + 1; j < n; j++)
					dwcp_client_free(&r->c, got[j]);
				return rc;
			}
		}
		if (!r->done) {
			int rc = recv_take_checked(r);

			if (rc)
				return rc;
		}
		if (r->o.timeout_s &&
		    dwcp_now_ns() - r->last_progress_ns > (uint64_t)r->o.timeout_s * 1000000000ull) {
			uint64_t af = __atomic_load_n(&r->c.at.shm.node->auth_failures, __ATOMIC_RELAXED) -
				      auth_failures0;

			if (!r->first_ns && af)
				return recv_fail(r, "no chunk for %u s: %llu connection(s) to this node failed authentication meanwhile (a sender with another key file? both nodes need the same [crypto] key_file)",
					    r->o.timeout_s, (unsigned long long)af);
			return recv_fail(r, "no chunk for %u s%s", r->o.timeout_s,
				    r->first_ns ? " (the sender stopped)" : " (nobody sent this stream)");
		}
		if (!r->o.no_progress && !r->o.json && r->first_ns && dwcp_now_ns() >= next_draw) {
			next_draw = dwcp_now_ns() + 200000000ull;
			xfer_progress(r->written, 0, xfer_since(r->first_ns), "receiving");
		}
		if (!n && !r->done)
			dwcp_client_wait_or(&r->c, 50000000ull, recv_checked_ready, r);
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
		recv_answer(r, r->last_idx, DWCP_BUF_ESINK);
		return recv_fail(r, "writing %s: %s; nothing delivered", r->path, strerror(-rc));
	}
	/* all its writes done; the commit ends the thread */
	r->sum.io_thread_cpu_s = recv_fd_writer_cpu_s(&r->out.w);
	if (r->out.inplace || r->resuming) {
		rc = recv_inplace_end(&r->ip, r->resuming ? &r->resume : &r->base, &r->out.w, r->written);
		if (rc) {
			recv_answer(r, r->last_idx, DWCP_BUF_ESINK);
			return recv_fail(r, "truncating %s to %llu bytes: %s", r->path,
				    (unsigned long long)r->written, strerror(-rc));
		}
	}
	recv_out_settle(&r->out);   /* no checkpoint records anything after the drop below */
	have_st = fstat(r->out.w.fd, &st) == 0;   /* a rename keeps dev, inode and mtime */
	/* Whole now: no partial copy is of use (the resumed one becomes the output). */
	recv_partial_drop(&r->part, r->out.dirfd,
			  r->out.named_tmp && strcmp(r->out.tmp, r->part.name) == 0);
	if (recv_out_commit(&r->out, why, sizeof(why))) {
		recv_answer(r, r->last_idx, DWCP_BUF_ESINK);
		return recv_fail(r, "%s; nothing delivered", why);
	}
	/* The next receive of the stream may fill kept pages from this file. */
	if (!have_st || recv_base_record(&r->base, &st, dwcp_digest_final(&r->digest)))
		if (!r->o.json)
			fprintf(stderr, PROG ": stream %s: could not record %s as the stream's previous copy: the next send moves every page\n",
				r->o.stream, r->path);
	recv_answer(r, r->last_idx, 0);
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

	if (r->o.out && recv_out_device_link(r->o.out, r->path, sizeof(r->path))) {
		/* /dev/VG/LV and the like: the block device they name */
	} else if (r->o.out)
		snprintf(r->path, sizeof(r->path), "%s", r->o.out);
	else {
		int rc;

		/* The stream name is the file name: the name check leaves only
		 * [A-Za-z0-9._-], so "." and ".." are the names that are not
		 * files. A leading '.' is fine (a hidden file). */
		if (strcmp(r->o.stream, ".") == 0 || strcmp(r->o.stream, "..") == 0) {
			fprintf(stderr, PROG ": stream name '%s' cannot be a file name in the [recv] dir %s: give --out PATH (or another name)\n",
				r->o.stream, dir);
			return -EINVAL;
		}

		snprintf(r->path, sizeof(r->path), "%s/%s", dir, r->o.stream);
		rc = dwcp_mkdir_parents(r->path, 0755);
		if (rc) {
			fprintf(stderr, PROG ": cannot create [recv] dir %s: %s (give --out PATH)\n",
				dir, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* --inplace: write into the output itself when it is the base the record
 * vouches for; else keep why for open_partial (which may still resume in
 * place) to say, once, and stay on the atomic path. */
static void open_inplace(struct receiver *r)
{
	int rc = -ENOENT;

	if (r->base.fd >= 0) {
		rc = recv_out_inplace(&r->out, &r->base.st, r->inplace_why, sizeof(r->inplace_why));
		if (!rc)
			recv_inplace_begin(&r->ip, (uint64_t)r->base.st.st_size);
	} else {
		snprintf(r->inplace_why, sizeof(r->inplace_why), "%s", r->base.why);
	}
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
	if (r->out.device) {
		/* In place by nature: its size is the device's. */
		recv_inplace_begin(&r->ip, r->out.device_size);
		r->ip.fixed = true;
		if (!r->o.json)
			fprintf(stderr, PROG ": stream %s: writing the block device %s (%llu bytes) in place\n",
				r->o.stream, r->path, (unsigned long long)r->out.device_size);
	} else if (r->o.inplace) {
		open_inplace(r);
	}
	recv_partial_init(&r->part, r->out.name,
			  r->c.at.shm.node->conf.index_dir[0] ? r->c.at.shm.node->conf.index_dir :
			  DWCP_CFG_INDEX_DIR, r->o.instance, r->o.stream);
	return 0;
}

/* An output written in place is its own partial copy (recv_partial.h):
 * resume there when the record vouches for its prefix. A `--inplace`
 * receive whose base the record of a completed one no longer vouches for
 * (an interrupted in-place receive withdrew it) switches to it then. */
static void resume_in_place(struct receiver *r)
{
	char why[PATH_MAX + 160];

	if (!recv_partial_open_inplace(&r->part, &r->resume, r->out.dirfd, r->out.name))
		return;
	if (!r->out.inplace) {
		if (recv_out_inplace(&r->out, &r->resume.st, why, sizeof(why))) {
			fprintf(stderr, PROG ": stream %s: not resuming: %s\n", r->o.stream, why);
			recv_base_close(&r->resume);
			return;
		}
		recv_inplace_begin(&r->ip, (uint64_t)r->resume.st.st_size);
	}
	r->resuming = true;
	r->resumed_bytes = r->resume.valid;
	if (!r->o.json)
		fprintf(stderr, PROG ": stream %s: an earlier receive wrote %llu bytes to %s in place: a resumed send need not move them again\n",
			r->o.stream, (unsigned long long)r->resumed_bytes, r->path);
}

/* Resume from the partial copy an earlier receive kept, if it is still
 * what its record says (after the stream is registered: no other receive
 * of it runs): in place (resume_in_place), else the partial copy beside
 * the output. */
static void open_partial(struct receiver *r)
{
	char why[160];

	if (r->out.device || (r->o.inplace && !r->out.inplace)) {
		resume_in_place(r);
		if (r->o.inplace && !r->out.inplace)
			fprintf(stderr, PROG ": stream %s: --inplace: %s; writing a new file and replacing %s atomically instead\n",
				r->o.stream, r->inplace_why, r->path);
	}
	if (r->out.inplace || !recv_partial_open(&r->part, &r->resume, r->out.dirfd))
		return;
	if (recv_out_resume(&r->out, r->part.name, &r->resume.st, why, sizeof(why))) {
		fprintf(stderr, PROG ": stream %s: not resuming: %s\n", r->o.stream, why);
		recv_base_close(&r->resume);
		return;
	}
	/* A checkpoint's copy (its record vouches for a prefix): what lies
	 * beyond was never vouched for. Cut off, it is not read for kept
	 * pages (those are refused anyway, recv_base_holds) nor left between
	 * pages this transfer writes; left there, it costs nothing wrong. */
	if (r->resume.valid < (uint64_t)r->resume.st.st_size &&
	    ftruncate(r->out.w.fd, (off_t)r->resume.valid) == 0)
		(void)recv_base_rewritten(&r->resume);
	recv_inplace_begin(&r->ip, (uint64_t)r->resume.st.st_size);
	r->resuming = true;
	r->resumed_bytes = r->resume.valid;
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
	if (xfer_client_open(&r->c, r->o.instance, r->o.run_dir, "dwcp recv", PROG, &r->attach_cpu_s) ||
	    make_paths(r) || open_output(r))
		goto out;
	r->win = dwcp_reorder_create(r->c.at.shm.n_bufs, 0);
	if (!r->win || dwcp_digest_init(&r->digest) || start_checker(r))
		goto out;
	/* Before registering: the entry this receive takes may be the gone one's. */
	r->gone_xfer = dwcp_streams_gone_xfer(&r->c.at.shm, dwcp_stream_id(r->o.stream));
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
		r->sum.main_thread_cpu_s = xfer_thread_cpu_s() - r->attach_cpu_s;
		r->sum.attach_cpu_s = r->attach_cpu_s;
		r->sum.stage_thread_cpu_s = job_queue_cpu_s(&r->checks);
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
	job_queue_fini(&r->checks);   /* before pre[], which its thread writes */
	free(r->pre);
	free(r);
	return rc;
}
