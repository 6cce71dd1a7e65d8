/* keyfile tests: a written key reads back as the same 32 bytes from a
 * private 0600 file; an existing path is never overwritten; and every
 * kind of file the reader must refuse (too open, a link, a directory,
 * each malformed content) is refused with a negative errno and a message
 * that names the path. Each test works in its own mkdtemp directory,
 * removed at the end; a failing assertion prints the message and the
 * file's bytes it was looking at. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/keyfile.h"

#define GOOD_HEX "00112233445566778899aabbccddeeff0123456789abcdef0f1e2d3c4b5a6978"

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dwcp-keyfile-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

/* The directory holds only plain files, links and empty directories. */
static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

TestSuite(keyfile, .init = make_dir, .fini = remove_dir);

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Write @p len bytes of @p text to dir/name with @p mode; returns the path. */
static const char *put_file(const char *name, const char *text, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	path_in_dir(path, sizeof(path), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len, "write %s", path);
	cr_assert_eq(fchmod(fd, mode), 0, "chmod %s", path);
	close(fd);
	return path;
}

static const char *put_text(const char *name, const char *text, mode_t mode)
{
	return put_file(name, text, strlen(text), mode);
}

/* Read must fail with @p code, a message naming the path and containing
 * @p want, and a zeroed key. */
static void expect_refused(const char *path, int code, const char *want)
{
	uint8_t key[DWCP_KEYFILE_KEY_LEN];
	static const uint8_t zero[DWCP_KEYFILE_KEY_LEN];
	struct dwcp_err e = { 0 };
	int rc;

	memset(key, 0xa5, sizeof(key));
	rc = dwcp_keyfile_read(path, key, &e);
	cr_assert_eq(rc, code, "%s: rc %d (%s), expected %d; message: '%s'", path, rc,
		     strerror(-rc), code, e.msg);
	cr_assert_eq(e.code, code, "err.code %d", e.code);
	cr_assert(strstr(e.msg, path) != NULL, "message lacks the path %s: '%s'", path, e.msg);
	cr_assert(strstr(e.msg, want) != NULL, "message lacks '%s': '%s'", want, e.msg);
	cr_assert(memcmp(key, zero, sizeof(key)) == 0, "key not zeroed after refusal of %s", path);
}

static void read_ok(const char *path, uint8_t key[DWCP_KEYFILE_KEY_LEN])
{
	struct dwcp_err e = { 0 };
	int rc = dwcp_keyfile_read(path, key, &e);

	cr_assert_eq(rc, 0, "read %s: rc %d: %s", path, rc, e.msg);
}

/* ---- write ---- */

Test(keyfile, write_then_read_round_trip)
{
	uint8_t key[DWCP_KEYFILE_KEY_LEN], again[DWCP_KEYFILE_KEY_LEN];
	char path[128], text[DWCP_KEYFILE_SIZE + 8], hex[3];
	struct dwcp_err e = { 0 };
	ssize_t n;
	int fd, rc;

	path_in_dir(path, sizeof(path), "node.key");
	rc = dwcp_keyfile_write(path, &e);
	cr_assert_eq(rc, 0, "write: rc %d: %s", rc, e.msg);
	read_ok(path, key);
	read_ok(path, again);
	cr_assert(memcmp(key, again, sizeof(key)) == 0, "two reads differ");

	fd = open(path, O_RDONLY);
	cr_assert(fd >= 0);
	n = read(fd, text, sizeof(text));
	close(fd);
	cr_assert_eq(n, (ssize_t)DWCP_KEYFILE_SIZE, "file is %zd bytes", n);
	cr_assert(memcmp(text, "dwcp-aes256-gcm-v1 ", 19) == 0, "prefix: '%.19s'", text);
	cr_assert_eq(text[83], '\n');
	for (size_t i = 0; i < DWCP_KEYFILE_KEY_LEN; i++) {   /* the hex is the key */
		snprintf(hex, sizeof(hex), "%02x", key[i]);
		cr_assert(memcmp(text + 19 + 2 * i, hex, 2) == 0, "byte %zu: file '%.2s', key %s",
			  i, text + 19 + 2 * i, hex);
	}
}

Test(keyfile, written_file_is_private_whatever_the_umask)
{
	char path[128];
	struct dwcp_err e = { 0 };
	struct stat st;
	mode_t old = umask(0);   /* the loosest umask: 0600 must come from us */
	int rc;

	path_in_dir(path, sizeof(path), "node.key");
	rc = dwcp_keyfile_write(path, &e);
	umask(old);
	cr_assert_eq(rc, 0, "write: %s", e.msg);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "not a regular file");
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %04o", st.st_mode & 07777);
	cr_assert_eq(st.st_uid, geteuid(), "owner %u", (unsigned)st.st_uid);
}

Test(keyfile, write_refuses_existing_file)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";
	uint8_t key[DWCP_KEYFILE_KEY_LEN];
	struct dwcp_err e = { 0 };
	const char *path = put_text("old.key", text, 0600);
	char want[192];
	int rc;

	rc = dwcp_keyfile_write(path, &e);
	cr_assert_eq(rc, -EEXIST, "rc %d: %s", rc, e.msg);
	snprintf(want, sizeof(want), "key file %s exists: remove it first or choose another path",
		 path);
	cr_assert_str_eq(e.msg, want);
	read_ok(path, key);   /* untouched */
	cr_assert_eq(key[0], 0x00);
	cr_assert_eq(key[31], 0x78);
}

Test(keyfile, write_refuses_symlink_even_dangling)
{
	char link[128], target[128];
	struct dwcp_err e = { 0 };
	struct stat st;
	int rc;

	path_in_dir(link, sizeof(link), "link.key");
	path_in_dir(target, sizeof(target), "target.key");
	cr_assert_eq(symlink(target, link), 0);
	rc = dwcp_keyfile_write(link, &e);
	cr_assert_eq(rc, -EEXIST, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, link) != NULL, "message: '%s'", e.msg);
	cr_assert_eq(lstat(target, &st), -1, "the link's target was created");
}

Test(keyfile, write_into_missing_directory)
{
	char path[128];
	struct dwcp_err e = { 0 };
	int rc;

	path_in_dir(path, sizeof(path), "no/such/dir/node.key");
	rc = dwcp_keyfile_write(path, &e);
	cr_assert_eq(rc, -ENOENT, "rc %d: %s", rc, e.msg);
	cr_assert(strstr(e.msg, path) != NULL, "message: '%s'", e.msg);
}

Test(keyfile, two_keygens_give_different_keys)
{
	uint8_t a[DWCP_KEYFILE_KEY_LEN], b[DWCP_KEYFILE_KEY_LEN];
	static const uint8_t zero[DWCP_KEYFILE_KEY_LEN];
	char pa[128], pb[128];
	struct dwcp_err e = { 0 };

	path_in_dir(pa, sizeof(pa), "a.key");
	path_in_dir(pb, sizeof(pb), "b.key");
	cr_assert_eq(dwcp_keyfile_write(pa, &e), 0, "%s", e.msg);
	cr_assert_eq(dwcp_keyfile_write(pb, &e), 0, "%s", e.msg);
	read_ok(pa, a);
	read_ok(pb, b);
	cr_assert(memcmp(a, b, sizeof(a)) != 0, "two new keys are equal");
	cr_assert(memcmp(a, zero, sizeof(a)) != 0, "a new key is all zero");
}

/* ---- read: content ---- */

Test(keyfile, read_known_key)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";
	static const uint8_t want[DWCP_KEYFILE_KEY_LEN] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
		0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
		0xcd, 0xef, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
	};
	uint8_t key[DWCP_KEYFILE_KEY_LEN];

	read_ok(put_text("k", text, 0600), key);
	for (size_t i = 0; i < sizeof(key); i++)
		cr_assert_eq(key[i], want[i], "byte %zu: %02x, want %02x", i, key[i], want[i]);
}

Test(keyfile, owner_read_only_mode_is_accepted)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";
	uint8_t key[DWCP_KEYFILE_KEY_LEN];

	read_ok(put_text("k", text, 0400), key);
}

Test(keyfile, refuses_empty)
{
	expect_refused(put_text("k", "", 0600), -EINVAL, "is empty");
}

Test(keyfile, refuses_truncated)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";

	expect_refused(put_file("k", text, 50, 0600), -EINVAL, "truncated: 50 bytes");
	/* all of it but the final newline */
	expect_refused(put_file("k", text, DWCP_KEYFILE_SIZE - 1, 0600), -EINVAL,
		       "truncated: 83 bytes");
	expect_refused(put_file("k", text, 10, 0600), -EINVAL, "does not start with");
}

Test(keyfile, refuses_trailing_garbage)
{
	expect_refused(put_text("k", "dwcp-aes256-gcm-v1 " GOOD_HEX "\nx", 0600), -EINVAL,
		       "bytes after the key");
	expect_refused(put_text("k", "dwcp-aes256-gcm-v1 " GOOD_HEX "\n\n", 0600), -EINVAL,
		       "bytes after the key");
	expect_refused(put_text("k", "dwcp-aes256-gcm-v1 " GOOD_HEX "\r\n", 0600), -EINVAL,
		       "bytes after the key");
	expect_refused(put_text("k", "dwcp-aes256-gcm-v1 " GOOD_HEX "0", 0600), -EINVAL,
		       "does not end with a newline");
}

Test(keyfile, refuses_bad_hex)
{
	char text[DWCP_KEYFILE_SIZE + 1];

	snprintf(text, sizeof(text), "dwcp-aes256-gcm-v1 %s\n", GOOD_HEX);
	text[19 + 40] = 'g';
	expect_refused(put_text("k", text, 0600), -EINVAL, "byte 59 is not a lowercase hex digit");
	snprintf(text, sizeof(text), "dwcp-aes256-gcm-v1 %s\n", GOOD_HEX);
	text[19 + 63] = ' ';
	expect_refused(put_text("k", text, 0600), -EINVAL, "byte 82 is not");
}

/* One spelling only: uppercase hex is refused, not folded (keyfile.h). */
Test(keyfile, refuses_uppercase_hex)
{
	char text[DWCP_KEYFILE_SIZE + 1];

	snprintf(text, sizeof(text), "dwcp-aes256-gcm-v1 %s\n", GOOD_HEX);
	text[19 + 20] = 'A';   /* was 'a' */
	expect_refused(put_text("k", text, 0600), -EINVAL, "byte 39 is not a lowercase hex digit");
}

Test(keyfile, refuses_wrong_prefix)
{
	expect_refused(put_text("k", "dwcp-aes256-gcm-v2 " GOOD_HEX "\n", 0600), -EINVAL,
		       "does not start with 'dwcp-aes256-gcm-v1 '");
	expect_refused(put_text("k", GOOD_HEX GOOD_HEX "\n", 0600), -EINVAL,
		       "does not start with");
	expect_refused(put_text("k", " dwcp-aes256-gcm-v1 " GOOD_HEX "\n", 0600), -EINVAL,
		       "does not start with");
}

/* ---- read: the file itself ---- */

Test(keyfile, refuses_group_or_other_access)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";
	static const mode_t modes[] = { 0644, 0660, 0640, 0604, 0602, 0620, 0610, 0601 };
	char want[160];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *path = put_text("k", text, modes[i]);

		snprintf(want, sizeof(want), "mode %04o", (unsigned)modes[i]);
		expect_refused(path, -EPERM, want);
		snprintf(want, sizeof(want), "chmod 600 %s", path);
		expect_refused(path, -EPERM, want);
	}
}

Test(keyfile, refuses_symlink)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";
	const char *target = put_text("real.key", text, 0600);
	char link[128];

	path_in_dir(link, sizeof(link), "link.key");
	cr_assert_eq(symlink(target, link), 0);
	expect_refused(link, -ELOOP, "symbolic link");
}

Test(keyfile, refuses_directory)
{
	char path[128];

	path_in_dir(path, sizeof(path), "d.key");
	cr_assert_eq(mkdir(path, 0700), 0);
	expect_refused(path, -EISDIR, "is a directory");
}

Test(keyfile, refuses_fifo_without_blocking)
{
	char path[128];

	path_in_dir(path, sizeof(path), "fifo.key");
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_refused(path, -EINVAL, "is a FIFO");
}

Test(keyfile, refuses_missing_file)
{
	char path[128];

	path_in_dir(path, sizeof(path), "absent.key");
	expect_refused(path, -ENOENT, strerror(ENOENT));
}

Test(keyfile, refuses_file_of_another_user)
{
	static const char text[] = "dwcp-aes256-gcm-v1 " GOOD_HEX "\n";
	const char *path;

	if (geteuid() != 0)
		cr_skip_test("needs root to give a file away");
	path = put_text("k", text, 0600);
	cr_assert_eq(chown(path, 1, 1), 0, "chown: %s", strerror(errno));
	expect_refused(path, -EPERM, "owned by uid 1");
}

Test(keyfile, null_and_empty_path)
{
	uint8_t key[DWCP_KEYFILE_KEY_LEN];
	struct dwcp_err e = { 0 };

	cr_assert_eq(dwcp_keyfile_read("", key, &e), -EINVAL);
	cr_assert_eq(dwcp_keyfile_read(NULL, key, NULL), -EINVAL);
	cr_assert_eq(dwcp_keyfile_write("", &e), -EINVAL);
	cr_assert_eq(dwcp_keyfile_write(NULL, NULL), -EINVAL);
}
