"""Run a study: python -m studies --study=NAME [--seeds=N] [--workdir=DIR] [--jobs=N]

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

With --jobs=1 (the default) the runs share one process: TensorFlow starts
once, and Keras's session is cleared between runs. With --jobs=N, N runs
train side by side, each in a process of its own (output in its
directory's study.log). A crash ends the study; starting it again resumes it.
"""

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time

from studies import report
from studies.plan import (EXPORTS, StudyError, export_manifest, is_finished, load_study,
                          pending_exports, planned_runs)

LATENCY_RUNS = 100  # invokes per model whose median is the manifest's latency_ms
USAGE = "python -m studies --study=NAME [--seeds=N] [--workdir=DIR] [--jobs=N]"


def export_for(field, directory, log):
    """Export a finished run with its field's --quantize into directory/tflite_FIELD."""
    from export.exporter import export_run

    out = os.path.dirname(export_manifest(directory, field))
    os.makedirs(out, exist_ok=True)
    export_run(directory, quantize=EXPORTS[field], out=out, runs=LATENCY_RUNS, log=log)


def train_and_export(step, study, label, config, directory, log):
    """Train one run unless it finished (it resumes if killed), then its pending exports."""
    import keras

    from dvn_tf.train import run

    if not is_finished(directory):
        log(f"{step}: training into {directory}")
        run(config, directory)
        keras.backend.clear_session()
    for field in pending_exports(study, label, directory):
        log(f"{step}: {field} export into {os.path.dirname(export_manifest(directory, field))}")
        try:
            export_for(field, directory, log)
        except (OSError, RuntimeError, ValueError) as error:  # the trained run stays good
            log(f"{step}: {field} export failed ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}); the study goes on, a restart tries again")
        keras.backend.clear_session()


def train_in_child(step, study, label, config, directory, threads):
    """train_and_export in a process of its own, its output appended to directory/study.log."""
    os.makedirs(directory, exist_ok=True)
    with open(child_log(directory), "a", encoding="utf-8") as output:
        os.dup2(output.fileno(), sys.stdout.fileno())
        os.dup2(output.fileno(), sys.stderr.fileno())
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    from absl import logging
    logging.set_verbosity(logging.WARNING)
    from dvn_tf.quiet import import_tensorflow_quietly
    import_tensorflow_quietly()
    train_and_export(step, study, label, config, directory, lambda line: print(line, flush=True))


def child_log(directory):
    """Where a run trained side by side (--jobs > 1) writes its output."""
    return os.path.join(directory, "study.log")


def run_side_by_side(todo, jobs, report_now, log):
    """Run the (step, study, label, config, directory) items in up to `jobs` processes at once.

    Each process trains one run with max(1, cores // jobs) threads; a run that fails
    ends the study (the others are stopped: a restart resumes them). SIGTERM, like
    Ctrl-C, stops the processes too.
    """
    context = multiprocessing.get_context("spawn")  # a fresh TensorFlow in every process
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending, running = list(todo), {}
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        while pending or running:
            while pending and len(running) < jobs:
                step, _, _, _, directory = item = pending.pop(0)
                process = context.Process(target=train_in_child, args=(*item, threads))
                process.start()
                log(f"{step}: process {process.pid} trains into {directory} "
                    f"(output: {child_log(directory)})")
                running[process.sentinel] = (process, step, directory, time.perf_counter())
            for sentinel in multiprocessing.connection.wait(list(running)):
                process, step, directory, started = running.pop(sentinel)
                process.join()
                if process.exitcode != 0:
                    raise StudyError(f"{step} failed (exit code {process.exitcode}); see "
                                     f"{child_log(directory)}; starting the study again resumes")
                log(f"{step}: done in {time.perf_counter() - started:.0f} s; "
                    f"wrote {', '.join(report_now())}")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        for process, *_ in running.values():
            process.terminate()
            process.join()


def run_study(name, study, seeds, workdir, log=print, jobs=1):
    """Train every run not finished yet, `jobs` at a time, report after each; return the paths."""
    from dvn_tf.train import holds_another_run

    runs = planned_runs(study, seeds, workdir)
    for _, _, _, config, directory in runs:
        if holds_another_run(config, directory):
            raise StudyError(f"{directory} holds a run with another config (the study changed?); "
                             f"delete it or pass another --workdir")

    def report_now():
        return report.write(name, study, seeds, workdir)

    paths, todo = report_now(), []
    for index, (seed, scenario, label, config, directory) in enumerate(runs, 1):
        step = f"[{index}/{len(runs)}] seed {seed}, {scenario}, {label}"
        if is_finished(directory) and not pending_exports(study, label, directory):
            log(f"{step}: finished before, skipped ({directory})")
        else:
            todo.append((step, study, label, config, directory))
    if jobs > 1:
        run_side_by_side(todo, jobs, report_now, log)
        return report_now()
    for item in todo:
        started = time.perf_counter()
        train_and_export(*item, log)
        paths = report_now()
        log(f"{item[0]}: done in {time.perf_counter() - started:.0f} s; wrote {', '.join(paths)}")
    return paths


def main(argv=None):
    """Entry point: parse the flags, run the study, exit 2 with one line on bad input."""
    from dvn_tf.compare import OneLineParser

    parser = OneLineParser(USAGE, StudyError, __doc__)
    parser.add_argument("--study", required=True, help="a module in configs/studies/")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0 .. N-1 (default: the study's own, 3 for the fashion ones)")
    parser.add_argument("--workdir", default=None, help="output directory (runs/study_NAME)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained side by side, each in its own process (default 1)")
    try:
        args = parser.parse_args(argv)
        study = load_study(args.study)
        seeds = study["seeds"] if args.seeds is None else args.seeds
        if seeds < 1:
            raise StudyError(f"--seeds must be at least 1, got {seeds}")
        if args.jobs < 1:
            raise StudyError(f"--jobs must be at least 1, got {args.jobs}")
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
            paths = run_study(args.study, study, seeds, workdir, jobs=args.jobs)
        except (DataNotPreparedError, ValueError) as error:
            raise StudyError(str(error).splitlines()[0]) from None
    except StudyError as error:
        print(f"studies: error: {error}", file=sys.stderr)
        return 2
    print(f"Study {args.study} finished: {', '.join(paths)}")
    return 0
