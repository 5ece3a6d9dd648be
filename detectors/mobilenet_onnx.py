"""Convert torchvision's ImageNet MobileNetV2 weights (a legacy `torch.save` file) to ONNX, without torch.

Install-time only (`detectors.backbone_fetch` calls it; it needs numpy and `onnx`, not torch). The
reader accepts the pre-1.6 non-zip pickle format and only the globals a state dict of float tensors
uses, so a tampered file cannot run code; the fetcher also checks its sha256 before reading it.
Each BatchNorm is folded into the convolution before it. The graph takes `input` (1x3x224x224 RGB,
(x/255 - mean) / std with ImageNet's mean and std) and gives `features` (1x1280, global average
pool of the last feature map: the embedding) and `logits` (1x1000 ImageNet classes).
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

Tensor = npt.NDArray[Any]
StateDict = dict[str, Tensor]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_TYPES: dict[str, type[np.generic]] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
"""torchvision's MobileNetV2 inverted-residual settings: expansion t, channels c, repeats n, first stride s."""
BN_EPS = 1e-5


@dataclass(frozen=True, slots=True)
class _Storage:
    """A tensor storage named in the pickle; its bytes follow the pickles in the file."""

    dtype: type[np.generic]
    key: str


@dataclass(frozen=True, slots=True)
class _TensorRef:
    """A strided view into a storage, as `torch._utils._rebuild_tensor_v2` describes it."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: object
) -> _TensorRef:
    """Stand-in for torch's tensor rebuild: remember where the numbers are."""
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """An unpickler that knows only the few globals of a legacy state dict, and collects its storages."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        """Allow the tensor rebuild, storage types and OrderedDict; refuse anything else."""
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        """A storage reference: ('storage', type, key, location, size[, view])."""
        if not isinstance(pid, tuple) or pid[0] != "storage" or (len(pid) > 5 and pid[5] is not None):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        key = str(pid[2])
        return self.storages.setdefault(key, _Storage(pid[1], key))


def load_legacy_pth(path: Path) -> StateDict:
    """The tensors of a pre-1.6 `torch.save` state dict, as numpy arrays by name."""
    storages: dict[str, _Storage] = {}
    with path.open("rb") as f:
        if _Unpickler(f, storages).load() != LEGACY_MAGIC or _Unpickler(f, storages).load() != LEGACY_PROTOCOL:
            raise ValueError(f"{path.name}: not a legacy (pre-1.6) torch file")
        _Unpickler(f, storages).load()  # system info
        state = _Unpickler(f, storages).load()
        data = {key: _read_storage(f, storages[key]) for key in _Unpickler(f, storages).load()}
    refs = {name: ref for name, ref in state.items() if isinstance(ref, _TensorRef)}
    return {name: _materialise(ref, data[ref.storage.key]) for name, ref in refs.items()}


def _read_storage(f: IO[bytes], storage: _Storage) -> Tensor:
    """One storage's numbers: an int64 element count, then the raw little-endian elements."""
    (count,) = struct.unpack("<q", f.read(8))
    itemsize = np.dtype(storage.dtype).itemsize
    return np.frombuffer(f.read(count * itemsize), storage.dtype)


def _materialise(ref: _TensorRef, flat: Tensor) -> Tensor:
    """A contiguous copy of a strided view into a storage."""
    view = np.lib.stride_tricks.as_strided(flat[ref.offset :], ref.size, tuple(s * flat.itemsize for s in ref.stride))
    return np.array(view)


class _Graph:
    """The nodes and initialisers of the ONNX graph under construction."""

    def __init__(self, state: StateDict) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.const("relu6_min", np.array(0.0, np.float32))
        self.const("relu6_max", np.array(6.0, np.float32))

    def const(self, name: str, value: Tensor) -> str:
        """Add an initialiser and return its name."""
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, relu6: bool, name: str) -> str:
        """A convolution with its BatchNorm folded in, optionally followed by ReLU6 (Clip 0..6)."""
        w = self.state[conv + ".weight"].astype(np.float64)
        s = self.state[bn + ".weight"] / np.sqrt(self.state[bn + ".running_var"] + BN_EPS)
        weight = (w * s[:, None, None, None]).astype(np.float32)
        bias = (self.state[bn + ".bias"] - self.state[bn + ".running_mean"] * s).astype(np.float32)
        k = w.shape[2]
        group = w.shape[0] if w.shape[1] == 1 and w.shape[0] > 1 else 1
        inputs = [x, self.const(name + "_w", weight), self.const(name + "_b", bias)]
        out = name + "_conv"
        self.nodes.append(helper.make_node("Conv", inputs, [out], kernel_shape=[k, k], strides=[stride, stride],
                                           pads=[(k - 1) // 2] * 4, group=group, name=name))  # fmt: skip
        if not relu6:
            return out
        clipped = name + "_relu6"
        self.nodes.append(helper.make_node("Clip", [out, "relu6_min", "relu6_max"], [clipped], name=clipped))
        return clipped

    def block(self, x: str, i: int, stride: int) -> str:
        """Inverted residual block `features.i`: [expand 1x1,] depthwise 3x3, project 1x1, skip when shapes match."""
        p = f"features.{i}.conv"
        if f"{p}.3.weight" in self.state:  # expand (0), depthwise (1), project conv (2) + bn (3)
            y = self.conv_bn(x, f"{p}.0.0", f"{p}.0.1", 1, True, f"b{i}_expand")
            y = self.conv_bn(y, f"{p}.1.0", f"{p}.1.1", stride, True, f"b{i}_dw")
            y = self.conv_bn(y, f"{p}.2", f"{p}.3", 1, False, f"b{i}_project")
            cin, cout = self.state[f"{p}.0.0.weight"].shape[1], self.state[f"{p}.2.weight"].shape[0]
        else:  # expansion 1: depthwise (0), project conv (1) + bn (2)
            y = self.conv_bn(x, f"{p}.0.0", f"{p}.0.1", stride, True, f"b{i}_dw")
            y = self.conv_bn(y, f"{p}.1", f"{p}.2", 1, False, f"b{i}_project")
            cin, cout = self.state[f"{p}.0.0.weight"].shape[0], self.state[f"{p}.1.weight"].shape[0]
        if stride != 1 or cin != cout:
            return y
        self.nodes.append(helper.make_node("Add", [x, y], [f"b{i}_add"], name=f"b{i}_add"))
        return f"b{i}_add"


def build(state: StateDict) -> onnx.ModelProto:
    """The opset-13 ONNX model of torchvision's MobileNetV2 with these weights (outputs features, logits)."""
    g = _Graph(state)
    strides = [s if r == 0 else 1 for _, _, n, s in BLOCKS for r in range(n)]
    x = g.conv_bn("input", "features.0.0", "features.0.1", 2, True, "stem")
    for i, stride in enumerate(strides, start=1):
        x = g.block(x, i, stride)
    last = len(strides) + 1
    x = g.conv_bn(x, f"features.{last}.0", f"features.{last}.1", 1, True, "head")
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    g.nodes.append(helper.make_node("Flatten", ["gap"], ["features"], axis=1, name="flatten"))
    fc = ["features", g.const("fc_w", state["classifier.1.weight"]), g.const("fc_b", state["classifier.1.bias"])]
    g.nodes.append(helper.make_node("Gemm", fc, ["logits"], transB=1, name="fc"))
    graph = helper.make_graph(
        g.nodes,
        "mobilenet_v2_imagenet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 1280]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000]),
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="pth2onnx_mnv2")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def convert(pth: Path, out: Path) -> None:
    """Write the ONNX model of a torchvision MobileNetV2 .pth file."""
    onnx.save(build(load_legacy_pth(pth)), str(out))
