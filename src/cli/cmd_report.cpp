// ptq report RUN_DIR...: the comparison table (Markdown, CSV, JSON), the plots (SVG) and one HTML
// page from finished runs (eval/report/report.hpp). `ptq run` writes the same at the end of a sweep.
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "eval/report/report.hpp"

namespace ptq::cli {

void add_report(CLI::App& app) {
  struct Args {
    std::vector<std::string> dirs;
    std::string out, reference_points;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("report", "Compare finished runs: table, plots and an HTML page");
  cmd->add_option("dirs", a->dirs, "Experiment directories, run directories or metrics.json files")->required();
  cmd->add_option("--out", a->out, "Output directory (default: <dir>/report for one experiment, else ./report)");
  cmd->add_option("--reference-points", a->reference_points, "CSV (label,bytes,kl,ppl): measured points drawn in the KL / PPL vs size plots (llama.cpp's mixes)")->check(CLI::ExistingFile);
  cmd->callback([a] {
    std::string out = a->out;
    if (out.empty()) {
      namespace fs = std::filesystem;
      out = a->dirs.size() == 1 && fs::is_directory(fs::path(a->dirs[0]) / "runs") ? (fs::path(a->dirs[0]) / "report").string()
                                                                                     : std::string("report");
    }
    const auto refs = a->reference_points.empty() ? std::vector<report::ReferencePoint>{}
                                                  : report::read_reference_points(a->reference_points);
    const auto r = report::write_report(out, report::collect_metrics(a->dirs), refs);
    std::cout << r.markdown << "\n";
    for (const auto& f : r.files) std::cout << "wrote " << f << "\n";
  });
}

}  // namespace ptq::cli
