/* svc-prof's sampling profiler: `svc-prof profile` (run by `dwcpctl
 * profile`) samples the call stacks of a node's services with
 * perf_event_open (sampler.c), names the addresses (symbols.c) and writes
 * folded stacks and an SVG flame graph (flame.c, profile_cmd.c).
 *
 * Concurrency: single-threaded command-line code.
 */
#ifndef DWCP_SVC_PROF_PROFILE_H
#define DWCP_SVC_PROF_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define DWCP_PROF_MAX_DEPTH   64        /* frames kept per sample */
#define DWCP_PROF_MAX_THREADS 64        /* sampled per process */
#define DWCP_PROF_MAX_SAMPLES (1u << 20)
#define DWCP_PROF_MAX_EVENTS  1024      /* threads sampled at once, all processes */

struct dwcp_prof_sample {
	uint32_t pid, n;
	uint64_t ip[DWCP_PROF_MAX_DEPTH];   /* the kernel's callchain, context markers included */
};

struct dwcp_prof_samples {
	struct dwcp_prof_sample *v;
	size_t n, cap;
	uint64_t lost, dropped;             /* the kernel's lost records; ours over the bound */
	unsigned threads;                   /* sampled */
};

/**
 * Sample every thread of @p pids at @p hz (cpu-clock) for @p seconds
 * into @p out. @return 0, or -errno with the reason and the fix in
 * @p why when no thread could be sampled.
 */
int dwcp_prof_sample(const pid_t *pids, unsigned n_pids, unsigned hz, unsigned seconds,
		     struct dwcp_prof_samples *out, char *why, size_t why_n);
void dwcp_prof_samples_free(struct dwcp_prof_samples *s);

/* The same sampling as a session whose processes come and go (svc-prof's
 * continuous profile): add the threads of a process (those already
 * sampled are skipped; @return how many were added, or -errno when none
 * could be and none were), prune the threads that ended, poll for at most
 * @p timeout_ms and take what the rings hold. */
struct dwcp_prof_session;
struct dwcp_prof_session *dwcp_prof_session_new(unsigned hz);
int dwcp_prof_session_add(struct dwcp_prof_session *x, pid_t pid);
void dwcp_prof_session_prune(struct dwcp_prof_session *x);
unsigned dwcp_prof_session_threads(const struct dwcp_prof_session *x);
void dwcp_prof_session_poll(struct dwcp_prof_session *x, int timeout_ms, struct dwcp_prof_samples *out);
void dwcp_prof_session_free(struct dwcp_prof_session *x);

struct dwcp_prof_symbols;

struct dwcp_prof_symbols *dwcp_prof_symbols_new(void);
/** The name of @p ip in process @p pid (a kernel address when @p kernel):
 *  "sym", "sym_[k]", "[file]" when no symbol covers it, or "[unknown]". */
void dwcp_prof_symbolize(struct dwcp_prof_symbols *S, uint32_t pid, uint64_t ip, bool kernel,
			 char *out, size_t n);
void dwcp_prof_symbols_free(struct dwcp_prof_symbols *S);
/** Read @p pid's maps and the symbols of its files now (a process that
 *  just joined), so that naming its samples later costs nothing. */
void dwcp_prof_symbols_prepare(struct dwcp_prof_symbols *S, uint32_t pid);
/** Forget processes and files (read again when next needed); keep the kernel's. */
void dwcp_prof_symbols_forget_user(struct dwcp_prof_symbols *S);

/**
 * Folded stacks ("root;...;leaf COUNT\n", sorted) of @p s, each stack
 * rooted at the name @p name_of gives its pid. @return a malloc'd
 * string, or NULL when out of memory.
 */
char *dwcp_prof_fold(const struct dwcp_prof_samples *s, struct dwcp_prof_symbols *S,
		     const char *(*name_of)(uint32_t pid, void *arg), void *arg);

/** An SVG flame graph of @p folded to @p f, titled @p title. @return 0 or -1. */
int dwcp_prof_flame_svg(const char *folded, const char *title, FILE *f);

/** `svc-prof profile ...`: @p argv[0] is "profile". @return the exit status. */
int dwcp_prof_cli(int argc, char **argv);

#endif
