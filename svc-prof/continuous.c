/* svc-prof's continuous profile (prof_internal.h): a thread samples every
 * service and worker of the node at [prof] sample_hz, names the stacks
 * every few seconds (while the processes still live) and adds them to a
 * bounded table of folded stacks since svc-prof started, served at
 * /profile (folded) and /profile.svg (flame graph) beside /metrics.
 *
 * The cost is measured, not guessed: the thread's own CPU time is counted
 * (CLOCK_THREAD_CPUTIME_ID) and exported with the samples, so the
 * overhead shows beside the node's own figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "ipc/abi.h"
#include "ipc/ctl_block.h"
#include "prof_internal.h"
#include "profile.h"

#define FOLD_EVERY_MS   2000u     /* name and fold the samples this often */
#define POLL_MS         500u      /* rings hold seconds of samples at these rates: wake rarely */
#define SYMBOLS_MAX_AGE 30u       /* folds before the symbol cache is rebuilt (upgrades) */
#define MAX_STACKS      4096u     /* distinct stacks kept; the rest count as [other] */

struct stack {
	char *text;
	uint64_t count;
};

struct prof_cont {
	pthread_t thread;
	pthread_mutex_t lock;         /* the fields below "table" */
	const struct dwcp_shm *shm;
	unsigned hz;
	bool stop;                    /* under lock */
	/* table */
	struct stack *v;
	size_t n;
	uint64_t other, samples, lost, threads, cpu_ns;
};

static const char *slot_name(uint32_t pid, void *arg)
{
	const struct dwcp_shm *shm = arg;

	for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++)
		if ((uint32_t)__atomic_load_n(&shm->ctl->slots[i].sup.pid, __ATOMIC_RELAXED) == pid &&
		    shm->ctl->slots[i].sup.name[0])
			return shm->ctl->slots[i].sup.name;
	return "gone";
}

/* Add the folded lines of @p folded to the table. Under lock. */
static void merge(struct prof_cont *c, const char *folded)
{
	for (const char *line = folded; *line;) {
		const char *eol = strchr(line, '\n'), *sp;
		uint64_t count;
		size_t len, i;

		if (!eol)
			break;
		sp = eol;
		while (sp > line && sp[-1] != ' ')
			sp--;
		count = strtoull(sp, NULL, 10);
		len = sp > line ? (size_t)(sp - 1 - line) : 0;
		for (i = 0; i < c->n; i++)
			if (strlen(c->v[i].text) == len && !memcmp(c->v[i].text, line, len))
				break;
		if (i < c->n) {
			c->v[i].count += count;
		} else if (c->n < MAX_STACKS && (c->v[c->n].text = strndup(line, len)) != NULL) {
			c->v[c->n++].count = count;
		} else {
			c->other += count;
		}
		line = eol + 1;
	}
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *cont_main(void *arg)
{
	struct prof_cont *c = arg;
	struct dwcp_prof_session *x = dwcp_prof_session_new(c->hz);
	/* The kernel's symbols once, now: ~70 ms of /proc/kallsyms at start
	 * rather than in the middle of the first transfer. */
	struct dwcp_prof_symbols *S = dwcp_prof_symbols_new();
	struct dwcp_prof_samples smp = { 0 };
	unsigned folds = 0, turns = 0;
	int err = 0;
	bool said = false;

	for (bool stop = false; !stop && x;) {
		/* New services and workers (restarts, upgrades) join, ended threads leave. */
		if (turns++ % (FOLD_EVERY_MS / POLL_MS) == 0) {
			dwcp_prof_session_prune(x);
			for (unsigned i = 1; i < DWCP_MAX_SLOTS; i++) {
				pid_t pid = __atomic_load_n(&c->shm->ctl->slots[i].sup.pid, __ATOMIC_RELAXED);
				int rc;

				if (pid <= 0 || i == DWCP_SLOT_PROF || c->shm->ctl->slots[i].sup.kind != 0)
					continue;
				rc = dwcp_prof_session_add(x, pid);
				if (rc < 0)
					err = rc;
				else if (rc > 0 && S)   /* a process joined: read its symbols now */
					dwcp_prof_symbols_prepare(S, (uint32_t)pid);
			}
			/* Symbols (kallsyms, every mapped file's table) cost tens of ms:
			 * read only when there is something to name; the processes'
			 * and files' part again now and then (upgrades replace
			 * binaries, restarts bring new pids), the kernel's once. */
			char *folded = NULL;

			if (smp.n) {
				if (!S)
					S = dwcp_prof_symbols_new();
				else if (++folds % SYMBOLS_MAX_AGE == 0)
					dwcp_prof_symbols_forget_user(S);
				folded = S ? dwcp_prof_fold(&smp, S, slot_name, (void *)c->shm) : NULL;
			}

			/* Said once: dwcp_prof_sampled_threads 0 in /metrics shows it. */
			if (err && !dwcp_prof_session_threads(x) && !said) {
				DWCP_ERR("svc-prof: the continuous profile samples nothing: %s (run as root, or sysctl kernel.perf_event_paranoid=1)",
					 strerror(-err));
				said = true;
			}
			pthread_mutex_lock(&c->lock);
			if (folded)
				merge(c, folded);
			c->samples += smp.n;
			c->lost += smp.lost;
			c->threads = dwcp_prof_session_threads(x);
			c->cpu_ns = thread_cpu_ns();
			stop = c->stop;
			pthread_mutex_unlock(&c->lock);
			free(folded);
			smp.n = 0, smp.lost = 0;
		}
		dwcp_prof_session_poll(x, (int)POLL_MS, &smp);
		pthread_mutex_lock(&c->lock);
		stop = stop || c->stop;
		pthread_mutex_unlock(&c->lock);
	}
	dwcp_prof_samples_free(&smp);
	dwcp_prof_symbols_free(S);
	dwcp_prof_session_free(x);
	return NULL;
}

struct prof_cont *prof_cont_start(const struct dwcp_shm *shm, unsigned hz)
{
	struct prof_cont *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->shm = shm;
	c->hz = hz;
	c->v = calloc(MAX_STACKS, sizeof(*c->v));
	if (!c->v || pthread_mutex_init(&c->lock, NULL)) {
		free(c->v);
		free(c);
		return NULL;
	}
	if (pthread_create(&c->thread, NULL, cont_main, c)) {
		pthread_mutex_destroy(&c->lock);
		free(c->v);
		free(c);
		return NULL;
	}
	return c;
}

void prof_cont_stop(struct prof_cont *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].text);
	free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void prof_cont_folded(struct prof_cont *c, struct prof_out *o)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++)
		prof_out_printf(o, "%s %llu\n", c->v[i].text, (unsigned long long)c->v[i].count);
	if (c->other)
		prof_out_printf(o, "[other] %llu\n", (unsigned long long)c->other);
	pthread_mutex_unlock(&c->lock);
}

void prof_cont_metrics(struct prof_cont *c, struct prof_out *o)
{
	pthread_mutex_lock(&c->lock);
	prof_out_printf(o, "# HELP dwcp_prof_samples_total Call stacks svc-prof's continuous profile sampled.\n"
			   "# TYPE dwcp_prof_samples_total counter\ndwcp_prof_samples_total %llu\n"
			   "# HELP dwcp_prof_lost_samples_total Samples the kernel dropped (rings full).\n"
			   "# TYPE dwcp_prof_lost_samples_total counter\ndwcp_prof_lost_samples_total %llu\n"
			   "# HELP dwcp_prof_sampled_threads Threads of the node's services being sampled.\n"
			   "# TYPE dwcp_prof_sampled_threads gauge\ndwcp_prof_sampled_threads %llu\n"
			   "# HELP dwcp_prof_sample_rate_hertz Samples per second per thread asked of the kernel.\n"
			   "# TYPE dwcp_prof_sample_rate_hertz gauge\ndwcp_prof_sample_rate_hertz %u\n"
			   "# HELP dwcp_prof_sampler_cpu_seconds_total CPU time the sampling thread itself used (its overhead).\n"
			   "# TYPE dwcp_prof_sampler_cpu_seconds_total counter\ndwcp_prof_sampler_cpu_seconds_total %.6f\n",
			(unsigned long long)c->samples, (unsigned long long)c->lost,
			(unsigned long long)c->threads, c->hz, (double)c->cpu_ns / 1e9);
	pthread_mutex_unlock(&c->lock);
}
