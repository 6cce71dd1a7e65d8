/* AES-256-GCM seal and open of one buffer (DESIGN §5: interoperable with
 * OpenSSL), with a 12-byte nonce, a 16-byte tag and associated data.
 *
 * Two backends do the same thing: OpenSSL's EVP (EVP_aes_256_gcm) and
 * intel-ipsec-mb's direct GCM API. Both stay built: one is the default,
 * the other the oracle the unit test holds it to. DWCP_AEAD_BACKEND_DEFAULT
 * is the one `dwcp bench ops` measured faster (see below).
 *
 * A key object holds everything one key needs (expanded key schedule and
 * GHASH tables, or the EVP contexts), made once per key, so seal and open
 * allocate nothing. open() checks the tag in constant time and, on a
 * mismatch, zeroes the output so no unauthenticated plaintext is left.
 *
 * Nonces: GCM is broken by reusing a (key, nonce) pair; choosing nonces
 * (e.g. stream id + chunk sequence) is the caller's job.
 *
 * Concurrency: a key object is used by one thread at a time (the EVP
 * contexts are mutable); threads that share a key each create their own.
 */
#ifndef DWCP_COMMON_OPS_AEAD_H
#define DWCP_COMMON_OPS_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/cpu.h"

#define DWCP_AEAD_KEY_LEN   32u
#define DWCP_AEAD_NONCE_LEN 12u
#define DWCP_AEAD_TAG_LEN   16u
/** GCM's limit on one message: 2^39 - 256 bits (NIST SP 800-38D). */
#define DWCP_AEAD_MAX_LEN   ((((uint64_t)1) << 36) - 32u)

enum dwcp_aead_backend {
	DWCP_AEAD_OPENSSL = 1,    /* EVP_aes_256_gcm; OpenSSL picks its own code path */
	DWCP_AEAD_IPSEC_MB = 2,   /* intel-ipsec-mb direct GCM API */
};

/*
 * The default: intel-ipsec-mb, the faster of the two in `dwcp bench ops`
 * on the development host (AMD EPYC with AVX-512, VAES and VPCLMULQDQ;
 * Debian 12: ipsec-mb 1.3, OpenSSL 3.0), 64 KiB buffers, one thread:
 *   seal  ipsec-mb/avx512 10.8 GB/s, OpenSSL 4.5 GB/s (2.4x); open alike;
 *   with AVX-512 hidden from both (--no-avx512 and OPENSSL_ia32cap), as
 *   on an AVX2-only CPU: ipsec-mb/avx2 4.9 GB/s, OpenSSL 4.5 (1.05-1.08x).
 * OpenSSL 3.0 ran no faster with AVX-512 visible than hidden, so the gap
 * is widest where the CPU has AVX-512. OpenSSL stays built as the test
 * oracle and as a fallback.
 */
#define DWCP_AEAD_BACKEND_DEFAULT DWCP_AEAD_IPSEC_MB

struct dwcp_aead_key;

/**
 * Make a key object for @p backend from a 32-byte AES-256 key.
 * @param cpu  picks intel-ipsec-mb's code path (AVX-512 when it says
 *             avx512f and avx512bw, else AVX2, else SSE; without aesni,
 *             the library's software AES); NULL: detect here. OpenSSL
 *             ignores it and follows its own detection (OPENSSL_ia32cap
 *             masks that).
 * @return the key, or NULL with errno = EINVAL (unknown backend), ENOMEM,
 *         ENOTSUP (ipsec-mb on a CPU without AES-NI, when the library was
 *         built without software AES, as Debian's is), or EIO (the
 *         library refused the key or its set-up).
 * A key object is about 200 KiB with ipsec-mb (its manager's job queues
 * come with it), a few KiB with OpenSSL.
 */
struct dwcp_aead_key *dwcp_aead_key_create(enum dwcp_aead_backend backend,
					   const uint8_t key[DWCP_AEAD_KEY_LEN],
					   const struct dwcp_cpu_features *cpu);

/** Wipe and free @p k; NULL is allowed. */
void dwcp_aead_key_destroy(struct dwcp_aead_key *k);

/** "openssl" or "ipsec-mb/avx512" (etc.): the code path a key runs. */
const char *dwcp_aead_key_describe(const struct dwcp_aead_key *k);

/**
 * Encrypt @p len bytes of @p pt into @p ct and compute the tag over
 * @p aad and the ciphertext.
 * @param ct   may be @p pt itself (in place), must not overlap it otherwise
 * @param aad  may be NULL when @p aad_len is 0; likewise pt/ct with len 0
 * @return 0, -EINVAL when @p len exceeds DWCP_AEAD_MAX_LEN, -EIO when the
 *         library fails (the output is then unspecified).
 */
int dwcp_aead_seal(struct dwcp_aead_key *k, const uint8_t nonce[DWCP_AEAD_NONCE_LEN],
		   const void *aad, size_t aad_len, const void *pt, size_t len, void *ct,
		   uint8_t tag[DWCP_AEAD_TAG_LEN]);

/**
 * Check @p tag over @p aad and @p ct, and decrypt @p len bytes into @p pt.
 * @param pt  may be @p ct itself (in place), must not overlap it otherwise
 * @return 0 when authentic; -EBADMSG when the tag does not match (wrong
 *         key, nonce, AAD, ciphertext or tag), and then @p pt is all zero;
 *         -EINVAL when @p len exceeds DWCP_AEAD_MAX_LEN; -EIO when the
 *         library fails (@p pt is zeroed then too).
 */
int dwcp_aead_open(struct dwcp_aead_key *k, const uint8_t nonce[DWCP_AEAD_NONCE_LEN],
		   const void *aad, size_t aad_len, const void *ct, size_t len,
		   const uint8_t tag[DWCP_AEAD_TAG_LEN], void *pt);

#endif
