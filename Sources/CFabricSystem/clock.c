#define _GNU_SOURCE
#include "CFabricSystem.h"
#include <time.h>
#include <sched.h>
#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

uint64_t fab_clock_monotonic_raw_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t fab_rdtsc(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int aux;
    return __rdtscp(&aux);  // waits for earlier instructions, unlike plain rdtsc
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return fab_clock_monotonic_raw_ns();
#endif
}

int fab_tsc_is_invariant(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007) return 0;
    __get_cpuid(0x80000007, &a, &b, &c, &d);
    return (d >> 8) & 1;
#elif defined(__aarch64__)
    return 1;  // the generic timer is architecturally constant-rate
#else
    return 0;
#endif
}

int fab_pin_thread_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int fab_current_cpu(void) { return sched_getcpu(); }
