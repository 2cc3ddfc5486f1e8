#include "mixed/tensor_quantizer.hpp"

#include "algorithms/ggml/ggml_gptq.hpp"
#include "algorithms/registry.hpp"
#include "core/error.hpp"
#include "export/gguf_type_plan.hpp"
#include "ggml/ggml_rows.hpp"

namespace ptq::mixed {

QuantMethod parse_quant_method(const std::string& name) {
  if (name == "rtn") return QuantMethod::Rtn;
  if (name == "imatrix") return QuantMethod::Imatrix;
  if (name == "gptq") return QuantMethod::Gptq;
  throw Error("unknown quantization method '" + name + "' (rtn, imatrix, gptq)");
}

std::string to_string(QuantMethod m) {
  switch (m) {
    case QuantMethod::Rtn: return "rtn";
    case QuantMethod::Imatrix: return "imatrix";
    case QuantMethod::Gptq: return "gptq";
  }
  return "?";
}

torch::Tensor quantize_dequantize(const std::string& type, const torch::Tensor& W_in, QuantMethod method,
                                  const calib::InputStats* stats, double gptq_damp) {
  const torch::Tensor W = W_in.to(torch::kFloat32).contiguous();
  if (W.dim() != 2) throw Error("quantize_dequantize: expected a matrix");
  const uint32_t t = static_cast<uint32_t>(exporter::gguf_block_type(type));
  if (t == static_cast<uint32_t>(io::GgmlType::F16)) return W.to(torch::kFloat16).to(torch::kFloat32);
  if (t == static_cast<uint32_t>(io::GgmlType::F32)) return W.clone();
  const int64_t rows = W.size(0), n = W.size(1);
  const bool has_stats = stats != nullptr && !stats->empty();
  std::vector<uint8_t> bytes;
  if (method == QuantMethod::Gptq && has_stats && ggml::gptq_supports(t)) {
    const torch::Tensor H = stats->hessian();
    const torch::Tensor diag = H.diagonal().to(torch::kFloat32).contiguous();
    bytes = ggml::gptq_encode_rows(t, W, H, gptq_damp, diag.data_ptr<float>());
  } else {
    torch::Tensor imp;
    // GPTQ exports also pass the statistics as --imatrix for the types GPTQ does not handle.
    if (method != QuantMethod::Rtn && has_stats) imp = stats->sq_mean().to(torch::kFloat32).contiguous();
    bytes = ggml::encode_rows(t, W.data_ptr<float>(), rows, n, imp.defined() ? imp.data_ptr<float>() : nullptr);
  }
  torch::Tensor out = torch::empty({rows, n}, torch::kFloat32);
  ggml::dequantize_row(t, bytes.data(), out.data_ptr<float>(), rows * n);
  return out;
}

torch::Tensor quantize_dequantize_grid(const algo::IntGrid& grid, const torch::Tensor& W, QuantMethod method,
                                       const calib::InputStats* stats, double gptq_damp, const std::string& name) {
  if (method == QuantMethod::Imatrix) throw Error(name + ": integer grids are applied by gptq or rtn, not imatrix");
  const bool gptq = method == QuantMethod::Gptq;
  if (gptq && (stats == nullptr || stats->empty())) throw Error(name + ": GPTQ on an integer grid needs calibration statistics");
  const auto algorithm = algo::make_algorithm(gptq ? "gptq" : "rtn", gptq ? nlohmann::json{{"damp_percent", gptq_damp}}
                                                                           : nlohmann::json::object());
  return algorithm->quantize(W.to(torch::kFloat32).contiguous(), stats, grid, name).q.dequantize();
}

double hessian_weighted_error(const torch::Tensor& W, const torch::Tensor& Wq, const calib::InputStats& stats) {
  const torch::Tensor dW = (Wq.to(torch::kFloat64) - W.to(torch::kFloat64));
  const torch::Tensor H = stats.hessian().to(torch::kFloat64);
  return (dW.matmul(H) * dW).sum().item<double>();
}

}  // namespace ptq::mixed
