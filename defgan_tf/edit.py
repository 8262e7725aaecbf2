"""Command line: edit the facial expression of every face in photos (or a video).

    python -m defgan_tf.edit photo.jpg --model runs/quickstart --expression happy
    python -m defgan_tf.edit photos/ --model model.tflite --aus AU12=0.9,AU06=0.6 --out edited/
    python -m defgan_tf.edit photo.jpg --model runs/quickstart --sweep AU12 --steps 8
    python -m defgan_tf.edit photo.jpg --model runs/quickstart --animate neutral,happy --fps 15

A thin layer over `defgan_tf.editing.Editor`: it expands the inputs, names the
outputs, and turns every user mistake into a one-line message. One bad input does
not stop the others; a summary lists what failed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import pathlib
import re
import sys
import time

import numpy as np

from defgan_tf import aus as au_vocabulary
from defgan_tf.data import media
from defgan_tf.data.faces import CROP_PADDING, DETECTORS

EXIT_FAILED_INPUTS = 1
EXIT_USAGE = 2

# what output_path appends to an input's stem besides an expression's name, and what
# edit_one appends to an output's stem for its debug maps
_OUTPUT_TAG = re.compile(r"_(edited|all_expressions|animation|sweep_AU\d\d)$")
_DEBUG_TAG = re.compile(r"_debug_face\d+$")


def build_parser() -> argparse.ArgumentParser:
    """The `defgan-edit` argument parser."""
    parser = argparse.ArgumentParser(
        prog="defgan-edit", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="images, folders (their images and videos) or glob patterns; "
                             "a .mp4/.mov/.avi/.mkv is edited frame by frame")
    parser.add_argument("--model", required=True,
                        help="training run directory, SavedModel directory or .tflite file")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--expression", help="preset name, e.g. happy (see --presets)")
    target.add_argument("--aus", help="target AUs, e.g. AU12=0.9,AU06=0.6 (others 0 unless "
                                      "--keep-others)")
    target.add_argument("--sweep", metavar="AU",
                        help="write a strip of one AU from 0 to 1 (deformed and final rows)")
    target.add_argument("--all-expressions", action="store_true",
                        help="write the input face edited to every preset, in one row")
    target.add_argument("--animate", metavar="A,B,...",
                        help="write a GIF (or the .mp4 that --out names) moving through "
                             "these expressions ('source' = the face's own)")
    parser.add_argument("--presets", metavar="FILE",
                        help="YAML or CSV expression presets extending the built-in ones")
    parser.add_argument("--intensity", type=float, default=1.0,
                        help="fraction of the change from source to target, >1 exaggerates "
                             "(default 1)")
    parser.add_argument("--keep-others", action="store_true",
                        help="only the named AUs (or the preset's non-zero ones) change")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--source-aus", metavar="SPEC",
                        help="source expression instead of the critic's estimate")
    source.add_argument("--openface-csv", metavar="FILE",
                        help="source expression from an OpenFace CSV (its first usable row)")
    parser.add_argument("--face-index", type=int,
                        help="edit only this face, 0 = largest (default: every face; the "
                             "largest for --sweep/--all-expressions/video)")
    parser.add_argument("--no-ema", action="store_true",
                        help="edit with a run directory's raw generator weights instead of "
                             "their moving average (runs with model.ema_decay > 0)")
    parser.add_argument("--detector", choices=DETECTORS, default="hog",
                        help="dlib HOG (default), dlib CNN (slower, more poses) or OpenCV Haar")
    parser.add_argument("--crop-padding", type=float, default=CROP_PADDING,
                        help="face crop padding the model was trained with (default "
                             f"{CROP_PADDING}, the framing of `defgan-data faces`; about 0.55 "
                             "matches the built-in synthetic faces)")
    parser.add_argument("--out", help="output file (one input) or folder (default: beside "
                                      "each input, with a suffix)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--steps", type=int, default=8, help="columns of --sweep (default 8)")
    parser.add_argument("--fps", type=float, default=15.0,
                        help="frames per second of --animate, one second per transition "
                             "(default 15)")
    parser.add_argument("--debug", action="store_true",
                        help="also write each face's deformed image, mask, flow and "
                             "|edit − input| heatmap (photos, --expression or --aus)")
    return parser


@dataclasses.dataclass
class Job:
    """What to do with every input, resolved once from the arguments."""

    tag: str
    suffix: str | None  # None: keep the input's suffix
    source_aus: np.ndarray | None
    keyframes: tuple[str, ...] = ()  # --animate's expressions, blanks dropped


def expand_inputs(patterns: list[str], presets: dict | None = None
                  ) -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """Files named by the INPUT arguments, and the earlier outputs left out of them.

    Files are taken as given; folders give their media and globs their matches, except
    files whose names end as defgan-edit names its outputs (`photo_happy.png`,
    `photo_happy_debug_face0.png`): editing a folder a second time must not edit the
    first run's results (`photo_happy_happy.png`). Named as files, they are edited.

    Returns:
        (inputs, skipped): the files to edit, and the earlier outputs passed over.
    """
    suffixes = media.IMAGE_SUFFIXES + media.VIDEO_SUFFIXES
    paths: list[pathlib.Path] = []
    skipped: list[pathlib.Path] = []
    for pattern in patterns:
        path = pathlib.Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
        elif not path.exists() and glob.has_magic(pattern):
            found = sorted(pathlib.Path(p) for p in glob.glob(pattern, recursive=True)
                           if pathlib.Path(p).suffix.lower() in suffixes)
        else:
            paths.append(path)
            continue
        for found_path in found:
            (skipped if is_earlier_output(found_path, presets) else paths).append(found_path)
    return paths, skipped


def is_earlier_output(path: pathlib.Path, presets: dict | None = None) -> bool:
    """Whether a file's name ends as `output_path` names an edit, or as its debug maps."""
    stem = _DEBUG_TAG.sub("", path.stem)
    if stem != path.stem or _OUTPUT_TAG.search(stem):
        return True
    names = au_vocabulary.PRESETS if presets is None else presets
    return any(stem.lower().endswith(f"_{name}") for name in names)


def skipped_note(skipped: list[pathlib.Path]) -> str:
    """One sentence on the earlier outputs `expand_inputs` left out ("" when none)."""
    if not skipped:
        return ""
    return (f"Left out {len(skipped)} earlier output(s) of defgan-edit, e.g. {skipped[0]}; "
            "name such files as inputs to edit them.")


def _parse_aus_flag(flag: str, text: str) -> np.ndarray:
    """AU values of --aus / --source-aus; empty text (an unset shell variable) is refused
    rather than read as "every AU 0"."""
    if not text.strip():
        raise ValueError(f"{flag} is empty; give AU=value pairs, e.g. {flag} AU12=0.9,AU06=0.6 "
                         "(for a neutral face: --expression neutral).")
    return au_vocabulary.parse_aus(text)


def _job(args: argparse.Namespace, presets) -> Job:
    """Validates the target and source once, before any input is read."""
    source = None
    if args.source_aus is not None:
        source = _parse_aus_flag("--source-aus", args.source_aus)
    elif args.openface_csv:
        path = pathlib.Path(args.openface_csv)
        if not path.is_file():
            raise ValueError(f"--openface-csv {str(path)!r}: no such file.")
        table = au_vocabulary.read_openface_file(path)
        if not table.rows:
            raise ValueError(f"{path}: no usable row ({len(table.untracked)} without a "
                             f"tracked face, {len(table.bad)} with bad values).")
        source = table.rows[0].aus
    # `is not None`, not truthiness: an empty value (an unset shell variable) is an error
    # of that flag, not a fall-through to the next mode
    if args.expression is not None:
        au_vocabulary.get_expression(args.expression, presets)
        return Job(args.expression.lower(), None, source)
    if args.aus is not None:
        _parse_aus_flag("--aus", args.aus)
        return Job("edited", None, source)
    if args.intensity != 1.0 or args.keep_others:
        flag = "--intensity" if args.intensity != 1.0 else "--keep-others"
        raise ValueError(f"{flag} scales an --expression or --aus target; --sweep, "
                         "--all-expressions and --animate set their own AUs.")
    if args.debug:
        raise ValueError("--debug draws the maps of an --expression or --aus edit; --sweep, "
                         "--all-expressions and --animate have none.")
    if args.sweep is not None:
        code = au_vocabulary.AU_CODES[au_vocabulary.au_index(args.sweep)]
        return Job(f"sweep_{code}", ".png", source)
    if args.all_expressions:
        return Job("all_expressions", ".png", source)
    keyframes = [name.strip() for name in args.animate.split(",") if name.strip()]
    if len(keyframes) < 2:
        raise ValueError(f"--animate needs at least two expressions, e.g. source,happy; "
                         f"received {args.animate!r}.")
    for name in keyframes:
        if name != "source":
            au_vocabulary.get_expression(name, presets)
    return Job("animation", ".gif", source, tuple(keyframes))


def _check_videos(args: argparse.Namespace, job: Job, inputs: list[pathlib.Path]) -> None:
    """Videos take one target for every frame (--expression or --aus) and no --debug."""
    videos = [p for p in inputs if p.suffix.lower() in media.VIDEO_SUFFIXES]
    if videos and args.debug:
        raise ValueError(f"--debug draws the maps of a photo's edit; {videos[0]} is a video.")
    if videos and job.suffix is not None:
        flag = next(f for f, on in (("--sweep", args.sweep), ("--all-expressions",
                    args.all_expressions), ("--animate", args.animate)) if on)
        raise ValueError(f"{flag} makes an image of a photo; {videos[0]} is a video. Edit "
                         "videos with --expression or --aus.")


def output_path(input_path: pathlib.Path, job: Job, out: str | None, many: bool,
                video: bool = False) -> pathlib.Path:
    """Where the result of one input goes (see --out)."""
    suffix = ".mp4" if video else (job.suffix or input_path.suffix)
    name = f"{input_path.stem}_{job.tag}{suffix}"
    if out is None:
        return input_path.with_name(name)
    out_path = pathlib.Path(out)
    if many or out_path.is_dir() or not out_path.suffix:
        return out_path / name
    return out_path


def _write(path: pathlib.Path, image: np.ndarray, overwrite: bool) -> None:
    _refuse_existing(path, overwrite)
    media.write_image(path, image)


def _refuse_existing(path: pathlib.Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"output {path} exists; pass --overwrite to replace it.")


def edit_one(editor, args: argparse.Namespace, job: Job, input_path: pathlib.Path,
             out_path: pathlib.Path) -> int:
    """Edits one input and writes its outputs; returns the number of faces edited."""
    target = {"expression": args.expression, "aus": args.aus, "intensity": args.intensity,
              "keep_others": args.keep_others}
    if input_path.suffix.lower() in media.VIDEO_SUFFIXES:
        _refuse_existing(out_path, args.overwrite)
        frames, fps = media.read_video(input_path)
        edited = list(editor.edit_frames(frames, **target, source_aus=job.source_aus,
                                         face_index=args.face_index or 0))
        media.write_animation(out_path, edited, fps)
        return 1
    image = media.read_image(input_path)
    face_index = args.face_index or 0
    if args.sweep:
        _write(out_path, editor.sweep(image, args.sweep, args.steps, face_index,
                                      job.source_aus), args.overwrite)
        return 1
    if args.all_expressions:
        _write(out_path, editor.all_expressions(image, face_index, job.source_aus),
               args.overwrite)
        return 1
    if args.animate:
        _refuse_existing(out_path, args.overwrite)
        frames = editor.animate(image, list(job.keyframes), max(round(args.fps), 1),
                                args.face_index, job.source_aus)
        media.write_animation(out_path, frames, args.fps)
        return len(editor.find_faces(image, args.face_index))
    result = editor.edit(image, **target, source_aus=job.source_aus,
                         face_index=args.face_index, return_maps=args.debug)
    debug_paths = [out_path.with_name(f"{out_path.stem}_debug_face{k}.png")
                   for k in range(len(result.faces) if args.debug else 0)]
    for path in [out_path, *debug_paths]:  # all refused, or all written
        _refuse_existing(path, args.overwrite)
    media.write_image(out_path, result.image, media.read_metadata(input_path))
    if args.debug:
        from defgan_tf.editing.visualize import labelled_grid

        for face, debug_path in zip(result.faces, debug_paths):
            maps = face.debug_images()
            media.write_image(debug_path, labelled_grid([list(maps.values())], list(maps)))
    return len(result.faces)


def main(argv: list[str] | None = None) -> int:
    """Runs `defgan-edit`; returns the exit status (0 ok, 1 some inputs failed, 2 usage)."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from defgan_tf.editing.editor import Editor

    try:
        presets = au_vocabulary.load_presets(args.presets) if args.presets else None
        job = _job(args, presets)
        if not np.isfinite(args.intensity) or args.intensity < 0:
            raise ValueError(f"--intensity must be ≥ 0; received {args.intensity}.")
        if args.steps < 2:
            raise ValueError(f"--steps must be at least 2; received {args.steps}.")
        if not (np.isfinite(args.fps) and args.fps > 0):
            raise ValueError(f"--fps must be a positive number; received {args.fps}.")
        if args.animate and not (args.out or "").lower().endswith(".mp4"):
            media.check_gif_fps(args.fps, "--fps")
        inputs, skipped = expand_inputs(args.inputs, presets)
        if not inputs:
            raise ValueError(f"no image or video matches {' '.join(args.inputs)}. "
                             f"{skipped_note(skipped)}".rstrip())
        _check_videos(args, job, inputs)
        editor = Editor.from_path(args.model, use_ema=not args.no_ema, detector=args.detector,
                                  presets=presets, padding=args.crop_padding)
    except ValueError as error:
        print(f"defgan-edit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if skipped:
        print(f"note: {skipped_note(skipped)}", file=sys.stderr)
    many = len(inputs) > 1
    failures: list[tuple[pathlib.Path, str]] = []
    written: dict[pathlib.Path, pathlib.Path] = {}  # output → the input it was made from
    faces = 0
    start = time.perf_counter()
    for input_path in inputs:
        video = input_path.suffix.lower() in media.VIDEO_SUFFIXES
        out_path = output_path(input_path, job, args.out, many, video)
        try:
            resolved = out_path.resolve()
            if resolved in written:
                raise ValueError(f"its output {out_path} was already written for "
                                 f"{written[resolved]} in this run; give the inputs "
                                 "different names or edit them with separate --out folders.")
            faces += edit_one(editor, args, job, input_path, out_path)
            written[resolved] = input_path
        except Exception as error:  # one bad input, whatever its error, must not stop the rest
            message = str(error).removeprefix(f"{input_path}: ")
            if not isinstance(error, (ValueError, OSError)):  # not one of our messages
                message = f"{type(error).__name__}: {message}"
            print(f"error: {input_path}: {message}", file=sys.stderr)
            failures.append((input_path, message))
            continue
        print(f"{input_path} -> {out_path}")
    done = len(inputs) - len(failures)
    print(f"Edited {done} of {len(inputs)} input(s), {faces} face(s), in "
          f"{time.perf_counter() - start:.1f} s.")
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for path, message in failures:
            print(f"  {path}: {message}", file=sys.stderr)
        return EXIT_FAILED_INPUTS
    return 0


if __name__ == "__main__":
    sys.exit(main())
