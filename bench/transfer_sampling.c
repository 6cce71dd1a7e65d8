/* What the continuous profile costs in throughput (`dwcp bench transfer
 * --sampling`), measured in the same run as the transfer figures.
 *
 * At the built-in [prof] sample_hz the cost is far below what this
 * machine's run-to-run noise can resolve, so it is measured where it is
 * large and scaled: the same zstd-1 transfer on a pair with the continuous
 * profile off and on a pair sampling at SAMP_HZ (the highest rate the
 * config allows), in alternating blocks so that drift of the machine falls
 * on both. The cost is per sample (an interrupt, a record in the ring, the
 * sampler folding it), so it scales with the rate: the difference at
 * SAMP_HZ times default / SAMP_HZ is the cost at the default, and the
 * noise, scaled the same way, bounds it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "transfer_pvt.h"

static unsigned default_hz(void)
{
	struct dwcp_config cfg;

	dwcp_config_defaults(&cfg);
	return cfg.prof_sample_hz;
}

int bench_xfer_run_sampling(struct bench_xfer_ctx *c, struct bench_xfer_sampling *s)
{
	memset(s, 0, sizeof(*s));
	s->default_hz = default_hz();
	for (unsigned b = 0; b < 2 * SAMP_BLOCKS; b++) {
		unsigned on = b & 1;

		if (!c->o->json)
			fprintf(stderr, "dwcp bench transfer: sampling cost, [prof] sample_hz = %u ...\n",
				on ? SAMP_HZ : 0);
		c->sample_hz = on ? SAMP_HZ : 0;
		c->sample_hz_set = 1;
		if (bench_xfer_stop || bench_xfer_start_pair(c, 0)) {
			c->sample_hz_set = 0;
			return -1;
		}
		for (unsigned r = 0; r < SAMP_RUNS && !bench_xfer_stop; r++) {
			struct bench_xfer_run x = { 0 };
			char stream[32];
			unsigned k = s->n[on];

			snprintf(stream, sizeof(stream), "bench-hz%u-%u", on ? SAMP_HZ : 0, k);
			bench_xfer_run_one(c, stream, "out-samp", "zstd", stream, &x);
			bench_xfer_unlink(c, "out-samp");
			if (!x.ok || !x.identical) {
				bench_xfer_stop_pair(c);
				c->sample_hz_set = 0;
				return -1;
			}
			s->gbs[on][k] = bench_xfer_gbs(&x, c->n);
			s->cpu_gb[on][k] = (x.node_cpu_s + x.client_cpu_s) / ((double)c->n / 1e9);
			s->samples_s[on][k] = isnan(x.prof_samples) ? 0 : x.prof_samples / x.wall_s;
			s->n[on]++;
		}
		bench_xfer_stop_pair(c);
	}
	c->sample_hz_set = 0;
	s->done = s->n[0] == SAMP_RUNS * SAMP_BLOCKS && s->n[1] == SAMP_RUNS * SAMP_BLOCKS;
	return s->done ? 0 : -1;
}

/* Median and half the range of @p v (n values). */
static double med_noise(const double *v, unsigned n, double *half_range)
{
	double w[SAMP_RUNS * SAMP_BLOCKS];

	memcpy(w, v, n * sizeof(*v));
	*half_range = 0;
	if (!n)
		return NAN;
	bench_xfer_median(w, n);   /* sorts */
	*half_range = (w[n - 1] - w[0]) / 2;
	return w[n / 2];
}

struct samp_fig {
	double gbs[2], gbs_hr[2], cpu[2], cpu_hr[2], sps;
	double loss_hi, noise_hi, cpu_hi;   /* at SAMP_HZ, relative */
	double scale;                       /* default / SAMP_HZ */
};

static void figures(const struct bench_xfer_sampling *s, struct samp_fig *f)
{
	double hr;

	for (int on = 0; on < 2; on++) {
		f->gbs[on] = med_noise(s->gbs[on], s->n[on], &f->gbs_hr[on]);
		f->cpu[on] = med_noise(s->cpu_gb[on], s->n[on], &f->cpu_hr[on]);
	}
	f->sps = med_noise(s->samples_s[1], s->n[1], &hr);
	f->loss_hi = 1 - f->gbs[1] / f->gbs[0];
	f->noise_hi = f->gbs_hr[0] / f->gbs[0] + f->gbs_hr[1] / f->gbs[1];
	f->cpu_hi = f->cpu[1] / f->cpu[0] - 1;
	f->scale = (double)s->default_hz / SAMP_HZ;
}

void bench_xfer_print_sampling(const struct bench_xfer_sampling *s)
{
	struct samp_fig f;

	if (!s->done)
		return;
	figures(s, &f);
	printf("\nsampling cost: zstd-1 with the continuous profile off and at %u Hz, %u blocks of %u runs "
	       "each, alternating (median, +- half the range)\n", SAMP_HZ, SAMP_BLOCKS, SAMP_RUNS);
	printf("  profile off      %6.3f GB/s +- %.3f   %5.2f CPU-s/GB +- %.2f\n", f.gbs[0], f.gbs_hr[0],
	       f.cpu[0], f.cpu_hr[0]);
	printf("  at %4u Hz       %6.3f GB/s +- %.3f   %5.2f CPU-s/GB +- %.2f   %.0f samples/s\n", SAMP_HZ,
	       f.gbs[1], f.gbs_hr[1], f.cpu[1], f.cpu_hr[1], f.sps);
	printf("  cost at %u Hz: throughput %+.2f %% (noise +- %.2f %%), CPU per GB %+.2f %%\n", SAMP_HZ,
	       -100 * f.loss_hi, 100 * f.noise_hi, 100 * f.cpu_hi);
	printf("  at the built-in %u Hz (x %u/%u): throughput %+.3f %%, at most %.3f %% with the noise "
	       "(%s 1 %%); CPU per GB %+.3f %%\n", s->default_hz, s->default_hz, SAMP_HZ,
	       -100 * f.loss_hi * f.scale, 100 * (fabs(f.loss_hi) + f.noise_hi) * f.scale,
	       (fabs(f.loss_hi) + f.noise_hi) * f.scale < 0.01 ? "below" : "NOT below",
	       100 * f.cpu_hi * f.scale);
}

void bench_xfer_sampling_json(cJSON *root, const struct bench_xfer_sampling *s)
{
	cJSON *o;
	struct samp_fig f;

	if (!s->done)
		return;
	figures(s, &f);
	o = cJSON_AddObjectToObject(root, "sampling");
	cJSON_AddNumberToObject(o, "high_hz", SAMP_HZ);
	cJSON_AddNumberToObject(o, "default_hz", s->default_hz);
	cJSON_AddNumberToObject(o, "off_gbs", f.gbs[0]);
	cJSON_AddNumberToObject(o, "high_gbs", f.gbs[1]);
	cJSON_AddNumberToObject(o, "high_samples_per_s", f.sps);
	cJSON_AddNumberToObject(o, "high_loss_pct", 100 * f.loss_hi);
	cJSON_AddNumberToObject(o, "high_noise_pct", 100 * f.noise_hi);
	cJSON_AddNumberToObject(o, "default_loss_pct", 100 * f.loss_hi * f.scale);
	cJSON_AddNumberToObject(o, "default_loss_bound_pct", 100 * (fabs(f.loss_hi) + f.noise_hi) * f.scale);
	cJSON_AddNumberToObject(o, "default_cpu_pct", 100 * f.cpu_hi * f.scale);
}
