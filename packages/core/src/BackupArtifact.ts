/**
 * A settings backup (PREP-1) that was downloaded, hashed and renamed into
 * place. Its presence on disk with this size and digest is what the plan
 * records as evidence.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export class BackupArtifact extends Schema.Class<BackupArtifact>("BackupArtifact")({
  /** Absolute path of the completed file. */
  path: Schema.String,
  /** Size in bytes; a verified backup is never empty. */
  bytes: Schema.Number.pipe(Schema.int(), Schema.positive()),
  /** Lower-case hex SHA-256 of the file content. */
  sha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  takenAt: Schema.Date,
  /** The vendor appliance GUID (or the configured id when unknown). */
  applianceId: Schema.String,
  /** Product version of the appliance when the backup was taken. */
  version: Schema.String,
  /** Whether a backup password protected it (the password itself is never stored). */
  passwordProtected: Schema.Boolean
}) {}
