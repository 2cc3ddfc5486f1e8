#include "calibration/stats_reduce.hpp"

#include "core/error.hpp"
#include "dist/bytes.hpp"
#include "dist/world.hpp"

namespace ptq::calib {

namespace {

dist::Bytes pack(const std::vector<torch::Tensor>& ts) {
  dist::ByteWriter w;
  w.i64(static_cast<int64_t>(ts.size()));
  for (const auto& t : ts) w.tensor(t);
  return w.take();
}

std::vector<torch::Tensor> unpack(const dist::Bytes& b, const std::string& where) {
  dist::ByteReader r(b, where);
  const int64_t n = r.i64();
  if (n < 0 || n > 64) fail(where, "bad statistics message");
  std::vector<torch::Tensor> ts;
  for (int64_t i = 0; i < n; ++i) ts.push_back(r.tensor());
  return ts;
}

}  // namespace

void combine_stats_across_ranks(std::map<std::string, InputStats>& inputs,
                                const std::map<std::string, std::set<int>>& wanted_by, const std::string& where) {
  if (dist::size() <= 1) return;
  for (auto& [input, stats] : inputs) {
    const std::string w = where + " input " + input;
    dist::set_step("combine statistics of " + w);
    const bool fp64 = stats.fp64();
    const auto parts = dist::gather(pack(stats.exact_state()));
    torch::Tensor totals_msg;
    if (dist::is_root()) {
      for (int r = 1; r < dist::size(); ++r) stats.merge(InputStats::from_exact_state(unpack(parts[r], w + " from rank " + std::to_string(r)), fp64, w), w);
      stats = InputStats::from_sums(stats.count(), stats.xtx(), stats.abs_sum(), stats.sq_sum(), stats.abs_max(), stats.min(), stats.max(), w);
    }
    const auto it = wanted_by.find(input);
    const std::set<int> wanted = it == wanted_by.end() ? std::set<int>{} : it->second;
    if (dist::is_root()) {
      const dist::Bytes msg = pack({torch::tensor({stats.count()}, torch::kInt64), stats.xtx(), stats.abs_sum(), stats.sq_sum(),
                                    stats.abs_max(), stats.min(), stats.max()});
      for (int r : wanted) {
        if (r != 0) dist::send(r, msg);
      }
    } else if (wanted.count(dist::rank())) {
      const auto t = unpack(dist::recv(0), w);
      if (t.size() != 7 || t[0].numel() != 1) fail(w, "bad statistics message from rank 0");
      stats = InputStats::from_sums(t[0].item<int64_t>(), t[1], t[2], t[3], t[4], t[5], t[6], w);
    }
  }
  if (!dist::is_root()) {
    for (auto it = inputs.begin(); it != inputs.end();) {
      const auto wb = wanted_by.find(it->first);
      it = wb != wanted_by.end() && wb->second.count(dist::rank()) ? std::next(it) : inputs.erase(it);
    }
  }
}

}  // namespace ptq::calib
