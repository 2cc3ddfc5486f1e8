#include "mixed/sensitivity_cache.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <ostream>

#include "core/sha256.hpp"
#include "core/version.hpp"
#include "data/text_source.hpp"
#include "mixed/sensitivity.hpp"
#include "mixed/sensitivity_report.hpp"
#include "pipeline/quantize_model.hpp"

namespace ptq::mixed {

namespace fs = std::filesystem;

std::string cached_sensitivity(const SensitivityRequest& r, std::ostream& log) {
  const nlohmann::json key = {{"model", pipeline::model_fingerprint(r.model)},
                              {"stats", r.stats.empty() ? "" : sha256_file(r.stats)},
                              {"method", r.method}, {"types", r.types}, {"sym", r.sym}, {"measure", r.measure},
                              {"text", r.measure ? sha256_file(r.kl_text) : ""}, {"protocol", r.protocol},
                              {"seqlen", r.seqlen}, {"windows", r.windows}, {"ptq_version", PTQ_VERSION}};
  const fs::path dir = fs::path(data::default_cache_dir()) / "sensitivity" / sha256_hex(key.dump()).substr(0, 24);
  const std::string path = (dir / "sensitivity.json").string();
  if (fs::exists(path)) {
    log << "sensitivity: reusing " << path << "\n";
    return path;
  }
  SensitivityOptions opt;
  opt.types = r.types;
  opt.method = parse_quant_method(r.method);
  opt.stats = r.stats;
  opt.per_layer = false;
  opt.grid_base.sym = r.sym;
  std::shared_ptr<const model::WeightSource> src = model::open_weights(r.model);
  std::unique_ptr<ReferenceKl> ref;
  if (r.measure) {
    eval::KlOptions ko;
    ko.protocol = r.protocol;
    ko.seqlen = r.seqlen;
    ko.max_windows = r.windows;
    ref = reference_on_text(r.model, r.tokenizer, r.kl_text, ko);
  }
  SensitivityTable table = measure_sensitivity(src, ref.get(), opt, log);
  table.text = r.measure ? r.kl_text : "";
  // Written beside, then renamed: a concurrent or killed run never leaves half a table under the name.
  const fs::path tmp = dir.string() + ".tmp-" + std::to_string(::getpid());
  fs::create_directories(tmp);
  write_sensitivity_report(table, tmp.string());
  std::error_code ec;
  fs::rename(tmp, dir, ec);
  if (ec) fs::remove_all(tmp);  // another process finished first: its table is the same
  log << "sensitivity: wrote " << path << "\n";
  return path;
}

}  // namespace ptq::mixed
