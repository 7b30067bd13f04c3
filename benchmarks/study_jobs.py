"""A study's wall time with --jobs=1 (runs one after another) against --jobs=2 (side by side).

Runs `python -m studies --study=NAME --seeds=N --jobs=J` as a user would,
into a fresh temporary workdir each time, for J = 1 and J = 2 (the order
alternates over --rounds), and prints each wall time and their ratio
(jobs=1 / jobs=2: above 1, side by side is faster). The last line is one
JSON object with every figure. On a shared machine, run it under
`nice -n 19` and read the load averages it prints beside each time.

  python benchmarks/study_jobs.py [--study digits] [--seeds 2] [--rounds 1]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_study(study, seeds, jobs):
    """Wall seconds of one study into a fresh workdir, and the 1-minute load average before it."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="study-jobs-") as workdir:
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "studies", f"--study={study}",
                              f"--seeds={seeds}", f"--workdir={workdir}", f"--jobs={jobs}"],
                             cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"study_jobs: the study failed with --jobs={jobs}: {run.stderr.strip()[-300:]}")
    return seconds, load


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="digits")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    seconds = {1: [], 2: []}
    for round_index in range(args.rounds):
        for jobs in ((1, 2) if round_index % 2 == 0 else (2, 1)):
            wall, load = timed_study(args.study, args.seeds, jobs)
            seconds[jobs].append(wall)
            print(f"round {round_index + 1}, --jobs={jobs}: {wall:.1f} s "
                  f"(load average before: {load:.2f})", flush=True)
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    print(f"{args.study}, {args.seeds} seeds: --jobs=1 {one:.1f} s, --jobs=2 {two:.1f} s; "
          f"jobs=1 / jobs=2 = {one / two:.2f} (median of {args.rounds} rounds; "
          f"{os.cpu_count()} cores)")
    print(json.dumps({"study": args.study, "seeds": args.seeds, "rounds": args.rounds,
                      "cores": os.cpu_count(), "jobs1_seconds": seconds[1],
                      "jobs2_seconds": seconds[2], "speedup": one / two}))


if __name__ == "__main__":
    main()
