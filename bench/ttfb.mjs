// Sequential latency: node bench/ttfb.mjs URL N 'JSON headers' 'JSON body' [gap ms] [ttfb|full]
// `ttfb` (default) times the first body chunk of a streamed call; `full` the whole response.
// A gap between requests lets the previous request's background work (settlement, transcript)
// finish first. Prints "p50 p99" in milliseconds.
const [url, n, headers, body, gapArg, modeArg] = process.argv.slice(2);
const gap = Number(gapArg ?? 0), mode = modeArg ?? "ttfb";
const times = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = performance.now();
  const r = await fetch(url, { method: "POST", headers: JSON.parse(headers), body });
  const reader = r.body.getReader();
  await reader.read();
  if (mode === "ttfb") times.push(performance.now() - t0);
  while (!(await reader.read()).done) {}
  if (mode === "full") times.push(performance.now() - t0);
  if (gap) await new Promise((res) => setTimeout(res, gap));
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
console.log(q(0.5).toFixed(2), q(0.99).toFixed(2));
