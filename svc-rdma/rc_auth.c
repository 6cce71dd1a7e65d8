/* svc-rdma connection authentication (rc_auth.h). */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rc_auth.h"

#define MAGIC_HELLO  "DRH1"
#define MAGIC_ACCEPT "DRA1"

static int hmac(const uint8_t key[RDMA_RC_KEY_LEN], const void *msg, size_t len, uint8_t out[RDMA_RC_MAC_LEN])
{
	unsigned n = 0;

	return HMAC(EVP_sha256(), key, RDMA_RC_KEY_LEN, msg, len, out, &n) && n == RDMA_RC_MAC_LEN ? 0 : -EIO;
}

/* HMAC(Ka, label || nonce_c || nonce_s), and || session for the client */
static int proof(const struct rdma_rc_auth *a, bool server, uint8_t out[RDMA_RC_MAC_LEN])
{
	static const char ls[] = "dwcp-rdma server", lc[] = "dwcp-rdma client";
	const size_t l = sizeof(ls) - 1;
	uint8_t m[sizeof(ls) - 1 + 2 * RDMA_RC_NONCE_LEN + RDMA_RC_SESSION_LEN];

	_Static_assert(sizeof(ls) == sizeof(lc), "labels of one length");
	memcpy(m, server ? ls : lc, l);
	memcpy(m + l, a->nonce_c, RDMA_RC_NONCE_LEN);
	memcpy(m + l + RDMA_RC_NONCE_LEN, a->nonce_s, RDMA_RC_NONCE_LEN);
	memcpy(m + l + 2 * RDMA_RC_NONCE_LEN, a->session, RDMA_RC_SESSION_LEN);
	return hmac(a->ka, m, server ? l + 2 * RDMA_RC_NONCE_LEN : sizeof(m), out);
}

static int fresh(uint8_t nonce[RDMA_RC_NONCE_LEN])
{
	return getrandom(nonce, RDMA_RC_NONCE_LEN, 0) == (ssize_t)RDMA_RC_NONCE_LEN ? 0 : -EIO;
}

int rdma_rc_auth_init(struct rdma_rc_auth *a, const uint8_t node_key[RDMA_RC_KEY_LEN])
{
	static const char label[] = "dwcp-rdma-auth-v1";

	memset(a, 0, sizeof(*a));
	return hmac(node_key, label, sizeof(label) - 1, a->ka);
}

int rdma_rc_auth_hello(struct rdma_rc_auth *a, uint8_t out[RDMA_RC_HELLO_LEN])
{
	if (fresh(a->nonce_c))
		return -EIO;
	memcpy(out, MAGIC_HELLO, 4);
	memset(out + 4, 0, 4);
	memcpy(out + 8, a->nonce_c, RDMA_RC_NONCE_LEN);
	return 0;
}

int rdma_rc_auth_accept(struct rdma_rc_auth *a, const void *hello, size_t len, uint8_t out[RDMA_RC_ACCEPT_LEN])
{
	const uint8_t *h = hello;

	if (!h || len < RDMA_RC_HELLO_LEN || memcmp(h, MAGIC_HELLO, 4))
		return -EPROTO;
	memcpy(a->nonce_c, h + 8, RDMA_RC_NONCE_LEN);
	if (fresh(a->nonce_s))
		return -EIO;
	memcpy(out, MAGIC_ACCEPT, 4);
	memset(out + 4, 0, 4);
	memcpy(out + 8, a->nonce_s, RDMA_RC_NONCE_LEN);
	return proof(a, true, out + 8 + RDMA_RC_NONCE_LEN);
}

int rdma_rc_auth_established(struct rdma_rc_auth *a, const void *priv, size_t len, uint8_t mac_c[RDMA_RC_MAC_LEN])
{
	const uint8_t *p = priv;
	uint8_t want[RDMA_RC_MAC_LEN];

	if (!p || len < RDMA_RC_ACCEPT_LEN || memcmp(p, MAGIC_ACCEPT, 4))
		return -EPROTO;
	memcpy(a->nonce_s, p + 8, RDMA_RC_NONCE_LEN);
	if (proof(a, true, want))
		return -EIO;
	if (CRYPTO_memcmp(want, p + 8 + RDMA_RC_NONCE_LEN, RDMA_RC_MAC_LEN))
		return -EACCES;
	return proof(a, false, mac_c);
}

bool rdma_rc_auth_check(const struct rdma_rc_auth *a, const uint8_t mac_c[RDMA_RC_MAC_LEN])
{
	uint8_t want[RDMA_RC_MAC_LEN];

	return proof(a, false, want) == 0 && CRYPTO_memcmp(want, mac_c, RDMA_RC_MAC_LEN) == 0;
}
