// llama.cpp (node-llama-cpp's prebuilt CPU binaries) computes the full next-token logits of a base and
// a quantized GGUF on llama-perplexity's windows (N_CTX tokens, the first replaced by BOS, the second
// half scored), and this script derives llama-perplexity --kl-divergence's statistics from them the
// way that tool does: the base's log-probabilities stored as 16-bit codes over [max - 16, max], KL
// terms only where the stored base log-probability exceeds -16, its mean/uncertainty, covariance and
// percentile rules. An oracle for ptq eval --reference, independent of ptq's code and forward pass.
// Prints the statistics as JSON (names as ptq's --json). Usage:
//   node kl_divergence.mjs BASE.gguf QUANT.gguf TOKENS.json N_CTX MAX_WINDOWS
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";

const [basePath, quantPath, tokensPath, nCtxArg, maxWindowsArg] = process.argv.slice(2);
const nCtx = Number(nCtxArg);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const tokens = JSON.parse(fs.readFileSync(tokensPath, "utf8"));

async function allLogits(modelPath) {  // [window][position - first] -> Float64Array of the vocabulary
  const model = await llama.loadModel({ modelPath });
  const nVocab = model.tokens.nVocab ?? model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const everyToken = Array.from({ length: nVocab }, (_, i) => i);
  const context = await model.createContext({ contextSize: nCtx, batchSize: nCtx, sequences: 1 });
  const sequence = context.getSequence();
  let windows = Math.floor(tokens.length / nCtx);
  if (Number(maxWindowsArg) > 0) windows = Math.min(windows, Number(maxWindowsArg));
  const first = nCtx / 2, out = [];
  for (let w = 0; w < windows; ++w) {
    const win = tokens.slice(w * nCtx, (w + 1) * nCtx);
    win[0] = model.tokens.bos;
    const input = win.map((t, j) =>
      j >= first && j < nCtx - 1 ? [t, { generateNext: { logits: { filter: { tokens: everyToken } } } }] : t);
    await sequence.clearHistory();
    const res = await sequence.controlledEvaluate(input);
    const rows = [];
    for (let j = first; j < nCtx - 1; ++j) {
      const row = new Float64Array(nVocab);
      for (const [tok, logit] of res[j].next.logits) row[tok] = logit;
      rows.push(row);
    }
    out.push(rows);
  }
  await context.dispose();
  await model.dispose();
  return { windows, nVocab, rows: out };
}

const base = await allLogits(basePath), quant = await allLogits(quantPath);
const f32 = Math.fround;
const nearestInt = (x) => Math.round(x);  // ties: llama.cpp's magic-number rounding is to even; ties are measure-zero here
let n = 0, sNll = 0, sNll2 = 0, sBase = 0, sBase2 = 0, sNllBase = 0, sKl = 0, sKl2 = 0, sDp = 0, sDp2 = 0, sDp4 = 0, same = 0;
const kls = [], dps = [];
for (let w = 0; w < base.windows; ++w) {
  for (let i = 0; i < base.rows[w].length; ++i) {
    const target = tokens[w * nCtx + nCtx / 2 + i + 1];
    const b = base.rows[w][i], q = quant.rows[w][i];
    // The base's stored log-probabilities (llama-perplexity --kl-divergence-base).
    let maxB = b[0], minB = b[0];
    for (const v of b) { maxB = Math.max(maxB, v); minB = Math.min(minB, v); }
    minB = Math.max(minB, maxB - 16);
    let zB = 0;
    for (const v of b) zB += Math.exp(f32(v - maxB));
    const lseB = f32(Math.log(zB)), minLogProb = f32(minB - maxB - lseB), scale = f32((maxB - minB) / 65535);
    const stored = (k) => (scale && b[k] > minB ? nearestInt(f32(f32(1 / scale) * f32(b[k] - minB))) : 0);
    const logpBase = (k) => f32(scale * stored(k) + minLogProb);
    // The quantized model's log-softmax.
    let maxQ = q[0], argQ = 0;
    for (let k = 1; k < q.length; ++k) if (q[k] > maxQ) { maxQ = q[k]; argQ = k; }
    let zQ = 0;
    for (const v of q) zQ += Math.exp(f32(v - maxQ));
    const lseQ = f32(Math.log(zQ));
    const nll = f32(maxQ + lseQ - q[target]);
    const nllBase = f32(-logpBase(target));
    sNll += nll; sNll2 += nll * nll; sBase += nllBase; sBase2 += nllBase * nllBase; sNllBase += nll * nllBase;
    let kl = 0, argB = -1, best = 0;
    for (let k = 0; k < b.length; ++k) {
      const lb = logpBase(k);
      if (k === 0 || lb > best) { best = lb; argB = k; }
      if (lb > -16) kl += Math.exp(lb) * (lb - q[k] + (maxQ + lseQ));
    }
    sKl += kl; sKl2 += kl * kl; ++n;
    if (argQ === argB) ++same;
    const dp = f32(Math.exp(-nll) - Math.exp(-nllBase));
    sDp += dp; sDp2 += dp * dp; sDp4 += dp * dp * dp * dp;
    kls.push(f32(kl)); dps.push(dp);
  }
}
const mu = (s, s2) => { const f = s / n, d = s2 / n - f * f; return [f, d > 0 && n > 10 ? Math.sqrt(d / (n - 1)) : 0]; };
const cov = n < 10 ? 0 : (sNllBase / n - (sNll / n) * (sBase / n)) / (n - 1);
kls.sort((a, c) => a - c); dps.sort((a, c) => a - c);
const pct = (v, fr) => { let p = f32(fr * (v.length - 1)); const ip = Math.floor(p); p = f32(p - ip); return (1 - p) * v[ip] + p * v[Math.min(ip + 1, v.length - 1)]; };
const med = (v) => (v.length % 2 === 0 ? 0.5 * (v[v.length / 2] + v[v.length / 2 - 1]) : v[(v.length - 1) / 2]);
const [lnQ, lnQe] = mu(sNll, sNll2), [lnB, lnBe] = mu(sBase, sBase2), [kl, kle] = mu(sKl, sKl2);
const [dp, dpe] = mu(sDp, sDp2), [mse, msee] = mu(sDp2, sDp4);
const lnRatioE = Math.sqrt(lnQe * lnQe + lnBe * lnBe - 2 * cov);
const topP = same / n;
console.log(JSON.stringify({
  tokens_scored: n, ppl: Math.exp(lnQ), ppl_stderr: Math.exp(lnQ) * lnQe,
  ppl_reference: Math.exp(lnB), ppl_reference_stderr: Math.exp(lnB) * lnBe,
  ln_ppl_correlation: cov / (lnQe * lnBe), ln_ppl_ratio: lnQ - lnB, ln_ppl_ratio_stderr: lnRatioE,
  mean_kl: kl, kl_stderr: kle, kl_max: kls[n - 1], kl_p999: pct(kls, 0.999), kl_p99: pct(kls, 0.99),
  kl_p95: pct(kls, 0.95), kl_p90: pct(kls, 0.9), kl_median: med(kls), kl_p10: pct(kls, 0.1),
  kl_p05: pct(kls, 0.05), kl_p01: pct(kls, 0.01), kl_p001: pct(kls, 0.001), kl_min: kls[0],
  mean_delta_p: dp, delta_p_stderr: dpe, dp_max: dps[n - 1], dp_p90: pct(dps, 0.9), dp_median: med(dps),
  dp_p10: pct(dps, 0.1), dp_min: dps[0], rms_delta_p: Math.sqrt(mse), rms_delta_p_stderr: 0.5 / Math.sqrt(mse) * msee,
  top1_agreement: topP, top1_stderr: Math.sqrt(topP * (1 - topP) / (n - 1)),
}));
