// The official SDKs, unmodified, with their base URL pointed at the academy: plain, streamed,
// tool use, models.list(), and each error as the SDK's own exception type.
import { test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

const BASE = process.env.ACADEMY_URL;
const KEY = process.env.ACADEMY_KEY;
const POOR_KEY = process.env.ACADEMY_POOR_KEY;
const nonce = () => Math.random().toString(36).slice(2);
const anthropic = (opts = {}) => new Anthropic({ baseURL: BASE, apiKey: KEY, ...opts });
const openai = (opts = {}) => new OpenAI({ baseURL: BASE + "/v1", apiKey: KEY, ...opts });

async function usageRows() {
  const r = await fetch(BASE + "/api/me/usage?limit=200", { headers: { authorization: `Bearer ${KEY}` } });
  return (await r.json()).usage;
}

async function rowsFor(requestIds, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const rows = (await usageRows()).filter((r) => requestIds.includes(r.request_id));
    if (rows.length === requestIds.length || Date.now() > deadline) return rows;
    await new Promise((res) => setTimeout(res, 100));
  }
}

test("anthropic: a plain call", async () => {
  const { data: msg, response } = await anthropic()
    .messages.create({ model: "course-strong", max_tokens: 64, messages: [{ role: "user", content: `hello ${nonce()} [stub:usage=40,7]` }] })
    .withResponse();
  assert.equal(msg.type, "message");
  assert.equal(msg.usage.input_tokens, 40);
  assert.ok(response.headers.get("x-academy-cost-usd"));
});

test("anthropic: a streamed call reassembles and reports final usage", async () => {
  const stream = anthropic().messages.stream({ model: "course-strong", max_tokens: 64, messages: [{ role: "user", content: `stream ${nonce()} [stub:usage=50,8]` }] });
  let text = "";
  stream.on("text", (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.ok(text.length > 0);
  assert.equal(final.usage.output_tokens, 8);
  assert.ok(["end_turn", "max_tokens"].includes(final.stop_reason));
});

test("anthropic: a tool-use round trip", async () => {
  const tools = [{ name: "get_weather", description: "Weather for a city", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }];
  const client = anthropic();
  const first = await client.messages.create({ model: "course-strong", max_tokens: 200, tools, messages: [{ role: "user", content: `weather in Paris ${nonce()} [stub:tool]` }] });
  assert.equal(first.stop_reason, "tool_use");
  const call = first.content.find((b) => b.type === "tool_use");
  assert.equal(call.name, "get_weather");
  const second = await client.messages.create({
    model: "course-strong", max_tokens: 200, tools,
    messages: [
      { role: "user", content: `weather in Paris ${nonce()} [stub:tool]` },
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18°C, clear" }] },
    ],
  });
  assert.notEqual(second.stop_reason, "tool_use");
});

test("anthropic: the offline demo model runs a tool loop too", async () => {
  const tools = [{ name: "get_weather", description: "Current weather for a city", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }];
  const client = anthropic();
  const first = await client.messages.create({ model: "demo", max_tokens: 300, tools, messages: [{ role: "user", content: "What is the weather in Paris?" }] });
  assert.equal(first.stop_reason, "tool_use");
  const call = first.content.find((b) => b.type === "tool_use");
  const second = await client.messages.create({
    model: "demo", max_tokens: 300, tools,
    messages: [
      { role: "user", content: "What is the weather in Paris?" },
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18°C and clear" }] },
    ],
  });
  assert.equal(second.stop_reason, "end_turn");
  assert.match(second.content[0].text, /18°C/);
});

test("openai: plain, streamed and a tool round trip", async () => {
  const client = openai();
  const plain = await client.chat.completions.create({ model: "course-openai", messages: [{ role: "user", content: `hi ${nonce()} [stub:usage=30,4]` }] });
  assert.equal(plain.usage.prompt_tokens, 30);
  const stream = await client.chat.completions.create({ model: "course-openai", stream: true, messages: [{ role: "user", content: `s ${nonce()}` }] });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  assert.ok(text.length > 0);
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
  const first = await client.chat.completions.create({ model: "course-openai", tools, messages: [{ role: "user", content: `weather ${nonce()} [stub:tool]` }] });
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  const tc = first.choices[0].message.tool_calls[0];
  const second = await client.chat.completions.create({
    model: "course-openai", tools,
    messages: [{ role: "user", content: `weather ${nonce()} [stub:tool]` }, first.choices[0].message, { role: "tool", tool_call_id: tc.id, content: "18C" }],
  });
  assert.equal(second.choices[0].finish_reason, "stop");
});

test("both SDKs list the models", async () => {
  const a = [];
  for await (const m of anthropic().models.list()) a.push(m.id);
  const o = [];
  for await (const m of openai().models.list()) o.push(m.id);
  assert.ok(a.includes("demo") && a.includes("course-strong"));
  assert.deepEqual(a, o);
});

test("errors are the SDKs' own exception types", async () => {
  const noRetry = { maxRetries: 0 };
  const body = (extra) => ({ model: "course-strong", max_tokens: 32, messages: [{ role: "user", content: `e ${nonce()} ${extra}` }] });
  await assert.rejects(anthropic(noRetry).messages.create({ ...body(""), max_tokens: -1 }), Anthropic.BadRequestError);
  await assert.rejects(anthropic({ ...noRetry, apiKey: "aa_" + "x".repeat(32) }).messages.create(body("")), Anthropic.AuthenticationError);
  await assert.rejects(openai({ ...noRetry, apiKey: "aa_" + "x".repeat(32) }).chat.completions.create({ model: "course-openai", messages: [{ role: "user", content: "x" }] }), OpenAI.AuthenticationError);
  await assert.rejects(anthropic({ ...noRetry, apiKey: POOR_KEY }).messages.create(body("")), (e) => e instanceof Anthropic.APIError && e.status === 402);
  await assert.rejects(openai({ ...noRetry, apiKey: POOR_KEY }).chat.completions.create({ model: "course-openai", messages: [{ role: "user", content: "x" }] }), (e) => e instanceof OpenAI.APIError && e.status === 402);
  await assert.rejects(anthropic(noRetry).messages.countTokens({ model: "course-strong", messages: [{ role: "user", content: "x" }] }), Anthropic.NotFoundError);
  await assert.rejects(anthropic(noRetry).messages.create(body("[stub:status=429]")), Anthropic.RateLimitError);
  await assert.rejects(anthropic(noRetry).messages.create(body("[stub:status=529]")), Anthropic.InternalServerError);
  await assert.rejects(anthropic(noRetry).messages.create(body("[stub:status=500]")), Anthropic.InternalServerError);
  await assert.rejects(openai(noRetry).chat.completions.create({ model: "course-openai", messages: [{ role: "user", content: "[stub:status=429]" }] }), OpenAI.RateLimitError);
  await assert.rejects(openai(noRetry).chat.completions.create({ model: "course-openai", messages: [{ role: "user", content: "x" }], n: 2 }), OpenAI.BadRequestError);
  await assert.rejects(anthropic(noRetry).messages.create({ ...body(""), model: "no-such-model" }), (e) => e instanceof Anthropic.BadRequestError && /course-strong/.test(e.message));
});

test("a failed attempt and the SDK's automatic retry are charged exactly once", async () => {
  const n = nonce();
  const { data, response } = await anthropic({ maxRetries: 2 })
    .messages.create({ model: "course-strong", max_tokens: 32, messages: [{ role: "user", content: `retry ${n} [stub:fail-first=529] [stub:usage=60,5]` }] })
    .withResponse();
  assert.equal(data.usage.input_tokens, 60);
  const served = response.headers.get("x-academy-request-id");
  // Both attempts leave a row; only the one the upstream served costs anything.
  const deadline = Date.now() + 10000;
  let mine = [];
  while (Date.now() < deadline) {
    mine = (await usageRows()).filter((r) => r.input_tokens === 60 || (r.outcome === "upstream_error" && r.status === 529));
    if (mine.some((r) => r.request_id === served)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const charged = mine.filter((r) => r.cost_micros > 0);
  assert.equal(charged.length, 1, JSON.stringify(mine));
  assert.equal(charged[0].request_id, served);
  assert.ok(mine.some((r) => r.status === 529 && r.cost_micros === 0), "the failed attempt is recorded, free");
});
