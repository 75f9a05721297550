/**
 * `sra-upgrade certs`: certificate helpers (`certs inspect`).
 *
 * @since 0.3.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Certificate, Chain } from "@sra-upgrade/certificates"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readFile } from "node:fs/promises"
import { failed, usage } from "../CliError.js"
import { jsonOpt } from "../internal/options.js"

const inspect = Command.make(
  "inspect",
  {
    file: Args.text({ name: "file" }).pipe(Args.withDescription("PEM (chain) or DER certificate file.")),
    hostname: Options.text("hostname").pipe(
      Options.optional,
      Options.withDescription("Check that the leaf covers this site name.")
    ),
    json: jsonOpt
  },
  (o) =>
    Effect.gen(function* () {
      const bytes = yield* Effect.tryPromise({
        try: () => readFile(o.file),
        catch: (e) => usage(`${o.file}: cannot read (${(e as { code?: string }).code ?? String(e)}).`)
      })
      const certs = yield* Certificate.parse(new Uint8Array(bytes)).pipe(
        Effect.mapError((e) => usage(`${o.file}: ${e.message}`))
      )
      const report = Chain.validate(certs, {
        now: new Date(),
        ...(Option.isSome(o.hostname) ? { siteFqdn: o.hostname.value } : {})
      })
      if (o.json) {
        yield* Console.log(
          JSON.stringify(
            {
              chain: report.chain.map((c) => c.toJSON()),
              findings: report.findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message })),
              blocking: report.blocking
            },
            null,
            2
          )
        )
      } else {
        const lines: Array<string> = []
        report.chain.forEach((c, i) => {
          const role = i === 0 ? "leaf" : c.selfSigned ? "root" : "intermediate"
          lines.push(
            `${i + 1}. ${role}: ${c.subject}`,
            `   issuer   ${c.issuer}`,
            `   valid    ${c.notBefore.toISOString()} → ${c.notAfter.toISOString()}`,
            `   names    ${[...c.dnsNames, ...c.ipAddresses].join(", ") || "-"}`,
            `   key      ${c.key.type}${c.key.bits === undefined ? "" : ` ${c.key.bits} bits`}${c.key.curve === undefined ? "" : ` ${c.key.curve}`}, signature ${c.signatureAlgorithm}`,
            `   sha256   ${c.sha256}`
          )
        })
        for (const l of lines) yield* Console.log(l)
        yield* Console.log(report.findings.length === 0 ? "No findings." : "Findings:")
        for (const f of report.findings)
          yield* Console.log(`  ${f.severity === "blocking" ? "✘" : "⚠"} ${f.code}: ${f.message}`)
      }
      if (report.blocking) return yield* failed(`${o.file}: the chain has blocking findings`)
    })
).pipe(Command.withDescription("Show a certificate chain: order, names, validity, key, fingerprints, findings."))

/**
 * The `certs` command and its subcommands.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("certs").pipe(
  Command.withDescription("Certificate helpers."),
  Command.withSubcommands([inspect])
)
