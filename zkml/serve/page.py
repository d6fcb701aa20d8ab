"""The live page: models, recent jobs with their timings, and the predictions published, with their provenance.

Plain HTML and a little JavaScript that polls the JSON API once a second: no
build step, no external asset (the page works offline; a data: favicon keeps
the browser from asking for one).
"""

from __future__ import annotations

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zkml serve</title>
<link rel="icon" href="data:,">
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
 table { border-collapse: collapse; width: 100%; }
 th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }
 th { background: #f4f4f4; }
 .state-done { color: #070; font-weight: 600; } .state-failed { color: #b00; font-weight: 600; }
 .state-proving, .state-publishing { color: #a60; } .muted { color: #888; }
 code { font-size: 12px; } .link-ok { color: #070; } .link-warning { color: #a60; } .link-broken { color: #b00; }
</style>
</head>
<body>
<h1>zkml serve</h1>
<div id="status" class="muted">loading…</div>
<h2>Models</h2>
<table id="models"><thead><tr><th>name</th><th>inputs</th><th>logrows</th><th>device</th><th>oracle</th></tr></thead><tbody></tbody></table>
<h2>Recent jobs</h2>
<table id="jobs"><thead><tr><th>job</th><th>model</th><th>state</th><th>verified</th><th>attempts</th>
<th>queued s</th><th>prove s</th><th>total s</th><th>outputs</th><th>tx</th></tr></thead><tbody></tbody></table>
<h2>Verified predictions on chain</h2>
<table id="predictions"><thead><tr><th>job</th><th>model</th><th>epoch</th><th>values</th><th>tx</th><th>gas</th><th>provenance</th></tr></thead><tbody></tbody></table>
<div id="provenance"></div>
<script>
"use strict";
function cell(row, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); return td; }
function fmt(x) { return (x === null || x === undefined) ? "" : (typeof x === "number" ? x.toFixed(3) : String(x)); }
function fill(id, rows, render) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.map(r => { const tr = document.createElement("tr"); render(tr, r); return tr; }));
}
async function getJSON(url) { const r = await fetch(url); if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); }
async function showProvenance(job) {
  const box = document.getElementById("provenance");
  box.textContent = "walking provenance of " + job + "…";
  try {
    const walk = await getJSON("/v1/jobs/" + job + "/provenance");
    box.replaceChildren();
    const h = document.createElement("h2"); h.textContent = "Provenance of job " + job + (walk.ok ? ": every link holds" : ": BROKEN"); box.appendChild(h);
    const ul = document.createElement("ul");
    for (const link of walk.links) { const li = document.createElement("li"); li.className = "link-" + link.status; li.textContent = link.name + ": " + link.status + " " + (link.detail || ""); ul.appendChild(li); }
    box.appendChild(ul);
  } catch (e) { box.textContent = "provenance unavailable: " + e.message; }
}
async function refresh() {
  try {
    const [status, models, jobs, preds] = await Promise.all([getJSON("/v1/status"), getJSON("/v1/models"), getJSON("/v1/jobs?limit=25"), getJSON("/v1/predictions")]);
    const c = status.counts;
    document.getElementById("status").textContent = `${status.backend} backend, ${status.workers} worker(s), store ${status.store}; queued ${c.queued}, proving ${c.proving}, publishing ${c.publishing}, done ${c.done}, failed ${c.failed}; ${status.proofs_per_second.toFixed(3)} proofs/s`;
    fill("models", models, (tr, m) => { cell(tr, m.name); cell(tr, m.inputs.map(i => i.name + " " + JSON.stringify(i.shape)).join(", ")); cell(tr, m.logrows); cell(tr, m.device); cell(tr, m.oracle ? m.oracle.address : "—"); });
    fill("jobs", jobs, (tr, j) => {
      tr.dataset.job = j.id; tr.dataset.state = j.state;
      cell(tr, j.id.slice(0, 10)).title = j.id; cell(tr, j.model); cell(tr, j.state, "state-" + j.state);
      cell(tr, j.verified === null ? "" : (j.verified ? "verified" : "NOT verified"), j.verified ? "state-done" : ""); cell(tr, j.attempts);
      cell(tr, fmt(j.started && j.started - j.created)); cell(tr, fmt(j.prove_seconds)); cell(tr, fmt(j.finished && j.finished - j.created));
      cell(tr, j.outputs ? j.outputs.map(v => v.toPrecision(4)).join(", ") : (j.error || "")); cell(tr, j.tx_hash ? j.tx_hash.slice(0, 12) + "…" : "");
    });
    if (!preds.length) {
      // An empty table says what to configure rather than looking broken.
      const oracle = models.some(m => m.oracle);
      const hint = oracle
        ? 'No predictions published yet: POST a job with "publish": true (a token with the publish scope), or run the keeper (--keeper --feed FEED).'
        : 'No predictions published yet: no model here has an oracle. Serve one with --oracle ADDRESS (and --feed FEED --keeper for an attested model), then POST jobs with "publish": true.';
      const tr = document.createElement("tr"); tr.className = "empty"; const td = cell(tr, hint); td.colSpan = 7;
      document.querySelector("#predictions tbody").replaceChildren(tr);
    } else fill("predictions", preds, (tr, p) => {
      cell(tr, p.job.slice(0, 10)); cell(tr, p.model); cell(tr, p.epoch === null ? "" : p.epoch);
      cell(tr, (p.prediction.floats || []).map(v => v.toPrecision(4)).join(", ")); cell(tr, p.tx_hash ? p.tx_hash.slice(0, 12) + "…" : "replayed"); cell(tr, p.gas_used || "");
      const btn = document.createElement("button"); btn.textContent = "walk"; btn.onclick = () => showProvenance(p.job); cell(tr, "").appendChild(btn);
    });
  } catch (e) { document.getElementById("status").textContent = "cannot reach the service: " + e.message; }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"""
