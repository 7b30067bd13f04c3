"""Run a study: python -m studies --study=NAME [--seeds=N] [--workdir=DIR]

A study (configs/studies/NAME.py) is a list of (scenario, method, config
overrides) runs, repeated over seeds 0 .. N-1. Each run trains into its own
directory DIR/SCENARIO/METHOD/seedS with dvn_tf.train's run(), so a killed
run resumes from its last epoch and a study started again skips the runs
that finished (their results.json exists). The runs named in the study's
`int8` list are also exported with --quantize=int8 into their tflite_int8/,
and those in its optional `float` list with --quantize=none into their
tflite_float/ (study.md: LiteRT latency and accuracy per millisecond); a
restarted study skips the exports whose manifest exists.
After every run it rewrites DIR/study.md and DIR/study.png from the runs
finished so far (studies.report). DIR defaults to runs/study_NAME.

The runs share one process: TensorFlow starts once, and Keras's session is
cleared between runs. A crash ends the study; starting it again resumes it.
"""

import os
import sys
import time

from studies import report
from studies.plan import (EXPORTS, StudyError, export_manifest, is_finished, load_study,
                          pending_exports, planned_runs)

LATENCY_RUNS = 100  # invokes per model whose median is the manifest's latency_ms
USAGE = "python -m studies --study=NAME [--seeds=N] [--workdir=DIR]"


def export_for(field, directory, log):
    """Export a finished run with its field's --quantize into directory/tflite_FIELD."""
    from export.exporter import export_run

    out = os.path.dirname(export_manifest(directory, field))
    os.makedirs(out, exist_ok=True)
    export_run(directory, quantize=EXPORTS[field], out=out, runs=LATENCY_RUNS, log=log)


def run_study(name, study, seeds, workdir, log=print):
    """Train every run not finished yet, report after each; return the report's paths."""
    import keras

    from dvn_tf.train import holds_another_run, run

    runs = planned_runs(study, seeds, workdir)
    for _, _, _, config, directory in runs:
        if holds_another_run(config, directory):
            raise StudyError(f"{directory} holds a run with another config (the study changed?); "
                             f"delete it or pass another --workdir")
    paths = report.write(name, study, seeds, workdir)
    for index, (seed, scenario, label, config, directory) in enumerate(runs, 1):
        step = f"[{index}/{len(runs)}] seed {seed}, {scenario}, {label}"
        exports = pending_exports(study, label, directory)
        if is_finished(directory) and not exports:
            log(f"{step}: finished before, skipped ({directory})")
            continue
        started = time.perf_counter()
        if not is_finished(directory):
            log(f"{step}: training into {directory}")
            run(config, directory)
            keras.backend.clear_session()
        for field in exports:
            log(f"{step}: {field} export into {os.path.dirname(export_manifest(directory, field))}")
            try:
                export_for(field, directory, log)
            except (OSError, RuntimeError, ValueError) as error:  # the trained run stays good
                log(f"{step}: {field} export failed ({type(error).__name__}: "
                    f"{str(error).splitlines()[0]}); the study goes on, a restart tries again")
            keras.backend.clear_session()
        paths = report.write(name, study, seeds, workdir)
        log(f"{step}: done in {time.perf_counter() - started:.0f} s; wrote {', '.join(paths)}")
    return paths


def main(argv=None):
    """Entry point: parse the flags, run the study, exit 2 with one line on bad input."""
    from dvn_tf.compare import OneLineParser

    parser = OneLineParser(USAGE, StudyError, __doc__)
    parser.add_argument("--study", required=True, help="a module in configs/studies/")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0 .. N-1 (default: the study's own, 3 for the fashion ones)")
    parser.add_argument("--workdir", default=None, help="output directory (runs/study_NAME)")
    try:
        args = parser.parse_args(argv)
        study = load_study(args.study)
        seeds = study["seeds"] if args.seeds is None else args.seeds
        if seeds < 1:
            raise StudyError(f"--seeds must be at least 1, got {seeds}")
        workdir = args.workdir or os.path.join("runs", f"study_{args.study}")
        try:
            os.makedirs(workdir, exist_ok=True)
        except OSError as error:
            raise StudyError(f"cannot create --workdir {workdir!r} ({error.strerror}); "
                             f"pass a writable one") from None
        from absl import logging
        logging.set_verbosity(logging.WARNING)  # no library INFO lines (tfds logs each split)
        from dvn_tf.quiet import import_tensorflow_quietly
        import_tensorflow_quietly()
        from dvn_tf.data import DataNotPreparedError
        try:
            paths = run_study(args.study, study, seeds, workdir)
        except (DataNotPreparedError, ValueError) as error:
            raise StudyError(str(error).splitlines()[0]) from None
    except StudyError as error:
        print(f"studies: error: {error}", file=sys.stderr)
        return 2
    print(f"Study {args.study} finished: {', '.join(paths)}")
    return 0
