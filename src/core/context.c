/* Context entry points (create, destroy, backend, last implementation) and
 * the per-thread record of the implementation that served the last call. */
#include "core/context.h"
#include "core/error.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Context ids start at 1; 0 marks a thread that has made no successful call.
 * An id (not the address) keys the record, so a context created where a
 * destroyed one lived does not inherit its answer. */
static atomic_uint_least64_t g_next_id = 1;
static _Thread_local uint64_t t_last_ctx;
static _Thread_local const char *t_last_impl;

void mxb_set_last_impl(const struct mxb_context *ctx, const char *impl) {
  t_last_ctx = ctx->id;
  t_last_impl = impl;
}

MXB_API mxb_status_t mxb_context_create(mxb_backend_t backend, int device, mxb_context_t **ctx) {
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx (the output pointer) is NULL");
  if (backend != MXB_BACKEND_CPU && backend != MXB_BACKEND_CUDA)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "backend %d is not a valid mxb_backend_t", (int)backend);
#ifndef MXB_WITH_CUDA
  if (backend == MXB_BACKEND_CUDA)
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the CUDA backend was requested but this build has no CUDA");
#endif
  struct mxb_context *c = calloc(1, sizeof(*c));
  if (!c) return mxb_fail(MXB_ERR_ALLOC, "could not allocate the context");
  c->backend = backend;
  c->device = device;
  c->id = atomic_fetch_add(&g_next_id, 1);
#ifdef MXB_WITH_CUDA
  if (backend == MXB_BACKEND_CUDA) {
    mxb_status_t s = mxb_cuda_context_init(c);
    if (s != MXB_SUCCESS) {
      free(c);
      return s;
    }
  }
#endif
  *ctx = c;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_context_destroy(mxb_context_t *ctx) {
  mxb_clear_error();
  if (!ctx) return MXB_SUCCESS;
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) mxb_cuda_context_fini(ctx);
#endif
  free(ctx);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_context_backend(const mxb_context_t *ctx, mxb_backend_t *backend) {
  mxb_clear_error();
  if (!ctx || !backend) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx or backend is NULL");
  *backend = ctx->backend;
  return MXB_SUCCESS;
}

MXB_API const char *mxb_context_last_impl(const mxb_context_t *ctx) {
  return ctx && t_last_ctx == ctx->id ? t_last_impl : "none";
}

MXB_API mxb_status_t mxb_cuda_device_count(int *count) {
  mxb_clear_error();
  if (!count) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "count is NULL");
#ifdef MXB_WITH_CUDA
  return mxb_cuda_count_devices(count);
#else
  *count = 0;
  return MXB_SUCCESS;
#endif
}
