import dcmjs from '../dicom/dcmjs.js';

export interface SrSummary {
  title: string;
  seriesDescription: string;
  conclusion: string;
  comments: string[];
  /** Per class, as the SR's measurement groups state it. */
  findings: Array<{ name: string; probability: number; threshold: number }>;
}

type Item = Record<string, unknown> & { ContentSequence?: Item[] | Item };

/** What a radiologist's viewer would show of our SR, read back from its bytes. */
export function summariseSr(file: Buffer): SrSummary {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const ds = dcmjs.data.DicomMessage.readFile(ab);
  const root = dcmjs.data.DicomMetaDictionary.naturalizeDataset(ds.dict) as Item;
  const meaning = (i: Item) => first(first(i['ConceptNameCodeSequence'] as Item | Item[])?.['CodeMeaning']) as string | undefined;
  const children = (i: Item): Item[] => asArray(i.ContentSequence);
  const findings: SrSummary['findings'] = [];
  const comments: string[] = [];
  let conclusion = '';
  const walk = (item: Item) => {
    const name = meaning(item);
    if (name === 'Measurement Group') {
      const kids = children(item);
      const tracking = kids.find((k) => meaning(k) === 'Tracking Identifier')?.['TextValue'] as string | undefined;
      const numeric = (n: string) => Number(first(first(kids.find((k) => meaning(k) === n)?.['MeasuredValueSequence'] as Item | Item[])?.['NumericValue']));
      findings.push({ name: (tracking ?? '').replace(/^ICH triage /, ''), probability: numeric('Probability'), threshold: numeric('Threshold Value') });
      return;
    }
    if (name === 'Conclusion') conclusion = String(item['TextValue'] ?? '');
    if (name === 'Comment') comments.push(String(item['TextValue'] ?? ''));
    children(item).forEach(walk);
  };
  walk(root);
  return { title: meaning(root) ?? '', seriesDescription: String(root['SeriesDescription'] ?? ''), conclusion, comments, findings };
}

function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function first<T>(v: T | T[] | undefined): T | undefined {
  return Array.isArray(v) ? v[0] : v;
}
