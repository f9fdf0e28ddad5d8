"""tap-gmail CPU per message, repeated, for one mailbox size and stream selection.

The quick way to measure goal (b) of ``tap_sync.py`` (< 0.25 ms tap CPU per message, no
latency, no quota, message_format full) without its other sections, and to compare code
trees fairly: every repetition runs each tree once, interleaved, against the same emulator,
so the machine's noise falls on all of them alike. ``--tree DIR`` runs the tap of that tree
(e.g. a ``git archive`` of an older commit) with ``PYTHONPATH=DIR``, through the
``tap-gmail`` entry point its own ``pyproject.toml`` declares; the default is this checkout.
``--records DIR`` keeps each tree's RECORD lines (``time_extracted`` removed, sorted) and
says whether the trees emitted the same records.
Usage: python bench/tap_cpu.py [--messages 5000] [--streams all|messages,...] [--reps 3]
                               [--tree DIR ...] [--records DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tap_sync import CREDS, emulator, health, run_process, select  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = re.compile(r'^tap-gmail = "([\w.]+):(\w+)"', re.MULTILINE)
EXTRACTED = re.compile(rb',?"time_extracted":"[^"]*"')


def entry_point(tree: str) -> list[str]:
    """What the ``tap-gmail`` console script of ``tree`` runs, as a ``python -c`` command."""
    pyproject = (Path(tree).resolve() / "pyproject.toml").read_text()
    module, function = SCRIPT.search(pyproject).groups()
    code = f"import sys; from {module} import {function}; sys.argv[0] = 'tap-gmail'; "
    return [sys.executable, "-c", code + f"sys.exit({function}())"]


def tap_args(tree: str, url: str, work: Path, streams: set[str] | None, env: dict) -> list[str]:
    """tap-gmail with a config for ``url``; a catalog only when ``streams`` narrows it.

    With every stream wanted, no catalog is passed: the tap selects all, as in tap_sync.py.
    """
    config = {"oauth_credentials": CREDS, "api_url": url, "token_url": f"{url}/token"}
    config["quota_units_per_second"] = 0
    (work / "config.json").write_text(json.dumps(config))
    args = [*entry_point(tree), "--config", str(work / "config.json")]
    return select(args, streams, work, "cpu", env)


def environment(tree: str) -> dict:
    """The tree's packages first on the path (the editable install points at this one)."""
    return {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}


def run_tree(tree: str, url: str, work: Path, streams, out: Path):
    """One run of ``tree``'s tap; its RECORD lines go to ``out``."""
    env = environment(tree)
    with open(out, "wb") as tee:
        return run_process(tap_args(tree, url, work, streams, env), work, env=env, tee=tee)


def canonical(path: Path) -> None:
    """RECORD lines without ``time_extracted``, sorted (batches finish in any order)."""
    lines = sorted(EXTRACTED.sub(b"", line) for line in path.read_bytes().splitlines())
    path.write_bytes(b"\n".join(lines) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--streams", default="all", help="all, or e.g. messages,threads")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tree", action="append", help="code tree (default: this one)")
    parser.add_argument("--records", type=Path, help="keep and compare each tree's records")
    args = parser.parse_args()
    trees = [str(Path(tree).resolve()) for tree in args.tree or [ROOT]]
    records = args.records.resolve() if args.records else None
    streams = None if args.streams == "all" else set(args.streams.split(","))
    runs: dict[str, list[float]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory(prefix="tap-cpu-") as tmp, emulator(args.messages) as url:
        work, home = Path(tmp), Path.cwd()
        os.chdir(work)  # each run's thread index (./.tap-gmail) goes with the temporary dir
        print(f"tap CPU, {args.messages}-message mailbox, streams {args.streams}, no latency")
        for rep in range(args.reps):
            for index, tree in enumerate(trees):
                keep = records and rep == 0
                if keep:
                    records.mkdir(parents=True, exist_ok=True)
                out = records / f"tree{index}.jsonl" if keep else Path(os.devnull)
                run = run_tree(tree, url, work, streams, out)
                if keep:
                    canonical(out)
                msgs = run.counts["messages"] or 1
                runs[tree].append(1000 * run.cpu_s / msgs)
                print(
                    f"  rep {rep + 1} tree {tree}: {run.cpu_s:.2f} s CPU, {run.wall_s:.1f} s wall,"
                    f" {runs[tree][-1]:.3f} ms/msg; {dict(run.counts)}; {health(run)}",
                    flush=True,
                )
        os.chdir(home)
    for tree, values in runs.items():
        listed = ", ".join(f"{v:.3f}" for v in values)
        print(f"tree {tree}: median {statistics.median(values):.3f} ms/msg ({listed})")
    if records and len(trees) > 1:
        first = (records / "tree0.jsonl").read_bytes()
        for index in range(1, len(trees)):
            same = (records / f"tree{index}.jsonl").read_bytes() == first
            print(f"records of tree {trees[index]} vs {trees[0]}: {'same' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
