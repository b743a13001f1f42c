/**
 * Byte-stream helpers for decoder tests: the same bytes split in every way a network may split them, and recorded
 * transcripts with their `.meta.json` sidecars.
 */
import * as fs from "node:fs"

export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const chunk of chunks) {
    all.set(chunk, at)
    at += chunk.length
  }
  return all
}

export const perByte = (chunks: ReadonlyArray<Uint8Array>): Array<Uint8Array> =>
  Array.from(concat(chunks), (byte) => Uint8Array.of(byte))

/** Splits the bytes at seeded random points (chunks of 1 to `max` bytes). */
export const randomSplit = (chunks: ReadonlyArray<Uint8Array>, seed: number, max = 7): Array<Uint8Array> => {
  const all = concat(chunks)
  const out: Array<Uint8Array> = []
  let state = seed
  for (let at = 0; at < all.length;) {
    state = (state * 1103515245 + 12345) % 2147483648
    const size = 1 + (state % max)
    out.push(all.subarray(at, at + size))
    at += size
  }
  return out
}

/** The recorded transcripts of a folder whose names match, each read with its `.meta.json` sidecar. */
export const transcripts = <Meta>(dir: URL, match: (file: string) => boolean) => {
  const files = fs.readdirSync(dir).filter(match)
  return {
    files,
    sidecarsPresent: (): boolean => files.every((file) => fs.existsSync(new URL(`${file}.meta.json`, dir))),
    read: (file: string): { readonly body: Uint8Array; readonly meta: Meta } => ({
      body: new Uint8Array(fs.readFileSync(new URL(file, dir))),
      meta: JSON.parse(fs.readFileSync(new URL(`${file}.meta.json`, dir), "utf8")) as Meta
    })
  }
}
