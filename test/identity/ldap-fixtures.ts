/** LDAP entries for the contract users, a service account and their groups (groupOfNames). */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ldifValue, type Slapd } from '../helpers/slapd.ts'
import { CONTRACT_USERS } from './fixtures.ts'

const run = promisify(execFile)
export const SERVICE_PASSWORD = 'svc-reader-Secret-9'

/** People, a service account, and one groupOfNames per group of the contract users. */
export async function contractLdif (ldap: Slapd): Promise<string> {
  const hash = async (pw: string): Promise<string> => (await run('slappasswd', ['-s', pw])).stdout.trim()
  const blocks: string[] = []
  for (const u of CONTRACT_USERS) {
    const [givenName, sn] = u.displayName.split(' ')
    blocks.push([
      `dn: uid=${u.username},${ldap.peopleDN}`, 'objectClass: inetOrgPerson', `uid: ${u.username}`,
      `cn${ldifValue(u.displayName)}`, `sn: ${sn}`, `givenName: ${givenName}`, `displayName${ldifValue(u.displayName)}`,
      `userPassword: ${await hash(u.password)}`
    ].join('\n'))
  }
  blocks.push([
    `dn: cn=cmesh-reader,${ldap.suffix}`, 'objectClass: organizationalRole', 'objectClass: simpleSecurityObject',
    'cn: cmesh-reader', `userPassword: ${await hash(SERVICE_PASSWORD)}`
  ].join('\n'))
  const groups = [...new Set(CONTRACT_USERS.flatMap(u => u.groups))]
  for (const g of groups) {
    const members = CONTRACT_USERS.filter(u => u.groups.includes(g)).map(u => `member: uid=${u.username},${ldap.peopleDN}`)
    blocks.push([`dn: cn=${g},${ldap.groupsDN}`, 'objectClass: groupOfNames', `cn${ldifValue(g)}`, ...members].join('\n'))
  }
  return blocks.join('\n\n') + '\n'
}
