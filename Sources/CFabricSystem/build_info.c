// The git commit this binary was built from. scripts/package.sh writes build_commit.h
// (.gitignored) before building, so no generated file is ever committed and a build from a
// plain checkout, or from a source tree without git, still compiles and says "unknown".
#if __has_include("build_commit.h")
#include "build_commit.h"
#endif
#ifndef FABRICBENCH_COMMIT
#define FABRICBENCH_COMMIT "unknown"
#endif

const char *fab_build_commit(void) { return FABRICBENCH_COMMIT; }
