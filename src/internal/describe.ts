/**
 * An unknown cause as one line of text, the one way sluice turns a failure it did not make into a message.
 */
import * as Inspectable from "effect/Inspectable"
import * as Predicate from "effect/Predicate"

/**
 * An unknown cause as one line of text: the messages of an error and of its `cause` chain (up to 4 deep, repeats
 * dropped) joined with `": "`; a value with no message gives its `_tag`, a string itself, anything else its inspected
 * form. Line breaks become spaces.
 */
export const describe = (u: unknown): string => {
  const messages: Array<string> = []
  let current: unknown = u
  for (let depth = 0; depth < 4 && Predicate.isObject(current); depth++) {
    if (Predicate.hasProperty(current, "message") && typeof current.message === "string") {
      const message = current.message.trim()
      if (message.length > 0 && !messages.includes(message)) messages.push(message)
    }
    current = Predicate.hasProperty(current, "cause") ? current.cause : undefined
  }
  const text = messages.length > 0
    ? messages.join(": ")
    : typeof u === "string"
    ? u
    : Predicate.hasProperty(u, "_tag") && typeof u._tag === "string"
    ? u._tag
    : u === undefined || u === null
    ? "unknown error"
    : Inspectable.toStringUnknown(u, 0)
  return text.replace(/\s*\n\s*/g, " ")
}
