#include "CReference.h"

// a[i] += b[i], as a C programmer would write it; built with the package's optimisation level.
void reference_add_float(float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}
