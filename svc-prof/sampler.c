/* Sampling of other processes' call stacks with perf_event_open
 * (profile.h): one cpu-clock event per thread of each target, sampled at
 * a frequency, with the kernel's callchain (frame pointers in user space,
 * the kernel's own unwinder inside it), read from each event's ring.
 *
 * No perf binary is needed; root (or perf_event_paranoid <= 1 and the
 * same user) is. Threads started after the sampling began are not seen:
 * a node's services start theirs at init.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "profile.h"

#define RING_PAGES 16u        /* data pages per event: 64 KiB */

struct ring {
	int fd;
	void *base;
	size_t size;          /* data part */
};

static long page_size(void)
{
	static long ps;

	if (!ps)
		ps = sysconf(_SC_PAGESIZE);
	return ps;
}

static int open_event(pid_t tid, unsigned hz, struct ring *r)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(a),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = hz,
		.freq = 1,
		.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN,
		.disabled = 1,
		.exclude_hv = 1,
		.wakeup_events = 16,
	};
	size_t len = (size_t)page_size() * (1 + RING_PAGES);

	r->fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED) {
		int e = -errno;

		close(r->fd);
		r->fd = -1;
		return e;
	}
	r->size = (size_t)page_size() * RING_PAGES;
	return 0;
}

static void close_ring(struct ring *r)
{
	if (r->base && r->base != MAP_FAILED)
		munmap(r->base, (size_t)page_size() * (1 + RING_PAGES));
	if (r->fd >= 0)
		close(r->fd);
}

static void add_sample(struct dwcp_prof_samples *s, uint32_t pid, const uint64_t *ips, uint64_t nr)
{
	struct dwcp_prof_sample *x;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;

		if (cap > DWCP_PROF_MAX_SAMPLES || !(x = realloc(s->v, cap * sizeof(*x)))) {
			s->dropped++;
			return;
		}
		s->v = x;
		s->cap = cap;
	}
	x = &s->v[s->n++];
	x->pid = pid;
	x->n = (uint32_t)(nr < DWCP_PROF_MAX_DEPTH ? nr : DWCP_PROF_MAX_DEPTH);
	memcpy(x->ip, ips, x->n * sizeof(x->ip[0]));
}

/* Every complete record in @p r's ring since the last call. */
static void drain(struct ring *r, struct dwcp_prof_samples *s)
{
	struct perf_event_mmap_page *m = r->base;
	uint8_t *data = (uint8_t *)r->base + page_size();
	uint64_t head = __atomic_load_n(&m->data_head, __ATOMIC_ACQUIRE), tail = m->data_tail;
	uint8_t rec[8 + 8 + 8 + 8 + 8 * 512];

	while (tail < head) {
		struct perf_event_header h;
		size_t at = tail % r->size;

		for (size_t i = 0; i < sizeof(h); i++)
			((uint8_t *)&h)[i] = data[(at + i) % r->size];
		if (h.size < sizeof(h) || tail + h.size > head)
			break;
		if (h.type == PERF_RECORD_SAMPLE && h.size <= sizeof(rec)) {
			for (size_t i = 0; i < h.size; i++)
				rec[i] = data[(at + i) % r->size];
			/* ip, pid/tid, nr, ips[nr] */
			const uint64_t *w = (const uint64_t *)(rec + sizeof(h));
			uint32_t pid = (uint32_t)w[1];
			uint64_t nr = w[2];

			if (24 + sizeof(h) + nr * 8 <= h.size)
				add_sample(s, pid, w + 3, nr);
		} else if (h.type == PERF_RECORD_LOST) {
			s->lost++;
		}
		tail += h.size;
	}
	__atomic_store_n(&m->data_tail, tail, __ATOMIC_RELEASE);
}

/* The threads of @p pid into @p tids (at most @p max). */
static unsigned threads_of(pid_t pid, pid_t *tids, unsigned max)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	unsigned n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL && n < max) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);

		if (!*end && tid > 0)
			tids[n++] = (pid_t)tid;
	}
	if (d)
		closedir(d);
	return n;
}

/* Events on the threads of a changing set of processes. */
struct dwcp_prof_session {
	unsigned hz;
	struct ring ring[DWCP_PROF_MAX_EVENTS];
	pid_t tid[DWCP_PROF_MAX_EVENTS];
	struct pollfd pfd[DWCP_PROF_MAX_EVENTS];
	unsigned n;
	int first_err;
};

struct dwcp_prof_session *dwcp_prof_session_new(unsigned hz)
{
	struct dwcp_prof_session *x = calloc(1, sizeof(*x));

	if (x)
		x->hz = hz;
	return x;
}

static bool sampled(const struct dwcp_prof_session *x, pid_t tid)
{
	for (unsigned i = 0; i < x->n; i++)
		if (x->tid[i] == tid)
			return true;
	return false;
}

int dwcp_prof_session_add(struct dwcp_prof_session *x, pid_t pid)
{
	pid_t tids[DWCP_PROF_MAX_THREADS];
	unsigned k = threads_of(pid, tids, DWCP_PROF_MAX_THREADS);
	int added = 0;

	for (unsigned i = 0; i < k && x->n < DWCP_PROF_MAX_EVENTS; i++) {
		int e;

		if (sampled(x, tids[i]))
			continue;
		e = open_event(tids[i], x->hz, &x->ring[x->n]);
		if (e) {
			x->first_err = x->first_err ? x->first_err : e;
			continue;
		}
		ioctl(x->ring[x->n].fd, PERF_EVENT_IOC_ENABLE, 0);
		x->tid[x->n] = tids[i];
		x->pfd[x->n] = (struct pollfd){ .fd = x->ring[x->n].fd, .events = POLLIN };
		x->n++;
		added++;
	}
	return added ? added : x->first_err;
}

void dwcp_prof_session_prune(struct dwcp_prof_session *x)
{
	for (unsigned i = 0; i < x->n;) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/%d", (int)x->tid[i]);
		if (access(path, F_OK) == 0) {
			i++;
			continue;
		}
		close_ring(&x->ring[i]);
		x->n--;
		x->ring[i] = x->ring[x->n];
		x->tid[i] = x->tid[x->n];
		x->pfd[i] = x->pfd[x->n];
	}
}

unsigned dwcp_prof_session_threads(const struct dwcp_prof_session *x)
{
	return x->n;
}

void dwcp_prof_session_poll(struct dwcp_prof_session *x, int timeout_ms, struct dwcp_prof_samples *out)
{
	if (x->n)
		poll(x->pfd, x->n, timeout_ms);
	else if (timeout_ms > 0)
		usleep((useconds_t)timeout_ms * 1000u);
	for (unsigned i = 0; i < x->n; i++)
		drain(&x->ring[i], out);
	out->threads = x->n;
}

void dwcp_prof_session_free(struct dwcp_prof_session *x)
{
	if (!x)
		return;
	for (unsigned i = 0; i < x->n; i++) {
		ioctl(x->ring[i].fd, PERF_EVENT_IOC_DISABLE, 0);
		close_ring(&x->ring[i]);
	}
	free(x);
}

int dwcp_prof_sample(const pid_t *pids, unsigned n_pids, unsigned hz, unsigned seconds,
		     struct dwcp_prof_samples *out, char *why, size_t why_n)
{
	struct dwcp_prof_session *x = dwcp_prof_session_new(hz);
	struct timespec t0, t;
	int rc = 0;

	if (!x) {
		snprintf(why, why_n, "out of memory");
		return -ENOMEM;
	}
	for (unsigned p = 0; p < n_pids; p++)
		dwcp_prof_session_add(x, pids[p]);
	if (!x->n) {
		rc = x->first_err ? x->first_err : -ESRCH;
		snprintf(why, why_n, "cannot sample any thread of the %u process(es): %s%s", n_pids,
			 strerror(-rc), rc == -EACCES || rc == -EPERM ?
			 " (run as root, or sysctl kernel.perf_event_paranoid=1)" : "");
		dwcp_prof_session_free(x);
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		double left = (double)seconds - ((double)(t.tv_sec - t0.tv_sec) +
						 (double)(t.tv_nsec - t0.tv_nsec) / 1e9);

		if (left <= 0)
			break;
		dwcp_prof_session_poll(x, left > 0.1 ? 100 : (int)(left * 1000) + 1, out);
	}
	dwcp_prof_session_poll(x, 0, out);
	dwcp_prof_session_free(x);
	return 0;
}

void dwcp_prof_samples_free(struct dwcp_prof_samples *s)
{
	free(s->v);
	*s = (struct dwcp_prof_samples){ 0 };
}
