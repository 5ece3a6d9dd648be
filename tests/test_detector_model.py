"""The ONNX model detector with tiny models the test writes itself (a constant output per layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from detectors import DetectorSet, Scene, Zone, parse_settings
from gateway.model import Detection, GridCell

GRID = GridCell("110101001001001")


def constant_model(path: Path, output: np.ndarray, size: int = 64) -> Path:
    """An ONNX graph whose output is `output` whatever the image (input mean times zero, plus it)."""
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "fixed"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(output.shape))],
        initializer=[
            numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
            numpy_helper.from_array(output.astype(np.float32), "fixed"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(settings: dict[str, object], zones: tuple[Zone, ...] = ()) -> list[Detection]:
    """One frame of a 320x240 camera through the model detector."""
    scene = Scene("cam-9", 320, 240, GRID, zones)
    detectors = DetectorSet(scene, [parse_settings(settings)])
    return detectors.process(np.full((240, 320, 3), 90, np.uint8), 0)


def test_ssd_layout_gives_labelled_boxes_in_frame_pixels(tmp_path: Path) -> None:
    rows = np.array([[[[0, 1, 0.9, 0.1, 0.2, 0.4, 0.6], [0, 0, 0.3, 0.5, 0.5, 0.6, 0.6]]]])
    path = constant_model(tmp_path / "ssd.onnx", rows)
    settings = {"type": "model", "path": str(path), "output": "ssd", "labels": ["person", "fire"],
                "input_width": 64, "input_height": 64}
    found = run(settings)
    assert len(found) == 1 and {d.detector for d in found} == {"model"}
    boxes = found[0].boxes
    assert [(b.label, b.score) for b in boxes] == [("fire", 0.9)]
    assert (boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h) == (32, 48, 96, 96)
    assert found[0].grid == GRID and found[0].snapshot


def test_yolov8_layout_with_nms_and_report_filter(tmp_path: Path) -> None:
    # Columns are 3 candidates: two overlapping "car" boxes (NMS keeps the stronger) and a weak "person".
    table = np.array([
        [100, 104, 30], [100, 102, 30], [40, 40, 10], [40, 40, 10],  # rows cx, cy, w, h (input pixels)
        [0.1, 0.05, 0.3],  # class 0 = person
        [0.8, 0.7, 0.0],  # class 1 = car
    ])[None]
    path = constant_model(tmp_path / "y8.onnx", table, 160)
    settings = {"type": "model", "path": str(path), "output": "yolov8", "labels": ["person", "car"],
                "input_width": 160, "input_height": 160, "score_min": 0.5, "report": ["car"]}
    found = run(settings)
    assert [(b.label, b.score) for b in found[0].boxes] == [("car", 0.8)]
    box = found[0].boxes[0]
    assert (box.x, box.y, box.w, box.h) == (160, 120, 80, 60)  # scaled by 320/160 and 240/160


def test_boxes_outside_a_zone_are_not_reported(tmp_path: Path) -> None:
    rows = np.array([[[[0, 0, 0.9, 0.7, 0.7, 0.9, 0.9]]]])
    path = constant_model(tmp_path / "ssd.onnx", rows)
    left = Zone("left", ((0, 0), (160, 0), (160, 240), (0, 240)), GRID)
    settings = {"type": "model", "path": str(path), "output": "ssd", "input_width": 64, "input_height": 64}
    assert run(settings, (left,)) == []


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        run({"type": "model", "path": str(tmp_path / "absent.onnx")})
