"""The yearly evidence pack for the external auditor: ``hjertekom audit report --year 2025``.

HjerteKom is run by a data processor for the municipalities; a yearly audit declaration says that
personal data is handled as the GDPR (art. 28 and 32) requires. The auditor asks for evidence of
the controls. Each section below names the control it evidences and is written twice: as a table
in one PDF (for reading) and as a CSV with every row (for checking), with a manifest of the files'
SHA-256. Files are 0600 in a new 0700 folder. Times are Danish local time; the year runs from
1 January 00:00 to 31 December 24:00 Danish time.

Unusual reading (section "Opslag"): for each user, the number of reads of identified data per day
(the actions in READ_ACTIONS) is compared with the same user's median over the days of the year on
which they read anything. A day is flagged when it is more than UNUSUAL_FACTOR (3) times that
median, or in the top UNUSUAL_PERCENTILE (1 %) of all user-days of the year; in both cases only
from UNUSUAL_MINIMUM (20) reads a day, so that 4 reads against a median of 1 is not flagged.

Software versions: every command-line start (``hjertekom serve`` included) records the version as
``software.start`` (``record_software_start``); the report lists each version with its first and
last start.
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import logging
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, inspect, select

from hjertekom_core import __version__, audit
from hjertekom_core.access import SYSTEM, User
from hjertekom_core.store import Store
from hjertekom_core.store.engine import MIGRATIONS_DIR
from hjertekom_core.store.schema import audit_log, transfer_log

log = logging.getLogger(__name__)

DANISH_ZONE = ZoneInfo("Europe/Copenhagen")
SOFTWARE_START = "software.start"
#: Reads of identified data (who looked at which citizen or course).
READ_ACTIONS = ("citizen.find", "citizen.search", "citizen.read", "course.read", "registration.history",
                "registration.conflict", "worklist.read", "report.citizen", "report.summary")
#: Identified data leaving the store: files written and who they were for.
EXPORT_ACTIONS = ("dhrd.export", "extract.individual", "extract.aggregate", "snapshot.create", "store.backup",
                  "audit.export", "citizen.export")
USER_ACTIONS = ("user.add", "user.change", "user.password_reset", "user.password_change", "user.sessions_ended",
                "user.review", "user.pin_set", "user.pin_clear")
LOGIN_ACTIONS = ("login", "login.failed", "login.locked")
#: Erasure, restriction and retention (GDPR art. 17, 18 and 5(1)(e)): every action with these prefixes.
ERASURE_PREFIXES = ("citizen.erase", "citizen.restrict", "retention.")
UNUSUAL_FACTOR = 3.0
UNUSUAL_PERCENTILE = 0.99
UNUSUAL_MINIMUM = 20
#: Rows of a table shown in the PDF; the CSV always has every row.
PDF_ROWS = 300


def local(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)
    return f"{aware.astimezone(DANISH_ZONE):%Y-%m-%d %H:%M}"


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """[1 January, next 1 January) of a Danish year, in UTC."""
    start = dt.datetime(year, 1, 1, tzinfo=DANISH_ZONE).astimezone(dt.timezone.utc)
    end = dt.datetime(year + 1, 1, 1, tzinfo=DANISH_ZONE).astimezone(dt.timezone.utc)
    return start, end


def audit_safe_hex(digest: str) -> str:
    """A hex checksum for an audit entry: in groups of 8 joined by ':' (``1a2b3c4d:...``). The audit
    log refuses anything CPR-shaped, and a run of exactly 10 digits turns up in about one SHA-256
    hex digest in 12; a group of 8 never is one. Remove the colons to compare."""
    return ":".join(digest[i:i + 8] for i in range(0, len(digest), 8))


# --- software versions ---------------------------------------------------------------------------------

def record_software_start(store: Store, command: str) -> None:
    """Record that this version of HjerteKom started ``command`` (its name only, never arguments).

    Never fails the command: a store that is not created yet, or not reachable, is skipped (and
    the command itself says what is wrong when it uses the store).
    """
    try:
        with store.read() as conn:
            if not inspect(conn).has_table("audit_log"):
                return
        with store.write() as conn:
            audit.record(conn, SYSTEM, SOFTWARE_START, "software", __version__, None,
                         {"version": __version__, "command": command})
    except Exception:  # noqa: BLE001 - evidence, not a reason to refuse the operator's command
        log.warning("could not record the software start in the audit log", exc_info=True)


# --- sections ------------------------------------------------------------------------------------------

@dataclass
class Section:
    key: str                      # the CSV's name
    title: str                    # Danish heading (English beside)
    control: str                  # which control it evidences
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Entry:
    at: dt.datetime
    user_id: int | None
    username: str
    action: str
    entity: str
    entity_id: str | None
    municipality: int | None
    detail: dict[str, Any]


def _entries(conn: Connection, start: dt.datetime, end: dt.datetime, *, actions: Iterable[str] = (),
             prefixes: Iterable[str] = ()) -> list[Entry]:
    conditions = [audit_log.c.action.in_(list(actions))] if actions else []
    conditions += [audit_log.c.action.startswith(p, autoescape=True) for p in prefixes]
    from sqlalchemy import or_

    query = (select(audit_log).where(audit_log.c.at >= start, audit_log.c.at < end, or_(*conditions))
             .order_by(audit_log.c.id))
    found = []
    for r in conn.execute(query):
        try:
            detail = json.loads(r.detail or "{}")
        except ValueError:
            detail = {"raw": r.detail}
        at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=dt.timezone.utc)
        found.append(Entry(at, r.user_id, r.username, r.action, r.entity, r.entity_id, r.municipality_code, detail))
    return found


def _users_at_year_end(conn: Connection, end: dt.datetime) -> Section:
    from hjertekom_core.users import _records

    state = {r.id: {"username": r.username, "role": r.role, "municipalities": list(r.municipalities),
                    "programmes": list(r.programmes), "active": r.active, "created": r.created_at}
             for r in _records(conn)}
    later = _entries(conn, end, dt.datetime.max.replace(tzinfo=dt.timezone.utc), actions=("user.add", "user.change"))
    for entry in reversed(later):  # undo every change made after the year's end, newest first
        if not (entry.entity_id or "").isdigit() or int(entry.entity_id) not in state:  # type: ignore[arg-type]
            continue
        user_id = int(entry.entity_id)  # type: ignore[arg-type]
        if entry.action == "user.add":
            state.pop(user_id)
        elif entry.detail.get("field") in ("role", "municipalities", "programmes", "active"):
            state[user_id][entry.detail["field"]] = entry.detail.get("before")
    logins = dict(conn.execute(select(audit_log.c.user_id, audit_log.c.at).where(
        audit_log.c.action == "login", audit_log.c.at < end).order_by(audit_log.c.id)).all())
    rows = [(user_id, u["username"], u["role"], ",".join(map(str, u["municipalities"] or [])) or "alle",
             "ja" if u["active"] else "nej", local(u["created"]), local(logins.get(user_id)),
             # rights per programme (migration 0012): "*" and an administrator's none are every programme
             ",".join(p for p in u.get("programmes") or [] if p != "*")
             if u["role"] != "administrator" and "*" not in (u.get("programmes") or ["*"]) else "alle")
            for user_id, u in sorted(state.items(), key=lambda kv: kv[1]["username"])
            if u["created"] is None or u["created"] < end]
    active = [r for r in rows if r[4] == "ja"]
    by_role = Counter(r[2] for r in active)
    return Section(
        "brugere_ved_aarets_udgang", "Brugere og rettigheder ved årets udgang / Users and rights at the year's end",
        "Adgangsstyring: hvem havde adgang til hvad (GDPR art. 32, stk. 1, litra b; ISO 27001 A.5.15, A.5.18)",
        ("user_id", "brugernavn", "rolle", "kommuner", "aktiv", "oprettet", "seneste_login_foer_aarets_udgang",
         "programmer"), rows,
        [f"{len(active)} aktive brugere: " + ", ".join(f"{n} {role}" for role, n in sorted(by_role.items())),
         f"{len(rows) - len(active)} lukkede brugere"],
        "Rekonstrueret fra brugertabellen og revisionssporets ændringer efter årets udgang (user.add, user.change).")


def _user_changes(entries: list[Entry]) -> Section:
    rows = [(local(e.at), e.username, e.action, e.entity_id or "", e.detail.get("field", ""),
             json.dumps(e.detail.get("before"), ensure_ascii=False) if "before" in e.detail else "",
             json.dumps(e.detail.get("after"), ensure_ascii=False) if "after" in e.detail else "",
             json.dumps({k: v for k, v in e.detail.items() if k not in ("field", "before", "after")},
                        ensure_ascii=False))
            for e in entries if e.action in USER_ACTIONS]
    counts = Counter(r[2] for r in rows)
    return Section(
        "brugeraendringer", "Ændringer af brugere i året / Changes of users during the year",
        "Brugeradministration: oprettelse, lukning, rettighedsændringer og nulstilling af adgangskoder er "
        "registreret med hvem, hvem og før/efter (ISO 27001 A.5.16, A.5.18; GDPR art. 32, stk. 4)",
        ("tidspunkt", "aendret_af", "handling", "bruger_id", "felt", "foer", "efter", "oevrigt"), rows,
        [", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "ingen"])


def _logins(entries: list[Entry]) -> tuple[Section, Section]:
    per_user: dict[str, Counter[str]] = defaultdict(Counter)
    events = []
    for e in entries:
        if e.action not in LOGIN_ACTIONS:
            continue
        per_user[e.username][e.action] += 1
        if e.action != "login":
            events.append((local(e.at), e.username, e.action, e.detail.get("cause", ""),
                           e.detail.get("event", ""), e.detail.get("until", ""), e.detail.get("failures", ""),
                           e.detail.get("address", "")))
    rows = [(name, c["login"], c["login.failed"], c["login.locked"]) for name, c in sorted(per_user.items())]
    locks = sum(1 for ev in events if ev[2] == "login.locked")
    summary = Section(
        "logins", "Log-ind pr. bruger / Logins per user",
        "Autentifikation: log-ind, mislykkede forsøg og spærringer registreres (ISO 27001 A.5.17, A.8.5, A.8.15)",
        ("brugernavn", "login", "mislykkede", "spaerringer"), rows,
        [f"{sum(r[1] for r in rows)} log-ind, {sum(r[2] for r in rows)} mislykkede, {locks} spærringshændelser",
         "'anonym' er forsøg med et ukendt brugernavn (navnet som skrevet gemmes aldrig)."])
    detail = Section(
        "login_fejl_og_spaerringer", "Mislykkede log-ind og spærringer / Failed logins and lockouts",
        "Beskyttelse mod gætteangreb: forsinkelse og spærring efter gentagne fejl (ISO 27001 A.8.5)",
        ("tidspunkt", "brugernavn", "handling", "aarsag", "haendelse", "spaerret_til", "fejl_i_traek", "adresse"),
        events, [f"{len(events)} hændelser"])
    return summary, detail


def unusual_days(per_user_day: dict[str, dict[dt.date, int]]) -> list[tuple[str, dt.date, int, float, str]]:
    """(user, day, reads, the user's median, why) for every flagged day (rule: module docstring)."""
    every = sorted(n for days in per_user_day.values() for n in days.values())
    threshold = every[min(len(every) - 1, int(UNUSUAL_PERCENTILE * len(every)))] if every else 0
    flagged = []
    for user, days in sorted(per_user_day.items()):
        median = statistics.median(days.values())
        for day, n in sorted(days.items()):
            if n < UNUSUAL_MINIMUM:
                continue
            reasons = []
            if n > UNUSUAL_FACTOR * median:
                reasons.append(f"> {UNUSUAL_FACTOR:g} x egen median")
            if n >= threshold and len(every) >= 100:
                reasons.append("øverste 1 % af alle bruger-dage")
            if reasons:
                flagged.append((user, day, n, median, "; ".join(reasons)))
    return flagged


def _reads(entries: list[Entry]) -> tuple[Section, Section]:
    per_user_day: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for e in entries:
        if e.action in READ_ACTIONS:
            per_user_day[e.username][e.at.astimezone(DANISH_ZONE).date()] += 1
    rows = []
    for user, days in sorted(per_user_day.items()):
        counts = list(days.values())
        rows.append((user, sum(counts), len(counts), statistics.median(counts), max(counts)))
    flagged = unusual_days(per_user_day)
    summary = Section(
        "opslag_pr_bruger", "Opslag i identificerbare data pr. bruger / Reads of identified data per user",
        "Logning og overvågning af adgang til personoplysninger (ISO 27001 A.8.15, A.8.16; GDPR art. 32)",
        ("brugernavn", "opslag_i_alt", "dage_med_opslag", "median_pr_dag", "hoejeste_dag"), rows,
        [f"{sum(r[1] for r in rows)} opslag ({', '.join(READ_ACTIONS)}) af {len(rows)} brugere",
         f"Regel for usædvanlige dage: mere end {UNUSUAL_FACTOR:g} gange brugerens egen median pr. dag, eller blandt "
         f"de øverste {100 * (1 - UNUSUAL_PERCENTILE):g} % af alle bruger-dage (når året har mindst 100); altid "
         f"mindst {UNUSUAL_MINIMUM} opslag på dagen."])
    unusual = Section(
        "usaedvanlige_opslag", "Usædvanligt mange opslag / Unusual volumes of reads",
        "Opfølgning på usædvanlig adgang (ISO 27001 A.8.16): dagene herunder bør være forklaret af den dataansvarlige",
        ("brugernavn", "dag", "opslag", "brugerens_median", "begrundelse"),
        [(u, d.isoformat(), n, m, why) for u, d, n, m, why in flagged], [f"{len(flagged)} markerede dage"])
    return summary, unusual


_RECIPIENTS: dict[str, Callable[[Entry], str]] = {
    "dhrd.export": lambda e: "DHRD (Dansk Hjerterehabiliteringsdatabase)",
    "extract.individual": lambda e: f"kommune {e.municipality} (bestilt af {e.username})",
    "extract.aggregate": lambda e: f"kommune {e.municipality} (bestilt af {e.username})",
    "snapshot.create": lambda e: ("forskningsmiljøet (pseudonymiseret)" if e.detail.get("pseudonymised")
                                  else "datamappen (identificerbart øjebliksbillede)"),
    "store.backup": lambda e: "sikkerhedskopi",
    "audit.export": lambda e: f"revisionsspor til {e.username}",
    "citizen.export": lambda e: f"borgeren selv (indsigt, art. 15), udleveret af {e.username}",
}


def _exports(conn: Connection, entries: list[Entry], start: dt.datetime, end: dt.datetime) -> Section:
    transfers = {str(r.id): r for r in conn.execute(select(transfer_log).where(
        transfer_log.c.created_at >= start, transfer_log.c.created_at < end))}
    rows = []
    for e in entries:
        if e.action not in EXPORT_ACTIONS:
            continue
        transfer = transfers.get(e.entity_id or "") if e.action == "dhrd.export" else None
        checksum = (f"sha256:{transfer.data_sha256}" if transfer is not None
                    else f"sha256:{e.detail['sha256'].replace(':', '')}" if "sha256" in e.detail
                    else "ikke registreret")
        what = (f"{transfer.target} {transfer.period}, {transfer.row_count} rækker, {transfer.location}" if transfer
                else e.detail.get("file") or e.entity_id or "")
        rows.append((local(e.at), e.action, e.username, _RECIPIENTS[e.action](e), e.municipality or "", what,
                     e.detail.get("rows", e.detail.get("courses", "")), checksum))
    counts = Counter(r[1] for r in rows)
    return Section(
        "udleveringer", "Udtræk, overførsler og kopier / Exports, extracts and transfers",
        "Videregivelse kun efter instruks og med sporbarhed: modtager og kontrolsum pr. fil (GDPR art. 28, stk. 3, "
        "litra a; art. 30, stk. 2; ISO 27001 A.5.14)",
        ("tidspunkt", "handling", "bruger", "modtager", "kommune", "fil_eller_periode", "raekker_eller_forloeb",
         "kontrolsum"), rows,
        [", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "ingen",
         "DHRD-overførsler med kontrolsum fra transfer_log; udtræk har ingen registreret kontrolsum."])


def _erasures(entries: list[Entry]) -> Section:
    rows = [(local(e.at), e.action, e.username, e.entity, e.entity_id or "", e.municipality or "",
             json.dumps(e.detail, ensure_ascii=False)) for e in entries if e.action.startswith(ERASURE_PREFIXES)]
    return Section(
        "sletning_begraensning_opbevaring", "Sletning, begrænsning og opbevaringsperioder / Erasure, restriction "
        "and retention",
        "De registreredes rettigheder og opbevaringsbegrænsning (GDPR art. 17, 18 og 5, stk. 1, litra e)",
        ("tidspunkt", "handling", "bruger", "enhed", "id", "kommune", "detaljer"), rows,
        [f"{len(rows)} hændelser" if rows else "ingen"],
        f"Alle handlinger, der begynder med {', '.join(ERASURE_PREFIXES)}.")


def _denials(entries: list[Entry]) -> Section:
    rows = [(local(e.at), e.username, e.detail.get("attempted", ""), e.entity, e.entity_id or "",
             e.municipality or "", e.detail.get("reason", ""), e.detail.get("address", ""))
            for e in entries if e.action == audit.DENIED]
    counts = Counter(r[2] for r in rows)
    return Section(
        "afviste_adgange", "Afviste adgange / Refused accesses",
        "Adgangskontrol håndhæves og afvisninger logges (ISO 27001 A.8.3, A.8.15)",
        ("tidspunkt", "bruger", "forsoegt", "enhed", "id", "kommune", "aarsag", "adresse"), rows,
        [f"{len(rows)} afvisninger" + (": " + ", ".join(f"{n} {a}" for a, n in counts.most_common(8)) if rows else "")])


_HEADER = re.compile(r"^(Revision ID|Revises|Create Date):[ \t]*(.*)$", re.M)


def migrations(current: str | None) -> list[tuple[str, str, str, str, str]]:
    """(revision, revises, date, title, applied) of every migration file, oldest first."""
    found = []
    for path in sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py")):
        source = path.read_text(encoding="utf-8")
        doc = source.split('"""')[1] if source.count('"""') >= 2 else ""
        fields = dict(_HEADER.findall(doc))
        found.append((fields.get("Revision ID", path.stem), fields.get("Revises", ""), fields.get("Create Date", ""),
                      doc.strip().splitlines()[0] if doc.strip() else path.stem))
    order = [f[0] for f in found]
    upto = order.index(current) if current in order else -1
    return [(*f, "ja" if i <= upto else "nej") for i, f in enumerate(found)]


def _schema(store: Store) -> Section:
    current = store.schema_revision()
    rows = migrations(current)
    return Section(
        "skemamigreringer", "Databaseskema og migreringer / Schema migrations",
        "Ændringsstyring: databasens skema ændres kun gennem versionerede migreringer (ISO 27001 A.8.32)",
        ("revision", "bygger_paa", "dato", "beskrivelse", "anvendt"), rows,
        [f"Databasens skema er revision {current} (alembic_version); {sum(r[4] == 'ja' for r in rows)} af "
         f"{len(rows)} migreringer er anvendt."],
        "Datoen er migreringens 'Create Date'; hvornår den blev anvendt her, viser første software.start med den "
        "version.")


def _software(entries: list[Entry]) -> Section:
    seen: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if e.action == SOFTWARE_START:
            seen[str(e.detail.get("version", e.entity_id))].append(e)
    rows = [(version, local(starts[0].at), local(starts[-1].at), len(starts),
             ", ".join(sorted({str(s.detail.get("command", "")) for s in starts})))
            for version, starts in sorted(seen.items(), key=lambda kv: kv[1][0].at)]
    return Section(
        "softwareversioner", "Kørte softwareversioner / Software versions run",
        "Ændringsstyring og sporbarhed: hvilken version af HjerteKom behandlede data hvornår (ISO 27001 A.8.32)",
        ("version", "foerste_start", "sidste_start", "starter", "kommandoer"), rows,
        [", ".join(r[0] for r in rows) or "ingen registreret"])


def collect(store: Store, year: int) -> list[Section]:
    """Every section of the year's report."""
    start, end = year_bounds(year)
    with store.read() as conn:
        entries = _entries(conn, start, end, actions=(*USER_ACTIONS, *LOGIN_ACTIONS, *READ_ACTIONS,
                                                      *EXPORT_ACTIONS, audit.DENIED, SOFTWARE_START),
                           prefixes=ERASURE_PREFIXES)
        sections = [_users_at_year_end(conn, end), _user_changes(entries), *_logins(entries), *_reads(entries),
                    _exports(conn, entries, start, end), _erasures(entries), _denials(entries)]
    return [*sections, _schema(store), _software(entries)]


# --- writing -------------------------------------------------------------------------------------------

def _csv(section: Section) -> str:
    from hjertekom_core.export.formulas import csv_cell

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(section.columns)
    writer.writerows([csv_cell(v) for v in row] for row in section.rows)
    return out.getvalue()


_CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 8.5pt; color: #222; }
h1 { color: #8b1e2d; font-size: 16pt; } h2 { color: #8b1e2d; font-size: 12pt; margin-top: 18pt;
  page-break-after: avoid; }
.control { background: #f4f6f8; border-left: 3px solid #8b1e2d; padding: 4pt 8pt; }
table { border-collapse: collapse; width: 100%; margin-top: 6pt; }
th, td { border-bottom: 1px solid #ddd; padding: 2pt 4pt; text-align: left; vertical-align: top;
  word-break: break-word; }
th { background: #eee; } .none { font-style: italic; }
"""


def html_page(sections: Sequence[Section], year: int, made: dt.datetime, made_by: str, store_name: str) -> str:
    parts = [f"<h1>HjerteKom: dokumentation til revisionen {year} / evidence for the audit {year}</h1>",
             f"<p>Udarbejdet {local(made)} af {html.escape(made_by)}; HjerteKom {__version__}; datalager "
             f"{html.escape(store_name)}. Perioden er 1. januar – 31. december {year} (dansk tid). Hver sektion "
             "findes også som CSV med alle rækker; manifest.json har filernes SHA-256.</p>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.append(f'<p class="control"><b>Kontrol / control:</b> {html.escape(section.control)}</p>')
        parts.extend(f"<p>{html.escape(line)}</p>" for line in section.summary)
        if section.note:
            parts.append(f"<p><i>{html.escape(section.note)}</i></p>")
        if not section.rows:
            parts.append('<p class="none">Ingen rækker / no rows.</p>')
            continue
        head = "".join(f"<th>{html.escape(c)}</th>" for c in section.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in section.rows[:PDF_ROWS])
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if len(section.rows) > PDF_ROWS:
            parts.append(f"<p>Viser {PDF_ROWS} af {len(section.rows)} rækker; alle står i {section.key}.csv.</p>")
    return (f'<!DOCTYPE html><html lang="da"><head><meta charset="utf-8"><title>Revision {year}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")


@dataclass(frozen=True)
class AuditReport:
    folder: Path
    files: tuple[Path, ...]
    sections: tuple[Section, ...]

    def describe(self) -> str:
        lines = [f"Audit report written to {self.folder}:"]
        lines += [f"  {s.key}: {len(s.rows)} row(s)" for s in self.sections]
        return "\n".join(lines)


def write_report(store: Store, actor: User, year: int, out_dir: Path, *, chromium: Path = Path("/usr/bin/chromium"),
                 now: dt.datetime | None = None) -> AuditReport:
    """The evidence pack for ``year`` in a new 0700 folder below ``out_dir``: the PDF, one CSV per
    section and manifest.json. Needs ``audit.read`` (a refusal is audited); audited as ``audit.report``."""
    import hashlib
    import os

    from hjertekom_core.private_files import private_dir, private_temp_dir
    from hjertekom_core.reports.pdf import PdfPrinter

    audit.require(store, actor, "audit.read", "audit_log")
    made = now or audit.now()
    sections = collect(store, year)
    page = html_page(sections, year, made, actor.username, store.describe())
    with PdfPrinter(chromium) as printer:
        pdf = printer.pdf(page, f"HjerteKom revision {year}")
    private_dir(out_dir, tighten=False)
    name = f"revision-{year}-{made.astimezone(DANISH_ZONE):%Y%m%dT%H%M%S}"
    with private_temp_dir(out_dir, name) as tmp:
        contents: dict[str, bytes] = {f"revision-{year}.pdf": pdf}
        for section in sections:
            contents[f"{section.key}.csv"] = _csv(section).encode("utf-8-sig")
        manifest = {"year": year, "made": made.isoformat(timespec="seconds"), "made_by": actor.username,
                    "version": __version__, "files": {n: hashlib.sha256(b).hexdigest() for n, b in contents.items()}}
        contents["manifest.json"] = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        for file_name, data in contents.items():
            fd = os.open(tmp / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        folder = out_dir / name
        os.rename(tmp, folder)
    with store.write() as conn:
        audit.record(conn, actor, "audit.report", "audit_log", name, None,
                     {"year": year, "sha256_pdf": audit_safe_hex(manifest["files"][f"revision-{year}.pdf"]),
                      "sections": {s.key: len(s.rows) for s in sections}})
    return AuditReport(folder, tuple(sorted(folder.iterdir())), tuple(sections))
