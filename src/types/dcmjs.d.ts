// dcmjs ships no types; these cover what ich-triage uses.
declare module 'dcmjs' {
  export interface DicomElement {
    vr: string;
    Value?: unknown[];
    InlineBinary?: string;
  }
  export type DicomDictElements = Record<string, DicomElement>;
  export class DicomDict {
    constructor(meta: DicomDictElements);
    meta: DicomDictElements;
    dict: DicomDictElements;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  export interface ReadOptions {
    ignoreErrors?: boolean;
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }
  export const data: {
    DicomMessage: {
      readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict;
    };
    DicomDict: typeof DicomDict;
    ValueRepresentation: {
      createByTypeString(type: string): unknown;
    };
    DicomMetaDictionary: {
      naturalizeDataset(d: DicomDictElements): Record<string, unknown>;
      denaturalizeDataset(d: Record<string, unknown>): DicomDictElements;
      uid(): string;
    };
  };
  const dcmjs: { data: typeof data };
  export default dcmjs;
}
