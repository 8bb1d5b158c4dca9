/* mxblas analyze: the measurements, shared by the printers and the plots. */
#ifndef MXB_TOOLS_ANALYZE_H
#define MXB_TOOLS_ANALYZE_H
#include "cli.h"

/* Error against magnitude: bins of floor(log2 |x|) from AN_MAG_LO up. */
enum { AN_MAG_LO = -40, AN_MAG_BINS = 64 };

typedef struct an_tensor {
  const char *file, *name; /* name: the tensor's, or the .npy file's base name */
  int file_index, index;   /* index in the file's header (-1: .npy) */
  int64_t rows, cols;
  double energy;           /* sum of x^2 */
} an_tensor;

typedef struct an_run {
  mxb_format_t format;
  const char *name;   /* the format's */
  int rht;
  int four_six;       /* mxb_four_over_six_t of this run (NVFP4 with --four-over-six: a run each way) */
  int e4m3_max;       /* NVFP4's E4M3 bound, 448 or 256 (--e4m3-max=256: a run each way); 0 other formats */
  int row_amax;       /* NVFP4 with one tensor amax a row (--row-amax: a run each way) */
  int compat;         /* mxb_compat_t (--compat P: a run more per format the profile has, label "@P") */
  char label[32];     /* the row's name: the format, "+4/6" with Four Over Six, "/256" with the bound 256, "/row" with an amax a row */
  mxb_scale_type_t scale_type;
} an_run;

typedef struct an_result {
  int tensor, run;
  mxb_status_t status;
  char detail[256];
  double bits; /* stored bits per element, scales included */
  mxb_error_stats_t st;
  double mag_err[AN_MAG_BINS], mag_sig[AN_MAG_BINS]; /* with --plots */
} an_result;

typedef struct an_summary {
  int tensors, failed;
  int64_t values;
  double bits, sqnr_db, min_sqnr_db, frac_flushed, frac_saturated;
  int worst; /* tensor of min_sqnr_db, -1 if none */
} an_summary;

typedef struct an_data {
  an_tensor *tensors;
  int ntensors;
  const an_run *runs;
  int nruns;
  an_result *results; /* [tensor * nruns + run] */
  int nresults;
  an_summary *summaries; /* per run */
} an_data;

/* Write the SVG plots and report.html into dir (created if needed). */
int an_plots(const an_data *d, const char *dir);
#endif
