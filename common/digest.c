/* The whole-stream digest (digest.h). */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "common/digest.h"

int dwcp_digest_init(struct dwcp_digest *d)
{
	struct dwcp_cpu_features cpu;

	dwcp_cpu_detect(&cpu);
	dwcp_xxh3_select(&d->xxh3, &cpu);
	d->pages = 0;
	d->outer = XXH3_createState();
	if (!d->outer)
		return -ENOMEM;
	XXH3_64bits_reset(d->outer);
	return 0;
}

void dwcp_digest_fini(struct dwcp_digest *d)
{
	if (d->outer)
		XXH3_freeState(d->outer);
	d->outer = NULL;
}

static void page_hash(const struct dwcp_xxh3_impl *x, const uint8_t *p, size_t n, uint64_t w[2])
{
	struct dwcp_xxh3_128 h = x->h128(p, n, 0);   /* XXH3_128bits(p, n): seed 0 */

	w[0] = htole64(h.lo);
	w[1] = htole64(h.hi);
}

void dwcp_digest_update_pages(struct dwcp_digest *d, const void *data, size_t len,
			      uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	const uint8_t *p = data;

	while (len) {
		size_t n = len < DWCP_DIGEST_PAGE ? len : DWCP_DIGEST_PAGE;
		uint64_t w[2];

		page_hash(&d->xxh3, p, n, w);
		XXH3_64bits_update(d->outer, w, sizeof(w));
		if (hashes)
			memcpy(*hashes++, w, sizeof(w));
		d->pages++;
		p += n;
		len -= n;
	}
}

void dwcp_digest_page_hashes(const struct dwcp_xxh3_impl *x, const void *data, size_t len,
			     uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH])
{
	const uint8_t *p = data;

	while (len) {
		size_t n = len < DWCP_DIGEST_PAGE ? len : DWCP_DIGEST_PAGE;
		uint64_t w[2];

		page_hash(x, p, n, w);
		memcpy(*hashes++, w, sizeof(w));
		p += n;
		len -= n;
	}
}

void dwcp_digest_update(struct dwcp_digest *d, const void *data, size_t len)
{
	dwcp_digest_update_pages(d, data, len, NULL);
}

void dwcp_digest_add_hashes(struct dwcp_digest *d, const uint8_t (*hashes)[DWCP_DIGEST_PAGE_HASH],
			    size_t n)
{
	XXH3_64bits_update(d->outer, hashes, n * DWCP_DIGEST_PAGE_HASH);
	d->pages += n;
}

uint64_t dwcp_digest_final(const struct dwcp_digest *d)
{
	uint64_t v = XXH3_64bits_digest(d->outer);

	return v ? v : 1;
}
