// The official openai client against `banyan serve`: non-streaming, streaming, 32 concurrent streams whose greedy
// outputs equal the same requests run one at a time, and a mid-stream disconnect that frees its slot.
// Usage: node client_test.mjs http://127.0.0.1:PORT MODEL
import OpenAI from "openai";
import assert from "node:assert/strict";

const [base, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", timeout: 120_000, maxRetries: 0 });

async function metric(name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return Number(line.split(" ")[1]);
}

function prompts(n) {
  const topics = ["trees", "rivers", "stars", "bread", "music", "trains", "cats", "rain"];
  return Array.from({ length: n }, (_, i) => [
    { role: "user", content: `Say something about ${topics[i % topics.length]} number ${i}.` },
  ]);
}

async function streamText(messages, maxTokens) {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null, id = null;
  for await (const chunk of stream) {
    id ??= chunk.id;
    assert.equal(chunk.id, id);
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(id.startsWith("chatcmpl-"));
  assert.ok(finish === "stop" || finish === "length", `finish_reason ${finish}`);
  assert.ok(usage && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);
  return text;
}

// Non-streaming chat and completions.
const chat = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "hello" }], max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 2,
});
assert.ok(chat.id.startsWith("chatcmpl-"));
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices[0].message.role, "assistant");
assert.ok(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 10);
const lp = chat.choices[0].logprobs.content;
assert.ok(lp.length >= 1 && lp.every((t) => t.logprob <= 0 && t.top_logprobs.length === 2));
assert.ok(lp.every((t) => t.top_logprobs[0].logprob >= t.logprob - 1e-6), "the best alternative is at least as likely");
const comp = await client.completions.create({ model, prompt: "Once upon", max_tokens: 6, temperature: 0 });
assert.ok(comp.id.startsWith("cmpl-"));
assert.equal(typeof comp.choices[0].text, "string");

// Streaming equals non-streaming for greedy decoding.
const msg = [{ role: "user", content: "Tell me a story." }];
const full = await client.chat.completions.create({ model, messages: msg, max_tokens: 16, temperature: 0 });
assert.equal(await streamText(msg, 16), full.choices[0].message.content);
console.log("openai client: non-streaming and streaming OK");

// 32 concurrent streams == the same requests one at a time.
const ps = prompts(32);
const sequential = [];
for (const p of ps) sequential.push(await streamText(p, 12));
const t0 = Date.now();
const concurrent = await Promise.all(ps.map((p) => streamText(p, 12)));
const seconds = (Date.now() - t0) / 1000;
let same = 0;
for (let i = 0; i < ps.length; ++i) if (concurrent[i] === sequential[i]) ++same;
console.log(`32 concurrent streams: ${same}/32 equal to sequential, ${seconds.toFixed(2)} s`);
assert.equal(same, 32, JSON.stringify({ concurrent, sequential }, null, 1));

// Disconnect mid-stream: the generation is cancelled and the slot freed.
const cancelled0 = await metric("banyan_cancelled_requests_total");
const controller = new AbortController();
const stream = await client.chat.completions.create(
  { model, messages: [{ role: "user", content: "Count forever." }], max_tokens: 400, temperature: 1, stream: true, ignore_eos: true },
  { signal: controller.signal },
);
let seen = 0;
try {
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content !== undefined && ++seen >= 3) controller.abort();
  }
} catch (e) {
  assert.ok(controller.signal.aborted, `unexpected error ${e}`);
}
let active = -1, cancelled = cancelled0;
for (let i = 0; i < 100; ++i) {
  active = await metric("banyan_active_requests");
  cancelled = await metric("banyan_cancelled_requests_total");
  if (active === 0 && cancelled > cancelled0) break;
  await new Promise((r) => setTimeout(r, 100));
}
assert.equal(active, 0, "the disconnected stream still holds its slot");
assert.ok(cancelled > cancelled0, "the disconnect was not counted as a cancellation");
console.log("disconnect mid-stream: slot freed");
