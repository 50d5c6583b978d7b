// llama.cpp's CPU speed on a GGUF, measured through node-llama-cpp's prebuilt binaries (never built or downloaded),
// with the same workload as `banyan bench --model DIR` (src/runtime/engine_bench.cc): random token ids from a fixed
// seed; prefill = one sequence, a PROMPT-token prompt in one batch; decode = B sequences, each first filled with
// CONTEXT tokens, then STEPS steps of one new token per sequence, every step producing logits (greedy sampling, so
// the LM head runs as in banyan's bench). Best of REPEATS, like banyan. Prints one JSON line.
//
// usage: node bench.mjs MODEL.gguf [--threads N] [--prefill 512] [--context 64] [--steps 64] [--batches 1,8]
//                      [--repeats 3]
// node-llama-cpp is loaded from $NODE_LLAMA_CPP_DIR or tests/e2e/gguf/node_modules/node-llama-cpp (the e2e install).
import path from "node:path";
import {fileURLToPath, pathToFileURL} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const libDir = process.env.NODE_LLAMA_CPP_DIR ??
    path.join(here, "../../../tests/e2e/gguf/node_modules/node-llama-cpp");
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(path.join(libDir, "dist/index.js")).href);

function parseArgs(argv) {
  const o = {model: null, threads: 1, prefill: 512, context: 64, steps: 64, batches: [1, 8], repeats: 3};
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--threads") o.threads = Number(next());
    else if (a === "--prefill") o.prefill = Number(next());
    else if (a === "--context") o.context = Number(next());
    else if (a === "--steps") o.steps = Number(next());
    else if (a === "--batches") o.batches = next().split(",").map(Number);
    else if (a === "--repeats") o.repeats = Number(next());
    else if (!a.startsWith("--") && o.model === null) o.model = a;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.model) throw new Error("usage: node bench.mjs MODEL.gguf [--threads N] ...");
  for (const k of ["threads", "prefill", "context", "steps", "repeats"])
    if (!(Number.isInteger(o[k]) && o[k] > 0)) throw new Error(`--${k} must be a positive integer`);
  return o;
}

// Small seeded generator (mulberry32) so both engines see random, reproducible prompts.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const o = parseArgs(process.argv.slice(2));
// maxThreads 0: the context's `threads` is then exactly the number of threads used (node-llama-cpp docs).
const llama = await getLlama({gpu: false, build: "never", maxThreads: 0, logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: o.model});
const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
const rand = rng(1);
const randomIds = (n) => Array.from({length: n}, () => Math.floor(rand() * vocab));
const now = () => Number(process.hrtime.bigint()) / 1e9;
const maxBatch = Math.max(...o.batches);
const context = await model.createContext({
  sequences: maxBatch,
  contextSize: Math.max(o.prefill, o.context + o.steps + 8) + 64,
  batchSize: Math.max(o.prefill, maxBatch),
  threads: o.threads,
});
const result = {
  bench: "engine",
  engine: "llama.cpp",
  via: "node-llama-cpp " + (await import(pathToFileURL(path.join(libDir, "package.json")).href, {with: {type: "json"}})).default.version,
  model: o.model,
  threads: o.threads,
  prefill_tokens: o.prefill,
  decode_context: o.context,
  decode_steps: o.steps,
  flash_attention: context.flashAttention,
  kv_cache_type: "f16 (llama.cpp default)",
};

// All sequences are taken once (node-llama-cpp does not hand a disposed sequence's slot back right away) and
// cleared between measurements.
const sequences = Array.from({length: maxBatch}, () => context.getSequence());

// Prefill: first run warms up, then best of `repeats`.
{
  const seq = sequences[0];
  const prompt = randomIds(o.prefill);
  let best = Infinity;
  for (let rep = 0; rep <= o.repeats; ++rep) {
    await seq.clearHistory();
    const t0 = now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt);
    const dt = now() - t0;
    if (rep > 0) best = Math.min(best, dt);
  }
  result.prefill_tok_s = o.prefill / best;
  await seq.clearHistory();
}

// Decode: B sequences step together; node-llama-cpp puts the tokens queued in one event-loop cycle into one
// llama_decode batch ("maximumParallelism"), so B concurrent generators make batch-B decode steps.
for (const b of o.batches) {
  let best = Infinity;
  for (let rep = 0; rep < o.repeats; ++rep) {
    const seqs = sequences.slice(0, b);
    await Promise.all(seqs.map((s) => s.evaluateWithoutGeneratingNewTokens(randomIds(o.context - 1))));
    const warm = 2;
    const stepTimes = [];
    await Promise.all(seqs.map(async (s, i) => {
      let n = 0;
      for await (const _ of s.evaluate(randomIds(1), {temperature: 0})) {
        ++n;
        if (i === 0 && (n === warm || n === warm + o.steps)) stepTimes.push(now());
        if (n >= warm + o.steps) break;
      }
    }));
    best = Math.min(best, (stepTimes[1] - stepTimes[0]) / o.steps);
    for (const s of seqs) await s.clearHistory();
  }
  result[`decode_tok_s_batch${b}`] = b / best;
}
console.log(JSON.stringify(result));
await context.dispose();
await model.dispose();
