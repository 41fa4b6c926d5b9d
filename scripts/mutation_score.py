"""Print `make mutate`'s score per module from mutmut's results in mutants/: killed / checked, and the survivors.

Only mutants that were run count (a MUTATE glob selects functions, the rest of a file stays unchecked). Survivors
that are equivalent mutants are listed with their reason in README (Operations, mutation testing).
"""

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent / "mutants"


def main() -> int:
    metas = sorted(ROOT.rglob("*.py.meta"))
    if not metas:
        print("no mutmut results in mutants/: run `make mutate` first", file=sys.stderr)
        return 1
    for meta in metas:
        module = str(meta.relative_to(ROOT)).removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        statuses = Counter(status_by_exit_code[code] for code in codes.values() if code is not None)
        checked = sum(statuses.values())
        if not checked:
            continue
        killed = statuses["killed"] + statuses["timeout"] + statuses["caught by type check"]
        print(f"{module}: {killed}/{checked} killed ({100 * killed / checked:.1f} %) {dict(statuses)}")
        for key, code in sorted(codes.items()):
            if code is not None and status_by_exit_code[code] not in ("killed", "timeout", "caught by type check"):
                print(f"    {status_by_exit_code[code]}: {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
