// Runs an ONNX model with onnxruntime-node (the node's runtime) on a raw float32 input:
//   node onnx_run.mjs <model.onnx> <input.f32> <n> <c> <size> <output.f32>
// Prints the model's input/output names and metadata keys as JSON on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [model, inputPath, n, c, size, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node onnx_run.mjs <model.onnx> <input.f32> <n> <c> <size> <output.f32>');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const session = await ort.InferenceSession.create(model);
const bytes = readFileSync(inputPath);
const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const input = new ort.Tensor('float32', data, [Number(n), Number(c), Number(size), Number(size)]);
const results = await session.run({ [session.inputNames[0]]: input });
const output = results[session.outputNames[0]];
writeFileSync(outputPath, Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength));
console.log(JSON.stringify({ inputNames: session.inputNames, outputNames: session.outputNames, dims: output.dims }));
