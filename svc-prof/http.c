/* svc-prof's HTTP endpoint (prof_internal.h): libmicrohttpd in its own
 * polling thread, on a socket we bind ourselves so that the error says
 * which address failed and why. No SO_REUSEPORT: two nodes configured
 * with the same address must not silently share it (a scrape would get
 * either node); a restarted or upgraded svc-prof retries for a moment
 * while its predecessor lets go of the address.
 *
 * Only GET and HEAD of /metrics are answered; anything else is 404 or 405.
 * No request body is accepted, connections and their idle time are
 * bounded, and a scrape's cost is bounded by the region's fixed tables.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/err.h"
#include "common/netaddr.h"
#include "prof_internal.h"
#include "profile.h"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text);

/* A predecessor's socket goes with its process: a second at most. */
#define BIND_TRIES   20
#define BIND_WAIT_US 50000

struct prof_http {
	struct MHD_Daemon *d;
	const struct dwcp_shm *shm;
	struct prof_cont *cont;       /* NULL: no continuous profile */
};

static enum MHD_Result send_out(struct MHD_Connection *c, struct prof_out *o, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (o->oom) {
		free(o->p);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	r = MHD_create_response_from_buffer(o->len, o->p ? o->p : (void *)"", o->p ? MHD_RESPMEM_MUST_FREE :
					    MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(o->p);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* /profile and /profile.svg: the continuous profile so far. */
static enum MHD_Result profile(struct prof_http *h, struct MHD_Connection *c, bool svg)
{
	struct prof_out folded = { 0 }, o = { 0 };
	FILE *f;
	char *buf = NULL;
	size_t len = 0;

	if (!h->cont)
		return reply(c, MHD_HTTP_NOT_FOUND, "no continuous profile: [prof] sample_hz is 0\n");
	prof_cont_folded(h->cont, &folded);
	if (!svg)
		return send_out(c, &folded, "text/plain; charset=utf-8");
	f = open_memstream(&buf, &len);
	if (!f || folded.oom) {
		if (f)
			fclose(f);
		free(buf);
		free(folded.p);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	dwcp_prof_flame_svg(folded.p ? folded.p : "", "dwcp: where the services' CPU time went since svc-prof started", f);
	fclose(f);
	free(folded.p);
	o.p = buf, o.len = len, o.cap = len;
	return send_out(c, &o, "image/svg+xml");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **state)
{
	struct prof_http *h = cls;
	struct prof_out o = { 0 };
	struct MHD_Response *r;
	enum MHD_Result rc;

	(void)version, (void)upload, (void)state;
	if (*upload_len)
		return MHD_NO;   /* a body nobody asked for: drop the connection */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served\n");
	if (!strcmp(url, "/profile") || !strcmp(url, "/profile.svg"))
		return profile(h, c, url[8] == '.');
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND,
			     "dwcp svc-prof: the metrics are at /metrics, the profile at /profile and /profile.svg\n");
	if (h->cont)
		prof_cont_metrics(h->cont, &o);
	if (prof_metrics_render(h->shm, &o)) {
		free(o.p);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory rendering the metrics\n");
	}
	r = MHD_create_response_from_buffer(o.len, o.p, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(o.p);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static int bind_listen(const char *listen_addr, char *why, size_t why_n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct dwcp_err err = { 0 };
	int one = 1, fd, e;

	if (dwcp_addr_resolve(listen_addr, &ss, &len, &err)) {
		snprintf(why, why_n, "[prof] listen = %s: %s", listen_addr, err.msg);
		return -1;
	}
	for (unsigned try = 0;; try++) {
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
		    !bind(fd, (struct sockaddr *)&ss, len) && !listen(fd, 64))
			return fd;
		e = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (e != EADDRINUSE || try >= BIND_TRIES)
			break;
		usleep(BIND_WAIT_US);
	}
	snprintf(why, why_n, "cannot serve metrics on %s: %s (set [prof] listen to a free address, or empty for none)",
		 listen_addr, strerror(e));
	return -1;
}

struct prof_http *prof_http_start(const char *listen_addr, const struct dwcp_shm *shm,
				  struct prof_cont *cont, char *why, size_t why_n)
{
	struct prof_http *h = calloc(1, sizeof(*h));
	int fd;

	if (!h) {
		snprintf(why, why_n, "out of memory");
		return NULL;
	}
	h->shm = shm;
	h->cont = cont;
	fd = bind_listen(listen_addr, why, why_n);
	if (fd < 0) {
		free(h);
		return NULL;
	}
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
				on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)PROF_HTTP_MAX_CONNS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PROF_HTTP_TIMEOUT_S,
				MHD_OPTION_END);
	if (!h->d) {
		snprintf(why, why_n, "cannot start the metrics server on %s (libmicrohttpd refused)",
			 listen_addr);
		close(fd);
		free(h);
		return NULL;
	}
	return h;
}

void prof_http_stop(struct prof_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);   /* closes the listening socket too */
	free(h);
}
