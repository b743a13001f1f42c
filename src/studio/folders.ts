/**
 * Studio's view of run folders (the Runner's artefacts): which folders are runs, their summaries, the chain's
 * Mermaid flowchart from `graph.json`, the last errors, and rows by id through a lazily built offset index.
 *
 * Path safety: nothing here joins a name from a URL onto a path. Runs are the folders found by scanning the root
 * (real directories, never symbolic links), and files are the regular files found by listing a run's own folders;
 * every path is checked to resolve inside the root before it is read.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export interface Run {
  readonly id: string
  readonly dir: string
}

const isRunDir = (dir: string): boolean =>
  fs.existsSync(path.join(dir, "graph.json")) || fs.existsSync(path.join(dir, "metrics.json"))

/** A real directory (not a symbolic link) whose real path is inside `root`. */
const safeDir = (root: string, dir: string): boolean => {
  try {
    if (!fs.lstatSync(dir).isDirectory()) return false
    return inside(root, fs.realpathSync(dir))
  } catch {
    return false
  }
}

/** A regular file (not a symbolic link) whose real path is inside `root`. */
const safeFile = (root: string, file: string): boolean => {
  try {
    if (!fs.lstatSync(file).isFile()) return false
    return inside(root, fs.realpathSync(file))
  } catch {
    return false
  }
}

const inside = (root: string, real: string): boolean => real === root || real.startsWith(root + path.sep)

export class Folders {
  readonly root: string
  private readonly indexes = new Map<string, FileIndex>()

  constructor(root: string) {
    this.root = fs.realpathSync(root)
  }

  /** The runs under the root: the root itself when it is a run, else its sub-folders (two levels) that are. */
  runs(): ReadonlyArray<Run> {
    if (isRunDir(this.root)) return [{ id: path.basename(this.root), dir: this.root }]
    const out: Array<Run> = []
    const scan = (dir: string, prefix: string, depth: number) => {
      let entries: Array<fs.Dirent>
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true })
      } catch {
        return
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (!entry.isDirectory() || entry.name.startsWith(".")) continue
        const child = path.join(dir, entry.name)
        if (!safeDir(this.root, child)) continue
        const id = prefix === "" ? entry.name : `${prefix}/${entry.name}`
        if (isRunDir(child)) out.push({ id, dir: child })
        else if (depth < 2) scan(child, id, depth + 1)
      }
    }
    scan(this.root, "", 1)
    return out
  }

  run(id: string): Run | undefined {
    return this.runs().find((run) => run.id === id)
  }

  readJson(run: Run, name: "graph.json" | "metrics.json"): any {
    const file = path.join(run.dir, name)
    if (!safeFile(this.root, file)) return undefined
    try {
      return JSON.parse(fs.readFileSync(file, "utf8"))
    } catch {
      return undefined
    }
  }

  /** The `.jsonl` files of one of the run's folders (a step, `flattened`, `errors`), in roll order. */
  files(run: Run, folder: string): ReadonlyArray<string> {
    const dir = path.join(run.dir, folder)
    if (path.dirname(dir) !== run.dir || !safeDir(this.root, dir)) return []
    try {
      return fs.readdirSync(dir).filter((name) => name.endsWith(".jsonl")).sort().map((name) => path.join(dir, name))
        .filter((file) => safeFile(this.root, file))
    } catch {
      return []
    }
  }

  /** The run's step folders, from `graph.json` (in chain order) or else from `metrics.json`. */
  steps(run: Run): ReadonlyArray<string> {
    const graph = this.readJson(run, "graph.json")
    const ids: Array<string> = []
    const walk = (steps: ReadonlyArray<any>) => {
      for (const step of steps ?? []) {
        if (step.kind === "parallel") { for (const branch of step.branches ?? []) walk(branch.steps) }
        else if (typeof step.id === "string") ids.push(step.id)
      }
    }
    walk(graph?.steps)
    if (ids.length > 0) return ids
    return Object.keys(this.readJson(run, "metrics.json")?.steps ?? {})
  }

  summary(run: Run) {
    const metrics = this.readJson(run, "metrics.json")
    const graph = this.readJson(run, "graph.json")
    const items = metrics?.items ?? {}
    const durationMs: number | undefined = metrics?.durationMs
    const finished = (items.done ?? 0) + (items.filtered ?? 0) + (items.failed ?? 0)
    const errors = Object.values(metrics?.steps ?? {}).reduce((n: number, step: any) => n + (step.errors ?? 0), 0)
    return {
      id: run.id,
      chain: metrics?.chain ?? graph?.name ?? "?",
      runId: metrics?.runId ?? graph?.run?.runId,
      status: metrics?.status ?? graph?.run?.status ?? "unknown",
      startedAt: metrics?.startedAt ?? graph?.run?.startedAt,
      updatedAt: metrics?.updatedAt,
      durationMs,
      items: {
        total: items.total,
        done: items.done ?? 0,
        filtered: items.filtered ?? 0,
        failed: items.failed ?? 0,
        finished
      },
      rowsPerSecond: durationMs !== undefined && durationMs > 0 ? finished / (durationMs / 1000) : undefined,
      errors: Math.max(errors, items.failed ?? 0)
    }
  }

  detail(run: Run) {
    const graph = this.readJson(run, "graph.json")
    return {
      ...this.summary(run),
      metrics: this.readJson(run, "metrics.json") ?? null,
      mermaid: graph === undefined ? undefined : mermaidOf(graph),
      steps: this.steps(run),
      lastErrors: this.lastErrors(run, 5)
    }
  }

  /** The last `n` error records, read from the end of the last errors files (never the whole file). */
  lastErrors(run: Run, n: number): ReadonlyArray<unknown> {
    const out: Array<unknown> = []
    const files = this.files(run, "errors")
    for (let i = files.length - 1; i >= 0 && out.length < n; i--) {
      const lines = tailLines(files[i]!, n - out.length)
      for (let j = lines.length - 1; j >= 0; j--) {
        try {
          out.push(JSON.parse(lines[j]!))
        } catch {
          // a record being written
        }
      }
    }
    return out
  }

  /** The first `limit` row ids of the flattened view (for picking one), and errors' ids. */
  rowIds(run: Run, limit: number): ReadonlyArray<string> {
    const ids: Array<string> = []
    for (const folder of ["flattened", "errors"]) {
      for (const file of this.files(run, folder)) {
        for (const line of headLines(file, limit - ids.length)) {
          const raw = idText(Buffer.from(line), 0, line.length)
          if (raw !== undefined) ids.push(String(JSON.parse(raw)))
        }
        if (ids.length >= limit) return ids
      }
    }
    return ids
  }

  /** One row by id: its flattened row, each step's output, its error records. Reads only indexed lines. */
  row(run: Run, id: string) {
    const find = (folder: string): Array<unknown> => {
      const out: Array<unknown> = []
      for (const file of this.files(run, folder)) {
        let index = this.indexes.get(file)
        if (index === undefined) {
          index = new FileIndex(file)
          this.indexes.set(file, index)
        }
        for (const line of index.lookup(id)) out.push(line)
      }
      return out
    }
    const flattened = find("flattened")[0] as Record<string, unknown> | undefined
    const errors = find("errors") as Array<Record<string, unknown>>
    const outputs: Record<string, unknown> = {}
    for (const step of this.steps(run)) {
      const found = find(step)[0] as Record<string, unknown> | undefined
      if (found === undefined) continue
      const { _id, ...rest } = found
      outputs[step] = "_value" in rest && Object.keys(rest).length === 1 ? rest._value : rest
    }
    let input: unknown = errors.find((error) => error.input !== undefined)?.input
    if (flattened !== undefined) {
      const fields: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(flattened)) {
        if (key.startsWith("chain_input.")) fields[key.slice("chain_input.".length)] = value
      }
      if (Object.keys(fields).length > 0) input = fields
    }
    if (flattened === undefined && errors.length === 0 && Object.keys(outputs).length === 0) return undefined
    return {
      id,
      status: flattened?._status ?? (errors.length > 0 ? "failed" : "in flight"),
      index: flattened?._index ?? errors[0]?.index,
      input,
      outputs,
      errors,
      flattened: flattened ?? null
    }
  }
}

// =============================================================================
// the offset index
// =============================================================================

const ID_PREFIX = Buffer.from("{\"_id\":")

/** The JSON text of a record's `_id`, read from the start of its line (records are written with `_id` first). */
const idText = (buf: Buffer, start: number, end: number): string | undefined => {
  if (end - start < ID_PREFIX.length + 1 || buf.compare(ID_PREFIX, 0, ID_PREFIX.length, start, start + 7) !== 0) {
    return undefined
  }
  let i = start + ID_PREFIX.length
  if (buf[i] === 0x22) {
    i++
    while (i < end && buf[i] !== 0x22) i += buf[i] === 0x5c ? 2 : 1
    return buf.toString("utf8", start + ID_PREFIX.length, i + 1)
  }
  while (i < end && buf[i] !== 0x2c && buf[i] !== 0x7d) i++
  return buf.toString("utf8", start + ID_PREFIX.length, i)
}

/** FNV-1a over bytes: the index keeps 32-bit hashes of the ids' UTF-8 bytes, not the ids. */
const hashBytes = (buf: Uint8Array, start: number, end: number): number => {
  let h = 0x811c9dc5
  for (let i = start; i < end; i++) {
    h ^= buf[i]!
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

const hash = (id: string): number => {
  const bytes = Buffer.from(id, "utf8")
  return hashBytes(bytes, 0, bytes.length)
}

/**
 * The hash of a record's `_id` read at the start of its line (records are written with `_id` first), without
 * decoding the line: the bytes of a string id between its quotes (decoded first when it has escapes), or the text
 * of a number. `-1` when the line is not a record with an `_id`.
 */
const idHash = (buf: Uint8Array, start: number, end: number): number => {
  const p = ID_PREFIX
  if (end - start <= p.length) return -1
  for (let k = 0; k < p.length; k++) if (buf[start + k] !== p[k]) return -1
  let i = start + p.length
  if (buf[i] === 0x22) {
    const from = i + 1
    let escaped = false
    i++
    while (i < end && buf[i] !== 0x22) {
      if (buf[i] === 0x5c) {
        escaped = true
        i += 2
      } else i++
    }
    if (!escaped) return hashBytes(buf, from, i)
    return hash(String(JSON.parse(Buffer.from(buf.subarray(from - 1, i + 1)).toString("utf8"))))
  }
  const from = i
  while (i < end && buf[i] !== 0x2c && buf[i] !== 0x7d) i++
  return hashBytes(buf, from, i)
}

/**
 * Row offsets of one JSONL file by id hash, built on first use by scanning the bytes once (no JSON parsing), and
 * extended with what was appended since (a live run). A lookup reads only the matching lines.
 */
class FileIndex {
  private indexed = 0
  private readonly offsets = new Map<number, number | Array<number>>()
  constructor(readonly file: string) {}

  private update(): void {
    let size: number
    try {
      size = fs.statSync(this.file).size
    } catch {
      return
    }
    if (size <= this.indexed) return
    const fd = fs.openSync(this.file, "r")
    try {
      const chunk = Buffer.allocUnsafe(1 << 20)
      let carry = Buffer.alloc(0)
      let base = this.indexed
      while (base + carry.length < size) {
        const read = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - base - carry.length), base + carry.length)
        if (read <= 0) break
        const buf = carry.length === 0 ? chunk.subarray(0, read) : Buffer.concat([carry, chunk.subarray(0, read)])
        let start = 0
        let newline = buf.indexOf(10, start)
        while (newline !== -1) {
          const h = idHash(buf, start, newline)
          if (h !== -1) this.add(h, base + start)
          start = newline + 1
          newline = buf.indexOf(10, start)
        }
        carry = Buffer.from(buf.subarray(start))
        base += start
      }
      this.indexed = base
    } finally {
      fs.closeSync(fd)
    }
  }

  private add(h: number, offset: number): void {
    const existing = this.offsets.get(h)
    if (existing === undefined) this.offsets.set(h, offset)
    else if (typeof existing === "number") this.offsets.set(h, [existing, offset])
    else existing.push(offset)
  }

  lookup(id: string): Array<unknown> {
    this.update()
    const found = this.offsets.get(hash(id))
    if (found === undefined) return []
    const out: Array<unknown> = []
    for (const offset of typeof found === "number" ? [found] : found) {
      const line = readLineAt(this.file, offset)
      if (line === undefined) continue
      try {
        const record = JSON.parse(line) as Record<string, unknown>
        if (String(record._id) === id) out.push(record)
      } catch {
        // not a whole record
      }
    }
    return out
  }
}

const readLineAt = (file: string, offset: number): string | undefined => {
  const fd = fs.openSync(file, "r")
  try {
    const parts: Array<Buffer> = []
    let position = offset
    const chunk = Buffer.allocUnsafe(64 * 1024)
    while (true) {
      const read = fs.readSync(fd, chunk, 0, chunk.length, position)
      if (read <= 0) return undefined
      const newline = chunk.subarray(0, read).indexOf(10)
      if (newline !== -1) {
        parts.push(Buffer.from(chunk.subarray(0, newline)))
        return Buffer.concat(parts).toString("utf8")
      }
      parts.push(Buffer.from(chunk.subarray(0, read)))
      position += read
    }
  } finally {
    fs.closeSync(fd)
  }
}

/** Up to `n` whole lines from the start of a file, reading at most 1 MiB. */
const headLines = (file: string, n: number): Array<string> => {
  if (n <= 0) return []
  const fd = fs.openSync(file, "r")
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    const read = fs.readSync(fd, buf, 0, buf.length, 0)
    const text = buf.toString("utf8", 0, read)
    const lines = text.split("\n")
    if (!text.endsWith("\n")) lines.pop()
    return lines.filter((line) => line.length > 0).slice(0, n)
  } finally {
    fs.closeSync(fd)
  }
}

/** Up to `n` whole lines from the end of a file, reading backwards in 64 KiB steps. */
const tailLines = (file: string, n: number): Array<string> => {
  const size = fs.statSync(file).size
  const fd = fs.openSync(file, "r")
  try {
    let position = size
    let text = ""
    while (position > 0) {
      const length = Math.min(64 * 1024, position)
      position -= length
      const buf = Buffer.allocUnsafe(length)
      fs.readSync(fd, buf, 0, length, position)
      text = buf.toString("utf8") + text
      const lines = text.split("\n").filter((line) => line.length > 0)
      if (lines.length > n || position === 0) return lines.slice(-n)
    }
    return []
  } finally {
    fs.closeSync(fd)
  }
}

// =============================================================================
// Mermaid
// =============================================================================

const escape = (text: string): string => text.replace(/"/g, "#quot;")

/** The chain's flowchart from its description in `graph.json`, as `Chain.toMermaid` draws it. */
export const mermaidOf = (graph: any): string => {
  const lines = ["graph TD", `  start(["▶ ${escape(String(graph.name ?? "chain"))}"])`]
  const edges: Array<string> = []
  let group = 0
  const walk = (steps: ReadonlyArray<any>, from: ReadonlyArray<string>, indent: string): ReadonlyArray<string> => {
    let prev = from
    for (const step of steps ?? []) {
      if (step.kind === "parallel") {
        const ends: Array<string> = []
        for (const branch of step.branches ?? []) {
          const id = `b${group++}_${String(branch.name).replace(/[^A-Za-z0-9_]/g, "_")}`
          const alias = branch.alias ?? branch.join // `join`: graph.json written before the rename
          lines.push(`${indent}subgraph ${id}["${escape(branch.name + (alias ? ` ⇒ {{${alias}}}` : ""))}"]`)
          ends.push(...walk(branch.steps, prev, indent + "  "))
          lines.push(`${indent}end`)
        }
        prev = ends
      } else {
        const label = escape(
          `${step.id}${step.name && step.name !== step.id ? `: ${step.name}` : ""}${
            step.kind === "llm" && step.engine ? ` · ${step.engine}` : ""
          }`
        )
        lines.push(step.kind === "llm" ? `${indent}s_${step.id}["${label}"]` : `${indent}s_${step.id}{{"${label}"}}`)
        for (const p of prev) edges.push(`  ${p} --> s_${step.id}`)
        prev = [`s_${step.id}`]
      }
    }
    return prev
  }
  const ends = walk(graph.steps, ["start"], "  ")
  lines.push(`  done(["■ end"])`)
  for (const p of ends) edges.push(`  ${p} --> done`)
  return [...lines, ...edges].join("\n") + "\n"
}
