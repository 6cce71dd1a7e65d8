/* cli/recv_out.c: the output file of `dwcp recv`, in a temporary
 * directory of real files: what is refused, what appears when, and what
 * is left after a failure (never anything but what was there). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli/recv_out.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-recvout-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void put(const char *p, const char *text)
{
	FILE *f = fopen(p, "we");

	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void expect_text(const char *p, const char *text)
{
	char buf[128] = "";
	FILE *f = fopen(p, "re");

	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	cr_expect_str_eq(buf, text, "%s", p);
}

/* Entries of dir, space-separated and sorted by readdir order. */
static unsigned entries(char *out, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned k = 0;

	out[0] = '\0';
	while (d && (e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		k++;
		strncat(out, e->d_name, n - strlen(out) - 2);
		strncat(out, " ", n - strlen(out) - 1);
	}
	if (d)
		closedir(d);
	return k;
}

static void write_all(struct recv_out *o, const char *text)
{
	cr_assert_eq(write(o->w.fd, text, strlen(text)), (ssize_t)strlen(text));
}

TestSuite(recv_out, .init = setup, .fini = teardown);

Test(recv_out, nothing_has_a_name_until_commit_then_the_file_appears_whole)
{
	char p[128], why[512], list[512];
	struct recv_out o;
	struct stat st;
	mode_t mask = umask(0);

	umask(mask);
	path(p, sizeof(p), "o.img");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "hello");
	cr_expect_eq(entries(list, sizeof(list)), 0, "visible before commit: %s", list);
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(p, "hello");
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0644 & ~mask, "mode %o", st.st_mode & 07777);
	cr_expect_eq(entries(list, sizeof(list)), 1, "left: %s", list);
	cr_expect_eq(o.w.fd, -1);
	cr_expect_eq(o.dirfd, -1);
}

Test(recv_out, an_existing_file_is_replaced_not_overwritten_in_place)
{
	char p[128], other[128], why[512];
	struct recv_out o;

	path(p, sizeof(p), "o");
	path(other, sizeof(other), "hardlink-to-old");
	put(p, "old version");
	cr_assert_eq(link(p, other), 0);
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "new");
	expect_text(p, "old version");   /* still the old one until commit */
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(p, "new");
	expect_text(other, "old version");   /* the old inode was never written */
}

/* Freeing a large old version's blocks can take seconds (ext4 with
 * discard): the commit must leave that until the caller has told the
 * sender, i.e. hold the replaced inode past the rename. */
Test(recv_out, the_replaced_version_is_released_after_the_commit_not_in_it)
{
	char p[128], why[512];
	struct recv_out o;
	struct stat old, held;

	path(p, sizeof(p), "o");
	put(p, "old version");
	cr_assert_eq(stat(p, &old), 0);
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "new");
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(p, "new");
	cr_assert_geq(o.old_fd, 0, "the replaced version is not held");
	cr_assert_eq(fstat(o.old_fd, &held), 0);
	cr_expect(held.st_ino == old.st_ino && held.st_dev == old.st_dev, "holds another file");
	cr_expect_eq(held.st_nlink, 0, "the old version still has a name");
	recv_out_abort(&o);
	cr_expect_eq(o.old_fd, -1);
	recv_out_abort(&o);   /* idempotent */

	/* Nothing to replace: nothing held. */
	path(p, sizeof(p), "fresh");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(o.old_fd, -1);
	recv_out_abort(&o);
}

/* A failed receive keeps its first bytes as the partial copy (private,
 * named, no longer removed by abort); the next receive writes into it and
 * its commit makes it the output (cli/recv_partial.h). */
Test(recv_out, a_kept_partial_copy_is_resumed_into_the_output)
{
	char p[128], part[128], why[512], list[512];
	struct recv_out o;
	struct stat st, now;

	path(p, sizeof(p), "o");
	path(part, sizeof(part), ".o.dwcp-partial");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "first part|and more");
	cr_assert_eq(recv_out_keep_as(&o, ".o.dwcp-partial", 10, &st), 0);
	recv_out_abort(&o);
	expect_text(part, "first part");
	cr_assert_eq(stat(part, &now), 0);
	cr_expect_eq(now.st_mode & 07777, 0600, "mode %o", now.st_mode & 07777);
	cr_expect(now.st_ino == st.st_ino && now.st_size == 10, "identity");
	cr_expect_eq(entries(list, sizeof(list)), 1, "left: %s", list);

	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(recv_out_resume(&o, ".o.dwcp-partial", &st, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(pwrite(o.w.fd, "FIRST", 5, 0), 5);
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(p, "FIRST part");
	cr_expect_eq(stat(part, &now), -1, "the partial copy is still there");
	cr_expect_eq(entries(list, sizeof(list)), 1, "left: %s", list);

	/* Another file under that name now: refused, nothing changes. */
	put(part, "planted");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(recv_out_resume(&o, ".o.dwcp-partial", &st, why, sizeof(why)), -ESTALE);
	recv_out_abort(&o);
	expect_text(part, "planted");
	expect_text(p, "FIRST part");
}

Test(recv_out, rewind_drops_what_was_written)
{
	char p[128], why[512];
	struct recv_out o;

	path(p, sizeof(p), "o");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "first transfer, partly");
	cr_assert_eq(recv_out_rewind(&o), 0);
	write_all(&o, "second");
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(p, "second");
}

Test(recv_out, a_symlink_is_refused_and_its_target_untouched)
{
	char p[128], target[128], why[512], list[512];
	struct recv_out o;

	path(p, sizeof(p), "o");
	path(target, sizeof(target), "target");
	put(target, "target bytes");
	cr_assert_eq(symlink(target, p), 0);
	cr_expect_eq(recv_out_open(&o, p, why, sizeof(why)), -ELOOP);
	cr_expect(strstr(why, "symlink") != NULL, "%s", why);
	expect_text(target, "target bytes");
	cr_expect_eq(entries(list, sizeof(list)), 2, "%s", list);
	cr_expect_eq(o.w.fd, -1);
}

Test(recv_out, directories_fifos_and_devices_are_refused)
{
	char p[128], why[512], list[512];
	struct recv_out o;

	path(p, sizeof(p), "d");
	cr_assert_eq(mkdir(p, 0755), 0);
	cr_expect_eq(recv_out_open(&o, p, why, sizeof(why)), -EISDIR);
	cr_expect(strstr(why, "directory") != NULL, "%s", why);
	path(p, sizeof(p), "f");
	cr_assert_eq(mkfifo(p, 0644), 0);
	cr_expect_eq(recv_out_open(&o, p, why, sizeof(why)), -EINVAL);
	cr_expect(strstr(why, "FIFO") != NULL, "%s", why);
	cr_expect_eq(recv_out_open(&o, "/dev/null", why, sizeof(why)), -EINVAL);
	cr_expect(strstr(why, "character device") != NULL, "%s", why);
	cr_expect_eq(entries(list, sizeof(list)), 2, "%s", list);
}

Test(recv_out, paths_without_a_file_name_are_refused)
{
	const char *names[] = { "", ".", "..", "sub/" };
	char p[128], why[512];
	struct recv_out o;

	for (unsigned i = 0; i < 4; i++) {
		path(p, sizeof(p), names[i]);
		cr_expect_eq(recv_out_open(&o, p, why, sizeof(why)), -EINVAL, "--out %s", p);
	}
	path(p, sizeof(p), "missing/o");
	cr_expect_eq(recv_out_open(&o, p, why, sizeof(why)), -ENOENT);
	cr_expect(strstr(why, "create it") != NULL, "%s", why);
}

Test(recv_out, a_failed_commit_or_an_abort_leaves_only_what_was_there)
{
	char p[128], inner[160], why[512], list[512];
	struct recv_out o;

	path(p, sizeof(p), "o");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "data");
	/* A non-empty directory appears at the name: rename cannot replace it. */
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(inner, sizeof(inner), "%s/keep", p);
	put(inner, "keep");
	cr_expect_neq(recv_out_commit(&o, why, sizeof(why)), 0);
	cr_expect(strstr(why, "renaming") != NULL, "%s", why);
	cr_expect_eq(entries(list, sizeof(list)), 1, "left: %s", list);
	expect_text(inner, "keep");

	path(p, sizeof(p), "p");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_all(&o, "data");
	recv_out_abort(&o);
	recv_out_abort(&o);   /* idempotent */
	cr_expect_eq(entries(list, sizeof(list)), 1, "left: %s", list);
}

/* --inplace: the output itself is written (a hard link sees it, the
 * mode stays), nothing else appears, rewind drops nothing. */
Test(recv_out, inplace_writes_the_output_itself)
{
	char p[128], other[128], why[512], list[512];
	struct recv_out o;
	struct stat st, after;

	path(p, sizeof(p), "o");
	path(other, sizeof(other), "hardlink");
	put(p, "old version");
	cr_assert_eq(chmod(p, 0600), 0);
	cr_assert_eq(link(p, other), 0);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(recv_out_inplace(&o, &st, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(pwrite(o.w.fd, "NEW", 3, 0), 3);
	cr_assert_eq(recv_out_rewind(&o), 0);
	expect_text(p, "NEW version");   /* written at once: not atomic, by design */
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(other, "NEW version");
	cr_assert_eq(stat(p, &after), 0);
	cr_expect_eq(after.st_ino, st.st_ino);
	cr_expect_eq(after.st_mode & 07777, 0600, "mode %o", after.st_mode & 07777);
	cr_expect_eq(entries(list, sizeof(list)), 2, "left: %s", list);
}

/* The output was replaced since its base was checked: refused, and the
 * temporary stays the data (the atomic path goes on). */
Test(recv_out, inplace_refuses_another_file_than_the_base)
{
	char p[128], moved[128], why[512];
	struct recv_out o;
	struct stat st;

	path(p, sizeof(p), "o");
	path(moved, sizeof(moved), "moved");
	put(p, "checked");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(rename(p, moved), 0);   /* kept alive: its inode is not reused */
	put(p, "planted");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(recv_out_inplace(&o, &st, why, sizeof(why)), -ESTALE, "%s", why);
	cr_expect(!o.inplace);
	write_all(&o, "new");
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_text(p, "new");
}

/* ---- writeback behind the writer ----------------------------------- */

#define BIG_STEP (256u << 10)   /* a chunk's worth, as dwcp recv writes */

static unsigned threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned k = 0;

	while (d && (e = readdir(d)) != NULL)
		k += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return k;
}

/* @p bytes of the pattern @p seed, front to back, telling recv_out each step. */
static void write_big(struct recv_out *o, uint64_t bytes, unsigned seed)
{
	static uint8_t buf[BIG_STEP];

	for (uint64_t at = 0; at < bytes; at += BIG_STEP) {
		for (size_t i = 0; i < BIG_STEP; i += 8) {
			uint64_t v = (at + i) * 0x9E3779B97F4A7C15ull ^ seed;

			memcpy(buf + i, &v, 8);
		}
		cr_assert_eq(pwrite(o->w.fd, buf, BIG_STEP, (off_t)at), (ssize_t)BIG_STEP);
		recv_out_written(o, at + BIG_STEP);
	}
}

/* The file at @p p is @p size bytes, of which the first @p bytes are the pattern @p seed. */
static void expect_big_in(const char *p, uint64_t size, uint64_t bytes, unsigned seed)
{
	static uint8_t buf[BIG_STEP];
	struct stat st;
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, size);
	for (uint64_t at = 0; at < bytes; at += BIG_STEP) {
		cr_assert_eq(pread(fd, buf, BIG_STEP, (off_t)at), (ssize_t)BIG_STEP);
		for (size_t i = 0; i < BIG_STEP; i += 8) {
			uint64_t v = (at + i) * 0x9E3779B97F4A7C15ull ^ seed, got;

			memcpy(&got, buf + i, 8);
			cr_assert_eq(got, v, "%s: byte %llu", p, (unsigned long long)(at + i));
		}
	}
	close(fd);
}

static void expect_big(const char *p, uint64_t bytes, unsigned seed)
{
	expect_big_in(p, bytes, bytes, seed);
}

/* A receive large enough to start the flush thread, rewound by a newer
 * transfer while it runs and written again: the output is exactly the
 * second transfer, and the thread is gone once committed. */
Test(recv_out, writeback_behind_the_writer_survives_rewind_and_leaves_no_thread)
{
	char p[128], why[512];
	struct recv_out o;
	unsigned before = threads();

	path(p, sizeof(p), "big");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_big(&o, 3 * RECV_FLUSH_STEP, 1);
	cr_expect(o.flush.running || o.flush.off, "no flush thread after %llu MiB",
		  (unsigned long long)(3 * RECV_FLUSH_STEP >> 20));
	if (o.flush.running)
		cr_expect_eq(threads(), before + 1);
	cr_assert_eq(recv_out_rewind(&o), 0);
	cr_expect_eq(threads(), before, "the flush thread outlived the rewind");
	write_big(&o, 2 * RECV_FLUSH_STEP + BIG_STEP, 2);
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(threads(), before, "the flush thread outlived the commit");
	expect_big(p, 2 * RECV_FLUSH_STEP + BIG_STEP, 2);
}

struct cp_seen {
	int calls;
	uint64_t valid, tag;
	struct stat st;
};

static void cp_note(void *arg, int fd, uint64_t valid, uint64_t tag)
{
	struct cp_seen *c = arg;

	c->calls++;
	c->valid = valid;
	c->tag = tag;
	fstat(fd, &c->st);
}

/* A checkpoint names the data while it is being written, and calls back
 * (from the flush thread) once the prefix is on disk; the commit still
 * renames it over the output, and nothing is left beside it. */
Test(recv_out, a_checkpoint_names_the_data_and_reports_its_prefix)
{
	char p[128], part[128], why[512], list[512];
	struct cp_seen seen = { 0 };
	struct recv_out o;
	struct stat st;

	path(p, sizeof(p), "cp");
	path(part, sizeof(part), ".cp.dwcp-partial");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_big(&o, 2 * RECV_FLUSH_STEP, 3);
	cr_assert_eq(recv_out_name_as(&o, ".cp.dwcp-partial"), 0);
	cr_assert_eq(recv_out_name_as(&o, ".cp.dwcp-partial"), 0, "named twice");
	cr_assert_eq(recv_out_checkpoint(&o, 2 * RECV_FLUSH_STEP, cp_note, &seen, 42), 0);
	write_big(&o, 3 * RECV_FLUSH_STEP, 3);   /* the receive goes on meanwhile */
	recv_out_settle(&o);
	cr_expect_eq(seen.calls, 1, "the checkpoint's callback ran %d times", seen.calls);
	cr_expect_eq(seen.valid, 2 * RECV_FLUSH_STEP);
	cr_expect_eq(seen.tag, 42);
	cr_assert_eq(stat(part, &st), 0, "the data has no name: %s", strerror(errno));
	cr_expect(st.st_ino == seen.st.st_ino, "the callback saw another file");
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_big(p, 3 * RECV_FLUSH_STEP, 3);
	cr_expect_eq(stat(part, &st), -1, "the partial name outlived the commit");
	cr_expect_eq(entries(list, sizeof(list)), 1, "left: %s", list);

	/* A failure that keeps nothing removes the named data too. */
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_big(&o, RECV_FLUSH_STEP, 4);
	cr_assert_eq(recv_out_name_as(&o, ".cp.dwcp-partial"), 0);
	recv_out_abort(&o);
	cr_expect_eq(stat(part, &st), -1, "the partial name outlived the abort");
	expect_big(p, 3 * RECV_FLUSH_STEP, 3);
}

/* Pages of @p fd's first @p bytes in the page cache. */
static size_t cached_pages(int fd, uint64_t bytes)
{
	size_t pages = (size_t)(bytes / 4096), k = 0;
	unsigned char *vec = malloc(pages);
	void *m = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);

	cr_assert(vec && m != MAP_FAILED, "mmap: %s", strerror(errno));
	cr_assert_eq(mincore(m, (size_t)bytes, vec), 0, "mincore: %s", strerror(errno));
	for (size_t i = 0; i < pages; i++)
		k += vec[i] & 1;
	munmap(m, (size_t)bytes);
	free(vec);
	return k;
}

/* Drop behind: what went to writeback rounds ago leaves the page cache
 * as the receive goes on (a received image would otherwise fill it, and
 * every later write would reclaim first); the file is still whole. */
Test(recv_out, what_lies_far_behind_the_writer_leaves_the_page_cache)
{
	char p[128], why[512];
	struct recv_out o;
	size_t left = 0;
	uint64_t end = 3 * RECV_FLUSH_STEP;

	path(p, sizeof(p), "behind");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_big(&o, 3 * RECV_FLUSH_STEP, 3);
	/* the receive goes on: the rounds it wakes wait for what earlier
	 * ones handed to writeback, and drop it (a slow disk: give each
	 * round up to 5 s; rounds may merge, so a few more steps at most) */
	for (unsigned round = 0; round < 5 && (left = cached_pages(o.w.fd, RECV_FLUSH_STEP)); round++) {
		uint64_t at = (3 + round) * RECV_FLUSH_STEP;
		static uint8_t buf[BIG_STEP];

		for (uint64_t k = 0; k < RECV_FLUSH_STEP; k += BIG_STEP)
			cr_assert_eq(pwrite(o.w.fd, buf, BIG_STEP, (off_t)(at + k)), (ssize_t)BIG_STEP);
		end = at + RECV_FLUSH_STEP;
		recv_out_written(&o, end);
		for (unsigned k = 0; k < 100 && (left = cached_pages(o.w.fd, RECV_FLUSH_STEP)); k++)
			usleep(50000);
	}
	cr_expect_eq(left, 0, "%zu pages of the first %llu MiB still cached after 5 more steps", left,
		     (unsigned long long)(RECV_FLUSH_STEP >> 20));
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	expect_big_in(p, end, 3 * RECV_FLUSH_STEP, 3);
}

/* A receive that fails with the flush thread running leaves neither a
 * file nor a thread; in place, the output holds what was written. */
Test(recv_out, writeback_stops_with_abort_and_in_place)
{
	char p[128], why[512], list[512];
	struct recv_out o;
	struct stat st;
	unsigned before = threads();

	path(p, sizeof(p), "gone");
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	write_big(&o, 2 * RECV_FLUSH_STEP, 3);
	recv_out_abort(&o);
	cr_expect_eq(threads(), before, "the flush thread outlived the abort");
	cr_expect_eq(entries(list, sizeof(list)), 0, "left: %s", list);

	path(p, sizeof(p), "inplace");
	put(p, "old");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(recv_out_open(&o, p, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(recv_out_inplace(&o, &st, why, sizeof(why)), 0, "%s", why);
	write_big(&o, 2 * RECV_FLUSH_STEP, 4);
	cr_assert_eq(recv_out_commit(&o, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(threads(), before);
	expect_big(p, 2 * RECV_FLUSH_STEP, 4);
}
