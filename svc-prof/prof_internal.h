/* svc-prof's parts: metrics.c renders the node's figures in the
 * Prometheus text format from shared memory; http.c serves them at
 * [prof] listen (libmicrohttpd, its own thread, off the data path).
 *
 * Concurrency: the HTTP thread renders while the service loop runs; the
 * renderer only reads single-writer words of the region (relaxed loads).
 */
#ifndef DWCP_SVC_PROF_INTERNAL_H
#define DWCP_SVC_PROF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ipc/shm.h"

/* A growing text buffer; oom set once an allocation failed. */
struct prof_out {
	char *p;
	size_t len, cap;
	bool oom;
};

void prof_out_printf(struct prof_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Append every metric of the node in @p shm to @p o. @return 0, or -1
 *  when out of memory (@p o holds what fitted; the caller frees o->p). */
int prof_metrics_render(const struct dwcp_shm *shm, struct prof_out *o);

/* The continuous profile (continuous.c): a thread sampling every service
 * at @p hz; its folded stacks and its own figures for the endpoint. */
struct prof_cont;
struct prof_cont *prof_cont_start(const struct dwcp_shm *shm, unsigned hz);
void prof_cont_stop(struct prof_cont *c);
void prof_cont_folded(struct prof_cont *c, struct prof_out *o);
void prof_cont_metrics(struct prof_cont *c, struct prof_out *o);

struct prof_http;

/**
 * Serve GET /metrics on @p listen ("HOST:PORT") from @p shm until
 * prof_http_stop; with @p cont (may be NULL) also its figures in
 * /metrics, its folded stacks at /profile and a flame graph at
 * /profile.svg. At most PROF_HTTP_MAX_CONNS clients at once, each for
 * at most PROF_HTTP_TIMEOUT_S idle seconds.
 * @return the server, or NULL with the reason (and the fix) in @p why.
 */
struct prof_http *prof_http_start(const char *listen, const struct dwcp_shm *shm,
				  struct prof_cont *cont, char *why, size_t why_n);
void prof_http_stop(struct prof_http *h);

#define PROF_HTTP_MAX_CONNS 16
#define PROF_HTTP_TIMEOUT_S 10

#endif
