/* Bench results over time: every `dwcp bench ... --json` run appends its
 * object, with when, where and a label, as one line of a history file
 * (JSON lines); `dwcp bench compare A B` sets the runs labelled A beside
 * those labelled B and says which figures moved by more than the
 * run-to-run noise measured within each label's runs.
 *
 * The history file: --history FILE, else $DWCP_BENCH_HISTORY, else
 * /var/lib/dwcp/bench-history.jsonl. The label: --label L, else the
 * build ("build-" and the dwcp binary's modification time), so runs of
 * one build group together without anyone naming them.
 */
#ifndef DWCP_BENCH_HISTORY_H
#define DWCP_BENCH_HISTORY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define BENCH_HISTORY_DEFAULT "/var/lib/dwcp/bench-history.jsonl"

/** The history path: @p opt, else $DWCP_BENCH_HISTORY, else the default. */
const char *bench_history_path(const char *opt);

/** The label: @p opt, else "build-YYYYmmddTHHMMSS" of this binary, into @p out. */
void bench_history_label(const char *opt, char *out, size_t n);

/**
 * Append {"bench","label","time","host","cpus","result"} to @p path (its
 * directory made if missing). @return 0, or -errno with what failed in
 * @p why.
 */
int bench_history_append(const char *path, const char *bench, const char *label,
			 const cJSON *result, char *why, size_t why_n);

/* One figure of the comparison. */
struct bench_moved {
	char path[160];              /* "zstd1.gbs" */
	double a_med, a_noise, b_med, b_noise;
	unsigned a_n, b_n;
	int moved;                   /* +1 up, -1 down, 0 within the noise */
};

/**
 * Compare figure by figure: @p a[0..na) and @p b[0..nb) are the "result"
 * objects of the two labels' runs. For each numeric leaf present in
 * every run of both: medians, noise = half the range of each side's runs,
 * moved when the medians differ by more than both noises together (and
 * each side has >= 2 runs, else noise is unknown and nothing is said to
 * move). @return the number of figures written to @p out (at most
 * @p max), sorted by path.
 */
size_t bench_compare(const cJSON *const *a, unsigned na, const cJSON *const *b, unsigned nb,
		     struct bench_moved *out, size_t max);

int dwcp_cli_bench_compare(int argc, char **argv);

#endif
