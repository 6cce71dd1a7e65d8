/* Encoding, validation and transport of control messages (ctl_msg.h).
 * Validation is the whole point of this file: anything may write to the
 * socket, and the supervisor must answer garbage with a reason. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/abi.h"
#include "ipc/ctl_msg.h"

static int copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap);

	if (n == cap)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

void dwcp_ctl_req_init(struct dwcp_ctl_req *req, enum dwcp_ctl_type type)
{
	memset(req, 0, sizeof(*req));
	req->hdr.magic = DWCP_CTL_MAGIC;
	req->hdr.version = DWCP_CTL_VERSION;
	req->hdr.type = (uint16_t)type;
	req->hdr.len = sizeof(req->u);
}

int dwcp_ctl_req_hello(struct dwcp_ctl_req *req, enum dwcp_ctl_role role, const char *name)
{
	dwcp_ctl_req_init(req, DWCP_CTL_HELLO);
	req->u.hello.abi_version = DWCP_ABI_VERSION;
	req->u.hello.role = role;
	return copy_name(req->u.hello.name, sizeof(req->u.hello.name), name);
}

int dwcp_ctl_req_restart(struct dwcp_ctl_req *req, const char *name)
{
	dwcp_ctl_req_init(req, DWCP_CTL_RESTART);
	return copy_name(req->u.target.name, sizeof(req->u.target.name), name);
}

int dwcp_ctl_req_drain(struct dwcp_ctl_req *req, const char *name, uint32_t timeout_ms)
{
	dwcp_ctl_req_init(req, DWCP_CTL_DRAIN);
	req->u.drain.timeout_ms = timeout_ms;
	return copy_name(req->u.drain.name, sizeof(req->u.drain.name), name);
}

int dwcp_ctl_req_resume(struct dwcp_ctl_req *req, const char *name)
{
	dwcp_ctl_req_init(req, DWCP_CTL_RESUME);
	return copy_name(req->u.target.name, sizeof(req->u.target.name), name);
}

static void req_ext_init(struct dwcp_ctl_req_ext *req, enum dwcp_ctl_type type)
{
	memset(req, 0, sizeof(*req));
	dwcp_ctl_req_init(&req->req, type);
	req->req.hdr.len = sizeof(req->req.u) + sizeof(req->text);
}

int dwcp_ctl_req_upgrade(struct dwcp_ctl_req_ext *req, const char *name, const char *path)
{
	req_ext_init(req, DWCP_CTL_UPGRADE);
	if (copy_name(req->text, sizeof(req->text), path))
		return -ENAMETOOLONG;
	return copy_name(req->req.u.upgrade.name, sizeof(req->req.u.upgrade.name), name);
}

int dwcp_ctl_req_takeover(struct dwcp_ctl_req_ext *req, int status, uint32_t generation,
			  const char *why)
{
	req_ext_init(req, DWCP_CTL_TAKEOVER);
	req->req.u.takeover.status = status;
	req->req.u.takeover.generation = generation;
	snprintf(req->text, sizeof(req->text), "%s", why ? why : "");
	return 0;
}

int dwcp_ctl_type_is_ext(unsigned type)
{
	return type == DWCP_CTL_UPGRADE || type == DWCP_CTL_TAKEOVER;
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static int check_hdr(const struct dwcp_ctl_hdr *h, size_t len, struct dwcp_err *err)
{
	if (len < sizeof(*h))
		return dwcp_err_set(err, -EBADMSG, "control message too short (%zu bytes)", len);
	if (h->magic != DWCP_CTL_MAGIC)
		return dwcp_err_set(err, -EBADMSG, "not a dwcp control message (magic 0x%08x)",
				    h->magic);
	if (h->version != DWCP_CTL_VERSION)
		return dwcp_err_set(err, -EBADMSG,
				    "control protocol version %u, expected %u: use dwcpctl from the same build as the supervisor",
				    h->version, DWCP_CTL_VERSION);
	if (h->type == 0 || h->type >= DWCP_CTL_TYPE_MAX)
		return dwcp_err_set(err, -EBADMSG, "unknown control message type %u", h->type);
	if (h->len != len - sizeof(*h))
		return dwcp_err_set(err, -EBADMSG,
				    "control message length field %u does not match the %zu bytes received",
				    h->len, len - sizeof(*h));
	return 0;
}

/* The per-type checks of the fixed part (strings terminated, fields in
 * range); the framing is checked before. */
static int check_body(const struct dwcp_ctl_req *r, struct dwcp_err *err)
{
	switch (r->hdr.type) {
	case DWCP_CTL_HELLO:
		if (!terminated(r->u.hello.name, sizeof(r->u.hello.name)))
			return dwcp_err_set(err, -EBADMSG, "HELLO name is not terminated");
		if (r->u.hello.role > DWCP_ROLE_CLIENT)
			return dwcp_err_set(err, -EBADMSG, "HELLO with unknown role %u",
					    r->u.hello.role);
		return 0;
	case DWCP_CTL_RESTART:
	case DWCP_CTL_RESUME:
		if (!terminated(r->u.target.name, sizeof(r->u.target.name)))
			return dwcp_err_set(err, -EBADMSG, "%s target name is not terminated",
					    r->hdr.type == DWCP_CTL_RESTART ? "RESTART" : "RESUME");
		return 0;
	case DWCP_CTL_DRAIN:
		if (!terminated(r->u.drain.name, sizeof(r->u.drain.name)))
			return dwcp_err_set(err, -EBADMSG, "DRAIN target name is not terminated");
		if (r->u.drain.timeout_ms == 0 || r->u.drain.timeout_ms > 3600000u ||
		    r->u.drain.flags)
			return dwcp_err_set(err, -EBADMSG,
					    "DRAIN with timeout %u ms (1..3600000) or flags %#x (0)",
					    r->u.drain.timeout_ms, r->u.drain.flags);
		return 0;
	case DWCP_CTL_UPGRADE:
		if (!terminated(r->u.upgrade.name, sizeof(r->u.upgrade.name)))
			return dwcp_err_set(err, -EBADMSG, "UPGRADE target name is not terminated");
		if (r->u.upgrade.flags || r->u.upgrade.pad)
			return dwcp_err_set(err, -EBADMSG, "UPGRADE with reserved fields set");
		return 0;
	case DWCP_CTL_TAKEOVER:
		if (r->u.takeover.status > 0 || r->u.takeover.status < -4095)
			return dwcp_err_set(err, -EBADMSG, "TAKEOVER with impossible status %d",
					    r->u.takeover.status);
		return 0;
	default:
		return 0;
	}
}

int dwcp_ctl_decode_req(const void *buf, size_t len, struct dwcp_ctl_req *out,
			struct dwcp_err *err)
{
	const struct dwcp_ctl_req *r = buf;
	int rc;

	if (len != sizeof(*r))
		return dwcp_err_set(err, -EBADMSG, "control request of %zu bytes, expected %zu",
				    len, sizeof(*r));
	rc = check_hdr(&r->hdr, len, err);
	if (rc)
		return rc;
	if (r->hdr.status != 0)
		return dwcp_err_set(err, -EBADMSG, "control request with a status field set");
	if (dwcp_ctl_type_is_ext(r->hdr.type))
		return dwcp_err_set(err, -EBADMSG,
				    "control request of type %u needs its text (%zu bytes, got %zu)",
				    r->hdr.type, sizeof(struct dwcp_ctl_req_ext), len);
	memcpy(out, r, sizeof(*out));
	return check_body(out, err);
}

int dwcp_ctl_decode_req_ext(const void *buf, size_t len, struct dwcp_ctl_req_ext *out,
			    struct dwcp_err *err)
{
	const struct dwcp_ctl_req_ext *r = buf;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len != sizeof(struct dwcp_ctl_req))
		if (len != sizeof(*r) || !dwcp_ctl_type_is_ext(r->req.hdr.type))
			return dwcp_err_set(err, -EBADMSG,
					    "control request of %zu bytes, expected %zu (or %zu for UPGRADE and TAKEOVER)",
					    len, sizeof(struct dwcp_ctl_req), sizeof(*r));
	if (len == sizeof(struct dwcp_ctl_req))
		return dwcp_ctl_decode_req(buf, len, &out->req, err);
	rc = check_hdr(&r->req.hdr, len, err);
	if (rc)
		return rc;
	if (r->req.hdr.status != 0)
		return dwcp_err_set(err, -EBADMSG, "control request with a status field set");
	if (!terminated(r->text, sizeof(r->text)))
		return dwcp_err_set(err, -EBADMSG, "control request text is not terminated");
	memcpy(out, r, sizeof(*out));
	return check_body(&out->req, err);
}

static int reply_is_text(enum dwcp_ctl_type type, int status)
{
	return !(type == DWCP_CTL_HELLO && status == 0);
}

int dwcp_ctl_decode_reply(const void *buf, size_t len, enum dwcp_ctl_type type,
			  const struct dwcp_ctl_hdr **hdr, const void **payload,
			  struct dwcp_err *err)
{
	const struct dwcp_ctl_hdr *h = buf;
	const char *p = (const char *)buf + sizeof(*h);
	int rc = check_hdr(h, len, err);

	if (rc)
		return rc;
	if (h->type != type)
		return dwcp_err_set(err, -EBADMSG, "reply of type %u to a request of type %u",
				    h->type, type);
	if (h->status > 0 || h->status < -4095)
		return dwcp_err_set(err, -EBADMSG, "reply with impossible status %d", h->status);
	if (reply_is_text(type, h->status)) {
		if (h->len == 0 || p[h->len - 1] != '\0')
			return dwcp_err_set(err, -EBADMSG, "reply text is not terminated");
	} else if (h->len != sizeof(struct dwcp_ctl_hello_reply) ||
		   !terminated(((const struct dwcp_ctl_hello_reply *)p)->file_prefix,
			       DWCP_CTL_NAME_MAX) ||
		   !terminated(((const struct dwcp_ctl_hello_reply *)p)->huge_dir,
			       DWCP_CTL_PATH_MAX)) {
		return dwcp_err_set(err, -EBADMSG, "malformed HELLO reply");
	}
	*hdr = h;
	*payload = p;
	return 0;
}

int dwcp_ctl_sock_path(char *buf, size_t n, const char *run_dir, const char *instance)
{
	int w = snprintf(buf, n, "%s/%s/ctl.sock", run_dir, instance);

	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int dwcp_ctl_connect(const char *run_dir, const char *instance, struct dwcp_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (dwcp_ctl_sock_path(sa.sun_path, sizeof(sa.sun_path), run_dir, instance))
		return dwcp_err_set(err, -ENAMETOOLONG, "control socket path too long under %s",
				    run_dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dwcp_err_set(err, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == ENOENT || e == ECONNREFUSED)
		return dwcp_err_set(err, -e,
				    "no dwcp supervisor for instance '%s' (%s: %s): is `dwcp-supervisor --instance %s start` running?",
				    instance, sa.sun_path, strerror(e), instance);
	return dwcp_err_set(err, -e, "cannot connect to %s: %s", sa.sun_path, strerror(e));
}

static int send_req(int fd, const void *req, size_t len, struct dwcp_err *err)
{
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return dwcp_err_set(err, -errno, "cannot send to the supervisor: %s",
				    strerror(errno));
	return 0;
}

int dwcp_ctl_recv_reply(int fd, enum dwcp_ctl_type type, void *buf, size_t cap, int timeout_ms,
			const struct dwcp_ctl_hdr **hdr, const void **payload,
			struct dwcp_err *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int rc = poll(&pfd, 1, timeout_ms);

	if (rc < 0 && errno == EINTR)
		return dwcp_err_set(err, -EINTR, "interrupted while waiting for the supervisor");
	if (rc == 0)
		return dwcp_err_set(err, -ETIMEDOUT, "the supervisor did not answer within %d ms",
				    timeout_ms);
	if (rc < 0)
		return dwcp_err_set(err, -errno, "poll: %s", strerror(errno));
	n = recv(fd, buf, cap, MSG_TRUNC);
	if (n <= 0)
		return dwcp_err_set(err, n ? -errno : -ECONNRESET,
				    "the supervisor closed the connection");
	if ((size_t)n > cap)
		return dwcp_err_set(err, -EMSGSIZE, "reply of %zd bytes exceeds %zu", n, cap);
	return dwcp_ctl_decode_reply(buf, (size_t)n, type, hdr, payload, err);
}

/* A signal during the wait does not end a call: its callers wait briefly. */
static int call(int fd, const void *req, size_t len, enum dwcp_ctl_type type, void *buf,
		size_t cap, int timeout_ms, const struct dwcp_ctl_hdr **hdr, const void **payload,
		struct dwcp_err *err)
{
	int rc = send_req(fd, req, len, err);

	while (rc == 0 &&
	       (rc = dwcp_ctl_recv_reply(fd, type, buf, cap, timeout_ms, hdr, payload, err)) ==
	       -EINTR)
		;
	return rc;
}

int dwcp_ctl_call(int fd, const struct dwcp_ctl_req *req, void *buf, size_t cap,
		  int timeout_ms, const struct dwcp_ctl_hdr **hdr, const void **payload,
		  struct dwcp_err *err)
{
	return call(fd, req, sizeof(*req), (enum dwcp_ctl_type)req->hdr.type, buf, cap,
		    timeout_ms, hdr, payload, err);
}

int dwcp_ctl_call_ext(int fd, const struct dwcp_ctl_req_ext *req, void *buf, size_t cap,
		      int timeout_ms, const struct dwcp_ctl_hdr **hdr, const void **payload,
		      struct dwcp_err *err)
{
	return call(fd, req, sizeof(*req), (enum dwcp_ctl_type)req->req.hdr.type, buf, cap,
		    timeout_ms, hdr, payload, err);
}

int dwcp_ctl_send_req_ext(int fd, const struct dwcp_ctl_req_ext *req, struct dwcp_err *err)
{
	return send_req(fd, req, sizeof(*req), err);
}

int dwcp_ctl_send_reply(int fd, enum dwcp_ctl_type type, int status, const void *payload,
			size_t len)
{
	struct dwcp_ctl_hdr h = {
		.magic = DWCP_CTL_MAGIC, .version = DWCP_CTL_VERSION,
		.type = (uint16_t)type, .status = status, .len = (uint32_t)len,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (len > DWCP_CTL_REPLY_MAX - sizeof(h))
		return -EMSGSIZE;
	return sendmsg(fd, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}
