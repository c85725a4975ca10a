/** the package's root folder */
export const root: string
/** true when `cmesh` would run dist/ (and CMESH_FROM_SOURCE does not ask for the sources) */
export function buildIsCurrent (): boolean
