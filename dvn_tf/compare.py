"""Compare training runs: python -m dvn_tf.compare DIR [DIR ...] [--out PATH_PREFIX]

Reads DIR/results.json of each run (one method each: dvn, nested, independent,
...; all of one scenario) and writes PATH_PREFIX.md, a table per task of every
method's levels (params, FLOPs, accuracy) and the winner at each level, and
PATH_PREFIX.png, accuracy against parameters per task with one line per method
(as the paper's Fig. 5). Prints the tables and where it wrote the files.
PATH_PREFIX defaults to compare_SCENARIO in the current directory.

The tables and the plot also serve the studies (python -m studies): an entry may carry
`accuracy_std` and `seeds` (its accuracy is then a mean over seeds), shown as
mean ± std and error bars, and two methods tie when their means are within
one standard error of the difference.
"""

import argparse
import json
import math
import os
import sys

from dvn_tf.files import write_atomically, write_text_atomically

PIXELS_PER_TASK = (480, 400)  # the plot's width and height per task panel, at DPI
DPI = 100


class CompareError(Exception):
    """Bad input, reported as one line."""


def check_entry(where, index, entry):
    """Raise CompareError unless entry is a results.json entry (DESIGN.md)."""
    if not isinstance(entry, dict):
        raise CompareError(f"{where}: entry {index} is not an object")
    for key, kind in (("task", str), ("level", int), ("params", int), ("flops", int),
                      ("accuracy", (int, float))):
        if key not in entry:
            raise CompareError(f"{where}: entry {index} has no {key!r}")
        value = entry[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CompareError(f"{where}: entry {index} has {key} {value!r}, "
                               f"not {'a number' if key == 'accuracy' else kind.__name__}")
    if entry["level"] < 1 or entry["params"] < 0 or entry["flops"] < 0:
        raise CompareError(f"{where}: entry {index} needs level >= 1 and params, flops >= 0, "
                           f"got level {entry['level']}, params {entry['params']}, "
                           f"flops {entry['flops']}")
    if not 0.0 <= entry["accuracy"] <= 1.0:
        raise CompareError(f"{where}: entry {index} has accuracy {entry['accuracy']}, "
                           f"not in [0, 1]")


def load_run(directory):
    """The checked results.json document of a run directory."""
    if not os.path.isdir(directory):
        raise CompareError(f"no such directory: {directory}")
    path = os.path.join(directory, "results.json")
    if not os.path.isfile(path):
        raise CompareError(f"{directory} has no results.json; train into it first "
                           f"(python -m dvn_tf.train --workdir={directory})")
    try:
        with open(path) as file:
            results = json.load(file)
    except (OSError, UnicodeDecodeError) as error:
        raise CompareError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise CompareError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(results, dict):
        raise CompareError(f"{path}: expected a JSON object")
    for key in ("scenario", "method"):
        if not isinstance(results.get(key), str) or not results[key]:
            raise CompareError(f"{path}: no {key!r} string")
    entries = results.get("entries")
    if not isinstance(entries, list) or not entries:
        raise CompareError(f"{path}: no 'entries' list")
    seen = set()
    for index, entry in enumerate(entries):
        check_entry(path, index, entry)
        key = (entry["task"], entry["level"])
        if key in seen:
            raise CompareError(f"{path}: task {key[0]!r} level {key[1]} appears twice")
        seen.add(key)
    return results


def load_runs(directories):
    """[(label, results)] for the run directories, all of one scenario.

    A run's label is its method, with its directory's name when two runs share a method.
    """
    if len(set(map(os.path.realpath, directories))) < len(directories):
        raise CompareError("a directory is given twice")
    runs = [load_run(d) for d in directories]
    scenarios = {r["scenario"] for r in runs}
    if len(scenarios) > 1:
        found = ", ".join(f"{r['scenario']} ({d})" for d, r in zip(directories, runs))
        raise CompareError(f"results of different scenarios: {found}; compare runs of one scenario")
    methods = [r["method"] for r in runs]
    labels = [m if methods.count(m) == 1 else f"{m} ({os.path.basename(os.path.normpath(d))})"
              for m, d in zip(methods, directories)]
    return list(zip(labels, runs))


def task_names(runs):
    """Every task of the runs, in the order they first appear."""
    names = []
    for _, results in runs:
        for entry in results["entries"]:
            if entry["task"] not in names:
                names.append(entry["task"])
    return names


def task_rows(runs, task):
    """[(label, entry)] of a task, by run then level."""
    return [(label, entry) for label, results in runs
            for entry in sorted(results["entries"], key=lambda e: e["level"])
            if entry["task"] == task]


def winners(runs):
    """{(task, level): [(label, entry)], best accuracy first, ties in run order} for every level."""
    table = {}
    for task in task_names(runs):
        scores = {}
        for label, entry in task_rows(runs, task):
            scores.setdefault(entry["level"], []).append((label, entry))
        for level in sorted(scores):
            table[(task, level)] = sorted(scores[level], key=lambda score: -score[1]["accuracy"])
    return table


def standard_error_of_difference(first, second):
    """Welch's standard error of the difference of two entries' mean accuracies (0 for single runs)."""
    return math.sqrt(sum(e.get("accuracy_std", 0.0) ** 2 / e.get("seeds", 1)
                         for e in (first, second)))


def describe_winner(scores):
    """('dvn' or 'tie: dvn = nested', best accuracy, runner-up with its margin).

    Methods tie with the best when the difference of their means is at most
    one standard error of that difference (exact equality for single runs).
    A mean over one seed of a study has no spread to judge by: no winner then.
    """
    best = scores[0][1]
    if any(e.get("seeds", 2) < 2 for _, e in scores):
        return "none yet: 1 seed, no spread", best["accuracy"], "-"
    tied = [label for label, e in scores
            if best["accuracy"] - e["accuracy"] <= standard_error_of_difference(best, e)]
    rest = [(label, e["accuracy"]) for label, e in scores if label not in tied]
    runner_up = (f"{rest[0][0]} {rest[0][1]:.4f} (+{best['accuracy'] - rest[0][1]:.4f})"
                 if rest else "-")
    winner = "tie: " + " = ".join(tied) if len(tied) > 1 else tied[0]
    return winner, best["accuracy"], runner_up


def spread_cell(mean, std, seeds, signed=False):
    """'0.9100 ± 0.0040' for a mean over seeds, or '0.9100 (1 seed)': one value has no spread."""
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return f"{text} ± {std:.4f}" if seeds > 1 else f"{text} (1 seed)"


def accuracy_cell(entry):
    """'0.9100' for a run, or its spread_cell for a mean over seeds."""
    if "accuracy_std" not in entry:
        return f"{entry['accuracy']:.4f}"
    return spread_cell(entry["accuracy"], entry["accuracy_std"], entry["seeds"])


def markdown(runs, title=None):
    """The comparison tables, for people, under `title` (default: the scenario and the methods)."""
    scenario = runs[0][1]["scenario"]
    lines = [title or f"# {scenario}: {', '.join(label for label, _ in runs)}", ""]
    for task in task_names(runs):
        lines += [f"## Task {task}", "", "| method | level | params | FLOPs | accuracy |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {label} | {e['level']} | {e['params']:,} | {e['flops']:,} | "
                  f"{accuracy_cell(e)} |" for label, e in task_rows(runs, task)]
        lines.append("")
    stored = [(label, r["stored_params"]) for label, r in runs if "stored_params" in r]
    if stored:
        lines += ["## Storage: weights each method keeps to serve every (task, level)", "",
                  "| method | stored params |", "| --- | ---: |"]
        lines += [f"| {label} | {count:,} |" for label, count in stored] + [""]
    lines += ["## Best method per task and level", "",
              "| task | level | winner | accuracy | runner-up (margin) |",
              "| --- | ---: | --- | ---: | --- |"]
    for (task, level), scores in winners(runs).items():
        winner, accuracy, runner_up = describe_winner(scores)
        lines.append(f"| {task} | {level} | {winner} | {accuracy:.4f} | {runner_up} |")
    return "\n".join(lines) + "\n"


def plot(runs, path):
    """Accuracy (%) against parameters, one panel per task, one line per run; PNG at path."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    tasks = task_names(runs)
    width, height = PIXELS_PER_TASK
    figure, axes = pyplot.subplots(1, len(tasks), squeeze=False, dpi=DPI,
                                   figsize=(width * len(tasks) / DPI, height / DPI))
    markers = "osD^vP*Xh"
    for axis, task in zip(axes[0], tasks):
        for index, (label, results) in enumerate(runs):
            entries = sorted((e for e in results["entries"] if e["task"] == task),
                             key=lambda e: e["params"])
            if entries:
                spread = [100 * e.get("accuracy_std", 0.0) for e in entries]
                axis.errorbar([e["params"] for e in entries],
                              [100 * e["accuracy"] for e in entries],
                              yerr=spread if any(spread) else None, capsize=3,
                              marker=markers[index % len(markers)], label=label,
                              markersize=max(4, 9 - 1.5 * index))  # later runs' markers on top
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(ticker.EngFormatter())
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_title(f"{runs[0][1]['scenario']}: task {task}")
        axis.set_xlabel("parameters")
        axis.set_ylabel("accuracy (%)")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    write_atomically(path, lambda file: figure.savefig(file, format="png", dpi=DPI), "wb")
    pyplot.close(figure)


def compare(directories, prefix=None):
    """Write the table and the plot; return (markdown text, [paths written])."""
    runs = load_runs(directories)
    prefix = prefix or f"compare_{runs[0][1]['scenario']}"
    directory = os.path.dirname(os.path.abspath(prefix))
    if not os.path.isdir(directory):
        raise CompareError(f"no such directory for --out: {directory}")
    text = markdown(runs)
    paths = [prefix + ".md", prefix + ".png"]
    try:
        write_text_atomically(paths[0], text)
        plot(runs, paths[1])
    except OSError as error:
        raise CompareError(f"cannot write {prefix}.md/.png: {error.strerror or error}") from None
    return text, paths


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error raises `error_type` with one line ending in the usage.

    The description is the module docstring `doc` after its first paragraph.
    """

    def __init__(self, usage_line, error_type, doc):
        super().__init__(prog=" ".join(usage_line.split()[:3]),  # "python -m MODULE"
                         description=doc.split("\n\n", 1)[1],
                         formatter_class=argparse.RawDescriptionHelpFormatter)
        self.usage_line, self.error_type = usage_line, error_type

    def error(self, message):
        raise self.error_type(f"{message}; usage: {self.usage_line}")


def main(argv=None):
    parser = OneLineParser("python -m dvn_tf.compare DIR [DIR ...] [--out PATH_PREFIX]",
                           CompareError, __doc__)
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run directories (--workdir)")
    parser.add_argument("--out", metavar="PATH_PREFIX",
                        help="write PATH_PREFIX.md and PATH_PREFIX.png "
                             "(default: compare_SCENARIO here)")
    try:
        args = parser.parse_args(argv)
        text, paths = compare(args.dirs, args.out)
    except CompareError as error:
        print(f"dvn_tf.compare: error: {error}", file=sys.stderr)
        return 2
    print(text)
    print(f"Wrote {paths[0]} and {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
