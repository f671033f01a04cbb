"""``BUILD/hw/rtl/``: every RTL source of an ``--impl rtl`` build, and what a simulator needs to know.

Contract: ``export_rtl(model, hw_dir)`` (after FINN's code generation) copies, for every node of
the specialised dataflow graph, its RTL sources (``get_rtl_file_list``: finn-rtllib's and
bnn2hw's shared modules into ``rtl/lib/``, the node's generated top into ``rtl/<node>/``) and
its memory images (``*.dat`` in its code generation directory, read at simulation start relative
to the working directory) into ``hw_dir/rtl/``, writes ``files.f`` (every source once, in
dependency order) and ``manifest.json``: per node, in graph order, ``name``, ``op_type``, ``top``
(module name), ``sources`` and ``data`` (paths relative to ``rtl/``), ``in_width`` /
``out_width`` (AXI-stream TDATA widths, padded to bytes), ``in_bits`` / ``out_bits`` (unpadded),
``in_elems`` / ``out_elems`` (elements per word), ``axilite_width`` (address bits of the
runtime-weight AXI-lite port; 0 without). ``bnn2hw.eda`` works from this manifest alone (no FINN).
One copied source is patched for Verilator 5.006 (``VERILATOR_PATCHES``, same semantics).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from bnn2hw.hw.config import HwError

RTL_DIR, MANIFEST_FILE, FILELIST_FILE, LIB_DIR = "rtl", "manifest.json", "files.f", "lib"


def _axilite_width(op) -> int:
    if "axilite" not in op.get_verilog_top_module_intf_names() or not op.get_verilog_top_module_intf_names()["axilite"]:
        return 0
    return op.axilite_width() if hasattr(op, "axilite_width") else 0


# Verilator 5.006 (Debian 12) emits C++ that does not compile for an initialised unpacked struct,
# which finn-rtllib's fmpadding.sv (finn-plus 1.6.1) declares; a packed struct means the same there.
VERILATOR_PATCHES = {"fmpadding.sv": [("typedef struct {", "typedef struct packed {")]}


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    patches = VERILATOR_PATCHES.get(source.name)
    if not patches:
        shutil.copyfile(source, target)
        return
    text = source.read_text()
    for old, new in patches:
        text = text.replace(old, new)
    target.write_text(text)


def _node_entry(node, out: Path) -> dict:
    op = getCustomOp(node)
    code_dir = Path(op.get_nodeattr("code_gen_dir_ipgen"))
    top = op.get_nodeattr("gen_top_module") or node.name
    sources = []
    for path in map(Path, op.get_rtl_file_list(abspath=True)):
        if not path.is_file():
            raise HwError(f"{node.name} ({node.op_type}): RTL source {path} missing after code generation")
        rel = Path(node.name) / path.name if path.parent == code_dir else Path(LIB_DIR) / path.name
        _copy(path, out / rel)
        sources.append(str(rel))
    data = []
    for path in sorted(code_dir.glob("*.dat")):
        rel = Path(node.name) / path.name
        _copy(path, out / rel)
        data.append(str(rel))
    return {"name": node.name, "op_type": node.op_type, "top": top, "sources": sources, "data": data,
            "in_width": int(op.get_instream_width_padded(0)), "out_width": int(op.get_outstream_width_padded(0)),
            "in_bits": int(op.get_instream_width(0)), "out_bits": int(op.get_outstream_width(0)),
            "in_elems": int(op.get_folded_input_shape(0)[-1]), "out_elems": int(op.get_folded_output_shape(0)[-1]),
            "axilite_width": _axilite_width(op)}


def export_rtl(model, hw_dir: Path) -> dict:
    out = Path(hw_dir) / RTL_DIR
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    nodes = [_node_entry(node, out) for node in model.graph.node]
    ordered = []
    for entry in nodes:  # packages and shared modules first (lib/), then each node's top
        ordered += [s for s in entry["sources"] if s.startswith(LIB_DIR) and s not in ordered]
    ordered += [s for e in nodes for s in e["sources"] if not s.startswith(LIB_DIR)]
    (out / FILELIST_FILE).write_text("\n".join(ordered) + "\n")
    manifest = {"nodes": nodes, "files": ordered}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
