/*
 * dwcp planned upgrade (takeover), for spin.
 *
 * What is modelled: the path of handoff.pml (client -> L1 -> service slot
 * SV -> L2 -> client) while `dwcpctl upgrade` replaces SV's process:
 *   1. the supervisor starts the successor with --takeover as generation
 *      g+1 beside the running generation g (UP_ATTACHING); it attaches
 *      (no shared store) and says TAKEOVER, then blocks for "go";
 *   2. the supervisor SIGTERMs g (UP_HANDOVER); g shows DRAINING: takes no
 *      new input, finishes adopted buffers, flushes parked outputs, exits;
 *   3. its exit goes through the one death handler: reclaim (link heads
 *      reset, WORK re-delivered to g+1), generation := g+1, then "go";
 *   4. the successor adopts WORK(SV, g+1) and runs.
 * Any service process (the old, the successor before or after "go", or a
 * restarted one) can be killed at any step, MAXKILLS times in all; a
 * successor killed before "go" owns nothing; a slot process that dies is
 * reclaimed and replaced by the attached successor or by a restart.
 *
 * Two service process instances, svc(0) and svc(1), take turns as the
 * slot's process (c->pid) and an upgrade's successor (c->up.pid).
 *
 * C functions modelled (besides proto.pml's):
 *   svc-supervisor/upgrade.c spawn_successor, sup_upgrade_takeover, go,
 *     sup_upgrade_old_died, on_succ_pidfd           -> supervisor
 *   svc-supervisor/children.c handle_death          -> supervisor (death)
 *   ipc/svc_runtime.c await_go, start/adopt, loop (SIGTERM: draining,
 *     flush_park, take_adopted, take_inputs, idle exit), forward -> svc
 *
 * Checked: no loss (every item received), no duplication, no leak (every
 * buffer FREE when all is at rest), never two owners, no deadlock (at rest
 * means everything received and every process at a valid end state).
 * "At rest" is spin's timeout: no process can move.
 */

#ifndef NITEMS
#define NITEMS 2        /* items the client sends */
#endif
#ifndef NBUF
#define NBUF NITEMS     /* buffers in the pool (in-place steps: one per item) */
#endif
#ifndef DEPTH
#define DEPTH 1         /* ring capacity: 1 makes the service park */
#endif
#ifndef POSMOD
#define POSMOD 4        /* free-running positions wrap here (u32 in C) */
#endif
#ifndef MAXKILLS
#define MAXKILLS 3      /* kill -9 of service processes, in all */
#endif
#ifndef MAXUPGRADES
#define MAXUPGRADES 1
#endif

#include "proto.pml"

/* a service process instance, as the supervisor sees it */
#define P_IDLE 0        /* no process */
#define P_ATTACH 1      /* --takeover successor before "go": owns nothing */
#define P_RUN 2         /* the slot's process */
#define P_DEAD 3        /* exited or killed; the pidfd has not been handled */

byte pstate[2];
byte pgen[2];           /* the generation HELLO gave it */
bool attached[2];       /* said TAKEOVER */
bool term[2];           /* got SIGTERM */
bool go[2];             /* may run: "go", or spawned as the slot's process */
byte cur = 0;           /* which instance is the slot's process */
byte gen = 0;           /* slot's sup.generation */
byte kills = 0;
byte upgrades = 0;

byte received[NITEMS];
byte sent = 0;
byte nreceived = 0;

#define CANDIE (kills < MAXKILLS)

/* ---- the client: never dies here ---- */
proctype client() {
	byte b, p, got, _q;
	do
	:: sent < NITEMS && space(L1) > 0 ->
		pool_alloc(CL, 0, b);
		if
		:: b != NONE ->
			item[b] = sent;
			sent++;
			enqueue(L1, b, p, false)
		:: else -> skip
		fi
	:: count(L2) > 0 ->
		dequeue(L2, CL, 0, b, p, false);
		got = item[b];
		received[got]++;
		assert(received[got] == 1);     /* no duplication */
		nreceived++;
		pool_free(b)
	:: nreceived == NITEMS -> break
	od;
	goto done;
died:
	assert(false);
done:
	skip
}

/* ---- the supervisor (single-threaded: each option is one event) ---- */
proctype supervisor() {
	byte dg;
end_sup:
	do
	:: atomic { upgrades < MAXUPGRADES && pstate[cur] == P_RUN && !term[cur] && pstate[1 - cur] == P_IDLE ->
		/* sup_upgrade_request -> spawn_successor (UP_ATTACHING);
		 * its HELLO gives it g+1 */
		upgrades++;
		pgen[1 - cur] = gen + 1;
		attached[1 - cur] = false;
		term[1 - cur] = false;
		go[1 - cur] = false;
		pstate[1 - cur] = P_ATTACH }
	:: upgrades < MAXUPGRADES -> upgrades = MAXUPGRADES   /* no (more) upgrades */
	:: atomic { pstate[1 - cur] == P_ATTACH && attached[1 - cur] && pstate[cur] == P_RUN && !term[cur] ->
		/* sup_upgrade_takeover: UP_HANDOVER, SIGTERM the old */
		term[cur] = true }
	:: pstate[1 - cur] == P_DEAD ->
		/* on_succ_pidfd: the successor died before "go": nothing to
		 * reclaim; the old runs on (or, SIGTERMed, exits and is
		 * restarted: restart_now) */
		pstate[1 - cur] = P_IDLE
	:: pstate[cur] == P_DEAD ->
		/* handle_death: reclaim, bump, then "go" or restart */
		dg = gen;
#ifndef MUTANT_GO_BEFORE_RECLAIM
		reclaim(SV, dg, true);
		gen = dg + 1;
#endif
		atomic {
			if
			:: pstate[1 - cur] == P_ATTACH ->
				/* sup_upgrade_old_died -> go(): the successor becomes the
				 * slot's process (at once, or when its TAKEOVER comes) */
				pstate[cur] = P_IDLE;
				cur = 1 - cur
			:: else ->
				/* schedule_restart -> sup_child_spawn: generation dg+1 */
				pgen[cur] = dg + 1;
				term[cur] = false
			fi;
			pstate[cur] = P_RUN;
			go[cur] = true
		};
#ifdef MUTANT_GO_BEFORE_RECLAIM
		/* mutant: the successor may adopt while the reclaimer works */
		gen = dg + 1;
		reclaim(SV, dg, true);
#endif
		dg = 0
	od
}

/* ---- a service process (svc_runtime.c); may be killed at any step ---- */
proctype svc(byte me) {
	byte g, b, p, k, park, adopted, _q;
	bool draining;
end_wait:
	(pstate[me] == P_ATTACH || pstate[me] == P_RUN);
	g = pgen[me];
	draining = false;
	park = NONE;
	adopted = 0;
	if
	:: pstate[me] == P_ATTACH && !go[me] ->
		/* --takeover: EAL attach, region, ABI, ops order: no shared
		 * store; then TAKEOVER and a blocking read for "go" (await_go) */
		KILL(CANDIE);
		attached[me] = true;
		if
		:: go[me] -> skip
		:: CANDIE -> goto died
		fi
	:: else -> skip
	fi;
	/* start(): svc half, then adopt(): one load per buffer header */
	KILL(CANDIE);
	for (k : 0 .. NBUF - 1) {
		if
		:: IS_OWNER(k, WORK, SV, g) -> adopted = adopted | (1 << k)
		:: else -> skip
		fi
	}
	k = 0;
	/* loop() */
	do
	:: true ->
		if
		:: term[me] && !draining -> draining = true   /* SIGTERM: DRAINING */
		:: else -> skip
		fi;
		if
		:: park != NONE ->
			/* flush_park (idle() naps while the link is full) */
			if
			:: space(L2) > 0 -> b = park; park = NONE
			:: CANDIE -> goto died
			fi
		:: park == NONE && adopted != 0 ->
			/* take_adopted */
			b = 0;
			do
			:: adopted & (1 << b) -> break
			:: else -> b++
			od;
			adopted = adopted & ~(1 << b)
		:: park == NONE && adopted == 0 && !draining && count(L1) > 0 ->
			/* take_inputs */
			dequeue(L1, SV, g, b, p, CANDIE)
		:: park == NONE && adopted == 0 && draining ->
			goto exited   /* idle(): draining, nothing held: exit 0 */
		:: park == NONE && adopted == 0 && !draining && count(L1) == 0 ->
end_idle:		/* dwcp_link_wait: input or SIGTERM wakes it */
			if
			:: count(L1) > 0 -> skip
			:: term[me] -> skip
			fi;
			goto next
		fi;
		/* run_steps: the step, in place (idempotent on its input) */
		KILL(CANDIE);
		/* forward: enqueue to L2, or park while it is full */
		if
		:: space(L2) > 0 -> enqueue(L2, b, p, CANDIE)
		:: else -> park = b
		fi;
next:
		b = 0; p = 0
	od;
exited:
	pstate[me] = P_DEAD;
	goto end_wait;
died:
	/* kill -9: the supervisor learns it from the pidfd */
	atomic { kills++; pstate[me] = P_DEAD; b = 0; p = 0; k = 0; g = 0; park = NONE; adopted = 0; draining = false };
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
		pstate[0] = P_RUN;
		go[0] = true;
		run client();
		run supervisor();
		run svc(0);
		run svc(1);
		run at_rest()
	}
}
