// Who is logged in, and what the console offers them.
import { defineStore } from 'pinia'
import { ref } from 'vue'

import { api, type Schemas } from '../api/client'
import { describeError, type ShownError } from '../api/errors'
import { actionsOfRole, type Action } from '../permissions'

export type SessionUser = Schemas['SessionUser']

/** The answer to a login attempt: in, a second factor asked for, or refused with a message. */
export type LoginOutcome = { kind: 'in' } | { kind: 'second-factor'; challenge: string | null } | { kind: 'refused'; error: ShownError }

export const useSession = defineStore('session', () => {
  const user = ref<SessionUser | null>(null)
  const actions = ref<Set<Action>>(new Set())
  const loaded = ref(false)

  function become(who: SessionUser | null): void {
    user.value = who
    actions.value = who ? actionsOfRole(who.role) : new Set()
  }

  async function load(): Promise<SessionUser | null> {
    const { data } = await api.GET('/api/v1/auth/session')
    become(data ?? null)
    loaded.value = true
    return user.value
  }

  /** The password step, then (when the server asks for it) the one-time code with the challenge it gave. */
  async function logIn(username: string, password: string, code?: string, challenge?: string | null): Promise<LoginOutcome> {
    const body: Record<string, string> = { username, password }
    if (code) body.code = code
    if (challenge) body.mfa_token = challenge
    let response: Response
    try {
      response = await fetch('/api/v1/auth/session', {
        method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      })
    } catch {
      return { kind: 'refused', error: describeError(0, null) }
    }
    const answer: unknown = await response.json().catch(() => null)
    const record = (answer && typeof answer === 'object' ? answer : {}) as Record<string, unknown>
    // The server asks for the second factor (status mfa_required with a short-lived mfa_token): the same
    // endpoint gets the code with that token next.
    if (record.mfa_required === true || record.status === 'mfa_required') {
      const token = record.mfa_token ?? record.challenge
      return { kind: 'second-factor', challenge: typeof token === 'string' ? token : null }
    }
    if (!response.ok) return { kind: 'refused', error: describeError(response.status, answer) }
    await load()
    return user.value ? { kind: 'in' } : { kind: 'refused', error: describeError(response.status, answer) }
  }

  async function logOut(): Promise<void> {
    await api.DELETE('/api/v1/auth/session')
    become(null)
  }

  function can(action: Action): boolean {
    return actions.value.has(action)
  }

  return { user, loaded, load, logIn, logOut, can, forget: () => become(null) }
})
