/**
 * The in-process engine's streaming throughput: `LlamaCpp` on the tiny random-weight model (`TinyGguf`, one thread,
 * greedy decoding, a fixed number of tokens per reply), against the floor, `node-llama-cpp`'s own streaming API
 * (`LlamaChat.generateResponse` with `onTextChunk`) on the same model file and settings, in the same run:
 *
 * - `LanguageModel.streamText` parts, counted by the consumer (the engine);
 * - an `Llm.text` node's `Token` events, counted by the consumer (end to end).
 *
 * The tiny model makes a token cheap (well under a millisecond of compute), so the ratio shows what sluice adds per
 * token; with a real model, compute dominates and the ratio tends to 1.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { getLlama, LlamaChat, resolveChatWrapper } from "node-llama-cpp"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as LlamaCpp from "../src/engines/LlamaCpp.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import * as TinyGguf from "../src/testing/TinyGguf.js"
import type { Suite } from "./harness.js"

const TOKENS = 600
const PROMPT = "Tell me a long story"

const modelPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-")), "tiny.gguf")
fs.writeFileSync(modelPath, TinyGguf.make({ seed: 5 }))

// the floor: node-llama-cpp alone, its own model and context with the same settings
const llama = await getLlama({ gpu: false, build: "never", progressLogs: false })
const model = await llama.loadModel({ modelPath })
const context = await model.createContext({ contextSize: 2048, sequences: 1, threads: 1 })
const chat = new LlamaChat({
  contextSequence: context.getSequence(),
  chatWrapper: resolveChatWrapper(model, { type: "chatML" })
})

const floor = async () => {
  let chunks = 0
  const response = await chat.generateResponse([{ type: "user", text: PROMPT }, { type: "model", response: [] }], {
    maxTokens: TOKENS,
    onTextChunk: () => {
      chunks++
    }
  })
  if (response.metadata.stopReason !== "maxTokens" || chunks === 0) throw new Error("the floor did not generate")
  return chunks
}

// sluice: the engine Layer on the same file and settings
const runtime = ManagedRuntime.make(
  LlamaCpp.layer({
    modelPath,
    contextSize: 2048,
    sequences: 1,
    threads: 1,
    gpu: false,
    chatWrapper: "chatML",
    sampling: { maxTokens: TOKENS }
  })
)

const engine = () =>
  runtime.runPromise(
    LanguageModel.streamText({ prompt: PROMPT }).pipe(
      Stream.runFold({ deltas: 0, outputTokens: 0 }, (acc, part) =>
        part.type === "text-delta"
          ? { ...acc, deltas: acc.deltas + 1 }
          : part.type === "finish"
          ? { ...acc, outputTokens: part.usage.outputTokens ?? 0 }
          : acc),
      Effect.tap(({ outputTokens }) =>
        outputTokens === TOKENS ? Effect.void : Effect.dieMessage(`expected ${TOKENS} tokens, got ${outputTokens}`)
      )
    )
  )

const node = Llm.text({ name: "story", prompt: (s: string) => s })
const endToEnd = () =>
  runtime.runPromise(
    Node.stream(node, PROMPT).pipe(
      Stream.runFold(0, (count, event) => event._tag === "Token" ? count + 1 : count),
      Effect.tap((tokens) => tokens > 0 ? Effect.void : Effect.dieMessage("no Token events"))
    )
  )

const suite: Suite = {
  name: "llamacpp",
  description:
    `LlamaCpp on the tiny GGUF model (TinyGguf, 1 thread, greedy): ${TOKENS} streamed tokens per reply, sluice vs ` +
    "node-llama-cpp's own LlamaChat.generateResponse + onTextChunk on the same model and settings (higher ratio = " +
    "slower; target tokens/s >= 90% of the floor, i.e. ratio <= 1.11).",
  units: { count: TOKENS, label: "token" },
  rounds: 9,
  variants: [
    { name: "node-llama-cpp LlamaChat onTextChunk (floor)", run: floor },
    {
      name: "sluice LlamaCpp streamText parts",
      run: engine,
      baseline: "node-llama-cpp LlamaChat onTextChunk (floor)"
    },
    {
      name: "sluice LlamaCpp -> Llm.text -> Token events",
      run: endToEnd,
      baseline: "node-llama-cpp LlamaChat onTextChunk (floor)"
    }
  ],
  summary: (medians) => {
    const floorMs = medians.get("node-llama-cpp LlamaChat onTextChunk (floor)")!
    return [
      "sluice LlamaCpp streamText parts",
      "sluice LlamaCpp -> Llm.text -> Token events"
    ].map((name) => {
      const share = floorMs / medians.get(name)!
      return `${name}: ${(share * 100).toFixed(0)}% of node-llama-cpp's tokens/s (target >= 90%: ${
        share >= 0.9 ? "met" : "NOT met"
      })`
    })
  },
  cleanup: async () => {
    await runtime.dispose()
    await context.dispose()
    await model.dispose()
    fs.rmSync(path.dirname(modelPath), { recursive: true, force: true })
  }
}

export default suite
