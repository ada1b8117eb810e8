import { describe, expect, it } from 'vitest';
import { csvLine, parseCsv } from '../src/eval/csv.js';
import { parseLabels } from '../src/eval/labels.js';

const classes = ['any', 'epidural', 'subdural'];

describe('eval labels', () => {
  it('parses RFC 4180 CSV and writes it back', () => {
    expect(parseCsv('\ufeffa,"b,""c"""\r\n\r\n1,"x\ny"\n2,')).toEqual([
      ['a', 'b,"c"'],
      ['1', 'x\ny'],
      ['2', ''],
    ]);
    expect(csvLine(['a,b', 'say "hi"', 0.25, 'plain'])).toBe('"a,b","say ""hi""",0.25,plain');
  });

  it('reads RSNA long format: class after the last underscore, duplicated IDs dropped keeping the first', () => {
    const text = [
      'ID,Label',
      'ID_63eb1e259_epidural,0',
      'ID_63eb1e259_subdural,1',
      'ID_63eb1e259_any,1',
      'ID_63eb1e259_subdural,0', // duplicate: dropped
      'ID_2669954a7_any,0',
      'ID_2669954a7_epidural,0',
      'ID_2669954a7_subdural,0',
    ].join('\n');
    const t = parseLabels(text, classes, 'l.csv');
    expect(t.format).toBe('rsna-long');
    expect(t.duplicatesDropped).toBe(1);
    expect([...t.bySop]).toEqual([
      ['ID_63eb1e259', [1, 0, 1]],
      ['ID_2669954a7', [0, 0, 0]],
    ]);
  });

  it('refuses incomplete or unknown long labels, naming the row', () => {
    expect(() => parseLabels('ID,Label\nID_a_any,1\n', classes, 'l.csv')).toThrow(/1 images lack some of the 3 class labels, e.g. ID_a/);
    expect(() => parseLabels('ID,Label\nID_a_chronic,1\n', classes, 'l.csv')).toThrow(/row 1: ID "ID_a_chronic"/);
    expect(() => parseLabels('ID,Label\nID_a_any,yes\n', classes, 'l.csv')).toThrow(/row 1: label "yes" is not 0 or 1/);
  });

  it('reads a wide table by column name, whatever the column order and extra columns', () => {
    const text = 'subdural,path,sop_instance_uid,any,epidural\n1,a.dcm,1.2.3,1,0\n0,b.dcm,1.2.4,0,0\n0,c.dcm,1.2.3,0,0\n';
    const t = parseLabels(text, classes, 'w.csv');
    expect(t.format).toBe('wide');
    expect(t.duplicatesDropped).toBe(1);
    expect([...t.bySop]).toEqual([
      ['1.2.3', [1, 0, 1]],
      ['1.2.4', [0, 0, 0]],
    ]);
    expect(parseLabels('SOPInstanceUID,any,epidural,subdural\n9.8,1.0,0,1\n', classes, 'w.csv').bySop.get('9.8')).toEqual([1, 0, 1]);
  });

  it('names the missing columns of a table that is neither format', () => {
    expect(() => parseLabels('sop,any\n1.2,0\n', classes, 'w.csv')).toThrow(/w.csv: not an RSNA "ID,Label" file, and as a wide table it lacks the columns sop_instance_uid, epidural, subdural/);
  });
});
