import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric the node exports, in one registry (no global state: tests run several nodes). */
export function createMetrics() {
  const registry = new Registry();
  // Includes nodejs_eventloop_lag_* and process memory, with our prefix.
  collectDefaultMetrics({ register: registry, prefix: 'ich_triage_' });
  const m = {
    registry,
    associations: new Counter({ name: 'ich_triage_associations_total', help: 'DICOM associations by outcome', labelNames: ['outcome'], registers: [registry] }),
    rejections: new Counter({ name: 'ich_triage_rejections_total', help: 'Refused associations and instances by reason', labelNames: ['reason'], registers: [registry] }),
    instances: new Counter({ name: 'ich_triage_instances_received_total', help: 'C-STORE requests by answered status', labelNames: ['status'], registers: [registry] }),
    bytes: new Counter({ name: 'ich_triage_received_bytes_total', help: 'Data set bytes of stored instances', registers: [registry] }),
    queue: new Gauge({ name: 'ich_triage_queue_depth', help: 'Work waiting per stage', labelNames: ['queue'], registers: [registry] }),
    sliceLatency: new Histogram({
      name: 'ich_triage_slice_classification_seconds',
      help: 'Seconds from a slice being stored to its probabilities being stored',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    inference: new Histogram({
      name: 'ich_triage_inference_seconds_per_slice',
      help: 'session.run time per slice of a batch',
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers: [registry],
    }),
    decided: new Counter({ name: 'ich_triage_series_decided_total', help: 'Series outcomes', labelNames: ['outcome'], registers: [registry] }),
    alertLatency: new Histogram({
      name: 'ich_triage_decision_seconds_after_last_slice',
      help: 'Seconds from the last slice of a series to its decision',
      buckets: [1, 2, 5, 10, 15, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    outbox: new Gauge({ name: 'ich_triage_outbox_rows', help: 'Outbox rows by state', labelNames: ['state'], registers: [registry] }),
    outboxFailures: new Counter({ name: 'ich_triage_outbox_failed_attempts_total', help: 'Failed delivery attempts by kind', labelNames: ['kind'], registers: [registry] }),
    model: new Gauge({ name: 'ich_triage_model_info', help: 'The loaded model (value 1)', labelNames: ['name', 'version', 'sha256', 'provider', 'fallbacks'], registers: [registry] }),
    diskFree: new Gauge({ name: 'ich_triage_disk_free_bytes', help: 'Free bytes on the data directory file system', registers: [registry] }),
    diskLow: new Gauge({ name: 'ich_triage_disk_low', help: '1 while new instances are refused for lack of disk space', registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
