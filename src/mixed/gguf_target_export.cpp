#include "mixed/gguf_target_export.hpp"

#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace ptq::mixed {

namespace fs = std::filesystem;

std::string export_method(const exporter::GgufExportOptions& opt) {
  if (!opt.gptq_stats.empty()) return "gptq";
  if (!opt.importance.empty()) return "imatrix";
  return "rtn";
}

GgufTargetResult export_gguf_to_budget(const model::WeightSource& src, const std::string& out,
                                       const exporter::GgufExportOptions& opt, const GgufTarget& target) {
  if (!opt.overrides.empty()) throw Error("--override cannot be combined with --target-bpw / --target-size (the allocation chooses every type)");
  if (target.sensitivity.empty()) {
    throw Error("--target-bpw / --target-size need --sensitivity FILE (sensitivity.json of ptq sensitivity)");
  }
  const SensitivityTable table = read_sensitivity(target.sensitivity);
  const std::string method = export_method(opt);
  if (table.method != method) {
    throw Error(target.sensitivity + ": measured with method " + table.method + " but this export quantizes with " +
                method + " (" + (method == "gptq" ? "--gptq-stats" : method == "imatrix" ? "--imatrix" : "no statistics") +
                "); measure again with --method " + method);
  }
  std::vector<std::string> types = table.types;
  if (!target.types.empty()) {
    std::string csv;
    for (const auto& t : target.types) csv += t + ",";
    types = parse_candidate_types(csv);
  }
  GgufTargetResult r;
  const std::string scratch = (fs::absolute(out).parent_path() / (".ptq-layout-" + fs::path(out).filename().string())).string();
  r.bytes = gguf_byte_model(src, opt, types, scratch);
  fs::remove_all(scratch);
  r.budget = budget_bytes(r.bytes, target.bpw, target.size);
  r.allocation = allocate_gguf(r.bytes, table, r.budget);
  const exporter::GgufExportOptions chosen = allocation_export_options(r.bytes, opt, r.allocation.chosen);
  r.exported = exporter::export_gguf(src, out, chosen);
  if (r.exported.bytes != r.allocation.file_bytes) {
    throw Error(out + ": written " + std::to_string(r.exported.bytes) + " bytes but the byte model predicted " +
                std::to_string(r.allocation.file_bytes) + " (a bug in ptq's GGUF byte accounting)");
  }
  nlohmann::json tensors = nlohmann::json::object();
  std::map<std::string, int> counts;
  for (size_t i = 0; i < r.bytes.tensors.size(); ++i) {
    const std::string& ty = r.allocation.chosen[i];
    const SensitivityRow* row = table.find(r.bytes.tensors[i].gguf, ty);
    tensors[r.bytes.tensors[i].gguf] = {{"type", ty}, {"bytes", r.bytes.tensor_bytes(i, ty)},
                                        {"kl", row ? nlohmann::json(row->kl) : nlohmann::json()},
                                        {"proxy", row ? nlohmann::json(row->proxy) : nlohmann::json()}};
    ++counts[ty];
  }
  r.record = {{"file", out},
              {"budget_bytes", r.budget},
              {"file_bytes", r.exported.bytes},
              {"bits_per_weight", 8.0 * static_cast<double>(r.exported.bytes) / static_cast<double>(r.bytes.parameters)},
              {"parameters", r.bytes.parameters},
              {"reachable_bytes", {r.bytes.min_file_bytes(), r.bytes.max_file_bytes()}},
              {"method", method},
              {"cost", r.allocation.cost},
              {"predicted", r.allocation.predicted},
              {"exact", r.allocation.exact},
              {"sensitivity", target.sensitivity},
              {"candidate_types", types},
              {"type_counts", counts},
              {"fixed", [&] {
                 std::vector<std::string> f;
                 for (const auto& t : r.bytes.fixed) f.push_back(t.gguf);
                 return f;
               }()},
              {"tensors", tensors}};
  io::write_file_atomically(out + ".allocation.json", r.record.dump(1) + "\n");
  return r;
}

}  // namespace ptq::mixed
