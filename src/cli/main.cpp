// ptq: post-training quantization lab. main() sets threads and dispatches to the subcommands;
// every ptq::Error is printed as one line and exits 1.
#include <CLI/CLI.hpp>

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

#include <iostream>

#include "core/version.hpp"
#include "core/cpu_features.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "dist/world.hpp"

int main(int argc, char** argv) {
  // libgomp's idle threads spin (sched_yield) between parallel regions, fighting OpenBLAS's own
  // threads for the cores: with 2 threads eval ran at 2.5k tokens/s, with passive waiting 6.4k.
  // libgomp reads the policy when it loads, before main, so ptq re-executes itself once with it set
  // (a user's own OMP_WAIT_POLICY is respected).
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
  }
  // glibc's mmap threshold, fixed (glibc otherwise raises it as large blocks are freed, and the
  // heap then fragments as a layer-by-layer pass proceeds). At 256 KB every activation above that
  // goes back to the system at free, and each forward page-faults its activations afresh (eval of the default model 3.0k tokens/s; 4 MB: 4.6k; 32 MB: 6.1k). 32 MB
  // (glibc's maximum) keeps activations on the heap; layer weights of large models stay above it.
  // PTQ_MMAP_THRESHOLD (bytes) overrides it when peak memory matters more than speed.
  const char* mmap_threshold = std::getenv("PTQ_MMAP_THRESHOLD");
  mallopt(M_MMAP_THRESHOLD, mmap_threshold ? std::atoi(mmap_threshold) : 32 * 1024 * 1024);
  // Freed heap memory is kept up to this much instead of being returned (and faulted in again) at
  // every step; the peak stays what it was.
  mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
  // A rank of an MPI job when launched by mpirun, else a world of one (src/dist/world.hpp).
  ptq::dist::World world(&argc, &argv);
  CLI::App app{"ptq: post-training quantization of LLaMA-family models"};
  app.set_version_flag("--version", std::string("ptq ") + PTQ_VERSION + " (" + ptq::git_commit() + ")\ncpu: " +
                                       ptq::detect_cpu_features().summary());
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
  ptq::cli::add_sensitivity(app);
  ptq::cli::add_synth(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ptq::Error& e) {
    std::cerr << "ptq: error: " << ptq::dist::where_prefix() << e.what() << std::endl;
    return ptq::dist::abort_job(1);  // under MPI the other ranks are stopped too
  } catch (const c10::Error& e) {
    std::cerr << "ptq: internal tensor error: " << ptq::dist::where_prefix() << e.what_without_backtrace() << std::endl;
    return ptq::dist::abort_job(2);
  } catch (const std::exception& e) {
    std::cerr << "ptq: error: " << ptq::dist::where_prefix() << e.what() << std::endl;
    return ptq::dist::abort_job(1);
  }
  return 0;
}
