/**
 * Who may call an appliance's API: its API accounts (site-wide on a site
 * member, its own on any other box), client secrets checked in constant
 * time, OAuth tokens (30 live per account per appliance) and the per-account
 * rate limits. Tokens and rate windows run on the wall clock.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import type { ApiAccount, CommandPermission } from "../SimConfig.js"
import type { Appliance, StoredAccount } from "./model.js"
import { SimRefusal } from "./util.js"
import type { World } from "./world.js"

export const sha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex")

/** API accounts this appliance knows: the site's, or its own when it is not a site member. */
export const accountsOf = (world: World, a: Appliance): Map<string, StoredAccount> => {
  return a.local?.accounts ?? world.accounts
}

/** Checks a client secret in constant time (restored accounts only know its SHA-256). */
export const secretMatches = (account: StoredAccount, secret: string): boolean => {
  const want = Buffer.from(account.secretSha256 ?? sha256(account.clientSecret), "hex")
  const got = Buffer.from(sha256(secret), "hex")
  return want.length === got.length && timingSafeEqual(want, got)
}

/** Creates an API account as a person would in /login > Management > API Configuration. */
export const createAccount = (
  world: World,
  a: Appliance,
  input: { name: string; permCommand: CommandPermission; permBackup: boolean; permConfiguration: boolean }
): StoredAccount => {
  world.requirePower(a)
  const accounts = accountsOf(world, a)
  if ([...accounts.values()].some((x) => x.name === input.name))
    throw new SimRefusal(409, `An API account named "${input.name}" already exists on ${a.spec.id}.`, "name")
  const account: StoredAccount = {
    name: input.name,
    clientId: randomBytes(20).toString("hex"),
    clientSecret: randomBytes(24).toString("base64url"),
    enabled: true,
    permCommand: input.permCommand,
    permBackup: input.permBackup,
    permConfiguration: input.permConfiguration
  }
  accounts.set(account.clientId, account)
  world.act(a.spec.id, "api-account-created", { name: input.name })
  world.log(
    a.spec.id,
    "accounts",
    `API account ${input.name} created${a.local ? "" : " (site-wide: synced to the peer)"}`
  )
  return account
}

export const mintToken = (world: World, a: Appliance, account: ApiAccount): { token: string; expiresIn: number } => {
  const token = randomBytes(20).toString("hex")
  const order = a.tokenOrder.get(account.clientId) ?? []
  order.push(token)
  while (order.length > 30) {
    const oldest = order.shift()
    if (oldest !== undefined) a.tokens.delete(oldest)
  }
  a.tokenOrder.set(account.clientId, order)
  a.tokens.set(token, { account: account.clientId, expiresAt: Date.now() + 3600_000 })
  world.act(a.spec.id, "token-issued", { account: account.name })
  return { token, expiresIn: 3600 }
}

export const accountForToken = (world: World, a: Appliance, token: string): ApiAccount | undefined => {
  const t = a.tokens.get(token)
  if (!t) return undefined
  if (t.expiresAt <= Date.now()) {
    a.tokens.delete(token)
    return undefined
  }
  const account = accountsOf(world, a).get(t.account)
  return account?.enabled ? account : undefined
}

export const expireTokens = (world: World, a: Appliance): number => {
  const n = a.tokens.size
  a.tokens.clear()
  a.tokenOrder.clear()
  world.log(a.spec.id, "fault", `All ${n} token(s) expired`)
  world.act(a.spec.id, "tokens-expired", { count: n })
  return n
}

/** Counts one request; returns the remaining hourly budget, or a refusal when over the per-second or hourly limit. */
export const rateLimit = (
  world: World,
  a: Appliance,
  account: ApiAccount
): { limit: number; remaining: number; limited: boolean; retryAfter: number } => {
  const now = Date.now()
  const { perSecond, perHour } = world.rateLimits
  const w = a.rate.get(account.clientId) ?? { second: [], hour: [] }
  a.rate.set(account.clientId, w)
  while (w.second.length > 0 && w.second[0]! <= now - 1000) w.second.shift()
  while (w.hour.length > 0 && w.hour[0]! <= now - 3600_000) w.hour.shift()
  if (world.consumeFault(a, "rate_limit")) return { limit: perHour, remaining: 0, limited: true, retryAfter: 1 }
  if (w.hour.length >= perHour)
    return {
      limit: perHour,
      remaining: 0,
      limited: true,
      retryAfter: Math.max(1, Math.ceil((w.hour[0]! + 3600_000 - now) / 1000))
    }
  if (w.second.length >= perSecond)
    return { limit: perHour, remaining: perHour - w.hour.length, limited: true, retryAfter: 1 }
  w.second.push(now)
  w.hour.push(now)
  return { limit: perHour, remaining: perHour - w.hour.length, limited: false, retryAfter: 0 }
}
