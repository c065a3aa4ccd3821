#include "data/image_io.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)

#include <algorithm>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "data/image_files.h"

namespace dmgn::data {

namespace fs = std::filesystem;

namespace {

std::vector<uchar> read_bytes(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::none)  // e.g. a link loop
    throw IoError(fmt::format("cannot read image '{}': {}", path.string(), ec.message()));
  if (!fs::exists(st)) throw IoError(fmt::format("cannot read image '{}': no such file", path.string()));
  if (fs::is_directory(path, ec))
    throw IoError(fmt::format("cannot read image '{}': it is a directory", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw IoError(fmt::format("cannot read image '{}': cannot open the file", path.string()));
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(fmt::format("cannot read image '{}': read error", path.string()));
  return bytes;
}

// OpenCV ignores embedded colour profiles, but libpng still checks them and prints
// "libpng warning: iCCP: known incorrect sRGB profile" to stderr for many common PNGs
// (several of skimage's photos). Dropping the iCCP chunks before decoding changes no pixel
// and keeps the output clean. Leaves anything that is not a well-formed PNG untouched.
void drop_png_iccp(std::vector<uchar>& bytes) {
  static const uchar sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (bytes.size() < 8 || !std::equal(sig, sig + 8, bytes.begin())) return;
  std::vector<uchar> out(bytes.begin(), bytes.begin() + 8);
  size_t pos = 8;
  while (pos + 12 <= bytes.size()) {
    const size_t len = (size_t(bytes[pos]) << 24) | (size_t(bytes[pos + 1]) << 16) |
                       (size_t(bytes[pos + 2]) << 8) | size_t(bytes[pos + 3]);
    if (len > bytes.size() - pos - 12) return;  // malformed: let the decoder report it
    const bool iccp = std::equal(bytes.begin() + pos + 4, bytes.begin() + pos + 8, "iCCP");
    if (!iccp) out.insert(out.end(), bytes.begin() + pos, bytes.begin() + pos + 12 + len);
    pos += 12 + len;
  }
  if (pos != bytes.size()) return;
  bytes.swap(out);
}

// A JPEG cut short still decodes in libjpeg (the missing rows come out grey, with only a
// warning on stderr), so truncation is checked on the bytes: the end-of-image marker FFD9 must
// follow the last start-of-scan marker FFDA (inside entropy-coded data every FF byte is
// followed by 00 or a restart marker, so neither pair occurs there; an EXIF thumbnail's
// markers come before the main image's scans).
bool jpeg_truncated(const std::vector<uchar>& bytes) {
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;  // not a JPEG
  size_t last_sos = std::string::npos;
  for (size_t i = 2; i + 1 < bytes.size(); ++i)
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xDA) last_sos = i;
  if (last_sos == std::string::npos) return true;  // no scan at all
  for (size_t i = last_sos + 2; i + 1 < bytes.size(); ++i)
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xD9) return false;
  return true;
}

}  // namespace

void require_rgb32f(const cv::Mat& m, const char* what) {
  if (m.empty() || m.type() != CV_32FC3)
    throw DataError(fmt::format("{}: expected a non-empty CV_32FC3 RGB image, got {}x{} type {}",
                                what, m.rows, m.cols, m.empty() ? -1 : m.type()));
}

cv::Mat read_image(const fs::path& path, ImageInfo* info) {
  std::vector<uchar> bytes = read_bytes(path);
  drop_png_iccp(bytes);
  const std::string decode_error = fmt::format("cannot decode image '{}'", path.string());
  if (bytes.empty()) throw DataError(decode_error + ": empty file");
  if (jpeg_truncated(bytes))
    throw DataError(decode_error + ": truncated JPEG (no end-of-image marker after the last scan)");

  cv::Mat raw;
  try {
    // ANYDEPTH keeps 16-bit data; ANYCOLOR keeps gray as one channel and drops alpha.
    // Without IMREAD_UNCHANGED OpenCV applies the EXIF orientation.
    raw = cv::imdecode(bytes, cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR);
  } catch (const cv::Exception& e) {
    throw DataError(fmt::format("{}: {}", decode_error, e.err));
  }
  if (raw.empty()) throw DataError(decode_error);

  cv::Mat f;
  switch (raw.depth()) {
    case CV_8U:
      raw.convertTo(f, CV_32F, 1.0 / 255.0);
      break;
    case CV_16U:
      raw.convertTo(f, CV_32F, 1.0 / 65535.0);
      break;
    case CV_32F:
    case CV_64F:
      raw.convertTo(f, CV_32F);
      f = cv::min(cv::max(f, 0.0), 1.0);
      break;
    default:
      throw DataError(fmt::format("{}: unsupported pixel depth {}", decode_error, raw.depth()));
  }

  if (info) {
    info->bits = raw.depth() == CV_8U ? 8 : raw.depth() == CV_16U ? 16 : 32;
    info->channels = f.channels();
    info->width = f.cols;
    info->height = f.rows;
  }
  cv::Mat rgb;
  switch (f.channels()) {
    case 1:
      cv::cvtColor(f, rgb, cv::COLOR_GRAY2RGB);
      break;
    case 3:
      cv::cvtColor(f, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(f, rgb, cv::COLOR_BGRA2RGB);
      break;
    default:
      throw DataError(fmt::format("{}: unsupported channel count {}", decode_error, f.channels()));
  }
  return rgb;
}

bool holds_16_bits(const fs::path& path) {
  const std::string ext = lower_extension(path);
  return ext == ".png" || ext == ".tif" || ext == ".tiff";
}

void write_image(const fs::path& path, const cv::Mat& rgb, int bits) {
  require_rgb32f(rgb, fmt::format("cannot write image '{}'", path.string()).c_str());
  if (bits != 8 && bits != 16) throw Error(fmt::format("cannot write image '{}': {} bits per channel", path.string(), bits));
  if (bits == 16 && !holds_16_bits(path))
    throw DataError(fmt::format("cannot write image '{}' with 16 bits per channel: use .png or .tif", path.string()));
  std::error_code ec;
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path(), ec);
    if (ec)
      throw IoError(fmt::format("cannot write image '{}': cannot create folder '{}': {}",
                                path.string(), path.parent_path().string(), ec.message()));
  }
  cv::Mat clipped = cv::min(cv::max(rgb, 0.0), 1.0);
  cv::Mat u8, bgr;
  if (bits == 16) clipped.convertTo(u8, CV_16U, 65535.0);
  else clipped.convertTo(u8, CV_8U, 255.0);  // saturate_cast rounds to nearest
  cv::cvtColor(u8, bgr, cv::COLOR_RGB2BGR);
  bool ok = false;
  try {
    ok = cv::imwrite(path.string(), bgr);
  } catch (const cv::Exception& e) {
    throw IoError(fmt::format("cannot write image '{}': {}", path.string(), e.err));
  }
  if (!ok) throw IoError(fmt::format("cannot write image '{}'", path.string()));
}

torch::Tensor to_tensor(const cv::Mat& rgb) {
  require_rgb32f(rgb, "to_tensor");
  const cv::Mat cont = rgb.isContinuous() ? rgb : rgb.clone();
  return torch::from_blob(const_cast<uchar*>(cont.data), {cont.rows, cont.cols, 3}, torch::kFloat)
      .permute({2, 0, 1})
      .clone(at::MemoryFormat::Contiguous);
}

torch::Tensor planes_to_tensor(const cv::Mat& m) {
  if (m.empty() || m.depth() != CV_32F)
    throw DataError(fmt::format("planes_to_tensor: expected a CV_32F matrix, got {}",
                                m.empty() ? std::string("an empty one") : fmt::format("type {}", m.type())));
  const cv::Mat cont = m.isContinuous() ? m : m.clone();
  return torch::from_blob(const_cast<uchar*>(cont.data), {cont.rows, cont.cols, cont.channels()}, torch::kFloat)
      .permute({2, 0, 1})
      .clone(at::MemoryFormat::Contiguous);
}

cv::Mat to_mat(const torch::Tensor& chw) {
  if (!chw.defined() || chw.dim() != 3 || chw.size(0) != 3)
    throw DataError(fmt::format("to_mat: expected a 3xHxW tensor, got {}",
                                chw.defined() ? fmt::format("{}", fmt::join(chw.sizes(), "x"))
                                              : std::string("an undefined tensor")));
  const torch::Tensor hwc =
      chw.detach().to(torch::kCPU, torch::kFloat).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  return cv::Mat(h, w, CV_32FC3, const_cast<float*>(hwc.data_ptr<float>())).clone();
}

}  // namespace dmgn::data
