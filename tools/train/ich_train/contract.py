"""The model contract shared with the node (DESIGN.md section 3).

Everything the node reads from an ONNX file's metadata_props is defined here once, so the
trainer, the exporter and the golden fixtures cannot drift apart.
"""
from dataclasses import dataclass
from typing import List, Sequence

CLASSES: List[str] = [
    "any",
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
]
SUBTYPES: List[str] = CLASSES[1:]


@dataclass(frozen=True)
class Window:
    name: str
    center: float
    width: float

    @property
    def low(self) -> float:
        return self.center - self.width / 2.0

    def to_json(self) -> dict:
        return {"name": self.name, "center": self.center, "width": self.width}


DEFAULT_WINDOWS: List[Window] = [
    Window("brain", 40, 80),
    Window("subdural", 80, 200),
    Window("bone", 600, 2800),
]
DEFAULT_SIZE = 224
INPUT_NAME = "input"
OUTPUT_NAME = "probs"

# Paper's loss weights, "any" first (2 on epidural, the rarest class).
PAPER_LOSS_WEIGHTS: List[float] = [1.0, 2.0, 1.0, 1.0, 1.0, 1.0]
# RSNA 2019 competition metric weights, "any" first.
RSNA_LOGLOSS_WEIGHTS: List[float] = [2.0, 1.0, 1.0, 1.0, 1.0, 1.0]

METADATA_KEYS = (
    "ich.classes",
    "ich.windows",
    "ich.input",
    "ich.output",
    "ich.thresholds",
    "ich.model",
)


def windows_from_json(items: Sequence[dict]) -> List[Window]:
    """Parse `ich.windows`; rejects entries without a positive width."""
    windows = []
    for item in items:
        try:
            window = Window(str(item["name"]), float(item["center"]), float(item["width"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"bad window entry {item!r}: needs name, center, width") from err
        if window.width <= 0:
            raise ValueError(f"window {window.name!r} has width {window.width}; must be > 0")
        windows.append(window)
    if not windows:
        raise ValueError("at least one window is required")
    return windows


def input_spec(size: int) -> dict:
    return {"name": INPUT_NAME, "layout": "NCHW", "size": int(size), "resize": "bilinear"}


def output_spec() -> dict:
    return {"name": OUTPUT_NAME, "activation": "sigmoid"}
