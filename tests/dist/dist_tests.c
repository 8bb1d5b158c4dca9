/* Tensor-parallel invariance on real ranks (docs/DISTRIBUTED.md): one
 * process per GPU, an NCCL communicator over them, every shard quantized by
 * mxb_quantize_sharded and compared byte for byte with the CPU reference's
 * unsharded tensor; then the cost of the amax all-reduce against the
 * quantize it precedes.
 *
 *   mxblas_dist_tests [RANKS]    (default: every visible GPU; 1 runs the
 *                                 single-rank path on one GPU)
 *
 * The launcher (this program without MXB_DIST_RANK in its environment)
 * starts RANKS copies of itself with MXB_DIST_RANK, MXB_DIST_RANKS and
 * MXB_DIST_ID_FILE set; rank 0 writes the NCCL unique id to that file
 * (written whole, then renamed into place) and the others wait for it. Rank
 * r runs on device r modulo the device count. Exit status 0: every rank
 * passed. */
#include <cuda_runtime_api.h>
#include <errno.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../shard_cases.h"
#include "mxblas_nccl.h"

enum { R = 256, C = 1024 };

#define CHECK_CUDA(e)                                                                                 \
  do {                                                                                              \
    cudaError_t e_ = (e);                                                                           \
    if (e_ != cudaSuccess) {                                                                        \
      fprintf(stderr, "rank %d: %s:%d: %s\n", g_rank, __FILE__, __LINE__, cudaGetErrorString(e_)); \
      exit(2);                                                                                      \
    }                                                                                               \
  } while (0)
#define CHECK_MXB(e)                                                                                           \
  do {                                                                                                       \
    mxb_status_t s_ = (e);                                                                                   \
    if (s_ != MXB_SUCCESS) {                                                                                 \
      fprintf(stderr, "rank %d: %s:%d: %s: %s\n", g_rank, __FILE__, __LINE__, mxb_status_string(s_),        \
              mxb_last_error_detail());                                                                      \
      exit(2);                                                                                               \
    }                                                                                                        \
  } while (0)

static int g_rank = -1;

static ncclUniqueId share_id(int rank, const char *path) {
  ncclUniqueId id;
  if (rank == 0) {
    if (ncclGetUniqueId(&id) != ncclSuccess) exit(2);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(&id, sizeof(id), 1, f) != 1 || fclose(f) || rename(tmp, path)) {
      fprintf(stderr, "rank 0: cannot write %s: %s\n", path, strerror(errno));
      exit(2);
    }
    return id;
  }
  for (int waited = 0; waited < 6000; waited++) { /* 60 s */
    FILE *f = fopen(path, "rb");
    if (f) {
      const size_t got = fread(&id, sizeof(id), 1, f);
      fclose(f);
      if (got == 1) return id;
    }
    usleep(10000);
  }
  fprintf(stderr, "rank %d: no NCCL id in %s after 60 s\n", rank, path);
  exit(2);
}

/* This rank's shard of one case on its GPU, against the CPU's whole tensor
 * w: 0 when byte-identical, 1 when not, -1 when the split does not apply
 * (a block would straddle two shards). */
static int run_case(mxb_context_t *gpu, ncclComm_t comm, cudaStream_t st, const scase *k, const float *x,
                    const shard_host *w, int split, int P) {
  int64_t r0, c0, rows, cols;
  if (!shard_place(split, g_rank, P, R, C, k->align, &r0, &c0, &rows, &cols)) return -1;
  float *src = shard_input(x, C, r0, c0, rows, cols), *dsrc = NULL;
  shard_host h;
  if (!shard_host_alloc(&h, k->f, rows, cols)) exit(2);
  mxb_tensor_t d = h.t;
  CHECK_CUDA(cudaMalloc((void **)&dsrc, (size_t)(rows * cols) * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&d.data, h.sz.data_bytes + 1));
  CHECK_CUDA(cudaMalloc(&d.scales, h.sz.scale_bytes + 1));
  CHECK_CUDA(cudaMalloc((void **)&d.amax, (size_t)rows * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(dsrc, src, (size_t)(rows * cols) * sizeof(float), cudaMemcpyHostToDevice));
  mxb_quant_config_t cfg = shard_config(k);
  shard_with_place(&cfg, r0, c0, C);
  size_t ws = 0;
  void *dws = NULL;
  CHECK_MXB(mxb_quantize_sharded_workspace_size(gpu, &cfg, MXB_DTYPE_FP32, &d, &ws));
  if (ws) CHECK_CUDA(cudaMalloc(&dws, ws));
  CHECK_MXB(mxb_quantize_sharded(gpu, comm, &cfg, MXB_DTYPE_FP32, dsrc, &d, dws, ws, st));
  CHECK_CUDA(cudaStreamSynchronize(st));
  h.t.flags = d.flags;
  CHECK_CUDA(cudaMemcpy(h.t.data, d.data, h.sz.data_bytes, cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(h.t.scales, d.scales, h.sz.scale_bytes, cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(h.t.amax, d.amax, (size_t)rows * sizeof(float), cudaMemcpyDeviceToHost));
  char msg[160];
  const int bad = shard_diff(w, &h, r0, c0, msg, sizeof(msg));
  printf("rank %d: %-18s %s split over %d ranks: %s%s\n", g_rank, k->name, split ? "column" : "row", P,
         bad ? "FAIL: " : "ok", bad ? msg : "");
  cudaFree(dsrc);
  cudaFree(d.data);
  cudaFree(d.scales);
  cudaFree(d.amax);
  cudaFree(dws);
  shard_host_free(&h);
  free(src);
  return bad;
}

/* The sharded quantize captured in a CUDA graph and replayed twice gives the
 * bytes of the direct call (NVFP4 by SR, a column shard: the amax pass, the
 * all-reduce and the quantize all in the graph). Returns 0 when they agree. */
static int graph_case(mxb_context_t *gpu, ncclComm_t comm, int P) {
  const int64_t rows = R, cols = C / P;
  const scase *k = &k_shard_cases[1]; /* nvfp4_sr */
  float *x = malloc((size_t)R * C * sizeof(float)), *dsrc = NULL;
  shard_sample(x, R, C);
  float *src = shard_input(x, C, 0, (int64_t)g_rank * cols, rows, cols);
  shard_host h;
  if (!shard_host_alloc(&h, k->f, rows, cols)) exit(2);
  mxb_tensor_t d[2] = {h.t, h.t};
  for (int i = 0; i < 2; i++) {
    CHECK_CUDA(cudaMalloc(&d[i].data, h.sz.data_bytes));
    CHECK_CUDA(cudaMalloc(&d[i].scales, h.sz.scale_bytes));
    CHECK_CUDA(cudaMalloc((void **)&d[i].amax, sizeof(float)));
  }
  CHECK_CUDA(cudaMalloc((void **)&dsrc, (size_t)(rows * cols) * sizeof(float)));
  CHECK_CUDA(cudaMemcpy(dsrc, src, (size_t)(rows * cols) * sizeof(float), cudaMemcpyHostToDevice));
  mxb_quant_config_t cfg = shard_config(k);
  shard_with_place(&cfg, 0, (int64_t)g_rank * cols, C);
  size_t ws = 0;
  void *dws = NULL;
  CHECK_MXB(mxb_quantize_sharded_workspace_size(gpu, &cfg, MXB_DTYPE_FP32, &d[0], &ws));
  if (ws) CHECK_CUDA(cudaMalloc(&dws, ws));
  cudaStream_t st;
  CHECK_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  CHECK_MXB(mxb_quantize_sharded(gpu, comm, &cfg, MXB_DTYPE_FP32, dsrc, &d[0], dws, ws, st)); /* direct */
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
  CHECK_MXB(mxb_quantize_sharded(gpu, comm, &cfg, MXB_DTYPE_FP32, dsrc, &d[1], dws, ws, st));
  CHECK_CUDA(cudaStreamEndCapture(st, &graph));
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  int bad = 0;
  for (int replay = 0; replay < 2; replay++) {
    CHECK_CUDA(cudaMemset(d[1].data, 0xA5, h.sz.data_bytes));
    CHECK_CUDA(cudaGraphLaunch(exec, st));
    CHECK_CUDA(cudaStreamSynchronize(st));
    unsigned char *a = malloc(h.sz.data_bytes), *b = malloc(h.sz.data_bytes);
    CHECK_CUDA(cudaMemcpy(a, d[0].data, h.sz.data_bytes, cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(b, d[1].data, h.sz.data_bytes, cudaMemcpyDeviceToHost));
    bad |= memcmp(a, b, h.sz.data_bytes) != 0;
    free(a);
    free(b);
  }
  printf("rank %d: the sharded quantize replayed from a CUDA graph: %s\n", g_rank, bad ? "FAIL: other bytes" : "ok");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
  for (int i = 0; i < 2; i++) cudaFree(d[i].data), cudaFree(d[i].scales), cudaFree(d[i].amax);
  cudaFree(dsrc);
  cudaFree(dws);
  shard_host_free(&h);
  free(src);
  free(x);
  return bad;
}

/* Mean microseconds of `iters` calls of what (a closure over the args). */
typedef mxb_status_t (*step_fn)(void *);
static double time_us(step_fn fn, void *arg, cudaStream_t st, int iters) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < 3; i++) CHECK_MXB(fn(arg));
  CHECK_CUDA(cudaEventRecord(a, st));
  for (int i = 0; i < iters; i++) CHECK_MXB(fn(arg));
  CHECK_CUDA(cudaEventRecord(b, st));
  CHECK_CUDA(cudaEventSynchronize(b));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return 1000.0 * ms / iters;
}

typedef struct timed {
  mxb_context_t *gpu;
  ncclComm_t comm;
  cudaStream_t st;
  mxb_quant_config_t cfg, supplied;
  const void *src;
  mxb_tensor_t dst;
  void *ws;
  size_t ws_bytes;
} timed;
static mxb_status_t step_allreduce(void *p) {
  timed *t = p;
  return mxb_amax_allreduce(t->gpu, t->comm, t->dst.amax, 1, t->st);
}
static mxb_status_t step_quantize(void *p) {
  timed *t = p;
  return mxb_quantize(t->gpu, &t->supplied, MXB_DTYPE_BF16, t->src, &t->dst, t->ws, t->ws_bytes, t->st);
}
static mxb_status_t step_sharded(void *p) {
  timed *t = p;
  return mxb_quantize_sharded(t->gpu, t->comm, &t->cfg, MXB_DTYPE_BF16, t->src, &t->dst, t->ws, t->ws_bytes, t->st);
}

/* NVFP4 from bf16 on an 8192 x 8192 tensor's column shard: the all-reduce
 * alone, the shard's quantize with the amax supplied, and the whole sharded
 * call (amax pass, all-reduce, quantize). One JSON line from rank 0. */
static void measure(mxb_context_t *gpu, ncclComm_t comm, cudaStream_t st, int P) {
  const int64_t rows = 8192, cols = 8192 / P;
  timed t = {.gpu = gpu, .comm = comm, .st = st};
  mxb_quant_config_init(&t.cfg);
  shard_with_place(&t.cfg, 0, (int64_t)g_rank * cols, 8192);
  t.supplied = t.cfg;
  t.supplied.amax_source = MXB_AMAX_FROM_TENSOR;
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  CHECK_MXB(mxb_tensor_init(&t.dst, MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR));
  CHECK_MXB(mxb_tensor_sizes(MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &sz));
  void *src = NULL;
  CHECK_CUDA(cudaMalloc(&src, (size_t)(rows * cols) * 2));
  CHECK_CUDA(cudaMemset(src, 0x3C, (size_t)(rows * cols) * 2)); /* bf16 0x3C3C: 0.0115 everywhere */
  t.src = src;
  CHECK_CUDA(cudaMalloc(&t.dst.data, sz.data_bytes));
  CHECK_CUDA(cudaMalloc(&t.dst.scales, sz.scale_bytes));
  CHECK_CUDA(cudaMalloc((void **)&t.dst.amax, 4));
  CHECK_MXB(mxb_quantize_sharded_workspace_size(gpu, &t.cfg, MXB_DTYPE_BF16, &t.dst, &t.ws_bytes));
  if (t.ws_bytes) CHECK_CUDA(cudaMalloc(&t.ws, t.ws_bytes));
  CHECK_MXB(step_sharded(&t)); /* a valid amax for the supplied-amax quantize */
  const double ar = time_us(step_allreduce, &t, st, 200), q = time_us(step_quantize, &t, st, 50),
               sh = time_us(step_sharded, &t, st, 50);
  if (g_rank == 0)
    printf("{\"ranks\": %d, \"shard\": [%lld, %lld], \"format\": \"nvfp4\", \"src\": \"bf16\", "
           "\"amax_allreduce_us\": %.2f, \"quantize_supplied_amax_us\": %.2f, \"quantize_sharded_us\": %.2f, "
           "\"allreduce_over_quantize\": %.3f}\n",
           P, (long long)rows, (long long)cols, ar, q, sh, ar / q);
  cudaFree(src);
  cudaFree(t.dst.data);
  cudaFree(t.dst.scales);
  cudaFree(t.dst.amax);
  cudaFree(t.ws);
}

static int run_rank(int rank, int P, const char *id_file) {
  g_rank = rank;
  int ndev = 0;
  CHECK_CUDA(cudaGetDeviceCount(&ndev));
  const int dev = rank % ndev;
  CHECK_CUDA(cudaSetDevice(dev));
  ncclUniqueId id = share_id(rank, id_file);
  ncclComm_t comm;
  if (ncclCommInitRank(&comm, P, id, rank) != ncclSuccess) {
    fprintf(stderr, "rank %d: ncclCommInitRank failed\n", rank);
    return 2;
  }
  mxb_context_t *gpu = NULL, *cpu = NULL;
  CHECK_MXB(mxb_context_create(MXB_BACKEND_CUDA, dev, &gpu));
  CHECK_MXB(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu));
  cudaStream_t st;
  CHECK_CUDA(cudaStreamCreate(&st));
  float *x = malloc((size_t)R * C * sizeof(float));
  shard_sample(x, R, C);
  int failed = 0, ran = 0;
  for (size_t ki = 0; ki < SHARD_NCASES; ki++) {
    const scase *k = &k_shard_cases[ki];
    shard_host w;
    if (!shard_host_alloc(&w, k->f, R, C)) return 2;
    mxb_quant_config_t cfg = shard_config(k);
    if (mxb_fmt_tensor_scale(k->f) == MXB_TSCALE_PLANE) cfg.amax_out = w.t.amax; /* FP8 per tensor's amax */
    CHECK_MXB(mxb_quantize(cpu, &cfg, MXB_DTYPE_FP32, x, &w.t, NULL, 0, NULL));
    for (int split = 0; split < 2; split++) {
      const int bad = run_case(gpu, comm, st, k, x, &w, split, P);
      failed += bad > 0;
      ran += bad >= 0;
    }
    shard_host_free(&w);
  }
  failed += graph_case(gpu, comm, P);
  ran++;
  measure(gpu, comm, st, P);
  printf("rank %d: %d of %d cases byte-identical to the unsharded tensor\n", rank, ran - failed, ran);
  free(x);
  cudaStreamDestroy(st);
  mxb_context_destroy(gpu);
  mxb_context_destroy(cpu);
  ncclCommDestroy(comm);
  return failed ? 1 : 0;
}

int main(int argc, char **argv) {
  const char *r = getenv("MXB_DIST_RANK"), *n = getenv("MXB_DIST_RANKS"), *f = getenv("MXB_DIST_ID_FILE");
  if (r && n && f) return run_rank(atoi(r), atoi(n), f);
  int P = argc > 1 ? atoi(argv[1]) : 0;
  if (P <= 0 && mxb_cuda_device_count(&P) != MXB_SUCCESS) P = 0;
  if (P <= 0) {
    fprintf(stderr, "mxblas_dist_tests: no CUDA device\n");
    return 77; /* skipped */
  }
  char id_file[256];
  snprintf(id_file, sizeof(id_file), "/tmp/mxblas_nccl_id.%ld.%ld", (long)getpid(), (long)time(NULL));
  unlink(id_file);
  pid_t pids[64];
  if (P > 64) P = 64;
  for (int q = 0; q < P; q++) {
    pids[q] = fork();
    if (pids[q] == 0) {
      char rs[16], ns[16];
      snprintf(rs, sizeof(rs), "%d", q);
      snprintf(ns, sizeof(ns), "%d", P);
      setenv("MXB_DIST_RANK", rs, 1);
      setenv("MXB_DIST_RANKS", ns, 1);
      setenv("MXB_DIST_ID_FILE", id_file, 1);
      execv("/proc/self/exe", argv);
      _exit(127);
    }
  }
  int worst = 0;
  for (int q = 0; q < P; q++) {
    int status = 0;
    waitpid(pids[q], &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (code) fprintf(stderr, "rank %d exited with %d\n", q, code);
    worst = code > worst ? code : worst;
  }
  unlink(id_file);
  printf("mxblas_dist_tests: %d ranks: %s\n", P, worst ? "FAILED" : "passed");
  return worst;
}
