// 2,000 mixed requests at concurrency 50 (both endpoints, streamed and not, each with a known
// usage), then: zero errors, and the learner's usage rows add up to exactly what was served.
// node bench/mixed.mjs ACADEMY_URL KEY [total] [concurrency]
const [base, key, totalArg, concArg] = process.argv.slice(2);
const total = Number(totalArg ?? 2000), conc = Number(concArg ?? 50);
let next = 0, errors = 0, wantIn = 0, wantOut = 0;
const auth = { "content-type": "application/json", authorization: `Bearer ${key}` };
async function one(i) {
  const inTok = 100 + (i % 37), outTok = 5 + (i % 11), stream = i % 2 === 0, openai = i % 3 === 0;
  const prompt = `mixed ${i} [stub:usage=${inTok},${outTok}]`;
  const [path, body] = openai
    ? ["/v1/chat/completions", { model: "course-openai", stream, max_completion_tokens: 64, messages: [{ role: "user", content: prompt }] }]
    : ["/v1/messages", { model: "course-strong", stream, max_tokens: 64, messages: [{ role: "user", content: prompt }] }];
  const r = await fetch(base + path, { method: "POST", headers: auth, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status !== 200 || text.includes("event: error")) { errors++; return; }
  wantIn += inTok; wantOut += outTok;
}
const t0 = performance.now();
await Promise.all(Array.from({ length: conc }, async () => { while (next < total) await one(next++); }));
const secs = (performance.now() - t0) / 1000;
// Settlement runs after each response: wait until every reservation is gone.
for (let i = 0; i < 300; i++) {
  const me = await (await fetch(base + "/api/me", { headers: auth })).json();
  if (me.budget.reserved_usd === "0.000000") break;
  await new Promise((r) => setTimeout(r, 100));
}
let gotIn = 0, gotOut = 0, rows = 0, before = "";
for (;;) {
  const page = await (await fetch(`${base}/api/me/usage?limit=200${before ? `&before=${before}` : ""}`, { headers: auth })).json();
  for (const u of page.usage) { rows++; gotIn += u.input_tokens; gotOut += u.output_tokens; }
  if (!page.next_before) break;
  before = page.next_before;
}
console.log(JSON.stringify({ total, conc, secs: secs.toFixed(1), rps: (total / secs).toFixed(0), errors, rows, wantIn, gotIn, wantOut, gotOut, exact: errors === 0 && rows === total && gotIn === wantIn && gotOut === wantOut }));
