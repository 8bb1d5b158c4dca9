/* The command line of the mxblas tool: every command and every option is
 * described once, in the tables below. The parser (getopt_long), the refusal
 * of options that do not apply to a command, `mxblas help`, `mxblas CMD
 * --help` and the reference in docs/CLI.md (checked by the tool tests) all
 * come from these tables. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
  C_INFO = 1 << 0,
  C_LIST = 1 << 1,
  C_ANALYZE = 1 << 2,
  C_QUANTIZE = 1 << 3,
  C_DEQUANTIZE = 1 << 4,
  C_CHECK = 1 << 5,
  C_GEMM = 1 << 6,
  C_CORPUS = 1 << 7,
  C_DEMO = 1 << 8,
  C_QUANT = C_ANALYZE | C_QUANTIZE | C_GEMM, /* the quantization options */
};

typedef struct cli_cmddef {
  const char *name;
  unsigned bit;
  const char *args; /* positional arguments, for the synopsis */
  int min_args, max_args;
  const char *summary;
  const char *text; /* more lines for CMD --help, or NULL */
  int (*fn)(cli_opts *o, int nargs, char **args);
} cli_cmddef;

static const cli_cmddef k_cmds[] = {
  {"info", C_INFO, "", 0, 0, "version, build, formats, CUDA devices", NULL, cmd_info},
  {"list", C_LIST, "FILE", 1, 1, "the tensors of a .npy or safetensors file", NULL, cmd_list},
  {"analyze", C_ANALYZE, "IN", 1, 1, "error statistics of tensors in several formats",
   "IN is a .npy or safetensors file, a sharded checkpoint's model.safetensors.index.json,\n"
   "or a directory (its index, else its *.safetensors and *.npy files). Every 2-D\n"
   "floating-point tensor is analyzed unless --tensor or --all-tensors says otherwise.",
   cmd_analyze},
  {"quantize", C_QUANTIZE, "IN", 1, 1, "quantize a tensor into an mxblas container (.safetensors)", NULL,
   cmd_quantize},
  {"dequantize", C_DEQUANTIZE, "IN", 1, 1, "decode an mxblas container to fp32 .npy", NULL, cmd_dequantize},
  {"check", C_CHECK, "golden | corpus DIR | A B", 1, 2, "conformance checks; exit 1 on a mismatch",
   "check golden          the NUMERICS 9 vectors through this build\n"
   "check corpus DIR      the conformance corpus in DIR: this build, or with --results RDIR\n"
   "                      another implementation's output files\n"
   "check A B             two files bit for bit (or within --max-abs)",
   cmd_check},
  {"gemm", C_GEMM, "A B", 2, 2, "quantize A [M,K] and B, multiply, error against fp64", NULL, cmd_gemm},
  {"demo", C_DEMO, "", 0, 0, "every recipe on one activation and weight, BF16 first (make demo)", NULL,
   cmd_demo},
  {"corpus", C_CORPUS, "DIR", 1, 1, "write the conformance corpus with the CPU reference",
   "Writes the golden vector files and DIR/manifest.json (see docs/CLI.md).", cmd_corpus},
};

/* Enum values: name and value. */
typedef struct cli_enum {
  const char *name;
  int value;
} cli_enum;
static const cli_enum k_rules[] = {{"rceil", MXB_SCALE_RULE_RCEIL}, {"floor", MXB_SCALE_RULE_FLOOR},
                                   {"ceil", MXB_SCALE_RULE_CEIL},   {"even", MXB_SCALE_RULE_EVEN},
                                   {NULL, 0}};
static const cli_enum k_rounds[] = {{"rne", MXB_ROUND_RNE}, {"sr", MXB_ROUND_SR}, {NULL, 0}};
static const cli_enum k_backends[] = {
  {"cpu", MXB_BACKEND_CPU}, {"cuda", MXB_BACKEND_CUDA}, {"auto", (int)CLI_BACKEND_AUTO}, {NULL, 0}};
static const cli_enum k_nonfinite[] = {{"nan-block", MXB_NONFINITE_NAN_BLOCK},
                                       {"saturate", MXB_NONFINITE_SATURATE}, {NULL, 0}};
static const cli_enum k_four_six[] = {{"mse", MXB_FOUR_OVER_SIX_MSE}, {"mae", MXB_FOUR_OVER_SIX_MAE}, {NULL, 0}};
static const cli_enum k_compat[] = {{"mxblas", MXB_COMPAT_MXBLAS}, {"te", MXB_COMPAT_TE},
                                    {"torchao", MXB_COMPAT_TORCHAO}, {"torchao-rceil", MXB_COMPAT_TORCHAO_RCEIL},
                                    {"microxcaling", MXB_COMPAT_MICROXCALING}, {"ocp", MXB_COMPAT_OCP_FLOOR},
                                    {NULL, 0}};
const char *cli_compat_name(int profile) {
  for (int k = 0; k_compat[k].name; k++)
    if (k_compat[k].value == profile) return k_compat[k].name;
  return "?";
}
static const cli_enum k_e4m3_max[] = {{"448", 448}, {"256", 256}, {NULL, 0}};
static const cli_enum k_modes[] = {{"exact", MXB_GEMM_EXACT}, {"fast", MXB_GEMM_FAST}, {NULL, 0}};
static const cli_enum k_layouts[] = {{"kn", 0}, {"nk", 1}, {NULL, 0}};
static const cli_enum k_sorts[] = {{"file", CLI_SORT_FILE}, {"sqnr", CLI_SORT_SQNR}, {"name", CLI_SORT_NAME},
                                   {NULL, 0}};

enum {
  O_HELP, O_OUT, O_TENSOR, O_TENSOR_A, O_TENSOR_B, O_BACKEND, O_RULE, O_ROUND, O_SEED, O_OFFSET,
  O_RHT, O_RHT_ONLY, O_2D, O_FOUR_OVER_SIX, O_E4M3_MAX, O_ROW_AMAX, O_COMPAT, O_NONFINITE, O_POW2, O_JSON, O_CSV, O_FORMATS, O_ALL_TENSORS, O_SORT,
  O_PLOTS, O_FORMAT, O_FORMAT_B, O_B_LAYOUT, O_MODE, O_MAX_MEMORY, O_KEEP_RHT, O_MAX_ABS, O_JUNIT,
  O_RESULTS,
};

typedef struct cli_optdef {
  int id;
  const char *name;
  char short_name;
  const char *arg; /* value placeholder; NULL for a flag */
  unsigned cmds;
  const cli_enum *values; /* for enum options */
  const char *help;
} cli_optdef;

/* One option may appear twice with different commands when its meaning
 * differs (--rht, --tensor, --json): the parser takes the row of the command. */
static const cli_optdef k_opts[] = {
  {O_FORMATS, "formats", 0, "LIST", C_ANALYZE, NULL,
   "comma-separated formats (default: nvfp4,mxfp8_e4m3,mxfp4,mx6,mx9,fp8_e4m3)"},
  {O_TENSOR, "tensor", 0, "GLOB", C_ANALYZE, NULL,
   "analyze the tensors whose names match GLOB (fnmatch; repeatable)"},
  {O_ALL_TENSORS, "all-tensors", 0, NULL, C_ANALYZE, NULL, "every floating-point tensor, not only 2-D ones"},
  {O_RHT, "rht", 0, NULL, C_ANALYZE, NULL, "add a row with the random Hadamard transform per format"},
  {O_RHT_ONLY, "rht-only", 0, NULL, C_ANALYZE, NULL, "only the rows with the random Hadamard transform"},
  {O_SORT, "sort", 0, "KEY", C_ANALYZE, k_sorts, "order of the per-tensor rows (sqnr: worst first)"},
  {O_JSON, "json", 0, NULL, C_ANALYZE, NULL, "NDJSON: one object per tensor and format, then summaries"},
  {O_CSV, "csv", 0, NULL, C_ANALYZE, NULL, "CSV: a header line, one line per tensor and format"},
  {O_PLOTS, "plots", 0, "DIR", C_ANALYZE, NULL, "write SVG plots and DIR/report.html"},
  {O_FORMAT, "format", 0, "F", C_QUANTIZE | C_GEMM, NULL, "the format (see mxblas info)"},
  {O_FORMAT_B, "format-b", 0, "F", C_GEMM, NULL, "the format of B (default: that of A)"},
  {O_TENSOR_A, "tensor-a", 0, "NAME", C_GEMM, NULL, "the tensor of A in a safetensors file"},
  {O_TENSOR_B, "tensor-b", 0, "NAME", C_GEMM, NULL, "the tensor of B in a safetensors file"},
  {O_B_LAYOUT, "b-layout", 0, "L", C_GEMM, k_layouts,
   "B is [K, N] (kn, default) or [N, K] (nk: a PyTorch Linear weight)"},
  {O_MODE, "mode", 0, "M", C_GEMM, k_modes, "GEMM mode (default exact)"},
  {O_MAX_MEMORY, "max-memory", 0, "SIZE", C_GEMM, NULL, "refuse above SIZE of host memory (default 1G)"},
  {O_TENSOR, "tensor", 0, "NAME", C_QUANTIZE | C_CHECK, NULL, "the tensor of a safetensors file"},
  {O_OUT, "output", 'o', "PATH", C_QUANTIZE | C_DEQUANTIZE | C_GEMM, NULL, "write the result to PATH"},
  {O_KEEP_RHT, "keep-rht", 0, NULL, C_DEQUANTIZE, NULL, "leave an RHT container in the transformed domain"},
  {O_MAX_ABS, "max-abs", 0, "X", C_CHECK, NULL, "check A B: accept |a - b| <= X for floating-point tensors"},
  {O_RESULTS, "results", 0, "DIR", C_CHECK, NULL,
   "check corpus: compare the output files in DIR (another implementation's)"},
  {O_JSON, "json", 0, NULL, C_INFO | C_CHECK, NULL, "print JSON"},
  {O_JUNIT, "junit", 0, "FILE", C_CHECK, NULL, "check golden/corpus: also write JUnit XML to FILE"},
  {O_RULE, "rule", 0, "R", C_QUANT, k_rules, "MX scale rule (default rceil)"},
  {O_ROUND, "round", 0, "R", C_QUANT, k_rounds, "rounding (default rne)"},
  {O_SEED, "seed", 0, "S", C_QUANT, NULL, "stochastic rounding: Philox key"},
  {O_OFFSET, "offset", 0, "N", C_QUANT, NULL, "stochastic rounding: Philox counter offset"},
  {O_RHT, "rht", 0, NULL, C_QUANTIZE | C_GEMM, NULL, "random Hadamard transform (d = 16, signs 0xD7E8)"},
  {O_2D, "2d", 0, NULL, C_QUANT, NULL, "2D block scales: NVFP4 16x16 tiles, MX 32x32 tiles"},
  {O_FOUR_OVER_SIX, "four-over-six", 0, "M", C_QUANT, k_four_six,
   "NVFP4 Four Over Six: each block scaled to 4 or 6, by error M"},
  {O_E4M3_MAX, "e4m3-max", 0, "B", C_QUANT, k_e4m3_max,
   "NVFP4: the block scale the tensor amax maps to (default 448; 256: TE's Four Over Six variant)"},
  {O_ROW_AMAX, "row-amax", 0, NULL, C_QUANTIZE | C_ANALYZE, NULL,
   "NVFP4: one tensor amax a row (row-scaled activations)"},
  {O_COMPAT, "compat", 0, "P", C_QUANTIZE | C_ANALYZE, k_compat,
   "reproduce another library's bytes (docs/COMPAT.md; analyze: a row more per format it has)"},
  {O_NONFINITE, "nonfinite", 0, "N", C_QUANT, k_nonfinite, "NaN/Inf handling (default nan-block)"},
  {O_POW2, "pow2-scale", 0, NULL, C_QUANT, NULL, "FP8 scales rounded down to a power of two"},
  {O_BACKEND, "backend", 0, "B", C_QUANT | C_CHECK, k_backends, "where to run; auto: a GPU when present (default cpu)"},
  {O_HELP, "help", 'h', NULL, ~0u, NULL, "this help"},
};
#define NOPTS (sizeof(k_opts) / sizeof(k_opts[0]))
#define NCMDS (sizeof(k_cmds) / sizeof(k_cmds[0]))

/* "--name=V" or "-o PATH" as shown in help. */
static void opt_label(const cli_optdef *d, char *buf, size_t cap) {
  char vals[96] = "";
  if (d->values)
    for (int k = 0; d->values[k].name; k++)
      snprintf(vals + strlen(vals), sizeof(vals) - strlen(vals), "%s%s", k ? "|" : "", d->values[k].name);
  const char *v = d->values ? vals : d->arg;
  if (d->short_name)
    snprintf(buf, cap, "-%c, --%s%s%s", d->short_name, d->name, v ? " " : "", v ? v : "");
  else
    snprintf(buf, cap, "--%s%s%s", d->name, v ? "=" : "", v ? v : "");
}

void cli_print_usage(FILE *f) {
  fputs("usage: mxblas COMMAND [options]   (mxblas COMMAND --help for its options)\n\ncommands:\n", f);
  for (size_t c = 0; c < NCMDS; c++) {
    char syn[64];
    snprintf(syn, sizeof(syn), "%s %s", k_cmds[c].name, k_cmds[c].args);
    if (strlen(syn) > 30)
      fprintf(f, "  %s\n  %-30s %s\n", syn, "", k_cmds[c].summary);
    else
      fprintf(f, "  %-30s %s\n", syn, k_cmds[c].summary);
  }
  fputs("\ninput files: .npy (<f4, <f2, <u2 = bf16 bits, <f8) or safetensors (F32, F16, BF16,\n"
        "F64); N-D arrays are read as [prod(leading dims), last].\n"
        "exit codes: 0 ok, 1 check mismatch, 2 usage error, 3 I/O or library error\n",
        f);
}

static void print_cmd_help(FILE *f, const cli_cmddef *c) {
  fprintf(f, "usage: mxblas %s%s%s [options]\n%s\n", c->name, c->args[0] ? " " : "", c->args, c->summary);
  if (c->text) fprintf(f, "\n%s\n", c->text);
  fputs("\noptions:\n", f);
  for (size_t k = 0; k < NOPTS; k++) {
    if (!(k_opts[k].cmds & c->bit)) continue;
    char label[160];
    opt_label(&k_opts[k], label, sizeof(label));
    if (strlen(label) > 26)
      fprintf(f, "  %s\n  %-26s %s\n", label, "", k_opts[k].help);
    else
      fprintf(f, "  %-26s %s\n", label, k_opts[k].help);
  }
}

static int parse_enum(const cli_optdef *d, const char *s, int *v) {
  char names[96] = "";
  for (int k = 0; d->values[k].name; k++) {
    if (strcmp(s, d->values[k].name) == 0) {
      *v = d->values[k].value;
      return 0;
    }
    snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", k ? ", " : "", d->values[k].name);
  }
  return cli_usage("--%s: unknown value '%s' (one of: %s)", d->name, s, names);
}

static int parse_u64(const char *opt, const char *s, uint64_t *v) {
  char *end;
  unsigned long long x = strtoull(s, &end, 0);
  if (!*s || *end || *s == '-') return cli_usage("--%s: '%s' is not a non-negative integer", opt, s);
  *v = x;
  return 0;
}

/* SIZE: bytes, or a number with K, M, G or T (powers of 1024). */
static int parse_size(const char *s, uint64_t *v) {
  char *end;
  if (*s < '0' || *s > '9') return -1;
  unsigned long long x = strtoull(s, &end, 10);
  const char *units = "KMGT", *u = *end ? strchr(units, *end & ~0x20) : NULL;
  if (*end && (!u || end[1])) return -1;
  uint64_t r = x;
  for (const char *p = units; u && p <= u; p++) {
    if (r > UINT64_MAX / 1024) return -1;
    r *= 1024;
  }
  *v = r;
  return 0;
}

void cli_opts_init(cli_opts *o) {
  memset(o, 0, sizeof(*o));
  o->backend = MXB_BACKEND_CPU;
  mxb_quant_config_init(&o->cfg);
  mxb_rht_init(&o->cfg.rht);
  mxb_gemm_desc_init(&o->gemm);
  o->max_memory = (uint64_t)1 << 30;
}

/* Apply one parsed option. Returns 0 or a usage exit code. */
static int apply(cli_opts *o, const cli_optdef *d, const char *v) {
  int e = 0;
  uint64_t u = 0;
  if (d->values && parse_enum(d, v, &e) != 0) return CLI_USAGE;
  switch (d->id) {
    case O_OUT: o->out = v; break;
    case O_TENSOR:
      if (o->ntensors == CLI_MAX_GLOBS) return cli_usage("at most %d --tensor options", CLI_MAX_GLOBS);
      if (o->ntensors && !(d->cmds & C_ANALYZE)) return cli_usage("--tensor given twice");
      o->tensors[o->ntensors++] = v;
      o->tensor = o->tensors[0];
      break;
    case O_TENSOR_A: o->tensor_a = v; break;
    case O_TENSOR_B: o->tensor_b = v; break;
    case O_BACKEND: o->backend = (mxb_backend_t)e; break;
    case O_RULE: o->cfg.scale_rule = (mxb_scale_rule_t)e; break;
    case O_ROUND: o->cfg.rounding = (mxb_rounding_t)e; break;
    case O_NONFINITE: o->cfg.nonfinite = (mxb_nonfinite_t)e; break;
    case O_SEED:
    case O_OFFSET:
      if (parse_u64(d->name, v, &u) != 0) return CLI_USAGE;
      *(d->id == O_SEED ? &o->cfg.seed : &o->cfg.offset) = u;
      break;
    case O_RHT: o->rht = o->cfg.rht.enabled = 1; break;
    case O_RHT_ONLY: o->rht_only = 1; break;
    case O_2D: o->cfg.block_2d = 1; break;
    case O_FOUR_OVER_SIX: o->cfg.four_over_six = (mxb_four_over_six_t)e; break;
    case O_E4M3_MAX: o->cfg.nvfp4_e4m3_max = e; break;
    case O_COMPAT: o->cfg.compat = (mxb_compat_t)e; break;
    case O_ROW_AMAX: o->cfg.nvfp4_row_amax = 1; break;
    case O_POW2: o->cfg.fp8_pow2_scale = 1; break;
    case O_JSON: o->json = 1; break;
    case O_CSV: o->csv = 1; break;
    case O_FORMATS: o->formats = v; break;
    case O_ALL_TENSORS: o->all_tensors = 1; break;
    case O_SORT: o->sort = e; break;
    case O_PLOTS: o->plots = v; break;
    case O_FORMAT: o->format = v; break;
    case O_FORMAT_B: o->format_b = v; break;
    case O_B_LAYOUT: o->b_nk = e; break;
    case O_MODE: o->gemm.mode = (mxb_gemm_mode_t)e; break;
    case O_MAX_MEMORY:
      if (parse_size(v, &o->max_memory) != 0)
        return cli_usage("--max-memory: '%s' is not a size (bytes, or a number with K, M, G or T)", v);
      break;
    case O_KEEP_RHT: o->keep_rht = 1; break;
    case O_MAX_ABS: {
      char *end;
      o->max_abs = strtod(v, &end);
      if (!*v || *end || !(o->max_abs >= 0)) return cli_usage("--max-abs: '%s' is not a non-negative number", v);
      o->use_max_abs = 1;
      break;
    }
    case O_JUNIT: o->junit = v; break;
    case O_RESULTS: o->results = v; break;
    default: break;
  }
  return 0;
}

/* Parse argv of one command (argv[0] is the command name). */
static int run_cmd(const cli_cmddef *c, int argc, char **argv) {
  /* getopt_long's table: every option name once, the row of this command
   * first, so that the rows of other commands only serve the refusal. */
  struct option lo[NOPTS + 1];
  const cli_optdef *row[NOPTS];
  /* '-': positional arguments come back in order, options anywhere;
   * ':': a missing value is told apart from an unknown option. */
  char shorts[16] = "-:";
  int n = 0;
  for (int pass = 0; pass < 2; pass++)
    for (size_t k = 0; k < NOPTS; k++) {
      const cli_optdef *d = &k_opts[k];
      if ((!(d->cmds & c->bit)) != pass) continue;
      int dup = 0;
      for (int j = 0; j < n; j++) dup |= !strcmp(lo[j].name, d->name);
      if (dup) continue;
      lo[n] = (struct option){d->name, d->arg ? required_argument : no_argument, NULL, 256 + n};
      row[n] = d;
      if (d->short_name) snprintf(shorts + strlen(shorts), 4, "%c%s", d->short_name, d->arg ? ":" : "");
      n++;
    }
  lo[n] = (struct option){0, 0, 0, 0};
  cli_opts o;
  cli_opts_init(&o);
  char *args[4];
  int nargs = 0;
  opterr = 0;
  optind = 0; /* glibc: reinitialise */
  for (;;) {
    int r = getopt_long(argc, argv, shorts, lo, NULL);
    if (r == -1) break;
    if (r == 1) { /* a positional argument */
      if (nargs == c->max_args) return cli_usage("%s: unexpected argument '%s'", c->name, optarg);
      args[nargs++] = optarg;
      continue;
    }
    const cli_optdef *d = NULL;
    if (r >= 256) d = row[r - 256];
    for (int j = 0; j < n && !d; j++)
      if (row[j]->short_name == r) d = row[j];
    if (r == ':') return cli_usage("%s: option %s needs a value", c->name, argv[optind - 1]);
    if (r == '?' && optopt >= 256)
      return cli_usage("%s: option --%s takes no value", c->name, lo[optopt - 256].name);
    if (r == '?' && optopt) return cli_usage("%s: unknown option '-%c'", c->name, optopt);
    if (!d) return cli_usage("%s: unknown or ambiguous option '%s'", c->name, argv[optind - 1]);
    if (!(d->cmds & c->bit)) return cli_usage("%s: option --%s does not apply to %s", c->name, d->name, c->name);
    if (d->id == O_HELP) {
      print_cmd_help(stdout, c);
      return CLI_OK;
    }
    int rc = apply(&o, d, optarg);
    if (rc) return rc;
  }
  for (; optind < argc; optind++) { /* after "--" */
    if (nargs == c->max_args) return cli_usage("%s: unexpected argument '%s'", c->name, argv[optind]);
    args[nargs++] = argv[optind];
  }
  if (nargs < c->min_args)
    return cli_usage("%s: too few arguments (usage: mxblas %s %s [options])", c->name, c->name, c->args);
  return c->fn(&o, nargs, args);
}

int cli_main(int argc, char **argv) {
  if (argc < 2) {
    cli_print_usage(stderr);
    return CLI_USAGE;
  }
  const char *a = argv[1];
  if (!strcmp(a, "help") || !strcmp(a, "--help") || !strcmp(a, "-h")) {
    if (argc > 2 && !strcmp(a, "help")) {
      for (size_t c = 0; c < NCMDS; c++)
        if (!strcmp(argv[2], k_cmds[c].name)) {
          print_cmd_help(stdout, &k_cmds[c]);
          return CLI_OK;
        }
      return cli_usage("help: unknown command '%s'", argv[2]);
    }
    cli_print_usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(a, "--version")) {
    printf("mxblas %s\n", mxb_version_string());
    return CLI_OK;
  }
  for (size_t c = 0; c < NCMDS; c++)
    if (!strcmp(a, k_cmds[c].name)) return run_cmd(&k_cmds[c], argc - 1, argv + 1);
  return cli_usage("unknown command '%s'", a);
}
