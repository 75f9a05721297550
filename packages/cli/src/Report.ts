/**
 * The final report of a run, as Markdown and JSON: `ReportFormat` of
 * `@sra-upgrade/core` (shared with the portal service).
 *
 * @since 0.1.0
 */
import { ReportFormat } from "@sra-upgrade/core"

/**
 * What an appliance reported after the run.
 *
 * @since 0.1.0
 * @category models
 */
export type ApplianceState = ReportFormat.ApplianceState

/**
 * Observations added to the executor's report.
 *
 * @since 0.1.0
 * @category models
 */
export type Extras = ReportFormat.Extras

/**
 * The availability section in words.
 *
 * @since 0.3.0
 * @category combinators
 */
export const availabilityLines: typeof ReportFormat.availabilityLines = ReportFormat.availabilityLines

/**
 * The report as Markdown.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toMarkdown: typeof ReportFormat.toMarkdown = ReportFormat.toMarkdown

/**
 * The report as JSON: the executor's report (schema-encoded) plus the extras.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toJson: typeof ReportFormat.toJson = ReportFormat.toJson
