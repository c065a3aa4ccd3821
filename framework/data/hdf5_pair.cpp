// HDF5 pairs (TestA-DCPDN) through libhdf5's C API; see data/paired.h.
#include <fmt/format.h>

#include <cmath>
#include <opencv2/core.hpp>

#include "core/error.h"
#include "data/paired.h"

#ifdef DMGN_HAVE_HDF5
#include <hdf5.h>
#endif

namespace dmgn::data {

namespace fs = std::filesystem;

bool hdf5_available() {
#ifdef DMGN_HAVE_HDF5
  return true;
#else
  return false;
#endif
}

#ifdef DMGN_HAVE_HDF5
namespace {

// Closes an HDF5 handle on scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

// Dataset `key` of an open file as CV_32FC3 RGB in [0, 1]: HxWx3 (channels last, as h5py
// writes numpy images), 3xHxW, or HxW (grey, repeated). Integer data is scaled by the type's
// maximum (uint8 / 255).
cv::Mat read_dataset(hid_t file, const fs::path& path, const std::string& key) {
  const std::string where = fmt::format("'{}' dataset '{}'", path.string(), key);
  if (H5Lexists(file, key.c_str(), H5P_DEFAULT) <= 0)
    throw DataError(fmt::format("cannot read {}: no such dataset", where));
  Handle ds{H5Dopen2(file, key.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) throw DataError(fmt::format("cannot read {}: cannot open it", where));
  Handle space{H5Dget_space(ds.id), H5Sclose};
  const int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 2 || rank > 3)
    throw DataError(fmt::format("cannot read {}: rank {}, expected HxWx3, 3xHxW or HxW", where, rank));
  hsize_t dims[3] = {1, 1, 1};
  H5Sget_simple_extent_dims(space.id, dims, nullptr);
  int h = 0, w = 0, c = 1;
  bool channels_first = false;
  if (rank == 2) {
    h = static_cast<int>(dims[0]);
    w = static_cast<int>(dims[1]);
  } else if (dims[2] == 3 || dims[2] == 1) {
    h = static_cast<int>(dims[0]);
    w = static_cast<int>(dims[1]);
    c = static_cast<int>(dims[2]);
  } else if (dims[0] == 3 || dims[0] == 1) {
    c = static_cast<int>(dims[0]);
    h = static_cast<int>(dims[1]);
    w = static_cast<int>(dims[2]);
    channels_first = true;
  } else {
    throw DataError(fmt::format("cannot read {}: shape {}x{}x{} has no channel axis of size 3",
                                where, dims[0], dims[1], dims[2]));
  }
  if (h < 1 || w < 1) throw DataError(fmt::format("cannot read {}: empty", where));
  Handle type{H5Dget_type(ds.id), H5Tclose};
  double scale = 1.0;
  const H5T_class_t cls = H5Tget_class(type.id);
  if (cls == H5T_INTEGER) {
    const size_t bits = H5Tget_size(type.id) * 8;
    const bool is_signed = H5Tget_sign(type.id) == H5T_SGN_2;
    scale = 1.0 / (std::ldexp(1.0, static_cast<int>(bits) - (is_signed ? 1 : 0)) - 1.0);
  } else if (cls != H5T_FLOAT) {
    throw DataError(fmt::format("cannot read {}: not numeric data", where));
  }
  std::vector<float> buf(static_cast<size_t>(h) * w * c);
  if (H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
    throw DataError(fmt::format("cannot read {}: read failed", where));
  cv::Mat out(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y) {
    float* row = out.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) {
        const int ch = c == 1 ? 0 : k;
        const size_t at = channels_first ? (static_cast<size_t>(ch) * h + y) * w + x
                                         : (static_cast<size_t>(y) * w + x) * c + ch;
        const double v = static_cast<double>(buf[at]) * scale;
        row[3 * x + k] = std::isnan(v) ? 0.0f : static_cast<float>(v < 0 ? 0 : (v > 1 ? 1 : v));
      }
  }
  return out;
}

}  // namespace
#endif

std::pair<cv::Mat, cv::Mat> read_hdf5_pair(const fs::path& file, const std::string& input_key,
                                           const std::string& target_key) {
#ifdef DMGN_HAVE_HDF5
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw IoError(fmt::format("cannot read '{}': no such file", file.string()));
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become DataErrors, not stderr dumps
  if (H5Fis_hdf5(file.c_str()) <= 0)
    throw DataError(fmt::format("cannot decode '{}': not an HDF5 file", file.string()));
  Handle f{H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  if (f.id < 0) throw DataError(fmt::format("cannot decode '{}': cannot open the HDF5 file", file.string()));
  cv::Mat in = read_dataset(f.id, file, input_key);
  cv::Mat gt = read_dataset(f.id, file, target_key);
  return {in, gt};
#else
  throw Error(fmt::format("cannot read '{}': this dmgn was built without HDF5 (install libhdf5-dev "
                          "and rebuild)",
                          file.string()));
#endif
}

}  // namespace dmgn::data
