// Warga city dashboard: wires the filters, the map, the charts, the rankings and the live feed
// to the public GraphQL API. On load: one request for the catalog (kelurahan polygons and
// categories), one for the figures (stats, kelurahan scores and counts, recent reports), one for
// the ranking table, and one websocket for the live feed.

import { ApiError, LiveSubscription, gql } from "./api.js";
import { drawCategories, drawDaily } from "./charts.js";
import {
  MAP_STATUSES,
  STATUS,
  addDays,
  el,
  fmtClock,
  fmtDateTime,
  fmtInt,
  fmtMinutes,
  fmtPct,
  fmtWhen,
  fmtRating,
  fmtScore,
  jakartaToday,
  kotaCodeOf,
  statusGroup,
  statusLabel,
} from "./format.js";
import { JakartaMap } from "./map.js";
import { CATALOG, LIVE, RANKINGS, figuresQuery } from "./queries.js";

// ------------------------------------------------------------------ state

const PAGE = 100;
const FEED_MAX = 60;
const FEED_SEED = 12;
const REFRESH_AFTER_EVENT_MS = 10000;
const LEVELS = ["KELURAHAN", "KECAMATAN", "KOTA", "DINAS", "STAFF"];

const state = {
  days: 30,
  categoryId: "",
  categoryCode: "", // from the URL, until the categories are known
  kota: "", // kota code, e.g. "31.71"
  mode: "open", // map colour: open reports or score
  level: "KELURAHAN",
  selected: null, // {type: "kel"|"report", id}
};

const cat = {
  kelurahan: [],
  kelById: new Map(),
  kotas: [], // {id, code, name, kelurahan: n}
  kotaByCode: new Map(),
  categories: [],
};

let figures = { open: new Map(), score: new Map(), rankedCount: 0, summary: null };
const reports = new Map(); // report id -> report, as last seen (query or live event)
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ helpers

function period() {
  const to = jakartaToday();
  const from = addDays(to, -(state.days - 1));
  return { from, to, since: `${from}T00:00:00+07:00` };
}

const kotaId = () => (state.kota ? cat.kotaByCode.get(state.kota).id : null);
const categoryIds = () => (state.categoryId ? [state.categoryId] : null);

function showError(err, retry) {
  const text = err instanceof ApiError ? err.message : `Terjadi kesalahan: ${err.message || err}`;
  $("error-text").textContent = text;
  $("error").hidden = false;
  $("error-retry").onclick = () => {
    $("error").hidden = true;
    retry();
  };
  console.warn(err);
}

function readUrl() {
  const q = new URLSearchParams(location.search);
  const days = Number(q.get("hari"));
  if ([7, 30, 90].includes(days)) state.days = days;
  state.kota = q.get("kota") || "";
  state.categoryCode = q.get("kategori") || "";
  if (q.get("peta") === "skor") state.mode = "score";
  if (LEVELS.includes(q.get("peringkat"))) state.level = q.get("peringkat");
}

function writeUrl() {
  const q = new URLSearchParams();
  if (state.days !== 30) q.set("hari", state.days);
  const category = cat.categories.find((c) => c.id === state.categoryId);
  if (category) q.set("kategori", category.code);
  if (state.kota) q.set("kota", state.kota);
  if (state.mode === "score") q.set("peta", "skor");
  if (state.level !== "KELURAHAN") q.set("peringkat", state.level);
  const search = q.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

// ------------------------------------------------------------------ catalog

async function loadCatalog() {
  const data = await gql(CATALOG);
  cat.kelurahan = data.regions;
  cat.categories = data.categories;
  const kotas = new Map();
  for (const k of cat.kelurahan) {
    cat.kelById.set(k.id, k);
    const kota = k.parent.parent;
    if (!kotas.has(kota.code)) kotas.set(kota.code, { ...kota, kelurahan: 0, kecamatan: new Set() });
    kotas.get(kota.code).kelurahan += 1;
    kotas.get(kota.code).kecamatan.add(k.parent.id);
  }
  cat.kotas = [...kotas.values()].sort((a, b) => a.code.localeCompare(b.code));
  for (const k of cat.kotas) cat.kotaByCode.set(k.code, k);
  if (state.kota && !cat.kotaByCode.has(state.kota)) state.kota = "";
  const category = cat.categories.find((c) => c.code === state.categoryCode);
  state.categoryId = category ? category.id : "";

  $("f-kota").append(...cat.kotas.map((k) => el("option", { value: k.code }, k.name)));
  $("f-category").append(...cat.categories.map((c) => el("option", { value: c.id }, c.name)));
  $("f-kota").value = state.kota;
  $("f-category").value = state.categoryId;
  $("f-period").value = String(state.days);
}

// ------------------------------------------------------------------ figures

let figuresSeq = 0;

async function loadFigures({ quiet = false } = {}) {
  const seq = ++figuresSeq;
  const kecamatan = state.kota
    ? [...cat.kotaByCode.get(state.kota).kecamatan]
    : cat.kotas.flatMap((k) => [...k.kecamatan]);
  const p = period();
  const variables = {
    region: kotaId(),
    cats: categoryIds(),
    period: { from: p.from, to: p.to },
    since: p.since,
    statuses: MAP_STATUSES,
  };
  kecamatan.forEach((id, i) => {
    variables[`k${i}`] = id;
  });
  if (!quiet) document.body.dataset.figures = "loading";
  let data;
  try {
    data = await gql(figuresQuery(kecamatan.length), variables);
  } catch (err) {
    if (seq === figuresSeq) showError(err, () => loadFigures());
    return;
  }
  if (seq !== figuresSeq) return; // a newer filter won
  $("error").hidden = true;
  const open = new Map();
  kecamatan.forEach((_, i) => {
    for (const r of data[`k${i}`].byRegion) open.set(r.region.id, r);
  });
  const score = new Map(data.scores.map((e) => [String(e.unitId), e]));
  const rankedCount = data.scores.filter((e) => !e.belowMinimum).length;
  figures = { open, score, rankedCount, summary: data.summary };

  const recent = data.recent.edges.map((e) => e.node);
  for (const r of recent) reports.set(r.id, r);
  map.setReports(recent);
  map.select(state.selected);
  $("map").dataset.reports = String(recent.length);
  seedFeed(recent);

  shadeMap();
  renderKpis(data.summary);
  renderCharts();
  if (state.selected) renderDetail(state.selected);
  document.body.dataset.figures = "ready";
  document.body.dataset.state = "ready";
}

// ------------------------------------------------------------------ map colours

const OPEN_COLOURS = ["#f3f1f6", "#e0d6ee", "#c5b1de", "#a68aca", "#8865b3", "#6b4897"];
// Which of OPEN_COLOURS[1..5] k classes use: the top class is always a strong colour.
const OPEN_SPREAD = { 1: [4], 2: [2, 5], 3: [1, 3, 5], 4: [1, 2, 4, 5], 5: [1, 2, 3, 4, 5] };
const SCORE_COLOURS = ["#dbe9f6", "#b2cfe9", "#80aed8", "#4f8cc3", "#2866a6"];
const SCORE_BREAKS = [40, 55, 70, 85];
const NO_SCORE = "#e6e6e6";

/** Classes for open-report counts: 0, then five equal steps up to the largest count shown. */
function openClasses() {
  let max = 0;
  for (const [id, r] of figures.open) {
    if (!state.kota || kotaCodeOf(cat.kelById.get(id)?.code) === state.kota) max = Math.max(max, r.open);
  }
  const top = Math.max(max, 1);
  const step = Math.ceil(top / 5);
  const k = Math.ceil(top / step);
  const classes = [{ colour: OPEN_COLOURS[0], label: "0", test: (n) => n === 0 }];
  for (let i = 0; i < k; i += 1) {
    const lo = i * step + 1;
    const hi = Math.min((i + 1) * step, top);
    classes.push({
      colour: OPEN_COLOURS[OPEN_SPREAD[k][i]],
      label: lo === hi ? String(lo) : `${lo}–${hi}`,
      test: (n) => n >= lo && (n <= hi || i === k - 1),
    });
  }
  return classes;
}

function scoreClasses() {
  const edges = [0, ...SCORE_BREAKS, 101];
  const classes = [];
  for (let i = 0; i < SCORE_COLOURS.length; i += 1) {
    const lo = edges[i];
    const hi = edges[i + 1];
    const label = i === 0 ? `< ${hi}` : i === SCORE_COLOURS.length - 1 ? `≥ ${lo}` : `${lo}–${hi}`;
    classes.push({ colour: SCORE_COLOURS[i], label, test: (s) => s >= lo && s < hi });
  }
  return classes;
}

function shadeMap() {
  const open = state.mode === "open";
  const classes = open ? openClasses() : scoreClasses();
  map.shade((id) => {
    if (open) {
      const n = figures.open.get(id)?.open ?? 0;
      return (classes.find((c) => c.test(n)) || classes[classes.length - 1]).colour;
    }
    const e = figures.score.get(id);
    if (!e || e.belowMinimum) return NO_SCORE; // unranked: too few reports to colour by score
    return (classes.find((c) => c.test(e.score)) || classes[classes.length - 1]).colour;
  });
  const items = classes.map((c) => el("li", {}, el("span", { class: "swatch", style: `background:${c.colour}` }), c.label));
  if (!open) items.push(el("li", {}, el("span", { class: "swatch", style: `background:${NO_SCORE}` }), "belum dinilai / terlalu sedikit laporan"));
  $("legend").replaceChildren(
    el("span", { class: "legend-title" }, open ? "Laporan terbuka per kelurahan" : "Skor kinerja kelurahan (0–100)"),
    el("ul", {}, items),
  );
  $("map").dataset.mode = state.mode;
}

// ------------------------------------------------------------------ KPIs and charts

function renderKpis(summary) {
  const by = Object.fromEntries(summary.byStatus.map((s) => [s.status, s.count]));
  const sum = (group) => Object.keys(STATUS).filter((s) => STATUS[s].group === group).reduce((t, s) => t + (by[s] || 0), 0);
  const waiting = sum("waiting");
  const progress = sum("progress");
  const done = sum("done");
  const counted = waiting + progress + done;
  $("kpi-total").textContent = fmtInt(summary.total);
  $("kpi-waiting").textContent = fmtInt(waiting);
  $("kpi-progress").textContent = fmtInt(progress);
  $("kpi-done").textContent = fmtInt(done);
  $("kpi-rate").textContent = counted ? fmtPct(done / counted) : "–";
}

function renderCharts() {
  if (!figures.summary) return;
  drawDaily($("chart-daily"), figures.summary.daily);
  drawCategories($("chart-category"), figures.summary.byCategory);
}

// ------------------------------------------------------------------ details and tooltip

function kelurahanFigures(id) {
  const kel = cat.kelById.get(id);
  const counts = figures.open.get(id) || { count: 0, open: 0, resolved: 0 };
  const score = figures.score.get(id);
  return { kel, counts, score };
}

function kelurahanLines(id, full) {
  const { kel, counts, score } = kelurahanFigures(id);
  const lines = [
    el("strong", { class: "t-title" }, `Kelurahan ${kel.name}`),
    el("span", { class: "t-sub" }, `Kec. ${kel.parent.name} · ${kel.parent.parent.name}`),
    el("span", {}, "Laporan terbuka: ", el("b", {}, fmtInt(counts.open))),
    el("span", {}, `Laporan ${state.days} hari: ${fmtInt(counts.count)} · selesai ${fmtInt(counts.resolved)}`),
    score
      ? el(
          "span",
          {},
          "Skor: ",
          el("b", {}, fmtScore(score.score)),
          score.belowMinimum ? ` · ${TOO_FEW}` : ` · peringkat ${score.rank} dari ${figures.rankedCount}`,
        )
      : el("span", {}, "Skor: belum dinilai (belum ada laporan terverifikasi)"),
  ];
  if (full && score) {
    lines.push(el("span", {}, `Diterima ${fmtInt(score.reportsReceived)} · diselesaikan ${fmtInt(score.reportsResolved)}`));
  }
  return lines;
}

function reportLines(id, full) {
  const r = reports.get(id);
  if (!r) return [el("span", {}, "Laporan tidak ditemukan.")];
  const group = statusGroup(r.status);
  const text = full || r.description.length <= 120 ? r.description : `${r.description.slice(0, 117)}…`;
  const lines = [
    el("strong", { class: "t-title" }, r.category.name),
    el("span", { class: "t-status" }, el("span", { class: `dot status-${group}` }), statusLabel(r.status)),
    el("span", { class: "t-text" }, text),
    el("span", { class: "t-sub" }, `Kel. ${r.kelurahan.name}, Kec. ${r.kelurahan.parent.name}`),
    el("span", { class: "t-sub" }, `Dilaporkan ${fmtDateTime(r.createdAt)}`),
  ];
  if (full) {
    if (r.address) lines.push(el("span", { class: "t-sub" }, r.address));
    lines.push(el("span", { class: "t-sub" }, `${fmtInt(r.voteCount)} dukungan · ${fmtInt(r.commentCount)} komentar · #${r.id}`));
  }
  return lines;
}

function renderDetail(sel) {
  const box = $("detail");
  if (!sel) {
    box.replaceChildren(el("p", { class: "hint" }, "Arahkan atau ketuk kelurahan maupun titik laporan untuk melihat rinciannya."));
    delete box.dataset.type;
    return;
  }
  const lines = sel.type === "kel" ? kelurahanLines(sel.id, true) : reportLines(sel.id, true);
  box.dataset.type = sel.type;
  box.dataset.id = sel.id;
  box.replaceChildren(
    el("div", { class: "detail-body" }, lines),
    el("button", { type: "button", class: "detail-close", "aria-label": "Tutup rincian", onclick: () => select(null) }, "×"),
  );
}

function select(sel) {
  state.selected = sel;
  map.select(sel);
  renderDetail(sel);
}

function showTooltip(target, evt) {
  const tip = $("tooltip");
  if (!target) {
    tip.hidden = true;
    return;
  }
  tip.replaceChildren(...(target.type === "kel" ? kelurahanLines(target.id, false) : reportLines(target.id, false)));
  tip.hidden = false;
  const wrap = $("map-wrap").getBoundingClientRect();
  const w = tip.offsetWidth;
  const h = tip.offsetHeight;
  let x = evt.clientX - wrap.left + 14;
  let y = evt.clientY - wrap.top + 14;
  if (x + w > wrap.width) x = Math.max(0, evt.clientX - wrap.left - w - 14);
  if (y + h > wrap.height) y = Math.max(0, evt.clientY - wrap.top - h - 14);
  tip.style.transform = `translate(${x}px, ${y}px)`;
}

// ------------------------------------------------------------------ rankings

let rankingSeq = 0;
let rankingOffset = 0;
const TOO_FEW = "terlalu sedikit laporan untuk diperingkat";

function rankingScope(level) {
  if (level === "DINAS") return null; // a dinas serves the whole city
  return kotaId();
}

function rankingNote() {
  const parts = [`Periode ${state.days} hari, diurutkan menurut skor.`];
  if (state.level === "DINAS") parts.push("Dinas melayani seluruh Jakarta: peringkat se-Jakarta.");
  else if (state.kota) parts.push(`Hanya unit di ${cat.kotaByCode.get(state.kota).name}.`);
  if (state.categoryId) parts.push("Peringkat mencakup semua kategori.");
  parts.push("Unit tanpa laporan terverifikasi tidak diberi peringkat; unit dengan terlalu sedikit laporan ditampilkan terpisah di bawah, tanpa peringkat.");
  parts.push("Rentang dalam tanda kurung: interval kepercayaan 95%.");
  return parts.join(" ");
}

function unitCell(e) {
  const sub = [];
  let kota = "";
  if (e.region) {
    kota = kotaCodeOf(e.region.code);
    if (state.level === "KELURAHAN") {
      const kel = cat.kelById.get(String(e.unitId));
      if (kel) sub.push(`Kec. ${kel.parent.name}`, kel.parent.parent.name);
    } else if (state.level === "KECAMATAN") {
      sub.push(cat.kotaByCode.get(kota)?.name || kota);
    }
  } else if (e.staff) {
    if (e.staff.region) {
      sub.push(e.staff.region.name);
      kota = kotaCodeOf(e.staff.region.code);
    }
    if (e.staff.agency) sub.push(e.staff.agency.name);
  } else if (e.agency) {
    sub.push(e.agency.code);
  }
  return { kota, cell: el("td", { class: "unit" }, el("span", { class: "unit-name" }, e.unitName), sub.length ? el("span", { class: "unit-sub" }, sub.join(" · ")) : null) };
}

function rankingRow(e) {
  const { kota, cell } = unitCell(e);
  const range = (low, high) => `${fmtPct(low)}–${fmtPct(high)}`;
  const num = (label, ...content) => el("td", { class: "num", "data-label": label }, ...content);
  const pct = (label, n, d, rate, low, high) =>
    num(label, fmtPct(rate), el("span", { class: "cell-sub" }, `${fmtInt(n)}/${fmtInt(d)}`),
      low == null ? null : el("span", { class: "cell-sub ci", title: "interval kepercayaan 95%" }, `(${range(low, high)})`));
  cell.setAttribute("data-label", "Unit");
  return el(
    "tr",
    { class: e.belowMinimum ? "unit-row below-min" : "unit-row", dataset: { unitId: e.unitId, kota, rank: e.rank ?? "" } },
    el("td", { class: "num rank", "data-label": "#", title: e.belowMinimum ? TOO_FEW : null }, e.belowMinimum ? "–" : e.rank),
    cell,
    num("Skor", el("span", { class: "score-bar", style: `--w:${Math.max(0, Math.min(100, e.score))}%` }), fmtScore(e.score)),
    num("Laporan", fmtInt(e.reportsReceived)),
    pct("Direspons", e.reportsResponded, e.reportsReceived, e.responseRate, e.responseRateLow, e.responseRateHigh),
    pct("Selesai", e.reportsResolved, e.reportsReceived, e.resolutionRate),
    num("Tepat SLA", fmtPct(e.slaComplianceRate),
      el("span", { class: "cell-sub ci", title: "interval kepercayaan 95%" }, `(${range(e.slaComplianceRateLow, e.slaComplianceRateHigh)})`)),
    num("Median respons", fmtMinutes(e.medianResponseMinutes)),
    num("Median selesai", fmtMinutes(e.medianResolutionMinutes)),
    num("Rating", fmtRating(e.averageRating)),
  );
}

/** Rows for a page of entries; the unranked ones (always after every ranked one) get a heading
 * row of their own the first time one appears. */
function rankingRows(entries, body) {
  const rows = [];
  let headed = body.querySelector("tr.below-head") !== null;
  for (const e of entries) {
    if (e.belowMinimum && !headed) {
      rows.push(el("tr", { class: "below-head" }, el("td", { colspan: 10 }, `Terlalu sedikit laporan untuk diperingkat: ditampilkan tanpa peringkat.`)));
      headed = true;
    }
    rows.push(rankingRow(e));
  }
  return rows;
}

async function loadRankings({ append = false } = {}) {
  const seq = ++rankingSeq;
  const table = $("ranking-table");
  const level = state.level;
  if (!append) rankingOffset = 0;
  table.setAttribute("aria-busy", "true");
  const p = period();
  let data;
  try {
    data = await gql(RANKINGS, {
      level,
      period: { from: p.from, to: p.to },
      within: rankingScope(level),
      first: PAGE,
      offset: rankingOffset,
    });
  } catch (err) {
    if (seq === rankingSeq) showError(err, () => loadRankings({ append }));
    return;
  }
  if (seq !== rankingSeq) return;
  const body = table.tBodies[0];
  if (!append) body.replaceChildren();
  body.append(...rankingRows(data.rankings, body));
  if (!body.rows.length) {
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: 10 }, "Belum ada unit yang dinilai pada periode ini.")));
  }
  rankingOffset += data.rankings.length;
  $("rank-more").hidden = data.rankings.length < PAGE;
  $("rank-note").textContent = rankingNote();
  table.dataset.level = level;
  table.dataset.kota = level === "DINAS" ? "" : state.kota;
  table.setAttribute("aria-busy", "false");
}

// ------------------------------------------------------------------ live feed

const seenCursors = new Set();
let refreshTimer = null;

function feedVariables() {
  const filter = {};
  if (state.kota) filter.regionId = kotaId();
  if (state.categoryId) filter.categoryIds = [state.categoryId];
  return { filter };
}

function feedScope() {
  const parts = [state.kota ? cat.kotaByCode.get(state.kota).name : "Seluruh DKI Jakarta"];
  const category = cat.categories.find((c) => c.id === state.categoryId);
  if (category) parts.push(category.name);
  $("feed-scope").textContent = parts.join(" · ");
}

function setLiveStatus(status, detail) {
  const box = $("live-status");
  box.dataset.state = status;
  box.textContent = {
    connecting: "Menyambung…",
    live: "Langsung",
    waiting: `Terputus, mencoba lagi dalam ${Math.ceil((detail || 0) / 1000)} dtk`,
    error: "Gangguan, menyambung ulang…",
  }[status];
  if (status === "error") console.warn("live feed:", detail);
}

function feedItem(ev) {
  const r = ev.report;
  let kind = "Laporan baru";
  let text = r.description;
  let group = statusGroup(r.status);
  if (ev.kind === "STATUS_CHANGED" && ev.statusChange) {
    kind = `${statusLabel(ev.statusChange.from)} → ${statusLabel(ev.statusChange.to)}`;
    text = ev.statusChange.note || r.description;
    group = statusGroup(ev.statusChange.to);
  } else if (ev.kind === "COMMENT_ADDED" && ev.comment) {
    kind = ev.comment.isOfficial ? "Tanggapan resmi" : "Komentar warga";
    text = ev.comment.body;
  }
  if (ev.kind === "RECENT") kind = "Dilaporkan";
  if (text.length > 140) text = `${text.slice(0, 137)}…`;
  const when = ev.kind === "RECENT" ? fmtWhen(ev.occurredAt) : fmtClock(ev.occurredAt);
  return el(
    "li",
    {
      class: `feed-item kind-${ev.kind.toLowerCase()}`,
      dataset: { reportId: r.id, kind: ev.kind, cursor: ev.cursor || "" },
    },
    el(
      "button",
      { type: "button", class: "feed-link", onclick: () => focusReport(r.id) },
      el("span", { class: `dot status-${group === "hidden" ? "hidden" : group}`, "aria-hidden": "true" }),
      el(
        "span",
        { class: "feed-body" },
        el("span", { class: "feed-meta" }, el("time", { datetime: ev.occurredAt }, when), ` · ${kind}`),
        el("span", { class: "feed-title" }, `${r.category.name} — ${r.kelurahan.name}`),
        el("span", { class: "feed-text" }, text),
      ),
    ),
  );
}

let feedNeedsSeed = true;

/** Below the live events, the newest reports from the figures query, so the column is never blank. */
function seedFeed(recent) {
  if (!feedNeedsSeed) return;
  feedNeedsSeed = false;
  const list = $("feed");
  const present = new Set([...list.children].map((li) => li.dataset.reportId));
  const items = recent
    .filter((r) => !present.has(r.id))
    .slice(0, FEED_SEED)
    .map((r) => feedItem({ kind: "RECENT", report: r, occurredAt: r.createdAt }));
  list.append(...items);
  $("feed-empty").hidden = list.children.length > 0;
}

function onLiveEvent(ev) {
  if (seenCursors.has(ev.cursor)) return;
  seenCursors.add(ev.cursor);
  const r = ev.report;
  reports.set(r.id, r);
  const inPeriod = new Date(r.createdAt) >= new Date(period().since);
  if (ev.kind === "CREATED" || map.points.has(r.id) || inPeriod) {
    map.upsertReport(r);
    if (ev.kind !== "VOTES_CHANGED") map.flash(r.id);
  }
  if (state.selected && state.selected.type === "report" && state.selected.id === r.id) renderDetail(state.selected);
  if (ev.kind !== "VOTES_CHANGED") {
    const list = $("feed");
    list.prepend(feedItem(ev));
    while (list.children.length > FEED_MAX) list.lastElementChild.remove();
    $("feed-empty").hidden = true;
  }
  if (!refreshTimer) {
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      loadFigures({ quiet: true });
      loadRankings();
    }, REFRESH_AFTER_EVENT_MS);
  }
}

function focusReport(id) {
  select({ type: "report", id });
  const mapPanel = $("map-wrap");
  const rect = mapPanel.getBoundingClientRect();
  if (rect.bottom < 0 || rect.top > window.innerHeight) mapPanel.scrollIntoView({ behavior: "smooth", block: "center" });
}

const live = new LiveSubscription({ query: LIVE, field: "reportEvents", onEvent: onLiveEvent, onStatus: setLiveStatus });

// ------------------------------------------------------------------ wiring

const map = new JakartaMap($("map"), {
  onHover: showTooltip,
  onSelect: (t) => select(t),
});

function applyFilters() {
  writeUrl();
  map.setKota(state.kota);
  const sel = state.selected;
  if (sel && state.kota) {
    const code = sel.type === "kel" ? cat.kelById.get(sel.id)?.code : reports.get(sel.id)?.kelurahan.code;
    if (kotaCodeOf(code) !== state.kota) select(null);
  }
  loadFigures();
  loadRankings();
  $("feed").replaceChildren();
  $("feed-empty").hidden = false;
  feedNeedsSeed = true;
  feedScope();
  live.start(feedVariables());
}

function bindControls() {
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("f-period").addEventListener("change", (e) => {
    state.days = Number(e.target.value);
    writeUrl();
    loadFigures();
    loadRankings();
  });
  $("f-category").addEventListener("change", (e) => {
    state.categoryId = e.target.value;
    applyFilters();
  });
  $("f-kota").addEventListener("change", (e) => {
    state.kota = e.target.value;
    applyFilters();
  });
  for (const b of document.querySelectorAll(".seg")) {
    b.addEventListener("click", () => {
      state.mode = b.dataset.mode;
      for (const o of document.querySelectorAll(".seg")) o.setAttribute("aria-pressed", String(o === b));
      writeUrl();
      shadeMap();
      if (state.selected) renderDetail(state.selected);
    });
  }
  const tabs = [...document.querySelectorAll(".tab")];
  for (const t of tabs) {
    t.addEventListener("click", () => {
      state.level = t.dataset.level;
      for (const o of tabs) {
        o.setAttribute("aria-selected", String(o === t));
        o.tabIndex = o === t ? 0 : -1;
      }
      writeUrl();
      loadRankings();
    });
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
      if (next) {
        next.focus();
        next.click();
      }
    });
  }
  $("rank-more").addEventListener("click", () => loadRankings({ append: true }));
  let resizeTimer = null;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderCharts, 120);
  }).observe($("chart-daily"));
}

function syncControls() {
  for (const o of document.querySelectorAll(".seg")) o.setAttribute("aria-pressed", String(o.dataset.mode === state.mode));
  for (const o of document.querySelectorAll(".tab")) {
    const on = o.dataset.level === state.level;
    o.setAttribute("aria-selected", String(on));
    o.tabIndex = on ? 0 : -1;
  }
}

async function init() {
  readUrl();
  syncControls();
  try {
    await loadCatalog();
  } catch (err) {
    $("map-loading").textContent = "Peta tidak dapat dimuat.";
    showError(err, () => location.reload());
    return;
  }
  bindControls();
  map.build(cat.kelurahan);
  map.setKota(state.kota);
  $("map-loading").hidden = true;
  feedScope();
  live.start(feedVariables());
  await Promise.all([loadFigures(), loadRankings()]);
}

init();
