"""Run a study: python -m dvn_tf.study --study=NAME [--seeds=N] [--workdir=DIR]

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
finished so far (dvn_tf.study_report). DIR defaults to runs/study_NAME.

The runs share one process: TensorFlow starts once, and Keras's session is
cleared between runs. A crash ends the study; starting it again resumes it.
"""

import importlib
import os
import sys
import time

STUDIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "studies")
# A study's optional export fields, each a list of run labels, and the --quantize of each.
EXPORTS = {"int8": "int8", "float": "none"}
LATENCY_RUNS = 100  # invokes per model whose median is the manifest's latency_ms


class StudyError(Exception):
    """Bad input, reported as one line."""


def known_studies():
    """The study names: the modules in configs/studies/."""
    return sorted(f[:-3] for f in os.listdir(STUDIES)
                  if f.endswith(".py") and not f.startswith("_") and f != "common.py")


def load_study(name):
    """The checked study dict of configs/studies/NAME.py: {'seeds', 'int8', ['float',] 'runs'}."""
    if name not in known_studies():
        raise StudyError(f"unknown study {name!r}; choose one of: {', '.join(known_studies())}")
    study = importlib.import_module(f"configs.studies.{name}").get_study()
    check_study(study)
    return study


def check_study(study):
    """Raise StudyError unless every run names a known scenario, a label and config fields."""
    from dvn_tf.train import known_scenarios

    labels = set()
    for scenario, label, overrides in study["runs"]:
        if scenario not in known_scenarios():
            raise StudyError(f"run {label!r}: unknown scenario {scenario!r}; choose one of: "
                             f"{', '.join(known_scenarios())}")
        if (scenario, label) in labels:
            raise StudyError(f"run {label!r} of {scenario} appears twice; give each run a label")
        labels.add((scenario, label))
        config = scenario_config(scenario)
        unknown = sorted(set(overrides) - set(config.keys()))
        if unknown:
            raise StudyError(f"run {label!r}: unknown config fields {', '.join(unknown)}")
    for field in EXPORTS:
        unknown = sorted(set(study.get(field, ())) - {label for _, label in labels})
        if unknown:
            raise StudyError(f"{field} names {', '.join(map(repr, unknown))}, which no run has")


def scenario_config(scenario):
    """get_config() of configs/SCENARIO.py."""
    return importlib.import_module(f"configs.{scenario}").get_config()


def run_config(scenario, label, overrides, seed):
    """The config of one run: the scenario's, with the overrides, the method and the seed."""
    config = scenario_config(scenario)
    config.update({"method": label, **overrides, "seed": seed})
    return config


def run_dir(workdir, scenario, label, seed):
    """Where one run of a study trains."""
    return os.path.join(workdir, scenario, label, f"seed{seed}")


def is_finished(directory):
    """Whether a run finished: it writes results.json last."""
    return os.path.isfile(os.path.join(directory, "results.json"))


def planned_runs(study, seeds, workdir):
    """[(seed, scenario, label, config, directory)], seed by seed, in the study's order."""
    return [(seed, scenario, label, run_config(scenario, label, overrides, seed),
             run_dir(workdir, scenario, label, seed))
            for seed in range(seeds) for scenario, label, overrides in study["runs"]]


def export_manifest(directory, field):
    """Where a run's export for a study field ('int8', 'float') writes its manifest, last."""
    return os.path.join(directory, f"tflite_{field}", "manifest.json")


def pending_exports(study, label, directory):
    """The study's export fields that name this run's label and have no manifest yet."""
    return [field for field in EXPORTS if label in study.get(field, ())
            and not os.path.isfile(export_manifest(directory, field))]


def export_for(field, directory, log):
    """Export a finished run with its field's --quantize into directory/tflite_FIELD."""
    from export.exporter import export_run

    out = os.path.dirname(export_manifest(directory, field))
    os.makedirs(out, exist_ok=True)
    export_run(directory, quantize=EXPORTS[field], out=out, runs=LATENCY_RUNS, log=log)


def run_study(name, study, seeds, workdir, log=print):
    """Train every run not finished yet, report after each; return the report's paths."""
    import keras

    from dvn_tf import study_report
    from dvn_tf.train import holds_another_run, run

    runs = planned_runs(study, seeds, workdir)
    for _, _, _, config, directory in runs:
        if holds_another_run(config, directory):
            raise StudyError(f"{directory} holds a run with another config (the study changed?); "
                             f"delete it or pass another --workdir")
    paths = study_report.write(name, study, seeds, workdir)
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
        paths = study_report.write(name, study, seeds, workdir)
        log(f"{step}: done in {time.perf_counter() - started:.0f} s; wrote {', '.join(paths)}")
    return paths


def main(argv=None):
    """Entry point: parse the flags, run the study, exit 2 with one line on bad input."""
    from dvn_tf.compare import OneLineParser

    parser = OneLineParser("python -m dvn_tf.study --study=NAME [--seeds=N] [--workdir=DIR]",
                           StudyError, __doc__)
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
        print(f"dvn_tf.study: error: {error}", file=sys.stderr)
        return 2
    print(f"Study {args.study} finished: {', '.join(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
