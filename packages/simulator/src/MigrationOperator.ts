/**
 * The manual gates of a migration plan (`@sra-upgrade/migration`,
 * MIGRATE-1…9) as `SimOperator` plays them through the simulator's control
 * API; this module keeps the migration options' name and `make` / `layer` as
 * aliases of `SimOperator`'s (the one operator for every gate). The same plan
 * asks a person on real appliances.
 *
 * Gates are addressed by the step's `target` (the simulated appliance id);
 * the `appliance` parameter of a step may name another connection of the
 * run (e.g. the new box reached with the old API account).
 *
 * What each gate does here (by its definition in `MigrationSteps`, unless
 * said otherwise):
 * - `NewInstalled` (MIGRATE-1): answers with the version the new box shows
 *   (`GET /appliances/{id}`, as a person reads `/appliance > Status >
 *   Basics`); no API account is created: a factory box has none until the
 *   restore, and the simulator refuses one (409);
 * - `EulaAccepted` (MIGRATE-6): `POST /appliances/{id}/eula/accept`;
 * - `SoftwareStarted` (MIGRATE-6): installs the package on offer that
 *   reaches the target (nothing when the box already runs it);
 * - `NewSoftwareInstalled` (MIGRATE-6): answers with the version the new
 *   box shows once the install is over;
 * - `ExportedBundle` (MIGRATE-3): exports the old box's default certificate
 *   with its key (encrypted) and chain to the gate's `path`;
 * - the certificates package's `Steps.BundleFile` with `operation: import`
 *   (MIGRATE-4): imports that file on the new box;
 * - `DefaultCertificate` (MIGRATE-5): selects the imported certificate as
 *   default;
 * - `Restored` (MIGRATE-7): restores the newest backup of the gate's
 *   `directory` with the backup password;
 * - `CredentialsChanged` (MIGRATE-7): changes the admin password and
 *   attests it;
 * - `Cutover` (MIGRATE-8): moves the DNS record / NAT entry / shared IP to
 *   the new box;
 * - `OldDeleted`, `OldReset`, `OldPoweredOff` (MIGRATE-9): delete the
 *   virtual box, factory reset, power off;
 * - core's `ConfirmConsoleCheck` at the plan's `verifyConsole` step: reads
 *   the target's version.
 *
 * A control call the simulator refuses rejects the gate with its message.
 *
 * @since 0.1.0
 */
import type { Operator } from "@sra-upgrade/core"
import type * as Layer from "effect/Layer"
import * as SimOperator from "./SimOperator.js"

/**
 * Options of the operator (the same as `SimOperator.Options`).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = SimOperator.Options

/**
 * The operator as a value: `SimOperator.make`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => (typeof Operator.Operator)["Service"] = SimOperator.make

/**
 * The operator as a layer: `SimOperator.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<Operator.Operator> = SimOperator.layer
