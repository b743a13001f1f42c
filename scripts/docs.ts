/**
 * Checks the public documentation, as docgen would: every export of every public module in `src/` has a JSDoc with
 * `@since` and an example, and every example compiles against the package.
 *
 *   npx tsx scripts/docs.ts
 */
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(import.meta.dirname, "..")
const out = path.join(root, ".doc-examples")

const publicModules = (dir: string): Array<string> =>
  fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "internal" || entry.name === "cli" ? [] : publicModules(rel)
    return /^[A-Z][A-Za-z0-9]*\.ts$/.test(entry.name) ? [rel] : []
  })

interface Problem {
  readonly file: string
  readonly line: number
  readonly name: string
  readonly message: string
}

const problems: Array<Problem> = []
const examples: Array<{ readonly file: string; readonly line: number; readonly name: string; readonly code: string }> =
  []

const isExported = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)

const declarationName = (node: ts.Node): string | undefined => {
  if (ts.isVariableStatement(node)) return node.declarationList.declarations.map((d) => d.name.getText()).join(", ")
  if (
    ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node) ||
    ts.isTypeAliasDeclaration(node) || ts.isModuleDeclaration(node) || ts.isEnumDeclaration(node)
  ) return node.name?.getText()
  return undefined
}

for (const file of publicModules("src")) {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true)
  for (const statement of source.statements) {
    if (!isExported(statement)) continue
    const name = declarationName(statement)
    if (name === undefined) continue
    const line = source.getLineAndCharacterOfPosition(statement.getStart()).line + 1
    const docs = ts.getJSDocCommentsAndTags(statement).filter(ts.isJSDoc)
    const doc = docs.at(-1)
    if (doc === undefined) {
      problems.push({ file, line, name, message: "no JSDoc" })
      continue
    }
    const docText = doc.getText()
    if (!/@since\s/.test(docText)) problems.push({ file, line, name, message: "no @since" })
    // type-level helpers (namespaces, models, type ids, errors' own members) need no example of their own
    const needsExample = !ts.isModuleDeclaration(statement) && !ts.isInterfaceDeclaration(statement) &&
      !ts.isTypeAliasDeclaration(statement) && !/@category (type ids|models|utility types|schemas|tags)\b/.test(docText)
    const blocks = [...docText.matchAll(/```ts\n([\s\S]*?)\n[ \t]*\*[ \t]*```[ \t]*(?=\n|$)/g)].map((m) =>
      m[1]!.split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n")
    )
    if (needsExample && blocks.length === 0) problems.push({ file, line, name, message: "no example" })
    for (const code of blocks) examples.push({ file, line, name, code })
  }
}

fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })
const files = examples.map((example, i) => {
  const name = path.join(out, `${String(i).padStart(4, "0")}.ts`)
  fs.writeFileSync(name, `${example.code}\nexport {}\n`)
  return name
})
const program = ts.createProgram(files, {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: true,
  noEmit: true,
  types: ["node"],
  // `sluice/...` resolves to the sources, as in tsconfig.json (the package's exports point at the build)
  paths: {
    "sluice": [path.join(root, "src", "index.ts")],
    "sluice/testing": [path.join(root, "src", "testing", "index.ts")],
    "sluice/*": [path.join(root, "src", "*.ts")]
  }
})
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const index = files.indexOf(path.resolve(diagnostic.file?.fileName ?? ""))
  const example = examples[index]
  if (example === undefined) continue
  problems.push({
    file: example.file,
    line: example.line,
    name: example.name,
    message: `example does not compile: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`
  })
}

for (const p of problems) console.error(`${p.file}:${p.line} ${p.name}: ${p.message}`)
console.log(`docs: ${examples.length} examples checked, ${problems.length} problems`)
process.exit(problems.length === 0 ? 0 : 1)
