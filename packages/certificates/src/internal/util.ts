/** @internal */
export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))
