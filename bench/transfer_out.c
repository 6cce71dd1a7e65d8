/* What `dwcp bench transfer` prints: tables for a person (the main rows
 * beside the references, the scaling table, the delta part), or with
 * --json one object holding every figure, for tracking over time. Both
 * are made from one struct bench_xfer_report; a figure that was not
 * measured (its run failed) prints as "-" or null, never as 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "common/cpu.h"
#include "cli/xfer.h"
#include "history.h"
#include "transfer_pvt.h"

#define NAME_W 50

static const char cpu_method[] =
	"nodes: utime+stime from /proc/<pid>/stat of both supervisors and all their services, "
	"before and after; send+recv: getrusage(RUSAGE_CHILDREN), they are ours";

double bench_xfer_gbs(const struct bench_xfer_run *x, size_t n)
{
	double bytes = isnan(x->snd.bytes) ? (double)n : x->snd.bytes;

	return x->ok && x->snd.seconds > 0 ? bytes / x->snd.seconds / 1e9 : NAN;
}

static double ratio(double a, double b)
{
	return isnan(a) || isnan(b) || b <= 0 ? NAN : a / b;
}

/* CPU seconds per 10^9 input bytes. */
static double per_gb(const struct bench_xfer_run *x, double cpu_s, size_t n)
{
	return x->ok ? cpu_s / ((double)n / 1e9) : NAN;
}

/* What send and recv spent starting (program, DPDK's initialization,
 * the attach): the same for any size, and before the transfer's clock
 * (its seconds) starts, so the CPU figures per GB leave it out. */
static double start_cpu(const struct bench_xfer_run *x)
{
	return (isnan(x->snd.attach_cpu_s) ? 0 : x->snd.attach_cpu_s) +
	       (isnan(x->rcv.attach_cpu_s) ? 0 : x->rcv.attach_cpu_s);
}

static double one_thread(const struct bench_xfer_report *r)
{
	return r->ip.ok ? r->ip.gbs : NAN;
}

static double raw_tcp(const struct bench_xfer_report *r)
{
	return r->tcp > 0 ? r->tcp : NAN;
}

static double out_disk(const struct bench_xfer_report *r)
{
	return r->disk > 0 ? r->disk : NAN;
}

static double zstd_cli(const struct bench_xfer_report *r)
{
	return r->zstd_cli > 0 ? r->zstd_cli : NAN;
}

/* GB/s of input the zstd-1 step alone runs at in the one-thread pipeline. */
static double zstd_step(const struct bench_xfer_report *r)
{
	return r->ip.ok && r->ip.step_share[S_COMPRESS] > 0 ?
		r->ip.gbs / r->ip.step_share[S_COMPRESS] : NAN;
}

/* ---- tables --------------------------------------------------------- */

static void cell(double v, int width, int prec)
{
	if (isnan(v))
		printf(" %*s", width, "-");
	else
		printf(" %*.*f", width, prec, v);
}

static void row(const char *name, double gbs, double wire, const struct bench_xfer_side *lat)
{
	printf("%-*s", NAME_W, name);
	cell(gbs, 8, 3);
	cell(wire / MIB, 10, 1);
	cell(lat ? lat->p50 : NAN, 9, 1);
	cell(lat ? lat->p99 : NAN, 9, 1);
	cell(lat ? lat->p999 : NAN, 9, 1);
	printf("\n");
}

static void ratio_row(const char *name, double a, double b)
{
	printf("%-*s", NAME_W, name);
	if (isnan(ratio(a, b)))
		printf(" %8s\n", "-");
	else
		printf(" %7.3fx\n", a / b);
}

static void run_row(const char *name, const struct bench_xfer_run *x, size_t n)
{
	row(name, bench_xfer_gbs(x, n), x->ok ? x->snd.wire : NAN, x->ok ? &x->snd : NULL);
}

static void run_note(const char *name, const struct bench_xfer_run *x, size_t n)
{
	if (!x->ok)
		return;
	printf("(%s: %.0f chunks in %.3f s, %.0f resent for a missing base; recv %.3f s, p50/p99/p99.9 "
	       "%.1f/%.1f/%.1f us; wall %.3f s; CPU s/GB nodes %.2f, send+recv %.2f (starting them "
	       "took %.3f CPU-s more); received file bit-identical: %s)\n",
	       name, x->snd.chunks, x->snd.seconds, x->snd.raw_resends, x->rcv.seconds, x->rcv.p50,
	       x->rcv.p99, x->rcv.p999, x->wall_s, per_gb(x, x->node_cpu_s, n),
	       per_gb(x, x->client_cpu_s - start_cpu(x), n), start_cpu(x),
	       x->identical ? "yes" : "NO");
	if (!isnan(x->prof_cpu_s) && x->node_cpu_s > 0)
		printf("(%s, svc-prof's continuous profile on both nodes: %.0f samples, sampler CPU %.1f ms = "
		       "%.2f %% of the nodes' CPU, plus one cpu-clock interrupt per sample)\n", name,
		       x->prof_samples, 1e3 * x->prof_cpu_s, 100.0 * x->prof_cpu_s / x->node_cpu_s);
}

/* What the CPUs allow: a transfer that spends @p x's CPU per GB (nodes,
 * send and recv) runs at most cpus / that on this host, whatever else it
 * does; and 1.6x the one-thread pipeline (issue 7's 2-core target) needs
 * everything to fit in cpus / (1.6 x one thread) CPU-seconds per GB. */
static double cpu_ceiling(const struct bench_xfer_run *x, size_t n)
{
	double per = per_gb(x, x->node_cpu_s + x->client_cpu_s - start_cpu(x), n);

	return x->ok && per > 0 ? dwcp_cpu_usable() / per : NAN;
}

/* A helper's CPU, 0 where an older binary's summary lacks it. */
static double helper_cpu(double v)
{
	return isnan(v) ? 0 : v;
}

/* The busiest of a side's threads (its main thread, its second data
 * thread where it has one, and its disk helper). */
static double side_busiest(const struct bench_xfer_side *s)
{
	return fmax(s->thread_cpu_s, fmax(helper_cpu(s->io_cpu_s), helper_cpu(s->stage_cpu_s)));
}

/* What one stream's own threads allow: dwcp send and dwcp recv each move
 * its data in one or two threads (--threads), with one helper for the
 * disk (the services spread theirs over workers), so no number of cores
 * runs one stream faster than one GB per the busiest one's CPU-seconds
 * per GB. */
static double serial_ceiling(const struct bench_xfer_run *x, size_t n)
{
	double a = side_busiest(&x->snd), b = side_busiest(&x->rcv);
	double per = per_gb(x, a > b ? a : b, n);

	return x->ok && per > 0 ? 1.0 / per : NAN;
}

static void print_serial(const struct bench_xfer_report *r)
{
	const struct bench_xfer_run *x = &r->main;
	double one = one_thread(r);

	if (isnan(serial_ceiling(x, r->c->n)) || !(one > 0))
		return;
	printf("(serial points: one stream's dwcp send and dwcp recv move it in their main threads, "
	       "%.3f and %.3f CPU-s per GB, and a second data thread each, %.3f (send's reader) and "
	       "%.3f (recv's checker; 0: none, --threads 2 from %u CPUs), with a disk helper each, %.3f (read-ahead) "
	       "and %.3f (writer): on any number of cores one stream runs at most %.2f GB/s "
	       "= %.1fx the one-thread pipeline; the busiest threads of all, per GB:",
	       per_gb(x, x->snd.thread_cpu_s, r->c->n), per_gb(x, x->rcv.thread_cpu_s, r->c->n),
	       per_gb(x, helper_cpu(x->snd.stage_cpu_s), r->c->n),
	       per_gb(x, helper_cpu(x->rcv.stage_cpu_s), r->c->n), XFER_THREADS_MIN_CPUS,
	       per_gb(x, helper_cpu(x->snd.io_cpu_s), r->c->n),
	       per_gb(x, helper_cpu(x->rcv.io_cpu_s), r->c->n),
	       serial_ceiling(x, r->c->n), serial_ceiling(x, r->c->n) / one);
	for (unsigned i = 0; i < BUSIEST && x->busiest[i].s > 0; i++)
		printf("%s %s %.3f", i ? "," : "", x->busiest[i].name, per_gb(x, x->busiest[i].s, r->c->n));
	printf(")\n");
}

static void print_ceiling(const struct bench_xfer_report *r)
{
	const struct bench_xfer_run *x = &r->main;
	double per = per_gb(x, x->node_cpu_s + x->client_cpu_s - start_cpu(x), r->c->n),
	       one = one_thread(r);
	unsigned cpus = dwcp_cpu_usable();

	if (isnan(cpu_ceiling(x, r->c->n)) || !(one > 0))
		return;
	printf("(CPU ceiling: the zstd-1 transfer spent %.2f CPU-s per GB in all, so on %u CPUs it "
	       "runs at most %.3f GB/s = %.2fx the one-thread pipeline, which itself spends %.2f; "
	       "1.6x it would need at most %.2f CPU-s per GB for everything, I/O and handoffs "
	       "included)\n",
	       per, cpus, cpu_ceiling(x, r->c->n), cpu_ceiling(x, r->c->n) / one, 1.0 / one,
	       cpus / (1.6 * one));
}

static void print_main(const struct bench_xfer_report *r)
{
	const struct bench_xfer_ctx *c = r->c;
	char name[80];
	double zg = bench_xfer_gbs(&r->main, c->n), ag = bench_xfer_gbs(&r->autoc, c->n);

	printf("%-*s %8s %10s %9s %9s %9s\n", NAME_W, "path", "GB/s", "wire MiB", "p50_us", "p99_us",
	       "p99.9_us");
	if (r->main.ok)
		snprintf(name, sizeof(name), "dwcp send -> recv, zstd-1 (workers: simd %u, net %u)",
			 r->main.simd_workers, r->main.net_workers);
	else
		snprintf(name, sizeof(name), "dwcp send -> recv, zstd-1 (workers auto)");
	run_row(name, &r->main, c->n);
	run_row("dwcp send -> recv, codec auto (built-in default)", &r->autoc, c->n);
	row("same ops in one thread (zstd-1; no IPC, no net)", one_thread(r),
	    r->ip.ok ? (double)r->ip.wire_bytes : NAN, NULL);
	snprintf(name, sizeof(name), "raw TCP, %u loopback connections", c->o->connections);
	row(name, raw_tcp(r), r->tcp > 0 ? (double)c->n : NAN, NULL);
	row("writing the image to the output disk, fsync'd", out_disk(r), NAN, NULL);
	row("zstd-1 step alone, in the one-thread pipeline", zstd_step(r), NAN, NULL);
	row(r->zstd_cli == -2.0 ? "zstd -1 -T1 CLI on the image (zstd not installed)" :
	    "zstd -1 -T1 CLI on the image file", zstd_cli(r), NAN, NULL);
	ratio_row("ratio dwcp zstd-1 / one thread", zg, one_thread(r));
	ratio_row("ratio dwcp zstd-1 / raw TCP", zg, raw_tcp(r));
	ratio_row("ratio dwcp zstd-1 / output disk", zg, out_disk(r));
	ratio_row("ratio zstd-1 step / zstd CLI", zstd_step(r), zstd_cli(r));
	ratio_row("ratio dwcp codec auto / one thread", ag, one_thread(r));
	ratio_row("ratio dwcp codec auto / raw TCP", ag, raw_tcp(r));
	run_note("zstd-1", &r->main, c->n);
	print_ceiling(r);
	print_serial(r);
	run_note("codec auto", &r->autoc, c->n);
	if (r->autoc.ok)
		printf("(codec auto: send says codec %s, chunks none/lz4/zstd %.0f/%.0f/%.0f, why: %s)\n",
		       r->autoc.snd.codec[0] ? r->autoc.snd.codec : "?", r->autoc.snd.codec_chunks[0],
		       r->autoc.snd.codec_chunks[1], r->autoc.snd.codec_chunks[2],
		       r->autoc.snd.codec_why[0] ? r->autoc.snd.codec_why : "send gave no reason");
	printf("(nodes: two on this host, sharing its cores; the one-thread figure does sender and "
	       "receiver steps in turn)\n");
	if (r->ip.ok) {
		printf("(one thread, share of its time:");
		for (unsigned s = 0; s < N_STEPS; s++)
			printf(" %s %.0f%%", bench_xfer_step_names[s], 100.0 * r->ip.step_share[s]);
		printf(")\n");
	}
	if (r->tcp > 0)
		printf("(raw TCP: a sender and a receiver thread per connection; socket buffers asked "
		       "16 MiB, SO_SNDBUF reads %d MiB: Linux doubles it for its bookkeeping)\n",
		       r->tcp_buf / (int)MIB);
	if (r->disk > 0)
		printf("(output disk: the image written as dwcp recv writes it, runs of zero pages as holes, then "
		       "fsync, in the bench's directory: no durable delivery beats it)\n");
	printf("(CPU: %s)\n", cpu_method);
}

static void print_scaling(const struct bench_xfer_report *r)
{
	size_t n = r->c->n;

	printf("\nscaling: zstd-1, a fresh node pair per row with [simd] workers = w, one transfer "
	       "each (fresh stream)\n");
	printf("%7s %8s %11s %10s %14s %19s %10s\n", "workers", "GB/s", "x 1-thread", "x raw TCP",
	       "node CPU s/GB", "send+recv CPU s/GB", "identical");
	for (unsigned i = 0; i < r->n_rows; i++) {
		const struct bench_xfer_run *x = &r->rows[i].x;
		double g = bench_xfer_gbs(x, n);

		printf("%7u", r->rows[i].workers);
		cell(g, 8, 3);
		cell(ratio(g, one_thread(r)), 11, 3);
		cell(ratio(g, raw_tcp(r)), 10, 3);
		cell(per_gb(x, x->node_cpu_s, n), 14, 2);
		cell(per_gb(x, x->client_cpu_s - start_cpu(x), n), 19, 2);
		printf(" %10s\n", !x->ok ? "-" : x->identical ? "yes" : "NO");
	}
}

static void bytes_row(const char *name, double b, const char *note)
{
	printf("%-*s", NAME_W, name);
	cell(b, 14, 0);
	cell(b / MIB, 10, 2);
	printf("%s%s\n", note[0] ? "  " : "", note);
}

static void print_delta(const struct bench_xfer_report *r)
{
	const struct bench_xfer_ctx *c = r->c;
	const struct bench_xfer_run *d = &r->delta;
	double first = r->autoc.ok ? r->autoc.snd.wire : NAN, wire = d->ok ? d->snd.wire : NAN;
	char pct[64];

	printf("\ndelta: the codec-auto stream sent again after changing %u bytes in each of %zu pages "
	       "(%.1f %% of %zu 4 KiB pages),\n"
	       "on built-in defaults: delta cache %.0f MiB, image %zu MiB\n",
	       DIRTY_BYTES, r->dirty, 100.0 * (double)r->dirty / (double)(c->n / PAGE), c->n / PAGE,
	       d->ok ? d->dcache_bytes / MIB : NAN, c->n / MIB);
	printf("%-*s %14s %10s\n", NAME_W, "", "bytes", "MiB");
	bytes_row("first send (codec auto), bytes on the wire", first, "");
	snprintf(pct, sizeof(pct), "%.2f %% of the first send", 100.0 * ratio(wire, first));
	bytes_row("delta send, bytes on the wire", wire, isnan(ratio(wire, first)) ? "" : pct);
	bytes_row("zstd -1 of the whole new image", r->zstd_bytes, "");
	ratio_row("ratio delta send / zstd -1", wire, r->zstd_bytes);
	if (d->ok && d->dcache_bytes >= (double)c->n)
		printf("(the image fits the delta cache: a --size above %.0f MiB shows delta beyond it)\n",
		       d->dcache_bytes / MIB);
	if (d->ok)
		printf("(delta send: %.3f GB/s, %.3f s, %.0f pages kept (did not travel), %.0f chunks "
		       "resent for want of a base; received file bit-identical: %s)\n",
		       bench_xfer_gbs(d, c->n), d->snd.seconds, d->snd.kept_pages, d->snd.raw_resends,
		       d->identical ? "yes" : "NO");
}

void bench_xfer_print_text(const struct bench_xfer_report *r)
{
	print_main(r);
	if (r->n_rows)
		print_scaling(r);
	if (r->autoc.ok)
		print_delta(r);
	bench_xfer_print_sampling(&r->samp);
}

/* ---- one JSON object ------------------------------------------------ */

/* null, not a number, where a figure was not measured. */
static void add_num(cJSON *o, const char *key, double v)
{
	if (isnan(v) || isinf(v))
		cJSON_AddNullToObject(o, key);
	else
		cJSON_AddNumberToObject(o, key, v);
}

static void add_side(cJSON *o, const char *key, const struct bench_xfer_side *s)
{
	cJSON *j = cJSON_AddObjectToObject(o, key);

	add_num(j, "bytes", s->bytes), add_num(j, "bytes_wire", s->wire);
	add_num(j, "seconds", s->seconds), add_num(j, "chunks", s->chunks);
	add_num(j, "p50_us", s->p50), add_num(j, "p99_us", s->p99), add_num(j, "p999_us", s->p999);
	add_num(j, "raw_resends", s->raw_resends), add_num(j, "rejected", s->rejected);
	add_num(j, "kept_pages", s->kept_pages), add_num(j, "main_thread_cpu_s", s->thread_cpu_s);
	add_num(j, "io_thread_cpu_s", s->io_cpu_s);
	add_num(j, "stage_thread_cpu_s", s->stage_cpu_s);
	if (s->codec[0])
		cJSON_AddStringToObject(j, "codec", s->codec);
	if (s->codec_why[0])
		cJSON_AddStringToObject(j, "codec_why", s->codec_why);
	if (s->codec[0]) {
		cJSON *cc = cJSON_AddObjectToObject(j, "codec_chunks");

		add_num(cc, "none", s->codec_chunks[0]), add_num(cc, "lz4", s->codec_chunks[1]);
		add_num(cc, "zstd", s->codec_chunks[2]);
	}
}

static cJSON *run_json(const struct bench_xfer_report *r, const struct bench_xfer_run *x)
{
	cJSON *j = cJSON_CreateObject();
	double g = bench_xfer_gbs(x, r->c->n);

	cJSON_AddBoolToObject(j, "ok", x->ok);
	if (!x->ok)
		return j;
	add_num(j, "gbs", g);
	add_num(j, "ratio_one_thread", ratio(g, one_thread(r)));
	add_num(j, "ratio_raw_tcp", ratio(g, raw_tcp(r)));
	add_num(j, "wall_s", x->wall_s);
	add_num(j, "simd_workers", x->simd_workers);
	add_num(j, "net_workers", x->net_workers);
	add_num(j, "node_cpu_s", x->node_cpu_s);
	add_num(j, "client_cpu_s", x->client_cpu_s);
	add_num(j, "node_cpu_s_per_gb", per_gb(x, x->node_cpu_s, r->c->n));
	add_num(j, "client_start_cpu_s", start_cpu(x));
	add_num(j, "client_cpu_s_per_gb", per_gb(x, x->client_cpu_s - start_cpu(x), r->c->n));
	add_num(j, "cpu_ceiling_gbs", cpu_ceiling(x, r->c->n));
	add_num(j, "stream_ceiling_gbs", serial_ceiling(x, r->c->n));
	if (x->busiest[0].s > 0)
		cJSON_AddStringToObject(j, "busiest_thread", x->busiest[0].name);
	add_num(j, "prof_sampler_cpu_s", x->prof_cpu_s);
	add_num(j, "prof_samples", x->prof_samples);
	cJSON_AddBoolToObject(j, "identical", x->identical);
	add_side(j, "send", &x->snd);
	add_side(j, "recv", &x->rcv);
	return j;
}

static void add_refs(cJSON *root, const struct bench_xfer_report *r)
{
	cJSON *ip = cJSON_AddObjectToObject(root, "one_thread"), *sh, *tcp;

	cJSON_AddBoolToObject(ip, "ok", r->ip.ok);
	add_num(ip, "gbs", one_thread(r));
	add_num(ip, "bytes_wire", r->ip.ok ? (double)r->ip.wire_bytes : NAN);
	sh = cJSON_AddObjectToObject(ip, "step_share");
	for (unsigned s = 0; r->ip.ok && s < N_STEPS; s++)
		add_num(sh, bench_xfer_step_names[s], r->ip.step_share[s]);
	tcp = cJSON_AddObjectToObject(root, "raw_tcp");
	cJSON_AddBoolToObject(tcp, "ok", r->tcp > 0);
	add_num(tcp, "gbs", raw_tcp(r));
	add_num(tcp, "connections", r->c->o->connections);
	add_num(tcp, "sndbuf_bytes", r->tcp_buf);
	add_num(ip, "zstd1_step_gbs", zstd_step(r));
	tcp = cJSON_AddObjectToObject(root, "output_disk");
	cJSON_AddBoolToObject(tcp, "ok", r->disk > 0);
	add_num(tcp, "gbs", out_disk(r));
	tcp = cJSON_AddObjectToObject(root, "zstd_cli");
	cJSON_AddBoolToObject(tcp, "installed", r->zstd_cli != -2.0);
	cJSON_AddBoolToObject(tcp, "ok", r->zstd_cli > 0);
	add_num(tcp, "gbs", zstd_cli(r));
}

static void add_delta(cJSON *root, const struct bench_xfer_report *r)
{
	const struct bench_xfer_run *d = &r->delta;
	cJSON *j = run_json(r, d);
	double first = r->autoc.ok ? r->autoc.snd.wire : NAN, wire = d->ok ? d->snd.wire : NAN;

	cJSON_AddItemToObject(root, "delta", j);
	add_num(j, "dirty_pages", (double)r->dirty);
	add_num(j, "pages", (double)(r->c->n / PAGE));
	add_num(j, "delta_cache_bytes", d->ok ? d->dcache_bytes : NAN);
	add_num(j, "first_send_bytes_wire", first);
	add_num(j, "pct_of_first_send", 100.0 * ratio(wire, first));
	add_num(j, "zstd1_bytes", r->zstd_bytes);
	add_num(j, "ratio_zstd1", ratio(wire, r->zstd_bytes));
}

void bench_xfer_print_json(const struct bench_xfer_report *r)
{
	cJSON *root = cJSON_CreateObject(), *rows;
	char *s;

	add_num(root, "size_mib", r->c->o->size_mb);
	cJSON_AddStringToObject(root, "image", r->c->o->extents ? "extents" : "pages");
	add_num(root, "chunk_bytes", CHUNK);
	add_num(root, "connections", r->c->o->connections);
	cJSON_AddStringToObject(root, "cpu_method", cpu_method);
	add_refs(root, r);
	cJSON_AddItemToObject(root, "zstd1", run_json(r, &r->main));
	cJSON_AddItemToObject(root, "codec_auto", run_json(r, &r->autoc));
	add_delta(root, r);
	rows = cJSON_AddArrayToObject(root, "scaling");
	for (unsigned i = 0; i < r->n_rows; i++) {
		cJSON *j = run_json(r, &r->rows[i].x);

		add_num(j, "workers", r->rows[i].workers);
		cJSON_AddItemToArray(rows, j);
	}
	bench_xfer_sampling_json(root, &r->samp);
	s = cJSON_PrintUnformatted(root);
	if (s)
		printf("%s\n", s);
	free(s);
	/* Tracked over time: `dwcp bench compare` reads it back. */
	{
		char label[128], why[512];
		const char *path = bench_history_path(r->c->o->history);

		bench_history_label(r->c->o->label, label, sizeof(label));
		if (bench_history_append(path, "transfer", label, root, why, sizeof(why)))
			fprintf(stderr, "dwcp bench transfer: %s\n", why);
		else
			fprintf(stderr, "dwcp bench transfer: appended to %s as label %s\n", path, label);
	}
	cJSON_Delete(root);
	fflush(stdout);
}
