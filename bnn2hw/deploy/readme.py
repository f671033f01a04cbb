"""The README.md of a deploy package: what is in it, how to copy it to a board and run it.

Contract: ``readme_text(name, spec)`` returns the Markdown for the package folder ``name`` described
by ``spec`` (the io_spec dict): contents, scp + ``sudo python3 driver.py --validate`` on the
board, the sim backend on a host, ``--inputs`` / ``--benchmark`` / ``--ensemble`` usage, the
stream format and what the driver refuses. Pure string formatting.
"""

from __future__ import annotations


def _contents(spec: dict) -> list[str]:
    rows = ["| `driver.py` | the driver: numpy (1.x or 2.x) + `pynq` on the board; nothing else |",
            "| `io_spec.json` | shapes, datatypes, stream packing, DMA names and widths, clock, classes, checksums |",
            "| `sim/dataflow.onnx` | the folded dataflow graph (for `--backend sim`, and the build checksum) |"]
    if spec.get("bitfile") and spec.get("hwh"):
        rows.append("| `bitfile/finn-accel.bit`, `.hwh` | the accelerator (FPGA bitstream + hardware handoff) |")
    elif spec.get("bitfile"):
        rows.append(f"| `{spec['bitfile']}` | the FPGA bitstream |")
    if spec.get("test_data"):
        rows.append(f"| `{spec['test_data']}` | {spec['test_images']} test images (raw uint8) and labels of "
                    f"`{spec['dataset']}` |")
    rt = spec.get("runtime_weights")
    if rt:
        rows.append(f"| `weights/` | runtime-writable weights (FINN `.dat` files) of {len(rt['layers'])} layers: "
                    f"`mode/` and {len(rt['samples'])} posterior samples `sample_<k>/` |")
    return ["| file | what |", "|---|---|", *rows]


OPENFPGALOADER_BOARDS = {"ulx3s-85f": "ulx3s", "ulx3s-12f": "ulx3s"}  # openFPGALoader's --board names


def _ecp5_board(name: str, spec: dict) -> list[str]:
    board, uart = spec["build"].get("board"), spec["build"].get("uart") or {}
    loader = OPENFPGALOADER_BOARDS.get(board, "<board>")
    return [f"On the {board} (ECP5; the bitstream holds bnn2hw's UART shell around the accelerator), from",
            "a host with the board on USB, `openFPGALoader` (Debian/Ubuntu: `apt install openfpgaloader`) and",
            "`pyserial`:", "", "```sh", f"cd {name}",
            f"openFPGALoader --board {loader} {spec['bitfile']}        # into the FPGA (until power-off)",
            f"openFPGALoader --board {loader} -f {spec['bitfile']}     # into the flash (kept)",
            f"python3 driver.py --validate --backend uart --port /dev/ttyUSB0 --baud {uart.get('baud', 115200)}",
            "python3 driver.py --inputs images.npy --backend uart --port /dev/ttyUSB0", "```", "",
            f"Each image travels as one framed message of {uart.get('frame_bytes', '?')} bytes (start byte, the",
            "packed input stream, CRC-8); a lost or corrupted byte gets an error reply, never a wrong label,",
            "and the driver sends that frame again (`--retries`, default 2; the report counts `frames_resent`).",
            "Runtime weights (`--ensemble`) need the PYNQ path: the UART shell has no weight port.", ""]


def _board(name: str, spec: dict) -> list[str]:
    if spec.get("bitfile", "") and spec["bitfile"].endswith("accelerator.bit"):
        return _ecp5_board(name, spec)
    if not spec.get("bitfile"):
        return ["This package has **no bitfile**: its build ran without Vivado / Vitis HLS, so it runs on the",
                "simulator only. Rebuild on a machine with Vivado (`bnn2hw build`), then `bnn2hw deploy` again.", ""]
    return ["On a PYNQ board (PYNQ image with Python 3, numpy and `pynq`):", "", "```sh",
            f"scp -r {name} xilinx@<board-ip>:~/", f"ssh xilinx@<board-ip>", f"cd ~/{name}",
            "sudo python3 driver.py --validate          # accuracy on the bundled test set",
            "sudo python3 driver.py --benchmark         # images/s and latency",
            "sudo python3 driver.py --inputs images.npy --output labels.npy", "```", "",
            "`sudo` because PYNQ maps the FPGA's registers and DMA memory (on PYNQ 2.7+ use the",
            "board's Python: `sudo -E python3`, or the pynq virtual environment).", ""]


def _ensemble_lines(kind: str, onchip: dict | None = None) -> list[str]:
    if onchip:  # the sampler in the accelerator: K passes per image, no weights written
        head = ["- `--ensemble K`: the on-chip posterior ensemble: the accelerator's sampler runs K sampled passes",
                f"  per image (backends {', '.join(onchip['backends'])}: `--backend uart` sends K in each frame's "
                "header), no weights written."]
    else:
        head = ["- `--ensemble K`: posterior ensemble: loads weight sample k = 0..K-1 into the runtime-writable",
                "  weight memories and runs every image under each (needs a package with `weights/`)."]
    if kind == "scores":
        return head + ["  The accelerator outputs integer scores: the driver averages the members' probabilities",
                       "  (softmax of score x output_scale, as `bnn2hw simulate --ensemble`) and prints each image's",
                       "  predictive entropy; `--probabilities FILE.npz` saves probabilities and entropies."]
    return head + ["  The accelerator outputs labels: the driver takes the majority vote (ties: lowest class index)",
                   "  and reports the mean agreement; for probabilities rebuild with `bnn2hw build --output scores`."]


def readme_text(name: str, spec: dict) -> str:
    build, io_in, io_out = spec["build"], spec["input"], spec["output"]
    shape = ", ".join(str(d) for d in spec["image"]["shape"])
    lines = [f"# {name}: bnn2hw accelerator package", "",
             f"Build `{build['sha256'][:16]}` for **{build.get('board')}** at {build.get('clock_mhz')} MHz "
             f"(estimated {build.get('fps') or 0:,.0f} images/s). Input: raw uint8 images (N, {shape}); "
             f"output: the class index{' (' + spec['dataset'] + ')' if spec.get('dataset') else ''}.", "",
             "## Contents", "", *_contents(spec), "", "## Run it on the board", "", *_board(name, spec),
             "## Run it without a board", "",
             "On any machine with bnn2hw installed the same driver runs the same packed streams through",
             "bnn2hw's bit-exact simulator:", "", "```sh",
             "python driver.py --validate --backend sim", "python driver.py --inputs images.npy --backend sim",
             "```", "", "## Options", "",
             "- `--inputs FILE.npy`: raw uint8 images (N, " + shape + "); prints class indices and names;",
             "  `--output FILE.npy` saves the indices.",
             "- `--batch N` (default 100): images per DMA transfer. `--limit N`: first N images only.",
             *_ensemble_lines(io_out["kind"], spec.get("onchip_ensemble")), "",
             "## Stream format", "",
             f"Input: `{io_in['datatype']}`, {io_in['shape_folded'][-1]} elements per {io_in['stream_width_padded_bits']}-bit "
             f"word, {io_in['shape_packed'][-1]} bytes per word, DMA `{io_in['dma']}`. Output: `{io_out['datatype']}`, "
             f"DMA `{io_out['dma']}`. Packing is FINN's `finnpy_to_packed_bytearray(reverse_inner=True, "
             "reverse_endian=True)`: element 0 in the least significant bits, little-endian bytes.", "",
             "## What the driver refuses", "",
             "Images of the wrong shape or dtype (floats), pixel values outside 0..255, a package whose files",
             "do not match the checksum in `io_spec.json` (e.g. a bitfile from another build), `--backend pynq`",
             "without `pynq` or without a bitfile, `--ensemble K` beyond the packaged samples.", ""]
    return "\n".join(lines)
