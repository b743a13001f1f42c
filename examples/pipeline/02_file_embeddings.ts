/**
 * File processing with batching for embeddings: discover the entries of a folder, read them 4 at a time, split them
 * into chunks, drop the tiny ones, embed the chunks 16 per call (the way embedding APIs want them) with retries on
 * rate limits, and index the vectors. Entries that cannot be read (sub-folders, here) are collected, not fatal.
 *
 * The embedder is a stand-in (a deterministic hash-based vector after a delay, rate-limited on every second call);
 * swap `embedBatch` for a real embedding API.
 *
 *   npx tsx examples/pipeline/02_file_embeddings.ts [folder]
 */
import { Console, Data, Effect, Stream } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Pipeline from "sluice/Pipeline"

class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly file: string; readonly message: string }> {
  get isRetryable() {
    return false
  }
}
class RateLimited extends Data.TaggedError("RateLimited")<{ readonly call: number }> {}

interface Chunk {
  readonly file: string
  readonly index: number
  readonly text: string
}
interface Embedded extends Chunk {
  readonly vector: ReadonlyArray<number>
}

const readText = (file: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) =>
      new ReadFailed({ file, message: `cannot read ${path.basename(file)}: ${(cause as Error).message}` })
  })

const split = (file: string, text: string): Array<Chunk> =>
  text.split(/\n\s*\n/).map((paragraph, index) => ({ file, index, text: paragraph.trim() }))

// a stand-in embedding API: 20 ms per call, every second call is rate limited
let calls = 0
const embedBatch = (chunks: ReadonlyArray<Chunk>) =>
  Effect.suspend(() => {
    const call = ++calls
    if (call % 2 === 0) return Effect.fail(new RateLimited({ call }))
    const vectors = chunks.map((chunk) => {
      const vector = [0, 0, 0, 0]
      for (let i = 0; i < chunk.text.length; i++) vector[i % 4]! += chunk.text.charCodeAt(i) / 1000
      return { ...chunk, vector }
    })
    return Effect.as(Effect.sleep("20 millis"), vectors)
  })

const pipeline = Pipeline.start<string>({ name: "embed-files" })
  .add("discover", ({ input }) =>
    Stream.flatMap(input, (folder) =>
      Stream.fromIterableEffect(
        Effect.tryPromise({
          try: () => fs.readdir(folder),
          catch: (cause) =>
            new ReadFailed({ file: folder, message: `cannot list ${folder}: ${(cause as Error).message}` })
        })
      ).pipe(Stream.map((name) => path.join(folder, name)))))
  .map("read", (file) => Effect.map(readText(file), (text) => ({ file, text })), {
    concurrency: 4,
    errorStrategy: "COLLECT_ERRORS"
  })
  .flatMap("chunks", ({ file, text }) => split(file, text))
  .filter("substantial", (chunk) => chunk.text.length >= 40)
  .batch("batches", 16)
  .map("embed", embedBatch, {
    concurrency: 2,
    retry: { maxAttempts: 3, backoff: "10 millis", retryable: ["RateLimited"] }
  })
  .unbatch("vectors")

const folder = process.argv[2] ?? path.dirname(path.dirname(fileURLToPath(import.meta.url)))

export const program = Effect.gen(function*() {
  const index = new Map<string, Array<Embedded>>()
  const total = yield* pipeline.executeReduce([folder], (count, item) => {
    const entries = index.get(item.file) ?? []
    entries.push(item)
    index.set(item.file, entries)
    return count + 1
  }, 0).pipe(Effect.catchAll((error) => Effect.as(Console.log(`stopped: ${error.message}`), 0)))

  yield* Console.log(`indexed ${total} chunks from ${index.size} files in ${folder}`)
  for (const [file, entries] of index) yield* Console.log(`  ${path.basename(file)}: ${entries.length} chunks`)
  const metadata = yield* pipeline.metadata
  const embed = metadata.steps.find((step) => step.step === "embed")!
  yield* Console.log(`embedding calls: ${embed.items} batches, ${embed.retries} retries, p95 ${embed.p95} ms`)
  for (const error of metadata.errors) yield* Console.log(`  collected: ${error.message}`)
  return { total, metadata }
})

export const main = program

// run when executed directly (the examples test imports `main`)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) Effect.runPromise(main)
