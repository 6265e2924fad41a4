"""The events of a generated dataset as a folder of files, the layout of a feed that delivers a
new file every day (or every N events):

    python -m tools.datagen OUT --daily        user_interaction/2019-05-01.csv, one file per day
    python -m tools.datagen OUT --files 41     user_interaction/part_001.csv ... part_041.csv

The lines are moved, not changed: user_interaction.csv becomes the folder, in the same order.
"""
from __future__ import annotations

import re
from pathlib import Path

_DAY = re.compile(r"'(\d{4}-\d{2}-\d{2})[ T]")


def _lines(path: Path):
    with path.open('r', encoding='utf-8', newline='') as handle:
        for line in handle:
            yield line.rstrip('\n')


def split_events(folder: Path, files: int | None = None, daily: bool = False) -> list[Path]:
    """Replace ``folder``/user_interaction.csv by the folder user_interaction/: ``files`` files of
    about equal line counts, or one file per day of the events (by each line's event_time).
    Returns the files written, in order."""
    source = folder / 'user_interaction.csv'
    target = folder / 'user_interaction'
    target.mkdir()
    total = sum(1 for _ in _lines(source)) if files else 0
    written, handle, name, count = [], None, None, 0
    for index, line in enumerate(_lines(source)):
        if daily:
            match = _DAY.search(line)
            wanted = f'{match[1]}.csv' if match else 'undated.csv'
        else:
            wanted = f'part_{index * files // max(total, 1) + 1:03d}.csv'
        if wanted != name:
            if handle:
                handle.close()
            name = wanted
            path = target / name
            first = not path.exists()
            handle = path.open('a', encoding='utf-8', newline='')
            if path not in written:
                written.append(path)
            if not first:
                handle.write('\n')
            count = 0
        handle.write(('\n' if count else '') + line)
        count += 1
    if handle:
        handle.close()
    source.unlink()
    return written
