/* The CPU backend's thread pool changes no bit: quantize (every format and
 * option), dequantize, error statistics and the CPU GEMM (both sum modes)
 * give the same bytes on 1, 2, 3 and 7 threads. */
#include "pool_work.h"
#include "cpu/pool.h"
#include "gemm_operands.h"

static const int k_threads[] = {2, 3, 7};

static void compare_thread_counts(int option) {
  float *x = mxbt_pw_input();
  char msg[400] = "";
  int compared = 0;
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    mxbt_pw_bytes ref = {0};
    mxb_cpu_set_threads(1);
    int rc = mxbt_pw_run((mxb_format_t)f, option, x, &ref, msg, sizeof(msg));
    cr_assert_geq(rc, 0, "%s %s, 1 thread: %s", mxbt_format_name((mxb_format_t)f), mxbt_pw_option_name(option), msg);
    if (rc == 1) continue;
    for (size_t k = 0; k < sizeof(k_threads) / sizeof(k_threads[0]); k++) {
      mxbt_pw_bytes got = {0};
      mxb_cpu_set_threads(k_threads[k]);
      cr_assert_eq(mxbt_pw_run((mxb_format_t)f, option, x, &got, msg, sizeof(msg)), 0, "%s", msg);
      cr_assert_eq(got.n, ref.n);
      size_t i = 0;
      while (i < ref.n && got.p[i] == ref.p[i]) i++;
      cr_assert_eq(i, ref.n, "%s %s: %d threads differ from 1 thread at output byte %zu of %zu",
                   mxbt_format_name((mxb_format_t)f), mxbt_pw_option_name(option), k_threads[k], i, ref.n);
      free(got.p);
    }
    free(ref.p);
    compared++;
  }
  mxb_cpu_set_threads(0);
  cr_assert_gt(compared, 0, "no format takes option %s", mxbt_pw_option_name(option));
  free(x);
}

Test(cpu_threads, rne_same_bytes_for_any_thread_count) { compare_thread_counts(MXBT_PW_RNE); }
Test(cpu_threads, sr_same_bytes_for_any_thread_count) { compare_thread_counts(MXBT_PW_SR); }
Test(cpu_threads, rht_same_bytes_for_any_thread_count) { compare_thread_counts(MXBT_PW_RHT); }
Test(cpu_threads, nvfp4_2d_same_bytes_for_any_thread_count) { compare_thread_counts(MXBT_PW_2D); }
Test(cpu_threads, saturate_same_bytes_for_any_thread_count) { compare_thread_counts(MXBT_PW_SATURATE); }
Test(cpu_threads, fp8_pow2_same_bytes_for_any_thread_count) { compare_thread_counts(MXBT_PW_POW2); }

/* Small work stays on the calling thread; large work is shared (up to the
 * task count). */
Test(cpu_threads, small_work_stays_serial) {
  mxb_cpu_set_threads(7);
  cr_assert_eq(mxb_cpu_plan(100, 1000.0), 1);
  cr_assert_eq(mxb_cpu_plan(1, 1e9), 1);
  cr_assert_eq(mxb_cpu_plan(3, 1e9), 3);
  cr_assert_eq(mxb_cpu_plan(100, 1e9), 7);
  mxb_cpu_set_threads(1);
  cr_assert_eq(mxb_cpu_plan(100, 1e9), 1);
  mxb_cpu_set_threads(0);
}

static int task_count(void) {
  int n = 0;
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

/* A tiny call starts no thread; the first large one starts the workers
 * (threads - 1, the caller being the first), and later calls reuse them.
 * Each test runs in a fresh process, so the pool starts empty here. */
Test(cpu_threads, threads_start_only_for_large_work) {
  if (task_count() == 0) cr_skip_test("no /proc/self/status");
  mxb_cpu_set_threads(4);
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxbt_operand small, large;
  float *xs = mxbt_gemm_input(256, 8, 1, MXBT_IN_NORMAL, 0), *xl = mxbt_gemm_input(512, 512, 2, MXBT_IN_NORMAL, 0);
  int before = task_count();
  mxbt_operand_make(&small, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, 256, 8, xs); /* 4 chunks */
  cr_assert_eq(task_count(), before, "a quantize of 2048 values started a thread");
  mxbt_operand_make(&large, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, 512, 512, xl);
  cr_assert_eq(task_count(), before + 3, "4 threads: the pool should hold 3 workers");
  mxbt_operand_free(&large);
  mxbt_operand_make(&large, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, 512, 512, xl);
  cr_assert_eq(task_count(), before + 3, "a second call started more workers");
  mxbt_operand_free(&small);
  mxbt_operand_free(&large);
  free(xs);
  free(xl);
  mxb_context_destroy(ctx);
  mxb_cpu_set_threads(0);
}
