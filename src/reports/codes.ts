/**
 * Every coded concept the reports use. Each was looked up, not made up: docs/conformance.md
 * names the source of each (PS3.16 as extracted by pydicom, NLM VSAC value sets, highdicom).
 */
export interface CodedConcept {
  value: string;
  scheme: 'DCM' | 'SCT' | 'LN' | 'UMLS' | 'UCUM' | 'RFC5646';
  meaning: string;
}

const dcm = (value: string, meaning: string): CodedConcept => ({ value, scheme: 'DCM', meaning });
const sct = (value: string, meaning: string): CodedConcept => ({ value, scheme: 'SCT', meaning });

export const Code = {
  // Document titles and containers (TID 1500, TID 1600, TID 2010)
  imagingMeasurementReport: dcm('126000', 'Imaging Measurement Report'),
  imageLibrary: dcm('111028', 'Image Library'),
  imageLibraryGroup: dcm('126200', 'Image Library Group'),
  imagingMeasurements: dcm('126010', 'Imaging Measurements'),
  measurementGroup: dcm('125007', 'Measurement Group'),
  qualitativeEvaluations: { value: 'C0034375', scheme: 'UMLS', meaning: 'Qualitative Evaluations' } as CodedConcept,
  ofInterest: dcm('113000', 'Of Interest'),
  keyObjectDescription: dcm('113012', 'Key Object Description'),
  // Language (TID 1204)
  languageOfContent: dcm('121049', 'Language of Content Item and Descendants'),
  englishUs: { value: 'en-US', scheme: 'RFC5646', meaning: 'English (United States)' } as CodedConcept,
  // Observer context for a device (TID 1002, TID 1004)
  observerType: dcm('121005', 'Observer Type'),
  device: dcm('121007', 'Device'),
  deviceObserverUid: dcm('121012', 'Device Observer UID'),
  deviceObserverName: dcm('121013', 'Device Observer Name'),
  deviceObserverManufacturer: dcm('121014', 'Device Observer Manufacturer'),
  deviceObserverModelName: dcm('121015', 'Device Observer Model Name'),
  deviceObserverSerialNumber: dcm('121016', 'Device Observer Serial Number'),
  // Procedure (TID 1500 row 4)
  procedureReported: dcm('121058', 'Procedure reported'),
  ctHeadWithoutContrast: { value: '30799-1', scheme: 'LN', meaning: 'CT Head WO contrast' } as CodedConcept,
  // Measurement group content (TID 1501, TID 4019, TID 300)
  trackingIdentifier: dcm('112039', 'Tracking Identifier'),
  trackingUniqueIdentifier: dcm('112040', 'Tracking Unique Identifier'),
  finding: dcm('121071', 'Finding'),
  algorithmName: dcm('111001', 'Algorithm Name'),
  algorithmVersion: dcm('111003', 'Algorithm Version'),
  algorithmParameters: dcm('111002', 'Algorithm Parameters'),
  probability: dcm('122157', 'Probability'),
  thresholdValue: dcm('122411', 'Threshold Value'),
  // Probabilities are dimensionless: UCUM unity, as CID 7181 codes it.
  noUnits: { value: '1', scheme: 'UCUM', meaning: 'no units' } as CodedConcept,
  // Qualitative values (CID 240 Present-Absent)
  present: sct('52101004', 'Present'),
  absent: sct('272519000', 'Absent'),
  conclusion: dcm('121077', 'Conclusion'),
  comment: dcm('121106', 'Comment'),
  // Contributing equipment purpose (CID 7005)
  processingEquipment: dcm('109102', 'Processing Equipment'),
  intracranialHemorrhage: sct('1386000', 'Intracranial hemorrhage'),
} as const;

/**
 * The SNOMED CT finding for each model class. A class missing here (epidural: no code could be
 * verified, see docs/conformance.md; or a class a future model adds) is reported by name as
 * text, never with a guessed code.
 */
const findingCodes: Readonly<Record<string, CodedConcept>> = {
  any: Code.intracranialHemorrhage,
  intraparenchymal: sct('449020009', 'Intraparenchymal hemorrhage of brain'),
  intraventricular: sct('23276006', 'Ventricular hemorrhage'),
  subarachnoid: sct('21454007', 'Subarachnoid intracranial hemorrhage'),
  subdural: sct('35486000', 'Subdural intracranial hemorrhage'),
};

export function findingCode(className: string): CodedConcept | undefined {
  return findingCodes[className];
}

/** How a class reads in text: "any" stands for the whole finding. */
export function classLabel(className: string): string {
  return className === 'any' ? 'intracranial hemorrhage (any)' : `${className} hemorrhage`;
}
