/**
 * Namespace-agnostic XML decoding of the v1 command API, on fast-xml-parser
 * configured against entity expansion: a document type declaration is
 * refused outright (the vendor never sends one) and the parser's own entity
 * limits are set to their minimum, so an entity bomb costs nothing.
 *
 * @internal
 */
import { XMLParser } from "fast-xml-parser"

/** @internal */
export type XmlNode = { readonly [key: string]: XmlValue }
/** @internal */
export type XmlValue = string | XmlNode | ReadonlyArray<XmlValue>

/** @internal */
export class XmlRefused extends Error {
  constructor(readonly why: string) {
    super(why)
  }
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  processEntities: {
    enabled: true,
    maxEntityCount: 1,
    maxEntitySize: 1,
    maxExpansionDepth: 1,
    maxTotalExpansions: 1,
    maxExpandedLength: 1
  },
  htmlEntities: false,
  maxNestedTags: 32
})

const doctype = /<!\s*(DOCTYPE|ENTITY)/i

/**
 * Parses a document and returns its root element name and content, with
 * namespace prefixes and `xmlns` attributes dropped.
 *
 * @internal
 */
export const parse = (text: string): { readonly root: string; readonly node: XmlNode } => {
  if (doctype.test(text)) {
    throw new XmlRefused("document type declarations are refused (possible entity-expansion attack)")
  }
  let doc: unknown
  try {
    doc = parser.parse(text, true)
  } catch (e) {
    throw new XmlRefused(`not well-formed XML: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`)
  }
  if (typeof doc !== "object" || doc === null) throw new XmlRefused("no root element")
  const roots = Object.keys(doc).filter((k) => !k.startsWith("?") && !k.startsWith("#"))
  if (roots.length !== 1) throw new XmlRefused(`expected one root element, found ${roots.length}`)
  const root = roots[0]!
  const value = (doc as Record<string, unknown>)[root]
  return { root, node: toNode(value) }
}

/** @internal */
export const toNode = (value: unknown): XmlNode =>
  typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as XmlNode)
    : { "#text": value === undefined || value === null ? "" : String(value) }

/** The text of an element (string or `{ "#text" }` when it has attributes). @internal */
export const text = (value: XmlValue | undefined): string | undefined => {
  if (value === undefined) return undefined
  if (typeof value === "string") return value
  if (Array.isArray(value)) return text(value[0] as XmlValue | undefined)
  const t = (value as XmlNode)["#text"]
  return typeof t === "string" ? t : t === undefined ? "" : String(t)
}

/** An attribute of an element. @internal */
export const attr = (value: XmlValue | undefined, name: string): string | undefined => {
  if (value === undefined || typeof value === "string" || Array.isArray(value)) return undefined
  const a = (value as XmlNode)[`@_${name}`]
  return typeof a === "string" ? a : undefined
}

/** Repeated elements as an array (fast-xml-parser gives a lone one as a value). @internal */
export const all = (value: XmlValue | undefined): ReadonlyArray<XmlValue> =>
  value === undefined ? [] : Array.isArray(value) ? value : [value as XmlValue]

/** A child element. @internal */
export const child = (node: XmlValue | undefined, name: string): XmlValue | undefined =>
  node === undefined || typeof node === "string" || Array.isArray(node) ? undefined : (node as XmlNode)[name]
