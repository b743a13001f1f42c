/**
 * `npm run build`: compiles `src/` into `dist/` (ES modules, declarations, source maps) with `tsc`, then copies every
 * non-TypeScript file under `src/` (e.g. static assets read relative to `import.meta.url`) to the same place in `dist/`,
 * and saves the compiled CLI's top-level help as `dist/cli/help.txt` (`bin/sluice.js` prints it for `sluice --help`
 * without loading the CLI).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

fs.rmSync("dist", { recursive: true, force: true })
execFileSync(process.execPath, [path.join("node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
  stdio: "inherit"
})

const copyAssets = (from: string, to: string): number => {
  let copied = 0
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name)
    const target = path.join(to, entry.name)
    if (entry.isDirectory()) copied += copyAssets(source, target)
    else if (!/\.[cm]?tsx?$/.test(entry.name)) {
      fs.mkdirSync(to, { recursive: true })
      fs.copyFileSync(source, target)
      copied++
    }
  }
  return copied
}
const assets = copyAssets("src", "dist")
const help = execFileSync(process.execPath, [path.join("dist", "cli", "main.js"), "--help"], { encoding: "utf8" })
fs.writeFileSync(path.join("dist", "cli", "help.txt"), help)
console.log(`dist/: compiled src/ with tsc${assets === 0 ? "" : `, copied ${assets} asset file(s)`}`)
