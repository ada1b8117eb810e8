// Generates synthetic head CT slices and series as DICOM Part 10 files for tests that must not depend on real data (the generator lives in src/bench, which the benchmarks share).
export * from '../../src/dicom/syntheticCt.js';
