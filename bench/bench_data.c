/* Benchmark data (bench_data.h). */
#include "bench_data.h"

uint64_t bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
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
