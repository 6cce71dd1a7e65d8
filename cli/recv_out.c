/* The output file of `dwcp recv` (recv_out.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/paths.h"
#include "recv_out.h"

#define TMP_TRIES 16

/* ---- writeback behind the writer ----------------------------------- */

/* A checkpoint (recv_out_checkpoint), in the flush thread. */
static void checkpoint_run(struct recv_flush *f, const struct recv_out_cp *cp)
{
	/* Through the thread's own open file: an I/O error it sees is still
	 * the commit's fsync's to report. The directory: the name a
	 * checkpoint gave the file must outlive a crash with the record. */
	if (f->wait_fd < 0 || fdatasync(f->wait_fd) || fsync(f->dirfd))
		return;
	cp->fn(cp->arg, f->wait_fd, cp->valid, cp->tag);
}

static void *flush_main(void *arg)
{
	struct recv_flush *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->stop && f->taken == f->upto && !f->cp.pending)
			pthread_cond_wait(&f->wake, &f->lock);
		/* A checkpoint first (also when told to stop: recv_out_settle
		 * waits for it): the writeback rounds are never done while the
		 * receive goes on, and it must not wait for its end. */
		if (f->cp.pending) {
			const struct recv_out_cp cp = f->cp;

			f->cp.pending = false;
			pthread_mutex_unlock(&f->lock);
			checkpoint_run(f, &cp);
			pthread_mutex_lock(&f->lock);
			continue;
		}
		if (f->stop)
			break;
		uint64_t from = f->taken, len = f->upto - f->taken;

		f->taken = f->upto;
		pthread_mutex_unlock(&f->lock);
		/* Start writeback only, never wait for it: the commit's fsync
		 * waits, and reports what failed. */
		int rc = sync_file_range(f->fd, (off_t)from, (off_t)len, SYNC_FILE_RANGE_WRITE);

		/* Drop behind (recv_out.h): what earlier rounds handed over,
		 * once on disk. The wait is on a descriptor of its own: an
		 * I/O error it sees is still the commit's fsync's to report
		 * (each open file sees a write error once). */
		if (!rc && f->wait_fd >= 0 && from > f->dropped) {
			if (sync_file_range(f->wait_fd, (off_t)f->dropped, (off_t)(from - f->dropped),
					    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER) == 0)
				posix_fadvise(f->wait_fd, (off_t)f->dropped, (off_t)(from - f->dropped),
					      POSIX_FADV_DONTNEED);
			f->dropped = from;
		}
		pthread_mutex_lock(&f->lock);
		if (rc && errno != EINTR) {
			f->off = true;          /* e.g. a file system without it */
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Join the thread; the next recv_out_written starts afresh from 0. */
static void flush_stop(struct recv_out *o)
{
	struct recv_flush *f = &o->flush;

	if (f->running) {
		pthread_mutex_lock(&f->lock);
		f->stop = true;
		pthread_cond_signal(&f->wake);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->thread, NULL);
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
		if (f->wait_fd >= 0)
			close(f->wait_fd);
	}
	*f = (struct recv_flush){ .off = f->off };
}

static void flush_start(struct recv_out *o)
{
	struct recv_flush *f = &o->flush;
	char proc[64];

	*f = (struct recv_flush){ .fd = o->w.fd, .dirfd = o->dirfd };
	/* the drop-behind's own open file (flush_main); without one, no drop */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->w.fd);
	f->wait_fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (pthread_mutex_init(&f->lock, NULL))
		goto off;
	if (pthread_cond_init(&f->wake, NULL)) {
		pthread_mutex_destroy(&f->lock);
		goto off;
	}
	if (pthread_create(&f->thread, NULL, flush_main, f)) {
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
		goto off;
	}
	f->running = true;
	return;
off:
	if (f->wait_fd >= 0)
		close(f->wait_fd);
	f->off = true;
}

void recv_out_written(struct recv_out *o, uint64_t upto)
{
	struct recv_flush *f = &o->flush;

	if (f->off || o->w.fd < 0 || upto < f->told + RECV_FLUSH_STEP)
		return;
	if (!f->running)
		flush_start(o);
	if (!f->running)
		return;
	f->told = upto;
	pthread_mutex_lock(&f->lock);
	f->upto = upto;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

int recv_out_checkpoint(struct recv_out *o, uint64_t valid, recv_out_cp_fn fn, void *arg,
			uint64_t tag)
{
	struct recv_flush *f = &o->flush;

	/* What is still on its way waits for the next checkpoint: flushing
	 * it here would stall the receive for a write of the bounce buffer. */
	valid = recv_fd_landed(&o->w, valid);
	if (!valid)
		return -EAGAIN;
	if (!f->off && o->w.fd >= 0 && !f->running)
		flush_start(o);
	if (!f->running)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&f->lock);
	f->cp = (struct recv_out_cp){ .pending = true, .valid = valid, .tag = tag, .fn = fn,
				      .arg = arg };
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

void recv_out_settle(struct recv_out *o)
{
	flush_stop(o);
}

/* ---- creating, naming and dropping the output --------------------- */

/* A name for the temporary in the directory: ".NAME.dwcp-XXXXXXXXXXXXXXXX",
 * random, so nobody can plant anything there in advance (and O_EXCL /
 * linkat refuse whatever was planted anyway). */
static void tmp_name(struct recv_out *o)
{
	unsigned long long r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r ^= (unsigned long long)getpid() << 32 ^ (unsigned long long)(uintptr_t)&r;
	snprintf(o->tmp, sizeof(o->tmp), ".%.200s.dwcp-%016llx", o->name, r);
}

/* Split @p path into the directory (opened) and the name in it. */
static int open_dir(struct recv_out *o, const char *path, char *why, size_t why_n)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char dir[PATH_MAX];
	int e;

	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    strlen(base) >= sizeof(o->name)) {
		snprintf(why, why_n, "--out %s does not end in a file name (give a file path, e.g. DIR/NAME)",
			 path);
		return -EINVAL;
	}
	memcpy(o->name, base, strlen(base) + 1);   /* fits: checked above */
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd < 0) {
		e = errno;
		snprintf(why, why_n, "cannot open the directory %s of %s: %s (create it, or give another --out)",
			 dir, path, strerror(e));
		return -e;
	}
	return 0;
}

/* Refuse an existing output that is not a regular file. */
static int check_existing(struct recv_out *o, char *why, size_t why_n)
{
	struct stat st;

	if (fstatat(o->dirfd, o->name, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, why_n, "cannot check %s: %s", o->path, strerror(errno));
		return -errno;
	}
	if (S_ISREG(st.st_mode))
		return 0;   /* replaced atomically at the end */
	if (S_ISBLK(st.st_mode)) {
		o->device = true;   /* written in place (open_device) */
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(why, why_n, "%s is a directory; give a file path inside it (e.g. %s/NAME)",
			 o->path, o->path);
		return -EISDIR;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, why_n, "%s is a symlink, and dwcp recv never writes through one; remove it or give the real path",
			 o->path);
		return -ELOOP;
	}
	snprintf(why, why_n, "%s exists and is not a regular file (%s); remove it or give another path",
		 o->path, S_ISCHR(st.st_mode) ? "a character device" : S_ISBLK(st.st_mode) ? "a block device" :
		 S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a special file");
	return -EINVAL;
}

static int create_tmp(struct recv_out *o, char *why, size_t why_n)
{
	int e;

	o->w.fd = openat(o->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (o->w.fd >= 0)
		return 0;
	e = errno;
	if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL) {
		/* No O_TMPFILE on this file system: a random name of our own. */
		for (unsigned i = 0; i < TMP_TRIES && o->w.fd < 0; i++) {
			tmp_name(o);
			o->w.fd = openat(o->dirfd, o->tmp,
				       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			e = errno;
			if (o->w.fd < 0 && e != EEXIST)
				break;
		}
		if (o->w.fd >= 0) {
			o->named_tmp = true;
			return 0;
		}
	}
	o->tmp[0] = '\0';
	snprintf(why, why_n, "cannot create a file beside %s: %s", o->path, strerror(e));
	return -e;
}

bool recv_out_device_link(const char *path, char *out, size_t n)
{
	char dir[PATH_MAX], *slash, *real;
	struct stat st;
	bool ok;

	if (strncmp(path, "/dev/", 5) || lstat(path, &st) || !S_ISLNK(st.st_mode) ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return false;
	/* Only a link that root alone could have made (/dev/shm is /dev too,
	 * and anyone may plant a link there): its directory root's and
	 * writable by nobody else. */
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (stat(dir, &st) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	real = realpath(path, NULL);
	ok = real && strncmp(real, "/dev/", 5) == 0 && stat(real, &st) == 0 && S_ISBLK(st.st_mode) &&
	     (size_t)snprintf(out, n, "%s", real) < n;
	free(real);
	return ok;
}

/* The output is a block device: write it in place, holding it
 * exclusively so that nothing mounts or assembles it meanwhile. */
static int open_device(struct recv_out *o, char *why, size_t why_n)
{
	struct stat st;
	int e;

	o->w.fd = openat(o->dirfd, o->name, O_RDWR | O_EXCL | O_NOFOLLOW | O_CLOEXEC);
	if (o->w.fd < 0) {
		e = errno;
		if (e == EBUSY)
			snprintf(why, why_n, "the block device %s is in use (mounted, or held by device-mapper, RAID or another exclusive user): unmount or release it, or give another --out",
				 o->path);
		else
			snprintf(why, why_n, "cannot open the block device %s for writing: %s", o->path,
				 strerror(e));
		return -e;
	}
	if (fstat(o->w.fd, &st) || !S_ISBLK(st.st_mode) ||
	    dwcp_file_bytes(o->w.fd, &st, &o->device_size)) {
		e = errno ? errno : EINVAL;
		snprintf(why, why_n, "%s: not a block device whose size can be read: %s", o->path,
			 strerror(e));
		return -e;
	}
	o->inplace = true;
	return 0;
}

int recv_out_open(struct recv_out *o, const char *path, char *why, size_t why_n)
{
	int rc;

	*o = (struct recv_out){ .dirfd = -1, .old_fd = -1, .w = { .fd = -1, .direct = -1 } };
	snprintf(o->path, sizeof(o->path), "%s", path);
	rc = open_dir(o, path, why, why_n);
	if (!rc)
		rc = check_existing(o, why, why_n);
	if (!rc)
		rc = o->device ? open_device(o, why, why_n) : create_tmp(o, why, why_n);
	if (rc)
		recv_out_abort(o);
	else
		recv_fd_direct(&o->w);
	return rc;
}

/* Write into @p fd instead of the temporary, which was never written:
 * it is dropped (unnamed, it just goes). */
static void replace_tmp(struct recv_out *o, int fd)
{
	flush_stop(o);
	if (o->named_tmp)
		unlinkat(o->dirfd, o->tmp, 0);
	o->named_tmp = false;
	o->tmp[0] = '\0';
	recv_fd_direct_close(&o->w);
	close(o->w.fd);
	o->w.fd = fd;
}

int recv_out_inplace(struct recv_out *o, const struct stat *base, char *why, size_t why_n)
{
	struct stat st;
	int fd, e;

	fd = openat(o->dirfd, o->name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(why, why_n, "%s cannot be opened for writing: %s", o->path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_dev != base->st_dev ||
	    st.st_ino != base->st_ino) {
		close(fd);
		snprintf(why, why_n, "%s was replaced since the receive checked it", o->path);
		return -ESTALE;
	}
	replace_tmp(o, fd);
	o->inplace = true;
	recv_fd_direct(&o->w);
	return 0;
}

int recv_out_rewind(struct recv_out *o)
{
	flush_stop(o);
	if (o->inplace)
		return 0;
	recv_fd_drop(&o->w);
	if (ftruncate(o->w.fd, 0) || lseek(o->w.fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

int recv_out_keep(struct recv_out *o)
{
	int rc = recv_fd_flush(&o->w);

	flush_stop(o);
	return rc;
}

static void out_close(struct recv_out *o)
{
	flush_stop(o);
	if (o->named_tmp && o->dirfd >= 0)
		unlinkat(o->dirfd, o->tmp, 0);
	o->named_tmp = false;
	o->tmp[0] = '\0';
	recv_fd_direct_close(&o->w);
	if (o->w.fd >= 0)
		close(o->w.fd);
	if (o->dirfd >= 0)
		close(o->dirfd);
	o->w.fd = o->dirfd = -1;
	o->inplace = false;
}

static void release_old(struct recv_out *o)
{
	if (o->old_fd >= 0)
		close(o->old_fd);
	o->old_fd = -1;
}

/* Give the unnamed temporary a fresh random name (linkat neither follows
 * nor replaces what is there: a planted name only costs a retry). */
static int link_tmp(struct recv_out *o)
{
	char proc[64];
	int e = EEXIST;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->w.fd);
	for (unsigned i = 0; i < TMP_TRIES && e == EEXIST; i++) {
		tmp_name(o);
		int rc = linkat(AT_FDCWD, proc, o->dirfd, o->tmp, AT_SYMLINK_FOLLOW);

		/* No /proc: AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH). */
		if (rc && errno == ENOENT)
			rc = linkat(o->w.fd, "", o->dirfd, o->tmp, AT_EMPTY_PATH);
		if (rc == 0) {
			o->named_tmp = true;
			return 0;
		}
		e = errno;
	}
	o->tmp[0] = '\0';
	return -e;
}

int recv_out_name_as(struct recv_out *o, const char *name)
{
	int rc;

	if (o->inplace || o->w.fd < 0 || strlen(name) >= sizeof(o->tmp))
		return -EINVAL;
	if (o->named_tmp && strcmp(o->tmp, name) == 0)
		return 0;
	if (!o->named_tmp && (rc = link_tmp(o)))
		return rc;
	if (renameat(o->dirfd, o->tmp, o->dirfd, name))
		return -errno;   /* still the temporary name: removed as before */
	memcpy(o->tmp, name, strlen(name) + 1);
	return 0;
}

int recv_out_keep_as(struct recv_out *o, const char *name, uint64_t valid, struct stat *st)
{
	int rc = recv_out_keep(o);

	if (!rc && o->w.fd < 0)
		rc = -EBADF;
	if (!rc && (ftruncate(o->w.fd, (off_t)valid) || fsync(o->w.fd)))
		rc = -errno;
	if (!rc && !o->named_tmp)
		rc = link_tmp(o);
	if (!rc && renameat(o->dirfd, o->tmp, o->dirfd, name))
		rc = -errno;
	if (rc)
		return rc;
	o->named_tmp = false;   /* kept: out_close must not remove it */
	o->tmp[0] = '\0';
	if (fsync(o->dirfd) || fstat(o->w.fd, st))
		return -errno;
	return 0;
}

int recv_out_resume(struct recv_out *o, const char *name, const struct stat *st, char *why,
		    size_t why_n)
{
	struct stat now;
	int fd = openat(o->dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		const int e = errno;

		snprintf(why, why_n, "the partial copy cannot be opened for writing: %s", strerror(e));
		return -e;
	}
	if (fstat(fd, &now) || !S_ISREG(now.st_mode) || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino || strlen(name) >= sizeof(o->tmp)) {
		close(fd);
		snprintf(why, why_n, "the partial copy was replaced since it was checked");
		return -ESTALE;
	}
	replace_tmp(o, fd);
	memcpy(o->tmp, name, strlen(name) + 1);
	o->named_tmp = true;
	recv_fd_direct(&o->w);
	return 0;
}

int recv_out_commit(struct recv_out *o, char *why, size_t why_n)
{
	mode_t mask = umask(0);
	const char *step = "syncing the data of";
	int rc = 0;

	umask(mask);
	rc = recv_fd_flush(&o->w);
	if (rc)
		step = "writing the data of";
	flush_stop(o);
	if (o->inplace) {
		if (!rc && fsync(o->w.fd))
			rc = -errno;
		if (rc)
			snprintf(why, why_n, "%s %s: %s", step, o->path, strerror(-rc));
		recv_out_abort(o);
		return rc;
	}
	/* The mode a new file gets; the temporary was private until now. */
	if (!rc && (fchmod(o->w.fd, 0644 & ~mask) || fsync(o->w.fd)))
		rc = -errno;
	if (!rc && !o->named_tmp) {
		step = "naming the file for";
		rc = link_tmp(o);
	}
	/* Hold what the rename replaces (if anything): its blocks are freed
	 * when the last reference goes, in recv_out_abort, not in renameat. */
	if (!rc && o->old_fd < 0)
		o->old_fd = openat(o->dirfd, o->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (!rc && renameat(o->dirfd, o->tmp, o->dirfd, o->name)) {
		step = "renaming the file to";
		rc = -errno;
	}
	if (!rc) {
		o->named_tmp = false;
		o->tmp[0] = '\0';
		if (fsync(o->dirfd)) {
			/* The file is in place but its name may not survive a power
			 * loss: not delivered. */
			step = "syncing the directory of";
			rc = -errno;
		}
	}
	if (rc) {
		snprintf(why, why_n, "%s %s: %s", step, o->path, strerror(-rc));
		release_old(o);
	}
	out_close(o);
	return rc;
}

void recv_out_abort(struct recv_out *o)
{
	out_close(o);
	release_old(o);
}
