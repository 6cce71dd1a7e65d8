/* Shared parts of `dwcp send` / `dwcp recv` (xfer.h). */
#define _GNU_SOURCE   /* RUSAGE_THREAD */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cpu.h"
#include "common/timeutil.h"
#include "xfer.h"

static double us(const struct dwcp_hist *h, double p)
{
	return (double)dwcp_hist_percentile(h, p) / 1000.0;
}

/* The codec fields of a send's JSON summary (none for recv). */
static void print_codec_json(const struct xfer_summary *s)
{
	if (!s->codec)
		return;
	printf(", \"codec\": \"%s\", \"codec_auto\": %s, \"codec_decisions\": %u, \"codec_probes\": %u, "
	       "\"codec_trials\": %u, \"codec_chunks\": {\"none\": %llu, \"lz4\": %llu, \"zstd\": %llu}, \"codec_why\": \"%s\"",
	       s->codec, s->codec_auto ? "true" : "false", s->codec_decisions, s->codec_probes,
	       s->codec_trials, (unsigned long long)s->codec_chunks[0], (unsigned long long)s->codec_chunks[1],
	       (unsigned long long)s->codec_chunks[2], s->codec_note);
}

double xfer_thread_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Set by the handler only; the one process-wide fact a signal can leave. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

void xfer_catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int xfer_stop_signal(void)
{
	return (int)stop_signal;
}

void xfer_print_summary(const struct xfer_summary *s, bool json)
{
	double ratio = s->bytes ? (double)s->bytes_wire / (double)s->bytes : 0.0;
	double gbs = s->seconds > 0 ? (double)s->bytes / s->seconds / 1e9 : 0.0;
	bool send = strcmp(s->role, "send") == 0;

	if (json) {
		printf("{\"role\": \"%s\", \"stream\": \"%s\", \"path\": \"%s\", \"%s\": %llu, "
		       "\"bytes_wire\": %llu, \"wire_ratio\": %.6f, \"seconds\": %.6f, \"gbps\": %.4f, "
		       "\"chunks\": %llu, \"resent\": %llu, \"rejected\": %llu, \"duplicates\": %llu, "
		       "\"raw_resends\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f",
		       s->role, s->stream, s->path, send ? "bytes_in" : "bytes_out",
		       (unsigned long long)s->bytes, (unsigned long long)s->bytes_wire, ratio, s->seconds,
		       gbs, (unsigned long long)s->chunks, (unsigned long long)s->resent,
		       (unsigned long long)s->rejected, (unsigned long long)s->duplicates,
		       (unsigned long long)s->raw_resends, us(&s->lat, 50), us(&s->lat, 99),
		       us(&s->lat, 99.9));
		printf(", \"kept_pages\": %llu, \"moved_pages\": %llu", (unsigned long long)s->kept_pages,
		       (unsigned long long)s->moved_pages);
		if (!send)
			printf(", \"cloned_pages\": %llu", (unsigned long long)s->cloned_pages);
		printf(", \"resumed_bytes\": %llu", (unsigned long long)s->resumed_bytes);
		printf(", \"direct_bytes\": %llu, \"main_thread_cpu_s\": %.3f, \"io_thread_cpu_s\": %.3f, "
		       "\"stage_thread_cpu_s\": %.3f, \"attach_cpu_s\": %.3f",
		       (unsigned long long)s->direct_bytes, s->main_thread_cpu_s, s->io_thread_cpu_s,
		       s->stage_thread_cpu_s, s->attach_cpu_s);
		if (s->inplace)
			printf(", \"inplace\": true, \"written_pages\": %llu",
			       (unsigned long long)s->inplace_written);
		print_codec_json(s);
		if (s->transport)
			printf(", \"transport\": \"%s\", \"rdma_chunks\": %llu", s->transport,
			       (unsigned long long)s->rdma_chunks);
		printf("}\n");
		fflush(stdout);
		return;
	}
	printf("%s %s: %s\n", send ? "sent" : "received", s->stream, s->path);
	printf("  bytes %s     %llu\n", send ? "in " : "out", (unsigned long long)s->bytes);
	printf("  bytes on wire %llu (%.2f%% of the data)\n", (unsigned long long)s->bytes_wire,
	       ratio * 100.0);
	printf("  time          %.3f s, %.3f GB/s\n", s->seconds, gbs);
	printf("  chunks        %llu (resent %llu, rejected %llu, duplicates %llu, resent for a missing base %llu)\n",
	       (unsigned long long)s->chunks, (unsigned long long)s->resent,
	       (unsigned long long)s->rejected, (unsigned long long)s->duplicates,
	       (unsigned long long)s->raw_resends);
	if (send)
		printf("  direct I/O    %llu bytes read (%s)\n", (unsigned long long)s->direct_bytes,
		       s->direct_bytes ? "what the page cache did not hold" :
		       "all from the page cache, or no direct I/O on this file system");
	else
		printf("  direct I/O    %llu bytes written (%s)\n", (unsigned long long)s->direct_bytes,
		       s->direct_bytes ? "long runs, past the page cache" :
		       "all through the page cache: short runs, or no direct I/O on this file system");
	if (s->resumed_bytes)
		printf("  resumed       from the first %llu bytes of an interrupted transfer (%s)\n",
		       (unsigned long long)s->resumed_bytes,
		       send ? "the kept pages among them did not travel" : "written in place");
	if (s->inplace)
		printf("  in place      %llu pages written into the file, %llu kept pages left as they were\n",
		       (unsigned long long)s->inplace_written, (unsigned long long)s->kept_pages);
	else if (s->kept_pages && !send && s->resumed_bytes)
		printf("  kept pages    %llu (already written by the interrupted transfer: left as they were)\n",
		       (unsigned long long)s->kept_pages);
	else if (s->kept_pages && (send || !s->cloned_pages))
		printf("  kept pages    %llu (unchanged since the last %s: %s)\n",
		       (unsigned long long)s->kept_pages, send ? "send" : "receive",
		       send ? "did not travel" : "copied from the previous file");
	else if (s->kept_pages)
		printf("  kept pages    %llu (unchanged since the last receive: %llu shared with the previous file by reflink, %llu copied)\n",
		       (unsigned long long)s->kept_pages, (unsigned long long)s->cloned_pages,
		       (unsigned long long)(s->kept_pages - s->cloned_pages));
	if (s->moved_pages)
		printf("  moved pages   %llu (found at other offsets of the previous version: %s)\n",
		       (unsigned long long)s->moved_pages,
		       send ? "did not travel" : "copied from the previous file");
	printf("  chunk latency P50 %.1f us, P99 %.1f us, P99.9 %.1f us (%s)\n", us(&s->lat, 50),
	       us(&s->lat, 99), us(&s->lat, 99.9),
	       send ? "read -> acknowledged as written by the receiver" : "off the wire -> written");
	if (s->transport && s->rdma_chunks)
		printf("  transport     rdma (%llu chunk sends written into the receiver's memory by RDMA; resends and the rest over TCP)\n",
		       (unsigned long long)s->rdma_chunks);
	else if (s->transport)
		printf("  transport     tcp\n");
	if (s->codec)
		printf("  codec         %s%s (chunks: none %llu, lz4 %llu, zstd %llu)\n  codec why     %s\n",
		       s->codec, s->codec_auto ? ", chosen by codec = auto" : "",
		       (unsigned long long)s->codec_chunks[0], (unsigned long long)s->codec_chunks[1],
		       (unsigned long long)s->codec_chunks[2], s->codec_note);
	fflush(stdout);
}

static bool drawn;

void xfer_progress(uint64_t done, uint64_t total, double seconds, const char *note)
{
	char bar[31];
	double frac = total ? (double)done / (double)total : 0.0, rate;
	unsigned fill;

	if (!isatty(STDERR_FILENO))
		return;
	if (frac > 1.0)
		frac = 1.0;
	fill = (unsigned)(frac * 30.0);
	memset(bar, '#', fill);
	memset(bar + fill, '.', 30 - fill);
	bar[30] = '\0';
	rate = seconds > 0 ? (double)done / seconds : 0.0;
	fprintf(stderr, "\r[%s] %5.1f%% %8.1f MB/s", bar, frac * 100.0, rate / 1e6);
	if (total && rate > 0 && done < total)
		fprintf(stderr, " ETA %5.0fs", (double)(total - done) / rate);
	else
		fprintf(stderr, "           ");
	fprintf(stderr, " %-40.40s", note ? note : "");
	drawn = true;
}

void xfer_progress_end(void)
{
	if (drawn)
		fputc('\n', stderr);
	drawn = false;
}

int xfer_client_open(struct dwcp_client *c, const char *instance, const char *run_dir,
		     const char *label, const char *prog, double *attach_cpu_s)
{
	struct dwcp_err err = { 0 };
	int rc = dwcp_client_open(c, instance, run_dir, label, prog, &err);

	if (rc)
		fprintf(stderr, "%s: %s\n", prog, err.msg);
	*attach_cpu_s = xfer_thread_cpu_s();
	return rc;
}

bool xfer_supervisor_died(struct dwcp_client *c, const char *instance, char *why, size_t why_n)
{
	if (!dwcp_attach_supervisor_gone(&c->at))
		return false;
	snprintf(why, why_n, "node '%s': dwcp-supervisor (pid %d) died; start it again: dwcp-supervisor start --instance %s",
		 instance, (int)c->at.sup_pid, instance);
	dwcp_attach_leave(&c->at);
	return true;
}

double xfer_since(uint64_t t0_ns)
{
	return (double)(dwcp_now_ns() - t0_ns) / 1e9;
}

unsigned xfer_threads_auto(void)
{
	return dwcp_cpu_usable() >= XFER_THREADS_MIN_CPUS ? 2 : 1;
}

int xfer_parse_count(const char *prog, const char *opt, const char *arg, unsigned max,
		     const char *what, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (!*arg || *end || errno || arg[0] == '-' || v == 0 || v > max) {
		fprintf(stderr, "%s: %s '%s': expected 1..%u%s%s\n", prog, opt, arg, max,
			what ? " " : "", what ? what : "");
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}
