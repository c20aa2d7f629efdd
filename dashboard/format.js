// Labels, colours and number/date formats shared by the modules (Indonesian, Jakarta time).

export const TZ = "Asia/Jakarta";
const LOCALE = "id-ID";

/** Report statuses in three groups, coloured as Qlue did (style.css: --waiting red, --progress
 * yellow, --done green); rejected and duplicate reports are not drawn. */
export const STATUS = {
  SUBMITTED: { label: "Menunggu verifikasi", group: "waiting" },
  VERIFIED: { label: "Terverifikasi", group: "waiting" },
  REOPENED: { label: "Dibuka kembali", group: "waiting" },
  IN_PROGRESS: { label: "Sedang dikerjakan", group: "progress" },
  RESOLVED: { label: "Selesai", group: "done" },
  CLOSED: { label: "Ditutup", group: "done" },
  REJECTED: { label: "Ditolak", group: "hidden" },
  DUPLICATE: { label: "Duplikat", group: "hidden" },
};

/** The statuses drawn on the map (rejected and duplicate reports are not). */
export const MAP_STATUSES = Object.keys(STATUS).filter((s) => STATUS[s].group !== "hidden");

export const statusLabel = (s) => (STATUS[s] ? STATUS[s].label : s);
export const statusGroup = (s) => (STATUS[s] ? STATUS[s].group : "hidden");

const int = new Intl.NumberFormat(LOCALE);
const dec1 = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const pct = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 0 });
const dayMonth = new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", day: "numeric", month: "short" });
const dateTime = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TZ,
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const clock = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, hour: "2-digit", minute: "2-digit" });

export const fmtInt = (n) => (n == null ? "–" : int.format(n));
export const fmtScore = (n) => (n == null ? "–" : dec1.format(n));
export const fmtPct = (n) => (n == null ? "–" : pct.format(n));
export const fmtDateTime = (iso) => (iso ? dateTime.format(new Date(iso)) : "–");
export const fmtClock = (iso) => (iso ? clock.format(new Date(iso)) : "");
/** "14.05" today, "27 Nov 14.05" on other days (Jakarta time). */
export function fmtWhen(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const day = (x) => new Date(x.getTime() + 7 * 3600 * 1000).toISOString().slice(0, 10);
  if (day(d) === day(new Date())) return clock.format(d);
  return `${dayMonthTz.format(d)} ${clock.format(d)}`;
}
const dayMonthTz = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, day: "numeric", month: "short" });

/** a Date scalar ("2026-11-27") as "27 Nov" */
export const fmtDay = (isoDate) => dayMonth.format(new Date(`${isoDate}T00:00:00Z`));

export function fmtMinutes(m) {
  if (m == null) return "–";
  if (m < 60) return `${Math.round(m)} mnt`;
  if (m < 48 * 60) return `${dec1.format(m / 60)} jam`;
  return `${dec1.format(m / 1440)} hari`;
}

export function fmtRating(r) {
  return r == null ? "–" : `${dec1.format(r)} / 5`;
}

/** Today's date in Jakarta (UTC+7, no daylight saving) as YYYY-MM-DD. */
export function jakartaToday() {
  return new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
}

export function addDays(isoDate, n) {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** "Kota Administrasi Jakarta Pusat" stays as it is; the kota of a region code is its first two parts. */
export const kotaCodeOf = (code) => (code || "").split(".").slice(0, 2).join(".");

/** Build DOM without innerHTML: el("li", {class: "x", dataset: {id: 1}}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.setAttribute("class", v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}
