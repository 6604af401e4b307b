"""Run the benchmarks: `python -m benchmarks.run [--only NAME] [--list]`.

A benchmark is a module `benchmarks/bench_<name>.py` with `def main() -> None`; they run in name order.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

BENCHMARKS_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"


def available_benchmarks(directory: Path = BENCHMARKS_DIR) -> list[str]:
    """Names of the benchmark modules in `directory`, sorted, without the `bench_` prefix."""
    return sorted(
        module.name.removeprefix(PREFIX)
        for module in pkgutil.iter_modules([str(directory)])
        if module.name.startswith(PREFIX) and not module.ispkg
    )


def load_benchmark(name: str) -> Callable[[], None]:
    """Import `benchmarks.bench_<name>` and return its `main`; raises TypeError if it has none."""
    module = importlib.import_module(f"{__package__ or 'benchmarks'}.{PREFIX}{name}")
    entry = getattr(module, "main", None)
    if not callable(entry):
        raise TypeError(f"{module.__name__} has no main() function")
    return cast(Callable[[], None], entry)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; 0 on success, 2 for an unknown benchmark name."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--only", metavar="NAME", action="append", help="run only this benchmark (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    names = available_benchmarks()
    if args.list:
        print("\n".join(names))
        return 0
    selected = names
    if args.only:
        unknown = [name for name in args.only if name not in names]
        if unknown:
            print(
                f"unknown benchmark {', '.join(unknown)}; available: {', '.join(names) or '(none)'}",
                file=sys.stderr,
            )
            return 2
        selected = [name for name in names if name in args.only]

    for name in selected:
        print(f"== {name}", flush=True)
        load_benchmark(name)()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
