/**
 * JSONL and JSON arrays: synchronous incremental parsers over byte chunks.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { JSONParser } from "@streamparser/json"
import type * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import { DatasetError } from "../../DatasetError.js"
import { bad, bytesOf, firstSignificant, LEFT_BRACKET, type Raw, safeStringify, type Settings } from "./items.js"

/** Counts the lines holding something other than spaces, tabs and a carriage return, as the JSONL reader sees them. */
export class LineCounter {
  private lines = 0
  private content = false
  private start = true

  feed(bytes: Uint8Array): void {
    let i = 0
    if (this.start && bytes.length > 0) {
      this.start = false
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3
    }
    for (; i < bytes.length; i++) {
      const b = bytes[i]!
      if (b === 0x0a) {
        if (this.content) this.lines++
        this.content = false
      } else if (!this.content && b !== 0x20 && b !== 0x09 && b !== 0x0d) {
        this.content = true
      }
    }
  }

  end(): number {
    return this.lines + (this.content ? 1 : 0)
  }
}

export interface ByteParser {
  readonly feed: (bytes: Uint8Array, out: Array<Raw>) => void
  readonly end: (out: Array<Raw>) => void
  readonly error: DatasetError | undefined
}

export type ByteChannel = Channel.Channel<
  Chunk.Chunk<Raw>,
  Chunk.Chunk<Uint8Array>,
  DatasetError,
  DatasetError,
  unknown,
  unknown
>

export const parseBytes = (
  fs: FileSystem.FileSystem,
  path: string,
  settings: Settings,
  make: () => ByteParser
): Stream.Stream<Raw, DatasetError> =>
  Stream.suspend(() => Stream.pipeThroughChannel(bytesOf(fs, path, settings), byteChannel(make())))

export const emitRaws = (out: Array<Raw>, next: ByteChannel): ByteChannel =>
  out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)

export const byteChannel = (parser: ByteParser): ByteChannel => {
  const loop: ByteChannel = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<Uint8Array>) => {
      const out: Array<Raw> = []
      for (const bytes of input) {
        parser.feed(bytes, out)
        if (parser.error !== undefined) break
      }
      return emitRaws(out, parser.error === undefined ? loop : Channel.fail(parser.error))
    },
    onFailure: (cause: Cause.Cause<DatasetError>) => Channel.failCause(cause),
    onDone: () => {
      const out: Array<Raw> = []
      parser.end(out)
      return emitRaws(out, parser.error === undefined ? Channel.void : Channel.fail(parser.error))
    }
  })
  return loop
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const kindOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

export class JsonlParser implements ByteParser {
  readonly error = undefined
  private readonly decoder = new TextDecoder("utf-8")
  private carry = ""
  private line = 0
  private skipping = false

  constructor(private readonly maxLineLength: number) {}

  feed(bytes: Uint8Array, out: Array<Raw>): void {
    this.push(this.decoder.decode(bytes, { stream: true }), out)
  }

  end(out: Array<Raw>): void {
    this.push(this.decoder.decode(), out)
    if (this.carry.length > 0 || this.skipping) this.handle(this.carry, out)
    this.carry = ""
  }

  private push(text: string, out: Array<Raw>): void {
    let nl = text.indexOf("\n")
    if (nl === -1) {
      this.append(text, out)
      return
    }
    this.handle(this.skipping ? "" : this.carry + text.slice(0, nl), out)
    let start = nl + 1
    while ((nl = text.indexOf("\n", start)) !== -1) {
      this.handle(text.slice(start, nl), out)
      start = nl + 1
    }
    this.carry = ""
    this.append(text.slice(start), out)
  }

  private append(text: string, out: Array<Raw>): void {
    if (this.skipping) return
    this.carry = this.carry.length === 0 ? text : this.carry + text
    if (this.carry.length > this.maxLineLength) {
      out.push(
        bad(this.line + 1, this.carry.slice(0, 1024), `the line is longer than ${this.maxLineLength} characters`)
      )
      this.carry = ""
      this.skipping = true
    }
  }

  private handle(text: string, out: Array<Raw>): void {
    this.line++
    if (this.skipping) {
      this.skipping = false
      return
    }
    const line = text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text
    if (isBlank(line)) return
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (e) {
      out.push(bad(this.line, line, (e as Error).message))
      return
    }
    if (isRecord(value)) out.push({ _tag: "Row", line: this.line, data: value })
    else out.push(bad(this.line, line, `expected a JSON object, got ${kindOf(value)}`))
  }
}

export const isBlank = (text: string): boolean => {
  if (text.length === 0) return true
  const c = text.charCodeAt(0)
  return (c === 32 || c === 9) && text.trim().length === 0
}

export class JsonArrayParser implements ByteParser {
  error: DatasetError | undefined = undefined
  private readonly parser = new JSONParser({ paths: ["$.*"], keepStack: false })
  private started = false
  private pending: Array<Raw> = []

  constructor(private readonly path: string) {
    this.parser.onValue = ({ value }) => {
      this.pending.push(
        isRecord(value)
          ? { _tag: "Row", line: undefined, data: value }
          : bad(undefined, safeStringify(value), `expected a JSON object, got ${kindOf(value)}`)
      )
    }
    this.parser.onError = (e) => {
      this.fail(e.message)
    }
  }

  private fail(description: string): void {
    if (this.error === undefined) this.error = new DatasetError({ reason: "Malformed", path: this.path, description })
  }

  feed(bytes: Uint8Array, out: Array<Raw>): void {
    if (!this.started) {
      const first = firstSignificant(bytes)
      if (first === -1) return
      this.started = true
      if (first !== LEFT_BRACKET) {
        this.fail("a JSON dataset must be an array of objects; use JSONL for one object per line")
        return
      }
    }
    this.parser.write(bytes)
    this.drain(out)
  }

  end(out: Array<Raw>): void {
    if (!this.started) return
    if (this.error === undefined && !this.parser.isEnded) this.parser.end()
    this.drain(out)
  }

  private drain(out: Array<Raw>): void {
    for (const raw of this.pending) out.push(raw)
    this.pending = []
  }
}
