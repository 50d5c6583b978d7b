// A small OpenAI-compatible server over llama.cpp (the library, through node-llama-cpp's prebuilt CPU binaries, the
// install of tests/e2e/gguf/), standing in for llama-server in the router's e2e test: it has /health, /v1/models,
// /v1/chat/completions and /v1/completions (streaming and not) and nothing of banyan's own API, so every other path
// answers 404 as llama-server does. Chat prompts are rendered with the ChatML template, and the server refuses a
// GGUF whose tokenizer.chat_template is anything else (the demo model and its bundles carry exactly this one).
//
// usage: node llama_server.mjs --model FILE.gguf --name NAME [--host 127.0.0.1] [--port 0] [--parallel 4]
//        [--token-delay-ms 0]       (the delay paces streams so a test can kill the server mid-stream)
// Prints "listening on http://HOST:PORT" once it serves; logs one line per request (messages, prompt tokens).
import http from "node:http";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const modelPath = args.model, name = args.name;
if (!modelPath || !name) {
  console.error("usage: node llama_server.mjs --model FILE.gguf --name NAME [--host H] [--port P] [--parallel N]");
  process.exit(2);
}
const host = args.host ?? "127.0.0.1", port = Number(args.port ?? 0), parallel = Number(args.parallel ?? 4);
const tokenDelayMs = Number(args["token-delay-ms"] ?? 0);

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + " +
  "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const { getLlama, LlamaLogLevel } = await import(
  new URL("../gguf/node_modules/node-llama-cpp/dist/index.js", import.meta.url).href
);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const template = model.fileInfo.metadata?.tokenizer?.chat_template;
if (template !== CHATML) {
  console.error(`${modelPath}: tokenizer.chat_template is not the ChatML template this server renders: ${template}`);
  process.exit(1);
}
// One thread: llama.cpp's spinning worker threads crawl on a loaded machine, and the test machine is.
const context = await model.createContext({ contextSize: 4096, sequences: parallel, threads: 1 });
const free = Array.from({ length: parallel }, () => context.getSequence());
const waiting = [];
const created = Math.floor(Date.now() / 1000);
let nextId = 0;

async function acquire() {
  if (free.length) return free.pop();
  return new Promise((resolve) => waiting.push(resolve));
}
function release(seq) {
  const w = waiting.shift();
  if (w) w(seq);
  else free.push(seq);
}

class BadRequest extends Error {}

function renderChat(messages) {
  if (!Array.isArray(messages) || messages.length === 0) throw new BadRequest("'messages' must be a non-empty array");
  let text = "";
  for (const [i, m] of messages.entries()) {
    if (typeof m?.role !== "string" || typeof m?.content !== "string")
      throw new BadRequest(`messages[${i}] needs a string 'role' and 'content'`);
    text += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  }
  return text + "<|im_start|>assistant\n";
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}
function sendError(res, status, message, type = "invalid_request_error") {
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Generates for one request; onText(delta) is called as text becomes complete UTF-8. Returns the finish reason.
async function generate(promptIds, { maxTokens, temperature, ignoreEos, isClosed, onText }) {
  const seq = await acquire();
  const ids = [];
  let emitted = "", finish = "length";
  try {
    await seq.clearHistory();
    if (maxTokens > 0) {
      for await (const t of seq.evaluate(promptIds, { temperature })) {
        if (!ignoreEos && model.isEogToken(t)) {
          finish = "stop";
          break;
        }
        ids.push(t);
        const text = model.detokenize(ids);
        if (!text.endsWith("\uFFFD") && text.length > emitted.length) {
          onText(text.slice(emitted.length));
          emitted = text;
        }
        if (ids.length >= maxTokens || isClosed()) break;
        if (tokenDelayMs > 0) await sleep(tokenDelayMs);
      }
    }
  } finally {
    release(seq);
  }
  const text = model.detokenize(ids);
  if (text.length > emitted.length) onText(text.slice(emitted.length));
  return { finish, completionTokens: ids.length };
}

async function handleGenerate(req, res, body, chat) {
  const promptText = chat ? renderChat(body.messages) : body.prompt;
  if (typeof promptText !== "string" || promptText.length === 0)
    throw new BadRequest(chat ? "'messages' is required" : "'prompt' must be a non-empty string");
  const maxTokens = body.max_tokens ?? body.max_completion_tokens ?? 16;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new BadRequest("'max_tokens' must be a non-negative integer");
  const temperature = body.temperature ?? 1;
  if (typeof temperature !== "number" || temperature < 0) throw new BadRequest("'temperature' must be >= 0");
  const promptIds = Array.from(model.tokenize(promptText, chat));  // chat: <|im_start|> etc. are special tokens
  const id = `${chat ? "chatcmpl" : "cmpl"}-${name}-${nextId++}`;
  const base = { id, created, model: name };
  console.log(`${new Date().toISOString()} ${chat ? "chat" : "completion"} ${id}: ` +
    `${chat ? body.messages.length + " messages, " : ""}${promptIds.length} prompt tokens, stream ${!!body.stream}`);
  let closed = false;
  res.on("close", () => (closed = true));
  const opts = { maxTokens, temperature, ignoreEos: body.ignore_eos === true, isClosed: () => closed };
  const usage = (n) => ({ prompt_tokens: promptIds.length, completion_tokens: n, total_tokens: promptIds.length + n });

  if (!body.stream) {
    let text = "";
    const r = await generate(promptIds, { ...opts, onText: (d) => (text += d) });
    const choice = chat
      ? { index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: r.finish }
      : { index: 0, text, logprobs: null, finish_reason: r.finish };
    sendJson(res, 200, { ...base, object: chat ? "chat.completion" : "text_completion", choices: [choice],
                         usage: usage(r.completionTokens) });
    return;
  }
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
  const object = chat ? "chat.completion.chunk" : "text_completion";
  const event = (choices, extra = {}) => res.write(`data: ${JSON.stringify({ ...base, object, choices, ...extra })}\n\n`);
  if (chat) event([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]);
  const r = await generate(promptIds, {
    ...opts,
    onText: (d) =>
      event([chat ? { index: 0, delta: { content: d }, logprobs: null, finish_reason: null }
                  : { index: 0, text: d, logprobs: null, finish_reason: null }]),
  });
  if (closed) return;
  event([chat ? { index: 0, delta: {}, logprobs: null, finish_reason: r.finish }
              : { index: 0, text: "", logprobs: null, finish_reason: r.finish }]);
  if (body.stream_options?.include_usage) event([], { usage: usage(r.completionTokens) });
  res.end("data: [DONE]\n\n");
}

const server = http.createServer((req, res) => {
  let raw = "";
  req.setEncoding("utf8");
  req.on("data", (d) => (raw += d));
  req.on("end", async () => {
    try {
      if (req.method === "GET" && req.url === "/health") return sendJson(res, 200, { status: "ok" });
      if (req.method === "GET" && req.url === "/v1/models")
        return sendJson(res, 200, { object: "list", data: [{ id: name, object: "model", created, owned_by: "llamacpp" }] });
      const chat = req.url === "/v1/chat/completions";
      if (req.method !== "POST" || !(chat || req.url === "/v1/completions"))
        return sendError(res, 404, `File Not Found: ${req.method} ${req.url}`, "not_found_error");
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        throw new BadRequest("the request body is not JSON");
      }
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadRequest("the body must be an object");
      await handleGenerate(req, res, body, chat);
    } catch (e) {
      if (res.headersSent) return res.end();
      if (e instanceof BadRequest) sendError(res, 400, e.message);
      else sendError(res, 500, String(e?.stack ?? e), "server_error");
    }
  });
});
// Exit at once on a signal (the tests' cleanup waits for it), without waiting for llama.cpp's threads to wind down.
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
server.listen(port, host, () => console.log(`${name}: listening on http://${host}:${server.address().port}`));
