// sluice studio: plain JavaScript over the JSON + SSE API of `sluice studio` (see src/studio/server.ts).
"use strict"

const $ = (selector) => document.querySelector(selector)
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value)
    else node.setAttribute(key, value)
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  return node
}
const fmt = (n, digits = 0) =>
  n === undefined || n === null || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits })
const json = (value) => JSON.stringify(value, null, 2)
const api = (path) => fetch(path).then((r) => r.ok ? r.json() : r.json().then((body) => Promise.reject(body.error)))

let current = undefined
let source = undefined

// -----------------------------------------------------------------------------
// the run list
// -----------------------------------------------------------------------------

const progressOf = (run) => {
  const total = run.items.total
  return total ? Math.min(1, run.items.finished / total) : run.status === "success" ? 1 : 0
}

const loadRuns = async () => {
  const { runs } = await api("/api/runs")
  const body = $("#runs tbody")
  body.replaceChildren(...runs.map((run) => {
    const bar = el("div", { class: "bar" }, el("div"))
    bar.firstChild.style.width = `${Math.round(progressOf(run) * 100)}%`
    const row = el("tr", { "data-testid": "run-row", "data-run": run.id, onclick: () => select(run.id) },
      el("td", {}, run.id),
      el("td", {}, run.chain),
      el("td", {}, el("span", { class: `badge ${run.status}` }, run.status)),
      el("td", {}, bar, " ", `${fmt(run.items.finished)} / ${fmt(run.items.total)}`),
      el("td", { class: "num" }, fmt(run.rowsPerSecond, 1)),
      el("td", { class: "num" }, fmt(run.errors)))
    if (run.id === current) row.classList.add("selected")
    return row
  }))
  $("#no-runs").hidden = runs.length > 0
}

// -----------------------------------------------------------------------------
// one run
// -----------------------------------------------------------------------------

const select = async (id) => {
  current = id
  location.hash = `run=${encodeURIComponent(id)}`
  for (const row of document.querySelectorAll("#runs tbody tr")) row.classList.toggle("selected", row.dataset.run === id)
  $("#run").hidden = false
  $("#row").replaceChildren()
  const detail = await api(`/api/run?id=${encodeURIComponent(id)}`)
  render(detail)
  await loadRowIds(id)
  if (source) source.close()
  source = undefined
  if (!["success", "failure", "interrupted"].includes(detail.status)) {
    source = new EventSource(`/api/run/live?id=${encodeURIComponent(id)}`)
    $("#run-live").hidden = false
    source.addEventListener("snapshot", (event) => {
      const snapshot = JSON.parse(event.data)
      render(snapshot)
      if (document.querySelectorAll("[data-testid=row-id]").length < 12) loadRowIds(id)
      if (["success", "failure", "interrupted"].includes(snapshot.status)) {
        source.close()
        $("#run-live").hidden = true
        loadRuns()
      }
    })
    source.onerror = () => { $("#run-live").hidden = true }
  } else {
    $("#run-live").hidden = true
  }
}

const loadRowIds = async (id) => {
  const { rows } = await api(`/api/run/rows?id=${encodeURIComponent(id)}&limit=12`)
  if (id !== current) return
  $("#row-ids").replaceChildren(
    rows.length === 0 ? el("span", { class: "muted" }, "no rows yet") : "",
    ...rows.map((row) => el("a", { "data-testid": "row-id", onclick: () => inspect(row) }, row))
  )
}

const render = (run) => {
  $("#run-title").textContent = `${run.id} · ${run.chain}`
  const status = $("#run-status")
  status.textContent = run.status
  status.className = `badge ${run.status}`
  const fraction = progressOf(run)
  $("#run-bar").style.width = `${Math.round(fraction * 100)}%`
  const progress = $("#run-progress")
  progress.textContent = `${fmt(run.items.finished)} / ${fmt(run.items.total)} rows (${fmt(fraction * 100, 1)}%)` +
    (run.items.failed ? `, ${fmt(run.items.failed)} failed` : "")
  progress.dataset.finished = String(run.items.finished)
  const rate = run.rowsPerSecondNow ?? run.rowsPerSecond
  $("#run-rate").textContent = rate === undefined ? "" : `${fmt(rate, 1)} rows/s`
  const steps = run.metrics?.steps ?? {}
  $("#steps tbody").replaceChildren(...(run.steps ?? Object.keys(steps)).map((name) => {
    const step = steps[name] ?? {}
    const latency = step.latencyMs ?? {}
    return el("tr", { "data-testid": "step-row" },
      el("td", {}, name),
      el("td", { class: "num" }, fmt(step.done)),
      el("td", { class: "num" }, fmt(step.errors)),
      el("td", { class: "num" }, fmt(step.retries)),
      el("td", { class: "num" }, fmt(run.rates?.[name], 1)),
      el("td", { class: "num" }, latency.p50 === undefined ? "–" : `${fmt(latency.p50)} ms`),
      el("td", { class: "num" }, latency.p95 === undefined ? "–" : `${fmt(latency.p95)} ms`),
      el("td", { class: "num" }, latency.p99 === undefined ? "–" : `${fmt(latency.p99)} ms`),
      el("td", { class: "num" }, fmt(step.tokens?.total)))
  }))
  $("#errors").replaceChildren(...(run.lastErrors ?? []).map((error) =>
    el("li", {},
      el("span", { class: "msg" }, `${error.step ?? "?"} · ${error.error ?? "error"}: ${error.message ?? ""}`),
      " ",
      el("a", { onclick: () => inspect(String(error._id)) }, `row ${error._id}`),
      el("pre", {}, json(error.input)))
  ))
  if (run.lastErrors?.length === 0) $("#errors").append(el("li", { class: "muted" }, "none"))
  if (run.mermaid && $("#mermaid").textContent !== run.mermaid) {
    $("#mermaid").textContent = run.mermaid
    drawMermaid(run.mermaid)
  }
  updateCounts(steps)
}

// -----------------------------------------------------------------------------
// rows
// -----------------------------------------------------------------------------

const inspect = async (id) => {
  $("#row-input").value = id
  const target = $("#row")
  try {
    const row = await api(`/api/run/row?id=${encodeURIComponent(current)}&row=${encodeURIComponent(id)}`)
    const cells = [el("div", { class: "cell" }, el("h4", {}, "input"), el("pre", {}, json(row.input)))]
    for (const [step, output] of Object.entries(row.outputs)) {
      cells.push(el("div", { class: "cell", "data-testid": "row-output", "data-step": step }, el("h4", {}, step), el("pre", {}, json(output))))
    }
    for (const error of row.errors) {
      cells.push(el("div", { class: "cell error" }, el("h4", {}, `error at ${error.step}: ${error.error}`),
        el("pre", {}, `${error.message}\n\nattempt ${error.attempt ?? "?"}, tries ${error.tries ?? "?"}, retryable ${error.retryable}`)))
    }
    target.replaceChildren(
      el("p", {}, el("strong", {}, `row ${row.id}`), ` · index ${fmt(row.index)} · `, el("span", { class: `badge ${row.status}` }, row.status)),
      el("div", { class: "grid" }, ...cells))
  } catch (error) {
    target.replaceChildren(el("p", { class: "muted" }, error?.message ?? String(error)))
  }
}

$("#row-form").addEventListener("submit", (event) => {
  event.preventDefault()
  const id = $("#row-input").value.trim()
  if (id) inspect(id)
})

// -----------------------------------------------------------------------------
// the chain, drawn from its Mermaid flowchart (a layered layout; no library)
// -----------------------------------------------------------------------------

const parseMermaid = (text) => {
  const nodes = new Map()
  const edges = []
  const groups = []
  const stack = []
  const unquote = (s) => s.replace(/#quot;/g, "\"")
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    let m
    if ((m = /^subgraph (\S+)\["(.*)"\]$/.exec(line))) {
      const group = { id: m[1], label: unquote(m[2]), members: [] }
      groups.push(group)
      stack.push(group)
    } else if (line === "end") {
      stack.pop()
    } else if ((m = /^(\S+) --> (\S+)$/.exec(line))) {
      edges.push([m[1], m[2]])
    } else if ((m = /^([A-Za-z0-9_]+)(\(\[|\[|\{\{)"(.*)"(\]\)|\]|\}\})$/.exec(line))) {
      const kind = m[2] === "([" ? "term" : m[2] === "{{" ? "pure" : "llm"
      nodes.set(m[1], { id: m[1], label: unquote(m[3]), kind })
      for (const group of stack) group.members.push(m[1])
    }
  }
  return { nodes, edges, groups }
}

const drawMermaid = (text) => {
  const { nodes, edges, groups } = parseMermaid(text)
  const level = new Map([["start", 0]])
  for (let pass = 0; pass < nodes.size; pass++) {
    for (const [from, to] of edges) {
      if (level.has(from)) level.set(to, Math.max(level.get(to) ?? 0, level.get(from) + 1))
    }
  }
  const rows = []
  for (const node of nodes.values()) {
    const l = level.get(node.id) ?? 0
    ;(rows[l] ??= []).push(node)
  }
  const W = 190, H = 46, GX = 24, GY = 40
  const width = Math.max(...rows.map((r) => r.length)) * (W + GX) + GX
  const pos = new Map()
  rows.forEach((row, l) => {
    const offset = (width - row.length * (W + GX) + GX) / 2
    row.forEach((node, i) => pos.set(node.id, { x: offset + i * (W + GX), y: GX + l * (H + GY) }))
  })
  const svg = $("#graph")
  const ns = "http://www.w3.org/2000/svg"
  const s = (tag, attrs = {}, text) => {
    const node = document.createElementNS(ns, tag)
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
    if (text !== undefined) node.textContent = text
    return node
  }
  const height = rows.length * (H + GY) + GX
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`)
  svg.style.height = `${Math.min(height, 560)}px`
  const defs = s("defs")
  const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" })
  marker.append(s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }))
  defs.append(marker)
  const parts = [defs]
  for (const group of groups) {
    const boxes = group.members.map((id) => pos.get(id)).filter(Boolean)
    if (boxes.length === 0) continue
    const x0 = Math.min(...boxes.map((b) => b.x)) - 8, y0 = Math.min(...boxes.map((b) => b.y)) - 18
    const x1 = Math.max(...boxes.map((b) => b.x)) + W + 8, y1 = Math.max(...boxes.map((b) => b.y)) + H + 8
    const g = s("g", { class: "group" })
    g.append(s("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }), s("text", { x: x0 + 6, y: y0 + 12 }, group.label))
    parts.push(g)
  }
  for (const [from, to] of edges) {
    const a = pos.get(from), b = pos.get(to)
    if (!a || !b) continue
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y
    parts.push(s("path", { class: "edge", d: `M${x1},${y1} C${x1},${y1 + GY / 2} ${x2},${y2 - GY / 2} ${x2},${y2 - 2}` }))
  }
  for (const node of nodes.values()) {
    const p = pos.get(node.id)
    const g = s("g", { class: `node ${node.kind}`, "data-node": node.id, transform: `translate(${p.x},${p.y})` })
    const label = node.label.length > 28 ? node.label.slice(0, 27) + "…" : node.label
    g.append(s("rect", { width: W, height: H }), s("text", { x: 8, y: 18 }, label))
    if (node.kind !== "term") g.append(s("text", { x: 8, y: 36, class: "count", "data-count": node.id.replace(/^s_/, "") }, ""))
    parts.push(g)
  }
  svg.replaceChildren(...parts)
}

const updateCounts = (steps) => {
  for (const text of document.querySelectorAll("svg#graph text.count")) {
    const step = steps[text.dataset.count]
    text.textContent = step ? `${fmt(step.done)} done · ${fmt(step.errors)} err · p95 ${fmt(step.latencyMs?.p95)} ms` : ""
  }
}

// -----------------------------------------------------------------------------

loadRuns().then(() => {
  const match = /run=([^&]+)/.exec(location.hash)
  if (match) select(decodeURIComponent(match[1]))
})
setInterval(loadRuns, 5000)
