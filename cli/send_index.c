/* `dwcp send`'s page index (send_index.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/paths.h"
#include "send_index.h"

#define PROG "dwcp send"

const char *send_index_dir(const struct dwcp_node_conf *nc)
{
	return nc->index_dir[0] ? nc->index_dir : DWCP_CFG_INDEX_DIR;
}

void send_index_open(struct send_index *x, const struct dwcp_node_conf *nc, const char *instance,
		     const char *stream, const char *peer, bool keep, bool quiet)
{
	struct dwcp_cpu_features cpu;
	struct dwcp_err err = { 0 };
	int rc;

	*x = (struct send_index){ .keep = keep };
	x->w.fd = -1;
	x->cp.fd = -1;
	dwcp_cpu_detect(&cpu);
	dwcp_weaksum_select(&x->weak, &cpu);
	if (dwcp_fpindex_path(x->path, sizeof(x->path), send_index_dir(nc), instance, stream, peer)) {
		if (!quiet)
			fprintf(stderr, PROG ": [stream] index_dir %s too long for a page index: every page travels\n",
				send_index_dir(nc));
		x->keep = false;
		return;
	}
	if ((size_t)snprintf(x->resume_path, sizeof(x->resume_path), "%s.resume", x->path) >=
	    sizeof(x->resume_path))
		x->resume_path[0] = '\0';
	/* An interrupted send's prefix is newer than the last whole version,
	 * which still serves the pages past it. */
	rc = x->keep && x->resume_path[0] ? dwcp_fpindex_open(&x->old, x->resume_path, &err) : -ENOENT;
	if (rc == 0) {
		x->resumed_bytes = x->old.file_size;
		x->keep_whole = dwcp_fpindex_open(&x->whole, x->path, &err) == 0;
		if (!x->keep_whole)
			dwcp_fpindex_close(&x->whole);
	} else {
		if (rc != -ENOENT && !quiet)
			fprintf(stderr, PROG ": %s; resuming nothing\n", err.msg);
		dwcp_fpindex_close(&x->old);
		rc = dwcp_fpindex_open(&x->old, x->path, &err);
	}
	if (rc && rc != -ENOENT && !quiet)
		fprintf(stderr, PROG ": %s; every page travels this time\n", err.msg);
	if (rc)
		x->keep = false;
	rc = dwcp_fpindex_begin(&x->w, x->path, &err);
	if (rc && !quiet)
		fprintf(stderr, PROG ": %s: the next send of this stream will move every page again\n",
			err.msg);
	x->writing = rc == 0;
}

void send_index_page_keys(const struct send_index *x, const uint8_t *data, uint32_t len, unsigned n,
			  uint32_t *keys)
{
	for (unsigned i = 0; i < n; i++) {
		const uint64_t at = (uint64_t)i * DWCP_WEAKSUM_WINDOW;
		struct dwcp_weaksum s;

		if (at + DWCP_WEAKSUM_WINDOW <= len) {
			x->weak.page(data + at, &s);
		} else {
			uint8_t pad[DWCP_WEAKSUM_WINDOW] = { 0 };

			if (at < len)
				memcpy(pad, data + at, len - at);
			x->weak.page(pad, &s);
		}
		keys[i] = dwcp_weaksum_key(&s);
	}
}

uint64_t send_index_pages(struct send_index *x, uint64_t offset, unsigned n,
			  const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH], const uint32_t *keys)
{
	uint64_t mask;

	if (x->writing && dwcp_fpindex_add(&x->w, hashes, keys, n))
		x->writing = false;   /* the writer aborted itself; reported at commit */
	mask = send_index_kept(x, offset, n, hashes);
	x->kept_pages += (unsigned)__builtin_popcountll(mask);
	return mask;
}

/* The index pages of a chunk at @p offset are kept from, NULL: none.
 * Chunks are whole chunks of the prefix or past it (the prefix is whole
 * chunks); one across its end (another chunk size) keeps only what the
 * prefix has. */
static const struct dwcp_fpindex *index_at(const struct send_index *x, uint64_t offset)
{
	if (x->resumed_bytes && offset >= x->resumed_bytes)
		return x->keep_whole ? &x->whole : NULL;
	return x->keep ? &x->old : NULL;
}

uint64_t send_index_digest_at(const struct send_index *x, uint64_t offset)
{
	const struct dwcp_fpindex *ix = index_at(x, offset);

	return ix ? ix->digest : 0;
}

bool send_index_resend(const struct send_index *x)
{
	return (x->keep && x->old.digest) || (x->keep_whole && x->whole.digest);
}

void send_index_stop_keeping_at(struct send_index *x, uint64_t offset)
{
	if (x->resumed_bytes && offset >= x->resumed_bytes)
		x->keep_whole = false;
	else
		x->keep = false;
}

uint64_t send_index_kept(const struct send_index *x, uint64_t offset, unsigned n,
			 const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	const struct dwcp_fpindex *ix = index_at(x, offset);
	const uint64_t first = offset / DWCP_DIGEST_PAGE;
	uint64_t mask = 0;

	if (!ix || offset % DWCP_DIGEST_PAGE || n > 64)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *old = dwcp_fpindex_page(ix, first + i);

		if (old && !memcmp(old, hashes[i], DWCP_DIGEST_PAGE_HASH))
			mask |= 1ull << i;
	}
	return mask;
}

/* A checkpoint's sync (send_index_checkpoint), on cp_sync's thread: the
 * data, and the directory that holds its name. */
static int cp_sync_job(void *arg)
{
	struct send_index *x = arg;

	if (fdatasync(x->cp.fd))
		return -errno;
	return dwcp_sync_parent(x->resume_path);
}

/* Wait for the checkpoint's sync and end its thread: before cp's file
 * is closed or replaced. */
static void cp_sync_stop(struct send_index *x)
{
	if (x->cp_sync_on)
		io_async_stop(&x->cp_sync);
	x->cp_sync_on = false;
}

int send_index_commit(struct send_index *x, uint64_t size, uint64_t digest, bool quiet)
{
	struct dwcp_err err = { 0 };
	int rc;

	/* The receiver committed: no partial copy is left to resume from. */
	cp_sync_stop(x);
	dwcp_fpindex_cp_close(&x->cp);
	if (x->resume_path[0] && unlink(x->resume_path) && errno != ENOENT && !quiet)
		fprintf(stderr, PROG ": removing %s: %s\n", x->resume_path, strerror(errno));
	if (!x->writing) {
		if (!quiet)
			fprintf(stderr, PROG ": the page index %s was not written: the next send of this stream will move every page again\n",
				x->path);
		return -EIO;
	}
	x->writing = false;
	rc = dwcp_fpindex_commit(&x->w, size, digest, &err);
	if (rc && !quiet)
		fprintf(stderr, PROG ": %s: the next send of this stream will move every page again\n",
			err.msg);
	return rc;
}

bool send_index_save_resume(struct send_index *x, uint64_t n_pages, uint64_t token, bool quiet)
{
	struct dwcp_err err = { 0 };

	if (!x->writing || !n_pages || !x->resume_path[0])
		return false;
	x->writing = false;
	cp_sync_stop(x);
	dwcp_fpindex_cp_close(&x->cp);   /* the rename below replaces its file */
	if (dwcp_fpindex_commit_prefix(&x->w, x->resume_path, n_pages, token, &err)) {
		if (!quiet)
			fprintf(stderr, PROG ": %s: a rerun resumes nothing\n", err.msg);
		return false;
	}
	return true;
}

void send_index_checkpoint(struct send_index *x, uint64_t n_pages, uint64_t token, bool quiet)
{
	struct dwcp_err err = { 0 };

	if (!x->writing || !x->resume_path[0] || x->cp.failed)
		return;
	/* The last one's sync (long done: a checkpoint is 1/8 of the file). */
	if (x->cp_sync_on && io_async_wait(&x->cp_sync) && !quiet)
		fprintf(stderr, PROG ": syncing %s: a crash of this host would lose the last checkpoint\n",
			x->resume_path);
	if (dwcp_fpindex_checkpoint(&x->w, &x->cp, x->resume_path, n_pages, token, &err)) {
		if (!quiet)
			fprintf(stderr, PROG ": %s: a send killed from now on resumes nothing\n", err.msg);
		return;
	}
	if (!x->cp_sync_on)
		x->cp_sync_on = io_async_start(&x->cp_sync) == 0;
	if (x->cp_sync_on)
		io_async_submit(&x->cp_sync, cp_sync_job, x);
}

void send_index_close(struct send_index *x)
{
	cp_sync_stop(x);
	dwcp_fpindex_cp_close(&x->cp);
	dwcp_fpindex_close(&x->old);
	dwcp_fpindex_close(&x->whole);
	dwcp_fpindex_abort(&x->w);
	x->writing = false;
}
