import { loadConfig } from '../config/load.js';
import { scpOptions } from '../daemon.js';
import { DicomServer } from '../dicom/scp.js';
import { SpoolReceiver } from '../ingest/receiver.js';
import { createLogger } from '../log.js';
import { InstanceStore } from '../store/instances.js';
import { openNodeDb } from '../store/nodeDb.js';
import { lowerHelperThreads } from '../util/threadPriority.js';

/**
 * The node's ingest path alone, as a process: the SCP, the spool and the instances table wired
 * as the daemon wires them, without the classification pipeline that shares the CPU in a
 * running node. The ingest benchmark measures it beside the whole node, so that the cost of
 * ingest itself is known. Usage: node dist/bench/ingestServer.js CONFIG
 */
const { config } = loadConfig(process.argv[2]);
const log = createLogger(config.logging);
await lowerHelperThreads();
const { db, close: closeDb } = await openNodeDb(config.storage.dataDir, log);
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
    await closeDb();
    process.exit(0);
  });
});
