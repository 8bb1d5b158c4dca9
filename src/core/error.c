/* Status strings and the per-thread detail message of the last failure. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char t_detail[512];

mxb_status_t mxb_fail(mxb_status_t s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_detail, sizeof(t_detail), fmt, ap);
  va_end(ap);
  return s;
}

void mxb_clear_error(void) { t_detail[0] = '\0'; }

MXB_API const char *mxb_last_error_detail(void) { return t_detail; }

MXB_API const char *mxb_status_string(mxb_status_t s) {
  switch (s) {
    case MXB_SUCCESS: return "success";
    case MXB_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MXB_ERR_BAD_SHAPE: return "bad shape";
    case MXB_ERR_BAD_ALIGNMENT: return "bad alignment";
    case MXB_ERR_UNSUPPORTED: return "unsupported format, option or combination";
    case MXB_ERR_ARCH_UNSUPPORTED: return "unsupported GPU architecture";
    case MXB_ERR_NOT_BUILT_WITH_CUDA: return "library built without CUDA";
    case MXB_ERR_NO_DEVICE: return "no CUDA device";
    case MXB_ERR_WORKSPACE_TOO_SMALL: return "workspace too small";
    case MXB_ERR_CUDA: return "CUDA error";
    case MXB_ERR_ALLOC: return "allocation failed";
    case MXB_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}
