// Tokenizes texts with llama.cpp's tokenizer for a GGUF (node-llama-cpp's prebuilt CPU binaries, vocabulary
// only) and prints one {"ids": [...]} line per {"text": ...} input line. Special-token texts are recognised (as
// Hugging Face's encode does), no BOS/EOS is added.
// usage: node tokenize.mjs MODEL.gguf TEXTS.jsonl
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, textsPath] = process.argv.slice(2);
const threads = 1;
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads});
const model = await llama.loadModel({modelPath, vocabOnly: true});
for (const line of readFileSync(textsPath, "utf8").split("\n")) {
  if (line.trim() === "") continue;
  console.log(JSON.stringify({ids: Array.from(model.tokenize(JSON.parse(line).text, true))}));
}
await model.dispose();
