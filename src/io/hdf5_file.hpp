// A small RAII layer over the HDF5 C API for what ptq stores: groups, tensors as datasets (fp32,
// fp64, int32, int64, uint8), string / integer / float attributes and hard links. Every failure is a
// ptq::Error naming the file and the object; the HDF5 library's own stderr report is switched off.
#pragma once
#include <hdf5.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace ptq::io {

// An owned hid_t closed with the matching H5?close.
class Hdf5Handle {
 public:
  Hdf5Handle() = default;
  Hdf5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hdf5Handle() { reset(); }
  Hdf5Handle(Hdf5Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hdf5Handle& operator=(Hdf5Handle&& o) noexcept;
  Hdf5Handle(const Hdf5Handle&) = delete;
  Hdf5Handle& operator=(const Hdf5Handle&) = delete;
  hid_t get() const { return id_; }
  void reset();

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

class Hdf5File {
 public:
  // mode "r" opens read-only; "w" creates (truncating).
  Hdf5File(const std::string& path, const char* mode);
  const std::string& path() const { return path_; }
  void close();  // flushes and closes; later calls throw

  bool exists(const std::string& object) const;  // "/layers/model.layers.0.mlp.up_proj"
  void create_group(const std::string& group);    // parents are created as needed
  std::vector<std::string> members(const std::string& group) const;  // sorted
  // A second name for an existing object (both names see the same data).
  void hard_link(const std::string& target, const std::string& link_name);

  void write_tensor(const std::string& dataset, const torch::Tensor& t);
  torch::Tensor read_tensor(const std::string& dataset) const;  // owned CPU tensor in the stored type

  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  void set_attr(const std::string& object, const std::string& name, double value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;

 private:
  Hdf5Handle open_object(const std::string& object) const;
  Hdf5Handle open_attr(const std::string& object, const std::string& name) const;
  [[noreturn]] void fail_at(const std::string& object, const std::string& what) const;

  std::string path_;
  Hdf5Handle file_;
};

}  // namespace ptq::io
