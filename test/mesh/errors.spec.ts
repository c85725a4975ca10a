import { strict as assert } from 'node:assert'
import { describeError } from '../../mesh/errors.ts'

describe('mesh: describeError (status tables always get a string)', () => {
  it('describes Errors, messageless Errors, strings and other thrown values', () => {
    assert.equal(describeError(new Error('dial refused')), 'dial refused')
    const e = new Error('')
    e.name = 'AbortError'
    assert.equal(describeError(e), 'AbortError')
    assert.equal(describeError('timeout'), 'timeout')
    assert.equal(describeError(undefined), 'undefined')
    assert.equal(describeError({ code: 'ERR_X' }), '{"code":"ERR_X"}')
  })
})
