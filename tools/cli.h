/* The mxblas command-line tool: shared pieces of the subcommands. */
#ifndef MXB_TOOLS_CLI_H
#define MXB_TOOLS_CLI_H
#include <stdint.h>

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

/* Options shared by the subcommands. argv[i] is an option: if it is one of
 * these, consume it (and its value) and return 1; 0 if it is not; -1 on a
 * bad value (message printed). */
typedef struct cli_opts {
  const char *tensor;          /* --tensor NAME */
  const char *out;             /* -o PATH */
  mxb_backend_t backend;       /* --backend cpu|cuda */
  mxb_quant_config_t cfg;      /* --rule --round --seed --offset --rht --2d --nonfinite */
  int json;                    /* --json */
} cli_opts;
void cli_opts_init(cli_opts *o);
int cli_opt(cli_opts *o, int argc, char **argv, int *i);
/* The value of an option at argv[*i] (advances *i), or NULL with a message. */
const char *cli_value(int argc, char **argv, int *i);

int cli_format(const char *name, mxb_format_t *f); /* message on failure */

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
/* Allocate q's planes for format f (zeroed). */
mxb_status_t cli_qtensor_alloc(cli_qtensor *q, mxb_format_t f, int64_t rows, int64_t cols);
mxb_status_t cli_dequantize(const cli_qtensor *q, float *out);
void cli_qtensor_free(cli_qtensor *q);
/* Device copies of q's planes (CUDA builds; copy = 0 allocates only). */
mxb_status_t cli_mirror(const cli_qtensor *q, int copy, mxb_tensor_t *dev);
void cli_mirror_free(mxb_tensor_t *dev);

/* Subcommands. */
int cmd_info(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_dequantize(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_gemm(int argc, char **argv);
#endif
