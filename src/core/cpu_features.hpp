// What this CPU's vector units offer, detected at run time (cpuid), so ptq can say which compute
// paths are fast here: AVX2/FMA (fp32 sgemm), AVX-512 BF16 and AMX-BF16 (bf16 matrix products that
// oneDNN runs faster than fp32). On a CPU without them bf16 products are emulated and slower.
#pragma once
#include <string>

namespace ptq {

struct CpuFeatures {
  bool avx2 = false, fma = false, avx512f = false, avx512_bf16 = false, amx_tile = false, amx_bf16 = false;
  // Whether bf16 matrix products have native hardware here (AVX512_BF16 or AMX-BF16).
  bool native_bf16() const { return avx512_bf16 || amx_bf16; }
  // "avx2 fma avx512f avx512_bf16 amx_bf16" (the present ones), or "none of avx2/avx512/amx".
  std::string summary() const;
};

CpuFeatures detect_cpu_features();

}  // namespace ptq
