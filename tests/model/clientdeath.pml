/*
 * dwcp client death, for spin.
 *
 * What is modelled: client -> L1 -> service SV (in place, never dies
 * here) -> L2 -> client, where the client may be killed at any step
 * (MAXCDEATHS times). The supervisor's death handler reclaims with
 * redeliver = false (its HELD/WORK buffers, its unpublished outputs and
 * its dequeued-unclaimed inputs are freed, its link heads reset) and
 * drains its input link (reclaim.c drain_inputs); the slot is then empty
 * and the supervisor keeps draining what finished after the death
 * (children.c drain_orphan_results, on heartbeat ticks) until a new client
 * says HELLO (generation bumped again, same thread: the supervisor stops
 * consuming). The new client discards stale inputs (reset its consumer
 * head, dequeue and free, reset its producer head), sends its items with
 * deliver_gen = its generation, and frees what it receives for an older
 * generation (keep_mine). The dead client's data is re-sent end to end:
 * the new client sends everything again.
 *
 * C functions modelled (besides proto.pml's):
 *   ipc/client.c dwcp_client_open / discard_stale_inputs, dwcp_client_submit,
 *     dwcp_client_set_prog (deliver_gen), dwcp_client_poll / keep_mine -> client
 *   svc-supervisor/children.c handle_death (client), drain_orphan_results,
 *     control.c hello_client_slot                       -> supervisor
 *
 * Checked: no leak (every buffer FREE at rest, including the dead
 * client's and what was delivered to it late), never two owners, the last
 * client receives each of its items exactly once and nothing of an older
 * generation (no loss, no duplication), no deadlock.
 */

#ifndef NITEMS
#define NITEMS 2
#endif
#ifndef NBUF
#define NBUF 3
#endif
#ifndef DEPTH
#define DEPTH 1
#endif
#ifndef POSMOD
#define POSMOD 4
#endif
#ifndef MAXCDEATHS
#define MAXCDEATHS 2
#endif

#include "proto.pml"

byte dgen[NBUF];        /* header deliver_gen */

byte cgen = 1;          /* client slot's sup.generation (HELLO gave 1) */
bool client_dead = false;
bool slot_empty = false;
bool client_go = true;
byte cdeaths = 0;

byte received[NITEMS];  /* for the current client */
byte sent = 0;
byte nreceived = 0;

#define CANDIE (cdeaths < MAXCDEATHS)

/* ---- the client; may be killed at any step ---- */
proctype client() {
	byte g, b, p, got, _q;
end_wait:
	client_go;
	atomic {
		client_go = false;
		g = cgen;
		sent = 0;
		nreceived = 0;
		for (got : 0 .. NITEMS - 1) { received[got] = 0 }
		got = 0
	};
	/* dwcp_client_open -> discard_stale_inputs */
	cons_head[L2] = cons_tail[L2];
	KILL(CANDIE);
	do
	:: count(L2) > 0 ->
		dequeue(L2, CL, g, b, p, CANDIE);
		pool_free(b);
		KILL(CANDIE)
	:: else -> break
	od;
	prod_head[L1] = prod_tail[L1];
	KILL(CANDIE);
end_client:
	do
	:: sent < NITEMS && space(L1) > 0 && ANYFREE ->
		pool_alloc(CL, g, b);
		if
		:: b != NONE ->
			KILL(CANDIE);
			/* dwcp_client_set_prog */
			item[b] = sent;
			dgen[b] = g;
			KILL(CANDIE);
			sent++;
			enqueue(L1, b, p, CANDIE)
		:: else -> skip
		fi
	:: count(L2) > 0 ->
		dequeue(L2, CL, g, b, p, CANDIE);
#ifndef MUTANT_NO_GEN_CHECK
		if
		:: dgen[b] != g -> skip               /* keep_mine: an older generation's */
		:: else ->
#else
		if
		:: true ->
#endif
			got = item[b];
			received[got]++;
			assert(received[got] == 1);     /* no duplication */
			nreceived++
		fi;
		pool_free(b);
		KILL(CANDIE);
		b = 0; p = 0; got = 0
	od;
died:
	atomic {
		cdeaths++;
		client_dead = true;
		g = 0; b = 0; p = 0; got = 0
	};
	goto end_wait
}

/* ---- the supervisor ---- */
proctype supervisor() {
	byte _db, _dp;
end_sup:
	do
	:: client_dead ->
		/* handle_death: dwcp_reclaim_slot(redeliver = false), which
		 * drains its inputs, then generation + 1, slot EMPTY */
		reclaim(CL, cgen, false);
		drain_input(L2, CL, cgen + 1);
		cgen++;
		client_dead = false;
		slot_empty = true
	:: slot_empty && count(L2) > 0 ->
		/* heartbeat tick: drain_orphan_results */
		drain_input(L2, CL, cgen)
	:: slot_empty ->
		/* a new client's HELLO: hello_client_slot bumps the generation */
		slot_empty = false;
		cgen++;
		client_go = true
	od;
died:
	assert(false)
}

/* ---- the service: in place, never dies here ---- */
proctype svc() {
	byte b, p, park, _q;
	park = NONE;
end_svc:
	do
	:: park != NONE && space(L2) > 0 ->
		b = park;
		park = NONE;
		enqueue(L2, b, p, false);
		b = 0; p = 0
	:: park == NONE && count(L1) > 0 ->
		dequeue(L1, SV, 0, b, p, false);
		if
		:: space(L2) > 0 -> enqueue(L2, b, p, false)
		:: else -> park = b
		fi;
		b = 0; p = 0
	od;
died:
	assert(false)
}

/* ---- at rest: nothing can move ---- */
proctype at_rest() {
	byte k;
	timeout;
	assert(!slot_empty && nreceived == NITEMS);    /* the last client got all */
	for (k : 0 .. NBUF - 1) {
		assert(owner[k].kind == FREE)               /* no leak */
	}
}

init {
	atomic {
		run client();
		run supervisor();
		run svc();
		run at_rest()
	}
}
