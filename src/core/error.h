/* Status plumbing: every failure records a detail message for the thread. */
#ifndef MXB_CORE_ERROR_H
#define MXB_CORE_ERROR_H
#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MXB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MXB_PRINTF(a, b)
#endif

/* Record a detail message (printf-style) and return s. */
mxb_status_t mxb_fail(mxb_status_t s, const char *fmt, ...) MXB_PRINTF(2, 3);
/* Clear the detail message (called at the start of every public entry). */
void mxb_clear_error(void);

/* Propagate a failing status. */
#define MXB_TRY(expr)                                  \
  do {                                                 \
    mxb_status_t mxb_try_s_ = (expr);                  \
    if (mxb_try_s_ != MXB_SUCCESS) return mxb_try_s_;  \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
