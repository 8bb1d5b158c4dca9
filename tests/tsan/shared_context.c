/* The shared-context work of tests/test_threads.c as a plain program, for
 * ThreadSanitizer (`make test-tsan`): 8 threads on one CPU context, then 4
 * threads whose calls are large enough for the CPU thread pool (one of them
 * gets the pool at a time, the others run alone). Exits 1 when a thread's
 * results differ from the same work alone. */
#include "pool_work.h"
#include "threads_work.h"

enum { POOL_CALLERS = 4 };
static const mxb_format_t k_formats[POOL_CALLERS] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MX6,
                                                     MXB_FORMAT_FP8_E4M3_TENSOR};

typedef struct pool_job {
  int id;
  const float *x;
  mxbt_pw_bytes out;
  int rc;
  char msg[300];
} pool_job;

static void *pool_work(void *arg) {
  pool_job *j = arg;
  int opt = j->id % 2 ? MXBT_PW_SR : MXBT_PW_RNE;
  j->rc = mxbt_pw_run(k_formats[j->id], opt, j->x, &j->out, j->msg, sizeof(j->msg));
  return NULL;
}

int main(void) {
  setenv("MXBLAS_NUM_THREADS", "3", 1); /* read at the first parallel call */
  mxb_context_t *ctx = NULL;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) != MXB_SUCCESS) return 2;
  char msg[400];
  int bad = mxbt_th_shared_context(ctx, 8, msg, sizeof(msg));
  printf("shared context, 8 threads: %s\n", msg);
  mxb_context_destroy(ctx);

  float *x = mxbt_pw_input();
  pool_job par[POOL_CALLERS], alone[POOL_CALLERS];
  pthread_t th[POOL_CALLERS];
  for (int i = 0; i < POOL_CALLERS; i++) {
    par[i] = (pool_job){.id = i, .x = x};
    alone[i] = (pool_job){.id = i, .x = x};
    pool_work(&alone[i]);
  }
  for (int i = 0; i < POOL_CALLERS; i++)
    if (pthread_create(&th[i], NULL, pool_work, &par[i]) != 0) abort();
  for (int i = 0; i < POOL_CALLERS; i++) pthread_join(th[i], NULL);
  int pool_bad = 0;
  for (int i = 0; i < POOL_CALLERS; i++) {
    if (par[i].rc != 0 || alone[i].rc != 0) {
      printf("pool caller %d: %s%s\n", i, par[i].msg, alone[i].msg);
      pool_bad = 1;
    } else if (par[i].out.n != alone[i].out.n || memcmp(par[i].out.p, alone[i].out.p, par[i].out.n)) {
      printf("pool caller %d: results differ from the same work alone\n", i);
      pool_bad = 1;
    }
    free(par[i].out.p);
    free(alone[i].out.p);
  }
  free(x);
  printf("thread pool, %d concurrent callers: %s\n", POOL_CALLERS, pool_bad ? "FAILED" : "ok");
  return bad || pool_bad;
}
