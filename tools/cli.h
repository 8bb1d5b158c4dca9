/* The mxblas command-line tool: shared pieces of the subcommands. */
#ifndef MXB_TOOLS_CLI_H
#define MXB_TOOLS_CLI_H
#include <stdint.h>
#include <stdio.h>

#include "io/tensor_io.h"
#include "mxblas.h"

/* Exit codes CI can gate on. */
enum { CLI_OK = 0, CLI_MISMATCH = 1, CLI_USAGE = 2, CLI_ERROR = 3 };

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Print "mxblas: <message>" to stderr and return the exit code. */
int cli_usage(const char *fmt, ...) CLI_PRINTF(1, 2);
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* A failed call: status name and detail; returns CLI_ERROR. The detail is
 * the library's, or the tool's own for a status the tool produced. */
int cli_lib_error(mxb_status_t s, const char *what);
/* A status the tool itself produced (an allocation or a CUDA call failed),
 * with the detail cli_lib_error will print. Returns s. */
mxb_status_t cli_status(mxb_status_t s, const char *fmt, ...) CLI_PRINTF(2, 3);
/* MXB_ERR_CUDA with the CUDA runtime's last error (CUDA builds). */
mxb_status_t cli_cuda_status(const char *what);

/* Progress on a terminal (stderr is a tty), silent otherwise. */
void cli_progress(const char *fmt, ...) CLI_PRINTF(1, 2);
void cli_progress_end(void);

/* The options of every command, parsed by cli_main from the tables in
 * args.c; a command sees only the options that apply to it. */
#define CLI_MAX_GLOBS 32
enum { CLI_SORT_FILE = 0, CLI_SORT_SQNR = 1, CLI_SORT_NAME = 2 };
/* --backend=auto: CUDA where a device is present, else the CPU (resolved by
 * cli_context; the results are the same bits either way). */
#define CLI_BACKEND_AUTO ((mxb_backend_t)0x7fff)
typedef struct cli_opts {
  const char *tensor;                  /* --tensor NAME (the first of tensors) */
  const char *tensors[CLI_MAX_GLOBS];  /* analyze: --tensor GLOB ... */
  int ntensors;
  const char *tensor_a, *tensor_b;     /* gemm */
  const char *out;                     /* -o PATH */
  mxb_backend_t backend;               /* --backend cpu|cuda */
  mxb_quant_config_t cfg;              /* --rule --round --seed --offset --rht --2d --nonfinite --pow2-scale */
  int rht, rht_only;                   /* --rht, analyze --rht-only */
  int json, csv;                       /* --json, --csv */
  const char *formats;                 /* analyze --formats */
  int all_tensors, sort;               /* analyze --all-tensors, --sort */
  const char *plots;                   /* analyze --plots DIR */
  const char *format, *format_b;       /* --format, gemm --format-b */
  int b_nk;                            /* gemm --b-layout nk */
  mxb_gemm_desc_t gemm;                /* gemm --mode */
  uint64_t max_memory;                 /* gemm --max-memory */
  int keep_rht;                        /* dequantize --keep-rht */
  double max_abs;                      /* check --max-abs */
  int use_max_abs;
  const char *junit, *results;         /* check --junit, --results */
} cli_opts;
void cli_opts_init(cli_opts *o);
/* Parse the command line and run the command. */
int cli_main(int argc, char **argv);
void cli_print_usage(FILE *f);

int cli_format(const char *name, mxb_format_t *f); /* message on failure */
/* A compatibility profile's name as --compat takes it ("te", ...; "?" for none). */
const char *cli_compat_name(int profile);

/* Read a tensor file as fp32 (CLI_OK or CLI_ERROR, message printed). */
int cli_load_f32(const char *path, const char *tensor, mxio_array *a);

/* A quantized tensor in host memory with its own planes. */
typedef struct cli_qtensor {
  mxb_tensor_t t;
  mxb_tensor_sizes_t sizes;
  float amax;
} cli_qtensor;

int cli_context(mxb_backend_t backend, mxb_context_t **ctx);
/* Quantize x [rows, cols] (host fp32) into q on the context's backend. MoR
 * formats go through mxb_mor_quantize with its default config. */
mxb_status_t cli_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_format_t f,
                          const float *x, int64_t rows, int64_t cols, cli_qtensor *q);
/* Allocate q's planes for format f (zeroed); flags: the tensor's, of which
 * MXB_TENSOR_ROW_AMAX makes the NVFP4 amax plane one value a row (and
 * q->sizes.amax_bytes its size). */
mxb_status_t cli_qtensor_alloc(cli_qtensor *q, mxb_format_t f, int64_t rows, int64_t cols, uint32_t flags);
mxb_status_t cli_dequantize(const cli_qtensor *q, float *out);
void cli_qtensor_free(cli_qtensor *q);
/* C [a.rows, b.rows] (host) = A * B^T with host operands, on the context's
 * backend (CUDA: copied to the device; timed after a warm-up call); ws: the
 * workspace bytes. secs: the time of the call. */
mxb_status_t cli_gemm(mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const cli_qtensor *a,
                      const cli_qtensor *b, float *c, size_t ws, double *secs);
double cli_now(void); /* seconds, monotonic */
/* Reproducible inputs (demo, corpus): splitmix64, and a normal deviate from
 * two of its draws (Box-Muller). */
uint64_t cli_splitmix(uint64_t *s);
double cli_gauss(uint64_t *s);
/* Device copies of q's planes (CUDA builds; copy = 0 allocates only). */
mxb_status_t cli_mirror(const cli_qtensor *q, int copy, mxb_tensor_t *dev);
void cli_mirror_free(mxb_tensor_t *dev);

/* Per-case results of check golden and check corpus. */
enum { CLI_CASE_PASS = 0, CLI_CASE_FAIL = 1, CLI_CASE_SKIPPED = 2, CLI_CASE_ERROR = 3 };
typedef struct cli_case {
  char name[96];
  int status;
  char message[320];
} cli_case;
typedef struct cli_report {
  const char *suite;
  const char *impl; /* the implementation checked */
  cli_case *cases;
  int n, cap;
} cli_report;
int cli_report_add(cli_report *r, const char *name, int status, const char *fmt, ...) CLI_PRINTF(4, 5);
void cli_report_free(cli_report *r);
/* Print the cases (text, or JSON with --json), write --junit; CLI_OK when
 * every case passed or was skipped, CLI_MISMATCH otherwise. */
int cli_report_finish(const cli_report *r, const cli_opts *o);

/* Commands: the parsed options and the positional arguments. */
int cmd_info(cli_opts *o, int nargs, char **args);
int cmd_list(cli_opts *o, int nargs, char **args);
int cmd_quantize(cli_opts *o, int nargs, char **args);
int cmd_dequantize(cli_opts *o, int nargs, char **args);
int cmd_analyze(cli_opts *o, int nargs, char **args);
int cmd_check(cli_opts *o, int nargs, char **args);
int cmd_gemm(cli_opts *o, int nargs, char **args);
int cmd_corpus(cli_opts *o, int nargs, char **args);
int cmd_demo(cli_opts *o, int nargs, char **args);
/* check corpus DIR (corpus.c) */
int check_corpus(const cli_opts *o, const char *dir);
#endif
