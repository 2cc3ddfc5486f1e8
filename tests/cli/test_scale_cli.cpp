// ptq synth, the resource estimate and its refusals, and a full disk mid-write, as a user meets them.
#include <catch2/catch.hpp>

#include <filesystem>

#include <sys/mount.h>

#include "support/run_ptq.hpp"
#include "support/shared_data.hpp"

namespace fs = std::filesystem;

namespace {

ptq::test::PtqRun ptq_run(const std::string& env, const std::string& args) {
  return ptq::test::run_ptq_with_env(env, args);
}

const char* kSmall = "synth --hidden 64 --intermediate 128 --layers 3 --heads 4 --kv-heads 2 --vocab 4096 --dtype f16";

}  // namespace

TEST_CASE("ptq synth writes a model ptq evaluates, and prints its estimate", "[cli][synth]") {
  const std::string dir = ptq::test::scratch_dir("cli-synth") + "/m";
  auto r = ptq_run("", std::string(kSmall) + " --seed 4 --out " + dir);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("estimate (synth)") && Catch::Contains("output on disk"));
  CHECK(fs::exists(fs::path(dir) / "tokenizer.model"));
  CHECK(fs::exists(fs::path(dir) / ".ptq-output"));
  r = ptq_run("", "eval -m " + dir + " --text " PTQ_SOURCE_DIR "/README.md --seqlen 64 --max-windows 3 --protocol gptq");
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("estimate (eval)") && Catch::Contains("peak memory"));
  r = ptq_run("", "synth --shape llama5 --out " + dir);
  CHECK(r.status != 0);
  CHECK_THAT(r.output, Catch::Contains("unknown shape 'llama5'") && Catch::Contains("llama3-8b"));
}

TEST_CASE("too little memory or disk is refused before any work, needed vs available", "[cli][synth]") {
  const std::string root = ptq::test::scratch_dir("cli-refuse");
  auto r = ptq_run("PTQ_DISK_AVAILABLE=1000", std::string(kSmall) + " --out " + root + "/m");
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains(root + "/m") && Catch::Contains("on disk") && Catch::Contains("0.00 GB free"));
  CHECK_FALSE(fs::exists(root + "/m"));
  REQUIRE(ptq_run("", std::string(kSmall) + " --out " + root + "/fp").status == 0);
  r = ptq_run("PTQ_MEM_AVAILABLE=1000000", "quantize -m " + root + "/fp --algo rtn --bits 4 --out " + root + "/q");
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("quantize: needs about") && Catch::Contains("0.00 GB available"));
  CHECK_FALSE(fs::exists(root + "/q"));
}

TEST_CASE("a disk that fills mid-write leaves no partial output and names the path", "[cli][synth]") {
  const std::string mnt = ptq::test::scratch_dir("cli-full-disk") + "/tmpfs";
  fs::create_directories(mnt);
  // A 2 MiB tmpfs: the model below has 1.05 MB fp32 shards per layer (5.2 MB in all), so the first
  // shard fits and the second runs out of space.
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
    WARN("SKIPPED: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount(path.c_str()); }
  } unmount{mnt};
  // PTQ_DISK_AVAILABLE lies to the estimate so the write itself meets the full disk.
  const auto r = ptq_run("PTQ_DISK_AVAILABLE=100000000000",
                         "synth --hidden 128 --intermediate 512 --layers 4 --heads 4 --vocab 1024 --dtype f32 --out " + mnt + "/m");
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains(mnt) && Catch::Contains("No space left on device"));
  // Neither the output nor its staging directory is left; only the writer's lock file (kept by design).
  CHECK_FALSE(fs::exists(mnt + "/m"));
  for (const auto& e : fs::directory_iterator(mnt)) CHECK(e.path().filename().string() == ".m.ptq-lock");
}
