/* Philox4x32-10 (NUMERICS 3): Random123 known answers, cuRAND's host
 * generator, and the element -> byte mapping. */
#include "common/philox.h"
#include "common/rht.h"
#include "testutil.h"

#ifdef MXB_WITH_CUDA
#include <curand.h>
#endif

/* Random123 kat_vectors, philox4x32 10 rounds. */
Test(philox, random123_known_answers) {
  static const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
       0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
       0x24126ea1}};
  for (int i = 0; i < 3; i++) {
    const uint32_t *k = kat[i];
    mxb_u32x4 w = mxb_philox4x32_10(k[0], k[1], k[2], k[3], k[4], k[5]);
    for (int j = 0; j < 4; j++) cr_assert_eq(w.v[j], k[6 + j], "kat %d word %d: %08x", i, j, w.v[j]);
  }
}

/* cuRAND's host generator (CURAND_RNG_PSEUDO_PHILOX4_32_10, offset 0) runs
 * 65536 subsequences side by side: output word 4q + k is word k of
 * Philox(counter = (q / 65536, 0, q % 65536, 0), key = (seed_lo, seed_hi)).
 * Matching it pins our rounds, constants and key/counter word order to
 * cuRAND's curand_Philox4x32_10. */
Test(philox, matches_curand_host_generator) {
#ifndef MXB_WITH_CUDA
  cr_skip_test("built without CUDA (cuRAND not available)");
#else
  curandGenerator_t g;
  if (curandCreateGeneratorHost(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10) != CURAND_STATUS_SUCCESS)
    cr_skip_test("cuRAND host generator unavailable");
  const uint64_t seeds[2] = {0x123456789abcdefULL, 42};
  size_t n = (size_t)4 * 65536 * 2 + 4 * 100; /* crosses into counter word 2 */
  uint32_t *out = malloc(n * 4);
  cr_assert_not_null(out);
  for (int s = 0; s < 2; s++) {
    cr_assert_eq(curandSetPseudoRandomGeneratorSeed(g, seeds[s]), CURAND_STATUS_SUCCESS);
    cr_assert_eq(curandSetGeneratorOffset(g, 0), CURAND_STATUS_SUCCESS);
    cr_assert_eq(curandGenerate(g, out, n), CURAND_STATUS_SUCCESS);
    for (size_t q = 0; q < n / 4; q++) {
      mxb_u32x4 w = mxb_philox4x32_10((uint32_t)(q >> 16), 0, (uint32_t)(q & 0xFFFF), 0, (uint32_t)seeds[s],
                                      (uint32_t)(seeds[s] >> 32));
      for (int k = 0; k < 4; k++) cr_assert_eq(w.v[k], out[4 * q + k], "seed %d quad %zu word %d", s, q, k);
    }
  }
  free(out);
  curandDestroyGenerator(g);
#endif
}

Test(philox, element_byte_mapping) {
  const uint64_t seed = 0xFEEDFACE12345678ULL, off = 0x0000000700000003ULL;
  for (uint64_t i = 0; i < 200; i++) {
    uint64_t g = i / 16;
    mxb_u32x4 w = mxb_philox4x32_10((uint32_t)g, (uint32_t)(g >> 32), (uint32_t)off, (uint32_t)(off >> 32),
                                    (uint32_t)seed, (uint32_t)(seed >> 32));
    uint32_t j = (uint32_t)(i % 16);
    cr_assert_eq(mxb_sr_byte(seed, off, i), (w.v[j / 4] >> (8 * (j % 4))) & 0xFF);
  }
  /* high halves of the group index and offset reach the counter */
  uint64_t big = ((uint64_t)5 << 32) * 16;
  cr_assert_neq(mxb_sr_byte(seed, off, big), mxb_sr_byte(seed, off, big & 0xFFFFFFFFull));
  cr_assert_neq(mxb_sr_byte(seed, off, 0), mxb_sr_byte(seed, off & 0xFFFFFFFFull, 0));
  cr_assert_neq(mxb_sr_byte(seed, off, 0), mxb_sr_byte(seed & 0xFFFFFFFFull, off, 0));
}

Test(philox, rht_seed_signs) {
  uint32_t w[8];
  const uint64_t seed = 99;
  mxb_rht_signs_from_seed(seed, 16, w);
  mxb_u32x4 r0 = mxb_philox4x32_10(0, 0, 0, 0, 99, 0);
  cr_assert_eq(w[0], r0.v[0] & 0xFFFF);
  for (int k = 1; k < 8; k++) cr_assert_eq(w[k], 0u);
  mxb_rht_signs_from_seed(seed, 256, w);
  mxb_u32x4 r1 = mxb_philox4x32_10(1, 0, 0, 0, 99, 0);
  for (int k = 0; k < 8; k++) cr_assert_eq(w[k], (k < 4 ? r0 : r1).v[k % 4], "word %d", k);
}
