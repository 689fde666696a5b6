"""Group statistics through statsmodels: one row format for every test (``stats.csv``).

Every test returns a :class:`StatRow` with the columns of ``stats.csv``:
``comparison, phase, test, n_a, n_b, statistic, p, p_holm, effect, effect_ci_low,
effect_ci_high, primary``. Effects are in the endpoint's own unit (percentage points of
time on the stimulated side, cm/s, ...) with their 95 % confidence interval, except the
omnibus test, whose effect is Cohen's f² with the CI of the noncentral F.

Why statsmodels (not pingouin): it has all of it in one maintained library: Welch tests
with the Welch CI of the mean difference (``CompareMeans``), Welch's ANOVA with an effect
size CI (``stats.oneway``), Holm's correction (``multipletests``), linear mixed models
(``mixedlm``) and OLS with a covariate; pingouin wraps the same models and adds seaborn
and more dependencies.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

STATS_COLUMNS = (
    "comparison", "phase", "test", "n_a", "n_b", "statistic", "p", "p_holm",
    "effect", "effect_ci_low", "effect_ci_high", "primary",
)


@dataclass(frozen=True)
class StatRow:
    comparison: str
    phase: str
    test: str
    n_a: int
    n_b: int | None
    statistic: float | None
    p: float | None
    p_holm: float | None = None
    effect: float | None = None
    effect_ci_low: float | None = None
    effect_ci_high: float | None = None
    primary: bool = False
    note: str = ""

    def as_csv(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("note")
        return row


def _f(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _caught(func: Any) -> tuple[Any, str]:
    """Run ``func``; return (result or None, the warnings/errors as one note)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func()
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError) as err:
            return None, str(err)
    return result, "; ".join(sorted({str(w.message).splitlines()[0] for w in caught}))


def welch(comparison: str, phase: str, a: NDArray[np.float64], b: NDArray[np.float64], what: str) -> StatRow:
    """Welch two-sample t-test; effect = mean(a) - mean(b) with the Welch 95 % CI."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

    test = f"Welch t-test ({what}; effect: mean difference a - b)"
    if a.size < 2 or b.size < 2:
        return StatRow(comparison, phase, test, int(a.size), int(b.size), None, None, note="n < 2 in a group")

    def run() -> tuple[Any, Any]:
        t, p, _df = ttest_ind(a, b, usevar="unequal")
        ci = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(usevar="unequal")
        return (t, p), ci

    result, note = _caught(run)
    if result is None:
        return StatRow(comparison, phase, test, int(a.size), int(b.size), None, None, note=note)
    (t, p), (low, high) = result
    return StatRow(
        comparison, phase, test, int(a.size), int(b.size), _f(t), _f(p),
        effect=_f(np.mean(a) - np.mean(b)), effect_ci_low=_f(low), effect_ci_high=_f(high), note=note,
    )


def paired(comparison: str, phase: str, diff: NDArray[np.float64], what: str) -> StatRow:
    """One-sample t-test of paired differences against 0; effect = mean difference, t CI."""
    from statsmodels.stats.weightstats import DescrStatsW

    test = f"paired t-test ({what}; effect: mean difference)"
    if diff.size < 2:
        return StatRow(comparison, phase, test, int(diff.size), int(diff.size), None, None, note="n < 2")

    def run() -> tuple[Any, Any]:
        d = DescrStatsW(diff)
        return d.ttest_mean(0.0), d.tconfint_mean()

    result, note = _caught(run)
    if result is None:
        return StatRow(comparison, phase, test, int(diff.size), int(diff.size), None, None, note=note)
    (t, p, _df), (low, high) = result
    return StatRow(
        comparison, phase, test, int(diff.size), int(diff.size), _f(t), _f(p),
        effect=_f(np.mean(diff)), effect_ci_low=_f(low), effect_ci_high=_f(high), note=note,
    )


def omnibus(comparison: str, phase: str, samples: list[NDArray[np.float64]], what: str) -> StatRow:
    """Welch's one-way ANOVA; effect = Cohen's f² with the 95 % CI of the noncentral F."""
    from statsmodels.stats.oneway import anova_oneway, confint_effectsize_oneway, effectsize_oneway

    test = f"Welch one-way ANOVA ({what}; effect: Cohen's f2)"
    n_total = int(sum(s.size for s in samples))
    if len(samples) < 2 or any(s.size < 2 for s in samples):
        return StatRow(comparison, phase, test, n_total, None, None, None, note="n < 2 in a group")

    def run() -> tuple[Any, Any, Any]:
        res = anova_oneway(samples, use_var="unequal")
        f2 = effectsize_oneway(
            np.array([np.mean(s) for s in samples]), np.array([np.var(s, ddof=1) for s in samples]),
            np.array([s.size for s in samples], dtype=np.float64), use_var="unequal",
        )
        ci = confint_effectsize_oneway(res.statistic, (res.df_num, res.df_denom), nobs=n_total)
        return res, f2, ci

    result, note = _caught(run)
    if result is None:
        return StatRow(comparison, phase, test, n_total, None, None, None, note=note)
    res, f2, ci = result
    return StatRow(
        comparison, phase, test, n_total, None, _f(res.statistic), _f(res.pvalue),
        effect=_f(f2), effect_ci_low=_f(ci.f2[0]), effect_ci_high=_f(ci.f2[1]), note=note,
    )


def side_covariate(phase: str, values: list[float], groups: list[str], sides: list[str]) -> StatRow:
    """OLS ``endpoint ~ group + stim_side``: does the stimulated side matter? Effect = the
    right-minus-left coefficient with its 95 % CI."""
    import pandas as pd
    import statsmodels.formula.api as smf

    test = "OLS endpoint ~ C(group) + C(stim_side) (effect: right - left)"
    n_left, n_right = sides.count("left"), sides.count("right")
    if n_left < 1 or n_right < 1 or len(values) < len(set(groups)) + 2:
        return StatRow("stim side (covariate)", phase, test, n_left, n_right, None, None,
                       note="both sides and enough animals needed")
    frame = pd.DataFrame({"y": values, "group": groups, "side": sides})

    def run() -> Any:
        return smf.ols("y ~ C(group) + C(side, Treatment('left'))", data=frame).fit()

    fit, note = _caught(run)
    term = "C(side, Treatment('left'))[T.right]"
    if fit is None or term not in fit.params.index:
        return StatRow("stim side (covariate)", phase, test, n_left, n_right, None, None, note=note)
    low, high = fit.conf_int().loc[term]
    return StatRow(
        "stim side right vs left (covariate)", phase, test, n_left, n_right,
        _f(fit.tvalues[term]), _f(fit.pvalues[term]),
        effect=_f(fit.params[term]), effect_ci_low=_f(low), effect_ci_high=_f(high), note=note,
    )


def time_course(
    phase: str, animal: list[str], group: list[str], minute: list[float], value: list[float],
    order: list[str],
) -> tuple[list[StatRow], Any]:
    """Linear mixed model ``stim_pct ~ C(group) * minute`` with a random intercept per animal
    (REML). One row per group x minute interaction term: the difference in slope (pp per
    minute) from the reference group, Wald z, p and 95 % CI. Returns (rows, fit or None)."""
    import pandas as pd
    import statsmodels.formula.api as smf

    frame = pd.DataFrame({"y": value, "animal": animal, "group": group, "minute": minute})
    reference = order[0]
    test = "linear mixed model y ~ C(group) * minute, random intercept per animal (effect: slope difference, pp/min)"
    if frame["animal"].nunique() < 3 or frame["minute"].nunique() < 2:
        return [StatRow(f"time course: group x minute", phase, test, int(frame["animal"].nunique()), None,
                        None, None, note="too few animals or bins")], None

    def run() -> Any:
        model = smf.mixedlm(
            f"y ~ C(group, Treatment('{reference}')) * minute", frame, groups=frame["animal"]
        )
        return model.fit(reml=True)

    fit, note = _caught(run)
    rows: list[StatRow] = []
    if fit is None:
        return [StatRow("time course: group x minute", phase, test, int(frame["animal"].nunique()), None,
                        None, None, note=note)], None
    ci = fit.conf_int()
    for other in order[1:]:
        term = f"C(group, Treatment('{reference}'))[T.{other}]:minute"
        if term not in fit.params.index:
            continue
        n_a = int(frame.loc[frame["group"] == other, "animal"].nunique())
        n_b = int(frame.loc[frame["group"] == reference, "animal"].nunique())
        rows.append(
            StatRow(
                f"time course: {other} vs {reference} (group x minute)", phase, test, n_a, n_b,
                _f(fit.tvalues[term]), _f(fit.pvalues[term]),
                effect=_f(fit.params[term]), effect_ci_low=_f(ci.loc[term][0]),
                effect_ci_high=_f(ci.loc[term][1]), note=note,
            )
        )
    return rows, fit


def holm(rows: list[StatRow]) -> list[StatRow]:
    """Holm-correct the p-values of the secondary rows as one family (primary rows keep
    their p as p_holm: the single pre-declared test is not corrected)."""
    from statsmodels.stats.multitest import multipletests

    secondary = [i for i, r in enumerate(rows) if not r.primary and r.p is not None]
    out = list(rows)
    if secondary:
        corrected = multipletests([rows[i].p for i in secondary], method="holm")[1]
        for i, p in zip(secondary, corrected, strict=True):
            out[i] = replace(rows[i], p_holm=_f(p))
    for i, r in enumerate(rows):
        if r.primary:
            out[i] = replace(r, p_holm=r.p)
    return out
