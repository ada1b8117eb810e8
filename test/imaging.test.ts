// Stored values -> HU -> windows -> resize, against hand-computed numbers. OpenCV's own
// results are quoted where the case is one of its quirks (cv2 4.6, float32 input).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PixelFrame, StoredPixels } from '../src/imaging/frame.js';
import { airHu, hounsfieldUnits, huTable, mapStoredValues, needsRsnaFix, storedBits } from '../src/imaging/hounsfield.js';
import { resizeLinear, resizeTabulated } from '../src/imaging/resize.js';
import { sliceTensor } from '../src/imaging/tensor.js';
import { applyWindow, windowBounds } from '../src/imaging/windows.js';
import { encodeNpyFloat32 } from '../src/util/npy.js';
import { readNpyFloat32 } from './helpers/npy.js';

const f32 = Math.fround;

function frame(pixels: StoredPixels, o: Partial<PixelFrame> = {}): PixelFrame {
  const bitsStored = o.bitsStored ?? 12;
  return {
    rows: 1,
    columns: pixels.length,
    bitsAllocated: 16,
    bitsStored,
    highBit: bitsStored - 1,
    pixelRepresentation: 0,
    photometricInterpretation: 'MONOCHROME2',
    samplesPerPixel: 1,
    rescaleSlope: 1,
    rescaleIntercept: -1024,
    pixels,
    ...o,
  };
}

const hu = (f: PixelFrame) => Array.from(hounsfieldUnits(f));

describe('stored values to HU', () => {
  it('12-bit unsigned: only the 12 stored bits count', () => {
    // 0xF400 carries garbage above bit 11: its stored value is 0x400 = 1024.
    expect(hu(frame(Uint16Array.of(0, 1024, 0xf400, 4095)))).toEqual([-1024, 0, 0, 3071]);
  });

  it('16-bit signed', () => {
    expect(hu(frame(Int16Array.of(-2000, 0, 3000, -32768), { bitsStored: 16, pixelRepresentation: 1 }))).toEqual([-3024, -1024, 1976, -33792]);
  });

  it('12-bit signed in 16-bit words: sign taken from bit 11, whatever the upper bits hold', () => {
    // 0x0FFF is -1 in 12 bits; 0xF800 (already sign-extended) and 0x0800 are both -2048.
    const f = frame(Uint16Array.of(0x0fff, 0xf800, 0x0800, 0x07ff), { pixelRepresentation: 1, rescaleIntercept: 0 });
    expect(hu(f)).toEqual([-1, -2048, -2048, 2047]);
  });

  it('HighBit above BitsStored - 1 shifts the stored value down', () => {
    // BitsStored 12 at HighBit 15: the value sits in bits 4..15.
    expect(hu(frame(Uint16Array.of(0x4000, 0x400f), { highBit: 15, rescaleIntercept: 0 }))).toEqual([1024, 1024]);
  });

  it('slope and intercept in float64, rounded once to float32', () => {
    expect(hu(frame(Uint16Array.of(2048, 2049), { bitsStored: 16, rescaleSlope: 0.5 }))).toEqual([0, 0.5]);
    // 3 x 0.1 = 0.30000000000000004 in float64; float32 of that, not of 0.3 computed in float32.
    expect(hu(frame(Uint16Array.of(3), { rescaleSlope: 0.1, rescaleIntercept: -1024 }))).toEqual([f32(3 * 0.1 - 1024)]);
  });

  describe('RSNA 12-bit defect fix', () => {
    it('applies to BitsStored 12, unsigned, intercept > -100 only', () => {
      expect(needsRsnaFix(12, 0, 0)).toBe(true);
      expect(needsRsnaFix(12, 0, -99)).toBe(true);
      expect(needsRsnaFix(12, 0, -100)).toBe(false);
      expect(needsRsnaFix(12, 0, -1024)).toBe(false);
      expect(needsRsnaFix(12, 1, 0)).toBe(false);
      expect(needsRsnaFix(16, 0, 0)).toBe(false);
    });

    it('adds 1000, wraps values >= 4096, uses intercept -1000 (the file says 0)', () => {
      // 0 -> 1000 -> 0 HU; 2000 -> 3000 -> 2000 HU; 3096 -> 4096 -> 0 -> -1000 HU; 4095 -> 5095 -> 999 -> -1 HU.
      expect(hu(frame(Uint16Array.of(0, 2000, 3096, 4095), { rescaleIntercept: 0 }))).toEqual([0, 2000, -1000, -1]);
    });

    it('the slope still multiplies after the fix', () => {
      expect(hu(frame(Uint16Array.of(0), { rescaleIntercept: 0, rescaleSlope: 2 }))).toEqual([1000]);
    });
  });

  it('MONOCHROME1 inverts every stored bit before rescaling', () => {
    expect(hu(frame(Uint16Array.of(0, 1024, 4095), { photometricInterpretation: 'MONOCHROME1' }))).toEqual([3071, 2047, -1024]);
    const signed = frame(Int16Array.of(-1, 0, 100), { bitsStored: 16, pixelRepresentation: 1, rescaleIntercept: 0, photometricInterpretation: 'MONOCHROME1' });
    expect(hu(signed)).toEqual([0, -1, -101]);
  });

  it('PixelPaddingValue maps to air, matched on the stored value before any other step', () => {
    const padded = frame(Uint16Array.of(63536, 1024, 63535), { bitsStored: 16, pixelPaddingValue: 63536, rescaleSlope: 3 });
    expect(hu(padded)).toEqual([airHu, 2048, 189581]);
    // With MONOCHROME1 the padding value still names the stored (not the inverted) value.
    const inverted = frame(Uint16Array.of(4095, 0), { pixelPaddingValue: 4095, photometricInterpretation: 'MONOCHROME1' });
    expect(hu(inverted)).toEqual([airHu, 3071]);
  });

  it('a padding range covers both ends, in either order, and signed values', () => {
    const f = frame(Int16Array.of(-2001, -2000, -1500, -1000, -999), {
      bitsStored: 16,
      pixelRepresentation: 1,
      rescaleIntercept: 0,
      pixelPaddingValue: -1000,
      pixelPaddingRangeLimit: -2000,
    });
    expect(hu(f)).toEqual([-2001, airHu, airHu, airHu, -999]);
  });

  it('the HU table has one entry per stored bit pattern, and a lookup applies it', () => {
    const f = frame(Uint16Array.of(0x400f), { highBit: 15 });
    expect(storedBits(f)).toEqual({ shift: 4, mask: 4095 });
    const table = huTable(f);
    expect(table.length).toBe(4096);
    expect(table[1024]).toBe(0);
    expect(Array.from(mapStoredValues(f, table))).toEqual([0]);
  });

  it('rejects BitsStored or HighBit it cannot honour', () => {
    expect(() => hounsfieldUnits(frame(Uint16Array.of(0), { bitsStored: 17 }))).toThrow(/BitsStored 17/);
    expect(() => hounsfieldUnits(frame(Uint16Array.of(0), { bitsStored: 12, highBit: 10 }))).toThrow(/HighBit 10/);
    expect(() => hounsfieldUnits(frame(Uint16Array.of(0), { bitsStored: 12, highBit: 16 }))).toThrow(/HighBit 16/);
  });
});

describe('windows', () => {
  const brain = { name: 'brain', center: 40, width: 80 };
  const bone = { name: 'bone', center: 600, width: 2800 };

  it('clips to [c - w/2, c + w/2] and scales to [0, 1]', () => {
    expect(Array.from(applyWindow(Float32Array.of(-1000, 0, 40, 60, 80, 3000), brain))).toEqual([0, 0, 0.5, 0.75, 1, 1]);
    expect(Array.from(applyWindow(Float32Array.of(-800, 600, 2000, 2001), bone))).toEqual([0, 0.5, 1, 1]);
  });

  it('in float32 arithmetic, like numpy on float32 arrays', () => {
    // (1 - 0) / 80 = 0.0125, rounded to float32.
    expect(applyWindow(Float32Array.of(1), brain)[0]).toBe(f32(0.0125));
    expect(windowBounds({ name: 'odd', center: 0.1, width: 0.3 })).toEqual({ low: f32(0.1 - 0.15), width: f32(0.3), high: f32(f32(0.1 - 0.15) + f32(0.3)) });
  });

  it('refuses a width that is not positive', () => {
    expect(() => windowBounds({ name: 'flat', center: 0, width: 0 })).toThrow(/width 0/);
  });
});

describe('bilinear resize (OpenCV INTER_LINEAR)', () => {
  const plane = (values: number[]) => Float32Array.from(values);

  it('upscales with half-pixel centres; borders copy the edge pixel', () => {
    // 2x2 -> 4x4: source x of destination x is (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
    expect(Array.from(resizeLinear(plane([0, 1, 2, 3]), 2, 2, 4, 4))).toEqual([
      0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3,
    ]);
  });

  it('an exact halving averages 2x2 blocks', () => {
    const src = plane(Array.from({ length: 16 }, (_, i) => i));
    expect(Array.from(resizeLinear(src, 4, 4, 2, 2))).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('does not antialias: a larger downscale samples between two pixels', () => {
    // 3 -> 1: source x = 0.5 * 3 - 0.5 = 1, the middle pixel alone.
    expect(Array.from(resizeLinear(plane([1, 5, 9]), 1, 3, 1, 1))).toEqual([5]);
    // 7 -> 3: source x = 7/6, 10/3, 11/2: cv2.resize gives 6.666667, 30, 53.333336.
    expect(Array.from(resizeLinear(plane([0, 10, 20, 30, 40, 50, 60]), 1, 7, 1, 3))).toEqual([f32(6.666667), 30, f32(53.333336)]);
  });

  it('keeps both row weights on a clamped border row, unlike columns (cv2.resize, 1 -> 6 pixels)', () => {
    const v = 0.91275554895401;
    const tall = Array.from(resizeLinear(plane([v, v]), 2, 1, 6, 1));
    const wide = Array.from(resizeLinear(plane([v, v]), 1, 2, 1, 6));
    // Values quoted from cv2.resize(np.full((2, 1), v, np.float32), (1, 6)) and its transpose.
    const w = 0.9127554893493652;
    expect(tall).toEqual([w, v, w, w, v, w]);
    expect(wide).toEqual([v, v, w, w, v, v]);
  });

  it('the same size is the identity', () => {
    const src = plane([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    expect(resizeLinear(src, 2, 3, 2, 3)).toEqual(src);
  });

  it('through tables equals looking each channel up and resizing it', () => {
    const words = Uint16Array.from({ length: 37 * 41 }, (_, i) => (i * 7919) % 4096);
    const tables = [0, 1, 2].map((c) => Float32Array.from({ length: 4096 }, (_, k) => Math.sin(k + c)));
    const together = resizeTabulated({ rows: 37, columns: 41, tables, codes: { words, shift: 0, mask: 4095 } }, 16, 16);
    tables.forEach((table, c) => {
      const alone = resizeLinear(Float32Array.from(words, (k) => table[k]!), 37, 41, 16, 16);
      expect(together.subarray(c * 256, (c + 1) * 256)).toEqual(alone);
    });
  });
});

describe('bilinear resize against cv2.resize itself', () => {
  // Size pairs: down and up, by integer and odd factors, one axis at a time, and the model sizes
  // from a CT slice. Exact halvings in both directions are left out (OpenCV's INTER_AREA path,
  // documented in resize.ts).
  const shapes: [number, number, number, number][] = [
    [512, 512, 128, 128], [512, 512, 224, 224], [37, 41, 16, 16], [16, 16, 37, 41], [7, 300, 13, 77],
    [300, 7, 77, 13], [1, 9, 5, 4], [64, 48, 64, 20], [5, 5, 5, 5], [130, 129, 33, 250],
  ];

  it('gives float32 results equal bit for bit, on planes and through tables of 16-bit and 8-bit words', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ich-resize-cv2-'));
    try {
      let seed = 1;
      const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
      const table = (entries: number) => Float32Array.from({ length: entries }, () => f32(random() * 2 - 0.5));
      // Per shape: 14-bit codes stored above 2 low bits in signed 16-bit words, and 8-bit codes,
      // each with its table; cv2 resizes the planes the tables give.
      const cases = shapes.map(([rows, columns]) => {
        const codes14 = Uint16Array.from({ length: rows * columns }, () => Math.floor(random() * 0x4000));
        const codes8 = Uint8Array.from({ length: rows * columns }, () => Math.floor(random() * 256));
        const table14 = table(0x4000);
        const table8 = table(256);
        return {
          words16: Int16Array.from(codes14, (c) => (c << 2) | 3),
          table14,
          plane14: Float32Array.from(codes14, (c) => table14[c]!),
          codes8,
          table8,
          plane8: Float32Array.from(codes8, (c) => table8[c]!),
        };
      });
      cases.forEach((c, i) => {
        const [rows, columns] = shapes[i]!;
        writeFileSync(path.join(dir, `in14-${i}.npy`), encodeNpyFloat32(c.plane14, [rows, columns]));
        writeFileSync(path.join(dir, `in8-${i}.npy`), encodeNpyFloat32(c.plane8, [rows, columns]));
      });
      const script = [
        'import sys, json, numpy as np, cv2',
        'd = sys.argv[1]',
        'for i, (r, c, dr, dc) in enumerate(json.loads(sys.argv[2])):',
        '    for k in ("14", "8"):',
        '        np.save(f"{d}/out{k}-{i}.npy", cv2.resize(np.load(f"{d}/in{k}-{i}.npy"), (dc, dr), interpolation=cv2.INTER_LINEAR).astype(np.float32))',
      ].join('\n');
      execFileSync('/usr/bin/python3', ['-c', script, dir, JSON.stringify(shapes)], { stdio: 'pipe', timeout: 60_000 });
      const expected = (name: string) => readNpyFloat32(readFileSync(path.join(dir, name))).data;
      cases.forEach((c, i) => {
        const [rows, columns, dstRows, dstCols] = shapes[i]!;
        const what = `${rows}x${columns} -> ${dstRows}x${dstCols}`;
        expect(resizeLinear(c.plane14, rows, columns, dstRows, dstCols), `plane ${what}`).toEqual(expected(`out14-${i}.npy`));
        const words16 = resizeTabulated({ rows, columns, tables: [c.table14], codes: { words: c.words16, shift: 2, mask: 0x3fff } }, dstRows, dstCols);
        expect(words16, `16-bit words ${what}`).toEqual(expected(`out14-${i}.npy`));
        const words8 = resizeTabulated({ rows, columns, tables: [c.table8], codes: { words: c.codes8, shift: 0, mask: 0xff } }, dstRows, dstCols);
        expect(words8, `8-bit words ${what}`).toEqual(expected(`out8-${i}.npy`));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the same tables with more entries the second time are read whole (the kernel keeps tables between calls)', () => {
    const table = Float32Array.from({ length: 65536 }, (_, k) => Math.fround(Math.sin(k)));
    const bytes = Uint8Array.from({ length: 20 * 30 }, (_, i) => (i * 37) % 256);
    const words = Uint16Array.from({ length: 20 * 30 }, (_, i) => (i * 7919) % 65536);
    const tables = [table];
    const calls = [[bytes, 0xff], [words, 0xffff], [bytes, 0xff]] as const;
    // Expected values first: a resize of planes replaces the tables the kernel keeps.
    const expected = calls.map(([codes]) => resizeLinear(Float32Array.from(codes, (k) => table[k]!), 20, 30, 7, 9));
    const results = calls.map(([codes, mask]) => resizeTabulated({ rows: 20, columns: 30, tables, codes: { words: codes, shift: 0, mask } }, 7, 9));
    expect(results).toEqual(expected);
  });

  it('writes into a given output, which must have the size of the result', () => {
    const src = Float32Array.from({ length: 12 }, (_, i) => i);
    const out = new Float32Array(6).fill(-1);
    expect(resizeTabulated({ rows: 3, columns: 4, tables: [src] }, 2, 3, out)).toBe(out);
    expect(out).toEqual(resizeLinear(src, 3, 4, 2, 3));
    expect(() => resizeTabulated({ rows: 3, columns: 4, tables: [src] }, 2, 3, new Float32Array(5))).toThrow(/holds 5 values/);
  });
});

describe('sliceTensor', () => {
  it('one channel per window, in the order given, [channels, size, size]', () => {
    const f = { ...frame(Uint16Array.of(1024, 1064, 1104, 4095), { bitsStored: 16 }), rows: 2, columns: 2 };
    const windows = [
      { name: 'bone', center: 600, width: 2800 },
      { name: 'brain', center: 40, width: 80 },
    ];
    // HU 0, 40, 80, 3071: bone (-800..2000) then brain (0..80).
    expect(Array.from(sliceTensor(f, { size: 2, windows }))).toEqual([
      f32(800 / 2800), f32(840 / 2800), f32(880 / 2800), 1,
      0, 0.5, 1, 1,
    ]);
  });

  it('follows the frame when consecutive frames differ in encoding', () => {
    const spec = { size: 1, windows: [{ name: 'brain', center: 40, width: 80 }] };
    const unsigned = frame(Uint16Array.of(1064));
    const signed = frame(Int16Array.of(40), { bitsStored: 16, pixelRepresentation: 1, rescaleIntercept: 0 });
    const defect = frame(Uint16Array.of(60), { rescaleIntercept: 0 });
    expect(sliceTensor(unsigned, spec)[0]).toBe(0.5);
    expect(sliceTensor(signed, spec)[0]).toBe(0.5);
    // 60 + 1000 - 1000 = 60 HU.
    expect(sliceTensor(defect, spec)[0]).toBe(0.75);
    expect(sliceTensor(unsigned, { ...spec, windows: [{ name: 'wide', center: 40, width: 160 }] })[0]).toBe(0.5);
  });
});
