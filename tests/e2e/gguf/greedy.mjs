// Loads a GGUF in llama.cpp (node-llama-cpp's prebuilt CPU binaries; never builds or downloads) and prints, per
// prompt line of a JSON array of texts, {"prompt_ids": [...], "ids": [...]} with N greedy tokens.
// usage: node greedy.mjs MODEL.gguf N '["prompt", ...]'
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, nText, promptsJson] = process.argv.slice(2);
const n = Number(nText);
// One thread by default: on a shared, loaded machine llama.cpp's spinning worker threads make a tiny model crawl.
const threads = Number(process.env.GGUF_LLAMA_THREADS ?? 1);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads});
const model = await llama.loadModel({modelPath});
for (const prompt of JSON.parse(promptsJson)) {
  const context = await model.createContext({contextSize: 256, threads});
  const seq = context.getSequence();
  const promptIds = Array.from(model.tokenize(prompt, false));
  const ids = [];
  for await (const t of seq.evaluate(promptIds, {temperature: 0})) {
    ids.push(t);
    if (ids.length >= n || model.isEogToken(t)) break;
  }
  console.log(JSON.stringify({prompt_ids: promptIds, ids}));
  await context.dispose();
}
await model.dispose();
