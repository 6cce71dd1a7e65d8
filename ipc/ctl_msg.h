/* The control protocol between the supervisor and everyone else (services
 * at start-up, clients for their lifetime, dwcpctl for one command).
 *
 * Transport: a Unix SOCK_SEQPACKET socket at <run_dir>/<instance>/ctl.sock,
 * mode 0600 in a 0700 directory (only the node's owner may drive it); the
 * peer's pid comes from SO_PEERCRED, never from the message.
 *
 * A request is a fixed-size tagged union; a reply is a header followed by a
 * payload whose meaning the request type fixes:
 *
 *   type     | request payload    | reply payload (status 0)      | on error
 *   HELLO    | dwcp_ctl_hello     | dwcp_ctl_hello_reply          | message text
 *   STATUS   | (none)             | JSON document                 | message text
 *   RESTART  | dwcp_ctl_target    | message text                  | message text
 *   STOP     | (none)             | message text                  | message text
 *
 * Every decode checks magic, version, type, exact length, and that every
 * string is NUL-terminated inside its field, so garbage is an error with a
 * reason, never a crash.
 */
#ifndef DWCP_IPC_CTL_MSG_H
#define DWCP_IPC_CTL_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DWCP_CTL_MAGIC      0x4c544344u  /* "DCTL" */
#define DWCP_CTL_VERSION    1u
#define DWCP_CTL_REPLY_MAX  (256u * 1024u)
#define DWCP_CTL_NAME_MAX   32
#define DWCP_CTL_PATH_MAX   256

enum dwcp_ctl_type {
	DWCP_CTL_HELLO = 1,
	DWCP_CTL_STATUS = 2,
	DWCP_CTL_RESTART = 3,
	DWCP_CTL_STOP = 4,
	DWCP_CTL_TYPE_MAX
};

enum dwcp_ctl_role {
	DWCP_ROLE_SERVICE = 0,
	DWCP_ROLE_CLIENT = 1,
};

struct dwcp_ctl_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	int32_t  status;     /* replies: 0 or -errno */
	uint32_t len;        /* payload bytes after the header */
};

struct dwcp_ctl_hello {
	uint32_t abi_version;
	uint32_t role;                     /* enum dwcp_ctl_role */
	char     name[DWCP_CTL_NAME_MAX];  /* service name, or a client label */
};

struct dwcp_ctl_hello_reply {
	uint32_t slot;
	uint32_t generation;
	uint32_t lcore;
	uint32_t abi_version;
	char     file_prefix[DWCP_CTL_NAME_MAX];
	char     huge_dir[DWCP_CTL_PATH_MAX];
};

struct dwcp_ctl_target {
	char name[DWCP_CTL_NAME_MAX];
};

struct dwcp_ctl_req {
	struct dwcp_ctl_hdr hdr;
	union {
		struct dwcp_ctl_hello hello;
		struct dwcp_ctl_target target;
	} u;
};

_Static_assert(sizeof(struct dwcp_ctl_hdr) == 16, "ctl header size is ABI");
_Static_assert(sizeof(struct dwcp_ctl_req) == 16 + 40, "ctl request size is ABI");

/** Build a request of @p type with an empty payload. */
void dwcp_ctl_req_init(struct dwcp_ctl_req *req, enum dwcp_ctl_type type);
/** Build HELLO. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_hello(struct dwcp_ctl_req *req, enum dwcp_ctl_role role, const char *name);
/** Build RESTART for service @p name. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_restart(struct dwcp_ctl_req *req, const char *name);

/**
 * Validate @p len bytes received as a request and copy them to @p out.
 * @return 0; -EBADMSG (wrong size, magic, version or type, or a string
 *         not terminated), message in @p err.
 */
int dwcp_ctl_decode_req(const void *buf, size_t len, struct dwcp_ctl_req *out,
			struct dwcp_err *err);

/**
 * Validate a reply to a request of @p type.
 * @param payload set to the payload (inside @p buf), NUL-terminated when
 *        textual (the decoder checks a terminator is present).
 * @return 0 (then hdr->status carries the supervisor's verdict); -EBADMSG.
 */
int dwcp_ctl_decode_reply(const void *buf, size_t len, enum dwcp_ctl_type type,
			  const struct dwcp_ctl_hdr **hdr, const void **payload,
			  struct dwcp_err *err);

/** "<run_dir>/<instance>/ctl.sock" into @p buf. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_sock_path(char *buf, size_t n, const char *run_dir, const char *instance);

/**
 * Connect to the supervisor of @p instance.
 * @return a socket fd; -ENOENT/-ECONNREFUSED with a message naming the
 *         command that starts the supervisor.
 */
int dwcp_ctl_connect(const char *run_dir, const char *instance, struct dwcp_err *err);

/**
 * Send @p req and receive the reply into @p buf (@p cap bytes; use
 * DWCP_CTL_REPLY_MAX). Waits at most @p timeout_ms; after -ETIMEDOUT the
 * connection must be closed (a late reply would answer the next call).
 * @return 0 with @p hdr/@p payload set (check hdr->status); -errno on a
 *         transport failure or a malformed reply.
 */
int dwcp_ctl_call(int fd, const struct dwcp_ctl_req *req, void *buf, size_t cap,
		  int timeout_ms, const struct dwcp_ctl_hdr **hdr, const void **payload,
		  struct dwcp_err *err);

/**
 * Send a reply: header with @p status and @p len payload bytes.
 * @return 0 or -errno.
 */
int dwcp_ctl_send_reply(int fd, enum dwcp_ctl_type type, int status, const void *payload,
			size_t len);

#endif
