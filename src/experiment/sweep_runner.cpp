#include "experiment/sweep_runner.hpp"

#include <cerrno>
#include <sys/wait.h>
#include <unistd.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "core/tee_stream.hpp"
#include "core/version.hpp"
#include "dist/messages.hpp"
#include "dist/world.hpp"
#include "eval/report/report.hpp"
#include "experiment/run_point.hpp"
#include "io/atomic_file.hpp"
#include "io/staged_directory.hpp"
#include "pipeline/quantize_model.hpp"

namespace ptq::experiment {

namespace fs = std::filesystem;

config::Experiment baseline_of(const config::Experiment& x) {
  config::Experiment b = x;
  b.pipeline.clear();
  b.calibration = config::CalibrationSpec{};
  b.kl_divergence = false;
  b.exports.clear();
  return b;
}

namespace {

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

std::string read_or_empty(const fs::path& p) {
  if (!fs::exists(p)) return "";
  try {
    return io::read_text_file(p.string());
  } catch (const std::exception&) {
    return "";
  }
}

nlohmann::json json_or_null(const fs::path& p) {
  const std::string s = read_or_empty(p);
  if (s.empty()) return nullptr;
  auto j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// Runs `ptq [--threads N] run --point DIR` and waits for it.
int spawn_point(const std::string& exe, const std::string& dir, int threads) {
  std::vector<std::string> args = {"ptq"};
  if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
  args.insert(args.end(), {"run", "--point", dir});
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = fork();
  if (pid < 0) fail("run", "cannot start a process for " + dir);
  if (pid == 0) {
    setenv("PTQ_NO_MPI", "1", 1);  // a point is a process of its own, not a rank of this MPI job
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("run", "waitpid failed for " + dir);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The one-line summary of how the calibration statistics are shared across the plan's runs.
void describe_calibration(const std::vector<config::Point>& points, std::ostream& log) {
  std::map<std::string, int> one_shot;  // distinct one-shot calibrations -> runs using them
  int sequential = 0;
  for (const auto& p : points) {
    const auto& c = p.x.calibration;
    if (!p.x.quantizes() || c.text.empty()) continue;
    if (c.mode == "one-shot") {
      const nlohmann::json key = {c.text, c.n_samples, c.seqlen, c.seed, c.sampling, c.fp64_hessian, p.x.model};
      ++one_shot[key.dump()];
    } else {
      ++sequential;
    }
  }
  for (const auto& [k, n] : one_shot) {
    log << "calibration: one-shot statistics (FP activations) are shared: computed once, used by " << n << " run(s)\n";
  }
  if (sequential > 0) {
    log << "calibration: " << sequential << " run(s) in sequential mode (GPTQ's reference): each calibrates on its "
        << "own quantized layers, so statistics are computed per run\n";
  }
}

}  // namespace

// The contents of every file a run's config names (calibration and evaluation texts, task files,
// the tokenizer...), so that a finished run is reused only while its inputs are the same bytes.
// Every string in the resolved config that names an existing regular file counts; the model has
// its own fingerprint. `cache` keeps each file's hash for the whole sweep.
static std::string input_fingerprints(const nlohmann::json& config, const std::string& model,
                                      std::map<std::string, std::string>& cache) {
  std::string out;
  std::vector<const nlohmann::json*> todo{&config};
  while (!todo.empty()) {
    const nlohmann::json* j = todo.back();
    todo.pop_back();
    if (j->is_structured()) {
      for (const auto& v : *j) todo.push_back(&v);
    } else if (j->is_string()) {
      const std::string& path = j->get_ref<const std::string&>();
      std::error_code ec;
      if (path.empty() || path == model || !fs::is_regular_file(path, ec)) continue;
      auto it = cache.find(path);
      if (it == cache.end()) it = cache.emplace(path, sha256_file(path)).first;
      out += path + "=" + it->second + ";";
    }
  }
  return out;
}

int run_plan(const config::Plan& plan, const RunOptions& opt, std::ostream& out) {
  const fs::path exp_dir = fs::path(plan.output) / plan.name;
  fs::create_directories(exp_dir / "runs");
  // Two `ptq run` of one experiment would clear each other's run directories. Under MPI the ranks
  // are one run: rank 0 holds the lock and writes the log, the manifest and the report.
  std::unique_ptr<io::OutputLock> lock;
  if (dist::is_root()) lock = std::make_unique<io::OutputLock>((exp_dir / ".ptq-run.lock").string(), exp_dir.string(), "ptq run");
  std::ofstream log_file(dist::is_root() ? exp_dir / "experiment.log" : fs::path("/dev/null"), std::ios::app);
  TeeStream log(out, log_file);
  log << "== ptq run " << plan.file << " at " << now_utc() << " (ptq " << PTQ_VERSION << ", " << ptq::git_commit() << ")\n";
  if (dist::is_root()) fs::copy_file(plan.file, exp_dir / "experiment.yaml", fs::copy_options::overwrite_existing);

  std::vector<config::Point> points;
  const auto& first = plan.points.front().x;
  bool any_quantizes = false;
  for (const auto& p : plan.points) any_quantizes = any_quantizes || p.x.quantizes();
  if (any_quantizes && first.baseline && !first.perplexity.texts.empty()) {
    points.push_back(config::Point{"fp", nlohmann::json::object(), baseline_of(first)});
  }
  points.insert(points.end(), plan.points.begin(), plan.points.end());
  log << "experiment " << plan.name << ": " << points.size() << " run(s) -> " << exp_dir.string() << "\n";
  describe_calibration(points, log);

  std::map<std::string, std::string> fingerprints, file_hashes;
  nlohmann::json manifest = {{"file", plan.file}, {"overrides", opt.overrides}, {"sweep_keys", plan.sweep_keys},
                             {"points", nlohmann::json::array()}};
  std::vector<nlohmann::json> metrics;
  int failed = 0, index = 0;
  // Under MPI, point k runs on rank k mod N (one point per rank at a time); rank 0 reads the
  // others' results from their run directories once every rank is done.
  std::vector<std::pair<std::string, std::string>> elsewhere;  // run directory, config hash
  for (const auto& p : points) {
    auto fp = fingerprints.find(p.x.model);
    if (fp == fingerprints.end()) fp = fingerprints.emplace(p.x.model, pipeline::model_fingerprint(p.x.model)).first;
    const std::string hash = sha256_hex(config::to_json(p.x).dump() + "|model=" + fp->second + "|inputs=" +
                                        input_fingerprints(config::to_json(p.x), p.x.model, file_hashes) +
                                        "|ptq=" + PTQ_VERSION + "@" + ptq::git_commit())
                                 .substr(0, 16);
    const fs::path dir = exp_dir / "runs" / p.id;
    const nlohmann::json point = {{"id", p.id}, {"index", index++}, {"values", p.values}, {"config_hash", hash}};
    manifest["points"].push_back(point);
    if ((index - 1) % dist::size() != dist::rank()) {
      elsewhere.emplace_back(dir.string(), hash);
      continue;
    }

    const nlohmann::json done = json_or_null(dir / "metrics.json");
    if (done.is_object() && done.value("config_hash", "") == hash) {
      log << "run " << p.id << ": finished earlier (same config), reusing its results\n";
      metrics.push_back(done);
      continue;
    }
    const nlohmann::json before = json_or_null(dir / "point.json");
    if (before.is_object() && before.value("config_hash", "") != hash) {
      log << "run " << p.id << ": its config, inputs or ptq changed since the last run; starting it afresh\n";
      fs::remove_all(dir);
    }
    fs::create_directories(dir);
    // An interrupted attempt may have left temporary files; a committed quantized/ is complete.
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().filename() != "quantized") fs::remove_all(e.path());
    }
    io::write_file_atomically((dir / "config.yaml").string(), config::to_yaml(p.x));
    io::write_file_atomically((dir / "point.json").string(), point.dump(2) + "\n");
    log << "run " << p.id << " (" << method_of(p.x) << ") ...\n";
    log.flush();
    const auto t0 = std::chrono::steady_clock::now();
    // The experiment's threads, else this process's (ptq --threads N run ...).
    const int rc = spawn_point(opt.self_exe, dir.string(), p.x.threads > 0 ? p.x.threads : at::get_num_threads());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_file << "---- " << p.id << "/run.log\n" << read_or_empty(dir / "run.log") << "---- end of " << p.id << "\n";
    const nlohmann::json m = json_or_null(dir / "metrics.json");
    if (rc == 0 && m.is_object()) {
      log << "run " << p.id << ": done in " << static_cast<int>(secs + 0.5) << " s\n";
      metrics.push_back(m);
    } else {
      ++failed;
      log << "run " << p.id << ": FAILED (exit status " << rc << "); see " << (dir / "run.log").string() << "\n";
    }
  }
  if (dist::size() > 1) {
    // Points can take hours: wait for the other ranks' without the usual timeout (mpirun still ends
    // the job when a rank dies).
    dist::set_step("wait for the other ranks' sweep points");
    const auto counts = dist::gather(dist::Bytes(1, static_cast<char>(std::min(failed, 127))), 0, 7 * 24 * 3600.0);
    if (!dist::is_root()) return failed;
    for (const auto& [dir, hash] : elsewhere) {
      const nlohmann::json m = json_or_null(fs::path(dir) / "metrics.json");
      if (m.is_object() && m.value("config_hash", "") == hash) {
        metrics.push_back(m);
      } else {
        ++failed;
        log << "run " << fs::path(dir).filename().string() << ": FAILED on another rank; see " << (fs::path(dir) / "run.log").string() << "\n";
      }
    }
  }
  io::write_file_atomically((exp_dir / "experiment.json").string(), manifest.dump(2) + "\n");
  if (!metrics.empty()) {
    const auto r = report::write_report((exp_dir / "report").string(), metrics);
    out << "\n" << r.markdown << "\n";
    log << "report: " << (exp_dir / "report" / "report.html").string() << "\n";
  }
  if (failed > 0) log << failed << " run(s) failed\n";
  return failed;
}

int run_point_main(const std::string& dir) {
  std::ofstream file(fs::path(dir) / "run.log", std::ios::trunc);
  TeeStream log(std::cerr, file);
  try {
    run_point(dir, log);
  } catch (const std::exception& e) {
    log << "ptq: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace ptq::experiment
