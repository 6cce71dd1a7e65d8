/* The output file of `dwcp recv`, created so that no path trick
 * redirects it.
 *
 * The directory of the output is opened once and every later step is
 * relative to that descriptor, so a directory renamed or replaced
 * meanwhile cannot move the output elsewhere. The data goes to an
 * unnamed O_TMPFILE in that directory (nothing to plant a symlink at,
 * nothing left behind by any death, kill -9 included); where the file
 * system lacks O_TMPFILE, to a random hidden name created with
 * O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, removed on every failure this
 * process lives to see. Only once the data is fsync'd does it get a name:
 * a fresh random one (linkat, which never follows or replaces anything),
 * then renamed over the output name (rename replaces a directory entry,
 * never follows a symlink there), then the directory is fsync'd. So the
 * output appears whole and atomically, or not at all.
 *
 * An output name that exists and is a symlink, a directory or anything
 * but a regular file or a block device is refused before anything is
 * created: replacing a device node or a FIFO with a file, or writing
 * through a symlink, is never what the operator meant.
 *
 * A block device (an LVM volume, a disk, a partition) is written in
 * place, as with --inplace: it is opened exclusively (O_EXCL: refused
 * while it is mounted or held by device-mapper, RAID or another
 * exclusive user), nothing is renamed, committing syncs it, and a stream
 * shorter than the device leaves the rest of it as it was.
 *
 * `dwcp recv --inplace` (recv_out_inplace) trades that atomicity for
 * speed, as rsync's --inplace does: the data is written into the
 * existing output itself, opened with O_NOFOLLOW relative to the same
 * directory descriptor, and committing only syncs it.
 *
 * Writeback behind the writer: the data is written front to back, and
 * recv_out_written hands what lies behind the writer to the kernel's
 * writeback (sync_file_range) in a thread of its own, so that the fsync
 * at commit waits only for the tail instead of the whole file (measured:
 * 0.4-0.6 s of a 2 s, 512 MiB receive spent in that fsync with every
 * other process of both nodes idle), and a large image does not pile up
 * GiBs of dirty pages on the host first. sync_file_range blocks for a
 * while when the disk queue is full: that is why it is not the writer's.
 * Drop behind: what earlier rounds handed to writeback is waited for (by
 * the thread, on an open file of its own, so that a write error still
 * reaches the commit's fsync) and leaves the page cache (posix_fadvise
 * DONTNEED). A received image is seldom read again soon: the host's page
 * cache stays its VMs' (what direct I/O does for long runs, this does for
 * the pages written through the cache; measured on the bench's 1 GiB
 * image: 157 MB of it left in the cache after the receive, against 716).
 *
 * Concurrency: one thread calls these functions; one struct per output.
 * The flush thread only reads the descriptor and the directory's (and
 * runs a checkpoint's callback), and is joined before either is closed,
 * replaced or truncated.
 */
#ifndef DWCP_CLI_RECV_OUT_H
#define DWCP_CLI_RECV_OUT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/stat.h>

#include "recv_fd.h"

/**
 * What a checkpoint does once the first @p valid bytes of the output are
 * on disk (cli/recv_partial.h: record them). Runs in the flush thread;
 * @p fd is the file (read-only, the thread's own open file).
 */
typedef void (*recv_out_cp_fn)(void *arg, int fd, uint64_t valid, uint64_t tag);

struct recv_out_cp {
	bool pending;
	uint64_t valid, tag;
	recv_out_cp_fn fn;
	void *arg;
};

/* recv_out_written's thread; upto, taken and cp under lock. */
struct recv_flush {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int fd;
	uint64_t upto;             /* written so far, front to back */
	uint64_t taken;            /* of that, handed to writeback */
	uint64_t told;             /* the writer's: upto at its last wake-up */
	int wait_fd;               /* the same file, for the drop-behind's waits; -1 = none */
	uint64_t dropped;          /* the thread's: dropped from the cache below */
	int dirfd;                 /* the output's directory, synced at checkpoints */
	struct recv_out_cp cp;     /* asked for by recv_out_checkpoint */
	bool running, stop;
	bool off;                  /* the file system refused: no more tries */
};

struct recv_out {
	int dirfd;                 /* the output's directory; -1 = none */
	struct recv_fd w;          /* the data (w.fd); w.fd = -1: none */
	bool named_tmp;            /* fd has the name tmp (no O_TMPFILE here) */
	bool inplace;              /* fd is the output itself (recv_out_inplace) */
	bool device;               /* the output is a block device, written in place */
	uint64_t device_size;      /* its size in bytes */
	char path[PATH_MAX];       /* as given, for messages */
	char name[NAME_MAX + 1];   /* the output's name in dirfd */
	char tmp[NAME_MAX + 1];    /* the temporary name in dirfd while it has one */
	int old_fd;                /* the version the commit replaced, held (O_PATH); -1 = none */
	struct recv_flush flush;
};

/**
 * The block device that @p path names through the links udev makes
 * under /dev (/dev/VG/LV, /dev/mapper/..., /dev/disk/by-id/...), into
 * @p out: those are followed, as no other symlink is. @return true when
 * @p path is such a link to a block device under /dev, in a directory
 * that is root's and writable by nobody else (not /dev/shm, where anyone
 * could have planted it).
 */
bool recv_out_device_link(const char *path, char *out, size_t n);

/**
 * Check @p path as an output and create its unnamed temporary file (a
 * block device: open it, in place).
 * @return 0, or -errno with the reason and the fix in @p why: -EISDIR
 *         (a directory), -ELOOP (a symlink), -EINVAL (not a regular
 *         file, or a name that cannot be one), or what opening the
 *         directory or creating the file failed with.
 */
int recv_out_open(struct recv_out *o, const char *path, char *why, size_t why_n);

/**
 * Write into the existing output itself instead of the temporary
 * (`dwcp recv --inplace`), which is dropped: the output is opened for
 * writing, never following a symlink, and must be the file @p base
 * describes (same device and inode: the previous copy the receive's base
 * was checked against). On failure nothing changes (the temporary stays).
 * @return 0, or -errno with the reason in @p why: -ENOENT (no output),
 *         -ESTALE (another file than @p base now), or what opening failed with.
 */
int recv_out_inplace(struct recv_out *o, const struct stat *base, char *why, size_t why_n);

/**
 * Drop what was written so far (a newer transfer of the stream starts
 * over); in place nothing is dropped (every page is written again, and
 * the end truncates). @return 0 or -errno.
 */
int recv_out_rewind(struct recv_out *o);

/**
 * Keep what was written so far (a newer transfer of the stream resumes
 * from it, writing in place): it is written out of the bounce buffer,
 * and the writeback thread starts afresh. @return 0 or -errno.
 */
int recv_out_keep(struct recv_out *o);

/**
 * Make the data the stream's partial copy (cli/recv_partial.h): its first
 * @p valid bytes (the rest is cut off), synced, named @p name in the
 * output's directory (replacing what has that name). From then on it is
 * no temporary: nothing removes it. Its identity into @p st.
 * @return 0 or -errno.
 */
int recv_out_keep_as(struct recv_out *o, const char *name, uint64_t valid, struct stat *st);

/**
 * Write into the partial copy @p name (it must be the file @p st
 * describes; opened never following a symlink) instead of the temporary,
 * which is dropped: the commit renames it over the output, a failure
 * removes it unless recv_out_keep_as kept it again. On failure nothing
 * changes. @return 0, or -errno with the reason in @p why.
 */
int recv_out_resume(struct recv_out *o, const char *name, const struct stat *st, char *why,
		    size_t why_n);

/**
 * The output has been written front to back up to byte @p upto (in
 * place: every page that travelled below @p upto). Cheap per call: the
 * flush thread is woken once per RECV_FLUSH_STEP, started at the first.
 * Failing to start it or to flush costs only the early writeback; the
 * commit's fsync still reports any I/O error.
 */
void recv_out_written(struct recv_out *o, uint64_t upto);

/** Bytes recv_out_written hands over at a time. */
#define RECV_FLUSH_STEP (16ull << 20)

/**
 * Give the data the name @p name in the output's directory (replacing
 * what has it; never following anything there) while it is still being
 * written: a checkpoint's partial copy (cli/recv_partial.h). The name is
 * then the temporary's: a failure removes it unless recv_out_keep_as
 * keeps it, the commit renames it over the output. Not synced (the next
 * checkpoint syncs the directory). @return 0 or -errno (nothing renamed).
 */
int recv_out_name_as(struct recv_out *o, const char *name);

/**
 * Checkpoint: of the first @p valid bytes written, those that reached the
 * file (recv_fd_landed: not the bounce buffer's or the write in flight),
 * V, are synced with the directory in the flush thread, without holding
 * up the receive, which then calls @p fn (@p arg, V, @p tag): the first V
 * bytes are on disk. A checkpoint asked for while an earlier one
 * waits replaces it; ending the thread (recv_out_settle, and whatever
 * ends it) waits for a checkpoint asked for. A sync error is left for the commit's fsync to report (the
 * thread syncs through an open file of its own), and skips @p fn.
 * @return 0, or -errno (then @p fn is never called): -EAGAIN when no
 *         byte has landed yet, -EOPNOTSUPP where the thread cannot run.
 */
int recv_out_checkpoint(struct recv_out *o, uint64_t valid, recv_out_cp_fn fn, void *arg,
			uint64_t tag);

/**
 * Wait for what the flush thread was asked (a checkpoint included) and
 * end it (the next recv_out_written starts it again): before the caller
 * changes what a checkpoint's @p fn writes.
 */
void recv_out_settle(struct recv_out *o);

/**
 * Make the data the output: fsync it, give it its name atomically, fsync
 * the directory. Afterwards the output is complete on disk. In place:
 * only fsync it (its mode, name and directory entry are as they were).
 * The version the rename replaced is held open (old_fd) until
 * recv_out_abort: freeing a large file's blocks is the file system's
 * slowest step (measured on ext4 mounted with discard: a rename over the
 * bench's 1 GiB image, 87,000 extents, took 5.9 s; 0.4 s for one of
 * 4,000), and the caller should tell the sender first.
 * @return 0, or -errno with what failed in @p why (the temporary is gone).
 */
int recv_out_commit(struct recv_out *o, char *why, size_t why_n);

/**
 * Close and remove whatever was created; the output path is untouched
 * (after a commit: it is the new version). Releases the replaced version
 * last, which may take seconds. Idempotent.
 */
void recv_out_abort(struct recv_out *o);

#endif
