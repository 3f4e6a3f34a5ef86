#include "CFabricSystem.h"
#include <sys/prctl.h>

// prctl is variadic, which Swift cannot call.
int fab_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0); }

// Sleeps end up to the timer slack (50 us by default) late; injected delays want them exact.
int fab_set_timer_slack_ns(unsigned long nanoseconds) { return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0); }
