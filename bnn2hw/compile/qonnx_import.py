"""Bring your own model: a w1a1 QONNX export (Brevitas ``export_qonnx``) -> ``BUILD/model.onnx``.

Contract: ``import_qonnx(source, build_dir, input_scale=None, images=None, dataset=None)`` reads a
QONNX (or FINN-ONNX) file of a binary network — 1-bit weights (``BipolarQuant``, 1-bit ``Quant`` or
±1 initializers) and 1-bit activations, the input quantizer excepted (CNV quantizes its input to 8
bits) — with or without FINN's pre-/post-processing (input scaling, TensorNorm, reshape, TopK),
cleaned by qonnx or not, and writes the build's input graph: ``BUILD/model.onnx`` taking raw uint8
images (N, C, H, W) and returning the class index (a TopK is added when the export has none;
a flattening Reshape before the first layer becomes ``Flatten``, see ``flatten_input_reshapes``;
a flat input (1, N), as an MLP exported with a flat example takes, is accepted when the images
flatten to N elements: the graph then takes the images and flattens them, ``unflatten_input``),
``BUILD/import.json`` (the source, its sha256, the input convention) and ``BUILD/verify.json``
(the imported graph vs the source under qonnx execution on ``images``: ``label_mismatches`` must
be 0; ``dataset`` recorded for the later stages).

Input convention (``input_convention``): a graph whose input is annotated UINT8 (FINN's notebook
merges ``ToTensor``, x / 255, in front and annotates it) takes raw pixels as it is; a float input
needs ``input_scale`` (a ``Fraction``: 1/255 for models trained on ToTensor images, 1 for raw
0..255 values), which becomes a ``Div`` by n when it is 1/n (what torch's ToTensor computes, bit
for bit, in float32) or a ``Mul``. A float input without ``input_scale``, or a UINT8 input with
one, is refused with a ``CompileError`` that names the option. So are files that are not w1a1.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
from onnx import helper

from bnn2hw.compile.integer_net import CompileError

IMPORT_FILE, MODEL_FILE, VERIFY_FILE = "import.json", "model.onnx", "verify.json"
WEIGHTED_OPS = ("MatMul", "Gemm", "Conv")
MAX_INPUT_BITS = 8  # the input quantizer (CNV: 8 bits) may be wider than 1 bit


def parse_input_scale(text) -> Fraction | None:
    """``--input-scale``: '1/255', '0.00392...' or '1' -> a positive Fraction (None stays None)."""
    if text is None:
        return None
    try:
        scale = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        raise CompileError(f"--input-scale must be a number or a fraction such as 1/255, got {text!r}") from None
    if scale <= 0:
        raise CompileError(f"--input-scale must be positive, got {text!r}")
    return scale


def _bit_width(model, node) -> int | None:
    """Bits of a Quant / BipolarQuant node (None: not a quantizer or a bit width that is not constant)."""
    if node.op_type == "BipolarQuant":
        return 1
    if node.op_type == "Quant":
        bits = model.get_initializer(node.input[3])
        return None if bits is None else int(np.asarray(bits).reshape(-1)[0])
    if node.op_type == "MultiThreshold":  # FINN-ONNX form: steps thresholds give log2(steps + 1) bits
        thresholds = model.get_initializer(node.input[1])
        return None if thresholds is None else int(thresholds.shape[-1]).bit_length()
    return None


def _weight_bits(model, node) -> int | None:
    weight = node.input[1]
    init = model.get_initializer(weight)
    if init is not None:
        return 1 if init.size and np.all(np.abs(init) == 1) else None
    producer = model.find_producer(weight)
    return None if producer is None else _bit_width(model, producer)


def check_w1a1(model, path: Path) -> None:
    """Refuse (``CompileError``) a network whose weights or hidden activations are not 1-bit."""
    weighted = [n for n in model.graph.node if n.op_type in WEIGHTED_OPS]
    if not weighted:
        raise CompileError(f"{path}: no MatMul, Gemm or Conv layer: not a binary network")
    for node in weighted:
        bits = _weight_bits(model, node)
        if bits != 1:
            raise CompileError(f"{path}: {node.op_type} {node.name!r} has {'non-binary' if bits is None else bits}"
                               f"{'' if bits is None else '-bit'} weights; bnn2hw builds w1a1 networks (1-bit "
                               "weights and activations), e.g. Brevitas' BNN-PYNQ tfc/sfc/lfc/cnv_1w1a")
    weight_inputs = {n.input[1] for n in weighted}
    for node in model.graph.node:
        bits = _bit_width(model, node)
        if bits is None or model.get_initializer(node.input[0]) is not None or node.output[0] in weight_inputs:
            continue  # not an activation quantizer
        if bits != 1 and not (bits <= MAX_INPUT_BITS and _upstream_of(model, node, weighted[0])):
            raise CompileError(f"{path}: activation {node.op_type} {node.name!r} has {bits}-bit outputs; bnn2hw "
                               "builds w1a1 networks (1-bit activations; only the input may have up to "
                               f"{MAX_INPUT_BITS} bits)")


def _upstream_of(model, node, target) -> bool:
    """Whether ``node`` lies between the graph input and ``target`` (the first weighted layer)."""
    seen, todo = set(), [target]
    while todo:
        current = todo.pop()
        if current.output[0] == node.output[0]:
            return True
        for name in current.input:
            producer = model.find_producer(name)
            if producer is not None and producer.output[0] not in seen:
                seen.add(producer.output[0])
                todo.append(producer)
    return False


def _load(path: Path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model
    try:
        return cleanup_model(ModelWrapper(str(path)))
    except Exception as err:  # onnx / qonnx raise many kinds on a file they cannot read
        raise CompileError(f"{path}: not a readable QONNX model ({type(err).__name__}: {err})") from None


def _merged_to_tensor(model, name: str) -> bool:
    """Whether the float input's only consumer is FINN's ToTensor (x / 255 or x · (1/255)), merged in."""
    consumers = model.find_consumers(name) or []
    if len(consumers) != 1 or consumers[0].op_type not in ("Div", "Mul"):
        return False
    node = consumers[0]
    constant = model.get_initializer(node.input[1])
    if constant is None or constant.size != 1:
        return False
    value = float(np.asarray(constant, np.float32).reshape(-1)[0])
    return value == 255.0 if node.op_type == "Div" else value == float(np.float32(1 / 255))


def _prepend_scale(model, name: str, scale: Fraction) -> None:
    """graph input -> Div(n) (scale 1/n) or Mul(scale) -> what the input fed before."""
    if scale == 1:
        return
    scaled, constant = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
    for node in model.find_consumers(name) or []:
        for i, tensor in enumerate(node.input):
            if tensor == name:
                node.input[i] = scaled
    divide = scale.numerator == 1
    model.set_initializer(constant, np.array(scale.denominator if divide else float(scale), np.float32))
    model.graph.node.insert(0, helper.make_node("Div" if divide else "Mul", [name, constant], [scaled],
                                                name="bnn2hw_input_scale"))


def input_convention(model, path: Path, scale: Fraction | None) -> dict:
    """Make the graph take raw uint8 images (see module docstring); returns what import.json records."""
    from qonnx.core.datatype import DataType
    name = model.graph.input[0].name
    dtype, shape = model.get_tensor_datatype(name), model.get_tensor_shape(name)
    if len(shape) != 4 or shape[0] != 1:
        raise CompileError(f"{path}: input {name!r} has shape {shape}; bnn2hw takes images (1, C, H, W)")
    if dtype == DataType["UINT8"] or (dtype == DataType["FLOAT32"] and _merged_to_tensor(model, name)):
        if scale is not None:
            raise CompileError(f"{path}: the model already takes raw uint8 pixels (its input is annotated "
                               f"{dtype.name} or divided by 255 in the graph); drop --input-scale")
        model.set_tensor_datatype(name, DataType["UINT8"])
        return {"input_convention": "raw uint8 pixels into the model's own pre-processing", "input_scale": None}
    if dtype != DataType["FLOAT32"]:
        raise CompileError(f"{path}: input {name!r} is annotated {dtype.name}; bnn2hw takes uint8 images "
                           "(annotate it UINT8, or export it as float and give --input-scale)")
    if scale is None:
        raise CompileError(f"{path}: input {name!r} is float and the graph has no pre-processing that says what "
                           "it expects: give --input-scale 1/255 if the model was trained on uint8/255 "
                           "images (torchvision ToTensor), --input-scale 1 for raw 0..255 values")
    _prepend_scale(model, name, scale)
    model.set_tensor_datatype(name, DataType["UINT8"])
    return {"input_convention": f"raw uint8 pixels times {scale} (--input-scale)", "input_scale": str(scale)}


def unflatten_input(model, path: Path, image_shape: tuple[int, ...] | None) -> bool:
    """A graph input of shape (1, N) takes (1, *image_shape) followed by ``Flatten`` (what FINN's
    flow does for MLPs), when the images flatten to N; True when it did. Images of another size, or
    none to say their shape, are refused naming ``--dataset``."""
    name = model.graph.input[0].name
    shape = model.get_tensor_shape(name)
    if len(shape) != 2 or shape[0] != 1:
        return False
    if image_shape is None or int(np.prod(image_shape)) != shape[1]:
        got = "no data set" if image_shape is None else f"images of shape {tuple(image_shape)}"
        raise CompileError(f"{path}: input {name!r} is flat {tuple(shape)} and {got} to flatten into it; give the "
                           f"--dataset the model was trained on (its images must have {shape[1]} pixels)")
    flat = model.make_new_valueinfo_name()
    for node in model.find_consumers(name) or []:
        node.input[:] = [flat if tensor == name else tensor for tensor in node.input]
    model.graph.node.insert(0, helper.make_node("Flatten", [name], [flat], name="bnn2hw_flatten_input", axis=1))
    model.set_tensor_shape(name, [1, *image_shape])
    return True


def flatten_input_reshapes(model) -> int:
    """Reshapes to (1, -1) before the first weighted layer (the ``x.view(N, -1)`` of Brevitas' FC
    models) become ``Flatten``: the same values, and FINN then leaves the flatten to software around
    the accelerator as it does for ``bnn2hw compile``'s graphs, instead of a HW ``Reshape`` whose
    finn-rtllib source Verilator 5.006 cannot build (a recursive ``gcd``). Returns how many."""
    first = next(n for n in model.graph.node if n.op_type in WEIGHTED_OPS)
    count = 0
    for i, node in enumerate(model.graph.node):
        target = model.get_initializer(node.input[1]) if node.op_type == "Reshape" else None
        out_shape = model.get_tensor_shape(node.output[0]) if target is not None else None
        if out_shape is None or len(out_shape) != 2 or out_shape[0] != 1 or not _upstream_of(model, node, first):
            continue
        flatten = helper.make_node("Flatten", [node.input[0]], [node.output[0]], name=node.name, axis=1)
        model.graph.node.remove(node)
        model.graph.node.insert(i, flatten)
        count += 1
    return count


def normalise(model, path: Path, scale: Fraction | None, image_shape: tuple[int, ...] | None = None):
    """(model.onnx's graph, import.json fields): uint8 image input, class index output, qonnx-cleaned."""
    check_w1a1(model, path)
    flatten_input_reshapes(model)
    unflattened = unflatten_input(model, path, image_shape)
    convention = input_convention(model, path, scale)
    added_topk = model.find_producer(model.graph.output[0].name).op_type != "TopK"
    return with_topk(model), {**convention, "added_topk": added_topk, "flat_input": unflattened}


def with_topk(model):
    """``model`` ending in TopK(k=1) (qonnx's InsertTopK, which keeps one already there), cleaned."""
    from qonnx.transformation.insert_topk import InsertTopK
    from qonnx.util.cleanup import cleanup_model
    return cleanup_model(model.transform(InsertTopK(k=1)))


def _as_source_input(images: np.ndarray, scale: Fraction | None) -> np.ndarray:
    """What the source graph receives for raw uint8 ``images``: float32(u) / n, or u · scale."""
    x = images.astype(np.float32)
    if scale is None or scale == 1:
        return x
    if scale.numerator == 1:
        return x / np.float32(scale.denominator)
    return x * np.float32(float(scale))


def _check_images(model, images: np.ndarray, dataset: str | None, path: Path) -> None:
    shape = tuple(model.get_tensor_shape(model.graph.input[0].name))[1:]
    if tuple(images.shape[1:]) != shape:
        raise CompileError(f"{path}: the model takes images of shape {shape}, dataset {dataset!r} has "
                           f"{tuple(images.shape[1:])}; pass the dataset the model was trained on")


def verify_import(source, model, images: np.ndarray, scale: Fraction | None, path: Path) -> dict:
    """Labels (and exact scores) of ``model.onnx`` on raw images vs the source on scaled ones."""
    import time

    from bnn2hw.compile.verify import run_qonnx
    t0 = time.perf_counter()
    source_shape = source.get_tensor_shape(source.graph.input[0].name)  # (1, N) for a flat export
    source_input = _as_source_input(images, scale).reshape(len(images), *source_shape[1:])
    ref_labels, ref_scores = run_qonnx(with_topk(source), source_input, source=str(path))
    labels, scores = run_qonnx(model, images)
    same = scores.shape == ref_scores.shape
    return {"images": int(len(images)), "label_mismatches": int((labels != ref_labels).sum()),
            "value_mismatches": int((scores != ref_scores).sum()) if same else int(ref_scores.size),
            "integer_scores": bool(scores.dtype == np.int64),
            "reference": f"{path} under qonnx.core.onnx_exec.execute_onnx on the scaled images",
            "candidate": "model.onnx under qonnx.core.onnx_exec.execute_onnx on the raw uint8 images",
            "verify_seconds": round(time.perf_counter() - t0, 3), "_labels": labels}


def import_qonnx(source, build_dir, input_scale=None, images: np.ndarray | None = None,
                 labels: np.ndarray | None = None, dataset: str | None = None) -> dict:
    """See module docstring; ``images`` default to 64 seeded random uint8 images. Returns verify.json's dict."""
    path, build_dir = Path(source), Path(build_dir)
    if not path.is_file():
        raise CompileError(f"{path}: no such model file")
    scale = parse_input_scale(input_scale)
    original = _load(path)
    model, convention = normalise(_load(path), path, scale, None if images is None else tuple(images.shape[1:]))
    if images is None:
        shape = tuple(model.get_tensor_shape(model.graph.input[0].name))[1:]
        images = np.random.default_rng(0).integers(0, 256, size=(64, *shape), dtype=np.uint8)
    _check_images(model, images, dataset, path)
    report = verify_import(original, model, images, scale, path)
    predicted = report.pop("_labels")
    if labels is not None and len(labels):
        report["accuracy"] = float((predicted == labels[:len(predicted)]).mean())
    build_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(build_dir / MODEL_FILE))  # not onnx's checker: FINN-ONNX forms lack qonnx's opset import
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (build_dir / IMPORT_FILE).write_text(json.dumps({"source": str(path.resolve()), "sha256": digest,
                                                     **convention}, indent=2) + "\n")
    report.update(dataset=dataset, source_model=str(path.resolve()), **convention)
    (build_dir / VERIFY_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report
