#!/usr/bin/env python3
"""KL and PPL against file size: ptq's allocations (the front, a line) with llama.cpp's mixes
(imatrix and GPTQ) and ptq's allocation at each mix's size as points. Plain SVG, no libraries.
Usage: mixed_precision_front_plot.py front.csv MODEL_NAME OUT_DIR  ->  OUT_DIR/front_kl.svg, front_ppl.svg"""
import csv
import math
import sys


def plot(rows, key, ylabel, title, path, log_y):
    W, H, L, R, T, B = 760, 480, 80, 170, 40, 50
    xs = [r["bytes"] for r in rows]
    ys = [r[key] for r in rows if r[key] > 0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    fy = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    ly0, ly1 = fy(y0), fy(y1)
    pad = 0.05 * (ly1 - ly0 or 1)
    ly0, ly1 = ly0 - pad, ly1 + pad
    px = lambda v: L + (v - x0) / ((x1 - x0) or 1) * (W - L - R)
    py = lambda v: H - B - (fy(v) - ly0) / (ly1 - ly0) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{L}" y="22" font-size="13">{title}</text>',
           f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="#333"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="#333"/>',
           f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">file size (bytes)</text>',
           f'<text x="16" y="{(T+H-B)/2}" transform="rotate(-90 16 {(T+H-B)/2})" text-anchor="middle">{ylabel}</text>']
    for k in range(6):
        v = x0 + (x1 - x0) * k / 5
        out.append(f'<text x="{px(v):.1f}" y="{H-B+16}" text-anchor="middle">{v/1e3:.0f}k</text>')
        yv = ly0 + (ly1 - ly0) * k / 5
        val = 10 ** yv if log_y else yv
        out.append(f'<text x="{L-6}" y="{H-B-(H-T-B)*k/5+4:.1f}" text-anchor="end">{val:.3g}</text>')
        out.append(f'<line x1="{L}" y1="{H-B-(H-T-B)*k/5:.1f}" x2="{W-R}" y2="{H-B-(H-T-B)*k/5:.1f}" stroke="#eee"/>')
    styles = {"ptq-front": ("#4e79a7", "ptq allocation (front)"), "ptq": ("#4e79a7", "ptq at the mix's size"),
              "mix+imatrix": ("#e15759", "llama.cpp mix + imatrix"), "mix+gptq": ("#f28e2b", "llama.cpp mix + GPTQ")}
    front = sorted((r for r in rows if r["kind"] == "ptq-front" and r[key] > 0), key=lambda r: r["bytes"])
    if front:
        pts = " ".join(f"{px(r['bytes']):.1f},{py(r[key]):.1f}" for r in front)
        out.append(f'<polyline points="{pts}" fill="none" stroke="#4e79a7" stroke-width="1.5"/>')
    for r in rows:
        if r[key] <= 0:
            continue
        c, _ = styles[r["kind"]]
        shape = (f'<circle cx="{px(r["bytes"]):.1f}" cy="{py(r[key]):.1f}" r="3" fill="{c}"/>' if r["kind"] == "ptq-front" else
                 f'<rect x="{px(r["bytes"])-4:.1f}" y="{py(r[key])-4:.1f}" width="8" height="8" fill="{c}"/>' if r["kind"] == "ptq" else
                 f'<path d="M{px(r["bytes"]):.1f},{py(r[key])-5:.1f} l5,9 h-10 z" fill="{c}"/>')
        out.append(shape)
        if r["kind"] == "mix+imatrix":
            out.append(f'<text x="{px(r["bytes"])+6:.1f}" y="{py(r[key])-6:.1f}" fill="{c}">{r["label"]}</text>')
    for i, (kind, (c, name)) in enumerate(styles.items()):
        y = T + 10 + 18 * i
        out.append(f'<rect x="{W-R+12}" y="{y-8}" width="10" height="10" fill="{c}"/><text x="{W-R+28}" y="{y+1}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    path, name, out = sys.argv[1:4]
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append({"kind": r["kind"], "label": r["label"], "bytes": float(r["bytes"]), "kl": float(r["kl"]),
                         "ppl": float(r["ppl"]), "llama_ppl": float(r["llama_ppl"] or 0)})
    plot(rows, "kl", "mean KL to FP (log)", f"{name}: KL divergence vs GGUF file size", f"{out}/front_kl.svg", True)
    plot(rows, "ppl", "perplexity (ptq eval)", f"{name}: perplexity vs GGUF file size", f"{out}/front_ppl.svg", False)


main()
