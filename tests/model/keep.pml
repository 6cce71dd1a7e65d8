/*
 * dwcp KEEP steps (svc-net TRANSMIT), for spin.
 *
 * What is modelled: client (`dwcp send`) -> L1 -> service SV (svc-net) ->
 * L2 -> client. SV's step transmits the chunk on the wire to a remote
 * receiver and returns DWCP_SVC_KEEP: the buffer stays WORK(SV, g) while
 * unacknowledged. An ACK for this generation (net_ack ignores other
 * generations' ACKs) releases it: fl_release -> dwcp_svc_pass (pc++,
 * forward to the client; parked while L2 is full). SV may be killed at
 * any step (MAXKILLS times); its connections die with it, so what it had
 * on the wire may or may not arrive, and ACKs to it are lost. The
 * supervisor reclaims (kept chunks are WORK: re-delivered) and restarts
 * SV; the next generation adopts them and transmits them again. The
 * remote receiver (`dwcp recv` behind its svc-net) writes each sequence
 * number once and acknowledges every copy, duplicates again.
 *
 * C functions modelled (besides proto.pml's):
 *   svc-net/amst.c net_transmit (returns DWCP_SVC_KEEP), net_ack /
 *     fl_release (ACK of this generation only)         -> svc
 *   ipc/svc_runtime.c dwcp_svc_pass, run_steps, forward, flush_park,
 *     take_adopted, take_inputs, adopt                  -> svc
 *   svc-supervisor/children.c handle_death              -> supervisor
 *
 * Checked: no loss (every chunk written by the receiver and handed back
 * to the client), no duplicate in the pipeline (the client gets each
 * chunk back exactly once; duplicates exist only on the wire, where the
 * receiver dedups), no leak, never two owners, no deadlock. With
 * -DCLAIM_NO_WIRE_DUP the model claims the wire never carries a chunk
 * twice, which spin must refute (a kill between transmit and ACK).
 */

#ifndef NITEMS
#define NITEMS 2
#endif
#ifndef NBUF
#define NBUF NITEMS
#endif
#ifndef DEPTH
#define DEPTH 1
#endif
#ifndef POSMOD
#define POSMOD 4
#endif
#ifndef MAXKILLS
#define MAXKILLS 2
#endif
#define WIRECAP (NITEMS * (MAXKILLS + 1))   /* one copy per chunk per generation */

#include "proto.pml"

byte stage[NBUF];       /* header pc: 0 = TRANSMIT to do, 1 = DELIVER to the client */

chan wire = [WIRECAP] of { byte, byte };    /* CHUNK frames: seq, sender generation */
chan acks = [WIRECAP] of { byte, byte };    /* ACK frames: seq, generation it answers */

byte gen = 0;
bool sv_dead = false;
byte kills = 0;

byte wire_copies[NITEMS];   /* chunks that reached the receiver, duplicates included */
bool written[NITEMS];       /* the receiver wrote it (once) */
byte received[NITEMS];      /* handed back to the client */
byte sent = 0;
byte nreceived = 0;

#define CANDIE (kills < MAXKILLS)

/* ---- the client (`dwcp send`): never dies here ---- */
proctype client() {
	byte b, p, got, _q;
end_client:
	do
	:: sent < NITEMS && space(L1) > 0 ->
		pool_alloc(CL, 0, b);
		if
		:: b != NONE ->
			item[b] = sent;
			stage[b] = 0;
			sent++;
			enqueue(L1, b, p, false)
		:: else -> skip
		fi
	:: count(L2) > 0 ->
		dequeue(L2, CL, 0, b, p, false);
		got = item[b];
		assert(stage[b] == 1);
		received[got]++;
		assert(received[got] == 1);         /* no duplicate in the pipeline */
		nreceived++;
		pool_free(b);
		b = 0; p = 0; got = 0
	od;
died:
	assert(false)
}

/* ---- the remote receiver: writes once, acknowledges every copy ---- */
proctype receiver() {
	byte i, mg;
end_recv:
	do
	:: wire?i, mg ->
		if
		:: mg != gen || sv_dead ->
			/* the sending generation is dead: its connection is gone,
			 * the frame may be lost */
			skip
		:: true ->
			wire_copies[i]++;
#ifdef CLAIM_NO_WIRE_DUP
			assert(wire_copies[i] == 1);        /* refuted: the wire sees duplicates */
#endif
			written[i] = true;
			acks!i, mg
		fi;
		i = 0; mg = 0
	od
}

/* ---- the supervisor: handle_death, then restart ---- */
proctype supervisor() {
end_sup:
	do
	:: sv_dead ->
		reclaim(SV, gen, true);
		gen++;
		sv_dead = false
	od
}

/* ---- svc-net's runtime; may be killed at any step ---- */
proctype svc() {
	byte g, b, p, k, park, adopted, kept, ai, ag, _q;
end_wait:
	(!sv_dead);
	g = gen;
	park = NONE;
	adopted = 0;
	kept = 0;
	/* adopt() */
	for (k : 0 .. NBUF - 1) {
		if
		:: IS_OWNER(k, WORK, SV, g) -> adopted = adopted | (1 << k)
		:: else -> skip
		fi
	}
	k = 0;
	do
	:: true ->
		if
		:: park != NONE ->
			if
			:: space(L2) > 0 -> b = park; park = NONE; goto fwd
			:: CANDIE -> goto died
			fi
		:: park == NONE && adopted != 0 ->
			b = 0;
			do
			:: adopted & (1 << b) -> break
			:: else -> b++
			od;
			adopted = adopted & ~(1 << b)
		:: park == NONE && nempty(acks) ->
			/* poll: an ACK frame (net_ack -> fl_release) */
			acks?ai, ag;
			if
			:: ag == g ->
				b = 0;
				do
				:: b < NBUF && (kept & (1 << b)) && item[b] == ai -> break
				:: b < NBUF && !((kept & (1 << b)) && item[b] == ai) -> b++
				:: b == NBUF -> break       /* a duplicate ACK: nothing in flight */
				od
			:: else -> b = NBUF            /* from another generation: ignored */
			fi;
			ai = 0; ag = 0;
			if
			:: b == NBUF -> goto next
			:: else -> skip
			fi;
			kept = kept & ~(1 << b);
			/* dwcp_svc_pass: h->pc++, then process -> forward */
			assert(IS_OWNER(b, WORK, SV, g));
			stage[b] = 1;
			KILL(CANDIE);
			goto fwd
		:: park == NONE && adopted == 0 && count(L1) > 0 ->
			dequeue(L1, SV, g, b, p, CANDIE)
		:: park == NONE && adopted == 0 && count(L1) == 0 && empty(acks) ->
end_idle:		/* the waker thread / futex: input or a frame */
			(count(L1) > 0 || nempty(acks));
			goto next
		fi;
		/* run_steps */
		if
		:: stage[b] == 1 -> goto fwd          /* acknowledged before a death */
		:: else -> skip
		fi;
		/* net_transmit: on the wire, then DWCP_SVC_KEEP (stays WORK) */
		wire!item[b], g;
		KILL(CANDIE);
#ifdef MUTANT_NO_KEEP
		/* mutant: treat the transmitted chunk as done at once */
		stage[b] = 1;
		goto fwd;
#endif
		kept = kept | (1 << b);
		goto next;
fwd:
		if
		:: space(L2) > 0 -> enqueue(L2, b, p, CANDIE)
		:: else -> park = b
		fi;
next:
		b = 0; p = 0
	od;
died:
	atomic {
		kills++;
		sv_dead = true;
		g = 0; b = 0; p = 0; k = 0; park = NONE; adopted = 0; kept = 0; ai = 0; ag = 0
	};
	goto end_wait
}

/* ---- at rest: nothing can move ---- */
proctype at_rest() {
	byte k;
	timeout;
	assert(nreceived == NITEMS);                   /* every chunk came back */
	for (k : 0 .. NITEMS - 1) {
		assert(written[k])                          /* and was written remotely */
	}
	for (k : 0 .. NBUF - 1) {
		assert(owner[k].kind == FREE)               /* no leak */
	}
}

init {
	atomic {
		run client();
		run receiver();
		run supervisor();
		run svc();
		run at_rest()
	}
}
