// ptq run: one YAML experiment. Writes <output>/<name>/ with the experiment file as given,
// provenance and metrics.json, and prints a table.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "config/experiment.hpp"
#include "core/sha256.hpp"
#include "core/threads.hpp"
#include "data/text_source.hpp"
#include "eval/perplexity.hpp"
#include "io/atomic_file.hpp"
#include "model/generate.hpp"

namespace ptq::cli {

namespace fs = std::filesystem;

void add_run(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("run", "Run a YAML experiment");
  cmd->add_option("config", *file, "Experiment YAML file")->required();
  cmd->callback([file] {
    const auto x = config::load_experiment(*file);
    if (x.threads > 0) set_threads(x.threads);
    const fs::path out = fs::path(x.output) / x.name;
    fs::create_directories(out);
    fs::copy_file(*file, out / "config.yaml", fs::copy_options::overwrite_existing);
    std::cout << "experiment " << x.name << " -> " << out.string() << "\n";
    auto lm = load_model(x.model, x.tokenizer);
    const std::string tok_id = data::tokenizer_fingerprint(lm.tokenizer_path);
    nlohmann::json metrics = {{"experiment", x.name}, {"model", x.model}};
    nlohmann::json prov = {{"ptq_version", PTQ_VERSION}, {"ptq_commit", PTQ_GIT_COMMIT},
                           {"threads", torch::get_num_threads()}, {"tokenizer_sha256", tok_id}};
    if (fs::is_regular_file(x.model)) prov["model_sha256"] = sha256_file(x.model);

    if (!x.perplexity.texts.empty()) {
      eval::PerplexityOptions opt;
      opt.protocol = x.perplexity.protocol;
      opt.seqlen = x.perplexity.seqlen;
      opt.batch = x.perplexity.batch;
      opt.max_windows = x.perplexity.max_windows;
      std::printf("\n| method | text | protocol | n_ctx | windows | PPL | ± | tokens/s |\n");
      std::printf("|---|---|---|---:|---:|---:|---:|---:|\n");
      for (const auto& t : x.perplexity.texts) {
        data::TextSourceSpec spec;
        spec.path = t;
        const std::string text = data::read_text(spec);
        prov["data_sha256"][fs::path(t).filename().string()] = sha256_hex(text);
        const auto ids = data::tokenize_cached(*lm.tokenizer, tok_id, text, true);
        const auto r = eval::perplexity(*lm.model, ids, opt);
        std::printf("| fp32 | %s | %s | %d | %lld | %.4f | %.4f | %.0f |\n", fs::path(t).filename().string().c_str(),
                    r.protocol.c_str(), r.seqlen, static_cast<long long>(r.windows), r.ppl, r.ppl_stderr,
                    r.tokens_per_second);
        auto entry = eval::to_json(r);
        entry["method"] = "fp32";
        entry["text"] = t;
        metrics["perplexity"].push_back(entry);
      }
    }
    if (x.generate.enabled) {
      model::GenerateOptions g;
      g.max_tokens = x.generate.max_tokens;
      g.stop_token = lm.tokenizer->eos();
      auto ids = model::generate(*lm.model, lm.tokenizer->encode(x.generate.prompt, true), g);
      if (!ids.empty() && ids.back() == g.stop_token) ids.pop_back();
      const std::string text = x.generate.prompt + lm.tokenizer->decode(ids);
      std::cout << "\nsample (greedy): " << text << "\n";
      metrics["sample"] = text;
    }
    io::write_file_atomically((out / "metrics.json").string(), metrics.dump(2) + "\n");
    io::write_file_atomically((out / "provenance.json").string(), prov.dump(2) + "\n");
    std::cout << "\nwrote " << (out / "metrics.json").string() << "\n";
  });
}

}  // namespace ptq::cli
