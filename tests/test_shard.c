/* Tensor-parallel invariance (docs/DISTRIBUTED.md): a tensor split into row
 * or column shards over 1, 2, 4 and 8 ranks, each shard quantized with its
 * place in the whole (cfg->global_*) and the amax reduced over the ranks,
 * gives byte for byte the unsharded tensor's codes, scales and amaxes. On
 * the CPU the ranks are threads running the sharded quantize of the NCCL
 * component with a simulated all-reduce (a barrier and the library's
 * NaN-propagating rule); on a GPU each shard is quantized on CUDA with the
 * global amax and compared with the CPU's whole tensor. */
#include <pthread.h>

#include "common/block.h"
#include "cuda_compare.h"
#include "shard_cases.h"

enum { R = 128, C = 256, MAX_RANKS = 8 };

typedef shard_host htensor;

static void halloc(htensor *h, mxb_format_t f, int64_t rows, int64_t cols) {
  cr_assert(shard_host_alloc(h, f, rows, cols), "cannot allocate a %lld x %lld %s", (long long)rows, (long long)cols,
            mxbt_format_name(f));
}

static void check_shard(const htensor *w, const htensor *s, int64_t r0, int64_t c0, const char *what) {
  char msg[160];
  cr_assert(!shard_diff(w, s, r0, c0, msg, sizeof(msg)), "%s: %s", what, msg);
}

#ifdef MXB_WITH_CUDA
/* Device planes for a [rows, cols] shard of k's format; FP8 per tensor, which
 * keeps no amax plane, gets one device float for its amax in t->d.amax. */
static void dev_shard_alloc(cmp_tensor *t, const scase *k, int64_t rows, int64_t cols) {
  cmp_tensor_alloc(t, k->f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  if (!t->d.amax) t->d.amax = mxbt_dev_alloc(sizeof(float));
}
static void dev_shard_free(cmp_tensor *t) {
  if (!t->h.amax) { /* the FP8 per-tensor amax of dev_shard_alloc */
    mxbt_dev_free(t->d.amax);
    t->d.amax = NULL;
  }
  cmp_tensor_free(t);
}

/* The device shard t (k's format) brought to the host and checked against
 * the whole tensor w at (r0, c0). */
static void check_dev_shard(const htensor *w, const cmp_tensor *t, const scase *k, int64_t r0, int64_t c0,
                            const char *what) {
  htensor s = {.t = t->h, .sz = t->sz};
  s.t.data = malloc(t->sz.data_bytes + 1);
  s.t.scales = malloc(t->sz.scale_bytes + 1);
  s.t.amax = malloc((size_t)t->h.rows * sizeof(float));
  s.t.flags = t->d.flags;
  mxbt_to_host(s.t.data, t->d.data, t->sz.data_bytes);
  mxbt_to_host(s.t.scales, t->d.scales, t->sz.scale_bytes);
  mxbt_to_host(s.t.amax, t->d.amax, (size_t)(k->row_amax ? t->h.rows : 1) * sizeof(float));
  check_shard(w, &s, r0, c0, what);
  shard_host_free(&s);
}
#endif

/* ---- ranks as threads ------------------------------------------------------ */
typedef struct sim_comm {
  pthread_barrier_t bar;
  int ranks;
  float *amax[MAX_RANKS];
} sim_comm;

typedef struct sim_rank {
  sim_comm *comm;
  int rank;
  mxb_context_t *ctx;
  const scase *k;
  const float *src;
  htensor out;
  mxb_quant_config_t cfg;
  mxb_status_t status;
  char detail[256];
} sim_rank;

/* The all-reduce, as MPI_MAX on MPI_UINT32_T would do it: every rank
 * publishes its (canonical) amaxes, each takes the unsigned maximum of the
 * bits, and none writes until all have read. */
static mxb_status_t sim_reduce(void *arg, float *amax, int64_t count, void *stream) {
  (void)stream;
  sim_rank *me = arg;
  sim_comm *c = me->comm;
  c->amax[me->rank] = amax;
  pthread_barrier_wait(&c->bar);
  uint32_t *m = calloc((size_t)count, sizeof(uint32_t));
  for (int q = 0; q < c->ranks; q++)
    for (int64_t i = 0; i < count; i++) {
      const uint32_t b = mxbt_f2u(c->amax[q][i]);
      m[i] = b > m[i] ? b : m[i];
    }
  pthread_barrier_wait(&c->bar);
  for (int64_t i = 0; i < count; i++) amax[i] = mxbt_u2f(m[i]);
  free(m);
  return MXB_SUCCESS;
}

static void *rank_main(void *arg) {
  sim_rank *me = arg;
  size_t ws = 0;
  me->status = mxb_quantize_shard_workspace_size(me->ctx, &me->cfg, MXB_DTYPE_FP32, &me->out.t, &ws);
  if (me->status == MXB_SUCCESS) {
    void *w = ws ? aligned_alloc(MXB_WORKSPACE_ALIGNMENT, (ws + MXB_WORKSPACE_ALIGNMENT - 1) / MXB_WORKSPACE_ALIGNMENT *
                                                              MXB_WORKSPACE_ALIGNMENT)
                 : NULL;
    me->status = mxb_quantize_shard(me->ctx, sim_reduce, me, &me->cfg, MXB_DTYPE_FP32, me->src, &me->out.t, w, ws,
                                    NULL);
    free(w);
  }
  if (me->status != MXB_SUCCESS) snprintf(me->detail, sizeof(me->detail), "%s", mxb_last_error_detail());
  return NULL;
}

/* The whole tensor on the CPU (FP8 per tensor: its computed amax in w's amax, through amax_out). */
static void quantize_whole(mxb_context_t *cpu, const scase *k, const float *x, htensor *w) {
  halloc(w, k->f, R, C);
  mxb_quant_config_t cfg = shard_config(k);
  if (mxb_fmt_tensor_scale(k->f) == MXB_TSCALE_PLANE) cfg.amax_out = w->t.amax;
  cr_assert_eq(mxb_quantize(cpu, &cfg, MXB_DTYPE_FP32, x, &w->t, NULL, 0, NULL), MXB_SUCCESS, "%s: %s", k->name,
               mxb_last_error_detail());
}

Test(shard, cpu_ranks_give_the_whole_tensors_bytes) {
  mxb_context_t *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  float *x = malloc((size_t)R * C * sizeof(float));
  shard_sample(x, R, C);
  int runs = 0;
  for (size_t ki = 0; ki < SHARD_NCASES; ki++) {
    const scase *k = &k_shard_cases[ki];
    htensor w;
    quantize_whole(cpu, k, x, &w);
    for (int split = 0; split < 2; split++)
      for (int P = 1; P <= MAX_RANKS; P *= 2) {
        int64_t r0[MAX_RANKS], c0[MAX_RANKS], rows, cols;
        if (!shard_place(split, 0, P, R, C, k->align, &r0[0], &c0[0], &rows, &cols)) continue; /* blocks would straddle */
        sim_comm comm = {.ranks = P};
        pthread_barrier_init(&comm.bar, NULL, (unsigned)P);
        sim_rank rk[MAX_RANKS];
        pthread_t th[MAX_RANKS];
        for (int q = 0; q < P; q++) {
          shard_place(split, q, P, R, C, k->align, &r0[q], &c0[q], &rows, &cols);
          rk[q] = (sim_rank){.comm = &comm, .rank = q, .ctx = cpu, .k = k, .cfg = shard_config(k)};
          shard_with_place(&rk[q].cfg, r0[q], c0[q], C);
          rk[q].src = shard_input(x, C, r0[q], c0[q], rows, cols);
          halloc(&rk[q].out, k->f, rows, cols);
          cr_assert_eq(pthread_create(&th[q], NULL, rank_main, &rk[q]), 0);
        }
        for (int q = 0; q < P; q++) pthread_join(th[q], NULL);
        pthread_barrier_destroy(&comm.bar);
        for (int q = 0; q < P; q++) {
          char what[128];
          snprintf(what, sizeof(what), "%s, %s split over %d ranks, rank %d", k->name, split ? "column" : "row", P, q);
          cr_assert_eq(rk[q].status, MXB_SUCCESS, "%s: %s", what, rk[q].detail);
          check_shard(&w, &rk[q].out, r0[q], c0[q], what);
          shard_host_free(&rk[q].out);
          free((void *)rk[q].src);
        }
        runs++;
      }
    shard_host_free(&w);
  }
  cr_assert_geq(runs, 80, "only %d splits ran", runs);
  free(x);
  mxb_context_destroy(cpu);
}

/* Without its place, a shard's SR bytes are drawn at the wrong indices: the
 * invariance above rests on cfg->global_*. */
Test(shard, sr_without_the_place_differs) {
  mxb_context_t *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  float *x = malloc((size_t)R * C * sizeof(float));
  shard_sample(x, R, C);
  const scase *k = &k_shard_cases[9]; /* mxfp8_sr: no amax to reduce */
  htensor w, s;
  quantize_whole(cpu, k, x, &w);
  float *src = shard_input(x, C, 0, 128, R, 128);
  halloc(&s, k->f, R, 128);
  mxb_quant_config_t cfg = shard_config(k);
  cr_assert_eq(mxb_quantize(cpu, &cfg, MXB_DTYPE_FP32, src, &s.t, NULL, 0, NULL), MXB_SUCCESS);
  int same = 1;
  for (int64_t r = 0; r < R && same; r++)
    same = !memcmp((uint8_t *)w.t.data + r * w.sz.row_bytes + 128, (uint8_t *)s.t.data + r * s.sz.row_bytes, 128);
  cr_assert(!same, "a column shard quantized as a tensor of its own drew the whole tensor's SR bytes");
  shard_with_place(&cfg, 0, 128, C);
  cr_assert_eq(mxb_quantize(cpu, &cfg, MXB_DTYPE_FP32, src, &s.t, NULL, 0, NULL), MXB_SUCCESS);
  check_shard(&w, &s, 0, 128, "mxfp8_sr with its place");
  shard_host_free(&w);
  shard_host_free(&s);
  free(src);
  free(x);
  mxb_context_destroy(cpu);
}

/* The pair of a column shard: the row-wise copy is a column shard of the
 * whole row-wise copy, the column-wise copy (of the transpose) a row shard
 * of the whole column-wise copy; each config takes its own place. */
Test(shard, pair_copies_take_their_own_places) {
  mxb_context_t *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  float *x = malloc((size_t)R * C * sizeof(float));
  shard_sample(x, R, C);
  mxb_quant_config_t rc = shard_config(&k_shard_cases[1]), cc = rc; /* nvfp4_sr */
  cc.offset = rc.offset + 1;
  htensor wr, wc;
  halloc(&wr, MXB_FORMAT_NVFP4, R, C);
  halloc(&wc, MXB_FORMAT_NVFP4, C, R);
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(cpu, &rc, &cc, MXB_DTYPE_FP32, &wr.t, &wc.t, &ws), MXB_SUCCESS);
  void *w = malloc(ws + MXB_WORKSPACE_ALIGNMENT);
  void *wa = (void *)(((uintptr_t)w + MXB_WORKSPACE_ALIGNMENT - 1) / MXB_WORKSPACE_ALIGNMENT * MXB_WORKSPACE_ALIGNMENT);
  cr_assert_eq(mxb_quantize_pair(cpu, &rc, &cc, MXB_DTYPE_FP32, x, &wr.t, &wc.t, wa, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  enum { P = 2, W = C / P };
  for (int q = 0; q < P; q++) {
    float *src = shard_input(x, C, 0, q * W, R, W);
    htensor sr, sc;
    halloc(&sr, MXB_FORMAT_NVFP4, R, W);
    halloc(&sc, MXB_FORMAT_NVFP4, W, R);
    mxb_quant_config_t r = rc, c = cc;
    shard_with_place(&r, 0, q * W, C);
    shard_with_place(&c, q * W, 0, R);
    r.amax_source = c.amax_source = MXB_AMAX_FROM_TENSOR; /* the global amaxes, as reduced */
    sr.t.amax[0] = wr.t.amax[0];
    sc.t.amax[0] = wc.t.amax[0];
    cr_assert_eq(mxb_quantize_pair_workspace_size(cpu, &r, &c, MXB_DTYPE_FP32, &sr.t, &sc.t, &ws), MXB_SUCCESS);
    void *v = malloc(ws + MXB_WORKSPACE_ALIGNMENT);
    void *va = (void *)(((uintptr_t)v + MXB_WORKSPACE_ALIGNMENT - 1) / MXB_WORKSPACE_ALIGNMENT * MXB_WORKSPACE_ALIGNMENT);
    cr_assert_eq(mxb_quantize_pair(cpu, &r, &c, MXB_DTYPE_FP32, src, &sr.t, &sc.t, va, ws, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    check_shard(&wr, &sr, 0, q * W, "pair, row-wise copy of a column shard");
    check_shard(&wc, &sc, q * W, 0, "pair, column-wise copy of a column shard");
    shard_host_free(&sr);
    shard_host_free(&sc);
    free(v);
    free(src);
  }
  shard_host_free(&wr);
  shard_host_free(&wc);
  free(w);
  free(x);
  mxb_context_destroy(cpu);
}

Test(shard, the_reduction_rule) {
  static const struct {
    uint32_t in, out;
  } k[] = {{0x00000000u, 0x00000000u}, {0x80000000u, 0x00000000u}, {0x3F800000u, 0x3F800000u},
           {0x7F800000u, 0x7F800000u}, {0x7F800001u, 0x7FC00000u}, {0xFFC00000u, 0x7FC00000u},
           {0xBF800000u, 0x7FC00000u}, {0x7FFFFFFFu, 0x7FC00000u}};
  enum { NK = sizeof(k) / sizeof(k[0]) };
  float a[NK];
  for (size_t i = 0; i < NK; i++) a[i] = mxbt_u2f(k[i].in);
  mxb_context_t *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  cr_assert_eq(mxb_amax_canonicalize(cpu, a, NK, NULL), MXB_SUCCESS);
  cr_assert_eq(mxb_amax_canonicalize(cpu, a, 0, NULL), MXB_ERR_BAD_SHAPE);
  cr_assert_eq(mxb_amax_canonicalize(cpu, NULL, 1, NULL), MXB_ERR_INVALID_ARGUMENT);
  mxb_context_destroy(cpu);
  for (size_t i = 0; i < NK; i++) {
    cr_assert_eq(mxb_amax_reduce_bits(k[i].in), k[i].out, "0x%08x -> 0x%08x, not 0x%08x", k[i].in,
                 mxb_amax_reduce_bits(k[i].in), k[i].out);
    cr_assert_eq(mxbt_f2u(a[i]), k[i].out, "mxb_amax_canonicalize: 0x%08x -> 0x%08x", k[i].in, mxbt_f2u(a[i]));
  }
  /* the unsigned max of canonical bits is the NaN-propagating max */
  cr_assert(mxb_amax_reduce_bits(0x7FC00000u) > mxb_amax_reduce_bits(0x7F800000u));
  cr_assert(mxb_amax_reduce_bits(0x40000000u) > mxb_amax_reduce_bits(0x3FFFFFFFu));
}

/* Bad shard origins are refused with a detail, and nothing is written. */
Test(shard, bad_places_are_refused) {
  mxb_context_t *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  float x[64 * 32];
  mxbt_fill_normal(x, 64 * 32, 1, 1.0f);
  static const struct {
    int64_t r0, c0, gc;
    mxb_status_t want;
  } bad[] = {{-1, 0, 64, MXB_ERR_INVALID_ARGUMENT},
             {0, -32, 64, MXB_ERR_INVALID_ARGUMENT},
             {0, 0, -64, MXB_ERR_INVALID_ARGUMENT},
             {0, 48, 64, MXB_ERR_BAD_SHAPE},       /* 32 columns at 48 pass 64 */
             {0, 32, 0, MXB_ERR_BAD_SHAPE},        /* 0: dst holds whole rows */
             {0, 0, 16, MXB_ERR_BAD_SHAPE},        /* fewer columns than dst */
             {(int64_t)1 << 56, 0, 1 << 10, MXB_ERR_BAD_SHAPE}}; /* indices past 2^62 */
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    htensor h;
    halloc(&h, MXB_FORMAT_MXFP8_E4M3, 64, 32);
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.rounding = MXB_ROUND_SR;
    cfg.global_row0 = bad[i].r0;
    cfg.global_col0 = bad[i].c0;
    cfg.global_cols = bad[i].gc;
    cr_assert_eq(mxb_quantize(cpu, &cfg, MXB_DTYPE_FP32, x, &h.t, NULL, 0, NULL), bad[i].want, "case %zu: %s", i,
                 mxb_last_error_detail());
    cr_assert(strlen(mxb_last_error_detail()) > 0, "case %zu: no detail", i);
    for (size_t b = 0; b < h.sz.data_bytes; b++) cr_assert_eq(((uint8_t *)h.t.data)[b], 0xA5, "case %zu wrote", i);
    shard_host_free(&h);
  }
  /* the grouped quantize defines no place */
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  int32_t offsets[2] = {0, 64};
  g.index = offsets;
  htensor h;
  halloc(&h, MXB_FORMAT_MXFP8_E4M3, 64, 32);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.global_cols = 64;
  cr_assert_eq(mxb_grouped_quantize(cpu, &g, &cfg, MXB_DTYPE_FP32, x, &h.t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "%s",
               mxb_last_error_detail());
  shard_host_free(&h);
  mxb_context_destroy(cpu);
}

/* On CUDA: each shard quantized with its place and the global amax (the
 * whole tensor's, which the all-reduce yields) gives the CPU's whole
 * tensor's bytes; FP8 per tensor's computed amax is stored as the CPU's. */
Test(shard, cuda_shards_give_the_cpu_whole_tensors_bytes) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  cmp_ctx cc = cmp_open();
  float *x = malloc((size_t)R * C * sizeof(float));
  shard_sample(x, R, C);
  for (size_t ki = 0; ki < SHARD_NCASES; ki++) {
    const scase *k = &k_shard_cases[ki];
    htensor w;
    quantize_whole(cc.cpu, k, x, &w);
    for (int split = 0; split < 2; split++)
      for (int P = 1; P <= MAX_RANKS; P *= 2) {
        for (int q = 0; q < P; q++) {
          int64_t r0, c0, rows, cols;
          if (!shard_place(split, q, P, R, C, k->align, &r0, &c0, &rows, &cols)) break;
          float *src = shard_input(x, C, r0, c0, rows, cols);
          cmp_tensor t;
          dev_shard_alloc(&t, k, rows, cols);
          mxb_quant_config_t cfg = shard_config(k);
          shard_with_place(&cfg, r0, c0, C);
          if (shard_has_tensor_amax(k->f)) { /* the reduced amax: the whole tensor's */
            cfg.amax_source = MXB_AMAX_FROM_TENSOR;
            mxbt_to_device(t.d.amax, k->row_amax ? w.t.amax + r0 : w.t.amax, (k->row_amax ? rows : 1) * sizeof(float));
          }
          float *dsrc = mxbt_dev_from_host(src, (size_t)(rows * cols) * sizeof(float));
          size_t ws = 0;
          cr_assert_eq(mxb_quantize_workspace_size(cc.gpu, &cfg, MXB_DTYPE_FP32, &t.d, &ws), MXB_SUCCESS);
          void *dws = ws ? mxbt_dev_alloc(ws) : NULL;
          cr_assert_eq(mxb_quantize(cc.gpu, &cfg, MXB_DTYPE_FP32, dsrc, &t.d, dws, ws, NULL), MXB_SUCCESS, "%s",
                       mxb_last_error_detail());
          char what[128];
          snprintf(what, sizeof(what), "cuda %s, %s split over %d ranks, rank %d", k->name, split ? "column" : "row",
                   P, q);
          check_dev_shard(&w, &t, k, r0, c0, what);
          dev_shard_free(&t);
          mxbt_dev_free(dsrc);
          mxbt_dev_free(dws);
          free(src);
        }
      }
    /* FP8 per tensor, amax computed: written to amax_out as on the CPU */
    if (mxb_fmt_tensor_scale(k->f) == MXB_TSCALE_PLANE) {
      float *dx = mxbt_dev_from_host(x, (size_t)R * C * sizeof(float)), *da = mxbt_dev_alloc(sizeof(float)), a = 0;
      cmp_tensor t;
      cmp_tensor_alloc(&t, k->f, R, C, MXB_SCALE_LAYOUT_LINEAR);
      mxb_quant_config_t cfg = shard_config(k);
      cfg.amax_out = da;
      size_t ws = 0;
      cr_assert_eq(mxb_quantize_workspace_size(cc.gpu, &cfg, MXB_DTYPE_FP32, &t.d, &ws), MXB_SUCCESS);
      void *dws = ws ? mxbt_dev_alloc(ws) : NULL;
      cr_assert_eq(mxb_quantize(cc.gpu, &cfg, MXB_DTYPE_FP32, dx, &t.d, dws, ws, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      mxbt_to_host(&a, da, sizeof(float));
      cr_assert_eq(mxbt_f2u(a), mxbt_f2u(w.t.amax[0]), "%s: cuda amax 0x%08x, cpu 0x%08x", k->name, mxbt_f2u(a),
                   mxbt_f2u(w.t.amax[0]));
      cmp_tensor_free(&t);
      mxbt_dev_free(da);
      mxbt_dev_free(dx);
      mxbt_dev_free(dws);
    }
    shard_host_free(&w);
  }
  free(x);
  cmp_close(&cc);
#endif
}

#ifdef MXB_WITH_CUDA
/* One rank: the reduction leaves the (canonical) amax as it is. */
static mxb_status_t one_rank(void *arg, float *amax, int64_t count, void *stream) {
  (void)arg, (void)amax, (void)count, (void)stream;
  return MXB_SUCCESS;
}
#endif

/* mxb_quantize_shard on CUDA with a single rank (the amax pass, the
 * canonicalising kernel, the quantize with the amax supplied) gives the CPU
 * whole tensor's bytes, for every case. */
Test(shard, cuda_single_rank_shard_is_the_whole) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  cmp_ctx cc = cmp_open();
  float *x = malloc((size_t)R * C * sizeof(float));
  shard_sample(x, R, C);
  float *dx = mxbt_dev_from_host(x, (size_t)R * C * sizeof(float));
  for (size_t ki = 0; ki < SHARD_NCASES; ki++) {
    const scase *k = &k_shard_cases[ki];
    htensor w;
    quantize_whole(cc.cpu, k, x, &w);
    cmp_tensor t;
    dev_shard_alloc(&t, k, R, C);
    mxb_quant_config_t cfg = shard_config(k);
    size_t ws = 0;
    cr_assert_eq(mxb_quantize_shard_workspace_size(cc.gpu, &cfg, MXB_DTYPE_FP32, &t.d, &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    void *dws = ws ? mxbt_dev_alloc(ws) : NULL;
    cr_assert_eq(mxb_quantize_shard(cc.gpu, one_rank, NULL, &cfg, MXB_DTYPE_FP32, dx, &t.d, dws, ws, NULL),
                 MXB_SUCCESS, "%s: %s", k->name, mxb_last_error_detail());
    char what[96];
    snprintf(what, sizeof(what), "cuda mxb_quantize_shard, one rank, %s", k->name);
    check_dev_shard(&w, &t, k, 0, 0, what);
    dev_shard_free(&t);
    mxbt_dev_free(dws);
    shard_host_free(&w);
  }
  mxbt_dev_free(dx);
  free(x);
  cmp_close(&cc);
#endif
}
