/* Display names for the enums of the shared ABI. */
#include "ipc/ctl_block.h"
#include "ipc/stats.h"

const char *dwcp_state_name(enum dwcp_state st)
{
	static const char *const n[] = {
		[DWCP_STATE_EMPTY] = "EMPTY", [DWCP_STATE_STARTING] = "STARTING",
		[DWCP_STATE_READY] = "READY", [DWCP_STATE_STANDBY] = "STANDBY",
		[DWCP_STATE_DRAINING] = "DRAINING", [DWCP_STATE_DEAD] = "DEAD",
		[DWCP_STATE_STOPPED] = "STOPPED",
	};

	return (unsigned)st < sizeof(n) / sizeof(n[0]) ? n[st] : "?";
}

const char *dwcp_stats_name(enum dwcp_stat_counter c)
{
	static const char *const n[DWCP_STAT_N] = {
		[DWCP_STAT_OPS] = "ops", [DWCP_STAT_BYTES] = "bytes",
		[DWCP_STAT_ERRORS] = "errors", [DWCP_STAT_DEQUEUED] = "dequeued",
		[DWCP_STAT_ENQUEUED] = "enqueued", [DWCP_STAT_LINK_FULL] = "link_full",
		[DWCP_STAT_SLEEPS] = "sleeps", [DWCP_STAT_WAKEUPS] = "wakeups",
		[DWCP_STAT_REDELIVERED] = "redelivered",
	};

	return (unsigned)c < DWCP_STAT_N ? n[c] : "?";
}
