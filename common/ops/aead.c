/* AES-256-GCM through OpenSSL EVP or intel-ipsec-mb (the why is in aead.h).
 *
 * One key object, two backends behind a switch: the backends differ only
 * in the four calls that do the work, so a table of function pointers
 * would hide more than it saves. Each backend does its expensive set-up
 * at key creation: OpenSSL gets one EVP context per direction, each
 * initialised with the key once, so a call only sets the nonce; ipsec-mb
 * expands the key and precomputes the GHASH tables into struct
 * gcm_key_data once, and keeps its per-message state on the stack.
 *
 * Both backends write plaintext before they know whether the tag matches,
 * so open() zeroes the output on every failure path.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/ops/aead.h"

struct dwcp_aead_key {
	/* First: ipsec-mb wants it 64-byte aligned, and so is the object. */
	struct gcm_key_data imb_key;
	enum dwcp_aead_backend backend;
	IMB_MGR *imb;                    /* function table; no per-call state */
	EVP_CIPHER_CTX *enc, *dec;       /* keyed once, one per direction */
	const char *name;
};

/* Stand-in for a NULL buffer of length 0: the libraries want a pointer. */
static const uint8_t none_in[1];

/* ---- OpenSSL -------------------------------------------------------- */

static EVP_CIPHER_CTX *ossl_keyed_ctx(const uint8_t *key, int enc)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	if (c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL, enc) == 1)
		return c;
	EVP_CIPHER_CTX_free(c);
	return NULL;
}

static int ossl_setup(struct dwcp_aead_key *k, const uint8_t *key)
{
	k->enc = ossl_keyed_ctx(key, 1);
	k->dec = ossl_keyed_ctx(key, 0);
	k->name = "openssl";
	return k->enc && k->dec ? 0 : -EIO;
}

/* EVP counts in int: feed large buffers in pieces (out NULL: AAD). */
static int ossl_update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len > 0) {
		int n = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len, got;

		if (EVP_CipherUpdate(c, out, &got, in, n) != 1)
			return -EIO;
		in += n;
		len -= (size_t)n;
		if (out)
			out += n;
	}
	return 0;
}

/* Set the nonce (keeping the key schedule) and absorb the AAD. */
static int ossl_start(EVP_CIPHER_CTX *c, const uint8_t *nonce, const void *aad, size_t aad_len)
{
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, -1) != 1)
		return -EIO;
	return ossl_update(c, NULL, aad, aad_len);
}

static int ossl_seal(struct dwcp_aead_key *k, const uint8_t *nonce, const void *aad,
		     size_t aad_len, const void *pt, size_t len, void *ct, uint8_t *tag)
{
	uint8_t fin[16];
	int n;

	if (ossl_start(k->enc, nonce, aad, aad_len) < 0 || ossl_update(k->enc, ct, pt, len) < 0)
		return -EIO;
	if (EVP_EncryptFinal_ex(k->enc, fin, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(k->enc, EVP_CTRL_GCM_GET_TAG, DWCP_AEAD_TAG_LEN, tag) != 1)
		return -EIO;
	return 0;
}

/* EVP_DecryptFinal_ex is where OpenSSL compares the tag (in constant time). */
static int ossl_open(struct dwcp_aead_key *k, const uint8_t *nonce, const void *aad,
		     size_t aad_len, const void *ct, size_t len, const uint8_t *tag, void *pt)
{
	uint8_t fin[16];
	int n;

	if (ossl_start(k->dec, nonce, aad, aad_len) < 0 || ossl_update(k->dec, pt, ct, len) < 0 ||
	    EVP_CIPHER_CTX_ctrl(k->dec, EVP_CTRL_GCM_SET_TAG, DWCP_AEAD_TAG_LEN,
				(void *)(uintptr_t)tag) != 1)
		return -EIO;
	return EVP_DecryptFinal_ex(k->dec, fin, &n) == 1 ? 0 : -EBADMSG;
}

/* ---- intel-ipsec-mb ------------------------------------------------- */

/* The widest code path the caller's view of the CPU allows. For AVX-512
 * the library's own detection picks among its AVX-512 variants (it needs
 * more of the AVX-512 family than struct dwcp_cpu_features records). */
static const char *imb_init(IMB_MGR *m, const struct dwcp_cpu_features *cpu)
{
	if (!cpu->aesni) {
		init_mb_mgr_sse(m);   /* with IMB_FLAG_AESNI_OFF: software AES */
		return "ipsec-mb/no-aesni";
	}
	if (cpu->avx512f && cpu->avx512bw) {
		init_mb_mgr_auto(m, NULL);
		return m->used_arch == IMB_ARCH_AVX512 ? "ipsec-mb/avx512" : "ipsec-mb/auto";
	}
	if (cpu->avx2) {
		init_mb_mgr_avx2(m);
		return "ipsec-mb/avx2";
	}
	init_mb_mgr_sse(m);
	return "ipsec-mb/sse";
}

static int imb_setup(struct dwcp_aead_key *k, const uint8_t *key,
		     const struct dwcp_cpu_features *cpu)
{
	struct dwcp_cpu_features own;

	if (!cpu) {
		dwcp_cpu_detect(&own);
		cpu = &own;
	}
	/* Without AES-NI only a library built with software AES can help;
	 * Debian's is not, and then refuses the flag. */
	k->imb = alloc_mb_mgr(cpu->aesni ? 0 : IMB_FLAG_AESNI_OFF);
	if (!k->imb)
		return cpu->aesni ? -ENOMEM : -ENOTSUP;
	k->name = imb_init(k->imb, cpu);
	if (imb_get_errno(k->imb) != 0)
		return -EIO;
	IMB_AES256_GCM_PRE(k->imb, key, &k->imb_key);
	return imb_get_errno(k->imb) != 0 ? -EIO : 0;
}

static int imb_seal(struct dwcp_aead_key *k, const uint8_t *nonce, const void *aad,
		    size_t aad_len, const void *pt, size_t len, void *ct, uint8_t *tag)
{
	struct gcm_context_data st;
	uint8_t none_out[1];

	IMB_AES256_GCM_ENC(k->imb, &k->imb_key, &st, len ? ct : none_out, len ? pt : none_in,
			   len, nonce, aad_len ? aad : none_in, aad_len, tag, DWCP_AEAD_TAG_LEN);
	return imb_get_errno(k->imb) != 0 ? -EIO : 0;
}

static int imb_open(struct dwcp_aead_key *k, const uint8_t *nonce, const void *aad,
		    size_t aad_len, const void *ct, size_t len, const uint8_t *tag, void *pt)
{
	struct gcm_context_data st;
	uint8_t none_out[1], want[DWCP_AEAD_TAG_LEN];

	IMB_AES256_GCM_DEC(k->imb, &k->imb_key, &st, len ? pt : none_out, len ? ct : none_in,
			   len, nonce, aad_len ? aad : none_in, aad_len, want, DWCP_AEAD_TAG_LEN);
	if (imb_get_errno(k->imb) != 0)
		return -EIO;
	return CRYPTO_memcmp(want, tag, DWCP_AEAD_TAG_LEN) == 0 ? 0 : -EBADMSG;
}

/* ---- public --------------------------------------------------------- */

struct dwcp_aead_key *dwcp_aead_key_create(enum dwcp_aead_backend backend,
					   const uint8_t key[DWCP_AEAD_KEY_LEN],
					   const struct dwcp_cpu_features *cpu)
{
	size_t size = (sizeof(struct dwcp_aead_key) + 63) & ~(size_t)63;
	struct dwcp_aead_key *k;
	int rc;

	if (backend != DWCP_AEAD_OPENSSL && backend != DWCP_AEAD_IPSEC_MB) {
		errno = EINVAL;
		return NULL;
	}
	k = aligned_alloc(64, size);
	if (!k) {
		errno = ENOMEM;
		return NULL;
	}
	memset(k, 0, size);
	k->backend = backend;
	rc = backend == DWCP_AEAD_OPENSSL ? ossl_setup(k, key) : imb_setup(k, key, cpu);
	if (rc < 0) {
		dwcp_aead_key_destroy(k);
		errno = -rc;
		return NULL;
	}
	return k;
}

void dwcp_aead_key_destroy(struct dwcp_aead_key *k)
{
	if (!k)
		return;
	EVP_CIPHER_CTX_free(k->enc);   /* frees and cleanses the key schedule */
	EVP_CIPHER_CTX_free(k->dec);
	free_mb_mgr(k->imb);
	OPENSSL_cleanse(k, sizeof(*k));   /* cannot be optimised away */
	free(k);
}

const char *dwcp_aead_key_describe(const struct dwcp_aead_key *k)
{
	return k->name;
}

int dwcp_aead_seal(struct dwcp_aead_key *k, const uint8_t nonce[DWCP_AEAD_NONCE_LEN],
		   const void *aad, size_t aad_len, const void *pt, size_t len, void *ct,
		   uint8_t tag[DWCP_AEAD_TAG_LEN])
{
	if ((uint64_t)len > DWCP_AEAD_MAX_LEN)
		return -EINVAL;
	if (k->backend == DWCP_AEAD_OPENSSL)
		return ossl_seal(k, nonce, aad, aad_len, pt, len, ct, tag);
	return imb_seal(k, nonce, aad, aad_len, pt, len, ct, tag);
}

int dwcp_aead_open(struct dwcp_aead_key *k, const uint8_t nonce[DWCP_AEAD_NONCE_LEN],
		   const void *aad, size_t aad_len, const void *ct, size_t len,
		   const uint8_t tag[DWCP_AEAD_TAG_LEN], void *pt)
{
	int rc;

	if ((uint64_t)len > DWCP_AEAD_MAX_LEN)
		return -EINVAL;
	if (k->backend == DWCP_AEAD_OPENSSL)
		rc = ossl_open(k, nonce, aad, aad_len, ct, len, tag, pt);
	else
		rc = imb_open(k, nonce, aad, aad_len, ct, len, tag, pt);
	if (rc < 0 && len > 0)
		memset(pt, 0, len);   /* no unauthenticated plaintext left behind */
	return rc;
}
