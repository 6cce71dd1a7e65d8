/* AES-256-GCM arithmetic shared by the GPU kernel and the host, as
 * crc32c_math.h is for CRC32C: the same source compiles as CUDA device code
 * and as C, so what a kernel computes is checked against svc-simd's AEAD
 * (ipsec-mb and OpenSSL, common/ops/aead.h) and the published test vectors
 * on any machine, with or without a GPU.
 *
 * A chunk is sealed by many threads at once:
 *   - CTR: ciphertext block i is P_i ^ AES(K, J0 + 1 + i); any thread may
 *     do any block.
 *   - GHASH: the tag covers X_1 .. X_m (the AAD's blocks, the
 *     ciphertext's, the length block), S = XOR_i X_i * H^(m - i + 1) in
 *     GF(2^128). A thread takes a range [a, b) of X, computes its Horner
 *     sum XOR_i X_i * H^(b - i) and moves it to the end with H^(m - b + 1)
 *     (a product of H^(2^k) from a table): the ranges' values XOR to S.
 *   - tag = AES(K, J0) ^ S, J0 = nonce || 0x00000001 (12-byte nonces only).
 * GF(2^128) products are bit-serial (a GPU has no carry-less multiply):
 * 128 conditional XORs and shifts per block, plain integer work.
 *
 * AES runs on the T-table form; the tables are arguments, so a kernel
 * passes copies in shared memory and the host passes its own.
 */
#ifndef DWCP_SVC_GPU_GCM_MATH_H
#define DWCP_SVC_GPU_GCM_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "svc-gpu/gpu_hd.h"

#define DWCP_GPU_GCM_HPOW 40u   /* H^(2^k), k < 40: exponents up to 2^40 blocks */

/* What one key needs, made once (dwcp_gpu_gcm_key_init). */
struct dwcp_gpu_gcm_key {
	uint32_t rk[60];                      /* AES-256 round keys, big-endian words */
	uint64_t hpow[DWCP_GPU_GCM_HPOW][2];  /* H^(2^k): [0] bytes 0-7, [1] bytes 8-15, big-endian */
};

/* The AES tables (dwcp_gpu_aes_tables): S-box and T0 (the other three T
 * tables are its byte rotations). */
struct dwcp_gpu_aes_tables {
	uint32_t te0[256];
	uint8_t sbox[256];
};

DWCP_GPU_HD uint8_t dwcp_gpu_xtime(uint8_t x)
{
	return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
}

/* The S-box from its definition: the inverse in GF(2^8) (by powers of
 * the generator 3), then the affine map; no table to mistype. */
DWCP_GPU_HD void dwcp_gpu_aes_tables(struct dwcp_gpu_aes_tables *t)
{
	uint8_t p = 1, q = 1;

	do {
		uint8_t x;

		p = (uint8_t)(p ^ dwcp_gpu_xtime(p));        /* p *= 3 */
		q ^= (uint8_t)(q << 1);                      /* q /= 3 */
		q ^= (uint8_t)(q << 2);
		q ^= (uint8_t)(q << 4);
		if (q & 0x80)
			q ^= 0x09;
		x = (uint8_t)(q ^ (uint8_t)(q << 1 | q >> 7) ^ (uint8_t)(q << 2 | q >> 6) ^
			      (uint8_t)(q << 3 | q >> 5) ^ (uint8_t)(q << 4 | q >> 4));
		t->sbox[p] = (uint8_t)(x ^ 0x63);
	} while (p != 1);
	t->sbox[0] = 0x63;
	for (unsigned i = 0; i < 256; i++) {
		uint8_t s = t->sbox[i], s2 = dwcp_gpu_xtime(s), s3 = (uint8_t)(s2 ^ s);

		t->te0[i] = (uint32_t)s2 << 24 | (uint32_t)s << 16 | (uint32_t)s << 8 | s3;
	}
}

DWCP_GPU_HD uint32_t dwcp_gpu_ror(uint32_t x, unsigned n)
{
	return x >> n | x << (32 - n);
}

DWCP_GPU_HD uint32_t dwcp_gpu_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

DWCP_GPU_HD void dwcp_gpu_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

DWCP_GPU_HD uint32_t dwcp_gpu_subword(uint32_t w, const uint8_t sbox[256])
{
	return (uint32_t)sbox[w >> 24] << 24 | (uint32_t)sbox[(w >> 16) & 0xff] << 16 |
	       (uint32_t)sbox[(w >> 8) & 0xff] << 8 | sbox[w & 0xff];
}

/* FIPS-197's key expansion for Nk = 8, Nr = 14. */
DWCP_GPU_HD void dwcp_gpu_aes256_expand(const uint8_t key[32], uint32_t rk[60], const uint8_t sbox[256])
{
	uint8_t rcon = 1;

	for (unsigned i = 0; i < 8; i++)
		rk[i] = dwcp_gpu_be32(key + 4 * i);
	for (unsigned i = 8; i < 60; i++) {
		uint32_t t = rk[i - 1];

		if (i % 8 == 0) {
			t = dwcp_gpu_subword(dwcp_gpu_ror(t, 24), sbox) ^ (uint32_t)rcon << 24;
			rcon = dwcp_gpu_xtime(rcon);
		} else if (i % 8 == 4) {
			t = dwcp_gpu_subword(t, sbox);
		}
		rk[i] = rk[i - 8] ^ t;
	}
}

/* One block: the four words of the state, big-endian, in and out. */
DWCP_GPU_HD void dwcp_gpu_aes256_words(const uint32_t rk[60], uint32_t s[4], const struct dwcp_gpu_aes_tables *t)
{
	uint32_t s0 = s[0] ^ rk[0], s1 = s[1] ^ rk[1], s2 = s[2] ^ rk[2], s3 = s[3] ^ rk[3];

	for (unsigned r = 1; r < 14; r++) {
		const uint32_t *k = rk + 4 * r;
		uint32_t t0 = t->te0[s0 >> 24] ^ dwcp_gpu_ror(t->te0[(s1 >> 16) & 0xff], 8) ^
			      dwcp_gpu_ror(t->te0[(s2 >> 8) & 0xff], 16) ^ dwcp_gpu_ror(t->te0[s3 & 0xff], 24) ^ k[0];
		uint32_t t1 = t->te0[s1 >> 24] ^ dwcp_gpu_ror(t->te0[(s2 >> 16) & 0xff], 8) ^
			      dwcp_gpu_ror(t->te0[(s3 >> 8) & 0xff], 16) ^ dwcp_gpu_ror(t->te0[s0 & 0xff], 24) ^ k[1];
		uint32_t t2 = t->te0[s2 >> 24] ^ dwcp_gpu_ror(t->te0[(s3 >> 16) & 0xff], 8) ^
			      dwcp_gpu_ror(t->te0[(s0 >> 8) & 0xff], 16) ^ dwcp_gpu_ror(t->te0[s1 & 0xff], 24) ^ k[2];
		uint32_t t3 = t->te0[s3 >> 24] ^ dwcp_gpu_ror(t->te0[(s0 >> 16) & 0xff], 8) ^
			      dwcp_gpu_ror(t->te0[(s1 >> 8) & 0xff], 16) ^ dwcp_gpu_ror(t->te0[s2 & 0xff], 24) ^ k[3];

		s0 = t0;
		s1 = t1;
		s2 = t2;
		s3 = t3;
	}
	s[0] = ((uint32_t)t->sbox[s0 >> 24] << 24 | (uint32_t)t->sbox[(s1 >> 16) & 0xff] << 16 |
		(uint32_t)t->sbox[(s2 >> 8) & 0xff] << 8 | t->sbox[s3 & 0xff]) ^ rk[56];
	s[1] = ((uint32_t)t->sbox[s1 >> 24] << 24 | (uint32_t)t->sbox[(s2 >> 16) & 0xff] << 16 |
		(uint32_t)t->sbox[(s3 >> 8) & 0xff] << 8 | t->sbox[s0 & 0xff]) ^ rk[57];
	s[2] = ((uint32_t)t->sbox[s2 >> 24] << 24 | (uint32_t)t->sbox[(s3 >> 16) & 0xff] << 16 |
		(uint32_t)t->sbox[(s0 >> 8) & 0xff] << 8 | t->sbox[s1 & 0xff]) ^ rk[58];
	s[3] = ((uint32_t)t->sbox[s3 >> 24] << 24 | (uint32_t)t->sbox[(s0 >> 16) & 0xff] << 16 |
		(uint32_t)t->sbox[(s1 >> 8) & 0xff] << 8 | t->sbox[s2 & 0xff]) ^ rk[59];
}

DWCP_GPU_HD void dwcp_gpu_aes256_block(const uint32_t rk[60], const uint8_t in[16], uint8_t out[16],
				       const struct dwcp_gpu_aes_tables *t)
{
	uint32_t s[4];

	for (unsigned i = 0; i < 4; i++)
		s[i] = dwcp_gpu_be32(in + 4 * i);
	dwcp_gpu_aes256_words(rk, s, t);
	for (unsigned i = 0; i < 4; i++)
		dwcp_gpu_put_be32(out + 4 * i, s[i]);
}

/* x = x * y in GCM's GF(2^128) (bit 0 of byte 0 is x^0: the spec's
 * right-shift algorithm on two big-endian 64-bit halves). */
DWCP_GPU_HD void dwcp_gpu_gf_mul(uint64_t x[2], const uint64_t y[2])
{
	uint64_t zh = 0, zl = 0, vh = y[0], vl = y[1];

	for (unsigned i = 0; i < 128; i++) {
		uint64_t bit = i < 64 ? x[0] >> (63 - i) & 1 : x[1] >> (127 - i) & 1;
		uint64_t lsb = vl & 1;

		zh ^= vh & (0 - bit);
		zl ^= vl & (0 - bit);
		vl = vl >> 1 | vh << 63;
		vh = vh >> 1 ^ (0xe100000000000000ull & (0 - lsb));
	}
	x[0] = zh;
	x[1] = zl;
}

/* x = x * H^n, with H^(2^k) from the key. */
DWCP_GPU_HD void dwcp_gpu_gf_mul_hpow(uint64_t x[2], uint64_t n, const struct dwcp_gpu_gcm_key *k)
{
	for (unsigned b = 0; n && b < DWCP_GPU_GCM_HPOW; b++, n >>= 1)
		if (n & 1)
			dwcp_gpu_gf_mul(x, k->hpow[b]);
}

DWCP_GPU_HD uint64_t dwcp_gpu_be64(const uint8_t *p)
{
	return (uint64_t)dwcp_gpu_be32(p) << 32 | dwcp_gpu_be32(p + 4);
}

/* The key's schedule and H's powers. */
DWCP_GPU_HD void dwcp_gpu_gcm_key_init(struct dwcp_gpu_gcm_key *k, const uint8_t key[32],
				       const struct dwcp_gpu_aes_tables *t)
{
	uint8_t zero[16] = { 0 }, h[16];

	dwcp_gpu_aes256_expand(key, k->rk, t->sbox);
	dwcp_gpu_aes256_block(k->rk, zero, h, t);
	k->hpow[0][0] = dwcp_gpu_be64(h);
	k->hpow[0][1] = dwcp_gpu_be64(h + 8);
	for (unsigned b = 1; b < DWCP_GPU_GCM_HPOW; b++) {
		k->hpow[b][0] = k->hpow[b - 1][0];
		k->hpow[b][1] = k->hpow[b - 1][1];
		dwcp_gpu_gf_mul(k->hpow[b], k->hpow[b - 1]);
	}
}

/* Counter block J0 + @p inc (inc32: the last word wraps alone). */
DWCP_GPU_HD void dwcp_gpu_gcm_counter(const uint8_t nonce[12], uint32_t inc, uint8_t out[16])
{
	for (unsigned i = 0; i < 12; i++)
		out[i] = nonce[i];
	dwcp_gpu_put_be32(out + 12, 1u + inc);
}

/* CTR over bytes [@p off, @p off + @p n) of a message (@p off a multiple
 * of 16): out = in ^ keystream. In place is allowed. */
DWCP_GPU_HD void dwcp_gpu_gcm_ctr(const struct dwcp_gpu_gcm_key *k, const uint8_t nonce[12], const uint8_t *in,
				  uint8_t *out, uint64_t off, uint64_t n, const struct dwcp_gpu_aes_tables *t)
{
	for (uint64_t done = 0; done < n; done += 16) {
		uint8_t ctr[16], ks[16];
		uint64_t take = n - done < 16 ? n - done : 16;

		dwcp_gpu_gcm_counter(nonce, (uint32_t)((off + done) / 16 + 1), ctr);
		dwcp_gpu_aes256_block(k->rk, ctr, ks, t);
		for (uint64_t i = 0; i < take; i++)
			out[off + done + i] = (uint8_t)(in[off + done + i] ^ ks[i]);
	}
}

/* How many GHASH input blocks a message has: the AAD's, the ciphertext's, the lengths. */
DWCP_GPU_HD uint64_t dwcp_gpu_ghash_blocks(uint64_t aad_len, uint64_t len)
{
	return (aad_len + 15) / 16 + (len + 15) / 16 + 1;
}

/* GHASH input block @p i (0-based): AAD, then ciphertext, zero-padded, then lengths in bits. */
DWCP_GPU_HD void dwcp_gpu_ghash_block(const uint8_t *aad, uint64_t aad_len, const uint8_t *c, uint64_t len,
				      uint64_t i, uint64_t x[2])
{
	uint64_t na = (aad_len + 15) / 16, nc = (len + 15) / 16;
	uint8_t b[16] = { 0 };
	const uint8_t *src;
	uint64_t avail;

	if (i == na + nc) {
		x[0] = aad_len * 8;
		x[1] = len * 8;
		return;
	}
	src = i < na ? aad + 16 * i : c + 16 * (i - na);
	avail = i < na ? aad_len - 16 * i : len - 16 * (i - na);
	for (uint64_t j = 0; j < 16 && j < avail; j++)
		b[j] = src[j];
	x[0] = dwcp_gpu_be64(b);
	x[1] = dwcp_gpu_be64(b + 8);
}

/* One thread's share of GHASH: blocks [@p a, @p b) of the input, moved to
 * the end. XOR every range's value for S. */
DWCP_GPU_HD void dwcp_gpu_ghash_range(const struct dwcp_gpu_gcm_key *k, const uint8_t *aad, uint64_t aad_len,
				      const uint8_t *c, uint64_t len, uint64_t a, uint64_t b, uint64_t y[2])
{
	uint64_t m = dwcp_gpu_ghash_blocks(aad_len, len);

	y[0] = y[1] = 0;
	for (uint64_t i = a; i < b; i++) {
		uint64_t x[2];

		dwcp_gpu_ghash_block(aad, aad_len, c, len, i, x);
		y[0] ^= x[0];
		y[1] ^= x[1];
		dwcp_gpu_gf_mul(y, k->hpow[0]);
	}
	dwcp_gpu_gf_mul_hpow(y, m - b, k);
}

/* tag = AES(K, J0) ^ S. */
DWCP_GPU_HD void dwcp_gpu_gcm_tag(const struct dwcp_gpu_gcm_key *k, const uint8_t nonce[12], const uint64_t s[2],
				  uint8_t tag[16], const struct dwcp_gpu_aes_tables *t)
{
	uint8_t j0[16], e[16];

	for (unsigned i = 0; i < 12; i++)
		j0[i] = nonce[i];
	dwcp_gpu_put_be32(j0 + 12, 1);
	dwcp_gpu_aes256_block(k->rk, j0, e, t);
	for (unsigned i = 0; i < 8; i++) {
		tag[i] = (uint8_t)(e[i] ^ (uint8_t)(s[0] >> (56 - 8 * i)));
		tag[8 + i] = (uint8_t)(e[8 + i] ^ (uint8_t)(s[1] >> (56 - 8 * i)));
	}
}

#endif
