import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sliceThumbnail } from './reports/thumbnail.js';
import path from 'node:path';
import type http from 'node:http';
import type { Config } from './config/schema.js';
import { exposedSecrets, loadConfig, type LoadedConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import type { Db } from './store/db.js';
import { openNodeDb } from './store/nodeDb.js';
import { InstanceStore } from './store/instances.js';
import { SliceStore } from './store/slices.js';
import { SeriesStore } from './store/series.js';
import { OutboxStore } from './store/outbox.js';
import { RetentionStore } from './store/retention.js';
import { queuesFromDb, statusFromDb } from './store/status.js';
import { DicomServer, type ScpOptions } from './dicom/scp.js';
import { SpoolReceiver } from './ingest/receiver.js';
import { DiskWatermark } from './ingest/disk.js';
import { loadModelContract } from './inference/contract.js';
import type { InferenceEngine } from './inference/engine.js';
import { startModel as startRunningModel } from './inference/model.js';
import { StageLoop } from './pipeline/loop.js';
import { ClassifyStage, holdWhileReceiving } from './pipeline/classifyStage.js';
import { DecideStage, type DecisionModel } from './pipeline/decideStage.js';
import { RetentionStage } from './pipeline/retentionStage.js';
import { EarlyAlert } from './pipeline/earlyAlert.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { planOutputs } from './dispatch/plan.js';
import { createEmailSender } from './dispatch/emailSender.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createHttpServer, type HealthCheck } from './http/server.js';
import type { NodeStatus } from './status.js';
import { softwareVersion } from './version.js';
import { IchError, errorMessage } from './errors.js';
import { lowerHelperThreads } from './util/threadPriority.js';

export interface DaemonOptions {
  configFile?: string;
  logger?: Logger;
}

interface Model {
  engine: InferenceEngine;
  decision: DecisionModel;
}

/** Wiring and lifecycle of `ich-triage serve`: start in order, stop in reverse, reload on SIGHUP. */
export class Daemon {
  readonly startedAt = Date.now();
  private reloading: Promise<void> | undefined;

  private constructor(
    private loaded: LoadedConfig,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly db: Db,
    private readonly disk: DiskWatermark,
    private model: Model,
    private readonly classify: ClassifyStage,
    private readonly loops: StageLoop[],
    readonly dicom: DicomServer,
    private readonly http: http.Server,
    /** Stops the WAL checkpointer, then closes the database. */
    private readonly closeDb: () => Promise<void>,
  ) {}

  get config(): Readonly<Config> {
    return this.loaded.config;
  }

  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const loaded = loadConfig(opts.configFile);
    const config = loaded.config;
    const log = opts.logger ?? createLogger(config.logging);
    for (const e of exposedSecrets(loaded)) {
      log.warn({ file: e.file, mode: e.mode, holds: e.holds }, 'file holding secrets is readable by group or others: chmod 600 it');
    }
    const metrics = createMetrics();
    // Before any worker starts: inference workers set their own priority, and the WAL
    // checkpointer's RESTART holds commits off while it runs.
    log.info({ threads: await lowerHelperThreads() }, 'helper threads at lower CPU priority than the event loop');
    const { db, close: closeDb } = await openNodeDb(config.storage.dataDir, log);

    // Holders so that a reload swaps what the stages read.
    let daemon: Daemon | undefined;
    const current = () => daemon?.loaded.config ?? config;
    const currentModel = () => daemon?.model.decision ?? model.decision;

    const disk = new DiskWatermark(config.storage.dataDir, config.storage.minFreeMb, (low, freeMb) => {
      metrics.diskLow.set(low ? 1 : 0);
      if (low) log.error({ freeMb: Math.round(freeMb), minFreeMb: current().storage.minFreeMb }, 'disk space low: refusing new instances (0xA700)');
      else log.info({ freeMb: Math.round(freeMb) }, 'disk space recovered: accepting instances');
    });
    await disk.start();

    let model: Model;
    try {
      model = await startModel(loaded, log);
    } catch (err) {
      disk.stop();
      await closeDb();
      throw err;
    }
    setModelMetric(metrics, model);

    const slices = new SliceStore(db);
    const seriesStore = new SeriesStore(db);
    const outbox = new OutboxStore(db);
    const early = new EarlyAlert(seriesStore, outbox, () => ({ config: current(), model: currentModel() }), log.child({ component: 'alerts' }));
    const classify = new ClassifyStage(model.engine, slices, config.storage.dataDir, log.child({ component: 'classify' }), (series, ok, done) => {
      for (const d of done) {
        metrics.sliceLatency.observe(d.latencyMs / 1000);
        if (d.inferenceMs > 0) metrics.inference.observe(d.inferenceMs / 1000);
      }
      if (!ok) return;
      if (early.check(series) > 0) dispatchLoop.wake();
      classifyLoop.wake();
      decideLoop.wake();
    }, () => holdWhileReceiving(current().model.holdWhileReceivingMs, (daemon?.model ?? model).engine.status));
    const decide = new DecideStage(
      seriesStore,
      () => ({ series: current().series, model: currentModel() }),
      log.child({ component: 'decide' }),
      (result, seriesSlices) => {
        planOutputs(result, seriesSlices, outbox, { config: current(), softwareVersion, now: Date.now() });
        metrics.decided.inc({ outcome: result.decision });
        metrics.alertLatency.observe((result.timings.decidedAt - result.timings.lastReceivedAt) / 1000);
        dispatchLoop.wake();
      },
      (seriesUid, reason) => {
        metrics.decided.inc({ outcome: 'skipped' });
        log.debug({ series: seriesUid, reason }, 'series skipped');
      },
    );
    const dispatcher = new Dispatcher(
      outbox,
      () => ({
        destinations: current().destinations,
        retry: current().dispatch.retry,
        callingAeTitle: current().dicom.aeTitle,
        dataDir: current().storage.dataDir,
        timeoutMs: current().dicom.associationTimeoutSeconds * 1000,
        tls: current().dicom.tls,
      }),
      createEmailSender(
        () => current().email,
        // A thumbnail that cannot be made (spool file gone, say) leaves the email without one.
        (spoolPath) => readFile(path.join(current().storage.dataDir, spoolPath)).then((b) => sliceThumbnail(b)).catch(() => undefined),
      ),
      log.child({ component: 'dispatch' }),
      (kind) => metrics.outboxFailures.inc({ kind }),
    );
    const retention = new RetentionStage(
      new RetentionStore(db),
      () => ({ dataDir: current().storage.dataDir, retainHours: current().storage.retainHours, retainDays: current().storage.retainDays }),
      log.child({ component: 'retention' }),
    );
    const classifyLoop = new StageLoop('classify', () => classify.runOnce(), 1000, log);
    const decideLoop = new StageLoop('decide', () => decide.runOnce(), 250, log);
    const dispatchLoop = new StageLoop('dispatch', () => dispatcher.runOnce(), 1000, log);
    const retentionLoop = new StageLoop('retention', () => retention.runOnce(), 600_000, log);
    const loops = [classifyLoop, decideLoop, dispatchLoop, retentionLoop];

    const receiver = new SpoolReceiver(
      { dataDir: config.storage.dataDir, durability: config.storage.durability, diskLow: () => disk.low, forwardTo: () => current().destinations.filter((d) => d.forward).map((d) => d.name) },
      new InstanceStore(db),
      log.child({ component: 'ingest' }),
    );
    const dicom = new DicomServer(scpOptions(config), receiver, log.child({ component: 'scp' }));
    dicom.on('associationAccepted', () => metrics.associations.inc({ outcome: 'accepted' }));
    dicom.on('associationRejected', (_info, _reason, code) => {
      metrics.associations.inc({ outcome: 'rejected' });
      metrics.rejections.inc({ reason: code });
    });
    dicom.on('stored', (_info, outcome, bytes) => {
      metrics.instances.inc({ status: outcome.status === 0 ? 'success' : `0x${outcome.status.toString(16).padStart(4, '0')}` });
      if (outcome.status === 0) {
        metrics.bytes.inc(bytes);
        if (classify.noteArrival()) classifyLoop.wake();
        if (current().destinations.some((d) => d.forward)) dispatchLoop.wake();
      } else {
        metrics.rejections.inc({ reason: outcome.status === 0xa700 ? 'out_of_resources' : 'cannot_understand' });
      }
    });
    dicom.on('associationClosed', () => {
      if (dicom.activeAssociations > 0) return;
      classify.noteTransfersEnded();
      classifyLoop.wake();
    });
    dicom.on('protocolError', (peer, reason, port) => {
      metrics.rejections.inc({ reason: 'protocol' });
      log.warn({ peer, port, reason }, 'connection dropped');
    });

    for (const loop of loops) loop.start();
    const httpServer = createHttpServer(
      {
        health: () => daemon!.health(),
        registry: metrics.registry,
        beforeScrape: () => daemon!.refreshGauges(),
        status: () => daemon!.status(),
      },
      log.child({ component: 'http' }),
    );
    try {
      await dicom.listen();
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.http.port, config.http.host, () => resolve());
      });
    } catch (err) {
      await dicom.close(0);
      httpServer.close();
      await Promise.all(loops.map((l) => l.stop()));
      await model.engine.close();
      disk.stop();
      await closeDb();
      throw new IchError('LISTEN_FAILED', errorMessage(err), { cause: err });
    }
    daemon = new Daemon(loaded, log, metrics, db, disk, model, classify, loops, dicom, httpServer, closeDb);
    const { port } = dicom.address();
    log.info({ aeTitle: config.dicom.aeTitle, host: config.dicom.host, port, http: httpServer.address(), dataDir: config.storage.dataDir }, 'DICOM SCP listening');
    return daemon;
  }

  /** /healthz: the SCP listens, the database takes writes, the model is loaded, disk has headroom. */
  health(): Record<string, HealthCheck> {
    let dbCheck: HealthCheck;
    try {
      // Takes the write lock and gives it back: proves the file is writable now.
      this.db.exec('BEGIN IMMEDIATE; ROLLBACK');
      dbCheck = { ok: true };
    } catch (err) {
      dbCheck = { ok: false, error: errorMessage(err) };
    }
    const s = this.model.engine.status;
    return {
      scp: { ok: this.dicom.listening, port: this.config.dicom.port, activeAssociations: this.dicom.activeAssociations },
      database: dbCheck,
      model: { ok: this.model.engine.alive, name: this.model.decision.info.name, version: this.model.decision.info.version, provider: s.provider, fallbacks: s.fallbacks },
      disk: { ok: !this.disk.low, freeMb: Math.round(this.disk.freeMb), minFreeMb: this.config.storage.minFreeMb },
    };
  }

  status(): NodeStatus {
    const info = this.model.decision.info;
    return {
      node: {
        uptimeSeconds: (Date.now() - this.startedAt) / 1000,
        activeAssociations: this.dicom.activeAssociations,
        model: { name: info.name, version: info.version, sha256: info.sha256, provider: this.model.engine.status.provider, fallbacks: this.model.engine.status.fallbacks, demo: info.demo },
      },
      disk: { dataDir: this.config.storage.dataDir, freeMb: Math.round(this.disk.freeMb), minFreeMb: this.config.storage.minFreeMb },
      ...statusFromDb(this.db, Date.now()),
    };
  }

  /** Gauges whose truth is in the database, read when Prometheus scrapes. */
  refreshGauges(): void {
    const queues = queuesFromDb(this.db);
    this.metrics.queue.set({ queue: 'classify' }, queues.slicesWaiting);
    this.metrics.queue.set({ queue: 'series_open' }, queues.seriesOpen);
    this.metrics.queue.set({ queue: 'outbox' }, queues.outboxPending);
    for (const [state, n] of Object.entries(new OutboxStore(this.db).counts())) this.metrics.outbox.set({ state }, n);
    this.metrics.diskFree.set(this.disk.freeMb * 1024 * 1024);
  }

  /**
   * SIGHUP: re-reads the config and, when it changed, the model. Associations in flight keep
   * going; a bad config or model is logged and the running one stays.
   */
  reload(): Promise<void> {
    this.reloading ??= this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    let next: LoadedConfig;
    try {
      next = loadConfig(this.loaded.file);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'reload refused: config invalid, keeping the running one');
      return;
    }
    const before = this.loaded.config;
    const after = next.config;
    this.log.level = after.logging.level;
    for (const key of ['host', 'port', 'maxPduLength', 'tls'] as const) {
      if (JSON.stringify(before.dicom[key]) !== JSON.stringify(after.dicom[key])) this.log.warn({ key: `dicom.${key}` }, 'changing this needs a restart; kept');
    }
    if (before.storage.dataDir !== after.storage.dataDir) this.log.warn({ key: 'storage.dataDir' }, 'changing this needs a restart; kept');
    if (before.http.port !== after.http.port || before.http.host !== after.http.host) this.log.warn({ key: 'http' }, 'changing this needs a restart; kept');
    this.dicom.updatePolicy({
      aeTitle: after.dicom.aeTitle,
      allowedCallingAeTitles: after.dicom.allowedCallingAeTitles,
      allowedCallingHosts: after.dicom.allowedCallingHosts,
      maxAssociations: after.dicom.maxAssociations,
      preferCompressed: after.dicom.preferCompressed,
    });
    const modelChanged =
      JSON.stringify(before.model) !== JSON.stringify(after.model) ||
      loadModelSha(after.model.path) !== this.model.decision.info.sha256;
    if (modelChanged) {
      try {
        const model = await startModel(next, this.log);
        const old = this.model;
        this.model = model;
        this.classify.setEngine(model.engine);
        setModelMetric(this.metrics, model);
        await old.engine.closeWhenIdle();
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'reload kept the running model: the new one could not start');
        return;
      }
    }
    // Keep fields that need a restart as they are.
    this.loaded = {
      file: next.file,
      config: Object.freeze({ ...after, dicom: { ...after.dicom, host: before.dicom.host, port: before.dicom.port, maxPduLength: before.dicom.maxPduLength, tls: before.dicom.tls }, storage: { ...after.storage, dataDir: before.storage.dataDir }, http: before.http }),
    };
    this.log.info({ modelReloaded: modelChanged, level: after.logging.level }, 'config reloaded');
  }

  /** SIGTERM: stop accepting, let associations finish (bounded), stop the stages, close the database. */
  async stop(): Promise<void> {
    const drainMs = this.config.dicom.drainSeconds * 1000;
    this.log.info({ drainMs, active: this.dicom.activeAssociations }, 'stopping');
    await this.dicom.close(drainMs);
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await Promise.all(this.loops.map((l) => l.stop()));
    await this.model.engine.close();
    this.disk.stop();
    await this.closeDb();
    this.log.info('stopped');
  }
}

function loadModelSha(file: string): string | undefined {
  try {
    return loadModelContract(file).sha256;
  } catch {
    return undefined;
  }
}

function setModelMetric(metrics: Metrics, model: Model): void {
  const info = model.decision.info;
  metrics.model.reset();
  metrics.model.set(
    { name: info.name, version: info.version, sha256: info.sha256, provider: model.engine.status.provider, fallbacks: model.engine.status.fallbacks.map((f) => f.provider).join(',') },
    1,
  );
}

/** Loads and checks the model, then starts its workers; logs which provider runs it and why. */
async function startModel(loaded: LoadedConfig, log: Logger): Promise<Model> {
  const { contract, thresholds, engine } = await startRunningModel(loaded.config.model, loaded.file);
  for (const f of engine.status.fallbacks) log.warn({ provider: f.provider, reason: f.reason }, 'execution provider unavailable, falling back');
  log.info(
    {
      model: contract.info.name,
      version: contract.info.version,
      sha256: contract.sha256,
      provider: engine.status.provider,
      workers: engine.status.workers,
      preprocessors: engine.status.preprocessors,
      batchSize: engine.status.batchSize,
      workerPriority: engine.status.priority,
      holdWhileReceivingMs: holdWhileReceiving(loaded.config.model.holdWhileReceivingMs, engine.status),
      thresholds,
      demo: contract.info.demo,
    },
    'model loaded',
  );
  return { engine, decision: { classes: contract.classes, thresholds, info: contract.info } };
}

export function scpOptions(config: Readonly<Config>): ScpOptions {
  const d = config.dicom;
  return {
    aeTitle: d.aeTitle,
    host: d.host,
    port: d.port,
    allowedCallingAeTitles: d.allowedCallingAeTitles,
    allowedCallingHosts: d.allowedCallingHosts,
    maxAssociations: d.maxAssociations,
    maxPduLength: d.maxPduLength,
    timeoutSeconds: d.associationTimeoutSeconds,
    preferCompressed: d.preferCompressed,
    tls: d.tls.enabled
      ? {
          cert: readFileSync(d.tls.cert),
          key: readFileSync(d.tls.key),
          ca: d.tls.ca ? readFileSync(d.tls.ca) : undefined,
          requireClientCert: d.tls.requireClientCert,
        }
      : undefined,
  };
}
