import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { scpOptions } from '../daemon.js';
import { DicomServer } from '../dicom/scp.js';
import { SpoolReceiver } from '../ingest/receiver.js';
import { createLogger } from '../log.js';
import { InstanceStore } from '../store/instances.js';
import { dbFileName, migrate, openDb } from '../store/db.js';
import { WalCheckpointer } from '../store/walCheckpointer.js';

/**
 * The node's ingest path alone, as a process: the SCP, the spool and the instances table wired
 * as the daemon wires them, without the classification pipeline that shares the CPU in a
 * running node. The ingest benchmark measures it beside the whole node, so that the cost of
 * ingest itself is known. Usage: node dist/bench/ingestServer.js CONFIG
 */
const { config } = loadConfig(process.argv[2]);
const log = createLogger(config.logging);
mkdirSync(config.storage.dataDir, { recursive: true, mode: 0o700 });
const dbFile = path.join(config.storage.dataDir, dbFileName);
const db = openDb(dbFile);
migrate(db);
const checkpointer = await WalCheckpointer.start(db, dbFile, log.child({ component: 'db' }));
const receiver = new SpoolReceiver(
  { dataDir: config.storage.dataDir, durability: config.storage.durability, diskLow: () => false },
  new InstanceStore(db),
  log.child({ component: 'ingest' }),
);
const dicom = new DicomServer(scpOptions(config), receiver, log.child({ component: 'scp' }));
await dicom.listen();
log.info({ port: dicom.address().port }, 'DICOM SCP listening');
process.once('SIGTERM', () => {
  void dicom.close(0).then(async () => {
    await checkpointer.stop();
    db.close();
    process.exit(0);
  });
});
