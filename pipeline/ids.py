"""Identifiers in the shape of the source's: `17-000007` -> `17-004213`, unique, new.

The schema keeps an id's shape as a small regular expression (`17\\-[0-9]{6}`): runs of
character classes (digits, capitals, small letters, or a mix), and the characters every
value shares. Synthetic ids fill its slots from a bijection of the row number, so they are
unique across shards without coordination, and skip the training ids (kept only as hashes
in the model).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

import numpy as np
import pandas as pd

MIN_SHAPE_SHARE = 0.95  # values that must share one shape for a column to be a code
MAX_LENGTH = 40
MAX_LETTER_CODE = 6
CLASH_TRIES = 64
CLASSES = {"d": ("0-9", "0123456789"), "U": ("A-Z", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
           "L": ("a-z", "abcdefghijklmnopqrstuvwxyz")}
# Hexadecimal digits (UUIDs, hashes): a mix of digits and letters that never go past f.
HEX = {"Ld": "0-9a-f", "Ud": "0-9A-F"}
MIN_HEX_LETTERS = 50  # letters seen before a mix is called hexadecimal
RUN = re.compile(r"\[0-9\]\{(\d+),(\d+)\}"
                 r"|\[((?:0-9a-f|0-9A-F|0-9|A-Z|a-z)+)\]\{(\d+)\}|\\(.)|(.)")
# A code's runs: digits, capitals, small letters, or one other character (`AL-12`: AL, -, 12).
RUNS = re.compile(r"[0-9]+|[A-Z]+|[a-z]+|.")
NUMBER = "\1"  # a slot marker: a number written without padding, as `AL-1` .. `AL-53` are
# Whole-number ids from this many digits up keep their width (`101001` -> `734512`); smaller
# ones are row numbers, and synthetic rows are numbered 1, 2, ... as well.
MIN_ID_DIGITS = 3


def code_pattern(strings: pd.Series) -> str | None:
    """The regex of a code column's shape, or None when its values are not codes: at least
    `MIN_SHAPE_SHARE` of them have one length, and each position holds one character every
    value shares or a class of characters (digits, capitals, small letters, or a mix); or,
    failing that, they share one sequence of runs whose numbers are written unpadded."""
    if strings.str.len().max() > MAX_LENGTH or strings.str.contains(r"\s").any():
        return None
    length, count = Counter(strings.str.len()).most_common(1)[0]
    if length == 0:
        return None
    if count < MIN_SHAPE_SHARE * len(strings):
        return _run_pattern(strings)
    chars = np.array([list(v) for v in strings[strings.str.len() == length]])
    template = [_position(chars[:, i]) for i in range(length)]
    if any(t is None for t in template):
        return None
    classes = {t for t in template if not t.startswith("\0")}
    has_digits = any("d" in t for t in classes)
    letter_code = classes == {"U"} and length <= MAX_LETTER_CODE  # IATA, ISO codes
    if not (has_digits or letter_code):
        return None
    return _regex(_hexadecimal(template, chars))


def _run_pattern(strings: pd.Series) -> str | None:
    """Codes of several lengths (`AL-1`, `CA-53`, `N10A2`): most values split into the same
    runs; a run is a literal where every value shares it, letters of one length, or a number
    of 1 to k digits (written unpadded in the output, even where the source pads some of them:
    AHCA's `CA-01` beside `AL-1`). Words of varying length are not."""
    runs = strings.map(RUNS.findall)
    shapes = runs.map(lambda parts: tuple(_kind(p[0]) if p[0].isalnum() else p for p in parts))
    shape, count = Counter(shapes).most_common(1)[0]
    if count < MIN_SHAPE_SHARE * len(strings) or "d" not in shape:
        return None
    columns = list(zip(*runs[shapes == shape]))
    out = []
    for kind, column in zip(shape, columns):
        lengths = {len(part) for part in column}
        if len(set(column)) == 1:
            out.append(re.escape(column[0]))
        elif kind == "d" and len(lengths) > 1:
            out.append(f"[0-9]{{{min(lengths)},{max(lengths)}}}")
        elif len(lengths) == 1 and kind in CLASSES:
            out.append(f"{_class_regex(kind)}{{{lengths.pop()}}}")
        else:
            return None
    return "".join(out)


def integer_id_pattern(values: pd.Series) -> str | None:
    """The width of whole-number ids that start past row numbers (`101001` .. `999875`:
    `[0-9]{6,6}`), or None for ids a row number writes as well."""
    low, high = int(values.min()), int(values.max())
    if low < 10 ** (MIN_ID_DIGITS - 1):
        return None
    return f"[0-9]{{{len(str(low))},{len(str(high))}}}"


def integer_ids(pattern: str, positions: np.ndarray, avoid: np.ndarray | None = None
                ) -> np.ndarray:
    """Whole-number ids in `pattern`'s width, unique over all positions, none a training id.

    A width gives ids to a quarter of what it holds (none where training ids crowd it);
    later rows get ids one digit wider, width by width. Which width a row gets depends on
    its position alone, so shards agree without coordination.
    """
    fewest, most = map(int, RUN.match(pattern).group(1, 2))  # `[0-9]{5,6}`: 5, 6
    out = np.zeros(len(positions), dtype=np.int64)
    start, crowd = 0, 0 if avoid is None else len(avoid)
    while positions.max(initial=-1) >= start:
        space = _number_range(f"{NUMBER}{fewest},{most}")[1]
        capacity = space // 4 if space >= 8 * crowd else 0
        inside = (positions >= start) & (positions < start + capacity)
        if inside.any():
            ids = pattern_ids(f"[0-9]{{{fewest},{most}}}", positions[inside] - start, avoid)
            out[inside] = np.asarray(ids, dtype=np.int64)
        # a wider width holds no training id: they all have at most `most` digits
        start, fewest, most, avoid, crowd = start + capacity, most + 1, most + 1, None, 0
    return out


def _hexadecimal(template: list[str], chars: np.ndarray) -> list[str]:
    """The template with its digit-letter mixes as hexadecimal digits when no letter in
    them goes past f (a UUID drawn from a-z would not look like one)."""
    mixed = [i for i, t in enumerate(template) if t in HEX]
    letters = "".join(c for c in chars[:, mixed].ravel() if c.isalpha())
    if len(letters) < MIN_HEX_LETTERS or set(letters.lower()) - set("abcdef"):
        return template
    return ["x" + template[i] if i in mixed else t for i, t in enumerate(template)]


def _position(column: np.ndarray) -> str | None:
    """A literal character shared by all (a padding zero counts as a digit slot), the
    character class the position draws from, or None for punctuation that varies."""
    if (column == column[0]).all() and column[0] != "0":
        return "\0" + column[0]
    kinds = {_kind(c) for c in column}
    if "=" in kinds:
        return None
    return "".join(sorted(kinds))


def _kind(c: str) -> str:
    return ("d" if c.isdigit() and c.isascii() else "U" if c.isupper() and c.isascii() else
            "L" if c.islower() and c.isascii() else "=")


def _regex(template: list[str]) -> str:
    out, i = [], 0
    while i < len(template):
        j = i
        while j < len(template) and template[j] == template[i]:
            j += 1
        token = template[i]
        if token.startswith("\0"):
            out.append(re.escape(token[1:]) * (j - i))
        else:
            out.append(f"{_class_regex(token)}{{{j - i}}}")
        i = j
    return "".join(out)


def _class_regex(kinds: str) -> str:
    if kinds.startswith("x"):
        return f"[{HEX[kinds[1:]]}]"
    return "[" + "".join(CLASSES[k][0] for k in kinds) + "]"


def _slots(pattern: str) -> list[str]:
    """Each position: a literal character (marked with a leading NUL), an unpadded number
    (NUMBER, then its fewest and most digits), or its alphabet."""
    slots: list[str] = []
    for fewest, most, classes, repeat, escaped, literal in RUN.findall(pattern):
        if most:
            slots.append(f"{NUMBER}{fewest},{most}")
        elif classes in HEX.values():
            letters = "abcdef" if classes.endswith("a-f") else "ABCDEF"
            slots += ["0123456789" + letters] * int(repeat)
        elif classes:
            alphabet = "".join(CLASSES[k][1] for k in "dUL" if CLASSES[k][0] in classes)
            slots += [alphabet] * int(repeat)
        else:
            slots.append("\0" + (escaped or literal))
    return slots


def _number_range(slot: str) -> tuple[int, int]:
    """An unpadded number slot's first value and how many it holds (0..99 for 1-2 digits)."""
    fewest, most = map(int, slot[len(NUMBER):].split(","))
    low = 0 if fewest == 1 else 10 ** (fewest - 1)
    return low, 10 ** most - low


def _radix(slot: str) -> int:
    return _number_range(slot)[1] if slot.startswith(NUMBER) else len(slot)


def pattern_ids(pattern: str, positions: np.ndarray, avoid: np.ndarray | None = None) -> list:
    """One id per row position, unique over all positions, none whose hash is in `avoid`."""
    slots = _slots(pattern)
    radices = [_radix(s) for s in slots if not s.startswith("\0")]
    space = math.prod(radices)
    half = space // 2
    if positions.max(initial=0) >= half:
        return [f"syn-{i:09d}" for i in positions]  # the shape has too few ids to spare
    ids = _render(slots, radices, _scramble(positions, space))
    if avoid is not None and len(avoid):
        avoid, taken = np.sort(avoid), set(ids)
        for k in np.flatnonzero(_among(hash_ids(ids), avoid)):
            ids[k] = _replacement(slots, radices, space, int(positions[k]), avoid, taken)
            taken.add(ids[k])
    return ids


def _replacement(slots, radices, space, position, avoid, taken) -> str:
    """An id from the half of the space the rows never use, free of training ids."""
    half = space // 2
    for attempt in range(CLASH_TRIES):
        number = half + (position * 7919 + attempt) % (space - half)
        (candidate,) = _render(slots, radices, _scramble(np.array([number]), space))
        if candidate not in taken and not _among(hash_ids([candidate]), avoid)[0]:
            return candidate
    return f"syn-{position:09d}"  # a space crowded with training ids


def _among(hashes: np.ndarray, sorted_hashes: np.ndarray) -> np.ndarray:
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    return sorted_hashes[at] == hashes


def hash_ids(values) -> np.ndarray:
    return pd.util.hash_array(np.asarray(values, dtype=object).astype(str))


def _scramble(positions: np.ndarray, space: int) -> np.ndarray:
    """An affine bijection of 0..space-1, so consecutive rows do not get consecutive ids.

    Exact integers throughout: a float step or a round offset (a third of the space) leaves
    the last digits of a large space's ids all zeros.
    """
    step = ((math.isqrt(5 * space * space) - space) // 2) | 1  # the golden ratio's share
    while math.gcd(step, space) != 1:
        step += 2
    offset = int.from_bytes(hashlib.sha512(b"ids").digest(), "big") % space
    return (positions.astype(object) * step + offset) % space


def _render(slots: list[str], radices: list[int], numbers: np.ndarray) -> list:
    out = []
    for number in numbers:
        number, chars, k = int(number), [], len(radices) - 1
        for slot in reversed(slots):
            if slot.startswith("\0"):
                chars.append(slot[1:])
            else:
                number, digit = divmod(number, radices[k])
                chars.append(str(_number_range(slot)[0] + digit) if slot.startswith(NUMBER)
                             else slot[digit])
                k -= 1
        out.append("".join(reversed(chars)))
    return out
