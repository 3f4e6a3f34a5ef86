#include "CFabricSystem.h"
#include <sys/prctl.h>

// prctl is variadic, which Swift cannot call.
int fab_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0); }
