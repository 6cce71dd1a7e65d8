/* Benchmark data (bench_data.h). */
#include <string.h>

#include "bench_data.h"

uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

void bench_fill_vm_like(uint8_t *p, size_t n)
{
	uint64_t s = 0x9E3779B97F4A7C15ull;

	for (size_t at = 0; at < n; at += 4096) {
		size_t m = n - at < 4096 ? n - at : 4096;

		if ((at / 4096) % 3 == 0)
			memset(p + at, 0, m);
		else if ((at / 4096) % 3 == 1)
			bench_fill_text(p + at, m, &s);
		else
			for (size_t i = 0; i < m; i++)
				p[at + i] = (uint8_t)(bench_rand(&s) >> 32);
	}
}

void bench_fill_text(uint8_t *p, size_t n, uint64_t *s)
{
	static const char *const words[] = { "page ", "dirty ", "kernel ", "0x7f3a ",
					     "memory ", "migrate ", "\n", "guest " };
	size_t i = 0;

	while (i < n) {
		const char *w = words[bench_rand(s) % 8];

		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (uint8_t)w[k];
	}
}
