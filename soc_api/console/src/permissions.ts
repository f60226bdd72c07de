// What each role may do in the console: menu items and buttons appear only for these.
// Derived from the role until GET /api/v1/auth/me lists the actions the server grants.

export type Action =
  | 'incident.view' | 'incident.work' | 'incident.create' | 'events.search' | 'inventory.view' | 'compliance.view'
  | 'duty.view' | 'notices.view' | 'zero_reports.view' | 'rules.view' | 'sensors.view' | 'suppressions.view'

const READ: Action[] = ['incident.view', 'events.search', 'compliance.view', 'duty.view', 'notices.view', 'zero_reports.view', 'inventory.view']

const BY_ROLE: Record<string, Action[]> = {
  system_admin: [...READ, 'incident.work', 'incident.create', 'rules.view', 'sensors.view', 'suppressions.view'],
  duty_officer: [...READ, 'incident.work', 'incident.create', 'rules.view', 'sensors.view', 'suppressions.view'],
  school_admin: [...READ, 'incident.work', 'incident.create', 'sensors.view', 'suppressions.view'],
  drill_organizer: ['incident.view', 'events.search'],
  regulator: [...READ],
}

export function actionsOfRole(role: string): Set<Action> {
  return new Set(BY_ROLE[role] ?? [])
}
