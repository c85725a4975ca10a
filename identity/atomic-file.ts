import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Writes `file` so that readers see either the old or the new content, never half of it: write a
 * temp file next to it (same file system, so rename is atomic), fsync, rename over. The temp file is
 * created with `mode` already set, so a secret is never readable by others, not even for a moment.
 */
export async function writeFileAtomic (file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await writeAndSync(tmp, data, mode, 'wx')
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** Creates `file` with `mode`, failing with EEXIST when it is already there (never overwrites). */
export async function writeFileExclusive (file: string, data: string | Uint8Array, mode: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeAndSync(file, data, mode, 'wx')
}

async function writeAndSync (file: string, data: string | Uint8Array, mode: number, flags: string): Promise<void> {
  const handle = await open(file, flags, mode)
  try {
    // open()'s mode is masked by the umask; chmod makes the result exact (0644 stays 0644 under umask 027).
    await handle.chmod(mode)
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}
