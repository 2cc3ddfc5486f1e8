// llama.cpp (through node-llama-cpp's prebuilt CPU binaries) loads a GGUF file and greedy-generates.
// Prints {"prompt_tokens": [...], "text": "..."} as JSON.
// Usage: node generate.mjs FILE.gguf PROMPT MAX_TOKENS
import { getLlama, LlamaCompletion } from "node-llama-cpp";

const [modelPath, prompt, maxTokens] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 512 });
const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
const text = await completion.generateCompletion(prompt, { maxTokens: Number(maxTokens), temperature: 0 });
console.log(JSON.stringify({ prompt_tokens: Array.from(model.tokenize(prompt)), text }));
