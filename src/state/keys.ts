// Key names: a configurable prefix (several deployments can share one Redis) and a Redis Cluster hash tag, so
// related keys, and every key one Lua script touches, live in the same slot.

/** Builds the full names of state keys and channels under one prefix. */
export interface KeySpace {
  readonly prefix: string
  /**
   * `{prefix:kind:id}`: the whole name is the hash tag, so keys spread over the slots by id. The tag ends at the
   * first `}`, so a `}` in `id` only shortens the tag; names stay distinct and `related()` keys still follow.
   */
  key (kind: string, id: string): string
  /** `base` + `:suffix`: the same hash tag as `base`, so the same Cluster slot (and usable in one script). */
  related (base: string, suffix: string): string
  /** `prefix:name`; Redis pub/sub channels are cluster-wide, with no slot. */
  channel (name: string): string
}

export function createKeys (prefix: string): KeySpace {
  return {
    prefix,
    key: (kind, id) => `{${prefix}:${kind}:${id}}`,
    related: (base, suffix) => `${base}:${suffix}`,
    channel: (name) => `${prefix}:${name}`
  }
}
