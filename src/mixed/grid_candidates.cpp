#include "mixed/grid_candidates.hpp"

#include <algorithm>
#include <regex>

#include "core/error.hpp"
#include "core/unknown_name.hpp"
#include "export/hf_gptq_export.hpp"

namespace ptq::mixed {

namespace {

const std::regex& candidate_pattern() {
  static const std::regex re("^int([0-9]+)(g([0-9]+)|pc)$");
  return re;
}

}  // namespace

bool is_grid_candidate(const std::string& name) { return std::regex_match(name, candidate_pattern()); }

std::string grid_candidate_name(int bits, int group_size) {
  return "int" + std::to_string(bits) + (group_size > 0 ? "g" + std::to_string(group_size) : "pc");
}

std::vector<std::string> known_grid_candidates() {
  std::vector<std::string> out;
  for (int bits : {2, 3, 4, 8}) {
    for (int g : {32, 64, 128, 256, 0}) out.push_back(grid_candidate_name(bits, g));
  }
  return out;
}

std::vector<std::string> default_grid_candidates() {
  std::vector<std::string> out;
  for (int bits : {2, 3, 4, 8}) {
    for (int g : {32, 64, 128, 0}) out.push_back(grid_candidate_name(bits, g));
  }
  return out;
}

algo::IntGrid candidate_grid(const std::string& name, const algo::IntGrid& base) {
  const auto known = known_grid_candidates();
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    throw Error("candidate grid '" + name + "': " + unknown_name_message("grid", name, known));
  }
  std::smatch m;
  std::regex_match(name, m, candidate_pattern());
  algo::IntGrid g = base;
  g.dtype = "int";
  g.bits = std::stoi(m[1].str());
  g.group_size = m[3].matched ? std::stoi(m[3].str()) : 0;
  return g;
}

std::vector<std::string> parse_grid_candidates(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t comma = std::min(csv.find(',', start), csv.size());
    std::string name = csv.substr(start, comma - start);
    start = comma + 1;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.empty()) continue;
    candidate_grid(name);  // throws for an unknown one
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty()) throw Error("no candidate grids given (e.g. int2g32,int3g64,int4g128,int8pc)");
  return out;
}

bool grid_fits(const std::string& candidate, int64_t out, int64_t in) {
  const algo::IntGrid g = candidate_grid(candidate);
  return exporter::packed_shape_misfit("gptq", g.bits, g.group_size, in, out).empty();
}

uint64_t gptq_layer_bytes(int bits, int group_size, int64_t out, int64_t in) {
  const uint64_t o = static_cast<uint64_t>(out), i = static_cast<uint64_t>(in);
  const uint64_t groups = group_size > 0 ? (i + group_size - 1) / group_size : 1;
  const uint64_t qweight = i * o * bits / 8, qzeros = groups * o * bits / 8, scales = groups * o * 2, g_idx = i * 4;
  return qweight + qzeros + scales + g_idx;
}

uint64_t grid_candidate_bytes(const std::string& candidate, int64_t out, int64_t in) {
  const algo::IntGrid g = candidate_grid(candidate);
  return gptq_layer_bytes(g.bits, g.group_size, out, in);
}

}  // namespace ptq::mixed
