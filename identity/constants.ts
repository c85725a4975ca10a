/** The domain key's file name inside the data directory. */
export const KEY_FILE_NAME = 'peer.key'

/** Owner read/write only: the key is the domain's identity. */
export const KEY_FILE_MODE = 0o600
