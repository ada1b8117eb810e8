import { describe, expect, it } from 'vitest';
import { escapeHtml, renderEarlyAlertEmail, renderEmail, type EmailSourceFields } from '../src/reports/email.js';
import { readReportSource } from '../src/reports/source.js';
import { keySlice, negativeResult, sourceAttributes, sourceFile, urgentResult } from './helpers/reportSource.js';

const a = sourceAttributes({ patientName: 'Doe^Jane^Q', patientId: 'PID-12345', patientBirthDate: '19560704' });
const fields: EmailSourceFields = readReportSource(sourceFile(a)).fields;
const phi = ['Doe', 'Jane', 'PID-12345', '19560704', '1956-07-04'];
const defaults = { includePhi: false, secondsToAlert: 11.46 };

function everything(m: { subject: string; text: string; html: string }): string {
  return `${m.subject}\n${m.text}\n${m.html}`;
}

describe('alert email', () => {
  const result = urgentResult(a);
  const mail = renderEmail(result, fields, defaults);

  it('marks an urgent series in the subject and names the accession', () => {
    expect(mail.subject).toBe('[URGENT] Suspected intracranial hemorrhage (AI triage) - accession ACC-987');
    const negative = renderEmail(negativeResult(a), fields, defaults);
    expect(negative.subject.startsWith('[ICH triage] No intracranial hemorrhage')).toBe(true);
    expect(negative.subject).not.toContain('URGENT');
  });

  it('shows the findings table with probability, threshold and key slice numbers', () => {
    const lines = mail.text.split('\n');
    const row = (label: string) => lines.find((l) => l.startsWith(label))!.split(/\s{2,}/);
    expect(row('intracranial hemorrhage (any)')).toEqual(['intracranial hemorrhage (any)', '0.934', '0.500', 'ABOVE', '12, 13']);
    expect(row('subdural hemorrhage')).toEqual(['subdural hemorrhage', '0.912', '0.400', 'ABOVE', '12, 13']);
    expect(row('epidural hemorrhage')).toEqual(['epidural hemorrhage', '0.012', '0.350', 'below']);
    expect(row('intraventricular hemorrhage')).toEqual(['intraventricular hemorrhage', '0.004', '0.500', 'below']);
    expect(mail.html).toContain('<td style="text-align:left;padding:2px 8px">0.912</td><td style="text-align:left;padding:2px 8px">0.400</td>');
    expect(mail.html).toContain('>12, 13</td>');
  });

  it('states accession, study date and time, time to alert, model and disclaimer', () => {
    for (const body of [mail.text, mail.html]) {
      expect(body).toContain('ACC-987');
      expect(body).toContain('2024-01-31 14:05:12');
      expect(body).toContain('11.5 s after the last slice was received');
      expect(body).toContain('ich-resnet18 1.2.0');
      expect(body).toContain('not verified by a physician: not for diagnostic use.');
      expect(body).not.toContain('Demonstration model');
    }
  });

  it('keeps the patient name, ID and birth date out unless configured', () => {
    for (const value of phi) expect(everything(mail)).not.toContain(value);
    const withPhi = renderEmail(result, fields, { ...defaults, includePhi: true });
    expect(withPhi.text).toContain('Patient: Doe, Jane Q');
    expect(withPhi.text).toContain('Patient ID: PID-12345');
    expect(withPhi.text).toContain('Birth date: 1956-07-04');
    expect(withPhi.html).toContain('Doe, Jane Q');
    // Never in the subject: it shows on lock screens and in mail server logs.
    for (const value of phi) expect(withPhi.subject).not.toContain(value);
  });

  it('escapes source text in HTML and keeps the subject on one line', () => {
    const hostile = { ...fields, accessionNumber: 'A<1>&"2"\r\nBcc: x@y', studyDescription: "<script>alert('x')</script>" };
    const m = renderEmail(result, hostile, defaults);
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;');
    expect(m.html).toContain('A&lt;1&gt;&amp;&quot;2&quot;');
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('says "demonstration model" for a demo model, subject included', () => {
    const demo = renderEmail(urgentResult(a, { model: { ...result.model, demo: true } }), fields, defaults);
    expect(demo.subject).toContain('[demonstration model]');
    expect(demo.text).toContain('Demonstration model, not for clinical use.');
    expect(demo.html).toContain('Demonstration model, not for clinical use.');
  });

  it('attaches the key slice thumbnail inline only when one is given', () => {
    expect(mail.attachments).toEqual([]);
    expect(mail.html).not.toContain('cid:');
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const m = renderEmail(result, fields, { ...defaults, thumbnailPng: png });
    expect(m.attachments).toEqual([{ filename: 'key-slice.png', content: png, contentType: 'image/png', cid: 'key-slice@ich-triage', contentDisposition: 'inline' }]);
    expect(m.html).toContain('<img src="cid:key-slice@ich-triage"');
  });
});

describe('early alert email', () => {
  const result = urgentResult(a);
  const alert = {
    seriesUid: a.seriesUid,
    model: result.model,
    className: 'any',
    threshold: 0.9,
    slices: [keySlice('2.25.1', 21, 0.93), keySlice('2.25.2', 22, 0.965)],
    slicesReceived: 24,
  };
  const mail = renderEarlyAlertEmail(alert, fields, defaults);

  it('is urgent and says it is preliminary', () => {
    expect(mail.subject).toBe('[URGENT] PRELIMINARY: Suspected intracranial hemorrhage (AI triage) - accession ACC-987');
    expect(mail.text).toContain('still arriving: 24 slices so far');
    expect(mail.text).toContain('2 adjacent slices reached 0.900 before the series was complete');
    expect(mail.text).toContain('follows when the series is complete');
  });

  it('lists the slices that triggered it, without PHI, with the disclaimer', () => {
    const lines = mail.text.split('\n');
    expect(lines.find((l) => l.startsWith('21 '))!.split(/\s{2,}/)).toEqual(['21', '0.930']);
    expect(lines.find((l) => l.startsWith('22 '))!.split(/\s{2,}/)).toEqual(['22', '0.965']);
    for (const value of phi) expect(everything(mail)).not.toContain(value);
    expect(mail.html).toContain('not for diagnostic use.');
  });
});
