/**
 * Reference labels for `eval`, read like the training tool's `read_labels_any_format`
 * (tools/train/ich_train/evaluate.py): the RSNA 2019 long CSV (`ID,Label`, IDs
 * `<SOPInstanceUID>_<class>`, duplicated IDs dropped keeping the first) or a wide CSV (one row
 * per `sop_instance_uid`, one 0/1 column per class, duplicated UIDs dropped keeping the first).
 * No I/O: the command reads the file.
 */
import { IchError } from '../errors.js';
import { parseCsv } from './csv.js';

export type LabelFormat = 'rsna-long' | 'wide';

export interface LabelTable {
  format: LabelFormat;
  /** 0/1 per class in the given class order, by SOP Instance UID, in first-seen order. */
  bySop: Map<string, number[]>;
  /** Rows dropped because their ID (long) or UID (wide) came before. */
  duplicatesDropped: number;
}

/** Column names accepted for the SOP Instance UID of a wide table. */
const sopColumns = ['sop_instance_uid', 'SOPInstanceUID'];

export function parseLabels(text: string, classes: readonly string[], source: string): LabelTable {
  const rows = parseCsv(text);
  const header = rows[0];
  if (!header) throw new IchError('EVAL_LABELS', `${source}: empty file`);
  const body = rows.slice(1);
  return header[0] === 'ID' && header[1] === 'Label' ? parseLong(body, classes, source) : parseWide(header, body, classes, source);
}

function label(cell: string | undefined, source: string, row: number): number {
  const value = Number(cell);
  if (cell === undefined || cell.trim() === '' || (value !== 0 && value !== 1)) {
    throw new IchError('EVAL_LABELS', `${source}, row ${row}: label "${cell ?? ''}" is not 0 or 1`);
  }
  return value;
}

function parseLong(body: string[][], classes: readonly string[], source: string): LabelTable {
  const seen = new Set<string>();
  const bySop = new Map<string, Array<number | undefined>>();
  let duplicatesDropped = 0;
  body.forEach((row, i) => {
    const id = row[0] ?? '';
    if (seen.has(id)) {
      duplicatesDropped++;
      return;
    }
    seen.add(id);
    // RSNA image IDs contain underscores themselves (ID_12cadc6af): the class follows the last one.
    const cut = id.lastIndexOf('_');
    const sop = id.slice(0, cut);
    const cls = classes.indexOf(id.slice(cut + 1));
    if (cut <= 0 || cls < 0) {
      throw new IchError('EVAL_LABELS', `${source}, row ${i + 1}: ID "${id}" does not end in _<class> with a class of the model (${classes.join(', ')})`);
    }
    const values = bySop.get(sop) ?? new Array<number | undefined>(classes.length).fill(undefined);
    values[cls] = label(row[1], source, i + 1);
    bySop.set(sop, values);
  });
  const incomplete = [...bySop].filter(([, v]) => v.includes(undefined)).map(([sop]) => sop);
  if (incomplete.length > 0) {
    throw new IchError('EVAL_LABELS', `${source}: ${incomplete.length} images lack some of the ${classes.length} class labels, e.g. ${incomplete.slice(0, 3).join(', ')}`);
  }
  return { format: 'rsna-long', bySop: bySop as Map<string, number[]>, duplicatesDropped };
}

function parseWide(header: string[], body: string[][], classes: readonly string[], source: string): LabelTable {
  const sopColumn = header.findIndex((h) => sopColumns.includes(h.trim()));
  const classColumns = classes.map((c) => header.findIndex((h) => h.trim() === c));
  const missing = [...(sopColumn < 0 ? [sopColumns[0]!] : []), ...classes.filter((_, i) => classColumns[i]! < 0)];
  if (missing.length > 0) {
    throw new IchError('EVAL_LABELS', `${source}: not an RSNA "ID,Label" file, and as a wide table it lacks the columns ${missing.join(', ')}`);
  }
  const bySop = new Map<string, number[]>();
  let duplicatesDropped = 0;
  body.forEach((row, i) => {
    const sop = (row[sopColumn] ?? '').trim();
    if (bySop.has(sop)) {
      duplicatesDropped++;
      return;
    }
    if (sop === '') throw new IchError('EVAL_LABELS', `${source}, row ${i + 1}: empty SOP Instance UID`);
    bySop.set(sop, classColumns.map((c) => label(row[c], source, i + 1)));
  });
  return { format: 'wide', bySop, duplicatesDropped };
}
