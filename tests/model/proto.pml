/*
 * Shared pieces of the dwcp protocol models (upgrade.pml, outofplace.pml,
 * keep.pml, clientdeath.pml; handoff.pml predates this file and carries
 * its own copy of the same statements). Included by cpp: each model
 * defines NBUF, DEPTH, POSMOD first.
 *
 * Topology, as in handoff.pml: a client slot CL and a service slot SV,
 * link L1 = CL -> SV and L2 = SV -> CL. Each statement is one shared-memory
 * access of the C code, in the C order; an `atomic` block is one CPU
 * instruction (a store, a load or a CAS of an owner word).
 *
 * Kill points: a process can be killed (kill -9) after any of its shared
 * stores. Killing it anywhere between two stores is the same as killing it
 * right after the first (what it leaves behind is the same), so the
 * inlines take a guard CANDIE (an expression: may this process die here?)
 * and jump to the caller's `died` label.
 *
 * C functions modelled here (each names this file in a comment):
 *   dwcp_pool_alloc_burst / try_claim  -> pool_alloc   (ipc/pool.c)
 *   dwcp_pool_free                     -> pool_free    (ipc/pool.c)
 *   dwcp_link_enqueue_burst            -> enqueue      (ipc/link.h)
 *   dwcp_link_dequeue_burst            -> dequeue      (ipc/link.h)
 *   dwcp_link_reset_producer/_consumer -> reclaim      (ipc/link.c)
 *   dwcp_reclaim_slot / _decide        -> reclaim      (ipc/reclaim.c)
 *   reclaim.c drain_inputs             -> drain_input  (ipc/reclaim.c)
 *   children.c drain_orphan_results    -> drain_input  (svc-supervisor/children.c)
 * Bursts are modelled with one buffer each.
 */

#define FREE 0
#define HELD 1
#define WORK 2
#define LINK 3

#define CL 0
#define SV 1
#define L1 0            /* CL -> SV */
#define L2 1            /* SV -> CL */
#define SRC(l) ((l) == L1 -> CL : SV)
#define DST(l) ((l) == L1 -> SV : CL)
#define NONE 255

typedef owner_t { byte kind; byte id; byte low };   /* id: slot or link; low: gen or pos */
owner_t owner[NBUF];
byte item[NBUF];        /* payload: which item (sequence number) it carries */

byte ring[2 * DEPTH];   /* ring[l * DEPTH + pos % DEPTH] */
byte prod_head[2], prod_tail[2], cons_head[2], cons_tail[2];

#define count(l) ((prod_tail[l] + POSMOD - cons_tail[l]) % POSMOD)
#define space(l) (DEPTH - ((prod_head[l] + POSMOD - cons_tail[l]) % POSMOD))
/* a before b, as (int32_t)(a - b) < 0 in C: within half the position space */
#define BEFORE(a, b) ((((b) + POSMOD - (a)) % POSMOD) >= 1 && (((b) + POSMOD - (a)) % POSMOD) <= POSMOD / 2)

#define SET_OWNER(b, k, i, l) owner[b].kind = k; owner[b].id = i; owner[b].low = l
#define IS_OWNER(b, k, i, l) (owner[b].kind == k && owner[b].id == i && owner[b].low == l)

/* a model may note something in the same instruction as the LINK store */
#ifndef ENQ_HOOK
#define ENQ_HOOK(l, b) skip
#endif

#define KILL(CANDIE) if :: CANDIE -> goto died :: true -> skip fi

/* never two owners: a buffer just taken from the pool is in no ring
 * (the caller declares byte _q) */
inline assert_not_in_rings(b) {
	_q = cons_tail[L1];
	do
	:: _q != prod_tail[L1] -> assert(ring[L1 * DEPTH + _q % DEPTH] != b); _q = (_q + 1) % POSMOD
	:: else -> break
	od;
	_q = cons_tail[L2];
	do
	:: _q != prod_tail[L2] -> assert(ring[L2 * DEPTH + _q % DEPTH] != b); _q = (_q + 1) % POSMOD
	:: else -> break
	od;
	_q = 0
}

/* dwcp_pool_alloc_burst (one buffer): try_claim's CAS FREE -> HELD(who, g)
 * on any free buffer; b = NONE when none is free (the callers retry).
 * The caller declares byte _q. */
#define TRY_CLAIM(k) :: owner[k].kind == FREE -> b = k
inline pool_alloc(who, g, b) {
	atomic {
		if
		TRY_CLAIM(0)
#if NBUF > 1
		TRY_CLAIM(1)
#endif
#if NBUF > 2
		TRY_CLAIM(2)
#endif
#if NBUF > 3
		TRY_CLAIM(3)
#endif
#if NBUF > 4
		TRY_CLAIM(4)
#endif
#if NBUF > 5
		TRY_CLAIM(5)
#endif
		:: else -> b = NONE
		fi;
		if
		:: b != NONE -> SET_OWNER(b, HELD, who, g)
		:: else -> skip
		fi
	};
	if
	:: b != NONE -> assert_not_in_rings(b)
	:: else -> skip
	fi
}

/* dwcp_pool_free: one store (the free-map bit after it is advisory) */
inline pool_free(b) {
	atomic { SET_OWNER(b, FREE, 0, 0) }
}

/* dwcp_link_enqueue_burst (one buffer; the caller saw space(l) > 0):
 * owner := LINK(l, head), then rte_ring's SP enqueue: head, slot, tail. */
inline enqueue(l, b, p, CANDIE) {
	p = prod_head[l];
	atomic { SET_OWNER(b, LINK, l, p); ENQ_HOOK(l, b) };
	KILL(CANDIE);
	prod_head[l] = (p + 1) % POSMOD;
	KILL(CANDIE);
	ring[l * DEPTH + p % DEPTH] = b;
	KILL(CANDIE);
	prod_tail[l] = prod_head[l];
	KILL(CANDIE)
}

/* dwcp_link_dequeue_burst (one buffer; the caller saw count(l) > 0):
 * rte_ring's SC dequeue (head, slot, tail publish), then the claim CAS
 * LINK(l, pos) -> WORK(who, g). The C ignores a failed CAS (protocol
 * broken); the model asserts it never fails. */
inline dequeue(l, who, g, b, p, CANDIE) {
	p = cons_head[l];
	cons_head[l] = (p + 1) % POSMOD;
	KILL(CANDIE);
	b = ring[l * DEPTH + p % DEPTH];
	cons_tail[l] = cons_head[l];
	KILL(CANDIE);
	atomic {
		if
		:: IS_OWNER(b, LINK, l, p) -> SET_OWNER(b, WORK, who, g)
		:: else -> assert(false)   /* a published entry was taken by someone else */
		fi
	};
	KILL(CANDIE)
}

/* dwcp_reclaim_slot(slot s, dead gen dg, next gen dg + 1, redeliver):
 * reset_links (dwcp_link_reset_producer of s's output link, _consumer of
 * its input link), then for each buffer: load the owner word, load the
 * tails of the link it names (link_tails), decide (dwcp_reclaim_decide),
 * CAS from the value loaded. Runs beside the live processes. */
inline reclaim(s, dg, redeliver) {
	byte _k, _kind, _id, _low, _pt, _ct;
	if
	:: s == SV -> prod_head[L2] = prod_tail[L2]; cons_head[L1] = cons_tail[L1]
	:: s == CL -> prod_head[L1] = prod_tail[L1]; cons_head[L2] = cons_tail[L2]
	fi;
	for (_k : 0 .. NBUF - 1) {
		atomic { _kind = owner[_k].kind; _id = owner[_k].id; _low = owner[_k].low };
		if
		:: _kind == LINK -> _pt = prod_tail[_id]; _ct = cons_tail[_id]
		:: else -> _pt = 0; _ct = 0
		fi;
		atomic {
			if
			:: IS_OWNER(_k, _kind, _id, _low) ->
				if
				:: _kind == HELD && _id == s && _low == dg -> SET_OWNER(_k, FREE, 0, 0)
				:: _kind == WORK && _id == s && _low == dg ->
					if
					:: redeliver -> owner[_k].low = dg + 1
					:: else -> SET_OWNER(_k, FREE, 0, 0)
					fi
				:: _kind == LINK && SRC(_id) == s && !BEFORE(_low, _pt) ->   /* never published */
					if
					:: redeliver -> SET_OWNER(_k, WORK, s, dg + 1)
					:: else -> SET_OWNER(_k, FREE, 0, 0)
					fi
				:: _kind == LINK && DST(_id) == s && BEFORE(_low, _ct) ->    /* dequeued, never claimed */
					if
					:: redeliver -> SET_OWNER(_k, WORK, s, dg + 1)
					:: else -> SET_OWNER(_k, FREE, 0, 0)
					fi
				:: else -> skip
				fi
			:: else -> skip
			fi
		}
	};
	_k = 0; _kind = 0; _id = 0; _low = 0; _pt = 0; _ct = 0
}

#define ANYFREE (owner[0].kind == FREE || (NBUF > 1 && owner[1 % NBUF].kind == FREE) || \
		 (NBUF > 2 && owner[2 % NBUF].kind == FREE) || (NBUF > 3 && owner[3 % NBUF].kind == FREE) || \
		 (NBUF > 4 && owner[4 % NBUF].kind == FREE) || (NBUF > 5 && owner[5 % NBUF].kind == FREE))

/* reclaim.c drain_inputs, and children.c drain_orphan_results: the
 * supervisor stands in as the consumer of a dead client's input link l
 * (nobody else consumes it while the slot is empty) and frees what it
 * takes. The caller declares byte _db, _dp. */
inline drain_input(l, who, g) {
	do
	:: count(l) > 0 ->
		dequeue(l, who, g, _db, _dp, false);
		pool_free(_db)
	:: else -> break
	od;
	_db = 0; _dp = 0
}
