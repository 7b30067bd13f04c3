"""Run a study: python -m dvn_tf.study --study=NAME [--seeds=N] [--workdir=DIR]

A study (configs/studies/NAME.py) is a list of (scenario, method, config
overrides) runs, repeated over seeds 0 .. N-1. Each run trains into its own
directory DIR/SCENARIO/METHOD/seedS with dvn_tf.train's run(), so a killed
run resumes from its last epoch and a study started again skips the runs
that finished (their results.json exists). The runs named in the study's
`int8` list are also exported with --quantize=int8 into their tflite_int8/.
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


class StudyError(Exception):
    """Bad input, reported as one line."""


def known_studies():
    """The study names: the modules in configs/studies/."""
    return sorted(f[:-3] for f in os.listdir(STUDIES)
                  if f.endswith(".py") and not f.startswith("_") and f != "common.py")


def load_study(name):
    """The checked study dict of configs/studies/NAME.py: {'seeds', 'int8', 'runs'}."""
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


def int8_manifest(directory):
    """Where a run's int8 export writes its manifest (the export's last write)."""
    return os.path.join(directory, "tflite_int8", "manifest.json")


def export_int8(directory, log):
    """Export a finished dvn run with --quantize=int8 into directory/tflite_int8."""
    from export.exporter import export_run

    out = os.path.dirname(int8_manifest(directory))
    os.makedirs(out, exist_ok=True)
    export_run(directory, quantize="int8", out=out, runs=5, log=log)


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
        exported = label not in study["int8"] or os.path.isfile(int8_manifest(directory))
        if is_finished(directory) and exported:
            log(f"{step}: finished before, skipped ({directory})")
            continue
        started = time.perf_counter()
        if not is_finished(directory):
            log(f"{step}: training into {directory}")
            run(config, directory)
            keras.backend.clear_session()
        if not exported:
            log(f"{step}: int8 export into {directory}/tflite_int8")
            try:
                export_int8(directory, log)
            except (OSError, RuntimeError, ValueError) as error:  # the trained run stays good
                log(f"{step}: int8 export failed ({type(error).__name__}: "
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
