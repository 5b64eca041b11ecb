"""Personal data by a column's header and values: an e-mail, a phone number, an address, a
social security or IP number, a person's (first, last or whole) name. A header alone does not
make personal data (a `name` of car models, states or animals, a `mobile` of yes/no); the
values must be written so. Each kind is replaced by Faker's provider of that name, in the
layout most values share (a phone's digits, a name written surname first)."""

from __future__ import annotations

import functools
import re

import pandas as pd

# Names that mark personal data; the value is the Faker provider used to replace it.
PII_NAMES = {
    "email": re.compile(r"e-?mail", re.IGNORECASE),
    "phone_number": re.compile(r"phone|mobile|tel(ephone)?$", re.IGNORECASE),
    # a person's first or last name alone (Faker writes one of those), or whole name; not
    # month_name, product_name or station_name
    "first_name": re.compile(r"^(first|given|fore)_?name$", re.IGNORECASE),
    "last_name": re.compile(r"^(last|family|maiden)_?name$|surname", re.IGNORECASE),
    "name": re.compile(
        r"^(full_?)?name$|^(middle|nick|user|customer|client|patient|person|employee|member|"
        r"owner|contact|applicant|student)_?name$",
        re.IGNORECASE),
    "address": re.compile(r"address|street", re.IGNORECASE),
    "ssn": re.compile(r"(^|_)ssn$|social_security", re.IGNORECASE),
    "ipv4": re.compile(r"(^|_)ip(_address)?$", re.IGNORECASE),
}
PERSON_NAME = re.compile(r"^[^\W\d_][^\d\s,]*(,?\s+[^\d\s,]+){0,4}$")
# Personal numbers written in one layout: output keeps it, with digits drawn afresh.
SHAPED_PII = frozenset({"phone_number", "ssn"})
MIN_PII_SHAPE_SHARE = 0.5
EMAIL_VALUE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
# What each kind's values look like. A header alone does not make personal data: a column
# `name` of car models, `mobile` of yes/no or `email_sent` of dates is modelled as what it holds.
PII_VALUES = {
    "email": EMAIL_VALUE,
    "phone_number": re.compile(r"^\+?[\d\s().\-/]{7,}(\s*(x|ext\.?)\s*\d+)?$", re.IGNORECASE),
    # capitalised words without digits: "Mary O'Neil", "Smith, J.", "José Álvarez"
    "name": PERSON_NAME,
    "first_name": PERSON_NAME,
    "last_name": PERSON_NAME,
    "address": re.compile(r"^(?=.*[^\W\d_]).+\s.+$"),
    "ssn": re.compile(r"^\d{3}[\s-]?\d{2}[\s-]?\d{4}$"),
    "ipv4": re.compile(r"^\d{1,3}(\.\d{1,3}){3}$"),
}
# Lower-case words a person's name may hold after its first (surname particles).
NAME_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos",
                            "das", "du", "la", "le", "ter", "ten", "bin", "ibn", "al", "y", "e"})
# A column of people's names has at least this share of values with a common first or last
# name of these locales in them (English lists alone: 0.39-0.80 on the people of nine real
# tables, baseball players as "Allard, K" the least; with these 0.52 there), at most 0.19 on
# US states, Paris metro stations, companies and animals.
NAME_LOCALES = ("en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT",
                "pt_BR", "nl_NL", "sv_SE", "pl_PL", "tr_TR")
MIN_KNOWN_NAMES = 0.3
# The share of a column's values that must look like its kind (a few typos are allowed).
MIN_PII_VALUE_SHARE = 0.8


def personal_layout(kind: str, strings: pd.Series) -> str | None:
    """The layout the output writes a personal value in: a number's digits, a name's order."""
    if kind in SHAPED_PII:
        return _digit_shape(strings)
    if kind == "address":
        return _address_layout(strings)
    return _name_layout(strings) if kind == "name" else None


# Addresses on one line, as most of a column's values are: a street alone (Grinnell's houses:
# "1510 First Ave #112") or with its town after a comma; None keeps Faker's two lines.
STREET, STREET_AND_TOWN = "{street}", "{street}, {city}, {state_abbr} {postcode}"


def _address_layout(strings: pd.Series) -> str | None:
    lines = strings.str.contains("\n", regex=False)
    if lines.mean() >= MIN_PII_SHAPE_SHARE:
        return None
    with_town = strings.str.contains(",", regex=False)
    return STREET_AND_TOWN if with_town.mean() >= MIN_PII_SHAPE_SHARE else STREET


# Names written surname first, as most of a column's values are: "Allard, K", "Allard, K."
# or "Abbott, John Joseph" (the layout, then the pattern its values match).
NAME_LAYOUTS = (("{last}, {initial}", r"[^,]+,\s*[^\W\d_]"),
                ("{last}, {initial}.", r"[^,]+,\s*[^\W\d_]\."),
                ("{last}, {first}", r"[^,]+,\s*[^\W\d_]{2,}.*"))


def _name_layout(strings: pd.Series) -> str | None:
    """The surname-first layout at least MIN_PII_SHAPE_SHARE of the names are written in,
    or None (Faker's "First Last")."""
    names = strings.str.strip()
    for layout, pattern in NAME_LAYOUTS:
        if names.str.fullmatch(pattern).mean() >= MIN_PII_SHAPE_SHARE:
            return layout
    return None


def _digit_shape(strings: pd.Series) -> str | None:
    """The layout (digits as `#`) at least MIN_PII_SHAPE_SHARE of the values share, or None."""
    shapes = strings.str.replace(r"[0-9]", "#", regex=True).value_counts(normalize=True)
    if shapes.empty or shapes.iloc[0] < MIN_PII_SHAPE_SHARE or "#" not in shapes.index[0]:
        return None
    return str(shapes.index[0])


def personal_kind(name: str, strings: pd.Series) -> str | None:
    """The kind of personal data a column holds: named so and written so, or emails anywhere."""
    sample = strings.head(200).str.strip()
    for kind, pattern in PII_NAMES.items():
        if pattern.search(name) and _written_as(sample, kind):
            return kind
    if len(sample) and sample.str.match(EMAIL_VALUE).mean() > 0.9:
        return "email"
    return None


def _written_as(values: pd.Series, kind: str) -> bool:
    if not len(values) or values.str.fullmatch(PII_VALUES[kind]).mean() < MIN_PII_VALUE_SHARE:
        return False
    # a person's name starts with a capital letter: "pontiac firebird" is a car model
    return PII_VALUES[kind] is not PERSON_NAME or (
        values.str[0].str.isupper().mean() >= MIN_PII_VALUE_SHARE
        and _every_name_capitalised(values) and _known_names_share(values) >= MIN_KNOWN_NAMES)


def _known_names_share(values: pd.Series) -> float:
    """The share of values with a word that is a common first or last name (Faker's lists
    for NAME_LOCALES): most of a column of people's names (Mary Pickford, Allard, K, Chloé),
    few of states, stations, companies or animals."""
    known = _common_names()
    return float(values.map(lambda v: any(w.strip(",.") in known for w in v.split())).mean())


@functools.cache
def _common_names() -> frozenset[str]:
    import importlib

    names: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "last_names", "first_names_male", "first_names_female"):
            names |= set(getattr(provider, attribute, ()) or ())
    return frozenset(names)


def _every_name_capitalised(values: pd.Series) -> bool:
    """Whether the values of several words start no word in lower case but a surname's
    particle (Ludwig van Beethoven, Doe #80): "Owl monkey" and "Greater short-tailed shrew"
    name animals."""
    words = values.str.split()
    several = words[words.str.len() > 1]
    if several.empty:
        return True
    capitalised = several.map(lambda ws: all(not w[0].islower() or w.lower() in NAME_PARTICLES
                                             for w in ws[1:]))
    return bool(capitalised.mean() >= MIN_PII_VALUE_SHARE)
