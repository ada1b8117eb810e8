// dcmjs-dimse as the node loads it: silent, and its association descriptions (built for log lines
// even when nothing is logged) short.
import { expect, it } from 'vitest';
import dimse from '../src/dicom/dimse.js';

it('describes an association in one line, however many contexts it proposes; logs nothing', () => {
  const association = new dimse.association.Association('STORESCU', 'ICH_TRIAGE');
  const storage = Object.values(dimse.constants.StorageClass).slice(0, 120);
  for (const sopClass of storage) {
    const id = association.addPresentationContext(sopClass);
    association.addTransferSyntaxToPresentationContext(id, '1.2.840.10008.1.2');
    association.addTransferSyntaxToPresentationContext(id, '1.2.840.10008.1.2.1');
  }
  expect(association.toString()).toBe(`STORESCU -> ICH_TRIAGE, ${storage.length} presentation contexts`);
  expect(dimse.log.getLevel()).toBe(dimse.log.levels.SILENT);
});
