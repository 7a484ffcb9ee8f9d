#!/usr/bin/env python3
"""Summarise the last `mutmut run` (make mutation): the mutants that were not killed, by file, then
the score as its last line, `mutation score: NN.N% (killed K of N)`.

The score counts every mutant: one that survived, timed out, found no test or was otherwise not
killed counts against it. Equivalent mutants are not counted because they are excluded in the code
(`# pragma: no mutate`, with the reason beside it). Reads mutmut's own report (`mutmut results --all
true`, run in the project root), so it depends on no mutmut internals. Exits 1 below `--min`.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path


def mutmut_results() -> list[tuple[str, str]]:
    """(mutant name, status) of every mutant of the last run."""
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    results = []
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            results.append((name, status))
    return results


def module_of(mutant: str) -> str:
    """`billing.domain.model.bill.x_parse_days__mutmut_3` -> `billing.domain.model.bill`."""
    return mutant.rsplit(".", 1)[0] if "ǁ" not in mutant else mutant.split(".xǁ", 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min", type=float, default=0.0, help="fail (exit 1) below this score, in percent")
    args = parser.parse_args()

    results = mutmut_results()
    if not results:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 1
    not_killed: dict[str, list[str]] = defaultdict(list)
    for name, status in results:
        if status != "killed":
            not_killed[module_of(name)].append(f"{name}: {status}")
    for module in sorted(not_killed):
        print(f"src/{module.replace('.', '/')}.py ({len(not_killed[module])})")
        for line in sorted(not_killed[module]):
            print(f"    {line}")
    killed = sum(1 for _, status in results if status == "killed")
    score = 100.0 * killed / len(results)
    below = score < args.min
    if below:
        sys.stdout.flush()
        print(f"the score is below the minimum of {args.min:.1f}%: kill or justify the mutants above", file=sys.stderr)
    # Rounded down: 2,861 of 2,862 is 99.9 %, never a 100 % that hides a survivor.
    print(f"mutation score: {math.floor(score * 10) / 10:.1f}% (killed {killed} of {len(results)})", flush=True)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
