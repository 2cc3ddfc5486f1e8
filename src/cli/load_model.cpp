#include "cli/commands.hpp"
#include "model/model_files.hpp"
#include "model/resource_estimate.hpp"

namespace ptq::cli {

LoadedModel load_model(const std::string& model_path, const std::string& tokenizer_path) {
  LoadedModel out;
  std::shared_ptr<model::WeightSource> src = model::open_weights(model_path);
  out.tokenizer_path = tokenizer_path.empty()
                           ? model::find_tokenizer(model_path, src->config().vocab_size)
                           : tokenizer_path;
  out.tokenizer = tok::open_tokenizer(out.tokenizer_path);
  out.model = std::make_shared<model::Model>(src);
  // Layers that do not fit stay mapped and stream (evaluation then runs layer-major).
  if (model::fits_resident(out.model->config())) out.model->make_resident();
  return out;
}

}  // namespace ptq::cli
