// Times are stored in UTC and shown in Beijing time, with the zone said.
const BEIJING = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
})

export const ZONE_LABEL = '北京时间'

/** "2026-12-07 21:03:05" in Beijing time; the caller shows ZONE_LABEL once nearby. */
export function beijing(instant: string | number | Date | null | undefined): string {
  if (instant === null || instant === undefined || instant === '') return '—'
  const date = instant instanceof Date ? instant : new Date(typeof instant === 'string' && !/[zZ]|[+-]\d\d:?\d\d$/.test(instant) ? `${instant}Z` : instant)
  if (Number.isNaN(date.getTime())) return '—'
  const parts = Object.fromEntries(BEIJING.formatToParts(date).map((p) => [p.type, p.value]))
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`
}

/** A countdown such as "2 小时 05 分" or "超时 12 分". */
export function countdown(seconds: number): string {
  const overdue = seconds < 0
  let left = Math.abs(Math.trunc(seconds))
  const days = Math.floor(left / 86400)
  left -= days * 86400
  const hours = Math.floor(left / 3600)
  const minutes = Math.floor((left % 3600) / 60)
  const secs = left % 60
  const text = days > 0 ? `${days} 天 ${hours} 小时` : hours > 0 ? `${hours} 小时 ${String(minutes).padStart(2, '0')} 分` : `${minutes} 分 ${String(secs).padStart(2, '0')} 秒`
  return overdue ? `超时 ${text}` : text
}
