/* MoR partition error (NUMERICS 6), shared verbatim by the CPU reference and
 * the CUDA kernels so FP8/BF16 decisions are identical: binary64, each
 * partition's elements in ascending order (row-major inside it). */
#ifndef MXB_COMMON_MOR_H
#define MXB_COMMON_MOR_H
#include <math.h>

#include "common/hd.h"
#include "mxblas.h"

/* Per partition, in ascending element order (row-major inside it):
 * REL_L2 sums (Q-P)^2 and P^2; MAX_REL keeps the max of |Q-P|/|P| (NaN wins);
 * MEAN_REL sums |Q-P|/|P| and counts the non-zero P. */
MXB_HD void mxb_mor_accumulate(mxb_mor_metric_t metric, double *acc, double p, double q) {
  double e = q - p;
  if (metric == MXB_MOR_METRIC_REL_L2) {
    acc[0] += e * e;
    acc[1] += p * p;
  } else if (p != 0) { /* NaN too: its error is NaN */
    double rel = fabs(e) / fabs(p);
    if (metric == MXB_MOR_METRIC_MAX_REL) {
      if (isnan(rel) || rel > acc[0]) acc[0] = rel;
    } else {
      acc[0] += rel;
      acc[1] += 1.0;
    }
  }
}

MXB_HD double mxb_mor_error(mxb_mor_metric_t metric, const double *acc) {
  switch (metric) {
    case MXB_MOR_METRIC_REL_L2: return acc[1] == 0 && acc[0] == 0 ? 0.0 : sqrt(acc[0]) / sqrt(acc[1]);
    case MXB_MOR_METRIC_MAX_REL: return acc[0];
    default: return acc[1] == 0 ? 0.0 : acc[0] / acc[1];
  }
}

#endif
