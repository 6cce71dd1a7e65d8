/* dwcp key files: the AES-256-GCM key that both ends of a transfer share.
 *
 * Format (version 1): a text file of exactly 84 bytes,
 *
 *     dwcp-aes256-gcm-v1 <64 lowercase hex digits>\n
 *
 * the 19-byte magic (algorithm and format version, so a later format or
 * cipher is refused by name rather than misread), one space, the 32 key
 * bytes as hex, one newline. `dwcp keygen PATH` writes it; copy it to the
 * peer with any tool that keeps it private (scp, then chmod 600).
 *
 * Strictness: there is exactly one valid spelling of a key, and reading
 * accepts only that. No uppercase hex, no CRLF, no missing final newline,
 * no blanks, comments or trailing bytes: a key file is machine-written,
 * so anything else means it was hand-edited, truncated or is not a key
 * file, and guessing would risk running with a key that differs from the
 * peer's (every chunk would then fail authentication, far from the cause).
 * The file must also be private: a regular file (not a symbolic link,
 * which could be swapped under us), owned by the effective user, with no
 * group or other permission bits. Every refusal names the path and the
 * command that fixes it.
 */
#ifndef DWCP_COMMON_KEYFILE_H
#define DWCP_COMMON_KEYFILE_H

#include <stdint.h>

#include "common/err.h"

#define DWCP_KEYFILE_KEY_LEN 32                      /* AES-256 */
#define DWCP_KEYFILE_MAGIC   "dwcp-aes256-gcm-v1 "   /* with its trailing space */
#define DWCP_KEYFILE_MAGIC_LEN (sizeof(DWCP_KEYFILE_MAGIC) - 1)
/* magic + 2 hex digits per key byte + "\n" = 84 */
#define DWCP_KEYFILE_SIZE    (DWCP_KEYFILE_MAGIC_LEN + 2 * DWCP_KEYFILE_KEY_LEN + 1)

/**
 * Create a new key file at @p path holding a fresh random key
 * (getrandom(2), the kernel CSPRNG; it blocks only until the pool is
 * initialised at boot). The file is created with O_CREAT|O_EXCL|O_NOFOLLOW
 * and mode 0600 whatever the umask, written, fsync'ed, and its directory
 * fsync'ed so the name survives a crash. Key bytes are wiped from the
 * stack before returning.
 * @param path new file; an existing file or link there is never touched.
 * @param err  may be NULL; on failure holds a sentence naming @p path.
 * @return 0; -EEXIST when @p path exists ("remove it first or choose
 *         another path"); -ENOENT/-EACCES/-EROFS/-ENOSPC/-EIO/... from
 *         open(2), write(2) or fsync(2), after which no partial file is
 *         left behind (except when only the directory fsync failed: the
 *         file is complete, its name may not be durable yet);
 *         -errno from getrandom(2).
 * Concurrency: any thread; no shared state. Two callers racing for one
 * path: exactly one succeeds, the other gets -EEXIST.
 */
int dwcp_keyfile_write(const char *path, struct dwcp_err *err);

/**
 * Read and check the key file at @p path (format and checks above).
 * @param key  receives the 32 key bytes; zeroed on any failure. The
 *             caller owns it and should explicit_bzero it after use.
 * @param err  may be NULL; on failure holds a sentence naming @p path.
 * @return 0;
 *         -ENOENT/-EACCES/... when it cannot be opened (errno text);
 *         -ELOOP when @p path is a symbolic link;
 *         -EISDIR for a directory, -EINVAL for another non-regular file;
 *         -EPERM when group or others have any permission on it
 *         ("chmod 600 PATH") or it is not owned by the effective user;
 *         -EINVAL when the content is not exactly the format above
 *         (empty, wrong length, wrong magic, non-lowercase-hex digit,
 *         no final newline).
 * Concurrency: any thread; no shared state.
 */
int dwcp_keyfile_read(const char *path, uint8_t key[DWCP_KEYFILE_KEY_LEN], struct dwcp_err *err);

#endif
