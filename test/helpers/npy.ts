/** A float32 array read from a NumPy .npy file (format versions 1-3, little endian, C order). */
export interface NpyFloat32 {
  shape: number[];
  data: Float32Array;
}

const magic = '\x93NUMPY';

export function readNpyFloat32(file: Buffer): NpyFloat32 {
  if (file.toString('latin1', 0, 6) !== magic) throw new Error('not a .npy file');
  const major = file[6];
  const headerLength = major === 1 ? file.readUInt16LE(8) : file.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = file.toString('latin1', headerStart, headerStart + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  if (descr !== '<f4') throw new Error(`dtype ${descr}: only little-endian float32 is read`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error('Fortran order is not read');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new Error('no shape in .npy header');
  const shape = shapeText.split(',').filter((s) => s.trim() !== '').map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLength;
  if (file.length < start + 4 * count) throw new Error(`.npy holds fewer than ${count} values`);
  // Copy: the Buffer's offset within its pool need not be 4-byte aligned.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(file.subarray(start, start + 4 * count));
  return { shape, data };
}
