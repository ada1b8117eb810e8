import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config/schema.js';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import { openDb, migrate, dbFileName, type Db } from './store/db.js';
import { InstanceStore } from './store/instances.js';
import { DicomServer, type ScpOptions } from './dicom/scp.js';
import { SpoolReceiver } from './ingest/receiver.js';
import { DiskWatermark } from './ingest/disk.js';
import { IchError, errorMessage } from './errors.js';

export interface DaemonOptions {
  configFile?: string;
  logger?: Logger;
}

/** Wiring and lifecycle of `ich-triage serve`: start in order, stop in reverse. */
export class Daemon {
  readonly startedAt = Date.now();
  private constructor(
    public loaded: LoadedConfig,
    readonly log: Logger,
    readonly db: Db,
    readonly dicom: DicomServer,
    readonly disk: DiskWatermark,
  ) {}

  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const loaded = loadConfig(opts.configFile);
    const config = loaded.config;
    const log = opts.logger ?? createLogger(config.logging);
    mkdirSync(config.storage.dataDir, { recursive: true, mode: 0o700 });
    const db = openDb(path.join(config.storage.dataDir, dbFileName));
    const { from, to } = migrate(db);
    if (from !== to) log.info({ from, to }, 'database migrated');

    const disk = new DiskWatermark(config.storage.dataDir, config.storage.minFreeMb, (low, freeMb) => {
      if (low) log.error({ freeMb: Math.round(freeMb), minFreeMb: config.storage.minFreeMb }, 'disk space low: refusing new instances (0xA700)');
      else log.info({ freeMb: Math.round(freeMb) }, 'disk space recovered: accepting instances');
    });
    await disk.start();

    const instances = new InstanceStore(db);
    const receiver = new SpoolReceiver(
      { dataDir: config.storage.dataDir, durability: config.storage.durability, diskLow: () => disk.low },
      instances,
      log.child({ component: 'ingest' }),
    );
    const dicom = new DicomServer(scpOptions(config), receiver, log.child({ component: 'scp' }));
    dicom.on('associationRejected', () => undefined);
    dicom.on('protocolError', (peer, reason) => log.warn({ peer, reason }, 'connection dropped'));
    try {
      await dicom.listen();
    } catch (err) {
      db.close();
      disk.stop();
      throw new IchError('LISTEN_FAILED', `DICOM ${config.dicom.host}:${config.dicom.port}: ${errorMessage(err)}`, { cause: err });
    }
    const { port } = dicom.address();
    log.info({ aeTitle: config.dicom.aeTitle, host: config.dicom.host, port, dataDir: config.storage.dataDir }, 'DICOM SCP listening');
    return new Daemon(loaded, log, db, dicom, disk);
  }

  /** SIGTERM: stop accepting, let associations finish (bounded), close the database. */
  async stop(): Promise<void> {
    const drainMs = this.loaded.config.dicom.drainSeconds * 1000;
    this.log.info({ drainMs, active: this.dicom.activeAssociations }, 'stopping');
    await this.dicom.close(drainMs);
    this.disk.stop();
    this.db.close();
    this.log.info('stopped');
  }
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
