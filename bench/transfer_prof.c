/* What svc-prof's continuous profile cost during a transfer of `dwcp
 * bench transfer`: both nodes serve /metrics on a port of their own
 * ([prof] listen; [prof] sample_hz stays the built-in), and the sampler's
 * own CPU time and samples are read there before and after each run. The
 * kernel's part (one cpu-clock interrupt per sample) is not in it: it is
 * the samples times a few microseconds, printed beside.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transfer_pvt.h"

/* The value of metric @p name in GET /metrics on 127.0.0.1:@p port; NAN if none. */
static double metric(unsigned port, const char *name)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	size_t cap = 1u << 20, n = 0;
	char *buf = malloc(cap), key[128], *p;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	double v = NAN;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!buf || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		goto out;
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, 5000) != 1 || n + 1 >= cap)
			break;
		r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(buf, key);
	if (p)
		v = strtod(p + strlen(key), NULL);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return v;
}

void bench_xfer_prof_read(const struct bench_xfer_ctx *c, double *cpu_s, double *samples)
{
	*cpu_s = metric(c->prof_port_a, "dwcp_prof_sampler_cpu_seconds_total") +
		 metric(c->prof_port_b, "dwcp_prof_sampler_cpu_seconds_total");
	*samples = metric(c->prof_port_a, "dwcp_prof_samples_total") +
		   metric(c->prof_port_b, "dwcp_prof_samples_total");
}
