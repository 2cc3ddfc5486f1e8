// Packing values into the byte buffers ranks exchange: integers, doubles, strings and tensors
// (dtype, shape and the raw contiguous bytes, so a tensor arrives bit for bit). A reader checks
// every length against what is left and fails naming `where` instead of reading past the end.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "dist/messages.hpp"

namespace ptq::dist {

class ByteWriter {
 public:
  void i64(int64_t v);
  void f64(double v);
  void str(const std::string& s);
  void tensor(const torch::Tensor& t);  // any CPU tensor; an undefined tensor round-trips as undefined
  Bytes take() { return std::move(buf_); }

 private:
  void raw(const void* p, size_t n);
  Bytes buf_;
};

class ByteReader {
 public:
  ByteReader(const Bytes& b, std::string where) : b_(b), where_(std::move(where)) {}
  int64_t i64();
  double f64();
  std::string str();
  torch::Tensor tensor();
  bool done() const { return pos_ == b_.size(); }

 private:
  void raw(void* p, size_t n);
  const Bytes& b_;
  size_t pos_ = 0;
  std::string where_;
};

}  // namespace ptq::dist
