/**
 * The AI device as our objects describe it: observer context (TID 1002/1004) in the content
 * tree and Contributing Equipment (PS3.3 C.12.1) in the header, both keyed by a device UID that
 * changes with the model file.
 */
import type { ModelInfo } from '../series/result.js';
import { Code } from './codes.js';
import { code, codeSequence, text, uidRef, type ContentItem } from './contentItems.js';
import { deviceUid } from './uids.js';

export const manufacturer = 'ich-triage';

export interface DeviceIdentity {
  uid: string;
  /** The model fingerprint: like the UID, it names the model actually in use. */
  serialNumber: string;
  modelName: string;
  softwareVersions: string[];
}

export function deviceIdentity(model: ModelInfo, uidRoot: string, softwareVersion: string): DeviceIdentity {
  return {
    uid: deviceUid(uidRoot, model.sha256),
    serialNumber: model.sha256.slice(0, 16),
    modelName: model.name,
    softwareVersions: [`ich-triage ${softwareVersion}`, `model ${model.version}`],
  };
}

/** TID 1002 rows for a device observer, then TID 1004 (UID mandatory, the rest user optional). */
export function deviceObserverContext(device: DeviceIdentity): ContentItem[] {
  return [
    code('HAS OBS CONTEXT', Code.observerType, Code.device),
    uidRef('HAS OBS CONTEXT', Code.deviceObserverUid, device.uid),
    text('HAS OBS CONTEXT', Code.deviceObserverName, manufacturer),
    text('HAS OBS CONTEXT', Code.deviceObserverManufacturer, manufacturer),
    text('HAS OBS CONTEXT', Code.deviceObserverModelName, device.modelName),
    text('HAS OBS CONTEXT', Code.deviceObserverSerialNumber, device.serialNumber),
  ];
}

export function contributingEquipment(device: DeviceIdentity, model: ModelInfo, contributedAt: string): Record<string, unknown> {
  return {
    PurposeOfReferenceCodeSequence: codeSequence(Code.processingEquipment),
    Manufacturer: manufacturer,
    ManufacturerModelName: device.modelName,
    DeviceSerialNumber: device.serialNumber,
    SoftwareVersions: device.softwareVersions,
    DeviceUID: device.uid,
    ContributionDateTime: contributedAt,
    ContributionDescription: `AI triage of head CT for intracranial hemorrhage; model sha256 ${model.sha256}`,
  };
}
