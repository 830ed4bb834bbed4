"""What the indicators take from configuration: standards, the completion limit, clusters, CI method."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from hjertekom_core.errors import ConfigError
from hjertekom_core.indicators.stats import CI_METHODS

if TYPE_CHECKING:
    from hjertekom_core.indicators.declarations import Declarations


@dataclass(frozen=True)
class IndicatorSettings:
    """What the indicators need from configuration (all of it unconfirmed nationally).

    ``declarations``: the indicators to compute (default: hjertekom's, from this checkout's
    data_contracts); another programme passes its own.
    """

    standards: Mapping[str, float] = field(default_factory=dict)
    completion_limit_days: int = 180
    clusters: Mapping[str, Sequence[int]] = field(default_factory=dict)
    ci_method: str = "wilson"
    level: float = 0.95
    declarations: Declarations | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.ci_method not in CI_METHODS:
            raise ConfigError(f"unknown CI method {self.ci_method!r}; choose {sorted(CI_METHODS)}")
        if int(self.completion_limit_days) < 1:
            raise ConfigError(f"completion_limit_days must be a whole number of days above 0, "
                              f"not {self.completion_limit_days!r}")
        seen: dict[int, str] = {}
        for name, codes in self.clusters.items():
            for code in codes:
                if code in seen:
                    raise ConfigError(f"municipality {code} is in two clusters: {seen[code]} and {name}")
                seen[code] = name

    def values(self) -> dict[str, object]:
        """The settings a declaration may name (``{setting: ...}``)."""
        return {"completion_limit_days": int(self.completion_limit_days)}


def load_clusters(path: Path) -> dict[str, list[int]]:
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    clusters = doc.get("clusters", {})
    if not isinstance(clusters, dict) or not all(isinstance(v, list) for v in clusters.values()):
        raise ConfigError(f"{path}: expected 'clusters:' mapping a name to a list of municipality codes")
    return {str(k): [int(c) for c in v] for k, v in clusters.items()}


def settings_from_config(config, ci_method: str = "wilson", programme: str | None = None) -> IndicatorSettings:  # type: ignore[no-untyped-def]
    """The configured settings, with the declarations of ``programme`` (default hjertekom) from the
    configured contracts folder; hjertekom's from this checkout when that folder declares none."""
    from hjertekom_core.indicators.declarations import DECLARATIONS_FILE, declarations_for
    from hjertekom_core.indicators.facts import PROGRAMME

    contracts_dir = Path(config.contracts_dir)
    name = programme or PROGRAMME
    running = getattr(config, "programmes", None)
    if programme is not None and running is not None and programme not in running:
        raise ConfigError(f"programmet {programme} er ikke slået til / the programme {programme} is not among the "
                          f"programmes of this service ({', '.join(running)}; setting programmes, HJERTEKOM_PROGRAMMES)")
    declared = (contracts_dir / name / DECLARATIONS_FILE).exists()
    if not declared and name != PROGRAMME:
        # Another programme's indicators are its own: never fall back to hjertekom's.
        raise ConfigError(f"{contracts_dir / name / DECLARATIONS_FILE}: programmet {name} erklærer ingen "
                          f"indikatorer / the programme {name} declares no indicators")
    return IndicatorSettings(dict(config.standards), config.completion_limit_days,
                             load_clusters(config.clusters_file), ci_method,
                             declarations=declarations_for(name, contracts_dir) if declared else None)
