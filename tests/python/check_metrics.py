#!/usr/bin/python3
"""Reference PSNR/SSIM values for tests/test_metrics.cpp (framework/metrics/psnr_ssim.h).

Usage: /usr/bin/python3 tests/python/check_metrics.py OUT_DIR

Writes deterministic image pairs (float32 .npy, 3xHxW, nominally in [0,1]) to OUT_DIR and
prints one JSON document on stdout: {"skimage_version": ..., "records": [...]}, one record
per line, each {"name", "out", "gt", "preset", "psnr", "ssim"}.
  real20  : skimage.metrics peak_signal_noise_ratio / structural_similarity per RGB channel,
            data_range=255, on clip(x,0,1)*255 in float64, averaged (ERRNet / DMGN assess.py;
            the old compare_psnr/compare_ssim computed in float64 too).
  rain100 : numpy/scipy: MATLAB rgb2ycbcr Y; PSNR peak 1; SSIM Gaussian 11/1.5 (fspecial 2-D
            window), 'valid' correlation, K .01/.03, L 255 on Y*255.
  sots    : FFA-Net / pytorch-ssim formula run with torch F.conv2d in float64 (zero padding 5,
            groups per channel, C1 .01^2, C2 .03^2); PSNR 10 log10(1/mse).
  basicsr : BasicSR calculate_psnr / calculate_ssim (crop_border 0, RGB) with the filter done
            by scipy.signal.correlate2d 'valid' on the x255 image.
  mbn     : MBN's test_MBN.py: x255 in float32 then astype(uint8) (truncation) on both images,
            cv2.cvtColor(COLOR_RGB2YCR_CB)[..., 0] (OpenCV's 8-bit fixed point, emulated: cv2 is
            not a dependency), skimage peak_signal_noise_ratio / structural_similarity with
            their defaults (7x7 uniform window, sample covariance) at data_range 255.
  mbn_rgb : the same on the three RGB channels (multichannel, test_MBN.py's haze).
Exits with status 77 and a "SKIP: ..." line when a needed module is missing.
"""
import json
import math
import os
import sys

try:
    import numpy as np
    import scipy.signal
    import skimage
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - environment dependent
    print(f"SKIP: {sys.executable} cannot import a reference module: {e}")
    sys.exit(77)


def make_pairs():
    """(name, out, gt) triples, float32 3xHxW, deterministic."""
    rng = np.random.RandomState(20240)
    pairs = []

    def smooth(h, w, phase):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        chans = []
        for c in range(3):
            v = (0.5 + 0.3 * np.sin(x / (5.0 + 2 * c) + phase + c)
                 * np.cos(y / (7.0 + c) - phase) + 0.15 * (x / w - y / h))
            chans.append(v)
        return np.stack(chans)

    gt = smooth(48, 64, 0.3)
    pairs.append(("smooth_noise", gt + 0.05 * rng.randn(*gt.shape), gt))

    gt = smooth(37, 53, 1.1)
    blurred = gt.copy()
    blurred[:, 1:-1, 1:-1] = sum(gt[:, 1 + dy:gt.shape[1] - 1 + dy, 1 + dx:gt.shape[2] - 1 + dx]
                                 for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9.0
    out = blurred + 0.02 * rng.randn(*gt.shape) + np.array([0.03, -0.02, 0.01])[:, None, None]
    pairs.append(("odd_size_blur_shift", out, gt))

    gt = np.clip(smooth(32, 40, 2.0) * 1.4 - 0.2, 0, 1)  # saturated regions at 0 and 1
    pairs.append(("out_of_range", gt + 0.3 * rng.randn(*gt.shape), gt))

    gt = smooth(64, 64, -0.7)
    pairs.append(("low_noise", gt + 0.005 * rng.randn(*gt.shape), gt))

    return [(n, o.astype(np.float32), g.astype(np.float32)) for n, o, g in pairs]


def gaussian_1d(size=11, sigma=1.5):
    g = np.array([math.exp(-((i - size // 2) ** 2) / (2 * sigma ** 2)) for i in range(size)])
    return g / g.sum()


def ssim_map_mean(x, y, window, c1, c2, mode):
    """Wang et al. SSIM with a 2-D window, scipy correlation ('valid')."""
    f = lambda a: scipy.signal.correlate2d(a, window, mode=mode)
    mu1, mu2 = f(x), f(y)
    s11 = f(x * x) - mu1 ** 2
    s22 = f(y * y) - mu2 ** 2
    s12 = f(x * y) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


def real20(out, gt):
    # assess.py: quality_assess(X=estimate, Y=correct) -> compare_*(Y[..., ch], X[..., ch])
    X = np.transpose(np.clip(out.astype(np.float64), 0, 1), (1, 2, 0)) * 255.0
    Y = np.transpose(np.clip(gt.astype(np.float64), 0, 1), (1, 2, 0)) * 255.0
    p = [peak_signal_noise_ratio(Y[..., c], X[..., c], data_range=255) for c in range(3)]
    s = [structural_similarity(Y[..., c], X[..., c], data_range=255) for c in range(3)]
    return float(np.mean(p)), float(np.mean(s))


def rgb2y(img):
    r, g, b = np.clip(img.astype(np.float64), 0, 1)
    return 65.481 / 255 * r + 128.553 / 255 * g + 24.966 / 255 * b + 16.0 / 255


def rain100(out, gt):
    x, y = rgb2y(out), rgb2y(gt)
    p = 10 * math.log10(1.0 / np.mean((x - y) ** 2))
    g = gaussian_1d()
    s = ssim_map_mean(x * 255, y * 255, np.outer(g, g), (0.01 * 255) ** 2, (0.03 * 255) ** 2,
                      "valid")
    return p, s


def sots(out, gt):
    a = torch.from_numpy(np.clip(out.astype(np.float64), 0, 1))[None]
    b = torch.from_numpy(np.clip(gt.astype(np.float64), 0, 1))[None]
    c = a.shape[1]
    g = torch.from_numpy(gaussian_1d())[:, None]
    win = (g @ g.t())[None, None].expand(c, 1, 11, 11).contiguous()
    conv = lambda t: F.conv2d(t, win, padding=5, groups=c)
    mu1, mu2 = conv(a), conv(b)
    s11 = conv(a * a) - mu1 ** 2
    s22 = conv(b * b) - mu2 ** 2
    s12 = conv(a * b) - mu1 * mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s11 + s22 + c2))
    p = 20 * math.log10(1.0 / math.sqrt(float(((a - b) ** 2).mean())))
    return p, float(m.mean())


def basicsr(out, gt):
    x = np.clip(out.astype(np.float64), 0, 1) * 255
    y = np.clip(gt.astype(np.float64), 0, 1) * 255
    p = 10.0 * math.log10(255.0 * 255.0 / np.mean((x - y) ** 2))
    g = gaussian_1d()
    s = [ssim_map_mean(x[c], y[c], np.outer(g, g), (0.01 * 255) ** 2, (0.03 * 255) ** 2, "valid")
         for c in range(3)]
    return p, float(np.mean(s))


def to_u8(img):
    # test_MBN.py: res[res > 1] = 1; res[res < 0] = 0; res *= 255; res.astype(np.uint8)
    x = np.clip(img.astype(np.float32), 0, 1)
    x *= np.float32(255)
    return np.transpose(x.astype(np.uint8), (1, 2, 0))


def cv2_y(u8):
    # OpenCV RGB2YCrCb on 8-bit images: Y = (R*4899 + G*9617 + B*1868 + 2^13) >> 14.
    r, g, b = (u8[..., c].astype(np.int64) for c in range(3))
    return ((r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14).astype(np.uint8)


def mbn(out, gt):
    x, y = cv2_y(to_u8(out)), cv2_y(to_u8(gt))
    return (float(peak_signal_noise_ratio(y, x, data_range=255)),
            float(structural_similarity(x, y, data_range=255)))


def mbn_rgb(out, gt):
    x, y = to_u8(out), to_u8(gt)
    return (float(peak_signal_noise_ratio(y, x, data_range=255)),
            float(structural_similarity(x, y, data_range=255, channel_axis=-1)))


PRESETS = {"real20": real20, "rain100": rain100, "sots": sots, "basicsr": basicsr, "mbn": mbn,
           "mbn_rgb": mbn_rgb}


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for name, out, gt in make_pairs():
        out_path = os.path.join(out_dir, f"{name}_out.npy")
        gt_path = os.path.join(out_dir, f"{name}_gt.npy")
        np.save(out_path, out)
        np.save(gt_path, gt)
        for preset, fn in PRESETS.items():
            p, s = fn(out, gt)
            records.append({"name": name, "out": out_path, "gt": gt_path, "preset": preset,
                            "psnr": p, "ssim": s})
    print("{")
    print(f'  "skimage_version": {json.dumps(skimage.__version__)},')
    print('  "records": [')
    print(",\n".join("    " + json.dumps(r) for r in records))
    print("  ]")
    print("}")


if __name__ == "__main__":
    main()
