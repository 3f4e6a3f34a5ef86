// Malloc interposition for the allocation tests, in the test binary only: these definitions
// take the place of libc's for the whole test process (the executable comes first in symbol
// lookup) and forward to glibc's __libc_* entry points, which never recurse into them.
// AddressSanitizer and ThreadSanitizer replace malloc themselves, so under them (and off glibc)
// nothing is replaced and the tests that need counting skip.
#include "allocation_counter.h"

#include <errno.h>
#include <stddef.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#    define ALLOCATION_COUNTER_SANITIZED 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define ALLOCATION_COUNTER_SANITIZED 1
#endif

#if defined(__GLIBC__) && !defined(ALLOCATION_COUNTER_SANITIZED)

// Thread-local, so ranks running as threads of one test each count only their own loop.
static __thread int counting;
static __thread int paused;
static __thread uint64_t allocations;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define COUNT() do { if (counting && !paused) allocations += 1; } while (0)

void *malloc(size_t size) { COUNT(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { COUNT(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { COUNT(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { COUNT(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { COUNT(); return __libc_memalign(alignment, size); }
void *valloc(size_t size) { COUNT(); return __libc_valloc(size); }
void *pvalloc(size_t size) { COUNT(); return __libc_pvalloc(size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    // posix_memalign's own contract: a power of two, a multiple of sizeof(void *).
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    COUNT();
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

int allocation_counter_available(void) { return 1; }
void allocation_counter_start(void) { allocations = 0; paused = 0; counting = 1; }
uint64_t allocation_counter_stop(void) { counting = 0; return allocations; }
void allocation_counter_pause(void) { paused += 1; }
void allocation_counter_resume(void) { paused -= 1; }

#else

int allocation_counter_available(void) { return 0; }
void allocation_counter_start(void) {}
uint64_t allocation_counter_stop(void) { return 0; }
void allocation_counter_pause(void) {}
void allocation_counter_resume(void) {}

#endif
