// ptq sensitivity: what each candidate GGUF type costs each weight matrix and each decoder layer of a
// model (mixed/sensitivity.hpp), as a proxy from the calibration statistics and as the measured KL
// divergence to FP with only that tensor quantized; the table feeds `ptq export --target-bpw`.
#include <cmath>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "data/text_source.hpp"
#include "mixed/sensitivity.hpp"
#include "mixed/one_shot_stats.hpp"
#include "mixed/sensitivity_report.hpp"
#include "model/model_files.hpp"

namespace ptq::cli {

namespace fs = std::filesystem;

void add_sensitivity(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, stats, calib, kl_text, out, types, method;
    int n_samples = 128, calib_seqlen = 256, windows = 8, seqlen = 256;
    uint64_t seed = 0;
    std::string protocol = "llamacpp";
    double damp = 0.01;
    bool no_measure = false, no_layers = false, sym = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("sensitivity", "Per-tensor and per-layer cost of each GGUF type: Hessian proxy and measured KL");
  cmd->add_option("--model,-m", a->model, "Model (llama2.c .bin, Hugging Face directory, GGUF)")->required();
  cmd->add_option("--tokenizer,-t", a->tokenizer, "Tokenizer (default: found beside the model)");
  cmd->add_option("--stats", a->stats,
                  "Calibration statistics (.h5) for the proxy and the imatrix / GPTQ quantizers; computed one-shot from "
                  "--calib when the file is missing or was made otherwise (default: <out>/stats.h5 when --calib is given)");
  cmd->add_option("--calib", a->calib, "Calibration text (statistics; and the KL windows unless --kl-text)");
  cmd->add_option("--n-samples", a->n_samples, "Calibration windows for the statistics")->capture_default_str();
  cmd->add_option("--calib-seqlen", a->calib_seqlen, "Tokens per calibration window")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the calibration windows")->capture_default_str();
  cmd->add_option("--kl-text", a->kl_text, "Text whose last --windows windows measure the KL (default: --calib)");
  cmd->add_option("--windows", a->windows, "Windows for the measured KL")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--seqlen", a->seqlen, "Tokens per KL window")->capture_default_str();
  cmd->add_option("--protocol", a->protocol, "KL windows: llamacpp (second half scored) or gptq")->capture_default_str();
  cmd->add_option("--types", a->types,
                  "Candidates, comma-separated: GGUF types (default q2_k,q3_k,q4_k,q5_k,q6_k,q4_0,q4_1,q5_0,q5_1,q8_0) or "
                  "integer grids for ptq quantize --target-bpw (int<bits>g<group> / int<bits>pc, e.g. int3g64,int4g128,int8pc; "
                  "'grids': bits 2,3,4,8 x g32,g64,g128,per channel)");
  cmd->add_flag("--sym", a->sym, "Integer grids: symmetric (as ptq quantize --sym)");
  cmd->add_option("--method", a->method,
                  "How each type is applied, as the export will: gptq (--gptq-stats), imatrix (--imatrix stats.h5) or rtn "
                  "(default: gptq with statistics, else rtn)");
  cmd->add_option("--gptq-damp", a->damp, "GPTQ damping")->capture_default_str();
  cmd->add_flag("--no-measure", a->no_measure, "Proxy only (no forward passes)");
  cmd->add_flag("--no-layers", a->no_layers, "Single tensors only (no whole-layer rows)");
  cmd->add_option("--out,-o", a->out, "Output directory")->required();
  cmd->callback([a] {
    mixed::SensitivityOptions opt;
    if (a->types == "grids") {
      opt.types = mixed::default_grid_candidates();
    } else if (!a->types.empty()) {
      opt.types = mixed::is_grid_candidate(a->types.substr(0, a->types.find(','))) ? mixed::parse_grid_candidates(a->types)
                                                                                  : mixed::parse_candidate_types(a->types);
    }
    opt.grid_base.sym = a->sym;
    opt.per_layer = !a->no_layers;
    opt.gptq_damp = a->damp;
    if (a->kl_text.empty()) a->kl_text = a->calib;
    if (!a->no_measure && a->kl_text.empty()) fail("ptq sensitivity", "the measured KL needs a text: --calib or --kl-text (or --no-measure)");
    fs::create_directories(a->out);
    if (a->stats.empty() && !a->calib.empty()) a->stats = (fs::path(a->out) / "stats.h5").string();
    if (!a->calib.empty()) {
      // One-shot statistics (reused when the file's provenance matches).
      data::TextSourceSpec calib;
      calib.path = a->calib;
      calib::SamplingSpec sampling;
      sampling.n_samples = a->n_samples;
      sampling.seqlen = a->calib_seqlen;
      sampling.seed = a->seed;
      mixed::one_shot_stats(a->model, a->tokenizer, calib, sampling, a->stats,
                            (fs::path(a->out) / ".calibration-rtn").string(), std::cerr);
    }
    if (!a->stats.empty() && !fs::exists(a->stats)) fail(a->stats, "statistics file not found (pass --calib TEXT to compute it)");
    opt.stats = a->stats;
    opt.method = mixed::parse_quant_method(a->method.empty() ? (a->stats.empty() ? "rtn" : "gptq") : a->method);

    std::shared_ptr<const model::WeightSource> src = model::open_weights(a->model);
    std::unique_ptr<mixed::ReferenceKl> ref;
    if (!a->no_measure) {
      eval::KlOptions ko;
      ko.protocol = a->protocol;
      ko.seqlen = a->seqlen;
      ko.max_windows = a->windows;
      ref = mixed::reference_on_text(a->model, a->tokenizer, a->kl_text, ko);
    }
    mixed::SensitivityTable table = mixed::measure_sensitivity(src, ref.get(), opt, std::cerr);
    table.text = a->no_measure ? "" : a->kl_text;
    mixed::write_sensitivity_report(table, a->out);
    std::cout << "wrote " << a->out << "/sensitivity.{json,csv,md}, sensitivity_heatmap.svg";
    const double rho = mixed::proxy_rank_correlation(table);
    if (std::isfinite(rho)) std::cout << ", proxy_vs_kl.svg (Spearman rho " << rho << ")";
    std::cout << ": " << table.rows.size() << " rows, method " << table.method;
    if (!table.fixed.empty()) std::cout << ", " << table.fixed.size() << " matrices no candidate fits";
    std::cout << "\n";
  });
}

}  // namespace ptq::cli
