#include "calibration/stats_store.hpp"

#include <filesystem>
#include <unistd.h>

#include "core/error.hpp"
#include "core/sha256.hpp"

namespace ptq::calib {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "ptq-calibration-stats/1";

std::string group_of(const std::string& linear) { return "/layers/" + linear; }

}  // namespace

std::string stats_reuse_mismatch(const std::string& path, const nlohmann::json& provenance) {
  if (!fs::exists(path)) return "no statistics file yet";
  try {
    io::Hdf5File f(path, "r");
    if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kFormat) return "not a ptq statistics file";
    if (!f.has_attr("/", "complete") || f.attr_int("/", "complete") != 1) return "the file is incomplete";
    const auto stored = nlohmann::json::parse(f.attr_string("/", "provenance"));
    for (const auto& [key, value] : provenance.items()) {
      if (!stored.contains(key)) return key + " is not recorded in the file";
      if (stored[key] != value) return key + " differs (file: " + stored[key].dump() + ", now: " + value.dump() + ")";
    }
    for (const auto& [key, value] : stored.items()) {
      if (!provenance.contains(key)) return key + " is recorded in the file but not part of this run";
    }
    return "";
  } catch (const std::exception& e) {
    return std::string("unreadable (") + e.what() + ")";
  }
}

StatsWriter::StatsWriter(const std::string& path, const nlohmann::json& provenance)
    : path_(path), tmp_(path + ".tmp." + std::to_string(::getpid())) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  file_ = std::make_unique<io::Hdf5File>(tmp_, "w");
  const std::string prov = provenance.dump();
  file_->set_attr("/", "format", std::string(kFormat));
  file_->set_attr("/", "provenance", prov);
  file_->set_attr("/", "fingerprint", sha256_hex(prov));
  // The main fields again as plain attributes, for h5dump readers and other tools.
  for (const auto& [key, value] : provenance.items()) {
    if (value.is_string()) file_->set_attr("/", key, value.get<std::string>());
    else if (value.is_number_integer()) file_->set_attr("/", key, value.get<int64_t>());
  }
  file_->set_attr("/", "complete", int64_t{0});
  file_->create_group("/layers");
}

StatsWriter::~StatsWriter() {
  if (!committed_) {
    file_.reset();
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
}

void StatsWriter::add(const std::vector<std::string>& linear_names, const std::string& input, const InputStats& s) {
  if (linear_names.empty()) fail(path_, "statistics without a linear layer");
  const std::string g = group_of(linear_names[0]);
  file_->create_group(g);
  file_->write_tensor(g + "/xtx", s.xtx());
  file_->write_tensor(g + "/abs_sum", s.abs_sum());
  file_->write_tensor(g + "/sq_sum", s.sq_sum());
  file_->write_tensor(g + "/abs_max", s.abs_max());
  file_->write_tensor(g + "/min", s.min());
  file_->write_tensor(g + "/max", s.max());
  file_->set_attr(g, "count", s.count());
  file_->set_attr(g, "input", input);
  for (size_t i = 1; i < linear_names.size(); ++i) file_->hard_link(g, group_of(linear_names[i]));
}

void StatsWriter::commit() {
  file_->set_attr("/", "complete", int64_t{1});
  file_->close();
  file_.reset();
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) fail(path_, "cannot move the statistics into place: " + ec.message());
  committed_ = true;
}

StatsReader::StatsReader(const std::string& path) : file_(path, "r") {
  // A writer killed mid-way (or a copy taken while it wrote) leaves the flag at 0.
  if (!file_.has_attr("/", "complete") || file_.attr_int("/", "complete") != 1) {
    fail(path, "is an incomplete statistics file (its writer did not finish); compute the statistics again");
  }
}

nlohmann::json StatsReader::provenance() const {
  return nlohmann::json::parse(file_.attr_string("/", "provenance"));
}

bool StatsReader::has(const std::string& linear_name) const { return file_.exists(group_of(linear_name)); }

InputStats StatsReader::read(const std::string& linear_name) const {
  const std::string g = group_of(linear_name);
  if (!file_.exists(g)) fail(file_.path(), "no statistics for " + linear_name);
  return InputStats::from_sums(file_.attr_int(g, "count"), file_.read_tensor(g + "/xtx"),
                               file_.read_tensor(g + "/abs_sum"), file_.read_tensor(g + "/sq_sum"),
                               file_.read_tensor(g + "/abs_max"), file_.read_tensor(g + "/min"),
                               file_.read_tensor(g + "/max"), file_.path() + ":" + linear_name);
}

}  // namespace ptq::calib
