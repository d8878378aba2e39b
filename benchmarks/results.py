"""Where benchmark results go and how floors are checked.

``benchmarks/results/latest.json`` holds the last run of each benchmark under its
own key. ``benchmarks/floors.json`` lists, per benchmark, figures that must not
fall below a floor: each a path into the results and a minimum. A floor moves up
when the model improves; lowering one needs a reason in the commit message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LATEST = HERE / "results" / "latest.json"
FLOORS = HERE / "floors.json"
# one flipped line moves macro-F1 by ~0.002 on the real pages: don't fail on noise
EPSILON = 0.005


def write_results(section: str, results: dict[str, Any]) -> None:
    """Store ``results`` under ``section`` of latest.json, keeping the other sections."""
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(LATEST.read_text(encoding="utf-8")) if LATEST.exists() else {}
    existing[section] = results
    LATEST.write_text(json.dumps(existing, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def _lookup(results: dict[str, Any], path: list[str]) -> Any:
    value: Any = results
    for key in path:
        value = value[key]
    return value


def check_floors(section: str, results: dict[str, Any]) -> int:
    """Print every floor of ``section`` with the measured value; 1 if any is broken."""
    floors = json.loads(FLOORS.read_text(encoding="utf-8")).get(section, [])
    broken = 0
    for floor in floors:
        try:
            value = _lookup(results, floor["path"])
        except (KeyError, TypeError):
            if floor.get("optional"):
                print(f"floor skipped (not measured in this run): {' / '.join(floor['path'])}")
                continue
            print(f"FLOOR MISSING: {' / '.join(floor['path'])} was not measured")
            broken += 1
            continue
        ok = value is not None and value >= floor["min"] - EPSILON
        print(f"{'ok   ' if ok else 'BROKEN'} {' / '.join(floor['path'])}: {value} (floor {floor['min']})")
        broken += not ok
    return 1 if broken else 0
