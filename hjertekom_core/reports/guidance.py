"""The words around each indicator in the municipality report, kept as data, not code.

- ``load_guidance``: why the indicator matters, how to read it, what the municipality can do, from
  ``data_contracts/<programme>/indicator_texts.yaml`` beside the indicator declarations.
- ``load_comments``: the municipality's own comments, a YAML file the coordinator writes per
  municipality and period (docs/reports.md)::

      kommune: 740          # optional; checked against the report
      periode: "2025"       # optional; checked against the report
      samlet: "Vi har fået ny diætist fra marts ..."     # the general comment (page 1)
      K1: "Faldet skyldes ..."                           # a comment per indicator

Both are read as plain text; the report escapes it. A bad file is a clear Danish / English
message (``ReportInputError``) before anything is made.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from hjertekom_core.contract import Text
from hjertekom_core.errors import ReportError
from hjertekom_core.indicators import INDICATORS
from hjertekom_core.indicators.declarations import DECLARATIONS_FILE, declarations_for
from hjertekom_core.indicators.definitions import indicators_of
from hjertekom_core.indicators.facts import PROGRAMME

TEXTS_FILE = "indicator_texts.yaml"
#: The parts of each indicator's guidance, in reading order.
PARTS = ("why", "how_to_read", "what_to_do")
#: The key of the general comment in a comments file.
GENERAL = "samlet"
#: The longest comment accepted (characters): a box on the indicator's page, not an appendix.
MAX_COMMENT = 2000


class CommentsError(ReportError):
    """The coordinator's comments file cannot be used."""


@dataclass(frozen=True)
class Guidance:
    """indicator id -> part -> Text."""

    texts: dict[str, dict[str, Text]]

    def get(self, indicator: str, part: str, lang: str) -> str:
        found = self.texts.get(indicator, {}).get(part)
        return found.get(lang) if found is not None else ""


@lru_cache(maxsize=4)
def load_guidance(contracts_dir: Path, programme: str = PROGRAMME) -> Guidance:
    """The programme's indicator texts; every indicator it declares (beside the texts, in
    ``indicators.yaml``) must have every part in da and en."""
    path = Path(contracts_dir) / programme / TEXTS_FILE
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    texts: dict[str, dict[str, Text]] = {}
    declared = path.with_name(DECLARATIONS_FILE)
    indicators = indicators_of(declarations_for(programme, declared.parent.parent)) if declared.exists() else INDICATORS
    for ind in indicators:
        entry = raw.get(ind.id)
        if not isinstance(entry, dict):
            raise ReportError(f"{path}: no texts for {ind.id}")
        parts: dict[str, Text] = {}
        for part in PARTS:
            value = entry.get(part)
            if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k].strip()
                                                      for k in ("da", "en")):
                raise ReportError(f"{path}: {ind.id}.{part} needs a Danish (da) and an English (en) text")
            parts[part] = Text(value["da"].strip(), value["en"].strip())
        texts[ind.id] = parts
    return Guidance(texts)


def load_comments(path: str | Path, *, municipality: int | None = None, period: str | None = None) -> dict[str, str]:
    """The comments in ``path``: {indicator id or "samlet": text}. A missing or malformed file, an
    unknown key, a text that is not text or is too long, or a file meant for another municipality or
    period is a CommentsError with a Danish / English message."""
    file = Path(path)
    name = file.name
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommentsError(f"Kommentarfilen {name} findes ikke / the comments file {name} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CommentsError(f"Kommentarfilen {name} kan ikke læses som YAML (UTF-8) / the comments file {name} is "
                            f"not readable YAML (UTF-8): {type(exc).__name__}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CommentsError(f"Kommentarfilen {name} skal være en liste af nøgle: tekst / the comments file {name} "
                            "must be a mapping of key: text")
    raw = {str(k): v for k, v in raw.items()}
    if "kommune" in raw and municipality is not None and str(raw.pop("kommune")) != str(municipality):
        raise CommentsError(f"Kommentarfilen {name} er til en anden kommune end {municipality} / the comments file "
                            f"{name} is for another municipality than {municipality}")
    raw.pop("kommune", None)
    if "periode" in raw and period is not None and str(raw.pop("periode")) != str(period):
        raise CommentsError(f"Kommentarfilen {name} er til en anden periode end {period} / the comments file {name} "
                            f"is for another period than {period}")
    raw.pop("periode", None)
    allowed = [GENERAL] + [ind.id for ind in INDICATORS]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise CommentsError(f"Ukendt nøgle i kommentarfilen {name}: {', '.join(unknown)}; tilladt: kommune, periode, "
                            f"{', '.join(allowed)} / unknown key in the comments file {name}: {', '.join(unknown)}")
    out: dict[str, str] = {}
    for key in allowed:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise CommentsError(f"{key} i kommentarfilen {name} skal være en tekst / {key} in the comments file "
                                f"{name} must be text")
        if len(value) > MAX_COMMENT:
            raise CommentsError(f"{key} i kommentarfilen {name} er længere end {MAX_COMMENT} tegn / {key} in the "
                                f"comments file {name} is longer than {MAX_COMMENT} characters")
        if value.strip():
            out[key] = value.strip()
    return out
