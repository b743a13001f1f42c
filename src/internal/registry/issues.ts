/**
 * Problems found in an engine definition: field paths, their positions in the source, and the
 * `EngineRegistryError` (`InvalidConfig`) that reports them sorted by position.
 */
import { EngineRegistryError, type Issue } from "../../EngineRegistryError.js"

/** A field path, e.g. `["engines", 1, "model"]`. */
export type Path = ReadonlyArray<PropertyKey>

/** A problem at a field, before its position is known. */
export interface PathIssue {
  readonly path: Path
  readonly message: string
}

/** The line and column of a field in the source text, when it has one. */
export type Locator = (path: Path) => { readonly line: number; readonly column: number } | undefined

/** The `InvalidConfig` error of a list of problems (at least one): the first by position leads. */
export const invalid = (
  issues: ReadonlyArray<PathIssue | Issue>,
  file: string | undefined,
  locate: Locator | undefined
): EngineRegistryError => {
  const located: Array<Issue> = issues.map((issue) => {
    if (!("path" in issue)) return issue
    const position = locate?.(issue.path)
    return {
      field: formatPath(issue.path),
      message: issue.message,
      ...(position === undefined ? {} : { line: position.line, column: position.column })
    }
  })
  located.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  const first = located[0]!
  return new EngineRegistryError({
    reason: "InvalidConfig",
    ...(file === undefined ? {} : { file }),
    ...(first.line === undefined ? {} : { line: first.line }),
    ...(first.column === undefined ? {} : { column: first.column }),
    ...(first.field === "" ? {} : { field: first.field }),
    description: first.message,
    issues: located
  })
}

/** The error of a definition with nothing in it. */
export const empty = (file: string | undefined): EngineRegistryError =>
  invalid([{ field: "", message: "the definition is empty: expected an `engines:` list", line: 1 }], file, undefined)

export const isPrefix = (prefix: Path, path: Path): boolean =>
  prefix.length <= path.length && prefix.every((segment, i) => segment === path[i])

/** `engines[1].model`, `headers["x-key"]`. */
export const formatPath = (path: Path): string => {
  let out = ""
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`
    else if (typeof segment === "string" && /^[A-Za-z_$][\w$-]*$/.test(segment)) {
      out += out === ""
        ? segment
        : `.${segment}`
    } else out += `[${JSON.stringify(String(segment))}]`
  }
  return out
}
