"""Configuration in one place: defaults, then a TOML file, then environment variables.

Every setting is declared once in ``SETTINGS`` with its help text; docs/configuration.md lists
them (a test keeps the two in step). The file is ``$HJERTEKOM_CONFIG`` or ``./hjertekom.toml``.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hjertekom_core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STANDARDS = {"K1": 0.75, "K3": 0.50, "K4": 0.50, "K6": 0.90}
#: Treatment targets the course summary flags for the GP (docs/reports.md). LDL and blood pressure:
#: unconfirmed defaults after the European guideline for heart patients (LDL below 1.4 mmol/L,
#: blood pressure below 140/90 mmHg); alcohol: the Danish Health Authority's at most 10 units a week.
DEFAULT_FOLLOWUP_TARGETS = {"ldl": 1.4, "bp_systolic": 140.0, "bp_diastolic": 90.0, "alcohol_units_week": 10.0}
FOLLOWUP_TARGET_KEYS = frozenset(DEFAULT_FOLLOWUP_TARGETS)
CONTACT_KEYS = frozenset({"name", "phone", "email"})
#: The programmes a service runs unless configured otherwise (``programmes``): HjerteKom alone.
DEFAULT_PROGRAMMES: tuple[str, ...] = ("hjertekom",)
#: A programme's name is the name of its folder in the contracts folder (contract.schema.yaml).
_PROGRAMME_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_addresses(text: str) -> tuple[str, ...]:
    """'127.0.0.1, 10.0.0.5' -> ('127.0.0.1', '10.0.0.5')."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_programmes(text: str) -> tuple[str, ...]:
    """'hjertekom, moeva' or 'hjertekom moeva' -> ('hjertekom', 'moeva'), in the order given, once each."""
    return tuple(dict.fromkeys(part for part in re.split(r"[\s,]+", text.strip()) if part))


def parse_standards(text: str) -> dict[str, float]:
    """'K1=0.75,K3=0.5' -> {'K1': 0.75, 'K3': 0.5}; a share between 0 and 1."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(part)
        out[key.strip().upper()] = float(value)
    return out


def parse_targets(text: str) -> dict[str, float]:
    """'ldl=1.8,bp_systolic=130' -> {'ldl': 1.8, 'bp_systolic': 130.0}; names as in the contract."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(part)
        out[key.strip().lower()] = float(value)
    return out


def parse_contacts(text: str) -> dict[int, dict[str, str]]:
    """JSON '{"740": {"name": "...", "phone": "...", "email": "..."}}' -> {740: {...}}."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(text)
    return {int(code): dict(entry) for code, entry in raw.items()}


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "HJERTEKOM_DATA_DIR",
            "Folder for the embedded SQLite store, the log file and the pseudonymisation key. "
            "Default: ./var", Path),
    Setting("database_url", "HJERTEKOM_DATABASE_URL",
            "SQLAlchemy URL of the operational store, e.g. postgresql+psycopg://user@host/db. "
            "Default: the SQLite file <data_dir>/hjertekom.sqlite"),
    Setting("contracts_dir", "HJERTEKOM_CONTRACTS_DIR",
            "Folder of the data contracts (one sub-folder per programme). Default: data_contracts/ "
            "of this checkout", Path),
    Setting("programmes", "HJERTEKOM_PROGRAMMES",
            "The programmes this service runs: folder names in contracts_dir, separated by commas or "
            "spaces, e.g. hjertekom,moeva (in the file also a list). Only these are loaded: the entry app, "
            "the snapshots, the import and the reports see no other. Default: hjertekom", parse_programmes),
    Setting("log_file", "HJERTEKOM_LOG_FILE",
            "Log file. Default: <data_dir>/hjertekom.log, beside the embedded store", Path),
    Setting("log_level", "HJERTEKOM_LOG_LEVEL", "Logging level (DEBUG, INFO, WARNING). Default: INFO"),
    Setting("language", "HJERTEKOM_LANGUAGE", "Language of messages: da or en. Default: da"),
    Setting("completion_limit_days", "HJERTEKOM_COMPLETION_LIMIT_DAYS",
            "A course with this many days or more between start and end meeting does not count as "
            "completed (unconfirmed national rule). Default: 180", int),
    Setting("standards", "HJERTEKOM_STANDARDS",
            "Standard (target share, 0-1) per indicator, e.g. K1=0.75,K3=0.5 (unconfirmed nationally). "
            "An indicator without a standard shows no met/not met. Default: K1=0.75,K3=0.5,K4=0.5,K6=0.9",
            parse_standards),
    Setting("suppress_below", "HJERTEKOM_SUPPRESS_BELOW",
            "Small-number suppression in views of other municipalities: counts 1 to this minus one are "
            "shown as '< N', and a proportion with a smaller denominator is hidden. Default: 5", int),
    Setting("clusters_file", "HJERTEKOM_CLUSTERS_FILE",
            "YAML file naming clusters (klynger) of municipalities for benchmarking. "
            "Default: data_contracts/clusters.yaml", Path),
    Setting("pseudonym_key_file", "HJERTEKOM_PSEUDONYM_KEY_FILE",
            "Secret key for pseudonymised citizen keys in research snapshots; created by "
            "`hjertekom init`, never stored in a snapshot. Default: <data_dir>/pseudonym.key", Path),
    Setting("reports_dir", "HJERTEKOM_REPORTS_DIR",
            "Folder of the generated municipality reports (<period>/<code>-<name>.html|pdf and an "
            "index.html per period). Default: reports/ of this checkout", Path),
    Setting("chromium", "HJERTEKOM_CHROMIUM",
            "The chromium executable that prints reports to PDF. Default: /usr/bin/chromium", Path),
    Setting("report_workers", "HJERTEKOM_REPORT_WORKERS",
            "Worker processes for a batch of reports, each with its own kernel and browser. "
            "Default: the number of CPU cores, at most 4", int),
    Setting("idle_timeout_minutes", "HJERTEKOM_IDLE_TIMEOUT_MINUTES",
            "A signed-in session of the entry app ends after this many minutes without use (shared PCs). "
            "Default: 30", float),
    Setting("trusted_proxies", "HJERTEKOM_TRUSTED_PROXIES",
            "Hosted set-up: the addresses of the reverse proxy (nginx); its user header and its "
            "X-Real-IP (the client's address for the login lockout and the audit) are believed only "
            "from these. Default: 127.0.0.1", parse_addresses),
    Setting("proxy_secret_file", "HJERTEKOM_PROXY_SECRET_FILE",
            "Hosted set-up: file with the secret the proxy sends in X-HjerteKom-Proxy-Secret (made by "
            "`hjertekom serve --trusted-header`, mode 0600). Default: <data_dir>/proxy.secret", Path),
    Setting("login_max_failures", "HJERTEKOM_LOGIN_MAX_FAILURES",
            "Failed logins in a row (per account, and per address) before the login is locked for "
            "login_lockout_minutes. Default: 10", int),
    Setting("login_lockout_minutes", "HJERTEKOM_LOGIN_LOCKOUT_MINUTES",
            "How long a login stays locked after login_max_failures failures. Default: 15", int),
    Setting("import_max_mb", "HJERTEKOM_IMPORT_MAX_MB",
            "Largest import file accepted, in megabytes. Default: 20", int),
    Setting("research_workspace", "HJERTEKOM_RESEARCH_WORKSPACE",
            "The researchers' workspace served by `hjertekom lab`: pseudonymised snapshots, research "
            "notebooks and their outputs, never the data folder. Default: <data_dir>-research, beside it", Path),
    Setting("lab_account", "HJERTEKOM_LAB_ACCOUNT",
            "The operating-system account `hjertekom lab` runs as when started by root (created on "
            "demand; it has no access to the data folder). Default: hjertekom-forsker"),
    Setting("lab_python", "HJERTEKOM_LAB_PYTHON",
            "The Python that JupyterLab runs with under lab_account; that account must be able to run "
            "it. Default: the Python of this installation", Path),
    Setting("retention_years", "HJERTEKOM_RETENTION_YEARS",
            "Years a citizen's data are kept after their last course ended (`hjertekom retention`). "
            "Default: 10 (a placeholder the data controller must confirm)", int),
    Setting("followup_targets", "HJERTEKOM_FOLLOWUP_TARGETS",
            "Targets the course summary flags for the GP: ldl (mmol/L, flagged at or above), bp_systolic "
            "and bp_diastolic (mmHg, flagged at or above), alcohol_units_week (flagged above), e.g. "
            "ldl=1.4,bp_systolic=140 (LDL and blood pressure unconfirmed). Default: ldl=1.4, "
            "bp_systolic=140, bp_diastolic=90, alcohol_units_week=10", parse_targets),
    Setting("municipality_contacts", "HJERTEKOM_MUNICIPALITY_CONTACTS",
            "Per municipality code the rehabilitation team's contact for the course summary (name, phone, "
            "email), used where the responsible clinician's profile has no phone or e-mail; in the file a "
            "table [hjertekom.municipality_contacts.740], in the environment JSON. Default: none",
            parse_contacts),
)


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("var")
    database_url: str = ""
    contracts_dir: Path = REPO_ROOT / "data_contracts"
    programmes: tuple[str, ...] = DEFAULT_PROGRAMMES
    log_file: Path = None  # type: ignore[assignment]  # derived in __post_init__
    log_level: str = "INFO"
    language: str = "da"
    completion_limit_days: int = 180
    standards: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STANDARDS))
    suppress_below: int = 5
    clusters_file: Path = REPO_ROOT / "data_contracts" / "clusters.yaml"
    pseudonym_key_file: Path = None  # type: ignore[assignment]  # derived in __post_init__
    reports_dir: Path = REPO_ROOT / "reports"
    chromium: Path = Path("/usr/bin/chromium")
    report_workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    idle_timeout_minutes: float = 30
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    proxy_secret_file: Path = None  # type: ignore[assignment]  # derived in __post_init__
    login_max_failures: int = 10
    login_lockout_minutes: int = 15
    import_max_mb: int = 20
    research_workspace: Path = None  # type: ignore[assignment]  # derived in __post_init__
    lab_account: str = "hjertekom-forsker"
    lab_python: Path = field(default_factory=lambda: Path(sys.executable))
    retention_years: int = 10   # unconfirmed: the municipalities (controllers) decide (docs/citizens-rights.md)
    followup_targets: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FOLLOWUP_TARGETS))
    municipality_contacts: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Derived defaults depend on data_dir, whichever source set it.
        data_dir = Path(self.data_dir)
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'hjertekom.sqlite'}")
        if self.log_file is None:
            object.__setattr__(self, "log_file", data_dir / "hjertekom.log")
        if self.pseudonym_key_file is None:
            object.__setattr__(self, "pseudonym_key_file", data_dir / "pseudonym.key")
        if self.proxy_secret_file is None:
            object.__setattr__(self, "proxy_secret_file", data_dir / "proxy.secret")
        if self.research_workspace is None:
            object.__setattr__(self, "research_workspace", data_dir.parent / f"{data_dir.name or 'var'}-research")
        for name in ("proxy_secret_file", "research_workspace", "lab_python"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        if isinstance(self.trusted_proxies, str):
            object.__setattr__(self, "trusted_proxies", parse_addresses(self.trusted_proxies))
        else:
            object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        self._check_programmes()
        if float(self.idle_timeout_minutes) <= 0:
            raise ConfigError("idle_timeout_minutes must be more than 0")
        for name in ("login_max_failures", "login_lockout_minutes", "import_max_mb", "retention_years"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be 1 or more")
        if self.language not in ("da", "en"):
            raise ConfigError(f"language must be 'da' or 'en', not {self.language!r}")
        if self.completion_limit_days <= 0:
            raise ConfigError("completion_limit_days must be a positive number of days")
        if self.report_workers < 1:
            raise ConfigError("report_workers must be 1 or more")
        if self.suppress_below < 1:
            raise ConfigError("suppress_below must be 1 (no suppression) or more")
        bad = {k: v for k, v in self.standards.items() if not 0 <= float(v) <= 1}
        if bad:
            raise ConfigError(f"standards are shares between 0 and 1, not {bad}")
        self._check_followup()

    def _check_programmes(self) -> None:
        """At least one programme, each a plain folder name; whether its folder exists is checked
        where the contracts are loaded (``ContractRegistry``), against the contracts folder."""
        given = self.programmes
        names = parse_programmes(given) if isinstance(given, str) else tuple(dict.fromkeys(str(p).strip() for p in given))
        if not names or not all(names):
            raise ConfigError("programmes must name at least one programme, e.g. programmes = \"hjertekom\"")
        bad = [name for name in names if not _PROGRAMME_NAME.match(name)]
        if bad:
            raise ConfigError(f"programmes: {', '.join(map(repr, bad))} is not a programme's folder name "
                              "(small letters, digits and _, e.g. hjertekom)")
        object.__setattr__(self, "programmes", names)

    def _check_followup(self) -> None:
        """Targets: known names, positive numbers, defaults for the ones not given; contacts by code."""
        unknown = sorted(set(self.followup_targets) - FOLLOWUP_TARGET_KEYS)
        if unknown:
            raise ConfigError(f"followup_targets: unknown {unknown}; known: {sorted(FOLLOWUP_TARGET_KEYS)}")
        targets = {**DEFAULT_FOLLOWUP_TARGETS, **{k: float(v) for k, v in self.followup_targets.items()}}
        if any(v <= 0 for v in targets.values()):
            raise ConfigError(f"followup_targets must be positive numbers, not {dict(self.followup_targets)}")
        object.__setattr__(self, "followup_targets", targets)
        contacts: dict[int, dict[str, str]] = {}
        for code, entry in self.municipality_contacts.items():
            if not isinstance(entry, Mapping) or not set(entry) <= CONTACT_KEYS:
                raise ConfigError(f"municipality_contacts.{code}: a table of {sorted(CONTACT_KEYS)}")
            try:
                contacts[int(code)] = {k: str(v) for k, v in entry.items()}
            except ValueError:
                raise ConfigError(f"municipality_contacts: {code!r} is not a municipality code") from None
        object.__setattr__(self, "municipality_contacts", contacts)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_config(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file = Path(path) if path else Path(environ.get("HJERTEKOM_CONFIG", "hjertekom.toml"))
    by_name = {s.name: s for s in SETTINGS}
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        section = raw.get("hjertekom", raw)
        for key, value in section.items():
            if key not in by_name:
                raise ConfigError(f"{file}: unknown setting {key!r}; known: {sorted(by_name)}")
            values[key] = by_name[key].parse(value) if isinstance(value, str) else value
            if key == "standards" and isinstance(value, Mapping):
                values[key] = {str(k).upper(): float(v) for k, v in value.items()}
            if key == "followup_targets" and isinstance(value, Mapping):
                values[key] = {str(k).lower(): float(v) for k, v in value.items()}
    elif path:
        raise ConfigError(f"configuration file not found: {file}")
    for setting in SETTINGS:
        if setting.env in environ and environ[setting.env] != "":
            try:
                values[setting.name] = setting.parse(environ[setting.env])
            except ValueError:
                raise ConfigError(f"{setting.env}={environ[setting.env]!r} is not valid: {setting.help}") from None
    return Config(**values)

