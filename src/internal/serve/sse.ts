/**
 * Server-Sent Events framing for responses: `event:`/`data:` blocks as UTF-8 bytes, and the response headers.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import type * as Stream from "effect/Stream"

const encoder = new TextEncoder()

/** One SSE block. Multi-line data is split over `data:` lines, so any text survives. */
export const frame = (data: string, event?: string | undefined, id?: string | undefined): Uint8Array => {
  let out = ""
  if (id !== undefined) out += `id: ${id}\n`
  if (event !== undefined) out += `event: ${event}\n`
  out += data.includes("\n") || data.includes("\r")
    ? data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join("")
    : `data: ${data}\n`
  return encoder.encode(out + "\n")
}

/** The blocks of one stream chunk as one buffer: one socket write instead of one per block. */
export const join = (blocks: Chunk.Chunk<Uint8Array>): Chunk.Chunk<Uint8Array> => {
  if (blocks.length <= 1) return blocks
  let size = 0
  for (const block of blocks) size += block.length
  const out = new Uint8Array(size)
  let offset = 0
  for (const block of blocks) {
    out.set(block, offset)
    offset += block.length
  }
  return Chunk.of(out)
}

/** A comment line: keeps proxies from closing an idle stream. */
export const comment = (text: string): Uint8Array => encoder.encode(`: ${text}\n\n`)

export const response = <E>(body: Stream.Stream<Uint8Array, E>): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
  })

/** JSON that never throws: values JSON cannot hold (bigint, cycles) become strings. */
export const safeJson = (value: unknown): string => {
  const seen = new WeakSet<object>()
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return v.toString()
    if (typeof v === "object" && v !== null) {
      if (seen.has(v)) return "[Circular]"
      seen.add(v)
    }
    return v
  }) ?? "null"
}
