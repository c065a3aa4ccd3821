#pragma once
// Image I/O (OpenCV) and conversions between images and tensors.
// Every image inside the framework is a cv::Mat CV_32FC3 in RGB order with values in [0, 1]:
//   read_image  — any file OpenCV decodes: gray -> 3 channels, alpha dropped, EXIF
//                 orientation applied, 8-bit / 16-bit scaled to [0, 1], float clipped to [0, 1].
//                 Missing / unreadable file -> IoError; undecodable (corrupt PNG, JPEG
//                 cut short, not an image) -> DataError "cannot decode image '<path>': ...".
//                 `info`, when given, receives the file's channel count (1 = grey, converted)
//                 and size.
//   write_image — clips to [0, 1], rounds to 8 bits, RGB -> BGR, creates the parent
//                 folder; a failed write -> IoError naming the path (an image that is not
//                 CV_32FC3 -> DataError).
//   to_tensor / to_mat — HxWx3 CV_32FC3 <-> float 3xHxW tensor (always deep copies).
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/core.hpp>

namespace dmgn::data {

struct ImageInfo {
  int channels = 0;  // in the file: 1 grey, 3 colour, 4 with alpha
  int width = 0, height = 0;
  int bits = 8;      // per channel in the file: 8, 16, or 32 (float)
};
cv::Mat read_image(const std::filesystem::path& path, ImageInfo* info = nullptr);
// `bits` 16 writes 16 bits per channel (PNG and TIFF only: DataError for another extension).
void write_image(const std::filesystem::path& path, const cv::Mat& rgb, int bits = 8);
// True for the formats write_image can give 16 bits per channel (.png, .tif, .tiff).
bool holds_16_bits(const std::filesystem::path& path);

// HxWx3 CV_32FC3 (RGB) -> contiguous CPU float tensor 3xHxW.
torch::Tensor to_tensor(const cv::Mat& rgb);
// 3xHxW tensor (any device / floating dtype) -> CV_32FC3 HxWx3 (RGB).
cv::Mat to_mat(const torch::Tensor& chw);
// Any CV_32F matrix with 1 to 4 channels as a float CxHxW tensor (deep copy; channel order kept).
torch::Tensor planes_to_tensor(const cv::Mat& m);

// Throws DataError naming `what` unless `m` is a non-empty CV_32FC3 image.
void require_rgb32f(const cv::Mat& m, const char* what);

}  // namespace dmgn::data
