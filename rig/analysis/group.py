"""``rig group``: per-phase metrics of many sessions, paired plots and group statistics.

Unit of analysis: one session per animal. Within each group, baseline vs test stim %
(paired t-test, Wilcoxon signed-rank; effect sizes Cohen's dz and matched-pairs
rank-biserial r). Between groups (each pair of groups), the difference score
(test stim % - baseline stim %): Welch t-test and Mann-Whitney U, with Cohen's d (pooled
SD) and rank-biserial r. Definitions: ``docs/analysis.md``.

Everything is validated (groups file, sessions, animals) before the output folder is
created; session folders are only read.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rig.analysis.records import RecordError
from rig.analysis.report import phase_rows_tidy, write_csv
from rig.analysis.summary import compute_summary
from rig.errors import ConfigError


@dataclass(frozen=True)
class GroupResult:
    out_dir: Path
    markdown_text: str
    animals: list[dict[str, Any]]
    within: list[dict[str, Any]]
    between: list[dict[str, Any]]


def read_groups(path: Path) -> dict[str, str]:
    """animal -> group from a CSV with header ``animal,group``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: file not found") from err
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ConfigError(f"{path}: empty file (expected a header row: animal,group)")
    header = [h.strip().lower() for h in rows[0]]
    if "animal" not in header or "group" not in header:
        raise ConfigError(f"{path}: line 1: header must name columns animal and group, got {rows[0]}")
    a, g = header.index("animal"), header.index("group")
    groups: dict[str, str] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(a, g):
            raise ConfigError(f"{path}: line {line_no}: expected animal,group, got {row}")
        animal, group = row[a].strip(), row[g].strip()
        if not animal or not group:
            raise ConfigError(f"{path}: line {line_no}: animal and group must not be empty")
        if animal in groups and groups[animal] != group:
            raise ConfigError(
                f"{path}: line {line_no}: animal {animal}: listed in two groups "
                f"({groups[animal]} and {group})"
            )
        groups[animal] = group
    if not groups:
        raise ConfigError(f"{path}: no animals listed")
    return groups


def _quiet(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """Call a scipy test; return (result or None, note) instead of raising or warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(*args, **kwargs)
        except ValueError as err:
            return None, str(err)
    note = "; ".join(sorted({str(w.message) for w in caught}))
    return result, note


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def cohen_dz(diff: np.ndarray) -> float | None:
    if diff.size < 2:
        return None
    sd = float(np.std(diff, ddof=1))
    return float(np.mean(diff)) / sd if sd > 0 else None


def cohen_d_pooled(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2 or b.size < 2:
        return None
    pooled = math.sqrt(
        ((a.size - 1) * np.var(a, ddof=1) + (b.size - 1) * np.var(b, ddof=1)) / (a.size + b.size - 2)
    )
    return float(np.mean(a) - np.mean(b)) / pooled if pooled > 0 else None


def rank_biserial_paired(diff: np.ndarray) -> float | None:
    """Matched-pairs rank-biserial r = (R+ - R-) / (R+ + R-), zero differences dropped."""
    from scipy.stats import rankdata

    d = diff[diff != 0]
    if d.size == 0:
        return None
    ranks = rankdata(np.abs(d))
    plus, minus = float(ranks[d > 0].sum()), float(ranks[d < 0].sum())
    return (plus - minus) / (plus + minus)


def within_group_stats(group: str, baseline: np.ndarray, test: np.ndarray) -> dict[str, Any]:
    from scipy import stats

    diff = test - baseline
    t_res, t_note = _quiet(stats.ttest_rel, test, baseline) if diff.size >= 2 else (None, "n < 2")
    w_res, w_note = _quiet(stats.wilcoxon, test, baseline) if diff.size >= 1 else (None, "n < 1")
    return {
        "group": group,
        "n": int(diff.size),
        "baseline_stim_pct_mean": _finite(np.mean(baseline)) if baseline.size else None,
        "test_stim_pct_mean": _finite(np.mean(test)) if test.size else None,
        "difference_mean": _finite(np.mean(diff)) if diff.size else None,
        "difference_sd": _finite(np.std(diff, ddof=1)) if diff.size >= 2 else None,
        "paired_t": _finite(t_res.statistic) if t_res is not None else None,
        "paired_t_df": int(diff.size - 1) if t_res is not None else None,
        "paired_t_p": _finite(t_res.pvalue) if t_res is not None else None,
        "cohen_dz": cohen_dz(diff),
        "wilcoxon_w": _finite(w_res.statistic) if w_res is not None else None,
        "wilcoxon_p": _finite(w_res.pvalue) if w_res is not None else None,
        "rank_biserial_r": rank_biserial_paired(diff),
        "notes": "; ".join(n for n in (t_note, w_note) if n),
    }


def between_group_stats(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> dict[str, Any]:
    from scipy import stats

    t_res, t_note = (
        _quiet(stats.ttest_ind, a, b, equal_var=False)
        if a.size >= 2 and b.size >= 2
        else (None, "n < 2 in a group")
    )
    u_res, u_note = (
        _quiet(stats.mannwhitneyu, a, b, alternative="two-sided")
        if a.size and b.size
        else (None, "empty group")
    )
    u = _finite(u_res.statistic) if u_res is not None else None
    return {
        "group_a": name_a,
        "group_b": name_b,
        "n_a": int(a.size),
        "n_b": int(b.size),
        "difference_mean_a": _finite(np.mean(a)) if a.size else None,
        "difference_mean_b": _finite(np.mean(b)) if b.size else None,
        "welch_t": _finite(t_res.statistic) if t_res is not None else None,
        "welch_df": _finite(t_res.df) if t_res is not None else None,
        "welch_p": _finite(t_res.pvalue) if t_res is not None else None,
        "cohen_d": cohen_d_pooled(a, b),
        "mann_whitney_u": u,
        "mann_whitney_p": _finite(u_res.pvalue) if u_res is not None else None,
        "rank_biserial_r": (2 * u / (a.size * b.size) - 1) if u is not None else None,
        "notes": "; ".join(n for n in (t_note, u_note) if n),
    }


def _paired_figure(animals: list[dict[str, Any]], groups: list[str]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(groups) + 3.2, 3.8), layout="constrained")
    colours = ["#1f77b4", "#7f7f7f", "#2ca02c", "#d62728", "#9467bd"]
    axes = [fig.add_subplot(1, len(groups) + 1, k + 1) for k in range(len(groups) + 1)]
    for k, group in enumerate(groups):
        ax = axes[k]
        rows = [a for a in animals if a["group"] == group and a["test_stim_pct"] is not None
                and a["baseline_stim_pct"] is not None]
        for a in rows:
            ax.plot([0, 1], [a["baseline_stim_pct"], a["test_stim_pct"]], "o-",
                    color=colours[k % len(colours)], alpha=0.6, ms=4)
        if rows:
            b = np.mean([a["baseline_stim_pct"] for a in rows])
            t = np.mean([a["test_stim_pct"] for a in rows])
            ax.plot([0, 1], [b, t], "s-", color="black", lw=2.5, ms=7, label="mean")
            ax.legend(fontsize=7, loc="upper right")
        ax.axhline(50, color="grey", lw=0.8, ls=":")
        ax.set_xticks([0, 1], ["baseline", "test"])
        ax.set_xlim(-0.3, 1.3)
        ax.set_ylim(0, 100)
        ax.set_ylabel("time on stimulated side (%)")
        ax.set_title(f"{group} (n={len(rows)})", fontsize=10)
    ax = axes[-1]
    rng = np.random.default_rng(0)
    for k, group in enumerate(groups):
        values = [a["difference_score_pct"] for a in animals
                  if a["group"] == group and a["difference_score_pct"] is not None]
        jitter = rng.uniform(-0.12, 0.12, len(values))
        ax.plot(k + jitter, values, "o", color=colours[k % len(colours)], alpha=0.7, ms=5)
        if values:
            mean = float(np.mean(values))
            sem = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
            ax.errorbar(k + 0.3, mean, yerr=sem, fmt="s", color="black", capsize=4, ms=6)
    ax.axhline(0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(groups)), groups)
    ax.set_xlim(-0.5, len(groups) - 0.3)
    ax.set_ylabel("difference score (test - baseline stim %)")
    ax.set_title("Difference score (mean ± SEM)", fontsize=10)
    return fig


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _markdown(
    animals: list[dict[str, Any]], within: list[dict[str, Any]], between: list[dict[str, Any]]
) -> str:
    lines = ["# Group analysis", "", "## Animals", "",
             "| animal | group | baseline stim % | test stim % | difference | baseline bias % | session |",
             "|---|---|---:|---:|---:|---:|---|"]
    for a in animals:
        lines.append(
            f"| {a['animal_id']} | {a['group']} | {_fmt(a['baseline_stim_pct'], '.1f')} | "
            f"{_fmt(a['test_stim_pct'], '.1f')} | {_fmt(a['difference_score_pct'], '+.1f')} | "
            f"{_fmt(a['baseline_side_bias_pct'], '.1f')} | {a['session']} |"
        )
    lines += ["", "## Within group: baseline vs test stim % (paired)", "",
              "| group | n | baseline mean | test mean | diff mean | paired t (df) | p | Cohen's dz | Wilcoxon W | p | rank-biserial r |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w in within:
        lines.append(
            f"| {w['group']} | {w['n']} | {_fmt(w['baseline_stim_pct_mean'], '.1f')} | "
            f"{_fmt(w['test_stim_pct_mean'], '.1f')} | {_fmt(w['difference_mean'], '+.1f')} | "
            f"{_fmt(w['paired_t'])} ({_fmt(w['paired_t_df'])}) | {_fmt(w['paired_t_p'])} | "
            f"{_fmt(w['cohen_dz'])} | {_fmt(w['wilcoxon_w'])} | {_fmt(w['wilcoxon_p'])} | "
            f"{_fmt(w['rank_biserial_r'])} |"
        )
    lines += ["", "## Between groups: difference score", "",
              "| groups | n | diff means | Welch t (df) | p | Cohen's d | Mann-Whitney U | p | rank-biserial r |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in between:
        lines.append(
            f"| {b['group_a']} vs {b['group_b']} | {b['n_a']} / {b['n_b']} | "
            f"{_fmt(b['difference_mean_a'], '+.1f')} / {_fmt(b['difference_mean_b'], '+.1f')} | "
            f"{_fmt(b['welch_t'])} ({_fmt(b['welch_df'])}) | {_fmt(b['welch_p'])} | "
            f"{_fmt(b['cohen_d'])} | {_fmt(b['mann_whitney_u'])} | {_fmt(b['mann_whitney_p'])} | "
            f"{_fmt(b['rank_biserial_r'])} |"
        )
    notes = [f"- {w['group']}: {w['notes']}" for w in within if w["notes"]]
    notes += [f"- {b['group_a']} vs {b['group_b']}: {b['notes']}" for b in between if b["notes"]]
    if notes:
        lines += ["", "Notes from the tests:", "", *notes]
    lines += [
        "",
        "Two-sided tests. Baseline = first phase with mode off, test = first closed_loop phase. "
        "Effect sizes: Cohen's dz = mean(diff)/SD(diff); Cohen's d = mean difference / pooled SD; "
        "rank-biserial r: matched-pairs (R+ - R-)/(R+ + R-) within, 2U/(n_a n_b) - 1 between "
        "(positive: first group larger). See docs/analysis.md.",
    ]
    return "\n".join(lines) + "\n"


def run_group(sessions: list[Path], groups_csv: Path, out_dir: Path) -> GroupResult:
    """Compute everything, then write ``out_dir`` (which must not exist)."""
    if out_dir.exists():
        raise ConfigError(f"--out: {out_dir} already exists; choose a new folder (nothing is overwritten)")
    groups = read_groups(groups_csv)
    summaries: list[tuple[Path, dict[str, Any]]] = []
    seen: dict[str, Path] = {}
    for session in sessions:
        summary = compute_summary(session)
        animal = summary.get("animal_id")
        if not animal:
            raise RecordError(f"{session / 'session.json'}: animal_id: missing")
        if animal not in groups:
            raise ConfigError(
                f"{groups_csv}: animal {animal} (session {session.name}) is not listed; add a row "
                f"'{animal},GROUP'"
            )
        if animal in seen:
            raise ConfigError(
                f"animal {animal}: two sessions given ({seen[animal].name} and {session.name}); "
                "pass one session per animal"
            )
        seen[animal] = session
        summaries.append((session, summary))
    if not summaries:
        raise ConfigError("no sessions given")

    tidy: list[dict[str, Any]] = []
    animals: list[dict[str, Any]] = []
    for session, summary in summaries:
        group = groups[summary["animal_id"]]
        for row in phase_rows_tidy(summary):
            tidy.append({"session": session.name, "group": group, **row})
        phases = {p["phase"]: p for p in summary["phases"]}
        base = phases.get(summary.get("baseline_phase") or "")
        test = phases.get(summary.get("test_phase") or "")
        animals.append({
            "animal_id": summary["animal_id"],
            "group": group,
            "session": session.name,
            "complete": summary["complete"],
            "baseline_phase": summary.get("baseline_phase"),
            "test_phase": summary.get("test_phase"),
            "baseline_stim_pct": base["time_pct"]["stim"] if base else None,
            "test_stim_pct": test["time_pct"]["stim"] if test else None,
            "difference_score_pct": summary.get("difference_score_pct"),
            "baseline_side_bias_pct": summary.get("baseline_side_bias_pct"),
        })
    group_names = sorted({a["group"] for a in animals})
    within = []
    scores: dict[str, np.ndarray] = {}
    for group in group_names:
        rows = [a for a in animals if a["group"] == group
                and a["baseline_stim_pct"] is not None and a["test_stim_pct"] is not None]
        base = np.array([a["baseline_stim_pct"] for a in rows], dtype=np.float64)
        test = np.array([a["test_stim_pct"] for a in rows], dtype=np.float64)
        within.append(within_group_stats(group, base, test))
        scores[group] = test - base
    between = [
        between_group_stats(a, scores[a], b, scores[b])
        for a, b in itertools.combinations(group_names, 2)
    ]
    markdown = _markdown(animals, within, between)
    fig = _paired_figure(animals, group_names)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)

    out_dir.mkdir(parents=True, exist_ok=False)
    write_csv(out_dir / "sessions_phases.csv", tidy)
    write_csv(out_dir / "animals.csv", animals)
    write_csv(out_dir / "stats_within.csv", within)
    write_csv(out_dir / "stats_between.csv", between)
    (out_dir / "paired.png").write_bytes(png.getvalue())
    fig.savefig(out_dir / "paired.pdf")
    with open(out_dir / "stats.md", "x", encoding="utf-8") as handle:
        handle.write(markdown + "\n![paired plot](paired.png)\n")
    encoded = base64.b64encode(png.getvalue()).decode("ascii")
    with open(out_dir / "stats.html", "x", encoding="utf-8") as handle:
        handle.write(
            "<!doctype html><html><head><meta charset='utf-8'><title>optorig group analysis</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto}"
            "pre{white-space:pre-wrap}</style></head><body>"
            f"<pre>{html.escape(markdown)}</pre>"
            f"<img alt='paired plot' style='max-width:100%' src='data:image/png;base64,{encoded}'>"
            "</body></html>"
        )
    return GroupResult(out_dir, markdown, animals, within, between)
