"""One image input of any everyday kind -> an RGB ``uint8 [3, H, W]`` tensor.

Why: in a notebook an image is a path, a PIL image, a numpy array from OpenCV/imageio or a tensor
from a torch dataset. Prediction and in-memory training data both accept all of them, and both
must turn them into exactly the pixels a file on disk would give, so a model sees the same input
whichever way it arrives.

Accepted:

* ``str`` / ``os.PathLike`` (an image file) and ``bytes`` (an encoded image);
* a PIL image (any mode; EXIF-rotated, converted to RGB);
* a numpy array ``H x W x C`` (or ``H x W`` grey), ``uint8`` or float in ``[0, 1]``;
* a tensor ``C x H x W`` or ``H x W x C`` (C = 1, 3 or 4), ``uint8`` or float in ``[0, 1]``;
* a lazy row of an in-memory dataset (anything with a ``load()`` method returning one of these).

Float pixels outside ``[0, 1]`` (an already normalised tensor) are refused: headstart normalises
with the backbone's own mean/std, so normalising twice would silently hurt accuracy.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import DataError

SINGLE_IMAGE_TYPES: tuple[type, ...] = (str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray, torch.Tensor)


def is_single_image(item: Any) -> bool:
    """True when ``item`` is one image (not a list of them); a 4-D array/tensor is a batch."""
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return item.ndim in (2, 3)
    return isinstance(item, SINGLE_IMAGE_TYPES) or hasattr(item, "load")


def image_tensor(item: Any) -> torch.Tensor:
    """``item`` (see the module docstring) as an RGB ``uint8`` tensor ``[3, H, W]``."""
    if hasattr(item, "load") and not isinstance(item, Image.Image):
        item = item.load()
    if isinstance(item, (str, os.PathLike)):
        from .images import read_image_rgb

        return read_image_rgb(item)
    if isinstance(item, (bytes, bytearray, Image.Image)):
        from ..export.onnx_predictor import open_rgb

        return torch.from_numpy(np.array(open_rgb(item))).permute(2, 0, 1).contiguous()
    if isinstance(item, np.ndarray):
        array = np.ascontiguousarray(item)
        return _from_array(torch.from_numpy(array if array.flags.writeable else array.copy()), channels_last=True)
    if isinstance(item, torch.Tensor):
        return _from_array(item.detach().cpu(), channels_last=False)
    raise DataError(f"Cannot use a {type(item).__name__} as an image.",
                    "Pass a file path, a PIL image, a numpy HxWxC array or a CxHxW tensor.")


def _from_array(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """An array/tensor as ``uint8 [3, H, W]``; layout guessed from where a 1/3/4 channel axis is."""
    shape = tuple(x.shape)
    if x.ndim == 2:
        x = x.unsqueeze(0)
    elif x.ndim == 3:
        first, last = shape[0] in (1, 3, 4), shape[-1] in (1, 3, 4)
        if first and last and (shape[0] == 3) != (shape[-1] == 3):  # e.g. 4 x 6 x 3: RGB is the clue
            first, last = shape[0] == 3, shape[-1] == 3
        if last and (channels_last or not first):  # both possible: numpy means HWC, torch CHW
            x = x.permute(2, 0, 1)
        elif not first:
            raise DataError(f"An image array of shape {shape} has no channel axis of size 1, 3 or 4.",
                            "Pass H x W x C (numpy) or C x H x W (tensor) with C = 1, 3 or 4.")
    else:
        raise DataError(f"An image array must have 2 or 3 dimensions, got shape {shape}.",
                        "Pass one image per item (a list for several).")
    if x.dtype == torch.uint8:
        pass
    elif x.is_floating_point():
        low, high = (float(x.min()), float(x.max())) if x.numel() else (0.0, 1.0)
        if low < -1e-6 or high > 1 + 1e-6:
            raise DataError(f"Float image values must lie in [0, 1], got [{low:.3g}, {high:.3g}] "
                            "(already normalised?).",
                            "Pass raw pixels (uint8, or float 0..1): headstart normalises with the "
                            "backbone's mean/std itself.")
        x = (x.float() * 255).round().clamp(0, 255).to(torch.uint8)
    elif x.dtype in (torch.int16, torch.int32, torch.int64, torch.bool):
        x = x.clamp(0, 255).to(torch.uint8)
    else:
        raise DataError(f"Unsupported image dtype {x.dtype}.", "Pass uint8 pixels or floats in [0, 1].")
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    elif x.shape[0] == 4:
        x = x[:3]  # RGBA: drop alpha (PIL's RGBA -> RGB does the same)
    return x.contiguous()
