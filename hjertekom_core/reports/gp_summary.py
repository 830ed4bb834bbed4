"""What the course summary asks of the GP, and who answers for it.

``follow_up`` reads the measures of ``citizen.course_report_data`` (the latest registered meeting:
the end, or the start before there is an end) against the treatment targets of the configuration
(``followup_targets``: LDL and blood pressure unconfirmed, alcohol after the Danish Health
Authority) and the instruments' own limits (HADS 8 or more), and says per value outside its target
what the GP is asked to follow up. A value the course never measured is flagged too: the GP should
know it is missing rather than read its absence as normal.

``responsible`` names the clinician who answers for the course (the one who registered its end
meeting, or its start before that), with phone and e-mail from their user profile or, where that
is empty, the municipality's contact setting (``municipality_contacts``). A system job never signs.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from hjertekom_core.access import ROLE_LABELS
from hjertekom_core.contract import Text
from hjertekom_core.formatting import format_number
from hjertekom_core.service import Course, Service
from hjertekom_core.store.schema import users
from hjertekom_core.users import contact_of

HADS_ATTENTION = 8  # 8-10 borderline, 11-21 probable case (docs/domain.md)
SMOKER_CODES = frozenset({"daily", "occasional"})

TEXTS: dict[str, Text] = {
    "ldl": Text("LDL-kolesterol {value} (mål: under {target} mmol/L)",
                "LDL cholesterol {value} (target: below {target} mmol/L)"),
    "ldl_do": Text("Vurdér den kolesterolsænkende behandling, og kontrollér LDL igen.",
                   "Review the lipid-lowering treatment and check LDL again."),
    "bp": Text("Blodtryk {value} mmHg (mål: under {target} mmHg)",
               "Blood pressure {value} mmHg (target: below {target} mmHg)"),
    "bp_do": Text("Kontrollér blodtrykket, og vurdér den blodtrykssænkende behandling.",
                  "Check the blood pressure and review the antihypertensive treatment."),
    "hads_anxiety": Text("HADS angst {value} (8 eller derover: tegn på angst)",
                         "HADS anxiety {value} (8 or more: signs of anxiety)"),
    "hads_depression": Text("HADS depression {value} (8 eller derover: tegn på depression)",
                            "HADS depression {value} (8 or more: signs of depression)"),
    "hads_do": Text("Tal med borgeren om trivsel og humør; vurdér behov for behandling eller henvisning.",
                    "Talk with the citizen about mood and wellbeing; consider treatment or referral."),
    "smoking": Text("Ryger fortsat ({value})", "Still smoking ({value})"),
    "smoking_do": Text("Støt rygestop, fx henvisning til kommunens rygestoptilbud eller Stoplinien.",
                       "Support smoking cessation, e.g. the municipality's programme or the national quitline."),
    "alcohol": Text("Alkohol {value} om ugen (anbefaling: højst {target})",
                    "Alcohol {value} a week (recommendation: at most {target})"),
    "alcohol_do": Text("Tal med borgeren om at nedsætte alkoholforbruget.",
                       "Talk with the citizen about drinking less alcohol."),
    "missing": Text("{label}: ikke målt", "{label}: not measured"),
    "missing_do": Text("Mål værdien ved næste kontrol.", "Measure it at the next check-up."),
    "at_start": Text("ved start", "at the start"),
    "none": Text("Ingen af de fulgte værdier ligger uden for målene. Egen læge anmodes om sædvanlig opfølgning "
                 "af hjertesygdommen.",
                 "None of the values followed are outside their targets. The GP is asked for the usual "
                 "follow-up of the heart disease."),
    "team": Text("Hjerterehabiliteringen i {municipality}", "The cardiac rehabilitation team of {municipality}"),
}
#: The measures the follow-up reads; a missing one is flagged as "not measured".
FOLLOWED = ("ldl", "bp_systolic", "hads_anxiety", "hads_depression", "smoking", "alcohol_units_week")


def _t(key: str, lang: str) -> str:
    return TEXTS[key].get(lang)


def _number(cell: Mapping[str, Any]) -> float | None:
    value = cell.get("value")
    if cell.get("state") != "value" or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _latest(row: Mapping[str, Any], has_end: bool, lang: str) -> tuple[Mapping[str, Any], str]:
    """The end value when the end has one, else the start value marked "ved start"."""
    if has_end and row["end"]["state"] == "value":
        return row["end"], ""
    if row["start"]["state"] == "value":
        return row["start"], f" ({_t('at_start', lang)})" if has_end else ""
    return (row["end"] if has_end else row["start"]), ""


def _flag(key: str, finding: str, advice: str) -> dict[str, str]:
    return {"key": key, "finding": finding, "advice": advice}


def follow_up(measures: Sequence[Mapping[str, Any]], has_end: bool, targets: Mapping[str, float],
              lang: str = "da") -> dict[str, Any]:
    """The values outside their targets, each with what the GP is asked to do (``flags``), and the
    text to show when there are none (``none``)."""
    rows = {r["key"]: r for r in measures}
    flags: list[dict[str, str]] = []

    def fmt(value: float, decimals: int = 0) -> str:
        return format_number(value, decimals, lang)

    ldl = rows.get("ldl")
    if ldl is not None:
        cell, when = _latest(ldl, has_end, lang)
        value = _number(cell)
        if value is None:
            flags.append(_flag("ldl", _t("missing", lang).format(label=ldl["label"]), _t("missing_do", lang)))
        elif value >= targets["ldl"]:
            flags.append(_flag("ldl", _t("ldl", lang).format(value=cell["text"] + when, target=fmt(targets["ldl"], 1)),
                               _t("ldl_do", lang)))
    sys_row, dia_row = rows.get("bp_systolic"), rows.get("bp_diastolic")
    if sys_row is not None and dia_row is not None:
        sys_cell, when = _latest(sys_row, has_end, lang)
        dia_cell, _ = _latest(dia_row, has_end, lang)
        sys_value, dia_value = _number(sys_cell), _number(dia_cell)
        if sys_value is None:
            flags.append(_flag("bp", _t("missing", lang).format(label=sys_row["label"]), _t("missing_do", lang)))
        elif sys_value >= targets["bp_systolic"] or (dia_value is not None and dia_value >= targets["bp_diastolic"]):
            shown = fmt(sys_value) + (f"/{fmt(dia_value)}" if dia_value is not None else "") + when
            target = f"{fmt(targets['bp_systolic'])}/{fmt(targets['bp_diastolic'])}"
            flags.append(_flag("bp", _t("bp", lang).format(value=shown, target=target), _t("bp_do", lang)))
    for key in ("hads_anxiety", "hads_depression"):
        row = rows.get(key)
        if row is None:
            continue
        cell, when = _latest(row, has_end, lang)
        value = _number(cell)
        if value is not None and value >= HADS_ATTENTION:
            flags.append(_flag(key, _t(key, lang).format(value=cell["text"] + when), _t("hads_do", lang)))
    smoking = rows.get("smoking")
    if smoking is not None:
        cell, when = _latest(smoking, has_end, lang)
        if cell["state"] == "value" and cell["value"] in SMOKER_CODES:
            flags.append(_flag("smoking", _t("smoking", lang).format(value=cell["text"].lower() + when),
                               _t("smoking_do", lang)))
    alcohol = rows.get("alcohol_units_week")
    if alcohol is not None:
        cell, when = _latest(alcohol, has_end, lang)
        value = _number(cell)
        if value is not None and value > targets["alcohol_units_week"]:
            flags.append(_flag("alcohol", _t("alcohol", lang).format(
                value=fmt(value) + (" genstande" if lang == "da" else " units") + when,
                target=fmt(targets["alcohol_units_week"])), _t("alcohol_do", lang)))
    return {"flags": flags, "none": _t("none", lang)}


def _signer_id(service: Service, course: Course, roles: Mapping[str, str]) -> int | None:
    """Who answers for the course: the person who registered the end meeting (its latest complete
    revision), else the start meeting, else the person printing the summary."""
    for role in ("end", "start"):
        done = [r for r in course.history if r.form == roles[role] and r.status == "complete" and r.user_id]
        if done:
            return done[-1].user_id
    return service.user.id


def responsible(service: Service, course: Course, roles: Mapping[str, str], municipality: Mapping[str, Any],
                contacts: Mapping[int, Mapping[str, str]], lang: str = "da") -> dict[str, Any]:
    """Name, role, phone and e-mail of the responsible clinician, and the team's contact."""
    team = dict(contacts.get(int(municipality["code"]), {}))
    team_name = team.get("name") or _t("team", lang).format(municipality=municipality["name"])
    user_id = _signer_id(service, course, roles)
    name = role = None
    phone = email = None
    with service.store.read() as conn:
        row = None if user_id is None else conn.execute(
            select(users.c.display_name, users.c.role).where(users.c.id == user_id)).first()
        if row is not None:
            name, role = row.display_name, ROLE_LABELS[row.role][lang]
            details = contact_of(conn, user_id)
            phone, email = details.phone, details.email
    return {"name": name, "role": role, "team": team_name,
            # The clinician's own line where the profile has one, else the team's.
            "phone": phone or team.get("phone"), "email": email or team.get("email"),
            "from_profile": bool(phone or email)}

