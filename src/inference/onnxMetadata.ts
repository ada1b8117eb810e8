/**
 * Reads `metadata_props` from an ONNX ModelProto (onnx.proto: field 14, repeated
 * StringStringEntryProto {key = 1, value = 2}). onnxruntime's JavaScript API does not expose
 * them, so the top-level protobuf fields are walked here, skipping the graph unread.
 */
export function readOnnxMetadata(model: Buffer): Map<string, string> {
  const props = new Map<string, string>();
  let pos = 0;
  while (pos < model.length) {
    const [key, afterKey] = varint(model, pos);
    pos = afterKey;
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === 0) {
      pos = varint(model, pos)[1];
    } else if (wireType === 1) {
      pos += 8;
    } else if (wireType === 5) {
      pos += 4;
    } else if (wireType === 2) {
      const [length, start] = varint(model, pos);
      const end = start + length;
      if (end > model.length) throw new Error('ONNX file is truncated');
      if (field === 14) {
        const [k, v] = stringEntry(model.subarray(start, end));
        props.set(k, v);
      }
      pos = end;
    } else {
      throw new Error(`not an ONNX model (protobuf wire type ${wireType} at byte ${pos})`);
    }
  }
  return props;
}

function stringEntry(entry: Buffer): [string, string] {
  let key = '';
  let value = '';
  let pos = 0;
  while (pos < entry.length) {
    const [tag, afterTag] = varint(entry, pos);
    if (tag % 8 !== 2) throw new Error('malformed metadata_props entry');
    const [length, start] = varint(entry, afterTag);
    const text = entry.toString('utf8', start, start + length);
    if (tag >> 3 === 1) key = text;
    else if (tag >> 3 === 2) value = text;
    pos = start + length;
  }
  return [key, value];
}

/** A protobuf varint at `pos`: [value, position after it]. Values stay below 2^53 here. */
function varint(b: Buffer, pos: number): [number, number] {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) throw new Error('ONNX file is truncated');
    const byte = b[pos++]!;
    result += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [result, pos];
    scale *= 128;
  }
  throw new Error('malformed protobuf varint');
}
