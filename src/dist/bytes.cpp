#include "dist/bytes.hpp"

#include <cstring>

#include "core/error.hpp"

namespace ptq::dist {

void ByteWriter::raw(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  buf_.insert(buf_.end(), c, c + n);
}

void ByteWriter::i64(int64_t v) { raw(&v, sizeof v); }
void ByteWriter::f64(double v) { raw(&v, sizeof v); }

void ByteWriter::str(const std::string& s) {
  i64(static_cast<int64_t>(s.size()));
  raw(s.data(), s.size());
}

void ByteWriter::tensor(const torch::Tensor& t) {
  if (!t.defined()) {
    i64(-1);
    return;
  }
  const auto c = t.cpu().contiguous();
  i64(static_cast<int64_t>(c.scalar_type()));
  i64(c.dim());
  for (int64_t d : c.sizes()) i64(d);
  const size_t n = c.numel() * c.element_size();
  i64(static_cast<int64_t>(n));
  raw(c.data_ptr(), n);
}

void ByteReader::raw(void* p, size_t n) {
  if (n > b_.size() - pos_) {
    fail(where_, "message ends early (" + std::to_string(b_.size() - pos_) + " bytes left, " + std::to_string(n) + " needed)");
  }
  std::memcpy(p, b_.data() + pos_, n);
  pos_ += n;
}

int64_t ByteReader::i64() {
  int64_t v;
  raw(&v, sizeof v);
  return v;
}

double ByteReader::f64() {
  double v;
  raw(&v, sizeof v);
  return v;
}

std::string ByteReader::str() {
  const int64_t n = i64();
  if (n < 0 || static_cast<size_t>(n) > b_.size() - pos_) fail(where_, "bad string length in message");
  std::string s(b_.data() + pos_, static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return s;
}

torch::Tensor ByteReader::tensor() {
  const int64_t type = i64();
  if (type == -1) return {};
  const int64_t dim = i64();
  if (dim < 0 || dim > 8) fail(where_, "bad tensor rank in message");
  std::vector<int64_t> shape(dim);
  for (auto& d : shape) d = i64();
  auto t = torch::empty(shape, torch::TensorOptions().dtype(static_cast<torch::ScalarType>(type)));
  const int64_t n = i64();
  if (n != static_cast<int64_t>(t.numel() * t.element_size())) fail(where_, "tensor size does not match its shape in message");
  raw(t.data_ptr(), static_cast<size_t>(n));
  return t;
}

}  // namespace ptq::dist
