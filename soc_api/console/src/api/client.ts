// The one way the console talks to the server: typed by the generated OpenAPI schema, the session in a cookie.
import createClient, { type Middleware } from 'openapi-fetch'

import type { components, paths } from './schema'

export type Schemas = components['schemas']

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' })

let onUnauthenticated: (() => void) | null = null

/** Where to go when a call answers 401 (the session ended): set once by the router. */
export function whenUnauthenticated(handler: () => void): void {
  onUnauthenticated = handler
}

const sessionWatch: Middleware = {
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith('/api/v1/auth/')) {
      onUnauthenticated?.()
    }
    return undefined
  },
}
api.use(sessionWatch)
