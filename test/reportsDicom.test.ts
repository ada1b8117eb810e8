import { describe, expect, it } from 'vitest';
import dcmjs from '../src/dicom/dcmjs.js';
import { SopClass } from '../src/dicom/uids.js';
import { buildKos } from '../src/reports/kos.js';
import { buildSr } from '../src/reports/sr.js';
import { deviceUid, isValidUid } from '../src/reports/uids.js';
import type { SeriesResult } from '../src/series/result.js';
import {
  dciodvfy,
  dsrdump,
  keySlice,
  negativeResult,
  sourceAttributes,
  sourceFile,
  testSha256,
  urgentResult,
  type SourceAttributes,
} from './helpers/reportSource.js';

const options = { uidRoot: '', softwareVersion: '0.1.0', now: new Date(2024, 0, 31, 14, 6, 30) };
const demoNote = 'Demonstration model, not for clinical use.';

/** The written object as dcmjs naturalizes it. */
function read(file: Buffer): Record<string, any> {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const parsed = dcmjs.data.DicomMessage.readFile(ab);
  return { ...dcmjs.data.DicomMetaDictionary.naturalizeDataset(parsed.meta), ...dcmjs.data.DicomMetaDictionary.naturalizeDataset(parsed.dict) };
}

const personName = (v: unknown) => (v as { Alphabetic: string }[])[0]!.Alphabetic;

function expectPatientAndStudyCopied(d: Record<string, any>, a: SourceAttributes) {
  expect(personName(d.PatientName)).toBe(a.patientName);
  expect(d.PatientID).toBe(a.patientId);
  expect(d.PatientBirthDate).toBe(a.patientBirthDate);
  expect(d.PatientSex).toBe(a.patientSex);
  expect(d.StudyInstanceUID).toBe(a.studyUid);
  expect(d.StudyDate).toBe(a.studyDate);
  expect(d.StudyTime).toBe(a.studyTime);
  expect(d.AccessionNumber).toBe(a.accessionNumber);
  expect(personName(d.ReferringPhysicianName)).toBe(a.referringPhysicianName);
  expect(d.StudyID).toBe(a.studyId);
  expect(d.StudyDescription).toBe(a.studyDescription);
  expect(d.InstitutionName).toBe(a.institutionName);
}

function expectNewValidUids(d: Record<string, any>, a: SourceAttributes) {
  for (const uid of [d.SOPInstanceUID, d.SeriesInstanceUID]) {
    expect(isValidUid(uid)).toBe(true);
    expect([a.studyUid, a.seriesUid, a.sopInstanceUid]).not.toContain(uid);
  }
  expect(d.MediaStorageSOPInstanceUID).toBe(d.SOPInstanceUID);
  expect(d.TransferSyntaxUID).toBe('1.2.840.10008.1.2.1');
}

function expectNoErrors(check: { stdout: string; stderr: string }) {
  const output = `${check.stdout}\n${check.stderr}`;
  expect(output.split('\n').filter((l) => /^(Error|E:)/.test(l.trim()))).toEqual([]);
}

/** dciodvfy names the IOD it checked against and finds no error; dsrdump parses the tree. */
function expectValid(file: Buffer, iod: string) {
  const iodCheck = dciodvfy(file);
  expect(iodCheck.stderr).toContain(iod);
  expectNoErrors(iodCheck);
  expect(iodCheck.status).toBe(0);
  const dump = dsrdump(file);
  expectNoErrors(dump);
  expect(dump.status).toBe(0);
}

/** Every referenced instance in the evidence sequence, as [SOP Class, SOP Instance]. */
function evidence(d: Record<string, any>): { study: string; series: string; refs: string[][] } {
  const study = d.CurrentRequestedProcedureEvidenceSequence[0];
  const series = study.ReferencedSeriesSequence[0];
  return {
    study: study.StudyInstanceUID,
    series: series.SeriesInstanceUID,
    refs: series.ReferencedSOPSequence.map((r: any) => [r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID]),
  };
}

describe('Structured Report', () => {
  const a = sourceAttributes();
  const result = urgentResult(a);
  const sr = buildSr(result, sourceFile(a), options);
  const d = read(sr);

  it('passes dciodvfy and dsrdump without errors', () => expectValid(sr, 'ComprehensiveSR'));

  it('is a Comprehensive SR, unverified and complete, in a "not for diagnostic use" series', () => {
    expect(d.SOPClassUID).toBe(SopClass.ComprehensiveSr);
    expect(d.Modality).toBe('SR');
    expect(d.VerificationFlag).toBe('UNVERIFIED');
    expect(d.CompletionFlag).toBe('COMPLETE');
    expect(d.SeriesDescription).toContain('not for diagnostic use');
    expect(d.ContentDate).toBe('20240131');
    expect(d.ContentTime).toBe('140630');
    expect(d.ContentTemplateSequence[0].TemplateIdentifier).toBe('1500');
  });

  it('copies the patient and study exactly and gets new valid UIDs', () => {
    expectPatientAndStudyCopied(d, a);
    expectNewValidUids(d, a);
    const again = read(buildSr(result, sourceFile(a), options));
    expect(again.SOPInstanceUID).not.toBe(d.SOPInstanceUID);
    expect(again.SeriesInstanceUID).not.toBe(d.SeriesInstanceUID);
  });

  it('names the device in Contributing Equipment with a UID from the model sha256', () => {
    const eq = d.ContributingEquipmentSequence[0];
    expect(eq.Manufacturer).toBe('ich-triage');
    expect(eq.ManufacturerModelName).toBe('ich-resnet18');
    expect(eq.SoftwareVersions).toEqual(['ich-triage 0.1.0', 'model 1.2.0']);
    expect(eq.DeviceUID).toBe(deviceUid('', testSha256));
    expect(eq.PurposeOfReferenceCodeSequence[0].CodeValue).toBe('109102');
    const other = read(buildSr(urgentResult(a, { model: { ...result.model, sha256: 'cd'.repeat(32) } }), sourceFile(a), options));
    expect(other.ContributingEquipmentSequence[0].DeviceUID).not.toBe(eq.DeviceUID);
  });

  it('shows every class with probability and threshold, the findings, the decision and the key slices', () => {
    const out = dsrdump(sr).stdout;
    expect(out).toContain('(126000,DCM,"Imaging Measurement Report")');
    expect(out).toContain('(121049,DCM,"Language of Content Item and Descendants")=(en-US,RFC5646,"English (United States)")');
    expect(out).toContain('(121005,DCM,"Observer Type")=(121007,DCM,"Device")');
    expect(out).toContain(`(121012,DCM,"Device Observer UID")="${deviceUid('', testSha256)}"`);
    expect(out).toContain('(121058,DCM,"Procedure reported")=(30799-1,LN,"CT Head WO contrast")');
    for (const c of result.classes) {
      expect(out).toContain(`(112039,DCM,"Tracking Identifier")="ICH triage ${c}"`);
      expect(out).toContain(`(122411,DCM,"Threshold Value")="${result.thresholds[c]}" (1,UCUM,"no units")`);
    }
    expect(out).toContain('(122157,DCM,"Probability")="0.934" (1,UCUM,"no units")');
    expect(out).toContain('(122157,DCM,"Probability")="0.912346" (1,UCUM,"no units")');
    expect(out).toContain('(122157,DCM,"Probability")="0.0042" (1,UCUM,"no units")');
    expect(out).toContain('(121071,DCM,"Finding")=(35486000,SCT,"Subdural intracranial hemorrhage")');
    expect(out).toContain('(35486000,SCT,"Subdural intracranial hemorrhage")=(52101004,SCT,"Present")');
    expect(out).toContain('(21454007,SCT,"Subarachnoid intracranial hemorrhage")=(272519000,SCT,"Absent")');
    // No verified SNOMED CT code for epidural: reported by name, not with a guessed code.
    expect(out).toContain('(121071,DCM,"Finding")="epidural hemorrhage: absent"');
    expect(out).toContain('(121077,DCM,"Conclusion")="URGENT: suspected intracranial hemorrhage (AI triage). Above threshold: any, subdural."');
    expect(out).toContain('(1386000,SCT,"Intracranial hemorrhage")=(52101004,SCT,"Present")');
    expect(out).toContain('AI-generated result (ich-resnet18 1.2.0), not verified by a physician: not for diagnostic use.');
    expect(out).not.toContain(demoNote);
    for (const s of result.keySlices.subdural!) {
      expect(out).toContain(`<inferred from IMAGE:=("${s.sopClassUid}","${s.sopInstanceUid}")>`);
      expect(out).toContain(`<contains IMAGE:=("${s.sopClassUid}","${s.sopInstanceUid}")>`);
    }
  });

  it('lists the key slices and the source instance as evidence from the source series', () => {
    const e = evidence(d);
    expect(e.study).toBe(a.studyUid);
    expect(e.series).toBe(a.seriesUid);
    expect(e.refs).toEqual([...result.keySlices.any!.map((s) => [s.sopClassUid, s.sopInstanceUid]), [SopClass.CtImageStorage, a.sopInstanceUid]]);
  });

  it('says "absent" for a negative series and still names the series evaluated', () => {
    const b = sourceAttributes();
    const negative = buildSr(negativeResult(b), sourceFile(b), options);
    expectValid(negative, 'ComprehensiveSR');
    const out = dsrdump(negative);
    expect(out.stdout).toContain('(1386000,SCT,"Intracranial hemorrhage")=(272519000,SCT,"Absent")');
    expect(out.stdout).toContain('No intracranial hemorrhage above the operating thresholds (AI triage).');
    expect(out.stdout).not.toContain('Image Library');
    expect(evidence(read(negative)).refs).toEqual([[SopClass.CtImageStorage, b.sopInstanceUid]]);
  });

  it('adds the demonstration wording for a demo model', () => {
    const demo = buildSr(urgentResult(a, { model: { ...result.model, demo: true } }), sourceFile(a), options);
    expect(dsrdump(demo).stdout).toContain(demoNote);
    expect(read(demo).SeriesDescription).toBe('AI ICH triage (demonstration model) - not for diagnostic use');
  });

  it('uses the configured UID root and institution name', () => {
    const root = '1.2.826.0.1.3680043.10.999';
    const rooted = read(buildSr(result, sourceFile(a), { ...options, uidRoot: root, institutionName: 'Radiology Dept' }));
    expect(rooted.SOPInstanceUID.startsWith(`${root}.`)).toBe(true);
    expect(rooted.SeriesInstanceUID.startsWith(`${root}.`)).toBe(true);
    expect(rooted.ContributingEquipmentSequence[0].DeviceUID).toBe(deviceUid(root, testSha256));
    expect(rooted.InstitutionName).toBe('Radiology Dept');
  });

  it('refuses a source instance from another series', () => {
    expect(() => buildSr(result, sourceFile(sourceAttributes()), options)).toThrow(/source instance belongs to series/);
  });
});

describe('RSNA-style source UIDs', () => {
  const a = sourceAttributes({ studyUid: 'ID_5a1b2c3d4e', seriesUid: 'ID_9f8e7d6c5b', sopInstanceUid: 'ID_4d28912ba6', patientName: 'Müller^Jürgen' });
  const slice = keySlice('ID_0a1b2c3d4e', 7, 0.95);
  const result: SeriesResult = urgentResult(a, { keySlices: { any: [slice], subdural: [slice] } });

  it('references the source instances exactly as sent while our own UIDs stay valid', () => {
    for (const file of [buildSr(result, sourceFile(a), options), buildKos(result, sourceFile(a), options)]) {
      const d = read(file);
      expect(d.StudyInstanceUID).toBe('ID_5a1b2c3d4e');
      const e = evidence(d);
      expect(e.series).toBe('ID_9f8e7d6c5b');
      expect(e.refs.map((r) => r[1])).toEqual(['ID_0a1b2c3d4e', 'ID_4d28912ba6']);
      expectNewValidUids(d, a);
      // dsrdump refuses invalid UIDs in IMAGE items unless its VR checker is off.
      expect(dsrdump(file, '-Dv').stdout).toContain(`IMAGE:=("${SopClass.CtImageStorage}","ID_0a1b2c3d4e")`);
      // dciodvfy objects to the source's UIDs, and to nothing else.
      const summary = 'Error - Dicom dataset contains invalid data values for Value Representations';
      const complaints = dciodvfy(file).stderr.split('\n').filter((l) => l.startsWith('Error') && l !== summary);
      expect(complaints.length).toBeGreaterThan(0);
      for (const line of complaints) expect(line).toMatch(/ID_(5a1b2c3d4e|9f8e7d6c5b|4d28912ba6|0a1b2c3d4e)/);
    }
  });

  it('carries non-ASCII names as UTF-8', () => {
    const d = read(buildSr(result, sourceFile(a), options));
    expect(d.SpecificCharacterSet).toBe('ISO_IR 192');
    expect(personName(d.PatientName)).toBe('Müller^Jürgen');
  });
});

describe('Key Object Selection flag', () => {
  const a = sourceAttributes();
  const result = urgentResult(a);
  const kos = buildKos(result, sourceFile(a), options);
  const d = read(kos);

  it('passes dciodvfy and dsrdump without errors', () => expectValid(kos, 'KeyObjectSelectionDocument'));

  it('is titled "Of Interest", describes the suspicion and selects the key slices best first', () => {
    expect(d.SOPClassUID).toBe(SopClass.KeyObjectSelection);
    expect(d.Modality).toBe('KO');
    expect(d.ContentTemplateSequence[0].TemplateIdentifier).toBe('2010');
    const out = dsrdump(kos).stdout;
    expect(out).toContain('<CONTAINER:(113000,DCM,"Of Interest")=SEPARATE>');
    expect(out).toContain('(113012,DCM,"Key Object Description")="Suspected intracranial hemorrhage (AI triage). AI-generated result');
    expect(out).not.toContain(demoNote);
    const images = out.split('\n').filter((l) => l.includes('<contains IMAGE:'));
    expect(images).toEqual(result.keySlices.any!.map((s) => `  <contains IMAGE:=("${s.sopClassUid}","${s.sopInstanceUid}")>`));
  });

  it('copies the patient and study, gets new valid UIDs and lists its evidence', () => {
    expectPatientAndStudyCopied(d, a);
    expectNewValidUids(d, a);
    expect(evidence(d).refs.map((r) => r[1])).toEqual([...result.keySlices.any!.map((s) => s.sopInstanceUid), a.sopInstanceUid]);
    expect(d.SeriesDescription).toContain('not for diagnostic use');
  });

  it('adds the demonstration wording for a demo model', () => {
    const demo = buildKos(urgentResult(a, { model: { ...result.model, demo: true } }), sourceFile(a), options);
    expect(dsrdump(demo).stdout).toContain(demoNote);
  });

  it('is only built for urgent series', () => {
    expect(() => buildKos(negativeResult(a), sourceFile(a), options)).toThrow(/only built for urgent series/);
  });
});
