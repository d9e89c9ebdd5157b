/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_ASSERT_H
#define SR_BASE_ASSERT_H

/*
 * SR_ASSERT: always-on security and money invariants; a failure aborts.
 * SR_DASSERT: debug-only invariants (compiled out with NDEBUG).
 * SR_ALWAYS / SR_NEVER: defensive branches that tests can still reach; in
 * debug builds they abort, in release they evaluate to the condition.
 * No side effects inside assertions.
 */
#include <stdlib.h>

void sr_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define SR_ASSERT(x) ((x) ? (void)0 : sr_assert_fail(#x, __FILE__, __LINE__))
#ifdef NDEBUG
#define SR_DASSERT(x) ((void)0)
#define SR_ALWAYS(x)  (!!(x))
#define SR_NEVER(x)   (!!(x))
#else
#define SR_DASSERT(x) SR_ASSERT(x)
#define SR_ALWAYS(x)  ((x) ? 1 : (sr_assert_fail(#x, __FILE__, __LINE__), 0))
#define SR_NEVER(x)   ((x) ? (sr_assert_fail("!(" #x ")", __FILE__, __LINE__), 1) : 0)
#endif

#endif
