// The official openai client against `banyan route` in front of banyan nodes: models list, non-streaming and
// streaming chat (greedy stream == greedy whole answer, the second turn stays on the pinned node), completions both
// ways, and errors mapped to the client's error classes (unknown model 404, bad requests 400 from the router and
// from the node, wrong API key 401).
// Usage: node router_client.mjs http://127.0.0.1:PORT API_KEY NODE_NAME,NODE_NAME,...
import OpenAI from "openai";
import assert from "node:assert/strict";

const [base, apiKey, nodeList] = process.argv.slice(2);
const nodes = nodeList.split(",");
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, timeout: 120_000, maxRetries: 0 });
const model = "banyan";

// Models: the cluster's id first, then every node's model (banyan nodes serve under their names).
const models = await client.models.list();
const ids = models.data.map((m) => m.id);
assert.equal(ids[0], model);
for (const n of nodes) assert.ok(ids.includes(n), `models list ${ids} lacks ${n}`);
assert.deepEqual([...models.data[0].nodes].sort(), [...nodes].sort());
console.log(`models: ${ids.join(", ")}`);

// Non-streaming chat; the router says where it went.
const messages = [{ role: "user", content: "Tell me about the river and the old mill." }];
const { data: chat, response: r1 } = await client.chat.completions
  .create({ model, messages, max_tokens: 12, temperature: 0, user: "js-1" })
  .withResponse();
assert.equal(chat.object, "chat.completion");
assert.ok(chat.id.startsWith("chatcmpl-"));
assert.equal(chat.choices[0].message.role, "assistant");
assert.ok(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 12);
const node = r1.headers.get("x-banyan-node");
assert.ok(nodes.includes(node), `X-Banyan-Node ${node}`);
assert.equal(r1.headers.get("x-banyan-placement"), "placed");
assert.equal(r1.headers.get("x-banyan-session"), "js-1");

// Streaming the same request (same session, so the same node): greedy text equal to the whole answer.
const { data: stream, response: r2 } = await client.chat.completions
  .create({ model, messages, max_tokens: 12, temperature: 0, user: "js-1", stream: true,
            stream_options: { include_usage: true } })
  .withResponse();
assert.equal(r2.headers.get("x-banyan-node"), node);
assert.equal(r2.headers.get("x-banyan-placement"), "pinned");
let text = "", finish = null, usage = null, chunks = 0;
for await (const chunk of stream) {
  ++chunks;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(text, chat.choices[0].message.content);
assert.ok(finish === "stop" || finish === "length");
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);
console.log(`chat on ${node}: whole and streamed (${chunks} chunks) agree: ${JSON.stringify(text)}`);

// The next turn (history + a new question) stays on the pinned node.
const turn2 = await client.chat.completions
  .create({ model, messages: [...messages, { role: "assistant", content: text }, { role: "user", content: "Go on." }],
            max_tokens: 6, temperature: 0, user: "js-1" })
  .withResponse();
assert.equal(turn2.response.headers.get("x-banyan-node"), node);
assert.equal(turn2.response.headers.get("x-banyan-placement"), "pinned");
assert.ok(turn2.data.usage.prompt_tokens > chat.usage.prompt_tokens);

// Completions, whole and streamed; a node's own model id is accepted too.
const comp = await client.completions.create({ model: nodes[0], prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
assert.ok(comp.id.startsWith("cmpl-"));
assert.equal(comp.object, "text_completion");
let streamed = "";
for await (const c of await client.completions.create({ model: nodes[0], prompt: "Once upon a time", max_tokens: 8,
                                                         temperature: 0, stream: true }))
  streamed += c.choices[0]?.text ?? "";
assert.equal(streamed, comp.choices[0].text);
console.log(`completions: ${JSON.stringify(comp.choices[0].text)} (whole == streamed)`);

// Errors arrive as the client's error classes with OpenAI's error object.
async function expectError(cls, status, fn, check = () => {}) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e?.constructor?.name}: ${e}`);
    assert.equal(e.status, status);
    check(e);
    return e;
  }
  assert.fail(`expected ${cls.name}`);
}
const notFound = await expectError(OpenAI.NotFoundError, 404, () =>
  client.chat.completions.create({ model: "gpt-9-turbo", messages, max_tokens: 2 }),
  (e) => {
    assert.equal(e.code, "model_not_found");
    assert.equal(e.param, "model");
  });
await expectError(OpenAI.NotFoundError, 404, () =>
  client.chat.completions.create({ model: "gpt-9-turbo", messages, max_tokens: 2, stream: true }));
await expectError(OpenAI.BadRequestError, 400, () => client.chat.completions.create({ model, messages: [] }));
// Caught by the node, passed through by the router unchanged.
await expectError(OpenAI.BadRequestError, 400, () =>
  client.chat.completions.create({ model, messages, max_tokens: -3, user: "js-bad" }),
  (e) => assert.equal(e.param, "max_tokens"));
await expectError(OpenAI.BadRequestError, 400, () =>
  client.completions.create({ model, prompt: "x", temperature: "hot", stream: true }));
const wrongKey = new OpenAI({ baseURL: `${base}/v1`, apiKey: "wrong", maxRetries: 0 });
await expectError(OpenAI.AuthenticationError, 401, () => wrongKey.models.list());
console.log(`errors: unknown model -> 404 ${notFound.code}, bad requests -> 400, wrong key -> 401`);
console.log("router_client: OK");
