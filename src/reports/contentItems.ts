/**
 * SR content items (PS3.3 C.17.3) as dcmjs naturalized data sets: one constructor per value
 * type, so the SR and KOS builders read like the templates they follow.
 */
import type { CodedConcept } from './codes.js';

export type Relationship = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS PROPERTIES' | 'INFERRED FROM';
export type ContentItem = Record<string, unknown>;

/** A referenced instance: the SOP Class and Instance UIDs, kept exactly as the source sent them. */
export interface InstanceRef {
  sopClassUid: string;
  sopInstanceUid: string;
}

export function codeSequence(c: CodedConcept): Record<string, string>[] {
  return [{ CodeValue: c.value, CodingSchemeDesignator: c.scheme, CodeMeaning: c.meaning }];
}

export function container(rel: Relationship | null, name: CodedConcept, children: ContentItem[]): ContentItem {
  return {
    ...relationship(rel),
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: codeSequence(name),
    ContinuityOfContent: 'SEPARATE',
    ContentSequence: children,
  };
}

export function code(rel: Relationship, name: CodedConcept, value: CodedConcept, children: ContentItem[] = []): ContentItem {
  return withChildren({ RelationshipType: rel, ValueType: 'CODE', ConceptNameCodeSequence: codeSequence(name), ConceptCodeSequence: codeSequence(value) }, children);
}

/** UT holds any length; the value is trimmed of trailing spaces by readers, so none are added. */
export function text(rel: Relationship, name: CodedConcept, value: string): ContentItem {
  return { RelationshipType: rel, ValueType: 'TEXT', ConceptNameCodeSequence: codeSequence(name), TextValue: value };
}

export function uidRef(rel: Relationship, name: CodedConcept, uid: string): ContentItem {
  return { RelationshipType: rel, ValueType: 'UIDREF', ConceptNameCodeSequence: codeSequence(name), UID: uid };
}

export function num(rel: Relationship, name: CodedConcept, value: number, unit: CodedConcept, children: ContentItem[] = []): ContentItem {
  return withChildren(
    {
      RelationshipType: rel,
      ValueType: 'NUM',
      ConceptNameCodeSequence: codeSequence(name),
      MeasuredValueSequence: [{ NumericValue: decimalString(value), MeasurementUnitsCodeSequence: codeSequence(unit) }],
    },
    children,
  );
}

/** IMAGE items carry no concept name in TID 1601 and TID 2010. */
export function image(rel: Relationship, ref: InstanceRef): ContentItem {
  return {
    RelationshipType: rel,
    ValueType: 'IMAGE',
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: ref.sopClassUid, ReferencedSOPInstanceUID: ref.sopInstanceUid }],
  };
}

/**
 * DS allows 16 characters: six decimals are finer than any threshold and never switch to
 * exponent notation (toFixed avoids it, and what is left is at least 1e-6 or 0).
 */
export function decimalString(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  return String(Number(value.toFixed(6)));
}

function relationship(rel: Relationship | null): ContentItem {
  return rel === null ? {} : { RelationshipType: rel };
}

function withChildren(item: ContentItem, children: ContentItem[]): ContentItem {
  return children.length === 0 ? item : { ...item, ContentSequence: children };
}
