#include "CFabricSystem.h"
#include <gnu/libc-version.h>

// A read the compiler may not hoist out of a spin loop: the byte changes under the program
// when a peer's RDMA write lands (Swift has no volatile loads).
uint8_t fab_load_volatile_u8(const volatile uint8_t *p) { return *p; }

const char *fab_libc_version(void) { return gnu_get_libc_version(); }
