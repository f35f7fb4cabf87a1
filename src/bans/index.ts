// Public surface of bans/: the ban table, its sync with the cluster, the check stage, the rejection counter, and
// createBans, which builds them for a config.
export { createBans, type Bans, type BansOptions } from './bans.ts'
export { BanTable, BanEntry, formatBan, parseBan, type BanAction, type BanTableOptions } from './ban-table.ts'
export { createBanCheck, type BanCheckOptions } from './ban-check.ts'
export { createBanSync, type BanSync, type BanSyncOptions, type BanLog } from './ban-sync.ts'
export { createBanCounter, type BanCounter, type BanCounterOptions, type BanRule } from './ban-counter.ts'
