/** Inline SVG line charts for the HTML report: no scripts, no fonts or files from elsewhere. */
import type { Point } from './curves.js';

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Null: nothing to draw, `empty` says why. */
  points: Point[] | null;
  empty: string;
  /** The operating point at the thresholds in force. */
  marker?: Point;
  /** The chance line of a ROC chart. */
  diagonal?: boolean;
}

const width = 280;
const height = 250;
const margin = { left: 44, right: 12, top: 26, bottom: 40 };
const plotW = width - margin.left - margin.right;
const plotH = height - margin.top - margin.bottom;

const px = (x: number) => margin.left + x * plotW;
const py = (y: number) => margin.top + (1 - y) * plotH;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Pixel coordinates to 0.1 px, consecutive repeats dropped: 100k slices still make a small path. */
export function polylinePoints(points: readonly Point[]): string {
  const out: string[] = [];
  for (const p of points) {
    const xy = `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`;
    if (out[out.length - 1] !== xy) out.push(xy);
  }
  return out.join(' ');
}

export function lineChart(spec: ChartSpec): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${px(t)}" y1="${py(0)}" x2="${px(t)}" y2="${py(1)}" class="grid"/>` +
        `<line x1="${px(0)}" y1="${py(t)}" x2="${px(1)}" y2="${py(t)}" class="grid"/>` +
        `<text x="${px(t)}" y="${py(0) + 14}" text-anchor="middle">${t}</text>` +
        `<text x="${px(0) - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`,
    )
    .join('');
  const body =
    spec.points === null
      ? `<text x="${px(0.5)}" y="${py(0.5)}" text-anchor="middle" class="empty">${escapeXml(spec.empty)}</text>`
      : [
          spec.diagonal ? `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" class="chance"/>` : '',
          `<polyline points="${polylinePoints(spec.points)}" class="curve"/>`,
          spec.marker ? `<circle cx="${px(spec.marker.x).toFixed(1)}" cy="${py(spec.marker.y).toFixed(1)}" r="4" class="marker"/>` : '',
        ].join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" class="title">${escapeXml(spec.title)}</text>`,
    `<rect x="${px(0)}" y="${py(1)}" width="${plotW}" height="${plotH}" class="frame"/>`,
    grid,
    body,
    `<text x="${px(0.5)}" y="${height - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text x="12" y="${py(0.5)}" text-anchor="middle" transform="rotate(-90 12 ${py(0.5)})">${escapeXml(spec.yLabel)}</text>`,
    '</svg>',
  ].join('');
}
