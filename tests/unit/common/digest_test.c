/* The whole-stream digest (common/digest.h): its definition, and that it
 * does not depend on how the stream is cut into chunks. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <xxhash.h>

#include "common/digest.h"

static uint8_t *data(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(seed >> 56);
	}
	return p;
}

static uint64_t digest_in(const uint8_t *p, size_t n, size_t cut)
{
	struct dwcp_digest d;
	uint64_t v;

	cr_assert_eq(dwcp_digest_init(&d), 0);
	for (size_t off = 0; off < n; off += cut)
		dwcp_digest_update(&d, p + off, n - off < cut ? n - off : cut);
	if (!n)
		dwcp_digest_update(&d, p, 0);
	v = dwcp_digest_final(&d);
	dwcp_digest_fini(&d);
	return v;
}

/* The definition, spelled out with libxxhash directly. */
static uint64_t reference(const uint8_t *p, size_t n)
{
	size_t pages = (n + 4095) / 4096;
	uint64_t *w = calloc(pages ? 2 * pages : 1, sizeof(uint64_t)), v;

	for (size_t i = 0; i < pages; i++) {
		size_t len = n - i * 4096 < 4096 ? n - i * 4096 : 4096;
		XXH128_hash_t h = XXH3_128bits(p + i * 4096, len);

		w[2 * i] = htole64(h.low64);
		w[2 * i + 1] = htole64(h.high64);
	}
	v = XXH3_64bits(w, pages * 16);
	free(w);
	return v ? v : 1;
}

Test(digest, matches_its_definition_for_every_size_class)
{
	const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536, 65536 * 3 + 100 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = data(sizes[i], i + 1);

		cr_assert_eq(digest_in(p, sizes[i], 65536), reference(p, sizes[i]), "size %zu",
			     sizes[i]);
		free(p);
	}
}

Test(digest, does_not_depend_on_the_chunk_size)
{
	const size_t n = 1024 * 1024 + 123;
	uint8_t *p = data(n, 7);
	uint64_t a = digest_in(p, n, 4096), b = digest_in(p, n, 65536), c = digest_in(p, n, 8192);

	cr_assert(a == b && b == c, "%016lx %016lx %016lx", a, b, c);
	free(p);
}

Test(digest, one_changed_byte_or_a_missing_page_changes_it)
{
	const size_t n = 256 * 1024;
	uint8_t *p = data(n, 9);
	uint64_t a = digest_in(p, n, 65536);

	p[n / 2] ^= 1;
	cr_assert_neq(digest_in(p, n, 65536), a, "a flipped bit left the digest unchanged");
	p[n / 2] ^= 1;
	cr_assert_neq(digest_in(p, n - 4096, 65536), a, "a missing last page left it unchanged");
	/* two pages swapped: each page hash is the same, their order is not */
	{
		uint8_t tmp[4096];

		memcpy(tmp, p, 4096);
		memcpy(p, p + 4096, 4096);
		memcpy(p + 4096, tmp, 4096);
	}
	cr_assert_neq(digest_in(p, n, 65536), a, "swapped pages left the digest unchanged");
	free(p);
}

/* `dwcp send` hashes pages on its reader thread and folds the hashes in
 * order on its own: the digest must be the definition's all the same. */
Test(digest, folding_page_hashes_is_the_same_digest)
{
	const size_t n = 65536 * 5 + 777, cut = 65536;
	uint8_t *p = data(n, 11), (*h)[DWCP_DIGEST_PAGE_HASH] = calloc(n / 4096 + 1, DWCP_DIGEST_PAGE_HASH);
	struct dwcp_digest d;

	cr_assert_not_null(h);
	cr_assert_eq(dwcp_digest_init(&d), 0);
	for (size_t off = 0; off < n; off += cut) {
		size_t len = n - off < cut ? n - off : cut;

		dwcp_digest_page_hashes(&d.xxh3, p + off, len, h);
		dwcp_digest_add_hashes(&d, (const uint8_t (*)[DWCP_DIGEST_PAGE_HASH])h,
				       (len + 4095) / 4096);
	}
	cr_assert_eq(dwcp_digest_final(&d), reference(p, n));
	cr_assert_eq(d.pages, (n + 4095) / 4096);
	dwcp_digest_fini(&d);
	free(h);
	free(p);
}
