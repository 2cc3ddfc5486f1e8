#include "config/experiment.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "config/yaml_schema.hpp"
#include "core/error.hpp"

namespace ptq::config {

namespace fs = std::filesystem;

namespace {

std::string resolve(const YamlContext& ctx, const YAML::Node& node, const std::string& key_path,
                    const std::string& p, bool must_exist) {
  if (p.empty()) return p;
  fs::path r = fs::path(p).is_absolute() ? fs::path(p) : fs::path(ctx.file).parent_path() / p;
  r = r.lexically_normal();
  if (must_exist && !fs::exists(r)) fail(where(ctx, node, key_path), "file not found: " + r.string());
  return r.string();
}

}  // namespace

Experiment load_experiment(const std::string& path) {
  YamlContext ctx{path};
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    fail(path, "cannot open experiment file");
  } catch (const YAML::Exception& e) {
    fail(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
         "YAML syntax error: " + e.msg);
  }
  check_keys(ctx, root, "", {"name", "model", "tokenizer", "output", "threads", "eval", "generate"});
  Experiment x;
  x.file = path;
  x.name = get_string(ctx, root, "", "name", fs::path(path).stem().string());
  if (!root["model"]) fail(path, "missing required key 'model'");
  x.model = resolve(ctx, root["model"], "model", get_string(ctx, root, "", "model", ""), true);
  if (root["tokenizer"]) x.tokenizer = resolve(ctx, root["tokenizer"], "tokenizer", get_string(ctx, root, "", "tokenizer", ""), true);
  x.output = resolve(ctx, root, "output", get_string(ctx, root, "", "output", "runs"), false);
  x.threads = get_int(ctx, root, "", "threads", 0, 0, 4096);

  if (const auto ev = root["eval"]) {
    check_keys(ctx, ev, "eval", {"perplexity"});
    if (const auto p = ev["perplexity"]) {
      check_keys(ctx, p, "eval.perplexity", {"texts", "protocol", "seqlen", "batch", "max_windows"});
      for (const auto& t : get_string_list(ctx, p, "eval.perplexity.", "texts")) {
        x.perplexity.texts.push_back(resolve(ctx, p["texts"], "eval.perplexity.texts", t, true));
      }
      x.perplexity.protocol = get_string(ctx, p, "eval.perplexity.", "protocol", "llamacpp");
      if (x.perplexity.protocol != "llamacpp" && x.perplexity.protocol != "gptq") {
        fail(where(ctx, p["protocol"], "eval.perplexity.protocol"),
             "'" + x.perplexity.protocol + "' is not a protocol; allowed: llamacpp, gptq");
      }
      x.perplexity.seqlen = get_int(ctx, p, "eval.perplexity.", "seqlen", 256, 2, 1 << 20);
      x.perplexity.batch = get_int(ctx, p, "eval.perplexity.", "batch", 8, 1, 4096);
      x.perplexity.max_windows = get_int(ctx, p, "eval.perplexity.", "max_windows", 0, 0, 1 << 30);
    }
  }
  if (const auto g = root["generate"]) {
    check_keys(ctx, g, "generate", {"prompt", "max_tokens"});
    x.generate.enabled = true;
    x.generate.prompt = get_string(ctx, g, "generate.", "prompt", "");
    x.generate.max_tokens = get_int(ctx, g, "generate.", "max_tokens", 48, 1, 1 << 20);
  }
  return x;
}

}  // namespace ptq::config
