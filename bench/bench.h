/* A small C registration API over Google Benchmark (bench/shim.cc).
 * Benchmark files are plain C: each registers its cases from a constructor
 * function, e.g.
 *   static void run(mxbb_state *s, void *arg) {
 *     while (mxbb_keep_running(s)) { ...; mxbb_set_iteration_time(s, secs); }
 *     mxbb_set_bytes_processed(s, mxbb_iterations(s) * bytes_per_iter);
 *   }
 *   MXBB_CONSTRUCTOR static void reg(void) { mxbb_register("cpu/quantize/nvfp4", run, NULL, 0); }
 */
#ifndef MXB_BENCH_H
#define MXB_BENCH_H
#include <stdint.h>

#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MXBB_CONSTRUCTOR __attribute__((constructor))

typedef struct mxbb_state mxbb_state;
typedef void (*mxbb_fn)(mxbb_state *s, void *arg);

/* manual_time: the body reports each iteration's time (CUDA events). */
void mxbb_register(const char *name, mxbb_fn fn, void *arg, int manual_time);
int mxbb_keep_running(mxbb_state *s);
int64_t mxbb_iterations(mxbb_state *s);
void mxbb_set_iteration_time(mxbb_state *s, double seconds);
void mxbb_set_bytes_processed(mxbb_state *s, int64_t bytes); /* total, all iterations */
void mxbb_set_items_processed(mxbb_state *s, int64_t items);
/* A named counter; is_rate divides by the measured time (per second). */
void mxbb_counter(mxbb_state *s, const char *name, double value, int is_rate);
void mxbb_skip(mxbb_state *s, const char *reason);
/* A label shown next to the result and stored in the JSON (e.g. the path that ran). */
void mxbb_set_label(mxbb_state *s, const char *label);
void mxbb_pause(mxbb_state *s);
void mxbb_resume(mxbb_state *s);
/* Key/value written to the JSON "context" (device, commit, ...). */
void mxbb_add_context(const char *key, const char *value);

/* A host tensor of format f, rows x cols, linear scale layout, its planes
 * from malloc and its amax (where it has one) at *amax: 1, or 0 with nothing
 * left allocated. */
int mxbb_host_tensor(mxb_format_t f, int64_t rows, int64_t cols, mxb_tensor_t *t, float *amax);
void mxbb_host_tensor_free(mxb_tensor_t *t);

#ifdef __cplusplus
}
#endif
#endif
