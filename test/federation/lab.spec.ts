/**
 * The fault lab itself (test/helpers/netns.ts): the fault suites prove something only if the
 * faults they inject are real. With two namespaces and a tiny HTTP server in each, this checks
 * that the hosts reach each other and the test process reaches them; that `partition` drops
 * traffic between hosts both ways while the test's own clients still get through; that `heal`
 * undoes it; that `linkDown` cuts the host off from everyone and `linkUp` brings it back; and
 * that `destroy` kills the processes and leaves no namespace, interface or route behind.
 *
 * Takes about 6 s (mostly the Node clients started inside the namespaces). Needs root; skipped loudly without.
 */
import { strict as assert } from 'node:assert'
import { cmd, NetLab } from '../helpers/netns.ts'
import { requireNetns, sleep, waitFor } from './cluster.ts'

const PORT = 8080

describe('federation: the network fault lab (netns helper)', function () {
  this.timeout(60_000)
  let lab: NetLab | undefined

  before(async function () {
    await requireNetns(this, 'federation: the network fault lab')
    lab = await NetLab.create(['a', 'b'])
    for (const h of ['a', 'b']) {
      const server = `require('node:http').createServer((q, r) => r.end('${h}')).listen(${PORT}, '${lab.addr(h)}')`
      lab.run(h, [process.execPath, '-e', server])
    }
    const l = lab
    await waitFor(async () => await fromRoot(l, 'a') === 'a' && await fromRoot(l, 'b') === 'b', 'the servers to answer', 10_000)
  })

  after(async () => {
    await lab?.destroy()
  })

  /**
   * GET the host's server from inside `from`'s namespace: its text, or 'unreachable'. The client
   * exits at once: a dropped SYN would otherwise keep it alive until the connect timeout.
   */
  async function fromHost (l: NetLab, from: string, to: string): Promise<string> {
    const script = `fetch('http://${l.addr(to)}:${PORT}', { signal: AbortSignal.timeout(700) }).then(r => r.text()).then(t => console.log(t), () => console.log('unreachable')).finally(() => process.exit(0))`
    return (await l.exec(from, [process.execPath, '-e', script])).trim()
  }

  async function fromRoot (l: NetLab, to: string): Promise<string> {
    try {
      return await (await fetch(`http://${l.addr(to)}:${PORT}`, { signal: AbortSignal.timeout(700) })).text()
    } catch {
      return 'unreachable'
    }
  }

  it('hosts reach each other, and the test process reaches every host', async () => {
    const l = lab as NetLab
    assert.equal(await fromHost(l, 'b', 'a'), 'a')
    assert.equal(await fromHost(l, 'a', 'b'), 'b')
    assert.equal(await fromRoot(l, 'a'), 'a')
  })

  it('partition drops traffic between hosts both ways, not the test\'s clients; heal undoes it', async () => {
    const l = lab as NetLab
    await l.partition('a')
    assert.equal(await fromHost(l, 'b', 'a'), 'unreachable')
    assert.equal(await fromHost(l, 'a', 'b'), 'unreachable')
    assert.equal(await fromRoot(l, 'a'), 'a')
    await l.heal('a')
    assert.equal(await fromHost(l, 'b', 'a'), 'a')
    assert.equal(await fromHost(l, 'a', 'b'), 'b')
  })

  it('linkDown cuts the host off from everyone; linkUp brings it back', async () => {
    const l = lab as NetLab
    await l.linkDown('a')
    assert.equal(await fromRoot(l, 'a'), 'unreachable')
    assert.equal(await fromHost(l, 'b', 'a'), 'unreachable')
    await l.linkUp('a')
    await waitFor(async () => await fromRoot(l, 'a') === 'a', 'a to answer again', 10_000)
    assert.equal(await fromHost(l, 'b', 'a'), 'a')
  })

  it('destroy kills the processes and removes every namespace, interface and route', async () => {
    const l = lab as NetLab
    const namespaces = l.names().map(n => l.host(n).ns)
    const pids = (await Promise.all(namespaces.map(async ns => await cmd(['ip', 'netns', 'pids', ns])))).join(' ').split(/\s+/).filter(p => p !== '').map(Number)
    assert.equal(pids.length, 2, 'one server per namespace')
    await l.destroy()
    lab = undefined
    await sleep(100)
    const listed = await cmd(['ip', 'netns', 'list'])
    for (const ns of namespaces) assert.ok(!listed.includes(ns), `${ns} is gone`)
    assert.ok(!listed.includes(namespaces[0].replace(/-a$/, '-hub')), 'the hub namespace is gone')
    assert.ok(!(await cmd(['ip', '-o', 'link', 'show'])).includes(l.uplink), 'the uplink is gone')
    assert.ok(!(await cmd(['ip', '-4', 'route', 'show'])).includes(l.subnet), 'the route is gone')
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'the server process is gone')
  })
})
