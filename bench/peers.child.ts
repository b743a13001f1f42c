/**
 * One measured run for `peers.bench.ts`, in a fresh process so that its peak RSS is its own:
 * `node --import tsx bench/peers.child.ts <sluice|ai-sdk|langchain> <input.jsonl> <output dir> <concurrency>`.
 * Every variant runs the same 3-step job over the input rows (classify with a structured LLM call, a pure step, review
 * with a second structured LLM call) on a zero-latency mock model and prints one JSON line: `{ rows, ms, maxRssMb }`.
 * sluice runs through `Runner` on the dry-run engine and writes its artefacts; the peers write nothing.
 */
import { JsonOutputParser } from "@langchain/core/output_parsers"
import { ChatPromptTemplate } from "@langchain/core/prompts"
import { RunnableLambda, RunnableSequence } from "@langchain/core/runnables"
import { FakeListChatModel } from "@langchain/core/utils/testing"
import { generateObject } from "ai"
import { MockLanguageModelV3 } from "ai/test"
import * as fs from "node:fs"
import * as readline from "node:readline"
import { z } from "zod"
import { runChain } from "./chain.child.js"

interface Row {
  readonly sku: string
  readonly title: string
  readonly description: string
}

const readRows = async (file: string): Promise<Array<Row>> => {
  const rows: Array<Row> = []
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })
  for await (const line of lines) if (line.length > 0) rows.push(JSON.parse(line) as Row)
  return rows
}

/** A promise pool: `concurrency` workers take the next row until none is left. */
const pool = async <A, B>(items: ReadonlyArray<A>, concurrency: number, f: (a: A) => Promise<B>) => {
  const out = new Array<B>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await f(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return out
}

const CATEGORY = JSON.stringify({ category: "office", confidence: 0.82 })
const FLAG = JSON.stringify({ flag: true })

const aiSdk = async (file: string, concurrency: number) => {
  const rows = await readRows(file)
  const mock = (text: string) =>
    new MockLanguageModelV3({
      doGenerate: async () => ({
        content: [{ type: "text", text }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: {
          inputTokens: { total: 20, noCache: 20, cacheRead: undefined, cacheWrite: undefined },
          outputTokens: { total: 8, text: 8, reasoning: undefined }
        },
        warnings: []
      })
    })
  const classifier = mock(CATEGORY)
  const reviewer = mock(FLAG)
  const Category = z.object({ category: z.enum(["home", "office", "garden"]), confidence: z.number() })
  const Flag = z.object({ flag: z.boolean() })
  const results = await pool(rows, concurrency, async (row) => {
    const { object: category } = await generateObject({
      model: classifier,
      schema: Category,
      prompt: `Classify ${row.title}: ${row.description}`
    })
    const upper = { ...category, label: category.category.toUpperCase() }
    const { object: flag } = await generateObject({
      model: reviewer,
      schema: Flag,
      prompt: `Is ${upper.category} right for ${row.title}?`
    })
    return flag
  })
  return results.length
}

const langchain = async (file: string, concurrency: number) => {
  const rows = await readRows(file)
  const sequence = RunnableSequence.from([
    RunnableLambda.from(async (row: Row) => ({
      row,
      category: await ChatPromptTemplate.fromTemplate("Classify {title}: {description}")
        .pipe(new FakeListChatModel({ responses: [CATEGORY] }))
        .pipe(new JsonOutputParser<{ category: string; confidence: number }>())
        .invoke({ title: row.title, description: row.description })
    })),
    RunnableLambda.from((x: { row: Row; category: { category: string; confidence: number } }) => ({
      row: x.row,
      upper: { ...x.category, label: x.category.category.toUpperCase() }
    })),
    RunnableLambda.from((x: { row: Row; upper: { category: string } }) =>
      ChatPromptTemplate.fromTemplate("Is {category} right for {title}?")
        .pipe(new FakeListChatModel({ responses: [FLAG] }))
        .pipe(new JsonOutputParser<{ flag: boolean }>())
        .invoke({ category: x.upper.category, title: x.row.title })
    )
  ])
  const results = await sequence.batch(rows, { maxConcurrency: concurrency })
  return results.length
}

const [variant, input, output, c] = process.argv.slice(2) as [string, string, string, string]
const concurrency = Number(c)
const start = performance.now()
const rows = variant === "sluice"
  ? (await runChain(input, output, concurrency)).done
  : variant === "ai-sdk"
  ? await aiSdk(input, concurrency)
  : variant === "langchain"
  ? await langchain(input, concurrency)
  : Number.NaN
const ms = performance.now() - start
process.stdout.write(`${JSON.stringify({ rows, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`)
