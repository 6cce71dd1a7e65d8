/* AMST peer authentication (auth.h): HMAC-SHA256 from OpenSSL's libcrypto,
 * the library the project already links for its CPU crypto (DESIGN §8).
 * One-shot HMAC() per message: the handshake runs once per connection, and
 * an answer MAC costs about a microsecond against the 64 KiB chunk it
 * acknowledges.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "svc-net/auth.h"

#define LABEL_KA      "dwcp-amst-auth-v2"
#define LABEL_SERVER  "dwcp-amst server"
#define LABEL_CLIENT  "dwcp-amst client"
#define LABEL_SESSION "dwcp-amst session"
#define HELLO_LEN     sizeof(struct dwcp_frame_hello)

static int hmac(const uint8_t key[DWCP_AMST_KEY_LEN], const void *msg, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	return HMAC(EVP_sha256(), key, DWCP_AMST_KEY_LEN, msg, len, out, &n) && n == 32 ? 0 : -EIO;
}

int dwcp_amst_auth_derive(const uint8_t node_key[DWCP_AMST_KEY_LEN], uint8_t ka[DWCP_AMST_KEY_LEN])
{
	return hmac(node_key, LABEL_KA, sizeof(LABEL_KA) - 1, ka);
}

void dwcp_amst_hello_wire(const struct dwcp_frame_hello *h, uint8_t out[sizeof(struct dwcp_frame_hello)])
{
	uint8_t frame[DWCP_FRAME_HDR_LEN + HELLO_LEN];

	dwcp_frame_encode_hello(frame, h);
	memcpy(out, frame + DWCP_FRAME_HDR_LEN, HELLO_LEN);
}

/* label || HELLO_c || HELLO_s under Ka */
static int transcript_mac(const uint8_t ka[DWCP_AMST_KEY_LEN], const char *label,
			  const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s,
			  uint8_t out[32])
{
	uint8_t msg[32 + 2 * HELLO_LEN];
	size_t l = strlen(label);

	memcpy(msg, label, l);
	dwcp_amst_hello_wire(hello_c, msg + l);
	dwcp_amst_hello_wire(hello_s, msg + l + HELLO_LEN);
	return hmac(ka, msg, l + 2 * HELLO_LEN, out);
}

int dwcp_amst_auth_proof(const uint8_t ka[DWCP_AMST_KEY_LEN], bool server,
			 const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s,
			 uint8_t mac[DWCP_FRAME_AUTH_LEN])
{
	return transcript_mac(ka, server ? LABEL_SERVER : LABEL_CLIENT, hello_c, hello_s, mac);
}

bool dwcp_amst_auth_check(const uint8_t ka[DWCP_AMST_KEY_LEN], bool server,
			  const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s,
			  const uint8_t mac[DWCP_FRAME_AUTH_LEN])
{
	uint8_t want[DWCP_FRAME_AUTH_LEN];
	bool ok = dwcp_amst_auth_proof(ka, server, hello_c, hello_s, want) == 0 &&
		  CRYPTO_memcmp(want, mac, sizeof(want)) == 0;

	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

int dwcp_amst_ackmac_init(struct dwcp_amst_ackmac *m, const uint8_t ka[DWCP_AMST_KEY_LEN],
			  const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s)
{
	m->counter = 0;
	return transcript_mac(ka, LABEL_SESSION, hello_c, hello_s, m->ks);
}

/* HMAC(Ks, counter || stream || seq || status || xfer), little-endian */
static void ack_mac(const struct dwcp_amst_ackmac *m, const struct dwcp_frame_ack *a,
		    uint8_t out[32])
{
	uint8_t msg[32];
	uint64_t v;
	uint32_t w;

	v = htole64(m->counter);
	memcpy(msg, &v, 8);
	v = htole64(a->stream);
	memcpy(msg + 8, &v, 8);
	v = htole64(a->seq);
	memcpy(msg + 16, &v, 8);
	w = htole32(a->status);
	memcpy(msg + 24, &w, 4);
	w = htole32(a->xfer);
	memcpy(msg + 28, &w, 4);
	if (hmac(m->ks, msg, sizeof(msg), out))
		memset(out, 0, 32);   /* fails the peer's check: the connection is closed */
}

void dwcp_amst_ackmac_sign(struct dwcp_amst_ackmac *m, struct dwcp_frame_ack *a)
{
	uint8_t full[32];

	ack_mac(m, a, full);
	memcpy(a->mac, full, sizeof(a->mac));
	m->counter++;
}

bool dwcp_amst_ackmac_verify(struct dwcp_amst_ackmac *m, const struct dwcp_frame_ack *a)
{
	uint8_t full[32];
	bool ok;

	ack_mac(m, a, full);
	ok = CRYPTO_memcmp(full, a->mac, sizeof(a->mac)) == 0;
	if (ok)
		m->counter++;
	return ok;
}
