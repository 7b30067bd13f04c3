"""The compare CLI as a user runs it: tables, winners, the plot, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from dvn_tf.compare import PIXELS_PER_TASK, load_runs, winners

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compare(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "dvn_tf.compare", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": REPO}, timeout=120)


def write_run(directory, method, accuracy, scenario="digits", params=(5225, 19981),
              flops=(98976, 386368), tasks=("low", "high"), stored=None):
    """A results.json (DESIGN.md schema) with accuracy[task index][level - 1]."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = [{"task": task, "level": level + 1, "units": [t + 1, 2 - t][:level + 1],
                "params": params[level], "flops": flops[level], "accuracy": accuracy[t][level]}
               for t, task in enumerate(tasks) for level in range(len(params))]
    results = {"scenario": scenario, "method": method, "backbone": "resnet-8",
               "order_rule": "nearest", "units": len(params),
               "tasks": [{"name": task, "num_classes": 5, "order": [t + 1, 2 - t]}
                         for t, task in enumerate(tasks)],
               "entries": entries, "train_seconds": 12.5}
    if stored is not None:
        results["stored_params"] = stored
    (directory / "results.json").write_text(json.dumps(results))
    return directory


@pytest.fixture
def three_runs(tmp_path):
    return [write_run(tmp_path / "dvn", "dvn", [[0.91, 0.955], [0.88, 0.94]], stored=21000),
            write_run(tmp_path / "nested", "nested", [[0.90, 0.955], [0.86, 0.93]],
                      stored=42000),
            write_run(tmp_path / "independent", "independent", [[0.89, 0.95], [0.89, 0.935]],
                      params=(4900, 19500))]


def check_png(path, tasks):
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (PIXELS_PER_TASK[0] * tasks, PIXELS_PER_TASK[1])
        image.load()  # decodes the whole image: a truncated file fails here
        assert len(set(image.convert("L").getdata())) > 50  # lines, markers and text drawn


def test_compare_writes_tables_winners_and_plot(tmp_path, three_runs):
    run = compare(*three_runs, "--out", tmp_path / "out" / "digits")
    assert run.returncode != 0 and "no such directory for --out" in run.stderr
    (tmp_path / "out").mkdir()
    run = compare(*three_runs, "--out", tmp_path / "out" / "digits")
    assert run.returncode == 0, run.stderr
    table = (tmp_path / "out" / "digits.md").read_text()
    assert table in run.stdout
    assert f"Wrote {tmp_path}/out/digits.md and {tmp_path}/out/digits.png" in run.stdout
    assert table.startswith("# digits: dvn, nested, independent\n")
    low = table[table.index("## Task low"):table.index("## Task high")]
    assert low.splitlines()[2:] == [
        "| method | level | params | FLOPs | accuracy |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| dvn | 1 | 5,225 | 98,976 | 0.9100 |",
        "| dvn | 2 | 19,981 | 386,368 | 0.9550 |",
        "| nested | 1 | 5,225 | 98,976 | 0.9000 |",
        "| nested | 2 | 19,981 | 386,368 | 0.9550 |",
        "| independent | 1 | 4,900 | 98,976 | 0.8900 |",
        "| independent | 2 | 19,500 | 386,368 | 0.9500 |",
        ""]
    assert "| high | 1 | independent | 0.8900 | dvn 0.8800 (+0.0100) |" in table
    storage = table[table.index("## Storage"):table.index("## Best method")]
    assert storage.splitlines()[4:] == ["| dvn | 21,000 |", "| nested | 42,000 |", ""]
    assert "| low | 2 | tie: dvn = nested | 0.9550 | independent 0.9500 (+0.0050) |" in table
    assert "| high | 2 | dvn | 0.9400 | independent 0.9350 (+0.0050) |" in table
    check_png(tmp_path / "out" / "digits.png", tasks=2)
    assert sorted(os.listdir(tmp_path / "out")) == ["digits.md", "digits.png"]  # no temp files


def test_default_output_prefix_is_the_scenario_in_the_current_directory(tmp_path, three_runs):
    work = tmp_path / "here"
    work.mkdir()
    run = compare(*three_runs[:1], cwd=work)
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(work)) == ["compare_digits.md", "compare_digits.png"]
    check_png(work / "compare_digits.png", tasks=2)


def test_winners_and_labels_of_runs_sharing_a_method(tmp_path):
    a = write_run(tmp_path / "wide", "dvn", [[0.5, 0.7]], tasks=("t",))
    b = write_run(tmp_path / "narrow", "dvn", [[0.6, 0.7]], tasks=("t",))
    c = write_run(tmp_path / "three", "nested", [[0.4, 0.6, 0.8]], tasks=("t",),
                  params=(1, 2, 3), flops=(1, 2, 3))
    runs = load_runs([str(a), str(b), str(c)])
    assert [label for label, _ in runs] == ["dvn (wide)", "dvn (narrow)", "nested"]
    assert {key: [(label, e["accuracy"]) for label, e in scores]
            for key, scores in winners(runs).items()} == {
        ("t", 1): [("dvn (narrow)", 0.6), ("dvn (wide)", 0.5), ("nested", 0.4)],
        ("t", 2): [("dvn (wide)", 0.7), ("dvn (narrow)", 0.7), ("nested", 0.6)],
        ("t", 3): [("nested", 0.8)]}


def corrupt(directory, change):
    path = directory / "results.json"
    results = json.loads(path.read_text())
    change(results)
    path.write_text(json.dumps(results))


@pytest.mark.parametrize("make_input, message", [
    (lambda runs, tmp: [tmp / "missing"], "no such directory: "),
    (lambda runs, tmp: [runs[0], tmp], "has no results.json; train into it first"),
    (lambda runs, tmp: [runs[0], runs[0]], "a directory is given twice"),
    (lambda runs, tmp: [(runs[1] / "results.json").write_text("{\"scenario\": ") and runs[1]],
     "results.json is not valid JSON"),
    (lambda runs, tmp: [(runs[1] / "results.json").write_text("[1, 2]") and runs[1]],
     "expected a JSON object"),
    (lambda runs, tmp: [corrupt(runs[1], lambda r: r.pop("method")) or runs[1]],
     "no 'method' string"),
    (lambda runs, tmp: [corrupt(runs[1], lambda r: r["entries"][2].pop("flops")) or runs[1]],
     "entry 2 has no 'flops'"),
    (lambda runs, tmp: [corrupt(runs[1], lambda r: r["entries"][0].update(accuracy=91.0))
                        or runs[1]], "entry 0 has accuracy 91.0, not in [0, 1]"),
    (lambda runs, tmp: [corrupt(runs[1], lambda r: r["entries"][0].update(level="1"))
                        or runs[1]], "entry 0 has level '1', not int"),
    (lambda runs, tmp: [corrupt(runs[1], lambda r: r["entries"].append(r["entries"][0]))
                        or runs[1]], "task 'low' level 1 appears twice"),
    (lambda runs, tmp: [runs[0], write_run(tmp / "seq", "dvn", [[0.5, 0.6], [0.5, 0.6]],
                                           scenario="digits_seq")],
     "results of different scenarios: digits ("),
    (lambda runs, tmp: [], "the following arguments are required: DIR"),
    (lambda runs, tmp: [runs[0], "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, three_runs, make_input, message):
    out = tmp_path / "out"
    out.mkdir()
    run = compare(*make_input(three_runs, tmp_path), "--out", out / "cmp")
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert lines[0].startswith("dvn_tf.compare: error: ")
    assert os.listdir(out) == []


@pytest.mark.slow
def test_compare_a_real_digits_run(tmp_path, digits_run):
    real = json.loads((digits_run / "results.json").read_text())
    other = write_run(tmp_path / "nested", "nested", [[0.5, 0.6], [0.5, 0.6]])
    run = compare(digits_run, other, "--out", tmp_path / "cmp")
    assert run.returncode == 0, run.stderr
    for e in real["entries"]:
        assert (f"| dvn | {e['level']} | {e['params']:,} | {e['flops']:,} | "
                f"{e['accuracy']:.4f} |") in run.stdout
    check_png(tmp_path / "cmp.png", tasks=2)
