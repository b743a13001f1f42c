/**
 * Node overheads: the cost of `Node.run` per call, and of a streaming node per token, against floors measured in
 * the same process (a plain Effect call; an async-generator pipeline; a raw Effect `Stream`).
 */
import { LanguageModel } from "@effect/ai"
import { Chunk, Effect, Stream } from "effect"
import * as DryRun from "../src/engines/DryRun.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import type { Suite } from "./harness.js"

const CALLS = 5_000
const TOKENS = 100_000
const CHUNK = 64

const double = (n: number) => Effect.succeed(n * 2)
const node = Node.fromEffect("double", double)

const runCalls: Suite = {
  name: "Node.run overhead per call",
  description: `${CALLS.toLocaleString()} sequential calls of a trivial step`,
  units: { count: CALLS, label: "call" },
  variants: [
    {
      name: "plain Effect call (floor)",
      run: () =>
        Effect.runPromise(Effect.forEach(Array.from({ length: CALLS }, (_, i) => i), double, { discard: true }))
    },
    {
      name: "raw Stream.fromEffect drained",
      baseline: "plain Effect call (floor)",
      run: () =>
        Effect.runPromise(
          Effect.forEach(
            Array.from({ length: CALLS }, (_, i) => i),
            (i) => Stream.runDrain(Stream.fromEffect(double(i))),
            { discard: true }
          )
        )
    },
    {
      name: "Node.stream(fromEffect) drained",
      baseline: "raw Stream.fromEffect drained",
      run: () =>
        Effect.runPromise(
          Effect.forEach(
            Array.from({ length: CALLS }, (_, i) => i),
            (i) => Stream.runDrain(Node.stream(node, i, { runId: "r" })),
            { discard: true }
          )
        )
    },
    {
      name: "Node.run(fromEffect)",
      baseline: "plain Effect call (floor)",
      run: () =>
        Effect.runPromise(
          Effect.forEach(Array.from({ length: CALLS }, (_, i) => i), (i) => Node.run(node, i, { runId: "r" }), {
            discard: true
          })
        )
    }
  ]
}

const tokens = Array.from({ length: TOKENS }, (_, i) => `t${i % 10} `)
const chunks = Array.from({ length: TOKENS / CHUNK }, (_, i) => tokens.slice(i * CHUNK, (i + 1) * CHUNK))
const upstream = () =>
  Stream.fromIterable(chunks).pipe(Stream.mapChunks((c) => Chunk.flatMap(c, Chunk.unsafeFromArray)))
const streaming = Node.fromStream("tokens", (_: void) => upstream())

async function* generate() {
  for (const chunk of chunks) for (const token of chunk) yield token
}

const perToken: Suite = {
  name: "Streaming node per-token overhead",
  description:
    `${TOKENS.toLocaleString()} tokens (arriving ${CHUNK} per chunk) turned into Token events and collected as text`,
  units: { count: TOKENS, label: "token" },
  variants: [
    {
      name: "async generator → join (floor)",
      run: async () => {
        const parts: Array<string> = []
        for await (const token of generate()) parts.push(token)
        return parts.join("")
      }
    },
    {
      name: "raw Effect Stream → join",
      baseline: "async generator → join (floor)",
      run: () => Effect.runPromise(Effect.map(Stream.runCollect(upstream()), (c) => Chunk.join(c, "")))
    },
    {
      name: "Node.fromStream → Node.run",
      baseline: "async generator → join (floor)",
      run: () => Effect.runPromise(Node.run(streaming, undefined))
    },
    {
      name: "Node.fromStream → Node.collectText(stream)",
      baseline: "async generator → join (floor)",
      run: () => Effect.runPromise(Node.collectText(Node.stream(streaming, undefined)))
    }
  ]
}

const llmTokens = 20_000
const llm = Llm.text({ prompt: (s: string) => s })
const dryRun = DryRun.layer({ words: llmTokens / 2, tokenSize: 4 })

const perModelToken: Suite = {
  name: "Llm.text per-token overhead on the dry-run engine",
  description:
    `a dry-run reply of ~${llmTokens.toLocaleString()} tokens through @effect/ai's streamText into Token events`,
  units: { count: llmTokens, label: "token" },
  rounds: 3,
  variants: [
    {
      name: "LanguageModel.streamText drained (floor)",
      run: () =>
        Effect.runPromise(Stream.runDrain(LanguageModel.streamText({ prompt: "bench" })).pipe(Effect.provide(dryRun)))
    },
    {
      name: "Llm.text → Node.run",
      baseline: "LanguageModel.streamText drained (floor)",
      run: () => Effect.runPromise(Node.run(llm, "bench").pipe(Effect.provide(dryRun)))
    }
  ]
}

export default [runCalls, perToken, perModelToken]
