/* AES-256-GCM tests. The published vectors (GCM spec test cases 13-18 of
 * McGrew & Viega, and NIST CAVP gcmEncryptExtIV256 count 0) are first run
 * through plain OpenSSL EVP calls written here, so a typo in a vector
 * cannot pass for a bug; then through both backends. On random keys,
 * nonces, AAD and sizes 0..70000 the two backends (ipsec-mb on each code
 * path this CPU has) must give the same ciphertext and tag and open each
 * other's output, and everything we seal must open with plain EVP code.
 * Every tampering (ciphertext, tag, AAD, nonce, length, key) must be
 * -EBADMSG with the output buffer left all zero. */
#include <errno.h>
#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "tests/lib/util.h"
#include "common/cpu.h"
#include "common/ops/aead.h"

#define MAXN 70000u
#define NIMPL 5

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned v;

		cr_assert_eq(sscanf(h, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* ---- plain OpenSSL, the way any peer would call it ------------------- */

static void evp_seal(const uint8_t *key, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
		     size_t alen, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;

	cr_assert(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1);
	cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen, NULL) == 1);
	cr_assert(EVP_EncryptInit_ex(c, NULL, NULL, key, iv) == 1);
	cr_assert(alen == 0 || EVP_EncryptUpdate(c, NULL, &n, aad, (int)alen) == 1);
	cr_assert(len == 0 || EVP_EncryptUpdate(c, ct, &n, pt, (int)len) == 1);
	cr_assert(EVP_EncryptFinal_ex(c, ct + len, &n) == 1);
	cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(c);
}

/* 1 when the tag verifies (pt then holds the plaintext), 0 otherwise. */
static int evp_open(const uint8_t *key, const uint8_t *iv, const uint8_t *aad, size_t alen,
		    const uint8_t *ct, size_t len, const uint8_t *tag, uint8_t *pt)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	cr_assert(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1);
	cr_assert(alen == 0 || EVP_DecryptUpdate(c, NULL, &n, aad, (int)alen) == 1);
	cr_assert(len == 0 || EVP_DecryptUpdate(c, pt, &n, ct, (int)len) == 1);
	cr_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(uintptr_t)tag) == 1);
	ok = EVP_DecryptFinal_ex(c, pt + len, &n) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* ---- vectors -------------------------------------------------------- */

#define K0  "0000000000000000000000000000000000000000000000000000000000000000"
#define K15 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define P15 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define P16 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define A16 "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define C16 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" \
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"

static const struct vec {
	const char *name, *key, *iv, *pt, *aad, *ct, *tag;
} vecs[] = {
	{ "GCM spec case 13", K0, "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "GCM spec case 14", K0, "000000000000000000000000", "00000000000000000000000000000000",
	  "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "GCM spec case 15", K15, "cafebabefacedbaddecaf888", P15, "",
	  C16 "898015ad", "b094dac5d93471bdec1a502270e3cc6c" },
	{ "GCM spec case 16", K15, "cafebabefacedbaddecaf888", P16, A16, C16,
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
	{ "NIST CAVP gcmEncryptExtIV256 count 0",
	  "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
	  "516c33929df5a3284ff463d7", "", "", "", "bdc1ac884d332457a1d2664f168c76f0" },
	/* 64- and 480-bit IVs: OpenSSL only; our API takes 96-bit nonces. */
	{ "GCM spec case 17", K15, "cafebabefacedbad", P16, A16,
	  "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
	  "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
	  "3a337dbf46a792c45e454913fe2ea8f2" },
	{ "GCM spec case 18", K15,
	  "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
	  "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b", P16, A16,
	  "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
	  "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
	  "a44a8266ee1c8eb0c8b5d4cf5ae9f19a" },
};
#define NVEC (sizeof(vecs) / sizeof(vecs[0]))

struct bin {
	uint8_t key[32], iv[64], pt[64], aad[32], ct[64], tag[16];
	size_t ivlen, len, alen;
};

static void decode_vec(const struct vec *v, struct bin *b)
{
	cr_assert_eq(unhex(v->key, b->key), 32u);
	b->ivlen = unhex(v->iv, b->iv);
	b->len = unhex(v->pt, b->pt);
	b->alen = unhex(v->aad, b->aad);
	cr_assert_eq(unhex(v->ct, b->ct), b->len, "%s: ct and pt lengths differ", v->name);
	cr_assert_eq(unhex(v->tag, b->tag), 16u);
}

/* Every code path: OpenSSL, then ipsec-mb at each level this CPU has. */
static int impls(struct dwcp_aead_key *k[NIMPL], const uint8_t *key)
{
	struct dwcp_cpu_features cpu, v;
	int n = 0;

	dwcp_cpu_detect(&cpu);
	k[n++] = dwcp_aead_key_create(DWCP_AEAD_OPENSSL, key, &cpu);
	k[n++] = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, key, &cpu);   /* widest */
	v = cpu;
	v.avx512f = v.avx512bw = false;
	if (cpu.avx512f && cpu.avx2)
		k[n++] = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, key, &v);   /* avx2 */
	v.avx2 = false;
	if (cpu.avx2)
		k[n++] = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, key, &v);   /* sse */
	v.aesni = false;
	k[n] = dwcp_aead_key_create(DWCP_AEAD_IPSEC_MB, key, &v);   /* software AES */
	if (k[n])
		n++;
	else
		cr_assert_eq(errno, ENOTSUP, "no-AES-NI key: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		cr_assert_not_null(k[i], "key %d: %s", i, strerror(errno));
	return n;
}

static void free_impls(struct dwcp_aead_key *k[NIMPL], int n)
{
	for (int i = 0; i < n; i++)
		dwcp_aead_key_destroy(k[i]);
}

Test(aead, vectors_hold_in_plain_openssl)
{
	for (size_t i = 0; i < NVEC; i++) {
		struct bin b;
		uint8_t ct[80], tag[16], pt[80];

		decode_vec(&vecs[i], &b);
		evp_seal(b.key, b.iv, b.ivlen, b.aad, b.alen, b.pt, b.len, ct, tag);
		cr_assert(memcmp(ct, b.ct, b.len) == 0, "%s: ciphertext", vecs[i].name);
		cr_assert(memcmp(tag, b.tag, 16) == 0, "%s: tag", vecs[i].name);
		if (b.ivlen == 12)
			cr_assert(evp_open(b.key, b.iv, b.aad, b.alen, b.ct, b.len, b.tag, pt));
	}
}

Test(aead, vectors_in_every_backend)
{
	for (size_t i = 0; i < NVEC; i++) {
		struct dwcp_aead_key *k[NIMPL];
		struct bin b;
		int n;

		decode_vec(&vecs[i], &b);
		if (b.ivlen != DWCP_AEAD_NONCE_LEN)
			continue;
		n = impls(k, b.key);
		for (int j = 0; j < n; j++) {
			uint8_t ct[64], tag[16], pt[64];
			const char *who = dwcp_aead_key_describe(k[j]);

			cr_assert_eq(dwcp_aead_seal(k[j], b.iv, b.aad, b.alen, b.pt, b.len, ct, tag), 0);
			cr_assert(memcmp(ct, b.ct, b.len) == 0, "%s: %s ciphertext", vecs[i].name, who);
			cr_assert(memcmp(tag, b.tag, 16) == 0, "%s: %s tag", vecs[i].name, who);
			cr_assert_eq(dwcp_aead_open(k[j], b.iv, b.aad, b.alen, b.ct, b.len, b.tag, pt), 0,
				     "%s: %s open", vecs[i].name, who);
			cr_assert(memcmp(pt, b.pt, b.len) == 0, "%s: %s plaintext", vecs[i].name, who);
		}
		free_impls(k, n);
	}
}

static size_t pick_len(uint64_t *s, int it)
{
	static const size_t edge[] = { 0, 1, 15, 16, 17, 63, 64, 255, 256, 257, 4095, 4096,
				       65535, 65536, 65537, MAXN };

	if (it < (int)(sizeof(edge) / sizeof(edge[0])))
		return edge[it];
	return (size_t)(dwcp_test_rand(s) % (MAXN + 1));
}

Test(aead, backends_agree_and_open_each_other)
{
	uint8_t *pt = dwcp_test_xmalloc(MAXN), *ct0 = dwcp_test_xmalloc(MAXN), *ct = dwcp_test_xmalloc(MAXN), *back = dwcp_test_xmalloc(MAXN);
	uint8_t key[32], nonce[12], aad[300], tag0[16], tag[16];
	uint64_t s = 1;

	for (int it = 0; it < 120; it++) {
		size_t len = pick_len(&s, it), alen = (size_t)(dwcp_test_rand(&s) % 300);
		struct dwcp_aead_key *k[NIMPL];
		int n;

		dwcp_test_fill_random(key, 32, &s), dwcp_test_fill_random(nonce, 12, &s), dwcp_test_fill_random(aad, alen, &s);
		dwcp_test_fill_random(pt, len, &s);
		n = impls(k, key);
		if (it == 0)
			for (int j = 0; j < n; j++)
				cr_log_info("code path %d: %s", j, dwcp_aead_key_describe(k[j]));
		cr_assert_eq(dwcp_aead_seal(k[0], nonce, aad, alen, pt, len, ct0, tag0), 0);
		for (int j = 1; j < n; j++) {
			const char *who = dwcp_aead_key_describe(k[j]);

			cr_assert_eq(dwcp_aead_seal(k[j], nonce, aad, alen, pt, len, ct, tag), 0);
			cr_assert(memcmp(ct, ct0, len) == 0 && memcmp(tag, tag0, 16) == 0,
				  "%s differs from openssl: len %zu aad %zu", who, len, alen);
			cr_assert_eq(dwcp_aead_open(k[j], nonce, aad, alen, ct0, len, tag0, back), 0, "%s", who);
			cr_assert(memcmp(back, pt, len) == 0, "%s opened openssl's wrongly", who);
		}
		cr_assert_eq(dwcp_aead_open(k[0], nonce, aad, alen, ct, len, tag, back), 0);
		cr_assert(memcmp(back, pt, len) == 0, "openssl opened ipsec-mb's wrongly");
		free_impls(k, n);
	}
	free(pt), free(ct0), free(ct), free(back);
}

Test(aead, sealed_opens_with_plain_openssl_and_in_place)
{
	uint8_t *pt = dwcp_test_xmalloc(MAXN), *ct = dwcp_test_xmalloc(MAXN + 16), *back = dwcp_test_xmalloc(MAXN + 16);
	uint8_t key[32], nonce[12], aad[64], tag[16];
	uint64_t s = 2;

	for (int it = 0; it < 40; it++) {
		size_t len = pick_len(&s, it), alen = (size_t)(dwcp_test_rand(&s) % 64);
		struct dwcp_aead_key *k[NIMPL];
		int n;

		dwcp_test_fill_random(key, 32, &s), dwcp_test_fill_random(nonce, 12, &s), dwcp_test_fill_random(aad, alen, &s);
		dwcp_test_fill_random(pt, len, &s);
		n = impls(k, key);
		for (int j = 0; j < n; j++) {
			const char *who = dwcp_aead_key_describe(k[j]);

			cr_assert_eq(dwcp_aead_seal(k[j], nonce, aad, alen, pt, len, ct, tag), 0);
			cr_assert(evp_open(key, nonce, aad, alen, ct, len, tag, back),
				  "%s: plain EVP rejects our output (len %zu)", who, len);
			cr_assert(memcmp(back, pt, len) == 0, "%s: plain EVP decrypts to other bytes", who);
			memcpy(back, pt, len);   /* in place both ways */
			cr_assert_eq(dwcp_aead_seal(k[j], nonce, aad, alen, back, len, back, tag), 0);
			cr_assert(memcmp(back, ct, len) == 0, "%s: in-place seal differs", who);
			cr_assert_eq(dwcp_aead_open(k[j], nonce, aad, alen, back, len, tag, back), 0);
			cr_assert(memcmp(back, pt, len) == 0, "%s: in-place open differs", who);
		}
		free_impls(k, n);
	}
	free(pt), free(ct), free(back);
}

static void assert_rejected(struct dwcp_aead_key *k, const char *what, const uint8_t *nonce,
			    const uint8_t *aad, size_t alen, const uint8_t *ct, size_t len,
			    const uint8_t *tag, uint8_t *out)
{
	memset(out, 0xAA, len);
	cr_assert_eq(dwcp_aead_open(k, nonce, aad, alen, ct, len, tag, out), -EBADMSG,
		     "%s: tampered %s accepted (len %zu)", dwcp_aead_key_describe(k), what, len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(out[i], 0, "%s: tampered %s left byte %zu = 0x%02x in the output",
			     dwcp_aead_key_describe(k), what, i, out[i]);
}

Test(aead, tampering_is_ebadmsg_and_output_zeroed)
{
	uint8_t *pt = dwcp_test_xmalloc(5000), *ct = dwcp_test_xmalloc(5000), *out = dwcp_test_xmalloc(5000);
	uint8_t key[32], key2[32], nonce[12], aad[40], tag[16];
	uint64_t s = 3;

	for (int it = 0; it < 12; it++) {
		size_t len = it == 0 ? 0 : (size_t)(dwcp_test_rand(&s) % 5000), alen = 1 + (size_t)it;
		struct dwcp_aead_key *k[NIMPL], *wrong;
		int n;

		dwcp_test_fill_random(key, 32, &s), dwcp_test_fill_random(nonce, 12, &s), dwcp_test_fill_random(aad, alen, &s);
		dwcp_test_fill_random(pt, len, &s);
		memcpy(key2, key, 32);
		key2[(size_t)it % 32] ^= 0x01;
		n = impls(k, key);
		for (int j = 0; j < n; j++) {
			size_t bit = (size_t)(dwcp_test_rand(&s) % 8);

			cr_assert_eq(dwcp_aead_seal(k[j], nonce, aad, alen, pt, len, ct, tag), 0);
			if (len) {
				size_t at = (size_t)(dwcp_test_rand(&s) % len);

				ct[at] ^= (uint8_t)(1u << bit);
				assert_rejected(k[j], "ciphertext", nonce, aad, alen, ct, len, tag, out);
				ct[at] ^= (uint8_t)(1u << bit);
				assert_rejected(k[j], "length", nonce, aad, alen, ct, len - 1, tag, out);
			}
			for (size_t tb = 0; tb < 16; tb++) {   /* every tag byte counts */
				tag[tb] ^= (uint8_t)(1u << bit);
				assert_rejected(k[j], "tag", nonce, aad, alen, ct, len, tag, out);
				tag[tb] ^= (uint8_t)(1u << bit);
			}
			aad[0] ^= 0x80;
			assert_rejected(k[j], "AAD", nonce, aad, alen, ct, len, tag, out);
			aad[0] ^= 0x80;
			assert_rejected(k[j], "AAD length", nonce, aad, alen - 1, ct, len, tag, out);
			nonce[11] ^= 0x01;
			assert_rejected(k[j], "nonce", nonce, aad, alen, ct, len, tag, out);
			nonce[11] ^= 0x01;
			cr_assert_eq(dwcp_aead_open(k[j], nonce, aad, alen, ct, len, tag, out), 0,
				     "untampered message rejected after the tampering");
		}
		for (int j = 0; j < 2; j++) {
			wrong = dwcp_aead_key_create(j ? DWCP_AEAD_IPSEC_MB : DWCP_AEAD_OPENSSL, key2, NULL);
			cr_assert_eq(dwcp_aead_seal(k[0], nonce, aad, alen, pt, len, ct, tag), 0);
			assert_rejected(wrong, "key", nonce, aad, alen, ct, len, tag, out);
			dwcp_aead_key_destroy(wrong);
		}
		free_impls(k, n);
	}
	free(pt), free(ct), free(out);
}

Test(aead, key_objects)
{
	uint8_t key[32] = { 0 }, tag[16];
	struct dwcp_aead_key *k;

	errno = 0;
	cr_assert_null(dwcp_aead_key_create((enum dwcp_aead_backend)0, key, NULL));
	cr_assert_eq(errno, EINVAL);
	k = dwcp_aead_key_create(DWCP_AEAD_BACKEND_DEFAULT, key, NULL);
	cr_assert_not_null(k);
	cr_assert_eq(dwcp_aead_seal(k, key, NULL, 0, NULL, 0, NULL, tag), 0);
	cr_assert(memcmp(tag, "\x53\x0f\x8a\xfb\xc7\x45\x36\xb9\xa9\x63\xb4\xf1\xc4\xcb\x73\x8b", 16) == 0,
		  "default backend: GCM spec case 13 with NULL buffers");
	cr_assert_eq(dwcp_aead_open(k, key, NULL, 0, NULL, 0, tag, NULL), 0);
	cr_assert_eq(dwcp_aead_seal(k, key, NULL, 0, key, (size_t)DWCP_AEAD_MAX_LEN + 1, key, tag),
		     -EINVAL);
	cr_log_info("default backend: %s", dwcp_aead_key_describe(k));
	dwcp_aead_key_destroy(k);
	dwcp_aead_key_destroy(NULL);
}

/* Neither backend may leave the upper vector halves set (it would slow
 * the thread's later SSE code): checked on the register state. */
Test(aead, leaves_no_upper_vector_state)
{
	uint8_t key[32] = { 1 }, nonce[12] = { 2 }, tag[16];
	uint8_t *pt = dwcp_test_xmalloc(65536), *ct = dwcp_test_xmalloc(65536);
	struct dwcp_aead_key *k[NIMPL];
	int n = impls(k, key);
	bool ok;

	dwcp_test_xinuse_upper(&ok);
	if (!ok)
		cr_skip_test("CPU lacks xgetbv 1: cannot see the register state");
	memset(pt, 7, 65536);
	for (int j = 0; j < n; j++) {
		uint64_t st;

		dwcp_aead_seal(k[j], nonce, key, 32, pt, 65536, ct, tag);
		st = dwcp_test_xinuse_upper(&ok);
		cr_assert_eq(st, 0u, "%s seal: 0x%llx", dwcp_aead_key_describe(k[j]), (unsigned long long)st);
		dwcp_aead_open(k[j], nonce, key, 32, ct, 65536, tag, pt);
		st = dwcp_test_xinuse_upper(&ok);
		cr_assert_eq(st, 0u, "%s open: 0x%llx", dwcp_aead_key_describe(k[j]), (unsigned long long)st);
	}
	free_impls(k, n);
	free(pt), free(ct);
}
