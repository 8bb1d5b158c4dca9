/* mxblas: look at tensors through block-scaled low-precision formats.
 * See docs/CLI.md. Exit codes: 0 ok, 1 mismatch, 2 usage, 3 I/O or library error. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

int cmd_info(cli_opts *o, int nargs, char **args) {
  (void)nargs;
  (void)args;
  int json = o->json;
  int ndev = 0;
  mxb_cuda_device_count(&ndev);
  if (json) {
    printf("{\"version\": \"%s\", \"build\": \"%s\", \"cuda_devices\": %d, \"formats\": [",
           mxb_version_string(), mxb_build_info(), ndev);
  } else {
    printf("mxblas %s\nbuild: %s\n\n", mxb_version_string(), mxb_build_info());
    printf("%-22s %-9s %4s %9s %-6s %5s %12s\n", "format", "element", "bits", "block", "scale",
           "amax", "elem max");
  }
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    if (mxb_format_info((mxb_format_t)f, &fi) != MXB_SUCCESS) continue;
    char block[32];
    if (fi.scale_type == MXB_SCALE_NONE)
      snprintf(block, sizeof(block), "-");
    else if (fi.block_rows == 0 && fi.block_cols == 0)
      snprintf(block, sizeof(block), "tensor");
    else
      snprintf(block, sizeof(block), "%dx%d", fi.block_rows, fi.block_cols);
    const char *scale = strcmp(fi.scale_name, "none") ? fi.scale_name : "-";
    if (json)
      printf("%s{\"name\": \"%s\", \"element\": \"%s\", \"elem_bits\": %d, \"block\": \"%s\", \"scale\": \"%s\", "
             "\"tensor_amax\": %s, \"elem_max\": %.17g}",
             f ? ", " : "", fi.name, fi.elem_name, fi.elem_bits, block, scale, fi.has_tensor_amax ? "true" : "false",
             fi.elem_max);
    else
      printf("%-22s %-9s %4d %9s %-6s %5s %12g\n", fi.name,
             fi.elem_name, fi.elem_bits, block, scale,
             fi.has_tensor_amax ? "yes" : "", fi.elem_max);
  }
  if (json) {
    printf("]}\n");
    return CLI_OK;
  }
  printf("\nCUDA devices: %d\n", ndev);
#ifdef MXB_WITH_CUDA
  for (int d = 0; d < ndev; d++) {
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, d) == cudaSuccess)
      printf("  %d: %s, sm_%d%d, %d SMs, %.1f GiB\n", d, p.name, p.major, p.minor,
             p.multiProcessorCount, (double)p.totalGlobalMem / (1 << 30));
  }
#endif
  return CLI_OK;
}

int cmd_list(cli_opts *o, int nargs, char **argv) {
  (void)o;
  (void)nargs;
  argv--; /* argv[1] is the file */
  char err[512];
  mxio_src s;
  if (mxio_src_file(&s, argv[1], err, sizeof(err)) != 0) return cli_error("%s", err);
  mxio_st st;
  mxio_array a;
  int rc = CLI_OK;
  uint8_t magic[6] = {0};
  if (mxio_src_read(&s, 0, magic, 6, "the magic", err, sizeof(err)) == 0 &&
      memcmp(magic, "\x93NUMPY", 6) == 0) {
    /* A .npy holds one unnamed array. */
    if (mxio_npy_read(&s, &a, err, sizeof(err)) != 0) {
      rc = cli_error("%s: %s", argv[1], err);
    } else {
      printf("%-40s %-5s [%lld, %lld]\n", "(npy)", mxio_dtype_name(a.dtype), (long long)a.rows,
             (long long)a.cols);
      mxio_array_free(&a);
    }
  } else if (mxio_st_open(&s, &st, err, sizeof(err)) != 0) {
    rc = cli_error("%s: %s", argv[1], err);
  } else {
    for (int i = 0; i < st.ntensors; i++) {
      const mxio_st_tensor *t = &st.tensors[i];
      /* Names and metadata come from the file: printed escaped. */
      size_t w = mxio_put_escaped(stdout, t->name, MXIO_ESC_TEXT);
      printf("%*s %-5s [", w < 40 ? (int)(40 - w) : 0, "",
             (int)t->dtype < 0 ? "other" : mxio_dtype_name(t->dtype));
      for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
      printf("]\n");
    }
    for (int i = 0; i < st.nmeta; i++) {
      fputs("  meta ", stdout);
      mxio_put_escaped(stdout, st.meta_keys[i], MXIO_ESC_TEXT);
      fputs(" = ", stdout);
      mxio_put_escaped(stdout, st.meta_values[i], MXIO_ESC_TEXT);
      putchar('\n');
    }
    mxio_st_free(&st);
  }
  mxio_src_close(&s);
  return rc;
}

int main(int argc, char **argv) {
  /* A write past the file size limit fails (EFBIG) and is reported, instead
   * of killing the tool halfway through an output file. */
  signal(SIGXFSZ, SIG_IGN);
  return cli_main(argc, argv);
}
