"""python -m tools.datagen OUT [--users N] [--events M] [--seed S] [--trap NAME ...] [--daily | --files N]:
generate a dataset (generate.py), plant hostile variants in it (traps.py), and lay its events out
as a folder of files (layout.py)."""
from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from tools.datagen.generate import Plan, generate
from tools.datagen.layout import split_events
from tools.datagen.traps import TRAPS, plant


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', type=Path, help='folder to write the dataset into')
    parser.add_argument('--users', type=int, default=Plan.users)
    parser.add_argument('--events', type=int, default=Plan.events)
    parser.add_argument('--seed', type=int, default=Plan.seed)
    parser.add_argument('--daily', action='store_true', help='the events as a folder of one file per day')
    parser.add_argument('--files', type=int, help='the events as a folder of this many files')
    parser.add_argument('--trap', action='append', default=[], metavar='NAME',
                        help='plant a hostile variant after generating (repeatable); see tools/datagen/traps.py: '
                             + ', '.join(TRAPS))
    args = parser.parse_args(argv)
    started = datetime.now()
    truths = generate(args.out, Plan(users=args.users, events=args.events, seed=args.seed))
    plant(args.out, args.trap)
    if args.daily or args.files:
        split_events(args.out, args.files, args.daily)
    print(f"wrote {truths.lines['users']} users and {truths.lines['user_interaction']} events to "
          f'{args.out} in {(datetime.now() - started).total_seconds():.1f}s')


if __name__ == '__main__':
    main()
