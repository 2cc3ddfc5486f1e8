// Shared by the export tests: stories260K exported to GGUF at a type, with the F16 fallback its
// 172-wide ffn_down needs for the block types (as llama.cpp's converter does).
#pragma once
#include <string>

#include "export/gguf_export.hpp"

namespace ptq::test {

inline exporter::GgufExportOptions export_options(const std::string& type) {
  exporter::GgufExportOptions opt;
  opt.type = type;
  if (type == "q8_0" || type == "q4_0") opt.fallback = "f16";
  return opt;
}

inline exporter::GgufExportResult export_gguf_as(const model::WeightSource& src, const std::string& out,
                                                 const std::string& type) {
  return exporter::export_gguf(src, out, export_options(type));
}

}  // namespace ptq::test
