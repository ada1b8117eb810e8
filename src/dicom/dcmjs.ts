import { createRequire } from 'node:module';
import dcmjs from 'dcmjs';

/**
 * dcmjs deletes every character outside [0-9.] from UI values as it reads them. Real archives
 * hold invalid UIDs (RSNA's "ID_4d28912ba6"), and a stripped UID names another object or
 * collides with one, so values are kept as sent, minus padding. Both copies of dcmjs are
 * patched: the ES module we import and the CommonJS one dcmjs-dimse parses commands with.
 */
function keepUidsAsSent(lib: typeof dcmjs): void {
  const vr = lib.data.ValueRepresentation.createByTypeString('UI') as { applyFormatting: (v: unknown) => unknown };
  const trim = (s: unknown) => (typeof s === 'string' ? s.replace(/[\0 ]+$/, '') : s);
  vr.applyFormatting = (value: unknown) => (Array.isArray(value) ? value.map(trim) : trim(value));
}

keepUidsAsSent(dcmjs);
keepUidsAsSent(createRequire(import.meta.url)('dcmjs') as typeof dcmjs);

export default dcmjs;
