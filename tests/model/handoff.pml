/*
 * dwcp handoff / ownership / reclamation protocol, for spin.
 *
 * What is modelled: the path of the issue-2 crash test and of every
 * service hop — a client sends items through link L1 to a service S, S
 * does its step and sends them back through link L2, the client receives
 * them. S may be killed at ANY step (up to MAXDEATHS times); the
 * supervisor then runs the reclaimer beside the live client and restarts S
 * as the next generation, which adopts what was re-delivered to it.
 *
 * Each statement below is one shared-memory access of the C code, in the
 * order the C code does them; a `d_step`/`atomic` block is one CPU
 * instruction (a store, a load, or a CAS). The C functions modelled:
 *   dwcp_pool_alloc_burst / try_claim   -> client_alloc
 *   dwcp_link_enqueue_burst             -> enqueue (owner := LINK, slot write, tail publish)
 *   dwcp_link_dequeue_burst             -> dequeue (head, tail publish, CAS claim)
 *   dwcp_pool_free                      -> free
 *   dwcp_reclaim_slot / _decide         -> reclaimer
 *   dwcp_link_reset_producer/_consumer  -> reclaimer (reset)
 *   svc_runtime.c adopt()               -> service start
 *
 * Checked: no loss (every item is received), no duplication (no item is
 * received twice), no leak (every buffer FREE at the end), never two
 * owners (a buffer taken from the pool is in no ring), no deadlock (the
 * only end state is the client having received everything).
 */

#define NBUF 3          /* buffers in the pool */
#define NITEMS 3        /* items the client sends */
#define DEPTH 2         /* ring capacity */
#define POSMOD 8        /* free-running positions wrap here (u32 in C) */
#define MAXDEATHS 2

/* owner kinds */
#define FREE 0
#define HELD 1
#define WORK 2
#define LINK 3

/* slots */
#define CL 0
#define SV 1

/* links: L1 = CL -> SV, L2 = SV -> CL */
#define L1 0
#define L2 1

typedef owner_t { byte kind; byte id; byte low };   /* id: slot or link; low: gen or pos */
owner_t owner[NBUF];
byte item[NBUF];                                      /* payload: which item it carries */

byte ring[2 * DEPTH];                                 /* ring[l * DEPTH + pos % DEPTH] */
byte prod_head[2], prod_tail[2], cons_head[2], cons_tail[2];

byte gen = 0;            /* S's generation (supervisor half) */
bool sv_alive = true;
byte deaths = 0;
byte received[NITEMS];
byte sent = 0;
byte nreceived = 0;
bool reclaim_done = true;

#define count(l) ((prod_tail[l] + POSMOD - cons_tail[l]) % POSMOD)
#define space(l) (DEPTH - ((prod_head[l] + POSMOD - cons_tail[l]) % POSMOD))
#define in_ring(l, p) (((p) + POSMOD - cons_tail[l]) % POSMOD < count(l))
/* a before b, as (int32_t)(a - b) < 0 in C: within half the position space */
#define BEFORE(a, b) ((((b) + POSMOD - (a)) % POSMOD) >= 1 && (((b) + POSMOD - (a)) % POSMOD) <= POSMOD / 2)

/* never two owners: a buffer just taken from the pool is in no ring */
inline assert_not_in_rings(b) {
	byte k;
	for (k : 0 .. 1) {
		byte q = cons_tail[k];
		do
		:: q != prod_tail[k] -> assert(ring[k * DEPTH + q % DEPTH] != b); q = (q + 1) % POSMOD
		:: else -> break
		od
	}
}

/* ---- the client: never dies (a client's death frees all; re-sent end to end) */
active proctype client() {
	byte b, p, got;
	do
	:: sent < NITEMS && space(L1) > 0 ->
		/* dwcp_pool_alloc_burst: CAS FREE -> HELD(CL) */
		if
		:: atomic { owner[0].kind == FREE -> owner[0].kind = HELD; owner[0].id = CL; b = 0 }
		:: atomic { owner[1].kind == FREE -> owner[1].kind = HELD; owner[1].id = CL; b = 1 }
		:: atomic { owner[2].kind == FREE -> owner[2].kind = HELD; owner[2].id = CL; b = 2 }
		fi;
		assert_not_in_rings(b);
		item[b] = sent;
		sent++;
		/* dwcp_link_enqueue_burst: owner := LINK(L1, head), slot, head, tail */
		p = prod_head[L1];
		atomic { owner[b].kind = LINK; owner[b].id = L1; owner[b].low = p };
		ring[L1 * DEPTH + p % DEPTH] = b;
		prod_head[L1] = (p + 1) % POSMOD;
		prod_tail[L1] = prod_head[L1]
	:: count(L2) > 0 ->
		/* dwcp_link_dequeue_burst: read slot, head, tail publish, CAS claim */
		p = cons_head[L2];
		b = ring[L2 * DEPTH + p % DEPTH];
		cons_head[L2] = (p + 1) % POSMOD;
		cons_tail[L2] = cons_head[L2];
		atomic {
			if
			:: owner[b].kind == LINK && owner[b].id == L2 && owner[b].low == p ->
				owner[b].kind = WORK; owner[b].id = CL
			:: else -> assert(false)   /* a published entry was taken by someone else */
			fi
		};
		got = item[b];
		received[got]++;
		assert(received[got] == 1);     /* no duplication */
		nreceived++;
		/* dwcp_pool_free */
		atomic { owner[b].kind = FREE; owner[b].id = 0; owner[b].low = 0 }
	:: nreceived == NITEMS -> break
	od;
	/* end: no leak once the service is idle and no reclaim is running */
	(reclaim_done && count(L1) == 0 && count(L2) == 0);
	byte k;
	for (k : 0 .. NBUF - 1) { assert(owner[k].kind == FREE) }
}

/* ---- the service S: may die between any two statements ---- */
#define DIE_POINT if :: deaths < MAXDEATHS -> goto died :: true -> skip fi

active proctype service() {
	byte b, p, g, k;
start:
	/* attach: adopt WORK(SV, gen) (svc_runtime.c adopt) */
	g = gen;
	do
	:: true ->
		/* take work: an adopted buffer, or one from L1 */
		b = 255;
		for (k : 0 .. NBUF - 1) {
			if
			:: b == 255 && owner[k].kind == WORK && owner[k].id == SV && owner[k].low == g -> b = k
			:: else -> skip
			fi
		}
		DIE_POINT;
		if
		:: b == 255 && count(L1) > 0 ->
			p = cons_head[L1];
			b = ring[L1 * DEPTH + p % DEPTH];
			DIE_POINT;
			cons_head[L1] = (p + 1) % POSMOD;
			DIE_POINT;
			cons_tail[L1] = cons_head[L1];
			DIE_POINT;
			atomic {
				if
				:: owner[b].kind == LINK && owner[b].id == L1 && owner[b].low == p ->
					owner[b].kind = WORK; owner[b].id = SV; owner[b].low = g
				:: else -> assert(false)
				fi
			};
			DIE_POINT
		:: b == 255 && count(L1) == 0 -> goto idle
		:: b != 255 -> skip
		fi;
		/* the step (idempotent on its input) happens here */
		DIE_POINT;
		/* forward: dwcp_link_enqueue_burst to L2 (park while full) */
		(space(L2) > 0 || !sv_alive);
		p = prod_head[L2];
		atomic { owner[b].kind = LINK; owner[b].id = L2; owner[b].low = p };
		DIE_POINT;
		ring[L2 * DEPTH + p % DEPTH] = b;
		DIE_POINT;
		prod_head[L2] = (p + 1) % POSMOD;
		DIE_POINT;
		prod_tail[L2] = prod_head[L2];
		DIE_POINT
	od;
idle:
	if
	:: nreceived == NITEMS -> goto done
	:: count(L1) > 0 -> goto start
	:: deaths < MAXDEATHS -> goto died
	:: (count(L1) > 0 || nreceived == NITEMS) -> goto start
	fi;
died:
	/* kill -9: the supervisor learns it from the pidfd and reclaims */
	deaths++;
	sv_alive = false;
	reclaim_done = false;
	/* dwcp_link_reset_producer(SV -> CL), dwcp_link_reset_consumer(CL -> SV) */
	prod_head[L2] = prod_tail[L2];
	cons_head[L1] = cons_tail[L1];
	/* dwcp_reclaim_slot: one CAS per buffer, beside the live client */
	for (k : 0 .. NBUF - 1) {
		byte kind, id, low, pt, ct;
		atomic { kind = owner[k].kind; id = owner[k].id; low = owner[k].low };
		pt = prod_tail[L2];
		ct = cons_tail[L1];
		atomic {
			if
			:: owner[k].kind == kind && owner[k].id == id && owner[k].low == low ->
				if
				:: kind == HELD && id == SV && low == g -> owner[k].kind = FREE; owner[k].id = 0; owner[k].low = 0
				:: kind == WORK && id == SV && low == g -> owner[k].low = g + 1
				:: kind == LINK && id == L2 && !BEFORE(low, pt) ->   /* never published */
					owner[k].kind = WORK; owner[k].id = SV; owner[k].low = g + 1
				:: kind == LINK && id == L1 && BEFORE(low, ct) ->    /* dequeued, never claimed */
					owner[k].kind = WORK; owner[k].id = SV; owner[k].low = g + 1
				:: else -> skip
				fi
			:: else -> skip
			fi
		}
	}
	gen = g + 1;
	reclaim_done = true;
	sv_alive = true;
	goto start;
done:
	skip
}
