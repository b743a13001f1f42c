/**
 * A small generator of strings matching a regular expression: literals, `.`, classes (`[a-z0-9_]`, `\d`, `\w`,
 * `\s`), groups with alternatives, quantifiers (`?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`) and anchors. Anything else
 * (negated classes, look-arounds, back-references) is beyond it: {@link compile} answers `undefined`.
 *
 * @internal
 */
import * as Option from "effect/Option"
import type { Leaf, Random } from "./leaves.js"

type Node =
  | { readonly _tag: "Chars"; readonly chars: string }
  | { readonly _tag: "Seq"; readonly items: ReadonlyArray<Node> }
  | { readonly _tag: "Alt"; readonly options: ReadonlyArray<Node> }
  | { readonly _tag: "Repeat"; readonly node: Node; readonly min: number; readonly max: number }

const range = (from: number, to: number): string => {
  let out = ""
  for (let c = from; c <= to; c++) out += String.fromCharCode(c)
  return out
}
const DIGITS = range(48, 57)
const WORD = range(97, 122) + range(65, 90) + DIGITS + "_"
const ANY = range(97, 122) + DIGITS

const unsupported = (): never => {
  throw new Error("unsupported pattern")
}

const escape = (c: string): string => {
  switch (c) {
    case "d":
      return DIGITS
    case "w":
      return WORD
    case "s":
      return " "
    case "n":
      return "\n"
    case "t":
      return "\t"
    default:
      if (/[a-zA-Z0-9]/.test(c)) return unsupported()
      return c
  }
}

const parse = (source: string): Node => {
  let i = 0
  const alternatives = (): Node => {
    const options = [sequence()]
    while (source[i] === "|") {
      i++
      options.push(sequence())
    }
    return options.length === 1 ? options[0]! : { _tag: "Alt", options }
  }
  const sequence = (): Node => {
    const items: Array<Node> = []
    while (i < source.length && source[i] !== "|" && source[i] !== ")") {
      const atom = single()
      if (atom !== undefined) items.push(quantified(atom))
    }
    return { _tag: "Seq", items }
  }
  const single = (): Node | undefined => {
    const c = source[i++]!
    switch (c) {
      case "^":
      case "$":
        return undefined
      case ".":
        return { _tag: "Chars", chars: ANY }
      case "(": {
        if (source[i] === "?") {
          if (source[i + 1] !== ":") return unsupported()
          i += 2
        }
        const inner = alternatives()
        if (source[i++] !== ")") return unsupported()
        return inner
      }
      case "[":
        return { _tag: "Chars", chars: charClass() }
      case "\\":
        return { _tag: "Chars", chars: escape(source[i++] ?? "\\") }
      case "*":
      case "+":
      case "?":
      case "{":
        return unsupported()
      default:
        return { _tag: "Chars", chars: c }
    }
  }
  const charClass = (): string => {
    if (source[i] === "^") return unsupported()
    let chars = ""
    while (i < source.length && source[i] !== "]") {
      const c = source[i++]!
      if (c === "\\") {
        chars += escape(source[i++] ?? "\\")
        continue
      }
      if (source[i] === "-" && source[i + 1] !== undefined && source[i + 1] !== "]") {
        const to = source[i + 1]!
        i += 2
        chars += range(c.charCodeAt(0), to.charCodeAt(0))
        continue
      }
      chars += c
    }
    if (source[i++] !== "]" || chars === "") return unsupported()
    return chars
  }
  const quantified = (node: Node): Node => {
    const c = source[i]
    let min = 1
    let max = 1
    if (c === "?") [min, max] = [0, 1]
    else if (c === "*") [min, max] = [0, 3]
    else if (c === "+") [min, max] = [1, 4]
    else if (c === "{") {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i))
      if (match === null) return unsupported()
      min = Number(match[1])
      max = match[2] === undefined ? min : match[3] === "" ? min + 3 : Number(match[3])
      i += match[0].length - 1
    } else return node
    i++
    if (source[i] === "?") i++
    return { _tag: "Repeat", node, min, max }
  }
  const node = alternatives()
  if (i !== source.length) return unsupported()
  return node
}

const run = (node: Node, random: Random): string => {
  switch (node._tag) {
    case "Chars":
      return node.chars[Math.floor(random() * node.chars.length)]!
    case "Seq":
      return node.items.map((item) => run(item, random)).join("")
    case "Alt":
      return run(node.options[Math.floor(random() * node.options.length)]!, random)
    case "Repeat": {
      const n = node.min + Math.floor(random() * (node.max - node.min + 1))
      let out = ""
      for (let k = 0; k < n; k++) out += run(node.node, random)
      return out
    }
  }
}

/** A generator of strings for a regular expression's source, or `undefined` when it is beyond this module. */
export const compile = (source: string): Leaf<string> | undefined =>
  Option.match(Option.liftThrowable(parse)(source), {
    onNone: () => undefined,
    onSome: (node) => (random: Random) => run(node, random)
  })
