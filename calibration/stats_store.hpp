// The calibration statistics store, one HDF5 file per calibration:
//   /                       attributes: format, provenance (JSON), fingerprint, and the provenance's
//                           main fields one by one (model, data, n_samples, seqlen, seed, ptq_version)
//   /layers/<linear name>/  xtx, abs_sum, sq_sum, abs_max, min, max (see InputStats); attributes
//                           count, input ("attn_in", ...). Linear layers that read the same input are
//                           hard links to one group, so q/k/v share one Hessian on disk too.
// The provenance says what the statistics are a function of (model and data fingerprints, sampling,
// mode, and in sequential mode the quantization that produced the inputs). A run reuses a file only
// when its provenance is identical and the file is complete; otherwise it recomputes and says why.
// Files are written under a temporary name and renamed when complete.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "calibration/input_stats.hpp"
#include "io/hdf5_file.hpp"

namespace ptq::calib {

// Why `path` cannot serve a run with this provenance ("" when it can): missing, unreadable,
// incomplete, or the first differing provenance field with both values.
std::string stats_reuse_mismatch(const std::string& path, const nlohmann::json& provenance);

class StatsWriter {
 public:
  StatsWriter(const std::string& path, const nlohmann::json& provenance);
  ~StatsWriter();  // removes the temporary file unless commit() ran
  // Stores one input's statistics under the first linear name, the others linked to it.
  void add(const std::vector<std::string>& linear_names, const std::string& input, const InputStats& stats);
  void commit();

 private:
  std::string path_, tmp_;
  std::unique_ptr<io::Hdf5File> file_;
  bool committed_ = false;
};

class StatsReader {
 public:
  explicit StatsReader(const std::string& path);
  nlohmann::json provenance() const;
  bool has(const std::string& linear_name) const;
  InputStats read(const std::string& linear_name) const;  // throws naming the file and layer

 private:
  io::Hdf5File file_;
};

}  // namespace ptq::calib
