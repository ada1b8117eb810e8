// The HTML report renders its charts in a real browser: headless Debian Chromium takes a
// screenshot of the page opened from disk, and the curves' colours must be on it.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { buildReport } from '../src/eval/report.js';
import { renderHtml } from '../src/eval/html.js';
import { rsnaClasses, sampleRunInfo, syntheticSlices } from './evalHelpers.js';

const chromium = '/usr/bin/chromium';

/** 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGB rows. */
function decodePng(png: Buffer): { width: number; height: number; rgb: (x: number, y: number) => [number, number, number] } {
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const [depth, colorType, , , interlace] = png.subarray(24, 29);
  if (depth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) throw new Error(`PNG depth ${depth}, colour type ${colorType}, interlace ${interlace} not handled`);
  const channels = colorType === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += length + 12;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels]! : 0;
      const paeth = () => {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      const predictor = [0, a, b, (a + b) >> 1, filter === 4 ? paeth() : 0][filter]!;
      pixels[y * stride + i] = (x + predictor) & 0xff;
    }
  }
  return { width, height, rgb: (x, y) => [pixels[y * stride + x * channels]!, pixels[y * stride + x * channels + 1]!, pixels[y * stride + x * channels + 2]!] };
}

describe.skipIf(!existsSync(chromium))('eval HTML report in headless Chromium', () => {
  it('shows the PR and ROC curves', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'eval-shot-'));
    try {
      const { slices, labels } = syntheticSlices();
      const { report, rows } = buildReport({
        slices,
        unreadable: [],
        outcomes: [],
        labels: { format: 'wide', bySop: new Map(slices.map((s, i) => [s.sopInstanceUid, labels[i]!])), duplicatesDropped: 0 },
        classes: rsnaClasses,
        thresholds: Object.fromEntries(rsnaClasses.map((c) => [c, 0.5])),
        precisionTarget: 0.7,
        recallTarget: 0.9,
        suggestBy: 'precision',
        worstLimit: 5,
        run: sampleRunInfo(rsnaClasses),
      });
      const html = path.join(dir, 'report.html');
      writeFileSync(html, renderHtml(report, rows));
      const png = path.join(dir, 'shot.png');
      execFileSync(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${path.join(dir, 'profile')}`,
          `--screenshot=${png}`,
          '--window-size=1200,2000',
          `file://${html}`,
        ],
        { stdio: 'pipe', timeout: 60_000 },
      );
      const shot = decodePng(readFileSync(png));
      expect([shot.width, shot.height]).toEqual([1200, 2000]);
      // Curves are #1f77b4, operating points #d62728 (anti-aliased edges are near those colours).
      const near = (p: [number, number, number], q: [number, number, number]) => p.every((v, i) => Math.abs(v - q[i]!) <= 24);
      let curve = 0;
      let marker = 0;
      const curveColumns = new Set<number>();
      for (let y = 0; y < shot.height; y++) {
        for (let x = 0; x < shot.width; x++) {
          const p = shot.rgb(x, y);
          if (near(p, [0x1f, 0x77, 0xb4])) {
            curve++;
            curveColumns.add(Math.floor(x / 100));
          } else if (near(p, [0xd6, 0x27, 0x28])) marker++;
        }
      }
      // 12 charts of ~220 px with 2 px strokes: thousands of curve pixels, spread across the page width.
      expect(curve).toBeGreaterThan(3000);
      expect(curveColumns.size).toBeGreaterThanOrEqual(8);
      expect(marker).toBeGreaterThan(11 * 20); // a dot of radius 4 on (at least) 11 charts with a curve
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
