/** Slice geometry from ImageOrientationPatient and ImagePositionPatient (PS3.3 C.7.6.2). */

export type Vec3 = [number, number, number];

/** The slice normal: row direction x column direction. */
export function sliceNormal(iop: readonly number[] | undefined): Vec3 | undefined {
  if (!iop || iop.length !== 6 || iop.some((v) => !Number.isFinite(v))) return undefined;
  const [r0, r1, r2, c0, c1, c2] = iop as [number, number, number, number, number, number];
  const n: Vec3 = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
  const len = Math.hypot(...n);
  return len > 0 ? [n[0] / len, n[1] / len, n[2] / len] : undefined;
}

/** Position along the slice normal; the patient's z when the orientation is missing. */
export function positionAlongNormal(ipp: readonly number[] | undefined, iop: readonly number[] | undefined): number | undefined {
  if (!ipp || ipp.length !== 3 || ipp.some((v) => !Number.isFinite(v))) return undefined;
  const n = sliceNormal(iop) ?? [0, 0, 1];
  return ipp[0]! * n[0] + ipp[1]! * n[1] + ipp[2]! * n[2];
}

/** Angle in degrees between the slice normal and the patient's z axis: 0 for a true axial slice. */
export function tiltDegrees(iop: readonly number[] | undefined): number | undefined {
  const n = sliceNormal(iop);
  if (!n) return undefined;
  return (Math.acos(Math.min(1, Math.abs(n[2]))) * 180) / Math.PI;
}
