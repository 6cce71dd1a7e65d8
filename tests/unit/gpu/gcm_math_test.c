/* The AES-256-GCM arithmetic svc-gpu's kernel is to run
 * (svc-gpu/gcm_math.h), compiled here as C: FIPS-197's AES-256 vector and
 * the GCM specification's AES-256 cases, then seal and open of random
 * messages against svc-simd's AEAD (ipsec-mb and OpenSSL,
 * common/ops/aead.h) with the work split over any number of threads the
 * way a kernel splits it: counter blocks in any order, GHASH in ranges
 * moved to the end by powers of H. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/ops/aead.h"
#include "svc-gpu/gcm_math.h"

static struct dwcp_gpu_aes_tables tab;

static void setup(void)
{
	dwcp_gpu_aes_tables(&tab);
}

TestSuite(gpu_gcm, .init = setup);

static void unhex(const char *h, uint8_t *out)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned v;

		cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

Test(gpu_gcm, the_sbox_and_fips197_aes256)
{
	uint8_t key[32], pt[16], ct[16], want[16];
	uint32_t rk[60];

	cr_expect_eq(tab.sbox[0x00], 0x63);
	cr_expect_eq(tab.sbox[0x53], 0xed);
	cr_expect_eq(tab.sbox[0xff], 0x16);
	unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key);
	unhex("00112233445566778899aabbccddeeff", pt);
	unhex("8ea2b7ca516745bfeafc49904b496089", want);
	dwcp_gpu_aes256_expand(key, rk, tab.sbox);
	dwcp_gpu_aes256_block(rk, pt, ct, &tab);
	cr_expect_eq(memcmp(ct, want, 16), 0, "FIPS-197 C.3 does not hold");
}

/* Seal with @p threads threads: each takes every threads-th 16-byte
 * block for CTR, and one contiguous range of GHASH's input. */
static void seal_by_threads(const struct dwcp_gpu_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad,
			    uint64_t aad_len, const uint8_t *pt, uint64_t len, uint8_t *ct, uint8_t tag[16],
			    unsigned threads)
{
	uint64_t nblk = (len + 15) / 16, m = dwcp_gpu_ghash_blocks(aad_len, len), s[2] = { 0, 0 };

	for (unsigned t = 0; t < threads; t++)
		for (uint64_t b = t; b < nblk; b += threads)
			dwcp_gpu_gcm_ctr(k, nonce, pt, ct, b * 16, len - b * 16 < 16 ? len - b * 16 : 16, &tab);
	for (unsigned t = 0; t < threads; t++) {
		uint64_t a = m * t / threads, b = m * (t + 1) / threads, y[2];

		dwcp_gpu_ghash_range(k, aad, aad_len, ct, len, a, b, y);
		s[0] ^= y[0];
		s[1] ^= y[1];
	}
	dwcp_gpu_gcm_tag(k, nonce, s, tag, &tab);
}

/* The GCM specification's test cases 13 and 14 (AES-256, zero key and IV). */
Test(gpu_gcm, the_specification_vectors)
{
	uint8_t key[32] = { 0 }, nonce[12] = { 0 }, pt[16] = { 0 }, ct[16], tag[16], want[16], want_ct[16];
	struct dwcp_gpu_gcm_key k;

	dwcp_gpu_gcm_key_init(&k, key, &tab);
	seal_by_threads(&k, nonce, NULL, 0, NULL, 0, NULL, tag, 1);
	unhex("530f8afbc74536b9a963b4f1c4cb738b", want);
	cr_expect_eq(memcmp(tag, want, 16), 0, "test case 13: tag");
	seal_by_threads(&k, nonce, NULL, 0, pt, 16, ct, tag, 1);
	unhex("cea7403d4d606b6e074ec5d3baf39d18", want_ct);
	unhex("d0d1c8a799996bf0265b98b5d48ab919", want);
	cr_expect_eq(memcmp(ct, want_ct, 16), 0, "test case 14: ciphertext");
	cr_expect_eq(memcmp(tag, want, 16), 0, "test case 14: tag");
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand();
}

/* Random keys, nonces, AAD (none, a chunk header's 64 bytes, odd sizes)
 * and messages up to a 256 KiB chunk and beyond, split over 1..300
 * threads: the same ciphertext and tag as each backend of svc-simd's
 * AEAD, and the tag checks when GHASH runs over the ciphertext to open. */
Test(gpu_gcm, seal_and_open_match_svc_simd_for_any_split, .timeout = 120)
{
	static const uint64_t lens[] = { 0, 1, 15, 16, 17, 255, 4096, 65536 + 7, 262144, 262144 + 13 };
	static const uint64_t aads[] = { 0, 13, 64 };
	static const unsigned splits[] = { 1, 2, 7, 32, 256, 300 };
	static const enum dwcp_aead_backend backends[] = { DWCP_AEAD_IPSEC_MB, DWCP_AEAD_OPENSSL };
	uint8_t key[32], nonce[12], aad[64], tag[16], want_tag[16];
	uint8_t *pt = malloc(262144 + 13), *ct = malloc(262144 + 13), *want = malloc(262144 + 13);
	unsigned seed = 1;

	cr_assert(pt && ct && want);
	for (unsigned be = 0; be < 2; be++)
		for (unsigned li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
			for (unsigned ai = 0; ai < 3; ai++) {
				struct dwcp_aead_key *ak;
				struct dwcp_gpu_gcm_key k;
				uint64_t len = lens[li];

				fill(key, sizeof(key), seed++);
				fill(nonce, sizeof(nonce), seed++);
				fill(aad, sizeof(aad), seed++);
				fill(pt, len, seed++);
				ak = dwcp_aead_key_create(backends[be], key, NULL);
				cr_assert_not_null(ak, "AEAD key (backend %d)", backends[be]);
				cr_assert_eq(dwcp_aead_seal(ak, nonce, aad, aads[ai], pt, len, want, want_tag), 0);
				dwcp_aead_key_destroy(ak);
				dwcp_gpu_gcm_key_init(&k, key, &tab);
				for (unsigned si = 0; si < sizeof(splits) / sizeof(splits[0]); si++) {
					uint64_t m = dwcp_gpu_ghash_blocks(aads[ai], len), s[2] = { 0, 0 };

					memset(ct, 0xa5, len);
					seal_by_threads(&k, nonce, aad, aads[ai], pt, len, ct, tag, splits[si]);
					cr_assert_eq(memcmp(ct, want, len), 0,
						     "backend %d: %llu bytes, AAD %llu, %u threads: ciphertext", backends[be],
						     (unsigned long long)len, (unsigned long long)aads[ai], splits[si]);
					cr_assert_eq(memcmp(tag, want_tag, 16), 0,
						     "backend %d: %llu bytes, AAD %llu, %u threads: tag", backends[be],
						     (unsigned long long)len, (unsigned long long)aads[ai], splits[si]);
					/* Open: GHASH over the ciphertext as it came, then CTR back. */
					for (unsigned t = 0; t < splits[si]; t++) {
						uint64_t y[2];

						dwcp_gpu_ghash_range(&k, aad, aads[ai], want, len, m * t / splits[si],
								     m * (t + 1) / splits[si], y);
						s[0] ^= y[0];
						s[1] ^= y[1];
					}
					dwcp_gpu_gcm_tag(&k, nonce, s, tag, &tab);
					cr_assert_eq(memcmp(tag, want_tag, 16), 0, "open: the tag does not check");
					dwcp_gpu_gcm_ctr(&k, nonce, want, ct, 0, len, &tab);
					cr_assert_eq(memcmp(ct, pt, len), 0, "open: the plaintext differs");
				}
			}
	free(pt);
	free(ct);
	free(want);
}

/* H^n by the table equals n multiplications by H. */
Test(gpu_gcm, powers_of_h_compose)
{
	uint8_t key[32];
	struct dwcp_gpu_gcm_key k;

	fill(key, sizeof(key), 99);
	dwcp_gpu_gcm_key_init(&k, key, &tab);
	for (uint64_t n = 0; n < 70; n++) {
		uint64_t a[2] = { 0x0123456789abcdefull, 0xfedcba9876543210ull }, b[2] = { a[0], a[1] };

		dwcp_gpu_gf_mul_hpow(a, n, &k);
		for (uint64_t i = 0; i < n; i++)
			dwcp_gpu_gf_mul(b, k.hpow[0]);
		cr_expect(a[0] == b[0] && a[1] == b[1], "H^%llu", (unsigned long long)n);
	}
}
