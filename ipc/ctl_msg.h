/* The control protocol between the supervisor and everyone else (services
 * at start-up, clients for their lifetime, dwcpctl for one command).
 *
 * Transport: a Unix SOCK_SEQPACKET socket at <run_dir>/<instance>/ctl.sock,
 * mode 0600 in a 0700 directory (only the node's owner may drive it); the
 * peer's pid and uid come from SO_PEERCRED, never from the message, and
 * only root and the supervisor's user are served. A connection that has
 * not attached is closed a few seconds after its last valid request, and
 * connections and client slots are limited per process
 * (svc-supervisor/control.c, docs/operations.md).
 *
 * A request is a fixed-size tagged union (struct dwcp_ctl_req); the two
 * types that carry a path or a sentence are that request followed by a
 * text field (struct dwcp_ctl_req_ext, "ext" below). A reply is a header
 * followed by a payload whose meaning the request type fixes:
 *
 *   type     | request payload          | reply payload (status 0) | on error
 *   HELLO    | dwcp_ctl_hello           | dwcp_ctl_hello_reply     | message text
 *   STATUS   | (none)                   | JSON document            | message text
 *   RESTART  | dwcp_ctl_target          | message text             | message text
 *   STOP     | (none)                   | message text             | message text
 *   DRAIN    | dwcp_ctl_drain           | message text, once the   | message text
 *            |                          | service holds no buffers |
 *   RESUME   | dwcp_ctl_target          | message text, once READY | message text
 *   UPGRADE  | dwcp_ctl_upgrade + ext:  | message text, once the   | message text (the
 *            | absolute binary path     | new generation is READY  | new binary's reason)
 *   TAKEOVER | dwcp_ctl_takeover + ext: | "go": take the slot over | message text: give up
 *            | why it cannot attach     | (answered once the old   |
 *            | (status < 0)             | generation has exited)   |
 *
 * DRAIN, RESUME and UPGRADE are answered when done, not when accepted, so
 * their caller waits longer than for the others (the supervisor bounds
 * each with its own timeout). TAKEOVER is sent by the new binary of an
 * upgrade (started with --takeover) once it has attached; see
 * svc-supervisor/upgrade.c for the whole exchange.
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
#define DWCP_CTL_VERSION    1u   /* new types extend it; a changed layout bumps it */
#define DWCP_CTL_REPLY_MAX  (256u * 1024u)
#define DWCP_CTL_NAME_MAX   32
#define DWCP_CTL_PATH_MAX   256
#define DWCP_CTL_TEXT_MAX   512   /* ext text: a binary path or a sentence */

enum dwcp_ctl_type {
	DWCP_CTL_HELLO = 1,
	DWCP_CTL_STATUS = 2,
	DWCP_CTL_RESTART = 3,
	DWCP_CTL_STOP = 4,
	DWCP_CTL_DRAIN = 5,
	DWCP_CTL_RESUME = 6,
	DWCP_CTL_UPGRADE = 7,     /* ext */
	DWCP_CTL_TAKEOVER = 8,    /* ext */
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

struct dwcp_ctl_drain {
	char     name[DWCP_CTL_NAME_MAX];
	uint32_t timeout_ms;                /* answer with an error after this; 1..3600000 */
	uint32_t flags;                     /* 0; reserved */
};

struct dwcp_ctl_upgrade {
	char     name[DWCP_CTL_NAME_MAX];   /* the service; the binary path is in ext */
	uint32_t flags;                     /* 0; reserved */
	uint32_t pad;
};

struct dwcp_ctl_takeover {
	int32_t  status;        /* 0: attached, waiting for "go"; -errno: cannot (ext says why) */
	uint32_t generation;    /* the generation it attached as */
	uint8_t  pad[32];
};

struct dwcp_ctl_req {
	struct dwcp_ctl_hdr hdr;
	union {
		struct dwcp_ctl_hello hello;
		struct dwcp_ctl_target target;
		struct dwcp_ctl_drain drain;
		struct dwcp_ctl_upgrade upgrade;
		struct dwcp_ctl_takeover takeover;
	} u;
};

/* UPGRADE and TAKEOVER: the request, then a NUL-terminated text; hdr.len
 * covers both. The short form keeps its size (old tools and the fuzzers
 * built around it still frame every other type the same way). */
struct dwcp_ctl_req_ext {
	struct dwcp_ctl_req req;
	char text[DWCP_CTL_TEXT_MAX];
};

_Static_assert(sizeof(struct dwcp_ctl_hdr) == 16, "ctl header size is ABI");
_Static_assert(sizeof(struct dwcp_ctl_req) == 16 + 40, "ctl request size is ABI");
_Static_assert(sizeof(struct dwcp_ctl_req_ext) == 16 + 40 + DWCP_CTL_TEXT_MAX,
	       "ctl ext request size is ABI");

/** Build a request of @p type with an empty payload. */
void dwcp_ctl_req_init(struct dwcp_ctl_req *req, enum dwcp_ctl_type type);
/** Build HELLO. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_hello(struct dwcp_ctl_req *req, enum dwcp_ctl_role role, const char *name);
/** Build RESTART for service @p name. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_restart(struct dwcp_ctl_req *req, const char *name);

/** Build DRAIN of service @p name, answered within @p timeout_ms. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_drain(struct dwcp_ctl_req *req, const char *name, uint32_t timeout_ms);
/** Build RESUME of service @p name. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_resume(struct dwcp_ctl_req *req, const char *name);
/** Build UPGRADE of service @p name to binary @p path. @return 0 or -ENAMETOOLONG. */
int dwcp_ctl_req_upgrade(struct dwcp_ctl_req_ext *req, const char *name, const char *path);
/**
 * Build TAKEOVER: @p status 0 (attached as @p generation, waiting) or
 * -errno with @p why (cut to fit). @return 0.
 */
int dwcp_ctl_req_takeover(struct dwcp_ctl_req_ext *req, int status, uint32_t generation,
			  const char *why);
/** True for the types sent as struct dwcp_ctl_req_ext. */
int dwcp_ctl_type_is_ext(unsigned type);

/**
 * Validate @p len bytes received as a short request and copy them to @p out.
 * @return 0; -EBADMSG (wrong size, magic, version or type — including an
 *         ext type —, or a string not terminated), message in @p err.
 */
int dwcp_ctl_decode_req(const void *buf, size_t len, struct dwcp_ctl_req *out,
			struct dwcp_err *err);

/**
 * Validate a request of either form (the supervisor's decoder): a short
 * type must come at the short size, an ext type at the ext size with its
 * text terminated. @p out is filled up to the form received (text "" for
 * a short one).
 * @return 0 or -EBADMSG with the reason in @p err.
 */
int dwcp_ctl_decode_req_ext(const void *buf, size_t len, struct dwcp_ctl_req_ext *out,
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

/** dwcp_ctl_call for an ext request (UPGRADE, TAKEOVER); same contract. */
int dwcp_ctl_call_ext(int fd, const struct dwcp_ctl_req_ext *req, void *buf, size_t cap,
		      int timeout_ms, const struct dwcp_ctl_hdr **hdr, const void **payload,
		      struct dwcp_err *err);

/**
 * Send @p req without waiting (its reply is read with dwcp_ctl_recv_reply).
 * @return 0 or -errno with the reason.
 */
int dwcp_ctl_send_req_ext(int fd, const struct dwcp_ctl_req_ext *req, struct dwcp_err *err);

/**
 * Receive the reply to a request of @p type, waiting at most @p timeout_ms
 * (-1: no limit). Unlike dwcp_ctl_call it returns -EINTR when a signal
 * arrives, so a caller that waits long can look at its stop flag.
 * @return 0 with @p hdr/@p payload set; -ETIMEDOUT, -EINTR, -ECONNRESET
 *         (the supervisor is gone), -EBADMSG.
 */
int dwcp_ctl_recv_reply(int fd, enum dwcp_ctl_type type, void *buf, size_t cap, int timeout_ms,
			const struct dwcp_ctl_hdr **hdr, const void **payload,
			struct dwcp_err *err);

/**
 * Send a reply: header with @p status and @p len payload bytes.
 * @return 0 or -errno.
 */
int dwcp_ctl_send_reply(int fd, enum dwcp_ctl_type type, int status, const void *payload,
			size_t len);

#endif
