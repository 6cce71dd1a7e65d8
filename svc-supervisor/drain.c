/* `dwcpctl drain SVC` and `dwcpctl resume SVC`: the slot's drain flag.
 *
 * DRAIN sets the flag in the slot's supervisor half and wakes the
 * service; its runtime (ipc/svc_runtime.c) then takes no new input, shows
 * DRAINING (so routing sends steps with another engine there, and
 * producers' work waits in its input links, in shared memory), finishes
 * what it holds, and sleeps. The request is answered once the service
 * holds no buffer at all (HELD or WORK: parked outputs, retries, a
 * transmitted chunk waiting for its ACK), or with an error after its
 * timeout — the flag stays set then, the operator decides. The flag
 * belongs to the slot, not the process: a restart or an upgrade of a
 * drained service stays drained. RESUME clears it and is answered once
 * the service says READY (or STANDBY) again.
 *
 * Both answers come from the heartbeat tick (sup_drain_check), so they
 * are late by at most one heartbeat period; nothing here waits.
 */
#include <errno.h>
#include <stdio.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ipc/link.h"
#include "ipc/pool.h"
#include "sup_internal.h"

#define RESUME_TIMEOUT_MS 10000u

static struct dwcp_slot *pub(const struct sup_child *c)
{
	return &c->sup->shm.ctl->slots[c->slot];
}

/* The slot named by a DRAIN/RESUME, or NULL after answering why not. */
static struct sup_child *target(struct sup_conn *cn, enum dwcp_ctl_type t, const char *name)
{
	int slot = sup_slot_by_name(cn->sup, name);
	struct sup_child *c;

	if (slot < 0) {
		sup_control_reply(cn, t, -EINVAL, "'%s' is not a dwcp service (%s)", name,
				  SUP_SERVICE_NAMES);
		return NULL;
	}
	c = &cn->sup->child[slot];
	if (!c->enabled) {
		sup_control_reply(cn, t, -ESRCH, "%s is not enabled in [services] of instance '%s'",
				  name, cn->sup->cfg.instance);
		return NULL;
	}
	if (c->pending.cn || sup_upgrade_busy(c)) {
		sup_control_reply(cn, t, -EBUSY,
				  "another dwcpctl command on %s (%s) is in progress; retry when it is done",
				  name, sup_upgrade_busy(c) ? "upgrade" : "drain or resume");
		return NULL;
	}
	return c;
}

static void set_flag(struct sup_child *c, uint32_t v)
{
	__atomic_store_n(&pub(c)->sup.drain, v, __ATOMIC_RELEASE);
	/* It may sleep on its wakeup word: the flag is news to it. */
	dwcp_link_notify(&c->sup->shm, c->slot);
}

void sup_drain_request(struct sup_conn *cn, const struct dwcp_ctl_req *req)
{
	struct sup_child *c = target(cn, DWCP_CTL_DRAIN, req->u.drain.name);

	if (!c)
		return;
	DWCP_INFO("%s: drain requested (answer within %u ms)", pub(c)->sup.name,
		  req->u.drain.timeout_ms);
	set_flag(c, 1);
	sup_control_defer(c, cn, DWCP_CTL_DRAIN, req->u.drain.timeout_ms);
}

void sup_drain_resume(struct sup_conn *cn, const struct dwcp_ctl_req *req)
{
	struct sup_child *c = target(cn, DWCP_CTL_RESUME, req->u.target.name);

	if (!c)
		return;
	if (!__atomic_load_n(&pub(c)->sup.drain, __ATOMIC_ACQUIRE)) {
		sup_control_reply(cn, DWCP_CTL_RESUME, 0, "%s was not drained",
				  req->u.target.name);
		return;
	}
	DWCP_INFO("%s: resume requested", pub(c)->sup.name);
	set_flag(c, 0);
	sup_control_defer(c, cn, DWCP_CTL_RESUME, RESUME_TIMEOUT_MS);
}

/* Buffers waiting in the slot's input links (they are the links', not
 * the service's). */
static unsigned queued_for(const struct sup_child *c)
{
	unsigned n = 0;

	for (unsigned src = 0; src < DWCP_MAX_SLOTS; src++)
		if (src != c->slot)
			n += dwcp_link_count(&c->sup->shm, src, c->slot);
	return n;
}

static void check_drain(struct sup_child *c, uint64_t now)
{
	const struct dwcp_slot *p = pub(c);
	enum dwcp_state st = dwcp_slot_state(p);
	unsigned held = dwcp_pool_count_slot(&c->sup->shm, c->slot);
	double waited = (now - c->pending.t0_ns) / 1e6;

	if (st == DWCP_STATE_DRAINING && held == 0) {
		sup_control_answer(c, 0,
				   "%s drained in %.0f ms: it holds no buffers and takes no new input (%u wait in its input links); `dwcpctl resume %s` to undo",
				   p->sup.name, waited, queued_for(c), p->sup.name);
		return;
	}
	if (now < c->pending.deadline_ns)
		return;
	sup_control_answer(c, -ETIMEDOUT,
			   "%s not drained after %.0f ms: it is %s and still holds %u buffers (outputs waiting for room downstream, or chunks waiting for their ACK); it stays drained: run drain again to wait longer, or `dwcpctl resume %s`",
			   p->sup.name, waited, dwcp_state_name(st), held, p->sup.name);
}

static void check_resume(struct sup_child *c, uint64_t now)
{
	const struct dwcp_slot *p = pub(c);
	enum dwcp_state st = dwcp_slot_state(p);

	if (st == DWCP_STATE_READY || st == DWCP_STATE_STANDBY) {
		sup_control_answer(c, 0, "%s resumed: %s", p->sup.name, dwcp_state_name(st));
		return;
	}
	if (!c->pid) {
		sup_control_answer(c, 0, "%s is %s: it will take input as soon as it runs",
				   p->sup.name, dwcp_state_name(st));
		return;
	}
	if (now >= c->pending.deadline_ns)
		sup_control_answer(c, -ETIMEDOUT,
				   "%s was told to resume %u ms ago and is still %s; see `dwcpctl status`",
				   p->sup.name, RESUME_TIMEOUT_MS, dwcp_state_name(st));
}

void sup_drain_check(struct sup_child *c, uint64_t now)
{
	if (!c->pending.cn)
		return;
	if (c->pending.type == DWCP_CTL_DRAIN)
		check_drain(c, now);
	else if (c->pending.type == DWCP_CTL_RESUME)
		check_resume(c, now);
	else if (c->pending.type == DWCP_CTL_UPGRADE && now >= c->pending.deadline_ns)
		sup_control_answer(c, -ETIMEDOUT,
				   "the upgrade of %s did not finish in time; see `dwcpctl status` and the supervisor log",
				   pub(c)->sup.name);
}
