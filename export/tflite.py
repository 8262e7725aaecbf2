"""TFLite export (fp32, fp16, dynamic-range, int8) restricted to LiteRT's builtin ops.

The file has two signatures with a fixed batch of 1 (LiteRT.js cannot run a `-1`
batch): `edit(image, source_aus, target_aus)` → edited, deformed, mask, grid and
`estimate_aus(image)` → aus; inputs and outputs stay float32 in every variant, so app
code is the same for all four. Only `TFLITE_BUILTINS` (plus `TFLITE_BUILTINS_INT8` for
int8) are allowed: a model that needs a Flex (TensorFlow) or custom op fails with the
op named, instead of producing a file that phones cannot run.

    python -m export.tflite --run RUN_DIR --out FILE --quant {fp32,fp16,dynamic,int8}
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from defgan_tf.arguments import positive_int
from defgan_tf.config import Config, did_you_mean
from defgan_tf.data.pipeline import make_dataset
from defgan_tf.data.readers import DatasetError, read_dataset
from defgan_tf.files import write_bytes
from defgan_tf.models import DefGAN
from export.metadata import build_metadata, sidecar_path, write_metadata
from export.saved_model import ExportError, load_for_export, write_saved_model

QUANTIZATIONS = ("fp32", "fp16", "dynamic", "int8")
SIGNATURES = ("edit", "estimate_aus")
_QUANTIZE_OPS = {"QUANTIZE", "DEQUANTIZE"}
_NETWORK_SCOPES = ("texture_generator", "deformation_generator", "critic")


def check_quantization(quantization: str) -> str:
    """Returns `quantization` if it is a known variant, else raises with the closest match."""
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"quantization must be one of {', '.join(QUANTIZATIONS)}. "
                          f"Received: {quantization!r}.{did_you_mean(quantization, QUANTIZATIONS)}")
    return quantization


def check_tflite_out(out_file: str | Path) -> Path:
    """Refuses a .tflite path that could not be written or opened, before the slow part.

    A folder there fails only at the write, after tracing and converting; a name without
    the `.tflite` suffix would be written, but the editors (`defgan-edit --model`) open a
    model by that suffix and would refuse it.

    Raises:
        ExportError: `out_file` is a folder or lacks the `.tflite` suffix.
    """
    out_file = Path(out_file)
    if out_file.is_dir():
        raise ExportError(f"--out {out_file} is a folder; give the .tflite file to write, "
                          f"e.g. --out {out_file / 'defgan.tflite'}.")
    if out_file.suffix != ".tflite":
        raise ExportError(f"--out {out_file} does not end in .tflite, which the editors "
                          f"require to open it; e.g. --out {out_file}.tflite.")
    return out_file


def dataset_faces(config: Config, count: int, data_path: str | Path | None = None,
                  split: str = "train") -> list[dict[str, np.ndarray]]:
    """Faces of the run's dataset: int8 calibration (train split) or parity checks (test).

    Args:
        config: the run's config (`data.*` says where and in which format the data is).
        count: how many faces (the run's `export.representative_samples` to calibrate).
        data_path: read this dataset folder instead of `data.path`.
        split: train | test | all.

    Returns:
        `count` (or fewer, if the split is smaller) dicts of batch-1 float32 arrays
        `image` (1, S, S, 3) in [-1, 1], `source_aus` and `target_aus` (1, 17) in [0, 1].

    Raises:
        ExportError: the run has no data path and none was given, or the data is unreadable.
    """
    data = config.data
    path = data_path if data_path is not None else data.path
    if path is None:
        raise ExportError("int8 calibration and parity checks need the run's faces, but its "
                          "config has no data.path; pass --data DATASET_DIR.")
    try:
        index = read_dataset(str(path), data.format, split)
        faces = make_dataset(index, config.model.image_size, 1, training=False, repeat=False)
    except DatasetError as error:
        raise ExportError(f"cannot read calibration faces from {path}: {error}") from None
    return [{key: value.numpy() for key, value in batch.items()}
            for batch in faces.take(count)]


def _representative_dataset(faces: list[dict[str, np.ndarray]]
                            ) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """(signature, inputs) pairs, as the converter expects for a multi-signature model."""
    for face in faces:
        yield "edit", {key: face[key] for key in ("image", "source_aus", "target_aus")}
        yield "estimate_aus", {"image": face["image"]}


def _converter(saved_model_dir: Path, quantization: str,
               faces: list[dict[str, np.ndarray]] | None) -> tf.lite.TFLiteConverter:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir),
                                                         signature_keys=list(SIGNATURES))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if not faces:
            raise ExportError("int8 export needs representative faces (none were given).")
        converter.representative_dataset = lambda: _representative_dataset(faces)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        # Calibrate here, quantize in `_quantize_networks` (selectively): the same two
        # steps as tf.lite.experimental.QuantizationDebugger with denylisted nodes, which
        # uses these converter internals too.
        converter._experimental_calibrate_only = True
    return converter


def float_glue_nodes(content: bytes) -> list[str]:
    """Output tensors of the ops outside the three networks: grid, warp, composition.

    Quantizing these to int8 breaks the edit: an int8 grid moves samples by up to half a
    pixel at 128², and the warp's floor/gather index arithmetic turns that into
    whole-pixel jumps (measured on the tiny test model: edited PSNR 23 dB against Keras
    with everything quantized, > 40 dB with these kept float). The networks' ops live
    under their layer names (`…/deformation_generator_1/…`, `…/critic_1/…`).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    names = [subgraph.tensors[op.outputs[0]].name.decode()
             for subgraph in model.subgraphs for op in subgraph.operators]
    nodes = [name for name in names if not any(scope in name for scope in _NETWORK_SCOPES)]
    if len(nodes) == len(names):
        raise ExportError("int8: no op of the converted model lies under the network scopes "
                          f"{', '.join(_NETWORK_SCOPES)}, so nothing would be quantized; were "
                          "the layers renamed?")
    return nodes


def _quantize_networks(calibrated: bytes) -> bytes:
    """int8 weights and activations inside the networks; the glue ops stay float32."""
    from tensorflow.lite.python import convert

    return convert.mlir_quantize(calibrated, disable_per_channel=False, fully_quantize=False,
                                 enable_numeric_verify=False,
                                 denylisted_nodes=float_glue_nodes(calibrated))


def ops_from_converter_error(error: Exception) -> list[str]:
    """The TensorFlow ops a failed conversion could not map to builtins (e.g. ["Svd"])."""
    names = [getattr(getattr(item, "operator", None), "name", "")
             for item in getattr(error, "errors", [])]
    names = [name.removeprefix("tf.") for name in names if name]
    text = str(error)
    for line in re.findall(r"(?:Flex|Custom) ops: ([^\n]+)", text):
        names += [name.strip() for name in line.split(",")]
    names += re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)
    return sorted(set(names))


def model_ops(content: bytes) -> dict[str, collections.Counter]:
    """Op counts of a .tflite flatbuffer.

    Returns:
        {"ops": every operator name → count, "custom": custom/Flex ops → count,
        "float": ops (other than QUANTIZE/DEQUANTIZE) with a float32 input → count}.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    custom = set()
    names = []
    for index, code in enumerate(model.operatorCodes):
        if code.customCode:
            name = code.customCode.decode() if isinstance(code.customCode, bytes) \
                else str(code.customCode)
            custom.add(name)
        else:
            name = flatbuffer_utils.opcode_to_name(model, index)
        names.append(name)
    counts = {"ops": collections.Counter(), "custom": collections.Counter(),
              "float": collections.Counter()}
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            name = names[op.opcodeIndex]
            counts["ops"][name] += 1
            if name in custom:
                counts["custom"][name] += 1
            inputs = [subgraph.tensors[i] for i in op.inputs if i >= 0]
            if name not in _QUANTIZE_OPS and any(
                    t.type == flatbuffer_utils.schema_fb.TensorType.FLOAT32 for t in inputs):
                counts["float"][name] += 1
    return counts


def convert_saved_model(saved_model_dir: str | Path, quantization: str = "fp32",
                        faces: list[dict[str, np.ndarray]] | None = None) -> bytes:
    """Converts a SavedModel's `edit`/`estimate_aus` signatures with builtin ops only.

    Args:
        saved_model_dir: written by `write_saved_model(..., batch_size=1)`.
        quantization: fp32 | fp16 (float16 weights) | dynamic (int8 weights, float
            activations) | int8 (int8 weights and activations inside the networks; the
            grid, warp and mask composition stay float32, see `float_glue_nodes`).
        faces: int8 calibration inputs (`dataset_faces`).

    Returns:
        The .tflite flatbuffer.

    Raises:
        ExportError: an op needs Flex/custom kernels (the message names it), or another
            conversion failure.
    """
    converter = _converter(Path(saved_model_dir), check_quantization(quantization), faces)
    try:
        content = converter.convert()
    except Exception as error:  # the converter raises ConverterError, and others
        ops = ops_from_converter_error(error)
        if ops:
            raise ExportError(
                f"the model needs op(s) outside LiteRT's builtins: {', '.join(ops)}. Phones "
                "and LiteRT.js cannot run Flex or custom ops; replace them with builtin "
                "TensorFlow ops (see docs/export.md).") from None
        raise ExportError(f"TFLite conversion failed: {str(error).splitlines()[0]}") from None
    if quantization == "int8":
        content = _quantize_networks(content)
    custom = model_ops(content)["custom"]
    if custom:
        raise ExportError(f"the converted model contains non-builtin op(s): "
                          f"{', '.join(sorted(custom))}.")
    return content


def _litert_interpreter():
    """LiteRT's Interpreter class, which reads the tensor names back for the sidecar."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ExportError("writing the .tflite's sidecar reads the model back with LiteRT: "
                          "pip install 'defgan-tf[litert]' (the ai-edge-litert package)."
                          ) from None
    return Interpreter


def _tensor_names(content: bytes) -> dict[str, dict[str, dict[str, str]]]:
    """signature → {"inputs"/"outputs": {key: tensor name}} read back from the file."""
    interpreter = _litert_interpreter()(model_content=content)
    names = {}
    for signature in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(signature)
        names[signature] = {
            "inputs": {k: d["name"] for k, d in sorted(runner.get_input_details().items())},
            "outputs": {k: d["name"] for k, d in sorted(runner.get_output_details().items())},
        }
    return names


def write_tflite(model: DefGAN, config: Config, out_file: str | Path, quantization: str = "fp32",
                 faces: list[dict[str, np.ndarray]] | None = None) -> Path:
    """Writes `out_file` (.tflite) and its sidecar `out_file.json`.

    Args:
        model, config: from `load_for_export`.
        out_file: the .tflite path to write.
        quantization: one of QUANTIZATIONS.
        faces: calibration faces for int8 (`dataset_faces`).

    Returns:
        `out_file` as a Path.
    """
    return write_tflite_variants(model, config, {quantization: out_file}, faces)[quantization]


def write_tflite_variants(model: DefGAN, config: Config, files: dict[str, str | Path],
                          faces: list[dict[str, np.ndarray]] | None = None) -> dict[str, Path]:
    """Writes several variants from one traced SavedModel (tracing costs more than converting).

    Args:
        model, config: from `load_for_export`.
        files: quantization → .tflite path; each also gets its sidecar `<path>.json`.
        faces: calibration faces, needed when "int8" is asked for.

    Returns:
        quantization → written path.

    Raises:
        ExportError: a bad quantization or path (`check_tflite_out`), no LiteRT, or a
            failed conversion.
    """
    for quantization, out_file in files.items():
        check_quantization(quantization)
        check_tflite_out(out_file)
    _litert_interpreter()  # before the minutes of tracing and converting
    written = {}
    with tempfile.TemporaryDirectory(prefix="defgan_tflite_") as tmp:
        saved = write_saved_model(model, config, Path(tmp) / "saved_model", batch_size=1,
                                  uint8=False, edit_to=False)
        for quantization, out_file in files.items():
            content = convert_saved_model(saved, quantization, faces)
            meta = _tflite_metadata(content, config, model.held_weights, quantization,
                                    faces)
            written[quantization] = _write_with_sidecar(content, meta, Path(out_file))
    return written


def _tflite_metadata(content: bytes, config: Config, weights: str, quantization: str,
                     faces: list[dict[str, np.ndarray]] | None) -> dict:
    ops = model_ops(content)
    extra = {"batch_size": 1, "ops": dict(sorted(ops["ops"].items()))}
    if quantization == "int8":
        extra["float_ops"] = dict(sorted(ops["float"].items()))
        extra["calibration_faces"] = len(faces or [])
    return build_metadata(config, fmt="tflite", weights=weights, quantization=quantization,
                          signatures=_tensor_names(content), extra=extra)


def _write_with_sidecar(content: bytes, meta: dict, out_file: Path) -> Path:
    """Writes the model, then its sidecar, each atomically and only once both are known.

    So a failed export leaves any earlier pair as it was, never a new model beside an
    old sidecar; only a crash between the two renames could.
    """
    write_bytes(out_file, content)
    write_metadata(sidecar_path(out_file), meta)
    return out_file


def export_run(run_dir: str | Path, out_file: str | Path, quantization: str = "fp32",
               data_path: str | Path | None = None, samples: int | None = None,
               use_ema: bool | None = None) -> Path:
    """Loads a run and writes one TFLite variant (calibrating int8 on its training faces).

    The quantization and `out_file` are checked first, so a mistake in either costs a
    moment, not the load, trace and conversion.
    """
    check_quantization(quantization)
    check_tflite_out(out_file)
    config, model = load_for_export(run_dir, use_ema)
    faces = None
    if quantization == "int8":
        count = samples if samples is not None else config.export.representative_samples
        faces = dataset_faces(config, count, data_path)
    return write_tflite(model, config, out_file, quantization, faces)


def main(argv: list[str] | None = None) -> int:
    """`defgan-export` / `python -m export.tflite`."""
    parser = argparse.ArgumentParser(
        prog="python -m export.tflite",
        description="Export a trained DefGAN to a .tflite file (builtin ops only) with a "
                    "sidecar .json (AU order, image size and range, presets, tensor names).")
    parser.add_argument("--run", required=True, help="training run directory")
    parser.add_argument("--out", required=True, help=".tflite file to write")
    parser.add_argument("--quant", default="fp32", help=f"one of {', '.join(QUANTIZATIONS)}")
    parser.add_argument("--data", default=None,
                        help="int8: calibration dataset folder (default: the run's data.path)")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help="int8: calibration faces (default: export.representative_samples)")
    parser.add_argument("--no-ema", action="store_true",
                        help="export the raw generator weights instead of their EMA")
    args = parser.parse_args(argv)
    try:
        out = export_run(args.run, args.out, args.quant, args.data, args.samples,
                         use_ema=False if args.no_ema else None)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {sidecar_path(out).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
