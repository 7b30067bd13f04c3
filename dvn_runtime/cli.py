"""Command line: classify images, or replay a memory trace and print each switch.

    python -m dvn_runtime --models DIR/tflite --task NAME [NAME ...] --image FILE [FILE ...]
    python -m dvn_runtime --models DIR/tflite --task NAME [NAME ...] --simulate-memory 300MB,80MB,...
    python -m dvn_runtime --models DIR/tflite --task NAME --evaluate FOLDER

With several tasks, one process serves them all under one memory budget
(dvn_runtime/multitask.py): every image is classified for every task.
`--evaluate` runs every level of one task over FOLDER/CLASS/* images
(dvn_runtime/evaluate.py) and prints recall per class and accuracy per level.
"""

import argparse
import logging
import os
import re
import sys
import time

from dvn_runtime.evaluate import evaluate_folder
from dvn_runtime.manifest import load_manifest
from dvn_runtime.model import ModelLoadError
from dvn_runtime.multitask import MultiTaskRuntime
from dvn_runtime.preprocess import open_image
from dvn_runtime.runtime import read_available_memory

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
          "g": 10**9, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_memory(text):
    """'300MB' -> 300000000 bytes. Units: B, K/KB, M/MB, G/GB (powers of 1000), KiB, MiB, GiB."""
    match = _MEMORY.fullmatch(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"bad memory value {text!r}: use bytes or a number with a unit, "
                         "like 300MB or 1.5GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def read_trace(values_or_file):
    """A memory trace: comma-separated values, or a file with one value per line ('#' comments)."""
    if os.path.isfile(values_or_file):
        try:
            with open(values_or_file, encoding="utf-8") as f:
                lines = [line.split("#")[0] for line in f]
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read memory trace {values_or_file!r}: {e}") from None
        items = [line for line in lines if line.strip()]
    else:
        items = values_or_file.split(",")
    if not items or not "".join(items).strip():
        raise ValueError(f"memory trace {values_or_file!r} has no values")
    try:
        return [parse_memory(item) for item in items]
    except ValueError as e:
        raise ValueError(f"in --simulate-memory: {e}") from None


def format_bytes(count):
    """Bytes in the largest decimal unit that keeps the number >= 1, e.g. '1.5 GB'."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def _memory_argument(text):
    try:
        return parse_memory(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(f"{message} (see --help)")


def _program_name():
    """How the CLI was started: the wheel's `dvn-runtime` command, or `python -m dvn_runtime`."""
    started_as = os.path.basename(sys.argv[0])
    return "dvn-runtime" if started_as == "dvn-runtime" else "python -m dvn_runtime"


def _build_parser():
    parser = _OneLineParser(prog=_program_name(), description=(
        "Classify images with the largest level of a task that fits the free memory, "
        "or replay a memory trace and print every level switch."))
    parser.add_argument("--models", required=True, metavar="DIR",
                        help="export directory holding manifest.json and the .tflite files")
    parser.add_argument("--task", required=True, nargs="+", metavar="NAME", help=(
        "task(s) to run; several share one memory budget, one level each"))
    parser.add_argument("--image", nargs="+", default=[], metavar="FILE",
                        help="images to classify (any format Pillow reads)")
    parser.add_argument("--simulate-memory", metavar="VALUES_OR_FILE",
                        help=("memory trace to replay: '300MB,120MB,...' or a file with one value "
                              "per line; units B, kB, MB, GB, KiB, MiB, GiB"))
    parser.add_argument("--evaluate", metavar="FOLDER", help=(
        "run every level of the task over FOLDER/CLASS/* images (CLASS: the task's labels) and "
        "print recall per class and accuracy per level"))
    parser.add_argument("--margin", type=float, default=0.10, metavar="FRACTION",
                        help="extra fraction of a level's arena a level needs (default 0.10)")
    parser.add_argument("--margin-bytes", type=_memory_argument, default=0, metavar="BYTES",
                        help="extra memory every level needs (default 0)")
    parser.add_argument("--headroom", type=_memory_argument, default=0, metavar="BYTES",
                        help="extra free memory required before upgrading (default 0)")
    parser.add_argument("--upgrade-after", type=int, default=3, metavar="N", help=(
        "readings in a row with room for a larger level before upgrading (default 3)"))
    parser.add_argument("--cap", type=int, metavar="LEVEL", help="highest level to use")
    parser.add_argument("--floor", type=int, metavar="LEVEL", help="lowest level to use")
    parser.add_argument("--interval", type=float, metavar="SECONDS", help=(
        "seconds between memory readings (default 1 while classifying, 0 when replaying)"))
    parser.add_argument("--top-k", type=int, default=5, metavar="K",
                        help="classes to print per image (default 5)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="LiteRT threads per interpreter (default: CPU count, at most 4)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log loads and releases")
    return parser


def main(argv=None):
    """Runs the CLI; returns the exit status. Errors are one line on stderr."""
    try:
        args = _build_parser().parse_args(argv)
        if args.evaluate is not None:
            if args.image or args.simulate_memory or len(args.task) > 1:
                raise ValueError("--evaluate FOLDER takes one --task and no --image or "
                                 "--simulate-memory")
            manifest = load_manifest(args.models)
            evaluate_folder(manifest, args.task[0], args.evaluate, num_threads=args.threads)
            return 0
        if not args.image and not args.simulate_memory:
            raise ValueError("give --image FILE ..., --simulate-memory VALUES_OR_FILE or "
                             "--evaluate FOLDER")
        if args.interval is not None and args.interval <= 0:
            raise ValueError(f"--interval must be > 0 seconds, got {args.interval}")
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s: %(message)s")
        manifest = load_manifest(args.models)
        for task in args.task:
            manifest.task(task)  # fails early, listing the known tasks
        images = [open_image(path) for path in args.image]  # decoded before any model loads
        trace = read_trace(args.simulate_memory) if args.simulate_memory else None
        with MultiTaskRuntime(manifest, args.task, num_threads=args.threads, cap=args.cap,
                              floor=args.floor, margin_fraction=args.margin,
                              margin_bytes=args.margin_bytes, headroom_bytes=args.headroom,
                              upgrade_after=args.upgrade_after) as runtime:
            if trace is not None:
                _replay(runtime, trace, images, args.interval or 0.0)
            else:
                _classify(runtime, args.image, images, args.top_k, args.interval or 1.0)
    except (ValueError, ModelLoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _classify(runtime, paths, images, top_k, interval):
    available = read_available_memory()
    runtime.observe(available)
    for name, task in runtime.runtimes.items():
        print(f"task {name}: level {task.level} of levels {sorted(task.models)} "
              f"({format_bytes(available)} available)")
    runtime.start(interval)
    several = len(runtime.runtimes) > 1
    for path, image in zip(paths, images):
        for name in runtime.runtimes:
            results, level = runtime.classify(name, image, top_k=top_k)
            print(f"{path}{f' task {name}' if several else ''} (level {level})")
            for rank, (label, score) in enumerate(results, 1):
                print(f"  {rank}. {label:<20} {score:.4f}")


def _switch_text(event, several):
    text = (f"{event.reason} {event.from_level or '-'} -> {event.to_level} "
            f"({event.duration_ms:.1f} ms)")
    return f"{event.task}: {text}" if several else text


def _replay(runtime, trace, images, interval):
    names = list(runtime.runtimes)
    several = len(names) > 1
    columns = [max(5, len(name)) for name in names]
    labels = names if several else ["level"]
    header = f"{'reading':>7}  {'available':>11}  " + "".join(
        f"{label:>{width}}  " for label, width in zip(labels, columns))
    print(header + ("top-1 of first image  " if images else "") + "switch")
    for index, available in enumerate(trace):
        events = runtime.observe(available)
        line = f"{index:>7}  {format_bytes(available):>11}  " + "".join(
            f"{runtime.runtimes[name].level:>{width}}  " for name, width in zip(names, columns))
        for name in names if images else []:
            (label, score), = runtime.classify(name, images[0], top_k=1)[0]
            line += f"{label[:14]:<14} {score:.3f}  "
        line += "; ".join(_switch_text(event, several) for event in events)
        print(line.rstrip())
        if interval:
            time.sleep(interval)
    print(f"switches: {len(runtime.switches)}")
