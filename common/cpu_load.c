/* Idle time of a set of CPUs from /proc/stat and cpuidle (cpu_load.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cpu_load.h"

#define FIELDS     8u       /* user nice system idle iowait irq softirq steal */
#define STAT_BUF   65536u   /* the CPU lines come first: ~500 CPUs */
#define MASK_WORDS 16u      /* 1,024 CPUs */
#define FINE_MAX   64u      /* cpuidle files kept open at most */
#define STATES_MAX 16u      /* cpuidle states per CPU looked for */

struct dwcp_cpu_idle {
	int stat_fd;
	char *buf;
	uint64_t mask[MASK_WORDS];
	uint64_t seen[MASK_WORDS];  /* CPUs the last reading counted */
	unsigned cpus;
	double tick_ns;
	int fine_fd[FINE_MAX];
	unsigned n_fine;
};

/* One "cpuN f1 f2 ..." line of @p n bytes into @p t when N is wanted;
 * N into @p seen (MASK_WORDS words) when given. */
static void add_line(const char *line, size_t n, const uint64_t *mask, unsigned mask_words,
		     struct dwcp_cpu_ticks *t, uint64_t *seen)
{
	char buf[256], *p, *end;
	uint64_t f[FIELDS];
	unsigned long cpu;

	if (n < 4 || n >= sizeof(buf) || memcmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
		return;
	memcpy(buf, line, n);
	buf[n] = '\0';
	cpu = strtoul(buf + 3, &p, 10);
	if (mask && (cpu / 64 >= mask_words || !(mask[cpu / 64] >> (cpu % 64) & 1)))
		return;
	for (unsigned i = 0; i < FIELDS; i++) {
		f[i] = strtoull(p, &end, 10);
		if (end == p)
			return;   /* a short line (an old kernel's): not counted */
		p = end;
	}
	t->idle += f[3] + f[4];
	for (unsigned i = 0; i < FIELDS; i++)
		t->all += f[i];
	t->cpus++;
	if (seen && cpu / 64 < MASK_WORDS)
		seen[cpu / 64] |= 1ull << (cpu % 64);
}

static int parse(const char *text, size_t len, const uint64_t *mask, unsigned mask_words,
		 struct dwcp_cpu_ticks *t, uint64_t *seen)
{
	size_t at = 0;

	memset(t, 0, sizeof(*t));
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);

		if (!nl)
			break;
		add_line(text + at, (size_t)(nl - (text + at)), mask, mask_words, t, seen);
		at = (size_t)(nl - text) + 1;
	}
	return t->cpus ? 0 : -ENOENT;
}

int dwcp_cpu_ticks_parse(const char *text, size_t len, const uint64_t *mask, unsigned mask_words,
			 struct dwcp_cpu_ticks *t)
{
	return parse(text, len, mask, mask_words, t, NULL);
}

double dwcp_cpu_idle_estimate(double fine_ns, double coarse_ns, double tick_ns, unsigned cpus,
			      double wall_ns)
{
	double err = tick_ns * cpus, all = wall_ns * cpus, est = coarse_ns;

	if (fine_ns >= 0)
		est = fmin(fmax(fine_ns, coarse_ns - err), coarse_ns + err);
	return fmin(fmax(est, 0), all);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool wanted(const struct dwcp_cpu_idle *m, unsigned cpu)
{
	return m->mask[cpu / 64] >> (cpu % 64) & 1;
}

static void close_fine(struct dwcp_cpu_idle *m)
{
	while (m->n_fine)
		close(m->fine_fd[--m->n_fine]);
}

/* cpuidle's time files of every wanted CPU, or none of them. */
static void open_fine(struct dwcp_cpu_idle *m)
{
	char path[96];

	for (unsigned cpu = 0; cpu < MASK_WORDS * 64; cpu++) {
		unsigned k = 0;

		if (!wanted(m, cpu))
			continue;
		for (; k < STATES_MAX; k++) {
			int fd;

			snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cpuidle/state%u/time",
				 cpu, k);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				break;
			if (m->n_fine == FINE_MAX) {
				close(fd);
				close_fine(m);
				return;
			}
			m->fine_fd[m->n_fine++] = fd;
		}
		if (!k) {
			close_fine(m);
			return;
		}
	}
}

struct dwcp_cpu_idle *dwcp_cpu_idle_open(const uint64_t *mask, unsigned mask_words)
{
	struct dwcp_cpu_idle *m = calloc(1, sizeof(*m));
	struct dwcp_cpu_idle_at at;
	long hz = sysconf(_SC_CLK_TCK);
	int err = ENOMEM;

	if (!m)
		goto fail;
	m->stat_fd = -1;
	for (unsigned w = 0; w < mask_words && w < MASK_WORDS; w++)
		m->mask[w] = mask[w];
	m->tick_ns = 1e9 / (double)(hz > 0 ? hz : 100);
	m->buf = malloc(STAT_BUF);
	if (!m->buf)
		goto fail;
	m->stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (m->stat_fd < 0) {
		err = errno;
		goto fail;
	}
	if (dwcp_cpu_idle_read(m, &at)) {
		err = ENOENT;
		goto fail;
	}
	/* From here on, the CPUs /proc/stat lists: one in the mask that is
	 * not online has no cpuidle either, and would turn it off for all. */
	memcpy(m->mask, m->seen, sizeof(m->mask));
	open_fine(m);
	return m;
fail:
	dwcp_cpu_idle_close(m);
	errno = err;
	return NULL;
}

void dwcp_cpu_idle_close(struct dwcp_cpu_idle *m)
{
	if (!m)
		return;
	close_fine(m);
	if (m->stat_fd >= 0)
		close(m->stat_fd);
	free(m->buf);
	free(m);
}

unsigned dwcp_cpu_idle_cpus(const struct dwcp_cpu_idle *m)
{
	return m->cpus;
}

bool dwcp_cpu_idle_fine(const struct dwcp_cpu_idle *m)
{
	return m->n_fine > 0;
}

static ssize_t pread_all(int fd, char *buf, size_t len)
{
	ssize_t got;

	do
		got = pread(fd, buf, len, 0);
	while (got < 0 && errno == EINTR);
	return got;
}

int dwcp_cpu_idle_read(struct dwcp_cpu_idle *m, struct dwcp_cpu_idle_at *at)
{
	struct dwcp_cpu_ticks t;
	ssize_t got;
	int rc;

	memset(at, 0, sizeof(*at));
	at->wall_ns = now_ns();
	got = pread_all(m->stat_fd, m->buf, STAT_BUF);
	if (got < 0)
		return -errno;
	memset(m->seen, 0, sizeof(m->seen));
	rc = parse(m->buf, (size_t)got, m->mask, MASK_WORDS, &t, m->seen);
	if (rc)
		return rc;
	if (m->cpus && t.cpus != m->cpus)
		return -ENOENT;
	m->cpus = t.cpus;
	at->coarse_ns = (uint64_t)((double)t.idle * m->tick_ns);
	at->fine = m->n_fine > 0;
	for (unsigned i = 0; i < m->n_fine; i++) {
		char num[32];

		got = pread_all(m->fine_fd[i], num, sizeof(num) - 1);
		if (got <= 0) {
			at->fine = false;
			break;
		}
		num[got] = '\0';
		at->fine_ns += strtoull(num, NULL, 10) * 1000u;
	}
	return 0;
}

double dwcp_cpu_idle_between(const struct dwcp_cpu_idle *m, const struct dwcp_cpu_idle_at *a,
			     const struct dwcp_cpu_idle_at *b)
{
	double fine = -1;

	if (b->wall_ns <= a->wall_ns || b->coarse_ns < a->coarse_ns)
		return -1;
	if (a->fine && b->fine && b->fine_ns >= a->fine_ns)
		fine = (double)(b->fine_ns - a->fine_ns);
	return dwcp_cpu_idle_estimate(fine, (double)(b->coarse_ns - a->coarse_ns), m->tick_ns, m->cpus,
				      (double)(b->wall_ns - a->wall_ns));
}
