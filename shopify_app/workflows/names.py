"""Evocative catalog names for catalog models created without a display name ("Amara in Linen").

The name is a pure function of the spec (and an attempt number, for when a shop already uses
it), so the same spec always gets the same name and tests can rely on it. Names come from one
broad international pool per gender: nothing is inferred about a person from the ethnicity
field, which only feeds the hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

FEMININE = (
    "Amara", "Ines", "Noor", "Yuki", "Freya", "Zola", "Leila", "Sofia", "Mei", "Ayla",
    "Camille", "Nadia", "Priya", "Elena", "Imani", "Greta", "Lucia", "Rosa", "Sana", "Tova",
    "Aiko", "Mira", "Esme", "Kalani", "Dalia", "Oona", "Selin", "Thandi", "Vera", "Lina",
)
MASCULINE = (
    "Theo", "Kofi", "Mateo", "Ravi", "Jonas", "Kenji", "Omar", "Luca", "Emeka", "Anders",
    "Dario", "Hugo", "Idris", "Milan", "Tariq", "Felix", "Nikolai", "Santiago", "Jun", "Ezra",
    "Bastian", "Kai", "Laszlo", "Malik", "Otto", "Rafael", "Soren", "Tomas", "Yusuf", "Arlo",
)
# Cloth and finish words a catalog would dress a model in.
FABRICS = (
    "Linen", "Silk", "Cashmere", "Denim", "Tweed", "Velvet", "Chambray", "Merino", "Organza",
    "Poplin", "Corduroy", "Satin", "Jersey", "Twill", "Bouclé", "Crepe", "Chiffon", "Flannel",
    "Seersucker", "Cotton", "Suede", "Mohair", "Taffeta", "Gabardine", "Alpaca", "Lace",
)
SPEC_FIELDS = ("gender", "ethnicity", "body_type", "age_range", "seed", "pilot_brand", "image_model")


def coin_name(spec: Mapping[str, Any], attempt: int = 0) -> str:
    """A name like "Amara in Linen" for `spec`; a different one for each `attempt`."""
    canonical = json.dumps(
        {key: _plain(spec.get(key)) for key in SPEC_FIELDS}, sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(f"{canonical}|{attempt}".encode()).digest()
    names = MASCULINE if str(_plain(spec.get("gender"))).upper() == "MALE" else FEMININE
    first = names[int.from_bytes(digest[:4], "big") % len(names)]
    fabric = FABRICS[int.from_bytes(digest[4:8], "big") % len(FABRICS)]
    return f"{first} in {fabric}"


def coin_unique_name(spec: Mapping[str, Any], taken: set[str], tries: int = 8) -> str:
    """The first coined name not in `taken`; after `tries`, the first one with a numeral."""
    for attempt in range(tries):
        name = coin_name(spec, attempt)
        if name not in taken:
            return name
    base = coin_name(spec)
    number = 2
    while f"{base} {number}" in taken:
        number += 1
    return f"{base} {number}"


def _plain(value: Any) -> Any:
    # Enums and strings hash the same way ("MALE"), whatever the caller passed.
    return getattr(value, "value", value)
