// The base map is the kelurahan polygons themselves, in an SVG: one <path class="kel"> per
// kelurahan, report points as <circle class="report-point">. Projection: equirectangular,
// longitudes scaled by cos(latitude), north up. Kepulauan Seribu (31.01.*) lies far north in
// the sea, so it is drawn into an inset in the empty south-west corner of the mainland frame.

import { statusGroup, kotaCodeOf, svg } from "./format.js";

const SERIBU = "31.01";
const WIDTH = 1000; // viewBox units across the mainland
// The inset frame, as fractions of the mainland frame: the south-west corner is outside
// Jakarta (Tangerang Selatan) for both the official polygons and the built-in ones.
const INSET = { x: 0.005, y: 0.6, w: 0.2, h: 0.395 };
const POINT_PX = 5.5;
const LABEL_PX = 12;

const isIsland = (code) => code.startsWith(`${SERIBU}.`);

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

function bounds(regions) {
  const b = { minLng: Infinity, maxLng: -Infinity, minLat: Infinity, maxLat: -Infinity };
  for (const r of regions) {
    for (const ring of rings(r.boundary)) {
      for (const [lng, lat] of ring) {
        if (lng < b.minLng) b.minLng = lng;
        if (lng > b.maxLng) b.maxLng = lng;
        if (lat < b.minLat) b.minLat = lat;
        if (lat > b.maxLat) b.maxLat = lat;
      }
    }
  }
  return b;
}

/** lng/lat -> viewBox units: equirectangular, x scaled by cos(mid-latitude), then fitted. */
function projection(b, scale, ox, oy) {
  const k = cosMidLat(b);
  return (lng, lat) => [ox + (lng - b.minLng) * k * scale, oy + (b.maxLat - lat) * scale];
}

function cosMidLat(b) {
  return Math.cos((((b.minLat + b.maxLat) / 2) * Math.PI) / 180);
}

/** An SVG path for a geometry, dropping vertices closer than `tol` units to the last kept one. */
function pathOf(geometry, project, tol, digits, box) {
  let d = "";
  for (const ring of rings(geometry)) {
    let part = "";
    let n = 0;
    let lx = 0;
    let ly = 0;
    for (let i = 0; i < ring.length; i += 1) {
      const [x, y] = project(ring[i][0], ring[i][1]);
      if (n > 0 && i < ring.length - 1 && Math.abs(x - lx) < tol && Math.abs(y - ly) < tol) continue;
      part += `${n === 0 ? "M" : "L"}${x.toFixed(digits)} ${y.toFixed(digits)}`;
      lx = x;
      ly = y;
      n += 1;
      if (x < box.x0) box.x0 = x;
      if (x > box.x1) box.x1 = x;
      if (y < box.y0) box.y0 = y;
      if (y > box.y1) box.y1 = y;
    }
    if (n >= 2) d += `${part}Z`;
  }
  return d;
}

export class JakartaMap {
  constructor(svgEl, { onHover, onSelect }) {
    this.svg = svgEl;
    this.onHover = onHover;
    this.onSelect = onSelect;
    this.paths = new Map(); // kelurahan id -> path
    this.boxes = new Map(); // kelurahan id -> projected bbox
    this.points = new Map(); // report id -> circle
    this.kota = "";
    this.selected = null;
    this._wire();
    new ResizeObserver(() => this.rescale()).observe(this.svg);
  }

  build(kelurahan) {
    const main = kelurahan.filter((k) => !isIsland(k.code));
    const islands = kelurahan.filter((k) => isIsland(k.code));
    const mb = bounds(main.length ? main : kelurahan);
    const scale = WIDTH / ((mb.maxLng - mb.minLng) * cosMidLat(mb));
    const height = (mb.maxLat - mb.minLat) * scale;
    this.mainProj = projection(mb, scale, 0, 0);
    this.full = { x: -8, y: -8, w: WIDTH + 16, h: height + 16 };

    const sea = svg("rect", { class: "sea", x: -5000, y: -5000, width: 10000 + WIDTH, height: 10000 + height });
    const insetLayer = svg("g", { class: "inset" });
    this.insetProj = null;
    if (islands.length) {
      const frame = { x: INSET.x * WIDTH, y: INSET.y * height, w: INSET.w * WIDTH, h: INSET.h * height };
      const ib = bounds(islands);
      const ik = cosMidLat(ib);
      const pad = 10;
      const top = 44; // room for the label
      const iw = (ib.maxLng - ib.minLng) * ik;
      const ih = ib.maxLat - ib.minLat;
      const s = Math.min((frame.w - 2 * pad) / iw, (frame.h - top - 2 * pad) / ih);
      const ox = frame.x + (frame.w - iw * s) / 2;
      const oy = frame.y + top + pad + (frame.h - top - 2 * pad - ih * s) / 2;
      this.insetProj = projection(ib, s, ox, oy);
      this.insetFrame = frame;
      this.insetLabel = svg(
        "text",
        { class: "inset-label", x: frame.x + 6, y: frame.y + 6 },
        svg("tspan", { x: frame.x + 6 }, "Kepulauan"),
        svg("tspan", { x: frame.x + 6, dy: "1.15em" }, "Seribu"),
      );
      insetLayer.append(
        svg("rect", { class: "inset-frame", x: frame.x, y: frame.y, width: frame.w, height: frame.h, rx: 4 }),
        this.insetLabel,
      );
    }

    const layer = svg("g", { class: "kelurahan-layer" });
    for (const kel of kelurahan) {
      const island = isIsland(kel.code) && this.insetProj;
      const box = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
      const d = island
        ? pathOf(kel.boundary, this.insetProj, 0, 2, box)
        : pathOf(kel.boundary, this.mainProj, 0.7, 1, box);
      const path = svg("path", {
        class: island ? "kel island" : "kel",
        d: d || "M0 0Z",
        "fill-rule": "evenodd",
        dataset: { id: kel.id, code: kel.code, kota: kotaCodeOf(kel.code) },
      });
      this.paths.set(kel.id, path);
      this.boxes.set(kel.id, box);
      layer.append(path);
    }
    this.hoverPath = svg("path", { class: "kel-hover" });
    this.selectedPath = svg("path", { class: "kel-selected" });
    this.pointLayer = svg("g", { class: "point-layer" });
    this.svg.replaceChildren(sea, insetLayer, layer, this.selectedPath, this.hoverPath, this.pointLayer);
    this.svg.style.aspectRatio = `${this.full.w} / ${this.full.h}`;
    this._setView(this.full);
    this.svg.dataset.kelurahan = String(kelurahan.length);
  }

  /** Dim every kelurahan outside the kota (code) and zoom to it; "" shows the whole city. */
  setKota(code) {
    this.kota = code || "";
    if (this.kota) this.svg.dataset.kota = this.kota;
    else delete this.svg.dataset.kota;
    const box = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
    for (const [id, path] of this.paths) {
      const inside = !this.kota || path.dataset.kota === this.kota;
      path.classList.toggle("dimmed", !inside);
      if (inside && this.kota) {
        const b = this.boxes.get(id);
        box.x0 = Math.min(box.x0, b.x0);
        box.x1 = Math.max(box.x1, b.x1);
        box.y0 = Math.min(box.y0, b.y0);
        box.y1 = Math.max(box.y1, b.y1);
      }
    }
    if (!this.kota || !Number.isFinite(box.x0)) {
      this._setView(this.full);
      return;
    }
    if (this.kota === SERIBU && this.insetFrame) {
      const f = this.insetFrame;
      this._setView({ x: f.x - 4, y: f.y - 4, w: f.w + 8, h: f.h + 8 });
      return;
    }
    const w = Math.max(box.x1 - box.x0, 60);
    const h = Math.max(box.y1 - box.y0, 60);
    const m = 0.06 * Math.max(w, h);
    this._setView({ x: (box.x0 + box.x1 - w) / 2 - m, y: (box.y0 + box.y1 - h) / 2 - m, w: w + 2 * m, h: h + 2 * m });
  }

  /** colour(id) -> fill for each kelurahan. */
  shade(colour) {
    for (const [id, path] of this.paths) {
      const c = colour(id);
      path.setAttribute("fill", c);
      if (path.classList.contains("island")) path.style.stroke = c;
    }
  }

  projectReport(report) {
    const { lat, lng } = report.location;
    const proj = this.insetProj && isIsland(report.kelurahan.code) ? this.insetProj : this.mainProj;
    return proj(lng, lat);
  }

  setReports(reports) {
    this.points.clear();
    this.pointLayer.replaceChildren();
    // Oldest first, so the newest are drawn on top.
    for (const r of [...reports].reverse()) this.upsertReport(r);
  }

  upsertReport(report) {
    const group = statusGroup(report.status);
    let circle = this.points.get(report.id);
    if (group === "hidden") {
      if (circle) circle.remove();
      this.points.delete(report.id);
      return;
    }
    if (!circle) {
      const [cx, cy] = this.projectReport(report);
      circle = svg("circle", {
        cx: cx.toFixed(1),
        cy: cy.toFixed(1),
        r: this._radius(),
        dataset: { id: report.id, kota: kotaCodeOf(report.kelurahan.code) },
      });
      this.points.set(report.id, circle);
    }
    circle.setAttribute("class", `report-point status-${group}`);
    circle.dataset.status = report.status;
    if (this.selected && this.selected.type === "report" && this.selected.id === report.id) {
      circle.classList.add("selected");
    }
    this.pointLayer.append(circle); // (re)appended: on top
  }

  select(sel) {
    this.selected = sel;
    for (const c of this.pointLayer.querySelectorAll(".selected")) c.classList.remove("selected");
    this.selectedPath.removeAttribute("d");
    if (!sel) return;
    if (sel.type === "kel") {
      const path = this.paths.get(sel.id);
      if (path) this.selectedPath.setAttribute("d", path.getAttribute("d"));
    } else {
      const c = this.points.get(sel.id);
      if (c) {
        c.classList.add("selected");
        this.pointLayer.append(c);
      }
    }
  }

  flash(reportId) {
    const c = this.points.get(reportId);
    if (!c) return;
    c.classList.remove("flash");
    void c.getBBox();
    c.classList.add("flash");
  }

  _setView(v) {
    this.view = v;
    this.svg.setAttribute("viewBox", `${v.x.toFixed(1)} ${v.y.toFixed(1)} ${v.w.toFixed(1)} ${v.h.toFixed(1)}`);
    this.rescale();
  }

  /** px per viewBox unit ("meet": the smaller of both axes). */
  _scale() {
    const w = this.svg.clientWidth;
    const h = this.svg.clientHeight;
    if (!w || !h || !this.view) return 1;
    return Math.min(w / this.view.w, h / this.view.h);
  }

  _radius() {
    const small = this.svg.clientWidth < 500;
    return ((small ? POINT_PX - 1 : POINT_PX) / this._scale()).toFixed(2);
  }

  /** Keep points and labels the same size on screen whatever the zoom and the width. */
  rescale() {
    if (!this.pointLayer) return;
    const r = this._radius();
    for (const c of this.points.values()) c.setAttribute("r", r);
    if (this.insetLabel) {
      const px = this.svg.clientWidth < 500 ? LABEL_PX - 1.5 : LABEL_PX;
      this.insetLabel.setAttribute("font-size", (px / this._scale()).toFixed(2));
    }
  }

  _target(evt) {
    const t = evt.target;
    if (!(t instanceof Element)) return null;
    if (t.classList.contains("report-point")) return { type: "report", id: t.dataset.id };
    if (t.classList.contains("kel")) return { type: "kel", id: t.dataset.id };
    return null;
  }

  _wire() {
    let last = null;
    this.svg.addEventListener("pointermove", (evt) => {
      if (evt.pointerType !== "mouse") return;
      const t = this._target(evt);
      const key = t ? `${t.type}:${t.id}` : null;
      if (t && t.type === "kel") {
        if (key !== last) this.hoverPath.setAttribute("d", this.paths.get(t.id).getAttribute("d"));
      } else {
        this.hoverPath.removeAttribute("d");
      }
      last = key;
      this.onHover(t, evt);
    });
    this.svg.addEventListener("pointerleave", () => {
      last = null;
      this.hoverPath.removeAttribute("d");
      this.onHover(null, null);
    });
    this.svg.addEventListener("click", (evt) => {
      const t = this._target(evt);
      this.onSelect(t);
    });
  }
}
