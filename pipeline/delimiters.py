"""The field separator of a delimited text file, read from its first lines: a comma unless
the lines clearly use a semicolon, tab or pipe, or (as R's write.table writes) spaces."""

from __future__ import annotations

import csv
import io


def spaced_columns(head: str, cut: bool) -> bool:
    """Whether the sample's lines split on spaces (quotes respected) into the same number of
    fields, two or more, over a header and two rows at least, and one field is a number on
    every row: prose splits into words too, but its words are not columns of numbers.
    `cut`: the sample's last line may be incomplete."""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    lines = (lines[:-1] if cut else lines)[:20]
    try:
        rows = [next(csv.reader([line], delimiter=" ", skipinitialspace=True)) for line in lines]
    except csv.Error:
        return False
    if len(rows) < 3 or len({len(row) for row in rows}) != 1 or len(rows[0]) < 2:
        return False
    return any(all(_is_number(row[j]) for row in rows[1:]) for j in range(len(rows[0])))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def header_names(head: str, sep: str) -> list[str] | None:
    try:
        return next(csv.reader(io.StringIO(head), delimiter=sep))
    except (csv.Error, StopIteration):
        return None


def delimiter(text: str) -> str:
    """Comma unless the header clearly uses another common delimiter (a space only where
    nothing else splits the lines: `spaced_columns`)."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
