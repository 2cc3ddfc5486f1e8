// Parses a GGUF file with @huggingface/gguf (an independent reader) and prints one JSON object:
// version, tensor data offset, every metadata key with its GGUF value type (arrays: element type,
// length and first elements) and every tensor's name, ggml type, shape (ggml order) and offset.
// Usage: node read_gguf.mjs FILE.gguf
import { gguf, GGUFValueType, GGMLQuantizationType } from "@huggingface/gguf";
import path from "node:path";

const file = path.resolve(process.argv[2]);
const out = await gguf(file, { allowLocalFile: true, typedMetadata: true });

const plain = (v) => (typeof v === "bigint" ? Number(v) : v);
const metadata = {};
for (const [key, entry] of Object.entries(out.typedMetadata)) {
  const m = { type: GGUFValueType[entry.type] };
  if (Array.isArray(entry.value)) {
    m.subtype = GGUFValueType[entry.subType];
    m.length = entry.value.length;
    m.head = entry.value.slice(0, 8).map(plain);
  } else {
    m.value = plain(entry.value);
  }
  metadata[key] = m;
}
const tensors = out.tensorInfos.map((t) => ({
  name: t.name,
  type: GGMLQuantizationType[t.dtype],
  shape: t.shape.map(Number),
  offset: Number(t.offset),
}));
console.log(JSON.stringify({ version: plain(out.metadata.version), tensor_data_offset: Number(out.tensorDataOffset), metadata, tensors }));
