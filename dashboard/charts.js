// Plain SVG charts, drawn at the container's pixel width (so text stays readable on a phone).

import { fmtDay, fmtInt, svg, el } from "./format.js";

export const SERIES = {
  created: { label: "Dibuat", color: "#1d5fa8" },
  resolved: { label: "Diselesaikan", color: "#1f8a3b" },
};

function niceMax(v) {
  if (v <= 4) return 4;
  const pow = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * pow >= v) return m * pow;
  }
  return 10 * pow;
}

/** Created vs resolved per day: two lines (solid / dashed), a <title> per day for the figures. */
export function drawDaily(container, daily) {
  const width = Math.max(260, container.clientWidth);
  const height = width < 500 ? 190 : 230;
  const m = { l: 34, r: 10, t: 10, b: 26 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const n = daily.length;
  const max = niceMax(Math.max(1, ...daily.map((d) => Math.max(d.created, d.resolved))));
  const x = (i) => m.l + (n <= 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v) => m.t + h - (v / max) * h;

  const chart = svg("svg", {
    class: "chart daily-chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Laporan dibuat dan diselesaikan per hari, ${n} hari`,
  });
  for (let i = 0; i <= 4; i += 1) {
    const v = (max / 4) * i;
    chart.append(
      svg("line", { class: "grid", x1: m.l, x2: m.l + w, y1: y(v), y2: y(v) }),
      svg("text", { class: "tick", x: m.l - 6, y: y(v) + 4, "text-anchor": "end" }, fmtInt(v)),
    );
  }
  const labelEvery = Math.max(1, Math.ceil(n / (w / 64)));
  daily.forEach((d, i) => {
    if (i % labelEvery === 0 || i === n - 1) {
      if (i === n - 1 || n - 1 - i >= labelEvery * 0.75) {
        const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
        chart.append(svg("text", { class: "tick", x: x(i), y: height - 8, "text-anchor": anchor }, fmtDay(d.date)));
      }
    }
  });
  for (const key of ["created", "resolved"]) {
    const pts = daily.map((d, i) => `${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(" ");
    chart.append(
      svg("polyline", {
        class: `series series-${key}`,
        points: pts,
        fill: "none",
        stroke: SERIES[key].color,
        "stroke-width": 2,
        "stroke-dasharray": key === "resolved" ? "6 3" : null,
        "stroke-linejoin": "round",
      }),
    );
    if (n <= 31) {
      daily.forEach((d, i) =>
        chart.append(svg("circle", { cx: x(i), cy: y(d[key]), r: 2.5, fill: SERIES[key].color })),
      );
    }
  }
  // Hover bands: the native tooltip gives each day's figures.
  const band = n <= 1 ? w : w / (n - 1);
  daily.forEach((d, i) => {
    chart.append(
      svg(
        "rect",
        { class: "hover-band", x: x(i) - band / 2, y: m.t, width: band, height: h },
        svg("title", {}, `${fmtDay(d.date)}: ${fmtInt(d.created)} dibuat, ${fmtInt(d.resolved)} diselesaikan`),
      ),
    );
  });
  container.replaceChildren(chart);
}

/** Reports by category: horizontal bars, the biggest first; past `limit` rows, the rest as one. */
export function drawCategories(container, byCategory, limit = 8) {
  const rows = byCategory.filter((c) => c.count > 0).map((c) => ({ name: c.category.name, count: c.count }));
  if (!rows.length) {
    container.replaceChildren(el("p", { class: "empty" }, "Belum ada laporan pada periode ini."));
    return;
  }
  rows.sort((a, b) => b.count - a.count || a.name.localeCompare(b.name, "id"));
  let shown = rows;
  if (rows.length > limit) {
    const rest = rows.slice(limit - 1);
    shown = [
      ...rows.slice(0, limit - 1),
      { name: `${rest.length} kategori lain`, count: rest.reduce((s, r) => s + r.count, 0), other: true },
    ];
  }
  const width = Math.max(260, container.clientWidth);
  const rowH = 34;
  const height = shown.length * rowH + 4;
  const max = Math.max(...shown.map((r) => r.count));
  const chart = svg("svg", {
    class: "chart category-chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "Laporan per kategori",
  });
  shown.forEach((r, i) => {
    const top = i * rowH;
    const bw = Math.max(2, ((width - 2) * r.count) / max);
    chart.append(
      svg("text", { class: "bar-label", x: 0, y: top + 13 }, r.name),
      svg("text", { class: "bar-value", x: width, y: top + 13, "text-anchor": "end" }, fmtInt(r.count)),
      svg("rect", { class: r.other ? "bar bar-other" : "bar", x: 0, y: top + 18, width: bw, height: 10, rx: 2 }),
    );
  });
  container.replaceChildren(chart);
}
