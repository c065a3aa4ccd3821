#!/usr/bin/python3
"""Independent PSNR/SSIM references on real photos for tests/test_metrics.cpp (metrics/spec.h).

Usage: /usr/bin/python3 tests/python/check_metrics_photos.py OUT_DIR

Takes the real photos shipped with scikit-image (skimage/data: astronaut, chelsea, coffee,
rocket, a crop of motorcycle_left, and the grey camera photo stacked to 3 channels), degrades
each in two of four ways (Gaussian noise, Gaussian blur, JPEG, brightness/contrast shift; fixed
seeds), writes every output / ground-truth pair to OUT_DIR as 8-bit RGB PNGs and prints one
JSON record per line: {"name", "out", "gt", "preset", "crop", "psnr", "ssim"}, computed by
scikit-image itself on the uint8 arrays:
  skimage   : peak_signal_noise_ratio(gt, out, data_range=255) and structural_similarity(gt,
              out, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
              data_range=255, channel_axis=-1);
  basicsr_y : the same two functions on the BT.601 Y plane (16 + (65.481 R + 128.553 G +
              24.966 B) / 255 on 0..255 values, float64, not rounded) with `crop` pixels
              removed from every side;
  real20    : ERRNet's assess.py: the skimage functions with their defaults (7x7 uniform
              window, sample covariance) per RGB channel on the 0..255 values as float64,
              averaged.
Exits with status 77 and a "SKIP: ..." line when a needed module or photo is missing.
"""
import io
import json
import os
import sys

try:
    import numpy as np
    import scipy.ndimage
    import skimage
    import skimage.data
    import skimage.io
    from PIL import Image
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
except ImportError as e:  # pragma: no cover - environment dependent
    print(f"SKIP: {sys.executable} cannot import a reference module: {e}")
    sys.exit(77)

DATA = os.path.dirname(skimage.data.__file__)
Y_CROP = 4


def load(name):
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        print(f"SKIP: photo {path} is missing")
        sys.exit(77)
    img = skimage.io.imread(path)
    if img.ndim == 2:  # grey photo -> 3 equal channels
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def photos():
    moto = load("motorcycle_left.png")
    return [
        ("astronaut", load("astronaut.png")),
        ("chelsea", load("chelsea.png")),
        ("coffee", load("coffee.png")),
        ("rocket", load("rocket.jpg")),
        ("motorcycle", moto[70:70 + 361, 110:110 + 517]),  # odd-sized crop
        ("camera_grey", load("camera.png")),
    ]


def to_u8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def noise(img, seed):
    rng = np.random.RandomState(seed)
    return to_u8(img.astype(np.float64) + rng.normal(0.0, 12.0, img.shape))


def blur(img, seed):
    sigma = 1.0 + 0.25 * (seed % 3)
    return to_u8(scipy.ndimage.gaussian_filter(img.astype(np.float64), sigma=(sigma, sigma, 0)))


def jpeg(img, seed):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=20 + 5 * (seed % 3))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.uint8)


def brightness(img, seed):
    return to_u8(img.astype(np.float64) * (0.9 + 0.02 * (seed % 3)) + 18.0)


DEGRADATIONS = [("noise", noise), ("blur", blur), ("jpeg", jpeg), ("bright", brightness)]


def y_plane(img):
    r, g, b = (img[..., c].astype(np.float64) for c in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def references(out, gt):
    rows = []
    p = peak_signal_noise_ratio(gt, out, data_range=255)
    s = structural_similarity(gt, out, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255, channel_axis=-1)
    rows.append(("skimage", 0, p, s))
    c = Y_CROP
    yg, yo = y_plane(gt)[c:-c, c:-c], y_plane(out)[c:-c, c:-c]
    p = peak_signal_noise_ratio(yg, yo, data_range=255)
    s = structural_similarity(yg, yo, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255)
    rows.append(("basicsr_y", c, p, s))
    X, Y = out.astype(np.float64), gt.astype(np.float64)
    p = np.mean([peak_signal_noise_ratio(Y[..., ch], X[..., ch], data_range=255) for ch in range(3)])
    s = np.mean([structural_similarity(Y[..., ch], X[..., ch], data_range=255) for ch in range(3)])
    rows.append(("real20", 0, p, s))
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for i, (photo, gt) in enumerate(photos()):
        gt_path = os.path.join(out_dir, f"{photo}_gt.png")
        Image.fromarray(gt).save(gt_path)
        for k in (i % 4, (i + 2) % 4):
            kind, fn = DEGRADATIONS[k]
            out = fn(gt, seed=100 * i + k)
            name = f"{photo}_{kind}"
            out_path = os.path.join(out_dir, f"{name}.png")
            Image.fromarray(out).save(out_path)
            for preset, crop, p, s in references(out, gt):
                records.append({"name": name, "out": out_path, "gt": gt_path, "preset": preset,
                                "crop": crop, "psnr": float(p), "ssim": float(s)})
    print("{")
    print(f'  "skimage_version": {json.dumps(skimage.__version__)},')
    print('  "records": [')
    print(",\n".join("    " + json.dumps(r) for r in records))
    print("  ]")
    print("}")


if __name__ == "__main__":
    main()
