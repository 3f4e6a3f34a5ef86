// Plain C loops: the references the Swift kernels are measured against (Benchmarks only).
#ifndef CREFERENCE_H
#define CREFERENCE_H
#include <stddef.h>
void reference_add_float(float *a, const float *b, size_t n);
#endif
