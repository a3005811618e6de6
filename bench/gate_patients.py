"""Cost of the export gate's run-wide reach: every patient the run has seen.

Builds a roster of ``--size`` synthetic patients (default 1,000; the issue's figure is
``--size 10000``), then gates ``--instances`` de-identified instances three ways in the same
run (best of ``--repeat``):

* ``own``: the instance's own identifiers only (the gate before the roster);
* ``roster``: own + the roster, as the pipeline runs it (one Aho-Corasick automaton over every
  value, ``pyahocorasick``, boundaries checked per hit);
* ``regex``: own + the same values as one compiled alternation (a prefix tree, as the gate
  compiles an instance's own values) searched over the lower-cased header: the alternative
  measured against.

Prints the per-instance cost of each, the ratio to ``own``, and the one-off build cost of
the roster's matchers (once per worker process and roster snapshot)::

    .venv/bin/python bench/gate_patients.py --size 10000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _names(count: int) -> list[tuple[str, str]]:
    import random

    rng = random.Random(7)
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"

    def word(length: int) -> str:
        return "".join(rng.choice(consonants if i % 2 == 0 else vowels)
                       for i in range(length)).capitalize()

    return [(f"MRN{n:07d}", f"{word(rng.randint(5, 9))}^{word(rng.randint(4, 7))}")
            for n in range(count)]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="patients in the roster")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from gantry.deid.engine import DeidEngine
    from gantry.deid.gate import dataset_body, pixel_span
    from gantry.deid.identifiers import _compile_bytes
    from gantry.deid.roster import build_roster
    from gantry.deid.standalone import instance_context, standalone_run
    from gantry.pipeline import encode, gate
    from gantry.profiles import load_profile
    from gantry.testing.factory import make_instance

    profile = load_profile("ps3.15/basic")
    engine = DeidEngine(profile, standalone_run(profile, b"b" * 32))
    work = []
    for i in range(args.instances):
        ds = make_instance(patient=i % 50, instance=i, rows=64, cols=64)
        context = instance_context(ds, engine.run)
        engine.apply(ds, context)
        work.append((encode(ds), context.identifiers))

    started = time.perf_counter()
    roster = build_roster(_names(args.size))
    built = time.perf_counter() - started
    started = time.perf_counter()
    groups: tuple[list[str], ...] = ([], [], [])
    for value in roster.values:
        groups[0 if len(value) < 8 else (1 if value[:1].isdigit() and value[-1:].isdigit()
                                         else 2)].append(value)
    pattern = _compile_bytes.__wrapped__(
        tuple(tuple(sorted(g, key=lambda v: (-len(v), v))) for g in groups), False)
    compiled = time.perf_counter() - started

    def run(rosters: list, regex: bool = False) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            for data, identifiers in work:
                gate(data, ["GP-X/2.25.1/2.25.2/2.25.3.dcm"], identifiers, rosters)
                if regex:
                    body = dataset_body(data)
                    span = pixel_span(body)
                    header = body[:span[0]] if span else body
                    for _match in pattern.finditer(header.lower()):
                        break
            best = min(best, time.perf_counter() - start)
        return best / len(work)

    own = run([])
    rows = [("own", own), ("roster", run([roster])), ("regex", run([], regex=True))]
    print(f"roster: {args.size} patients, {len(roster)} values; automaton built in "
          f"{built * 1000:.0f} ms, the regex alternation compiled in {compiled * 1000:.0f} ms "
          "(once per worker and snapshot)")
    print(f"{'gate':14} {'ms/instance':>12} {'x own':>8}")
    for name, cost in rows:
        print(f"{name:14} {cost * 1000:12.3f} {cost / own:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
