// Exact byte accounting of a GGUF export whose weight matrices get per-tensor types: the file is the
// header (metadata, vocabulary, tensor infos) padded to 32 bytes, then every tensor's data padded to
// 32 bytes. The header and the tensors no allocation touches (norms in F32, matrices no candidate
// type fits, kept in the fallback type) are measured once by a layout-only export (zeros for data,
// the real header), so predicted sizes equal the written file's to the byte.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "export/gguf_export.hpp"
#include "mixed/matrix_catalog.hpp"
#include "model/weight_source.hpp"

namespace ptq::mixed {

struct GgufByteModel {
  uint64_t fixed_bytes = 0;             // header + tensors outside the allocation, padded
  std::vector<MatrixTensor> tensors;    // allocatable matrices, in file order
  std::vector<std::vector<std::string>> types;  // per tensor, the candidates that fit its rows
  std::vector<MatrixTensor> fixed;      // matrices no candidate fits (written in the fallback type)
  uint64_t parameters = 0;              // weights in the model (tied embeddings once)

  // Padded data bytes of tensor i stored as `type`.
  uint64_t tensor_bytes(size_t i, const std::string& type) const;
  // File size when tensor i gets types[i][pick[i]].
  uint64_t file_bytes(const std::vector<std::string>& chosen) const;
  uint64_t min_file_bytes() const;
  uint64_t max_file_bytes() const;
};

// base: the export options the allocation adds its overrides to (tokenizer, fallback, name ...);
// its type and overrides are replaced. scratch: a directory for the layout-only file.
GgufByteModel gguf_byte_model(const model::WeightSource& src, const exporter::GgufExportOptions& base,
                              const std::vector<std::string>& candidates, const std::string& scratch);

// A budget given as --target-size BYTES or --target-bpw X (file bits per model weight, the results
// tables' bits per weight): in bytes. Throws ptq::Error naming the reachable range (in bytes and in
// bits per weight) when it is outside [min_file_bytes, max_file_bytes].
uint64_t budget_bytes(const GgufByteModel& m, double target_bpw, uint64_t target_size);

// Export options writing tensor i as chosen[i]: the base options with one anchored override per
// tensor, the file type that of the most weights.
exporter::GgufExportOptions allocation_export_options(const GgufByteModel& m, const exporter::GgufExportOptions& base,
                                                      const std::vector<std::string>& chosen);

}  // namespace ptq::mixed
