// ptq: post-training quantization lab. main() sets threads and dispatches to the subcommands;
// every ptq::Error is printed as one line and exits 1.
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

int main(int argc, char** argv) {
  // glibc raises its mmap threshold each time a large block is freed, after which tensors of up to
  // 32 MB come from the heap and fragment it: a layer-by-layer pass then grows with the model's
  // depth (measured: 1.06 GB for 16 layers against 0.43 GB with a fixed threshold). A fixed
  // threshold returns every large tensor to the system when it is freed.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  CLI::App app{"ptq: post-training quantization of LLaMA-family models"};
  app.set_version_flag("--version", std::string("ptq ") + PTQ_VERSION + " (" + PTQ_GIT_COMMIT + ")");
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Threads for LibTorch and OpenBLAS (default: all cores)");
  app.parse_complete_callback([&] { ptq::set_threads(threads); });
  ptq::cli::add_generate(app);
  ptq::cli::add_eval(app);
  ptq::cli::add_convert(app);
  ptq::cli::add_inspect(app);
  ptq::cli::add_run(app);
  ptq::cli::add_quantize(app);
  ptq::cli::add_export(app);
  ptq::cli::add_report(app);
  ptq::cli::add_train(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ptq::Error& e) {
    std::cerr << "ptq: error: " << e.what() << std::endl;
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "ptq: internal tensor error: " << e.what_without_backtrace() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ptq: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
