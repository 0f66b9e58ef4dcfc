"""The HTML page of the report: one file, inline CSS, inline SVG, a small inline script, no network.

Every number of the clip table is also in a ``data-v`` attribute of its cell, at full precision and in
the unit of the column's header, so scripts (and the tests) read the page without parsing display text.
Rows carry ``data-clip``, ``data-label`` and ``data-flags``; cells ``data-col``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

from imusynth.config import ReportConfig
from imusynth.core.conventions import G0, from_si
from imusynth.report.collect import ClipReport, Distributions, SourceStatus, WindowsSummary
from imusynth.report.metrics import FLAGS, density, nice_step
from imusynth.report.svg import histogram_svg

CSS = """
:root{--bg:#fff;--fg:#1d1f23;--mut:#5f6670;--line:#d5d9de;--card:#f5f6f8;--inv:rgba(220,60,60,.16);
--a0:#d62728;--a1:#2a9d3a;--a2:#1f5fd6;--bone:#ffcc00;--flag:#b3261e;--link:#1a56c4;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#16181c;--fg:#e6e8eb;--mut:#9aa2ad;--line:#3a3f47;
--card:#20242a;--inv:rgba(255,90,90,.22);--a0:#ff6b6b;--a1:#5fd37a;--a2:#6aa5ff;--flag:#ff8a80;--link:#8ab4ff}}
*{box-sizing:border-box}body{margin:0 auto;max-width:1400px;padding:12px 20px;background:var(--bg);
color:var(--fg);font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--link)}h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:22px 0 8px;
border-bottom:1px solid var(--line)}h3{font-size:15px;margin:0 0 4px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:var(--card);border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:20px}.note,.mut{color:var(--mut)}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid var(--line);padding:3px 7px;
text-align:left;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}
#clips th{cursor:pointer;position:sticky;top:0;background:var(--bg)}
#clips th[data-dir=asc]::after{content:" \\25B2"}#clips th[data-dir=desc]::after{content:" \\25BC"}
.tablewrap{max-height:70vh;overflow:auto;border:1px solid var(--line)}
.flag{display:inline-block;padding:0 5px;margin-right:3px;border:1px solid var(--flag);color:var(--flag);
border-radius:8px;font-size:11px}.bad{color:var(--flag);font-weight:600}
.filters{display:flex;gap:12px;align-items:center;margin:6px 0;flex-wrap:wrap}
input,select{font:inherit;background:var(--bg);color:var(--fg);border:1px solid var(--line);padding:2px 6px}
section.clip{content-visibility:auto;contain-intrinsic-size:auto 520px;border-top:1px solid var(--line);
padding:10px 0}.row{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
figure.skel{margin:0;width:240px}
figure.skel svg{width:240px;height:auto;max-height:320px;background:var(--card)}
figcaption{font-size:11px;color:var(--mut)}svg{overflow:visible}svg.sig,svg.hist{max-width:100%;height:auto}
svg text{fill:var(--mut)}svg .pt{fill:var(--fg);font-size:22px}svg.sig .tk{font-size:20px}
svg.hist .tk{font-size:20px}
svg .frame{fill:none;stroke:var(--line)}svg .grid{stroke:var(--line);stroke-width:1}
svg .inv{fill:var(--inv)}svg .ax0,svg .ax1,svg .ax2,svg .s0,svg .s1,svg .s2,svg .s3,svg .real{fill:none;
stroke-width:2}svg .ax0,svg .s0{stroke:var(--a0)}svg .ax1,svg .s1{stroke:var(--a1)}
svg .ax2,svg .s2{stroke:var(--a2)}svg .s3{stroke:#b07ad9}svg .real{stroke:var(--fg);stroke-dasharray:6 4}
svg .bone{fill:none;stroke:var(--bone);stroke-linecap:round}
svg .joint{fill:none;stroke:#e8336f;stroke-linecap:round}
.hists,.tables{display:flex;gap:18px 28px;flex-wrap:wrap;align-items:flex-start}
"""

SCRIPT = """
(function(){var t=document.getElementById('clips');if(!t)return;var body=t.tBodies[0];
var rows=Array.prototype.slice.call(body.rows);var q=document.getElementById('q'),
lab=document.getElementById('flabel'),fl=document.getElementById('fflag'),out=document.getElementById('nshown');
function apply(){var s=q.value.toLowerCase(),n=0;rows.forEach(function(r){var f=r.dataset.flags?
r.dataset.flags.split(' '):[];var ok=(!s||r.textContent.toLowerCase().indexOf(s)>=0)&&
(!lab.value||r.dataset.label===lab.value)&&(!fl.value||(fl.value==='any'?f.length>0:
(fl.value==='none'?f.length===0:f.indexOf(fl.value)>=0)));r.hidden=!ok;if(ok)n++;});out.textContent=n;}
[q,lab,fl].forEach(function(e){e.addEventListener('input',apply);e.addEventListener('change',apply);});
t.tHead.addEventListener('click',function(e){var th=e.target.closest('th');if(!th)return;var i=th.cellIndex,
dir=th.dataset.dir==='asc'?'desc':'asc',num=th.dataset.type==='num';
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(c){delete c.dataset.dir;});th.dataset.dir=dir;
function key(r){var c=r.cells[i];return num?parseFloat(c.dataset.v):c.textContent.toLowerCase();}
var s=rows.slice().sort(function(a,b){var x=key(a),y=key(b),d;if(num){if(isNaN(x))return isNaN(y)?0:1;
if(isNaN(y))return -1;d=x-y;}else{d=x<y?-1:(x>y?1:0);}return dir==='asc'?d:-d;});
s.forEach(function(r){body.appendChild(r);});});apply();
addEventListener('load',function(){var d=document.documentElement.dataset;
d.loadMs=String(Math.round(performance.now()));requestAnimationFrame(function(){setTimeout(function(){
document.documentElement.dataset.paintMs=String(Math.round(performance.now()));},0);});});
document.documentElement.dataset.ready='1';})();
"""


def _num(v: float | int | None, digits: int = 3) -> tuple[str, str]:
    """(data-v, display text) of a number; NaN and None show as a dash."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "nan", "–"
    if isinstance(v, int):
        return str(v), str(v)
    return f"{v:.10g}", f"{v:.{digits}g}" if abs(v) < 10**digits else f"{v:.0f}"


def _td(col: str, v: float | int | None, digits: int = 3, bad: bool = False) -> str:
    data, text = _num(v, digits)
    cls = "n bad" if bad else "n"
    return f'<td class="{cls}" data-col="{escape(col)}" data-v="{data}">{text}</td>'


def _source_cell(source: str) -> str:
    if source.startswith(("http://", "https://")):
        return f'<td data-col="source"><a href="{escape(source)}" rel="noreferrer">{escape(source)}</a></td>'
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    return f'<td data-col="source" title="{escape(source)}">{escape(name)}</td>'


def thresholds_rows(t: ReportConfig) -> list[tuple[str, str, str, str]]:
    """(TOML key, value, unit, meaning) of each threshold, as the page shows them."""
    return [
        ("max_acc_g", f"{t.max_acc_g:g}", f"g (= {t.max_acc_g * G0:.4g} m/s²)", FLAGS["acc_high"]),
        ("max_gyro_rad_s", f"{t.max_gyro_rad_s:g}", "rad/s", FLAGS["gyro_high"]),
        ("min_valid_share", f"{t.min_valid_share:g}", "fraction", FLAGS["low_valid"]),
        ("max_depth_speed_m_s", f"{t.max_depth_speed_m_s:g}", "m/s", FLAGS["depth_jump"]),
        ("max_identity_switches", f"{t.max_identity_switches}", "count", FLAGS["identity_switch"]),
    ]


def _people(clips: Sequence[ClipReport]) -> int:
    """Distinct people: a video clip's (group or source, track id); a motion clip's group or source."""
    return len({(c.group or c.source, c.person) for c in clips})


def _thresholds(t: ReportConfig) -> str:
    rows = "".join(
        f'<tr data-key="{key}" data-v="{value}"><td><code>{key}</code></td><td class="n">{value}</td>'
        f"<td>{unit}</td><td>{escape(meaning)}</td></tr>"
        for key, value, unit, meaning in thresholds_rows(t)
    )
    return (
        '<h3>Flag thresholds</h3><table id="thresholds"><thead><tr><th>key</th><th>value</th><th>unit</th>'
        f'<th>flag when</th></tr></thead><tbody>{rows}</tbody></table><p class="note">From the '
        "<code>[report]</code> section of the pipeline TOML (<code>--pipeline</code>).</p>"
    )


def _summary(
    clips: Sequence[ClipReport],
    sources: Sequence[SourceStatus],
    windows: Sequence[WindowsSummary],
    sensors: Sequence[str],
    thresholds: ReportConfig,
) -> list[str]:
    hours = sum(c.duration_s for c in clips) / 3600.0
    n_win = sum(c.windows for c in clips) + sum(sum(w.per_label.values()) for w in windows)
    out = ['<h2 id="summary">Summary</h2><div class="cards">']
    for key, value, text in (
        ("clips", str(len(clips)), "clips"),
        ("hours", f"{hours:.3g}", "hours"),
        ("people", str(_people(clips)), "people"),
        ("windows", str(n_win), "windows"),
        ("flagged", str(sum(bool(c.flags) for c in clips)), "flagged clips"),
        ("problems", str(len(sources)), "failed / empty sources"),
    ):
        out.append(f'<div class="card" data-summary="{key}" data-v="{value}"><b>{value}</b>{text}</div>')
    out.append("</div>")
    labels: dict[str, list[ClipReport]] = {}
    for c in clips:
        labels.setdefault(c.label or "(unlabelled)", []).append(c)
    out.append(
        '<div class="tables"><div><h3>Per label</h3><table id="labels"><thead><tr><th>label</th>'
        "<th>clips</th><th>hours</th><th>windows (default export)</th></tr></thead><tbody>"
    )
    for lab in sorted(labels):
        cs = labels[lab]
        h = sum(c.duration_s for c in cs) / 3600.0
        out.append(
            f'<tr data-label="{escape(lab)}"><td>{escape(lab)}</td>{_td("clips", len(cs))}'
            f"{_td('hours', h, 4)}{_td('windows', sum(c.windows for c in cs))}</tr>"
        )
    out.append("</tbody></table>")
    out.append(
        '<p class="note">Windows: what <code>imusynth export</code> cuts with its defaults<br>(2.56 s, '
        "overlap 0.5, 50 Hz, all sensors valid, labelled samples).</p></div>"
    )
    out.append(
        '<div><h3>Per placement</h3><table id="placements"><thead><tr><th>placement</th><th>clips</th>'
        "<th>valid share</th></tr></thead><tbody>"
    )
    for s in sensors:
        with_s = [c for c in clips if s in c.valid_samples]
        nv = sum(c.valid_samples[s][0] for c in with_s)
        n = sum(c.valid_samples[s][1] for c in with_s)
        out.append(
            f'<tr data-placement="{escape(s)}"><td>{escape(s)}</td>{_td("clips", len(with_s))}'
            f"{_td('valid_share', nv / n if n else float('nan'), 3)}</tr>"
        )
    out.append("</tbody></table></div>")
    for w in windows:
        out.append(
            f'<div class="wfile"><h3>Windows file {escape(w.path)}</h3>'
            f'<p class="note">{w.window_s:g} s windows, overlap '
            f"{w.overlap:g}, {w.rate_hz:g} Hz, {len(w.per_clip)} recordings</p><table>"
            "<thead><tr><th>label</th><th>windows</th></tr></thead><tbody>"
        )
        for lab, n in sorted(w.per_label.items()):
            out.append(f'<tr data-label="{escape(lab)}"><td>{escape(lab)}</td>{_td("windows", n)}</tr>')
        out.append("</tbody></table></div>")
    out.append("<div>" + _thresholds(thresholds) + "</div></div>")
    out.append("<h3>Failed, skipped and empty sources</h3>")
    if sources:
        out.append(
            '<table id="problems"><thead><tr><th>source</th><th>status</th><th>label</th><th>reason</th>'
            "</tr></thead><tbody>"
        )
        for src in sources:
            out.append(
                f'<tr data-status="{escape(src.status)}">{_source_cell(src.source)}'
                f'<td>{escape(src.status)}</td><td>{escape(src.label or "")}</td>'
                f'<td style="white-space:normal">{escape(src.reason)}</td></tr>'
            )
        out.append("</tbody></table>")
    else:
        out.append('<p class="note">none</p>')
    return out


def _clip_table(clips: Sequence[ClipReport], sensors: Sequence[str], t: ReportConfig) -> list[str]:
    heads = [
        ("clip", "txt"),
        ("label", "txt"),
        ("group", "txt"),
        ("source", "txt"),
        ("kind", "txt"),
        ("duration, s", "num"),
        ("person", "txt"),
    ]
    heads += [(f"valid {s}, %", "num") for s in sensors]
    heads += [
        ("pose confidence", "num"),
        ("camera rate, deg/s", "num"),
        ("shot cuts", "num"),
        ("peak |acc|, g", "num"),
        ("peak |gyro|, rad/s", "num"),
        ("depth jumps", "num"),
        ("identity switches", "num"),
        ("windows", "num"),
        ("flags", "txt"),
    ]
    labels = sorted({c.label or "(unlabelled)" for c in clips})
    out = [
        '<h2 id="clips-h">Clips</h2><div class="filters"><label>filter <input id="q" type="search" '
        'placeholder="text in any column"></label><label>label <select id="flabel">'
        '<option value="">all</option>'
    ]
    out += [f'<option value="{escape(lab)}">{escape(lab)}</option>' for lab in labels]
    out.append(
        '</select></label><label>flags <select id="fflag"><option value="">all clips</option>'
        '<option value="any">any flag</option><option value="none">no flag</option>'
    )
    out += [f'<option value="{k}">{k}</option>' for k in FLAGS]
    out.append(
        f'</select></label><span class="mut"><span id="nshown">{len(clips)}</span> of {len(clips)} shown; '
        'click a header to sort</span></div><div class="tablewrap"><table id="clips"><thead><tr>'
    )
    out += [f'<th data-type="{kind}">{escape(h)}</th>' for h, kind in heads]
    out.append("</tr></thead><tbody>")
    for c in clips:
        lab = c.label or "(unlabelled)"
        cells = [
            f'<td data-col="clip"><a href="#c-{escape(c.key)}">{escape(c.key)}</a></td>',
            f'<td data-col="label">{escape(c.label or "")}</td>',
            f'<td data-col="group">{escape(c.group or "")}</td>',
            _source_cell(c.source),
            f'<td data-col="kind">{escape(c.source_kind)}</td>',
            _td("duration_s", c.duration_s, 4),
            f'<td data-col="person">{escape(c.person)}</td>',
        ]
        for s in sensors:
            share = c.shares.get(s)
            cells.append(
                _td(
                    f"valid:{s}",
                    None if share is None else 100.0 * share,
                    3,
                    bad=share is not None and share < t.min_valid_share,
                )
            )
        rate = (
            float(from_si(c.camera_rate, "gyro", "deg/s")) if math.isfinite(c.camera_rate) else float("nan")
        )
        cells += [
            _td("pose_confidence", c.pose_confidence),
            _td("camera_rate_deg_s", rate),
            _td("shot_cuts", c.shot_cuts),
            _td("peak_acc_g", c.peak_acc / G0, 3, "acc_high" in c.flags),
            _td("peak_gyro_rad_s", c.peak_gyro, 3, "gyro_high" in c.flags),
            _td("depth_jumps", c.depth_jumps, 3, "depth_jump" in c.flags),
            _td("identity_switches", c.identity_switches, 3, "identity_switch" in c.flags),
            _td("windows", c.windows),
            '<td data-col="flags">' + "".join(f'<span class="flag">{f}</span>' for f in c.flags) + "</td>",
        ]
        out.append(
            f'<tr data-clip="{escape(c.key)}" data-label="{escape(lab)}" data-flags="{" ".join(c.flags)}">'
            + "".join(cells)
            + "</tr>"
        )
    out.append("</tbody></table></div>")
    return out


def _edges(chunks: Sequence[np.ndarray], floor: float) -> np.ndarray:
    vals = np.concatenate([np.asarray(c, dtype=np.float64) for c in chunks]) if chunks else np.zeros(0)
    top = float(np.percentile(vals, 99.5)) if vals.size else floor
    top = max(top, floor)
    step = nice_step(top, 6)
    top = math.ceil(top / step) * step
    return np.linspace(0.0, top, 49)


def _real_for(label: str, real: dict[str, list[np.ndarray]]) -> tuple[str, np.ndarray] | None:
    """The real samples drawn beside ``label``: its own label (case ignored), else every real sample."""
    if not real:
        return None
    same = [k for k in real if k and k.lower() == label.lower()]
    if same:
        return f"real {same[0]}", np.concatenate(real[same[0]])
    name = "real" if list(real) == [""] else "real (all labels)"
    return name, np.concatenate([c for chunks in real.values() for c in chunks])


def _distributions(dist: Distributions) -> list[str]:
    out = [
        '<h2 id="dist">Per label: distributions of |acc| and |gyro|</h2><p class="note">Densities over the '
        "valid samples (the last bin holds everything beyond it); a dashed line is the real device "
        "(<code>--real</code>): its samples of the same label (case ignored), else all its samples.</p>"
    ]
    labels = sorted({lab for lab, _ in dist.acc})
    if not labels:
        return out + ['<p class="note">no samples</p>']
    acc_edges = _edges(
        [c for v in dist.acc.values() for c in v] + [c for v in dist.real_acc.values() for c in v], 2.0 * G0
    )
    gyro_edges = _edges(
        [c for v in dist.gyro.values() for c in v] + [c for v in dist.real_gyro.values() for c in v], 1.0
    )
    placements = sorted({p for _, p in dist.acc})
    for lab in labels:
        out.append(f'<h3>{escape(lab)}</h3><div class="hists" data-label="{escape(lab)}">')
        for _q, table, real, edges, unit in (
            ("acc", dist.acc, dist.real_acc, acc_edges, "|acc|, m/s²"),
            ("gyro", dist.gyro, dist.real_gyro, gyro_edges, "|gyro|, rad/s"),
        ):
            series = []
            for i, p in enumerate(placements):
                chunks = table.get((lab, p), [])
                if chunks:
                    values = np.concatenate(chunks)
                    series.append((p, density(values, edges), f"s{i % 4}", values.size))
            real_series = _real_for(lab, real)
            if real_series is not None:
                series.append((real_series[0], density(real_series[1], edges), "real", real_series[1].size))
            out.append(histogram_svg(edges, series, xlabel=unit))
        out.append("</div>")
    return out


def render_page(
    *,
    title: str,
    generated: str,
    inputs: Sequence[str],
    thresholds: ReportConfig,
    clips: Sequence[ClipReport],
    sources: Sequence[SourceStatus],
    windows: Sequence[WindowsSummary],
    dist: Distributions,
) -> str:
    """The whole page as one string."""
    sensors = list(dict.fromkeys(s for c in clips for s in c.shares))
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="imusynth report"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>",
        f'<h1>{escape(title)}</h1><p class="mut">generated {escape(generated)} from '
        + ", ".join(f"<code>{escape(i)}</code>" for i in inputs)
        + ' · <a href="#summary">summary</a> · <a href="#clips-h">clips</a>'
        ' · <a href="#dist">distributions</a>'
        ' · <a href="#perclip">per clip</a></p>',
    ]
    out += _summary(clips, sources, windows, sensors, thresholds)
    out += _clip_table(clips, sensors, thresholds)
    out += _distributions(dist)
    out.append(
        '<h2 id="perclip">Per clip</h2><p class="note">Shaded spans: samples not valid (no data, values '
        "NaN). Left: the stored pose on its frame (video) or the 3-D points (motion).</p>"
    )
    for c in clips:
        meta = " · ".join(
            x
            for x in (
                c.label or "unlabelled",
                c.group or "",
                c.source_kind,
                f"{c.duration_s:.2f} s",
                f"person {c.person}" if c.person else "",
            )
            if x
        )
        flags = "".join(f'<span class="flag">{f}</span>' for f in c.flags)
        out.append(
            f'<section class="clip" id="c-{escape(c.key)}" data-clip="{escape(c.key)}"><h3>{escape(c.key)} '
            f'{flags}</h3><p class="mut">{escape(meta)} · {escape(c.source)}</p><div class="row">'
            f"{c.skeleton_svg}{c.signals_svg}</div></section>"
        )
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "".join(out)
