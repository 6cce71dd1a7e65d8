/* AMST peer authentication: the handshake that proves, on every TCP
 * connection, that both ends hold the node key, before the accepting end
 * parses anything but handshake frames or touches any peer or stream state.
 *
 *   connecting end (C)                      accepting end (S)
 *   HELLO_c {.., flags KEYED, nonce_c} ---->
 *                                      <--- HELLO_s {.., flags KEYED, nonce_s}
 *                                      <--- AUTH  mac_s = HMAC(Ka, "dwcp-amst server" || T)
 *   checks mac_s (S holds the key)
 *   AUTH  mac_c = HMAC(Ka, "dwcp-amst client" || T) ---->
 *   chunks may follow at once                    checks mac_c; only now is C
 *                                                a peer and may send CHUNKs
 *
 *   Ka = HMAC-SHA256(node key, "dwcp-amst-auth-v2")   (never the AES key itself)
 *   T  = HELLO_c payload || HELLO_s payload, as on the wire (80 + 80 bytes)
 *   Ks = HMAC(Ka, "dwcp-amst session" || T)   per-connection answer key
 *
 * Both nonces are fresh per connection, so a proof recorded from one
 * connection is worthless on another (replay), and the labels differ per
 * direction, so S cannot be used as an oracle for C's proof (reflection).
 * ACK/NACK frames, which tell a sender that a chunk was written, carry
 * HMAC(Ks, counter || answer)[0..16) with a counter per connection, so a
 * forged, replayed or reordered answer is refused and the connection
 * closed. CHUNK frames need no MAC of their own: every chunk from a keyed
 * peer is AES-256-GCM sealed with the node key over its header (stream,
 * sequence, transfer) and body, and a keyed receiver refuses unsealed ones.
 *
 * Nodes without a key send HELLO without KEYED and no AUTH; a node with a
 * key refuses such a peer, and a node without one refuses a keyed peer
 * (it could not open its chunks). docs/security.md has the threat model.
 *
 * Concurrency: a struct dwcp_amst_auth belongs to one connection of one
 * thread; the functions are otherwise pure.
 */
#ifndef DWCP_SVC_NET_AUTH_H
#define DWCP_SVC_NET_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "svc-net/frame.h"

#define DWCP_AMST_KEY_LEN 32u

/** The handshake key Ka from the 32-byte node key. @return 0 or -EIO. */
int dwcp_amst_auth_derive(const uint8_t node_key[DWCP_AMST_KEY_LEN], uint8_t ka[DWCP_AMST_KEY_LEN]);

/** The wire payload of a HELLO (what the transcript holds). */
void dwcp_amst_hello_wire(const struct dwcp_frame_hello *h, uint8_t out[sizeof(struct dwcp_frame_hello)]);

/**
 * A handshake proof. @p server true: the accepting end's, else the
 * connecting end's. @p hello_c / @p hello_s: the two HELLOs (host order;
 * encoded here). @return 0 or -EIO.
 */
int dwcp_amst_auth_proof(const uint8_t ka[DWCP_AMST_KEY_LEN], bool server,
			 const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s,
			 uint8_t mac[DWCP_FRAME_AUTH_LEN]);

/** Constant-time check of a received proof. @return true when it matches. */
bool dwcp_amst_auth_check(const uint8_t ka[DWCP_AMST_KEY_LEN], bool server,
			  const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s,
			  const uint8_t mac[DWCP_FRAME_AUTH_LEN]);

/** The per-connection answer MAC state. */
struct dwcp_amst_ackmac {
	uint8_t ks[DWCP_AMST_KEY_LEN];
	uint64_t counter;     /* answers MACed (sender of answers) or checked (receiver) */
};

/** Set up @p m for a connection from Ka and both HELLOs. @return 0 or -EIO. */
int dwcp_amst_ackmac_init(struct dwcp_amst_ackmac *m, const uint8_t ka[DWCP_AMST_KEY_LEN],
			  const struct dwcp_frame_hello *hello_c, const struct dwcp_frame_hello *hello_s);

/** Fill a->mac for the next answer on the connection (counter += 1). */
void dwcp_amst_ackmac_sign(struct dwcp_amst_ackmac *m, struct dwcp_frame_ack *a);

/** Check a received answer against the next counter. @return true when valid (counter += 1). */
bool dwcp_amst_ackmac_verify(struct dwcp_amst_ackmac *m, const struct dwcp_frame_ack *a);

#endif
