#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

#include <stdint.h>

/// Test-only: counts the calling thread's heap allocations (malloc and its relatives) between
/// start and stop. The test process's allocation functions are replaced by counting ones that
/// forward to glibc's own; other threads are not counted.

/// 1 when the counting functions are linked in (glibc, no sanitizer that owns malloc), else 0.
int allocation_counter_available(void);
/// Starts counting this thread's allocations from zero.
void allocation_counter_start(void);
/// Stops counting; returns the allocations this thread made since start.
uint64_t allocation_counter_stop(void);
/// Leaves this thread's allocations out of the count until the matching resume (nests).
void allocation_counter_pause(void);
void allocation_counter_resume(void);

#endif
