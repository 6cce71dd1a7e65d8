/* How idle a set of CPUs is: what a sender measures to know whether a
 * compressor would run on an idle CPU or take one from the rest of the
 * pipeline (codec = auto, common/ops/codec_auto.h).
 *
 * Two sources. /proc/stat's idle time is right over any interval but
 * counted in clock ticks (10 ms): over one 20 ms period of two CPUs that
 * is 4 ticks, each reading cut short by up to one per CPU. cpuidle's
 * per-state times (sysfs, microseconds) are fine-grained, where the kernel
 * has a cpuidle driver, but a state's time is added when the CPU leaves
 * it: a CPU asleep across a reading counts its sleep at its wakeup. So the
 * fine figure is used, kept within the coarse one's error. */
#ifndef DWCP_COMMON_CPU_LOAD_H
#define DWCP_COMMON_CPU_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Time of a set of CPUs since boot, in the kernel's clock ticks. */
struct dwcp_cpu_ticks {
	uint64_t idle;     /* idle + iowait */
	uint64_t all;      /* user nice system idle iowait irq softirq steal */
	unsigned cpus;     /* CPUs counted */
};

/**
 * Sum the "cpuN" lines of /proc/stat's text for the CPUs set in @p mask
 * (bit N of word N / 64; NULL: every CPU). Only whole lines count (text
 * cut short in a line ends the parse); the all-CPU "cpu" line and a line
 * for a CPU beyond @p mask_words are left out. Steal is busy time: the
 * hypervisor's, not ours to use.
 * @return 0, or -ENOENT when no line counted.
 */
int dwcp_cpu_ticks_parse(const char *text, size_t len, const uint64_t *mask, unsigned mask_words,
			 struct dwcp_cpu_ticks *t);

/**
 * Idle CPU-nanoseconds over an interval of @p wall_ns on @p cpus CPUs:
 * @p coarse_ns from clock ticks of @p tick_ns (right to within a tick per
 * CPU), @p fine_ns from cpuidle (< 0: none), which is taken where it lies
 * within the coarse figure's error, else the nearest bound; never below 0
 * nor above all of the CPUs' time.
 */
double dwcp_cpu_idle_estimate(double fine_ns, double coarse_ns, double tick_ns, unsigned cpus,
			      double wall_ns);

/** A reading of the idle time of a set of CPUs (dwcp_cpu_idle_read). */
struct dwcp_cpu_idle_at {
	uint64_t wall_ns;     /* CLOCK_MONOTONIC */
	uint64_t coarse_ns;   /* /proc/stat's idle + iowait, ticks as ns */
	uint64_t fine_ns;     /* cpuidle's states, summed */
	bool fine;            /* fine_ns was read */
};

struct dwcp_cpu_idle;

/**
 * Open the sources for the CPUs set in @p mask (@p mask_words words) that
 * /proc/stat lists (online). cpuidle is used where every one of those has
 * it, in at most 64 files (on a larger host the ticks of its many CPUs
 * add up to a finer figure anyway).
 * @return the reader, or NULL (errno set) when /proc/stat cannot be read.
 */
struct dwcp_cpu_idle *dwcp_cpu_idle_open(const uint64_t *mask, unsigned mask_words);

void dwcp_cpu_idle_close(struct dwcp_cpu_idle *m);

/** CPUs it counts; whether it has cpuidle. */
unsigned dwcp_cpu_idle_cpus(const struct dwcp_cpu_idle *m);
bool dwcp_cpu_idle_fine(const struct dwcp_cpu_idle *m);

/** Read now. @return 0 or -errno (-ENOENT: a CPU went offline). */
int dwcp_cpu_idle_read(struct dwcp_cpu_idle *m, struct dwcp_cpu_idle_at *at);

/**
 * Idle CPU-nanoseconds from @p a to @p b (dwcp_cpu_idle_estimate), or -1
 * when no time passed.
 */
double dwcp_cpu_idle_between(const struct dwcp_cpu_idle *m, const struct dwcp_cpu_idle_at *a,
			     const struct dwcp_cpu_idle_at *b);

#endif
