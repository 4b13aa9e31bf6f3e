"""The pretrained data config: how inputs must look for a set of weights.

Why: a backbone is only as good as its preprocessing. Every backbone carries the numbers its
weights were trained with (input size, mean/std, interpolation, crop), so the data pipeline is
built from them and nobody types ImageNet statistics by hand for a model that expects others.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataConfig:
    """Preprocessing contract of a backbone's weights.

    ``modality`` is ``"image"`` or ``"text"``. Image fields: ``input_size`` (C, H, W), ``mean``,
    ``std``, ``interpolation`` (``bilinear``/``bicubic``/``nearest``), ``crop_pct`` (eval resize is
    ``H / crop_pct`` then centre crop ``H``). Text fields: ``max_length``.
    """

    modality: str = "image"
    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    max_length: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return int(self.input_size[-1])

    @property
    def resize_size(self) -> int:
        """Shorter-side resize before the centre crop at evaluation."""
        return int(round(self.image_size / self.crop_pct))

    def with_image_size(self, size: int) -> "DataConfig":
        """Same normalisation at another resolution (e.g. tiny images in tests)."""
        return DataConfig(**{**asdict(self), "input_size": (self.input_size[0], size, size)})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataConfig":
        d = dict(d)
        for key in ("input_size", "mean", "std"):
            if key in d and d[key] is not None:
                d[key] = tuple(d[key])
        return cls(**d)
