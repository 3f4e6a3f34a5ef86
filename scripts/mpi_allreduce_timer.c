/* Minimal MPI_Allreduce timer, the reference for scripts/bench-allreduce.sh.
 * For each size (bytes, float32 sum): warm up, time a loop, report the max over ranks of the
 * per-iteration mean in microseconds, and busbw = size / time * 2(n-1)/n (GB/s = 1e9 B/s).
 * Usage: mpirun -np N mpi_allreduce_timer MIN_BYTES MAX_BYTES FACTOR */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    long min = argc > 1 ? atol(argv[1]) : 8, max = argc > 2 ? atol(argv[2]) : 1 << 20, factor = argc > 3 ? atol(argv[3]) : 2;
    float *in = malloc(max), *out = malloc(max);
    for (long i = 0; i < max / 4; i++) in[i] = (float)(i % 7);
    memset(out, 0, max);
    if (rank == 0) printf("# bytes time_us busbw_gbps iterations\n");
    for (long bytes = min; bytes <= max; bytes *= factor) {
        int count = (int)(bytes / 4);
        long iterations = (1L << 30) / bytes;
        if (iterations > 1000) iterations = 1000;
        if (iterations < 5) iterations = 5;
        for (int i = 0; i < 5; i++) MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (long i = 0; i < iterations; i++) MPI_Allreduce(in, out, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double mean = (MPI_Wtime() - t0) / iterations * 1e6, slowest;
        MPI_Reduce(&mean, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) printf("%ld %.2f %.4f %ld\n", bytes, slowest, bytes / (slowest * 1e-6) / 1e9 * 2.0 * (n - 1) / n, iterations);
        fflush(stdout);
    }
    free(in);
    free(out);
    MPI_Finalize();
    return 0;
}
