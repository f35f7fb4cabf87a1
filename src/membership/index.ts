// Public surface of membership/.
export { overlay, sameServers, EMPTY_SNAPSHOT, type MemberChange, type MembershipSnapshot, type Overlaid } from './overlay.ts'
export { createMembershipStore, type MembershipStore } from './store.ts'
