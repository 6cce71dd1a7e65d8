/* Key files (format and rules in keyfile.h).
 *
 * Writing draws the key before anything touches the file system, then
 * creates the file exclusively (O_EXCL also refuses a dangling symbolic
 * link, so a planted link cannot redirect the key elsewhere), forces mode
 * 0600 with fchmod since the umask could only have narrowed it, writes,
 * fsyncs, and fsyncs the directory. Any failure after the create removes
 * the file: a half-written key file would only fail later, on the peer.
 *
 * Reading opens with O_NOFOLLOW (a link is refused, not followed) and
 * O_NONBLOCK (a FIFO planted at the path cannot hang us before fstat
 * shows it is not a regular file), checks type, owner and mode on the
 * open descriptor (no window between check and use), then reads one byte
 * more than a key file holds so a longer file is caught without trusting
 * st_size. The text and key buffers on our stack are wiped with
 * explicit_bzero on every path, success included.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/keyfile.h"

/* Appended to every refusal of a file's content: the two ways out. */
#define KEY_HINT "expected the one line `dwcp keygen` writes ('" DWCP_KEYFILE_MAGIC \
	"' then 64 lowercase hex digits and a newline, 84 bytes): copy the key file " \
	"again from the host that made it, or make a new one with `dwcp keygen PATH` " \
	"and give it to both ends"

_Static_assert(DWCP_KEYFILE_SIZE == 84, "the documented key file size");

/* ---- writing ---- */

/* getrandom(2) may return fewer bytes than asked when a signal arrives. */
static int fill_random(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

static void encode(const uint8_t key[DWCP_KEYFILE_KEY_LEN], char text[DWCP_KEYFILE_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	char *p = text + DWCP_KEYFILE_MAGIC_LEN;

	memcpy(text, DWCP_KEYFILE_MAGIC, DWCP_KEYFILE_MAGIC_LEN);
	for (size_t i = 0; i < DWCP_KEYFILE_KEY_LEN; i++) {
		*p++ = hex[key[i] >> 4];
		*p++ = hex[key[i] & 0xf];
	}
	*p = '\n';
}

static int write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Mode, content, durability of the open new file: 0 or -errno. */
static int fill_file(int fd, const char text[DWCP_KEYFILE_SIZE])
{
	int rc;

	if (fchmod(fd, 0600) < 0)
		return -errno;
	rc = write_all(fd, text, DWCP_KEYFILE_SIZE);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	return rc;
}

static int create_error(const char *path, int e, struct dwcp_err *err)
{
	if (e == EEXIST)
		return dwcp_err_set(err, -EEXIST,
				    "key file %s exists: remove it first or choose another path", path);
	return dwcp_err_set(err, -e, "cannot create key file %s: %s", path, strerror(e));
}

/* Make the new directory entry durable. Some file systems cannot fsync a
 * directory (EINVAL); their entries are as durable as they get. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

/* Create @p path and put @p text in it; on failure nothing is left. */
static int create_file(const char *path, const char text[DWCP_KEYFILE_SIZE],
		       struct dwcp_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return create_error(path, errno, err);
	rc = fill_file(fd, text);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		unlink(path);
		return dwcp_err_set(err, rc, "cannot write key file %s: %s (the partial file was removed)",
				    path, strerror(-rc));
	}
	return 0;
}

int dwcp_keyfile_write(const char *path, struct dwcp_err *err)
{
	uint8_t key[DWCP_KEYFILE_KEY_LEN];
	char text[DWCP_KEYFILE_SIZE];
	int rc;

	if (path == NULL || path[0] == '\0')
		return dwcp_err_set(err, -EINVAL, "no key file path given");
	rc = fill_random(key, sizeof(key));
	if (rc < 0) {
		explicit_bzero(key, sizeof(key));
		return dwcp_err_set(err, rc, "cannot make a key for %s: getrandom: %s", path,
				    strerror(-rc));
	}
	encode(key, text);
	explicit_bzero(key, sizeof(key));
	rc = create_file(path, text, err);
	explicit_bzero(text, sizeof(text));
	if (rc < 0)
		return rc;
	rc = sync_dir(path);
	if (rc < 0)
		return dwcp_err_set(err, rc,
				    "wrote key file %s but cannot fsync its directory: %s; run `sync` before relying on it",
				    path, strerror(-rc));
	return 0;
}

/* ---- reading ---- */

static int open_key(const char *path, struct dwcp_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int e = errno;

	if (fd >= 0)
		return fd;
	if (e == ELOOP)
		return dwcp_err_set(err, -ELOOP,
				    "key file %s is a symbolic link; expected a regular file: name the file itself (`readlink -f %s`) in [crypto] key_file",
				    path, path);
	return dwcp_err_set(err, -e, "cannot open key file %s: %s", path, strerror(e));
}

static const char *type_name(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" :
	       "not a regular file";
}

/* Type, then owner, then mode: a file we do not own cannot be chmod'ed by
 * us, so the owner fix comes first. */
static int check_file(int fd, const char *path, struct dwcp_err *err)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(fd, &st) < 0) {
		int e = errno;

		return dwcp_err_set(err, -e, "cannot stat key file %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode))
		return dwcp_err_set(err, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
				    "key file %s is %s; expected a regular file written by `dwcp keygen PATH`",
				    path, type_name(st.st_mode));
	if (st.st_uid != me)
		return dwcp_err_set(err, -EPERM,
				    "key file %s is owned by uid %u, not by the user reading it (uid %u): run `chown %u %s` as root",
				    path, (unsigned)st.st_uid, (unsigned)me, (unsigned)me, path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return dwcp_err_set(err, -EPERM,
				    "key file %s has mode %04o, so group or others can get at the key; expected 0600: run `chmod 600 %s`",
				    path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

/* Up to DWCP_KEYFILE_SIZE + 1 bytes into @p text; *len gets the count. */
static int read_text(int fd, const char *path, char *text, size_t *len, struct dwcp_err *err)
{
	size_t got = 0;

	while (got < DWCP_KEYFILE_SIZE + 1) {
		ssize_t n = read(fd, text + got, DWCP_KEYFILE_SIZE + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			return dwcp_err_set(err, -e, "cannot read key file %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The 64 digits after the magic into @p key; the offending byte's offset
 * is reported, never its value (it may be part of the key). */
static int decode(const char *path, const char *text, uint8_t *key, struct dwcp_err *err)
{
	const char *hex = text + DWCP_KEYFILE_MAGIC_LEN;

	for (size_t i = 0; i < 2 * DWCP_KEYFILE_KEY_LEN; i++) {
		int v = hex_value(hex[i]);

		if (v < 0)
			return dwcp_err_set(err, -EINVAL,
					    "key file %s: byte %zu is not a lowercase hex digit (0-9, a-f); " KEY_HINT,
					    path, DWCP_KEYFILE_MAGIC_LEN + i);
		if (i % 2 == 0)
			key[i / 2] = (uint8_t)(v << 4);
		else
			key[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/* Shape checks in the order that gives the most useful message: a file
 * that is not a key file at all is told so before its length is. */
static int parse(const char *path, const char *text, size_t len, uint8_t *key,
		 struct dwcp_err *err)
{
	size_t cmp = len < DWCP_KEYFILE_MAGIC_LEN ? len : DWCP_KEYFILE_MAGIC_LEN;

	if (len == 0)
		return dwcp_err_set(err, -EINVAL, "key file %s is empty; " KEY_HINT, path);
	if (memcmp(text, DWCP_KEYFILE_MAGIC, cmp) != 0 || len < DWCP_KEYFILE_MAGIC_LEN)
		return dwcp_err_set(err, -EINVAL,
				    "key file %s does not start with '" DWCP_KEYFILE_MAGIC "' (not a dwcp key file, or another format version); " KEY_HINT,
				    path);
	if (len < DWCP_KEYFILE_SIZE)
		return dwcp_err_set(err, -EINVAL, "key file %s is truncated: %zu bytes; " KEY_HINT,
				    path, len);
	if (len > DWCP_KEYFILE_SIZE)
		return dwcp_err_set(err, -EINVAL,
				    "key file %s has bytes after the key (more than %zu bytes; CRLF line ends count too); " KEY_HINT,
				    path, (size_t)DWCP_KEYFILE_SIZE);
	if (text[DWCP_KEYFILE_SIZE - 1] != '\n')
		return dwcp_err_set(err, -EINVAL, "key file %s does not end with a newline after the key; " KEY_HINT,
				    path);
	return decode(path, text, key, err);
}

int dwcp_keyfile_read(const char *path, uint8_t key[DWCP_KEYFILE_KEY_LEN], struct dwcp_err *err)
{
	char text[DWCP_KEYFILE_SIZE + 1];
	size_t len = 0;
	int fd, rc;

	if (path == NULL || path[0] == '\0') {
		explicit_bzero(key, DWCP_KEYFILE_KEY_LEN);
		return dwcp_err_set(err, -EINVAL, "no key file path given");
	}
	fd = open_key(path, err);
	if (fd < 0) {
		explicit_bzero(key, DWCP_KEYFILE_KEY_LEN);
		return fd;
	}
	rc = check_file(fd, path, err);
	if (rc == 0)
		rc = read_text(fd, path, text, &len, err);
	close(fd);
	if (rc == 0)
		rc = parse(path, text, len, key, err);
	explicit_bzero(text, sizeof(text));
	if (rc < 0)
		explicit_bzero(key, DWCP_KEYFILE_KEY_LEN);
	return rc;
}
