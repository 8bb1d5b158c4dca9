/* Defaults of the option structs (the *_init entry points). */
#include "core/tensor.h"

#include <string.h>

static void rht_defaults(mxb_rht_t *rht) {
  memset(rht, 0, sizeof(*rht));
  rht->size = 16;
  rht->sign_source = MXB_SIGNS_MASK;
  rht->sign_mask[0] = 0xD7E8u; /* the vector of the NVFP4 recipe and TE */
}

MXB_API void mxb_rht_init(mxb_rht_t *rht) {
  if (rht) rht_defaults(rht);
}

void mxb_quant_config_defaults(mxb_quant_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->struct_size = sizeof(*cfg);
  cfg->rounding = MXB_ROUND_RNE;
  cfg->scale_rule = MXB_SCALE_RULE_RCEIL;
  cfg->nonfinite = MXB_NONFINITE_NAN_BLOCK;
  cfg->amax_source = MXB_AMAX_COMPUTE;
  rht_defaults(&cfg->rht);
}

MXB_API void mxb_quant_config_init(mxb_quant_config_t *cfg) {
  if (cfg) mxb_quant_config_defaults(cfg);
}

MXB_API void mxb_mor_config_init(mxb_mor_config_t *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof(*cfg));
  cfg->struct_size = sizeof(*cfg);
  cfg->metric = MXB_MOR_METRIC_REL_L2;
  cfg->tau = 0.045; /* see docs/TRANSFORMS.md for how this default was chosen */
  cfg->pow2_scale = 0;
}

MXB_API void mxb_gemm_desc_init(mxb_gemm_desc_t *desc) {
  if (!desc) return;
  memset(desc, 0, sizeof(*desc));
  desc->struct_size = sizeof(*desc);
  desc->mode = MXB_GEMM_EXACT;
  desc->c_type = MXB_DTYPE_FP32;
  desc->alpha = 1.0f;
  desc->beta = 0.0f;
  desc->ldc = 0;
  desc->bias = NULL;
  desc->bias_type = MXB_DTYPE_FP32;
  desc->activation = MXB_ACT_NONE;
  desc->aux = NULL;
  desc->ld_aux = 0;
}

MXB_API void mxb_gemm_plan_prefs_init(mxb_gemm_plan_prefs_t *prefs) {
  if (!prefs) return;
  memset(prefs, 0, sizeof(*prefs));
  prefs->struct_size = sizeof(*prefs);
  prefs->alignment = MXB_WORKSPACE_ALIGNMENT;
  prefs->max_workspace = 0;
}

MXB_API void mxb_grouped_gemm_desc_init(mxb_grouped_gemm_desc_t *desc) {
  if (!desc) return;
  memset(desc, 0, sizeof(*desc));
  desc->struct_size = sizeof(*desc);
  desc->layout = MXB_GROUPED_M_CONTIGUOUS;
  desc->groups = 1;
  desc->index_bits = 32;
}
