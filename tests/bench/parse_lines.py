"""Parsing speed of System One lines: the reader's fast path against its general path.

    python -m tests.bench.parse_lines [--lines 200000] [--repeat 3]

Generates order and order-line events (half each, the importer's commonest streams), writes
them with ``write_record`` and times, best of ``--repeat`` runs over the same lines:
``validate_event`` (the transform), ``write_record``, ``read_record`` (the fast path, as
the importer calls it), the general reader alone (the baseline: every check, any field
order), and ``LineParser.parse`` (read_record plus the conversion to database values).
No database: this is the CPU the importer spends per line before loading, timed as the
process's CPU time so that other work on the machine does not count.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

from tests.bench.import_load import _line, _order


def _best(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def _each(function: Callable[..., object], items: Iterable) -> Callable[[], None]:
    def run() -> None:
        for item in items:
            function(item)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from ingest.services.importing.parsing import LineParser
    from transforms.events import validate_event
    from transforms.streams import STREAMS
    from transforms.system_one import read_record, write_record
    from transforms.system_one.reader import _read_general

    half = args.lines // 2
    events = [_order(i) for i in range(half)] + [_line(i, 4) for i in range(args.lines - half)]
    lines = [write_record(event) for event in events]
    raws = [line.encode() for line in lines]
    stripped = [line[:-1] for line in lines]
    orders, order_lines = LineParser(STREAMS["orders"]), LineParser(STREAMS["order-lines"])

    def import_parse() -> None:
        for number, raw in enumerate(raws[:half]):
            orders.parse(raw, number)
        for number, raw in enumerate(raws[half:]):
            order_lines.parse(raw, number)

    timings = {
        "validate_event": _best(lambda: [validate_event(e, e["stream"]) for e in events], args.repeat),
        "write_record": _best(_each(write_record, events), args.repeat),
        "read_record (fast path)": _best(_each(read_record, lines), args.repeat),
        "general reader (baseline)": _best(_each(_read_general, stripped), args.repeat),
        "LineParser.parse (importer)": _best(import_parse, args.repeat),
    }
    print(f"{args.lines:,} lines ({half:,} orders, {args.lines - half:,} order lines), best of {args.repeat}")
    for name, seconds in timings.items():
        print(f"  {name:<30} {args.lines / seconds:>12,.0f} lines/s")
    ratio = timings["general reader (baseline)"] / timings["read_record (fast path)"]
    print(f"  fast path / general reader: {ratio:.2f}x")


if __name__ == "__main__":
    main()
