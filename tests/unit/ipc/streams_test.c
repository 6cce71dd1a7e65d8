/* The stream table (ipc/streams.h) on plain memory: registration, lookup,
 * one live registrant per (stream, role), takeover of a dead client's
 * entry, and a full table. The liveness rule is the supervisor's view of
 * the client slot, faked here by writing the slot's sup half. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ipc/streams.h"

static struct dwcp_shm shm;

static void setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.ctl = calloc(1, sizeof(*shm.ctl));
	shm.node = calloc(1, sizeof(*shm.node));
	cr_assert(shm.ctl && shm.node);
}

static void teardown(void)
{
	free(shm.ctl);
	free(shm.node);
}

static void client_up(unsigned slot, uint32_t gen, int pid)
{
	shm.ctl->slots[slot].sup.generation = gen;
	shm.ctl->slots[slot].sup.state = DWCP_SUP_RUNNING;
	shm.ctl->slots[slot].sup.pid = pid;
}

static void client_dead(unsigned slot)
{
	shm.ctl->slots[slot].sup.state = DWCP_SUP_DEAD;
}

TestSuite(streams, .init = setup, .fini = teardown);

Test(streams, register_then_find)
{
	struct dwcp_stream_ent e;
	struct dwcp_err err = { 0 };
	int i;

	client_up(7, 3, 100);
	i = dwcp_streams_register(&shm, DWCP_STREAM_SEND, "vm42", 77, "10.0.0.2:7100", 7, 3, &err);
	cr_assert_geq(i, 0, "%s", err.msg);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_SEND, dwcp_stream_id("vm42"), &e), i);
	cr_assert_str_eq(e.name, "vm42");
	cr_assert_str_eq(e.peer, "10.0.0.2:7100");
	cr_assert_eq(e.slot, 7);
	cr_assert_eq(e.gen, 3);
	cr_assert_eq(e.xfer, 77);
	/* Other role, other stream: not found. */
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_RECV, dwcp_stream_id("vm42"), &e), -ENOENT);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_SEND, dwcp_stream_id("vm43"), &e), -ENOENT);
	dwcp_streams_unregister(&shm, i, 7, 3);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_SEND, dwcp_stream_id("vm42"), &e), -ENOENT);
}

/* `ready` is 0 while an entry is written and then a value it did not
 * have, so a reader that copied a given-back entry while it was taken
 * again sees the change (streams.c copy_whole); one being written is not
 * read at all. */
Test(streams, an_entry_taken_again_changes_its_ready_value)
{
	struct dwcp_stream_ent e;
	struct dwcp_err err = { 0 };
	uint32_t first;
	int i, j;

	client_up(7, 3, 100);
	i = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "vm42", 5, NULL, 7, 3, &err);
	cr_assert_geq(i, 0, "%s", err.msg);
	first = shm.node->streams[i].ready;
	cr_assert_neq(first, 0);
	dwcp_streams_unregister(&shm, i, 7, 3);
	cr_assert_eq(shm.node->streams[i].ready, first, "a given-back entry's fields stay readable");
	for (int k = 0; k < DWCP_MAX_STREAMS; k++)
		if (!shm.node->streams[k].claim)
			shm.node->streams[k].claim = 1;   /* as gone clients leave them */
	client_up(7, 4, 100);
	j = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "vm42", 6, NULL, 7, 4, &err);
	cr_assert_eq(j, i, "the given-back entry was not taken again: %d", j);
	cr_assert(shm.node->streams[i].ready != first && shm.node->streams[i].ready != 0,
		  "ready %u after %u", shm.node->streams[i].ready, first);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_RECV, dwcp_stream_id("vm42"), &e), i);
	/* Its registrant killed while writing it: neither found nor read as gone. */
	shm.node->streams[i].ready = 0;
	shm.node->streams[i].next_seq = 1;
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_RECV, dwcp_stream_id("vm42"), &e), -ENOENT);
	client_dead(7);
	cr_assert_eq(dwcp_streams_gone_xfer(&shm, dwcp_stream_id("vm42")), 0);
}

Test(streams, one_live_registrant_per_role)
{
	struct dwcp_err err = { 0 };

	client_up(7, 1, 100);
	client_up(8, 1, 200);
	cr_assert_geq(dwcp_streams_register(&shm, DWCP_STREAM_RECV, "s", 0, NULL, 7, 1, &err), 0);
	cr_assert_eq(dwcp_streams_register(&shm, DWCP_STREAM_RECV, "s", 0, NULL, 8, 1, &err), -EBUSY);
	cr_assert(strstr(err.msg, "pid 100"), "%s", err.msg);
	/* The other role of the same stream is independent (send and receive on one node). */
	cr_assert_geq(dwcp_streams_register(&shm, DWCP_STREAM_SEND, "s", 1, "h:1", 8, 1, &err), 0,
		      "%s", err.msg);
}

Test(streams, dead_client_entry_is_free_and_taken_over)
{
	struct dwcp_stream_ent e;
	struct dwcp_err err = { 0 };
	int i, j;

	client_up(7, 1, 100);
	i = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "s", 0, NULL, 7, 1, &err);
	client_dead(7);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_RECV, dwcp_stream_id("s"), &e), -ENOENT);
	/* Same slot, next generation (restarted client) takes it over. */
	client_up(7, 2, 101);
	j = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "s", 0, NULL, 7, 2, &err);
	cr_assert_geq(j, 0, "%s", err.msg);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_RECV, dwcp_stream_id("s"), &e), j);
	cr_assert_eq(e.gen, 2);
	(void)i;
	/* A stale unregister (old generation) does not remove the new entry. */
	dwcp_streams_unregister(&shm, j, 7, 1);
	cr_assert_eq(dwcp_streams_find(&shm, DWCP_STREAM_RECV, dwcp_stream_id("s"), &e), j);
}

Test(streams, full_table_is_an_error)
{
	struct dwcp_err err = { 0 };
	char name[16];

	client_up(7, 1, 100);
	for (int i = 0; i < DWCP_MAX_STREAMS; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_geq(dwcp_streams_register(&shm, DWCP_STREAM_SEND, name, 1, "h:1", 7, 1, &err), 0);
	}
	cr_assert_eq(dwcp_streams_register(&shm, DWCP_STREAM_SEND, "one-more", 1, "h:1", 7, 1, &err),
		     -ENOSPC);
	cr_assert(strstr(err.msg, "full"), "%s", err.msg);
}

Test(streams, names_are_checked)
{
	struct dwcp_err err = { 0 };

	cr_assert_eq(dwcp_stream_check_name("vm-42.disk_0", &err), 0);
	cr_assert_eq(dwcp_stream_check_name("", &err), -EINVAL);
	cr_assert_eq(dwcp_stream_check_name("a/b", &err), -EINVAL);
	cr_assert_eq(dwcp_stream_check_name("x y", &err), -EINVAL);
	cr_assert_eq(dwcp_stream_check_name("012345678901234567890123456789012345678901234567", &err),
		     -EINVAL);
	cr_assert(strstr(err.msg, "expected"), "%s", err.msg);
	cr_assert_eq(dwcp_stream_id("vm42"), dwcp_stream_id("vm42"));
	cr_assert_neq(dwcp_stream_id("vm42"), dwcp_stream_id("vm43"));
}

Test(streams, net_error_is_published)
{
	struct dwcp_stream_ent e;
	struct dwcp_err err = { 0 };
	int i;

	client_up(7, 1, 100);
	i = dwcp_streams_register(&shm, DWCP_STREAM_SEND, "s", 1, "h:1", 7, 1, &err);
	dwcp_streams_set_net_error(&shm, i, ECONNREFUSED);
	dwcp_streams_find(&shm, DWCP_STREAM_SEND, dwcp_stream_id("s"), &e);
	cr_assert_eq(e.net_error, ECONNREFUSED);
	cr_assert_neq(e.net_error_ns, 0);
	dwcp_streams_set_net_error(&shm, i, 0);
	dwcp_streams_find(&shm, DWCP_STREAM_SEND, dwcp_stream_id("s"), &e);
	cr_assert_eq(e.net_error, 0);
}

/* A receiver killed mid-transfer leaves its entry: the next receiver of
 * the stream reads the transfer it had written chunks of (the latest of
 * several), none while it lives, none when it had written nothing, none
 * of another stream or of a sender. */
Test(streams, a_gone_receivers_transfer_is_read_by_the_next)
{
	struct dwcp_err err = { 0 };
	uint64_t id = dwcp_stream_id("vm");
	int a, b, s;

	client_up(7, 1, 100);
	client_up(9, 1, 300);
	a = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "vm", 0, NULL, 7, 1, &err);
	s = dwcp_streams_register(&shm, DWCP_STREAM_SEND, "vm", 900, "h:1", 9, 1, &err);
	cr_assert(a >= 0 && s >= 0, "%s", err.msg);
	shm.node->streams[a].xfer = 500;
	shm.node->streams[a].next_seq = 3;
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 0, "read while its receiver lives");
	client_dead(7);
	client_dead(9);
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 500);
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, dwcp_stream_id("other")), 0);
	/* An earlier receiver of it, gone too, whose entry was not reused
	 * since (written here as it would have left it): the later wins. */
	b = s + 1;
	shm.node->streams[b] = shm.node->streams[a];
	shm.node->streams[b].xfer = 400;
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 500);
	shm.node->streams[b].xfer = 600;
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 600);
	/* ... but not one that had written nothing of it. */
	shm.node->streams[b].next_seq = 0;
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 500);
	/* One that exited (unregistered, its process still up): its entry is
	 * free and read as gone as well (the later transfer wins). */
	client_up(7, 2, 101);
	a = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "vm", 0, NULL, 7, 2, &err);
	cr_assert_geq(a, 0, "%s", err.msg);
	cr_expect_gt(a, b, "a gone receiver's entry was taken while never-used ones were free");
	shm.node->streams[a].xfer = 700;
	shm.node->streams[a].next_seq = 2;
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 500, "read while its receiver lives");
	dwcp_streams_unregister(&shm, a, 7, 2);
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 700);
	cr_expect_lt(dwcp_streams_find(&shm, DWCP_STREAM_RECV, id, &(struct dwcp_stream_ent){ 0 }), 0,
		     "found after it was given back");
	/* Once no never-used entry is left, the first free one is taken
	 * again, and what it held is no longer read. */
	for (int i = 0; i < DWCP_MAX_STREAMS; i++)
		if (!shm.node->streams[i].claim)
			shm.node->streams[i].claim = 1;   /* as a gone client leaves it */
	s = dwcp_streams_register(&shm, DWCP_STREAM_RECV, "vm", 0, NULL, 7, 2, &err);
	cr_expect_eq(s, 0, "not the first free entry: %d", s);
	dwcp_streams_unregister(&shm, s, 7, 2);
	shm.node->streams[a].xfer = 400;
	cr_expect_eq(dwcp_streams_gone_xfer(&shm, id), 400, "entry 0's transfer (500) still read");
}
