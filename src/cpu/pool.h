/* The CPU backend's thread pool. Work is cut into tasks whose boundaries do
 * not depend on the thread count, each task writes its own outputs (or its
 * own slot of partial results, combined afterwards in task order), so every
 * thread count gives the same bits. */
#ifndef MXB_CPU_POOL_H
#define MXB_CPU_POOL_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Threads the CPU backend uses: MXBLAS_NUM_THREADS, read once (default: the
 * online CPUs, at most MXB_CPU_DEFAULT_THREADS), unless overridden. */
#define MXB_CPU_MAX_THREADS 256
#define MXB_CPU_DEFAULT_THREADS 64
int mxb_cpu_threads(void);
/* Process-wide override for tests and benchmarks (n < 1: back to the
 * environment's count). */
void mxb_cpu_set_threads(int n);

/* How many threads (the caller included) should share ntasks tasks of
 * `work` elementary operations in all: 1 for small work, so that tiny calls
 * stay on the calling thread and start no thread. Scratch for that many
 * threads is what the caller allocates. */
int mxb_cpu_plan(int64_t ntasks, double work);

/* Runs fn(arg, task, slot) for every task in [0, ntasks) on at most
 * `threads` threads (the caller is slot 0; slot < threads). Tasks are handed
 * out in any order. When the pool is busy with another caller's work, the
 * calling thread runs every task itself (slot 0). */
typedef void (*mxb_task_fn)(void *arg, int64_t task, int slot);
void mxb_cpu_run(int threads, int64_t ntasks, mxb_task_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
