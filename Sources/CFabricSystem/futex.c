#define _GNU_SOURCE
#include "CFabricSystem.h"
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Swift cannot call the variadic syscall(2). Shared futexes (no FUTEX_PRIVATE_FLAG): the word
// lives in memory mapped by several processes.

int fab_futex_wait(uint32_t *word, uint32_t expected, int32_t timeout_ms) {
    struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
    return syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout_ms < 0 ? NULL : &ts, NULL, 0) == 0 ? 0 : errno;
}

int fab_futex_wake(uint32_t *word, int32_t count) {
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return rc < 0 ? -errno : (int)rc;
}
