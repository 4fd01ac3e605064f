// Time to first byte of streamed calls, sequentially: node bench/ttfb.mjs URL N 'JSON headers' 'JSON body'
// Prints "p50 p99" in milliseconds.
const [url, n, headers, body] = process.argv.slice(2);
const times = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = performance.now();
  const r = await fetch(url, { method: "POST", headers: JSON.parse(headers), body });
  const reader = r.body.getReader();
  await reader.read();
  times.push(performance.now() - t0);
  while (!(await reader.read()).done) {}
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
console.log(q(0.5).toFixed(2), q(0.99).toFixed(2));
