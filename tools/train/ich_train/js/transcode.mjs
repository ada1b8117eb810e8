// Transcodes one DICOM file to another transfer syntax with dcmjs-codecs (WASM codecs).
// The Python tool uses it for JPEG 2000 / HTJ2K, which neither pydicom nor dcmtk handle here:
//   node transcode.mjs <in.dcm> <out.dcm> <transfer syntax UID>
// Resolves dcmjs-codecs from the repository's node_modules.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [input, output, syntax] = process.argv.slice(2);
if (!input || !output || !syntax) {
  console.error('usage: node transcode.mjs <in.dcm> <out.dcm> <transfer syntax UID>');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { NativeCodecs, Transcoder } = require('dcmjs-codecs');

await NativeCodecs.initializeAsync();
const bytes = readFileSync(input);
const transcoder = new Transcoder(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
transcoder.transcode(syntax);
writeFileSync(output, Buffer.from(transcoder.getDicomPart10()));
