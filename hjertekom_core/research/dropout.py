"""Who drops out of the course: proportions by group and a logistic regression.

Definition: a course is *followed to its end* when its start and end registrations are both
complete and the end registration says how the course ended (``course_status``). It is a
*drop-out* when ``course_status`` is ``dropped_out`` for any reason but death. A course that ended
because the citizen died is neither completed nor dropped out (death is not a choice to stop, and
is more common in the oldest): it is left out of the shares and the model and counted (K1 counts it
as not completed; the reasons table shows it). Courses started but without a complete end
registration (ongoing, or never closed) are left out and counted. Baseline values are those of the
start registration.

The regression's standard errors are cluster-robust by municipality (statsmodels
``cov_type="cluster"``): courses of one municipality share its practice, so they are not
independent, and model-based errors would be too narrow. It is a complete-case analysis: the
courses it leaves out, and which variable was unknown, are counted and shown.
"""
from __future__ import annotations

import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import matplotlib.ticker
import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib.figure import Figure

from hjertekom_core.contract import Text
from hjertekom_core.indicators import wilson
from hjertekom_core.research.cohort import DiagnosisGroups, course_frame, group_order
from hjertekom_core.research.plots import figure_html
from hjertekom_core.research.tables import (
    Labeller,
    fmt,
    fmt_percent,
    heading,
    html_table,
    paragraph,
    protect_counts,
)

FACTORS: tuple[str, ...] = ("all", "age_band", "sex", "diagnosis_group", "municipality",
                            "start_hads_anxiety_band", "start_hads_depression_band", "start_smoking")
PROPORTION_COLUMNS = ["factor", "group", "n", "dropped_out", "proportion", "ci_low", "ci_high"]
#: A diagnosis group with fewer courses than this (or with no drop-out, or only drop-outs) is left
#: out of the regression with its courses: its odds ratio could not be estimated.
MIN_LEVEL = 10
SMOKERS = ("daily", "occasional")
DEATH = "death"
NON_SMOKERS = ("former", "never")


def followed_courses(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups) -> pd.DataFrame:
    """Courses followed to their end (see the module text), with ``dropped_out`` 0/1."""
    frame = course_frame(con, groups)
    followed = frame[frame["start_complete"] & frame["end_complete"] & frame["course_status"].notna()]
    followed = followed[~_died(followed)].copy()
    followed["dropped_out"] = (followed["course_status"] == "dropped_out").astype(int)
    followed["all"] = "all"
    followed["municipality"] = followed["municipality_code"]
    return followed.reset_index(drop=True)


def _died(frame: pd.DataFrame) -> pd.Series:
    return (frame["course_status"] == "dropped_out") & (frame["dropout_reason"] == DEATH)


def counts(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups) -> dict[str, int]:
    """Started courses, those followed to their end (deaths not counted), drop-outs, deaths, and
    those without an end."""
    frame = course_frame(con, groups)
    started = frame["start_complete"]
    ended = started & frame["end_complete"] & frame["course_status"].notna()
    died = ended & _died(frame)
    followed = ended & ~died
    return {"started": int(started.sum()), "followed": int(followed.sum()),
            "dropped_out": int((followed & (frame["course_status"] == "dropped_out")).sum()),
            "died": int(died.sum()), "no_end": int((started & ~ended).sum())}


#: The reason table's last row: every drop-out (the shares' denominator, shown).
TOTAL = "all"


def dropout_proportions(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                        factors: Sequence[str] = FACTORS, *, threshold: int | None = None) -> pd.DataFrame:
    """Per factor and group: courses followed (n), drop-outs, proportion and Wilson 95 % CI.

    Exact counts; with ``threshold`` as anyone may see them: every grouping (municipality, sex,
    age ...) is a breakdown of the same courses, so ``protect_counts`` withholds what one grouping
    would give away about another (``disclosure``).
    """
    frame = followed_courses(con, groups)
    rows, members, dropped = [], [], []
    for factor in factors:
        for group in group_order(frame[factor], factor, groups):
            part = frame[frame[factor].isna()] if group is None else frame[frame[factor] == group]
            rows.append({"factor": factor, "group": group, "n": len(part),
                         "dropped_out": int(part["dropped_out"].sum())})
            members.append(frozenset(part.index))
            dropped.append(frozenset(part.index[part["dropped_out"] == 1]))
    out = pd.DataFrame(rows, columns=PROPORTION_COLUMNS[:4])
    n, x = out["n"].to_numpy(dtype=float), out["dropped_out"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["proportion"] = np.where(n > 0, x / n, np.nan)
    out["ci_low"], out["ci_high"] = wilson(x, n)
    out = out[PROPORTION_COLUMNS]
    if threshold is None:
        return out
    return protect_counts(out, {"n": members, "dropped_out": dropped}, denominator="n",
                          shares=("proportion", "ci_low", "ci_high"), threshold=threshold)


def dropout_reasons(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups, *,
                    threshold: int | None = None) -> pd.DataFrame:
    """Courses ended early per registered reason, with their share of all of them (the last row: all
    of them), death included here as the reason it is. With ``threshold``: as anyone may see them
    (``protect_counts``)."""
    frame = course_frame(con, groups)
    dropped = frame[frame["start_complete"] & frame["end_complete"] & (frame["course_status"] == "dropped_out")]
    reasons = list(dropped["dropout_reason"].value_counts(dropna=False).index)
    parts = [dropped[dropped["dropout_reason"].isna()] if pd.isna(r) else dropped[dropped["dropout_reason"] == r]
             for r in reasons]
    out = pd.DataFrame({"reason": [*reasons, TOTAL], "n": [len(p) for p in parts] + [len(dropped)]})
    out["proportion"] = out["n"] / max(len(dropped), 1)
    if threshold is None:
        return out
    atoms = [frozenset(p.index) for p in parts] + [frozenset(dropped.index)]
    return protect_counts(out, {"n": atoms}, denominator="n", shares=("proportion",), threshold=threshold)


# --- the regression -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """A covariate: a name, a label, and its value per course (NaN where unknown)."""

    name: str
    label: Text
    values: Callable[[pd.DataFrame], pd.Series]


def _smoker(frame: pd.DataFrame) -> pd.Series:
    smoking = frame["start_smoking"]
    return pd.Series(np.where(smoking.isin(SMOKERS), 1.0, np.where(smoking.isin(NON_SMOKERS), 0.0, np.nan)),
                     index=frame.index)


def _at_least(column: str, limit: float) -> Callable[[pd.DataFrame], pd.Series]:
    def values(frame: pd.DataFrame) -> pd.Series:
        score = frame[column].astype(float)
        return (score >= limit).astype(float).where(score.notna())
    return values


TERMS: tuple[Term, ...] = (
    Term("age_per_10_years", Text("Alder ved start (pr. 10 år)", "Age at start (per 10 years)"),
         lambda f: f["age_at_start"].astype(float) / 10),
    Term("female", Text("Kvinde (ref.: mand)", "Female (ref.: male)"),
         lambda f: f["sex"].map({"F": 1.0, "M": 0.0}).astype(float)),
    Term("hads_anxiety_8_plus", Text("HADS angst ≥ 8 ved start", "HADS anxiety ≥ 8 at start"),
         _at_least("start_hads_anxiety", 8)),
    Term("hads_depression_8_plus", Text("HADS depression ≥ 8 ved start", "HADS depression ≥ 8 at start"),
         _at_least("start_hads_depression", 8)),
    Term("smoker", Text("Ryger ved start (dagligt/lejlighedsvis; ref.: tidligere/aldrig)",
                        "Smoker at start (daily/occasional; ref.: former/never)"), _smoker),
)


@dataclass(frozen=True)
class DropoutModel:
    """Odds ratios of dropping out (``table``: term, odds_ratio, ci_low, ci_high, p_value)."""

    table: pd.DataFrame
    n: int                      # courses in the model
    events: int                 # drop-outs among them
    left_out: int               # followed courses not in the model (an unknown covariate, a group left out)
    reference_group: str        # the diagnosis group the others are compared with
    left_out_groups: tuple[str, ...] = field(default_factory=tuple)
    design: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    clusters: int = 0           # municipalities (the clusters of the robust errors)
    missing: dict[str, int] = field(default_factory=dict)  # per variable: followed courses where it is unknown
    in_left_out_groups: int = 0  # complete cases left out with their diagnosis group


def missing_by_variable(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                        terms: Sequence[Term] = TERMS) -> dict[str, int]:
    """Per variable of the model (and ``diagnosis_group``): followed courses where it is unknown.
    A course may miss several, so these do not add up to the courses left out."""
    frame = followed_courses(con, groups)
    out = {t.name: int(t.values(frame).isna().sum()) for t in terms}
    out["diagnosis_group"] = int(frame["diagnosis_group"].isna().sum())
    return out


def model_frame(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                terms: Sequence[Term] = TERMS) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """The complete cases: ``dropped_out``, one column per term and one 0/1 column per diagnosis group
    (``diagnosis_group[<group>]``) but the reference, and ``municipality`` (the cluster, not a
    covariate); with the reference and the groups left out."""
    frame = followed_courses(con, groups)
    data = pd.DataFrame({t.name: t.values(frame) for t in terms}, index=frame.index)
    data["dropped_out"] = frame["dropped_out"].astype(float)
    data["diagnosis_group"] = frame["diagnosis_group"]
    data["municipality"] = frame["municipality_code"]
    data = data.dropna()
    by_group = data.groupby("diagnosis_group")["dropped_out"].agg(["size", "sum"])
    usable = by_group[(by_group["size"] >= MIN_LEVEL) & (by_group["sum"] > 0) & (by_group["sum"] < by_group["size"])]
    kept = [g for g in groups.order if g in usable.index]
    if not kept:
        raise ValueError("too few courses followed to their end for a regression")
    left_out = tuple(g for g in groups.order if g in by_group.index and g not in kept)
    data = data[data["diagnosis_group"].isin(kept)]
    for group in kept[1:]:
        data[f"diagnosis_group[{group}]"] = (data["diagnosis_group"] == group).astype(float)
    return data.drop(columns="diagnosis_group"), kept[0], left_out


def dropout_model(con: duckdb.DuckDBPyConnection, groups: DiagnosisGroups,
                  terms: Sequence[Term] = TERMS, level: float = 0.95) -> DropoutModel:
    """Logistic regression (GLM, binomial, logit link) of drop-out on the terms and the diagnosis
    group, with standard errors cluster-robust by municipality."""
    data, reference, left_out_groups = model_frame(con, groups, terms)
    y = data["dropped_out"]
    clusters = data["municipality"].astype(int).to_numpy()
    x = sm.add_constant(data.drop(columns=["dropped_out", "municipality"]), has_constant="add")
    with warnings.catch_warnings():
        # Separation or a non-converging fit is reported as such, not as a warning in a report.
        warnings.simplefilter("error")
        fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    ci = fit.conf_int(alpha=1 - level)
    table = pd.DataFrame({"term": fit.params.index, "odds_ratio": np.exp(fit.params.to_numpy()),
                          "ci_low": np.exp(ci[0].to_numpy()), "ci_high": np.exp(ci[1].to_numpy()),
                          "p_value": fit.pvalues.to_numpy()})
    table = table[table["term"] != "const"].reset_index(drop=True)
    followed = followed_courses(con, groups)
    complete = pd.DataFrame({t.name: t.values(followed) for t in terms}).assign(
        dx=followed["diagnosis_group"]).notna().all(axis=1)
    return DropoutModel(table, len(data), int(y.sum()), len(followed) - len(data), reference, left_out_groups, data,
                        clusters=len(np.unique(clusters)), missing=missing_by_variable(con, groups, terms),
                        in_left_out_groups=int(complete.sum()) - len(data))


# --- what the notebook shows ---------------------------------------------------------------------

_TEXTS = {
    "title": Text("Hvem ophører før tid?", "Who drops out?"),
    "definition": Text(
        "Ophør: slutregistreringen er færdig, og forløbsstatus er »ophørt før tid« af en anden årsag end død. "
        "Grundlag: forløb med færdig start- og slutregistrering ({followed} forløb, heraf {dropped_out} ophørt). "
        "{died} forløb endte, fordi borgeren døde: de er hverken gennemført eller ophørt og er ikke med i "
        "andelene og modellen (K1 tæller dem som ikke gennemført). "
        "{no_end} startede forløb uden færdig slutregistrering (i gang eller ikke afsluttet) er ikke med.",
        "Drop-out: the end registration is complete and the course status is 'dropped out' for a reason other "
        "than death. Basis: courses with complete start and end registrations ({followed} courses, "
        "{dropped_out} dropped out). {died} courses ended because the citizen died: neither completed nor "
        "dropped out, they are left out of the shares and the model (K1 counts them as not completed). "
        "{no_end} started courses without a complete end registration (ongoing or never closed) are left out."),
    "suppressed": Text("Antal fra 1 til {t1} vises som »< {threshold}«, »..« er et antal, der er holdt tilbage, så "
                       "et lille tal ikke kan regnes ud af de andre, og andelen skjules, hvor nævneren er under "
                       "{threshold} eller et antal er skjult. 95 % konfidensinterval: Wilson.",
                       "Counts from 1 to {t1} show as '< {threshold}', '..' is a count withheld so that a small "
                       "one cannot be worked out from the others, and the proportion is hidden where the "
                       "denominator is below {threshold} or a count is hidden. 95 % CI: Wilson."),
    "proportions": Text("Andel ophørt", "Proportion dropped out"),
    "reasons": Text("Årsager til ophør (død medregnet som årsag)", "Reasons for dropping out (death included as a reason)"),
    "model": Text("Logistisk regression", "Logistic regression"),
    "model_text": Text(
        "Odds ratio for ophør med 95 % konfidensinterval, justeret for alle variable i tabellen "
        "(GLM, binomial, logit). Standardfejlene er klynge-robuste efter kommune ({clusters} kommuner): "
        "forløb i samme kommune ligner hinanden. {n} forløb med alle oplysninger ({events} ophørt). "
        "Diagnosegrupper sammenlignes med {reference}.",
        "Odds ratios of dropping out with 95 % confidence intervals, each adjusted for every variable in the "
        "table (GLM, binomial, logit). Standard errors are cluster-robust by municipality ({clusters} "
        "municipalities): courses of one municipality are alike. {n} courses with complete data ({events} "
        "dropped out). Diagnosis groups are compared with {reference}."),
    "complete_case": Text(
        "Analysen af komplette forløb udelader {left_out} af {followed} forløb ({share}): {missing}. "
        "Et forløb kan mangle flere oplysninger.",
        "The complete-case analysis leaves out {left_out} of {followed} courses ({share}): {missing}. "
        "A course may miss several values."),
    "missing_one": Text("{label} ukendt i {n}", "{label} unknown in {n}"),
    "in_groups": Text("{n} i udeladte diagnosegrupper", "{n} in diagnosis groups left out"),
    "forest": Text("Odds ratioer (logaritmisk akse; 1 = ingen forskel)", "Odds ratios (log axis; 1 = no difference)"),
    "forest_alt": Text("Forest plot: odds ratio for ophør med 95 % konfidensinterval for {terms}.",
                       "Forest plot: odds ratio of dropping out with 95 % confidence interval for {terms}."),
    "more_dropout": Text("flere ophør →", "more drop-out →"), "less_dropout": Text("← færre ophør", "← less drop-out"),
    "left_out_groups": Text("Udeladt (for få forløb eller ingen variation): {groups}.",
                            "Left out (too few courses or no variation): {groups}."),
}


def _t(key: str, names: Labeller, **values: object) -> str:
    return _TEXTS[key].get(names.lang).format(**values)


def proportions_html(shown: pd.DataFrame, names: Labeller, threshold: int = 5) -> str:
    """The table of ``dropout_proportions(..., threshold=...)``: counts as they may be shown."""
    parts = [heading(_t("proportions", names), 2), paragraph(_t("suppressed", names, t1=threshold - 1,
                                                                 threshold=threshold))]
    for factor, part in shown.groupby("factor", sort=False):
        table = pd.DataFrame({
            names.column("group"): [names.factor("all") if factor == "all" else names.value(str(factor), g)
                                        for g in part["group"]],
            names.column("n"): part["n"].astype(str),
            names.column("dropped_out"): part["dropped_out"].astype(str),
            names.column("proportion"): [fmt_percent(p, 1, names.lang) for p in part["proportion"]],
            names.column("ci"): [f"({fmt_percent(lo, 1, names.lang)}; {fmt_percent(hi, 1, names.lang)})"
                                 if pd.notna(lo) else "" for lo, hi in zip(part["ci_low"], part["ci_high"])],
        })
        parts.append(heading(names.factor(str(factor)), 3))
        parts.append(html_table(table, [names.column(k) for k in ("n", "dropped_out", "proportion", "ci")]))
    return "\n".join(parts)


def reasons_html(shown: pd.DataFrame, names: Labeller) -> str:
    """The table of ``dropout_reasons(..., threshold=...)``: counts as they may be shown."""
    table = pd.DataFrame({
        names.column("reason"): [names.factor("all") if r == TOTAL else names.value("dropout_reason", r)
                                 for r in shown["reason"]],
        names.column("n"): shown["n"].astype(str),
        "%": [fmt_percent(p, 1, names.lang) for p in shown["proportion"]],
    })
    return heading(_t("reasons", names), 2) + "\n" + html_table(table, [names.column("n"), "%"])


def term_label(term: str, names: Labeller, terms: Sequence[Term] = TERMS) -> str:
    by_name = {t.name: t.label for t in terms}
    if term in by_name:
        return by_name[term].get(names.lang)
    if term.startswith("diagnosis_group["):
        return f"{names.factor('diagnosis_group')}: {names.value('diagnosis_group', term[16:-1])}"
    return term


def forest_figure(model: DropoutModel, names: Labeller) -> Figure:
    """Odds ratios with their 95 % CIs on one logarithmic axis, a line at 1; black and white."""
    table = model.table.iloc[::-1]  # the first term at the top
    labels = ["\n".join(textwrap.wrap(term_label(t, names), 44)) for t in table["term"]]
    fig = Figure(figsize=(8.0, 0.42 * len(table) + 1.0))
    ax = fig.subplots()
    y = np.arange(len(table))
    ax.hlines(y, table["ci_low"], table["ci_high"], color="black", linewidth=1.2)
    ax.plot(table["odds_ratio"], y, marker="s", linestyle="none", color="black", markersize=5)
    ax.axvline(1, color="black", linestyle="--", linewidth=0.9)
    ax.set_xscale("log")
    low = min(0.5, float(table["ci_low"].min()) * 0.9)
    high = max(2.0, float(table["ci_high"].max()) * 1.1)
    ax.set_xlim(low, high)
    ticks = [v for v in (0.1, 0.25, 0.5, 1, 2, 4, 10) if low <= v <= high]
    ax.set_xticks(ticks, [fmt(v, 2 if v < 1 else 0, names.lang) for v in ticks], fontsize=8)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"{_t('less_dropout', names)}   {names.column('odds_ratio')}   {_t('more_dropout', names)}",
                  fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def complete_case_text(model: DropoutModel, names: Labeller) -> str:
    """How many courses the complete-case analysis leaves out, and which values were unknown."""
    followed = model.n + model.left_out
    parts = [_t("missing_one", names, label=term_label(k, names) if k != "diagnosis_group" else
                names.factor("diagnosis_group"), n=v) for k, v in model.missing.items() if v]
    if model.in_left_out_groups:
        parts.append(_t("in_groups", names, n=model.in_left_out_groups))
    share = fmt_percent(model.left_out / followed if followed else 0, 1, names.lang)
    return _t("complete_case", names, left_out=model.left_out, followed=followed, share=share,
              missing="; ".join(parts) or "–")


def model_html(model: DropoutModel, names: Labeller) -> str:
    lang = names.lang
    table = pd.DataFrame({
        names.column("term"): [term_label(t, names) for t in model.table["term"]],
        names.column("odds_ratio"): [fmt(v, 2, lang) for v in model.table["odds_ratio"]],
        names.column("ci"): [f"({fmt(lo, 2, lang)}; {fmt(hi, 2, lang)})" for lo, hi in
                             zip(model.table["ci_low"], model.table["ci_high"])],
        names.column("p_value"): [f"< {fmt(0.001, 3, lang)}" if p < 0.001 else fmt(p, 3, lang)
                                  for p in model.table["p_value"]],
    })
    terms = ", ".join(term_label(t, names) for t in model.table["term"])
    parts = [heading(_t("model", names), 2),
             paragraph(_t("model_text", names, n=model.n, events=model.events, clusters=model.clusters,
                          reference=names.value("diagnosis_group", model.reference_group).lower())),
             paragraph(complete_case_text(model, names)),
             html_table(table, [names.column(k) for k in ("odds_ratio", "ci", "p_value")]),
             heading(_t("forest", names), 3),
             figure_html(forest_figure(model, names), _t("forest_alt", names, terms=terms))]
    if model.left_out_groups:
        parts.append(paragraph(_t("left_out_groups", names, groups=", ".join(
            names.value("diagnosis_group", g) for g in model.left_out_groups))))
    return "\n".join(parts)


def intro_html(numbers: dict[str, int], names: Labeller) -> str:
    return heading(_t("title", names), 1) + "\n" + paragraph(_t("definition", names, **numbers))
