/* Idle time of CPUs (common/cpu_load.h): /proc/stat's lines for the CPUs
 * asked for and only those, whole lines only, steal as busy time; the
 * fine figure kept within the coarse one's error; this machine's CPUs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/cpu_load.h"

static const char STAT[] =
	"cpu  500 0 300 1200 100 0 0 0 0 0\n"
	"cpu0 100 0 100 700 50 0 0 0 0 0\n"
	"cpu1 400 0 200 500 50 0 0 50 0 0\n"
	"intr 12345 0 0 0\n"
	"ctxt 999\n";

Test(cpu_load, sums_the_cpus_asked_for_and_skips_the_total_line)
{
	struct dwcp_cpu_ticks t;
	uint64_t only1 = 1u << 1;

	cr_assert_eq(dwcp_cpu_ticks_parse(STAT, strlen(STAT), NULL, 0, &t), 0);
	cr_assert_eq(t.cpus, 2);
	cr_assert_eq(t.idle, 700 + 50 + 500 + 50);
	cr_assert_eq(t.all, 950 + 1200);   /* cpu1's steal (50) counts as time, not idle */
	cr_assert_eq(dwcp_cpu_ticks_parse(STAT, strlen(STAT), &only1, 1, &t), 0);
	cr_assert_eq(t.cpus, 1);
	cr_assert_eq(t.idle, 550);
	cr_assert_eq(t.all, 1200);
}

Test(cpu_load, a_line_cut_short_or_missing_fields_does_not_count)
{
	struct dwcp_cpu_ticks t;
	size_t cut = (size_t)(strstr(STAT, "cpu1") - STAT) + 12;   /* inside cpu1's line */
	const char *old = "cpu0 1 2 3\n";                            /* too few fields */

	cr_assert_eq(dwcp_cpu_ticks_parse(STAT, cut, NULL, 0, &t), 0);
	cr_assert_eq(t.cpus, 1);
	cr_assert_eq(t.all, 950);
	cr_assert_eq(dwcp_cpu_ticks_parse(old, strlen(old), NULL, 0, &t), -ENOENT);
	cr_assert_eq(dwcp_cpu_ticks_parse("garbage\n", 8, NULL, 0, &t), -ENOENT);
	cr_assert_eq(dwcp_cpu_ticks_parse(STAT, 0, NULL, 0, &t), -ENOENT);
}

/* Two CPUs, 10 ms ticks, 20 ms: the coarse figure is right to within
 * 20 ms of CPU time, the fine one is taken inside that. */
Test(cpu_load, the_fine_figure_counts_within_the_coarse_ones_error)
{
	double ms = 1e6;

	cr_assert_float_eq(dwcp_cpu_idle_estimate(7 * ms, 10 * ms, 10 * ms, 2, 20 * ms), 7 * ms, 1);
	/* cpuidle counted a sleep that began before the interval */
	cr_assert_float_eq(dwcp_cpu_idle_estimate(35 * ms, 10 * ms, 10 * ms, 2, 20 * ms), 30 * ms, 1);
	/* ...or one still going on: the coarse figure's bound */
	cr_assert_float_eq(dwcp_cpu_idle_estimate(1 * ms, 30 * ms, 10 * ms, 2, 20 * ms), 10 * ms, 1);
	/* never more than all of the CPUs' time, never below zero */
	cr_assert_float_eq(dwcp_cpu_idle_estimate(50 * ms, 40 * ms, 10 * ms, 2, 20 * ms), 40 * ms, 1);
	cr_assert_float_eq(dwcp_cpu_idle_estimate(-1, 0, 10 * ms, 2, 20 * ms), 0, 1);
	/* no cpuidle: the ticks alone */
	cr_assert_float_eq(dwcp_cpu_idle_estimate(-1, 10 * ms, 10 * ms, 2, 20 * ms), 10 * ms, 1);
}

/* This machine: every CPU we may run on is counted, and the idle time
 * over a sleep lies within what the CPUs had (how much of it other
 * processes took varies: tests run side by side). */
Test(cpu_load, reads_this_machines_cpus)
{
	cpu_set_t set;
	uint64_t mask[16] = { 0 };
	struct dwcp_cpu_idle *m;
	struct dwcp_cpu_idle_at a, b;
	unsigned want = 0;
	double idle;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (unsigned c = 0; c < 1024; c++)
		if (CPU_ISSET(c, &set)) {
			mask[c / 64] |= 1ull << (c % 64);
			want++;
		}
	m = dwcp_cpu_idle_open(mask, 16);
	cr_assert_not_null(m, "%s", strerror(errno));
	cr_assert_eq(dwcp_cpu_idle_cpus(m), want, "counted %u of the %u CPUs we may run on",
		     dwcp_cpu_idle_cpus(m), want);
	cr_assert_eq(dwcp_cpu_idle_read(m, &a), 0);
	usleep(300000);
	cr_assert_eq(dwcp_cpu_idle_read(m, &b), 0);
	idle = dwcp_cpu_idle_between(m, &a, &b);
	cr_log_info("idle %.2f of %u CPUs over %.3f s (%s)", idle / (double)(b.wall_ns - a.wall_ns), want,
		    (double)(b.wall_ns - a.wall_ns) / 1e9, dwcp_cpu_idle_fine(m) ? "cpuidle" : "/proc/stat");
	cr_assert_geq(idle, 0);
	cr_assert_leq(idle, (double)(b.wall_ns - a.wall_ns) * want);
	cr_assert_eq(dwcp_cpu_idle_between(m, &b, &a), -1, "backwards");
	dwcp_cpu_idle_close(m);
}

/* A mask wider than the machine (CPUs that do not exist, or are
 * offline) counts the CPUs there are, and still finds their cpuidle
 * times where the kernel has them (few CPUs: all their files fit). */
Test(cpu_load, a_mask_wider_than_the_machine_counts_the_cpus_there_are)
{
	uint64_t all[16];
	struct dwcp_cpu_idle *m;
	unsigned online = 0;
	bool has_cpuidle = true;
	char path[96];

	memset(all, 0xff, sizeof(all));
	m = dwcp_cpu_idle_open(all, 16);
	cr_assert_not_null(m, "%s", strerror(errno));
	for (unsigned c = 0; c < 1024; c++) {
		FILE *f;
		int on = 1;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u", c);
		if (access(path, F_OK))
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/online", c);
		f = fopen(path, "r");   /* absent where a CPU cannot go offline */
		if (f) {
			if (fscanf(f, "%d", &on) != 1)
				on = 1;
			fclose(f);
		}
		if (!on)
			continue;
		online++;
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/cpuidle/state0/time", c);
		has_cpuidle &= access(path, R_OK) == 0;
	}
	cr_log_info("%u CPUs counted, %u found in sysfs, cpuidle %d", dwcp_cpu_idle_cpus(m), online,
		    has_cpuidle);
	cr_assert_gt(dwcp_cpu_idle_cpus(m), 0);
	cr_assert_leq(dwcp_cpu_idle_cpus(m), online);
	if (has_cpuidle && online <= 4)
		cr_assert(dwcp_cpu_idle_fine(m), "cpuidle is there, but not used");
	dwcp_cpu_idle_close(m);
}
