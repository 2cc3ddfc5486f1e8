#include "io/hdf5_file.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/error.hpp"

namespace ptq::io {

namespace {

// HDF5 prints a stack of messages to stderr on every failed call; ptq reports errors itself.
void silence_hdf5() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

hid_t native_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return H5T_NATIVE_FLOAT;
    case torch::kFloat64: return H5T_NATIVE_DOUBLE;
    case torch::kInt32: return H5T_NATIVE_INT32;
    case torch::kInt64: return H5T_NATIVE_INT64;
    case torch::kUInt8: return H5T_NATIVE_UINT8;
    default: return -1;
  }
}

}  // namespace

Hdf5Handle& Hdf5Handle::operator=(Hdf5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

void Hdf5Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = -1;
}

Hdf5File::Hdf5File(const std::string& path, const char* mode) : path_(path) {
  silence_hdf5();
  const std::string m = mode;
  hid_t id = -1;
  if (m == "r") {
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, "not an HDF5 file (or unreadable)");
    id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  } else if (m == "w") {
    id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  } else {
    fail(path, "unknown HDF5 open mode '" + m + "'");
  }
  if (id < 0) fail(path, m == "r" ? "cannot open HDF5 file" : "cannot create HDF5 file");
  file_ = Hdf5Handle(id, H5Fclose);
}

void Hdf5File::close() {
  if (file_.get() >= 0) H5Fflush(file_.get(), H5F_SCOPE_LOCAL);
  file_.reset();
}

void Hdf5File::fail_at(const std::string& object, const std::string& what) const {
  fail(path_ + ":" + object, what);
}

bool Hdf5File::exists(const std::string& object) const {
  if (object == "/") return true;
  // Every prefix must exist before H5Lexists may be asked about the next component.
  size_t pos = 0;
  while (true) {
    pos = object.find('/', pos + 1);
    const std::string prefix = object.substr(0, pos);
    if (!prefix.empty() && prefix != "/" && H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

void Hdf5File::create_group(const std::string& group) {
  Hdf5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Hdf5Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_obj_track_times(gcpl.get(), 0);
  Hdf5Handle g(H5Gcreate2(file_.get(), group.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) fail_at(group, "cannot create group");
}

std::vector<std::string> Hdf5File::members(const std::string& group) const {
  Hdf5Handle g = open_object(group);
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0) fail_at(group, "not a group");
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail_at(group, "cannot list members");
    std::string name(static_cast<size_t>(n), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Hdf5File::hard_link(const std::string& target, const std::string& link_name) {
  Hdf5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  if (H5Lcreate_hard(file_.get(), target.c_str(), file_.get(), link_name.c_str(), lcpl.get(), H5P_DEFAULT) < 0) {
    fail_at(link_name, "cannot link to " + target);
  }
}

Hdf5Handle Hdf5File::open_object(const std::string& object) const {
  if (!exists(object)) fail_at(object, "missing");
  hid_t id = H5Oopen(file_.get(), object.c_str(), H5P_DEFAULT);
  if (id < 0) fail_at(object, "cannot open");
  return Hdf5Handle(id, H5Oclose);
}

void Hdf5File::write_tensor(const std::string& dataset, const torch::Tensor& t_in) {
  const auto t = t_in.detach().to(torch::kCPU).contiguous();
  const hid_t type = native_type(t.scalar_type());
  if (type < 0) fail_at(dataset, std::string("cannot store tensors of type ") + c10::toString(t.scalar_type()));
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  Hdf5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Hdf5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  // No modification times: the same statistics give the same bytes.
  Hdf5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), 0);
  Hdf5Handle ds(H5Dcreate2(file_.get(), dataset.c_str(), type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                H5Dclose);
  if (ds.get() < 0) fail_at(dataset, "cannot create dataset");
  if (t.numel() > 0 && H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0) {
    fail_at(dataset, "cannot write dataset (disk full?)");
  }
}

torch::Tensor Hdf5File::read_tensor(const std::string& dataset) const {
  if (!exists(dataset)) fail_at(dataset, "missing");
  Hdf5Handle ds(H5Dopen2(file_.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail_at(dataset, "not a dataset");
  Hdf5Handle ftype(H5Dget_type(ds.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(ftype.get());
  const size_t size = H5Tget_size(ftype.get());
  torch::ScalarType st;
  if (cls == H5T_FLOAT && size == 4) st = torch::kFloat32;
  else if (cls == H5T_FLOAT && size == 8) st = torch::kFloat64;
  else if (cls == H5T_INTEGER && size == 4) st = torch::kInt32;
  else if (cls == H5T_INTEGER && size == 8) st = torch::kInt64;
  else if (cls == H5T_INTEGER && size == 1) st = torch::kUInt8;
  else fail_at(dataset, "unsupported element type");
  Hdf5Handle space(H5Dget_space(ds.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 8) fail_at(dataset, "unsupported rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  // The dimensions come from the file: check what they claim against what the file stores before
  // allocating (a corrupt or hostile file could ask for terabytes).
  uint64_t bytes = c10::elementSize(st);
  for (hsize_t d : dims) {
    if (d != 0 && bytes > (uint64_t(1) << 62) / d) fail_at(dataset, "absurd dimensions (corrupted file?)");
    bytes *= d;
  }
  Hdf5Handle plist(H5Dget_create_plist(ds.get()), H5Pclose);
  if (plist.get() >= 0 && H5Pget_layout(plist.get()) == H5D_CONTIGUOUS && bytes > 0 && H5Dget_storage_size(ds.get()) < bytes) {
    fail_at(dataset, "its dimensions claim " + std::to_string(bytes) + " bytes but the file stores " +
                         std::to_string(H5Dget_storage_size(ds.get())) + " (truncated or corrupted file?)");
  }
  auto t = torch::empty(std::vector<int64_t>(dims.begin(), dims.end()), st);
  if (t.numel() > 0 && H5Dread(ds.get(), native_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0) {
    fail_at(dataset, "cannot read dataset (truncated file?)");
  }
  return t;
}

void Hdf5File::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  Hdf5Handle obj = open_object(object);
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  Hdf5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(value.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Hdf5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Hdf5Handle a(H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  if (a.get() < 0 || H5Awrite(a.get(), type.get(), padded.data()) < 0) fail_at(object, "cannot write attribute " + name);
}

namespace {
template <typename T>
void write_scalar_attr(hid_t obj, const std::string& name, hid_t type, T value, const std::function<void()>& on_fail) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Hdf5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Hdf5Handle a(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.get() < 0 || H5Awrite(a.get(), type, &value) < 0) on_fail();
}
}  // namespace

void Hdf5File::set_attr(const std::string& object, const std::string& name, int64_t value) {
  Hdf5Handle obj = open_object(object);
  write_scalar_attr(obj.get(), name, H5T_NATIVE_INT64, value, [&] { fail_at(object, "cannot write attribute " + name); });
}

void Hdf5File::set_attr(const std::string& object, const std::string& name, double value) {
  Hdf5Handle obj = open_object(object);
  write_scalar_attr(obj.get(), name, H5T_NATIVE_DOUBLE, value, [&] { fail_at(object, "cannot write attribute " + name); });
}

bool Hdf5File::has_attr(const std::string& object, const std::string& name) const {
  if (!exists(object)) return false;
  Hdf5Handle obj = open_object(object);
  return H5Aexists(obj.get(), name.c_str()) > 0;
}

Hdf5Handle Hdf5File::open_attr(const std::string& object, const std::string& name) const {
  Hdf5Handle obj = open_object(object);
  if (H5Aexists(obj.get(), name.c_str()) <= 0) fail_at(object, "attribute " + name + " missing");
  Hdf5Handle a(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (a.get() < 0) fail_at(object, "cannot open attribute " + name);
  return a;
}

std::string Hdf5File::attr_string(const std::string& object, const std::string& name) const {
  Hdf5Handle a = open_attr(object, name);
  Hdf5Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0) {
    fail_at(object, "attribute " + name + " is not a fixed-length string");
  }
  std::string s(H5Tget_size(type.get()), '\0');
  if (H5Aread(a.get(), type.get(), s.data()) < 0) fail_at(object, "cannot read attribute " + name);
  s.resize(std::strlen(s.c_str()));
  return s;
}

int64_t Hdf5File::attr_int(const std::string& object, const std::string& name) const {
  Hdf5Handle a = open_attr(object, name);
  Hdf5Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) fail_at(object, "attribute " + name + " is not an integer");
  int64_t v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) fail_at(object, "cannot read attribute " + name);
  return v;
}

double Hdf5File::attr_double(const std::string& object, const std::string& name) const {
  Hdf5Handle a = open_attr(object, name);
  Hdf5Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT) fail_at(object, "attribute " + name + " is not a number");
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) fail_at(object, "cannot read attribute " + name);
  return v;
}

}  // namespace ptq::io
