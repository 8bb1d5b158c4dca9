/* One context shared by several threads (include/mxblas.h, "Threads"):
 * every operation may run concurrently on one context, each thread gets the
 * results it would get alone, and mxb_context_last_impl answers for the
 * calling thread. The same work runs under ThreadSanitizer in
 * `make test-tsan`. */
#include "threads_work.h"
#include "testutil.h"

Test(threads, one_context_shared_by_eight_threads) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  char msg[400];
  cr_assert_eq(mxbt_th_shared_context(ctx, 8, msg, sizeof(msg)), 0, "%s", msg);
  mxb_context_destroy(ctx);
}

static void *quantize_once(void *arg) {
  mxbt_th_job *j = arg;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  MXBT_TH_RUN(j, mxb_quantize(j->ctx, &cfg, MXB_DTYPE_FP32, j->x, &j->q.t, NULL, 0, NULL));
  j->impl_after = mxb_context_last_impl(j->ctx);
  return NULL;
}

/* mxb_context_last_impl names the calling thread's last successful call,
 * when it was on that context: another thread's calls do not show, nor do
 * this thread's calls on another context, nor a failed call. */
Test(threads, last_impl_is_per_thread_and_per_context) {
  mxb_context_t *ctx = NULL, *other = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &other), MXB_SUCCESS);
  mxbt_th_job *j = mxbt_th_job_new(ctx, 0);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, quantize_once, j), 0);
  cr_assert_eq(pthread_join(th, NULL), 0);
  cr_assert_eq(j->failed[0], 0, "%s", j->failed);
  cr_assert_str_eq(j->impl_after, "cpu-reference");
  cr_assert_str_eq(mxb_context_last_impl(ctx), "none", "the other thread's call shows on this thread");

  quantize_once(j);
  cr_assert_str_eq(mxb_context_last_impl(ctx), "cpu-reference");
  cr_assert_str_eq(mxb_context_last_impl(other), "none", "a call on ctx shows on another context");
  float amax;
  cr_assert_eq(mxb_amax(other, MXB_DTYPE_FP32, j->x, 0, &amax, NULL), MXB_ERR_BAD_SHAPE);
  cr_assert_str_eq(mxb_context_last_impl(ctx), "cpu-reference", "a failed call on another context shows");
  cr_assert_str_eq(mxb_context_last_impl(other), "none", "a failed call shows");
  cr_assert_str_eq(mxb_context_last_impl(NULL), "none");
  mxbt_th_job_free(j);
  mxb_context_destroy(ctx);
  mxb_context_destroy(other);
}
