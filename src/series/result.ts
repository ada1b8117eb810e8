/** What the node decided for one series: stored as JSON in series.result, read by reports. */

export type Decision = 'urgent' | 'negative';

export interface ModelInfo {
  /** From ich.model: name, version, architecture, intended use. */
  name: string;
  version: string;
  architecture: string;
  intendedUse: string;
  /** sha256 of the ONNX file, hex. */
  sha256: string;
  /** The intended use marks it a demonstration model, not for clinical use. */
  demo: boolean;
}

export interface KeySlice {
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  /** Position along the slice normal (mm), when known. */
  z: number | null;
  /** 1-based position in z order within the series. */
  index: number;
  /** Smoothed probability of the class on this slice. */
  probability: number;
}

export interface SeriesResult {
  seriesUid: string;
  studyUid: string;
  /** 0 for the first decision; a slice arriving later reopens the series as revision + 1. */
  revision: number;
  decision: Decision;
  /** Class names in the model's order, "any" first. */
  classes: string[];
  /** Per class: the maximum over slices of the z-smoothed probability. */
  scores: Record<string, number>;
  /** Per class: the threshold in force (the model's, or the config's override). */
  thresholds: Record<string, number>;
  /** Classes whose score reached their threshold. */
  flagged: string[];
  /** Per flagged class: the slices with the highest smoothed probability, best first. */
  keySlices: Record<string, KeySlice[]>;
  /** Slices classified, and slices that could not be (decode errors). */
  sliceCount: number;
  failedSlices: number;
  smoothing: number[] | 'none';
  model: ModelInfo;
  timings: {
    firstReceivedAt: number;
    lastReceivedAt: number;
    decidedAt: number;
    /** Sum over slices of preprocessing and inference time, ms. */
    preprocessMs: number;
    inferenceMs: number;
  };
}
