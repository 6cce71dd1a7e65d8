/*
 * dwcp out-of-place steps (compress, seal, open, decompress), for spin.
 *
 * What is modelled: client -> L1 -> service SV -> L2 -> client, where SV's
 * step never modifies its input: it takes a new buffer (dwcp_svc_alloc,
 * HELD), writes the result there, and the runtime moves the descriptor
 * over (adopt_output: the output names its input in parent_plus1), sends
 * the output on and frees the input only once the output has left
 * (forward: parent read and cleared before the enqueue, input freed after
 * it; a parked output keeps its parent). SV may be killed at any step
 * (MAXKILLS times); the supervisor reclaims (HELD output -> FREE, WORK
 * input -> re-delivered, an unpublished LINK output -> re-delivered) and
 * restarts it; the next generation adopts and redoes the step.
 *
 * The sink (the client) deduplicates by sequence number, as `dwcp recv`
 * does: it counts raw receipts and delivers each item once.
 *
 * With -DKEEP_STEP the step is svc-gpu's op batch instead: it takes the
 * output buffer and returns DWCP_SVC_KEEP (input WORK, output HELD) and
 * the service goes on with other buffers; later (the batch finished, in
 * poll) dwcp_svc_pass_out adopts the output and forwards it as above. One
 * step is kept at a time (a full batch: the step is retried). The same
 * properties must hold.
 *
 * C functions modelled (besides proto.pml's):
 *   ipc/svc_runtime.c run_steps, adopt_output, forward, flush_park,
 *     take_adopted, take_inputs, adopt                -> svc
 *   ipc/svc_runtime.c dwcp_svc_alloc (a failed alloc: -EAGAIN, retry)
 *   svc-gpu/gpu_engine.c op_step (KEEP), poll_ops -> dwcp_svc_pass_out
 *     (-DKEEP_STEP)
 *   svc-supervisor/children.c handle_death            -> supervisor
 *
 * Checked: no loss (every item delivered after dedup), no duplicate after
 * dedup, no leak (every buffer FREE at rest), never two owners, a buffer
 * is only freed by its owner, no deadlock. And precisely when duplicates
 * happen: every raw duplicate at the sink is matched by a kill of SV
 * inside the window that opens with the output's LINK store (in
 * dwcp_link_enqueue_burst) and closes with the input's free (ndups <=
 * window_kills). With -DCLAIM_NO_DUP the model instead claims "no raw
 * duplicate", which spin must refute (run.sh prints the trail): the
 * duplicate is real without dedup.
 */

#ifndef NITEMS
#define NITEMS 2
#endif
#ifndef NBUF
#define NBUF 3          /* an input and its output, plus one in a link */
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

/* ghost: SV is between its output's LINK store and its input's free */
bool in_window = false;
#define ENQ_HOOK(l, b) if :: l == L2 -> in_window = (par != 0) :: else -> skip fi

#include "proto.pml"

byte stage[NBUF];       /* header pc: 0 = SV's step to do, 1 = DELIVER to the client */
byte parent[NBUF];      /* header parent_plus1 */

byte gen = 0;
bool sv_dead = false;
byte kills = 0;
byte window_kills = 0;  /* kills of SV inside the window */
byte ndups = 0;         /* raw duplicates seen by the sink */

byte raw[NITEMS];       /* receipts per item, before dedup */
bool seen[NITEMS];      /* the sink's dedup state */
byte sent = 0;
byte nreceived = 0;     /* delivered after dedup */

#define CANDIE (kills < MAXKILLS)

/* ---- the client: sender and deduplicating sink; never dies here ---- */
proctype client() {
	byte b, p, got, _q;
	byte par = 0;           /* ENQ_HOOK names it */
end_client:
	do
	:: sent < NITEMS && space(L1) > 0 ->
		pool_alloc(CL, 0, b);
		if
		:: b != NONE ->
			item[b] = sent;
			stage[b] = 0;
			parent[b] = 0;
			sent++;
			enqueue(L1, b, p, false)
		:: else -> skip
		fi
	:: count(L2) > 0 ->
		dequeue(L2, CL, 0, b, p, false);
		got = item[b];
		assert(stage[b] == 1 && parent[b] == 0);
		raw[got]++;
#ifdef CLAIM_NO_DUP
		assert(raw[got] == 1);              /* refuted: duplicates are real */
#endif
		if
		:: seen[got] -> ndups++; assert(ndups <= window_kills)
		:: else -> seen[got] = true; nreceived++
		fi;
		pool_free(b);
		b = 0; p = 0; got = 0
	od;
died:
	assert(false)
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

/* ---- the service (svc_runtime.c); may be killed at any step ---- */
proctype svc() {
	byte g, b, o, par, p, k, park, adopted, retry, _q;
	byte kin = NONE, kout = NONE;   /* -DKEEP_STEP: the kept input and its output */
end_wait:
	(!sv_dead);
	g = gen;
	park = NONE;
	adopted = 0;
	retry = 0;
	kin = NONE;
	kout = NONE;
	/* adopt(): one load per header */
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
#ifdef KEEP_STEP
		:: park == NONE && kout != NONE ->
			/* poll_ops: the batch is done; dwcp_svc_pass_out */
			assert(IS_OWNER(kin, WORK, SV, g) && IS_OWNER(kout, HELD, SV, g));
			b = kin;
			o = kout;
			kin = NONE;
			kout = NONE;
			goto adopt_out
#endif
		:: park != NONE ->
			/* flush_park */
			if
			:: space(L2) > 0 -> o = park; park = NONE; goto fwd
			:: CANDIE -> goto died
			fi
		:: park == NONE && adopted != 0 ->
			/* take_adopted: one burst (BURST >= NBUF), which goes on
			 * past inputs whose step asked to be retried */
			b = 0;
			do
			:: adopted & (1 << b) -> break
			:: else -> b++
			od;
			adopted = adopted & ~(1 << b)
		:: park == NONE && adopted == 0 && retry != 0 && kout == NONE ->
			/* take_retries (idle() naps until a buffer may be free) */
			if
			:: ANYFREE ->
				b = 0;
				do
				:: retry & (1 << b) -> break
				:: else -> b++
				od;
				retry = retry & ~(1 << b)
			:: CANDIE -> goto died
			fi
		:: park == NONE && adopted == 0 && retry == 0 && count(L1) > 0 ->
			/* take_inputs */
			dequeue(L1, SV, g, b, p, CANDIE)
		:: park == NONE && adopted == 0 && retry == 0 && count(L1) == 0 && kout == NONE ->
			/* (with a kept step, poll finishes it before the loop sleeps) */
end_idle:		count(L1) > 0;
			goto next
		fi;
		/* run_steps */
		if
		:: stage[b] == 1 ->
			/* an output re-delivered to us: its step is done, it goes on.
			 * It never names a parent (forward cleared it before LINK). */
			assert(parent[b] == 0);
			o = b;
			goto fwd
		:: else -> skip
		fi;
		/* the step: dwcp_svc_alloc; -EAGAIN: STEPS_RETRY, on the
		 * retry list */
		pool_alloc(SV, g, o);
		if
		:: o == NONE -> retry = retry | (1 << b); goto next
		:: else -> skip
		fi;
		KILL(CANDIE);
		item[o] = item[b];                  /* the transform writes the output */
		KILL(CANDIE);
#ifdef KEEP_STEP
		/* op_step: one kept step at a time; a second waits (retried) */
		if
		:: kout == NONE -> kin = b; kout = o; goto next
		:: else -> pool_free(o); retry = retry | (1 << b); goto next
		fi;
adopt_out:
		KILL(CANDIE);
#endif
		/* adopt_output: descriptor copied, parent_plus1 = in + 1 */
		stage[o] = stage[b];
#ifndef MUTANT_KEEP_NO_ADOPT
		parent[o] = b + 1;
#else
		/* a pass that forwards the output without adopting it (the input
		 * is never freed): the model must catch the leak */
		parent[o] = 0;
#endif
		KILL(CANDIE);
		stage[o] = 1;                       /* h->pc++ on the output */
		KILL(CANDIE);
fwd:
		/* forward: parent read and cleared before the enqueue */
		par = parent[o];
		parent[o] = 0;
		KILL(CANDIE);
		if
		:: space(L2) > 0 ->
#ifdef MUTANT_FREE_INPUT_FIRST
			if
			:: par != 0 -> pool_free(par - 1); KILL(CANDIE)
			:: else -> skip
			fi;
			par = 0;
#endif
			enqueue(L2, o, p, CANDIE);
			if
			:: par != 0 ->
				/* the input is ours until now */
				assert(IS_OWNER(par - 1, WORK, SV, g));
				atomic { pool_free(par - 1); in_window = false };
				KILL(CANDIE)
			:: else -> skip
			fi
		:: else ->
			parent[o] = par;                /* parked with its parent */
			park = o;
			KILL(CANDIE)
		fi;
next:
		b = 0; o = 0; par = 0; p = 0
	od;
died:
	/* kill -9: the pidfd tells the supervisor */
	atomic {
		if
		:: in_window -> window_kills++
		:: else -> skip
		fi;
		in_window = false;
		kills++;
		sv_dead = true;
		g = 0; b = 0; o = 0; par = 0; p = 0; k = 0; park = NONE; adopted = 0; retry = 0;
		kin = NONE; kout = NONE
	};
	goto end_wait
}

/* ---- at rest: nothing can move ---- */
proctype at_rest() {
	byte k;
	timeout;
	assert(nreceived == NITEMS);                   /* no loss, no deadlock */
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
