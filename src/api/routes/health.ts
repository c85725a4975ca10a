import { Type } from 'typebox'
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { ApiComponents } from '../interface.ts'

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], {
    description: 'degraded: members are configured but none of them is alive'
  }),
  domain: Type.String(),
  fqdn: Type.String(),
  federation: Type.String(),
  peerId: Type.String(),
  version: Type.String(),
  auth: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')], { description: 'disabled: every caller acts as admin (local experiments only)' }),
  tls: Type.Boolean({ description: 'the API is served over HTTPS' }),
  uptimeSeconds: Type.Number(),
  liveMembers: Type.Integer({ description: 'domains alive in the federation, this one included' }),
  members: Type.Object({
    alive: Type.Integer(), suspect: Type.Integer(), dead: Type.Integer(), total: Type.Integer()
  }, { description: 'the other members, by state' })
})

export const healthRoutes: FastifyPluginAsync<{ components: ApiComponents }> = async (fastify, { components }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get('/health', {
    config: { auth: 'public' },
    schema: {
      tags: ['node'],
      summary: 'Health of this node and how many federation members it sees alive',
      response: { 200: Health }
    }
  }, async () => {
    const info = components.info()
    const others = components.mesh.table().filter(m => !m.self)
    const count = (s: string): number => others.filter(m => m.state === s).length
    const alive = count('alive')
    return {
      status: others.length > 0 && alive === 0 ? 'degraded' as const : 'ok' as const,
      domain: info.domain,
      fqdn: info.fqdn,
      federation: info.federation,
      peerId: info.peerId,
      version: info.version,
      auth: info.authMode,
      tls: info.tls,
      uptimeSeconds: Math.round((Date.now() - info.startedAt) / 100) / 10,
      liveMembers: alive + 1,
      members: { alive, suspect: count('suspect'), dead: others.length - alive - count('suspect'), total: others.length }
    }
  })
}
