/* Peer authentication for svc-rdma's RC connections: before the accepting
 * end lends any buffer, both ends prove they hold the node key, as on
 * every AMST TCP connection (svc-net/auth.h), in three messages:
 *
 *   connecting end (C)                         accepting end (S)
 *   rdma_connect, private data HELLO {nonce_c} ---->
 *                      <---- rdma_accept, private data {nonce_s, mac_s}
 *                            mac_s = HMAC(Ka, "dwcp-rdma server" || nonce_c || nonce_s)
 *   checks mac_s (S holds the key), else disconnects
 *   SEND AUTH {session, mac_c} ---->
 *                            mac_c = HMAC(Ka, "dwcp-rdma client" || nonce_c || nonce_s || session)
 *                            checks mac_c; only now does S bind a window
 *                            and GRANT (rc.c refuses to before)
 *
 *   Ka = HMAC-SHA256(node key, "dwcp-rdma-auth-v1")
 *
 * The session is svc-net's, of the TCP connections this RDMA connection
 * carries chunks for (ipc/peers.h): the proof covers it, so nobody on the
 * path can tie the connection to another peer's stream.
 *
 * Fresh nonces on both sides make a recorded proof worthless on another
 * connection; the direction labels keep S from serving as an oracle for
 * C's proof. Until S has checked mac_c no window exists that C could
 * write through, so an unauthenticated peer can place no byte in the
 * node's memory; its only cost to S is one queue pair, which the caller
 * bounds and times out.
 *
 * Pure functions (OpenSSL's HMAC): unit-tested without a device.
 */
#ifndef DWCP_SVC_RDMA_RC_AUTH_H
#define DWCP_SVC_RDMA_RC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RDMA_RC_KEY_LEN     32u
#define RDMA_RC_NONCE_LEN   32u
#define RDMA_RC_MAC_LEN     32u
#define RDMA_RC_SESSION_LEN 16u
#define RDMA_RC_HELLO_LEN   (8u + RDMA_RC_NONCE_LEN)                     /* fits rdma_cm's 56 */
#define RDMA_RC_ACCEPT_LEN  (8u + RDMA_RC_NONCE_LEN + RDMA_RC_MAC_LEN)   /* fits its 196 */

struct rdma_rc_auth {
	uint8_t ka[RDMA_RC_KEY_LEN];
	uint8_t nonce_c[RDMA_RC_NONCE_LEN], nonce_s[RDMA_RC_NONCE_LEN];
	uint8_t session[RDMA_RC_SESSION_LEN];   /* connecting end: set before _established;
	                                         * accepting end: from the AUTH message */
};

/** @p a's Ka from the 32-byte node key. @return 0 or -EIO. */
int rdma_rc_auth_init(struct rdma_rc_auth *a, const uint8_t node_key[RDMA_RC_KEY_LEN]);

/** Connecting end: a fresh nonce_c, and the HELLO to send as the connect's private data. @return 0 or -EIO. */
int rdma_rc_auth_hello(struct rdma_rc_auth *a, uint8_t out[RDMA_RC_HELLO_LEN]);

/**
 * Accepting end: take the HELLO (@p len bytes, rdma_cm may pad it), pick
 * nonce_s, write the accept's private data with mac_s.
 * @return 0; -EPROTO (not a DWCP HELLO); -EIO.
 */
int rdma_rc_auth_accept(struct rdma_rc_auth *a, const void *hello, size_t len, uint8_t out[RDMA_RC_ACCEPT_LEN]);

/**
 * Connecting end: check the accept's private data; on success @p mac_c is
 * the proof to send in the AUTH message. @return 0; -EACCES (the peer
 * does not hold the key); -EPROTO (malformed).
 */
int rdma_rc_auth_established(struct rdma_rc_auth *a, const void *priv, size_t len, uint8_t mac_c[RDMA_RC_MAC_LEN]);

/** Accepting end: constant-time check of the AUTH message's proof. */
bool rdma_rc_auth_check(const struct rdma_rc_auth *a, const uint8_t mac_c[RDMA_RC_MAC_LEN]);

#endif
