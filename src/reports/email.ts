/**
 * The alert email for a decided series, and the preliminary one sent before a series completes.
 * Plain text and HTML say the same; the patient's name, ID and birth date appear only when the
 * site configured it (email.includePhi), and never in the subject.
 */
import type { KeySlice, ModelInfo, SeriesResult } from '../series/result.js';
import { classLabel } from './codes.js';
import type { ReportSourceFields } from './source.js';
import { disclaimer, flagDescription } from './wording.js';

/** The source attributes an email shows; `readReportSource(file).fields` provides them. */
export type EmailSourceFields = Pick<
  ReportSourceFields,
  'accessionNumber' | 'studyDate' | 'studyTime' | 'studyDescription' | 'patientName' | 'patientId' | 'patientBirthDate'
>;

export interface EmailOptions {
  /** email.includePhi: show the patient's name, ID and birth date in the body. */
  includePhi: boolean;
  /** Seconds from the last slice received to this alert. */
  secondsToAlert: number;
  /** A PNG of the top key slice (email.thumbnail), attached inline when given. */
  thumbnailPng?: Buffer;
}

/** Shaped like a nodemailer attachment, so it can be handed over as is. */
export interface EmailAttachment {
  filename: string;
  content: Buffer;
  contentType: 'image/png';
  cid: string;
  contentDisposition: 'inline';
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
  attachments: EmailAttachment[];
}

/** What is known when K adjacent slices cross the early-alert threshold mid-series. */
export interface EarlyAlert {
  seriesUid: string;
  model: ModelInfo;
  /** The class watched (normally "any") and the threshold it reached (alerts.threshold). */
  className: string;
  threshold: number;
  /** The adjacent slices that reached it, in z order. */
  slices: KeySlice[];
  /** Slices received so far. */
  slicesReceived: number;
}

const urgentPrefix = '[URGENT]';
const neutralPrefix = '[ICH triage]';
const thumbnailCid = 'key-slice@ich-triage';

export function renderEmail(result: SeriesResult, fields: EmailSourceFields, options: EmailOptions): RenderedEmail {
  const urgent = result.decision === 'urgent';
  const headline = urgent ? flagDescription : 'No intracranial hemorrhage above the operating thresholds (AI triage)';
  const rows = result.classes.map((c) => ({
    label: classLabel(c),
    probability: formatProbability(result.scores[c]),
    threshold: formatProbability(result.thresholds[c]),
    result: result.flagged.includes(c) ? 'ABOVE' : 'below',
    keySlices: sliceNumbers(result.keySlices[c] ?? []),
  }));
  const facts = [
    ...studyFacts(fields, options),
    ['Series', `${result.seriesUid} (${result.sliceCount} slices classified, ${result.failedSlices} not classifiable)`],
    ['Model', modelLine(result.model)],
  ] as const;
  const table = {
    head: ['Class', 'Probability', 'Threshold', 'Result', 'Key slices (instance no.)'],
    rows: rows.map((r) => [r.label, r.probability, r.threshold, r.result, r.keySlices]),
  };
  const note = 'Probability: the series score, the maximum over slices of the z-smoothed model output.';
  return compose(subject(urgent ? urgentPrefix : neutralPrefix, headline, fields, result.model), headline, facts, table, note, result.model, options);
}

export function renderEarlyAlertEmail(alert: EarlyAlert, fields: EmailSourceFields, options: EmailOptions): RenderedEmail {
  const headline = `PRELIMINARY: ${flagDescription}`;
  const facts = [
    ...studyFacts(fields, options),
    ['Series', `${alert.seriesUid} (still arriving: ${alert.slicesReceived} slices so far)`],
    ['Model', modelLine(alert.model)],
  ] as const;
  const table = {
    head: ['Slice (instance no.)', `Probability of ${classLabel(alert.className)}`],
    rows: alert.slices.map((s) => [sliceNumbers([s]), formatProbability(s.probability)]),
  };
  const note =
    `Preliminary alert: ${alert.slices.length} adjacent slices reached ${formatProbability(alert.threshold)} before the series was complete. ` +
    'The full result (DICOM Structured Report) follows when the series is complete.';
  return compose(subject(urgentPrefix, headline, fields, alert.model), headline, facts, table, note, alert.model, options);
}

type Facts = readonly (readonly [string, string])[];
interface Table {
  head: string[];
  rows: string[][];
}

function compose(subjectLine: string, headline: string, facts: Facts, table: Table, note: string, model: ModelInfo, options: EmailOptions): RenderedEmail {
  const warning = disclaimer(model);
  const attachments: EmailAttachment[] = options.thumbnailPng
    ? [{ filename: 'key-slice.png', content: options.thumbnailPng, contentType: 'image/png', cid: thumbnailCid, contentDisposition: 'inline' }]
    : [];
  return { subject: subjectLine, text: plainText(headline, facts, table, note, warning), html: html(headline, facts, table, note, warning, attachments.length > 0), attachments };
}

function subject(prefix: string, headline: string, fields: EmailSourceFields, model: ModelInfo): string {
  const demo = model.demo ? ' [demonstration model]' : '';
  const accession = fields.accessionNumber ? ` - accession ${fields.accessionNumber}` : '';
  // One header line: source values must not smuggle in line breaks.
  return `${prefix} ${headline}${demo}${accession}`.replace(/[\r\n]+/g, ' ');
}

function studyFacts(fields: EmailSourceFields, options: EmailOptions): Facts {
  return [
    ['Accession number', fields.accessionNumber || 'unknown'],
    ['Study date/time', `${formatDate(fields.studyDate)} ${formatTime(fields.studyTime)}`.trim() || 'unknown'],
    ...(fields.studyDescription ? [['Study', fields.studyDescription] as const] : []),
    ...(options.includePhi
      ? [
          ['Patient', formatPersonName(fields.patientName) || 'unknown'] as const,
          ['Patient ID', fields.patientId || 'unknown'] as const,
          ['Birth date', formatDate(fields.patientBirthDate) || 'unknown'] as const,
        ]
      : []),
    ['Alert sent', `${options.secondsToAlert.toFixed(1)} s after the last slice was received`],
  ];
}

function plainText(headline: string, facts: Facts, table: Table, note: string, warning: string): string {
  const widths = table.head.map((h, i) => Math.max(h.length, ...table.rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    headline,
    '',
    ...facts.map(([k, v]) => `${k}: ${v}`),
    '',
    line(table.head),
    ...table.rows.map(line),
    '',
    note,
    '',
    warning,
    '',
  ].join('\n');
}

function html(headline: string, facts: Facts, table: Table, note: string, warning: string, withThumbnail: boolean): string {
  const cell = (tag: 'th' | 'td', v: string) => `<${tag} style="text-align:left;padding:2px 8px">${escapeHtml(v)}</${tag}>`;
  return [
    '<!DOCTYPE html><html><body style="font-family:sans-serif">',
    `<h2>${escapeHtml(headline)}</h2>`,
    `<table>${facts.map(([k, v]) => `<tr>${cell('th', k)}${cell('td', v)}</tr>`).join('')}</table>`,
    `<table border="1" style="border-collapse:collapse;margin-top:1em"><tr>${table.head.map((h) => cell('th', h)).join('')}</tr>`,
    ...table.rows.map((r) => `<tr>${r.map((v) => cell('td', v)).join('')}</tr>`),
    '</table>',
    `<p>${escapeHtml(note)}</p>`,
    ...(withThumbnail ? [`<p><img src="cid:${thumbnailCid}" alt="Top key slice" style="max-width:512px"></p>`] : []),
    `<p><strong>${escapeHtml(warning)}</strong></p>`,
    '</body></html>',
  ].join('\n');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function modelLine(model: ModelInfo): string {
  return `${model.name} ${model.version} (sha256 ${model.sha256.slice(0, 12)})`;
}

function formatProbability(p: number | undefined): string {
  return p === undefined ? 'n/a' : p.toFixed(3);
}

function sliceNumbers(slices: KeySlice[]): string {
  return slices.map((s) => (s.instanceNumber === null ? `z#${s.index}` : String(s.instanceNumber))).join(', ');
}

/** DICOM DA (YYYYMMDD) as YYYY-MM-DD; anything else as sent. */
function formatDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da.trim();
}

/** DICOM TM (HHMMSS.frac, minutes and seconds optional) as HH:MM[:SS]. */
function formatTime(tm: string): string {
  const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(tm.trim());
  return m ? [m[1], m[2], m[3]].filter(Boolean).join(':') : tm.trim();
}

/** PN Family^Given^Middle^Prefix^Suffix as "Family, Given Middle". */
function formatPersonName(pn: string): string {
  const [family = '', ...rest] = pn.split('=')[0]!.split('^');
  const given = rest.filter(Boolean).join(' ');
  return given ? `${family}, ${given}` : family;
}
