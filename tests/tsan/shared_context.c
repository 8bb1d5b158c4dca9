/* The shared-context work of tests/test_threads.c as a plain program, for
 * ThreadSanitizer (`make test-tsan`): 8 threads on one CPU context. Exits 1
 * when a thread's results differ from the same work alone. */
#include "threads_work.h"

int main(void) {
  mxb_context_t *ctx = NULL;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) != MXB_SUCCESS) return 2;
  char msg[400];
  int bad = mxbt_th_shared_context(ctx, 8, msg, sizeof(msg));
  printf("shared context, 8 threads: %s\n", msg);
  mxb_context_destroy(ctx);
  return bad;
}
