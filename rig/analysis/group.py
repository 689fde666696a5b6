"""``rig group``: a cohort's sessions -> a pre-declared primary test, corrected secondary
tests, a time course model, group heatmaps and the tables behind them.

Order of work (nothing is written until everything is computed and checked):

1. **Groups** from the cohort file (``--cohort cohort.csv``, see ``rig.cohort``) or the
   older ``--groups`` CSV (``animal,group``). One session per animal.
2. **Guardrails**: sessions of different protocols (name, version, sha256) are refused
   unless ``allow_mixed_protocols``; exclusions are applied and listed with reasons
   (incomplete, simulated unless ``include_simulated``, baseline side bias above the
   declared limit, lost tracking above the declared %, laser-follow audit failed);
   fewer than 5 animals in a group gives a warning.
3. **Declared analysis** (``group.yaml``, else the protocol's ``analysis`` section, else
   the default): the primary endpoint (difference score = stim % in the test phase minus
   baseline, or stim % in the test phase) compared between groups: Welch t-test for two
   groups, Welch ANOVA for more. It is reported first and not corrected.
4. **Secondary tests**, Holm-corrected together: pairwise group comparisons (more than two
   groups), every other phase's difference score between groups (reversal, post-test ...),
   every phase vs baseline within each group, the stimulated side as a covariate, the
   1-min time course of the primary phase (mixed model, group x minute, random animal),
   speed and immobility in the stimulated compartment.

Statistics: ``rig.analysis.groupstats`` (statsmodels). Definitions: docs/analysis.md.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rig.analysis import groupstats as gs
from rig.analysis import metrics as m
from rig.analysis.records import RecordError, load_yaml_text, read_session_header
from rig.analysis.report import phase_rows_tidy, write_csv
from rig.analysis.summary import compute_summary_from, read_calibration_dict, read_record
from rig.errors import ConfigError

MIN_N_PER_GROUP = 5
DEFAULT_BIAS_MAX_PCT = 65.0
DEFAULT_LOST_MAX_PCT = 10.0
BIN_S = 60.0


@dataclass(frozen=True)
class Declared:
    """The analysis declared before looking at the data."""

    endpoint: str = "difference_score"  # or "stim_pct"
    phase: str | None = None  # default: the first closed_loop phase
    baseline_phase: str | None = None  # default: the first off phase
    order: tuple[str, ...] = ()  # group order (a vs b); default sorted
    bias_max_pct: float = DEFAULT_BIAS_MAX_PCT
    lost_max_pct: float = DEFAULT_LOST_MAX_PCT
    include_simulated: bool = False
    source: str = "default"


@dataclass
class GroupResult:
    out_dir: Path
    markdown_text: str
    animals: list[dict[str, Any]]
    stats: list[gs.StatRow]
    excluded: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def read_groups(path: Path) -> dict[str, str]:
    """animal -> group from a CSV with header ``animal,group`` (the older groups file)."""
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


_DECL_KEYS = {"primary": {"endpoint", "phase", "baseline_phase", "groups"},
              "exclusions": {"baseline_bias_max_pct", "lost_tracking_max_pct", "include_simulated"}}


def read_declared(path: Path | None, protocol: dict[str, Any]) -> Declared:
    """``group.yaml`` (if given), else the protocol's ``analysis`` section, else defaults."""
    data: dict[str, Any] = {}
    source = "default"
    analysis = protocol.get("analysis") if isinstance(protocol.get("analysis"), dict) else None
    if path is not None:
        try:
            loaded = load_yaml_text(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except Exception as err:  # noqa: BLE001 - YAML errors become one line
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected `key: value` lines (primary:, exclusions:)")
        for key, value in loaded.items():
            if key not in _DECL_KEYS:
                raise ConfigError(f"{path}: {key}: unknown section (valid: primary, exclusions)")
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key}: expected a group of `key: value` lines")
            for sub in value:
                if sub not in _DECL_KEYS[key]:
                    raise ConfigError(
                        f"{path}: {key}.{sub}: unknown field (valid: {', '.join(sorted(_DECL_KEYS[key]))})"
                    )
        data = loaded
        source = str(path)
        if analysis:
            declared_primary = data.get("primary", {})
            for key, proto_key in (("endpoint", "primary_endpoint"), ("phase", "primary_phase")):
                if key in declared_primary and proto_key in analysis and declared_primary[key] != analysis[proto_key]:
                    raise ConfigError(
                        f"{path}: primary.{key}: {declared_primary[key]!r} contradicts the "
                        f"protocol's analysis.{proto_key} {analysis[proto_key]!r}"
                    )
    elif analysis:
        data = {"primary": {
            "endpoint": analysis.get("primary_endpoint", "difference_score"),
            "phase": analysis.get("primary_phase"),
            "baseline_phase": analysis.get("baseline_phase"),
        }}
        source = "protocol analysis section"
    primary = data.get("primary", {}) or {}
    exclusions = data.get("exclusions", {}) or {}
    endpoint = str(primary.get("endpoint", "difference_score"))
    if endpoint not in ("difference_score", "stim_pct"):
        raise ConfigError(f"{source}: primary.endpoint: must be difference_score or stim_pct, got {endpoint!r}")
    groups = primary.get("groups") or []
    if not isinstance(groups, list):
        raise ConfigError(f"{source}: primary.groups: expected a list like [ChR2, eYFP]")

    def number(key: str, default: float) -> float:
        value = exclusions.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: exclusions.{key}: expected a number, got {value!r}")
        return float(value)

    return Declared(
        endpoint=endpoint,
        phase=primary.get("phase"),
        baseline_phase=primary.get("baseline_phase"),
        order=tuple(str(g) for g in groups),
        bias_max_pct=number("baseline_bias_max_pct", DEFAULT_BIAS_MAX_PCT),
        lost_max_pct=number("lost_tracking_max_pct", DEFAULT_LOST_MAX_PCT),
        include_simulated=bool(exclusions.get("include_simulated", False)),
        source=source,
    )


# ------------------------------------------------------------------ per-session data
@dataclass
class SessionData:
    path: Path
    summary: dict[str, Any]
    header: dict[str, Any]
    protocol: dict[str, Any]
    bins: list[tuple[str, int, float]]  # (phase, minute, stim %)
    heat: np.ndarray | None  # occupancy fraction per 1 cm bin, stimulated side on the left
    heat_extent: tuple[float, float]


def _bins(frames: Any) -> list[tuple[str, int, float]]:
    durations = m.frame_durations_s(frames)
    labels = m.stim_labels(frames)
    out: list[tuple[str, int, float]] = []
    for name, start, stop in frames.phase_runs():
        t = frames.t_s[start:stop] - frames.t_s[start]
        d = durations[start:stop]
        stim = labels[start:stop] == "stim"
        index = (t // BIN_S).astype(np.int64)
        for b in np.unique(index):
            sel = index == b
            total = float(d[sel].sum())
            # only full minutes (a last partial bin would be noisy)
            if total >= 0.95 * BIN_S:
                out.append((name, int(b), 100.0 * float(d[sel & stim].sum()) / total))
    return out


def _heat(frames: Any, phase: str, width: float, length: float) -> np.ndarray | None:
    durations = m.frame_durations_s(frames)
    sel = (frames.phase == phase) & np.isfinite(frames.x_cm) & np.isfinite(frames.y_cm)
    if not sel.any():
        return None
    x = frames.x_cm[sel].copy()
    y = frames.y_cm[sel]
    side = frames.stim_side[sel]
    x[side == "right"] = width - x[side == "right"]  # stimulated side always on the left
    hist, _, _ = np.histogram2d(
        y, x, bins=(max(1, int(round(length))), max(1, int(round(width)))),
        range=((0, length), (0, width)), weights=durations[sel],
    )
    total = hist.sum()
    return hist / total if total > 0 else None


def _load(session: Path, primary_phase_hint: str | None) -> SessionData:
    frames, events, header, protocol = read_record(session)
    calibration = read_calibration_dict(session)
    summary = compute_summary_from(frames, events, header, protocol, calibration=calibration)
    try:
        width = float(calibration["width_cm"])
        length = float(calibration["length_cm"])
    except (KeyError, TypeError, ValueError):
        finite = np.isfinite(frames.x_cm)
        width = float(np.nanmax(frames.x_cm)) if finite.any() else 1.0
        length = float(np.nanmax(frames.y_cm)) if finite.any() else 1.0
    phase = primary_phase_hint or summary.get("test_phase")
    heat = _heat(frames, phase, width, length) if phase else None
    return SessionData(session, summary, header, protocol, _bins(frames), heat, (width, length))


def _phase(summary: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    return next((p for p in summary["phases"] if p["phase"] == name), None) if name else None


def _exclusion_reasons(data: SessionData, declared: Declared) -> list[str]:
    s = data.summary
    reasons: list[str] = []
    if not s.get("complete"):
        reasons.append(f"incomplete session (end reason {s.get('end_reason')})")
    if data.header.get("simulated") and not declared.include_simulated:
        reasons.append("simulated session (include with exclusions.include_simulated / --include-simulated)")
    bias = s.get("baseline_side_bias_pct")
    if bias is not None and bias > declared.bias_max_pct:
        reasons.append(
            f"baseline side bias {bias:.1f} % > {declared.bias_max_pct:g} % "
            f"(prefers {s.get('baseline_preferred_side')})"
        )
    lost = [p["lost_tracking_pct"] for p in s["phases"] if p["lost_tracking_pct"] is not None]
    frames_per_phase = [p["frames"] for p in s["phases"]]
    if lost and sum(frames_per_phase):
        overall = sum(l * f for l, f in zip(lost, frames_per_phase, strict=False)) / sum(frames_per_phase)
        if overall > declared.lost_max_pct:
            reasons.append(f"lost tracking {overall:.1f} % of frames > {declared.lost_max_pct:g} %")
    audit = (s.get("delivered_light") or {}).get("audit") or {}
    if audit.get("status") == "fail":
        reasons.append(
            f"laser-follow audit failed ({audit['frames_light_on_rule_off']} frames light on where "
            f"the positions say off, {audit['frames_light_off_rule_on']} off where they say on)"
        )
    return reasons


# ------------------------------------------------------------------ the analysis
def run_group(
    sessions: list[Path],
    groups_csv: Path | None = None,
    out_dir: Path | None = None,
    *,
    cohort: Path | None = None,
    declared_path: Path | None = None,
    allow_mixed_protocols: bool = False,
    include_simulated: bool = False,
) -> GroupResult:
    """Compute everything, then write ``out_dir`` (which must not exist)."""
    if out_dir is None:
        raise ConfigError("--out: an output folder is required")
    if out_dir.exists():
        raise ConfigError(f"--out: {out_dir} already exists; choose a new folder (nothing is overwritten)")
    if not sessions:
        raise ConfigError("no sessions given")
    if cohort is not None:
        from rig.cohort import load_cohort

        cohort_data = load_cohort(cohort)
        groups = cohort_data.groups()
        groups_label = f"{cohort} (sha256 {cohort_data.sha256[:12]})"
    elif groups_csv is not None:
        groups = read_groups(groups_csv)
        groups_label = str(groups_csv)
    else:
        raise ConfigError("groups: pass --cohort cohort.csv (or --groups groups.csv)")

    # read the first session's protocol for a declared analysis section
    first_protocol = read_record(sessions[0])[3] if sessions else {}
    declared = read_declared(declared_path, first_protocol)
    if include_simulated and not declared.include_simulated:
        declared = Declared(**{**declared.__dict__, "include_simulated": True})

    warnings_: list[str] = []
    keys: dict[tuple[Any, Any, Any], list[str]] = {}
    for session in sessions:  # session.json only: refused before any heavy reading
        p = read_session_header(session).get("protocol") or {}
        key = (p.get("name"), p.get("version"), p.get("sha256"))
        keys.setdefault(key, []).append(session.name)
    if len(keys) > 1:
        listing = "; ".join(
            f"{name} v{version} sha256 {str(sha)[:12]}: {len(names)} session(s)"
            for (name, version, sha), names in keys.items()
        )
        if not allow_mixed_protocols:
            raise ConfigError(
                f"sessions of different protocols: {listing}; pass --allow-mixed-protocols to pool them"
            )
        warnings_.append(f"mixed protocols pooled (--allow-mixed-protocols): {listing}")

    loaded: list[SessionData] = []
    seen: dict[str, Path] = {}
    for session in sessions:
        data = _load(session, declared.phase)
        animal = data.summary.get("animal_id")
        if not animal:
            raise RecordError(f"{session / 'session.json'}: animal_id: missing")
        if animal not in groups:
            raise ConfigError(
                f"{cohort or groups_csv}: animal {animal} (session {session.name}) is not listed; "
                "add a row for it"
            )
        if animal in seen:
            raise ConfigError(
                f"animal {animal}: two sessions given ({seen[animal].name} and {session.name}); "
                "pass one session per animal"
            )
        seen[animal] = session
        loaded.append(data)

    # phases: declared or defaults from the first session
    first = loaded[0].summary
    primary_phase = declared.phase or first.get("test_phase")
    baseline_phase = declared.baseline_phase or first.get("baseline_phase")
    if primary_phase is None or (declared.endpoint == "difference_score" and baseline_phase is None):
        raise ConfigError(
            "the primary endpoint needs a test phase (closed_loop) and a baseline phase (off): "
            "declare them in group.yaml (primary.phase, primary.baseline_phase)"
        )
    phase_names = [p["phase"] for p in first["phases"]]
    for name in (primary_phase, baseline_phase):
        if name is not None and name not in phase_names:
            raise ConfigError(f"declared phase {name!r} is not a phase of the sessions ({', '.join(phase_names)})")

    animals: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    tidy: list[dict[str, Any]] = []
    included: list[SessionData] = []
    for data in loaded:
        s = data.summary
        group = groups[s["animal_id"]]
        reasons = _exclusion_reasons(data, declared)
        base = _phase(s, baseline_phase)
        row: dict[str, Any] = {
            "animal_id": s["animal_id"], "group": group, "session": data.path.name,
            "stim_side": data.header.get("stimulated_side"),
            "included": not reasons, "exclusion_reasons": "; ".join(reasons),
            "complete": s["complete"], "baseline_side_bias_pct": s.get("baseline_side_bias_pct"),
        }
        for p in s["phases"]:
            row[f"{p['phase']}_stim_pct"] = p["time_pct"]["stim"]
            if base is not None and p["phase"] != baseline_phase:
                b, v = base["time_pct"]["stim"], p["time_pct"]["stim"]
                row[f"{p['phase']}_difference_score"] = None if b is None or v is None else round(v - b, 4)
            row[f"{p['phase']}_speed_stim_cm_s"] = p["speed_cm_s"]["stim"]
            row[f"{p['phase']}_speed_nonstim_cm_s"] = p["speed_cm_s"]["nonstim"]
            row[f"{p['phase']}_immobile_stim_pct"] = p["immobile_pct"]["stim"]
            row[f"{p['phase']}_immobile_nonstim_pct"] = p["immobile_pct"]["nonstim"]
        animals.append(row)
        for t in phase_rows_tidy(s):
            tidy.append({"session": data.path.name, "group": group, "included": not reasons, **t})
        if reasons:
            excluded.append({"animal_id": s["animal_id"], "group": group, "session": data.path.name,
                             "reasons": "; ".join(reasons)})
        else:
            included.append(data)

    present = sorted({groups[d.summary["animal_id"]] for d in included})
    order = [g for g in declared.order if g in present] + [g for g in present if g not in declared.order]
    for g in declared.order:
        if g not in present:
            warnings_.append(f"declared group {g} has no included animals")
    counts = {g: sum(1 for d in included if groups[d.summary["animal_id"]] == g) for g in order}
    for g, n in counts.items():
        if n < MIN_N_PER_GROUP:
            warnings_.append(
                f"group {g}: n = {n} (< {MIN_N_PER_GROUP}): tests have little power and "
                "p-values and CIs are unstable"
            )
    if len(order) < 2:
        raise ConfigError(
            f"fewer than 2 groups left after exclusions ({', '.join(f'{g}: {n}' for g, n in counts.items()) or 'none'}); "
            f"excluded: {len(excluded)} session(s), see the reasons with the same command and --out"
        )

    def endpoint(data: SessionData, phase: str, kind: str) -> float | None:
        p = _phase(data.summary, phase)
        if p is None or p["time_pct"]["stim"] is None:
            return None
        if kind == "stim_pct":
            return float(p["time_pct"]["stim"])
        b = _phase(data.summary, baseline_phase)
        if b is None or b["time_pct"]["stim"] is None:
            return None
        return float(p["time_pct"]["stim"]) - float(b["time_pct"]["stim"])

    def values(group: str, phase: str, kind: str) -> np.ndarray:
        vals = [endpoint(d, phase, kind) for d in included if groups[d.summary["animal_id"]] == group]
        return np.array([v for v in vals if v is not None], dtype=np.float64)

    label = "difference score, pp" if declared.endpoint == "difference_score" else "stim %"
    rows: list[gs.StatRow] = []
    # 1. primary
    if len(order) == 2:
        a, b = order
        primary = gs.welch(f"{a} vs {b}", primary_phase, values(a, primary_phase, declared.endpoint),
                           values(b, primary_phase, declared.endpoint), label)
    else:
        primary = gs.omnibus(" vs ".join(order), primary_phase,
                             [values(g, primary_phase, declared.endpoint) for g in order], label)
    rows.append(gs.StatRow(**{**primary.__dict__, "primary": True}))
    # 2. secondary
    pairs = list(itertools.combinations(order, 2))
    if len(order) > 2:
        for a, b in pairs:
            rows.append(gs.welch(f"{a} vs {b}", primary_phase, values(a, primary_phase, declared.endpoint),
                                 values(b, primary_phase, declared.endpoint), label))
    for name in phase_names:
        if name in (primary_phase, baseline_phase):
            continue
        if len(order) > 2:
            rows.append(gs.omnibus(" vs ".join(order), name,
                                   [values(g, name, "difference_score") for g in order], "difference score, pp"))
        for a, b in pairs:
            rows.append(gs.welch(f"{a} vs {b}", name, values(a, name, "difference_score"),
                                 values(b, name, "difference_score"), "difference score, pp"))
    for g in order:
        for name in phase_names:
            if name == baseline_phase:
                continue
            rows.append(gs.paired(f"{g}: {name} vs {baseline_phase}", name, values(g, name, "difference_score"),
                                  "stim % minus baseline stim %"))
    cov = [(endpoint(d, primary_phase, declared.endpoint), groups[d.summary["animal_id"]],
            str(d.header.get("stimulated_side"))) for d in included]
    cov = [c for c in cov if c[0] is not None and c[2] in ("left", "right")]
    rows.append(gs.side_covariate(primary_phase, [float(c[0]) for c in cov if c[0] is not None],
                                  [c[1] for c in cov], [c[2] for c in cov]))
    tc_animal, tc_group, tc_minute, tc_value = [], [], [], []
    for d in included:
        for phase, minute, pct in d.bins:
            if phase == primary_phase:
                tc_animal.append(d.summary["animal_id"])
                tc_group.append(groups[d.summary["animal_id"]])
                tc_minute.append(float(minute))
                tc_value.append(pct)
    tc_rows, _fit = gs.time_course(primary_phase, tc_animal, tc_group, tc_minute, tc_value, order)
    rows.extend(tc_rows)
    for motor_key, what in (("speed_cm_s", "speed in the stimulated compartment, cm/s"),
                            ("immobile_pct", "immobile time in the stimulated compartment, %")):
        for a, b in pairs:
            def motor(group: str, key: str = motor_key) -> np.ndarray:
                out = []
                for d in included:
                    if groups[d.summary["animal_id"]] != group:
                        continue
                    p = _phase(d.summary, primary_phase)
                    v = p[key]["stim"] if p else None
                    if v is not None:
                        out.append(float(v))
                return np.array(out, dtype=np.float64)
            rows.append(gs.welch(f"{a} vs {b}: {motor_key.split('_')[0]}", primary_phase, motor(a), motor(b), what))
    rows = gs.holm(rows)

    markdown = _markdown(declared, primary_phase, baseline_phase, order, counts, rows, animals,
                         excluded, warnings_, groups_label)
    figures = {
        "paired": _paired_figure(animals, order, baseline_phase, primary_phase),
        "timecourse": _timecourse_figure(included, groups, order),
        "heatmaps": _heatmap_figure(included, groups, order, primary_phase),
    }
    pngs = {}
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        pngs[name] = buf.getvalue()

    out_dir.mkdir(parents=True, exist_ok=False)
    with open(out_dir / "stats.csv", "x", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(gs.STATS_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if v is None else v for k, v in r.as_csv().items()})
    write_csv(out_dir / "animals.csv", animals)
    write_csv(out_dir / "sessions_phases.csv", tidy)
    if excluded:
        write_csv(out_dir / "excluded.csv", excluded)
    else:
        with open(out_dir / "excluded.csv", "x", encoding="utf-8") as handle:
            handle.write("animal_id,group,session,reasons\n")
    tc_rows_out = [
        {"animal_id": d.summary["animal_id"], "group": groups[d.summary["animal_id"]], "phase": ph,
         "minute": mi, "stim_pct": round(v, 4)}
        for d in included for ph, mi, v in d.bins
    ]
    write_csv(out_dir / "timecourse.csv", tc_rows_out)
    for name, fig in figures.items():
        (out_dir / f"{name}.png").write_bytes(pngs[name])
        fig.savefig(out_dir / f"{name}.pdf")
    images = "".join(f"\n![{name}]({name}.png)\n" for name in figures)
    with open(out_dir / "stats.md", "x", encoding="utf-8") as handle:
        handle.write(markdown + images)
    embedded = "".join(
        f"<h3>{name}</h3><img alt='{name}' style='max-width:100%' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
        for name, png in pngs.items()
    )
    with open(out_dir / "stats.html", "x", encoding="utf-8") as handle:
        handle.write(
            "<!doctype html><html><head><meta charset='utf-8'><title>optorig group analysis</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto}"
            "pre{white-space:pre-wrap}</style></head><body>"
            f"<pre>{html.escape(markdown)}</pre>{embedded}</body></html>"
        )
    return GroupResult(out_dir, markdown, animals, rows, excluded, warnings_)


# ------------------------------------------------------------------ text and figures
def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return format(value, spec)
    return str(value)


def _row_md(r: gs.StatRow) -> str:
    n = f"{r.n_a}" if r.n_b is None else f"{r.n_a} / {r.n_b}"
    return (
        f"| {r.comparison} | {r.phase} | {r.test} | {n} | {_fmt(r.statistic)} | {_fmt(r.p)} | "
        f"{_fmt(r.p_holm)} | {_fmt(r.effect, '.3g')} [{_fmt(r.effect_ci_low)}, {_fmt(r.effect_ci_high)}] |"
        + (f" {r.note} |" if r.note else " |")
    )


def _markdown(
    declared: Declared, primary_phase: str, baseline_phase: str | None, order: list[str],
    counts: dict[str, int], rows: list[gs.StatRow], animals: list[dict[str, Any]],
    excluded: list[dict[str, Any]], warnings_: list[str], groups_label: str,
) -> str:
    endpoint = (
        f"difference score = stim % in '{primary_phase}' minus stim % in '{baseline_phase}'"
        if declared.endpoint == "difference_score" else f"stim % in '{primary_phase}'"
    )
    primary = next(r for r in rows if r.primary)
    stim_keys = [k for k in animals[0] if k.endswith("_stim_pct") and "_immobile_" not in k]
    lines = [
        "# Group analysis", "",
        "## Primary test (declared before analysis)", "",
        f"- Endpoint: {endpoint}; compared between groups {', '.join(order)} "
        f"(declared in: {declared.source}).",
        f"- Groups from {groups_label}; included animals: "
        + ", ".join(f"{g} n = {counts[g]}" for g in order) + ".",
        "",
        "| comparison | phase | test | n | statistic | p | p (Holm) | effect [95 % CI] | notes |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
        _row_md(primary), "",
        "The primary test is not corrected (one pre-declared test); every secondary test below is "
        "Holm-corrected as one family (p (Holm)).", "",
    ]
    if warnings_:
        lines += ["## Warnings", "", *[f"- {w}" for w in warnings_], ""]
    lines += ["## Exclusions", ""]
    if excluded:
        lines += [f"- {e['animal_id']} ({e['group']}, {e['session']}): {e['reasons']}" for e in excluded]
    else:
        lines.append("- none")
    lines += [
        "", f"Rules: incomplete sessions; simulated sessions unless included; baseline side bias > "
        f"{declared.bias_max_pct:g} %; lost tracking > {declared.lost_max_pct:g} % of frames; "
        "laser-follow audit failed.", "",
        "## Secondary tests (Holm-corrected)", "",
        "| comparison | phase | test | n | statistic | p | p (Holm) | effect [95 % CI] | notes |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
        *[_row_md(r) for r in rows if not r.primary], "",
        "## Animals", "",
        "| animal | group | side | included | baseline bias % | "
        + " | ".join(f"{k[: -len('_stim_pct')]} stim %" for k in stim_keys) + " |",
        "|---|---|---|---|---:|" + "---:|" * len(stim_keys),
    ]
    for a in animals:
        cells = " | ".join(_fmt(a.get(k), ".1f") for k in stim_keys)
        lines.append(
            f"| {a['animal_id']} | {a['group']} | {a['stim_side']} | {'yes' if a['included'] else 'no'} | "
            f"{_fmt(a['baseline_side_bias_pct'], '.1f')} | {cells} |"
        )
    lines += [
        "", "Effects: mean differences in the endpoint's unit (pp = percentage points of time on "
        "the stimulated side) with Welch or t 95 % CIs; Cohen's f2 for omnibus tests. "
        "Definitions: docs/analysis.md.",
    ]
    return "\n".join(lines) + "\n"


_COLOURS = ["#1f77b4", "#7f7f7f", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _paired_figure(animals: list[dict[str, Any]], order: list[str], baseline: str | None, test: str) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0 * len(order) + 3.2, 3.6), layout="constrained")
    axes = [fig.add_subplot(1, len(order) + 1, k + 1) for k in range(len(order) + 1)]
    b_key, t_key = f"{baseline}_stim_pct", f"{test}_stim_pct"
    for k, group in enumerate(order):
        ax = axes[k]
        rows = [a for a in animals if a["group"] == group and a["included"]
                and a.get(b_key) is not None and a.get(t_key) is not None]
        for a in rows:
            ax.plot([0, 1], [a[b_key], a[t_key]], "o-", color=_COLOURS[k % 6], alpha=0.6, ms=4)
        if rows:
            ax.plot([0, 1], [np.mean([a[b_key] for a in rows]), np.mean([a[t_key] for a in rows])],
                    "s-", color="black", lw=2.5, ms=7)
        ax.axhline(50, color="grey", lw=0.8, ls=":")
        ax.set_xticks([0, 1], [str(baseline), test])
        ax.set_xlim(-0.3, 1.3)
        ax.set_ylim(0, 100)
        ax.set_ylabel("time on stimulated side (%)")
        ax.set_title(f"{group} (n={len(rows)})", fontsize=10)
    ax = axes[-1]
    rng = np.random.default_rng(0)
    key = f"{test}_difference_score"
    for k, group in enumerate(order):
        vals = [a[key] for a in animals if a["group"] == group and a["included"] and a.get(key) is not None]
        ax.plot(k + rng.uniform(-0.12, 0.12, len(vals)), vals, "o", color=_COLOURS[k % 6], alpha=0.7, ms=5)
        if len(vals) > 1:
            mean = float(np.mean(vals))
            sem = float(np.std(vals, ddof=1) / math.sqrt(len(vals)))
            ax.errorbar(k + 0.3, mean, yerr=sem, fmt="s", color="black", capsize=4, ms=6)
    ax.axhline(0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(order)), order)
    ax.set_xlim(-0.5, len(order) - 0.3)
    ax.set_ylabel("difference score (pp)")
    ax.set_title("Difference score (mean ± SEM)", fontsize=10)
    return fig


def _timecourse_figure(included: list[SessionData], groups: dict[str, str], order: list[str]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    phases: list[str] = []
    for d in included:
        for ph, _, _ in d.bins:
            if ph not in phases:
                phases.append(ph)
    offsets: dict[str, int] = {}
    position = 0
    for ph in phases:
        offsets[ph] = position
        position += 1 + max((mi for d in included for p, mi, _ in d.bins if p == ph), default=0)
        ax.axvline(position - 0.5, color="grey", lw=0.6, ls=":")
    for k, group in enumerate(order):
        xs, means, sems = [], [], []
        for ph in phases:
            minutes = sorted({mi for d in included for p, mi, _ in d.bins if p == ph})
            for mi in minutes:
                vals = [v for d in included if groups[d.summary["animal_id"]] == group
                        for p, x, v in d.bins if p == ph and x == mi]
                if vals:
                    xs.append(offsets[ph] + mi)
                    means.append(float(np.mean(vals)))
                    sems.append(float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else 0.0)
        ax.errorbar(xs, means, yerr=sems, fmt="o-", color=_COLOURS[k % 6], ms=3, capsize=2, label=group)
    for ph in phases:
        ax.text(offsets[ph], 98, ph, fontsize=8, va="top")
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 100)
    ax.set_xlabel("minute (phases in order)")
    ax.set_ylabel("time on stimulated side (%)")
    ax.set_title("Time course in 1-min bins (mean ± SEM)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _heatmap_figure(included: list[SessionData], groups: dict[str, str], order: list[str], phase: str) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0 * len(order), 2.8), layout="constrained")
    means: dict[str, tuple[np.ndarray, int]] = {}
    for group in order:
        maps = [d.heat for d in included if groups[d.summary["animal_id"]] == group and d.heat is not None]
        if maps and len({mp.shape for mp in maps}) == 1:
            means[group] = (100 * np.mean(np.stack(maps), axis=0), len(maps))
    vmax = max((float(mean.max()) for mean, _ in means.values()), default=1.0)  # one scale for all
    for k, group in enumerate(order):
        ax = fig.add_subplot(1, len(order), k + 1)
        if group not in means:
            ax.set_title(f"{group}: no common arena", fontsize=9)
            continue
        mean, n = means[group]
        width, length = included[0].heat_extent
        image = ax.imshow(mean, origin="upper", extent=(0, width, length, 0), cmap="magma",
                          vmin=0.0, vmax=vmax)
        ax.axvline(width / 2, color="white", lw=0.6, ls=":")
        ax.set_title(f"{group} (n={n}), {phase}", fontsize=9)
        ax.set_xlabel("x (cm; stimulated side on the left)")
        fig.colorbar(image, ax=ax, label="% of time per cm²")
    return fig
