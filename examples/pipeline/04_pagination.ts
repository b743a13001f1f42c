/**
 * Pagination: for each search query, walk a cursor-paginated API page by page, lazily. `flatMap` with concurrency 1
 * consumes each query's page stream only as far as downstream pulls, so `take(25)` stops the page fetches too. The
 * items are enriched 5 at a time, with failures of the (flaky) enrichment service skipped.
 *
 * The API is a stand-in (50 items per query, 10 per page, 15 ms per page); swap `fetchPage` for a real client.
 *
 *   npx tsx examples/pipeline/04_pagination.ts
 */
import { Chunk, Console, Data, Effect, Option, Stream } from "effect"
import { pathToFileURL } from "node:url"
import * as Pipeline from "sluice/Pipeline"

interface Page {
  readonly items: ReadonlyArray<{ readonly id: string; readonly title: string }>
  readonly next: number | undefined
}

class EnrichFailed extends Data.TaggedError("EnrichFailed")<{ readonly id: string }> {}

let pagesFetched = 0
const fetchPage = (query: string, cursor: number): Effect.Effect<Page> =>
  Effect.sync(() => {
    pagesFetched++
    const items = Array.from({ length: 10 }, (_, i) => {
      const n = cursor * 10 + i
      return { id: `${query}-${n}`, title: `${query} result ${n}` }
    })
    return { items, next: cursor < 4 ? cursor + 1 : undefined }
  }).pipe(Effect.delay("15 millis"))

/** All the items of a query, fetching each page only when the previous one has been consumed. */
const allResults = (query: string) =>
  Stream.paginateChunkEffect(
    0,
    (cursor) =>
      Effect.map(fetchPage(query, cursor), (page) =>
        [Chunk.fromIterable(page.items), Option.fromNullable(page.next)] as const)
  )

const enrich = (item: { readonly id: string; readonly title: string }) =>
  item.id.endsWith("7")
    ? Effect.fail(new EnrichFailed({ id: item.id }))
    : Effect.as(Effect.sleep("5 millis"), { ...item, words: item.title.split(" ").length })

const pipeline = Pipeline.start<string>({ name: "search" })
  .flatMap("results", allResults)
  .map("enrich", enrich, { concurrency: 5, errorStrategy: "SKIP_FAILED" })
  .take("first-25", 25)

export const program = Effect.gen(function*() {
  const items = yield* pipeline.execute(["effect", "streams", "pipelines"]).pipe(
    Stream.tap((item) => Console.log(`${item.id.padEnd(12)} ${item.title} (${item.words} words)`)),
    Stream.runCount
  )
  const metadata = yield* pipeline.metadata
  const enrichStep = metadata.steps.find((step) => step.step === "enrich")!
  yield* Console.log(`\npages fetched: ${pagesFetched} (of 15 available), items enriched: ${enrichStep.items}`)
  yield* Console.log(`enrichment failures skipped: ${enrichStep.errors}`)
  return { items, pagesFetched, metadata }
})

export const main = program

// run when executed directly (the examples test imports `main`)
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) Effect.runPromise(main)
