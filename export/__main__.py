"""python -m export --workdir=DIR [--quantize=MODE] [--batch=N] [--layout=L] [--out=DIR]: export.

Bad input (no run in DIR, unknown mode, unwritable output directory, a
model that the shared layout cannot build on unit blocks) and a
failed check (an exported float32 model that disagrees with Keras) end with
one line on stderr and a non-zero exit status: 2 for bad input, 1 for a
failed check.
"""

import argparse
import os
import sys

from export.manifest import LAYOUTS, SHARED_QUANTIZE_MODES  # no TensorFlow: fails fast
from export.manifest import QUANTIZE_MODES as MODES


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        fail(f"{message}; see --help")


def fail(message, status=2):
    print(f"export: error: {message}", file=sys.stderr)
    sys.exit(status)


def parse_args(argv):
    parser = _Parser(prog="python -m export",
                     description="Export every (task, level) of a trained DVN as a .tflite "
                                 "model with a manifest.json (DESIGN.md).")
    parser.add_argument("--workdir", required=True,
                        help="training run directory holding model.keras and config.json")
    parser.add_argument("--quantize", default="none",
                        help=f"one of {', '.join(MODES)} (default none: float32)")
    parser.add_argument("--out", default=None, help="output directory (default WORKDIR/tflite)")
    parser.add_argument("--batch", type=int, default=1,
                        help="images per invoke, fixed in every file (default 1; LiteRT.js "
                             "and other clients without a resize call need it fixed)")
    parser.add_argument("--layout", default="per-level",
                        help="per-level: one .tflite per (task, level) (default); shared: one "
                             ".tflite with a signature per (task, level), every weight stored once")
    parser.add_argument("--threads", type=int, default=1,
                        help="LiteRT threads when measuring latency (default 1)")
    parser.add_argument("--runs", type=int, default=50,
                        help="timed invokes per model; the median is reported (default 50)")
    parser.add_argument("--qat-epochs", type=int, default=None,
                        help="int8-qat: fine-tuning epochs per (task, level) (default 3)")
    parser.add_argument("--qat-learning-rate", type=float, default=None,
                        help="int8-qat: fine-tuning rate (default: the run's rate / 100)")
    args = parser.parse_args(argv)
    if args.quantize not in MODES:
        fail(f"unknown quantize mode {args.quantize!r}; choose one of: {', '.join(MODES)}")
    if args.layout not in LAYOUTS:
        fail(f"unknown layout {args.layout!r}; choose one of: {', '.join(LAYOUTS)}")
    if args.layout == "shared" and args.quantize not in SHARED_QUANTIZE_MODES:
        fail(f"--layout=shared takes --quantize={', '.join(SHARED_QUANTIZE_MODES)}; "
             f"{args.quantize} fine-tunes every level apart, so its levels share no weights: "
             f"use --layout=per-level")
    if args.threads < 1 or args.runs < 1 or (args.qat_epochs is not None and args.qat_epochs < 0):
        fail("--threads and --runs must be >= 1 and --qat-epochs >= 0")
    if args.batch < 1:
        fail(f"--batch must be >= 1, got {args.batch}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from export.loading import RunError, check_run, first_line
    try:
        check_run(args.workdir)
    except RunError as error:
        fail(first_line(error))
    out = args.out or os.path.join(args.workdir, "tflite")
    from dvn_tf.quiet import import_tensorflow_quietly
    import_tensorflow_quietly()
    from export.manifest import check_output_dir
    try:
        check_output_dir(out)
    except OSError as error:
        fail(f"cannot write to output directory {out!r} ({error.strerror or error}); "
             f"pass a writable --out")

    from export.exporter import export_run
    from export.measure import MeasureError
    from export.qat import QATError
    from export.unit_graph import LayoutError
    from export.verify import ParityError
    try:
        export_run(args.workdir, args.quantize, out, threads=args.threads, runs=args.runs,
                   qat_epochs=args.qat_epochs, qat_learning_rate=args.qat_learning_rate,
                   batch=args.batch, layout=args.layout)
    except (RunError, LayoutError) as error:
        fail(first_line(error))
    except (ParityError, QATError, MeasureError) as error:
        fail(first_line(error), status=1)
    except OSError as error:
        fail(f"cannot write the export into {out!r} ({error.strerror or error})")
    except KeyboardInterrupt:
        fail("interrupted; the previous export in the output directory is untouched", 130)


if __name__ == "__main__":
    main()
