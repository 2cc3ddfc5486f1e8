#include "pipeline/linear_outcome.hpp"

#include "core/error.hpp"
#include "dist/bytes.hpp"

namespace ptq::pipeline {

dist::Bytes pack_outcome(const LinearOutcome& o) {
  dist::ByteWriter w;
  const auto& g = o.q.grid;
  w.i64(g.bits), w.i64(g.sym), w.i64(g.group_size), w.i64(g.mse), w.f64(g.mse_norm), w.i64(g.mse_grid);
  w.f64(g.mse_max_shrink), w.str(g.dtype);
  w.tensor(o.q.codes), w.tensor(o.q.scales), w.tensor(o.q.zeros), w.tensor(o.q.g_idx);
  w.str(o.row.dump()), w.str(o.warning);
  return w.take();
}

LinearOutcome unpack_outcome(const dist::Bytes& b, const std::string& where) {
  dist::ByteReader r(b, where);
  LinearOutcome o;
  auto& g = o.q.grid;
  g.bits = static_cast<int>(r.i64()), g.sym = r.i64() != 0, g.group_size = static_cast<int>(r.i64()), g.mse = r.i64() != 0;
  g.mse_norm = r.f64(), g.mse_grid = static_cast<int>(r.i64()), g.mse_max_shrink = r.f64(), g.dtype = r.str();
  o.q.codes = r.tensor(), o.q.scales = r.tensor(), o.q.zeros = r.tensor(), o.q.g_idx = r.tensor();
  o.row = nlohmann::json::parse(r.str(), nullptr, false);
  if (o.row.is_discarded()) fail(where, "bad report row in message");
  o.warning = r.str();
  if (!r.done()) fail(where, "message longer than a quantized layer");
  return o;
}

double quantize_cost(const std::string& algorithm, int64_t out, int64_t in) {
  const double o = static_cast<double>(out), i = static_cast<double>(in);
  if (algorithm == "gptq" || algorithm == "gptaq") return o * i * i + i * i * i;
  return o * i;
}

}  // namespace ptq::pipeline
