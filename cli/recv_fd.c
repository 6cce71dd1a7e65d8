/* Direct or buffered writes of dwcp recv's output (recv_fd.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"
#include "job_queue.h"
#include "recv_fd.h"

/* Direct writes go in whole pages only: the runs recv writes are pages,
 * and a page never has a direct and a buffered writer at once. */
#define DIRECT_UNIT 4096u

/* A run shorter than this goes through the page cache: each direct write
 * is a synchronous trip to the device and an extent of its own, so short
 * runs (pages between holes) cost more CPU direct than buffered
 * (measured, 2-core VM: 16 KiB writes 1.6 CPU-s per GB direct against
 * 0.5 buffered; 256 KiB 0.23 direct, buffered 0.23 with free memory and
 * up to 1.5 once the page cache must be reclaimed to make room). */
#define DIRECT_MIN (128u << 10)

/* One pwrite of all of a run, direct while its offset, length and memory
 * allow. Run inline, or on the writer thread for a full bounce buffer:
 * it touches only itself. */
struct write_job {
	int fd, direct;             /* direct -1: buffered only */
	uint32_t align, mem_align;
	const uint8_t *p;
	size_t n;
	uint64_t off;
	uint8_t *bounce;            /* the bounce it writes (the owner's, back when done) */
	uint64_t start;             /* where it writes from (off moves as it goes) */
	int rc;                     /* out: 0 or -errno */
	uint64_t direct_bytes;      /* out: written direct */
	bool refused;               /* out: the file system refused direct I/O */
};

/* The writer thread, its queue, and the bounces no job holds. */
struct recv_fd_async {
	struct job_queue q;         /* struct write_job each, written in order */
	uint8_t *free[RECV_FD_QUEUE];
	unsigned n_free;
};

/* pwrite(2) all of @p j's bytes, through short writes and EINTR. */
static int job_write(struct write_job *j)
{
	while (j->n) {
		bool direct = j->direct >= 0 && j->off % j->align == 0 && j->n % j->align == 0 &&
			      (uintptr_t)j->p % j->mem_align == 0;
		ssize_t got = pwrite(direct ? j->direct : j->fd, j->p, j->n, (off_t)j->off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && direct && errno == EINVAL) {
			j->direct = -1;            /* the file system's refusal: buffered from now on */
			j->refused = true;
			continue;
		}
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		if (direct)
			j->direct_bytes += (uint64_t)got;
		j->p += got;
		j->n -= (size_t)got;
		j->off += (uint64_t)got;
	}
	return 0;
}

static void job_run(void *job, void *ctx)
{
	struct write_job *j = job;

	(void)ctx;
	j->rc = job_write(j);
}

static struct write_job job_of(const struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off)
{
	return (struct write_job){ .fd = w->fd, .direct = w->direct_refused ? -1 : w->direct,
				   .align = w->align, .mem_align = w->mem_align, .p = p, .n = n,
				   .off = off };
}

bool recv_fd_direct(struct recv_fd *w)
{
	uint32_t mem_align;
	int fd;

	if (w->direct >= 0)
		return true;
	fd = file_direct_reopen(w->fd, O_WRONLY, &mem_align);
	if (fd < 0)
		return false;
	w->bounce = file_io_buf(RECV_FD_BOUNCE);
	if (!w->bounce) {
		close(fd);
		return false;
	}
	w->direct = fd;
	w->direct_refused = false;
	w->align = DIRECT_UNIT;
	w->mem_align = mem_align;
	return true;
}

/* The writer thread and its bounces, at the first full bounce (a small
 * file never needs them). Without them (no memory, no thread) each
 * bounce is written inline, as before. @return whether there is one. */
static bool writer_start(struct recv_fd *w)
{
	struct recv_fd_async *a;

	if (w->async)
		return true;
	if (w->no_async)
		return false;
	a = calloc(1, sizeof(*a));
	if (a && !job_queue_init(&a->q, sizeof(struct write_job), RECV_FD_QUEUE, true, job_run, NULL,
				 NULL) && job_queue_threaded(&a->q)) {
		while (a->n_free < RECV_FD_QUEUE && (a->free[a->n_free] = file_io_buf(RECV_FD_BOUNCE)))
			a->n_free++;
		if (a->n_free == RECV_FD_QUEUE) {
			w->async = a;
			return true;
		}
	}
	if (a) {
		job_queue_fini(&a->q);
		for (unsigned i = 0; i < a->n_free; i++)
			free(a->free[i]);
		free(a);
	}
	w->no_async = true;
	return false;
}

/* Direct I/O off for the rest of the receive; the bounce stays (its
 * bytes are still to be written, buffered now). */
static void direct_off(struct recv_fd *w)
{
	if (w->direct >= 0)
		close(w->direct);
	w->direct = -1;
}

/* What a write job did, told to @p w. After a refusal no new job goes
 * direct, and the direct descriptor is closed once no queued write names
 * it: closed under one, that write would fail, or land in whatever file
 * took the descriptor's number meanwhile. */
static int job_done(struct recv_fd *w, const struct write_job *j, int rc)
{
	w->direct_bytes += j->direct_bytes;
	if (j->refused)
		w->direct_refused = true;
	if (w->direct_refused && (!w->async || !job_queue_queued(&w->async->q)))
		direct_off(w);
	return rc;
}

/* Take back the writer's oldest job, waiting for it, and its bounce.
 * @return its result; 0 when none is queued. */
static int writer_collect(struct recv_fd *w)
{
	struct recv_fd_async *a = w->async;
	struct write_job *j = a ? job_queue_wait(&a->q) : NULL, done;

	if (!j)
		return 0;
	done = *j;
	a->free[a->n_free++] = done.bounce;
	job_queue_pop(&a->q);
	return job_done(w, &done, done.rc);   /* after the pop: the queue may be empty now */
}

/* Wait for every write the writer has. @return the first error. */
static int writer_wait(struct recv_fd *w)
{
	int rc = 0;

	while (w->async && job_queue_queued(&w->async->q)) {
		int r = writer_collect(w);

		rc = rc ? rc : r;
	}
	return rc;
}

void recv_fd_direct_close(struct recv_fd *w)
{
	if (w->async) {
		writer_wait(w);
		job_queue_fini(&w->async->q);
		for (unsigned i = 0; i < w->async->n_free; i++)
			free(w->async->free[i]);
		free(w->async);
		w->async = NULL;
	}
	direct_off(w);
	free(w->bounce);
	w->bounce = NULL;
	w->pend_len = 0;
}

static int write_all(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off)
{
	struct write_job j = job_of(w, p, n, off);

	return job_done(w, &j, job_write(&j));
}

int recv_fd_flush(struct recv_fd *w)
{
	size_t n = w->pend_len;
	int rc = writer_wait(w), rc2;

	w->pend_len = 0;
	rc2 = n ? write_all(w, w->bounce, n, w->pend_off) : 0;
	return rc ? rc : rc2;
}

uint64_t recv_fd_landed(const struct recv_fd *w, uint64_t upto)
{
	const struct write_job *j;

	if (w->pend_len && w->pend_off < upto)
		upto = w->pend_off;
	for (unsigned k = 0; w->async && (j = job_queue_peek(&w->async->q, k)) != NULL; k++)
		if (j->start < upto)
			upto = j->start;
	return upto;
}

double recv_fd_writer_cpu_s(const struct recv_fd *w)
{
	return w->async ? job_queue_cpu_s(&w->async->q) : 0;
}

void recv_fd_drop(struct recv_fd *w)
{
	/* The writes queued land before whatever the caller does next (a
	 * truncation), never after it. Their errors no longer matter: their
	 * bytes are being dropped too. */
	writer_wait(w);
	w->pend_len = 0;
}

/* The bounce is full or does not continue: its bytes go to the file, by
 * the writer while the caller fills another bounce where there is one. */
static int bounce_out(struct recv_fd *w)
{
	struct recv_fd_async *a;
	struct write_job *j;
	int rc;

	if (!writer_start(w))
		return recv_fd_flush(w);
	a = w->async;
	/* Writes done are taken back (their errors told now), and with every
	 * bounce but this one queued, the oldest is waited for. */
	while (job_queue_done(&a->q) || !a->n_free)
		if ((rc = writer_collect(w)) != 0)
			return rc;
	j = job_queue_next(&a->q);
	*j = job_of(w, w->bounce, w->pend_len, w->pend_off);
	j->bounce = w->bounce;
	j->start = w->pend_off;
	job_queue_push(&a->q);
	w->bounce = a->free[--a->n_free];
	w->pend_len = 0;
	return 0;
}

int recv_fd_pwrite(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off)
{
	/* A short run that continues the bounce's is part of a long one (a
	 * kept run, then the chunk's data): it joins. */
	bool continues = w->pend_len && w->pend_off + w->pend_len == off;
	size_t whole = w->direct >= 0 && off % w->align == 0 && (n >= DIRECT_MIN || continues) ?
		       n - n % w->align : 0;
	int rc;

	/* Whole pages join the bounce, which is written when it is full or
	 * the next run does not continue it: fewer, larger direct writes
	 * (each costs a trip to the device, on a VM an exit to the host). */
	while (whole) {
		size_t k;

		if (w->pend_len && (w->pend_off + w->pend_len != off || w->pend_len == RECV_FD_BOUNCE) &&
		    (rc = bounce_out(w)))
			return rc;
		if (!w->pend_len)
			w->pend_off = off;
		k = RECV_FD_BOUNCE - w->pend_len < whole ? RECV_FD_BOUNCE - w->pend_len : whole;
		memcpy(w->bounce + w->pend_len, p, k);
		w->pend_len += k;
		p += k;
		n -= k;
		off += k;
		whole -= k;
	}
	return n ? write_all(w, p, n, off) : 0;
}

int recv_fd_write_sparse(struct recv_fd *w, const uint8_t *p, size_t n, uint64_t off,
			 uint64_t zeros, bool *hole_at_end)
{
	size_t at = 0, from = 0;   /* [from, at): bytes to write, not yet written */
	int rc;

	while (at < n) {
		size_t z = at;

		while (n - z >= DIRECT_UNIT && z / DIRECT_UNIT < 64 && zeros >> (z / DIRECT_UNIT) & 1)
			z += DIRECT_UNIT;
		if (z == at) {
			at += n - at < DIRECT_UNIT ? n - at : DIRECT_UNIT;
			continue;
		}
		if (recv_fd_writes_zeros(w, z - at)) {
			at = z;            /* written with the run around them */
			continue;
		}
		if (at > from && (rc = recv_fd_pwrite(w, p + from, at - from, off + from)))
			return rc;
		from = at = z;
	}
	/* from moves only past a hole, so reaching the end means one ended it. */
	*hole_at_end = n && from == n;
	return at > from ? recv_fd_pwrite(w, p + from, at - from, off + from) : 0;
}
