// The in-process limiter against the Limiter contract.
import { createLocalLimiter } from '../../../src/ratelimit/index.ts'
import { limiterContract } from './contract.ts'

limiterContract('local', (rule, clock) => createLocalLimiter({ ratePerSec: rule.ratePerSec, burst: rule.burst, now: clock.now, maxKeys: 100 }))
