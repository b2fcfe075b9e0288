"""Inpainting a real image (``radsynth inpaint``, :func:`radsynth.generators.cli.inpaint_command`): add a lesion to, or remove one from, a real image inside a mask.

The model-resolution edit is RePaint (:mod:`radsynth.generators.diffusion.repaint`; Lugmayr et
al., CVPR 2022, arXiv:2201.09865) with a class-conditional pixel DDPM such as the shipped
``cxr-ddpm-64``: ``--label PNEUMONIA`` paints pneumonia-like opacity into the mask, ``--label
NORMAL`` paints normal lung. Pixels outside the mask are never changed:

* model resolution (``inpainted-64.png``): the input is centre-cropped to a square and resized to
  ``image_size`` (the training preprocessing, :func:`radsynth.generators.common.data.resize_image`),
  and the output equals that array outside the mask;
* full resolution (``inpainted.png``, the input file's size and bit depth): only the masked pixels
  are replaced, by the model-resolution result upsampled (bilinear) to the crop; every other pixel
  is the input file's own value, byte for byte.

Masks (True / non-zero = regenerate): a PNG/JPEG/NIfTI file the size of the input or of the model
canvas, or a built-in chest X-ray region (:data:`REGIONS`). The regions are a fixed lung-field
geometry for a frontal (PA/AP) radiograph in radiological convention (the patient's right lung on
the image's left), as ellipses in fractions of the square crop: right lung centre (0.30, 0.52), left
lung centre (0.70, 0.52), semi-axes 0.16 wide and 0.33 high (x, y from the top-left corner);
``*-lower-lung`` is the part of the ellipse at or below its centre. It is a population average (checked by
eye on test-split radiographs at 64 px, ``docs/inpaint_grid.png``; not a segmentation): on an individual radiograph it
can include rib, heart border or diaphragm. The mask actually used is written next to the output as
ground truth (``mask.png``, ``mask-64.png``) and described in ``sampling.json``.

Marking: like ``radsynth sample`` the images carry the PNG synthetic marking (iTXt provenance, XMP
digital source type), ``manifest.parquet``, ``sampling.json``, a signed ``SHA256SUMS`` and an audit
record. The invisible watermark (payload: the run id) is kept only inside the mask, so the real
pixels outside it stay untouched; a small mask carries too little of it for detection to be expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

#: built-in regions: name -> (lungs, lower half only); lungs in patient terms (image left = patient right)
REGIONS = {
    "right-lung": (("right",), False),
    "left-lung": (("left",), False),
    "both-lungs": (("right", "left"), False),
    "right-lower-lung": (("right",), True),
    "left-lower-lung": (("left",), True),
}
#: lung ellipses in fractions of the square crop: (centre x, centre y, semi-axis x, semi-axis y)
LUNG_ELLIPSES = {"right": (0.30, 0.52, 0.16, 0.33), "left": (0.70, 0.52, 0.16, 0.33)}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".nii", ".nii.gz")


def region_mask(region: str, size: int) -> np.ndarray:
    """Bool ``(size, size)`` mask of a built-in region (:data:`REGIONS`) on a square canvas of ``size`` px."""
    if region not in REGIONS:
        raise RadsynthInputError("--region", region, ", ".join(REGIONS))
    lungs, lower = REGIONS[region]
    c = (np.arange(size) + 0.5) / size  # pixel centres as fractions of the side
    yy, xx = np.meshgrid(c, c, indexing="ij")
    m = np.zeros((size, size), bool)
    for lung in lungs:
        cx, cy, ax, ay = LUNG_ELLIPSES[lung]
        inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
        m |= inside & (yy >= cy) if lower else inside
    return m


def read_input_pixels(path: Path) -> tuple[np.ndarray, int]:
    """(H, W) uint8 or uint16 grey pixels of a PNG/JPEG file and their full scale (255 / 65535).
    RGB(A) is converted to 8-bit luminance (ITU-R 601-2, Pillow's ``convert("L")``)."""
    from PIL import Image

    p = Path(path)
    if not p.is_file() or not p.name.lower().endswith(IMAGE_SUFFIXES):
        raise RadsynthInputError("--image", str(p), "an existing PNG or JPEG file")
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im, dtype=np.uint16).copy(), 65535
            if im.mode in ("I", "F"):
                a = np.asarray(im)
                if a.min() < 0 or a.max() > 65535:
                    raise RadsynthInputError("--image", str(p), "8- or 16-bit grey or RGB pixels")
                return a.astype(np.uint16), 65535
            return np.asarray(im.convert("L"), dtype=np.uint8).copy(), 255
    except RadsynthInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise RadsynthInputError("--image", str(p), "a readable PNG or JPEG image", str(exc)[:120]) from None


def read_mask_file(path: Path) -> np.ndarray:
    """Bool mask (non-zero = regenerate) from a PNG/JPEG (grey >= half scale) or NIfTI (non-zero; a 3D
    volume must have one slice) file."""
    p = Path(path)
    low = p.name.lower()
    if not p.is_file() or not low.endswith(MASK_SUFFIXES):
        raise RadsynthInputError("--mask", str(p), "an existing PNG, JPEG or NIfTI (.nii, .nii.gz) mask file")
    try:
        if low.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            a = np.squeeze(np.asarray(nib.load(str(p)).dataobj))
            if a.ndim != 2:
                raise RadsynthInputError("--mask", f"{p} of shape {a.shape}", "a 2D mask (one slice)")
            return np.asarray(a != 0).T[::-1]  # NIfTI (i, j) = (x, y up) -> image rows, columns as displayed
        from PIL import Image

        with Image.open(p) as im:
            im.load()
            a = np.asarray(im.convert("I") if im.mode.startswith("I;16") else im.convert("L"))
            half = 32768 if im.mode.startswith("I;16") else 128
            return np.asarray(a >= half)
    except RadsynthInputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise RadsynthInputError("--mask", str(p), "a readable PNG, JPEG or NIfTI mask", str(exc)[:120]) from None


@dataclass
class InpaintInput:
    """A real image prepared for the model: file pixels, its square crop and the two masks."""

    pixels: np.ndarray  # (H, W) uint8/uint16, the input file's pixels
    scale: int  # 255 or 65535
    crop: tuple[int, int, int]  # top, left, side (px) of the centre square the model sees
    image: np.ndarray  # (S, S) float32 in [-1, 1] at the model's resolution S
    mask: np.ndarray  # (S, S) bool, model resolution
    mask_full: np.ndarray  # (H, W) bool, file resolution (all False outside the crop)
    mask_source: dict[str, Any] = field(default_factory=dict)


def prepare_input(pixels: np.ndarray, scale: int, size: int, *, mask: np.ndarray | None = None,
                  region: str | None = None, mask_name: str = "--mask") -> InpaintInput:
    """Crop/resize ``pixels`` to the model canvas (``size`` px) and build both masks from ``mask`` (bool, the
    file's or the canvas's shape) or ``region``; exactly one of them. An empty mask is refused."""
    from radsynth.generators.common.data import resize_image

    if (mask is None) == (region is None):
        raise RadsynthInputError("--mask/--region", "both" if mask is not None else "neither",
                                 "exactly one of --mask FILE or --region " + "|".join(REGIONS))
    h, w = pixels.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    image = resize_image(pixels.astype(np.float32) / float(scale), size) * 2.0 - 1.0
    full = np.zeros((h, w), bool)
    if region is not None:
        m64 = region_mask(region, size)
        full[top:top + s, left:left + s] = region_mask(region, s)
        source: dict[str, Any] = {"region": region, "geometry": {k: list(v) for k, v in LUNG_ELLIPSES.items()}}
    else:
        m = np.asarray(mask, bool)
        if m.shape == (h, w):
            full = m.copy()
            outside = full.copy()
            outside[top:top + s, left:left + s] = False
            if outside.any():
                raise RadsynthInputError(mask_name, f"{int(outside.sum())} mask pixels outside the centre square",
                                         f"a mask inside the centre {s}x{s} square the model sees")
            sq = full[top:top + s, left:left + s].astype(np.float32)
            # a canvas pixel is regenerated when any part of it is masked (the full-res mask is pasted exactly)
            m64 = resize_image(sq, size) > 0 if s != size else sq > 0
        elif m.shape == (size, size):
            m64 = m.copy()
            idx = (np.arange(s) * size) // s  # nearest canvas pixel of each crop pixel
            full[top:top + s, left:left + s] = m64[idx][:, idx]
        else:
            raise RadsynthInputError(mask_name, f"shape {m.shape}", f"the image's shape {(h, w)} or the model's "
                                     f"({size}, {size})")
        source = {"mask_file": True}
    if not m64.any() or not full.any():
        raise RadsynthInputError(mask_name if region is None else "--region", "an empty mask",
                                 "a mask with at least one pixel to regenerate")
    return InpaintInput(pixels, int(scale), (top, left, s), image.astype(np.float32), m64, full, source)


def paste_full_resolution(inp: InpaintInput, out64: np.ndarray) -> np.ndarray:
    """The input file's pixels with only ``inp.mask_full`` replaced by ``out64`` (model canvas, [-1, 1])
    upsampled bilinearly to the crop; same dtype as the input, outside-mask pixels untouched."""
    from skimage.transform import resize

    top, left, s = inp.crop
    up = resize((np.asarray(out64, np.float64) + 1.0) / 2.0, (s, s), order=1, preserve_range=True, mode="edge")
    vals = np.clip(np.rint(np.clip(up, 0.0, 1.0) * inp.scale), 0, inp.scale).astype(inp.pixels.dtype)
    out = inp.pixels.copy()
    region = out[top:top + s, left:left + s]
    sub = inp.mask_full[top:top + s, left:left + s]
    region[sub] = vals[sub]
    return out


def inpaint_array(net: Any, cfg: Any, inp: InpaintInput, label_index: int | None, **kw: Any) -> np.ndarray:
    """Model-canvas result (float32 ``(S, S)`` in [-1, 1]) of :func:`repaint` for one prepared input."""
    from radsynth.generators.diffusion.repaint import repaint

    labels = None if label_index is None else [int(label_index)]
    return repaint(net, cfg, inp.image[None], inp.mask[None], labels, **kw)[0]
