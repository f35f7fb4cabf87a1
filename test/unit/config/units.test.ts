// parseDuration and parseSize: the units a config file may use, and what they refuse.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseDuration, parseSize } from '../../../src/config/index.ts'

const durations: Array<{ name: string, input: string | number, expected: number | undefined }> = [
  { name: 'milliseconds', input: '500ms', expected: 500 },
  { name: 'seconds', input: '2s', expected: 2000 },
  { name: 'fractional seconds', input: '1.5s', expected: 1500 },
  { name: 'minutes', input: '1m', expected: 60_000 },
  { name: 'hours', input: '1h', expected: 3_600_000 },
  { name: 'zero', input: '0s', expected: 0 },
  { name: 'upper case unit', input: '2S', expected: 2000 },
  { name: 'space before the unit', input: '30 s', expected: 30_000 },
  { name: 'surrounding spaces', input: ' 10ms ', expected: 10 },
  { name: 'rounds to whole ms', input: '1.0004s', expected: 1000 },
  { name: 'a plain number is ms', input: 250, expected: 250 },
  { name: 'number zero', input: 0, expected: 0 },
  { name: 'unknown unit', input: '5x', expected: undefined },
  { name: 'no unit in a string', input: '500', expected: undefined },
  { name: 'days are not a unit', input: '1d', expected: undefined },
  { name: 'negative string', input: '-1s', expected: undefined },
  { name: 'negative number', input: -1, expected: undefined },
  { name: 'NaN', input: Number.NaN, expected: undefined },
  { name: 'Infinity', input: Number.POSITIVE_INFINITY, expected: undefined },
  { name: 'empty string', input: '', expected: undefined },
  { name: 'two units', input: '1m30s', expected: undefined },
  { name: 'leading dot', input: '.5s', expected: undefined }
]

for (const c of durations) {
  test(`parseDuration: ${c.name} (${String(c.input)})`, () => {
    assert.equal(parseDuration(c.input), c.expected)
  })
}

const sizes: Array<{ name: string, input: string | number, expected: number | undefined }> = [
  { name: 'bytes', input: '512b', expected: 512 },
  { name: 'kilobytes are 1024 bytes', input: '16kb', expected: 16_384 },
  { name: 'megabytes', input: '10mb', expected: 10 * 1024 * 1024 },
  { name: 'gigabytes', input: '1gb', expected: 1024 ** 3 },
  { name: 'fractional', input: '1.5kb', expected: 1536 },
  { name: 'upper case', input: '64KB', expected: 65_536 },
  { name: 'space before the unit', input: '4 kb', expected: 4096 },
  { name: 'a string without unit is bytes', input: '1024', expected: 1024 },
  { name: 'a number is bytes', input: 4096, expected: 4096 },
  { name: 'zero', input: 0, expected: 0 },
  { name: 'a fractional number of bytes', input: 1.5, expected: undefined },
  { name: 'negative number', input: -1, expected: undefined },
  { name: 'unknown unit', input: '64 kilobytes', expected: undefined },
  { name: 'single-letter unit', input: '64k', expected: undefined },
  { name: 'binary suffix', input: '1KiB', expected: undefined },
  { name: 'empty string', input: '', expected: undefined },
  { name: 'NaN', input: Number.NaN, expected: undefined }
]

for (const c of sizes) {
  test(`parseSize: ${c.name} (${String(c.input)})`, () => {
    assert.equal(parseSize(c.input), c.expected)
  })
}
