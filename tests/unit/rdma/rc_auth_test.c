/* svc-rdma/rc_auth.c: the three-message proof that both ends of an RC
 * connection hold the node key, without a device: a connection between
 * two holders of one key completes; a holder of another key is found out
 * at either end; proofs from one connection are worthless on another
 * (replay), and the accepting end's proof is not the connecting end's
 * (reflection); malformed private data is refused. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "svc-rdma/rc_auth.h"

static const uint8_t key1[RDMA_RC_KEY_LEN] = { 1, 2, 3 }, key2[RDMA_RC_KEY_LEN] = { 9, 9, 9 };

/* One handshake: C holds @p kc, S holds @p ks. Fills what travelled. */
static int handshake(const uint8_t *kc, const uint8_t *ks, struct rdma_rc_auth *c, struct rdma_rc_auth *s,
		     uint8_t mac_c[RDMA_RC_MAC_LEN])
{
	uint8_t hello[56] = { 0 }, acc[196] = { 0 };   /* rdma_cm pads private data to these */

	cr_assert_eq(rdma_rc_auth_init(c, kc), 0);
	cr_assert_eq(rdma_rc_auth_init(s, ks), 0);
	cr_assert_eq(rdma_rc_auth_hello(c, hello), 0);
	cr_assert_eq(rdma_rc_auth_accept(s, hello, sizeof(hello), acc), 0);
	return rdma_rc_auth_established(c, acc, sizeof(acc), mac_c);
}

Test(rc_auth, holders_of_one_key_connect)
{
	struct rdma_rc_auth c, s;
	uint8_t mac[RDMA_RC_MAC_LEN];

	cr_assert_eq(handshake(key1, key1, &c, &s, mac), 0);
	cr_expect(rdma_rc_auth_check(&s, mac), "S refused C's proof");
}

Test(rc_auth, a_connecting_end_without_the_key_is_refused_by_the_accepting_end)
{
	struct rdma_rc_auth c, s;
	uint8_t mac[RDMA_RC_MAC_LEN];

	/* C cannot check S's proof (other key), so an honest C stops here ... */
	cr_assert_eq(handshake(key2, key1, &c, &s, mac), -EACCES);
	/* ... and a C that sends a proof anyway is refused by S */
	memset(mac, 0x5a, sizeof(mac));
	cr_expect(!rdma_rc_auth_check(&s, mac));
}

Test(rc_auth, an_accepting_end_without_the_key_is_found_out)
{
	struct rdma_rc_auth c, s;
	uint8_t mac[RDMA_RC_MAC_LEN];

	cr_expect_eq(handshake(key1, key2, &c, &s, mac), -EACCES);
}

Test(rc_auth, proofs_do_not_replay_or_reflect)
{
	struct rdma_rc_auth c1, s1, c2, s2;
	uint8_t mac1[RDMA_RC_MAC_LEN], mac2[RDMA_RC_MAC_LEN], hello[RDMA_RC_HELLO_LEN], acc[RDMA_RC_ACCEPT_LEN];

	cr_assert_eq(handshake(key1, key1, &c1, &s1, mac1), 0);
	cr_assert_eq(handshake(key1, key1, &c2, &s2, mac2), 0);
	cr_expect(memcmp(mac1, mac2, sizeof(mac1)), "two connections, one proof: the nonces are not fresh");
	cr_expect(!rdma_rc_auth_check(&s2, mac1), "a proof from another connection was taken (replay)");
	/* S's own proof (from its accept) handed back as C's */
	cr_assert_eq(rdma_rc_auth_hello(&c1, hello), 0);
	cr_assert_eq(rdma_rc_auth_accept(&s1, hello, sizeof(hello), acc), 0);
	cr_expect(!rdma_rc_auth_check(&s1, acc + 8 + RDMA_RC_NONCE_LEN), "S's proof taken as C's (reflection)");
}

Test(rc_auth, the_proof_covers_the_session_it_names)
{
	struct rdma_rc_auth c, s;
	uint8_t mac[RDMA_RC_MAC_LEN];

	cr_assert_eq(rdma_rc_auth_init(&c, key1), 0);
	memset(c.session, 0x11, sizeof(c.session));
	{
		uint8_t hello[56] = { 0 }, acc[196] = { 0 };

		cr_assert_eq(rdma_rc_auth_init(&s, key1), 0);
		cr_assert_eq(rdma_rc_auth_hello(&c, hello), 0);
		cr_assert_eq(rdma_rc_auth_accept(&s, hello, sizeof(hello), acc), 0);
		cr_assert_eq(rdma_rc_auth_established(&c, acc, sizeof(acc), mac), 0);
	}
	/* S learns the session from the AUTH message: the one C proved passes ... */
	memset(s.session, 0x11, sizeof(s.session));
	cr_expect(rdma_rc_auth_check(&s, mac));
	/* ... another one, with the same proof, does not (a rewritten AUTH) */
	s.session[15] ^= 1;
	cr_expect(!rdma_rc_auth_check(&s, mac), "a proof taken for a session it did not cover");
}

Test(rc_auth, malformed_private_data_is_refused)
{
	struct rdma_rc_auth c, s;
	uint8_t hello[RDMA_RC_HELLO_LEN], acc[RDMA_RC_ACCEPT_LEN], mac[RDMA_RC_MAC_LEN];

	cr_assert_eq(rdma_rc_auth_init(&c, key1), 0);
	cr_assert_eq(rdma_rc_auth_init(&s, key1), 0);
	cr_assert_eq(rdma_rc_auth_hello(&c, hello), 0);
	cr_expect_eq(rdma_rc_auth_accept(&s, hello, RDMA_RC_HELLO_LEN - 1, acc), -EPROTO);
	cr_expect_eq(rdma_rc_auth_accept(&s, NULL, 0, acc), -EPROTO, "a connect without private data");
	hello[0] ^= 1;
	cr_expect_eq(rdma_rc_auth_accept(&s, hello, sizeof(hello), acc), -EPROTO);
	hello[0] ^= 1;
	cr_assert_eq(rdma_rc_auth_accept(&s, hello, sizeof(hello), acc), 0);
	cr_expect_eq(rdma_rc_auth_established(&c, acc, RDMA_RC_ACCEPT_LEN - 1, mac), -EPROTO);
	acc[40] ^= 1;   /* in mac_s */
	cr_expect_eq(rdma_rc_auth_established(&c, acc, sizeof(acc), mac), -EACCES);
}
