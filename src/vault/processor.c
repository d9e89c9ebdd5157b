/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The little the processor connector interface (processor.h) needs in code:
 * names shared by every connector, for webhooks, audit and logs.
 */
#include "vault/processor.h"

const char *sr_proc_event_kind_name(enum sr_proc_event_kind kind)
{
	switch (kind) {
	case SR_PROC_EVENT_PAYOUT_FAILED: return "payout.failed";
	case SR_PROC_EVENT_PAYOUT_RETURNED: return "payout.returned";
	}
	return "unknown";
}
