/* Philox4x32-10 (Random123; the same function as cuRAND's
 * curand_Philox4x32_10) and the element -> random byte mapping of NUMERICS 3. */
#ifndef MXB_COMMON_PHILOX_H
#define MXB_COMMON_PHILOX_H
#include <stdint.h>

#include "common/hd.h"

typedef struct mxb_u32x4 {
  uint32_t v[4];
} mxb_u32x4;

MXB_HD mxb_u32x4 mxb_philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                                   uint32_t k1) {
  for (int round = 0; round < 10; round++) {
    if (round) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  mxb_u32x4 r = {{c0, c1, c2, c3}};
  return r;
}

/* The 16 random bytes of group g = i / 16 (i the element's linear index in
 * the stored orientation): counter (g, offset), key seed. */
MXB_HD mxb_u32x4 mxb_philox_group(uint64_t seed, uint64_t offset, uint64_t group) {
  return mxb_philox4x32_10((uint32_t)group, (uint32_t)(group >> 32), (uint32_t)offset,
                           (uint32_t)(offset >> 32), (uint32_t)seed, (uint32_t)(seed >> 32));
}
/* Byte j % 4 of word j / 4 for element j = i % 16 of the group. */
MXB_HD uint32_t mxb_philox_byte(const mxb_u32x4 *w, int j) {
  return (w->v[j >> 2] >> (8 * (j & 3))) & 0xFFu;
}
/* The linear index SR draws element (r, c) of a shard at: its index in the
 * whole tensor, of ld columns, in which the shard's element (0, 0) is
 * (row0, col0) (mxb_quant_config_t.global_*; 0, 0 and the shard's own
 * column count for a whole tensor). base = mxb_sr_base(row0, col0, ld),
 * made once per call. */
MXB_HD int64_t mxb_sr_base(int64_t row0, int64_t col0, int64_t ld) { return row0 * ld + col0; }
MXB_HD uint64_t mxb_sr_index(int64_t r, int64_t c, int64_t base, int64_t ld) {
  return (uint64_t)(r * ld + base + c);
}
/* Random byte of the element at linear index i. */
MXB_HD uint32_t mxb_sr_byte(uint64_t seed, uint64_t offset, uint64_t i) {
  mxb_u32x4 w = mxb_philox_group(seed, offset, i >> 4);
  return mxb_philox_byte(&w, (int)(i & 15u));
}

#endif
