// CFabricSystem: the thin C layer every module may use. Only what Swift cannot express well
// lives here: vDSO/TSC clock reads, CPU affinity, sockaddr plumbing, a volatile load and the
// futex system call.
#ifndef CFABRIC_SYSTEM_H
#define CFABRIC_SYSTEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- build ----
/// The git commit the binary was built from (scripts/package.sh), else "unknown".
const char *fab_build_commit(void);

// ---- clocks ----
uint64_t fab_clock_monotonic_raw_ns(void);
uint64_t fab_rdtsc(void);
/// 1 when CPUID reports an invariant TSC (leaf 0x80000007, EDX bit 8), else 0.
int fab_tsc_is_invariant(void);

// ---- CPU placement ----
/// Pins the calling thread to one CPU. Returns 0 or an errno value.
int fab_pin_thread_to_cpu(int cpu);
/// The CPU the calling thread last ran on, or -1.
int fab_current_cpu(void);

// ---- sockets ----
/// Resolves host:port (numeric or name, IPv4 or IPv6) into storage. Returns 0 or a
/// getaddrinfo error code (see fab_gai_strerror). passive=1 allows a NULL host (any address).
int fab_resolve(const char *host, int port, int passive, struct sockaddr_storage *out, socklen_t *out_len);
const char *fab_gai_strerror(int code);
/// Formats an address as "host:port" ("[v6]:port" for IPv6) into buf.
void fab_format_sockaddr(const struct sockaddr *addr, char *buf, size_t len);
int fab_set_nonblocking(int fd);
/// accept4 with SOCK_CLOEXEC, plus SOCK_NONBLOCK when nonblocking != 0.
int fab_accept(int fd, struct sockaddr *addr, socklen_t *len, int nonblocking);
/// Flags for send(2) that never raise SIGPIPE, optionally with MSG_DONTWAIT.
int fab_send_flags(int dontwait);
/// The IPv4/IPv6 address of a named interface into buf (numeric). Returns 0, or -1 when
/// the interface has no such address, or an errno value.
int fab_interface_address(const char *ifname, int family, char *buf, size_t len);

// ---- memory ----
/// Volatile byte read, for polling memory a peer writes by RDMA.
uint8_t fab_load_volatile_u8(const volatile uint8_t *p);

// ---- processes ----
/// The calling process gets `signal` when its parent dies (PR_SET_PDEATHSIG). 0 or -1.
int fab_set_parent_death_signal(int signal);
int fab_set_timer_slack_ns(unsigned long nanoseconds);

// ---- futex (shared between processes, not FUTEX_PRIVATE) ----
/// Sleeps while *word == expected, for at most timeout_ms (negative: no limit). Returns 0
/// when woken, else errno (EAGAIN: the word had changed; ETIMEDOUT; EINTR).
int fab_futex_wait(uint32_t *word, uint32_t expected, int32_t timeout_ms);
/// Wakes up to count sleepers on word. Returns how many woke, or -errno.
int fab_futex_wake(uint32_t *word, int32_t count);

// ---- libraries ----
/// glibc's version string.
const char *fab_libc_version(void);

#ifdef __cplusplus
}
#endif
#endif
