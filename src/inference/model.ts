import path from 'node:path';
import type { Config } from '../config/schema.js';
import { loadModelContract, effectiveThresholds, type ModelContract } from './contract.js';
import { InferenceEngine } from './engine.js';
import { providerList } from './providers.js';

export interface RunningModel {
  contract: ModelContract;
  /** The model's thresholds with the config's overrides. */
  thresholds: Record<string, number>;
  engine: InferenceEngine;
}

/** Contract, thresholds and workers for `model.*` of a config (the daemon, classify, eval). */
export async function startModel(model: Readonly<Config['model']>, configFile: string, modelPath = model.path): Promise<RunningModel> {
  const contract = loadModelContract(path.resolve(modelPath));
  const thresholds = effectiveThresholds(contract, model.thresholds, configFile);
  const engine = await InferenceEngine.start(contract, {
    providers: providerList(model),
    threads: model.threads,
    batchSize: model.batchSize,
    deviceId: model.deviceId,
    preprocessWorkers: model.preprocessWorkers,
    priority: model.workerPriority,
  });
  return { contract, thresholds, engine };
}
