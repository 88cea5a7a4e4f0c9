/**
 * Small inline SVG charts for the HTML report: vertical columns (a time series, stacked or
 * not), horizontal bars (one row per category, grouped or stacked) and lines. Each is a plain
 * string with its own axis, legend and a <title> per mark, so the page needs no script.
 */

export interface Series {
  name: string;
  /** One value per label; null draws nothing (no data, or not asked). */
  values: (number | null)[];
  color: string;
}

export interface ChartOptions {
  /** What the chart shows, for screen readers. */
  label: string;
  /** Appended to values in ticks and titles: '%', ' min'. */
  unit?: string;
  stacked?: boolean;
  /** Counts: ticks on whole numbers only. */
  whole?: boolean;
  /** The top of the scale (100 for percentages, 3 for survey scores); else from the data. */
  max?: number;
}

/** Drawing units across; the page shows them at about this many pixels, narrower on a small screen. */
const WIDTH = 1080;

export const escapeXml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const fmt = (value: number): string =>
  Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 2 });

/** 1, 2 or 5 times a power of ten, at least `value`: a tick step that reads well. */
export function niceStep(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value - 1e-9)!;
}

/** The scale: its top (a whole number of steps) and its ticks, about four of them. */
function scaleOf(series: readonly Series[], options: ChartOptions, count: number): { top: number; ticks: number[] } {
  let top = options.max ?? 0;
  if (options.max === undefined) {
    for (let i = 0; i < count; i++) {
      const values = series.map((s) => s.values[i] ?? 0);
      top = Math.max(top, options.stacked ? values.reduce((a, b) => a + b, 0) : Math.max(0, ...values));
    }
  }
  const step = options.whole ? Math.max(1, niceStep(top / 4)) : niceStep(top / 4);
  top = Math.max(step, Math.ceil(top / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let t = 0; t <= top + 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return { top, ticks };
}

function legend(series: readonly Series[], x: number, y: number): string {
  if (series.length < 2) return '';
  let offset = x;
  return series
    .map((s) => {
      const item =
        `<rect x="${offset}" y="${y - 9}" width="10" height="10" rx="2" fill="${s.color}"/>` +
        `<text x="${offset + 14}" y="${y}" class="legend">${escapeXml(s.name)}</text>`;
      offset += 24 + s.name.length * 7;
      return item;
    })
    .join('');
}

const svgOpen = (width: number, height: number, label: string) =>
  `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
  `role="img" aria-label="${escapeXml(label)}">`;

/** A mark's tooltip: "2024-05-02 zoom: 3". */
const title = (text: string) => `<title>${escapeXml(text)}</title>`;

/**
 * What columns and lines share: the scale up the left side with a grid line and value per tick, the
 * opening <svg> and legend, and `every`: one label in so many is written (about 12 at most).
 */
function plotFrame(
  labels: readonly string[],
  series: readonly Series[],
  options: ChartOptions,
  box: { height: number; left: number; right: number },
) {
  const { height, left, right } = box;
  const top = 28;
  const plotW = WIDTH - left - right;
  const plotH = height - top - 40;
  const { top: max, ticks } = scaleOf(series, options, labels.length);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const unit = options.unit ?? '';
  const parts = [svgOpen(WIDTH, height, options.label), legend(series, left, 14)];
  for (const v of ticks) {
    parts.push(
      `<line x1="${left}" x2="${WIDTH - right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>` +
        `<text x="${left - 6}" y="${y(v) + 4}" class="tick" text-anchor="end">${fmt(v)}${unit}</text>`,
    );
  }
  return { plotW, y, unit, parts, every: Math.ceil(labels.length / 12) };
}

/** A label under the plot, centred on `x`. */
const labelTick = (label: string, x: number, height: number) =>
  `<text x="${x.toFixed(1)}" y="${height - 22}" class="tick" text-anchor="middle">${escapeXml(label)}</text>`;

/** Vertical columns, one group (or stack) per label: sessions per day. */
export function columnChart(labels: readonly string[], series: readonly Series[], options: ChartOptions): string {
  const height = 260;
  const left = 48;
  const { plotW, y, unit, parts, every } = plotFrame(labels, series, options, { height, left, right: 12 });
  const slot = plotW / Math.max(1, labels.length);
  labels.forEach((label, i) => {
    const x0 = left + i * slot;
    const barW = options.stacked ? slot * 0.7 : (slot * 0.8) / Math.max(1, series.length);
    let base = 0;
    series.forEach((s, j) => {
      const v = s.values[i];
      if (v === null || v === undefined || v === 0) return;
      const x = options.stacked ? x0 + slot * 0.15 : x0 + slot * 0.1 + j * barW;
      const from = options.stacked ? base : 0;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(from + v).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" ` +
          `height="${(y(from) - y(from + v)).toFixed(1)}" fill="${s.color}">` +
          `${title(`${label} ${s.name}: ${fmt(v)}${unit}`)}</rect>`,
      );
      if (options.stacked) base += v;
    });
    if (i % every === 0) parts.push(labelTick(label, x0 + slot / 2, height));
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Lines over the labels, with a dot per value; a null breaks the line. */
export function lineChart(labels: readonly string[], series: readonly Series[], options: ChartOptions): string {
  const height = 240;
  const left = 56;
  // Lines do not stack: the scale reaches the highest value, not the highest sum.
  const unstacked = { ...options, stacked: false };
  const { plotW, y, unit, parts, every } = plotFrame(labels, series, unstacked, { height, left, right: 20 });
  const x = (i: number) => left + (labels.length === 1 ? plotW / 2 : (i / (labels.length - 1)) * plotW);
  labels.forEach((label, i) => {
    if (i % every === 0) parts.push(labelTick(label, x(i), height));
  });
  for (const s of series) {
    let path = '';
    s.values.forEach((v, i) => {
      if (v === null) return;
      path += `${path === '' || s.values[i - 1] === null ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      parts.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${s.color}">` +
          `${title(`${labels[i]} ${s.name}: ${fmt(v)}${unit}`)}</circle>`,
      );
    });
    if (path) parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal bars, one row per label (a provider): grouped per series, or stacked (shares). */
export function barChart(labels: readonly string[], series: readonly Series[], options: ChartOptions): string {
  const width = WIDTH;
  const left = Math.min(380, Math.max(90, 16 + 7 * Math.max(...labels.map((l) => l.length))));
  const right = 70;
  const plotW = width - left - right;
  const bar = 16;
  const rowH = options.stacked ? bar + 14 : series.length * (bar + 3) + 12;
  const top = series.length > 1 ? 26 : 8;
  const height = top + labels.length * rowH + 22;
  const { top: max, ticks } = scaleOf(series, options, labels.length);
  const w = (v: number) => (v / max) * plotW;
  const unit = options.unit ?? '';
  const parts: string[] = [svgOpen(width, height, options.label), legend(series, left, 14)];
  for (const v of ticks) {
    const tx = left + w(v);
    parts.push(
      `<line x1="${tx}" x2="${tx}" y1="${top}" y2="${height - 20}" class="grid"/>` +
        `<text x="${tx}" y="${height - 6}" class="tick" text-anchor="middle">${fmt(v)}${unit}</text>`,
    );
  }
  labels.forEach((label, i) => {
    const y0 = top + i * rowH + 6;
    const labelY = y0 + (options.stacked ? bar : rowH - 12) / 2 + 4;
    parts.push(`<text x="${left - 8}" y="${labelY}" class="label" text-anchor="end">${escapeXml(label)}</text>`);
    let base = 0;
    series.forEach((s, j) => {
      const v = s.values[i];
      const y = options.stacked ? y0 : y0 + j * (bar + 3);
      if (v === null || v === undefined) {
        const none = series.length > 1 ? `${s.name}: no data` : 'no data';
        if (!options.stacked) parts.push(`<text x="${left + 4}" y="${y + 12}" class="muted">${escapeXml(none)}</text>`);
        return;
      }
      const x = left + (options.stacked ? w(base) : 0);
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(v > 0 ? 1 : 0, w(v)).toFixed(1)}" height="${bar}" ` +
          `fill="${s.color}">${title(`${label} ${s.name}: ${fmt(v)}${unit}`)}</rect>`,
      );
      if (options.stacked) {
        if (w(v) > 34)
          parts.push(
            `<text x="${(x + w(v) / 2).toFixed(1)}" y="${y + 12}" class="inbar" text-anchor="middle">` +
              `${fmt(v)}${unit}</text>`,
          );
        base += v;
      } else {
        parts.push(`<text x="${(x + w(v) + 4).toFixed(1)}" y="${y + 12}" class="value">${fmt(v)}${unit}</text>`);
      }
    });
  });
  parts.push('</svg>');
  return parts.join('');
}
