/**
 * The web page, served by the service from the files `pnpm build` writes
 * (`packages/server/dist/page`: one HTML file, one script, one stylesheet;
 * no CDN). Files are read once at start. Without them, `/` says how to build
 * them instead of failing silently.
 *
 * Every page response carries a strict Content-Security-Policy (same-origin
 * scripts, styles and connections only), `X-Content-Type-Options: nosniff`
 * and `Referrer-Policy: no-referrer`.
 *
 * @since 0.3.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { extname, join, relative, sep } from "node:path"
import { fileURLToPath } from "node:url"

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json"
}

/**
 * Headers of every page response.
 *
 * @since 0.3.0
 * @category models
 */
export const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
}

/**
 * Where the built page is looked for when none is given: beside the bundle
 * (`dist/page`, published) or the package's `dist/page` (workspace).
 *
 * @since 0.3.0
 * @category constructors
 */
export const defaultDirectory = (): string | undefined => {
  let here: string
  try {
    here = fileURLToPath(new URL(".", import.meta.url))
  } catch {
    return undefined
  }
  for (const candidate of [join(here, "page"), join(here, "..", "dist", "page")]) {
    if (existsSync(join(candidate, "index.html"))) return candidate
  }
  return undefined
}

const walk = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })

/**
 * The page's files by URL path (`/`, `/assets/index-….js`, …).
 *
 * @since 0.3.0
 * @category constructors
 */
export const load = (directory: string | undefined): ReadonlyMap<string, { body: Uint8Array; type: string }> => {
  const files = new Map<string, { body: Uint8Array; type: string }>()
  if (directory === undefined || !existsSync(join(directory, "index.html"))) return files
  for (const file of walk(directory)) {
    const url = "/" + relative(directory, file).split(sep).join("/")
    files.set(url, { body: readFileSync(file), type: types[extname(file)] ?? "application/octet-stream" })
  }
  files.set("/", files.get("/index.html")!)
  return files
}

const notBuilt = `<!doctype html><html><head><meta charset="utf-8"><title>sra-upgrade portal</title></head>
<body><h1>The portal page is not built</h1>
<p>The API works (<a href="/api/docs">/api/docs</a>). To serve the page, build it: <code>pnpm build</code>
(or <code>pnpm --filter @sra-upgrade/server build</code>), or start the service with <code>--page-dir</code>.</p></body></html>`

/**
 * Routes serving the page (GET only; anything unknown outside `/api` is a 404).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (directory: string | undefined): Layer.Layer<never> => {
  const files = load(directory)
  const serve = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const url = request.url.split("?")[0]!
    const file = files.get(url)
    if (file === undefined) {
      if (url === "/" || url === "/index.html")
        return HttpServerResponse.text(notBuilt, {
          status: 503,
          contentType: "text/html; charset=utf-8",
          headers: securityHeaders
        })
      return HttpServerResponse.text("Not found", { status: 404, headers: securityHeaders })
    }
    return HttpServerResponse.uint8Array(file.body, {
      contentType: file.type,
      headers: {
        ...securityHeaders,
        "cache-control": url.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache"
      }
    })
  })
  return HttpApiBuilder.Router.use((router) =>
    Effect.gen(function* () {
      yield* router.get("/", serve)
      yield* router.get("/index.html", serve)
      yield* router.get("/favicon.svg", serve)
      yield* router.get("/assets/*", serve)
    })
  )
}
